//! The OSS client: a thin layer over reqwest. Every request is signed afresh
//! (V4) on each attempt; bodies stream from files and to files; throttling,
//! server errors and dropped connections are retried with backoff.

use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;
use vpf_core::content_type::content_type_for;
use vpf_core::nas::temp_sibling;
use vpf_core::{Error, ErrorKind, Result};

use crate::config::{Credentials, MIB, OssConfig, internal_endpoint};
use crate::crc64::Crc64;
use crate::request::{Endpoint, presign, sign};
use crate::xml;
use crate::{ObjectMeta, ObjectStore, PutOutcome};

const CRC_HEADER: &str = "x-oss-hash-crc64ecma";
const REQUEST_ID: &str = "x-oss-request-id";
/// OSS refuses parts below 100 KiB (except the last) and more than 10,000 parts.
const MIN_PART: u64 = 100 * 1024;
const MAX_PARTS: u64 = 10_000;
/// Error bodies are small XML; never read more than this of one.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// `get_range` holds the bytes in memory; refuse ranges larger than this.
pub const MAX_RANGE_BYTES: u64 = 256 * MIB;

/// An OSS client for one endpoint and one set of credentials.
#[derive(Debug, Clone)]
pub struct OssClient {
    http: reqwest::Client,
    cfg: Arc<OssConfig>,
    endpoint: Endpoint,
}

/// What a request sends.
#[derive(Clone)]
enum Payload {
    Empty,
    Bytes(Bytes),
    /// `len` bytes of `path` from `offset`, streamed.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl Payload {
    fn len(&self) -> Option<u64> {
        match self {
            Payload::Empty => None,
            Payload::Bytes(b) => Some(b.len() as u64),
            Payload::File { len, .. } => Some(*len),
        }
    }
}

/// One OSS operation, as data, so that it can be signed and sent again.
struct Call<'a> {
    op: &'static str,
    method: Method,
    bucket: &'a str,
    key: Option<&'a str>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    payload: Payload,
    /// Streams a large body: no whole-request timeout (the idle limit applies).
    long: bool,
}

impl<'a> Call<'a> {
    fn new(op: &'static str, method: Method, bucket: &'a str, key: Option<&'a str>) -> Self {
        Call {
            op,
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: HeaderMap::new(),
            payload: Payload::Empty,
            long: false,
        }
    }

    fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_string(), v.into()));
        self
    }

    fn header(mut self, name: HeaderName, value: &str) -> Result<Self> {
        let v = HeaderValue::from_str(value)
            .map_err(|_| Error::invalid(format!("{name} value {value:?} is not a valid header")))?;
        self.headers.insert(name, v);
        Ok(self)
    }

    fn what(&self) -> String {
        match self.key {
            Some(k) => format!("OSS {} {}/{}", self.op, self.bucket, k),
            None => format!("OSS {} {}", self.op, self.bucket),
        }
    }
}

/// The running CRC of the bytes a request body actually sent.
type SentCrc = Arc<Mutex<Crc64>>;

impl OssClient {
    pub fn new(cfg: OssConfig) -> Result<OssClient> {
        let endpoint = Endpoint::parse(&cfg.endpoint, cfg.path_style)?;
        if cfg.region.is_empty() {
            return Err(Error::invalid(
                "OSS region is empty: V4 signatures need it (e.g. cn-hangzhou)",
            ));
        }
        if cfg.credentials.access_key_id.is_empty() || cfg.credentials.access_key_secret.is_empty()
        {
            return Err(Error::invalid("OSS credentials are empty"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeouts.connect)
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::internal(format!("building the HTTP client: {e}")))?;
        Ok(OssClient {
            http,
            cfg: Arc::new(cfg),
            endpoint,
        })
    }

    /// The client a function uses: `endpoint` when given (the local emulator,
    /// a public endpoint), otherwise the region's internal endpoint, since FC
    /// runs inside the region's network. Other settings are the defaults.
    pub fn for_region(
        endpoint: Option<&str>,
        region: &str,
        credentials: Credentials,
    ) -> Result<OssClient> {
        let endpoint = match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => e.to_string(),
            None => internal_endpoint(region),
        };
        OssClient::new(OssConfig::new(endpoint, region, credentials))
    }

    /// The client of one FC invocation: its region and its role's
    /// credentials (they rotate, so each call makes its own), `endpoint` as
    /// in [`OssClient::for_region`].
    #[cfg(feature = "fc")]
    pub fn for_invocation(endpoint: Option<&str>, ctx: &fc_runtime::Context) -> Result<OssClient> {
        OssClient::for_region(endpoint, &ctx.region, vpf_core::fc::credentials(ctx)?)
    }

    pub fn config(&self) -> &OssConfig {
        &self.cfg
    }

    /// Object metadata, or `None` when the object does not exist.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        check(bucket, key)?;
        let call = Call::new("HeadObject", Method::HEAD, bucket, Some(key));
        let (resp, _) = match self.send(&call).await {
            Ok(r) => r,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let h = resp.headers();
        let size = header_str(h, CONTENT_LENGTH.as_str())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| Error::storage(format!("{}: no Content-Length", call.what())))?;
        Ok(Some(ObjectMeta {
            key: key.to_string(),
            size,
            etag: header_str(h, ETAG.as_str())
                .map(xml::unquote)
                .unwrap_or_default(),
            content_type: header_str(h, CONTENT_TYPE.as_str()).map(str::to_string),
            last_modified: header_str(h, "last-modified").map(str::to_string),
        }))
    }

    /// Download to `path`, streaming: the bytes go to a hidden temporary file
    /// beside `path` that is renamed into place only when complete and
    /// checked, so `path` never holds half an object. A connection dropped
    /// mid-body resumes with a Range request pinned to the same ETag.
    /// Returns the number of bytes written.
    pub async fn get_to_file(&self, bucket: &str, key: &str, path: &Path) -> Result<u64> {
        check(bucket, key)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        let tmp = temp_sibling(path);
        let result = self.download(bucket, key, &tmp).await;
        match result {
            Ok(n) => match tokio::fs::rename(&tmp, path).await {
                Ok(()) => Ok(n),
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    async fn download(&self, bucket: &str, key: &str, tmp: &Path) -> Result<u64> {
        let file = tokio::fs::File::create(tmp).await?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let mut written: u64 = 0;
        let mut crc = Crc64::new();
        // Learned from the first answer and checked on every resumed one.
        let mut total: Option<u64> = None;
        let mut etag: Option<String> = None;
        let mut server_crc: Option<u64> = None;
        let mut stalls = 0u32;
        let what = format!("OSS GetObject {bucket}/{key}");
        loop {
            let mut call = Call::new("GetObject", Method::GET, bucket, Some(key));
            call.long = true;
            if written > 0 {
                call = call.header(http::header::RANGE, &format!("bytes={written}-"))?;
                if let Some(e) = &etag {
                    call = call.header(http::header::IF_MATCH, &format!("\"{e}\""))?;
                }
            }
            let (mut resp, _) = self.send(&call).await?;
            let status = resp.status();
            if written > 0 && status == StatusCode::OK {
                // The server ignored the range: start over.
                out.flush().await?;
                out.get_mut().set_len(0).await?;
                out.get_mut().seek(SeekFrom::Start(0)).await?;
                written = 0;
                crc = Crc64::new();
            }
            if written == 0 {
                total = header_str(resp.headers(), CONTENT_LENGTH.as_str())
                    .and_then(|v| v.parse().ok());
                etag = header_str(resp.headers(), ETAG.as_str()).map(xml::unquote);
                server_crc = header_str(resp.headers(), CRC_HEADER).and_then(|v| v.parse().ok());
            } else {
                let start = header_str(resp.headers(), "content-range")
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if status != StatusCode::PARTIAL_CONTENT || start != Some(written) {
                    return Err(Error::storage(format!(
                        "{what}: resuming at byte {written} got HTTP {status} from {start:?}"
                    )));
                }
            }
            let before = written;
            let mut dropped = None;
            loop {
                match next_chunk(&mut resp, self.cfg.timeouts.idle).await {
                    Ok(Some(chunk)) => {
                        out.write_all(&chunk).await?;
                        crc.update(&chunk);
                        written += chunk.len() as u64;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        dropped = Some(e);
                        break;
                    }
                }
            }
            let short = total.is_some_and(|t| written < t);
            if dropped.is_none() && !short {
                break;
            }
            // Only attempts that make no progress count against the limit,
            // so a long download over a flaky link still finishes.
            stalls = if written > before { 1 } else { stalls + 1 };
            let reason = dropped.unwrap_or_else(|| "body ended early".to_string());
            if stalls >= self.cfg.retry.max_attempts {
                return Err(Error::storage(format!(
                    "{what}: connection dropped at byte {written}: {reason}"
                )));
            }
            tracing::warn!(bucket, key, written, %reason, "download interrupted; resuming");
            tokio::time::sleep(self.cfg.retry.delay(stalls)).await;
        }
        if let Some(t) = total.filter(|t| *t != written) {
            return Err(Error::storage(format!(
                "{what}: got {written} bytes of {t}"
            )));
        }
        if let Some(expected) = server_crc.filter(|c| *c != crc.value()) {
            return Err(Error::storage(format!(
                "{what}: CRC64 of the downloaded bytes {} differs from OSS's {expected}",
                crc.value()
            )));
        }
        out.flush().await?;
        out.get_mut().sync_all().await?;
        Ok(written)
    }

    /// Bytes `range.start..range.end` of an object (end exclusive, clamped to
    /// the object's size by OSS). At most [`MAX_RANGE_BYTES`].
    pub async fn get_range(&self, bucket: &str, key: &str, range: Range<u64>) -> Result<Bytes> {
        check(bucket, key)?;
        if range.start >= range.end || range.end - range.start > MAX_RANGE_BYTES {
            return Err(Error::invalid(format!(
                "byte range {range:?} is empty or larger than {MAX_RANGE_BYTES}"
            )));
        }
        let call = Call::new("GetObject", Method::GET, bucket, Some(key)).header(
            http::header::RANGE,
            &format!("bytes={}-{}", range.start, range.end - 1),
        )?;
        let (mut resp, _) = self.send(&call).await?;
        if resp.status() != StatusCode::PARTIAL_CONTENT {
            return Err(Error::storage(format!(
                "{}: asked for bytes {range:?}, got HTTP {} instead of 206",
                call.what(),
                resp.status()
            )));
        }
        let cap = (range.end - range.start) as usize;
        let mut buf = BytesMut::with_capacity(cap.min(8 * MIB as usize));
        while let Some(chunk) = next_chunk(&mut resp, self.cfg.timeouts.idle)
            .await
            .map_err(|e| Error::storage(format!("{}: {e}", call.what())))?
        {
            if buf.len() + chunk.len() > cap {
                return Err(Error::storage(format!(
                    "{}: more bytes than asked for",
                    call.what()
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Upload a file, streaming. Files above `multipart_threshold` go up in
    /// parts (aborted on failure, so no parts linger).
    pub async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> Result<PutOutcome> {
        check(bucket, key)?;
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?
            .len();
        let content_type = content_type.unwrap_or_else(|| content_type_for(key));
        if size > self.cfg.multipart_threshold {
            return self
                .put_multipart(bucket, key, path, size, content_type)
                .await;
        }
        let mut call = Call::new("PutObject", Method::PUT, bucket, Some(key))
            .header(CONTENT_TYPE, content_type)?;
        call.payload = Payload::File {
            path: path.to_path_buf(),
            offset: 0,
            len: size,
        };
        call.long = true;
        let (resp, sent) = self.send(&call).await?;
        verify_crc(&call, resp.headers(), sent.as_ref())?;
        Ok(PutOutcome {
            etag: header_str(resp.headers(), ETAG.as_str())
                .map(xml::unquote)
                .unwrap_or_default(),
            size,
        })
    }

    /// Upload bytes held in memory (manifests, playlists: small things).
    pub async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<PutOutcome> {
        check(bucket, key)?;
        let size = body.len() as u64;
        let mut call = Call::new("PutObject", Method::PUT, bucket, Some(key)).header(
            CONTENT_TYPE,
            content_type.unwrap_or_else(|| content_type_for(key)),
        )?;
        call.payload = Payload::Bytes(body);
        let (resp, sent) = self.send(&call).await?;
        verify_crc(&call, resp.headers(), sent.as_ref())?;
        Ok(PutOutcome {
            etag: header_str(resp.headers(), ETAG.as_str())
                .map(xml::unquote)
                .unwrap_or_default(),
            size,
        })
    }

    async fn put_multipart(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> Result<PutOutcome> {
        let part_size = self
            .cfg
            .part_size
            .max(MIN_PART)
            .max(size.div_ceil(MAX_PARTS));
        let init = Call::new("InitiateMultipartUpload", Method::POST, bucket, Some(key))
            .query("uploads", "")
            .header(CONTENT_TYPE, content_type)?;
        let (resp, _) = self.send(&init).await?;
        let body = read_text(resp, &init).await?;
        let upload_id =
            xml::parse::<xml::InitiateResult>("InitiateMultipartUpload", &body)?.upload_id;

        let parts: Vec<(u32, u64, u64)> = (0..size.div_ceil(part_size))
            .map(|i| {
                let offset = i * part_size;
                ((i + 1) as u32, offset, part_size.min(size - offset))
            })
            .collect();
        let uploaded: Result<Vec<(u32, String)>> =
            futures_util::stream::iter(parts.into_iter().map(|(n, offset, len)| {
                self.upload_part(bucket, key, &upload_id, n, path, offset, len)
            }))
            .buffer_unordered(self.cfg.part_concurrency.max(1))
            .try_collect()
            .await;
        let mut uploaded = match uploaded {
            Ok(u) => u,
            Err(e) => {
                self.abort_multipart(bucket, key, &upload_id).await;
                return Err(e);
            }
        };
        uploaded.sort_by_key(|(n, _)| *n);

        let mut doc = String::from("<CompleteMultipartUpload>");
        for (n, etag) in &uploaded {
            doc.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>\"{}\"</ETag></Part>",
                xml::escape(etag)
            ));
        }
        doc.push_str("</CompleteMultipartUpload>");
        let mut complete = Call::new("CompleteMultipartUpload", Method::POST, bucket, Some(key))
            .query("uploadId", upload_id.clone())
            .header(CONTENT_TYPE, "application/xml")?;
        complete.payload = Payload::Bytes(Bytes::from(doc));
        let resp = match self.send(&complete).await {
            Ok((resp, _)) => resp,
            Err(e) => {
                self.abort_multipart(bucket, key, &upload_id).await;
                return Err(e);
            }
        };
        let header_etag = header_str(resp.headers(), ETAG.as_str()).map(xml::unquote);
        let body = read_text(resp, &complete).await?;
        let etag = match header_etag {
            Some(e) if !e.is_empty() => e,
            _ => xml::parse::<xml::CompleteResult>("CompleteMultipartUpload", &body)?
                .etag
                .map(|e| xml::unquote(&e))
                .unwrap_or_default(),
        };
        Ok(PutOutcome { etag, size })
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        n: u32,
        path: &Path,
        offset: u64,
        len: u64,
    ) -> Result<(u32, String)> {
        let mut call = Call::new("UploadPart", Method::PUT, bucket, Some(key))
            .query("partNumber", n.to_string())
            .query("uploadId", upload_id);
        call.payload = Payload::File {
            path: path.to_path_buf(),
            offset,
            len,
        };
        call.long = true;
        let (resp, sent) = self.send(&call).await?;
        verify_crc(&call, resp.headers(), sent.as_ref())?;
        let etag = header_str(resp.headers(), ETAG.as_str())
            .map(xml::unquote)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| Error::storage(format!("{} part {n}: no ETag", call.what())))?;
        Ok((n, etag))
    }

    /// Best effort: the upload failed already; a failed abort only leaves
    /// parts that the bucket's lifecycle rules clean up.
    async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) {
        let call = Call::new("AbortMultipartUpload", Method::DELETE, bucket, Some(key))
            .query("uploadId", upload_id);
        if let Err(e) = self.send(&call).await {
            tracing::warn!(bucket, key, error = %e, "aborting a failed multipart upload failed");
        }
    }

    /// Delete an object. Deleting a missing object succeeds, as in OSS.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        check(bucket, key)?;
        let call = Call::new("DeleteObject", Method::DELETE, bucket, Some(key));
        match self.send(&call).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object whose key starts with `prefix`, in key order (ListObjectsV2,
    /// following continuation tokens). `content_type` is `None` in listings.
    pub async fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        vpf_core::keys::validate_bucket(bucket)?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = Call::new("ListObjectsV2", Method::GET, bucket, None)
                .query("list-type", "2")
                .query("max-keys", "1000")
                .query("encoding-type", "url")
                .query("prefix", prefix);
            if let Some(t) = &token {
                call = call.query("continuation-token", t.clone());
            }
            let (resp, _) = self.send(&call).await?;
            let body = read_text(resp, &call).await?;
            let page: xml::ListV2 = xml::parse("ListObjectsV2", &body)?;
            let encoded = page.encoding_type.as_deref() == Some("url");
            for c in page.contents {
                out.push(ObjectMeta {
                    key: if encoded {
                        xml::url_decoded(&c.key)?
                    } else {
                        c.key
                    },
                    size: c.size,
                    etag: xml::unquote(&c.etag),
                    content_type: None,
                    last_modified: c.last_modified,
                });
            }
            if !page.is_truncated {
                return Ok(out);
            }
            let next = page
                .next_continuation_token
                .filter(|t| !t.is_empty())
                .map(|t| if encoded { xml::url_decoded(&t) } else { Ok(t) })
                .transpose()?;
            match next {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => {
                    return Err(Error::storage(format!(
                        "{}: truncated listing without a new continuation token",
                        call.what()
                    )));
                }
            }
        }
    }

    /// A V4 presigned URL for `method` on the object, valid for `expires`
    /// (OSS allows at most 7 days).
    pub async fn presign_url(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        expires: Duration,
    ) -> Result<String> {
        check(bucket, key)?;
        let url = self.endpoint.url(bucket, Some(key), &[]);
        presign(
            method,
            &url,
            bucket,
            &self.cfg.region,
            &self.cfg.credentials,
            expires,
        )
        .await
    }

    /// A signed request for operations this client has no method for (and
    /// for tests that tamper with a signed request before sending it).
    /// `headers` are signed as given; Content-Length is set from `body`.
    /// Send it with [`OssClient::http`] or any client.
    pub async fn signed_request(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Request> {
        vpf_core::keys::validate_bucket(bucket)?;
        let mut call = Call::new("Request", method, bucket, key);
        for (k, v) in query {
            call = call.query(k, *v);
        }
        call.headers = headers;
        if !body.is_empty() {
            call.payload = Payload::Bytes(body);
        }
        Ok(self.build(&call).await?.0)
    }

    /// The HTTP client this OSS client sends with.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sign and send `call`, retrying 429, 5xx and transport failures. Answers
    /// other than 2xx become errors (404 NoSuchKey: `NotFound`; anything else:
    /// `StorageError` with OSS's code, message and request id).
    async fn send(&self, call: &Call<'_>) -> Result<(reqwest::Response, Option<SentCrc>)> {
        let max = self.cfg.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let (req, sent) = self.build(call).await?;
            // A download has no whole-request limit (see `build`); bound the
            // wait for its answer here, and its body chunk by chunk.
            let limit = self.cfg.timeouts.request;
            let answer = if call.long && call.payload.len().is_none() {
                match tokio::time::timeout(limit, self.http.execute(req)).await {
                    Ok(r) => r.map_err(|e| error_chain(&e)),
                    Err(_) => Err(format!("no answer within {limit:?}")),
                }
            } else {
                self.http.execute(req).await.map_err(|e| error_chain(&e))
            };
            let err = match answer {
                Ok(resp) if resp.status().is_success() => {
                    tracing::debug!(op = call.op, bucket = call.bucket, key = call.key, status = %resp.status(), attempt, "OSS request done");
                    return Ok((resp, sent));
                }
                Ok(resp) => {
                    let status = resp.status();
                    let retry = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    let e = error_from(call, resp).await;
                    if !retry {
                        return Err(e);
                    }
                    e
                }
                Err(e) => Error::storage(format!("{}: {e}", call.what())),
            };
            if attempt >= max {
                return Err(err.context(format_args!("after {attempt} attempts")));
            }
            tracing::warn!(op = call.op, bucket = call.bucket, key = call.key, attempt, error = %err.message, "OSS request failed; retrying");
            tokio::time::sleep(self.cfg.retry.delay(attempt)).await;
            attempt += 1;
        }
    }

    async fn build(&self, call: &Call<'_>) -> Result<(reqwest::Request, Option<SentCrc>)> {
        let url = self.endpoint.url(call.bucket, call.key, &call.query);
        let mut parts = http::Request::builder()
            .method(call.method.clone())
            .uri(&url)
            .body(())
            .map_err(|e| Error::invalid(format!("{}: bad URL: {e}", call.what())))?
            .into_parts()
            .0;
        parts.headers = call.headers.clone();
        if let Some(len) = call.payload.len() {
            parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        sign(
            &mut parts,
            call.bucket,
            &self.cfg.region,
            &self.cfg.credentials,
        )
        .await?;
        let url = reqwest::Url::parse(&url)
            .map_err(|e| Error::invalid(format!("{}: bad URL: {e}", call.what())))?;
        let mut req = reqwest::Request::new(parts.method, url);
        *req.headers_mut() = parts.headers;
        match (call.long, call.payload.len()) {
            (false, _) => *req.timeout_mut() = Some(self.cfg.timeouts.request),
            (true, Some(len)) => *req.timeout_mut() = Some(self.cfg.timeouts.upload(len)),
            (true, None) => {}
        }
        let sent = match &call.payload {
            Payload::Empty => None,
            Payload::Bytes(b) => {
                let mut crc = Crc64::new();
                crc.update(b);
                *req.body_mut() = Some(reqwest::Body::from(b.clone()));
                Some(Arc::new(Mutex::new(crc)))
            }
            Payload::File { path, offset, len } => {
                let mut f = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| Error::internal(format!("opening {}: {e}", path.display())))?;
                f.seek(SeekFrom::Start(*offset)).await?;
                let crc: SentCrc = Arc::new(Mutex::new(Crc64::new()));
                let tap = crc.clone();
                let stream =
                    ReaderStream::with_capacity(tokio::io::AsyncReadExt::take(f, *len), 256 * 1024)
                        .inspect_ok(move |chunk| {
                            tap.lock().unwrap_or_else(|p| p.into_inner()).update(chunk);
                        });
                *req.body_mut() = Some(reqwest::Body::wrap_stream(stream));
                Some(crc)
            }
        };
        Ok((req, sent))
    }
}

impl ObjectStore for OssClient {
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        self.head_object(bucket, key).await
    }
    async fn get_to_file(&self, bucket: &str, key: &str, path: &Path) -> Result<u64> {
        OssClient::get_to_file(self, bucket, key, path).await
    }
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> Result<PutOutcome> {
        OssClient::put_file(self, bucket, key, path, content_type).await
    }
    async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<PutOutcome> {
        OssClient::put_bytes(self, bucket, key, body, content_type).await
    }
    async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.delete_object(bucket, key).await
    }
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.list_objects(bucket, prefix).await
    }
}

/// Refuse what OSS would refuse, and keys with `.`/`..` segments: HTTP stacks
/// collapse those in URLs, so the request would name a different object.
fn check(bucket: &str, key: &str) -> Result<()> {
    vpf_core::keys::validate_bucket(bucket)?;
    vpf_core::keys::validate_key(key)
}

fn header_str<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn verify_crc(call: &Call<'_>, headers: &HeaderMap, sent: Option<&SentCrc>) -> Result<()> {
    let (Some(server), Some(sent)) = (
        header_str(headers, CRC_HEADER).and_then(|v| v.parse::<u64>().ok()),
        sent,
    ) else {
        return Ok(());
    };
    let ours = sent.lock().unwrap_or_else(|p| p.into_inner()).value();
    if ours != server {
        return Err(Error::storage(format!(
            "{}: OSS stored bytes with CRC64 {server}, we sent {ours}",
            call.what()
        )));
    }
    Ok(())
}

/// The next chunk of a body, or an error after `idle` without one.
async fn next_chunk(
    resp: &mut reqwest::Response,
    idle: Duration,
) -> std::result::Result<Option<Bytes>, String> {
    match tokio::time::timeout(idle, resp.chunk()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(error_chain(&e)),
        Err(_) => Err(format!("no data for {idle:?}")),
    }
}

/// A response body as text, at most a few MiB (listings, XML results).
async fn read_text(mut resp: reqwest::Response, call: &Call<'_>) -> Result<String> {
    const MAX: usize = 16 * MIB as usize;
    let mut buf = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::storage(format!("{}: {}", call.what(), error_chain(&e))))?
    {
        if buf.len() + chunk.len() > MAX {
            return Err(Error::storage(format!(
                "{}: answer larger than {MAX} bytes",
                call.what()
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf)
        .map_err(|_| Error::storage(format!("{}: answer is not UTF-8", call.what())))
}

/// Turn an OSS error answer into our error, with OSS's code, message and
/// request id (and nothing from our request: no credentials, no signature).
async fn error_from(call: &Call<'_>, mut resp: reqwest::Response) -> Error {
    let status = resp.status();
    let header_id = header_str(resp.headers(), REQUEST_ID).map(str::to_string);
    // HEAD answers have no body; OSS puts the error document, base64, here.
    let head_err = header_str(resp.headers(), "x-oss-err").and_then(decode_base64);
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            break;
        }
    }
    let text = head_err.unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let doc: xml::ErrorXml = quick_xml::de::from_str(&text).unwrap_or_default();
    // 404 without an OSS document (a HEAD answer) on an object means no such key.
    let not_found = status == StatusCode::NOT_FOUND
        && match doc.code.as_deref() {
            Some(code) => code == "NoSuchKey",
            None => call.key.is_some(),
        };
    let code = doc.code.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("Error")
            .replace(' ', "")
    });
    let message = doc.message.unwrap_or_default();
    let request_id = doc.request_id.or(header_id).unwrap_or_else(|| "-".into());
    let kind = if not_found {
        ErrorKind::NotFound
    } else {
        ErrorKind::StorageError
    };
    Error::new(
        kind,
        format!(
            "{}: HTTP {} {code}: {message} (RequestId {request_id})",
            call.what(),
            status.as_u16()
        ),
    )
}

fn decode_base64(s: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
}

/// A transport error with its causes ("error sending request" alone says
/// nothing). URLs are left out: they are ours and carry no secret, but they
/// are long.
fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_header_decodes() {
        assert_eq!(decode_base64("PEVycm9yLz4=").as_deref(), Some("<Error/>"));
        assert_eq!(decode_base64("!!"), None);
    }

    #[test]
    fn client_refuses_bad_config_and_keys() {
        let ok = OssConfig::new(
            "http://127.0.0.1:1",
            "cn-hangzhou",
            Credentials::new("a", "b"),
        );
        assert!(OssClient::new(ok.clone()).is_ok());
        let mut no_region = ok.clone();
        no_region.region.clear();
        assert!(OssClient::new(no_region).is_err());
        let no_keys = OssConfig::new(
            "http://127.0.0.1:1",
            "cn-hangzhou",
            Credentials::new("", ""),
        );
        assert!(OssClient::new(no_keys).is_err());
        let fc = OssClient::for_region(None, "cn-hangzhou", Credentials::new("a", "b")).unwrap();
        assert_eq!(
            fc.config().endpoint,
            "https://oss-cn-hangzhou-internal.aliyuncs.com"
        );
        let local = OssClient::for_region(
            Some("http://127.0.0.1:9"),
            "cn-hangzhou",
            Credentials::new("a", "b"),
        )
        .unwrap();
        assert_eq!(local.config().endpoint, "http://127.0.0.1:9");
        for key in ["", "/abs", "a/../b", "a/./b", "nul\0"] {
            assert!(check("bucket", key).is_err(), "{key:?}");
        }
        assert!(check("Bad_Bucket", "k").is_err());
        assert!(check("bucket", "a b/ü+%.mp4").is_ok());
    }
}
