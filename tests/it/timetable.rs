//! `dags next-execution` end to end: the runs the real binary predicts for the DAGs
//! under `tests/fixtures/timetable/`, across DST changes, month ends and the
//! start/end dates.
//!
//! The expected values were computed with Airflow's own timetable code (Airflow
//! 2.10.5's `CronMixin` and `CronDataIntervalTimetable`, Airflow 3's
//! `CronTriggerTimetable` and `OnceTimetable` logic on top, croniter and pendulum, the
//! clock patched to `--now`); see `scheduler/src/timetable/tests.rs`. They are written
//! with the DAG's local offset where that shows the DST rule, and compared as instants.

use serde_json::Value;

use crate::{lithoflow, repo_root};

/// An instant as (seconds since the Unix epoch, nanoseconds), parsed from RFC 3339
/// (`2026-03-29T03:30:00+02:00`, `2026-03-29T01:30:00.5Z`).
fn instant(text: &str) -> (i64, u32) {
    fn fail(text: &str) -> ! {
        panic!("{text:?} is not an RFC 3339 time")
    }
    let bad = || fail(text);
    let num = |s: &str| -> i64 { s.parse().unwrap_or_else(|_| fail(text)) };
    if text.len() < 20 || !text.is_char_boundary(19) {
        bad();
    }
    let (date_time, rest) = text.split_at(19);
    let b = date_time.as_bytes();
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        bad();
    }
    let (y, mo, d) = (
        num(&date_time[0..4]),
        num(&date_time[5..7]),
        num(&date_time[8..10]),
    );
    let (h, mi, s) = (
        num(&date_time[11..13]),
        num(&date_time[14..16]),
        num(&date_time[17..19]),
    );
    let (nanos, zone) = match rest.strip_prefix('.') {
        Some(frac) => {
            let digits = frac
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(frac.len());
            if digits == 0 || digits > 9 {
                bad();
            }
            let scaled = num(&frac[..digits]) * 10_i64.pow(9 - digits as u32);
            (
                u32::try_from(scaled).unwrap_or_else(|_| fail(text)),
                &frac[digits..],
            )
        }
        None => (0, rest),
    };
    let offset = match zone {
        "Z" | "z" => 0,
        _ if zone.len() == 6 && zone.as_bytes()[3] == b':' => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => bad(),
            };
            sign * (num(&zone[1..3]) * 3600 + num(&zone[4..6]) * 60)
        }
        _ => bad(),
    };
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + h * 3600 + mi * 60 + s - offset, nanos)
}

/// Runs `dags next-execution` on the fixtures with a fresh LITHOFLOW_HOME:
/// (stdout, stderr); the command must succeed.
fn next_execution(dag_id: &str, n: usize, now: &str, format: &str) -> (String, String) {
    let home = tempfile::tempdir().expect("temp dir");
    let out = lithoflow()
        .arg("--dags-folder")
        .arg(repo_root().join("tests/fixtures/timetable"))
        .args(["dags", "next-execution", dag_id, "--num-executions"])
        .arg(n.to_string())
        .args(["--now", now, "-o", format])
        .env("LITHOFLOW_HOME", home.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{dag_id}: {stderr}");
    (stdout, stderr)
}

/// The predicted runs as (data interval start, data interval end), after checking that
/// each run has exactly the four fields, starts at its interval's end and has its
/// interval's start as its logical date.
fn runs(dag_id: &str, n: usize, now: &str) -> Vec<((i64, u32), (i64, u32))> {
    let (stdout, _) = next_execution(dag_id, n, now, "json");
    let list: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{dag_id}: -o json prints a JSON array ({e}):\n{stdout}"));
    list.iter()
        .map(|run| {
            let field = |k: &str| {
                instant(
                    run[k]
                        .as_str()
                        .unwrap_or_else(|| panic!("{dag_id}: `{k}` is a string in {run}")),
                )
            };
            assert_eq!(run.as_object().map(|o| o.len()), Some(4), "{run}");
            let (start, end) = (field("data_interval_start"), field("data_interval_end"));
            assert_eq!(
                field("run_after"),
                end,
                "{dag_id}: runs after its interval: {run}"
            );
            assert_eq!(field("logical_date"), start, "{dag_id}: {run}");
            (start, end)
        })
        .collect()
}

/// Expected runs as (data interval start, data interval end).
fn intervals(expected: &[(&str, &str)]) -> Vec<((i64, u32), (i64, u32))> {
    expected
        .iter()
        .map(|(s, e)| (instant(s), instant(e)))
        .collect()
}

/// Expected runs of `cron_trigger` and `@once` DAGs: empty intervals at each tick.
fn ticks(expected: &[&str]) -> Vec<((i64, u32), (i64, u32))> {
    expected.iter().map(|t| (instant(t), instant(t))).collect()
}

#[test]
fn the_rfc3339_parser_agrees_with_known_instants() {
    assert_eq!(instant("1970-01-01T00:00:00Z"), (0, 0));
    assert_eq!(instant("2026-03-29T03:30:00+02:00"), (1_774_747_800, 0));
    assert_eq!(
        instant("2026-03-29T01:30:00.25Z"),
        (1_774_747_800, 250_000_000)
    );
    assert_eq!(instant("2000-02-29T00:00:00-05:00"), (951_800_400, 0));
}

#[test]
fn a_tick_in_the_spring_forward_gap_moves_forward_by_the_gap() {
    // 02:30 in Amsterdam does not exist on 2026-03-29: that run is at 03:30 CEST.
    assert_eq!(
        runs("amsterdam_gap", 4, "2027-01-01T00:00:00Z"),
        ticks(&[
            "2026-03-27T02:30:00+01:00",
            "2026-03-28T02:30:00+01:00",
            "2026-03-29T03:30:00+02:00",
            "2026-03-30T02:30:00+02:00",
        ])
    );
}

#[test]
fn an_hourly_schedule_runs_in_both_folded_hours() {
    assert_eq!(
        runs("new_york_fold", 5, "2027-01-01T00:00:00Z"),
        ticks(&[
            "2026-11-01T00:00:00-04:00",
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T02:00:00-05:00",
            "2026-11-01T03:00:00-05:00",
        ])
    );
}

#[test]
fn month_end_intervals_skip_short_months() {
    assert_eq!(
        runs("month_end_interval", 4, "2027-01-01T00:00:00Z"),
        intervals(&[
            ("2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z"),
            ("2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"),
            ("2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"),
            ("2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"),
        ])
    );
    assert_eq!(
        runs("leap_day", 2, "2026-05-15T00:00:00Z"),
        ticks(&["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"])
    );
}

#[test]
fn without_catchup_the_first_run_is_the_latest_tick() {
    assert_eq!(
        runs("daily_no_catchup", 3, "2026-05-15T12:00:00Z"),
        ticks(&[
            "2026-05-15T00:00:00Z",
            "2026-05-16T00:00:00Z",
            "2026-05-17T00:00:00Z",
        ])
    );
    // The clock exactly on a tick: that tick.
    assert_eq!(
        runs("daily_no_catchup", 2, "2026-05-15T00:00:00Z"),
        ticks(&["2026-05-15T00:00:00Z", "2026-05-16T00:00:00Z"])
    );
}

#[test]
fn end_date_is_inclusive_and_fewer_runs_are_reported() {
    let (stdout, stderr) = next_execution("bounded", 5, "2026-06-01T00:00:00Z", "json");
    assert!(
        stderr.contains("No following schedule can be found after 3 run(s)"),
        "{stderr}"
    );
    assert!(stdout.trim_start().starts_with('['), "{stdout}");
    assert_eq!(
        runs("bounded", 5, "2026-06-01T00:00:00Z"),
        ticks(&[
            "2026-05-01T00:00:00Z",
            "2026-05-02T00:00:00Z",
            "2026-05-03T00:00:00Z",
        ])
    );
}

#[test]
fn a_start_date_offset_is_the_dags_zone() {
    assert_eq!(
        runs("fixed_offset", 2, "2026-06-01T00:00:00Z"),
        ticks(&["2026-05-10T00:00:00+05:30", "2026-05-11T00:00:00+05:30"])
    );
}

#[test]
fn once_runs_once_at_its_start_date() {
    assert_eq!(
        runs("once", 3, "2026-06-01T00:00:00Z"),
        ticks(&["2026-05-01T08:00:00Z"])
    );
}

#[test]
fn plain_output_prints_one_logical_date_per_line() {
    let (stdout, _) = next_execution("amsterdam_gap", 3, "2027-01-01T00:00:00Z", "plain");
    let dates: Vec<(i64, u32)> = stdout.lines().map(instant).collect();
    assert_eq!(
        dates,
        [
            instant("2026-03-27T02:30:00+01:00"),
            instant("2026-03-28T02:30:00+01:00"),
            instant("2026-03-29T03:30:00+02:00"),
        ]
    );
    let (stdout, _) = next_execution("month_end_interval", 2, "2027-01-01T00:00:00Z", "plain");
    let dates: Vec<(i64, u32)> = stdout.lines().map(instant).collect();
    assert_eq!(
        dates,
        [
            instant("2026-01-31T00:00:00Z"),
            instant("2026-03-31T00:00:00Z")
        ],
        "plain prints the logical date: the interval's start"
    );
}

#[test]
fn a_manual_only_dag_has_no_next_execution() {
    let (stdout, stderr) = next_execution("manual_only", 3, "2026-06-01T00:00:00Z", "json");
    let list: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(list, Value::Array(Vec::new()));
    assert!(
        stderr.contains("No following schedule can be found after 0 run(s)"),
        "{stderr}"
    );
    let (stdout, _) = next_execution("manual_only", 3, "2026-06-01T00:00:00Z", "plain");
    assert_eq!(stdout, "None\n");
}
