//! What the steps hand each other through the workflow state: each
//! function's input and answer. Small by design (CloudFlow limits it):
//! keys, ids and numbers only; the plan and the media stay on NAS.

use serde::{Deserialize, Serialize};

use crate::format::Format;
use crate::request::JobRequest;

/// What oss-trigger (and the simple function's screening) did with one
/// record of an OSS event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum RecordOutcome {
    Started {
        key: String,
        execution: String,
    },
    /// Already started by an earlier delivery of the same event.
    Duplicate {
        key: String,
        execution: String,
    },
    Skipped {
        key: String,
        reason: String,
    },
    /// A job file with a mistake: nothing was started.
    Rejected {
        key: String,
        error: String,
    },
}

/// oss-trigger's answer: one outcome per record, in the event's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerOutput {
    pub records: Vec<RecordOutcome>,
}

/// What a transcode task encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    /// One video piece (`index`).
    #[default]
    Video,
    /// One whole audio track (`index`: ffmpeg's `0:a:n`), encoded once.
    Audio,
    /// Every text subtitle track the job carries, taken from the source at
    /// once (`index` 0).
    Subtitles,
}

/// One Map item: a video piece, or the audio track. The audio is encoded
/// beside the pieces rather than in split, so it costs no step of the
/// job's critical path. Small on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscodeTask {
    pub job_id: String,
    #[serde(default)]
    pub track: Track,
    /// The piece; for the audio, the source track (`0:a:n`); 0 for the subtitles.
    #[serde(default)]
    pub index: u32,
}

/// Split's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitOutput {
    pub job_id: String,
    /// The Map runs over these: the audio tracks and the subtitles first
    /// (when there are any), so they start at once, then the pieces in order.
    pub tasks: Vec<TranscodeTask>,
    pub pieces: u32,
    pub piece_seconds: f64,
    pub duration_seconds: f64,
    pub has_audio: bool,
}

/// Transcode's answer for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscodeOutput {
    pub job_id: String,
    #[serde(default)]
    pub track: Track,
    pub index: u32,
    /// Video frames encoded (0 for the audio).
    pub frames: u64,
    pub bytes: u64,
}

/// Merge's input: the job and the Map's `Items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeInput {
    pub job_id: String,
    pub tasks: Vec<TranscodeOutput>,
}

/// One uploaded output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputObject {
    pub format: Format,
    /// The main object (for HLS, the playlist).
    pub key: String,
    /// Bytes uploaded for this format (for HLS, playlist plus segments).
    pub bytes: u64,
    /// Objects uploaded for this format (HLS: playlist plus segments).
    pub objects: u32,
    pub duration_seconds: Option<f64>,
    pub bitrate_kbps: Option<f64>,
    /// `abr`: each rendition, largest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<crate::ladder::RenditionOutcome>,
    /// Sound-only outputs (m4a, mp3, an audio job's HLS): the integrated
    /// loudness measured on the output (EBU R128, LUFS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loudness_lufs: Option<f64>,
}

/// Merge's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeOutput {
    pub job_id: String,
    pub outputs: Vec<OutputObject>,
}

/// The error a Catch hands on. CloudFlow names the fields `Error` and `Cause`;
/// the aliases accept the spellings of our own handlers too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowError {
    #[serde(alias = "Error", alias = "errorType", alias = "ErrorCode")]
    pub error: String,
    #[serde(
        default,
        alias = "Cause",
        alias = "errorMessage",
        alias = "ErrorMessage"
    )]
    pub cause: String,
}

/// After-process's input: the execution input, plus merge's answer on the
/// success path or the caught error on the failure path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AfterProcessInput {
    pub request: JobRequest,
    #[serde(default)]
    pub merge: Option<MergeOutput>,
    #[serde(default)]
    pub error: Option<FlowError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Succeeded,
    Failed,
}

/// After-process's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AfterProcessOutput {
    pub job_id: String,
    pub status: JobStatus,
    pub manifest_key: String,
    pub webhook_delivered: Option<bool>,
    pub nas_cleaned: bool,
}

/// The simple function's answer to one OSS event: the record of every job
/// it ran (what after-process answers in the workflow) and every record it
/// skipped, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleOutput {
    pub jobs: Vec<AfterProcessOutput>,
    pub skipped: Vec<SkippedRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRecord {
    pub key: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trigger_answer_names_each_outcome_on_the_wire() {
        let out = TriggerOutput {
            records: vec![
                RecordOutcome::Started {
                    key: "source/a.mp4".into(),
                    execution: "a-1".into(),
                },
                RecordOutcome::Skipped {
                    key: "x".into(),
                    reason: "why".into(),
                },
            ],
        };
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"records": [
                {"outcome": "started", "key": "source/a.mp4", "execution": "a-1"},
                {"outcome": "skipped", "key": "x", "reason": "why"},
            ]})
        );
        assert_eq!(serde_json::from_value::<TriggerOutput>(v).unwrap(), out);
    }

    #[test]
    fn flow_error_accepts_cloudflow_and_handler_spellings() {
        let a: FlowError = serde_json::from_str(r#"{"Error":"CorruptMedia","Cause":"x"}"#).unwrap();
        let b: FlowError =
            serde_json::from_str(r#"{"errorType":"CorruptMedia","errorMessage":"x"}"#).unwrap();
        assert_eq!(a, b);
    }
}
