//! The top of a DAG file: the DAG's own keys, the walk over its tasks, credentials
//! anywhere in it, and the task graph.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use lithoflow_executor_config as exec_config;
use serde_json::{Map, Value};
use toml::de::{DeTable, DeValue};

use super::{Fields, Parsed, Span, Sv, TaskRefs, Walker, Written};
use crate::cron::{self, CronExpr};
use crate::graph::TaskGraph;
use crate::keys;
use crate::model::*;
use crate::schema;

impl Walker<'_> {
    /// Reports AWS credentials anywhere in the file: as keys at any depth, or as values
    /// that look like access key ids.
    fn scan_credentials(&mut self, table: &DeTable<'_>) {
        for (k, v) in table.iter() {
            let credential = exec_config::is_credential_key(k.get_ref());
            if credential {
                self.error(
                    k.span(),
                    format!(
                        "`{}` is an AWS credential and does not belong in a DAG file; credentials come only from the standard AWS chain (the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables, ~/.aws/credentials profiles, or an instance/task role)",
                        k.get_ref()
                    ),
                );
            }
            if !credential {
                self.scan_credential_value(v);
            }
        }
    }

    fn scan_credential_value(&mut self, v: &Sv<'_>) {
        match v.get_ref() {
            DeValue::Table(t) => self.scan_credentials(t),
            DeValue::Array(items) => items.iter().for_each(|i| self.scan_credential_value(i)),
            DeValue::String(s) if looks_like_access_key_id(s) => self.error(
                v.span(),
                "this string looks like an AWS access key id, which does not belong in a DAG file; credentials come only from the standard AWS chain (environment, ~/.aws profiles, or a role)",
            ),
            _ => {}
        }
    }

    pub(super) fn dag(&mut self, doc: &DeTable<'_>) -> Option<Dag> {
        self.scan_credentials(doc);
        let mut top: BTreeMap<&'static str, &Sv<'_>> = BTreeMap::new();
        let mut top_keys: BTreeMap<&'static str, Span> = BTreeMap::new();
        for (k, v) in doc.iter() {
            let name = k.get_ref().as_ref();
            match keys::dag_key(keys::canonical(name)).map(|k| k.name) {
                Some(key) => {
                    if let Some(first) = top_keys.get(key) {
                        let line = self.src.locate(first.clone()).line;
                        self.error(
                            k.span(),
                            format!(
                                "`{name}` repeats `{key}` (set on line {line}); keep one of them"
                            ),
                        );
                        continue;
                    }
                    top.insert(key, v);
                    top_keys.insert(key, k.span());
                }
                None => self.unknown_dag_key(name, k.span()),
            }
        }

        let file_stem = self
            .src
            .path()
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dag_id = match top.get("dag_id") {
            Some(v) => self
                .string("dag_id", v)
                .filter(|id| self.id("dag_id", id, v.span())),
            None => self.id("dag_id", &file_stem, 0..0).then_some(file_stem),
        };
        let description = top
            .get("description")
            .and_then(|v| self.string("description", v));
        let (timezone, tz_given) = match top.get("timezone") {
            Some(v) => match self.timezone(v) {
                Some(tz) => (DagTimezone::Named(tz), true),
                None => (DagTimezone::default(), true),
            },
            None => (DagTimezone::default(), false),
        };
        let start = top
            .get("start_date")
            .and_then(|v| self.date("start_date", v, timezone));
        // Without a `timezone`, a start_date with an offset sets the DAG's zone, as in
        // Airflow; end_date is then read in that zone.
        let timezone = match (&start, tz_given) {
            (Some((_, Some(offset))), false) if offset.local_minus_utc() != 0 => {
                DagTimezone::Fixed(*offset)
            }
            _ => timezone,
        };
        let end = top
            .get("end_date")
            .and_then(|v| self.date("end_date", v, timezone));
        let start_date = start.map(|(d, _)| d);
        let end_date = end.map(|(d, _)| d);
        // Airflow accepts this and the DAG simply gets no scheduled runs (its timetable's
        // restriction is empty); say so rather than refuse the file.
        if let (Some(s), Some(e), Some(v)) = (start_date, end_date, top.get("end_date"))
            && e < s
        {
            self.warn(
                v.span(),
                format!("`end_date` ({e}) is before `start_date` ({s}): the DAG gets no scheduled runs (manual runs and backfills still work)"),
            );
        }
        let schedule = top.get("schedule").and_then(|v| self.schedule(v));
        let timetable = match top.get("timetable") {
            Some(v) => match self.string("timetable", v).as_deref() {
                Some("cron_trigger") => Timetable::CronTrigger,
                Some("cron_data_interval") => Timetable::CronDataInterval,
                Some(other) => {
                    self.error(
                        v.span(),
                        format!("unknown timetable {other:?}; expected \"cron_trigger\" (Airflow 3: a run at each tick) or \"cron_data_interval\" (Airflow 2: a run at the end of each interval)"),
                    );
                    Timetable::default()
                }
                None => Timetable::default(),
            },
            None => Timetable::default(),
        };
        let bool_key = |w: &mut Self, key: &str, default: bool| {
            top.get(key)
                .and_then(|v| w.boolean(key, v))
                .unwrap_or(default)
        };
        let is_paused_upon_creation = bool_key(self, "is_paused_upon_creation", true);
        let catchup = bool_key(self, "catchup", false);
        let max_active_tasks = top
            .get("max_active_tasks")
            .and_then(|v| self.int("max_active_tasks", v, 1, u64::from(u32::MAX)))
            .map_or(16, |n| u32::try_from(n).unwrap_or(u32::MAX));
        let continuous = matches!(schedule, Some(Schedule::Continuous));
        let max_active_runs = match top.get("max_active_runs") {
            Some(v) => {
                let n = self
                    .int("max_active_runs", v, 1, u64::from(u32::MAX))
                    .map_or(16, |n| u32::try_from(n).unwrap_or(u32::MAX));
                if continuous && n > 1 {
                    self.error(v.span(), format!("`@continuous` runs one DAG run at a time, so `max_active_runs` must be 1, found {n}"));
                }
                n
            }
            None if continuous => 1,
            None => 16,
        };
        if catchup
            && start_date.is_none()
            && matches!(
                schedule,
                Some(Schedule::Cron { .. } | Schedule::Delta { .. })
            )
            && let Some(span) = top_keys.get("catchup")
        {
            self.error(
                span.clone(),
                "`catchup = true` needs a `start_date` to catch up from",
            );
        }
        let dagrun_timeout = top
            .get("dagrun_timeout")
            .and_then(|v| self.duration("dagrun_timeout", v).map(|d| (d, v)))
            .and_then(|(d, v)| {
                if d.is_zero() {
                    self.error(v.span(), "`dagrun_timeout` must be longer than 0 seconds");
                    return None;
                }
                Some(d)
            });
        let tags = match top.get("tags") {
            Some(v) => {
                let tags = self.string_list("tags", v).unwrap_or_default();
                if let DeValue::Array(items) = v.get_ref() {
                    for (tag, item) in tags.iter().zip(items.iter()) {
                        if tag.chars().count() > 100 {
                            self.error(
                                item.span(),
                                format!(
                                    "tag is {} characters long; tags are at most 100",
                                    tag.chars().count()
                                ),
                            );
                        }
                    }
                }
                tags
            }
            None => Vec::new(),
        };
        let params = match top.get("params") {
            Some(v) => match v.get_ref() {
                DeValue::Table(_) => match self.json("params", v) {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                },
                _ => {
                    self.wrong_type("params", v, "a table (params = { n = 10 })");
                    Map::new()
                }
            },
            None => Map::new(),
        };
        let templates = self.template_settings(&top);
        let callbacks = |w: &mut Self, key: &str| {
            top.get(key)
                .and_then(|v| w.func_refs(key, v))
                .unwrap_or_default()
        };
        let on_success_callback = callbacks(self, "on_success_callback");
        let on_failure_callback = callbacks(self, "on_failure_callback");
        let (lithops_config, dag_settings) = top
            .get("lithops_config")
            .and_then(|v| self.lithops_config("lithops_config", v))
            .unwrap_or_default();

        let defaults = match top.get("default_args") {
            Some(v) => self.default_args(v),
            None => Fields::new(),
        };
        let mut tasks = Vec::new();
        let mut refs: Vec<TaskRefs> = Vec::new();
        if let Some(v) = top.get("tasks") {
            match v.get_ref() {
                DeValue::Table(t) => {
                    for (k, tv) in t.iter() {
                        let (task, r) = self.task(k, tv, &defaults, &lithops_config);
                        tasks.extend(task);
                        refs.push(r);
                    }
                }
                _ => self.wrong_type("tasks", v, "a table of tasks, written [tasks.<task_id>]"),
            }
        }
        let graph = self.graph(&refs);
        let settings_written = SettingsWritten {
            dag: self.locations(&dag_settings),
            default_args: match defaults.get("lithops_config") {
                Some((Parsed::Config(c), _)) => self.locations(&c.1),
                _ => WrittenAt::new(),
            },
            tasks: refs
                .iter()
                .filter(|r| !r.settings.is_empty())
                .map(|r| (r.task_id.clone(), self.locations(&r.settings)))
                .collect(),
        };

        Some(Dag {
            dag_id: dag_id?,
            fileloc: self.src.path().to_owned(),
            description,
            schedule,
            timetable,
            start_date,
            end_date,
            timezone,
            is_paused_upon_creation,
            catchup,
            max_active_runs,
            max_active_tasks,
            dagrun_timeout,
            tags,
            params,
            templates,
            on_success_callback,
            on_failure_callback,
            lithops_config,
            tasks,
            graph,
            dag_id_span: top.get("dag_id").map(|v| v.span()),
            settings_written,
            python: None,
        })
    }

    /// Where settings are written, as locations (the DAG keeps no text).
    fn locations(&self, written: &Written) -> WrittenAt {
        written
            .iter()
            .map(|(k, span)| (*k, self.src.locate(span.clone())))
            .collect()
    }

    fn unknown_dag_key(&mut self, name: &str, span: Span) {
        let mut msg = format!("unknown key `{name}` at the top of the DAG file");
        if keys::task_key(keys::canonical(name)).is_some() {
            msg.push_str(&format!(
                "; `{name}` is a task parameter: put it under [tasks.<task_id>] or [default_args]"
            ));
        } else if let Some(s) = schema::suggest(name, keys::dag_key_names()) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        } else {
            let names: Vec<&str> = keys::dag_key_names().collect();
            msg.push_str(&format!("; expected one of {}", names.join(", ")));
        }
        self.error(span, msg);
    }

    fn timezone(&mut self, v: &Sv<'_>) -> Option<chrono_tz::Tz> {
        let name = self.string("timezone", v)?;
        match chrono_tz::Tz::from_str(&name) {
            Ok(tz) => Some(tz),
            Err(_) => {
                let hint = schema::suggest(&name, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()))
                    .map_or(String::new(), |s| format!("; did you mean {s:?}?"));
                self.error(
                    v.span(),
                    format!("unknown time zone {name:?}: expected an IANA name such as \"UTC\" or \"Europe/Amsterdam\"{hint}"),
                );
                None
            }
        }
    }

    /// A date or datetime. Returns the instant and, when the file gave one, its offset.
    fn date(
        &mut self,
        key: &str,
        v: &Sv<'_>,
        tz: DagTimezone,
    ) -> Option<(DateTime<Utc>, Option<FixedOffset>)> {
        const EXPECTED: &str = "a TOML date or datetime such as 2026-11-01 or 2026-11-01T00:00:00Z";
        let (naive, offset) = match v.get_ref() {
            DeValue::Datetime(d) => {
                let Some(date) = d.date else {
                    self.wrong_type(key, v, EXPECTED);
                    return None;
                };
                let day = NaiveDate::from_ymd_opt(
                    i32::from(date.year),
                    u32::from(date.month),
                    u32::from(date.day),
                );
                let time = match d.time {
                    Some(t) => NaiveTime::from_hms_nano_opt(
                        u32::from(t.hour),
                        u32::from(t.minute),
                        u32::from(t.second.unwrap_or(0)),
                        t.nanosecond.unwrap_or(0),
                    ),
                    None => Some(NaiveTime::MIN),
                };
                let offset = match d.offset {
                    Some(toml::value::Offset::Z) => Some(FixedOffset::east_opt(0)),
                    Some(toml::value::Offset::Custom { minutes }) => {
                        Some(FixedOffset::east_opt(i32::from(minutes) * 60))
                    }
                    None => None,
                };
                match (day, time, offset) {
                    (Some(day), Some(time), None) => (NaiveDateTime::new(day, time), None),
                    (Some(day), Some(time), Some(Some(off))) => {
                        (NaiveDateTime::new(day, time), Some(off))
                    }
                    _ => {
                        self.wrong_type(key, v, EXPECTED);
                        return None;
                    }
                }
            }
            DeValue::String(s) => {
                if let Ok(d) = DateTime::parse_from_rfc3339(s) {
                    (d.naive_local(), Some(*d.offset()))
                } else if let Ok(d) = NaiveDateTime::from_str(s) {
                    (d, None)
                } else if let Ok(d) = NaiveDate::from_str(s) {
                    (NaiveDateTime::new(d, NaiveTime::MIN), None)
                } else {
                    self.wrong_type(key, v, EXPECTED);
                    return None;
                }
            }
            _ => {
                self.wrong_type(key, v, EXPECTED);
                return None;
            }
        };
        if let Some(off) = offset {
            return off
                .from_local_datetime(&naive)
                .single()
                .map(|d| (d.with_timezone(&Utc), Some(off)));
        }
        // No offset: the wall-clock time in the DAG's zone, read as Airflow reads
        // `pendulum.datetime(...)` (fold=1): a repeated time is its second occurrence,
        // a time in a daylight-saving gap moves forward by the gap.
        let local = crate::timetable::make_aware(tz, naive);
        if local.is_none() {
            self.error(
                v.span(),
                format!("`{key}` {naive} cannot be placed in time zone {tz}"),
            );
        }
        local.map(|d| (d, None))
    }

    fn schedule(&mut self, v: &Sv<'_>) -> Option<Schedule> {
        if matches!(v.get_ref(), DeValue::Array(_) | DeValue::Table(_)) {
            return self.asset_schedule(v).map(Schedule::Assets);
        }
        let text = self.string("schedule", v)?;
        let trimmed = text.trim();
        match trimmed {
            "@once" => return Some(Schedule::Once),
            "@continuous" => return Some(Schedule::Continuous),
            _ => {}
        }
        if let Some(delta) = self.delta_schedule(trimmed, v) {
            return delta;
        }
        let expr = if trimmed.starts_with('@') {
            match cron::preset(trimmed) {
                Some(e) => e,
                None => {
                    let names: Vec<&str> = cron::PRESETS
                        .iter()
                        .map(|(n, _)| *n)
                        .chain(["@once", "@continuous"])
                        .collect();
                    let hint = schema::suggest(trimmed, names.iter().copied())
                        .map_or(String::new(), |s| format!("did you mean {s:?}? "));
                    self.error(
                        v.span(),
                        format!(
                            "unknown schedule preset {trimmed:?}; {hint}expected one of {}",
                            names.join(", ")
                        ),
                    );
                    return None;
                }
            }
        } else {
            trimmed
        };
        match expr.parse::<CronExpr>() {
            Ok(cron) => Some(Schedule::Cron {
                expr: trimmed.to_owned(),
                cron: Box::new(cron),
            }),
            Err(e) => {
                let hint = if trimmed.split_whitespace().count() < 5 {
                    "; a duration schedule is written like \"1d\", \"6h\" or \"30m\""
                } else {
                    ""
                };
                self.error(v.span(), format!("invalid schedule {text:?}: {e}{hint}"));
                None
            }
        }
    }

    /// A duration schedule (`"1d"`, `"6h"`, `"1h30m"`): Airflow's
    /// `schedule=timedelta(...)`. None: the text is not a duration (a cron expression or
    /// a preset); Some(None): a duration that is refused (reported).
    fn delta_schedule(&mut self, text: &str, v: &Sv<'_>) -> Option<Option<Schedule>> {
        // A cron field never parses as a duration, which needs a unit after each number.
        let delta = humantime::parse_duration(text).ok()?;
        // humantime reads months and years as 30.44 and 365.25 days; Airflow's
        // `relativedelta(months=1)` is a calendar month, which this is not.
        let calendar = text
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|unit| matches!(unit, "M" | "month" | "months" | "y" | "year" | "years"));
        if calendar {
            self.error(
                v.span(),
                format!("schedule {text:?}: months and years are not fixed durations (Airflow's relativedelta); write a cron expression such as \"@monthly\" or \"0 0 1 */3 *\" instead"),
            );
            return Some(None);
        }
        if delta.is_zero() {
            self.error(
                v.span(),
                format!("schedule {text:?}: the time between runs must be more than zero"),
            );
            return Some(None);
        }
        Some(Some(Schedule::Delta {
            expr: text.to_owned(),
            delta,
        }))
    }
}

impl Walker<'_> {
    /// Checks references and builds the graph; reports missing tasks, self-dependencies
    /// and cycles with their full path.
    pub(super) fn graph(&mut self, refs: &[TaskRefs]) -> TaskGraph {
        let ids: Vec<&str> = refs.iter().map(|r| r.task_id.as_str()).collect();
        let known: std::collections::HashSet<&str> = ids.iter().copied().collect();
        let mut edges = Vec::new();
        for r in refs {
            for (dep, span, via) in &r.refs {
                if *dep == r.task_id {
                    self.error(
                        span.clone(),
                        format!("task `{dep}` depends on itself through `{via}`"),
                    );
                } else if !known.contains(dep.as_str()) {
                    let hint = schema::suggest(dep, ids.iter().copied())
                        .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
                    self.error(span.clone(), format!("`{via}` of task `{}` names task `{dep}`, which does not exist in this DAG{hint}", r.task_id));
                } else {
                    edges.push((dep.as_str(), r.task_id.as_str()));
                }
            }
        }
        let graph = TaskGraph::new(&ids, &edges);
        for cycle in graph.cycles() {
            let first = &cycle[0];
            let span = refs
                .iter()
                .find(|r| &r.task_id == first)
                .map_or(0..0, |r| r.header.clone());
            let mut path = cycle.clone();
            path.push(first.clone());
            self.error(span, format!("dependency cycle: {}", path.join(" -> ")));
        }
        graph
    }
}

/// An AWS access key id: `AKIA` or `ASIA` and 16 upper-case letters or digits.
pub(super) fn looks_like_access_key_id(s: &str) -> bool {
    s.len() == 20
        && (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}
