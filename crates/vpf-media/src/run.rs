//! Running ffmpeg and ffprobe: the only place a media process is started.
//!
//! Processes run under `tokio::process` with `kill_on_drop`, so a handler whose
//! future is dropped (FC timeout, shutdown) takes its ffmpeg down with it.
//! ffmpeg-sidecar's own child (`FfmpegChild` and its event iterator) is built
//! on `std::process` and blocking reader threads: it cannot be awaited and does
//! not die with the future, so we do not use it to run anything. We do use
//! sidecar where it fits an async design: its parsers for ffmpeg's progress
//! lines and version line. Every argument list starts from [`ffmpeg_base`]
//! (or [`ffprobe_video`]) and is built with `args!`.
//! Success is always judged by the exit status, never by progress lines.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use ffmpeg_sidecar::event::FfmpegProgress;
use ffmpeg_sidecar::log_parser::try_parse_progress;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use vpf_core::{Error, ErrorKind, Result};

/// Lines of stderr kept for error messages.
const TAIL_LINES: usize = 40;
/// Longest stderr line kept (ffmpeg can print very long lines on garbage input).
const MAX_LINE: usize = 400;
/// ffprobe JSON larger than this is refused (a hostile file with huge tags).
const MAX_STDOUT: usize = 16 << 20;

/// What to do with the child's stdout.
pub(crate) enum Stdout<'a> {
    Ignore,
    /// Keep it (small outputs only: ffprobe JSON).
    Capture,
    /// Hand over each line as it arrives (long listings, never held whole).
    Lines(&'a mut (dyn FnMut(&str) + Send)),
}

/// A finished process.
pub(crate) struct Outcome {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub log: Log,
}

/// The tail of stderr, with ffmpeg's progress lines parsed out of it.
#[derive(Default)]
pub(crate) struct Log {
    tail: VecDeque<String>,
    /// The last progress report (`frame=... time=...`), if ffmpeg printed one.
    pub progress: Option<FfmpegProgress>,
}

impl Log {
    fn push(&mut self, raw: &[u8]) {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if let Some(p) = try_parse_progress(line) {
            tracing::trace!(frame = p.frame, time = %p.time, speed = p.speed, "ffmpeg progress");
            self.progress = Some(p);
            return;
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        let mut end = line.len().min(MAX_LINE);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        self.tail.push_back(line[..end].to_string());
    }

    /// Lines at level error or worse. With `-loglevel level+...` ffmpeg tags
    /// them `[error]`/`[fatal]`; ffprobe at `-v error` prints nothing else.
    pub fn errors(&self, untagged_are_errors: bool) -> Vec<String> {
        self.tail
            .iter()
            .filter(|l| {
                l.contains("[error]")
                    || l.contains("[fatal]")
                    || (untagged_are_errors && !l.contains("[warning]") && !l.contains("[info]"))
            })
            .map(|l| clean(l))
            .collect()
    }

    /// The kept tail of stderr, one line each.
    pub fn text(&self) -> String {
        self.tail
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A short, readable account of what went wrong: the last error lines, or
    /// the last lines of any kind when none is tagged as an error.
    pub fn summary(&self) -> String {
        let mut picked: Vec<String> = self.errors(false);
        if picked.is_empty() {
            picked = self.tail.iter().map(|l| clean(l)).collect();
        }
        let start = picked.len().saturating_sub(4);
        let mut s = picked[start..].join("; ");
        if s.len() > 1200 {
            let mut cut = 1200;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        if s.is_empty() {
            s = "no message".into();
        }
        s
    }
}

/// Drop ffmpeg's `[demuxer @ 0x55d1...] [error] ` decorations.
fn clean(line: &str) -> String {
    let mut rest = line.trim();
    while let Some(after) = rest.strip_prefix('[') {
        let Some(close) = after.find(']') else { break };
        let tag = &after[..close];
        let is_decoration = tag.contains(" @ 0x")
            || matches!(
                tag,
                "error" | "fatal" | "warning" | "info" | "panic" | "verbose" | "debug"
            );
        if !is_decoration {
            break;
        }
        rest = after[close + 1..].trim_start();
    }
    rest.to_string()
}

impl Outcome {
    /// `Ok(self)` when the process exited 0; otherwise an error of `kind`
    /// saying what we were doing and the tail of stderr.
    pub fn check(self, kind: ErrorKind, what: &str) -> Result<Outcome> {
        if self.status.success() {
            return Ok(self);
        }
        Err(self.failure(kind, what))
    }

    /// [`Outcome::check`], and fail as well when the process printed error
    /// lines: decoders report damage and go on, exiting 0. ffprobe at `-v
    /// error` prints nothing else, so its untagged lines count as errors.
    pub fn check_clean(
        self,
        kind: ErrorKind,
        what: &str,
        untagged_are_errors: bool,
    ) -> Result<Outcome> {
        let out = self.check(kind, what)?;
        let errors = out.log.errors(untagged_are_errors);
        if errors.is_empty() {
            return Ok(out);
        }
        Err(Error::new(
            kind,
            format!("{what} reported errors: {}", errors.join("; ")),
        ))
    }

    pub fn failure(&self, kind: ErrorKind, what: &str) -> Error {
        let summary = self.log.summary();
        let how = match self.status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        };
        // A full disk is not the media's fault, and retrying may help once
        // another job has been cleaned up.
        let kind = if summary.contains("No space left on device") {
            ErrorKind::Internal
        } else {
            kind
        };
        Error::new(kind, format!("{what} failed ({how}): {summary}"))
    }
}

/// Run `program args`, stdin closed, and wait for it.
pub(crate) async fn run(program: &Path, args: &[OsString], stdout: Stdout<'_>) -> Result<Outcome> {
    tracing::debug!(program = %program.display(), args = ?args, "running");
    let started = std::time::Instant::now();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(match stdout {
            Stdout::Ignore => Stdio::null(),
            _ => Stdio::piped(),
        })
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        Error::internal(format!(
            "cannot start {}: {e} (set FFMPEG_PATH / FFPROBE_PATH)",
            program.display()
        ))
    })?;
    let err_pipe = child.stderr.take();
    let out_pipe = child.stdout.take();

    let read_err = async {
        let mut log = Log::default();
        if let Some(pipe) = err_pipe {
            read_lines(pipe, |l| log.push(l)).await;
        }
        log
    };
    let read_out = async {
        match (stdout, out_pipe) {
            (Stdout::Capture, Some(pipe)) => {
                let mut buf = Vec::new();
                let mut limited = pipe.take(MAX_STDOUT as u64 + 1);
                limited.read_to_end(&mut buf).await.map(|_| buf)
            }
            (Stdout::Lines(f), Some(pipe)) => {
                let mut lines = BufReader::new(pipe).lines();
                loop {
                    match lines.next_line().await {
                        Ok(Some(l)) => f(&l),
                        Ok(None) => break Ok(Vec::new()),
                        Err(e) => break Err(e),
                    }
                }
            }
            _ => Ok(Vec::new()),
        }
    };
    let (log, out) = tokio::join!(read_err, read_out);
    let out = match out {
        Ok(o) if o.len() > MAX_STDOUT => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(Error::corrupt(format!(
                "{} printed more than {MAX_STDOUT} bytes; refusing to parse it",
                program.display()
            )));
        }
        Ok(o) => o,
        Err(e) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(Error::internal(format!(
                "reading {} output: {e}",
                program.display()
            )));
        }
    };
    let status = child
        .wait()
        .await
        .map_err(|e| Error::internal(format!("waiting for {}: {e}", program.display())))?;
    // Where a step's time goes (the benchmark's breakdown): one line per process.
    tracing::debug!(
        program = %program.display(),
        seconds = started.elapsed().as_secs_f64(),
        %status,
        "finished"
    );
    Ok(Outcome {
        status,
        stdout: out,
        log,
    })
}

/// Split a byte stream on `\n` and `\r` (ffmpeg ends progress lines with `\r`).
async fn read_lines<R: AsyncRead + Unpin>(mut pipe: R, mut f: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' || b == b'\r' {
                if !line.is_empty() {
                    f(&line);
                    line.clear();
                }
            } else if line.len() < 4 * MAX_LINE {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        f(&line);
    }
}

/// An ffprobe run over the first real video stream (an attached picture is
/// not one), reporting errors only; `rest` says what to show, of which file.
pub(crate) fn ffprobe_video(rest: Vec<OsString>) -> Vec<OsString> {
    let mut a: Vec<OsString> = ["-v", "error", "-select_streams", "V:0"]
        .into_iter()
        .map(OsString::from)
        .collect();
    a.extend(rest);
    a
}

/// Arguments every ffmpeg run starts with: quiet banner, no stdin, overwrite
/// (outputs are always our own temporary names), warnings and errors tagged
/// with their level, and progress lines.
pub(crate) fn ffmpeg_base() -> Vec<OsString> {
    [
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "level+warning",
        "-stats",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

/// Input options (before the `-i`) that keep a file's timestamps as they
/// are and shift them so that `zero` seconds of its timeline, the output's
/// zero, is at zero. Without `-copyts` ffmpeg shifts by the file's start,
/// which any stream starting earlier sets.
pub(crate) fn zeroed_at(zero: f64) -> Vec<OsString> {
    [
        "-copyts".into(),
        "-itsoffset".into(),
        format!("{:.6}", -zero).into(),
    ]
    .into()
}

/// Build an argument list from string-likes.
macro_rules! args {
    ($($a:expr),* $(,)?) => {{
        let v: Vec<std::ffi::OsString> = vec![$(std::ffi::OsString::from($a)),*];
        v
    }};
}
pub(crate) use args;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decorations_are_dropped() {
        assert_eq!(
            clean("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55b78b95e8c0] [error] moov atom not found"),
            "moov atom not found"
        );
        assert_eq!(clean("[error] a.mp4: Invalid data"), "a.mp4: Invalid data");
        assert_eq!(clean("[x] kept"), "[x] kept");
    }

    #[test]
    fn progress_is_parsed_out_of_the_tail() {
        let mut log = Log::default();
        log.push(b"[h264 @ 0x1] [warning] something odd");
        log.push(b"frame=  180 fps=0.0 q=-0.0 Lsize=N/A time=00:00:06.00 bitrate=N/A speed=74.5x");
        log.push(b"[error] out.mp4: No space left on device");
        assert_eq!(log.progress.as_ref().map(|p| p.frame), Some(180));
        assert_eq!(
            log.errors(false),
            vec!["out.mp4: No space left on device".to_string()]
        );
        assert!(log.summary().contains("No space left"));
    }
}
