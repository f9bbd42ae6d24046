//! A function for testing the FC emulator. The event says what to do:
//! `{"echo": x}`, `{"sleep_ms": n}`, `{"fail": "Type"}`, `{"exit": code}`,
//! `{"spawn_sleep": seconds}` (starts a child `sleep` and waits on it, as a
//! handler waits on ffmpeg), `{"env": "NAME"}`.

use fc_runtime::Context;
use serde_json::{Value, json};
use vpf_core::{Error, ErrorKind};

async fn probe(ev: Value, ctx: Context) -> Result<Value, Error> {
    if let Some(ms) = ev.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(t) = ev.get("fail").and_then(Value::as_str) {
        let kind = ErrorKind::parse(t).unwrap_or(ErrorKind::Internal);
        return Err(Error::new(kind, format!("asked to fail with {t}")));
    }
    if let Some(code) = ev.get("exit").and_then(Value::as_i64) {
        std::process::exit(code as i32);
    }
    if let Some(s) = ev.get("spawn_sleep").and_then(Value::as_u64) {
        let mut child = tokio::process::Command::new("sleep")
            .arg(s.to_string())
            .spawn()
            .map_err(|e| Error::internal(e.to_string()))?;
        println!("child pid {}", child.id().unwrap_or(0));
        let _ = child.wait().await;
    }
    let env = ev
        .get("env")
        .and_then(Value::as_str)
        .map(|k| std::env::var(k).unwrap_or_default());
    Ok(json!({
        "echo": ev.get("echo").cloned().unwrap_or(Value::Null),
        "pid": std::process::id(),
        "requestId": ctx.request_id,
        "function": ctx.function_name,
        "retryCount": ctx.retry_count,
        "hasToken": ctx.credentials.as_ref().and_then(|c| c.security_token.as_ref()).is_some(),
        "env": env,
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    fc_runtime::run(probe).await
}
