//! Unit tests of the timetables.
//!
//! Every expected value below was computed with Airflow's own code, not worked out by
//! hand: Airflow 2.10.5's `CronMixin` and `CronDataIntervalTimetable` (the same code as
//! in Airflow 3) and Airflow 3's `CronTriggerTimetable.next_dagrun_info` /
//! `_calc_first_run`, `OnceTimetable` and `ContinuousTimetable` ported verbatim onto
//! them, run with croniter 7.0.0 (and 6.0.0, with identical results) and pendulum
//! 3.3.0, `utcnow` patched to the test's `now`. `next` cases chain `next_dagrun_info`
//! from the previous run's data interval as `next_executions` does; `backfill` cases
//! follow `DAG.iter_dagrun_infos_between` and keep intervals that ended before now.
//! The same reference also agreed with this module on some 70 000 random cases (cron
//! expressions, zones, timetables, catchup, dates and clocks); those need Airflow, so
//! only the cases below are kept here.
//!
//! A run is written `START..END` (its data interval; it runs at END), or `TICK` when
//! the interval is empty (`cron_trigger`, `@once`): logical date = run after = TICK.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};

use super::*;
use crate::parse_dag;

fn dag(text: &str) -> Dag {
    let (dag, diags) = parse_dag(Path::new("t.toml"), text);
    let rendered: String = diags.iter().map(ToString::to_string).collect();
    assert!(diags.is_empty(), "unexpected diagnostics:\n{rendered}");
    dag.expect("valid DAG")
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

fn z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn render_interval(i: &DataInterval) -> String {
    if i.start == i.end {
        z(i.start)
    } else {
        format!("{}..{}", z(i.start), z(i.end))
    }
}

fn render(infos: &[DagRunInfo]) -> Vec<String> {
    infos
        .iter()
        .map(|i| {
            assert_eq!(
                i.run_after, i.data_interval.end,
                "a run starts at its interval's end"
            );
            assert_eq!(i.logical_date(), i.data_interval.start);
            render_interval(&i.data_interval)
        })
        .collect()
}

/// The first `n` runs of the DAG `text` with the clock at `now`.
#[track_caller]
fn check_next(text: &str, now: &str, n: usize, expected: &[&str]) {
    let got = render(&next_executions(&dag(text), n, t(now)));
    assert_eq!(got, expected, "{text}\nnow = {now}");
}

/// The data interval of a manual run at `run_after`.
#[track_caller]
fn check_manual(text: &str, run_after: &str, expected: &str) {
    let got = render_interval(&infer_manual_data_interval(&dag(text), t(run_after)));
    assert_eq!(got, expected, "{text}\nrun_after = {run_after}");
}

/// The runs a backfill from `from` to `to` creates with the clock at `now`.
#[track_caller]
fn check_backfill(text: &str, from: &str, to: &str, now: &str, expected: &[&str]) {
    let got = render(&backfill_infos(&dag(text), t(from), t(to), t(now)));
    assert_eq!(got, expected, "{text}\nfrom {from} to {to}, now = {now}");
}

#[test]
fn after_a_run_catchup_decides_whether_missed_ticks_run() {
    let now = t("2026-05-15T12:00:00Z");
    let next = |text: &str, last: DataInterval, catchup: bool| {
        let d = dag(text);
        let restriction = TimeRestriction {
            catchup,
            ..TimeRestriction::of(&d)
        };
        next_dagrun_info(&d, Some(&last), &restriction, now).map(|i| render(&[i]))
    };
    let trigger = "schedule = '@daily'\nstart_date = 2026-01-01";
    let tick = DataInterval {
        start: t("2026-05-01T00:00:00Z"),
        end: t("2026-05-01T00:00:00Z"),
    };
    // Down for two weeks: without catchup the latest tick, with it the next one.
    assert_eq!(
        next(trigger, tick, false),
        Some(vec!["2026-05-15T00:00:00Z".to_owned()])
    );
    assert_eq!(
        next(trigger, tick, true),
        Some(vec!["2026-05-02T00:00:00Z".to_owned()])
    );
    let interval = "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 2026-01-01";
    let day = DataInterval {
        start: t("2026-04-30T00:00:00Z"),
        end: t("2026-05-01T00:00:00Z"),
    };
    assert_eq!(
        next(interval, day, false),
        Some(vec![
            "2026-05-14T00:00:00Z..2026-05-15T00:00:00Z".to_owned()
        ])
    );
    assert_eq!(
        next(interval, day, true),
        Some(vec![
            "2026-05-01T00:00:00Z..2026-05-02T00:00:00Z".to_owned()
        ])
    );
}

#[test]
fn an_end_date_before_the_start_date_leaves_no_run() {
    // The file format rejects this, but a restriction can still say so.
    let restriction = TimeRestriction {
        earliest: Some(t("2026-05-01T08:00:00Z")),
        latest: Some(t("2026-04-01T00:00:00Z")),
        catchup: false,
    };
    let now = t("2026-05-15T00:00:00Z");
    for text in [
        "schedule = '@once'",
        "schedule = '@continuous'",
        "schedule = '@daily'",
        "schedule = '@daily'\ntimetable = 'cron_data_interval'",
    ] {
        assert_eq!(
            next_dagrun_info(&dag(text), None, &restriction, now),
            None,
            "{text}"
        );
    }
}

#[test]
fn continuous_dags_run_one_at_a_time() {
    assert_eq!(active_runs_limit(&dag("schedule = '@continuous'")), 1);
    assert_eq!(active_runs_limit(&dag("schedule = '@daily'")), 16);
    assert_eq!(
        active_runs_limit(&dag("schedule = '@daily'\nmax_active_runs = 3")),
        3
    );
}

#[test]
fn presets_with_the_trigger_timetable_start_at_the_latest_tick() {
    // @hourly: the latest tick at or before now, then the following ones.
    check_next(
        "schedule = '@hourly'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-05-15T12:00:00Z",
            "2026-05-15T13:00:00Z",
            "2026-05-15T14:00:00Z",
        ],
    );
    check_next(
        "schedule = '@daily'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-05-15T00:00:00Z",
            "2026-05-16T00:00:00Z",
            "2026-05-17T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@weekly'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-05-10T00:00:00Z",
            "2026-05-17T00:00:00Z",
            "2026-05-24T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@monthly'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-05-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@quarterly'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-04-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
            "2026-10-01T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@yearly'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
            "2028-01-01T00:00:00Z",
        ],
    );
}

#[test]
fn presets_with_the_data_interval_timetable_start_with_the_last_complete_interval() {
    // The last interval that has ended by now, then the following ones.
    check_next(
        "schedule = '@hourly'\ntimetable = 'cron_data_interval'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-05-15T11:00:00Z..2026-05-15T12:00:00Z",
            "2026-05-15T12:00:00Z..2026-05-15T13:00:00Z",
            "2026-05-15T13:00:00Z..2026-05-15T14:00:00Z",
        ],
    );
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-05-14T00:00:00Z..2026-05-15T00:00:00Z",
            "2026-05-15T00:00:00Z..2026-05-16T00:00:00Z",
            "2026-05-16T00:00:00Z..2026-05-17T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@weekly'\ntimetable = 'cron_data_interval'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-05-03T00:00:00Z..2026-05-10T00:00:00Z",
            "2026-05-10T00:00:00Z..2026-05-17T00:00:00Z",
            "2026-05-17T00:00:00Z..2026-05-24T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@monthly'\ntimetable = 'cron_data_interval'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-04-01T00:00:00Z..2026-05-01T00:00:00Z",
            "2026-05-01T00:00:00Z..2026-06-01T00:00:00Z",
            "2026-06-01T00:00:00Z..2026-07-01T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@quarterly'\ntimetable = 'cron_data_interval'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2026-01-01T00:00:00Z..2026-04-01T00:00:00Z",
            "2026-04-01T00:00:00Z..2026-07-01T00:00:00Z",
            "2026-07-01T00:00:00Z..2026-10-01T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@yearly'\ntimetable = 'cron_data_interval'\nstart_date = 2025-01-01",
        "2026-05-15T12:34:56Z",
        3,
        &[
            "2025-01-01T00:00:00Z..2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z..2027-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z..2028-01-01T00:00:00Z",
        ],
    );
}

#[test]
fn catchup_runs_every_tick_from_the_start_date() {
    // The first tick at or after start_date, then each one in turn, even in the past.
    check_next(
        "schedule = '@daily'\nstart_date = 2026-05-10T06:00:00Z\ncatchup = true",
        "2026-05-15T12:00:00Z",
        4,
        &[
            "2026-05-11T00:00:00Z",
            "2026-05-12T00:00:00Z",
            "2026-05-13T00:00:00Z",
            "2026-05-14T00:00:00Z",
        ],
    );
    // The first interval starts at the first tick at or after start_date.
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 2026-05-10T06:00:00Z\ncatchup = true",
        "2026-05-15T12:00:00Z",
        4,
        &[
            "2026-05-11T00:00:00Z..2026-05-12T00:00:00Z",
            "2026-05-12T00:00:00Z..2026-05-13T00:00:00Z",
            "2026-05-13T00:00:00Z..2026-05-14T00:00:00Z",
            "2026-05-14T00:00:00Z..2026-05-15T00:00:00Z",
        ],
    );
    // A start_date on a tick is its first run.
    check_next(
        "schedule = '@daily'\nstart_date = 2026-05-10\ncatchup = true",
        "2026-05-15T12:00:00Z",
        2,
        &["2026-05-10T00:00:00Z", "2026-05-11T00:00:00Z"],
    );
    // A start_date in the future: nothing before it.
    check_next(
        "schedule = '@daily'\nstart_date = 2026-06-01\ncatchup = true",
        "2026-05-15T12:00:00Z",
        2,
        &["2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"],
    );
    // Without catchup, a future start_date wins over now too.
    check_next(
        "schedule = '@daily'\nstart_date = 2026-06-01",
        "2026-05-15T12:00:00Z",
        2,
        &["2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"],
    );
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 2026-06-01",
        "2026-05-15T12:00:00Z",
        2,
        &[
            "2026-06-01T00:00:00Z..2026-06-02T00:00:00Z",
            "2026-06-02T00:00:00Z..2026-06-03T00:00:00Z",
        ],
    );
}

#[test]
fn without_a_start_date_the_trigger_timetable_runs_a_recent_tick_or_waits() {
    // @hourly at 10:05: 10:00 is within the 6-minute grace (a tenth of the spacing, at
    // least 5 minutes), so it runs.
    check_next(
        "schedule = '@hourly'",
        "2026-05-15T10:05:00Z",
        2,
        &["2026-05-15T10:00:00Z", "2026-05-15T11:00:00Z"],
    );
    // Exactly on the grace's edge: still runs.
    check_next(
        "schedule = '@hourly'",
        "2026-05-15T10:06:00Z",
        2,
        &["2026-05-15T10:00:00Z", "2026-05-15T11:00:00Z"],
    );
    // Just past it: waits for 11:00.
    check_next(
        "schedule = '@hourly'",
        "2026-05-15T10:06:00.000001Z",
        2,
        &["2026-05-15T11:00:00Z", "2026-05-15T12:00:00Z"],
    );
    // Every 15 minutes: the grace is the 5-minute minimum.
    check_next(
        "schedule = '*/15 * * * *'",
        "2026-05-15T10:05:00Z",
        2,
        &["2026-05-15T10:00:00Z", "2026-05-15T10:15:00Z"],
    );
    // @daily: 2h24m of grace.
    check_next(
        "schedule = '@daily'",
        "2026-05-15T02:24:00Z",
        2,
        &["2026-05-15T00:00:00Z", "2026-05-16T00:00:00Z"],
    );
    check_next(
        "schedule = '@daily'",
        "2026-05-15T02:25:00Z",
        2,
        &["2026-05-16T00:00:00Z", "2026-05-17T00:00:00Z"],
    );
    // The data-interval timetable needs no start_date either: the last complete interval.
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'",
        "2026-05-15T02:25:00Z",
        2,
        &[
            "2026-05-14T00:00:00Z..2026-05-15T00:00:00Z",
            "2026-05-15T00:00:00Z..2026-05-16T00:00:00Z",
        ],
    );
}

#[test]
fn now_on_a_tick_vs_between_ticks() {
    // cron_trigger: now on a tick runs that tick.
    check_next(
        "schedule = '@daily'\nstart_date = 2026-01-01",
        "2026-05-15T00:00:00Z",
        2,
        &["2026-05-15T00:00:00Z", "2026-05-16T00:00:00Z"],
    );
    // A microsecond before it: the previous tick.
    check_next(
        "schedule = '@daily'\nstart_date = 2026-01-01",
        "2026-05-14T23:59:59.999999Z",
        2,
        &["2026-05-14T00:00:00Z", "2026-05-15T00:00:00Z"],
    );
    // cron_data_interval: now on a tick runs the interval that just ended.
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 2026-01-01",
        "2026-05-15T00:00:00Z",
        2,
        &[
            "2026-05-14T00:00:00Z..2026-05-15T00:00:00Z",
            "2026-05-15T00:00:00Z..2026-05-16T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 2026-01-01",
        "2026-05-15T00:00:00.000001Z",
        2,
        &[
            "2026-05-14T00:00:00Z..2026-05-15T00:00:00Z",
            "2026-05-15T00:00:00Z..2026-05-16T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 2026-01-01",
        "2026-05-14T23:59:59Z",
        2,
        &[
            "2026-05-13T00:00:00Z..2026-05-14T00:00:00Z",
            "2026-05-14T00:00:00Z..2026-05-15T00:00:00Z",
        ],
    );
}

#[test]
fn end_date_is_inclusive() {
    // A tick exactly at end_date runs; nothing after it.
    check_next(
        "schedule = '@daily'\nstart_date = 2026-05-01\nend_date = 2026-05-03\ncatchup = true",
        "2026-06-01T00:00:00Z",
        5,
        &[
            "2026-05-01T00:00:00Z",
            "2026-05-02T00:00:00Z",
            "2026-05-03T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@daily'\nstart_date = 2026-05-01\nend_date = 2026-05-02T23:59:59Z\ncatchup = true",
        "2026-06-01T00:00:00Z",
        5,
        &["2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z"],
    );
    // cron_data_interval compares the interval's start with end_date.
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 2026-05-01\nend_date = 2026-05-03\ncatchup = true",
        "2026-06-01T00:00:00Z",
        5,
        &[
            "2026-05-01T00:00:00Z..2026-05-02T00:00:00Z",
            "2026-05-02T00:00:00Z..2026-05-03T00:00:00Z",
            "2026-05-03T00:00:00Z..2026-05-04T00:00:00Z",
        ],
    );
    // Without catchup, an end_date in the past leaves no runs.
    check_next(
        "schedule = '@daily'\nstart_date = 2026-05-01\nend_date = 2026-05-03",
        "2026-06-01T00:00:00Z",
        5,
        &[],
    );
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 2026-05-01\nend_date = 2026-05-03",
        "2026-06-01T00:00:00Z",
        5,
        &[],
    );
}

#[test]
fn month_ends_and_leap_days() {
    // The 31st: months without one are skipped.
    check_next(
        "schedule = '0 0 31 * *'\nstart_date = 2026-01-15\ncatchup = true",
        "2027-01-01T00:00:00Z",
        5,
        &[
            "2026-01-31T00:00:00Z",
            "2026-03-31T00:00:00Z",
            "2026-05-31T00:00:00Z",
            "2026-07-31T00:00:00Z",
            "2026-08-31T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '0 0 31 * *'\ntimetable = 'cron_data_interval'\nstart_date = 2026-01-15\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-01-31T00:00:00Z..2026-03-31T00:00:00Z",
            "2026-03-31T00:00:00Z..2026-05-31T00:00:00Z",
            "2026-05-31T00:00:00Z..2026-07-31T00:00:00Z",
        ],
    );
    // 29 February: leap years only.
    check_next(
        "schedule = '0 0 29 2 *'\nstart_date = 2025-01-01\ncatchup = true",
        "2030-01-01T00:00:00Z",
        2,
        &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
    );
    check_next(
        "schedule = '0 0 29 2 *'\ntimetable = 'cron_data_interval'\nstart_date = 2025-01-01\ncatchup = true",
        "2030-01-01T00:00:00Z",
        2,
        &[
            "2028-02-29T00:00:00Z..2032-02-29T00:00:00Z",
            "2032-02-29T00:00:00Z..2036-02-29T00:00:00Z",
        ],
    );
    // Without catchup or start_date.
    check_next(
        "schedule = '0 0 29 2 *'",
        "2026-05-15T00:00:00Z",
        1,
        &["2028-02-29T00:00:00Z"],
    );
    check_next(
        "schedule = '@monthly'\ntimetable = 'cron_data_interval'\nstart_date = 2028-01-31\ncatchup = true",
        "2029-01-01T00:00:00Z",
        3,
        &[
            "2028-02-01T00:00:00Z..2028-03-01T00:00:00Z",
            "2028-03-01T00:00:00Z..2028-04-01T00:00:00Z",
            "2028-04-01T00:00:00Z..2028-05-01T00:00:00Z",
        ],
    );
}

#[test]
fn day_of_month_or_day_of_week() {
    // The 1st of the month OR a Monday, as in cron.
    check_next(
        "schedule = '0 0 1 * 1'\nstart_date = 2026-05-20\ncatchup = true",
        "2027-01-01T00:00:00Z",
        5,
        &[
            "2026-05-25T00:00:00Z",
            "2026-06-01T00:00:00Z",
            "2026-06-08T00:00:00Z",
            "2026-06-15T00:00:00Z",
            "2026-06-22T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '0 0 1 * 1'\ntimetable = 'cron_data_interval'\nstart_date = 2026-05-20\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-05-25T00:00:00Z..2026-06-01T00:00:00Z",
            "2026-06-01T00:00:00Z..2026-06-08T00:00:00Z",
            "2026-06-08T00:00:00Z..2026-06-15T00:00:00Z",
        ],
    );
}

#[test]
fn dst_amsterdam() {
    // 02:30 does not exist on the day clocks go forward: that run moves forward by the
    // gap, to 03:30 summer time.
    // 30 2 * * *, spring change, cron_trigger.
    check_next(
        "schedule = '30 2 * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-28T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:30:00Z",
            "2026-03-30T00:30:00Z",
        ],
    );
    // 30 2 * * *, spring change, cron_data_interval.
    check_next(
        "schedule = '30 2 * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-28T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-03-28T01:30:00Z..2026-03-29T01:30:00Z",
            "2026-03-29T01:30:00Z..2026-03-30T00:30:00Z",
            "2026-03-30T00:30:00Z..2026-03-31T00:30:00Z",
        ],
    );
    // 02:30 happens twice on the day clocks go back: one run, at the second (winter
    // time).
    // 30 2 * * *, fall change, cron_trigger.
    check_next(
        "schedule = '30 2 * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-10-24T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-10-24T00:30:00Z",
            "2026-10-25T01:30:00Z",
            "2026-10-26T01:30:00Z",
        ],
    );
    // 30 2 * * *, fall change, cron_data_interval.
    check_next(
        "schedule = '30 2 * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-10-24T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-10-24T00:30:00Z..2026-10-25T01:30:00Z",
            "2026-10-25T01:30:00Z..2026-10-26T01:30:00Z",
            "2026-10-26T01:30:00Z..2026-10-27T01:30:00Z",
        ],
    );
    // Every hour: one run per real hour; nothing makes up for the skipped wall hour.
    // 0 * * * *, spring change, cron_trigger.
    check_next(
        "schedule = '0 * * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-29T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-03-28T23:00:00Z",
            "2026-03-29T00:00:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T02:00:00Z",
            "2026-03-29T03:00:00Z",
            "2026-03-29T04:00:00Z",
        ],
    );
    // 0 * * * *, spring change, cron_data_interval.
    check_next(
        "schedule = '0 * * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-29T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-03-28T23:00:00Z..2026-03-29T00:00:00Z",
            "2026-03-29T00:00:00Z..2026-03-29T01:00:00Z",
            "2026-03-29T01:00:00Z..2026-03-29T02:00:00Z",
            "2026-03-29T02:00:00Z..2026-03-29T03:00:00Z",
            "2026-03-29T03:00:00Z..2026-03-29T04:00:00Z",
            "2026-03-29T04:00:00Z..2026-03-29T05:00:00Z",
        ],
    );
    // Every hour: both folded hours run.
    // 0 * * * *, fall change, cron_trigger.
    check_next(
        "schedule = '0 * * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-10-25T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-10-24T22:00:00Z",
            "2026-10-24T23:00:00Z",
            "2026-10-25T00:00:00Z",
            "2026-10-25T01:00:00Z",
            "2026-10-25T02:00:00Z",
            "2026-10-25T03:00:00Z",
        ],
    );
    // 0 * * * *, fall change, cron_data_interval.
    check_next(
        "schedule = '0 * * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-10-25T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-10-24T22:00:00Z..2026-10-24T23:00:00Z",
            "2026-10-24T23:00:00Z..2026-10-25T00:00:00Z",
            "2026-10-25T00:00:00Z..2026-10-25T01:00:00Z",
            "2026-10-25T01:00:00Z..2026-10-25T02:00:00Z",
            "2026-10-25T02:00:00Z..2026-10-25T03:00:00Z",
            "2026-10-25T03:00:00Z..2026-10-25T04:00:00Z",
        ],
    );
    // Every hour: one run per real hour.
    // 30 * * * *, spring change, cron_trigger.
    check_next(
        "schedule = '30 * * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-29T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-03-28T23:30:00Z",
            "2026-03-29T00:30:00Z",
            "2026-03-29T01:30:00Z",
            "2026-03-29T02:30:00Z",
            "2026-03-29T03:30:00Z",
            "2026-03-29T04:30:00Z",
        ],
    );
    // 30 * * * *, spring change, cron_data_interval.
    check_next(
        "schedule = '30 * * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-29T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-03-28T23:30:00Z..2026-03-29T00:30:00Z",
            "2026-03-29T00:30:00Z..2026-03-29T01:30:00Z",
            "2026-03-29T01:30:00Z..2026-03-29T02:30:00Z",
            "2026-03-29T02:30:00Z..2026-03-29T03:30:00Z",
            "2026-03-29T03:30:00Z..2026-03-29T04:30:00Z",
            "2026-03-29T04:30:00Z..2026-03-29T05:30:00Z",
        ],
    );
    // Every hour: both folded hours run.
    // 30 * * * *, fall change, cron_trigger.
    check_next(
        "schedule = '30 * * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-10-25T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-10-24T22:30:00Z",
            "2026-10-24T23:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:30:00Z",
            "2026-10-25T02:30:00Z",
            "2026-10-25T03:30:00Z",
        ],
    );
    // 30 * * * *, fall change, cron_data_interval.
    check_next(
        "schedule = '30 * * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-10-25T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-10-24T22:30:00Z..2026-10-24T23:30:00Z",
            "2026-10-24T23:30:00Z..2026-10-25T00:30:00Z",
            "2026-10-25T00:30:00Z..2026-10-25T01:30:00Z",
            "2026-10-25T01:30:00Z..2026-10-25T02:30:00Z",
            "2026-10-25T02:30:00Z..2026-10-25T03:30:00Z",
            "2026-10-25T03:30:00Z..2026-10-25T04:30:00Z",
        ],
    );
    // Every two hours is not every hour: the 02:00 tick moves to 03:00 summer time.
    // The start_date on the 00:00 tick is not taken as a tick: Airflow's alignment check
    // (the tick before the next one) lands on the moved 02:00 instead.
    // 0 */2 * * *, spring change, cron_trigger.
    check_next(
        "schedule = '0 */2 * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-29T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        4,
        &[
            "2026-03-29T01:00:00Z",
            "2026-03-29T02:00:00Z",
            "2026-03-29T04:00:00Z",
            "2026-03-29T06:00:00Z",
        ],
    );
    // Not every hour: each tick runs once; a repeated 02:00 runs at the second one
    // (winter time).
    // 0 */2 * * *, fall change, cron_trigger.
    check_next(
        "schedule = '0 */2 * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-10-25T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        4,
        &[
            "2026-10-24T22:00:00Z",
            "2026-10-25T01:00:00Z",
            "2026-10-25T03:00:00Z",
            "2026-10-25T05:00:00Z",
        ],
    );
    // Midnight across the change: the interval over it is 23 hours.
    // 0 0 * * *, spring change, cron_trigger.
    check_next(
        "schedule = '0 0 * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-28T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-03-27T23:00:00Z",
            "2026-03-28T23:00:00Z",
            "2026-03-29T22:00:00Z",
        ],
    );
    // 0 0 * * *, spring change, cron_data_interval.
    check_next(
        "schedule = '0 0 * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-28T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-03-27T23:00:00Z..2026-03-28T23:00:00Z",
            "2026-03-28T23:00:00Z..2026-03-29T22:00:00Z",
            "2026-03-29T22:00:00Z..2026-03-30T22:00:00Z",
        ],
    );
    // Midnight across the change: the interval over it is 25 hours.
    // 0 0 * * *, fall change, cron_trigger.
    check_next(
        "schedule = '0 0 * * *'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-10-24T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-10-23T22:00:00Z",
            "2026-10-24T22:00:00Z",
            "2026-10-25T23:00:00Z",
        ],
    );
    // 0 0 * * *, fall change, cron_data_interval.
    check_next(
        "schedule = '0 0 * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-10-24T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-10-23T22:00:00Z..2026-10-24T22:00:00Z",
            "2026-10-24T22:00:00Z..2026-10-25T23:00:00Z",
            "2026-10-25T23:00:00Z..2026-10-26T23:00:00Z",
        ],
    );
}

#[test]
fn dst_new_york() {
    // 02:30 does not exist on the day clocks go forward: that run moves forward by the
    // gap, to 03:30 summer time.
    // 30 2 * * *, spring change, cron_trigger.
    check_next(
        "schedule = '30 2 * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-03-07T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-03-07T07:30:00Z",
            "2026-03-08T07:30:00Z",
            "2026-03-09T06:30:00Z",
        ],
    );
    // 30 2 * * *, spring change, cron_data_interval.
    check_next(
        "schedule = '30 2 * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'America/New_York'\nstart_date = 2026-03-07T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-03-07T07:30:00Z..2026-03-08T07:30:00Z",
            "2026-03-08T07:30:00Z..2026-03-09T06:30:00Z",
            "2026-03-09T06:30:00Z..2026-03-10T06:30:00Z",
        ],
    );
    // 02:30 happens twice on the day clocks go back: one run, at the second (winter
    // time).
    // 30 2 * * *, fall change, cron_trigger.
    check_next(
        "schedule = '30 2 * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-10-31T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-10-31T06:30:00Z",
            "2026-11-01T07:30:00Z",
            "2026-11-02T07:30:00Z",
        ],
    );
    // 30 2 * * *, fall change, cron_data_interval.
    check_next(
        "schedule = '30 2 * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'America/New_York'\nstart_date = 2026-10-31T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-10-31T06:30:00Z..2026-11-01T07:30:00Z",
            "2026-11-01T07:30:00Z..2026-11-02T07:30:00Z",
            "2026-11-02T07:30:00Z..2026-11-03T07:30:00Z",
        ],
    );
    // Every hour: one run per real hour; nothing makes up for the skipped wall hour.
    // 0 * * * *, spring change, cron_trigger.
    check_next(
        "schedule = '0 * * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-03-08T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-03-08T05:00:00Z",
            "2026-03-08T06:00:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T08:00:00Z",
            "2026-03-08T09:00:00Z",
            "2026-03-08T10:00:00Z",
        ],
    );
    // 0 * * * *, spring change, cron_data_interval.
    check_next(
        "schedule = '0 * * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'America/New_York'\nstart_date = 2026-03-08T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-03-08T05:00:00Z..2026-03-08T06:00:00Z",
            "2026-03-08T06:00:00Z..2026-03-08T07:00:00Z",
            "2026-03-08T07:00:00Z..2026-03-08T08:00:00Z",
            "2026-03-08T08:00:00Z..2026-03-08T09:00:00Z",
            "2026-03-08T09:00:00Z..2026-03-08T10:00:00Z",
            "2026-03-08T10:00:00Z..2026-03-08T11:00:00Z",
        ],
    );
    // Every hour: both folded hours run.
    // 0 * * * *, fall change, cron_trigger.
    check_next(
        "schedule = '0 * * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-11-01T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-11-01T04:00:00Z",
            "2026-11-01T05:00:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T07:00:00Z",
            "2026-11-01T08:00:00Z",
            "2026-11-01T09:00:00Z",
        ],
    );
    // 0 * * * *, fall change, cron_data_interval.
    check_next(
        "schedule = '0 * * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'America/New_York'\nstart_date = 2026-11-01T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-11-01T04:00:00Z..2026-11-01T05:00:00Z",
            "2026-11-01T05:00:00Z..2026-11-01T06:00:00Z",
            "2026-11-01T06:00:00Z..2026-11-01T07:00:00Z",
            "2026-11-01T07:00:00Z..2026-11-01T08:00:00Z",
            "2026-11-01T08:00:00Z..2026-11-01T09:00:00Z",
            "2026-11-01T09:00:00Z..2026-11-01T10:00:00Z",
        ],
    );
    // Every hour: one run per real hour.
    // 30 * * * *, spring change, cron_trigger.
    check_next(
        "schedule = '30 * * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-03-08T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-03-08T05:30:00Z",
            "2026-03-08T06:30:00Z",
            "2026-03-08T07:30:00Z",
            "2026-03-08T08:30:00Z",
            "2026-03-08T09:30:00Z",
            "2026-03-08T10:30:00Z",
        ],
    );
    // 30 * * * *, spring change, cron_data_interval.
    check_next(
        "schedule = '30 * * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'America/New_York'\nstart_date = 2026-03-08T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-03-08T05:30:00Z..2026-03-08T06:30:00Z",
            "2026-03-08T06:30:00Z..2026-03-08T07:30:00Z",
            "2026-03-08T07:30:00Z..2026-03-08T08:30:00Z",
            "2026-03-08T08:30:00Z..2026-03-08T09:30:00Z",
            "2026-03-08T09:30:00Z..2026-03-08T10:30:00Z",
            "2026-03-08T10:30:00Z..2026-03-08T11:30:00Z",
        ],
    );
    // Every hour: both folded hours run.
    // 30 * * * *, fall change, cron_trigger.
    check_next(
        "schedule = '30 * * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-11-01T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-11-01T04:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-01T07:30:00Z",
            "2026-11-01T08:30:00Z",
            "2026-11-01T09:30:00Z",
        ],
    );
    // 30 * * * *, fall change, cron_data_interval.
    check_next(
        "schedule = '30 * * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'America/New_York'\nstart_date = 2026-11-01T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        6,
        &[
            "2026-11-01T04:30:00Z..2026-11-01T05:30:00Z",
            "2026-11-01T05:30:00Z..2026-11-01T06:30:00Z",
            "2026-11-01T06:30:00Z..2026-11-01T07:30:00Z",
            "2026-11-01T07:30:00Z..2026-11-01T08:30:00Z",
            "2026-11-01T08:30:00Z..2026-11-01T09:30:00Z",
            "2026-11-01T09:30:00Z..2026-11-01T10:30:00Z",
        ],
    );
    // Every two hours is not every hour: the 02:00 tick moves to 03:00 summer time.
    // The start_date on the 00:00 tick is not taken as a tick: Airflow's alignment check
    // (the tick before the next one) lands on the moved 02:00 instead.
    // 0 */2 * * *, spring change, cron_trigger.
    check_next(
        "schedule = '0 */2 * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-03-08T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        4,
        &[
            "2026-03-08T07:00:00Z",
            "2026-03-08T08:00:00Z",
            "2026-03-08T10:00:00Z",
            "2026-03-08T12:00:00Z",
        ],
    );
    // Not every hour: each tick runs once; a repeated 02:00 runs at the second one
    // (winter time).
    // 0 */2 * * *, fall change, cron_trigger.
    check_next(
        "schedule = '0 */2 * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-11-01T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        4,
        &[
            "2026-11-01T04:00:00Z",
            "2026-11-01T07:00:00Z",
            "2026-11-01T09:00:00Z",
            "2026-11-01T11:00:00Z",
        ],
    );
    // Midnight across the change: the interval over it is 23 hours.
    // 0 0 * * *, spring change, cron_trigger.
    check_next(
        "schedule = '0 0 * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-03-07T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-03-07T05:00:00Z",
            "2026-03-08T05:00:00Z",
            "2026-03-09T04:00:00Z",
        ],
    );
    // 0 0 * * *, spring change, cron_data_interval.
    check_next(
        "schedule = '0 0 * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'America/New_York'\nstart_date = 2026-03-07T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-03-07T05:00:00Z..2026-03-08T05:00:00Z",
            "2026-03-08T05:00:00Z..2026-03-09T04:00:00Z",
            "2026-03-09T04:00:00Z..2026-03-10T04:00:00Z",
        ],
    );
    // Midnight across the change: the interval over it is 25 hours.
    // 0 0 * * *, fall change, cron_trigger.
    check_next(
        "schedule = '0 0 * * *'\ntimezone = 'America/New_York'\nstart_date = 2026-10-31T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-10-31T04:00:00Z",
            "2026-11-01T04:00:00Z",
            "2026-11-02T05:00:00Z",
        ],
    );
    // 0 0 * * *, fall change, cron_data_interval.
    check_next(
        "schedule = '0 0 * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'America/New_York'\nstart_date = 2026-10-31T00:00:00\ncatchup = true",
        "2027-01-01T00:00:00Z",
        3,
        &[
            "2026-10-31T04:00:00Z..2026-11-01T04:00:00Z",
            "2026-11-01T04:00:00Z..2026-11-02T05:00:00Z",
            "2026-11-02T05:00:00Z..2026-11-03T05:00:00Z",
        ],
    );
}

#[test]
fn a_start_date_with_an_offset_sets_a_fixed_zone() {
    // Midnight at +05:30 is 18:30 UTC the day before.
    check_next(
        "schedule = '@daily'\nstart_date = 2026-05-10T00:00:00+05:30\ncatchup = true",
        "2026-06-01T00:00:00Z",
        3,
        &[
            "2026-05-09T18:30:00Z",
            "2026-05-10T18:30:00Z",
            "2026-05-11T18:30:00Z",
        ],
    );
    check_next(
        "schedule = '30 2 * * *'\ntimetable = 'cron_data_interval'\nstart_date = 2026-03-28T00:00:00-03:00\ncatchup = true",
        "2026-06-01T00:00:00Z",
        2,
        &[
            "2026-03-28T05:30:00Z..2026-03-29T05:30:00Z",
            "2026-03-29T05:30:00Z..2026-03-30T05:30:00Z",
        ],
    );
}

#[test]
fn manual_runs_data_intervals() {
    // cron_trigger: a manual run at 01:00 on the 25th.
    check_manual(
        "schedule = '@daily'",
        "2026-05-25T01:00:00Z",
        "2026-05-25T01:00:00Z",
    );
    // On a tick.
    check_manual(
        "schedule = '@daily'",
        "2026-05-25T00:00:00Z",
        "2026-05-25T00:00:00Z",
    );
    // Across the fall-back fold (02:20 CET, the second 02:20).
    check_manual(
        "schedule = '@hourly'\ntimezone = 'Europe/Amsterdam'",
        "2026-10-25T01:20:00Z",
        "2026-10-25T01:20:00Z",
    );
    // The day after spring-forward: 02:30 did not exist on the 29th.
    check_manual(
        "schedule = '30 2 * * *'\ntimezone = 'Europe/Amsterdam'",
        "2026-03-30T00:00:00Z",
        "2026-03-30T00:00:00Z",
    );
    // cron_data_interval: a manual run at 01:00 on the 25th.
    check_manual(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'",
        "2026-05-25T01:00:00Z",
        "2026-05-24T00:00:00Z..2026-05-25T00:00:00Z",
    );
    // On a tick.
    check_manual(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'",
        "2026-05-25T00:00:00Z",
        "2026-05-24T00:00:00Z..2026-05-25T00:00:00Z",
    );
    // Across the fall-back fold (02:20 CET, the second 02:20).
    check_manual(
        "schedule = '@hourly'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'",
        "2026-10-25T01:20:00Z",
        "2026-10-25T00:00:00Z..2026-10-25T01:00:00Z",
    );
    // The day after spring-forward: 02:30 did not exist on the 29th.
    check_manual(
        "schedule = '30 2 * * *'\ntimetable = 'cron_data_interval'\ntimezone = 'Europe/Amsterdam'",
        "2026-03-30T00:00:00Z",
        "2026-03-29T01:30:00Z",
    );
    check_manual(
        "schedule = '@monthly'\ntimetable = 'cron_data_interval'",
        "2026-03-01T12:00:00Z",
        "2026-02-01T00:00:00Z..2026-03-01T00:00:00Z",
    );
}

#[test]
fn once_runs_once() {
    // At start_date, then never again.
    check_next(
        "schedule = '@once'\nstart_date = 2026-05-01T08:00:00Z",
        "2026-05-15T00:00:00Z",
        3,
        &["2026-05-01T08:00:00Z"],
    );
    check_next(
        "schedule = '@once'\nstart_date = 2026-06-01T08:00:00Z",
        "2026-05-15T00:00:00Z",
        3,
        &["2026-06-01T08:00:00Z"],
    );
    // Without a start_date: right now (Airflow 3; 2.x never runs it).
    check_next(
        "schedule = '@once'",
        "2026-05-15T10:11:12.131415Z",
        3,
        &["2026-05-15T10:11:12.131415Z"],
    );
    // end_date is inclusive.
    check_next(
        "schedule = '@once'\nstart_date = 2026-05-01T08:00:00Z\nend_date = 2026-05-01T08:00:00Z",
        "2026-05-15T00:00:00Z",
        3,
        &["2026-05-01T08:00:00Z"],
    );
    // Without a start_date, now is past end_date.
    check_next(
        "schedule = '@once'\nend_date = 2026-05-01T08:00:00Z",
        "2026-05-15T00:00:00Z",
        3,
        &[],
    );
    // Manual runs: the instant itself, whatever the timetable key says.
    check_manual(
        "schedule = '@once'\ntimetable = 'cron_data_interval'",
        "2026-05-25T01:00:00Z",
        "2026-05-25T01:00:00Z",
    );
}

#[test]
fn continuous_covers_the_time_since_the_last_run() {
    // The first run covers start_date to now; the next ones are empty intervals at now.
    check_next(
        "schedule = '@continuous'\nstart_date = 2026-05-01T08:00:00Z",
        "2026-05-15T00:00:00Z",
        3,
        &[
            "2026-05-01T08:00:00Z..2026-05-15T00:00:00Z",
            "2026-05-15T00:00:00Z",
            "2026-05-15T00:00:00Z",
        ],
    );
    // A future start_date: an empty interval there, repeated while it is in the future.
    check_next(
        "schedule = '@continuous'\nstart_date = 2026-06-01T08:00:00Z",
        "2026-05-15T00:00:00Z",
        3,
        &[
            "2026-06-01T08:00:00Z",
            "2026-06-01T08:00:00Z",
            "2026-06-01T08:00:00Z",
        ],
    );
    // Without a start_date: now.
    check_next(
        "schedule = '@continuous'",
        "2026-05-15T10:11:12Z",
        2,
        &["2026-05-15T10:11:12Z", "2026-05-15T10:11:12Z"],
    );
    // Past end_date: nothing.
    check_next(
        "schedule = '@continuous'\nstart_date = 2026-05-01T08:00:00Z\nend_date = 2026-05-10T00:00:00Z",
        "2026-05-15T00:00:00Z",
        2,
        &[],
    );
    check_manual(
        "schedule = '@continuous'",
        "2026-05-25T01:00:00Z",
        "2026-05-25T01:00:00Z",
    );
}

#[test]
fn a_dag_without_schedule_only_runs_manually() {
    check_next("", "2026-05-15T00:00:00Z", 3, &[]);
    check_next(
        "start_date = 2026-01-01\ncatchup = true",
        "2026-05-15T00:00:00Z",
        3,
        &[],
    );
    check_manual("", "2026-05-25T01:00:00Z", "2026-05-25T01:00:00Z");
}

#[test]
fn backfill_covers_the_range_inclusively() {
    // Both ends are ticks and both run; start_date, end_date and catchup do not matter.
    check_backfill(
        "schedule = '@daily'",
        "2026-05-01T00:00:00Z",
        "2026-05-04T00:00:00Z",
        "2026-05-15T12:00:00Z",
        &[
            "2026-05-01T00:00:00Z",
            "2026-05-02T00:00:00Z",
            "2026-05-03T00:00:00Z",
            "2026-05-04T00:00:00Z",
        ],
    );
    check_backfill(
        "schedule = '@daily'\nstart_date = 2026-05-03\nend_date = 2026-05-03",
        "2026-05-01T00:00:00Z",
        "2026-05-04T00:00:00Z",
        "2026-05-15T12:00:00Z",
        &[
            "2026-05-01T00:00:00Z",
            "2026-05-02T00:00:00Z",
            "2026-05-03T00:00:00Z",
            "2026-05-04T00:00:00Z",
        ],
    );
    // cron_data_interval: intervals starting in the range.
    check_backfill(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'",
        "2026-05-01T00:00:00Z",
        "2026-05-04T00:00:00Z",
        "2026-05-15T12:00:00Z",
        &[
            "2026-05-01T00:00:00Z..2026-05-02T00:00:00Z",
            "2026-05-02T00:00:00Z..2026-05-03T00:00:00Z",
            "2026-05-03T00:00:00Z..2026-05-04T00:00:00Z",
            "2026-05-04T00:00:00Z..2026-05-05T00:00:00Z",
        ],
    );
    // Ends between ticks: aligned inward.
    check_backfill(
        "schedule = '@daily'",
        "2026-05-01T06:00:00Z",
        "2026-05-03T23:59:59Z",
        "2026-05-15T12:00:00Z",
        &["2026-05-02T00:00:00Z", "2026-05-03T00:00:00Z"],
    );
    // Runs whose interval has not ended by now are left out (with cron_trigger the
    // interval ends at the tick).
    check_backfill(
        "schedule = '@daily'",
        "2026-05-01T00:00:00Z",
        "2026-05-10T00:00:00Z",
        "2026-05-03T12:00:00Z",
        &[
            "2026-05-01T00:00:00Z",
            "2026-05-02T00:00:00Z",
            "2026-05-03T00:00:00Z",
        ],
    );
    // A tick exactly at now has not ended before now.
    check_backfill(
        "schedule = '@daily'",
        "2026-05-01T00:00:00Z",
        "2026-05-10T00:00:00Z",
        "2026-05-03T00:00:00Z",
        &["2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z"],
    );
    check_backfill(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'",
        "2026-05-01T00:00:00Z",
        "2026-05-10T00:00:00Z",
        "2026-05-03T12:00:00Z",
        &[
            "2026-05-01T00:00:00Z..2026-05-02T00:00:00Z",
            "2026-05-02T00:00:00Z..2026-05-03T00:00:00Z",
        ],
    );
    // Across the fall-back fold: both 01:00s.
    check_backfill(
        "schedule = '@hourly'\ntimezone = 'America/New_York'",
        "2026-11-01T04:30:00Z",
        "2026-11-01T07:00:00Z",
        "2026-12-01T00:00:00Z",
        &[
            "2026-11-01T05:00:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T07:00:00Z",
        ],
    );
    // @once: one run at the range's start.
    check_backfill(
        "schedule = '@once'\nstart_date = 2026-01-01",
        "2026-05-01T00:00:00Z",
        "2026-05-04T00:00:00Z",
        "2026-05-15T12:00:00Z",
        &["2026-05-01T00:00:00Z"],
    );
    // @continuous: its intervals end at now, never before it.
    check_backfill(
        "schedule = '@continuous'\nstart_date = 2026-01-01",
        "2026-05-01T00:00:00Z",
        "2026-05-20T00:00:00Z",
        "2026-05-15T12:00:00Z",
        &[],
    );
    // No schedule: nothing.
    check_backfill(
        "",
        "2026-05-01T00:00:00Z",
        "2026-05-04T00:00:00Z",
        "2026-05-15T12:00:00Z",
        &[],
    );
}

#[test]
fn ticks_are_not_limited_to_a_range_of_years() {
    // 2100 is not a leap year: eight years between two 29 Februaries.
    check_next(
        "schedule = '0 0 29 2 *'\nstart_date = 2095-01-01\ncatchup = true",
        "2026-05-15T00:00:00Z",
        2,
        &["2096-02-29T00:00:00Z", "2104-02-29T00:00:00Z"],
    );
    check_next(
        "schedule = '@daily'\ntimetable = 'cron_data_interval'\nstart_date = 1969-12-30\ncatchup = true",
        "2026-05-15T00:00:00Z",
        3,
        &[
            "1969-12-30T00:00:00Z..1969-12-31T00:00:00Z",
            "1969-12-31T00:00:00Z..1970-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z..1970-01-02T00:00:00Z",
        ],
    );
    check_next(
        "schedule = '@yearly'",
        "2150-06-01T00:00:00Z",
        2,
        &["2151-01-01T00:00:00Z", "2152-01-01T00:00:00Z"],
    );
}

// Duration schedules (`schedule = "6h"`, Airflow's `schedule=timedelta(hours=6)`). The
// expected runs follow Airflow 3.1's `DeltaTriggerTimetable` (`timetables/trigger.py`
// `_TriggerTimetable.next_dagrun_info` with `_delta.py`'s identity alignment) and
// `DeltaDataIntervalTimetable` (`timetables/interval.py`, `_skip_to_latest` rounding
// `now` down on the epoch grid), worked out from those formulas.

#[test]
fn a_duration_schedule_triggers_every_delta() {
    // Without catchup the first run is now (Airflow aligns a delta to nothing), then
    // every 6 hours after it.
    check_next(
        "schedule = '6h'\nstart_date = 2026-05-01",
        "2026-05-15T10:17:00Z",
        3,
        &[
            "2026-05-15T10:17:00Z",
            "2026-05-15T16:17:00Z",
            "2026-05-15T22:17:00Z",
        ],
    );
    // A start date in the future: the first run waits for it.
    check_next(
        "schedule = '1h30m'\nstart_date = 2026-06-01T08:00:00Z",
        "2026-05-15T10:17:00Z",
        2,
        &["2026-06-01T08:00:00Z", "2026-06-01T09:30:00Z"],
    );
    // With catchup, every step from start_date; end_date is inclusive.
    check_next(
        "schedule = '6h'\nstart_date = 2026-05-15\nend_date = 2026-05-15T12:00:00Z\ncatchup = true",
        "2026-05-15T10:17:00Z",
        5,
        &[
            "2026-05-15T00:00:00Z",
            "2026-05-15T06:00:00Z",
            "2026-05-15T12:00:00Z",
        ],
    );
}

#[test]
fn a_duration_schedule_with_data_intervals_runs_at_each_interval_end() {
    // Airflow 2's DeltaDataIntervalTimetable: without catchup, the interval that ended
    // last on the epoch grid (midnight UTC for a day), then the following ones.
    check_next(
        "schedule = '1d'\ntimetable = 'cron_data_interval'\nstart_date = 2026-05-01",
        "2026-05-15T10:17:00Z",
        3,
        &[
            "2026-05-14T00:00:00Z..2026-05-15T00:00:00Z",
            "2026-05-15T00:00:00Z..2026-05-16T00:00:00Z",
            "2026-05-16T00:00:00Z..2026-05-17T00:00:00Z",
        ],
    );
    // 90 minutes: 10:17 rounds down to 09:00 on the epoch's 90-minute grid.
    check_next(
        "schedule = '90m'\ntimetable = 'cron_data_interval'",
        "2026-05-15T10:17:00Z",
        2,
        &[
            "2026-05-15T07:30:00Z..2026-05-15T09:00:00Z",
            "2026-05-15T09:00:00Z..2026-05-15T10:30:00Z",
        ],
    );
    // With catchup, intervals from start_date itself (not aligned to anything).
    check_next(
        "schedule = '1d'\ntimetable = 'cron_data_interval'\nstart_date = 2026-05-01T08:00:00Z\ncatchup = true",
        "2026-05-15T10:17:00Z",
        2,
        &[
            "2026-05-01T08:00:00Z..2026-05-02T08:00:00Z",
            "2026-05-02T08:00:00Z..2026-05-03T08:00:00Z",
        ],
    );
}

#[test]
fn a_duration_schedule_counts_real_hours_across_dst() {
    // Airflow adds the timedelta to UTC instants: a day is 24 hours, so after the
    // spring change a midnight schedule runs at 01:00 local time.
    check_next(
        "schedule = '1d'\ntimezone = 'Europe/Amsterdam'\nstart_date = 2026-03-28\ncatchup = true",
        "2026-05-15T10:17:00Z",
        3,
        &[
            "2026-03-27T23:00:00Z",
            "2026-03-28T23:00:00Z",
            "2026-03-29T23:00:00Z",
        ],
    );
}

#[test]
fn manual_runs_of_a_duration_schedule() {
    check_manual(
        "schedule = '6h'",
        "2026-05-15T10:17:00Z",
        "2026-05-15T10:17:00Z",
    );
    check_manual(
        "schedule = '6h'\ntimetable = 'cron_data_interval'",
        "2026-05-15T10:17:00Z",
        "2026-05-15T04:17:00Z..2026-05-15T10:17:00Z",
    );
}

#[test]
fn extended_cron_expressions_drive_the_timetables() {
    // The last Friday of each month (croniter's `L5`) and the last day of the month.
    check_next(
        "schedule = '0 18 * * L5'\nstart_date = 2026-01-01\ncatchup = true",
        "2026-05-15T10:17:00Z",
        3,
        &[
            "2026-01-30T18:00:00Z",
            "2026-02-27T18:00:00Z",
            "2026-03-27T18:00:00Z",
        ],
    );
    check_next(
        "schedule = '0 0 L * *'\ntimetable = 'cron_data_interval'\nstart_date = 2024-01-31\ncatchup = true",
        "2026-05-15T10:17:00Z",
        2,
        &[
            "2024-01-31T00:00:00Z..2024-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z..2024-03-31T00:00:00Z",
        ],
    );
    // The second Monday, without catchup: the latest tick has passed, so it runs.
    check_next(
        "schedule = '0 9 * * 1#2'\nstart_date = 2026-01-01",
        "2026-05-15T10:17:00Z",
        2,
        &["2026-05-11T09:00:00Z", "2026-06-08T09:00:00Z"],
    );
}

#[test]
fn an_end_date_before_the_start_date_is_a_warning_and_no_runs() {
    let text = "schedule = '@daily'\nstart_date = 2026-05-01\nend_date = 2026-04-01";
    let (dag, diags) = parse_dag(Path::new("t.toml"), text);
    let dag = dag.expect("the DAG loads");
    let rendered: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert_eq!(rendered.len(), 1, "{rendered:?}");
    assert!(
        rendered[0].contains("warning: `end_date` (2026-04-01 00:00:00 UTC) is before `start_date` (2026-05-01 00:00:00 UTC): the DAG gets no scheduled runs"),
        "{}",
        rendered[0]
    );
    assert!(next_executions(&dag, 3, t("2026-05-15T00:00:00Z")).is_empty());
}
