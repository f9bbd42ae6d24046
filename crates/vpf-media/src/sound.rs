//! Audio processing beyond the encode: loudness normalisation (EBU R128,
//! ffmpeg's loudnorm in two passes), denoising (afftdn), and the checks of
//! every sound-only output (its sample count and measured loudness).
//!
//! Loudness: one pass measures the whole track (`print_format=json`), the
//! second applies those measurements with `linear=true`, a single gain for
//! the whole track, so the sound keeps its dynamics; loudnorm falls back to
//! its dynamic mode by itself only when one gain cannot reach the target
//! without passing the true-peak ceiling. A single pass would have to
//! guess the loudness as it goes and pump. The gain depends on the whole
//! track, so the track is never normalised piece by piece.

use std::ffi::OsString;
use std::path::Path;

use serde::Deserialize;
use vpf_core::job::Profile;
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::run::{Stdout, args, ffmpeg_base, run};

/// The true-peak ceiling loudnorm keeps to, dBTP (EBU R128 asks -1).
pub const TRUE_PEAK_DBTP: f64 = -1.5;
/// The loudness range loudnorm is given, LU: its largest (ffmpeg 5.1), so
/// that the linear mode, which needs the source's range within it, applies
/// to nearly every source.
pub const LOUDNESS_RANGE_LU: f64 = 20.0;
/// How far a normalised output may measure from the target, LU.
pub const LOUDNESS_TOLERANCE_LU: f64 = 1.0;
/// Samples in one MP3 frame (MPEG-1 Layer III at 32 kHz and up; MPEG-2's
/// 576-sample frames at lower rates are within it).
pub const MP3_FRAME: u64 = 1152;
/// Denoising: 15 dB of reduction on a noise floor tracked through the
/// track (`tn=1`) from a start at -45 dBFS, which keeps tones and speech
/// well above the floor untouched.
pub const DENOISE_FILTER: &str = "afftdn=nr=15:nf=-45:tn=1";

/// What loudnorm's first pass measured (its JSON; numbers as strings).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LoudnessMeasured {
    pub input_i: String,
    pub input_tp: String,
    pub input_lra: String,
    pub input_thresh: String,
    pub target_offset: String,
}

impl LoudnessMeasured {
    /// Read the JSON block loudnorm prints at the end of a pass.
    pub fn parse(log: &str) -> Result<LoudnessMeasured> {
        let start = log.rfind('{');
        let end = log.rfind('}');
        let (Some(start), Some(end)) = (start, end) else {
            return Err(Error::new(
                ErrorKind::EncodeFailed,
                "the loudness measurement printed no result",
            ));
        };
        if end < start {
            return Err(Error::new(
                ErrorKind::EncodeFailed,
                "the loudness measurement's result is cut short",
            ));
        }
        let m: LoudnessMeasured = serde_json::from_str(&log[start..=end]).map_err(|e| {
            Error::new(
                ErrorKind::EncodeFailed,
                format!("the loudness measurement's result could not be read: {e}"),
            )
        })?;
        // Silence measures -inf: there is nothing to bring to a level.
        for v in [&m.input_i, &m.input_tp, &m.input_lra, &m.input_thresh] {
            if v.trim().parse::<f64>().map_or(true, |x| !x.is_finite()) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "the audio cannot be normalised: its loudness measures {} LUFS (silence?)",
                        m.input_i
                    ),
                ));
            }
        }
        Ok(m)
    }
}

/// The loudnorm filter: the measuring pass (`None`) or the pass that
/// applies `measured`.
pub fn loudnorm_filter(target_lufs: f64, measured: Option<&LoudnessMeasured>) -> String {
    let base = format!("loudnorm=I={target_lufs}:TP={TRUE_PEAK_DBTP}:LRA={LOUDNESS_RANGE_LU}");
    match measured {
        None => format!("{base}:print_format=json"),
        Some(m) => format!(
            "{base}:measured_I={}:measured_TP={}:measured_LRA={}:measured_thresh={}:offset={}:linear=true:print_format=summary",
            m.input_i, m.input_tp, m.input_lra, m.input_thresh, m.target_offset
        ),
    }
}

/// The filters a profile puts before the loudness step, in order.
pub fn cleanup_filters(profile: &Profile) -> Vec<String> {
    match profile.denoise {
        true => vec![DENOISE_FILTER.to_string()],
        false => Vec::new(),
    }
}

/// ffmpeg at a log level that prints the filters' summaries.
fn ffmpeg_info() -> Vec<OsString> {
    let mut a = ffmpeg_base();
    // A later -loglevel wins: the summaries are info lines.
    a.extend(args!["-loglevel", "level+info"]);
    a
}

/// Run loudnorm's measuring pass over `input` through `graph` (a
/// `-filter_complex` holding [`loudnorm_filter`]`(target, None)`, whose
/// output is labelled `output`).
pub async fn measure_for_loudnorm(
    tools: &Tools,
    input_args: Vec<OsString>,
    graph: &str,
    output: &str,
) -> Result<LoudnessMeasured> {
    let mut a = ffmpeg_info();
    a.extend(input_args);
    a.extend(args![
        "-filter_complex",
        graph,
        "-map",
        output,
        "-f",
        "null",
        "-"
    ]);
    let out = run(&tools.ffmpeg, &a, Stdout::Ignore)
        .await?
        .check(ErrorKind::EncodeFailed, "measuring the loudness")?;
    LoudnessMeasured::parse(&out.log.text())
}

/// What decoding a sound output found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Samples per channel, decoded.
    pub samples: u64,
    /// Integrated loudness, LUFS (EBU R128).
    pub loudness_lufs: f64,
}

/// The ffmpeg arguments that decode `input`'s first audio track once and
/// measure it: ebur128's integrated loudness and astats' sample count.
pub fn measure_args(input: &Path) -> Vec<OsString> {
    let mut a = ffmpeg_info();
    a.extend(args![
        "-i",
        input,
        "-map",
        "0:a:0",
        "-af",
        "ebur128=framelog=verbose,astats=measure_perchannel=none:measure_overall=Number_of_samples",
        "-f",
        "null",
        "-"
    ]);
    a
}

/// Read [`measure_args`]' summaries from ffmpeg's log.
pub fn parse_measured(log: &str) -> Option<Measured> {
    let after = |key: &str| {
        log.lines()
            .filter_map(|l| l.split_once(key).map(|(_, v)| v.trim().to_string()))
            .next_back()
    };
    let samples = after("Number of samples:")?.parse::<f64>().ok()? as u64;
    let loudness = after("I:")?
        .trim_end_matches("LUFS")
        .trim()
        .parse::<f64>()
        .ok()?;
    Some(Measured {
        samples,
        loudness_lufs: loudness,
    })
}

/// Decode `input` once and measure it; any decode error fails.
pub async fn measure(tools: &Tools, input: &Path) -> Result<Measured> {
    let what = format!("decoding {}", input.display());
    let out = run(&tools.ffmpeg, &measure_args(input), Stdout::Ignore)
        .await?
        .check_clean(ErrorKind::VerifyFailed, &what, false)?;
    parse_measured(&out.log.text()).ok_or_else(|| {
        Error::new(
            ErrorKind::VerifyFailed,
            format!("{what}: ffmpeg printed no loudness or sample count"),
        )
    })
}

/// What a sound output must hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoundCheck {
    /// Samples per channel, at the output's rate.
    pub samples: u64,
    /// One frame of the codec (AAC 1024, MP3 1152): encoders pad the end
    /// to a whole frame, and a decoder may keep that much priming.
    pub frame: u64,
    pub loudness_target: Option<f64>,
}

/// Check a measured output against what it must hold.
pub fn check_sound(what: &str, got: &Measured, want: &SoundCheck) -> Result<()> {
    let diff = got.samples.abs_diff(want.samples);
    if diff > want.frame {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!(
                "{what} holds {} samples, the source {} (more than one {}-sample frame apart)",
                got.samples, want.samples, want.frame
            ),
        ));
    }
    if let Some(target) = want.loudness_target
        && (got.loudness_lufs - target).abs() > LOUDNESS_TOLERANCE_LU
    {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!(
                "{what} measures {:.1} LUFS; the target is {target} LUFS (tolerance {LOUDNESS_TOLERANCE_LU} LU)",
                got.loudness_lufs
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOUDNORM_LOG: &str = r#"[Parsed_loudnorm_0 @ 0x55] [info]
{
	"input_i" : "-27.61",
	"input_tp" : "-22.17",
	"input_lra" : "0.00",
	"input_thresh" : "-37.61",
	"output_i" : "-16.39",
	"output_tp" : "-10.93",
	"output_lra" : "0.00",
	"output_thresh" : "-26.39",
	"normalization_type" : "dynamic",
	"target_offset" : "0.39"
}"#;

    #[test]
    fn the_second_pass_applies_the_first_passes_measurements_linearly() {
        let m = LoudnessMeasured::parse(LOUDNORM_LOG).unwrap();
        assert_eq!(m.input_i, "-27.61");
        let f = loudnorm_filter(-16.0, Some(&m));
        assert!(f.starts_with("loudnorm=I=-16:TP=-1.5:LRA=20:"), "{f}");
        for part in [
            "measured_I=-27.61",
            "measured_TP=-22.17",
            "measured_LRA=0.00",
            "measured_thresh=-37.61",
            "offset=0.39",
            "linear=true",
        ] {
            assert!(f.contains(part), "{part} in {f}");
        }
        assert!(loudnorm_filter(-23.0, None).ends_with("print_format=json"));
    }

    #[test]
    fn silence_and_garbage_are_refused_with_a_reason() {
        let silent = LOUDNORM_LOG.replace("\"-27.61\"", "\"-inf\"");
        let e = LoudnessMeasured::parse(&silent).unwrap_err();
        assert!(e.message.contains("-inf LUFS"), "{}", e.message);
        assert!(LoudnessMeasured::parse("no json here").is_err());
        assert!(LoudnessMeasured::parse("{ \"input_i\": 1 }").is_err());
    }

    #[test]
    fn measurements_are_read_from_the_summaries() {
        let log = "[Parsed_ebur128_0 @ 0x1] [info] Summary:\n\n  Integrated loudness:\n    I:         -21.8 LUFS\n    Threshold: -31.8 LUFS\n[Parsed_astats_1 @ 0x2] [info] Overall\n[Parsed_astats_1 @ 0x2] [info] Number of samples: 88200";
        let m = parse_measured(log).unwrap();
        assert_eq!(m.samples, 88200);
        assert_eq!(m.loudness_lufs, -21.8);
        assert!(parse_measured("nothing").is_none());
    }

    #[test]
    fn checks_fail_past_one_frame_or_one_lu() {
        let want = SoundCheck {
            samples: 48000,
            frame: 1024,
            loudness_target: Some(-16.0),
        };
        let ok = Measured {
            samples: 48000 + 1024,
            loudness_lufs: -16.9,
        };
        assert!(check_sound("x", &ok, &want).is_ok());
        let short = Measured {
            samples: 48000 - 1025,
            ..ok
        };
        assert!(check_sound("x", &short, &want).is_err());
        let quiet = Measured {
            loudness_lufs: -17.2,
            ..ok
        };
        let e = check_sound("x", &quiet, &want).unwrap_err();
        assert!(e.message.contains("-17.2 LUFS"), "{}", e.message);
        let free = SoundCheck {
            loudness_target: None,
            ..want
        };
        assert!(check_sound("x", &quiet, &free).is_ok());
    }
}
