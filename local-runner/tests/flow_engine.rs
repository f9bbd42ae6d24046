//! Engine semantics: retry with backoff, catch, Map order and concurrency,
//! Choice/Parallel/Wait/Fail, refusal at load.

mod flow_support;

use std::time::Duration;

use flow_support::Script;
use local_runner::flow::{Engine, EngineOptions, Flow, Status, TaskError, Vars};
use serde_json::{Value, json};

fn opts() -> EngineOptions {
    EngineOptions {
        // 3 s of backoff sleeps 3 ms: the history still records 3.
        time_scale: 0.001,
        ..EngineOptions::default()
    }
}

fn flow(yaml: &str) -> Flow {
    Flow::parse(yaml, &Vars::new()).unwrap()
}

const TASK_WITH_RETRY: &str = r#"
Type: StateMachine
Name: retry-test
SpecVersion: v1
StartAt: Work
States:
  - Name: Work
    Type: Task
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      invocationType: Sync
      resourceArn: acs:fc:::functions/worker/LATEST
      body:
        id.$: $Input.id
        fixed: 1
    Retry:
      - Errors: [FC.ResourceThrottled]
        IntervalSeconds: 1
        MaxAttempts: 1
      - Errors: [StorageError, Internal]
        IntervalSeconds: 3
        BackoffRate: 2
        MaxAttempts: 3
        MaxBackoffSeconds: 10
    Catch:
      - Errors: [CorruptMedia]
        OutputConstructor:
          caught.$: $Output
          id.$: $Input.id
        Next: Cleanup
      - Errors: [FnF.ALL]
        Next: Cleanup
    OutputConstructor:
      result.$: $Output.Body.value
    End: true
  - Name: Cleanup
    Type: Pass
    End: true
"#;

fn events_of<'a>(
    rec: &'a local_runner::flow::ExecutionRecord,
    kind: &str,
) -> Vec<&'a local_runner::flow::Event> {
    rec.events.iter().filter(|e| e.kind == kind).collect()
}

#[tokio::test]
async fn failing_twice_then_succeeding_is_retried_with_the_configured_backoff() {
    let script = Script::new()
        .then("worker", Err(TaskError::new("StorageError", "OSS 503")))
        .then("worker", Err(TaskError::new("StorageError", "OSS 503")))
        .then("worker", Ok(json!({"value": 42})));
    let engine = Engine::new(flow(TASK_WITH_RETRY), script, opts());
    let rec = engine.run("r1", json!({"id": "a"})).await.unwrap();

    assert_eq!(rec.status, Status::Succeeded, "{rec:#?}");
    assert_eq!(rec.output, Some(json!({"result": 42})));
    let calls = engine.invoker().calls_to("worker");
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| *c == json!({"id": "a", "fixed": 1})));
    let delays: Vec<f64> = events_of(&rec, "RetryScheduled")
        .iter()
        .map(|e| e.delay_seconds.unwrap())
        .collect();
    assert_eq!(
        delays,
        vec![3.0, 6.0],
        "IntervalSeconds 3 × BackoffRate 2^(n-1)"
    );
    let attempts: Vec<u32> = events_of(&rec, "TaskScheduled")
        .iter()
        .map(|e| e.attempt.unwrap())
        .collect();
    assert_eq!(attempts, vec![1, 2, 3]);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_then_catch_takes_over() {
    let script = Script::new().always("worker", |_| Err(TaskError::new("Internal", "disk full")));
    let engine = Engine::new(flow(TASK_WITH_RETRY), script, opts());
    let rec = engine.run("r2", json!({"id": "a"})).await.unwrap();
    // 1 try + 3 retries, then FnF.ALL catches.
    assert_eq!(engine.invoker().calls_to("worker").len(), 4);
    let delays: Vec<f64> = events_of(&rec, "RetryScheduled")
        .iter()
        .map(|e| e.delay_seconds.unwrap())
        .collect();
    assert_eq!(
        delays,
        vec![3.0, 6.0, 10.0],
        "12 s capped by MaxBackoffSeconds 10"
    );
    assert_eq!(rec.status, Status::Succeeded);
    assert_eq!(
        rec.output,
        Some(json!({"Error": "Internal", "Cause": "disk full"}))
    );
}

#[tokio::test]
async fn a_non_retryable_error_goes_straight_to_catch() {
    let script = Script::new().always("worker", |_| {
        Err(TaskError::new("CorruptMedia", "moov atom not found"))
    });
    let engine = Engine::new(flow(TASK_WITH_RETRY), script, opts());
    let rec = engine.run("c1", json!({"id": "a"})).await.unwrap();
    assert_eq!(
        engine.invoker().calls_to("worker").len(),
        1,
        "no retry for CorruptMedia"
    );
    assert!(events_of(&rec, "RetryScheduled").is_empty());
    let caught = events_of(&rec, "ErrorCaught");
    assert_eq!(caught.len(), 1);
    assert_eq!(caught[0].next.as_deref(), Some("Cleanup"));
    assert_eq!(
        rec.output,
        Some(
            json!({"caught": {"Error": "CorruptMedia", "Cause": "moov atom not found"}, "id": "a"})
        )
    );
}

#[tokio::test]
async fn an_uncaught_error_fails_the_execution() {
    let yaml = TASK_WITH_RETRY.replace(
        "    Catch:\n      - Errors: [CorruptMedia]\n        OutputConstructor:\n          caught.$: $Output\n          id.$: $Input.id\n        Next: Cleanup\n      - Errors: [FnF.ALL]\n        Next: Cleanup\n",
        "",
    ).replace("  - Name: Cleanup\n    Type: Pass\n    End: true\n", "");
    let script = Script::new().always("worker", |_| {
        Err(TaskError::new("VerifyFailed", "frames differ"))
    });
    let engine = Engine::new(flow(&yaml), script, opts());
    let rec = engine.run("u1", json!({"id": "a"})).await.unwrap();
    assert_eq!(rec.status, Status::Failed);
    assert_eq!(
        rec.error,
        Some(TaskError::new("VerifyFailed", "frames differ"))
    );
    assert_eq!(events_of(&rec, "ExecutionFailed").len(), 1);
}

const MAP: &str = r#"
Type: StateMachine
Name: map-test
SpecVersion: v1
StartAt: Each
States:
  - Name: Each
    Type: Map
    ItemsPath: $Input.items
    MaxConcurrency: 3
    Processor:
      StartAt: Work
      States:
        - Name: Work
          Type: Task
          Action: FC:InvokeFunction
          Parameters:
            invocationType: Sync
            resourceArn: acs:fc:::functions/worker/LATEST
            body.$: $Input
          OutputConstructor:
            index.$: $Output.Body.index
          End: true
    OutputConstructor:
      pieces.$: $Output.Items
    End: true
"#;

#[tokio::test]
async fn map_keeps_item_order_and_never_exceeds_max_concurrency() {
    let n = 10u64;
    // Later items finish first, so any ordering by completion would show.
    let script = Script::new()
        .always("worker", |v| Ok(json!({"index": v["index"].clone()})))
        .delay("worker", move |v| {
            Duration::from_millis(5 * (n - v["index"].as_u64().unwrap_or(0)))
        });
    let engine = Engine::new(flow(MAP), script, opts());
    let items: Vec<Value> = (0..n).map(|i| json!({"index": i})).collect();
    let rec = engine.run("m1", json!({"items": items})).await.unwrap();
    assert_eq!(rec.status, Status::Succeeded, "{rec:#?}");
    let expected: Vec<Value> = (0..n).map(|i| json!({"index": i})).collect();
    assert_eq!(rec.output, Some(json!({"pieces": expected})));
    let max = engine
        .invoker()
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        max, 3,
        "MaxConcurrency 3: at most 3 in flight, and the Map does use 3"
    );
    // The history names each iteration.
    assert!(rec.events.iter().any(|e| e.state == "Each[9].Work"));
}

#[tokio::test]
async fn the_concurrency_cap_lowers_max_concurrency() {
    let script = Script::new()
        .always("worker", |v| Ok(json!({"index": v["index"].clone()})))
        .delay("worker", |_| Duration::from_millis(5));
    let engine = Engine::new(
        flow(MAP),
        script,
        EngineOptions {
            max_concurrency_cap: Some(2),
            ..opts()
        },
    );
    let items: Vec<Value> = (0..6).map(|i| json!({"index": i})).collect();
    let rec = engine.run("m2", json!({"items": items})).await.unwrap();
    assert_eq!(rec.status, Status::Succeeded);
    assert_eq!(
        engine
            .invoker()
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn a_failing_iteration_fails_the_map() {
    let script = Script::new().always("worker", |v| {
        if v["index"] == 4 {
            Err(TaskError::new("EncodeFailed", "killed"))
        } else {
            Ok(json!({"index": v["index"].clone()}))
        }
    });
    let engine = Engine::new(flow(MAP), script, opts());
    let items: Vec<Value> = (0..6).map(|i| json!({"index": i})).collect();
    let rec = engine.run("m3", json!({"items": items})).await.unwrap();
    assert_eq!(rec.status, Status::Failed);
    assert_eq!(rec.error.unwrap().error, "EncodeFailed");
}

#[tokio::test]
async fn choice_parallel_wait_and_fail() {
    let yaml = r#"
Type: StateMachine
Name: misc
SpecVersion: v1
StartAt: Route
States:
  - Name: Route
    Type: Choice
    Branches:
      - Condition: $Input.kind == "both" && $Input.n >= 2
        Next: Both
      - Condition: $Input.kind == "stop"
        Next: Stop
    Default: Pause
  - Name: Both
    Type: Parallel
    Branches:
      - StartAt: A
        States:
          - Name: A
            Type: Pass
            OutputConstructor:
              from.$: $Input.kind
            End: true
      - StartAt: B
        States:
          - Name: B
            Type: Pass
            InputConstructor:
              name.$: $Context.Execution.Name
            End: true
    End: true
  - Name: Pause
    Type: Wait
    Seconds: 2
    Next: Finish
  - Name: Finish
    Type: Succeed
  - Name: Stop
    Type: Fail
    Code: Stopped
    Detail: asked to stop
"#;
    let engine = Engine::new(flow(yaml), Script::new(), opts());
    let rec = engine
        .run("p1", json!({"kind": "both", "n": 2}))
        .await
        .unwrap();
    assert_eq!(
        rec.output,
        Some(json!({"Branch0": {"from": "both"}, "Branch1": {"name": "p1"}}))
    );
    let rec = engine.run("p2", json!({"kind": "other"})).await.unwrap();
    assert_eq!(
        (rec.status, rec.output),
        (Status::Succeeded, Some(json!({"kind": "other"})))
    );
    let rec = engine.run("p3", json!({"kind": "stop"})).await.unwrap();
    assert_eq!(rec.status, Status::Failed);
    assert_eq!(rec.error, Some(TaskError::new("Stopped", "asked to stop")));
}

#[tokio::test]
async fn a_finished_name_is_refused_and_a_running_one_returned() {
    let script = Script::new()
        .always("worker", |_| Ok(json!({"value": 1})))
        .delay("worker", |_| Duration::from_millis(50));
    let engine = Engine::new(flow(TASK_WITH_RETRY), script, opts());
    let first = engine.start("same", json!({"id": "a"})).unwrap();
    assert_eq!(first.status, Status::Running);
    let again = engine.start("same", json!({"id": "b"})).unwrap();
    assert_eq!(
        (again.status, again.input),
        (Status::Running, json!({"id": "a"}))
    );
    engine.wait("same").await.unwrap();
    let e = engine.start("same", json!({"id": "a"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Execution same for flow retry-test already exists."
    );
    assert_eq!(engine.invoker().calls_to("worker").len(), 1);
}

#[tokio::test]
async fn history_is_written_to_a_folder_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new().always("worker", |_| Ok(json!({"value": 7})));
    let engine = Engine::new(
        flow(TASK_WITH_RETRY),
        script,
        EngineOptions {
            history_dir: Some(dir.path().to_path_buf()),
            ..opts()
        },
    );
    engine.run("h1", json!({"id": "z"})).await.unwrap();
    let saved: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("h1.json")).unwrap()).unwrap();
    assert_eq!(saved["status"], "Succeeded");
    let kinds: Vec<&str> = saved["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ExecutionStarted",
            "StateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "StateSucceeded",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(saved["events"][2]["input"], json!({"id": "z", "fixed": 1}));
    assert!(
        engine
            .history_json("h1")
            .unwrap()
            .contains("\"TaskSucceeded\"")
    );
}

#[test]
fn unsupported_fields_and_expressions_are_refused_at_load() {
    let bad = MAP.replace(
        "          OutputConstructor:\n",
        "          ResultSelector: {}\n          OutputConstructor:\n",
    );
    let e = Flow::parse(&bad, &Vars::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "States[0].Processor.States[0]: unsupported field 'ResultSelector'"
    );

    let bad = MAP.replace(
        "index.$: $Output.Body.index",
        "index.$: states.JsonMerge($Input, $Output)",
    );
    let e = Flow::parse(&bad, &Vars::new()).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "States[0].Processor.States[0].OutputConstructor.index.$: unsupported expression"
        ),
        "{e}"
    );
    let bad = MAP.replace("Type: Map", "Type: Loop");
    assert!(
        Flow::parse(&bad, &Vars::new())
            .unwrap_err()
            .to_string()
            .contains("unsupported state type 'Loop'")
    );
    let bad = MAP.replace("Action: FC:InvokeFunction", "Action: MNS:SendMessage");
    assert!(
        Flow::parse(&bad, &Vars::new())
            .unwrap_err()
            .to_string()
            .contains("unsupported action")
    );
}
