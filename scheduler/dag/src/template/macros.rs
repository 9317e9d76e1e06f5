//! `macros` in templates, as Airflow's `airflow/macros/__init__.py` (2.10) and
//! `airflow/sdk/execution_time/macros.py` (3.x) define it: `ds_add`, `ds_format`,
//! `datetime` (the class), `timedelta`, `dateutil` (`relativedelta`, `parser.parse`,
//! `tz.gettz`), `time`, `uuid`, `random`, `json`; and Airflow's filters of
//! `airflow/templates.py` (`ds`, `ds_nodash`, `ts`, `ts_nodash`, `ts_nodash_with_tz`).
//!
//! What needs the clock or randomness (`datetime.now()`, `time.time()`, `uuid4()`,
//! `random()`) reads the [`Clock`] the scheduler put in the context: this crate has no
//! clock of its own.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use chrono::{DateTime, FixedOffset, Utc};
use minijinja::value::{Object, ObjectRepr, ValueKind};
use minijinja::{Error, State, Value as J};

use super::dates::{self, PyDate, PyDateTime, RelativeDelta, TimeDelta, TzInfo};
use super::pyargs::{PyArgs, to_float, type_error, value_error};

/// What `now` and randomness are for one render: given by the scheduler.
#[derive(Debug)]
pub(crate) struct Clock {
    pub now: DateTime<Utc>,
    /// The offset of the scheduler's local zone at `now` (`datetime.now()` is naive
    /// local time, as on an Airflow worker).
    pub local_offset: FixedOffset,
    rng: AtomicU64,
}

impl Clock {
    pub(crate) fn new(now: DateTime<Utc>, local_offset: FixedOffset, seed: u64) -> Clock {
        Clock {
            now,
            local_offset,
            rng: AtomicU64::new(seed),
        }
    }

    /// splitmix64: a fresh 64-bit value each call.
    fn next(&self) -> u64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, AtomicOrdering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn random(&self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A Python module seen from a template: named attributes.
#[derive(Debug)]
struct Module {
    name: &'static str,
    attrs: BTreeMap<&'static str, J>,
}

impl Object for Module {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        self.attrs.get(key.as_str()?).cloned()
    }
    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[J],
    ) -> Result<J, Error> {
        match self.attrs.get(method) {
            Some(f) => f.call(state, args),
            None => Err(Error::new(
                minijinja::ErrorKind::UnknownMethod,
                format!("module '{}' has no attribute '{method}'", self.name),
            )),
        }
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<module '{}'>", self.name)
    }
}

/// A built-in function or class of the macros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    DsAdd,
    DsFormat,
    DsFormatLocale,
    DiffForHumans,
    Random,
    TimeTime,
    TimeStrftime,
    Uuid4,
    Uuid1,
    JsonDumps,
    JsonLoads,
    Timedelta,
    Relativedelta,
    ParserParse,
    Gettz,
    TzUtc,
    /// The `datetime` class: callable, with class methods.
    DateTimeClass,
    /// The `date` class.
    DateClass,
}

#[derive(Debug)]
struct Callable {
    f: Func,
    clock: Arc<Clock>,
}

impl Callable {
    fn name(&self) -> &'static str {
        match self.f {
            Func::DsAdd => "ds_add",
            Func::DsFormat => "ds_format",
            Func::DsFormatLocale => "ds_format_locale",
            Func::DiffForHumans => "datetime_diff_for_humans",
            Func::Random => "random",
            Func::TimeTime => "time",
            Func::TimeStrftime => "strftime",
            Func::Uuid4 => "uuid4",
            Func::Uuid1 => "uuid1",
            Func::JsonDumps => "dumps",
            Func::JsonLoads => "loads",
            Func::Timedelta => "timedelta",
            Func::Relativedelta => "relativedelta",
            Func::ParserParse => "parse",
            Func::Gettz => "gettz",
            Func::TzUtc => "tzutc",
            Func::DateTimeClass => "datetime",
            Func::DateClass => "date",
        }
    }
}

impl Object for Callable {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        match (self.f, key.as_str()?) {
            (Func::DateTimeClass, "min") => {
                dates::construct_datetime(&[J::from(1), J::from(1), J::from(1)])
                    .ok()
                    .map(J::from_object)
            }
            (Func::DateTimeClass, "max") => dates::construct_datetime(&[
                J::from(9999),
                J::from(12),
                J::from(31),
                J::from(23),
                J::from(59),
                J::from(59),
                J::from(999_999),
            ])
            .ok()
            .map(J::from_object),
            _ => None,
        }
    }

    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[J]) -> Result<J, Error> {
        let a = PyArgs::new(self.name(), args)?;
        let c = &self.clock;
        Ok(match self.f {
            Func::DsAdd => {
                let ds = py_str(
                    &a.get(0, "ds")
                        .ok_or_else(|| type_error("ds_add() missing 'ds'"))?,
                );
                let days = a
                    .int(1, "days")?
                    .ok_or_else(|| type_error("ds_add() missing 'days'"))?;
                a.done(2)?;
                if days == 0 {
                    return Ok(J::from(ds));
                }
                let d = dates::strptime(&ds, "%Y-%m-%d")?;
                let moved = dates::add(
                    &J::from_object(d),
                    &J::from_object(TimeDelta(days * 86_400_000_000, None)),
                )
                .unwrap_or_else(|| Err(type_error("ds_add")))?;
                J::from(dates::as_dt(&moved).map(|d| d.strftime("%Y-%m-%d")))
            }
            Func::DsFormat | Func::DsFormatLocale => {
                let ds = py_str(
                    &a.get(0, "ds")
                        .ok_or_else(|| type_error("ds_format() missing 'ds'"))?,
                );
                let input = a.req_str(1, "input_format")?;
                let output = a.req_str(2, "output_format")?;
                if self.f == Func::DsFormatLocale {
                    return Err(type_error(
                        "ds_format_locale (Babel formats) is not available in lithoflow's templates; use ds_format with strftime codes",
                    ));
                }
                a.done(3)?;
                J::from(dates::strptime(&ds, &input)?.strftime(&output))
            }
            Func::DiffForHumans => {
                return Err(type_error(
                    "datetime_diff_for_humans is not available in lithoflow's templates",
                ));
            }
            Func::Random => {
                a.done(0)?;
                J::from(c.random())
            }
            Func::TimeTime => {
                a.done(0)?;
                J::from(c.now.timestamp_micros() as f64 / 1e6)
            }
            Func::TimeStrftime => {
                let f = a.req_str(0, "format")?;
                a.done(1)?;
                J::from(dates::naive_now(c.now, c.local_offset).strftime(&f))
            }
            Func::Uuid4 => {
                a.done(0)?;
                let mut b = (u128::from(c.next()) << 64) | u128::from(c.next());
                b = (b & !(0xF << 76)) | (0x4 << 76);
                b = (b & !(0x3 << 62)) | (0x2 << 62);
                J::from_object(Uuid(b))
            }
            Func::Uuid1 => {
                return Err(type_error(
                    "uuid1 is not available in lithoflow's templates; use uuid4",
                ));
            }
            Func::JsonDumps => {
                let v = a
                    .get(0, "obj")
                    .ok_or_else(|| type_error("dumps() missing 'obj'"))?;
                let indent = a.kw("indent").and_then(|i| i64::try_from(i).ok());
                let sort = a.kw("sort_keys").is_some_and(|v| v.is_true());
                let ascii = a.kw("ensure_ascii").is_none_or(|v| v.is_true());
                let _ = a.kw("default");
                a.done(1)?;
                let mut out = String::new();
                json_dumps(
                    &mut out,
                    &v,
                    &JsonOpts {
                        indent,
                        sort,
                        ascii,
                    },
                    0,
                )?;
                J::from(out)
            }
            Func::JsonLoads => {
                let s = a.req_str(0, "s")?;
                a.done(1)?;
                let v: serde_json::Value = serde_json::from_str(&s)
                    .map_err(|e| value_error(format!("json.decoder.JSONDecodeError: {e}")))?;
                J::from_serialize(v)
            }
            Func::Timedelta => J::from_object(TimeDelta::construct(args)?),
            Func::Relativedelta => J::from_object(RelativeDelta::construct(args)?),
            Func::ParserParse => {
                let s = a.req_str(0, "timestr")?;
                let _ = (a.kw("dayfirst"), a.kw("yearfirst"), a.kw("fuzzy"));
                a.done(1)?;
                J::from_object(dates::parse_iso(&s)?)
            }
            Func::Gettz => {
                let name = a.str(0, "name")?.unwrap_or_else(|| "UTC".to_owned());
                a.done(1)?;
                match dates::Zone::parse(&name) {
                    Some(z) => J::from_object(TzInfo(z)),
                    None => J::from(()),
                }
            }
            Func::TzUtc => J::from_object(TzInfo(dates::Zone::utc())),
            Func::DateTimeClass => J::from_object(dates::construct_datetime(args)?),
            Func::DateClass => {
                let d = dates::construct_datetime(args)?;
                J::from_object(PyDate(d.to_utc().date_naive()))
            }
        })
    }

    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[J],
    ) -> Result<J, Error> {
        let c = &self.clock;
        let a = PyArgs::new(method, args)?;
        match (self.f, method) {
            (Func::DateTimeClass, "now" | "today") => {
                let tz = a.get(0, "tz");
                a.done(1)?;
                Ok(J::from_object(match tz {
                    Some(tz) if !tz.is_none() => dates::aware_now(c.now, dates::zone_of(&tz)?),
                    _ => dates::naive_now(c.now, c.local_offset),
                }))
            }
            (Func::DateTimeClass, "utcnow") => {
                a.done(0)?;
                Ok(J::from_object(dates::naive_now(
                    c.now,
                    FixedOffset::east_opt(0).unwrap_or(c.local_offset),
                )))
            }
            (Func::DateTimeClass, "strptime") => {
                let s = a.req_str(0, "date_string")?;
                let f = a.req_str(1, "format")?;
                a.done(2)?;
                Ok(J::from_object(dates::strptime(&s, &f)?))
            }
            (Func::DateTimeClass, "fromisoformat") => {
                let s = a.req_str(0, "date_string")?;
                a.done(1)?;
                Ok(J::from_object(dates::parse_iso(&s)?))
            }
            (Func::DateTimeClass, "fromtimestamp" | "utcfromtimestamp") => {
                let ts = a
                    .float(0, "timestamp")?
                    .ok_or_else(|| type_error("fromtimestamp() missing 'timestamp'"))?;
                let zone = match a.get(1, "tz") {
                    Some(tz) if !tz.is_none() => Some(dates::zone_of(&tz)?),
                    _ => None,
                };
                a.done(2)?;
                let offset = if method == "utcfromtimestamp" {
                    FixedOffset::east_opt(0).unwrap_or(c.local_offset)
                } else {
                    c.local_offset
                };
                Ok(J::from_object(dates::from_timestamp(ts, zone, offset)?))
            }
            (Func::DateClass, "today") => {
                a.done(0)?;
                let n = dates::naive_now(c.now, c.local_offset);
                Ok(J::from_object(PyDate(n.to_utc().date_naive())))
            }
            (Func::DateClass, "fromisoformat") => {
                let s = a.req_str(0, "date_string")?;
                a.done(1)?;
                Ok(J::from_object(PyDate(
                    dates::strptime(&s, "%Y-%m-%d")?.to_utc().date_naive(),
                )))
            }
            _ => {
                let _ = state;
                Err(Error::from(minijinja::ErrorKind::UnknownMethod))
            }
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.f {
            Func::DateTimeClass => f.write_str("<class 'datetime.datetime'>"),
            Func::DateClass => f.write_str("<class 'datetime.date'>"),
            Func::Timedelta => f.write_str("<class 'datetime.timedelta'>"),
            _ => write!(f, "<function {}>", self.name()),
        }
    }
}

/// A `uuid.UUID`.
#[derive(Debug)]
struct Uuid(u128);

impl Uuid {
    fn hex(&self) -> String {
        format!("{:032x}", self.0)
    }
}

impl Object for Uuid {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        match key.as_str()? {
            "hex" => Some(J::from(self.hex())),
            "int" => Some(J::from(self.0)),
            "version" => Some(J::from(4)),
            _ => None,
        }
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.hex();
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// `str(x)` of a value passed where Python calls `str()` (`ds_add(ds, 1)`).
fn py_str(v: &J) -> String {
    let mut s = String::new();
    let _ = super::pyrepr::write_str(&mut s, v);
    s
}

struct JsonOpts {
    indent: Option<i64>,
    sort: bool,
    ascii: bool,
}

/// Python's `json.dumps`: `", "` and `": "` separators, non-ASCII escaped by default.
fn json_dumps(out: &mut String, v: &J, o: &JsonOpts, depth: usize) -> Result<(), Error> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = o.indent {
            out.push('\n');
            for _ in 0..(depth * usize::try_from(n).unwrap_or(0)) {
                out.push(' ');
            }
        }
    };
    let item_sep = if o.indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if v.is_integer() {
                let _ = write!(out, "{v}");
            } else {
                let f = to_float(v).unwrap_or(f64::NAN);
                out.push_str(&if f.is_nan() {
                    "NaN".to_owned()
                } else if f.is_infinite() {
                    if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
                } else {
                    super::pyrepr::float_repr(f)
                });
            }
        }
        ValueKind::String => json_string(out, v.as_str().unwrap_or(""), o.ascii),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<J> = v.try_iter()?.collect();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                json_dumps(out, item, o, depth + 1)?;
            }
            if !items.is_empty() {
                newline(out, depth);
            }
            out.push(']');
        }
        ValueKind::Map if v.as_object().is_some_and(|x| x.repr() == ObjectRepr::Map) => {
            let mut keys: Vec<J> = v.try_iter()?.collect();
            if o.sort {
                keys.sort();
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                let key = match k.as_str() {
                    Some(s) => s.to_owned(),
                    None => py_str(k),
                };
                json_string(out, &key, o.ascii);
                out.push_str(": ");
                json_dumps(out, &v.get_item(k)?, o, depth + 1)?;
            }
            if !keys.is_empty() {
                newline(out, depth);
            }
            out.push('}');
        }
        _ => {
            return Err(type_error(format!(
                "Object of type {} is not JSON serializable",
                super::pyrepr::type_name(v)
            )));
        }
    }
    Ok(())
}

fn json_string(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ascii && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The `macros` object of one render.
pub(crate) fn macros(clock: &Arc<Clock>) -> J {
    let f = |f: Func| {
        J::from_object(Callable {
            f,
            clock: Arc::clone(clock),
        })
    };
    let module = |name: &'static str, attrs: Vec<(&'static str, J)>| {
        J::from_object(Module {
            name,
            attrs: attrs.into_iter().collect(),
        })
    };
    let mut relativedelta = vec![("relativedelta", f(Func::Relativedelta))];
    relativedelta.extend(dates::weekdays());
    let dateutil = module(
        "dateutil",
        vec![
            (
                "relativedelta",
                module("dateutil.relativedelta", relativedelta),
            ),
            (
                "parser",
                module(
                    "dateutil.parser",
                    vec![
                        ("parse", f(Func::ParserParse)),
                        ("isoparse", f(Func::ParserParse)),
                    ],
                ),
            ),
            (
                "tz",
                module(
                    "dateutil.tz",
                    vec![
                        ("gettz", f(Func::Gettz)),
                        ("tzutc", f(Func::TzUtc)),
                        ("UTC", J::from_object(TzInfo(dates::Zone::utc()))),
                    ],
                ),
            ),
        ],
    );
    module(
        "airflow.macros",
        vec![
            ("ds_add", f(Func::DsAdd)),
            ("ds_format", f(Func::DsFormat)),
            ("ds_format_locale", f(Func::DsFormatLocale)),
            ("datetime_diff_for_humans", f(Func::DiffForHumans)),
            ("datetime", f(Func::DateTimeClass)),
            ("date", f(Func::DateClass)),
            ("timedelta", f(Func::Timedelta)),
            ("dateutil", dateutil),
            (
                "time",
                module(
                    "time",
                    vec![
                        ("time", f(Func::TimeTime)),
                        ("strftime", f(Func::TimeStrftime)),
                    ],
                ),
            ),
            (
                "uuid",
                module(
                    "uuid",
                    vec![("uuid4", f(Func::Uuid4)), ("uuid1", f(Func::Uuid1))],
                ),
            ),
            ("random", f(Func::Random)),
            (
                "json",
                module(
                    "json",
                    vec![("dumps", f(Func::JsonDumps)), ("loads", f(Func::JsonLoads))],
                ),
            ),
        ],
    )
}

/// Airflow's filters (`airflow/templates.py`): `ds`, `ds_nodash`, `ts`, `ts_nodash`,
/// `ts_nodash_with_tz`, over a datetime or a date; None gives None.
pub(crate) fn date_filter(
    name: &'static str,
) -> impl Fn(J) -> Result<J, Error> + Send + Sync + 'static {
    move |v: J| {
        if v.is_none() {
            return Ok(J::from(()));
        }
        let fmt = |f: &str| -> Result<String, Error> {
            if let Some(d) = dates::as_dt(&v) {
                Ok(d.strftime(f))
            } else if let Some(d) = dates::as_date(&v) {
                Ok(dates::strftime(
                    d.0.and_time(chrono::NaiveTime::MIN),
                    None,
                    None,
                    f,
                ))
            } else {
                Err(Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!(
                        "AttributeError: the `{name}` filter takes a date or a datetime, not {}",
                        super::pyrepr::type_name(&v)
                    ),
                ))
            }
        };
        let iso = || -> Result<String, Error> {
            if let Some(d) = dates::as_dt(&v) {
                Ok(d.isoformat("T"))
            } else {
                fmt("%Y-%m-%d")
            }
        };
        Ok(J::from(match name {
            "ds" => fmt("%Y-%m-%d")?,
            "ds_nodash" => fmt("%Y%m%d")?,
            "ts" => iso()?,
            "ts_nodash" => fmt("%Y%m%dT%H%M%S")?,
            _ => iso()?.replace(['-', ':'], ""),
        }))
    }
}

/// Jinja2's `tojson` filter: Python's `json.dumps` with sorted keys, then `<`, `>`, `&`
/// and `'` escaped (`jinja2/utils.py`, `htmlsafe_json_dumps`).
pub(crate) fn tojson(v: J, indent: Option<i64>) -> Result<J, Error> {
    let mut out = String::new();
    json_dumps(
        &mut out,
        &v,
        &JsonOpts {
            indent,
            sort: true,
            ascii: true,
        },
        0,
    )?;
    let out = out
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    Ok(J::from(out))
}

/// The filter names of [`date_filter`].
pub(crate) const DATE_FILTERS: [&str; 5] =
    ["ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz"];

/// A datetime value of the context (a pendulum `DateTime` in UTC).
pub(crate) fn datetime_value(d: DateTime<Utc>) -> J {
    J::from_object(PyDateTime::pendulum_utc(d))
}
