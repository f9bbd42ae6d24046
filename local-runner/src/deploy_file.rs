//! The Serverless Devs deploy file (`s.yaml`, edition 3.0.0), read into typed
//! resources so that the local runner runs what `s deploy` would deploy.
//!
//! Magic variables resolved as the Serverless Devs CLI (3.1.10) resolves
//! them: `${vars.a.b}`, `${env('X')}` (optionally `${env('X', 'default')}`),
//! `${config('AccountID')}`, `${file('path')}` (the file's text, relative to
//! s.yaml, itself rendered: a `${...}` inside the file is resolved too),
//! `${path('p')}` (absolute), and `${yaml(file('p'))}` / `${json(file('p'))}`
//! (the rendered file parsed into a mapping). A string that is one `${...}`
//! takes the value's own type. Anything else, e.g.
//! `${resources.x.output}`, an unknown variable or an unset environment
//! variable, is refused with its place: `resources.split.props.timeout:
//! unknown variable vars.timeoutz`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeployFileError(pub String);

fn fail<T>(m: impl Into<String>) -> Result<T, DeployFileError> {
    Err(DeployFileError(m.into()))
}

/// What `${env(..)}` and `${config(..)}` see.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub env: BTreeMap<String, String>,
    /// `AccountID`, `AccessKeyID`... as `s config` would hold them.
    pub config: BTreeMap<String, String>,
    /// Values that replace top-level `vars` (the runner's `--segment-seconds`,
    /// `--formats`). Only existing vars can be replaced: a typo is refused.
    pub var_overrides: BTreeMap<String, String>,
}

impl Settings {
    /// The process environment, plus the given config values.
    pub fn from_env(config: BTreeMap<String, String>) -> Settings {
        Settings {
            env: std::env::vars().collect(),
            config,
            var_overrides: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeployFile {
    pub edition: String,
    pub name: String,
    pub access: Option<String>,
    pub vars: Value,
    /// In file order.
    pub resources: Vec<Resource>,
    /// The folder of s.yaml: `code` and `${file()}` paths are relative to it.
    pub dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub name: String,
    pub component: String,
    /// Fully resolved.
    pub props: Value,
}

/// fc3 function props: the fields our s.yaml uses (others are refused so
/// nothing configured is silently lost; extend as needed).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionProps {
    pub region: String,
    pub function_name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub runtime: String,
    /// Folder with `bootstrap`, relative to s.yaml.
    pub code: String,
    #[serde(default)]
    pub handler: Option<String>,
    #[serde(default)]
    pub custom_runtime_config: Option<CustomRuntimeConfig>,
    #[serde(default)]
    pub memory_size: Option<u32>,
    #[serde(default)]
    pub cpu: Option<f64>,
    #[serde(default)]
    pub disk_size: Option<u32>,
    #[serde(default)]
    pub timeout: Option<u32>,
    #[serde(default)]
    pub instance_concurrency: Option<u32>,
    #[serde(default)]
    pub internet_access: Option<bool>,
    #[serde(default)]
    pub layers: Vec<String>,
    /// `"auto"` or a mount list.
    #[serde(default)]
    pub nas_config: Option<Value>,
    #[serde(default)]
    pub vpc_config: Option<Value>,
    #[serde(default)]
    pub log_config: Option<Value>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub environment_variables: BTreeMap<String, String>,
    #[serde(default)]
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomRuntimeConfig {
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub port: Option<u16>,
}

impl FunctionProps {
    /// The port the process must listen on (FC's default 9000).
    pub fn port(&self) -> u16 {
        self.custom_runtime_config
            .as_ref()
            .and_then(|c| c.port)
            .unwrap_or(9000)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    pub trigger_name: String,
    pub trigger_type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub qualifier: Option<String>,
    #[serde(default)]
    pub source_arn: Option<String>,
    #[serde(default)]
    pub invocation_role: Option<String>,
    pub trigger_config: Value,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OssTriggerConfig {
    pub events: Vec<String>,
    pub filter: OssFilter,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OssFilter {
    pub key: OssKeyFilter,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OssKeyFilter {
    pub prefix: String,
    pub suffix: String,
}

impl Trigger {
    pub fn oss(&self) -> Result<OssTriggerConfig, DeployFileError> {
        if self.trigger_type != "oss" {
            return fail(format!(
                "trigger {} is not an oss trigger",
                self.trigger_name
            ));
        }
        serde_json::from_value(self.trigger_config.clone()).map_err(|e| {
            DeployFileError(format!("trigger {}: triggerConfig: {e}", self.trigger_name))
        })
    }

    /// The bucket of `acs:oss:<region>:<account>:<bucket>`.
    pub fn bucket(&self) -> Option<&str> {
        self.source_arn
            .as_deref()?
            .rsplit(':')
            .next()
            .filter(|b| !b.is_empty())
    }
}

/// props of the `flow` component (CloudFlow).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowProps {
    pub name: String,
    pub region: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A mapping (the flow itself), or a string: the path of the flow file,
    /// which the `flow` component reads as written (relative to the folder
    /// `s` runs in; we take s.yaml's folder). Read by [`FlowProps::flow_document`].
    pub definition: Value,
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub execution_mode: Option<String>,
}

impl FlowProps {
    /// The flow definition as the `flow` component deploys it: a mapping as
    /// it is; a string read as a file path, its text parsed as YAML.
    pub fn flow_document(&self, dir: &Path) -> Result<Value, DeployFileError> {
        match &self.definition {
            Value::Object(_) => Ok(self.definition.clone()),
            Value::String(p) => {
                let path = dir.join(p);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    DeployFileError(format!(
                        "flow {}: definition is read as a file path ({}): {e}",
                        self.name,
                        path.display()
                    ))
                })?;
                serde_saphyr::from_str(&text).map_err(|e| {
                    DeployFileError(format!(
                        "flow {}: {} is not YAML: {e}",
                        self.name,
                        path.display()
                    ))
                })
            }
            other => fail(format!(
                "flow {}: definition must be a mapping or a file path, not {other}",
                self.name
            )),
        }
    }
}

/// The top level as written; `resources` keeps the file's order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    edition: String,
    name: String,
    #[serde(default)]
    access: Option<String>,
    #[serde(default)]
    vars: Option<Value>,
    resources: Ordered,
}

/// A mapping read in file order (serde_json's Map sorts its keys).
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of resources")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl DeployFile {
    pub fn load(path: &Path, settings: &Settings) -> Result<DeployFile, DeployFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DeployFileError(format!("reading {}: {e}", path.display())))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        DeployFile::parse(&text, &dir, settings)
            .map_err(|e| DeployFileError(format!("{}: {}", path.display(), e.0)))
    }

    pub fn parse(
        text: &str,
        dir: &Path,
        settings: &Settings,
    ) -> Result<DeployFile, DeployFileError> {
        let top: Top = serde_saphyr::from_str(text)
            .map_err(|e| DeployFileError(format!("not valid s.yaml: {e}")))?;
        let edition = top.edition;
        if edition != "3.0.0" {
            return fail(format!("edition: {edition:?} is not 3.0.0"));
        }
        let name = top.name;
        let access = top.access;
        let raw_vars = top.vars.unwrap_or(Value::Object(Map::new()));
        // Vars may use env/config/file, not other vars.
        let no_vars = Value::Null;
        let ctx = Ctx {
            vars: &no_vars,
            settings,
            dir,
        };
        let mut vars = ctx.resolve(&raw_vars, "vars")?;
        for (k, v) in &settings.var_overrides {
            match vars.as_object_mut().and_then(|m| m.get_mut(k)) {
                Some(slot) => *slot = Value::String(v.clone()),
                None => return fail(format!("vars.{k}: no such variable to override")),
            }
        }
        let ctx = Ctx {
            vars: &vars,
            settings,
            dir,
        };
        let res = top.resources.0;
        let mut resources = Vec::new();
        for (rname, r) in &res {
            let loc = format!("resources.{rname}");
            let rm = r
                .as_object()
                .ok_or_else(|| DeployFileError(format!("{loc}: must be a mapping")))?;
            for k in rm.keys() {
                if !["component", "props", "actions"].contains(&k.as_str()) {
                    return fail(format!("{loc}: unsupported field '{k}'"));
                }
            }
            let component = rm
                .get("component")
                .and_then(Value::as_str)
                .ok_or_else(|| DeployFileError(format!("{loc}.component: missing")))?
                .to_string();
            let props = ctx.resolve(
                rm.get("props").unwrap_or(&Value::Object(Map::new())),
                &format!("{loc}.props"),
            )?;
            resources.push(Resource {
                name: rname.clone(),
                component,
                props,
            });
        }
        Ok(DeployFile {
            edition,
            name,
            access,
            vars,
            resources,
            dir: dir.to_path_buf(),
        })
    }

    /// Every `fc3` resource: (resource name, props).
    pub fn functions(&self) -> Result<Vec<(String, FunctionProps)>, DeployFileError> {
        self.resources
            .iter()
            .filter(|r| r.component == "fc3")
            .map(|r| {
                serde_json::from_value(r.props.clone())
                    .map(|p| (r.name.clone(), p))
                    .map_err(|e| DeployFileError(format!("resources.{}.props: {e}", r.name)))
            })
            .collect()
    }

    /// Every `flow` resource.
    pub fn flows(&self) -> Result<Vec<(String, FlowProps)>, DeployFileError> {
        self.resources
            .iter()
            .filter(|r| r.component == "flow")
            .map(|r| {
                serde_json::from_value(r.props.clone())
                    .map(|p| (r.name.clone(), p))
                    .map_err(|e| DeployFileError(format!("resources.{}.props: {e}", r.name)))
            })
            .collect()
    }

    /// The function deployed under `function_name`.
    pub fn function(&self, function_name: &str) -> Result<Option<FunctionProps>, DeployFileError> {
        Ok(self
            .functions()?
            .into_iter()
            .map(|(_, p)| p)
            .find(|p| p.function_name == function_name))
    }
}

struct Ctx<'a> {
    vars: &'a Value,
    settings: &'a Settings,
    dir: &'a Path,
}

impl Ctx<'_> {
    fn resolve(&self, v: &Value, loc: &str) -> Result<Value, DeployFileError> {
        match v {
            Value::String(s) => self.resolve_str(s, loc),
            Value::Array(a) => Ok(Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| self.resolve(x, &format!("{loc}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.resolve(x, &format!("{loc}.{k}"))?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn resolve_str(&self, s: &str, loc: &str) -> Result<Value, DeployFileError> {
        let trimmed = s.trim();
        // A lone `${vars.x}` keeps the variable's type (number, list, map).
        if trimmed.starts_with("${") && trimmed.ends_with('}') && trimmed.matches("${").count() == 1
        {
            return self.eval(&trimmed[2..trimmed.len() - 1], loc);
        }
        let out = crate::placeholder::replace(
            s,
            |e| match self.eval(e, loc)? {
                Value::String(x) => Ok(x),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                other => fail(format!(
                    "{loc}: ${{{e}}} is {other} and cannot be part of a string"
                )),
            },
            || DeployFileError(format!("{loc}: unclosed '${{' in {s:?}")),
        )?;
        Ok(Value::String(out))
    }

    fn eval(&self, expr: &str, loc: &str) -> Result<Value, DeployFileError> {
        let e = expr.trim();
        if let Some(path) = e.strip_prefix("vars.") {
            let mut cur = self.vars;
            for seg in path.split('.') {
                cur = cur.get(seg).ok_or_else(|| {
                    DeployFileError(format!("{loc}: unknown variable vars.{path}"))
                })?;
            }
            return Ok(cur.clone());
        }
        if let Some((func, args)) = call(e) {
            let arg = |i: usize| args.get(i).cloned();
            return match func {
                "env" => {
                    let name = arg(0)
                        .ok_or_else(|| DeployFileError(format!("{loc}: env() needs a name")))?;
                    match (self.settings.env.get(&name), arg(1)) {
                        (Some(v), _) => Ok(Value::String(v.clone())),
                        (None, Some(d)) => Ok(Value::String(d)),
                        (None, None) => {
                            fail(format!("{loc}: environment variable {name} is not set"))
                        }
                    }
                }
                "config" => {
                    let name = arg(0)
                        .ok_or_else(|| DeployFileError(format!("{loc}: config() needs a key")))?;
                    self.settings
                        .config
                        .get(&name)
                        .map(|v| Value::String(v.clone()))
                        .ok_or_else(|| DeployFileError(format!("{loc}: config {name} is not set")))
                }
                "file" => {
                    let p = arg(0)
                        .ok_or_else(|| DeployFileError(format!("{loc}: file() needs a path")))?;
                    let path = self.dir.join(&p);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| DeployFileError(format!("{loc}: file('{p}'): {e}")))?;
                    // The CLI renders a file's text again: `${...}` in it resolve.
                    self.resolve_str(&text, &format!("{loc} (file '{p}')"))
                }
                "path" => {
                    let p = arg(0)
                        .ok_or_else(|| DeployFileError(format!("{loc}: path() needs a path")))?;
                    // As node's path.join: `.` segments dropped.
                    let joined: PathBuf = self
                        .dir
                        .join(&p)
                        .components()
                        .filter(|c| *c != std::path::Component::CurDir)
                        .collect();
                    Ok(Value::String(joined.to_string_lossy().into_owned()))
                }
                "yaml" | "json" => {
                    let inner = arg(0)
                        .ok_or_else(|| DeployFileError(format!("{loc}: {func}() needs text")))?;
                    // The argument is an expression (`file('p')`) or literal text.
                    let text = match call(&inner) {
                        Some(_) => match self.eval(&inner, loc)? {
                            Value::String(t) => t,
                            other => return fail(format!("{loc}: {func}() of {other}")),
                        },
                        None => inner,
                    };
                    let parsed: Result<Value, String> = if func == "json" {
                        serde_json::from_str(&text).map_err(|e| e.to_string())
                    } else {
                        serde_saphyr::from_str(&text).map_err(|e| e.to_string())
                    };
                    parsed.map_err(|e| DeployFileError(format!("{loc}: {func}(): {e}")))
                }
                other => fail(format!("{loc}: unsupported function {other}() in ${{{e}}}")),
            };
        }
        fail(format!(
            "{loc}: unsupported variable ${{{e}}} (supported: vars.*, env(), config(), file(), path(), yaml(), json())"
        ))
    }
}

/// `name('a', "b", c)` -> (name, [a, b, c]); an argument that is itself a
/// call (`yaml(file('p'))`) is kept whole.
fn call(e: &str) -> Option<(&str, Vec<String>)> {
    let e = e.trim();
    let open = e.find('(')?;
    let inner = e.strip_suffix(')')?.get(open + 1..)?;
    let name = e[..open].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let mut args = Vec::new();
    let (mut depth, mut quote, mut cur) = (0usize, None::<char>, String::new());
    for c in inner.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') if depth == 0 => quote = Some(c),
            (None, '(') => {
                depth += 1;
                cur.push(c);
            }
            (None, ')') => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            (None, ',') if depth == 0 => args.push(std::mem::take(&mut cur)),
            (None, c) => cur.push(c),
        }
    }
    args.push(cur);
    let args = args
        .into_iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    Some((name, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        Settings {
            env: BTreeMap::from([("STAGE".into(), "test".into())]),
            config: BTreeMap::from([("AccountID".into(), "123".into())]),
            var_overrides: BTreeMap::new(),
        }
    }

    #[test]
    fn resolves_variables_with_types() {
        let y = r#"
edition: 3.0.0
name: app
vars:
  region: cn-hangzhou
  mem: 4096
  stage: ${env('STAGE')}
resources:
  f:
    component: fc3
    props:
      region: ${vars.region}
      memorySize: ${vars.mem}
      description: "in ${vars.region} for ${config('AccountID')} (${vars.stage}) ${env('NOPE', 'dflt')}"
"#;
        let s = DeployFile::parse(y, Path::new("."), &settings()).unwrap();
        let p = &s.resources[0].props;
        assert_eq!(p["region"], json!("cn-hangzhou"));
        assert_eq!(p["memorySize"], json!(4096));
        assert_eq!(
            p["description"],
            json!("in cn-hangzhou for 123 (test) dflt")
        );
    }

    #[test]
    fn refuses_unknown_variables_with_location() {
        let y = "edition: 3.0.0\nname: a\nvars: {}\nresources:\n  f:\n    component: fc3\n    props:\n      timeout: ${vars.timeoutz}\n";
        let e = DeployFile::parse(y, Path::new("."), &settings()).unwrap_err();
        assert_eq!(
            e.0,
            "resources.f.props.timeout: unknown variable vars.timeoutz"
        );
        let y = y.replace("${vars.timeoutz}", "${resources.g.output.x}");
        let e = DeployFile::parse(&y, Path::new("."), &settings()).unwrap_err();
        assert!(
            e.0.starts_with("resources.f.props.timeout: unsupported variable"),
            "{}",
            e.0
        );
        let y = y.replace("${resources.g.output.x}", "${env('UNSET_X')}");
        let e = DeployFile::parse(&y, Path::new("."), &settings()).unwrap_err();
        assert!(e.0.contains("UNSET_X is not set"), "{}", e.0);
    }

    /// As the CLI renders them (checked against it in tests/sdevs_cli.rs):
    /// a file's text is rendered again, `yaml(file())` parses the rendered
    /// text, `path()` is absolute, `.$` keys and `$Context` stay as written.
    #[test]
    fn files_are_rendered_then_parsed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("flow.yaml"),
            "States:\n  - Parameters:\n      resourceArn: acs:fc:${vars.region}:${config('AccountID')}:functions/x/LATEST\n      body.$: $Input\n    MaxConcurrency: ${vars.n}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("x.json"), r#"{"a": ["${vars.region}"]}"#).unwrap();
        let y = r#"
edition: 3.0.0
name: app
vars:
  region: cn-hangzhou
  n: 7
resources:
  f:
    component: flow
    props:
      definition: ${yaml(file('./flow.yaml'))}
      text: ${file('./flow.yaml')}
      where: ${path('./flow.yaml')}
      j: ${json(file("./x.json"))}
"#;
        let s = DeployFile::parse(y, dir.path(), &settings()).unwrap();
        let p = &s.resources[0].props;
        assert_eq!(
            p["definition"],
            json!({"States": [{"Parameters": {
                "resourceArn": "acs:fc:cn-hangzhou:123:functions/x/LATEST",
                "body.$": "$Input"}, "MaxConcurrency": 7}]})
        );
        assert!(
            p["text"]
                .as_str()
                .unwrap()
                .contains("acs:fc:cn-hangzhou:123:functions")
        );
        assert_eq!(
            p["where"],
            json!(dir.path().join("flow.yaml").to_string_lossy())
        );
        assert_eq!(p["j"], json!({"a": ["cn-hangzhou"]}));
    }
}
