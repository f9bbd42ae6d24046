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

use vpf_core::job::{MediaInfo, Profile, SAMPLE_RATES};
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::decode::decode_audio;
use crate::probe::{expected_audio_seconds, probe_json};
use crate::run::{Stdout, args, ffmpeg_base, run, zeroed_at};
use crate::sound::{LoudnessMeasured, loudnorm_filter, measure_for_loudnorm};
use crate::temp::{Temp, remove_any};

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

/// The output sample rate of a track: the profile's, else [`output_rate`].
pub fn track_rate(source_rate: u32, profile: &Profile) -> u32 {
    profile
        .sample_rate
        .unwrap_or_else(|| output_rate(source_rate))
}

/// An MP3 carries at most 48 kHz; faster AAC rates are halved to it.
pub fn mp3_rate(rate: u32) -> u32 {
    if SAMPLE_RATES.contains(&rate) {
        rate
    } else {
        48000
    }
}

/// MP3 bitrates LAME takes, kbit/s.
const MP3_KBPS: (u32, u32) = (32, 320);

/// The channel layout every output of a track has: the profile's; else
/// mono and stereo kept, and more channels (or an unknown count) mixed to
/// stereo, which web players and AAC in FLV expect.
fn layout(channels: u32, profile: &Profile) -> &'static str {
    match profile.channels.unwrap_or(channels) {
        1 => "mono",
        _ => "stereo",
    }
}

/// The input arguments every audio pass reads the source with: timestamps
/// kept and shifted so that the output's zero ([`MediaInfo::zero_seconds`])
/// is at zero.
fn input_args(source: &Path, info: &MediaInfo) -> Vec<OsString> {
    let mut a = zeroed_at(info.zero_seconds());
    a.extend(args!["-i", source]);
    a
}

/// The filter graph from `0:a:track` to the output's samples, named
/// `[aac]` (and `[mp3]` beside it when `mp3`): aligned and resampled,
/// mixed to the output's layout, denoised, normalised (`loudness`: the
/// step, with or without measurements), cut or padded to the exact length.
/// `None` when the track has nothing to encode.
fn graph(
    info: &MediaInfo,
    track: u32,
    profile: &Profile,
    loudness: Option<&str>,
    mp3: bool,
) -> Option<String> {
    let audio = info.audio_track(track)?;
    let expected = expected_audio_seconds(info, track)?;
    let rate = track_rate(audio.sample_rate, profile);
    let samples = (expected * rate as f64).round() as u64;
    let mut steps = vec![
        format!("aresample={rate}:async=1:min_hard_comp={HARD_SYNC_SECONDS}:first_pts=0"),
        format!(
            "aformat=channel_layouts={}",
            layout(audio.channels, profile)
        ),
    ];
    steps.extend(crate::sound::cleanup_filters(profile));
    if let Some(l) = loudness {
        // loudnorm works at 192 kHz and hands that on: back to the rate.
        steps.push(l.to_string());
        steps.push(format!("aresample={rate}"));
    }
    steps.push(format!(
        "apad=whole_len={samples},atrim=end_sample={samples}"
    ));
    let tail = if mp3 { ",asplit=2[aac][mp3]" } else { "[aac]" };
    Some(format!("[0:a:{track}]{}{tail}", steps.join(",")))
}

/// The ffmpeg arguments that encode `info`'s audio track `track` (`0:a:n`)
/// to AAC in `out` (an MP4 file), aligned with the video, and to MP3 in
/// `mp3` beside it when given, from one decode and one filter graph.
/// `loudness`: the profile's target's measurements (the second pass).
/// `None` when that track has no audio to encode.
pub fn audio_args(
    source: &Path,
    info: &MediaInfo,
    track: u32,
    profile: &Profile,
    loudness: Option<&LoudnessMeasured>,
    out: &Path,
    mp3: Option<&Path>,
) -> Option<Vec<OsString>> {
    let audio = info.audio_track(track)?;
    let rate = track_rate(audio.sample_rate, profile);
    let step = profile
        .loudness_lufs
        .map(|target| loudnorm_filter(target, loudness));
    let graph = graph(info, track, profile, step.as_deref(), mp3.is_some())?;
    let mut a = ffmpeg_base();
    a.extend(input_args(source, info));
    a.extend(args!["-filter_complex", graph, "-map", "[aac]"]);
    a.extend(args![
        "-c:a",
        "aac",
        "-b:a",
        format!("{}k", profile.audio_kbps),
        "-ar",
        rate.to_string()
    ]);
    a.extend(args!["-f", "mp4", "-movflags", "+faststart", out]);
    if let Some(mp3) = mp3 {
        let kbps = profile.audio_kbps.clamp(MP3_KBPS.0, MP3_KBPS.1);
        a.extend(args![
            "-map",
            "[mp3]",
            "-c:a",
            "libmp3lame",
            "-b:a",
            format!("{kbps}k"),
            "-ar",
            mp3_rate(rate).to_string(),
            "-f",
            "mp3",
            mp3
        ]);
    }
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
    extract_audio_with_mp3(tools, source, info, track, profile, out, None).await
}

/// [`extract_audio`], and the same samples as MP3 in `mp3` when given
/// (`jobdir.audio_mp3(n)`). With a loudness target, the track is measured
/// first (the first of loudnorm's two passes).
pub async fn extract_audio_with_mp3(
    tools: &Tools,
    source: &Path,
    info: &MediaInfo,
    track: u32,
    profile: &Profile,
    out: &Path,
    mp3: Option<&Path>,
) -> Result<bool> {
    let measured = match profile.loudness_lufs {
        None => None,
        Some(target) => {
            let step = loudnorm_filter(target, None);
            let Some(g) = graph(info, track, profile, Some(&step), false) else {
                remove_any(out)?;
                return Ok(false);
            };
            let m = measure_for_loudnorm(tools, input_args(source, info), &g, "[aac]")
                .await
                .map_err(|e| e.context(format!("audio track {track}")))?;
            tracing::info!(track, input_i = %m.input_i, input_lra = %m.input_lra, "loudness measured");
            Some(m)
        }
    };
    let tmp = Temp::beside(out);
    let tmp_mp3 = mp3.map(Temp::beside);
    let Some(a) = audio_args(
        source,
        info,
        track,
        profile,
        measured.as_ref(),
        tmp.path(),
        tmp_mp3.as_ref().map(Temp::path),
    ) else {
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
        .map(|a| track_rate(a.sample_rate, profile))
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
    if let (Some(t), Some(dest)) = (tmp_mp3, mp3) {
        if !t.path().is_file() {
            return Err(Error::new(
                ErrorKind::EncodeFailed,
                format!("encoding audio track {track} to MP3: ffmpeg wrote no file"),
            ));
        }
        t.commit(dest)?;
    }
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

    /// [`audio_args`] for track `track` of `source` under the default
    /// profile, no loudness measured and no MP3, writing `o`.
    fn plain_args(source: &str, info: &MediaInfo, track: u32) -> Option<Vec<OsString>> {
        audio_args(
            Path::new(source),
            info,
            track,
            &Profile::default(),
            None,
            Path::new("o"),
            None,
        )
    }

    #[test]
    fn audio_is_aligned_to_the_first_video_frame() {
        let a = strings(plain_args("s.mp4", &info(0.0, 0.5, 2, 48000), 0).unwrap());
        let at = a.iter().position(|x| x == "-itsoffset").unwrap();
        assert_eq!(a[at + 1], "-0.500000");
        // Audio 0..4 s, video from 0.5 s: 3.5 s of audio, to the sample.
        assert!(
            a.iter()
                .any(|x| x.contains("whole_len=168000") && x.contains("end_sample=168000"))
        );
        assert!(a.iter().any(|x| x.contains("first_pts=0")));
        assert!(a.iter().any(|x| x.contains("channel_layouts=stereo")));
        assert!(a.iter().any(|x| x == "128k"));
        assert!(
            a.iter()
                .any(|x| x.starts_with("[0:a:0]") && x.ends_with("[aac]"))
        );
        assert!(
            !a.iter()
                .any(|x| x.contains("loudnorm") || x.contains("afftdn"))
        );
    }

    #[test]
    fn each_track_is_encoded_from_its_own_stream_and_length() {
        let mut i = info(0.0, 0.5, 2, 48000);
        let mut second = i.audio.clone().unwrap();
        second.duration_seconds = 2.5;
        second.stream_index = 2;
        i.audio_tracks = vec![i.audio.clone().unwrap(), second];
        let a = strings(plain_args("s", &i, 1).unwrap());
        assert!(a.iter().any(|x| x.starts_with("[0:a:1]")));
        // 2.5 s from 0, video from 0.5 s: 2 s at 48 kHz.
        assert!(a.iter().any(|x| x.contains("whole_len=96000")));
        assert!(plain_args("s", &i, 2).is_none());
    }

    #[test]
    fn odd_rates_and_many_channels_are_made_web_friendly() {
        let a = strings(plain_args("s", &info(0.0, 0.0, 6, 37800), 0).unwrap());
        assert!(
            a.iter()
                .any(|x| x.contains("aformat=channel_layouts=stereo"))
        );
        assert!(a.windows(2).any(|w| w[0] == "-ar" && w[1] == "48000"));
        assert_eq!(output_rate(44100), 44100);
    }

    #[test]
    fn the_profile_sets_rate_channels_denoise_loudness_and_an_mp3_beside() {
        let profile = Profile {
            sample_rate: Some(22050),
            channels: Some(1),
            loudness_lufs: Some(-16.0),
            denoise: true,
            ..Profile::default()
        };
        let m = crate::sound::LoudnessMeasured {
            input_i: "-30.0".into(),
            input_tp: "-20.0".into(),
            input_lra: "1.0".into(),
            input_thresh: "-40.0".into(),
            target_offset: "0.1".into(),
        };
        let a = strings(
            audio_args(
                Path::new("s"),
                &info(0.0, 0.0, 2, 96000),
                0,
                &profile,
                Some(&m),
                Path::new("o.m4a"),
                Some(Path::new("o.mp3")),
            )
            .unwrap(),
        );
        let graph = &a[a.iter().position(|x| x == "-filter_complex").unwrap() + 1];
        // Denoise before the loudness step (noise would count as loudness),
        // back to the output rate after it, the length last.
        let order = [
            "aresample=22050:",
            "mono",
            "afftdn",
            "measured_I=-30.0",
            "linear=true",
            "aresample=22050,",
            "whole_len=88200",
            "asplit=2[aac][mp3]",
        ];
        let at: Vec<usize> = order
            .iter()
            .map(|p| graph.find(p).unwrap_or(usize::MAX))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{graph}");
        assert!(a.windows(2).any(|w| w[0] == "-map" && w[1] == "[mp3]"));
        assert!(a.windows(2).any(|w| w[0] == "-c:a" && w[1] == "libmp3lame"));
        assert_eq!(a.iter().filter(|x| *x == "22050").count(), 2, "{a:?}");
        assert_eq!(a.last().map(String::as_str), Some("o.mp3"));
        // Without a video, the zero is the audio's first sample.
        let mut alone = info(0.25, 0.0, 2, 44100);
        alone.video = None;
        let a = strings(plain_args("s", &alone, 0).unwrap());
        let at = a.iter().position(|x| x == "-itsoffset").unwrap();
        assert_eq!(a[at + 1], "-0.250000");
        assert!(a.iter().any(|x| x.contains("whole_len=176400")));
        assert_eq!(mp3_rate(96000), 48000);
    }

    #[test]
    fn no_audio_means_no_command() {
        let mut i = info(0.0, 0.0, 2, 48000);
        // Audio that ends before the video starts is no audio.
        i.video.as_mut().unwrap().start_seconds = 5.0;
        assert!(plain_args("s", &i, 0).is_none());
        i.audio = None;
        assert!(plain_args("s", &i, 0).is_none());
    }
}
