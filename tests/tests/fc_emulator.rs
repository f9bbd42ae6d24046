//! The FC emulator against a real handler process over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use local_runner::fc::{FcEmulator, FunctionSpec, Outcome, codes};
use serde_json::Value;
use vpf_core::credentials::Credentials;

fn spec(name: &str, timeout_ms: u64, concurrency: u32) -> FunctionSpec {
    FunctionSpec {
        name: name.into(),
        command: vec![env!("CARGO_BIN_EXE_fc-probe").into()],
        env: vec![("PROBE_SETTING".into(), "from-s.yaml".into())],
        timeout: Duration::from_millis(timeout_ms),
        instance_concurrency: concurrency,
        memory_mb: Some(512),
        cwd: None,
    }
}

fn emulator(specs: Vec<FunctionSpec>, max_instances: usize) -> (FcEmulator, tempfile::TempDir) {
    let logs = tempfile::tempdir().unwrap();
    let creds: local_runner::fc::CredentialSource =
        Arc::new(|| Credentials::new("STS.tmp", "tmp-secret-XYZ").with_token("tok-ABC"));
    let fc = FcEmulator::new(
        specs,
        "cn-hangzhou",
        "1234",
        Some(creds),
        logs.path().into(),
        max_instances,
    )
    .unwrap();
    (fc, logs)
}

fn ok(o: Outcome) -> Value {
    match o {
        Outcome::Ok(v) => v,
        other => panic!("expected success, got {other:?}"),
    }
}

/// Running, not a zombie: an orphan killed with its group may wait for a
/// reaper that a container's init does not always provide.
fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

#[tokio::test]
async fn invokes_with_fc_headers_and_env_and_reports_errors() {
    let (fc, logs) = emulator(vec![spec("probe", 5000, 1)], 2);
    let v = ok(fc
        .invoke("probe", br#"{"echo": 7, "env": "PROBE_SETTING"}"#)
        .await);
    assert_eq!(v["echo"], 7);
    assert_eq!(v["function"], "probe");
    assert_eq!(v["hasToken"], true);
    assert_eq!(v["env"], "from-s.yaml");
    assert!(!v["requestId"].as_str().unwrap().is_empty());

    match fc.invoke("probe", br#"{"fail": "CorruptMedia"}"#).await {
        Outcome::FunctionError(e) => assert_eq!(e.error_type, "CorruptMedia"),
        o => panic!("{o:?}"),
    }
    match fc.invoke("nope", b"{}").await {
        Outcome::PlatformError { code, .. } => assert_eq!(code, codes::NOT_FOUND),
        o => panic!("{o:?}"),
    }
    // The instance is reused between calls.
    let a = ok(fc.invoke("probe", b"{}").await)["pid"].clone();
    let b = ok(fc.invoke("probe", b"{}").await)["pid"].clone();
    assert_eq!(a, b);
    assert_eq!(fc.instances_started("probe"), 1);

    fc.shutdown().await;
    // The log frames calls as FC does and never holds the secret or token.
    let log = std::fs::read_to_string(logs.path().join("probe.log")).unwrap();
    assert!(log.contains("FC Invoke Start RequestId: "), "{log}");
    assert!(log.contains("FC Invoke End RequestId: "));
    assert!(!log.contains("tmp-secret-XYZ") && !log.contains("tok-ABC"));
}

#[tokio::test]
async fn timeout_kills_the_instance_and_its_children_then_a_new_one_serves() {
    let (fc, logs) = emulator(vec![spec("probe", 700, 1)], 2);
    let first = ok(fc.invoke("probe", b"{}").await)["pid"].as_i64().unwrap();
    match fc.invoke("probe", br#"{"spawn_sleep": 30}"#).await {
        Outcome::PlatformError { code, message } => {
            assert_eq!(code, codes::TIMEOUT);
            assert!(message.contains("timed out"), "{message}");
        }
        o => panic!("{o:?}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!alive(first), "the timed-out instance must be gone");
    let log = std::fs::read_to_string(logs.path().join("probe.log")).unwrap();
    let child: i64 = log
        .lines()
        .find_map(|l| {
            l.strip_prefix("child pid ")
                .map(|p| p.trim().parse().unwrap())
        })
        .expect("child pid logged");
    assert!(
        !alive(child),
        "the handler's child process must be killed with it"
    );
    let second = ok(fc.invoke("probe", b"{}").await)["pid"].as_i64().unwrap();
    assert_ne!(first, second);
    fc.shutdown().await;
    assert!(!alive(second));
}

#[tokio::test]
async fn a_crash_is_a_platform_error() {
    let (fc, _logs) = emulator(vec![spec("probe", 5000, 1)], 1);
    match fc.invoke("probe", br#"{"exit": 3}"#).await {
        Outcome::PlatformError { code, .. } => assert_eq!(code, codes::CRASHED),
        o => panic!("{o:?}"),
    }
    ok(fc.invoke("probe", b"{}").await);
    fc.shutdown().await;
}

#[tokio::test]
async fn concurrency_scales_out_within_the_cap() {
    // instanceConcurrency 2, at most 2 instances: 4 calls at once at most.
    let (fc, _logs) = emulator(vec![spec("probe", 10_000, 2)], 2);
    let fc = Arc::new(fc);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let fc = fc.clone();
        tasks.push(tokio::spawn(async move {
            ok(fc
                .invoke(
                    "probe",
                    format!(r#"{{"sleep_ms": 150, "echo": {i}}}"#).as_bytes(),
                )
                .await)
        }));
    }
    let mut pids = std::collections::HashSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let v = t.await.unwrap();
        assert_eq!(v["echo"], i);
        pids.insert(v["pid"].as_i64().unwrap());
    }
    assert_eq!(fc.peak_in_flight("probe"), 4);
    assert!(pids.len() <= 2, "{pids:?}");
    assert!(fc.instances_started("probe") <= 2);
    fc.shutdown().await;
}
