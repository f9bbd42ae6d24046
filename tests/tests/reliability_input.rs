//! Bad input through the whole system (upload -> trigger -> workflow -> real
//! handlers and ffmpeg): every case ends in success with verified outputs or
//! in status `failed` with its reason in the manifest; nothing is left on NAS
//! and nothing is written outside the output prefix. Also awkward keys,
//! malformed events, unknown formats, and the same key uploaded twice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use local_runner::fc::Outcome;
use local_runner::flow::Status;
use local_runner::system::System;
use serde_json::json;
use vpf_core::job::{JobStatus, RecordOutcome};
use vpf_media::Tools;
use vpf_media::testmedia::{Clip, random_bytes, truncated_copy, zero_bytes};
use vpf_tests::reliability::Report;
use vpf_tests::{
    bin_dir, client, first_outcome, nas_jobs, probe, repo_root, request_of, system, trigger_answer,
};
use vpf_tests::{fetch, keys_under, manifest};

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---- a tiny H.264 MP4 whose every header claims 20000x20000 ----------------

struct Bits {
    bits: Vec<bool>,
    pos: usize,
}

impl Bits {
    fn u(&mut self, n: usize) -> u64 {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bits[self.pos]);
            self.pos += 1;
        }
        v
    }
    fn ue(&mut self) -> u64 {
        let mut zeros = 0;
        while !self.bits[self.pos] {
            zeros += 1;
            self.pos += 1;
        }
        self.pos += 1;
        (1 << zeros) - 1 + self.u(zeros)
    }
}

fn ue_bits(v: u64) -> Vec<bool> {
    let v = v + 1;
    let n = 64 - v.leading_zeros() as usize;
    let mut out = vec![false; n - 1];
    out.extend((0..n).rev().map(|i| v >> i & 1 == 1));
    out
}

/// Remove (or add) H.264 emulation prevention bytes.
fn unescape(b: &[u8]) -> Vec<u8> {
    let (mut out, mut zeros) = (Vec::new(), 0);
    for &x in b {
        if zeros >= 2 && x == 3 {
            zeros = 0;
            continue;
        }
        out.push(x);
        zeros = if x == 0 { zeros + 1 } else { 0 };
    }
    out
}
fn escape(b: &[u8]) -> Vec<u8> {
    let (mut out, mut zeros) = (Vec::new(), 0);
    for &x in b {
        if zeros >= 2 && x <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(x);
        zeros = if x == 0 { zeros + 1 } else { 0 };
    }
    out
}

fn find(d: &[u8], what: &[u8], from: usize) -> usize {
    from + d[from..]
        .windows(what.len())
        .position(|w| w == what)
        .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(what)))
}
fn rfind(d: &[u8], what: &[u8], before: usize) -> usize {
    d[..before]
        .windows(what.len())
        .rposition(|w| w == what)
        .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(what)))
}

/// Rewrite a baseline-profile MP4 (moov after mdat) so that its SPS, its
/// avc1 sample entry and its track header all declare `side`x`side`.
fn claim_size(mp4: &[u8], side: u16) -> Vec<u8> {
    let avcc = find(mp4, b"avcC", 0);
    let p = avcc + 4;
    assert_eq!(mp4[p + 5] & 0x1f, 1, "one SPS");
    let len = u16::from_be_bytes([mp4[p + 6], mp4[p + 7]]) as usize;
    let rbsp = unescape(&mp4[p + 8..p + 8 + len]);
    let mut b = Bits {
        bits: rbsp
            .iter()
            .flat_map(|x| (0..8).rev().map(move |i| x >> i & 1 == 1))
            .collect(),
        pos: 0,
    };
    b.u(8); // NAL header
    assert_eq!(
        b.u(8),
        66,
        "baseline profile (no chroma fields before the size)"
    );
    b.u(16);
    b.ue(); // sps id
    b.ue(); // log2_max_frame_num_minus4
    match b.ue() {
        0 => {
            b.ue();
        }
        2 => {}
        t => panic!("pic_order_cnt_type {t}"),
    }
    b.ue(); // max_num_ref_frames
    b.u(1);
    let start = b.pos;
    b.ue();
    b.ue();
    let end = b.pos;
    let mbs = u64::from(side).div_ceil(16) - 1;
    let mut bits = b.bits[..start].to_vec();
    bits.extend(ue_bits(mbs));
    bits.extend(ue_bits(mbs));
    bits.extend_from_slice(&b.bits[end..]);
    // Keep the stop bit, drop the old padding, pad to a byte.
    while bits.last() == Some(&false) {
        bits.pop();
    }
    while !bits.len().is_multiple_of(8) {
        bits.push(false);
    }
    let bytes: Vec<u8> = bits
        .chunks(8)
        .map(|c| c.iter().fold(0u8, |a, &x| (a << 1) | u8::from(x)))
        .collect();
    let sps = escape(&bytes);
    let delta = sps.len() as i64 - len as i64;
    assert!(
        find(mp4, b"mdat", 0) < find(mp4, b"moov", 0),
        "moov after mdat: chunk offsets stay valid"
    );
    let mut out = mp4[..p + 6].to_vec();
    out.extend((sps.len() as u16).to_be_bytes());
    out.extend(&sps);
    out.extend(&mp4[p + 8 + len..]);
    for name in [
        b"avcC", b"avc1", b"stsd", b"stbl", b"minf", b"mdia", b"trak", b"moov",
    ] {
        let k = rfind(&out, name, avcc + 4);
        let size = u32::from_be_bytes(out[k - 4..k].try_into().unwrap()) as i64 + delta;
        out[k - 4..k].copy_from_slice(&(size as u32).to_be_bytes());
    }
    // avc1 visual sample entry: width and height after 24 bytes.
    let a = rfind(&out, b"avc1", avcc) + 4 + 24;
    out[a..a + 2].copy_from_slice(&side.to_be_bytes());
    out[a + 2..a + 4].copy_from_slice(&side.to_be_bytes());
    // tkhd version 0: width and height (16.16) at the end.
    let t = find(&out, b"tkhd", 0);
    assert_eq!(out[t + 4], 0, "tkhd version 0");
    let w = t + 4 + 4 + 20 + 8 + 8 + 36;
    let fixed = (u32::from(side) << 16).to_be_bytes();
    out[w..w + 4].copy_from_slice(&fixed);
    out[w + 4..w + 8].copy_from_slice(&fixed);
    out
}

// ---- the cases ------------------------------------------------------------------

/// How a case must end.
enum Expect {
    /// Succeeded; the mp4 has the source's frames (and audio iff `audio`).
    Success { frames: u64, audio: bool },
    /// Failed with this error kind in the manifest.
    Failure(&'static str),
}

struct Case {
    name: &'static str,
    file: PathBuf,
    key: String,
    expect: Expect,
}

async fn make_cases(dir: &Path) -> Vec<Case> {
    let tools = Tools::from_env();
    let p = |n: &str| dir.join(n);
    let mut cases = Vec::new();
    let mut add = |name, file: PathBuf, key: &str, expect| {
        cases.push(Case {
            name,
            file,
            key: key.to_string(),
            expect,
        })
    };

    zero_bytes(&p("zero.mp4")).unwrap();
    add(
        "zero-byte file",
        p("zero.mp4"),
        "source/zero.mp4",
        Expect::Failure("CorruptMedia"),
    );
    random_bytes(&p("random.mp4"), 200_000).unwrap();
    add(
        "random bytes named .mp4",
        p("random.mp4"),
        "source/random.mp4",
        Expect::Failure("CorruptMedia"),
    );

    let normal = p("normal.mp4");
    Clip::new(320, 240)
        .seconds(2.0)
        .write(&tools, &normal)
        .await
        .unwrap();
    truncated_copy(&normal, &p("nomoov.mp4"), 0.6).unwrap();
    add(
        "truncated MP4, moov missing (index at the end, cut off)",
        p("nomoov.mp4"),
        "source/nomoov.mp4",
        Expect::Failure("CorruptMedia"),
    );
    let fast = p("fast.mp4");
    Clip::new(320, 240)
        .seconds(2.0)
        .faststart()
        .write(&tools, &fast)
        .await
        .unwrap();
    truncated_copy(&fast, &p("cutmdat.mp4"), 0.6).unwrap();
    add(
        "truncated MP4, moov present but mdat cut (faststart clip)",
        p("cutmdat.mp4"),
        "source/cutmdat.mp4",
        Expect::Failure("CorruptMedia"),
    );

    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-c:a",
        "aac",
        "-f",
        "mp4",
        s(&p("audio.mp4")),
    ]);
    add(
        // Sound alone makes an audio job, but this system asks for mp4
        // only, which needs a picture: refused, naming what would do.
        "audio-only file, video formats only",
        p("audio.mp4"),
        "source/audio.mp4",
        Expect::Failure("InvalidInput"),
    );

    Clip::new(320, 240)
        .seconds(2.0)
        .no_audio()
        .write(&tools, &p("silent.mp4"))
        .await
        .unwrap();
    let frames = probe(&p("silent.mp4")).video_frames;
    add(
        "video without audio",
        p("silent.mp4"),
        "source/silent.mp4",
        Expect::Success {
            frames,
            audio: false,
        },
    );

    // Variable frame rate: 30 fps for half a second, then every other
    // frame dropped with the timestamps kept (15 fps), with audio.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-vf",
        "select='lt(n\\,15)+not(mod(n\\,2))'",
        "-vsync",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "15",
        "-c:a",
        "aac",
        "-f",
        "mp4",
        s(&p("vfr.mp4")),
    ]);
    let frames = probe(&p("vfr.mp4")).video_frames;
    assert!(frames > 30 && frames < 60, "{frames}");
    add(
        "variable frame rate (30 fps, then 15 fps)",
        p("vfr.mp4"),
        "source/vfr.mp4",
        Expect::Success {
            frames,
            audio: true,
        },
    );

    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "mp4",
        s(&p("one.mp4")),
    ]);
    add(
        "a one-frame video",
        p("one.mp4"),
        "source/one.mp4",
        Expect::Success {
            frames: 1,
            audio: false,
        },
    );

    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=16x16:rate=25:duration=0.2",
        "-c:v",
        "libx264",
        "-profile:v",
        "baseline",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "mp4",
        s(&p("tiny.mp4")),
    ]);
    let huge = claim_size(&std::fs::read(p("tiny.mp4")).unwrap(), 20000);
    std::fs::write(p("huge.mp4"), huge).unwrap();
    add(
        "huge declared resolution (2 kB file whose SPS and headers claim 20000x20000)",
        p("huge.mp4"),
        "source/huge.mp4",
        Expect::Failure("CorruptMedia"),
    );

    // Awkward but valid keys: processed, outputs under their own stem.
    Clip::new(160, 120)
        .seconds(1.0)
        .write(&tools, &p("small.mp4"))
        .await
        .unwrap();
    let frames = probe(&p("small.mp4")).video_frames;
    for (name, key) in [
        ("key with spaces", "source/my holiday clip.mp4"),
        ("key with unicode", "source/ünïcødé/文件 名.mp4"),
        ("key with +", "source/a+b.mp4"),
        (
            "key with % (looks URL-encoded: per%20cent)",
            "source/per%20cent.mp4",
        ),
    ] {
        add(
            name,
            p("small.mp4"),
            key,
            Expect::Success {
                frames,
                audio: true,
            },
        );
    }
    cases
}

/// The output base oss-trigger derives for a source key.
fn output_base(key: &str) -> String {
    vpf_core::keys::output_base(key, "source/", "dest/")
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_awkward_uploads_end_in_success_or_a_clear_failure_and_leave_nothing() {
    let mut report = Report::new("input-uploads");
    let tmp = tempfile::tempdir().unwrap();
    let cases = make_cases(tmp.path()).await;
    let sys = system(
        &tmp.path().join("state"),
        &[("segmentSeconds", "1"), ("formats", "mp4")],
        |_| {},
    )
    .await;
    // Every upload at once, as a bucket sees them.
    let runs = cases.iter().map(|c| async {
        let put = client(&sys)
            .put_file(&sys.bucket, &c.key, &c.file, None)
            .await
            .unwrap_or_else(|e| panic!("{}: upload: {e}", c.name));
        let job = vpf_core::keys::job_id(&sys.bucket, &c.key, &put.etag);
        sys.wait_for_key(&c.key, &job, Duration::from_secs(600))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.name))
    });
    let records = futures_util::future::join_all(runs).await;

    let dl = tmp.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let mut bases = Vec::new();
    for (c, rec) in cases.iter().zip(&records) {
        let req = request_of(rec);
        assert_eq!(
            req.key, c.key,
            "{}: the key reaches the job as stored",
            c.name
        );
        assert_eq!(req.output_base, output_base(&c.key));
        bases.push(req.output_base.clone());
        let m = manifest(&sys, &req.manifest_key(), &dl).await;
        let outcome = match &c.expect {
            Expect::Failure(kind) => {
                assert_eq!(rec.status, Status::Failed, "{}", c.name);
                assert_eq!(m.status, JobStatus::Failed, "{}", c.name);
                let e = m.error.clone().expect("a failed manifest says why");
                assert_eq!(e.error, *kind, "{}: {}", c.name, e.cause);
                assert!(e.cause.len() > 10, "{}: reason {:?}", c.name, e.cause);
                assert!(m.outputs.is_empty());
                // A file that cannot get better is not retried.
                let splits = rec
                    .events
                    .iter()
                    .filter(|e| e.kind == "TaskScheduled" && e.state == "Split")
                    .count();
                assert_eq!(splits, 1, "{}", c.name);
                format!("failed: {}: {}", e.error, e.cause)
            }
            Expect::Success { frames, audio } => {
                assert_eq!(rec.status, Status::Succeeded, "{}: {:?}", c.name, rec.error);
                assert_eq!(m.status, JobStatus::Succeeded);
                let mp4 = req.output_key(vpf_core::job::Format::Mp4);
                let out = probe(&fetch(&sys, &mp4, &dl).await);
                assert_eq!(out.video_frames, *frames, "{}", c.name);
                assert_eq!(out.audio, *audio, "{}", c.name);
                // Same length, within one frame at the slowest rate used (15 fps).
                let src = probe(&c.file);
                assert!(
                    (out.video_seconds - src.video_seconds).abs() <= 1.0 / 15.0 + 1e-3,
                    "{}: {} s vs {} s",
                    c.name,
                    out.video_seconds,
                    src.video_seconds
                );
                vpf_tests::decodes(&dl.join(mp4.replace('/', "_")));
                format!(
                    "succeeded: {mp4} has {} frames = source{}",
                    out.video_frames,
                    if *audio { ", audio" } else { ", no audio" }
                )
            }
        };
        report.row(
            c.name,
            match c.expect {
                Expect::Failure(_) => "status failed, reason in manifest",
                Expect::Success { .. } => "success, outputs verified",
            },
            outcome,
        );
    }
    // No job folder left; nothing outside the sources and each job's own
    // output folder.
    assert!(nas_jobs(&sys).is_empty(), "{:?}", nas_jobs(&sys));
    let sources: Vec<&str> = cases.iter().map(|c| c.key.as_str()).collect();
    for k in vpf_tests::all_keys(&sys).await {
        assert!(
            sources.contains(&k.as_str()) || bases.iter().any(|b| k.starts_with(&format!("{b}/"))),
            "unexpected object {k}"
        );
    }
    report.row(
        "all of the above, uploaded at once",
        "no NAS job folder left; no object outside the sources and dest/<stem>/",
        format!(
            "{} jobs; NAS empty; every object accounted for",
            cases.len()
        ),
    );
    sys.shutdown().await;
    report.finish();
}

fn event(sys: &System, key: &str, name: &str) -> serde_json::Value {
    json!({"events": [{
        "eventName": name,
        "eventSource": "acs:oss",
        "region": sys.region,
        "oss": {
            "bucket": {"name": sys.bucket, "arn": "", "ownerIdentity": ""},
            "object": {"key": key, "eTag": "0123456789ABCDEF0123456789ABCDEF", "size": 1}
        }
    }]})
}

fn function_error(o: Outcome) -> (String, String) {
    match o {
        Outcome::FunctionError(e) => (e.error_type.unwrap_or_default(), e.error_message),
        other => panic!("expected a function error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_keys_malformed_events_and_unknown_formats_are_refused_clearly() {
    let mut report = Report::new("input-events");
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let sys = system(&state, &[("formats", "mp4")], |_| {}).await;
    let c = client(&sys);

    // `../` in a key: the client refuses to send it, the emulator refuses
    // it raw, and an event naming it (replayed by hand) is skipped.
    let e = c
        .put_bytes(
            &sys.bucket,
            "source/../escape.mp4",
            Bytes::from_static(b"x"),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, vpf_core::ErrorKind::InvalidInput, "{e}");
    let raw = reqwest::Client::new()
        .put(format!(
            "{}/{}/source/%2E%2E/%2E%2E/escape.mp4",
            sys.oss.endpoint(),
            sys.bucket
        ))
        .body("x")
        .send()
        .await
        .unwrap();
    assert!(
        raw.status() == 400 || raw.status() == 403,
        "{}",
        raw.status()
    );
    let ev: vpf_core::event::OssEvent = serde_json::from_value(event(
        &sys,
        "source/../../etc/escape.mp4",
        "ObjectCreated:PutObject",
    ))
    .unwrap();
    let d = sys.replay(&ev).await;
    let RecordOutcome::Skipped { reason: why, .. } = first_outcome(&d[0]) else {
        panic!("the record was not skipped: {:?}", d[0].result);
    };
    assert!(why.contains(".."), "{why}");
    assert!(!state.join("oss/etc").exists() && !state.join("etc").exists());
    report.row(
        "key with ../ (upload, raw request, hand-made event)",
        "refused by the client, the emulator and the trigger",
        format!(
            "client: InvalidInput; emulator: HTTP {}; trigger: skipped ({why})",
            raw.status().as_u16()
        ),
    );

    // Malformed and oversized events, straight to the trigger function.
    let (t, m) = function_error(sys.fc.invoke("vpf-oss-trigger", b"{not json").await);
    assert_eq!(t, "InvalidInput", "{m}");
    let (t2, m2) = function_error(
        sys.fc
            .invoke("vpf-oss-trigger", br#"{"events": [{}]}"#)
            .await,
    );
    assert_eq!(t2, "InvalidInput", "{m2}");
    let big = format!(
        r#"{{"events": [], "padding": "{}"}}"#,
        "x".repeat(300 * 1024)
    );
    let (t3, m3) = function_error(sys.fc.invoke("vpf-oss-trigger", big.as_bytes()).await);
    assert_eq!(t3, "InvalidInput");
    assert!(m3.contains("bytes"), "{m3}");
    let removed =
        serde_json::to_vec(&event(&sys, "source/a.mp4", "ObjectRemoved:DeleteObject")).unwrap();
    let out = match sys.fc.invoke("vpf-oss-trigger", &removed).await {
        Outcome::Ok(v) => v,
        o => panic!("{o:?}"),
    };
    let RecordOutcome::Skipped {
        reason: removed_why,
        ..
    } = trigger_answer(&out).records.remove(0)
    else {
        panic!("not skipped: {out}");
    };
    assert!(
        sys.engine().unwrap().list().is_empty(),
        "no execution started"
    );
    report.row(
        "malformed event (not JSON; a record without fields)",
        "InvalidInput with the reason, no execution",
        format!("InvalidInput: {m}"),
    );
    report.row(
        "oversized event (300 KiB)",
        "InvalidInput before parsing",
        format!("InvalidInput: {m3}"),
    );
    report.row(
        "event that is not ObjectCreated",
        "skipped with a reason",
        format!("skipped: {}", json!(removed_why)),
    );
    // The replay command with a malformed file: a usage error, not a crash.
    let bad = tmp.path().join("bad-event.json");
    std::fs::write(&bad, "{\"events\": [{\"eventName\": 1}]}").unwrap();
    let o = Command::new(bin_dir().join("local-runner"))
        .current_dir(repo_root())
        .env("VPF_BIN_DIR", bin_dir())
        .arg("--state-dir")
        .arg(tmp.path().join("state-cli"))
        .arg("replay")
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("not an OSS event"), "{err}");
    report.row(
        "`local-runner replay` of a malformed event file",
        "exit 2 with the reason",
        format!("exit 2: {}", err.trim()),
    );

    // Unknown formats: on the command line, in a job request sent to a
    // function, and in an execution started by hand through the workflow.
    let o = Command::new(bin_dir().join("local-runner"))
        .current_dir(repo_root())
        .env("VPF_BIN_DIR", bin_dir())
        .args(["run", "--input", "Cargo.toml", "--formats", "mp4,webm"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("webm") && err.contains("choose from"), "{err}");
    report.row(
        "unknown format on the command line (--formats mp4,webm)",
        "exit 2 naming the format and the choices",
        format!("exit 2: {}", err.trim()),
    );
    let mut req = json!({
        "jobId": "v-x-0123456789abcdef01234567",
        "bucket": sys.bucket, "key": "source/x.mp4", "etag": "E", "size": 1,
        "outputBase": "dest/x", "stem": "x", "formats": ["mp4", "webm"],
        "segmentSeconds": 1, "maxPieces": 10
    });
    let (t, m) = function_error(
        sys.fc
            .invoke("vpf-split", &serde_json::to_vec(&req).unwrap())
            .await,
    );
    assert_eq!(t, "InvalidInput");
    assert!(m.contains("webm"), "{m}");
    req["jobId"] = json!("v-x-fedcba9876543210fedcba98");
    let rec = sys
        .engine()
        .unwrap()
        .run("v-x-fedcba9876543210fedcba98", req.clone())
        .await
        .unwrap();
    assert_eq!(rec.status, Status::Failed);
    let dl = tmp.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let mf = manifest(&sys, "dest/x/manifest.json", &dl).await;
    assert_eq!(mf.status, JobStatus::Failed);
    let e = mf.error.unwrap();
    assert_eq!(e.error, "InvalidInput");
    assert!(e.cause.contains("webm"), "{}", e.cause);
    assert!(nas_jobs(&sys).is_empty());
    report.row(
        "unknown format in an execution input started by hand",
        "status failed, reason in manifest",
        format!("failed: {}: {}", e.error, e.cause),
    );
    sys.shutdown().await;
    report.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_is_one_job_and_new_content_is_a_new_job() {
    let mut report = Report::new("idempotency");
    let tmp = tempfile::tempdir().unwrap();
    let tools = Tools::from_env();
    let first = tmp.path().join("first.mp4");
    let second = tmp.path().join("second.mp4");
    // HLS segments are 6 s: the first content has 2, the second 1.
    Clip::new(160, 120)
        .seconds(8.0)
        .write(&tools, &first)
        .await
        .unwrap();
    Clip::new(160, 120)
        .seconds(3.0)
        .write(&tools, &second)
        .await
        .unwrap();
    let sys = system(
        &tmp.path().join("state"),
        &[("segmentSeconds", "4"), ("formats", "mp4,hls")],
        |_| {},
    )
    .await;
    let dl = tmp.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let key = "source/same.mp4";

    let rec1 = vpf_tests::upload_and_wait(&sys, &first, key).await;
    assert_eq!(rec1.status, Status::Succeeded, "{:?}", rec1.error);
    let etag1 = request_of(&rec1).etag;
    // OSS delivers the same event again (at-least-once).
    let ev: vpf_core::event::OssEvent = serde_json::from_value(json!({"events": [{
        "eventName": "ObjectCreated:PutObject", "eventSource": "acs:oss", "region": sys.region,
        "oss": {"bucket": {"name": sys.bucket, "arn": "", "ownerIdentity": ""},
                "object": {"key": key, "eTag": etag1, "size": 1}}}]}))
    .unwrap();
    let d = sys.replay(&ev).await;
    let outcome = first_outcome(&d[0]);
    assert!(
        matches!(outcome, RecordOutcome::Duplicate { .. }),
        "{outcome:?}"
    );
    assert_eq!(sys.engine().unwrap().list().len(), 1);
    report.row(
        "the same event delivered twice",
        "one execution",
        "second delivery: duplicate; 1 execution",
    );

    let rec2 = vpf_tests::upload_and_wait(&sys, &second, key).await;
    assert_eq!(rec2.status, Status::Succeeded, "{:?}", rec2.error);
    let req2 = request_of(&rec2);
    assert_ne!(req2.etag, etag1);
    assert_ne!(rec2.name, rec1.name);
    assert_eq!(sys.engine().unwrap().list().len(), 2);
    let want = probe(&second).video_frames;
    let mp4 = probe(&fetch(&sys, "dest/same.mp4/same.mp4", &dl).await);
    assert_eq!(mp4.video_frames, want, "the mp4 is the new content");
    let m = manifest(&sys, "dest/same.mp4/manifest.json", &dl).await;
    assert_eq!(m.source.etag, req2.etag);
    // The HLS folder holds the new playlist and only its segments.
    let playlist =
        std::fs::read_to_string(fetch(&sys, "dest/same.mp4/hls/index.m3u8", &dl).await).unwrap();
    let listed: Vec<String> = playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| format!("dest/same.mp4/hls/{l}"))
        .collect();
    let mut expected = listed.clone();
    expected.push("dest/same.mp4/hls/index.m3u8".into());
    expected.sort();
    let stored = keys_under(&sys, "dest/same.mp4/hls/").await;
    assert_eq!(stored, expected, "stale segments of the old upload remain");
    report.row(
        "the same key uploaded again with new content (new eTag)",
        "a new execution; outputs replaced, no stale HLS segment",
        format!(
            "2 executions; mp4 has {} frames = new content; manifest eTag = new; HLS holds {} objects, all listed",
            mp4.video_frames,
            stored.len()
        ),
    );
    assert!(nas_jobs(&sys).is_empty());
    sys.shutdown().await;
    report.finish();
}
