//! The whole system on one machine, from the same s.yaml, flow file and
//! handler binaries that `s deploy` ships: the OSS emulator (buckets from
//! s.yaml vars, events on every object creation), the FC emulator (one
//! handler process per function instance, FC headers, the role's temporary
//! credentials), OSS triggers matched as FC matches them, NAS as a folder,
//! and the workflow engine behind the Serverless Workflow API.
//!
//! Only endpoints and environment differ from the cloud: the runner points
//! `OSS_ENDPOINT` and `FLOW_ENDPOINT` at its emulators and maps each NAS
//! `mountDir` to a local folder.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use vpf_core::event::OssRecord;
use vpf_core::{Error, Result};

use crate::account::LOCAL_ACCOUNT_ID;
use crate::delivery::{Delivery, deliver};
use crate::deploy_file::{DeployFile, FunctionProps};
use crate::fc::{CredentialSource, FcEmulator, FunctionSpec, OssTrigger};
use crate::flow::{Engine, EngineOptions, ExecutionRecord, Flow, Invoker, TaskError};
use crate::lock::lock;
use crate::oss::{EmulatorConfig, OssEmulator, RunningOss};

/// How long the temporary credentials handed to a function last (FC: the role session).
pub const CREDENTIAL_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct Options {
    pub s_yaml: PathBuf,
    /// State: `oss/` (buckets), `nas/`, `logs/`, `executions/`.
    pub state_dir: PathBuf,
    /// Run `<bin_dir>/<code folder name>` instead of `<code>/bootstrap`
    /// (e.g. `target/release`), so a build needs no copying.
    pub bin_dir: Option<PathBuf>,
    /// Overrides of s.yaml `vars` (e.g. `segmentSeconds`, `formats`).
    pub vars: BTreeMap<String, String>,
    /// `${config(...)}` values; `AccountID` defaults to [`LOCAL_ACCOUNT_ID`].
    pub config: BTreeMap<String, String>,
    pub oss_port: u16,
    pub flow_port: u16,
    /// Real waits = flow waits × this (tests shorten backoffs).
    pub time_scale: f64,
    /// Caps every Map's MaxConcurrency on a small machine. `None`: as many
    /// tasks as this machine's cores give instances of the largest function
    /// the flow's Maps call ([`MapCap`]).
    pub max_concurrency: Option<u32>,
    /// At most this many instances per function.
    pub max_instances: usize,
    /// Overrides every function's timeout (tests of timeouts).
    pub timeout_override: Option<Duration>,
    /// Timeouts of single functions by `functionName`, over s.yaml and
    /// `timeout_override` (a test makes one step time out, not all).
    pub timeouts: BTreeMap<String, Duration>,
    /// How long the temporary credentials handed to each call last (FC: the
    /// role session). Tests shorten it to see expiry within the 15 minutes
    /// of clock skew that signatures allow.
    pub credential_ttl: Duration,
    /// Let the OSS emulator accept V1 signatures (off: V4 only, as OSS for
    /// accounts and buckets created since 2025).
    pub accept_v1: bool,
}

impl Options {
    pub fn new(s_yaml: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Options {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Options {
            s_yaml: s_yaml.into(),
            state_dir: state_dir.into(),
            bin_dir: None,
            vars: BTreeMap::new(),
            config: BTreeMap::new(),
            oss_port: 0,
            flow_port: 0,
            time_scale: 1.0,
            max_concurrency: None,
            max_instances: cores,
            timeout_override: None,
            timeouts: BTreeMap::new(),
            credential_ttl: CREDENTIAL_TTL,
            accept_v1: false,
        }
    }
}

/// Invokes flow Tasks through the FC emulator.
#[derive(Clone)]
pub struct FcInvoker {
    fc: Arc<FcEmulator>,
}

impl Invoker for FcInvoker {
    async fn invoke(
        &self,
        function: &str,
        payload: Value,
    ) -> std::result::Result<Value, TaskError> {
        let body = serde_json::to_vec(&payload).unwrap_or_default();
        // The engine hands the answer on as `$Output.Body`.
        // The step that calls, for the call's record (the console's timeline).
        let site = crate::flow::CALL_SITE.try_with(Clone::clone).ok();
        crate::fc::task_result(self.fc.invoke_from(function, &body, 0, site).await)
    }
}

pub struct System {
    pub oss: RunningOss,
    pub fc: Arc<FcEmulator>,
    pub engines: BTreeMap<String, Engine<FcInvoker>>,
    pub flow_endpoint: String,
    pub bucket: String,
    pub region: String,
    pub triggers: Vec<OssTrigger>,
    /// The deploy file the system runs, rendered.
    pub deploy: DeployFile,
    pub state_dir: PathBuf,
    /// How many tasks a Map runs at once here, and why.
    pub map_cap: MapCap,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    in_flight: Arc<tokio::sync::Semaphore>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How many tasks of a Map (a job's transcodes) the local runner runs at
/// once. In FC each instance has the vCPUs s.yaml gives its function, so a
/// job's pieces run side by side on their own cores and the flow's
/// MaxConcurrency is the limit. Here every instance shares this machine:
/// two encodes on cores enough for one only compete (two x264 on 2 cores
/// take about 20% more CPU than one using both), so by default the runner
/// runs as many at once as the machine has room for instances of the
/// largest function the flow's Maps call, at least one.
/// `--max-concurrency` says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapCap {
    pub tasks: u32,
    /// This machine's cores.
    pub cores: u32,
    /// The largest function's vCPUs and name, from s.yaml.
    pub vcpus: f64,
    pub function: String,
    /// Given with `--max-concurrency`, not derived.
    pub given: bool,
}

impl MapCap {
    /// `cores / vcpus` of the largest function, at least 1.
    pub fn for_machine(cores: u32, functions: &[(String, f64)]) -> MapCap {
        let (function, vcpus) = functions
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .cloned()
            .unwrap_or_else(|| (String::new(), 1.0));
        let vcpus = if vcpus > 0.0 { vcpus } else { 1.0 };
        MapCap {
            tasks: ((cores as f64 / vcpus).floor() as u32).max(1),
            cores,
            vcpus,
            function,
            given: false,
        }
    }

    /// For s.yaml's functions (a function without `cpu` counts as one vCPU).
    pub fn for_functions(cores: u32, functions: &[(String, FunctionProps)]) -> MapCap {
        let sizes: Vec<(String, f64)> = functions
            .iter()
            .map(|(_, f)| (f.function_name.clone(), f.cpu.unwrap_or(1.0)))
            .collect();
        MapCap::for_machine(cores, &sizes)
    }

    /// As `--max-concurrency` gives it.
    pub fn given(tasks: u32) -> MapCap {
        MapCap {
            tasks: tasks.max(1),
            cores: 0,
            vcpus: 0.0,
            function: String::new(),
            given: true,
        }
    }

    /// The line `run` prints.
    pub fn describe(&self) -> String {
        match self.given {
            true => format!(
                "transcode tasks at once: {} (--max-concurrency)",
                self.tasks
            ),
            false => format!(
                "transcode tasks at once: {} ({} cores here, {} vCPUs per {} instance in s.yaml; --max-concurrency N to change)",
                self.tasks, self.cores, self.vcpus, self.function
            ),
        }
    }
}

/// What a client needs to talk to the system: `up --json` prints it (a
/// field without a value as `null`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub oss_endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    /// The first trigger's filter: upload under the prefix, ending with the suffix.
    pub trigger_prefix: Option<String>,
    pub trigger_suffix: Option<String>,
    /// The extensions whose uploads the triggered function processes.
    pub input_extensions: Option<Vec<String>>,
    /// s.yaml's `vars.outputPrefix`.
    pub output_prefix: Option<String>,
    pub workflow_endpoint: Option<String>,
    pub flow_name: Option<String>,
    pub state_dir: PathBuf,
}

/// Deliveries at once: OSS-triggered invocations are asynchronous in FC and
/// queue; the bound keeps a burst of uploads from starting every trigger at once.
const MAX_DELIVERIES: usize = 64;

impl System {
    /// Everything s.yaml deploys, started: the OSS emulator with its
    /// buckets, the FC emulator with every function, the flows' engines
    /// behind the workflow API, and the triggers' deliveries.
    pub async fn start(opts: Options) -> Result<System> {
        let setup = Setup::read(opts)?;
        let triggers = oss_triggers(&setup.functions)?;
        let buckets = buckets(&triggers, &setup.deploy)?;
        let dirs = StateDirs::create(&setup.opts.state_dir)?;
        let oss = setup.start_oss(&dirs.oss, &buckets).await?;

        // The workflow API must listen before any function runs, so that
        // FLOW_ENDPOINT is known; engines come right after (they need FC).
        let flow_listener =
            tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, setup.opts.flow_port)).await?;
        let flow_endpoint = format!("http://{}", flow_listener.local_addr()?);
        let fc = Arc::new(setup.start_fc(&oss, &flow_endpoint, &dirs)?);
        let (engines, map_cap) = setup.flow_engines(&fc, &dirs.executions)?;
        let api_task = serve_flow_api(flow_listener, &engines, &oss);

        let Setup {
            opts,
            deploy,
            region,
            ..
        } = setup;
        let mut sys = System {
            oss,
            fc,
            engines,
            flow_endpoint,
            // The first by name: the one `run` uploads to.
            bucket: buckets[0].clone(),
            region,
            triggers,
            deploy,
            state_dir: opts.state_dir,
            map_cap,
            deliveries: Arc::new(Mutex::new(Vec::new())),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_DELIVERIES)),
            tasks: vec![api_task],
        };
        let events = sys.oss.subscribe();
        let deliver = sys.delivery_loop(events);
        sys.tasks.push(deliver);
        Ok(sys)
    }

    fn delivery_loop(
        &self,
        mut events: tokio::sync::mpsc::UnboundedReceiver<OssRecord>,
    ) -> tokio::task::JoinHandle<()> {
        let triggers = self.triggers.clone();
        let fc = self.fc.clone();
        let log = self.deliveries.clone();
        let sem = self.in_flight.clone();
        tokio::spawn(async move {
            while let Some(rec) = events.recv().await {
                for t in triggers
                    .iter()
                    .filter(|t| t.matches(&rec.oss.bucket.name, &rec))
                {
                    let Ok(permit) = sem.clone().acquire_owned().await else {
                        return;
                    };
                    let (fc, log, t, rec) = (fc.clone(), log.clone(), t.clone(), rec.clone());
                    tokio::spawn(async move {
                        let d = deliver(&fc, &t, &rec).await;
                        lock(&log).push(d);
                        drop(permit);
                    });
                }
            }
        })
    }

    /// Deliver a recorded event (replay) to every matching trigger, as OSS would.
    pub async fn replay(&self, event: &vpf_core::event::OssEvent) -> Vec<Delivery> {
        let mut out = Vec::new();
        for rec in &event.events {
            for t in self
                .triggers
                .iter()
                .filter(|t| t.matches(&rec.oss.bucket.name, rec))
            {
                let d = deliver(&self.fc, t, rec).await;
                lock(&self.deliveries).push(d.clone());
                out.push(d);
            }
        }
        out
    }

    /// Deliveries so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.deliveries).clone()
    }

    /// The first flow (s.yaml has one).
    pub fn engine(&self) -> Result<&Engine<FcInvoker>> {
        self.engines
            .values()
            .next()
            .ok_or_else(|| Error::invalid("s.yaml has no flow resource"))
    }

    /// Wait for the delivery of `key` to finish, then for the execution it
    /// started (or found already run), up to `limit`.
    pub async fn wait_for_key(
        &self,
        key: &str,
        execution: &str,
        limit: Duration,
    ) -> Result<ExecutionRecord> {
        let engine = self.engine()?;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if engine.describe(execution).is_some() {
                break;
            }
            // This upload's delivery: an earlier one of the same key (other
            // content, or a redelivery) says nothing about this execution.
            let ours = |d: &Delivery| {
                d.key == key && vpf_core::keys::job_id(&d.bucket, &d.key, &d.etag) == execution
            };
            if let Some(d) = self.deliveries().into_iter().rev().find(ours)
                && engine.describe(execution).is_none()
            {
                let why = match &d.result {
                    Ok(a) => format!("the trigger did not start it: {a}"),
                    Err(e) => format!("the trigger failed: {e}"),
                };
                return Err(Error::invalid(format!("no execution for {key}: {why}")));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::internal(format!(
                    "no trigger delivery for {key} within {limit:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::timeout_at(deadline, engine.wait(execution))
            .await
            .map_err(|_| {
                Error::internal(format!(
                    "execution {execution} did not finish within {limit:?}"
                ))
            })?
            .ok_or_else(|| Error::internal(format!("execution {execution} vanished")))
    }

    /// Wait for the delivery of the upload `key` with `etag` to the function
    /// its trigger invokes to end (FC's retries included), up to `limit`.
    /// A deploy file without a flow (s.simple.yaml) does its whole job there.
    pub async fn wait_for_delivery(
        &self,
        key: &str,
        etag: &str,
        limit: Duration,
    ) -> Result<Delivery> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // This upload's delivery: an earlier one of the same key (other
            // content) says nothing about this one.
            if let Some(d) = self
                .deliveries()
                .into_iter()
                .rev()
                .find(|d| d.key == key && d.etag == etag)
            {
                return Ok(d);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::internal(format!(
                    "the triggered function did not finish {key} within {limit:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The extensions whose uploads the triggered function processes: its
    /// `INPUT_EXTENSIONS`, read as oss-trigger reads it.
    pub fn input_extensions(&self, function: &str) -> Vec<String> {
        let props = self.deploy.function(function).ok().flatten();
        let env = props.as_ref().and_then(|p| {
            p.environment_variables
                .get(vpf_core::config::INPUT_EXTENSIONS)
        });
        vpf_core::config::extensions_or_default(env.map(String::as_str)).unwrap_or_default()
    }

    /// What a client needs to talk to the system (`up --json`).
    pub fn describe(&self) -> Connection {
        let trig = self.triggers.first();
        let creds = self.oss.credentials();
        Connection {
            oss_endpoint: self.oss.endpoint(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            access_key_id: creds.access_key_id,
            access_key_secret: creds.access_key_secret,
            trigger_prefix: trig.map(|t| t.prefix.clone()),
            trigger_suffix: trig.map(|t| t.suffix.clone()),
            input_extensions: trig.map(|t| self.input_extensions(&t.function)),
            output_prefix: self
                .deploy
                .vars
                .get("outputPrefix")
                .and_then(Value::as_str)
                .map(str::to_string),
            // A deploy file without a flow has no workflow to talk to.
            workflow_endpoint: (!self.engines.is_empty()).then(|| self.flow_endpoint.clone()),
            flow_name: self.engines.keys().next().cloned(),
            state_dir: self.state_dir.clone(),
        }
    }

    pub async fn shutdown(self) {
        self.fc.shutdown().await;
        for t in &self.tasks {
            t.abort();
        }
        self.oss.shutdown().await;
    }
}

/// What the options and s.yaml say, read once: every part of the system
/// starts from it.
struct Setup {
    opts: Options,
    deploy: DeployFile,
    /// s.yaml's fc3 functions, at least one.
    functions: Vec<(String, FunctionProps)>,
    /// The first function's: s.yaml deploys to one region.
    region: String,
    account_id: String,
}

impl Setup {
    fn read(mut opts: Options) -> Result<Setup> {
        // Functions run in their code folders: every path handed to them
        // (NAS mounts, commands) must not depend on our working directory.
        opts.state_dir = std::path::absolute(&opts.state_dir)?;
        opts.s_yaml = std::path::absolute(&opts.s_yaml)?;
        opts.bin_dir = opts
            .bin_dir
            .as_deref()
            .map(std::path::absolute)
            .transpose()?;
        let mut config = opts.config.clone();
        let account_id = config
            .entry("AccountID".into())
            .or_insert_with(|| LOCAL_ACCOUNT_ID.into())
            .clone();
        let mut settings = crate::deploy_file::Settings::from_env(config);
        settings.var_overrides = opts.vars.clone();
        let deploy = DeployFile::load(&opts.s_yaml, &settings).map_err(|e| Error::invalid(e.0))?;
        let functions = deploy.functions().map_err(|e| Error::invalid(e.0))?;
        let Some((_, first)) = functions.first() else {
            return Err(Error::invalid(format!(
                "{} has no fc3 resources",
                opts.s_yaml.display()
            )));
        };
        let region = first.region.clone();
        Ok(Setup {
            opts,
            deploy,
            functions,
            region,
            account_id,
        })
    }

    /// The OSS emulator holding `buckets`, at `--oss-port`.
    async fn start_oss(&self, dir: &Path, buckets: &[String]) -> Result<RunningOss> {
        let mut oc = EmulatorConfig::new(dir);
        oc.region = self.region.clone();
        oc.account_id = self.account_id.clone();
        oc.buckets = buckets.to_vec();
        oc.bind = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.opts.oss_port);
        oc.accept_v1 = self.opts.accept_v1;
        OssEmulator::start(oc).await
    }

    /// The FC emulator with every function of s.yaml, handing each call
    /// temporary credentials from the OSS emulator's STS.
    fn start_fc(
        &self,
        oss: &RunningOss,
        flow_endpoint: &str,
        dirs: &StateDirs,
    ) -> Result<FcEmulator> {
        let mut specs = Vec::new();
        for (_, f) in &self.functions {
            specs.push(function_spec(
                f,
                &self.deploy.dir,
                &self.opts,
                oss,
                flow_endpoint,
                &dirs.nas,
            )?);
        }
        let creds: CredentialSource = {
            let keys = oss.keys();
            let ttl = self.opts.credential_ttl;
            Arc::new(move || keys.issue(ttl))
        };
        FcEmulator::new(
            specs,
            &self.region,
            &self.account_id,
            Some(creds),
            dirs.logs.clone(),
            self.opts.max_instances,
        )
        .map_err(|e| Error::internal(format!("starting the FC emulator: {e}")))
    }

    /// An engine per flow resource, every Task checked against s.yaml's
    /// functions, and how many tasks a Map runs at once.
    fn flow_engines(
        &self,
        fc: &Arc<FcEmulator>,
        history_dir: &Path,
    ) -> Result<(BTreeMap<String, Engine<FcInvoker>>, MapCap)> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(2);
        // Refined per flow below, from the functions its Maps call.
        let mut map_cap = match self.opts.max_concurrency {
            Some(tasks) => MapCap::given(tasks),
            None => MapCap::for_functions(cores, &self.functions),
        };
        let vars: crate::flow::Vars = [
            ("region".to_string(), self.region.clone()),
            ("uid".to_string(), self.account_id.clone()),
        ]
        .into_iter()
        .collect();
        let mut engines = BTreeMap::new();
        for (rname, fp) in self.deploy.flows().map_err(|e| Error::invalid(e.0))? {
            let doc = fp
                .flow_document(&self.deploy.dir)
                .map_err(|e| Error::invalid(e.0))?;
            let flow = Flow::from_document(&doc, &vars)
                .map_err(|e| Error::invalid(format!("resources.{rname}: {}", e.0)))?;
            for t in flow.root.tasks() {
                if !fc.function_names().contains(&t.function) {
                    return Err(Error::invalid(format!(
                        "flow {}: a task calls {} ({:?}), which s.yaml does not define",
                        fp.name, t.resource_arn, t.function
                    )));
                }
            }
            if self.opts.max_concurrency.is_none() {
                let called: Vec<(String, FunctionProps)> = self
                    .functions
                    .iter()
                    .filter(|(_, f)| {
                        flow.root
                            .map_tasks()
                            .iter()
                            .any(|t| t.function == f.function_name)
                    })
                    .cloned()
                    .collect();
                if !called.is_empty() {
                    map_cap = MapCap::for_functions(cores, &called);
                }
            }
            let engine = Engine::new(
                flow,
                FcInvoker { fc: fc.clone() },
                EngineOptions {
                    time_scale: self.opts.time_scale,
                    max_concurrency_cap: Some(map_cap.tasks),
                    history_dir: Some(history_dir.to_path_buf()),
                },
            );
            engines.insert(fp.name.clone(), engine);
        }
        Ok((engines, map_cap))
    }
}

/// The state folder's parts: buckets, NAS, function logs, execution histories.
struct StateDirs {
    oss: PathBuf,
    nas: PathBuf,
    logs: PathBuf,
    executions: PathBuf,
}

impl StateDirs {
    fn create(state_dir: &Path) -> Result<StateDirs> {
        let [oss, nas, logs, executions] =
            ["oss", "nas", "logs", "executions"].map(|d| state_dir.join(d));
        for d in [&oss, &nas, &logs, &executions] {
            std::fs::create_dir_all(d)?;
        }
        Ok(StateDirs {
            oss,
            nas,
            logs,
            executions,
        })
    }
}

/// The OSS triggers of s.yaml's functions (the only kind emulated).
fn oss_triggers(functions: &[(String, FunctionProps)]) -> Result<Vec<OssTrigger>> {
    let mut triggers = Vec::new();
    for (_, f) in functions {
        for t in &f.triggers {
            if t.trigger_type != "oss" {
                return Err(Error::invalid(format!(
                    "function {}: trigger {} is of type {:?}; the local runner emulates oss triggers only",
                    f.function_name, t.trigger_name, t.trigger_type
                )));
            }
            let cfg = t.oss().map_err(|e| Error::invalid(e.0))?;
            let bucket = t.bucket().ok_or_else(|| {
                Error::invalid(format!(
                    "trigger {}: sourceArn names no bucket",
                    t.trigger_name
                ))
            })?;
            triggers.push(OssTrigger {
                name: t.trigger_name.clone(),
                function: f.function_name.clone(),
                bucket: bucket.to_string(),
                events: cfg.events.clone(),
                prefix: cfg.filter.key.prefix.clone(),
                suffix: cfg.filter.key.suffix.clone(),
            });
        }
    }
    Ok(triggers)
}

/// The buckets to create, by name, at least one: those the triggers name,
/// and `vars.bucket`.
fn buckets(triggers: &[OssTrigger], deploy: &DeployFile) -> Result<Vec<String>> {
    let mut buckets: Vec<String> = triggers.iter().map(|t| t.bucket.clone()).collect();
    if let Some(b) = deploy.vars.get("bucket").and_then(Value::as_str) {
        buckets.push(b.to_string());
    }
    buckets.sort();
    buckets.dedup();
    if buckets.is_empty() {
        return Err(Error::invalid(
            "s.yaml names no bucket (vars.bucket or an OSS trigger)",
        ));
    }
    Ok(buckets)
}

/// The Serverless Workflow API over the engines, on its listener, checking
/// signatures against the OSS emulator's key ring (static and temporary keys).
fn serve_flow_api(
    listener: tokio::net::TcpListener,
    engines: &BTreeMap<String, Engine<FcInvoker>>,
    oss: &RunningOss,
) -> tokio::task::JoinHandle<()> {
    let api = Arc::new(crate::flow::api::ApiState::new(
        engines.values().cloned().collect(),
        oss.keys(),
    ));
    tokio::spawn(async move {
        crate::serve::serve(
            listener,
            crate::flow::api::router(api),
            crate::serve::ServeLimits::default(),
            std::future::pending(),
        )
        .await;
    })
}

/// How the runner starts one function: its command with `/code` mapped to
/// the code folder (or the binary in `bin_dir`), its environment with the
/// endpoints and NAS mounts mapped to local ones.
fn function_spec(
    f: &FunctionProps,
    dir: &Path,
    opts: &Options,
    oss: &RunningOss,
    flow_endpoint: &str,
    nas_root: &Path,
) -> Result<FunctionSpec> {
    // Absolute: the process runs with the code folder as its working
    // directory, where a relative command would no longer resolve.
    let code = std::path::absolute(dir.join(&f.code))?;
    let code_name = Path::new(&f.code)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let crc = f.custom_runtime_config.clone().unwrap_or_default();
    let mut command: Vec<String> = if crc.command.is_empty() {
        vec!["/code/bootstrap".into()]
    } else {
        crc.command.clone()
    };
    command.extend(crc.args.iter().cloned());
    let map_code = |s: &str| -> String {
        match s.strip_prefix("/code") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", code.display())
            }
            _ => s.to_string(),
        }
    };
    if let (Some(bin), true) = (&opts.bin_dir, command[0] == "/code/bootstrap") {
        command[0] = bin.join(&code_name).to_string_lossy().into_owned();
    } else {
        command = command.iter().map(|c| map_code(c)).collect();
    }
    if !Path::new(&command[0]).is_file() {
        return Err(Error::invalid(format!(
            "function {}: {} does not exist; build the handlers first (scripts/build-code.sh, or cargo build --release with --bin-dir target/release)",
            f.function_name, command[0]
        )));
    }
    let mounts = nas_mounts(f, nas_root)?;
    let mut env: Vec<(String, String)> = Vec::new();
    // A clean environment as in FC, with what a process needs to find
    // ffmpeg and log as asked.
    for k in [
        "PATH",
        "RUST_LOG",
        "LOG_FORMAT",
        "FFMPEG_PATH",
        "FFPROBE_PATH",
        "TMPDIR",
    ] {
        if let Ok(v) = std::env::var(k) {
            env.push((k.into(), v));
        }
    }
    for (k, v) in &f.environment_variables {
        let v = match k.as_str() {
            vpf_core::config::OSS_ENDPOINT => oss.endpoint(),
            vpf_core::config::FLOW_ENDPOINT => flow_endpoint.to_string(),
            _ => map_mounts(v, &mounts),
        };
        env.push((k.clone(), v));
    }
    for (k, v) in [
        (vpf_core::config::OSS_ENDPOINT, oss.endpoint()),
        (vpf_core::config::FLOW_ENDPOINT, flow_endpoint.to_string()),
    ] {
        if !env.iter().any(|(e, _)| e == k) {
            env.push((k.into(), v));
        }
    }
    let timeout = opts
        .timeouts
        .get(&f.function_name)
        .copied()
        .or(opts.timeout_override)
        .unwrap_or_else(|| Duration::from_secs(u64::from(f.timeout.unwrap_or(60))));
    Ok(FunctionSpec {
        name: f.function_name.clone(),
        command,
        env,
        timeout,
        instance_concurrency: f.instance_concurrency.unwrap_or(1),
        memory_mb: f.memory_size,
        cwd: code.is_dir().then_some(code),
    })
}

/// `nasConfig: auto` mounts at `/mnt/auto`; an explicit config lists mount points.
fn nas_mounts(f: &FunctionProps, nas_root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let Some(cfg) = &f.nas_config else {
        return Ok(Vec::new());
    };
    let dirs: Vec<String> = match cfg {
        Value::String(s) if s == "auto" => vec![vpf_core::nas::DEFAULT_MOUNT.to_string()],
        Value::Object(o) => o
            .get("mountPoints")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| {
                        m.get("mountDir")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        other => {
            return Err(Error::invalid(format!(
                "function {}: nasConfig {other} is neither \"auto\" nor a mapping with mountPoints",
                f.function_name
            )));
        }
    };
    let mut out = Vec::new();
    for d in dirs {
        let local = nas_root.join(d.trim_start_matches('/').replace('/', "_"));
        std::fs::create_dir_all(&local)?;
        out.push((d, local));
    }
    Ok(out)
}

fn map_mounts(v: &str, mounts: &[(String, PathBuf)]) -> String {
    for (dir, local) in mounts {
        if let Some(rest) = v.strip_prefix(dir.as_str())
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return format!("{}{rest}", local.display());
        }
    }
    v.to_string()
}

#[cfg(test)]
mod map_cap_tests {
    use super::MapCap;

    #[test]
    fn instances_fit_the_machine_and_at_least_one_runs() {
        let sizes = [
            ("vpf-split".to_string(), 2.0),
            ("vpf-transcode".to_string(), 4.0),
        ];
        let c = MapCap::for_machine(2, &sizes);
        assert_eq!(
            (c.tasks, c.vcpus, c.function.as_str()),
            (1, 4.0, "vpf-transcode")
        );
        assert_eq!(MapCap::for_machine(16, &sizes).tasks, 4);
        assert_eq!(MapCap::for_machine(8, &[]).tasks, 8);
        assert_eq!(MapCap::for_machine(3, &[("f".into(), 0.0)]).tasks, 3);
        assert!(
            c.describe()
                .contains("2 cores here, 4 vCPUs per vpf-transcode instance")
        );
    }
}
