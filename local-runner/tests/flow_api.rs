//! The Serverless Workflow API on loopback, called by vpf-cloudflow's signed
//! client (what oss-trigger uses) and by hand-made tampered requests.

mod flow_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use flow_support::Script;
use local_runner::account::KeyRing;
use local_runner::flow::api::{ApiState, serve};
use local_runner::flow::{Engine, EngineOptions, Flow, Vars};
use serde_json::{Value, json};
use vpf_cloudflow::{FlowClient, StartOutcome, sign};
use vpf_core::ErrorKind;
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
    OutputConstructor:
      echoed.$: $Output.Body
    End: true
"#;

fn permanent() -> Credentials {
    Credentials::new("LTAIpermanent", "perm-secret")
}

fn temporary() -> Credentials {
    Credentials::new("STS.tmpkey", "tmp-secret").with_token("CAIS-token-value")
}

async fn server() -> (String, Engine<Script>) {
    let flow = Flow::parse(FLOW, &Vars::new()).unwrap();
    let engine = Engine::new(
        flow,
        Script::new().always("echo", |v| Ok(v.clone())),
        EngineOptions::default(),
    );
    let keys = KeyRing::new().with(permanent()).with(temporary());
    let state = Arc::new(ApiState::new(vec![engine.clone()], keys));
    let (addr, _task) = serve("127.0.0.1:0".parse().unwrap(), state).await.unwrap();
    (format!("http://{addr}"), engine)
}

#[tokio::test]
async fn start_dedup_and_describe_through_the_signed_client() {
    let (base, engine) = server().await;
    let client = FlowClient::new(&base, "cn-hangzhou", permanent()).unwrap();
    let input = json!({"jobId": "j1", "key": "source/a b+c.mp4"});
    let out = client
        .start_execution("demo", "exec-1", &input)
        .await
        .unwrap();
    assert_eq!(
        out,
        StartOutcome::Started {
            execution_name: "exec-1".into()
        }
    );
    engine.wait("exec-1").await.unwrap();

    let ex = client.describe_execution("demo", "exec-1").await.unwrap();
    assert_eq!(
        (ex.name.as_str(), ex.status.as_str()),
        ("exec-1", "Succeeded")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&ex.input).unwrap(),
        input,
        "input survives form encoding"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&ex.output).unwrap(),
        json!({"echoed": input})
    );

    // A re-delivered event: the finished execution's name is refused, which
    // the client reports as AlreadyExists.
    let again = client
        .start_execution("demo", "exec-1", &input)
        .await
        .unwrap();
    assert_eq!(again, StartOutcome::AlreadyExists);
    assert_eq!(engine.invoker().calls_to("echo").len(), 1);

    let e = client
        .start_execution("nope", "exec-2", &input)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("FlowNotExists"), "{e}");
    let e = client
        .describe_execution("demo", "missing")
        .await
        .unwrap_err();
    assert!(e.message.contains("404 ExecutionNotExists"), "{e}");
}

#[tokio::test]
async fn temporary_credentials_need_their_token() {
    let (base, _engine) = server().await;
    let sts = FlowClient::new(&base, "cn-hangzhou", temporary()).unwrap();
    let ok = sts
        .start_execution("demo", "sts-1", &json!({}))
        .await
        .unwrap();
    assert!(matches!(ok, StartOutcome::Started { .. }));

    let wrong = Credentials::new("STS.tmpkey", "tmp-secret").with_token("someone-elses-token");
    let e = FlowClient::new(&base, "cn-hangzhou", wrong)
        .unwrap()
        .start_execution("demo", "sts-2", &json!({}))
        .await
        .unwrap_err();
    assert!(e.message.contains("403 InvalidSecurityToken"), "{e}");
    let none = Credentials::new("STS.tmpkey", "tmp-secret");
    let e = FlowClient::new(&base, "cn-hangzhou", none)
        .unwrap()
        .start_execution("demo", "sts-3", &json!({}))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("403 InvalidSecurityToken.Missing"),
        "{e}"
    );
}

#[tokio::test]
async fn a_wrong_secret_or_unknown_key_is_refused_with_403() {
    let (base, _engine) = server().await;
    let bad = FlowClient::new(
        &base,
        "cn-hangzhou",
        Credentials::new("LTAIpermanent", "guess"),
    )
    .unwrap();
    let e = bad
        .start_execution("demo", "x1", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("HTTP 403 SignatureDoesNotMatch"), "{e}");
    let unknown =
        FlowClient::new(&base, "cn-hangzhou", Credentials::new("LTAIother", "s")).unwrap();
    let e = unknown
        .start_execution("demo", "x2", &json!({}))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("HTTP 403 InvalidAccessKeyId.NotFound"),
        "{e}"
    );
}

/// A request signed with vpf-cloudflow's signer, sent by hand.
struct Signed {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    url: String,
}

fn signed(
    base: &str,
    method: &str,
    action: &str,
    params: &[(&str, &str)],
    creds: &Credentials,
) -> Signed {
    let host = base.trim_start_matches("http://").to_string();
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let mut headers = sign::base_headers(&host, action, "2019-03-15", &date, &nonce);
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (query, body) = if method == "POST" {
        headers.insert(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        );
        (vec![], sign::encode_pairs(&pairs).into_bytes())
    } else {
        (pairs, vec![])
    };
    let mut req = sign::Request {
        method,
        path: "/",
        query: &query,
        headers,
        body: &body,
    };
    sign::sign(&mut req, creds);
    let mut url = format!("{base}/");
    if !query.is_empty() {
        url = format!("{url}?{}", sign::encode_pairs(&query));
    }
    Signed {
        headers: req.headers,
        body,
        url,
    }
}

async fn send(method: &str, s: &Signed) -> (u16, Value) {
    let http = reqwest::Client::new();
    let m = if method == "POST" {
        reqwest::Method::POST
    } else {
        reqwest::Method::GET
    };
    let mut rb = http.request(m, &s.url);
    for (k, v) in &s.headers {
        if k != "host" {
            rb = rb.header(k, v);
        }
    }
    let resp = rb.body(s.body.clone()).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn tampered_or_unsigned_requests_are_refused_and_the_original_accepted() {
    let (base, engine) = server().await;
    let params = [
        ("FlowName", "demo"),
        ("ExecutionName", "t1"),
        ("Input", "{\"a\":1}"),
    ];
    let original = signed(&base, "POST", "StartExecution", &params, &permanent());

    // The body changed after signing (another execution name).
    let mut t = Signed {
        headers: original.headers.clone(),
        body: original.body.clone(),
        url: original.url.clone(),
    };
    t.body = String::from_utf8(t.body)
        .unwrap()
        .replace("t1", "t2")
        .into_bytes();
    let (status, body) = send("POST", &t).await;
    assert_eq!(status, 403);
    assert_eq!(body["Code"], "SignatureDoesNotMatch");
    assert!(
        body["RequestId"].is_string() && body["Message"].is_string() && body["HostId"].is_string()
    );

    // Body and its hash both changed: the signature still covers the hash.
    let mut t2 = Signed {
        headers: original.headers.clone(),
        body: t.body.clone(),
        url: original.url.clone(),
    };
    t2.headers
        .insert("x-acs-content-sha256".into(), sign::sha256_hex(&t2.body));
    let (status, body) = send("POST", &t2).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (403, Some("SignatureDoesNotMatch"))
    );

    // Another action under the same signature.
    let mut t3 = Signed {
        headers: original.headers.clone(),
        body: original.body.clone(),
        url: original.url.clone(),
    };
    t3.headers
        .insert("x-acs-action".into(), "StopExecution".into());
    assert_eq!(send("POST", &t3).await.0, 403);

    // No signature at all.
    let mut t4 = Signed {
        headers: original.headers.clone(),
        body: original.body.clone(),
        url: original.url.clone(),
    };
    t4.headers.remove("authorization");
    let (status, body) = send("POST", &t4).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (403, Some("IncompleteSignature"))
    );

    assert!(engine.describe("t2").is_none());
    let (status, body) = send("POST", &original).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["Name"].as_str(), body["FlowName"].as_str()),
        (Some("t1"), Some("demo"))
    );
    // The same signed request again: its nonce is spent.
    let (status, body) = send("POST", &original).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed"))
    );
}

#[tokio::test]
async fn history_and_list_answer_in_the_sdk_shape() {
    let (base, engine) = server().await;
    let client = FlowClient::new(&base, "cn-hangzhou", permanent()).unwrap();
    for name in ["h-1", "h-2", "other"] {
        client
            .start_execution("demo", name, &json!({"n": name}))
            .await
            .unwrap();
        engine.wait(name).await.unwrap();
    }
    let req = signed(
        &base,
        "GET",
        "GetExecutionHistory",
        &[
            ("FlowName", "demo"),
            ("ExecutionName", "h-1"),
            ("Limit", "3"),
        ],
        &permanent(),
    );
    let (status, body) = send("GET", &req).await;
    assert_eq!(status, 200, "{body}");
    let events = body["Events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["Type"], "ExecutionStarted");
    assert_eq!(events[1]["StepName"], "Echo");
    let detail: Value = serde_json::from_str(events[1]["EventDetail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["input"], json!({"n": "h-1"}));
    assert_eq!(body["NextToken"], "3");
    let req = signed(
        &base,
        "GET",
        "GetExecutionHistory",
        &[
            ("FlowName", "demo"),
            ("ExecutionName", "h-1"),
            ("NextToken", "3"),
        ],
        &permanent(),
    );
    let (_, rest) = send("GET", &req).await;
    assert_eq!(
        rest["Events"].as_array().unwrap().last().unwrap()["Type"],
        "ExecutionSucceeded"
    );
    assert!(rest.get("NextToken").is_none());

    let req = signed(
        &base,
        "GET",
        "ListExecutions",
        &[("FlowName", "demo"), ("ExecutionNamePrefix", "h-")],
        &permanent(),
    );
    let (status, body) = send("GET", &req).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["Executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["h-1", "h-2"]);
    assert_eq!(body["Executions"][0]["Status"], "Succeeded");
}

/// A body signed without its Content-Type: whoever relays it could add one
/// (here a form type, which turns the body's bytes into parameters) without
/// breaking the signature. Refused: with a body, content-type must be signed.
#[tokio::test]
async fn a_body_whose_content_type_is_not_signed_is_refused() {
    let (base, engine) = server().await;
    let host = base.trim_start_matches("http://").to_string();
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let headers = sign::base_headers(&host, "StartExecution", "2019-03-15", &date, &nonce);
    let pairs = [
        ("FlowName", "demo"),
        ("ExecutionName", "unsigned-type"),
        ("Input", "{}"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let body = sign::encode_pairs(&pairs).into_bytes();
    let mut req = sign::Request {
        method: "POST",
        path: "/",
        query: &[],
        headers,
        body: &body,
    };
    sign::sign(&mut req, &permanent());
    let mut s = Signed {
        headers: req.headers,
        body,
        url: format!("{base}/"),
    };
    s.headers.insert(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    );
    let (status, reply) = send("POST", &s).await;
    assert_eq!(
        (status, reply["Code"].as_str()),
        (403, Some("IncompleteSignature")),
        "{reply}"
    );
    assert!(
        reply["Message"]
            .as_str()
            .is_some_and(|m| m.contains("content-type")),
        "{reply}"
    );
    assert!(engine.describe("unsigned-type").is_none());
}
