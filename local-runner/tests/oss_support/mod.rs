//! Shared by the OSS emulator tests: start an emulator, make a client, make
//! test files.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use local_runner::oss::{EmulatorConfig, FaultPlan, OssEmulator, RunningOss};
use vpf_core::credentials::Credentials;
use vpf_oss::{OssClient, OssConfig, RetryPolicy};

pub const BUCKET: &str = "media-in";

pub async fn start() -> (RunningOss, tempfile::TempDir) {
    start_with(false).await
}

/// An emulator that also accepts V1 signatures, for the peers whose tests
/// sign V1 on purpose (the official clients' default).
pub async fn start_accepting_v1() -> (RunningOss, tempfile::TempDir) {
    start_with(true).await
}

async fn start_with(accept_v1: bool) -> (RunningOss, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = EmulatorConfig::new(dir.path().join("oss"));
    cfg.buckets = vec![BUCKET.to_string(), "media-out".to_string()];
    cfg.accept_v1 = accept_v1;
    let oss = OssEmulator::start(cfg).await.expect("emulator starts");
    (oss, dir)
}

/// What the Python and Node peers are handed (env OSS_EMULATOR_JSON): the
/// emulator's description plus a set of temporary (STS-style) credentials.
pub fn peer_info(oss: &RunningOss) -> serde_json::Value {
    let mut info = oss.describe();
    let t = oss.issue_temporary(std::time::Duration::from_secs(3600));
    info["temporary"] = serde_json::json!({
        "accessKeyId": t.access_key_id,
        "accessKeySecret": t.access_key_secret,
        "securityToken": t.security_token,
    });
    info
}

/// A client with quick retries, so that retry tests stay short.
pub fn client_with(oss: &RunningOss, creds: Credentials) -> OssClient {
    let mut cfg = OssConfig::new(oss.endpoint(), oss.region(), creds);
    cfg.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    OssClient::new(cfg).expect("client")
}

pub fn client(oss: &RunningOss) -> OssClient {
    client_with(oss, oss.credentials())
}

/// An emulator ([`start`]) and a client of its owner ([`client`]).
pub async fn start_with_client() -> (RunningOss, tempfile::TempDir, OssClient) {
    let (oss, dir) = start().await;
    let c = client(&oss);
    (oss, dir, c)
}

/// A client of the owner that uploads in `part_size` parts, `concurrency`
/// at a time, above `threshold` bytes, and retries after `base_delay`.
pub fn multipart_client(
    oss: &RunningOss,
    threshold: u64,
    part_size: u64,
    concurrency: usize,
    base_delay: Duration,
) -> OssClient {
    let mut cfg = OssConfig::new(oss.endpoint(), oss.region(), oss.credentials());
    cfg.multipart_threshold = threshold;
    cfg.part_size = part_size;
    cfg.part_concurrency = concurrency;
    cfg.retry.base_delay = base_delay;
    OssClient::new(cfg).expect("client")
}

/// The next `n` requests get 503.
pub fn fail_next(n: u32) -> FaultPlan {
    FaultPlan {
        fail_next_n_with_503: n,
        ..FaultPlan::default()
    }
}

/// The next `n` UploadPart requests get 503.
pub fn fail_next_parts(n: u32) -> FaultPlan {
    FaultPlan {
        fail_next_n_part_uploads_with_503: n,
        ..FaultPlan::default()
    }
}

/// The next `n` downloads drop their connection after `after` bytes.
pub fn cut_downloads(n: u32, after: u64) -> FaultPlan {
    FaultPlan {
        cut_next_n_downloads: n,
        cut_after_bytes: after,
        ..FaultPlan::default()
    }
}

/// A signed request to `bucket` with any headers (repeats kept) and body,
/// sent; its answer.
pub async fn signed_to(
    c: &OssClient,
    method: Method,
    bucket: &str,
    key: Option<&str>,
    query: &[(&str, &str)],
    headers: &[(&'static str, &str)],
    body: Bytes,
) -> reqwest::Response {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(
            HeaderName::from_static(k),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let req = c
        .signed_request(method, bucket, key, query, h, body)
        .await
        .unwrap();
    c.http().execute(req).await.unwrap()
}

/// [`signed_to`] the test bucket.
pub async fn signed(
    c: &OssClient,
    method: Method,
    key: Option<&str>,
    query: &[(&str, &str)],
    headers: &[(&'static str, &str)],
    body: Bytes,
) -> reqwest::Response {
    signed_to(c, method, BUCKET, key, query, headers, body).await
}

/// `size` bytes of cheap pseudo-random data, written 1 MiB at a time.
pub fn random_file(path: &Path, size: u64, seed: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut x = seed | 1;
    let mut left = size;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).expect("write");
        left -= n as u64;
    }
    f.flush().expect("flush");
}

/// Compare two files without reading either whole.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(fa), Ok(fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut ra, mut rb) = (std::io::BufReader::new(fa), std::io::BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut ra, &mut ba);
        let nb = read_full(&mut rb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
    fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            match r.read(&mut buf[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        n
    }
}

/// Files under `dir`, recursively (to prove nothing was left behind).
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Send `head` and then up to `total` body bytes from `body` (repeated),
/// reading the answer at the same time: the emulator may answer and hang
/// up before the body is all sent. Returns the answer as text.
pub async fn raw_exchange(
    addr: std::net::SocketAddr,
    head: String,
    body: &'static [u8],
    total: u64,
) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let mut sent = 0u64;
        while sent < total {
            let n = body.len().min((total - sent) as usize);
            wr.write_all(&body[..n]).await?;
            sent += n as u64;
        }
        Ok::<_, std::io::Error>(sent)
    });
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        if let Some(end) = find(&answer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                break;
            }
        }
    }
    writer.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `VmHWM` (peak resident set) or `VmRSS` of this process (where the
/// emulator runs), in KiB.
pub fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("field present")
}

/// Open descriptors of this process.
pub fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// An emulator with short deadlines (1 s for headers, 1 s between body
/// bytes) and a cap of 32 connections.
pub async fn start_strict() -> (local_runner::oss::RunningOss, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = local_runner::oss::EmulatorConfig::new(dir.path().join("oss"));
    cfg.buckets = vec![BUCKET.to_string()];
    cfg.limits = local_runner::serve::ServeLimits {
        header_read_timeout: std::time::Duration::from_secs(1),
        body_idle_timeout: std::time::Duration::from_secs(1),
        max_connections: 32,
    };
    let oss = local_runner::oss::OssEmulator::start(cfg).await.unwrap();
    (oss, dir)
}

/// Wait (bounded) until `f` holds; false if it never did.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..300 {
        if f() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    f()
}
