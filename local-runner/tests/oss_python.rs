//! The official Python client `oss2` against the emulator: an independent
//! implementation of OSS V4 and V1 signing, XML and CRC-64 checks. Runs
//! tests/python/test_oss_emulator.py with pytest against an emulator started
//! here. CI installs tests/python/requirements.txt; without it this test
//! fails and says how to install it.

mod oss_support;

use std::path::Path;
use std::time::Duration;

use oss_support::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oss2_drives_the_emulator() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let requirements = repo.join("tests/python/requirements.txt");
    let check = tokio::process::Command::new("python3")
        .args(["-c", "import oss2, pytest, requests"])
        .output()
        .await;
    match check {
        Err(e) => panic!(
            "python3 is needed to run the oss2 tests ({e}); install Python 3 and `pip install -r {}`",
            requirements.display()
        ),
        Ok(o) if !o.status.success() => panic!(
            "oss2/pytest are missing: run `pip install -r {}`\n{}",
            requirements.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => {}
    }

    let (oss, _dir) = start().await;
    let mut info = oss.describe();
    let t = oss.issue_temporary(Duration::from_secs(3600));
    info["temporary"] = serde_json::json!({
        "accessKeyId": t.access_key_id,
        "accessKeySecret": t.access_key_secret,
        "securityToken": t.security_token,
    });
    let out = tokio::process::Command::new("python3")
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/python/test_oss_emulator.py",
        ])
        .current_dir(repo)
        .env("OSS_EMULATOR_JSON", info.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .await
        .expect("pytest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "oss2 tests failed:\n{stdout}");
    assert!(
        stdout.contains(" passed") && !stdout.contains("skipped"),
        "{stdout}"
    );
    oss.shutdown().await;
}
