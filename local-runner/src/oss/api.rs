//! Requests in, OSS answers out: routing by method, key and subresource, and
//! the object and bucket operations.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::access::{self, Acl, Anonymous};
use super::auth::{self, RequestView};
use super::error::{OssError, OssResult};
use super::store::{self, Attributes, Incoming, MAX_PART_NUMBER, MIN_PART_SIZE, Meta, Upload};
use super::xml::{self, Doc};
use super::{Shared, lock, post};

/// DeleteMultipleObjects and CompleteMultipartUpload bodies are read whole:
/// bound them (1,000 keys of 1 KiB, 10,000 parts) so nobody can make the
/// emulator buffer gigabytes. Object bodies stream and have no limit.
const MAX_XML_BODY: usize = 2 * 1024 * 1024;
const MAX_DELETE_KEYS: usize = 1000;
/// Subresources (query names) this emulator implements; any other OSS
/// subresource answers 501 rather than being mistaken for a plain request
/// (a `PUT ?acl` must not overwrite the object).
const IMPLEMENTED: &[&str] = &[
    "uploadId",
    "partNumber",
    "uploads",
    "delete",
    "objectMeta",
    "continuation-token",
    "security-token",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
];
/// Subresources implemented on buckets only (`?acl` on an object is
/// PutObjectAcl/GetObjectAcl, which answer 501).
const BUCKET_SUBRESOURCES: &[&str] = &["acl", "cors"];
/// Object headers kept and served back.
const KEPT_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        // Object bodies stream to disk; XML bodies are bounded where read.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

/// What the request is about.
pub(crate) struct Ctx {
    pub sh: Arc<Shared>,
    pub rid: String,
    pub peer: SocketAddr,
    pub host: String,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The bucket came from the Host header (virtual-hosted style).
    pub virtual_host: bool,
    /// Unsigned, and let through by the bucket ACL.
    pub anonymous: bool,
}

impl Ctx {
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }
    /// `x-oss-forbid-overwrite: true`: the write must not replace an object.
    pub fn forbid_overwrite(&self) -> bool {
        self.header("x-oss-forbid-overwrite")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The SHA-256 the body must have, when the request signed one.
    pub fn payload_sha256(&self) -> Option<[u8; 32]> {
        self.header("x-oss-content-sha256")
            .and_then(auth::payload_sha256)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The object's URL in the style the request used (`Location` answers).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        if self.virtual_host {
            format!("http://{}/{key}", self.host)
        } else {
            format!("http://{}/{bucket}/{key}", self.host)
        }
    }
    fn url_encoded(&self) -> OssResult<bool> {
        match self.q("encoding-type") {
            None => Ok(false),
            Some("url") => Ok(true),
            Some(other) => Err(OssError::invalid_argument(format!(
                "encoding-type {other:?} is not supported; use url"
            ))),
        }
    }
    pub fn emit(&self, event: &str, bucket: &str, key: &str, meta: &Meta, previous: Option<u64>) {
        let delta = meta.size as i64 - previous.unwrap_or(0) as i64;
        self.sh.emit(
            event,
            bucket,
            key,
            meta.size,
            &meta.etag,
            delta,
            &self.peer.ip().to_string(),
            &self.rid,
        );
    }
}

async fn handle(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let rid = sh.request_id();
    let method = req.method().clone();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let mut bucket = None;
    let mut resp = match dispatch(&sh, peer, &rid, &host, parts, &mut body, &mut bucket).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(request_id = %rid, %method, error = %e, "OSS request refused");
            if let Some(b) = body.take() {
                drain(b).await;
            }
            e.response(&rid, &host, method == Method::HEAD)
        }
    };
    // Errors too: a page may read why its request failed.
    if let Some(b) = &bucket {
        access::decorate(&sh.access, b, origin.as_deref(), &method, &mut resp).await;
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert("x-oss-request-id", v);
    }
    h.insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
    if let Ok(v) = HeaderValue::from_str(&http_date(SystemTime::now())) {
        h.insert(header::DATE, v);
    }
    resp
}

/// Read and drop a little of an unread body, so that a client still
/// sending gets the error answer rather than a reset connection.
async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut left: usize = 1 << 20;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while let Some(Ok(chunk)) = stream.next().await {
            left = left.saturating_sub(chunk.len());
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

/// Route and serve one request. `seen_bucket` is set to the bucket the
/// request addresses as soon as its name is known to be valid, for the CORS
/// headers.
async fn dispatch(
    sh: &Arc<Shared>,
    peer: SocketAddr,
    rid: &str,
    host: &str,
    parts: http::request::Parts,
    body: &mut Option<Body>,
    seen_bucket: &mut Option<String>,
) -> OssResult<Response> {
    if sh.take_503() {
        return Err(OssError::unavailable());
    }
    let Target {
        bucket,
        key,
        virtual_host,
    } = target(&sh.base_hosts, host, parts.uri.path())?;
    let query = parse_query(parts.uri.query());
    if let Some(b) = &bucket {
        vpf_core::keys::validate_bucket(b).map_err(|_| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidBucketName",
                "The specified bucket is not valid.",
            )
            .with("BucketName", b.clone())
        })?;
    }
    seen_bucket.clone_from(&bucket);
    auth::refuse_repeated_headers(&parts.headers)?;
    if let Some(k) = &key {
        store::check_key(k)?;
    }
    let mut cx = Ctx {
        sh: sh.clone(),
        rid: rid.to_string(),
        peer,
        host: host.to_string(),
        method: parts.method.clone(),
        headers: parts.headers,
        query,
        bucket,
        key,
        virtual_host,
        anonymous: false,
    };
    tracing::debug!(request_id = %rid, method = %cx.method, bucket = cx.bucket.as_deref(), key = cx.key.as_deref(), virtual_host, "OSS request");

    // A browser's preflight carries no credentials, ever.
    if cx.method == Method::OPTIONS {
        let Some(bucket) = cx.bucket.clone() else {
            return Err(OssError::not_implemented(
                "Options (CORS preflight) is served for buckets and objects only.",
            ));
        };
        if !sh.store.bucket_exists(&bucket) {
            return Err(OssError::no_such_bucket(&bucket));
        }
        return access::preflight(
            &sh.access,
            &bucket,
            cx.key.is_some(),
            cx.header("origin"),
            cx.header("access-control-request-method"),
            cx.header("access-control-request-headers"),
        )
        .await;
    }

    // A form upload carries its credentials in the form.
    if cx.method == Method::POST
        && cx.key.is_none()
        && !cx.has("delete")
        && cx
            .header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"))
        && let Some(bucket) = cx.bucket.clone()
    {
        return post::post_object(&cx, &bucket, take(body)?).await;
    }

    let view = RequestView {
        method: &cx.method,
        bucket: cx.bucket.as_deref(),
        key: cx.key.as_deref(),
        query: &cx.query,
        headers: &cx.headers,
    };
    if auth::is_signed(&view) {
        let now = sh.now();
        let caller = lock(&sh.keys).verify(&view, &sh.region, sh.accept_v1, now)?;
        tracing::debug!(request_id = %rid, access_key_id = %caller.access_key_id, temporary = caller.temporary, "OSS request signed");
    } else {
        let need = anonymous_need(&cx);
        let acl = match &cx.bucket {
            Some(b) if sh.store.bucket_exists(b) => sh.access.acl(b).await,
            _ => Acl::Private,
        };
        if !acl.allows(need) {
            return Err(if need == Anonymous::Write && acl.allows(Anonymous::Read) {
                bucket_acl_refused()
            } else {
                auth::anonymous_refused()
            });
        }
        tracing::debug!(request_id = %rid, acl = acl.as_str(), "OSS request anonymous, let through by the bucket ACL");
        cx.anonymous = true;
    }

    let Some(bucket) = cx.bucket.clone() else {
        return match cx.method {
            Method::GET => list_buckets(&cx),
            _ => Err(OssError::not_implemented(
                "Only ListBuckets is served at the service level.",
            )),
        };
    };
    if !sh.store.bucket_exists(&bucket) {
        return Err(OssError::no_such_bucket(&bucket));
    }
    if let Some((name, _)) = cx.query.iter().find(|(k, _)| {
        auth::is_subresource(k)
            && !IMPLEMENTED.contains(&k.as_str())
            && !(cx.key.is_none() && BUCKET_SUBRESOURCES.contains(&k.as_str()))
    }) {
        return Err(OssError::not_implemented(format!(
            "The emulator does not implement the {name:?} subresource."
        )));
    }

    let Some(key) = cx.key.clone() else {
        return match cx.method {
            Method::GET if cx.has("acl") => access::get_bucket_acl(&cx, &bucket).await,
            Method::PUT if cx.has("acl") => access::put_bucket_acl(&cx, &bucket).await,
            Method::GET if cx.has("cors") => access::get_bucket_cors(&cx, &bucket).await,
            Method::PUT if cx.has("cors") => {
                access::put_bucket_cors(&cx, &bucket, take(body)?).await
            }
            Method::DELETE if cx.has("cors") => access::delete_bucket_cors(&cx, &bucket).await,
            Method::GET if cx.q("list-type") == Some("2") => list_objects(&cx, &bucket, true).await,
            Method::GET if cx.has("uploads") => {
                Err(OssError::not_implemented("ListMultipartUploads"))
            }
            Method::GET => list_objects(&cx, &bucket, false).await,
            Method::POST if cx.has("delete") => delete_multiple(&cx, &bucket, take(body)?).await,
            _ => Err(OssError::not_implemented(format!(
                "{} on a bucket is not implemented by the emulator.",
                cx.method
            ))),
        };
    };
    match cx.method {
        Method::GET if cx.has("uploadId") => list_parts(&cx, &bucket, &key).await,
        Method::GET if cx.has("objectMeta") => object_meta(&cx, &bucket, &key).await,
        Method::HEAD if cx.has("objectMeta") => object_meta(&cx, &bucket, &key).await,
        Method::GET | Method::HEAD => get_object(&cx, &bucket, &key).await,
        Method::PUT if cx.has("uploadId") || cx.has("partNumber") => {
            if cx.header("x-oss-copy-source").is_some() {
                return Err(OssError::not_implemented("UploadPartCopy"));
            }
            upload_part(&cx, &bucket, &key, take(body)?).await
        }
        Method::PUT if cx.header("x-oss-copy-source").is_some() => {
            copy_object(&cx, &bucket, &key).await
        }
        Method::PUT => put_object(&cx, &bucket, &key, take(body)?).await,
        Method::POST if cx.has("uploads") => initiate(&cx, &bucket, &key).await,
        Method::POST if cx.has("uploadId") => complete(&cx, &bucket, &key, take(body)?).await,
        Method::DELETE if cx.has("uploadId") => abort(&cx, &bucket, &key).await,
        Method::DELETE => delete_object(&cx, &bucket, &key).await,
        _ => Err(OssError::not_implemented(format!(
            "{} on an object is not implemented by the emulator.",
            cx.method
        ))),
    }
}

/// What an unsigned request would do, as the routing in [`dispatch`] reads
/// it: reading objects and listing need public-read, changing objects (and
/// multipart uploads, ListParts included) public-read-write; the service
/// level, bucket settings and subresources the emulator does not serve are
/// the owner's only.
fn anonymous_need(cx: &Ctx) -> Anonymous {
    if cx.bucket.is_none()
        || cx
            .query
            .iter()
            .any(|(k, _)| auth::is_subresource(k) && !IMPLEMENTED.contains(&k.as_str()))
    {
        return Anonymous::Never;
    }
    match (&cx.key, &cx.method) {
        (None, &Method::GET) if !cx.has("uploads") => Anonymous::Read,
        (None, &Method::POST) if cx.has("delete") => Anonymous::Write,
        (None, _) => Anonymous::Never,
        (Some(_), &Method::GET | &Method::HEAD) if !cx.has("uploadId") => Anonymous::Read,
        (Some(_), &Method::GET | &Method::PUT | &Method::POST | &Method::DELETE) => {
            Anonymous::Write
        }
        (Some(_), _) => Anonymous::Never,
    }
}

/// An anonymous write to a bucket that only anonymous reads are allowed on.
fn bucket_acl_refused() -> OssError {
    OssError::access_denied("You have no right to access this object because of bucket acl.")
}

fn take(body: &mut Option<Body>) -> OssResult<Body> {
    body.take()
        .ok_or_else(|| OssError::internal("request body used twice"))
}

/// What a request addresses.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    bucket: Option<String>,
    key: Option<String>,
    /// The bucket came from the Host header, not from the path.
    virtual_host: bool,
}

/// Bucket and key from the Host header and the path, as OSS reads them: a
/// Host that names a bucket (see [`virtual_bucket`]) makes the whole path
/// the key (virtual-hosted style); otherwise the path is `/bucket/key`
/// (path style). Either way the signature covers `/bucket/key`.
fn target(base_hosts: &[String], host: &str, path: &str) -> OssResult<Target> {
    let hostname = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or("").to_ascii_lowercase()
    };
    let virtual_bucket = virtual_bucket(base_hosts, &hostname);
    let path = path
        .strip_prefix('/')
        .ok_or_else(|| OssError::invalid_argument("The request path must start with /."))?;
    let decode = |s: &str| -> OssResult<String> {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| OssError::invalid_argument("The object key is not valid UTF-8."))
    };
    let virtual_host = virtual_bucket.is_some();
    let (bucket, key_raw) = match virtual_bucket {
        Some(b) => (Some(b), path),
        None if path.is_empty() => (None, ""),
        None => {
            let (b, k) = path.split_once('/').unwrap_or((path, ""));
            (Some(decode(b)?), k)
        }
    };
    let key = if key_raw.is_empty() {
        None
    } else {
        Some(decode(key_raw)?)
    };
    Ok(Target {
        bucket,
        key,
        virtual_host,
    })
}

/// The bucket a Host names in virtual-hosted style: its first label, when
/// the rest is one of the emulator's own names (`<bucket>.localhost`) or an
/// OSS endpoint (`<bucket>.oss-cn-hangzhou.aliyuncs.com`,
/// `<bucket>.oss-cn-hangzhou-internal.aliyuncs.com`,
/// `<bucket>.oss-accelerate.aliyuncs.com`, `<bucket>.cn-hangzhou.oss.aliyuncs.com`).
/// ali-oss sends the last-but-one form to an IP endpoint: it connects to the
/// IP and sets `Host: <bucket>.<region>.aliyuncs.com` with the key alone as
/// path (lib/common/utils/createRequest.js, lib/common/client/getReqUrl.js).
/// An IP address or a bare endpoint names no bucket (path style).
fn virtual_bucket(base_hosts: &[String], hostname: &str) -> Option<String> {
    if hostname.starts_with('[') || hostname.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let (label, rest) = hostname.split_once('.')?;
    if label.is_empty() {
        return None;
    }
    (base_hosts.iter().any(|b| b == rest) || is_oss_endpoint(rest)).then(|| label.to_string())
}

/// `oss-<region>[-internal].aliyuncs.com` (and the other `oss-*` service
/// names: `oss-accelerate`, `oss-cn-hangzhou-internal`) or
/// `<region>.oss.aliyuncs.com`: an OSS endpoint without a bucket.
fn is_oss_endpoint(host: &str) -> bool {
    let Some(service) = host.strip_suffix(".aliyuncs.com") else {
        return false;
    };
    match service.split('.').collect::<Vec<_>>()[..] {
        [name] => name.starts_with("oss-") && name.len() > "oss-".len(),
        [region, "oss"] => !region.is_empty(),
        _ => false,
    }
}

/// Query pairs decoded as OSS does (`+` is a space, `%XX` a byte), in order.
fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// A bounded request body, read whole.
/// A small body, whole; checked against `sha256` when the request signed one.
pub(crate) async fn read_small(
    body: Body,
    limit: usize,
    sha256: Option<[u8; 32]>,
) -> OssResult<Bytes> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| OssError::invalid_argument(format!("reading the request body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(OssError::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                format!(
                    "The request body is larger than the {limit} bytes allowed for this operation."
                ),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    if sha256.is_some_and(|want| <[u8; 32]>::from(sha2::Sha256::digest(&buf)) != want) {
        return Err(auth::payload_mismatch());
    }
    Ok(Bytes::from(buf))
}

/// Verify `Content-MD5` (base64 of the body's MD5) when the client sent one.
pub(crate) fn check_md5(cx: &Ctx, md5: &[u8]) -> OssResult<()> {
    let Some(sent) = cx.header("content-md5") else {
        return Ok(());
    };
    let ok = base64::engine::general_purpose::STANDARD
        .decode(sent.trim())
        .is_ok_and(|d| d == md5);
    if ok {
        Ok(())
    } else {
        Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDigest",
            "The Content-MD5 you specified is not valid.",
        ))
    }
}

/// Content-Type and the kept headers of an upload.
fn attributes(cx: &Ctx, key: &str) -> Attributes {
    let mut headers = BTreeMap::new();
    for (name, value) in &cx.headers {
        let n = name.as_str();
        if (KEPT_HEADERS.contains(&n) || n.starts_with("x-oss-meta-"))
            && let Ok(v) = value.to_str()
        {
            headers.insert(n.to_string(), v.to_string());
        }
    }
    Attributes {
        content_type: cx
            .header("content-type")
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| vpf_oss::content_type_for(key).to_string()),
        headers,
    }
}

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

fn http_date(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn iso_date(unix: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn system_time(unix: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64)
}

pub(crate) fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

pub(crate) fn xml_response(status: StatusCode, doc: String) -> Response {
    let mut r = Response::new(Body::from(doc));
    *r.status_mut() = status;
    set(&mut r, "content-type", "application/xml");
    r
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// The headers every object answer carries.
fn object_headers(resp: &mut Response, meta: &Meta) {
    set(resp, "etag", &quoted(&meta.etag));
    set(
        resp,
        "last-modified",
        &http_date(system_time(meta.last_modified)),
    );
    set(resp, "x-oss-object-type", &meta.object_type);
    set(resp, "x-oss-storage-class", "Standard");
    set(resp, "accept-ranges", "bytes");
    for (k, v) in &meta.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
}

// --- objects ------------------------------------------------------------

async fn put_object(cx: &Ctx, bucket: &str, key: &str, body: Body) -> OssResult<Response> {
    let store = &cx.sh.store;
    // Refused early to spare the upload; the commit checks again, atomically.
    if cx.forbid_overwrite() && store.head(bucket, key).await.is_ok() {
        return Err(store::file_exists());
    }
    let incoming = store
        .receive_checked(body.into_data_stream(), cx.payload_sha256())
        .await?;
    if let Err(e) = check_md5(cx, &incoming.md5) {
        let _ = tokio::fs::remove_file(&incoming.path).await;
        return Err(e);
    }
    let md5 = incoming.md5;
    let etag = incoming.md5_hex();
    let (meta, previous) = store
        .commit(
            bucket,
            key,
            incoming,
            etag,
            "Normal",
            attributes(cx, key),
            cx.sh.now(),
            cx.forbid_overwrite(),
        )
        .await?;
    cx.emit("ObjectCreated:PutObject", bucket, key, &meta, previous);
    let mut r = empty(StatusCode::OK);
    set(&mut r, "etag", &quoted(&meta.etag));
    set(&mut r, "x-oss-hash-crc64ecma", &meta.crc64.to_string());
    set(
        &mut r,
        "content-md5",
        &base64::engine::general_purpose::STANDARD.encode(md5),
    );
    Ok(r)
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n`. `None`: no usable range (OSS then
/// answers with the whole object); `Some(Err)`: unsatisfiable.
fn parse_range(value: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(n), size.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end: u64 = if b.is_empty() {
            u64::MAX
        } else {
            b.parse().ok()?
        };
        if end < start {
            return None;
        }
        if start >= size {
            return Some(Err(()));
        }
        (start, end.min(size - 1))
    };
    Some(Ok(range))
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_matches('"'))
        .any(|t| t == "*" || t.eq_ignore_ascii_case(etag))
}

async fn get_object(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    let (mut file, meta) = cx.sh.store.open(bucket, key).await?;
    if let Some(m) = cx.header("if-match")
        && !etag_matches(m, &meta.etag)
    {
        return Err(OssError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
        )
        .with("Condition", "If-Match"));
    }
    if let Some(m) = cx.header("if-none-match")
        && etag_matches(m, &meta.etag)
    {
        let mut r = empty(StatusCode::NOT_MODIFIED);
        object_headers(&mut r, &meta);
        return Ok(r);
    }
    let range = match cx.header("range").and_then(|r| parse_range(r, meta.size)) {
        Some(Err(())) => {
            return Err(OssError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range cannot be satisfied.",
            )
            .with("ActualObjectSize", meta.size.to_string()));
        }
        Some(Ok(r)) => Some(r),
        None => None,
    };
    let (start, len) = match range {
        Some((a, b)) => (a, b - a + 1),
        None => (0, meta.size),
    };
    let head = cx.method == Method::HEAD;
    let mut r = if head {
        empty(StatusCode::OK)
    } else {
        file.seek(std::io::SeekFrom::Start(start)).await?;
        let reader = file.take(len);
        let body = match cx.sh.take_cut() {
            // An injected fault: the connection drops mid-body.
            Some(cut) => Body::from_stream(
                ReaderStream::with_capacity(reader.take(cut), 256 * 1024).chain(
                    futures_util::stream::once(async {
                        Err(std::io::Error::other("connection cut by an injected fault"))
                    }),
                ),
            ),
            None => Body::from_stream(ReaderStream::with_capacity(reader, 256 * 1024)),
        };
        Response::new(body)
    };
    object_headers(&mut r, &meta);
    set(&mut r, "content-length", &len.to_string());
    let content_type = cx
        .q("response-content-type")
        .unwrap_or(&meta.content_type)
        .to_string();
    set(&mut r, "content-type", &content_type);
    for (q, h) in [
        ("response-content-disposition", "content-disposition"),
        ("response-cache-control", "cache-control"),
        ("response-content-encoding", "content-encoding"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
    ] {
        if let Some(v) = cx.q(q) {
            set(&mut r, h, v);
        }
    }
    match range {
        Some((a, b)) => {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(
                &mut r,
                "content-range",
                &format!("bytes {a}-{b}/{}", meta.size),
            );
        }
        None => set(&mut r, "x-oss-hash-crc64ecma", &meta.crc64.to_string()),
    }
    Ok(r)
}

async fn object_meta(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    let meta = cx.sh.store.head(bucket, key).await?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "etag", &quoted(&meta.etag));
    set(&mut r, "content-length", &meta.size.to_string());
    set(
        &mut r,
        "last-modified",
        &http_date(system_time(meta.last_modified)),
    );
    set(&mut r, "x-oss-hash-crc64ecma", &meta.crc64.to_string());
    Ok(r)
}

async fn copy_object(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    let raw = cx.header("x-oss-copy-source").unwrap_or("");
    // `/bucket/<url-encoded key>[?versionId=...]`: split before decoding, so
    // an encoded `?` in the key stays part of it.
    let path = raw.split('?').next().unwrap_or("");
    let (src_bucket, src_key) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .ok_or_else(|| OssError::invalid_argument("x-oss-copy-source must be /bucket/key."))?;
    let src_key = percent_decode_str(src_key)
        .decode_utf8()
        .map_err(|_| OssError::invalid_argument("x-oss-copy-source is not valid UTF-8."))?
        .into_owned();
    store::check_key(&src_key)?;
    let store = &cx.sh.store;
    if vpf_core::keys::validate_bucket(src_bucket).is_err() || !store.bucket_exists(src_bucket) {
        return Err(OssError::no_such_bucket(src_bucket));
    }
    // An anonymous copy reads the source anonymously too.
    if cx.anonymous && !cx.sh.access.acl(src_bucket).await.allows(Anonymous::Read) {
        return Err(auth::anonymous_refused());
    }
    let (file, src_meta) = store.open(src_bucket, &src_key).await?;
    if let Some(m) = cx.header("x-oss-copy-source-if-match")
        && !etag_matches(m, &src_meta.etag)
    {
        return Err(OssError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
        ));
    }
    let incoming: Incoming = store
        .receive(ReaderStream::with_capacity(file, 256 * 1024))
        .await?;
    let replace = cx
        .header("x-oss-metadata-directive")
        .is_some_and(|d| d.eq_ignore_ascii_case("REPLACE"));
    let attrs = if replace {
        attributes(cx, key)
    } else {
        Attributes {
            content_type: src_meta.content_type.clone(),
            headers: src_meta.headers.clone(),
        }
    };
    let (meta, previous) = store
        .commit(
            bucket,
            key,
            incoming,
            src_meta.etag.clone(),
            &src_meta.object_type,
            attrs,
            cx.sh.now(),
            cx.forbid_overwrite(),
        )
        .await?;
    cx.emit("ObjectCreated:CopyObject", bucket, key, &meta, previous);
    let mut doc = Doc::new("CopyObjectResult", false);
    doc.text("LastModified", iso_date(meta.last_modified))
        .text("ETag", quoted(&meta.etag));
    let mut r = xml_response(StatusCode::OK, doc.finish("CopyObjectResult"));
    set(&mut r, "etag", &quoted(&meta.etag));
    set(&mut r, "x-oss-hash-crc64ecma", &meta.crc64.to_string());
    Ok(r)
}

async fn delete_object(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    if let Some(size) = cx.sh.store.delete(bucket, key).await? {
        cx.sh.emit(
            "ObjectRemoved:DeleteObject",
            bucket,
            key,
            0,
            "",
            -(size as i64),
            &cx.peer.ip().to_string(),
            &cx.rid,
        );
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn delete_multiple(cx: &Ctx, bucket: &str, body: Body) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let body = read_small(body, MAX_XML_BODY, cx.payload_sha256()).await?;
    check_md5(cx, &Md5::digest(&body))?;
    let req: xml::DeleteRequest = xml::parse(&body)?;
    if req.objects.is_empty() || req.objects.len() > MAX_DELETE_KEYS {
        return Err(OssError::malformed_xml(format!(
            "Delete lists {} objects; 1 to {MAX_DELETE_KEYS} are allowed.",
            req.objects.len()
        )));
    }
    for o in &req.objects {
        store::check_key(&o.key)?;
    }
    let quiet = req
        .quiet
        .as_deref()
        .is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    let mut doc = Doc::new("DeleteResult", url);
    if url {
        doc.text("EncodingType", "url");
    }
    for o in &req.objects {
        if let Some(size) = cx.sh.store.delete(bucket, &o.key).await? {
            cx.sh.emit(
                "ObjectRemoved:DeleteObjects",
                bucket,
                &o.key,
                0,
                "",
                -(size as i64),
                &cx.peer.ip().to_string(),
                &cx.rid,
            );
        }
        if !quiet {
            doc.open("Deleted").name("Key", &o.key).close("Deleted");
        }
    }
    Ok(xml_response(StatusCode::OK, doc.finish("DeleteResult")))
}

// --- listing --------------------------------------------------------------

enum Entry {
    Object(String),
    Prefix(String),
}

async fn list_objects(cx: &Ctx, bucket: &str, v2: bool) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let prefix = cx.q("prefix").unwrap_or("").to_string();
    let delimiter = cx.q("delimiter").unwrap_or("").to_string();
    let max_keys: usize = match cx.q("max-keys") {
        None | Some("") => 100,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| OssError::invalid_argument("max-keys must be 1 to 1000."))?,
    };
    let token = match cx.q("continuation-token").filter(|t| !t.is_empty()) {
        Some(t) => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OssError::invalid_argument("The continuation token is not valid.")
                })?,
        ),
        None => None,
    };
    let start_after = if v2 {
        token
            .clone()
            .or_else(|| cx.q("start-after").map(str::to_string))
    } else {
        cx.q("marker").map(str::to_string)
    }
    .unwrap_or_default();

    let keys = cx.sh.store.keys(bucket).await?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut truncated = false;
    let mut last_prefix: Option<String> = None;
    for k in keys
        .iter()
        .filter(|k| k.starts_with(&prefix) && k.as_str() > start_after.as_str())
    {
        // Resuming after a common prefix: everything under it was rolled up already.
        if !delimiter.is_empty() && start_after.ends_with(&delimiter) && k.starts_with(&start_after)
        {
            continue;
        }
        let rolled = if delimiter.is_empty() {
            None
        } else {
            k[prefix.len()..]
                .find(&delimiter)
                .map(|i| k[..prefix.len() + i + delimiter.len()].to_string())
        };
        if rolled.is_some() && rolled == last_prefix {
            continue;
        }
        if entries.len() == max_keys {
            truncated = true;
            break;
        }
        match rolled {
            Some(p) => {
                last_prefix = Some(p.clone());
                entries.push(Entry::Prefix(p));
            }
            None => entries.push(Entry::Object(k.clone())),
        }
    }
    let next = entries.last().map(|e| match e {
        Entry::Object(k) | Entry::Prefix(k) => k.clone(),
    });

    let mut doc = Doc::new("ListBucketResult", url);
    doc.text("Name", bucket).name("Prefix", &prefix);
    if v2 {
        if let Some(t) = cx.q("continuation-token") {
            doc.text("ContinuationToken", t);
        }
        if let Some(s) = cx.q("start-after") {
            doc.name("StartAfter", s);
        }
    } else {
        doc.name("Marker", cx.q("marker").unwrap_or(""));
    }
    doc.text("MaxKeys", max_keys);
    if !delimiter.is_empty() {
        doc.name("Delimiter", &delimiter);
    }
    if url {
        doc.text("EncodingType", "url");
    }
    doc.text("IsTruncated", truncated);
    if truncated && let Some(n) = &next {
        if v2 {
            doc.text("NextContinuationToken", hex::encode(n));
        } else {
            doc.name("NextMarker", n);
        }
    }
    if v2 {
        doc.text("KeyCount", entries.len());
    }
    let owner = !v2 || cx.q("fetch-owner") == Some("true");
    for e in &entries {
        if let Entry::Object(k) = e {
            let Ok(meta) = cx.sh.store.head(bucket, k).await else {
                continue; // deleted meanwhile
            };
            doc.open("Contents")
                .name("Key", k)
                .text("LastModified", iso_date(meta.last_modified))
                .text("ETag", quoted(&meta.etag))
                .text("Type", &meta.object_type)
                .text("Size", meta.size)
                .text("StorageClass", "Standard");
            if owner {
                doc.open("Owner")
                    .text("ID", &cx.sh.account_id)
                    .text("DisplayName", &cx.sh.account_id)
                    .close("Owner");
            }
            doc.close("Contents");
        }
    }
    for e in &entries {
        if let Entry::Prefix(p) = e {
            doc.open("CommonPrefixes")
                .name("Prefix", p)
                .close("CommonPrefixes");
        }
    }
    Ok(xml_response(StatusCode::OK, doc.finish("ListBucketResult")))
}

fn list_buckets(cx: &Ctx) -> OssResult<Response> {
    let mut doc = Doc::new("ListAllMyBucketsResult", false);
    doc.open("Owner")
        .text("ID", &cx.sh.account_id)
        .text("DisplayName", &cx.sh.account_id)
        .close("Owner")
        .open("Buckets");
    for b in cx.sh.store.buckets() {
        doc.open("Bucket")
            .text("Name", &b)
            .text("CreationDate", iso_date(0))
            .text("Location", format!("oss-{}", cx.sh.region))
            .text("ExtranetEndpoint", &cx.host)
            .text("IntranetEndpoint", &cx.host)
            .text("Region", &cx.sh.region)
            .text("StorageClass", "Standard")
            .close("Bucket");
    }
    doc.close("Buckets");
    Ok(xml_response(
        StatusCode::OK,
        doc.finish("ListAllMyBucketsResult"),
    ))
}

// --- multipart ------------------------------------------------------------

fn upload_id(cx: &Ctx) -> &str {
    cx.q("uploadId").unwrap_or("")
}

async fn initiate(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let upload = Upload {
        bucket: bucket.to_string(),
        key: key.to_string(),
        attributes: attributes(cx, key),
        initiated: store::unix(cx.sh.now()),
    };
    let id = cx.sh.store.create_upload(&upload).await?;
    let mut doc = Doc::new("InitiateMultipartUploadResult", url);
    if url {
        doc.text("EncodingType", "url");
    }
    doc.text("Bucket", bucket)
        .name("Key", key)
        .text("UploadId", &id);
    Ok(xml_response(
        StatusCode::OK,
        doc.finish("InitiateMultipartUploadResult"),
    ))
}

async fn upload_part(cx: &Ctx, bucket: &str, key: &str, body: Body) -> OssResult<Response> {
    if cx.sh.take_part_503() {
        return Err(OssError::unavailable());
    }
    let number: u32 = cx
        .q("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument(format!("partNumber must be 1 to {MAX_PART_NUMBER}."))
        })?;
    let id = upload_id(cx).to_string();
    cx.sh.store.upload(&id, bucket, key).await?;
    let incoming = cx
        .sh
        .store
        .receive_checked(body.into_data_stream(), cx.payload_sha256())
        .await?;
    if let Err(e) = check_md5(cx, &incoming.md5) {
        let _ = tokio::fs::remove_file(&incoming.path).await;
        return Err(e);
    }
    let part = cx
        .sh
        .store
        .put_part(&id, number, incoming, cx.sh.now())
        .await?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "etag", &quoted(&part.etag));
    set(&mut r, "x-oss-hash-crc64ecma", &part.crc64.to_string());
    Ok(r)
}

async fn complete(cx: &Ctx, bucket: &str, key: &str, body: Body) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let id = upload_id(cx).to_string();
    let store = &cx.sh.store;
    let upload = store.upload(&id, bucket, key).await?;
    let uploaded = store.parts(&id).await?;
    let body = read_small(body, MAX_XML_BODY, cx.payload_sha256()).await?;
    let numbers: Vec<u32> = if cx
        .header("x-oss-complete-all")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    {
        if !body.is_empty() {
            return Err(OssError::invalid_argument(
                "With x-oss-complete-all: yes the body must be empty.",
            ));
        }
        uploaded.keys().copied().collect()
    } else {
        let req: xml::CompleteRequest = xml::parse(&body)?;
        let mut numbers = Vec::with_capacity(req.parts.len());
        for p in &req.parts {
            if numbers.last().is_some_and(|last| *last >= p.part_number) {
                return Err(OssError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidPartOrder",
                    "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
                ));
            }
            let known = uploaded.get(&p.part_number).ok_or_else(|| {
                OssError::new(StatusCode::BAD_REQUEST, "InvalidPart", "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.")
                    .with("PartNumber", p.part_number.to_string())
            })?;
            if !known
                .etag
                .eq_ignore_ascii_case(p.etag.trim().trim_matches('"'))
            {
                return Err(OssError::new(StatusCode::BAD_REQUEST, "InvalidPart", "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.")
                    .with("PartNumber", p.part_number.to_string()));
            }
            numbers.push(p.part_number);
        }
        numbers
    };
    if numbers.is_empty() {
        return Err(OssError::malformed_xml(
            "CompleteMultipartUpload lists no parts.",
        ));
    }
    for n in &numbers[..numbers.len() - 1] {
        let size = uploaded.get(n).map_or(0, |p| p.size);
        if size < MIN_PART_SIZE {
            return Err(OssError::new(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size.",
            )
            .with("PartNumber", n.to_string())
            .with("MinSizeAllowed", MIN_PART_SIZE.to_string()));
        }
    }
    // The multipart ETag: MD5 of the parts' binary MD5s, then "-<count>".
    let mut md5 = Md5::new();
    for n in &numbers {
        let part_md5 = uploaded
            .get(n)
            .and_then(|p| hex::decode(&p.etag).ok())
            .ok_or_else(|| OssError::internal("part metadata is damaged"))?;
        md5.update(&part_md5);
    }
    let etag = format!("{}-{}", hex::encode_upper(md5.finalize()), numbers.len());
    let incoming = store.assemble(&id, &numbers).await?;
    let (meta, previous) = store
        .commit(
            bucket,
            key,
            incoming,
            etag,
            "Multipart",
            upload.attributes,
            cx.sh.now(),
            cx.forbid_overwrite(),
        )
        .await?;
    store.remove_upload(&id).await?;
    cx.emit(
        "ObjectCreated:CompleteMultipartUpload",
        bucket,
        key,
        &meta,
        previous,
    );
    let mut doc = Doc::new("CompleteMultipartUploadResult", url);
    if url {
        doc.text("EncodingType", "url");
    }
    doc.text("Location", cx.object_url(bucket, key))
        .text("Bucket", bucket)
        .name("Key", key)
        .text("ETag", quoted(&meta.etag));
    let mut r = xml_response(StatusCode::OK, doc.finish("CompleteMultipartUploadResult"));
    set(&mut r, "etag", &quoted(&meta.etag));
    set(&mut r, "x-oss-hash-crc64ecma", &meta.crc64.to_string());
    Ok(r)
}

async fn abort(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    let id = upload_id(cx).to_string();
    cx.sh.store.upload(&id, bucket, key).await?;
    if !cx.sh.store.remove_upload(&id).await? {
        return Err(OssError::no_such_upload(&id));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn list_parts(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let id = upload_id(cx).to_string();
    cx.sh.store.upload(&id, bucket, key).await?;
    let parts = cx.sh.store.parts(&id).await?;
    let marker: u32 = cx
        .q("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max: usize = cx
        .q("max-parts")
        .and_then(|m| m.parse().ok())
        .filter(|m| (1..=1000).contains(m))
        .unwrap_or(1000);
    let after: Vec<(&u32, &store::Part)> = parts.range(marker.saturating_add(1)..).collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];
    let mut doc = Doc::new("ListPartsResult", url);
    if url {
        doc.text("EncodingType", "url");
    }
    doc.text("Bucket", bucket)
        .name("Key", key)
        .text("UploadId", &id)
        .text("PartNumberMarker", marker)
        .text("NextPartNumberMarker", page.last().map_or(0, |(n, _)| **n))
        .text("MaxParts", max)
        .text("IsTruncated", truncated);
    for (n, p) in page {
        doc.open("Part")
            .text("PartNumber", n)
            .text("LastModified", iso_date(p.last_modified))
            .text("ETag", quoted(&p.etag))
            .text("HashCrc64ecma", p.crc64)
            .text("Size", p.size)
            .close("Part");
    }
    Ok(xml_response(StatusCode::OK, doc.finish("ListPartsResult")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_oss_rules() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        // Malformed ranges are ignored: the whole object is served.
        assert_eq!(parse_range("bytes=9-3", 100), None);
        assert_eq!(parse_range("bytes=a-b", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,4-5", 100), None);
    }

    #[test]
    fn targets_from_path_and_host() {
        let bases = vec!["localhost".to_string()];
        let t = |host: &str, path: &str| {
            let t = target(&bases, host, path).unwrap();
            (t.bucket, t.key, t.virtual_host)
        };
        let path = |b: &str, k: Option<&str>| (Some(b.to_string()), k.map(str::to_string), false);
        let virt = |b: &str, k: Option<&str>| (Some(b.to_string()), k.map(str::to_string), true);
        // Path style: an IP, localhost, an unknown name, a bare OSS endpoint.
        assert_eq!(
            t("127.0.0.1:9", "/b/a%20b/c%2Bd"),
            path("b", Some("a b/c+d"))
        );
        assert_eq!(t("127.0.0.1:9", "/b/"), path("b", None));
        assert_eq!(t("127.0.0.1:9", "/"), (None, None, false));
        assert_eq!(t("[::1]:9", "/b/k"), path("b", Some("k")));
        assert_eq!(t("localhost:9", "/b/k"), path("b", Some("k")));
        assert_eq!(t("example.com", "/b/k"), path("b", Some("k")));
        assert_eq!(t("other.example.com", "/b/k"), path("b", Some("k")));
        assert_eq!(
            t("oss-cn-hangzhou.aliyuncs.com", "/b/k"),
            path("b", Some("k"))
        );
        assert_eq!(
            t("cn-hangzhou.oss.aliyuncs.com", "/b/k"),
            path("b", Some("k"))
        );
        assert_eq!(t("ecs.aliyuncs.com", "/b/k"), path("b", Some("k")));
        assert_eq!(t("x.ecs.aliyuncs.com", "/b/k"), path("b", Some("k")));
        // Virtual-hosted style: the Host's first label is the bucket and the
        // whole path is the key.
        assert_eq!(t("vb.localhost:9", "/x/y"), virt("vb", Some("x/y")));
        assert_eq!(t("VB.LocalHost", "/x%20y"), virt("vb", Some("x y")));
        assert_eq!(t("vb.localhost:9", "/"), virt("vb", None));
        assert_eq!(
            t("media-in.oss-cn-hangzhou.aliyuncs.com", "/source/a.mp4"),
            virt("media-in", Some("source/a.mp4"))
        );
        assert_eq!(
            t("media-in.oss-cn-hangzhou-internal.aliyuncs.com:80", "/k"),
            virt("media-in", Some("k"))
        );
        assert_eq!(
            t("media-in.oss-accelerate.aliyuncs.com", "/k"),
            virt("media-in", Some("k"))
        );
        assert_eq!(
            t("media-in.cn-hangzhou.oss.aliyuncs.com", "/k"),
            virt("media-in", Some("k"))
        );
        // A key that looks like a bucket and key stays whole.
        assert_eq!(
            t("media-in.localhost", "/media-in/k"),
            virt("media-in", Some("media-in/k"))
        );
        // Deeper names are not `<bucket>.<endpoint>`.
        assert_eq!(t("a.b.localhost", "/b/k"), path("b", Some("k")));
        assert!(target(&bases, "h", "/b/%FF").is_err());
        assert!(target(&bases, "vb.localhost", "/%FF").is_err());
    }

    /// A PutObject as ali-oss 6.23 sends it to an IP endpoint (key alone as
    /// the path, bucket in the Host) and signs it: the V4 and V1 signatures
    /// below come from its lib/common/signUtils.js (`authorizationV4`,
    /// `authorization`), both over `/media-in/source/a b+ü.mp4`.
    #[test]
    fn virtual_hosted_requests_verify_with_the_clients_signatures() {
        use super::super::auth::KeyRing;
        use vpf_core::credentials::Credentials;

        let bases = vec!["localhost".to_string()];
        let mut ring = KeyRing::default();
        ring.add_static(&Credentials::new("testid", "yourAccessKeySecret"));
        let signed_at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_744_353_684);
        let path = "/source/a%20b%2B%C3%BC.mp4";
        let check = |host: &str, date: &str, authorization: &str| {
            let mut h = HeaderMap::new();
            h.insert("host", host.parse().unwrap());
            h.insert("x-oss-date", date.parse().unwrap());
            h.insert("content-type", "video/mp4".parse().unwrap());
            h.insert("content-md5", "ICy5YqxZB1uWSwcVLSNLcA==".parse().unwrap());
            if date.starts_with("2025") {
                h.insert("x-oss-content-sha256", "UNSIGNED-PAYLOAD".parse().unwrap());
            }
            h.insert("authorization", authorization.parse().unwrap());
            let t = target(&bases, host, path).unwrap();
            let view = RequestView {
                method: &Method::PUT,
                bucket: t.bucket.as_deref(),
                key: t.key.as_deref(),
                query: &[],
                headers: &h,
            };
            ring.verify(&view, "cn-hangzhou", true, signed_at)
                .map(|_| (t.bucket.unwrap(), t.key.unwrap()))
                .map_err(|e| e.code)
        };
        let v4 = (
            "20250411T064124Z",
            "OSS4-HMAC-SHA256 Credential=testid/20250411/cn-hangzhou/oss/aliyun_v4_request,Signature=92f7678e7a3630d71f637fcb8cbf847409c458488c47f301f864ba3059f994f2",
        );
        let v1 = (
            "Fri, 11 Apr 2025 06:41:24 GMT",
            "OSS testid:8UWwJviG+Rw35Bwit9qyExpCOuo=",
        );
        let expected = ("media-in".to_string(), "source/a b+ü.mp4".to_string());
        for (date, auth) in [v4, v1] {
            assert_eq!(
                check("media-in.oss-cn-hangzhou.aliyuncs.com", date, auth),
                Ok(expected.clone())
            );
            assert_eq!(
                check("media-in.localhost:9100", date, auth),
                Ok(expected.clone())
            );
            // Read as path style (bucket `source`), the same request no
            // longer matches its signature.
            assert_eq!(
                check("127.0.0.1:9100", date, auth),
                Err("SignatureDoesNotMatch")
            );
        }
    }

    #[test]
    fn query_plus_is_a_space_and_percent_is_a_byte() {
        let q = parse_query(Some("prefix=a+b%2Bc%2F&uploads&x="));
        assert_eq!(q[0], ("prefix".into(), "a b+c/".into()));
        assert_eq!(q[1], ("uploads".into(), "".into()));
        assert_eq!(q[2], ("x".into(), "".into()));
    }
}
