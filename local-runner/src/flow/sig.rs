//! Checks Alibaba Cloud API request signatures the way the service does, so
//! that oss-trigger's real signing code is exercised locally.
//!
//! Written independently of the signer in `vpf-cloudflow` (which would prove
//! nothing if both shared code), from the public signature documents and the
//! official Python SDK (`alibabacloud-tea-openapi`):
//!
//! - **V3** (`Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`):
//!   canonical request `METHOD\nURI\nsorted query\nheaders\nsigned list\nsha256(body)`,
//!   signature `hex(hmac_sha256(secret, "ACS3-HMAC-SHA256\n" + hex(sha256(canonical))))`.
//!   The body hash must equal `x-acs-content-sha256`; `host` and every
//!   `x-acs-*` header must be signed; `x-acs-date` within 15 minutes; a nonce
//!   is accepted once.
//! - **V1 RPC** (`Signature` parameter, HMAC-SHA1): every parameter of query and
//!   form body except `Signature`, sorted, percent-encoded, as
//!   `METHOD&%2F&encode(k=v&...)`, keyed with `secret + "&"`, base64. The
//!   official `alibabacloud_fnf20190315` client signs this way by default.
//!
//! Keys: the account's [`KeyRing`], shared with the OSS emulator, which
//! issues the functions' temporary credentials. A temporary key's STS token
//! must arrive as `x-acs-security-token` (V3) or `SecurityToken` (V1).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use vpf_core::credentials::Credentials;

use crate::account::{KeyRing, constant_eq};
use crate::lock::lock;

const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Nonces seen in the last 15 minutes.
#[derive(Default)]
pub struct NonceCache {
    seen: Mutex<HashMap<String, Instant>>,
}

impl NonceCache {
    fn first_use(&self, nonce: &str) -> bool {
        let mut seen = lock(&self.seen);
        let now = Instant::now();
        seen.retain(|_, t| now.duration_since(*t) < SKEW);
        seen.insert(nonce.to_string(), now).is_none()
    }
}

const SKEW: Duration = Duration::from_secs(15 * 60);

/// A request that passed: who sent it and its RPC parameters.
#[derive(Debug, Clone)]
pub struct Verified {
    pub access_key_id: String,
    pub action: String,
    pub version: String,
    /// Query and form-body parameters, signature fields included.
    pub params: Vec<(String, String)>,
}

impl Verified {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Refusal: HTTP status, error code and message, as the service words them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> AuthError {
    AuthError {
        status,
        code,
        message: message.into(),
    }
}

fn mismatch(string_to_sign: &str) -> AuthError {
    refuse(
        403,
        "SignatureDoesNotMatch",
        format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        ),
    )
}

/// Decode `a=1&b=x+y` (form rules: `+` is a space).
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Check one request. `raw_query` is the URL's query as received.
pub fn verify(
    method: &str,
    path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    keys: &KeyRing,
    nonces: &NonceCache,
) -> Result<Verified, AuthError> {
    let query = parse_form(raw_query.unwrap_or(""));
    let is_form = header(headers, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form {
        parse_form(
            std::str::from_utf8(body)
                .map_err(|_| refuse(400, "InvalidArgument", "the form body is not UTF-8"))?,
        )
    } else {
        Vec::new()
    };
    match header(headers, "authorization") {
        Some(a) if a.starts_with("ACS3-HMAC-SHA256 ") => verify_v3(
            method, path, &query, headers, body, a, keys, nonces,
        )
        .map(|(ak, action, version)| {
            let mut params = query;
            params.extend(form);
            Verified {
                access_key_id: ak,
                action,
                version,
                params,
            }
        }),
        Some(a) => Err(refuse(
            403,
            "IncompleteSignature",
            format!(
                "unsupported signature algorithm {:?}: use ACS3-HMAC-SHA256 or the RPC Signature parameter",
                a.split_whitespace().next().unwrap_or("")
            ),
        )),
        None => {
            let mut params = query;
            params.extend(form);
            verify_v1(method, params, keys, nonces)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn verify_v3(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
    auth: &str,
    keys: &KeyRing,
    nonces: &NonceCache,
) -> Result<(String, String, String), AuthError> {
    let fields: HashMap<&str, &str> = auth["ACS3-HMAC-SHA256 ".len()..]
        .split(',')
        .filter_map(|p| p.trim().split_once('='))
        .collect();
    let (Some(ak), Some(signed), Some(sig)) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    ) else {
        return Err(refuse(
            403,
            "IncompleteSignature",
            "Authorization needs Credential, SignedHeaders and Signature",
        ));
    };
    let creds = keys.credentials(ak).ok_or_else(|| {
        refuse(
            403,
            "InvalidAccessKeyId.NotFound",
            format!("Specified access key is not found: {ak}"),
        )
    })?;
    check_token(&creds, header(headers, "x-acs-security-token"))?;

    let signed: Vec<&str> = signed.split(';').collect();
    for (name, _) in headers.iter() {
        let n = name.as_str();
        if (n == "host" || n.starts_with("x-acs-")) && !signed.contains(&n) {
            return Err(refuse(
                403,
                "IncompleteSignature",
                format!("header {n} must be signed"),
            ));
        }
    }
    if !signed.contains(&"host") {
        return Err(refuse(
            403,
            "IncompleteSignature",
            "header host must be signed",
        ));
    }
    // The Content-Type decides how a body is read (a form's fields become
    // parameters): unsigned, it would let anyone reinterpret a signed body.
    if !body.is_empty() && !signed.contains(&"content-type") {
        return Err(refuse(
            403,
            "IncompleteSignature",
            "header content-type must be signed when the request has a body",
        ));
    }
    let body_hash = hex::encode(Sha256::digest(body));
    if header(headers, "x-acs-content-sha256") != Some(body_hash.as_str()) {
        return Err(refuse(
            403,
            "SignatureDoesNotMatch",
            "x-acs-content-sha256 does not match the body",
        ));
    }
    check_time(header(headers, "x-acs-date"), "x-acs-date")?;

    let mut q: Vec<(String, String)> = query.iter().map(|(k, v)| (enc(k), enc(v))).collect();
    q.sort();
    let canonical_query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in &signed {
        let values: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .collect();
        if values.is_empty() {
            return Err(refuse(
                403,
                "IncompleteSignature",
                format!("signed header {name} is missing"),
            ));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical = format!(
        "{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{}\n{body_hash}",
        signed.join(";")
    );
    let string_to_sign = format!(
        "ACS3-HMAC-SHA256\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(creds.access_key_secret.as_bytes())
        .map_err(|_| refuse(500, "InternalError", "HMAC key"))?;
    mac.update(string_to_sign.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if !constant_eq(expected.as_bytes(), sig.as_bytes()) {
        return Err(mismatch(&string_to_sign));
    }
    // Only a correctly signed request uses up its nonce.
    check_nonce(
        header(headers, "x-acs-signature-nonce"),
        "x-acs-signature-nonce",
        nonces,
    )?;
    let action = header(headers, "x-acs-action").ok_or_else(|| {
        refuse(
            400,
            "MissingRequiredHeader",
            "The HTTP header 'x-acs-action' must be specified.",
        )
    })?;
    let version = header(headers, "x-acs-version").unwrap_or_default();
    Ok((ak.to_string(), action.to_string(), version.to_string()))
}

fn verify_v1(
    method: &str,
    params: Vec<(String, String)>,
    keys: &KeyRing,
    nonces: &NonceCache,
) -> Result<Verified, AuthError> {
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let (Some(sig), Some(ak)) = (get("Signature"), get("AccessKeyId")) else {
        return Err(refuse(
            403,
            "IncompleteSignature",
            "the request is not signed: no Authorization header and no Signature parameter",
        ));
    };
    if get("SignatureMethod") != Some("HMAC-SHA1") || get("SignatureVersion") != Some("1.0") {
        return Err(refuse(
            403,
            "IncompleteSignature",
            "SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0",
        ));
    }
    let creds = keys.credentials(ak).ok_or_else(|| {
        refuse(
            403,
            "InvalidAccessKeyId.NotFound",
            format!("Specified access key is not found: {ak}"),
        )
    })?;
    check_token(&creds, get("SecurityToken"))?;
    check_time(get("Timestamp"), "Timestamp")?;
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (enc(k), enc(v)))
        .collect();
    pairs.sort();
    let canonical = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let string_to_sign = format!("{method}&{}&{}", enc("/"), enc(&canonical));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{}&", creds.access_key_secret).as_bytes())
        .map_err(|_| refuse(500, "InternalError", "HMAC key"))?;
    mac.update(string_to_sign.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if !constant_eq(expected.as_bytes(), sig.as_bytes()) {
        return Err(mismatch(&string_to_sign));
    }
    check_nonce(get("SignatureNonce"), "SignatureNonce", nonces)?;
    let action = get("Action")
        .ok_or_else(|| {
            refuse(
                400,
                "MissingRequiredParams",
                "The HTTP query 'Action' must be specified.",
            )
        })?
        .to_string();
    let version = get("Version").unwrap_or_default().to_string();
    Ok(Verified {
        access_key_id: ak.to_string(),
        action,
        version,
        params,
    })
}

fn check_token(creds: &Credentials, sent: Option<&str>) -> Result<(), AuthError> {
    match (&creds.security_token, sent) {
        (None, None) => Ok(()),
        (Some(t), Some(s)) if constant_eq(t.as_bytes(), s.as_bytes()) => Ok(()),
        (Some(_), None) => Err(refuse(
            403,
            "InvalidSecurityToken.Missing",
            "temporary credentials need their security token",
        )),
        _ => Err(refuse(
            403,
            "InvalidSecurityToken.Mismatch",
            "the security token does not belong to this access key",
        )),
    }
}

fn check_time(date: Option<&str>, date_name: &str) -> Result<(), AuthError> {
    let date = date.ok_or_else(|| {
        refuse(
            400,
            "MissingRequiredHeader",
            format!("{date_name} must be specified"),
        )
    })?;
    let t = chrono::DateTime::parse_from_rfc3339(date).map_err(|_| {
        refuse(
            400,
            "InvalidTimeStamp.Format",
            format!("{date_name} {date:?} is not ISO 8601 UTC"),
        )
    })?;
    let skew = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .unsigned_abs();
    if skew > SKEW.as_secs() {
        return Err(refuse(
            400,
            "InvalidTimeStamp.Expired",
            format!("{date_name} {date} is more than 15 minutes off"),
        ));
    }
    Ok(())
}

fn check_nonce(
    nonce: Option<&str>,
    nonce_name: &str,
    nonces: &NonceCache,
) -> Result<(), AuthError> {
    let nonce = nonce.filter(|n| !n.is_empty()).ok_or_else(|| {
        refuse(
            400,
            "MissingRequiredHeader",
            format!("{nonce_name} must be specified"),
        )
    })?;
    if !nonces.first_use(nonce) {
        return Err(refuse(
            400,
            "SignatureNonceUsed",
            format!("Specified signature nonce was used already: {nonce}"),
        ));
    }
    Ok(())
}
