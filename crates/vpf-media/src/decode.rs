//! Decoding back what we made: every frame ([`decode`]), one audio track
//! ([`decode_audio`]), or the frame at each of a few times ([`decode_at`]).
//! Any decode error fails. The checks in `verify` and the audio step's own
//! check both decode through here.

use std::path::Path;

use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::run::{Log, Stdout, args, ffmpeg_base, ffprobe_video, run};

/// Decode every video and audio frame of `input` and return the number of
/// video frames. Any decode error fails.
pub async fn decode(tools: &Tools, input: &Path) -> Result<u64> {
    let log = decode_maps(tools, input, &["0:V:0", "0:a:0?"]).await?;
    log.progress.map(|p| p.frame as u64).ok_or_else(|| {
        Error::internal(format!(
            "ffmpeg reported no frame count for {}",
            input.display()
        ))
    })
}

/// Decode the whole of `input`'s first audio stream; any decode error fails.
pub(crate) async fn decode_audio(tools: &Tools, input: &Path) -> Result<()> {
    decode_maps(tools, input, &["0:a:0"]).await.map(|_| ())
}

/// Decode the mapped streams of `input` to nothing; fails on any error line.
async fn decode_maps(tools: &Tools, input: &Path, maps: &[&str]) -> Result<Log> {
    let mut a = ffmpeg_base();
    a.extend(args!["-i", input]);
    for m in maps {
        a.extend(args!["-map", m]);
    }
    a.extend(args![
        "-fps_mode",
        "passthrough",
        // Count frames at the file's own time base, so no two frames of a
        // variable frame rate can land on one tick.
        "-enc_time_base:v",
        "-1",
        "-f",
        "null",
        "-"
    ]);
    let out = run(&tools.ffmpeg, &a, Stdout::Ignore).await?.check_clean(
        ErrorKind::VerifyFailed,
        &format!("decoding {}", input.display()),
        false,
    )?;
    Ok(out.log)
}

/// One frame decoded by [`decode_at`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decoded {
    /// Its presentation time, seconds.
    pub seconds: f64,
    pub key: bool,
}

/// Decode the first video frame at or after each of `times` (seconds, on
/// the file's timeline; each seek lands on the key frame at or before the
/// time). Any decode error fails; so does a time that yields no frame.
///
/// Verification decodes the frame where each piece starts: a join is the
/// one place where one encode meets another, so it is where parameter sets
/// or timestamps could go wrong. The frames between are x264's output copied
/// unchanged and counted from their packets (one per frame in H.264). Key
/// frames everywhere (our earlier check) cost 0.5-0.7 s per 2 minutes of
/// 720p on the merge's critical path, and a full decode 20% of the encode
/// (measured by the benchmark); neither saw more, since ffmpeg 5.1 conceals damage inside a
/// frame and logs it at info level only.
pub async fn decode_at(tools: &Tools, input: &Path, times: &[f64]) -> Result<Vec<Decoded>> {
    if times.is_empty() {
        return Ok(Vec::new());
    }
    let intervals = times
        .iter()
        .map(|t| format!("{:.6}%+#1", t.max(0.0)))
        .collect::<Vec<_>>()
        .join(",");
    let out = run(
        &tools.ffprobe,
        &ffprobe_video(args![
            "-read_intervals",
            intervals,
            "-show_entries",
            "frame=pts_time,key_frame",
            "-of",
            "csv=p=0",
            input
        ]),
        Stdout::Capture,
    )
    .await?
    .check_clean(
        ErrorKind::VerifyFailed,
        &format!("decoding {}", input.display()),
        true,
    )?;
    let frames: Vec<Decoded> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().trim_end_matches(',').split(',');
            let key = f.next()?.trim() == "1";
            let seconds = f.next()?.trim().parse::<f64>().ok()?;
            Some(Decoded { seconds, key })
        })
        .collect();
    if frames.len() != times.len() {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!(
                "decoding {}: {} of {} frames came out",
                input.display(),
                frames.len(),
                times.len()
            ),
        ));
    }
    Ok(frames)
}
