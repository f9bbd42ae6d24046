//! The audio tracks, each encoded once from the whole source (one Map task
//! per track, so a film's dubs encode side by side).
//!
//! Encoding per piece (what the original sample did) puts AAC encoder priming
//! at every join: a gap or click each time. One encode of the whole track is
//! continuous by construction. We always re-encode, even AAC sources: a copy
//! cannot be trimmed or padded to the sample, HE-AAC has 2048-sample frames,
//! and the source's own priming and edit lists would come along.
//!
//! Alignment: the output's zero is the source's first shown video frame. The
//! audio is read with its timestamps kept (`-copyts`) and shifted so that this
//! frame is at zero; `aresample`'s `first_pts=0` then pads silence before
//! audio that starts later, or trims audio that starts earlier, and fills
//! gaps inside the track. The end is padded or trimmed to the exact sample
//! where the source's audio ends, so its length is known in advance.

use std::ffi::OsString;
use std::path::Path;

use vpf_core::job::{MediaInfo, Profile};
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::probe::{expected_audio_seconds, probe_json};
use crate::run::{Stdout, args, ffmpeg_base, run};
use crate::temp::{Temp, remove_any};
use crate::verify::decode_audio;

/// Sample rates AAC can carry; others are resampled to 48 kHz.
const AAC_RATES: [u32; 12] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000,
];

/// Offsets between audio and video below this are left alone rather than
/// corrected by stretching (they cannot be heard); larger ones are padded
/// or trimmed exactly.
const HARD_SYNC_SECONDS: f64 = 0.01;

/// The output sample rate for a source rate.
pub fn output_rate(source_rate: u32) -> u32 {
    if AAC_RATES.contains(&source_rate) {
        source_rate
    } else {
        48000
    }
}

/// Whether `info` has audio to encode: an audio stream that lasts past the
/// first video frame.
pub fn has_audio(info: &MediaInfo) -> bool {
    !info.audio_plan().is_empty()
}

/// The ffmpeg arguments that encode `info`'s audio track `track` (`0:a:n`)
/// to AAC in `out` (an MP4 file), aligned with the video. `None` when that
/// track has no audio to encode.
pub fn audio_args(
    source: &Path,
    info: &MediaInfo,
    track: u32,
    profile: &Profile,
    out: &Path,
) -> Option<Vec<OsString>> {
    let audio = info.audio_track(track)?;
    let expected = expected_audio_seconds(info, track)?;
    let video_start = info.video.as_ref().map(|v| v.start_seconds).unwrap_or(0.0);
    let rate = output_rate(audio.sample_rate);
    let samples = (expected * rate as f64).round() as u64;
    let filter = format!(
        "aresample={rate}:async=1:min_hard_comp={HARD_SYNC_SECONDS}:first_pts=0,\
         apad=whole_len={samples},atrim=end_sample={samples}"
    );
    let mut a = ffmpeg_base();
    a.extend(args![
        "-copyts",
        "-itsoffset",
        format!("{:.6}", -video_start),
        "-i",
        source
    ]);
    a.extend(args![
        "-map",
        format!("0:a:{track}"),
        "-vn",
        "-sn",
        "-dn",
        "-af",
        filter
    ]);
    a.extend(args![
        "-c:a",
        "aac",
        "-b:a",
        format!("{}k", profile.audio_kbps),
        "-ar",
        rate.to_string()
    ]);
    if audio.channels == 0 || audio.channels > 2 {
        // Web players expect mono or stereo; AAC in FLV is stereo at most.
        a.extend(args!["-ac", "2"]);
    }
    a.extend(args!["-f", "mp4", "-movflags", "+faststart", out]);
    Some(a)
}

/// Encode the source's audio track `track` (`0:a:n`) once to AAC in `out`
/// (`jobdir.audio_track(n)`). Returns `false`, and leaves no file, when
/// the source has no such track (or it ends before the video starts).
pub async fn extract_audio(
    tools: &Tools,
    source: &Path,
    info: &MediaInfo,
    track: u32,
    profile: &Profile,
    out: &Path,
) -> Result<bool> {
    let tmp = Temp::beside(out);
    let Some(a) = audio_args(source, info, track, profile, tmp.path()) else {
        remove_any(out)?;
        return Ok(false);
    };
    run(&tools.ffmpeg, &a, Stdout::Ignore).await?.check(
        ErrorKind::EncodeFailed,
        &format!("encoding audio track {track}"),
    )?;

    // The length is set by the filter: check it really came out that way.
    let expected = expected_audio_seconds(info, track).unwrap_or(0.0);
    let rate = info
        .audio_track(track)
        .map(|a| output_rate(a.sample_rate))
        .unwrap_or(48000);
    let json = probe_json(tools, tmp.path())
        .await
        .map_err(|e| Error::new(ErrorKind::VerifyFailed, e.message).context("the encoded audio"))?;
    let got = json
        .streams
        .iter()
        .find(|s| s.is_audio())
        .and_then(|s| crate::probe::num(s.duration.as_deref()))
        .unwrap_or(0.0);
    let tolerance = 1024.0 / rate as f64;
    if (got - expected).abs() > tolerance {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!(
                "encoded audio track {track} lasts {got:.6} s, expected {expected:.6} s (tolerance {tolerance:.6} s)"
            ),
        ));
    }
    // Decoded once here, where it is made, so that merge need not (the
    // encode runs beside the video pieces; merge is on every job's path).
    decode_audio(tools, tmp.path()).await?;
    tmp.commit(out)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpf_core::job::{AudioInfo, VideoInfo};

    fn info(audio_start: f64, video_start: f64, channels: u32, rate: u32) -> MediaInfo {
        MediaInfo {
            video: Some(VideoInfo {
                start_seconds: video_start,
                ..Default::default()
            }),
            audio: Some(AudioInfo {
                codec: "aac".into(),
                sample_rate: rate,
                channels,
                duration_seconds: 4.0,
                start_seconds: audio_start,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn strings(a: Vec<OsString>) -> Vec<String> {
        a.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn audio_is_aligned_to_the_first_video_frame() {
        let a = strings(
            audio_args(
                Path::new("s.mp4"),
                &info(0.0, 0.5, 2, 48000),
                0,
                &Profile::default(),
                Path::new("o"),
            )
            .unwrap(),
        );
        let at = a.iter().position(|x| x == "-itsoffset").unwrap();
        assert_eq!(a[at + 1], "-0.500000");
        // Audio 0..4 s, video from 0.5 s: 3.5 s of audio, to the sample.
        assert!(
            a.iter()
                .any(|x| x.contains("whole_len=168000") && x.contains("end_sample=168000"))
        );
        assert!(a.iter().any(|x| x.contains("first_pts=0")));
        assert!(!a.iter().any(|x| x == "-ac"));
        assert!(a.iter().any(|x| x == "128k"));
        assert!(a.windows(2).any(|w| w[0] == "-map" && w[1] == "0:a:0"));
    }

    #[test]
    fn each_track_is_encoded_from_its_own_stream_and_length() {
        let mut i = info(0.0, 0.5, 2, 48000);
        let mut second = i.audio.clone().unwrap();
        second.duration_seconds = 2.5;
        second.stream_index = 2;
        i.audio_tracks = vec![i.audio.clone().unwrap(), second];
        let a = strings(
            audio_args(Path::new("s"), &i, 1, &Profile::default(), Path::new("o")).unwrap(),
        );
        assert!(a.windows(2).any(|w| w[0] == "-map" && w[1] == "0:a:1"));
        // 2.5 s from 0, video from 0.5 s: 2 s at 48 kHz.
        assert!(a.iter().any(|x| x.contains("whole_len=96000")));
        assert!(audio_args(Path::new("s"), &i, 2, &Profile::default(), Path::new("o")).is_none());
    }

    #[test]
    fn odd_rates_and_many_channels_are_made_web_friendly() {
        let a = strings(
            audio_args(
                Path::new("s"),
                &info(0.0, 0.0, 6, 37800),
                0,
                &Profile::default(),
                Path::new("o"),
            )
            .unwrap(),
        );
        assert!(a.windows(2).any(|w| w[0] == "-ac" && w[1] == "2"));
        assert!(a.windows(2).any(|w| w[0] == "-ar" && w[1] == "48000"));
        assert_eq!(output_rate(44100), 44100);
    }

    #[test]
    fn no_audio_means_no_command() {
        let mut i = info(0.0, 0.0, 2, 48000);
        // Audio that ends before the video starts is no audio.
        i.video.as_mut().unwrap().start_seconds = 5.0;
        assert!(audio_args(Path::new("s"), &i, 0, &Profile::default(), Path::new("o")).is_none());
        i.audio = None;
        assert!(audio_args(Path::new("s"), &i, 0, &Profile::default(), Path::new("o")).is_none());
    }
}
