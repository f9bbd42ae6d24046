//! What real-world sources cost (README, "Real-world sources"): a screen recording with one key
//! frame (cut at any frame through a lossless intermediate) against one
//! plain ffmpeg encode, and the price of the picture conversions the
//! pipeline adds (HDR tone mapping, deinterlacing) measured as one encode
//! with and without the pipeline's own filter chain.

use std::path::{Path, PathBuf};

use serde::Serialize;
use vpf_core::job::{Piece, Profile};

use crate::args;
use crate::media::{R, quiet_ffmpeg, run_tool, x264};
use crate::meter::{Meter, Usage};
use crate::pipeline::PipelineRun;

/// The sparse-key-frame case: one key frame, pieces asked for every
/// `piece_seconds`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sparse {
    pub input: String,
    pub seconds: f64,
    pub piece_seconds: f64,
    /// One plain ffmpeg encode with the pipeline's settings.
    pub floor: Usage,
    pub pipeline: PipelineRun,
}

/// One encode of `input` with the pipeline's settings, without and with a
/// conversion's filter chain (exactly what transcode adds for that source).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterCost {
    pub conversion: String,
    pub input: String,
    pub filter: String,
    pub plain: Usage,
    pub converted: Usage,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RealWorld {
    pub sparse: Option<Sparse>,
    pub filters: Vec<FilterCost>,
}

/// Sizes of the generated sources.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub width: u32,
    pub height: u32,
    pub seconds: f64,
}

/// Make `name` in `dir` (once; kept for reruns) from the noisy test picture
/// at `rate` frames a second, through `filter`, encoded with `codec`.
fn make(
    ffmpeg: &Path,
    s: &Sizes,
    dir: &Path,
    name: &str,
    rate: u32,
    filter: &str,
    codec: Vec<std::ffi::OsString>,
) -> R<PathBuf> {
    let out = dir.join(name);
    if out.is_file() {
        return Ok(out);
    }
    let mut a = quiet_ffmpeg();
    a.extend(args![
        "-f",
        "lavfi",
        "-i",
        format!(
            "testsrc2=size={}x{}:rate={rate}:duration={},noise=alls=6:allf=t+u",
            s.width, s.height, s.seconds
        ),
        "-vf",
        filter
    ]);
    a.extend(codec);
    a.push(out.clone().into());
    run_tool(ffmpeg, &a)?;
    Ok(out)
}

/// An HLG source as a phone records it: 10-bit HEVC, BT.2020, made from
/// the noisy test picture through zimg (x265 `ultrafast`: generation only).
pub fn make_hlg(ffmpeg: &Path, s: &Sizes, dir: &Path) -> R<PathBuf> {
    make(
        ffmpeg,
        s,
        dir,
        &format!("hlg{}p{}s.mov", s.height, s.seconds),
        30,
        "format=yuv420p,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv,\
         zscale=t=linear,format=gbrpf32le,zscale=p=bt2020:t=arib-std-b67:m=bt2020nc:r=tv,format=yuv420p10le",
        args![
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
            "-tag:v",
            "hvc1",
            "-color_primaries",
            "bt2020",
            "-color_trc",
            "arib-std-b67",
            "-colorspace",
            "bt2020nc"
        ],
    )
}

/// A broadcast source: interlaced MPEG-2 (fields from 50 instants a second
/// woven into 25 frames, top field first) in a transport stream.
pub fn make_interlaced(ffmpeg: &Path, s: &Sizes, dir: &Path) -> R<PathBuf> {
    make(
        ffmpeg,
        s,
        dir,
        &format!("i{}p{}s.ts", s.height, s.seconds),
        50,
        "tinterlace=mode=interleave_top,setfield=tff",
        args![
            "-c:v",
            "mpeg2video",
            "-b:v",
            "20M",
            "-flags",
            "+ilme+ildct",
            "-top",
            "1",
            "-f",
            "mpegts"
        ],
    )
}

/// The pipeline's video encode of `src` (video only, MP4), with `filter`.
fn encode_args(src: &Path, out: &Path, profile: &Profile, filter: &str) -> Vec<std::ffi::OsString> {
    let mut a = quiet_ffmpeg();
    a.extend(args![
        "-noautorotate",
        "-i",
        src,
        "-map",
        "0:v:0",
        "-vf",
        filter
    ]);
    a.extend(x264(profile));
    a.extend(args!["-f", "mp4", out]);
    a
}

/// Encode `src` without and with the filter chain transcode uses for it.
pub async fn filter_cost(
    tools: &vpf_media::Tools,
    conversion: &str,
    src: &Path,
    profile: &Profile,
    dir: &Path,
) -> R<FilterCost> {
    let info = vpf_media::probe(tools, src)
        .await
        .map_err(|e| e.to_string())?;
    let video = info.video.as_ref().ok_or("no video")?;
    let whole = Piece {
        index: 0,
        start_seconds: 0.0,
        duration_seconds: video.duration_seconds,
        frames: video.frames,
        drop_head: 0,
        drop_tail: 0,
    };
    let filter = vpf_media::video_filter(video, profile, &whole);
    let out = dir.join("filter-cost.mp4");
    let m = Meter::start();
    run_tool(&tools.ffmpeg, &encode_args(src, &out, profile, "null"))?;
    let plain = m.stop();
    let m = Meter::start();
    run_tool(&tools.ffmpeg, &encode_args(src, &out, profile, &filter))?;
    let converted = m.stop();
    let _ = std::fs::remove_file(&out);
    Ok(FilterCost {
        conversion: conversion.into(),
        input: src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        filter,
        plain,
        converted,
    })
}
