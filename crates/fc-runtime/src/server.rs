//! The HTTP side of the contract: routes, the FC error answer, logging.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::FunctionError;
use crate::context::{Context, headers};

/// The largest event FC hands a function: its synchronous invocation
/// payload limit, 32 MB (asynchronous invocations, OSS triggers among them,
/// are capped lower still, at 128 KB), per Function Compute's "Can I modify
/// the limit on the body size of an HTTP request?"
/// (https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/http-body-be-modified).
/// A larger body is refused before it is parsed.
pub const MAX_EVENT_BYTES: usize = 32 * 1000 * 1000;

/// The body of a failure answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error_type: String,
    pub error_message: String,
}

impl ErrorBody {
    fn of(e: impl FunctionError) -> ErrorBody {
        ErrorBody {
            error_type: e.error_type().to_string(),
            error_message: e.error_message(),
        }
    }

    fn response(self) -> Response {
        let mut resp = (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(&self).unwrap_or_default(),
        )
            .into_response();
        resp.headers_mut()
            .insert(headers::STATUS, HeaderValue::from_static("404"));
        resp
    }
}

/// Log to stdout (FC collects it). `LOG_FORMAT=json` gives one JSON object a
/// line; `RUST_LOG` sets the level (default `info`). Safe to call twice.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        // FC stores stdout as the function log: no colour codes in it.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// `0.0.0.0:$FC_SERVER_PORT`, falling back to `$FC_CUSTOM_LISTEN_PORT`, then
/// 9000. `FC_SERVER_HOST` (not an FC variable) lets the local runner bind
/// loopback only.
pub fn listen_addr() -> std::io::Result<SocketAddr> {
    let port = ["FC_SERVER_PORT", "FC_CUSTOM_LISTEN_PORT"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "9000".into());
    let port: u16 = port.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("FC_SERVER_PORT {port:?} is not a port number"),
        )
    })?;
    let host = std::env::var("FC_SERVER_HOST").unwrap_or_else(|_| "0.0.0.0".into());
    let ip = host.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("FC_SERVER_HOST {host:?} is not an IP address"),
        )
    })?;
    Ok(SocketAddr::new(ip, port))
}

/// Serve `handler` as an FC custom-runtime function until SIGTERM or Ctrl-C.
pub async fn run<F, Fut, I, O, E>(handler: F) -> std::io::Result<()>
where
    F: Fn(I, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: FunctionError + Send + 'static,
{
    init_logging();
    let listener = tokio::net::TcpListener::bind(listen_addr()?).await?;
    serve(listener, handler).await
}

/// Like [`run`], on a listener the caller bound (tests use port 0).
pub async fn serve<F, Fut, I, O, E>(
    listener: tokio::net::TcpListener,
    handler: F,
) -> std::io::Result<()>
where
    F: Fn(I, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: FunctionError + Send + 'static,
{
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, router(handler))
        .with_graceful_shutdown(async {
            shutdown_signal().await;
            tracing::info!("shutting down");
        })
        .await
}

/// The routes, for embedding.
pub fn router<F, Fut, I, O, E>(handler: F) -> Router
where
    F: Fn(I, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: FunctionError + Send + 'static,
{
    let invoke = move |State(h): State<Arc<F>>, hm: HeaderMap, body: Bytes| async move {
        invoke_one(h, hm, body).await
    };
    Router::new()
        .route("/invoke", post(invoke))
        .route("/initialize", post(|| async { StatusCode::OK }))
        .layer(DefaultBodyLimit::max(MAX_EVENT_BYTES))
        .with_state(Arc::new(handler))
}

async fn invoke_one<F, Fut, I, O, E>(handler: Arc<F>, hm: HeaderMap, body: Bytes) -> Response
where
    F: Fn(I, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: FunctionError + Send + 'static,
{
    let ctx = Context::from_headers(&hm);
    let rid = ctx.request_id.clone();
    // Exact lines FC prints; tools that read FC logs look for them.
    println!("FC Invoke Start RequestId: {rid}");
    let started = Instant::now();
    let span = tracing::info_span!("invoke", request_id = %rid, function = %ctx.function_name);

    let result: Result<O, ErrorBody> = match serde_json::from_slice::<I>(&body) {
        Err(e) => Err(ErrorBody::of(E::bad_event(format!(
            "the event is not what this function takes: {e}"
        )))),
        Ok(event) => {
            // A panic is a bug, but it must still answer like FC (and free the
            // instance for the next call) instead of dropping the connection.
            match AssertUnwindSafe(handler(event, ctx)).catch_unwind().await {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(e)) => Err(ErrorBody::of(e)),
                Err(_) => Err(ErrorBody::of(E::internal(
                    "the function panicked; see its log".into(),
                ))),
            }
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let resp = match result {
        Ok(out) => match serde_json::to_vec(&out) {
            Ok(bytes) => {
                tracing::info!(parent: &span, seconds, "succeeded");
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    bytes,
                )
                    .into_response()
            }
            Err(e) => {
                ErrorBody::of(E::internal(format!("could not encode the result: {e}"))).response()
            }
        },
        Err(body) => {
            tracing::warn!(parent: &span, seconds, error_type = %body.error_type, error = %body.error_message, "failed");
            body.response()
        }
    };
    println!("FC Invoke End RequestId: {rid}");
    resp
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM: FC stops an instance with
/// SIGTERM, and a process that owns children (the local runner's handler
/// processes and their ffmpeg) must stop them rather than orphan them.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
