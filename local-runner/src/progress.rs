//! Progress on a terminal: the state of each step and transcode tasks done of
//! the total, read from the execution's history. Off when stderr is not a
//! terminal, so that scripts get quiet, parseable output.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::flow::{Engine, ExecutionRecord, Invoker};

/// Follow `execution` until it ends, drawing a bar; returns at once when
/// stderr is not a terminal.
pub async fn follow<I: Invoker>(engine: &Engine<I>, execution: &str) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} {spinner} {msg} [{bar:30}] {pos}/{len} encoded",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    loop {
        let Some(rec) = engine.describe(execution) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (done, total) = tasks(&rec);
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(current_step(&rec));
        if rec.status != crate::flow::Status::Running {
            bar.finish_with_message(rec.status.as_str().to_string());
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// (transcode tasks done, tasks in all: pieces and the audio) from the history.
pub fn tasks(rec: &ExecutionRecord) -> (u64, u64) {
    let total = rec
        .events
        .iter()
        .find(|e| e.kind == "StateSucceeded" && e.state == "Split")
        .and_then(|e| e.output.as_ref())
        .and_then(|o| o.get("tasks"))
        .and_then(|p| p.as_array())
        .map(|a| a.len() as u64)
        .unwrap_or(0);
    let done = rec
        .events
        .iter()
        .filter(|e| e.kind == "TaskSucceeded" && e.state.starts_with("TranscodeAll["))
        .count() as u64;
    (done, total)
}

fn current_step(rec: &ExecutionRecord) -> String {
    rec.events
        .iter()
        .rev()
        .find(|e| e.kind == "StateEntered" && !e.state.contains('['))
        .map(|e| e.state.clone())
        .unwrap_or_else(|| "starting".into())
}
