//! PostObject: a browser form upload (`multipart/form-data`) whose fields
//! carry a base64 policy and its signature (V4 `x-oss-signature` or V1
//! `Signature`), or neither for a public-read-write bucket. The form is
//! checked field by field before the file is read; the file streams to disk
//! like any other upload.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use futures_util::StreamExt;
use http::StatusCode;
use serde_json::Value;

use super::access::Anonymous;
use super::auth;
use super::error::{OssError, OssResult};
use super::request::Ctx;
use super::response::{quoted, set, xml_response};
use super::store::{self, Attributes};
use super::xml::Doc;

/// Fields that make a form signed: with any of them the form is checked as
/// signed, whatever the bucket ACL.
const SIGNING_FIELDS: &[&str] = &[
    "policy",
    "signature",
    "ossaccesskeyid",
    "x-oss-signature",
    "x-oss-signature-version",
    "x-oss-credential",
    "x-oss-security-token",
];
/// Form fields other than the file are small; so is their number.
const MAX_FIELD: usize = 64 * 1024;
const MAX_FIELDS: usize = 100;
/// What may come before the file's first byte: the preamble, every other
/// field and every part's headers. multer buffers until it finds a boundary
/// or the end of a header block, so without this cap an unsigned client could
/// make the emulator hold any amount in memory before a signature is checked.
const MAX_BEFORE_FILE: u64 = 1024 * 1024;

pub(crate) async fn post_object(cx: &Ctx, bucket: &str, body: Body) -> OssResult<Response> {
    let sh = &cx.sh;
    if !sh.store.bucket_exists(bucket) {
        return Err(OssError::no_such_bucket(bucket));
    }
    let boundary = cx
        .header("content-type")
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| OssError::invalid_argument("multipart/form-data without a boundary."))?;
    // Counts what multer pulls until the file field is reached; past the cap
    // the stream fails, and with it the form.
    let file_reached = Arc::new(AtomicBool::new(false));
    let over_cap = Arc::new(AtomicBool::new(false));
    let (reached, over) = (file_reached.clone(), over_cap.clone());
    let mut before_file = 0u64;
    let capped = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if !reached.load(Ordering::Relaxed) {
            before_file += chunk.len() as u64;
            if before_file > MAX_BEFORE_FILE {
                over.store(true, Ordering::Relaxed);
                return Err(format!(
                    "more than {MAX_BEFORE_FILE} bytes before the file field"
                ));
            }
        }
        Ok(chunk)
    });
    let mut form = multer::Multipart::new(capped, boundary);
    let mut fields: HashMap<String, String> = HashMap::new();
    let bad_form = |e: multer::Error| {
        if over_cap.load(Ordering::Relaxed) {
            OssError::invalid_argument(format!(
                "The form has more than {MAX_BEFORE_FILE} bytes before its file field."
            ))
        } else {
            OssError::invalid_argument(format!("The form is malformed: {e}"))
        }
    };
    while let Some(mut field) = form.next_field().await.map_err(bad_form)? {
        let name = field.name().unwrap_or("").to_ascii_lowercase();
        if name != "file" {
            if fields.len() >= MAX_FIELDS {
                return Err(OssError::invalid_argument("The form has too many fields."));
            }
            let mut value = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
                if value.len() + chunk.len() > MAX_FIELD {
                    return Err(OssError::invalid_argument(format!(
                        "Form field {name:?} is too large."
                    )));
                }
                value.extend_from_slice(&chunk);
            }
            fields.insert(name, String::from_utf8_lossy(&value).into_owned());
            continue;
        }

        // The file comes last (OSS ignores fields after it): check
        // everything before reading a byte of it.
        file_reached.store(true, Ordering::Relaxed);
        let now = sh.now();
        // A form with no policy and no signature is anonymous, which only a
        // public-read-write bucket takes (then without any policy to check).
        let anonymous = !SIGNING_FIELDS.iter().any(|f| fields.contains_key(*f))
            && sh.access.acl(bucket).await.allows(Anonymous::Write);
        let policy = if anonymous {
            None
        } else {
            auth::verify_post(&sh.keys, &fields, &sh.region, sh.accept_v1, now)?;
            let policy = Policy::parse(fields.get("policy").map(String::as_str).unwrap_or(""))?;
            if policy.expiration <= now {
                return Err(OssError::access_denied(
                    "Invalid according to Policy: Policy expired.",
                ));
            }
            Some(policy)
        };
        let filename = field.file_name().unwrap_or("").to_string();
        let key = fields
            .get("key")
            .ok_or_else(|| OssError::invalid_argument("The form has no key field."))?
            .replace("${filename}", &filename);
        store::check_key(&key)?;
        if let Some(p) = &policy {
            p.check_fields(&fields, bucket, &key)?;
        }
        let content_type = fields
            .get("content-type")
            .cloned()
            .or_else(|| field.content_type().map(|m| m.to_string()))
            .unwrap_or_else(|| vpf_oss::content_type_for(&key).to_string());
        let mut headers = std::collections::BTreeMap::new();
        for (k, v) in &fields {
            if k.starts_with("x-oss-meta-")
                || [
                    "cache-control",
                    "content-disposition",
                    "content-encoding",
                    "expires",
                ]
                .contains(&k.as_str())
            {
                headers.insert(k.clone(), v.clone());
            }
        }

        // Stop reading at the policy's maximum instead of storing a huge
        // file only to refuse it.
        let length_range = policy.as_ref().and_then(|p| p.length_range);
        let max = length_range.map_or(u64::MAX, |(_, max)| max);
        let too_large = Arc::new(AtomicBool::new(false));
        let flag = too_large.clone();
        let mut seen = 0u64;
        let limited = field.map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > max {
                flag.store(true, Ordering::Relaxed);
                return Err(multer::Error::StreamSizeExceeded { limit: max });
            }
            Ok(chunk)
        });
        let incoming = match sh.store.receive(limited).await {
            Ok(i) => i,
            Err(_) if too_large.load(Ordering::Relaxed) => {
                return Err(too_big(format!(
                    "The file is larger than the {max} bytes the policy allows."
                )));
            }
            Err(e) => return Err(e),
        };
        if let Some((min, _)) = length_range
            && incoming.size < min
        {
            let _ = tokio::fs::remove_file(&incoming.path).await;
            return Err(OssError::new(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                format!(
                    "The file is {} bytes; the policy allows at least {min}.",
                    incoming.size
                ),
            ));
        }
        let etag = incoming.md5_hex();
        let attrs = Attributes {
            content_type,
            headers,
        };
        let (meta, previous) = sh
            .store
            .commit(bucket, &key, incoming, etag, "Normal", attrs, now, false)
            .await?;
        cx.emit("ObjectCreated:PostObject", bucket, &key, &meta, previous);

        let status = match fields.get("success_action_status").map(String::as_str) {
            Some("200") => StatusCode::OK,
            Some("201") => StatusCode::CREATED,
            _ => StatusCode::NO_CONTENT,
        };
        let mut r = if status == StatusCode::CREATED {
            let mut doc = Doc::new("PostResponse", false);
            doc.text("Bucket", bucket)
                .text("Location", cx.object_url(bucket, &key))
                .text("Key", &key)
                .text("ETag", format!("\"{}\"", meta.etag));
            xml_response(status, doc.finish("PostResponse"))
        } else {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = status;
            r
        };
        set(&mut r, "etag", &quoted(&meta.etag));
        set(&mut r, "x-oss-hash-crc64ecma", &meta.crc64.to_string());
        return Ok(r);
    }
    Err(OssError::invalid_argument("The form has no file field."))
}

/// A POST policy: when it expires and what the form must satisfy.
struct Policy {
    expiration: SystemTime,
    conditions: Vec<Condition>,
    length_range: Option<(u64, u64)>,
}

enum Condition {
    Eq(String, String),
    StartsWith(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

fn too_big(why: String) -> OssError {
    OssError::new(StatusCode::BAD_REQUEST, "EntityTooLarge", why)
}

fn policy_error(why: impl Into<String>) -> OssError {
    OssError::new(StatusCode::BAD_REQUEST, "InvalidPolicyDocument", why)
}

impl Policy {
    fn parse(b64: &str) -> OssResult<Policy> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| policy_error("The policy is not base64."))?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| policy_error(format!("The policy is not JSON: {e}")))?;
        let expiration = doc
            .get("expiration")
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .and_then(|t| u64::try_from(t.timestamp()).ok())
            .map(|s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s))
            .ok_or_else(|| policy_error("The policy needs an ISO 8601 expiration."))?;
        let list = doc
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| policy_error("The policy needs a conditions list."))?;
        let mut conditions = Vec::new();
        let mut length_range = None;
        for c in list {
            match c {
                Value::Object(map) if map.len() == 1 => {
                    for (k, v) in map {
                        let v = v.as_str().ok_or_else(|| {
                            policy_error(format!("Condition {k:?} needs a string."))
                        })?;
                        conditions.push(Condition::Eq(k.to_ascii_lowercase(), v.to_string()));
                    }
                }
                Value::Array(items) if items.len() == 3 => {
                    let op = items[0].as_str().unwrap_or("").to_ascii_lowercase();
                    if op == "content-length-range" {
                        let (Some(min), Some(max)) = (items[1].as_u64(), items[2].as_u64()) else {
                            return Err(policy_error("content-length-range needs two numbers."));
                        };
                        length_range = Some((min, max));
                        continue;
                    }
                    let field = items[1]
                        .as_str()
                        .and_then(|f| f.strip_prefix('$'))
                        .ok_or_else(|| policy_error(format!("Condition {op:?} needs a $field.")))?
                        .to_ascii_lowercase();
                    let strings = |v: &Value| -> OssResult<Vec<String>> {
                        v.as_array()
                            .ok_or_else(|| policy_error(format!("Condition {op:?} needs a list.")))?
                            .iter()
                            .map(|s| {
                                s.as_str()
                                    .map(str::to_string)
                                    .ok_or_else(|| policy_error("Lists hold strings."))
                            })
                            .collect()
                    };
                    let text = || {
                        items[2].as_str().map(str::to_string).ok_or_else(|| {
                            policy_error(format!("Condition {op:?} needs a string."))
                        })
                    };
                    conditions.push(match op.as_str() {
                        "eq" => Condition::Eq(field, text()?),
                        "starts-with" => Condition::StartsWith(field, text()?),
                        "in" => Condition::In(field, strings(&items[2])?),
                        "not-in" => Condition::NotIn(field, strings(&items[2])?),
                        _ => return Err(policy_error(format!("Unknown condition {op:?}."))),
                    });
                }
                _ => return Err(policy_error(format!("Malformed condition {c}."))),
            }
        }
        Ok(Policy {
            expiration,
            conditions,
            length_range,
        })
    }

    /// Every condition holds for the form; a V4 form's policy must also pin
    /// its signature fields, as OSS requires.
    fn check_fields(
        &self,
        fields: &HashMap<String, String>,
        bucket: &str,
        key: &str,
    ) -> OssResult<()> {
        let value = |name: &str| -> String {
            match name {
                "bucket" => bucket.to_string(),
                "key" => key.to_string(),
                _ => fields.get(name).cloned().unwrap_or_default(),
            }
        };
        let failed = |what: String| {
            OssError::access_denied(format!(
                "Invalid according to Policy: Policy Condition failed: {what}"
            ))
        };
        for c in &self.conditions {
            match c {
                Condition::Eq(f, v) if value(f) != *v => {
                    return Err(failed(format!("[\"eq\", \"${f}\", {v:?}]")));
                }
                Condition::StartsWith(f, p) if !value(f).starts_with(p.as_str()) => {
                    return Err(failed(format!("[\"starts-with\", \"${f}\", {p:?}]")));
                }
                Condition::In(f, list) if !list.contains(&value(f)) => {
                    return Err(failed(format!("[\"in\", \"${f}\", ...]")));
                }
                Condition::NotIn(f, list) if list.contains(&value(f)) => {
                    return Err(failed(format!("[\"not-in\", \"${f}\", ...]")));
                }
                _ => {}
            }
        }
        if fields.contains_key("x-oss-signature-version") {
            for required in ["x-oss-signature-version", "x-oss-credential", "x-oss-date"] {
                let pinned = self
                    .conditions
                    .iter()
                    .any(|c| matches!(c, Condition::Eq(f, _) if f == required));
                if !pinned {
                    return Err(failed(format!(
                        "a V4 policy must contain {{\"{required}\": ...}}"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn policy_conditions_are_enforced() {
        let p = Policy::parse(&b64(
            r#"{"expiration":"2099-01-01T00:00:00.000Z","conditions":[
            {"bucket":"b1"},["starts-with","$key","up/"],["content-length-range",1,10],
            ["in","$content-type",["video/mp4"]],{"x-oss-signature-version":"OSS4-HMAC-SHA256"},
            {"x-oss-credential":"c"},{"x-oss-date":"d"}]}"#,
        ))
        .unwrap();
        assert_eq!(p.length_range, Some((1, 10)));
        let mut f: HashMap<String, String> = HashMap::new();
        f.insert("content-type".into(), "video/mp4".into());
        f.insert("x-oss-signature-version".into(), "OSS4-HMAC-SHA256".into());
        f.insert("x-oss-credential".into(), "c".into());
        f.insert("x-oss-date".into(), "d".into());
        assert!(p.check_fields(&f, "b1", "up/a.mp4").is_ok());
        assert!(p.check_fields(&f, "b2", "up/a.mp4").is_err());
        assert!(p.check_fields(&f, "b1", "other/a.mp4").is_err());
        f.insert("content-type".into(), "text/html".into());
        assert!(p.check_fields(&f, "b1", "up/a.mp4").is_err());

        let loose = Policy::parse(&b64(
            r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"b1"}]}"#,
        ))
        .unwrap();
        let e = loose.check_fields(&f, "b1", "k").unwrap_err();
        assert!(
            e.message.contains("x-oss-signature-version"),
            "{}",
            e.message
        );

        for bad in [
            "nope",
            &b64("{}"),
            &b64(r#"{"expiration":"x","conditions":[]}"#),
            &b64(r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[["frob","$key","x"]]}"#),
        ] {
            assert_eq!(
                Policy::parse(bad).err().map(|e| e.code),
                Some("InvalidPolicyDocument")
            );
        }
    }
}
