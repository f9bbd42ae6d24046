//! Checks on HLS outputs against the joined video they were remuxed from:
//! a complete VOD playlist whose segments exist, each start with a key
//! frame, add up to the video's length and hold every packet of the joined
//! video (or, for an audio rendition, of its track).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use vpf_core::job::JobPlan;
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::audio::output_rate;
use crate::probe::{CompactLine, compact_lines, expected_audio_seconds};
use crate::temp::Temp;
use crate::verify::{AAC_FRAME, Counted, failed, source_video};

/// Longest playlist we read.
const MAX_PLAYLIST: u64 = 4 << 20;

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

/// What one pass over an HLS output found in one segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentScan {
    /// The segment's first video packet (in file order): its time in
    /// seconds and whether it is a key frame.
    pub first_video: Option<(f64, bool)>,
    pub video_packets: u64,
    pub audio_packets: u64,
}

/// What an HLS media playlist carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsContent {
    /// The video and the audio together: the whole output when the job has
    /// one audio track and no subtitles.
    Muxed,
    /// The video alone: the variant of a master playlist.
    Video,
    /// Audio track `k` of the joined video alone: an alternate rendition.
    Audio(usize),
}

/// Read every segment back to back in one ffprobe (the `concatf` protocol)
/// and place each packet in its segment by its byte position. One process
/// instead of one per segment (20 segments per 2 minutes of video
/// took 0.7 s on 2 cores that way; one pass takes about 0.1 s).
pub(crate) async fn scan_segments(tools: &Tools, segments: &[PathBuf]) -> Result<Vec<SegmentScan>> {
    let Some(first) = segments.first() else {
        return Ok(Vec::new());
    };
    // Where each segment starts in the concatenation.
    let mut starts = Vec::with_capacity(segments.len());
    let mut total = 0u64;
    let mut list = String::new();
    for path in segments {
        starts.push(total);
        total += std::fs::metadata(path)
            .map_err(|e| {
                Error::new(
                    ErrorKind::VerifyFailed,
                    format!("segment {}: {e}", path.display()),
                )
            })?
            .len();
        let abs = std::path::absolute(path)?;
        let line = abs.to_string_lossy();
        if line.contains('\n') {
            return Err(Error::internal(format!(
                "a segment path holds a line break: {line:?}"
            )));
        }
        list.push_str(&format!("file:{line}\n"));
    }
    let list_file = Temp::beside(&first.with_extension("concatf"));
    std::fs::write(list_file.path(), list)?;

    let mut scans = vec![SegmentScan::default(); segments.len()];
    let mut kinds: HashMap<u32, String> = HashMap::new();
    let mut packets: Vec<(u32, Option<f64>, u64, bool)> = Vec::new();
    let mut last_pos: HashMap<u32, u64> = HashMap::new();
    let mut unplaced = 0u64;
    let mut on_line = |l: CompactLine| {
        let (idx, pts, pos, key) = (l.index, l.pts_time, l.pos, l.key());
        match (l.section, idx) {
            // The parser splits a PES of several audio frames; only the
            // first has a position, and a PES never spans two segments.
            ("packet", Some(i)) => match pos.or_else(|| last_pos.get(&i).copied()) {
                Some(p) => {
                    last_pos.insert(i, p);
                    packets.push((i, pts, p, key));
                }
                None => unplaced += 1,
            },
            (_, Some(i)) => {
                if let Some(k) = l.codec_type {
                    kinds.entry(i).or_insert(k.to_string());
                }
            }
            _ => {}
        }
    };
    let listing = format!("concatf:{}", list_file.path().display());
    compact_lines(
        tools,
        false,
        "packet=stream_index,pts_time,pos,flags:stream=index,codec_type",
        listing,
        &mut on_line,
    )
    .await?
    .check(ErrorKind::VerifyFailed, "reading the HLS segments")?;
    if unplaced > 0 {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("{unplaced} packets of the HLS segments have no byte position"),
        ));
    }
    for (idx, t, pos, key) in packets {
        let seg = starts.partition_point(|&s| s <= pos).saturating_sub(1);
        let scan = &mut scans[seg];
        match kinds.get(&idx).map(String::as_str) {
            Some("video") => {
                scan.video_packets += 1;
                if scan.first_video.is_none() {
                    scan.first_video = Some((t.unwrap_or(f64::NAN), key));
                }
            }
            Some("audio") => scan.audio_packets += 1,
            _ => {}
        }
    }
    Ok(scans)
}

/// Check an HLS output against the joined video it was remuxed from: VOD
/// playlist with `#EXT-X-ENDLIST`, every segment present and starting with a
/// key frame (so each decodes on its own: the MPEG-TS muxer puts the
/// parameter sets before every key frame), durations adding up to the
/// source video's within one frame, and every video and audio packet of
/// the joined video in the segments. `scans` is [`scan_segments`] of the
/// playlist's segments. The bits are those of the joined video, which
/// [`verify`] decoded at every join.
pub fn verify_hls(
    playlist: &Path,
    plan: &JobPlan,
    master: &Counted,
    scans: &[SegmentScan],
) -> Result<()> {
    verify_media_playlist(playlist, plan, master, scans, HlsContent::Muxed)
}

/// [`verify_hls`] for any media playlist: the video variant of a master
/// playlist is checked as the muxed one is, without audio; an audio
/// rendition must hold every packet of its track in the joined video, and
/// its segments add up to the track's length.
pub fn verify_media_playlist(
    playlist: &Path,
    plan: &JobPlan,
    master: &Counted,
    scans: &[SegmentScan],
    content: HlsContent,
) -> Result<()> {
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
    if scans.len() != paths.len() {
        problems.push(format!(
            "{} segments were read, the playlist lists {}",
            scans.len(),
            paths.len()
        ));
    }
    let video: u64 = scans.iter().map(|s| s.video_packets).sum();
    let audio: u64 = scans.iter().map(|s| s.audio_packets).sum();
    if let HlsContent::Audio(k) = content {
        // Audio segments end where ffmpeg's muxer cut them (every AAC frame
        // can start one); they hold the AAC priming frame the MP4's edit
        // list hides, hence two frames of tolerance.
        let n = plan.audio_plan().get(k).copied().unwrap_or(0);
        let expected = expected_audio_seconds(&plan.info, n).unwrap_or(0.0);
        let rate = plan
            .info
            .audio_track(n)
            .map(|a| output_rate(a.sample_rate))
            .unwrap_or(48000);
        let tolerance = 2.0 * AAC_FRAME as f64 / rate as f64 + 0.001;
        if (p.seconds() - expected).abs() > tolerance {
            problems.push(format!(
                "segments add up to {:.6} s, the audio lasts {expected:.6} s (tolerance {tolerance:.6} s)",
                p.seconds()
            ));
        }
        if video != 0 {
            problems.push(format!("{video} video packets in an audio rendition"));
        }
        let want = master.audio_track_packets.get(k).copied().unwrap_or(0);
        if audio != want || want == 0 {
            problems.push(format!(
                "{audio} audio packets in the segments, audio track {k} of the joined video has {want}"
            ));
        }
        return failed(&format!("the HLS audio rendition {k}"), problems);
    }
    let tolerance = src.frame_seconds() + 0.001;
    if (p.seconds() - src.duration_seconds).abs() > tolerance {
        problems.push(format!(
            "segments add up to {:.6} s, the video lasts {:.6} s (tolerance {tolerance:.6} s)",
            p.seconds(),
            src.duration_seconds
        ));
    }
    for ((uri, _), scan) in p.segments.iter().zip(scans) {
        match scan.first_video {
            Some((_, true)) => {}
            Some((t, false)) => problems.push(format!(
                "segment {uri} starts with a frame at {t:.6} s that is not a key frame"
            )),
            None => problems.push(format!("segment {uri} holds no video")),
        }
    }
    if video != master.video_packets || video != src.frames {
        problems.push(format!(
            "{video} video frames in the segments, the joined video has {} and the source {}",
            master.video_packets, src.frames
        ));
    }
    let want_audio = match content {
        HlsContent::Video => 0,
        _ => master.audio_packets,
    };
    if audio != want_audio {
        problems.push(format!(
            "{audio} audio packets in the segments, the joined video has {}",
            want_audio
        ));
    }
    let what = match content {
        HlsContent::Video => "the HLS video rendition",
        _ => "the HLS output",
    };
    failed(what, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpf_core::job::{AudioInfo, JobRequest, MediaInfo, VideoInfo};

    fn plan(frames: u64, seconds: f64) -> JobPlan {
        let request: JobRequest = serde_json::from_value(serde_json::json!({
            "jobId": "j", "bucket": "b", "key": "in/a.mp4", "outputBase": "dest/a", "stem": "a",
            "formats": ["hls"], "segmentSeconds": 10.0
        }))
        .unwrap();
        JobPlan {
            request,
            source_file: "source.mp4".into(),
            info: MediaInfo {
                video: Some(VideoInfo {
                    frames,
                    duration_seconds: seconds,
                    frame_rate_num: 25,
                    frame_rate_den: 1,
                    ..Default::default()
                }),
                ..Default::default()
            },
            piece_seconds: 10.0,
            pieces: Vec::new(),
            cutting: Default::default(),
            has_audio: true,
            audio_tracks: vec![],
            subtitle_tracks: vec![],
            renditions: vec![],
            watermark_image: None,
        }
    }

    /// A VOD playlist `name` of two 2 s segments, both present, in a new
    /// folder (kept while the first value lives).
    fn two_segments(name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let pl = dir.path().join(name);
        std::fs::write(
            &pl,
            "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.0,\ni0.ts\n#EXTINF:2.0,\ni1.ts\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        for f in ["i0.ts", "i1.ts"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        (dir, pl)
    }

    fn seg(t: f64, key: bool, video: u64, audio: u64) -> SegmentScan {
        SegmentScan {
            first_video: Some((t, key)),
            video_packets: video,
            audio_packets: audio,
        }
    }

    #[test]
    fn hls_checks_key_frames_and_every_packet() {
        let (_dir, pl) = two_segments("index.m3u8");
        let plan = plan(100, 4.0);
        let master = Counted {
            video_packets: 100,
            audio_packets: 188,
            audio_track_packets: vec![188],
            seconds: Some(4.0),
            ..Default::default()
        };
        let good = [seg(1.4, true, 50, 94), seg(3.4, true, 50, 94)];
        verify_hls(&pl, &plan, &master, &good).unwrap();
        // The first segment good, the second as given.
        let second_fails =
            |s: SegmentScan| verify_hls(&pl, &plan, &master, &[good[0].clone(), s]).unwrap_err();

        let e = second_fails(seg(3.4, false, 50, 94));
        assert!(
            e.message
                .contains("i1.ts starts with a frame at 3.400000 s that is not a key frame"),
            "{}",
            e.message
        );
        let e = second_fails(seg(3.4, true, 49, 94));
        assert!(e.message.contains("99 video frames"), "{}", e.message);
        let e = second_fails(seg(3.4, true, 50, 90));
        assert!(e.message.contains("184 audio packets"), "{}", e.message);
        let e = verify_hls(&pl, &plan, &master, &good[..1]).unwrap_err();
        assert!(
            e.message
                .contains("1 segments were read, the playlist lists 2"),
            "{}",
            e.message
        );
    }

    #[test]
    fn renditions_hold_their_own_packets_only() {
        let (_dir, pl) = two_segments("p.m3u8");
        let mut plan = plan(100, 4.0);
        let track = |start: f64| AudioInfo {
            codec: "aac".into(),
            sample_rate: 48000,
            channels: 2,
            duration_seconds: 4.0,
            start_seconds: start,
            ..Default::default()
        };
        plan.info.audio_tracks = vec![track(0.0), track(-1.0)];
        plan.audio_tracks = vec![0, 1];
        let master = Counted {
            video_packets: 100,
            audio_packets: 188 + 141,
            audio_track_packets: vec![188, 141],
            seconds: Some(4.0),
            ..Default::default()
        };
        let video = [seg(1.4, true, 50, 0), seg(3.4, true, 50, 0)];
        verify_media_playlist(&pl, &plan, &master, &video, HlsContent::Video).unwrap();
        // The video variant carries no audio; the muxed playlist must.
        let e = verify_media_playlist(&pl, &plan, &master, &video, HlsContent::Muxed).unwrap_err();
        assert!(e.message.contains("0 audio packets"), "{}", e.message);
        let muxed = [seg(1.4, true, 50, 94), seg(3.4, true, 50, 94)];
        assert!(verify_media_playlist(&pl, &plan, &master, &muxed, HlsContent::Video).is_err());
        // An audio rendition: every packet of its own track, no video, and
        // its track's length (the second ends 3 s after the first frame).
        let audio = |n: u64| {
            let mut s = SegmentScan {
                audio_packets: n / 2,
                ..Default::default()
            };
            let t = s.clone();
            s.audio_packets = n - n / 2;
            [s, t]
        };
        verify_media_playlist(&pl, &plan, &master, &audio(188), HlsContent::Audio(0)).unwrap();
        let e = verify_media_playlist(&pl, &plan, &master, &audio(188), HlsContent::Audio(1))
            .unwrap_err();
        assert!(
            e.message.contains("the HLS audio rendition 1")
                && e.message.contains(
                    "188 audio packets in the segments, audio track 1 of the joined video has 141"
                )
                && e.message.contains("the audio lasts 3.000000 s"),
            "{}",
            e.message
        );
        let e =
            verify_media_playlist(&pl, &plan, &master, &video, HlsContent::Audio(0)).unwrap_err();
        assert!(
            e.message
                .contains("100 video packets in an audio rendition"),
            "{}",
            e.message
        );
    }

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
