//! Every audio track and every text subtitle track through the whole media
//! path, on real ffmpeg: clips with dubs and subtitles made at run time,
//! outputs checked with plain ffprobe/ffmpeg calls.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use vpf_core::job::{Format, Profile};
use vpf_core::tracks::TrackKind;
use vpf_media::MasterPlaylist;
use vpf_media::testmedia::{SubFormat, Subs, Tone, TrackClip};

/// The pitch of audio track `k` of `path` (a file or a playlist), Hz: zero
/// crossings of its middle half, decoded to mono.
fn tone_hz(path: &Path, k: usize) -> f64 {
    let out = Command::new(tools().ffmpeg)
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", &format!("0:a:{k}"), "-ac", "1", "-ar", "48000"])
        .args(["-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let (from, to) = (samples.len() / 4, samples.len() * 3 / 4);
    let middle = &samples[from..to];
    let crossings = middle
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    crossings as f64 / 2.0 / (middle.len() as f64 / 48000.0)
}

/// Audio streams of a file: (language, default flag, duration seconds).
fn audio_streams(path: &Path) -> Vec<(Option<String>, bool, f64)> {
    let j = json(path);
    j["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["codec_type"] == "audio")
        .map(|s| {
            (
                s["tags"]["language"].as_str().map(str::to_string),
                s["disposition"]["default"] == 1,
                s["duration"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// Subtitle streams of a file: (codec, language).
fn subtitle_streams(path: &Path) -> Vec<(String, Option<String>)> {
    let j = json(path);
    j["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["codec_type"] == "subtitle")
        .map(|s| {
            (
                s["codec_name"].as_str().unwrap_or("").to_string(),
                s["tags"]["language"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// The cues of subtitle track `k` of `path` as ffmpeg reads them, via SRT:
/// (start, end, text) with times in milliseconds.
fn cues(path: &Path, k: usize) -> Vec<(i64, i64, String)> {
    let out = Command::new(tools().ffmpeg)
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", &format!("0:s:{k}"), "-f", "srt", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap().replace("\r\n", "\n");
    let ms = |t: &str| -> i64 {
        let (hms, milli) = t.trim().split_once(',').unwrap();
        let p: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        ((p[0] * 60 + p[1]) * 60 + p[2]) * 1000 + milli.parse::<i64>().unwrap()
    };
    text.split("\n\n")
        .filter_map(|block| {
            let mut lines = block.lines().skip_while(|l| !l.contains("-->"));
            let (a, b) = lines.next()?.split_once("-->")?;
            let body: Vec<&str> = lines.collect();
            Some((ms(a), ms(b), body.join("\n")))
        })
        .filter(|c| !c.2.trim_matches('\u{200B}').trim().is_empty())
        .collect()
}

/// ffmpeg decodes every stream of `input` without an error line.
fn decodes_cleanly(input: &Path) {
    let err = ffmpeg(&[
        "-v",
        "error",
        "-i",
        input.to_str().unwrap(),
        "-map",
        "0",
        "-f",
        "null",
        "-",
    ]);
    assert!(err.trim().is_empty(), "{}: {err}", input.display());
}

fn master(job: &Job) -> (MasterPlaylist, std::path::PathBuf) {
    let index = job.main(Format::Hls);
    let text = std::fs::read_to_string(&index).unwrap();
    assert!(
        text.contains("#EXT-X-STREAM-INF:"),
        "not a master playlist:\n{text}"
    );
    assert!(!text.contains("#EXTINF"), "{text}");
    eprintln!("{text}");
    (
        MasterPlaylist::parse(&text).unwrap(),
        index.parent().unwrap().to_path_buf(),
    )
}

#[tokio::test]
async fn english_and_french_audio_reach_every_output() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("dub.mp4");
    // French is the default track, though it comes second.
    TrackClip::new(6.0)
        .tone(Tone::new("eng", 440))
        .tone(Tone::new("fra", 880).default_track())
        .write(&t, &src)
        .await
        .unwrap();
    let formats = Format::ALL;
    let started = std::time::Instant::now();
    let job = pipeline(&t, &src, &formats, 2.0, Profile::default())
        .await
        .unwrap();
    eprintln!("pipeline: {:.2} s", started.elapsed().as_secs_f64());
    assert_eq!(job.plan.audio_plan(), [0, 1]);
    assert_eq!(job.plan.default_audio(), Some(1));
    assert!(job.jobdir.audio_track(0).ends_with("audio.m4a"));
    assert!(job.jobdir.audio_track(1).ends_with("audio-1.m4a"));
    for n in 0..2 {
        assert!(job.jobdir.audio_track(n).is_file());
    }

    // MP4: both tracks, with their languages, French the one default;
    // both as long as the video, each its own pitch.
    let mp4 = job.main(Format::Mp4);
    assert_merged(&mp4, &src, true);
    let a = audio_streams(&mp4);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[0].0.as_deref(), Some("eng"));
    assert_eq!(a[1].0.as_deref(), Some("fra"));
    assert_eq!((a[0].1, a[1].1), (false, true), "default flags {a:?}");
    assert!((a[0].2 - a[1].2).abs() < 0.001, "{a:?}");
    assert!((a[0].2 - 6.0).abs() <= 1024.0 / 48000.0 + 1e-3, "{a:?}");
    let (eng, fra) = (tone_hz(&mp4, 0), tone_hz(&mp4, 1));
    assert!((eng - 440.0).abs() < 5.0, "English at {eng} Hz");
    assert!((fra - 880.0).abs() < 5.0, "French at {fra} Hz");

    // FLV and AVI: one audio track, the default (French).
    for f in [Format::Flv, Format::Avi] {
        let path = job.main(f);
        assert_eq!(audio_streams(&path).len(), 1, "{f}");
        let hz = tone_hz(&path, 0);
        assert!((hz - 880.0).abs() < 5.0, "{f}: {hz} Hz");
        assert_eq!(decoded_frames(&path), 150, "{f}");
    }

    // HLS: a master playlist, one audio rendition per track.
    let (m, hls) = master(&job);
    let audio: Vec<_> = m.media.iter().filter(|x| x.kind == "AUDIO").collect();
    assert_eq!(audio.len(), 2);
    assert_eq!(audio[0].language.as_deref(), Some("en"));
    assert_eq!(audio[1].language.as_deref(), Some("fr"));
    assert_eq!((audio[0].default, audio[1].default), (false, true));
    assert_eq!(
        (audio[0].name.as_str(), audio[1].name.as_str()),
        ("English", "French")
    );
    assert_eq!(audio[0].group, audio[1].group);
    assert!(!m.media.iter().any(|x| x.kind == "SUBTITLES"));
    let v = &m.variants[0];
    assert_eq!(m.variants.len(), 1);
    assert_eq!(v.audio.as_deref(), Some(audio[0].group.as_str()));
    assert_eq!(v.resolution, Some((320, 240)));
    assert!(v.codecs.as_deref().unwrap().starts_with("avc1.64"), "{v:?}");
    assert!(
        v.bandwidth >= v.average_bandwidth.unwrap() && v.bandwidth > 10_000,
        "{v:?}"
    );
    // Every rendition decodes; the video one has every frame, each audio
    // one its own pitch and length.
    decodes_cleanly(&hls.join(&v.uri));
    assert_eq!(decoded_frames(&hls.join(&v.uri)), 150);
    for (k, (r, want)) in audio.iter().zip([440.0, 880.0]).enumerate() {
        let p = hls.join(&r.uri);
        decodes_cleanly(&p);
        let hz = tone_hz(&p, 0);
        assert!((hz - want).abs() < 5.0, "rendition {k}: {hz} Hz");
        let text = std::fs::read_to_string(&p).unwrap();
        let total: f64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|v| v.trim_end_matches(',').parse::<f64>().unwrap())
            .sum();
        assert!((total - 6.0).abs() < 0.05, "rendition {k} lasts {total}");
    }
    decodes_cleanly(&hls.join("index.m3u8"));
    // Every file the HLS output lists exists, the master is uploaded last.
    let out = job.output(Format::Hls);
    assert_eq!(out.main().unwrap().rel, "hls/index.m3u8");
    assert!(out.files.iter().all(|f| f.path.is_file()));
    assert!(out.files.iter().any(|f| f.rel == "hls/audio-1.m3u8"));

    // What the manifest says of them.
    let t = job.plan.track_outcomes();
    assert_eq!(t.len(), 2);
    let eng_flv = t[0]
        .left_out
        .iter()
        .find(|l| l.format == Format::Flv)
        .unwrap();
    assert!(eng_flv.reason.contains("one audio track"), "{eng_flv:?}");
    assert!(
        t[1].kept_in
            .iter()
            .any(|k| k.format == Format::Avi && k.default)
    );
    // The picture formats are untouched by the tracks.
    assert_eq!(
        stream(&json(&job.main(Format::Jpg)), "video").unwrap()["width"],
        320
    );
    assert!(decoded_frames(&job.main(Format::Gif)) >= 28);
    assert_no_temp(job.jobdir.path());
}

#[tokio::test]
async fn mov_text_subtitles_reach_mp4_and_hls() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("subs.mp4");
    TrackClip::new(5.0)
        .tone(Tone::new("eng", 440))
        .subs(Subs::new(
            SubFormat::MovText,
            "eng",
            &[
                (0.5, 2.0, "Hello there"),
                (2.5, 3.25, "Second cue"),
                (3.5, 4.5, "Third\nline"),
                (4.8, 6.5, "Cut at the end"),
            ],
        ))
        .write(&t, &src)
        .await
        .unwrap();
    assert_eq!(
        subtitle_streams(&src),
        [("mov_text".to_string(), Some("eng".to_string()))]
    );
    let job = pipeline(
        &t,
        &src,
        &[Format::Mp4, Format::Hls],
        2.0,
        Profile::default(),
    )
    .await
    .unwrap();
    assert_eq!(job.plan.subtitle_tracks, [0]);

    // The MP4: one mov_text track in English, every cue at its time, the
    // last cut where the video ends.
    let mp4 = job.main(Format::Mp4);
    assert_merged(&mp4, &src, true);
    assert_eq!(
        subtitle_streams(&mp4),
        [("mov_text".to_string(), Some("eng".to_string()))]
    );
    let want: Vec<(i64, i64, String)> = vec![
        (500, 2000, "Hello there".into()),
        (2500, 3250, "Second cue".into()),
        (3500, 4500, "Third\nline".into()),
        (4800, 5000, "Cut at the end".into()),
    ];
    assert_eq!(cues(&mp4, 0), want);

    // HLS: a master with an audio group of one and a subtitle group of one.
    let (m, hls) = master(&job);
    let subs: Vec<_> = m.media.iter().filter(|x| x.kind == "SUBTITLES").collect();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].language.as_deref(), Some("en"));
    assert!(!subs[0].default && subs[0].autoselect);
    assert_eq!(
        m.variants[0].subtitles.as_deref(),
        Some(subs[0].group.as_str())
    );
    assert_eq!(m.media.iter().filter(|x| x.kind == "AUDIO").count(), 1);
    // The subtitle playlist cuts where the video's does; every segment maps
    // its cues to the MPEG-TS time of the first video frame.
    let video_pl = std::fs::read_to_string(hls.join(&m.variants[0].uri)).unwrap();
    let subs_pl = std::fs::read_to_string(hls.join(&subs[0].uri)).unwrap();
    let durations = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("#EXTINF:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(durations(&video_pl), durations(&subs_pl));
    assert!(subs_pl.contains("#EXT-X-ENDLIST") && subs_pl.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
    let first_ts = hls.join(video_pl.lines().find(|l| l.ends_with(".ts")).unwrap());
    let pts: i64 = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ],
        &first_ts,
    )
    .trim()
    .trim_end_matches(',')
    .parse()
    .unwrap();
    let segments: Vec<&str> = subs_pl.lines().filter(|l| l.ends_with(".vtt")).collect();
    assert_eq!(segments.len(), durations(&video_pl).len());
    let mut all = String::new();
    for s in &segments {
        let text = std::fs::read_to_string(hls.join(s)).unwrap();
        assert_eq!(
            text.lines().nth(1).unwrap(),
            format!("X-TIMESTAMP-MAP=MPEGTS:{pts},LOCAL:00:00:00.000"),
            "{s}"
        );
        all.push_str(&text);
    }
    for (_, _, text) in &want {
        assert!(all.contains(text.as_str()), "{text:?} is in no segment");
    }
    // ffmpeg reads the rendition as subtitles with every cue.
    let got = cues(&hls.join(&subs[0].uri), 0);
    for w in &want {
        assert!(
            got.iter().any(|g| g.2 == w.2),
            "{w:?} not read from HLS: {got:?}"
        );
    }
    decodes_cleanly(&hls.join("index.m3u8"));
}

#[tokio::test]
async fn matroska_srt_ass_and_a_bitmap_track() {
    let t = tools();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("film.mkv");
    // The video starts 1 s after the sound and the subtitles.
    TrackClip::new(4.0)
        .video_delay(1.0)
        .tone(Tone::new("eng", 440).default_track())
        .tone(Tone::new("fra", 660))
        .subs(Subs::new(
            SubFormat::Srt,
            "eng",
            &[
                (0.2, 0.8, "Before the picture"),
                (0.5, 2.5, "<i>Hello</i> world"),
                (3.0, 4.0, "Fish & chips"),
                (4.5, 5.5, "Cut at the end"),
            ],
        ))
        .subs(Subs::new(
            SubFormat::Ass,
            "fre",
            // A sign on screen while two lines are spoken.
            &[
                (1.5, 4.0, "PANNEAU"),
                (2.0, 3.0, "Bonjour"),
                (3.0, 3.5, "Au revoir"),
            ],
        ))
        .subs(Subs::new(SubFormat::Pgs, "jpn", &[(2.0, 3.0, "")]))
        .write(&t, &src)
        .await
        .unwrap();
    let codecs: Vec<String> = subtitle_streams(&src).into_iter().map(|s| s.0).collect();
    assert_eq!(codecs, ["subrip", "ass", "hdmv_pgs_subtitle"]);

    let formats = [Format::Mp4, Format::Hls, Format::Flv];
    let job = pipeline(&t, &src, &formats, 2.0, Profile::default())
        .await
        .unwrap();
    assert_eq!(
        job.plan.subtitle_tracks,
        [0, 1],
        "the bitmap track is not carried"
    );
    let outcomes = job.plan.track_outcomes();
    let subs: Vec<_> = outcomes
        .iter()
        .filter(|o| o.kind == TrackKind::Subtitle)
        .collect();
    assert_eq!(subs.len(), 3);
    assert!(
        subs[2].dropped.as_deref().unwrap().contains("bitmap"),
        "{:?}",
        subs[2]
    );
    assert!(subs[2].kept_in.is_empty());
    assert!(subs[0].left_out.iter().any(|l| l.format == Format::Flv));

    // MP4: two mov_text tracks; what overlapped in ASS is shown together.
    let mp4 = job.main(Format::Mp4);
    assert_merged(&mp4, &src, true);
    let s = subtitle_streams(&mp4);
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|(c, _)| c == "mov_text"), "{s:?}");
    assert_eq!(s[0].1.as_deref(), Some("eng"));
    assert_eq!(s[1].1.as_deref(), Some("fre"));
    // Every cue moves with the video's start (1 s): the first is gone, the
    // second starts with the picture, the last ends with it.
    let v0 = job.plan.info.video.as_ref().unwrap().start_seconds;
    assert!((v0 - 1.0).abs() < 0.05, "video starts at {v0}");
    let english = cues(&mp4, 0);
    assert_eq!(
        english,
        [
            (0, 1500, "<i>Hello</i> world".to_string()),
            (2000, 3000, "Fish & chips".to_string()),
            (3500, 4000, "Cut at the end".to_string()),
        ]
    );
    let french = cues(&mp4, 1);
    let texts: Vec<&str> = french.iter().map(|c| c.2.as_str()).collect();
    assert_eq!(
        texts,
        [
            "PANNEAU",
            "PANNEAU\nBonjour",
            "PANNEAU\nAu revoir",
            "PANNEAU"
        ]
    );
    // ASS keeps centiseconds; the times are those of the source.
    let times: Vec<(i64, i64)> = french.iter().map(|c| (c.0, c.1)).collect();
    assert_eq!(
        times,
        [(500, 1000), (1000, 2000), (2000, 2500), (2500, 3000)]
    );
    assert_eq!(audio_streams(&mp4).len(), 2);

    // HLS: both text tracks as renditions; WebVTT keeps the overlap.
    let (m, hls) = master(&job);
    let renditions: Vec<_> = m.media.iter().filter(|x| x.kind == "SUBTITLES").collect();
    let langs: Vec<_> = renditions.iter().map(|r| r.language.as_deref()).collect();
    assert_eq!(langs, [Some("en"), Some("fr")]);
    let text: String = std::fs::read_dir(&hls)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("subs-1-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(
        text.contains("\nBonjour\n") && text.contains("\nPANNEAU\n"),
        "{text}"
    );
    for r in &renditions {
        let got = cues(&hls.join(&r.uri), 0);
        assert!(!got.is_empty(), "{}", r.uri);
    }
    decodes_cleanly(&hls.join("index.m3u8"));

    // FLV: the default audio (English) and nothing else.
    let flv = job.main(Format::Flv);
    assert_eq!(audio_streams(&flv).len(), 1);
    assert!(subtitle_streams(&flv).is_empty());
    assert!((tone_hz(&flv, 0) - 440.0).abs() < 5.0);
}
