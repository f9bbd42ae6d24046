//! Checks on what we made (reference NOTES §7): frame count equals the
//! source's, video duration within one frame, audio without gaps (every AAC
//! packet 1024 samples) and of the expected length within one AAC frame,
//! audio and video starting together; for HLS, a complete VOD playlist whose
//! segments exist, add up to the video's length and hold every frame.
//! Both outputs are demuxed end to end and their key frames and audio decoded
//! ([`decode_key_frames`]); [`decode`] (every frame) stays for callers that
//! want it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use vpf_core::job::{JobPlan, VideoInfo};
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::audio::output_rate;
use crate::probe::{Rational, expected_audio_seconds, probe_json};
use crate::run::{Stdout, args, ffmpeg_base, run};
use crate::transcode::output_size;

/// AAC-LC frame length, in samples.
pub const AAC_FRAME: i64 = 1024;
/// Longest playlist we read.
const MAX_PLAYLIST: u64 = 4 << 20;

fn failed(what: &str, problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("{what}: {}", problems.join("; ")),
        ))
    }
}

fn source_video(plan: &JobPlan) -> Result<&VideoInfo> {
    plan.info
        .video
        .as_ref()
        .ok_or_else(|| Error::invalid("the job plan has no video stream"))
}

/// One frame of the source, seconds (the average frame for a variable rate).
fn frame_seconds(v: &VideoInfo) -> f64 {
    v.frame_rate_den.max(1) as f64 / v.frame_rate_num.max(1) as f64
}

/// Decode every video and audio frame of `input` and return the number of
/// video frames. Any decode error fails.
pub async fn decode(tools: &Tools, input: &Path) -> Result<u64> {
    let mut a = ffmpeg_base();
    a.extend(args![
        "-i",
        input,
        "-map",
        "0:V:0",
        "-map",
        "0:a:0?",
        "-fps_mode",
        "passthrough",
        // Count frames at the file's own time base, so no two frames of a
        // variable frame rate can land on one tick.
        "-enc_time_base:v",
        "-1",
        "-f",
        "null",
        "-"
    ]);
    let out = run(&tools.ffmpeg, &a, Stdout::Ignore).await?.check(
        ErrorKind::VerifyFailed,
        &format!("decoding {}", input.display()),
    )?;
    let errors = out.log.errors(false);
    if !errors.is_empty() {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!(
                "decoding {} reported errors: {}",
                input.display(),
                errors.join("; ")
            ),
        ));
    }
    out.log.progress.map(|p| p.frame as u64).ok_or_else(|| {
        Error::internal(format!(
            "ffmpeg reported no frame count for {}",
            input.display()
        ))
    })
}

/// Demux every packet of `input` and decode its key frames and its audio;
/// any demux or decode error fails. Each piece of a joined video, and each
/// HLS segment, starts with a key frame, so every join and every segment
/// start is decoded with the parameter sets in force there.
///
/// Why not every frame: the frames between key frames are x264's output
/// copied unchanged, and frame counts come from the packets (one per frame in
/// H.264). A full decode cost about 20% of the single-encode time on 1080p
/// (4.5 s CPU for 30 s; twice with HLS), the largest overhead of the pipeline
/// on a 2-core machine (issue 6, bench/); this costs about a twentieth of it.
/// What a full decode added is small: ffmpeg 5.1 conceals damage inside a
/// frame and logs it at info level, so neither notices flipped bits; both
/// notice lost or cut media data, bad NAL units and broken timestamps.
pub async fn decode_key_frames(tools: &Tools, input: &Path) -> Result<()> {
    let mut a = ffmpeg_base();
    a.extend(args![
        "-skip_frame",
        "nokey",
        "-i",
        input,
        "-map",
        "0:V:0",
        "-map",
        "0:a:0?",
        "-fps_mode",
        "passthrough",
        "-enc_time_base:v",
        "-1",
        "-f",
        "null",
        "-"
    ]);
    let out = run(&tools.ffmpeg, &a, Stdout::Ignore).await?.check(
        ErrorKind::VerifyFailed,
        &format!("decoding {}", input.display()),
    )?;
    let errors = out.log.errors(false);
    if !errors.is_empty() {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!(
                "decoding {} reported errors: {}",
                input.display(),
                errors.join("; ")
            ),
        ));
    }
    Ok(())
}

/// Timing of one stream, from its packets.
#[derive(Debug, Default, Clone)]
pub(crate) struct Timing {
    pub packets: u64,
    /// First and last shown instants (packets an edit list hides excluded), in the stream's time base.
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Audio packets, other than the last, that are not one AAC frame long:
    /// (packet number, duration in samples).
    pub odd: Vec<(u64, f64)>,
    pub last_samples: f64,
}

/// Per-stream packet timing for a whole file (one pass, no decoding).
pub(crate) async fn timings(
    tools: &Tools,
    path: &Path,
    tbs: &HashMap<u32, (Rational, u32)>,
) -> Result<HashMap<u32, Timing>> {
    let mut map: HashMap<u32, Timing> = HashMap::new();
    let mut on_line = |line: &str| {
        let mut fields = line.split('|');
        if fields.next() != Some("packet") {
            return;
        }
        let (mut idx, mut pts, mut dts, mut dur, mut flags) = (None, None, None, 0i64, "");
        for f in fields {
            let Some((k, v)) = f.split_once('=') else {
                continue;
            };
            match k {
                "stream_index" => idx = v.parse::<u32>().ok(),
                "pts" => pts = v.parse::<i64>().ok(),
                "dts" => dts = v.parse::<i64>().ok(),
                "duration" => dur = v.parse::<i64>().unwrap_or(0),
                "flags" => flags = v,
                _ => {}
            }
        }
        let Some(idx) = idx else { return };
        let t = map.entry(idx).or_default();
        let n = t.packets;
        t.packets += 1;
        if let Some((tb, rate)) = tbs.get(&idx).filter(|(_, r)| *r > 0) {
            // The previous packet was not the last: it must be a whole AAC frame.
            if n > 0 && (t.last_samples - AAC_FRAME as f64).abs() > 0.5 {
                t.odd.push((n - 1, t.last_samples));
            }
            t.last_samples = dur as f64 * tb.f64() * *rate as f64;
        }
        if flags.contains('D') {
            return;
        }
        if let Some(ts) = pts.or(dts) {
            t.start = Some(t.start.map_or(ts, |s| s.min(ts)));
            t.end = Some(t.end.map_or(ts + dur, |e| e.max(ts + dur)));
        }
    };
    run(
        &tools.ffprobe,
        &args![
            "-v",
            "error",
            "-show_entries",
            "packet=stream_index,pts,dts,duration,flags",
            "-of",
            "compact",
            path
        ],
        Stdout::Lines(&mut on_line),
    )
    .await?
    .check(
        ErrorKind::VerifyFailed,
        &format!("reading the packets of {}", path.display()),
    )?;
    Ok(map)
}

/// Check the joined video (with its audio) against the source: NOTES §7.
/// Fails with `VerifyFailed` and the figures.
pub async fn verify(tools: &Tools, merged: &Path, plan: &JobPlan) -> Result<()> {
    let src = source_video(plan)?;
    let json = probe_json(tools, merged)
        .await
        .map_err(|e| Error::new(ErrorKind::VerifyFailed, e.message))?;
    let mut problems = Vec::new();

    let videos: Vec<_> = json.streams.iter().filter(|s| s.is_video()).collect();
    let audios: Vec<_> = json.streams.iter().filter(|s| s.is_audio()).collect();
    let Some(vs) = videos.first() else {
        return failed("the merged video", vec!["it has no video stream".into()]);
    };
    if videos.len() != 1 || audios.len() > 1 {
        problems.push(format!(
            "{} video and {} audio streams",
            videos.len(),
            audios.len()
        ));
    }
    let want = output_size(src, plan.request.profile.max_height);
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
    // Two reads of the same file, side by side (one core each).
    let (timing, ()) = tokio::try_join!(
        timings(tools, merged, &tbs),
        decode_key_frames(tools, merged)
    )?;
    let secs = |idx: u32, t: &Timing| -> (f64, f64) {
        let tb = tbs.get(&idx).map(|x| x.0.f64()).unwrap_or(1.0);
        let (s, e) = (t.start.unwrap_or(0), t.end.unwrap_or(0));
        (s as f64 * tb, (e - s) as f64 * tb)
    };

    let frame = frame_seconds(src);
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

    match (plan.has_audio, audios.first()) {
        (false, Some(_)) => problems.push("it has an audio stream the job does not expect".into()),
        (true, None) => problems.push("the audio stream is missing".into()),
        (false, None) => {}
        (true, Some(a)) => {
            let rate = tbs.get(&a.index).map(|x| x.1).unwrap_or(0).max(1);
            let at = timing.get(&a.index).cloned().unwrap_or_default();
            if a.codec_name.as_deref() != Some("aac") {
                problems.push(format!("audio codec {:?}, expected aac", a.codec_name));
            }
            if let Some(&(n, samples)) = at.odd.first() {
                problems.push(format!(
                    "{} audio packets are not {AAC_FRAME} samples (packet {n}: {samples} samples): a gap or overlap",
                    at.odd.len()
                ));
            }
            if at.last_samples > AAC_FRAME as f64 + 0.5 {
                problems.push(format!(
                    "the last audio packet has {} samples",
                    at.last_samples
                ));
            }
            let (a_start, a_len) = secs(a.index, &at);
            let expected = expected_audio_seconds(&plan.info).unwrap_or(0.0);
            let src_rate = plan
                .info
                .audio
                .as_ref()
                .map(|x| output_rate(x.sample_rate))
                .unwrap_or(rate);
            let tolerance = AAC_FRAME as f64 / src_rate.max(1) as f64;
            if (a_len - expected).abs() > tolerance + 1e-6 {
                problems.push(format!(
                    "audio lasts {a_len:.6} s, expected {expected:.6} s (tolerance one AAC frame, {tolerance:.6} s)"
                ));
            }
            if (a_start - v_start).abs() > 0.001 {
                problems.push(format!(
                    "audio starts at {a_start:.6} s, video at {v_start:.6} s"
                ));
            }
        }
    }
    failed("the merged video", problems)
}

/// A parsed media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Playlist {
    /// (segment URI as written, duration in seconds), in order.
    pub segments: Vec<(String, f64)>,
    pub ended: bool,
    pub vod: bool,
}

impl Playlist {
    pub fn parse(text: &str) -> Result<Playlist> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some("#EXTM3U") {
            return Err(Error::new(
                ErrorKind::VerifyFailed,
                "the playlist does not start with #EXTM3U",
            ));
        }
        let mut p = Playlist {
            segments: Vec::new(),
            ended: false,
            vod: false,
        };
        let mut pending: Option<f64> = None;
        for l in lines {
            if let Some(v) = l.strip_prefix("#EXTINF:") {
                let d = v
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::VerifyFailed,
                            format!("bad segment duration in {l:?}"),
                        )
                    })?;
                pending = Some(d);
            } else if l == "#EXT-X-ENDLIST" {
                p.ended = true;
            } else if l == "#EXT-X-PLAYLIST-TYPE:VOD" {
                p.vod = true;
            } else if !l.starts_with('#') {
                let d = pending.take().ok_or_else(|| {
                    Error::new(
                        ErrorKind::VerifyFailed,
                        format!("segment {l:?} has no #EXTINF"),
                    )
                })?;
                p.segments.push((l.to_string(), d));
            }
        }
        Ok(p)
    }

    pub fn seconds(&self) -> f64 {
        self.segments.iter().map(|s| s.1).sum()
    }
}

/// Read a playlist and resolve its segments beside it; refuses URIs that
/// leave the playlist's folder.
pub(crate) fn read_playlist(playlist: &Path) -> Result<(Playlist, Vec<PathBuf>)> {
    let meta = std::fs::metadata(playlist).map_err(|e| {
        Error::new(
            ErrorKind::VerifyFailed,
            format!("no playlist at {}: {e}", playlist.display()),
        )
    })?;
    if meta.len() > MAX_PLAYLIST {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            "the playlist is implausibly large",
        ));
    }
    let text = std::fs::read_to_string(playlist)?;
    let p = Playlist::parse(&text)?;
    let dir = playlist.parent().unwrap_or(Path::new("."));
    let mut paths = Vec::new();
    for (uri, _) in &p.segments {
        let escapes =
            uri.contains("://") || uri.starts_with('/') || uri.split('/').any(|c| c == "..");
        if escapes {
            return Err(Error::new(
                ErrorKind::VerifyFailed,
                format!("segment {uri:?} is not a plain name beside the playlist"),
            ));
        }
        paths.push(dir.join(uri));
    }
    Ok((p, paths))
}

/// Video packets (frames) across every segment of a playlist, demuxed, not
/// decoded. ffprobe lists the stream twice for HLS (under its program and
/// on its own): the first count is taken.
async fn playlist_frames(tools: &Tools, playlist: &Path) -> Result<u64> {
    let out = run(
        &tools.ffprobe,
        &args![
            "-v",
            "error",
            "-select_streams",
            "V:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            playlist
        ],
        Stdout::Capture,
    )
    .await?
    .check(
        ErrorKind::VerifyFailed,
        &format!("counting the frames of {}", playlist.display()),
    )?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().trim_end_matches(',').parse::<u64>().ok())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::VerifyFailed,
                format!("{} has no video stream", playlist.display()),
            )
        })
}

/// Check an HLS output: VOD playlist with `#EXT-X-ENDLIST`, every segment
/// present and non-empty, durations adding up to the source video's within
/// one frame, the source's frame count across the segments, key frames and
/// audio decoding.
pub async fn verify_hls(tools: &Tools, playlist: &Path, plan: &JobPlan) -> Result<()> {
    let src = source_video(plan)?;
    let (p, paths) = read_playlist(playlist)?;
    let mut problems = Vec::new();
    if !p.ended {
        problems.push("no #EXT-X-ENDLIST".to_string());
    }
    if p.segments.is_empty() {
        problems.push("no segments".to_string());
    }
    for path in &paths {
        match std::fs::metadata(path) {
            Ok(m) if m.len() > 0 => {}
            _ => problems.push(format!("segment {} is missing or empty", path.display())),
        }
    }
    let tolerance = frame_seconds(src) + 0.001;
    if (p.seconds() - src.duration_seconds).abs() > tolerance {
        problems.push(format!(
            "segments add up to {:.6} s, the video lasts {:.6} s (tolerance {tolerance:.6} s)",
            p.seconds(),
            src.duration_seconds
        ));
    }
    if problems.is_empty() {
        // A remux of the verified joined video: every frame must have reached
        // a segment, and every segment must start decodable.
        let (frames, ()) = tokio::try_join!(
            playlist_frames(tools, playlist),
            decode_key_frames(tools, playlist)
        )?;
        if frames != src.frames {
            problems.push(format!(
                "{frames} video frames in the segments, the source has {}",
                src.frames
            ));
        }
    }
    failed("the HLS output", problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_parse_and_refuse_escapes() {
        let text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n\
                    #EXTINF:2.002000,\nindex00000.ts\n#EXTINF:1.001000,\nindex00001.ts\n#EXT-X-ENDLIST\n";
        let p = Playlist::parse(text).unwrap();
        assert!(p.ended && p.vod);
        assert_eq!(p.segments.len(), 2);
        assert!((p.seconds() - 3.003).abs() < 1e-9);
        assert!(Playlist::parse("index.ts\n").is_err());
        assert!(Playlist::parse("#EXTM3U\nindex.ts\n").is_err());

        let dir = tempfile::tempdir().unwrap();
        let pl = dir.path().join("index.m3u8");
        std::fs::write(&pl, "#EXTM3U\n#EXTINF:1,\n../secret.ts\n#EXT-X-ENDLIST\n").unwrap();
        assert!(read_playlist(&pl).is_err());
        std::fs::write(&pl, text).unwrap();
        let (_, paths) = read_playlist(&pl).unwrap();
        assert_eq!(paths[1], dir.path().join("index00001.ts"));
    }
}
