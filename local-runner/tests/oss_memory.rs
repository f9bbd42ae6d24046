//! A 200 MB object goes up (multipart, then a single streamed PUT) and comes
//! back down through the client and the emulator, both in this process,
//! while the peak resident memory grows by far less than the object: both
//! sides stream. Alone in its own test binary so that no other test moves
//! the process's peak.

mod oss_support;

use oss_support::{BUCKET, random_file, same_file, start, vm_kib};
use vpf_oss::{MIB, OssClient, OssConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_mb_up_and_down_in_bounded_memory() {
    let (oss, dir) = start().await;
    let size = 200 * MIB;
    let src = dir.path().join("big.bin");
    random_file(&src, size, 42);

    let peak_before = vm_kib("VmHWM");
    let rss_before = vm_kib("VmRSS");

    // Default settings: multipart above 64 MiB, 16 MiB parts, 4 in flight.
    let multipart = OssClient::new(OssConfig::new(
        oss.endpoint(),
        oss.region(),
        oss.credentials(),
    ))
    .unwrap();
    let put = multipart
        .put_file(BUCKET, "big/multipart.bin", &src, None)
        .await
        .unwrap();
    assert!(put.etag.ends_with("-13"), "{}", put.etag);
    let out = dir.path().join("down/multipart.bin");
    assert_eq!(
        multipart
            .get_to_file(BUCKET, "big/multipart.bin", &out)
            .await
            .unwrap(),
        size
    );
    assert!(same_file(&src, &out));
    std::fs::remove_file(&out).unwrap();

    // One streamed PUT of the whole file.
    let mut cfg = OssConfig::new(oss.endpoint(), oss.region(), oss.credentials());
    cfg.multipart_threshold = u64::MAX;
    let single = OssClient::new(cfg).unwrap();
    let put = single
        .put_file(BUCKET, "big/single.bin", &src, None)
        .await
        .unwrap();
    assert_eq!(
        put.etag.len(),
        32,
        "a simple upload's ETag is its MD5: {}",
        put.etag
    );
    assert_eq!(
        single
            .get_to_file(BUCKET, "big/single.bin", &out)
            .await
            .unwrap(),
        size
    );
    assert!(same_file(&src, &out));

    let peak_after = vm_kib("VmHWM");
    let growth_mib = peak_after.saturating_sub(peak_before) as f64 / 1024.0;
    println!(
        "OSS 200 MiB transfers (2 uploads, 2 downloads): peak RSS {:.1} MiB -> {:.1} MiB (RSS before {:.1} MiB), growth {growth_mib:.1} MiB",
        peak_before as f64 / 1024.0,
        peak_after as f64 / 1024.0,
        rss_before as f64 / 1024.0,
    );
    assert!(
        growth_mib < 100.0,
        "peak memory grew by {growth_mib:.1} MiB moving 200 MiB objects"
    );
    oss.shutdown().await;
}
