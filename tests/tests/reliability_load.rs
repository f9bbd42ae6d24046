//! Load: many uploads at once through the emulated OSS. Every execution
//! succeeds with verified outputs, concurrency stays within the configured
//! bounds, and nothing leaks (processes, file handles, NAS folders).
//!
//! Alone in its test binary: the file-handle count of this process must not
//! see another test's sockets.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use local_runner::flow::{ExecutionRecord, Status};
use vpf_media::Tools;
use vpf_media::testmedia::Clip;
use vpf_tests::fetch;
use vpf_tests::reliability::{Report, assert_no_process_left, eventually, open_fds};
use vpf_tests::{client, nas_jobs, probe, request_of, system};

/// The most Transcode tasks of one execution running at once, from its history.
fn map_overlap(rec: &ExecutionRecord) -> usize {
    let (mut now, mut peak) = (0usize, 0usize);
    let mut events: Vec<_> = rec.events.iter().collect();
    events.sort_by_key(|e| e.id);
    for e in events
        .into_iter()
        .filter(|e| e.state.ends_with(".Transcode"))
    {
        match e.kind.as_str() {
            "TaskScheduled" => {
                now += 1;
                peak = peak.max(now);
            }
            "TaskSucceeded" | "TaskFailed" => now = now.saturating_sub(1),
            _ => {}
        }
    }
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_uploads_at_once_all_succeed_within_bounds_and_leave_nothing_behind() {
    let mut report = Report::new("load");
    // 20 small uploads (about 20 s on 2 idle cores); RELIABILITY_UPLOADS changes it.
    let n: usize = match std::env::var("RELIABILITY_UPLOADS") {
        Ok(v) => v.parse().expect("RELIABILITY_UPLOADS is a number"),
        Err(_) => 20,
    };
    let tmp = tempfile::tempdir().unwrap();
    let tools = Tools::from_env();
    // Three contents (1, 2 and 3 pieces of 1 s), each under several keys.
    let mut clips = Vec::new();
    for secs in [1.0, 2.0, 3.0] {
        let p = tmp.path().join(format!("c{secs}.mp4"));
        Clip::new(160, 120)
            .seconds(secs)
            .write(&tools, &p)
            .await
            .unwrap();
        let frames = probe(&p).video_frames;
        clips.push((p, frames));
    }

    let fds_before = open_fds();
    let state = tmp.path().join("state");
    // Map may run 3 pieces of a job at once; FC at most 2 instances a function.
    let (map_cap, max_instances) = (3u32, 2usize);
    let sys = system(
        &state,
        &[("segmentSeconds", "1"), ("formats", "mp4")],
        |o| {
            o.max_concurrency = Some(map_cap);
            o.max_instances = max_instances;
        },
    )
    .await;
    let concurrency: BTreeMap<String, u32> = sys
        .deploy
        .functions()
        .unwrap()
        .into_iter()
        .map(|(_, f)| (f.function_name, f.instance_concurrency.unwrap_or(1)))
        .collect();

    let started = Instant::now();
    let uploads = (0..n).map(|i| {
        let (file, frames) = &clips[i % clips.len()];
        let sys = &sys;
        async move {
            let key = format!("source/load/clip{i:02}.mp4");
            let put = client(sys)
                .put_file(&sys.bucket, &key, file, None)
                .await
                .unwrap();
            let job = vpf_core::keys::job_id(&sys.bucket, &key, &put.etag);
            let rec = sys
                .wait_for_key(&key, &job, Duration::from_secs(900))
                .await
                .unwrap();
            (rec, *frames)
        }
    });
    let done = futures_util::future::join_all(uploads).await;
    let seconds = started.elapsed().as_secs_f64();

    let dl = tmp.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let mut widest_map = 0;
    for (rec, frames) in &done {
        assert_eq!(
            rec.status,
            Status::Succeeded,
            "{}: {:?}",
            rec.name,
            rec.error
        );
        let req = request_of(rec);
        let mp4 = fetch(&sys, &req.output_key(vpf_core::job::Format::Mp4), &dl).await;
        assert_eq!(probe(&mp4).video_frames, *frames, "{}", req.key);
        let overlap = map_overlap(rec);
        assert!(overlap <= map_cap as usize, "{}: {overlap}", rec.name);
        widest_map = widest_map.max(overlap);
    }
    assert_eq!(
        sys.engine().unwrap().list().len(),
        n,
        "one execution per upload"
    );
    // The bounds held, and were reached (the load was real).
    let mut peaks = Vec::new();
    for (f, per) in &concurrency {
        let peak = sys.fc.peak_in_flight(f);
        let bound = max_instances * *per as usize;
        assert!(peak <= bound, "{f}: {peak} calls at once, bound {bound}");
        assert!(
            sys.fc.instances_started(f) <= max_instances,
            "{f}: {} instances",
            sys.fc.instances_started(f)
        );
        // A call's slot is freed just after its answer reaches the flow:
        // wait for it rather than read it at the instant the flows finish.
        let idle = eventually(Duration::from_secs(5), || {
            (sys.fc.in_flight(f) == 0).then_some(())
        })
        .await;
        assert!(idle.is_some(), "{f}: calls still running");
        peaks.push(format!("{f} {peak}/{bound}"));
    }
    assert_eq!(sys.fc.peak_in_flight("vpf-transcode"), max_instances);
    assert!(widest_map >= 2, "no execution ran pieces in parallel");
    assert!(nas_jobs(&sys).is_empty(), "{:?}", nas_jobs(&sys));

    sys.shutdown().await;
    assert_no_process_left(&state).await;
    // Sockets and log files close as their tasks end.
    let fds = eventually(Duration::from_secs(10), || {
        (open_fds() <= fds_before).then_some(())
    })
    .await;
    assert!(
        fds.is_some(),
        "file handles: {} before, {} after",
        fds_before,
        open_fds()
    );
    report.row(
        &format!("{n} uploads at once (160x120, 1-3 s, 1 s pieces)"),
        "all succeed with verified outputs; within bounds; no leaked process, handle or NAS folder",
        format!(
            "{n}/{n} succeeded in {seconds:.1} s, frames = source; peak calls {}; widest Map {widest_map}/{map_cap}; 0 processes, fds {} -> {}, NAS empty",
            peaks.join(", "),
            fds_before,
            open_fds()
        ),
    );
    report.finish();
}
