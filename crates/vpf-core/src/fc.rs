//! The functions' side of the FC custom-runtime contract (feature `fc`):
//! [`Error`] is every function's error type, and an invocation's role
//! credentials become the keys the OSS and CloudFlow clients sign with.

use fc_runtime::{Context, FunctionError};

use crate::credentials::Credentials;
use crate::error::{Error, Result};

impl FunctionError for Error {
    fn error_type(&self) -> &str {
        self.kind.as_str()
    }
    /// Without the kind in front: it is in `errorType` already.
    fn error_message(&self) -> String {
        self.message.clone()
    }
    fn bad_event(message: String) -> Self {
        Error::invalid(message)
    }
    fn internal(message: String) -> Self {
        Error::internal(message)
    }
}

impl From<fc_runtime::Credentials> for Credentials {
    fn from(c: fc_runtime::Credentials) -> Credentials {
        Credentials {
            access_key_id: c.access_key_id,
            access_key_secret: c.access_key_secret,
            security_token: c.security_token,
        }
    }
}

impl From<Credentials> for fc_runtime::Credentials {
    fn from(c: Credentials) -> fc_runtime::Credentials {
        fc_runtime::Credentials {
            access_key_id: c.access_key_id,
            access_key_secret: c.access_key_secret,
            security_token: c.security_token,
        }
    }
}

/// The invocation's credentials, or a clear error for functions that need them.
pub fn credentials(ctx: &Context) -> Result<Credentials> {
    ctx.credentials.clone().map(Credentials::from).ok_or_else(|| {
        Error::invalid(
            "no credentials in the request (x-fc-access-key-id/secret): give the function a role",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_s_own_failures_keep_their_names() {
        let bad = Error::bad_event("not JSON".into());
        assert_eq!(
            (bad.error_type(), bad.error_message().as_str()),
            ("InvalidInput", "not JSON")
        );
        let panic = <Error as FunctionError>::internal("panicked".into());
        assert_eq!(panic.error_type(), "Internal");
        let e = Error::corrupt("moov atom not found");
        assert_eq!(e.error_type(), "CorruptMedia");
        assert_eq!(e.error_message(), "moov atom not found");
    }

    #[test]
    fn a_call_without_credentials_is_refused_by_name() {
        let e = credentials(&Context::default()).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidInput);
        assert!(e.message.contains("give the function a role"), "{e}");
        let ctx = Context {
            credentials: Some(Credentials::new("AK", "SK").with_token("T").into()),
            ..Context::default()
        };
        assert_eq!(
            credentials(&ctx).unwrap(),
            Credentials::new("AK", "SK").with_token("T")
        );
    }
}
