//! The Serverless Workflow API (product `fnf`, version 2019-03-15, RPC style)
//! on loopback: StartExecution, DescribeExecution, GetExecutionHistory and
//! ListExecutions, each request's signature checked ([`super::sig`]).
//!
//! Answers follow the official SDK's models (`alibabacloud_fnf20190315`):
//! PascalCase fields (`Name`, `FlowName`, `Status`, `Input`, `Output`,
//! `StartedTime`, `StoppedTime`, `RequestId`; history `Events[]` with
//! `EventId`, `Type`, `StepName`, `Time`, `ScheduleEventId`, `EventDetail`).
//! Errors use the service's shape `{"RequestId","HostId","Code","Message"}`
//! with the status and code of the CloudFlow error-code table
//! (`ExecutionAlreadyExists` 400, `FlowNotExists` 404, `ExecutionNotExists` 404,
//! `InvalidArgument` 400); signature failures answer 403.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::engine::{Engine, ExecutionRecord, Invoker, StartError};
use super::sig::{NonceCache, verify};
use crate::account::KeyRing;

pub const API_VERSION: &str = "2019-03-15";

pub struct ApiState<I: Invoker> {
    /// Flows by name.
    pub engines: HashMap<String, Engine<I>>,
    pub keys: KeyRing,
    nonces: NonceCache,
    host_id: String,
}

impl<I: Invoker> ApiState<I> {
    pub fn new(engines: Vec<Engine<I>>, keys: KeyRing) -> ApiState<I> {
        ApiState {
            engines: engines
                .into_iter()
                .map(|e| (e.flow().name.clone(), e))
                .collect(),
            keys,
            nonces: NonceCache::default(),
            host_id: "fnf.localhost".into(),
        }
    }
}

pub fn router<I: Invoker>(state: Arc<ApiState<I>>) -> Router {
    Router::new().fallback(handle::<I>).with_state(state)
}

/// Serve on `addr` (use a loopback address; port 0 picks one). Answers the
/// bound address; the server runs until the task is dropped or aborted.
pub async fn serve<I: Invoker>(
    addr: SocketAddr,
    state: Arc<ApiState<I>>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(state);
    let task = tokio::spawn(async move {
        crate::serve::serve(
            listener,
            app,
            crate::serve::ServeLimits::default(),
            std::future::pending(),
        )
        .await;
    });
    Ok((bound, task))
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

fn error(host_id: &str, status: u16, code: &str, message: impl Into<String>) -> Response {
    let rid = request_id();
    let body = json!({
        "RequestId": rid,
        "HostId": host_id,
        "Code": code,
        "Message": message.into(),
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [("x-acs-request-id", rid)], axum::Json(body)).into_response()
}

fn ok(mut body: Value) -> Response {
    let rid = request_id();
    if let Some(m) = body.as_object_mut() {
        m.insert("RequestId".into(), Value::String(rid.clone()));
    }
    (
        StatusCode::OK,
        [("x-acs-request-id", rid)],
        axum::Json(body),
    )
        .into_response()
}

async fn handle<I: Invoker>(
    State(st): State<Arc<ApiState<I>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = st.host_id.as_str();
    let v = match verify(
        method.as_str(),
        uri.path(),
        uri.query(),
        &headers,
        &body,
        &st.keys,
        &st.nonces,
    ) {
        Ok(v) => v,
        Err(e) => return error(host, e.status, e.code, e.message),
    };
    if !v.version.is_empty() && v.version != API_VERSION {
        return error(
            host,
            400,
            "APIVersionNotSupported",
            format!(
                "The requested API version '{}' is not supported yet. Please check.",
                v.version
            ),
        );
    }
    let Some(flow_name) = v.param("FlowName").map(str::to_string) else {
        return error(
            host,
            400,
            "MissingRequiredParams",
            "The HTTP query 'FlowName' must be specified.",
        );
    };
    let Some(engine) = st.engines.get(&flow_name) else {
        return error(
            host,
            404,
            "FlowNotExists",
            format!("Flow {flow_name} does not exist."),
        );
    };
    let exec_name = v.param("ExecutionName").map(str::to_string);
    match v.action.as_str() {
        "StartExecution" => {
            let name = exec_name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let input = match v.param("Input").filter(|s| !s.trim().is_empty()) {
                None => json!({}),
                Some(s) => match serde_json::from_str::<Value>(s) {
                    Ok(x) => x,
                    Err(e) => {
                        return error(
                            host,
                            400,
                            "InvalidArgument",
                            format!("Input is not JSON: {e}"),
                        );
                    }
                },
            };
            match engine.start(&name, input) {
                Ok(rec) => ok(execution_json(engine, &rec)),
                Err(StartError::AlreadyExists { flow, execution }) => error(
                    host,
                    400,
                    "ExecutionAlreadyExists",
                    format!("Execution {execution} for flow {flow} already exists."),
                ),
                Err(StartError::InvalidArgument(m)) => error(host, 400, "InvalidArgument", m),
            }
        }
        "DescribeExecution" => {
            let Some(name) = exec_name else {
                return error(
                    host,
                    400,
                    "MissingRequiredParams",
                    "The HTTP query 'ExecutionName' must be specified.",
                );
            };
            match engine.describe(&name) {
                Some(rec) => ok(execution_json(engine, &rec)),
                None => not_found(host, &flow_name, &name),
            }
        }
        "GetExecutionHistory" => {
            let Some(name) = exec_name else {
                return error(
                    host,
                    400,
                    "MissingRequiredParams",
                    "The HTTP query 'ExecutionName' must be specified.",
                );
            };
            let Some(rec) = engine.describe(&name) else {
                return not_found(host, &flow_name, &name);
            };
            let (start, limit) = match page(v.param("NextToken"), v.param("Limit")) {
                Ok(p) => p,
                Err(m) => return error(host, 400, "InvalidArgument", m),
            };
            let events: Vec<Value> = rec
                .events
                .iter()
                .skip(start)
                .take(limit)
                .map(|e| {
                    json!({
                        "EventId": e.id,
                        "Type": e.kind,
                        "StepName": e.state,
                        "Time": e.time,
                        "ScheduleEventId": 0,
                        "EventDetail": serde_json::to_string(e).unwrap_or_default(),
                    })
                })
                .collect();
            let next = start + events.len();
            let mut body = json!({ "Events": events });
            if next < rec.events.len() {
                body["NextToken"] = json!(next.to_string());
            }
            ok(body)
        }
        "ListExecutions" => {
            let (start, limit) = match page(v.param("NextToken"), v.param("Limit")) {
                Ok(p) => p,
                Err(m) => return error(host, 400, "InvalidArgument", m),
            };
            let prefix = v.param("ExecutionNamePrefix").unwrap_or("");
            let status = v.param("Status").filter(|s| !s.is_empty());
            let all: Vec<ExecutionRecord> = engine
                .list()
                .into_iter()
                .filter(|r| r.name.starts_with(prefix))
                .filter(|r| status.is_none_or(|s| s == r.status.as_str()))
                .collect();
            let items: Vec<Value> = all
                .iter()
                .skip(start)
                .take(limit)
                .map(|r| execution_json(engine, r))
                .collect();
            let next = start + items.len();
            let mut body = json!({ "Executions": items });
            if next < all.len() {
                body["NextToken"] = json!(next.to_string());
            }
            ok(body)
        }
        other => error(
            host,
            400,
            "ActionNotSupported",
            format!("The requested API operation '{other}' is incorrect. Please check."),
        ),
    }
}

fn not_found(host: &str, flow: &str, name: &str) -> Response {
    error(
        host,
        404,
        "ExecutionNotExists",
        format!("Execution {name} for flow {flow} does not exist."),
    )
}

/// NextToken is an offset; Limit 1-1000 (default 100).
fn page(token: Option<&str>, limit: Option<&str>) -> Result<(usize, usize), String> {
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| format!("NextToken {t:?} is not valid"))?,
    };
    let limit = match limit.filter(|l| !l.is_empty()) {
        None => 100,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(format!("Limit {l:?} must be 1-1000")),
        },
    };
    Ok((start, limit))
}

fn execution_json<I: Invoker>(engine: &Engine<I>, r: &ExecutionRecord) -> Value {
    json!({
        "Name": r.name,
        "FlowName": r.flow_name,
        "FlowDefinition": engine.flow().source,
        "Status": r.status.as_str(),
        "Input": r.input.to_string(),
        "Output": r.output.as_ref().map(Value::to_string).unwrap_or_default(),
        "StartedTime": r.started_time,
        "StoppedTime": r.stopped_time.clone().unwrap_or_default(),
        // Not in the SDK model; the SDK ignores them, people reading JSON don't.
        "ErrorCode": r.error.as_ref().map(|e| e.error.clone()).unwrap_or_default(),
        "ErrorMessage": r.error.as_ref().map(|e| e.cause.clone()).unwrap_or_default(),
    })
}
