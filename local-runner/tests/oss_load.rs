//! 200 small uploads at once through the official `oss2` client (V4), all
//! released on one barrier, each on its own connection
//! (tests/python/load_oss2.py). Every stored object is faithful (MD5 and
//! CRC-64 of the emulator's file match what the client sent), the
//! emulator's open files and peak memory stay bounded, and nothing is left
//! in its temporary or upload folders. Alone in its own test binary: the
//! emulator runs in this process, whose figures it reads.

mod oss_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use md5::Digest;
use oss_support::{BUCKET, files_under, open_files, peer_info, start, vm_kib};
use vpf_oss::crc64::Crc64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_oss2_uploads_at_once_are_faithful_and_bounded() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let check = tokio::process::Command::new("python3")
        .args(["-c", "import oss2"])
        .output()
        .await;
    assert!(
        check.is_ok_and(|o| o.status.success()),
        "oss2 is missing: run `pip install -r {}`",
        repo.join("tests/python/requirements.txt").display()
    );

    let (oss, _dir) = start().await;
    let info = peer_info(&oss);
    let files_before = open_files();
    let peak_before = vm_kib("VmHWM");
    let peak_files = Arc::new(AtomicUsize::new(files_before));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak_files, sampling) = (peak_files.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak_files.fetch_max(open_files(), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    let out = tokio::process::Command::new("python3")
        .arg("tests/python/load_oss2.py")
        .current_dir(repo)
        .env("OSS_EMULATOR_JSON", info.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .await
        .expect("python3 runs");
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "load_oss2.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let objects = report["objects"].as_object().expect("objects");
    assert_eq!(objects.len(), 200);

    // What the emulator stored, byte for byte.
    for (key, want) in objects {
        let bytes = std::fs::read(oss.root().join(BUCKET).join(key)).expect("stored");
        let mut crc = Crc64::new();
        crc.update(&bytes);
        assert_eq!(Some(bytes.len() as u64), want["size"].as_u64(), "{key}");
        assert_eq!(
            hex::encode_upper(md5::Md5::digest(&bytes)),
            want["md5"].as_str().unwrap_or_default(),
            "{key}"
        );
        assert_eq!(Some(crc.value()), want["crc64"].as_u64(), "{key}");
    }
    let settled = {
        let mut ok = false;
        for _ in 0..300 {
            if open_files() <= files_before + 2 {
                ok = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        ok
    };
    let peak_files = peak_files.load(Ordering::Relaxed);
    let growth_mib = vm_kib("VmHWM").saturating_sub(peak_before) as f64 / 1024.0;
    println!(
        "200 oss2 uploads at once: open files {files_before} -> peak {peak_files} -> {}; peak RSS {:.1} MiB -> {:.1} MiB (growth {growth_mib:.1} MiB)",
        open_files(),
        peak_before as f64 / 1024.0,
        vm_kib("VmHWM") as f64 / 1024.0,
    );
    assert!(
        settled,
        "open files back to {files_before}: {}",
        open_files()
    );
    // A connection and, while its body arrives, a temporary file each.
    assert!(
        peak_files <= files_before + 2 * 200 + 16,
        "peak open files {peak_files} (from {files_before})"
    );
    assert!(
        growth_mib < 64.0,
        "peak memory grew by {growth_mib:.1} MiB for 200 uploads of at most 256 KiB"
    );
    assert!(files_under(&oss.root().join(".oss/tmp")).is_empty());
    assert!(files_under(&oss.root().join(".oss/uploads")).is_empty());
    oss.shutdown().await;
}
