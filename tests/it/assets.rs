//! Assets (Airflow 2's datasets) end to end: producers with outlets, DAGs scheduled on
//! assets (all of them, any of them), `triggering_asset_events` seen by a Python task,
//! the CLI and API listings, external events (`POST /api/v1/datasets/events`), and the
//! events and a DAG's queue surviving a scheduler restart. Real scheduler, real Python
//! workers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Daemon, Env, wait_for};

const LIMIT: Duration = Duration::from_secs(120);

const FNS: &str = r#"
from lithoflow import Asset, Dataset, get_current_context

def noop():
    ctx = get_current_context()
    return [a.uri for a in ctx["outlets"]]

def produce_with_extra(outlet_events):
    outlet_events[Dataset("asset://b")].extra = {"rows": 42}
    return "done"

def read_events():
    ctx = get_current_context()
    events = ctx["triggering_asset_events"]
    # Airflow 2's name, keyed by a Dataset written as in the DAG file (not normalised).
    b = ctx["triggering_dataset_events"][Dataset("asset://b")]
    a = events[Asset("s3://bucket/a.csv")]
    assert a[0].timestamp.tzinfo is not None, a[0].timestamp
    assert a[0].asset.uri == "s3://bucket/a.csv", a[0].asset
    return {
        "uris": sorted(events.keys()),
        "a_source": [e.source_dag_id for e in a],
        "b_source": [e.source_dag_id for e in b],
        "b_task": b[0].source_task_id,
        "b_extra": b[0].extra,
        "run_type": ctx["dag_run"].run_type,
    }
"#;

fn producer(outlet: &str) -> String {
    format!(
        r#"
is_paused_upon_creation = false

[tasks.produce]
type = "python"
python_callable = "fns:noop"
outlets = ["{outlet}"]
"#
    )
}

const CONSUMER: &str = r#"
schedule = ["s3://bucket/a.csv", "asset://b"]
is_paused_upon_creation = false

[tasks.read]
type = "python"
python_callable = "fns:read_events"

[tasks.templated]
type = "bash"
bash_command = "echo 'sources: {{ triggering_asset_events['asset://b/'][0].source_dag_id }} {{ (triggering_dataset_events['s3://bucket/a.csv'] | first).source_task_id }} {{ triggering_asset_events | length }}'"
"#;

const ANY_CONSUMER: &str = r#"
schedule = { any = ["s3://bucket/a.csv", { all = ["asset://never", "asset://b"] }] }
is_paused_upon_creation = false

[tasks.t]
type = "empty"
"#;

fn env() -> Env {
    let env = Env::new();
    env.write("fns.py", FNS);
    env.write("producer_a.toml", &producer("s3://bucket/a.csv"));
    env.write(
        "producer_b.toml",
        &producer("asset://b").replace("fns:noop", "fns:produce_with_extra"),
    );
    env.write("consumer.toml", CONSUMER);
    env.write("any_consumer.toml", ANY_CONSUMER);
    env
}

/// A DAG's runs through the API.
fn runs(d: &Daemon, dag: &str) -> Vec<Value> {
    let (status, body) = d.get(&format!("/api/v1/dags/{dag}/dagRuns"));
    assert_eq!(status, 200, "{body}");
    body["dag_runs"].as_array().cloned().unwrap_or_default()
}

/// Waits until `dag` has `n` runs, all finished; returns them.
fn finished_runs(d: &Daemon, dag: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} finished run(s) of {dag}"), LIMIT, || {
        let r = runs(d, dag);
        (r.len() == n
            && r.iter()
                .all(|r| r["state"] == "success" || r["state"] == "failed"))
        .then_some(r)
    })
}

fn trigger(env: &Env, dag: &str, run: &str) {
    env.ok(&["dags", "trigger", dag, "-r", run]);
}

#[test]
fn a_consumer_of_two_assets_runs_once_both_are_produced_and_sees_its_events() {
    let env = env();
    let d = env.start();

    trigger(&env, "producer_a", "first_a");
    finished_runs(&d, "producer_a", 1);
    // The task's context lists its outlets.
    let (_, pushed) = d.get(
        "/api/v1/dags/producer_a/dagRuns/first_a/taskInstances/produce/xcomEntries/return_value",
    );
    assert!(
        pushed["value"].to_string().contains("s3://bucket/a.csv"),
        "{pushed}"
    );
    // The `any` DAG runs on the first producer alone; that run also shows that the
    // scheduler has queued a.csv's event for the `all` consumer, which must not run.
    let any = finished_runs(&d, "any_consumer", 1);
    // `/api/v1` speaks Airflow 2.10: an asset-triggered run is `dataset_triggered`.
    assert_eq!(any[0]["run_type"], "dataset_triggered", "{any:?}");
    assert!(runs(&d, "consumer").is_empty(), "ran on one asset of two");
    let (status, queue) = d.get("/api/v1/dags/consumer/datasets/queuedEvent");
    assert_eq!(status, 200, "{queue}");
    assert_eq!(
        queue["queued_events"][0]["uri"], "s3://bucket/a.csv",
        "{queue}"
    );

    trigger(&env, "producer_b", "first_b");
    let consumer = finished_runs(&d, "consumer", 1);
    let run = &consumer[0];
    assert_eq!(run["state"], "success", "{run}");
    assert_eq!(run["run_type"], "dataset_triggered");
    let run_id = run["dag_run_id"].as_str().expect("run id").to_owned();
    assert!(run_id.starts_with("asset_triggered__"), "{run_id}");
    // The queue was emptied, so nothing is left to trigger a second run; b is not in
    // the `any` DAG's condition on its own.
    let (status, _) = d.get("/api/v1/dags/consumer/datasets/queuedEvent");
    assert_eq!(status, 404);
    assert_eq!(runs(&d, "any_consumer").len(), 1);

    // The Python task saw the events that triggered its run.
    let (status, xcom) = d.get(&format!(
        "/api/v1/dags/consumer/dagRuns/{run_id}/taskInstances/read/xcomEntries/return_value?stringify=false"
    ));
    assert_eq!(status, 200, "{xcom}");
    let value: Value = match &xcom["value"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        v => v.clone(),
    };
    assert_eq!(
        value,
        json!({
            "uris": ["asset://b/", "s3://bucket/a.csv"],
            "a_source": ["producer_a"],
            "b_source": ["producer_b"],
            "b_task": "produce",
            "b_extra": {"rows": 42},
            "run_type": "asset_triggered",
        })
    );
    // And the templates too (Airflow 3's name and Airflow 2's).
    let log = env.ok(&["tasks", "logs", "consumer", "templated", &run_id]);
    assert!(log.contains("sources: producer_b produce 2"), "{log}");

    // The API: the DAG's schedule, the assets, the events and a run's upstream events.
    let (_, dag) = d.get("/api/v1/dags/consumer");
    assert_eq!(dag["timetable_description"], "Triggered by assets", "{dag}");
    assert_eq!(
        dag["dataset_expression"],
        json!({"all": ["s3://bucket/a.csv", "asset://b/"]})
    );
    let (status, assets) = d.get("/api/v1/datasets?order_by=uri");
    assert_eq!(status, 200, "{assets}");
    let uris: Vec<&str> = assets["datasets"]
        .as_array()
        .expect("datasets")
        .iter()
        .filter_map(|a| a["uri"].as_str())
        .collect();
    assert_eq!(uris, ["asset://b/", "asset://never/", "s3://bucket/a.csv"]);
    let (status, one) = d.get("/api/v1/datasets/s3%3A%2F%2Fbucket%2Fa.csv");
    assert_eq!(status, 200, "{one}");
    let consumers: Vec<&str> = one["consuming_dags"]
        .as_array()
        .expect("consuming_dags")
        .iter()
        .filter_map(|c| c["dag_id"].as_str())
        .collect();
    assert_eq!(consumers, ["any_consumer", "consumer"]);
    assert_eq!(one["producing_tasks"][0]["dag_id"], "producer_a");
    let (_, events) = d.get("/api/v1/datasets/events?order_by=timestamp");
    assert_eq!(events["total_entries"], 2, "{events}");
    assert_eq!(events["dataset_events"][0]["source_dag_id"], "producer_a");
    assert_eq!(events["dataset_events"][0]["source_run_id"], "first_a");
    let triggered: Vec<&str> = events["dataset_events"][1]["created_dagruns"]
        .as_array()
        .expect("created_dagruns")
        .iter()
        .filter_map(|r| r["dag_id"].as_str())
        .collect();
    assert_eq!(triggered, ["consumer"]);
    let (status, upstream) = d.get(&format!(
        "/api/v1/dags/consumer/dagRuns/{run_id}/upstreamDatasetEvents"
    ));
    assert_eq!(status, 200, "{upstream}");
    assert_eq!(upstream["total_entries"], 2, "{upstream}");

    // The CLI, through the running scheduler's API.
    let listed = env.json(&["assets", "list", "-o", "json"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    let table = env.ok(&["assets", "list"]);
    assert!(
        table.contains("s3://bucket/a.csv") && table.contains("group"),
        "{table}"
    );
    let b_events = env.json(&[
        "assets",
        "events",
        "--asset",
        "asset://b",
        "--limit",
        "5",
        "-o",
        "json",
    ]);
    assert_eq!(b_events[0]["source_dag_id"], "producer_b", "{b_events}");
    assert_eq!(b_events.as_array().map(Vec::len), Some(1), "{b_events}");
    let latest = env.json(&["assets", "events", "--limit", "1", "-o", "json"]);
    assert_eq!(latest.as_array().map(Vec::len), Some(1), "{latest}");
    assert_eq!(latest[0]["uri"], "asset://b/", "the newest first: {latest}");
    assert_eq!(
        latest[0]["triggered_runs"],
        json!([format!("consumer/{run_id}")])
    );
}

#[test]
fn events_and_a_queue_survive_a_restart_and_an_external_event_completes_the_condition() {
    let env = env();
    let mut d = env.start();
    trigger(&env, "producer_a", "before_restart");
    finished_runs(&d, "producer_a", 1);
    wait_for("a.csv queued for the consumer", LIMIT, || {
        let (status, q) = d.get("/api/v1/dags/consumer/datasets/queuedEvent");
        (status == 200).then_some(q)
    });
    assert_eq!(d.terminate(), 0, "{}", d.log());

    // Without a scheduler, the CLI reads the store.
    let events = env.json(&["assets", "events", "-o", "json"]);
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    assert_eq!(events[0]["source_run_id"], "before_restart");
    let listed = env.ok(&["assets", "list", "-o", "plain"]);
    assert!(listed.contains("asset://b/"), "{listed}");

    let d = env.start();
    let (status, q) = d.get("/api/v1/dags/consumer/datasets/queuedEvent");
    assert_eq!(status, 200, "the queue survived the restart: {q}");
    assert!(runs(&d, "consumer").is_empty());
    // An unknown asset is refused, as Airflow's API does.
    let (status, body) = d.post(
        "/api/v1/datasets/events",
        &json!({"dataset_uri": "s3://nowhere/x"}),
    );
    assert_eq!(status, 404, "{body}");
    let (status, ev) = d.post(
        "/api/v1/datasets/events",
        &json!({"dataset_uri": "asset://b", "extra": {"rows": 3}}),
    );
    assert_eq!(status, 200, "{ev}");
    assert_eq!(ev["dataset_uri"], "asset://b/");
    assert_eq!(ev["extra"], json!({"rows": 3, "from_rest_api": true}));
    assert_eq!(ev["source_dag_id"], Value::Null);

    let consumer = finished_runs(&d, "consumer", 1);
    let run_id = consumer[0]["dag_run_id"].as_str().expect("run id");
    assert_eq!(consumer[0]["state"], "success", "{consumer:?}");
    let (_, upstream) = d.get(&format!(
        "/api/v1/dags/consumer/dagRuns/{run_id}/upstreamDatasetEvents"
    ));
    let sources: Vec<Value> = upstream["dataset_events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["source_run_id"].clone())
        .collect();
    assert_eq!(
        sources,
        [json!("before_restart"), Value::Null],
        "{upstream}"
    );
}

#[test]
fn a_paused_consumer_keeps_its_queue_and_runs_once_unpaused() {
    let env = env();
    // Runs once the scheduler has handled b's events (queued them for its consumers).
    env.write(
        "b_watcher.toml",
        "schedule = [\"asset://b\"]\nis_paused_upon_creation = false\n[tasks.t]\ntype = \"empty\"\n",
    );
    let d = env.start();
    trigger(&env, "producer_a", "a1");
    finished_runs(&d, "producer_a", 1);
    wait_for("a.csv queued", LIMIT, || {
        let (status, q) = d.get("/api/v1/dags/consumer/datasets/queuedEvent");
        (status == 200).then_some(q)
    });
    env.ok(&["dags", "pause", "consumer"]);
    trigger(&env, "producer_b", "b1");
    finished_runs(&d, "producer_b", 1);
    // b's event came while the consumer was paused: Airflow queues no paused DAG, so
    // the consumer's queue holds a.csv only and its condition is not met on unpause.
    finished_runs(&d, "b_watcher", 1);
    env.ok(&["dags", "unpause", "consumer"]);
    trigger(&env, "producer_b", "b2");
    let consumer = finished_runs(&d, "consumer", 1);
    let run_id = consumer[0]["dag_run_id"].as_str().expect("run id");
    let (_, upstream) = d.get(&format!(
        "/api/v1/dags/consumer/dagRuns/{run_id}/upstreamDatasetEvents"
    ));
    // Every event since its last asset-triggered run counts, the one while paused too.
    assert_eq!(upstream["total_entries"], 3, "{upstream}");
}
