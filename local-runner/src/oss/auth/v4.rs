//! Signature V4 (`OSS4-HMAC-SHA256`): the canonical request, the scope and
//! signing key, and the check of an Authorization header or a presigned URL.

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::{
    Caller, MAX_PRESIGN, MAX_SKEW, RequestView, check_skew, payload_sha256, secret, skewed,
    to_system,
};
use crate::account::{KeyRing, constant_eq};
use crate::oss::error::{OssError, OssResult};

pub const V4_ALGORITHM: &str = "OSS4-HMAC-SHA256";
const V4_TERMINATOR: &str = "aliyun_v4_request";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// RFC 3986 unreserved characters stay; everything else is `%XX`.
const V4_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const V4_PATH_SET: &AsciiSet = &V4_SET.remove(b'/');

pub fn verify_header(
    keys: &KeyRing,
    req: &RequestView<'_>,
    rest: &str,
    region: &str,
    now: SystemTime,
) -> OssResult<Caller> {
    let mut credential = None;
    let mut additional = None;
    let mut signature = None;
    for item in rest.split(',') {
        match item.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v.trim()),
            Some(("AdditionalHeaders", v)) => additional = Some(v.trim()),
            Some(("Signature", v)) => signature = Some(v.trim()),
            _ => {}
        }
    }
    let (Some(credential), Some(signature)) = (credential, signature) else {
        return Err(OssError::invalid_argument(
            "Authorization header: Credential and Signature are required.",
        ));
    };
    let scope = Scope::parse(credential, region)?;
    let date = req.header("x-oss-date").ok_or_else(|| {
        OssError::access_denied("x-oss-date header is required with V4 signatures.")
    })?;
    let when = parse_v4_time(date)?;
    check_skew(when, now)?;
    scope.matches_date(date)?;
    match req.header("x-oss-content-sha256") {
        Some(UNSIGNED_PAYLOAD) => {}
        // A signed payload: the body is checked against it as it arrives.
        Some(v) if payload_sha256(v).is_some() => {}
        Some(_) => {
            return Err(OssError::invalid_argument(
                "The value of x-oss-content-sha256 must be UNSIGNED-PAYLOAD or the body's SHA-256 in lowercase hex.",
            ));
        }
        None => {
            return Err(OssError::invalid_argument(
                "x-oss-content-sha256 header is required with V4 signatures.",
            ));
        }
    }
    let (secret, temporary) = secret(
        keys,
        scope.access_key_id,
        req.header("x-oss-security-token"),
        now,
    )?;
    let additional = parse_additional(additional.unwrap_or(""));
    let canonical = v4_canonical_request(req, &additional, false);
    let expected = v4_signature(&secret, &scope, date, &canonical);
    if !constant_eq(expected.as_bytes(), signature.as_bytes()) {
        tracing::debug!(canonical_request = %redact_token(&canonical), "V4 signature mismatch");
        return Err(OssError::signature_mismatch());
    }
    Ok(Caller {
        access_key_id: scope.access_key_id.to_string(),
        temporary,
    })
}

pub fn verify_query(
    keys: &KeyRing,
    req: &RequestView<'_>,
    region: &str,
    now: SystemTime,
) -> OssResult<Caller> {
    let need = |name: &str| {
        req.query(name)
            .ok_or_else(|| OssError::access_denied(format!("Presigned V4 URL without {name}.")))
    };
    let credential = need("x-oss-credential")?;
    let date = need("x-oss-date")?;
    let expires = need("x-oss-expires")?;
    let signature = need("x-oss-signature")?;
    let scope = Scope::parse(credential, region)?;
    scope.matches_date(date)?;
    let signed_at = parse_v4_time(date)?;
    let expires: u64 = expires
        .parse()
        .ok()
        .filter(|e| (1..=MAX_PRESIGN).contains(e))
        .ok_or_else(|| {
            OssError::invalid_argument(format!("x-oss-expires must be 1 to {MAX_PRESIGN} seconds."))
        })?;
    if signed_at > now + MAX_SKEW {
        return Err(skewed());
    }
    if signed_at + Duration::from_secs(expires) <= now {
        return Err(OssError::access_denied("Request has expired."));
    }
    let (secret, temporary) = secret(
        keys,
        scope.access_key_id,
        req.query("x-oss-security-token"),
        now,
    )?;
    let additional = parse_additional(req.query("x-oss-additional-headers").unwrap_or(""));
    let canonical = v4_canonical_request(req, &additional, true);
    let expected = v4_signature(&secret, &scope, date, &canonical);
    if !constant_eq(expected.as_bytes(), signature.as_bytes()) {
        tracing::debug!(canonical_request = %redact_token(&canonical), "V4 presign mismatch");
        return Err(OssError::signature_mismatch());
    }
    Ok(Caller {
        access_key_id: scope.access_key_id.to_string(),
        temporary,
    })
}

/// `<AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request`.
pub struct Scope<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
}

impl<'a> Scope<'a> {
    pub fn parse(credential: &'a str, region: &str) -> OssResult<Scope<'a>> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [ak, date, reg, service, terminator] = parts[..] else {
            return Err(OssError::invalid_argument(format!(
                "Credential {:?} must be <AccessKeyId>/<date>/<region>/oss/aliyun_v4_request.",
                credential.split('/').skip(1).collect::<Vec<_>>().join("/")
            )));
        };
        if service != "oss" || terminator != V4_TERMINATOR || date.len() != 8 {
            return Err(OssError::invalid_argument(
                "Credential scope must be <date>/<region>/oss/aliyun_v4_request.",
            ));
        }
        if reg != region {
            return Err(OssError::invalid_argument(format!(
                "Invalid signing region {reg:?}: this endpoint is in {region:?}."
            )));
        }
        Ok(Scope {
            access_key_id: ak,
            date,
            region: reg,
        })
    }

    pub(super) fn matches_date(&self, datetime: &str) -> OssResult<()> {
        if datetime.get(..8) == Some(self.date) {
            Ok(())
        } else {
            Err(OssError::invalid_argument(
                "The date in the credential scope differs from x-oss-date.",
            ))
        }
    }

    fn string(&self) -> String {
        format!("{}/{}/oss/{V4_TERMINATOR}", self.date, self.region)
    }
}

fn parse_additional(list: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The V4 canonical request:
/// method, URI (`/bucket/key`, encoded, `/` kept), sorted encoded query
/// (without `x-oss-signature`), headers (`x-oss-*`, `content-type`,
/// `content-md5` and the additional ones), a blank line, the additional
/// header names, and the payload hash (`UNSIGNED-PAYLOAD`).
pub fn v4_canonical_request(
    req: &RequestView<'_>,
    additional: &[String],
    presigned: bool,
) -> String {
    let uri = match (req.bucket, req.key) {
        (None, _) => "/".to_string(),
        (Some(b), None) => format!("/{}/", utf8_percent_encode(b, V4_SET)),
        (Some(b), Some(k)) => format!(
            "/{}/{}",
            utf8_percent_encode(b, V4_SET),
            utf8_percent_encode(k, V4_PATH_SET)
        ),
    };
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| !(presigned && k == "x-oss-signature"))
        .map(|(k, v)| {
            (
                utf8_percent_encode(k, V4_SET).to_string(),
                utf8_percent_encode(v, V4_SET).to_string(),
            )
        })
        .collect();
    query.sort_by(|a, b| a.0.cmp(&b.0));
    let query = query
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");

    let mut headers: Vec<(String, String)> = Vec::new();
    for name in req.headers.keys() {
        let n = name.as_str();
        let signed = n.starts_with("x-oss-")
            || n == "content-type"
            || n == "content-md5"
            || additional.iter().any(|a| a == n);
        if !signed {
            continue;
        }
        let value = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
            .collect::<Vec<_>>()
            .join(",");
        headers.push((n.to_string(), value));
    }
    headers.sort();
    let payload = if presigned {
        UNSIGNED_PAYLOAD
    } else {
        req.header("x-oss-content-sha256")
            .unwrap_or(UNSIGNED_PAYLOAD)
    };
    let mut s = format!("{}\n{uri}\n{query}\n", req.method);
    for (k, v) in headers {
        s.push_str(&format!("{k}:{v}\n"));
    }
    s.push('\n');
    s.push_str(&additional.join(";"));
    s.push('\n');
    s.push_str(payload);
    s
}

pub(super) fn hmac256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn v4_signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    let k = hmac256(format!("aliyun_v4{secret}").as_bytes(), date.as_bytes());
    let k = hmac256(&k, region.as_bytes());
    let k = hmac256(&k, b"oss");
    hmac256(&k, V4_TERMINATOR.as_bytes())
}

fn v4_signature(secret: &str, scope: &Scope<'_>, datetime: &str, canonical: &str) -> String {
    let string_to_sign = format!(
        "{V4_ALGORITHM}\n{datetime}\n{}\n{}",
        scope.string(),
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    hex::encode(hmac256(
        &v4_signing_key(secret, scope.date, scope.region),
        string_to_sign.as_bytes(),
    ))
}

pub fn parse_v4_time(s: &str) -> OssResult<SystemTime> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").map_err(|_| {
        OssError::invalid_argument(format!("x-oss-date {s:?} is not yyyymmddThhmmssZ."))
    })?;
    to_system(t.and_utc().timestamp())
}

/// A canonical request fit for a debug log: the token is a credential.
pub(super) fn redact_token(canonical: &str) -> String {
    canonical
        .lines()
        .map(|l| {
            if l.starts_with("x-oss-security-token:") {
                "x-oss-security-token:<redacted>".to_string()
            } else if l.contains("x-oss-security-token=") {
                l.split('&')
                    .map(|p| {
                        if p.starts_with("x-oss-security-token=") {
                            "x-oss-security-token=<redacted>"
                        } else {
                            p
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::super::tests::view;
    use super::*;
    use http::{HeaderMap, Method, StatusCode};
    use std::time::UNIX_EPOCH;
    use vpf_core::credentials::Credentials;

    /// The worked example of the OSS V4 documentation (also reqsign's golden
    /// vector): PUT of `exampleobject` with Content-Disposition and
    /// Content-Length as additional headers.
    #[test]
    fn v4_header_example_from_the_documentation() {
        let mut h = HeaderMap::new();
        h.insert("content-disposition", "attachment".parse().unwrap());
        h.insert("content-length", "3".parse().unwrap());
        h.insert("content-md5", "ICy5YqxZB1uWSwcVLSNLcA==".parse().unwrap());
        h.insert("content-type", "text/plain".parse().unwrap());
        h.insert("x-oss-content-sha256", "UNSIGNED-PAYLOAD".parse().unwrap());
        h.insert("x-oss-date", "20250411T064124Z".parse().unwrap());
        let m = Method::PUT;
        let v = view(&m, Some("examplebucket"), Some("exampleobject"), &[], &h);
        let additional = parse_additional("content-length;content-disposition");
        let canonical = v4_canonical_request(&v, &additional, false);
        assert_eq!(
            canonical,
            "PUT\n/examplebucket/exampleobject\n\ncontent-disposition:attachment\ncontent-length:3\ncontent-md5:ICy5YqxZB1uWSwcVLSNLcA==\ncontent-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20250411T064124Z\n\ncontent-disposition;content-length\nUNSIGNED-PAYLOAD"
        );
        let scope = Scope::parse(
            "testid/20250411/cn-hangzhou/oss/aliyun_v4_request",
            "cn-hangzhou",
        )
        .unwrap();
        assert_eq!(
            v4_signature(
                "yourAccessKeySecret",
                &scope,
                "20250411T064124Z",
                &canonical
            ),
            "d3694c2dfc5371ee6acd35e88c4871ac95a7ba01d3a2f476768fe61218590097"
        );
    }

    /// The documented presigned-URL example (GET, one day, `host` signed).
    #[test]
    fn v4_presign_example_and_expiry() {
        let query: Vec<(String, String)> = [
            ("x-oss-additional-headers", "host"),
            (
                "x-oss-credential",
                "testid/20241203/cn-hangzhou/oss/aliyun_v4_request",
            ),
            ("x-oss-date", "20241203T032307Z"),
            ("x-oss-expires", "86400"),
            ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
            (
                "x-oss-signature",
                "a9ad2ce702a93c7c36ace35dd4e1b80cb76a999c890d7dfe78ff342a23dac8e0",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            "examplebucket.oss-cn-hangzhou.aliyuncs.com"
                .parse()
                .unwrap(),
        );
        let m = Method::GET;
        let v = view(&m, Some("examplebucket"), Some("exampleobject"), &query, &h);
        let ring = KeyRing::new().with(Credentials::new("testid", "yourAccessKeySecret"));
        let signed_at = UNIX_EPOCH + Duration::from_secs(1_733_196_187);
        let caller = super::super::verify(
            &ring,
            &v,
            "cn-hangzhou",
            false,
            signed_at + Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(caller.access_key_id, "testid");
        let e = super::super::verify(
            &ring,
            &v,
            "cn-hangzhou",
            false,
            signed_at + Duration::from_secs(86_401),
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (StatusCode::FORBIDDEN, "Request has expired.")
        );
        let wrong = KeyRing::new().with(Credentials::new("testid", "another"));
        let e = super::super::verify(&wrong, &v, "cn-hangzhou", false, signed_at).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        let e = super::super::verify(&ring, &v, "cn-beijing", false, signed_at).unwrap_err();
        assert_eq!(e.code, "InvalidArgument");
    }
}
