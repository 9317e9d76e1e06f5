//! Dates to and from text: pendulum's `format`, Python's `strptime` and ISO 8601, and
//! the constructors macros use (`datetime(...)`, `now()`, `fromtimestamp`).

use chrono::format::StrftimeItems;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc,
};
use minijinja::{Error, Value as J};

use super::*;
use crate::template::pyargs::{PyArgs, type_error, value_error};

/// pendulum's `format` tokens (`YYYY-MM-DD HH:mm:ss`, `[escaped]`), the common ones.
pub(super) fn pendulum_format(d: &PyDateTime, fmt: &str) -> String {
    const TOKENS: &[&str] = &[
        "YYYY", "YY", "Q", "MMMM", "MMM", "MM", "M", "DDDD", "DDD", "DD", "Do", "D", "dddd", "ddd",
        "dd", "d", "E", "HH", "H", "hh", "h", "mm", "m", "ss", "s", "SSSSSS", "SSS", "S", "A", "a",
        "X", "x", "ZZ", "Z", "z", "zz", "W", "w", "WW",
    ];
    let l = d.local;
    let offset = d.zone.map(|z| z.1);
    let mut out = String::new();
    let mut rest = fmt;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[')
            && let Some(end) = inner.find(']')
        {
            out.push_str(&inner[..end]);
            rest = &inner[end + 1..];
            continue;
        }
        let tok = TOKENS
            .iter()
            .filter(|t| rest.starts_with(**t))
            .max_by_key(|t| t.len());
        let Some(tok) = tok else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let h12 = match l.hour() % 12 {
            0 => 12,
            h => h,
        };
        let s = match *tok {
            "YYYY" => format!("{:04}", l.year()),
            "YY" => format!("{:02}", l.year() % 100),
            "Q" => (l.month0() / 3 + 1).to_string(),
            "MMMM" => l.format("%B").to_string(),
            "MMM" => l.format("%b").to_string(),
            "MM" => format!("{:02}", l.month()),
            "M" => l.month().to_string(),
            "DDDD" => format!("{:03}", l.ordinal()),
            "DDD" => l.ordinal().to_string(),
            "DD" => format!("{:02}", l.day()),
            "Do" => {
                let day = l.day();
                let suffix = match (day % 10, day % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                format!("{day}{suffix}")
            }
            "D" => l.day().to_string(),
            "dddd" => l.format("%A").to_string(),
            "ddd" => l.format("%a").to_string(),
            "dd" => l.format("%a").to_string().chars().take(2).collect(),
            "d" => l.weekday().num_days_from_sunday().to_string(),
            "E" => l.weekday().number_from_monday().to_string(),
            "HH" => format!("{:02}", l.hour()),
            "H" => l.hour().to_string(),
            "hh" => format!("{h12:02}"),
            "h" => h12.to_string(),
            "mm" => format!("{:02}", l.minute()),
            "m" => l.minute().to_string(),
            "ss" => format!("{:02}", l.second()),
            "s" => l.second().to_string(),
            "SSSSSS" => format!("{:06}", l.nanosecond() / 1000),
            "SSS" => format!("{:03}", l.nanosecond() / 1_000_000),
            "S" => (l.nanosecond() / 100_000_000).to_string(),
            "A" => if l.hour() < 12 { "AM" } else { "PM" }.to_owned(),
            "a" => if l.hour() < 12 { "am" } else { "pm" }.to_owned(),
            "X" => d.utc().and_utc().timestamp().to_string(),
            "x" => d.utc().and_utc().timestamp_millis().to_string(),
            "ZZ" => offset.map(|o| fmt_offset(o, "")).unwrap_or_default(),
            "Z" => offset.map(|o| fmt_offset(o, ":")).unwrap_or_default(),
            "z" => d.zone.map(|z| z.0.name()).unwrap_or_default(),
            "zz" => d
                .zone
                .map(|z| z.0.abbreviation(d.utc()))
                .unwrap_or_default(),
            "W" | "WW" => format!("{:02}", l.iso_week().week()),
            "w" => l.iso_week().week().to_string(),
            other => other.to_owned(),
        };
        out.push_str(&s);
        rest = &rest[tok.len()..];
    }
    out
}

/// Python's `datetime.strptime(s, fmt)`: a naive datetime (aware with `%z`), with
/// Python's defaults (1900-01-01 00:00) for what the format leaves out.
pub(crate) fn strptime(s: &str, fmt: &str) -> Result<PyDateTime, Error> {
    let mut parsed = chrono::format::Parsed::new();
    // chrono's `%f` reads nanoseconds; Python's reads a fraction of up to 6 digits.
    let chrono_fmt = fmt.replace("%f", "%6f");
    chrono::format::parse(&mut parsed, s, StrftimeItems::new(&chrono_fmt)).map_err(|e| {
        value_error(format!(
            "time data {s:?} does not match format {fmt:?} ({e})"
        ))
    })?;
    let year = parsed.year().unwrap_or(1900);
    let month = parsed.month().unwrap_or(1);
    let day = parsed.day().unwrap_or(1);
    let hour = match (parsed.hour_div_12(), parsed.hour_mod_12()) {
        (Some(d), Some(m)) => d * 12 + m,
        (None, Some(m)) => m,
        _ => 0,
    };
    let local = make_local(
        i64::from(year),
        i64::from(month),
        i64::from(day),
        i64::from(hour),
        i64::from(parsed.minute().unwrap_or(0)),
        i64::from(parsed.second().unwrap_or(0)),
        i64::from(parsed.nanosecond().unwrap_or(0) / 1000),
    )?;
    let zone = parsed.offset().and_then(FixedOffset::east_opt).map(|o| {
        if o.local_minus_utc() == 0 {
            Zone::utc()
        } else {
            Zone::Fixed(o)
        }
    });
    Ok(PyDateTime::from_local(local, zone, false))
}

/// A naive or aware datetime from ISO 8601 text (`fromisoformat`, dateutil's `parse`
/// for the shapes DAGs pass).
pub(crate) fn parse_iso(s: &str) -> Result<PyDateTime, Error> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        let o = *d.offset();
        let zone = if o.local_minus_utc() == 0 {
            Zone::utc()
        } else {
            Zone::Fixed(o)
        };
        return Ok(PyDateTime::from_local(d.naive_local(), Some(zone), false));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(t, f) {
            let o = *d.offset();
            let zone = if o.local_minus_utc() == 0 {
                Zone::utc()
            } else {
                Zone::Fixed(o)
            };
            return Ok(PyDateTime::from_local(d.naive_local(), Some(zone), false));
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y%m%dT%H%M%S",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(PyDateTime::naive(d));
        }
    }
    for f in ["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, f) {
            return Ok(PyDateTime::naive(d.and_time(NaiveTime::MIN)));
        }
    }
    Err(value_error(format!("Invalid isoformat string: {s:?}")))
}

/// The local wall time of `now` in the scheduler's zone as a naive `datetime`
/// (`datetime.now()`), or in UTC (`datetime.utcnow()`).
pub(crate) fn naive_now(now: DateTime<Utc>, offset: FixedOffset) -> PyDateTime {
    PyDateTime::naive(now.naive_utc() + Duration::seconds(i64::from(offset.local_minus_utc())))
}

/// `now` in a zone, as an aware `datetime` (`datetime.now(tz)`).
pub(crate) fn aware_now(now: DateTime<Utc>, zone: Zone) -> PyDateTime {
    PyDateTime::from_utc(now.naive_utc(), zone, false)
}

/// A zone from a template value (`'Asia/Seoul'`, a zone object).
pub(crate) fn zone_of(v: &J) -> Result<Zone, Error> {
    zone_arg(v)
}

/// `datetime(year, month, day, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)`.
pub(crate) fn construct_datetime(args: &[J]) -> Result<PyDateTime, Error> {
    let a = PyArgs::new("datetime", args)?;
    let need = |i: usize, n: &str| -> Result<i64, Error> {
        a.int(i, n)?
            .ok_or_else(|| type_error(format!("datetime() missing required argument '{n}'")))
    };
    let local = make_local(
        need(0, "year")?,
        need(1, "month")?,
        need(2, "day")?,
        a.int(3, "hour")?.unwrap_or(0),
        a.int(4, "minute")?.unwrap_or(0),
        a.int(5, "second")?.unwrap_or(0),
        a.int(6, "microsecond")?.unwrap_or(0),
    )?;
    let zone = match a.get(7, "tzinfo") {
        Some(v) if !v.is_none() => Some(zone_arg(&v)?),
        _ => None,
    };
    let _ = a.kw("fold");
    a.done(8)?;
    Ok(PyDateTime::from_local(local, zone, false))
}

/// A datetime from a POSIX timestamp, naive in `offset`'s wall time or aware in `zone`.
pub(crate) fn from_timestamp(
    ts: f64,
    zone: Option<Zone>,
    offset: FixedOffset,
) -> Result<PyDateTime, Error> {
    let us = (ts * 1e6).round() as i64;
    let utc = DateTime::<Utc>::from_timestamp_micros(us)
        .ok_or_else(overflow)?
        .naive_utc();
    Ok(match zone {
        Some(z) => PyDateTime::from_utc(utc, z, false),
        None => PyDateTime::naive(utc + Duration::seconds(i64::from(offset.local_minus_utc()))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_is_pythons() {
        let l = NaiveDate::from_ymd_opt(2026, 11, 1)
            .and_then(|d| d.and_hms_micro_opt(2, 3, 4, 5))
            .expect("valid");
        let o = FixedOffset::east_opt(0);
        assert_eq!(
            strftime(
                l,
                o,
                Some("UTC"),
                "%Y-%m-%dT%H:%M:%S.%f%z %Z %j %a %-d %q %%"
            ),
            "2026-11-01T02:03:04.000005+0000 UTC 305 Sun 1 %q %"
        );
        assert_eq!(strftime(l, None, None, "%z|%Z|"), "||");
    }

    #[test]
    fn timedelta_prints_as_python() {
        let t = |us: i64| TimeDelta(us, None).to_string();
        assert_eq!(t(US_PER_DAY), "1 day, 0:00:00");
        assert_eq!(t(-US_PER_SEC), "-1 day, 23:59:59");
        assert_eq!(t(300 * US_PER_SEC), "0:05:00");
        assert_eq!(
            t(2 * US_PER_DAY + 3 * 3600 * US_PER_SEC + 6),
            "2 days, 3:00:00.000006"
        );
    }
}
