//! s.yaml as the real Serverless Devs CLI renders it (`s preview`, npm
//! `@serverless-devs/s` pinned in tests/node/package.json): what `s deploy`
//! would ship must be valid for the fc3 component, must give the flow
//! component a definition it can deploy, and must equal what the local runner
//! reads from the same file, so that the emulator cannot drift from the cloud.
//!
//! The CLI renders offline: `s config add` with placeholder keys in a
//! temporary HOME gives `${config('AccountID')}` a value; `preview` needs
//! neither the network nor the fc3/flow components.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use local_runner::deploy_file::{DeployFile, Settings};
use local_runner::flow::{Flow, Vars};
use serde_json::Value;

const ACCOUNT: &str = "1234567890";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The CLI's render of a deploy file (`s.yaml`, `s.simple.yaml`), as JSON.
fn cli_render(file: &str) -> Value {
    let s = root().join("tests/node/node_modules/.bin/s");
    assert!(
        s.exists(),
        "the Serverless Devs CLI is missing: run `npm ci --prefix tests/node` (scripts/deps.sh does)"
    );
    let home = tempfile::tempdir().unwrap();
    let add = Command::new(&s)
        .args(["config", "add", "--AccessKeyID", "placeholder-id"])
        .args([
            "--AccessKeySecret",
            "placeholder-secret",
            "--AccountID",
            ACCOUNT,
        ])
        .args(["-a", "default", "-f"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stdout)
    );
    let out = Command::new(&s)
        .args(["preview", "-t", file, "-o", "json", "--silent"])
        .current_dir(root())
        .env("HOME", home.path())
        .output()
        .unwrap();
    // The CLI prints its errors on stdout too.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "s preview failed:\n{stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The local runner's reading of the same file, with the same account.
fn runner_render(file: &str) -> DeployFile {
    let settings = Settings::from_env(BTreeMap::from([(
        "AccountID".to_string(),
        ACCOUNT.to_string(),
    )]));
    DeployFile::load(&root().join(file), &settings).unwrap()
}

/// The CLI and the runner read `file` alike, and every function's props are
/// valid for the fc3 component; the number of fc3 functions.
fn same_render_and_valid_functions(cli: &Value, ours: &DeployFile) -> usize {
    let text = cli.to_string();
    assert!(!text.contains("${"), "unrendered variables: {text}");
    assert!(
        text.contains(ACCOUNT),
        "config('AccountID') was not rendered"
    );

    // The same vars and, resource by resource, the same component and props.
    assert_eq!(cli["vars"], ours.vars, "vars");
    let resources = cli["resources"].as_object().expect("resources");
    let names: Vec<&String> = resources.keys().collect();
    let our_names: Vec<&String> = ours.resources.iter().map(|r| &r.name).collect();
    assert_eq!(
        {
            let mut n = names.clone();
            n.sort();
            n
        },
        {
            let mut n = our_names.clone();
            n.sort();
            n
        }
    );
    for r in &ours.resources {
        let theirs = &resources[&r.name];
        assert_eq!(theirs["component"], r.component.as_str(), "{}", r.name);
        assert_eq!(
            theirs["props"], r.props,
            "resources.{}.props: the CLI renders\n{}\nthe local runner reads\n{}",
            r.name, theirs["props"], r.props
        );
    }

    // fc3: every function's props as the component validates them.
    let schema: Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/fc3-function-props.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut functions = 0;
    for (name, r) in resources {
        if r["component"] == "fc3" {
            let errors: Vec<String> = validator
                .iter_errors(&r["props"])
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            functions += 1;
        }
    }
    functions
}

#[test]
fn the_cli_and_the_local_runner_render_s_yaml_alike_and_it_deploys() {
    let cli = cli_render("s.yaml");
    let ours = runner_render("s.yaml");
    let resources = cli["resources"].as_object().expect("resources");
    let functions = same_render_and_valid_functions(&cli, &ours);
    assert_eq!(functions, 5);
    priced_at_the_deployed_sizes(resources, &cli["vars"]);

    // flow: the component deploys a mapping definition as it is (a string
    // would be opened as a file path), and it is the flow the runner runs.
    let flow = resources
        .values()
        .find(|r| r["component"] == "flow")
        .expect("a flow resource");
    let definition = &flow["props"]["definition"];
    assert!(
        definition.is_object(),
        "definition must be a mapping, is {:.200}",
        definition.to_string()
    );
    let (_, props) = ours.flows().unwrap().remove(0);
    assert_eq!(definition, &props.flow_document(&ours.dir).unwrap());
    let parsed = Flow::from_document(definition, &Vars::new()).unwrap();
    let region = cli["vars"]["region"].as_str().unwrap();
    for t in parsed.root.tasks() {
        assert_eq!(
            t.resource_arn,
            format!("acs:fc:{region}:{ACCOUNT}:functions/{}/LATEST", t.function),
            "the fully qualified FC 3.0 ARN"
        );
    }
}

/// after-process prices jobs with every job function's size and the CU
/// price: as the CLI renders them, `FUNCTION_SIZES` must name exactly the
/// cpu, memorySize and diskSize each function deploys with (both come from
/// the same vars), and `CU_PRICE`/`CURRENCY` the price vars, in a form
/// after-process accepts.
fn priced_at_the_deployed_sizes(resources: &serde_json::Map<String, Value>, vars: &Value) {
    use vpf_core::cost::{Function, FunctionSizes, Pricing};
    let env = &resources["after-process"]["props"]["environmentVariables"];
    let sizes: FunctionSizes = env["FUNCTION_SIZES"]
        .as_str()
        .expect("FUNCTION_SIZES is a string")
        .parse()
        .unwrap_or_else(|e| panic!("FUNCTION_SIZES as rendered: {e}"));
    for f in Function::ALL {
        let props = &resources[f.as_str()]["props"];
        let size = sizes.get(f).unwrap();
        assert_eq!(props["cpu"].as_f64(), Some(size.vcpu), "{f}: cpu");
        assert_eq!(
            props["memorySize"].as_u64(),
            Some(u64::from(size.memory_mb)),
            "{f}: memorySize"
        );
        assert_eq!(
            props["diskSize"].as_u64(),
            Some(u64::from(size.disk_mb)),
            "{f}: diskSize"
        );
        let var = match f {
            Function::Split => "splitSize",
            Function::Transcode => "transcodeSize",
            Function::Merge => "mergeSize",
            Function::AfterProcess => "afterProcessSize",
        };
        assert_eq!(
            vars[var]["cpu"], props["cpu"],
            "{f}: the size comes from vars.{var}"
        );
    }
    let pricing = Pricing {
        cu_price: env["CU_PRICE"].as_str().unwrap().parse().unwrap(),
        currency: env["CURRENCY"].as_str().unwrap().to_string(),
    };
    pricing.validate().unwrap();
    assert_eq!(
        pricing.cu_price.to_string(),
        vars["cuPrice"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            .to_string()
    );
    assert_eq!(pricing.currency, vars["currency"].as_str().unwrap());
}

/// The simple system's deploy file: one fc3 function with the OSS trigger
/// and the official FFmpeg layer, no NAS, no VPC, no flow.
#[test]
fn the_cli_and_the_local_runner_render_s_simple_yaml_alike_and_it_deploys() {
    let cli = cli_render("s.simple.yaml");
    let ours = runner_render("s.simple.yaml");
    assert_eq!(same_render_and_valid_functions(&cli, &ours), 1);
    let resources = cli["resources"].as_object().expect("resources");
    assert!(
        resources.values().all(|r| r["component"] == "fc3"),
        "no flow: {resources:?}"
    );
    assert!(ours.flows().unwrap().is_empty());
    let (_, f) = ours.functions().unwrap().remove(0);
    assert_eq!(f.function_name, "vpf-simple");
    assert_eq!(f.code, "./code-out/simple");
    assert_eq!(f.runtime, "custom.debian10");
    assert!(f.nas_config.is_none() && f.vpc_config.is_none(), "no NAS");
    let region = cli["vars"]["region"].as_str().unwrap();
    assert_eq!(
        f.layers,
        [format!(
            "acs:fc:{region}:official:layers/FFmpeg6x/versions/1"
        )]
    );
    // The same layer as the workflow's heavy functions.
    let (_, transcode) = runner_render("s.yaml")
        .functions()
        .unwrap()
        .into_iter()
        .find(|(_, p)| p.function_name == "vpf-transcode")
        .unwrap();
    assert_eq!(f.layers, transcode.layers);
    let [t] = f.triggers.as_slice() else {
        panic!("one trigger: {:?}", f.triggers)
    };
    let oss = t.oss().unwrap();
    assert_eq!(oss.filter.key.prefix, cli["vars"]["inputPrefix"]);
    assert!(
        oss.events
            .iter()
            .all(|e| e.starts_with("oss:ObjectCreated:"))
    );
    assert_eq!(t.bucket(), cli["vars"]["bucket"].as_str());
    for k in [
        "MAX_SOURCE_SECONDS",
        "MAX_SOURCE_BYTES",
        "FORMATS",
        "OUTPUT_PREFIX",
    ] {
        assert!(f.environment_variables.contains_key(k), "{k}");
    }
}
