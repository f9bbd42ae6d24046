//! Who may call: the configured access keys and the temporary (STS-like)
//! credentials the emulator issues, checked with OSS V4 (`OSS4-HMAC-SHA256`,
//! Authorization header or presigned URL) and V1 (`OSS ak:sig`, header or
//! `Signature`/`Expires` query) signatures.
//!
//! Written from the OSS documentation on purpose, not with the signer the
//! client uses (reqsign): a shared bug would otherwise pass unnoticed. The
//! `oss2` tests check it against a third implementation.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use vpf_core::credentials::Credentials;

use super::error::{OssError, OssResult};

/// Requests dated further than this from the emulator's clock are refused.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// Presigned V4 URLs last at most 7 days.
pub const MAX_PRESIGN: u64 = 7 * 24 * 3600;

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

/// One access key the emulator knows.
#[derive(Clone)]
struct KeyEntry {
    secret: String,
    /// Temporary credentials carry a token that must come with every request.
    token: Option<String>,
    expires: Option<SystemTime>,
}

/// The keys: configured ones and issued temporary ones.
#[derive(Default)]
pub struct KeyRing {
    keys: HashMap<String, KeyEntry>,
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
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl KeyRing {
    pub fn add_static(&mut self, c: &Credentials) {
        self.keys.insert(
            c.access_key_id.clone(),
            KeyEntry {
                secret: c.access_key_secret.clone(),
                token: None,
                expires: None,
            },
        );
    }

    /// New temporary credentials valid until `now + ttl`.
    pub fn issue(&mut self, now: SystemTime, ttl: Duration) -> Credentials {
        // Forget keys that expired long ago, so the map stays small.
        self.keys.retain(|_, e| {
            e.expires
                .is_none_or(|t| t + Duration::from_secs(3600) > now)
        });
        let id = format!("STS.{}", random_token(12));
        let creds = Credentials::new(id.clone(), random_token(30)).with_token(random_token(64));
        self.keys.insert(
            id,
            KeyEntry {
                secret: creds.access_key_secret.clone(),
                token: creds.security_token.clone(),
                expires: Some(now + ttl),
            },
        );
        creds
    }

    /// Every temporary credential still remembered, expired or not.
    pub fn temporaries(&self) -> Vec<Credentials> {
        self.keys
            .iter()
            .filter_map(|(id, e)| {
                let token = e.token.as_ref()?;
                Some(Credentials::new(id.as_str(), e.secret.clone()).with_token(token.clone()))
            })
            .collect()
    }

    /// Temporary credentials by id, while they have not expired.
    pub fn temporary(&self, access_key_id: &str, now: SystemTime) -> Option<Credentials> {
        let e = self.keys.get(access_key_id)?;
        let (token, expires) = (e.token.as_ref()?, e.expires?);
        (now < expires)
            .then(|| Credentials::new(access_key_id, e.secret.clone()).with_token(token.clone()))
    }

    /// The secret of `access_key_id`, after checking its token and expiry.
    fn secret(
        &self,
        access_key_id: &str,
        token: Option<&str>,
        now: SystemTime,
    ) -> OssResult<(String, bool)> {
        let Some(entry) = self.keys.get(access_key_id) else {
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
        &self,
        req: &RequestView<'_>,
        region: &str,
        accept_v1: bool,
        now: SystemTime,
    ) -> OssResult<Caller> {
        if let Some(auth) = req.header("authorization") {
            if let Some(rest) = auth.strip_prefix(V4_ALGORITHM) {
                return self.verify_v4_header(req, rest, region, now);
            }
            if let Some(rest) = auth.strip_prefix("OSS ") {
                require_v1(accept_v1)?;
                return self.verify_v1_header(req, rest, now);
            }
            return Err(OssError::access_denied(
                "Unsupported Authorization type: this emulator accepts OSS4-HMAC-SHA256 (V4) and OSS (V1).",
            ));
        }
        match req.query("x-oss-signature-version") {
            Some(V4_ALGORITHM) => return self.verify_v4_query(req, region, now),
            Some(other) => {
                return Err(OssError::access_denied(format!(
                    "Unsupported x-oss-signature-version {other:?}: use {V4_ALGORITHM}."
                )));
            }
            None => {}
        }
        if req.query("Signature").is_some() || req.query("OSSAccessKeyId").is_some() {
            require_v1(accept_v1)?;
            return self.verify_v1_query(req, now);
        }
        Err(anonymous_refused())
    }

    fn verify_v4_header(
        &self,
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
        let (secret, temporary) =
            self.secret(scope.access_key_id, req.header("x-oss-security-token"), now)?;
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

    fn verify_v4_query(
        &self,
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
                OssError::invalid_argument(format!(
                    "x-oss-expires must be 1 to {MAX_PRESIGN} seconds."
                ))
            })?;
        if signed_at > now + MAX_SKEW {
            return Err(skewed());
        }
        if signed_at + Duration::from_secs(expires) <= now {
            return Err(OssError::access_denied("Request has expired."));
        }
        let (secret, temporary) =
            self.secret(scope.access_key_id, req.query("x-oss-security-token"), now)?;
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

    fn verify_v1_header(
        &self,
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
            .ok_or_else(|| {
                OssError::access_denied("Date header is required with V1 signatures.")
            })?;
        let when = chrono::DateTime::parse_from_rfc2822(date)
            .map_err(|_| OssError::access_denied(format!("Date {date:?} is not an HTTP date.")))?;
        check_skew(to_system(when.timestamp())?, now)?;
        let (secret, temporary) = self.secret(ak, req.header("x-oss-security-token"), now)?;
        let expected = v1_signature(&secret, &v1_string_to_sign(req, date));
        if !constant_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(OssError::signature_mismatch());
        }
        Ok(Caller {
            access_key_id: ak.to_string(),
            temporary,
        })
    }

    fn verify_v1_query(&self, req: &RequestView<'_>, now: SystemTime) -> OssResult<Caller> {
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
        let (secret, temporary) = self.secret(ak, req.query("security-token"), now)?;
        let expected = v1_signature(&secret, &v1_string_to_sign(req, expires));
        if !constant_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(OssError::signature_mismatch());
        }
        Ok(Caller {
            access_key_id: ak.to_string(),
            temporary,
        })
    }

    /// A PostObject form: the policy (base64 text) signed with V4
    /// (`x-oss-signature`) or V1 (`Signature`). `fields` has lowercase names.
    pub fn verify_post(
        &self,
        fields: &HashMap<String, String>,
        region: &str,
        accept_v1: bool,
        now: SystemTime,
    ) -> OssResult<Caller> {
        let policy = fields.get("policy").ok_or_else(|| {
            OssError::access_denied(
                "PostObject without a policy form field: anonymous uploads are disabled.",
            )
        })?;
        let token = fields.get("x-oss-security-token").map(String::as_str);
        if let Some(version) = fields.get("x-oss-signature-version") {
            if version != V4_ALGORITHM {
                return Err(OssError::invalid_argument(format!(
                    "Unsupported x-oss-signature-version {version:?}."
                )));
            }
            let get = |name: &str| {
                fields.get(name).map(String::as_str).ok_or_else(|| {
                    OssError::invalid_argument(format!("PostObject V4 form without {name}."))
                })
            };
            let scope = Scope::parse(get("x-oss-credential")?, region)?;
            let date = get("x-oss-date")?;
            scope.matches_date(date)?;
            let signed_at = parse_v4_time(date)?;
            if signed_at > now + MAX_SKEW || signed_at + Duration::from_secs(MAX_PRESIGN) <= now {
                return Err(skewed());
            }
            let (secret, temporary) = self.secret(scope.access_key_id, token, now)?;
            let expected = v4_post_signature(&secret, scope.date, scope.region, policy);
            if !constant_eq(expected.as_bytes(), get("x-oss-signature")?.as_bytes()) {
                return Err(OssError::signature_mismatch());
            }
            return Ok(Caller {
                access_key_id: scope.access_key_id.to_string(),
                temporary,
            });
        }
        require_v1(accept_v1)?;
        let ak = fields.get("ossaccesskeyid").ok_or_else(|| {
            OssError::invalid_argument(
                "PostObject form without OSSAccessKeyId or x-oss-credential.",
            )
        })?;
        let signature = fields
            .get("signature")
            .ok_or_else(|| OssError::invalid_argument("PostObject form without Signature."))?;
        let (secret, temporary) = self.secret(ak, token, now)?;
        if !constant_eq(
            v1_signature(&secret, policy).as_bytes(),
            signature.as_bytes(),
        ) {
            return Err(OssError::signature_mismatch());
        }
        Ok(Caller {
            access_key_id: ak.clone(),
            temporary,
        })
    }
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

    fn matches_date(&self, datetime: &str) -> OssResult<()> {
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

fn hmac256(key: &[u8], data: &[u8]) -> [u8; 32] {
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

/// A V4 PostObject form's `x-oss-signature`: the base64 policy signed with
/// the day's signing key. The emulator checks forms with it; the runner's
/// console signs the forms it hands the browser with it.
pub fn v4_post_signature(secret: &str, date: &str, region: &str, policy_b64: &str) -> String {
    hex::encode(hmac256(
        &v4_signing_key(secret, date, region),
        policy_b64.as_bytes(),
    ))
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

pub fn parse_v4_time(s: &str) -> OssResult<SystemTime> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").map_err(|_| {
        OssError::invalid_argument(format!("x-oss-date {s:?} is not yyyymmddThhmmssZ."))
    })?;
    to_system(t.and_utc().timestamp())
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

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A canonical request fit for a debug log: the token is a credential.
fn redact_token(canonical: &str) -> String {
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

/// Random URL-safe text of `n` characters (UUID v4 randomness: the OS RNG).
pub fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < n {
                out.push(ALPHABET[*b as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(
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
        let mut ring = KeyRing::default();
        ring.add_static(&Credentials::new("testid", "yourAccessKeySecret"));
        let signed_at = UNIX_EPOCH + Duration::from_secs(1_733_196_187);
        let caller = ring
            .verify(
                &v,
                "cn-hangzhou",
                false,
                signed_at + Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(caller.access_key_id, "testid");
        let e = ring
            .verify(
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
        let mut wrong = KeyRing::default();
        wrong.add_static(&Credentials::new("testid", "another"));
        let e = wrong
            .verify(&v, "cn-hangzhou", false, signed_at)
            .unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        let e = ring.verify(&v, "cn-beijing", false, signed_at).unwrap_err();
        assert_eq!(e.code, "InvalidArgument");
    }

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
        let mut ring = KeyRing::default();
        ring.add_static(&Credentials::new("AK", "SK"));
        let now = UNIX_EPOCH + Duration::from_secs(1_733_887_387);
        assert!(ring.verify(&v, "r", true, now).is_ok());
        assert_eq!(
            ring.verify(&v, "r", false, now).unwrap_err().code,
            "AccessDenied"
        );
        let later = now + Duration::from_secs(3600);
        assert_eq!(
            ring.verify(&v, "r", true, later).unwrap_err().code,
            "RequestTimeTooSkewed"
        );
    }

    #[test]
    fn temporary_keys_need_their_token_and_expire() {
        let mut ring = KeyRing::default();
        let now = SystemTime::now();
        let c = ring.issue(now, Duration::from_secs(60));
        let token = c.security_token.clone().unwrap();
        assert!(c.access_key_id.starts_with("STS."));
        assert_eq!(
            ring.secret(&c.access_key_id, Some(&token), now).unwrap().0,
            c.access_key_secret
        );
        assert_eq!(
            ring.secret(&c.access_key_id, None, now).unwrap_err().code,
            "InvalidSecurityToken"
        );
        assert_eq!(
            ring.secret(&c.access_key_id, Some("x"), now)
                .unwrap_err()
                .code,
            "InvalidSecurityToken"
        );
        let later = now + Duration::from_secs(61);
        assert_eq!(
            ring.secret(&c.access_key_id, Some(&token), later)
                .unwrap_err()
                .code,
            "SecurityTokenExpired"
        );
        assert_eq!(
            ring.secret("nobody", None, now).unwrap_err().code,
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
        let e = KeyRing::default()
            .verify(&v, "r", true, SystemTime::now())
            .unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::FORBIDDEN, "AccessDenied"));
        assert!(!is_signed(&v), "nothing to check: the bucket ACL decides");
        let red = redact_token(
            "GET\n/b/k\na=1&x-oss-security-token=SECRET\nx-oss-security-token:SECRET\n",
        );
        assert!(!red.contains("SECRET"), "{red}");
    }
}
