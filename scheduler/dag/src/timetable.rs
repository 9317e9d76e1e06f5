//! Timetables: when a DAG's runs are created, with Airflow 3's semantics exactly
//! (`airflow/timetables/{trigger,interval,simple,_cron}.py`). Pure: the clock is an
//! argument, nothing here does IO.

use std::collections::HashSet;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Utc,
};
use serde::Serialize;

use crate::cron::CronExpr;
use crate::{Dag, DagTimezone, Schedule, Timetable};

/// A run's data interval, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct DataInterval {
    /// Start (inclusive); the run's logical date.
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
}

/// A run the scheduler would create (Airflow's `DagRunInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DagRunInfo {
    /// When the run may be created and start.
    pub run_after: DateTime<Utc>,
    /// Its data interval.
    pub data_interval: DataInterval,
}

impl DagRunInfo {
    /// The logical date: the start of the data interval.
    pub fn logical_date(&self) -> DateTime<Utc> {
        self.data_interval.start
    }
}

/// Bounds on scheduling (Airflow's `TimeRestriction`); both bounds inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRestriction {
    /// `start_date`.
    pub earliest: Option<DateTime<Utc>>,
    /// `end_date`.
    pub latest: Option<DateTime<Utc>>,
    /// `catchup`.
    pub catchup: bool,
}

impl TimeRestriction {
    /// A DAG's own restriction: its start_date, end_date and catchup.
    pub fn of(dag: &Dag) -> TimeRestriction {
        TimeRestriction {
            earliest: dag.start_date,
            latest: dag.end_date,
            catchup: dag.catchup,
        }
    }
}

/// The next run after `last` (the data interval of the DAG's latest scheduled or
/// backfill run; None if it has none), given the clock reads `now`. None: no more runs
/// (manual-only DAG, `@once` done, past `end_date`).
pub fn next_dagrun_info(
    dag: &Dag,
    last: Option<&DataInterval>,
    restriction: &TimeRestriction,
    now: DateTime<Utc>,
) -> Option<DagRunInfo> {
    match &dag.schedule {
        // Asset schedules have no time-based runs (`AssetTriggeredTimetable`).
        None | Some(Schedule::Assets(_)) => None,
        Some(Schedule::Once) => once_next(last, restriction, now),
        Some(Schedule::Continuous) => continuous_next(last, restriction, now),
        Some(Schedule::Cron { cron, .. }) => {
            let cron = CronTimes::new(cron, dag.timezone);
            match dag.timetable {
                Timetable::CronTrigger => cron.trigger_next(last, restriction, now),
                Timetable::CronDataInterval => cron.data_interval_next(last, restriction, now),
            }
        }
        Some(Schedule::Delta { delta, .. }) => {
            let delta = Duration::from_std(*delta).ok()?;
            match dag.timetable {
                Timetable::CronTrigger => delta_trigger_next(delta, last, restriction, now),
                Timetable::CronDataInterval => {
                    delta_data_interval_next(delta, last, restriction, now)
                }
            }
        }
    }
}

/// Whether a scheduler that computed `info` as a DAG's next run, and finds it due at
/// `now`, should create it as computed rather than ask the timetable again.
///
/// Airflow stores a DAG's next run when it creates the previous one and creates it as
/// stored once due. For a duration schedule asking again at `now` would move the run
/// to `now` (`max(now, last + delta)`), later by the scheduler's latency each time, so
/// a due duration step is kept, unless the scheduler is more than a step late (asleep,
/// stopped): then the timetable decides afresh, which without catchup skips to now as
/// it does for cron schedules.
pub fn keeps_due_run(dag: &Dag, info: &DagRunInfo, now: DateTime<Utc>) -> bool {
    match &dag.schedule {
        Some(Schedule::Delta { delta, .. }) => {
            Duration::from_std(*delta).is_ok_and(|d| now - info.run_after < d)
        }
        _ => false,
    }
}

/// `DeltaTriggerTimetable.next_dagrun_info` (Airflow 3's timetable for
/// `schedule=timedelta(...)`, `airflow/timetables/trigger.py` with `_delta.py`): a run
/// every `delta` from the last one, with an empty data interval. Aligning is the
/// identity, so without catchup the next run is the latest of now, the last run plus
/// `delta` and `start_date`; with catchup, the last run plus `delta`, else `start_date`,
/// else now. Arithmetic is on UTC instants, as Airflow's (its dates are UTC), so a
/// `"1d"` schedule keeps 24 hours across a DST change.
fn delta_trigger_next(
    delta: Duration,
    last: Option<&DataInterval>,
    restriction: &TimeRestriction,
    now: DateTime<Utc>,
) -> Option<DagRunInfo> {
    let after_last = last.map(|l| l.end + delta);
    let next = if restriction.catchup {
        after_last.or(restriction.earliest).unwrap_or(now)
    } else {
        [Some(now), after_last, restriction.earliest]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now)
    };
    if restriction.latest.is_some_and(|latest| latest < next) {
        return None;
    }
    Some(interval(next, next))
}

/// `DeltaDataIntervalTimetable.next_dagrun_info` (Airflow 2's timetable for
/// `schedule=timedelta(...)`, `airflow/timetables/interval.py`): runs cover
/// `[start, start + delta)` and start at its end, each interval starting where the last
/// ended. Without catchup the earliest start is one `delta` before now rounded down to a
/// multiple of `delta` since the Unix epoch (`_skip_to_latest`), or `start_date` if later.
fn delta_data_interval_next(
    delta: Duration,
    last: Option<&DataInterval>,
    restriction: &TimeRestriction,
    now: DateTime<Utc>,
) -> Option<DagRunInfo> {
    let earliest = if restriction.catchup {
        restriction.earliest
    } else {
        let step = i128::from(delta.num_nanoseconds()?);
        let at = i128::from(now.timestamp_nanos_opt()?);
        let rounded = i64::try_from(at - at.rem_euclid(step)).ok()?;
        let latest_start = DateTime::from_timestamp_nanos(rounded) - delta;
        Some(
            restriction
                .earliest
                .map_or(latest_start, |e| e.max(latest_start)),
        )
    };
    let start = match (last, earliest) {
        (None, None) => return None,
        (None, Some(e)) => e,
        (Some(last), None) => last.end,
        (Some(last), Some(e)) => last.end.max(e),
    };
    if restriction.latest.is_some_and(|latest| start > latest) {
        return None;
    }
    Some(interval(start, start + delta))
}

/// The data interval of a manual run at `run_after` (Airflow's
/// `infer_manual_data_interval`).
pub fn infer_manual_data_interval(dag: &Dag, run_after: DateTime<Utc>) -> DataInterval {
    let exact = DataInterval {
        start: run_after,
        end: run_after,
    };
    match (&dag.schedule, dag.timetable) {
        // `CronDataIntervalTimetable`: the last complete interval before `run_after`,
        // e.g. for `@daily` a run at 01:00 on the 25th covers the 24th.
        (Some(Schedule::Cron { cron, .. }), Timetable::CronDataInterval) => {
            let cron = CronTimes::new(cron, dag.timezone);
            cron.align_to_prev(run_after)
                .and_then(|end| {
                    Some(DataInterval {
                        start: cron.get_prev(end)?,
                        end,
                    })
                })
                .unwrap_or(exact)
        }
        // `DeltaDataIntervalTimetable`: the `delta` before `run_after`.
        (Some(Schedule::Delta { delta, .. }), Timetable::CronDataInterval) => {
            match Duration::from_std(*delta) {
                Ok(d) => DataInterval {
                    start: run_after - d,
                    end: run_after,
                },
                Err(_) => exact,
            }
        }
        // `CronTriggerTimetable` and `DeltaTriggerTimetable` with their interval of 0,
        // `NullTimetable`,
        // `OnceTimetable` and `ContinuousTimetable`: the instant itself.
        _ => exact,
    }
}

/// Airflow 2's `prev_execution_date` and `next_execution_date` of a run (2.10's
/// `_get_template_context`): a manual run's are its logical date; otherwise the previous
/// is `DAG.previous_schedule(logical_date)` (the cron tick before it, for the
/// `cron_data_interval` timetable only, None for every other timetable) and the next is
/// the logical date of the run after this one's data interval, unrestricted (None for
/// `@once`, `@continuous` and manual-only DAGs).
pub fn airflow2_neighbours(
    dag: &Dag,
    manual: bool,
    logical_date: DateTime<Utc>,
    interval_end: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    if manual {
        return (Some(logical_date), Some(logical_date));
    }
    match &dag.schedule {
        Some(Schedule::Cron { cron, .. }) => {
            let cron = CronTimes::new(cron, dag.timezone);
            match dag.timetable {
                Timetable::CronDataInterval => (cron.get_prev(logical_date), Some(interval_end)),
                Timetable::CronTrigger => (None, cron.get_next(interval_end)),
            }
        }
        _ => (None, None),
    }
}

/// The next `n` runs the scheduler would create for `dag` if it had no runs yet and
/// the clock read `now` (`dags next-execution`).
pub fn next_executions(dag: &Dag, n: usize, now: DateTime<Utc>) -> Vec<DagRunInfo> {
    let restriction = TimeRestriction::of(dag);
    let mut out: Vec<DagRunInfo> = Vec::new();
    while out.len() < n {
        let last = out.last().map(|i| i.data_interval);
        match next_dagrun_info(dag, last.as_ref(), &restriction, now) {
            Some(info) => out.push(info),
            None => break,
        }
    }
    out
}

/// The runs a backfill from `from` to `to` (both inclusive) creates: the DAG's
/// schedule between those dates, ignoring its start/end dates and catchup, keeping
/// only runs whose data interval ended before `now` (Airflow 3's
/// `models/backfill.py::_get_info_list`).
pub fn backfill_infos(
    dag: &Dag,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<DagRunInfo> {
    let restriction = TimeRestriction {
        earliest: Some(from),
        latest: Some(to),
        catchup: true,
    };
    let mut out = Vec::new();
    // Airflow loops until the timetable returns None. A timetable that returns the
    // interval it was given (`@continuous` once it reaches `now`) would loop forever
    // there; here a repeated interval ends the loop, which yields the runs Airflow
    // would have yielded up to that point.
    let mut seen: HashSet<DataInterval> = HashSet::new();
    let mut last: Option<DataInterval> = None;
    while let Some(info) = next_dagrun_info(dag, last.as_ref(), &restriction, now) {
        if !seen.insert(info.data_interval) {
            break;
        }
        if info.data_interval.end < now {
            out.push(info);
        }
        last = Some(info.data_interval);
    }
    out
}

/// Runs of this DAG that may be active at once (`@continuous`: 1).
pub fn active_runs_limit(dag: &Dag) -> u32 {
    match dag.schedule {
        Some(Schedule::Continuous) => 1,
        _ => dag.max_active_runs,
    }
}

/// How many years the tick search walks before giving up. A valid expression fires at
/// least every 8 years (29 February: 2096, then 2104), and the calendar repeats every
/// 400 years, so this is never reached.
const MAX_YEARS_BETWEEN_TICKS: u32 = 401;

/// The year that stands in for `year` in the `cron` crate's iterators, which only know
/// 1970 to 2100: `year` itself inside that range, else a year of the same kind (leap or
/// not, starting on the same day of the week), so the same months have the same days on
/// the same weekdays. Ticks are searched one year at a time and moved back to `year`.
/// Inside 1971..=2099, so the years around it exist for the crate too.
fn stand_in_year(year: i32) -> Option<i32> {
    if (1971..=2099).contains(&year) {
        return Some(year);
    }
    let kind = |y: i32| {
        Some((
            NaiveDate::from_ymd_opt(y, 1, 1)?.weekday(),
            NaiveDate::from_ymd_opt(y, 2, 29).is_some(),
        ))
    };
    let wanted = kind(year)?;
    // Any 28 years without a skipped leap year hold all fourteen kinds.
    (2001..=2028).find(|&y| kind(y) == Some(wanted))
}

/// `OnceTimetable`: one run at `start_date`, or right away without one.
fn once_next(
    last: Option<&DataInterval>,
    restriction: &TimeRestriction,
    now: DateTime<Utc>,
) -> Option<DagRunInfo> {
    if last.is_some() {
        return None;
    }
    let run_after = restriction.earliest.unwrap_or(now);
    if restriction.latest.is_some_and(|latest| run_after > latest) {
        return None;
    }
    Some(interval(run_after, run_after))
}

/// `ContinuousTimetable`: the next run covers the time since the last one ended.
fn continuous_next(
    last: Option<&DataInterval>,
    restriction: &TimeRestriction,
    now: DateTime<Utc>,
) -> Option<DagRunInfo> {
    let start_date = restriction.earliest.unwrap_or(now);
    let (start, end) = match last {
        // The last run ends in the future: the start date moved back, say.
        Some(last) if last.end > now => (start_date, start_date + (last.end - last.start)),
        Some(last) => (last.end, now),
        None => (start_date, start_date.max(now)),
    };
    if restriction.latest.is_some_and(|latest| end > latest) {
        return None;
    }
    Some(interval(start, end))
}

/// Airflow's `DagRunInfo.interval`: the run may start once its interval has ended.
fn interval(start: DateTime<Utc>, end: DateTime<Utc>) -> DagRunInfo {
    DagRunInfo {
        run_after: end,
        data_interval: DataInterval { start, end },
    }
}

/// `make_aware` (with `fold=1`, through pendulum's `Timezone.convert`): an
/// ambiguous time is its second occurrence; a time in a gap is read with the
/// offset in effect before the gap, which moves it forward by the gap's length.
pub(crate) fn make_aware(tz: DagTimezone, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz {
        DagTimezone::Fixed(off) => off
            .from_local_datetime(&naive)
            .single()
            .map(|d| d.with_timezone(&Utc)),
        DagTimezone::Named(tz) => match tz.from_local_datetime(&naive) {
            LocalResult::Single(d) => Some(d.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => Some(a.with_timezone(&Utc).max(b.with_timezone(&Utc))),
            LocalResult::None => {
                // pendulum adds the gap and reads the result with the offset after
                // the gap: the same instant as the wall time read with the offset
                // before it. A day earlier that offset is in effect (a zone does
                // not change its offset twice in a day).
                let before = tz
                    .offset_from_utc_datetime(&(naive - Duration::days(1)))
                    .fix()
                    .local_minus_utc();
                Some((naive - Duration::seconds(i64::from(before))).and_utc())
            }
        },
    }
}

/// A cron expression in a time zone: Airflow's `CronMixin` (`timetables/_cron.py`).
///
/// croniter works on naive wall-clock times; `CronMixin` converts to and from the
/// DAG's zone around each call. A tick that falls in a DST gap moves forward by the
/// gap; a tick in a fold is the second occurrence. Schedules that fire every hour
/// instead add croniter's wall-clock distance to the absolute time, so they fire in
/// both folded hours and once per real hour across a gap.
struct CronTimes<'a> {
    cron: &'a CronExpr,
    tz: DagTimezone,
    /// croniter's hour field expands to `*` (`_covers_every_hour`).
    every_hour: bool,
}

impl<'a> CronTimes<'a> {
    fn new(cron: &'a CronExpr, tz: DagTimezone) -> Self {
        CronTimes {
            cron,
            tz,
            every_hour: cron.hours().len() == 24,
        }
    }

    /// `make_naive`: the wall-clock time in the DAG's zone.
    fn naive(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self.tz {
            DagTimezone::Named(tz) => t.with_timezone(&tz).naive_local(),
            DagTimezone::Fixed(off) => t.with_timezone(&off).naive_local(),
        }
    }

    /// `make_aware`; see [`make_aware`].
    fn aware(&self, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
        make_aware(self.tz, naive)
    }

    /// croniter's `get_next` on a naive time: the first tick strictly after it.
    fn tick_after(&self, naive: NaiveDateTime) -> Option<NaiveDateTime> {
        if self.cron.extended() {
            return self.cron.walk_after(naive);
        }
        // Year by year (see `stand_in_year`): the rest of `naive`'s year, then each
        // following year whole. `after` None: from the start of `year`.
        let (mut year, mut after) = (naive.year(), Some(naive));
        for _ in 0..MAX_YEARS_BETWEEN_TICKS {
            let stand_in = stand_in_year(year)?;
            let from = match after {
                Some(t) => t.with_year(stand_in)?,
                // The crate's ticks are strictly after: a second before the year.
                None => NaiveDate::from_ymd_opt(stand_in - 1, 12, 31)?.and_hms_opt(23, 59, 59)?,
            };
            let first = self
                .cron
                .schedules()
                .iter()
                .filter_map(|s| s.after(&from.and_utc()).next())
                .min();
            if let Some(tick) = first.filter(|t| t.year() == stand_in) {
                return tick.naive_utc().with_year(year);
            }
            (year, after) = (year.checked_add(1)?, None);
        }
        None
    }

    /// croniter's `get_prev` on a naive time: the last tick strictly before it.
    fn tick_before(&self, naive: NaiveDateTime) -> Option<NaiveDateTime> {
        if self.cron.extended() {
            return self.cron.walk_before(naive);
        }
        // As `tick_after`, backwards with the crate's reverse iteration. `before` None:
        // from the end of `year`.
        let (mut year, mut before) = (naive.year(), Some(naive));
        for _ in 0..MAX_YEARS_BETWEEN_TICKS {
            let stand_in = stand_in_year(year)?;
            let from = match before {
                Some(t) => t.with_year(stand_in)?,
                // The crate's ticks are strictly before a whole second: the next year's
                // first instant.
                None => NaiveDate::from_ymd_opt(stand_in + 1, 1, 1)?.and_time(NaiveTime::MIN),
            };
            let last = self
                .cron
                .schedules()
                .iter()
                .filter_map(|s| s.after(&from.and_utc()).next_back())
                .max();
            if let Some(tick) = last.filter(|t| t.year() == stand_in) {
                return tick.naive_utc().with_year(year);
            }
            (year, before) = (year.checked_sub(1)?, None);
        }
        None
    }

    /// `_get_next`: the first tick after `current`.
    fn get_next(&self, current: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let naive = self.naive(current);
        let scheduled = self.tick_after(naive)?;
        if self.every_hour {
            Some(current + (scheduled - naive))
        } else {
            self.aware(scheduled)
        }
    }

    /// `_get_prev`: the last tick before `current`.
    fn get_prev(&self, current: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let naive = self.naive(current);
        let scheduled = self.tick_before(naive)?;
        if self.every_hour {
            Some(current - (naive - scheduled))
        } else {
            self.aware(scheduled)
        }
    }

    /// `_align_to_next`: `current` if it is a tick, else the next tick.
    fn align_to_next(&self, current: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = self.get_next(current)?;
        if self.get_prev(next) == Some(current) {
            Some(current)
        } else {
            Some(next)
        }
    }

    /// `_align_to_prev`: `current` if it is a tick, else the previous tick.
    fn align_to_prev(&self, current: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let prev = self.get_prev(current)?;
        if self.get_next(prev) == Some(current) {
            Some(current)
        } else {
            Some(prev)
        }
    }

    /// `CronTriggerTimetable._calc_first_run` with `run_immediately=False`: the
    /// latest tick if it is at most a tenth of the ticks' spacing (at least five
    /// minutes) ago, else the next tick.
    fn calc_first_run(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let past = self.align_to_prev(now)?;
        let next = self.align_to_next(now)?;
        let buffer = ((next - past) / 10).max(Duration::minutes(5));
        Some(if now - past <= buffer { past } else { next })
    }

    /// `CronTriggerTimetable.next_dagrun_info` (Airflow 3, interval 0): a run at each
    /// tick, with the tick as its logical date and an empty data interval.
    fn trigger_next(
        &self,
        last: Option<&DataInterval>,
        restriction: &TimeRestriction,
        now: DateTime<Utc>,
    ) -> Option<DagRunInfo> {
        let next = if restriction.catchup {
            match (last, restriction.earliest) {
                (Some(last), _) => self.get_next(last.end)?,
                (None, None) => self.calc_first_run(now)?,
                (None, Some(earliest)) => self.align_to_next(earliest)?,
            }
        } else {
            // Without catchup, never earlier than the latest tick.
            let mut next = self.align_to_prev(now)?;
            match (last, restriction.earliest) {
                (Some(last), _) => next = next.max(self.get_next(last.end)?),
                (None, None) => next = next.max(self.calc_first_run(now)?),
                (None, Some(_)) => {}
            }
            if let Some(earliest) = restriction.earliest {
                next = next.max(self.align_to_next(earliest)?);
            }
            next
        };
        if restriction.latest.is_some_and(|latest| latest < next) {
            return None;
        }
        Some(interval(next, next))
    }

    /// `CronDataIntervalTimetable.next_dagrun_info` (Airflow 2's default): runs
    /// cover `[tick, next tick)` and start at the end of it.
    fn data_interval_next(
        &self,
        last: Option<&DataInterval>,
        restriction: &TimeRestriction,
        now: DateTime<Utc>,
    ) -> Option<DagRunInfo> {
        let earliest = if !restriction.catchup {
            Some(self.skip_to_latest(restriction.earliest, now)?)
        } else {
            match restriction.earliest {
                Some(e) => Some(self.align_to_next(e)?),
                None => None,
            }
        };
        let start = match last {
            None => earliest?,
            Some(last) => {
                let aligned = self.align_to_prev(last.end)?;
                earliest.map_or(aligned, |e| aligned.max(e))
            }
        };
        if restriction.latest.is_some_and(|latest| start > latest) {
            return None;
        }
        let end = self.get_next(start)?;
        Some(interval(start, end))
    }

    /// `CronDataIntervalTimetable._skip_to_latest`: without catchup, the first run is
    /// the latest interval that has ended by `now` (or `earliest`, if later).
    fn skip_to_latest(
        &self,
        earliest: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let last_start = self.get_prev(now)?;
        let next_start = self.get_next(last_start)?;
        let new_start = if next_start == now {
            last_start
        } else if next_start > now {
            self.get_prev(last_start)?
        } else {
            // Airflow raises here ("next schedule shouldn't be earlier"), so the DAG
            // gets no next run.
            return None;
        };
        match earliest {
            None => Some(new_start),
            Some(e) => Some(new_start.max(self.align_to_next(e)?)),
        }
    }
}

#[cfg(test)]
mod tests;
