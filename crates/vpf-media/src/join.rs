//! Joining encoded pieces: the concat demuxer's list, each piece at its
//! exact place on the timeline. Merge joins the pieces with it into the
//! joined video ([`merge_args`], with the audio and subtitle tracks beside
//! it; a job's one uncut piece is muxed as it is, [`Pictures`]), and the
//! ladder joins each rendition's pieces with it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use vpf_core::job::{JobPlan, Piece};
use vpf_core::nas::JobDir;
use vpf_core::{Error, Result};

use crate::run::{args, ffmpeg_base};

/// Quote a path for an ffconcat `file` line.
fn concat_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// The concat demuxer's list: the encoded pieces in index order, each with
/// its duration in whole microseconds taken from the pieces' real starts.
pub fn concat_list(pieces: &[Piece], encoded: impl Fn(u32) -> PathBuf) -> Result<String> {
    let mut sorted: Vec<&Piece> = pieces.iter().collect();
    sorted.sort_by_key(|p| p.index);
    for (i, p) in sorted.iter().enumerate() {
        if p.index as usize != i {
            return Err(Error::invalid(format!(
                "the job's pieces are not numbered 0..{}: piece {} is at place {i}",
                sorted.len(),
                p.index
            )));
        }
    }
    let Some(first) = sorted.first() else {
        return Err(Error::invalid("the job has no pieces"));
    };
    let origin = first.start_seconds;
    let micros = |s: f64| ((s - origin) * 1e6).round() as i64;
    let mut out = String::from("ffconcat version 1.0\n");
    for (i, p) in sorted.iter().enumerate() {
        let from = micros(p.start_seconds);
        let to = match sorted.get(i + 1) {
            Some(next) => micros(next.start_seconds),
            None => micros(p.start_seconds + p.duration_seconds),
        };
        let path = std::path::absolute(encoded(p.index))?;
        let us = (to - from).max(1);
        out.push_str(&format!(
            "file {}\nduration {}.{:06}\n",
            concat_quote(&path),
            us / 1_000_000,
            us % 1_000_000
        ));
    }
    Ok(out)
}

/// An audio or subtitle file muxed beside the joined video, and what the
/// MP4 says of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MuxTrack<'a> {
    pub path: &'a Path,
    /// ISO 639-2 (`eng`).
    pub language: Option<&'a str>,
    /// The default track of its kind.
    pub default: bool,
}

/// Where the joined video's picture comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Pictures {
    /// The encoded pieces, joined by the concat demuxer from this list.
    Joined(PathBuf),
    /// A job's one encoded piece, as it is: nothing to join.
    One(PathBuf),
}

impl Pictures {
    /// What merge reads `plan`'s picture from: an uncut job's one encoded
    /// piece is the whole video already, muxed as it is; else the pieces
    /// are joined from the concat list `list`.
    pub fn for_plan(plan: &JobPlan, jobdir: &JobDir, list: PathBuf) -> Pictures {
        match (plan.uncut(), plan.pieces.as_slice()) {
            (true, [one]) => Pictures::One(jobdir.encoded(one.index)),
            _ => Pictures::Joined(list),
        }
    }
}

/// Join the pieces (`video`) with the audio tracks (AAC, copied) and
/// the subtitle tracks (WebVTT, written as mov_text) into an MP4 at `out`.
/// Every track's language and default flag are set here: each AAC file
/// holds one track, which ffmpeg would otherwise flag default in each.
pub fn merge_args(
    video: &Pictures,
    audio: &[MuxTrack],
    subtitles: &[MuxTrack],
    out: &Path,
) -> Vec<OsString> {
    let mut a = ffmpeg_base();
    match video {
        Pictures::Joined(list) => a.extend(args!["-f", "concat", "-safe", "0", "-i", list]),
        Pictures::One(piece) => a.extend(args!["-i", piece]),
    }
    for t in audio.iter().chain(subtitles) {
        a.extend(args!["-i", t.path]);
    }
    a.extend(args!["-map", "0:V:0"]);
    for i in 0..audio.len() {
        a.extend(args!["-map", format!("{}:a:0", i + 1)]);
    }
    for i in 0..subtitles.len() {
        a.extend(args!["-map", format!("{}:s:0", audio.len() + i + 1)]);
    }
    match subtitles.is_empty() {
        true => a.extend(args!["-c", "copy"]),
        false => a.extend(args!["-c:v", "copy", "-c:a", "copy", "-c:s", "mov_text"]),
    }
    for (kind, tracks) in [("a", audio), ("s", subtitles)] {
        for (i, t) in tracks.iter().enumerate() {
            if let Some(l) = t.language {
                a.extend(args![
                    format!("-metadata:s:{kind}:{i}"),
                    format!("language={l}")
                ]);
            }
            let flag = if t.default { "default" } else { "0" };
            a.extend(args![format!("-disposition:{kind}:{i}"), flag]);
        }
    }
    a.extend(args!["-movflags", "+faststart", "-f", "mp4", out]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpf_core::job::Cutting;

    fn piece(index: u32, start: f64, duration: f64) -> Piece {
        Piece {
            index,
            start_seconds: start,
            duration_seconds: duration,
            frames: 1,
            drop_head: 0,
            drop_tail: 0,
        }
    }

    #[test]
    fn concat_list_is_ordered_and_drift_free() {
        // Three 24000/1001 pieces of 50 frames, listed out of order.
        let d = 50.0 * 1001.0 / 24000.0;
        let pieces = [
            piece(2, 0.5 + 2.0 * d, d),
            piece(0, 0.5, d),
            piece(1, 0.5 + d, d),
        ];
        let text = concat_list(&pieces, |i| PathBuf::from(format!("/j/e/{i:05}.nut"))).unwrap();
        let files: Vec<&str> = text.lines().filter(|l| l.starts_with("file")).collect();
        assert_eq!(
            files,
            [
                "file '/j/e/00000.nut'",
                "file '/j/e/00001.nut'",
                "file '/j/e/00002.nut'"
            ]
        );
        let total: i64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("duration "))
            .map(|v| (v.parse::<f64>().unwrap() * 1e6).round() as i64)
            .sum();
        assert_eq!(total, (3.0 * d * 1e6).round() as i64);
        // A gap in the numbering is refused.
        assert!(
            concat_list(
                &[piece(0, 0.0, 1.0), piece(2, 1.0, 1.0)],
                |_| PathBuf::from("/x")
            )
            .is_err()
        );
        assert!(concat_list(&[], |_| PathBuf::from("/x")).is_err());
    }

    #[test]
    fn quotes_in_paths_are_escaped() {
        assert_eq!(concat_quote(Path::new("/a/it's.nut")), r"'/a/it'\''s.nut'");
    }

    fn plan(cutting: Cutting, pieces: u32) -> JobPlan {
        serde_json::from_value(serde_json::json!({
            "request": {"jobId": "j", "bucket": "b", "key": "k.mp4", "outputBase": "d/k",
                        "stem": "k", "formats": ["mp4"], "segmentSeconds": 30.0},
            "sourceFile": "source.mp4",
            "info": {"formatName": "mp4", "durationSeconds": 2.0, "sizeBytes": 1},
            "pieceSeconds": 30.0,
            "pieces": (0..pieces).map(|i| serde_json::json!({
                "index": i, "startSeconds": f64::from(i), "durationSeconds": 1.0, "frames": 25
            })).collect::<Vec<_>>(),
            "cutting": cutting,
            "hasAudio": false
        }))
        .unwrap()
    }

    fn strings(a: &[OsString]) -> Vec<String> {
        a.iter().map(|x| x.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn an_uncut_job_muxes_its_one_piece_without_a_join() {
        let dir = JobDir::new(Path::new("/nas"), "j").unwrap();
        let list = dir.path().join("concat.ffconcat");
        let one = Pictures::for_plan(&plan(Cutting::Uncut, 1), &dir, list.clone());
        assert_eq!(one, Pictures::One(dir.encoded(0)));
        let a = strings(&merge_args(&one, &[], &[], Path::new("/o.mp4")));
        assert!(!a.iter().any(|x| x == "concat"), "{a:?}");
        assert!(
            a.windows(2)
                .any(|w| w[0] == "-i" && w[1] == "/nas/jobs/j/encoded/00000.nut")
        );
        // Pieces that were cut, even a single one (a plan of an earlier
        // split), are joined from the list as before.
        for (cutting, n) in [
            (Cutting::KeyFrames, 1),
            (Cutting::KeyFrames, 3),
            (Cutting::AnyFrame, 2),
        ] {
            let joined = Pictures::for_plan(&plan(cutting, n), &dir, list.clone());
            assert_eq!(joined, Pictures::Joined(list.clone()));
            let a = strings(&merge_args(&joined, &[], &[], Path::new("/o.mp4")));
            assert!(
                a.windows(2).any(|w| w[0] == "-f" && w[1] == "concat"),
                "{a:?}"
            );
        }
    }
}
