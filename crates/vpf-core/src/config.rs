//! Settings from environment variables, read once when a function starts.
//! Every name is listed here and in the README's configuration reference;
//! a bad value stops the function at start-up with a message naming it.

use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::format::{Format, Profile};
use crate::watermark::Watermark;

pub const NAS_MOUNT_DIR: &str = "NAS_MOUNT_DIR";
pub const OSS_ENDPOINT: &str = "OSS_ENDPOINT";
pub const FLOW_NAME: &str = "FLOW_NAME";
pub const FLOW_ENDPOINT: &str = "FLOW_ENDPOINT";
pub const INPUT_PREFIX: &str = "INPUT_PREFIX";
pub const INPUT_EXTENSIONS: &str = "INPUT_EXTENSIONS";
pub const OUTPUT_PREFIX: &str = "OUTPUT_PREFIX";
/// Where outputs go when `OUTPUT_PREFIX` (s.yaml's `vars.outputPrefix`) is unset.
pub const DEFAULT_OUTPUT_PREFIX: &str = "dest";
pub const SEGMENT_SECONDS: &str = "SEGMENT_SECONDS";
pub const MAX_PIECES: &str = "MAX_PIECES";
pub const FORMATS: &str = "FORMATS";
pub const CRF: &str = "CRF";
pub const PRESET: &str = "PRESET";
pub const MAX_HEIGHT: &str = "MAX_HEIGHT";
pub const AUDIO_KBPS: &str = "AUDIO_KBPS";
pub const GIF_SECONDS: &str = "GIF_SECONDS";
pub const LADDER: &str = "LADDER";
pub const AUDIO_SAMPLE_RATE: &str = "AUDIO_SAMPLE_RATE";
pub const AUDIO_CHANNELS: &str = "AUDIO_CHANNELS";
pub const LOUDNESS_LUFS: &str = "LOUDNESS_LUFS";
pub const DENOISE: &str = "DENOISE";
pub const WEBHOOK_URL: &str = "WEBHOOK_URL";
pub const FUNCTION_SIZES: &str = "FUNCTION_SIZES";
pub const CU_PRICE: &str = "CU_PRICE";
pub const CURRENCY: &str = "CURRENCY";
pub const WATERMARK_KEY: &str = "WATERMARK_KEY";
pub const WATERMARK_CORNER: &str = "WATERMARK_CORNER";
pub const WATERMARK_SCALE: &str = "WATERMARK_SCALE";
pub const WATERMARK_MARGIN: &str = "WATERMARK_MARGIN";
/// The simple function's limits (README, "The simple system").
pub const MAX_SOURCE_SECONDS: &str = "MAX_SOURCE_SECONDS";
pub const MAX_SOURCE_BYTES: &str = "MAX_SOURCE_BYTES";

/// A variable's value; unset and empty are the same.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Parse a variable, or take the default when it is unset.
pub fn parse_or<T: FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| {
            Error::invalid(format!(
                "environment variable {name}={v:?} is not valid: {e}"
            ))
        }),
    }
}

/// Where FC mounts NAS when `nasConfig` uses the automatic configuration.
pub const DEFAULT_MOUNT: &str = "/mnt/auto";

/// The NAS mount folder (`NAS_MOUNT_DIR`, default `/mnt/auto`).
pub fn nas_mount() -> PathBuf {
    var(NAS_MOUNT_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MOUNT))
}

/// An optional variable: `None` when unset.
fn parse_opt<T: FromStr + Default>(name: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(None),
        Some(_) => parse_or(name, T::default()).map(Some),
    }
}

/// The encoding profile from `CRF`, `PRESET`, `MAX_HEIGHT`, `AUDIO_KBPS`,
/// `GIF_SECONDS`, `LADDER`, `AUDIO_SAMPLE_RATE`, `AUDIO_CHANNELS`,
/// `LOUDNESS_LUFS`, `DENOISE` and the `WATERMARK_*` variables.
pub fn profile() -> Result<Profile> {
    let d = Profile::default();
    let p = Profile {
        crf: parse_or(CRF, d.crf)?,
        preset: var(PRESET).unwrap_or(d.preset),
        max_height: parse_opt(MAX_HEIGHT)?,
        audio_kbps: parse_or(AUDIO_KBPS, d.audio_kbps)?,
        gif_seconds: parse_or(GIF_SECONDS, d.gif_seconds)?,
        ladder: parse_or(LADDER, d.ladder)?,
        watermark: watermark()?,
        sample_rate: parse_opt(AUDIO_SAMPLE_RATE)?,
        channels: parse_opt(AUDIO_CHANNELS)?,
        loudness_lufs: parse_opt(LOUDNESS_LUFS)?,
        denoise: parse_or(DENOISE, d.denoise)?,
    };
    p.validate()?;
    Ok(p)
}

/// How after-process prices a job: `FUNCTION_SIZES` (every job function's
/// vCPU/memory MB/disk MB; unset: no cost in the manifest), `CU_PRICE`
/// and `CURRENCY` (default the first pay-as-you-go tier, USD 0.000020).
pub fn cost_settings() -> Result<Option<crate::cost::CostSettings>> {
    use crate::cost::{CostSettings, Pricing};
    let Some(sizes) = var(FUNCTION_SIZES) else {
        return Ok(None);
    };
    let sizes = sizes
        .parse()
        .map_err(|e: Error| Error::invalid(format!("{FUNCTION_SIZES}: {}", e.message)))?;
    let d = Pricing::default();
    let pricing = Pricing {
        cu_price: parse_or(CU_PRICE, d.cu_price)?,
        currency: var(CURRENCY).map_or(d.currency, |c| c.trim().to_string()),
    };
    pricing
        .validate()
        .map_err(|e| Error::invalid(format!("{CU_PRICE}/{CURRENCY}: {}", e.message)))?;
    Ok(Some(CostSettings { sizes, pricing }))
}

/// The watermark from `WATERMARK_KEY` (unset or empty: none) and
/// `WATERMARK_CORNER`, `WATERMARK_SCALE`, `WATERMARK_MARGIN` (each unset or
/// empty: its default). Without a key the other three do nothing; s.yaml
/// passes them always.
pub fn watermark() -> Result<Option<Watermark>> {
    let Some(key) = var(WATERMARK_KEY) else {
        return Ok(None);
    };
    let d = Watermark::new(key.trim());
    let w = Watermark {
        corner: parse_or(WATERMARK_CORNER, d.corner)?,
        scale: parse_or(WATERMARK_SCALE, d.scale)?,
        margin: parse_or(WATERMARK_MARGIN, d.margin)?,
        key: d.key,
    };
    w.validate()?;
    Ok(Some(w))
}

/// What phones, cameras, browsers, screen recorders and broadcast chains
/// write: every container here is one ffmpeg reads and our pipeline is
/// tested with (tests/python/test_uploads.py).
pub const DEFAULT_VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "ts", "mts", "m2ts", "avi", "flv", "3gp", "mpg", "mpeg",
    "mxf",
];

/// Sound-only uploads: each makes an audio job (m4a, mp3, audio-only HLS).
pub const DEFAULT_AUDIO_EXTENSIONS: &[&str] = &["mp3", "m4a", "aac", "wav", "flac", "ogg", "opus"];

/// The extensions of uploads that start a job, from `INPUT_EXTENSIONS`
/// (comma- or space-separated, dots optional, any case; default
/// [`DEFAULT_VIDEO_EXTENSIONS`] and [`DEFAULT_AUDIO_EXTENSIONS`]).
pub fn input_extensions() -> Result<Vec<String>> {
    extensions_or_default(var(INPUT_EXTENSIONS).as_deref())
}

/// An `INPUT_EXTENSIONS` value as [`input_extensions`] reads it (`None` or
/// blank: the default list), for readers of s.yaml too.
pub fn extensions_or_default(value: Option<&str>) -> Result<Vec<String>> {
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(DEFAULT_VIDEO_EXTENSIONS
            .iter()
            .chain(DEFAULT_AUDIO_EXTENSIONS)
            .map(|e| e.to_string())
            .collect()),
        Some(v) => parse_extensions(v),
    }
}

/// `"mp4, .MOV mkv"` gives `["mp4", "mov", "mkv"]`.
pub fn parse_extensions(list: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for item in list.split([',', ' ', '\t']).filter(|s| !s.is_empty()) {
        let e = item.trim_start_matches('.').to_ascii_lowercase();
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(format!(
                "{INPUT_EXTENSIONS}: {item:?} is not a file extension (letters and digits, like mp4 or .mov)"
            )));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(format!(
            "{INPUT_EXTENSIONS} names no extension"
        )));
    }
    Ok(out)
}

/// The output formats from `FORMATS` (default `mp4, flv, hls`).
pub fn formats() -> Result<Vec<Format>> {
    Format::parse_list(&var(FORMATS).unwrap_or_else(|| "mp4, flv, hls".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_lists_are_normalised_and_checked() {
        assert_eq!(
            parse_extensions("mp4, .MOV  mkv,mp4").unwrap(),
            ["mp4", "mov", "mkv"]
        );
        assert!(parse_extensions(" , ").is_err());
        assert!(parse_extensions("mp4, m/v").is_err());
        assert!(parse_extensions("*.mp4").is_err());
    }
}
