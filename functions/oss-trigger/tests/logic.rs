//! The trigger's decisions over events, with an in-memory record of the calls
//! it makes (the real clients are exercised end to end in tests/ at the root).

use std::collections::HashSet;
use std::sync::Mutex;

use oss_trigger::{RecordOutcome, Services, Settings, handle};
use vpf_core::job::{Format, JobRequest, Profile};
use vpf_core::{Error, ErrorKind, Result};

#[derive(Default)]
struct Recorder {
    objects: HashSet<String>,
    started: Mutex<Vec<(String, JobRequest)>>,
    fail_start: bool,
}

impl Services for Recorder {
    async fn exists(&self, _bucket: &str, key: &str) -> Result<bool> {
        Ok(self.objects.contains(key))
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
