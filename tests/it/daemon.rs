//! `lithoflow scheduler` as a daemon: runs created on schedule (catchup, both
//! timetables), pause/unpause, backfill, `max_active_runs`, the live DAGs folder, and a
//! graceful SIGTERM. Each test has its own DAGs folder and LITHOFLOW_HOME.

use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use serde_json::Value;

use crate::harness::{Daemon, Env, wait_for};

const FNS: &str = r#"
import time

def add(x, y):
    return x + y

def nap(s):
    time.sleep(s)
    return s

def fail_on(ds, bad):
    if ds == bad:
        raise ValueError("bad day " + ds)
    return ds
"#;

/// A DAGs folder holding the test functions, and a home.
fn env() -> Env {
    let env = Env::new();
    env.write("fns.py", FNS);
    env
}

fn dag_ids(daemon: &Daemon) -> Vec<String> {
    let (status, body) = daemon.get("/api/v1/dags");
    assert_eq!(status, 200, "{body}");
    body["dags"]
        .as_array()
        .expect("dags")
        .iter()
        .map(|d| d["dag_id"].as_str().expect("id").to_owned())
        .collect()
}

fn date(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("not a date: {v}"))
        .with_timezone(&Utc)
}

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Span::hours(1)).expect("trunc")
}

fn hourly_dag(timetable: &str, start: DateTime<Utc>) -> String {
    format!(
        r#"
schedule = "@hourly"
timetable = "{timetable}"
start_date = {start}
catchup = true
is_paused_upon_creation = false
max_active_runs = 2

[tasks.a]
type = "call_async"
func = "fns:add"
data = {{ x = 1, y = 2 }}
"#,
        start = start.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[test]
fn catchup_creates_every_missed_tick_of_a_cron_trigger_dag() {
    let env = env();
    let before = hour_floor(Utc::now());
    let start = before - Span::hours(5);
    env.write("hourly.toml", &hourly_dag("cron_trigger", start));
    env.schedule_until_idle();
    let after = hour_floor(Utc::now());
    let runs = env.runs("hourly");
    // Ticks from start_date (on a tick, so included) up to the latest past tick.
    let mut dates: Vec<DateTime<Utc>> = runs.iter().map(|r| date(&r["logical_date"])).collect();
    dates.sort();
    let expected = |last: DateTime<Utc>| -> Vec<DateTime<Utc>> {
        let mut v = Vec::new();
        let mut t = start;
        while t <= last {
            v.push(t);
            t += Span::hours(1);
        }
        v
    };
    assert!(
        dates == expected(before) || dates == expected(after),
        "{dates:?}"
    );
    for r in &runs {
        assert_eq!(r["state"], "success", "{r}");
        let logical = date(&r["logical_date"]);
        assert_eq!(
            r["run_id"],
            format!("scheduled__{}", logical.format("%Y-%m-%dT%H:%M:%S+00:00"))
        );
        assert_eq!(
            date(&r["run_after"]),
            logical,
            "cron_trigger runs at the tick"
        );
    }
}

#[test]
fn catchup_with_data_intervals_runs_each_complete_interval_at_its_end() {
    let env = env();
    let before = hour_floor(Utc::now());
    let start = before - Span::hours(4);
    env.write("intervals.toml", &hourly_dag("cron_data_interval", start));
    env.schedule_until_idle();
    let runs = env.runs("intervals");
    let mut starts: Vec<DateTime<Utc>> = runs.iter().map(|r| date(&r["logical_date"])).collect();
    starts.sort();
    // [start, start+1h) ... up to the interval that ended at the latest tick.
    assert!(
        starts.len() == 4 || starts.len() == 5,
        "four complete intervals (five if an hour turned): {starts:?}"
    );
    assert_eq!(starts[0], start);
    for r in &runs {
        assert_eq!(r["state"], "success", "{r}");
        let logical = date(&r["logical_date"]);
        assert_eq!(
            date(&r["run_after"]),
            logical + Span::hours(1),
            "runs at the interval's end"
        );
    }
}

#[test]
fn paused_dags_get_no_runs_until_unpaused_and_then_only_the_latest_without_catchup() {
    let env = env();
    env.write(
        "sleepy.toml",
        r#"
schedule = "@hourly"
start_date = 2026-01-01T00:00:00Z

[tasks.a]
type = "call_async"
func = "fns:add"
data = { x = 1, y = 2 }
"#,
    );
    // is_paused_upon_creation defaults to true, as in Airflow.
    env.schedule_until_idle();
    assert!(env.runs("sleepy").is_empty());
    let (code, out, err) = env.run(&["dags", "unpause", "sleepy", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(rows[0]["is_paused"], false);
    env.schedule_until_idle();
    let runs = env.runs("sleepy");
    assert_eq!(
        runs.len(),
        1,
        "catchup = false: only the latest tick: {runs:?}"
    );
    let logical = date(&runs[0]["logical_date"]);
    let now = Utc::now();
    assert!(
        logical <= now && now - logical < Span::minutes(61),
        "{logical}"
    );
    let (code, _, err) = env.run(&["dags", "pause", "sleepy"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn runs_beyond_max_active_runs_wait_queued() {
    let env = env();
    env.write(
        "one_at_a_time.toml",
        r#"
is_paused_upon_creation = false
max_active_runs = 1

[tasks.nap]
type = "call_async"
func = "fns:nap"
data = { s = 0.3 }
"#,
    );
    for id in ["r1", "r2", "r3"] {
        let (code, _, err) = env.run(&["dags", "trigger", "one_at_a_time", "-r", id]);
        assert_eq!(code, 0, "{err}");
    }
    env.schedule_until_idle();
    let mut runs = env.runs("one_at_a_time");
    runs.sort_by_key(|r| date(&r["start_date"]));
    assert_eq!(runs.len(), 3);
    for pair in runs.windows(2) {
        assert_eq!(pair[0]["state"], "success");
        assert!(
            date(&pair[1]["start_date"]) >= date(&pair[0]["end_date"]),
            "one run at a time: {pair:?}"
        );
    }
}

#[test]
fn backfill_runs_each_tick_in_the_range_and_reprocesses_only_what_is_asked() {
    let env = env();
    env.write(
        "daily.toml",
        r#"
schedule = "@daily"
start_date = 2026-01-01T00:00:00Z

[tasks.check]
type = "call_async"
func = "fns:fail_on"
data = { ds = "{{ ds }}", bad = "2026-01-02" }
"#,
    );
    let args = [
        "dags",
        "backfill",
        "daily",
        "--from-date",
        "2026-01-01",
        "--to-date",
        "2026-01-03",
    ];
    let (code, out, err) = env.run(&[&args[..], &["--dry-run", "-o", "plain"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Logical dates to be attempted:"), "{out}");
    for d in [
        "2026-01-01T00:00:00",
        "2026-01-02T00:00:00",
        "2026-01-03T00:00:00",
    ] {
        assert!(out.contains(d), "{out}");
    }
    assert!(env.runs("daily").is_empty(), "a dry run creates nothing");

    // The backfill runs here (no scheduler) and fails because one day fails.
    let (code, _, err) = env.run(&args);
    assert_eq!(code, 1, "{err}");
    let states = |env: &Env| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = env
            .runs("daily")
            .iter()
            .map(|r| {
                (
                    r["logical_date"].as_str().unwrap_or_default()[..10].to_owned(),
                    r["state"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        states(&env),
        [
            s("2026-01-01", "success"),
            s("2026-01-02", "failed"),
            s("2026-01-03", "success")
        ]
    );
    let tries = |env: &Env, run: &str| -> u64 {
        let tis = env.json(&["tasks", "states-for-dag-run", "daily", run, "-o", "json"]);
        tis[0]["try_number"].as_u64().expect("try")
    };
    let id = |d: &str| format!("backfill__{d}T00:00:00+00:00");
    // none: every date has a run, nothing to do.
    let (code, out, err) = env.run(&[&args[..], &["-o", "json"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("\"create\"") && !out.contains("\"clear\""),
        "{out}"
    );
    // failed: only the failed day runs again.
    let (code, _, err) = env.run(&[&args[..], &["--reprocess-behavior", "failed"]].concat());
    assert_eq!(code, 1, "{err}");
    assert_eq!(tries(&env, &id("2026-01-01")), 1);
    assert_eq!(tries(&env, &id("2026-01-02")), 2);
    // completed: all three again.
    let (code, _, err) = env.run(&[&args[..], &["--reprocess-behavior", "completed"]].concat());
    assert_eq!(code, 1, "{err}");
    assert_eq!(tries(&env, &id("2026-01-01")), 2);
    assert_eq!(tries(&env, &id("2026-01-03")), 2);
    assert_eq!(tries(&env, &id("2026-01-02")), 3);
    let (code, _, err) = env.run(&[
        "dags",
        "backfill",
        "daily",
        "--from-date",
        "2026-01-03",
        "--to-date",
        "2026-01-01",
    ]);
    assert_eq!(code, 2, "a reversed range is a usage error");
    assert!(err.contains("is after"), "{err}");
}

#[test]
fn the_daemon_picks_up_new_edited_broken_and_deleted_dag_files() {
    let env = env();
    let mut daemon = env.start();
    assert!(dag_ids(&daemon).is_empty());
    let once = r#"
schedule = "@once"
is_paused_upon_creation = false

[tasks.a]
type = "call_async"
func = "fns:add"
data = { x = 1, y = 2 }
"#;
    let written = Instant::now();
    env.write("fresh.toml", once);
    wait_for("the new DAG", Duration::from_secs(10), || {
        dag_ids(&daemon).contains(&"fresh".to_owned()).then_some(())
    });
    let seen = written.elapsed();
    assert!(seen < Duration::from_secs(3), "picked up after {seen:?}");
    // @once without a start date runs once, now.
    wait_for("the @once run to succeed", Duration::from_secs(30), || {
        let (_, body) = daemon.get("/api/v1/dags/fresh/dagRuns");
        (body["dag_runs"][0]["state"] == "success").then_some(())
    });

    // Broken: the last valid version stays loaded, the error is listed.
    env.write(
        "fresh.toml",
        "schedule = \"@once\"\n[tasks.a]\ntype = \"nope\"\n",
    );
    wait_for("the import error", Duration::from_secs(10), || {
        let (_, body) = daemon.get("/api/v1/importErrors");
        (body["total_entries"] == 1).then_some(())
    });
    assert!(dag_ids(&daemon).contains(&"fresh".to_owned()));
    let (code, out, _) = env.run(&["dags", "list-import-errors", "-o", "json"]);
    assert_eq!(code, 0);
    assert!(out.contains("fresh.toml") && out.contains("nope"), "{out}");

    // Deleted: no longer served; its history stays.
    std::fs::remove_file(env.dags.path().join("fresh.toml")).expect("rm");
    wait_for("the DAG to go", Duration::from_secs(10), || {
        (!dag_ids(&daemon).contains(&"fresh".to_owned())).then_some(())
    });

    let code = daemon.terminate();
    let log = daemon.log();
    assert_eq!(code, 0, "{log}");
    assert_eq!(env.runs("fresh").len(), 1, "history kept");
}

#[test]
fn sigterm_lets_running_calls_finish_then_exits_zero_and_the_run_resumes_later() {
    let env = env();
    env.write(
        "slow.toml",
        r#"
is_paused_upon_creation = false

[tasks.nap]
type = "call_async"
func = "fns:nap"
data = { s = 2 }

[tasks.after]
type = "call_async"
func = "fns:add"
data = { x = 1, y = 1 }
upstream = ["nap"]
"#,
    );
    let (code, _, err) = env.run(&["dags", "trigger", "slow", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");
    let mut daemon = env.start();
    wait_for("the nap to start", Duration::from_secs(30), || {
        let (_, body) = daemon.get("/api/v1/dags/slow/dagRuns/r1/taskInstances");
        let running = body["task_instances"].as_array().is_some_and(|tis| {
            tis.iter()
                .any(|t| t["task_id"] == "nap" && t["state"] == "running")
        });
        running.then_some(())
    });
    let stopped = Instant::now();

    let code = daemon.terminate();
    let log = daemon.log();
    assert_eq!(code, 0, "{log}");
    assert!(stopped.elapsed() < Duration::from_secs(15), "{log}");
    // The running call finished and was recorded; nothing new started.
    let tis = env.json(&["tasks", "states-for-dag-run", "slow", "r1", "-o", "json"]);
    let state = |t: &str| {
        tis.as_array()
            .and_then(|a| a.iter().find(|x| x["task_id"] == t))
            .map(|x| x["state"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(state("nap").as_deref(), Some("success"), "{tis}");
    assert_ne!(state("after").as_deref(), Some("success"), "{tis}");
    // The next start finishes the run without running the nap again.
    env.schedule_until_idle();
    let tis = env.json(&["tasks", "states-for-dag-run", "slow", "r1", "-o", "json"]);
    for t in tis.as_array().expect("tis") {
        assert_eq!(t["state"], "success", "{t}");
        assert_eq!(t["try_number"], 1, "{t}");
    }
}

#[test]
fn a_second_scheduler_on_the_same_home_is_refused_clearly() {
    let env = env();
    let mut daemon = env.start();
    let (code, _, err) = env.run(&["scheduler", "--api-port", "0", "--exit-when-idle"]);
    assert_ne!(code, 0);
    assert!(err.contains("another lithoflow scheduler"), "{err}");

    let code = daemon.terminate();
    let log = daemon.log();
    assert_eq!(code, 0, "{log}");
    assert!(!env.home.path().join("scheduler.json").exists());
}

#[test]
fn clearing_a_running_task_stops_its_try_and_runs_it_again() {
    let env = env();
    env.write(
        "slow.toml",
        r#"
is_paused_upon_creation = false

[tasks.nap]
type = "call_async"
func = "fns:nap"
data = { s = 3 }
"#,
    );
    let (code, _, err) = env.run(&["dags", "trigger", "slow", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");
    let mut daemon = env.start();
    let nap = |d: &Daemon| -> Value {
        let (_, body) = d.get("/api/v1/dags/slow/dagRuns/r1/taskInstances/nap");
        body
    };
    wait_for("the nap to start", Duration::from_secs(30), || {
        (nap(&daemon)["state"] == "running").then_some(())
    });
    // Through the API, since the scheduler holds the store.
    let (code, out, err) = env.run(&[
        "tasks", "clear", "slow", "-t", "nap", "--run-id", "r1", "-y",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[running]"), "{out}");
    wait_for("the second try to succeed", Duration::from_secs(30), || {
        let ti = nap(&daemon);
        (ti["state"] == "success").then_some(())
    });
    let ti = nap(&daemon);
    assert_eq!(ti["try_number"], 2, "{ti}");

    let code = daemon.terminate();
    let log = daemon.log();
    assert_eq!(code, 0, "{log}");
}

/// A DAG whose bash task prints the allocator setting the scheduler passes on to it.
const PURGE_DAG: &str = r#"
is_paused_upon_creation = false

[tasks.show]
type = "bash"
bash_command = "echo purge=[$MIMALLOC_PURGE_DELAY]"
"#;

#[test]
fn the_daemon_runs_with_mimalloc_purging_freed_memory_at_once_unless_told_otherwise() {
    let env = Env::new();
    env.write("purge.toml", PURGE_DAG);
    for (preset, expected) in [(None, "purge=[0]"), (Some("7"), "purge=[7]")] {
        let run_id = format!("purge_{}", preset.unwrap_or("default"));
        env.ok(&["dags", "trigger", "purge", "--run-id", &run_id]);
        let mut cmd = env.cmd(&["scheduler", "--exit-when-idle", "--api-port", "0"]);
        cmd.env_remove("MIMALLOC_PURGE_DELAY");
        if let Some(v) = preset {
            cmd.env("MIMALLOC_PURGE_DELAY", v);
        }
        let out = cmd.output().expect("the scheduler runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = env.ok(&["tasks", "logs", "purge", "show", &run_id]);
        assert!(log.contains(expected), "{preset:?}: {log}");
    }
}

#[test]
fn dags_test_and_tasks_test_run_with_mimalloc_purging_freed_memory_after_2_ms_unless_told_otherwise()
 {
    let env = Env::new();
    env.write("purge.toml", PURGE_DAG);
    let commands: [&[&str]; 2] = [
        &["tasks", "test", "purge", "show"],
        &["dags", "test", "purge"],
    ];
    for args in commands {
        for (preset, expected) in [(None, "purge=[2]"), (Some("7"), "purge=[7]")] {
            let mut cmd = env.cmd(args);
            cmd.env_remove("MIMALLOC_PURGE_DELAY");
            if let Some(v) = preset {
                cmd.env("MIMALLOC_PURGE_DELAY", v);
            }
            let out = cmd.output().expect("the command runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{args:?}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout.contains(expected), "{args:?} {preset:?}: {stdout}");
        }
    }
}

fn every_dag(schedule: &str, timetable: &str, start: DateTime<Utc>, catchup: bool) -> String {
    format!(
        r#"
schedule = "{schedule}"
timetable = "{timetable}"
start_date = {start}
catchup = {catchup}
is_paused_upon_creation = false
max_active_runs = 16

[tasks.a]
type = "call_async"
func = "fns:add"
data = {{ x = 1, y = 2 }}
"#,
        start = start.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[test]
fn a_duration_schedule_creates_a_run_every_step_from_the_start_date() {
    let env = env();
    // 3.5 hours ago, on a whole second: steps at +0h, +1h, +2h and +3h have come.
    let start = Utc::now().duration_trunc(Span::seconds(1)).expect("trunc") - Span::minutes(210);
    env.write("every.toml", &every_dag("1h", "cron_trigger", start, true));
    env.write(
        "every_interval.toml",
        &every_dag("1h", "cron_data_interval", start, true),
    );
    env.schedule_until_idle();
    let dates = |dag: &str, key: &str| -> Vec<DateTime<Utc>> {
        let mut v: Vec<_> = env.runs(dag).iter().map(|r| date(&r[key])).collect();
        v.sort();
        v
    };
    let steps = |n: i64| -> Vec<DateTime<Utc>> { (0..n).map(|k| start + Span::hours(k)).collect() };
    // DeltaTriggerTimetable (Airflow 3): a run at each step, logical date = the step.
    assert_eq!(dates("every", "logical_date"), steps(4));
    assert_eq!(dates("every", "run_after"), steps(4));
    // DeltaDataIntervalTimetable (Airflow 2): [step, step + 1h) once it has ended.
    assert_eq!(dates("every_interval", "logical_date"), steps(3));
    assert_eq!(dates("every_interval", "run_after"), steps(4)[1..].to_vec());
    for r in env.runs("every").iter().chain(&env.runs("every_interval")) {
        assert_eq!(r["state"], "success", "{r}");
    }
}

#[test]
fn a_running_scheduler_keeps_a_duration_schedules_steps_exact() {
    let env = env();
    let start = Utc::now().duration_trunc(Span::seconds(1)).expect("trunc");
    env.write("often.toml", &every_dag("2s", "cron_trigger", start, false));
    let mut daemon = env.start();
    let runs = wait_for("three runs", Duration::from_secs(60), || {
        let runs = env.runs("often");
        (runs.len() >= 3).then_some(runs)
    });
    daemon.terminate();
    let mut dates: Vec<DateTime<Utc>> = runs.iter().map(|r| date(&r["logical_date"])).collect();
    dates.sort();
    // The first run at the scheduler's first look (Airflow: `max(now, start_date)`),
    // then exactly every 2 seconds after it, however late the loop woke up.
    for pair in dates.windows(2) {
        assert_eq!(pair[1] - pair[0], Span::seconds(2), "{dates:?}");
    }
}
