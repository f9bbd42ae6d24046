//! s.yaml and flow/: what `s deploy` would deploy is consistent and valid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use local_runner::account::LOCAL_ACCOUNT_ID;
use local_runner::deploy_file::{DeployFile, Settings};
use local_runner::flow::{Flow, Vars};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn settings() -> Settings {
    Settings {
        env: BTreeMap::new(),
        config: BTreeMap::from([("AccountID".to_string(), LOCAL_ACCOUNT_ID.to_string())]),
        var_overrides: BTreeMap::new(),
    }
}

fn syaml() -> DeployFile {
    DeployFile::load(&root().join("s.yaml"), &settings()).unwrap()
}

fn flow() -> Flow {
    let s = syaml();
    let flows = s.flows().unwrap();
    assert_eq!(flows.len(), 1);
    let doc = flows[0].1.flow_document(&s.dir).unwrap();
    Flow::from_document(&doc, &Vars::new()).unwrap()
}

#[test]
fn every_function_validates_against_the_fc3_schema() {
    let schema_path = root().join("fixtures/fc3-function-props.schema.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let s = syaml();
    let fc3: Vec<_> = s
        .resources
        .iter()
        .filter(|r| r.component == "fc3")
        .collect();
    assert_eq!(fc3.len(), 5);
    for r in fc3 {
        let errors: Vec<String> = validator
            .iter_errors(&r.props)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", r.name);
    }
    // The validator does reject what the schema forbids.
    let mut bad = s.resources[0].props.clone();
    bad["runtime"] = "custom.debian13".into();
    bad["diskSize"] = 2048.into();
    assert!(validator.iter_errors(&bad).count() >= 2);
}

#[test]
fn functions_are_typed_and_sized_for_video() {
    let s = syaml();
    let fns = s.functions().unwrap();
    let names: Vec<&str> = fns.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "oss-trigger",
            "split",
            "transcode",
            "merge",
            "after-process"
        ]
    );
    for (res, p) in &fns {
        // The official FFmpeg6x layer lists its compatible runtimes as
        // custom, custom.debian10 and language runtimes, not custom.debian11/12
        // (Alibaba's awesome-fc/awesome-layers, docs/FFmpeg6x/README.md); the
        // handlers are linked for Debian 10's glibc (scripts/build-code.sh).
        assert_eq!(p.runtime, "custom.debian10", "{res}");
        assert_eq!(p.code, format!("./code-out/{res}"));
        assert_eq!(p.port(), 9000);
        assert_eq!(
            p.custom_runtime_config.as_ref().unwrap().command,
            ["/code/bootstrap"]
        );
        if ["split", "transcode", "merge"].contains(&res.as_str()) {
            assert_eq!(
                (p.cpu, p.memory_size, p.disk_size, p.timeout),
                (Some(4.0), Some(8192), Some(10240), Some(7200))
            );
            assert_eq!(
                p.layers,
                ["acs:fc:cn-hangzhou:official:layers/FFmpeg6x/versions/1"]
            );
        }
        if res != "oss-trigger" {
            assert_eq!(p.nas_config, Some(serde_json::json!("auto")), "{res}");
            assert_eq!(p.environment_variables["NAS_MOUNT_DIR"], "/mnt/auto");
        }
        assert_eq!(
            p.role.as_deref(),
            Some(format!("acs:ram::{LOCAL_ACCOUNT_ID}:role/aliyunfcdefaultrole").as_str())
        );
    }
}

#[test]
fn every_task_names_a_function_of_s_yaml() {
    let s = syaml();
    let names: Vec<String> = s
        .functions()
        .unwrap()
        .into_iter()
        .map(|(_, p)| p.function_name)
        .collect();
    let f = flow();
    let tasks = f.root.tasks();
    assert_eq!(
        tasks.len(),
        5,
        "Split, Transcode, Merge, AfterProcess, RecordFailure"
    );
    for t in tasks {
        assert!(
            names.contains(&t.function),
            "{} names no s.yaml function ({names:?})",
            t.resource_arn
        );
    }
    // The flow oss-trigger starts is the flow s.yaml deploys.
    let (_, trigger) = &s.functions().unwrap()[0];
    let (_, flow_props) = &s.flows().unwrap()[0];
    assert_eq!(trigger.environment_variables["FLOW_NAME"], flow_props.name);
    assert_eq!(f.name, flow_props.name);
}

#[test]
fn the_trigger_cannot_fire_on_outputs() {
    let s = syaml();
    let (_, p) = s
        .functions()
        .unwrap()
        .into_iter()
        .find(|(r, _)| r == "oss-trigger")
        .unwrap();
    assert_eq!(p.triggers.len(), 1);
    let t = &p.triggers[0];
    assert_eq!(t.bucket(), Some("my-video-bucket"));
    assert_eq!(
        t.source_arn.as_deref(),
        Some(format!("acs:oss:cn-hangzhou:{LOCAL_ACCOUNT_ID}:my-video-bucket").as_str())
    );
    let cfg = t.oss().unwrap();
    assert_eq!(
        cfg.events,
        [
            "oss:ObjectCreated:PutObject",
            "oss:ObjectCreated:PostObject",
            "oss:ObjectCreated:CompleteMultipartUpload"
        ]
    );
    let input = &cfg.filter.key.prefix;
    let output = &p.environment_variables["OUTPUT_PREFIX"];
    assert_eq!(input, &p.environment_variables["INPUT_PREFIX"]);
    // One trigger for every video extension: the filter's suffix stays
    // empty and oss-trigger checks INPUT_EXTENSIONS, ignoring case.
    assert_eq!(cfg.filter.key.suffix, "");
    let exts =
        vpf_core::config::parse_extensions(&p.environment_variables["INPUT_EXTENSIONS"]).unwrap();
    for e in ["mp4", "mov", "mkv", "webm", "ts", "m4v", "avi", "flv"] {
        assert!(exts.iter().any(|x| x == e), "{e} missing from {exts:?}");
    }
    assert!(
        !input.is_empty() && !input.starts_with('/'),
        "an empty prefix matches everything; a leading / never fires"
    );
    // Every output key starts with the output prefix; if either prefix were a
    // prefix of the other, some output key could match the trigger.
    assert!(
        !output.starts_with(input.as_str()) && !input.starts_with(output.as_str()),
        "input prefix {input:?} and output prefix {output:?} overlap"
    );
}

#[test]
fn the_flow_file_loads_with_catches_everywhere() {
    let f = flow();
    for name in [
        "Split",
        "TranscodeAll",
        "Merge",
        "AfterProcess",
        "RecordFailure",
    ] {
        let s = f.root.find(name).unwrap();
        let catch = match &s.kind {
            local_runner::flow::def::Kind::Task(t) => &t.catch,
            local_runner::flow::def::Kind::Map(m) => &m.catch,
            _ => panic!("{name} is neither Task nor Map"),
        };
        assert!(
            catch
                .iter()
                .any(|c| c.errors.contains(&"FnF.ALL".to_string())),
            "{name}"
        );
    }
    let transcode = f.root.find("Transcode").unwrap();
    let local_runner::flow::def::Kind::Task(t) = &transcode.kind else {
        panic!()
    };
    let transient: Vec<&String> = t.retry.iter().flat_map(|r| r.errors.iter()).collect();
    for kind in vpf_core::ErrorKind::ALL {
        assert_eq!(
            transient.contains(&&kind.as_str().to_string()),
            kind.is_transient(),
            "{kind} retried iff transient"
        );
    }
}
