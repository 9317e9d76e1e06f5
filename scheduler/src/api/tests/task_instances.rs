//! Task instances, tries, XCom and logs through `/api/v1` (Airflow 2.10's shapes and
//! filters) and `/api/v2` (Airflow 3.1's), over the seeded run of `hello`.

use super::*;

#[tokio::test]
async fn v1_lists_filter_as_airflow_and_take_tilde_and_the_batch_form() {
    let h = harness();
    h.seed_run("r1");
    h.seed_run("r2");
    let got = h.get("/api/v1/dags/hello/dagRuns/r1/taskInstances").await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    let first = &got.body["task_instances"][0];
    for (field, want) in [
        ("map_index", json!(-1)),
        ("execution_date", json!("2026-11-27T10:00:00+00:00")),
        ("pool", json!("default_pool")),
        ("pool_slots", json!(1)),
        ("queue", json!("default")),
        ("executor_config", json!("{}")),
        ("sla_miss", Value::Null),
        ("rendered_fields", json!({})),
        ("trigger", Value::Null),
        ("triggerer_job", Value::Null),
        ("note", Value::Null),
        ("task_display_name", json!("first")),
    ] {
        assert_eq!(first[field], want, "{field}: {first}");
    }
    assert!(
        first["hostname"].as_str().is_some_and(|s| !s.is_empty()),
        "{first}"
    );
    assert!(first["priority_weight"].is_i64(), "{first}");

    let count = |path: String| {
        let h = &h;
        async move {
            let got = h.get(&path).await;
            assert_eq!(got.status, S::OK, "{path}: {}", got.text);
            got.body["total_entries"].as_u64().unwrap_or(u64::MAX)
        }
    };
    let base = "/api/v1/dags/hello/dagRuns";
    assert_eq!(
        count(format!("{base}/r1/taskInstances?state=failed")).await,
        1
    );
    assert_eq!(
        count(format!("{base}/~/taskInstances?state=failed")).await,
        2
    );
    assert_eq!(
        count("/api/v1/dags/~/dagRuns/~/taskInstances".to_owned()).await,
        4
    );
    assert_eq!(
        count(format!("{base}/r1/taskInstances?duration_gte=0.4")).await,
        1
    );
    assert_eq!(
        count(format!(
            "{base}/r1/taskInstances?execution_date_gte=2026-11-28T00:00:00Z"
        ))
        .await,
        0
    );
    assert_eq!(
        count(format!("{base}/r1/taskInstances?pool=default_pool")).await,
        2
    );
    assert_eq!(
        count(format!("{base}/r1/taskInstances?executor=x")).await,
        0
    );
    let got = h.get(&format!("{base}/r1/taskInstances?colour=red")).await;
    assert_problem(&got, S::BAD_REQUEST, "unknown query parameter `colour`");

    let got = h
        .send(
            Method::POST,
            "/api/v1/dags/~/dagRuns/~/taskInstances/list",
            json!({"dag_ids": ["hello"], "dag_run_ids": ["r2"], "state": ["failed"]}),
        )
        .await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(got.body["total_entries"], 1);
    assert_eq!(got.body["task_instances"][0]["task_id"], "second");
    assert_eq!(got.body["task_instances"][0]["dag_run_id"], "r2");
    let got = h
        .send(
            Method::POST,
            "/api/v1/dags/~/dagRuns/~/taskInstances/list",
            json!({"colour": "red"}),
        )
        .await;
    assert_eq!(got.status, S::BAD_REQUEST, "{}", got.text);
}

#[tokio::test]
async fn tries_list_each_try_and_the_instance() {
    let h = harness();
    h.seed_run("r1");
    let store = &h.shared.store;
    let mut ti = store
        .ti("hello", "r1", "second")
        .ok()
        .flatten()
        .expect("ti");
    ti.state = TaskState::UpForRetry;
    store.put_ti("hello", "r1", &ti).expect("retry");
    ti.try_number = 2;
    ti.state = TaskState::Running;
    store.put_ti("hello", "r1", &ti).expect("running");
    let base = "/api/v1/dags/hello/dagRuns/r1/taskInstances/second/tries";
    let got = h.get(base).await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    let tries: Vec<(Value, Value)> = got.body["task_instances"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| (t["try_number"].clone(), t["state"].clone()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        tries,
        [
            // A try a later try followed is history as failed (Airflow's record_ti).
            (json!(1), json!("failed")),
            (json!(2), json!("running"))
        ]
    );
    assert_eq!(h.get(&format!("{base}/1")).await.body["state"], "failed");
    assert_eq!(h.get(&format!("{base}/3")).await.status, S::NOT_FOUND);
    let v2 = h
        .get("/api/v2/dags/hello/dagRuns/r1/taskInstances/second/tries")
        .await;
    assert_eq!(v2.status, S::OK, "{}", v2.text);
    assert_eq!(v2.body["total_entries"], 2);
    assert_eq!(v2.body["task_instances"][1]["state"], "running");
}

#[tokio::test]
async fn xcom_is_stringified_in_v1_and_native_in_v2_and_listed_with_tilde() {
    let h = harness();
    h.seed_run("r1");
    h.shared
        .store
        .put_xcom(
            "hello",
            "r1",
            "first",
            "meta",
            &json!({"ok": true, "n": null}),
        )
        .expect("xcom");
    let v1 = "/api/v1/dags/hello/dagRuns/r1/taskInstances/first/xcomEntries";
    assert_eq!(
        h.get(&format!("{v1}/meta")).await.body["value"],
        "{'ok': True, 'n': None}"
    );
    assert_eq!(
        h.get(&format!("{v1}/meta?stringify=false")).await.body["value"],
        json!({"ok": true, "n": null})
    );
    let all = h
        .get("/api/v1/dags/~/dagRuns/~/taskInstances/~/xcomEntries?xcom_key=meta")
        .await;
    assert_eq!(all.body["total_entries"], 1, "{}", all.text);
    let v2 = "/api/v2/dags/hello/dagRuns/r1/taskInstances/first/xcomEntries";
    let got = h.get(&format!("{v2}/meta")).await;
    assert_eq!(
        got.body["value"],
        json!({"ok": true, "n": null}),
        "{}",
        got.text
    );
    assert_eq!(got.body["run_id"], "r1");
    let got = h.get(&format!("{v2}/nope")).await;
    assert_eq!(got.status, S::NOT_FOUND);
    assert_eq!(got.body["detail"], "XCom entry with key: `nope` not found");
    let list = h.get(&format!("{v2}?xcom_key_pattern=ME")).await;
    assert_eq!(list.body["total_entries"], 1, "{}", list.text);
}

#[tokio::test]
async fn v2_task_instances_and_logs_have_airflow_3_shapes() {
    let h = harness();
    h.seed_run("r1");
    let got = h.get("/api/v2/dags/hello/dagRuns/r1/taskInstances").await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(got.body["total_entries"], 2);
    let ti = &got.body["task_instances"][0];
    assert_eq!(ti["id"].as_str().map(str::len), Some(36), "{ti}");
    assert_eq!(ti["run_after"], "2026-11-27T10:00:00+00:00");
    assert_eq!(ti["dag_display_name"], "hello");
    let missing = h.get("/api/v2/dags/hello/dagRuns/nope/taskInstances").await;
    assert_eq!(missing.status, S::NOT_FOUND);
    let log = h
        .get("/api/v2/dags/hello/dagRuns/r1/taskInstances/first/logs/1")
        .await;
    assert_eq!(log.status, S::OK, "{}", log.text);
    assert_eq!(
        log.body,
        json!({"content": [{"event": "line one"}, {"event": "line two"}], "continuation_token": null})
    );
    let clear = h
        .send(
            Method::POST,
            "/api/v2/dags/hello/clearTaskInstances",
            json!({"dag_run_id": "r1"}),
        )
        .await;
    assert_eq!(clear.status, S::OK, "{}", clear.text);
    assert_eq!(clear.body["total_entries"], 1, "only failed, a dry run");
    assert_eq!(clear.body["task_instances"][0]["task_id"], "second");
    let bad = h
        .send(
            Method::POST,
            "/api/v2/dags/hello/clearTaskInstances",
            json!({"colour": "red"}),
        )
        .await;
    assert_eq!(bad.status, S::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn v2_task_instance_routes_refuse_ids_that_could_name_another_record() {
    let h = harness();
    h.seed_run("r1");
    for path in [
        "/api/v2/dags/hello/dagRuns/%2e%2e/taskInstances",
        "/api/v2/dags/hello/dagRuns/r1/taskInstances/a%2Fb",
        "/api/v2/dags/hello/dagRuns/r1/taskInstances/first%00x/tries",
        "/api/v2/dags/hel%5Clo/dagRuns/r1/taskInstances/first/0",
    ] {
        let got = h.get(path).await;
        assert_eq!(got.status, S::BAD_REQUEST, "{path}: {}", got.text);
        assert!(got.body["detail"].is_string(), "{path}: {}", got.text);
    }
    // `~` (every DAG, every run) is not an id and still answers.
    let all = h.get("/api/v2/dags/~/dagRuns/~/taskInstances").await;
    assert_eq!(all.status, S::OK, "{}", all.text);
}
