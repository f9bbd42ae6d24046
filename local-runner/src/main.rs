//! `local-runner`: the video pipeline on one machine, from the same s.yaml,
//! flow file and handler binaries that `s deploy` ships.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use local_runner::delivery::{Answer, Delivery};
use local_runner::report::{self, ReplayExecution, ReplayReport, RunReport, RunStatus};
use local_runner::system::{Connection, Options, System};
use serde::Serialize;
use serde_json::json;
use vpf_core::job::JobRequest;
use vpf_oss::{OssClient, OssConfig};

#[derive(Parser)]
#[command(
    name = "local-runner",
    version,
    about = "Run the serverless video pipeline (OSS, FC, NAS, CloudFlow) on this machine from s.yaml.",
    long_about = "Run the serverless video pipeline on this machine from the same s.yaml, flow file and \
handler binaries that `s deploy` ships. It emulates OSS (an HTTP endpoint backed by a folder, \
V4/V1 signatures checked, upload events fired), Function Compute (one handler process per \
instance, FC headers and temporary credentials, timeouts), NAS (a folder) and CloudFlow \
(the flow file executed as written, behind the Serverless Workflow API).",
    after_help = "Examples:\n  \
local-runner run --input clip.mp4 --out out/\n  \
local-runner run --input clip.mp4 --formats mp4,hls,gif --segment-seconds 10 --json\n  \
local-runner run --input clip.MOV --var crf=20 --var maxHeight=720\n  \
local-runner up --json\n  \
local-runner --s-yaml s.simple.yaml run --input clip.mp4   # the simple system: one function, no flow\n  \
local-runner replay event.json\n  \
local-runner invoke vpf-split --event job.json"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// The Serverless Devs file to run.
    #[arg(long, global = true, default_value = "s.yaml", env = "VPF_S_YAML")]
    s_yaml: PathBuf,
    /// Where buckets, NAS, logs and execution histories live.
    #[arg(
        long,
        global = true,
        default_value = ".local-runner",
        env = "VPF_STATE_DIR"
    )]
    state_dir: PathBuf,
    /// Folder with the handler binaries (named as their code folders: split,
    /// merge...). Default: the code folders or this program's folder, whichever was built last.
    #[arg(long, global = true, env = "VPF_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Transcode tasks (pieces, audio) at once, at most (default: as many as
    /// this machine's cores give instances of s.yaml's largest function,
    /// cores / its vCPUs, at least 1).
    #[arg(long, global = true)]
    max_concurrency: Option<u32>,
    /// Override an s.yaml var, as NAME=VALUE (repeatable): --var crf=20 --var
    /// formats=mp4,hls. Only vars that s.yaml declares; a typo is refused.
    #[arg(long = "var", global = true, value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

/// `NAME=VALUE`, split at the first `=`.
fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!(
            "{s:?} is not NAME=VALUE (e.g. --var segmentSeconds=10)"
        )),
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Start everything and stay up until Ctrl-C.
    #[command(
        after_help = "Example:\n  local-runner up --json   # first line: endpoints and keys as JSON"
    )]
    Up(UpArgs),
    /// One shot: upload FILE under the trigger prefix, wait for the execution, copy the outputs.
    #[command(after_help = "Examples:\n  local-runner run --input clip.mp4\n  \
local-runner run --input clip.mp4 --formats mp4,flv,hls,avi,gif,jpg --segment-seconds 5 --out out/ --json\n\n\
Exit status: 0 when the execution succeeded, 1 when it failed, 2 on a usage or setup error.")]
    Run(RunArgs),
    /// Deliver a recorded OSS event to the functions whose triggers match, and wait for the executions.
    #[command(
        after_help = "Example:\n  local-runner replay fixtures/oss-event.example.json   # Alibaba's sample event: skipped, outside the trigger prefix"
    )]
    Replay(ReplayArgs),
    /// Invoke one function with an event file, as `s local invoke` does; prints its answer.
    #[command(after_help = "Example:\n  local-runner invoke vpf-transcode --event piece.json")]
    Invoke(InvokeArgs),
}

// The subcommands' arguments (their help is the variant's above).
#[derive(Args)]
struct UpArgs {
    /// Print one JSON object (endpoints, bucket, keys, prefixes) as the first line.
    #[arg(long)]
    json: bool,
    /// OSS emulator port (0 picks a free one).
    #[arg(long, default_value_t = 9100)]
    oss_port: u16,
    /// Workflow API port (0 picks a free one).
    #[arg(long, default_value_t = 9200)]
    flow_port: u16,
    /// Let the OSS emulator accept V1 signatures too (OSS refuses them
    /// for accounts and buckets created since 2025; default: V4 only).
    #[arg(long)]
    accept_v1: bool,
    /// Web console port on 127.0.0.1 (default 9300, or a free one when
    /// 9300 is taken; 0 picks a free one).
    #[arg(long)]
    console_port: Option<u16>,
    /// The checkout holding local-runner/console/ and player/ (default:
    /// s.yaml's folder, or a folder above this program).
    #[arg(long, env = "VPF_WEB_ROOT")]
    web_root: Option<PathBuf>,
}

/// What `up --json` prints as its first line: the connection and the
/// console's address (null when the console is off).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpLine<'a> {
    #[serde(flatten)]
    connection: &'a Connection,
    console_url: Option<&'a str>,
}

/// Where the console's files may be: s.yaml's folder (the checkout, as
/// usually run), then the folders above this program (`target/debug/..`).
fn web_root_candidates(s_yaml: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(p) = std::path::absolute(s_yaml)
        && let Some(dir) = p.parent()
    {
        out.push(dir.to_path_buf());
    }
    if let Ok(exe) = std::env::current_exe() {
        out.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    out
}

#[derive(Args)]
struct RunArgs {
    /// The video to process.
    #[arg(long)]
    input: PathBuf,
    /// Output formats (mp4, flv, hls, avi, gif, jpg, sprite), comma-separated.
    #[arg(long)]
    formats: Option<String>,
    /// Requested piece length in seconds.
    #[arg(long)]
    segment_seconds: Option<f64>,
    /// Where to copy the outputs and the manifest.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Print one JSON object: status, execution, outputs, steps, error.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    /// A PNG or JPEG to lay over every video output: uploaded to the
    /// bucket under watermarks/ and set as the watermarkKey var for this
    /// run (--var watermarkCorner=top-left etc. place it).
    #[arg(long, value_name = "IMAGE")]
    watermark: Option<PathBuf>,
}

#[derive(Args)]
struct ReplayArgs {
    /// The event file ({"events": [...]}).
    event: PathBuf,
    /// Give up waiting for executions after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

#[derive(Args)]
struct InvokeArgs {
    /// The function name (functionName in s.yaml).
    function: String,
    /// The event file.
    #[arg(long)]
    event: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("local-runner: {e}");
            ExitCode::from(2)
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUNNER_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn options(c: &Common) -> Options {
    let mut o = Options::new(&c.s_yaml, &c.state_dir);
    o.vars.extend(c.vars.iter().cloned());
    o.bin_dir = c.bin_dir.clone().or_else(|| default_bin_dir(&c.s_yaml));
    if let Some(m) = c.max_concurrency {
        o.max_concurrency = Some(m);
        o.max_instances = o.max_instances.max(m as usize);
    }
    o
}

/// The handler binaries: the code folders that `scripts/build-code.sh`
/// fills (what `s deploy` ships), or the folder of this program, where cargo
/// puts them beside it; when both exist, the newer build, so that a stale
/// `code-out/` never hides the code just built (`None`: the code folders).
fn default_bin_dir(s_yaml: &Path) -> Option<PathBuf> {
    let dir = s_yaml.parent().unwrap_or(Path::new("."));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let code = modified(&dir.join("code-out/split/bootstrap"));
    let exe = std::env::current_exe().ok()?;
    let here = exe.parent()?;
    let built = modified(&here.join("split"));
    match (code, built) {
        (Some(c), Some(b)) if b > c => Some(here.to_path_buf()),
        (Some(_), _) | (None, None) => None,
        (None, Some(_)) => Some(here.to_path_buf()),
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.cmd {
        Cmd::Up(a) => up(&cli.common, a).await,
        Cmd::Run(a) => run_input(&cli.common, a).await,
        Cmd::Replay(a) => replay(&cli.common, a).await,
        Cmd::Invoke(a) => invoke(&cli.common, a).await,
    }
}

/// `up`: start everything, say how to reach it, stay up until a signal.
async fn up(common: &Common, a: UpArgs) -> Result<ExitCode, String> {
    let mut o = options(common);
    o.oss_port = a.oss_port;
    o.flow_port = a.flow_port;
    o.accept_v1 = a.accept_v1;
    let sys = System::start(o).await.map_err(|e| e.to_string())?;
    // A runner started away from the checkout runs without the console
    // (unless --web-root was given, and is wrong: an error).
    let console = match local_runner::console::find_web_root(
        a.web_root.as_deref(),
        &web_root_candidates(&common.s_yaml),
    ) {
        Ok(root) => Some(local_runner::console::start(&sys, a.console_port, root).await?),
        Err(why) if a.web_root.is_none() => {
            eprintln!("console: off: {why}");
            None
        }
        Err(why) => return Err(why),
    };
    let c = sys.describe();
    let console_url = console.as_ref().map(|c| c.url.as_str());
    if a.json {
        // Through a Value: its keys print sorted, as this line always has.
        let line = serde_json::to_value(UpLine {
            connection: &c,
            console_url,
        })
        .map_err(|e| e.to_string())?;
        println!("{line}");
    } else {
        print_connection(&c, console_url);
    }
    if let Some(why) = console
        .as_ref()
        .and_then(|c| c.players_unavailable.as_ref())
    {
        eprintln!("console: the players are off: {why}");
    }
    fc_runtime::shutdown_signal().await;
    if let Some(c) = &console {
        c.shutdown();
    }
    sys.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn print_connection(c: &Connection, console_url: Option<&str>) {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    println!("OSS endpoint      {}", c.oss_endpoint);
    println!("bucket            {}", c.bucket);
    println!("region            {}", c.region);
    println!("access key id     {}", c.access_key_id);
    println!("access key secret {}", c.access_key_secret);
    println!(
        "trigger           {}*{}",
        text(&c.trigger_prefix),
        text(&c.trigger_suffix)
    );
    println!("workflow API      {}", text(&c.workflow_endpoint));
    if let Some(url) = console_url {
        println!("console           {url}");
    }
    println!("Upload a video under the trigger prefix; Ctrl-C stops.");
}

/// `run`: one input through the whole system; the exit status says how it ended.
async fn run_input(common: &Common, a: RunArgs) -> Result<ExitCode, String> {
    let mut o = options(common);
    let mark = match &a.watermark {
        Some(path) => {
            let key = watermark_key(path)?;
            o.vars.insert("watermarkKey".into(), key.clone());
            Some((path.as_path(), key))
        }
        None => None,
    };
    if let Some(f) = &a.formats {
        vpf_core::job::Format::parse_list(f).map_err(|e| e.message)?;
        o.vars.insert("formats".into(), f.clone());
    }
    if let Some(s) = a.segment_seconds {
        o.vars.insert("segmentSeconds".into(), s.to_string());
    }
    if !a.input.is_file() {
        return Err(format!("--input {}: no such file", a.input.display()));
    }
    let sys = System::start(o).await.map_err(|e| e.to_string())?;
    // Ctrl-C must not kill us before the instances: they run in
    // process groups of their own and would live on, ffmpeg included.
    let limit = Duration::from_secs(a.timeout);
    let result = tokio::select! {
        r = run_one(&sys, &a.input, mark, &a.out, a.json, limit) => Some(r),
        _ = fc_runtime::shutdown_signal() => None,
    };
    sys.shutdown().await;
    let Some(result) = result else {
        eprintln!(
            "local-runner: interrupted; every function instance and its ffmpeg processes were stopped. \
Outputs are only ever uploaded whole; run the same command again to process {}.",
            a.input.display()
        );
        // 128 + SIGINT, as shells report an interrupted command.
        return Ok(ExitCode::from(130));
    };
    let report = result?;
    if a.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        print_report(&report);
    }
    Ok(exit_code(report.status == RunStatus::Succeeded))
}

fn exit_code(succeeded: bool) -> ExitCode {
    if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `replay`: deliver a recorded event, wait for what it started, print the
/// deliveries and how each execution ended.
async fn replay(common: &Common, a: ReplayArgs) -> Result<ExitCode, String> {
    let bytes = std::fs::read(&a.event).map_err(|e| format!("{}: {e}", a.event.display()))?;
    let ev = vpf_core::event::OssEvent::parse(&bytes).map_err(|e| e.to_string())?;
    let sys = System::start(options(common))
        .await
        .map_err(|e| e.to_string())?;
    let deliveries = sys.replay(&ev).await;
    let executions = match sys.engine() {
        Ok(engine) => flow_executions(engine, &deliveries, Duration::from_secs(a.timeout)).await,
        Err(_) => jobs_run(&deliveries),
    };
    let failed = deliveries.iter().any(|d| d.result.is_err())
        || executions.iter().any(|e| e.status != RunStatus::Succeeded);
    let report = ReplayReport {
        deliveries,
        executions,
    };
    // Through a Value: its keys print sorted, as this line always has.
    let line = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    println!("{line}");
    sys.shutdown().await;
    Ok(exit_code(!failed))
}

/// How the executions the deliveries started (or found started) ended,
/// waiting up to `limit` for each.
async fn flow_executions<I: local_runner::flow::Invoker>(
    engine: &local_runner::flow::Engine<I>,
    deliveries: &[Delivery],
    limit: Duration,
) -> Vec<ReplayExecution> {
    let mut out = Vec::new();
    for answer in deliveries.iter().filter_map(|d| d.result.as_ref().ok()) {
        for name in answer.executions() {
            let rec = tokio::time::timeout(limit, engine.wait(name))
                .await
                .ok()
                .flatten();
            out.push(ReplayExecution {
                execution: name.to_string(),
                status: rec.as_ref().map_or(RunStatus::Unknown, report::status),
            });
        }
    }
    out
}

/// No flow: each delivery's answer records the jobs it ran.
fn jobs_run(deliveries: &[Delivery]) -> Vec<ReplayExecution> {
    deliveries
        .iter()
        .filter_map(|d| match &d.result {
            Ok(Answer::Simple(out)) => Some(out),
            _ => None,
        })
        .flat_map(|out| &out.jobs)
        .map(|j| ReplayExecution {
            execution: j.job_id.clone(),
            status: j.status.into(),
        })
        .collect()
}

/// `invoke`: one call, as `s local invoke` makes it; prints what FC answers.
async fn invoke(common: &Common, a: InvokeArgs) -> Result<ExitCode, String> {
    let bytes = std::fs::read(&a.event).map_err(|e| format!("{}: {e}", a.event.display()))?;
    let sys = System::start(options(common))
        .await
        .map_err(|e| e.to_string())?;
    let outcome = sys.fc.invoke(&a.function, &bytes).await;
    sys.shutdown().await;
    // What FC answers: the body, or its error with the name a flow sees.
    let flow_error = local_runner::fc::task_result(outcome.clone())
        .err()
        .map(|e| e.error);
    match outcome {
        local_runner::fc::Outcome::Ok(v) => {
            println!("{v}");
            Ok(ExitCode::SUCCESS)
        }
        local_runner::fc::Outcome::FunctionError(f) => {
            println!(
                "{}",
                json!({"xFcErrorType": f.kind.as_str(), "errorType": f.error_type,
                       "errorMessage": f.error_message, "flowError": flow_error})
            );
            Ok(ExitCode::from(1))
        }
        local_runner::fc::Outcome::PlatformError {
            status,
            code,
            message,
        } => {
            println!(
                "{}",
                json!({"status": status, "errorCode": code, "errorMessage": message,
                       "flowError": flow_error})
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// Where `--watermark` puts its image: under `watermarks/`, beside the
/// input prefix, so its upload starts no job (and oss-trigger would skip an
/// image by its extension anyway).
fn watermark_key(path: &Path) -> Result<String, String> {
    if !path.is_file() {
        return Err(format!("--watermark {}: no such file", path.display()));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("--watermark {} names no file", path.display()))?;
    let key = format!("watermarks/{name}");
    vpf_core::keys::validate_key(&key).map_err(|e| format!("--watermark: {}", e.message))?;
    Ok(key)
}

async fn run_one(
    sys: &System,
    input: &Path,
    mark: Option<(&Path, String)>,
    out: &Path,
    json: bool,
    limit: Duration,
) -> Result<RunReport, String> {
    let started = Instant::now();
    let c = sys.describe();
    let prefix = c.trigger_prefix.unwrap_or_default();
    let suffix = c.trigger_suffix.unwrap_or_default();
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{} names no file", input.display()))?;
    let key = format!("{prefix}{name}");
    if !key.ends_with(&suffix) {
        return Err(format!(
            "{name} does not end with the trigger suffix {suffix:?} (the trigger's filter in s.yaml): rename it or change the suffix"
        ));
    }
    let client = OssClient::new(OssConfig::new(
        sys.oss.endpoint(),
        &sys.region,
        sys.oss.credentials(),
    ))
    .map_err(|e| e.to_string())?;
    if let Some((path, mark_key)) = &mark {
        client
            .put_file(&sys.bucket, mark_key, path, None)
            .await
            .map_err(|e| format!("uploading the watermark {}: {e}", path.display()))?;
        if !json {
            eprintln!("watermark oss://{}/{mark_key}", sys.bucket);
        }
    }
    let put = client
        .put_file(&sys.bucket, &key, input, None)
        .await
        .map_err(|e| format!("uploading {}: {e}", input.display()))?;
    let execution = vpf_core::keys::job_id(&sys.bucket, &key, &put.etag);
    if sys.engines.is_empty() {
        if !json {
            eprintln!(
                "uploaded oss://{}/{key}; job {execution} (no flow: the triggered function does it all)",
                sys.bucket
            );
        }
        let mut report =
            run_without_flow(sys, &client, &key, &put.etag, &execution, out, limit).await?;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    if !json {
        eprintln!("uploaded oss://{}/{key}; execution {execution}", sys.bucket);
        eprintln!("{}", sys.map_cap.describe());
    }
    let engine = sys.engine().map_err(|e| e.to_string())?;
    let follow = local_runner::progress::follow(engine, &execution);
    let wait = sys.wait_for_key(&key, &execution, limit);
    let (_, rec) = tokio::join!(follow, wait);
    let rec = rec.map_err(|e| e.to_string())?;
    let request: Option<JobRequest> = serde_json::from_value(rec.input.clone()).ok();
    let mut report = RunReport {
        status: report::status(&rec),
        execution: execution.clone(),
        outputs: Vec::new(),
        steps: report::steps(&rec),
        error: rec
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.error, e.cause)),
        manifest: None,
        cost: None,
        seconds: 0.0,
    };
    if let Some(req) = request {
        let mkey = req.manifest_key();
        match report::collect(&client, &sys.bucket, &mkey, out).await {
            Ok((manifest, outputs)) => {
                report.outputs = outputs;
                report.manifest = Some(out.join("manifest.json").to_string_lossy().into_owned());
                report.cost = manifest.cost.clone();
                // The caught error says more than the Fail state that ended the run.
                if let Some(e) = &manifest.error {
                    report.error = Some(format!("{}: {}", e.error, e.cause));
                }
            }
            Err(e) if report.status == RunStatus::Succeeded => {
                return Err(format!("collecting outputs: {e}"));
            }
            Err(_) => {}
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A deploy file without a flow (s.simple.yaml): the trigger's delivery to
/// its function is the job. Its answer names the job's record; the report
/// comes from the manifest, with a line per step the manifest timed.
async fn run_without_flow(
    sys: &System,
    client: &OssClient,
    key: &str,
    etag: &str,
    job_id: &str,
    out: &Path,
    limit: Duration,
) -> Result<RunReport, String> {
    let d = sys
        .wait_for_delivery(key, etag, limit)
        .await
        .map_err(|e| e.to_string())?;
    let answer = match d.result {
        Ok(Answer::Simple(out)) => out,
        Ok(other) => {
            return Err(format!(
                "{} answered what a function without a flow does not: {other}",
                d.function
            ));
        }
        Err(e) => return Err(format!("{}: {e}", d.function)),
    };
    let Some(job) = answer.jobs.iter().find(|j| j.job_id == job_id) else {
        let why = answer
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.key, s.reason))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!("{} did not process {key}: {why}", d.function));
    };
    let (manifest, outputs) = report::collect(client, &sys.bucket, &job.manifest_key, out)
        .await
        .map_err(|e| format!("collecting outputs: {e}"))?;
    Ok(RunReport {
        status: manifest.status.into(),
        execution: job_id.to_string(),
        outputs,
        steps: report::manifest_steps(&manifest),
        error: manifest
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.error, e.cause)),
        manifest: Some(out.join("manifest.json").to_string_lossy().into_owned()),
        cost: manifest.cost.clone(),
        seconds: 0.0,
    })
}

fn print_report(r: &RunReport) {
    println!(
        "execution {} {} in {:.1} s",
        r.execution, r.status, r.seconds
    );
    if let Some(e) = &r.error {
        println!("error: {e}");
    }
    if !r.outputs.is_empty() {
        println!("{:<6} {:>12} {:>10}  path", "format", "bytes", "seconds");
        for o in &r.outputs {
            println!(
                "{:<6} {:>12} {:>10}  {}",
                o.format,
                o.bytes,
                o.duration_seconds
                    .map(|d| format!("{d:.3}"))
                    .unwrap_or_else(|| "-".into()),
                o.local_path.display()
            );
        }
    }
    println!(
        "{:<14} {:<10} {:>8} {:>9}",
        "step", "state", "attempts", "seconds"
    );
    for s in &r.steps {
        println!(
            "{:<14} {:<10} {:>8} {:>9.2}",
            s.name, s.state, s.attempts, s.seconds
        );
    }
    if let Some(c) = &r.cost {
        print!("{}", report::cost_table(c));
    }
    if let Some(m) = &r.manifest {
        println!("manifest: {m}");
    }
}
