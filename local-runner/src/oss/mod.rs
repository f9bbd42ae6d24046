//! The OSS emulator: an HTTP server on loopback that speaks enough of the
//! OSS API for the functions, `oss2` and browsers' form uploads, backed by a
//! folder per bucket (see [`store`] for the layout).
//!
//! - Operations: PutObject, GetObject (Range, If-Match), HeadObject,
//!   GetObjectMeta, DeleteObject, DeleteMultipleObjects, ListObjects (v1 and
//!   v2), CopyObject, Initiate/UploadPart/Complete/Abort multipart upload,
//!   ListParts, PostObject, ListBuckets, Put/GetBucketAcl,
//!   Put/Get/DeleteBucketCors and Options (the CORS preflight). Other
//!   subresources (object ACLs among them) answer 501.
//! - Path style (`/bucket/key`) and virtual-hosted style, as OSS serves
//!   both: a Host of `<bucket>.localhost[:port]` or of `<bucket>.<OSS
//!   endpoint>` (`<bucket>.oss-cn-hangzhou.aliyuncs.com`, what `ali-oss` sends
//!   to an IP endpoint) names the bucket and the whole path is the key. An IP
//!   address, `localhost` or any other Host means path style. Signatures
//!   cover `/bucket/key` either way (V1 resource and V4 canonical URI).
//! - Requests are signed: V4 (header or presigned URL) or, where
//!   `accept_v1` is on, V1 (header or `Signature`/`Expires` URL) with a configured
//!   key or temporary credentials from [`RunningOss::issue_temporary`]. An
//!   unsigned request gets in only where the bucket ACL lets it (default
//!   private: nowhere): public-read opens GetObject, HeadObject and
//!   ListObjects, public-read-write object writes too; bucket settings and
//!   ListBuckets stay the owner's. A request that carries a signature is
//!   checked whatever the ACL. Buckets answer browsers by their CORS rules
//!   (`Access-Control-*` headers, preflights): see the `access` module.
//! - Each object creation (`ObjectCreated:PutObject`, `:PostObject`,
//!   `:CopyObject`, `:CompleteMultipartUpload`) and removal
//!   (`ObjectRemoved:DeleteObject`, `:DeleteObjects`) is published as an OSS
//!   event record ([`RunningOss::subscribe`]): event names without the `oss:`
//!   prefix, eTag without quotes, the key as stored (not URL-encoded).
//!   Matching triggers is the FC emulator's job.
//! - Faults can be injected for reliability tests ([`RunningOss::set_fault`]).

mod access;
mod api;
mod auth;
mod body;
mod copy;
mod error;
mod listing;
mod multipart;
mod objects;
mod post;
mod request;
mod response;
mod store;
mod xml;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use vpf_core::credentials::Credentials;
use vpf_core::event::{OssBucket, OssEntity, OssObject, OssRecord};
use vpf_core::{Error, Result};

use crate::account::{KeyRing, random_token};
use crate::lock::lock;

pub use error::OssError;

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Buckets live in `root/<bucket>/`; emulator state in `root/.oss/`.
    pub root: PathBuf,
    /// The region in signatures, events and ARNs.
    pub region: String,
    /// The account (uid) that owns the buckets: events' `ownerIdentity`.
    pub account_id: String,
    /// Created at start if missing. Folders already in `root` with valid
    /// bucket names are buckets too.
    pub buckets: Vec<String>,
    /// Long-term access keys accepted for signing (`security_token` unset).
    pub keys: Vec<Credentials>,
    /// A loopback address; port 0 picks a free one.
    pub bind: SocketAddr,
    /// Accept V1 signatures too. OSS refuses them on accounts and buckets
    /// created since 2025, so the default is V4 only; V1 is an explicit
    /// choice for clients that still sign it (V1 presigned URLs then live at
    /// most 7 days, as V4's).
    pub accept_v1: bool,
    /// Header and body deadlines and the connection cap.
    pub limits: crate::serve::ServeLimits,
}

impl EmulatorConfig {
    /// Region `cn-hangzhou`, the local account id, one random access key,
    /// an ephemeral port on 127.0.0.1, V4 only, no buckets, default limits.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        EmulatorConfig {
            root: root.into(),
            region: "cn-hangzhou".into(),
            account_id: crate::account::LOCAL_ACCOUNT_ID.into(),
            buckets: Vec::new(),
            keys: vec![Credentials::new(
                format!("LTAI{}", random_token(20)),
                random_token(30),
            )],
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            accept_v1: false,
            limits: crate::serve::ServeLimits::default(),
        }
    }
}

/// Faults to inject into the next requests, for reliability tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// The next N requests, whatever they are, get `503 ServiceUnavailable`.
    pub fail_next_n_with_503: u32,
    /// The next N UploadPart requests get `503 ServiceUnavailable`.
    pub fail_next_n_part_uploads_with_503: u32,
    /// The next N GetObject answers stop after `cut_after_bytes` bytes of
    /// body and the connection is dropped.
    pub cut_next_n_downloads: u32,
    pub cut_after_bytes: u64,
}

/// Starts emulators.
pub struct OssEmulator;

impl OssEmulator {
    /// Bind, create the buckets and serve until [`RunningOss::shutdown`].
    pub async fn start(config: EmulatorConfig) -> Result<RunningOss> {
        if config.region.is_empty() {
            return Err(Error::invalid("OSS emulator: region is empty"));
        }
        if !config.bind.ip().is_loopback() {
            return Err(Error::invalid(format!(
                "OSS emulator: bind address {} is not a loopback address",
                config.bind
            )));
        }
        if config.keys.is_empty()
            || config
                .keys
                .iter()
                .any(|k| k.access_key_id.is_empty() || k.access_key_secret.is_empty())
        {
            return Err(Error::invalid(
                "OSS emulator: at least one access key with an id and a secret is needed (the bucket owner signs with it)",
            ));
        }
        for b in &config.buckets {
            vpf_core::keys::validate_bucket(b)?;
        }
        let preparing = |e: std::io::Error| {
            Error::internal(format!(
                "OSS emulator: preparing {}: {e}",
                config.root.display()
            ))
        };
        let store = store::Store::new(&config.root).map_err(preparing)?;
        let access = access::Settings::new(&config.root).map_err(preparing)?;
        for b in &config.buckets {
            store
                .create_bucket(b)
                .map_err(|e| Error::internal(format!("OSS emulator: creating bucket {b}: {e}")))?;
        }
        let keys = KeyRing::new();
        for k in &config.keys {
            // Long-term keys: a token configured with one is not asked for.
            keys.add(&Credentials::new(
                k.access_key_id.as_str(),
                k.access_key_secret.as_str(),
            ));
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| Error::internal(format!("OSS emulator: binding {}: {e}", config.bind)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("OSS emulator: {e}")))?;
        // The emulator's own names that a bucket label may prefix. Not its
        // IP: `<bucket>.127.0.0.1` is no host name (clients such as ali-oss
        // and alibabacloud-oss-v2 switch to path style for IP endpoints).
        let base_hosts = vec!["localhost".to_string()];
        let shared = Arc::new(Shared {
            store,
            access,
            keys,
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            accept_v1: config.accept_v1,
            base_hosts,
            subscribers: Mutex::new(Vec::new()),
            faults: Mutex::new(FaultPlan::default()),
            injected: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        });
        let app = api::router(shared.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let limits = config.limits;
        let task = tokio::spawn(async move {
            crate::serve::serve(listener, app, limits, async {
                let _ = stop_rx.await;
            })
            .await;
        });
        tracing::info!(%addr, region = %config.region, "OSS emulator listening");
        Ok(RunningOss {
            shared,
            addr,
            root: config.root,
            keys: config.keys,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// A running emulator. Dropping it stops the server too.
pub struct RunningOss {
    shared: Arc<Shared>,
    addr: SocketAddr,
    root: PathBuf,
    keys: Vec<Credentials>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningOss {
    /// `http://127.0.0.1:<port>`: give it to clients as their OSS endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn region(&self) -> &str {
        &self.shared.region
    }

    pub fn account_id(&self) -> &str {
        &self.shared.account_id
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The first configured access key.
    pub fn credentials(&self) -> Credentials {
        self.keys[0].clone()
    }

    /// What a client needs, as one JSON object: `endpoint`, `region`,
    /// `accountId`, `buckets`, `accessKeyId`, `accessKeySecret` (the first
    /// configured key). It holds a secret: print it only for local use.
    pub fn describe(&self) -> serde_json::Value {
        let key = self.credentials();
        serde_json::json!({
            "endpoint": self.endpoint(),
            "region": self.region(),
            "accountId": self.account_id(),
            "buckets": self.shared.store.buckets(),
            "accessKeyId": key.access_key_id,
            "accessKeySecret": key.access_key_secret,
        })
    }

    /// A new receiver of every event record from now on. Unbounded, so no
    /// event is ever dropped for a slow subscriber.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<OssRecord> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    /// Temporary credentials (id `STS.…`, secret, security token), as FC hands
    /// a function its role's keys. Refused once `ttl` has passed, and
    /// whenever the token is missing or wrong.
    pub fn issue_temporary(&self, ttl: Duration) -> Credentials {
        self.shared.keys.issue(ttl)
    }

    /// The configured (long-term) access keys.
    pub fn static_keys(&self) -> Vec<Credentials> {
        self.keys.clone()
    }

    /// The account's keys that the emulator checks requests against, for
    /// the other emulators: in the cloud STS issues a role's keys and every
    /// service accepts them; here the OSS emulator issues them and the
    /// workflow API checks its signatures against the same ring.
    pub fn keys(&self) -> KeyRing {
        self.shared.keys.clone()
    }

    /// Replace the fault plan.
    pub fn set_fault(&self, plan: FaultPlan) {
        *lock(&self.shared.faults) = plan;
    }

    /// How many faults have been injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.shared.injected.load(Ordering::Relaxed)
    }

    /// Move the emulator's clock forward (expiry tests without sleeping).
    /// Requests must still be signed within 15 minutes of the moved clock.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.keys.advance_clock(by);
    }

    /// Stop accepting requests and wait (up to 5 s) for those in flight.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningOss {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// State shared by all requests.
pub(crate) struct Shared {
    store: store::Store,
    /// Bucket ACLs and CORS configurations.
    access: access::Settings,
    /// The account's keys; its clock is the emulator's.
    keys: KeyRing,
    region: String,
    account_id: String,
    accept_v1: bool,
    /// Hosts that name the endpoint itself; `<bucket>.<host>` is virtual host
    /// style (so is `<bucket>.<OSS endpoint>`, see `request::virtual_bucket`).
    base_hosts: Vec<String>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<OssRecord>>>,
    faults: Mutex<FaultPlan>,
    injected: AtomicU64,
    next_id: AtomicU64,
}

impl Shared {
    fn now(&self) -> SystemTime {
        self.keys.now()
    }

    /// 24 hex digits, like OSS request ids.
    fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let secs = store::unix(SystemTime::now()) as u32;
        format!("{secs:08X}{:016X}", n ^ 0x5EED_0000_0000_0000)
    }

    fn take_503(&self) -> bool {
        let mut f = lock(&self.faults);
        if f.fail_next_n_with_503 > 0 {
            f.fail_next_n_with_503 -= 1;
            self.injected.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    fn take_part_503(&self) -> bool {
        let mut f = lock(&self.faults);
        if f.fail_next_n_part_uploads_with_503 > 0 {
            f.fail_next_n_part_uploads_with_503 -= 1;
            self.injected.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Bytes after which this download is cut, if a cut is planned.
    fn take_cut(&self) -> Option<u64> {
        let mut f = lock(&self.faults);
        if f.cut_next_n_downloads > 0 {
            f.cut_next_n_downloads -= 1;
            self.injected.fetch_add(1, Ordering::Relaxed);
            Some(f.cut_after_bytes)
        } else {
            None
        }
    }

    /// Publish an event record to every live subscriber.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        event_name: &str,
        bucket: &str,
        key: &str,
        size: u64,
        etag: &str,
        delta_size: i64,
        source_ip: &str,
        request_id: &str,
    ) {
        let now = chrono::DateTime::<chrono::Utc>::from(self.now());
        let record = OssRecord {
            event_name: event_name.to_string(),
            event_source: "acs:oss".into(),
            event_time: now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            event_version: "1.0".into(),
            region: self.region.clone(),
            oss: OssEntity {
                bucket: OssBucket {
                    name: bucket.to_string(),
                    arn: format!("acs:oss:{}:{}:{bucket}", self.region, self.account_id),
                    owner_identity: self.account_id.clone(),
                    virtual_bucket: Some(String::new()),
                },
                object: OssObject {
                    key: key.to_string(),
                    size,
                    e_tag: etag.to_string(),
                    delta_size,
                },
                oss_schema_version: "1.0".into(),
                rule_id: Some("local-runner".into()),
            },
            request_parameters: Some(serde_json::json!({ "sourceIPAddress": source_ip })),
            response_elements: Some(serde_json::json!({ "requestId": request_id })),
            user_identity: Some(serde_json::json!({ "principalId": self.account_id })),
        };
        tracing::debug!(event = event_name, bucket, key, "OSS event");
        lock(&self.subscribers).retain(|tx| tx.send(record.clone()).is_ok());
    }
}
