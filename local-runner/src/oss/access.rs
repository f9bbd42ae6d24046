//! Who may read a bucket without signing, and which web pages may read it
//! from a browser: the bucket ACL (PutBucketAcl, GetBucketAcl) and CORS
//! (PutBucketCors, GetBucketCors, DeleteBucketCors, the `Options` preflight
//! and the `Access-Control-*` headers on every answer), so that a page can
//! play HLS/DASH output straight from a bucket as it does from OSS.
//!
//! Written from Alibaba Cloud's OSS documentation:
//!
//! - PutBucketAcl <https://www.alibabacloud.com/help/doc-detail/31960.htm>:
//!   `x-oss-acl: private | public-read | public-read-write`; without the
//!   header nothing changes. Any other value is `400 InvalidArgument`
//!   (<https://help.aliyun.com/en/oss/user-guide/0015-00000204>), whose
//!   message, "no such bucket access control exists", and `ArgumentName`/
//!   `ArgumentValue` elements are as OSS answers them
//!   (<https://hexdocs.pm/aliyun_oss/Aliyun.Oss.Bucket.ACL-function-put.html>).
//! - GetBucketAcl <https://help.aliyun.com/en/oss/developer-reference/getbucketacl>:
//!   `AccessControlPolicy` with `Owner` (`ID`, `DisplayName`, both the
//!   account) and `AccessControlList/Grant`.
//! - Bucket ACL values <https://help.aliyun.com/en/oss/user-guide/oss-bucket-acl>:
//!   private by default; public-read lets anyone read objects, public-read-write
//!   lets anyone read and write them. A form upload without a policy is anonymous and only a
//!   public-read-write bucket takes it
//!   (<https://help.aliyun.com/en/oss/user-guide/0006-00000205>).
//! - PutBucketCors <https://help.aliyun.com/en/oss/developer-reference/putbucketcors>:
//!   `CORSConfiguration` of `CORSRule`s (`AllowedOrigin`+, `AllowedMethod`+,
//!   `AllowedHeader`*, `ExposeHeader`*, `MaxAgeSeconds`?) and `ResponseVary`;
//!   a new configuration replaces the old one; the first rule that matches
//!   the origin, the method (or `Access-Control-Request-Method`) and every
//!   `Access-Control-Request-Headers` entry wins, and no match means no CORS
//!   headers. At least one rule
//!   (<https://help.aliyun.com/en/oss/user-guide/0034-00000002>), methods
//!   among GET PUT DELETE POST HEAD
//!   (<https://www.alibabacloud.com/help/en/oss/user-guide/0034-00000011>),
//!   at most 10 rules and one `*` per origin or allowed header, none in
//!   exposed headers
//!   (<https://www.alibabacloud.com/help/en/object-storage-service/latest/configure-cors-rules>,
//!   <https://www.alibabacloud.com/help/doc-detail/31903.htm>). The XML body
//!   is at most 16 KB and `ResponseVary: true` sends `Vary: Origin` on every
//!   answer, cross-origin or not, matched or not (as Alibaba's
//!   alibabacloud-oss-v2 Python SDK documents `CORSRule` and `ResponseVary`).
//! - GetBucketCors without a configuration is `404 NoSuchCORSConfiguration`
//!   (<https://www.alibabacloud.com/help/en/oss/user-guide/0034-00000001>).
//! - Options <https://www.alibabacloud.com/help/en/oss/developer-reference/options>:
//!   `Origin` and `Access-Control-Request-Method` are required (`400
//!   BadRequest`, "Insufficient information. ...",
//!   <https://alibabacloud.com/help/en/oss/support/http-400-status-code>);
//!   the answer echoes the requested headers in `Access-Control-Allow-Headers`;
//!   no matching rule is `403 AccessForbidden`
//!   (<https://www.alibabacloud.com/help/en/oss/developer-reference/cors-options>).
//! - A rule whose origin is `*` is answered with `Access-Control-Allow-Origin: *`,
//!   as OSS does (<https://github.com/ali-sdk/ali-oss/issues/140> shows
//!   OSS's answer); any other match echoes the request's origin.
//!
//! Not found in those pages, so chosen here: anonymous ListObjects follows
//! reading and anonymous multipart uploads, copies and batch deletes follow
//! writing; the error codes of the other PutBucketCors checks
//! (`InvalidArgument`, `MalformedXML` for XML that does not parse or has no
//! rule); `Access-Control-Allow-Methods` listing the rule's methods; and the
//! preflight refusal for a bucket without CORS, worded as S3 words it (the
//! no-match refusal is OSS's message as quoted in public posts).
//!
//! Settings live in `<root>/.oss/buckets/<bucket>.json`, so they survive a
//! restart, and are cached in memory after the first read.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::body::{check_md5, parse_xml, read_small};
use super::error::{OssError, OssResult};
use super::request::Ctx;
use super::response::{empty, set, xml_response};
use super::xml::Doc;
use crate::lock::lock;

/// OSS allows 10 CORS rules per bucket.
pub const MAX_CORS_RULES: usize = 10;
/// OSS reads CORS configurations up to 16 KB.
pub const MAX_CORS_BODY: usize = 16 * 1024;
const CORS_METHODS: &[&str] = &["GET", "PUT", "DELETE", "POST", "HEAD"];

/// A bucket's canned ACL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Acl {
    #[default]
    Private,
    PublicRead,
    PublicReadWrite,
}

impl Acl {
    pub fn parse(s: &str) -> Option<Acl> {
        match s {
            "private" => Some(Acl::Private),
            "public-read" => Some(Acl::PublicRead),
            "public-read-write" => Some(Acl::PublicReadWrite),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Acl::Private => "private",
            Acl::PublicRead => "public-read",
            Acl::PublicReadWrite => "public-read-write",
        }
    }

    /// Whether an anonymous caller may do `what`.
    pub fn allows(self, what: Anonymous) -> bool {
        match what {
            Anonymous::Read => matches!(self, Acl::PublicRead | Acl::PublicReadWrite),
            Anonymous::Write => self == Acl::PublicReadWrite,
            Anonymous::Never => false,
        }
    }
}

/// What an unsigned request would do, as far as the bucket ACL is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anonymous {
    /// Read an object or list the bucket: public-read and public-read-write.
    Read,
    /// Create, change or delete objects: public-read-write only.
    Write,
    /// Bucket settings, the service level, anything else: the owner only.
    Never,
}

/// One CORS rule, as stored and as answered by GetBucketCors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age_seconds: Option<u64>,
}

/// A bucket's CORS configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsConfig {
    pub rules: Vec<CorsRule>,
    #[serde(default)]
    pub response_vary: bool,
}

/// Everything this module keeps about a bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSettings {
    #[serde(default)]
    pub acl: Acl,
    #[serde(default)]
    pub cors: Option<CorsConfig>,
}

/// Bucket settings on disk, cached.
pub struct Settings {
    root: PathBuf,
    cache: Mutex<HashMap<String, Arc<BucketSettings>>>,
    /// Updates are read-modify-write: one at a time.
    writing: tokio::sync::Mutex<()>,
}

impl Settings {
    pub fn new(root: &std::path::Path) -> std::io::Result<Settings> {
        let settings = Settings {
            root: root.to_path_buf(),
            cache: Mutex::new(HashMap::new()),
            writing: tokio::sync::Mutex::new(()),
        };
        std::fs::create_dir_all(settings.dir())?;
        Ok(settings)
    }

    fn dir(&self) -> PathBuf {
        self.root.join(".oss").join("buckets")
    }

    fn path(&self, bucket: &str) -> PathBuf {
        self.dir().join(format!("{bucket}.json"))
    }

    /// The bucket's settings; defaults (private, no CORS) when none were
    /// saved. `bucket` must be a valid bucket name (it names a file).
    pub async fn get(&self, bucket: &str) -> Arc<BucketSettings> {
        if let Some(s) = lock(&self.cache).get(bucket) {
            return s.clone();
        }
        let path = self.path(bucket);
        let loaded = match tokio::fs::read(&path).await {
            Ok(bytes) => match serde_json::from_slice::<BucketSettings>(&bytes) {
                Ok(s) => Some(s),
                Err(e) => {
                    // Unreadable settings fall back to the safe default:
                    // private, no CORS.
                    tracing::warn!(path = %path.display(), error = %e, "OSS emulator: ignoring damaged bucket settings");
                    None
                }
            },
            Err(_) => None,
        };
        let settings = Arc::new(loaded.unwrap_or_default());
        // Cache only what names a real bucket, so that requests for made-up
        // names cannot grow the cache.
        if self.root.join(bucket).is_dir() {
            lock(&self.cache).insert(bucket.to_string(), settings.clone());
        }
        settings
    }

    pub async fn acl(&self, bucket: &str) -> Acl {
        self.get(bucket).await.acl
    }

    /// Change the bucket's settings and save them (written aside, then
    /// renamed, so a crash leaves the old settings or the new ones).
    pub async fn update(
        &self,
        bucket: &str,
        change: impl FnOnce(&mut BucketSettings),
    ) -> OssResult<()> {
        let _writing = self.writing.lock().await;
        let mut next = (*self.get(bucket).await).clone();
        change(&mut next);
        let bytes = serde_json::to_vec_pretty(&next)
            .map_err(|e| OssError::internal(format!("bucket settings: {e}")))?;
        let path = self.path(bucket);
        let tmp = self.dir().join(format!(".{bucket}.json.tmp"));
        let saved = async {
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = saved {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        lock(&self.cache).insert(bucket.to_string(), Arc::new(next));
        Ok(())
    }
}

// --- ACL ------------------------------------------------------------------

/// PutBucketAcl: the new ACL from `x-oss-acl`; `None` (nothing to change)
/// without the header.
pub fn acl_from_header(value: Option<&str>) -> OssResult<Option<Acl>> {
    let Some(v) = value else {
        return Ok(None);
    };
    Acl::parse(v).map(Some).ok_or_else(|| {
        OssError::invalid_argument("no such bucket access control exists")
            .with("ArgumentName", "x-oss-acl")
            .with("ArgumentValue", v)
    })
}

/// GetBucketAcl's document.
pub fn acl_xml(acl: Acl, owner: &str) -> String {
    let mut doc = Doc::new("AccessControlPolicy", false);
    doc.open("Owner")
        .text("ID", owner)
        .text("DisplayName", owner)
        .close("Owner")
        .open("AccessControlList")
        .text("Grant", acl.as_str())
        .close("AccessControlList");
    doc.finish("AccessControlPolicy")
}

// --- CORS configuration -----------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CorsConfigurationXml {
    #[serde(rename = "CORSRule", default)]
    rules: Vec<CorsRuleXml>,
    #[serde(default)]
    response_vary: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CorsRuleXml {
    #[serde(rename = "AllowedOrigin", default)]
    allowed_origins: Vec<String>,
    #[serde(rename = "AllowedMethod", default)]
    allowed_methods: Vec<String>,
    #[serde(rename = "AllowedHeader", default)]
    allowed_headers: Vec<String>,
    #[serde(rename = "ExposeHeader", default)]
    expose_headers: Vec<String>,
    #[serde(default)]
    max_age_seconds: Option<String>,
}

/// PutBucketCors: parse and check a `CORSConfiguration` body.
pub fn parse_cors(body: &Bytes) -> OssResult<CorsConfig> {
    let doc: CorsConfigurationXml = parse_xml(body)?;
    if doc.rules.is_empty() {
        return Err(OssError::malformed_xml(
            "The CORSConfiguration has no CORSRule: at least one is required.",
        ));
    }
    if doc.rules.len() > MAX_CORS_RULES {
        return Err(OssError::invalid_argument(format!(
            "The CORSConfiguration has {} CORSRule elements; at most {MAX_CORS_RULES} are allowed.",
            doc.rules.len()
        )));
    }
    let response_vary = match doc.response_vary.as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(OssError::malformed_xml(format!(
                "ResponseVary must be true or false, not {other:?}."
            )));
        }
    };
    let trimmed =
        |v: Vec<String>| -> Vec<String> { v.into_iter().map(|s| s.trim().to_string()).collect() };
    let mut rules = Vec::with_capacity(doc.rules.len());
    for r in doc.rules {
        let rule = CorsRule {
            allowed_origins: trimmed(r.allowed_origins),
            allowed_methods: trimmed(r.allowed_methods),
            allowed_headers: trimmed(r.allowed_headers),
            expose_headers: trimmed(r.expose_headers),
            max_age_seconds: match r.max_age_seconds.as_deref().map(str::trim) {
                None => None,
                Some(s) => Some(s.parse::<u64>().map_err(|_| {
                    OssError::invalid_argument(format!(
                        "MaxAgeSeconds must be a whole number of seconds, not {s:?}."
                    ))
                })?),
            },
        };
        check_rule(&rule)?;
        rules.push(rule);
    }
    Ok(CorsConfig {
        rules,
        response_vary,
    })
}

fn check_rule(rule: &CorsRule) -> OssResult<()> {
    if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
        return Err(OssError::invalid_argument(
            "Every CORSRule needs at least one AllowedOrigin and one AllowedMethod.",
        ));
    }
    for m in &rule.allowed_methods {
        if !CORS_METHODS.contains(&m.as_str()) {
            return Err(OssError::invalid_argument(format!(
                "AllowedMethod {m:?} is not one of GET, PUT, DELETE, POST, HEAD."
            )));
        }
    }
    for (what, list) in [
        ("AllowedOrigin", &rule.allowed_origins),
        ("AllowedHeader", &rule.allowed_headers),
    ] {
        for v in list {
            if v.is_empty() {
                return Err(OssError::invalid_argument(format!("{what} is empty.")));
            }
            if v.matches('*').count() > 1 {
                return Err(OssError::invalid_argument(format!(
                    "{what} {v:?} has more than one wildcard (*)."
                )));
            }
        }
    }
    for v in &rule.expose_headers {
        if v.is_empty() || v.contains('*') {
            return Err(OssError::invalid_argument(format!(
                "ExposeHeader {v:?} must be a header name without wildcards."
            )));
        }
    }
    Ok(())
}

/// GetBucketCors' document.
pub fn cors_xml(cors: &CorsConfig) -> String {
    let mut doc = Doc::new("CORSConfiguration", false);
    for r in &cors.rules {
        doc.open("CORSRule");
        for (tag, list) in [
            ("AllowedOrigin", &r.allowed_origins),
            ("AllowedMethod", &r.allowed_methods),
            ("AllowedHeader", &r.allowed_headers),
            ("ExposeHeader", &r.expose_headers),
        ] {
            for v in list {
                doc.text(tag, v);
            }
        }
        if let Some(age) = r.max_age_seconds {
            doc.text("MaxAgeSeconds", age);
        }
        doc.close("CORSRule");
    }
    doc.text("ResponseVary", cors.response_vary);
    doc.finish("CORSConfiguration")
}

pub fn no_such_cors(bucket: &str) -> OssError {
    OssError::new(
        StatusCode::NOT_FOUND,
        "NoSuchCORSConfiguration",
        "The CORS Configuration does not exist.",
    )
    .with("BucketName", bucket)
}

// --- the bucket operations ---------------------------------------------------

pub(crate) async fn put_bucket_acl(cx: &Ctx, bucket: &str) -> OssResult<Response> {
    if let Some(acl) = acl_from_header(cx.header("x-oss-acl"))? {
        cx.sh.access.update(bucket, |s| s.acl = acl).await?;
        tracing::info!(bucket, acl = acl.as_str(), "OSS bucket ACL set");
    }
    Ok(empty(StatusCode::OK))
}

pub(crate) async fn get_bucket_acl(cx: &Ctx, bucket: &str) -> OssResult<Response> {
    let acl = cx.sh.access.acl(bucket).await;
    Ok(xml_response(
        StatusCode::OK,
        acl_xml(acl, &cx.sh.account_id),
    ))
}

pub(crate) async fn put_bucket_cors(cx: &Ctx, bucket: &str, body: Body) -> OssResult<Response> {
    let body = read_small(body, MAX_CORS_BODY, cx.payload_sha256()).await?;
    check_md5(cx, &Md5::digest(&body))?;
    let cors = parse_cors(&body)?;
    cx.sh.access.update(bucket, |s| s.cors = Some(cors)).await?;
    Ok(empty(StatusCode::OK))
}

pub(crate) async fn get_bucket_cors(cx: &Ctx, bucket: &str) -> OssResult<Response> {
    match &cx.sh.access.get(bucket).await.cors {
        Some(cors) => Ok(xml_response(StatusCode::OK, cors_xml(cors))),
        None => Err(no_such_cors(bucket)),
    }
}

pub(crate) async fn delete_bucket_cors(cx: &Ctx, bucket: &str) -> OssResult<Response> {
    cx.sh.access.update(bucket, |s| s.cors = None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

// --- CORS matching ----------------------------------------------------------

/// `pattern` with at most one `*` standing for any run of characters.
fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.starts_with(head)
                && value.ends_with(tail)
        }
    }
}

/// The `Access-Control-Allow-Origin` a rule answers `origin` with, if the
/// rule allows it: `*` for a `*` rule, else the origin itself.
fn allowed_origin(rule: &CorsRule, origin: &str) -> Option<String> {
    rule.allowed_origins
        .iter()
        .find(|p| wildcard_match(p, origin))
        .map(|p| {
            if p == "*" {
                "*".to_string()
            } else {
                origin.to_string()
            }
        })
}

impl CorsConfig {
    /// The first rule allowing `origin`, `method` and every one of
    /// `headers` (lowercase), and the allowed origin to answer with.
    pub fn find(
        &self,
        origin: &str,
        method: &str,
        headers: &[String],
    ) -> Option<(&CorsRule, String)> {
        self.rules.iter().find_map(|r| {
            let allowed = allowed_origin(r, origin)?;
            let method_ok = r.allowed_methods.iter().any(|m| m == method);
            // Header names are case-insensitive.
            let headers_ok = headers.iter().all(|h| {
                r.allowed_headers
                    .iter()
                    .any(|p| wildcard_match(&p.to_ascii_lowercase(), h))
            });
            (method_ok && headers_ok).then_some((r, allowed))
        })
    }
}

/// The headers a matched rule puts on an answer.
fn allow_headers(resp: &mut Response, rule: &CorsRule, allowed_origin: &str) {
    set(resp, "access-control-allow-origin", allowed_origin);
    set(
        resp,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        set(
            resp,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        set(resp, "access-control-max-age", &age.to_string());
    }
}

/// Add the CORS headers to an answer from `bucket`: the allow headers when
/// the request has an `Origin` a rule allows with the request's method (a
/// preflight sets its own), and `Vary: Origin` on every answer, preflights
/// and refusals included, when the configuration asks for it.
pub async fn decorate(
    settings: &Settings,
    bucket: &str,
    origin: Option<&str>,
    method: &Method,
    resp: &mut Response,
) {
    let s = settings.get(bucket).await;
    let Some(cors) = &s.cors else {
        return;
    };
    if *method != Method::OPTIONS
        && let Some(origin) = origin
        && let Some((rule, allowed)) = cors.find(origin, method.as_str(), &[])
    {
        allow_headers(resp, rule, &allowed);
    }
    if cors.response_vary {
        resp.headers_mut()
            .append(http::header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// `Access-Control-Request-Headers`: comma-separated names, lowercase.
fn requested_headers(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

fn bad_request(message: &str) -> OssError {
    OssError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// The `Options` operation: a browser's preflight. Unsigned by nature;
/// [`decorate`] adds `Vary` afterwards.
pub async fn preflight(
    settings: &Settings,
    bucket: &str,
    is_object: bool,
    origin: Option<&str>,
    request_method: Option<&str>,
    request_headers: Option<&str>,
) -> OssResult<Response> {
    let origin = origin
        .ok_or_else(|| bad_request("Insufficient information. Origin request header needed."))?;
    let method = request_method.ok_or_else(|| {
        bad_request(
            "Insufficient information. Request Access-Control-Request-Method header needed.",
        )
    })?;
    let headers = requested_headers(request_headers);
    let s = settings.get(bucket).await;
    let resource = if is_object { "OBJECT" } else { "BUCKET" };
    let refused = |message: &str| {
        OssError::new(StatusCode::FORBIDDEN, "AccessForbidden", message)
            .with("Method", method)
            .with("ResourceType", resource)
    };
    let Some(cors) = &s.cors else {
        return Err(refused(
            "CORSResponse: CORS is not enabled for this bucket.",
        ));
    };
    let Some((rule, allowed)) = cors.find(origin, method, &headers) else {
        return Err(refused(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Requet-Headers are not whitelisted by the resource's CORS spec.",
        ));
    };
    let mut r = Response::new(axum::body::Body::empty());
    allow_headers(&mut r, rule, &allowed);
    if let Some(h) = request_headers.map(str::trim).filter(|h| !h.is_empty()) {
        set(&mut r, "access-control-allow-headers", h);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        CorsRule {
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            expose_headers: v(&["ETag"]),
            max_age_seconds: Some(60),
        }
    }

    #[test]
    fn acl_values_and_permissions() {
        assert_eq!(acl_from_header(None).unwrap(), None);
        assert_eq!(
            acl_from_header(Some("public-read")).unwrap(),
            Some(Acl::PublicRead)
        );
        let e = acl_from_header(Some("public")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "InvalidArgument"));
        assert!(e.extra.contains(&("ArgumentValue", "public".to_string())));
        assert!(!Acl::Private.allows(Anonymous::Read));
        assert!(Acl::PublicRead.allows(Anonymous::Read));
        assert!(!Acl::PublicRead.allows(Anonymous::Write));
        assert!(Acl::PublicReadWrite.allows(Anonymous::Write));
        assert!(!Acl::PublicReadWrite.allows(Anonymous::Never));
        let doc = acl_xml(Acl::PublicRead, "42");
        assert!(
            doc.contains("<Owner><ID>42</ID><DisplayName>42</DisplayName></Owner>"),
            "{doc}"
        );
        assert!(
            doc.contains("<AccessControlList><Grant>public-read</Grant></AccessControlList>"),
            "{doc}"
        );
    }

    #[test]
    fn cors_documents_parse_check_and_round_trip() {
        let body = Bytes::from_static(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration><CORSRule>\
              <AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
              <AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader>\
              <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>100</MaxAgeSeconds></CORSRule>\
              <CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin>\
              <AllowedMethod>PUT</AllowedMethod></CORSRule>\
              <ResponseVary>true</ResponseVary></CORSConfiguration>",
        );
        let c = parse_cors(&body).unwrap();
        assert_eq!(c.rules.len(), 2);
        assert!(c.response_vary);
        assert_eq!(c.rules[0].max_age_seconds, Some(100));
        assert_eq!(c.rules[0].allowed_methods, ["GET", "HEAD"]);
        assert_eq!(
            parse_cors(&Bytes::from(cors_xml(&c))).unwrap(),
            c,
            "GetBucketCors' document reads back as the same configuration"
        );

        let code = |xml: &str| parse_cors(&Bytes::from(xml.to_string())).unwrap_err().code;
        let one = |inner: &str| {
            format!("<CORSConfiguration><CORSRule>{inner}</CORSRule></CORSConfiguration>")
        };
        assert_eq!(
            code("<CORSConfiguration></CORSConfiguration>"),
            "MalformedXML"
        );
        assert_eq!(code("<CORSConfiguration><CORSRule>"), "MalformedXML");
        let ok = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>";
        let eleven = format!(
            "<CORSConfiguration>{}</CORSConfiguration>",
            format!("<CORSRule>{ok}</CORSRule>").repeat(11)
        );
        assert_eq!(code(&eleven), "InvalidArgument");
        let ten = format!(
            "<CORSConfiguration>{}</CORSConfiguration>",
            format!("<CORSRule>{ok}</CORSRule>").repeat(10)
        );
        assert!(parse_cors(&Bytes::from(ten)).is_ok());
        for bad in [
            "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>",
            "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>",
            "<AllowedOrigin>*</AllowedOrigin><AllowedMethod></AllowedMethod>",
            "<AllowedOrigin>*</AllowedOrigin>",
            "<AllowedMethod>GET</AllowedMethod>",
            "<AllowedOrigin>http://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>",
            "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>x-*-*</AllowedHeader>",
            "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>*</ExposeHeader>",
            "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>soon</MaxAgeSeconds>",
        ] {
            assert_eq!(code(&one(bad)), "InvalidArgument", "{bad}");
        }
    }

    #[test]
    fn rules_match_origin_method_and_every_requested_header() {
        let c = CorsConfig {
            rules: vec![
                rule(
                    &["https://*.example.com"],
                    &["GET", "PUT"],
                    &["x-oss-*", "Content-Type"],
                ),
                rule(&["*"], &["GET"], &[]),
            ],
            response_vary: false,
        };
        let h = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (r, allowed) = c
            .find(
                "https://a.example.com",
                "PUT",
                &h(&["x-oss-meta-a", "content-type"]),
            )
            .unwrap();
        assert_eq!(
            (allowed.as_str(), r.allowed_methods.len()),
            ("https://a.example.com", 2)
        );
        // A header the first rule does not allow: the second has no headers.
        assert!(
            c.find("https://a.example.com", "PUT", &h(&["authorization"]))
                .is_none()
        );
        // The `*` rule answers `*`.
        let (_, allowed) = c.find("http://other.org", "GET", &[]).unwrap();
        assert_eq!(allowed, "*");
        assert!(c.find("http://other.org", "DELETE", &[]).is_none());
        assert!(
            c.find("https://example.com", "PUT", &[]).is_none(),
            "*.example.com needs a label"
        );
        assert!(!wildcard_match("ab*ba", "aba") && wildcard_match("ab*ba", "abba"));
        assert_eq!(
            requested_headers(Some(" X-Oss-A , ,content-type")),
            ["x-oss-a", "content-type"]
        );
    }

    #[tokio::test]
    async fn settings_persist_and_default_to_private() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("b1")).unwrap();
        let s = Settings::new(tmp.path()).unwrap();
        assert_eq!(*s.get("b1").await, BucketSettings::default());
        s.update("b1", |b| {
            b.acl = Acl::PublicRead;
            b.cors = Some(CorsConfig {
                rules: vec![rule(&["*"], &["GET"], &["*"])],
                response_vary: true,
            });
        })
        .await
        .unwrap();
        let again = Settings::new(tmp.path()).unwrap();
        let b = again.get("b1").await;
        assert_eq!(b.acl, Acl::PublicRead);
        assert!(b.cors.as_ref().is_some_and(|c| c.response_vary));
        // Damaged settings read as the safe default.
        std::fs::write(tmp.path().join(".oss/buckets/b1.json"), b"{nope").unwrap();
        let third = Settings::new(tmp.path()).unwrap();
        assert_eq!(third.acl("b1").await, Acl::Private);
    }
}
