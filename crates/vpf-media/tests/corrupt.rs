//! Bad input ends in a clean `CorruptMedia` with a reason, and the media
//! engine leaves nothing behind; failed encodes leave no partial file.

mod common;

use std::path::Path;

use common::*;
use vpf_core::ErrorKind;
use vpf_core::job::{Format, JobPlan, Profile};
use vpf_core::nas::JobDir;
use vpf_media::testmedia::{Clip, random_bytes, truncated_copy, zero_bytes};

/// Probe `file` as split would, from inside a job folder; return the error
/// and check that nothing but the source is in the folder afterwards.
async fn probe_in_job(file: &Path) -> vpf_core::Error {
    let t = tools();
    let root = tempfile::tempdir().unwrap();
    let jobdir = JobDir::new(root.path(), "bad-1").unwrap();
    jobdir.create().unwrap();
    let src = jobdir.source("in/upload.mp4");
    std::fs::copy(file, &src).unwrap();
    let err = vpf_media::probe(&t, &src).await.unwrap_err();
    let files: Vec<_> = walk(jobdir.path())
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(files, vec![src], "the media engine wrote something");
    err
}

#[tokio::test]
async fn unreadable_uploads_are_corrupt_media() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);

    zero_bytes(&p("zero.mp4")).unwrap();
    random_bytes(&p("random.mp4"), 300_000).unwrap();
    Clip::new(320, 240)
        .seconds(3.0)
        .write(&t, &p("plain.mp4"))
        .await
        .unwrap();
    truncated_copy(&p("plain.mp4"), &p("no-moov.mp4"), 0.5).unwrap();
    Clip::new(320, 240)
        .seconds(3.0)
        .faststart()
        .write(&t, &p("fast.mp4"))
        .await
        .unwrap();
    truncated_copy(&p("fast.mp4"), &p("cut-mdat.mp4"), 0.5).unwrap();
    // Subtitles alone: neither a picture nor sound (a file of sound alone
    // is an audio job: tests/audio.rs).
    std::fs::write(p("subs.srt"), "1\n00:00:00,000 --> 00:00:01,000\nhello\n").unwrap();
    common::ffmpeg(&[
        "-v",
        "error",
        "-i",
        p("subs.srt").to_str().unwrap(),
        p("subs-only.mkv").to_str().unwrap(),
    ]);

    let cases = [
        ("zero.mp4", "empty"),
        ("random.mp4", "not a readable media file"),
        ("no-moov.mp4", "moov atom not found"),
        ("cut-mdat.mp4", "truncated"),
        ("subs-only.mkv", "no video or audio stream"),
    ];
    for (name, why) in cases {
        let e = probe_in_job(&p(name)).await;
        eprintln!("{name}: {e}");
        assert_eq!(e.kind, ErrorKind::CorruptMedia, "{name}: {e}");
        assert!(e.message.contains(why), "{name}: {e}");
        assert!(!e.kind.is_transient());
    }
}

#[tokio::test]
async fn a_failed_encode_leaves_no_file() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.mp4");
    Clip::new(320, 240)
        .seconds(2.0)
        .no_audio()
        .write(&t, &src)
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let jobdir = JobDir::new(root.path(), "job-2").unwrap();
    jobdir.create().unwrap();
    let probed = vpf_media::probe_source(&t, &src).await.unwrap();
    let (pieces, cutting) = vpf_media::split_video(&t, &src, &probed, 10.0, &jobdir)
        .await
        .unwrap();
    let info = probed.info;
    let plan = JobPlan {
        request: request(&[Format::Mp4], 10.0, Profile::default()),
        source_file: "source.mp4".into(),
        info,
        piece_seconds: 10.0,
        pieces,
        cutting,
        has_audio: false,
        audio_tracks: vec![],
        subtitle_tracks: vec![],
        renditions: vec![],
        watermark_image: None,
    };
    // The piece is damaged after split: ffmpeg fails, nothing appears.
    random_bytes(&jobdir.piece(0), 50_000).unwrap();
    let e = vpf_media::transcode_piece(&t, &jobdir.piece(0), None, &jobdir.encoded(0), &plan, 0)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::EncodeFailed, "{e}");
    assert!(e.message.contains("encoding piece 0"), "{e}");
    assert_eq!(std::fs::read_dir(jobdir.encoded_dir()).unwrap().count(), 0);
    // A piece number the plan does not have is refused before any work.
    let e = vpf_media::transcode_piece(&t, &jobdir.piece(0), None, &jobdir.encoded(7), &plan, 7)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    // Merge without the encoded pieces refuses clearly, writing nothing.
    let e = vpf_media::merge(&t, &plan, &jobdir).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput, "{e}");
    assert_eq!(std::fs::read_dir(jobdir.out_dir()).unwrap().count(), 0);
    assert_no_temp(jobdir.path());
}

#[tokio::test]
async fn tools_report_their_version() {
    let v = tools().version().await.unwrap();
    assert!(
        v.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == 'N'),
        "{v}"
    );
}

/// An intact AVI whose header counts one frame more than it holds (ffmpeg's
/// own AVI muxer writes such files) is not taken for a truncated one: only
/// MP4/MOV sample tables count frames exactly.
#[tokio::test]
async fn an_avi_header_that_counts_an_empty_chunk_is_not_truncation() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let avi = dir.path().join("camera.avi");
    let avi_s = avi.to_string_lossy().into_owned();
    ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=48000",
        "-t",
        "2",
        "-c:v",
        "mpeg4",
        "-q:v",
        "5",
        "-c:a",
        "libmp3lame",
        "-shortest",
        &avi_s,
    ]);
    let declared = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_frames",
            "-of",
            "csv=p=0",
        ],
        &avi,
    );
    let p = vpf_media::probe(&t, &avi)
        .await
        .expect("an intact AVI probes");
    let v = p.video.expect("video");
    assert_eq!(v.frames, decoded_frames(&avi));
    // The premise: the header declares more than can be read.
    assert!(
        declared.trim().parse::<u64>().unwrap() > v.frames,
        "{declared}"
    );
}
