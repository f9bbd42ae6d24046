//! Requests in, OSS answers out: each request's target, signature or ACL
//! check, and routing by method, key and subresource to the operation that
//! serves it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::response::Response;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::access::{self, Acl, Anonymous};
use super::auth::{self, RequestView};
use super::body::{drain, take};
use super::error::{OssError, OssResult};
use super::request::{Ctx, Target, parse_query, target};
use super::response::http_date;
use super::store;
use super::{Shared, copy, listing, multipart, objects, post};

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

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        // Object bodies stream to disk; XML bodies are bounded where read.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
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
        let caller = auth::verify(&sh.keys, &view, &sh.region, sh.accept_v1, now)?;
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
            Method::GET => listing::list_buckets(&cx),
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
            Method::GET if cx.q("list-type") == Some("2") => {
                listing::list_objects(&cx, &bucket, true).await
            }
            Method::GET if cx.has("uploads") => {
                Err(OssError::not_implemented("ListMultipartUploads"))
            }
            Method::GET => listing::list_objects(&cx, &bucket, false).await,
            Method::POST if cx.has("delete") => {
                objects::delete_multiple(&cx, &bucket, take(body)?).await
            }
            _ => Err(OssError::not_implemented(format!(
                "{} on a bucket is not implemented by the emulator.",
                cx.method
            ))),
        };
    };
    match cx.method {
        Method::GET if cx.has("uploadId") => multipart::list_parts(&cx, &bucket, &key).await,
        Method::GET if cx.has("objectMeta") => objects::object_meta(&cx, &bucket, &key).await,
        Method::HEAD if cx.has("objectMeta") => objects::object_meta(&cx, &bucket, &key).await,
        Method::GET | Method::HEAD => objects::get_object(&cx, &bucket, &key).await,
        Method::PUT if cx.has("uploadId") || cx.has("partNumber") => {
            if cx.header("x-oss-copy-source").is_some() {
                return Err(OssError::not_implemented("UploadPartCopy"));
            }
            multipart::upload_part(&cx, &bucket, &key, take(body)?).await
        }
        Method::PUT if cx.header("x-oss-copy-source").is_some() => {
            copy::copy_object(&cx, &bucket, &key).await
        }
        Method::PUT => objects::put_object(&cx, &bucket, &key, take(body)?).await,
        Method::POST if cx.has("uploads") => multipart::initiate(&cx, &bucket, &key).await,
        Method::POST if cx.has("uploadId") => {
            multipart::complete(&cx, &bucket, &key, take(body)?).await
        }
        Method::DELETE if cx.has("uploadId") => multipart::abort(&cx, &bucket, &key).await,
        Method::DELETE => objects::delete_object(&cx, &bucket, &key).await,
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    /// A PutObject as ali-oss 6.23 sends it to an IP endpoint (key alone as
    /// the path, bucket in the Host) and signs it: the V4 and V1 signatures
    /// below come from its lib/common/signUtils.js (`authorizationV4`,
    /// `authorization`), both over `/media-in/source/a b+ü.mp4`.
    #[test]
    fn virtual_hosted_requests_verify_with_the_clients_signatures() {
        use crate::account::KeyRing;
        use vpf_core::credentials::Credentials;

        let bases = vec!["localhost".to_string()];
        let ring = KeyRing::new().with(Credentials::new("testid", "yourAccessKeySecret"));
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
            auth::verify(&ring, &view, "cn-hangzhou", true, signed_at)
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
}
