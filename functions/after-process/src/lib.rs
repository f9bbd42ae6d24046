//! after-process: the last step on both paths. Writes the job manifest next
//! to the outputs, POSTs it to an optional webhook, and removes the job's NAS
//! folder. On the failure path it records status `failed` with the reason and
//! still cleans up, so a bad upload leaves nothing behind.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vpf_core::Result;
use vpf_core::config;
use vpf_core::cost::{CostSettings, Function, Invocation, JobCost};
use vpf_core::job::{
    AfterProcessInput, AfterProcessOutput, JobPlan, JobStatus, Manifest, SourceRef,
};
use vpf_core::nas::JobDir;
use vpf_oss::ObjectStore;

#[derive(Debug, Clone)]
pub struct Settings {
    pub nas_mount: PathBuf,
    pub oss_endpoint: Option<String>,
    pub webhook: Option<Webhook>,
    /// Sizes and price for the manifest's `cost`; `None`: no cost.
    pub cost: Option<CostSettings>,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub timeout: Duration,
    pub attempts: u32,
    /// Wait before the second attempt; doubled each time.
    pub backoff: Duration,
}

impl Webhook {
    pub fn new(url: String) -> Webhook {
        Webhook {
            url,
            timeout: Duration::from_secs(10),
            attempts: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Settings> {
        let webhook = match config::var(config::WEBHOOK_URL) {
            None => None,
            Some(url) => {
                vpf_core::overrides::validate_webhook_url(&url)
                    .map_err(|e| e.context(config::WEBHOOK_URL))?;
                Some(Webhook::new(url))
            }
        };
        Ok(Settings {
            nas_mount: config::nas_mount(),
            oss_endpoint: config::var(config::OSS_ENDPOINT),
            webhook,
            cost: config::cost_settings()?,
        })
    }
}

/// Read the input. On the failure path the request itself may be what
/// failed (an execution started by hand with an unknown format, say), and
/// the failure must still be recorded: the manifest shows only the
/// request's identity (job id, bucket, key, eTag, size, output base, stem),
/// so the processing fields it does not show (formats, piece length, limits,
/// profile) are reset to their defaults and the request is read again. The
/// identity is validated as always before anything is written or removed.
pub fn read_input(v: serde_json::Value) -> Result<AfterProcessInput> {
    let strict = match serde_json::from_value::<AfterProcessInput>(v.clone()) {
        Ok(input) => return Ok(input),
        Err(e) => {
            vpf_core::Error::invalid(format!("the event is not what this function takes: {e}"))
        }
    };
    let failure_path =
        v.get("error").is_some_and(|e| !e.is_null()) && v.get("merge").is_none_or(|m| m.is_null());
    let mut v = v;
    let Some(r) = v.get_mut("request").and_then(|r| r.as_object_mut()) else {
        return Err(strict);
    };
    if !failure_path {
        return Err(strict);
    }
    r.insert("formats".into(), serde_json::json!(["mp4"]));
    r.insert("segmentSeconds".into(), serde_json::json!(30));
    r.remove("maxPieces");
    r.remove("profile");
    serde_json::from_value(v).map_err(|_| strict)
}

/// The manifest for this job, from the input and what the job folder still holds.
pub fn manifest(input: &AfterProcessInput, job: Option<&JobDir>) -> Manifest {
    let plan = job.and_then(|j| j.read_plan().ok());
    let status = match (&input.error, &input.merge) {
        (None, Some(_)) => JobStatus::Succeeded,
        _ => JobStatus::Failed,
    };
    let error = match (&input.error, &input.merge) {
        (Some(e), _) => Some(e.clone()),
        (None, None) => Some(vpf_core::job::FlowError {
            error: "InvalidInput".into(),
            cause: "after-process was called with neither merge output nor error".into(),
        }),
        (None, Some(_)) => None,
    };
    let r = &input.request;
    Manifest {
        job_id: r.job_id.clone(),
        status,
        source: SourceRef {
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            etag: r.etag.clone(),
            size: r.size,
        },
        conversions: plan.as_ref().map(JobPlan::conversions).unwrap_or_default(),
        cutting: plan.as_ref().map(|p| p.cutting),
        settings: Default::default(),
        cost: None,
        tracks: match status {
            JobStatus::Succeeded => plan
                .as_ref()
                .map(|p| p.track_outcomes())
                .unwrap_or_default(),
            JobStatus::Failed => Vec::new(),
        },
        skipped: plan.as_ref().map(JobPlan::skipped).unwrap_or_default(),
        probe: plan.map(|p| p.info),
        outputs: input
            .merge
            .as_ref()
            .map(|m| m.outputs.clone())
            .unwrap_or_default(),
        steps: job.map(|j| j.read_steps()).unwrap_or_default(),
        error,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

/// Handle one call. The request is validated first: a job id that could
/// name another folder is refused before anything is removed.
pub async fn handle<S: ObjectStore>(
    input: AfterProcessInput,
    s: &Settings,
    store: &S,
    http: &reqwest::Client,
) -> Result<AfterProcessOutput> {
    vpf_core::nas::validate_job_id(&input.request.job_id)?;
    let job = JobDir::new(&s.nas_mount, &input.request.job_id)?;
    // An attempt that fails with the folder still there is recorded, so a
    // retry prices it; the attempt that finishes has removed the folder.
    job.metered(
        Function::AfterProcess,
        attempt(&input, s, store, http, &job),
    )
    .await
}

/// The job's cost: every recorded invocation, and this one's time so far
/// (what remains, the upload, webhook and cleanup, is not in it).
pub fn job_cost(job: &JobDir, settings: &CostSettings, started: Instant) -> JobCost {
    let mut invocations = job.read_invocations();
    invocations.push(Invocation {
        function: Function::AfterProcess,
        seconds: started.elapsed().as_secs_f64(),
    });
    JobCost::compute(&invocations, settings)
}

async fn attempt<S: ObjectStore>(
    input: &AfterProcessInput,
    s: &Settings,
    store: &S,
    http: &reqwest::Client,
    job: &JobDir,
) -> Result<AfterProcessOutput> {
    let started = Instant::now();
    let r = &input.request;
    // The failure path may carry a request that failed validation (that may be
    // why the job failed): record what we can, under a key that is safe.
    let valid = r.validate();
    let mut m = manifest(input, Some(job));
    // The one setting this function's own environment gives is the webhook.
    m.settings = vpf_core::overrides::record(r, |var| match (var, &s.webhook) {
        (config::WEBHOOK_URL, Some(w)) => Some(w.url.clone()),
        _ => None,
    });
    m.cost = s.cost.as_ref().map(|c| job_cost(job, c, started));
    let manifest_key = r.manifest_key();
    let body = serde_json::to_vec_pretty(&m)?;
    if valid.is_ok() {
        store
            .put_bytes(
                &r.bucket,
                &manifest_key,
                body.clone().into(),
                Some("application/json"),
            )
            .await
            .map_err(|e| e.context(format!("writing the manifest {manifest_key}")))?;
    } else if let Err(e) = &valid {
        tracing::warn!(error = %e, "request is not valid; manifest not uploaded");
    }
    // The job's own webhook (a job file's) comes before WEBHOOK_URL; one
    // that failed validation is not called.
    let own = match (&r.webhook_url, &valid) {
        (Some(url), Ok(())) => Some(Webhook {
            url: url.clone(),
            ..s.webhook
                .clone()
                .unwrap_or_else(|| Webhook::new(String::new()))
        }),
        _ => None,
    };
    let webhook_delivered = match own.as_ref().or(s.webhook.as_ref()) {
        Some(w) => Some(notify(http, w, &body).await),
        None => None,
    };
    job.remove()?;
    tracing::info!(job = %r.job_id, status = ?m.status, "job recorded and NAS folder removed");
    Ok(AfterProcessOutput {
        job_id: r.job_id.clone(),
        status: m.status,
        manifest_key,
        webhook_delivered,
        nas_cleaned: !job.exists(),
    })
}

/// POST the manifest; `true` once a 2xx answer came back. A webhook that stays
/// down is logged, not fatal: the outputs and the manifest are already in OSS.
pub async fn notify(http: &reqwest::Client, w: &Webhook, body: &[u8]) -> bool {
    let mut wait = w.backoff;
    for attempt in 1..=w.attempts.max(1) {
        let res = http
            .post(&w.url)
            .timeout(w.timeout)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::warn!(attempt, status = %r.status(), "webhook refused the manifest"),
            Err(e) => tracing::warn!(attempt, error = %e, "webhook unreachable"),
        }
        if attempt < w.attempts {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_manifest_says_what_became_of_every_track() {
        let tmp = tempfile::tempdir().unwrap();
        let job = JobDir::new(tmp.path(), "v-a-0123").unwrap();
        job.create().unwrap();
        let request = request(json!(["mp4", "flv"]));
        let plan: vpf_core::job::JobPlan = serde_json::from_value(json!({
            "request": request, "sourceFile": "source.mkv",
            "info": {"formatName": "matroska", "durationSeconds": 4.0, "sizeBytes": 1,
                     "bitRate": null, "video": {"codec": "h264", "width": 2, "height": 2,
                     "frameRateNum": 25, "frameRateDen": 1, "rotation": 0, "frames": 100,
                     "durationSeconds": 4.0, "pixFmt": "yuv420p"},
                     "audio": null,
                     "audioTracks": [
                         {"codec": "ac3", "sampleRate": 48000, "channels": 6, "durationSeconds": 4.0,
                          "streamIndex": 1, "language": "eng", "default": true},
                         {"codec": "aac", "sampleRate": 48000, "channels": 2, "durationSeconds": 4.0,
                          "streamIndex": 2, "language": "fra"}],
                     "subtitleTracks": [
                         {"codec": "subrip", "streamIndex": 3, "language": "eng"},
                         {"codec": "dvd_subtitle", "streamIndex": 4}]},
            "pieceSeconds": 4.0, "pieces": [], "hasAudio": true,
            "audioTracks": [0, 1], "subtitleTracks": [0]
        }))
        .unwrap();
        job.write_plan(&plan).unwrap();
        let ok = read_input(json!({"request": request,
                                   "merge": {"jobId": "v-a-0123", "outputs": []}}))
        .unwrap();
        let m = serde_json::to_value(manifest(&ok, Some(&job))).unwrap();
        let tracks = m["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), 4);
        assert_eq!(tracks[0]["kind"], "audio");
        assert_eq!(tracks[0]["channels"], 6);
        assert_eq!(
            tracks[0]["keptIn"][1],
            json!({"format": "flv", "codec": "aac", "default": true})
        );
        assert_eq!(tracks[1]["leftOut"][0]["format"], "flv");
        assert_eq!(tracks[2]["keptIn"][0]["codec"], "mov_text");
        assert_eq!(tracks[3]["streamIndex"], 4);
        assert!(tracks[3]["dropped"].as_str().unwrap().contains("bitmap"));
        // A failed job lists what was found (probe), not what was done.
        let failed =
            read_input(json!({"request": request, "error": {"Error": "EncodeFailed"}})).unwrap();
        let m = serde_json::to_value(manifest(&failed, Some(&job))).unwrap();
        assert!(m.get("tracks").is_none());
        assert_eq!(m["probe"]["subtitleTracks"][1]["codec"], "dvd_subtitle");
    }

    fn request(formats: serde_json::Value) -> serde_json::Value {
        json!({"jobId": "v-a-0123", "bucket": "media", "key": "source/a.mp4", "etag": "E",
               "size": 1, "outputBase": "dest/a", "stem": "a", "formats": formats,
               "segmentSeconds": 2})
    }

    #[test]
    fn a_request_that_failed_itself_is_still_recorded_on_the_failure_path() {
        let error = json!({"Error": "InvalidInput", "Cause": "unknown variant `webm`"});
        // A valid request is read as it is.
        let ok = read_input(json!({"request": request(json!(["hls"])), "error": error})).unwrap();
        assert_eq!(ok.request.formats, [vpf_core::job::Format::Hls]);
        // An unreadable one on the failure path keeps its identity.
        let bad = read_input(json!({"request": request(json!(["webm"])), "error": error})).unwrap();
        assert_eq!(bad.request.job_id, "v-a-0123");
        assert_eq!(bad.request.manifest_key(), "dest/a/manifest.json");
        assert_eq!(bad.error.unwrap().error, "InvalidInput");
        // On the success path, or without a request, it is refused.
        let merge = json!({"jobId": "v-a-0123", "outputs": []});
        let e =
            read_input(json!({"request": request(json!(["webm"])), "merge": merge})).unwrap_err();
        assert!(e.message.contains("webm"), "{e}");
        assert!(read_input(json!({"error": error})).is_err());
        // The identity is still checked where it is used (handle validates it).
        let mut r = request(json!(["webm"]));
        r["jobId"] = json!("../x");
        let escaped = read_input(json!({"request": r, "error": error})).unwrap();
        assert!(vpf_core::nas::validate_job_id(&escaped.request.job_id).is_err());
    }
}
