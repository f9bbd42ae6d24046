//! The watermark through the whole system: the mark uploaded to the
//! emulated bucket, set by the s.yaml vars, laid over the video by the real
//! handlers, and found by its pixels in the MP4 and the HLS segments; a
//! mark that does not exist fails the job on its failure path, by name.

use std::path::{Path, PathBuf};

use local_runner::flow::Status;
use vpf_core::job::JobStatus;
use vpf_core::watermark::Placement;
use vpf_media::Tools;
use vpf_media::testmedia::{Clip, RgbFrame, solid_image};
use vpf_tests::{
    all_keys, client, failed_manifest, fetch, manifest, nas_jobs, request_of, scheduled, system,
    upload_and_wait,
};

async fn grey_clip(dir: &Path) -> PathBuf {
    let src = dir.join("grey.mp4");
    Clip::new(640, 360)
        .grey()
        .seconds(3.0)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    src
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mark_is_in_the_mp4_and_every_hls_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Tools::from_env();
    let src = grey_clip(tmp.path()).await;
    let mark = tmp.path().join("logo.png");
    solid_image(&t, &mark, "0xff00ff", (64, 32)).await.unwrap();
    let sys = system(
        &tmp.path().join("state"),
        &[
            ("segmentSeconds", "1"),
            ("formats", "mp4,hls"),
            ("watermarkKey", "marks/logo.png"),
            ("watermarkCorner", "top-left"),
            ("watermarkScale", "0.25"),
            ("watermarkMargin", "8px"),
        ],
        |_| {},
    )
    .await;
    client(&sys)
        .put_file(&sys.bucket, "marks/logo.png", &mark, None)
        .await
        .expect("mark uploaded");
    let rec = upload_and_wait(&sys, &src, "source/grey.mp4").await;
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    let req = request_of(&rec);
    let w = req
        .profile
        .watermark
        .as_ref()
        .expect("the job carries the mark");
    assert_eq!(w.key, "marks/logo.png");
    let m = manifest(&sys, &req.manifest_key(), tmp.path()).await;
    assert_eq!(m.status, JobStatus::Succeeded);
    // A quarter of 640 wide, the image's 2:1 shape, 8 pixels in.
    let want = Placement {
        x: 8,
        y: 8,
        width: 160,
        height: 80,
    };
    let grey = [128, 128, 128];
    let mp4 = fetch(&sys, "dest/grey.mp4/grey.mp4", tmp.path()).await;
    for at in [0.0, 1.2, 2.5] {
        let f = RgbFrame::decode(&t, &mp4, at).await.unwrap();
        f.check_mark(want, grey)
            .unwrap_or_else(|e| panic!("mp4 at {at} s: {e}"));
    }
    let segments: Vec<String> = all_keys(&sys)
        .await
        .into_iter()
        .filter(|k| k.starts_with("dest/grey.mp4/hls/") && k.ends_with(".ts"))
        .collect();
    assert!(!segments.is_empty());
    for key in &segments {
        let ts = fetch(&sys, key, tmp.path()).await;
        let f = RgbFrame::decode(&t, &ts, 0.0).await.unwrap();
        f.check_mark(want, grey)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    assert!(nas_jobs(&sys).is_empty(), "{:?}", nas_jobs(&sys));
    sys.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_mark_fails_the_job_by_name_before_any_encode() {
    let tmp = tempfile::tempdir().unwrap();
    let src = grey_clip(tmp.path()).await;
    let sys = system(
        &tmp.path().join("state"),
        &[("watermarkKey", "marks/missing.png")],
        |_| {},
    )
    .await;
    let rec = upload_and_wait(&sys, &src, "source/grey.mp4").await;
    let (m, err) = failed_manifest(&sys, &rec, tmp.path()).await;
    assert_eq!(err.error, "InvalidInput", "{}", err.cause);
    assert!(
        err.cause
            .contains("watermark oss://my-video-bucket/marks/missing.png does not exist"),
        "{}",
        err.cause
    );
    // Refused in split, once (no retry can make the mark appear), and
    // nothing was transcoded.
    assert_eq!(scheduled(&rec, "Split"), 1);
    assert!(
        m.steps.iter().all(|s| s.step != "transcode"),
        "{:?}",
        m.steps
    );
    assert!(nas_jobs(&sys).is_empty());
    assert_eq!(
        all_keys(&sys).await,
        ["dest/grey.mp4/manifest.json", "source/grey.mp4"]
    );
    sys.shutdown().await;
}
