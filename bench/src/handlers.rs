//! (f) Handler cold start: from exec to the first `POST /invoke` answered,
//! as FC sees a new instance, and the resident memory of an idle handler.
//!
//! Each trial starts the release binary on a free port (the FC custom-runtime
//! contract: `FC_SERVER_PORT`), sends a tiny malformed event as soon as a
//! connection is accepted, and stops the clock when the answer's status line
//! arrives (a 404 with `x-fc-status: 404`: the event is refused, the handler
//! is up). Then it reads VmRSS a moment later, and stops the process.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::media::R;
use crate::procfs;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColdStart {
    pub function: String,
    pub ready_ms: Vec<f64>,
    pub idle_rss_kb: Vec<u64>,
    /// Status line and x-fc-status of the first answer.
    pub answer: String,
}

impl ColdStart {
    pub fn median_ms(&self) -> f64 {
        median(&self.ready_ms)
    }
    pub fn median_rss_kb(&self) -> f64 {
        median(
            &self
                .idle_rss_kb
                .iter()
                .map(|&k| k as f64)
                .collect::<Vec<_>>(),
        )
    }
}

pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn free_port() -> R<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// The request FC would send, with a body no handler accepts.
pub fn malformed_invoke() -> &'static [u8] {
    b"POST /invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nx-fc-request-id: bench-cold-start\r\n\
x-fc-region: cn-hangzhou\r\nx-fc-access-key-id: AK\r\nx-fc-access-key-secret: SK\r\n\
content-type: application/json\r\ncontent-length: 1\r\nconnection: close\r\n\r\n{"
}

/// Status line and `x-fc-status` of an HTTP answer.
pub fn parse_answer(resp: &str) -> String {
    let status = resp.lines().next().unwrap_or("").trim().to_string();
    let fc = resp
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("x-fc-status")
                .then(|| v.trim().to_string())
        });
    match fc {
        Some(v) => format!("{status}; x-fc-status: {v}"),
        None => status,
    }
}

/// One trial: exec → answered, then idle RSS.
pub fn trial(bin: &Path, nas: &Path) -> R<(f64, u64, String)> {
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FC_SERVER_PORT", port.to_string())
        .env("FC_SERVER_HOST", "127.0.0.1")
        .env("FLOW_NAME", "video-process-flow")
        .env("FLOW_ENDPOINT", "http://127.0.0.1:9")
        .env("OSS_ENDPOINT", "http://127.0.0.1:9")
        .env("INPUT_PREFIX", "source/")
        .env("OUTPUT_PREFIX", "dest/")
        .env("NAS_MOUNT_DIR", nas)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let result = (|| {
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!(
                    "{} exited with {st} before answering",
                    bin.display()
                ));
            }
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(format!("{} did not answer within 10 s", bin.display()));
            }
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            };
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            s.write_all(malformed_invoke()).map_err(|e| e.to_string())?;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Until the end of the headers: that is the answer.
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            return Ok((ms, parse_answer(&String::from_utf8_lossy(&buf))));
        }
    })();
    // Idle: the call is over and the process waits for the next.
    std::thread::sleep(Duration::from_millis(300));
    let rss = procfs::status_kb(child.id(), "VmRSS").unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let (ms, answer) = result?;
    Ok((ms, rss, answer))
}

pub fn measure(bin_dir: &Path, function: &str, trials: usize, nas: &Path) -> R<ColdStart> {
    let bin = bin_dir.join(function);
    let mut c = ColdStart {
        function: function.to_string(),
        ready_ms: Vec::new(),
        idle_rss_kb: Vec::new(),
        answer: String::new(),
    };
    for _ in 0..trials {
        let (ms, rss, answer) = trial(&bin, nas)?;
        c.ready_ms.push(ms);
        c.idle_rss_kb.push(rss);
        if c.answer.is_empty() {
            c.answer = answer;
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_keeps_status_and_fc_status() {
        let r = "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\nX-Fc-Status: 404\r\n\r\n{}";
        assert_eq!(parse_answer(r), "HTTP/1.1 404 Not Found; x-fc-status: 404");
        assert_eq!(parse_answer("HTTP/1.1 200 OK\r\n\r\n"), "HTTP/1.1 200 OK");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
