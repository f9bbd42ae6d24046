//! The `x-fc-*` request headers as a typed context.

use std::time::Duration;

use http::HeaderMap;

/// Header names FC sends with every invocation. The local runner's FC
/// emulator sends the same ones, from this list.
pub mod headers {
    pub const REQUEST_ID: &str = "x-fc-request-id";
    pub const ACCESS_KEY_ID: &str = "x-fc-access-key-id";
    pub const ACCESS_KEY_SECRET: &str = "x-fc-access-key-secret";
    pub const SECURITY_TOKEN: &str = "x-fc-security-token";
    pub const REGION: &str = "x-fc-region";
    pub const ACCOUNT_ID: &str = "x-fc-account-id";
    pub const FUNCTION_NAME: &str = "x-fc-function-name";
    pub const FUNCTION_HANDLER: &str = "x-fc-function-handler";
    pub const FUNCTION_MEMORY: &str = "x-fc-function-memory";
    pub const FUNCTION_TIMEOUT: &str = "x-fc-function-timeout";
    pub const QUALIFIER: &str = "x-fc-qualifier";
    pub const VERSION_ID: &str = "x-fc-version-id";
    pub const RETRY_COUNT: &str = "x-fc-retry-count";
    /// Set on failure answers: FC treats a 404 without it as a success.
    pub const STATUS: &str = "x-fc-status";
    /// Credential headers: never logged.
    pub const SECRET: [&str; 2] = [ACCESS_KEY_SECRET, SECURITY_TOKEN];
}

/// The function role's temporary keys, as FC hands them to each call
/// (`x-fc-access-key-id`, `x-fc-access-key-secret`, `x-fc-security-token`).
/// `Debug` never prints the secret or the token.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = self.security_token.as_ref().map(|_| "<redacted>");
        write!(
            f,
            "Credentials {{ access_key_id: {:?}, access_key_secret: \"<redacted>\", security_token: {token:?} }}",
            self.access_key_id
        )
    }
}

/// What FC tells a function about one invocation.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub request_id: String,
    pub function_name: String,
    pub region: String,
    pub account_id: String,
    /// The function role's temporary credentials; `None` when the function has no role.
    pub credentials: Option<Credentials>,
    /// The function's configured timeout.
    pub timeout: Option<Duration>,
    pub memory_mb: Option<u32>,
    /// How many times FC has retried this (asynchronous) invocation.
    pub retry_count: u32,
    pub qualifier: String,
    pub version_id: String,
}

impl Context {
    pub fn from_headers(h: &HeaderMap) -> Context {
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .unwrap_or_default()
        };
        let id = get(headers::ACCESS_KEY_ID);
        let secret = get(headers::ACCESS_KEY_SECRET);
        let token = get(headers::SECURITY_TOKEN);
        let credentials = (!id.is_empty() && !secret.is_empty()).then(|| Credentials {
            access_key_id: id,
            access_key_secret: secret,
            security_token: (!token.is_empty()).then_some(token),
        });
        Context {
            request_id: get(headers::REQUEST_ID),
            function_name: get(headers::FUNCTION_NAME),
            region: get(headers::REGION),
            account_id: get(headers::ACCOUNT_ID),
            credentials,
            timeout: get(headers::FUNCTION_TIMEOUT)
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs),
            memory_mb: get(headers::FUNCTION_MEMORY).parse().ok(),
            retry_count: get(headers::RETRY_COUNT).parse().unwrap_or(0),
            qualifier: get(headers::QUALIFIER),
            version_id: get(headers::VERSION_ID),
        }
    }

    /// The headers FC would send for this context (used by the local runner).
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (headers::REQUEST_ID, self.request_id.clone()),
            (headers::FUNCTION_NAME, self.function_name.clone()),
            (headers::REGION, self.region.clone()),
            (headers::ACCOUNT_ID, self.account_id.clone()),
            (headers::RETRY_COUNT, self.retry_count.to_string()),
            (headers::QUALIFIER, self.qualifier.clone()),
            (headers::VERSION_ID, self.version_id.clone()),
            (headers::FUNCTION_HANDLER, "index.handler".to_string()),
        ];
        if let Some(t) = self.timeout {
            out.push((headers::FUNCTION_TIMEOUT, t.as_secs().to_string()));
        }
        if let Some(m) = self.memory_mb {
            out.push((headers::FUNCTION_MEMORY, m.to_string()));
        }
        if let Some(c) = &self.credentials {
            out.push((headers::ACCESS_KEY_ID, c.access_key_id.clone()));
            out.push((headers::ACCESS_KEY_SECRET, c.access_key_secret.clone()));
            if let Some(t) = &c.security_token {
                out.push((headers::SECURITY_TOKEN, t.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_debug_hides_secrets() {
        let ctx = Context {
            request_id: "r-1".into(),
            function_name: "split".into(),
            region: "cn-hangzhou".into(),
            account_id: "123".into(),
            credentials: Some(Credentials {
                access_key_id: "AK".into(),
                access_key_secret: "SECRET-x".into(),
                security_token: Some("TOKEN-y".into()),
            }),
            timeout: Some(Duration::from_secs(600)),
            memory_mb: Some(3072),
            retry_count: 2,
            qualifier: "LATEST".into(),
            version_id: "1".into(),
        };
        let mut map = HeaderMap::new();
        for (k, v) in ctx.to_headers() {
            map.insert(k, v.parse().unwrap());
        }
        let back = Context::from_headers(&map);
        assert_eq!(back.request_id, "r-1");
        assert_eq!(back.credentials, ctx.credentials);
        assert_eq!(back.timeout, Some(Duration::from_secs(600)));
        assert_eq!(back.retry_count, 2);
        assert_eq!(back.memory_mb, Some(3072));
        let dbg = format!("{back:?}");
        assert!(
            !dbg.contains("SECRET-x") && !dbg.contains("TOKEN-y"),
            "{dbg}"
        );
    }

    #[test]
    fn missing_headers_give_an_empty_context() {
        let ctx = Context::from_headers(&HeaderMap::new());
        assert!(ctx.credentials.is_none());
        assert_eq!(ctx.retry_count, 0);
    }
}
