//! Encoding one piece: H.264 (libx264), every frame kept with its timestamp.
//!
//! - Frames: `-fps_mode passthrough` passes each decoded frame with its own
//!   timestamp, so no frame is duplicated or dropped and a variable frame
//!   rate stays variable. For a constant-rate source the encoder's time base
//!   is one frame (`-enc_time_base 1001/30000`), which also puts timestamps
//!   that Matroska rounded to the millisecond back on the exact grid.
//! - Input: a piece split cut, or in a job of one piece the source itself
//!   (`Cutting::Uncut`), read as a cut piece would be: its first video
//!   stream alone, timestamps from zero at its first shown frame.
//! - Rotation: applied to the pixels from the probed source (the pieces are
//!   Matroska, which in ffmpeg 5.1 drops the display matrix), with ffmpeg's
//!   own autorotation off and the output's rotation set to none, so every
//!   piece comes out upright with no rotation metadata, whatever the piece
//!   container keeps.
//! - Size: never upscaled; scaled down to `max_height` (of the upright
//!   picture) when larger; odd sides lose one row or column (a crop, not a
//!   resample: 853x480 becomes 852x480).
//! - Interlace: an interlaced source (its field order says so) is
//!   deinterlaced with `bwdif` in frame-rate mode, one progressive frame per
//!   source frame, so the frame count and timestamps stay the source's.
//! - HDR: a PQ or HLG source is tone-mapped to SDR BT.709 and tagged so
//!   ([`tone_map`]): H.264 outputs are 8-bit and played by SDR players,
//!   which show an HDR signal washed out.
//! - Joins: each piece starts with an IDR frame and uses closed GOPs, all
//!   pieces with the same settings, so the concat demuxer joins them by
//!   stream copy.
//! - Key frames where the deliverables need them ([`KeyFrames`]): on every
//!   TS HLS segment boundary (x264's own choice in between), exactly two
//!   seconds apart in a ladder, and otherwise where x264 puts them: a
//!   download (MP4, FLV, AVI) needs no grid, which costs encode time and
//!   bytes.
//! - Ladder: a job asking for adaptive streaming decodes each piece once and
//!   encodes every rendition of its ladder from that decode (one ffmpeg, a
//!   `split` filter), with key frames at the same frames in every one.

use std::ffi::OsString;
use std::path::Path;

use std::path::PathBuf;

use futures_util::future::try_join_all;
use vpf_core::job::{Colour, Hdr, JobPlan, Piece, Profile, VideoInfo};
use vpf_core::ladder::Rendition;
use vpf_core::nas::rendition_file;
use vpf_core::watermark::{MarkImage, Watermark};
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::probe::count_video_packets;
use crate::run::{Stdout, args, ffmpeg_base, run, zeroed_at};
use crate::temp::Temp;
use crate::watermark::{overlay_graph, plan_mark};

/// Seconds between key frames in a ladder's renditions (where every
/// rendition must switch at the same frames).
pub const KEYFRAME_SECONDS: f64 = 2.0;

/// TS HLS segment length, seconds: Apple's recommended target duration
/// (HLS authoring specification for Apple devices). Every segment is this
/// long because transcode forces a key frame on each multiple of it.
pub const HLS_SEGMENT_SECONDS: u32 = 6;

/// The size of the encoded picture: upright, never larger than the source,
/// at most `max_height` tall, both sides even.
pub fn output_size(video: &VideoInfo, max_height: Option<u32>) -> (u32, u32) {
    let (w, h) = video.upright_size();
    match max_height {
        Some(max) if h > max => {
            let th = (max & !1).max(2);
            let tw = ((w as f64 * th as f64 / h as f64 / 2.0).round() as u32 * 2).max(2);
            (tw, th)
        }
        _ => ((w & !1).max(2), (h & !1).max(2)),
    }
}

/// The size of the joined video every other format is made from: the
/// ladder's largest rendition when the job has one, else [`output_size`].
pub fn encoded_size(video: &VideoInfo, plan: &JobPlan) -> (u32, u32) {
    match plan.renditions.first() {
        Some(r) => (r.width, r.height),
        None => output_size(video, plan.request.profile.max_height),
    }
}

/// What is done to every frame before it is sized: hidden frames dropped,
/// fields joined, HDR mapped, the picture turned upright. `None` when
/// nothing is.
fn picture_filter(video: &VideoInfo, piece: &Piece) -> Option<String> {
    let mut f: Vec<String> = Vec::new();
    if piece.drop_head > 0 || piece.drop_tail > 0 {
        // Frames the source's edit list hides: decoded as references, not shown.
        f.push(format!(
            "trim=start_frame={}:end_frame={}",
            piece.drop_head,
            piece.drop_head + piece.frames
        ));
    }
    if let Some(parity) = field_parity(video) {
        // Frame-rate output (send_frame): the frame count stays the source's.
        // The parity comes from the probe, not from each frame's flags, which
        // a piece re-encoded at split (sparse key frames) no longer carries.
        f.push(format!("bwdif=mode=send_frame:parity={parity}:deint=all"));
    }
    if let Some(hdr) = video.colour.hdr() {
        f.push(tone_map(&video.colour, hdr));
    }
    match video.rotation {
        90 => f.push("transpose=clock".into()),
        180 => f.push("hflip,vflip".into()),
        270 => f.push("transpose=cclock".into()),
        _ => {}
    }
    (!f.is_empty()).then(|| f.join(","))
}

/// The upright picture brought to `size`: nothing when it is that size, a
/// crop of the odd row or column when that is all, else a scale.
fn fit_filter(video: &VideoInfo, (w, h): (u32, u32)) -> Option<String> {
    let (rw, rh) = video.upright_size();
    if (w, h) == (rw, rh) {
        None
    } else if (w, h) == ((rw & !1).max(2), (rh & !1).max(2)) && w <= rw && h <= rh {
        Some(format!("crop={w}:{h}:0:0"))
    } else {
        Some(format!("scale={w}:{h}"))
    }
}

/// The video filter chain for one piece encoded once (no ladder).
pub fn video_filter(video: &VideoInfo, profile: &Profile, piece: &Piece) -> String {
    let parts: Vec<String> = [
        picture_filter(video, piece),
        fit_filter(video, output_size(video, profile.max_height)),
    ]
    .into_iter()
    .flatten()
    .collect();
    match parts.is_empty() {
        true => "null".into(),
        false => parts.join(","),
    }
}

/// The filter graph that decodes a piece once and feeds every rendition:
/// the picture filters, a `split`, and each rendition's size, labelled
/// `[v0]`, `[v1]`, ... (largest first).
pub fn ladder_graph(video: &VideoInfo, piece: &Piece, renditions: &[Rendition]) -> String {
    ladder_graph_to(video, piece, renditions, "v")
}

/// [`ladder_graph`] with its outputs labelled `[<label>0]`, `[<label>1]`, ...
fn ladder_graph_to(
    video: &VideoInfo,
    piece: &Piece,
    renditions: &[Rendition],
    label: &str,
) -> String {
    let head = picture_filter(video, piece).unwrap_or_else(|| "null".into());
    let n = renditions.len();
    let mut graph = format!("[0:V:0]{head}");
    if n > 1 {
        graph.push_str(&format!(",split={n}"));
        for k in 0..n {
            graph.push_str(&format!("[s{k}]"));
        }
    } else {
        graph.push_str("[s0]");
    }
    for (k, r) in renditions.iter().enumerate() {
        let fit = fit_filter(video, (r.width, r.height)).unwrap_or_else(|| "null".into());
        graph.push_str(&format!(";[s{k}]{fit}[{label}{k}]"));
    }
    graph
}

/// The whole filter graph of a watermarked encode: the piece (input 0)
/// brought to each output's size as without a mark, then the mark (input 1)
/// laid over each, labelled `[v0]`, `[v1]`, and so on (one output for a job
/// without a ladder).
fn marked_graph(
    video: &VideoInfo,
    plan: &JobPlan,
    piece: &Piece,
    mark: (&Watermark, &MarkImage),
) -> String {
    let (base, sizes) = if plan.renditions.is_empty() {
        let size = output_size(video, plan.request.profile.max_height);
        let chain = video_filter(video, &plan.request.profile, piece);
        (format!("[0:V:0]{chain}[b0]"), vec![size])
    } else {
        let sizes = plan.renditions.iter().map(|r| (r.width, r.height));
        (
            ladder_graph_to(video, piece, &plan.renditions, "b"),
            sizes.collect(),
        )
    };
    let full_width = sizes.first().map(|s| s.0).unwrap_or(2);
    let bases: Vec<(String, (u32, u32))> = sizes
        .into_iter()
        .enumerate()
        .map(|(k, size)| (format!("b{k}"), size))
        .collect();
    let outs: Vec<String> = (0..bases.len()).map(|k| format!("v{k}")).collect();
    let overlay = overlay_graph(mark, "1:v", &bases, full_width, &outs);
    format!("{base};{overlay}")
}

/// bwdif's parity for an interlaced source: the field shown first
/// (`tb` is top coded first but bottom shown first; `bt` the reverse).
fn field_parity(video: &VideoInfo) -> Option<&'static str> {
    match video.field_order.as_deref() {
        Some("tt" | "bt") => Some("tff"),
        Some("bb" | "tb") => Some("bff"),
        _ => None,
    }
}

/// `value` when it is one of `known` (names ffprobe and zscale share),
/// else `fallback`: nothing read from the file reaches a filter string
/// unchecked.
fn one_of(value: Option<&str>, known: &[&'static str], fallback: &'static str) -> &'static str {
    value
        .and_then(|v| known.iter().copied().find(|k| *k == v))
        .unwrap_or(fallback)
}

/// How an HDR signal is brought to SDR: the nominal peak (nits) that SDR
/// white stands for, and the signal values (0-1) of 80% of SDR white (the
/// knee) and of SDR white itself in that transfer. PQ is absolute, and
/// BT.2408 puts HDR reference white at 203 nits; zimg's HLG conversion is
/// relative to a 100-nit display's white. The signal values are zimg's own
/// (linear 0.8 and 1.0 through `zscale=tin=linear:t=<transfer>:npl=<nits>`).
struct Knee {
    transfer: &'static str,
    nits: u32,
    knee: f64,
    white: f64,
}

fn knee(hdr: Hdr) -> Knee {
    match hdr {
        Hdr::Pq => Knee {
            transfer: "smpte2084",
            nits: 203,
            knee: 0.5575,
            white: 0.5807,
        },
        Hdr::Hlg => Knee {
            transfer: "arib-std-b67",
            nits: 100,
            knee: 0.5891,
            white: 0.6296,
        },
    }
}

/// HDR (PQ or HLG, BT.2020 or P3) to SDR BT.709, 8-bit 4:2:0. Highlights
/// above SDR white are rolled off in the HDR signal itself, per channel,
/// with a curve that leaves everything below 80% of white untouched and
/// approaches white smoothly (`knee + (white - knee) * (1 - e^-(x - knee) /
/// (white - knee))`, same slope at the knee), so skies and lamps keep a
/// gradation instead of burning out; then one zimg pass converts transfer,
/// primaries and matrix. Against a chain through linear light with
/// ffmpeg's `tonemap` (Möbius), this measured 33.6/34.3 dB (HLG/PQ) luma
/// PSNR to the SDR original instead of 31.4/31.2, for under half the
/// conversion's CPU (the float `tonemap` filter was two thirds of it).
/// The input's description is stated explicitly, from the probe: the
/// Matroska pieces may not carry it.
pub fn tone_map(colour: &Colour, hdr: Hdr) -> String {
    let k = knee(hdr);
    let primaries = one_of(
        colour.primaries.as_deref(),
        &["bt2020", "bt709", "smpte432", "smpte431"],
        "bt2020",
    );
    let matrix = one_of(
        colour.matrix.as_deref(),
        &["bt2020nc", "bt2020c", "bt709"],
        "bt2020nc",
    );
    let range = one_of(colour.range.as_deref(), &["tv", "pc"], "tv");
    let (t, kn, w) = (k.transfer, k.knee, k.white);
    // lutrgb evaluates this once per 16-bit value, not per pixel.
    let curve = format!(
        "if(lt(val\\,{kn}*65535)\\,val\\,65535*({kn}+({w}-{kn})*(1-exp(-(val/65535-{kn})/({w}-{kn})))))"
    );
    format!(
        "zscale=tin={t}:t={t}:pin={primaries}:p={primaries}:min={matrix}:rin={range}:r=pc,\
         format=gbrp16le,lutrgb=r='{curve}':g='{curve}':b='{curve}',\
         zscale=tin={t}:t=bt709:npl={npl}:pin={primaries}:p=bt709:min=gbr:m=bt709:rin=pc:r=tv,\
         format=yuv420p",
        npl = k.nits
    )
}

/// The encoder time base: one frame for a constant rate; otherwise the
/// demuxer's (`-1`), which keeps every timestamp as it is.
pub fn encoder_time_base(video: &VideoInfo) -> String {
    if video.constant_frame_rate && video.frame_rate_num > 0 && video.frame_rate_den > 0 {
        format!("{}/{}", video.frame_rate_den, video.frame_rate_num)
    } else {
        "-1".into()
    }
}

/// The time base of the pieces transcode reads: they are Matroska, whose
/// timestamps are milliseconds.
const PIECE_TIME_BASE: &str = "1/1000";

/// The encoder time base under a watermark: one frame for a constant rate,
/// else the pieces' own. The mark makes the filter graph one of two inputs,
/// and ffmpeg then has no input stream to take "the demuxer's" time base
/// (`-1`) from: it would use one frame at the average rate and move a
/// variable rate's frames off their times.
fn marked_time_base(video: &VideoInfo) -> String {
    match encoder_time_base(video).as_str() {
        "-1" => PIECE_TIME_BASE.into(),
        tb => tb.into(),
    }
}

/// Output colour tags: what the tone map made (BT.709, limited range); for
/// other sources none, and x264 copies what the decoder reports.
fn colour_tags(video: &VideoInfo) -> Vec<&'static str> {
    if video.colour.hdr().is_some() {
        vec![
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
        ]
    } else {
        Vec::new()
    }
}

/// The muxer for an encoded piece, from its file name.
pub fn piece_muxer(path: &Path) -> Result<&'static str> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "nut" => Ok("nut"),
        "mkv" => Ok("matroska"),
        "ts" => Ok("mpegts"),
        "mp4" => Ok("mp4"),
        other => Err(Error::internal(format!(
            "cannot tell which container an encoded piece named *.{other} should use"
        ))),
    }
}

/// Frames between key frames: [`KEYFRAME_SECONDS`] at the stream's rate.
pub fn keyframe_interval(video: &VideoInfo) -> u32 {
    ((KEYFRAME_SECONDS / video.frame_seconds()).round() as u32).clamp(1, 600)
}

/// The `-force_key_frames` expression for [`KeyFrames::Segments`]: a key
/// frame on each multiple of [`HLS_SEGMENT_SECONDS`] of the output's
/// timeline (zero is the source's first video frame), in the piece's own
/// time (it starts at zero). The segmenter cuts at the first key frame at
/// or past each boundary, so the frame forced is the first at or past it;
/// a tenth of a millisecond of slack absorbs timestamp rounding (frames
/// are at least 8 ms apart).
fn segment_key_frames(video: &VideoInfo, piece: &Piece) -> String {
    let seg = HLS_SEGMENT_SECONDS as f64;
    let into = (piece.start_seconds - video.start_seconds).max(0.0);
    let first = (seg - into.rem_euclid(seg)).rem_euclid(seg);
    format!("expr:gte(t,{:.4}+n_forced*{seg})", first - 0.0001)
}

/// Where an encode puts its key frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFrames {
    /// x264's own choice (scene cuts, at most 250 frames apart): nothing the
    /// job delivers is cut into segments, and a forced grid would cost
    /// encode time and bytes for nothing.
    Encoder,
    /// On every multiple of [`HLS_SEGMENT_SECONDS`] of the output's
    /// timeline, x264's own choice in between: the TS HLS segmenter cuts at
    /// the first key frame past each multiple, so every segment lasts
    /// exactly that long, for a few more key frames than x264 makes alone
    /// (a forced two-second GOP cost 17-25% more encode time and 14% more
    /// bytes on a 12 s clip).
    Segments,
    /// Exactly every [`KEYFRAME_SECONDS`] from the piece's first frame, no
    /// scene cuts: every rendition of a ladder has them at the same frames.
    Aligned,
}

impl KeyFrames {
    /// What the plan's outputs need.
    pub fn for_plan(plan: &JobPlan) -> KeyFrames {
        if !plan.renditions.is_empty() {
            KeyFrames::Aligned
        } else if plan.request.formats.iter().any(|f| f.cut_into_segments()) {
            KeyFrames::Segments
        } else {
            KeyFrames::Encoder
        }
    }
}

/// The encoder settings every output of a piece shares: H.264, every frame
/// passed with its own timestamp, closed GOPs (each piece starts with an
/// IDR frame and none refers across a join), key frames where the outputs
/// need them ([`KeyFrames`]), upright with no rotation flag, colour tags
/// after a tone map.
fn encoder_args(
    video: &VideoInfo,
    profile: &Profile,
    piece: &Piece,
    keys: KeyFrames,
    time_base: String,
) -> Vec<OsString> {
    let gop = keyframe_interval(video);
    let mut a = args![
        "-c:v",
        "libx264",
        "-crf",
        profile.crf.to_string(),
        "-preset",
        &profile.preset,
        "-pix_fmt",
        "yuv420p",
        "-fps_mode",
        "passthrough",
        "-enc_time_base:v",
        time_base,
        "-flags:v",
        "+cgop",
    ];
    match keys {
        KeyFrames::Encoder => {}
        KeyFrames::Segments => {
            a.extend(args!["-force_key_frames", segment_key_frames(video, piece)])
        }
        KeyFrames::Aligned => a.extend(args![
            "-g",
            gop.to_string(),
            "-keyint_min",
            gop.to_string(),
            "-sc_threshold",
            "0"
        ]),
    }
    a.extend(args!["-metadata:s:v:0", "rotate=0"]);
    a.extend(colour_tags(video).into_iter().map(OsString::from));
    a
}

/// The ffmpeg arguments that encode `input` (one piece) with container
/// `muxer`: into `outputs[0]` alone when the job has no ladder; else
/// decoded once into every rendition, `outputs[k]` for
/// `plan.renditions[k]`, each rate-capped (CRF under `maxrate`, a VBV
/// buffer of two seconds) so that what a playlist declares holds. `mark`
/// is the watermark image when the plan has one (it must then be given),
/// laid over every output after its sizing.
pub fn transcode_args(
    input: &Path,
    mark: Option<&Path>,
    outputs: &[PathBuf],
    muxer: &str,
    plan: &JobPlan,
    piece: &Piece,
) -> Result<Vec<OsString>> {
    let video = plan
        .info
        .video
        .as_ref()
        .ok_or_else(|| Error::invalid("the job plan has no video stream"))?;
    let profile = &plan.request.profile;
    let want = plan.renditions.len().max(1);
    if outputs.len() != want {
        return Err(Error::internal(format!(
            "{} output files for {want} renditions",
            outputs.len()
        )));
    }
    let mut a = ffmpeg_base();
    if plan.uncut() {
        // The source read in place: its first shown frame at zero, where a
        // cut piece starts (the segment muxer's `-reset_timestamps`), so
        // that the encode's timestamps and key frames are a cut piece's.
        a.extend(zeroed_at(piece.start_seconds));
    }
    a.extend(args!["-noautorotate", "-i", input]);
    let marked = match (plan_mark(plan)?, mark) {
        (None, _) => None,
        (Some(m), Some(path)) => {
            a.extend(args!["-i", path]);
            Some(m)
        }
        (Some((w, _)), None) => {
            return Err(Error::internal(format!(
                "the job's watermark {:?} was not handed to the encode",
                w.key
            )));
        }
    };
    let graph = match (marked, plan.renditions.is_empty()) {
        (None, true) => None,
        (Some(m), _) => Some(marked_graph(video, plan, piece, m)),
        (None, false) => Some(ladder_graph(video, piece, &plan.renditions)),
    };
    // An uncut piece's source has a time base of its own, often finer than
    // the pieces' milliseconds: it takes the pieces' too, so that a frame's
    // time is the same whether the job was cut or not, marked or not.
    let time_base = match marked.is_some() || plan.uncut() {
        true => marked_time_base(video),
        false => encoder_time_base(video),
    };
    if plan.renditions.is_empty() {
        match graph {
            None => a.extend(args![
                "-map",
                "0:V:0",
                "-filter:v",
                video_filter(video, profile, piece)
            ]),
            Some(g) => a.extend(args!["-filter_complex", g, "-map", "[v0]"]),
        }
        a.extend(args!["-an", "-sn", "-dn"]);
        a.extend(encoder_args(
            video,
            profile,
            piece,
            KeyFrames::for_plan(plan),
            time_base,
        ));
        a.extend(args!["-f", muxer, &outputs[0]]);
        return Ok(a);
    }
    a.extend(args!["-filter_complex", graph.unwrap_or_default()]);
    for (k, (r, out)) in plan.renditions.iter().zip(outputs).enumerate() {
        a.extend(args!["-map", format!("[v{k}]")]);
        a.extend(encoder_args(
            video,
            profile,
            piece,
            KeyFrames::Aligned,
            time_base.clone(),
        ));
        a.extend(args![
            "-maxrate",
            format!("{}k", r.kbps),
            "-bufsize",
            format!("{}k", r.bufsize_kbits()),
            "-f",
            muxer,
            out
        ]);
    }
    Ok(a)
}

/// Encode piece `index` of `plan` from `input` to `output` (its container is
/// picked from the extension, see `piece_muxer`), with the watermark image
/// `mark` over it when the plan has one. The file appears only when
/// complete and holding exactly the piece's frames; a failed encode leaves
/// nothing behind. Returns the frame count.
pub async fn transcode_piece(
    tools: &Tools,
    input: &Path,
    mark: Option<&Path>,
    output: &Path,
    plan: &JobPlan,
    index: u32,
) -> Result<u64> {
    let piece = plan
        .pieces
        .iter()
        .find(|p| p.index == index)
        .ok_or_else(|| Error::invalid(format!("the job has no piece {index}")))?;
    if !input.is_file() {
        return Err(Error::invalid(format!(
            "piece {index} is missing at {}; split must run first",
            input.display()
        )));
    }
    let muxer = piece_muxer(output)?;
    let finals: Vec<PathBuf> = (0..plan.renditions.len().max(1))
        .map(|k| rendition_file(output, k))
        .collect();
    let tmps: Vec<Temp> = finals.iter().map(|f| Temp::beside(f)).collect();
    let paths: Vec<PathBuf> = tmps.iter().map(|t| t.path().to_path_buf()).collect();
    if let Some(m) = mark.filter(|_| plan.watermark_image.is_some())
        && !m.is_file()
    {
        return Err(Error::invalid(format!(
            "the watermark image is missing at {}; split must run first",
            m.display()
        )));
    }
    let a = transcode_args(input, mark, &paths, muxer, plan, piece)?;
    let out = run(&tools.ffmpeg, &a, Stdout::Ignore)
        .await?
        .check(ErrorKind::EncodeFailed, &format!("encoding piece {index}"))?;
    let counts = try_join_all(paths.iter().map(|p| count_video_packets(tools, p))).await?;
    for (k, frames) in counts.iter().enumerate() {
        if *frames != piece.frames {
            let progress = out.log.progress.as_ref().map(|p| p.frame).unwrap_or(0);
            let what = match plan.renditions.get(k) {
                Some(r) if plan.renditions.len() > 1 => format!(" ({})", r.name),
                _ => String::new(),
            };
            return Err(Error::new(
                ErrorKind::VerifyFailed,
                format!(
                    "piece {index}{what} encoded to {frames} frames (ffmpeg reported {progress}), the source piece has {}",
                    piece.frames
                ),
            ));
        }
    }
    // Rendition 0 last: once it is there, every rendition of the piece is.
    for (tmp, path) in tmps.into_iter().zip(&finals).rev() {
        tmp.commit(path)?;
    }
    Ok(piece.frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(w: u32, h: u32, rotation: i32) -> VideoInfo {
        VideoInfo {
            width: w,
            height: h,
            rotation,
            frame_rate_num: 30000,
            frame_rate_den: 1001,
            constant_frame_rate: true,
            ..Default::default()
        }
    }

    fn piece() -> Piece {
        Piece {
            index: 0,
            start_seconds: 0.0,
            duration_seconds: 2.0,
            frames: 60,
            drop_head: 0,
            drop_tail: 0,
        }
    }

    #[test]
    fn sizes_are_even_upright_and_never_upscaled() {
        assert_eq!(output_size(&video(853, 480, 0), None), (852, 480));
        assert_eq!(output_size(&video(853, 480, 90), None), (480, 852));
        assert_eq!(output_size(&video(1920, 1080, 0), Some(720)), (1280, 720));
        assert_eq!(output_size(&video(640, 360, 0), Some(720)), (640, 360));
        assert_eq!(output_size(&video(1920, 1080, 270), Some(720)), (406, 720));
        assert_eq!(output_size(&video(1920, 1080, 0), Some(481)), (854, 480));
        assert_eq!(output_size(&video(1, 1, 0), None), (2, 2));
    }

    #[test]
    fn filters_rotate_then_fit() {
        let p = Profile::default();
        assert_eq!(video_filter(&video(640, 360, 0), &p, &piece()), "null");
        assert_eq!(
            video_filter(&video(853, 480, 0), &p, &piece()),
            "crop=852:480:0:0"
        );
        assert_eq!(
            video_filter(&video(320, 240, 90), &p, &piece()),
            "transpose=clock"
        );
        assert_eq!(
            video_filter(&video(320, 240, 180), &p, &piece()),
            "hflip,vflip"
        );
        let small = Profile {
            max_height: Some(720),
            ..Profile::default()
        };
        assert_eq!(
            video_filter(&video(1920, 1080, 270), &small, &piece()),
            "transpose=cclock,scale=406:720"
        );
        let mut trimmed = piece();
        trimmed.drop_head = 9;
        assert_eq!(
            video_filter(&video(640, 360, 0), &p, &trimmed),
            "trim=start_frame=9:end_frame=69"
        );
    }

    #[test]
    fn hdr_is_tone_mapped_and_interlace_keeps_its_parity() {
        let mut v = video(640, 360, 90);
        v.colour = Colour {
            primaries: Some("bt2020".into()),
            transfer: Some("arib-std-b67".into()),
            matrix: Some("bt2020nc,evil=1".into()),
            range: None,
        };
        v.field_order = Some("tb".into());
        let f = video_filter(&v, &Profile::default(), &piece());
        assert!(
            f.starts_with(
                "bwdif=mode=send_frame:parity=bff:deint=all,zscale=tin=arib-std-b67:t=arib-std-b67:pin=bt2020:p=bt2020:min=bt2020nc:rin=tv:r=pc,format=gbrp16le,lutrgb=r='if(lt(val\\,0.5891*65535)\\,val\\,"
            ),
            "{f}"
        );
        assert!(
            f.contains(",zscale=tin=arib-std-b67:t=bt709:npl=100:pin=bt2020:p=bt709:"),
            "{f}"
        );
        assert!(f.ends_with("format=yuv420p,transpose=clock"), "{f}");
        assert!(!f.contains("evil"));
        v.colour.transfer = Some("smpte2084".into());
        assert!(video_filter(&v, &Profile::default(), &piece()).contains("t=bt709:npl=203:"));
        let tags = colour_tags(&v);
        assert_eq!(tags.len(), 8);
        v.colour.transfer = Some("bt709".into());
        assert!(!video_filter(&v, &Profile::default(), &piece()).contains("zscale"));
        assert!(colour_tags(&v).is_empty());
        v.field_order = Some("bt".into());
        assert!(video_filter(&v, &Profile::default(), &piece()).contains("parity=tff"));
    }

    #[test]
    fn time_base_is_one_frame_only_for_constant_rates() {
        let mut v = video(640, 360, 0);
        assert_eq!(encoder_time_base(&v), "1001/30000");
        v.constant_frame_rate = false;
        assert_eq!(encoder_time_base(&v), "-1");
    }

    #[test]
    fn a_ladder_decodes_once_and_caps_every_rendition() {
        use vpf_core::ladder::Ladder;
        let mut v = video(1920, 1080, 90);
        v.field_order = Some("tt".into());
        let renditions = Ladder::default().plan(v.upright_size(), None);
        let names: Vec<&str> = renditions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["1080p", "720p", "540p", "360p", "234p"]);
        let g = ladder_graph(&v, &piece(), &renditions[..2]);
        assert_eq!(
            g,
            "[0:V:0]bwdif=mode=send_frame:parity=tff:deint=all,transpose=clock,split=2[s0][s1];[s0]null[v0];[s1]scale=720:1280[v1]"
        );
        let small = video(640, 360, 0);
        let low = Ladder::default().plan(small.upright_size(), None);
        assert_eq!(
            ladder_graph(&small, &piece(), &low[1..]),
            "[0:V:0]null[s0];[s0]scale=416:234[v0]"
        );
        let plan: JobPlan = serde_json::from_value(serde_json::json!({
            "request": {"jobId": "j", "bucket": "b", "key": "k.mp4", "outputBase": "d/k", "stem": "k",
                        "formats": ["abr"], "segmentSeconds": 10.0},
            "sourceFile": "s.mp4", "info": {"formatName": "mp4", "durationSeconds": 2.0, "sizeBytes": 1,
                                            "video": serde_json::to_value(&v).unwrap()},
            "pieceSeconds": 2.0, "pieces": [], "hasAudio": false,
            "renditions": serde_json::to_value(&renditions[..2]).unwrap()
        }))
        .unwrap();
        let outs = [PathBuf::from("/e/0.nut"), PathBuf::from("/e/0-r1.nut")];
        let a: Vec<String> =
            transcode_args(Path::new("/p/0.mkv"), None, &outs, "nut", &plan, &piece())
                .unwrap()
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
        let joined = a.join(" ");
        assert_eq!(a.iter().filter(|x| *x == "-i").count(), 1, "one decode");
        assert!(joined.contains("-map [v0] -c:v libx264"), "{joined}");
        assert!(
            joined.contains("-maxrate 6000k -bufsize 12000k -f nut /e/0.nut"),
            "{joined}"
        );
        assert!(
            joined.contains("-maxrate 3000k -bufsize 6000k -f nut /e/0-r1.nut"),
            "{joined}"
        );
        assert_eq!(a.iter().filter(|x| *x == "-sc_threshold").count(), 2);
        assert!(
            joined.contains("+cgop -g 60 -keyint_min 60 -sc_threshold 0"),
            "{joined}"
        );
        assert!(transcode_args(Path::new("/p"), None, &outs[..1], "nut", &plan, &piece()).is_err());
    }

    #[test]
    fn key_frames_are_forced_only_where_an_output_is_segmented() {
        let v = video(640, 360, 0);
        let plan = |formats: &[&str]| -> JobPlan {
            serde_json::from_value(serde_json::json!({
                "request": {"jobId": "j", "bucket": "b", "key": "k.mp4", "outputBase": "d/k",
                            "stem": "k", "formats": formats, "segmentSeconds": 10.0},
                "sourceFile": "s.mp4",
                "info": {"formatName": "mp4", "durationSeconds": 2.0, "sizeBytes": 1,
                         "video": serde_json::to_value(&v).unwrap()},
                "pieceSeconds": 2.0, "pieces": [], "hasAudio": false
            }))
            .unwrap()
        };
        let args = |p: &JobPlan| -> String {
            transcode_args(
                Path::new("/p/0.mkv"),
                None,
                &[PathBuf::from("/e/0.nut")],
                "nut",
                p,
                &piece(),
            )
            .unwrap()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
        };
        for formats in [&["mp4"][..], &["mp4", "flv", "avi", "gif", "jpg", "sprite"]] {
            let p = plan(formats);
            assert_eq!(KeyFrames::for_plan(&p), KeyFrames::Encoder);
            let a = args(&p);
            assert!(!a.contains("-g ") && !a.contains("-sc_threshold"), "{a}");
            assert!(a.contains("-flags:v +cgop"), "{a}");
        }
        let p = plan(&["mp4", "hls"]);
        assert_eq!(KeyFrames::for_plan(&p), KeyFrames::Segments);
        let a = args(&p);
        assert!(!a.contains("-g ") && !a.contains("-sc_threshold"), "{a}");
        assert!(a.contains("-force_key_frames expr:gte(t,"), "{a}");
    }

    #[test]
    fn segment_key_frames_fall_on_the_outputs_boundaries() {
        let video = VideoInfo {
            start_seconds: 0.5,
            ..video(1920, 1080, 0)
        };
        let at = |start_seconds| {
            segment_key_frames(
                &video,
                &Piece {
                    start_seconds,
                    ..piece()
                },
            )
        };
        // The first piece: a key frame at its start, then every 6 s.
        assert_eq!(at(0.5), "expr:gte(t,-0.0001+n_forced*6)");
        // A piece 31 s into the output: its first boundary (36 s) is 5 s in.
        assert_eq!(at(31.5), "expr:gte(t,4.9999+n_forced*6)");
        // A piece that starts on a boundary.
        assert_eq!(at(12.5), "expr:gte(t,-0.0001+n_forced*6)");
    }

    #[test]
    fn muxer_follows_the_extension() {
        assert_eq!(piece_muxer(Path::new("/e/00001.nut")).unwrap(), "nut");
        assert_eq!(piece_muxer(Path::new("/e/00001.MKV")).unwrap(), "matroska");
        assert!(piece_muxer(Path::new("/e/00001")).is_err());
    }
}
