//! The media side of the benchmark: generated inputs, the single-encode
//! floor, plain ffprobe facts of an output, and its quality against the source.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use vpf_core::job::Profile;

pub type R<T> = Result<T, String>;

/// Build an argument list from anything string-like.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => { Vec::<std::ffi::OsString>::from([$(std::ffi::OsString::from($a)),*]) };
}

/// Every ffmpeg the bench runs starts so: quiet, no prompt, overwrite.
pub fn quiet_ffmpeg() -> Vec<OsString> {
    args!["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
}

/// The pipeline's video encoder settings: libx264 at the profile's CRF and
/// preset, 8-bit 4:2:0.
pub fn x264(profile: &Profile) -> Vec<OsString> {
    args![
        "-c:v",
        "libx264",
        "-crf",
        profile.crf.to_string(),
        "-preset",
        profile.preset.clone(),
        "-pix_fmt",
        "yuv420p"
    ]
}

/// Run a tool; on failure the error carries the end of its stderr.
pub fn run_tool(program: &Path, args: &[OsString]) -> R<std::process::Output> {
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", program.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(8).collect();
        return Err(format!(
            "{} {} failed ({}): {}",
            program.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok(out)
}

/// A generated input: testsrc2 (moving pattern, counters, a sweeping
/// gradient) with temporal noise, so that every frame costs the encoder
/// real work, and a stereo tone pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputSpec {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seconds: f64,
    /// Piece length for (b) and (c) on this input.
    pub piece_seconds: f64,
    /// Strength of the noise filter (0-100).
    pub noise: u32,
    /// x264 settings of the source itself: a camera-like upload (key frame
    /// every 2 s, high bitrate), made fast.
    pub source_crf: u32,
    /// Frames between the source's key frames; `None`: every 2 s, as a
    /// camera. A screen recorder may write one key frame in the whole file.
    #[serde(default)]
    pub source_keyint: Option<u32>,
}

impl InputSpec {
    pub fn new(name: &str, width: u32, height: u32, seconds: f64, piece_seconds: f64) -> Self {
        InputSpec {
            name: name.into(),
            width,
            height,
            fps: 30,
            seconds,
            piece_seconds,
            noise: 6,
            source_crf: 20,
            source_keyint: None,
        }
    }

    pub fn label(&self) -> String {
        format!("{}p {} s", self.height, self.seconds)
    }

    pub fn file_name(&self) -> String {
        format!("{}.mp4", self.name)
    }
}

pub fn generate_args(spec: &InputSpec, out: &Path) -> Vec<OsString> {
    let keyint = spec.source_keyint.unwrap_or(spec.fps * 2);
    let video = format!(
        "testsrc2=size={}x{}:rate={}:duration={},noise=alls={}:allf=t+u",
        spec.width, spec.height, spec.fps, spec.seconds, spec.noise
    );
    let audio = format!(
        "aevalsrc=0.4*sin(440*2*PI*t)|0.4*sin(660*2*PI*t):s=48000:d={}",
        spec.seconds
    );
    args![
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        video,
        "-f",
        "lavfi",
        "-i",
        audio,
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        spec.source_crf.to_string(),
        "-g",
        keyint.to_string(),
        "-keyint_min",
        keyint.to_string(),
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "192k",
        "-movflags",
        "+faststart",
        out
    ]
}

/// Make the input unless the same spec made it before (a JSON sidecar
/// records the spec), so reruns skip generation.
pub fn generate(ffmpeg: &Path, spec: &InputSpec, dir: &Path) -> R<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = dir.join(spec.file_name());
    let sidecar = dir.join(format!("{}.json", spec.name));
    let same = std::fs::read(&sidecar)
        .ok()
        .and_then(|b| serde_json::from_slice::<InputSpec>(&b).ok())
        .is_some_and(|s| &s == spec);
    if same && out.is_file() {
        return Ok(out);
    }
    let _ = std::fs::remove_file(&sidecar);
    run_tool(ffmpeg, &generate_args(spec, &out))?;
    let json = serde_json::to_vec_pretty(spec).map_err(|e| e.to_string())?;
    std::fs::write(&sidecar, json).map_err(|e| format!("{}: {e}", sidecar.display()))?;
    Ok(out)
}

/// (a) The floor: one plain ffmpeg encode of the whole file with the
/// pipeline's encoder settings (libx264 CRF/preset, yuv420p; AAC at the
/// profile's bitrate; MP4 with the index up front). `gop: None` leaves the
/// key frames to x264, as a user's plain encode does; `Some(n)` forces a
/// closed GOP of `n` frames ((a'), the pipeline's 2 s grid, from
/// `vpf_media::keyframe_interval`).
pub fn floor_args(src: &Path, out: &Path, profile: &Profile, gop: Option<u32>) -> Vec<OsString> {
    let mut a = quiet_ffmpeg();
    a.extend(args!["-i", src, "-map", "0:v:0", "-map", "0:a:0?"]);
    a.extend(x264(profile));
    if let Some(gop) = gop {
        a.extend(args!["-g", gop.to_string(), "-flags:v", "+cgop"]);
    }
    a.extend(args![
        "-c:a",
        "aac",
        "-b:a",
        format!("{}k", profile.audio_kbps),
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        out
    ]);
    a
}

/// What plain ffprobe says of an output file.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    pub bytes: u64,
    pub video_frames: Option<u64>,
    pub video_seconds: Option<f64>,
    pub audio_seconds: Option<f64>,
    pub video_kbps: Option<f64>,
    /// The video stream's packets, summed (container and audio left out);
    /// filled where bytes are compared.
    pub video_bytes: Option<u64>,
    /// Whole file, audio and container included.
    pub total_kbps: Option<f64>,
}

impl Facts {
    /// Audio minus video duration, in ms: joins that add priming or gaps
    /// make the audio run long.
    pub fn av_delta_ms(&self) -> Option<f64> {
        Some((self.audio_seconds? - self.video_seconds?) * 1000.0)
    }
}

pub fn facts(ffprobe: &Path, path: &Path) -> R<Facts> {
    let out = run_tool(
        ffprobe,
        &args![
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,nb_frames,duration,bit_rate:format=duration,size,bit_rate",
            "-of",
            "json",
            path
        ],
    )?;
    parse_facts(&out.stdout)
}

pub fn parse_facts(json: &[u8]) -> R<Facts> {
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let num = |x: &serde_json::Value| -> Option<f64> {
        x.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| x.as_f64())
    };
    let mut f = Facts {
        bytes: num(&v["format"]["size"]).unwrap_or(0.0) as u64,
        total_kbps: num(&v["format"]["bit_rate"]).map(|b| b / 1000.0),
        ..Facts::default()
    };
    for s in v["streams"].as_array().into_iter().flatten() {
        match s["codec_type"].as_str() {
            Some("video") if f.video_seconds.is_none() => {
                f.video_frames = num(&s["nb_frames"]).map(|n| n as u64);
                f.video_seconds = num(&s["duration"]);
                f.video_kbps = num(&s["bit_rate"]).map(|b| b / 1000.0);
            }
            Some("audio") if f.audio_seconds.is_none() => f.audio_seconds = num(&s["duration"]),
            _ => {}
        }
    }
    Ok(f)
}

/// Quality of an output against the source, frame by frame. VMAF needs an
/// ffmpeg built with libvmaf; Debian's is not, so PSNR and SSIM are always
/// measured and VMAF only when the build has it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quality {
    pub psnr_y: Option<f64>,
    pub psnr_avg: Option<f64>,
    pub ssim: Option<f64>,
    pub vmaf: Option<f64>,
}

/// `scale`: bring the source to this size first (a ladder rung), with the
/// scaler the pipeline uses (`scale=W:H`, bicubic). `output` may be a file
/// or a `concat:` URL.
pub fn quality_args(
    output: &OsStr,
    source: &Path,
    vmaf: bool,
    scale: Option<(u32, u32)>,
) -> Vec<OsString> {
    // Both start at 0 so frames pair up by time; the output is the first
    // input (the "main" stream of psnr/ssim/libvmaf).
    let n = if vmaf { 3 } else { 2 };
    let fit = scale
        .map(|(w, h)| format!("scale={w}:{h},"))
        .unwrap_or_default();
    let mut graph = format!(
        "[0:v]setpts=PTS-STARTPTS,split={n}[o1][o2]{o3};[1:v]{fit}setpts=PTS-STARTPTS,split={n}[s1][s2]{s3};\
         [o1][s1]psnr;[o2][s2]ssim",
        o3 = if vmaf { "[o3]" } else { "" },
        s3 = if vmaf { "[s3]" } else { "" },
    );
    if vmaf {
        graph.push_str(";[o3][s3]libvmaf");
    }
    args![
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "info",
        "-i",
        output,
        "-i",
        source,
        "-filter_complex",
        graph,
        "-an",
        "-f",
        "null",
        "-"
    ]
}

pub fn quality(ffmpeg: &Path, output: &Path, source: &Path, vmaf: bool) -> R<Quality> {
    let out = run_tool(
        ffmpeg,
        &quality_args(output.as_os_str(), source, vmaf, None),
    )?;
    Ok(parse_quality(&String::from_utf8_lossy(&out.stderr)))
}

/// The summary lines psnr, ssim and libvmaf print at the end.
pub fn parse_quality(log: &str) -> Quality {
    let field = |line: &str, key: &str| -> Option<f64> {
        let v = line.split(key).nth(1)?.split_whitespace().next()?;
        match v {
            "inf" => Some(f64::INFINITY),
            v => v.parse().ok(),
        }
    };
    let mut q = Quality::default();
    for l in log.lines() {
        if l.contains("] PSNR ") {
            q.psnr_y = field(l, " y:");
            q.psnr_avg = field(l, " average:");
        } else if l.contains("] SSIM ") {
            q.ssim = field(l, " All:");
        } else if l.contains("VMAF score") {
            q.vmaf = field(l, "VMAF score:").or_else(|| field(l, "VMAF score ="));
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_summary_lines_parse() {
        let log = "frame=  900 fps=...\n\
[Parsed_psnr_4 @ 0x55] PSNR y:38.602612 u:44.040882 v:44.122211 average:39.794146 min:37.43 max:42.27\n\
[Parsed_ssim_5 @ 0x56] SSIM Y:0.962216 (14.226) U:0.98 (17.1) V:0.98 (17.2) All:0.970612 (15.318)\n";
        let q = parse_quality(log);
        assert_eq!(q.psnr_y, Some(38.602612));
        assert_eq!(q.psnr_avg, Some(39.794146));
        assert_eq!(q.ssim, Some(0.970612));
        assert_eq!(q.vmaf, None);
        let q = parse_quality(
            "[libvmaf @ 0x1] VMAF score: 93.1\n[Parsed_psnr_0 @ 0x2] PSNR y:inf average:inf",
        );
        assert_eq!(q.vmaf, Some(93.1));
        assert_eq!(q.psnr_y, Some(f64::INFINITY));
    }

    #[test]
    fn facts_from_ffprobe_json() {
        let j = br#"{"streams":[{"codec_type":"video","nb_frames":"900","duration":"30.000000","bit_rate":"7000000"},
            {"codec_type":"audio","nb_frames":"1407","duration":"30.016000","bit_rate":"128000"}],
            "format":{"duration":"30.016","size":"27725532","bit_rate":"7389000"}}"#;
        let f = parse_facts(j).unwrap();
        assert_eq!(f.video_frames, Some(900));
        assert_eq!(f.bytes, 27725532);
        assert_eq!(f.video_kbps, Some(7000.0));
        assert!((f.av_delta_ms().unwrap() - 16.0).abs() < 1e-6);
    }

    #[test]
    fn floor_uses_the_profile_and_the_encoders_gop() {
        let p = Profile::default();
        let strings = |gop| -> Vec<String> {
            floor_args(Path::new("s.mp4"), Path::new("o.mp4"), &p, gop)
                .iter()
                .map(|x| x.to_string_lossy().into_owned())
                .collect()
        };
        let a = strings(None);
        let after = |a: &[String], k: &str| a[a.iter().position(|x| x == k).unwrap() + 1].clone();
        assert_eq!(after(&a, "-crf"), p.crf.to_string());
        assert_eq!(after(&a, "-preset"), p.preset);
        assert_eq!(after(&a, "-pix_fmt"), "yuv420p");
        assert_eq!(after(&a, "-b:a"), format!("{}k", p.audio_kbps));
        assert!(!a.iter().any(|x| x == "-g" || x == "+cgop"));
        let forced = strings(Some(60));
        assert_eq!(after(&forced, "-g"), "60");
        assert_eq!(after(&forced, "-flags:v"), "+cgop");
        assert_eq!(forced.last().map(String::as_str), Some("o.mp4"));
    }
}
