//! The manifest's cost through the local runner: real handler processes
//! record each invocation on NAS, after-process prices them with the sizes
//! s.yaml deploys. Checked against FC 3.0's formula written out here, from
//! the props of s.yaml as the runner read them.

use std::collections::BTreeMap;

use local_runner::flow::Status;
use local_runner::system::System;
use vpf_core::cost::JobCost;
use vpf_core::job::JobStatus;
use vpf_media::Tools;
use vpf_media::testmedia::{Clip, random_bytes};
use vpf_tests::manifest;
use vpf_tests::{nas_jobs, request_of, system, upload_and_wait};

/// (vCPU, memory MB, disk MB) of every function, by s.yaml resource name.
fn deployed_sizes(sys: &System) -> BTreeMap<String, (f64, u32, u32)> {
    sys.deploy
        .functions()
        .unwrap()
        .into_iter()
        .map(|(name, p)| {
            (
                name,
                (
                    p.cpu.expect("cpu in s.yaml"),
                    p.memory_size.expect("memorySize in s.yaml"),
                    p.disk_size.expect("diskSize in s.yaml"),
                ),
            )
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Every line's CU is FC 3.0's formula over the deployed size and its
/// seconds, its amount the CU at s.yaml's price; the total sums the lines.
fn check_arithmetic(cost: &JobCost, sys: &System) {
    let sizes = deployed_sizes(sys);
    let price: f64 = sys.deploy.vars["cuPrice"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(cost.cu_price, price);
    assert_eq!(cost.currency, sys.deploy.vars["currency"].as_str().unwrap());
    let (mut n, mut seconds, mut cu, mut amount) = (0, 0.0, 0.0, 0.0);
    for line in &cost.steps {
        let name = line.function.as_str();
        let (vcpu, memory_mb, disk_mb) = sizes[name];
        assert_eq!(
            (line.size.vcpu, line.size.memory_mb, line.size.disk_mb),
            (vcpu, memory_mb, disk_mb),
            "{name}: the size priced is the size s.yaml deploys"
        );
        let u = &line.usage;
        let memory_gb = f64::from(memory_mb) / 1024.0;
        let billed_disk_gb = (f64::from(disk_mb) - 512.0).max(0.0) / 1024.0;
        let expected = f64::from(u.invocations) * 75.0 / 10_000.0
            + u.seconds * vcpu * 1.0
            + u.seconds * memory_gb * 0.15
            + u.seconds * billed_disk_gb * 0.05;
        assert!(
            close(u.cu, expected),
            "{name}: {} CU, formula {expected}",
            u.cu
        );
        assert!(close(u.vcpu_seconds, u.seconds * vcpu), "{name}");
        assert!(close(u.memory_gb_seconds, u.seconds * memory_gb), "{name}");
        assert!(
            close(u.disk_gb_seconds, u.seconds * billed_disk_gb),
            "{name}"
        );
        assert!(close(u.amount, u.cu * price), "{name}");
        assert!(u.seconds > 0.0, "{name}: a recorded invocation takes time");
        n += u.invocations;
        seconds += u.seconds;
        cu += u.cu;
        amount += u.amount;
    }
    assert_eq!(cost.total.invocations, n);
    assert!(close(cost.total.seconds, seconds));
    assert!(close(cost.total.cu, cu));
    assert!(close(cost.total.amount, amount));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_prices_every_invocation_at_the_deployed_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("priced.mp4");
    // Key frame every second, 2 s pieces: 3 pieces and an audio task.
    Clip::new(320, 240)
        .seconds(6.0)
        .write(&Tools::from_env(), &src)
        .await
        .unwrap();
    let sys = system(
        &tmp.path().join("state"),
        &[("segmentSeconds", "2"), ("formats", "mp4")],
        |_| {},
    )
    .await;
    let rec = upload_and_wait(&sys, &src, "source/priced.mp4").await;
    assert_eq!(rec.status, Status::Succeeded, "{:?}", rec.error);
    let m = manifest(&sys, &request_of(&rec).manifest_key(), tmp.path()).await;
    assert_eq!(m.status, JobStatus::Succeeded);
    let cost = m.cost.as_ref().expect("the manifest carries the cost");
    check_arithmetic(cost, &sys);

    // One line per function, with every invocation: the Map's tasks are
    // the pieces and the audio, each its own transcode invocation.
    let step = |name: &str| m.steps.iter().find(|s| s.step == name).unwrap();
    let calls: Vec<(&str, u32)> = cost
        .steps
        .iter()
        .map(|s| (s.function.as_str(), s.usage.invocations))
        .collect();
    let tasks = step("transcode").invocations + step("audio").invocations;
    assert_eq!(step("transcode").invocations, 3);
    assert_eq!(
        calls,
        [
            ("split", 1),
            ("transcode", tasks),
            ("merge", 1),
            ("after-process", 1)
        ]
    );
    // An invocation holds the step's work: never billed for less.
    let billed = |f: &str| {
        cost.steps
            .iter()
            .find(|s| s.function.as_str() == f)
            .unwrap()
            .usage
            .seconds
    };
    assert!(billed("split") >= step("split").seconds);
    assert!(billed("transcode") >= step("transcode").seconds + step("audio").seconds);
    assert!(billed("merge") >= step("merge").seconds);
    // The records went with the job's folder.
    assert!(nas_jobs(&sys).is_empty());
    sys.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_priced_with_what_was_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("junk.mp4");
    random_bytes(&src, 100_000).unwrap();
    let sys = system(&tmp.path().join("state"), &[], |_| {}).await;
    let rec = upload_and_wait(&sys, &src, "source/junk.mp4").await;
    assert_eq!(rec.status, Status::Failed);
    let m = manifest(&sys, &request_of(&rec).manifest_key(), tmp.path()).await;
    assert_eq!(m.status, JobStatus::Failed);
    let cost = m.cost.as_ref().expect("a failed job carries its cost too");
    check_arithmetic(cost, &sys);
    // Split removes the job's folder when it fails (a corrupt upload leaves
    // nothing on NAS), its record with it: after-process's line remains.
    let calls: Vec<&str> = cost.steps.iter().map(|s| s.function.as_str()).collect();
    assert_eq!(calls, ["after-process"]);
    assert!(nas_jobs(&sys).is_empty());
    sys.shutdown().await;
}
