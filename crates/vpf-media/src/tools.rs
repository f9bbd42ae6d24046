//! Where the ffmpeg and ffprobe binaries are.

use std::path::{Path, PathBuf};

use vpf_core::{ErrorKind, Result};

use crate::run::{Stdout, args, run};

/// FC's official FFmpeg layer puts its binaries here.
pub const LAYER_BIN: &str = "/opt/bin";

/// The two binaries every media step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Tools {
    /// `FFMPEG_PATH` / `FFPROBE_PATH` when set; else the FC layer's
    /// `/opt/bin/ffmpeg` when it exists; else `ffmpeg` / `ffprobe` on `PATH`.
    pub fn from_env() -> Tools {
        Tools::from_lookup(|v| std::env::var_os(v), Path::new(LAYER_BIN))
    }

    fn from_lookup(var: impl Fn(&str) -> Option<std::ffi::OsString>, layer: &Path) -> Tools {
        let pick = |name: &str, bin: &str| {
            if let Some(v) = var(name).filter(|v| !v.is_empty()) {
                return PathBuf::from(v);
            }
            let in_layer = layer.join(bin);
            if in_layer.is_file() {
                in_layer
            } else {
                PathBuf::from(bin)
            }
        };
        Tools {
            ffmpeg: pick("FFMPEG_PATH", "ffmpeg"),
            ffprobe: pick("FFPROBE_PATH", "ffprobe"),
        }
    }

    /// The first line of `ffmpeg -version`, e.g. `5.1.6-0+deb12u1`.
    pub async fn version(&self) -> Result<String> {
        let out = run(
            &self.ffmpeg,
            &args!["-hide_banner", "-version"],
            Stdout::Capture,
        )
        .await?
        .check(ErrorKind::Internal, "ffmpeg -version")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or("");
        Ok(ffmpeg_sidecar::log_parser::try_parse_version(first)
            .unwrap_or_else(|| first.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_then_layer_then_path() {
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        assert_eq!(
            Tools::from_lookup(none, dir.path()).ffmpeg,
            PathBuf::from("ffmpeg")
        );
        std::fs::write(dir.path().join("ffmpeg"), b"").unwrap();
        let t = Tools::from_lookup(none, dir.path());
        assert_eq!(t.ffmpeg, dir.path().join("ffmpeg"));
        assert_eq!(t.ffprobe, PathBuf::from("ffprobe"));
        let env = |v: &str| (v == "FFPROBE_PATH").then(|| "/x/ffprobe".into());
        assert_eq!(
            Tools::from_lookup(env, dir.path()).ffprobe,
            PathBuf::from("/x/ffprobe")
        );
    }
}
