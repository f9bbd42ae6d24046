//! Shared by the OSS emulator tests: start an emulator, make a client, make
//! test files.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use local_runner::oss::{EmulatorConfig, OssEmulator, RunningOss};
use vpf_core::credentials::Credentials;
use vpf_oss::{OssClient, OssConfig, RetryPolicy};

pub const BUCKET: &str = "media-in";

pub async fn start() -> (RunningOss, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = EmulatorConfig::new(dir.path().join("oss"));
    cfg.buckets = vec![BUCKET.to_string(), "media-out".to_string()];
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
