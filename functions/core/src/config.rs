//! Settings from environment variables, read once when a function starts.
//! Every name is listed here and in the README's configuration reference;
//! a bad value stops the function at start-up with a message naming it.

use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::job::{Format, Profile};

pub const NAS_MOUNT_DIR: &str = "NAS_MOUNT_DIR";
pub const OSS_ENDPOINT: &str = "OSS_ENDPOINT";
pub const FLOW_NAME: &str = "FLOW_NAME";
pub const FLOW_ENDPOINT: &str = "FLOW_ENDPOINT";
pub const INPUT_PREFIX: &str = "INPUT_PREFIX";
pub const INPUT_EXTENSIONS: &str = "INPUT_EXTENSIONS";
pub const OUTPUT_PREFIX: &str = "OUTPUT_PREFIX";
pub const SEGMENT_SECONDS: &str = "SEGMENT_SECONDS";
pub const MAX_PIECES: &str = "MAX_PIECES";
pub const FORMATS: &str = "FORMATS";
pub const CRF: &str = "CRF";
pub const PRESET: &str = "PRESET";
pub const MAX_HEIGHT: &str = "MAX_HEIGHT";
pub const AUDIO_KBPS: &str = "AUDIO_KBPS";
pub const GIF_SECONDS: &str = "GIF_SECONDS";
pub const LADDER: &str = "LADDER";
pub const WEBHOOK_URL: &str = "WEBHOOK_URL";
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

/// The NAS mount folder (`NAS_MOUNT_DIR`, default `/mnt/auto`).
pub fn nas_mount() -> PathBuf {
    var(NAS_MOUNT_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::nas::DEFAULT_MOUNT))
}

/// The encoding profile from `CRF`, `PRESET`, `MAX_HEIGHT`, `AUDIO_KBPS`,
/// `GIF_SECONDS`, `LADDER`.
pub fn profile() -> Result<Profile> {
    let d = Profile::default();
    let p = Profile {
        crf: parse_or(CRF, d.crf)?,
        preset: var(PRESET).unwrap_or(d.preset),
        max_height: match var(MAX_HEIGHT) {
            None => None,
            Some(_) => Some(parse_or(MAX_HEIGHT, 0u32)?),
        },
        audio_kbps: parse_or(AUDIO_KBPS, d.audio_kbps)?,
        gif_seconds: parse_or(GIF_SECONDS, d.gif_seconds)?,
        ladder: parse_or(LADDER, d.ladder)?,
    };
    p.validate()?;
    Ok(p)
}

/// What phones, cameras, browsers, screen recorders and broadcast chains
/// write: every container here is one ffmpeg reads and our pipeline is
/// tested with (tests/python/test_uploads.py).
pub const DEFAULT_VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "ts", "mts", "m2ts", "avi", "flv", "3gp", "mpg", "mpeg",
    "mxf",
];

/// The extensions of uploads that start a job, from `INPUT_EXTENSIONS`
/// (comma- or space-separated, dots optional, any case; default
/// [`DEFAULT_VIDEO_EXTENSIONS`]).
pub fn input_extensions() -> Result<Vec<String>> {
    extensions_or_default(var(INPUT_EXTENSIONS).as_deref())
}

/// An `INPUT_EXTENSIONS` value as [`input_extensions`] reads it (`None` or
/// blank: the default list), for readers of s.yaml too.
pub fn extensions_or_default(value: Option<&str>) -> Result<Vec<String>> {
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(DEFAULT_VIDEO_EXTENSIONS
            .iter()
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
