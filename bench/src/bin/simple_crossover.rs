//! The simple system (s.simple.yaml, one function) against the workflow
//! (s.yaml) by source length: the same generated 1080p sources, the same
//! formats, both through `local-runner run`, interleaved in one run on this
//! machine. Prints a Markdown table and writes bench/out/simple-crossover.json.
//!
//! Two comparisons:
//! - measured here: each `run`'s wall time, upload to outputs fetched. The
//!   runner runs the workflow's transcode tasks one at a time on a small
//!   machine, so here the workflow can only add its overhead.
//! - FC terms, a model from the handlers' own step times (the manifest's
//!   `steps`): the simple function is one instance running split, transcode
//!   and merge in turn; the workflow runs each piece on an instance of its
//!   own, so its time is split + the longest piece (taken as the mean of
//!   its equal pieces) or the audio task if longer + merge; the simple
//!   function's the same with its one piece. FC's own
//!   latencies (instance starts, state transitions) are not in the model:
//!   they would add to the workflow's side only.
//!
//! Usage: vpf-simple-crossover [SECONDS...]   (default 5 15 30 60 120)

use std::path::{Path, PathBuf};
use std::process::Command;

use local_runner::report::{RunReport, RunStatus};
use serde::Serialize;
use vpf_bench::media::{InputSpec, R, generate};
use vpf_core::job::{Manifest, StepTiming};

const FORMATS: &str = "mp4,gif,jpg";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    source_seconds: f64,
    pieces: u32,
    simple_wall: f64,
    workflow_wall: f64,
    simple_fc: f64,
    workflow_fc: f64,
    simple_steps: Vec<StepTiming>,
    workflow_steps: Vec<StepTiming>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("vpf-simple-crossover: {e}");
        std::process::exit(1);
    }
}

fn run() -> R<()> {
    let lengths: Vec<f64> = match std::env::args().skip(1).collect::<Vec<_>>() {
        a if a.is_empty() => vec![5.0, 15.0, 30.0, 60.0, 120.0],
        a => a
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| format!("{s:?} is not a number of seconds: {e}"))
            })
            .collect::<R<_>>()?,
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no repository root")?
        .to_path_buf();
    let bin = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .ok_or("no binary folder")?
        .to_path_buf();
    let out = root.join("bench/out/simple-crossover");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let ffmpeg = PathBuf::from("ffmpeg");
    let mut rows = Vec::new();
    for secs in lengths {
        let spec = InputSpec::new(&format!("c1080-{secs}"), 1920, 1080, secs, 30.0);
        let src = generate(&ffmpeg, &spec, &out.join("inputs"))?;
        eprintln!("{secs} s: simple ...");
        let (simple_wall, simple) = one(&root, &bin, &out, &src, "s.simple.yaml")?;
        eprintln!("{secs} s: workflow ...");
        let (workflow_wall, workflow) = one(&root, &bin, &out, &src, "s.yaml")?;
        let (workflow_fc, pieces) = fc_model(&workflow);
        let (simple_fc, _) = fc_model(&simple);
        let row = Row {
            source_seconds: secs,
            pieces,
            simple_wall,
            workflow_wall,
            simple_fc,
            workflow_fc,
            simple_steps: simple.steps,
            workflow_steps: workflow.steps,
        };
        // Each row as soon as it is measured: a long run stopped early keeps them.
        eprintln!(
            "{}",
            serde_json::to_string(&row).map_err(|e| e.to_string())?
        );
        rows.push(row);
    }
    println!(
        "| source | workflow pieces | simple, measured s | workflow, measured s | simple, FC model s | workflow, FC model s | faster in FC |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| 1080p {} s | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            r.source_seconds,
            r.pieces,
            r.simple_wall,
            r.workflow_wall,
            r.simple_fc,
            r.workflow_fc,
            if r.workflow_fc < r.simple_fc {
                "workflow"
            } else {
                "simple"
            }
        );
    }
    let json = serde_json::to_vec_pretty(&rows).map_err(|e| e.to_string())?;
    std::fs::write(out.join("results.json"), json).map_err(|e| e.to_string())?;
    Ok(())
}

/// The job's time in FC terms, from the handlers' step times: split, then
/// the longest piece (the mean of equal pieces) or the audio task, whichever
/// is longer, as each runs on an instance of its own (the simple function
/// encodes the audio beside its one piece too), then merge. With its piece count.
fn fc_model(m: &Manifest) -> (f64, u32) {
    let step = |name: &str| {
        m.steps
            .iter()
            .find(|s| s.step == name)
            .map(|s| (s.seconds, s.invocations.max(1)))
            .unwrap_or((0.0, 1))
    };
    let (split, _) = step("split");
    let (transcode, pieces) = step("transcode");
    let (audio, _) = step("audio");
    let (merge, _) = step("merge");
    (
        split + (transcode / f64::from(pieces)).max(audio) + merge,
        pieces,
    )
}

/// One `local-runner run` of `src` with `s_yaml`: its wall time (upload to
/// outputs fetched) and the job's manifest.
fn one(root: &Path, bin: &Path, out: &Path, src: &Path, s_yaml: &str) -> R<(f64, Manifest)> {
    let name = s_yaml.trim_end_matches(".yaml");
    let state = out.join(format!("state-{name}"));
    let _ = std::fs::remove_dir_all(&state);
    let res = Command::new(bin.join("local-runner"))
        .current_dir(root)
        .arg("--s-yaml")
        .arg(s_yaml)
        .arg("--bin-dir")
        .arg(bin)
        .arg("--state-dir")
        .arg(&state)
        .args(["run", "--json", "--formats", FORMATS, "--input"])
        .arg(src)
        .arg("--out")
        .arg(out.join(format!("out-{name}")))
        .output()
        .map_err(|e| format!("local-runner: {e}"))?;
    let report: RunReport = serde_json::from_slice(&res.stdout).map_err(|e| {
        format!(
            "local-runner --s-yaml {s_yaml}: {e}: {}",
            String::from_utf8_lossy(&res.stderr)
        )
    })?;
    if report.status != RunStatus::Succeeded {
        return Err(format!(
            "{s_yaml}: {} {}",
            report.status,
            report.error.unwrap_or_default()
        ));
    }
    let manifest_path = report.manifest.ok_or("no manifest")?;
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path).map_err(|e| format!("{manifest_path}: {e}"))?,
    )
    .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&state);
    Ok((report.seconds, manifest))
}
