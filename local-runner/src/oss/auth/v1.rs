//! Signature V1 (`OSS ak:sig`): the string to sign over the resource and
//! its subresources, and the check of an Authorization header or a
//! `Signature`/`Expires` URL.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{Caller, MAX_PRESIGN, RequestView, check_skew, secret, to_system};
use crate::account::{KeyRing, constant_eq};
use crate::oss::error::{OssError, OssResult};

/// Query parameters that are part of the V1 canonical resource (the OSS
/// "subresources"); other parameters are not signed in V1.
const V1_SUBRESOURCES: &[&str] = &[
    "acl",
    "append",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "qos",
    "qosInfo",
    "referer",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "transferAcceleration",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
    "x-oss-ac-forward-allow",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-async-process",
    "x-oss-process",
    "x-oss-request-payer",
    "x-oss-traffic-limit",
];

/// Whether `name` is an OSS subresource (a query name that selects an operation).
pub fn is_subresource(name: &str) -> bool {
    V1_SUBRESOURCES.contains(&name)
}

pub fn verify_header(
    keys: &KeyRing,
    req: &RequestView<'_>,
    rest: &str,
    now: SystemTime,
) -> OssResult<Caller> {
    let (ak, signature) = rest.trim().rsplit_once(':').ok_or_else(|| {
        OssError::invalid_argument("Authorization header: expected OSS <id>:<signature>.")
    })?;
    let date = req
        .header("x-oss-date")
        .or_else(|| req.header("date"))
        .ok_or_else(|| OssError::access_denied("Date header is required with V1 signatures."))?;
    let when = chrono::DateTime::parse_from_rfc2822(date)
        .map_err(|_| OssError::access_denied(format!("Date {date:?} is not an HTTP date.")))?;
    check_skew(to_system(when.timestamp())?, now)?;
    let (secret, temporary) = secret(keys, ak, req.header("x-oss-security-token"), now)?;
    let expected = v1_signature(&secret, &v1_string_to_sign(req, date));
    if !constant_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(OssError::signature_mismatch());
    }
    Ok(Caller {
        access_key_id: ak.to_string(),
        temporary,
    })
}

pub fn verify_query(keys: &KeyRing, req: &RequestView<'_>, now: SystemTime) -> OssResult<Caller> {
    let need = |name: &str| {
        req.query(name)
            .ok_or_else(|| OssError::access_denied(format!("Signed URL without {name}.")))
    };
    let ak = need("OSSAccessKeyId")?;
    let expires = need("Expires")?;
    let signature = need("Signature")?;
    let at: i64 = expires
        .parse()
        .map_err(|_| OssError::invalid_argument("Expires must be a Unix time."))?;
    let at = to_system(at)?;
    if at <= now {
        return Err(OssError::access_denied("Request has expired."));
    }
    // A V1 URL names its expiry, not its lifetime: cap how far ahead it
    // may be, as V4's x-oss-expires is capped.
    if at > now + Duration::from_secs(MAX_PRESIGN) {
        return Err(OssError::invalid_argument(format!(
            "Expires is more than {MAX_PRESIGN} seconds ahead."
        )));
    }
    let (secret, temporary) = secret(keys, ak, req.query("security-token"), now)?;
    let expected = v1_signature(&secret, &v1_string_to_sign(req, expires));
    if !constant_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(OssError::signature_mismatch());
    }
    Ok(Caller {
        access_key_id: ak.to_string(),
        temporary,
    })
}

/// V1: method, Content-MD5, Content-Type, date (or Expires), the `x-oss-*`
/// headers, and the resource `/bucket/key` with its subresources.
pub fn v1_string_to_sign(req: &RequestView<'_>, date: &str) -> String {
    let mut oss_headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-oss-"))
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).trim().to_string(),
            )
        })
        .collect();
    oss_headers.sort();
    let mut resource = match (req.bucket, req.key) {
        (None, _) => "/".to_string(),
        (Some(b), None) => format!("/{b}/"),
        (Some(b), Some(k)) => format!("/{b}/{k}"),
    };
    let mut sub: Vec<&(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| V1_SUBRESOURCES.contains(&k.as_str()))
        .collect();
    sub.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (k, v)) in sub.into_iter().enumerate() {
        resource.push(if i == 0 { '?' } else { '&' });
        resource.push_str(k);
        if !v.is_empty() {
            resource.push('=');
            resource.push_str(v);
        }
    }
    let mut s = format!(
        "{}\n{}\n{}\n{date}\n",
        req.method,
        req.header("content-md5").unwrap_or(""),
        req.header("content-type").unwrap_or("")
    );
    for (k, v) in oss_headers {
        s.push_str(&format!("{k}:{v}\n"));
    }
    s.push_str(&resource);
    s
}

pub fn v1_signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::super::tests::view;
    use super::*;
    use http::{HeaderMap, Method};
    use std::time::UNIX_EPOCH;
    use vpf_core::credentials::Credentials;

    #[test]
    fn v1_header_signature_round_trip() {
        let mut h = HeaderMap::new();
        h.insert("date", "Wed, 11 Dec 2024 03:23:07 GMT".parse().unwrap());
        h.insert("content-type", "text/plain".parse().unwrap());
        h.insert("x-oss-meta-a", "1".parse().unwrap());
        let query = vec![
            ("uploadId".to_string(), "U1".to_string()),
            ("partNumber".to_string(), "2".to_string()),
            ("junk".to_string(), "x".to_string()),
        ];
        let m = Method::PUT;
        let sts = {
            let v = view(&m, Some("b"), Some("a b/ü"), &query, &h);
            v1_string_to_sign(&v, "Wed, 11 Dec 2024 03:23:07 GMT")
        };
        assert_eq!(
            sts,
            "PUT\n\ntext/plain\nWed, 11 Dec 2024 03:23:07 GMT\nx-oss-meta-a:1\n/b/a b/ü?partNumber=2&uploadId=U1"
        );
        h.insert(
            "authorization",
            format!("OSS AK:{}", v1_signature("SK", &sts))
                .parse()
                .unwrap(),
        );
        let v = view(&m, Some("b"), Some("a b/ü"), &query, &h);
        let ring = KeyRing::new().with(Credentials::new("AK", "SK"));
        let now = UNIX_EPOCH + Duration::from_secs(1_733_887_387);
        assert!(super::super::verify(&ring, &v, "r", true, now).is_ok());
        assert_eq!(
            super::super::verify(&ring, &v, "r", false, now)
                .unwrap_err()
                .code,
            "AccessDenied"
        );
        let later = now + Duration::from_secs(3600);
        assert_eq!(
            super::super::verify(&ring, &v, "r", true, later)
                .unwrap_err()
                .code,
            "RequestTimeTooSkewed"
        );
    }
}
