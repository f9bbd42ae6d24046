//! flow/video-process-flow.yaml runs end to end on canned handler answers of
//! the real payload types (vpf_core::job), on the success and failure paths.

mod flow_support;

use std::path::Path;
use std::time::Duration;

use flow_support::Script;
use local_runner::deploy_file::{DeployFile, Settings};
use local_runner::flow::{Engine, EngineOptions, Flow, Status, TaskError, Vars};
use serde_json::{Value, json};
use vpf_core::job::*;

/// The flow as s.yaml deploys it (the file is a template s.yaml renders).
fn flow() -> Flow {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../s.yaml");
    let config = [("AccountID".to_string(), "1234567890".to_string())].into();
    let s = DeployFile::load(&path, &Settings::from_env(config)).unwrap();
    let flows = s.flows().unwrap();
    let doc = flows[0].1.flow_document(&s.dir).unwrap();
    Flow::from_document(&doc, &Vars::new()).unwrap()
}

fn request() -> JobRequest {
    JobRequest {
        job_id: "clip-0123456789abcdef0123".into(),
        bucket: "media".into(),
        key: "source/clip.mp4".into(),
        etag: "E1".into(),
        size: 1000,
        output_base: "dest/clip".into(),
        stem: "clip".into(),
        formats: vec![Format::Mp4, Format::Hls],
        segment_seconds: 10.0,
        max_pieces: 100,
        profile: Profile::default(),
        webhook_url: None,
        sources: Default::default(),
    }
}

const PIECES: u32 = 7;

/// Handlers that check their input's type and answer with theirs.
fn handlers() -> Script {
    Script::new()
        .always("vpf-split", |v| {
            let r: JobRequest = serde_json::from_value(v.clone()).map_err(bad)?;
            let task = |track, index| TranscodeTask {
                job_id: r.job_id.clone(),
                track,
                index,
            };
            let out = SplitOutput {
                job_id: r.job_id.clone(),
                tasks: std::iter::once(task(Track::Audio, 0))
                    .chain((0..PIECES).map(|i| task(Track::Video, i)))
                    .collect(),
                pieces: PIECES,
                piece_seconds: 10.0,
                duration_seconds: 65.0,
                has_audio: true,
            };
            Ok(serde_json::to_value(out).unwrap())
        })
        .always("vpf-transcode", |v| {
            let t: TranscodeTask = serde_json::from_value(v.clone()).map_err(bad)?;
            let video = t.track == Track::Video;
            Ok(serde_json::to_value(TranscodeOutput {
                job_id: t.job_id,
                track: t.track,
                index: t.index,
                frames: if video { 300 + t.index as u64 } else { 0 },
                bytes: 1000,
            })
            .unwrap())
        })
        // Pieces finish out of order.
        .delay("vpf-transcode", |v| {
            Duration::from_millis(2 * (10 - v["index"].as_u64().unwrap_or(0)))
        })
        .always("vpf-merge", |v| {
            let m: MergeInput = serde_json::from_value(v.clone()).map_err(bad)?;
            let r = request();
            Ok(serde_json::to_value(MergeOutput {
                job_id: m.job_id,
                outputs: r
                    .formats
                    .iter()
                    .map(|f| OutputObject {
                        format: *f,
                        key: r.output_key(*f),
                        bytes: 10,
                        objects: 1,
                        duration_seconds: Some(65.0),
                        bitrate_kbps: None,
                        renditions: vec![],
                        loudness_lufs: None,
                    })
                    .collect(),
            })
            .unwrap())
        })
        .always("vpf-after-process", |v| {
            let a: AfterProcessInput = serde_json::from_value(v.clone()).map_err(bad)?;
            Ok(serde_json::to_value(AfterProcessOutput {
                job_id: a.request.job_id.clone(),
                status: if a.error.is_some() {
                    JobStatus::Failed
                } else {
                    JobStatus::Succeeded
                },
                manifest_key: a.request.manifest_key(),
                webhook_delivered: None,
                nas_cleaned: true,
            })
            .unwrap())
        })
}

fn bad(e: serde_json::Error) -> TaskError {
    TaskError::new("InvalidInput", e.to_string())
}

fn opts() -> EngineOptions {
    EngineOptions {
        time_scale: 0.0,
        ..EngineOptions::default()
    }
}

#[tokio::test]
async fn success_path_reaches_after_process_with_the_merge_result() {
    let engine = Engine::new(flow(), handlers(), opts());
    let input = serde_json::to_value(request()).unwrap();
    let rec = engine
        .run("clip-0123456789abcdef0123", input.clone())
        .await
        .unwrap();
    assert_eq!(
        rec.status,
        Status::Succeeded,
        "{}",
        engine.history_json(&rec.name).unwrap()
    );
    assert_eq!(
        rec.output,
        Some(
            json!({"jobId": "clip-0123456789abcdef0123", "status": "succeeded", "manifestKey": "dest/clip/manifest.json"})
        )
    );
    let inv = engine.invoker();
    assert_eq!(
        inv.calls_to("vpf-split"),
        vec![input.clone()],
        "split gets the execution input"
    );
    assert_eq!(inv.calls_to("vpf-transcode").len(), PIECES as usize + 1);

    let merge: MergeInput = serde_json::from_value(inv.calls_to("vpf-merge")[0].clone()).unwrap();
    let order: Vec<(Track, u32)> = merge.tasks.iter().map(|t| (t.track, t.index)).collect();
    let want: Vec<(Track, u32)> = std::iter::once((Track::Audio, 0))
        .chain((0..PIECES).map(|i| (Track::Video, i)))
        .collect();
    assert_eq!(
        order, want,
        "Items in task order, the track carried through"
    );
    assert_eq!(merge.tasks[4].frames, 303);

    let after = inv.calls_to("vpf-after-process");
    assert_eq!(after.len(), 1);
    let a: AfterProcessInput = serde_json::from_value(after[0].clone()).unwrap();
    assert_eq!(a.request, request());
    assert_eq!(a.merge.unwrap().outputs.len(), 2);
    assert!(a.error.is_none());
    // Every payload stays small.
    for (_, v) in inv.calls.lock().unwrap().iter() {
        assert!(v.to_string().len() < 4096, "payload too big: {v}");
    }
}

#[tokio::test]
async fn failure_path_records_the_error_then_fails() {
    let script = handlers().then(
        "vpf-split",
        Err(TaskError::new("CorruptMedia", "moov atom not found")),
    );
    let engine = Engine::new(flow(), script, opts());
    let rec = engine
        .run("bad-upload", serde_json::to_value(request()).unwrap())
        .await
        .unwrap();
    assert_eq!(rec.status, Status::Failed);
    assert_eq!(rec.error.as_ref().unwrap().error, "JobFailed");
    let inv = engine.invoker();
    assert_eq!(
        inv.calls_to("vpf-split").len(),
        1,
        "CorruptMedia is not retried"
    );
    assert!(inv.calls_to("vpf-transcode").is_empty() && inv.calls_to("vpf-merge").is_empty());
    let after = inv.calls_to("vpf-after-process");
    assert_eq!(after.len(), 1);
    let a: AfterProcessInput = serde_json::from_value(after[0].clone()).unwrap();
    assert_eq!(a.request, request());
    assert!(a.merge.is_none());
    assert_eq!(
        a.error,
        Some(FlowError {
            error: "CorruptMedia".into(),
            cause: "moov atom not found".into()
        })
    );
}

#[tokio::test]
async fn a_piece_failing_for_good_takes_the_failure_path_after_retries() {
    let script = handlers().always("vpf-transcode", |v| {
        if v["index"] == 5 {
            Err(TaskError::new("EncodeFailed", "ffmpeg killed"))
        } else {
            Ok(json!({"jobId": v["jobId"].clone(), "track": v["track"].clone(), "index": v["index"].clone(), "frames": 1, "bytes": 1}))
        }
    });
    let engine = Engine::new(flow(), script, opts());
    let rec = engine
        .run("piece-fails", serde_json::to_value(request()).unwrap())
        .await
        .unwrap();
    assert_eq!(rec.status, Status::Failed);
    let inv = engine.invoker();
    let fifth = inv
        .calls_to("vpf-transcode")
        .into_iter()
        .filter(|v| v["index"] == 5)
        .count();
    assert_eq!(fifth, 4, "EncodeFailed is transient: 1 try + MaxAttempts 3");
    let delays: Vec<f64> = rec
        .events
        .iter()
        .filter(|e| e.kind == "RetryScheduled")
        .map(|e| e.delay_seconds.unwrap())
        .collect();
    assert_eq!(delays, vec![5.0, 10.0, 20.0]);
    assert!(inv.calls_to("vpf-merge").is_empty());
    let a: AfterProcessInput =
        serde_json::from_value(inv.calls_to("vpf-after-process")[0].clone()).unwrap();
    assert_eq!(a.error.unwrap().error, "EncodeFailed");
    let _: Value = serde_json::from_str(&engine.history_json("piece-fails").unwrap()).unwrap();
}
