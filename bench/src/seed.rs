//! (c) The seed sample's recipe, as plain ffmpeg commands:
//! split with stream copy (audio kept in every piece), then for every
//! format and every piece a separate re-encode, then per format a join with
//! the concat demuxer. Pieces and formats run `workers` at a time, as the
//! pipeline's pieces do on this machine.
//!
//! Two codec choices: `Default` is the seed's bare `ffmpeg -i piece out.<ext>`
//! (each container's default codecs: libx264 preset medium + AAC for MP4,
//! FLV1 + MP3 for FLV, MPEG-2 + MP2 for MPEG-TS); `X264` gives every format
//! the pipeline's libx264 settings, so only the recipe differs.
//! Unlike the seed, pieces are joined in name order (the seed's unsorted
//! listing would make the output wrong, not slower).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;
use vpf_core::job::{Format, Profile};

use crate::args;
use crate::media::{R, quiet_ffmpeg, run_tool, x264};
use crate::meter::{Meter, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codecs {
    Default,
    X264,
}

/// Per-piece file extension of a format (HLS pieces are MPEG-TS, packaged
/// into a playlist when joined).
pub fn piece_ext(f: Format) -> &'static str {
    match f {
        Format::Hls => "ts",
        other => other.as_str(),
    }
}

/// The seed's split: `-c copy -f segment -segment_time S -reset_timestamps 1`.
pub fn split_args(src: &Path, dir: &Path, seconds: f64) -> Vec<OsString> {
    let mut a = quiet_ffmpeg();
    a.extend(args![
        "-i",
        src,
        "-c",
        "copy",
        "-map",
        "0",
        "-f",
        "segment",
        "-segment_time",
        format!("{seconds}"),
        "-reset_timestamps",
        "1",
        dir.join("piece%03d.mp4")
    ]);
    a
}

pub fn piece_args(
    piece: &Path,
    out: &Path,
    codecs: Codecs,
    profile: &Profile,
    gop: u32,
) -> Vec<OsString> {
    let mut a = quiet_ffmpeg();
    a.extend(args!["-i", piece]);
    if codecs == Codecs::X264 {
        a.extend(x264(profile));
        a.extend(args![
            "-g",
            gop.to_string(),
            "-c:a",
            "aac",
            "-b:a",
            format!("{}k", profile.audio_kbps)
        ]);
    }
    a.push(out.into());
    a
}

/// The seed's join: `-f concat -safe 0 -c copy -fflags +genpts`; for HLS the
/// joined stream goes to the HLS muxer.
pub fn merge_args(list: &Path, format: Format, out: &Path) -> Vec<OsString> {
    let mut a = quiet_ffmpeg();
    a.extend(args![
        "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", "-fflags", "+genpts"
    ]);
    if format == Format::Hls {
        a.extend(args![
            "-f",
            "hls",
            "-hls_time",
            vpf_media::HLS_SEGMENT_SECONDS.to_string(),
            "-hls_playlist_type",
            "vod",
            "-hls_list_size",
            "0",
            "-hls_segment_filename",
            out.join("index%05d.ts"),
            out.join("index.m3u8")
        ]);
    } else {
        a.push(out.into());
    }
    a
}

pub fn concat_list(files: &[PathBuf]) -> String {
    let mut s = String::from("ffconcat version 1.0\n");
    for f in files {
        s.push_str(&format!(
            "file '{}'\n",
            f.to_string_lossy().replace('\'', r"'\''")
        ));
    }
    s
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedRun {
    pub codecs: Codecs,
    pub usage: Usage,
    pub pieces: usize,
    pub split_s: f64,
    pub transcode_s: f64,
    pub merge_s: f64,
    /// (format, bytes of every file)
    pub outputs: Vec<(Format, u64)>,
    #[serde(skip)]
    pub mp4: Option<PathBuf>,
}

/// Run every command, `workers` at a time; the first failure is returned.
pub fn run_all(ffmpeg: &Path, jobs: Vec<Vec<OsString>>, workers: usize) -> R<()> {
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    if let Err(e) = run_tool(ffmpeg, job) {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
    });
    match failed.into_inner() {
        Ok(Some(e)) => Err(e),
        _ => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    ffmpeg: &Path,
    src: &Path,
    dir: &Path,
    formats: &[Format],
    piece_seconds: f64,
    workers: usize,
    codecs: Codecs,
    profile: &Profile,
    gop: u32,
) -> R<SeedRun> {
    let _ = std::fs::remove_dir_all(dir);
    let pieces_dir = dir.join("pieces");
    std::fs::create_dir_all(&pieces_dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let meter = Meter::start();

    let t = Instant::now();
    run_tool(ffmpeg, &split_args(src, &pieces_dir, piece_seconds))?;
    let split_s = t.elapsed().as_secs_f64();
    let mut pieces: Vec<PathBuf> = std::fs::read_dir(&pieces_dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .collect();
    pieces.sort();

    let t = Instant::now();
    let mut jobs = Vec::new();
    for f in formats {
        let fdir = dir.join(f.as_str());
        std::fs::create_dir_all(&fdir).map_err(|e| e.to_string())?;
        for (i, p) in pieces.iter().enumerate() {
            let out = fdir.join(format!("{i:03}.{}", piece_ext(*f)));
            jobs.push(piece_args(p, &out, codecs, profile, gop));
        }
    }
    run_all(ffmpeg, jobs, workers)?;
    let transcode_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut merges = Vec::new();
    let mut mains = Vec::new();
    for f in formats {
        let fdir = dir.join(f.as_str());
        let files: Vec<PathBuf> = (0..pieces.len())
            .map(|i| fdir.join(format!("{i:03}.{}", piece_ext(*f))))
            .collect();
        let list = fdir.join("list.ffconcat");
        std::fs::write(&list, concat_list(&files)).map_err(|e| e.to_string())?;
        let out = match f {
            Format::Hls => {
                let d = dir.join("out-hls");
                std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
                d
            }
            other => dir.join(format!("out.{}", other.as_str())),
        };
        merges.push(merge_args(&list, *f, &out));
        mains.push((*f, out));
    }
    run_all(ffmpeg, merges, workers)?;
    let merge_s = t.elapsed().as_secs_f64();
    let usage = meter.stop();

    let outputs = mains
        .iter()
        .map(|(f, p)| (*f, bytes_of(p)))
        .collect::<Vec<_>>();
    Ok(SeedRun {
        codecs,
        usage,
        pieces: pieces.len(),
        split_s,
        transcode_s,
        merge_s,
        outputs,
        mp4: mains
            .into_iter()
            .find(|(f, _)| *f == Format::Mp4)
            .map(|(_, p)| p),
    })
}

/// Size of a file, or of every file in a folder.
pub fn bytes_of(p: &Path) -> u64 {
    if p.is_dir() {
        std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| bytes_of(&e.path())).sum())
            .unwrap_or(0)
    } else {
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(a: &[OsString]) -> Vec<String> {
        a.iter().map(|x| x.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_seed_recipe_keeps_audio_and_copies_on_split() {
        let a = strs(&split_args(Path::new("s.mp4"), Path::new("/p"), 10.0));
        assert!(a.windows(2).any(|w| w == ["-c", "copy"]));
        assert!(a.windows(2).any(|w| w == ["-map", "0"]));
        assert!(a.windows(2).any(|w| w == ["-reset_timestamps", "1"]));
        assert!(a.windows(2).any(|w| w == ["-segment_time", "10"]));
    }

    #[test]
    fn default_codecs_are_the_bare_command() {
        let p = Profile::default();
        let a = strs(&piece_args(
            Path::new("p.mp4"),
            Path::new("o.flv"),
            Codecs::Default,
            &p,
            60,
        ));
        assert_eq!(&a[a.len() - 3..], ["-i", "p.mp4", "o.flv"]);
        let a = strs(&piece_args(
            Path::new("p.mp4"),
            Path::new("o.flv"),
            Codecs::X264,
            &p,
            60,
        ));
        assert!(a.windows(2).any(|w| w == ["-preset", p.preset.as_str()]));
        assert_eq!(piece_ext(Format::Hls), "ts");
    }

    #[test]
    fn joins_in_the_given_order_and_hls_gets_a_playlist() {
        let l = concat_list(&[PathBuf::from("/a/000.mp4"), PathBuf::from("/a/it's.mp4")]);
        assert_eq!(
            l,
            "ffconcat version 1.0\nfile '/a/000.mp4'\nfile '/a/it'\\''s.mp4'\n"
        );
        let a = strs(&merge_args(Path::new("l"), Format::Hls, Path::new("/o")));
        assert_eq!(a.last().unwrap(), "/o/index.m3u8");
        assert!(a.windows(2).any(|w| w == ["-fflags", "+genpts"]));
    }

    #[test]
    fn a_failing_command_fails_the_batch() {
        let ok = run_all(Path::new("true"), vec![vec![], vec![]], 2);
        assert!(ok.is_ok());
        let e = run_all(Path::new("false"), vec![vec![]], 2).unwrap_err();
        assert!(e.contains("failed"), "{e}");
    }
}
