//! Loading a CloudFlow state machine (`Type: StateMachine`, `SpecVersion: v1`)
//! into checked, typed states.
//!
//! The engine runs the flow file exactly as written, so anything it would not
//! honour is refused here with its place, e.g.
//! `States[2].Processor.States[0]: unsupported field 'ResultSelector'`.
//! Nothing is silently ignored: an unknown field, state type, Action, TaskMode,
//! invocation type or expression fails the load.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use super::expr::{Condition, Expr, Scope as ExprScope, Template};

/// A load error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, LoadError> {
    Err(LoadError(msg.into()))
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub description: Option<String>,
    pub root: StateList,
    /// The YAML text as loaded (DescribeExecution returns it as FlowDefinition).
    pub source: String,
}

/// `StartAt` plus `States`: the top level, a Map's Processor, a Parallel branch.
#[derive(Debug, Clone)]
pub struct StateList {
    pub start_at: String,
    pub states: Vec<State>,
    index: HashMap<String, usize>,
}

impl StateList {
    pub fn get(&self, name: &str) -> Option<&State> {
        self.index.get(name).map(|&i| &self.states[i])
    }

    pub fn start(&self) -> &State {
        // Checked at load: StartAt names a state of this list.
        &self.states[self.index[&self.start_at]]
    }

    /// Every Task in this list and the lists inside it.
    pub fn tasks(&self) -> Vec<&Task> {
        let mut out = Vec::new();
        for s in &self.states {
            match &s.kind {
                Kind::Task(t) => out.push(t),
                Kind::Map(m) => out.extend(m.processor.tasks()),
                Kind::Parallel(p) => p.branches.iter().for_each(|b| out.extend(b.tasks())),
                _ => {}
            }
        }
        out
    }

    /// The Tasks that Maps in this list run for their items (at any depth).
    pub fn map_tasks(&self) -> Vec<&Task> {
        let mut out = Vec::new();
        for s in &self.states {
            match &s.kind {
                Kind::Map(m) => out.extend(m.processor.tasks()),
                Kind::Parallel(p) => p.branches.iter().for_each(|b| out.extend(b.map_tasks())),
                _ => {}
            }
        }
        out
    }

    pub fn find(&self, name: &str) -> Option<&State> {
        for s in &self.states {
            if s.name == name {
                return Some(s);
            }
            let inner = match &s.kind {
                Kind::Map(m) => m.processor.find(name),
                Kind::Parallel(p) => p.branches.iter().find_map(|b| b.find(name)),
                _ => None,
            };
            if inner.is_some() {
                return inner;
            }
        }
        None
    }
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    /// Where it sits in the file, e.g. `States[1].Processor.States[0]`.
    pub loc: String,
    pub input: Option<Template>,
    pub output: Option<Template>,
    pub next: Next,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    State(String),
    End,
    /// Choice picks its own; Succeed and Fail end the scope.
    None,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Task(Task),
    Pass,
    Choice(Choice),
    Map(MapState),
    Parallel(Parallel),
    Wait { seconds: f64 },
    Succeed,
    Fail { code: String, detail: String },
}

#[derive(Debug, Clone)]
pub struct Task {
    /// The FC function the resourceArn names.
    pub function: String,
    pub resource_arn: String,
    pub body: Option<Template>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub struct MapState {
    pub items_path: Expr,
    pub processor: StateList,
    /// `None`: no limit (all items at once).
    pub max_concurrency: Option<u32>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub struct Parallel {
    pub branches: Vec<StateList>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub branches: Vec<(Condition, String)>,
    pub default: Option<String>,
}

/// One Retry rule. CloudFlow waits `IntervalSeconds * BackoffRate^(n-1)`
/// before retry n, capped by `MaxBackoffSeconds`, for at most `MaxAttempts`
/// retries; without BackoffRate the interval stays constant.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub max_attempts: u32,
    pub interval_seconds: f64,
    pub backoff_rate: f64,
    pub max_backoff_seconds: Option<f64>,
}

impl Retrier {
    /// The wait before retry `n` (1-based), in unscaled seconds.
    pub fn delay(&self, n: u32) -> f64 {
        let d = self.interval_seconds * self.backoff_rate.powi(n.saturating_sub(1) as i32);
        match self.max_backoff_seconds {
            Some(cap) => d.min(cap),
            None => d,
        }
    }

    pub fn matches(&self, error: &str) -> bool {
        matches_errors(&self.errors, error)
    }
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub errors: Vec<String>,
    pub next: String,
    pub output: Option<Template>,
}

impl Catcher {
    pub fn matches(&self, error: &str) -> bool {
        matches_errors(&self.errors, error)
    }
}

/// `FnF.ALL` matches every error; other names match exactly.
pub fn matches_errors(list: &[String], error: &str) -> bool {
    list.iter().any(|e| e == "FnF.ALL" || e == error)
}

/// `${name}` placeholders allowed in a resourceArn, with their values.
pub type Vars = BTreeMap<String, String>;

impl Flow {
    pub fn parse(text: &str, vars: &Vars) -> Result<Flow, LoadError> {
        let doc: Value =
            serde_saphyr::from_str(text).map_err(|e| LoadError(format!("not valid YAML: {e}")))?;
        let mut flow = Flow::from_document(&doc, vars)?;
        flow.source = text.to_string();
        Ok(flow)
    }

    /// The flow from its definition as a mapping (how s.yaml hands it over).
    pub fn from_document(doc: &Value, vars: &Vars) -> Result<Flow, LoadError> {
        let m = obj(doc, "flow")?;
        allow(
            m,
            "",
            &[
                "Type",
                "Name",
                "SpecVersion",
                "StartAt",
                "States",
                "Description",
            ],
        )?;
        if str_field(m, "", "Type")? != "StateMachine" {
            return err("Type: must be StateMachine (the older FDL `type: flow` is not supported)");
        }
        if str_field(m, "", "SpecVersion")? != "v1" {
            return err("SpecVersion: must be v1");
        }
        let name = str_field(m, "", "Name")?.to_string();
        let description = opt_str(m, "", "Description")?;
        let root = parse_list(m, "", vars)?;
        Ok(Flow {
            name,
            description,
            root,
            // The definition as DescribeFlow returns it (JSON is YAML too).
            source: serde_json::to_string_pretty(doc).unwrap_or_default(),
        })
    }
}

fn join(loc: &str, field: &str) -> String {
    if loc.is_empty() {
        field.to_string()
    } else {
        format!("{loc}.{field}")
    }
}

fn obj<'a>(v: &'a Value, loc: &str) -> Result<&'a Map<String, Value>, LoadError> {
    v.as_object()
        .ok_or_else(|| LoadError(format!("{loc}: must be a mapping")))
}

fn allow(m: &Map<String, Value>, loc: &str, fields: &[&str]) -> Result<(), LoadError> {
    for k in m.keys() {
        if !fields.contains(&k.as_str()) {
            let at = if loc.is_empty() { "top level" } else { loc };
            return err(format!("{at}: unsupported field '{k}'"));
        }
    }
    Ok(())
}

fn str_field<'a>(m: &'a Map<String, Value>, loc: &str, f: &str) -> Result<&'a str, LoadError> {
    match m.get(f) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => err(format!("{}: must be a non-empty string", join(loc, f))),
        None => err(format!("{}: missing", join(loc, f))),
    }
}

fn opt_str(m: &Map<String, Value>, loc: &str, f: &str) -> Result<Option<String>, LoadError> {
    match m.get(f) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => err(format!("{}: must be a string", join(loc, f))),
    }
}

fn num(m: &Map<String, Value>, loc: &str, f: &str) -> Result<Option<f64>, LoadError> {
    match m.get(f) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
            _ => err(format!("{}: must be a non-negative number", join(loc, f))),
        },
    }
}

fn parse_list(m: &Map<String, Value>, loc: &str, vars: &Vars) -> Result<StateList, LoadError> {
    let start_at = str_field(m, loc, "StartAt")?.to_string();
    let states_loc = join(loc, "States");
    let arr = match m.get("States") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(_) => return err(format!("{states_loc}: must be a non-empty list")),
        None => return err(format!("{states_loc}: missing")),
    };
    let mut states = Vec::with_capacity(arr.len());
    let mut index = HashMap::new();
    for (i, v) in arr.iter().enumerate() {
        let sloc = format!("{states_loc}[{i}]");
        let s = parse_state(v, &sloc, vars)?;
        if index.insert(s.name.clone(), i).is_some() {
            return err(format!(
                "{sloc}.Name: state name '{}' is used twice",
                s.name
            ));
        }
        states.push(s);
    }
    if !index.contains_key(&start_at) {
        return err(format!(
            "{}: no state named '{start_at}' in this list",
            join(loc, "StartAt")
        ));
    }
    let list = StateList {
        start_at,
        states,
        index,
    };
    // Every transition names a state of the same list.
    for s in &list.states {
        let mut targets: Vec<(String, &str)> = Vec::new();
        if let Next::State(n) = &s.next {
            targets.push((join(&s.loc, "Next"), n));
        }
        let catchers: &[Catcher] = match &s.kind {
            Kind::Task(t) => &t.catch,
            Kind::Map(m) => &m.catch,
            Kind::Parallel(p) => &p.catch,
            _ => &[],
        };
        for (i, c) in catchers.iter().enumerate() {
            targets.push((format!("{}.Catch[{i}].Next", s.loc), &c.next));
        }
        if let Kind::Choice(c) = &s.kind {
            for (i, (_, n)) in c.branches.iter().enumerate() {
                targets.push((format!("{}.Branches[{i}].Next", s.loc), n));
            }
            if let Some(d) = &c.default {
                targets.push((join(&s.loc, "Default"), d));
            }
        }
        for (at, t) in targets {
            if list.get(t).is_none() {
                return err(format!("{at}: no state named '{t}' in this list"));
            }
        }
    }
    // Unreachable states are almost always a typo in a Next.
    let mut seen = HashSet::new();
    let mut todo = vec![list.start_at.clone()];
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(s) = list.get(&n) {
            if let Next::State(x) = &s.next {
                todo.push(x.clone());
            }
            match &s.kind {
                Kind::Task(t) => todo.extend(t.catch.iter().map(|c| c.next.clone())),
                Kind::Map(m) => todo.extend(m.catch.iter().map(|c| c.next.clone())),
                Kind::Parallel(p) => todo.extend(p.catch.iter().map(|c| c.next.clone())),
                Kind::Choice(c) => {
                    todo.extend(c.branches.iter().map(|(_, n)| n.clone()));
                    todo.extend(c.default.clone());
                }
                _ => {}
            }
        }
    }
    for s in &list.states {
        if !seen.contains(&s.name) {
            return err(format!("{}: state '{}' cannot be reached", s.loc, s.name));
        }
    }
    Ok(list)
}

const COMMON: [&str; 7] = [
    "Name",
    "Type",
    "Description",
    "InputConstructor",
    "OutputConstructor",
    "Next",
    "End",
];

fn parse_state(v: &Value, loc: &str, vars: &Vars) -> Result<State, LoadError> {
    let m = obj(v, loc)?;
    let name = str_field(m, loc, "Name")?.to_string();
    let ty = str_field(m, loc, "Type")?.to_string();
    let extra: &[&str] = match ty.as_str() {
        "Task" => &["Action", "TaskMode", "Parameters", "Retry", "Catch"],
        "Pass" => &[],
        "Choice" => &["Branches", "Default"],
        "Map" => &["ItemsPath", "Processor", "MaxConcurrency", "Retry", "Catch"],
        "Parallel" => &["Branches", "Retry", "Catch"],
        "Wait" => &["Seconds"],
        "Succeed" => &[],
        "Fail" => &["Code", "Detail"],
        other => {
            return err(format!(
                "{}: unsupported state type '{other}' (supported: Task, Pass, Choice, Map, Parallel, Wait, Succeed, Fail)",
                join(loc, "Type")
            ));
        }
    };
    let mut fields: Vec<&str> = COMMON.to_vec();
    fields.extend_from_slice(extra);
    if matches!(ty.as_str(), "Choice") {
        fields.retain(|f| *f != "Next" && *f != "End");
    }
    allow(m, loc, &fields)?;

    let input = constructor(m, loc, "InputConstructor", ExprScope::Input)?;
    let output = constructor(m, loc, "OutputConstructor", ExprScope::Output)?;
    let has_next = m.get("Next").map(|n| {
        n.as_str()
            .map(str::to_string)
            .ok_or_else(|| LoadError(format!("{}: must be a string", join(loc, "Next"))))
    });
    let end = match m.get("End") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return err(format!("{}: must be true or false", join(loc, "End"))),
    };
    let next = match (has_next.transpose()?, end) {
        (Some(_), true) => return err(format!("{loc}: has both Next and End")),
        (Some(n), false) => Next::State(n),
        (None, true) => Next::End,
        (None, false) => Next::None,
    };
    let needs_transition = !matches!(ty.as_str(), "Choice" | "Succeed" | "Fail");
    if needs_transition && next == Next::None {
        return err(format!("{loc}: needs Next or End: true"));
    }

    let kind = match ty.as_str() {
        "Task" => Kind::Task(parse_task(m, loc, vars)?),
        "Pass" => Kind::Pass,
        "Choice" => Kind::Choice(parse_choice(m, loc)?),
        "Map" => {
            let items_path = Expr::parse(str_field(m, loc, "ItemsPath")?, ExprScope::Input)
                .map_err(|e| LoadError(format!("{}: {e}", join(loc, "ItemsPath"))))?;
            let ploc = join(loc, "Processor");
            let p = obj(
                m.get("Processor")
                    .ok_or_else(|| LoadError(format!("{ploc}: missing")))?,
                &ploc,
            )?;
            allow(p, &ploc, &["StartAt", "States"])?;
            let processor = parse_list(p, &ploc, vars)?;
            let max_concurrency = match m.get("MaxConcurrency") {
                None => None,
                Some(v) => match v.as_u64() {
                    // 0 means "no limit" in the Map documentation.
                    Some(0) => None,
                    // CloudFlow's inline Map runs at most 40 iterations at once.
                    Some(n) if n <= 40 => Some(n as u32),
                    _ => {
                        return err(format!(
                            "{}: must be an integer 0-40 (inline Map limit)",
                            join(loc, "MaxConcurrency")
                        ));
                    }
                },
            };
            Kind::Map(MapState {
                items_path,
                processor,
                max_concurrency,
                retry: parse_retry(m, loc)?,
                catch: parse_catch(m, loc)?,
            })
        }
        "Parallel" => {
            let bloc = join(loc, "Branches");
            let arr = match m.get("Branches") {
                Some(Value::Array(a)) if !a.is_empty() => a,
                _ => return err(format!("{bloc}: must be a non-empty list")),
            };
            let mut branches = Vec::new();
            for (i, b) in arr.iter().enumerate() {
                let l = format!("{bloc}[{i}]");
                let bm = obj(b, &l)?;
                allow(bm, &l, &["StartAt", "States"])?;
                branches.push(parse_list(bm, &l, vars)?);
            }
            Kind::Parallel(Parallel {
                branches,
                retry: parse_retry(m, loc)?,
                catch: parse_catch(m, loc)?,
            })
        }
        "Wait" => Kind::Wait {
            seconds: num(m, loc, "Seconds")?
                .ok_or_else(|| LoadError(format!("{}: missing", join(loc, "Seconds"))))?,
        },
        "Succeed" => Kind::Succeed,
        "Fail" => Kind::Fail {
            code: opt_str(m, loc, "Code")?.unwrap_or_default(),
            detail: str_field(m, loc, "Detail")?.to_string(),
        },
        _ => unreachable!("checked above"),
    };
    Ok(State {
        name,
        loc: loc.to_string(),
        input,
        output,
        next,
        kind,
    })
}

fn constructor(
    m: &Map<String, Value>,
    loc: &str,
    field: &str,
    scope: ExprScope,
) -> Result<Option<Template>, LoadError> {
    match m.get(field) {
        None => Ok(None),
        Some(v @ Value::Object(_)) => Template::compile(v, scope, &join(loc, field))
            .map(Some)
            .map_err(LoadError),
        Some(_) => err(format!("{}: must be a mapping", join(loc, field))),
    }
}

fn parse_task(m: &Map<String, Value>, loc: &str, vars: &Vars) -> Result<Task, LoadError> {
    let action = str_field(m, loc, "Action")?;
    if action != "FC:InvokeFunction" {
        return err(format!(
            "{}: unsupported action '{action}' (only FC:InvokeFunction)",
            join(loc, "Action")
        ));
    }
    if let Some(mode) = opt_str(m, loc, "TaskMode")?
        && mode != "RequestComplete"
    {
        return err(format!(
            "{}: unsupported TaskMode '{mode}' (only RequestComplete)",
            join(loc, "TaskMode")
        ));
    }
    let ploc = join(loc, "Parameters");
    let p = obj(
        m.get("Parameters")
            .ok_or_else(|| LoadError(format!("{ploc}: missing")))?,
        &ploc,
    )?;
    allow(
        p,
        &ploc,
        &["resourceArn", "invocationType", "body", "body.$"],
    )?;
    let inv = str_field(p, &ploc, "invocationType")?;
    if inv != "Sync" {
        return err(format!(
            "{}: unsupported invocationType '{inv}' (only Sync: the flow needs the answer)",
            join(&ploc, "invocationType")
        ));
    }
    let arn_loc = join(&ploc, "resourceArn");
    let raw_arn = str_field(p, &ploc, "resourceArn")?;
    let resource_arn =
        substitute(raw_arn, vars).map_err(|e| LoadError(format!("{arn_loc}: {e}")))?;
    let function =
        function_of_arn(&resource_arn).map_err(|e| LoadError(format!("{arn_loc}: {e}")))?;
    let body = match (p.get("body"), p.get("body.$")) {
        (Some(_), Some(_)) => return err(format!("{ploc}: has both body and body.$")),
        (Some(v), None) => {
            Some(Template::compile(v, ExprScope::Input, &join(&ploc, "body")).map_err(LoadError)?)
        }
        (None, Some(v)) => {
            let l = join(&ploc, "body.$");
            let text = v
                .as_str()
                .ok_or_else(|| LoadError(format!("{l}: an expression must be a string")))?;
            Some(Template::Expr(
                Expr::parse(text, ExprScope::Input).map_err(|e| LoadError(format!("{l}: {e}")))?,
            ))
        }
        (None, None) => None,
    };
    Ok(Task {
        function,
        resource_arn,
        body,
        retry: parse_retry(m, loc)?,
        catch: parse_catch(m, loc)?,
    })
}

/// Replace `${name}` with its value; an unknown name is an error.
pub fn substitute(s: &str, vars: &Vars) -> Result<String, String> {
    crate::placeholder::replace(
        s,
        |name| {
            let name = name.trim();
            vars.get(name).cloned().ok_or_else(|| {
                format!(
                    "unknown variable '${{{name}}}' (known: {})",
                    vars.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })
        },
        || format!("unclosed '${{' in {s:?}"),
    )
}

/// `acs:fc:<region>:<account>:functions/<name>[/<qualifier>]` -> name.
/// Region and account may be empty: the flow's own region and account.
pub fn function_of_arn(arn: &str) -> Result<String, String> {
    let parts: Vec<&str> = arn.splitn(5, ':').collect();
    if parts.len() != 5 || parts[0] != "acs" || parts[1] != "fc" {
        return Err(format!(
            "'{arn}' is not an FC 3.0 function ARN (acs:fc:<region>:<account>:functions/<name>/<qualifier>)"
        ));
    }
    let res: Vec<&str> = parts[4].split('/').collect();
    match res.as_slice() {
        ["functions", name] | ["functions", name, _] if valid_function_name(name) => {
            Ok(name.to_string())
        }
        _ => Err(format!(
            "'{arn}': resource must be functions/<name>[/<qualifier>] (FC 3.0; service-style ARNs are not supported)"
        )),
    }
}

fn valid_function_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 128
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn string_list(v: &Value, loc: &str) -> Result<Vec<String>, LoadError> {
    let a = v
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| LoadError(format!("{loc}: must be a non-empty list of error names")))?;
    a.iter()
        .map(|e| {
            e.as_str()
                .map(str::to_string)
                .ok_or_else(|| LoadError(format!("{loc}: error names are strings")))
        })
        .collect()
}

fn parse_retry(m: &Map<String, Value>, loc: &str) -> Result<Vec<Retrier>, LoadError> {
    let Some(v) = m.get("Retry") else {
        return Ok(Vec::new());
    };
    let rl = join(loc, "Retry");
    let arr = v
        .as_array()
        .ok_or_else(|| LoadError(format!("{rl}: must be a list")))?;
    let mut out = Vec::new();
    for (i, r) in arr.iter().enumerate() {
        let l = format!("{rl}[{i}]");
        let rm = obj(r, &l)?;
        allow(
            rm,
            &l,
            &[
                "Errors",
                "Description",
                "MaxAttempts",
                "IntervalSeconds",
                "BackoffRate",
                "MaxBackoffSeconds",
            ],
        )?;
        let errors = string_list(
            rm.get("Errors")
                .ok_or_else(|| LoadError(format!("{l}.Errors: missing")))?,
            &format!("{l}.Errors"),
        )?;
        let max_attempts = rm
            .get("MaxAttempts")
            .and_then(Value::as_u64)
            .filter(|n| *n <= 1000)
            .ok_or_else(|| {
                LoadError(format!("{l}.MaxAttempts: missing or not an integer 0-1000"))
            })? as u32;
        let interval_seconds = num(rm, &l, "IntervalSeconds")?
            .ok_or_else(|| LoadError(format!("{l}.IntervalSeconds: missing")))?;
        if interval_seconds > 86400.0 {
            return err(format!("{l}.IntervalSeconds: at most 86400"));
        }
        let backoff_rate = num(rm, &l, "BackoffRate")?.unwrap_or(1.0);
        if backoff_rate < 1.0 {
            return err(format!("{l}.BackoffRate: must be at least 1"));
        }
        let max_backoff_seconds = num(rm, &l, "MaxBackoffSeconds")?;
        if max_backoff_seconds.is_some_and(|m| m > 86400.0) {
            return err(format!("{l}.MaxBackoffSeconds: at most 86400"));
        }
        out.push(Retrier {
            errors,
            max_attempts,
            interval_seconds,
            backoff_rate,
            max_backoff_seconds,
        });
    }
    Ok(out)
}

fn parse_catch(m: &Map<String, Value>, loc: &str) -> Result<Vec<Catcher>, LoadError> {
    let Some(v) = m.get("Catch") else {
        return Ok(Vec::new());
    };
    let cl = join(loc, "Catch");
    let arr = v
        .as_array()
        .ok_or_else(|| LoadError(format!("{cl}: must be a list")))?;
    let mut out = Vec::new();
    for (i, c) in arr.iter().enumerate() {
        let l = format!("{cl}[{i}]");
        let cm = obj(c, &l)?;
        allow(
            cm,
            &l,
            &["Errors", "Description", "Next", "OutputConstructor"],
        )?;
        out.push(Catcher {
            errors: string_list(
                cm.get("Errors")
                    .ok_or_else(|| LoadError(format!("{l}.Errors: missing")))?,
                &format!("{l}.Errors"),
            )?,
            next: str_field(cm, &l, "Next")?.to_string(),
            output: constructor(cm, &l, "OutputConstructor", ExprScope::Output)?,
        });
    }
    Ok(out)
}

fn parse_choice(m: &Map<String, Value>, loc: &str) -> Result<Choice, LoadError> {
    let bl = join(loc, "Branches");
    let arr = match m.get("Branches") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => return err(format!("{bl}: must be a non-empty list")),
    };
    let mut branches = Vec::new();
    for (i, b) in arr.iter().enumerate() {
        let l = format!("{bl}[{i}]");
        let bm = obj(b, &l)?;
        allow(bm, &l, &["Condition", "Next", "Description"])?;
        let cond = Condition::parse(str_field(bm, &l, "Condition")?)
            .map_err(|e| LoadError(format!("{l}.Condition: {e}")))?;
        branches.push((cond, str_field(bm, &l, "Next")?.to_string()));
    }
    Ok(Choice {
        branches,
        default: opt_str(m, loc, "Default")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"
Type: StateMachine
Name: t
SpecVersion: v1
StartAt: A
States:
  - Name: A
    Type: Task
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      invocationType: Sync
      resourceArn: acs:fc:${region}::functions/fn-a/LATEST
      body.$: $Input
    Next: M
  - Name: M
    Type: Map
    ItemsPath: $Input.items
    MaxConcurrency: 3
    Processor:
      StartAt: P
      States:
        - Name: P
          Type: Pass
          End: true
    End: true
"#;

    fn vars() -> Vars {
        Vars::from([("region".to_string(), "cn-hangzhou".to_string())])
    }

    #[test]
    fn loads_a_small_flow() {
        let f = Flow::parse(MINI, &vars()).unwrap();
        assert_eq!(f.root.start_at, "A");
        let tasks = f.root.tasks();
        assert_eq!(tasks[0].function, "fn-a");
        assert_eq!(
            tasks[0].resource_arn,
            "acs:fc:cn-hangzhou::functions/fn-a/LATEST"
        );
    }

    #[test]
    fn refuses_unknown_field_with_its_place() {
        let bad = MINI.replace(
            "          Type: Pass\n",
            "          Type: Pass\n          ResultSelector: {}\n",
        );
        let e = Flow::parse(&bad, &vars()).unwrap_err();
        assert_eq!(
            e.0,
            "States[1].Processor.States[0]: unsupported field 'ResultSelector'"
        );
    }

    #[test]
    fn refuses_unknown_variables_types_and_targets() {
        let e = Flow::parse(MINI, &Vars::new()).unwrap_err();
        assert!(
            e.0.starts_with("States[0].Parameters.resourceArn: unknown variable '${region}'"),
            "{}",
            e.0
        );
        let e = Flow::parse(&MINI.replace("Type: Pass", "Type: Loop"), &vars()).unwrap_err();
        assert!(
            e.0.contains("States[1].Processor.States[0].Type: unsupported state type 'Loop'"),
            "{}",
            e.0
        );
        let e = Flow::parse(&MINI.replace("Next: M", "Next: Z"), &vars()).unwrap_err();
        assert!(
            e.0.contains("States[0].Next: no state named 'Z'"),
            "{}",
            e.0
        );
        let e = Flow::parse(
            &MINI.replace("body.$: $Input", "body.$: states.JsonMerge($Input)"),
            &vars(),
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("States[0].Parameters.body.$: unsupported expression"),
            "{}",
            e.0
        );
        let e = Flow::parse(&MINI.replace("Sync", "Async"), &vars()).unwrap_err();
        assert!(e.0.contains("invocationType 'Async'"), "{}", e.0);
        let e = Flow::parse(
            &MINI.replace("MaxConcurrency: 3", "MaxConcurrency: 41"),
            &vars(),
        )
        .unwrap_err();
        assert!(e.0.starts_with("States[1].MaxConcurrency"), "{}", e.0);
    }

    #[test]
    fn arns_name_functions() {
        assert_eq!(
            function_of_arn("acs:fc:cn-hangzhou:123:functions/split/LATEST").unwrap(),
            "split"
        );
        assert_eq!(
            function_of_arn("acs:fc:::functions/split").unwrap(),
            "split"
        );
        assert!(function_of_arn("acs:fc:::services/s.LATEST/functions/f").is_err());
        assert!(function_of_arn("acs:oss:::b").is_err());
    }

    #[test]
    fn backoff_grows_and_caps() {
        let r = Retrier {
            errors: vec!["E".into()],
            max_attempts: 5,
            interval_seconds: 3.0,
            backoff_rate: 2.0,
            max_backoff_seconds: Some(20.0),
        };
        let d: Vec<f64> = (1..=5).map(|n| r.delay(n)).collect();
        assert_eq!(d, vec![3.0, 6.0, 12.0, 20.0, 20.0]);
        assert!(r.matches("E") && !r.matches("F"));
        assert!(matches_errors(&["FnF.ALL".into()], "anything"));
    }
}
