//! Browser uploads as an app server does them for OSS: the server writes a
//! short-lived PostObject policy for one key under the trigger prefix and
//! signs it (V4) with its own keys; the page posts the file with the policy,
//! the signature and the access key id straight to the bucket. The secret
//! never leaves the server.
//!
//! The form posts from the console's origin to the bucket's, so the bucket
//! needs a CORS rule for that origin, as on OSS ("Configure CORS before
//! uploading from a browser"): [`with_console_rule`] adds one when no rule
//! allows the console yet (matched as the emulator matches), keeping every
//! rule already there.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vpf_core::credentials::Credentials;

use crate::oss::{CorsConfig, CorsRule};

/// PostObject's limit on OSS: 5 GB.
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// How long a form stays valid: enough to start a large upload.
pub const FORM_TTL: Duration = Duration::from_secs(10 * 60);
const V4_ALGORITHM: &str = "OSS4-HMAC-SHA256";

/// What the page asks for (`POST /api/upload-form`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormRequest {
    pub file_name: String,
    pub size: u64,
}

/// A signed form: post `fields` then the file (as the last field, `file`)
/// to `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadForm {
    pub url: String,
    pub key: String,
    /// RFC 3339: when the policy expires.
    pub expiration: String,
    pub fields: BTreeMap<String, String>,
}

/// Where the form goes and what it may upload.
pub struct FormTarget<'a> {
    /// The bucket's URL, path style: `http://127.0.0.1:9100/my-video-bucket`.
    pub bucket_url: String,
    pub bucket: &'a str,
    pub region: &'a str,
    pub trigger_prefix: &'a str,
    pub extensions: &'a [String],
}

/// The signed form for one upload, or why there is none.
pub fn make_form(
    req: &FormRequest,
    target: &FormTarget<'_>,
    creds: &Credentials,
    now: DateTime<Utc>,
) -> Result<UploadForm, String> {
    let name = req.file_name.trim();
    if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.') {
        return Err(format!(
            "file name {:?} cannot be an object name under {:?}",
            req.file_name, target.trigger_prefix
        ));
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !target
        .extensions
        .iter()
        .any(|e| e.eq_ignore_ascii_case(&ext))
    {
        return Err(format!(
            "{name}: extension .{ext} is not one this system processes ({})",
            target.extensions.join(", ")
        ));
    }
    if req.size == 0 || req.size > MAX_UPLOAD_BYTES {
        return Err(format!(
            "{name}: {} bytes; a form upload takes 1 to {MAX_UPLOAD_BYTES} bytes",
            req.size
        ));
    }
    let key = format!("{}{name}", target.trigger_prefix);
    vpf_core::keys::validate_key(&key).map_err(|e| format!("{name}: {e}"))?;
    let date = now.format("%Y%m%d").to_string();
    let datetime = now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!(
        "{}/{date}/{}/oss/aliyun_v4_request",
        creds.access_key_id, target.region
    );
    let expiration = (now + FORM_TTL).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut conditions = vec![
        serde_json::json!({ "bucket": target.bucket }),
        serde_json::json!(["eq", "$key", key]),
        serde_json::json!(["content-length-range", 1, req.size]),
        serde_json::json!({ "x-oss-signature-version": V4_ALGORITHM }),
        serde_json::json!({ "x-oss-credential": credential }),
        serde_json::json!({ "x-oss-date": datetime }),
    ];
    if let Some(token) = &creds.security_token {
        conditions.push(serde_json::json!({ "x-oss-security-token": token }));
    }
    let policy = serde_json::json!({ "expiration": expiration, "conditions": conditions });
    let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let signature =
        crate::oss::v4_post_signature(&creds.access_key_secret, &date, target.region, &policy);
    let mut fields = BTreeMap::from([
        ("key".to_string(), key.clone()),
        ("policy".to_string(), policy),
        (
            "x-oss-signature-version".to_string(),
            V4_ALGORITHM.to_string(),
        ),
        ("x-oss-credential".to_string(), credential),
        ("x-oss-date".to_string(), datetime),
        ("x-oss-signature".to_string(), signature),
    ]);
    if let Some(token) = &creds.security_token {
        fields.insert("x-oss-security-token".into(), token.clone());
    }
    Ok(UploadForm {
        url: target.bucket_url.clone(),
        key,
        expiration,
        fields,
    })
}

/// The configuration with a rule for the console's form posts added (as
/// PutBucketCors' document), or `None` when a rule already allows them.
pub fn with_console_rule(cfg: &CorsConfig, origin: &str) -> Option<String> {
    if cfg.find(origin, "POST", &[]).is_some() {
        return None;
    }
    let mut cfg = cfg.clone();
    cfg.rules.push(CorsRule {
        allowed_origins: vec![origin.to_string()],
        allowed_methods: vec!["POST".into()],
        allowed_headers: vec!["*".into()],
        expose_headers: vec!["ETag".into()],
        max_age_seconds: Some(600),
    });
    Some(crate::oss::cors_xml(&cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(ext: &'a [String]) -> FormTarget<'a> {
        FormTarget {
            bucket_url: "http://127.0.0.1:9100/b".into(),
            bucket: "b",
            region: "cn-hangzhou",
            trigger_prefix: "source/",
            extensions: ext,
        }
    }

    #[test]
    fn a_form_pins_its_key_size_and_signature_fields_and_holds_no_secret() {
        let ext = vec!["mp4".to_string()];
        let creds = Credentials::new("AKID", "the-secret").with_token("TOKEN");
        let now = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let req = FormRequest {
            file_name: "clip.MP4".into(),
            size: 1234,
        };
        let f = make_form(&req, &target(&ext), &creds, now).unwrap();
        assert_eq!(f.key, "source/clip.MP4");
        assert_eq!(f.expiration, "2026-12-06T10:10:00Z");
        assert_eq!(
            f.fields["x-oss-credential"],
            "AKID/20261206/cn-hangzhou/oss/aliyun_v4_request"
        );
        assert_eq!(f.fields["x-oss-date"], "20261206T100000Z");
        assert_eq!(f.fields["x-oss-security-token"], "TOKEN");
        let json = serde_json::to_string(&f).unwrap();
        assert!(
            !json.contains("the-secret"),
            "the secret stays on the server"
        );
        let policy: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(&f.fields["policy"])
                .unwrap(),
        )
        .unwrap();
        let conditions = policy["conditions"].as_array().unwrap();
        assert!(conditions.contains(&serde_json::json!(["eq", "$key", "source/clip.MP4"])));
        assert!(conditions.contains(&serde_json::json!(["content-length-range", 1, 1234])));
        assert!(conditions.contains(&serde_json::json!({"x-oss-date": "20261206T100000Z"})));
        assert_eq!(
            f.fields["x-oss-signature"],
            crate::oss::v4_post_signature(
                "the-secret",
                "20261206",
                "cn-hangzhou",
                &f.fields["policy"]
            )
        );

        let refused = |name: &str, size: u64| {
            make_form(
                &FormRequest {
                    file_name: name.into(),
                    size,
                },
                &target(&ext),
                &creds,
                now,
            )
            .unwrap_err()
        };
        assert!(
            refused("notes.txt", 5)
                .contains("extension .txt is not one this system processes (mp4)")
        );
        assert!(refused("a/b.mp4", 5).contains("cannot be an object name"));
        assert!(refused("clip.mp4", 0).contains("1 to"));
        assert!(refused("clip.mp4", MAX_UPLOAD_BYTES + 1).contains("1 to"));
    }

    #[test]
    fn the_console_rule_is_added_once_and_keeps_the_others() {
        let xml = "<CORSConfiguration><CORSRule><AllowedOrigin>https://a.example</AllowedOrigin>\
                   <AllowedMethod>GET</AllowedMethod></CORSRule><ResponseVary>true</ResponseVary></CORSConfiguration>";
        let cfg = crate::oss::parse_cors(&bytes::Bytes::from(xml)).unwrap();
        let origin = "http://127.0.0.1:9300";
        let new = with_console_rule(&cfg, origin).unwrap();
        let back = crate::oss::parse_cors(&bytes::Bytes::from(new)).unwrap();
        assert_eq!(back.rules.len(), 2);
        assert_eq!(back.rules[0], cfg.rules[0]);
        assert_eq!(back.rules[1].allowed_origins, vec![origin.to_string()]);
        assert!(back.response_vary);
        assert_eq!(with_console_rule(&back, origin), None);
        assert!(with_console_rule(&CorsConfig::default(), origin).is_some());
    }
}
