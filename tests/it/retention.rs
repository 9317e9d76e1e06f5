//! `lithoflow db clean`: old finished runs go with their task instances, XCom values, log
//! files and job storage; each DAG's latest scheduled run stays (the scheduler continues
//! from it); unfinished runs stay; `--dry-run` removes nothing; without `-y` a command
//! whose stdin is not a terminal refuses. Without a scheduler the command opens the state
//! itself; with one it goes through `POST /api/v1/dbClean`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{Duration as Span, Utc};
use lithoflow_scheduler::store::{DagRunRecord, RunState, Store};
use serde_json::{Value, json};

use crate::harness::{Env, wait_for};

const FNS: &str = r#"
import time

def add(x, y):
    return x + y

def nap(s):
    time.sleep(s)
    return s
"#;

/// A daily DAG with catchup from three days ago: four scheduled runs at once.
fn daily_dag(comment: &str) -> String {
    let start = (Utc::now() - Span::days(3)).format("%Y-%m-%dT00:00:00Z");
    format!(
        r#"# {comment}
schedule = "@daily"
start_date = {start}
catchup = true
is_paused_upon_creation = false

# A map: a one-call task keeps its call record in the state database, not as job
# storage, and the runs' job storage is part of what `db clean` removes.
[tasks.a]
type = "map"
map_function = "fns:add"
map_iterdata = [1, 2]
extra_params = {{ y = 2 }}
"#
    )
}

fn env() -> Env {
    let env = Env::new();
    env.write("fns.py", FNS);
    env.write("daily.toml", &daily_dag("v1"));
    env
}

fn tomorrow() -> String {
    (Utc::now() + Span::days(1)).format("%Y-%m-%d").to_string()
}

fn log_dir(home: &Path, dag: &str, run: &str) -> PathBuf {
    home.join("logs")
        .join(format!("dag_id={dag}"))
        .join(format!("run_id={run}"))
}

fn storage_dir(home: &Path, dag: &str, run: &str) -> PathBuf {
    home.join("storage/lithoflow.jobs").join(dag).join(run)
}

fn run_ids(env: &Env, dag: &str) -> Vec<String> {
    let mut ids: Vec<String> = env
        .runs(dag)
        .iter()
        .map(|r| r["run_id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// The runs a clean keeps, from `dags list-runs` (sorted): the scheduled or backfill run
/// that started last (Airflow's keep_last) and the scheduled run with the latest logical
/// date (the one the timetable continues from). The four runs start at once, so the two
/// may differ.
fn kept(runs: &[Value]) -> Vec<String> {
    let id = |r: &Value| r["run_id"].as_str().expect("id").to_owned();
    let scheduled: Vec<&Value> = runs
        .iter()
        .filter(|r| id(r).starts_with("scheduled__"))
        .collect();
    let started_last = scheduled
        .iter()
        .max_by_key(|r| r["start_date"].as_str().expect("started").to_owned())
        .map(|r| id(r))
        .expect("a scheduled run");
    let latest_date = scheduled
        .iter()
        .map(|r| id(r))
        .max()
        .expect("a scheduled run");
    let mut kept = vec![started_last, latest_date];
    kept.sort();
    kept.dedup();
    kept
}

#[test]
fn db_clean_without_a_scheduler_removes_old_runs_with_their_files_and_keeps_the_latest_and_unfinished()
 {
    let env = env();
    env.ok(&["dags", "trigger", "daily", "-r", "by_hand"]);
    env.schedule_until_idle();
    let before = run_ids(&env, "daily");
    assert_eq!(
        before.len(),
        5,
        "four scheduled runs and one by hand: {before:?}"
    );
    let keep = kept(&env.runs("daily"));
    let n = keep.len();
    for id in &before {
        assert!(log_dir(env.home(), "daily", id).is_dir(), "{id} has logs");
        assert!(
            storage_dir(env.home(), "daily", id).is_dir(),
            "{id} has job storage"
        );
    }
    // A run a killed scheduler left running long ago: unfinished, so never removed.
    {
        let store = Store::open(&env.home().join("state")).expect("the state opens");
        let mut stuck = DagRunRecord::manual(
            "daily",
            "stuck".to_owned(),
            Utc::now() - Span::days(2),
            Utc::now() - Span::days(2),
            serde_json::Map::new(),
        );
        stuck.state = RunState::Running;
        stuck.start_date = Some(Utc::now() - Span::days(2));
        store.put_run(&stuck).expect("put");
        store.flush().expect("flush");
    }

    // Without -y and without a terminal: refused, nothing removed.
    let t = tomorrow();
    let (code, out, err) = env.run(&["db", "clean", "--clean-before-timestamp", &t]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(
            "refusing to remove runs without confirmation: stdin is not a terminal; pass -y"
        ),
        "{err}"
    );
    assert_eq!(run_ids(&env, "daily").len(), 6);

    // A dry run counts and removes nothing.
    let planned = env.json(&[
        "db",
        "clean",
        "--clean-before-timestamp",
        &t,
        "--dry-run",
        "-o",
        "json",
    ]);
    assert_eq!(planned["dry_run"], true);
    // Every finished run is old: all but the kept ones go (the run by hand too).
    let gone = 5 - n;
    assert_eq!(planned["dag_runs"], gone, "{planned}");
    assert_eq!(planned["task_instances"], gone, "{planned}");
    assert_eq!(planned["xcom"], gone, "{planned}");
    assert_eq!(planned["log_files"], gone, "{planned}");
    assert_eq!(planned["kept_latest"], n, "{planned}");
    assert_eq!(planned["skipped_unfinished"], 1, "{planned}");
    assert!(
        planned["job_storage_files"].as_u64().expect("n") >= gone as u64,
        "{planned}"
    );
    assert!(planned["log_bytes"].as_u64().expect("n") > 0, "{planned}");
    assert_eq!(run_ids(&env, "daily").len(), 6, "a dry run removes nothing");
    for id in &before {
        assert!(
            log_dir(env.home(), "daily", id).is_dir(),
            "{id} keeps its logs"
        );
    }

    // Runs that started after the moment stay.
    let removed = env.json(&[
        "db",
        "clean",
        "--clean-before-timestamp",
        "2000-01-01 00:00:00+01:00",
        "-y",
        "-o",
        "json",
    ]);
    assert_eq!(removed["dag_runs"], 0, "{removed}");

    let removed = env.json(&[
        "db",
        "clean",
        "--clean-before-timestamp",
        &t,
        "-y",
        "-o",
        "json",
    ]);
    assert_eq!(removed["dry_run"], false);
    for kind in [
        "dag_runs",
        "task_instances",
        "xcom",
        "log_files",
        "log_bytes",
    ] {
        assert_eq!(removed[kind], planned[kind], "{kind}: {removed}");
    }
    let mut left = keep.clone();
    left.push("stuck".to_owned());
    assert_eq!(run_ids(&env, "daily"), left);
    let store = Store::open(&env.home().join("state")).expect("the state opens");
    for id in before.iter().filter(|id| !keep.contains(id)) {
        assert!(
            !log_dir(env.home(), "daily", id).exists(),
            "{id}'s logs are gone"
        );
        assert!(
            !storage_dir(env.home(), "daily", id).exists(),
            "{id}'s job storage is gone"
        );
        assert!(store.tis("daily", id).expect("reads").is_empty(), "{id}");
        assert_eq!(
            store.xcom("daily", id, "a", "return_value").expect("reads"),
            None,
            "{id}"
        );
    }
    for id in &keep {
        assert!(
            log_dir(env.home(), "daily", id).is_dir(),
            "a kept run keeps its logs"
        );
        assert_eq!(store.tis("daily", id).expect("reads").len(), 1);
    }
    drop(store);

    // The scheduler carries on from the kept run: nothing removed comes back.
    env.schedule_until_idle();
    assert_eq!(run_ids(&env, "daily"), left);
}

#[test]
fn db_clean_goes_through_a_running_scheduler_which_keeps_its_runs_and_recreates_none() {
    let env = env();
    env.write(
        "sleepy.toml",
        r#"
is_paused_upon_creation = false

[tasks.nap]
type = "call_async"
func = "fns:nap"
data = { s = 120 }
"#,
    );
    let daemon = env.start();
    let (status, body) = daemon.post(
        "/api/v1/dags/sleepy/dagRuns",
        &json!({"dag_run_id": "napping"}),
    );
    assert_eq!(status, 200, "{body}");
    let states = |dag: &str| -> Vec<(String, String)> {
        let (status, body) = daemon.get(&format!("/api/v1/dags/{dag}/dagRuns?order_by=-id"));
        assert_eq!(status, 200, "{body}");
        body["dag_runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| {
                (
                    r["dag_run_id"].as_str().expect("id").to_owned(),
                    r["state"].as_str().expect("state").to_owned(),
                )
            })
            .collect()
    };
    wait_for(
        "four finished daily runs and a running nap",
        Duration::from_secs(120),
        || {
            let daily = states("daily");
            let done = daily.len() == 4 && daily.iter().all(|(_, s)| s == "success");
            let napping = states("sleepy") == [("napping".to_owned(), "running".to_owned())];
            (done && napping).then_some(())
        },
    );
    let ids: Vec<String> = states("daily").into_iter().map(|(id, _)| id).collect();
    let keep = kept(&env.runs("daily"));
    let kept_states: Vec<(String, String)> = keep
        .iter()
        .rev()
        .map(|id| (id.clone(), "success".to_owned()))
        .collect();

    // Through the API (the scheduler holds the state): a dry run, then the clean.
    let (status, planned) = daemon.post(
        "/api/v1/dbClean",
        &json!({"clean_before_timestamp": format!("{}T00:00:00Z", tomorrow())}),
    );
    assert_eq!(status, 200, "{planned}");
    assert_eq!(
        (planned["dry_run"].clone(), planned["dag_runs"].clone()),
        (json!(true), json!(4 - keep.len()))
    );
    assert_eq!(
        states("daily").len(),
        4,
        "a dry run (the API's default) removes nothing"
    );
    let (status, refused) = daemon.post(
        "/api/v1/dbClean",
        &json!({"clean_before_timestamp": "2026-01-01T00:00:00Z", "older_than": 1}),
    );
    assert_eq!(status, 400, "unknown fields are refused: {refused}");

    let (code, out, err) = env.run(&[
        "db",
        "clean",
        "--clean-before-timestamp",
        &tomorrow(),
        "-y",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let removed: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(removed["dag_runs"], 4 - keep.len(), "{removed}");
    assert_eq!(removed["kept_latest"], keep.len(), "{removed}");
    assert_eq!(
        removed["skipped_unfinished"], 1,
        "the running nap: {removed}"
    );
    assert_eq!(states("daily"), kept_states, "newest first");
    assert_eq!(
        states("sleepy"),
        [("napping".to_owned(), "running".to_owned())],
        "a running run is never removed"
    );
    for id in ids.iter().filter(|id| !keep.contains(id)) {
        assert!(
            !log_dir(env.home(), "daily", id).exists(),
            "{id}'s logs are gone"
        );
        assert!(
            !storage_dir(env.home(), "daily", id).exists(),
            "{id}'s job storage is gone"
        );
    }

    // The scheduler reads the DAG again (its cached timetable position dropped) and
    // creates runs where it stands; an answer from its loop after that shows it did.
    env.write("daily.toml", &daily_dag("v2"));
    env.write("marker.toml", "[tasks.e]\ntype = \"empty\"\n");
    wait_for("the marker DAG served", Duration::from_secs(60), || {
        (daemon.get("/api/v1/dags/marker").0 == 200).then_some(())
    });
    let (status, body) = daemon.post("/api/v1/dags/marker/dagRuns", &json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        states("daily"),
        kept_states,
        "no removed run is created again"
    );
}
