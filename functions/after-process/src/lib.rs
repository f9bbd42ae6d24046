//! after-process: the last step on both paths. Writes the job manifest next
//! to the outputs, POSTs it to an optional webhook, and removes the job's NAS
//! folder. On the failure path it records status `failed` with the reason and
//! still cleans up, so a bad upload leaves nothing behind.

use std::path::PathBuf;
use std::time::Duration;

use vpf_core::Result;
use vpf_core::config;
use vpf_core::job::{AfterProcessInput, AfterProcessOutput, JobStatus, Manifest, SourceRef};
use vpf_core::nas::JobDir;
use vpf_oss::ObjectStore;

#[derive(Debug, Clone)]
pub struct Settings {
    pub nas_mount: PathBuf,
    pub oss_endpoint: Option<String>,
    pub webhook: Option<Webhook>,
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
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(Webhook::new(url))
            }
            Some(url) => {
                return Err(vpf_core::Error::invalid(format!(
                    "WEBHOOK_URL {url:?} must start with http:// or https://"
                )));
            }
        };
        Ok(Settings {
            nas_mount: config::nas_mount(),
            oss_endpoint: config::var(config::OSS_ENDPOINT),
            webhook,
        })
    }
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
    let r = &input.request;
    vpf_core::nas::validate_job_id(&r.job_id)?;
    let job = JobDir::new(&s.nas_mount, &r.job_id)?;
    // The failure path may carry a request that failed validation (that may be
    // why the job failed): record what we can, under a key that is safe.
    let valid = r.validate();
    let m = manifest(&input, Some(&job));
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
    let webhook_delivered = match &s.webhook {
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
