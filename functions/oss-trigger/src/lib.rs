//! oss-trigger: takes the OSS event (every record), skips what is not ours
//! with a logged reason, and starts one workflow execution per new object.
//!
//! The execution name is the job id, derived from bucket, key and eTag
//! ([`vpf_core::keys::job_id`]): a re-delivered event maps to the same
//! execution, which the workflow service refuses as existing; we count that
//! as success, so the event is processed exactly once.
//!
//! A `.json` object under the trigger prefix is a job file
//! ([`vpf_core::overrides`]): it names a video already in the bucket and the
//! settings of a job for it. Its execution name hashes the video and the job
//! file's key and eTag, so the same file uploaded again starts nothing and
//! a changed one starts a new job; its answer is a receipt under the output
//! prefix, and a file with a mistake starts nothing.

use std::collections::BTreeMap;

use vpf_core::config;
use vpf_core::event::{OssEvent, OssRecord};
use vpf_core::job::{Format, JobRequest, Profile};
use vpf_core::keys;
use vpf_core::overrides::{self, JobFile, Receipt, ReceiptOutcome, SettingSource};
pub use vpf_core::steps::{RecordOutcome, TriggerOutput};
use vpf_core::{Error, ErrorKind, Result};
pub use vpf_oss::ObjectMeta;

/// Settings read once at start-up (README, configuration reference).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub flow_name: String,
    /// `None`: the region's public CloudFlow endpoint.
    pub flow_endpoint: Option<String>,
    /// `None`: the region's internal OSS endpoint.
    pub oss_endpoint: Option<String>,
    /// The trigger's filter, checked again here: FC delivers what the
    /// trigger matches, but a replayed or hand-made event may not match.
    pub input_prefix: String,
    /// Extensions (lower case, no dot) of uploads that start a job, compared
    /// ignoring case. The trigger's own filter has one suffix only, so
    /// s.yaml leaves it empty and the choice is made here (README, "Which
    /// uploads start a job").
    pub input_extensions: Vec<String>,
    /// Where outputs go; never processed as input (loop guard).
    pub output_prefix: String,
    pub segment_seconds: f64,
    pub max_pieces: u32,
    pub formats: Vec<Format>,
    pub profile: Profile,
    /// The settings above that an environment variable set (the rest are
    /// defaults), recorded in every request for the manifest.
    pub sources: BTreeMap<String, SettingSource>,
}

impl Settings {
    pub fn from_env() -> Result<Settings> {
        let flow_name = config::var(config::FLOW_NAME)
            .ok_or_else(|| Error::invalid("FLOW_NAME is not set: name the workflow to start"))?;
        Settings::from_env_for(flow_name)
    }

    /// Everything but the flow's name from the environment: the simple
    /// function screens records and makes jobs as this one does, and starts
    /// no flow (its `flow_name` is empty).
    pub fn from_env_for(flow_name: String) -> Result<Settings> {
        let s = Settings {
            flow_name,
            flow_endpoint: config::var(config::FLOW_ENDPOINT),
            oss_endpoint: config::var(config::OSS_ENDPOINT),
            input_prefix: config::var(config::INPUT_PREFIX).unwrap_or_default(),
            input_extensions: config::input_extensions()?,
            output_prefix: config::var(config::OUTPUT_PREFIX)
                .unwrap_or_else(|| config::DEFAULT_OUTPUT_PREFIX.into()),
            segment_seconds: config::parse_or(config::SEGMENT_SECONDS, 30.0)?,
            max_pieces: config::parse_or(config::MAX_PIECES, vpf_core::job::DEFAULT_MAX_PIECES)?,
            formats: config::formats()?,
            profile: config::profile()?,
            sources: overrides::env_sources(),
        };
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<()> {
        let out = self.output_prefix.trim_matches('/');
        if out.is_empty() {
            return Err(Error::invalid(
                "OUTPUT_PREFIX is empty: outputs would land where uploads trigger the flow",
            ));
        }
        // The loop guard: an output key starts with `<out>/` and may end in
        // any allowed extension (an mp4 output does); if the input prefix
        // could match it, every output would start a new job.
        let sample_output = format!("{out}/x");
        if sample_output.starts_with(&self.input_prefix) {
            return Err(Error::invalid(format!(
                "OUTPUT_PREFIX {out:?} lies under INPUT_PREFIX {:?}: outputs would trigger new jobs forever; set INPUT_PREFIX (e.g. source/) or move OUTPUT_PREFIX",
                self.input_prefix
            )));
        }
        Ok(())
    }

    /// The execution input for one object.
    pub fn request(&self, bucket: &str, key: &str, etag: &str, size: u64) -> Result<JobRequest> {
        let (output_base, stem) = keys::output_base(key, &self.input_prefix, &self.output_prefix)?;
        let req = JobRequest {
            job_id: keys::job_id(bucket, key, etag),
            bucket: bucket.to_string(),
            key: key.to_string(),
            etag: etag.to_string(),
            size,
            output_base,
            stem,
            formats: self.formats.clone(),
            segment_seconds: self.segment_seconds,
            max_pieces: self.max_pieces,
            profile: self.profile.clone(),
            webhook_url: None,
            sources: self.sources.clone(),
        };
        req.validate()?;
        Ok(req)
    }
}

/// The first decision on a record, before any I/O.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Skip(String),
    /// Keys to try in order (the raw key, then its percent-decoded form).
    Consider(Vec<String>),
}

pub fn screen(record: &OssRecord, s: &Settings) -> Screen {
    if !record.is_object_created() {
        return Screen::Skip(format!("{} is not an ObjectCreated event", record.name()));
    }
    let mut candidates = Vec::new();
    let mut last_reason = String::new();
    for key in keys::key_candidates(&record.oss.object.key) {
        match classify(&key, s) {
            Ok(_) => candidates.push(key),
            Err(reason) => last_reason = reason,
        }
    }
    if candidates.is_empty() {
        Screen::Skip(last_reason)
    } else {
        Screen::Consider(candidates)
    }
}

/// What an object under the trigger prefix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Video,
    JobFile,
}

/// Whether `key` starts something, and as what; else why not.
pub fn classify(key: &str, s: &Settings) -> std::result::Result<Kind, String> {
    keys::validate_key(key).map_err(|e| e.message)?;
    let out = format!("{}/", s.output_prefix.trim_matches('/'));
    if key.starts_with(&out) {
        return Err(format!(
            "key is under the output prefix {out:?} (loop guard)"
        ));
    }
    if !key.starts_with(&s.input_prefix) {
        return Err(format!(
            "key is outside the trigger prefix {:?}",
            s.input_prefix
        ));
    }
    if keys::has_extension(key, &s.input_extensions) {
        return Ok(Kind::Video);
    }
    if keys::has_extension(key, &[overrides::EXTENSION.to_string()]) {
        return Ok(Kind::JobFile);
    }
    Err(format!(
        "{} is not a video extension this system processes (INPUT_EXTENSIONS: {}), nor .{} (a job file)",
        keys::extension(key)
            .map(|e| format!("extension .{e}"))
            .unwrap_or_else(|| "a file name without an extension".into()),
        s.input_extensions.join(", "),
        overrides::EXTENSION
    ))
}

/// The services the trigger talks to, behind small interfaces so the
/// logic is testable and the binary wires the real clients.
pub trait Services: Sync {
    /// What OSS knows of the object; `None` when it does not exist.
    fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectMeta>>> + Send;
    /// The first `len` bytes of an object (a job file, at most
    /// [`overrides::MAX_BYTES`]).
    fn read(
        &self,
        bucket: &str,
        key: &str,
        len: u64,
    ) -> impl Future<Output = Result<Vec<u8>>> + Send;
    /// Write a small JSON object (a job file's receipt).
    fn put_json(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Start an execution; `Ok(false)` when one with this name already exists.
    fn start(
        &self,
        execution: &str,
        input: &JobRequest,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// The most records one event may carry. OSS documents the event as an
/// `events` list with no stated maximum and delivers one record per event;
/// an OSS trigger invokes asynchronously, and FC takes at most 128 KB for an
/// asynchronous invocation, room for about 180 records of the documented
/// shape. 100 stays under that and bounds the executions one call may start.
pub const MAX_RECORDS: usize = 100;

/// Handle one event. Records are independent: a bad record is skipped with a
/// reason; a transient failure on any record fails the whole call so that FC
/// retries it (records already started then come back as duplicates).
pub async fn handle<S: Services>(event: &[u8], s: &Settings, svc: &S) -> Result<TriggerOutput> {
    handle_event(&OssEvent::parse(event)?, s, svc).await
}

/// [`handle`] on a parsed event.
pub async fn handle_event<S: Services>(
    event: &OssEvent,
    s: &Settings,
    svc: &S,
) -> Result<TriggerOutput> {
    if event.events.len() > MAX_RECORDS {
        return Err(Error::invalid(format!(
            "the event has {} records, more than the {MAX_RECORDS} one event is taken with (OSS sends one record an event)",
            event.events.len()
        )));
    }
    let mut records = Vec::with_capacity(event.events.len());
    for rec in &event.events {
        let raw = rec.oss.object.key.clone();
        let outcome = match screen(rec, s) {
            Screen::Skip(reason) => RecordOutcome::Skipped { key: raw, reason },
            Screen::Consider(candidates) => one(rec, candidates, s, svc).await?,
        };
        match &outcome {
            RecordOutcome::Skipped { key, reason } => tracing::info!(%key, %reason, "skipped"),
            RecordOutcome::Started { key, execution } => {
                tracing::info!(%key, %execution, "started")
            }
            RecordOutcome::Duplicate { key, execution } => {
                tracing::info!(%key, %execution, "already started; duplicate delivery")
            }
            RecordOutcome::Rejected { key, error } => {
                tracing::warn!(%key, %error, "job file rejected; nothing started")
            }
        }
        records.push(outcome);
    }
    Ok(TriggerOutput { records })
}

async fn one<S: Services>(
    rec: &OssRecord,
    candidates: Vec<String>,
    s: &Settings,
    svc: &S,
) -> Result<RecordOutcome> {
    let bucket = &rec.oss.bucket.name;
    if let Err(e) = keys::validate_bucket(bucket) {
        return Ok(RecordOutcome::Skipped {
            key: rec.oss.object.key.clone(),
            reason: e.message,
        });
    }
    // An unambiguous key needs no look-up; an ambiguous one (it has `%`) is
    // whichever form exists.
    let key = if candidates.len() == 1 {
        candidates[0].clone()
    } else {
        let mut found = None;
        for k in &candidates {
            if svc.head(bucket, k).await?.is_some() {
                found = Some(k.clone());
                break;
            }
        }
        match found {
            Some(k) => k,
            None => {
                return Ok(RecordOutcome::Skipped {
                    key: rec.oss.object.key.clone(),
                    reason: "object no longer exists (neither the key nor its decoded form)".into(),
                });
            }
        }
    };
    if classify(&key, s) == Ok(Kind::JobFile) {
        return job_file(bucket, key, s, svc).await;
    }
    let o = &rec.oss.object;
    let req = match s.request(bucket, &key, &o.e_tag, o.size) {
        Ok(r) => r,
        Err(e) if e.kind == ErrorKind::InvalidInput => {
            return Ok(RecordOutcome::Skipped {
                key,
                reason: e.message,
            });
        }
        Err(e) => return Err(e),
    };
    let execution = req.job_id.clone();
    if svc.start(&execution, &req).await? {
        Ok(RecordOutcome::Started { key, execution })
    } else {
        Ok(RecordOutcome::Duplicate { key, execution })
    }
}

/// A job file: read and checked, its video looked up, its job started; the
/// answer also goes into a receipt for the uploader. Mistakes reject the
/// file; storage and workflow failures fail the call, so FC retries it.
async fn job_file<S: Services>(
    bucket: &str,
    key: String,
    s: &Settings,
    svc: &S,
) -> Result<RecordOutcome> {
    let Some(meta) = svc.head(bucket, &key).await? else {
        return Ok(RecordOutcome::Skipped {
            key,
            reason: "object no longer exists".into(),
        });
    };
    let mut receipt = Receipt {
        job_file: key.clone(),
        etag: meta.etag.clone(),
        outcome: ReceiptOutcome::Rejected,
        execution: None,
        manifest_key: None,
        error: None,
    };
    let outcome = match job_file_request(bucket, &key, &meta, s, svc).await {
        Ok(req) => {
            let execution = req.job_id.clone();
            receipt.execution = Some(execution.clone());
            receipt.manifest_key = Some(req.manifest_key());
            if svc.start(&execution, &req).await? {
                receipt.outcome = ReceiptOutcome::Started;
                RecordOutcome::Started { key, execution }
            } else {
                receipt.outcome = ReceiptOutcome::Duplicate;
                RecordOutcome::Duplicate { key, execution }
            }
        }
        Err(e) if e.kind == ErrorKind::InvalidInput => {
            let error = format!("job file {key}: {}", e.message);
            receipt.error = Some(error.clone());
            RecordOutcome::Rejected { key, error }
        }
        Err(e) => return Err(e),
    };
    let receipt_key = overrides::receipt_key(&receipt.job_file, &s.input_prefix, &s.output_prefix)?;
    svc.put_json(bucket, &receipt_key, serde_json::to_vec_pretty(&receipt)?)
        .await?;
    Ok(outcome)
}

/// The request a job file asks for; `InvalidInput` names its mistake.
async fn job_file_request<S: Services>(
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    s: &Settings,
    svc: &S,
) -> Result<JobRequest> {
    if meta.size > overrides::MAX_BYTES {
        return Err(Error::invalid(format!(
            "the job file is {} bytes; at most {} are read",
            meta.size,
            overrides::MAX_BYTES
        )));
    }
    let file = JobFile::parse(&svc.read(bucket, key, meta.size).await?)?;
    let source = &file.source;
    if let Err(reason) = classify(source, s).and_then(|k| match k {
        Kind::Video => Ok(()),
        Kind::JobFile => Err("it is a job file, not a video".into()),
    }) {
        return Err(Error::invalid(format!(
            "field source {source:?} is not a video this system processes: {reason}"
        )));
    }
    let Some(video) = svc.head(bucket, source).await? else {
        return Err(Error::invalid(format!(
            "field source: there is no object {source:?} in bucket {bucket}; upload the video first, then the job file"
        )));
    };
    file.apply(
        s.request(bucket, source, &video.etag, video.size)?,
        key,
        &meta.etag,
    )
}

/// The real services: OSS and the workflow API, with the invocation's
/// temporary credentials (they rotate, so clients are made per call).
pub struct Live {
    pub oss: vpf_oss::OssClient,
    pub flow: vpf_cloudflow::FlowClient,
    pub flow_name: String,
}

impl Live {
    pub fn new(s: &Settings, ctx: &fc_runtime::Context) -> Result<Live> {
        let creds = vpf_core::fc::credentials(ctx)?;
        if ctx.region.is_empty() {
            return Err(Error::invalid(
                "x-fc-region is empty: the region names the OSS and workflow endpoints",
            ));
        }
        let region = ctx.region.as_str();
        Ok(Live {
            oss: vpf_oss::OssClient::for_region(s.oss_endpoint.as_deref(), region, creds.clone())?,
            flow: vpf_cloudflow::FlowClient::new(
                s.flow_endpoint.as_deref().unwrap_or(""),
                region,
                creds,
            )?,
            flow_name: s.flow_name.clone(),
        })
    }
}

impl Services for Live {
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        self.oss.head_object(bucket, key).await
    }
    async fn read(&self, bucket: &str, key: &str, len: u64) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        Ok(self.oss.get_range(bucket, key, 0..len).await?.to_vec())
    }
    async fn put_json(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<()> {
        self.oss
            .put_bytes(bucket, key, body.into(), Some("application/json"))
            .await
            .map(|_| ())
    }
    async fn start(&self, execution: &str, input: &JobRequest) -> Result<bool> {
        let input = serde_json::to_value(input)?;
        match self
            .flow
            .start_execution(&self.flow_name, execution, &input)
            .await?
        {
            vpf_cloudflow::StartOutcome::Started { .. } => Ok(true),
            vpf_cloudflow::StartOutcome::AlreadyExists => Ok(false),
        }
    }
}
