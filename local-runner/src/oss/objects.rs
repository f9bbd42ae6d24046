//! Objects: PutObject, GetObject (Range, If-Match, If-None-Match),
//! HeadObject, GetObjectMeta, DeleteObject and DeleteMultipleObjects.

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use futures_util::StreamExt;
use http::header::HeaderValue;
use http::{Method, StatusCode};
use md5::{Digest, Md5};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::body::{MAX_XML_BODY, check_md5, parse_xml, read_small};
use super::error::{OssError, OssResult};
use super::request::Ctx;
use super::response::{empty, http_date, quoted, set, system_time, xml_response};
use super::store::{self, Meta};
use super::xml::Doc;

const MAX_DELETE_KEYS: usize = 1000;

/// The DeleteMultipleObjects body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRequest {
    #[serde(default)]
    pub quiet: Option<String>,
    #[serde(rename = "Object", default)]
    pub objects: Vec<DeleteEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteEntry {
    pub key: String,
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

pub async fn put_object(cx: &Ctx, bucket: &str, key: &str, body: Body) -> OssResult<Response> {
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
            cx.attributes(key),
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

pub fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_matches('"'))
        .any(|t| t == "*" || t.eq_ignore_ascii_case(etag))
}

pub async fn get_object(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
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

pub async fn object_meta(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
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

pub async fn delete_object(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
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

pub async fn delete_multiple(cx: &Ctx, bucket: &str, body: Body) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let body = read_small(body, MAX_XML_BODY, cx.payload_sha256()).await?;
    check_md5(cx, &Md5::digest(&body))?;
    let req: DeleteRequest = parse_xml(&body)?;
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
    fn parses_the_delete_body() {
        let d: DeleteRequest = parse_xml(
            b"<Delete><Quiet>true</Quiet><Object><Key>a &amp; b</Key></Object><Object><Key>c</Key></Object></Delete>",
        )
        .unwrap();
        assert_eq!(d.quiet.as_deref(), Some("true"));
        assert_eq!(d.objects.len(), 2);
        assert_eq!(d.objects[0].key, "a & b");
    }
}
