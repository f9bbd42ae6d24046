//! The scale-out table as a model: what the workflow would take in FC for
//! the document's 89 s 4K source at each piece length, from costs measured
//! on this machine. It is a model, not a measurement: a machine with 16 or
//! more cores, where FC's 4-vCPU instances can be pinned side by side,
//! would measure it instead.
//!
//! - A piece's encode on an instance of `vcpus` cores: the measured encode
//!   time per second of video on one and on two cores of this machine, and
//!   the speed-up from one to two taken to hold for every further doubling
//!   (x264's threads scale sub-linearly; one measured step is the only
//!   honest handle on how much).
//! - Pieces run `concurrency` at a time (the flow's Map MaxConcurrency,
//!   `transcodeConcurrency`): waves of pieces, each as slow as one piece.
//! - Split and merge: their measured cost per second of the 4K source on
//!   this machine, scaled to its length (both are I/O and remux bound: they
//!   read and write the whole video once or twice).
//! - Each step: a fixed hop (the workflow's transition and an instance's
//!   answer), measured.

use serde::Serialize;

/// What the model is fed, all measured here.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Costs {
    /// Seconds of encode per second of 4K video on one core.
    pub encode_1core: f64,
    /// The same on two cores.
    pub encode_2core: f64,
    /// Split (download, probe, cut) per second of 4K source.
    pub split_per_second: f64,
    /// Merge (join, checks, packaging, upload) per second of 4K video.
    pub merge_per_second: f64,
    /// Per step: hop between steps and per-invocation overhead, seconds.
    pub hop: f64,
}

/// FC's side of the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fc {
    /// vCPUs of a transcode instance (s.yaml).
    pub vcpus: f64,
    /// Pieces encoded at once (the Map's MaxConcurrency).
    pub concurrency: u32,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub piece_seconds: f64,
    pub pieces: u32,
    pub waves: u32,
    pub split: f64,
    pub transcode: f64,
    pub merge: f64,
    pub total: f64,
}

impl Costs {
    /// Encode seconds per video second on `vcpus` cores: the two measured
    /// points, then the one-to-two speed-up for every further doubling.
    pub fn encode_on(&self, vcpus: f64) -> f64 {
        let speedup = (self.encode_1core / self.encode_2core).max(1.0);
        let doublings = (vcpus.max(1.0) / 2.0).log2();
        self.encode_2core / speedup.powf(doublings)
    }
}

/// The workflow's wall time for `video_seconds` of 4K cut into pieces of
/// `piece_seconds` (the last one shorter).
pub fn predict(c: &Costs, fc: &Fc, video_seconds: f64, piece_seconds: f64) -> Row {
    let pieces = (video_seconds / piece_seconds).ceil().max(1.0) as u32;
    let waves = pieces.div_ceil(fc.concurrency.max(1));
    let per_piece = piece_seconds.min(video_seconds) * c.encode_on(fc.vcpus) + c.hop;
    let split = video_seconds * c.split_per_second + c.hop;
    let transcode = waves as f64 * per_piece;
    let merge = video_seconds * c.merge_per_second + c.hop;
    Row {
        piece_seconds,
        pieces,
        waves,
        split,
        transcode,
        merge,
        total: split + transcode + merge + c.hop,
    }
}

/// The document's source and piece lengths, with its measured figures:
/// the managed service took 188 s; its FC workflow these, per piece length.
pub const DOCUMENT_SECONDS: f64 = 89.0;
pub const DOCUMENT_MANAGED: f64 = 188.0;
pub const DOCUMENT_ROWS: [(f64, f64); 5] = [
    (45.0, 160.0),
    (25.0, 100.0),
    (15.0, 70.0),
    (10.0, 45.0),
    (5.0, 35.0),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn costs() -> Costs {
        Costs {
            encode_1core: 8.0,
            encode_2core: 4.4,
            split_per_second: 0.02,
            merge_per_second: 0.05,
            hop: 0.1,
        }
    }

    #[test]
    fn encode_time_scales_by_the_measured_step() {
        let c = costs();
        assert!((c.encode_on(2.0) - 4.4).abs() < 1e-9);
        assert!((c.encode_on(1.0) - 8.0).abs() < 1e-9);
        // 2 -> 4 cores: the same 1.818x again.
        assert!((c.encode_on(4.0) - 4.4 / (8.0 / 4.4)).abs() < 1e-9);
        // No speed-up measured: none extrapolated.
        let flat = Costs {
            encode_2core: 9.0,
            ..costs()
        };
        assert!((flat.encode_on(4.0) - 9.0).abs() < 1e-9);
    }

    #[test]
    fn pieces_beyond_the_concurrency_wait_a_wave() {
        let fc = Fc {
            vcpus: 4.0,
            concurrency: 10,
        };
        let r = predict(&costs(), &fc, 89.0, 10.0);
        assert_eq!((r.pieces, r.waves), (9, 1));
        let r5 = predict(&costs(), &fc, 89.0, 5.0);
        assert_eq!((r5.pieces, r5.waves), (18, 2));
        let r45 = predict(&costs(), &fc, 89.0, 45.0);
        assert!(r45.total > r.total, "longer pieces, longer critical path");
        let expected =
            89.0 * 0.02 + 0.1 + (10.0 * costs().encode_on(4.0) + 0.1) + 89.0 * 0.05 + 0.1 + 0.1;
        assert!((r.total - expected).abs() < 1e-9);
    }
}
