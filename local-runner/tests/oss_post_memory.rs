//! 200 MB of unsigned form upload that never reaches a file field (no
//! boundary; a part header block that never ends) is refused with a 400
//! while the peak resident memory of this process, which runs the emulator,
//! grows by far less than what was sent: nothing before the file field is
//! buffered past a small cap. Alone in its own test binary so that no other
//! test moves the process's peak.

mod oss_support;

use oss_support::{BUCKET, files_under, raw_exchange, start, vm_kib};

const FILLER: &[u8] = &[b'a'; 64 * 1024];
const HEADER_LINE: &[u8] =
    b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_mb_of_unsigned_form_is_refused_in_bounded_memory() {
    let (oss, _dir) = start().await;
    let total: u64 = 200 * 1000 * 1000;
    let head = |extra: &str| {
        format!(
            "POST /{BUCKET} HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n{extra}",
            oss.addr(),
            total + extra.len() as u64
        )
    };
    let before = vm_kib("VmHWM");
    let no_boundary = raw_exchange(oss.addr(), head(""), FILLER, total).await;
    let endless_headers = raw_exchange(
        oss.addr(),
        head("--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n"),
        HEADER_LINE,
        total,
    )
    .await;
    let growth_mib = vm_kib("VmHWM").saturating_sub(before) as f64 / 1024.0;
    println!(
        "200 MB unsigned form uploads refused: peak RSS {:.1} MiB -> {:.1} MiB, growth {growth_mib:.1} MiB",
        before as f64 / 1024.0,
        vm_kib("VmHWM") as f64 / 1024.0
    );
    for answer in [no_boundary, endless_headers] {
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("InvalidArgument"), "{answer}");
    }
    assert!(
        growth_mib < 8.0,
        "peak memory grew by {growth_mib:.1} MiB refusing unsigned forms"
    );
    assert!(files_under(&oss.root().join(BUCKET)).is_empty());
    assert!(files_under(&oss.root().join(".oss/tmp")).is_empty());
    oss.shutdown().await;
}
