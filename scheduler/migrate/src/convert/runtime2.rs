//! Issue 18's task arguments: pools and priority (`pool`, `pool_slots`,
//! `priority_weight`, `weight_rule`, `max_active_tis_per_dag(run)`, Airflow 2's
//! `task_concurrency`), assets (`outlets`, `inlets`, and the asset forms of a DAG's
//! `schedule`), and dynamic task mapping (`expand`, `expand_kwargs`) of TaskFlow functions
//! and classic operators (`map_index_template` is a plain key).

use super::{Converter, Kind};
use crate::emit::{Line, TomlVal};
use crate::known::OpKind;
use crate::model::{Kw, TaskDraft};
use crate::value::{AssetExpr, Span, Value};

/// The operator arguments `runtime2_arg` reads (before the table of keys does).
pub(super) const ARGS: &[&str] = &[
    "pool",
    "pool_slots",
    "priority_weight",
    "weight_rule",
    "max_active_tis_per_dag",
    "max_active_tis_per_dagrun",
    "task_concurrency",
    "outlets",
    "inlets",
];

/// Whether `lines` already set `key`.
fn has_key(lines: &[Line], key: &str) -> bool {
    lines
        .iter()
        .any(|l| matches!(l, Line::Key { key: k, .. } if k == key))
}

/// Airflow's weight rules (`airflow.utils.weight_rule.WeightRule`).
const WEIGHT_RULES: &[&str] = &["downstream", "upstream", "absolute"];

/// An asset as TOML: its URI, or a table when it has a name, group or extra; a condition
/// as `{ all = [...] }` / `{ any = [...] }`.
pub(super) fn asset_toml(a: &AssetExpr) -> Result<TomlVal, String> {
    Ok(match a {
        AssetExpr::One {
            uri,
            name: None,
            group: None,
            extra: None,
        } => TomlVal::Str(uri.clone()),
        AssetExpr::One {
            uri,
            name,
            group,
            extra,
        } => {
            let mut t = vec![("uri".to_owned(), TomlVal::Str(uri.clone()))];
            if let Some(n) = name {
                t.push(("name".into(), TomlVal::Str(n.clone())));
            }
            if let Some(g) = group {
                t.push(("group".into(), TomlVal::Str(g.clone())));
            }
            if let Some(e) = extra {
                t.push(("extra".into(), super::to_toml(e)?));
            }
            TomlVal::Table(t)
        }
        AssetExpr::All(items) | AssetExpr::Any(items) => {
            let key = if matches!(a, AssetExpr::All(_)) {
                "all"
            } else {
                "any"
            };
            let items = items.iter().map(asset_toml).collect::<Result<_, _>>()?;
            TomlVal::Table(vec![(key.to_owned(), TomlVal::Array(items))])
        }
    })
}

/// A DAG's asset schedule as TOML: a list (all of them, as Airflow's list) or a condition.
/// None when `v` is no asset schedule.
pub(super) fn asset_schedule(v: &Value) -> Option<Result<TomlVal, String>> {
    let items: Vec<&Value> = match v {
        Value::Asset(AssetExpr::All(items)) => {
            return Some(
                items
                    .iter()
                    .map(asset_toml)
                    .collect::<Result<_, _>>()
                    .map(TomlVal::Array),
            );
        }
        Value::Asset(a @ AssetExpr::One { .. }) => {
            return Some(asset_toml(a).map(|t| TomlVal::Array(vec![t])));
        }
        Value::Asset(a) => return Some(asset_toml(a)),
        Value::List(items) | Value::Tuple(items)
            if !items.is_empty() && items.iter().all(|i| matches!(i, Value::Asset(_))) =>
        {
            items.iter().collect()
        }
        Value::List(items) | Value::Tuple(items)
            if items
                .iter()
                .any(|i| matches!(i, Value::Foreign(f) if f.contains("Alias"))) =>
        {
            return Some(Err(
                "asset aliases (AssetAlias, DatasetAlias) are not supported".into(),
            ));
        }
        _ => return None,
    };
    let mut out = Vec::new();
    for i in items {
        if let Value::Asset(a) = i {
            match asset_toml(a) {
                Ok(t) => out.push(t),
                Err(e) => return Some(Err(e)),
            }
        }
    }
    Some(Ok(TomlVal::Array(out)))
}

impl Converter<'_, '_> {
    /// An argument of every operator that issue 18 gave a key (pools, priority, assets);
    /// false when `k` is none of them. Written as the key of the
    /// same name (`task_concurrency` as `max_active_tis_per_dag`).
    pub(super) fn runtime2_arg(&mut self, k: &Kw, lines: &mut Vec<Line>, owner: &str) -> bool {
        let name = k.name.as_str();
        let what = format!("{owner} `{name}`");
        match name {
            "pool"
            | "pool_slots"
            | "priority_weight"
            | "weight_rule"
            | "max_active_tis_per_dag"
            | "max_active_tis_per_dagrun"
            | "task_concurrency" => {
                if matches!(k.value, Ok(Value::None)) {
                    return true;
                }
                let kind = if matches!(name, "pool" | "weight_rule") {
                    Kind::Str
                } else {
                    Kind::Int
                };
                let Some(v) = self.kind_value(k, kind, &what) else {
                    return true;
                };
                match (name, &v) {
                    ("weight_rule", TomlVal::Str(r)) if !WEIGHT_RULES.contains(&r.as_str()) => {
                        self.error(&k.span, format!("{what} {r:?}: lithoflow has Airflow's weight rules downstream, upstream and absolute (custom PriorityWeightStrategy classes are not supported)"));
                    }
                    ("pool_slots", TomlVal::Int(n)) if *n < 1 => {
                        self.error(
                            &k.span,
                            format!(
                                "{what} is {n}; Airflow needs at least 1 (it raises a ValueError)"
                            ),
                        );
                    }
                    // Airflow 2 takes task_concurrency only without max_active_tis_per_dag
                    // (models/baseoperator.py), in whichever order they are written.
                    ("task_concurrency", _) => {
                        if has_key(lines, "max_active_tis_per_dag") {
                            self.note(&k.span, format!("{what} is dropped: max_active_tis_per_dag is given too, and Airflow 2 takes it"));
                        } else {
                            lines.push(Line::with_comment(
                                "max_active_tis_per_dag",
                                v,
                                "Airflow 2's `task_concurrency` (deprecated name)",
                            ));
                        }
                    }
                    ("max_active_tis_per_dag", _) => {
                        if has_key(lines, name) {
                            self.note(&k.span, format!("{what} replaces the task_concurrency given before it, as in Airflow 2"));
                        }
                        lines.retain(|l| !matches!(l, Line::Key { key, .. } if key == name));
                        lines.push(Line::key(name, v));
                    }
                    _ => lines.push(Line::key(name, v)),
                }
                true
            }
            "outlets" | "inlets" => {
                if let Some(v) = self.assets_arg(k, &what) {
                    lines.push(Line::key(name, v));
                }
                true
            }
            _ => false,
        }
    }

    /// `outlets=[Asset(...), ...]` (or one asset) as an array of assets; what is not an
    /// asset (Airflow 2's lineage objects) is dropped with a note.
    fn assets_arg(&mut self, k: &Kw, what: &str) -> Option<TomlVal> {
        let items = match &k.value {
            Ok(Value::None) => return None,
            Ok(Value::List(items) | Value::Tuple(items)) => items.clone(),
            Ok(v) => vec![v.clone()],
            Err(e) => {
                self.eval_failed(e, self.dag, what);
                return None;
            }
        };
        let mut out = Vec::new();
        for item in &items {
            match item {
                Value::Asset(a @ AssetExpr::One { .. }) => match asset_toml(a) {
                    Ok(t) => out.push(t),
                    Err(m) => self.error(&k.span, format!("{what}: {m}")),
                },
                Value::Asset(_) => self.error(
                    &k.span,
                    format!("{what} holds a condition over assets (& or |), which only a schedule may hold"),
                ),
                Value::Foreign(f) if f.contains("Alias") => self.error(
                    &k.span,
                    format!("{what}: asset aliases (AssetAlias, DatasetAlias) are not supported"),
                ),
                other => self.note(
                    &k.span,
                    format!("{what}: a {} is not an Asset or Dataset; Airflow keeps it as lineage only (no asset event), and it is dropped", other.type_name()),
                ),
            }
        }
        if out.is_empty() {
            None
        } else {
            Some(TomlVal::Array(out))
        }
    }

    /// The values of one expanded argument: another task's result (its id), a literal
    /// list, or a literal dict (its (key, value) pairs, as Airflow maps a dict).
    fn expand_value(
        &mut self,
        v: &Value,
        span: &Span,
        what: &str,
        implied: &mut Vec<usize>,
    ) -> Option<TomlVal> {
        match v {
            Value::XCom(t) => {
                implied.push(*t);
                Some(TomlVal::Str(self.model.tasks[*t].task_id.clone()))
            }
            Value::List(items) | Value::Tuple(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(self.toml_arg(item, span, &format!("{what}, element {}", i + 1))?);
                }
                Some(TomlVal::Array(out))
            }
            Value::Dict(items) => {
                let mut out = Vec::new();
                for (key, item) in items {
                    let pair = Value::List(vec![key.clone(), item.clone()]);
                    out.push(self.toml_arg(&pair, span, what)?);
                }
                Some(TomlVal::Array(out))
            }
            Value::XComKey(..) => self.toml_arg(v, span, what),
            other => {
                self.error(span, format!("{what} must be a list, a dict or a task's result (Airflow maps over nothing else), found a {}", other.type_name()));
                None
            }
        }
    }

    /// `.expand_kwargs(...)`'s value: a task's result, or a literal list of dicts whose
    /// keys are `names` (all names when None).
    fn expand_kwargs_value(
        &mut self,
        k: &Kw,
        names: Option<&[&str]>,
        implied: &mut Vec<usize>,
    ) -> Option<TomlVal> {
        let v = match &k.value {
            Ok(v) => v.clone(),
            Err(e) => {
                self.eval_failed(e, self.dag, "expand_kwargs");
                return None;
            }
        };
        match &v {
            Value::XCom(_) => self.expand_value(&v, &k.span, "expand_kwargs", implied),
            Value::List(items) | Value::Tuple(items) => {
                let mut out = Vec::new();
                for item in items {
                    let Value::Dict(entries) = item else {
                        self.error(&k.span, format!("expand_kwargs: each element must be a dict of arguments, found a {}", item.type_name()));
                        return None;
                    };
                    for (key, _) in entries {
                        if let (Some(names), Value::Str(key)) = (names, key)
                            && !names.contains(&key.as_str())
                        {
                            self.error(&k.span, format!("expand_kwargs: `{key}` is not an argument lithoflow maps for this operator (it maps {})", names.join(", ")));
                            return None;
                        }
                    }
                    out.push(self.toml_arg(item, &k.span, "expand_kwargs")?);
                }
                Some(TomlVal::Array(out))
            }
            other => {
                self.error(
                    &k.span,
                    format!(
                        "expand_kwargs must be a list of dicts or a task's result, found a {}",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }

    /// A mapped TaskFlow function's `expand`/`expand_kwargs`: the names are the
    /// function's keyword arguments.
    pub(super) fn taskflow_expansion(
        &mut self,
        task: &TaskDraft,
        body: &mut Vec<Line>,
        implied: &mut Vec<usize>,
    ) {
        let mut table = Vec::new();
        for k in &task.expand {
            match &k.value {
                Ok(v) => {
                    let what = format!("expand `{}`", k.name);
                    if let Some(t) = self.expand_value(v, &k.span, &what, implied) {
                        table.push((k.name.clone(), t));
                    }
                }
                Err(e) => self.eval_failed(e, self.dag, &format!("expand `{}`", k.name)),
            }
        }
        if !table.is_empty() {
            body.push(Line::key("expand", TomlVal::Table(table)));
        }
        if let Some(k) = &task.expand_kwargs
            && let Some(v) = self.expand_kwargs_value(k, None, implied)
        {
            body.push(Line::key("expand_kwargs", v));
        }
    }

    /// A mapped classic operator's `expand`/`expand_kwargs`: PythonOperator's `op_args`
    /// and `op_kwargs`, BashOperator's `bash_command` and `env`.
    pub(super) fn operator_expansion(
        &mut self,
        kind: OpKind,
        task: &TaskDraft,
        op: &str,
        body: &mut Vec<Line>,
        implied: &mut Vec<usize>,
    ) {
        let names: &[&str] = match kind {
            OpKind::Python => &["op_args", "op_kwargs"],
            OpKind::Bash => &["bash_command", "env", "cwd"],
            _ => {
                let why = match kind {
                    OpKind::Sensor(_) | OpKind::TriggerDagRun => {
                        "lithoflow's sensors and triggers are not mapped"
                    }
                    _ => "lithoflow maps python and bash tasks and TaskFlow functions",
                };
                self.error(
                    &task.span,
                    format!(
                        "{op}.partial(...).expand(...): mapping a {op} is not converted ({why})"
                    ),
                );
                return;
            }
        };
        let mut table = Vec::new();
        for k in &task.expand {
            let what = format!("expand `{}`", k.name);
            if !names.contains(&k.name.as_str()) {
                self.error(
                    &k.span,
                    format!("{what}: lithoflow maps {} of a {op}", names.join(", ")),
                );
                continue;
            }
            let v = match &k.value {
                Ok(v) => v.clone(),
                Err(e) => {
                    self.eval_failed(e, self.dag, &what);
                    continue;
                }
            };
            if let Some(t) = self.expand_value(&v, &k.span, &what, implied) {
                table.push((k.name.clone(), t));
            }
        }
        if !table.is_empty() {
            body.push(Line::key("expand", TomlVal::Table(table)));
        }
        let Some(k) = &task.expand_kwargs else { return };
        match kind {
            OpKind::Bash => {
                if let Some(v) = self.expand_kwargs_value(k, Some(names), implied) {
                    body.push(Line::key("expand_kwargs", v));
                }
            }
            _ => self.python_expand_kwargs(k, body, implied),
        }
    }

    /// `PythonOperator.partial(...).expand_kwargs([...])`: dicts of operator arguments;
    /// those that only set `op_kwargs` (or only `op_args`) convert.
    fn python_expand_kwargs(&mut self, k: &Kw, body: &mut Vec<Line>, implied: &mut Vec<usize>) {
        let items = match &k.value {
            Ok(Value::List(items) | Value::Tuple(items)) => items.clone(),
            Ok(Value::XCom(t)) => {
                let id = self.model.tasks[*t].task_id.clone();
                self.error(&k.span, format!("PythonOperator.partial(...).expand_kwargs over the result of `{id}`: each dict names operator arguments (op_kwargs, op_args), which lithoflow cannot know before it runs; have `{id}` return the op_kwargs dicts and use .expand(op_kwargs={id}'s result)"));
                return;
            }
            Ok(other) => {
                self.error(
                    &k.span,
                    format!(
                        "expand_kwargs must be a list of dicts or a task's result, found a {}",
                        other.type_name()
                    ),
                );
                return;
            }
            Err(e) => {
                self.eval_failed(e, self.dag, "expand_kwargs");
                return;
            }
        };
        let mut per: Vec<(String, Value)> = Vec::new();
        for item in &items {
            match item {
                Value::Dict(e) if e.len() == 1 => match &e[0] {
                    (Value::Str(n), v) if n == "op_kwargs" || n == "op_args" => {
                        per.push((n.clone(), v.clone()))
                    }
                    _ => {
                        self.error(&k.span, "expand_kwargs of a PythonOperator: each dict must set op_kwargs or op_args alone to convert");
                        return;
                    }
                },
                _ => {
                    self.error(&k.span, "expand_kwargs of a PythonOperator: each dict must set op_kwargs or op_args alone to convert");
                    return;
                }
            }
        }
        let first = per.first().map(|(n, _)| n.clone()).unwrap_or_default();
        if per.iter().any(|(n, _)| *n != first) {
            self.error(&k.span, "expand_kwargs of a PythonOperator mixing op_kwargs and op_args dicts is not converted");
            return;
        }
        let values = Value::List(per.into_iter().map(|(_, v)| v).collect());
        if first == "op_args" {
            if let Some(t) = self.expand_value(&values, &k.span, "expand_kwargs", implied) {
                body.push(Line::key(
                    "expand",
                    TomlVal::Table(vec![("op_args".into(), t)]),
                ));
            }
        } else {
            let kw = Kw::new("expand_kwargs", k.span.clone(), Ok(values));
            if let Some(t) = self.expand_kwargs_value(&kw, None, implied) {
                body.push(Line::key("expand_kwargs", t));
            }
        }
    }
}
