//! Slow clients cannot hold the OSS emulator's connections or files: 200
//! connections that send half a request and stop are all closed after the
//! header deadline, and the process's open files come back to where they
//! were. Alone in its own test binary: the emulator runs in this process,
//! whose open files it counts.

mod oss_support;

use bytes::Bytes;
use oss_support::{BUCKET, client, eventually, open_files, start_strict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// 200 connections that send half a request and then nothing are all closed
/// by the emulator after its header deadline (32 at a time: the others wait
/// in the listen backlog), and the open files come back to where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_and_release_their_files() {
    let (oss, _dir) = start_strict().await;
    let before = open_files();
    let mut conns = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(oss.addr()).await.unwrap();
        s.write_all(
            format!(
                "PUT /{BUCKET}/slow.bin HTTP/1.1\r\nHost: {}\r\nX-Oss-",
                oss.addr()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        conns.push(s);
    }
    let peak = open_files();
    let mut closed = 0;
    for mut s in conns {
        let mut buf = [0u8; 1024];
        // Safety net only: the emulator's deadline is 1 s a connection.
        let read = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if read == Ok(true) {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 200,
        "every half-sent request is closed by the emulator"
    );
    let settled = eventually(|| open_files() <= before + 2).await;
    println!(
        "half-sent requests: open files {before} -> {peak} (200 client sockets, server capped at 32) -> {}",
        open_files()
    );
    assert!(settled, "open files back to {before}: {}", open_files());
    // Still serving.
    let c = client(&oss);
    c.put_bytes(BUCKET, "after.txt", Bytes::from_static(b"ok"), None)
        .await
        .unwrap();
    oss.shutdown().await;
}
