//! URLs and signatures. Keys are percent-encoded per path segment (every byte
//! but the unreserved set `A-Z a-z 0-9 - . _ ~` and `/`), so what OSS decodes
//! is exactly the key we were given; signing is delegated to
//! `reqsign-aliyun-oss` (OSS V4, `OSS4-HMAC-SHA256`).

use std::net::IpAddr;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqsign_aliyun_oss::{Credential, RequestSigner, SigningVersion};
use reqsign_core::{Context, SignRequest};
use vpf_core::{Error, Result};

use crate::config::Credentials;

/// Unreserved characters stay, everything else is `%XX` (RFC 3986 and the
/// OSS V4 canonical form agree on this set).
pub(crate) const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// As [`QUERY_SET`], keeping `/` between key segments.
pub(crate) const KEY_SET: &AsciiSet = &QUERY_SET.remove(b'/');

/// The parsed endpoint: scheme, `host[:port]`, and the URL style.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    scheme: String,
    authority: String,
    path_style: bool,
}

impl Endpoint {
    pub(crate) fn parse(endpoint: &str, path_style: Option<bool>) -> Result<Endpoint> {
        let (scheme, rest) = match endpoint.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("https".to_string(), endpoint),
        };
        if scheme != "http" && scheme != "https" {
            return Err(Error::invalid(format!(
                "OSS endpoint {endpoint:?}: scheme must be http or https"
            )));
        }
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(Error::invalid(format!(
                "OSS endpoint {endpoint:?} must be scheme://host[:port] with nothing after it"
            )));
        }
        let host = host_of(authority);
        let is_local = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok();
        Ok(Endpoint {
            scheme,
            authority: authority.to_string(),
            path_style: path_style.unwrap_or(is_local),
        })
    }

    /// The URL of `key` in `bucket` (or of the bucket itself), with `query`
    /// pairs percent-encoded; a pair with an empty value is written as its name
    /// alone (`?uploads`).
    pub(crate) fn url(
        &self,
        bucket: &str,
        key: Option<&str>,
        query: &[(String, String)],
    ) -> String {
        let key = key.map(|k| utf8_percent_encode(k, KEY_SET).to_string());
        let mut url = if self.path_style {
            format!("{}://{}/{bucket}/", self.scheme, self.authority)
        } else {
            format!("{}://{bucket}.{}/", self.scheme, self.authority)
        };
        if let Some(k) = key {
            url.push_str(&k);
        }
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&utf8_percent_encode(k, QUERY_SET).to_string());
            if !v.is_empty() {
                url.push('=');
                url.push_str(&utf8_percent_encode(v, QUERY_SET).to_string());
            }
        }
        url
    }
}

fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |i| &authority[..=i]);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn reqsign_credential(c: &Credentials) -> Credential {
    Credential {
        access_key_id: c.access_key_id.clone(),
        access_key_secret: c.access_key_secret.clone(),
        security_token: c.security_token.clone(),
        expires_in: None,
    }
}

fn signer(bucket: &str, region: &str) -> RequestSigner {
    RequestSigner::new(bucket)
        .with_region(region)
        .with_signing_version(SigningVersion::V4)
}

/// Sign a request head with V4 in the `Authorization` header. Adds
/// `x-oss-date`, `x-oss-content-sha256: UNSIGNED-PAYLOAD` and, for STS
/// credentials, `x-oss-security-token`. Every header already in `parts` is
/// signed, so set them all (Content-Length, Range, ...) before calling.
pub(crate) async fn sign(
    parts: &mut http::request::Parts,
    bucket: &str,
    region: &str,
    credentials: &Credentials,
) -> Result<()> {
    signer(bucket, region)
        .sign_request(
            &Context::new(),
            parts,
            Some(&reqsign_credential(credentials)),
            None,
        )
        .await
        .map_err(|e| Error::internal(format!("signing an OSS request failed: {e}")))
}

/// A V4 presigned URL (query signature) valid for `expires`.
pub(crate) async fn presign(
    method: http::Method,
    url: &str,
    bucket: &str,
    region: &str,
    credentials: &Credentials,
    expires: Duration,
) -> Result<String> {
    let mut parts = http::Request::builder()
        .method(method)
        .uri(url)
        .body(())
        .map_err(|e| Error::invalid(format!("bad OSS URL: {e}")))?
        .into_parts()
        .0;
    signer(bucket, region)
        .sign_request(
            &Context::new(),
            &mut parts,
            Some(&reqsign_credential(credentials)),
            Some(expires),
        )
        .await
        .map_err(|e| Error::internal(format!("presigning an OSS URL failed: {e}")))?;
    Ok(parts.uri.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_follows_the_host_like_oss2() {
        let local = Endpoint::parse("http://127.0.0.1:9100", None).unwrap();
        assert_eq!(local.url("b", Some("k"), &[]), "http://127.0.0.1:9100/b/k");
        let lh = Endpoint::parse("http://localhost:9100/", None).unwrap();
        assert_eq!(lh.url("b", None, &[]), "http://localhost:9100/b/");
        let cloud = Endpoint::parse("oss-cn-hangzhou-internal.aliyuncs.com", None).unwrap();
        assert_eq!(
            cloud.url("b", Some("k"), &[]),
            "https://b.oss-cn-hangzhou-internal.aliyuncs.com/k"
        );
        let forced = Endpoint::parse("http://localhost:1", Some(false)).unwrap();
        assert_eq!(forced.url("b", Some("k"), &[]), "http://b.localhost:1/k");
        let v6 = Endpoint::parse("http://[::1]:9", None).unwrap();
        assert_eq!(v6.url("b", None, &[]), "http://[::1]:9/b/");
    }

    #[test]
    fn bad_endpoints_are_refused() {
        for bad in ["ftp://x", "http://", "http://a/b", "http://u@h"] {
            assert!(Endpoint::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_and_query_are_encoded_exactly() {
        let e = Endpoint::parse("http://127.0.0.1:1", None).unwrap();
        assert_eq!(
            e.url(
                "b",
                Some("a dir/ü+%~x.mp4"),
                &[("uploads".into(), String::new())]
            ),
            "http://127.0.0.1:1/b/a%20dir/%C3%BC%2B%25~x.mp4?uploads"
        );
        assert_eq!(
            e.url(
                "b",
                None,
                &[
                    ("prefix".into(), "a b/+".into()),
                    ("list-type".into(), "2".into())
                ]
            ),
            "http://127.0.0.1:1/b/?prefix=a%20b%2F%2B&list-type=2"
        );
    }

    #[tokio::test]
    async fn header_signature_has_v4_shape_and_token() {
        let mut parts = http::Request::put("http://127.0.0.1:1/b/k")
            .header("content-length", "3")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let creds = Credentials::new("AKID", "secret").with_token("tok");
        sign(&mut parts, "b", "cn-hangzhou", &creds).await.unwrap();
        let auth = parts.headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("OSS4-HMAC-SHA256 Credential=AKID/"),
            "{auth}"
        );
        assert!(
            auth.contains("/cn-hangzhou/oss/aliyun_v4_request"),
            "{auth}"
        );
        assert!(auth.contains("AdditionalHeaders=content-length"), "{auth}");
        assert_eq!(parts.headers["x-oss-security-token"], "tok");
        assert_eq!(parts.headers["x-oss-content-sha256"], "UNSIGNED-PAYLOAD");
        assert!(!auth.contains("secret"));
    }
}
