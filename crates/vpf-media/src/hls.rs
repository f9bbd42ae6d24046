//! HLS with alternate renditions, for jobs with several audio tracks or
//! with subtitles: `hls/index.m3u8` is then a master playlist naming a
//! video-only variant, one audio rendition per track (`#EXT-X-MEDIA:
//! TYPE=AUDIO`, one group) and one WebVTT rendition per subtitle track
//! (`TYPE=SUBTITLES`). A job with one audio track and no subtitles keeps
//! the single muxed media playlist (package.rs).
//!
//! ffmpeg's HLS muxer cuts the video and every audio track in one pass
//! (`-var_stream_map`). The master playlist and the subtitle renditions
//! are ours: ffmpeg 5.1 names audio renditions `audio_0`, `audio_1`,
//! carries one subtitle stream per video variant (so several tracks would
//! repeat the video), and writes WebVTT segments without the
//! `X-TIMESTAMP-MAP` that ties their cues to the MPEG-TS clock, which
//! starts at 1.4 s, not 0.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vpf_core::job::JobPlan;
use vpf_core::nas::write_atomic;
use vpf_core::tracks::{bcp47, language_name};
use vpf_core::{Error, ErrorKind, Result};

use futures_util::future::try_join_all;

use crate::Tools;
use crate::hls_check::{
    HlsContent, Playlist, SegmentScan, read_playlist, scan_segments, verify_media_playlist,
};
use crate::output::{hls_muxer, set_hls_durations};
use crate::run::{Stdout, args, ffmpeg_base, ffprobe_video, run};
use crate::subtitles::{Cue, join_segments, parse_vtt, vtt_segments};
use crate::verify::Counted;

/// The master playlist's name: the key `JobRequest::output_key` gives HLS.
pub const MASTER: &str = "index.m3u8";
/// The video variant's media playlist.
pub const VIDEO: &str = "video.m3u8";
pub(crate) const AUDIO_GROUP: &str = "audio";
const SUBTITLE_GROUP: &str = "subs";

/// Whether the job's HLS output is a master playlist with renditions.
pub fn has_renditions(plan: &JobPlan) -> bool {
    plan.audio_plan().len() > 1 || !plan.subtitle_tracks.is_empty()
}

/// The media playlist of audio rendition `k` (the joined video's track `k`).
pub fn audio_playlist(k: usize) -> String {
    format!("audio-{k}.m3u8")
}

/// The media playlist of subtitle rendition `k`.
pub fn subtitle_playlist(k: usize) -> String {
    format!("subs-{k}.m3u8")
}

/// ffmpeg's HLS muxer, one pass: the joined video's video stream and each
/// of its `audio_tracks` audio streams as media playlists in `dir`
/// (`video.m3u8`, `audio-<k>.m3u8`, segments `<name>-<nnnnn>.ts`). The
/// settings are those of the single playlist (package.rs).
pub fn rendition_args(master: &Path, dir: &Path, audio_tracks: usize) -> Vec<OsString> {
    let mut a = ffmpeg_base();
    a.extend(args!["-i", master, "-map", "0:V:0"]);
    let mut map = String::from("v:0,name:video");
    if audio_tracks > 0 {
        let _ = write!(map, ",agroup:{AUDIO_GROUP}");
    }
    for k in 0..audio_tracks {
        a.extend(args!["-map", format!("0:a:{k}")]);
        let _ = write!(map, " a:{k},agroup:{AUDIO_GROUP},name:audio-{k}");
    }
    let dir_pattern = dir.to_string_lossy().replace('%', "%%");
    a.extend(hls_muxer());
    a.extend(args![
        "-var_stream_map",
        map,
        "-hls_segment_filename",
        format!("{dir_pattern}/%v-%05d.ts"),
        dir.join("%v.m3u8")
    ]);
    a
}

/// One `#EXT-X-MEDIA` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `AUDIO` or `SUBTITLES`.
    pub kind: String,
    pub group: String,
    pub name: String,
    /// RFC 5646 (`en`, `fr`, `pt-BR`).
    pub language: Option<String>,
    pub default: bool,
    pub autoselect: bool,
    pub forced: bool,
    /// Audio: the channel count.
    pub channels: Option<u32>,
    pub uri: String,
}

/// One `#EXT-X-STREAM-INF` and its URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub uri: String,
    /// Peak bits per second: the largest segment of the video with the
    /// largest of each audio rendition.
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    pub resolution: Option<(u32, u32)>,
    /// Frames per second, three decimals.
    pub frame_rate: Option<String>,
    pub codecs: Option<String>,
    pub audio: Option<String>,
    pub subtitles: Option<String>,
}

/// A master playlist: renditions and variants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MasterPlaylist {
    pub media: Vec<Media>,
    pub variants: Vec<Variant>,
}

/// `KEY=VALUE,KEY="quoted, value"` as (key, value without quotes).
fn attributes(list: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = list.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => match q.split_once('"') {
                Some((v, n)) => (v, n),
                None => (q, ""),
            },
            None => after.split_once(',').map_or((after, ""), |(v, n)| (v, n)),
        };
        out.push((key.trim().to_string(), value.to_string()));
        rest = next.trim_start_matches(',').trim();
    }
    out
}

impl MasterPlaylist {
    pub fn parse(text: &str) -> Result<MasterPlaylist> {
        let bad =
            |what: String| Error::new(ErrorKind::VerifyFailed, format!("master playlist: {what}"));
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some("#EXTM3U") {
            return Err(bad("it does not start with #EXTM3U".into()));
        }
        let mut m = MasterPlaylist::default();
        let mut pending: Option<Vec<(String, String)>> = None;
        for l in lines {
            if let Some(list) = l.strip_prefix("#EXT-X-MEDIA:") {
                let a = attributes(list);
                let get = |k: &str| a.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
                let yes = |k: &str| get(k).is_some_and(|v| v == "YES");
                m.media.push(Media {
                    kind: get("TYPE").ok_or_else(|| bad(format!("no TYPE in {l:?}")))?,
                    group: get("GROUP-ID").ok_or_else(|| bad(format!("no GROUP-ID in {l:?}")))?,
                    name: get("NAME").ok_or_else(|| bad(format!("no NAME in {l:?}")))?,
                    language: get("LANGUAGE"),
                    default: yes("DEFAULT"),
                    autoselect: yes("AUTOSELECT"),
                    forced: yes("FORCED"),
                    channels: get("CHANNELS").and_then(|c| c.parse().ok()),
                    uri: get("URI").ok_or_else(|| bad(format!("no URI in {l:?}")))?,
                });
            } else if let Some(list) = l.strip_prefix("#EXT-X-STREAM-INF:") {
                pending = Some(attributes(list));
            } else if !l.starts_with('#') {
                let a = pending
                    .take()
                    .ok_or_else(|| bad(format!("{l:?} has no #EXT-X-STREAM-INF")))?;
                let get = |k: &str| a.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
                m.variants.push(Variant {
                    uri: l.to_string(),
                    bandwidth: get("BANDWIDTH")
                        .and_then(|b| b.parse().ok())
                        .ok_or_else(|| bad(format!("no BANDWIDTH for {l:?}")))?,
                    average_bandwidth: get("AVERAGE-BANDWIDTH").and_then(|b| b.parse().ok()),
                    resolution: get("RESOLUTION").and_then(|r| {
                        let (w, h) = r.split_once('x')?;
                        Some((w.parse().ok()?, h.parse().ok()?))
                    }),
                    frame_rate: get("FRAME-RATE"),
                    codecs: get("CODECS"),
                    audio: get("AUDIO"),
                    subtitles: get("SUBTITLES"),
                });
            }
        }
        Ok(m)
    }

    pub fn write(&self) -> String {
        let yes = |b: bool| if b { "YES" } else { "NO" };
        let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        for m in &self.media {
            let _ = write!(out, "#EXT-X-MEDIA:TYPE={},GROUP-ID=\"{}\"", m.kind, m.group);
            if let Some(l) = &m.language {
                let _ = write!(out, ",LANGUAGE=\"{l}\"");
            }
            let _ = write!(
                out,
                ",NAME=\"{}\",DEFAULT={},AUTOSELECT={}",
                m.name,
                yes(m.default),
                yes(m.autoselect)
            );
            if m.kind == "SUBTITLES" {
                let _ = write!(out, ",FORCED={}", yes(m.forced));
            }
            if let Some(c) = m.channels {
                let _ = write!(out, ",CHANNELS=\"{c}\"");
            }
            let _ = writeln!(out, ",URI=\"{}\"", m.uri);
        }
        for v in &self.variants {
            let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
            if let Some(b) = v.average_bandwidth {
                let _ = write!(out, ",AVERAGE-BANDWIDTH={b}");
            }
            if let Some((w, h)) = v.resolution {
                let _ = write!(out, ",RESOLUTION={w}x{h}");
            }
            if let Some(f) = &v.frame_rate {
                let _ = write!(out, ",FRAME-RATE={f}");
            }
            if let Some(c) = &v.codecs {
                let _ = write!(out, ",CODECS=\"{c}\"");
            }
            if let Some(g) = &v.audio {
                let _ = write!(out, ",AUDIO=\"{g}\"");
            }
            if let Some(g) = &v.subtitles {
                let _ = write!(out, ",SUBTITLES=\"{g}\"");
            }
            let _ = writeln!(out, "\n{}", v.uri);
        }
        out
    }
}

/// A rendition's NAME: the track's title, else its language's name (or
/// code), else its kind and number; made unique within the group (players
/// list them).
fn names(items: &[(Option<String>, Option<String>)], kind: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, (title, language)) in items.iter().enumerate() {
        let base = title
            .clone()
            .or_else(|| {
                language
                    .as_deref()
                    .map(|l| language_name(l).map_or_else(|| l.to_string(), str::to_string))
            })
            .unwrap_or_else(|| format!("{kind} {}", i + 1));
        let mut name = base.clone();
        let mut n = 2;
        while out.contains(&name) {
            name = format!("{base} ({n})");
            n += 1;
        }
        out.push(name);
    }
    out
}

/// RFC 6381 `avc1.PPCCLL` from an `avcC` record (ffprobe's hexdump of the
/// stream's extradata): profile, constraint flags, level.
pub fn avc1_codec(extradata_dump: &str) -> Option<String> {
    let mut bytes = Vec::new();
    for line in extradata_dump.lines() {
        // "00000000: 0142 c00d ffe1 ...  .B......"
        let Some((_, rest)) = line.split_once(": ") else {
            continue;
        };
        let hex: String = rest
            .split("  ")
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for pair in hex.as_bytes().chunks(2) {
            let s = std::str::from_utf8(pair).ok()?;
            bytes.push(u8::from_str_radix(s, 16).ok()?);
        }
        if bytes.len() >= 4 {
            break;
        }
    }
    match bytes.as_slice() {
        [1, profile, flags, level, ..] => Some(format!("avc1.{profile:02x}{flags:02x}{level:02x}")),
        _ => None,
    }
}

/// Bits per second of a playlist's segments: (peak, average).
fn rates(p: &Playlist, paths: &[PathBuf]) -> Result<(f64, f64)> {
    let (mut peak, mut bytes) = (0.0f64, 0u64);
    for ((_, d), path) in p.segments.iter().zip(paths) {
        let b = std::fs::metadata(path)
            .map_err(|e| Error::new(ErrorKind::VerifyFailed, format!("{}: {e}", path.display())))?
            .len();
        bytes += b;
        if *d > 0.0 {
            peak = peak.max(b as f64 * 8.0 / d);
        }
    }
    let avg = bytes as f64 * 8.0 / p.seconds().max(1e-9);
    Ok((peak, avg))
}

/// What the joined video's stream says for the variant: size and codec.
pub(crate) async fn video_attributes(
    tools: &Tools,
    master: &Path,
) -> Result<((u32, u32), Option<String>)> {
    let out = run(
        &tools.ffprobe,
        &ffprobe_video(args![
            "-show_entries",
            "stream=width,height,extradata",
            "-show_data",
            "-of",
            "json",
            master
        ]),
        Stdout::Capture,
    )
    .await?
    .check(ErrorKind::VerifyFailed, "reading the joined video's codec")?;
    #[derive(serde::Deserialize)]
    struct S {
        width: Option<u32>,
        height: Option<u32>,
        extradata: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct J {
        #[serde(default)]
        streams: Vec<S>,
    }
    let j: J = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::internal(format!("ffprobe output could not be parsed: {e}")))?;
    let s = j.streams.into_iter().next().ok_or_else(|| {
        Error::new(
            ErrorKind::VerifyFailed,
            "the joined video has no video stream",
        )
    })?;
    Ok((
        (s.width.unwrap_or(0), s.height.unwrap_or(0)),
        s.extradata.as_deref().and_then(avc1_codec),
    ))
}

/// Write subtitle rendition `k` into `dir`: `subs-<k>.m3u8` and one WebVTT
/// segment per video segment, over the same times (so a player switching
/// renditions finds the cues where the video is). `mpegts`: the MPEG-TS
/// time of the output's zero. Returns the segment paths, in order.
pub fn write_subtitle_rendition(
    dir: &Path,
    k: usize,
    cues: &[Cue],
    video: &Playlist,
    target: u64,
    mpegts: i64,
) -> Result<Vec<PathBuf>> {
    let mut bounds = Vec::with_capacity(video.segments.len());
    let mut at = 0.0;
    for (_, d) in &video.segments {
        let from = (at * 1000.0f64).round() as i64;
        at += d;
        bounds.push((from, (at * 1000.0f64).round() as i64));
    }
    let mut playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    let mut paths = Vec::new();
    for (i, (text, (_, d))) in vtt_segments(cues, &bounds, mpegts)
        .into_iter()
        .zip(&video.segments)
        .enumerate()
    {
        let name = format!("subs-{k}-{i:05}.vtt");
        let path = dir.join(&name);
        std::fs::write(&path, text)?;
        let _ = write!(playlist, "#EXTINF:{d:.6},\n{name}\n");
        paths.push(path);
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    write_atomic(&dir.join(subtitle_playlist(k)), playlist.as_bytes())?;
    Ok(paths)
}

/// Check subtitle rendition `k` in `dir`: a complete VOD playlist with
/// the video's segments and times, every segment WebVTT tied to the
/// MPEG-TS clock, and together every cue of the track, each once.
pub fn verify_subtitle_rendition(
    dir: &Path,
    k: usize,
    cues: &[Cue],
    video: &Playlist,
) -> Result<()> {
    let (p, paths) = read_playlist(&dir.join(subtitle_playlist(k)))?;
    let mut problems = Vec::new();
    if !p.ended || !p.vod {
        problems.push("not a complete VOD playlist".to_string());
    }
    let times = |p: &Playlist| {
        p.segments
            .iter()
            .map(|s| (s.1 * 1e6).round() as i64)
            .collect::<Vec<_>>()
    };
    if times(&p) != times(video) {
        problems.push(format!(
            "{} segments that do not match the video's {}",
            p.segments.len(),
            video.segments.len()
        ));
    }
    let mut segments = Vec::with_capacity(paths.len());
    for path in &paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(ErrorKind::VerifyFailed, format!("{}: {e}", path.display())))?;
        if !text
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("X-TIMESTAMP-MAP=MPEGTS:"))
        {
            problems.push(format!("{} has no X-TIMESTAMP-MAP", path.display()));
        }
        segments
            .push(parse_vtt(&text).map_err(|e| Error::new(ErrorKind::VerifyFailed, e.message))?);
    }
    let got = join_segments(&segments);
    if got != cues {
        problems.push(format!(
            "the segments hold {} cues, the track {}",
            got.len(),
            cues.len()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("the HLS subtitle rendition {k}: {}", problems.join("; ")),
        ))
    }
}

/// The `#EXT-X-MEDIA` lines of the job's audio tracks, one group
/// (`AUDIO="audio"`): named by title or language, the language as BCP 47,
/// the default track flagged; `uri(k)` is rendition `k`'s media playlist.
pub(crate) fn audio_media(plan: &JobPlan, uri: impl Fn(usize) -> String) -> Vec<Media> {
    let default_audio = plan.default_audio();
    let audio_info: Vec<_> = plan
        .audio_plan()
        .iter()
        .map(|&n| plan.info.audio_track(n))
        .collect();
    let audio_names = names(
        &audio_info
            .iter()
            .map(|a| {
                (
                    a.and_then(|a| a.title.clone()),
                    a.and_then(|a| a.language.clone()),
                )
            })
            .collect::<Vec<_>>(),
        "Audio",
    );
    audio_info
        .iter()
        .zip(audio_names)
        .enumerate()
        .map(|(k, (a, name))| Media {
            kind: "AUDIO".into(),
            group: AUDIO_GROUP.into(),
            name,
            language: a.and_then(|a| a.language.as_deref()).map(bcp47),
            default: Some(k) == default_audio,
            autoselect: true,
            forced: false,
            channels: Some(a.map(|a| a.channels).filter(|&c| c == 1).unwrap_or(2)),
            uri: uri(k),
        })
        .collect()
}

/// `FRAME-RATE`: the stream's rate, three decimals.
pub(crate) fn frame_rate(plan: &JobPlan) -> Option<String> {
    plan.info.video.as_ref().and_then(|v| {
        (v.frame_rate_den > 0)
            .then(|| format!("{:.3}", v.frame_rate_num as f64 / v.frame_rate_den as f64))
    })
}

/// Everything the master playlist says, from the plan and the media
/// playlists already in `dir`.
pub(crate) fn master_playlist(
    dir: &Path,
    plan: &JobPlan,
    size: (u32, u32),
    codecs: Option<String>,
) -> Result<MasterPlaylist> {
    let audio_plan = plan.audio_plan();
    let (video, video_paths) = read_playlist(&dir.join(VIDEO))?;
    let (mut peak, mut avg) = rates(&video, &video_paths)?;
    let mut audio_peak = 0.0f64;
    let mut audio_avg = 0.0f64;
    for k in 0..audio_plan.len() {
        let (p, paths) = read_playlist(&dir.join(audio_playlist(k)))?;
        let (pk, av) = rates(&p, &paths)?;
        audio_peak = audio_peak.max(pk);
        audio_avg = audio_avg.max(av);
    }
    let mut media = audio_media(plan, audio_playlist);
    let subs: Vec<_> = plan
        .subtitle_tracks
        .iter()
        .map(|&n| plan.info.subtitle_tracks.get(n as usize))
        .collect();
    let sub_names = names(
        &subs
            .iter()
            .map(|s| {
                (
                    s.and_then(|s| s.title.clone()),
                    s.and_then(|s| s.language.clone()),
                )
            })
            .collect::<Vec<_>>(),
        "Subtitles",
    );
    for (k, (s, name)) in subs.iter().zip(sub_names).enumerate() {
        media.push(Media {
            kind: "SUBTITLES".into(),
            group: SUBTITLE_GROUP.into(),
            name,
            language: s.and_then(|s| s.language.as_deref()).map(bcp47),
            // Shown only when the viewer asks (or the track is forced):
            // Matroska flags subtitle tracks default unless told otherwise.
            default: false,
            autoselect: true,
            forced: s.is_some_and(|s| s.forced),
            channels: None,
            uri: subtitle_playlist(k),
        });
    }
    peak += audio_peak;
    avg += audio_avg;
    let frame_rate = frame_rate(plan);
    let has_audio = !audio_plan.is_empty();
    let codecs = codecs.map(|c| match has_audio {
        // Our AAC encode is AAC-LC.
        true => format!("{c},mp4a.40.2"),
        false => c,
    });
    Ok(MasterPlaylist {
        media,
        variants: vec![Variant {
            uri: VIDEO.into(),
            bandwidth: peak.ceil() as u64,
            average_bandwidth: Some(avg.ceil() as u64),
            resolution: Some(size),
            frame_rate,
            codecs,
            audio: has_audio.then(|| AUDIO_GROUP.to_string()),
            subtitles: (!subs.is_empty()).then(|| SUBTITLE_GROUP.to_string()),
        }],
    })
}

/// The video and audio renditions as ffmpeg cut them, measured.
pub(crate) struct Renditions {
    video: Vec<SegmentScan>,
    /// Per audio rendition, in the joined video's track order.
    audio: Vec<Vec<SegmentScan>>,
    size: (u32, u32),
    codecs: Option<String>,
}

/// Cut the joined video's video and audio tracks into renditions in `dir`
/// (one ffmpeg), and measure them: the video segments' real lengths go
/// into its playlist, as for the single playlist.
pub(crate) async fn make(
    tools: &Tools,
    master: &Path,
    dir: &Path,
    plan: &JobPlan,
    video_seconds: f64,
) -> Result<Renditions> {
    let audio_tracks = plan.audio_plan().len();
    let cut = async {
        run(
            &tools.ffmpeg,
            &rendition_args(master, dir, audio_tracks),
            Stdout::Ignore,
        )
        .await?
        .check(ErrorKind::EncodeFailed, "packaging HLS renditions")
        .map(|_| ())
    };
    let ((), (size, codecs)) = tokio::try_join!(cut, video_attributes(tools, master))?;
    let scan = |name: String| async move {
        let (_, paths) = read_playlist(&dir.join(name))?;
        scan_segments(tools, &paths).await
    };
    let (video, audio) = tokio::try_join!(
        scan(VIDEO.to_string()),
        try_join_all((0..audio_tracks).map(|k| scan(audio_playlist(k))))
    )?;
    set_hls_durations(&dir.join(VIDEO), &video, video_seconds)?;
    Ok(Renditions {
        video,
        audio,
        size,
        codecs,
    })
}

/// Check the video and audio renditions in `dir` against the joined video
/// (`counted`), write the subtitle renditions (`cues`, per kept track) and
/// the master playlist, and check them.
pub(crate) fn finish(
    dir: &Path,
    plan: &JobPlan,
    counted: &Counted,
    r: &Renditions,
    cues: &[Vec<Cue>],
) -> Result<()> {
    verify_media_playlist(&dir.join(VIDEO), plan, counted, &r.video, HlsContent::Video)?;
    for (k, scans) in r.audio.iter().enumerate() {
        verify_media_playlist(
            &dir.join(audio_playlist(k)),
            plan,
            counted,
            scans,
            HlsContent::Audio(k),
        )?;
    }
    let (video, _) = read_playlist(&dir.join(VIDEO))?;
    let target = video.segments.iter().fold(0.0f64, |a, s| a.max(s.1)).ceil() as u64;
    // The MPEG-TS clock at the output's zero: the first video frame's time
    // in the segments, less where that frame is in the joined video.
    let first = r
        .video
        .first()
        .and_then(|s| s.first_video)
        .map(|(t, _)| t)
        .filter(|t| t.is_finite())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::VerifyFailed,
                "the first HLS segment holds no video",
            )
        })?;
    let mpegts = ((first - counted.video_start) * 90_000.0).round() as i64;
    for (k, c) in cues.iter().enumerate() {
        write_subtitle_rendition(dir, k, c, &video, target, mpegts)?;
        verify_subtitle_rendition(dir, k, c, &video)?;
    }
    let m = master_playlist(dir, plan, r.size, r.codecs.clone())?;
    write_atomic(&dir.join(MASTER), m.write().as_bytes())?;
    verify_master(dir, plan).map(|_| ())
}

/// Every file of the renditions in `dir` (name within it), in upload order:
/// each media playlist after its segments, the master last; and the
/// video's length by its playlist.
pub(crate) fn files(dir: &Path, plan: &JobPlan) -> Result<(Vec<(PathBuf, String)>, f64)> {
    let mut playlists = vec![VIDEO.to_string()];
    playlists.extend((0..plan.audio_plan().len()).map(audio_playlist));
    playlists.extend((0..plan.subtitle_tracks.len()).map(subtitle_playlist));
    let mut out = Vec::new();
    let mut seconds = 0.0;
    for name in playlists {
        let path = dir.join(&name);
        let (p, paths) = read_playlist(&path)?;
        if name == VIDEO {
            seconds = p.seconds();
        }
        for (seg, (uri, _)) in paths.into_iter().zip(&p.segments) {
            out.push((seg, uri.clone()));
        }
        out.push((path, name));
    }
    out.push((dir.join(MASTER), MASTER.to_string()));
    Ok((out, seconds))
}

/// Check the master playlist in `dir` against the plan: one video variant
/// whose groups exist, one rendition per audio and subtitle track, one
/// default audio, every URI a playlist beside it.
pub fn verify_master(dir: &Path, plan: &JobPlan) -> Result<MasterPlaylist> {
    let text = std::fs::read_to_string(dir.join(MASTER))
        .map_err(|e| Error::new(ErrorKind::VerifyFailed, format!("no master playlist: {e}")))?;
    let m = MasterPlaylist::parse(&text)?;
    let mut problems = Vec::new();
    let audio: Vec<&Media> = m.media.iter().filter(|x| x.kind == "AUDIO").collect();
    let subs: Vec<&Media> = m.media.iter().filter(|x| x.kind == "SUBTITLES").collect();
    if audio.len() != plan.audio_plan().len() || subs.len() != plan.subtitle_tracks.len() {
        problems.push(format!(
            "{} audio and {} subtitle renditions, the job has {} and {}",
            audio.len(),
            subs.len(),
            plan.audio_plan().len(),
            plan.subtitle_tracks.len()
        ));
    }
    if !audio.is_empty() && audio.iter().filter(|a| a.default).count() != 1 {
        problems.push("not exactly one default audio rendition".into());
    }
    match m.variants.as_slice() {
        [v] => {
            let groups_exist = v
                .audio
                .as_ref()
                .is_none_or(|g| audio.iter().all(|a| &a.group == g))
                && v.subtitles
                    .as_ref()
                    .is_none_or(|g| subs.iter().all(|s| &s.group == g));
            if !groups_exist
                || v.audio.is_some() == audio.is_empty()
                || v.subtitles.is_some() == subs.is_empty()
            {
                problems.push(format!(
                    "the variant's groups ({:?}, {:?}) do not match its renditions",
                    v.audio, v.subtitles
                ));
            }
        }
        other => problems.push(format!("{} variants, expected one", other.len())),
    }
    for uri in m
        .media
        .iter()
        .map(|x| &x.uri)
        .chain(m.variants.iter().map(|v| &v.uri))
    {
        let plain = !uri.contains('/') && !uri.contains("://") && uri.ends_with(".m3u8");
        if !plain || !dir.join(uri).is_file() {
            problems.push(format!("{uri:?} is not a playlist beside the master"));
        }
    }
    if problems.is_empty() {
        Ok(m)
    } else {
        Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("the HLS master playlist: {}", problems.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: Vec<OsString>) -> Vec<String> {
        a.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn one_pass_cuts_the_video_and_every_audio_track() {
        let a = strings(rendition_args(Path::new("m.mp4"), Path::new("/j/out/h"), 2));
        let at = a.iter().position(|x| x == "-var_stream_map").unwrap();
        assert_eq!(
            a[at + 1],
            "v:0,name:video,agroup:audio a:0,agroup:audio,name:audio-0 a:1,agroup:audio,name:audio-1"
        );
        let maps: Vec<&String> = a
            .windows(2)
            .filter(|w| w[0] == "-map")
            .map(|w| &w[1])
            .collect();
        assert_eq!(maps, ["0:V:0", "0:a:0", "0:a:1"]);
        assert!(a.contains(&"/j/out/h/%v-%05d.ts".to_string()));
        assert_eq!(a.last().unwrap(), "/j/out/h/%v.m3u8");
        // Subtitles only: the video alone, no audio group.
        let a = strings(rendition_args(Path::new("m.mp4"), Path::new("h"), 0));
        assert!(a.contains(&"v:0,name:video".to_string()));
    }

    #[test]
    fn master_playlists_write_and_parse() {
        let m = MasterPlaylist {
            media: vec![
                Media {
                    kind: "AUDIO".into(),
                    group: "audio".into(),
                    name: "eng".into(),
                    language: Some("en".into()),
                    default: true,
                    autoselect: true,
                    forced: false,
                    channels: Some(2),
                    uri: "audio-0.m3u8".into(),
                },
                Media {
                    kind: "SUBTITLES".into(),
                    group: "subs".into(),
                    name: "Director, commentary".into(),
                    language: None,
                    default: false,
                    autoselect: true,
                    forced: true,
                    channels: None,
                    uri: "subs-0.m3u8".into(),
                },
            ],
            variants: vec![Variant {
                uri: "video.m3u8".into(),
                bandwidth: 900_000,
                average_bandwidth: Some(700_000),
                resolution: Some((640, 360)),
                frame_rate: Some("29.970".into()),
                codecs: Some("avc1.64001e,mp4a.40.2".into()),
                audio: Some("audio".into()),
                subtitles: Some("subs".into()),
            }],
        };
        let text = m.write();
        assert!(text.contains(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",LANGUAGE=\"en\",NAME=\"eng\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio-0.m3u8\"\n"
        ), "{text}");
        assert!(text.contains(
            "#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=700000,RESOLUTION=640x360,FRAME-RATE=29.970,CODECS=\"avc1.64001e,mp4a.40.2\",AUDIO=\"audio\",SUBTITLES=\"subs\"\nvideo.m3u8\n"
        ), "{text}");
        assert_eq!(MasterPlaylist::parse(&text).unwrap(), m);
        assert!(MasterPlaylist::parse("#EXTM3U\nvideo.m3u8\n").is_err());
    }

    #[test]
    fn codecs_come_from_the_avc_record() {
        let dump = "\n00000000: 0142 c00d ffe1 0016 6742 c00d da05 07ec  .B......gB......\n00000010: 0440 0000 0300 4000 000c 83c5 0aa8 0100  .@....@.........\n";
        assert_eq!(avc1_codec(dump).as_deref(), Some("avc1.42c00d"));
        assert_eq!(
            avc1_codec("00000000: 0164 001f  .d.."),
            Some("avc1.64001f".into())
        );
        assert_eq!(avc1_codec(""), None);
        assert_eq!(avc1_codec("00000000: 0000 0001 6742  ....gB"), None);
    }

    #[test]
    fn rendition_names_are_unique() {
        let items = vec![
            (None, Some("eng".to_string())),
            (Some("Commentary".to_string()), Some("eng".to_string())),
            (None, Some("eng".to_string())),
            (None, None),
        ];
        assert_eq!(
            names(&items, "Audio"),
            ["English", "Commentary", "English (2)", "Audio 4"]
        );
    }

    #[test]
    fn subtitle_renditions_follow_the_video_segments() {
        let dir = tempfile::tempdir().unwrap();
        let video = Playlist::parse(
            "#EXTM3U\n#EXTINF:6.0,\nv0.ts\n#EXTINF:6.0,\nv1.ts\n#EXTINF:1.5,\nv2.ts\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        let cues = vec![
            Cue {
                start_ms: 500,
                end_ms: 1500,
                text: "one".into(),
            },
            Cue {
                start_ms: 5500,
                end_ms: 6500,
                text: "two".into(),
            },
        ];
        let paths = write_subtitle_rendition(dir.path(), 0, &cues, &video, 6, 126000).unwrap();
        assert_eq!(paths.len(), 3);
        verify_subtitle_rendition(dir.path(), 0, &cues, &video).unwrap();
        // A cue lost from the segments is found.
        let e = verify_subtitle_rendition(dir.path(), 0, &cues[..1], &video).unwrap_err();
        assert!(e.message.contains("2 cues, the track 1"), "{}", e.message);
        std::fs::write(&paths[1], "WEBVTT\n\n").unwrap();
        assert!(verify_subtitle_rendition(dir.path(), 0, &cues, &video).is_err());
    }
}
