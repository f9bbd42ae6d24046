//! The web console of `local-runner up`: what CloudFlow's and OSS's consoles
//! show for a job, on loopback. Executions live (status, source, duration,
//! cost, error), one execution as a timeline of its Task calls with the FC
//! instance and the log of each, its outputs played in the preview page's
//! players (`player/`, with hls.js and dash.js from its `node_modules`), and
//! uploads from the browser by a signed PostObject form ([`upload`]).
//!
//! It serves, from the runner itself and nothing from elsewhere:
//! - `/`, `/console.js`, `/console.css`: the page (`local-runner/console/`);
//! - `/player/...`: the preview page and its two libraries, read at run time
//!   (npm installs them after `cargo build`, so they cannot be compiled in);
//! - `/api/...`: JSON ([`api`]);
//! - `/files/<key>`: the job's outputs, read from the bucket with the
//!   runner's keys as an app server would, so that the players need neither
//!   a public bucket nor CORS for them. Only keys under the output prefix.
//!
//! It listens on 127.0.0.1 only, like the emulators, and answers only
//! requests whose Host names the loopback (a page elsewhere that rebinds
//! its DNS name to 127.0.0.1 gets nothing). The page never sees the secret
//! key: an upload form carries a policy, its signature and the access key id.

pub mod api;
pub mod upload;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use vpf_core::credentials::Credentials;
use vpf_core::job::Manifest;
use vpf_oss::{OssClient, OssConfig};

use crate::fc::FcEmulator;
use crate::flow::{Engine, Status};
use crate::lock::lock;
use crate::system::{FcInvoker, System};

/// The console's port unless `--console-port` says otherwise; when it is
/// taken, `up` takes a free one and prints it.
pub const DEFAULT_PORT: u16 = 9300;
/// The page's folder under the checkout.
pub const WEB_DIR: &str = "local-runner/console";
/// The preview page's folder under the checkout.
pub const PLAYER_DIR: &str = "player";
/// What the console serves of `player/`: the page, its script and the two
/// libraries it loads (paths as `player/index.html` names them).
const PLAYER_FILES: [&str; 4] = [
    "index.html",
    "player.js",
    "node_modules/hls.js/dist/hls.min.js",
    "node_modules/dashjs/dist/modern/umd/dash.all.min.js",
];
const WEB_FILES: [&str; 3] = ["index.html", "console.js", "console.css"];

/// Where the console's files are: the checkout holding `local-runner/console/`
/// and `player/`: the one given, or the first of `candidates` (s.yaml's
/// folder, the folders above this program) that has them.
pub fn find_web_root(given: Option<&Path>, candidates: &[PathBuf]) -> Result<PathBuf, String> {
    let has = |d: &Path| d.join(WEB_DIR).join("index.html").is_file();
    if let Some(d) = given {
        return if has(d) {
            Ok(d.to_path_buf())
        } else {
            Err(format!(
                "{} has no {WEB_DIR}/index.html (--web-root names the checkout)",
                d.display()
            ))
        };
    }
    candidates.iter().find(|d| has(d)).cloned().ok_or_else(|| {
        format!(
            "no {WEB_DIR}/index.html in {} (give the checkout with --web-root)",
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Why the players cannot be served, if so: their libraries are missing.
pub fn players_missing(root: &Path) -> Option<String> {
    PLAYER_FILES
        .iter()
        .map(|f| root.join(PLAYER_DIR).join(f))
        .find(|p| !p.is_file())
        .map(|p| format!("{} is missing: run `npm ci --prefix player`", p.display()))
}

struct Shared {
    engine: Option<Engine<FcInvoker>>,
    fc: Arc<FcEmulator>,
    oss: OssClient,
    http: reqwest::Client,
    creds: Credentials,
    endpoint: String,
    view: api::SystemView,
    root: PathBuf,
    origin: String,
    /// Finished executions' manifests (or that there is none).
    manifests: Mutex<HashMap<String, Option<Manifest>>>,
    /// The bucket's CORS allows the console's form posts.
    cors_ok: tokio::sync::Mutex<bool>,
}

type St = State<Arc<Shared>>;

pub struct RunningConsole {
    pub url: String,
    /// Why the players are off, if they are.
    pub players_unavailable: Option<String>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningConsole {
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

/// Start the console for `sys` on 127.0.0.1:`port` (`None`: [`DEFAULT_PORT`],
/// or a free port when that one is taken).
pub async fn start(
    sys: &System,
    port: Option<u16>,
    root: PathBuf,
) -> Result<RunningConsole, String> {
    let listener = match port {
        Some(p) => tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, p))
            .await
            .map_err(|e| format!("console: cannot listen on 127.0.0.1:{p}: {e}"))?,
        None => match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, DEFAULT_PORT)).await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(|e| format!("console: cannot listen on 127.0.0.1: {e}"))?,
        },
    };
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let origin = format!("http://{addr}");
    let trigger = sys.triggers.first();
    let output_prefix = sys
        .describe()
        .output_prefix
        .unwrap_or_else(|| vpf_core::config::DEFAULT_OUTPUT_PREFIX.into())
        .trim_end_matches('/')
        .to_string()
        + "/";
    let players_unavailable = players_missing(&root);
    let view = api::SystemView {
        bucket: sys.bucket.clone(),
        trigger_prefix: trigger.map(|t| t.prefix.clone()).unwrap_or_default(),
        output_prefix,
        input_extensions: trigger
            .map(|t| sys.input_extensions(&t.function))
            .unwrap_or_default(),
        max_upload_bytes: upload::MAX_UPLOAD_BYTES,
        flow_name: sys.engines.keys().next().cloned(),
        players_unavailable: players_unavailable.clone(),
    };
    let creds = sys.oss.credentials();
    let oss = OssClient::new(OssConfig::new(
        sys.oss.endpoint(),
        &sys.region,
        creds.clone(),
    ))
    .map_err(|e| format!("console: {e}"))?;
    let shared = Arc::new(Shared {
        engine: sys.engines.values().next().cloned(),
        fc: sys.fc.clone(),
        oss,
        http: reqwest::Client::new(),
        creds,
        endpoint: sys.oss.endpoint(),
        view,
        root,
        origin: origin.clone(),
        manifests: Mutex::new(HashMap::new()),
        cors_ok: tokio::sync::Mutex::new(false),
    });
    let task = tokio::spawn(async move {
        crate::serve::serve(
            listener,
            router(shared),
            crate::serve::ServeLimits::default(),
            std::future::pending(),
        )
        .await;
    });
    Ok(RunningConsole {
        url: format!("{origin}/"),
        players_unavailable,
        task,
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(|s: St| web(s, "index.html".into())))
        .route("/api/system", get(system))
        .route("/api/executions", get(executions))
        .route("/api/executions/{name}", get(execution))
        .route("/api/logs/{request_id}", get(logs))
        .route("/api/upload-form", post(upload_form))
        .route("/files/{*key}", get(file))
        .route("/player/{*path}", get(player))
        .route(
            "/{file}",
            get(|s: St, UrlPath(f): UrlPath<String>| web(s, f)),
        )
        .layer(axum::middleware::from_fn(loopback_only))
        .with_state(shared)
}

/// An error answer: a status and one line saying what is wrong.
fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why.into(),
    )
        .into_response()
}

fn json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Only requests addressed to the loopback (a foreign page whose name was
/// rebound to 127.0.0.1 sends its own name as Host), and none that a
/// browser marks as made by another site (a page elsewhere embedding the
/// outputs or posting to the API).
async fn loopback_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    // Read before the await: a borrowed request would make the future !Send.
    let [host, site] = ["host", "sec-fetch-site"].map(|name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    });
    let name = host.rsplit_once(':').map_or(host.as_str(), |(n, _)| n);
    if !matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
        return refuse(
            StatusCode::FORBIDDEN,
            format!("the console answers only on 127.0.0.1, not Host {host:?}"),
        );
    }
    if site == "cross-site" {
        return refuse(
            StatusCode::FORBIDDEN,
            "the console answers its own pages only, not another site's",
        );
    }
    next.run(req).await
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn send_file(path: PathBuf, name: &str) -> Response {
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type(name)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => refuse(StatusCode::NOT_FOUND, format!("{}: {e}", path.display())),
    }
}

async fn web(State(s): St, file: String) -> Response {
    if !WEB_FILES.contains(&file.as_str()) {
        return refuse(StatusCode::NOT_FOUND, format!("no {file} here"));
    }
    send_file(s.root.join(WEB_DIR).join(&file), &file).await
}

async fn player(State(s): St, UrlPath(path): UrlPath<String>) -> Response {
    if !PLAYER_FILES.contains(&path.as_str()) {
        return refuse(StatusCode::NOT_FOUND, format!("no player/{path} here"));
    }
    if let Some(why) = &s.view.players_unavailable {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, why.clone());
    }
    send_file(s.root.join(PLAYER_DIR).join(&path), &path).await
}

async fn system(State(s): St) -> Response {
    json(&s.view)
}

impl Shared {
    /// A request to the bucket signed with the runner's keys.
    async fn send(
        &self,
        method: reqwest::Method,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: http::HeaderMap,
        body: bytes::Bytes,
    ) -> Result<reqwest::Response, String> {
        let req = self
            .oss
            .signed_request(method, &self.view.bucket, key, query, headers, body)
            .await
            .map_err(|e| e.to_string())?;
        self.http.execute(req).await.map_err(|e| e.to_string())
    }

    /// GET an object of the bucket, Range passed on.
    async fn get(
        &self,
        key: &str,
        range: Option<&HeaderValue>,
    ) -> Result<reqwest::Response, String> {
        let mut headers = http::HeaderMap::new();
        if let Some(r) = range {
            headers.insert(header::RANGE, r.clone());
        }
        self.send(
            reqwest::Method::GET,
            Some(key),
            &[],
            headers,
            bytes::Bytes::new(),
        )
        .await
    }

    /// The manifest of a finished execution, read once.
    async fn manifest(&self, rec: &crate::flow::ExecutionRecord) -> Option<Manifest> {
        if rec.status == Status::Running {
            return None;
        }
        if let Some(m) = lock(&self.manifests).get(&rec.name) {
            return m.clone();
        }
        let key = api::job_request(rec)?.manifest_key();
        let m = match self.get(&key, None).await {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(b) => serde_json::from_slice::<Manifest>(&b)
                    .map_err(|e| tracing::warn!(%key, error = %e, "console: unreadable manifest"))
                    .ok(),
                Err(_) => return None,
            },
            Ok(r) if r.status() == StatusCode::NOT_FOUND => None,
            // Try again on the next request.
            _ => return None,
        };
        lock(&self.manifests).insert(rec.name.clone(), m.clone());
        m
    }

    /// Make sure the bucket's CORS lets the console post forms to it.
    async fn ensure_cors(&self) -> Result<(), String> {
        let mut ok = self.cors_ok.lock().await;
        if *ok {
            return Ok(());
        }
        let cors = [("cors", "")];
        let resp = self
            .send(
                reqwest::Method::GET,
                None,
                &cors,
                http::HeaderMap::new(),
                bytes::Bytes::new(),
            )
            .await?;
        let cfg = match resp.status() {
            StatusCode::NOT_FOUND => crate::oss::CorsConfig::default(),
            s if s.is_success() => {
                let body = resp.bytes().await.map_err(|e| e.to_string())?;
                crate::oss::parse_cors(&body)
                    .map_err(|e| format!("GetBucketCors answered a document we cannot read: {e}"))?
            }
            s => return Err(format!("GetBucketCors answered {s}")),
        };
        if let Some(xml) = upload::with_console_rule(&cfg, &self.origin) {
            let resp = self
                .send(
                    reqwest::Method::PUT,
                    None,
                    &cors,
                    http::HeaderMap::new(),
                    xml.into(),
                )
                .await?;
            if !resp.status().is_success() {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                return Err(format!("PutBucketCors answered {status}: {body}"));
            }
            tracing::info!(origin = %self.origin, bucket = %self.view.bucket, "console: added a CORS rule for its form uploads");
        }
        *ok = true;
        Ok(())
    }
}

async fn executions(State(s): St) -> Response {
    let Some(engine) = &s.engine else {
        return json(&Vec::<api::ExecutionSummary>::new());
    };
    let mut out = Vec::new();
    for rec in engine.list().iter().rev() {
        let m = s.manifest(rec).await;
        out.push(api::summary(rec, m.as_ref()));
    }
    json(&out)
}

async fn execution(State(s): St, UrlPath(name): UrlPath<String>) -> Response {
    let Some(rec) = s.engine.as_ref().and_then(|e| e.describe(&name)) else {
        return refuse(StatusCode::NOT_FOUND, format!("no execution {name:?}"));
    };
    let manifest = s.manifest(&rec).await;
    let steps = api::steps(&rec, &s.fc.invocations());
    let key = api::job_request(&rec).map(|r| r.manifest_key());
    json(&api::ExecutionDetail {
        summary: api::summary(&rec, manifest.as_ref()),
        pieces: api::pieces(&steps),
        steps,
        media: api::media(key.as_deref(), manifest.as_ref()),
        manifest,
    })
}

async fn logs(State(s): St, UrlPath(request_id): UrlPath<String>) -> Response {
    let Some(call) =
        s.fc.invocations()
            .into_iter()
            .rev()
            .find(|c| c.request_id == request_id)
    else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no call with request id {request_id:?}"),
        );
    };
    let path = s.fc.log_dir().join(format!("{}.log", call.function));
    let text = match tokio::fs::read(&path).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            return refuse(StatusCode::NOT_FOUND, format!("{}: {e}", path.display()));
        }
    };
    let (lines, truncated) = api::log_lines(&text, &request_id);
    json(&api::LogView {
        request_id,
        function: call.function,
        lines,
        truncated,
    })
}

async fn upload_form(State(s): St, h: HeaderMap, body: axum::body::Bytes) -> Response {
    // JSON only: a browser asks before sending it from another origin.
    let json_body = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !json_body {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/json",
        );
    }
    let req: upload::FormRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("the body is not {{\"fileName\": ..., \"size\": ...}}: {e}"),
            );
        }
    };
    let target = upload::FormTarget {
        bucket_url: format!("{}/{}/", s.endpoint, s.view.bucket),
        bucket: &s.view.bucket,
        region: s.oss.config().region.as_str(),
        trigger_prefix: &s.view.trigger_prefix,
        extensions: &s.view.input_extensions,
    };
    let form = match upload::make_form(&req, &target, &s.creds, chrono::Utc::now()) {
        Ok(f) => f,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    if let Err(e) = s.ensure_cors().await {
        return refuse(
            StatusCode::BAD_GATEWAY,
            format!("could not let the console post to the bucket (CORS): {e}"),
        );
    }
    json(&form)
}

async fn file(State(s): St, h: HeaderMap, UrlPath(key): UrlPath<String>) -> Response {
    if !key.starts_with(&s.view.output_prefix) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "the console serves outputs only (keys under {:?})",
                s.view.output_prefix
            ),
        );
    }
    let resp = match s.get(&key, h.get(header::RANGE)).await {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_GATEWAY, e),
    };
    let mut out = Response::builder().status(resp.status().as_u16());
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::ETAG,
        header::LAST_MODIFIED,
    ] {
        if let Some(v) = resp.headers().get(&name) {
            out = out.header(name, v.clone());
        }
    }
    out.header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(resp.bytes_stream()))
        .unwrap_or_else(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
