//! Encoding one piece: H.264 (libx264), every frame kept with its timestamp.
//!
//! - Frames: `-fps_mode passthrough` passes each decoded frame with its own
//!   timestamp, so no frame is duplicated or dropped and a variable frame
//!   rate stays variable. For a constant-rate source the encoder's time base
//!   is one frame (`-enc_time_base 1001/30000`), which also puts timestamps
//!   that Matroska rounded to the millisecond back on the exact grid.
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
//! - Joins: each piece starts with an IDR frame and uses closed GOPs, one key
//!   frame every two seconds (so HLS can cut segments), all pieces with the
//!   same settings, so the concat demuxer joins them by stream copy.

use std::ffi::OsString;
use std::path::Path;

use ffmpeg_sidecar::command::FfmpegCommand;
use vpf_core::job::{JobPlan, Piece, Profile, VideoInfo};
use vpf_core::{Error, ErrorKind, Result};

use crate::Tools;
use crate::probe::count_video_packets;
use crate::run::{Stdout, run};
use crate::temp::Temp;

/// Seconds between key frames in the encoded video.
pub const KEYFRAME_SECONDS: f64 = 2.0;

/// The size of the encoded picture: upright, never larger than the source,
/// at most `max_height` tall, both sides even.
pub fn output_size(video: &VideoInfo, max_height: Option<u32>) -> (u32, u32) {
    let (w, h) = if video.rotation % 180 != 0 {
        (video.height, video.width)
    } else {
        (video.width, video.height)
    };
    match max_height {
        Some(max) if h > max => {
            let th = (max & !1).max(2);
            let tw = ((w as f64 * th as f64 / h as f64 / 2.0).round() as u32 * 2).max(2);
            (tw, th)
        }
        _ => ((w & !1).max(2), (h & !1).max(2)),
    }
}

/// The video filter chain for one piece.
pub fn video_filter(video: &VideoInfo, profile: &Profile, piece: &Piece) -> String {
    let mut f: Vec<String> = Vec::new();
    if piece.drop_head > 0 || piece.drop_tail > 0 {
        // Frames the source's edit list hides: decoded as references, not shown.
        f.push(format!(
            "trim=start_frame={}:end_frame={}",
            piece.drop_head,
            piece.drop_head + piece.frames
        ));
    }
    if video.interlaced() {
        // Frame-rate output (send_frame): the frame count stays the source's.
        f.push("bwdif=mode=send_frame:parity=auto:deint=all".into());
    }
    match video.rotation {
        90 => f.push("transpose=clock".into()),
        180 => f.push("hflip,vflip".into()),
        270 => f.push("transpose=cclock".into()),
        _ => {}
    }
    let (rw, rh) = if video.rotation % 180 != 0 {
        (video.height, video.width)
    } else {
        (video.width, video.height)
    };
    let (w, h) = output_size(video, profile.max_height);
    if h < rh {
        f.push(format!("scale={w}:{h}"));
    } else if (w, h) != (rw, rh) {
        f.push(format!("crop={w}:{h}:0:0"));
    }
    if f.is_empty() {
        f.push("null".into());
    }
    f.join(",")
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

/// The ffmpeg arguments that encode `input` (one piece) into `output` with
/// container `muxer`. Built with ffmpeg-sidecar's command builder.
pub fn transcode_args(
    tools: &Tools,
    input: &Path,
    output: &Path,
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
    let fps = video.frame_rate_num.max(1) as f64 / video.frame_rate_den.max(1) as f64;
    let gop = ((fps * KEYFRAME_SECONDS).round() as u32).clamp(1, 600);

    let mut cmd = FfmpegCommand::new_with_path(&tools.ffmpeg);
    cmd.hide_banner()
        .args(["-nostdin", "-stats"])
        .overwrite()
        .arg("-noautorotate")
        .input(input)
        .map("0:V:0")
        .no_audio()
        .args(["-sn", "-dn"])
        .args(["-filter:v".to_string(), video_filter(video, profile, piece)])
        .codec_video("libx264")
        .crf(profile.crf as u32)
        .preset(&profile.preset)
        .pix_fmt("yuv420p")
        .fps_mode("passthrough")
        .args(["-enc_time_base:v".to_string(), encoder_time_base(video)])
        .args(["-g".to_string(), gop.to_string()])
        .args(["-flags:v", "+cgop"])
        .args(["-metadata:s:v:0", "rotate=0"])
        .format(muxer)
        .output(output);
    Ok(cmd.get_args().map(OsString::from).collect())
}

/// Encode piece `index` of `plan` from `input` to `output` (its container is
/// picked from the extension, see `piece_muxer`). The file appears only
/// when complete and holding exactly the piece's frames; a failed encode
/// leaves nothing behind. Returns the frame count.
pub async fn transcode_piece(
    tools: &Tools,
    input: &Path,
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
    let tmp = Temp::beside(output);
    let a = transcode_args(tools, input, tmp.path(), muxer, plan, piece)?;
    let out = run(&tools.ffmpeg, &a, Stdout::Ignore)
        .await?
        .check(ErrorKind::EncodeFailed, &format!("encoding piece {index}"))?;
    let frames = count_video_packets(tools, tmp.path()).await?;
    if frames != piece.frames {
        let progress = out.log.progress.as_ref().map(|p| p.frame).unwrap_or(0);
        return Err(Error::new(
            ErrorKind::VerifyFailed,
            format!(
                "piece {index} encoded to {frames} frames (ffmpeg reported {progress}), the source piece has {}",
                piece.frames
            ),
        ));
    }
    tmp.commit(output)?;
    Ok(frames)
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
    fn time_base_is_one_frame_only_for_constant_rates() {
        let mut v = video(640, 360, 0);
        assert_eq!(encoder_time_base(&v), "1001/30000");
        v.constant_frame_rate = false;
        assert_eq!(encoder_time_base(&v), "-1");
    }

    #[test]
    fn muxer_follows_the_extension() {
        assert_eq!(piece_muxer(Path::new("/e/00001.nut")).unwrap(), "nut");
        assert_eq!(piece_muxer(Path::new("/e/00001.MKV")).unwrap(), "matroska");
        assert!(piece_muxer(Path::new("/e/00001")).is_err());
    }
}
