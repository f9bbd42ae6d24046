//! Test media made at run time from ffmpeg's lavfi sources (cargo feature
//! `testmedia`), for this crate's tests and for other crates' tests. Nothing
//! here is used by the handlers.
//!
//! ```no_run
//! # async fn f() -> vpf_core::Result<()> {
//! use vpf_media::{Tools, testmedia::Clip};
//! let tools = Tools::from_env();
//! let dir = tempfile::tempdir().unwrap();
//! let src = dir.path().join("in.mp4");
//! Clip::new(640, 360).fps(30000, 1001).seconds(4.0).rotation(90).write(&tools, &src).await?;
//! # Ok(()) }
//! ```

use std::io::Write;
use std::path::Path;

use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::probe::probe_json;
use crate::run::{Stdout, args, ffmpeg_base, run};

/// An MP4 clip: H.264 (testsrc2 pattern) and, unless turned off, AAC (a
/// beeping sine). Odd sizes are encoded 4:4:4, since 4:2:0 H.264 needs even
/// sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub width: u32,
    pub height: u32,
    pub fps: (u32, u32),
    pub seconds: f64,
    /// Sample rate; `None` for a clip without audio.
    pub audio_rate: Option<u32>,
    pub channels: u32,
    pub bframes: u32,
    /// Frames between key frames.
    pub gop: u32,
    /// Degrees clockwise players turn the picture (display matrix).
    pub rotation: i32,
    /// Seconds the audio starts after the video (negative: before it).
    pub audio_delay: f64,
    /// Index at the front (moov before mdat).
    pub faststart: bool,
}

impl Clip {
    /// 25 fps, 4 s, AAC 48 kHz stereo, 3 B-frames, a key frame every second.
    pub fn new(width: u32, height: u32) -> Clip {
        Clip {
            width,
            height,
            fps: (25, 1),
            seconds: 4.0,
            audio_rate: Some(48000),
            channels: 2,
            bframes: 3,
            gop: 25,
            rotation: 0,
            audio_delay: 0.0,
            faststart: false,
        }
    }
    /// Frame rate `num/den`; the key-frame interval follows (one per second).
    pub fn fps(mut self, num: u32, den: u32) -> Clip {
        self.fps = (num, den.max(1));
        self.gop = ((num as f64 / den.max(1) as f64).round() as u32).max(1);
        self
    }
    pub fn seconds(mut self, s: f64) -> Clip {
        self.seconds = s;
        self
    }
    pub fn no_audio(mut self) -> Clip {
        self.audio_rate = None;
        self
    }
    pub fn audio(mut self, rate: u32, channels: u32) -> Clip {
        self.audio_rate = Some(rate);
        self.channels = channels;
        self
    }
    pub fn bframes(mut self, n: u32) -> Clip {
        self.bframes = n;
        self
    }
    pub fn gop(mut self, frames: u32) -> Clip {
        self.gop = frames.max(1);
        self
    }
    pub fn rotation(mut self, clockwise: i32) -> Clip {
        self.rotation = clockwise.rem_euclid(360);
        self
    }
    pub fn audio_delay(mut self, seconds: f64) -> Clip {
        self.audio_delay = seconds;
        self
    }
    pub fn faststart(mut self) -> Clip {
        self.faststart = true;
        self
    }

    /// Write the clip to `path` (MP4).
    pub async fn write(&self, tools: &Tools, path: &Path) -> Result<()> {
        let odd = self.width % 2 == 1 || self.height % 2 == 1;
        let pix = if odd { "yuv444p" } else { "yuv420p" };
        let rate = format!("{}/{}", self.fps.0, self.fps.1);
        let video = format!(
            "testsrc2=size={}x{}:rate={rate}:duration={},format={pix}",
            self.width, self.height, self.seconds
        );
        let mut a = ffmpeg_base();
        if self.audio_delay < 0.0 {
            a.extend(args!["-itsoffset", format!("{:.6}", -self.audio_delay)]);
        }
        a.extend(args!["-f", "lavfi", "-i", video]);
        if let Some(sr) = self.audio_rate {
            if self.audio_delay > 0.0 {
                a.extend(args!["-itsoffset", format!("{:.6}", self.audio_delay)]);
            }
            let sine = format!(
                "sine=frequency=440:beep_factor=4:sample_rate={sr}:duration={}",
                self.seconds
            );
            a.extend(args![
                "-f", "lavfi", "-i", sine, "-map", "0:v", "-map", "1:a"
            ]);
            a.extend(args![
                "-c:a",
                "aac",
                "-b:a",
                "96k",
                "-ac",
                self.channels.to_string()
            ]);
        }
        a.extend(args![
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            pix,
            "-bf",
            self.bframes.to_string(),
            "-g",
            self.gop.to_string(),
            "-keyint_min",
            self.gop.to_string(),
            "-sc_threshold",
            "0"
        ]);
        if self.faststart {
            a.extend(args!["-movflags", "+faststart"]);
        }
        let plain = path.with_extension("plain.mp4");
        let first = if self.rotation != 0 {
            plain.as_path()
        } else {
            path
        };
        a.extend(args!["-f", "mp4", first]);
        run(&tools.ffmpeg, &a, Stdout::Ignore)
            .await?
            .check(ErrorKind::Internal, "making a test clip")?;
        if self.rotation != 0 {
            let r = self.add_rotation(tools, &plain, path).await;
            let _ = std::fs::remove_file(&plain);
            r?;
        }
        Ok(())
    }
}

impl Clip {
    /// Copy `plain` to `path` with rotation metadata, by stream copy (when
    /// encoding, ffmpeg 5.1 applies its own idea of a rotate tag). The display
    /// matrix's angle is counter-clockwise, so we ask for the complement.
    /// ffmpeg 5.1 takes it as a `rotate` tag; 6.0 and later as the input
    /// option `-display_rotation`. Whichever this ffmpeg honours is checked.
    async fn add_rotation(&self, tools: &Tools, plain: &Path, path: &Path) -> Result<()> {
        let ccw = ((360 - self.rotation) % 360).to_string();
        let attempts: [(Vec<std::ffi::OsString>, Vec<std::ffi::OsString>); 2] = [
            (vec![], args!["-metadata:s:v:0", format!("rotate={ccw}")]),
            (args!["-display_rotation:v:0", &ccw], vec![]),
        ];
        let mut got = None;
        for (before_input, after_input) in attempts {
            let mut b = ffmpeg_base();
            b.extend(before_input);
            b.extend(args!["-i", plain, "-map", "0", "-c", "copy"]);
            b.extend(after_input);
            if self.faststart {
                b.extend(args!["-movflags", "+faststart"]);
            }
            b.extend(args!["-f", "mp4", path]);
            if !run(&tools.ffmpeg, &b, Stdout::Ignore)
                .await?
                .status
                .success()
            {
                continue;
            }
            let json = probe_json(tools, path).await?;
            got = json
                .streams
                .iter()
                .find(|s| s.is_video())
                .map(|s| s.rotation());
            if got == Some(self.rotation) {
                return Ok(());
            }
        }
        Err(Error::internal(format!(
            "this ffmpeg wrote rotation {got:?} for a requested {}°",
            self.rotation
        )))
    }
}

/// Copy `src` to `dst` starting `start` seconds in, by stream copy: ffmpeg
/// keeps the key frame before `start` and writes an MP4 edit list that hides
/// the frames before it (what phone-trimmed clips look like).
pub async fn trim_with_edit_list(tools: &Tools, src: &Path, dst: &Path, start: f64) -> Result<()> {
    let mut a = ffmpeg_base();
    a.extend(args![
        "-ss",
        format!("{start:.3}"),
        "-i",
        src,
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "mp4",
        dst
    ]);
    run(&tools.ffmpeg, &a, Stdout::Ignore)
        .await?
        .check(ErrorKind::Internal, "trimming a test clip")?;
    Ok(())
}

/// ffmpeg's `idet` over the whole of `path`'s first video stream: frames
/// its single-frame detection calls (interlaced, progressive). Independent of
/// what the pipeline decides; for tests' checks.
pub async fn idet(tools: &Tools, path: &Path) -> Result<(u64, u64)> {
    let a = args![
        "-hide_banner",
        "-nostdin",
        "-i",
        path,
        "-map",
        "0:v:0",
        "-vf",
        "idet",
        "-f",
        "null",
        "-"
    ];
    let out = run(&tools.ffmpeg, &a, Stdout::Ignore).await?;
    let log = out.log.text();
    let line = log
        .lines()
        .find(|l| l.contains("Single frame detection:"))
        .ok_or_else(|| Error::internal(format!("no idet summary: {}", out.log.summary())))?;
    let count = |k: &str| -> u64 {
        line.split(k)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok((count("TFF:") + count("BFF:"), count("Progressive:")))
}

/// An empty file.
pub fn zero_bytes(path: &Path) -> Result<()> {
    std::fs::write(path, b"")?;
    Ok(())
}

/// `len` pseudo-random bytes (fixed seed: the same every run).
pub fn random_bytes(path: &Path, len: usize) -> Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        f.write_all(&[(x >> 24) as u8])?;
    }
    f.flush()?;
    Ok(())
}

/// The first `fraction` of `src`, written to `dst`. A clip written without
/// faststart loses its index (`moov atom not found`); a faststart clip keeps
/// its index but loses media data.
pub fn truncated_copy(src: &Path, dst: &Path, fraction: f64) -> Result<()> {
    use std::io::Read;
    let len = std::fs::metadata(src)?.len();
    let keep = (len as f64 * fraction.clamp(0.0, 1.0)) as u64;
    let mut input = std::fs::File::open(src)?.take(keep);
    let mut out = std::fs::File::create(dst)?;
    std::io::copy(&mut input, &mut out)?;
    Ok(())
}
