//! Answers: headers, empty and XML bodies, and the date and ETag forms OSS
//! writes.

use std::time::SystemTime;

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use http::header::HeaderValue;

pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

pub fn http_date(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

pub fn iso_date(unix: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

pub fn system_time(unix: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64)
}

pub fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

pub fn xml_response(status: StatusCode, doc: String) -> Response {
    let mut r = Response::new(Body::from(doc));
    *r.status_mut() = status;
    set(&mut r, "content-type", "application/xml");
    r
}

pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
