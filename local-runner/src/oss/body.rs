//! Request bodies that are read whole: bounded, checked against their
//! `Content-MD5` and signed SHA-256, and parsed when they are XML.

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use http::StatusCode;
use serde::Deserialize;
use sha2::Digest;

use super::auth;
use super::error::{OssError, OssResult};
use super::request::Ctx;

/// DeleteMultipleObjects and CompleteMultipartUpload bodies are read whole:
/// bound them (1,000 keys of 1 KiB, 10,000 parts) so nobody can make the
/// emulator buffer gigabytes. Object bodies stream and have no limit.
pub const MAX_XML_BODY: usize = 2 * 1024 * 1024;

pub fn take(body: &mut Option<Body>) -> OssResult<Body> {
    body.take()
        .ok_or_else(|| OssError::internal("request body used twice"))
}

/// Read and drop a little of an unread body, so that a client still
/// sending gets the error answer rather than a reset connection.
pub async fn drain(body: Body) {
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

/// A small body, whole; checked against `sha256` when the request signed one.
pub async fn read_small(body: Body, limit: usize, sha256: Option<[u8; 32]>) -> OssResult<Bytes> {
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
pub fn check_md5(cx: &Ctx, md5: &[u8]) -> OssResult<()> {
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

/// An XML request body as `T`.
pub fn parse_xml<'de, T: Deserialize<'de>>(body: &'de [u8]) -> OssResult<T> {
    let text = std::str::from_utf8(body)
        .map_err(|_| OssError::malformed_xml("The XML you provided is not UTF-8."))?;
    quick_xml::de::from_str(text).map_err(|e| {
        OssError::malformed_xml(format!(
            "The XML you provided was not well-formed or did not validate against our published schema: {e}"
        ))
    })
}
