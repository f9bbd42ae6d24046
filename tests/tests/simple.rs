//! The simple system (s.simple.yaml: one function that the OSS trigger
//! invokes, no workflow, no NAS) through the local runner, against the
//! workflow (s.yaml) on the same source: the same outputs under the same
//! keys, the same manifest; refusals recorded in a failed manifest.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use local_runner::delivery::Answer;
use local_runner::system::System;
use vpf_core::job::{JobStatus, Manifest, SimpleOutput};
use vpf_media::Tools;
use vpf_media::testmedia::Clip;
use vpf_tests::{all_keys, bin_dir, client, probe, repo_root, small_clip, system_from};

/// `local-runner [global] run --json ...` with this build's binaries.
fn run(tmp: &Path, global: &[&str], args: &[&str], tmpdir: &Path) -> (Output, serde_json::Value) {
    let out = Command::new(bin_dir().join("local-runner"))
        .current_dir(repo_root())
        .env("VPF_BIN_DIR", bin_dir())
        // The functions' temporary directory: where the simple function's
        // job folders go (FC's /tmp).
        .env("TMPDIR", tmpdir)
        .args(global)
        .arg("--state-dir")
        .arg(tmp.join(format!("state-{}", global.len())))
        .args(["run", "--json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out, report)
}

fn manifest(path: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(path).unwrap()).expect("manifest parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simple_function_makes_what_the_workflow_makes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("short.mp4");
    Clip::new(480, 270)
        .seconds(6.0)
        .audio(48_000, 2)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    let source = probe(&src);
    let fc_tmp = tmp.path().join("fc-tmp");
    std::fs::create_dir_all(&fc_tmp).unwrap();
    let input = src.to_str().unwrap();

    let simple_out = tmp.path().join("simple");
    let (out, simple) = run(
        tmp.path(),
        &["--s-yaml", "s.simple.yaml"],
        &["--formats", "mp4,gif,jpg", "--input", input, "--out"]
            .into_iter()
            .chain([simple_out.to_str().unwrap()])
            .collect::<Vec<_>>(),
        &fc_tmp,
    );
    assert!(out.status.success(), "{simple}");
    let flow_out = tmp.path().join("flow");
    let (out, flow) = run(
        tmp.path(),
        &[],
        &[
            "--formats",
            "mp4,gif,jpg",
            "--segment-seconds",
            "2",
            "--input",
            input,
            "--out",
            flow_out.to_str().unwrap(),
        ],
        &fc_tmp,
    );
    assert!(out.status.success(), "{flow}");

    // The same job id (bucket, key, eTag) and the same outputs under the same keys.
    assert_eq!(simple["status"], "succeeded");
    assert!(simple["error"].is_null(), "{simple}");
    assert_eq!(simple["execution"], flow["execution"]);
    let keys = |r: &serde_json::Value| -> Vec<(String, String)> {
        r["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["format"].as_str().unwrap().to_string(),
                    o["key"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        keys(&simple),
        [
            ("mp4".to_string(), "dest/short.mp4/short.mp4".to_string()),
            ("gif".into(), "dest/short.mp4/short.gif".into()),
            ("jpg".into(), "dest/short.mp4/short.jpg".into()),
        ]
    );
    assert_eq!(keys(&simple), keys(&flow));

    // The same manifest: status, source, probe, formats; one piece instead of three.
    let ms = manifest(&simple_out.join("manifest.json"));
    let mf = manifest(&flow_out.join("manifest.json"));
    assert_eq!(ms.status, JobStatus::Succeeded);
    assert_eq!(ms.job_id, mf.job_id);
    assert_eq!(ms.source, mf.source);
    assert_eq!(ms.probe, mf.probe);
    assert!(ms.probe.is_some());
    assert_eq!(ms.tracks, mf.tracks);
    let pieces = |m: &Manifest| {
        m.steps
            .iter()
            .find(|s| s.step == "transcode")
            .map(|s| s.invocations)
    };
    assert_eq!(pieces(&ms), Some(1), "{:?}", ms.steps);
    assert_eq!(pieces(&mf), Some(3), "{:?}", mf.steps);
    let steps: Vec<&str> = ms.steps.iter().map(|s| s.step.as_str()).collect();
    // The audio is encoded beside the one piece, and timed apart.
    assert_eq!(steps, ["split", "audio", "transcode", "merge"]);
    let names: Vec<&str> = simple["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, steps, "run reports the manifest's steps");

    // The outputs themselves: every frame, a GIF and a JPEG.
    let mp4 = probe(&simple_out.join("short.mp4"));
    assert_eq!(mp4.video_frames, source.video_frames);
    assert_eq!((mp4.width, mp4.height), (480, 270));
    assert!(mp4.audio);
    let gif = std::fs::read(simple_out.join("short.gif")).unwrap();
    assert!(gif.starts_with(b"GIF89a"), "a GIF");
    let jpg = std::fs::read(simple_out.join("short.jpg")).unwrap();
    assert!(jpg.starts_with(&[0xFF, 0xD8, 0xFF]), "a JPEG");
    // The job folder on the function's local disk is gone.
    let left: Vec<_> = std::fs::read_dir(fc_tmp.join("vpf-simple/jobs"))
        .expect("the function worked under its TMPDIR")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "job folders left in /tmp: {left:?}");
}

/// The simple system started from s.simple.yaml in-process, `vars` overridden.
async fn simple_system(state: &Path, vars: &[(&str, &str)]) -> System {
    system_from("s.simple.yaml", state, vars, |_| {}).await
}

/// Upload `file` as `key` and wait for the triggered function's answer.
async fn upload(sys: &System, file: &Path, key: &str) -> SimpleOutput {
    let put = client(sys)
        .put_file(&sys.bucket, key, file, None)
        .await
        .expect("upload");
    let d = sys
        .wait_for_delivery(key, &put.etag, Duration::from_secs(300))
        .await
        .expect("delivered");
    match d.result.expect("the function answers") {
        Answer::Simple(out) => out,
        other => panic!("not a SimpleOutput: {other}"),
    }
}

async fn read_manifest(sys: &System, key: &str, dir: &Path) -> Manifest {
    let dest = dir.join("manifest.json");
    client(sys)
        .get_to_file(&sys.bucket, key, &dest)
        .await
        .expect("manifest");
    manifest(&dest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_above_the_limits_get_a_failed_manifest_and_no_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("long.mp4");
    Clip::new(320, 240)
        .seconds(4.0)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();

    // Too long: probed, refused before any encode.
    let sys = simple_system(&tmp.path().join("a"), &[("maxSourceSeconds", "2.5")]).await;
    let out = upload(&sys, &src, "source/long.mp4").await;
    assert!(out.skipped.is_empty(), "{out:?}");
    let [job] = out.jobs.as_slice() else {
        panic!("one job: {out:?}")
    };
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.nas_cleaned, "the job folder is removed");
    let m = read_manifest(&sys, &job.manifest_key, tmp.path()).await;
    assert_eq!(m.status, JobStatus::Failed);
    let e = m.error.expect("the reason");
    assert_eq!(e.error, "InvalidInput");
    assert!(
        e.cause.contains("source/long.mp4 lasts 4.0 s")
            && e.cause.contains("up to 2.5 s (MAX_SOURCE_SECONDS")
            && e.cause.contains("workflow"),
        "{}",
        e.cause
    );
    assert!(m.outputs.is_empty());
    let probed = m.probe.expect("the probe says what was found");
    assert!((probed.duration_seconds - 4.0).abs() < 0.1);
    assert!(m.steps.iter().all(|s| s.step != "transcode"), "no encode");
    assert_eq!(
        all_keys(&sys).await,
        ["dest/long.mp4/manifest.json", "source/long.mp4"],
        "no output but the manifest"
    );
    // Not a video extension: skipped with the reason, nothing written.
    let txt = tmp.path().join("notes.txt");
    std::fs::write(&txt, "not a video").unwrap();
    let out = upload(&sys, &txt, "source/notes.txt").await;
    assert!(out.jobs.is_empty());
    assert!(out.skipped[0].reason.contains("extension .txt"), "{out:?}");
    sys.shutdown().await;

    // Too large: refused from the event's size, before the download.
    let sys = simple_system(&tmp.path().join("b"), &[("maxSourceBytes", "1000")]).await;
    let out = upload(&sys, &src, "source/big.mp4").await;
    let [job] = out.jobs.as_slice() else {
        panic!("one job: {out:?}")
    };
    assert_eq!(job.status, JobStatus::Failed);
    let m = read_manifest(&sys, &job.manifest_key, tmp.path()).await;
    let e = m.error.expect("the reason");
    assert!(
        e.cause.contains("up to 1000 bytes (MAX_SOURCE_BYTES"),
        "{}",
        e.cause
    );
    assert!(m.probe.is_none() && m.steps.is_empty(), "nothing was done");
    assert_eq!(
        all_keys(&sys).await,
        ["dest/big.mp4/manifest.json", "source/big.mp4"]
    );
    sys.shutdown().await;
}

/// `run` with s.simple.yaml on a source above the limit: exit status 1 and
/// the reason, as for a failed workflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reports_a_refused_source_as_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("clip.mp4");
    small_clip(&src, false).await;
    let (out, r) = run(
        tmp.path(),
        &["--s-yaml", "s.simple.yaml", "--var", "maxSourceSeconds=1"],
        &["--input", src.to_str().unwrap(), "--out"]
            .into_iter()
            .chain([tmp.path().join("out").to_str().unwrap()])
            .collect::<Vec<_>>(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{r}");
    assert_eq!(r["status"], "failed");
    let e = r["error"].as_str().unwrap();
    assert!(
        e.starts_with("InvalidInput: ") && e.contains("MAX_SOURCE_SECONDS"),
        "{e}"
    );
    assert_eq!(r["outputs"], serde_json::json!([]));
}
