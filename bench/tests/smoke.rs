//! The benchmark's smoke mode end to end: tiny inputs, every section, with
//! the handler binaries cargo built beside this test (`cargo build
//! --workspace --bins` first). It checks the machinery and the results'
//! shape, never a timing. Ignored by default (about 20 s of ffmpeg work;
//! benchmarks are not tests): `cargo test -p vpf-bench -- --ignored`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
#[ignore = "runs ffmpeg and the whole pipeline; cargo test -p vpf-bench -- --ignored"]
fn smoke_run_fills_every_section() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = tempfile_dir();
    let status = Command::new(env!("CARGO_BIN_EXE_vpf-bench"))
        .current_dir(repo)
        .args(["--smoke", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "vpf-bench --smoke failed: {status}");
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["smoke"], true);
    assert!(
        r["errors"].as_array().unwrap().is_empty(),
        "{}",
        r["errors"]
    );

    // The real-world section: one key frame cut at any frame, and the cost
    // of the conversions measured against the same encode without them.
    let rw = &r["realWorld"];
    let sparse = &rw["sparse"];
    assert_eq!(sparse["pipeline"]["status"], "succeeded", "{rw}");
    assert_eq!(sparse["pipeline"]["pieces"].as_u64(), Some(3), "{rw}");
    assert!(sparse["floor"]["cpuS"].as_f64().unwrap() > 0.0);
    let filters = rw["filters"].as_array().unwrap();
    assert_eq!(filters.len(), 2, "{rw}");
    assert!(
        filters[0]["filter"]
            .as_str()
            .unwrap()
            .contains("zscale=tin=arib-std-b67:t=bt709")
    );
    assert!(filters[1]["filter"].as_str().unwrap().contains("bwdif"));

    // The short clip: one piece at s.yaml's length, shorter pieces beside
    // it, (a) and (a'), video bytes, and the handlers' sub-step times.
    let short = &r["inputs"][1];
    assert_eq!(short["spec"]["name"], "short-smoke240p4s", "{short}");
    for k in [
        "floor",
        "floorForcedGop",
        "pipelineOne",
        "pipelineThree",
        "pipelineShortPieces",
    ] {
        assert!(
            short[k]["facts"]["videoBytes"].as_u64().unwrap() > 0,
            "{k}: {short}"
        );
        assert!(
            short[k]["quality"]["psnrY"].as_f64().is_some(),
            "{k}: {short}"
        );
    }
    assert_eq!(short["pipelineOne"]["run"]["pieces"].as_u64(), Some(1));
    assert_eq!(
        short["pipelineShortPieces"]["run"]["pieces"].as_u64(),
        Some(2)
    );
    let names: Vec<&str> = short["pipelineThree"]["run"]["subSteps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for n in [
        "download", "probe", "cut", "encode", "audio", "join", "verify", "package", "upload",
    ] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    assert!(short["seedX264"].is_null(), "{short}");

    let input = &r["inputs"][0];
    let src_frames = input["source"]["videoFrames"].as_u64().unwrap();
    for k in [
        "floor",
        "pipelineOne",
        "pipelineThree",
        "seedX264",
        "seedDefault",
    ] {
        assert!(input[k].is_object(), "{k} missing: {input}");
    }
    for k in ["pipelineOne", "pipelineThree"] {
        let run = &input[k]["run"];
        assert_eq!(run["status"], "succeeded", "{k}: {run}");
        assert!(run["pieces"].as_u64().unwrap() >= 2, "{k}: {run}");
        assert!(run["usage"]["cpuS"].as_f64().unwrap() > 0.0);
        for h in ["split", "transcode", "merge"] {
            assert!(run["peakRssKb"][h].as_u64().unwrap() > 0, "{k} {h}: {run}");
        }
    }
    // Chunking keeps every frame and (nearly) the floor's quality.
    let one = &input["pipelineOne"];
    assert_eq!(one["facts"]["videoFrames"].as_u64(), Some(src_frames));
    let psnr = |v: &Value| v["quality"]["psnrY"].as_f64().unwrap();
    assert!(
        (psnr(one) - psnr(&input["floor"])).abs() < 1.0,
        "{} vs {}",
        psnr(one),
        psnr(&input["floor"])
    );

    assert!(r["sweep"]["points"].as_array().unwrap().len() >= 2);
    let colds = r["coldStarts"].as_array().unwrap();
    assert_eq!(colds.len(), 5);
    for c in colds {
        assert!(
            c["answer"].as_str().unwrap().contains("x-fc-status: 404"),
            "{c}"
        );
        assert!(c["idleRssKb"][0].as_u64().unwrap() > 0);
    }
    // The ladder: the same rungs from one ffmpeg (a2), one ffmpeg per rung
    // (a3) and the pipeline's abr, compared rung by rung.
    let l = &r["ladder"];
    assert!(
        l["errors"].as_array().unwrap().is_empty(),
        "{}",
        l["errors"]
    );
    assert_eq!(l["pipeline"]["run"]["status"], "succeeded", "{l}");
    for k in ["floor", "parallel"] {
        assert!(l[k]["run"]["cpuS"].as_f64().unwrap() > 0.0, "{k}: {l}");
    }
    let rungs = l["rungs"].as_array().unwrap();
    assert_eq!(rungs.len(), 2, "{l}");
    let ladder_frames = l["source"]["videoFrames"].as_u64().unwrap();
    for g in rungs {
        for side in ["floor", "pipeline"] {
            assert_eq!(g[side]["videoFrames"].as_u64(), Some(ladder_frames), "{g}");
            assert!(g[side]["quality"]["psnrY"].as_f64().unwrap() > 30.0, "{g}");
            assert!(g[side]["videoKbps"].as_f64().unwrap() > 0.0, "{g}");
        }
        assert!(g["manifest"]["bandwidth"].as_u64().unwrap() > 0, "{g}");
        assert_eq!(g["manifest"]["name"], g["name"]);
    }

    let st = &r["streaming"];
    assert_eq!(st["run"]["status"], "succeeded", "{st}");
    assert!(st["run"]["peakRssKb"]["merge"].as_u64().unwrap() > 0);

    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    for heading in [
        "## Speed",
        "## Short clip",
        "fixed total",
        "## Quality",
        "## Piece-length sweep",
        "## Handlers",
        "## Adaptive-bitrate ladder",
        "## Targets",
    ] {
        assert!(md.contains(heading), "{heading} missing");
    }
    let _ = std::fs::remove_dir_all(&out);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("vpf-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
