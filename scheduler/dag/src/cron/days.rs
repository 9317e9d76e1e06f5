//! croniter's day extensions (`L`, `W`, `#`) and the tick search they need.
//!
//! The `cron` crate (0.17) has none of them, so an expression that uses one is searched
//! here, a day at a time on naive wall-clock times, with croniter 7's semantics
//! (`croniter/croniter.py`, `_expand` and `_calc`):
//!
//! - day of month `L`: the last day of the month (also as a range's end, `15-L`);
//! - day of month `15W` (or `W15`): the weekday nearest the 15th, never leaving the
//!   month (the 1st on a Saturday gives Monday the 3rd; a day past the month's end is
//!   its last day); `W` stands alone in its field;
//! - day of week `L5`: the last Friday of the month (croniter writes `L` first; Quartz's
//!   `5L` is not croniter's and is refused with a hint);
//! - day of week `1#2` (also `mon#2`, `mon-fri#1`): the second Monday; `#` and `L`
//!   items cannot be mixed with plain days of the week.
//!
//! When both day fields are restricted croniter ORs them, but `W` and `#`/`L` are not
//! carried by the fields it blanks for the OR (`_calc_next`): each side keeps them, so a
//! day matches when `(day-of-month AND nth-weekday) OR (nearest-weekday AND
//! day-of-week)`, a missing extension counting as true. Without extensions that is the
//! plain OR; `0 0 1 * 5#1` is every first Friday (the 1st alone does not fire), and
//! `0 0 15 * fri#2` never fires (croniter raises because one side never matches).

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// Which occurrence of a weekday in its month: the 1st to the 5th, or the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Nth {
    /// The n-th (1–5).
    Nth(u8),
    /// The last (`L5`).
    Last,
}

/// The day rules of an expression: the plain sets and croniter's extensions.
#[derive(Debug, Clone, Default)]
pub(super) struct Days {
    /// Plain days of the month (1–31).
    pub(super) dom: BTreeSet<u8>,
    /// `L` in the day-of-month field.
    pub(super) last_day: bool,
    /// `nW`: the weekday nearest day n.
    pub(super) nearest_weekday: Option<u8>,
    /// Plain days of the week (0–6, Sunday 0), without the `#`/`L` ones.
    pub(super) dow: BTreeSet<u8>,
    /// `d#n` and `Ld`: weekday (0–6) and which of its occurrences.
    pub(super) nth: BTreeSet<(u8, Nth)>,
    /// The day-of-month field is not `*`.
    pub(super) dom_restricted: bool,
    /// The day-of-week field is not `*`.
    pub(super) dow_restricted: bool,
}

impl Days {
    /// Whether the expression uses an extension the `cron` crate lacks.
    pub(super) fn extended(&self) -> bool {
        self.last_day || self.nearest_weekday.is_some() || !self.nth.is_empty()
    }

    /// Whether `d` is one of the expression's days (months aside).
    pub(super) fn matches(&self, d: NaiveDate) -> bool {
        match (self.dom_restricted, self.dow_restricted) {
            (false, false) => true,
            (true, false) => self.dom_side(d),
            (false, true) => self.dow_side(d),
            (true, true) => {
                let t1 = self.dom_side(d) && (self.nth.is_empty() || self.nth_matches(d));
                let t2 =
                    self.nearest_weekday.is_none_or(|w| nearest_weekday(d, w)) && self.dow_side(d);
                t1 || t2
            }
        }
    }

    /// Whether croniter raises instead of firing: both day fields restricted with an
    /// extension, and one side of its OR (see the module's doc) never matching in
    /// `months`. Every month's days and weekdays repeat within any 28 consecutive
    /// years that skip no leap year.
    pub(super) fn one_side_never_fires(&self, months: &BTreeSet<u8>) -> bool {
        if !(self.dom_restricted && self.dow_restricted)
            || (self.nth.is_empty() && self.nearest_weekday.is_none())
        {
            return false;
        }
        let (mut t1, mut t2) = (false, false);
        for d in days_of(2001..=2028, months) {
            t1 |= self.dom_side(d) && (self.nth.is_empty() || self.nth_matches(d));
            t2 |= self.nearest_weekday.is_none_or(|w| nearest_weekday(d, w)) && self.dow_side(d);
            if t1 && t2 {
                return false;
            }
        }
        true
    }

    /// Whether any day in `months` matches (in any year).
    pub(super) fn can_fire(&self, months: &BTreeSet<u8>) -> bool {
        days_of(2001..=2028, months).any(|d| self.matches(d))
    }

    fn dom_side(&self, d: NaiveDate) -> bool {
        let day = u8::try_from(d.day()).unwrap_or(0);
        self.dom.contains(&day)
            || (self.last_day && day == last_day_of_month(d))
            || self.nearest_weekday.is_some_and(|w| nearest_weekday(d, w))
    }

    fn dow_side(&self, d: NaiveDate) -> bool {
        if self.nth.is_empty() {
            self.dow.contains(&weekday(d))
        } else {
            self.nth_matches(d)
        }
    }

    fn nth_matches(&self, d: NaiveDate) -> bool {
        let wd = weekday(d);
        let occurrence = u8::try_from((d.day() - 1) / 7 + 1).unwrap_or(0);
        let last = d.day() + 7 > u32::from(last_day_of_month(d));
        self.nth
            .iter()
            .any(|&(w, n)| w == wd && (n == Nth::Nth(occurrence) || (n == Nth::Last && last)))
    }
}

/// Sunday 0 to Saturday 6, as cron counts.
fn weekday(d: NaiveDate) -> u8 {
    u8::try_from(d.weekday().num_days_from_sunday()).unwrap_or(0)
}

fn last_day_of_month(d: NaiveDate) -> u8 {
    let (y, m) = (d.year(), d.month());
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.and_then(|n| n.pred_opt())
        .map_or(28, |l| u8::try_from(l.day()).unwrap_or(28))
}

/// Whether `d` is the weekday nearest day `w` of its month (croniter's
/// `_get_nearest_weekday`).
fn nearest_weekday(d: NaiveDate, w: u8) -> bool {
    let last = last_day_of_month(d);
    let day = w.min(last);
    let Some(target) = d.with_day(u32::from(day)) else {
        return false;
    };
    let nearest = match weekday(target) {
        6 if day > 1 => day - 1,
        6 => day + 2,
        0 if day < last => day + 1,
        0 => day - 2,
        _ => day,
    };
    u32::from(nearest) == d.day()
}

/// Every day of the years `years` in `months`.
fn days_of(
    years: std::ops::RangeInclusive<i32>,
    months: &BTreeSet<u8>,
) -> impl Iterator<Item = NaiveDate> + '_ {
    years.flat_map(move |y| {
        months.iter().flat_map(move |&m| {
            (1..=31u32).filter_map(move |day| NaiveDate::from_ymd_opt(y, u32::from(m), day))
        })
    })
}

/// How many days the search walks before giving up: 401 years. A valid expression
/// fires at least every 28 years (one side of it fires in every cycle of the
/// calendar's 14 kinds of year), so this is never reached.
const MAX_DAYS: u32 = 401 * 366;

/// The tick search over naive wall-clock times, for expressions the `cron` crate
/// cannot hold. `months`, `hours` and `minutes` are the plain fields.
pub(super) struct Walk<'a> {
    pub(super) days: &'a Days,
    pub(super) months: &'a BTreeSet<u8>,
    pub(super) hours: &'a BTreeSet<u8>,
    pub(super) minutes: &'a BTreeSet<u8>,
}

impl Walk<'_> {
    fn day_fires(&self, d: NaiveDate) -> bool {
        u8::try_from(d.month()).is_ok_and(|m| self.months.contains(&m)) && self.days.matches(d)
    }

    /// croniter's `get_next`: the first tick strictly after `naive`.
    pub(super) fn after(&self, naive: NaiveDateTime) -> Option<NaiveDateTime> {
        let from = naive.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let mut day = from.date();
        let mut floor = Some((from.hour(), from.minute()));
        for _ in 0..MAX_DAYS {
            if self.day_fires(day)
                && let Some((h, m)) = self.first_time(floor)
            {
                return Some(day.and_time(NaiveTime::from_hms_opt(h, m, 0)?));
            }
            day = day.succ_opt()?;
            floor = None;
        }
        None
    }

    /// croniter's `get_prev`: the last tick strictly before `naive`.
    pub(super) fn before(&self, naive: NaiveDateTime) -> Option<NaiveDateTime> {
        let to = naive - Duration::nanoseconds(1);
        let mut day = to.date();
        let mut ceiling = Some((to.hour(), to.minute()));
        for _ in 0..MAX_DAYS {
            if self.day_fires(day)
                && let Some((h, m)) = self.last_time(ceiling)
            {
                return Some(day.and_time(NaiveTime::from_hms_opt(h, m, 0)?));
            }
            day = day.pred_opt()?;
            ceiling = None;
        }
        None
    }

    /// The first (hour, minute) of a day at or after `floor` (None: the whole day).
    fn first_time(&self, floor: Option<(u32, u32)>) -> Option<(u32, u32)> {
        let (fh, fm) = floor.unwrap_or((0, 0));
        for &h in self.hours.range(u8::try_from(fh).ok()?..) {
            let h = u32::from(h);
            let from_minute = if h == fh { fm } else { 0 };
            if let Some(&m) = self.minutes.range(u8::try_from(from_minute).ok()?..).next() {
                return Some((h, u32::from(m)));
            }
        }
        None
    }

    /// The last (hour, minute) of a day at or before `ceiling` (None: the whole day).
    fn last_time(&self, ceiling: Option<(u32, u32)>) -> Option<(u32, u32)> {
        let (ch, cm) = ceiling.unwrap_or((23, 59));
        for &h in self.hours.range(..=u8::try_from(ch).ok()?).rev() {
            let h = u32::from(h);
            let to_minute = if h == ch { cm } else { 59 };
            if let Some(&m) = self
                .minutes
                .range(..=u8::try_from(to_minute).ok()?)
                .next_back()
            {
                return Some((h, u32::from(m)));
            }
        }
        None
    }
}
