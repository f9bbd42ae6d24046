//! Text subtitle tracks: taken from the source once, as WebVTT on the
//! output's timeline, then muxed into the MP4 as mov_text and segmented for
//! HLS as WebVTT renditions.
//!
//! Extraction: ffmpeg converts each track to WebVTT keeping the source's
//! timestamps (`-copyts`); we shift the cues ourselves by the same zero as
//! the audio (the first shown video frame), drop those that end before it,
//! cut the ones that start before it, and cut everything at the video's
//! end. ffmpeg cannot do this: its muxers shift a stream that starts below
//! zero as a whole (`avoid_negative_ts`), which would move every cue.
//!
//! Cues are kept in whole milliseconds, WebVTT's precision.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vpf_core::job::MediaInfo;
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::run::{Stdout, args, ffmpeg_base, run};
use crate::temp::Temp;

/// A subtitle track larger than this (as WebVTT) is refused: hours of
/// dialogue are a few hundred kilobytes.
const MAX_VTT_BYTES: u64 = 32 << 20;

/// ffmpeg 5.1 writes mov_text with a microsecond timescale and refuses a
/// sample longer than 2^31 ticks (35.8 minutes): the next cue is moved to
/// the wrong time ("Packet duration ... is out of range"). No sample of
/// ours may last longer than this.
const MOV_TEXT_MAX_SAMPLE_MS: i64 = 30 * 60 * 1000;

/// A one-millisecond cue of a zero-width space: nothing to see, but a
/// sample that breaks a long silence in a mov_text track.
const FILLER: &str = "\u{200B}";

/// One cue: shown from `start_ms` to `end_ms` (output timeline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: i64,
    pub end_ms: i64,
    /// The payload as WebVTT writes it (`<i>`, `&amp;`), lines joined by `\n`.
    pub text: String,
}

/// `[hh:]mm:ss.ttt` in milliseconds.
fn parse_time(s: &str) -> Option<i64> {
    let (clock, frac) = s.trim().split_once('.')?;
    if frac.len() != 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut parts: Vec<i64> = Vec::with_capacity(3);
    for p in clock.split(':') {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) || p.len() > 9 {
            return None;
        }
        parts.push(p.parse().ok()?);
    }
    let (h, m, sec) = match parts.as_slice() {
        [m, s] => (0, *m, *s),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    if m > 59 || sec > 59 {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1000 + frac.parse::<i64>().ok()?)
}

fn format_time(ms: i64) -> String {
    let ms = ms.max(0);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Parse WebVTT as ffmpeg's muxer writes it (and as we write segments):
/// cues separated by blank lines, each a timing line and its payload.
/// Blocks without a timing line (the header, notes) are skipped; cue
/// settings are dropped.
pub fn parse_vtt(text: &str) -> Result<Vec<Cue>> {
    let bad = |what: String| Error::new(ErrorKind::CorruptMedia, format!("WebVTT: {what}"));
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if !text.starts_with("WEBVTT") {
        return Err(bad("it does not start with WEBVTT".into()));
    }
    let mut cues = Vec::new();
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    for block in normalised.split("\n\n") {
        let mut lines = block.lines().skip_while(|l| !l.contains("-->"));
        let Some(timing) = lines.next() else {
            continue;
        };
        let (from, rest) = timing
            .split_once("-->")
            .ok_or_else(|| bad(format!("timing line {timing:?}")))?;
        let to = rest.split_whitespace().next().unwrap_or("");
        let (Some(start_ms), Some(end_ms)) = (parse_time(from), parse_time(to)) else {
            return Err(bad(format!("timing line {timing:?}")));
        };
        let text = lines
            .map(|l| l.replace("-->", "--&gt;"))
            .collect::<Vec<_>>()
            .join("\n");
        if end_ms > start_ms && !text.trim().is_empty() {
            cues.push(Cue {
                start_ms,
                end_ms,
                text,
            });
        }
    }
    Ok(cues)
}

/// WebVTT text for `cues`. `mpegts`: the `X-TIMESTAMP-MAP` of an HLS
/// segment, the MPEG-TS time (90 kHz) of the output's zero.
pub fn write_vtt(cues: &[Cue], mpegts: Option<i64>) -> String {
    let mut out = String::from("WEBVTT\n");
    if let Some(ts) = mpegts {
        let _ = writeln!(out, "X-TIMESTAMP-MAP=MPEGTS:{ts},LOCAL:00:00:00.000");
    }
    for c in cues {
        let _ = write!(
            out,
            "\n{} --> {}\n{}\n",
            format_time(c.start_ms),
            format_time(c.end_ms),
            c.text
        );
    }
    out
}

/// The cues on the output's timeline: moved by `-zero_ms` (the source time
/// of the first video frame), those ending before it dropped, and all cut
/// at `end_ms` (the video's length), in order of start.
pub fn align_cues(cues: Vec<Cue>, zero_ms: i64, end_ms: i64) -> Vec<Cue> {
    let mut out: Vec<Cue> = cues
        .into_iter()
        .filter_map(|c| {
            let start = (c.start_ms - zero_ms).max(0);
            let end = (c.end_ms - zero_ms).min(end_ms);
            (end > start).then_some(Cue {
                start_ms: start,
                end_ms: end,
                ..c
            })
        })
        .collect();
    out.sort_by_key(|c| (c.start_ms, c.end_ms));
    out
}

/// What a mov_text track can hold: one cue at a time. Where cues overlap
/// (ASS often shows a sign and a line of dialogue together), the time is
/// cut at every start and end and each part shows the text of every cue
/// on at that time, in order of start; equal neighbours are joined.
pub fn flatten_cues(cues: &[Cue]) -> Vec<Cue> {
    let mut bounds: Vec<i64> = cues.iter().flat_map(|c| [c.start_ms, c.end_ms]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut out: Vec<Cue> = Vec::new();
    for w in bounds.windows(2) {
        let (from, to) = (w[0], w[1]);
        let on: Vec<&str> = cues
            .iter()
            .filter(|c| c.start_ms <= from && c.end_ms >= to)
            .map(|c| c.text.as_str())
            .collect();
        if on.is_empty() {
            continue;
        }
        let text = on.join("\n");
        match out.last_mut() {
            Some(last) if last.end_ms == from && last.text == text => last.end_ms = to,
            _ => out.push(Cue {
                start_ms: from,
                end_ms: to,
                text,
            }),
        }
    }
    out
}

/// The cues to mux as mov_text: [`flatten_cues`], with no sample longer
/// than [`MOV_TEXT_MAX_SAMPLE_MS`]: long cues are cut in parts with the
/// same text, and long silences (the muxer writes an empty sample for
/// each) are broken by [`FILLER`] cues.
pub fn mov_text_cues(cues: &[Cue]) -> Vec<Cue> {
    let mut out = Vec::new();
    let mut at = 0;
    let push_parts = |out: &mut Vec<Cue>, c: Cue| {
        let mut s = c.start_ms;
        while c.end_ms - s > MOV_TEXT_MAX_SAMPLE_MS {
            out.push(Cue {
                start_ms: s,
                end_ms: s + MOV_TEXT_MAX_SAMPLE_MS,
                text: c.text.clone(),
            });
            s += MOV_TEXT_MAX_SAMPLE_MS;
        }
        out.push(Cue { start_ms: s, ..c });
    };
    for c in flatten_cues(cues) {
        while c.start_ms - at > MOV_TEXT_MAX_SAMPLE_MS {
            at += MOV_TEXT_MAX_SAMPLE_MS;
            out.push(Cue {
                start_ms: at,
                end_ms: at + 1,
                text: FILLER.into(),
            });
            at += 1;
        }
        at = c.end_ms;
        push_parts(&mut out, c);
    }
    out
}

/// The cues a mov_text track read back should hold, for comparison with
/// [`mov_text_cues`]: fillers dropped, the parts of a cut cue joined.
fn without_fillers(cues: &[Cue]) -> Vec<Cue> {
    let mut out: Vec<Cue> = Vec::new();
    for c in cues.iter().filter(|c| c.text != FILLER) {
        match out.last_mut() {
            Some(last) if last.end_ms == c.start_ms && last.text == c.text => {
                last.end_ms = c.end_ms
            }
            _ => out.push(c.clone()),
        }
    }
    out
}

/// The text a viewer reads: tags removed, entities and white space as one.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for ch in text.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Differences between the cues a track should hold and those it holds
/// (times to the millisecond, text as read); empty when they agree.
pub fn compare_cues(want: &[Cue], got: &[Cue]) -> Vec<String> {
    let (want, got) = (without_fillers(want), without_fillers(got));
    let mut problems = Vec::new();
    if want.len() != got.len() {
        problems.push(format!("{} cues, expected {}", got.len(), want.len()));
    }
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        if (w.start_ms, w.end_ms) != (g.start_ms, g.end_ms) || plain(&w.text) != plain(&g.text) {
            problems.push(format!(
                "cue {i} is {}-{} ms {:?}, expected {}-{} ms {:?}",
                g.start_ms,
                g.end_ms,
                plain(&g.text),
                w.start_ms,
                w.end_ms,
                plain(&w.text)
            ));
            break;
        }
    }
    problems
}

/// The ffmpeg arguments that write each of `tracks` (source subtitle track
/// `0:s:n`, destination) as WebVTT with the source's own timestamps.
pub fn subtitle_args(source: &Path, tracks: &[(u32, &Path)]) -> Vec<OsString> {
    let mut a = ffmpeg_base();
    a.extend(args!["-copyts", "-i", source]);
    for (n, out) in tracks {
        a.extend(args![
            "-map",
            format!("0:s:{n}"),
            "-c:s",
            "webvtt",
            "-f",
            "webvtt",
            *out
        ]);
    }
    a
}

/// Read a WebVTT file we wrote (or ffmpeg wrote for us), refusing one too
/// large to be subtitles.
pub fn read_vtt(path: &Path) -> Result<Vec<Cue>> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
    if meta.len() > MAX_VTT_BYTES {
        return Err(Error::corrupt(format!(
            "a subtitle track holds {} MB of text; more than {} MB is not subtitles",
            meta.len() >> 20,
            MAX_VTT_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(path)?;
    parse_vtt(&String::from_utf8_lossy(&bytes))
}

/// Take the source's text subtitle tracks `tracks` (`0:s:n`), in one read
/// of the source, and write each as WebVTT on the output's timeline at
/// `out(n)` (`jobdir.subtitles(n)`). Each file appears only when complete.
pub async fn extract_subtitles(
    tools: &Tools,
    source: &Path,
    info: &MediaInfo,
    tracks: &[u32],
    out: impl Fn(u32) -> PathBuf,
) -> Result<()> {
    if tracks.is_empty() {
        return Ok(());
    }
    let video = info
        .video
        .as_ref()
        .ok_or_else(|| Error::invalid("the job plan has no video stream"))?;
    let raw: Vec<(u32, Temp)> = tracks.iter().map(|&n| (n, Temp::beside(&out(n)))).collect();
    let list: Vec<(u32, &Path)> = raw.iter().map(|(n, t)| (*n, t.path())).collect();
    run(&tools.ffmpeg, &subtitle_args(source, &list), Stdout::Ignore)
        .await?
        .check(ErrorKind::CorruptMedia, "reading the subtitle tracks")?;
    let zero_ms = (video.start_seconds * 1000.0).round() as i64;
    let end_ms = (video.duration_seconds * 1000.0).round() as i64;
    for (n, tmp) in raw {
        let cues = read_vtt(tmp.path()).map_err(|e| e.context(format!("subtitle track {n}")))?;
        let aligned = align_cues(cues, zero_ms, end_ms);
        let dest = out(n);
        let done = Temp::beside(&dest);
        std::fs::write(done.path(), write_vtt(&aligned, None))?;
        done.commit(&dest)?;
        tracing::info!(track = n, cues = aligned.len(), "subtitles taken");
    }
    Ok(())
}

/// The subtitle tracks of `mp4` read back as WebVTT: cues per track, in
/// track order.
pub(crate) async fn read_mp4_subtitles(
    tools: &Tools,
    mp4: &Path,
    count: usize,
) -> Result<Vec<Vec<Cue>>> {
    let temps: Vec<Temp> = (0..count)
        .map(|i| Temp::beside(&mp4.with_extension(format!("s{i}.vtt"))))
        .collect();
    let list: Vec<(u32, &Path)> = temps
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u32, t.path()))
        .collect();
    run(&tools.ffmpeg, &subtitle_args(mp4, &list), Stdout::Ignore)
        .await?
        .check(ErrorKind::VerifyFailed, "reading the MP4's subtitles back")?;
    temps
        .iter()
        .map(|t| read_vtt(t.path()).map_err(|e| Error::new(ErrorKind::VerifyFailed, e.message)))
        .collect()
}

/// Check the subtitle tracks of the joined `mp4` against the cues muxed
/// into them (`want`, one list per track, in order): every cue at its time
/// to the millisecond, with its text, once the track is read back.
pub(crate) async fn verify_mp4_subtitles(
    tools: &Tools,
    mp4: &Path,
    want: &[Vec<Cue>],
) -> Result<()> {
    if want.is_empty() {
        return Ok(());
    }
    let got = read_mp4_subtitles(tools, mp4, want.len()).await?;
    let mut problems = Vec::new();
    for (k, (w, g)) in want.iter().zip(&got).enumerate() {
        for p in compare_cues(&flatten_cues(w), g) {
            problems.push(format!("subtitle track {k}: {p}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("the merged video's subtitles: {}", problems.join("; ")),
        ))
    }
}

/// Cut the cues into the HLS segments `bounds` (start and end of each
/// segment, ms): each segment holds every cue shown during it (a cue that
/// spans a boundary is in both, as RFC 8216 has it) and maps the output's
/// zero to `mpegts` (90 kHz), the MPEG-TS time of the first video frame.
pub fn vtt_segments(cues: &[Cue], bounds: &[(i64, i64)], mpegts: i64) -> Vec<String> {
    let last = bounds.len().saturating_sub(1);
    bounds
        .iter()
        .enumerate()
        .map(|(i, &(from, to))| {
            let inside: Vec<Cue> = cues
                .iter()
                .filter(|c| c.start_ms < to.max(from + 1) || i == last)
                .filter(|c| c.end_ms > from)
                .cloned()
                .collect();
            write_vtt(&inside, Some(mpegts))
        })
        .collect()
}

/// Every cue of the segments once, in order: what [`vtt_segments`] cut.
pub fn join_segments(segments: &[Vec<Cue>]) -> Vec<Cue> {
    let mut all: Vec<Cue> = segments.iter().flatten().cloned().collect();
    all.sort_by(|a, b| (a.start_ms, a.end_ms, &a.text).cmp(&(b.start_ms, b.end_ms, &b.text)));
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(s: i64, e: i64, t: &str) -> Cue {
        Cue {
            start_ms: s,
            end_ms: e,
            text: t.into(),
        }
    }

    #[test]
    fn webvtt_round_trips() {
        let text = "WEBVTT\n\n00:00.523 --> 00:02.023\n<i>Hello</i> world\n\n1\n01:02:03.004 --> 01:02:04.000 align:start\nTwo\nlines\n\nNOTE skipped\n\n00:05.000 --> 00:04.000\nbackwards\n\n00:06.000 --> 00:07.000\n";
        let cues = parse_vtt(text).unwrap();
        assert_eq!(
            cues,
            [
                cue(523, 2023, "<i>Hello</i> world"),
                cue(3_723_004, 3_724_000, "Two\nlines")
            ]
        );
        let again = write_vtt(&cues, Some(126000));
        assert!(again.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n00:00:00.523 --> 00:00:02.023\n"));
        assert_eq!(parse_vtt(&again).unwrap(), cues);
        assert!(parse_vtt("SRT\n").is_err());
        assert!(parse_vtt("WEBVTT\n\n00:00.5 --> 00:01.000\nx\n").is_err());
        assert!(parse_vtt("WEBVTT\n\n00:61.000 --> 00:62.000\nx\n").is_err());
        // A payload line that looks like timing cannot break the file.
        let odd = write_vtt(
            &parse_vtt("WEBVTT\n\n00:01.000 --> 00:02.000\na\nb --> c\n").unwrap(),
            None,
        );
        assert!(odd.contains("b --&gt; c"));
    }

    #[test]
    fn cues_move_to_the_first_video_frame_and_stop_at_the_end() {
        // Video from 1.023 s, 4 s long.
        let cues = vec![
            cue(523, 2023, "cut at the start"),
            cue(100, 900, "before the video"),
            cue(2523, 3273, "moved"),
            cue(4523, 6023, "cut at the end"),
            cue(5100, 5500, "after the video"),
        ];
        assert_eq!(
            align_cues(cues, 1023, 4000),
            [
                cue(0, 1000, "cut at the start"),
                cue(1500, 2250, "moved"),
                cue(3500, 4000, "cut at the end")
            ]
        );
    }

    #[test]
    fn overlapping_cues_become_one_at_a_time() {
        let cues = [
            cue(1000, 4000, "sign"),
            cue(2000, 3000, "line"),
            cue(6000, 7000, "late"),
        ];
        assert_eq!(
            flatten_cues(&cues),
            [
                cue(1000, 2000, "sign"),
                cue(2000, 3000, "sign\nline"),
                cue(3000, 4000, "sign"),
                cue(6000, 7000, "late")
            ]
        );
    }

    #[test]
    fn mov_text_samples_stay_under_the_muxer_limit() {
        let hour = 3_600_000;
        let cues = [
            cue(40 * 60_000, 40 * 60_000 + 900, "late"),
            cue(2 * hour, 3 * hour, "long"),
        ];
        let m = mov_text_cues(&cues);
        // Every gap and every cue shorter than the limit.
        let mut at = 0;
        for c in &m {
            assert!(c.start_ms - at <= MOV_TEXT_MAX_SAMPLE_MS, "{m:?}");
            assert!(c.end_ms - c.start_ms <= MOV_TEXT_MAX_SAMPLE_MS, "{m:?}");
            at = c.end_ms;
        }
        assert_eq!(m[0], cue(30 * 60_000, 30 * 60_000 + 1, FILLER));
        // Read back, fillers and parts are not cues.
        assert_eq!(without_fillers(&m), cues);
        assert!(compare_cues(&m, &cues).is_empty());
        let mut moved = cues.to_vec();
        moved[0].start_ms += 1;
        assert_eq!(compare_cues(&cues, &moved).len(), 1);
        assert!(
            compare_cues(&cues, &cues[..1])
                .iter()
                .any(|p| p.contains("1 cues, expected 2"))
        );
        assert!(compare_cues(&[cue(0, 1, "<b>a</b>  &amp; b")], &[cue(0, 1, "a & b")]).is_empty());
    }

    #[test]
    fn segments_hold_every_cue_they_show() {
        let cues = [
            cue(500, 1500, "a"),
            cue(5500, 6500, "spans"),
            cue(11000, 12000, "last"),
        ];
        let bounds = [(0, 6000), (6000, 12000)];
        let segs = vtt_segments(&cues, &bounds, 126000);
        let parsed: Vec<Vec<Cue>> = segs.iter().map(|s| parse_vtt(s).unwrap()).collect();
        assert_eq!(parsed[0], cues[..2]);
        assert_eq!(parsed[1], cues[1..]);
        assert!(segs.iter().all(|s| s.contains("MPEGTS:126000")));
        assert_eq!(join_segments(&parsed), cues);
    }

    #[test]
    fn one_read_of_the_source_for_every_track() {
        let a: Vec<String> = subtitle_args(
            Path::new("in.mkv"),
            &[(0, Path::new("a.vtt")), (2, Path::new("b.vtt"))],
        )
        .into_iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
        assert_eq!(a.iter().filter(|x| *x == "-i").count(), 1);
        assert!(a.contains(&"-copyts".to_string()));
        let maps: Vec<&String> = a
            .windows(2)
            .filter(|w| w[0] == "-map")
            .map(|w| &w[1])
            .collect();
        assert_eq!(maps, ["0:s:0", "0:s:2"]);
        assert_eq!(a.last().unwrap(), "b.vtt");
    }
}
