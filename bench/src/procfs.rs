//! What /proc says: memory of a process, our child processes, the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

/// A `kB` field of `/proc/<pid>/status`, e.g. `VmRSS` (resident now) or
/// `VmHWM` (the most it was resident: the peak).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&text, field)
}

pub fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let v = l.strip_prefix(field)?.strip_prefix(':')?;
        v.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The parent pid from the text of `/proc/<pid>/stat` (the command name in
/// parentheses may itself hold spaces and parentheses).
pub fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Live child processes of this process, with their executable.
pub fn children() -> Vec<(u32, PathBuf)> {
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if parse_ppid(&stat) != Some(me) {
            continue;
        }
        if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
            out.push((pid, exe));
        }
    }
    out
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub ffmpeg: String,
    pub libvmaf: bool,
    pub commit: String,
    pub date: String,
}

impl Machine {
    pub fn read(ffmpeg: &Path, repo: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|v| v.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb = parse_status_kb(&meminfo, "MemTotal").unwrap_or(0);
        let out = |cmd: &mut Command| {
            cmd.output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let ffmpeg_version = out(Command::new(ffmpeg).args(["-hide_banner", "-version"]));
        let filters = out(Command::new(ffmpeg).args(["-hide_banner", "-filters"]));
        let commit =
            out(Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(["rev-parse", "--short", "HEAD"]));
        let dirty = !out(Command::new("git").arg("-C").arg(repo).args([
            "status",
            "--porcelain",
            "--untracked-files=no",
        ]))
        .trim()
        .is_empty();
        Machine {
            cpu_model,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_gib: mem_kb as f64 / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            ffmpeg: ffmpeg_version
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
            libvmaf: filters.split_whitespace().any(|w| w == "libvmaf"),
            commit: match commit.trim() {
                "" => "unknown".into(),
                c if dirty => format!("{c} (with uncommitted changes)"),
                c => c.to_string(),
            },
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_in_kb() {
        let s = "Name:\tsplit\nVmHWM:\t   10520 kB\nVmRSS:\t    8112 kB\n";
        assert_eq!(parse_status_kb(s, "VmHWM"), Some(10520));
        assert_eq!(parse_status_kb(s, "VmRSS"), Some(8112));
        assert_eq!(parse_status_kb(s, "VmSwap"), None);
    }

    #[test]
    fn ppid_after_a_name_with_parentheses() {
        assert_eq!(parse_ppid("123 (a) b) S 45 123 123 0"), Some(45));
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn a_child_is_seen_with_its_exe() {
        let mut c = Command::new("sleep").arg("5").spawn().unwrap();
        let pid = c.id();
        let seen = children().into_iter().find(|(p, _)| *p == pid);
        c.kill().unwrap();
        c.wait().unwrap();
        let (_, exe) = seen.expect("child listed");
        assert!(exe.to_string_lossy().contains("sleep"), "{exe:?}");
        assert!(status_kb(std::process::id(), "VmRSS").unwrap() > 0);
    }
}
