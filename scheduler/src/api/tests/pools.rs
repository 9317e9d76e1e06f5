//! `/api/v1/pools` against Airflow 2.10's answers: fields, ordering and paging, create
//! (409 when taken), patch with and without `update_mask` (default_pool keeps its name),
//! delete (default_pool refused), errors as problem JSON; and a task instance's
//! dependencies route.

use super::*;

#[tokio::test]
async fn pools_are_listed_created_patched_and_deleted_as_airflow() {
    let h = harness();
    // default_pool exists from the store's opening.
    let got = h.get("/api/v1/pools").await;
    assert_eq!(got.status, S::OK);
    assert_eq!(got.body["total_entries"], 1);
    let default = &got.body["pools"][0];
    assert_eq!(default["name"], "default_pool");
    assert_eq!(default["slots"], 128);
    assert_eq!(default["open_slots"], 128);
    for field in [
        "occupied_slots",
        "running_slots",
        "queued_slots",
        "scheduled_slots",
        "deferred_slots",
    ] {
        assert_eq!(default[field], 0, "{field}");
    }
    assert_eq!(default["include_deferred"], false);

    // Create; the same name again is a conflict; missing fields are named.
    let got = h
        .send(
            Method::POST,
            "/api/v1/pools",
            json!({"name": "etl", "slots": 3, "description": "ETL"}),
        )
        .await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(
        (got.body["name"].clone(), got.body["open_slots"].clone()),
        (json!("etl"), json!(3))
    );
    let got = h
        .send(
            Method::POST,
            "/api/v1/pools",
            json!({"name": "etl", "slots": 1}),
        )
        .await;
    assert_eq!(got.status, S::CONFLICT);
    assert_eq!(got.body["detail"], "Pool: etl already exists");
    let got = h
        .send(Method::POST, "/api/v1/pools", json!({"name": "x"}))
        .await;
    assert_eq!(got.status, S::BAD_REQUEST);
    assert_eq!(
        got.body["detail"],
        "Missing required property(ies): ['slots']"
    );
    let got = h
        .send(
            Method::POST,
            "/api/v1/pools",
            json!({"name": "x", "slots": -3}),
        )
        .await;
    assert_eq!(got.status, S::BAD_REQUEST);
    let got = h
        .send(
            Method::POST,
            "/api/v1/pools",
            json!({"name": "x", "slots": 1, "colour": "red"}),
        )
        .await;
    assert_eq!(got.status, S::BAD_REQUEST);

    // Ordering and paging.
    let got = h.get("/api/v1/pools?order_by=-slots&limit=1").await;
    assert_eq!(got.body["total_entries"], 2);
    assert_eq!(got.body["pools"][0]["name"], "default_pool");
    let got = h.get("/api/v1/pools?order_by=name&offset=1").await;
    assert_eq!(got.body["pools"][0]["name"], "etl");
    let got = h.get("/api/v1/pools?order_by=colour").await;
    assert_eq!(got.status, S::BAD_REQUEST);

    // Patch: with an update mask only the fields named; without one name and slots
    // are required.
    let got = h
        .send(
            Method::PATCH,
            "/api/v1/pools/etl?update_mask=slots",
            json!({"name": "etl", "slots": 5, "description": "ignored"}),
        )
        .await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(
        (got.body["slots"].clone(), got.body["description"].clone()),
        (json!(5), json!("ETL"))
    );
    let got = h
        .send(Method::PATCH, "/api/v1/pools/etl", json!({"slots": 2}))
        .await;
    assert_eq!(got.status, S::BAD_REQUEST);
    assert_eq!(
        got.body["detail"],
        "Missing required property(ies): ['name']"
    );
    let got = h
        .send(
            Method::PATCH,
            "/api/v1/pools/etl?update_mask=colour",
            json!({"name": "etl", "slots": 2}),
        )
        .await;
    assert_eq!(got.body["detail"], "Invalid field: colour in update mask");
    let got = h
        .send(
            Method::PATCH,
            "/api/v1/pools/default_pool",
            json!({"name": "renamed", "slots": 2}),
        )
        .await;
    assert_eq!(got.status, S::BAD_REQUEST);
    assert_eq!(got.body["detail"], "Default Pool's name can't be modified");
    let got = h
        .send(
            Method::PATCH,
            "/api/v1/pools/default_pool?update_mask=slots",
            json!({"slots": 7}),
        )
        .await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(got.body["slots"], 7);
    let got = h
        .send(
            Method::PATCH,
            "/api/v1/pools/nope",
            json!({"name": "nope", "slots": 1}),
        )
        .await;
    assert_eq!(got.status, S::NOT_FOUND);
    assert_eq!(got.body["detail"], "Pool with name:'nope' not found");

    // Delete.
    let got = h
        .call_with(
            Method::DELETE,
            "/api/v1/pools/default_pool",
            Some(&h.token),
            None,
            None,
        )
        .await;
    assert_eq!(got.status, S::BAD_REQUEST);
    assert_eq!(got.body["detail"], "Default Pool can't be deleted");
    let got = h
        .call_with(
            Method::DELETE,
            "/api/v1/pools/etl",
            Some(&h.token),
            None,
            None,
        )
        .await;
    assert_eq!(got.status, S::NO_CONTENT);
    let got = h.get("/api/v1/pools/etl").await;
    assert_eq!(got.status, S::NOT_FOUND);
    assert_eq!(
        got.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
}

#[tokio::test]
async fn a_finished_task_instance_has_no_unmet_dependencies() {
    let h = harness();
    h.seed_run("r1");
    let got = h
        .get("/api/v1/dags/hello/dagRuns/r1/taskInstances/first/dependencies")
        .await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(got.body, json!({"dependencies": []}));
    let got = h
        .get("/api/v1/dags/hello/dagRuns/r1/taskInstances/nope/dependencies")
        .await;
    assert_eq!(got.status, S::NOT_FOUND);
}

#[tokio::test]
async fn dependencies_answer_per_mapped_instance_and_on_api_v2() {
    let h = harness();
    h.seed_run("r1");
    for path in [
        "/api/v2/dags/hello/dagRuns/r1/taskInstances/first/dependencies",
        "/api/v1/dags/hello/dagRuns/r1/taskInstances/first/-1/dependencies",
        "/api/v2/dags/hello/dagRuns/r1/taskInstances/first/-1/dependencies",
    ] {
        let got = h.get(path).await;
        assert_eq!(got.status, S::OK, "{path}: {}", got.text);
        assert_eq!(got.body, json!({"dependencies": []}), "{path}");
    }
    for path in [
        "/api/v1/dags/hello/dagRuns/r1/taskInstances/first/7/dependencies",
        "/api/v2/dags/hello/dagRuns/r1/taskInstances/nope/dependencies",
    ] {
        let got = h.get(path).await;
        assert_eq!(got.status, S::NOT_FOUND, "{path}: {}", got.text);
    }
    let got = h
        .get("/api/v2/dags/hello/dagRuns/r1/taskInstances/first/x/dependencies")
        .await;
    assert_eq!(got.status, S::UNPROCESSABLE_ENTITY, "{}", got.text);
}
