//! From what the evaluator found to lithoflow's TOML: DAG settings with Airflow 2's or 3's
//! defaults written out, every operator parameter mapped to its task key (or reported),
//! TaskFlow data passing as `op_args_from_task`/`op_kwargs_from_task`, and dependencies.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Timelike};

use super::emit::{Line, TomlDoc, TomlVal};
use super::known::OpKind;
use super::model::{Finding, FuncKind, Kw, Model, TaskSource, kw};
use super::value::{EvalError, PyDateTime, Span, TzInfo, Value, duration_text};
use super::{AirflowVersion, ConvertOptions, FnSig, ModuleSigs};
use lithoflow_dag::diag::Severity;

/// One converted DAG.
#[derive(Debug)]
pub(crate) struct DagOut {
    pub(crate) index: usize,
    pub(crate) dag_id: String,
    pub(crate) doc: TomlDoc,
    pub(crate) tasks: usize,
}

/// Context values lithoflow passes as tables where Airflow passes objects.
const TABLE_OBJECTS: &[&str] = &["ti", "dag_run", "dag", "task"];

/// Context values that are datetimes in Airflow and ISO strings in lithoflow.
const DATE_NAMES: &[&str] = &[
    "logical_date",
    "execution_date",
    "data_interval_start",
    "data_interval_end",
];

/// The names lithoflow's context holds (its template context, which the python task
/// types also pass to callables).
fn lithoflow_context_names() -> Vec<String> {
    let ctx = lithoflow_dag::template::Context {
        dag_id: String::new(),
        task_id: String::new(),
        run_id: String::new(),
        logical_date: chrono::DateTime::UNIX_EPOCH,
        data_interval_start: chrono::DateTime::UNIX_EPOCH,
        data_interval_end: chrono::DateTime::UNIX_EPOCH,
        params: serde_json::Map::new(),
        conf: serde_json::Map::new(),
        try_number: 1,
    };
    ctx.json().keys().cloned().collect()
}

/// Context names Airflow passes that have no lithoflow equivalent.
const CONTEXT_OBJECTS: &[&str] = &[
    "ti",
    "task_instance",
    "dag_run",
    "dag",
    "task",
    "conf",
    "macros",
    "params",
    "var",
    "conn",
    "inlets",
    "outlets",
    "prev_ds",
    "next_ds",
    "prev_ds_nodash",
    "next_ds_nodash",
    "yesterday_ds",
    "tomorrow_ds",
    "prev_execution_date",
    "next_execution_date",
    "prev_data_interval_start_success",
    "prev_data_interval_end_success",
    "prev_start_date_success",
    "test_mode",
    "triggering_dataset_events",
    "triggering_asset_events",
    "outlet_events",
    "inlet_events",
    "map_index_template",
    "expanded_ti_count",
];

/// The Lithops plugin's README parameters that its code did not take.
const README_ONLY: &[(&str, &str)] = &[
    ("extra_params", "took `extra_args`"),
    ("iterdata_form_task", "took `iterdata_from_task`"),
    ("lithops_config", "took `config`"),
    ("clean_data", "had no such parameter"),
    ("remote_invocation", "had no such parameter"),
];

/// BaseOperator arguments that only document or decorate a task (or tune Airflow's own
/// executor): dropped with a note.
const DROPPED_NOTES: &[(&str, &str)] = &[
    ("doc", "documentation is not kept"),
    ("doc_md", "documentation is not kept"),
    ("doc_rst", "documentation is not kept"),
    ("doc_json", "documentation is not kept"),
    ("doc_yaml", "documentation is not kept"),
    ("task_display_name", "display names are not kept"),
    ("ui_color", "UI colours are not kept"),
    ("ui_fgcolor", "UI colours are not kept"),
    ("pool", "lithoflow has no pools"),
    ("pool_slots", "lithoflow has no pools"),
    ("queue", "lithoflow has no executor queues"),
    (
        "executor",
        "lithoflow has one executor per DAG ([lithops_config])",
    ),
    (
        "executor_config",
        "lithoflow has one executor per DAG ([lithops_config])",
    ),
    ("priority_weight", "lithoflow does not weigh tasks"),
    ("weight_rule", "lithoflow does not weigh tasks"),
    (
        "resources",
        "lithoflow does not reserve resources (runtime_memory sets a call's memory)",
    ),
    ("run_as_user", "lithoflow runs every task as its own user"),
    (
        "max_active_tis_per_dag",
        "per-task concurrency limits are not supported",
    ),
    (
        "max_active_tis_per_dagrun",
        "per-task concurrency limits are not supported",
    ),
    (
        "task_concurrency",
        "per-task concurrency limits are not supported",
    ),
    ("email", "e-mail alerts are not supported"),
    ("email_on_failure", "e-mail alerts are not supported"),
    ("email_on_retry", "e-mail alerts are not supported"),
    ("sla", "SLAs are not supported (Airflow 3 removed them too)"),
    ("inlets", "lineage is not kept"),
    ("outlets", "lineage (and asset events) are not kept"),
    (
        "provide_context",
        "an Airflow 1 argument, ignored by Airflow 2 as well",
    ),
    ("templates_exts", "template files are not read"),
    ("template_ext", "template files are not read"),
    ("map_index_template", "map indexes are not named"),
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
        "on_failure_callback",
        "callbacks are not supported: the function would never be called",
    ),
    (
        "on_success_callback",
        "callbacks are not supported: the function would never be called",
    ),
    (
        "on_retry_callback",
        "callbacks are not supported: the function would never be called",
    ),
    (
        "on_execute_callback",
        "callbacks are not supported: the function would never be called",
    ),
    (
        "on_skipped_callback",
        "callbacks are not supported: the function would never be called",
    ),
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
}

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

    // ----- values ------------------------------------------------------------------------

    /// A Python value as TOML, or an error naming `what`.
    fn toml(&mut self, v: &Value, span: &Span, what: &str) -> Option<TomlVal> {
        match to_toml(v) {
            Ok(t) => Some(t),
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

    // ----- DAGs --------------------------------------------------------------------------

    pub(crate) fn convert_dag(&mut self, d: usize, file_label: &str) -> DagOut {
        self.dag = d;
        let dag = &self.model.dags[d];
        let mut doc = TomlDoc::default();
        let line = self.line(dag.span.start);
        let v = match self.opts.airflow_version {
            AirflowVersion::V2 => "2",
            AirflowVersion::V3 => "3",
        };
        doc.header.push(format!("Converted by `lithoflow migrate` from {file_label} (line {line}), read with Airflow {v}'s defaults (--airflow-version {v})."));
        let dag_id = match &dag.dag_id {
            Ok(id) => {
                if !lithoflow_dag::is_valid_id(id) {
                    self.error(&dag.span, format!("dag_id {id:?} is not a valid lithoflow id (^[A-Za-z0-9_.-]+$, at most 250 characters)"));
                }
                id.clone()
            }
            Err(e) => {
                self.findings.push(e2f(e, d));
                format!("dag_at_line_{line}")
            }
        };
        doc.top
            .push(Line::key("dag_id", TomlVal::Str(dag_id.clone())));
        let kwargs: Vec<Kw> = dag.kwargs.iter().chain(&dag.attrs).cloned().collect();

        // default_args first: start_date, end_date and params found there go to the DAG.
        let mut defaults_dag: Vec<Kw> = Vec::new();
        if let Some(k) = kw(&kwargs, "default_args") {
            match &k.value {
                Ok(Value::Dict(items)) => {
                    let items = items.clone();
                    let span = k.span.clone();
                    for (key, value) in items {
                        let Value::Str(key) = key else {
                            self.error(&span, "default_args has a key that is not a string");
                            continue;
                        };
                        let kwv = Kw::new(&key, span.clone(), Ok(value));
                        if matches!(key.as_str(), "start_date" | "end_date" | "params") {
                            defaults_dag.push(kwv);
                        } else {
                            self.common_arg(&kwv, &mut doc.default_args, "default_args", true);
                        }
                    }
                }
                Ok(Value::None) => {}
                Ok(other) => {
                    let m = format!("default_args must be a dict, found a {}", other.type_name());
                    self.error(&k.span, m);
                }
                Err(e) => {
                    self.eval_failed(e, d, "default_args");
                }
            }
        }
        let get = |name: &str| {
            kw(&kwargs, name)
                .cloned()
                .or_else(|| kw(&defaults_dag, name).cloned())
        };

        if let Some(k) = kw(&kwargs, "description")
            && let Some(v) = self.kind_value(k, Kind::Str, "description")
        {
            doc.top.push(Line::key("description", v));
        }

        // start_date first: a timedelta schedule is aligned to it.
        let start = get("start_date").and_then(|k| self.date(&k, "start_date"));
        let end = get("end_date").and_then(|k| self.date(&k, "end_date"));
        if kw(&kwargs, "start_date").is_none() && kw(&defaults_dag, "start_date").is_some() {
            self.note(&dag.span, "start_date is taken from default_args, as Airflow does, and written as the DAG's start_date");
        }

        self.schedule(&kwargs, start.as_ref(), &mut doc.top);

        let tz = start.as_ref().map(|s| s.tz.clone());
        if let Some(s) = &start {
            doc.top.push(date_line("start_date", s));
        }
        if let Some(e) = &end {
            match (&e.tz, &tz) {
                (TzInfo::Named(a), Some(TzInfo::Named(b))) if a != b => match e.instant() {
                    Some(i) => doc.top.push(Line::with_comment(
                        "end_date",
                        TomlVal::Datetime(i.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                        format!("{} in {a}", e.local.format("%Y-%m-%dT%H:%M:%S")),
                    )),
                    None => self.error(&dag.span, "end_date does not exist in its time zone"),
                },
                _ => doc.top.push(date_line("end_date", e)),
            }
        }
        match &tz {
            Some(TzInfo::Named(z)) => doc.top.push(Line::with_comment(
                "timezone",
                TomlVal::Str(z.clone()),
                "from start_date's time zone",
            )),
            Some(TzInfo::Fixed(_)) => {}
            Some(TzInfo::Utc) => doc.top.push(Line::with_comment(
                "timezone",
                TomlVal::Str("UTC".into()),
                "from start_date's time zone",
            )),
            Some(TzInfo::Naive) => doc.top.push(Line::with_comment(
                "timezone",
                TomlVal::Str("UTC".into()),
                "Airflow's default_timezone, in which it reads the naive start_date",
            )),
            None => doc.top.push(Line::with_comment(
                "timezone",
                TomlVal::Str("UTC".into()),
                "Airflow's default_timezone",
            )),
        }

        match get("is_paused_upon_creation").map(|k| {
            (
                self.kind_value(&k, Kind::Bool, "is_paused_upon_creation"),
                k,
            )
        }) {
            Some((Some(v), _)) => doc.top.push(Line::key("is_paused_upon_creation", v)),
            Some((None, _)) => {}
            None => doc.top.push(Line::with_comment(
                "is_paused_upon_creation",
                TomlVal::Bool(true),
                "Airflow's default ([core] dags_are_paused_at_creation): new DAGs start paused",
            )),
        }

        let catchup_default = self.opts.airflow_version == AirflowVersion::V2;
        match kw(&kwargs, "catchup").map(|k| self.kind_value(k, Kind::Bool, "catchup")) {
            Some(Some(v)) => doc.top.push(Line::key("catchup", v)),
            Some(None) => {}
            None => doc.top.push(Line::with_comment(
                "catchup",
                TomlVal::Bool(catchup_default),
                if catchup_default {
                    "Airflow 2's default ([scheduler] catchup_by_default = True); lithoflow's default is false"
                } else {
                    "Airflow 3's default"
                },
            )),
        }

        match kw(&kwargs, "max_active_runs")
            .map(|k| self.kind_value(k, Kind::Int, "max_active_runs"))
        {
            Some(Some(v)) => doc.top.push(Line::key("max_active_runs", v)),
            Some(None) => {}
            None => doc.top.push(Line::with_comment(
                "max_active_runs",
                TomlVal::Int(16),
                "Airflow's default ([core] max_active_runs_per_dag)",
            )),
        }
        let mat = kw(&kwargs, "max_active_tasks")
            .or_else(|| kw(&kwargs, "concurrency"))
            .cloned();
        match mat {
            Some(k) => {
                if let Some(v) = self.kind_value(&k, Kind::Int, &k.name) {
                    let mut comment = None;
                    if k.name == "concurrency" {
                        comment = Some("Airflow 2's `concurrency`".to_owned());
                    }
                    if self.opts.airflow_version == AirflowVersion::V2 {
                        self.note(&k.span, "max_active_tasks counted across all runs of the DAG in Airflow 2; lithoflow counts it per run, as Airflow 3 does");
                    }
                    doc.top.push(Line::Key {
                        key: "max_active_tasks".into(),
                        value: v,
                        comment,
                    });
                }
            }
            None => doc.top.push(Line::with_comment(
                "max_active_tasks",
                TomlVal::Int(16),
                "Airflow's default ([core] max_active_tasks_per_dag)",
            )),
        }
        // lithoflow, like Airflow 3 (and Airflow 2's scheduler, which wants a start date
        // for every task), cannot catch up on a cron schedule from no start date.
        let catchup = doc.top.iter().any(
            |l| matches!(l, Line::Key { key, value: TomlVal::Bool(true), .. } if key == "catchup"),
        );
        let cron = doc.top.iter().any(|l| matches!(l, Line::Key { key, value: TomlVal::Str(s), .. } if key == "schedule" && s != "@once" && s != "@continuous"));
        if catchup && cron && start.is_none() {
            let span = kw(&kwargs, "catchup").map_or(dag.span.clone(), |k| k.span.clone());
            self.error(&span, "catchup is on with a schedule but the DAG has no start_date: set a start_date (or catchup=False); Airflow fails on such a DAG too");
        }
        if let Some(k) = kw(&kwargs, "dagrun_timeout")
            && let Some(v) = self.kind_value(k, Kind::Duration, "dagrun_timeout")
        {
            doc.top.push(Line::key("dagrun_timeout", v));
        }
        if let Some(k) = kw(&kwargs, "tags")
            && let Some(v) = self.kind_value(k, Kind::StrList, "tags")
        {
            doc.top.push(Line::key("tags", v));
        }

        // params: the DAG's, then default_args', then a @dag function's parameters.
        let mut params: Vec<(String, TomlVal)> = Vec::new();
        for k in [
            kw(&defaults_dag, "params").cloned(),
            kw(&kwargs, "params").cloned(),
        ]
        .into_iter()
        .flatten()
        {
            match &k.value {
                Ok(Value::Dict(items)) => {
                    for (key, value) in items {
                        let Value::Str(key) = key else {
                            self.error(&k.span, "params has a key that is not a string");
                            continue;
                        };
                        if let Some(t) = self.toml(value, &k.span, &format!("params[{key:?}]")) {
                            set_entry(&mut params, key, t);
                        }
                    }
                }
                Ok(Value::None) => {}
                Ok(other) => {
                    let m = format!("params must be a dict, found a {}", other.type_name());
                    self.error(&k.span, m);
                }
                Err(e) => self.findings.push(e2f(e, d)),
            }
        }
        for (name, v, span) in &dag.fn_params.clone() {
            match v {
                Ok(v) => {
                    if let Some(t) = self.toml(v, span, &format!("@dag parameter `{name}`")) {
                        set_entry(&mut params, name, t);
                    }
                }
                Err(e) => self.findings.push(e2f(e, d)),
            }
        }
        if !params.is_empty() {
            doc.top
                .push(Line::key("params", TomlVal::Table(params.clone())));
        }

        for k in &kwargs {
            let span = k.span.clone();
            match k.name.as_str() {
                "dag_id"
                | "description"
                | "schedule"
                | "schedule_interval"
                | "timetable"
                | "start_date"
                | "end_date"
                | "catchup"
                | "max_active_runs"
                | "max_active_tasks"
                | "concurrency"
                | "dagrun_timeout"
                | "tags"
                | "params"
                | "default_args"
                | "is_paused_upon_creation" => {}
                "doc_md"
                | "default_view"
                | "orientation"
                | "owner_links"
                | "dag_display_name"
                | "access_control"
                | "auto_register"
                | "jinja_environment_kwargs"
                | "tooltip" => {
                    self.note(
                        &span,
                        format!(
                            "`{}` is not kept (documentation, UI or access control)",
                            k.name
                        ),
                    );
                }
                "render_template_as_native_obj" => {
                    if matches!(k.value, Ok(Value::Bool(true))) {
                        self.error(&span, "render_template_as_native_obj=True: lithoflow renders templates as text");
                    }
                }
                "fail_stop" | "fail_fast" => {
                    if matches!(k.value, Ok(Value::Bool(true))) {
                        self.error(
                            &span,
                            format!(
                                "{}=True (stop the run at the first failure) is not supported",
                                k.name
                            ),
                        );
                    }
                }
                "max_consecutive_failed_dag_runs" => {
                    if !matches!(k.value, Ok(Value::Int(0))) {
                        self.error(&span, "max_consecutive_failed_dag_runs (pausing after failures) is not supported");
                    }
                }
                "template_searchpath" | "user_defined_macros" | "user_defined_filters" => {
                    self.error(&span, format!("`{}`: lithoflow templates have no custom search path, macros or filters", k.name));
                }
                "on_success_callback" | "on_failure_callback" | "sla_miss_callback" => {
                    self.error(
                        &span,
                        format!(
                            "`{}`: callbacks are not supported: the function would never be called",
                            k.name
                        ),
                    );
                }
                "deadline" => self.error(&span, "deadline alerts are not supported"),
                "end_date_" => {}
                other => self.error(&span, format!("unknown DAG argument `{other}`")),
            }
        }

        // Tasks, in the order the file creates them.
        let mut tasks: Vec<usize> = dag.tasks.clone();
        tasks.sort_unstable();
        let params_json: serde_json::Map<String, serde_json::Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect();
        for t in &tasks {
            let lines = self.convert_task(*t, &tasks, &params_json);
            doc.tasks
                .push((self.model.tasks[*t].task_id.clone(), lines));
        }
        DagOut {
            index: d,
            dag_id,
            doc,
            tasks: tasks.len(),
        }
    }

    fn date(&mut self, k: &Kw, what: &str) -> Option<PyDateTime> {
        match &k.value {
            Ok(Value::DateTime(dt)) => Some(dt.clone()),
            Ok(Value::None) => None,
            Ok(Value::Str(s)) => {
                self.error(
                    &k.span,
                    format!("{what} is the string {s:?}; Airflow needs a datetime"),
                );
                None
            }
            Ok(other) => {
                let m = format!("{what} must be a datetime, found a {}", other.type_name());
                self.error(&k.span, m);
                None
            }
            Err(e) => {
                self.eval_failed(e, self.dag, what);
                None
            }
        }
    }

    fn schedule(&mut self, kwargs: &[Kw], start: Option<&PyDateTime>, top: &mut Vec<Line>) {
        let v2 = self.opts.airflow_version == AirflowVersion::V2;
        let cron_tt = if v2 {
            "cron_data_interval"
        } else {
            "cron_trigger"
        };
        let tt_comment = if v2 {
            "Airflow 2 runs a cron schedule once its interval has ended (CronDataIntervalTimetable)"
        } else {
            "Airflow 3's CronTriggerTimetable"
        };
        let sched = kw(kwargs, "schedule");
        let interval = kw(kwargs, "schedule_interval");
        let timetable = kw(kwargs, "timetable");
        if let Some(k) = interval
            && !v2
        {
            self.note(
                &k.span,
                "schedule_interval was removed in Airflow 3; read as `schedule`",
            );
        }
        let given: Vec<&Kw> = [sched, interval, timetable].into_iter().flatten().collect();
        if given.len() > 1 {
            self.error(&given[1].span, "more than one of schedule, schedule_interval and timetable (Airflow raises an error)");
        }
        let Some(k) = given.first() else {
            if v2 {
                // Airflow 2's default: timedelta(days=1).
                match delta_cron(86_400_000_000, start) {
                    Ok((cron, _)) => {
                        top.push(Line::with_comment(
                            "schedule",
                            TomlVal::Str(cron),
                            "Airflow 2's default schedule, timedelta(days=1), from start_date on",
                        ));
                        top.push(Line::with_comment(
                            "timetable",
                            TomlVal::Str("cron_data_interval".into()),
                            "Airflow 2 runs each interval once it has ended",
                        ));
                    }
                    Err(m) => self.error(
                        &self.model.dags[self.dag].span.clone(),
                        format!("Airflow 2's default schedule timedelta(days=1): {m}"),
                    ),
                }
            } else {
                top.push(Line::Comment(
                    "schedule: none (Airflow 3's default, schedule=None): manual triggers only"
                        .into(),
                ));
                top.push(Line::with_comment(
                    "timetable",
                    TomlVal::Str(cron_tt.into()),
                    "Airflow 3's default (no effect without a cron schedule)",
                ));
            }
            return;
        };
        let span = k.span.clone();
        match &k.value {
            Ok(Value::None) => {
                top.push(Line::Comment(
                    "schedule: none (schedule=None): manual triggers only".into(),
                ));
                top.push(Line::with_comment(
                    "timetable",
                    TomlVal::Str(cron_tt.into()),
                    format!(
                        "Airflow {}'s default (no effect without a cron schedule)",
                        if v2 { 2 } else { 3 }
                    ),
                ));
            }
            Ok(Value::Str(s)) => {
                let s = s.trim().to_owned();
                top.push(Line::key("schedule", TomlVal::Str(s.clone())));
                if s == "@once" || s == "@continuous" {
                    top.push(Line::with_comment(
                        "timetable",
                        TomlVal::Str(cron_tt.into()),
                        "no effect on @once and @continuous",
                    ));
                } else {
                    top.push(Line::with_comment(
                        "timetable",
                        TomlVal::Str(cron_tt.into()),
                        tt_comment,
                    ));
                }
                if s == "@continuous" && !kwargs.iter().any(|k| k.name == "max_active_runs") {
                    self.error(&span, "@continuous needs max_active_runs=1 (Airflow raises an error with the default 16)");
                }
            }
            Ok(Value::Delta(d)) => match delta_cron(*d, start) {
                Ok((cron, note)) => {
                    top.push(Line::with_comment(
                        "schedule",
                        TomlVal::Str(cron.clone()),
                        format!("from {}", delta_repr(*d)),
                    ));
                    let (tt, what) = if v2 {
                        ("cron_data_interval", "DeltaDataIntervalTimetable")
                    } else {
                        ("cron_trigger", "DeltaTriggerTimetable")
                    };
                    top.push(Line::with_comment(
                        "timetable",
                        TomlVal::Str(tt.into()),
                        format!("Airflow {}'s {what}", if v2 { 2 } else { 3 }),
                    ));
                    self.note(&span, format!("the timedelta schedule is written as the cron expression {cron:?}: {note}"));
                }
                Err(m) => self.error(&span, format!("schedule: {m}")),
            },
            Ok(Value::Timetable(tt, cron, tz)) => {
                top.push(Line::key("schedule", TomlVal::Str(cron.clone())));
                top.push(Line::key("timetable", TomlVal::Str((*tt).into())));
                if let Some(z) = tz {
                    let start_tz = start.map(|s| &s.tz);
                    let same = match start_tz {
                        Some(TzInfo::Named(n)) => n == z,
                        Some(TzInfo::Utc | TzInfo::Naive) | None => z == "UTC",
                        Some(TzInfo::Fixed(_)) => false,
                    };
                    if !same {
                        self.error(&span, format!("the timetable's zone {z:?} differs from start_date's: lithoflow has one `timezone` per DAG"));
                    }
                }
            }
            Ok(Value::Foreign(f)) | Ok(Value::Sym(f)) => {
                self.error(
                    &span,
                    format!(
                        "schedule `{f}` (assets, datasets or custom timetables) is not supported"
                    ),
                );
            }
            Ok(Value::List(_)) => {
                self.error(&span, "a schedule of datasets or assets is not supported")
            }
            Ok(other) => {
                let m = format!(
                    "schedule must be a cron string, a preset, a timedelta or None, found a {}",
                    other.type_name()
                );
                self.error(&span, m);
            }
            Err(e) => {
                self.eval_failed(e, self.dag, "schedule");
            }
        }
    }

    // ----- task arguments shared by every operator -----------------------------------------

    /// Maps a BaseOperator argument (or a default_args entry) onto `lines`; returns false
    /// when the argument is not one of them.
    fn common_arg(
        &mut self,
        k: &Kw,
        lines: &mut Vec<Line>,
        owner: &str,
        in_defaults: bool,
    ) -> bool {
        let name = k.name.as_str();
        let what = format!("{owner} `{name}`");
        let push = |lines: &mut Vec<Line>, key: &str, v: Option<TomlVal>| {
            if let Some(v) = v {
                lines.push(Line::key(key, v));
            }
        };
        match name {
            "retries" => push(lines, "retries", self.kind_value(k, Kind::Int, &what)),
            "retry_delay" | "max_retry_delay" | "execution_timeout" => {
                if matches!(k.value, Ok(Value::None)) {
                    return true;
                }
                push(lines, name, self.kind_value(k, Kind::Duration, &what));
            }
            "retry_exponential_backoff" => match &k.value {
                Ok(Value::Bool(b)) => lines.push(Line::key(name, TomlVal::Bool(*b))),
                Ok(Value::Int(i)) => lines.push(Line::key(name, TomlVal::Float(*i as f64))),
                Ok(Value::Float(f)) => lines.push(Line::key(name, TomlVal::Float(*f))),
                _ => {
                    let _ = self.kind_value(k, Kind::Bool, &what);
                }
            },
            "depends_on_past" => push(lines, name, self.kind_value(k, Kind::Bool, &what)),
            "owner" => push(lines, name, self.kind_value(k, Kind::Str, &what)),
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
            "do_xcom_push" => {
                if matches!(k.value, Ok(Value::Bool(false))) {
                    self.note(
                        &k.span,
                        "do_xcom_push=False: lithoflow always keeps a task's return value",
                    );
                }
            }
            "multiple_outputs" => {
                if matches!(k.value, Ok(Value::Bool(true))) {
                    self.note(&k.span, "multiple_outputs: lithoflow keeps the returned dict whole (as return_value)");
                }
            }
            "lithops_config"
            | "config"
            | "async_invoke"
            | "get_result"
            | "clean_data"
            | "extra_env"
            | "runtime_memory"
            | "timeout"
            | "include_modules"
            | "exclude_modules"
            | "invoke_pool_threads"
            | "chunk_size"
            | "chunk_n"
            | "remote_invocation"
            | "map_runtime_memory"
            | "reduce_runtime_memory"
            | "reducer_one_per_object"
            | "reducer_wait_local"
            | "extra_params"
            | "extra_args"
                if in_defaults =>
            {
                let canon = match name {
                    "config" => "lithops_config",
                    "extra_args" => "extra_params",
                    n => n,
                };
                if let Some(v) = self.kind_value(k, Kind::Any, &what) {
                    lines.push(Line::key(canon, v));
                }
            }
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

    // ----- tasks -------------------------------------------------------------------------

    fn convert_task(
        &mut self,
        t: usize,
        dag_tasks: &[usize],
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Vec<Line> {
        self.task = t;
        let task = self.model.tasks[t].clone();
        let mut lines = Vec::new();
        let first_finding = self.findings.len();
        let mut implied: Vec<usize> = Vec::new();
        let kwargs: Vec<Kw> = task.kwargs.iter().chain(&task.attrs).cloned().collect();
        let type_line = |ty: &str| Line::key("type", TomlVal::Str(ty.into()));
        let mut body: Vec<Line> = Vec::new();
        let mut common: Vec<Line> = Vec::new();
        match &task.source {
            TaskSource::Unknown(name) => {
                lines.push(Line::with_comment(
                    "type",
                    TomlVal::Str("empty".into()),
                    format!("migrate: placeholder for {name}, which lithoflow cannot run"),
                ));
                self.error(&task.span, format!("{name} is not supported by lithoflow: task `{}` is written as an empty placeholder", task.task_id));
                // Only the arguments every operator has; the rest belong to the operator
                // that is not converted.
                for k in &kwargs {
                    if matches!(
                        k.name.as_str(),
                        "retries"
                            | "retry_delay"
                            | "retry_exponential_backoff"
                            | "max_retry_delay"
                            | "execution_timeout"
                            | "trigger_rule"
                            | "depends_on_past"
                            | "owner"
                    ) {
                        self.common_arg(k, &mut common, "argument", false);
                    }
                }
            }
            TaskSource::Operator(kind) => {
                lines.push(type_line(kind.toml_type()));
                let op = operator_name(*kind);
                for k in &kwargs {
                    if matches!(k.name.as_str(), "task_id" | "dag") {
                        continue;
                    }
                    if matches!(kind, OpKind::CallAsync | OpKind::Map | OpKind::MapReduce)
                        && let Some((_, code)) = README_ONLY.iter().find(|(n, _)| *n == k.name)
                    {
                        self.note(&k.span, format!("`{}` is the README's name; the plugin's code {code}, so Airflow 2 rejected it (1.10 ignored it). lithoflow applies it as the README describes", k.name));
                    }
                    if self.operator_arg(*kind, k, &mut body, &mut implied, dag_tasks) {
                        continue;
                    }
                    if !self.common_arg(k, &mut common, "argument", false) {
                        let known = known_args(*kind);
                        let hint = lithoflow_dag::suggest_id(&k.name, &known)
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default();
                        self.error(
                            &k.span,
                            format!("unknown argument `{}` of {op}{hint}", k.name),
                        );
                        if let Err(e) = &k.value {
                            self.eval_failed(e, self.dag, &format!("`{}`", k.name));
                        }
                    }
                }
                self.required(*kind, &kwargs, &task.span, op);
                if kind.is_python_like()
                    && let Some(k) = kw(&kwargs, "python_callable")
                    && let Ok(v) = &k.value
                {
                    let sig = self.sig_for(v);
                    self.check_context(sig.as_ref(), &body, &task.span);
                }
            }
            TaskSource::TaskFlow { kind, func } => {
                self.taskflow(
                    *kind,
                    *func,
                    &task,
                    &kwargs,
                    &mut lines,
                    &mut body,
                    &mut common,
                    &mut implied,
                );
            }
            TaskSource::Mapped { func } => {
                self.mapped(
                    *func,
                    &task,
                    &kwargs,
                    &mut lines,
                    &mut body,
                    &mut common,
                    &mut implied,
                );
            }
        }
        lines.extend(body);
        lines.extend(common);
        // Strings must render with lithoflow's template context.
        self.check_templates(&lines, &task.span, params);
        // Plain dependencies: every upstream task not already implied by a data key.
        let mut ups: Vec<usize> = task
            .upstream
            .iter()
            .chain(&task.data_upstream)
            .copied()
            .filter(|u| !implied.contains(u))
            .collect();
        ups.sort_unstable();
        ups.dedup();
        if !ups.is_empty() {
            let ids = ups
                .iter()
                .map(|u| TomlVal::Str(self.model.tasks[*u].task_id.clone()))
                .collect();
            lines.push(Line::key("upstream", TomlVal::Array(ids)));
        }
        // In the file, the gaps of this task as comments.
        let mut gaps = Vec::new();
        for i in first_finding..self.findings.len() {
            let f = &self.findings[i];
            if f.severity == Severity::Error {
                gaps.push(format!(
                    "migrate: not translated (line {}): {}",
                    self.line(f.span.start),
                    f.message
                ));
                self.in_task_comments.insert(i);
            }
        }
        for g in gaps {
            lines.push(Line::Comment(g));
        }
        lines
    }

    fn required(&mut self, kind: OpKind, kwargs: &[Kw], span: &Span, op: &str) {
        let need: &[&str] = match kind {
            OpKind::Python | OpKind::Branch | OpKind::ShortCircuit => &["python_callable"],
            OpKind::Bash => &["bash_command"],
            OpKind::Empty => &[],
            OpKind::CallAsync => &["func"],
            OpKind::Map => &["map_function"],
            OpKind::MapReduce => &["map_function", "reduce_function"],
        };
        for n in need {
            if kw(kwargs, n).is_none() {
                let hint = kwargs
                    .iter()
                    .find(|k| strsim::levenshtein(&k.name, n) <= 2)
                    .map(|k| format!(" (`{}` is written instead?)", k.name))
                    .unwrap_or_default();
                self.error(span, format!("{op} without `{n}`{hint}"));
            }
        }
        if matches!(kind, OpKind::Map | OpKind::MapReduce)
            && ["map_iterdata", "iterdata_from_task", "iterdata_form_task"]
                .iter()
                .all(|n| kw(kwargs, n).is_none())
        {
            self.error(
                span,
                format!("{op} needs map_iterdata or iterdata_from_task"),
            );
        }
    }

    /// An operator-specific argument; false when `k` is not one of `kind`'s.
    fn operator_arg(
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
        match (kind, name) {
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
            (OpKind::Python | OpKind::Branch | OpKind::ShortCircuit, "templates_dict") => {
                push(body, name, self.kind_value(k, Kind::Table, &what))
            }
            (
                OpKind::Python | OpKind::Branch | OpKind::ShortCircuit,
                "show_return_value_in_logs",
            ) => push(body, name, self.kind_value(k, Kind::Bool, &what)),
            (OpKind::ShortCircuit, "ignore_downstream_trigger_rules") => {
                push(body, name, self.kind_value(k, Kind::Bool, &what))
            }
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
            (OpKind::Bash, "append_env") => push(body, name, self.kind_value(k, Kind::Bool, &what)),
            (OpKind::Bash, "cwd") => {
                if !matches!(k.value, Ok(Value::None)) {
                    push(body, name, self.kind_value(k, Kind::Str, &what));
                }
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
            (OpKind::Map | OpKind::MapReduce, "chunk_size" | "chunk_n" | "invoke_pool_threads")
            | (OpKind::MapReduce, "map_runtime_memory" | "reduce_runtime_memory") => {
                if !matches!(k.value, Ok(Value::None)) {
                    push(body, name, self.kind_value(k, Kind::Int, &what));
                }
            }
            (OpKind::Map | OpKind::MapReduce, "remote_invocation")
            | (OpKind::MapReduce, "reducer_one_per_object" | "reducer_wait_local") => {
                push(body, name, self.kind_value(k, Kind::Bool, &what));
            }
            (OpKind::CallAsync | OpKind::Map | OpKind::MapReduce, _) => {
                return self.lithops_common(k, body);
            }
            _ => return false,
        }
        true
    }

    /// The plugin's inherited parameters, in the README's and the code's spellings.
    fn lithops_common(&mut self, k: &Kw, body: &mut Vec<Line>) -> bool {
        let name = k.name.as_str();
        let what = format!("`{name}`");
        if matches!(k.value, Ok(Value::None)) && name != "async_invoke" {
            return true;
        }
        let (key, kind) = match name {
            "lithops_config" | "config" => ("lithops_config", Kind::Table),
            "async_invoke" | "get_result" | "clean_data" => (name, Kind::Bool),
            "extra_env" => (name, Kind::Table),
            "runtime_memory" => (name, Kind::Int),
            "timeout" => (name, Kind::Duration),
            "include_modules" | "exclude_modules" => (name, Kind::StrList),
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

    fn no_xcom(&mut self, k: &Kw) {
        if let Ok(v) = &k.value {
            let mut found = Vec::new();
            super::model::xcoms_in(v, &mut found);
            if let Some(t) = found.first() {
                let id = self.model.tasks[*t].task_id.clone();
                self.error(&k.span, format!("`{}` holds the result of task `{id}`: the Lithops operators take other tasks' results through data_from_task / iterdata_from_task", k.name));
            }
        }
    }

    /// Positional arguments: literal values in `op_args`, other tasks' results in
    /// `op_args_from_task` by position.
    fn positional(
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

    fn keywords(&mut self, kws: &[Kw], body: &mut Vec<Line>, implied: &mut Vec<usize>) {
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
    fn toml_arg(&mut self, v: &Value, span: &Span, what: &str) -> Option<TomlVal> {
        match v {
            Value::DagParam(p) => {
                self.note(span, format!("{what}: the DAG param `{p}` is passed as the template \"{{{{ params.{p} }}}}\", which lithoflow renders as text"));
                Some(TomlVal::Str(format!("{{{{ params.{p} }}}}")))
            }
            Value::XComKey(t, key) => {
                let id = self.model.tasks[*t].task_id.clone();
                self.error(span, format!("{what}: `{id}`[{key:?}] (one key of a task's result) cannot be passed; pass the whole result and read the key in the function"));
                None
            }
            v => {
                let mut found = Vec::new();
                super::model::xcoms_in(v, &mut found);
                if let Some(t) = found.first() {
                    let id = self.model.tasks[*t].task_id.clone();
                    self.error(span, format!("{what}: the result of task `{id}` inside a list or dict cannot be passed; pass it as an argument of its own"));
                    return None;
                }
                self.toml(v, span, what)
            }
        }
    }

    fn sig_for(&mut self, v: &Value) -> Option<FnSig> {
        match v {
            Value::Func { module, name } => {
                (self.modules)(module).and_then(|m| m.defs.get(name).cloned().flatten())
            }
            Value::Local(fid) | Value::TaskFactory(fid, _) => {
                let f = &self.model.functions[*fid];
                Some(FnSig::of(
                    f.args,
                    self.src.get(f.span.clone()).unwrap_or(""),
                ))
            }
            _ => None,
        }
    }

    /// Airflow passes its context to a callable by signature, and so does lithoflow, but
    /// lithoflow's context holds fewer values and plain data for Airflow's objects (`ti`,
    /// `dag_run` are tables, dates are ISO strings): say where a callable relies on more.
    fn check_context(&mut self, sig: Option<&FnSig>, body: &[Line], span: &Span) {
        let Some(sig) = sig else { return };
        let mut positional_given = 0;
        let mut given: Vec<String> = Vec::new();
        for l in body {
            if let Line::Key { key, value, .. } = l {
                match (key.as_str(), value) {
                    ("op_args", TomlVal::Array(a)) => positional_given += a.len(),
                    ("op_args_from_task", TomlVal::Table(t)) => positional_given += t.len(),
                    ("op_kwargs" | "op_kwargs_from_task", TomlVal::Table(t)) => {
                        given.extend(t.iter().map(|(k, _)| k.clone()))
                    }
                    ("templates_dict", _) => given.push("templates_dict".into()),
                    _ => {}
                }
            }
        }
        let context = lithoflow_context_names();
        let check = |this: &mut Self, name: &str, how: &str, has_default: bool| {
            if given.iter().any(|g| g == name) {
                return;
            }
            if context.iter().any(|c| c == name) {
                if TABLE_OBJECTS.contains(&name) && sig.dotted.iter().any(|(n, _)| n == name) {
                    let attrs: Vec<&str> = sig
                        .dotted
                        .iter()
                        .filter(|(n, _)| n == name)
                        .map(|(_, a)| a.as_str())
                        .collect();
                    this.error(span, format!("the function takes `{name}` {how} and uses `{name}.{}`: lithoflow's `{name}` is a table of plain values (a dict), not Airflow's object", attrs.join("`, `.")));
                } else if DATE_NAMES.contains(&name) {
                    this.note(span, format!("the function takes Airflow's context value `{name}` {how}: lithoflow passes it as an ISO 8601 string, Airflow as a datetime"));
                }
                return;
            }
            if name == "templates_dict" && has_default {
                return;
            }
            if CONTEXT_OBJECTS.contains(&name) || name == "templates_dict" {
                this.error(span, format!("the function takes Airflow's context value `{name}` {how}, which lithoflow's context does not have"));
            }
        };
        for (i, (p, has_default)) in sig.params.iter().enumerate() {
            if i < positional_given.min(sig.positional) {
                continue;
            }
            check(self, p, "as a parameter", *has_default);
        }
        if let Some(kwargs) = &sig.kwargs {
            for key in &sig.kwargs_keys {
                check(self, key, &format!("through `**{kwargs}`"), false);
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "the pieces of one task table")]
    fn taskflow(
        &mut self,
        kind: OpKind,
        func: usize,
        task: &super::model::TaskDraft,
        kwargs: &[Kw],
        lines: &mut Vec<Line>,
        body: &mut Vec<Line>,
        common: &mut Vec<Line>,
        implied: &mut Vec<usize>,
    ) {
        let f = self.model.functions[func].clone();
        if kind == OpKind::Bash {
            lines.push(Line::key("type", TomlVal::Str("bash".into())));
            match static_bash_command(&f) {
                Some(cmd) => body.push(Line::with_comment("bash_command", TomlVal::Str(cmd), format!("the string `{}` returns", f.name))),
                None => self.error(&task.span, format!("@task.bash `{}` builds its command when the task runs; only a function that returns a literal string converts", f.name)),
            }
        } else {
            lines.push(Line::key("type", TomlVal::Str(kind.toml_type().into())));
            let fref = Kw::new("python_callable", task.span.clone(), Ok(Value::Local(func)));
            if let Some((r, _)) = self.function_ref(&fref, "the @task function") {
                body.push(Line::key("python_callable", TomlVal::Str(r)));
            }
            let mut items = Vec::new();
            for (v, _) in &task.args {
                match v {
                    Ok(v) => items.push(v.clone()),
                    Err(e) => {
                        self.eval_failed(e, self.dag, "argument");
                    }
                }
            }
            self.positional(&items, &task.span, body, implied);
            self.keywords(&task.call_kwargs, body, implied);
        }
        for k in kwargs {
            match (kind, k.name.as_str()) {
                (_, "task_id" | "dag") => {}
                (OpKind::ShortCircuit, "ignore_downstream_trigger_rules")
                | (_, "show_return_value_in_logs")
                    if kind != OpKind::Bash =>
                {
                    if let Some(v) = self.kind_value(k, Kind::Bool, &k.name) {
                        body.push(Line::key(&k.name, v));
                    }
                }
                (OpKind::Bash, "env" | "append_env" | "cwd" | "skip_on_exit_code") => {
                    self.operator_arg(OpKind::Bash, k, body, implied, &[]);
                }
                (_, "templates_dict") if kind != OpKind::Bash => {
                    self.operator_arg(OpKind::Python, k, body, implied, &[]);
                }
                _ => {
                    if !self.common_arg(k, common, "decorator argument", false) {
                        self.error(&k.span, format!("unknown @task argument `{}`", k.name));
                    }
                }
            }
        }
        if kind != OpKind::Bash {
            let sig = FnSig::of(f.args, self.src.get(f.span.clone()).unwrap_or(""));
            self.check_context(Some(&sig), body, &task.span);
        }
    }

    #[expect(clippy::too_many_arguments, reason = "the pieces of one task table")]
    fn mapped(
        &mut self,
        func: usize,
        task: &super::model::TaskDraft,
        kwargs: &[Kw],
        lines: &mut Vec<Line>,
        body: &mut Vec<Line>,
        common: &mut Vec<Line>,
        implied: &mut Vec<usize>,
    ) {
        lines.push(Line::with_comment(
            "type",
            TomlVal::Str("map".into()),
            "dynamic task mapping (.expand): one call per element, results in order",
        ));
        self.note(&task.span, format!("`{}`.expand(...) becomes one map task: its calls run as one task, so one failed call fails the task (Airflow fails one mapped instance)", self.model.functions[func].name));
        let fref = Kw::new("map_function", task.span.clone(), Ok(Value::Local(func)));
        if let Some((r, _)) = self.function_ref(&fref, "the @task function") {
            body.push(Line::key("map_function", TomlVal::Str(r)));
        }
        // One expanded argument: the elements are bound to it by name.
        match task.expand.as_slice() {
            [k] => match &k.value {
                Ok(Value::XCom(t)) => {
                    implied.push(*t);
                    body.push(Line::key("iterdata_from_task", TomlVal::Table(vec![(k.name.clone(), TomlVal::Str(self.model.tasks[*t].task_id.clone()))])));
                }
                Ok(Value::List(items) | Value::Tuple(items)) => {
                    let mut out = Vec::new();
                    for i in items {
                        if let Some(v) = self.toml_arg(i, &k.span, &format!("expand `{}`", k.name)) {
                            out.push(TomlVal::Table(vec![(k.name.clone(), v)]));
                        }
                    }
                    body.push(Line::key("map_iterdata", TomlVal::Array(out)));
                }
                Ok(other) => {
                    let m = format!("expand `{}` must be a list or a task's result, found a {}", k.name, other.type_name());
                    self.error(&k.span, m);
                }
                Err(e) => self.findings.push(e2f(e, self.dag)),
            },
            [] => self.error(&task.span, "expand() without arguments"),
            many => self.error(&many[1].span, "expand() over several arguments (a cross product) is not supported; expand one argument"),
        }
        let mut extra = Vec::new();
        for k in &task.call_kwargs {
            match &k.value {
                Ok(Value::XCom(_)) => self.error(
                    &k.span,
                    "partial() with another task's result is not supported by map tasks",
                ),
                Ok(v) => {
                    if let Some(t) = self.toml_arg(v, &k.span, &format!("partial `{}`", k.name)) {
                        extra.push((k.name.clone(), t));
                    }
                }
                Err(e) => self.findings.push(e2f(e, self.dag)),
            }
        }
        if !extra.is_empty() {
            body.push(Line::key("extra_params", TomlVal::Table(extra)));
        }
        for k in kwargs {
            if !matches!(k.name.as_str(), "task_id" | "dag")
                && !self.common_arg(k, common, "decorator argument", false)
            {
                self.error(&k.span, format!("unknown @task argument `{}`", k.name));
            }
        }
    }

    fn check_templates(
        &mut self,
        lines: &[Line],
        span: &Span,
        params: &serde_json::Map<String, serde_json::Value>,
    ) {
        let ctx = lithoflow_dag::template::Context {
            dag_id: "dag".into(),
            task_id: "task".into(),
            run_id: "manual__2026-01-01T00:00:00+00:00".into(),
            logical_date: self.opts.now,
            data_interval_start: self.opts.now,
            data_interval_end: self.opts.now,
            params: params.clone(),
            conf: serde_json::Map::new(),
            try_number: 1,
        };
        for l in lines {
            if let Line::Key { key, value, .. } = l {
                let json = toml_to_json(value);
                if let Err(m) = lithoflow_dag::template::render(&json, &ctx) {
                    self.error(span, format!("`{key}`: {m} (lithoflow's templates know ds, ds_nodash, ts, ts_nodash, ts_nodash_with_tz, logical_date, data_interval_start, data_interval_end, run_id, dag_id, task_id, params, dag_run, dag, ti, task)"));
                }
            }
        }
    }
}

/// The arguments an operator takes, for "did you mean" hints.
fn known_args(kind: OpKind) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = vec![
        "task_id",
        "dag",
        "retries",
        "retry_delay",
        "retry_exponential_backoff",
        "max_retry_delay",
        "execution_timeout",
        "trigger_rule",
        "depends_on_past",
        "owner",
    ];
    v.extend(match kind {
        OpKind::Python | OpKind::Branch | OpKind::ShortCircuit => &[
            "python_callable",
            "op_args",
            "op_kwargs",
            "templates_dict",
            "show_return_value_in_logs",
            "ignore_downstream_trigger_rules",
        ][..],
        OpKind::Bash => &[
            "bash_command",
            "env",
            "append_env",
            "cwd",
            "skip_on_exit_code",
        ][..],
        OpKind::Empty => &[][..],
        OpKind::CallAsync | OpKind::Map | OpKind::MapReduce => &[
            "func",
            "data",
            "data_from_task",
            "map_function",
            "map_iterdata",
            "iterdata_from_task",
            "extra_params",
            "extra_args",
            "chunk_size",
            "chunk_n",
            "remote_invocation",
            "invoke_pool_threads",
            "reduce_function",
            "map_runtime_memory",
            "reduce_runtime_memory",
            "reducer_one_per_object",
            "reducer_wait_local",
            "lithops_config",
            "config",
            "async_invoke",
            "get_result",
            "clean_data",
            "extra_env",
            "runtime_memory",
            "timeout",
            "include_modules",
            "exclude_modules",
        ][..],
    });
    v
}

fn operator_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Python => "PythonOperator",
        OpKind::Branch => "BranchPythonOperator",
        OpKind::ShortCircuit => "ShortCircuitOperator",
        OpKind::Bash => "BashOperator",
        OpKind::Empty => "EmptyOperator",
        OpKind::CallAsync => "LithopsCallAsyncOperator",
        OpKind::Map => "LithopsMapOperator",
        OpKind::MapReduce => "LithopsMapReduceOperator",
    }
}

fn set_entry(items: &mut Vec<(String, TomlVal)>, k: &str, v: TomlVal) {
    match items.iter_mut().find(|(x, _)| x == k) {
        Some(slot) => slot.1 = v,
        None => items.push((k.to_owned(), v)),
    }
}

fn date_line(key: &str, d: &PyDateTime) -> Line {
    let line = date_line_fixed(key, d);
    match (&d.moving, line) {
        (
            Some(m),
            Line::Key {
                key,
                value,
                comment,
            },
        ) => {
            let comment = match comment {
                Some(c) => format!("{m}; {c}"),
                None => format!("{m}: a fixed date here, a moving one in Airflow"),
            };
            Line::Key {
                key,
                value,
                comment: Some(comment),
            }
        }
        (_, line) => line,
    }
}

fn date_line_fixed(key: &str, d: &PyDateTime) -> Line {
    let l = &d.local;
    let frac = if l.nanosecond() == 0 {
        String::new()
    } else {
        format!(".{:06}", l.nanosecond() / 1000)
    };
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}",
        l.year(),
        l.month(),
        l.day(),
        l.hour(),
        l.minute(),
        l.second()
    );
    match &d.tz {
        TzInfo::Naive => Line::with_comment(
            key,
            TomlVal::Datetime(format!("{base}Z")),
            "naive in the DAG file: Airflow reads it in UTC (default_timezone)",
        ),
        TzInfo::Utc => Line::key(key, TomlVal::Datetime(format!("{base}Z"))),
        TzInfo::Fixed(s) => {
            let sign = if *s < 0 { '-' } else { '+' };
            let a = s.unsigned_abs();
            Line::key(
                key,
                TomlVal::Datetime(format!(
                    "{base}{sign}{:02}:{:02}",
                    a / 3600,
                    (a % 3600) / 60
                )),
            )
        }
        TzInfo::Named(z) => Line::with_comment(
            key,
            TomlVal::Datetime(base),
            format!("wall-clock time in {z}"),
        ),
    }
}

/// A timedelta as Python code: `timedelta(hours=6)`.
fn delta_repr(micros: i128) -> String {
    for (unit, size) in [
        ("weeks", 604_800_000_000i128),
        ("days", 86_400_000_000),
        ("hours", 3_600_000_000),
        ("minutes", 60_000_000),
        ("seconds", 1_000_000),
    ] {
        if micros != 0 && micros % size == 0 {
            return format!("timedelta({unit}={})", micros / size);
        }
    }
    format!("timedelta(microseconds={micros})")
}

/// A timedelta schedule as a cron expression that fires at the same times from
/// `start_date` on, when there is one.
fn delta_cron(micros: i128, start: Option<&PyDateTime>) -> Result<(String, String), String> {
    if micros <= 0 || micros % 60_000_000 != 0 {
        return Err("a timedelta schedule must be a positive whole number of minutes to become a cron expression".into());
    }
    let mins = (micros / 60_000_000) as u32;
    let (m, h, wd) = start.map_or((0, 0, 0), |s| {
        (
            s.local.minute(),
            s.local.hour(),
            s.local.weekday().num_days_from_sunday(),
        )
    });
    let secs_ok = start.is_none_or(|s| s.local.second() == 0 && s.local.nanosecond() == 0);
    if !secs_ok {
        return Err("start_date has seconds: no cron expression fires at it".into());
    }
    let cron = if mins < 60 && 60u32.is_multiple_of(mins) {
        if m % mins == 0 {
            if mins == 1 {
                "* * * * *".to_owned()
            } else {
                format!("*/{mins} * * * *")
            }
        } else {
            format!("{}/{mins} * * * *", m % mins)
        }
    } else if mins.is_multiple_of(60) && mins < 1440 && 1440 % mins == 0 {
        let hours = mins / 60;
        if hours == 1 {
            if m == 0 {
                "@hourly".to_owned()
            } else {
                format!("{m} * * * *")
            }
        } else if h % hours == 0 {
            format!("{m} */{hours} * * *")
        } else {
            format!("{m} {}/{hours} * * *", h % hours)
        }
    } else if mins == 1440 {
        if m == 0 && h == 0 {
            "@daily".to_owned()
        } else {
            format!("{m} {h} * * *")
        }
    } else if mins == 10_080 {
        format!("{m} {h} * * {wd}")
    } else {
        return Err(format!(
            "a schedule of {mins} minutes does not divide an hour, a day or a week, so no cron expression has the same ticks"
        ));
    };
    let note = match start {
        Some(s) if matches!(s.tz, TzInfo::Named(_)) => "the same ticks from start_date on; the cron ticks follow the zone's wall clock over daylight-saving changes, where Airflow adds fixed durations".to_owned(),
        Some(_) => "the same ticks from start_date on".to_owned(),
        None => "aligned to midnight UTC, as there is no start_date".to_owned(),
    };
    Ok((cron, note))
}

/// A static Python value as TOML.
pub(crate) fn to_toml(v: &Value) -> Result<TomlVal, String> {
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

/// The command of a `@task.bash` function that only returns a literal string.
fn static_bash_command(f: &super::model::FuncDef<'_>) -> Option<String> {
    use rustpython_parser::ast::{Constant, Expr, Stmt};
    let body: Vec<&Stmt> = f
        .body
        .iter()
        .filter(|s| !matches!(s, Stmt::Expr(e) if matches!(&*e.value, Expr::Constant(_))))
        .collect();
    match body.as_slice() {
        [Stmt::Return(r)] => match r.value.as_deref() {
            Some(Expr::Constant(c)) => match &c.value {
                Constant::Str(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}
