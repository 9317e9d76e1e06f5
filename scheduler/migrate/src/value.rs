//! The values the static evaluator computes from a DAG file: Python literals, dates and
//! durations, and references to the things a DAG file builds (DAGs, tasks, task groups,
//! functions), plus how they print (`str()`/`repr()`) and how they are written in TOML.

use std::fmt::Write as _;
use std::ops::Range;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// A byte range in the DAG file.
pub(crate) type Span = Range<usize>;

/// Why a value could not be computed statically, and where.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvalError {
    pub(crate) span: Span,
    pub(crate) message: String,
}

impl EvalError {
    pub(crate) fn new(span: Span, message: impl Into<String>) -> Self {
        EvalError {
            span,
            message: message.into(),
        }
    }
}

/// The result of evaluating one expression.
pub(crate) type Eval = Result<Value, EvalError>;

/// The time zone a Python datetime carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TzInfo {
    /// A naive datetime: Airflow reads it in `[core] default_timezone` (UTC by default).
    Naive,
    /// UTC.
    Utc,
    /// An IANA zone, from `pendulum.datetime(..., tz="Europe/Amsterdam")` and the like.
    Named(String),
    /// A fixed offset east of UTC, in seconds.
    Fixed(i32),
}

/// A Python `datetime` (or pendulum `DateTime`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PyDateTime {
    pub(crate) local: NaiveDateTime,
    pub(crate) tz: TzInfo,
    /// Where a date that moves in Airflow came from (`days_ago(2)`), for the TOML comment.
    pub(crate) moving: Option<String>,
}

impl PyDateTime {
    /// The instant, when the zone is known (a naive datetime is read as UTC, as Airflow's
    /// default `default_timezone` does).
    pub(crate) fn instant(&self) -> Option<DateTime<Utc>> {
        match &self.tz {
            TzInfo::Naive | TzInfo::Utc => Some(self.local.and_utc()),
            TzInfo::Fixed(secs) => chrono::FixedOffset::east_opt(*secs)
                .and_then(|o| o.from_local_datetime(&self.local).single())
                .map(|d| d.with_timezone(&Utc)),
            TzInfo::Named(name) => {
                let tz: chrono_tz::Tz = name.parse().ok()?;
                // pendulum resolves ambiguous times to the later instant (fold=1).
                match tz.from_local_datetime(&self.local) {
                    chrono::LocalResult::Single(d) => Some(d.with_timezone(&Utc)),
                    chrono::LocalResult::Ambiguous(_, later) => Some(later.with_timezone(&Utc)),
                    chrono::LocalResult::None => None,
                }
            }
        }
    }

    /// Moves the wall-clock time by `delta` (Python's `datetime + timedelta`).
    pub(crate) fn shifted(&self, micros: i128) -> Option<PyDateTime> {
        let micros = i64::try_from(micros).ok()?;
        let local = self
            .local
            .checked_add_signed(chrono::Duration::microseconds(micros))?;
        Some(PyDateTime {
            local,
            tz: self.tz.clone(),
            moving: self.moving.clone(),
        })
    }
}

/// A reference to a task: which task draft, in the evaluator's list.
pub(crate) type TaskIdx = usize;

/// A value of the DAG file, as far as it can be known without running it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// A dict, in insertion order.
    Dict(Vec<(Value, Value)>),
    DateTime(PyDateTime),
    /// A `timedelta`, in microseconds.
    Delta(i128),
    /// A time zone object (`pendulum.timezone("Europe/Amsterdam")`, `timezone.utc`).
    Tz(TzInfo),
    /// Something the converter knows by name: an Airflow class or function, a stdlib
    /// module or class (`"DAG"`, `"PythonOperator"`, `"datetime.timedelta"`, `"ns:pendulum"`).
    Sym(String),
    /// An Airflow name the converter does not support (`airflow.models.Variable`).
    Foreign(String),
    /// A module of the user's (or a third-party package): `import my_functions`.
    Module(String),
    /// A function in another module: `from my_functions import add` is `my_functions:add`.
    Func {
        module: String,
        name: String,
    },
    /// A function defined in the DAG file itself, by index.
    Local(usize),
    /// A `@task`-decorated function, with the keyword arguments of `.override(...)` calls.
    TaskFactory(usize, Vec<(String, Value)>),
    /// `add.partial(y=1)`: a TaskFlow function with fixed arguments, waiting for `.expand`.
    /// The second list holds `.override(...)`'s arguments given before.
    Partial(usize, Vec<(String, Value)>, Vec<(String, Value)>),
    /// A `@dag`-decorated function.
    DagFactory(usize),
    /// A `@task_group`-decorated function.
    GroupFactory(usize),
    /// A DAG, by index.
    Dag(usize),
    /// An operator instance (a task), by index.
    Task(TaskIdx),
    /// A task's result (`XComArg`): a TaskFlow call, or `operator.output`.
    XCom(TaskIdx),
    /// `xcom["key"]`: one key of a task's result, which lithoflow cannot pass.
    XComKey(TaskIdx, String),
    /// A task group, by index.
    Group(usize),
    /// `upstream >> Label("text")`: the tasks before an edge label.
    Label(Vec<TaskIdx>),
    /// A parameter of a `@dag` function: `{{ params.name }}` at run time.
    DagParam(String),
    /// A value Airflow reads while it parses the file (`Variable.get("k")`, a
    /// connection's field): `template` is the Jinja text that reads it at run time
    /// (`{{ var.value.k }}`, or an f-string holding it), `what` the Python that read it.
    Runtime {
        template: String,
        what: String,
    },
    /// `BaseHook.get_connection("id")`: its fields are [`Value::Runtime`] values.
    Conn(String),
    /// A Python lambda, which lithoflow cannot reference by name.
    Lambda,
    /// `CronTriggerTimetable("0 0 * * *", timezone="UTC")` and its data-interval sibling:
    /// the lithoflow timetable name, the cron expression and the zone.
    Timetable(&'static str, String, Option<String>),
    /// A name bound to something that could not be evaluated; using it is an error.
    Opaque(EvalError),
    /// An asset (`Asset(...)`, Airflow 2's `Dataset(...)`) or a condition over assets
    /// (`AssetAll`, `AssetAny`, `&`, `|`).
    Asset(AssetExpr),
    /// `BashOperator.partial(...)`: a classic operator with fixed arguments, waiting for
    /// `.expand(...)` or `.expand_kwargs(...)`; the arguments with their positions.
    OpPartial(super::known::OpKind, Vec<super::model::Kw>),
}

/// An asset or a condition over assets, as a DAG's `schedule` or a task's `outlets` hold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AssetExpr {
    /// One asset: its URI and Airflow 3's name, group and extra (the URI alone when only
    /// it, or only the name, was given).
    One {
        uri: String,
        name: Option<String>,
        group: Option<String>,
        extra: Option<Box<Value>>,
    },
    /// `AssetAll(...)`, `a & b`, a list as a schedule.
    All(Vec<AssetExpr>),
    /// `AssetAny(...)`, `a | b`.
    Any(Vec<AssetExpr>),
}

impl Value {
    /// Python's type name, for messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::DateTime(_) => "datetime",
            Value::Delta(_) => "timedelta",
            Value::Tz(_) => "timezone",
            Value::Sym(_) | Value::Foreign(_) => "Airflow object",
            Value::Module(_) => "module",
            Value::Func { .. } | Value::Local(_) => "function",
            Value::TaskFactory(..) | Value::Partial(..) => "TaskFlow function",
            Value::DagFactory(_) => "@dag function",
            Value::GroupFactory(_) => "@task_group function",
            Value::Dag(_) => "DAG",
            Value::Task(_) => "operator",
            Value::XCom(_) | Value::XComKey(..) => "XComArg",
            Value::Group(_) => "TaskGroup",
            Value::Label(_) => "Label",
            Value::DagParam(_) => "DAG param",
            Value::Runtime { .. } => "value read while parsing (a variable or connection)",
            Value::Conn(_) => "connection",
            Value::Lambda => "lambda",
            Value::Timetable(..) => "timetable",
            Value::Opaque(_) => "unknown value",
            Value::Asset(AssetExpr::One { .. }) => "Asset",
            Value::Asset(_) => "asset condition",
            Value::OpPartial(..) => "partial operator",
        }
    }

    /// Python truthiness, where it is known.
    pub(crate) fn truthy(&self) -> Option<bool> {
        Some(match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(v) | Value::Tuple(v) => !v.is_empty(),
            Value::Dict(v) => !v.is_empty(),
            Value::Delta(d) => *d != 0,
            Value::Opaque(_)
            | Value::DagParam(_)
            | Value::XCom(_)
            | Value::XComKey(..)
            | Value::Runtime { .. }
            | Value::Conn(_) => {
                return None;
            }
            _ => true,
        })
    }

    /// The elements of a static sequence (list, tuple, dict keys, string characters).
    pub(crate) fn elements(&self) -> Option<Vec<Value>> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v.clone()),
            Value::Dict(v) => Some(v.iter().map(|(k, _)| k.clone()).collect()),
            Value::Str(s) => Some(s.chars().map(|c| Value::Str(c.to_string())).collect()),
            _ => None,
        }
    }

    /// Python's `str(value)`, for f-strings and `str.format`.
    pub(crate) fn py_str(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::DateTime(d) => Some(py_datetime_str(d)),
            Value::Delta(d) => Some(py_delta_str(*d)),
            _ => self.py_repr(),
        }
    }

    /// Python's `repr(value)`, for the static values that have a fixed one.
    pub(crate) fn py_repr(&self) -> Option<String> {
        Some(match self {
            Value::None => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => py_float(*f),
            Value::Str(s) => py_str_repr(s),
            Value::List(v) => format!("[{}]", join_repr(v)?),
            Value::Tuple(v) if v.len() == 1 => format!("({},)", join_repr(v)?),
            Value::Tuple(v) => format!("({})", join_repr(v)?),
            Value::Dict(v) => {
                let mut parts = Vec::new();
                for (k, x) in v {
                    parts.push(format!("{}: {}", k.py_repr()?, x.py_repr()?));
                }
                format!("{{{}}}", parts.join(", "))
            }
            _ => return None,
        })
    }
}

fn join_repr(v: &[Value]) -> Option<String> {
    let parts: Option<Vec<String>> = v.iter().map(Value::py_repr).collect();
    Some(parts?.join(", "))
}

/// Python's `repr(float)`: the shortest text that reads back, with `.0` on whole numbers.
pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == f.trunc() && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let s = format!("{f}");
    if f.abs() >= 1e16 || (f != 0.0 && f.abs() < 1e-4) {
        // Python switches to exponent notation here; Rust's `{:e}` is close enough
        // (`1e-05` in Python is `1e-5` here), and such values rarely name tasks.
        return format!("{f:e}");
    }
    s
}

/// Python's `repr(str)`: single quotes unless the text holds one and no double quote.
fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn py_datetime_str(d: &PyDateTime) -> String {
    let base = if d.local.and_utc().timestamp_subsec_micros() == 0 {
        d.local.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        d.local.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    };
    let offset = match &d.tz {
        TzInfo::Naive => return base,
        TzInfo::Utc => 0,
        TzInfo::Fixed(s) => *s,
        TzInfo::Named(_) => match d.instant() {
            Some(i) => (d.local - i.naive_utc()).num_seconds() as i32,
            None => return base,
        },
    };
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    format!("{base}{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// Python's `str(timedelta)`: `1 day, 2:03:04`.
fn py_delta_str(micros: i128) -> String {
    let total_secs = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000);
    let days = total_secs.div_euclid(86_400);
    let rest = total_secs.rem_euclid(86_400);
    let mut out = String::new();
    if days != 0 {
        let plural = if days.abs() == 1 { "" } else { "s" };
        let _ = write!(out, "{days} day{plural}, ");
    }
    let _ = write!(
        out,
        "{}:{:02}:{:02}",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    );
    if us != 0 {
        let _ = write!(out, ".{us:06}");
    }
    out
}

/// A duration in lithoflow's humantime form: `"1h30m"`, `"5m"`, `"1d"`, `"500ms"`.
pub(crate) fn duration_text(micros: i128) -> Option<String> {
    if micros < 0 {
        return None;
    }
    if micros == 0 {
        return Some("0s".into());
    }
    let mut out = String::new();
    let ms_part = micros % 1_000_000;
    let mut secs = micros / 1_000_000;
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    if ms_part != 0 {
        if ms_part % 1000 == 0 {
            let _ = write!(out, "{}ms", ms_part / 1000);
        } else {
            let _ = write!(out, "{ms_part}us");
        }
    }
    Some(out)
}

/// Python's `str.format` / f-string format spec, for the specs DAG files use with names:
/// empty, `[0][width]d`, `.Nf`, `>N`, `<N`.
pub(crate) fn format_spec(value: &Value, spec: &str) -> Option<String> {
    if spec.is_empty() {
        return value.py_str();
    }
    let (align, rest) = match spec.chars().next() {
        Some(c @ ('<' | '>' | '^')) => (Some(c), &spec[1..]),
        _ => (None, spec),
    };
    let (zero, rest) = match rest.strip_prefix('0') {
        Some(r) if align.is_none() => (true, r),
        _ => (false, rest),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let width: usize = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    if width > 1000 {
        return None;
    }
    let rest = &rest[digits.len()..];
    let body = match (rest, value) {
        ("" | "s", Value::Str(s)) => s.clone(),
        ("" | "d", Value::Int(i)) => i.to_string(),
        ("", Value::Float(f)) => py_float(*f),
        (r, Value::Float(_) | Value::Int(_)) if r.starts_with('.') && r.ends_with('f') => {
            let prec: usize = r[1..r.len() - 1].parse().ok()?;
            if prec > 100 {
                return None;
            }
            let f = match value {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                _ => return None,
            };
            format!("{f:.prec$}")
        }
        _ => return None,
    };
    let len = body.chars().count();
    if len >= width {
        return Some(body);
    }
    let pad = width - len;
    Some(match (align, zero, value) {
        (None, true, Value::Int(_) | Value::Float(_)) => {
            if let Some(b) = body.strip_prefix('-') {
                format!("-{}{b}", "0".repeat(pad))
            } else {
                format!("{}{body}", "0".repeat(pad))
            }
        }
        (Some('<'), _, _) | (None, _, Value::Str(_)) => format!("{body}{}", " ".repeat(pad)),
        (Some('^'), _, _) => {
            let left = pad / 2;
            format!("{}{body}{}", " ".repeat(left), " ".repeat(pad - left))
        }
        _ => format!("{}{body}", " ".repeat(pad)),
    })
}
