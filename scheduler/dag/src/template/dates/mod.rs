//! Dates in templates as Airflow's templates have them: pendulum `DateTime`s for the
//! context's dates (`logical_date`, `data_interval_start`, ...), Python `datetime`,
//! `date` and `timedelta` values for what `macros.datetime` and `macros.timedelta` make,
//! and dateutil's `relativedelta`.
//!
//! Each is a minijinja object with the attributes and methods real DAG files use in
//! templates (`logical_date.year`, `.strftime('%Y')`, `.isoformat()`, `.replace(day=1)`,
//! pendulum's `.add(days=1)`, `.subtract(hours=1)`, `.in_timezone('Asia/Seoul')`,
//! `.start_of('month')`, `.format('YYYY-MM-DD')`), printed as Python prints them
//! (`str()`: pendulum 3 and `datetime` print `2026-11-01 02:00:00+00:00`). Their `+` and
//! `-` are [`add`] and [`sub`], which the renderer calls for every `+` and `-` of a
//! template (minijinja has no operator overloading for objects).
//!
//! Semantics copied from CPython's `datetime`, pendulum 3.1 (`pendulum/datetime.py`:
//! `add`, `_add_timedelta_`, `start_of`, `format`) and python-dateutil 2.9
//! (`dateutil/relativedelta.py`: `__init__`, `_fix`, `__add__`).

use std::fmt::{self, Write as _};
use std::sync::Arc;

use chrono::format::StrftimeItems;
use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::{OffsetName, Tz};
use minijinja::value::{Object, ObjectRepr};
use minijinja::{Error, Value as J};

use super::pyargs::{PyArgs, to_float, to_int, type_error, value_error};

const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// A time zone: a named one (IANA, `UTC` included) or a fixed offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Zone {
    /// An IANA zone.
    Named(Tz),
    /// A fixed offset from UTC.
    Fixed(FixedOffset),
}

impl Zone {
    pub(crate) fn utc() -> Zone {
        Zone::Named(Tz::UTC)
    }

    /// `"UTC"`, `"Asia/Seoul"` or `"+09:00"`.
    pub(crate) fn parse(s: &str) -> Option<Zone> {
        if let Ok(tz) = s.parse::<Tz>() {
            return Some(Zone::Named(tz));
        }
        if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") {
            return Some(Zone::utc());
        }
        let parsed =
            DateTime::parse_from_str(&format!("2000-01-01T00:00:00{s}"), "%Y-%m-%dT%H:%M:%S%:z")
                .or_else(|_| {
                    DateTime::parse_from_str(
                        &format!("2000-01-01T00:00:00{s}"),
                        "%Y-%m-%dT%H:%M:%S%z",
                    )
                });
        parsed.ok().map(|d| Zone::Fixed(*d.offset()))
    }

    fn offset_at_utc(&self, utc: NaiveDateTime) -> FixedOffset {
        match self {
            Zone::Named(tz) => tz.offset_from_utc_datetime(&utc).fix(),
            Zone::Fixed(o) => *o,
        }
    }

    /// The offset of a wall time: the earlier one when it is ambiguous (Python's
    /// `fold=0`), the one before the gap when it does not exist.
    fn offset_at_local(&self, local: NaiveDateTime) -> FixedOffset {
        match self {
            Zone::Named(tz) => match tz.offset_from_local_datetime(&local) {
                LocalResult::Single(o) => o.fix(),
                LocalResult::Ambiguous(a, _) => a.fix(),
                LocalResult::None => tz
                    .offset_from_utc_datetime(&(local - Duration::hours(3)))
                    .fix(),
            },
            Zone::Fixed(o) => *o,
        }
    }

    /// The zone's name as pendulum's `timezone_name` gives it.
    fn name(&self) -> String {
        match self {
            Zone::Named(tz) => tz.name().to_owned(),
            Zone::Fixed(o) => fmt_offset(*o, ":"),
        }
    }

    /// The abbreviation at an instant (`%Z`, `tzname()`): `UTC`, `KST`, `CET`.
    fn abbreviation(&self, utc: NaiveDateTime) -> String {
        match self {
            Zone::Named(tz) => {
                let o = tz.offset_from_utc_datetime(&utc);
                o.abbreviation()
                    .map_or_else(|| fmt_offset(o.fix(), ":"), str::to_owned)
            }
            Zone::Fixed(o) if o.local_minus_utc() == 0 => "UTC".to_owned(),
            Zone::Fixed(o) => format!("UTC{}", fmt_offset(*o, ":")),
        }
    }
}

/// `+09:00` (or `+0900` with `sep = ""`), with seconds when the offset has some.
fn fmt_offset(o: FixedOffset, sep: &str) -> String {
    let secs = o.local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}{sep}{m:02}")
    } else {
        format!("{sign}{h:02}{sep}{m:02}{sep}{s:02}")
    }
}

/// A datetime: pendulum's `DateTime` (always aware here) or Python's `datetime` (naive or
/// aware). They print alike; they differ in how `+ timedelta` counts (pendulum in
/// elapsed time, `datetime` in wall time) and in the methods they have.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyDateTime {
    /// The wall time.
    local: NaiveDateTime,
    /// The zone and its offset at `local`; None for a naive datetime.
    zone: Option<(Zone, FixedOffset)>,
    /// A pendulum `DateTime` rather than a `datetime`.
    pendulum: bool,
}

fn in_range(local: NaiveDateTime) -> Result<NaiveDateTime, Error> {
    if (1..=9999).contains(&local.year()) {
        Ok(local)
    } else {
        Err(Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "OverflowError: date value out of range",
        ))
    }
}

impl PyDateTime {
    /// A pendulum `DateTime` in UTC: how the context's dates are.
    pub(crate) fn pendulum_utc(d: DateTime<Utc>) -> PyDateTime {
        PyDateTime::from_utc(d.naive_utc(), Zone::utc(), true)
    }

    /// A naive `datetime`.
    pub(crate) fn naive(local: NaiveDateTime) -> PyDateTime {
        PyDateTime {
            local,
            zone: None,
            pendulum: false,
        }
    }

    fn from_utc(utc: NaiveDateTime, zone: Zone, pendulum: bool) -> PyDateTime {
        let o = zone.offset_at_utc(utc);
        PyDateTime {
            local: utc + Duration::seconds(i64::from(o.local_minus_utc())),
            zone: Some((zone, o)),
            pendulum,
        }
    }

    fn from_local(local: NaiveDateTime, zone: Option<Zone>, pendulum: bool) -> PyDateTime {
        match zone {
            None => PyDateTime {
                local,
                zone: None,
                pendulum,
            },
            Some(z) => PyDateTime {
                local,
                zone: Some((z, z.offset_at_local(local))),
                pendulum,
            },
        }
    }

    /// The same kind of value at another wall time in the same zone.
    fn with_local(&self, local: NaiveDateTime) -> Result<PyDateTime, Error> {
        Ok(PyDateTime::from_local(
            in_range(local)?,
            self.zone.map(|z| z.0),
            self.pendulum,
        ))
    }

    /// The instant in UTC (the wall time for a naive datetime).
    fn utc(&self) -> NaiveDateTime {
        match self.zone {
            Some((_, o)) => self.local - Duration::seconds(i64::from(o.local_minus_utc())),
            None => self.local,
        }
    }

    /// The instant as a chrono UTC datetime, for what leaves the renderer as JSON.
    pub(crate) fn to_utc(self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.utc())
    }

    /// `elapsed` microseconds later in real time (pendulum's `+ timedelta`).
    fn add_elapsed(&self, us: i64) -> Result<PyDateTime, Error> {
        let d = Duration::microseconds(us);
        match self.zone {
            Some((z, _)) => {
                let utc = self.utc().checked_add_signed(d).ok_or_else(overflow)?;
                let r = PyDateTime::from_utc(utc, z, self.pendulum);
                in_range(r.local)?;
                Ok(r)
            }
            None => self.with_local(self.local.checked_add_signed(d).ok_or_else(overflow)?),
        }
    }

    /// `us` microseconds later on the wall clock (`datetime + timedelta`).
    fn add_wall(&self, us: i64) -> Result<PyDateTime, Error> {
        self.with_local(
            self.local
                .checked_add_signed(Duration::microseconds(us))
                .ok_or_else(overflow)?,
        )
    }

    /// `+ timedelta`, as the kind of value counts it.
    fn add_delta(&self, us: i64) -> Result<PyDateTime, Error> {
        if self.pendulum {
            self.add_elapsed(us)
        } else {
            self.add_wall(us)
        }
    }

    /// Python's `isoformat(sep)`.
    pub(crate) fn isoformat(&self, sep: &str) -> String {
        let mut s = format!(
            "{}{sep}{:02}:{:02}:{:02}",
            self.local.format("%Y-%m-%d"),
            self.local.hour(),
            self.local.minute(),
            self.local.second()
        );
        let us = self.local.nanosecond() / 1000;
        if us != 0 {
            let _ = write!(s, ".{us:06}");
        }
        if let Some((_, o)) = self.zone {
            s.push_str(&fmt_offset(o, ":"));
        }
        s
    }

    /// Python's `strftime`.
    pub(crate) fn strftime(&self, fmt: &str) -> String {
        let (offset, name) = match self.zone {
            Some((z, o)) => (Some(o), Some(z.abbreviation(self.utc()))),
            None => (None, None),
        };
        strftime(self.local, offset, name.as_deref(), fmt)
    }

    fn repr(&self) -> String {
        let l = &self.local;
        if self.pendulum {
            let tz = self.zone.map(|z| z.0.name()).unwrap_or_default();
            format!(
                "DateTime({}, {}, {}, {}, {}, {}, tzinfo=Timezone('{tz}'))",
                l.year(),
                l.month(),
                l.day(),
                l.hour(),
                l.minute(),
                l.second()
            )
        } else {
            let mut parts = vec![
                l.year(),
                l.month() as i32,
                l.day() as i32,
                l.hour() as i32,
                l.minute() as i32,
            ];
            let (s, us) = (l.second() as i32, (l.nanosecond() / 1000) as i32);
            if s != 0 || us != 0 {
                parts.push(s);
            }
            if us != 0 {
                parts.push(us);
            }
            let mut out = format!(
                "datetime.datetime({})",
                parts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some((z, _)) = self.zone {
                out.pop();
                let _ = write!(out, ", tzinfo={})", z.name());
            }
            out
        }
    }

    fn replace(&self, a: &PyArgs<'_>) -> Result<PyDateTime, Error> {
        let l = self.local;
        let year = a.int(0, "year")?.unwrap_or(i64::from(l.year()));
        let month = a.int(1, "month")?.unwrap_or(i64::from(l.month()));
        let day = a.int(2, "day")?.unwrap_or(i64::from(l.day()));
        let hour = a.int(3, "hour")?.unwrap_or(i64::from(l.hour()));
        let minute = a.int(4, "minute")?.unwrap_or(i64::from(l.minute()));
        let second = a.int(5, "second")?.unwrap_or(i64::from(l.second()));
        let us = a
            .int(6, "microsecond")?
            .unwrap_or(i64::from(l.nanosecond() / 1000));
        let zone = match a.kw("tzinfo") {
            Some(v) if v.is_none() => None,
            Some(v) => Some(zone_arg(&v)?),
            None => self.zone.map(|z| z.0),
        };
        let _ = a.kw("fold");
        a.done(7)?;
        let local = make_local(year, month, day, hour, minute, second, us)?;
        Ok(PyDateTime::from_local(local, zone, self.pendulum))
    }

    /// pendulum's `add` (negated for `subtract`): years, months, weeks and days count on
    /// the wall clock (and then so does the rest); hours and smaller alone count in
    /// elapsed time.
    fn pendulum_add(&self, a: &PyArgs<'_>, sign: i64) -> Result<PyDateTime, Error> {
        let n = |name: &str| -> Result<f64, Error> {
            Ok(a.kw(name).as_ref().and_then(to_float).unwrap_or(0.0))
        };
        for k in a.kw.args() {
            if !matches!(
                k,
                "years"
                    | "months"
                    | "weeks"
                    | "days"
                    | "hours"
                    | "minutes"
                    | "seconds"
                    | "microseconds"
            ) {
                return Err(type_error(format!(
                    "add() got an unexpected keyword argument '{k}'"
                )));
            }
        }
        if !a.pos.is_empty() {
            return Err(type_error("add() takes keyword arguments only"));
        }
        let (years, months, weeks, days) = (
            n("years")? as i64,
            n("months")? as i64,
            n("weeks")?,
            n("days")?,
        );
        let time_us = (n("hours")? * 3600e6
            + n("minutes")? * 60e6
            + n("seconds")? * 1e6
            + n("microseconds")?)
        .round() as i64;
        let day_us = ((weeks * 7.0 + days) * US_PER_DAY as f64).round() as i64;
        if years == 0 && months == 0 && day_us == 0 {
            return self.add_elapsed(sign * time_us);
        }
        let moved = add_months(self.local, sign * (years * 12 + months))?;
        self.with_local(
            moved
                .checked_add_signed(Duration::microseconds(sign * (day_us + time_us)))
                .ok_or_else(overflow)?,
        )
    }

    fn in_timezone(&self, zone: Zone) -> PyDateTime {
        PyDateTime::from_utc(self.utc(), zone, self.pendulum)
    }

    /// pendulum's `start_of` / `end_of`.
    fn boundary(&self, unit: &str, end: bool) -> Result<PyDateTime, Error> {
        let l = self.local;
        let d = l.date();
        let start = match unit {
            "second" => l.with_nanosecond(0),
            "minute" => l.with_nanosecond(0).and_then(|x| x.with_second(0)),
            "hour" => d.and_hms_opt(l.hour(), 0, 0),
            "day" => d.and_hms_opt(0, 0, 0),
            "week" => (d - Duration::days(i64::from(d.weekday().num_days_from_monday()))).and_hms_opt(0, 0, 0),
            "month" => d.with_day(1).and_then(|x| x.and_hms_opt(0, 0, 0)),
            "year" => NaiveDate::from_ymd_opt(d.year(), 1, 1).and_then(|x| x.and_hms_opt(0, 0, 0)),
            "decade" => NaiveDate::from_ymd_opt(d.year() - d.year().rem_euclid(10), 1, 1).and_then(|x| x.and_hms_opt(0, 0, 0)),
            "century" => NaiveDate::from_ymd_opt(d.year() - (d.year() - 1).rem_euclid(100), 1, 1).and_then(|x| x.and_hms_opt(0, 0, 0)),
            other => {
                return Err(value_error(format!(
                    "Invalid unit \"{other}\" for start_of(); use second, minute, hour, day, week, month, year, decade or century"
                )));
            }
        }
        .ok_or_else(overflow)?;
        if !end {
            return self.with_local(start);
        }
        let next = match unit {
            "second" => start + Duration::seconds(1),
            "minute" => start + Duration::minutes(1),
            "hour" => start + Duration::hours(1),
            "day" => start + Duration::days(1),
            "week" => start + Duration::days(7),
            "month" => add_months(start, 1)?,
            "year" => add_months(start, 12)?,
            "decade" => add_months(start, 120)?,
            _ => add_months(start, 1200)?,
        };
        self.with_local(next - Duration::microseconds(1))
    }

    fn timestamp(&self) -> f64 {
        let u = self.utc().and_utc();
        u.timestamp() as f64 + f64::from(u.timestamp_subsec_micros()) / 1e6
    }
}

fn overflow() -> Error {
    Error::new(
        minijinja::ErrorKind::InvalidOperation,
        "OverflowError: date value out of range",
    )
}

/// A wall time from its parts, with Python's range checks.
fn make_local(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    us: i64,
) -> Result<NaiveDateTime, Error> {
    if !(1..=9999).contains(&year) {
        return Err(value_error(format!("year {year} is out of range")));
    }
    if !(1..=12).contains(&month) {
        return Err(value_error("month must be in 1..12"));
    }
    let date = i32::try_from(year)
        .ok()
        .zip(u32::try_from(month).ok())
        .zip(u32::try_from(day).ok())
        .and_then(|((y, m), d)| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or_else(|| value_error("day is out of range for month"))?;
    let t = u32::try_from(hour)
        .ok()
        .zip(u32::try_from(minute).ok())
        .zip(u32::try_from(second).ok())
        .zip(u32::try_from(us).ok())
        .and_then(|(((h, mi), s), us)| NaiveTime::from_hms_micro_opt(h, mi, s, us))
        .ok_or_else(|| value_error("hour, minute, second or microsecond out of range"))?;
    Ok(date.and_time(t))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

/// `months` months later, the day clipped to the month's length.
fn add_months(l: NaiveDateTime, months: i64) -> Result<NaiveDateTime, Error> {
    let total = i64::from(l.year()) * 12 + i64::from(l.month0()) + months;
    let year = i32::try_from(total.div_euclid(12)).map_err(|_| overflow())?;
    let month = u32::try_from(total.rem_euclid(12)).map_err(|_| overflow())? + 1;
    let day = l.day().min(days_in_month(year, month));
    NaiveDate::from_ymd_opt(year, month, day)
        .map(|d| d.and_time(l.time()))
        .ok_or_else(overflow)
        .and_then(in_range)
}

/// A zone from a template value: a name, an offset, or a zone object's name.
fn zone_arg(v: &J) -> Result<Zone, Error> {
    if let Some(z) = v.downcast_object_ref::<TzInfo>() {
        return Ok(z.0);
    }
    v.as_str()
        .and_then(Zone::parse)
        .ok_or_else(|| value_error(format!("unknown time zone {v}")))
}

/// Python's `strftime` over a wall time, its offset and zone abbreviation (None for a
/// naive value): each directive as glibc formats it, `%f` as microseconds, `%z`/`%Z`
/// empty for naive values, unknown directives kept as written.
pub(crate) fn strftime(
    local: NaiveDateTime,
    offset: Option<FixedOffset>,
    tzname: Option<&str>,
    fmt: &str,
) -> String {
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flag = None;
        if let Some(&f) = chars.peek()
            && matches!(f, '-' | '_' | '0' | ':')
        {
            flag = Some(f);
            chars.next();
        }
        let Some(d) = chars.next() else {
            out.push('%');
            if let Some(f) = flag {
                out.push(f);
            }
            break;
        };
        match (flag, d) {
            (None, '%') => out.push('%'),
            (None, 'f') => {
                let _ = write!(out, "{:06}", local.nanosecond() / 1000);
            }
            (None, 'z') => {
                if let Some(o) = offset {
                    out.push_str(&fmt_offset(o, ""));
                }
            }
            (Some(':'), 'z') => {
                if let Some(o) = offset {
                    out.push_str(&fmt_offset(o, ":"));
                }
            }
            (None, 'Z') => out.push_str(tzname.unwrap_or("")),
            (None, 's') => {
                let utc = offset.map_or(local, |o| {
                    local - Duration::seconds(i64::from(o.local_minus_utc()))
                });
                let _ = write!(out, "{}", utc.and_utc().timestamp());
            }
            (Some(':'), _) => {
                out.push('%');
                out.push(':');
                out.push(d);
            }
            (_, d) if "aAbBcCdDeFgGhHIjklmMnpPrRStTuUVwWxXyY".contains(d) => {
                let spec = match flag {
                    Some(f) => format!("%{f}{d}"),
                    None => format!("%{d}"),
                };
                let start = out.len();
                if write!(
                    out,
                    "{}",
                    local.format_with_items(StrftimeItems::new(&spec))
                )
                .is_err()
                {
                    out.truncate(start);
                    out.push_str(&spec);
                }
            }
            (f, d) => {
                out.push('%');
                if let Some(f) = f {
                    out.push(f);
                }
                out.push(d);
            }
        }
    }
    out
}

/// A Python `timedelta`, in microseconds; with its two ends when it is what pendulum's
/// `DateTime - DateTime` gives (an `Interval`, printed `<Interval [a -> b]>`, with
/// `in_days()`... methods).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeDelta(pub i64, pub Option<(PyDateTime, PyDateTime)>);

impl TimeDelta {
    fn parts(&self) -> (i64, i64, i64) {
        let days = self.0.div_euclid(US_PER_DAY);
        let rest = self.0.rem_euclid(US_PER_DAY);
        (days, rest / US_PER_SEC, rest % US_PER_SEC)
    }

    /// `timedelta(days, seconds, microseconds, milliseconds, minutes, hours, weeks)`.
    pub(crate) fn construct(args: &[J]) -> Result<TimeDelta, Error> {
        let a = PyArgs::new("timedelta", args)?;
        let names = [
            "days",
            "seconds",
            "microseconds",
            "milliseconds",
            "minutes",
            "hours",
            "weeks",
        ];
        let scale = [
            US_PER_DAY as f64,
            1e6,
            1.0,
            1e3,
            60e6,
            3600e6,
            7.0 * US_PER_DAY as f64,
        ];
        let mut total = 0f64;
        let mut exact = 0i64;
        for (i, (name, s)) in names.iter().zip(scale).enumerate() {
            match a.get(i, name) {
                None => {}
                Some(v) => match to_int(&v) {
                    Some(n) => {
                        exact = (s as i64)
                            .checked_mul(n)
                            .and_then(|x| exact.checked_add(x))
                            .ok_or_else(overflow)?;
                    }
                    None => {
                        total += to_float(&v).ok_or_else(|| {
                            type_error(format!(
                                "unsupported type for timedelta {name} component: {v}"
                            ))
                        })? * s;
                    }
                },
            }
        }
        a.done(7)?;
        Ok(TimeDelta(exact + total.round() as i64, None))
    }

    fn total_seconds(&self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl fmt::Display for TimeDelta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, secs, us) = self.parts();
        if days != 0 {
            let plural = if days.abs() != 1 { "s" } else { "" };
            write!(f, "{days} day{plural}, ")?;
        }
        write!(f, "{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)?;
        if us != 0 {
            write!(f, ".{us:06}")?;
        }
        Ok(())
    }
}

/// A Python `date` (what `.date()` gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PyDate(pub NaiveDate);

/// dateutil's weekday (`MO`, `MO(-1)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Weekday {
    pub wd: u32,
    pub n: Option<i64>,
}

const WEEKDAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// dateutil's `relativedelta`: relative parts (plural names) added, absolute parts
/// (singular names) replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RelativeDelta {
    years: i64,
    months: i64,
    days: i64,
    hours: i64,
    minutes: i64,
    seconds: i64,
    microseconds: i64,
    leapdays: i64,
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    hour: Option<i64>,
    minute: Option<i64>,
    second: Option<i64>,
    microsecond: Option<i64>,
    weekday: Option<Weekday>,
}

impl RelativeDelta {
    /// `relativedelta(years=, months=, days=, weeks=, ..., year=, month=, ..., weekday=)`.
    pub(crate) fn construct(args: &[J]) -> Result<RelativeDelta, Error> {
        let a = PyArgs::new("relativedelta", args)?;
        if !a.pos.is_empty() {
            return Err(type_error(
                "relativedelta(dt1, dt2) is not supported in templates; use keyword arguments",
            ));
        }
        let i = |n: &str| -> Result<i64, Error> { Ok(a.int(usize::MAX, n)?.unwrap_or(0)) };
        let o = |n: &str| a.int(usize::MAX, n);
        let weekday = match a.kw("weekday") {
            None => None,
            Some(v) => Some(match (v.downcast_object_ref::<Weekday>(), to_int(&v)) {
                (Some(w), _) => *w,
                (None, Some(n)) if (0..7).contains(&n) => Weekday {
                    wd: n as u32,
                    n: None,
                },
                _ => return Err(value_error(format!("invalid weekday {v}"))),
            }),
        };
        let mut r = RelativeDelta {
            years: i("years")?,
            months: i("months")?,
            days: i("days")? + i("weeks")? * 7,
            hours: i("hours")?,
            minutes: i("minutes")?,
            seconds: i("seconds")?,
            microseconds: i("microseconds")?,
            leapdays: i("leapdays")?,
            year: o("year")?,
            month: o("month")?,
            day: o("day")?,
            hour: o("hour")?,
            minute: o("minute")?,
            second: o("second")?,
            microsecond: o("microsecond")?,
            weekday,
        };
        let _ = a.kw("yearday");
        a.done(0)?;
        r.fix();
        Ok(r)
    }

    /// dateutil's `_fix`: carries past each unit's range into the next unit up.
    fn fix(&mut self) {
        fn carry(low: &mut i64, high: &mut i64, limit: i64) {
            if low.abs() > limit - 1 {
                let s = low.signum();
                let (div, rem) = ((*low * s).div_euclid(limit), (*low * s).rem_euclid(limit));
                *low = rem * s;
                *high += div * s;
            }
        }
        carry(&mut self.microseconds, &mut self.seconds, 1_000_000);
        carry(&mut self.seconds, &mut self.minutes, 60);
        carry(&mut self.minutes, &mut self.hours, 60);
        carry(&mut self.hours, &mut self.days, 24);
        carry(&mut self.months, &mut self.years, 12);
    }

    fn neg(&self) -> RelativeDelta {
        RelativeDelta {
            years: -self.years,
            months: -self.months,
            days: -self.days,
            hours: -self.hours,
            minutes: -self.minutes,
            seconds: -self.seconds,
            microseconds: -self.microseconds,
            leapdays: self.leapdays,
            ..*self
        }
    }

    fn plus(&self, o: &RelativeDelta) -> RelativeDelta {
        let mut r = RelativeDelta {
            years: self.years + o.years,
            months: self.months + o.months,
            days: self.days + o.days,
            hours: self.hours + o.hours,
            minutes: self.minutes + o.minutes,
            seconds: self.seconds + o.seconds,
            microseconds: self.microseconds + o.microseconds,
            leapdays: o.leapdays,
            year: o.year.or(self.year),
            month: o.month.or(self.month),
            day: o.day.or(self.day),
            hour: o.hour.or(self.hour),
            minute: o.minute.or(self.minute),
            second: o.second.or(self.second),
            microsecond: o.microsecond.or(self.microsecond),
            weekday: o.weekday.or(self.weekday),
        };
        r.fix();
        r
    }

    fn has_time(&self) -> bool {
        self.hours != 0
            || self.minutes != 0
            || self.seconds != 0
            || self.microseconds != 0
            || self.hour.is_some()
            || self.minute.is_some()
            || self.second.is_some()
            || self.microsecond.is_some()
    }

    /// dateutil's `__add__` with a datetime.
    fn apply(&self, dt: &PyDateTime) -> Result<PyDateTime, Error> {
        let l = dt.local;
        let mut year = self.year.unwrap_or(i64::from(l.year())) + self.years;
        let mut month = self.month.unwrap_or(i64::from(l.month()));
        if self.months != 0 {
            month += self.months;
            if month > 12 {
                year += 1;
                month -= 12;
            } else if month < 1 {
                year -= 1;
                month += 12;
            }
        }
        let y32 = i32::try_from(year).map_err(|_| overflow())?;
        let m32 = u32::try_from(month).map_err(|_| value_error("month must be in 1..12"))?;
        let day = (self.day.unwrap_or(i64::from(l.day()))).min(i64::from(days_in_month(y32, m32)));
        let local = make_local(
            year,
            month,
            day,
            self.hour.unwrap_or(i64::from(l.hour())),
            self.minute.unwrap_or(i64::from(l.minute())),
            self.second.unwrap_or(i64::from(l.second())),
            self.microsecond.unwrap_or(i64::from(l.nanosecond() / 1000)),
        )?;
        let replaced = PyDateTime::from_local(local, dt.zone.map(|z| z.0), dt.pendulum);
        let mut days = self.days;
        if self.leapdays != 0 && month > 2 && NaiveDate::from_ymd_opt(y32, 2, 29).is_some() {
            days += self.leapdays;
        }
        let us = days * US_PER_DAY
            + self.hours * 3600 * US_PER_SEC
            + self.minutes * 60 * US_PER_SEC
            + self.seconds * US_PER_SEC
            + self.microseconds;
        let mut ret = replaced.add_delta(us)?;
        if let Some(w) = self.weekday {
            let nth = w.n.filter(|n| *n != 0).unwrap_or(1);
            let mut jump = (nth.abs() - 1) * 7;
            let cur = i64::from(ret.local.weekday().num_days_from_monday());
            let wd = i64::from(w.wd);
            if nth > 0 {
                jump += (7 - cur + wd).rem_euclid(7);
            } else {
                jump += (cur - wd).rem_euclid(7);
                jump = -jump;
            }
            ret = ret.add_delta(jump * US_PER_DAY)?;
        }
        Ok(ret)
    }
}

impl fmt::Display for RelativeDelta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (n, v) in [
            ("years", self.years),
            ("months", self.months),
            ("days", self.days),
            ("leapdays", self.leapdays),
            ("hours", self.hours),
            ("minutes", self.minutes),
            ("seconds", self.seconds),
            ("microseconds", self.microseconds),
        ] {
            if v != 0 {
                parts.push(format!("{n}={v:+}"));
            }
        }
        for (n, v) in [
            ("year", self.year),
            ("month", self.month),
            ("day", self.day),
            ("hour", self.hour),
            ("minute", self.minute),
            ("second", self.second),
            ("microsecond", self.microsecond),
        ] {
            if let Some(v) = v {
                parts.push(format!("{n}={v}"));
            }
        }
        if let Some(w) = self.weekday {
            parts.push(format!("weekday={}", weekday_str(&w)));
        }
        write!(f, "relativedelta({})", parts.join(", "))
    }
}

fn weekday_str(w: &Weekday) -> String {
    let name = WEEKDAYS[w.wd as usize % 7];
    match w.n {
        None | Some(0) => name.to_owned(),
        Some(n) => format!("{name}({n:+})"),
    }
}

/// A time zone object (`dateutil.tz.gettz('Asia/Seoul')`, `logical_date.tzinfo`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TzInfo(pub Zone);

impl Object for TzInfo {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        match key.as_str()? {
            "name" => Some(J::from(self.0.name())),
            _ => None,
        }
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.name())
    }
}

/// A date value, as `+` and `-` see it.
#[derive(Clone, Copy)]
enum Operand {
    DateTime(PyDateTime),
    Delta(TimeDelta),
    Relative(RelativeDelta),
    Date(PyDate),
}

impl Operand {
    fn of(v: &J) -> Option<Operand> {
        as_dt(v)
            .map(Operand::DateTime)
            .or_else(|| as_td(v).map(Operand::Delta))
            .or_else(|| as_rd(v).map(Operand::Relative))
            .or_else(|| as_date(v).map(Operand::Date))
    }

    /// Both operands, None when neither is a date value (the renderer then does as
    /// minijinja does).
    fn pair(a: &J, b: &J) -> Option<(Option<Operand>, Option<Operand>)> {
        let pair = (Operand::of(a), Operand::of(b));
        (pair.0.is_some() || pair.1.is_some()).then_some(pair)
    }
}

/// `a + b` when either is a date value: None when neither is one (the renderer then adds
/// as minijinja does).
pub(crate) fn add(a: &J, b: &J) -> Option<Result<J, Error>> {
    use Operand::{Date, DateTime, Delta, Relative};
    Some(match Operand::pair(a, b)? {
        (Some(DateTime(x)), Some(Delta(t))) | (Some(Delta(t)), Some(DateTime(x))) => {
            x.add_delta(t.0).map(J::from_object)
        }
        (Some(DateTime(x)), Some(Relative(r))) | (Some(Relative(r)), Some(DateTime(x))) => {
            r.apply(&x).map(J::from_object)
        }
        (Some(Delta(t)), Some(Delta(u))) => {
            t.0.checked_add(u.0)
                .map(|s| J::from_object(TimeDelta(s, None)))
                .ok_or_else(overflow)
        }
        (Some(Relative(r)), Some(Relative(s))) => Ok(J::from_object(r.plus(&s))),
        (Some(Relative(r)), Some(Delta(t))) | (Some(Delta(t)), Some(Relative(r))) => {
            Ok(J::from_object(r.plus(&RelativeDelta {
                microseconds: t.0,
                ..Default::default()
            })))
        }
        (Some(Date(x)), Some(Delta(t))) | (Some(Delta(t)), Some(Date(x))) => {
            date_plus_days(x, t.0.div_euclid(US_PER_DAY))
        }
        (Some(Date(x)), Some(Relative(r))) | (Some(Relative(r)), Some(Date(x))) => {
            date_plus_rd(x, &r)
        }
        _ => Err(unsupported("+", a, b)),
    })
}

/// `a - b` when either is a date value (see [`add`]).
pub(crate) fn sub(a: &J, b: &J) -> Option<Result<J, Error>> {
    use Operand::{Date, DateTime, Delta, Relative};
    Some(match Operand::pair(a, b)? {
        (Some(DateTime(x)), Some(Delta(t))) => x.add_delta(-t.0).map(J::from_object),
        (Some(DateTime(x)), Some(Relative(r))) => r.neg().apply(&x).map(J::from_object),
        (Some(DateTime(x)), Some(DateTime(y))) => {
            if x.zone.is_some() != y.zone.is_some() {
                Err(type_error(
                    "can't subtract offset-naive and offset-aware datetimes",
                ))
            } else {
                let ends = (x.pendulum && y.pendulum).then_some((y, x));
                (x.utc() - y.utc())
                    .num_microseconds()
                    .map(|us| J::from_object(TimeDelta(us, ends)))
                    .ok_or_else(overflow)
            }
        }
        (Some(Delta(t)), Some(Delta(u))) => Ok(J::from_object(TimeDelta(t.0 - u.0, None))),
        (Some(Relative(r)), Some(Relative(s))) => Ok(J::from_object(r.plus(&s.neg()))),
        (Some(Date(x)), Some(Delta(t))) => date_plus_days(x, -t.0.div_euclid(US_PER_DAY)),
        (Some(Date(x)), Some(Relative(r))) => date_plus_rd(x, &r.neg()),
        (Some(Date(x)), Some(Date(y))) => Ok(J::from_object(TimeDelta(
            (x.0 - y.0).num_days() * US_PER_DAY,
            None,
        ))),
        _ => Err(unsupported("-", a, b)),
    })
}

fn unsupported(op: &str, a: &J, b: &J) -> Error {
    type_error(format!(
        "unsupported operand type(s) for {op}: {} and {}",
        py_type(a),
        py_type(b)
    ))
}

fn py_type(v: &J) -> &'static str {
    if as_dt(v).is_some() {
        "'datetime'"
    } else if as_td(v).is_some() {
        "'timedelta'"
    } else if as_rd(v).is_some() {
        "'relativedelta'"
    } else if as_date(v).is_some() {
        "'date'"
    } else {
        match v.kind() {
            minijinja::value::ValueKind::String => "'str'",
            minijinja::value::ValueKind::Number => "'number'",
            minijinja::value::ValueKind::None => "'NoneType'",
            _ => "'object'",
        }
    }
}

fn date_plus_days(d: PyDate, days: i64) -> Result<J, Error> {
    d.0.checked_add_signed(Duration::days(days))
        .filter(|x| (1..=9999).contains(&x.year()))
        .map(|x| J::from_object(PyDate(x)))
        .ok_or_else(overflow)
}

fn date_plus_rd(d: PyDate, r: &RelativeDelta) -> Result<J, Error> {
    let as_dt = PyDateTime::naive(d.0.and_time(NaiveTime::MIN));
    let moved = r.apply(&as_dt)?;
    if r.has_time() {
        Ok(J::from_object(moved))
    } else {
        Ok(J::from_object(PyDate(moved.local.date())))
    }
}

pub(crate) fn as_dt(v: &J) -> Option<PyDateTime> {
    v.downcast_object_ref::<PyDateTime>().copied()
}
pub(crate) fn as_td(v: &J) -> Option<TimeDelta> {
    v.downcast_object_ref::<TimeDelta>().copied()
}
fn as_rd(v: &J) -> Option<RelativeDelta> {
    v.downcast_object_ref::<RelativeDelta>().copied()
}
pub(crate) fn as_date(v: &J) -> Option<PyDate> {
    v.downcast_object_ref::<PyDate>().copied()
}

mod objects;
mod text;

pub(crate) use objects::{py_repr, weekdays};
pub(crate) use text::{
    aware_now, construct_datetime, from_timestamp, naive_now, parse_iso, strptime, zone_of,
};
