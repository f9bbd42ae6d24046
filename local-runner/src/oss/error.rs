//! OSS error answers: HTTP status, OSS code, message, in OSS's XML shape.

use std::fmt;

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use http::{HeaderValue, StatusCode};

use super::xml::esc;

/// An error as OSS reports it.
#[derive(Debug, Clone)]
pub struct OssError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra elements (`Key`, `BucketName`, `UploadId`...), already checked text.
    pub extra: Vec<(&'static str, String)>,
}

impl fmt::Display for OssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

pub type OssResult<T> = Result<T, OssError>;

impl OssError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OssError {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    pub fn no_such_key(key: &str) -> Self {
        OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    }
    pub fn no_such_bucket(bucket: &str) -> Self {
        OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        )
        .with("BucketName", bucket)
    }
    pub fn no_such_upload(id: &str) -> Self {
        OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", id)
    }
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        OssError::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }
    pub fn malformed_xml(message: impl Into<String>) -> Self {
        OssError::new(StatusCode::BAD_REQUEST, "MalformedXML", message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        OssError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }
    pub fn signature_mismatch() -> Self {
        OssError::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
    }
    pub fn not_implemented(what: impl Into<String>) -> Self {
        OssError::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", what)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        OssError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }
    pub fn unavailable() -> Self {
        OssError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Please reduce your request rate. (injected fault)",
        )
    }

    pub fn xml(&self, request_id: &str, host: &str) -> String {
        let mut s = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{}</RequestId>\n  <HostId>{}</HostId>\n",
            self.code,
            esc(&self.message),
            esc(request_id),
            esc(host)
        );
        for (k, v) in &self.extra {
            s.push_str(&format!("  <{k}>{}</{k}>\n", esc(v)));
        }
        s.push_str("</Error>\n");
        s
    }

    /// The answer. HEAD answers have no body, so, as OSS does, the document
    /// travels base64-encoded in `x-oss-err`.
    pub fn response(&self, request_id: &str, host: &str, head: bool) -> Response {
        let doc = self.xml(request_id, host);
        let mut resp = if head {
            let mut r = Response::new(Body::empty());
            if let Ok(v) = HeaderValue::from_str(
                &base64::engine::general_purpose::STANDARD.encode(doc.as_bytes()),
            ) {
                r.headers_mut().insert("x-oss-err", v);
            }
            r
        } else {
            let mut r = Response::new(Body::from(doc));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            r
        };
        *resp.status_mut() = self.status;
        resp
    }
}

impl From<std::io::Error> for OssError {
    fn from(e: std::io::Error) -> Self {
        OssError::internal(format!("emulator storage: {e}"))
    }
}
