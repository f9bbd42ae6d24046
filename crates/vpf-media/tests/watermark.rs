//! The watermark through the media path (probe, split, transcode with the
//! mark, merge, package): a solid magenta mark on a grey video, found by
//! its pixels in decoded output frames, at the corner and size its
//! placement says and nowhere else.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use vpf_core::ErrorKind;
use vpf_core::job::{Format, Profile};
use vpf_core::watermark::{Corner, Margin, Placement, Watermark};
use vpf_media::Tools;
use vpf_media::testmedia::{Clip, RgbFrame, solid_image};

/// A grey clip, `w`x`h`, shown turned by `rotation` degrees clockwise (a
/// display matrix, as phones write).
async fn grey_clip(
    t: &Tools,
    dir: &Path,
    name: &str,
    (w, h): (u32, u32),
    rotation: i32,
) -> PathBuf {
    let path = dir.join(format!("{name}.mp4"));
    Clip::new(w, h)
        .grey()
        .seconds(2.0)
        .rotation(rotation)
        .write(t, &path)
        .await
        .unwrap();
    path
}

const GREY: [u8; 3] = [128, 128, 128];

/// A solid magenta PNG, `w`x`h`.
async fn magenta_png(t: &Tools, dir: &Path, size: (u32, u32)) -> PathBuf {
    let path = dir.join("mark.png");
    solid_image(t, &path, "0xff00ff", size).await.unwrap();
    path
}

/// Assert the frame of `path` at `seconds` carries the mark at `want`.
async fn assert_mark(
    t: &Tools,
    path: &Path,
    seconds: f64,
    want: Placement,
    what: &str,
) -> RgbFrame {
    let f = RgbFrame::decode(t, path, seconds).await.unwrap();
    if let Err(e) = f.check_mark(want, GREY) {
        panic!("{what}: {e}");
    }
    f
}

fn marked_profile(corner: Corner, scale: f64, margin: Margin) -> Profile {
    Profile {
        watermark: Some(Watermark {
            key: "marks/logo.png".into(),
            corner,
            scale,
            margin,
        }),
        ..Profile::default()
    }
}

#[tokio::test]
async fn the_mark_sits_in_each_corner_at_its_size() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = grey_clip(&t, dir.path(), "grey", (640, 360), 0).await;
    let mark = magenta_png(&t, dir.path(), (64, 32)).await;
    for corner in Corner::ALL {
        let profile = marked_profile(corner, 0.25, Margin::Fraction(0.05));
        let w = profile.watermark.clone().unwrap();
        let job = pipeline_marked(&t, &src, Some(&mark), &[Format::Mp4], 1.0, profile)
            .await
            .unwrap();
        let img = job.plan.watermark_image.clone().unwrap();
        assert_eq!((img.codec.as_str(), img.width, img.height), ("png", 64, 32));
        let want = w.placement((640, 360), 640, &img);
        // 160x80 at a 32-pixel margin.
        assert_eq!((want.width, want.height), (160, 80));
        let mp4 = job.main(Format::Mp4);
        // Every piece carries it: the first frame, and one in the second piece.
        for at in [0.0, 1.5] {
            assert_mark(&t, &mp4, at, want, &format!("{corner} at {at} s")).await;
        }
        assert_merged(&mp4, &src, true);
    }
}

#[tokio::test]
async fn a_portrait_phone_clip_is_marked_upright() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    // Coded 640x360, shown turned a quarter clockwise: 360x640 upright.
    let src = grey_clip(&t, dir.path(), "phone", (640, 360), 90).await;
    let mark = magenta_png(&t, dir.path(), (40, 40)).await;
    let profile = marked_profile(Corner::TopRight, 0.2, Margin::Pixels(10));
    let w = profile.watermark.clone().unwrap();
    let job = pipeline_marked(
        &t,
        &src,
        Some(&mark),
        &[Format::Mp4, Format::Jpg, Format::Abr],
        1.0,
        profile,
    )
    .await
    .unwrap();
    let img = job.plan.watermark_image.clone().unwrap();
    let want = w.placement((360, 640), 360, &img);
    assert_eq!(
        want,
        Placement {
            x: 278,
            y: 10,
            width: 72,
            height: 72
        }
    );
    let mp4 = job.main(Format::Mp4);
    let f = assert_mark(&t, &mp4, 0.5, want, "portrait mp4").await;
    assert_eq!((f.width, f.height), (360, 640));
    // The thumbnail comes from the same encode.
    assert_mark(&t, &job.main(Format::Jpg), 0.0, want, "portrait jpg").await;
    // Every rung of the ladder, each at its own size.
    let abr = job.output(Format::Abr);
    assert!(!job.plan.renditions.is_empty());
    for r in &job.plan.renditions {
        let segment = abr
            .files
            .iter()
            .find(|f| f.rel.starts_with(&format!("abr/{}/", r.name)) && f.rel.ends_with(".m4s"))
            .unwrap_or_else(|| panic!("no segment of {}", r.name));
        // A segment plays after its init section.
        let joined = dir.path().join(format!("{}.mp4", r.name));
        let mut bytes = std::fs::read(segment.path.with_file_name("init.mp4")).unwrap();
        bytes.extend(std::fs::read(&segment.path).unwrap());
        std::fs::write(&joined, bytes).unwrap();
        let want = w.placement((r.width, r.height), job.plan.renditions[0].width, &img);
        let f = assert_mark(&t, &joined, 0.0, want, &r.name).await;
        assert_eq!((f.width, f.height), (r.width, r.height), "{}", r.name);
    }
}

#[tokio::test]
async fn variable_frame_rate_keeps_every_timestamp_under_the_mark() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    // Frames dropped and moved off the 25 fps grid.
    let cfr = grey_clip(&t, dir.path(), "cfr", (320, 240), 0).await;
    let src = dir.path().join("vfr.mp4");
    reencode_timed(&cfr, &format!("{VFR_DROP}{VFR_JITTER}"), &src);
    let mark = magenta_png(&t, dir.path(), (16, 16)).await;
    let plain = pipeline(&t, &src, &[Format::Mp4], 1.0, Profile::default())
        .await
        .unwrap();
    let profile = marked_profile(Corner::BottomLeft, 0.1, Margin::Fraction(0.0));
    let marked = pipeline_marked(&t, &src, Some(&mark), &[Format::Mp4], 1.0, profile)
        .await
        .unwrap();
    assert!(!marked.plan.info.video.as_ref().unwrap().constant_frame_rate);
    let times = |p: &Path| -> Vec<f64> {
        let mut v: Vec<f64> = packets(p, "v").iter().map(|p| p.pts).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (a, b) = (
        times(&plain.main(Format::Mp4)),
        times(&marked.main(Format::Mp4)),
    );
    assert_eq!(a, b, "the mark moved frames in time");
    let want = Placement {
        x: 0,
        y: 208,
        width: 32,
        height: 32,
    };
    assert_mark(&t, &marked.main(Format::Mp4), 1.0, want, "vfr").await;
}

#[tokio::test]
async fn a_file_that_is_not_an_image_is_refused_by_name() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("logo.png");
    std::fs::write(&text, "not a picture at all").unwrap();
    let e = vpf_media::probe_mark(&t, &text, "oss://b/logo.png")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput, "{e}");
    assert!(e.message.contains("watermark oss://b/logo.png"), "{e}");
    // A video is no mark either.
    let video = grey_clip(&t, dir.path(), "v", (64, 64), 0).await;
    let e = vpf_media::probe_mark(&t, &video, "oss://b/v.mp4")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput, "{e}");
    assert!(e.message.contains("not a PNG or JPEG"), "{e}");
    // A JPEG is.
    let jpg = dir.path().join("logo.jpg");
    solid_image(&t, &jpg, "red", (30, 20)).await.unwrap();
    let img = vpf_media::probe_mark(&t, &jpg, "j").await.unwrap();
    assert_eq!(
        (img.codec.as_str(), img.width, img.height),
        ("mjpeg", 30, 20)
    );
}
