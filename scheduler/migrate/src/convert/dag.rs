//! A DAG's own arguments: `dag_id`, dates and time zone, the schedule (a timedelta
//! becomes a duration schedule), callbacks, Airflow 2's or 3's defaults written out, `params`,
//! `default_args`; then its tasks.

use chrono::{Datelike, Timelike};

use super::{Converter, DagOut, Kind, e2f, set_entry, toml_to_json};
use crate::AirflowVersion;
use crate::emit::{Line, TomlDoc, TomlVal};
use crate::model::{Kw, kw};
use crate::value::{PyDateTime, TzInfo, Value, duration_text};

impl Converter<'_, '_> {
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
                    if let Some(v) = self.kind_value(k, Kind::Bool, "render_template_as_native_obj")
                    {
                        doc.top.push(Line::key(&k.name, v));
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
                "on_success_callback" | "on_failure_callback" => {
                    if let Some(v) = self.callbacks(k, &format!("`{}`", k.name)) {
                        doc.top.push(Line::key(&k.name, v));
                    }
                }
                "sla_miss_callback" => {
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

    pub(super) fn date(&mut self, k: &Kw, what: &str) -> Option<PyDateTime> {
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

    pub(super) fn schedule(
        &mut self,
        kwargs: &[Kw],
        start: Option<&PyDateTime>,
        top: &mut Vec<Line>,
    ) {
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
        // Airflow counts the ones that are set and truthy (airflow/utils/helpers.py
        // at_most_one), so `schedule_interval=None` beside a schedule is allowed ...
        let set: Vec<&&Kw> = given
            .iter()
            .filter(|k| !matches!(&k.value, Ok(v) if v.truthy() == Some(false)))
            .collect();
        if set.len() > 1 {
            self.error(&set[1].span, "more than one of schedule, schedule_interval and timetable (Airflow raises an error)");
        }
        // ... and Airflow 2 then takes timetable, else schedule_interval (even None),
        // else schedule (airflow/models/dag.py, DAG.__init__).
        let chosen = if v2 {
            timetable
                .filter(|k| !matches!(k.value, Ok(Value::None)))
                .or(interval)
                .or(sched)
        } else {
            set.first().map(|k| **k).or(given.first().copied())
        };
        if v2
            && let (Some(i), Some(s)) = (interval, sched)
            && matches!(&s.value, Ok(v) if v.truthy() != Some(false))
            && matches!(i.value, Ok(Value::None))
        {
            self.note(&i.span, "schedule_interval=None beside schedule=...: Airflow 2 takes schedule_interval when it is given (airflow/models/dag.py), so the DAG has no schedule and `schedule` is ignored; written as Airflow 2 reads it");
        }
        let Some(k) = chosen else {
            if v2 {
                // Airflow 2's default: timedelta(days=1), its DeltaDataIntervalTimetable.
                top.push(Line::with_comment(
                    "schedule",
                    TomlVal::Str("1d".into()),
                    "Airflow 2's default schedule, timedelta(days=1)",
                ));
                top.push(Line::with_comment(
                    "timetable",
                    TomlVal::Str("cron_data_interval".into()),
                    "Airflow 2's DeltaDataIntervalTimetable: each interval runs once it has ended",
                ));
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
            Ok(Value::Delta(d)) => match duration_text(*d) {
                Some(text) if *d > 0 => {
                    top.push(Line::with_comment(
                        "schedule",
                        TomlVal::Str(text),
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
                }
                _ => self.error(
                    &span,
                    format!(
                        "schedule {}: a timedelta schedule must be longer than zero",
                        delta_repr(*d)
                    ),
                ),
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
            Ok(v) if super::runtime2::asset_schedule(v).is_some() => {
                match super::runtime2::asset_schedule(v) {
                    Some(Ok(t)) => top.push(Line::with_comment(
                        "schedule",
                        t,
                        "runs when its assets are updated (Airflow's asset/dataset schedule)",
                    )),
                    Some(Err(m)) => self.error(&span, format!("schedule: {m}")),
                    None => {}
                }
            }
            Ok(Value::Foreign(f)) | Ok(Value::Sym(f)) => {
                self.error(
                    &span,
                    format!(
                        "schedule `{f}` (asset aliases, DatasetOrTimeSchedule or custom timetables) is not supported"
                    ),
                );
            }
            Ok(Value::List(items)) if items.is_empty() => self.error(
                &span,
                "schedule=[]: an empty list of assets (Airflow's DAG would never run)",
            ),
            Ok(Value::List(_)) => self.error(
                &span,
                "a list schedule must hold only assets (Asset/Dataset); Airflow raises a ValueError",
            ),
            Ok(Value::Runtime { template, what }) => {
                let m = crate::runtime_values::not_templated(what, template, "schedule");
                self.error(&span, m);
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
