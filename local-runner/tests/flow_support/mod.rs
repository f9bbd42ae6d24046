//! A scripted Invoker for the flow tests: canned answers per function, with
//! call records and the number of calls in flight.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use local_runner::flow::{Invoker, TaskError};
use serde_json::Value;

type Answer = Box<dyn Fn(&Value) -> Result<Value, TaskError> + Send + Sync>;
type Delay = Box<dyn Fn(&Value) -> Duration + Send + Sync>;
type Queue = Mutex<HashMap<String, VecDeque<Result<Value, TaskError>>>>;

#[derive(Default)]
pub struct Script {
    /// Answers used once each, in order, before `always`.
    queued: Queue,
    always: HashMap<String, Answer>,
    /// How long a call takes, by function (so calls overlap).
    pub delays: HashMap<String, Delay>,
    pub calls: Mutex<Vec<(String, Value)>>,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

impl Script {
    pub fn new() -> Script {
        Script::default()
    }

    pub fn always(
        mut self,
        f: &str,
        a: impl Fn(&Value) -> Result<Value, TaskError> + Send + Sync + 'static,
    ) -> Script {
        self.always.insert(f.to_string(), Box::new(a));
        self
    }

    pub fn then(self, f: &str, r: Result<Value, TaskError>) -> Script {
        self.queued
            .lock()
            .unwrap()
            .entry(f.to_string())
            .or_default()
            .push_back(r);
        self
    }

    pub fn delay(
        mut self,
        f: &str,
        d: impl Fn(&Value) -> Duration + Send + Sync + 'static,
    ) -> Script {
        self.delays.insert(f.to_string(), Box::new(d));
        self
    }

    pub fn calls_to(&self, f: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(g, _)| g == f)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl Invoker for Script {
    fn invoke(
        &self,
        function: &str,
        payload: Value,
    ) -> impl std::future::Future<Output = Result<Value, TaskError>> + Send {
        let function = function.to_string();
        async move {
            self.calls
                .lock()
                .unwrap()
                .push((function.clone(), payload.clone()));
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            if let Some(d) = self.delays.get(&function) {
                tokio::time::sleep(d(&payload)).await;
            }
            let queued = self
                .queued
                .lock()
                .unwrap()
                .get_mut(&function)
                .and_then(VecDeque::pop_front);
            let r = match queued {
                Some(r) => r,
                None => match self.always.get(&function) {
                    Some(a) => a(&payload),
                    None => Err(TaskError::new(
                        "FC.FunctionNotFound",
                        format!("no function {function}"),
                    )),
                },
            };
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            r
        }
    }
}
