//! Alibaba Cloud's official Python clients against the emulator, each an
//! independent implementation of OSS V4 and V1 signing, XML and CRC-64
//! checks: `oss2` (tests/python/test_oss_emulator.py) and
//! `alibabacloud-oss-v2` (tests/python/test_oss_clients_v2.py: path style and
//! virtual-hosted style, multipart, presigned URLs). Runs both with pytest
//! against an emulator started here. CI installs
//! tests/python/requirements.txt; without it this test fails and says how to
//! install it.

mod oss_support;

use std::path::Path;

use oss_support::{peer_info, start_accepting_v1};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_clients_drive_the_emulator() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let requirements = repo.join("tests/python/requirements.txt");
    let check = tokio::process::Command::new("python3")
        .args(["-c", "import oss2, alibabacloud_oss_v2, pytest, requests"])
        .output()
        .await;
    match check {
        Err(e) => panic!(
            "python3 is needed to run the oss2 tests ({e}); install Python 3 and `pip install -r {}`",
            requirements.display()
        ),
        Ok(o) if !o.status.success() => panic!(
            "oss2/alibabacloud-oss-v2/pytest are missing: run `pip install -r {}`\n{}",
            requirements.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => {}
    }

    let (oss, _dir) = start_accepting_v1().await;
    let info = peer_info(&oss);
    let out = tokio::process::Command::new("python3")
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/python/test_oss_emulator.py",
            "tests/python/test_oss_clients_v2.py",
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
    assert!(
        out.status.success(),
        "oss2/alibabacloud-oss-v2 tests failed:\n{stdout}"
    );
    assert!(
        stdout.contains(" passed") && !stdout.contains("skipped"),
        "{stdout}"
    );
    oss.shutdown().await;
}
