//! The README cannot drift from the code: every command it shows is run as
//! written (the local runner's from this build's binaries; `scripts/demo.sh`,
//! `scripts/build-code.sh` and `scripts/bench.sh --smoke` as they are), its
//! output blocks compared with what the commands print, and every
//! `local-runner` command line it shows is parsed by the real CLI.
//! `scripts/test.sh` is what runs this; `s deploy` needs an Alibaba Cloud
//! account, so only its input (s.yaml) is checked, in local-runner's tests.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;

use vpf_tests::{FUNCTIONS, bin_dir, repo_root};

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

/// Commands shown with `local-runner up` bind its default ports: one at a time.
static DEFAULT_PORTS: Mutex<()> = Mutex::new(());

fn lock_ports() -> std::sync::MutexGuard<'static, ()> {
    DEFAULT_PORTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `sh` block that contains `marker`, and the block after it.
fn sh_block(marker: &str) -> (String, Option<String>) {
    let blocks = blocks();
    let i = blocks
        .iter()
        .position(|(info, b)| info == "sh" && b.contains(marker))
        .unwrap_or_else(|| panic!("README has no sh block with {marker:?}"));
    (blocks[i].1.clone(), blocks.get(i + 1).map(|b| b.1.clone()))
}

/// The command lines of a block, comments dropped.
fn command_lines(block: &str) -> Vec<String> {
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn bash(line: &str, dir: &Path) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("VPF_S_YAML", repo_root().join("s.yaml"))
        .env("VPF_BIN_DIR", bin_dir())
        .output()
        .unwrap()
}

fn must(line: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "README command `{line}` failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A short clip with sound, as a user's own video.
fn clip(path: &Path, codec: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .args(["testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine"])
        .args(["-t", "2", "-shortest"])
        .args(codec)
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn the_own_video_commands_run_as_written() {
    let (block, _) = sh_block("--input my-video.mp4");
    let tmp = tempfile::tempdir().unwrap();
    let h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"];
    clip(&tmp.path().join("my-video.mp4"), &h264);
    clip(&tmp.path().join("CAMERA.MOV"), &h264);
    let mut ran = 0;
    for line in command_lines(&block) {
        if line.starts_with("cargo build") {
            continue; // this build's binaries stand in for the release ones
        }
        let cmd = format!("{} --state-dir state", localize(&line));
        let stdout = must(&line, &bash(&cmd, tmp.path()));
        if line.contains("--json") {
            let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
            assert_eq!(r["status"], "succeeded", "{r}");
            assert_eq!(r["outputs"].as_array().map(Vec::len), Some(6), "{r}");
        } else {
            assert!(stdout.contains(" succeeded in "), "{stdout}");
        }
        ran += 1;
    }
    assert_eq!(ran, 3);
    // The last command ran on CAMERA.MOV (its upper-case extension was accepted).
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("out/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["source"]["key"], "source/CAMERA.MOV");
}

#[test]
fn up_json_prints_what_the_readme_shows() {
    let (block, _) = sh_block("local-runner up --json");
    let line = command_lines(&block).remove(0);
    let shown: serde_json::Value = blocks()
        .into_iter()
        .find(|(info, b)| info == "json" && b.contains("\"accessKeyId\""))
        .map(|(_, b)| serde_json::from_str(&b).unwrap())
        .expect("README shows the up --json line");
    let tmp = tempfile::tempdir().unwrap();
    let _ports = lock_ports();
    let mut up = Command::new("bash")
        .arg("-c")
        .arg(format!("exec {} --state-dir state", localize(&line)))
        .current_dir(tmp.path())
        .env("VPF_S_YAML", repo_root().join("s.yaml"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(up.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = up.kill();
    let _ = up.wait();
    let got: serde_json::Value = serde_json::from_str(&first).expect("a JSON line");
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&got), keys(&shown), "{got}");
    // Everything but the generated keys and the state folder is as shown.
    for k in keys(&shown) {
        if !["accessKeyId", "accessKeySecret", "stateDir"].contains(&k.as_str()) {
            assert_eq!(got[&k], shown[&k], "{k}");
        }
    }
}

#[test]
fn the_replay_and_invoke_examples_print_what_the_readme_shows() {
    for marker in ["local-runner replay", "local-runner invoke"] {
        let (block, shown) = sh_block(marker);
        let shown = shown.expect("an output block follows");
        let line = command_lines(&block).remove(0);
        let tmp = tempfile::tempdir().unwrap();
        let cmd = format!(
            "{} --state-dir {}",
            localize(&line),
            tmp.path().join("state").display()
        );
        let stdout = must(&line, &bash(&cmd, &repo_root()));
        assert_eq!(stdout.trim(), shown.trim(), "`{line}`");
    }
}

#[test]
fn the_oss2_example_runs_as_written() {
    let _ports = lock_ports();
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
    for b in FUNCTIONS.iter().chain(&["local-runner"]) {
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
    let stdout = vpf_tests::succeeded(&out);
    let manifest: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("the example prints the manifest");
    assert_eq!(manifest["status"], "succeeded");
}

/// README command 1 as written: it builds in release mode, makes its sample,
/// runs it and prints a table with the rows the README shows (the figures
/// differ run to run). Then the deploy section's build step, which reuses
/// that release build.
#[test]
fn the_demo_and_build_code_run_as_written() {
    let (block, _) = sh_block("scripts/demo.sh");
    assert!(command_lines(&block).contains(&"scripts/demo.sh".to_string()));
    let shown = blocks()
        .into_iter()
        .find(|(info, b)| info.is_empty() && b.contains("manifest: demo/out/manifest.json"))
        .map(|(_, b)| b)
        .expect("README shows the demo's output");
    let _ports = lock_ports();
    let out = Command::new("scripts/demo.sh")
        .current_dir(repo_root())
        .output()
        .unwrap();
    let printed = must("scripts/demo.sh", &out);
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
        "README:\n{shown}\ndemo:\n{printed}"
    );
    assert!(printed.contains(" succeeded in "), "{printed}");

    let (deploy, _) = sh_block("scripts/build-code.sh");
    let line = command_lines(&deploy).remove(0);
    assert_eq!(line, "scripts/build-code.sh");
    must(&line, &bash(&line, &repo_root()));
    for f in FUNCTIONS {
        let boot = repo_root().join("code-out").join(f).join("bootstrap");
        let v = Command::new(&boot).arg("--version").output().unwrap();
        assert!(v.status.success(), "{}", boot.display());
        assert!(String::from_utf8_lossy(&v.stdout).contains(env!("CARGO_PKG_VERSION")));
        // FC's custom.debian10 runtime (the FFmpeg6x layer's) has glibc 2.28:
        // no symbol may need a newer one.
        let newest = newest_glibc(&std::fs::read(&boot).unwrap());
        assert!(
            newest.is_some_and(|v| v <= (2, 28)),
            "{f} needs glibc {newest:?}; FC's custom.debian10 has 2.28"
        );
    }
}

/// The newest `GLIBC_x.y` symbol version an ELF binary names.
fn newest_glibc(elf: &[u8]) -> Option<(u32, u32)> {
    let tag = b"GLIBC_";
    let mut newest = None;
    for i in 0..elf.len().saturating_sub(tag.len()) {
        if &elf[i..i + tag.len()] != tag {
            continue;
        }
        let rest: String = elf[i + tag.len()..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .map(|b| *b as char)
            .collect();
        let mut parts = rest.split('.').map(|p| p.parse::<u32>().ok());
        if let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) {
            newest = newest.max(Some((major, minor)));
        }
    }
    newest
}

/// The benchmark's own check that every part works (the full run is a
/// benchmark of 20-25 minutes, not a test).
#[test]
fn the_benchmark_smoke_run_works() {
    let (block, _) = sh_block("scripts/bench.sh --smoke");
    let line = command_lines(&block)
        .into_iter()
        .find(|l| l.contains("--smoke"))
        .unwrap();
    let out = bash(&line, &repo_root());
    let stdout = must(&line, &out);
    assert!(
        repo_root().join("bench/out/results.json").is_file(),
        "{stdout}"
    );
}
