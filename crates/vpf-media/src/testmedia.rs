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

use vpf_core::watermark::Placement;
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
    /// A flat mid-grey picture instead of the test pattern (marks laid
    /// over it are easy to find).
    pub grey: bool,
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
            grey: false,
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
    pub fn grey(mut self) -> Clip {
        self.grey = true;
        self
    }

    /// Write the clip to `path` (MP4).
    pub async fn write(&self, tools: &Tools, path: &Path) -> Result<()> {
        let odd = self.width % 2 == 1 || self.height % 2 == 1;
        let pix = if odd { "yuv444p" } else { "yuv420p" };
        let rate = format!("{}/{}", self.fps.0, self.fps.1);
        let pattern = if self.grey {
            "color=c=0x808080:"
        } else {
            "testsrc2="
        };
        let video = format!(
            "{pattern}size={}x{}:rate={rate}:duration={},format={pix}",
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

/// A file of sound alone: a steady sine, optionally with white noise,
/// in the container and codec its extension names (mp3, m4a, aac, wav,
/// flac, ogg: Vorbis, opus).
#[derive(Debug, Clone, PartialEq)]
pub struct Sound {
    pub seconds: f64,
    pub rate: u32,
    pub channels: u32,
    pub hz: u32,
    /// The sine's level, dBFS peak.
    pub tone_db: f64,
    /// White noise's peak amplitude added to the sine (0: none).
    pub noise: f64,
}

impl Sound {
    pub fn new(seconds: f64) -> Sound {
        Sound {
            seconds,
            rate: 48000,
            channels: 2,
            hz: 440,
            tone_db: -18.0,
            noise: 0.0,
        }
    }
    pub fn rate(mut self, rate: u32) -> Sound {
        self.rate = rate;
        self
    }
    pub fn channels(mut self, channels: u32) -> Sound {
        self.channels = channels;
        self
    }
    pub fn tone_db(mut self, db: f64) -> Sound {
        self.tone_db = db;
        self
    }
    pub fn noise(mut self, amplitude: f64) -> Sound {
        self.noise = amplitude;
        self
    }

    /// Write the sound to `path`, encoded as its extension says.
    pub async fn write(&self, tools: &Tools, path: &Path) -> Result<()> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let codec: &[&str] = match ext.as_str() {
            "mp3" => &["-c:a", "libmp3lame", "-b:a", "192k"],
            "m4a" => &["-c:a", "aac", "-b:a", "192k", "-f", "mp4"],
            "aac" => &["-c:a", "aac", "-b:a", "192k", "-f", "adts"],
            "wav" => &["-c:a", "pcm_s16le"],
            "flac" => &["-c:a", "flac"],
            "ogg" => &["-c:a", "libvorbis", "-q:a", "5"],
            "opus" => &["-c:a", "libopus", "-b:a", "128k"],
            other => {
                return Err(Error::invalid(format!(
                    "no test sound for the extension {other:?}"
                )));
            }
        };
        let (rate, seconds) = (self.rate, self.seconds);
        // Sine's amplitude is 1/8 (-18 dBFS): the volume makes up the rest.
        let tone = format!(
            "sine=frequency={}:sample_rate={rate}:duration={seconds},volume={}dB",
            self.hz,
            self.tone_db + 18.0
        );
        let layout = if self.channels == 1 { "mono" } else { "stereo" };
        let graph = match self.noise > 0.0 {
            true => format!(
                "{tone}[t];anoisesrc=color=white:amplitude={}:sample_rate={rate}:duration={seconds}:seed=7[n];[t][n]amix=inputs=2:normalize=0,aformat=channel_layouts={layout}[out0]",
                self.noise
            ),
            false => format!("{tone},aformat=channel_layouts={layout}"),
        };
        let mut a = ffmpeg_base();
        a.extend(args!["-f", "lavfi", "-i", graph]);
        a.extend(codec.iter().copied().map(std::ffi::OsString::from));
        a.extend(args![path]);
        run(&tools.ffmpeg, &a, Stdout::Ignore)
            .await?
            .check(ErrorKind::Internal, "writing the test sound")?;
        Ok(())
    }
}

/// One audio track of a [`TrackClip`]: a steady sine, so that each track
/// can be told from the others by its pitch.
#[derive(Debug, Clone, PartialEq)]
pub struct Tone {
    pub language: Option<String>,
    pub hz: u32,
    /// Flagged as the default track.
    pub default: bool,
}

impl Tone {
    pub fn new(language: &str, hz: u32) -> Tone {
        Tone {
            language: Some(language.into()),
            hz,
            default: false,
        }
    }
    pub fn default_track(mut self) -> Tone {
        self.default = true;
        self
    }
}

/// How a [`Subs`] track is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubFormat {
    /// SubRip (Matroska).
    Srt,
    /// ASS (Matroska), cues as dialogue lines of the default style.
    Ass,
    /// 3GPP timed text (MP4).
    MovText,
    /// Blu-ray PGS pictures (Matroska): a bitmap subtitle, one small
    /// rectangle per cue (its text is not drawn).
    Pgs,
}

/// One subtitle track of a [`TrackClip`]: (start, end, text) in seconds on
/// the file's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Subs {
    pub format: SubFormat,
    pub language: Option<String>,
    pub cues: Vec<(f64, f64, String)>,
}

impl Subs {
    pub fn new(format: SubFormat, language: &str, cues: &[(f64, f64, &str)]) -> Subs {
        Subs {
            format,
            language: Some(language.into()),
            cues: cues
                .iter()
                .map(|&(a, b, t)| (a, b, t.to_string()))
                .collect(),
        }
    }
}

/// A clip with several audio tracks and subtitle tracks, in MP4 or
/// Matroska (by the path's extension): H.264 video (testsrc2, 25 fps, a key
/// frame a second) starting `video_delay` seconds after the other tracks,
/// which start at 0 and end with the video.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackClip {
    pub width: u32,
    pub height: u32,
    pub seconds: f64,
    pub video_delay: f64,
    pub audio: Vec<Tone>,
    pub subtitles: Vec<Subs>,
}

fn srt_time(t: f64) -> String {
    let ms = (t * 1000.0).round() as i64;
    format!(
        "{:02}:{:02}:{:02},{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn ass_time(t: f64) -> String {
    let cs = (t * 100.0).round() as i64;
    format!(
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        cs / 6000 % 60,
        cs / 100 % 60,
        cs % 100
    )
}

/// A PGS stream (`.sup`): per cue, a display set showing an 8x2 rectangle
/// at its start and one clearing it at its end.
fn pgs(cues: &[(f64, f64, String)]) -> Vec<u8> {
    fn segment(out: &mut Vec<u8>, pts: u32, kind: u8, payload: &[u8]) {
        out.extend_from_slice(b"PG");
        out.extend_from_slice(&pts.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.push(kind);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend_from_slice(payload);
    }
    let mut out = Vec::new();
    for (n, (start, end, _)) in cues.iter().enumerate() {
        for (show, t) in [(true, start), (false, end)] {
            let pts = (t * 90_000.0).round() as u32;
            let number = (2 * n + usize::from(!show)) as u16;
            // Presentation composition: 320x240, epoch start or clear.
            let mut pcs = vec![1, 64, 0, 240, 0x10];
            pcs.extend_from_slice(&number.to_be_bytes());
            pcs.extend_from_slice(&[if show { 0x80 } else { 0 }, 0, 0, u8::from(show)]);
            if show {
                pcs.extend_from_slice(&[0, 0, 0, 0, 0, 10, 0, 200]);
            }
            segment(&mut out, pts, 0x16, &pcs);
            segment(&mut out, pts, 0x17, &[1, 0, 0, 10, 0, 200, 0, 8, 0, 2]);
            if show {
                segment(&mut out, pts, 0x14, &[0, 0, 1, 235, 128, 128, 255]);
                let mut rle = Vec::new();
                for _ in 0..2 {
                    rle.extend_from_slice(&[1; 8]);
                    rle.extend_from_slice(&[0, 0]);
                }
                let mut data = vec![0, 8, 0, 2];
                data.extend_from_slice(&rle);
                let mut ods = vec![0, 0, 0, 0xC0];
                ods.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
                ods.extend_from_slice(&data);
                segment(&mut out, pts, 0x15, &ods);
            }
            segment(&mut out, pts, 0x80, &[]);
        }
    }
    out
}

impl TrackClip {
    /// 320x240, 4 s, no audio or subtitles yet.
    pub fn new(seconds: f64) -> TrackClip {
        TrackClip {
            width: 320,
            height: 240,
            seconds,
            video_delay: 0.0,
            audio: Vec::new(),
            subtitles: Vec::new(),
        }
    }
    pub fn video_delay(mut self, seconds: f64) -> TrackClip {
        self.video_delay = seconds;
        self
    }
    pub fn tone(mut self, t: Tone) -> TrackClip {
        self.audio.push(t);
        self
    }
    pub fn subs(mut self, s: Subs) -> TrackClip {
        self.subtitles.push(s);
        self
    }

    /// Write the clip to `path` (`.mp4`: MP4, otherwise Matroska); the
    /// subtitle sources are written beside it and removed.
    pub async fn write(&self, tools: &Tools, path: &Path) -> Result<()> {
        let mp4 = path.extension().is_some_and(|e| e == "mp4");
        let total = self.seconds + self.video_delay;
        let mut a = ffmpeg_base();
        if self.video_delay > 0.0 {
            a.extend(args!["-itsoffset", format!("{:.6}", self.video_delay)]);
        }
        let video = format!(
            "testsrc2=size={}x{}:rate=25:duration={}",
            self.width, self.height, self.seconds
        );
        a.extend(args!["-f", "lavfi", "-i", video]);
        for t in &self.audio {
            let sine = format!("sine=frequency={}:sample_rate=48000:duration={total}", t.hz);
            a.extend(args!["-f", "lavfi", "-i", sine]);
        }
        let mut written = Vec::new();
        for (i, s) in self.subtitles.iter().enumerate() {
            let (ext, body): (&str, Vec<u8>) = match s.format {
                SubFormat::Srt | SubFormat::MovText => {
                    let mut t = String::new();
                    for (n, (a, b, text)) in s.cues.iter().enumerate() {
                        t.push_str(&format!(
                            "{}
{} --> {}
{text}

",
                            n + 1,
                            srt_time(*a),
                            srt_time(*b)
                        ));
                    }
                    ("srt", t.into_bytes())
                }
                SubFormat::Ass => {
                    let mut t = String::from(
                        "[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
                         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
                         Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

                         [Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
",
                    );
                    for (a, b, text) in &s.cues {
                        t.push_str(&format!(
                            "Dialogue: 0,{},{},Default,,0,0,0,,{}
",
                            ass_time(*a),
                            ass_time(*b),
                            text.replace('\n', "\\N")
                        ));
                    }
                    ("ass", t.into_bytes())
                }
                SubFormat::Pgs => ("sup", pgs(&s.cues)),
            };
            let file = path.with_extension(format!("sub{i}.{ext}"));
            std::fs::write(&file, body)?;
            a.extend(args!["-i", &file]);
            written.push(file);
        }
        a.extend(args!["-map", "0:v"]);
        for i in 0..self.audio.len() {
            a.extend(args!["-map", format!("{}:a", i + 1)]);
        }
        for i in 0..self.subtitles.len() {
            a.extend(args!["-map", format!("{}:s", self.audio.len() + i + 1)]);
        }
        a.extend(args![
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a",
            "aac", "-b:a", "96k"
        ]);
        for (i, t) in self.audio.iter().enumerate() {
            if let Some(l) = &t.language {
                a.extend(args![format!("-metadata:s:a:{i}"), format!("language={l}")]);
            }
            let flag = if t.default { "default" } else { "0" };
            a.extend(args![format!("-disposition:a:{i}"), flag]);
        }
        for (i, s) in self.subtitles.iter().enumerate() {
            let codec = match (mp4, s.format) {
                (true, SubFormat::MovText) => "mov_text",
                (false, SubFormat::Srt) => "srt",
                (false, SubFormat::Ass) => "ass",
                (false, SubFormat::Pgs) => "copy",
                (_, f) => {
                    return Err(Error::internal(format!(
                        "{f:?} subtitles do not go in {}",
                        if mp4 { "MP4" } else { "Matroska" }
                    )));
                }
            };
            a.extend(args![format!("-c:s:{i}"), codec]);
            if let Some(l) = &s.language {
                a.extend(args![format!("-metadata:s:s:{i}"), format!("language={l}")]);
            }
            a.extend(args![format!("-disposition:s:{i}"), "0"]);
        }
        a.extend(args!["-f", if mp4 { "mp4" } else { "matroska" }, path]);
        let r = run(&tools.ffmpeg, &a, Stdout::Ignore).await;
        for f in written {
            let _ = std::fs::remove_file(f);
        }
        r?.check(ErrorKind::Internal, "making a test clip with tracks")?;
        Ok(())
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

/// A one-frame image of one colour (`0xff00ff`), `w`x`h`, as PNG or JPEG
/// (from `path`'s extension): a mark that is easy to find in a picture.
pub async fn solid_image(
    tools: &Tools,
    path: &Path,
    colour: &str,
    (w, h): (u32, u32),
) -> Result<()> {
    let mut a = ffmpeg_base();
    a.extend(args![
        "-f",
        "lavfi",
        "-i",
        format!("color=c={colour}:s={w}x{h}"),
        "-frames:v",
        "1",
        path
    ]);
    run(&tools.ffmpeg, &a, Stdout::Ignore)
        .await?
        .check(ErrorKind::Internal, "making a test image")?;
    Ok(())
}

/// One decoded video frame as 8-bit RGB.
#[derive(Debug, Clone)]
pub struct RgbFrame {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl RgbFrame {
    /// The first frame at or after `seconds` of `path`'s first video stream
    /// (an image file too).
    pub async fn decode(tools: &Tools, path: &Path, seconds: f64) -> Result<RgbFrame> {
        let json = probe_json(tools, path).await?;
        let s = json
            .streams
            .iter()
            .find(|s| s.is_video())
            .ok_or_else(|| Error::internal(format!("{} has no picture", path.display())))?;
        let (width, height) = (s.width.unwrap_or(0), s.height.unwrap_or(0));
        let mut a = ffmpeg_base();
        if seconds > 0.0 {
            a.extend(args!["-ss", format!("{seconds:.3}")]);
        }
        a.extend(args![
            "-i",
            path,
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-"
        ]);
        let out = run(&tools.ffmpeg, &a, Stdout::Capture)
            .await?
            .check(ErrorKind::Internal, "decoding a test frame")?;
        if out.stdout.len() != (width * height * 3) as usize {
            return Err(Error::internal(format!(
                "{} at {seconds} s decoded to {} bytes, not one {width}x{height} frame",
                path.display(),
                out.stdout.len()
            )));
        }
        Ok(RgbFrame {
            width,
            height,
            rgb: out.stdout,
        })
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Magenta, as a solid `0xff00ff` mark comes out of H.264 4:2:0.
    pub fn magenta(&self, x: u32, y: u32) -> bool {
        let [r, g, b] = self.pixel(x, y);
        r > 200 && g < 80 && b > 200
    }

    /// The bounding box of the magenta pixels, and how many there are.
    pub fn magenta_box(&self) -> Option<(Placement, u64)> {
        let (mut x0, mut y0, mut x1, mut y1, mut n) = (u32::MAX, u32::MAX, 0, 0, 0u64);
        for y in 0..self.height {
            for x in 0..self.width {
                if self.magenta(x, y) {
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                    n += 1;
                }
            }
        }
        (n > 0).then_some((
            Placement {
                x: x0,
                y: y0,
                width: x1 - x0 + 1,
                height: y1 - y0 + 1,
            },
            n,
        ))
    }

    /// Whether a magenta mark covers exactly `want` (give or take the one
    /// pixel that scaling and chroma subsampling blur at its edges), solid
    /// inside, with no magenta anywhere else and the picture's centre
    /// (`background`, e.g. mid-grey) untouched; `Err` says what is wrong.
    pub fn check_mark(&self, want: Placement, background: [u8; 3]) -> Result<(), String> {
        let Some((got, n)) = self.magenta_box() else {
            return Err(format!("no magenta pixel; wanted the mark at {want:?}"));
        };
        let near = |a: u32, b: u32| a.abs_diff(b) <= 1;
        if !(near(got.x, want.x)
            && near(got.y, want.y)
            && near(got.width, want.width)
            && near(got.height, want.height))
        {
            return Err(format!("magenta covers {got:?}, wanted {want:?}"));
        }
        let inner = (want.width.saturating_sub(2) * want.height.saturating_sub(2)) as u64;
        if n < inner {
            return Err(format!(
                "{n} magenta pixels; the mark's inside alone has {inner}"
            ));
        }
        let centre = self.pixel(self.width / 2, self.height / 2);
        if centre
            .iter()
            .zip(background)
            .any(|(c, b)| c.abs_diff(b) >= 16)
        {
            return Err(format!(
                "the centre is {centre:?}, not the picture's {background:?}"
            ));
        }
        Ok(())
    }
}
