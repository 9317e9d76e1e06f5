//! Times as the API writes them: as Airflow writes them (`2026-11-27T10:00:00+00:00`,
//! with microseconds when there are any). They are read in any RFC 3339 form.

use chrono::{DateTime, Utc};
use serde::Serializer;

/// A time as the API writes it, without chrono's format-string interpreter, which took
/// ~15% of the scheduler's CPU while the API answered lists of runs and DAGs under load
/// (bench/load). Years outside 0-9999 and leap seconds take chrono's formatter.
pub fn iso_string(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike as _, Timelike as _};
    use std::fmt::Write as _;
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return if t.timestamp_subsec_micros() == 0 {
            t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
        } else {
            t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
        };
    }
    let mut out = String::with_capacity(32);
    let _ = write!(
        out,
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let micros = nanos / 1000;
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
    out.push_str("+00:00");
    out
}

/// `serialize_with` for a time.
pub(crate) fn iso<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso_string(t))
}

/// `serialize_with` for an optional time (null when absent).
pub(crate) fn iso_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => iso(t, s),
        None => s.serialize_none(),
    }
}
