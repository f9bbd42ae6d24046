//! What `run --json` prints: the execution's outcome, its outputs copied to
//! a local folder, and a line per step.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vpf_core::cost::{JobCost, Usage};
use vpf_core::job::{JobStatus, Manifest};
use vpf_core::{Error, Result};
use vpf_oss::ObjectStore;

use crate::flow::{ExecutionRecord, Status};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub status: RunStatus,
    pub execution: String,
    pub outputs: Vec<OutputReport>,
    pub steps: Vec<StepReport>,
    pub error: Option<String>,
    pub manifest: Option<String>,
    /// The manifest's cost in FC 3.0 terms, when after-process priced the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<JobCost>,
    pub seconds: f64,
}

/// What `replay` prints: every delivery, and how each execution (or job,
/// without a flow) it started ended.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub deliveries: Vec<crate::delivery::Delivery>,
    pub executions: Vec<ReplayExecution>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplayExecution {
    pub execution: String,
    pub status: RunStatus,
}

/// How a run ended, as `run --json` and `replay` print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Running,
    /// `replay` stopped waiting before the execution ended.
    Unknown,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Running => "running",
            RunStatus::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Status> for RunStatus {
    fn from(s: Status) -> RunStatus {
        match s {
            Status::Succeeded => RunStatus::Succeeded,
            Status::Failed => RunStatus::Failed,
            Status::Running => RunStatus::Running,
        }
    }
}

impl From<JobStatus> for RunStatus {
    fn from(s: JobStatus) -> RunStatus {
        match s {
            JobStatus::Succeeded => RunStatus::Succeeded,
            JobStatus::Failed => RunStatus::Failed,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputReport {
    pub format: String,
    pub key: String,
    pub local_path: PathBuf,
    pub bytes: u64,
    pub duration_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub name: String,
    /// Succeeded, Failed or Caught (failed, handled by the failure path).
    pub state: String,
    /// Task invocations, retries included (a Map counts every item's).
    pub attempts: u32,
    pub seconds: f64,
}

/// One line per top-level state, in the order they ran.
pub fn steps(rec: &ExecutionRecord) -> Vec<StepReport> {
    let mut out: Vec<(
        StepReport,
        Option<chrono::DateTime<chrono::FixedOffset>>,
        Option<chrono::DateTime<chrono::FixedOffset>>,
    )> = Vec::new();
    for e in &rec.events {
        if e.state.is_empty() {
            continue;
        }
        let top = e
            .state
            .split(['[', '.'])
            .next()
            .unwrap_or(&e.state)
            .to_string();
        let t = chrono::DateTime::parse_from_rfc3339(&e.time).ok();
        let idx = match out.iter().position(|(s, _, _)| s.name == top) {
            Some(i) => i,
            None => {
                out.push((
                    StepReport {
                        name: top.clone(),
                        state: "Running".into(),
                        attempts: 0,
                        seconds: 0.0,
                    },
                    t,
                    t,
                ));
                out.len() - 1
            }
        };
        let (s, first, last) = &mut out[idx];
        if first.is_none() {
            *first = t;
        }
        if t.is_some() {
            *last = t;
        }
        let whole = e.state == top;
        match e.kind.as_str() {
            "TaskScheduled" => s.attempts += 1,
            "StateSucceeded" if whole => s.state = "Succeeded".into(),
            "StateFailed" if whole => s.state = "Failed".into(),
            "ErrorCaught" if whole => s.state = "Caught".into(),
            _ => {}
        }
    }
    out.into_iter()
        .map(|(mut s, first, last)| {
            if let (Some(a), Some(b)) = (first, last) {
                s.seconds = (b - a).num_milliseconds() as f64 / 1000.0;
            }
            s
        })
        .collect()
}

/// One line per step the manifest timed (a job run without a flow: no
/// execution history, the handlers' own timings).
pub fn manifest_steps(m: &Manifest) -> Vec<StepReport> {
    m.steps
        .iter()
        .map(|t| StepReport {
            name: t.step.clone(),
            state: "Succeeded".into(),
            attempts: t.invocations,
            seconds: t.seconds,
        })
        .collect()
}

/// Download the manifest and every output of a finished job into `out`.
pub async fn collect<S: ObjectStore>(
    store: &S,
    bucket: &str,
    manifest_key: &str,
    out: &Path,
) -> Result<(Manifest, Vec<OutputReport>)> {
    std::fs::create_dir_all(out)?;
    let base = manifest_key
        .strip_suffix("/manifest.json")
        .ok_or_else(|| Error::internal(format!("unexpected manifest key {manifest_key}")))?;
    let local_manifest = out.join("manifest.json");
    store
        .get_to_file(bucket, manifest_key, &local_manifest)
        .await?;
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&local_manifest)?)
        .map_err(|e| Error::internal(format!("manifest {manifest_key} is unreadable: {e}")))?;
    let mut reports = Vec::new();
    for o in &manifest.outputs {
        // Every object of the format: for HLS the playlist and its segments.
        let folder = o.key.rsplit_once('/').map(|(d, _)| d).unwrap_or(base);
        let objects = if folder == base {
            vec![o.key.clone()]
        } else {
            store
                .list(bucket, &format!("{folder}/"))
                .await?
                .into_iter()
                .map(|m| m.key)
                .collect()
        };
        for key in &objects {
            let rel = key.strip_prefix(&format!("{base}/")).unwrap_or(key);
            vpf_core::keys::validate_key(rel)?;
            let dest = out.join(rel);
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p)?;
            }
            store.get_to_file(bucket, key, &dest).await?;
        }
        let rel = o.key.strip_prefix(&format!("{base}/")).unwrap_or(&o.key);
        reports.push(OutputReport {
            format: o.format.to_string(),
            key: o.key.clone(),
            local_path: out.join(rel),
            bytes: o.bytes,
            duration_seconds: o.duration_seconds,
        });
    }
    Ok((manifest, reports))
}

/// The cost table `run` prints: a line per function and the total.
pub fn cost_table(c: &JobCost) -> String {
    let mut t = format!(
        "{:<14} {:>14} {:>5} {:>9} {:>9} {:>9} {:>9} {:>10} {:>12}\n",
        "FC 3.0 cost",
        "vCPU/MB/MB",
        "calls",
        "seconds",
        "vCPU-s",
        "mem GB-s",
        "disk GB-s",
        "CU",
        c.currency
    );
    let line = |name: &str, size: &str, u: &Usage| {
        format!(
            "{:<14} {:>14} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>10.4} {:>12.8}\n",
            name,
            size,
            u.invocations,
            u.seconds,
            u.vcpu_seconds,
            u.memory_gb_seconds,
            u.disk_gb_seconds,
            u.cu,
            u.amount
        )
    };
    for s in &c.steps {
        let size = format!("{}/{}/{}", s.size.vcpu, s.size.memory_mb, s.size.disk_mb);
        t.push_str(&line(s.function.as_str(), &size, &s.usage));
    }
    t.push_str(&line("total", "", &c.total));
    t.push_str(&format!(
        "at {} {} per CU (CU_PRICE)\n",
        c.cu_price, c.currency
    ));
    t
}

/// The execution's status as a run reports it.
pub fn status(rec: &ExecutionRecord) -> RunStatus {
    rec.status.into()
}

#[cfg(test)]
mod tests {
    use super::RunStatus;

    #[test]
    fn run_status_prints_the_words_reports_always_printed() {
        for (s, word) in [
            (RunStatus::Succeeded, "succeeded"),
            (RunStatus::Failed, "failed"),
            (RunStatus::Running, "running"),
            (RunStatus::Unknown, "unknown"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), word);
            assert_eq!(s.to_string(), word);
        }
        assert_eq!(
            RunStatus::from(vpf_core::job::JobStatus::Failed),
            RunStatus::Failed
        );
    }
}
