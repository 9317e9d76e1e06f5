//! The router in process: a temp store, the DAGs of `tests/fixtures/api/`, and a small
//! task standing in for the scheduler loop (it answers [`Request`]s with the ops
//! functions). Most tests drive the router with `tower::ServiceExt::oneshot`; the event
//! stream and the client are tested over a real socket on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body as HttpBody;
use axum::http::{Method, Request as HttpRequest, StatusCode, StatusCode as S, header};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tower::ServiceExt as _;

use super::auth::same_token;
use super::calls::{CALLS_CACHE_IDLE, CALLS_CACHE_JOBS, CALLS_CACHE_RECORDS, CallsCache};
use super::*;
use crate::config::Settings;
use crate::control::{DagSet, Event, Request, Shared};
use crate::dagbag::DagBag;
use crate::ops::OpError;
use crate::store::{Store, TaskInstanceRecord, TaskState};
use lithoflow_api::{CallInfo, LOG_OFFSET_HEADER};
use lithoflow_dag::timetable::{DagRunInfo, DataInterval};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/api")
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid time")
        .with_timezone(&Utc)
}

struct Harness {
    home: tempfile::TempDir,
    shared: Arc<Shared>,
    token: String,
}

/// Answers requests as the scheduler loop would, straight on the store.
async fn answer(shared: Arc<Shared>, mut rx: mpsc::Receiver<Request>) {
    while let Some(req) = rx.recv().await {
        answer_one(&shared, req);
    }
}

/// Answers one request (see [`answer`]).
fn answer_one(shared: &Shared, req: Request) {
    let store = &shared.store;
    let not_loaded = |id: &str| OpError::NotFound(format!("DAG `{id}` is not loaded"));
    match req {
        Request::Trigger { dag_id, req, reply } => {
            let r = match shared.dag(&dag_id) {
                Some(d) => crate::ops::trigger(store, &d, req, Utc::now()),
                None => Err(not_loaded(&dag_id)),
            };
            if let Ok(run) = &r {
                shared.emit(Event::DagRun {
                    dag_id,
                    run_id: run.run_id.clone(),
                    state: run.state.into(),
                });
            }
            let _ = reply.send(r);
        }
        Request::SetPaused {
            dag_id,
            paused,
            reply,
        } => {
            let r = match shared.dag(&dag_id) {
                Some(d) => crate::ops::set_paused(store, &d, paused),
                None => Err(not_loaded(&dag_id)),
            };
            if r.is_ok() {
                shared.emit(Event::Dag {
                    dag_id,
                    is_paused: paused,
                });
            }
            let _ = reply.send(r);
        }
        Request::Clear {
            dag_id,
            spec,
            reply,
        } => {
            let r = match shared.dag(&dag_id) {
                Some(d) => crate::ops::clear_targets(store, &d, &spec).and_then(|targets| {
                    if spec.dry_run {
                        Ok(targets
                            .into_iter()
                            .flat_map(|(run, tis)| {
                                tis.into_iter().map(move |ti| crate::ops::ClearedTi {
                                    dag_run_id: run.run_id.clone(),
                                    task_id: ti.task_id,
                                    map_index: ti.map_index,
                                    state: ti.state,
                                })
                            })
                            .collect())
                    } else {
                        crate::ops::apply_clear(store, &d, targets)
                    }
                }),
                None => Err(not_loaded(&dag_id)),
            };
            let _ = reply.send(r);
        }
        Request::Backfill {
            dag_id,
            spec,
            reply,
        } => {
            let r = match shared.dag(&dag_id) {
                Some(d) => crate::ops::backfill(store, &d, &spec, Utc::now()),
                None => Err(not_loaded(&dag_id)),
            };
            let _ = reply.send(r);
        }
        Request::DbClean { spec, reply } => {
            let files = crate::retention::RunFiles::of(&shared.settings);
            let r = crate::retention::clean(store, &files, &spec, &|_, _| false);
            let _ = reply.send(r);
        }
        // Issue 20's write paths, on the store (`tests/writes_mock.rs`).
        req @ (Request::SetRunState { .. }
        | Request::DeleteRun { .. }
        | Request::SetNote { .. }
        | Request::SetTaskState { .. }) => writes_mock::answer(shared, req),
        Request::Unaudited(req) => answer_one(shared, *req),
    }
}

fn harness_with(capacity: usize) -> Harness {
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::load(home.path()).expect("settings");
    let store = Arc::new(Store::open(&home.path().join("state")).expect("store"));
    let bag = DagBag::load_folder(&fixtures()).expect("fixtures load");
    let mut set = DagSet {
        import_errors: bag.import_errors(),
        ..DagSet::default()
    };
    for d in bag.dags() {
        set.dags.insert(d.dag_id.clone(), Arc::new(d.clone()));
    }
    set.next_run.insert(
        "hello".to_owned(),
        Some(DagRunInfo {
            run_after: t("2026-12-02T00:00:00Z"),
            data_interval: DataInterval {
                start: t("2026-12-02T00:00:00Z"),
                end: t("2026-12-02T00:00:00Z"),
            },
        }),
    );
    set.next_run.insert("sleepy".to_owned(), None);
    let token = ensure_token(home.path()).expect("token");
    let (tx, rx) = mpsc::channel(16);
    let (events, _) = broadcast::channel(capacity);
    let shared = Arc::new(Shared {
        pools: Some(crate::engine::pools::Arbiter::new(Arc::clone(&store))),
        store,
        settings,
        dags_folder: fixtures(),
        dags: RwLock::new(set),
        events,
        requests: tx,
        started_at: Utc::now(),
        token: token.clone(),
    });
    tokio::spawn(answer(Arc::clone(&shared), rx));
    Harness {
        home,
        shared,
        token,
    }
}

fn harness() -> Harness {
    harness_with(64)
}

/// An answer: status, headers, body as JSON (or a string for text).
struct Got {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    text: String,
}

impl Harness {
    async fn call_with(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Got {
        let mut req = HttpRequest::builder().method(method).uri(uri);
        if let Some(tok) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {tok}"));
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req
            .body(body.map_or_else(HttpBody::empty, HttpBody::from))
            .expect("request");
        let resp = router(Arc::clone(&self.shared))
            .oneshot(req)
            .await
            .expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Got {
            status,
            headers,
            body,
            text,
        }
    }

    async fn get(&self, uri: &str) -> Got {
        self.call_with(Method::GET, uri, Some(&self.token), None, None)
            .await
    }

    async fn send(&self, method: Method, uri: &str, body: Value) -> Got {
        self.call_with(
            method,
            uri,
            Some(&self.token),
            Some(body.to_string().into_bytes()),
            Some("application/json"),
        )
        .await
    }

    /// Records a run with two task instances, an XCom and a log, as an engine would.
    fn seed_run(&self, run_id: &str) {
        let store = &self.shared.store;
        let dag = self.shared.dag("hello").expect("hello");
        let mut run = crate::store::DagRunRecord::manual(
            "hello",
            run_id.to_owned(),
            t("2026-11-27T10:00:00Z"),
            t("2026-11-27T10:00:00Z"),
            serde_json::Map::new(),
        );
        run.state = crate::store::RunState::Success;
        crate::ops::ensure_dag_record(store, &dag).expect("record");
        store.put_run(&run).expect("run");
        let mut first = TaskInstanceRecord::new("first", 1);
        first.state = TaskState::Success;
        first.try_number = 1;
        first.duration_s = Some(0.5);
        first.calls_done = 1;
        first.calls_total = 1;
        store.put_ti("hello", run_id, &first).expect("ti");
        let mut second = TaskInstanceRecord::new("second", 1);
        second.state = TaskState::Failed;
        second.try_number = 1;
        second.error = Some("ValueError: no".to_owned());
        store.put_ti("hello", run_id, &second).expect("ti");
        store
            .put_xcom("hello", run_id, "first", "return_value", &json!(3))
            .expect("xcom");
        let log = crate::engine::Engine::log_path(
            &self.home.path().join("logs"),
            "hello",
            run_id,
            "first",
            -1,
            1,
        );
        std::fs::create_dir_all(log.parent().expect("parent")).expect("mkdir");
        std::fs::write(&log, "line one\nline two\n").expect("log");
        store.flush().expect("flush");
    }
}

/// Sends each `(uri, body, status, detail part)` with `method`; each answer is that problem.
async fn assert_problems(h: &Harness, method: Method, cases: &[(&str, Value, S, &str)]) {
    for (uri, body, status, detail_part) in cases {
        let got = h.send(method.clone(), uri, body.clone()).await;
        assert_problem(&got, *status, detail_part);
    }
}

/// Gets each `(uri, status, detail part)`; each answer is that problem.
async fn assert_get_problems(h: &Harness, cases: &[(&str, S, &str)]) {
    for (uri, status, detail_part) in cases {
        assert_problem(&h.get(uri).await, *status, detail_part);
    }
}

fn assert_problem(got: &Got, status: StatusCode, detail_part: &str) {
    assert_eq!(got.status, status, "{}", got.text);
    assert_eq!(
        got.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{}",
        got.text
    );
    assert_eq!(got.body["type"], "about:blank");
    assert_eq!(got.body["status"], status.as_u16());
    assert_eq!(
        got.body["title"],
        status.canonical_reason().expect("a known status")
    );
    let detail = got.body["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains(detail_part),
        "{detail:?} should contain {detail_part:?}"
    );
}

#[tokio::test]
async fn every_route_needs_the_token() {
    let h = harness();
    for (uri, token) in [
        ("/api/v1/version", None),
        ("/api/v1/dags", Some("wrong")),
        ("/api/v1/dags/hello/dagRuns", Some("")),
        ("/api/v1/no/such/route", None),
        ("/api/v1/events", None),
    ] {
        let got = h.call_with(Method::GET, uri, token, None, None).await;
        assert_problem(&got, StatusCode::UNAUTHORIZED, "");
        assert_eq!(
            got.headers
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
    }
    // Another scheme with the right token is refused too.
    let req = HttpRequest::builder()
        .uri("/api/v1/version")
        .header(header::AUTHORIZATION, format!("Basic {}", h.token))
        .body(HttpBody::empty())
        .expect("request");
    let resp = router(Arc::clone(&h.shared))
        .oneshot(req)
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // The scheme is case-insensitive.
    let req = HttpRequest::builder()
        .uri("/api/v1/version")
        .header(header::AUTHORIZATION, format!("bearer {}", h.token))
        .body(HttpBody::empty())
        .expect("request");
    let resp = router(Arc::clone(&h.shared))
        .oneshot(req)
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);

    let got = h.get("/api/v1/health").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["metadatabase"]["status"], "healthy");
    assert_eq!(got.body["scheduler"]["status"], "healthy");
    assert!(got.body["scheduler"]["latest_scheduler_heartbeat"].is_string());
    let got = h.get("/api/v1/version").await;
    assert_eq!(got.body["version"], env!("CARGO_PKG_VERSION"));
    assert_problem(
        &h.get("/api/v1/no/such/route").await,
        StatusCode::NOT_FOUND,
        "no route /api/v1/no/such/route",
    );
    assert_problem(
        &h.send(Method::DELETE, "/api/v1/dags/hello", json!({}))
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method",
    );
}

#[test]
fn tokens_are_compared_whole() {
    assert!(same_token(b"abc", b"abc"));
    assert!(!same_token(b"abd", b"abc"));
    assert!(!same_token(b"ab", b"abc"));
    assert!(!same_token(b"abcd", b"abc"));
    assert!(!same_token(b"", b"abc"));
}

#[test]
fn the_token_file_is_private_and_stable() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("new").join("home");
    let token = ensure_token(&home).expect("created");
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&token_path(&home)), 0o600);
    assert_eq!(mode(&home), 0o700);
    assert_eq!(ensure_token(&home).expect("read back"), token);

    std::fs::set_permissions(token_path(&home), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let err = ensure_token(&home).expect_err("refused");
    assert!(
        err.to_string()
            .contains(&format!("run `chmod 600 {}`", token_path(&home).display())),
        "{err}"
    );

    std::fs::set_permissions(token_path(&home), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    std::fs::write(token_path(&home), "short\n").expect("write");
    let err = ensure_token(&home).expect_err("not a token");
    assert!(err.to_string().contains("is not a token"), "{err}");
}

#[tokio::test]
async fn dags_are_listed_filtered_and_paged() {
    let h = harness();
    h.seed_run("r1");
    let got = h.get("/api/v1/dags").await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body["total_entries"], 2);
    let hello = &got.body["dags"][0];
    assert_eq!(hello["dag_id"], "hello");
    assert_eq!(hello["description"], "two chained calls");
    assert_eq!(hello["is_paused"], false);
    assert_eq!(hello["is_active"], true);
    assert_eq!(hello["schedule"], "@daily");
    assert_eq!(hello["timetable"], "cron_trigger");
    assert_eq!(hello["tags"], json!([{"name": "api"}, {"name": "example"}]));
    assert_eq!(hello["owners"], json!(["ops"]));
    assert_eq!(hello["next_dagrun"], "2026-12-02T00:00:00+00:00");
    assert_eq!(
        hello["next_dagrun_create_after"],
        "2026-12-02T00:00:00+00:00"
    );
    assert_eq!(hello["has_import_errors"], false);
    assert_eq!(
        hello["recent_runs"],
        json!([{"dag_run_id": "r1", "state": "success", "run_after": "2026-11-27T10:00:00+00:00"}])
    );
    assert!(hello.get("was_paused").is_none());
    let sleepy = &got.body["dags"][1];
    assert_eq!(sleepy["is_paused"], true, "is_paused_upon_creation");
    assert_eq!(sleepy["schedule"], Value::Null);
    assert_eq!(sleepy["next_dagrun"], Value::Null);

    let ids = |g: &Got| -> Vec<String> {
        g.body["dags"]
            .as_array()
            .expect("dags")
            .iter()
            .filter_map(|d| d["dag_id"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(ids(&h.get("/api/v1/dags?paused=true").await), ["sleepy"]);
    assert_eq!(ids(&h.get("/api/v1/dags?paused=false").await), ["hello"]);
    assert_eq!(
        ids(&h.get("/api/v1/dags?tags=other&tags=nope").await),
        ["sleepy"]
    );
    assert_eq!(
        ids(&h.get("/api/v1/dags?dag_id_pattern=ELL").await),
        ["hello"]
    );
    let page = h.get("/api/v1/dags?limit=1&offset=1").await;
    assert_eq!(ids(&page), ["sleepy"]);
    assert_eq!(page.body["total_entries"], 2);
    assert_get_problems(
        &h,
        &[
            (
                "/api/v1/dags?limt=1",
                S::BAD_REQUEST,
                "unknown query parameter `limt`",
            ),
            (
                "/api/v1/dags?limit=-1",
                S::BAD_REQUEST,
                "`limit` must be a non-negative integer",
            ),
            (
                "/api/v1/dags?paused=maybe",
                S::BAD_REQUEST,
                "`paused` must be true or false",
            ),
        ],
    )
    .await;

    let got = h.get("/api/v1/dags/hello").await;
    assert_eq!(got.body["dag_id"], "hello");
    assert_problem(
        &h.get("/api/v1/dags/nope").await,
        StatusCode::NOT_FOUND,
        "DAG `nope` is not loaded",
    );
    let tasks = h.get("/api/v1/dags/hello/tasks").await;
    assert_eq!(tasks.body["total_entries"], 2);
    assert_eq!(tasks.body["tasks"][0]["task_id"], "first");
    assert_eq!(tasks.body["tasks"][0]["operator_name"], "call_async");
    assert_eq!(
        tasks.body["tasks"][0]["downstream_task_ids"],
        json!(["second"])
    );
    assert_eq!(
        tasks.body["tasks"][1]["upstream_task_ids"],
        json!(["first"])
    );

    let errors = h.get("/api/v1/importErrors").await;
    assert_eq!(errors.body["total_entries"], 1);
    assert!(
        errors.body["import_errors"][0]["filename"]
            .as_str()
            .is_some_and(|f| f.ends_with("broken.toml"))
    );
    assert!(
        errors.body["import_errors"][0]["stack_trace"]
            .as_str()
            .is_some_and(|s| s.contains("broken.toml:2:"))
    );
}

#[tokio::test]
async fn pausing_goes_through_the_scheduler_loop() {
    let h = harness();
    let mut rx = h.shared.events.subscribe();
    let got = h
        .send(
            Method::PATCH,
            "/api/v1/dags/sleepy",
            json!({"is_paused": false}),
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body["is_paused"], false);
    assert_eq!(got.body["was_paused"], true);
    let ev = rx.recv().await.expect("event");
    assert!(
        matches!(
            ev,
            Event::Dag {
                is_paused: false,
                ..
            }
        ),
        "{ev:?}"
    );
    let got = h.get("/api/v1/dags/sleepy").await;
    assert_eq!(got.body["is_paused"], false);
    let got = h
        .send(
            Method::PATCH,
            "/api/v1/dags/sleepy?update_mask=is_paused",
            json!({"is_paused": true}),
        )
        .await;
    assert_eq!(
        (
            got.body["is_paused"].clone(),
            got.body["was_paused"].clone()
        ),
        (json!(true), json!(false))
    );

    assert_problems(
        &h,
        Method::PATCH,
        &[
            (
                "/api/v1/dags/sleepy",
                json!({"paused": true}),
                S::BAD_REQUEST,
                "unknown field `paused`",
            ),
            (
                "/api/v1/dags/sleepy?update_mask=description",
                json!({"is_paused": true}),
                S::BAD_REQUEST,
                "Only `is_paused`",
            ),
            (
                "/api/v1/dags/nope",
                json!({"is_paused": true}),
                S::NOT_FOUND,
                "DAG `nope` is not loaded",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn runs_are_triggered_listed_and_refused_when_they_clash() {
    let h = harness();
    let got = h
        .send(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            json!({"dag_run_id": "mine", "logical_date": "2026-11-01T00:00:00Z", "conf": {"k": 1}}),
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body["dag_run_id"], "mine");
    assert_eq!(got.body["dag_id"], "hello");
    assert_eq!(got.body["state"], "queued");
    assert_eq!(got.body["run_type"], "manual");
    assert_eq!(got.body["external_trigger"], true);
    assert_eq!(got.body["logical_date"], "2026-11-01T00:00:00+00:00");
    assert_eq!(got.body["conf"], json!({"k": 1}));
    assert!(got.body["run_after"].is_string());
    assert_eq!(got.body["start_date"], Value::Null);

    let runs = "/api/v1/dags/hello/dagRuns";
    assert_problems(
        &h,
        Method::POST,
        &[
            (
                runs,
                json!({"dag_run_id": "mine"}),
                S::CONFLICT,
                "already has a run `mine`",
            ),
            (
                runs,
                json!({"dag_run_id": "a b"}),
                S::BAD_REQUEST,
                "run id \"a b\"",
            ),
            (
                "/api/v1/dags/nope/dagRuns",
                json!({}),
                S::NOT_FOUND,
                "DAG `nope` is not loaded",
            ),
            (runs, json!({"conf": [1]}), S::BAD_REQUEST, "conf"),
        ],
    )
    .await;
    let bad = h
        .call_with(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some(&h.token),
            Some(b"{not json".to_vec()),
            Some("application/json"),
        )
        .await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "");
    let untyped = h
        .call_with(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some(&h.token),
            Some(b"{}".to_vec()),
            None,
        )
        .await;
    assert_problem(&untyped, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type");

    // A second run, triggered without an id, comes last in the list (Airflow's default
    // order is creation order) and first newest first.
    let auto = h
        .send(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            json!({"logical_date": "2026-11-02T00:00:00Z"}),
        )
        .await;
    let auto_id = auto.body["dag_run_id"].as_str().expect("id").to_owned();
    assert!(auto_id.starts_with("manual__"), "{auto_id}");
    let list = h.get("/api/v1/dags/hello/dagRuns").await;
    assert_eq!(list.body["total_entries"], 2);
    assert_eq!(list.body["dag_runs"][0]["dag_run_id"], "mine");
    assert_eq!(list.body["dag_runs"][1]["dag_run_id"], auto_id.as_str());
    let newest = h.get("/api/v1/dags/hello/dagRuns?order_by=-id").await;
    assert_eq!(newest.body["dag_runs"][0]["dag_run_id"], auto_id.as_str());
    let page = h.get("/api/v1/dags/hello/dagRuns?limit=1&offset=1").await;
    assert_eq!(page.body["dag_runs"][0]["dag_run_id"], auto_id.as_str());
    assert_eq!(page.body["dag_runs"].as_array().map(Vec::len), Some(1));
    let none = h
        .get("/api/v1/dags/hello/dagRuns?state=success,failed")
        .await;
    assert_eq!(none.body["total_entries"], 0);
    // Airflow does not check state names: an unknown one matches nothing.
    let done = h.get("/api/v1/dags/hello/dagRuns?state=done").await;
    assert_eq!(done.body["total_entries"], 0);
    assert_problem(
        &h.get("/api/v1/dags/hello/dagRuns?order_by=run_after").await,
        StatusCode::BAD_REQUEST,
        "Ordering with 'run_after' is disallowed",
    );
    let all = h.get("/api/v1/dags/~/dagRuns").await;
    assert_eq!(all.body["total_entries"], 2);

    // Run ids with `:` and `+` travel percent-encoded.
    let one = h
        .get(&format!(
            "/api/v1/dags/hello/dagRuns/{}",
            lithoflow_api::segment(&auto_id)
        ))
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.body["dag_run_id"], auto_id.as_str());
    assert_get_problems(
        &h,
        &[
            (
                "/api/v1/dags/hello/dagRuns/nope",
                S::NOT_FOUND,
                "DAG `hello` has no run `nope`",
            ),
            ("/api/v1/dags/nope/dagRuns", S::NOT_FOUND, "no DAG `nope`"),
        ],
    )
    .await;
    let dags = h.get("/api/v1/dags/hello").await;
    assert_eq!(dags.body["recent_runs"][0]["state"], "queued");
}

#[tokio::test]
async fn task_instances_xcom_and_logs_are_read() {
    let h = harness();
    h.seed_run("r1");
    let base = "/api/v1/dags/hello/dagRuns/r1/taskInstances";
    let list = h.get(base).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body["total_entries"], 2);
    let first = &list.body["task_instances"][0];
    assert_eq!(first["task_id"], "first");
    assert_eq!(first["dag_run_id"], "r1");
    assert_eq!(first["state"], "success");
    assert_eq!(first["try_number"], 1);
    assert_eq!(
        first["max_tries"], 0,
        "Airflow's max_tries: the retries, none here"
    );
    assert_eq!(first["duration"], 0.5);
    assert_eq!(first["operator"], "call_async");
    assert_eq!(first["calls_done"], 1);
    assert_eq!(first["calls_total"], 1);
    assert_eq!(first["logical_date"], "2026-11-27T10:00:00+00:00");
    assert!(
        first.get("return_value").is_none(),
        "lists leave values out"
    );
    let failed = h.get(&format!("{base}?state=failed")).await;
    assert_eq!(failed.body["task_instances"][0]["task_id"], "second");

    let one = h.get(&format!("{base}/first")).await;
    assert_eq!(one.body["return_value"], 3);
    let second = h.get(&format!("{base}/second")).await;
    assert_eq!(second.body["return_value"], Value::Null);
    assert_eq!(second.body["error"], "ValueError: no");
    assert_problem(
        &h.get(&format!("{base}/nope")).await,
        StatusCode::NOT_FOUND,
        "has no task instance `nope`",
    );

    let x = h
        .get(&format!("{base}/first/xcomEntries/return_value"))
        .await;
    assert_eq!(
        x.body["value"], "3",
        "stringified by default, as Airflow 2.10"
    );
    let x = h
        .get(&format!(
            "{base}/first/xcomEntries/return_value?stringify=false"
        ))
        .await;
    assert_eq!(x.body["value"], 3);
    assert_eq!(x.body["key"], "return_value");
    assert_eq!(x.body["map_index"], -1);
    assert_problem(
        &h.get(&format!("{base}/second/xcomEntries/return_value"))
            .await,
        StatusCode::NOT_FOUND,
        "has no XCom `return_value`",
    );

    let log = h.get(&format!("{base}/first/logs/1")).await;
    assert_eq!(log.status, StatusCode::OK);
    assert_eq!(log.text, "line one\nline two\n");
    assert_eq!(
        log.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        log.headers
            .get(LOG_OFFSET_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some("18")
    );
    let tail = h.get(&format!("{base}/first/logs/1?offset=9")).await;
    assert_eq!(tail.text, "line two\n");
    let done = h.get(&format!("{base}/first/logs/1?offset=18")).await;
    assert_eq!(done.text, "");
    assert_eq!(
        done.headers
            .get(LOG_OFFSET_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some("18")
    );
    for (tail, status, detail) in [
        (
            "first/logs/2",
            StatusCode::NOT_FOUND,
            "has no try 2 (its latest is 1)",
        ),
        ("first/logs/0", StatusCode::NOT_FOUND, "has no try 0"),
        (
            "first/logs/one",
            StatusCode::BAD_REQUEST,
            "`try_number` must be a positive integer",
        ),
        ("second/logs/1", StatusCode::NOT_FOUND, "no log for try 1"),
    ] {
        assert_problem(&h.get(&format!("{base}/{tail}")).await, status, detail);
    }
}

#[tokio::test]
async fn ids_that_could_escape_a_folder_are_refused() {
    let h = harness();
    h.seed_run("r1");
    for uri in [
        "/api/v1/dags/..%2F..%2Fetc/dagRuns/r1/taskInstances/first/logs/1",
        "/api/v1/dags/hello/dagRuns/..%2Fr1/taskInstances/first/logs/1",
        "/api/v1/dags/hello/dagRuns/r1/taskInstances/..%2F..%2Ffirst/logs/1",
        "/api/v1/dags/hello/dagRuns/r1/taskInstances/first%00/logs/1",
        "/api/v1/dags/hello/dagRuns/../taskInstances/first/logs/1",
        "/api/v1/dags/hello/dagRuns/%2E%2E/taskInstances",
        "/api/v1/dags/hello%5C..%5Cx",
    ] {
        let got = h.get(uri).await;
        assert!(
            got.status == StatusCode::BAD_REQUEST || got.status == StatusCode::NOT_FOUND,
            "{uri}: {} {}",
            got.status,
            got.text
        );
        assert_eq!(got.body["type"], "about:blank", "{uri}: {}", got.text);
    }
    let invalid = "is not a valid id";
    assert_get_problems(
        &h,
        &[
            (
                "/api/v1/dags/hello/dagRuns/%2E%2E/taskInstances",
                S::BAD_REQUEST,
                invalid,
            ),
            (
                "/api/v1/dags/hello/dagRuns/r1/taskInstances/first%00/logs/1",
                S::BAD_REQUEST,
                invalid,
            ),
        ],
    )
    .await;
    let body = json!({"dag_run_id": "../r1"});
    let clear = "/api/v1/dags/hello/clearTaskInstances";
    assert_problems(&h, Method::POST, &[(clear, body, S::BAD_REQUEST, invalid)]).await;
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let h = harness();
    let big = json!({"conf": {"blob": "x".repeat(BODY_LIMIT)}});
    let got = h
        .send(Method::POST, "/api/v1/dags/hello/dagRuns", big)
        .await;
    assert_problem(
        &got,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than 1048576 bytes",
    );
    let runs = h.get("/api/v1/dags/hello/dagRuns").await;
    assert_eq!(runs.body["total_entries"], 0);
}

#[tokio::test]
async fn clearing_is_a_dry_run_unless_asked() {
    let h = harness();
    h.seed_run("r1");
    let url = "/api/v1/dags/hello/clearTaskInstances";
    let got = h
        .send(
            Method::POST,
            url,
            json!({"task_ids": ["first"], "include_downstream": true}),
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    let date = "2026-11-27T10:00:00+00:00";
    assert_eq!(
        got.body["task_instances"],
        json!([
            {"dag_id": "hello", "dag_run_id": "r1", "task_id": "second", "execution_date": date, "state": "failed"},
        ]),
        "only failed instances unless only_failed is false, as Airflow"
    );
    let got = h
        .send(
            Method::POST,
            url,
            json!({"task_ids": ["first"], "include_downstream": true, "only_failed": false}),
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(
        got.body["task_instances"],
        json!([
            {"dag_id": "hello", "dag_run_id": "r1", "task_id": "first", "execution_date": date, "state": "success"},
            {"dag_id": "hello", "dag_run_id": "r1", "task_id": "second", "execution_date": date, "state": "failed"},
        ])
    );
    let ti = h
        .get("/api/v1/dags/hello/dagRuns/r1/taskInstances/first")
        .await;
    assert_eq!(ti.body["state"], "success", "a dry run changes nothing");

    let got = h
        .send(
            Method::POST,
            url,
            json!({"dry_run": false, "only_failed": true, "dag_run_id": "r1"}),
        )
        .await;
    assert_eq!(got.body["task_instances"][0]["task_id"], "second");
    assert_eq!(got.body["task_instances"].as_array().map(Vec::len), Some(1));
    let ti = h
        .get("/api/v1/dags/hello/dagRuns/r1/taskInstances/second")
        .await;
    assert_eq!(ti.body["state"], Value::Null, "cleared: no status");
    let run = h.get("/api/v1/dags/hello/dagRuns/r1").await;
    assert_eq!(run.body["state"], "queued");

    let regex = h
        .send(
            Method::POST,
            url,
            json!({"task_regex": "^fir", "only_failed": false}),
        )
        .await;
    assert_eq!(regex.body["task_instances"][0]["task_id"], "first");
    assert_problems(
        &h,
        Method::POST,
        &[
            (
                url,
                json!({"task_ids": ["first"], "limit": 3}),
                S::BAD_REQUEST,
                "unknown field `limit`",
            ),
            (
                url,
                json!({"dag_run_id": "r1", "start_date": "2026-01-01T00:00:00Z"}),
                S::BAD_REQUEST,
                "Exactly one of dag_run_id",
            ),
            (
                url,
                json!({"only_failed": true, "only_running": true}),
                S::BAD_REQUEST,
                "only_failed and only_running",
            ),
            (
                url,
                json!({"task_ids": ["nope"]}),
                S::NOT_FOUND,
                "has no task `nope`",
            ),
            (
                url,
                json!({"dag_run_id": "nope"}),
                S::NOT_FOUND,
                "has no run `nope`",
            ),
        ],
    )
    .await;
}

/// Every answer that carries a conf masks it: the trigger's, one run, a DAG's runs,
/// every DAG's runs, a backfill's plan and its answer. The wire types cannot mask (the
/// rules are the DAG format's), so the server does it where it builds them.
#[tokio::test]
async fn no_answer_carries_an_unmasked_conf() {
    let h = harness();
    let secret = "hunter2-conf-secret";
    let conf = json!({"api_token": secret, "db": {"PASSWORD": secret}, "region": "eu-west-1"});
    let mut answers = Vec::new();
    let got = h
        .send(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            json!({"dag_run_id": "masked", "conf": conf}),
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    answers.push(got);
    answers.push(h.get("/api/v1/dags/hello/dagRuns/masked").await);
    answers.push(h.get("/api/v1/dags/hello/dagRuns").await);
    answers.push(h.get("/api/v1/dags/~/dagRuns").await);
    for dry_run in [true, false] {
        let got = h
            .send(
                Method::POST,
                "/api/v1/backfills",
                json!({
                    "dag_id": "hello",
                    "from_date": "2026-03-01T00:00:00Z",
                    "to_date": "2026-03-01T00:00:00Z",
                    "dry_run": dry_run,
                    "dag_run_conf": conf,
                }),
            )
            .await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.text);
        assert_eq!(got.body["dag_run_conf"]["api_token"], "***", "{}", got.text);
        answers.push(got);
    }
    answers.push(h.get("/api/v1/dags/~/dagRuns").await);
    for got in &answers {
        assert_eq!(got.status, StatusCode::OK, "{}", got.text);
        assert!(!got.text.contains(secret), "{}", got.text);
        assert!(got.text.contains("eu-west-1"), "{}", got.text);
    }
    assert_eq!(answers[1].body["conf"]["db"]["PASSWORD"], "***");
}

#[tokio::test]
async fn backfills_are_planned_and_created() {
    let h = harness();
    let body = json!({
        "dag_id": "hello",
        "from_date": "2026-03-01T00:00:00Z",
        "to_date": "2026-03-03T00:00:00Z",
        "dry_run": true,
    });
    let got = h
        .send(Method::POST, "/api/v1/backfills", body.clone())
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body["id"], Value::Null);
    assert_eq!(got.body["total_entries"], 3);
    assert_eq!(got.body["dag_runs"][0]["action"], "create");
    assert_eq!(
        got.body["dag_runs"][0]["logical_date"],
        "2026-03-01T00:00:00+00:00"
    );
    assert_eq!(
        got.body["dag_runs"][0]["dag_run_id"],
        "backfill__2026-03-01T00:00:00+00:00"
    );
    assert_eq!(got.body["reprocess_behavior"], "none");
    assert_eq!(got.body["max_active_runs"], 10);
    let runs = h.get("/api/v1/dags/hello/dagRuns").await;
    assert_eq!(runs.body["total_entries"], 0, "a dry run creates nothing");

    let mut real = body.clone();
    real["dry_run"] = json!(false);
    real["dag_run_conf"] = json!({"k": 2});
    let got = h.send(Method::POST, "/api/v1/backfills", real).await;
    assert!(
        got.body["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("backfill__")),
        "{}",
        got.text
    );
    let runs = h.get("/api/v1/dags/hello/dagRuns").await;
    assert_eq!(runs.body["total_entries"], 3);
    assert_eq!(runs.body["dag_runs"][0]["run_type"], "backfill");
    assert_eq!(runs.body["dag_runs"][0]["conf"], json!({"k": 2}));

    let with = |key: &str, value: &str| {
        let mut b = body.clone();
        b[key] = json!(value);
        b
    };
    let url = "/api/v1/backfills";
    assert_problems(
        &h,
        Method::POST,
        &[
            (
                url,
                with("to_date", "2026-02-01T00:00:00Z"),
                S::BAD_REQUEST,
                "is after",
            ),
            (
                url,
                with("dag_id", "sleepy"),
                S::BAD_REQUEST,
                "has no schedule",
            ),
            (
                url,
                with("dag_id", "nope"),
                S::NOT_FOUND,
                "DAG `nope` is not loaded",
            ),
            (
                url,
                json!({"dag_id": "hello"}),
                S::BAD_REQUEST,
                "missing field `from_date`",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_stopped_scheduler_loop_is_a_503() {
    let home = tempfile::tempdir().expect("temp dir");
    let h = harness();
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let shared = Arc::new(Shared {
        store: Arc::clone(&h.shared.store),
        settings: Settings::load(home.path()).expect("settings"),
        dags_folder: fixtures(),
        dags: RwLock::new(DagSet {
            dags: h.shared.dags.read().expect("lock").dags.clone(),
            ..DagSet::default()
        }),
        events: broadcast::channel(4).0,
        requests: tx,
        started_at: Utc::now(),
        token: h.token.clone(),
        pools: None,
    });
    let stopped = Harness {
        home,
        shared,
        token: h.token.clone(),
    };
    assert_problem(
        &stopped
            .send(Method::POST, "/api/v1/dags/hello/dagRuns", json!({}))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "the scheduler is stopping",
    );
}

/// Serves the router on 127.0.0.1:0; returns a client of it.
async fn serve(h: &Harness) -> lithoflow_api::Client {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = router(Arc::clone(&h.shared));
    tokio::spawn(async move { axum::serve(listener, app).await });
    lithoflow_api::Client::new(port, h.token.clone())
}

async fn next_event(stream: &mut lithoflow_api::EventStream) -> lithoflow_api::SseMessage {
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("a readable stream")
        .expect("the stream goes on")
}

#[tokio::test]
async fn the_event_stream_delivers_state_changes() {
    let h = harness();
    let client = serve(&h).await;
    let mut all = client.events("").await.expect("stream");
    let mut sleepy_only = client.events("dag_id=sleepy").await.expect("stream");
    let run = client
        .trigger(
            "hello",
            &lithoflow_api::TriggerBody {
                dag_run_id: Some("live".to_owned()),
                ..lithoflow_api::TriggerBody::default()
            },
        )
        .await
        .expect("trigger");
    assert_eq!(run.run.dag_run_id, "live");
    let ev = next_event(&mut all).await;
    assert_eq!(ev.event, "dag_run");
    assert_eq!(
        ev.json(),
        json!({"type": "dag_run", "dag_id": "hello", "run_id": "live", "state": "queued"})
    );
    client.set_paused("sleepy", false).await.expect("unpause");
    let ev = next_event(&mut sleepy_only).await;
    assert_eq!(ev.event, "dag", "the hello run was filtered out");
    assert_eq!(ev.json()["is_paused"], false);
    let ev = next_event(&mut all).await;
    assert_eq!(ev.event, "dag");

    // The client's other calls, on the same server.
    assert!(client.run("hello", "live").await.expect("run").is_some());
    assert!(client.run("hello", "nope").await.expect("run").is_none());
    assert_eq!(client.runs("hello").await.expect("runs").len(), 1);
    assert_eq!(client.dags().await.expect("dags").len(), 2);
    let err = client
        .trigger(
            "hello",
            &lithoflow_api::TriggerBody {
                dag_run_id: Some("live".to_owned()),
                ..lithoflow_api::TriggerBody::default()
            },
        )
        .await
        .expect_err("clash");
    assert_eq!(err.status(), Some(409));
    assert!(
        err.to_string().contains("already has a run `live`"),
        "{err}"
    );
    let wrong = lithoflow_api::Client::new(
        client
            .base()
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/api/v1")
            .parse()
            .expect("port"),
        "wrong".to_owned(),
    );
    assert_eq!(wrong.dags().await.expect_err("401").status(), Some(401));
}

#[tokio::test]
async fn a_client_that_falls_behind_is_told_to_refetch() {
    let h = harness_with(2);
    let client = serve(&h).await;
    let mut stream = client.events("").await.expect("stream");
    for i in 0..10 {
        h.shared.emit(Event::DagsReloaded {
            dags: i,
            import_errors: 0,
        });
    }
    let ev = next_event(&mut stream).await;
    assert_eq!(ev.event, "lagged");
    assert_eq!(ev.json()["skipped"], 8);
    let ev = next_event(&mut stream).await;
    assert_eq!(ev.event, "dags_reloaded");
    assert_eq!(ev.json()["dags"], 8);
}

#[tokio::test]
async fn the_event_stream_ends_when_the_scheduler_loop_stops() {
    let h = harness();
    let client = serve(&h).await;
    let mut stream = client.events("").await.expect("stream");
    // A stand-in for the loop that stops: the shared requests channel closes when every
    // receiver is gone, so swap in a Shared whose receiver is dropped.
    let (tx, rx) = mpsc::channel(1);
    let shared = Arc::new(Shared {
        store: Arc::clone(&h.shared.store),
        settings: h.shared.settings.clone(),
        dags_folder: fixtures(),
        dags: RwLock::new(DagSet::default()),
        events: broadcast::channel(4).0,
        requests: tx,
        started_at: Utc::now(),
        token: h.token.clone(),
        pools: None,
    });
    let stopping = Harness {
        home: tempfile::tempdir().expect("temp dir"),
        shared,
        token: h.token.clone(),
    };
    let client2 = serve(&stopping).await;
    let mut ending = client2.events("").await.expect("stream");
    drop(rx);
    let end = tokio::time::timeout(std::time::Duration::from_secs(10), ending.next())
        .await
        .expect("ends within 10 s")
        .expect("cleanly");
    assert_eq!(end, None);
    // The first server's loop still runs: its stream is still open.
    h.shared.emit(Event::DagsReloaded {
        dags: 1,
        import_errors: 0,
    });
    assert_eq!(next_event(&mut stream).await.event, "dags_reloaded");
}

#[tokio::test]
async fn recent_runs_can_ask_for_more_runs_per_dag() {
    let h = harness();
    for i in 0..7 {
        h.seed_run(&format!("r{i}"));
    }
    let five = h.get("/api/v1/dags?dag_id_pattern=hello").await;
    assert_eq!(five.status, S::OK, "{}", five.text);
    assert_eq!(
        five.body["dags"][0]["recent_runs"].as_array().map(Vec::len),
        Some(5)
    );
    let seven = h
        .get("/api/v1/dags?dag_id_pattern=hello&recent_runs=10")
        .await;
    assert_eq!(
        seven.body["dags"][0]["recent_runs"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );
    let one = h.get("/api/v1/dags/hello?recent_runs=1").await;
    assert_eq!(one.body["recent_runs"].as_array().map(Vec::len), Some(1));
    assert_get_problems(
        &h,
        &[
            (
                "/api/v1/dags?recent_runs=0",
                S::BAD_REQUEST,
                "`recent_runs` must be between 1 and 50, found 0",
            ),
            (
                "/api/v1/dags/hello?recent_runs=51",
                S::BAD_REQUEST,
                "between 1 and 50",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_running_instance_shows_its_jobs_live_progress() {
    let h = harness();
    h.seed_run("live");
    let store = &h.shared.store;
    let mut first = store
        .ti("hello", "live", "first")
        .expect("read")
        .expect("ti");
    first.state = TaskState::Running;
    store.put_ti("hello", "live", &first).expect("ti");
    // One router, so one progress book, as a running scheduler has.
    let app = router(Arc::clone(&h.shared));
    let get = |uri: &'static str| {
        let app = app.clone();
        let token = h.token.clone();
        async move {
            let req = HttpRequest::builder()
                .uri(uri)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(HttpBody::empty())
                .expect("request");
            let resp = app.oneshot(req).await.expect("infallible");
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            serde_json::from_slice::<Value>(&bytes).expect("json")
        }
    };
    let one = "/api/v1/dags/hello/dagRuns/live/taskInstances/first";
    let list = "/api/v1/dags/hello/dagRuns/live/taskInstances";
    assert_eq!(
        get(one).await.get("progress"),
        None,
        "none before any event"
    );
    let progress = |done| Event::Progress {
        map_index: -1,
        dag_id: "hello".to_owned(),
        run_id: "live".to_owned(),
        task_id: "first".to_owned(),
        phase: "map".to_owned(),
        total: 10,
        done,
        failed: 1,
        running: 2,
    };
    h.shared.emit(progress(3));
    h.shared.emit(progress(6));
    let want = json!({"phase": "map", "total": 10, "done": 6, "failed": 1, "running": 2});
    let seen = async {
        loop {
            let got = get(one).await;
            if got["progress"] == want {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), seen)
        .await
        .expect("the book takes the events");
    let listed = get(list).await;
    assert_eq!(listed["task_instances"][0]["progress"], want);
    assert_eq!(listed["task_instances"][1].get("progress"), None);
    // The try ends: its counts are the record's, and the live progress goes.
    h.shared.emit(Event::TaskInstance {
        map_index: -1,
        dag_id: "hello".to_owned(),
        run_id: "live".to_owned(),
        task_id: "first".to_owned(),
        state: TaskState::Success.into(),
        try_number: 1,
    });
    first.state = TaskState::Success;
    store.put_ti("hello", "live", &first).expect("ti");
    let gone = async {
        while get(one).await.get("progress").is_some() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), gone)
        .await
        .expect("the progress goes with the running state");
}

#[tokio::test]
async fn calls_are_read_from_the_jobs_results_in_localhost_storage() {
    let h = harness();
    h.seed_run("manual__2026-11-27T10:00:00+00:00");
    let run = "manual__2026-11-27T10:00:00+00:00";
    let base = format!(
        "/api/v1/dags/hello/dagRuns/{}/taskInstances/first/calls",
        lithoflow_api::segment(run)
    );
    // No results yet (the job has not ended, or was cleaned).
    assert_get_problems(
        &h,
        &[(
            &base,
            S::NOT_FOUND,
            "no call records for try 1 of task `first`",
        )],
    )
    .await;
    // What the executor writes when a job ends, where the engine's job key puts it.
    let storage = lithoflow_executor::storage::LocalStorage::new(h.shared.settings.storage_dir());
    storage
        .put_json(
            &format!("hello/{run}/first/1"),
            "results.json",
            &json!([
                {"phase": "map", "index": 0, "result": [1, 2, 3], "error": null, "duration_s": 0.25},
                {"phase": "map", "index": 1, "result": null,
                 "error": {"call_index": 1, "kind": "exception", "exc_type": "ValueError", "message": "no", "traceback": ""},
                 "duration_s": 0.5},
                {"phase": "reduce", "index": 0, "result": 6, "error": null, "duration_s": 0.125}
            ]),
        )
        .expect("results");
    let got = h.get(&base).await;
    assert_eq!(got.status, S::OK, "{}", got.text);
    assert_eq!(
        got.body,
        json!({
            "dag_id": "hello", "dag_run_id": run, "task_id": "first", "try_number": 1,
            "calls": [
                {"phase": "map", "index": 0, "duration_s": 0.25, "failed": false},
                {"phase": "map", "index": 1, "duration_s": 0.5, "failed": true},
                {"phase": "reduce", "index": 0, "duration_s": 0.125, "failed": false}
            ],
            "total_entries": 3
        })
    );
    let page = h
        .get(&format!("{base}?limit=1&offset=2&try_number=1"))
        .await;
    assert_eq!(page.body["calls"][0]["phase"], "reduce");
    assert_eq!(page.body["total_entries"], 3);
    // The records are kept parsed; a file written again is read again.
    storage
        .put_json(
            &format!("hello/{run}/first/1"),
            "results.json",
            &json!([{"phase": "call", "index": 0, "result": 1, "error": null, "duration_s": 2.0}]),
        )
        .expect("results");
    let again = h.get(&base).await;
    assert_eq!(
        again.body["calls"],
        json!([{"phase": "call", "index": 0, "duration_s": 2.0, "failed": false}])
    );
    assert_eq!(again.body["total_entries"], 1);
    assert_get_problems(
        &h,
        &[
            (
                &format!("{base}?try_number=2"),
                S::NOT_FOUND,
                "has no try 2 (its latest is 1)",
            ),
            (
                "/api/v1/dags/hello/dagRuns/nope/taskInstances/first/calls",
                S::NOT_FOUND,
                "has no run `nope`",
            ),
            (
                "/api/v1/dags/hello/dagRuns/nope/taskInstances/nope/calls",
                S::NOT_FOUND,
                "has no task `nope`",
            ),
            (
                &format!("{base}?bogus=1"),
                S::BAD_REQUEST,
                "unknown query parameter `bogus`",
            ),
        ],
    )
    .await;
}

#[test]
fn the_calls_cache_keeps_at_most_its_bound_dropping_the_least_recently_used() {
    let cache = CallsCache::default();
    let calls = |n: usize| {
        Arc::new(
            (0..n)
                .map(|index| CallInfo {
                    phase: "map".to_owned(),
                    index,
                    duration_s: 0.0,
                    failed: false,
                })
                .collect::<Vec<_>>(),
        )
    };
    let stamp = (1, None);
    let third = CALLS_CACHE_RECORDS / 3;
    let (a, b, c) = (Path::new("a"), Path::new("b"), Path::new("c"));
    cache.put(a, stamp, &calls(third));
    cache.put(b, stamp, &calls(third));
    assert!(cache.get(a, stamp).is_some(), "a was used last");
    cache.put(c, stamp, &calls(third + 10));
    assert!(
        cache.get(b, stamp).is_none(),
        "b, the least recently used, made room"
    );
    assert!(cache.get(a, stamp).is_some() && cache.get(c, stamp).is_some());
    assert!(cache.lock().records <= CALLS_CACHE_RECORDS);
    assert!(
        cache.get(a, (2, None)).is_none(),
        "another file version is not served"
    );
    cache.put(b, stamp, &calls(CALLS_CACHE_RECORDS + 1));
    assert!(
        cache.get(b, stamp).is_none(),
        "a job above the bound is not kept"
    );
    // Small jobs: at most CALLS_CACHE_JOBS of them.
    for i in 0..CALLS_CACHE_JOBS + 10 {
        cache.put(
            &std::path::PathBuf::from(format!("small-{i}")),
            stamp,
            &calls(1),
        );
    }
    assert_eq!(cache.lock().entries.len(), CALLS_CACHE_JOBS);
    let newest = std::path::PathBuf::from(format!("small-{}", CALLS_CACHE_JOBS + 9));
    assert!(cache.get(&newest, stamp).is_some());
    assert!(cache.get(Path::new("small-0"), stamp).is_none());
}

#[test]
fn the_calls_cache_drops_records_nobody_asked_for_within_the_idle_time() {
    let cache = CallsCache::default();
    let calls = Arc::new(vec![CallInfo {
        phase: "map".to_owned(),
        index: 0,
        duration_s: 0.0,
        failed: false,
    }]);
    let stamp = (1, None);
    let (old, fresh) = (Path::new("old"), Path::new("fresh"));
    cache.put(old, stamp, &calls);
    cache.put(fresh, stamp, &calls);
    let now = std::time::Instant::now();
    cache.expire(now + CALLS_CACHE_IDLE / 2);
    assert_eq!(cache.lock().entries.len(), 2, "nothing is idle yet");
    // `fresh` is asked for again later; `old` is not.
    cache.lock().entries.get_mut(old).expect("kept").used_at = now - CALLS_CACHE_IDLE;
    cache.expire(now + Duration::from_millis(1));
    assert!(cache.get(old, stamp).is_none(), "idle past the limit");
    assert!(cache.get(fresh, stamp).is_some());
    assert_eq!(
        cache.lock().records,
        1,
        "the dropped records are counted out"
    );
}

#[test]
fn api_times_are_written_exactly_as_ops_iso_writes_them() {
    use chrono::{TimeZone as _, Timelike as _};
    let mut times = vec![
        t("2026-11-27T10:00:00Z"),
        t("2026-11-27T10:00:00.123456Z"),
        t("2026-01-02T03:04:05.000001Z"),
        t("1970-01-01T00:00:00Z"),
        t("0001-01-01T00:00:00Z"),
        t("9999-12-31T23:59:59.999999999Z"),
        Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0)
            .single()
            .expect("valid"),
        Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0)
            .single()
            .expect("valid"),
    ];
    for nanos in [1, 999, 1000, 1500, 123_456_789, 999_999_999, 1_000_000_500] {
        let base = t("2026-06-30T23:59:59Z");
        times.push(
            base.with_nanosecond(nanos)
                .unwrap_or_else(|| panic!("{nanos} ns")),
        );
    }
    for (i, x) in times.iter().enumerate() {
        assert_eq!(
            lithoflow_api::iso_string(x),
            crate::ops::iso(*x),
            "case {i}: {x:?}"
        );
    }
}

#[tokio::test]
async fn a_trigger_of_a_paused_dag_says_the_run_waits_for_an_unpause() {
    // Recorded and queued, as in Airflow, with a `Warning` header naming the way out; an
    // unpaused DAG's trigger has none.
    let h = harness();
    let client = serve(&h).await;
    let body = |id: &str| lithoflow_api::TriggerBody {
        dag_run_id: Some(id.to_owned()),
        ..lithoflow_api::TriggerBody::default()
    };
    let paused = client
        .trigger("sleepy", &body("p1"))
        .await
        .expect("trigger");
    assert_eq!(paused.run.state, lithoflow_api::RunState::Queued);
    assert_eq!(
        paused.warning.as_deref(),
        Some(
            "DAG `sleepy` is paused: run `p1` stays queued until the DAG is unpaused \
             (`lithoflow dags unpause sleepy`, or `p` in the TUI)"
        )
    );
    client.set_paused("sleepy", false).await.expect("unpause");
    let running = client
        .trigger("sleepy", &body("p2"))
        .await
        .expect("trigger");
    assert_eq!(running.warning, None);
}

#[path = "tests/pools.rs"]
mod pools;
#[path = "tests/writes_mock.rs"]
mod writes_mock;

#[path = "tests/dagruns.rs"]
mod dagruns;

#[path = "tests/misc.rs"]
mod misc;
