//! OSS event deliveries to triggered functions: one asynchronous invocation
//! with FC's retries, and what it ended with, typed.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};
use vpf_core::event::OssRecord;
use vpf_core::job::SimpleOutput;

use crate::fc::{FcEmulator, OssTrigger};
use crate::flow::TaskError;

/// oss-trigger's answer.
pub use vpf_core::steps::{RecordOutcome, TriggerOutput};

/// FC retries a failed asynchronous invocation (OSS triggers invoke
/// asynchronously) up to 3 times.
pub const ASYNC_RETRIES: u32 = 3;

/// How an OSS event delivery to a triggered function ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub trigger: String,
    pub function: String,
    pub bucket: String,
    pub key: String,
    /// The object's eTag: with bucket and key it names the execution.
    pub etag: String,
    pub event_name: String,
    pub attempts: u32,
    /// The function's answer, or the last attempt's error (in JSON:
    /// `{"Ok": answer}` or `{"Err": "name: cause"}`).
    #[serde(serialize_with = "ok_or_error_text")]
    pub result: Result<Answer, TaskError>,
}

/// What a triggered function answered: oss-trigger the executions it
/// started, the simple function (a deploy file without a flow) the jobs it
/// ran; any other function's answer is kept as it came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Trigger(TriggerOutput),
    Simple(SimpleOutput),
    Other(Value),
}

impl Answer {
    /// oss-trigger's outcome for each record (none for another function).
    pub fn records(&self) -> &[RecordOutcome] {
        match self {
            Answer::Trigger(t) => &t.records,
            _ => &[],
        }
    }

    /// The executions the answer names: started now, or by an earlier
    /// delivery of the same event.
    pub fn executions(&self) -> Vec<&str> {
        self.records()
            .iter()
            .filter_map(|r| match r {
                RecordOutcome::Started { execution, .. }
                | RecordOutcome::Duplicate { execution, .. } => Some(execution.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// The answer as JSON, as the function sent it.
impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_value(self) {
            Ok(v) => write!(f, "{v}"),
            Err(e) => write!(f, "(unprintable answer: {e})"),
        }
    }
}

fn ok_or_error_text<S: Serializer>(r: &Result<Answer, TaskError>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Ok(a) => s.serialize_newtype_variant("Result", 0, "Ok", a),
        Err(e) => s.serialize_newtype_variant("Result", 1, "Err", &e.to_string()),
    }
}

/// One asynchronous invocation with FC's retries.
pub async fn deliver(fc: &FcEmulator, t: &OssTrigger, rec: &OssRecord) -> Delivery {
    let body = serde_json::to_vec(&json!({ "events": [rec] })).unwrap_or_default();
    let mut attempts = 0;
    let mut wait = Duration::from_millis(500);
    let result = loop {
        attempts += 1;
        let outcome = fc
            .invoke_with_retry_count(&t.function, &body, attempts - 1)
            .await;
        match crate::fc::task_result(outcome) {
            Ok(v) => break Ok(answer(v)),
            Err(e) if attempts > ASYNC_RETRIES => break Err(e),
            Err(e) => {
                tracing::warn!(function = %t.function, attempt = attempts, error = %e, "triggered invocation failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    };
    Delivery {
        trigger: t.name.clone(),
        function: t.function.clone(),
        bucket: rec.oss.bucket.name.clone(),
        key: rec.oss.object.key.clone(),
        etag: rec.oss.object.e_tag.clone(),
        event_name: rec.event_name.clone(),
        attempts,
        result,
    }
}

/// The answer typed; one no type fits stays as it came.
fn answer(v: Value) -> Answer {
    serde_json::from_value(v.clone()).unwrap_or(Answer::Other(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_typed_and_print_as_they_came() {
        let trig = json!({"records": [
            {"outcome": "started", "key": "source/a.mp4", "execution": "a-1"},
            {"outcome": "duplicate", "key": "source/b.mp4", "execution": "b-2"},
            {"outcome": "skipped", "key": "image/c.jpg", "reason": "not a video"}
        ]});
        let a = answer(trig.clone());
        assert!(matches!(a, Answer::Trigger(_)), "{a:?}");
        assert_eq!(a.executions(), ["a-1", "b-2"]);
        assert_eq!(serde_json::to_value(&a).unwrap(), trig);
        let simple = json!({"jobs": [], "skipped": [{"key": "x.txt", "reason": "not a video"}]});
        assert!(matches!(answer(simple.clone()), Answer::Simple(_)));
        let other = json!({"hello": 1});
        let o = answer(other.clone());
        assert_eq!(o, Answer::Other(other));
        assert!(o.executions().is_empty());
        assert_eq!(o.to_string(), r#"{"hello":1}"#);
    }

    #[test]
    fn a_failure_prints_as_its_text() {
        let d = Delivery {
            trigger: "t".into(),
            function: "f".into(),
            bucket: "b".into(),
            key: "k".into(),
            etag: "e".into(),
            event_name: "ObjectCreated:PutObject".into(),
            attempts: 4,
            result: Err(TaskError::new("FC.Unknown", "boom")),
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["result"], json!({"Err": "FC.Unknown: boom"}));
        let ok = Delivery {
            result: Ok(Answer::Other(json!(1))),
            ..d
        };
        assert_eq!(
            serde_json::to_value(&ok).unwrap()["result"],
            json!({"Ok": 1})
        );
    }
}
