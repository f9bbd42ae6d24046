//! Checks on the joined video: frame count equals the source's, video
//! duration within one frame, audio without gaps (every AAC packet 1024
//! samples) and of the expected length within one AAC frame, audio and
//! video starting together, and the frame where each piece starts decoded
//! ([`decode_at`](crate::decode_at)). Every packet is demuxed;
//! [`decode`](crate::decode) (every frame) stays for callers that want it.
//! The checks on HLS outputs are in `hls_check`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use vpf_core::job::{JobPlan, VideoInfo};
use vpf_core::tracks::bcp47;
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::audio::output_rate;
use crate::decode::decode_at;
use crate::probe::{CompactLine, Rational, compact_lines, expected_audio_seconds, probe_json};
use crate::transcode::encoded_size;

/// AAC-LC frame length, in samples.
pub const AAC_FRAME: i64 = 1024;

pub(crate) fn failed(what: &str, problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("{what}: {}", problems.join("; ")),
        ))
    }
}

pub(crate) fn source_video(plan: &JobPlan) -> Result<&VideoInfo> {
    plan.info
        .video
        .as_ref()
        .ok_or_else(|| Error::invalid("the job plan has no video stream"))
}

/// Decode the frame where every piece starts in the joined video and check
/// it is a key frame at the piece's place on the timeline.
async fn decode_joins(tools: &Tools, merged: &Path, plan: &JobPlan) -> Result<()> {
    if plan.pieces.len() < 2 {
        // Nothing was joined; the encoder starts every file with a key frame.
        return Ok(());
    }
    let src = source_video(plan)?;
    let half = src.frame_seconds() / 2.0;
    let mut pieces: Vec<_> = plan.pieces.iter().collect();
    pieces.sort_by_key(|p| p.index);
    let origin = pieces.first().map(|p| p.start_seconds).unwrap_or(0.0);
    let offsets: Vec<f64> = pieces.iter().map(|p| p.start_seconds - origin).collect();
    // Half a frame in: the seek keeps the key frame the piece starts with
    // even if its timestamp rounds a hair past the offset.
    let at: Vec<f64> = offsets.iter().map(|o| o + half).collect();
    let frames = decode_at(tools, merged, &at).await?;
    let zero = frames.first().map(|f| f.seconds).unwrap_or(0.0);
    let mut problems = Vec::new();
    for ((p, off), f) in pieces.iter().zip(&offsets).zip(&frames) {
        if !f.key || (f.seconds - zero - off).abs() > half + 1e-6 {
            problems.push(format!(
                "piece {} should start with a key frame at {off:.6} s; the frame there is {} at {:.6} s",
                p.index,
                if f.key { "a key frame" } else { "not a key frame" },
                f.seconds - zero
            ));
        }
    }
    failed("the joins of the merged video", problems)
}

/// Timing of one stream, from its packets.
#[derive(Debug, Default, Clone)]
pub(crate) struct Timing {
    pub packets: u64,
    /// First and last shown instants (packets an edit list hides excluded), in the stream's time base.
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Each packet duration seen (time base units), the last packet's
    /// aside: how many packets had it and the first one's number. A few
    /// entries, however long the file.
    durations: BTreeMap<i64, (u64, u64)>,
    last_duration: i64,
}

impl Timing {
    /// Audio packets, other than the last, that are not one AAC frame long
    /// at `rate` Hz in time base `tb`: how many, and the first's (packet
    /// number, duration in samples).
    pub fn odd_frames(&self, tb: Rational, rate: u32) -> (u64, Option<(u64, f64)>) {
        let samples = |d: i64| d as f64 * tb.f64() * rate as f64;
        let odd = self
            .durations
            .iter()
            .filter(|(d, _)| (samples(**d) - AAC_FRAME as f64).abs() > 0.5);
        let count = odd.clone().map(|(_, (n, _))| n).sum();
        let first = odd
            .map(|(d, (_, first))| (*first, samples(*d)))
            .min_by_key(|(first, _)| *first);
        (count, first)
    }

    /// The last packet's length in samples at `rate` Hz in time base `tb`.
    pub fn last_samples(&self, tb: Rational, rate: u32) -> f64 {
        self.last_duration as f64 * tb.f64() * rate as f64
    }
}

/// Per-stream packet timing for a whole file (one pass, no decoding; the
/// time bases are applied afterwards, so it can run beside the probe).
pub(crate) async fn timings(tools: &Tools, path: &Path) -> Result<HashMap<u32, Timing>> {
    let mut map: HashMap<u32, Timing> = HashMap::new();
    let mut on_line = |l: CompactLine| {
        if l.section != "packet" {
            return;
        }
        let (pts, dts, dur) = (l.pts, l.dts, l.duration.unwrap_or(0));
        let Some(idx) = l.index else { return };
        let t = map.entry(idx).or_default();
        let n = t.packets;
        t.packets += 1;
        // The previous packet was not the last.
        if n > 0 {
            t.durations.entry(t.last_duration).or_insert((0, n - 1)).0 += 1;
        }
        t.last_duration = dur;
        if l.discard() {
            return;
        }
        if let Some(ts) = pts.or(dts) {
            t.start = Some(t.start.map_or(ts, |s| s.min(ts)));
            t.end = Some(t.end.map_or(ts + dur, |e| e.max(ts + dur)));
        }
    };
    compact_lines(
        tools,
        false,
        "packet=stream_index,pts,dts,duration,flags",
        path,
        &mut on_line,
    )
    .await?
    .check(
        ErrorKind::VerifyFailed,
        &format!("reading the packets of {}", path.display()),
    )?;
    Ok(map)
}

/// What [`verify`] counted in the joined video: every remux of it must carry
/// the same packets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counted {
    pub video_packets: u64,
    /// Audio packets of every track together.
    pub audio_packets: u64,
    /// Audio packets of each track, in the file's order.
    pub audio_track_packets: Vec<u64>,
    /// The first video frame's time, seconds (the output's zero).
    pub video_start: f64,
    /// The container's duration, seconds, as ffprobe reports it.
    pub seconds: Option<f64>,
}

/// Check the joined video (with its audio) against the source: the checks
/// this module's header lists.
/// Fails with `VerifyFailed` and the figures.
pub async fn verify(tools: &Tools, merged: &Path, plan: &JobPlan) -> Result<Counted> {
    // The join decode needs nothing from the other reads: all side by side.
    let (checked, ()) = tokio::try_join!(
        check_streams(tools, merged, plan),
        decode_joins(tools, merged, plan)
    )?;
    Ok(checked)
}

/// The stream and packet checks of [`verify`] (one ffprobe for the streams,
/// one pass over the packets).
async fn check_streams(tools: &Tools, merged: &Path, plan: &JobPlan) -> Result<Counted> {
    let src = source_video(plan)?;
    let (json, timing) = tokio::join!(probe_json(tools, merged), timings(tools, merged));
    let json = json.map_err(|e| Error::new(ErrorKind::VerifyFailed, e.message))?;
    let mut problems = Vec::new();

    let videos: Vec<_> = json.streams.iter().filter(|s| s.is_video()).collect();
    let audios: Vec<_> = json.streams.iter().filter(|s| s.is_audio()).collect();
    let subtitles: Vec<_> = json.streams.iter().filter(|s| s.is_subtitle()).collect();
    let Some(vs) = videos.first() else {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            "the merged video: it has no video stream",
        ));
    };
    let audio_plan = plan.audio_plan();
    if videos.len() != 1 {
        problems.push(format!(
            "{} video and {} audio streams",
            videos.len(),
            audios.len()
        ));
    }
    if subtitles.len() != plan.subtitle_tracks.len() {
        problems.push(format!(
            "{} subtitle streams, the job carries {}",
            subtitles.len(),
            plan.subtitle_tracks.len()
        ));
    }
    for (s, n) in subtitles.iter().zip(&plan.subtitle_tracks) {
        if s.codec_name.as_deref() != Some("mov_text") {
            problems.push(format!(
                "subtitle codec {:?}, expected mov_text",
                s.codec_name
            ));
        }
        let want = plan
            .info
            .subtitle_tracks
            .get(*n as usize)
            .and_then(|t| t.language.as_deref());
        if let Some(p) = language_problem(want, s.language().as_deref()) {
            problems.push(format!("subtitle track {n}: {p}"));
        }
    }
    let want = encoded_size(src, plan);
    let got = (vs.width.unwrap_or(0), vs.height.unwrap_or(0));
    if got != want {
        problems.push(format!(
            "size {}x{}, expected {}x{}",
            got.0, got.1, want.0, want.1
        ));
    }
    if vs.rotation() != 0 {
        problems.push(format!(
            "it carries a {}° rotation; pieces are encoded upright",
            vs.rotation()
        ));
    }

    let mut tbs: HashMap<u32, (Rational, u32)> = HashMap::new();
    for s in &json.streams {
        let tb = s
            .time_base
            .as_deref()
            .and_then(Rational::parse)
            .unwrap_or(Rational { num: 1, den: 1 });
        let rate = if s.is_audio() {
            s.sample_rate
                .as_deref()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0)
        } else {
            0
        };
        tbs.insert(s.index, (tb, rate));
    }
    let timing = timing?;
    let secs = |idx: u32, t: &Timing| -> (f64, f64) {
        let tb = tbs.get(&idx).map(|x| x.0.f64()).unwrap_or(1.0);
        let (s, e) = (t.start.unwrap_or(0), t.end.unwrap_or(0));
        (s as f64 * tb, (e - s) as f64 * tb)
    };

    let frame = src.frame_seconds();
    let vt = timing.get(&vs.index).cloned().unwrap_or_default();
    if vt.packets != src.frames {
        problems.push(format!(
            "{} video frames, the source has {}",
            vt.packets, src.frames
        ));
    }
    let (v_start, v_len) = secs(vs.index, &vt);
    if (v_len - src.duration_seconds).abs() > frame + 1e-6 {
        problems.push(format!(
            "video lasts {v_len:.6} s, the source {:.6} s (tolerance one frame, {frame:.6} s)",
            src.duration_seconds
        ));
    }

    let mut counted = Counted {
        video_packets: vt.packets,
        video_start: v_start,
        seconds: crate::probe::num(json.format.as_ref().and_then(|f| f.duration.as_deref())),
        ..Default::default()
    };
    match (audio_plan.is_empty(), audios.is_empty()) {
        (true, false) => problems.push("it has an audio stream the job does not expect".into()),
        (false, true) => problems.push("the audio stream is missing".into()),
        _ if audios.len() != audio_plan.len() => problems.push(format!(
            "{} audio streams, the job encodes {}",
            audios.len(),
            audio_plan.len()
        )),
        _ => {}
    }
    // Several tracks are named in the messages; a lone one is "audio".
    let several = audio_plan.len() > 1;
    let default_at = plan.default_audio();
    for (k, (a, &n)) in audios.iter().zip(&audio_plan).enumerate() {
        let label = match several {
            true => format!("audio track {k}"),
            false => "audio".to_string(),
        };
        let (tb, rate) = tbs
            .get(&a.index)
            .map(|&(tb, rate)| (tb, rate.max(1)))
            .unwrap_or((Rational { num: 1, den: 1 }, 1));
        let at = timing.get(&a.index).cloned().unwrap_or_default();
        counted.audio_packets += at.packets;
        counted.audio_track_packets.push(at.packets);
        if a.codec_name.as_deref() != Some("aac") {
            problems.push(format!("{label} codec {:?}, expected aac", a.codec_name));
        }
        if let (odd, Some((p, samples))) = at.odd_frames(tb, rate) {
            problems.push(format!(
                "{odd} {label} packets are not {AAC_FRAME} samples (packet {p}: {samples} samples): a gap or overlap"
            ));
        }
        let last = at.last_samples(tb, rate);
        if last > AAC_FRAME as f64 + 0.5 {
            problems.push(format!("the last {label} packet has {last} samples"));
        }
        let (a_start, a_len) = secs(a.index, &at);
        let expected = expected_audio_seconds(&plan.info, n).unwrap_or(0.0);
        let source = plan.info.audio_track(n);
        let src_rate = source.map(|x| output_rate(x.sample_rate)).unwrap_or(rate);
        let tolerance = AAC_FRAME as f64 / src_rate.max(1) as f64;
        if (a_len - expected).abs() > tolerance + 1e-6 {
            problems.push(format!(
                "{label} lasts {a_len:.6} s, expected {expected:.6} s (tolerance one AAC frame, {tolerance:.6} s)"
            ));
        }
        if (a_start - v_start).abs() > 0.001 {
            problems.push(format!(
                "{label} starts at {a_start:.6} s, video at {v_start:.6} s"
            ));
        }
        if several {
            let want = source.and_then(|x| x.language.as_deref());
            if let Some(p) = language_problem(want, a.language().as_deref()) {
                problems.push(format!("{label}: {p}"));
            }
            if a.flag("default") != (Some(k) == default_at) {
                problems.push(format!(
                    "{label} is {}the default track; the default is track {}",
                    if a.flag("default") { "" } else { "not " },
                    default_at.unwrap_or(0)
                ));
            }
        }
    }
    failed("the merged video", problems)?;
    Ok(counted)
}

/// Whether a stream's language tag says what the source's did. MP4 keeps
/// ISO 639-2 codes only, so longer tags are not compared; a bibliographic
/// and a terminologic code (`fre`, `fra`) are one language.
fn language_problem(want: Option<&str>, got: Option<&str>) -> Option<String> {
    let want = want.filter(|w| w.len() == 3)?;
    let same = got.is_some_and(|g| bcp47(g) == bcp47(want));
    (!same).then(|| format!("language {got:?}, the source's is {want:?}"))
}
