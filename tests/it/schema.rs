//! State written by the previous release (state schema 1) opens with this build: it is
//! migrated to the current schema, a copy of the old database is kept, nothing recorded is
//! lost or changed, and the scheduler carries on where the old one stopped.
//!
//! `tests/fixtures/state_v1/home.tar.gz` is a `LITHOFLOW_HOME` made by lithoflow 0.1 at
//! commit f2ead71 (schema 1) from the DAGs beside it: a successful run of `legacy`, a run
//! of `legacy_flaky` whose task failed after its retry, a three-day backfill of the
//! paused `legacy_daily`, a run `interrupted` whose scheduler was killed with -9 while
//! its last task ran, and a queued run `queued_one`. `expected_v1.json` is what that
//! lithoflow printed for them (`dags list-runs`, `tasks states-for-dag-run`, `dags list`).

use std::path::Path;
use std::process::Command;

use lithoflow_scheduler::store::{RunState, SCHEMA_VERSION, Store, TaskState};
use serde_json::{Value, json};

use crate::repo_root;

fn fixture(rel: &str) -> std::path::PathBuf {
    repo_root().join("tests/fixtures/state_v1").join(rel)
}

fn lithoflow_json(home: &Path, args: &[&str]) -> Value {
    let out = crate::lithoflow()
        .arg("--dags-folder")
        .arg(fixture("dags"))
        .args(args)
        .args(["-o", "json"])
        .env("LITHOFLOW_HOME", home)
        .output()
        .expect("lithoflow runs");
    assert!(
        out.status.success(),
        "lithoflow {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn unpack_v1_home() -> tempfile::TempDir {
    let home = crate::private_home();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(fixture("home.tar.gz"))
        .arg("-C")
        .arg(home.path())
        .status()
        .expect("tar runs");
    assert!(status.success(), "the schema 1 home unpacks");
    home
}

#[test]
fn state_of_schema_1_is_migrated_with_a_backup_and_nothing_lost() {
    let home = unpack_v1_home();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("expected_v1.json")).expect("expected_v1.json"),
    )
    .expect("expected JSON");

    // The first command that opens the state migrates it, saying so once on stderr.
    let out = crate::lithoflow()
        .arg("--dags-folder")
        .arg(fixture("dags"))
        .args(["dags", "list", "-o", "json"])
        .env("LITHOFLOW_HOME", home.path())
        .output()
        .expect("lithoflow runs");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("migrated from schema 1 to {SCHEMA_VERSION}"))
            && stderr.contains("state.schema-1.bak"),
        "the migration is announced with the backup's path: {stderr}"
    );
    let dags: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for dag in dags.as_array().expect("list") {
        let id = dag["dag_id"].as_str().expect("id");
        assert_eq!(
            dag["is_paused"], expected["paused"][id],
            "{id} keeps its paused flag"
        );
    }
    let backup = home.path().join("state.schema-1.bak");
    assert!(
        backup.join("db").is_file() && backup.join("conf").is_file(),
        "the schema 1 database is kept"
    );

    // Every run and task instance reads back exactly as the old release printed it.
    let mut runs = Vec::new();
    for dag in ["legacy", "legacy_flaky", "legacy_daily"] {
        runs.extend(
            lithoflow_json(home.path(), &["dags", "list-runs", dag])
                .as_array()
                .expect("runs")
                .clone(),
        );
    }
    assert_eq!(Value::Array(runs.clone()), expected["runs"]);
    for run in &runs {
        let (dag, id) = (run["dag_id"].as_str(), run["run_id"].as_str());
        let (dag, id) = (dag.expect("dag_id"), id.expect("run_id"));
        // Schema 5 added each instance's map index (-1: the old ones were unmapped),
        // a column the old release did not print.
        let mut tis = lithoflow_json(home.path(), &["tasks", "states-for-dag-run", dag, id]);
        for ti in tis.as_array_mut().expect("rows") {
            let m = ti.as_object_mut().expect("a row");
            assert_eq!(m.remove("map_index"), Some(json!(-1)), "{dag} {id}");
        }
        assert_eq!(
            tis,
            expected["task_instances"][format!("{dag}/{id}")],
            "task instances of {dag} {id}"
        );
    }

    // The records are of the new schema, queued_at filled from run_after; XCom intact.
    {
        let store = Store::open(&home.path().join("state")).expect("opens");
        assert_eq!(store.schema_version().expect("meta"), Some(SCHEMA_VERSION));
        for run in store.all_runs().expect("runs") {
            assert_eq!(run.version, SCHEMA_VERSION, "{}", run.run_id);
            assert_eq!(run.queued_at, Some(run.run_after), "{}", run.run_id);
        }
        let legacy_ok = runs
            .iter()
            .find(|r| r["dag_id"] == "legacy" && r["state"] == "success")
            .and_then(|r| r["run_id"].as_str())
            .expect("the successful legacy run");
        let x = |dag: &str, run: &str, task: &str| {
            store
                .xcom(dag, run, task, "return_value")
                .expect("xcom reads")
        };
        assert_eq!(x("legacy", legacy_ok, "a"), Some(json!(3)));
        assert_eq!(x("legacy", legacy_ok, "m"), Some(json!([2, 4, 6])));
        assert_eq!(x("legacy", legacy_ok, "r"), Some(json!(24)));
        assert_eq!(x("legacy", legacy_ok, "s"), Some(json!(103)));
        assert_eq!(x("legacy", "interrupted", "r"), Some(json!(24)));
        assert_eq!(x("legacy", "interrupted", "s"), None);
        for day in ["01", "02", "03"] {
            assert_eq!(
                x(
                    "legacy_daily",
                    &format!("backfill__2026-01-{day}T00:00:00+00:00"),
                    "t"
                ),
                Some(json!(format!("202601{day}")))
            );
        }
        let log = home
            .path()
            .join("logs/dag_id=legacy_flaky")
            .join(format!(
                "run_id={}",
                runs.iter()
                    .find(|r| r["dag_id"] == "legacy_flaky")
                    .and_then(|r| r["run_id"].as_str())
                    .expect("flaky run")
            ))
            .join("task_id=bad/attempt=2.log");
        let text = std::fs::read_to_string(&log).expect("the old logs are kept");
        assert!(text.contains("ValueError: legacy failure 7"), "{text}");
    }

    // The scheduler carries on: the interrupted run's last task runs again (no retry
    // used), the queued run runs, and the finished runs are left exactly as they were.
    let status = crate::lithoflow()
        .arg("--dags-folder")
        .arg(fixture("dags"))
        .args(["scheduler", "--api-port", "0", "--exit-when-idle"])
        .env("LITHOFLOW_HOME", home.path())
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("the scheduler runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let store = Store::open(&home.path().join("state")).expect("opens");
    for id in ["interrupted", "queued_one"] {
        let run = store.run("legacy", id).expect("run").expect("present");
        assert_eq!(run.state, RunState::Success, "{id}: {:?}", run.note);
        for ti in store.tis("legacy", id).expect("tis") {
            assert_eq!(ti.state, TaskState::Success, "{id} {}", ti.task_id);
            assert_eq!(ti.try_number, 1, "{id} {}: no retry used", ti.task_id);
        }
        assert_eq!(
            store.xcom("legacy", id, "s", "return_value").expect("xcom"),
            Some(json!(103))
        );
    }
    drop(store);
    for run in expected["runs"].as_array().expect("runs") {
        if matches!(run["run_id"].as_str(), Some("interrupted" | "queued_one")) {
            continue;
        }
        let dag = run["dag_id"].as_str().expect("dag_id");
        let now = lithoflow_json(home.path(), &["dags", "list-runs", dag]);
        let same = now
            .as_array()
            .expect("runs")
            .iter()
            .find(|r| r["run_id"] == run["run_id"]);
        assert_eq!(same, Some(run), "a finished run is untouched");
    }

    // Opening again migrates nothing more: no second backup.
    let names: Vec<String> = std::fs::read_dir(home.path())
        .expect("home")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.schema-"))
        .collect();
    assert_eq!(names, vec!["state.schema-1.bak".to_owned()]);
}
