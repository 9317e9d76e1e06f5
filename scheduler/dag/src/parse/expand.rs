//! Dynamic task mapping: `expand` and `expand_kwargs` read and checked against the
//! task's fixed arguments (Airflow's `partial(...).expand(...)`, where an argument may
//! not be both fixed and mapped, and `expand` and `expand_kwargs` exclude each other).

use std::collections::BTreeMap;

use serde_json::Value;
use toml::de::DeValue;

use super::values::describe;
use super::{Fields, Parsed, Span, Sv, Walker};
use crate::model::*;
use crate::schema::TaskType;

/// The arguments of a bash task that may be mapped.
const BASH_MAPPABLE: &[&str] = &["bash_command", "env", "cwd"];

impl Walker<'_> {
    /// `expand = { name = "task" | [literal, ...], ... }`.
    pub(super) fn expand_table(&mut self, v: &Sv<'_>) -> Option<Vec<(String, ExpandSource, Span)>> {
        let DeValue::Table(t) = v.get_ref() else {
            self.wrong_type(
                "expand",
                v,
                "a table of argument name -> upstream task id or literal array (expand = { item = \"make_items\" })",
            );
            return None;
        };
        if t.is_empty() {
            self.error(
                v.span(),
                "`expand` is empty; name at least one argument to map over (expand = { item = \"make_items\" })",
            );
            return None;
        }
        let mut out = Vec::new();
        for (k, item) in t.iter() {
            let name = k.get_ref().to_string();
            if let Some(src) = self.expand_source(&format!("expand.{name}"), item, false) {
                out.push((name, src, item.span()));
            }
        }
        Some(out)
    }

    /// `expand_kwargs = "task" | [{ ... }, ...]`.
    pub(super) fn expand_kwargs(&mut self, v: &Sv<'_>) -> Option<ExpandSource> {
        self.expand_source("expand_kwargs", v, true)
    }

    /// A task id, or a literal array (of tables when `tables`).
    fn expand_source(&mut self, key: &str, v: &Sv<'_>, tables: bool) -> Option<ExpandSource> {
        match v.get_ref() {
            DeValue::String(s) => Some(ExpandSource::Task(s.to_string())),
            DeValue::Array(items) => {
                if tables {
                    for item in items.iter() {
                        if !matches!(item.get_ref(), DeValue::Table(_)) {
                            self.error(
                                item.span(),
                                format!(
                                    "`{key}` elements must be tables of arguments, found {}",
                                    describe(item.get_ref())
                                ),
                            );
                            return None;
                        }
                    }
                }
                match self.json(key, v)? {
                    Value::Array(a) => Some(ExpandSource::Literal(a)),
                    _ => None,
                }
            }
            _ => {
                let what = if tables {
                    "an upstream task id, or a literal array of argument tables"
                } else {
                    "an upstream task id, or a literal array to map over"
                };
                self.wrong_type(key, v, what);
                None
            }
        }
    }

    /// The task's mapping, checked against its type and its fixed arguments; None: not
    /// mapped, or refused (reported).
    pub(super) fn mapping(
        &mut self,
        task_id: &str,
        ty: TaskType,
        f: &Fields,
        key_spans: &BTreeMap<&'static str, Span>,
        kind: &TaskKind,
    ) -> Option<Expand> {
        let span_of = |k: &str, fallback: &Span| {
            key_spans
                .get(k)
                .cloned()
                .unwrap_or_else(|| fallback.clone())
        };
        let args = match f.get("expand") {
            Some((Parsed::Expand(list), s)) => Some((list, s.clone())),
            _ => None,
        };
        let kwargs = match f.get("expand_kwargs") {
            Some((Parsed::ExpandKwargs(src), s)) => Some((src, s.clone())),
            _ => None,
        };
        match (args, kwargs) {
            (Some(_), Some((_, s))) => {
                self.error(
                    span_of("expand_kwargs", &s),
                    format!("task `{task_id}` sets both `expand` and `expand_kwargs`; set only one (Airflow's expand() and expand_kwargs() exclude each other)"),
                );
                None
            }
            (None, Some((src, _))) => Some(Expand::Kwargs(src.clone())),
            (None, None) => None,
            (Some((list, _)), None) => {
                let mut ok = true;
                for (name, _, span) in list {
                    let problem = fixed_conflict(ty, kind, name);
                    if let Some(problem) = problem {
                        ok = false;
                        self.error(
                            span.clone(),
                            format!("task `{task_id}` maps argument `{name}`, {problem}"),
                        );
                    }
                }
                ok.then(|| {
                    Expand::Args(
                        list.iter()
                            .map(|(n, s, _)| (n.clone(), s.clone()))
                            .collect(),
                    )
                })
            }
        }
    }
}

/// Why mapping argument `name` of a task of type `ty` is refused; None: it may be mapped.
fn fixed_conflict(ty: TaskType, kind: &TaskKind, name: &str) -> Option<String> {
    const BOTH: &str = "which is also a fixed argument; an argument is either fixed or mapped (Airflow: \"cannot be both partial and mapped\")";
    match kind {
        TaskKind::Python(p) => {
            let fixed = match name {
                "op_args" => !p.op_args.is_empty() || !p.op_args_from_task.is_empty(),
                "op_kwargs" => false,
                _ => {
                    p.op_kwargs.contains_key(name)
                        || p.op_kwargs_from_task.iter().any(|(k, _)| k == name)
                }
            };
            fixed.then(|| BOTH.to_owned())
        }
        TaskKind::Bash(b) => {
            if !BASH_MAPPABLE.contains(&name) {
                return Some(format!(
                    "which bash tasks do not take; a bash task maps {}",
                    BASH_MAPPABLE.join(", ")
                ));
            }
            let fixed = match name {
                "bash_command" => !b.bash_command.is_empty(),
                "env" => b.env.is_some(),
                _ => b.cwd.is_some(),
            };
            fixed.then(|| BOTH.to_owned())
        }
        TaskKind::CallAsync(c) => {
            if name == "id" {
                return Some(
                    "but `id` is reserved: it receives the call's index; rename this argument"
                        .to_owned(),
                );
            }
            match &c.data {
                Value::Object(m) if m.contains_key(name) => Some(BOTH.to_owned()),
                Value::Object(_) if c.data_from_task.iter().any(|(k, _)| k == name) => {
                    Some(BOTH.to_owned())
                }
                Value::Object(_) => None,
                _ => Some(
                    "which becomes a keyword argument, so `data` must be a table of keyword arguments"
                        .to_owned(),
                ),
            }
        }
        _ => Some(format!("but {} tasks cannot be mapped", ty.name())),
    }
}
