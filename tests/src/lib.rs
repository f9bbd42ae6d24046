//! Helpers shared by the end-to-end tests: where the handler binaries are, a
//! whole system started from the repository's s.yaml, and independent checks
//! of media with plain ffprobe (not our own probe code).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use local_runner::delivery::Delivery;
use local_runner::flow::{ExecutionRecord, Status};
use local_runner::system::{Options, System};
use vpf_core::job::{FlowError, JobRequest, JobStatus, Manifest, RecordOutcome, TriggerOutput};
use vpf_oss::{ObjectStore, OssClient, OssConfig};

pub mod reliability;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The function binaries, named as their code folders: the workflow's five
/// (s.yaml) and the simple system's one (s.simple.yaml).
pub const FUNCTIONS: [&str; 6] = [
    "oss-trigger",
    "split",
    "transcode",
    "merge",
    "after-process",
    "simple",
];

/// The cargo output folder holding the handler binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/<test> -> target/debug
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    for f in FUNCTIONS.iter().chain(&["local-runner"]) {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
            dir.join(f).display()
        );
    }
    dir
}

/// A system from the repository's s.yaml, state in `state`, handlers from
/// the cargo output folder, waits shortened 100 times.
pub async fn system(
    state: &Path,
    vars: &[(&str, &str)],
    tweak: impl FnOnce(&mut Options),
) -> System {
    system_from("s.yaml", state, vars, tweak).await
}

/// As [`system`], from another deploy file of the repository (`s.simple.yaml`).
pub async fn system_from(
    file: &str,
    state: &Path,
    vars: &[(&str, &str)],
    tweak: impl FnOnce(&mut Options),
) -> System {
    let mut o = Options::new(repo_root().join(file), state);
    o.bin_dir = Some(bin_dir());
    o.time_scale = 0.01;
    for (k, v) in vars {
        o.vars.insert(k.to_string(), v.to_string());
    }
    tweak(&mut o);
    System::start(o).await.expect("system starts")
}

/// An OSS emulator alone with one bucket, `media`, in a fresh folder, and a
/// client of it: for calling one handler without the whole system.
pub async fn media_bucket() -> (local_runner::oss::RunningOss, OssClient, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = local_runner::oss::EmulatorConfig::new(tmp.path().join("oss"));
    cfg.buckets = vec!["media".into()];
    let oss = local_runner::oss::OssEmulator::start(cfg).await.unwrap();
    let client = OssClient::new(OssConfig::new(
        oss.endpoint(),
        oss.region(),
        oss.credentials(),
    ))
    .unwrap();
    (oss, client, tmp)
}

pub fn client(sys: &System) -> OssClient {
    OssClient::new(OssConfig::new(
        sys.oss.endpoint(),
        &sys.region,
        sys.oss.credentials(),
    ))
    .expect("client")
}

/// Upload `file` as `key` through the emulated OSS (the trigger fires as in
/// the cloud) and wait for the execution.
pub async fn upload_and_wait(sys: &System, file: &Path, key: &str) -> ExecutionRecord {
    let put = client(sys)
        .put_file(&sys.bucket, key, file, None)
        .await
        .expect("upload");
    let execution = vpf_core::keys::job_id(&sys.bucket, key, &put.etag);
    sys.wait_for_key(key, &execution, Duration::from_secs(600))
        .await
        .expect("execution ends")
}

/// oss-trigger's outcome for the first record a delivery carried; the
/// test fails when the delivery failed or its answer has no records.
pub fn first_outcome(d: &Delivery) -> &RecordOutcome {
    let answer = d.result.as_ref().expect("the trigger answers");
    answer
        .records()
        .first()
        .unwrap_or_else(|| panic!("no record in the answer {answer}"))
}

/// How many times the execution scheduled the task of every state whose
/// label contains `state` (a Map's iterations carry their index in the
/// label): first tries and retries.
pub fn scheduled(rec: &ExecutionRecord, state: &str) -> usize {
    rec.events
        .iter()
        .filter(|e| e.kind == "TaskScheduled" && e.state.contains(state))
        .count()
}

/// The standard output of a command that must have succeeded; on failure the
/// assertion shows both its outputs.
pub fn succeeded(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Download `key` into `dir` (a flat name).
pub async fn fetch(sys: &System, key: &str, dir: &Path) -> PathBuf {
    let dest = dir.join(key.replace('/', "_"));
    client(sys)
        .get_to_file(&sys.bucket, key, &dest)
        .await
        .unwrap_or_else(|e| panic!("download {key}: {e}"));
    dest
}

pub async fn manifest(sys: &System, key: &str, dir: &Path) -> Manifest {
    let p = fetch(sys, key, dir).await;
    serde_json::from_slice(&std::fs::read(p).expect("manifest read")).expect("manifest parses")
}

/// A failed job's manifest and the reason it gives, once the execution and
/// the manifest both say failed and nothing was published.
pub async fn failed_manifest(
    sys: &System,
    rec: &ExecutionRecord,
    dir: &Path,
) -> (Manifest, FlowError) {
    assert_eq!(rec.status, Status::Failed, "{:?}", rec.error);
    let m = manifest(sys, &request_of(rec).manifest_key(), dir).await;
    assert_eq!(m.status, JobStatus::Failed);
    assert!(m.outputs.is_empty(), "{:?}", m.outputs);
    let err = m.error.clone().expect("the manifest says why");
    (m, err)
}

/// Object keys under `prefix`.
pub async fn keys_under(sys: &System, prefix: &str) -> Vec<String> {
    client(sys)
        .list(&sys.bucket, prefix)
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key)
        .collect()
}

pub fn request_of(rec: &ExecutionRecord) -> JobRequest {
    serde_json::from_value(rec.input.clone()).expect("execution input is a JobRequest")
}

/// oss-trigger's answer to a direct invocation, read as the type it is written as.
pub fn trigger_answer(answer: &serde_json::Value) -> TriggerOutput {
    serde_json::from_value(answer.clone()).expect("the trigger's answer is a TriggerOutput")
}

/// Every object key in the bucket.
pub async fn all_keys(sys: &System) -> Vec<String> {
    client(sys)
        .list(&sys.bucket, "")
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key)
        .collect()
}

/// Job folders left on the emulated NAS.
pub fn nas_jobs(sys: &System) -> Vec<String> {
    let jobs = sys.state_dir.join("nas/mnt_auto/jobs");
    std::fs::read_dir(jobs)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What plain ffprobe says of a file's first video and audio streams.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub video_frames: u64,
    pub video_seconds: f64,
    pub width: u32,
    pub height: u32,
    pub audio: bool,
    pub audio_seconds: f64,
    /// Durations of the audio packets, in samples (time base 1/sample rate).
    pub audio_packet_samples: Vec<i64>,
    pub sample_rate: u32,
}

fn ffprobe(args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Frames decoded (not estimated), durations from the packets.
pub fn probe(path: &Path) -> Probe {
    let p = path.to_str().expect("utf-8 path");
    let v = ffprobe(&[
        "-select_streams",
        "v:0",
        "-count_frames",
        "-show_entries",
        "stream=nb_read_frames,width,height",
        "-of",
        "default=nw=1",
        p,
    ]);
    let field = |text: &str, k: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    let mut pr = Probe {
        video_frames: field(&v, "nb_read_frames").parse().unwrap_or(0),
        width: field(&v, "width").parse().unwrap_or(0),
        height: field(&v, "height").parse().unwrap_or(0),
        ..Probe::default()
    };
    // Video duration: last frame's start minus the first's, plus one frame
    // (packet durations are unreliable in some containers, AVI among them;
    // AVI has no pts, so dts stands in).
    let rate = ffprobe(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=r_frame_rate",
        "-of",
        "csv=p=0",
        p,
    ]);
    let frame = rate
        .lines()
        .find_map(|l| {
            let (n, d) = l.trim().trim_end_matches(',').split_once('/')?;
            let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
            (n > 0.0 && d > 0.0).then(|| d / n)
        })
        .unwrap_or(0.0);
    let packets = ffprobe(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time,dts_time",
        "-of",
        "csv=p=0",
        p,
    ]);
    let mut first = f64::MAX;
    let mut last = f64::MIN;
    for l in packets.lines() {
        let mut it = l.split(',');
        let pts = it.next().and_then(|x| x.parse::<f64>().ok());
        let dts = it.next().and_then(|x| x.parse::<f64>().ok());
        if let Some(t) = pts.or(dts) {
            first = first.min(t);
            last = last.max(t);
        }
    }
    pr.video_seconds = if first == f64::MAX {
        0.0
    } else {
        last - first + frame
    };
    let a = ffprobe(&[
        "-select_streams",
        "a:0",
        "-show_entries",
        "stream=sample_rate",
        "-of",
        "csv=p=0",
        p,
    ]);
    // HLS lists programs too: take the first line that is a rate.
    if let Some(rate) = a
        .lines()
        .find_map(|l| l.trim().trim_end_matches(',').parse::<u32>().ok())
    {
        pr.audio = true;
        pr.sample_rate = rate;
        let pk = ffprobe(&[
            "-select_streams",
            "a:0",
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
            p,
        ]);
        let mut first = f64::MAX;
        let mut end: f64 = 0.0;
        for l in pk.lines() {
            let mut it = l.split(',');
            let t: f64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
            let d: f64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
            if t.is_finite() {
                first = first.min(t);
                end = end.max(t + d);
                pr.audio_packet_samples
                    .push((d * f64::from(rate)).round() as i64);
            }
        }
        pr.audio_seconds = if first == f64::MAX { 0.0 } else { end - first };
    }
    pr
}

/// Decode a file end to end; panics with ffmpeg's words if it cannot.
pub fn decodes(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{} does not decode: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The smallest clip the end-to-end tests need: 320x240, 2 s, with or
/// without stereo audio. Made with ffmpeg at run time (nothing committed).
pub async fn small_clip(path: &Path, audio: bool) {
    use vpf_media::Tools;
    use vpf_media::testmedia::Clip;
    let clip = Clip::new(320, 240).seconds(2.0);
    let clip = if audio { clip } else { clip.no_audio() };
    if let Err(e) = clip.write(&Tools::from_env(), path).await {
        panic!("cannot make {}: {e}", path.display());
    }
}
