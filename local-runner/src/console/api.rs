//! The console's JSON: typed views over the workflow engine's executions,
//! the FC emulator's invocation records and a job's manifest, built here so
//! that the page only draws them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vpf_core::job::{Format, JobRequest, Manifest, TranscodeTask};

use crate::fc::InvocationRecord;
use crate::flow::{Event, ExecutionRecord, Status, TaskError};

/// What the page needs to know about the system (`GET /api/system`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemView {
    pub bucket: String,
    pub trigger_prefix: String,
    pub output_prefix: String,
    pub input_extensions: Vec<String>,
    /// The largest upload a form allows.
    pub max_upload_bytes: u64,
    pub flow_name: Option<String>,
    /// Why the players cannot be served (player/node_modules missing), if so.
    pub players_unavailable: Option<String>,
}

/// The source object an execution processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

/// What the job cost, in the manifest's terms (its total line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostView {
    pub amount: f64,
    pub currency: String,
    pub cu: f64,
    pub invocations: u32,
}

/// One line of the executions list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummary {
    pub name: String,
    pub status: Status,
    /// `None` when the input is not a job request (a hand-started execution).
    pub source: Option<SourceView>,
    pub started_time: String,
    pub stopped_time: Option<String>,
    /// Start to stop, or to now while it runs.
    pub duration_seconds: f64,
    /// From the manifest, once after-process wrote it.
    pub cost: Option<CostView>,
    pub error: Option<TaskError>,
}

/// How a step's attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepStatus {
    Running,
    Succeeded,
    Failed,
}

/// One attempt of one Task state: a bar of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// The state's path, as the history names it: `TranscodeAll[3].Transcode`.
    pub state: String,
    /// The state's own name: `Transcode`.
    pub name: String,
    /// What a transcode task encodes: `piece 2`, `audio 0`, `subtitles`.
    pub item: Option<String>,
    pub function: String,
    pub attempt: u32,
    pub status: StepStatus,
    /// Seconds from the execution's start to the call.
    pub start_seconds: f64,
    /// How long the call took (to now while it runs).
    pub seconds: f64,
    /// The FC instance that ran it and the call's request id (its log).
    pub instance_id: Option<String>,
    pub request_id: Option<String>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// The outputs the page shows, as URLs the console serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaLinks {
    pub mp4: Option<String>,
    pub hls: Option<String>,
    pub dash: Option<String>,
    pub gif: Option<String>,
    pub jpg: Option<String>,
    /// The sprite's WebVTT (seek previews).
    pub thumbs: Option<String>,
    pub manifest: Option<String>,
    /// Every output object: format and URL.
    pub all: Vec<OutputLink>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputLink {
    pub format: Format,
    pub key: String,
    pub url: String,
    pub bytes: u64,
}

/// One execution: its line, its timeline and what it made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDetail {
    pub summary: ExecutionSummary,
    pub steps: Vec<Step>,
    /// How many transcode pieces split planned (from its answer).
    pub pieces: Option<u32>,
    pub media: MediaLinks,
    pub manifest: Option<Manifest>,
}

/// A function's log lines for one call (`GET /api/logs/<request id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogView {
    pub request_id: String,
    pub function: String,
    pub lines: Vec<String>,
    /// More lines matched than are shown.
    pub truncated: bool,
}

/// At most this many log lines per call.
pub const MAX_LOG_LINES: usize = 500;

fn seconds_between(a: &str, b: &str) -> Option<f64> {
    let a = chrono::DateTime::parse_from_rfc3339(a).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(b).ok()?;
    Some((b - a).num_milliseconds() as f64 / 1000.0)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The execution's job request, when its input is one.
pub fn job_request(rec: &ExecutionRecord) -> Option<JobRequest> {
    serde_json::from_value(rec.input.clone()).ok()
}

pub fn summary(rec: &ExecutionRecord, manifest: Option<&Manifest>) -> ExecutionSummary {
    let end = rec.stopped_time.clone().unwrap_or_else(now);
    ExecutionSummary {
        name: rec.name.clone(),
        status: rec.status,
        source: job_request(rec).map(|r| SourceView {
            bucket: r.bucket,
            key: r.key,
            size: r.size,
        }),
        started_time: rec.started_time.clone(),
        stopped_time: rec.stopped_time.clone(),
        duration_seconds: seconds_between(&rec.started_time, &end)
            .unwrap_or(0.0)
            .max(0.0),
        cost: manifest.and_then(|m| m.cost.as_ref()).map(|c| CostView {
            amount: c.total.amount,
            currency: c.currency.clone(),
            cu: c.total.cu,
            invocations: c.total.invocations,
        }),
        error: rec.error.clone(),
    }
}

/// What a transcode task encodes, from the Task's input.
fn item(input: Option<&Value>) -> Option<String> {
    let task: TranscodeTask = serde_json::from_value(input?.clone()).ok()?;
    Some(match task.track {
        vpf_core::job::Track::Video => format!("piece {}", task.index),
        vpf_core::job::Track::Audio => format!("audio {}", task.index),
        vpf_core::job::Track::Subtitles => "subtitles".to_string(),
    })
}

/// Every Task attempt of the history, in the order they were called, with
/// the FC invocation that served it (joined by execution, state and attempt).
pub fn steps(rec: &ExecutionRecord, calls: &[InvocationRecord]) -> Vec<Step> {
    let now = now();
    let mut out: Vec<Step> = Vec::new();
    let ends = |e: &Event| e.kind == "TaskSucceeded" || e.kind == "TaskFailed";
    for (i, ev) in rec.events.iter().enumerate() {
        if ev.kind != "TaskScheduled" {
            continue;
        }
        let attempt = ev.attempt.unwrap_or(1);
        let end = rec.events[i + 1..]
            .iter()
            .find(|e| ends(e) && e.state == ev.state && e.attempt.unwrap_or(1) == attempt);
        let call = calls.iter().rev().find(|c| {
            c.site.as_ref().is_some_and(|s| {
                s.execution == rec.name && s.state == ev.state && s.attempt == attempt
            })
        });
        let status = match end.map(|e| e.kind.as_str()) {
            Some("TaskSucceeded") => StepStatus::Succeeded,
            Some(_) => StepStatus::Failed,
            // An execution that ended without this call's answer (a Map
            // whose other item failed) stopped waiting for it.
            None if rec.status != Status::Running => StepStatus::Failed,
            None => StepStatus::Running,
        };
        let stop = end.map(|e| e.time.as_str()).unwrap_or(&now);
        let name = ev.state.rsplit('.').next().unwrap_or(&ev.state).to_string();
        out.push(Step {
            state: ev.state.clone(),
            name,
            // Only a Map's iterations are tasks; the other states' inputs
            // would read as one too (its fields have defaults).
            item: item(ev.input.as_ref()).filter(|_| ev.state.contains('[')),
            function: ev.function.clone().unwrap_or_default(),
            attempt,
            status,
            start_seconds: seconds_between(&rec.started_time, &ev.time)
                .unwrap_or(0.0)
                .max(0.0),
            seconds: call
                .and_then(|c| c.seconds)
                .or_else(|| seconds_between(&ev.time, stop))
                .unwrap_or(0.0)
                .max(0.0),
            instance_id: call.and_then(|c| c.instance_id.clone()),
            request_id: call.map(|c| c.request_id.clone()),
            input: ev.input.clone(),
            output: end.and_then(|e| e.output.clone()),
            error: end.and_then(|e| e.error.clone()),
            cause: end.and_then(|e| e.cause.clone()),
        });
    }
    out
}

/// How many pieces split planned, from its answer.
pub fn pieces(steps: &[Step]) -> Option<u32> {
    #[derive(Deserialize)]
    struct Planned {
        pieces: u32,
    }
    steps
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded)
        .filter_map(|s| s.output.clone())
        .find_map(|o| serde_json::from_value::<Planned>(o).ok())
        .map(|p| p.pieces)
}

/// What stays as it is in a URL path segment (RFC 3986's unreserved).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The URL the console serves an object of the bucket at.
pub fn file_url(key: &str) -> String {
    let path: String = key
        .split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/");
    format!("/files/{path}")
}

/// The players' and viewers' URLs for a job's outputs.
pub fn media(manifest_key: Option<&str>, manifest: Option<&Manifest>) -> MediaLinks {
    let mut links = MediaLinks {
        manifest: manifest_key.map(file_url),
        ..MediaLinks::default()
    };
    let Some(m) = manifest else {
        return links;
    };
    for o in &m.outputs {
        let url = file_url(&o.key);
        match o.format {
            Format::Mp4 => links.mp4 = Some(url.clone()),
            Format::Gif => links.gif = Some(url.clone()),
            Format::Jpg => links.jpg = Some(url.clone()),
            Format::Sprite => links.thumbs = Some(url.clone()),
            Format::Abr => {
                links.hls = Some(url.clone());
                // The DASH manifest sits beside the master playlist.
                let dir = o.key.rsplit_once('/').map_or("", |(d, _)| d);
                links.dash = Some(file_url(&format!("{dir}/{}", vpf_media::abr::MPD)));
            }
            _ => {}
        }
        links.all.push(OutputLink {
            format: o.format,
            key: o.key.clone(),
            url,
            bytes: o.bytes,
        });
    }
    links
}

/// The lines of a function's log that belong to one call: the runtime frames
/// each call with `FC Invoke Start/End RequestId: <id>` and tags its own
/// lines with the request id, so other instances' interleaved lines drop out.
pub fn log_lines(log: &str, request_id: &str) -> (Vec<String>, bool) {
    let mut lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains(request_id))
        .map(str::to_string)
        .collect();
    let truncated = lines.len() > MAX_LOG_LINES;
    lines.truncate(MAX_LOG_LINES);
    (lines, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::CallSite;
    use serde_json::json;

    fn ev(id: u64, kind: &str, state: &str, time: &str, attempt: Option<u32>) -> Event {
        Event {
            id,
            kind: kind.into(),
            state: state.into(),
            time: time.into(),
            attempt,
            function: attempt.map(|_| "vpf-transcode".into()),
            input: None,
            output: None,
            error: None,
            cause: None,
            delay_seconds: None,
            next: None,
        }
    }

    fn record(events: Vec<Event>, status: Status) -> ExecutionRecord {
        ExecutionRecord {
            name: "v-1".into(),
            flow_name: "f".into(),
            status,
            input: json!({"jobId": "v-1", "bucket": "b", "key": "source/a.mp4", "size": 10,
                "outputBase": "dest/a.mp4", "stem": "a", "formats": ["mp4"], "segmentSeconds": 4.0}),
            output: None,
            error: None,
            started_time: "2026-12-06T10:00:00.000Z".into(),
            stopped_time: Some("2026-12-06T10:00:09.500Z".into()),
            events,
        }
    }

    #[test]
    fn steps_pair_attempts_with_their_answers_and_instances() {
        let mut piece = ev(
            2,
            "TaskScheduled",
            "TranscodeAll[1].Transcode",
            "2026-12-06T10:00:01.000Z",
            Some(1),
        );
        piece.input = Some(json!({"jobId": "v-1", "track": "video", "index": 1}));
        let mut failed = ev(
            3,
            "TaskFailed",
            "TranscodeAll[1].Transcode",
            "2026-12-06T10:00:02.000Z",
            Some(1),
        );
        failed.error = Some("EncodeFailed".into());
        failed.cause = Some("x264 died".into());
        let mut retry = piece.clone();
        retry.id = 4;
        retry.time = "2026-12-06T10:00:07.000Z".into();
        retry.attempt = Some(2);
        let mut ok = ev(
            5,
            "TaskSucceeded",
            "TranscodeAll[1].Transcode",
            "2026-12-06T10:00:09.000Z",
            Some(2),
        );
        ok.output = Some(json!({"frames": 96}));
        let mut audio = ev(
            6,
            "TaskScheduled",
            "TranscodeAll[0].Transcode",
            "2026-12-06T10:00:01.500Z",
            Some(1),
        );
        audio.input = Some(json!({"jobId": "v-1", "track": "audio", "index": 0}));
        let mut split = ev(
            7,
            "TaskScheduled",
            "Split",
            "2026-12-06T10:00:00.100Z",
            Some(1),
        );
        split.input = Some(json!({"jobId": "v-1", "bucket": "b", "key": "source/a.mp4"}));
        let rec = record(
            vec![
                ev(1, "ExecutionStarted", "", "2026-12-06T10:00:00.000Z", None),
                piece,
                failed,
                retry,
                ok,
                audio,
                split,
            ],
            Status::Failed,
        );
        let calls = vec![InvocationRecord {
            request_id: "r-2".into(),
            function: "vpf-transcode".into(),
            instance_id: Some("vpf-transcode-3".into()),
            site: Some(CallSite {
                execution: "v-1".into(),
                state: "TranscodeAll[1].Transcode".into(),
                attempt: 2,
            }),
            started_time: "2026-12-06T10:00:07.010Z".into(),
            seconds: Some(1.9),
            error: None,
        }];
        let s = steps(&rec, &calls);
        assert_eq!(s.len(), 4);
        assert_eq!(
            (s[3].name.as_str(), s[3].item.as_deref()),
            ("Split", None),
            "not a Map's task"
        );
        assert_eq!(
            (s[0].item.as_deref(), s[0].status, s[0].attempt),
            (Some("piece 1"), StepStatus::Failed, 1)
        );
        assert_eq!(
            (s[0].error.as_deref(), s[0].cause.as_deref()),
            (Some("EncodeFailed"), Some("x264 died"))
        );
        assert_eq!((s[0].start_seconds, s[0].seconds), (1.0, 1.0));
        assert_eq!(
            s[0].instance_id, None,
            "the first attempt's call is not recorded"
        );
        assert_eq!(
            (
                s[1].status,
                s[1].instance_id.as_deref(),
                s[1].request_id.as_deref()
            ),
            (StepStatus::Succeeded, Some("vpf-transcode-3"), Some("r-2"))
        );
        assert_eq!(s[1].seconds, 1.9, "the call's own duration");
        assert_eq!(s[1].output, Some(json!({"frames": 96})));
        assert_eq!(s[1].name, "Transcode");
        // The execution ended without the audio's answer.
        assert_eq!(
            (s[2].item.as_deref(), s[2].status),
            (Some("audio 0"), StepStatus::Failed)
        );
        let sum = summary(&rec, None);
        assert_eq!(sum.duration_seconds, 9.5);
        assert_eq!(sum.source.map(|s| s.key), Some("source/a.mp4".to_string()));
        assert_eq!(sum.cost, None);
    }

    #[test]
    fn media_links_point_at_the_console_and_dash_sits_beside_hls() {
        let m: Manifest = serde_json::from_value(json!({
            "jobId": "v-1", "status": "succeeded",
            "source": {"bucket": "b", "key": "source/my clip.mp4", "etag": "E", "size": 1},
            "probe": null, "steps": [], "error": null, "finishedAt": "2026-12-06T10:00:09Z",
            "outputs": [
                {"format": "mp4", "key": "dest/my clip.mp4/my clip.mp4", "bytes": 5, "objects": 1, "durationSeconds": 7.0, "bitrateKbps": null},
                {"format": "abr", "key": "dest/my clip.mp4/abr/master.m3u8", "bytes": 5, "objects": 9, "durationSeconds": 7.0, "bitrateKbps": null},
                {"format": "sprite", "key": "dest/my clip.mp4/sprite/thumbnails.vtt", "bytes": 5, "objects": 2, "durationSeconds": null, "bitrateKbps": null}
            ]
        }))
        .unwrap();
        let l = media(Some("dest/my clip.mp4/manifest.json"), Some(&m));
        assert_eq!(
            l.mp4.as_deref(),
            Some("/files/dest/my%20clip.mp4/my%20clip.mp4")
        );
        assert_eq!(
            l.hls.as_deref(),
            Some("/files/dest/my%20clip.mp4/abr/master.m3u8")
        );
        assert_eq!(
            l.dash.as_deref(),
            Some("/files/dest/my%20clip.mp4/abr/manifest.mpd")
        );
        assert_eq!(
            l.thumbs.as_deref(),
            Some("/files/dest/my%20clip.mp4/sprite/thumbnails.vtt")
        );
        assert_eq!(
            l.manifest.as_deref(),
            Some("/files/dest/my%20clip.mp4/manifest.json")
        );
        assert_eq!((l.gif, l.all.len()), (None, 3));
    }

    #[test]
    fn a_calls_log_lines_are_those_that_name_it() {
        let log = "FC Invoke Start RequestId: r-1\n\
                   FC Invoke Start RequestId: r-2\n\
                   INFO invoke{request_id=r-1 function=vpf-split}: succeeded\n\
                   FC Invoke End RequestId: r-2\n\
                   FC Invoke End RequestId: r-1\n";
        let (lines, truncated) = log_lines(log, "r-1");
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.contains("r-1")) && !truncated);
        let many = "x r-9\n".repeat(MAX_LOG_LINES + 1);
        assert_eq!(
            log_lines(&many, "r-9"),
            (vec!["x r-9".to_string(); MAX_LOG_LINES], true)
        );
    }
}
