//! Reliability under faults, through the local runner with real handler
//! processes, real ffmpeg and the OSS emulator: a transcode instance killed
//! mid-piece, a step past its timeout, OSS answering 503 and cutting a
//! download, and the runner itself interrupted with Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use local_runner::flow::{ExecutionRecord, Status};
use local_runner::oss::FaultPlan;
use vpf_core::job::JobStatus;
use vpf_media::Tools;
use vpf_media::testmedia::Clip;
use vpf_tests::reliability::{
    Report, assert_no_process_left, eventually, files_under, processes, processes_mentioning,
};
use vpf_tests::{
    bin_dir, nas_jobs, probe, repo_root, scheduled, succeeded, system, upload_and_wait,
};
use vpf_tests::{failed_manifest, fetch, manifest};

/// `(error, attempt, cause)` of every failed attempt of a state whose label
/// contains `state`.
fn failures(rec: &ExecutionRecord, state: &str) -> Vec<(String, u32, String)> {
    rec.events
        .iter()
        .filter(|e| e.kind == "TaskFailed" && e.state.contains(state))
        .map(|e| {
            (
                e.error.clone().unwrap_or_default(),
                e.attempt.unwrap_or(0),
                e.cause.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// `(error, attempt)` of every failed attempt of a state whose label
/// contains `state`.
fn attempts(rec: &ExecutionRecord, state: &str) -> Vec<(String, u32)> {
    failures(rec, state)
        .into_iter()
        .map(|(e, a, _)| (e, a))
        .collect()
}

/// A test's folder with its source clip `<name>.mp4` and the runner's state
/// folder beside it.
struct Scene {
    tmp: tempfile::TempDir,
    src: PathBuf,
    state: PathBuf,
}

async fn scene(name: &str, (w, h): (u32, u32), seconds: f64) -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join(format!("{name}.mp4"));
    Clip::new(w, h)
        .seconds(seconds)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    let state = tmp.path().join("state");
    Scene { tmp, src, state }
}

/// An ffmpeg encoding a piece of a job under `state`: its pid and its parent's
/// (the transcode handler instance).
fn encoding_ffmpeg(state: &Path) -> Option<(i32, i32)> {
    let handler = bin_dir().join("transcode").to_string_lossy().into_owned();
    let state = state.to_string_lossy().into_owned();
    let all = processes();
    all.iter()
        .filter(|p| p.cmdline.starts_with("ffmpeg") || p.cmdline.contains("/ffmpeg "))
        .filter(|p| p.cmdline.contains(&state) && p.cmdline.contains("/encoded/"))
        .find_map(|p| {
            let parent = all.iter().find(|q| q.pid == p.ppid)?;
            parent
                .cmdline
                .starts_with(&handler)
                .then_some((p.pid, parent.pid))
        })
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill has no memory effects; a stale pid fails with ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcode_instance_killed_mid_piece_is_retried_and_the_output_is_exact() {
    let mut report = Report::new("faults-kill");
    // 4 pieces of 1 s: enough encodes for the watcher to catch one.
    let Scene { tmp, src, state } = scene("kill", (640, 360), 4.0).await;
    let source = probe(&src);
    let sys = system(
        &state,
        &[("segmentSeconds", "1"), ("formats", "mp4")],
        |_| {},
    )
    .await;

    // The watcher freezes the first piece encode it sees (so the kill lands
    // in the middle of the piece, whatever the machine's speed), then
    // SIGKILLs the transcode handler that started it.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, state) = (done.clone(), state.clone());
        tokio::task::spawn_blocking(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some((ffmpeg, handler)) = encoding_ffmpeg(&state) {
                    signal(ffmpeg, libc::SIGSTOP);
                    signal(handler, libc::SIGKILL);
                    return Some((ffmpeg, handler));
                }
                std::thread::sleep(Duration::from_millis(3));
            }
            None
        })
    };
    let rec = upload_and_wait(&sys, &src, "source/kill.mp4").await;
    done.store(true, Ordering::SeqCst);
    let (ffmpeg, _handler) = watcher
        .await
        .unwrap()
        .expect("the watcher saw a piece being encoded and killed its handler");

    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    let crashed = failures(&rec, "Transcode");
    assert_eq!(crashed.len(), 1, "{crashed:?}");
    // FC reports a process that died mid-call in its own words, with no
    // errorType: FC.Unknown to the flow, retried once.
    assert_eq!(crashed[0].0, "FC.Unknown");
    assert!(
        crashed[0].2.contains("Process exited unexpectedly"),
        "{crashed:?}"
    );
    // 4 pieces and the audio task, and one retry.
    assert_eq!(scheduled(&rec, "Transcode"), 4 + 1 + 1, "one retry");
    let out = probe(&fetch(&sys, "dest/kill.mp4/kill.mp4", tmp.path()).await);
    assert_eq!(out.video_frames, source.video_frames, "frame-exact");
    assert!((out.video_seconds - source.video_seconds).abs() <= 0.04 + 1e-6);
    let m = manifest(&sys, "dest/kill.mp4/manifest.json", tmp.path()).await;
    assert_eq!(m.status, JobStatus::Succeeded);
    // The frozen ffmpeg died with its instance's process group.
    let gone = eventually(Duration::from_secs(5), || {
        (!processes().iter().any(|p| p.pid == ffmpeg)).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the stopped ffmpeg {ffmpeg} outlived its instance"
    );
    assert!(nas_jobs(&sys).is_empty(), "{:?}", nas_jobs(&sys));
    report.row(
        "transcode handler SIGKILLed mid-piece (its ffmpeg frozen first)",
        "FC.Unknown (\"Process exited unexpectedly\"), retried, succeeded, frame-exact, ffmpeg gone",
        format!(
            "succeeded after 1 retry; {} frames = source; NAS clean",
            out.video_frames
        ),
    );
    sys.shutdown().await;
    assert_no_process_left(&state).await;
    report.finish();
}

/// FC answers a concurrency limit with 429 ResourceExhausted: the flow sees
/// FC.ResourceExhausted and retries it with the backoff it declares (3 s,
/// then 6 s: time-scaled here), and the job succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_step_is_retried_with_backoff_and_succeeds() {
    let mut report = Report::new("faults-throttle");
    let Scene {
        tmp: _tmp,
        src,
        state,
    } = scene("busy", (320, 240), 1.0).await;
    let sys = system(
        &state,
        &[("segmentSeconds", "1"), ("formats", "mp4")],
        |_| {},
    )
    .await;
    sys.fc.throttle_next("vpf-split", 2);
    let rec = upload_and_wait(&sys, &src, "source/busy.mp4").await;
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    assert_eq!(
        attempts(&rec, "Split"),
        [
            ("FC.ResourceExhausted".into(), 1),
            ("FC.ResourceExhausted".into(), 2)
        ]
    );
    let waits: Vec<f64> = rec
        .events
        .iter()
        .filter(|e| e.kind == "RetryScheduled" && e.state.contains("Split"))
        .filter_map(|e| e.delay_seconds)
        .collect();
    assert_eq!(waits, [3.0, 6.0], "IntervalSeconds 3, BackoffRate 2");
    report.row(
        "FC throttles split twice (429 ResourceExhausted)",
        "FC.ResourceExhausted, retried after 3 s and 6 s, succeeded",
        format!("succeeded; waits {waits:?}"),
    );
    sys.shutdown().await;
    report.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_past_its_timeout_is_retried_once_then_caught_and_cleaned_up() {
    let mut report = Report::new("faults-timeout");
    let Scene { tmp, src, state } = scene("slow", (320, 240), 2.0).await;
    // Only transcode gets a timeout no encode can meet (ffmpeg alone takes
    // longer to start); the other steps keep theirs.
    let sys = system(
        &state,
        &[("segmentSeconds", "1"), ("formats", "mp4")],
        |o| {
            o.timeouts
                .insert("vpf-transcode".into(), Duration::from_millis(25));
        },
    )
    .await;
    let rec = upload_and_wait(&sys, &src, "source/slow.mp4").await;
    assert_eq!(rec.status, Status::Failed);
    let first = rec
        .events
        .iter()
        .find(|e| e.kind == "TaskFailed" && e.state.contains("Transcode"))
        .expect("a transcode failed");
    // A call past the timeout: FC's "Function time out after" message and no
    // errorType, FC.Unknown to the flow.
    assert_eq!(first.error.as_deref(), Some("FC.Unknown"));
    // The first piece to fail for good had two attempts: retried once.
    let retries: Vec<_> = rec
        .events
        .iter()
        .filter(|e| e.kind == "RetryScheduled" && e.state.contains("Transcode"))
        .collect();
    assert!(!retries.is_empty());
    let failed_for_good = rec
        .events
        .iter()
        .find(|e| e.kind == "StateFailed" && e.state.contains("Transcode"))
        .expect("an iteration failed");
    assert_eq!(
        attempts(&rec, &failed_for_good.state),
        [("FC.Unknown".into(), 1), ("FC.Unknown".into(), 2)]
    );
    assert!(
        rec.events
            .iter()
            .any(|e| e.kind == "ErrorCaught" && e.next.as_deref() == Some("RecordFailure"))
    );
    let (_, err) = failed_manifest(&sys, &rec, tmp.path()).await;
    assert_eq!(err.error, "FC.Unknown");
    assert!(
        err.cause.starts_with("Function time out after"),
        "{}",
        err.cause
    );
    // Every call still running when the Map gave up ends (timed out, its
    // instance and ffmpeg killed) without bringing the job folder back.
    let quiet = eventually(Duration::from_secs(10), || {
        processes_mentioning(&state)
            .iter()
            .all(|p| !p.cmdline.contains("ffmpeg"))
            .then_some(())
    })
    .await;
    assert!(quiet.is_some(), "{:?}", processes_mentioning(&state));
    let ended = eventually(Duration::from_secs(10), || {
        (sys.fc.in_flight("vpf-transcode") == 0).then_some(())
    })
    .await;
    assert!(ended.is_some(), "a transcode call never ended");
    assert!(nas_jobs(&sys).is_empty(), "{:?}", nas_jobs(&sys));
    let keys = vpf_tests::all_keys(&sys).await;
    assert_eq!(keys, ["dest/slow.mp4/manifest.json", "source/slow.mp4"]);
    report.row(
        "transcode exceeds its timeout (25 ms)",
        "FC.Unknown (\"Function time out after\"), retried once, caught: status failed, reason in manifest, NAS cleaned",
        format!(
            "failed; manifest error {} ({}); attempts 2; NAS clean",
            err.error, err.cause
        ),
    );
    sys.shutdown().await;
    assert_no_process_left(&state).await;
    report.finish();
}

/// Upload `file` as `key`, then arm `plan` at once: the next OSS requests
/// are split's download (the trigger makes none for a plain key).
async fn upload_with_fault(
    sys: &local_runner::system::System,
    file: &Path,
    key: &str,
    plan: FaultPlan,
) -> ExecutionRecord {
    let put = vpf_tests::client(sys)
        .put_file(&sys.bucket, key, file, None)
        .await
        .unwrap();
    sys.oss.set_fault(plan);
    let job = vpf_core::keys::job_id(&sys.bucket, key, &put.etag);
    sys.wait_for_key(key, &job, Duration::from_secs(300))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oss_503s_and_cut_downloads_are_retried_until_the_job_succeeds() {
    let mut report = Report::new("faults-oss");
    let Scene { tmp, src, state } = scene("flaky", (320, 240), 2.0).await;
    let source = probe(&src);
    let sys = system(
        &state,
        &[("segmentSeconds", "1"), ("formats", "mp4,hls")],
        |_| {},
    )
    .await;
    let frames = |p: &Path| probe(p).video_frames;

    // 1. Two 503s and a download cut after 20 kB: the client retries and
    // resumes within its own 4 attempts; the flow sees nothing.
    let rec = upload_with_fault(
        &sys,
        &src,
        "source/flaky.mp4",
        FaultPlan {
            fail_next_n_with_503: 2,
            cut_next_n_downloads: 1,
            cut_after_bytes: 20_000,
            ..FaultPlan::default()
        },
    )
    .await;
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    assert_eq!(sys.oss.faults_injected(), 3, "2 × 503 and one cut");
    assert_eq!(scheduled(&rec, "Split"), 1, "{:?}", failures(&rec, ""));
    assert!(failures(&rec, "").is_empty(), "{:?}", failures(&rec, ""));
    let n = frames(&fetch(&sys, "dest/flaky.mp4/flaky.mp4", tmp.path()).await);
    assert_eq!(n, source.video_frames);
    report.row(
        "OSS answers 503 twice, then cuts the download after 20 kB",
        "the client retries and resumes; no step fails; job succeeds",
        format!("succeeded; 3 faults absorbed by the client; {n} frames = source"),
    );

    // 2. OSS down for longer than the client retries (8 × 503): split fails
    // with StorageError (transient), the flow retries it, the job succeeds.
    let before = sys.oss.faults_injected();
    let rec = upload_with_fault(
        &sys,
        &src,
        "source/flaky2.mp4",
        FaultPlan {
            fail_next_n_with_503: 8,
            ..FaultPlan::default()
        },
    )
    .await;
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    assert_eq!(sys.oss.faults_injected() - before, 8);
    let split_failures = failures(&rec, "Split");
    assert_eq!(split_failures.len(), 2, "{split_failures:?}");
    assert!(
        split_failures
            .iter()
            .all(|(e, _, cause)| e == "StorageError" && cause.contains("after 4 attempts")),
        "{split_failures:?}"
    );
    assert_eq!(scheduled(&rec, "Split"), 3);
    let n = frames(&fetch(&sys, "dest/flaky2.mp4/flaky2.mp4", tmp.path()).await);
    assert_eq!(n, source.video_frames);
    report.row(
        "OSS answers 503 eight times in a row (longer than the client's 4 attempts)",
        "split fails with StorageError (transient), the flow retries it, job succeeds",
        format!("succeeded after 2 Split retries (StorageError); {n} frames = source"),
    );

    // 3. 503s while merge uploads: armed once the pieces are encoding.
    let put = vpf_tests::client(&sys)
        .put_file(&sys.bucket, "source/flaky3.mp4", &src, None)
        .await
        .unwrap();
    let job = vpf_core::keys::job_id(&sys.bucket, "source/flaky3.mp4", &put.etag);
    let engine = sys.engine().unwrap();
    let transcoding = eventually(Duration::from_secs(120), || {
        engine.describe(&job).and_then(|r| {
            r.events
                .iter()
                .any(|e| e.kind == "StateEntered" && e.state == "TranscodeAll")
                .then_some(())
        })
    })
    .await;
    assert!(transcoding.is_some());
    let before = sys.oss.faults_injected();
    sys.oss.set_fault(FaultPlan {
        fail_next_n_with_503: 3,
        ..FaultPlan::default()
    });
    let rec = sys
        .wait_for_key("source/flaky3.mp4", &job, Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    assert_eq!(sys.oss.faults_injected() - before, 3);
    assert!(failures(&rec, "Merge").is_empty());
    let n = frames(&fetch(&sys, "dest/flaky3.mp4/flaky3.mp4", tmp.path()).await);
    assert_eq!(n, source.video_frames);
    let hls = vpf_tests::keys_under(&sys, "dest/flaky3.mp4/hls/").await;
    assert!(hls.len() >= 2, "{hls:?}");
    report.row(
        "OSS answers 503 to three of merge's uploads",
        "the client retries; every object uploaded; job succeeds",
        format!("succeeded; {n} frames = source; {} HLS objects", hls.len()),
    );
    assert!(nas_jobs(&sys).is_empty());
    sys.shutdown().await;
    report.finish();
}

fn runner(state: &Path) -> Command {
    let mut c = Command::new(bin_dir().join("local-runner"));
    c.current_dir(repo_root())
        .env("VPF_BIN_DIR", bin_dir())
        .arg("--state-dir")
        .arg(state);
    c
}

fn run_args(c: &mut Command, input: &Path, out: &Path) {
    c.args([
        "run",
        "--formats",
        "mp4",
        "--segment-seconds",
        "1",
        "--json",
        "--input",
    ])
    .arg(input)
    .arg("--out")
    .arg(out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_job_leaves_no_process_nor_partial_object_and_the_job_runs_again() {
    let mut report = Report::new("faults-ctrl-c");
    let Scene { tmp, src, state } = scene("intr", (640, 360), 6.0).await;
    let source = probe(&src);
    let out = tmp.path().join("out");

    let mut c = runner(&state);
    run_args(&mut c, &src, &out);
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // Interrupt while pieces are being encoded.
    let seen = eventually(Duration::from_secs(120), || encoding_ffmpeg(&state)).await;
    assert!(seen.is_some(), "no piece was ever encoded");
    signal(pid, libc::SIGINT);
    let ended = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr).into_owned();
    assert!(
        !ended.status.success(),
        "an interrupted run is not a success"
    );
    assert_eq!(ended.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    // Nothing runs on: no handler, no ffmpeg.
    assert_no_process_left(&state).await;
    // The bucket holds the upload, whole, and nothing else (no output was
    // complete; no partial one is visible).
    let bucket_dir = state.join("oss/my-video-bucket");
    assert_eq!(files_under(&bucket_dir), ["source/intr.mp4"]);
    assert_eq!(
        std::fs::read(bucket_dir.join("source/intr.mp4")).unwrap(),
        std::fs::read(&src).unwrap()
    );

    // The same job, run again on the same state, succeeds.
    let mut again = runner(&state);
    run_args(&mut again, &src, &out);
    let done = tokio::task::spawn_blocking(move || again.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = succeeded(&done);
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(r["status"], "succeeded");
    let mp4 = PathBuf::from(r["outputs"][0]["localPath"].as_str().unwrap());
    let p = probe(&mp4);
    assert_eq!(p.video_frames, source.video_frames);
    assert!(files_under(&state.join("nas/mnt_auto/jobs")).is_empty());
    assert_no_process_left(&state).await;
    report.row(
        "Ctrl-C (SIGINT) to `local-runner run` while pieces encode",
        "exit non-zero with a message; no orphan process; no partial object; rerun succeeds",
        format!(
            "exit 130 \"{}\"; 0 processes left; bucket holds only the upload; rerun succeeded, {} frames = source",
            stderr
                .lines()
                .find(|l| l.contains("interrupted"))
                .unwrap_or("")
                .trim(),
            p.video_frames
        ),
    );
    report.finish();
}

fn probe_emulator(timeout: Duration) -> (local_runner::fc::FcEmulator, tempfile::TempDir) {
    use local_runner::fc::{FcEmulator, FunctionSpec};
    let logs = tempfile::tempdir().unwrap();
    let spec = FunctionSpec {
        name: "probe".into(),
        command: vec![env!("CARGO_BIN_EXE_fc-probe").into()],
        env: Vec::new(),
        timeout,
        instance_concurrency: 1,
        memory_mb: None,
        cwd: None,
    };
    let fc = FcEmulator::new(vec![spec], "cn-hangzhou", "1", None, logs.path().into(), 1).unwrap();
    (fc, logs)
}

fn pid_of(o: local_runner::fc::Outcome) -> i32 {
    match o {
        local_runner::fc::Outcome::Ok(v) => v["pid"].as_i64().unwrap() as i32,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_its_caller_abandons_runs_to_its_end_and_frees_its_instance() {
    let mut report = Report::new("faults-abandoned-call");
    // One instance at most: a leaked slot would force a second one.
    let (fc, _logs) = probe_emulator(Duration::from_secs(5));
    let pid = pid_of(fc.invoke("probe", b"{}").await);
    // The caller stops waiting after 50 ms, as a Map does with its other
    // iterations when one fails for good.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        fc.invoke("probe", br#"{"sleep_ms": 1500}"#),
    )
    .await;
    assert!(gave_up.is_err());
    assert_eq!(fc.in_flight("probe"), 1, "FC keeps running the call");
    let ended = eventually(Duration::from_secs(5), || {
        (fc.in_flight("probe") == 0).then_some(())
    })
    .await;
    assert!(ended.is_some(), "the abandoned call never ended");
    // Its instance is free again: the next call reuses it.
    assert_eq!(pid_of(fc.invoke("probe", b"{}").await), pid);
    assert_eq!(fc.instances_started("probe"), 1);
    fc.shutdown().await;

    // An abandoned call past the timeout is still timed out: its instance
    // (and whatever it started) is killed, not left running unseen.
    let (fc, _logs) = probe_emulator(Duration::from_millis(300));
    let pid = pid_of(fc.invoke("probe", b"{}").await);
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        fc.invoke("probe", br#"{"sleep_ms": 30000}"#),
    )
    .await;
    assert!(gave_up.is_err());
    let killed = eventually(Duration::from_secs(5), || {
        (!processes().iter().any(|p| p.pid == pid)).then_some(())
    })
    .await;
    assert!(
        killed.is_some(),
        "instance {pid} still runs its abandoned call"
    );
    // The kill comes first, the slot is freed after it: wait for the state
    // asserted, never read it right after the event that leads to it.
    let freed = eventually(Duration::from_secs(5), || {
        (fc.in_flight("probe") == 0).then_some(())
    })
    .await;
    assert!(freed.is_some(), "the timed-out call still holds its slot");
    fc.shutdown().await;
    report.row(
        "a caller stops waiting for a call (Map failed elsewhere)",
        "the call runs to its end or its timeout; slot and instance freed",
        "call ended, same instance served the next call; past its timeout the instance was killed",
    );
    report.finish();
}
