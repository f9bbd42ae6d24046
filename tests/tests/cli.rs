//! The `local-runner` binary as a user runs it.

use std::process::Command;

use vpf_media::Tools;
use vpf_media::testmedia::Clip;
use vpf_tests::{FUNCTIONS, bin_dir, probe, repo_root, small_clip};

fn runner() -> Command {
    let mut c = Command::new(bin_dir().join("local-runner"));
    c.current_dir(repo_root()).env("VPF_BIN_DIR", bin_dir());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_json_reports_outputs_that_match_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("talk.mp4");
    Clip::new(480, 270)
        .fps(30000, 1001)
        .seconds(6.0)
        .audio(44_100, 2)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    let source = probe(&src);
    let out = runner()
        .args(["--state-dir"])
        .arg(tmp.path().join("state"))
        .args([
            "run",
            "--json",
            "--formats",
            "mp4,flv,hls",
            "--segment-seconds",
            "2",
            "--input",
        ])
        .arg(&src)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    let stdout = vpf_tests::succeeded(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "--json prints exactly one line: {stdout}");
    let r: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(r["status"], "succeeded");
    assert!(r["error"].is_null());
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["Split", "TranscodeAll", "Merge", "AfterProcess", "Done"]
    );
    assert!(
        r["steps"][1]["attempts"].as_u64().unwrap() >= 2,
        "several pieces"
    );
    let outputs = r["outputs"].as_array().unwrap();
    let formats: Vec<&str> = outputs
        .iter()
        .map(|o| o["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["mp4", "flv", "hls"]);
    for o in outputs {
        let local = std::path::PathBuf::from(o["localPath"].as_str().unwrap());
        assert!(local.is_file(), "{}", local.display());
        let p = probe(&local);
        assert_eq!(p.video_frames, source.video_frames, "{}", o["format"]);
        let d = o["durationSeconds"].as_f64().unwrap();
        assert!(
            (d - source.video_seconds).abs() < 0.1,
            "{}: {d} s",
            o["format"]
        );
        assert!(o["bytes"].as_u64().unwrap() > 10_000);
    }
}

#[test]
fn bad_input_is_a_clear_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = runner()
        .args(["run", "--input"])
        .arg(tmp.path().join("nope.mp4"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
    let out = runner()
        .args(["run", "--input", "Cargo.toml", "--formats", "mp4,webm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("webm") && err.contains("choose from"), "{err}");
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["up", "--help"],
        vec!["replay", "--help"],
        vec!["invoke", "--help"],
    ] {
        let out = runner().args(&cmd).output().unwrap();
        assert!(out.status.success(), "{cmd:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{cmd:?} has no example:\n{text}");
    }
}

#[test]
fn every_function_binary_explains_itself() {
    for f in FUNCTIONS {
        let out = Command::new(bin_dir().join(f))
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{f} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Example") && text.contains("FC_SERVER_PORT"),
            "{f} --help:\n{text}"
        );
        let out = Command::new(bin_dir().join(f))
            .arg("--frobnicate")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{f} refuses unknown arguments");
    }
}

/// As `s deploy` ships it: s.yaml and flow/ beside code-out/<fn>/bootstrap,
/// the runner started in that folder with no --bin-dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_from_the_code_folders_that_s_deploy_ships() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    std::fs::create_dir_all(app.join("flow")).unwrap();
    std::fs::copy(repo_root().join("s.yaml"), app.join("s.yaml")).unwrap();
    std::fs::copy(
        repo_root().join("flow/video-process-flow.yaml"),
        app.join("flow/video-process-flow.yaml"),
    )
    .unwrap();
    for f in FUNCTIONS {
        let dir = app.join("code-out").join(f);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(bin_dir().join(f), dir.join("bootstrap")).unwrap();
    }
    let src = app.join("clip.mp4");
    small_clip(&src, true).await;
    let out = Command::new(bin_dir().join("local-runner"))
        .current_dir(&app)
        .env_remove("VPF_BIN_DIR")
        .args(["run", "--json", "--formats", "mp4", "--input", "clip.mp4"])
        .output()
        .unwrap();
    let stdout = vpf_tests::succeeded(&out);
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(r["status"], "succeeded");
    assert!(app.join("out/clip.mp4").is_file());
}

/// `--bin-dir` relative to where the runner starts, though functions run in
/// their code folders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_bin_dir_works() {
    let Ok(rel) = bin_dir().strip_prefix(repo_root()).map(|p| p.to_path_buf()) else {
        return; // a target dir outside the repository: nothing relative to test
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("rel.mp4");
    small_clip(&src, false).await;
    let out = runner()
        .env_remove("VPF_BIN_DIR")
        .arg("--bin-dir")
        .arg(&rel)
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args(["run", "--json", "--formats", "mp4", "--input"])
        .arg(&src)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path().join("out/rel.mp4").is_file());
}

/// `--var NAME=VALUE` overrides any s.yaml var (here two, with effects one
/// can see in the output); a var s.yaml does not declare, or a malformed
/// one, is refused before anything starts, naming the mistake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn var_overrides_reach_the_job_and_typos_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("Phone Clip.MOV");
    Clip::new(320, 240)
        .seconds(2.0)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    let out = runner()
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args(["--var", "maxHeight=120", "--var", "formats=mp4,jpg"])
        .args(["run", "--json", "--input"])
        .arg(&src)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    let stdout = vpf_tests::succeeded(&out);
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let formats: Vec<&str> = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["mp4", "jpg"]);
    let mp4 = probe(std::path::Path::new(
        r["outputs"][0]["localPath"].as_str().unwrap(),
    ));
    assert_eq!((mp4.width, mp4.height), (160, 120));

    for (args, says) in [
        (
            vec!["--var", "maxHieght=120"],
            "vars.maxHieght: no such variable",
        ),
        (vec!["--var", "maxHeight"], "is not NAME=VALUE"),
    ] {
        let out = runner()
            .arg("--state-dir")
            .arg(tmp.path().join("state2"))
            .args(&args)
            .args(["run", "--input"])
            .arg(&src)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}
