//! Serves the Serverless Workflow API on loopback with a one-state demo flow,
//! so that independent clients (the official Python SDK in
//! tests/python/test_flow_api.py) can be checked against our signature
//! verification. Prints `READY http://127.0.0.1:<port>` and serves until
//! its standard input closes.
//!
//! Keys from the environment: FLOW_API_AK / FLOW_API_SK (permanent) and
//! FLOW_API_STS_AK / FLOW_API_STS_SK / FLOW_API_STS_TOKEN (temporary).

use std::io::Write;
use std::sync::Arc;

use local_runner::account::KeyRing;
use local_runner::flow::api::{ApiState, serve};
use local_runner::flow::{Engine, EngineOptions, Flow, Invoker, TaskError, Vars};
use serde_json::Value;
use vpf_core::credentials::Credentials;

const FLOW: &str = r#"
Type: StateMachine
Name: demo
SpecVersion: v1
StartAt: Echo
States:
  - Name: Echo
    Type: Task
    Action: FC:InvokeFunction
    Parameters:
      invocationType: Sync
      resourceArn: acs:fc:::functions/echo/LATEST
      body.$: $Input
    End: true
"#;

/// Answers with its input.
struct Echo;

impl Invoker for Echo {
    async fn invoke(&self, _function: &str, payload: Value) -> Result<Value, TaskError> {
        Ok(payload)
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let keys = KeyRing::new();
    if let (Some(ak), Some(sk)) = (env("FLOW_API_AK"), env("FLOW_API_SK")) {
        keys.add(&Credentials::new(ak, sk));
    }
    if let (Some(ak), Some(sk), Some(tok)) = (
        env("FLOW_API_STS_AK"),
        env("FLOW_API_STS_SK"),
        env("FLOW_API_STS_TOKEN"),
    ) {
        keys.add(&Credentials::new(ak, sk).with_token(tok));
    }
    let flow = Flow::parse(FLOW, &Vars::new()).map_err(std::io::Error::other)?;
    let engine = Engine::new(flow, Echo, EngineOptions::default());
    let state = Arc::new(ApiState::new(vec![engine], keys));
    let (addr, task) = serve("127.0.0.1:0".parse().map_err(std::io::Error::other)?, state).await?;
    println!("READY http://{addr}");
    std::io::stdout().flush()?;
    // Until the parent closes our stdin (or dies).
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            sink.clear();
        }
    })
    .await;
    task.abort();
    Ok(())
}
