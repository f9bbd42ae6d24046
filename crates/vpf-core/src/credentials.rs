//! Access keys for signing requests to Alibaba Cloud APIs (OSS, CloudFlow).
//!
//! One type for every client: inside FC they are the temporary STS keys of the
//! function's role (`x-fc-access-key-id`, `x-fc-access-key-secret`,
//! `x-fc-security-token`); locally they are the emulators' configured keys.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An AccessKey pair, plus the STS token when the keys are temporary.
/// `Debug` never prints the secret or the token: credentials must not reach a log line.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    /// Present for temporary (STS) credentials; sent as `x-acs-security-token`
    /// (CloudFlow) or `x-oss-security-token` (OSS).
    #[serde(default)]
    pub security_token: Option<String>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: None,
        }
    }

    /// Temporary credentials with their STS token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(token.into());
        self
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secret_and_token() {
        let c = Credentials::new("AKID", "s3cr3t").with_token("T0KEN");
        let d = format!("{c:?}");
        assert!(d.contains("AKID"));
        assert!(!d.contains("s3cr3t") && !d.contains("T0KEN"), "{d}");
    }
}
