//! The whole pipeline through the local runner: upload to the emulated OSS,
//! trigger, workflow, real handler processes, real ffmpeg; outputs checked
//! with plain ffprobe against the source.

use local_runner::flow::Status;
use vpf_core::job::{JobStatus, RecordOutcome};
use vpf_media::Tools;
use vpf_media::testmedia::{Clip, random_bytes};
use vpf_tests::{
    all_keys, client, decodes, failed_manifest, fetch, first_outcome, manifest, nas_jobs, probe,
    request_of, scheduled, small_clip, system, upload_and_wait,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_matches_the_source_frame_for_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("show.mp4");
    // B-frames, AAC 48 kHz stereo, key frame every second: 4 pieces of 2 s.
    Clip::new(640, 360)
        .seconds(8.0)
        .bframes(3)
        .audio(48_000, 2)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    let source = probe(&src);
    assert_eq!(source.video_frames, 200);

    let sys = system(
        &tmp.path().join("state"),
        &[
            ("segmentSeconds", "2"),
            ("formats", "mp4,flv,hls,avi,gif,jpg"),
        ],
        |_| {},
    )
    .await;
    let rec = upload_and_wait(&sys, &src, "source/show.mp4").await;
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    let req = request_of(&rec);
    let m = manifest(&sys, &req.manifest_key(), tmp.path()).await;
    assert_eq!(m.status, JobStatus::Succeeded);
    assert_eq!(m.outputs.len(), 6);
    let steps: Vec<_> = m
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.invocations))
        .collect();
    assert_eq!(
        steps,
        [("split", 1), ("audio", 1), ("transcode", 4), ("merge", 1)]
    );

    let frame = 1.0 / 25.0;
    for key in [
        "dest/show.mp4/show.mp4",
        "dest/show.mp4/show.flv",
        "dest/show.mp4/hls/index.m3u8",
        "dest/show.mp4/show.avi",
    ] {
        let local = if key.ends_with(".m3u8") {
            // The playlist and its segments, side by side, as a player sees them.
            let dir = tmp.path().join("hls");
            std::fs::create_dir_all(&dir).unwrap();
            for k in all_keys(&sys)
                .await
                .into_iter()
                .filter(|k| k.starts_with("dest/show.mp4/hls/"))
            {
                let name = k.rsplit('/').next().unwrap().to_string();
                client(&sys)
                    .get_to_file(&sys.bucket, &k, &dir.join(name))
                    .await
                    .unwrap();
            }
            let playlist = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
            assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
            dir.join("index.m3u8")
        } else {
            fetch(&sys, key, tmp.path()).await
        };
        let out = probe(&local);
        assert_eq!(out.video_frames, source.video_frames, "{key}: frame count");
        assert!(
            (out.video_seconds - source.video_seconds).abs() <= frame + 1e-6,
            "{key}: video {} s vs {} s",
            out.video_seconds,
            source.video_seconds
        );
        assert!(out.audio, "{key}: audio is missing");
        // Audio of one piece encoded once: within one AAC frame of the source.
        let aac_frame = 1024.0 / f64::from(out.sample_rate);
        assert!(
            (out.audio_seconds - source.audio_seconds).abs() <= aac_frame + 1e-3,
            "{key}: audio {} s vs {} s",
            out.audio_seconds,
            source.audio_seconds
        );
        decodes(&local);
    }
    // No gap stretched into a long packet anywhere in the mp4's audio.
    let mp4 = probe(&fetch(&sys, "dest/show.mp4/show.mp4", tmp.path()).await);
    let n = mp4.audio_packet_samples.len();
    assert!(
        mp4.audio_packet_samples[..n - 1].iter().all(|&s| s == 1024),
        "{:?}",
        mp4.audio_packet_samples
    );
    // The preview and the thumbnail are what they say.
    let gif = probe(&fetch(&sys, "dest/show.mp4/show.gif", tmp.path()).await);
    assert!(
        gif.video_frames >= 20 && gif.video_frames <= 40,
        "gif frames {}",
        gif.video_frames
    );
    let jpg = probe(&fetch(&sys, "dest/show.mp4/show.jpg", tmp.path()).await);
    assert_eq!((jpg.width, jpg.height), (640, 360));

    // Nothing left on NAS; nothing written outside the output prefix.
    assert!(nas_jobs(&sys).is_empty(), "{:?}", nas_jobs(&sys));
    for k in all_keys(&sys).await {
        assert!(
            k == "source/show.mp4" || k.starts_with("dest/show.mp4/"),
            "unexpected object {k}"
        );
    }
    sys.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_upload_fails_cleanly_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("junk.mp4");
    random_bytes(&src, 300_000).unwrap();
    let sys = system(&tmp.path().join("state"), &[], |_| {}).await;
    let rec = upload_and_wait(&sys, &src, "source/junk.mp4").await;
    let (_, err) = failed_manifest(&sys, &rec, tmp.path()).await;
    assert_eq!(err.error, "CorruptMedia", "{}", err.cause);
    // Not retried: a corrupt file cannot get better.
    assert_eq!(scheduled(&rec, "Split"), 1);
    assert!(nas_jobs(&sys).is_empty());
    let keys = all_keys(&sys).await;
    assert_eq!(keys, ["dest/junk.mp4/manifest.json", "source/junk.mp4"]);
    sys.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_starts_no_second_job() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("a.mp4");
    small_clip(&src, false).await;
    let sys = system(&tmp.path().join("state"), &[("formats", "mp4")], |_| {}).await;
    let rec = upload_and_wait(&sys, &src, "source/a.mp4").await;
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    // OSS delivers the same event again (at-least-once delivery).
    let first = sys
        .deliveries()
        .into_iter()
        .find(|d| d.key == "source/a.mp4")
        .unwrap();
    let outcome = first_outcome(&first);
    assert!(
        matches!(outcome, RecordOutcome::Started { .. }),
        "{outcome:?}"
    );
    let ev: vpf_core::event::OssEvent = serde_json::from_value(serde_json::json!({
        "events": [{
            "eventName": "ObjectCreated:PutObject",
            "eventSource": "acs:oss",
            "region": sys.region,
            "oss": {
                "bucket": {"name": sys.bucket, "arn": "", "ownerIdentity": ""},
                "object": {"key": "source/a.mp4", "eTag": req_etag(&rec), "size": 1}
            }
        }]
    }))
    .unwrap();
    let d = sys.replay(&ev).await;
    assert_eq!(d.len(), 1);
    let outcome = first_outcome(&d[0]);
    assert!(
        matches!(outcome, RecordOutcome::Duplicate { .. }),
        "{outcome:?}"
    );
    assert_eq!(sys.engine().unwrap().list().len(), 1);
    sys.shutdown().await;
}

fn req_etag(rec: &local_runner::flow::ExecutionRecord) -> String {
    request_of(rec).etag
}
