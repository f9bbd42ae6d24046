//! Audio jobs end to end through the local runner: a sound upload goes
//! through the trigger, the workflow and the real handler processes; the
//! outputs and the manifest are checked with plain ffmpeg/ffprobe.

use std::path::Path;
use std::process::Command;

use local_runner::flow::Status;
use vpf_core::job::{Format, JobStatus, Manifest};
use vpf_media::Tools;
use vpf_media::testmedia::Sound;
use vpf_tests::{all_keys, client, nas_jobs, request_of, system, upload_and_wait};

/// What plain ffmpeg measures on `path`'s sound: (samples, LUFS).
fn measure(path: &Path) -> (u64, f64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:a:0",
            "-af",
            "ebur128=framelog=verbose,astats=measure_perchannel=none:measure_overall=Number_of_samples",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    let value = |key: &str| {
        log.lines()
            .filter_map(|l| l.split_once(key).map(|(_, v)| v.trim().to_string()))
            .next_back()
            .unwrap_or_else(|| panic!("no {key}: {log}"))
    };
    let samples = value("Number of samples:").parse::<f64>().unwrap() as u64;
    let lufs = value("I:").trim_end_matches("LUFS").trim().parse().unwrap();
    (samples, lufs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sound_upload_becomes_m4a_mp3_and_audio_hls_at_the_target_loudness() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("talk.wav");
    // Quiet (about -40 LUFS), 12 s: two HLS segments.
    Sound::new(12.0)
        .rate(44100)
        .tone_db(-38.0)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    let (source_samples, source_lufs) = measure(&src);
    let sys = system(
        &tmp.path().join("state"),
        &[
            ("formats", "mp4,m4a,mp3,hls,jpg"),
            ("loudnessLufs", "-16"),
            ("sampleRate", "48000"),
        ],
        |_| {},
    )
    .await;
    let rec = upload_and_wait(&sys, &src, "source/talk.wav").await;
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    let req = request_of(&rec);
    assert_eq!(req.profile.loudness_lufs, Some(-16.0));
    let c = client(&sys);
    let mkey = req.manifest_key();
    let mpath = tmp.path().join("manifest.json");
    c.get_to_file(&sys.bucket, &mkey, &mpath).await.unwrap();
    let m: Manifest = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    assert_eq!(m.status, JobStatus::Succeeded);
    let made: Vec<Format> = m.outputs.iter().map(|o| o.format).collect();
    assert_eq!(made, [Format::M4a, Format::Mp3, Format::Hls]);
    let skipped: Vec<Format> = m.skipped.iter().map(|s| s.format).collect();
    assert_eq!(skipped, [Format::Mp4, Format::Jpg]);
    assert!(
        m.skipped
            .iter()
            .all(|s| s.reason.contains("no video stream"))
    );
    // No video pieces: split, one audio task, merge.
    let steps: Vec<&str> = m.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(steps, ["split", "audio", "merge"]);
    assert!(m.probe.as_ref().is_some_and(|p| p.video.is_none()));

    // 12 s at 48 kHz (resampled from 44.1 kHz).
    let want = source_samples * 48000 / 44100;
    assert_eq!(want, 576_000);
    assert!(
        (source_lufs + 16.0).abs() > 10.0,
        "source {source_lufs} LUFS"
    );
    for o in &m.outputs {
        let local = tmp.path().join(o.key.replace('/', "_"));
        let measured = if o.format == Format::Hls {
            // The playlist and its segments side by side, as a player reads them.
            let dir = tmp.path().join("hls");
            std::fs::create_dir_all(&dir).unwrap();
            for k in all_keys(&sys).await {
                if let Some(name) = k.strip_prefix(&format!("{}/hls/", req.output_base)) {
                    c.get_to_file(&sys.bucket, &k, &dir.join(name))
                        .await
                        .unwrap();
                }
            }
            measure(&dir.join("index.m3u8"))
        } else {
            c.get_to_file(&sys.bucket, &o.key, &local).await.unwrap();
            measure(&local)
        };
        let frame = match o.format {
            Format::Mp3 => 1152,
            Format::Hls => 2048,
            _ => 1024,
        };
        assert!(
            measured.0.abs_diff(want) <= frame,
            "{}: {} samples, want {want}",
            o.format,
            measured.0
        );
        assert!(
            (measured.1 + 16.0).abs() <= 1.0,
            "{}: {} LUFS",
            o.format,
            measured.1
        );
        let said = o.loudness_lufs.expect("loudness in the manifest");
        assert!(
            (said - measured.1).abs() < 0.2,
            "{}: {said} vs {}",
            o.format,
            measured.1
        );
    }
    assert!(nas_jobs(&sys).is_empty(), "the job folder is cleaned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sound_upload_asking_only_for_video_formats_fails_naming_what_would_do() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("song.mp3");
    Sound::new(2.0)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    let sys = system(&tmp.path().join("state"), &[("formats", "mp4,gif")], |_| {}).await;
    let rec = upload_and_wait(&sys, &src, "source/song.mp3").await;
    assert_eq!(rec.status, Status::Failed);
    let req = request_of(&rec);
    let mpath = tmp.path().join("manifest.json");
    client(&sys)
        .get_to_file(&sys.bucket, &req.manifest_key(), &mpath)
        .await
        .unwrap();
    let m: Manifest = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let e = m.error.expect("the failure is recorded");
    assert_eq!(e.error, "InvalidInput", "{}", e.cause);
    assert!(e.cause.contains("m4a, mp3 or hls"), "{}", e.cause);
    assert!(nas_jobs(&sys).is_empty());
}
