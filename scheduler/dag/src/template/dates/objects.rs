//! The minijinja objects of the date values: their attributes, methods and text.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};
use minijinja::value::{DynObject, Object, ObjectRepr};
use minijinja::{Error, State, Value as J};

use super::text::pendulum_format;
use super::*;
use crate::template::pyargs::{PyArgs, to_int, type_error};

impl Object for PyDateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        let l = self.local;
        let v = match key.as_str()? {
            "year" => J::from(l.year()),
            "month" => J::from(l.month()),
            "day" => J::from(l.day()),
            "hour" => J::from(l.hour()),
            "minute" => J::from(l.minute()),
            "second" => J::from(l.second()),
            "microsecond" => J::from(l.nanosecond() / 1000),
            "fold" => J::from(0),
            "tzinfo" | "tz" | "timezone" => match self.zone {
                Some((z, _)) => J::from_object(TzInfo(z)),
                None => J::from(()),
            },
            // pendulum's properties.
            "day_of_week" if self.pendulum => J::from(l.weekday().num_days_from_monday()),
            "day_of_year" if self.pendulum => J::from(l.ordinal()),
            "days_in_month" if self.pendulum => J::from(days_in_month(l.year(), l.month())),
            "week_of_year" if self.pendulum => J::from(l.iso_week().week()),
            "week_of_month" if self.pendulum => {
                let first = l.date().with_day(1).map_or(0, |d| d.iso_week().week());
                let this = l.iso_week().week();
                J::from(if this >= first {
                    this - first + 1
                } else {
                    this + 1
                })
            }
            "quarter" if self.pendulum => J::from(l.month0() / 3 + 1),
            "int_timestamp" if self.pendulum => J::from(self.utc().and_utc().timestamp()),
            "float_timestamp" if self.pendulum => J::from(self.timestamp()),
            "timezone_name" | "tzname" if self.pendulum => J::from(self.zone.map(|z| z.0.name())),
            "offset" if self.pendulum => J::from(self.zone.map_or(0, |z| z.1.local_minus_utc())),
            "offset_hours" if self.pendulum => {
                J::from(f64::from(self.zone.map_or(0, |z| z.1.local_minus_utc())) / 3600.0)
            }
            _ => return None,
        };
        Some(v)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[J],
    ) -> Result<J, Error> {
        let a = PyArgs::new(method, args)?;
        let l = self.local;
        let p = self.pendulum;
        let r = match method {
            "strftime" => {
                let f = a.req_str(0, "format")?;
                a.done(1)?;
                J::from(self.strftime(&f))
            }
            "isoformat" => {
                let sep = a.str(0, "sep")?.unwrap_or_else(|| "T".to_owned());
                let _ = a.kw("timespec");
                a.done(2)?;
                J::from(self.isoformat(&sep))
            }
            "date" => J::from_object(PyDate(l.date())),
            "time" => J::from(l.time().format("%H:%M:%S").to_string()),
            "timestamp" => J::from(self.timestamp()),
            "weekday" => J::from(l.weekday().num_days_from_monday()),
            "isoweekday" => J::from(l.weekday().number_from_monday()),
            "toordinal" => J::from(l.date().num_days_from_ce()),
            "ctime" => J::from(self.strftime("%a %b %e %H:%M:%S %Y")),
            "utcoffset" => match self.zone {
                Some((_, o)) => {
                    J::from_object(TimeDelta(i64::from(o.local_minus_utc()) * US_PER_SEC, None))
                }
                None => J::from(()),
            },
            "tzname" => J::from(self.zone.map(|z| z.0.abbreviation(self.utc()))),
            "replace" => J::from_object(self.replace(&a)?),
            "astimezone" => {
                let z = match a.get(0, "tz") {
                    Some(v) => zone_arg(&v)?,
                    None => return Err(type_error("astimezone() needs a time zone in templates")),
                };
                a.done(1)?;
                J::from_object(self.in_timezone(z))
            }
            "add" if p => J::from_object(self.pendulum_add(&a, 1)?),
            "subtract" if p => J::from_object(self.pendulum_add(&a, -1)?),
            "in_timezone" | "in_tz" | "set_tz" if p => {
                let z = zone_arg(
                    &a.get(0, "tz")
                        .ok_or_else(|| type_error("in_timezone() missing 'tz'"))?,
                )?;
                a.done(1)?;
                J::from_object(self.in_timezone(z))
            }
            "start_of" | "end_of" if p => {
                let unit = a.req_str(0, "unit")?;
                a.done(1)?;
                J::from_object(self.boundary(&unit, method == "end_of")?)
            }
            "naive" if p => J::from_object(PyDateTime {
                zone: None,
                ..**self
            }),
            "on" if p => {
                let d = make_local(
                    a.int(0, "year")?.unwrap_or(i64::from(l.year())),
                    a.int(1, "month")?.unwrap_or(i64::from(l.month())),
                    a.int(2, "day")?.unwrap_or(i64::from(l.day())),
                    i64::from(l.hour()),
                    i64::from(l.minute()),
                    i64::from(l.second()),
                    i64::from(l.nanosecond() / 1000),
                )?;
                J::from_object(self.with_local(d)?)
            }
            "at" if p => {
                let d = make_local(
                    i64::from(l.year()),
                    i64::from(l.month()),
                    i64::from(l.day()),
                    a.int(0, "hour")?.unwrap_or(0),
                    a.int(1, "minute")?.unwrap_or(0),
                    a.int(2, "second")?.unwrap_or(0),
                    a.int(3, "microsecond")?.unwrap_or(0),
                )?;
                J::from_object(self.with_local(d)?)
            }
            "format" if p => {
                let f = a.req_str(0, "fmt")?;
                J::from(pendulum_format(self, &f))
            }
            "to_date_string" if p => J::from(l.format("%Y-%m-%d").to_string()),
            "to_time_string" if p => J::from(l.format("%H:%M:%S").to_string()),
            "to_datetime_string" if p => J::from(l.format("%Y-%m-%d %H:%M:%S").to_string()),
            "to_iso8601_string" if p => {
                let s = self.isoformat("T");
                J::from(if s.ends_with("+00:00") {
                    format!("{}Z", &s[..s.len() - 6])
                } else {
                    s
                })
            }
            "to_rfc3339_string" | "to_atom_string" if p => J::from(self.isoformat("T")),
            "is_leap_year" if p => J::from(NaiveDate::from_ymd_opt(l.year(), 2, 29).is_some()),
            "diff" if p => {
                let other = a
                    .get(0, "dt")
                    .and_then(|v| as_dt(&v))
                    .ok_or_else(|| type_error("diff() needs a datetime in templates"))?;
                let us = (other.utc() - self.utc())
                    .num_microseconds()
                    .ok_or_else(overflow)?;
                let abs = a.get(1, "abs").is_none_or(|v| v.is_true());
                J::from_object(TimeDelta(if abs { us.abs() } else { us }, None))
            }
            _ => return Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        };
        Ok(r)
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let o = other.downcast_ref::<PyDateTime>()?;
        if self.zone.is_some() != o.zone.is_some() {
            return None;
        }
        Some(self.utc().cmp(&o.utc()))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.isoformat(" "))
    }
}

/// A value's Python `repr()`, for values printed inside a list or a dict.
pub(crate) fn py_repr(v: &J) -> Option<String> {
    if let Some(d) = as_dt(v) {
        return Some(d.repr());
    }
    if let Some(d) = as_date(v) {
        return Some(format!(
            "datetime.date({}, {}, {})",
            d.0.year(),
            d.0.month(),
            d.0.day()
        ));
    }
    if let Some(t) = as_td(v) {
        let (days, secs, us) = t.parts();
        let mut parts = Vec::new();
        for (n, x) in [("days", days), ("seconds", secs), ("microseconds", us)] {
            if x != 0 {
                parts.push(format!("{n}={x}"));
            }
        }
        if parts.is_empty() {
            parts.push("0".to_owned());
        }
        return Some(format!("datetime.timedelta({})", parts.join(", ")));
    }
    None
}

impl Object for PyDate {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        Some(match key.as_str()? {
            "year" => J::from(self.0.year()),
            "month" => J::from(self.0.month()),
            "day" => J::from(self.0.day()),
            _ => return None,
        })
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[J],
    ) -> Result<J, Error> {
        let a = PyArgs::new(method, args)?;
        let d = self.0;
        Ok(match method {
            "strftime" => {
                let f = a.req_str(0, "format")?;
                a.done(1)?;
                J::from(strftime(d.and_time(NaiveTime::MIN), None, None, &f))
            }
            "isoformat" | "to_date_string" => J::from(d.format("%Y-%m-%d").to_string()),
            "weekday" => J::from(d.weekday().num_days_from_monday()),
            "isoweekday" => J::from(d.weekday().number_from_monday()),
            "toordinal" => J::from(d.num_days_from_ce()),
            "replace" => {
                let l = make_local(
                    a.int(0, "year")?.unwrap_or(i64::from(d.year())),
                    a.int(1, "month")?.unwrap_or(i64::from(d.month())),
                    a.int(2, "day")?.unwrap_or(i64::from(d.day())),
                    0,
                    0,
                    0,
                    0,
                )?;
                a.done(3)?;
                J::from_object(PyDate(l.date()))
            }
            "add" | "subtract" => {
                let sign = if method == "add" { 1 } else { -1 };
                let n = |k: &str| a.kw(k).as_ref().and_then(to_int).unwrap_or(0);
                let moved = add_months(
                    d.and_time(NaiveTime::MIN),
                    sign * (n("years") * 12 + n("months")),
                )?;
                return date_plus_days(PyDate(moved.date()), sign * (n("weeks") * 7 + n("days")));
            }
            _ => return Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        })
    }
    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some(self.0.cmp(&other.downcast_ref::<PyDate>()?.0))
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Object for TimeDelta {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        let (days, secs, us) = self.parts();
        Some(match key.as_str()? {
            "days" => J::from(days),
            "seconds" => J::from(secs),
            "microseconds" => J::from(us),
            _ => return None,
        })
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        _args: &[J],
    ) -> Result<J, Error> {
        let t = self.0;
        Ok(match method {
            "total_seconds" => J::from(self.total_seconds()),
            "in_seconds" => J::from(t / US_PER_SEC),
            "in_minutes" => J::from(t / (60 * US_PER_SEC)),
            "in_hours" => J::from(t / (3600 * US_PER_SEC)),
            "in_days" => J::from(t / US_PER_DAY),
            "in_weeks" => J::from(t / (7 * US_PER_DAY)),
            _ => return Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        })
    }
    fn is_true(self: &Arc<Self>) -> bool {
        self.0 != 0
    }
    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some(self.0.cmp(&other.downcast_ref::<TimeDelta>()?.0))
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some((a, b)) => write!(
                f,
                "<Interval [{} -> {}]>",
                a.isoformat(" "),
                b.isoformat(" ")
            ),
            None => write!(f, "{self}"),
        }
    }
}

impl Object for RelativeDelta {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        Some(match key.as_str()? {
            "years" => J::from(self.years),
            "months" => J::from(self.months),
            "days" => J::from(self.days),
            "weeks" => J::from(self.days / 7),
            "hours" => J::from(self.hours),
            "minutes" => J::from(self.minutes),
            "seconds" => J::from(self.seconds),
            "microseconds" => J::from(self.microseconds),
            _ => return None,
        })
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Object for Weekday {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &J) -> Option<J> {
        Some(match key.as_str()? {
            "weekday" => J::from(self.wd),
            "n" => J::from(self.n),
            _ => return None,
        })
    }
    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[J]) -> Result<J, Error> {
        let a = PyArgs::new(WEEKDAYS[self.wd as usize % 7], args)?;
        let n = a.int(0, "n")?;
        a.done(1)?;
        Ok(J::from_object(Weekday { wd: self.wd, n }))
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&weekday_str(self))
    }
}

/// The weekday constants `MO` .. `SU`.
pub(crate) fn weekdays() -> impl Iterator<Item = (&'static str, J)> {
    WEEKDAYS.iter().enumerate().map(|(i, n)| {
        (
            *n,
            J::from_object(Weekday {
                wd: i as u32,
                n: None,
            }),
        )
    })
}
