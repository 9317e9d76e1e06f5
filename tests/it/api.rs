//! The scheduler's local API end to end: a real `lithoflow scheduler` holds the store,
//! and the CLI's run commands go through its API (with the token) while it runs; the
//! event stream shows the runs' state changes; SIGTERM ends it with exit code 0.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lithoflow_api::{Client, SseMessage};
use serde_json::Value;

use crate::harness::{Env, wait_for};
use crate::repo_root;

/// A DAGs folder with the API fixtures, and a home.
fn env() -> Env {
    Env::with_fixtures(&repo_root().join("tests/fixtures/api"))
}

#[test]
fn cli_commands_go_through_the_api_while_the_scheduler_holds_the_store() {
    let env = env();
    let mut sched = env.start();

    // The token: created on start, private.
    let token_path = env.home().join("api-token");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_path).expect("token").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_path)
        .expect("token")
        .trim()
        .to_owned();

    // Without the token (or with another), nothing is served.
    let raw = sched.raw_get("/api/v1/dags", None);
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{raw}"
    );
    assert!(raw.contains("application/problem+json"), "{raw}");
    let raw = sched.raw_get("/api/v1/dags", Some("Bearer not-the-token"));
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
    let raw = sched.raw_get("/api/v1/health", Some(&format!("Bearer {token}")));
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");

    // Follow the event stream from here on.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let events: Arc<Mutex<Vec<SseMessage>>> = Arc::default();
    let client = Client::new(sched.port, token.clone());
    let mut stream = rt
        .block_on(client.events("dag_id=hello"))
        .expect("event stream");
    let seen = Arc::clone(&events);
    let follower = rt.spawn(async move {
        while let Ok(Some(msg)) = stream.next().await {
            seen.lock().expect("lock").push(msg);
        }
    });

    // The store is the scheduler's: the CLI gets there through the API.
    let trig = env.json(&[
        "dags",
        "trigger",
        "hello",
        "-r",
        "api_run",
        "--conf",
        "{\"k\": 1}",
        "-o",
        "json",
    ]);
    assert_eq!(trig[0]["dag_run_id"], "api_run");
    assert_eq!(trig[0]["state"], "queued");
    assert_eq!(trig[0]["conf"], serde_json::json!({"k": 1}));
    let (code, _, err) = env.run(&["dags", "trigger", "hello", "-r", "api_run"]);
    assert!(
        code != 0 && err.contains("already has a run `api_run`"),
        "{err}"
    );
    wait_for(
        "the triggered run to succeed",
        Duration::from_secs(90),
        || (env.run_state("hello", "api_run").as_deref() == Some("success")).then_some(()),
    );
    let states = env.json(&[
        "tasks",
        "states-for-dag-run",
        "hello",
        "api_run",
        "-o",
        "json",
    ]);
    let pairs: Vec<(String, String, u64)> = states
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| {
            (
                t["task_id"].as_str().unwrap_or("").to_owned(),
                t["state"].as_str().unwrap_or("").to_owned(),
                t["try_number"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("first".to_owned(), "success".to_owned(), 1),
            ("second".to_owned(), "success".to_owned(), 1)
        ]
    );
    assert_eq!(
        env.ok(&["tasks", "state", "hello", "second", "api_run"]),
        "success\n"
    );
    // A one-call task's call record: in the state database, not in job files (none are
    // written for it), and served by `.../calls` as a `results.json` would be.
    let calls = sched.raw_get(
        "/api/v1/dags/hello/dagRuns/api_run/taskInstances/second/calls",
        Some(&format!("Bearer {token}")),
    );
    assert!(calls.starts_with("HTTP/1.1 200"), "{calls}");
    let body: Value = serde_json::from_str(calls.split("\r\n\r\n").nth(1).unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {calls}"));
    assert_eq!(body["total_entries"], 1, "{body}");
    assert_eq!(body["try_number"], 1, "{body}");
    assert_eq!(
        (
            &body["calls"][0]["phase"],
            &body["calls"][0]["index"],
            &body["calls"][0]["failed"]
        ),
        (
            &serde_json::json!("call"),
            &serde_json::json!(0),
            &serde_json::json!(false)
        ),
        "{body}"
    );
    let job_data = env
        .home()
        .join("storage/lithoflow.jobs/hello/api_run/second");
    assert!(!job_data.exists(), "{} holds job files", job_data.display());
    let log = env.ok(&["tasks", "logs", "hello", "second", "api_run"]);
    assert!(
        log.contains("adding 10 and 3") && log.contains("Done. Returned value was: 13"),
        "{log}"
    );
    let (code, _, err) = env.run(&["tasks", "states-for-dag-run", "hello", "nope"]);
    assert!(
        code != 0 && err.contains("DAG `hello` has no run `nope`"),
        "{err}"
    );

    // Pause and unpause; `dags list` shows it.
    let paused = env.json(&["dags", "pause", "hello", "-o", "json"]);
    assert_eq!(paused[0]["is_paused"], true);
    assert_eq!(paused[0]["was_paused"], false);
    let list = env.json(&["dags", "list", "-o", "json"]);
    let hello = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|d| d["dag_id"] == "hello")
        .expect("hello is listed");
    assert_eq!(hello["is_paused"], true);
    let unpaused = env.json(&["dags", "unpause", "hello", "-o", "json"]);
    assert_eq!(unpaused[0]["is_paused"], false);
    assert_eq!(unpaused[0]["was_paused"], true);

    // Clear one task; the scheduler runs it again on a new try.
    let (code, out, err) = env.run(&[
        "tasks", "clear", "hello", "-t", "^second$", "--run-id", "api_run", "-y",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("<TaskInstance: hello.second api_run [success]>")
            && out.contains("Cleared; `lithoflow scheduler` runs them again."),
        "{out}"
    );
    wait_for(
        "the cleared task to run again",
        Duration::from_secs(90),
        || {
            let states = env.json(&[
                "tasks",
                "states-for-dag-run",
                "hello",
                "api_run",
                "-o",
                "json",
            ]);
            let second = states
                .as_array()?
                .iter()
                .find(|t| t["task_id"] == "second")?
                .clone();
            (second["state"] == "success" && second["try_number"] == 2).then_some(())
        },
    );
    let log2 = env.ok(&["tasks", "logs", "hello", "second", "api_run", "--try", "2"]);
    assert!(log2.contains("Done. Returned value was: 13"), "{log2}");

    let runs = env.json(&["dags", "list-runs", "hello", "-o", "json"]);
    assert!(
        runs.as_array()
            .expect("a list")
            .iter()
            .any(|r| r["run_id"] == "api_run" && r["state"] == "success"),
        "{runs}"
    );

    // A backfill through the API: the scheduler creates and runs its runs.
    let (code, out, err) = env.run(&[
        "dags",
        "backfill",
        "hello",
        "--from-date",
        "2026-03-01",
        "--to-date",
        "2026-03-01",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backfill__2026-03-01T00:00:00+00:00"), "{out}");
    assert!(err.contains("the running scheduler"), "{err}");
    wait_for(
        "the backfill run to succeed",
        Duration::from_secs(90),
        || {
            (env.run_state("hello", "backfill__2026-03-01T00:00:00+00:00")
                .as_deref()
                == Some("success"))
            .then_some(())
        },
    );

    // A scheduler that holds the store but does not answer is a clear error.
    let info_path = env.home().join("scheduler.json");
    let info = std::fs::read_to_string(&info_path).expect("scheduler.json");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut stale: Value = serde_json::from_str(&info).expect("json");
    stale["port"] = closed_port.into();
    std::fs::write(&info_path, stale.to_string()).expect("write");
    let (code, _, err) = env.run(&["dags", "list-runs", "hello"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("failed to open the state database") && err.contains("does not answer"),
        "{err}"
    );
    std::fs::write(&info_path, &info).expect("restore");

    // The stream showed the run go from queued to success, and its tasks' changes.
    let (runs_seen, tasks_seen) = {
        let seen = events.lock().expect("lock");
        let runs: Vec<String> = seen
            .iter()
            .filter(|m| m.event == "dag_run" && m.json()["run_id"] == "api_run")
            .map(|m| m.json()["state"].as_str().unwrap_or("").to_owned())
            .collect();
        let tasks: Vec<(String, String)> = seen
            .iter()
            .filter(|m| m.event == "task_instance" && m.json()["run_id"] == "api_run")
            .map(|m| {
                let j = m.json();
                (
                    j["task_id"].as_str().unwrap_or("").to_owned(),
                    j["state"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        (runs, tasks)
    };
    assert_eq!(
        runs_seen.first().map(String::as_str),
        Some("queued"),
        "{runs_seen:?}"
    );
    assert!(runs_seen.iter().any(|s| s == "running"), "{runs_seen:?}");
    assert!(runs_seen.iter().any(|s| s == "success"), "{runs_seen:?}");
    assert!(
        tasks_seen.contains(&("second".to_owned(), "success".to_owned())),
        "{tasks_seen:?}"
    );
    assert!(
        events
            .lock()
            .expect("lock")
            .iter()
            .any(|m| m.event == "dag"),
        "pause and unpause are events too"
    );

    // SIGTERM: exit 0, scheduler.json gone, and the store is the CLI's again.
    assert_eq!(sched.terminate(), 0, "{}", sched.log());
    assert!(!info_path.exists(), "scheduler.json is removed on exit");
    rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(10), follower).await;
    });
    let runs = env.json(&["dags", "list-runs", "hello", "-o", "json"]);
    assert!(
        runs.as_array()
            .expect("a list")
            .iter()
            .any(|r| r["run_id"] == "api_run"),
        "{runs}"
    );
}

#[test]
fn without_a_scheduler_the_commands_use_the_store_and_dags_list_shows_paused() {
    let env = env();
    let list = env.json(&["dags", "list", "-o", "json"]);
    let paused: Vec<(String, Value)> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|d| {
            (
                d["dag_id"].as_str().unwrap_or("").to_owned(),
                d["is_paused"].clone(),
            )
        })
        .collect();
    assert_eq!(
        paused,
        [
            ("hello".to_owned(), Value::Bool(false)),
            ("sleepy".to_owned(), Value::Bool(true))
        ],
        "no state yet: is_paused_upon_creation"
    );
    env.ok(&["dags", "unpause", "sleepy"]);
    let list = env.json(&["dags", "list", "-o", "json"]);
    assert_eq!(list[1]["is_paused"], false);
    assert!(
        !env.home().join("api-token").exists(),
        "only a scheduler makes a token"
    );
}
