//! The adaptive-bitrate ladder against plain ffmpeg: the same renditions
//! from one ffmpeg that decodes the whole file once and encodes every rung
//! from a `split` (the floor, "a2"), from one ffmpeg per rung all started
//! at once, each decoding the whole file (what a naive script does, "a3"),
//! and from the pipeline (`abr`). Quality and bytes are compared rung by
//! rung.
//!
//! The floor's video arguments are the pipeline's own per-piece command
//! (`vpf_media::transcode_args`) for one piece spanning the whole file, so
//! its graph (`ladder_graph`), sizes, CRF, preset, rate caps and GOP
//! (`keyframe_interval`) cannot drift from what transcode does.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use vpf_core::job::{Cutting, Format, JobPlan, JobRequest, MediaInfo, Piece, Profile};
use vpf_core::ladder::Rendition;

use crate::args;
use crate::media::{Quality, R, parse_quality, quality_args, run_tool};

/// The whole source as the one piece of a plan that encodes `renditions`,
/// and that piece: what transcode would be given if split cut nothing.
pub fn whole_file_plan(
    info: &MediaInfo,
    profile: &Profile,
    renditions: &[Rendition],
    has_audio: bool,
) -> R<(JobPlan, Piece)> {
    let video = info.video.as_ref().ok_or("the source has no video")?;
    let piece = Piece {
        index: 0,
        start_seconds: video.start_seconds,
        duration_seconds: video.duration_seconds,
        frames: video.frames,
        drop_head: 0,
        drop_tail: 0,
    };
    let request = JobRequest {
        job_id: "bench-ladder-floor".into(),
        bucket: "bench".into(),
        key: "source.mp4".into(),
        etag: String::new(),
        size: info.size_bytes,
        output_base: "bench".into(),
        stem: "source".into(),
        formats: vec![Format::Abr],
        segment_seconds: video.duration_seconds.max(1.0),
        max_pieces: 1,
        profile: profile.clone(),
        webhook_url: None,
        sources: Default::default(),
    };
    let plan = JobPlan {
        request,
        source_file: "source.mp4".into(),
        info: info.clone(),
        piece_seconds: video.duration_seconds,
        pieces: vec![piece.clone()],
        cutting: Cutting::default(),
        has_audio,
        audio_tracks: if has_audio { vec![0] } else { Vec::new() },
        subtitle_tracks: Vec::new(),
        renditions: renditions.to_vec(),
        watermark_image: None,
    };
    Ok((plan, piece))
}

/// One ffmpeg encoding `renditions` of `src` into `outputs` (MP4, video
/// only, `outputs[k]` for `renditions[k]`): decoded once, a `split`, one
/// libx264 encode per rung with the pipeline's settings; and with `audio`,
/// the first audio track encoded once to AAC at the profile's rate into
/// that file. With one rendition it is one rung of the naive script.
pub fn floor_args(
    src: &Path,
    info: &MediaInfo,
    profile: &Profile,
    renditions: &[Rendition],
    outputs: &[PathBuf],
    audio: Option<&Path>,
) -> R<Vec<OsString>> {
    if renditions.is_empty() {
        return Err("no rendition to encode".into());
    }
    let (plan, piece) = whole_file_plan(info, profile, renditions, audio.is_some())?;
    let mut a = vpf_media::transcode_args(src, None, outputs, "mp4", &plan, &piece)
        .map_err(|e| e.to_string())?;
    if let Some(audio) = audio {
        a.extend(args![
            "-map",
            "0:a:0",
            "-c:a",
            "aac",
            "-b:a",
            format!("{}k", profile.audio_kbps),
            "-f",
            "mp4",
            audio
        ]);
    }
    Ok(a)
}

/// (a3): one ffmpeg per rung, each decoding the whole file; the audio goes
/// with the first.
pub fn parallel_args(
    src: &Path,
    info: &MediaInfo,
    profile: &Profile,
    renditions: &[Rendition],
    outputs: &[PathBuf],
    audio: Option<&Path>,
) -> R<Vec<Vec<OsString>>> {
    if outputs.len() != renditions.len() {
        return Err(format!(
            "{} output files for {} renditions",
            outputs.len(),
            renditions.len()
        ));
    }
    renditions
        .iter()
        .zip(outputs)
        .enumerate()
        .map(|(k, (r, out))| {
            floor_args(
                src,
                info,
                profile,
                std::slice::from_ref(r),
                std::slice::from_ref(out),
                audio.filter(|_| k == 0),
            )
        })
        .collect()
}

/// PSNR and SSIM of `output` (a file, or a `concat:` URL) against the
/// source brought to the rung's size, frames paired by time from 0.
pub fn rung_quality(
    ffmpeg: &Path,
    output: &OsStr,
    source: &Path,
    width: u32,
    height: u32,
) -> R<Quality> {
    let out = run_tool(
        ffmpeg,
        &quality_args(output, source, false, Some((width, height))),
    )?;
    let q = parse_quality(&String::from_utf8_lossy(&out.stderr));
    if q.psnr_y.is_none() {
        return Err(format!(
            "no PSNR summary comparing {}",
            output.to_string_lossy()
        ));
    }
    Ok(q)
}

/// Bytes and count of the first video stream's packets: the coded
/// pictures alone, whatever the container around them (an MP4 with its
/// index, or CMAF fragments with theirs), so both sides count alike.
pub fn video_packets(ffprobe: &Path, input: &OsStr) -> R<(u64, u64)> {
    let out = run_tool(
        ffprobe,
        &args![
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=size",
            "-of",
            "csv=p=0",
            input
        ],
    )?;
    parse_packet_sizes(&String::from_utf8_lossy(&out.stdout))
}

/// Sum and count of ffprobe's `csv=p=0` packet sizes, one a line.
pub fn parse_packet_sizes(csv: &str) -> R<(u64, u64)> {
    let mut bytes = 0u64;
    let mut count = 0u64;
    for l in csv.lines().map(|l| l.trim().trim_end_matches(',')) {
        if l.is_empty() {
            continue;
        }
        let n: u64 = l
            .parse()
            .map_err(|_| format!("ffprobe gave a packet size {l:?}"))?;
        bytes += n;
        count += 1;
    }
    if count == 0 {
        return Err("no video packets".into());
    }
    Ok((bytes, count))
}

/// A CMAF media playlist's initialization segment and media segments, in
/// playlist order.
pub fn parse_media_playlist(text: &str) -> R<(String, Vec<String>)> {
    let mut init = None;
    let mut segments = Vec::new();
    for l in text.lines().map(str::trim) {
        if let Some(rest) = l.strip_prefix("#EXT-X-MAP:") {
            let uri = rest
                .split("URI=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .ok_or_else(|| format!("no URI in {l:?}"))?;
            init = Some(uri.to_string());
        } else if !l.is_empty() && !l.starts_with('#') {
            segments.push(l.to_string());
        }
    }
    let init = init.ok_or("the playlist names no initialization segment")?;
    if segments.is_empty() {
        return Err("the playlist names no segment".into());
    }
    Ok((init, segments))
}

/// ffmpeg's `concat:` URL that reads a rendition folder's segments as one
/// fragmented MP4: the initialization segment, then every media segment in
/// its playlist's order.
pub fn cmaf_concat(dir: &Path, playlist: &str) -> R<OsString> {
    let (init, segments) = parse_media_playlist(playlist)?;
    let mut url = OsString::from("concat:");
    for (i, name) in std::iter::once(&init).chain(&segments).enumerate() {
        // Names are the packager's own (init.mp4, 00001.m4s): plain files
        // beside the playlist, nothing the `|` separator could split.
        if name.contains(['/', '\\', '|']) || name.starts_with('.') {
            return Err(format!("unexpected segment name {name:?}"));
        }
        let path = dir.join(name);
        if path.to_string_lossy().contains('|') {
            return Err(format!(
                "{} holds a '|', which ffmpeg's concat: protocol splits on",
                path.display()
            ));
        }
        if i > 0 {
            url.push("|");
        }
        url.push(path);
    }
    Ok(url)
}

/// Kilobits a second of `bytes` over `seconds`.
pub fn kbps(bytes: u64, seconds: f64) -> Option<f64> {
    (seconds > 0.0).then(|| bytes as f64 * 8.0 / seconds / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpf_core::job::VideoInfo;
    use vpf_core::ladder::Ladder;

    fn strs(a: &[OsString]) -> Vec<String> {
        a.iter().map(|x| x.to_string_lossy().into_owned()).collect()
    }

    fn info_1080p() -> MediaInfo {
        MediaInfo {
            format_name: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration_seconds: 20.0,
            video: Some(VideoInfo {
                codec: "h264".into(),
                width: 1920,
                height: 1080,
                frame_rate_num: 30,
                frame_rate_den: 1,
                frames: 600,
                duration_seconds: 20.0,
                pix_fmt: "yuv420p".into(),
                constant_frame_rate: true,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn outputs(r: &[Rendition]) -> Vec<PathBuf> {
        r.iter()
            .map(|r| PathBuf::from(format!("/o/{}.mp4", r.name)))
            .collect()
    }

    /// The options of the output file `out`: everything after the previous
    /// output file (or the filter graph) up to it.
    fn options_of<'a>(a: &'a [String], out: &str) -> &'a [String] {
        let end = a.iter().position(|x| x == out).unwrap();
        let start = a[..end]
            .iter()
            .rposition(|x| x.starts_with("/o/") || x.starts_with("[0:V:0]"))
            .unwrap()
            + 1;
        &a[start..end]
    }

    #[test]
    fn the_floor_is_one_decode_split_into_the_pipelines_rungs() {
        let info = info_1080p();
        let p = Profile::default();
        let r = Ladder::default().plan(info.video.as_ref().unwrap().upright_size(), p.max_height);
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["1080p", "720p", "540p", "360p", "234p"]);
        let outs = outputs(&r);
        let a = strs(
            &floor_args(
                Path::new("/s/src.mp4"),
                &info,
                &p,
                &r,
                &outs,
                Some(Path::new("/o/audio.mp4")),
            )
            .unwrap(),
        );
        // One input, read once, one graph with a split into every rung.
        assert_eq!(a.iter().filter(|x| *x == "-i").count(), 1);
        let graph = &a[a.iter().position(|x| x == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("split=5"), "{graph}");
        assert!(graph.contains("scale=1280:720[v1]"), "{graph}");
        assert!(graph.contains("scale=416:234[v4]"), "{graph}");
        for (k, (rung, out)) in r.iter().zip(&outs).enumerate() {
            let o = options_of(&a, &out.to_string_lossy());
            let after = |key: &str| o[o.iter().position(|x| x == key).unwrap() + 1].as_str();
            assert_eq!(after("-map"), format!("[v{k}]"));
            assert_eq!(after("-c:v"), "libx264");
            assert_eq!(after("-crf"), "23");
            assert_eq!(after("-preset"), "veryfast");
            assert_eq!(after("-g"), "60");
            assert_eq!(after("-keyint_min"), "60");
            assert_eq!(after("-sc_threshold"), "0");
            assert_eq!(after("-flags:v"), "+cgop");
            assert_eq!(after("-maxrate"), format!("{}k", rung.kbps));
            assert_eq!(after("-bufsize"), format!("{}k", 2 * rung.kbps));
            assert_eq!(after("-f"), "mp4");
            assert!(!o.iter().any(|x| x.starts_with("-c:a")), "{o:?}");
        }
        // The audio once, into its own file, at the profile's rate.
        let o = options_of(&a, "/o/audio.mp4");
        assert_eq!(
            o,
            ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-f", "mp4"]
        );
        assert_eq!(a.iter().filter(|x| *x == "aac").count(), 1);
    }

    #[test]
    fn the_floor_is_the_pipelines_own_piece_command_on_the_whole_file() {
        // Exactly transcode's arguments for one piece spanning the file:
        // what the pipeline changes there, the floor changes with it.
        let info = info_1080p();
        let p = Profile::default();
        let r = Ladder::default().plan(info.video.as_ref().unwrap().upright_size(), p.max_height);
        let outs = outputs(&r);
        let (plan, piece) = whole_file_plan(&info, &p, &r, false).unwrap();
        let pipeline =
            vpf_media::transcode_args(Path::new("/s/src.mp4"), None, &outs, "mp4", &plan, &piece)
                .unwrap();
        let floor = floor_args(Path::new("/s/src.mp4"), &info, &p, &r, &outs, None).unwrap();
        assert_eq!(floor, pipeline);
        assert_eq!(piece.frames, 600);
    }

    #[test]
    fn the_naive_script_runs_one_full_decode_per_rung() {
        let info = info_1080p();
        let p = Profile::default();
        let r = Ladder::default().plan(info.video.as_ref().unwrap().upright_size(), p.max_height);
        let outs = outputs(&r);
        let jobs = parallel_args(
            Path::new("/s/src.mp4"),
            &info,
            &p,
            &r,
            &outs,
            Some(Path::new("/o/audio.mp4")),
        )
        .unwrap();
        assert_eq!(jobs.len(), 5);
        for (k, j) in jobs.iter().enumerate() {
            let a = strs(j);
            assert_eq!(a.iter().filter(|x| *x == "-i").count(), 1);
            assert!(!a.iter().any(|x| x.contains("split")), "{a:?}");
            assert!(a.contains(&format!("{}k", r[k].kbps)));
            assert_eq!(a.iter().any(|x| x == "aac"), k == 0);
        }
        assert!(parallel_args(Path::new("s"), &info, &p, &r, &outs[..1], None).is_err());
    }

    #[test]
    fn rung_quality_scales_the_source_only() {
        let a = strs(&quality_args(
            OsStr::new("concat:/a/init.mp4|/a/00001.m4s"),
            Path::new("/s.mp4"),
            false,
            Some((640, 360)),
        ));
        assert_eq!(a[5], "concat:/a/init.mp4|/a/00001.m4s");
        let g = &a[a.iter().position(|x| x == "-filter_complex").unwrap() + 1];
        assert!(g.contains("[1:v]scale=640:360,setpts"), "{g}");
        assert!(g.starts_with("[0:v]setpts=PTS-STARTPTS,split"), "{g}");
    }

    #[test]
    fn cmaf_segments_are_read_in_playlist_order() {
        let pl = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"init.mp4\"\n\
                  #EXTINF:4.0,\n00001.m4s\n#EXTINF:4.0,\n00002.m4s\n#EXT-X-ENDLIST\n";
        let url = cmaf_concat(Path::new("/w/abr/720p"), pl).unwrap();
        assert_eq!(
            url,
            "concat:/w/abr/720p/init.mp4|/w/abr/720p/00001.m4s|/w/abr/720p/00002.m4s"
        );
        assert!(cmaf_concat(Path::new("/w"), "#EXTM3U\n00001.m4s\n").is_err());
        assert!(cmaf_concat(Path::new("/w"), "#EXT-X-MAP:URI=\"i.mp4\"\n../x.m4s\n").is_err());
        assert!(cmaf_concat(Path::new("/a|b"), pl).is_err());
    }

    #[test]
    fn packet_sizes_add_up() {
        assert_eq!(parse_packet_sizes("100\n20,\n\n3\n").unwrap(), (123, 3));
        assert!(parse_packet_sizes("").is_err());
        assert!(parse_packet_sizes("x\n").is_err());
        assert_eq!(kbps(1000, 2.0), Some(4.0));
        assert_eq!(kbps(1000, 0.0), None);
    }
}
