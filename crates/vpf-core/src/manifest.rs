//! The records a job keeps: each step's wall time in the job folder, and
//! the manifest after-process writes next to the outputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::media::{MediaInfo, Skipped};
use crate::plan::Cutting;
use crate::setting::SettingRecord;
use crate::steps::{FlowError, JobStatus, OutputObject};

/// Wall time of one step, recorded by the handler in the job folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepTiming {
    pub step: String,
    /// Number of invocations folded into this line (transcode: one per piece).
    pub invocations: u32,
    /// Sum of the invocations' wall times.
    pub seconds: f64,
}

/// The job record after-process writes next to the outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub job_id: String,
    pub status: JobStatus,
    pub source: SourceRef,
    pub probe: Option<MediaInfo>,
    pub outputs: Vec<OutputObject>,
    pub steps: Vec<StepTiming>,
    pub error: Option<FlowError>,
    /// What was done to the picture beyond the encode (deinterlacing...),
    /// from what the probe found ([`VideoInfo::conversions`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversions: Vec<String>,
    /// How split cut the source (absent when split did not finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutting: Option<Cutting>,
    /// Every audio and subtitle track of the source, with the outputs that
    /// carry it or why none does ([`JobPlan::track_outcomes`]); on success.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<crate::tracks::TrackOutcome>,
    /// Every overridable setting of the job: its value and where it came
    /// from (`default`, `s.yaml/env` or `job file <key>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, SettingRecord>,
    /// What the job cost in FC 3.0's billing terms, from each invocation's
    /// recorded seconds and each function's size (absent without
    /// `FUNCTION_SIZES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::cost::JobCost>,
    /// Requested formats the source cannot give (video formats of an
    /// audio-only source), each with why; the job made the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// RFC 3339.
    pub finished_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub size: u64,
}
