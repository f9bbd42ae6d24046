//! CopyObject: a copy within or across buckets, its metadata kept or
//! replaced.

use axum::response::Response;
use http::StatusCode;
use percent_encoding::percent_decode_str;
use tokio_util::io::ReaderStream;

use super::access::Anonymous;
use super::auth;
use super::error::{OssError, OssResult};
use super::objects::etag_matches;
use super::request::Ctx;
use super::response::{iso_date, quoted, set, xml_response};
use super::store::{self, Attributes, Incoming};
use super::xml::Doc;

pub async fn copy_object(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
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
        cx.attributes(key)
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
