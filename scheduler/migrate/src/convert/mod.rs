//! From what the evaluator found to lithoflow's TOML: DAG settings with Airflow 2's or 3's
//! defaults written out, every operator parameter mapped to its task key (or reported),
//! TaskFlow data passing as `op_args_from_task`/`op_kwargs_from_task`, and dependencies.

//!
//! The DAG's own arguments are in `dag`, operator arguments in `args` (those that are
//! lithoflow keys through the DAG crate's table of keys), each task in `task`, and what a
//! callable may take from Airflow's context in `context`.

mod args;
mod context;
mod dag;
mod runtime2;
mod sensor;
mod task;

use std::collections::{BTreeMap, BTreeSet};

use super::emit::{TomlDoc, TomlVal};
use super::value::{EvalError, Span, Value, duration_text};
use super::{ConvertOptions, FnSig, ModuleSigs};
use crate::model::{Finding, FuncKind, Kw, Model};
use lithoflow_dag::diag::Severity;

/// One converted DAG.
#[derive(Debug)]
pub(crate) struct DagOut {
    pub(crate) index: usize,
    pub(crate) dag_id: String,
    pub(crate) doc: TomlDoc,
    pub(crate) tasks: usize,
}

pub(crate) struct Converter<'m, 'a> {
    pub(crate) model: &'m Model<'a>,
    pub(crate) src: &'a str,
    pub(crate) opts: &'m ConvertOptions,
    /// The generated module's name, for functions the DAG file defines itself.
    pub(crate) gen_module: String,
    /// The functions moved to the generated module, with the DAGs that use them.
    pub(crate) moved: BTreeMap<usize, BTreeSet<usize>>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) modules: &'m mut dyn FnMut(&str) -> Option<std::rc::Rc<ModuleSigs>>,
    /// The DAG being converted.
    dag: usize,
    /// The task being converted.
    task: usize,
    /// The findings written as comments into a task's table.
    pub(crate) in_task_comments: BTreeSet<usize>,
    /// Whether the argument being converted is a templated field, where a value read
    /// while parsing (`Variable.get`) can become its template.
    templated: bool,
}

/// The operator arguments lithoflow renders as templates (docs/airflow-runtime.md,
/// "Variables"): Airflow's `template_fields` of the operators lithoflow has.
const TEMPLATED: &[&str] = &[
    "op_args",
    "op_kwargs",
    "templates_dict",
    "bash_command",
    "env",
    "cwd",
    "data",
    "iterdata",
    "extra_env",
];

fn e2f(e: &EvalError, dag: usize) -> Finding {
    Finding {
        span: e.span.clone(),
        severity: Severity::Error,
        message: e.message.clone(),
        dag: Some(dag),
    }
}

/// What a TOML key holds, for checking an Airflow argument's value.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    Duration,
    Any,
    Table,
    StrList,
}

impl<'m, 'a> Converter<'m, 'a> {
    pub(crate) fn new(
        model: &'m Model<'a>,
        src: &'a str,
        opts: &'m ConvertOptions,
        gen_module: String,
        modules: &'m mut dyn FnMut(&str) -> Option<std::rc::Rc<ModuleSigs>>,
    ) -> Self {
        Converter {
            model,
            src,
            opts,
            gen_module,
            moved: BTreeMap::new(),
            findings: Vec::new(),
            modules,
            dag: 0,
            task: 0,
            in_task_comments: BTreeSet::new(),
            templated: false,
        }
    }

    /// Records a value the evaluator could not know, prefixed with what it was for.
    fn eval_failed(&mut self, e: &EvalError, dag: usize, what: &str) {
        self.findings.push(Finding {
            message: format!("{what}: {}", e.message),
            ..e2f(e, dag)
        });
    }

    fn error(&mut self, span: &Span, message: impl Into<String>) {
        self.findings.push(Finding {
            span: span.clone(),
            severity: Severity::Error,
            message: message.into(),
            dag: Some(self.dag),
        });
    }

    fn note(&mut self, span: &Span, message: impl Into<String>) {
        self.findings.push(Finding {
            span: span.clone(),
            severity: Severity::Note,
            message: message.into(),
            dag: Some(self.dag),
        });
    }

    fn line(&self, offset: usize) -> usize {
        self.src
            .get(..offset.min(self.src.len()))
            .map_or(1, |s| s.bytes().filter(|&b| b == b'\n').count() + 1)
    }

    /// A Python value as TOML, or an error naming `what`.
    fn toml(&mut self, v: &Value, span: &Span, what: &str) -> Option<TomlVal> {
        let converted = if self.templated {
            to_toml_templated(v)
        } else {
            to_toml(v)
        };
        match converted {
            Ok(t) => {
                self.runtime_note(v, span, what);
                Some(t)
            }
            Err(m) => {
                self.error(span, format!("{what}: {m}"));
                None
            }
        }
    }

    fn kind_value(&mut self, k: &Kw, kind: Kind, what: &str) -> Option<TomlVal> {
        let v = match &k.value {
            Ok(v) => v.clone(),
            Err(e) => {
                self.eval_failed(e, self.dag, what);
                return None;
            }
        };
        let bad = |v: &Value, expected: &str| {
            format!("{what} must be {expected}, found a {}", v.type_name())
        };
        let t = match (kind, &v) {
            (Kind::Str, Value::Str(s)) => TomlVal::Str(s.clone()),
            (Kind::Str, Value::Runtime { template, .. }) if self.templated => {
                self.runtime_note(&v, &k.span, what);
                TomlVal::Str(template.clone())
            }
            (
                _,
                Value::Runtime {
                    template,
                    what: read,
                },
            ) => {
                let m = crate::runtime_values::not_templated(read, template, what);
                return self.fail(&k.span, m);
            }
            (Kind::Int, Value::Int(i)) => TomlVal::Int(*i),
            (Kind::Bool, Value::Bool(b)) => TomlVal::Bool(*b),
            (Kind::Duration, Value::Delta(d)) => match duration_text(*d) {
                Some(s) => TomlVal::Str(s),
                None => {
                    self.error(&k.span, format!("{what} is a negative duration"));
                    return None;
                }
            },
            (Kind::Duration, Value::Int(secs)) if *secs >= 0 => TomlVal::Int(*secs),
            (Kind::Duration, Value::Float(secs)) if *secs >= 0.0 && secs.is_finite() => {
                TomlVal::Float(*secs)
            }
            (Kind::Table, Value::Dict(_))
            | (Kind::StrList, Value::List(_) | Value::Tuple(_))
            | (Kind::Any, _) => {
                return self.toml(&v, &k.span, what);
            }
            (Kind::Str, v) => return self.fail(&k.span, bad(v, "a string")),
            (Kind::Int, v) => return self.fail(&k.span, bad(v, "an integer")),
            (Kind::Bool, v) => return self.fail(&k.span, bad(v, "True or False")),
            (Kind::Duration, v) => {
                return self.fail(&k.span, bad(v, "a timedelta or a number of seconds"));
            }
            (Kind::Table, v) => return self.fail(&k.span, bad(v, "a dict")),
            (Kind::StrList, v) => return self.fail(&k.span, bad(v, "a list")),
        };
        Some(t)
    }

    /// Says that the values read while parsing inside `v` are read when the task runs.
    fn runtime_note(&mut self, v: &Value, span: &Span, what: &str) {
        fn collect(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Runtime { what, .. } => out.push(format!("`{what}`")),
                Value::List(items) | Value::Tuple(items) => {
                    items.iter().for_each(|i| collect(i, out))
                }
                Value::Dict(items) => items.iter().for_each(|(_, i)| collect(i, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        collect(v, &mut found);
        if !found.is_empty() {
            let verb = if found.len() == 1 { "is" } else { "are" };
            let dag = &self.model.dags[self.dag];
            let native = dag.kwargs.iter().chain(&dag.attrs).any(|k| {
                k.name == "render_template_as_native_obj"
                    && matches!(k.value, Ok(Value::Bool(true)))
            });
            let json = if !native && found.iter().any(|w| w.contains("deserialize_json=True")) {
                "; the template renders the JSON value as text, where Airflow's Variable.get passed the decoded value: set render_template_as_native_obj = true on the DAG, or decode it with json.loads in the function"
            } else {
                ""
            };
            self.note(span, format!("{what}: {} {verb} read when the task runs, through its template, where Airflow read it each time it parsed the DAG file{json}", found.join(", ")));
        }
    }

    fn fail(&mut self, span: &Span, m: String) -> Option<TomlVal> {
        self.error(span, m);
        None
    }

    /// A callable as `"module:function"`: imported (`from my_functions import add`), or
    /// defined in the DAG file (moved to the generated module).
    fn function_ref(&mut self, k: &Kw, what: &str) -> Option<(String, Option<FnSig>)> {
        let v = match &k.value {
            Ok(v) => v.clone(),
            Err(e) => {
                self.eval_failed(e, self.dag, what);
                return None;
            }
        };
        match v {
            Value::Func { module, name } => {
                let sig = match (self.modules)(&module) {
                    Some(m) => match m.defs.get(&name) {
                        Some(sig) => sig.clone(),
                        None => {
                            let known: Vec<&str> = m.defs.keys().map(String::as_str).collect();
                            let hint = lithoflow_dag::suggest_id(&name, &known)
                                .map(|s| format!("; did you mean `{s}`?"))
                                .unwrap_or_default();
                            self.error(
                                &k.span,
                                format!("{what}: `{name}` is not defined in {}{hint}", m.file_name),
                            );
                            return None;
                        }
                    },
                    None => None,
                };
                Some((format!("{module}:{name}"), sig))
            }
            Value::Local(fid) | Value::TaskFactory(fid, _) => {
                let f = &self.model.functions[fid];
                if let FuncKind::Other(d) = &f.kind {
                    self.error(
                        &k.span,
                        format!(
                            "{what}: `{}` is decorated with `{d}`, which the converter cannot move",
                            f.name
                        ),
                    );
                    return None;
                }
                let sig = FnSig::of(f.args, self.src.get(f.span.clone()).unwrap_or(""));
                self.moved.entry(fid).or_default().insert(self.dag);
                Some((format!("{}:{}", self.gen_module, f.name), Some(sig)))
            }
            Value::Lambda => {
                self.error(&k.span, format!("{what}: a lambda has no name lithoflow can import; write it as a function in a module"));
                None
            }
            other => {
                self.error(
                    &k.span,
                    format!("{what} must be a function, found a {}", other.type_name()),
                );
                None
            }
        }
    }
}

impl Converter<'_, '_> {
    /// A callback argument (a function or a list of them) as `"module:function"` or an
    /// array of them: functions the DAG file defines move to the generated module, as a
    /// `python_callable` does; anything else (a lambda, an Airflow notifier) is an error.
    fn callbacks(&mut self, k: &Kw, what: &str) -> Option<TomlVal> {
        let one = |this: &mut Self, v: Value| -> Option<String> {
            if let Value::Foreign(name) | Value::Sym(name) = &v {
                this.error(
                    &k.span,
                    format!("{what}: `{name}` is not a function of the DAG file or of a module next to it; lithoflow calls a function as \"module:function\" with the context as its only argument"),
                );
                return None;
            }
            let item = Kw::new(&k.name, k.span.clone(), Ok(v));
            this.function_ref(&item, what).map(|(r, _)| r)
        };
        match &k.value {
            Ok(Value::None) => None,
            Ok(Value::List(items) | Value::Tuple(items)) => {
                let mut out = Vec::new();
                for item in items.clone() {
                    out.push(TomlVal::Str(one(self, item)?));
                }
                Some(TomlVal::Array(out))
            }
            Ok(v) => one(self, v.clone()).map(TomlVal::Str),
            Err(e) => {
                self.eval_failed(e, self.dag, what);
                None
            }
        }
    }
}

fn set_entry(items: &mut Vec<(String, TomlVal)>, k: &str, v: TomlVal) {
    match items.iter_mut().find(|(x, _)| x == k) {
        Some(slot) => slot.1 = v,
        None => items.push((k.to_owned(), v)),
    }
}

/// A static Python value as TOML.
pub(crate) fn to_toml(v: &Value) -> Result<TomlVal, String> {
    to_toml_with(v, false)
}

/// A value in a templated field as TOML: values read while parsing are their templates.
fn to_toml_templated(v: &Value) -> Result<TomlVal, String> {
    to_toml_with(v, true)
}

fn to_toml_with(v: &Value, templated: bool) -> Result<TomlVal, String> {
    let to_toml = |v: &Value| to_toml_with(v, templated);
    Ok(match v {
        Value::None => return Err("None has no TOML form (TOML has no null)".into()),
        Value::Bool(b) => TomlVal::Bool(*b),
        Value::Int(i) => TomlVal::Int(*i),
        Value::Float(f) => {
            if !f.is_finite() {
                return Err("nan and inf are not allowed".into());
            }
            TomlVal::Float(*f)
        }
        Value::Str(s) => TomlVal::Str(s.clone()),
        Value::List(items) | Value::Tuple(items) => {
            TomlVal::Array(items.iter().map(to_toml).collect::<Result<_, _>>()?)
        }
        Value::Dict(items) => {
            let mut out = Vec::new();
            for (k, v) in items {
                let k = match k {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    other => return Err(format!("a dict key that is a {}", other.type_name())),
                };
                set_entry(&mut out, &k, to_toml(v)?);
            }
            TomlVal::Table(out)
        }
        Value::DateTime(d) => match d.instant() {
            Some(i) => TomlVal::Str(i.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            None => return Err("a datetime that does not exist in its zone".into()),
        },
        Value::Delta(d) => TomlVal::Str(duration_text(*d).ok_or("a negative timedelta")?),
        Value::DagParam(p) => TomlVal::Str(format!("{{{{ params.{p} }}}}")),
        Value::XCom(_) | Value::XComKey(..) => {
            return Err("another task's result is only known when the DAG runs".into());
        }
        Value::Runtime { template, .. } if templated => TomlVal::Str(template.clone()),
        Value::Runtime { template, what } => {
            return Err(format!(
                "`{what}` is read when Airflow parses the DAG file, and this setting is not a templated field, so lithoflow cannot read it when the task runs; write the value itself in the TOML (or pass the template {template:?} in a templated field: op_args, op_kwargs, templates_dict, bash_command, env)"
            ));
        }
        other => return Err(format!("a {} has no TOML form", other.type_name())),
    })
}

fn toml_to_json(v: &TomlVal) -> serde_json::Value {
    match v {
        TomlVal::Str(s) | TomlVal::Datetime(s) => serde_json::Value::String(s.clone()),
        TomlVal::Int(i) => serde_json::Value::from(*i),
        TomlVal::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        TomlVal::Bool(b) => serde_json::Value::Bool(*b),
        TomlVal::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        TomlVal::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Why lithoflow drops an Airflow argument that documents or decorates a task (`queue`,
/// `email`, `sla`, ...), if it is one of them.
pub(crate) fn dropped_reason(name: &str) -> Option<&'static str> {
    args::DROPPED_NOTES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}
