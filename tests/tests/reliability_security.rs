//! Security at the system level: wrong keys, tampered and expired signatures
//! are refused (403); the temporary credentials handed to functions expire;
//! no credential or signature reaches a log; handlers refuse fields that
//! would escape the job folder. The unit-level cases of the OSS client and
//! emulator are in local-runner/tests/oss_client.rs
//! (`wrong_secret_and_unknown_key_get_403`,
//! `temporary_credentials_work_until_they_expire`,
//! `presigned_urls_and_virtual_host_style`,
//! `unsigned_tampered_and_escaping_requests_are_refused`).

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use local_runner::fc::Outcome;
use local_runner::flow::Status;
use serde_json::json;
use vpf_core::ErrorKind;
use vpf_core::credentials::Credentials;
use vpf_media::Tools;
use vpf_media::testmedia::Clip;
use vpf_oss::{OssClient, OssConfig};
use vpf_tests::reliability::{
    Report, SECRET_MARKERS, assert_no_process_left, files_leaking, leaks,
};
use vpf_tests::{all_keys, bin_dir, client, nas_jobs, repo_root, system, upload_and_wait};

fn client_as(sys: &local_runner::system::System, creds: Credentials) -> OssClient {
    OssClient::new(OssConfig::new(sys.oss.endpoint(), &sys.region, creds)).unwrap()
}

async fn small_clip(path: &Path) {
    Clip::new(160, 120)
        .seconds(1.0)
        .no_audio()
        .write(&Tools::from_env(), path)
        .await
        .unwrap();
}

fn needles(static_keys: &[Credentials], temporaries: &[Credentials]) -> Vec<String> {
    let mut n: Vec<String> = SECRET_MARKERS.iter().map(|s| s.to_string()).collect();
    for c in static_keys.iter().chain(temporaries) {
        n.push(c.access_key_secret.clone());
        if let Some(t) = &c.security_token {
            n.push(t.clone());
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_get_403_and_function_credentials_expire() {
    let mut report = Report::new("security-credentials");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("sec.mp4");
    small_clip(&src).await;
    let state = tmp.path().join("state");
    // Short-lived role credentials, so expiry fits in the 15 minutes of
    // clock skew a signature may have.
    let ttl = Duration::from_secs(600);
    let sys = system(&state, &[("formats", "mp4")], |o| o.credential_ttl = ttl).await;
    let good = sys.oss.credentials();

    // Wrong secret, unknown key id: refused, nothing stored, nothing triggered.
    let e = client_as(&sys, Credentials::new(&good.access_key_id, "wrong-secret"))
        .put_file(&sys.bucket, "source/intruder.mp4", &src, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::StorageError);
    assert!(e.message.contains("403 SignatureDoesNotMatch"), "{e}");
    assert!(!e.message.contains("wrong-secret"));
    let e = client_as(
        &sys,
        Credentials::new("LTAInobody", &good.access_key_secret),
    )
    .put_file(&sys.bucket, "source/intruder.mp4", &src, None)
    .await
    .unwrap_err();
    assert!(e.message.contains("403 InvalidAccessKeyId"), "{e}");
    assert!(all_keys(&sys).await.is_empty());
    assert!(sys.deliveries().is_empty(), "no event for a refused upload");
    report.row(
        "upload with a wrong secret / an unknown key id",
        "403, nothing stored, no job",
        "403 SignatureDoesNotMatch / 403 InvalidAccessKeyId; bucket empty; no delivery",
    );

    // A signed header changed on the way.
    let c = client(&sys);
    let mut h = HeaderMap::new();
    h.insert("x-oss-meta-owner", HeaderValue::from_static("alice"));
    let signed = c
        .signed_request(
            Method::PUT,
            &sys.bucket,
            Some("source/tampered.mp4"),
            &[],
            h,
            Bytes::from_static(b"data"),
        )
        .await
        .unwrap();
    let mut tampered = signed.try_clone().unwrap();
    tampered
        .headers_mut()
        .insert("x-oss-meta-owner", HeaderValue::from_static("mallory"));
    let r = c.http().execute(tampered).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("SignatureDoesNotMatch"));
    assert!(all_keys(&sys).await.is_empty());
    report.row(
        "signed request with a header changed after signing",
        "403, nothing stored",
        "403 SignatureDoesNotMatch; bucket empty",
    );

    // Job 1: functions run with temporary credentials issued per call.
    let rec1 = upload_and_wait(&sys, &src, "source/sec.mp4").await;
    assert_eq!(rec1.status, Status::Succeeded, "{:?}", rec1.error);
    let issued = sys.oss.keys().issued();
    // trigger, split, transcode, merge, after-process: one set per call.
    assert!(issued.len() >= 5, "{} credentials issued", issued.len());

    // A presigned URL works until it expires.
    let url = c
        .presign_url(
            Method::GET,
            &sys.bucket,
            "dest/sec.mp4/sec.mp4",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    sys.oss.advance_clock(Duration::from_secs(61));
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));
    report.row(
        "presigned GET URL (60 s) used after 61 s",
        "403",
        "200 before, 403 \"Request has expired\" after",
    );

    // The credentials the functions got work, then expire, at OSS and at
    // the workflow API alike.
    let flow_name = sys.engines.keys().next().unwrap().clone();
    for creds in &issued {
        assert!(
            client_as(&sys, creds.clone())
                .head_object(&sys.bucket, "source/sec.mp4")
                .await
                .unwrap()
                .is_some()
        );
    }
    let flow = |creds: &Credentials| {
        vpf_cloudflow::FlowClient::new(&sys.flow_endpoint, &sys.region, creds.clone()).unwrap()
    };
    flow(&issued[0])
        .describe_execution(&flow_name, &rec1.name)
        .await
        .unwrap();
    sys.oss.advance_clock(ttl);
    for creds in &issued {
        let e = client_as(&sys, creds.clone())
            .head_object(&sys.bucket, "source/sec.mp4")
            .await
            .unwrap_err();
        assert!(e.message.contains("403 SecurityTokenExpired"), "{e}");
    }
    let e = flow(&issued[0])
        .describe_execution(&flow_name, &rec1.name)
        .await
        .unwrap_err();
    assert!(e.message.contains("403"), "{e}");
    // New calls get new credentials: the system keeps working.
    let rec2 = upload_and_wait(&sys, &src, "source/sec2.mp4").await;
    assert_eq!(rec2.status, Status::Succeeded, "{:?}", rec2.error);
    let fresh = sys.oss.keys().issued().len() - issued.len();
    assert!(fresh >= 5, "{fresh}");
    report.row(
        "temporary credentials handed to functions, used after their TTL",
        "accepted before expiry, 403 after (OSS and workflow API); new calls get new ones",
        format!(
            "{} credentials: all accepted, then 403 SecurityTokenExpired (OSS) / 403 (workflow API); next job succeeded with {fresh} fresh ones",
            issued.len()
        ),
    );

    // No secret, token or signature in any function log or execution history.
    let all_issued = sys.oss.keys().issued();
    let n = needles(&sys.oss.static_keys(), &all_issued);
    let hits = files_leaking(&state.join("logs"), &n);
    assert!(hits.is_empty(), "leaked into logs: {hits:?}");
    let hits = files_leaking(&state.join("executions"), &n);
    assert!(hits.is_empty(), "leaked into execution histories: {hits:?}");
    assert!(
        std::fs::read_dir(state.join("logs")).unwrap().count() >= 5,
        "every function wrote a log"
    );
    report.row(
        "grep of every function log and execution history",
        "no secret, token or signature",
        format!(
            "{} secrets/tokens and {} markers searched: none found",
            n.len() - SECRET_MARKERS.len(),
            SECRET_MARKERS.len()
        ),
    );
    sys.shutdown().await;
    report.finish();
}

fn function_error(o: Outcome) -> (String, String) {
    match o {
        Outcome::FunctionError(e) => (e.error_type.unwrap_or_default(), e.error_message),
        other => panic!("expected a function error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_refuse_fields_that_would_escape_the_job_folder() {
    let mut report = Report::new("security-escape");
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let sys = system(&state, &[("formats", "mp4")], |_| {}).await;
    // What `jobs/../x` and `jobs/../../x` would name, with a file each: a
    // handler that followed the id would read, write or remove them.
    let nas = state.join("nas/mnt_auto");
    for d in [nas.join("x"), state.join("nas/x")] {
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("keep.txt"), b"keep").unwrap();
    }
    let request = |job: &str, key: &str, base: &str| {
        json!({
            "jobId": job, "bucket": sys.bucket, "key": key, "etag": "E", "size": 1,
            "outputBase": base, "stem": "x", "formats": ["mp4"], "segmentSeconds": 1
        })
    };
    let ok_job = "v-x-0123456789abcdef01234567";
    let cases: Vec<(&str, &str, serde_json::Value)> = vec![
        (
            "vpf-split",
            "jobId ../x",
            request("../x", "source/x.mp4", "dest/x"),
        ),
        (
            "vpf-split",
            "key source/../../etc/passwd",
            request(ok_job, "source/../../etc/passwd", "dest/x"),
        ),
        (
            "vpf-split",
            "outputBase dest/../../x",
            request(ok_job, "source/x.mp4", "dest/../../x"),
        ),
        (
            "vpf-transcode",
            "jobId ../x",
            json!({"jobId": "../x", "index": 0}),
        ),
        (
            "vpf-merge",
            "jobId ../../x",
            json!({"jobId": "../../x", "tasks": []}),
        ),
        (
            "vpf-after-process",
            "jobId ../x (failure path)",
            json!({"request": request("../x", "source/x.mp4", "dest/x"),
                   "error": {"Error": "CorruptMedia", "Cause": "c"}}),
        ),
        (
            "vpf-after-process",
            "jobId .. (success path)",
            json!({"request": request("..", "source/x.mp4", "dest/x"),
                   "merge": {"jobId": "..", "outputs": []}}),
        ),
    ];
    let mut refused = Vec::new();
    for (function, field, event) in &cases {
        let (t, m) = function_error(
            sys.fc
                .invoke(function, &serde_json::to_vec(event).unwrap())
                .await,
        );
        assert_eq!(t, "InvalidInput", "{function} {field}: {m}");
        refused.push(format!("{function} ({field})"));
    }
    for d in [nas.join("x"), state.join("nas/x")] {
        assert_eq!(std::fs::read(d.join("keep.txt")).unwrap(), b"keep");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1, "{}", d.display());
    }
    assert!(nas_jobs(&sys).is_empty());
    assert!(
        all_keys(&sys).await.is_empty(),
        "no manifest written anywhere"
    );
    report.row(
        "job id / key / output base with ../ sent straight to each handler",
        "InvalidInput; nothing read, written or removed outside the job folder",
        format!(
            "{} calls refused with InvalidInput; files beside jobs/ untouched; no object written",
            refused.len()
        ),
    );
    sys.shutdown().await;
    report.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_of_a_whole_run_hold_no_secret_and_ctrl_c_stops_everything() {
    let mut report = Report::new("security-logs");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("logged.mp4");
    small_clip(&src).await;
    let state = tmp.path().join("state");
    let stderr_path = tmp.path().join("runner.stderr");
    // The most verbose logs, runner and functions alike.
    let mut up = Command::new(bin_dir().join("local-runner"))
        .current_dir(repo_root())
        .env("VPF_BIN_DIR", bin_dir())
        .env("RUNNER_LOG", "debug")
        .env("RUST_LOG", "debug")
        .arg("--state-dir")
        .arg(&state)
        .args(["up", "--json", "--oss-port", "0", "--flow-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(up.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let secret = info["accessKeySecret"].as_str().unwrap().to_string();
    let creds = Credentials::new(info["accessKeyId"].as_str().unwrap(), &secret);
    let endpoint = info["ossEndpoint"].as_str().unwrap();
    let region = info["region"].as_str().unwrap();
    let bucket = info["bucket"].as_str().unwrap();
    let c = OssClient::new(OssConfig::new(endpoint, region, creds.clone())).unwrap();

    c.put_file(bucket, "source/logged.mp4", &src, None)
        .await
        .unwrap();
    // A refused signature and presigned URLs, so the emulator's debug logs
    // of signature checks are exercised too.
    let wrong = OssClient::new(OssConfig::new(
        endpoint,
        region,
        Credentials::new(&creds.access_key_id, "wrong"),
    ))
    .unwrap();
    assert!(
        wrong
            .head_object(bucket, "source/logged.mp4")
            .await
            .is_err()
    );
    let url = c
        .presign_url(
            Method::GET,
            bucket,
            "source/logged.mp4",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let bad = url.replace("x-oss-expires=60", "x-oss-expires=61");
    assert_eq!(http.get(&bad).send().await.unwrap().status(), 403);
    let mut manifest = None;
    for _ in 0..1500 {
        if c.head_object(bucket, "dest/logged.mp4/manifest.json")
            .await
            .unwrap()
            .is_some()
        {
            manifest = Some(());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(manifest.is_some(), "the job never wrote its manifest");
    // The presigned signature itself, as a value that must not be logged.
    let signature = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("x-oss-signature="))
        .unwrap()
        .to_string();

    // Ctrl-C: `up` stops every instance and exits 0.
    // SAFETY: kill has no memory effects.
    unsafe {
        libc::kill(up.id() as i32, libc::SIGINT);
    }
    let status = tokio::task::spawn_blocking(move || up.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_no_process_left(&state).await;

    let mut n: Vec<String> = SECRET_MARKERS.iter().map(|s| s.to_string()).collect();
    n.push(secret.clone());
    n.push(signature);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(stderr.contains("DEBUG"), "debug logging was on");
    let logs = state.join("logs");
    let log_text: String = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(log_text.contains("DEBUG"), "function debug logs were on");
    assert!(
        log_text.contains("FC Invoke Start RequestId"),
        "the functions logged their calls"
    );
    let in_stderr = leaks(&stderr, &n);
    assert!(in_stderr.is_empty(), "runner stderr leaks {in_stderr:?}");
    let in_logs = files_leaking(&logs, &n);
    assert!(in_logs.is_empty(), "function logs leak {in_logs:?}");
    let in_histories = files_leaking(&state.join("executions"), &n);
    assert!(in_histories.is_empty(), "{in_histories:?}");
    report.row(
        "`local-runner up` at debug level (RUST_LOG and RUNNER_LOG), a job, a wrong secret, presigned URLs, then Ctrl-C",
        "no secret, token or signature in the runner's stderr or any function log; Ctrl-C leaves no process",
        format!(
            "{} kB of stderr and {} kB of function logs: none of the static secret, the presigned signature or {} markers; exit 0, 0 processes left",
            stderr.len() / 1024,
            log_text.len() / 1024,
            SECRET_MARKERS.len()
        ),
    );
    report.finish();
}
