//! What every media step's function reads from its environment, once.

use std::path::PathBuf;
use std::time::Instant;

use vpf_core::config;

use crate::Tools;

/// Settings of the split, transcode and merge functions.
#[derive(Debug, Clone)]
pub struct StepSettings {
    /// `NAS_MOUNT_DIR`, default `/mnt/auto`.
    pub nas_mount: PathBuf,
    /// `OSS_ENDPOINT`; `None`: the region's internal endpoint.
    pub oss_endpoint: Option<String>,
    /// `FFMPEG_PATH` / `FFPROBE_PATH`, the FC layer, or `PATH`.
    pub tools: Tools,
}

impl StepSettings {
    pub fn from_env() -> StepSettings {
        StepSettings {
            nas_mount: config::nas_mount(),
            oss_endpoint: config::var(config::OSS_ENDPOINT),
            tools: Tools::from_env(),
        }
    }
}

/// Milliseconds since `t`, for the sub-step times the handlers log (the
/// benchmark reads them; the manifest keeps whole steps only).
pub fn elapsed_ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}
