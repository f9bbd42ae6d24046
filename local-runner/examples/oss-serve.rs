//! Run the OSS emulator alone, for clients in other languages (the `oss2`
//! tests in tests/python use it when not started by the Rust test).
//!
//! ```text
//! cargo run -p local-runner --example oss-serve -- --json [--root DIR] [--port N]
//!     [--bucket NAME]... [--region R] [--accept-v1] [--stdin-lifeline]
//! ```
//!
//! With `--json` the first stdout line is one JSON object: `endpoint`,
//! `region`, `accountId`, `buckets`, `accessKeyId`, `accessKeySecret`, and
//! `temporary` (`accessKeyId`, `accessKeySecret`, `securityToken`, valid one
//! hour). It serves until Ctrl-C or SIGTERM, or, with `--stdin-lifeline`,
//! until its stdin closes (so it never outlives the test that started it).
//! Without `--root`
//! the data lives in a temporary folder removed on exit.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use local_runner::oss::{EmulatorConfig, OssEmulator};

fn usage() -> ! {
    eprintln!(
        "usage: oss-serve [--json] [--root DIR] [--port N] [--bucket NAME]... [--region R] [--accept-v1] [--stdin-lifeline]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut json = false;
    let mut root = None;
    let mut port = 0u16;
    let mut buckets = Vec::new();
    let mut region = None;
    let mut accept_v1 = false;
    let mut lifeline = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--accept-v1" => accept_v1 = true,
            "--stdin-lifeline" => lifeline = true,
            "--root" => root = Some(args.next().unwrap_or_else(|| usage())),
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--bucket" => buckets.push(args.next().unwrap_or_else(|| usage())),
            "--region" => region = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    if buckets.is_empty() {
        buckets.push("test-bucket".to_string());
    }
    let temp = match &root {
        Some(_) => None,
        None => match tempfile::tempdir() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("oss-serve: cannot make a temporary folder: {e}");
                std::process::exit(1);
            }
        },
    };
    let root = root
        .map(std::path::PathBuf::from)
        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
        .unwrap_or_else(|| usage());
    let mut config = EmulatorConfig::new(root);
    config.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    config.buckets = buckets;
    config.accept_v1 = accept_v1;
    if let Some(r) = region {
        config.region = r;
    }
    let oss = match OssEmulator::start(config).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("oss-serve: {e}");
            std::process::exit(1);
        }
    };
    let mut info = oss.describe();
    let t = oss.issue_temporary(Duration::from_secs(3600));
    info["temporary"] = serde_json::json!({
        "accessKeyId": t.access_key_id,
        "accessKeySecret": t.access_key_secret,
        "securityToken": t.security_token,
    });
    if json {
        println!("{info}");
    } else {
        println!(
            "OSS emulator at {} (region {})",
            oss.endpoint(),
            oss.region()
        );
        println!("access key id {}", info["accessKeyId"]);
    }

    let stdin_closed = async {
        if !lifeline {
            return std::future::pending().await;
        }
        let _ = tokio::task::spawn_blocking(|| {
            use std::io::Read;
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        })
        .await;
    };
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oss-serve: {e}");
            std::process::exit(1);
        }
    };
    tokio::select! {
        _ = stdin_closed => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    oss.shutdown().await;
    drop(temp);
}
