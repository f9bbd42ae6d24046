//! The README cannot drift from the code: its Python example and its
//! hand-invocation example are executed as written (binaries taken from this
//! build), its output blocks compared with what the commands print, and every
//! `local-runner` command line it shows is parsed by the real CLI.

use std::process::Command;

use vpf_tests::{bin_dir, repo_root};

/// (info string, body) of every fenced block.
fn blocks() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(info) = line.strip_prefix("```") {
            match cur.take() {
                Some(b) => out.push(b),
                None => cur = Some((info.trim().to_string(), String::new())),
            }
        } else if let Some((_, body)) = cur.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// README commands use release binaries; tests run this build's.
fn localize(s: &str) -> String {
    let bin = bin_dir();
    s.replace("./target/release/", &format!("{}/", bin.display()))
        .replace("./target/debug/", &format!("{}/", bin.display()))
}

#[test]
fn every_local_runner_command_line_parses() {
    let mut seen = 0;
    for (info, body) in blocks().into_iter().filter(|(i, _)| i == "sh") {
        for line in body.lines() {
            let line = line.split(" #").next().unwrap_or("").trim();
            let Some(rest) = line.strip_prefix("./target/release/local-runner") else {
                continue;
            };
            // `--help` after the arguments: clap still refuses unknown ones first.
            let args: Vec<&str> = rest.split_whitespace().collect();
            let out = Command::new(bin_dir().join("local-runner"))
                .args(&args)
                .arg("--help")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "README ({info}) shows `{line}`, which the CLI refuses:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 5,
        "expected the README to show local-runner commands, saw {seen}"
    );
}

#[test]
fn the_hand_invocation_example_prints_what_the_readme_shows() {
    let blocks = blocks();
    let i = blocks
        .iter()
        .position(|(info, b)| info == "sh" && b.contains("curl -i -X POST localhost:9010/invoke"))
        .expect("README has the curl example");
    let script = localize(&blocks[i].1).replace("cargo build --workspace --bins\n", "");
    let shown = &blocks[i + 1].1;
    let expected_body = shown.lines().last().expect("an output block follows");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e\n{script}\nsleep 0.1\nkill %1 2>/dev/null || true"
        ))
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("HTTP/1.1 200 OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(expected_body),
        "README shows\n{expected_body}\nbut the function answered\n{stdout}"
    );
}

#[test]
fn the_oss2_example_runs_as_written() {
    let blocks = blocks();
    let (_, code) = blocks
        .iter()
        .find(|(info, b)| info == "python" && b.contains("oss2"))
        .expect("README has the oss2 example");
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("clip.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "2",
        ])
        .args(["-c:v", "libx264", "-preset", "ultrafast"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(ok.success());
    // The example starts `./target/release/local-runner up`: run it from a
    // folder holding this build's binaries under that name, with state and
    // s.yaml taken from the repository.
    let release = tmp.path().join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    for b in [
        "local-runner",
        "oss-trigger",
        "split",
        "transcode",
        "merge",
        "after-process",
    ] {
        std::os::unix::fs::symlink(bin_dir().join(b), release.join(b)).unwrap();
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .current_dir(tmp.path())
        .env("VPF_S_YAML", repo_root().join("s.yaml"))
        .env("VPF_STATE_DIR", tmp.path().join("state"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("the example prints the manifest");
    assert_eq!(manifest["status"], "succeeded");
}

/// The demo's table (README command 1) has the rows a real run prints:
/// the same formats and steps, in the same order; only the figures differ.
#[test]
fn the_demo_table_has_the_rows_a_run_prints() {
    let blocks = blocks();
    let shown = blocks
        .iter()
        .find(|(info, b)| info.is_empty() && b.contains("manifest: demo/out/manifest.json"))
        .map(|(_, b)| b.clone())
        .expect("README shows the demo's output");
    let demo = std::fs::read_to_string(repo_root().join("scripts/demo.sh")).unwrap();
    let args_line = demo
        .lines()
        .find(|l| l.contains("--formats"))
        .expect("demo.sh passes --formats");
    let formats = args_line
        .split_whitespace()
        .skip_while(|w| *w != "--formats")
        .nth(1)
        .expect("a formats value")
        .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("sample.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "3",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Command::new(bin_dir().join("local-runner"))
        .current_dir(repo_root())
        .env("VPF_BIN_DIR", bin_dir())
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args([
            "run",
            "--formats",
            &formats,
            "--segment-seconds",
            "1",
            "--input",
        ])
        .arg(&clip)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    let first_words = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                !l.starts_with("uploaded")
                    && !l.starts_with("execution")
                    && !l.starts_with("manifest")
            })
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    assert_eq!(
        first_words(&shown),
        first_words(&printed),
        "README:\n{shown}\nrun:\n{printed}"
    );
}
