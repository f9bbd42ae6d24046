//! The contract over real HTTP: status codes, the x-fc-status header, the
//! error body, and typed input.

use fc_runtime::{Context, ErrorBody, headers, serve};
use serde::{Deserialize, Serialize};

/// A function's own error type: it names itself, and the runtime's own
/// failures, through `FunctionError`.
#[derive(Debug)]
struct Error {
    kind: &'static str,
    message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl fc_runtime::FunctionError for Error {
    fn error_type(&self) -> &str {
        self.kind
    }
    fn error_message(&self) -> String {
        self.message.clone()
    }
    fn bad_event(message: String) -> Self {
        Error {
            kind: "InvalidInput",
            message,
        }
    }
    fn internal(message: String) -> Self {
        Error {
            kind: "Internal",
            message,
        }
    }
}

#[derive(Deserialize)]
struct In {
    n: i64,
}
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Out {
    double: i64,
    request_id: String,
    has_creds: bool,
}

async fn handler(ev: In, ctx: Context) -> Result<Out, Error> {
    if ev.n < 0 {
        return Err(Error {
            kind: "CorruptMedia",
            message: "negative".into(),
        });
    }
    if ev.n == 13 {
        panic!("unlucky");
    }
    Ok(Out {
        double: ev.n * 2,
        request_id: ctx.request_id,
        has_creds: ctx.credentials.is_some(),
    })
}

async fn start() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(serve(l, handler));
    format!("http://{addr}")
}

#[tokio::test]
async fn success_error_panic_and_bad_input() {
    let base = start().await;
    let c = reqwest::Client::new();
    let ok = c
        .post(format!("{base}/invoke"))
        .header(headers::REQUEST_ID, "req-1")
        .header(headers::ACCESS_KEY_ID, "AK")
        .header(headers::ACCESS_KEY_SECRET, "SK")
        .body(r#"{"n": 21}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get(headers::STATUS).is_none());
    let out: Out = ok.json().await.unwrap();
    assert_eq!(
        out,
        Out {
            double: 42,
            request_id: "req-1".into(),
            has_creds: true
        }
    );

    for (body, ty) in [
        (r#"{"n": -1}"#, "CorruptMedia"),
        (r#"{"n": 13}"#, "Internal"),
        (r#"{"m": 1}"#, "InvalidInput"),
        ("garbage", "InvalidInput"),
    ] {
        let r = c
            .post(format!("{base}/invoke"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{body}");
        assert_eq!(r.headers()[headers::STATUS], "404");
        let e: ErrorBody = r.json().await.unwrap();
        assert_eq!(e.error_type, ty, "{body}: {}", e.error_message);
        assert!(!e.error_message.is_empty());
    }

    // The server is still up after a panic.
    let r = c.post(format!("{base}/initialize")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/invoke"))
        .body(r#"{"n": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A body one byte over FC's largest event is refused before the handler
/// parses it; one at the limit reaches the handler (which then finds no JSON).
#[tokio::test]
async fn an_event_larger_than_fc_allows_is_refused_unparsed() {
    let base = start().await;
    let c = reqwest::Client::new();
    let over = c
        .post(format!("{base}/invoke"))
        .body(vec![b' '; fc_runtime::MAX_EVENT_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 413);
    let at = c
        .post(format!("{base}/invoke"))
        .body(vec![b' '; fc_runtime::MAX_EVENT_BYTES])
        .send()
        .await
        .unwrap();
    assert_ne!(at.status(), 413);
}
