//! What an output is, below the steps that make it: the packaged files
//! and their keys, and ffmpeg's HLS muxer as every HLS output uses it
//! (single playlist and renditions alike).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;
use vpf_core::content_type::content_type_for;
use vpf_core::job::Format;
use vpf_core::ladder::RenditionOutcome;
use vpf_core::nas::write_atomic;
use vpf_core::{Error, ErrorKind, Result};

use crate::hls_check::SegmentScan;
use crate::run::args;
use crate::transcode::HLS_SEGMENT_SECONDS;

/// The adaptive-streaming presentation's folder under the job's output base.
pub const ABR_DIR: &str = "abr";
/// Its HLS master playlist, in [`ABR_DIR`]: the key `JobRequest::output_key` gives.
pub const ABR_MASTER: &str = "master.m3u8";

/// One file of a packaged format.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackagedFile {
    /// Where it is on NAS.
    pub path: PathBuf,
    /// Its key relative to the job's output base (`a.mp4`, `hls/index00000.ts`).
    pub rel: String,
    pub content_type: &'static str,
    pub bytes: u64,
}

/// One packaged format.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Packaged {
    pub format: Format,
    /// In upload order. The main file (the one `JobRequest::output_key`
    /// names) is last: for HLS the playlist comes after its segments, so a
    /// reader never finds a playlist naming a segment not yet uploaded.
    pub files: Vec<PackagedFile>,
    pub duration_seconds: Option<f64>,
    pub bitrate_kbps: Option<f64>,
    /// `abr`: what each rendition holds.
    pub renditions: Vec<RenditionOutcome>,
    /// Sound-only outputs: the integrated loudness measured on them, LUFS.
    pub loudness_lufs: Option<f64>,
}

impl Packaged {
    /// The file `JobRequest::output_key` names.
    pub fn main(&self) -> Option<&PackagedFile> {
        self.files.last()
    }
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// The main file's key relative to the output base, as `JobRequest::output_key` builds it.
pub fn main_rel(format: Format, stem: &str) -> String {
    match format {
        Format::Hls => "hls/index.m3u8".into(),
        Format::Sprite => "sprite/thumbnails.vtt".into(),
        Format::Abr => format!("{ABR_DIR}/{ABR_MASTER}"),
        f => format!("{stem}.{}", f.as_str()),
    }
}

pub(crate) fn file_entry(path: PathBuf, rel: String) -> Result<PackagedFile> {
    let bytes = std::fs::metadata(&path)
        .map_err(|e| Error::internal(format!("{}: {e}", path.display())))?
        .len();
    Ok(PackagedFile {
        content_type: content_type_for(&rel),
        path,
        rel,
        bytes,
    })
}

/// ffmpeg's HLS muxer as every HLS output uses it: stream copy, VOD
/// playlists listing every segment, TS segments of about
/// [`HLS_SEGMENT_SECONDS`] that each start with a key frame.
pub(crate) fn hls_muxer() -> Vec<OsString> {
    args![
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        HLS_SEGMENT_SECONDS.to_string(),
        "-hls_playlist_type",
        "vod",
        "-hls_list_size",
        "0",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_type",
        "mpegts"
    ]
}

/// Replace the segment durations ffmpeg wrote with measured ones. ffmpeg's
/// HLS muxer adds up packet durations, which for a variable frame rate
/// source can disagree with the timestamps; a segment really lasts from its
/// first frame to the next segment's first frame (closed GOPs, cut at key
/// frames), the last one to the end of the video.
pub(crate) fn set_hls_durations(
    playlist: &Path,
    scans: &[SegmentScan],
    video_seconds: f64,
) -> Result<()> {
    let starts: Vec<f64> = scans
        .iter()
        .map(|s| s.first_video.map_or(f64::NAN, |(t, _)| t))
        .collect();
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            "the HLS playlist lists no segment",
        ));
    };
    let mut durations: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    durations.push(first + video_seconds - last);
    if let Some(d) = durations.iter().find(|d| d.is_nan() || **d <= 0.0) {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("an HLS segment measures {d} s (segment starts {starts:?})"),
        ));
    }
    let target = durations.iter().fold(0.0f64, |a, &b| a.max(b)).ceil() as u64;
    let text = std::fs::read_to_string(playlist)?;
    let mut next = durations.iter();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with("#EXTINF:") {
            let d = next.next().copied().unwrap_or(0.0);
            out.push_str(&format!("#EXTINF:{d:.6},"));
        } else if line.starts_with("#EXT-X-TARGETDURATION:") {
            out.push_str(&format!("#EXT-X-TARGETDURATION:{target}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    write_atomic(playlist, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_output_keys() {
        let mut req: vpf_core::job::JobRequest = serde_json::from_value(serde_json::json!({
            "jobId": "j", "bucket": "b", "key": "in/a.mp4", "outputBase": "dest/a", "stem": "a",
            "formats": ["mp4"], "segmentSeconds": 10.0
        }))
        .unwrap();
        for f in Format::ALL {
            req.formats = vec![f];
            assert_eq!(
                format!("{}/{}", req.output_base, main_rel(f, &req.stem)),
                req.output_key(f)
            );
        }
    }
}
