//! Issue 20's write paths end to end over `/api/v1`, as Airflow 2.10's REST API serves
//! them, against a real `lithoflow scheduler`: a running run set to failed (its running
//! task stopped, the rest skipped), a failed task set to success (its upstream_failed
//! downstream runs and the run succeeds), notes, deleting a run with its logs, and the
//! event log of these actions (`GET /api/v1/eventLogs`), and of what the CLI changes on
//! the store when no scheduler runs (owner: the OS user).

use std::io::{Read as _, Write as _};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Daemon, Env, wait_for};

/// `long >> after`, `first >> second`; `first` fails in run `r2`.
const DAG: &str = r#"
is_paused_upon_creation = false

[tasks.long]
type = "bash"
bash_command = "sleep 600"

[tasks.after]
type = "bash"
bash_command = "echo after"
upstream = ["long"]

[tasks.first]
type = "bash"
bash_command = "test {{ run_id }} != r2"

[tasks.second]
type = "bash"
bash_command = "echo second"
upstream = ["first"]
"#;

/// A request with the token: (status, JSON body or null).
fn send(d: &Daemon, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        d.token,
        body.len()
    )
    .expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn ti_state(d: &Daemon, run: &str, task: &str) -> Option<String> {
    let (status, body) = d.get(&format!(
        "/api/v1/dags/w/dagRuns/{run}/taskInstances/{task}"
    ));
    (status == 200)
        .then(|| body["state"].as_str().map(str::to_owned))
        .flatten()
}

fn run_state(d: &Daemon, run: &str) -> Option<String> {
    let (status, body) = d.get(&format!("/api/v1/dags/w/dagRuns/{run}"));
    (status == 200)
        .then(|| body["state"].as_str().map(str::to_owned))
        .flatten()
}

fn trigger(d: &Daemon, run: &str, conf: Value) {
    let (status, body) = d.post(
        "/api/v1/dags/w/dagRuns",
        &json!({"dag_run_id": run, "conf": conf}),
    );
    assert_eq!(status, 200, "{body}");
}

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn run_state_task_state_notes_and_delete_over_the_api_follow_airflow_and_are_logged() {
    let env = Env::new();
    env.write("w.toml", DAG);
    let d = env.start();

    // A running run set to failed: the running task fails (its process stopped), the
    // tasks not done are skipped.
    trigger(&d, "r1", json!({}));
    wait_for("long running", LIMIT, || {
        (ti_state(&d, "r1", "long").as_deref() == Some("running")).then_some(())
    });
    let (status, body) = send(
        &d,
        "PATCH",
        "/api/v1/dags/w/dagRuns/r1",
        Some(&json!({"state": "failed"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "failed", "{body}");
    wait_for("r1 failed", LIMIT, || {
        (run_state(&d, "r1").as_deref() == Some("failed")).then_some(())
    });
    assert_eq!(ti_state(&d, "r1", "long").as_deref(), Some("failed"));
    assert_eq!(ti_state(&d, "r1", "after").as_deref(), Some("skipped"));

    // A note on the run.
    let (status, body) = send(
        &d,
        "PATCH",
        "/api/v1/dags/w/dagRuns/r1/setNote",
        Some(&json!({"note": "stopped by hand"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["note"], "stopped by hand", "{body}");

    // A failed task set to success: its upstream_failed downstream runs, the run
    // succeeds (Airflow's set_task_instance_state clears it).
    trigger(&d, "r2", json!({}));
    wait_for("second upstream_failed in r2", LIMIT, || {
        (ti_state(&d, "r2", "second").as_deref() == Some("upstream_failed")).then_some(())
    });
    let (status, body) = send(
        &d,
        "PATCH",
        "/api/v1/dags/w/dagRuns/r2/taskInstances/first",
        Some(&json!({"new_state": "success", "dry_run": false})),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("second succeeded", LIMIT, || {
        (ti_state(&d, "r2", "second").as_deref() == Some("success")).then_some(())
    });
    // long (sleep 600) still holds r2: set the run to success.
    let (status, body) = send(
        &d,
        "PATCH",
        "/api/v1/dags/w/dagRuns/r2",
        Some(&json!({"state": "success"})),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("r2 success", LIMIT, || {
        (run_state(&d, "r2").as_deref() == Some("success")).then_some(())
    });
    assert_eq!(ti_state(&d, "r2", "long").as_deref(), Some("success"));

    // Deleted with its logs.
    let logs = env.home().join("logs/dag_id=w/run_id=r1");
    assert!(logs.exists());
    let (status, body) = send(&d, "DELETE", "/api/v1/dags/w/dagRuns/r1", None);
    assert_eq!(status, 204, "{body}");
    assert_eq!(d.get("/api/v1/dags/w/dagRuns/r1").0, 404);
    assert!(!logs.exists());

    // Every action in the event log, as the API's (owner `api`).
    let (status, body) = d.get("/api/v1/eventLogs?dag_id=w&limit=100");
    assert_eq!(status, 200, "{body}");
    let events: Vec<(String, String)> = body["event_logs"]
        .as_array()
        .expect("event_logs")
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_owned(),
                e["run_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (event, run) in [
        ("api.post_dag_run", "r1"),
        ("api.update_dag_run_state", "r1"),
        ("api.set_dag_run_note", "r1"),
        ("api.patch_task_instance", "r2"),
        ("api.update_dag_run_state", "r2"),
        ("api.delete_dag_run", "r1"),
    ] {
        assert!(
            events.contains(&(event.to_owned(), run.to_owned())),
            "{event} {run} not in {events:?}"
        );
    }
}

/// One quick task.
const QUICK: &str = r#"
is_paused_upon_creation = false

[tasks.only]
type = "bash"
bash_command = "echo hi"
"#;

#[test]
fn what_the_cli_changes_on_the_store_is_logged_under_the_os_user() {
    let env = Env::new();
    env.write("q.toml", QUICK);
    let as_alice = |args: &[&str]| {
        let out = env
            .cmd(args)
            .env("USER", "alice")
            .output()
            .expect("the command runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // No scheduler runs: the CLI writes the store itself.
    as_alice(&["dags", "trigger", "q", "-r", "off1"]);
    as_alice(&["dags", "pause", "q"]);
    as_alice(&["dags", "unpause", "q"]);
    env.schedule_until_idle();
    as_alice(&[
        "tasks", "clear", "q", "-t", "only", "--run-id", "off1", "-y",
    ]);

    let d = env.start();
    let (status, body) = d.get("/api/v1/eventLogs?dag_id=q&limit=100");
    assert_eq!(status, 200, "{body}");
    let events: Vec<(String, String, String)> = body["event_logs"]
        .as_array()
        .expect("event_logs")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("event"), s("owner"), s("run_id"))
        })
        .collect();
    for (event, run) in [
        ("cli_dag_trigger", "off1"),
        ("cli_dag_pause", ""),
        ("cli_dag_unpause", ""),
        ("cli_task_clear", "off1"),
    ] {
        assert!(
            events.contains(&(event.to_owned(), "alice".to_owned(), run.to_owned())),
            "{event} by alice not in {events:?}"
        );
    }
}
