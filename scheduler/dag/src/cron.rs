//! Airflow's cron schedules: 5-field expressions as croniter reads them, and Airflow's
//! presets. Pure: no clock, no IO.
//!
//! The `cron` crate wants a seconds field, counts days of the week 1–7 from Sunday and
//! ANDs a restricted day-of-month with a restricted day-of-week. croniter (and so
//! Airflow) counts 0–7 from Sunday and ORs the two day fields when both are restricted,
//! as standard cron does. [`CronExpr`] parses croniter's grammar itself and builds the
//! equivalent `cron::Schedule`s: one, or two whose union is the OR.
//!
//! croniter's day extensions (`L`, `W`, `#`), which the `cron` crate lacks, are
//! searched by the `days` module instead.

mod days;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;

use days::{Days, Nth, Walk};

/// Airflow's cron presets (`airflow/utils/dates.py`), the same in Airflow 2 and 3.
pub const PRESETS: &[(&str, &str)] = &[
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@quarterly", "0 0 1 */3 *"),
    ("@yearly", "0 0 1 1 *"),
];

/// Aliases croniter itself understands, which Airflow passes through to it.
pub const CRONITER_ALIASES: &[(&str, &str)] =
    &[("@annually", "0 0 1 1 *"), ("@midnight", "0 0 * * *")];

/// The expansion of a preset (Airflow's or croniter's), if `name` is one.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .chain(CRONITER_ALIASES)
        .find(|(n, _)| *n == name)
        .map(|(_, e)| *e)
}

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct FieldSpec {
    name: &'static str,
    min: u8,
    max: u8,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    FieldSpec {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    FieldSpec {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: DAYS,
    },
];

/// A parsed 5-field cron expression.
#[derive(Debug, Clone)]
pub struct CronExpr {
    fields: [BTreeSet<u8>; 5],
    dom_restricted: bool,
    dow_restricted: bool,
    /// The day rules, with croniter's extensions.
    days: Days,
    /// Empty when the expression uses an extension: [`CronExpr::tick_after`] then walks.
    schedules: Vec<cron::Schedule>,
}

impl CronExpr {
    /// The `cron` crate schedules whose union is this expression's set of ticks; empty
    /// when the expression uses croniter's `L`, `W` or `#`, which the crate lacks (use
    /// [`CronExpr::walk_after`] and [`CronExpr::walk_before`] for those).
    pub fn schedules(&self) -> &[cron::Schedule] {
        &self.schedules
    }

    /// Whether the expression uses croniter's `L`, `W` or `#`.
    pub fn extended(&self) -> bool {
        self.days.extended()
    }

    fn walk(&self) -> Walk<'_> {
        Walk {
            days: &self.days,
            months: &self.fields[3],
            hours: &self.fields[1],
            minutes: &self.fields[0],
        }
    }

    /// croniter's `get_next` on a naive wall-clock time, searched a day at a time
    /// (any expression; the timetables use it for extended ones).
    pub fn walk_after(&self, naive: NaiveDateTime) -> Option<NaiveDateTime> {
        self.walk().after(naive)
    }

    /// croniter's `get_prev` on a naive wall-clock time, searched a day at a time.
    pub fn walk_before(&self, naive: NaiveDateTime) -> Option<NaiveDateTime> {
        self.walk().before(naive)
    }

    /// Whether the day fields combine with OR (both restricted), as in standard cron.
    pub fn days_ored(&self) -> bool {
        self.dom_restricted && self.dow_restricted
    }

    /// The minutes (0–59) this expression fires at.
    pub fn minutes(&self) -> &BTreeSet<u8> {
        &self.fields[0]
    }

    /// The hours (0–23) this expression fires at.
    pub fn hours(&self) -> &BTreeSet<u8> {
        &self.fields[1]
    }
}

impl FromStr for CronExpr {
    type Err = CronError;

    fn from_str(expr: &str) -> Result<Self, CronError> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(CronError(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) or a preset, found {} field{}",
                parts.len(),
                if parts.len() == 1 { "" } else { "s" }
            )));
        }
        let mut fields: [BTreeSet<u8>; 5] = Default::default();
        let mut days = Days::default();
        for (i, (part, spec)) in parts.iter().zip(FIELDS.iter()).enumerate() {
            fields[i] = match i {
                2 => parse_day_of_month(part, &mut days)?,
                4 => parse_day_of_week(part, &mut days)?,
                _ => parse_field(part, spec)?,
            };
        }
        // Day-of-week 7 is Sunday, like 0.
        if fields[4].remove(&7) {
            fields[4].insert(0);
        }
        let unrestricted = |p: &str| p == "*" || p == "?";
        let dom_restricted = !unrestricted(parts[2]);
        let dow_restricted = !unrestricted(parts[4]);
        days.dom = fields[2].clone();
        days.dow = fields[4].clone();
        days.dom_restricted = dom_restricted;
        days.dow_restricted = dow_restricted;
        if days.extended() {
            if days.one_side_never_fires(&fields[3]) {
                return Err(CronError(
                    "this schedule never fires as croniter (Airflow) reads it: with both day fields restricted, `W`, `#` and `L<weekday>` stay on both sides of the OR, and one side never matches".to_owned(),
                ));
            }
            if !days.can_fire(&fields[3]) {
                return Err(CronError(
                    "this schedule never fires: no month has the days it names".to_owned(),
                ));
            }
            return Ok(CronExpr {
                fields,
                dom_restricted,
                dow_restricted,
                days,
                schedules: Vec::new(),
            });
        }
        // A full field is written `*`: the `cron` crate parses it far faster than a list.
        let list = |set: &BTreeSet<u8>, spec: &FieldSpec, shift: u8| {
            let full = (spec.min..=spec.max.min(if shift == 1 { 6 } else { spec.max }))
                .all(|v| set.contains(&v));
            if full {
                return "*".to_owned();
            }
            set.iter()
                .map(|v| (v + shift).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let (min, hour, dom, month, dow) = (
            list(&fields[0], &FIELDS[0], 0),
            list(&fields[1], &FIELDS[1], 0),
            list(&fields[2], &FIELDS[2], 0),
            list(&fields[3], &FIELDS[3], 0),
            list(&fields[4], &FIELDS[4], 1),
        );
        let build = |dom: &str, dow: &str| {
            cron::Schedule::from_str(&format!("0 {min} {hour} {dom} {month} {dow}"))
                .map_err(|e| CronError(format!("cannot build the schedule: {e}")))
        };
        let schedules = if dom_restricted && dow_restricted {
            vec![build(&dom, "*")?, build("*", &dow)?]
        } else if dow_restricted {
            vec![build("*", &dow)?]
        } else {
            vec![build(&dom, "*")?]
        };
        let parsed = CronExpr {
            fields,
            dom_restricted,
            dow_restricted,
            days,
            schedules,
        };
        if !parsed.can_fire() {
            return Err(CronError(
                "this schedule never fires: no month has the days it names".to_owned(),
            ));
        }
        Ok(parsed)
    }
}

impl CronExpr {
    /// Whether some month has one of the named days. (The day-of-week schedule always
    /// fires; only an impossible day-of-month and month combination never does.)
    fn can_fire(&self) -> bool {
        if self.dow_restricted {
            return true;
        }
        const DAYS_IN_MONTH: [u8; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let first_day = self.fields[2].iter().next().copied().unwrap_or(1);
        self.fields[3]
            .iter()
            .any(|&m| first_day <= DAYS_IN_MONTH[usize::from(m - 1)])
    }
}

/// The day-of-month field with croniter's `L` (last day, also `15-L`) and `W` (`15W` or
/// `W15`, alone in the field).
fn parse_day_of_month(text: &str, days: &mut Days) -> Result<BTreeSet<u8>, CronError> {
    let spec = &FIELDS[2];
    let items: Vec<&str> = text.split(',').collect();
    let mut out = BTreeSet::new();
    for item in &items {
        let lower = item.to_ascii_lowercase();
        if lower == "l" {
            days.last_day = true;
            continue;
        }
        let w_day = lower
            .strip_suffix('w')
            .or_else(|| lower.strip_prefix('w'))
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        if let Some(d) = w_day {
            if items.len() > 1 {
                return Err(CronError(format!(
                    "{item:?} in the day-of-month field: `W` takes a single day, not a list (croniter refuses {text:?})"
                )));
            }
            let d: u8 = d.parse().unwrap_or(0);
            if !(1..=31).contains(&d) {
                return Err(CronError(format!(
                    "{item:?} in the day-of-month field: the day before `W` must be 1-31"
                )));
            }
            days.nearest_weekday = Some(d);
            continue;
        }
        // `15-L` is `15-31` (croniter reads the L at the end of a range as 31).
        let item = match lower.strip_suffix("-l") {
            Some(start) if !start.is_empty() => format!("{start}-31"),
            _ => (*item).to_owned(),
        };
        out.extend(parse_field(&item, spec)?);
    }
    Ok(out)
}

/// The day-of-week field with croniter's `L5` (the last Friday) and `1#2` (the second
/// Monday; also `mon#2` and `mon-fri#1`), which cannot be mixed with plain days.
fn parse_day_of_week(text: &str, days: &mut Days) -> Result<BTreeSet<u8>, CronError> {
    let spec = &FIELDS[4];
    let mut out = BTreeSet::new();
    let mut plain = false;
    let sunday = |v: u8| if v == 7 { 0 } else { v };
    for item in text.split(',') {
        let lower = item.to_ascii_lowercase();
        if let Some(d) = lower
            .strip_prefix('l')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        {
            let v = sunday(value(d, spec)?);
            days.nth.insert((v, Nth::Last));
            out.insert(v);
            continue;
        }
        if let Some((weekdays, n)) = lower.split_once('#') {
            let n: u8 = n
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| {
                    CronError(format!(
                        "{item:?} in the day-of-week field: the number after `#` must be 1-5"
                    ))
                })?;
            if weekdays.contains(['/', '*']) {
                return Err(CronError(format!(
                    "{item:?} in the day-of-week field: `#` follows a day or a range of days"
                )));
            }
            for v in parse_field(weekdays, spec)? {
                let v = sunday(v);
                days.nth.insert((v, Nth::Nth(n)));
                out.insert(v);
            }
            continue;
        }
        if let Some(d) = lower
            .strip_suffix('l')
            .filter(|d| !d.is_empty() && !d.contains('-'))
        {
            return Err(CronError(format!(
                "{item:?} in the day-of-week field: croniter (and so Airflow) writes the last such weekday of the month as \"L{d}\", with the L first"
            )));
        }
        plain = true;
        out.extend(parse_field(item, spec)?.into_iter().map(sunday));
    }
    if plain && !days.nth.is_empty() {
        return Err(CronError(format!(
            "{text:?} in the day-of-week field: plain days of the week cannot be mixed with `#` or `L` days (croniter refuses it)"
        )));
    }
    Ok(out)
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<BTreeSet<u8>, CronError> {
    let mut out = BTreeSet::new();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(CronError(format!(
                "empty item in the {} field {text:?}",
                spec.name
            )));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u8 = s.parse().map_err(|_| {
                    CronError(format!(
                        "step {s:?} in the {} field is not a number",
                        spec.name
                    ))
                })?;
                if step == 0 {
                    return Err(CronError(format!("step 0 in the {} field", spec.name)));
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, spec)?, value(b, spec)?);
            if a > b {
                return Err(CronError(format!(
                    "range {range:?} in the {} field runs backwards ({a} > {b})",
                    spec.name
                )));
            }
            (a, b)
        } else {
            let v = value(range, spec)?;
            // croniter reads `5/15` as `5-max/15`.
            (v, if item.contains('/') { spec.max } else { v })
        };
        out.extend((lo..=hi).step_by(usize::from(step)));
    }
    Ok(out)
}

fn value(text: &str, spec: &FieldSpec) -> Result<u8, CronError> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = spec.names.iter().position(|n| *n == lower) {
        let first = if spec.names.len() == 12 { 1 } else { 0 };
        return Ok(u8::try_from(i).unwrap_or(0) + first);
    }
    if text.contains(['L', 'W', '#', 'l', 'w']) {
        return Err(CronError(format!(
            "{text:?} in the {} field: croniter's L, W and # are written `L`, `15W` or `15-L` in the day-of-month field and `L5` or `1#2` alone in the day-of-week field",
            spec.name
        )));
    }
    let v: u32 = text.parse().map_err(|_| {
        let names = if spec.names.is_empty() {
            String::new()
        } else {
            format!(" or a name ({})", spec.names.join(", "))
        };
        CronError(format!(
            "{text:?} in the {} field is not a number{names}",
            spec.name
        ))
    })?;
    if v < u32::from(spec.min) || v > u32::from(spec.max) {
        return Err(CronError(format!(
            "{v} is out of range for the {} field ({}-{})",
            spec.name, spec.min, spec.max
        )));
    }
    Ok(u8::try_from(v).unwrap_or(spec.max))
}

#[cfg(test)]
mod croniter_cases;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn next(expr: &str, after: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
        let c: CronExpr = expr.parse().expect("valid");
        c.schedules()
            .iter()
            .filter_map(|s| s.after(&after).next())
            .min()
            .expect("fires")
    }

    #[test]
    fn presets_expand_as_in_airflow() {
        assert_eq!(preset("@quarterly"), Some("0 0 1 */3 *"));
        assert_eq!(preset("@annually"), Some("0 0 1 1 *"));
        assert_eq!(preset("@midnight"), Some("0 0 * * *"));
        assert_eq!(preset("@fortnightly"), None);
        for (_, e) in PRESETS {
            assert!(e.parse::<CronExpr>().is_ok(), "{e}");
        }
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
            .single()
            .expect("valid"); // a Wednesday
        let sunday = Utc
            .with_ymd_and_hms(2026, 11, 29, 0, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(next("0 0 * * 0", t), sunday);
        assert_eq!(next("0 0 * * 7", t), sunday);
        assert_eq!(next("0 0 * * SUN", t), sunday);
    }

    #[test]
    fn restricted_day_fields_combine_with_or() {
        // The 1st of the month OR any Friday: after Wed 2026-11-25 comes Fri 11-27.
        let t = Utc
            .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(
            next("0 0 1 * 5", t),
            Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0)
                .single()
                .expect("valid")
        );
        assert!("0 0 1 * 5".parse::<CronExpr>().expect("valid").days_ored());
    }

    #[test]
    fn steps_and_ranges() {
        let c: CronExpr = "5/15 8-10 * * *".parse().expect("valid");
        assert_eq!(
            c.minutes().iter().copied().collect::<Vec<_>>(),
            vec![5, 20, 35, 50]
        );
        assert_eq!(
            c.hours().iter().copied().collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
    }

    #[test]
    fn errors_say_which_field_and_why() {
        let err = |e: &str| e.parse::<CronExpr>().expect_err("invalid").to_string();
        assert_eq!(
            err("61 * * * *"),
            "61 is out of range for the minute field (0-59)"
        );
        assert_eq!(
            err("* * *"),
            "expected 5 fields (minute hour day-of-month month day-of-week) or a preset, found 3 fields"
        );
        assert_eq!(
            err("0 0 31 2 *"),
            "this schedule never fires: no month has the days it names"
        );
        assert_eq!(err("*/0 * * * *"), "step 0 in the minute field");
        assert_eq!(
            err("0 0 * foo *"),
            "\"foo\" in the month field is not a number or a name (jan, feb, mar, apr, may, jun, jul, aug, sep, oct, nov, dec)"
        );
    }
}
