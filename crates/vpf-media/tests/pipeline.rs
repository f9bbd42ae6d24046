//! The whole media path on real ffmpeg: probe -> split -> transcode each
//! piece -> merge -> package -> verify, on clips made at run time.

mod common;

use std::path::Path;

use common::*;
use vpf_core::job::{Cutting, Format, Profile};
use vpf_media::testmedia::{Clip, Tone, TrackClip, idet, trim_with_edit_list};

fn clip_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn bframes_with_aac_48k_stereo_all_formats() {
    let t = tools();
    let dir = clip_dir();
    let src = dir.path().join("in.mp4");
    Clip::new(640, 360)
        .fps(30, 1)
        .seconds(6.0)
        .bframes(3)
        .write(&t, &src)
        .await
        .unwrap();
    let j = json(&src);
    assert!(
        stream(&j, "video").unwrap()["has_b_frames"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert_eq!(stream(&j, "audio").unwrap()["sample_rate"], "48000");

    let job = pipeline(&t, &src, &Format::ALL, 2.0, Profile::default())
        .await
        .unwrap();

    // Pieces: in order, at the source's key frames, every frame accounted for.
    let pieces = &job.plan.pieces;
    assert_eq!(pieces.len(), 3);
    let keys: Vec<f64> = packets(&src, "v")
        .iter()
        .filter(|p| !p.discard)
        .map(|p| p.pts)
        .collect();
    for (i, p) in pieces.iter().enumerate() {
        assert_eq!(p.index as usize, i);
        assert!(
            keys.iter().any(|k| (k - p.start_seconds).abs() < 1e-6),
            "piece {i} starts off a frame"
        );
        let file = job.jobdir.piece(p.index);
        assert_eq!(stream(&json(&file), "audio"), None, "pieces are video-only");
        assert_eq!(decoded_frames(&file), p.frames);
    }
    assert_eq!(
        pieces.iter().map(|p| p.frames).sum::<u64>(),
        decoded_frames(&src)
    );

    // The merged MP4, by the checks of `vpf_media::verify`.
    let mp4 = job.main(Format::Mp4);
    assert!(mp4.ends_with("out/clip.mp4"));
    assert_merged(&mp4, &src, true);
    // faststart: the index comes before the media data.
    let head = std::fs::read(&mp4).unwrap();
    let pos = |tag: &[u8]| head.windows(4).position(|w| w == tag).unwrap();
    assert!(pos(b"moov") < pos(b"mdat"));

    // flv and avi: the same frames, H.264 + AAC, decodable.
    for f in [Format::Flv, Format::Avi] {
        let path = job.main(f);
        let j = json(&path);
        assert_eq!(stream(&j, "video").unwrap()["codec_name"], "h264", "{f}");
        assert_eq!(stream(&j, "audio").unwrap()["codec_name"], "aac", "{f}");
        assert_eq!(decoded_frames(&path), 180, "{f}");
    }

    // HLS: a VOD playlist, every segment there, decodes end to end.
    let hls = job.output(Format::Hls);
    let playlist = job.main(Format::Hls);
    assert_eq!(hls.main().unwrap().rel, "hls/index.m3u8");
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(text.contains("#EXT-X-ENDLIST") && text.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
    let segs: Vec<&str> = text.lines().filter(|l| l.ends_with(".ts")).collect();
    assert_eq!(segs.len() + 1, hls.files.len());
    for (s, f) in segs.iter().zip(&hls.files) {
        assert_eq!(f.rel, format!("hls/{s}"));
        assert!(f.path.is_file() && f.bytes > 0);
    }
    assert_eq!(segs[0], "index00000.ts");
    let total: f64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| v.trim_end_matches(',').parse::<f64>().unwrap())
        .sum();
    assert!(
        (total - 6.0).abs() <= 1.0 / 30.0 + 1e-3,
        "HLS lasts {total}"
    );
    let err = ffmpeg(&[
        "-v",
        "error",
        "-i",
        playlist.to_str().unwrap(),
        "-map",
        "0",
        "-f",
        "null",
        "-",
    ]);
    assert!(err.trim().is_empty(), "HLS decode errors: {err}");
    assert_eq!(decoded_frames(&playlist), 180);

    // GIF preview: a small animation of the first seconds.
    let gif = job.main(Format::Gif);
    let gj = json(&gif);
    let gv = stream(&gj, "video").unwrap();
    assert_eq!(gv["codec_name"], "gif");
    assert_eq!(gv["width"], 320);
    let gif_frames = decoded_frames(&gif);
    assert!(
        (28..=31).contains(&gif_frames),
        "{gif_frames} GIF frames for 3 s at 10 fps"
    );

    // JPEG thumbnail: one full-size frame.
    let jpg = job.main(Format::Jpg);
    let jv = json(&jpg);
    assert_eq!(stream(&jv, "video").unwrap()["codec_name"], "mjpeg");
    assert_eq!(stream(&jv, "video").unwrap()["width"], 640);

    // Names and metadata for the upload, in the requested order.
    let rels: Vec<String> = job
        .outputs
        .iter()
        .map(|p| p.main().unwrap().rel.clone())
        .collect();
    assert_eq!(
        rels,
        [
            "clip.mp4",
            "clip.flv",
            "hls/index.m3u8",
            "clip.avi",
            "clip.gif",
            "clip.jpg",
            "sprite/thumbnails.vtt",
            "abr/master.m3u8",
            "clip.m4a",
            "clip.mp3"
        ]
    );
    let m = job.output(Format::Mp4);
    assert!((m.duration_seconds.unwrap() - 6.0).abs() < 0.05);
    assert!(m.bitrate_kbps.unwrap() > 10.0);
    assert_eq!(m.main().unwrap().content_type, "video/mp4");
    assert_no_temp(job.jobdir.path());
    assert!(!job.jobdir.path().join("merged.mp4").exists());
}

#[tokio::test]
async fn clip_without_audio() {
    let t = tools();
    let dir = clip_dir();
    let src = dir.path().join("in.mp4");
    Clip::new(320, 240)
        .seconds(4.0)
        .no_audio()
        .write(&t, &src)
        .await
        .unwrap();
    let job = pipeline(
        &t,
        &src,
        &[Format::Mp4, Format::Hls],
        1.5,
        Profile::default(),
    )
    .await
    .unwrap();
    assert!(!job.plan.has_audio);
    assert!(!job.jobdir.audio().exists());
    assert_merged(&job.main(Format::Mp4), &src, false);
    assert_eq!(decoded_frames(&job.main(Format::Hls)), 100);
    assert_no_temp(job.jobdir.path());
}

#[tokio::test]
async fn ntsc_29_97_keeps_exact_frame_durations() {
    let t = tools();
    let dir = clip_dir();
    let src = dir.path().join("in.mp4");
    Clip::new(320, 240)
        .fps(30000, 1001)
        .seconds(5.0)
        .write(&t, &src)
        .await
        .unwrap();
    let job = pipeline(
        &t,
        &src,
        &[Format::Mp4, Format::Hls],
        2.0,
        Profile::default(),
    )
    .await
    .unwrap();
    let v = job.plan.info.video.as_ref().unwrap();
    assert_eq!((v.frame_rate_num, v.frame_rate_den), (30000, 1001));
    assert!(v.constant_frame_rate);
    let mp4 = job.main(Format::Mp4);
    assert_merged(&mp4, &src, true);
    // Exactly 1001/30000 s per frame, across the joins too.
    let j = json(&mp4);
    let vs = stream(&j, "video").unwrap();
    assert_eq!(vs["r_frame_rate"], "30000/1001");
    assert_eq!(vs["avg_frame_rate"], "30000/1001");
    let durs: std::collections::BTreeSet<i64> =
        packets(&mp4, "v").iter().map(|p| p.dur_ts).collect();
    assert_eq!(durs.len(), 1, "frame durations {durs:?}");
}

#[tokio::test]
async fn odd_size_853x480_becomes_852x480() {
    let t = tools();
    let dir = clip_dir();
    let src = dir.path().join("in.mp4");
    Clip::new(853, 480)
        .seconds(3.0)
        .write(&t, &src)
        .await
        .unwrap();
    assert_eq!(stream(&json(&src), "video").unwrap()["width"], 853);
    let job = pipeline(
        &t,
        &src,
        &[Format::Mp4, Format::Jpg],
        1.0,
        Profile::default(),
    )
    .await
    .unwrap();
    let mp4 = job.main(Format::Mp4);
    let j = json(&mp4);
    let v = stream(&j, "video").unwrap();
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(852), Some(480))
    );
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_merged(&mp4, &src, true);
}

#[tokio::test]
async fn max_height_scales_down_but_never_up() {
    let t = tools();
    let dir = clip_dir();
    let src = dir.path().join("in.mp4");
    Clip::new(640, 360)
        .seconds(2.0)
        .no_audio()
        .write(&t, &src)
        .await
        .unwrap();
    let down = Profile {
        max_height: Some(180),
        ..Profile::default()
    };
    let job = pipeline(&t, &src, &[Format::Mp4], 1.0, down).await.unwrap();
    let j = json(&job.main(Format::Mp4));
    let v = stream(&j, "video").unwrap();
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(320), Some(180))
    );
    let up = Profile {
        max_height: Some(1080),
        ..Profile::default()
    };
    let job = pipeline(&t, &src, &[Format::Mp4], 1.0, up).await.unwrap();
    let j = json(&job.main(Format::Mp4));
    assert_eq!(stream(&j, "video").unwrap()["height"], 360);
}

/// PSNR (dB, all planes) of the first frame of `a` against the first frame of `b`.
fn first_frame_psnr(a: &Path, b: &Path) -> f64 {
    psnr(a, b, Some(1)).average
}

#[tokio::test]
async fn rotation_is_applied_upright_without_metadata() {
    let t = tools();
    let dir = clip_dir();
    for rotation in [90, 180, 270] {
        let src = dir.path().join(format!("in-{rotation}.mp4"));
        Clip::new(320, 240)
            .seconds(2.0)
            .rotation(rotation)
            .write(&t, &src)
            .await
            .unwrap();
        let formats = [Format::Mp4, Format::Hls];
        let job = pipeline(&t, &src, &formats, 1.0, Profile::default())
            .await
            .unwrap();
        assert_eq!(job.plan.info.video.as_ref().unwrap().rotation, rotation);
        let mp4 = job.main(Format::Mp4);
        let j = json(&mp4);
        let v = stream(&j, "video").unwrap();
        let size = (v["width"].as_i64().unwrap(), v["height"].as_i64().unwrap());
        assert_eq!(
            size,
            if rotation == 180 {
                (320, 240)
            } else {
                (240, 320)
            }
        );
        assert!(
            v.get("side_data_list").is_none(),
            "rotation metadata left: {v}"
        );
        assert_merged(&mp4, &src, true);
        // The picture matches what a player shows for the source (ffmpeg's
        // autorotation), and not the unrotated or opposite picture.
        let shown = dir.path().join(format!("shown-{rotation}.png"));
        let src_s = src.to_str().unwrap();
        ffmpeg(&[
            "-v",
            "error",
            "-i",
            src_s,
            "-frames:v",
            "1",
            shown.to_str().unwrap(),
        ]);
        let psnr = first_frame_psnr(&mp4, &shown);
        assert!(
            psnr > 25.0,
            "{rotation}°: first frame PSNR {psnr} dB against the upright source"
        );
        let wrong = dir.path().join(format!("wrong-{rotation}.png"));
        let opposite = match rotation {
            90 => "transpose=cclock",
            270 => "transpose=clock",
            _ => "null",
        };
        ffmpeg(&[
            "-v",
            "error",
            "-noautorotate",
            "-i",
            src_s,
            "-vf",
            opposite,
            "-frames:v",
            "1",
            wrong.to_str().unwrap(),
        ]);
        assert!(
            first_frame_psnr(&mp4, &wrong) < psnr - 10.0,
            "{rotation}°: turned the wrong way"
        );
    }
}

#[tokio::test]
async fn audio_starting_late_or_early_stays_in_sync() {
    let t = tools();
    for delay in [0.5, -0.5] {
        let dir = clip_dir();
        let src = dir.path().join("in.mp4");
        Clip::new(320, 240)
            .seconds(4.0)
            .audio_delay(delay)
            .write(&t, &src)
            .await
            .unwrap();
        let job = pipeline(&t, &src, &[Format::Mp4], 2.0, Profile::default())
            .await
            .unwrap();
        let mp4 = job.main(Format::Mp4);
        assert_merged(&mp4, &src, true);
        // Audio half a second late: the output opens with that much silence.
        let err = ffmpeg(&[
            "-i",
            mp4.to_str().unwrap(),
            "-map",
            "0:a",
            "-af",
            "silencedetect=n=-50dB:d=0.2",
            "-f",
            "null",
            "-",
        ]);
        let first_silence_end = err
            .lines()
            .find_map(|l| l.split("silence_end: ").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok());
        if delay > 0.0 {
            let end = first_silence_end.expect("leading silence");
            assert!((end - 0.5).abs() < 0.03, "silence until {end}");
        } else {
            // The beep is on from the start (the sine beeps at each second).
            assert!(!err.contains("silence_start: 0\n"), "{err}");
        }
    }
}

#[tokio::test]
async fn edit_list_trimmed_source_keeps_only_shown_frames() {
    let t = tools();
    let dir = clip_dir();
    let full = dir.path().join("full.mp4");
    let src = dir.path().join("in.mp4");
    Clip::new(320, 240)
        .seconds(5.0)
        .write(&t, &full)
        .await
        .unwrap();
    trim_with_edit_list(&t, &full, &src, 1.3).await.unwrap();
    let hidden = packets(&src, "v").iter().filter(|p| p.discard).count();
    assert!(
        hidden > 0,
        "the trim should leave frames an edit list hides"
    );
    let job = pipeline(&t, &src, &[Format::Mp4], 1.0, Profile::default())
        .await
        .unwrap();
    assert_eq!(job.plan.pieces[0].drop_head as usize, hidden);
    assert_merged(&job.main(Format::Mp4), &src, true);
}

#[tokio::test]
async fn dropped_frames_and_variable_frame_rate_are_kept() {
    let t = tools();
    let dir = clip_dir();
    let cfr = dir.path().join("cfr.mp4");
    Clip::new(320, 240)
        .seconds(4.0)
        .write(&t, &cfr)
        .await
        .unwrap();
    // Every fifth frame dropped (gaps, still on the 25 fps grid), then the
    // same with frames moved off the grid (a variable frame rate).
    let drop = VFR_DROP.to_string();
    let jitter = format!("{drop}{VFR_JITTER}");
    for (filter, on_grid) in [(drop, true), (jitter, false)] {
        let src = dir.path().join(format!("in-{on_grid}.mp4"));
        reencode_timed(&cfr, &filter, &src);
        let job = pipeline(
            &t,
            &src,
            &[Format::Mp4, Format::Hls],
            1.0,
            Profile::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            job.plan.info.video.as_ref().unwrap().constant_frame_rate,
            on_grid,
            "{filter}"
        );
        let mp4 = job.main(Format::Mp4);
        assert_merged(&mp4, &src, true);
        // Every frame keeps its time (Matroska pieces keep milliseconds).
        let mut s: Vec<f64> = packets(&src, "v").iter().map(|p| p.pts).collect();
        let mut o: Vec<f64> = packets(&mp4, "v").iter().map(|p| p.pts).collect();
        s.sort_by(f64::total_cmp);
        o.sort_by(f64::total_cmp);
        assert_eq!(s.len(), o.len());
        for (a, b) in s.iter().zip(&o) {
            assert!(
                (a - s[0] - (b - o[0])).abs() < 0.0011,
                "{filter}: frame at {a} came out at {b}"
            );
        }
        // HLS segment durations are measured, so they add up to the video.
        let text = std::fs::read_to_string(job.main(Format::Hls)).unwrap();
        let total: f64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|v| v.trim_end_matches(',').parse::<f64>().unwrap())
            .sum();
        let (_, src_len) = span(&packets(&src, "v"));
        assert!(
            (total - src_len).abs() < 0.002,
            "{filter}: HLS {total} s, video {src_len} s"
        );
    }
}

#[tokio::test]
async fn sparse_key_frames_give_fewer_pieces_and_one_frame_works() {
    let t = tools();
    let dir = clip_dir();
    let src = dir.path().join("in.mp4");
    // Key frames every 1.8 s, pieces asked for every 1 s: within
    // MAX_STRETCH, so cut at key frames.
    Clip::new(320, 240)
        .seconds(5.0)
        .gop(45)
        .write(&t, &src)
        .await
        .unwrap();
    let job = pipeline(&t, &src, &[Format::Mp4], 1.0, Profile::default())
        .await
        .unwrap();
    let starts: Vec<f64> = job.plan.pieces.iter().map(|p| p.start_seconds).collect();
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert!(
        (starts[1] - 1.8).abs() < 1e-6 && (starts[2] - 3.6).abs() < 1e-6,
        "{starts:?}"
    );
    assert_merged(&job.main(Format::Mp4), &src, true);

    let one = dir.path().join("one.mp4");
    Clip::new(320, 240)
        .seconds(0.04)
        .write(&t, &one)
        .await
        .unwrap();
    let job = pipeline(
        &t,
        &one,
        &[Format::Mp4, Format::Gif, Format::Jpg],
        10.0,
        Profile::default(),
    )
    .await
    .unwrap();
    assert_eq!(job.plan.info.video.as_ref().unwrap().frames, 1);
    assert_merged(&job.main(Format::Mp4), &one, true);
    assert!(job.main(Format::Jpg).is_file());
}

/// A broadcast-style interlaced MPEG-2 transport stream (576i25, top field
/// first, MP2 audio, a start offset as broadcast captures have) comes out
/// progressive, with every frame and the audio in sync, and the job says
/// what was done.
#[tokio::test]
async fn interlaced_transport_stream_is_deinterlaced_frame_for_frame() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("broadcast.ts");
    let src_s = src.to_string_lossy().into_owned();
    // 50 progressive pictures a second woven into 25 interlaced frames:
    // fields from different instants, as a camera's, so combing is real.
    ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=720x576:rate=50",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "4",
        "-vf",
        "tinterlace=mode=interleave_top,setfield=tff",
        "-c:v",
        "mpeg2video",
        "-b:v",
        "6M",
        "-flags",
        "+ilme+ildct",
        "-top",
        "1",
        "-c:a",
        "mp2",
        "-output_ts_offset",
        "10",
        "-shortest",
        &src_s,
    ]);
    let (combed, _) = idet(&t, &src).await.unwrap();
    assert!(
        combed > 50,
        "the source must really be interlaced (idet: {combed})"
    );

    let job = pipeline(&t, &src, &[Format::Mp4], 2.0, Profile::default())
        .await
        .expect("an interlaced source is processed");
    let video = job.plan.info.video.as_ref().unwrap();
    assert_eq!(video.field_order.as_deref(), Some("tt"));
    assert!(video.interlaced());
    assert_eq!(video.conversions().len(), 1, "{:?}", video.conversions());

    let mp4 = job.main(Format::Mp4);
    assert_merged(&mp4, &src, true);
    let (combed, progressive) = idet(&t, &mp4).await.unwrap();
    assert!(
        combed * 20 < progressive,
        "output still interlaced: idet {combed} interlaced, {progressive} progressive"
    );
}

/// The seek-preview sprite: one sheet, a cue per tile covering the whole
/// video, and each tile the picture at its cue's start.
#[tokio::test]
async fn sprite_tiles_show_the_picture_at_their_cue() {
    let t = tools();
    let dir = clip_dir();
    let src = dir.path().join("in.mp4");
    Clip::new(320, 240)
        .seconds(9.0)
        .write(&t, &src)
        .await
        .unwrap();
    let job = pipeline(&t, &src, &[Format::Sprite], 4.0, Profile::default())
        .await
        .unwrap();
    let out = job.output(Format::Sprite);
    let rels: Vec<&str> = out.files.iter().map(|f| f.rel.as_str()).collect();
    assert_eq!(rels, ["sprite/sprite.jpg", "sprite/thumbnails.vtt"]);
    let vtt = std::fs::read_to_string(job.main(Format::Sprite)).unwrap();
    let cues: Vec<&str> = vtt.lines().filter(|l| l.contains("-->")).collect();
    assert_eq!(cues.len(), 5, "{vtt}");
    assert_eq!(cues[0], "00:00:00.000 --> 00:00:02.000");
    assert_eq!(cues[4], "00:00:08.000 --> 00:00:09.000");
    let sheet = &out.files[0].path;
    let j = json(sheet);
    let v = &j["streams"][0];
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(800), Some(120))
    );
    // Tile 3 (x=480) is the frame at 6 s, not the one at 4 s.
    let tile = dir.path().join("tile3.png");
    ffmpeg(&[
        "-v",
        "error",
        "-i",
        sheet.to_str().unwrap(),
        "-vf",
        "crop=160:120:480:0",
        tile.to_str().unwrap(),
    ]);
    let at = |s: &str, name: &str| {
        let p = dir.path().join(name);
        ffmpeg(&[
            "-v",
            "error",
            "-ss",
            s,
            "-i",
            src.to_str().unwrap(),
            "-frames:v",
            "1",
            "-vf",
            "scale=160:120:flags=lanczos",
            p.to_str().unwrap(),
        ]);
        p
    };
    let right = first_frame_psnr(&tile, &at("6", "at6.png"));
    let wrong = first_frame_psnr(&tile, &at("4", "at4.png"));
    assert!(
        right > 25.0 && right > wrong + 5.0,
        "tile 3: {right:.1} dB at 6 s, {wrong:.1} dB at 4 s"
    );
}

/// Key frames of the first video stream (packets flagged K).
fn key_frames(path: &Path) -> usize {
    ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=flags",
            "-of",
            "csv=p=0",
        ],
        path,
    )
    .lines()
    .filter(|l| l.starts_with('K'))
    .count()
}

#[tokio::test]
async fn key_frames_follow_the_deliverables() {
    let t = tools();
    let dir = clip_dir();
    let src = dir.path().join("in.mp4");
    Clip::new(320, 240)
        .seconds(14.0)
        .no_audio()
        .write(&t, &src)
        .await
        .unwrap();
    // A download: x264 places key frames (each piece starts with one).
    let job = pipeline(&t, &src, &[Format::Mp4], 6.0, Profile::default())
        .await
        .unwrap();
    let pieces = job.plan.pieces.len();
    let mp4 = key_frames(&job.main(Format::Mp4));
    assert!(
        mp4 <= pieces + 1,
        "{mp4} key frames in the MP4 of {pieces} pieces"
    );
    assert_merged(&job.main(Format::Mp4), &src, false);
    // HLS cuts segments: a key frame on every 6 s of the output, also
    // inside pieces that start off that grid (5 s pieces start at 5 and
    // 10 s), so every segment but the last lasts exactly 6 s.
    let job = pipeline(
        &t,
        &src,
        &[Format::Mp4, Format::Hls],
        5.0,
        Profile::default(),
    )
    .await
    .unwrap();
    assert_eq!(job.plan.pieces.len(), 3);
    let hls = key_frames(&job.main(Format::Mp4));
    assert!(
        (3..=6).contains(&hls),
        "{hls} key frames: 3 piece starts, 2 boundaries (6 and 12 s), x264's own"
    );
    let playlist = std::fs::read_to_string(job.main(Format::Hls)).unwrap();
    let lengths: Vec<f64> = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse().unwrap())
        .collect();
    assert_eq!(lengths.len(), 3, "{playlist}");
    for l in &lengths[..2] {
        assert!((l - 6.0).abs() < 0.001, "{playlist}");
    }
    assert!((lengths[2] - 2.0).abs() < 0.001, "{playlist}");
}

/// A job of one piece cuts nothing: the plan's piece is the source, read in
/// place, and nothing is written under `pieces/`. What the cut guaranteed
/// still holds on inputs that test it (a rotated phone clip, dropped
/// frames and a variable rate, frames an edit list hides, one key frame
/// with B-frames and late audio, two audio tracks): every frame at its
/// time, upright, and each audio track gap-free and as long as the source's
/// (`assert_merged`, and merge's own verify of every track).
#[tokio::test]
async fn one_piece_jobs_read_the_source_in_place_and_keep_every_frame() {
    let t = tools();
    let dir = clip_dir();
    let d = dir.path();
    let rotated = d.join("rotated.mp4");
    Clip::new(320, 240)
        .seconds(2.0)
        .rotation(90)
        .write(&t, &rotated)
        .await
        .unwrap();
    let cfr = d.join("cfr.mp4");
    Clip::new(320, 240)
        .seconds(3.0)
        .write(&t, &cfr)
        .await
        .unwrap();
    let vfr = d.join("vfr.mp4");
    reencode_timed(&cfr, &format!("{VFR_DROP}{VFR_JITTER}"), &vfr);
    let trimmed = d.join("trimmed.mp4");
    trim_with_edit_list(&t, &cfr, &trimmed, 1.3).await.unwrap();
    let sparse = d.join("sparse.mp4");
    Clip::new(320, 240)
        .seconds(3.0)
        .gop(1000)
        .bframes(3)
        .audio_delay(0.4)
        .write(&t, &sparse)
        .await
        .unwrap();
    let tracks = d.join("tracks.mkv");
    TrackClip::new(3.0)
        .video_delay(0.3)
        .tone(Tone::new("eng", 440).default_track())
        .tone(Tone::new("fra", 660))
        .write(&t, &tracks)
        .await
        .unwrap();
    assert!(
        packets(&trimmed, "v").iter().any(|p| p.discard),
        "the trim should leave frames an edit list hides"
    );

    for src in [&rotated, &vfr, &trimmed, &sparse, &tracks] {
        let name = src.file_name().unwrap().to_string_lossy().into_owned();
        let job = pipeline(
            &t,
            src,
            &[Format::Mp4, Format::Hls],
            30.0,
            Profile::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let plan = &job.plan;
        assert_eq!(plan.cutting, Cutting::Uncut, "{name}");
        assert_eq!(plan.pieces.len(), 1, "{name}");
        assert_eq!(
            job.jobdir.piece_input(plan, 0),
            job.jobdir.source(&plan.request.key),
            "{name}: the piece is the source"
        );
        assert_eq!(
            std::fs::read_dir(job.jobdir.pieces_dir()).unwrap().count(),
            0,
            "{name}: a piece was cut"
        );
        let p = &plan.pieces[0];
        assert_eq!((p.drop_head, p.drop_tail), (0, 0), "{name}");
        assert_eq!(p.frames, decoded_frames(src), "{name}");
        let mp4 = job.main(Format::Mp4);
        assert_merged(&mp4, src, true);
        // Every frame keeps its time, to the rounding of the source's own
        // time base (a cut piece kept milliseconds).
        let mut s: Vec<f64> = packets(src, "v")
            .iter()
            .filter(|p| !p.discard)
            .map(|p| p.pts)
            .collect();
        let mut o: Vec<f64> = packets(&mp4, "v").iter().map(|p| p.pts).collect();
        s.sort_by(f64::total_cmp);
        o.sort_by(f64::total_cmp);
        assert_eq!(s.len(), o.len(), "{name}");
        for (a, b) in s.iter().zip(&o) {
            assert!(
                (a - s[0] - (b - o[0])).abs() < 0.0011,
                "{name}: frame at {a} came out at {b}"
            );
        }
        let j = json(&mp4);
        let audio = j["streams"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["codec_type"] == "audio")
            .count();
        assert_eq!(audio, if src == &tracks { 2 } else { 1 }, "{name}");
        if src == &rotated {
            let v = stream(&j, "video").unwrap();
            assert_eq!(
                (v["width"].as_i64(), v["height"].as_i64()),
                (Some(240), Some(320))
            );
            assert!(v.get("side_data_list").is_none(), "rotation left: {v}");
        }
    }
}
