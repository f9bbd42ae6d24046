//! What a file holds: ffprobe's JSON for the streams, plus one pass over the
//! video packets (no decoding) for the real frame count, start and end.
//!
//! Frame counts come from packets, as `-count_packets` does, with two
//! corrections that make them equal to the frames a decoder shows: packets the
//! demuxer flags as discarded (an MP4 edit list that trims the start or end)
//! are not frames, and packets before the first key frame are dropped by a
//! stream copy and cannot be decoded anyway.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use serde::Deserialize;
use vpf_core::job::{AudioInfo, Colour, MediaInfo, SubtitleInfo, VideoInfo};
use vpf_core::tracks::{clean_language, clean_title};
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::run::{Outcome, Stdout, args, ffprobe_video, run};

/// Largest picture side we accept; larger ones are refused before any
/// encoder is asked to allocate frames for them.
pub const MAX_SIDE: u32 = 8192;

/// An exact fraction (time bases, frame rates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rational {
    pub num: i64,
    pub den: i64,
}

impl Rational {
    pub fn parse(s: &str) -> Option<Rational> {
        let (n, d) = s.trim().split_once(['/', ':'])?;
        let r = Rational {
            num: n.trim().parse().ok()?,
            den: d.trim().parse().ok()?,
        };
        (r.num > 0 && r.den > 0).then_some(r)
    }
    pub fn f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

// ---- ffprobe JSON -------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ProbeJson {
    #[serde(default)]
    pub streams: Vec<StreamJson>,
    #[serde(default)]
    pub format: Option<FormatJson>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct StreamJson {
    #[serde(default)]
    pub index: u32,
    pub codec_type: Option<String>,
    pub codec_name: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub pix_fmt: Option<String>,
    pub r_frame_rate: Option<String>,
    pub avg_frame_rate: Option<String>,
    pub time_base: Option<String>,
    pub start_time: Option<String>,
    pub duration: Option<String>,
    pub nb_frames: Option<String>,
    pub field_order: Option<String>,
    pub color_primaries: Option<String>,
    pub color_transfer: Option<String>,
    pub color_space: Option<String>,
    pub color_range: Option<String>,
    pub sample_rate: Option<String>,
    pub channels: Option<u32>,
    #[serde(default)]
    pub tags: HashMap<String, serde_json::Value>,
    #[serde(default)]
    pub side_data_list: Vec<SideData>,
    #[serde(default)]
    pub disposition: HashMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct SideData {
    pub side_data_type: Option<String>,
    pub rotation: Option<f64>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct FormatJson {
    pub format_name: Option<String>,
    pub start_time: Option<String>,
    pub duration: Option<String>,
    pub bit_rate: Option<String>,
}

impl StreamJson {
    fn is(&self, kind: &str) -> bool {
        self.codec_type.as_deref() == Some(kind)
    }
    /// A real video stream, not cover art (ffmpeg's `V` stream specifier).
    pub fn is_video(&self) -> bool {
        let flag = |k: &str| {
            self.disposition
                .get(k)
                .and_then(|v| v.as_i64())
                .unwrap_or(0)
                != 0
        };
        self.is("video") && !flag("attached_pic") && !flag("timed_thumbnails")
    }
    pub fn is_audio(&self) -> bool {
        self.is("audio")
    }
    pub fn is_subtitle(&self) -> bool {
        self.is("subtitle")
    }
    /// A disposition flag (`default`, `forced`...).
    pub fn flag(&self, name: &str) -> bool {
        self.disposition
            .get(name)
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
            != 0
    }
    /// The `language` tag, cleaned ([`clean_language`]).
    pub fn language(&self) -> Option<String> {
        self.tag("language").and_then(clean_language)
    }
    /// The `title` tag, cleaned ([`clean_title`]).
    pub fn title(&self) -> Option<String> {
        self.tag("title").and_then(clean_title)
    }
    fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }
    pub fn start(&self) -> Option<f64> {
        num(self.start_time.as_deref())
    }
    /// The colour description, leaving out what the stream leaves unstated.
    pub fn colour(&self) -> Colour {
        let known = |v: &Option<String>| v.clone().filter(|v| !v.is_empty() && v != "unknown");
        Colour {
            primaries: known(&self.color_primaries),
            transfer: known(&self.color_transfer),
            matrix: known(&self.color_space),
            range: known(&self.color_range),
        }
    }
    /// Degrees clockwise a player turns the picture: from the display matrix
    /// (ffprobe's `rotation` is counter-clockwise, as `av_display_rotation_get`
    /// returns it; ffmpeg's autorotate turns by its negation), else from the
    /// legacy `rotate` tag (already clockwise).
    pub fn rotation(&self) -> i32 {
        let from_matrix = self
            .side_data_list
            .iter()
            .find(|s| s.side_data_type.as_deref() == Some("Display Matrix"))
            .and_then(|s| s.rotation)
            .map(|ccw| -ccw);
        let from_tag = || {
            self.tag("rotate")
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        normalise_rotation(from_matrix.or_else(from_tag).unwrap_or(0.0))
    }
}

/// To 0, 90, 180 or 270 (the nearest quarter turn).
pub(crate) fn normalise_rotation(deg: f64) -> i32 {
    if !deg.is_finite() {
        return 0;
    }
    (((deg / 90.0).round() as i64 * 90).rem_euclid(360)) as i32
}

pub(crate) fn num(s: Option<&str>) -> Option<f64> {
    s.and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// Matroska's per-track `DURATION` tag: `HH:MM:SS.nnnnnnnnn`.
fn hms(s: &str) -> Option<f64> {
    let mut total = 0.0;
    for part in s.trim().split(':') {
        total = total * 60.0 + part.parse::<f64>().ok()?;
    }
    total.is_finite().then_some(total)
}

pub(crate) async fn probe_json(tools: &Tools, path: &Path) -> Result<ProbeJson> {
    let out = run(
        &tools.ffprobe,
        &args![
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            path
        ],
        Stdout::Capture,
    )
    .await?;
    if !out.status.success() {
        return Err(Error::corrupt(format!(
            "not a readable media file: {}",
            out.log.summary()
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::corrupt(format!("ffprobe output could not be parsed: {e}")))
}

// ---- the video packet pass -------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pkt {
    /// Presentation time (decode time when the container has none), in `tb`.
    pub ts: i64,
    pub dur: i64,
    pub key: bool,
    /// Hidden by an edit list: decoded (it may be a reference) but never shown.
    pub discard: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Scan {
    pub tb: Rational,
    /// Packets from the first key frame on, in file (decode) order: exactly
    /// what ffmpeg's stream copy writes.
    pub packets: Vec<Pkt>,
    /// Packets before the first key frame (a stream copy drops them).
    pub skipped_leading: usize,
    /// Error lines ffprobe printed while reading (a damaged file).
    pub errors: Vec<String>,
}

impl Scan {
    pub fn kept(&self) -> impl Iterator<Item = &Pkt> {
        self.packets.iter().filter(|p| !p.discard)
    }
    pub fn frames(&self) -> u64 {
        self.kept().count() as u64
    }
    pub fn start(&self) -> Option<i64> {
        self.kept().map(|p| p.ts).min()
    }
    pub fn end(&self) -> Option<i64> {
        self.kept().map(|p| p.ts + p.dur).max()
    }
    pub fn secs(&self, ts: i64) -> f64 {
        ts as f64 * self.tb.f64()
    }
    /// Give packets without a duration the usual one (`nominal` ticks).
    fn fill_durations(&mut self, nominal: i64) {
        for p in &mut self.packets {
            if p.dur <= 0 {
                p.dur = nominal;
            }
        }
    }
    /// The most common packet duration, if any packet has one.
    fn usual_duration(&self) -> Option<i64> {
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for p in self.packets.iter().filter(|p| p.dur > 0) {
            *counts.entry(p.dur).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|&(d, c)| (c, -d))
            .map(|(d, _)| d)
    }

    /// Whether every shown frame sits on the `fps` grid (within half a
    /// millisecond, what Matroska's rounding leaves) with no two on one slot.
    pub fn on_grid(&self, fps: Rational) -> bool {
        let Some(start) = self.start() else {
            return false;
        };
        let rate = fps.f64();
        let tol = (0.25 / rate).min(0.0006);
        let mut slots = Vec::with_capacity(self.packets.len());
        for p in self.kept() {
            let t = self.secs(p.ts - start);
            let k = (t * rate).round();
            if (t - k / rate).abs() > tol {
                return false;
            }
            slots.push(k as i64);
        }
        slots.sort_unstable();
        slots.windows(2).all(|w| w[0] != w[1])
    }
}

/// One line of ffprobe's `-of compact` output (`section|key=value|...`):
/// the section (`packet`, `stream`) and the fields the scans read. Other keys
/// are ignored; a value that does not parse is absent.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CompactLine<'a> {
    pub section: &'a str,
    /// `stream_index` of a packet, `index` of a stream.
    pub index: Option<u32>,
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub duration: Option<i64>,
    pub pts_time: Option<f64>,
    pub pos: Option<u64>,
    pub flags: &'a str,
    /// As written; [`Rational::parse`] reads it.
    pub time_base: Option<&'a str>,
    pub codec_type: Option<&'a str>,
}

impl<'a> CompactLine<'a> {
    pub fn parse(line: &'a str) -> Self {
        let mut fields = line.split('|');
        let mut l = CompactLine {
            section: fields.next().unwrap_or(""),
            ..Default::default()
        };
        for f in fields {
            let Some((k, v)) = f.split_once('=') else {
                continue;
            };
            match k {
                "stream_index" | "index" => l.index = v.parse().ok(),
                "pts" => l.pts = v.parse().ok(),
                "dts" => l.dts = v.parse().ok(),
                "duration" => l.duration = v.parse().ok(),
                "pts_time" => l.pts_time = v.parse().ok(),
                "pos" => l.pos = v.parse().ok(),
                "flags" => l.flags = v,
                "time_base" => l.time_base = Some(v),
                "codec_type" => l.codec_type = Some(v),
                _ => {}
            }
        }
        l
    }

    /// A key frame's packet.
    pub fn key(&self) -> bool {
        self.flags.contains('K')
    }

    /// A packet the demuxer discards (hidden by an edit list).
    pub fn discard(&self) -> bool {
        self.flags.contains('D')
    }
}

/// Run ffprobe over `input` (its first real video stream only when
/// `video_only`), showing `entries` in compact form; each line goes to
/// `on_line` parsed. The outcome is the caller's to judge.
pub(crate) async fn compact_lines(
    tools: &Tools,
    video_only: bool,
    entries: &str,
    input: impl Into<OsString>,
    on_line: &mut (dyn FnMut(CompactLine<'_>) + Send),
) -> Result<Outcome> {
    let rest = args!["-show_entries", entries, "-of", "compact", input.into()];
    let a = match video_only {
        true => ffprobe_video(rest),
        false => [args!["-v", "error"], rest].concat(),
    };
    let mut each = |line: &str| on_line(CompactLine::parse(line));
    run(&tools.ffprobe, &a, Stdout::Lines(&mut each)).await
}

/// One pass over the packets of the first real video stream.
pub(crate) async fn scan_video(tools: &Tools, path: &Path) -> Result<Scan> {
    let mut tb: Option<Rational> = None;
    let mut all: Vec<Pkt> = Vec::new();
    let (mut prev_ts, mut prev_dur) = (0i64, 0i64);
    let mut on_line = |l: CompactLine| match l.section {
        "packet" => {
            let ts = l.pts.or(l.dts).unwrap_or(prev_ts + prev_dur);
            let dur = l.duration.unwrap_or(0).max(0);
            prev_ts = ts;
            prev_dur = dur;
            all.push(Pkt {
                ts,
                dur,
                key: l.key(),
                discard: l.discard(),
            });
        }
        "stream" => {
            if let Some(v) = l.time_base {
                tb = Rational::parse(v);
            }
        }
        _ => {}
    };
    let out = compact_lines(
        tools,
        true,
        "stream=time_base:packet=pts,dts,duration,flags",
        path,
        &mut on_line,
    )
    .await?;
    if !out.status.success() {
        return Err(Error::corrupt(format!(
            "reading the video packets failed: {}",
            out.log.summary()
        )));
    }
    let tb = tb.ok_or_else(|| Error::corrupt("the video stream has no time base"))?;
    let first_key = all.iter().position(|p| p.key).unwrap_or(all.len());
    let packets = all.split_off(first_key);
    Ok(Scan {
        tb,
        packets,
        skipped_leading: first_key,
        errors: out.log.errors(true),
    })
}

/// Video packets in a file we wrote (no decoding).
pub(crate) async fn count_video_packets(tools: &Tools, path: &Path) -> Result<u64> {
    let out = run(
        &tools.ffprobe,
        &ffprobe_video(args![
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            path
        ]),
        Stdout::Capture,
    )
    .await?
    .check(
        ErrorKind::Internal,
        &format!("counting the packets of {}", path.display()),
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .trim_end_matches(',')
        .parse::<u64>()
        .map_err(|_| Error::internal(format!("{} has no video stream to count", path.display())))
}

// ---- putting it together -------------------------------------------------------------

/// A probed file: what [`probe`] reports, and the packet pass it made,
/// which [`crate::split_video`] plans its cuts from (no second read).
#[derive(Debug, Clone)]
pub struct Probed {
    pub info: MediaInfo,
    pub(crate) scan: Scan,
}

/// Probe a media file. Anything ffprobe cannot read, a file with neither
/// video nor audio, or a truncated one is `CorruptMedia` with the reason; a
/// file of sound alone probes with `video: None` (an audio job).
pub async fn probe(tools: &Tools, path: &Path) -> Result<MediaInfo> {
    probe_source(tools, path).await.map(|p| p.info)
}

/// [`probe`], keeping the packet pass for splitting.
pub async fn probe_source(tools: &Tools, path: &Path) -> Result<Probed> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::internal(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() == 0 {
        return Err(Error::corrupt("the file is empty (0 bytes)"));
    }
    // Two reads of the same file, side by side; the streams' answer is
    // judged first, so a file without video is reported as such.
    let (json, scan) = tokio::join!(probe_json(tools, path), scan_video(tools, path));
    let json = json?;
    let Some(vs) = json.streams.iter().find(|s| s.is_video()) else {
        if json.streams.iter().any(|s| s.is_audio()) {
            // Sound alone: an audio job, with no video pieces to cut.
            let format = json.format.unwrap_or_default();
            let mut info = media_info(None, &json.streams, &format, meta.len())?;
            count_first_track(tools, path, &mut info).await?;
            let scan = Scan {
                tb: Rational { num: 1, den: 1 },
                packets: Vec::new(),
                skipped_leading: 0,
                errors: Vec::new(),
            };
            return Ok(Probed { info, scan });
        }
        let kinds: Vec<String> = json
            .streams
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s.codec_type.as_deref().unwrap_or("unknown"),
                    s.codec_name.as_deref().unwrap_or("?")
                )
            })
            .collect();
        return Err(Error::corrupt(if kinds.is_empty() {
            "no video or audio stream (no streams at all)".to_string()
        } else {
            format!("no video or audio stream (found: {})", kinds.join(", "))
        }));
    };
    let mut scan = scan?;
    let format = json.format.unwrap_or_default();
    let mut video = video_info(vs, &mut scan, sample_table_counts_frames(&format))?;
    if flag_may_lie(&video, format.format_name.as_deref().unwrap_or(""))
        && let Some(order) = measure_field_order(tools, path).await
    {
        tracing::info!(stream_says = ?video.field_order, measured = order, "idet finds interlaced frames");
        video.field_order = Some(order.into());
        video.field_order_measured = true;
    }
    let info = media_info(Some(video), &json.streams, &format, meta.len())?;
    Ok(Probed { info, scan })
}

/// Set the first audio track's length from its decoded samples. Without a
/// video to follow, the track's length is the job's, and containers state
/// it loosely: an MP3's header counts the encoder's delay and padding, a
/// raw AAC (ADTS) stream has no length at all (ffprobe estimates it from
/// the bitrate), an Opus stream's counts its pre-skip. One decode (fast for
/// sound) gives what players play; a decode error is a damaged file.
async fn count_first_track(tools: &Tools, path: &Path, info: &mut MediaInfo) -> Result<()> {
    let measured = crate::sound::measure(tools, path)
        .await
        .map_err(|e| Error::corrupt(e.message))?;
    let Some(first) = info.audio_tracks.first_mut() else {
        return Ok(());
    };
    first.duration_seconds = measured.samples as f64 / f64::from(first.sample_rate.max(1));
    let (index, seconds) = (first.stream_index, first.duration_seconds);
    if let Some(main) = info.audio.as_mut().filter(|a| a.stream_index == index) {
        main.duration_seconds = seconds;
    }
    Ok(())
}

/// What the probe found, from ffprobe's streams and format (`video`:
/// the video stream's, counted; `None` for a source of sound alone).
fn media_info(
    video: Option<VideoInfo>,
    streams: &[StreamJson],
    format: &FormatJson,
    size_bytes: u64,
) -> Result<MediaInfo> {
    let audio_tracks = streams
        .iter()
        .filter(|s| s.is_audio())
        .map(|a| audio_info(a, format))
        .collect::<Result<Vec<_>>>()?;
    let main = audio_tracks
        .iter()
        .find(|a| a.default)
        .or(audio_tracks.first())
        .cloned();
    let fallback_seconds = match (&video, &main) {
        (Some(v), _) => v.duration_seconds,
        (None, Some(a)) => a.duration_seconds,
        (None, None) => 0.0,
    };
    Ok(MediaInfo {
        format_name: format.format_name.clone().unwrap_or_default(),
        duration_seconds: num(format.duration.as_deref()).unwrap_or(fallback_seconds),
        size_bytes,
        bit_rate: format
            .bit_rate
            .as_deref()
            .and_then(|b| b.trim().parse().ok()),
        video,
        audio: main,
        audio_tracks,
        subtitle_tracks: streams
            .iter()
            .filter(|s| s.is_subtitle())
            .map(subtitle_info)
            .collect(),
    })
}

/// Frames idet judges when the field order flag is not trusted.
const IDET_FRAMES: u32 = 100;

/// Whether the stream's field order needs measuring: it is missing, or the
/// video comes from a broadcast chain (MPEG-2, DV, anything in a transport
/// stream or MXF), where captures and re-muxes often flag interlaced
/// pictures progressive. Phone, camera and browser codecs flag it right.
fn flag_may_lie(video: &VideoInfo, format_name: &str) -> bool {
    if video.interlaced() {
        return false;
    }
    let broadcast_codec = matches!(
        video.codec.as_str(),
        "mpeg2video" | "dvvideo" | "mpeg1video"
    );
    let broadcast_container = format_name
        .split(',')
        .any(|f| matches!(f, "mpegts" | "mxf" | "mpeg" | "dv"));
    video.field_order.is_none() || broadcast_codec || broadcast_container
}

/// idet's verdict over the first [`IDET_FRAMES`] frames: `tt` or `bb` when
/// most frames it can judge are interlaced, else `None`. A failure to
/// measure is not an error of the job: the flag stands.
async fn measure_field_order(tools: &Tools, path: &Path) -> Option<&'static str> {
    let out = run(
        &tools.ffmpeg,
        &args![
            "-hide_banner",
            "-nostdin",
            "-noautorotate",
            "-i",
            path,
            "-map",
            "0:V:0",
            "-frames:v",
            IDET_FRAMES.to_string(),
            "-vf",
            "idet",
            "-f",
            "null",
            "-"
        ],
        Stdout::Ignore,
    )
    .await
    .ok()?;
    parse_idet(&out.log.text())
}

/// Read idet's multi-frame summary (`Multi frame detection: TFF: 90 BFF: 0
/// Progressive: 2 Undetermined: 8`).
fn parse_idet(log: &str) -> Option<&'static str> {
    let line = log.lines().find(|l| l.contains("Multi frame detection:"))?;
    let count = |k: &str| -> u64 {
        line.split(k)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (tff, bff, progressive) = (count("TFF:"), count("BFF:"), count("Progressive:"));
    // Real interlace is combed in nearly every frame with one field order
    // throughout (woven captures: 50 of 50 TFF); fine horizontal detail in
    // progressive video (text, test patterns) fools idet in a third to two
    // thirds of the frames, often in both orders.
    let (most, least) = (tff.max(bff), tff.min(bff));
    if most >= 20 && most > 4 * progressive && most > 4 * least {
        Some(if tff >= bff { "tt" } else { "bb" })
    } else {
        None
    }
}

/// Whether the container's frame count is exact, so that fewer frames read
/// than declared means the file was cut short. In MP4/MOV the sample table
/// lists every frame. AVI's header counts index entries, and ffmpeg's own
/// AVI muxer (and cameras) write empty chunks for dropped frames, which no
/// decoder returns: an intact AVI can declare more frames than it has.
fn sample_table_counts_frames(format: &FormatJson) -> bool {
    format
        .format_name
        .as_deref()
        .is_some_and(|n| n.split(',').any(|f| f == "mov" || f == "mp4"))
}

/// The video's facts from its stream entry and packet pass; fills in the
/// packets' missing durations (as every later use of the pass expects).
/// `exact_count`: the stream's declared frame count can be trusted.
fn video_info(s: &StreamJson, scan: &mut Scan, exact_count: bool) -> Result<VideoInfo> {
    let codec = s
        .codec_name
        .clone()
        .ok_or_else(|| Error::corrupt("the video codec is not one this ffmpeg can decode"))?;
    let (width, height) = (s.width.unwrap_or(0), s.height.unwrap_or(0));
    if width == 0 || height == 0 {
        // ffprobe leaves the size at 0 when the decoder refuses the one the
        // stream declares (e.g. "Picture size 20000x20000 is invalid"): say so.
        let mut why: Vec<&str> = Vec::new();
        for e in &scan.errors {
            if why.len() < 2 && !why.contains(&e.as_str()) {
                why.push(e);
            }
        }
        return Err(Error::corrupt(if why.is_empty() {
            "the video stream has no picture size".to_string()
        } else {
            format!(
                "the video stream has no usable picture size ({})",
                why.join("; ")
            )
        }));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::corrupt(format!(
            "the video is {width}x{height}; sides above {MAX_SIDE} pixels are not supported"
        )));
    }
    let declared = s
        .nb_frames
        .as_deref()
        .filter(|_| exact_count)
        .and_then(|n| n.trim().parse::<u64>().ok());
    let read = (scan.packets.len() + scan.skipped_leading) as u64;
    if let Some(n) = declared.filter(|&n| n > read) {
        let why = scan.errors.last().cloned().unwrap_or_default();
        return Err(Error::corrupt(format!(
            "the file is truncated: its header declares {n} video frames but only {read} can be read{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({why})")
            }
        )));
    }
    if !scan.errors.is_empty() {
        tracing::warn!(errors = ?scan.errors, "ffprobe reported errors while reading the video packets");
    }
    if scan.frames() == 0 {
        return Err(Error::corrupt("the video stream has no decodable frames"));
    }

    let r_rate = s.r_frame_rate.as_deref().and_then(Rational::parse);
    let avg_rate = s.avg_frame_rate.as_deref().and_then(Rational::parse);
    let nominal = scan.usual_duration().unwrap_or_else(|| {
        // No packet says how long it lasts: one frame at the stream's rate.
        let fps = r_rate.or(avg_rate).map(Rational::f64).unwrap_or(25.0);
        ((1.0 / fps) / scan.tb.f64()).round().max(1.0) as i64
    });
    scan.fill_durations(nominal);

    let frames = scan.frames();
    let start = scan.start().unwrap_or(0);
    let end = scan.end().unwrap_or(start);
    let duration = scan.secs(end - start);
    let measured_fps = frames as f64 / duration.max(1e-9);
    // Constant frame rate: every frame on the r_frame_rate grid, and that
    // rate is the real one (not a fine common multiple of a variable rate).
    let cfr =
        r_rate.filter(|r| r.f64() <= 1000.0 && r.f64() <= measured_fps * 1.5 && scan.on_grid(*r));
    let rate = match (cfr, avg_rate) {
        (Some(r), _) => r,
        (None, Some(a)) => a,
        (None, None) => approx(measured_fps),
    };
    Ok(VideoInfo {
        codec,
        width,
        height,
        frame_rate_num: rate.num.clamp(1, u32::MAX as i64) as u32,
        frame_rate_den: rate.den.clamp(1, u32::MAX as i64) as u32,
        rotation: s.rotation(),
        frames,
        duration_seconds: duration,
        pix_fmt: s.pix_fmt.clone().unwrap_or_default(),
        start_seconds: scan.secs(start),
        constant_frame_rate: cfr.is_some(),
        field_order: s.field_order.clone().filter(|f| f != "unknown"),
        field_order_measured: false,
        colour: s.colour(),
    })
}

/// A rate in thousandths, reduced.
fn approx(fps: f64) -> Rational {
    let num = (fps * 1000.0).round().max(1.0) as i64;
    let g = gcd(num, 1000);
    Rational {
        num: num / g,
        den: 1000 / g,
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs().max(1)
    } else {
        gcd(b, a % b)
    }
}

fn audio_info(s: &StreamJson, format: &FormatJson) -> Result<AudioInfo> {
    let codec = s
        .codec_name
        .clone()
        .ok_or_else(|| Error::corrupt("the audio codec is not one this ffmpeg can decode"))?;
    let sample_rate = s
        .sample_rate
        .as_deref()
        .and_then(|r| r.trim().parse::<u32>().ok())
        .filter(|&r| r > 0)
        .ok_or_else(|| Error::corrupt("the audio stream has no sample rate"))?;
    let start = s
        .start()
        .or(num(format.start_time.as_deref()))
        .unwrap_or(0.0);
    let duration = num(s.duration.as_deref())
        .or_else(|| s.tag("DURATION").and_then(hms))
        .or_else(|| {
            let fstart = num(format.start_time.as_deref()).unwrap_or(0.0);
            num(format.duration.as_deref()).map(|d| fstart + d - start)
        })
        .unwrap_or(0.0)
        .max(0.0);
    Ok(AudioInfo {
        codec,
        sample_rate,
        channels: s.channels.unwrap_or(0),
        duration_seconds: duration,
        start_seconds: start,
        stream_index: s.index,
        language: s.language(),
        title: s.title(),
        default: s.flag("default"),
    })
}

fn subtitle_info(s: &StreamJson) -> SubtitleInfo {
    SubtitleInfo {
        codec: s.codec_name.clone().unwrap_or_default(),
        stream_index: s.index,
        language: s.language(),
        title: s.title(),
        default: s.flag("default"),
        forced: s.flag("forced"),
    }
}

/// Where audio track `n`, as the audio task encodes it, ends: the source's
/// audio end on the output's timeline (zero = the first shown video frame).
pub fn expected_audio_seconds(info: &MediaInfo, n: u32) -> Option<f64> {
    info.audio_end_seconds(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_lines_parse_every_scan_field() {
        let p = CompactLine::parse(
            "packet|stream_index=1|pts=N/A|dts=-3|duration=512|pts_time=0.5|pos=188|flags=KD_",
        );
        assert_eq!(p.section, "packet");
        assert_eq!(p.index, Some(1));
        assert_eq!((p.pts, p.dts, p.duration), (None, Some(-3), Some(512)));
        assert_eq!((p.pts_time, p.pos), (Some(0.5), Some(188)));
        assert!(p.key() && p.discard());
        let s = CompactLine::parse("stream|index=0|codec_type=audio|time_base=1/48000");
        assert_eq!(s.index, Some(0));
        assert_eq!(s.codec_type, Some("audio"));
        assert_eq!(
            s.time_base.and_then(Rational::parse),
            Rational::parse("1/48000")
        );
        assert!(!s.key() && !s.discard());
        assert_eq!(CompactLine::parse(""), CompactLine::default());
    }

    fn scan(ts: &[i64], tb: Rational) -> Scan {
        Scan {
            tb,
            packets: ts
                .iter()
                .map(|&t| Pkt {
                    ts: t,
                    dur: 0,
                    key: false,
                    discard: false,
                })
                .collect(),
            skipped_leading: 0,
            errors: vec![],
        }
    }

    #[test]
    fn idet_summary_decides_interlace() {
        let log = "[Parsed_idet_0 @ 0x1] Repeated Fields: Neither: 100\n\
                   [Parsed_idet_0 @ 0x1] Single frame detection: TFF: 80 BFF: 0 Progressive: 5 Undetermined: 15\n\
                   [Parsed_idet_0 @ 0x1] Multi frame detection: TFF: 95 BFF: 0 Progressive: 2 Undetermined: 3\n";
        assert_eq!(parse_idet(log), Some("tt"));
        assert_eq!(
            parse_idet("Multi frame detection: TFF: 1 BFF: 60 Progressive: 3 Undetermined: 0"),
            Some("bb")
        );
        assert_eq!(
            parse_idet("Multi frame detection: TFF: 0 BFF: 0 Progressive: 99 Undetermined: 1"),
            None
        );
        // Both orders about equally: detail that looks combed, not fields.
        assert_eq!(
            parse_idet("Multi frame detection: TFF: 34 BFF: 37 Progressive: 29 Undetermined: 0"),
            None
        );
        assert_eq!(
            parse_idet("Multi frame detection: TFF: 34 BFF: 0 Progressive: 16 Undetermined: 0"),
            None
        );
        // Too few judged frames: the flag stands.
        assert_eq!(
            parse_idet("Multi frame detection: TFF: 5 BFF: 0 Progressive: 0 Undetermined: 95"),
            None
        );
        assert_eq!(parse_idet("no summary"), None);
    }

    #[test]
    fn rotation_is_clockwise_and_normalised() {
        let mut s = StreamJson::default();
        assert_eq!(s.rotation(), 0);
        s.side_data_list.push(SideData {
            side_data_type: Some("Display Matrix".into()),
            rotation: Some(-90.0),
        });
        assert_eq!(s.rotation(), 90);
        s.side_data_list[0].rotation = Some(90.0);
        assert_eq!(s.rotation(), 270);
        s.side_data_list[0].rotation = Some(180.0);
        assert_eq!(s.rotation(), 180);
        let mut t = StreamJson::default();
        t.tags
            .insert("rotate".into(), serde_json::Value::String("-90".into()));
        assert_eq!(t.rotation(), 270);
        assert_eq!(normalise_rotation(359.0), 0);
        assert_eq!(normalise_rotation(f64::NAN), 0);
    }

    #[test]
    fn fractions_and_durations_parse() {
        assert_eq!(
            Rational::parse("30000/1001"),
            Some(Rational {
                num: 30000,
                den: 1001
            })
        );
        assert_eq!(Rational::parse("0/0"), None);
        assert_eq!(hms("00:01:02.500000000"), Some(62.5));
        assert_eq!(
            approx(29.97),
            Rational {
                num: 2997,
                den: 100
            }
        );
    }

    #[test]
    fn grid_check_accepts_millisecond_rounding_and_refuses_vfr() {
        let ms = Rational { num: 1, den: 1000 };
        let ntsc = Rational {
            num: 30000,
            den: 1001,
        };
        // 29.97 fps as Matroska stores it: whole milliseconds.
        let rounded: Vec<i64> = (0..300)
            .map(|i| (i as f64 * 1001.0 / 30.0).round() as i64)
            .collect();
        assert!(scan(&rounded, ms).on_grid(ntsc));
        // Frames 10 ms off the grid are variable-rate.
        let mut vfr = rounded.clone();
        vfr[7] += 10;
        assert!(!scan(&vfr, ms).on_grid(ntsc));
        // Two frames on one slot are not constant-rate either.
        let mut dup = rounded;
        dup[8] = dup[7];
        assert!(!scan(&dup, ms).on_grid(ntsc));
    }
}
