//! Who may call: the account's access keys and the temporary (STS)
//! credentials it issued (see [`crate::account`]), checked with OSS V4
//! (`OSS4-HMAC-SHA256`, Authorization header or presigned URL, in [`v4`]) and
//! V1 (`OSS ak:sig`, header or `Signature`/`Expires` query, in [`v1`])
//! signatures, and PostObject forms' signed policies (in [`form`]).
//!
//! Written from the OSS documentation on purpose, not with the signer the
//! client uses (reqsign): a shared bug would otherwise pass unnoticed. The
//! `oss2` tests check it against a third implementation.

mod form;
mod v1;
mod v4;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};

use super::error::{OssError, OssResult};
use crate::account::{KeyRing, constant_eq};

pub use form::verify as verify_post;
pub use v1::is_subresource;
pub use v4::V4_ALGORITHM;

/// Requests dated further than this from the emulator's clock are refused.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// Presigned V4 URLs last at most 7 days.
pub const MAX_PRESIGN: u64 = 7 * 24 * 3600;

/// Whether the request carries credentials in any form. Such a request is
/// checked as signed (and refused when the check fails) even where the
/// bucket ACL would let an anonymous one through, as OSS does.
pub fn is_signed(req: &RequestView<'_>) -> bool {
    req.header("authorization").is_some()
        || req.header("x-oss-security-token").is_some()
        || [
            "x-oss-signature-version",
            "x-oss-signature",
            "x-oss-credential",
            "x-oss-security-token",
            "Signature",
            "OSSAccessKeyId",
        ]
        .iter()
        .any(|q| req.query(q).is_some())
}

/// The answer to an unsigned request that the bucket ACL does not admit.
pub fn anonymous_refused() -> OssError {
    OssError::access_denied(
        "You have no right to access this object because anonymous access is disabled: sign the request.",
    )
}

/// A request that passed the check.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
    pub temporary: bool,
}

/// What the signature covers, as the server sees the request.
pub struct RequestView<'a> {
    pub method: &'a Method,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    /// Query pairs percent-decoded once, in wire order.
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
}

impl RequestView<'_> {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The secret of `access_key_id`, after checking its token and expiry.
fn secret(
    keys: &KeyRing,
    access_key_id: &str,
    token: Option<&str>,
    now: SystemTime,
) -> OssResult<(String, bool)> {
    let Some(entry) = keys.key(access_key_id) else {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
        )
        .with("OSSAccessKeyId", access_key_id));
    };
    match (&entry.token, token) {
        (None, None) => {}
        (Some(expected), Some(got)) if constant_eq(expected.as_bytes(), got.as_bytes()) => {}
        (None, Some(_)) | (Some(_), _) => {
            return Err(OssError::new(
                StatusCode::FORBIDDEN,
                "InvalidSecurityToken",
                "The security token you provided is invalid.",
            ));
        }
    }
    if entry.expires.is_some_and(|t| t <= now) {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "SecurityTokenExpired",
            "The security token you provided has expired.",
        ));
    }
    Ok((entry.secret.clone(), entry.token.is_some()))
}

/// Check the request's signature, whichever form it has.
pub fn verify(
    keys: &KeyRing,
    req: &RequestView<'_>,
    region: &str,
    accept_v1: bool,
    now: SystemTime,
) -> OssResult<Caller> {
    if let Some(auth) = req.header("authorization") {
        if let Some(rest) = auth.strip_prefix(V4_ALGORITHM) {
            return v4::verify_header(keys, req, rest, region, now);
        }
        if let Some(rest) = auth.strip_prefix("OSS ") {
            require_v1(accept_v1)?;
            return v1::verify_header(keys, req, rest, now);
        }
        return Err(OssError::access_denied(
            "Unsupported Authorization type: this emulator accepts OSS4-HMAC-SHA256 (V4) and OSS (V1).",
        ));
    }
    match req.query("x-oss-signature-version") {
        Some(V4_ALGORITHM) => return v4::verify_query(keys, req, region, now),
        Some(other) => {
            return Err(OssError::access_denied(format!(
                "Unsupported x-oss-signature-version {other:?}: use {V4_ALGORITHM}."
            )));
        }
        None => {}
    }
    if req.query("Signature").is_some() || req.query("OSSAccessKeyId").is_some() {
        require_v1(accept_v1)?;
        return v1::verify_query(keys, req, now);
    }
    Err(anonymous_refused())
}

/// The body's SHA-256 named by `x-oss-content-sha256` (64 lowercase hex
/// digits, as the canonical request carries it); `None` for anything else.
pub fn payload_sha256(value: &str) -> Option<[u8; 32]> {
    if value.len() != 64
        || !value
            .bytes()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(value, &mut out).ok()?;
    Some(out)
}
/// A body that does not hash to its signed `x-oss-content-sha256`.
pub fn payload_mismatch() -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "InvalidDigest",
        "The request body does not match its x-oss-content-sha256.",
    )
}
fn require_v1(accept_v1: bool) -> OssResult<()> {
    if accept_v1 {
        Ok(())
    } else {
        Err(OssError::access_denied(
            "V1 signatures are not accepted here (as on OSS accounts and buckets created since 2025): sign with V4.",
        ))
    }
}

/// Headers that a signature covers or the emulator acts on, besides every
/// `x-oss-*` one.
const SINGLE_HEADERS: &[&str] = &[
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "expires",
    "host",
    "if-match",
    "if-none-match",
    "range",
];
/// A repeated header is ambiguous: the canonical request joins its values
/// with commas while the emulator acts on the first, so a signature over
/// one reading could authorize the other. A strict server refuses it.
pub fn refuse_repeated_headers(headers: &HeaderMap) -> OssResult<()> {
    for name in headers.keys() {
        let n = name.as_str();
        if (n.starts_with("x-oss-") || SINGLE_HEADERS.contains(&n))
            && headers.get_all(name).iter().nth(1).is_some()
        {
            return Err(OssError::invalid_argument(format!(
                "Header {n} appears more than once."
            )));
        }
    }
    Ok(())
}

fn to_system(secs: i64) -> OssResult<SystemTime> {
    u64::try_from(secs)
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .ok_or_else(|| OssError::invalid_argument("time out of range"))
}
fn skewed() -> OssError {
    OssError::new(
        StatusCode::FORBIDDEN,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
    )
}
fn check_skew(when: SystemTime, now: SystemTime) -> OssResult<()> {
    let diff = match when.duration_since(now) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if diff > MAX_SKEW {
        Err(skewed())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn view<'a>(
        method: &'a Method,
        bucket: Option<&'a str>,
        key: Option<&'a str>,
        query: &'a [(String, String)],
        headers: &'a HeaderMap,
    ) -> RequestView<'a> {
        RequestView {
            method,
            bucket,
            key,
            query,
            headers,
        }
    }

    #[test]
    fn temporary_keys_need_their_token_and_expire() {
        let ring = KeyRing::new();
        let now = SystemTime::now();
        let c = ring.issue(Duration::from_secs(60));
        let token = c.security_token.clone().unwrap();
        assert!(c.access_key_id.starts_with("STS."));
        assert_eq!(
            secret(&ring, &c.access_key_id, Some(&token), now)
                .unwrap()
                .0,
            c.access_key_secret
        );
        assert_eq!(
            secret(&ring, &c.access_key_id, None, now).unwrap_err().code,
            "InvalidSecurityToken"
        );
        assert_eq!(
            secret(&ring, &c.access_key_id, Some("x"), now)
                .unwrap_err()
                .code,
            "InvalidSecurityToken"
        );
        let later = now + Duration::from_secs(61);
        assert_eq!(
            secret(&ring, &c.access_key_id, Some(&token), later)
                .unwrap_err()
                .code,
            "SecurityTokenExpired"
        );
        assert_eq!(
            secret(&ring, "nobody", None, now).unwrap_err().code,
            "InvalidAccessKeyId"
        );
    }

    #[test]
    fn any_credential_makes_a_request_signed() {
        let m = Method::GET;
        let none = HeaderMap::new();
        for name in [
            "x-oss-signature-version",
            "x-oss-credential",
            "x-oss-signature",
            "x-oss-security-token",
            "Signature",
            "OSSAccessKeyId",
        ] {
            let q = [(name.to_string(), "x".to_string())];
            assert!(
                is_signed(&view(&m, Some("b"), Some("k"), &q, &none)),
                "{name}"
            );
        }
        let plain = [("prefix".to_string(), "a/".to_string())];
        assert!(!is_signed(&view(&m, Some("b"), None, &plain, &none)));
        for header in ["authorization", "x-oss-security-token"] {
            let mut h = HeaderMap::new();
            h.insert(header, "x".parse().unwrap());
            assert!(
                is_signed(&view(&m, Some("b"), Some("k"), &[], &h)),
                "{header}"
            );
        }
    }

    #[test]
    fn unsigned_requests_are_refused_and_tokens_never_logged() {
        let h = HeaderMap::new();
        let m = Method::GET;
        let v = view(&m, Some("b"), Some("k"), &[], &h);
        let e = verify(&KeyRing::new(), &v, "r", true, SystemTime::now()).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::FORBIDDEN, "AccessDenied"));
        assert!(!is_signed(&v), "nothing to check: the bucket ACL decides");
        let red = v4::redact_token(
            "GET\n/b/k\na=1&x-oss-security-token=SECRET\nx-oss-security-token:SECRET\n",
        );
        assert!(!red.contains("SECRET"), "{red}");
    }
}
