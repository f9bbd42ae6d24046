//! Client for the Serverless Workflow (CloudFlow) API, product `fnf`, API
//! version `2019-03-15`, RPC style: the operation travels in `x-acs-action`,
//! the parameters in a form body (POST) or the query (GET), as the official
//! SDK `alibabacloud_fnf20190315` sends them.
//!
//! Endpoint: `https://<region>.fnf.aliyuncs.com` (the official SDK's endpoint
//! map, e.g. `cn-hangzhou.fnf.aliyuncs.com`), or any base URL such as the
//! local runner's `http://127.0.0.1:<port>`.
//!
//! StartExecution (API reference "StartExecution", doc 122628): an execution
//! name is unique within a flow. If a running execution has the name, the
//! service returns that execution; if a finished one has it, the call fails
//! with `ExecutionAlreadyExists` (HTTP 400 in the service's error-code table).
//! oss-trigger derives the name from bucket, key and eTag, so a re-delivered
//! event maps to [`StartOutcome::AlreadyExists`] and counts as success.

pub mod sign;

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use vpf_core::credentials::Credentials;
use vpf_core::{Error, ErrorKind, Result};

pub const API_VERSION: &str = "2019-03-15";

/// What StartExecution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// A new execution started, or one of the same name is still running
    /// (the service returns it instead of starting another).
    Started { execution_name: String },
    /// An execution of that name already finished: the event was delivered before.
    AlreadyExists,
}

/// An execution as DescribeExecution / StartExecution return it.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Execution {
    pub name: String,
    pub flow_name: String,
    /// Running, Succeeded, Failed, Stopped, TimedOut (Starting while queued).
    pub status: String,
    /// JSON text.
    pub input: String,
    /// JSON text (empty until the execution succeeded).
    pub output: String,
    pub started_time: String,
    pub stopped_time: String,
    pub request_id: String,
}

/// The service's error body: `{"RequestId","HostId","Code","Message"}`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

pub struct FlowClient {
    http: reqwest::Client,
    /// Base URL without the trailing slash.
    base: String,
    host: String,
    region: String,
    credentials: Credentials,
}

impl std::fmt::Debug for FlowClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowClient")
            .field("base", &self.base)
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl FlowClient {
    /// `endpoint`: a host (`cn-hangzhou.fnf.aliyuncs.com`, HTTPS implied) or a
    /// base URL (`http://127.0.0.1:8300`). Empty: the region's public endpoint.
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Result<FlowClient> {
        let endpoint = endpoint.trim().trim_end_matches('/');
        let base = if endpoint.is_empty() {
            if region.is_empty() {
                return Err(Error::invalid(
                    "workflow endpoint and region are both empty",
                ));
            }
            format!("https://{region}.fnf.aliyuncs.com")
        } else if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            endpoint.to_string()
        } else {
            format!("https://{endpoint}")
        };
        let rest = base.split_once("://").map(|(_, r)| r).unwrap_or(&base);
        let host = rest.split('/').next().unwrap_or_default().to_string();
        if host.is_empty() || rest.contains('/') {
            return Err(Error::invalid(format!(
                "workflow endpoint {endpoint:?} must be a host or scheme://host[:port]"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::internal(format!("building HTTP client: {e}")))?;
        Ok(FlowClient {
            http,
            base,
            host,
            region: region.to_string(),
            credentials,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// Start `flow_name` with `input` under `execution_name`.
    pub async fn start_execution(
        &self,
        flow_name: &str,
        execution_name: &str,
        input: &Value,
    ) -> Result<StartOutcome> {
        validate_name("flow name", flow_name)?;
        validate_name("execution name", execution_name)?;
        let params = vec![
            ("ExecutionName".to_string(), execution_name.to_string()),
            ("FlowName".to_string(), flow_name.to_string()),
            ("Input".to_string(), input.to_string()),
        ];
        match self.call("StartExecution", "POST", params).await? {
            Ok(body) => {
                let ex: Execution = serde_json::from_slice(&body).map_err(|e| {
                    Error::new(
                        ErrorKind::ServiceError,
                        format!("StartExecution answered unreadable JSON: {e}"),
                    )
                })?;
                Ok(StartOutcome::Started {
                    execution_name: if ex.name.is_empty() {
                        execution_name.to_string()
                    } else {
                        ex.name
                    },
                })
            }
            Err((_, e)) if e.code == "ExecutionAlreadyExists" => Ok(StartOutcome::AlreadyExists),
            Err((status, e)) => Err(api_error("StartExecution", status, &e)),
        }
    }

    pub async fn describe_execution(
        &self,
        flow_name: &str,
        execution_name: &str,
    ) -> Result<Execution> {
        validate_name("flow name", flow_name)?;
        validate_name("execution name", execution_name)?;
        let params = vec![
            ("ExecutionName".to_string(), execution_name.to_string()),
            ("FlowName".to_string(), flow_name.to_string()),
        ];
        match self.call("DescribeExecution", "GET", params).await? {
            Ok(body) => serde_json::from_slice(&body).map_err(|e| {
                Error::new(
                    ErrorKind::ServiceError,
                    format!("DescribeExecution answered unreadable JSON: {e}"),
                )
            }),
            Err((status, e)) => Err(api_error("DescribeExecution", status, &e)),
        }
    }

    /// One signed RPC call. `Ok(Err(..))` is an error answer from the service.
    async fn call(
        &self,
        action: &str,
        method: &str,
        params: Vec<(String, String)>,
    ) -> Result<std::result::Result<Vec<u8>, (u16, ApiError)>> {
        let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let mut headers = sign::base_headers(&self.host, action, API_VERSION, &date, &nonce);
        let (query, body) = if method == "POST" {
            headers.insert(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            );
            (Vec::new(), sign::encode_pairs(&params).into_bytes())
        } else {
            (params, Vec::new())
        };
        let mut req = sign::Request {
            method,
            path: "/",
            query: &query,
            headers,
            body: &body,
        };
        sign::sign(&mut req, &self.credentials);
        let mut url = format!("{}/", self.base);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&sign::encode_pairs(&query));
        }
        let m = if method == "POST" {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let mut rb = self
            .http
            .request(m, &url)
            .header("accept", "application/json");
        for (k, v) in &req.headers {
            // reqwest derives Host from the URL; it is signed with the same value.
            if k != "host" {
                rb = rb.header(k.as_str(), v.as_str());
            }
        }
        let resp = rb.body(body.clone()).send().await.map_err(|e| {
            Error::new(
                ErrorKind::ServiceError,
                format!("{action} to {}: {e}", self.base),
            )
        })?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Error::new(ErrorKind::ServiceError, format!("{action} answer: {e}")))?;
        if (200..300).contains(&status) {
            return Ok(Ok(bytes.to_vec()));
        }
        let err: ApiError = serde_json::from_slice(&bytes).unwrap_or_else(|_| ApiError {
            code: format!("HTTP{status}"),
            message: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            request_id: String::new(),
        });
        tracing::warn!(action, status, code = %err.code, request_id = %err.request_id, "workflow API refused");
        Ok(Err((status, err)))
    }
}

/// Throttling, server errors and expired temporary keys may pass; the rest
/// (unknown flow, bad parameters, bad signature) will not.
fn api_error(action: &str, status: u16, e: &ApiError) -> Error {
    let transient = status >= 500
        || status == 429
        || e.code.contains("Throttl")
        || e.code.contains("Expired")
        || e.code == "InternalServerError"
        || e.code == "ServiceUnavailable";
    let kind = if transient {
        ErrorKind::ServiceError
    } else {
        ErrorKind::InvalidInput
    };
    Error::new(
        kind,
        format!(
            "{action} failed: HTTP {status} {}: {} (request id {})",
            e.code, e.message, e.request_id
        ),
    )
}

/// Names as the API accepts them: a letter or `_` first, then letters,
/// digits, `_` and `-`, 1-128 characters.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !first_ok || !rest_ok || name.len() > 128 {
        return Err(Error::invalid(format!(
            "{what} {name:?} must start with a letter or '_' and hold only letters, digits, '_' and '-' (1-128)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_forms() {
        let c = Credentials::new("a", "b");
        let f = FlowClient::new("", "cn-hangzhou", c.clone()).unwrap();
        assert_eq!(f.endpoint(), "https://cn-hangzhou.fnf.aliyuncs.com");
        let f = FlowClient::new("http://127.0.0.1:9/", "cn-hangzhou", c.clone()).unwrap();
        assert_eq!(
            (f.endpoint(), f.host.as_str()),
            ("http://127.0.0.1:9", "127.0.0.1:9")
        );
        assert!(FlowClient::new("http://h/x", "r", c).is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("n", "a-0123_x").is_ok());
        assert!(validate_name("n", "0abc").is_err());
        assert!(validate_name("n", "a/b").is_err());
        assert!(validate_name("n", "").is_err());
    }

    #[test]
    fn transient_errors_are_service_errors() {
        let e = |code: &str| ApiError {
            code: code.into(),
            ..Default::default()
        };
        assert_eq!(api_error("S", 503, &e("X")).kind, ErrorKind::ServiceError);
        assert_eq!(
            api_error("S", 400, &e("Throttling.User")).kind,
            ErrorKind::ServiceError
        );
        assert_eq!(
            api_error("S", 404, &e("FlowNotExists")).kind,
            ErrorKind::InvalidInput
        );
        assert_eq!(
            api_error("S", 403, &e("SignatureDoesNotMatch")).kind,
            ErrorKind::InvalidInput
        );
    }
}
