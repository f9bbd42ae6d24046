//! Shared by the integration tests: the handlers' sequence of media steps,
//! and independent ffprobe checks (plain `ffprobe` calls, not our code).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vpf_core::job::{Format, JobPlan, JobRequest, Profile};
use vpf_core::nas::JobDir;
use vpf_media::{Packaged, Tools};

pub fn tools() -> Tools {
    Tools::from_env()
}

pub struct Job {
    /// Keeps the NAS folder alive for the test.
    pub root: tempfile::TempDir,
    pub jobdir: JobDir,
    pub plan: JobPlan,
    pub outputs: Vec<Packaged>,
}

impl Job {
    pub fn output(&self, f: Format) -> &Packaged {
        self.outputs
            .iter()
            .find(|p| p.format == f)
            .expect("format packaged")
    }
    pub fn main(&self, f: Format) -> PathBuf {
        self.output(f).main().unwrap().path.clone()
    }
}

pub fn request(formats: &[Format], segment_seconds: f64, profile: Profile) -> JobRequest {
    JobRequest {
        job_id: "job-1".into(),
        bucket: "media".into(),
        key: "in/clip.mp4".into(),
        etag: "E".into(),
        size: 0,
        output_base: "dest/clip".into(),
        stem: "clip".into(),
        formats: formats.to_vec(),
        segment_seconds,
        max_pieces: 100,
        profile,
        webhook_url: None,
        sources: Default::default(),
    }
}

/// What the split, transcode and merge handlers do, in order.
pub async fn pipeline(
    tools: &Tools,
    source: &Path,
    formats: &[Format],
    segment_seconds: f64,
    profile: Profile,
) -> vpf_core::Result<Job> {
    pipeline_marked(tools, source, None, formats, segment_seconds, profile).await
}

/// [`pipeline`] with the watermark image `mark` in the job folder, where
/// split puts it (the profile's `watermark` says where it goes).
pub async fn pipeline_marked(
    tools: &Tools,
    source: &Path,
    mark: Option<&Path>,
    formats: &[Format],
    segment_seconds: f64,
    profile: Profile,
) -> vpf_core::Result<Job> {
    let root = tempfile::tempdir().unwrap();
    let req = request(formats, segment_seconds, profile);
    let jobdir = JobDir::new(root.path(), &req.job_id)?;
    jobdir.create()?;
    let watermark_image = match (mark, &req.profile.watermark) {
        (Some(m), Some(_)) => {
            std::fs::copy(m, jobdir.watermark()).unwrap();
            Some(vpf_media::probe_mark(tools, &jobdir.watermark(), "mark").await?)
        }
        _ => None,
    };
    let src = jobdir.source(&req.key);
    std::fs::copy(source, &src).unwrap();

    let probed = vpf_media::probe_source(tools, &src).await?;
    let len = vpf_media::piece_seconds(
        probed.info.duration_seconds,
        req.segment_seconds,
        req.max_pieces,
    );
    let (pieces, cutting) = match probed.info.video {
        Some(_) => vpf_media::split_video(tools, &src, &probed, len, &jobdir).await?,
        None => (Vec::new(), Default::default()),
    };
    let info = probed.info;
    // The audio tasks and the subtitles task, as split plans them.
    let audio_tracks = info.audio_plan_for(&req.formats);
    let subtitle_tracks = info.subtitle_plan_for(&req.formats);
    let renditions = info.renditions_for(&req.formats, &req.profile);
    let plan = JobPlan {
        request: req,
        source_file: "source.mp4".into(),
        info,
        piece_seconds: len,
        pieces,
        cutting,
        has_audio: !audio_tracks.is_empty(),
        audio_tracks,
        subtitle_tracks,
        renditions,
        watermark_image,
    };
    let info = &plan.info;
    for n in plan.audio_plan() {
        let mp3 = (plan.mp3_track() == Some(n)).then(|| jobdir.audio_mp3(n));
        let made = vpf_media::extract_audio_with_mp3(
            tools,
            &src,
            info,
            n,
            &plan.request.profile,
            &jobdir.audio_track(n),
            mp3.as_deref(),
        )
        .await?;
        assert!(made, "audio track {n} was planned");
    }
    vpf_media::extract_subtitles(tools, &src, info, &plan.subtitle_tracks, |n| {
        jobdir.subtitles(n)
    })
    .await?;
    jobdir.write_plan(&plan)?;
    for p in &plan.pieces {
        let mark = plan.watermark_image.as_ref().map(|_| jobdir.watermark());
        let frames = vpf_media::transcode_piece(
            tools,
            &jobdir.piece_input(&plan, p.index),
            mark.as_deref(),
            &jobdir.encoded(p.index),
            &plan,
            p.index,
        )
        .await?;
        assert_eq!(frames, p.frames);
    }
    if let Some(keep) = std::env::var_os("VPF_KEEP_JOB") {
        // Debugging aid: leave the job folder for inspection.
        let _ = std::fs::create_dir_all(&keep);
        let dst = Path::new(&keep).join(format!("{}", std::process::id()));
        let _ = Command::new("cp")
            .arg("-r")
            .arg(jobdir.path())
            .arg(&dst)
            .status();
    }
    let outputs = vpf_media::merge(tools, &plan, &jobdir).await?;
    Ok(Job {
        root,
        jobdir,
        plan,
        outputs,
    })
}

// ---- independent checks ----------------------------------------------------------------

pub fn ffprobe(args: &[&str], path: &Path) -> String {
    let out = Command::new(tools().ffprobe)
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe {args:?} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json(path: &Path) -> Value {
    serde_json::from_str(&ffprobe(
        &["-show_streams", "-show_format", "-of", "json"],
        path,
    ))
    .unwrap()
}

pub fn stream<'a>(j: &'a Value, kind: &str) -> Option<&'a Value> {
    j["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
}

/// Frames a decoder shows (edit lists applied).
pub fn decoded_frames(path: &Path) -> u64 {
    ffprobe(
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ],
        path,
    )
    .lines()
    .find_map(|l| l.trim().trim_end_matches(',').parse().ok())
    .unwrap()
}

pub struct Pkt {
    pub pts: f64,
    pub dur: f64,
    pub dur_ts: i64,
    pub discard: bool,
}

/// Packets of the first stream of `kind` ("v" or "a"), with times in seconds.
pub fn packets(path: &Path, kind: &str) -> Vec<Pkt> {
    let text = ffprobe(
        &[
            "-select_streams",
            &format!("{kind}:0"),
            "-show_entries",
            "packet=pts_time,duration_time,duration,flags",
            "-of",
            "json",
        ],
        path,
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Pkt {
            pts: p["pts_time"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN),
            dur: p["duration_time"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0),
            dur_ts: p["duration"].as_i64().unwrap_or(0),
            discard: p["flags"].as_str().unwrap_or("").contains('D'),
        })
        .collect()
}

/// (start, length) of the shown packets, seconds.
pub fn span(pkts: &[Pkt]) -> (f64, f64) {
    let shown = pkts.iter().filter(|p| !p.discard);
    let start = shown.clone().map(|p| p.pts).fold(f64::INFINITY, f64::min);
    let end = shown
        .map(|p| p.pts + p.dur)
        .fold(f64::NEG_INFINITY, f64::max);
    (start, end - start)
}

pub fn rate(s: &Value, key: &str) -> f64 {
    let r = s[key].as_str().unwrap();
    let (n, d) = r.split_once('/').unwrap();
    n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap()
}

/// The checks of `vpf_media::verify` on a merged MP4, measured with ffprobe against the source file.
pub fn assert_merged(merged: &Path, source: &Path, expect_audio: bool) {
    let src_frames = decoded_frames(source);
    assert_eq!(
        decoded_frames(merged),
        src_frames,
        "decoded frames of {}",
        merged.display()
    );

    let sj = json(source);
    let sv = stream(&sj, "video").unwrap();
    let fps = rate(sv, "avg_frame_rate");
    let (v0, src_len) = span(&packets(source, "v"));
    let (mv0, out_len) = span(&packets(merged, "v"));
    assert!(
        (out_len - src_len).abs() <= 1.0 / fps + 1e-6,
        "video lasts {out_len}, source {src_len}, frame {}",
        1.0 / fps
    );

    let mj = json(merged);
    assert_eq!(stream(&mj, "audio").is_some(), expect_audio);
    if expect_audio {
        let sa = stream(&sj, "audio").unwrap();
        let ma = stream(&mj, "audio").unwrap();
        assert_eq!(ma["codec_name"], "aac");
        let sr: f64 = ma["sample_rate"].as_str().unwrap().parse().unwrap();
        let pk = packets(merged, "a");
        let (n, last) = (pk.len(), pk.len() - 1);
        for (i, p) in pk.iter().enumerate() {
            let samples = (p.dur * sr).round() as i64;
            if i < last {
                assert_eq!(
                    samples, 1024,
                    "audio packet {i} of {n} is {samples} samples"
                );
            } else {
                assert!(samples <= 1024);
            }
        }
        let a_start: f64 = sa["start_time"].as_str().unwrap().parse().unwrap();
        // Matroska gives no stream duration: the packets' span says it.
        let a_len: f64 = match sa["duration"].as_str() {
            Some(d) => d.parse().unwrap(),
            None => span(&packets(source, "a")).1,
        };
        let expected = a_start + a_len - v0;
        let (ma0, got) = span(&pk);
        assert!(
            (got - expected).abs() <= 1024.0 / sr + 1e-6,
            "audio lasts {got}, expected {expected}"
        );
        assert!(
            (ma0 - mv0).abs() <= 0.001,
            "audio starts {ma0}, video {mv0}"
        );
        let ms: f64 = ma["start_time"].as_str().unwrap().parse().unwrap();
        let vs: f64 = stream(&mj, "video").unwrap()["start_time"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((ms - vs).abs() <= 0.001, "stream start times {ms} / {vs}");
    }
}

/// No temporary file or folder anywhere under `dir`.
pub fn assert_no_temp(dir: &Path) {
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp-"),
            "temporary left behind: {}",
            entry.display()
        );
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

/// Run ffmpeg with arguments, for checks (panics on failure); returns stderr.
/// PSNR in dB (99 for identical), averaged over the frames compared.
pub struct Psnr {
    pub y: f64,
    /// All planes.
    pub average: f64,
}

/// ffmpeg's `psnr` of `a` against `b`, both as 8-bit 4:2:0, over the first
/// `frames` frames (all when `None`).
pub fn psnr(a: &Path, b: &Path, frames: Option<u32>) -> Psnr {
    let mut args = vec![
        "-i".to_string(),
        a.to_string_lossy().into_owned(),
        "-i".to_string(),
        b.to_string_lossy().into_owned(),
        "-lavfi".to_string(),
        "[0:v]format=yuv420p[x];[1:v]format=yuv420p[y];[x][y]psnr".to_string(),
    ];
    if let Some(n) = frames {
        args.extend(["-frames:v".to_string(), n.to_string()]);
    }
    args.extend(["-f", "null", "-"].map(String::from));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = ffmpeg(&refs);
    let value = |key: &str| -> f64 {
        let v = err
            .rsplit(key)
            .next()
            .filter(|_| err.contains(key))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {key} in {err}"));
        if v == "inf" { 99.0 } else { v.parse().unwrap() }
    };
    Psnr {
        y: value("PSNR y:"),
        average: value("average:"),
    }
}

pub fn ffmpeg(args: &[&str]) -> String {
    let out = Command::new(tools().ffmpeg)
        .args(["-hide_banner", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ffmpeg {args:?}: {err}");
    err
}

/// Frames dropped (every fifth) and, with `jitter`, moved off the frame
/// grid: a variable frame rate, as screen recorders and phones write.
pub const VFR_DROP: &str = "select='not(eq(mod(n\\,5)\\,2))'";
pub const VFR_JITTER: &str = ",setpts=PTS+mod(N\\,3)*0.013/TB";

/// `src` re-encoded through `filter` with every frame's own time kept.
pub fn reencode_timed(src: &Path, filter: &str, dst: &Path) {
    ffmpeg(&[
        "-v",
        "error",
        "-i",
        src.to_str().unwrap(),
        "-map",
        "0",
        "-vf",
        filter,
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-c:a",
        "copy",
        dst.to_str().unwrap(),
    ]);
}
