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
pub const INPUT_SUFFIX: &str = "INPUT_SUFFIX";
pub const OUTPUT_PREFIX: &str = "OUTPUT_PREFIX";
pub const SEGMENT_SECONDS: &str = "SEGMENT_SECONDS";
pub const MAX_PIECES: &str = "MAX_PIECES";
pub const FORMATS: &str = "FORMATS";
pub const CRF: &str = "CRF";
pub const PRESET: &str = "PRESET";
pub const MAX_HEIGHT: &str = "MAX_HEIGHT";
pub const AUDIO_KBPS: &str = "AUDIO_KBPS";
pub const GIF_SECONDS: &str = "GIF_SECONDS";
pub const WEBHOOK_URL: &str = "WEBHOOK_URL";

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

/// The encoding profile from `CRF`, `PRESET`, `MAX_HEIGHT`, `AUDIO_KBPS`, `GIF_SECONDS`.
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
    };
    p.validate()?;
    Ok(p)
}

/// The output formats from `FORMATS` (default `mp4, flv, hls`).
pub fn formats() -> Result<Vec<Format>> {
    Format::parse_list(&var(FORMATS).unwrap_or_else(|| "mp4, flv, hls".into()))
}
