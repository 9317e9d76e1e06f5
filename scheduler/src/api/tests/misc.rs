//! `/api/v1` and `/api/v2` event logs, auth exemptions, dagStats, config and the bulk
//! routes: what Airflow 2.10 / 3.1 answer, against the router with a real store.

use super::*;

#[tokio::test]
async fn health_and_version_answer_without_a_token_as_airflow_and_nothing_else_does() {
    let h = harness();
    for uri in [
        "/api/v1/health",
        "/api/v2/monitor/health",
        "/api/v2/version",
    ] {
        let got = h.call_with(Method::GET, uri, None, None, None).await;
        assert_eq!(got.status, S::OK, "{uri}: {}", got.text);
    }
    let got = h
        .call_with(Method::GET, "/api/v2/monitor/health", None, None, None)
        .await;
    assert_eq!(got.body["metadatabase"]["status"], "healthy");
    assert_eq!(got.body["triggerer"]["status"], Value::Null);
    // v2 refuses as FastAPI: 401 without a token, 403 with a wrong one.
    let got = h
        .call_with(Method::GET, "/api/v2/variables", None, None, None)
        .await;
    assert_eq!(got.status, S::UNAUTHORIZED);
    assert_eq!(got.body, json!({"detail": "Not authenticated"}));
    let got = h
        .call_with(Method::GET, "/api/v2/variables", Some("wrong"), None, None)
        .await;
    assert_eq!(got.status, S::FORBIDDEN);
    assert_eq!(got.body, json!({"detail": "Invalid JWT token"}));
    // Only GET is open.
    let got = h
        .call_with(Method::POST, "/api/v1/health", None, None, None)
        .await;
    assert_eq!(got.status, S::UNAUTHORIZED);
}

#[tokio::test]
async fn changes_are_recorded_in_the_event_log_without_secrets_and_filtered_as_airflow() {
    let h = harness();
    let got = h
        .send(
            Method::POST,
            "/api/v1/variables",
            json!({"key": "db_password", "value": "hunter2"}),
        )
        .await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    let got = h
        .send(
            Method::POST,
            "/api/v2/connections",
            json!({"connection_id": "c", "conn_type": "http", "password": "pw-s3cret"}),
        )
        .await;
    assert_eq!(got.status, S::CREATED, "{}", got.text);
    assert_eq!(got.body["password"], Value::Null);
    let got = h
        .send(
            Method::POST,
            "/api/v2/pools",
            json!({"name": "p", "slots": 2}),
        )
        .await;
    assert_eq!(got.status, S::CREATED, "{}", got.text);

    let got = h.get("/api/v1/eventLogs").await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    let events: Vec<&str> = got.body["event_logs"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(
        events,
        ["api.variable.create", "post_connection", "post_pool"]
    );
    assert_eq!(got.body["total_entries"], 3);
    assert!(!got.text.contains("hunter2") && !got.text.contains("pw-s3cret"));
    assert_eq!(got.body["event_logs"][0]["owner"], "api");

    let got = h
        .get("/api/v1/eventLogs?order_by=-event_log_id&limit=1")
        .await;
    assert_eq!(got.body["event_logs"][0]["event"], "post_pool");
    assert_eq!(got.body["total_entries"], 3);
    let got = h
        .get("/api/v1/eventLogs?excluded_events=post_pool,post_connection")
        .await;
    assert_eq!(got.body["total_entries"], 1);
    let got = h.get("/api/v1/eventLogs?bogus=1").await;
    assert_eq!(got.status, S::BAD_REQUEST);
    let got = h.get("/api/v1/eventLogs?order_by=nope").await;
    assert_eq!(got.status, S::BAD_REQUEST);

    let got = h
        .get("/api/v2/eventLogs?event_pattern=POST_%25&bogus=1")
        .await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(got.body["total_entries"], 2);
    let id = got.body["event_logs"][0]["event_log_id"].clone();
    let got = h.get(&format!("/api/v2/eventLogs/{id}")).await;
    assert_eq!(got.body["event"], "post_connection");
    assert_eq!(got.body["logical_date"], Value::Null);
    let got = h.get("/api/v1/eventLogs/99999999999").await;
    assert_eq!(got.status, S::NOT_FOUND);
}

#[tokio::test]
async fn dag_stats_count_runs_per_state() {
    let h = harness();
    h.seed_run("r1");
    let got = h.get("/api/v1/dagStats?dag_ids=hello,nope").await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(got.body["total_entries"], 1);
    let stats = &got.body["dags"][0]["stats"];
    let states: Vec<&str> = stats
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["state"].as_str())
        .collect();
    assert_eq!(states, ["queued", "running", "success", "failed"]);
    let total: u64 = stats
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["count"].as_u64())
        .sum();
    assert_eq!(total, 1);
    let got = h.get("/api/v1/dagStats").await;
    assert_eq!(got.status, S::BAD_REQUEST);
    // v2: only DAGs with runs.
    let got = h.get("/api/v2/dagStats").await;
    assert_eq!(got.body["total_entries"], 1);
    assert_eq!(got.body["dags"][0]["dag_id"], "hello");
}

#[tokio::test]
async fn config_is_served_in_airflows_sections_with_secrets_hidden() {
    let h = harness();
    std::fs::write(
        h.shared.settings.home.join("lithoflow.toml"),
        "[aws]\nregion = \"eu-west-1\"\nsecret_access_key = \"abc\"\n",
    )
    .expect("write");
    let got = h.get("/api/v1/config").await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    let aws = got.body["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .find(|s| s["name"] == "aws")
        .expect("aws")
        .clone();
    assert_eq!(
        aws["options"],
        json!([{"key": "region", "value": "eu-west-1"}, {"key": "secret_access_key", "value": "< hidden >"}])
    );
    assert!(!got.text.contains("\"abc\""));
    let got = h
        .get("/api/v1/config/section/aws/option/secret_access_key")
        .await;
    assert_eq!(got.body["sections"][0]["options"][0]["value"], "< hidden >");
    let got = h.get("/api/v2/config?section=nope").await;
    assert_eq!(got.status, S::NOT_FOUND);
    assert_eq!(got.body["detail"], "Section nope not found.");
}

#[tokio::test]
async fn v2_bulk_variables_follow_the_existence_options() {
    let h = harness();
    let got = h
        .send(
            Method::PATCH,
            "/api/v2/variables",
            json!({"actions": [
                {"action": "create", "entities": [{"key": "a", "value": "1"}, {"key": "b", "value": {"x": 1}}]},
                {"action": "create", "entities": [{"key": "a", "value": "2"}]},
                {"action": "update", "entities": [{"key": "a", "value": "3"}, {"key": "zz", "value": "0"}], "action_on_non_existence": "skip"},
                {"action": "delete", "entities": ["b"]},
            ]}),
        )
        .await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(
        got.body,
        json!({
            "create": {"success": ["a", "b"], "errors": [
                {"error": "The variables with these keys: {'a'} already exist.", "status_code": 409}
            ]},
            "update": {"success": ["a"], "errors": []},
            "delete": {"success": ["b"], "errors": []},
        })
    );
    let got = h.get("/api/v2/variables/a").await;
    assert_eq!(got.body["value"], "3");
    let got = h
        .send(
            Method::PATCH,
            "/api/v2/variables",
            json!({"actions": [{"action": "create", "entities": [], "bogus": true}]}),
        )
        .await;
    assert_eq!(got.status, S::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_entry_about_a_run_carries_the_runs_logical_date() {
    let h = harness();
    h.seed_run("r1");
    let store = &h.shared.store;
    let run = store.run("hello", "r1").expect("read").expect("run");
    store
        .record_audit(crate::store::AuditRecord::new("trigger", "api").about("hello", Some("r1")))
        .expect("record");
    let want = run.logical_date.map(|d| lithoflow_api::iso_string(&d));
    assert!(want.is_some());
    let got = h.get("/api/v1/eventLogs?dag_id=hello&run_id=r1").await;
    assert_eq!(got.body["total_entries"], 1, "{}", got.text);
    assert_eq!(
        got.body["event_logs"][0]["execution_date"].as_str(),
        want.as_deref()
    );
    let got = h.get("/api/v2/eventLogs?dag_id=hello").await;
    assert_eq!(
        got.body["event_logs"][0]["logical_date"].as_str(),
        want.as_deref()
    );
    let got = h.get("/api/v1/eventLogs?dag_id=other").await;
    assert_eq!(got.body["total_entries"], 0);
}
