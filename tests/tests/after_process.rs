//! after-process on its own: manifest, webhook retries, NAS cleanup on both
//! paths, against the OSS emulator over real HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use after_process::{Settings, Webhook, handle};
use axum::http::StatusCode;
use vpf_core::job::{
    AfterProcessInput, FlowError, Format, JobRequest, JobStatus, Manifest, MergeOutput,
    OutputObject, Profile,
};
use vpf_core::nas::JobDir;
use vpf_core::overrides::SettingSource;
use vpf_oss::{ObjectStore, OssClient};

fn request() -> JobRequest {
    JobRequest {
        job_id: "v-a-0123".into(),
        bucket: "media".into(),
        key: "source/a.mp4".into(),
        etag: "E".into(),
        size: 10,
        output_base: "dest/a".into(),
        stem: "a".into(),
        formats: vec![Format::Mp4],
        segment_seconds: 10.0,
        max_pieces: 100,
        profile: Profile::default(),
        webhook_url: None,
        sources: Default::default(),
    }
}

/// A webhook that answers 503 `fail_first` times, then 200; counts calls.
async fn webhook(fail_first: u32) -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let c = c.clone();
            async move {
                let n = c.fetch_add(1, Ordering::SeqCst);
                assert!(
                    serde_json::from_str::<Manifest>(&body).is_ok(),
                    "the webhook gets the manifest"
                );
                if n < fail_first {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, calls)
}

/// The manifest after-process wrote for [`request`].
async fn written_manifest(client: &OssClient, tmp: &std::path::Path) -> Manifest {
    let p = tmp.join("manifest.json");
    client
        .get_to_file("media", "dest/a/manifest.json", &p)
        .await
        .unwrap();
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn settings(nas: &std::path::Path, hook: Option<String>) -> Settings {
    Settings {
        nas_mount: nas.to_path_buf(),
        oss_endpoint: None,
        cost: None,
        webhook: hook.map(|url| Webhook {
            backoff: Duration::from_millis(20),
            ..Webhook::new(url)
        }),
    }
}

#[tokio::test]
async fn success_writes_the_manifest_notifies_and_cleans() {
    let (_oss, client, tmp) = vpf_tests::media_bucket().await;
    let nas = tmp.path().join("nas");
    let job = JobDir::new(&nas, "v-a-0123").unwrap();
    job.create().unwrap();
    job.record_step("split", 1.0).unwrap();
    job.record_step("transcode-00000", 2.0).unwrap();
    job.record_step("transcode-00001", 2.5).unwrap();
    let (url, calls) = webhook(2).await;
    let input = AfterProcessInput {
        request: request(),
        merge: Some(MergeOutput {
            job_id: "v-a-0123".into(),
            outputs: vec![OutputObject {
                format: Format::Mp4,
                key: "dest/a/a.mp4".into(),
                bytes: 1000,
                objects: 1,
                duration_seconds: Some(4.0),
                bitrate_kbps: Some(2.0),
                renditions: vec![],
                loudness_lufs: None,
            }],
        }),
        error: None,
    };
    let out = handle(
        input,
        &settings(&nas, Some(url)),
        &client,
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert_eq!(out.status, JobStatus::Succeeded);
    assert_eq!(out.webhook_delivered, Some(true));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "two refusals, then delivered"
    );
    assert!(out.nas_cleaned && !job.exists());
    let m = written_manifest(&client, tmp.path()).await;
    assert_eq!(m.status, JobStatus::Succeeded);
    assert_eq!(m.outputs.len(), 1);
    assert_eq!(m.steps[1].step, "transcode");
    assert_eq!(m.steps[1].invocations, 2);
    assert!(m.error.is_none());
}

#[tokio::test]
async fn failure_is_recorded_and_a_dead_webhook_does_not_fail_the_job() {
    let (_oss, client, tmp) = vpf_tests::media_bucket().await;
    let nas = tmp.path().join("nas");
    let job = JobDir::new(&nas, "v-a-0123").unwrap();
    job.create().unwrap();
    std::fs::write(job.piece(0), b"half a piece").unwrap();
    let (url, calls) = webhook(u32::MAX).await;
    let input = AfterProcessInput {
        request: request(),
        merge: None,
        error: Some(FlowError {
            error: "CorruptMedia".into(),
            cause: "moov atom not found".into(),
        }),
    };
    let out = handle(
        input,
        &settings(&nas, Some(url)),
        &client,
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert_eq!(out.status, JobStatus::Failed);
    assert_eq!(out.webhook_delivered, Some(false));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(!job.exists(), "the failure path cleans NAS too");
    let keys: Vec<_> = client
        .list("media", "")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(keys, ["dest/a/manifest.json"]);
}

#[tokio::test]
async fn a_job_id_that_would_escape_is_refused_before_anything_is_removed() {
    let (_oss, client, tmp) = vpf_tests::media_bucket().await;
    let nas = tmp.path().join("nas");
    std::fs::create_dir_all(nas.join("keep")).unwrap();
    let mut req = request();
    req.job_id = "../keep".into();
    let input = AfterProcessInput {
        request: req,
        merge: None,
        error: None,
    };
    let e = handle(
        input,
        &settings(&nas, None),
        &client,
        &reqwest::Client::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, vpf_core::ErrorKind::InvalidInput);
    assert!(nas.join("keep").is_dir());
}

#[tokio::test]
async fn a_jobs_own_webhook_replaces_webhook_url_and_the_manifest_says_where_settings_came_from() {
    let (_oss, client, tmp) = vpf_tests::media_bucket().await;
    let nas = tmp.path().join("nas");
    JobDir::new(&nas, "v-a-0123").unwrap().create().unwrap();
    let (env_url, env_calls) = webhook(0).await;
    let (own_url, own_calls) = webhook(0).await;
    let file = SettingSource::JobFile("source/a.json".into());
    let mut request = request();
    request.webhook_url = Some(own_url.clone());
    request.profile.crf = 30;
    request.sources = [
        ("webhookUrl".to_string(), file.clone()),
        ("crf".to_string(), file.clone()),
        ("formats".to_string(), SettingSource::Env),
    ]
    .into();
    let input = AfterProcessInput {
        request,
        merge: Some(MergeOutput {
            job_id: "v-a-0123".into(),
            outputs: vec![],
        }),
        error: None,
    };
    let out = handle(
        input,
        &settings(&nas, Some(env_url)),
        &client,
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert_eq!(out.webhook_delivered, Some(true));
    assert_eq!(own_calls.load(Ordering::SeqCst), 1, "the job's own webhook");
    assert_eq!(env_calls.load(Ordering::SeqCst), 0, "not WEBHOOK_URL");
    let m = written_manifest(&client, tmp.path()).await;
    assert_eq!(m.settings["crf"].value, 30);
    assert_eq!(m.settings["crf"].source, file);
    assert_eq!(m.settings["formats"].source, SettingSource::Env);
    assert_eq!(m.settings["preset"].source, SettingSource::Default);
    assert_eq!(m.settings["webhookUrl"].source, file);
    // Only the scheme and host: a webhook's path may hold its token.
    let shown = m.settings["webhookUrl"].value.as_str().unwrap();
    assert!(own_url.starts_with(shown.trim_end_matches('…')), "{shown}");
    assert!(!shown.contains("/hook"), "{shown}");

    // Without one of its own, the job's manifest goes to WEBHOOK_URL, and
    // the manifest says the webhook came from the environment.
    let job = JobDir::new(&nas, "v-a-0123").unwrap();
    job.create().unwrap();
    let (env_url, env_calls) = webhook(0).await;
    let plain = AfterProcessInput {
        request: self::request(),
        merge: None,
        error: Some(FlowError {
            error: "CorruptMedia".into(),
            cause: "x".into(),
        }),
    };
    handle(
        plain,
        &settings(&nas, Some(env_url)),
        &client,
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert_eq!(env_calls.load(Ordering::SeqCst), 1);
    let m = written_manifest(&client, tmp.path()).await;
    assert_eq!(m.settings["webhookUrl"].source, SettingSource::Env);
}
