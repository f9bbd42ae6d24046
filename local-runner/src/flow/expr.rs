//! The expression subset of CloudFlow's data shaping that our flow uses.
//!
//! CloudFlow evaluates keys ending in `.$` as expressions over `$Input` (the
//! state's input), `$Output` (the integration's result, or the caught error
//! in a Catch) and `$Context` (e.g. `$Context.Execution.Input`). We support
//! plain paths over those roots (`$Input.a.b`, `$Output.Body.pieces[0]`,
//! `$Context.Execution.Input`, `$Context.Execution.Name`) and, in Choice
//! conditions, comparisons of a path with a JSON literal joined by `&&` or
//! `||`. Everything else (function calls such as `states.JsonMerge(...)`,
//! arithmetic, other `$Context` fields) is refused when the flow is loaded.

use serde_json::{Map, Value};

/// Where an expression is evaluated: which roots it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// InputConstructor, Parameters, ItemsPath, Choice: `$Input`, `$Context`.
    Input,
    /// OutputConstructor (state or Catch): also `$Output`.
    Output,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    Input,
    Output,
    ExecutionInput,
    ExecutionName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path over one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub root: Root,
    pub path: Vec<Seg>,
    pub text: String,
}

/// The values an expression sees.
pub struct Env<'a> {
    pub input: &'a Value,
    pub output: Option<&'a Value>,
    pub execution_input: &'a Value,
    pub execution_name: &'a str,
}

impl Expr {
    pub fn parse(text: &str, scope: Scope) -> Result<Expr, String> {
        let t = text.trim();
        let unsupported = |why: &str| format!("unsupported expression {text:?}: {why}");
        let (root, rest) = if let Some(r) = t.strip_prefix("$Input") {
            (Root::Input, r)
        } else if let Some(r) = t.strip_prefix("$Output") {
            if scope != Scope::Output {
                return Err(unsupported(
                    "$Output is only defined in an OutputConstructor",
                ));
            }
            (Root::Output, r)
        } else if let Some(r) = t.strip_prefix("$Context.Execution.Input") {
            (Root::ExecutionInput, r)
        } else if let Some(r) = t.strip_prefix("$Context.Execution.Name") {
            if !r.is_empty() {
                return Err(unsupported("$Context.Execution.Name has no fields"));
            }
            (Root::ExecutionName, r)
        } else if t.starts_with("$Context") {
            return Err(unsupported(
                "only $Context.Execution.Input and $Context.Execution.Name are supported",
            ));
        } else {
            return Err(unsupported(
                "only paths over $Input, $Output and $Context.Execution are supported (no functions)",
            ));
        };
        let path = parse_path(rest).map_err(|e| unsupported(&e))?;
        Ok(Expr {
            root,
            path,
            text: t.to_string(),
        })
    }

    /// The value at the path; `None` when a field or index is missing.
    pub fn eval<'v>(&self, env: &'v Env<'_>) -> Option<std::borrow::Cow<'v, Value>> {
        use std::borrow::Cow;
        let base: &Value = match self.root {
            Root::Input => env.input,
            Root::Output => env.output?,
            Root::ExecutionInput => env.execution_input,
            Root::ExecutionName => {
                return Some(Cow::Owned(Value::String(env.execution_name.into())));
            }
        };
        let mut cur = base;
        for seg in &self.path {
            cur = match seg {
                Seg::Key(k) => cur.get(k.as_str())?,
                Seg::Index(i) => cur.get(*i)?,
            };
        }
        Some(Cow::Borrowed(cur))
    }
}

fn parse_path(mut s: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix('.') {
            let end = r
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(r.len());
            if end == 0 {
                return Err(format!("expected a field name at {s:?}"));
            }
            out.push(Seg::Key(r[..end].to_string()));
            s = &r[end..];
        } else if let Some(r) = s.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("unclosed '[' at {s:?}"))?;
            let idx: usize = r[..end]
                .trim()
                .parse()
                .map_err(|_| format!("only numeric indexes are supported, got [{}]", &r[..end]))?;
            out.push(Seg::Index(idx));
            s = &r[end + 1..];
        } else {
            return Err(format!("unexpected {s:?}"));
        }
    }
    Ok(out)
}

/// A value with `.$` expressions inside: a constructor, or a task's `body`.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    Literal(Value),
    Expr(Expr),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

impl Template {
    /// Compile a YAML/JSON value: keys ending in `.$` hold expressions.
    /// `loc` names the place for error messages.
    pub fn compile(v: &Value, scope: Scope, loc: &str) -> Result<Template, String> {
        match v {
            Value::Object(m) => {
                let mut fields = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let here = format!("{loc}.{k}");
                    if let Some(name) = k.strip_suffix(".$") {
                        let text = v
                            .as_str()
                            .ok_or_else(|| format!("{here}: an expression must be a string"))?;
                        let e = Expr::parse(text, scope).map_err(|e| format!("{here}: {e}"))?;
                        fields.push((name.to_string(), Template::Expr(e)));
                    } else {
                        fields.push((k.clone(), Template::compile(v, scope, &here)?));
                    }
                }
                Ok(Template::Object(fields))
            }
            Value::Array(a) => Ok(Template::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| Template::compile(v, scope, &format!("{loc}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )),
            Value::String(s) if s.trim_start().starts_with('$') => Err(format!(
                "{loc}: {s:?} looks like an expression but its key does not end in '.$'"
            )),
            other => Ok(Template::Literal(other.clone())),
        }
    }

    /// Build the value. A missing path is an error, so a typo in the flow
    /// fails the state loudly instead of passing `null` on.
    pub fn eval(&self, env: &Env<'_>) -> Result<Value, String> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Expr(e) => e
                .eval(env)
                .map(|v| v.into_owned())
                .ok_or_else(|| format!("expression {} found nothing", e.text)),
            Template::Object(fields) => {
                let mut m = Map::new();
                for (k, t) in fields {
                    m.insert(k.clone(), t.eval(env)?);
                }
                Ok(Value::Object(m))
            }
            Template::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|t| t.eval(env))
                    .collect::<Result<_, _>>()?,
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A Choice condition: comparisons joined by `&&` (binds tighter) and `||`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Disjunction of conjunctions.
    any: Vec<Vec<Comparison>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Comparison {
    left: Expr,
    /// `None`: the path alone, true when it holds `true`.
    right: Option<(Op, Value)>,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Condition, String> {
        if text.contains('(') {
            return Err(format!(
                "unsupported condition {text:?}: parentheses and functions are not supported"
            ));
        }
        let mut any = Vec::new();
        for disj in text.split("||") {
            let mut all = Vec::new();
            for part in disj.split("&&") {
                all.push(
                    parse_comparison(part.trim())
                        .map_err(|e| format!("unsupported condition {text:?}: {e}"))?,
                );
            }
            any.push(all);
        }
        Ok(Condition { any })
    }

    pub fn eval(&self, env: &Env<'_>) -> bool {
        self.any.iter().any(|all| all.iter().all(|c| c.eval(env)))
    }
}

fn parse_comparison(s: &str) -> Result<Comparison, String> {
    // Longest operators first so `<=` is not read as `<`.
    for (tok, op) in [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ] {
        if let Some((l, r)) = s.split_once(tok) {
            let left = Expr::parse(l.trim(), Scope::Input)?;
            let right: Value = serde_json::from_str(r.trim())
                .map_err(|_| format!("{:?} is not a JSON literal", r.trim()))?;
            return Ok(Comparison {
                left,
                right: Some((op, right)),
            });
        }
    }
    Ok(Comparison {
        left: Expr::parse(s, Scope::Input)?,
        right: None,
    })
}

impl Comparison {
    fn eval(&self, env: &Env<'_>) -> bool {
        let left = self
            .left
            .eval(env)
            .map(|v| v.into_owned())
            .unwrap_or(Value::Null);
        let Some((op, right)) = &self.right else {
            return left == Value::Bool(true);
        };
        let ord = match (&left, right) {
            (Value::Number(a), Value::Number(b)) => a
                .as_f64()
                .zip(b.as_f64())
                .and_then(|(a, b)| a.partial_cmp(&b)),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            _ => None,
        };
        match op {
            Op::Eq => ord.map_or(left == *right, |o| o.is_eq()),
            Op::Ne => ord.map_or(left != *right, |o| o.is_ne()),
            Op::Lt => ord.is_some_and(|o| o.is_lt()),
            Op::Le => ord.is_some_and(|o| o.is_le()),
            Op::Gt => ord.is_some_and(|o| o.is_gt()),
            Op::Ge => ord.is_some_and(|o| o.is_ge()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env<'a>(input: &'a Value, output: Option<&'a Value>, exec: &'a Value) -> Env<'a> {
        Env {
            input,
            output,
            execution_input: exec,
            execution_name: "ex1",
        }
    }

    #[test]
    fn paths_evaluate() {
        let input = json!({"a": {"b": [1, {"c": "x"}]}});
        let out = json!({"Body": {"jobId": "j"}});
        let exec = json!({"k": 1});
        let e = env(&input, Some(&out), &exec);
        let p = |s| Expr::parse(s, Scope::Output).unwrap();
        assert_eq!(*p("$Input.a.b[1].c").eval(&e).unwrap(), json!("x"));
        assert_eq!(*p("$Output.Body.jobId").eval(&e).unwrap(), json!("j"));
        assert_eq!(*p("$Context.Execution.Input").eval(&e).unwrap(), exec);
        assert_eq!(
            *p("$Context.Execution.Name").eval(&e).unwrap(),
            json!("ex1")
        );
        assert!(p("$Input.nope").eval(&e).is_none());
    }

    #[test]
    fn unsupported_expressions_are_refused() {
        for bad in [
            "states.JsonMerge($Input, $Output)",
            "$Context.Current.Name",
            "$Input.a + 1",
            "$Input[x]",
            "length($Input)",
        ] {
            assert!(Expr::parse(bad, Scope::Output).is_err(), "{bad}");
        }
        let e = Expr::parse("$Output.Body", Scope::Input).unwrap_err();
        assert!(e.contains("only defined in an OutputConstructor"), "{e}");
    }

    #[test]
    fn templates_build_objects_and_report_missing_paths() {
        let t = Template::compile(
            &json!({"jobId.$": "$Input.id", "fixed": 3, "nested": {"x.$": "$Input.id"}}),
            Scope::Input,
            "S",
        )
        .unwrap();
        let input = json!({"id": "j1"});
        let v = t.eval(&env(&input, None, &Value::Null)).unwrap();
        assert_eq!(v, json!({"jobId": "j1", "fixed": 3, "nested": {"x": "j1"}}));
        let err = t.eval(&env(&json!({}), None, &Value::Null)).unwrap_err();
        assert!(err.contains("$Input.id"));
        let bad = Template::compile(&json!({"a": "$Input.x"}), Scope::Input, "S").unwrap_err();
        assert!(bad.starts_with("S.a:"), "{bad}");
    }

    #[test]
    fn conditions() {
        let input = json!({"n": 5, "s": "ok", "f": true});
        let e = env(&input, None, &Value::Null);
        let c = |s| Condition::parse(s).unwrap().eval(&e);
        assert!(c("$Input.n > 3"));
        assert!(!c("$Input.n >= 6"));
        assert!(c("$Input.s == \"ok\" && $Input.n <= 5"));
        assert!(c("$Input.s == \"no\" || $Input.f"));
        assert!(c("$Input.missing == null"));
        assert!(Condition::parse("len($Input.s) > 1").is_err());
    }
}
