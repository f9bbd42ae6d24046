//! What phones, cameras and screen recorders really upload: HDR (HLG and
//! PQ, 10-bit HEVC, rotated), and long-GOP video with a single key frame.
//! Each source is made with ffmpeg here and run through the handlers' steps;
//! every check is an independent ffprobe or ffmpeg measurement.

mod common;

use std::path::Path;

use common::*;
use vpf_core::job::{Cutting, Format, Hdr, Profile};
use vpf_media::testmedia::{Clip, idet};

/// Average luma PSNR (dB) of `a` against `b`, frame by frame.
fn luma_psnr(a: &Path, b: &Path) -> f64 {
    psnr(a, b, None).y
}

/// An SDR BT.709 reference picture (lossless), and the same picture as an
/// HDR source: converted to linear light and out again as `hdr` with BT.2020
/// primaries, 10-bit HEVC, tagged as a phone or camera tags it; turned
/// `rotation` degrees clockwise for players by a display matrix, as a phone
/// held upright records. SDR white sits where our tone map expects it
/// (PQ: 203 nits, BT.2408's reference white; HLG: zimg's nominal 100).
fn hdr_source(dir: &Path, hdr: Hdr, rotation: i32) -> (std::path::PathBuf, std::path::PathBuf) {
    let reference = dir.join("sdr.mkv");
    ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25:duration=2",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        "-color_primaries",
        "bt709",
        "-color_trc",
        "bt709",
        "-colorspace",
        "bt709",
        reference.to_str().unwrap(),
    ]);
    let (trc, npl) = match hdr {
        Hdr::Pq => ("smpte2084", 203),
        Hdr::Hlg => ("arib-std-b67", 100),
    };
    let plain = dir.join("hdr-plain.mov");
    ffmpeg(&[
        "-v",
        "error",
        "-i",
        reference.to_str().unwrap(),
        "-vf",
        &format!(
            "zscale=t=linear:tin=bt709:pin=bt709:min=bt709,format=gbrpf32le,\
             zscale=p=bt2020:t={trc}:m=bt2020nc:r=tv:npl={npl},format=yuv420p10le"
        ),
        "-c:v",
        "libx265",
        "-x265-params",
        "crf=12:log-level=error",
        "-tag:v",
        "hvc1",
        "-color_primaries",
        "bt2020",
        "-color_trc",
        trc,
        "-colorspace",
        "bt2020nc",
        plain.to_str().unwrap(),
    ]);
    let src = dir.join("hdr.mov");
    // ffmpeg 5.1 writes a `rotate` tag (counter-clockwise) as the display matrix.
    ffmpeg(&[
        "-v",
        "error",
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        &format!("rotate={}", (360 - rotation) % 360),
        src.to_str().unwrap(),
    ]);
    (reference, src)
}

/// Phone HDR (HLG, portrait) and camera HDR (PQ): H.264 8-bit 4:2:0 at
/// High profile or lower, tagged BT.709, upright, and close to the SDR
/// picture the HDR source was made from; an encode that keeps the HDR
/// signal (what we did before) is far from it.
#[tokio::test]
async fn hdr_sources_are_tone_mapped_to_sdr_bt709() {
    let t = tools();
    for (hdr, rotation) in [(Hdr::Hlg, 90), (Hdr::Pq, 0)] {
        let dir = tempfile::tempdir().unwrap();
        let (reference, src) = hdr_source(dir.path(), hdr, rotation);
        let job = pipeline(&t, &src, &[Format::Mp4], 1.0, Profile::default())
            .await
            .expect("an HDR source is processed");
        let video = job.plan.info.video.as_ref().unwrap();
        assert_eq!(video.colour.hdr(), Some(hdr));
        assert_eq!(video.rotation, rotation);
        assert!(
            video
                .conversions()
                .iter()
                .any(|c| c.contains("tone-mapped")),
            "{:?}",
            video.conversions()
        );

        let mp4 = job.main(Format::Mp4);
        assert_merged(&mp4, &src, false);
        let j = json(&mp4);
        let v = stream(&j, "video").unwrap();
        assert_eq!(v["codec_name"], "h264");
        assert_eq!(v["pix_fmt"], "yuv420p", "{hdr:?}");
        let profile = v["profile"].as_str().unwrap();
        assert!(
            ["Constrained Baseline", "Baseline", "Main", "High"].contains(&profile),
            "{hdr:?}: profile {profile}"
        );
        for key in ["color_primaries", "color_transfer", "color_space"] {
            assert_eq!(v[key], "bt709", "{hdr:?}: {key} in {v}");
        }
        let upright = if rotation == 90 {
            (360, 640)
        } else {
            (640, 360)
        };
        assert_eq!(
            (v["width"].as_i64().unwrap(), v["height"].as_i64().unwrap()),
            upright
        );

        // The SDR reference as a player shows it after the rotation.
        let shown = dir.path().join("shown.mkv");
        ffmpeg(&[
            "-v",
            "error",
            "-i",
            reference.to_str().unwrap(),
            "-vf",
            if rotation == 90 {
                "transpose=clock"
            } else {
                "null"
            },
            "-c:v",
            "libx264",
            "-qp",
            "0",
            shown.to_str().unwrap(),
        ]);
        let mapped = luma_psnr(&mp4, &shown);
        assert!(
            mapped > 30.0,
            "{hdr:?}: tone-mapped luma PSNR {mapped:.1} dB against the SDR picture"
        );
        // Without tone mapping: the HDR signal squeezed into 8 bits.
        let untouched = dir.path().join("untouched.mkv");
        ffmpeg(&[
            "-v",
            "error",
            "-i",
            src.to_str().unwrap(),
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-qp",
            "0",
            untouched.to_str().unwrap(),
        ]);
        let raw = luma_psnr(&untouched, &shown);
        eprintln!(
            "{hdr:?}: luma PSNR against the SDR picture: tone-mapped {mapped:.1} dB, untouched {raw:.1} dB"
        );
        assert!(
            raw < mapped - 8.0,
            "{hdr:?}: the test must tell tone mapping apart ({raw:.1} vs {mapped:.1} dB)"
        );
    }
}

/// A screen recording with a single key frame in 60 s: cut at any frame
/// into pieces of the requested length, each piece file holding only its
/// own frames (so its transcode's work is bounded by the piece), every
/// frame kept in order.
#[tokio::test]
async fn one_key_frame_in_a_minute_still_makes_pieces_of_the_requested_length() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("screen.mp4");
    Clip::new(320, 240)
        .seconds(60.0)
        .gop(100_000)
        .bframes(2)
        .write(&t, &src)
        .await
        .unwrap();
    let keys = packets(&src, "v").len();
    let key_frames = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=flags",
            "-of",
            "csv=p=0",
        ],
        &src,
    )
    .lines()
    .filter(|l| l.contains('K'))
    .count();
    assert_eq!(
        key_frames, 1,
        "the source must have one key frame in {keys} frames"
    );

    let job = pipeline(
        &t,
        &src,
        &[Format::Mp4, Format::Hls],
        10.0,
        Profile::default(),
    )
    .await
    .expect("a one-key-frame source is processed");
    assert_eq!(job.plan.cutting, Cutting::AnyFrame);
    let pieces = &job.plan.pieces;
    assert_eq!(pieces.len(), 6, "{pieces:?}");
    let fps = 25.0;
    for p in pieces {
        assert!(
            (p.duration_seconds - 10.0).abs() <= 1.0 / fps + 1e-6,
            "piece {} lasts {} s",
            p.index,
            p.duration_seconds
        );
        assert_eq!(p.frames, 250, "piece {}", p.index);
    }
    assert!(
        job.plan
            .conversions()
            .iter()
            .any(|c| c.contains("any frame")),
        "{:?}",
        job.plan.conversions()
    );
    let mp4 = job.main(Format::Mp4);
    assert_merged(&mp4, &src, true);
    // Every frame where it belongs: a shift of one frame in any piece
    // would drop the PSNR of this moving picture far below an encode's.
    let psnr = luma_psnr(&mp4, &src);
    assert!(psnr > 35.0, "luma PSNR {psnr:.1} dB against the source");
}

/// A capture whose H.264 says progressive while its pictures are woven
/// fields (a re-encode that ignored the interlace): idet finds it, and the
/// output is deinterlaced all the same.
#[tokio::test]
async fn interlaced_pictures_flagged_progressive_are_measured_and_deinterlaced() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("capture.ts");
    ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=720x576:rate=50:duration=2",
        "-vf",
        "tinterlace=mode=interleave_top",
        "-c:v",
        "libx264",
        "-crf",
        "12",
        "-f",
        "mpegts",
        src.to_str().unwrap(),
    ]);
    let flagged = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=field_order",
            "-of",
            "csv=p=0",
        ],
        &src,
    );
    // (MPEG-TS lists the stream under its program too: every line says so.)
    assert!(
        flagged
            .lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.trim().trim_end_matches(',') == "progressive"),
        "{flagged}"
    );
    assert!(
        idet(&t, &src).await.unwrap().0 > 40,
        "the source's pictures must be combed"
    );

    let job = pipeline(&t, &src, &[Format::Mp4], 10.0, Profile::default())
        .await
        .expect("processed");
    let video = job.plan.info.video.as_ref().unwrap();
    assert_eq!(video.field_order.as_deref(), Some("tt"));
    assert!(video.field_order_measured);
    assert!(
        video.conversions().iter().any(|c| c.contains("idet")),
        "{:?}",
        video.conversions()
    );
    let mp4 = job.main(Format::Mp4);
    assert_merged(&mp4, &src, false);
    let (combed, progressive) = idet(&t, &mp4).await.unwrap();
    assert!(
        combed * 20 < progressive,
        "still interlaced: {combed} of {}",
        combed + progressive
    );

    // A progressive clip in the same container is left alone.
    let clean = dir.path().join("clean.ts");
    ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=720x576:rate=25:duration=2",
        "-c:v",
        "libx264",
        "-f",
        "mpegts",
        clean.to_str().unwrap(),
    ]);
    let info = vpf_media::probe(&t, &clean).await.unwrap();
    let v = info.video.unwrap();
    assert!(!v.interlaced() && !v.field_order_measured, "{v:?}");
}
