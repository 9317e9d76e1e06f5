//! DAGs and DAG runs against Airflow's answers: `/api/v1` as Airflow 2.10 (run filters,
//! `order_by`, the batch list, `fields`, trigger bodies, `schedule_interval`,
//! `file_token` and the DAG source, details, bulk pause) and `/api/v2` as Airflow 3.1
//! (run and DAG shapes, strict bodies).

use super::*;

/// Records a finished run of `hello` at a logical date, started and ended as given.
fn seed(h: &Harness, run_id: &str, logical: &str, state: crate::store::RunState, ended: &str) {
    let store = &h.shared.store;
    let dag = h.shared.dag("hello").expect("hello");
    crate::ops::ensure_dag_record(store, &dag).expect("record");
    let mut run = crate::store::DagRunRecord::manual(
        "hello",
        run_id.to_owned(),
        t(logical),
        t(logical),
        serde_json::Map::new(),
    );
    run.state = state;
    run.start_date = Some(t(logical));
    run.end_date = Some(t(ended));
    store.put_run(&run).expect("run");
    store.flush().expect("flush");
}

fn ids(got: &Got) -> Vec<String> {
    got.body["dag_runs"]
        .as_array()
        .map(|runs| {
            runs.iter()
                .filter_map(|r| r["dag_run_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn seeded() -> Harness {
    use crate::store::RunState::{Failed, Success};
    let h = harness();
    seed(
        &h,
        "b",
        "2026-01-02T00:00:00Z",
        Failed,
        "2026-01-02T01:00:00Z",
    );
    seed(
        &h,
        "a",
        "2026-01-01T00:00:00Z",
        Success,
        "2026-01-01T01:00:00Z",
    );
    seed(
        &h,
        "c",
        "2026-01-03T00:00:00Z",
        Success,
        "2026-01-03T01:00:00Z",
    );
    h
}

#[tokio::test]
async fn v1_runs_are_filtered_and_ordered_as_airflow() {
    let h = seeded();
    // Creation order (run_after) by default, oldest first.
    let all = h.get("/api/v1/dags/hello/dagRuns").await;
    assert_eq!(ids(&all), ["a", "b", "c"]);
    assert_eq!(
        all.body["dag_runs"][0]["execution_date"],
        "2026-01-01T00:00:00+00:00"
    );
    assert_eq!(all.body["dag_runs"][0]["note"], Value::Null);
    let cases = [
        ("order_by=-id", vec!["c", "b", "a"]),
        ("order_by=-dag_run_id&limit=2", vec!["c", "b"]),
        ("order_by=state", vec!["b", "a", "c"]),
        ("limit=1&offset=1", vec!["b"]),
        ("order_by=-id&limit=1&offset=2", vec!["a"]),
        ("state=success", vec!["a", "c"]),
        ("state=failed&state=success", vec!["a", "b", "c"]),
        ("execution_date_gte=2026-01-02T00:00:00Z", vec!["b", "c"]),
        (
            "execution_date_gte=2026-01-02T00:00:00%2B00:00&execution_date_lte=2026-01-02T00:00:00%2B00:00",
            vec!["b"],
        ),
        // An unencoded `+` arrives as a space, as Airflow's format_datetime reads it.
        ("execution_date_lte=2026-01-01T00:00:00+00:00", vec!["a"]),
        ("end_date_lte=2026-01-02T01:00:00Z", vec!["a", "b"]),
        ("start_date_gte=2026-01-03", vec!["c"]),
        ("updated_at_gte=2026-01-03T01:00:00Z", vec!["c"]),
    ];
    for (query, want) in cases {
        let got = h.get(&format!("/api/v1/dags/hello/dagRuns?{query}")).await;
        assert_eq!(got.status, S::OK, "{query}: {}", got.text);
        assert_eq!(ids(&got), want, "{query}");
    }
    let total = h.get("/api/v1/dags/hello/dagRuns?limit=1").await;
    assert_eq!(total.body["total_entries"], 3);
    let every = h.get("/api/v1/dags/~/dagRuns?state=failed").await;
    assert_eq!(ids(&every), ["b"]);
    let fields = h
        .get("/api/v1/dags/hello/dagRuns/a?fields=state&fields=note")
        .await;
    assert_eq!(fields.body, json!({"state": "success", "note": null}));
    assert_get_problems(
        &h,
        &[
            (
                "/api/v1/dags/hello/dagRuns?order_by=run_after",
                S::BAD_REQUEST,
                "run_after",
            ),
            (
                "/api/v1/dags/hello/dagRuns?run_type=manual",
                S::BAD_REQUEST,
                "`run_type`",
            ),
            (
                "/api/v1/dags/hello/dagRuns?start_date_gte=soon",
                S::BAD_REQUEST,
                "start_date_gte",
            ),
            (
                "/api/v1/dags/hello/dagRuns/a?fields=nope",
                S::BAD_REQUEST,
                "nope",
            ),
        ],
    )
    .await;
    // The batch list.
    let batch = h
        .send(
            Method::POST,
            "/api/v1/dags/~/dagRuns/list",
            json!({"dag_ids": ["hello"], "states": ["success"], "order_by": "-execution_date", "page_limit": 1}),
        )
        .await;
    assert_eq!(batch.status, S::OK, "{}", batch.text);
    assert_eq!(ids(&batch), ["c"]);
    assert_eq!(batch.body["total_entries"], 2);
    let bad = h
        .send(
            Method::POST,
            "/api/v1/dags/~/dagRuns/list",
            json!({"dag_id": "x"}),
        )
        .await;
    assert_eq!(bad.status, S::BAD_REQUEST, "{}", bad.text);
}

#[tokio::test]
async fn v1_trigger_reads_airflow_2_bodies() {
    let h = harness();
    let runs = "/api/v1/dags/hello/dagRuns";
    let got = h
        .send(
            Method::POST,
            runs,
            json!({"execution_date": "2026-03-01T06:00:00Z", "note": "mine", "conf": null}),
        )
        .await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(got.body["dag_run_id"], "manual__2026-03-01T06:00:00+00:00");
    assert_eq!(got.body["logical_date"], "2026-03-01T06:00:00+00:00");
    assert_eq!(got.body["execution_date"], "2026-03-01T06:00:00+00:00");
    assert_eq!(got.body["note"], "mine");
    assert_eq!(got.body["external_trigger"], true);
    assert_eq!(got.body["run_type"], "manual");
    let stored = h
        .shared
        .store
        .run("hello", "manual__2026-03-01T06:00:00+00:00")
        .expect("read")
        .expect("run");
    assert_eq!(stored.user_note.as_deref(), Some("mine"));
    let interval = h
        .send(
            Method::POST,
            runs,
            json!({"dag_run_id": "di", "logical_date": "2026-03-02T00:00:00Z",
                   "data_interval_start": "2026-03-01T00:00:00Z", "data_interval_end": "2026-03-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        interval.body["data_interval_start"],
        "2026-03-01T00:00:00+00:00"
    );
    assert_problems(
        &h,
        Method::POST,
        &[
            (
                runs,
                json!({"logical_date": "2026-03-03T00:00:00Z", "execution_date": "2026-03-04T00:00:00Z"}),
                S::BAD_REQUEST,
                "conflicts",
            ),
            (
                runs,
                json!({"logical_date": "2026-03-03T00:00:00Z", "data_interval_end": "2026-03-04T00:00:00Z"}),
                S::BAD_REQUEST,
                "together",
            ),
            (runs, json!({"state": "success"}), S::BAD_REQUEST, "state"),
            (
                runs,
                json!({"execution_date": "2026-03-01T06:00:00Z", "dag_run_id": "other"}),
                S::CONFLICT,
                "logical date",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn v1_dags_show_airflow_2_fields_source_and_details() {
    let h = harness();
    let dag = h.get("/api/v1/dags/hello").await;
    assert_eq!(
        dag.body["schedule_interval"],
        json!({"__type": "CronExpression", "value": "@daily"})
    );
    assert_eq!(dag.body["dag_display_name"], "hello");
    assert_eq!(dag.body["is_subdag"], false);
    assert_eq!(dag.body["root_dag_id"], Value::Null);
    let token = dag.body["file_token"].as_str().expect("token").to_owned();
    let src = h
        .call_with(
            Method::GET,
            &format!("/api/v1/dagSources/{token}"),
            Some(&h.token),
            None,
            None,
        )
        .await;
    assert_eq!(src.status, S::OK);
    assert!(src.text.contains("two chained calls"), "{}", src.text);
    let other = "2f6574632f706173737764"; // /etc/passwd
    let refused = h.get(&format!("/api/v1/dagSources/{other}")).await;
    assert_eq!(refused.status, S::NOT_FOUND);
    let details = h.get("/api/v1/dags/hello/details").await;
    assert_eq!(details.status, S::OK, "{}", details.text);
    assert_eq!(details.body["timezone"], "UTC");
    assert_eq!(details.body["catchup"], false);
    assert_eq!(details.body["concurrency"], 16.0);
    let fields = h.get("/api/v1/dags?dag_id_pattern=hel&fields=dag_id").await;
    assert_eq!(fields.body["dags"], json!([{"dag_id": "hello"}]));
    let task = h.get("/api/v1/dags/hello/tasks/second").await;
    assert_eq!(task.body["class_ref"]["class_name"], "call_async");
    assert_eq!(task.body["retry_delay"]["__type"], "TimeDelta");
    let tasks = h.get("/api/v1/dags/hello/tasks?order_by=-task_id").await;
    assert_eq!(tasks.body["tasks"][0]["task_id"], "second");
    // Bulk pause: the DAGs the pattern selects.
    let bulk = h
        .send(
            Method::PATCH,
            "/api/v1/dags?dag_id_pattern=hello",
            json!({"is_paused": true}),
        )
        .await;
    assert_eq!(bulk.status, S::OK, "{}", bulk.text);
    assert_eq!(bulk.body["total_entries"], 1);
    assert_eq!(bulk.body["dags"][0]["is_paused"], true);
    let missing = h
        .send(Method::PATCH, "/api/v1/dags", json!({"is_paused": true}))
        .await;
    assert_eq!(missing.status, S::BAD_REQUEST);
}

#[tokio::test]
async fn v2_dags_and_runs_answer_as_airflow_3() {
    let h = seeded();
    let runs = h
        .get("/api/v2/dags/hello/dagRuns?order_by=-logical_date&logical_date_lt=2026-01-03T00:00:00Z")
        .await;
    assert_eq!(runs.status, S::OK, "{}", runs.text);
    assert_eq!(ids(&runs), ["b", "a"]);
    let a = &runs.body["dag_runs"][1];
    assert_eq!(a["duration"], 3600.0);
    assert_eq!(a["triggered_by"], "rest_api");
    assert_eq!(a["dag_versions"][0]["version_number"], 1);
    assert_eq!(a["dag_display_name"], "hello");
    let missing_logical = h
        .send(
            Method::POST,
            "/api/v2/dags/hello/dagRuns",
            json!({"conf": {}}),
        )
        .await;
    assert_eq!(missing_logical.status, S::UNPROCESSABLE_ENTITY);
    assert_eq!(
        missing_logical.body["detail"][0]["loc"],
        json!(["body", "logical_date"])
    );
    let extra = h
        .send(
            Method::POST,
            "/api/v2/dags/hello/dagRuns",
            json!({"logical_date": null, "execution_date": null}),
        )
        .await;
    assert_eq!(extra.status, S::UNPROCESSABLE_ENTITY);
    let made = h
        .send(
            Method::POST,
            "/api/v2/dags/hello/dagRuns",
            json!({"logical_date": "2026-05-01T00:00:00Z", "dag_run_id": "v2", "note": "n"}),
        )
        .await;
    assert_eq!(made.status, S::OK, "{}", made.text);
    assert_eq!(made.body["note"], "n");
    assert_eq!(made.body["state"], "queued");
    let dags = h.get("/api/v2/dags?dag_id_pattern=hello").await;
    assert_eq!(dags.body["total_entries"], 1);
    assert_eq!(dags.body["dags"][0]["timetable_summary"], "0 0 * * *");
    assert_eq!(dags.body["dags"][0]["is_stale"], false);
    let nope = h.get("/api/v2/dags/nope").await;
    assert_eq!(nope.status, S::NOT_FOUND);
    assert!(nope.body["detail"].is_string());
    let batch = h
        .send(
            Method::POST,
            "/api/v2/dags/~/dagRuns/list",
            json!({"states": ["failed"]}),
        )
        .await;
    assert_eq!(ids(&batch), ["b"]);
}
