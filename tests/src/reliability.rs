//! Helpers of the reliability suite (`tests/tests/reliability_*.rs`): the
//! table of cases and outcomes each test prints, looks into `/proc` for
//! processes a system left behind, and small waits and fetches.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Rows `case | expected | outcome` of one group of cases. `finish` prints
/// them as a markdown table (run with `--nocapture` to see it) and writes it
/// to `target/reliability/<group>.md`, so `cat target/reliability/*.md` gives
/// the whole suite's table after a run.
pub struct Report {
    group: String,
    rows: Vec<[String; 3]>,
}

impl Report {
    pub fn new(group: &str) -> Report {
        Report {
            group: group.to_string(),
            rows: Vec::new(),
        }
    }

    /// Record a case whose checks passed (call it after the asserts).
    pub fn row(&mut self, case: &str, expected: &str, outcome: impl Into<String>) {
        let clean = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        self.rows
            .push([clean(case), clean(expected), clean(&outcome.into())]);
    }

    pub fn finish(self) {
        let mut t = String::new();
        let _ = writeln!(t, "| case | expected | outcome |");
        let _ = writeln!(t, "| --- | --- | --- |");
        for [c, e, o] in &self.rows {
            let _ = writeln!(t, "| {c} | {e} | {o} |");
        }
        println!("\nreliability: {}\n{t}", self.group);
        let dir = crate::bin_dir()
            .parent()
            .map(|p| p.join("reliability"))
            .unwrap_or_else(|| PathBuf::from("reliability"));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{}.md", self.group)), t);
    }
}

/// A live process (not a zombie) and its command line.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub cmdline: String,
}

fn stat_fields(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Every live process, with its parent and command line (NULs as spaces).
pub fn processes() -> Vec<Proc> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Some((state, ppid)) = stat_fields(pid) else {
            continue;
        };
        // A zombie has exited; it only waits for a reaper.
        if matches!(state, 'Z' | 'X') {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        out.push(Proc { pid, ppid, cmdline });
    }
    out
}

/// Live processes whose command line or environment mentions `needle`
/// (a state dir: handler instances carry it in `NAS_MOUNT_DIR`, ffmpeg in
/// its file arguments). The test process itself is left out.
pub fn processes_mentioning(needle: &Path) -> Vec<Proc> {
    let needle = needle.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    processes()
        .into_iter()
        .filter(|p| p.pid != me)
        .filter(|p| {
            p.cmdline.contains(&needle)
                || std::fs::read(format!("/proc/{}/environ", p.pid))
                    .map(|b| String::from_utf8_lossy(&b).contains(&needle))
                    .unwrap_or(false)
        })
        .collect()
}

/// Poll `check` every 20 ms until it holds or `limit` passes; the last value.
/// Asserts that within 5 s no process (a handler, an ffmpeg) names `state`
/// in its command line or environment: killed process groups leave the
/// process table a moment after the event that killed them, so wait for the
/// state asserted rather than read it at once.
pub async fn assert_no_process_left(state: &Path) {
    let left = eventually(Duration::from_secs(5), || {
        processes_mentioning(state).is_empty().then_some(())
    })
    .await;
    assert!(
        left.is_some(),
        "left running: {:?}",
        processes_mentioning(state)
    );
}

pub async fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|rd| rd.count())
        .unwrap_or(0)
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(rel) = p.strip_prefix(base) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Where `needles` occur in `text`; an occurrence followed by `<redacted>`
/// is the redaction itself, not a leak.
pub fn leaks(text: &str, needles: &[String]) -> Vec<String> {
    let mut hits = Vec::new();
    for n in needles.iter().filter(|n| !n.is_empty()) {
        let leaked = text
            .match_indices(n.as_str())
            .any(|(i, _)| !text[i + n.len()..].starts_with("<redacted>"));
        if leaked {
            hits.push(n.clone());
        }
    }
    hits
}

/// Every file under `dir` that leaks one of `needles` (see [`leaks`]).
pub fn files_leaking(dir: &Path, needles: &[String]) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    for rel in files_under(dir) {
        let Ok(bytes) = std::fs::read(dir.join(&rel)) else {
            continue;
        };
        for n in leaks(&String::from_utf8_lossy(&bytes), needles) {
            hits.push((rel.clone(), n));
        }
    }
    hits
}

/// Markers of a credential or a signature with its value: the V4
/// authorization header, presigned and V1 query signatures, the FC
/// credential headers, security tokens in headers and queries.
pub const SECRET_MARKERS: [&str; 8] = [
    "OSS4-HMAC-SHA256 Credential=",
    "Signature=",
    "x-oss-signature=",
    "x-fc-access-key-secret",
    "x-fc-security-token",
    "x-oss-security-token:",
    "x-oss-security-token=",
    "SecurityToken=",
];
