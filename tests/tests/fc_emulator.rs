//! The FC emulator against a real handler process over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use local_runner::fc::{FailureKind, FcEmulator, FunctionSpec, Outcome, task_result};
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

    // A handler's own failure: X-Fc-Error-Type HandledInvocationError, and
    // the flow matches it by its errorType.
    let failed = fc.invoke("probe", br#"{"fail": "CorruptMedia"}"#).await;
    match &failed {
        Outcome::FunctionError(f) => {
            assert_eq!(f.kind, FailureKind::HandledInvocationError);
            assert_eq!(f.error_type.as_deref(), Some("CorruptMedia"));
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(flow_name(failed), "CorruptMedia");
    // FC's own refusal: non-2xx with its code, FC.<code> to the flow.
    let missing = fc.invoke("nope", b"{}").await;
    assert!(
        matches!(&missing, Outcome::PlatformError { status: 404, code, .. } if code == "FunctionNotFound")
    );
    assert_eq!(flow_name(missing), "FC.FunctionNotFound");
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
    // FC ends the call: an unhandled function error in FC's words, with no
    // errorType, which the flow sees as FC.Unknown.
    let timed_out = fc.invoke("probe", br#"{"spawn_sleep": 30}"#).await;
    match &timed_out {
        Outcome::FunctionError(f) => {
            assert_eq!(f.kind, FailureKind::UnhandledInvocationError);
            assert_eq!(f.error_type, None);
            assert!(
                f.error_message
                    .starts_with("Function time out after 0.7 seconds"),
                "{f:?}"
            );
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(flow_name(timed_out), "FC.Unknown");
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
async fn a_crash_is_an_unhandled_function_error() {
    let (fc, _logs) = emulator(vec![spec("probe", 5000, 1)], 1);
    let crashed = fc.invoke("probe", br#"{"exit": 3}"#).await;
    match &crashed {
        Outcome::FunctionError(f) => {
            assert_eq!(f.kind, FailureKind::UnhandledInvocationError);
            assert!(
                f.error_message
                    .starts_with("Process exited unexpectedly before completing request"),
                "{f:?}"
            );
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(flow_name(crashed), "FC.Unknown");
    ok(fc.invoke("probe", b"{}").await);
    fc.shutdown().await;
}

#[tokio::test]
async fn a_throttle_is_a_429_that_the_flow_names_fc_resource_exhausted() {
    let (fc, _logs) = emulator(vec![spec("probe", 5000, 1)], 1);
    fc.throttle_next("probe", 2);
    for _ in 0..2 {
        let o = fc.invoke("probe", b"{}").await;
        assert!(
            matches!(&o, Outcome::PlatformError { status: 429, code, .. } if code == "ResourceExhausted"),
            "{o:?}"
        );
        assert_eq!(flow_name(o), "FC.ResourceExhausted");
    }
    ok(fc.invoke("probe", b"{}").await);
    fc.shutdown().await;
}

/// The name a flow's Retry and Catch see for a failed call.
fn flow_name(o: Outcome) -> String {
    task_result(o).expect_err("a failure").error
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
