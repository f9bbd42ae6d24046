//! The Function Compute emulator: starts each function's handler process as
//! FC would (its `customRuntimeConfig` command on a port given in
//! `FC_SERVER_PORT`), waits until it listens, and invokes `POST /invoke` with
//! the FC headers. Like FC it scales out: an instance serves up to
//! `instanceConcurrency` calls at once, and more calls start more instances
//! (up to a local cap). A call that outlives the function's timeout is
//! answered with FC's timeout error and its instance is killed, with every
//! process it started (ffmpeg included): instances run in their own process
//! group.
//!
//! A call outlives its caller, as in FC: when a workflow Map fails it stops
//! waiting for its other iterations, but their invocations run on (each in a
//! task of its own) until they answer or time out, holding their instance
//! slot until then.

mod instance;
mod trigger;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fc_runtime::{Context, ErrorBody};
use tokio::sync::{Mutex, Semaphore};
use vpf_core::credentials::Credentials;

pub use instance::Instance;
pub use trigger::OssTrigger;

/// One function as the runner starts it (from s.yaml's fc3 props).
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    /// The program and its arguments (`customRuntimeConfig.command` + `args`), resolved locally.
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub instance_concurrency: u32,
    pub memory_mb: Option<u32>,
    /// Working directory (the function's `code` folder, as `/code` in FC).
    pub cwd: Option<PathBuf>,
}

/// How a call ended, as FC 3.0's synchronous invocation answers it: this is
/// all a caller, CloudFlow included, gets to see.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 200: the function's JSON answer.
    Ok(serde_json::Value),
    /// 200 with `X-Fc-Error-Type`: the function failed ("A 2xx response does
    /// not guarantee the function succeeded. Check for the X-Fc-Error-Type
    /// response header", FC 3.0's error-handling page).
    FunctionError(FunctionFailure),
    /// A non-2xx answer: FC itself refused or failed the call, with its error
    /// code (429 `ResourceExhausted`, 503 `ResourceThrottled`, 500
    /// `InternalServerError`, 404 `FunctionNotFound`).
    PlatformError {
        status: u16,
        code: String,
        message: String,
    },
}

/// A failed function call: `X-Fc-Error-Type` and the body's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionFailure {
    pub kind: FailureKind,
    /// The function's own `errorType`; `None` when FC ended the call (a
    /// timeout, a crash) and wrote the body itself.
    pub error_type: Option<String>,
    pub error_message: String,
}

/// The `X-Fc-Error-Type` header's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The function answered its failure itself (a custom runtime's 404 with
    /// `x-fc-status: 404`).
    HandledInvocationError,
    /// FC ended the call: past the timeout, or the process exited.
    UnhandledInvocationError,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::HandledInvocationError => "HandledInvocationError",
            FailureKind::UnhandledInvocationError => "UnhandledInvocationError",
        }
    }
}

impl FunctionFailure {
    fn handled(body: ErrorBody) -> FunctionFailure {
        FunctionFailure {
            kind: FailureKind::HandledInvocationError,
            error_type: Some(body.error_type).filter(|t| !t.is_empty()),
            error_message: body.error_message,
        }
    }
    fn unhandled(message: impl Into<String>) -> FunctionFailure {
        FunctionFailure {
            kind: FailureKind::UnhandledInvocationError,
            error_type: None,
            error_message: message.into(),
        }
    }
}

/// The error names a flow's Retry and Catch match, from FC's answer. The one
/// place where an FC failure becomes a flow error (README, "How failures are
/// named"):
/// - a non-2xx answer is `FC.<ErrorCode>`, as CloudFlow's error-handling page
///   documents ("FC.{ErrorCode}: Function Compute returned an HTTP code other
///   than 200");
/// - a function's failure is its `errorType`, as Alibaba's flow samples match
///   their functions' exception names (the documents do not say it for the
///   current spec: the flow also retries and catches under the other reading);
/// - a failure FC wrote itself (timeout, crash) has no `errorType`: `FC.Unknown`,
///   the catch-all name of Alibaba's own retry lists.
pub fn task_result(outcome: Outcome) -> Result<serde_json::Value, crate::flow::TaskError> {
    use crate::flow::TaskError;
    match outcome {
        Outcome::Ok(v) => Ok(v),
        Outcome::FunctionError(f) => Err(TaskError::new(
            f.error_type.unwrap_or_else(|| names::UNKNOWN.to_string()),
            f.error_message,
        )),
        Outcome::PlatformError { code, message, .. } => {
            Err(TaskError::new(format!("FC.{code}"), message))
        }
    }
}

/// FC's error codes and the flow error names this emulator produces.
pub mod names {
    /// No function of that name (404).
    pub const NOT_FOUND: &str = "FunctionNotFound";
    /// Too many calls at once (429), as FC answers a concurrency limit.
    pub const RESOURCE_EXHAUSTED: &str = "ResourceExhausted";
    /// A failure FC reports without a type (the flow's name for it).
    pub const UNKNOWN: &str = "FC.Unknown";
}

/// Issues the temporary credentials handed to each call (in FC, the role's STS keys).
pub type CredentialSource = Arc<dyn Fn() -> Credentials + Send + Sync>;

pub struct FcEmulator {
    functions: HashMap<String, Arc<Function>>,
    region: String,
    account_id: String,
    credentials: Option<CredentialSource>,
    http: reqwest::Client,
    log_dir: PathBuf,
}

struct Function {
    spec: FunctionSpec,
    /// Every live instance; each has `instanceConcurrency` slots.
    pool: Mutex<Vec<Arc<Instance>>>,
    started: std::sync::atomic::AtomicUsize,
    /// Calls in flight across all instances, at most `max_instances * concurrency`.
    /// Closed on shutdown: no instance starts after that.
    slots: Arc<Semaphore>,
    peak_in_flight: std::sync::atomic::AtomicUsize,
    in_flight: std::sync::atomic::AtomicUsize,
    /// The next this many calls are answered 429 ResourceExhausted (fault
    /// injection: FC throttling, which a local machine never shows itself).
    throttle: std::sync::atomic::AtomicUsize,
}

impl Function {
    fn take_throttle(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.throttle
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl FcEmulator {
    pub fn new(
        specs: Vec<FunctionSpec>,
        region: &str,
        account_id: &str,
        credentials: Option<CredentialSource>,
        log_dir: PathBuf,
        max_instances: usize,
    ) -> std::io::Result<FcEmulator> {
        std::fs::create_dir_all(&log_dir)?;
        let max_instances = max_instances.max(1);
        let functions = specs
            .into_iter()
            .map(|spec| {
                let per = spec.instance_concurrency.max(1) as usize;
                let f = Function {
                    slots: Arc::new(Semaphore::new(max_instances * per)),
                    pool: Mutex::new(Vec::new()),
                    started: Default::default(),
                    peak_in_flight: Default::default(),
                    in_flight: Default::default(),
                    throttle: Default::default(),
                    spec,
                };
                (f.spec.name.clone(), Arc::new(f))
            })
            .collect();
        Ok(FcEmulator {
            functions,
            region: region.to_string(),
            account_id: account_id.to_string(),
            credentials,
            // No overall timeout here: each call gets the function's own.
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .map_err(std::io::Error::other)?,
            log_dir,
        })
    }

    pub fn function_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.functions.keys().cloned().collect();
        v.sort();
        v
    }

    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
    }

    /// The most calls that were in flight at once for a function.
    pub fn peak_in_flight(&self, name: &str) -> usize {
        self.functions
            .get(name)
            .map(|f| f.peak_in_flight.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or(0)
    }

    /// Invoke a function synchronously, as `FC:InvokeFunction` with
    /// `invocationType: Sync` does.
    pub async fn invoke(&self, name: &str, payload: &[u8]) -> Outcome {
        self.invoke_with_retry_count(name, payload, 0).await
    }

    pub async fn invoke_with_retry_count(
        &self,
        name: &str,
        payload: &[u8],
        retry_count: u32,
    ) -> Outcome {
        let Some(f) = self.functions.get(name).cloned() else {
            return Outcome::PlatformError {
                status: 404,
                code: names::NOT_FOUND.into(),
                message: format!("no function named {name:?} in s.yaml"),
            };
        };
        if f.take_throttle() {
            return Outcome::PlatformError {
                status: 429,
                code: names::RESOURCE_EXHAUSTED.into(),
                message: format!("{name}: concurrent invocations exceed the limit (injected)"),
            };
        }
        let Ok(permit) = f.slots.clone().acquire_owned().await else {
            return Outcome::FunctionError(FunctionFailure::unhandled(
                "the emulator is shutting down",
            ));
        };
        let ctx = Context {
            request_id: uuid::Uuid::new_v4().to_string(),
            function_name: f.spec.name.clone(),
            region: self.region.clone(),
            account_id: self.account_id.clone(),
            credentials: self.credentials.as_ref().map(|c| c().into()),
            timeout: Some(f.spec.timeout),
            memory_mb: f.spec.memory_mb,
            retry_count,
            qualifier: "LATEST".into(),
            version_id: "LATEST".into(),
        };
        let (http, log_dir, payload) = (self.http.clone(), self.log_dir.clone(), payload.to_vec());
        // The call runs in a task of its own, so that a caller that stops
        // waiting (a Map whose other iteration failed) neither leaks the
        // instance's slot and the in-flight count nor cancels the timeout
        // that kills a runaway instance.
        let task = tokio::spawn(async move {
            let _counted = InFlight::enter(&f);
            let out = call(&f, &http, &log_dir, ctx, payload).await;
            drop(permit);
            out
        });
        task.await.unwrap_or_else(|e| {
            Outcome::FunctionError(FunctionFailure::unhandled(format!(
                "the call of {name} ended abnormally: {e}"
            )))
        })
    }

    /// Answer the next `calls` invocations of `name` as FC answers a
    /// concurrency limit: 429 `ResourceExhausted` (tests of the flow's retries).
    pub fn throttle_next(&self, name: &str, calls: usize) {
        if let Some(f) = self.functions.get(name) {
            f.throttle.store(calls, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Calls of a function in flight now, including calls whose callers
    /// stopped waiting for them.
    pub fn in_flight(&self, name: &str) -> usize {
        self.functions
            .get(name)
            .map(|f| f.in_flight.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or(0)
    }

    /// How many instances of a function were started so far.
    pub fn instances_started(&self, name: &str) -> usize {
        self.functions
            .get(name)
            .map(|f| f.started.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or(0)
    }

    /// Stop every instance (and the processes they started).
    pub async fn shutdown(&self) {
        for f in self.functions.values() {
            f.slots.close();
            let pool: Vec<_> = f.pool.lock().await.drain(..).collect();
            for i in pool {
                i.kill().await;
            }
        }
    }
}

/// Counts a call in flight for as long as it lives.
struct InFlight(Arc<Function>);

impl InFlight {
    fn enter(f: &Arc<Function>) -> InFlight {
        use std::sync::atomic::Ordering::SeqCst;
        let now = f.in_flight.fetch_add(1, SeqCst) + 1;
        f.peak_in_flight.fetch_max(now, SeqCst);
        InFlight(f.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One invocation on an instance with a free slot, within the function's timeout.
async fn call(
    f: &Arc<Function>,
    http: &reqwest::Client,
    log_dir: &std::path::Path,
    ctx: Context,
    payload: Vec<u8>,
) -> Outcome {
    let inst = match checkout(f, log_dir).await {
        Ok(i) => i,
        Err(e) => {
            return Outcome::FunctionError(FunctionFailure::unhandled(format!(
                "function {} did not start: {e}",
                f.spec.name
            )));
        }
    };
    let mut req = http
        .post(format!("{}/invoke", inst.base_url()))
        .body(payload);
    for (k, v) in ctx.to_headers() {
        req = req.header(k, v);
    }
    let started = Instant::now();
    let result = tokio::time::timeout(f.spec.timeout, async {
        let resp = req.send().await?;
        let status = resp.status();
        let fc_status = resp
            .headers()
            .get(fc_runtime::headers::STATUS)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, fc_status, body))
    })
    .await;
    match result {
        Err(_) => {
            // FC kills an instance whose call timed out; so do we, with
            // its ffmpeg children, so nothing runs on unseen.
            inst.kill().await;
            // FC's wording (its FAQ: "Function time out after").
            Outcome::FunctionError(FunctionFailure::unhandled(format!(
                "Function time out after {} seconds",
                f.spec.timeout.as_secs_f64()
            )))
        }
        Ok(Err(e)) => {
            inst.kill().await;
            // FC's wording for a process that dies mid-call (FC 3.0's
            // error-handling page).
            Outcome::FunctionError(FunctionFailure::unhandled(format!(
                "Process exited unexpectedly before completing request (duration: {}ms): {e}",
                started.elapsed().as_millis()
            )))
        }
        Ok(Ok((status, fc_status, body))) => {
            inst.free_slot();
            // FC's rule: a failure is a 404 *with* x-fc-status: 404.
            let failed = fc_status.as_deref() == Some("404");
            if failed {
                match serde_json::from_slice::<ErrorBody>(&body) {
                    Ok(e) => Outcome::FunctionError(FunctionFailure::handled(e)),
                    Err(_) => Outcome::FunctionError(FunctionFailure::unhandled(
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(2000)
                            .collect::<String>(),
                    )),
                }
            } else if !status.is_success() && status.as_u16() != 404 {
                Outcome::FunctionError(FunctionFailure::unhandled(format!(
                    "the function answered HTTP {status}"
                )))
            } else {
                match serde_json::from_slice(&body) {
                    Ok(v) => Outcome::Ok(v),
                    // FC passes any body through; the flow wants JSON.
                    Err(_) => Outcome::Ok(serde_json::Value::String(
                        String::from_utf8_lossy(&body).into_owned(),
                    )),
                }
            }
        }
    }
}

/// An instance with a free slot, starting one if none has. The pool lock
/// is held while starting so that a burst of calls starts the instances
/// it needs one at a time instead of racing past the cap.
async fn checkout(f: &Arc<Function>, log_dir: &std::path::Path) -> std::io::Result<Arc<Instance>> {
    let mut pool = f.pool.lock().await;
    // Shutdown closes the slots, then empties the pool under this lock: an
    // instance started after that would outlive the runner.
    if f.slots.is_closed() {
        return Err(std::io::Error::other("the emulator is shutting down"));
    }
    pool.retain(|i| i.is_alive());
    if let Some(i) = pool.iter().find(|i| i.take_slot()) {
        return Ok(i.clone());
    }
    let n = f.started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let inst = Arc::new(Instance::start(&f.spec, log_dir, n).await?);
    if !inst.take_slot() {
        return Err(std::io::Error::other("a new instance has no free slot"));
    }
    pool.push(inst.clone());
    Ok(inst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fc_answers_become_flow_error_names() {
        let handled = Outcome::FunctionError(FunctionFailure::handled(ErrorBody {
            error_type: "CorruptMedia".into(),
            error_message: "moov atom not found".into(),
        }));
        let e = task_result(handled).unwrap_err();
        assert_eq!(
            (e.error.as_str(), e.cause.as_str()),
            ("CorruptMedia", "moov atom not found")
        );
        let untyped = Outcome::FunctionError(FunctionFailure::handled(ErrorBody {
            error_type: String::new(),
            error_message: "?".into(),
        }));
        assert_eq!(task_result(untyped).unwrap_err().error, "FC.Unknown");
        let timeout = Outcome::FunctionError(FunctionFailure::unhandled(
            "Function time out after 60 seconds",
        ));
        assert_eq!(task_result(timeout).unwrap_err().error, "FC.Unknown");
        for (status, code) in [
            (429, "ResourceExhausted"),
            (503, "ResourceThrottled"),
            (500, "InternalServerError"),
        ] {
            let o = Outcome::PlatformError {
                status,
                code: code.into(),
                message: "m".into(),
            };
            assert_eq!(task_result(o).unwrap_err().error, format!("FC.{code}"));
        }
        assert_eq!(
            task_result(Outcome::Ok(serde_json::json!({"a": 1}))).unwrap(),
            serde_json::json!({"a": 1})
        );
    }
}
