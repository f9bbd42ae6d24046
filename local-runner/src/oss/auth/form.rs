//! PostObject forms: the policy (base64 text) signed with V4
//! (`x-oss-signature`) or V1 (`Signature`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::v1::v1_signature;
use super::v4::{Scope, V4_ALGORITHM, hmac256, parse_v4_time, v4_signing_key};
use super::{Caller, MAX_PRESIGN, MAX_SKEW, require_v1, secret, skewed};
use crate::account::{KeyRing, constant_eq};
use crate::oss::error::{OssError, OssResult};

/// A PostObject form: the policy (base64 text) signed with V4
/// (`x-oss-signature`) or V1 (`Signature`). `fields` has lowercase names.
pub fn verify(
    keys: &KeyRing,
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
        let (secret, temporary) = secret(keys, scope.access_key_id, token, now)?;
        let key = v4_signing_key(&secret, scope.date, scope.region);
        let expected = hex::encode(hmac256(&key, policy.as_bytes()));
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
        OssError::invalid_argument("PostObject form without OSSAccessKeyId or x-oss-credential.")
    })?;
    let signature = fields
        .get("signature")
        .ok_or_else(|| OssError::invalid_argument("PostObject form without Signature."))?;
    let (secret, temporary) = secret(keys, ak, token, now)?;
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
