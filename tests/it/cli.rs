//! The `lithoflow` command line, driven as a user would.

use predicates::prelude::*;
use serde_json::Value;

use crate::{lithoflow, repo_root};

fn temp_dags(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).expect("write fixture");
    }
    dir
}

const GOOD: &str =
    "[tasks.a]\ntype = \"call_async\"\nfunc = \"my_functions:add\"\ndata = { x = 1, y = 2 }\n";

#[test]
fn dags_list_shows_the_examples_as_a_table_and_as_json() {
    let dags = repo_root().join("dags");
    lithoflow()
        .args(["dags", "list", "--dags-folder"])
        .arg(&dags)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("lithops_example").and(predicate::str::contains("@daily")),
        );

    let out = lithoflow()
        .arg("--dags-folder")
        .arg(&dags)
        .args(["dags", "list", "-o", "json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let list: Vec<Value> =
        serde_json::from_slice(&out.stdout).expect("dags list -o json prints a JSON array");
    let ids: Vec<&str> = list.iter().filter_map(|d| d["dag_id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "airflow_example",
            "airflow_runtime_example",
            "call_async_example",
            "lithops_example",
            "map_example",
            "map_reduce_example"
        ]
    );
    let airflow = &list[0];
    assert_eq!(airflow["tasks"], 10);
    assert!(
        airflow["fileloc"]
            .as_str()
            .is_some_and(|f| f.ends_with("airflow_example.py"))
    );
    let runtime = &list[1];
    assert_eq!(runtime["tasks"], 4);
    assert_eq!(runtime["tags"], serde_json::json!(["example", "airflow"]));
    let chained = &list[3];
    assert_eq!(chained["schedule"], "@daily");
    assert_eq!(chained["tasks"], 4);
    assert_eq!(chained["tags"], serde_json::json!(["example", "lithops"]));
    assert!(
        chained["fileloc"]
            .as_str()
            .is_some_and(|f| f.ends_with("dags/lithops_example.toml"))
    );
}

#[test]
fn the_dags_folder_comes_from_the_environment_too() {
    let dir = temp_dags(&[("only.toml", GOOD)]);
    lithoflow()
        .env("LITHOFLOW_DAGS_FOLDER", dir.path())
        .args(["dags", "list", "-o", "plain"])
        .assert()
        .success()
        .stdout(predicate::str::contains("only"));
}

#[test]
fn dags_list_reports_broken_files_separately() {
    let dir = temp_dags(&[("good.toml", GOOD), ("broken.toml", "schedule = 5\n")]);
    lithoflow()
        .arg("--dags-folder")
        .arg(dir.path())
        .args(["dags", "list", "-o", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"good\"").and(predicate::str::contains("broken").not()))
        .stderr(
            predicate::str::contains("1 DAG file failed to load")
                .and(predicate::str::contains("broken.toml (1 error)")),
        );

    let out = lithoflow()
        .arg("--dags-folder")
        .arg(dir.path())
        .args(["dags", "list-import-errors", "-o", "json"])
        .output()
        .expect("runs");
    let errors: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON array");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]["filepath"]
            .as_str()
            .is_some_and(|p| p.ends_with("broken.toml"))
    );
    assert!(errors[0]["error"].as_str().is_some_and(|e| {
        e.contains("broken.toml:1:12: error: `schedule` must be a string, found integer 5")
    }));
}

#[test]
fn list_import_errors_says_when_there_are_none() {
    lithoflow()
        .arg("--dags-folder")
        .arg(repo_root().join("dags"))
        .args(["dags", "list-import-errors"])
        .assert()
        .success()
        .stdout("No data found\n");
}

#[test]
fn validate_prints_every_error_and_exits_2() {
    let dir = temp_dags(&[(
        "bad.toml",
        "schedul = \"@daily\"\n\n[tasks.a]\ntype = \"map\"\nmap_iterdata = 3\nupstream = [\"a\"]\n",
    )]);
    let path = dir.path().join("bad.toml");
    let out = lithoflow()
        .args(["dags", "validate"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let p = path.display();
    for expected in [
        format!(
            "{p}:1:1: error: unknown key `schedul` at the top of the DAG file; did you mean `schedule`?"
        ),
        format!("{p}:3:8: error: task `a` (map) is missing `map_function`"),
        format!(
            "{p}:5:16: error: `map_iterdata` must be an array (one call per element), found integer 3"
        ),
        format!("{p}:6:13: error: task `a` depends on itself through `upstream`"),
    ] {
        assert!(
            stdout.contains(&expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("1 file checked: 0 valid, 1 invalid (4 errors, 0 warnings)"),
        "{stdout}"
    );
}

#[test]
fn validate_of_the_examples_succeeds_and_notes_are_printed() {
    lithoflow()
        .arg("--dags-folder")
        .arg(repo_root().join("dags"))
        .args(["dags", "validate"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "6 files checked: 6 valid, 0 invalid",
        ));
    let note = repo_root().join("tests/fixtures/warnings/remote_invocation_on_localhost.toml");
    lithoflow()
        .args(["dags", "validate"])
        .arg(&note)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "note: `remote_invocation` in task `m` has no effect on the localhost backend",
        ));
}

#[test]
fn validate_json_lists_diagnostics_with_positions() {
    let dir = temp_dags(&[("bad.toml", "catchup = 1\n")]);
    let out = lithoflow()
        .args(["dags", "validate", "-o", "json"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let files: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(files[0]["valid"], false);
    let d = &files[0]["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(1), Some(11))
    );
    assert_eq!(
        d["message"],
        "`catchup` must be a boolean (true or false), found integer 1"
    );
}

#[test]
fn dags_show_prints_effective_parameters_edges_and_dot() {
    let dags = repo_root().join("dags");
    let out = lithoflow()
        .arg("--dags-folder")
        .arg(&dags)
        .args(["dags", "show", "lithops_example"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("[tasks.mapreduce_task]  (map_reduce)"),
        "{text}"
    );
    assert!(
        text.contains("retries                    1"),
        "default_args applied:\n{text}"
    );
    assert!(
        text.contains("invoke_pool_threads        - (from config, else 500)"),
        "{text}"
    );
    assert!(text.contains("map_task -> mapreduce_task"), "{text}");

    let out = lithoflow()
        .arg("--dags-folder")
        .arg(&dags)
        .args(["dags", "show", "lithops_example", "-o", "json"])
        .output()
        .expect("runs");
    let dag: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(dag["tasks"][3]["type"], "map_reduce");
    assert_eq!(dag["tasks"][3]["retry_delay"], "30s");
    assert_eq!(
        dag["edges"][0],
        serde_json::json!(["add_task_1", "add_task_2"])
    );

    lithoflow()
        .arg("--dags-folder")
        .arg(&dags)
        .args(["dags", "show", "lithops_example", "--dot"])
        .assert()
        .success()
        .stdout(
            predicate::str::starts_with("digraph \"lithops_example\" {").and(
                predicate::str::contains("\"map_task\" -> \"mapreduce_task\";"),
            ),
        );
}

#[test]
fn an_unknown_or_broken_dag_is_explained() {
    let dir = temp_dags(&[
        ("good.toml", GOOD),
        ("broken.toml", "[tasks.a]\ntype = \"call_async\"\n"),
    ]);
    lithoflow()
        .arg("--dags-folder")
        .arg(dir.path())
        .args(["dags", "show", "goo"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("DAG `goo` not found")
                .and(predicate::str::contains("did you mean `good`?")),
        );
    lithoflow()
        .arg("--dags-folder")
        .arg(dir.path())
        .args(["tasks", "list", "broken"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("DAG `broken` cannot be loaded")
                .and(predicate::str::contains("is missing `func`")),
        );
}

#[test]
fn tasks_list_plain_prints_sorted_ids() {
    lithoflow()
        .arg("--dags-folder")
        .arg(repo_root().join("dags"))
        .args(["tasks", "list", "lithops_example", "-o", "plain"])
        .assert()
        .success()
        .stdout("add_task_1\nadd_task_2\nmap_task\nmapreduce_task\n");
}

#[test]
fn usage_errors_and_a_missing_folder_exit_2() {
    lithoflow().args(["dags", "frobnicate"]).assert().code(2);
    lithoflow()
        .args([
            "--dags-folder",
            "/nonexistent/lithoflow-dags",
            "dags",
            "list",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the DAGs folder /nonexistent/lithoflow-dags does not exist",
        ));
    lithoflow()
        .args(["dags", "validate", "/nonexistent/x.toml"])
        .assert()
        .code(2);
}

#[test]
fn trigger_of_a_paused_dag_says_the_run_waits_for_dags_unpause() {
    // Without a scheduler (the store directly) and through a running one (the API), the
    // run is recorded queued and stderr says why it will not start; stdout stays the run.
    let env = crate::harness::Env::with_fixtures(&crate::repo_root().join("tests/fixtures/api"));
    let (code, out, err) = env.run(&["dags", "trigger", "sleepy", "-r", "direct", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let run: serde_json::Value = serde_json::from_str(&out).expect("stdout is the run as JSON");
    assert_eq!(run[0]["state"], "queued", "{run}");
    assert!(
        err.contains("DAG `sleepy` is paused: run `direct` stays queued until the DAG is unpaused (`lithoflow dags unpause sleepy`"),
        "{err}"
    );
    let (_, _, err) = env.run(&["dags", "trigger", "hello", "-r", "direct"]);
    assert!(!err.contains("paused"), "{err}");
    let _daemon = env.start();
    let (code, _, err) = env.run(&["dags", "trigger", "sleepy", "-r", "via_api"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("DAG `sleepy` is paused: run `via_api` stays queued"),
        "{err}"
    );
}
