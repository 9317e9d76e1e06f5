//! From TOML text to a [`Dag`], collecting every problem on the way.
//!
//! The walk is by hand over toml's spanned document rather than through serde, because
//! serde stops at the first error and a DAG author wants all of them at once, each with
//! its line and column.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use lithoflow_executor_config::ExecutorConfig;
use lithoflow_executor_config::{self as exec_config, ConfigValue};
use serde_json::{Map, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::LoadOptions;
use crate::cron::{self, CronExpr};
use crate::diag::{Diagnostic, Severity, Source};
use crate::graph::TaskGraph;
use crate::model::*;
use crate::schema::{self, TaskType};

type Sv<'i> = Spanned<DeValue<'i>>;
type Span = Range<usize>;

/// Parses and validates one DAG file. Returns the DAG when the file has no errors, and
/// every diagnostic (errors, warnings, notes) in file order either way. `include_modules`
/// may name only paths inside the DAG file's own folder; see [`parse_dag_with`].
pub fn parse_dag(path: &Path, text: &str) -> (Option<Dag>, Vec<Diagnostic>) {
    parse_dag_with(path, text, &LoadOptions::default())
}

/// [`parse_dag`] with the loader's options: the DAGs folder and the folders listed in
/// `[dags] include_paths` of `lithoflow.toml`, which `include_modules` paths may name.
pub fn parse_dag_with(
    path: &Path,
    text: &str,
    options: &LoadOptions,
) -> (Option<Dag>, Vec<Diagnostic>) {
    let src = Source::new(path, text);
    let (doc, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        let mut diags: Vec<Diagnostic> = syntax_errors
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                let mut message = format!("invalid TOML: {}", lowercase_first(e.message()));
                // toml says only "duplicate key"; name it, since the caret may sit on a table header.
                if message.ends_with("duplicate key")
                    && let Some(key) = text
                        .get(span.clone())
                        .filter(|k| !k.is_empty() && k.len() < 200)
                {
                    message = format!(
                        "invalid TOML: duplicate key `{}`; a key may be set only once per table",
                        key.trim()
                    );
                }
                src.diagnostic(Severity::Error, span, message)
            })
            .collect();
        crate::diag::tidy(&mut diags);
        return (None, diags);
    }
    let mut w = Walker {
        src,
        diags: Vec::new(),
        options,
    };
    let dag = w.dag(doc.get_ref());
    let mut diags = w.diags;
    crate::diag::tidy(&mut diags);
    let dag = if diags.iter().any(Diagnostic::is_error) {
        None
    } else {
        dag
    };
    (dag, diags)
}

fn lowercase_first(s: &str) -> String {
    let s = s.trim_end_matches('.');
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What a value is, for "found ..." messages.
fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => {
            let shown: String = s.chars().take(60).collect();
            if shown.len() < s.len() {
                format!("string {shown:?}…")
            } else {
                format!("string {shown:?}")
            }
        }
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {f}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

fn int_of(v: &DeValue<'_>) -> Option<i128> {
    match v {
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    }
}

fn float_of(v: &DeValue<'_>) -> Option<f64> {
    match v {
        DeValue::Float(f) => {
            let s = f.as_str();
            match s {
                "inf" | "+inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                "nan" | "+nan" | "-nan" => Some(f64::NAN),
                _ => s.replace('_', "").parse().ok(),
            }
        }
        _ => int_of(v).map(|i| i as f64),
    }
}

/// A task's settings as parsed from its table and `[default_args]`, before the task
/// is assembled. Each value keeps the span it came from.
#[derive(Debug, Clone)]
enum Parsed {
    Str(String),
    Bool(bool),
    Int(u64),
    Float(f64),
    Duration(Duration),
    Json(Value),
    StrList(Vec<String>),
    Func(FuncRef),
    Config(Box<ExecutorConfig>),
    Env(Map<String, Value>),
    Refs(Vec<(String, Span)>),
    DataFrom(Vec<(String, String, Span)>),
    ArgsFrom(Vec<(usize, String, Span)>),
    IntList(Vec<i64>),
    IterFrom(Iterdata),
    Rule(TriggerRule),
}

type Fields = BTreeMap<&'static str, (Parsed, Span)>;

/// Where a task's dependencies were written, for reference and cycle errors.
#[derive(Debug)]
struct TaskRefs {
    task_id: String,
    header: Span,
    refs: Vec<(String, Span, &'static str)>,
}

struct Walker<'s> {
    src: Source<'s>,
    diags: Vec<Diagnostic>,
    options: &'s LoadOptions,
}

impl Walker<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diags
            .push(self.src.diagnostic(Severity::Error, span, message.into()));
    }

    fn warn(&mut self, span: Span, message: impl Into<String>) {
        self.diags
            .push(self.src.diagnostic(Severity::Warning, span, message.into()));
    }

    fn note(&mut self, span: Span, message: impl Into<String>) {
        self.diags
            .push(self.src.diagnostic(Severity::Note, span, message.into()));
    }

    fn wrong_type(&mut self, key: &str, v: &Sv<'_>, expected: &str) {
        self.error(
            v.span(),
            format!(
                "`{key}` must be {expected}, found {}",
                describe(v.get_ref())
            ),
        );
    }

    fn string(&mut self, key: &str, v: &Sv<'_>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(key, v, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, v: &Sv<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, v, "a boolean (true or false)");
                None
            }
        }
    }

    /// An integer in `min..=max`.
    fn int(&mut self, key: &str, v: &Sv<'_>, min: u64, max: u64) -> Option<u64> {
        let expected = if min == 0 {
            "a non-negative integer"
        } else {
            "a positive integer"
        };
        match int_of(v.get_ref()) {
            Some(i) if i >= i128::from(min) && i <= i128::from(max) => u64::try_from(i).ok(),
            Some(i) if i >= i128::from(min) => {
                self.error(
                    v.span(),
                    format!("`{key}` is too large: {i} is more than {max}"),
                );
                None
            }
            _ => {
                self.wrong_type(key, v, expected);
                None
            }
        }
    }

    fn duration(&mut self, key: &str, v: &Sv<'_>) -> Option<Duration> {
        const EXPECTED: &str =
            "a duration such as \"90s\", \"5m\" or \"1h30m\", or a number of seconds";
        let parsed = match v.get_ref() {
            DeValue::String(s) => crate::duration::parse(s),
            DeValue::Integer(_) | DeValue::Float(_) => match float_of(v.get_ref()) {
                Some(f) => crate::duration::from_secs(f),
                None => Err("not a number".to_owned()),
            },
            _ => {
                self.wrong_type(key, v, EXPECTED);
                return None;
            }
        };
        match parsed {
            Ok(d) => Some(d),
            Err(why) => {
                self.error(
                    v.span(),
                    format!(
                        "`{key}` must be {EXPECTED}, found {} ({why})",
                        describe(v.get_ref())
                    ),
                );
                None
            }
        }
    }

    fn string_list(&mut self, key: &str, v: &Sv<'_>) -> Option<Vec<String>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type(key, v, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                other => {
                    self.error(
                        item.span(),
                        format!("`{key}` must hold only strings, found {}", describe(other)),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A TOML value as JSON, the form function arguments and XCom values take.
    fn json(&mut self, key: &str, v: &Sv<'_>) -> Option<Value> {
        Some(match v.get_ref() {
            DeValue::String(s) => Value::String(s.to_string()),
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Datetime(d) => Value::String(d.to_string()),
            DeValue::Integer(_) => match int_of(v.get_ref()).and_then(|i| i64::try_from(i).ok()) {
                Some(i) => Value::from(i),
                None => {
                    self.error(
                        v.span(),
                        format!("`{key}` holds an integer that does not fit in 64 bits"),
                    );
                    return None;
                }
            },
            DeValue::Float(_) => match float_of(v.get_ref()).and_then(serde_json::Number::from_f64)
            {
                Some(n) => Value::Number(n),
                None => {
                    self.error(
                        v.span(),
                        format!("`{key}` holds {}, which JSON (and so a function argument) cannot represent", describe(v.get_ref())),
                    );
                    return None;
                }
            },
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items.iter() {
                    out.push(self.json(key, item)?);
                }
                Value::Array(out)
            }
            DeValue::Table(t) => {
                let mut out = Map::new();
                for (k, item) in t.iter() {
                    out.insert(k.get_ref().to_string(), self.json(key, item)?);
                }
                Value::Object(out)
            }
        })
    }

    fn id(&mut self, what: &str, id: &str, span: Span) -> bool {
        if is_valid_id(id) {
            return true;
        }
        let why = if id.is_empty() {
            "it is empty".to_owned()
        } else if id.len() > MAX_ID_LEN {
            format!("it is {} characters long", id.len())
        } else {
            let bad: String = id
                .chars()
                .filter(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
                .take(5)
                .collect();
            format!("it contains {bad:?}")
        };
        let shown: String = id.chars().take(60).collect();
        self.error(
            span,
            format!(
                "invalid {what} {shown:?}: {why}; expected only letters, digits, `_`, `.` and `-`, at most {MAX_ID_LEN} characters"
            ),
        );
        false
    }

    fn func_ref(&mut self, key: &str, v: &Sv<'_>) -> Option<FuncRef> {
        let s = self.string(key, v)?;
        let ident = |p: &str| {
            let mut chars = p.chars();
            matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
        };
        match s.split_once(':') {
            Some((module, function)) if module.split('.').all(ident) && ident(function) => {
                Some(FuncRef {
                    module: module.to_owned(),
                    function: function.to_owned(),
                })
            }
            _ => {
                self.error(
                    v.span(),
                    format!(
                        "`{key}` must be a Python function reference \"module:function\" (for example \"my_functions:add\"), found {s:?}"
                    ),
                );
                None
            }
        }
    }

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

    fn dag(&mut self, doc: &DeTable<'_>) -> Option<Dag> {
        self.scan_credentials(doc);
        let mut top: BTreeMap<&'static str, &Sv<'_>> = BTreeMap::new();
        let mut top_keys: BTreeMap<&'static str, Span> = BTreeMap::new();
        for (k, v) in doc.iter() {
            let name = k.get_ref().as_ref();
            let canon = schema::canonical(name);
            match schema::DAG_KEYS.iter().find(|d| **d == canon) {
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
        if let (Some(s), Some(e), Some(v)) = (start_date, end_date, top.get("end_date"))
            && e < s
        {
            self.error(
                v.span(),
                format!("`end_date` ({e}) is before `start_date` ({s})"),
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
            && matches!(schedule, Some(Schedule::Cron { .. }))
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
        let lithops_config = top
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
            lithops_config,
            tasks,
            graph,
            dag_id_span: top.get("dag_id").map(|v| v.span()),
        })
    }

    fn unknown_dag_key(&mut self, name: &str, span: Span) {
        let mut msg = format!("unknown key `{name}` at the top of the DAG file");
        if schema::task_key(schema::canonical(name)).is_some() {
            msg.push_str(&format!(
                "; `{name}` is a task parameter: put it under [tasks.<task_id>] or [default_args]"
            ));
        } else if let Some(s) = schema::suggest(name, schema::DAG_KEYS.iter().copied()) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        } else {
            msg.push_str(&format!(
                "; expected one of {}",
                schema::DAG_KEYS.join(", ")
            ));
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
        let text = self.string("schedule", v)?;
        let trimmed = text.trim();
        match trimmed {
            "@once" => return Some(Schedule::Once),
            "@continuous" => return Some(Schedule::Continuous),
            _ => {}
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
                self.error(v.span(), format!("invalid schedule {text:?}: {e}"));
                None
            }
        }
    }

    /// `[lithops_config]`, with flat keys and Lithops' sections.
    fn lithops_config(&mut self, key: &str, v: &Sv<'_>) -> Option<ExecutorConfig> {
        let DeValue::Table(t) = v.get_ref() else {
            self.wrong_type(
                key,
                v,
                "a table of Lithops settings (backend, storage, [aws_lambda], ...)",
            );
            return None;
        };
        let mut cfg = ExecutorConfig::default();
        // Each setting once, whether written flat or in its section.
        let mut seen: BTreeMap<(&'static str, &'static str), Span> = BTreeMap::new();
        let mut once = |w: &mut Self, ck: &'static exec_config::ConfigKey, span: Span| {
            if let Some(first) = seen.get(&(ck.section, ck.key)) {
                let line = w.src.locate(first.clone()).line;
                w.error(
                    span,
                    format!(
                        "`{}.{}` is already set on line {line}; set it once",
                        ck.section, ck.key
                    ),
                );
                return false;
            }
            seen.insert((ck.section, ck.key), span);
            true
        };
        for (k, item) in t.iter() {
            let name = k.get_ref().as_ref();
            if exec_config::CONFIG_SECTIONS.contains(&name) {
                let DeValue::Table(section) = item.get_ref() else {
                    self.wrong_type(&format!("{key}.{name}"), item, "a table");
                    continue;
                };
                for (sk, sv) in section.iter() {
                    let sname = sk.get_ref().as_ref();
                    match exec_config::lookup_key(Some(name), sname) {
                        Some(ck) => {
                            if once(self, ck, sk.span()) {
                                self.config_value(
                                    &mut cfg,
                                    ck,
                                    &format!("{key}.{name}.{sname}"),
                                    sv,
                                );
                            }
                        }
                        None if exec_config::is_credential_key(sname) => {}
                        None => {
                            let known = exec_config::CONFIG_KEYS
                                .iter()
                                .filter(|c| c.section == name)
                                .map(|c| c.key);
                            let hint = match schema::suggest(sname, known.clone()) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!(
                                    "expected one of {}",
                                    known.collect::<Vec<_>>().join(", ")
                                ),
                            };
                            self.error(
                                sk.span(),
                                format!("unknown key `{sname}` in `{key}.{name}`; {hint}"),
                            );
                        }
                    }
                }
                continue;
            }
            match exec_config::lookup_key(None, name) {
                Some(ck) => {
                    if once(self, ck, k.span()) {
                        self.config_value(&mut cfg, ck, &format!("{key}.{name}"), item);
                    }
                }
                None if exec_config::is_credential_key(name) => {}
                None => {
                    let mut msg = format!("unknown key `{name}` in `{key}`");
                    if let Some(ck) = exec_config::CONFIG_KEYS.iter().find(|c| c.key == name) {
                        msg.push_str(&format!(
                            "; write it in its section: `{key}.{}.{name}`",
                            ck.section
                        ));
                    } else {
                        let known = exec_config::CONFIG_KEYS
                            .iter()
                            .filter(|c| c.flat)
                            .map(|c| c.key)
                            .chain(exec_config::CONFIG_SECTIONS.iter().copied());
                        match schema::suggest(name, known.clone()) {
                            Some(s) => msg.push_str(&format!("; did you mean `{s}`?")),
                            None => msg.push_str(&format!(
                                "; expected one of {}",
                                known.collect::<Vec<_>>().join(", ")
                            )),
                        }
                    }
                    self.error(k.span(), msg);
                }
            }
        }
        Some(cfg)
    }

    fn config_value(
        &mut self,
        cfg: &mut ExecutorConfig,
        ck: &exec_config::ConfigKey,
        path: &str,
        v: &Sv<'_>,
    ) {
        let value = match v.get_ref() {
            DeValue::String(s) => ConfigValue::Str(s.to_string()),
            DeValue::Boolean(b) => ConfigValue::Bool(*b),
            DeValue::Integer(_) => match int_of(v.get_ref()).and_then(|i| i64::try_from(i).ok()) {
                Some(i) => ConfigValue::Int(i),
                None => {
                    self.wrong_type(path, v, ck.kind.describe());
                    return;
                }
            },
            _ => {
                self.wrong_type(path, v, ck.kind.describe());
                return;
            }
        };
        if let Err(e) = cfg.set(ck, value) {
            self.error(v.span(), format!("`{path}`: {e}"));
        }
    }

    fn default_args(&mut self, v: &Sv<'_>) -> Fields {
        let mut fields = Fields::new();
        let DeValue::Table(t) = v.get_ref() else {
            self.wrong_type("default_args", v, "a table of task parameters");
            return fields;
        };
        for (k, item) in t.iter() {
            let name = k.get_ref().as_ref();
            let canon = schema::canonical(name);
            match schema::task_key(canon) {
                Some((key, _)) if schema::TASK_ONLY_KEYS.contains(&key) => {
                    self.error(k.span(), format!("`{name}` cannot be a default: it only makes sense on one task, under [tasks.<task_id>]"));
                }
                Some((key, _)) => {
                    if fields.contains_key(key) {
                        self.error(
                            k.span(),
                            format!("`{name}` repeats `{key}` in [default_args]; keep one of them"),
                        );
                        continue;
                    }
                    if let Some(p) = self.task_value(key, item) {
                        fields.insert(key, (p, item.span()));
                    }
                }
                None => self.unknown_task_key(name, k.span(), "[default_args]", None),
            }
        }
        fields
    }

    fn unknown_task_key(&mut self, name: &str, span: Span, place: &str, ty: Option<TaskType>) {
        let mut msg = format!("unknown key `{name}` in {place}");
        if schema::DAG_KEYS.contains(&name) && name != "tasks" {
            msg.push_str(&format!(
                "; `{name}` is a DAG-level key: put it at the top of the file"
            ));
        } else {
            let candidates = schema::TASK_KEYS
                .iter()
                .filter(|(_, scope)| ty.is_none_or(|t| scope.allows(t)))
                .map(|(k, _)| *k)
                .chain(schema::ALIASES.iter().map(|(a, _)| *a));
            if let Some(s) = schema::suggest(name, candidates) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            } else if let Some(t) = ty {
                msg.push_str(&format!(
                    "; see the parameters of {} tasks in docs/dag-format.md",
                    t.name()
                ));
            }
        }
        self.error(span, msg);
    }

    /// Parses one task parameter's value (from a task table or `[default_args]`).
    fn task_value(&mut self, key: &'static str, v: &Sv<'_>) -> Option<Parsed> {
        // A sanity bound (1 TiB); each backend checks its own limits (Lambda: 128-10,240 MB).
        const MEMORY_MAX: u64 = 1024 * 1024;
        Some(match key {
            "upstream" => Parsed::Refs(self.task_refs(key, v)?),
            "trigger_rule" => {
                let name = self.string(key, v)?;
                match schema::TRIGGER_RULES.iter().find(|(n, _)| *n == name) {
                    Some((_, rule)) => Parsed::Rule(*rule),
                    None => {
                        let names = schema::TRIGGER_RULES.iter().map(|(n, _)| *n);
                        let hint = schema::suggest(&name, names.clone())
                            .map_or(String::new(), |s| format!("did you mean {s:?}? "));
                        self.error(
                            v.span(),
                            format!(
                                "unknown trigger_rule {name:?}; {hint}expected one of {}",
                                names.collect::<Vec<_>>().join(", ")
                            ),
                        );
                        return None;
                    }
                }
            }
            "retries" => Parsed::Int(self.int(key, v, 0, u64::from(u32::MAX))?),
            "retry_delay" | "max_retry_delay" => Parsed::Duration(self.duration(key, v)?),
            "execution_timeout" | "timeout" => {
                let d = self.duration(key, v)?;
                if d.is_zero() {
                    self.error(v.span(), format!("`{key}` must be longer than 0 seconds"));
                    return None;
                }
                Parsed::Duration(d)
            }
            "retry_exponential_backoff" => match v.get_ref() {
                DeValue::Boolean(b) => Parsed::Float(if *b { 2.0 } else { 0.0 }),
                other => match float_of(other) {
                    Some(f) if f.is_finite() && f >= 0.0 => Parsed::Float(f),
                    _ => {
                        self.wrong_type(
                            key,
                            v,
                            "a non-negative multiplier such as 2.0 (0 = off), or a boolean",
                        );
                        return None;
                    }
                },
            },
            "show_return_value_in_logs" | "append_env" | "ignore_downstream_trigger_rules" => {
                Parsed::Bool(self.boolean(key, v)?)
            }
            "python_callable" => Parsed::Func(self.func_ref(key, v)?),
            "bash_command" => {
                let cmd = self.string(key, v)?;
                if cmd.trim().is_empty() {
                    self.error(
                        v.span(),
                        "`bash_command` is empty; expected a shell command",
                    );
                    return None;
                }
                Parsed::Str(cmd)
            }
            "cwd" => Parsed::Str(self.string(key, v)?),
            "op_args" => {
                if !matches!(v.get_ref(), DeValue::Array(_)) {
                    self.wrong_type(key, v, "an array of positional arguments");
                    return None;
                }
                Parsed::Json(self.json(key, v)?)
            }
            "op_kwargs" | "templates_dict" => {
                if !matches!(v.get_ref(), DeValue::Table(_)) {
                    self.wrong_type(key, v, "a table of keyword arguments");
                    return None;
                }
                Parsed::Json(self.json(key, v)?)
            }
            "env" => {
                let DeValue::Table(t) = v.get_ref() else {
                    self.wrong_type(key, v, "a table of environment variables (strings)");
                    return None;
                };
                for (k, item) in t.iter() {
                    if !matches!(item.get_ref(), DeValue::String(_)) {
                        self.error(
                            item.span(),
                            format!(
                                "`env.{}` must be a string, found {}",
                                k.get_ref(),
                                describe(item.get_ref())
                            ),
                        );
                    }
                }
                Parsed::Json(self.json(key, v)?)
            }
            "skip_on_exit_code" => {
                let items: Vec<&Sv<'_>> = match v.get_ref() {
                    DeValue::Array(items) => items.iter().collect(),
                    _ => vec![v],
                };
                let mut codes = Vec::new();
                for item in items {
                    match int_of(item.get_ref()) {
                        Some(c) if (0..=255).contains(&c) => codes.push(c as i64),
                        _ => {
                            self.wrong_type(key, item, "an exit code (0-255) or an array of them");
                            return None;
                        }
                    }
                }
                Parsed::IntList(codes)
            }
            "op_args_from_task" => {
                let DeValue::Table(t) = v.get_ref() else {
                    self.wrong_type(key, v, "a table mapping argument positions to task ids (op_args_from_task = { 0 = \"task\" })");
                    return None;
                };
                let mut out = Vec::new();
                for (k, item) in t.iter() {
                    let Ok(pos) = k.get_ref().parse::<usize>() else {
                        self.error(
                            k.span(),
                            format!(
                                "`{key}` keys are argument positions (0, 1, ...), found {:?}",
                                k.get_ref()
                            ),
                        );
                        continue;
                    };
                    if let Some(task) = self.string(&format!("{key}.{pos}"), item) {
                        out.push((pos, task, item.span()));
                    }
                }
                Parsed::ArgsFrom(out)
            }
            "depends_on_past"
            | "async_invoke"
            | "get_result"
            | "clean_data"
            | "remote_invocation"
            | "reducer_one_per_object"
            | "reducer_wait_local" => Parsed::Bool(self.boolean(key, v)?),
            "owner" => Parsed::Str(self.string(key, v)?),
            "lithops_config" => Parsed::Config(Box::new(self.lithops_config(key, v)?)),
            "extra_env" => Parsed::Env(self.extra_env(v)?),
            "runtime_memory" | "map_runtime_memory" | "reduce_runtime_memory" => {
                Parsed::Int(self.int(key, v, 1, MEMORY_MAX)?)
            }
            // An object is split into at most MAX_PARTS parts, so a larger chunk_n can
            // never run: said here, at validation, rather than when the task runs.
            "chunk_n" => Parsed::Int(self.int(key, v, 1, lithoflow_executor_config::MAX_PARTS)?),
            "chunk_size" | "invoke_pool_threads" => {
                Parsed::Int(self.int(key, v, 1, i64::MAX.unsigned_abs())?)
            }
            "include_modules" | "exclude_modules" => {
                let list = self.string_list(key, v)?;
                if key == "include_modules" {
                    self.check_include_paths(v);
                }
                Parsed::StrList(list)
            }
            "func" | "map_function" | "reduce_function" => Parsed::Func(self.func_ref(key, v)?),
            "data" => {
                let value = self.json(key, v)?;
                self.check_reserved_id(key, &value, v.span());
                Parsed::Json(value)
            }
            "map_iterdata" => {
                let DeValue::Array(items) = v.get_ref() else {
                    self.wrong_type(key, v, "an array (one call per element)");
                    return None;
                };
                for item in items.iter() {
                    if let DeValue::Table(_) = item.get_ref()
                        && let Some(Value::Object(m)) = self.json(key, item)
                        && m.contains_key("id")
                    {
                        self.error(
                            item.span(),
                            "`id` is reserved: it receives the call's index; rename this argument",
                        );
                    }
                }
                let value = self.json(key, v)?;
                if items.is_empty() {
                    self.warn(
                        v.span(),
                        "`map_iterdata` is empty: the map makes no calls and returns []",
                    );
                }
                Parsed::Json(value)
            }
            "extra_params" => match v.get_ref() {
                DeValue::Table(_) | DeValue::Array(_) => {
                    let value = self.json(key, v)?;
                    self.check_reserved_id(key, &value, v.span());
                    Parsed::Json(value)
                }
                _ => {
                    self.wrong_type(
                        key,
                        v,
                        "a table (keyword arguments) or an array (positional arguments)",
                    );
                    return None;
                }
            },
            "data_from_task" | "op_kwargs_from_task" => {
                let DeValue::Table(t) = v.get_ref() else {
                    self.wrong_type(key, v, &format!("a table mapping argument names to task ids ({key} = {{ y = \"add_task_1\" }})"));
                    return None;
                };
                let mut out = Vec::new();
                for (k, item) in t.iter() {
                    let kw = k.get_ref().to_string();
                    if kw == "id" {
                        self.error(
                            k.span(),
                            "`id` is reserved: it receives the call's index; rename this argument",
                        );
                    }
                    if let Some(task) = self.string(&format!("{key}.{kw}"), item) {
                        out.push((kw, task, item.span()));
                    }
                }
                Parsed::DataFrom(out)
            }
            "iterdata_from_task" => match v.get_ref() {
                DeValue::String(s) => Parsed::IterFrom(Iterdata::FromTask(s.to_string())),
                DeValue::Table(t) if t.len() == 1 => {
                    let (k, item) = t.iter().next()?;
                    if k.get_ref() == "id" {
                        self.error(
                            k.span(),
                            "`id` is reserved: it receives the call's index; rename this argument",
                        );
                    }
                    let task = self.string(&format!("{key}.{}", k.get_ref()), item)?;
                    Parsed::IterFrom(Iterdata::FromTaskKeyword {
                        keyword: k.get_ref().to_string(),
                        task,
                    })
                }
                DeValue::Table(t) => {
                    self.error(
                        v.span(),
                        format!("`{key}` as a table must name exactly one argument and task ({{ x = \"task\" }}), found {} entries", t.len()),
                    );
                    return None;
                }
                _ => {
                    self.wrong_type(key, v, "a task id, or a table { argument = \"task_id\" }");
                    return None;
                }
            },
            _ => return None,
        })
    }

    /// `include_modules` paths make folders importable: one that is absolute or climbs
    /// with `..` may load code from outside the DAGs folder, so it must land inside the
    /// DAGs folder (the DAG file's own folder when none is known) or inside one of the
    /// folders `[dags] include_paths` of `lithoflow.toml` lists. Decided on the path's
    /// text, without touching the file system.
    fn check_include_paths(&mut self, v: &Sv<'_>) {
        let DeValue::Array(items) = v.get_ref() else {
            return;
        };
        for item in items.iter() {
            let DeValue::String(m) = item.get_ref() else {
                continue;
            };
            let m: &str = m.as_ref();
            if m.starts_with('~') {
                self.error(
                    item.span(),
                    format!("`include_modules` path {m:?} starts with `~`, which is not expanded; write the full path"),
                );
                continue;
            }
            let path = Path::new(m);
            let climbs = path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir));
            if !path.is_absolute() && !climbs {
                continue;
            }
            let dag_dir = self.src.path().parent().unwrap_or(Path::new("."));
            let resolved = lexical_absolute(&dag_dir.join(path));
            let dags_folder =
                lexical_absolute(self.options.dags_folder.as_deref().unwrap_or(dag_dir));
            let allowed = std::iter::once(&dags_folder)
                .chain(&self.options.include_paths)
                .any(|root| resolved.starts_with(root));
            if allowed {
                continue;
            }
            let listed = if self.options.include_paths.is_empty() {
                "none are listed".to_owned()
            } else {
                let names: Vec<String> = self
                    .options
                    .include_paths
                    .iter()
                    .map(|p| format!("{:?}", p.display().to_string()))
                    .collect();
                format!("listed: {}", names.join(", "))
            };
            self.error(
                item.span(),
                format!(
                    "`include_modules` path {m:?} leaves the DAGs folder; only paths inside it (such as \"lib/\" or \"helpers.py\"), module names, or folders under `[dags] include_paths` in $LITHOFLOW_HOME/lithoflow.toml may be included ({listed})"
                ),
            );
        }
    }

    fn check_reserved_id(&mut self, key: &str, value: &Value, span: Span) {
        if let Value::Object(m) = value
            && m.contains_key("id")
        {
            self.error(span, format!("`{key}` sets `id`, which is reserved: it receives the call's index; rename this argument"));
        }
    }

    fn extra_env(&mut self, v: &Sv<'_>) -> Option<Map<String, Value>> {
        let DeValue::Table(t) = v.get_ref() else {
            self.wrong_type(
                "extra_env",
                v,
                "a table of environment variables (extra_env = { NAME = \"value\" })",
            );
            return None;
        };
        let mut out = Map::new();
        for (k, item) in t.iter() {
            let name = k.get_ref().to_string();
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                self.error(
                    k.span(),
                    format!("{name:?} is not a valid environment variable name"),
                );
                continue;
            }
            match item.get_ref() {
                DeValue::String(s) => {
                    out.insert(name, Value::String(s.to_string()));
                }
                DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) => {
                    // Environment values are strings; numbers and booleans are written as text.
                    let text = match item.get_ref() {
                        DeValue::Boolean(b) => b.to_string(),
                        other => describe(other)
                            .split_once(' ')
                            .map_or(String::new(), |(_, n)| n.to_owned()),
                    };
                    out.insert(name, Value::String(text));
                }
                other => self.error(
                    item.span(),
                    format!(
                        "`extra_env.{name}` must be a string, found {}",
                        describe(other)
                    ),
                ),
            }
        }
        Some(out)
    }

    fn task_refs(&mut self, key: &str, v: &Sv<'_>) -> Option<Vec<(String, Span)>> {
        match v.get_ref() {
            DeValue::String(s) => Some(vec![(s.to_string(), v.span())]),
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push((s.to_string(), item.span())),
                        other => self.error(
                            item.span(),
                            format!(
                                "`{key}` must hold task ids (strings), found {}",
                                describe(other)
                            ),
                        ),
                    }
                }
                Some(out)
            }
            _ => {
                self.wrong_type(key, v, "an array of task ids");
                None
            }
        }
    }

    fn task(
        &mut self,
        k: &Spanned<std::borrow::Cow<'_, str>>,
        v: &Sv<'_>,
        defaults: &Fields,
        dag_config: &ExecutorConfig,
    ) -> (Option<Task>, TaskRefs) {
        let task_id = k.get_ref().to_string();
        let header = k.span();
        let no_refs = TaskRefs {
            task_id: task_id.clone(),
            header: header.clone(),
            refs: Vec::new(),
        };
        let id_ok = self.id("task id", &task_id, header.clone());
        let DeValue::Table(t) = v.get_ref() else {
            self.error(
                v.span(),
                format!(
                    "task `{task_id}` must be a table ([tasks.{task_id}] with a `type`), found {}",
                    describe(v.get_ref())
                ),
            );
            return (None, no_refs);
        };
        let place = format!("task `{task_id}`");
        let ty = match t.iter().find(|(key, _)| key.get_ref() == "type") {
            Some((_, tv)) => match self.string("type", tv) {
                None => None,
                Some(name) => match TaskType::from_name(&name) {
                    Some(ty) => Some(ty),
                    None => {
                        let names = schema::TASK_TYPES.iter().map(|(n, _)| *n);
                        let hint = schema::suggest(&name, names)
                            .map_or(String::new(), |s| format!("did you mean {s:?}? "));
                        self.error(
                            tv.span(),
                            format!(
                                "unknown task type {name:?} in {place}; {hint}expected {}",
                                schema::TYPES_EXPECTED
                            ),
                        );
                        None
                    }
                },
            },
            None => {
                self.error(
                    header.clone(),
                    format!(
                        "{place} has no `type`; expected type = {}",
                        schema::TYPES_EXPECTED
                    ),
                );
                None
            }
        };

        let mut fields = Fields::new();
        let mut key_spans: BTreeMap<&'static str, Span> = BTreeMap::new();
        for (key, item) in t.iter() {
            let name = key.get_ref().as_ref();
            if name == "type" {
                continue;
            }
            let canon = schema::canonical(name);
            match schema::task_key(canon) {
                Some((canon, scope)) => {
                    if let Some(first) = key_spans.get(canon) {
                        let line = self.src.locate(first.clone()).line;
                        self.error(
                            key.span(),
                            format!(
                                "`{name}` repeats `{canon}` (set on line {line}); keep one of them"
                            ),
                        );
                        continue;
                    }
                    key_spans.insert(canon, key.span());
                    if let Some(ty) = ty
                        && !scope.allows(ty)
                    {
                        self.error(
                            key.span(),
                            format!(
                                "`{name}` is not a parameter of {} tasks (it belongs to {})",
                                ty.name(),
                                scope.owners()
                            ),
                        );
                        continue;
                    }
                    if let Some(p) = self.task_value(canon, item) {
                        fields.insert(canon, (p, item.span()));
                    }
                }
                None => self.unknown_task_key(name, key.span(), &place, ty),
            }
        }
        let mut refs = TaskRefs {
            task_id: task_id.clone(),
            header: header.clone(),
            refs: Vec::new(),
        };
        if let Some((Parsed::Refs(list), _)) = fields.get("upstream") {
            refs.refs
                .extend(list.iter().map(|(t, s)| (t.clone(), s.clone(), "upstream")));
        }
        if let Some((Parsed::DataFrom(list), _)) = fields.get("data_from_task") {
            refs.refs.extend(
                list.iter()
                    .map(|(_, t, s)| (t.clone(), s.clone(), "data_from_task")),
            );
        }
        if let Some((Parsed::DataFrom(list), _)) = fields.get("op_kwargs_from_task") {
            refs.refs.extend(
                list.iter()
                    .map(|(_, t, s)| (t.clone(), s.clone(), "op_kwargs_from_task")),
            );
        }
        if let Some((Parsed::ArgsFrom(list), _)) = fields.get("op_args_from_task") {
            refs.refs.extend(
                list.iter()
                    .map(|(_, t, s)| (t.clone(), s.clone(), "op_args_from_task")),
            );
        }
        if let Some((Parsed::IterFrom(it), span)) = fields.get("iterdata_from_task")
            && let Some(t) = it.from_task()
        {
            refs.refs
                .push((t.to_owned(), span.clone(), "iterdata_from_task"));
        }
        let Some(ty) = ty else { return (None, refs) };
        for (key, value) in defaults {
            let applies = schema::task_key(key).is_some_and(|(_, scope)| scope.allows(ty));
            // A task's own value wins, also over a default for the other key of an
            // either-or pair (its own iterdata_from_task beats a default map_iterdata).
            let overridden = key_spans.contains_key(key)
                || schema::EXCLUSIVE_PAIRS.iter().any(|(a, b)| {
                    (a == key && key_spans.contains_key(b))
                        || (b == key && key_spans.contains_key(a))
                });
            if !applies {
                continue;
            }
            match (fields.get_mut(key), value) {
                // Executor settings merge key by key: the task's win, the defaults fill in.
                (Some((Parsed::Config(own), _)), (Parsed::Config(default), _)) => {
                    let mut merged = default.clone();
                    merged.merge(own);
                    *own = merged;
                }
                _ if overridden => {}
                _ => {
                    fields.insert(key, value.clone());
                }
            }
        }
        let task = self.assemble(&task_id, ty, &fields, &key_spans, header, dag_config);
        (task.filter(|_| id_ok), refs)
    }

    /// Builds a task from its parsed fields, checking what each type requires.
    fn assemble(
        &mut self,
        task_id: &str,
        ty: TaskType,
        f: &Fields,
        key_spans: &BTreeMap<&'static str, Span>,
        header: Span,
        dag_config: &ExecutorConfig,
    ) -> Option<Task> {
        let str_of = |k: &str| match f.get(k) {
            Some((Parsed::Str(s), _)) => Some(s.clone()),
            _ => None,
        };
        let bool_of = |k: &str| match f.get(k) {
            Some((Parsed::Bool(b), _)) => Some(*b),
            _ => None,
        };
        let int_of = |k: &str| match f.get(k) {
            Some((Parsed::Int(i), _)) => Some(*i),
            _ => None,
        };
        let dur_of = |k: &str| match f.get(k) {
            Some((Parsed::Duration(d), _)) => Some(*d),
            _ => None,
        };
        let func_of = |k: &str| match f.get(k) {
            Some((Parsed::Func(r), _)) => Some(r.clone()),
            _ => None,
        };
        let list_of = |k: &str| match f.get(k) {
            Some((Parsed::StrList(l), _)) => l.clone(),
            _ => Vec::new(),
        };
        // A key that was written but failed to parse has already been reported; only a
        // key that was never written is "missing".
        let written = |k: &str| key_spans.contains_key(k) || f.contains_key(k);
        let mut missing = |w: &mut Self, k: &str, what: &str| {
            if !written(k) {
                w.error(
                    header.clone(),
                    format!("task `{task_id}` ({}) is missing `{k}`: {what}", ty.name()),
                );
            }
        };

        let mut lithops_config = ExecutorConfig::default();
        if let Some((Parsed::Config(c), _)) = f.get("lithops_config") {
            lithops_config = (**c).clone();
        }
        let common = CommonParams {
            async_invoke: bool_of("async_invoke").unwrap_or(false),
            get_result: bool_of("get_result").unwrap_or(true),
            clean_data: bool_of("clean_data").unwrap_or(false),
            extra_env: match f.get("extra_env") {
                Some((Parsed::Env(e), _)) => e.clone(),
                _ => Map::new(),
            },
            runtime_memory: int_of("runtime_memory"),
            timeout: dur_of("timeout"),
            include_modules: list_of("include_modules"),
            exclude_modules: list_of("exclude_modules"),
            lithops_config,
        };

        let map_spec = |w: &mut Self,
                        missing: &mut dyn FnMut(&mut Self, &str, &str)|
         -> Option<MapSpec> {
            let map_function = func_of("map_function");
            if map_function.is_none() {
                missing(
                    w,
                    "map_function",
                    "the Python callable applied to each element (\"module:function\")",
                );
            }
            let literal = match f.get("map_iterdata") {
                Some((Parsed::Json(Value::Array(items)), _)) => Some(items.clone()),
                _ => None,
            };
            let from_task = match f.get("iterdata_from_task") {
                Some((Parsed::IterFrom(it), _)) => Some(it.clone()),
                _ => None,
            };
            let iterdata = match (literal, from_task) {
                (Some(_), Some(_)) => {
                    let span = key_spans
                        .get("iterdata_from_task")
                        .cloned()
                        .unwrap_or_else(|| header.clone());
                    w.error(span, format!("task `{task_id}` sets both `map_iterdata` and `iterdata_from_task`; set only one"));
                    None
                }
                (Some(items), None) => Some(Iterdata::Literal(items)),
                (None, Some(it)) => Some(it),
                (None, None) => {
                    if !written("map_iterdata") && !written("iterdata_from_task") {
                        w.error(
                            header.clone(),
                            format!(
                                "task `{task_id}` ({}) is missing its elements: set `map_iterdata` (an array) or `iterdata_from_task` (a task id)",
                                ty.name()
                            ),
                        );
                    }
                    None
                }
            };
            let extra_params = match f.get("extra_params") {
                Some((Parsed::Json(Value::Object(m)), _)) => Some(ExtraParams::Keyword(m.clone())),
                Some((Parsed::Json(Value::Array(a)), _)) => {
                    Some(ExtraParams::Positional(a.clone()))
                }
                _ => None,
            };
            let (chunk_size, chunk_n) = (int_of("chunk_size"), int_of("chunk_n"));
            if chunk_size.is_some() && chunk_n.is_some() {
                let span = match (key_spans.get("chunk_size"), key_spans.get("chunk_n")) {
                    (Some(a), Some(b)) => a.clone().max_by_start(b.clone()),
                    (Some(s), None) | (None, Some(s)) => s.clone(),
                    (None, None) => header.clone(),
                };
                w.error(
                    span,
                    format!("task `{task_id}` sets both `chunk_size` and `chunk_n`; set at most one (bytes per part, or parts per object)"),
                );
            }
            let remote_invocation = bool_of("remote_invocation").unwrap_or(false);
            if remote_invocation {
                let mut cfg = dag_config.clone();
                if let Some((Parsed::Config(c), _)) = f.get("lithops_config") {
                    cfg.merge(c);
                }
                if cfg.effective_backend() == lithoflow_executor_config::Backend::Localhost {
                    let span = key_spans
                        .get("remote_invocation")
                        .cloned()
                        .or_else(|| f.get("remote_invocation").map(|(_, s)| s.clone()));
                    w.note(
                        span.unwrap_or_else(|| header.clone()),
                        format!(
                            "`remote_invocation` in task `{task_id}` has no effect on the localhost backend; it fans calls out from inside the cloud on aws_lambda"
                        ),
                    );
                }
            }
            Some(MapSpec {
                map_function: map_function?,
                iterdata: iterdata?,
                extra_params,
                chunk_size,
                chunk_n,
                remote_invocation,
                invoke_pool_threads: int_of("invoke_pool_threads"),
            })
        };

        let kind = match ty {
            TaskType::CallAsync => {
                let func = func_of("func");
                if func.is_none() {
                    missing(
                        self,
                        "func",
                        "the Python callable to invoke (\"module:function\")",
                    );
                }
                let data = match f.get("data") {
                    Some((Parsed::Json(v), _)) => v.clone(),
                    _ => Value::Object(Map::new()),
                };
                let data_from_task = match f.get("data_from_task") {
                    Some((Parsed::DataFrom(list), _)) => list
                        .iter()
                        .map(|(kw, t, _)| (kw.clone(), t.clone()))
                        .collect::<Vec<_>>(),
                    _ => Vec::new(),
                };
                if !data_from_task.is_empty() {
                    match &data {
                        Value::Object(m) => {
                            for (kw, _) in &data_from_task {
                                if m.contains_key(kw) {
                                    let span = key_spans
                                        .get("data_from_task")
                                        .cloned()
                                        .unwrap_or_else(|| header.clone());
                                    self.error(
                                        span,
                                        format!("task `{task_id}` sets argument `{kw}` both in `data` and in `data_from_task`; set it in one place"),
                                    );
                                }
                            }
                        }
                        _ => {
                            let span = key_spans
                                .get("data")
                                .cloned()
                                .unwrap_or_else(|| header.clone());
                            self.error(
                                span,
                                format!("task `{task_id}` uses `data_from_task`, which adds keyword arguments, so `data` must be a table of keyword arguments"),
                            );
                        }
                    }
                }
                TaskKind::CallAsync(CallAsync {
                    func: func?,
                    data,
                    data_from_task,
                })
            }
            TaskType::Map => TaskKind::Map(map_spec(self, &mut missing)?),
            TaskType::MapReduce => {
                let reduce_function = func_of("reduce_function");
                if reduce_function.is_none() {
                    missing(
                        self,
                        "reduce_function",
                        "the Python callable that gets the list of map results (\"module:function\")",
                    );
                }
                let map = map_spec(self, &mut missing);
                TaskKind::MapReduce(MapReduceSpec {
                    map: map?,
                    reduce_function: reduce_function?,
                    map_runtime_memory: int_of("map_runtime_memory"),
                    reduce_runtime_memory: int_of("reduce_runtime_memory"),
                    reducer_one_per_object: bool_of("reducer_one_per_object").unwrap_or(false),
                    reducer_wait_local: bool_of("reducer_wait_local").unwrap_or(false),
                })
            }
            TaskType::Python | TaskType::Branch | TaskType::ShortCircuit => {
                let python = self.python_spec(task_id, f, key_spans, &header, &mut missing)?;
                match ty {
                    TaskType::Branch => TaskKind::Branch(python),
                    TaskType::ShortCircuit => TaskKind::ShortCircuit {
                        python,
                        ignore_downstream_trigger_rules: bool_of("ignore_downstream_trigger_rules")
                            .unwrap_or(true),
                    },
                    _ => TaskKind::Python(python),
                }
            }
            TaskType::Bash => {
                let bash_command = str_of("bash_command");
                if bash_command.is_none() {
                    missing(self, "bash_command", "the shell command to run");
                }
                TaskKind::Bash(BashSpec {
                    bash_command: bash_command?,
                    env: match f.get("env") {
                        Some((Parsed::Json(Value::Object(m)), _)) => Some(m.clone()),
                        _ => None,
                    },
                    append_env: bool_of("append_env").unwrap_or(false),
                    cwd: str_of("cwd"),
                    skip_on_exit_code: match f.get("skip_on_exit_code") {
                        Some((Parsed::IntList(codes), _)) => codes.clone(),
                        _ => vec![99],
                    },
                })
            }
            TaskType::Empty => TaskKind::Empty,
        };
        let upstream = match f.get("upstream") {
            Some((Parsed::Refs(list), _)) => list.iter().map(|(t, _)| t.clone()).collect(),
            _ => Vec::new(),
        };
        Some(Task {
            task_id: task_id.to_owned(),
            kind,
            upstream,
            trigger_rule: match f.get("trigger_rule") {
                Some((Parsed::Rule(r), _)) => *r,
                _ => TriggerRule::AllSuccess,
            },
            retries: int_of("retries").map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            retry_delay: dur_of("retry_delay").unwrap_or(Duration::from_secs(300)),
            retry_exponential_backoff: match f.get("retry_exponential_backoff") {
                Some((Parsed::Float(x), _)) => *x,
                _ => 0.0,
            },
            max_retry_delay: dur_of("max_retry_delay"),
            execution_timeout: dur_of("execution_timeout"),
            depends_on_past: bool_of("depends_on_past").unwrap_or(false),
            owner: str_of("owner").unwrap_or_else(|| "airflow".to_owned()),
            common,
        })
    }

    /// The callable of a python, branch or short_circuit task.
    fn python_spec(
        &mut self,
        task_id: &str,
        f: &Fields,
        key_spans: &BTreeMap<&'static str, Span>,
        header: &Span,
        missing: &mut dyn FnMut(&mut Self, &str, &str),
    ) -> Option<PythonSpec> {
        let span_of = |k: &str| key_spans.get(k).cloned().unwrap_or_else(|| header.clone());
        let python_callable = match f.get("python_callable") {
            Some((Parsed::Func(r), _)) => Some(r.clone()),
            _ => None,
        };
        if python_callable.is_none() {
            missing(
                self,
                "python_callable",
                "the Python callable to run (\"module:function\")",
            );
        }
        let op_args = match f.get("op_args") {
            Some((Parsed::Json(Value::Array(a)), _)) => a.clone(),
            _ => Vec::new(),
        };
        let op_kwargs = match f.get("op_kwargs") {
            Some((Parsed::Json(Value::Object(m)), _)) => m.clone(),
            _ => Map::new(),
        };
        let mut op_args_from_task: Vec<(usize, String)> = match f.get("op_args_from_task") {
            Some((Parsed::ArgsFrom(list), _)) => {
                list.iter().map(|(p, t, _)| (*p, t.clone())).collect()
            }
            _ => Vec::new(),
        };
        op_args_from_task.sort_by_key(|(p, _)| *p);
        let op_kwargs_from_task: Vec<(String, String)> = match f.get("op_kwargs_from_task") {
            Some((Parsed::DataFrom(list), _)) => list
                .iter()
                .map(|(k, t, _)| (k.clone(), t.clone()))
                .collect(),
            _ => Vec::new(),
        };
        // The positions must leave no hole: together with op_args they are 0..n.
        let total = op_args.len() + op_args_from_task.len();
        for (pos, _) in &op_args_from_task {
            if *pos >= total {
                self.error(
                    span_of("op_args_from_task"),
                    format!("task `{task_id}` takes positional argument {pos} from a task, but it has only {total} positional arguments (op_args and op_args_from_task together); positions start at 0"),
                );
            }
        }
        for (kw, _) in &op_kwargs_from_task {
            if op_kwargs.contains_key(kw) {
                self.error(
                    span_of("op_kwargs_from_task"),
                    format!("task `{task_id}` sets argument `{kw}` both in `op_kwargs` and in `op_kwargs_from_task`; set it in one place"),
                );
            }
        }
        Some(PythonSpec {
            python_callable: python_callable?,
            op_args,
            op_kwargs,
            op_args_from_task,
            op_kwargs_from_task,
            templates_dict: match f.get("templates_dict") {
                Some((Parsed::Json(Value::Object(m)), _)) => Some(m.clone()),
                _ => None,
            },
            show_return_value_in_logs: match f.get("show_return_value_in_logs") {
                Some((Parsed::Bool(b), _)) => *b,
                _ => true,
            },
        })
    }

    /// Checks references and builds the graph; reports missing tasks, self-dependencies
    /// and cycles with their full path.
    fn graph(&mut self, refs: &[TaskRefs]) -> TaskGraph {
        let ids: Vec<&str> = refs.iter().map(|r| r.task_id.as_str()).collect();
        let mut edges = Vec::new();
        for r in refs {
            for (dep, span, via) in &r.refs {
                if *dep == r.task_id {
                    self.error(
                        span.clone(),
                        format!("task `{dep}` depends on itself through `{via}`"),
                    );
                } else if !ids.contains(&dep.as_str()) {
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

trait MaxByStart {
    fn max_by_start(self, other: Self) -> Self;
}

impl MaxByStart for Span {
    fn max_by_start(self, other: Self) -> Self {
        if other.start > self.start {
            other
        } else {
            self
        }
    }
}

/// An AWS access key id: `AKIA` or `ASIA` and 16 upper-case letters or digits.
fn looks_like_access_key_id(s: &str) -> bool {
    s.len() == 20
        && (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `path` made absolute against the current folder and with `.` and `..` folded away,
/// on its text alone (symbolic links are not followed).
pub fn lexical_absolute(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
