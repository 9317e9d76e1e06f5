//! Dynamic task mapping at run time, with real Python: mapping over upstream results of
//! 0, 1 and 1,000 elements, over literals, the cross product, `expand_kwargs`, bash and
//! call_async mapping, a failing instance retried alone, downstream tasks reading the
//! results in map index order (also through `xcom_pull`), an unmappable upstream value,
//! `max_active_tis_per_dagrun` (checked on the recorded start and end dates), logs and
//! states per map index, clearing a mapped task, the API's mapped routes, and a
//! scheduler killed in the middle of a mapped task (fixtures under
//! `tests/fixtures/mapping/`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::harness::{Env, wait_for};
use crate::repo_root;

fn env() -> Env {
    Env::with_fixtures(&repo_root().join("tests/fixtures/mapping"))
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

/// The instances of a task in a `dags test` document, by map index.
fn instances<'a>(doc: &'a Value, task_id: &str) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = doc["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["task_id"] == task_id)
        .collect();
    out.sort_by_key(|t| t["map_index"].as_i64());
    assert!(!out.is_empty(), "no task `{task_id}` in {doc}");
    out
}

/// Each instance's (map index, state, try number, return value).
fn summary(doc: &Value, task_id: &str) -> Vec<(i64, String, i64, Value)> {
    instances(doc, task_id)
        .iter()
        .map(|t| {
            (
                t["map_index"].as_i64().expect("map_index"),
                t["state"].as_str().expect("state").to_owned(),
                t["try_number"].as_i64().expect("try_number"),
                t["return_value"].clone(),
            )
        })
        .collect()
}

fn ok(values: &[Value]) -> Vec<(i64, String, i64, Value)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, "success".to_owned(), 1, v.clone()))
        .collect()
}

#[test]
fn mapped_tasks_expand_over_results_literals_and_cross_products_and_retry_alone() {
    let env = env();
    let (code, doc) = dags_test(&env, "mapping");
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["state"], "success", "{doc}");

    // Zero elements: the task is skipped (its one unexpanded instance), and a
    // downstream task that still runs gets the empty list.
    assert_eq!(
        summary(&doc, "double0"),
        [(-1, "skipped".to_owned(), 0, Value::Null)]
    );
    assert_eq!(
        instances(&doc, "total0")[0]["return_value"],
        json!({"n": 0, "values": []})
    );
    // One element, and 1,000: one instance each, in map index order.
    assert_eq!(summary(&doc, "double1"), ok(&[json!(0)]));
    let thousand: Vec<Value> = (0..1000).map(|i| json!(2 * i)).collect();
    assert_eq!(summary(&doc, "double1000"), ok(&thousand));
    // The downstream task gets the list of the results, in map index order.
    assert_eq!(
        instances(&doc, "total1000")[0]["return_value"],
        json!({"n": 1000, "values": thousand})
    );
    // A literal; each instance sees its own map index in its context.
    assert_eq!(
        summary(&doc, "lit"),
        ok(&[
            json!({"x": 10, "map_index": 0}),
            json!({"x": 20, "map_index": 1}),
            json!({"x": 30, "map_index": 2}),
        ])
    );
    // Each instance's label from map_index_template, with its own argument.
    let labels: Vec<&Value> = instances(&doc, "lit")
        .iter()
        .map(|t| &t["rendered_map_index"])
        .collect();
    assert_eq!(labels, [&json!("x=10"), &json!("x=20"), &json!("x=30")]);
    // xcom_pull of a mapped task gives the list, even of one.
    assert_eq!(
        instances(&doc, "pull")[0]["return_value"],
        json!({"pulled": [0], "pulled_3": [
            {"x": 10, "map_index": 0}, {"x": 20, "map_index": 1}, {"x": 30, "map_index": 2}
        ], "templated": "6"})
    );
    // The cross product: the last name varies fastest, as Airflow's.
    assert_eq!(
        summary(&doc, "cross"),
        ok(&[
            json!([1, "x"]),
            json!([1, "y"]),
            json!([1, "z"]),
            json!([2, "x"]),
            json!([2, "y"]),
            json!([2, "z"]),
        ])
    );
    // expand_kwargs over a task's list of tables, and over a literal (call_async).
    assert_eq!(summary(&doc, "kw"), ok(&[json!([1, 2]), json!([3, 4])]));
    assert_eq!(summary(&doc, "kw_literal"), ok(&[json!(3), json!(30)]));
    // bash: one command per instance; call_async: a keyword over the fixed data.
    assert_eq!(summary(&doc, "bash_map"), ok(&[json!("one"), json!("two")]));
    assert_eq!(summary(&doc, "ca_map"), ok(&[json!(100)]));
    // A dict maps as its (key, value) pairs.
    assert_eq!(
        summary(&doc, "pairs"),
        ok(&[json!(["k1", 1]), json!(["k2", 2])])
    );
    // The instance that failed its first try was retried alone.
    let flaky = summary(&doc, "flaky");
    assert_eq!(
        flaky,
        [
            (0, "success".to_owned(), 1, json!(0)),
            (1, "success".to_owned(), 2, json!(1)),
            (2, "success".to_owned(), 1, json!(2)),
        ]
    );
    let calls = std::fs::read_to_string(env.dags.path().join("flaky_calls.txt")).expect("calls");
    let mut calls: Vec<&str> = calls.lines().collect();
    calls.sort_unstable();
    assert_eq!(calls, ["0", "1", "1", "2"]);

    // Each instance's tries have their own log, under its map index.
    let run_id = doc["run_id"].as_str().expect("run_id");
    let log = env.ok(&[
        "tasks",
        "logs",
        "mapping",
        "flaky",
        run_id,
        "--map-index",
        "1",
        "--try",
        "1",
    ]);
    assert!(log.contains("instance 1 fails its first try"), "{log}");
    let state = env.ok(&[
        "tasks",
        "state",
        "mapping",
        "bash_map",
        run_id,
        "--map-index",
        "1",
    ]);
    assert_eq!(state.trim(), "success");
}

#[test]
fn an_unmappable_upstream_value_fails_the_upstream_with_airflows_error() {
    let env = env();
    let (code, doc) = dags_test(&env, "mapping_bad");
    assert_eq!(code, 1, "{doc}");
    let five = instances(&doc, "five")[0];
    assert_eq!(five["state"], "failed");
    assert_eq!(
        five["error"],
        "UnmappableXComTypePushed: unmappable return type 'int'"
    );
    assert_eq!(
        summary(&doc, "over_five"),
        [(-1, "upstream_failed".to_owned(), 0, Value::Null)]
    );
}

/// `tasks states-for-dag-run -o json` of one task: (map index, state, try, start, end).
type Row = (i64, String, i64, DateTime<Utc>, DateTime<Utc>);

fn rows(env: &Env, dag: &str, run_id: &str, task_id: &str) -> Vec<Row> {
    let all = env.json(&["tasks", "states-for-dag-run", dag, run_id, "-o", "json"]);
    let date = |v: &Value| -> DateTime<Utc> {
        v.as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|| panic!("a date: {v}"))
    };
    all.as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["task_id"] == task_id)
        .map(|r| {
            (
                r["map_index"].as_i64().expect("map_index"),
                r["state"].as_str().expect("state").to_owned(),
                r["try_number"].as_i64().expect("try"),
                date(&r["start_date"]),
                date(&r["end_date"]),
            )
        })
        .collect()
}

#[test]
fn max_active_tis_per_dagrun_caps_the_instances_running_at_once_and_clear_maps_again() {
    let env = env();
    let (code, doc) = dags_test(&env, "mapping_limit");
    assert_eq!(code, 0, "{doc}");
    let run_id = doc["run_id"].as_str().expect("run_id").to_owned();
    let limited = rows(&env, "mapping_limit", &run_id, "limited");
    assert_eq!(limited.len(), 6, "{limited:?}");
    // From the recorded dates: when each instance started, at most two (itself
    // included) had started and not yet ended.
    let most = limited
        .iter()
        .map(|(_, _, _, start, _)| {
            limited
                .iter()
                .filter(|(_, _, _, s, e)| s <= start && start < e)
                .count()
        })
        .max();
    assert_eq!(most, Some(2), "{limited:?}");

    // Clearing the mapped task puts it back to unexpanded; the next scheduling expands
    // it again and each instance goes on from its tries (no log written over).
    let (code, _, err) = env.run(&[
        "tasks",
        "clear",
        "mapping_limit",
        "-t",
        "limited",
        "--run-id",
        &run_id,
        "-y",
    ]);
    assert_eq!(code, 0, "{err}");
    let all = env.json(&[
        "tasks",
        "states-for-dag-run",
        "mapping_limit",
        &run_id,
        "-o",
        "json",
    ]);
    let cleared: Vec<(i64, &str)> = all
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["map_index"].as_i64().expect("map_index"),
                r["state"].as_str().expect("state"),
            )
        })
        .collect();
    assert_eq!(cleared, [(-1, "none")], "{all}");
    // A manual DAG created paused: unpaused, so that its cleared run runs.
    env.ok(&["dags", "unpause", "mapping_limit"]);
    env.schedule_until_idle();
    let again = rows(&env, "mapping_limit", &run_id, "limited");
    let states: Vec<(i64, &str, i64)> = again
        .iter()
        .map(|(i, s, t, _, _)| (*i, s.as_str(), *t))
        .collect();
    assert_eq!(
        states,
        (0..6).map(|i| (i, "success", 2)).collect::<Vec<_>>(),
        "{again:?}"
    );
}

#[test]
fn a_scheduler_killed_mid_map_resumes_each_instance_and_the_api_lists_them() {
    let env = env();
    let (code, _, err) = env.run(&["dags", "trigger", "mapping_restart", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");
    let mut daemon = env.start();
    let base = "/api/v1/dags/mapping_restart/dagRuns/r1/taskInstances";
    // Kill it once two instances have succeeded and others are running.
    wait_for("two instances to succeed", Duration::from_secs(120), || {
        let (_, body) = daemon.get(&format!("{base}/slow/listMapped"));
        let tis = body["task_instances"].as_array()?;
        let done = tis.iter().filter(|t| t["state"] == "success").count();
        (done >= 2).then_some(())
    });
    daemon.kill9();
    // A killed scheduler leaves its discovery file: the next one's is waited for.
    let _ = std::fs::remove_file(env.home().join("scheduler.json"));
    let before = env.json(&[
        "tasks",
        "states-for-dag-run",
        "mapping_restart",
        "r1",
        "-o",
        "json",
    ]);
    let done_before: Vec<i64> = before
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["task_id"] == "slow" && r["state"] == "success")
        .map(|r| r["map_index"].as_i64().expect("map_index"))
        .collect();
    assert!(done_before.len() >= 2 && done_before.len() < 6, "{before}");

    let mut daemon = env.start();
    wait_for("the run to succeed", Duration::from_secs(120), || {
        let (_, body) = daemon.get("/api/v1/dags/mapping_restart/dagRuns/r1");
        (body["state"] == "success").then_some(())
    });
    let (status, listed) = daemon.get(&format!("{base}/slow/listMapped"));
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["total_entries"], 6, "{listed}");
    for (i, ti) in listed["task_instances"]
        .as_array()
        .expect("list")
        .iter()
        .enumerate()
    {
        assert_eq!(ti["map_index"], json!(i), "{ti}");
        assert_eq!(ti["state"], "success", "{ti}");
        // Finished before the kill: never ran again.
        if done_before.contains(&(i as i64)) {
            assert_eq!(ti["try_number"], 1, "{ti}");
        }
    }
    let (status, one) = daemon.get(&format!("{base}/slow/3"));
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        (one["map_index"].clone(), one["return_value"].clone()),
        (json!(3), json!(3))
    );
    let (status, whole) = daemon.get(&format!("{base}/slow"));
    assert_eq!(status, 400, "{whole}");
    let (_, total) = daemon.get(&format!("{base}/total"));
    assert_eq!(
        (total["map_index"].clone(), total["return_value"].clone()),
        (json!(-1), json!({"n": 6, "values": [0, 1, 2, 3, 4, 5]}))
    );
    let (status, log) = daemon.get(&format!("{base}/slow/logs/1?map_index=2&full_content=true"));
    assert_eq!(status, 200, "{log}");
    assert_eq!(daemon.terminate(), 0, "{}", daemon.log());
}
