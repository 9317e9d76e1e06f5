//! Operator arguments: those every operator takes (BaseOperator's), each operator's own,
//! the Lithops plugin's, and the TaskFlow values passed as arguments.

use lithoflow_dag::keys::{self, ValueKind};

use super::{Converter, Kind, set_entry};
use crate::emit::{Line, TomlVal};
use crate::known::{OpKind, SensorKind};
use crate::model::Kw;
use crate::value::{Span, Value};

/// Which lithoflow keys an argument list may set.
#[derive(Debug, Clone, Copy)]
pub(super) enum ArgsOf {
    /// The Airflow operator (or TaskFlow decorator) of this task type.
    Type(OpKind),
    /// Every operator: BaseOperator's arguments.
    EveryOperator,
    /// `default_args`: any operator's.
    Defaults,
}

/// What an argument that is a plain lithoflow key becomes.
#[derive(Debug)]
pub(super) struct KeyLine {
    /// The TOML line; None when the value is `None` for a key that may stay unset, or
    /// when it was reported.
    pub(super) line: Option<Line>,
    /// Whether the key belongs to every task type (written after the type's own keys).
    pub(super) every_task: bool,
}

impl Kind {
    /// How an Airflow argument is checked for a key that holds `kind`.
    fn of(kind: ValueKind) -> Kind {
        match kind {
            ValueKind::Boolean => Kind::Bool,
            ValueKind::Integer => Kind::Int,
            ValueKind::Duration => Kind::Duration,
            ValueKind::String => Kind::Str,
            ValueKind::Strings => Kind::StrList,
            ValueKind::Table => Kind::Table,
            _ => Kind::Any,
        }
    }
}

/// The Lithops plugin's README parameters that its code did not take.
pub(super) const README_ONLY: &[(&str, &str)] = &[
    ("extra_params", "took `extra_args`"),
    ("iterdata_form_task", "took `iterdata_from_task`"),
    ("lithops_config", "took `config`"),
    ("clean_data", "had no such parameter"),
    ("remote_invocation", "had no such parameter"),
];

/// BaseOperator arguments that only document or decorate a task (or tune Airflow's own
/// executor): dropped with a note.
pub(super) const DROPPED_NOTES: &[(&str, &str)] = &[
    ("doc", "documentation is not kept"),
    ("doc_md", "documentation is not kept"),
    ("doc_rst", "documentation is not kept"),
    ("doc_json", "documentation is not kept"),
    ("doc_yaml", "documentation is not kept"),
    ("task_display_name", "display names are not kept"),
    ("ui_color", "UI colours are not kept"),
    ("ui_fgcolor", "UI colours are not kept"),
    ("queue", "lithoflow has no executor queues"),
    (
        "executor",
        "lithoflow has one executor per DAG ([lithops_config])",
    ),
    (
        "executor_config",
        "lithoflow has one executor per DAG ([lithops_config])",
    ),
    (
        "resources",
        "lithoflow does not reserve resources (runtime_memory sets a call's memory)",
    ),
    ("run_as_user", "lithoflow runs every task as its own user"),
    ("email", "e-mail alerts are not supported"),
    ("email_on_failure", "e-mail alerts are not supported"),
    ("email_on_retry", "e-mail alerts are not supported"),
    ("sla", "SLAs are not supported (Airflow 3 removed them too)"),
    (
        "provide_context",
        "an Airflow 1 argument, ignored by Airflow 2 as well",
    ),
    ("templates_exts", "template files are not read"),
    ("template_ext", "template files are not read"),
    (
        "ignore_first_depends_on_past",
        "depends_on_past applies from the first run on",
    ),
    (
        "task_group",
        "the task group is known from the `with` block",
    ),
    ("output_encoding", "output is read as UTF-8"),
    ("owner_links", "owner links are not kept"),
];

/// Arguments that change what runs and have no lithoflow equivalent.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "sla_miss_callback",
        "callbacks are not supported: the function would never be called",
    ),
    ("pre_execute", "pre/post-execute hooks are not supported"),
    ("post_execute", "pre/post-execute hooks are not supported"),
    (
        "start_date",
        "a task's own start_date is not supported (the DAG's start_date applies)",
    ),
    (
        "end_date",
        "a task's own end_date is not supported (the DAG's end_date applies)",
    ),
    (
        "params",
        "task-level params are not supported (set them on the DAG)",
    ),
    (
        "default_args",
        "an operator's own default_args are not supported",
    ),
    ("retry_policy", "retry policies are not supported"),
];

impl Converter<'_, '_> {
    /// An argument that is a plain lithoflow key of the same name, taken by `of` (the DAG
    /// crate's table of keys says which operators take it and what it holds): its value
    /// checked and written under the key. Python's `None` leaves a key that is unset
    /// unless written unset, and is reported for the others. None when `k` is not such an
    /// argument.
    pub(super) fn key_arg(&mut self, of: ArgsOf, k: &Kw, owner: &str) -> Option<KeyLine> {
        let before = self.templated;
        self.templated = super::TEMPLATED.contains(&k.name.as_str());
        let out = self.key_arg_inner(of, k, owner);
        self.templated = before;
        out
    }

    fn key_arg_inner(&mut self, of: ArgsOf, k: &Kw, owner: &str) -> Option<KeyLine> {
        // Issue 18's arguments are checked where they are read (`runtime2`, `sensor`),
        // so a bad value is reported at its place in the DAG file.
        if super::runtime2::ARGS.contains(&k.name.as_str()) {
            return None;
        }
        if let ArgsOf::Type(op @ (OpKind::Sensor(_) | OpKind::TriggerDagRun)) = of
            && super::sensor::known(op).contains(&k.name.as_str())
        {
            return None;
        }
        let key = keys::lookup(&k.name)?;
        let (kind, optional) = key.plain()?;
        let takes = match of {
            ArgsOf::Type(op) => key.airflow_argument_of(op.toml_type()),
            ArgsOf::EveryOperator => key.of_every_task() && key.is_airflow_argument(),
            ArgsOf::Defaults => key.may_be_default() && key.is_airflow_argument(),
        };
        if !takes {
            return None;
        }
        let every_task = key.of_every_task();
        // BaseOperator's arguments are named with their owner ("argument `retries`"),
        // an operator's own ones alone.
        let what = if every_task || matches!(of, ArgsOf::Defaults) {
            format!("{owner} `{}`", k.name)
        } else {
            format!("`{}`", k.name)
        };
        if optional && matches!(k.value, Ok(Value::None)) {
            return Some(KeyLine {
                line: None,
                every_task,
            });
        }
        let value = match (kind, &k.value) {
            // A multiplier; Airflow 2 took a boolean, which lithoflow reads too.
            (ValueKind::Number, Ok(Value::Bool(b))) => Some(TomlVal::Bool(*b)),
            (ValueKind::Number, Ok(Value::Int(i))) => Some(TomlVal::Float(*i as f64)),
            (ValueKind::Number, Ok(Value::Float(f))) => Some(TomlVal::Float(*f)),
            (ValueKind::Number, _) => self.kind_value(k, Kind::Bool, &what).and(None),
            (kind, _) => self.kind_value(k, Kind::of(kind), &what),
        };
        Some(KeyLine {
            line: value.map(|v| Line::key(key.name, v)),
            every_task,
        })
    }

    /// Maps an argument every operator takes that is not a plain lithoflow key
    /// (`trigger_rule`, Airflow's own settings, what lithoflow drops or cannot do), or
    /// any `default_args` entry, onto `lines`; returns false when the argument is not one
    /// of them.
    pub(super) fn common_arg(
        &mut self,
        k: &Kw,
        lines: &mut Vec<Line>,
        owner: &str,
        in_defaults: bool,
    ) -> bool {
        let name = k.name.as_str();
        let what = format!("{owner} `{name}`");
        if in_defaults && let Some(key) = self.key_arg(ArgsOf::Defaults, k, owner) {
            lines.extend(key.line);
            return true;
        }
        match name {
            "trigger_rule" => {
                if let Some(TomlVal::Str(rule)) = self.kind_value(k, Kind::Str, &what) {
                    let (rule, comment) = match rule.as_str() {
                        "dummy" => ("always".to_owned(), Some("Airflow 2's `dummy`")),
                        "none_failed_or_skipped" => (
                            "none_failed_min_one_success".to_owned(),
                            Some("Airflow 2's `none_failed_or_skipped`"),
                        ),
                        r => (r.to_owned(), None),
                    };
                    if lithoflow_dag::TRIGGER_RULES.iter().any(|(n, _)| *n == rule) {
                        lines.push(Line::Key {
                            key: name.into(),
                            value: TomlVal::Str(rule),
                            comment: comment.map(str::to_owned),
                        });
                    } else {
                        self.error(
                            &k.span,
                            format!("trigger_rule {rule:?} is not one lithoflow knows"),
                        );
                    }
                }
            }
            "wait_for_downstream" => {
                if matches!(k.value, Ok(Value::Bool(true))) {
                    self.error(
                        &k.span,
                        "wait_for_downstream=True is not supported (depends_on_past is)",
                    );
                }
            }
            "on_failure_callback"
            | "on_success_callback"
            | "on_retry_callback"
            | "on_execute_callback"
            | "on_skipped_callback" => {
                if let Some(v) = self.callbacks(k, &what) {
                    lines.push(Line::key(name, v));
                }
            }
            // The Lithops operators' keys with semantics that a default may carry, written
            // as they are (parse_dag checks them).
            "lithops_config" | "config" | "extra_env" | "extra_params" | "extra_args"
                if in_defaults =>
            {
                let canon = keys::lookup(name).map_or(name, |key| key.name);
                if let Some(v) = self.kind_value(k, Kind::Any, &what) {
                    lines.push(Line::key(canon, v));
                }
            }
            _ if in_defaults && self.sensor_default(k, lines) => {}
            _ if self.runtime2_arg(k, lines, owner) => {}
            _ => {
                if let Some((_, why)) = DROPPED_NOTES.iter().find(|(n, _)| *n == name) {
                    if !matches!(k.value, Ok(Value::None) | Ok(Value::Bool(false))) {
                        self.note(&k.span, format!("{what} is dropped: {why}"));
                    }
                } else if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == name) {
                    if !matches!(k.value, Ok(Value::None)) {
                        self.error(&k.span, format!("{what}: {why}"));
                    }
                } else if in_defaults {
                    self.error(
                        &k.span,
                        format!("default_args `{name}` is not an argument the converter knows"),
                    );
                } else {
                    return false;
                }
            }
        }
        true
    }

    /// An operator-specific argument; false when `k` is not one of `kind`'s.
    pub(super) fn operator_arg(
        &mut self,
        kind: OpKind,
        k: &Kw,
        body: &mut Vec<Line>,
        implied: &mut Vec<usize>,
        dag_tasks: &[usize],
    ) -> bool {
        let before = self.templated;
        self.templated = super::TEMPLATED.contains(&k.name.as_str())
            || super::sensor::TEMPLATED.contains(&k.name.as_str());
        let out = self.operator_arg_inner(kind, k, body, implied, dag_tasks);
        self.templated = before;
        out
    }

    fn operator_arg_inner(
        &mut self,
        kind: OpKind,
        k: &Kw,
        body: &mut Vec<Line>,
        implied: &mut Vec<usize>,
        dag_tasks: &[usize],
    ) -> bool {
        let name = k.name.as_str();
        let what = format!("`{name}`");
        let push = |body: &mut Vec<Line>, key: &str, v: Option<TomlVal>| {
            if let Some(v) = v {
                body.push(Line::key(key, v));
            }
        };
        // The operators' arguments that are lithoflow keys with semantics; the plain keys
        // are `key_arg`'s.
        match (kind, name) {
            (OpKind::Sensor(_) | OpKind::TriggerDagRun, _) => {
                return self.sensor_arg(kind, k, body);
            }
            (OpKind::Python | OpKind::Branch | OpKind::ShortCircuit, "python_callable") => {
                if let Some((r, _)) = self.function_ref(k, "python_callable") {
                    body.push(Line::key("python_callable", TomlVal::Str(r)));
                }
            }
            (OpKind::Python | OpKind::Branch | OpKind::ShortCircuit, "op_args") => match &k.value {
                Ok(Value::List(items) | Value::Tuple(items)) => {
                    let items = items.clone();
                    self.positional(&items, &k.span, body, implied);
                }
                Ok(Value::None) => {}
                _ => {
                    let _ = self.kind_value(k, Kind::StrList, "op_args");
                }
            },
            (OpKind::Python | OpKind::Branch | OpKind::ShortCircuit, "op_kwargs") => match &k.value
            {
                Ok(Value::Dict(items)) => {
                    let items = items.clone();
                    let kws: Vec<Kw> = items
                        .into_iter()
                        .filter_map(|(key, v)| match key {
                            Value::Str(s) => Some(Kw::new(&s, k.span.clone(), Ok(v))),
                            _ => None,
                        })
                        .collect();
                    self.keywords(&kws, body, implied);
                }
                Ok(Value::None) => {}
                _ => {
                    let _ = self.kind_value(k, Kind::Table, "op_kwargs");
                }
            },
            (OpKind::Bash, "bash_command") => {
                if let Some(TomlVal::Str(cmd)) = self.kind_value(k, Kind::Str, &what) {
                    let trimmed = cmd.trim_end_matches(' ');
                    if (cmd.ends_with(".sh") || cmd.ends_with(".bash")) && trimmed == cmd {
                        self.error(&k.span, format!("bash_command {cmd:?} ends in .sh/.bash: Airflow reads it as a Jinja template file and runs its rendered content; lithoflow runs the command as written (add a space at the end to run the script as is)"));
                    }
                    body.push(Line::key("bash_command", TomlVal::Str(cmd)));
                }
            }
            (OpKind::Bash, "env") => {
                if matches!(k.value, Ok(Value::None)) {
                    return true;
                }
                push(body, name, self.kind_value(k, Kind::Table, &what));
            }
            (OpKind::Bash, "skip_on_exit_code" | "skip_exit_code") => match &k.value {
                Ok(Value::Int(i)) => body.push(Line::key(
                    "skip_on_exit_code",
                    TomlVal::Array(vec![TomlVal::Int(*i)]),
                )),
                Ok(Value::None) => body.push(Line::with_comment(
                    "skip_on_exit_code",
                    TomlVal::Array(vec![]),
                    "None: no exit code skips the task",
                )),
                Ok(Value::List(_) | Value::Tuple(_)) => push(
                    body,
                    "skip_on_exit_code",
                    self.kind_value(k, Kind::StrList, &what),
                ),
                _ => {
                    let _ = self.kind_value(k, Kind::Int, &what);
                }
            },
            (OpKind::CallAsync, "func")
            | (OpKind::Map | OpKind::MapReduce, "map_function" | "reduce_function") => {
                if let Some((r, _)) = self.function_ref(k, name) {
                    body.push(Line::key(name, TomlVal::Str(r)));
                }
            }
            (OpKind::CallAsync, "data") => {
                if !matches!(k.value, Ok(Value::None)) {
                    self.no_xcom(k);
                    push(body, name, self.kind_value(k, Kind::Any, &what));
                }
            }
            (OpKind::CallAsync, "data_from_task")
            | (OpKind::Map | OpKind::MapReduce, "iterdata_from_task" | "iterdata_form_task") => {
                let key = if name == "data_from_task" {
                    "data_from_task"
                } else {
                    "iterdata_from_task"
                };
                if matches!(k.value, Ok(Value::None)) {
                    return true;
                }
                let Some(v) = self.kind_value(k, Kind::Any, &what) else {
                    return true;
                };
                let ids: Vec<String> = match &v {
                    TomlVal::Str(s) => vec![s.clone()],
                    TomlVal::Table(items) => items
                        .iter()
                        .filter_map(|(_, v)| {
                            if let TomlVal::Str(s) = v {
                                Some(s.clone())
                            } else {
                                None
                            }
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let known: Vec<&str> = dag_tasks
                    .iter()
                    .filter(|t| **t != self.task)
                    .map(|t| self.model.tasks[*t].task_id.as_str())
                    .collect();
                for id in &ids {
                    match dag_tasks
                        .iter()
                        .find(|t| &self.model.tasks[**t].task_id == id)
                    {
                        Some(t) => {
                            implied.push(*t);
                            let ordered = self.model.tasks[self.task].upstream.contains(t);
                            if !ordered {
                                self.note(&k.span, format!("{key} makes `{id}` an upstream task in lithoflow; in Airflow the plugin's xcom_pull did not order the tasks"));
                            }
                        }
                        None => {
                            let hint = lithoflow_dag::suggest_id(id, &known)
                                .map(|s| format!("; did you mean `{s}`?"))
                                .unwrap_or_default();
                            self.error(&k.span, format!("{key} names task `{id}`, which this DAG does not have (the plugin pulled None from it){hint}"));
                        }
                    }
                }
                let comment = (name == "iterdata_form_task")
                    .then(|| "written `iterdata_form_task` (the README's spelling)".to_owned());
                body.push(Line::Key {
                    key: key.into(),
                    value: v,
                    comment,
                });
            }
            (OpKind::Map | OpKind::MapReduce, "map_iterdata") => {
                if !matches!(k.value, Ok(Value::None)) {
                    self.no_xcom(k);
                    push(body, name, self.kind_value(k, Kind::StrList, &what));
                }
            }
            (OpKind::Map | OpKind::MapReduce, "extra_params" | "extra_args") => {
                if !matches!(k.value, Ok(Value::None)) {
                    self.no_xcom(k);
                    if let Some(v) = self.kind_value(k, Kind::Any, &what) {
                        let comment = (name == "extra_args")
                            .then(|| "written `extra_args` (the plugin's spelling)".to_owned());
                        body.push(Line::Key {
                            key: "extra_params".into(),
                            value: v,
                            comment,
                        });
                    }
                }
            }
            (OpKind::CallAsync | OpKind::Map | OpKind::MapReduce, _) => {
                return self.lithops_common(k, body);
            }
            _ => return false,
        }
        true
    }

    /// The plugin's inherited parameters, in the README's and the code's spellings.
    pub(super) fn lithops_common(&mut self, k: &Kw, body: &mut Vec<Line>) -> bool {
        let name = k.name.as_str();
        let what = format!("`{name}`");
        if matches!(k.value, Ok(Value::None)) {
            return true;
        }
        let (key, kind) = match name {
            "lithops_config" | "config" => ("lithops_config", Kind::Table),
            "extra_env" => (name, Kind::Table),
            "backend" | "storage" | "runtime" | "remote_invoker" => {
                if let Some(v) = self.kind_value(k, Kind::Any, &what) {
                    self.note(&k.span, format!("`{name}` had no effect in the plugin's code; it is written into the task's lithops_config"));
                    body.push(Line::key(
                        "lithops_config",
                        TomlVal::Table(vec![(name.to_owned(), v)]),
                    ));
                }
                return true;
            }
            "type" | "rabbitmq_monitor" | "workers" => {
                self.note(
                    &k.span,
                    format!("`{name}` had no effect in the plugin's code and is dropped"),
                );
                return true;
            }
            _ => return false,
        };
        if let Some(v) = self.kind_value(k, kind, &what) {
            let comment =
                (name == "config").then(|| "written `config` (the plugin's spelling)".to_owned());
            // Several lithops_config sources (config= and backend=) merge into one table.
            if key == "lithops_config"
                && let Some(Line::Key {
                    value: TomlVal::Table(existing),
                    ..
                }) = body
                    .iter_mut()
                    .find(|l| matches!(l, Line::Key { key, .. } if key == "lithops_config"))
                && let TomlVal::Table(new) = v
            {
                for (a, b) in new {
                    set_entry(existing, &a, b);
                }
                return true;
            }
            body.push(Line::Key {
                key: key.into(),
                value: v,
                comment,
            });
        }
        true
    }

    pub(super) fn no_xcom(&mut self, k: &Kw) {
        if let Ok(v) = &k.value {
            let mut found = Vec::new();
            crate::model::xcoms_in(v, &mut found);
            if let Some(t) = found.first() {
                let id = self.model.tasks[*t].task_id.clone();
                self.error(&k.span, format!("`{}` holds the result of task `{id}`: the Lithops operators take other tasks' results through data_from_task / iterdata_from_task", k.name));
            }
        }
    }

    /// Positional arguments: literal values in `op_args`, other tasks' results in
    /// `op_args_from_task` by position.
    pub(super) fn positional(
        &mut self,
        items: &[Value],
        span: &Span,
        body: &mut Vec<Line>,
        implied: &mut Vec<usize>,
    ) {
        let mut args = Vec::new();
        let mut from = Vec::new();
        for (i, v) in items.iter().enumerate() {
            match v {
                Value::XCom(t) => {
                    from.push((
                        i.to_string(),
                        TomlVal::Str(self.model.tasks[*t].task_id.clone()),
                    ));
                    implied.push(*t);
                }
                v => {
                    if let Some(t) = self.toml_arg(v, span, &format!("argument {}", i + 1)) {
                        args.push(t);
                    }
                }
            }
        }
        if !args.is_empty() {
            body.push(Line::key("op_args", TomlVal::Array(args)));
        }
        if !from.is_empty() {
            body.push(Line::key("op_args_from_task", TomlVal::Table(from)));
        }
    }

    pub(super) fn keywords(&mut self, kws: &[Kw], body: &mut Vec<Line>, implied: &mut Vec<usize>) {
        let mut args = Vec::new();
        let mut from = Vec::new();
        for k in kws {
            match &k.value {
                Ok(Value::XCom(t)) => {
                    from.push((
                        k.name.clone(),
                        TomlVal::Str(self.model.tasks[*t].task_id.clone()),
                    ));
                    implied.push(*t);
                }
                Ok(v) => {
                    if let Some(t) = self.toml_arg(v, &k.span, &format!("argument `{}`", k.name)) {
                        set_entry(&mut args, &k.name, t);
                    }
                }
                Err(e) => {
                    self.eval_failed(e, self.dag, &format!("argument `{}`", k.name));
                }
            }
        }
        if let Some(Line::Key {
            value: TomlVal::Table(existing),
            ..
        }) = body
            .iter_mut()
            .find(|l| matches!(l, Line::Key { key, .. } if key == "op_kwargs"))
        {
            for (a, b) in args {
                set_entry(existing, &a, b);
            }
        } else if !args.is_empty() {
            body.push(Line::key("op_kwargs", TomlVal::Table(args)));
        }
        if !from.is_empty() {
            body.push(Line::key("op_kwargs_from_task", TomlVal::Table(from)));
        }
    }

    /// An argument value passed to a function: a DAG param becomes its template.
    pub(super) fn toml_arg(&mut self, v: &Value, span: &Span, what: &str) -> Option<TomlVal> {
        match v {
            Value::DagParam(p) => {
                self.note(span, format!("{what}: the DAG param `{p}` is passed as the template \"{{{{ params.{p} }}}}\", which lithoflow renders as text"));
                Some(TomlVal::Str(format!("{{{{ params.{p} }}}}")))
            }
            Value::XComKey(t, key) => {
                let id = self.model.tasks[*t].task_id.clone();
                self.error(span, format!("{what}: `{id}`[{key:?}] (one key of a task's result) cannot be passed; pass the whole result and read the key in the function, or pull it there: `ti.xcom_pull(task_ids={id:?}, key={key:?})` with `multiple_outputs` on `{id}`"));
                None
            }
            v => {
                let mut found = Vec::new();
                crate::model::xcoms_in(v, &mut found);
                if let Some(t) = found.first() {
                    let id = self.model.tasks[*t].task_id.clone();
                    self.error(span, format!("{what}: the result of task `{id}` inside a list or dict cannot be passed; pass it as an argument of its own"));
                    return None;
                }
                // A function's arguments are templated (op_args, op_kwargs).
                let before = self.templated;
                self.templated = true;
                let out = self.toml(v, span, what);
                self.templated = before;
                out
            }
        }
    }
}

/// The arguments an operator takes, for "did you mean" hints.
pub(super) fn known_args(kind: OpKind) -> Vec<&'static str> {
    let ty = kind.toml_type();
    let mut v: Vec<&'static str> = vec!["task_id", "dag"];
    for key in keys::KEYS.iter().filter(|k| k.airflow_argument_of(ty)) {
        v.push(key.name);
        v.extend(key.aliases);
    }
    v.extend(super::sensor::known(kind));
    v
}

pub(super) fn operator_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Python => "PythonOperator",
        OpKind::Branch => "BranchPythonOperator",
        OpKind::ShortCircuit => "ShortCircuitOperator",
        OpKind::Bash => "BashOperator",
        OpKind::Empty => "EmptyOperator",
        OpKind::CallAsync => "LithopsCallAsyncOperator",
        OpKind::Map => "LithopsMapOperator",
        OpKind::MapReduce => "LithopsMapReduceOperator",
        OpKind::TriggerDagRun => "TriggerDagRunOperator",
        OpKind::Sensor(s) => match s {
            SensorKind::Python => "PythonSensor",
            SensorKind::File => "FileSensor",
            SensorKind::ExternalTask => "ExternalTaskSensor",
            SensorKind::TimeDelta => "TimeDeltaSensor",
            SensorKind::DateTime => "DateTimeSensor",
            SensorKind::Time => "TimeSensor",
            SensorKind::S3Key => "S3KeySensor",
            SensorKind::Bash => "BashSensor",
        },
    }
}
