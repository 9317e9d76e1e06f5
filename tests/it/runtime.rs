//! Airflow's runtime from inside task functions, with real Python: XCom with any key
//! across tasks and map calls, `multiple_outputs`, `do_xcom_push = false`, Airflow 3's
//! `xcom_pull` defaults, the context's objects and datetimes, `get_current_context` in
//! call_async, map, map_reduce and python functions, XCom listed by `tasks xcom` and the
//! API and cleared with the task instance (fixtures under `tests/fixtures/runtime/`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Env, wait_for};
use crate::repo_root;

fn env() -> Env {
    Env::with_fixtures(&repo_root().join("tests/fixtures/runtime"))
}

/// `dags test DAG -o json`: the exit code and the run's document.
fn dags_test(env: &Env, dag: &str) -> (i32, Value) {
    let (code, out, err) = env.run(&["dags", "test", dag, "-o", "json"]);
    assert!(
        code == 0 || code == 1,
        "dags test {dag} exited {code}: {err}"
    );
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("JSON ({e}): {out}\n{err}"));
    (code, doc)
}

fn task<'a>(doc: &'a Value, task_id: &str) -> &'a Value {
    doc["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["task_id"] == task_id))
        .unwrap_or_else(|| panic!("no task `{task_id}` in {doc}"))
}

/// `tasks xcom DAG RUN [TASK] -o json` as (task_id, key, map_index, value) rows.
fn xcom_rows(env: &Env, args: &[&str]) -> Vec<(String, String, i64, Value)> {
    let mut all = vec!["tasks", "xcom"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    env.json(&all)
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["task_id"].as_str().expect("task_id").to_owned(),
                r["key"].as_str().expect("key").to_owned(),
                r["map_index"].as_i64().expect("map_index"),
                r["value"].clone(),
            )
        })
        .collect()
}

#[test]
fn xcom_keys_travel_across_tasks_and_map_calls_with_airflows_pull_defaults() {
    let env = env();
    let (code, doc) = dags_test(&env, "xcom_keys");
    assert_eq!(code, 0, "{doc}");
    let got = &task(&doc, "consume")["return_value"];
    let want = json!({
        // A key pushed from a call_async function, at map index -1.
        "note": {"x": 3, "map_index": -1},
        // multiple_outputs: each key of the returned dict, beside return_value.
        "a": 3,
        "whole": {"a": 3, "b": 6},
        // A key pushed by each map call: the list over map indexes, in order.
        "sq": [1, 4, 9],
        "sq_at_1": 4,
        "sq_at_1_and_0": [4, 1],
        "missing_at_7": "dflt",
        // A list of task ids: a list in their order.
        "in_order": [[2, 3, 4], {"a": 3, "b": 6}],
        // do_xcom_push = false pushes nothing.
        "not_pushed": null,
        // task_ids=None is the calling task (Airflow 3), which pushed nothing yet.
        "own": null,
        "reduced": {"n": 2, "same_day": true, "reducer_map_index": -1, "seen": [0, 1]},
        "same_ti": true,
        "is_current": true,
        "minute_matches_ts": true,
        "aware": true,
        "after_2000": true,
        "interval_ordered": true,
        "ts_is_text": true,
        "dag_run": [true, {}],
        "ids": ["xcom_keys", "consume", 1, -1, "xcom_keys", "consume"],
        "ds_add": "2026-02-02",
    });
    assert_eq!(got, &want, "{doc}");
    assert_eq!(
        task(&doc, "outside")["return_value"],
        "Current context was requested but no context was found! Are you running within an Airflow task?"
    );

    // Every entry, listed by `tasks xcom` (sorted by task, key, map index).
    let run_id = doc["run_id"].as_str().expect("run_id");
    let rows = xcom_rows(&env, &["xcom_keys", run_id]);
    let listed: Vec<(&str, &str, i64)> = rows
        .iter()
        .map(|(t, k, i, _)| (t.as_str(), k.as_str(), *i))
        .filter(|(t, _, _)| *t != "consume" && *t != "outside")
        .collect();
    assert_eq!(
        listed,
        [
            ("produce", "a", -1),
            ("produce", "b", -1),
            ("produce", "note", -1),
            ("produce", "return_value", -1),
            ("reduce", "return_value", -1),
            ("reduce", "seen", 0),
            ("reduce", "seen", 1),
            ("square", "return_value", -1),
            ("square", "sq", 0),
            ("square", "sq", 1),
            ("square", "sq", 2),
        ]
    );
    let one = xcom_rows(
        &env,
        &[
            "xcom_keys",
            run_id,
            "square",
            "-k",
            "sq",
            "--map-index",
            "2",
        ],
    );
    assert_eq!(one, [("square".to_owned(), "sq".to_owned(), 2, json!(9))]);
}

#[test]
fn multiple_outputs_wants_a_dict_and_a_retry_starts_without_the_earlier_pushes() {
    let env = env();
    let (code, doc) = dags_test(&env, "xcom_fail");
    assert_eq!(code, 1, "{doc}");
    let listy = task(&doc, "listy");
    assert_eq!(listy["state"], "failed", "{doc}");
    assert!(
        listy["error"].as_str().unwrap_or_default().contains(
            "Returned output was type <class 'list'> expected dictionary for multiple_outputs"
        ),
        "{listy}"
    );
    let retried = task(&doc, "retried");
    assert_eq!(
        (
            &retried["state"],
            &retried["try_number"],
            &retried["return_value"]
        ),
        (&json!("success"), &json!(2), &json!("gone")),
        "the second try does not see what the first pushed: {doc}"
    );
    let run_id = doc["run_id"].as_str().expect("run_id");
    let keys: Vec<String> = xcom_rows(&env, &["xcom_fail", run_id, "retried"])
        .into_iter()
        .map(|(_, k, _, _)| k)
        .collect();
    assert_eq!(keys, ["return_value", "second"]);
    assert_eq!(
        task(&doc, "alone")["return_value"],
        json!({"k": [1, 2], "none": null})
    );
}

#[test]
fn tasks_test_keeps_a_functions_pushes_for_its_own_pulls() {
    let env = env();
    let out = env.json(&["tasks", "test", "xcom_fail", "alone", "-o", "json"]);
    assert_eq!(
        out["return_value"],
        json!({"k": [1, 2], "none": null}),
        "{out}"
    );
}

#[test]
fn xcom_entries_are_served_by_the_api_and_cleared_with_the_task_instance() {
    let env = env();
    let d = env.start();
    let (status, trig) = d.post(
        "/api/v1/dags/xcom_keys/dagRuns",
        &json!({"dag_run_id": "r1"}),
    );
    assert!(status == 200 || status == 201, "{status} {trig}");
    wait_for("run r1 to succeed", Duration::from_secs(120), || {
        let (_, run) = d.get("/api/v1/dags/xcom_keys/dagRuns/r1");
        match run["state"].as_str() {
            Some("success") => Some(()),
            Some("failed") => panic!("the run failed: {}", d.log()),
            _ => None,
        }
    });
    let ti = "/api/v1/dags/xcom_keys/dagRuns/r1/taskInstances/square";
    let (status, list) = d.get(&format!("{ti}/xcomEntries"));
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total_entries"], 4, "{list}");
    let first = &list["xcom_entries"][0];
    assert_eq!(
        (
            &first["key"],
            &first["map_index"],
            &first["task_id"],
            &first["dag_id"]
        ),
        (
            &json!("return_value"),
            &json!(-1),
            &json!("square"),
            &json!("xcom_keys")
        ),
        "{list}"
    );
    assert!(
        first["timestamp"].is_string() && first.get("value").is_none(),
        "{list}"
    );
    let (_, only) = d.get(&format!("{ti}/xcomEntries?xcom_key=sq&map_index=1"));
    assert_eq!(only["total_entries"], 1, "{only}");
    let (status, entry) = d.get(&format!("{ti}/xcomEntries/sq?map_index=2&stringify=false"));
    assert_eq!((status, &entry["value"]), (200, &json!(9)), "{entry}");
    let (status, _) = d.get(&format!("{ti}/xcomEntries/sq?map_index=5"));
    assert_eq!(status, 404);
    let (status, entry) = d.get(&format!("{ti}/xcomEntries/return_value?stringify=false"));
    assert_eq!(
        (status, &entry["value"]),
        (200, &json!([2, 3, 4])),
        "{entry}"
    );

    // Through the scheduler's API, `tasks xcom` prints the same entries with values.
    let rows = xcom_rows(&env, &["xcom_keys", "r1", "square", "-k", "sq"]);
    let values: Vec<&Value> = rows.iter().map(|(_, _, _, v)| v).collect();
    assert_eq!(values, [&json!(1), &json!(4), &json!(9)]);

    // Cleared with the task instance (it runs again and pushes anew; until then none).
    let (status, cleared) = d.post(
        "/api/v1/dags/xcom_keys/clearTaskInstances",
        &json!({"dry_run": false, "task_ids": ["square"], "dag_run_id": "r1"}),
    );
    assert_eq!(status, 200, "{cleared}");
    wait_for(
        "the cleared run to succeed again",
        Duration::from_secs(120),
        || {
            let (_, run) = d.get("/api/v1/dags/xcom_keys/dagRuns/r1");
            let (_, t) = d.get(ti);
            (run["state"] == "success" && t["try_number"] == 2).then_some(())
        },
    );
    let (_, list) = d.get(&format!("{ti}/xcomEntries"));
    assert_eq!(
        list["total_entries"], 4,
        "pushed again by the new try: {list}"
    );
}

#[test]
fn on_lambda_a_live_read_fails_saying_which_template_to_use() {
    // The runtime as Lambda runs it (`_ON_LAMBDA`, no host), with the `lithoflow` module
    // beside it, calling a real function that reads a variable, a connection and XCom.
    let script = r#"
import json, sys
runtime, module, folder = sys.argv[1:4]
ns = {"__name__": "lithoflow_runtime"}
exec(open(runtime).read(), ns)
ns["_install_lithoflow"](open(module).read())
ns["_ON_LAMBDA"] = True
out = []
for fn in ["read_variable", "read_connection", "pull", "context_in_call_async"]:
    resp = ns["run_call"]({"type": "call", "call_id": "00000", "call_index": 0, "module": "lambda_funcs",
                           "function": fn, "args": [], "kwargs": {}, "sys_path": [folder]})
    out.append(resp["error"]["message"] if not resp["ok"] else resp["result"])
resp = ns["run_call"]({"type": "call", "call_id": "00001", "call_index": 0, "module": "lambda_funcs",
                       "function": "context_in_python", "args": [], "kwargs": {}, "sys_path": [folder],
                       "airflow_context": {"ds": "2026-01-02", "ti": {"task_id": "t"}}})
out.append(json.loads(resp["result"]))
print(json.dumps(out))
"#;
    let folder = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        folder.path().join("lambda_funcs.py"),
        r#"
from lithoflow import Variable, get_connection, get_current_context

def read_variable():
    return Variable.get("threshold")

def read_connection():
    return get_connection("warehouse").host

def pull():
    return get_current_context()

def context_in_call_async():
    return str(get_current_context())

def context_in_python():
    return get_current_context()["ds"]
"#,
    )
    .expect("write");
    let runtime = repo_root().join("executor/src/runtime/lithoflow_runtime.py");
    let module = repo_root().join("executor/src/runtime/lithoflow.py");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&runtime)
        .arg(&module)
        .arg(folder.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    let text = |i: usize| got[i].as_str().unwrap_or_default().to_owned();
    assert!(
        text(0)
            .contains("on AWS Lambda a function cannot ask the scheduler for variable 'threshold'")
            && text(0).contains("{{ var.value.threshold }}"),
        "{got:?}"
    );
    assert!(text(1).contains("{{ conn.warehouse.host }}"), "{got:?}");
    for i in [2, 3] {
        assert!(
            text(i).contains("on AWS Lambda") && text(i).contains("{{ ds }}"),
            "{got:?}"
        );
    }
    assert_eq!(
        got[4],
        json!("2026-01-02"),
        "a python task's context travels with the call"
    );
}

#[test]
fn variables_and_connections_are_read_and_written_from_inside_a_function() {
    let env = env();
    env.ok(&["variables", "set", "threshold", "10"]);
    env.ok(&["variables", "set", "api_token", "tok-s3cr3t-99"]);
    env.ok(&[
        "connections",
        "add",
        "warehouse",
        "--conn-uri",
        "postgres://loader:pa55word-x@db.example.com:5432/sales?sslmode=require",
    ]);
    let (code, doc) = dags_test(&env, "values");
    assert_eq!(code, 1, "`missing` fails: {doc}");
    assert_eq!(
        task(&doc, "read")["return_value"],
        json!([{
            "threshold": "10",
            "missing": "fallback",
            "json": {"from": 1},
            "conn": ["postgres", "db.example.com", "loader", 5432, "sales", {"sslmode": "require"}],
            // The function got the password; what `dags test` shows of its return value is masked.
            "uri": "postgres://loader:***@db.example.com:5432/sales?sslmode=require",
            "var_accessor": "10",
            "conn_accessor": "db.example.com",
            "missing_conn": "none",
        }]),
        "{doc}"
    );
    assert!(
        task(&doc, "missing")["error"]
            .as_str()
            .unwrap_or_default()
            .contains("KeyError: 'Variable no_such_key does not exist'"),
        "{doc}"
    );
    // Set from the task, read by the CLI.
    let stored = env.ok(&["variables", "get", "written_by_task", "-j"]);
    assert_eq!(
        serde_json::from_str::<Value>(&stored).expect("JSON"),
        json!({"from": 1})
    );
    // What the call printed is in the try's log with the secrets masked.
    let run_id = doc["run_id"].as_str().expect("run_id");
    let log = std::fs::read_to_string(
        env.home()
            .join("logs/dag_id=values")
            .join(format!("run_id={run_id}"))
            .join("task_id=read/attempt=1.log"),
    )
    .expect("the log");
    assert!(
        log.contains("the password is *** and the token is ***")
            && !log.contains("pa55word-x")
            && !log.contains("tok-s3cr3t-99"),
        "{log}"
    );
}
