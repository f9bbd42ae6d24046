//! What a request is about: bucket and key from the Host and the path (path
//! or virtual-hosted style), the decoded query, and the context every
//! operation is served with.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use http::Method;
use http::header::HeaderMap;
use percent_encoding::percent_decode_str;

use super::Shared;
use super::auth;
use super::error::{OssError, OssResult};
use super::store::{Attributes, Meta};

/// Object headers kept and served back.
const KEPT_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// What the request is about.
pub(crate) struct Ctx {
    pub sh: Arc<Shared>,
    pub rid: String,
    pub peer: SocketAddr,
    pub host: String,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The bucket came from the Host header (virtual-hosted style).
    pub virtual_host: bool,
    /// Unsigned, and let through by the bucket ACL.
    pub anonymous: bool,
}

impl Ctx {
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }
    /// `x-oss-forbid-overwrite: true`: the write must not replace an object.
    pub fn forbid_overwrite(&self) -> bool {
        self.header("x-oss-forbid-overwrite")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The SHA-256 the body must have, when the request signed one.
    pub fn payload_sha256(&self) -> Option<[u8; 32]> {
        self.header("x-oss-content-sha256")
            .and_then(auth::payload_sha256)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The object's URL in the style the request used (`Location` answers).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        if self.virtual_host {
            format!("http://{}/{key}", self.host)
        } else {
            format!("http://{}/{bucket}/{key}", self.host)
        }
    }
    pub fn url_encoded(&self) -> OssResult<bool> {
        match self.q("encoding-type") {
            None => Ok(false),
            Some("url") => Ok(true),
            Some(other) => Err(OssError::invalid_argument(format!(
                "encoding-type {other:?} is not supported; use url"
            ))),
        }
    }
    pub fn emit(&self, event: &str, bucket: &str, key: &str, meta: &Meta, previous: Option<u64>) {
        let delta = meta.size as i64 - previous.unwrap_or(0) as i64;
        self.sh.emit(
            event,
            bucket,
            key,
            meta.size,
            &meta.etag,
            delta,
            &self.peer.ip().to_string(),
            &self.rid,
        );
    }

    /// Content-Type and the kept headers of an upload.
    pub fn attributes(&self, key: &str) -> Attributes {
        let mut headers = BTreeMap::new();
        for (name, value) in &self.headers {
            let n = name.as_str();
            if (KEPT_HEADERS.contains(&n) || n.starts_with("x-oss-meta-"))
                && let Ok(v) = value.to_str()
            {
                headers.insert(n.to_string(), v.to_string());
            }
        }
        Attributes {
            content_type: self
                .header("content-type")
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| vpf_oss::content_type_for(key).to_string()),
            headers,
        }
    }
}

/// What a request addresses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The bucket came from the Host header, not from the path.
    pub virtual_host: bool,
}

/// Bucket and key from the Host header and the path, as OSS reads them: a
/// Host that names a bucket (see [`virtual_bucket`]) makes the whole path
/// the key (virtual-hosted style); otherwise the path is `/bucket/key`
/// (path style). Either way the signature covers `/bucket/key`.
pub(crate) fn target(base_hosts: &[String], host: &str, path: &str) -> OssResult<Target> {
    let hostname = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or("").to_ascii_lowercase()
    };
    let virtual_bucket = virtual_bucket(base_hosts, &hostname);
    let path = path
        .strip_prefix('/')
        .ok_or_else(|| OssError::invalid_argument("The request path must start with /."))?;
    let decode = |s: &str| -> OssResult<String> {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| OssError::invalid_argument("The object key is not valid UTF-8."))
    };
    let virtual_host = virtual_bucket.is_some();
    let (bucket, key_raw) = match virtual_bucket {
        Some(b) => (Some(b), path),
        None if path.is_empty() => (None, ""),
        None => {
            let (b, k) = path.split_once('/').unwrap_or((path, ""));
            (Some(decode(b)?), k)
        }
    };
    let key = if key_raw.is_empty() {
        None
    } else {
        Some(decode(key_raw)?)
    };
    Ok(Target {
        bucket,
        key,
        virtual_host,
    })
}

/// The bucket a Host names in virtual-hosted style: its first label, when
/// the rest is one of the emulator's own names (`<bucket>.localhost`) or an
/// OSS endpoint (`<bucket>.oss-cn-hangzhou.aliyuncs.com`,
/// `<bucket>.oss-cn-hangzhou-internal.aliyuncs.com`,
/// `<bucket>.oss-accelerate.aliyuncs.com`, `<bucket>.cn-hangzhou.oss.aliyuncs.com`).
/// ali-oss sends the last-but-one form to an IP endpoint: it connects to the
/// IP and sets `Host: <bucket>.<region>.aliyuncs.com` with the key alone as
/// path (lib/common/utils/createRequest.js, lib/common/client/getReqUrl.js).
/// An IP address or a bare endpoint names no bucket (path style).
fn virtual_bucket(base_hosts: &[String], hostname: &str) -> Option<String> {
    if hostname.starts_with('[') || hostname.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let (label, rest) = hostname.split_once('.')?;
    if label.is_empty() {
        return None;
    }
    (base_hosts.iter().any(|b| b == rest) || is_oss_endpoint(rest)).then(|| label.to_string())
}

/// `oss-<region>[-internal].aliyuncs.com` (and the other `oss-*` service
/// names: `oss-accelerate`, `oss-cn-hangzhou-internal`) or
/// `<region>.oss.aliyuncs.com`: an OSS endpoint without a bucket.
fn is_oss_endpoint(host: &str) -> bool {
    let Some(service) = host.strip_suffix(".aliyuncs.com") else {
        return false;
    };
    match service.split('.').collect::<Vec<_>>()[..] {
        [name] => name.starts_with("oss-") && name.len() > "oss-".len(),
        [region, "oss"] => !region.is_empty(),
        _ => false,
    }
}

/// Query pairs decoded as OSS does (`+` is a space, `%XX` a byte), in order.
pub(crate) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_path_and_host() {
        let bases = vec!["localhost".to_string()];
        let t = |host: &str, path: &str| {
            let t = target(&bases, host, path).unwrap();
            (t.bucket, t.key, t.virtual_host)
        };
        let path = |b: &str, k: Option<&str>| (Some(b.to_string()), k.map(str::to_string), false);
        let virt = |b: &str, k: Option<&str>| (Some(b.to_string()), k.map(str::to_string), true);
        // Path style: an IP, localhost, an unknown name, a bare OSS endpoint.
        assert_eq!(
            t("127.0.0.1:9", "/b/a%20b/c%2Bd"),
            path("b", Some("a b/c+d"))
        );
        assert_eq!(t("127.0.0.1:9", "/b/"), path("b", None));
        assert_eq!(t("127.0.0.1:9", "/"), (None, None, false));
        assert_eq!(t("[::1]:9", "/b/k"), path("b", Some("k")));
        assert_eq!(t("localhost:9", "/b/k"), path("b", Some("k")));
        assert_eq!(t("example.com", "/b/k"), path("b", Some("k")));
        assert_eq!(t("other.example.com", "/b/k"), path("b", Some("k")));
        assert_eq!(
            t("oss-cn-hangzhou.aliyuncs.com", "/b/k"),
            path("b", Some("k"))
        );
        assert_eq!(
            t("cn-hangzhou.oss.aliyuncs.com", "/b/k"),
            path("b", Some("k"))
        );
        assert_eq!(t("ecs.aliyuncs.com", "/b/k"), path("b", Some("k")));
        assert_eq!(t("x.ecs.aliyuncs.com", "/b/k"), path("b", Some("k")));
        // Virtual-hosted style: the Host's first label is the bucket and the
        // whole path is the key.
        assert_eq!(t("vb.localhost:9", "/x/y"), virt("vb", Some("x/y")));
        assert_eq!(t("VB.LocalHost", "/x%20y"), virt("vb", Some("x y")));
        assert_eq!(t("vb.localhost:9", "/"), virt("vb", None));
        assert_eq!(
            t("media-in.oss-cn-hangzhou.aliyuncs.com", "/source/a.mp4"),
            virt("media-in", Some("source/a.mp4"))
        );
        assert_eq!(
            t("media-in.oss-cn-hangzhou-internal.aliyuncs.com:80", "/k"),
            virt("media-in", Some("k"))
        );
        assert_eq!(
            t("media-in.oss-accelerate.aliyuncs.com", "/k"),
            virt("media-in", Some("k"))
        );
        assert_eq!(
            t("media-in.cn-hangzhou.oss.aliyuncs.com", "/k"),
            virt("media-in", Some("k"))
        );
        // A key that looks like a bucket and key stays whole.
        assert_eq!(
            t("media-in.localhost", "/media-in/k"),
            virt("media-in", Some("media-in/k"))
        );
        // Deeper names are not `<bucket>.<endpoint>`.
        assert_eq!(t("a.b.localhost", "/b/k"), path("b", Some("k")));
        assert!(target(&bases, "h", "/b/%FF").is_err());
        assert!(target(&bases, "vb.localhost", "/%FF").is_err());
    }

    #[test]
    fn query_plus_is_a_space_and_percent_is_a_byte() {
        let q = parse_query(Some("prefix=a+b%2Bc%2F&uploads&x="));
        assert_eq!(q[0], ("prefix".into(), "a b+c/".into()));
        assert_eq!(q[1], ("uploads".into(), "".into()));
        assert_eq!(q[2], ("x".into(), "".into()));
    }
}
