//! simple: the one-function system. An OSS upload triggers this function,
//! which transcodes the whole file on its own local disk and writes the
//! outputs and the manifest back to OSS: no workflow, no NAS. For short
//! videos and light jobs (a GIF of the first seconds, a thumbnail, the
//! duration); longer sources belong to the workflow (README, "The simple
//! system: one function, no workflow").
//!
//! It is the workflow's steps run in one process, one piece for the whole
//! file (the source itself, not cut, and not joined): oss-trigger's screening of records and its job request, then
//! split, transcode, merge and after-process, each the same library
//! function the workflow's functions call. So the outputs, their keys, the
//! checks before upload and the manifest are the workflow's; only the job
//! folder lives under the temporary directory instead of NAS, and is
//! removed at the end as after-process removes the NAS folder.

use std::path::PathBuf;
use std::sync::Mutex;

use oss_trigger::{RecordOutcome, Services};
use vpf_core::config;
use vpf_core::event::OssEvent;
use vpf_core::job::{
    AfterProcessInput, AfterProcessOutput, FlowError, JobRequest, MergeInput, MergeOutput,
    SimpleOutput, SkippedRecord,
};
use vpf_core::{Error, Result};
use vpf_oss::ObjectStore;

/// A source longer than this is refused by default: at the 4 vCPUs of
/// s.simple.yaml a 1080p minute takes well under a minute to encode, so
/// five minutes stay far inside the function's 900 s timeout.
pub const DEFAULT_MAX_SOURCE_SECONDS: f64 = 300.0;
/// A source larger than this is refused by default: the source, its piece,
/// the encode and the packaged formats share the function's 10 GB disk.
pub const DEFAULT_MAX_SOURCE_BYTES: u64 = 2 << 30;

/// Settings read once at start-up (README, configuration reference).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Screening and job requests, as oss-trigger makes them; one piece.
    pub jobs: oss_trigger::Settings,
    /// The media steps' settings, their job folders on local disk.
    pub steps: vpf_media::StepSettings,
    /// Manifest and webhook, the job folder on local disk.
    pub after: after_process::Settings,
    pub max_source_seconds: f64,
    pub max_source_bytes: u64,
}

impl Settings {
    pub fn from_env() -> Result<Settings> {
        let work = work_dir();
        let mut jobs = oss_trigger::Settings::from_env_for(String::new())?;
        // One piece, the whole file: piece_seconds raises the piece length
        // until the video fits in max_pieces.
        jobs.max_pieces = 1;
        let mut steps = vpf_media::StepSettings::from_env();
        steps.nas_mount = work.clone();
        let mut after = after_process::Settings::from_env()?;
        after.nas_mount = work;
        let s = Settings {
            jobs,
            steps,
            after,
            max_source_seconds: config::parse_or(
                config::MAX_SOURCE_SECONDS,
                DEFAULT_MAX_SOURCE_SECONDS,
            )?,
            max_source_bytes: config::parse_or(config::MAX_SOURCE_BYTES, DEFAULT_MAX_SOURCE_BYTES)?,
        };
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.max_source_seconds.is_finite() && self.max_source_seconds > 0.0) {
            return Err(Error::invalid(format!(
                "{}={} must be a positive number of seconds",
                config::MAX_SOURCE_SECONDS,
                self.max_source_seconds
            )));
        }
        if self.max_source_bytes == 0 {
            return Err(Error::invalid(format!(
                "{} must be a positive number of bytes",
                config::MAX_SOURCE_BYTES
            )));
        }
        self.jobs.validate()
    }
}

/// Where job folders go: the function's local disk (FC's `/tmp`), or
/// wherever `TMPDIR` points.
pub fn work_dir() -> PathBuf {
    std::env::temp_dir().join("vpf-simple")
}

/// Handle one OSS event: every record screened as oss-trigger screens it,
/// each new video processed whole, one after the other.
pub async fn handle<S: ObjectStore>(
    event: &OssEvent,
    s: &Settings,
    store: &S,
    http: &reqwest::Client,
) -> Result<SimpleOutput> {
    let jobs = Jobs {
        s,
        store,
        http,
        done: Mutex::new(Vec::new()),
    };
    let out = oss_trigger::handle_event(event, &s.jobs, &jobs).await?;
    let skipped = out
        .records
        .into_iter()
        .filter_map(|r| match r {
            RecordOutcome::Skipped { key, reason } => Some(SkippedRecord { key, reason }),
            _ => None,
        })
        .collect();
    let jobs = jobs.done.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(SimpleOutput { jobs, skipped })
}

/// oss-trigger's services with a job run where the workflow would start.
struct Jobs<'a, S> {
    s: &'a Settings,
    store: &'a S,
    http: &'a reqwest::Client,
    done: Mutex<Vec<AfterProcessOutput>>,
}

impl<S: ObjectStore> Services for Jobs<'_, S> {
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<vpf_oss::ObjectMeta>> {
        self.store.head(bucket, key).await
    }

    /// A job file, through the work folder: the store streams whole objects
    /// to files. oss-trigger has checked its size; one that grew since is
    /// refused, not read.
    async fn read(&self, bucket: &str, key: &str, len: u64) -> Result<Vec<u8>> {
        let work = &self.s.steps.nas_mount;
        std::fs::create_dir_all(work)?;
        let path = vpf_core::nas::temp_sibling(&work.join("job-file.json"));
        let read = async {
            let size = self.store.get_to_file(bucket, key, &path).await?;
            if size > len {
                return Err(Error::invalid(format!(
                    "the job file {key} is {size} bytes now, {len} when it was announced"
                )));
            }
            Ok(std::fs::read(&path)?)
        }
        .await;
        let _ = std::fs::remove_file(&path);
        read
    }

    async fn put_json(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<()> {
        self.store
            .put_bytes(bucket, key, body.into(), Some("application/json"))
            .await
            .map(|_| ())
    }

    async fn start(&self, _execution: &str, req: &JobRequest) -> Result<bool> {
        let recorded = run(req, self.s, self.store, self.http).await?;
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(recorded);
        Ok(true)
    }
}

/// Run one job and record it (manifest, webhook, job folder removed), on
/// success and on failure alike. A transient failure (OSS unreachable,
/// ffmpeg killed) is recorded and then returned, so that FC's retry of the
/// asynchronous invocation runs the job again and overwrites the record.
pub async fn run<S: ObjectStore>(
    req: &JobRequest,
    s: &Settings,
    store: &S,
    http: &reqwest::Client,
) -> Result<AfterProcessOutput> {
    let outcome = process(req, s, store).await;
    let (merge, error) = match &outcome {
        Ok(m) => (Some(m.clone()), None),
        Err(e) => {
            tracing::warn!(key = %req.key, error = %e, "job failed");
            (
                None,
                Some(FlowError {
                    error: e.kind.as_str().into(),
                    cause: e.message.clone(),
                }),
            )
        }
    };
    let input = AfterProcessInput {
        request: req.clone(),
        merge,
        error,
    };
    let recorded = after_process::handle(input, &s.after, store, http).await?;
    match outcome {
        Err(e) if e.kind.is_transient() => Err(e),
        _ => Ok(recorded),
    }
}

/// The workflow's steps in order, the pieces' tasks side by side.
async fn process<S: ObjectStore>(req: &JobRequest, s: &Settings, store: &S) -> Result<MergeOutput> {
    if req.size > s.max_source_bytes {
        return Err(Error::invalid(format!(
            "{} is {} bytes; the simple function takes sources up to {} bytes ({}, bounded by its disk): process larger videos with the workflow (s.yaml)",
            req.key,
            req.size,
            s.max_source_bytes,
            config::MAX_SOURCE_BYTES
        )));
    }
    let split = split::handle(req.clone(), &s.steps, store).await?;
    if split.duration_seconds > s.max_source_seconds {
        return Err(Error::invalid(format!(
            "{} lasts {:.1} s; the simple function takes sources up to {} s ({}, bounded by its timeout): process longer videos with the workflow (s.yaml)",
            req.key,
            split.duration_seconds,
            s.max_source_seconds,
            config::MAX_SOURCE_SECONDS
        )));
    }
    let tasks = futures_util::future::try_join_all(
        split
            .tasks
            .into_iter()
            .map(|t| transcode::handle(t, &s.steps)),
    )
    .await?;
    merge::handle(
        MergeInput {
            job_id: split.job_id,
            tasks,
        },
        &s.steps,
        store,
    )
    .await
}
