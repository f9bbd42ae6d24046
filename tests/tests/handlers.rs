//! split and transcode called as plain functions (no HTTP), against the OSS
//! emulator and real ffmpeg: retries after a lost answer, and bad input.

use vpf_core::ErrorKind;
use vpf_core::job::{Cutting, Format, JobRequest, Profile, Track, TranscodeTask};
use vpf_core::nas::JobDir;
use vpf_media::Tools;
use vpf_media::testmedia::{Clip, SubFormat, Subs, Tone, TrackClip, truncated_copy, zero_bytes};
use vpf_oss::ObjectStore;
use vpf_tests::small_clip;

fn request(key: &str) -> JobRequest {
    JobRequest {
        job_id: vpf_core::keys::job_id("media", key, "E"),
        bucket: "media".into(),
        key: key.into(),
        etag: "E".into(),
        size: 1,
        output_base: "dest/x".into(),
        stem: "x".into(),
        formats: vec![Format::Mp4],
        segment_seconds: 1.0,
        max_pieces: 100,
        profile: Profile::default(),
        webhook_url: None,
        sources: Default::default(),
    }
}

/// What split and transcode read, with `nas` as the NAS mount.
fn settings(nas: &std::path::Path) -> vpf_media::StepSettings {
    vpf_media::StepSettings {
        nas_mount: nas.to_path_buf(),
        oss_endpoint: None,
        tools: Tools::from_env(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_transcode_answer_a_retry_from_finished_work() {
    let (oss, client, tmp) = vpf_tests::media_bucket().await;
    let src = tmp.path().join("a.mp4");
    Clip::new(320, 240)
        .seconds(3.0)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    client
        .put_file("media", "source/a.mp4", &src, None)
        .await
        .unwrap();
    let nas = tmp.path().join("nas");
    let ss = settings(&nas);
    let req = request("source/a.mp4");
    let first = split::handle(req.clone(), &ss, &client).await.unwrap();
    assert_eq!(first.pieces, 3);
    // The audio first, then the pieces in order.
    let tracks: Vec<(Track, u32)> = first.tasks.iter().map(|t| (t.track, t.index)).collect();
    assert_eq!(
        tracks,
        [
            (Track::Audio, 0),
            (Track::Video, 0),
            (Track::Video, 1),
            (Track::Video, 2)
        ]
    );
    // The answer was lost and the flow calls split again: same answer, no
    // second download (the source is gone from OSS, and it still works).
    client.delete("media", "source/a.mp4").await.unwrap();
    let again = split::handle(req.clone(), &ss, &client).await.unwrap();
    assert_eq!(again, first);

    let ts = settings(&nas);
    let job = JobDir::new(&nas, &req.job_id).unwrap();
    let task = first.tasks[2].clone();
    let out = transcode::handle(task.clone(), &ts).await.unwrap();
    assert_eq!((out.track, out.index), (Track::Video, 1));
    let modified = std::fs::metadata(job.encoded(1))
        .unwrap()
        .modified()
        .unwrap();
    let retry = transcode::handle(task, &ts).await.unwrap();
    assert_eq!(retry, out);
    assert_eq!(
        std::fs::metadata(job.encoded(1))
            .unwrap()
            .modified()
            .unwrap(),
        modified,
        "not encoded twice"
    );

    // The audio task encodes from the source split left on NAS, then
    // removes it; a retry answers from the encoded track.
    let source = job.source(&req.key);
    assert!(
        source.is_file(),
        "split keeps the source for the audio task"
    );
    let audio = transcode::handle(first.tasks[0].clone(), &ts)
        .await
        .unwrap();
    assert_eq!(audio.track, Track::Audio);
    assert!(job.audio().is_file() && audio.bytes > 0);
    assert!(
        !source.exists(),
        "the source is removed once the audio is encoded"
    );
    let retry = transcode::handle(first.tasks[0].clone(), &ts)
        .await
        .unwrap();
    assert_eq!(retry, audio);
    // Split answers a retry from the plan still: the audio is done.
    let again = split::handle(req.clone(), &ss, &client).await.unwrap();
    assert_eq!(again, first);

    // A piece the plan does not have.
    let e = transcode::handle(
        TranscodeTask {
            job_id: req.job_id.clone(),
            track: Track::Video,
            index: 9,
        },
        &ts,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_piece_job_encodes_its_audio_in_the_pieces_task() {
    let (_oss, client, tmp) = vpf_tests::media_bucket().await;
    let src = tmp.path().join("two-tracks.mp4");
    TrackClip::new(2.0)
        .tone(Tone::new("eng", 440).default_track())
        .tone(Tone::new("fra", 660))
        .subs(Subs::new(SubFormat::MovText, "eng", &[(0.2, 1.0, "hello")]))
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    client
        .put_file("media", "source/short.mp4", &src, None)
        .await
        .unwrap();
    let nas = tmp.path().join("nas");
    let ss = settings(&nas);
    let req = JobRequest {
        segment_seconds: 30.0,
        ..request("source/short.mp4")
    };
    let split = split::handle(req.clone(), &ss, &client).await.unwrap();
    let tracks: Vec<(Track, u32)> = split.tasks.iter().map(|t| (t.track, t.index)).collect();
    assert_eq!(
        tracks,
        [(Track::Subtitles, 0), (Track::Video, 0)],
        "no audio tasks of their own"
    );

    let ts = settings(&nas);
    let job = JobDir::new(&nas, &req.job_id).unwrap();
    // Nothing was cut: the one piece is the source, read in place.
    let plan = job.read_plan().unwrap();
    assert_eq!(plan.cutting, Cutting::Uncut);
    assert_eq!(job.piece_input(&plan, 0), job.source(&req.key));
    assert_eq!(std::fs::read_dir(job.pieces_dir()).unwrap().count(), 0);
    // The subtitles task finishing first leaves the source to the piece.
    transcode::handle(split.tasks[0].clone(), &ts)
        .await
        .unwrap();
    assert!(
        job.source(&req.key).is_file(),
        "the source stays until the piece read from it is encoded"
    );
    // A retry of split answers from the plan: the uncut piece is ready.
    let again = split::handle(req.clone(), &ss, &client).await.unwrap();
    assert_eq!(again, split);
    let out = transcode::handle(split.tasks[1].clone(), &ts)
        .await
        .unwrap();
    assert_eq!((out.track, out.index), (Track::Video, 0));
    for n in 0..2 {
        assert!(job.audio_track(n).is_file(), "audio track {n} encoded");
    }
    assert!(job.encoded(0).is_file());
    assert!(
        !job.source(&req.key).exists(),
        "the source is removed once everything is taken from it"
    );
    // A retry after a lost answer finds everything done.
    let retry = transcode::handle(split.tasks[1].clone(), &ts)
        .await
        .unwrap();
    assert_eq!(retry, out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sources_fail_with_their_kind_and_leave_no_job_folder() {
    let (oss, client, tmp) = vpf_tests::media_bucket().await;
    let good = tmp.path().join("good.mp4");
    small_clip(&good, true).await;
    let empty = tmp.path().join("empty.mp4");
    zero_bytes(&empty).unwrap();
    let cut = tmp.path().join("cut.mp4");
    truncated_copy(&good, &cut, 0.5).unwrap();
    let nas = tmp.path().join("nas");
    let ss = settings(&nas);
    for (name, file) in [("empty.mp4", &empty), ("cut.mp4", &cut)] {
        let key = format!("source/{name}");
        client.put_file("media", &key, file, None).await.unwrap();
        let req = request(&key);
        let e = split::handle(req.clone(), &ss, &client).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::CorruptMedia, "{name}: {e}");
        assert!(
            !JobDir::new(&nas, &req.job_id).unwrap().exists(),
            "{name}: job folder left behind"
        );
    }
    // Missing object: NotFound, nothing left either.
    let req = request("source/never-uploaded.mp4");
    let e = split::handle(req.clone(), &ss, &client).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert!(!JobDir::new(&nas, &req.job_id).unwrap().exists());
    // A key that would escape: refused before any I/O.
    let mut req = request("source/a.mp4");
    req.key = "source/../../etc/passwd".into();
    assert_eq!(
        split::handle(req, &ss, &client).await.unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    oss.shutdown().await;
}
