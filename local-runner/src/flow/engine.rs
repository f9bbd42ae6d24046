//! Runs a loaded flow: Task (FC:InvokeFunction through an [`Invoker`]), Pass,
//! Choice, Map, Parallel, Wait, Succeed, Fail, with Retry and Catch, and keeps
//! an execution history per execution.
//!
//! Data flow, as CloudFlow documents it: a state's raw input is the previous
//! state's output; `InputConstructor` shapes it into `$Input`; a Task sends
//! `Parameters.body` (built from `$Input`) and gets `$Output = {"Body": answer}`;
//! a Map's `$Output` is `{"Items": [...]}` in item order; a Parallel's is
//! `{"Branch0": .., "Branch1": ..}`; Pass, Wait, Choice and Succeed pass
//! `$Input` on. `OutputConstructor` (over `$Input`, `$Output`, `$Context`)
//! shapes the state's output; without it the output is `$Output`.
//! A caught error is `$Output = {"Error": name, "Cause": text}` in the Catch's
//! OutputConstructor, and the Catch's output without one.
//!
//! Time is scalable ([`EngineOptions::time_scale`]): the history records the
//! computed backoff in real seconds while tests sleep a fraction of it.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::def::{Flow, Kind, Next, Retrier, State, StateList};
use super::expr::{Env, Template};
use crate::lock::lock;

/// An error as the workflow sees it: its name (what Retry and Catch match)
/// and a human-readable cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> TaskError {
        TaskError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// The caught error as a Catch sees it.
    pub fn to_value(&self) -> Value {
        json!({"Error": self.error, "Cause": self.cause})
    }
}

/// Error names raised by the engine itself.
pub mod names {
    /// An expression found nothing at its path, or ItemsPath is not a list.
    pub const EXPRESSION: &str = "FnF.ExpressionError";
    /// No Choice branch matched and there is no Default.
    pub const NO_CHOICE: &str = "FnF.NoChoiceMatched";
}

/// Calls a function. The local runner implements it with the FC emulator;
/// tests with canned answers. `Ok` is the function's answer (the parsed JSON
/// body, or a JSON string when the body is not JSON).
pub trait Invoker: Send + Sync + 'static {
    fn invoke(
        &self,
        function: &str,
        payload: Value,
    ) -> impl Future<Output = Result<Value, TaskError>> + Send;
}

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Real sleep = computed seconds × time_scale (1.0 in production; tests
    /// use e.g. 0.01 so a 3 s backoff takes 30 ms).
    pub time_scale: f64,
    /// Caps every Map's concurrency on a small machine; `None` runs the flow
    /// file's MaxConcurrency as written.
    pub max_concurrency_cap: Option<u32>,
    /// When set, each finished execution is written to `<dir>/<name>.json`.
    pub history_dir: Option<PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            time_scale: 1.0,
            max_concurrency_cap: None,
            history_dir: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Running,
    Succeeded,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "Running",
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
        }
    }
}

/// One history event. `state` is the path of the state, with Map iterations
/// and Parallel branches spelled out: `TranscodeAll[3].Transcode`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: u64,
    /// ExecutionStarted, StateEntered, TaskScheduled, TaskSucceeded,
    /// TaskFailed, RetryScheduled, StateSucceeded, StateFailed, ErrorCaught,
    /// ExecutionSucceeded, ExecutionFailed.
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    /// RFC 3339, milliseconds.
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// RetryScheduled: the computed wait in real seconds (before time_scale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<f64>,
    /// ErrorCaught: where the Catch goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl Event {
    fn new(kind: &str, state: &str) -> Event {
        Event {
            id: 0,
            kind: kind.to_string(),
            state: state.to_string(),
            time: now(),
            attempt: None,
            function: None,
            input: None,
            output: None,
            error: None,
            cause: None,
            delay_seconds: None,
            next: None,
        }
    }

    fn error(mut self, e: &TaskError) -> Event {
        self.error = Some(e.error.clone());
        self.cause = Some(e.cause.clone());
        self
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An execution and its history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRecord {
    pub name: String,
    pub flow_name: String,
    pub status: Status,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<TaskError>,
    pub started_time: String,
    pub stopped_time: Option<String>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// An execution of that name finished already (CloudFlow: ExecutionAlreadyExists).
    #[error("Execution {execution} for flow {flow} already exists.")]
    AlreadyExists { flow: String, execution: String },
    #[error("{0}")]
    InvalidArgument(String),
}

struct Exec {
    seq: u64,
    rec: Mutex<ExecutionRecord>,
    done: tokio::sync::watch::Sender<bool>,
    next_event: AtomicU64,
}

struct Inner<I> {
    flow: Flow,
    invoker: I,
    opts: EngineOptions,
    execs: Mutex<BTreeMap<String, Arc<Exec>>>,
    seq: AtomicU64,
}

/// The workflow engine for one flow. Cheap to clone.
pub struct Engine<I: Invoker> {
    inner: Arc<Inner<I>>,
}

impl<I: Invoker> Clone for Engine<I> {
    fn clone(&self) -> Self {
        Engine {
            inner: self.inner.clone(),
        }
    }
}

impl<I: Invoker> Engine<I> {
    pub fn new(flow: Flow, invoker: I, opts: EngineOptions) -> Engine<I> {
        Engine {
            inner: Arc::new(Inner {
                flow,
                invoker,
                opts,
                execs: Mutex::new(BTreeMap::new()),
                seq: AtomicU64::new(0),
            }),
        }
    }

    pub fn flow(&self) -> &Flow {
        &self.inner.flow
    }

    pub fn invoker(&self) -> &I {
        &self.inner.invoker
    }

    /// Start an execution in the background (needs a tokio runtime).
    /// Like CloudFlow: a running execution of the same name is returned as it
    /// is; a finished one refuses with [`StartError::AlreadyExists`].
    pub fn start(&self, name: &str, input: Value) -> Result<ExecutionRecord, StartError> {
        vpf_cloudflow::validate_name("ExecutionName", name)
            .map_err(|e| StartError::InvalidArgument(e.message))?;
        if !input.is_object() {
            return Err(StartError::InvalidArgument(
                "Input must be a JSON object".into(),
            ));
        }
        let exec = {
            let mut execs = lock(&self.inner.execs);
            if let Some(e) = execs.get(name) {
                let rec = lock(&e.rec).clone();
                return if rec.status == Status::Running {
                    Ok(rec)
                } else {
                    Err(StartError::AlreadyExists {
                        flow: self.inner.flow.name.clone(),
                        execution: name.to_string(),
                    })
                };
            }
            let (done, _) = tokio::sync::watch::channel(false);
            let exec = Arc::new(Exec {
                seq: self.inner.seq.fetch_add(1, Ordering::Relaxed),
                rec: Mutex::new(ExecutionRecord {
                    name: name.to_string(),
                    flow_name: self.inner.flow.name.clone(),
                    status: Status::Running,
                    input: input.clone(),
                    output: None,
                    error: None,
                    started_time: now(),
                    stopped_time: None,
                    events: Vec::new(),
                }),
                done,
                next_event: AtomicU64::new(1),
            });
            execs.insert(name.to_string(), exec.clone());
            exec
        };
        let mut started = Event::new("ExecutionStarted", "");
        started.input = Some(input.clone());
        record(&exec, started);
        let snapshot = lock(&exec.rec).clone();
        let run = Run {
            inner: self.inner.clone(),
            exec,
            name: name.to_string(),
            input,
        };
        tokio::spawn(run.execute());
        Ok(snapshot)
    }

    /// Start and wait for the end.
    pub async fn run(&self, name: &str, input: Value) -> Result<ExecutionRecord, StartError> {
        self.start(name, input)?;
        self.wait(name)
            .await
            .ok_or_else(|| StartError::InvalidArgument(format!("execution {name} vanished")))
    }

    /// Wait until the execution ends; `None` if there is none of that name.
    pub async fn wait(&self, name: &str) -> Option<ExecutionRecord> {
        let exec = lock(&self.inner.execs).get(name).cloned()?;
        let mut rx = exec.done.subscribe();
        // wait_for checks the current value first, so an ended run returns at once.
        let _ = rx.wait_for(|d| *d).await;
        let rec = lock(&exec.rec).clone();
        Some(rec)
    }

    pub fn describe(&self, name: &str) -> Option<ExecutionRecord> {
        let exec = lock(&self.inner.execs).get(name).cloned()?;
        let rec = lock(&exec.rec).clone();
        Some(rec)
    }

    /// Every execution, oldest first.
    pub fn list(&self) -> Vec<ExecutionRecord> {
        let mut all: Vec<(u64, ExecutionRecord)> = lock(&self.inner.execs)
            .values()
            .map(|e| (e.seq, lock(&e.rec).clone()))
            .collect();
        all.sort_by_key(|(s, _)| *s);
        all.into_iter().map(|(_, r)| r).collect()
    }

    /// The execution with its history, as pretty JSON.
    pub fn history_json(&self, name: &str) -> Option<String> {
        self.describe(name)
            .and_then(|r| serde_json::to_string_pretty(&r).ok())
    }
}

fn record(exec: &Exec, mut ev: Event) {
    ev.id = exec.next_event.fetch_add(1, Ordering::Relaxed);
    lock(&exec.rec).events.push(ev);
}

/// Why a scope stopped early.
enum Failure {
    /// Catchable.
    Error(TaskError),
    /// A Fail state: ends the whole execution.
    Fail { code: String, detail: String },
}

enum Jump {
    To(String),
    End,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

struct Run<I> {
    inner: Arc<Inner<I>>,
    exec: Arc<Exec>,
    name: String,
    input: Value,
}

impl<I: Invoker> Run<I> {
    async fn execute(self) {
        let result = self
            .scope(&self.inner.flow.root, self.input.clone(), String::new())
            .await;
        let (status, output, error) = match result {
            Ok(out) => (Status::Succeeded, Some(out), None),
            Err(Failure::Error(e)) => (Status::Failed, None, Some(e)),
            Err(Failure::Fail { code, detail }) => {
                (Status::Failed, None, Some(TaskError::new(code, detail)))
            }
        };
        let mut ev = Event::new(
            if status == Status::Succeeded {
                "ExecutionSucceeded"
            } else {
                "ExecutionFailed"
            },
            "",
        );
        ev.output = output.clone();
        if let Some(e) = &error {
            ev = ev.error(e);
        }
        record(&self.exec, ev);
        let snapshot = {
            let mut rec = lock(&self.exec.rec);
            rec.status = status;
            rec.output = output;
            rec.error = error;
            rec.stopped_time = Some(now());
            rec.clone()
        };
        if let Some(dir) = &self.inner.opts.history_dir
            && let Err(e) = write_history(dir, &snapshot)
        {
            tracing::warn!(execution = %self.name, error = %e, "could not write the execution history");
        }
        self.exec.done.send_replace(true);
    }

    fn event(&self, ev: Event) {
        record(&self.exec, ev);
    }

    fn env<'a>(&'a self, input: &'a Value, output: Option<&'a Value>) -> Env<'a> {
        Env {
            input,
            output,
            execution_input: &self.input,
            execution_name: &self.name,
        }
    }

    fn build(
        &self,
        t: &Template,
        input: &Value,
        output: Option<&Value>,
        what: &str,
    ) -> Result<Value, Failure> {
        t.eval(&self.env(input, output))
            .map_err(|e| Failure::Error(TaskError::new(names::EXPRESSION, format!("{what}: {e}"))))
    }

    async fn sleep(&self, seconds: f64) {
        let real = seconds * self.inner.opts.time_scale;
        if real > 0.0 && real.is_finite() {
            tokio::time::sleep(Duration::from_secs_f64(real)).await;
        }
    }

    /// Run a state list from its StartAt to an End, Succeed or failure.
    fn scope<'a>(
        &'a self,
        list: &'a StateList,
        input: Value,
        prefix: String,
    ) -> BoxFut<'a, Result<Value, Failure>> {
        Box::pin(async move {
            let mut cur: &State = list.start();
            let mut data = input;
            loop {
                let label = format!("{prefix}{}", cur.name);
                let mut entered = Event::new("StateEntered", &label);
                entered.input = Some(data.clone());
                self.event(entered);
                match self.state(cur, &data, &label).await {
                    Ok((out, jump)) => {
                        let mut ok = Event::new("StateSucceeded", &label);
                        ok.output = Some(out.clone());
                        self.event(ok);
                        match jump {
                            Jump::End => return Ok(out),
                            Jump::To(n) => {
                                cur = list.get(&n).ok_or_else(|| {
                                    Failure::Error(TaskError::new(
                                        names::EXPRESSION,
                                        format!("no state {n}"),
                                    ))
                                })?;
                                data = out;
                            }
                        }
                    }
                    Err(Failure::Error(e)) => {
                        let catchers = match &cur.kind {
                            Kind::Task(t) => &t.catch[..],
                            Kind::Map(m) => &m.catch[..],
                            Kind::Parallel(p) => &p.catch[..],
                            _ => &[],
                        };
                        self.event(Event::new("StateFailed", &label).error(&e));
                        let Some(c) = catchers.iter().find(|c| c.matches(&e.error)) else {
                            return Err(Failure::Error(e));
                        };
                        let err_value = e.to_value();
                        let out = match &c.output {
                            Some(t) => {
                                self.build(t, &data, Some(&err_value), &format!("{label} Catch"))?
                            }
                            None => err_value,
                        };
                        let mut caught = Event::new("ErrorCaught", &label).error(&e);
                        caught.next = Some(c.next.clone());
                        caught.output = Some(out.clone());
                        self.event(caught);
                        cur = list.get(&c.next).ok_or_else(|| {
                            Failure::Error(TaskError::new(
                                names::EXPRESSION,
                                format!("no state {}", c.next),
                            ))
                        })?;
                        data = out;
                    }
                    Err(f @ Failure::Fail { .. }) => {
                        if let Failure::Fail { code, detail } = &f {
                            self.event(
                                Event::new("StateFailed", &label)
                                    .error(&TaskError::new(code, detail)),
                            );
                        }
                        return Err(f);
                    }
                }
            }
        })
    }

    /// One state: input shaping, the work with its retries, output shaping.
    async fn state(&self, s: &State, raw: &Value, label: &str) -> Result<(Value, Jump), Failure> {
        let input = match &s.input {
            Some(t) => self.build(t, raw, None, &format!("{label} InputConstructor"))?,
            None => raw.clone(),
        };
        let retriers: &[Retrier] = match &s.kind {
            Kind::Task(t) => &t.retry,
            Kind::Map(m) => &m.retry,
            Kind::Parallel(p) => &p.retry,
            _ => &[],
        };
        let mut used = vec![0u32; retriers.len()];
        let mut attempt = 1u32;
        let result = loop {
            match self.work(s, &input, label, attempt).await {
                Ok(v) => break v,
                Err(Failure::Error(e)) => {
                    // Only the first rule that names the error applies.
                    let Some(i) = retriers.iter().position(|r| r.matches(&e.error)) else {
                        return Err(Failure::Error(e));
                    };
                    if used[i] >= retriers[i].max_attempts {
                        return Err(Failure::Error(e));
                    }
                    used[i] += 1;
                    let delay = retriers[i].delay(used[i]);
                    let mut ev = Event::new("RetryScheduled", label).error(&e);
                    ev.attempt = Some(attempt);
                    ev.delay_seconds = Some(delay);
                    self.event(ev);
                    self.sleep(delay).await;
                    attempt += 1;
                }
                Err(f) => return Err(f),
            }
        };
        let (default_out, jump) = result;
        let out = match &s.output {
            Some(t) => self.build(
                t,
                &input,
                Some(&default_out),
                &format!("{label} OutputConstructor"),
            )?,
            None => default_out,
        };
        Ok((out, jump))
    }

    fn jump(s: &State) -> Jump {
        match &s.next {
            Next::State(n) => Jump::To(n.clone()),
            Next::End | Next::None => Jump::End,
        }
    }

    /// The work of one attempt; answers the state's `$Output` and where to go.
    async fn work(
        &self,
        s: &State,
        input: &Value,
        label: &str,
        attempt: u32,
    ) -> Result<(Value, Jump), Failure> {
        match &s.kind {
            Kind::Task(t) => {
                let payload = match &t.body {
                    Some(b) => self.build(b, input, None, &format!("{label} Parameters.body"))?,
                    None => input.clone(),
                };
                let mut ev = Event::new("TaskScheduled", label);
                ev.attempt = Some(attempt);
                ev.function = Some(t.function.clone());
                ev.input = Some(payload.clone());
                self.event(ev);
                match self.inner.invoker.invoke(&t.function, payload).await {
                    Ok(body) => {
                        let mut ev = Event::new("TaskSucceeded", label);
                        ev.attempt = Some(attempt);
                        ev.function = Some(t.function.clone());
                        ev.output = Some(body.clone());
                        self.event(ev);
                        Ok((json!({ "Body": body }), Self::jump(s)))
                    }
                    Err(e) => {
                        let mut ev = Event::new("TaskFailed", label).error(&e);
                        ev.attempt = Some(attempt);
                        ev.function = Some(t.function.clone());
                        self.event(ev);
                        Err(Failure::Error(e))
                    }
                }
            }
            Kind::Pass | Kind::Succeed => Ok((input.clone(), Self::jump(s))),
            Kind::Wait { seconds } => {
                self.sleep(*seconds).await;
                Ok((input.clone(), Self::jump(s)))
            }
            Kind::Fail { code, detail } => Err(Failure::Fail {
                code: code.clone(),
                detail: detail.clone(),
            }),
            Kind::Choice(c) => {
                let env = self.env(input, None);
                let target = c
                    .branches
                    .iter()
                    .find(|(cond, _)| cond.eval(&env))
                    .map(|(_, n)| n.clone())
                    .or_else(|| c.default.clone())
                    .ok_or_else(|| {
                        Failure::Error(TaskError::new(
                            names::NO_CHOICE,
                            format!("{label}: no branch matched and there is no Default"),
                        ))
                    })?;
                Ok((input.clone(), Jump::To(target)))
            }
            Kind::Map(m) => {
                let env = self.env(input, None);
                let items = match m.items_path.eval(&env).map(|v| v.into_owned()) {
                    Some(Value::Array(a)) => a,
                    other => {
                        return Err(Failure::Error(TaskError::new(
                            names::EXPRESSION,
                            format!(
                                "{label}: ItemsPath {} is not a list (found {})",
                                m.items_path.text,
                                other.map_or("nothing".into(), |v| short(&v))
                            ),
                        )));
                    }
                };
                let n = items.len().max(1);
                let mut limit = m.max_concurrency.map_or(n, |c| c as usize);
                if let Some(cap) = self.inner.opts.max_concurrency_cap {
                    limit = limit.min(cap.max(1) as usize);
                }
                // `buffered` keeps at most `limit` iterations in flight and
                // yields results in item order; the first error stops the rest.
                let results: Vec<Value> = futures_util::stream::iter(items.into_iter().enumerate())
                    .map(|(i, item)| self.scope(&m.processor, item, format!("{label}[{i}].")))
                    .buffered(limit.max(1))
                    .try_collect()
                    .await?;
                Ok((json!({ "Items": results }), Self::jump(s)))
            }
            Kind::Parallel(p) => {
                let runs = p
                    .branches
                    .iter()
                    .enumerate()
                    .map(|(i, b)| self.scope(b, input.clone(), format!("{label}.Branch{i}.")));
                let outs = futures_util::future::try_join_all(runs).await?;
                let mut m = serde_json::Map::new();
                for (i, o) in outs.into_iter().enumerate() {
                    m.insert(format!("Branch{i}"), o);
                }
                Ok((Value::Object(m), Self::jump(s)))
            }
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}...", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

fn write_history(dir: &std::path::Path, rec: &ExecutionRecord) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.json", rec.name));
    let tmp = dir.join(format!(".{}.json.tmp", rec.name));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}
