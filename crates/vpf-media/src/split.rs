//! Cutting the source into video-only pieces.
//!
//! We choose the cut points ourselves from one pass over the video packets and
//! hand them to the segment muxer as packet numbers (`-segment_frames`), so
//! each piece's real start, duration and frame count are known exactly,
//! not guessed from the requested length.
//!
//! Two ways, chosen per source:
//! - **By stream copy at key frames** (the usual case, nearly free): a cut is
//!   only made at a key frame that separates the stream cleanly in display
//!   order (no later packet shows before it, no earlier one after it), which
//!   is what lets each piece decode on its own. Key frames a little sparser
//!   than the piece length just make pieces a little longer.
//! - **At any frame, through a lossless intermediate**, when key frames are
//!   so sparse that a piece would last more than [`MAX_STRETCH`] times the
//!   requested length (screen recordings, IP cameras, a single key frame):
//!   the video is decoded once and re-encoded losslessly (x264 `-qp 0`,
//!   `ultrafast`, no B-frames) with an IDR frame exactly at each planned
//!   cut. Decoding a piece from the previous source key frame instead would
//!   make each piece's work grow with the file, not the piece. The pictures
//!   are bit-exact, so the final encode sees what it would have seen; the
//!   cost is one fast encode and one decode more, and the NAS space of a
//!   lossless stream (small for screen content, large for camera noise).
//!
//! A video that makes one piece is not cut at all ([`Cutting::Uncut`]): the
//! piece is the source itself, which transcode reads in place with the
//! guarantees a cut piece gives (its first video stream alone, the first
//! shown frame at zero, the frames an edit list hides never handed on).
//! Copying the whole video into a piece bought nothing and cost a pass
//! over the file on every short job's critical path.

use std::ffi::OsString;
use std::path::Path;

use vpf_core::job::{Cutting, Piece};
use vpf_core::nas::JobDir;
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::probe::{Probed, Scan};
use crate::run::{Stdout, args, ffmpeg_base, run};
use crate::temp::{Temp, create_dir};
use crate::transcode::encoder_time_base;

/// The piece length to use: `requested`, raised so that a video of
/// `duration` seconds makes at most `max_pieces` pieces.
pub fn piece_seconds(duration: f64, requested: f64, max_pieces: u32) -> f64 {
    let requested = if requested.is_finite() && requested > 0.0 {
        requested
    } else {
        1.0
    };
    if !(duration.is_finite() && duration > 0.0) {
        return requested;
    }
    let max = max_pieces.max(1) as f64;
    if (duration / requested).ceil() <= max {
        return requested;
    }
    // Round up to the millisecond so that ceil(duration / len) <= max holds
    // despite floating point.
    let mut len = (duration / max * 1000.0).ceil() / 1000.0;
    while (duration / len).ceil() > max {
        len += 0.001;
    }
    len
}

/// Longest piece, as a multiple of the requested length, that cutting at
/// the source's key frames may make before split cuts at any frame instead.
pub const MAX_STRETCH: f64 = 2.0;

/// One planned piece: packets `first..end` of the scan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cut {
    pub first: usize,
    pub end: usize,
    pub piece: Piece,
}

/// Choose the cuts: the first clean key frame at or after each piece's start
/// plus `piece_seconds`.
pub(crate) fn plan_cuts(scan: &Scan, piece_seconds: f64) -> Result<Vec<Cut>> {
    let p = &scan.packets;
    let n = p.len();
    let (Some(start), Some(end)) = (scan.start(), scan.end()) else {
        return Err(Error::corrupt("the video stream has no decodable frames"));
    };
    let tick = scan.tb.f64();
    let len_ticks = piece_seconds / tick;
    let slack = 0.0005 / tick;

    // suffix_min[i] = smallest timestamp among packets i.. (display order check).
    let mut suffix_min = vec![i64::MAX; n + 1];
    for i in (0..n).rev() {
        suffix_min[i] = suffix_min[i + 1].min(p[i].ts);
    }
    let mut starts = vec![0usize];
    let mut prefix_max = p.first().map(|x| x.ts).unwrap_or(i64::MIN);
    let mut target = start as f64 + len_ticks;
    for i in 1..n {
        let k = p[i];
        let clean = prefix_max < k.ts && suffix_min[i] >= k.ts;
        if k.key && !k.discard && clean && k.ts as f64 + slack >= target {
            starts.push(i);
            target = k.ts as f64 + len_ticks;
        }
        prefix_max = prefix_max.max(k.ts);
    }

    let mut cuts: Vec<Cut> = Vec::with_capacity(starts.len());
    for (idx, &first) in starts.iter().enumerate() {
        let last = starts.get(idx + 1).copied().unwrap_or(n);
        let range = &p[first..last];
        let kept_min = range.iter().filter(|x| !x.discard).map(|x| x.ts).min();
        let kept_max = range.iter().filter(|x| !x.discard).map(|x| x.ts).max();
        let (Some(lo), Some(hi)) = (kept_min, kept_max) else {
            return Err(Error::corrupt(
                "a stretch of the video holds only frames its edit list hides",
            ));
        };
        let head = range.iter().filter(|x| x.discard && x.ts < lo).count() as u64;
        let tail = range.iter().filter(|x| x.discard && x.ts > hi).count() as u64;
        let hidden = range.iter().filter(|x| x.discard).count() as u64;
        if head + tail != hidden {
            return Err(Error::corrupt(
                "the source's edit list hides frames in the middle of the video; such files are not supported",
            ));
        }
        cuts.push(Cut {
            first,
            end: last,
            piece: Piece {
                index: idx as u32,
                start_seconds: scan.secs(lo),
                duration_seconds: 0.0,
                frames: range.len() as u64 - hidden,
                drop_head: head,
                drop_tail: tail,
            },
        });
    }
    // A piece lasts until the next one starts; the last one until the video ends.
    let next_starts: Vec<f64> = cuts
        .iter()
        .skip(1)
        .map(|c| c.piece.start_seconds)
        .chain([scan.secs(end)])
        .collect();
    for (c, next) in cuts.iter_mut().zip(next_starts) {
        c.piece.duration_seconds = next - c.piece.start_seconds;
    }
    Ok(cuts)
}

/// Cuts at any shown frame: the first frame at or after each piece's start
/// plus `piece_seconds`, counted in display order over the frames a decoder
/// shows (what the intermediate holds: edit-list frames are gone).
pub(crate) fn plan_frame_cuts(scan: &Scan, piece_seconds: f64) -> Result<Vec<Cut>> {
    let mut ts: Vec<i64> = scan.kept().map(|p| p.ts).collect();
    ts.sort_unstable();
    let (Some(&first), Some(end)) = (ts.first(), scan.end()) else {
        return Err(Error::corrupt("the video stream has no decodable frames"));
    };
    let tick = scan.tb.f64();
    let len_ticks = piece_seconds / tick;
    let slack = 0.0005 / tick;
    let mut starts = vec![0usize];
    let mut target = first as f64 + len_ticks;
    for (i, &t) in ts.iter().enumerate().skip(1) {
        if t as f64 + slack >= target {
            starts.push(i);
            target = t as f64 + len_ticks;
        }
    }
    let mut cuts: Vec<Cut> = Vec::with_capacity(starts.len());
    for (idx, &at) in starts.iter().enumerate() {
        let next = starts.get(idx + 1).copied().unwrap_or(ts.len());
        let until = ts.get(next).copied().unwrap_or(end);
        cuts.push(Cut {
            first: at,
            end: next,
            piece: Piece {
                index: idx as u32,
                start_seconds: scan.secs(ts[at]),
                duration_seconds: scan.secs(until) - scan.secs(ts[at]),
                frames: (next - at) as u64,
                drop_head: 0,
                drop_tail: 0,
            },
        });
    }
    Ok(cuts)
}

/// The job's one piece as transcode reads it from the source ([`Cutting::Uncut`]):
/// the cut's start, length and shown frames, nothing to drop (the source's
/// demuxer applies its edit list and the decoder never hands the hidden
/// frames on, where a cut piece carries them as references).
pub(crate) fn uncut(cut: &Piece) -> Piece {
    Piece {
        drop_head: 0,
        drop_tail: 0,
        ..cut.clone()
    }
}

/// Whether cutting at key frames stretches some piece past [`MAX_STRETCH`]
/// times the requested length while cutting at any frame would not.
fn too_sparse(key_cuts: &[Cut], frame_cuts: &[Cut], piece_seconds: f64) -> bool {
    let longest = |c: &[Cut]| {
        c.iter()
            .map(|c| c.piece.duration_seconds)
            .fold(0.0, f64::max)
    };
    longest(key_cuts) > MAX_STRETCH * piece_seconds && frame_cuts.len() > key_cuts.len()
}

/// The segment muxer's half of a split: video-only Matroska pieces
/// `dir/00000.mkv`, `dir/00001.mkv`, ... cut at packet numbers `cut_packets`.
fn segment_args(cut_packets: &[usize], total_packets: usize, dir: &Path) -> Vec<OsString> {
    // With no cut, a number past the end keeps everything in one piece
    // (without the option the segment muxer would cut every 2 s).
    let frames = if cut_packets.is_empty() {
        (total_packets + 1).to_string()
    } else {
        cut_packets
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    // The segment muxer expands %d in the whole path: escape the folder's %.
    let pattern = format!("{}/%05d.mkv", dir.to_string_lossy().replace('%', "%%"));
    args![
        "-f",
        "segment",
        "-segment_format",
        "matroska",
        "-segment_frames",
        frames,
        "-reset_timestamps",
        "1",
        pattern
    ]
}

/// The ffmpeg arguments that decode `source` once and write it losslessly,
/// cut at display frames `cut_frames` (each an IDR frame), into `dir` as
/// [`split_args`] does. Rotation stays for transcode to apply (`-noautorotate`);
/// every frame keeps its timestamp (`passthrough`, and `time_base` as the
/// final encode uses it); x264 keeps the source's pixel format where it can
/// (8- or 10-bit, 4:2:0 to 4:4:4).
pub fn lossless_split_args(
    source: &Path,
    cut_frames: &[usize],
    total_frames: usize,
    time_base: &str,
    dir: &Path,
) -> Vec<OsString> {
    let keys = if cut_frames.is_empty() {
        "expr:0".to_string()
    } else {
        let terms: Vec<String> = cut_frames.iter().map(|n| format!("eq(n,{n})")).collect();
        format!("expr:{}", terms.join("+"))
    };
    let mut a = ffmpeg_base();
    a.extend(args![
        "-noautorotate",
        "-i",
        source,
        "-map",
        "0:V:0",
        "-an",
        "-sn",
        "-dn",
        "-fps_mode",
        "passthrough",
        "-enc_time_base:v",
        time_base,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-qp",
        "0",
        "-bf",
        "0",
        "-x264-params",
        "keyint=infinite:scenecut=0",
        "-force_key_frames",
        keys,
        "-forced-idr",
        "1",
        "-metadata:s:v:0",
        "rotate=0"
    ]);
    // Without B-frames a packet number is a frame number.
    a.extend(segment_args(cut_frames, total_frames, dir));
    a
}

/// The ffmpeg arguments that cut `source` at packet numbers `cuts` into
/// `dir/00000.mkv`, `dir/00001.mkv`, ...
pub fn split_args(
    source: &Path,
    cut_packets: &[usize],
    total_packets: usize,
    dir: &Path,
) -> Vec<OsString> {
    let mut a = ffmpeg_base();
    a.extend(args!["-i", source, "-map", "0:V:0", "-c", "copy"]);
    a.extend(segment_args(cut_packets, total_packets, dir));
    a
}

/// Cut `source` into video-only pieces of about `piece_seconds`, into
/// `jobdir.piece(i)`, planned from the packet pass `probed` made of it: at
/// key frames by stream copy, or at any frame through a lossless
/// intermediate when key frames are too sparse (see the module). Returns
/// the pieces in order, with their real start, duration and frames (they
/// add up to the source's), and how they were cut. An earlier attempt's
/// pieces are replaced. One piece is not cut: it is returned as [`uncut`]
/// makes it, and nothing is written.
///
/// The pieces are not read back here: transcode counts every piece's frames
/// after encoding and fails on a difference, and a cut in the wrong place
/// changes the count of the piece on at least one side of it (pieces are
/// trimmed only at the video's two ends). Reading each piece back cost one
/// ffprobe per piece on every job's critical path.
pub async fn split_video(
    tools: &Tools,
    source: &Path,
    probed: &Probed,
    piece_seconds: f64,
    jobdir: &JobDir,
) -> Result<(Vec<Piece>, Cutting)> {
    let video = probed
        .info
        .video
        .as_ref()
        .ok_or_else(|| Error::corrupt("no video stream"))?;
    let scan = &probed.scan;
    let key_cuts = plan_cuts(scan, piece_seconds)?;
    let frame_cuts = plan_frame_cuts(scan, piece_seconds)?;
    let (cuts, cutting) = if too_sparse(&key_cuts, &frame_cuts, piece_seconds) {
        (frame_cuts, Cutting::AnyFrame)
    } else {
        (key_cuts, Cutting::KeyFrames)
    };
    let sum: u64 = cuts.iter().map(|c| c.piece.frames).sum();
    if sum != video.frames {
        return Err(Error::internal(format!(
            "the cuts hold {sum} frames, the source {}",
            video.frames
        )));
    }
    if let [one] = cuts.as_slice() {
        tracing::info!(piece_seconds, "one piece: the source is not cut");
        return Ok((vec![uncut(&one.piece)], Cutting::Uncut));
    }

    let dir = Temp::beside(&jobdir.pieces_dir());
    create_dir(dir.path())?;
    let starts: Vec<usize> = cuts.iter().skip(1).map(|c| c.first).collect();
    let a = match cutting {
        // (An uncut job returned above.)
        Cutting::KeyFrames | Cutting::Uncut => {
            split_args(source, &starts, scan.packets.len(), dir.path())
        }
        Cutting::AnyFrame => lossless_split_args(
            source,
            &starts,
            sum as usize,
            &encoder_time_base(video),
            dir.path(),
        ),
    };
    run(&tools.ffmpeg, &a, Stdout::Ignore)
        .await?
        .check(ErrorKind::EncodeFailed, "splitting the source")?;

    let written = std::fs::read_dir(dir.path())
        .map_err(|e| Error::internal(format!("listing {}: {e}", dir.path().display())))?
        .count();
    if written != cuts.len() {
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!("split wrote {written} pieces, {} were planned", cuts.len()),
        ));
    }
    if let Some(parent) = jobdir.pieces_dir().parent() {
        create_dir(parent)?;
    }
    dir.commit(&jobdir.pieces_dir())?;
    tracing::info!(
        pieces = cuts.len(),
        piece_seconds,
        ?cutting,
        "split the source"
    );
    Ok((cuts.into_iter().map(|c| c.piece).collect(), cutting))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Pkt, Rational};

    fn pkt(ts: i64, key: bool) -> Pkt {
        Pkt {
            ts,
            dur: 1,
            key,
            discard: false,
        }
    }

    /// 30 frames at 1 tick each, key frames every 5, B-frame style reordering
    /// inside each group (decode order I P B B B).
    fn gop_scan() -> Scan {
        let mut packets = Vec::new();
        for g in 0..6 {
            let b = g * 5;
            for (off, key) in [(0, true), (4, false), (1, false), (2, false), (3, false)] {
                packets.push(pkt(b + off, key));
            }
        }
        Scan {
            tb: Rational { num: 1, den: 1 },
            packets,
            skipped_leading: 0,
            errors: vec![],
        }
    }

    #[test]
    fn piece_seconds_respects_the_cap() {
        assert_eq!(piece_seconds(100.0, 10.0, 100), 10.0);
        let s = piece_seconds(3600.0, 10.0, 100);
        assert!(s >= 36.0 && (3600.0 / s).ceil() <= 100.0, "{s}");
        let s = piece_seconds(1000.0 / 3.0, 1.0, 7);
        assert!((1000.0 / 3.0 / s).ceil() <= 7.0, "{s}");
        assert_eq!(piece_seconds(5.0, 10.0, 0), 10.0);
        assert_eq!(piece_seconds(f64::NAN, 10.0, 3), 10.0);
        assert_eq!(piece_seconds(10.0, -1.0, 100), 1.0);
    }

    #[test]
    fn cuts_land_on_key_frames_and_cover_every_frame() {
        let cuts = plan_cuts(&gop_scan(), 10.0).unwrap();
        let firsts: Vec<usize> = cuts.iter().map(|c| c.first).collect();
        assert_eq!(firsts, [0, 10, 20]);
        assert_eq!(cuts.iter().map(|c| c.piece.frames).sum::<u64>(), 30);
        assert_eq!(cuts[1].piece.start_seconds, 10.0);
        assert_eq!(cuts[2].piece.duration_seconds, 10.0);
        // Key frames sparser than the piece length: fewer, longer pieces.
        let cuts = plan_cuts(&gop_scan(), 7.0).unwrap();
        let starts: Vec<f64> = cuts.iter().map(|c| c.piece.start_seconds).collect();
        assert_eq!(starts, [0.0, 10.0, 20.0]);
        // One piece when the length exceeds the video.
        assert_eq!(plan_cuts(&gop_scan(), 100.0).unwrap().len(), 1);
    }

    #[test]
    fn sparse_key_frames_are_cut_at_any_frame() {
        let mut s = gop_scan();
        for (i, p) in s.packets.iter_mut().enumerate() {
            p.key = i == 0;
        }
        let keys = plan_cuts(&s, 4.0).unwrap();
        assert_eq!(keys.len(), 1);
        let frames = plan_frame_cuts(&s, 4.0).unwrap();
        let got: Vec<(usize, u64, f64)> = frames
            .iter()
            .map(|c| (c.first, c.piece.frames, c.piece.start_seconds))
            .collect();
        assert_eq!(
            got,
            [
                (0, 4, 0.0),
                (4, 4, 4.0),
                (8, 4, 8.0),
                (12, 4, 12.0),
                (16, 4, 16.0),
                (20, 4, 20.0),
                (24, 4, 24.0),
                (28, 2, 28.0)
            ]
        );
        assert_eq!(frames[7].piece.duration_seconds, 2.0);
        assert!(too_sparse(&keys, &frames, 4.0));
        // Key frames every 5 frames with 4-frame pieces: within MAX_STRETCH.
        let s = gop_scan();
        assert!(!too_sparse(
            &plan_cuts(&s, 4.0).unwrap(),
            &plan_frame_cuts(&s, 4.0).unwrap(),
            4.0
        ));
    }

    #[test]
    fn lossless_split_forces_an_idr_frame_at_each_cut() {
        let a = lossless_split_args(
            Path::new("/j/s.mov"),
            &[250, 500],
            600,
            "1/25",
            Path::new("/d"),
        );
        let s: Vec<String> = a.iter().map(|x| x.to_string_lossy().into_owned()).collect();
        let after = |k: &str| s[s.iter().position(|x| x == k).unwrap() + 1].clone();
        assert_eq!(after("-force_key_frames"), "expr:eq(n,250)+eq(n,500)");
        assert_eq!(after("-segment_frames"), "250,500");
        assert_eq!(after("-qp"), "0");
        assert_eq!(after("-bf"), "0");
        assert_eq!(after("-enc_time_base:v"), "1/25");
        assert!(s.contains(&"-noautorotate".to_string()));
        let one = lossless_split_args(Path::new("s"), &[], 5, "-1", Path::new("/d"));
        assert!(one.iter().any(|x| x == "expr:0"));
    }

    #[test]
    fn an_uncut_piece_drops_nothing_the_decoder_hides_itself() {
        let mut s = gop_scan();
        for i in [0usize, 2] {
            s.packets[i].discard = true;
        }
        s.packets[1].ts = 4;
        let cuts = plan_cuts(&s, 100.0).unwrap();
        assert_eq!(cuts.len(), 1);
        assert_eq!(cuts[0].piece.drop_head, 2);
        let one = uncut(&cuts[0].piece);
        assert_eq!((one.drop_head, one.drop_tail), (0, 0));
        assert_eq!(one.frames, 28, "the frames shown, as in the cut piece");
        assert_eq!(one.start_seconds, cuts[0].piece.start_seconds);
        assert_eq!(one.duration_seconds, cuts[0].piece.duration_seconds);
    }

    #[test]
    fn open_gop_key_frames_are_not_cut_points() {
        let mut s = gop_scan();
        // A frame after the second key frame (decode order) shows before it.
        s.packets[6].ts = 4;
        let cuts = plan_cuts(&s, 4.0).unwrap();
        assert!(cuts.iter().all(|c| c.first != 5), "{cuts:?}");
    }

    #[test]
    fn edit_list_frames_are_counted_per_piece() {
        let mut s = gop_scan();
        // The edit list hides the first two and the last frame.
        for i in [0usize, 2] {
            s.packets[i].discard = true;
        }
        s.packets[1].ts = 4; // still shown
        s.packets[29].discard = true;
        s.packets[29].ts = 40;
        let cuts = plan_cuts(&s, 10.0).unwrap();
        assert_eq!(cuts[0].piece.drop_head, 2);
        assert_eq!(cuts.last().unwrap().piece.drop_tail, 1);
        assert_eq!(cuts.iter().map(|c| c.piece.frames).sum::<u64>(), 27);
        // A hidden frame in the middle is refused.
        s.packets[12].discard = true;
        assert!(plan_cuts(&s, 10.0).is_err());
    }

    #[test]
    fn split_args_name_pieces_like_jobdir() {
        let a = split_args(
            Path::new("/j/source.mp4"),
            &[60, 120],
            180,
            Path::new("/j/.p%1"),
        );
        let s: Vec<String> = a.iter().map(|x| x.to_string_lossy().into_owned()).collect();
        let at = s.iter().position(|x| x == "-segment_frames").unwrap();
        assert_eq!(s[at + 1], "60,120");
        assert_eq!(s.last().unwrap(), "/j/.p%%1/%05d.mkv");
        assert!(s.windows(2).any(|w| w[0] == "-c" && w[1] == "copy"));
        let one = split_args(Path::new("s"), &[], 5, Path::new("/d"));
        assert!(one.iter().any(|x| x == "6"));
    }
}
