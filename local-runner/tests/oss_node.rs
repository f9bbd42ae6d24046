//! Alibaba Cloud's official Node client `ali-oss` (pinned in
//! tests/node/package.json) against the emulator: V4 and V1 signing, path
//! style and both virtual-hosted forms it sends (`Host: <bucket>.localhost`
//! and, for an IP endpoint, `Host: <bucket>.oss-<region>.aliyuncs.com`),
//! multipart uploads, presigned URLs. Runs tests/node/oss_clients.test.mjs
//! with `node --test` against an emulator started here; without
//! `npm ci --prefix tests/node` this test fails and says so.

mod oss_support;

use std::path::Path;

use oss_support::{peer_info, start_accepting_v1};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ali_oss_drives_the_emulator() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let node_dir = repo.join("tests/node");
    match tokio::process::Command::new("node")
        .arg("--version")
        .output()
        .await
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`node --version` failed: install Node.js 18 or newer\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "node is needed to run the ali-oss tests ({e}): install Node.js 18 or newer, then `npm ci --prefix tests/node`"
        ),
    }
    assert!(
        node_dir.join("node_modules/ali-oss/package.json").is_file(),
        "ali-oss is not installed: run `npm ci --prefix tests/node` (from {})",
        repo.display()
    );

    let (oss, _dir) = start_accepting_v1().await;
    let info = peer_info(&oss);
    let out = tokio::process::Command::new("node")
        // The file by name (newer Node versions read a bare directory as a
        // glob pattern), and TAP, whose summary lines are read below.
        .args([
            "--test",
            "--test-reporter=tap",
            "tests/node/oss_clients.test.mjs",
        ])
        .current_dir(repo)
        .env("OSS_EMULATOR_JSON", info.to_string())
        .output()
        .await
        .expect("node --test runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "ali-oss tests failed:\n{stdout}");
    let count = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# {name} ")))
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    assert!(
        count("pass").is_some_and(|n| n > 0)
            && count("fail") == Some(0)
            && count("skipped") == Some(0),
        "{stdout}"
    );
    oss.shutdown().await;
}
