//! The run commands end to end: `dags trigger`, `lithoflow scheduler`, `dags list-runs`,
//! `tasks states-for-dag-run|state|logs|clear`.

use serde_json::Value;

use crate::{lithoflow, repo_root};

/// Runs lithoflow on the example DAGs with `home` as LITHOFLOW_HOME: (success, stdout, stderr).
fn run(args: &[&str], home: &std::path::Path) -> (bool, String, String) {
    let out = lithoflow()
        .arg("--dags-folder")
        .arg(repo_root().join("dags"))
        .args(args)
        .env("LITHOFLOW_HOME", home)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The task instances of run `first` of the chained example, as JSON.
fn states_of_first(home: &std::path::Path) -> Value {
    json_of(
        &[
            "tasks",
            "states-for-dag-run",
            "lithops_example",
            "first",
            "-o",
            "json",
        ],
        home,
    )
}

/// Like [`run`], for a command that must succeed and print JSON.
fn json_of(args: &[&str], home: &std::path::Path) -> Value {
    let (ok, stdout, stderr) = run(args, home);
    assert!(ok, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?} prints JSON: {e}"))
}

#[test]
fn triggered_runs_are_run_by_the_scheduler_and_cleared_tasks_run_again() {
    let home = crate::private_home();
    let h = home.path();
    let trig = json_of(
        &[
            "dags",
            "trigger",
            "lithops_example",
            "-r",
            "first",
            "--conf",
            "{\"k\": 1}",
            "-o",
            "json",
        ],
        h,
    );
    assert_eq!(trig[0]["dag_run_id"], "first");
    assert_eq!(trig[0]["state"], "queued");
    assert_eq!(trig[0]["conf"], serde_json::json!({"k": 1}));
    let (ok, _, err) = run(&["dags", "trigger", "lithops_example", "-r", "first"], h);
    assert!(!ok && err.contains("already has a run `first`"), "{err}");

    let (ok, _, err) = run(&["scheduler", "--exit-when-idle", "--api-port", "0"], h);
    assert!(ok, "{err}");
    assert!(
        err.contains("run first (lithops_example) finished: success"),
        "{err}"
    );

    let runs = json_of(&["dags", "list-runs", "lithops_example", "-o", "json"], h);
    assert_eq!(runs[0]["run_id"], "first");
    assert_eq!(runs[0]["state"], "success");
    let states = states_of_first(h);
    let names: Vec<(&str, &str)> = states
        .as_array()
        .expect("array")
        .iter()
        .map(|t| {
            (
                t["task_id"].as_str().unwrap_or(""),
                t["state"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("add_task_1", "success"),
            ("add_task_2", "success"),
            ("map_task", "success"),
            ("mapreduce_task", "success")
        ]
    );
    let (_, state, _) = run(
        &[
            "tasks",
            "state",
            "lithops_example",
            "mapreduce_task",
            "first",
        ],
        h,
    );
    assert_eq!(state, "success\n");
    let (ok, log, _) = run(
        &[
            "tasks",
            "logs",
            "lithops_example",
            "mapreduce_task",
            "first",
        ],
        h,
    );
    assert!(ok && log.contains("Done. Returned value was: 60"), "{log}");

    // Clear map_task and what follows; the scheduler runs them again on a new try.
    let (ok, out, err) = run(
        &[
            "tasks",
            "clear",
            "lithops_example",
            "-t",
            "^map_task$",
            "--downstream",
            "-y",
        ],
        h,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("lithops_example.map_task first [success]") && out.contains("mapreduce_task"),
        "{out}"
    );
    assert!(
        !out.contains("add_task_2"),
        "upstream tasks are not cleared without --upstream: {out}"
    );
    let (_, state, _) = run(
        &[
            "tasks",
            "state",
            "lithops_example",
            "mapreduce_task",
            "first",
        ],
        h,
    );
    assert_eq!(state, "none\n");
    let runs = json_of(&["dags", "list-runs", "lithops_example", "-o", "json"], h);
    assert_eq!(runs[0]["state"], "queued");
    let (ok, _, err) = run(&["scheduler", "--exit-when-idle", "--api-port", "0"], h);
    assert!(ok, "{err}");
    let states = states_of_first(h);
    let tries: Vec<u64> = states
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["try_number"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(tries, [1, 1, 2, 2], "only the cleared tasks ran again");
    let (ok, log, _) = run(
        &[
            "tasks",
            "logs",
            "lithops_example",
            "mapreduce_task",
            "first",
            "--try",
            "2",
        ],
        h,
    );
    assert!(ok && log.contains("Done. Returned value was: 60"), "{log}");
}

#[test]
fn run_commands_explain_what_is_missing() {
    let home = crate::private_home();
    let h = home.path();
    let (ok, _, err) = run(
        &["tasks", "states-for-dag-run", "lithops_example", "nope"],
        h,
    );
    assert!(
        !ok && err.contains("DAG `lithops_example` has no run `nope`"),
        "{err}"
    );
    let (ok, _, err) = run(&["dags", "trigger", "lithops_example", "--conf", "[1]"], h);
    assert!(!ok && err.contains("--conf must be a JSON object"), "{err}");
    let (ok, _, err) = run(&["dags", "test", "lithops_example", "yesterday"], h);
    assert!(!ok && err.contains("expected RFC 3339"), "{err}");
}
