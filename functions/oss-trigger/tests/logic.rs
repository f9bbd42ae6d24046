//! The trigger's decisions over events, with an in-memory record of the calls
//! it makes (the real clients are exercised end to end in tests/ at the root).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use oss_trigger::{ObjectMeta, RecordOutcome, Services, Settings, handle};
use vpf_core::job::{Format, JobRequest, Profile};
use vpf_core::overrides::{Receipt, ReceiptOutcome, SettingSource};
use vpf_core::{Error, ErrorKind, Result};

#[derive(Default)]
struct Recorder {
    objects: HashSet<String>,
    /// Objects with a body, by key: (eTag, body).
    files: HashMap<String, (String, Vec<u8>)>,
    started: Mutex<Vec<(String, JobRequest)>>,
    written: Mutex<Vec<(String, Vec<u8>)>>,
    fail_start: bool,
    fail_read: bool,
}

impl Services for Recorder {
    async fn head(&self, _bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        let meta = |etag: &str, size: usize| ObjectMeta {
            key: key.to_string(),
            size: size as u64,
            etag: etag.to_string(),
            content_type: None,
            last_modified: None,
        };
        Ok(match self.files.get(key) {
            Some((etag, body)) => Some(meta(etag, body.len())),
            None => self.objects.contains(key).then(|| meta("V", 1)),
        })
    }
    async fn read(&self, _bucket: &str, key: &str, len: u64) -> Result<Vec<u8>> {
        if self.fail_read {
            return Err(Error::storage("OSS answered 503"));
        }
        let body = self.files.get(key).map(|f| f.1.clone()).unwrap_or_default();
        Ok(body.into_iter().take(len as usize).collect())
    }
    async fn put_json(&self, _bucket: &str, key: &str, body: Vec<u8>) -> Result<()> {
        self.written.lock().unwrap().push((key.to_string(), body));
        Ok(())
    }
    async fn start(&self, execution: &str, input: &JobRequest) -> Result<bool> {
        if self.fail_start {
            return Err(Error::new(ErrorKind::ServiceError, "throttled"));
        }
        let mut s = self.started.lock().unwrap();
        if s.iter().any(|(e, _)| e == execution) {
            return Ok(false);
        }
        s.push((execution.to_string(), input.clone()));
        Ok(true)
    }
}

fn settings() -> Settings {
    Settings {
        flow_name: "video-process-flow".into(),
        flow_endpoint: None,
        oss_endpoint: None,
        input_prefix: "source/".into(),
        input_extensions: vpf_core::config::parse_extensions("mp4, mov, mkv").unwrap(),
        output_prefix: "dest".into(),
        segment_seconds: 10.0,
        max_pieces: 100,
        formats: vec![Format::Mp4, Format::Hls],
        profile: Profile::default(),
        sources: [("formats".to_string(), SettingSource::Env)].into(),
    }
}

fn record(name: &str, key: &str, etag: &str) -> serde_json::Value {
    let mut ev: serde_json::Value =
        serde_json::from_str(include_str!("../../../fixtures/oss-event.example.json")).unwrap();
    let r = ev["events"][0].take();
    let mut r = r;
    r["eventName"] = name.into();
    r["oss"]["object"]["key"] = key.into();
    r["oss"]["object"]["eTag"] = etag.into();
    r
}

fn event(records: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "events": records })).unwrap()
}

#[tokio::test]
async fn every_record_is_handled_and_skips_say_why() {
    let svc = Recorder::default();
    let ev = event(vec![
        record("ObjectCreated:PutObject", "source/a.mp4", "E1"),
        record(
            "ObjectCreated:CompleteMultipartUpload",
            "source/shows/b.mp4",
            "E2",
        ),
        record("ObjectRemoved:DeleteObject", "source/c.mp4", "E3"),
        record("ObjectCreated:PutObject", "other/d.mp4", "E4"),
        record("ObjectCreated:PutObject", "source/e.txt", "E5"),
        record("ObjectCreated:PutObject", "dest/a/a.mp4", "E6"),
        record("ObjectCreated:PutObject", "source/../etc/x.mp4", "E7"),
        record("ObjectCreated:PutObject", "source/a.MOV", "E8"),
        record("ObjectCreated:PutObject", "source/a.mov", "E9"),
    ]);
    let out = handle(&ev, &settings(), &svc).await.unwrap();
    assert_eq!(out.records.len(), 9);
    let started = svc.started.lock().unwrap();
    assert_eq!(started.len(), 4);
    assert_eq!(started[0].1.key, "source/a.mp4");
    assert_eq!(started[0].1.output_base, "dest/a.mp4");
    assert_eq!(started[1].1.output_base, "dest/shows/b.mp4");
    assert_eq!(started[1].1.formats, vec![Format::Mp4, Format::Hls]);
    // Upper-case extensions start jobs; a.mp4, a.MOV and a.mov never share outputs.
    assert_eq!(started[2].1.output_base, "dest/a.MOV");
    assert_eq!(started[3].1.output_base, "dest/a.mov");
    assert_eq!(
        started.iter().map(|s| &s.1.stem).collect::<Vec<_>>(),
        ["a", "b", "a", "a"]
    );
    let reasons: Vec<String> = out
        .records
        .iter()
        .filter_map(|r| match r {
            RecordOutcome::Skipped { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 5);
    assert!(reasons[0].contains("not an ObjectCreated"));
    assert!(
        reasons[1].contains("outside the trigger prefix"),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[2].contains("extension .txt is not a video extension"),
        "{}",
        reasons[2]
    );
    assert!(reasons[3].contains("loop guard"), "{}", reasons[3]);
    assert!(reasons[4].contains("'..'"), "{}", reasons[4]);
}

#[tokio::test]
async fn redelivery_is_a_duplicate_and_new_etag_is_a_new_job() {
    let svc = Recorder::default();
    let s = settings();
    let ev = event(vec![record(
        "ObjectCreated:PutObject",
        "source/a.mp4",
        "E1",
    )]);
    let first = handle(&ev, &s, &svc).await.unwrap();
    let again = handle(&ev, &s, &svc).await.unwrap();
    let (
        RecordOutcome::Started { execution: e1, .. },
        RecordOutcome::Duplicate { execution: e2, .. },
    ) = (&first.records[0], &again.records[0])
    else {
        panic!("{first:?} {again:?}");
    };
    assert_eq!(e1, e2);
    let ev2 = event(vec![record(
        "ObjectCreated:PutObject",
        "source/a.mp4",
        "E2",
    )]);
    let third = handle(&ev2, &s, &svc).await.unwrap();
    assert!(matches!(third.records[0], RecordOutcome::Started { .. }));
    assert_eq!(svc.started.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn encoded_keys_resolve_to_the_existing_object() {
    let mut svc = Recorder::default();
    svc.objects.insert("source/my clip+1.mp4".into());
    let ev = event(vec![record(
        "ObjectCreated:PutObject",
        "source/my%20clip%2B1.mp4",
        "E1",
    )]);
    let out = handle(&ev, &settings(), &svc).await.unwrap();
    assert!(
        matches!(&out.records[0], RecordOutcome::Started { key, .. } if key == "source/my clip+1.mp4")
    );
    // Neither form exists: skipped, not failed.
    let svc = Recorder::default();
    let out = handle(&ev, &settings(), &svc).await.unwrap();
    assert!(
        matches!(&out.records[0], RecordOutcome::Skipped { reason, .. } if reason.contains("no longer exists"))
    );
}

#[tokio::test]
async fn bad_events_and_transient_failures_are_errors() {
    let svc = Recorder::default();
    let e = handle(b"{\"Records\": []}", &settings(), &svc)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let failing = Recorder {
        fail_start: true,
        ..Default::default()
    };
    let ev = event(vec![record(
        "ObjectCreated:PutObject",
        "source/a.mp4",
        "E1",
    )]);
    let e = handle(&ev, &settings(), &failing).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ServiceError);
}

/// An event with more records than one OSS event holds starts nothing; one
/// at the cap starts every execution.
#[tokio::test]
async fn an_event_with_too_many_records_starts_nothing() {
    let svc = Recorder::default();
    let many = |n: usize| {
        event(
            (0..n)
                .map(|i| record("ObjectCreated:PutObject", &format!("source/{i}.mp4"), "E1"))
                .collect(),
        )
    };
    let e = handle(&many(oss_trigger::MAX_RECORDS + 1), &settings(), &svc)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("records"), "{e}");
    assert!(svc.started.lock().unwrap().is_empty());
    let out = handle(&many(oss_trigger::MAX_RECORDS), &settings(), &svc)
        .await
        .unwrap();
    assert_eq!(out.records.len(), oss_trigger::MAX_RECORDS);
    assert_eq!(svc.started.lock().unwrap().len(), oss_trigger::MAX_RECORDS);
}

#[test]
fn settings_refuse_an_output_prefix_that_would_loop() {
    let mut s = settings();
    s.input_prefix = "".into();
    assert!(s.validate().is_err());
    // An output is an .mp4 itself: no extension list can guard the loop.
    let mut s = settings();
    s.input_prefix = "de".into();
    assert!(s.validate().is_err());
    let mut s = settings();
    s.input_prefix = "media/".into();
    s.output_prefix = "media/out".into();
    assert!(s.validate().is_err());
    let mut s = settings();
    s.output_prefix = "/".into();
    assert!(s.validate().is_err());
    assert!(settings().validate().is_ok());
}

impl Recorder {
    fn with_job_file(mut self, key: &str, etag: &str, body: &str) -> Recorder {
        self.files
            .insert(key.into(), (etag.into(), body.as_bytes().to_vec()));
        self
    }

    fn receipts(&self) -> Vec<(String, Receipt)> {
        let w = self.written.lock().unwrap();
        w.iter()
            .map(|(k, b)| (k.clone(), serde_json::from_slice(b).unwrap()))
            .collect()
    }
}

fn created(key: &str, etag: &str) -> Vec<u8> {
    event(vec![record("ObjectCreated:PutObject", key, etag)])
}

#[tokio::test]
async fn a_job_file_starts_its_video_job_once_with_its_settings() {
    let mut svc = Recorder::default().with_job_file(
        "source/jobs/a.json",
        "J1",
        r#"{"source": "source/shows/a.mp4", "formats": ["mp4", "gif"], "crf": 30,
            "webhookUrl": "https://hooks.example.com/a"}"#,
    );
    svc.objects.insert("source/shows/a.mp4".into());
    let s = settings();
    let out = handle(&created("source/jobs/a.json", "J1"), &s, &svc)
        .await
        .unwrap();
    let RecordOutcome::Started { key, execution } = &out.records[0] else {
        panic!("{out:?}");
    };
    assert_eq!(key, "source/jobs/a.json");
    let started = svc.started.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    let req = &started[0].1;
    assert_eq!(&req.job_id, execution);
    // The video's job, in the video's output folder, with the file's settings.
    assert_eq!(req.key, "source/shows/a.mp4");
    assert_eq!(req.etag, "V");
    assert_eq!(req.output_base, "dest/shows/a.mp4");
    assert_eq!(req.formats, [Format::Mp4, Format::Gif]);
    assert_eq!(req.profile.crf, 30);
    assert_eq!(req.profile.preset, "veryfast");
    assert_eq!(
        req.webhook_url.as_deref(),
        Some("https://hooks.example.com/a")
    );
    let file = SettingSource::JobFile("source/jobs/a.json".into());
    assert_eq!(req.sources["formats"], file);
    assert_eq!(req.sources["crf"], file);
    assert_eq!(req.sources["webhookUrl"], file);
    assert!(!req.sources.contains_key("preset"));
    // Not the id the video's own upload gets: both jobs run.
    assert_ne!(
        execution,
        &s.request(&started[0].1.bucket, "source/shows/a.mp4", "V", 1)
            .unwrap()
            .job_id
    );
    let receipts = svc.receipts();
    assert_eq!(receipts[0].0, "dest/jobs/a.json/receipt.json");
    assert_eq!(receipts[0].1.outcome, ReceiptOutcome::Started);
    assert_eq!(receipts[0].1.execution.as_ref(), Some(execution));
    assert_eq!(
        receipts[0].1.manifest_key.as_deref(),
        Some("dest/shows/a.mp4/manifest.json")
    );

    // The same file again: the same execution, refused as existing.
    let again = handle(&created("source/jobs/a.json", "J1"), &s, &svc)
        .await
        .unwrap();
    assert!(
        matches!(&again.records[0], RecordOutcome::Duplicate { execution: e, .. } if e == execution),
        "{again:?}"
    );
    assert_eq!(svc.started.lock().unwrap().len(), 1);
    assert_eq!(svc.receipts()[1].1.outcome, ReceiptOutcome::Duplicate);

    // A changed file (new eTag) is a new job.
    svc.files.get_mut("source/jobs/a.json").unwrap().0 = "J2".into();
    let changed = handle(&created("source/jobs/a.json", "J2"), &s, &svc)
        .await
        .unwrap();
    assert!(
        matches!(&changed.records[0], RecordOutcome::Started { execution: e, .. } if e != execution)
    );
    assert_eq!(svc.started.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_video_upload_keeps_the_defaults_and_records_their_sources() {
    let svc = Recorder::default();
    handle(&created("source/a.mp4", "E1"), &settings(), &svc)
        .await
        .unwrap();
    let started = svc.started.lock().unwrap();
    let req = &started[0].1;
    assert_eq!(req.webhook_url, None);
    assert_eq!(req.profile, Profile::default());
    assert_eq!(
        req.sources,
        [("formats".to_string(), SettingSource::Env)].into()
    );
    assert!(svc.written.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_job_file_with_a_mistake_starts_nothing_and_says_why() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{"source": "source/a.mp4", "colour": "red"}"#,
            &["unknown field `colour`"],
        ),
        (
            r#"{"source": "source/a.mp4", "crf": "30"}"#,
            &["field crf", "invalid type"],
        ),
        (
            r#"{"source": "source/a.mp4", "formats": ["webm"]}"#,
            &["webm", "gif"],
        ),
        (
            r#"{"source": "source/a.mp4", "crf": 99}"#,
            &["crf 99", "0-51"],
        ),
        (
            r#"{"source": "source/gone.mp4"}"#,
            &["no object \"source/gone.mp4\"", "upload the video first"],
        ),
        (
            r#"{"source": "other/a.mp4"}"#,
            &["field source", "outside the trigger prefix"],
        ),
        (
            r#"{"source": "dest/a.mp4/a.mp4"}"#,
            &["field source", "loop guard"],
        ),
        (
            r#"{"source": "source/b.json"}"#,
            &["field source", "a job file, not a video"],
        ),
        (
            r#"{"source": "source/a.txt"}"#,
            &["field source", "extension .txt"],
        ),
        (
            r#"{"source": "source/../x.mp4"}"#,
            &["field source", "'..'"],
        ),
        ("not json", &["not a JSON object"]),
        ("", &["empty"]),
    ];
    for (body, words) in cases {
        let mut svc = Recorder::default().with_job_file("source/jobs/bad.JSON", "J1", body);
        svc.objects.insert("source/a.mp4".into());
        svc.objects.insert("source/b.json".into());
        let out = handle(&created("source/jobs/bad.JSON", "J1"), &settings(), &svc)
            .await
            .unwrap();
        let RecordOutcome::Rejected { key, error } = &out.records[0] else {
            panic!("{body}: {out:?}");
        };
        assert_eq!(key, "source/jobs/bad.JSON");
        assert!(
            error.starts_with("job file source/jobs/bad.JSON: "),
            "{error}"
        );
        for w in *words {
            assert!(error.contains(w), "{body}: {error:?} lacks {w:?}");
        }
        assert!(svc.started.lock().unwrap().is_empty(), "{body}");
        // The only write: the receipt with the same error, outside the trigger prefix.
        let receipts = svc.receipts();
        assert_eq!(receipts.len(), 1);
        assert_eq!(receipts[0].0, "dest/jobs/bad.JSON/receipt.json");
        assert_eq!(receipts[0].1.outcome, ReceiptOutcome::Rejected);
        assert_eq!(receipts[0].1.error.as_ref(), Some(error));
        assert_eq!(receipts[0].1.execution, None);
        assert!(oss_trigger::classify(&receipts[0].0, &settings()).is_err());
    }
}

#[tokio::test]
async fn a_large_job_file_is_not_read_and_a_failed_read_is_retried() {
    let big = format!(
        r#"{{"source": "source/a.mp4", "preset": "{}"}}"#,
        "x".repeat(70_000)
    );
    let mut svc = Recorder {
        fail_read: true,
        ..Default::default()
    }
    .with_job_file("source/big.json", "J1", &big);
    svc.objects.insert("source/a.mp4".into());
    let out = handle(&created("source/big.json", "J1"), &settings(), &svc)
        .await
        .unwrap();
    assert!(
        matches!(&out.records[0], RecordOutcome::Rejected { error, .. } if error.contains("at most 65536")),
        "{out:?}"
    );
    // Small enough, but OSS fails: the call fails and FC delivers it again.
    let svc = Recorder {
        fail_read: true,
        ..Default::default()
    }
    .with_job_file("source/a.json", "J1", r#"{"source": "source/a.mp4"}"#);
    let e = handle(&created("source/a.json", "J1"), &settings(), &svc)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::StorageError);
    assert!(svc.written.lock().unwrap().is_empty());
}
