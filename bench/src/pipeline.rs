//! (b) Our pipeline end to end through the local runner, in-process: a fresh
//! `System` (OSS emulator, FC emulator starting the release handler
//! binaries, the workflow engine running flow/video-process-flow.yaml), one
//! upload under the trigger prefix, the wait for the execution. The wall time
//! runs from the source being in OSS (the trigger fires) to the execution's
//! end (outputs in OSS, manifest written); the client's upload is timed apart. Before the handlers are stopped, the peak resident memory
//! (VmHWM) of every handler process is read from /proc.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use local_runner::system::{Options, System};
use serde::Serialize;
use vpf_core::job::{Format, JobRequest, Manifest, Profile};
use vpf_core::ladder::RenditionOutcome;
use vpf_oss::{OssClient, OssConfig};

use crate::media::R;
use crate::meter::{Meter, Usage};
use crate::procfs;

/// Handler binaries, named as their code folders (and cargo bins).
pub const HANDLERS: [&str; 5] = [
    "oss-trigger",
    "split",
    "transcode",
    "merge",
    "after-process",
];

#[derive(Debug, Clone)]
pub struct Config {
    pub s_yaml: PathBuf,
    pub bin_dir: PathBuf,
    /// The run's state (buckets, NAS, logs) goes under here and is removed after.
    pub state_dir: PathBuf,
    pub formats: String,
    pub segment_seconds: f64,
    /// More s.yaml var overrides (e.g. crf, preset).
    pub vars: Vec<(String, String)>,
    /// Pieces at once (the Map's MaxConcurrency is capped to this); `None`:
    /// the local runner's default for this machine (`MapCap`).
    pub concurrency: Option<u32>,
    /// Copy the MP4 output here (for quality), if any.
    pub keep_mp4: Option<PathBuf>,
    /// Copy everything under the `abr` output (playlists, CMAF segments)
    /// into this folder, keeping its layout, if the job has it.
    pub keep_abr: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    pub seconds: f64,
    pub attempts: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRun {
    pub status: local_runner::report::RunStatus,
    pub error: Option<String>,
    /// From the source object in OSS (trigger) to the execution's end
    /// (outputs uploaded, manifest written).
    pub wall_s: f64,
    /// The client's upload of the source, before that.
    pub upload_s: f64,
    /// CPU of everything: handlers, their ffmpeg processes, the emulators.
    pub usage: Usage,
    pub pieces: usize,
    pub piece_seconds: Option<f64>,
    pub profile: Option<Profile>,
    /// Flow states as the engine recorded them (Split, TranscodeAll, Merge, AfterProcess).
    pub steps: Vec<Step>,
    /// Time inside the handlers (the manifest's steps: split, transcode, merge).
    pub handler_steps: Vec<Step>,
    pub outputs: Vec<(Format, u64, Option<f64>)>,
    /// `abr`: each rendition as the manifest reports it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<RenditionOutcome>,
    /// Sub-steps the handlers timed in their logs (download, probe, cut,
    /// each encode, join, verify, package, upload), in log order.
    pub sub_steps: Vec<SubStep>,
    /// Function -> the largest peak RSS (VmHWM, kB) of its instances.
    pub peak_rss_kb: BTreeMap<String, u64>,
    /// Transcode tasks the runner ran at once.
    pub map_tasks: u32,
    pub instances: BTreeMap<String, usize>,
    #[serde(skip)]
    pub mp4: Option<PathBuf>,
    /// Where `keep_abr` put the `abr` output.
    #[serde(skip)]
    pub abr: Option<PathBuf>,
}

pub async fn run(cfg: &Config, input: &Path) -> R<PipelineRun> {
    let _ = std::fs::remove_dir_all(&cfg.state_dir);
    std::fs::create_dir_all(&cfg.state_dir).map_err(|e| e.to_string())?;
    let meter = Meter::start();
    let mut o = Options::new(&cfg.s_yaml, &cfg.state_dir);
    o.bin_dir = Some(cfg.bin_dir.clone());
    o.vars.insert("formats".into(), cfg.formats.clone());
    o.vars
        .insert("segmentSeconds".into(), cfg.segment_seconds.to_string());
    for (k, v) in &cfg.vars {
        o.vars.insert(k.clone(), v.clone());
    }
    o.max_concurrency = cfg.concurrency;
    if let Some(n) = cfg.concurrency {
        o.max_instances = o.max_instances.max(n as usize);
    }
    let sys = System::start(o).await.map_err(|e| e.to_string())?;
    let result = drive(&sys, cfg, input).await;
    sys.shutdown().await;
    let usage = meter.stop();
    // The function logs go with the state: read the sub-step times first.
    let sub_steps = read_sub_steps(&cfg.state_dir.join("logs"));
    let _ = std::fs::remove_dir_all(&cfg.state_dir);
    let mut run = result?;
    run.usage = usage;
    run.sub_steps = sub_steps;
    Ok(run)
}

async fn drive(sys: &System, cfg: &Config, input: &Path) -> R<PipelineRun> {
    let prefix = sys.describe().trigger_prefix.unwrap_or_default();
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or("the input names no file")?;
    let key = format!("{prefix}{name}");
    let client = OssClient::new(OssConfig::new(
        sys.oss.endpoint(),
        &sys.region,
        sys.oss.credentials(),
    ))
    .map_err(|e| e.to_string())?;

    let t0 = Instant::now();
    let put = client
        .put_file(&sys.bucket, &key, input, None)
        .await
        .map_err(|e| format!("uploading {}: {e}", input.display()))?;
    let upload_s = t0.elapsed().as_secs_f64();
    // The pipeline's time starts when the object is in OSS (the trigger
    // fires): the client's upload is not work the pipeline does, as the
    // floor's input is simply on disk. It is reported on its own.
    let t0 = Instant::now();
    let execution = vpf_core::keys::job_id(&sys.bucket, &key, &put.etag);
    let rec = sys
        .wait_for_key(&key, &execution, cfg.timeout)
        .await
        .map_err(|e| e.to_string())?;
    let wall_s = t0.elapsed().as_secs_f64();

    // The instances are still alive (FC keeps them warm): read their peaks now.
    let (peak_rss_kb, instances) = handler_memory(&cfg.bin_dir);

    let steps = local_runner::report::steps(&rec)
        .into_iter()
        .map(|s| Step {
            name: s.name,
            seconds: s.seconds,
            attempts: s.attempts,
        })
        .collect();
    let request: Option<JobRequest> = serde_json::from_value(rec.input.clone()).ok();
    let mut run = PipelineRun {
        status: local_runner::report::status(&rec),
        error: rec
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.error, e.cause)),
        wall_s,
        upload_s,
        usage: Meter::start().stop(),
        pieces: 0,
        piece_seconds: None,
        profile: request.as_ref().map(|r| r.profile.clone()),
        steps,
        handler_steps: Vec::new(),
        outputs: Vec::new(),
        renditions: Vec::new(),
        sub_steps: Vec::new(),
        peak_rss_kb,
        map_tasks: sys.map_cap.tasks,
        instances,
        mp4: None,
        abr: None,
    };
    let Some(req) = request else {
        return Ok(run);
    };
    let local = cfg.state_dir.join("manifest.json");
    let manifest = match client
        .get_to_file(&sys.bucket, &req.manifest_key(), &local)
        .await
    {
        Ok(_) => {
            serde_json::from_slice::<Manifest>(&std::fs::read(&local).unwrap_or_default()).ok()
        }
        Err(_) => None,
    };
    if let Some(m) = manifest {
        if let Some(e) = &m.error {
            run.error = Some(format!("{}: {}", e.error, e.cause));
        }
        let mut handler: Vec<Step> = Vec::new();
        for s in &m.steps {
            handler.push(Step {
                name: s.step.clone(),
                seconds: s.seconds,
                attempts: s.invocations,
            });
            if s.step == "transcode" {
                run.pieces = s.invocations as usize;
            }
        }
        run.handler_steps = handler;
        run.outputs = m
            .outputs
            .iter()
            .map(|o| (o.format, o.bytes, o.bitrate_kbps))
            .collect();
        run.renditions = m
            .outputs
            .iter()
            .filter(|o| o.format == Format::Abr)
            .flat_map(|o| o.renditions.iter().cloned())
            .collect();
    }
    run.piece_seconds = Some(cfg.segment_seconds);
    if let (Some(dest), true) = (&cfg.keep_mp4, req.formats.contains(&Format::Mp4)) {
        client
            .get_to_file(&sys.bucket, &req.output_key(Format::Mp4), dest)
            .await
            .map_err(|e| format!("downloading the mp4 output: {e}"))?;
        run.mp4 = Some(dest.clone());
    }
    if let (Some(dest), true) = (&cfg.keep_abr, req.formats.contains(&Format::Abr)) {
        let prefix = format!("{}/abr/", req.output_base);
        let objects = client
            .list_objects(&sys.bucket, &prefix)
            .await
            .map_err(|e| format!("listing the abr output: {e}"))?;
        for o in objects {
            let rel = o.key.strip_prefix(&prefix).unwrap_or(&o.key);
            // Keys come from the emulated store: none may climb out of `dest`.
            if rel
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
            {
                return Err(format!("unexpected key {:?} in the abr output", o.key));
            }
            client
                .get_to_file(&sys.bucket, &o.key, &dest.join(rel))
                .await
                .map_err(|e| format!("downloading {}: {e}", o.key))?;
        }
        run.abr = Some(dest.clone());
    }
    Ok(run)
}

/// One sub-step a handler timed: `function.log` had a line with the
/// message and `ms=`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubStep {
    pub function: String,
    /// download, probe, cut, encode, audio, join, verify, package, upload.
    pub name: String,
    pub seconds: f64,
}

/// The log messages that carry a sub-step's time, and the sub-step's name.
/// An uncut job's merge muxes its one piece with the audio instead of
/// joining pieces: the same place in the job, counted as its join.
const TIMED: [(&str, &str); 10] = [
    ("source downloaded", "download"),
    ("probed", "probe"),
    ("split", "cut"),
    ("piece encoded", "encode"),
    ("audio encoded", "audio"),
    ("pieces joined", "join"),
    ("piece muxed", "join"),
    ("joined file verified", "verify"),
    ("packaged and verified", "package"),
    ("every format uploaded", "upload"),
];

/// Every `<function>.log` under `dir`; a missing folder gives none.
pub fn read_sub_steps(dir: &Path) -> Vec<SubStep> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files {
        let Some(function) = f.file_stem().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        out.extend(parse_sub_steps(&function, &text));
    }
    out
}

/// Lines of tracing's text format (`<time>  INFO <message> k=v ... ms=N`)
/// or its JSON format (`{"fields":{"message":..,"ms":N}}`).
pub fn parse_sub_steps(function: &str, log: &str) -> Vec<SubStep> {
    let mut out = Vec::new();
    for line in log.lines() {
        let (message, ms) = if line.trim_start().starts_with('{') {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let f = &v["fields"];
            match (f["message"].as_str(), f["ms"].as_u64()) {
                (Some(m), Some(ms)) => (m.to_string(), ms),
                _ => continue,
            }
        } else {
            let Some(rest) = line.split(" INFO ").nth(1) else {
                continue;
            };
            // The request's span (`invoke{request_id=.. function=..}: `) comes first.
            let rest = rest.split_once("}: ").map_or(rest, |(_, r)| r);
            let Some(ms) = rest
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ms="))
                .and_then(|v| v.parse::<u64>().ok())
            else {
                continue;
            };
            // The message ends where the first `key=value` field starts.
            let message = rest
                .split_whitespace()
                .take_while(|w| !w.contains('='))
                .collect::<Vec<_>>()
                .join(" ");
            (message, ms)
        };
        if let Some((_, name)) = TIMED.iter().find(|(m, _)| *m == message) {
            out.push(SubStep {
                function: function.to_string(),
                name: name.to_string(),
                seconds: ms as f64 / 1000.0,
            });
        }
    }
    out
}

/// Peak RSS (VmHWM) and instance count per handler, over our live child
/// processes whose executable is a handler binary in `bin_dir`.
pub fn handler_memory(bin_dir: &Path) -> (BTreeMap<String, u64>, BTreeMap<String, usize>) {
    let mut peak = BTreeMap::new();
    let mut count = BTreeMap::new();
    let bin_dir = bin_dir
        .canonicalize()
        .unwrap_or_else(|_| bin_dir.to_path_buf());
    for (pid, exe) in procfs::children() {
        if exe.parent() != Some(bin_dir.as_path()) {
            continue;
        }
        let Some(name) = exe.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !HANDLERS.contains(&name) {
            continue;
        }
        if let Some(kb) = procfs::status_kb(pid, "VmHWM") {
            let e = peak.entry(name.to_string()).or_insert(0);
            *e = (*e).max(kb);
            *count.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    (peak, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_steps_from_text_and_json_logs() {
        let log = "2025-01-01T00:00:00.1Z  INFO source downloaded bytes=12 ms=34\n\
2025-01-01T00:00:00.2Z  INFO invoke{request_id=r1 function=split}: probed duration=12.0 width=1920 ms=5\n\
2025-01-01T00:00:00.3Z  INFO split pieces=1 piece_seconds=30.0 audio=[0] subtitles=[] ms=70\n\
2025-01-01T00:00:00.4Z  INFO subtitle track dropped track=0\n\
2025-01-01T00:00:00.5Z  WARN source downloaded ms=1\n";
        let got = parse_sub_steps("split", log);
        let names: Vec<_> = got.iter().map(|s| (s.name.as_str(), s.seconds)).collect();
        assert_eq!(
            names,
            [("download", 0.034), ("probe", 0.005), ("cut", 0.07)]
        );
        let json =
            r#"{"timestamp":"t","level":"INFO","fields":{"message":"pieces joined","ms":250}}"#;
        let got = parse_sub_steps("merge", json);
        assert_eq!(got[0].name, "join");
        assert_eq!(got[0].seconds, 0.25);
        let one = "2025-01-01T00:00:00.1Z  INFO piece muxed ms=80\n";
        assert_eq!(parse_sub_steps("merge", one)[0].name, "join");
    }
}
