//! Airflow DAG files (`.py`) run by lithoflow: every self-contained DAG of the corpus run
//! with `dags test` gives the task states and return values real Airflow's `dag.test()`
//! gave (the goldens' `runs`); the Lithops plugin's operators under both names give the
//! plugin's results; a real `lithoflow scheduler` runs `.py` DAGs beside a TOML DAG, keeps
//! running with hostile files in the folder, and sees edits to a `.py` file and to the
//! helper modules it imports.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Daemon, Env, wait_for};
use crate::pydags::{
    check_hostile_errors, corpus_env, corpus_subset, goldens, hostile_env, import_errors,
};

/// `dags test DAG -o json` on this folder: the run's document, or why there is none.
fn dags_test(env: &Env, dag: &str) -> Result<Value, String> {
    let (code, out, err) = env.run(&["dags", "test", dag, "-o", "json"]);
    if code != 0 && code != 1 {
        return Err(format!("dags test {dag} exited {code}: {err}"));
    }
    serde_json::from_str(&out).map_err(|e| format!("dags test {dag}: not JSON ({e}): {out}\n{err}"))
}

/// A run document's task instances as `task` or `task[i]` -> (state, return value).
fn instances(doc: &Value) -> BTreeMap<String, (String, Value)> {
    doc["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let id = t["task_id"].as_str().unwrap_or_default();
            let key = match t["map_index"].as_i64() {
                Some(i) if i >= 0 => format!("{id}[{i}]"),
                _ => id.to_owned(),
            };
            (
                key,
                (
                    t["state"].as_str().unwrap_or_default().to_owned(),
                    t["return_value"].clone(),
                ),
            )
        })
        .collect()
}

/// The differences between a run of lithoflow and Airflow's run of the same DAG.
fn compare_run(file: &str, dag: &str, got: &Value, want: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if got["state"] != want["state"] {
        problems.push(format!(
            "{file}: {dag}: run {}, Airflow's run {}",
            got["state"], want["state"]
        ));
    }
    let got = instances(got);
    let want_tasks = want["tasks"].as_object().cloned().unwrap_or_default();
    for (key, w) in &want_tasks {
        let Some((state, value)) = got.get(key) else {
            problems.push(format!(
                "{file}: {dag}.{key}: no task instance (Airflow: {w})"
            ));
            continue;
        };
        if state != w["state"].as_str().unwrap_or_default() {
            problems.push(format!(
                "{file}: {dag}.{key}: state {state}, Airflow's {}",
                w["state"]
            ));
        } else if *value != w["xcom"] {
            problems.push(format!(
                "{file}: {dag}.{key}: return value {value}, Airflow's {}",
                w["xcom"]
            ));
        }
    }
    for key in got.keys() {
        if !want_tasks.contains_key(key) {
            problems.push(format!(
                "{file}: {dag}.{key}: a task instance Airflow does not have"
            ));
        }
    }
    problems
}

#[test]
fn self_contained_corpus_dags_run_with_airflows_states_and_return_values() {
    let env = corpus_env();
    let mut problems = Vec::new();
    let mut ran = 0;
    for (file, golden) in goldens() {
        for (dag, want) in golden["runs"].as_object().into_iter().flatten() {
            assert!(
                want.get("error").is_none(),
                "{file}: {dag}: Airflow's own run failed to start: {want}"
            );
            ran += 1;
            match dags_test(&env, dag) {
                Ok(got) => problems.extend(compare_run(&file, dag, &got, want)),
                Err(e) => problems.push(format!("{file}: {e}")),
            }
        }
    }
    assert!(ran >= 20, "the goldens hold Airflow's runs ({ran})");
    assert!(
        problems.is_empty(),
        "{} differences from Airflow's runs:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_lithops_plugins_operators_run_natively_under_both_names() {
    let env = corpus_subset(&["lithops_operators.py", "cloudbutton_operators.py"]);
    let expected = [
        (
            "lithops_operators",
            json!({
                "gen_numbers": [1, 2, 3, 4],
                "squares": [1, 4, 9, 16],
                "scaled_sum": 60,
                "plus": 61,
                "check": "checked",
            }),
        ),
        (
            "cloudbutton_operators",
            json!({
                "begin": null,
                "numbers": [1, 2, 3],
                "mapped": [1, 4, 9],
                "reduced": 6,
            }),
        ),
    ];
    for (dag, want) in expected {
        let doc = dags_test(&env, dag).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc["state"], "success", "{doc}");
        let got = instances(&doc);
        for (task, value) in want.as_object().expect("an object") {
            let (state, v) = got
                .get(task)
                .unwrap_or_else(|| panic!("{dag}.{task} ran: {doc}"));
            assert_eq!(state, "success", "{dag}.{task}: {doc}");
            assert_eq!(v, value, "{dag}.{task}: {doc}");
        }
        let shown = crate::pydags::show(&env, dag).unwrap_or_else(|e| panic!("{e}"));
        let types: Vec<&str> = shown["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["type"].as_str())
            .collect();
        assert!(
            types.contains(&"call_async")
                && types.contains(&"map")
                && types.contains(&"map_reduce"),
            "{dag}: the plugin's operators are lithoflow's own task types: {types:?}"
        );
    }
}

/// Unpauses each DAG and triggers run `r1` of it (before the scheduler starts).
fn unpause_and_trigger(env: &Env, dags: &[&str]) {
    for dag in dags {
        env.ok(&["dags", "unpause", dag]);
        let (code, _, err) = env.run(&["dags", "trigger", dag, "-r", "r1"]);
        assert_eq!(code, 0, "trigger {dag}: {err}");
    }
}

/// Waits until run `r1` of `dag` finished; its state.
fn wait_run(daemon: &Daemon, dag: &str) -> String {
    wait_for(
        &format!("run r1 of {dag}"),
        Duration::from_secs(180),
        || {
            let (status, body) = daemon.get(&format!("/api/v1/dags/{dag}/dagRuns/r1"));
            let state = body["state"].as_str().unwrap_or_default().to_owned();
            (status == 200 && (state == "success" || state == "failed")).then_some(state)
        },
    )
}

/// (task key, state) of run r1 from the API.
fn api_states(daemon: &Daemon, dag: &str) -> BTreeMap<String, String> {
    let (_, body) = daemon.get(&format!(
        "/api/v1/dags/{dag}/dagRuns/r1/taskInstances?limit=1000"
    ));
    body["task_instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let id = t["task_id"].as_str().unwrap_or_default();
            let key = match t["map_index"].as_i64() {
                Some(i) if i >= 0 => format!("{id}[{i}]"),
                _ => id.to_owned(),
            };
            (key, t["state"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

const TOML_DAG: &str = r#"is_paused_upon_creation = false

[tasks.first]
type = "bash"
bash_command = "echo toml"

[tasks.second]
type = "python"
python_callable = "corpus_funcs:double"
op_args = [21]
upstream = ["first"]
"#;

#[test]
fn a_scheduler_runs_py_dags_beside_toml_dags_with_airflows_states() {
    let files = [
        "af2_classic_etl.py",
        "taskflow_basic.py",
        "mapping_dynamic.py",
        "branching.py",
        "af3_sdk_taskflow.py",
    ];
    let env = corpus_subset(&files);
    env.write("toml_beside.toml", TOML_DAG);
    let dags = [
        "af2_classic_etl",
        "taskflow_basic",
        "mapping_dynamic",
        "branching",
        "af3_sdk_producer",
    ];
    unpause_and_trigger(&env, &dags);
    let (code, _, err) = env.run(&["dags", "trigger", "toml_beside", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");
    let daemon = env.start();

    assert_eq!(
        wait_run(&daemon, "toml_beside"),
        "success",
        "{}",
        daemon.log()
    );
    let golden: BTreeMap<String, Value> = goldens()
        .into_iter()
        .flat_map(|(_, g)| {
            g["runs"]
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into_iter()
        })
        .collect();
    for dag in dags {
        let want = &golden[dag];
        let state = wait_run(&daemon, dag);
        assert_eq!(json!(state), want["state"], "{dag}: {}", daemon.log());
        let states = api_states(&daemon, dag);
        for (key, w) in want["tasks"].as_object().expect("tasks") {
            assert_eq!(
                states.get(key).map(String::as_str),
                w["state"].as_str(),
                "{dag}.{key}: {states:?}"
            );
        }
    }
    // A return value through the API, as Airflow's REST API gives it.
    let (_, ti) = daemon
        .get("/api/v1/dags/taskflow_basic/dagRuns/r1/taskInstances/load/xcomEntries/return_value");
    assert_eq!(ti["value"], json!("3 orders worth 1236.70"), "{ti}");
}

#[test]
fn hostile_files_become_import_errors_while_the_scheduler_runs_the_other_dags() {
    let env = hostile_env();
    unpause_and_trigger(&env, &["af2_classic_etl"]);
    let (code, _, err) = env.run(&["dags", "trigger", "toml_beside", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");
    let daemon = env.start();
    assert_eq!(
        wait_run(&daemon, "toml_beside"),
        "success",
        "{}",
        daemon.log()
    );
    assert_eq!(
        wait_run(&daemon, "af2_classic_etl"),
        "success",
        "{}",
        daemon.log()
    );
    // Every hostile file is reported by the API (the loop after the import time limit).
    let errors = wait_for(
        "the hostile files' import errors",
        Duration::from_secs(120),
        || {
            let (_, body) = daemon.get("/api/v1/importErrors");
            let errors: BTreeMap<String, String> = body["import_errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let path = e["filename"].as_str().unwrap_or_default();
                    (
                        Path::new(path)
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        e["stack_trace"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            (errors.len() >= crate::pydags::HOSTILE.len()).then_some(errors)
        },
    );
    check_hostile_errors(&env, &errors);
    // Still serving, and the printing file's DAG is there.
    let (status, _) = daemon.get("/api/v1/health");
    assert_eq!(status, 200, "{}", daemon.log());
    let (status, _) = daemon.get("/api/v1/dags/hostile_prints");
    assert_eq!(status, 200, "{}", daemon.log());
    // The CLI sees the same errors.
    check_hostile_errors(&env, &import_errors(&env));
}

/// Writes `rel` (a path under the DAGs folder) whole: a temporary file beside it, renamed.
fn write_under(env: &Env, rel: &str, text: &str) {
    let path = env.dags.path().join(rel);
    let tmp = path.with_extension("tmp-edit");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, &path).expect("rename");
}

/// The task ids the running scheduler serves for `dag`, sorted (empty when it has no
/// such DAG).
fn served_tasks(daemon: &Daemon, dag: &str) -> Vec<String> {
    let (_, body) = daemon.get(&format!("/api/v1/dags/{dag}/tasks"));
    let mut ids: Vec<String> = body["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["task_id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

fn wait_tasks(daemon: &Daemon, dag: &str, want: &[&str]) {
    wait_for(
        &format!("{dag} to have tasks {want:?}"),
        Duration::from_secs(60),
        || (served_tasks(daemon, dag) == want).then_some(()),
    );
}

#[test]
fn a_running_scheduler_sees_edits_to_py_files_and_to_the_helper_modules_they_import() {
    let env = corpus_subset(&["helper_width.py", "factory_helper_module.py"]);
    let daemon = env.start();
    wait_tasks(&daemon, "helper_width", &["slot_0", "slot_1", "slot_2"]);
    wait_tasks(
        &daemon,
        "helper_sales",
        &["begin", "clean", "fetch", "publish"],
    );

    // A plain helper module beside the DAG file.
    let helper =
        std::fs::read_to_string(env.dags.path().join("not_a_dag_helper.py")).expect("read helper");
    write_under(
        &env,
        "not_a_dag_helper.py",
        &helper.replace("WIDTH = 3", "WIDTH = 4"),
    );
    wait_tasks(
        &daemon,
        "helper_width",
        &["slot_0", "slot_1", "slot_2", "slot_3"],
    );

    // A module of a package of the DAGs folder.
    let factory =
        std::fs::read_to_string(env.dags.path().join("common/factory.py")).expect("read factory");
    write_under(
        &env,
        "common/factory.py",
        &factory.replace(
            "STEPS = [\"fetch\", \"clean\", \"publish\"]",
            "STEPS = [\"fetch\", \"publish\"]",
        ),
    );
    wait_tasks(&daemon, "helper_sales", &["begin", "fetch", "publish"]);
    wait_tasks(&daemon, "helper_ops", &["begin", "fetch", "publish"]);

    // The DAG file itself: a new task; then broken (an import error, the DAG gone); then
    // mended.
    let dag_file =
        std::fs::read_to_string(env.dags.path().join("helper_width.py")).expect("read dag file");
    let with_extra = format!(
        "{dag_file}\n    PythonOperator(task_id=\"extra\", python_callable=not_a_dag_helper.above, op_args=[9])\n"
    );
    write_under(&env, "helper_width.py", &with_extra);
    wait_tasks(
        &daemon,
        "helper_width",
        &["extra", "slot_0", "slot_1", "slot_2", "slot_3"],
    );
    write_under(
        &env,
        "helper_width.py",
        &format!("{with_extra}\nraise ValueError(\"broken on purpose\")\n"),
    );
    wait_for("the import error", Duration::from_secs(60), || {
        let (_, body) = daemon.get("/api/v1/importErrors");
        body["import_errors"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| {
                e["filename"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("helper_width.py"))
                    && e["stack_trace"]
                        .as_str()
                        .is_some_and(|s| s.contains("broken on purpose"))
            })
            .map(|_| ())
    });
    write_under(&env, "helper_width.py", &dag_file);
    wait_tasks(
        &daemon,
        "helper_width",
        &["slot_0", "slot_1", "slot_2", "slot_3"],
    );
    let (_, body) = daemon.get("/api/v1/importErrors");
    assert_eq!(body["total_entries"], 0, "{body}");
}
