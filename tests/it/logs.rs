//! A try's log while the try runs: what a call prints is in the log (through `tasks
//! logs` and the API, in Airflow's shape with its continuation token too) before the try
//! ends and exactly once after; a call killed by its `timeout` or the task's
//! `execution_timeout` keeps what it printed; `tasks logs -f` follows a try to its end.
//! The functions wait for marker files the tests create, never for a fixed time.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Daemon, Env, wait_for};

const FNS: &str = r#"
import os
import sys
import time

def _wait(marker):
    while not os.path.exists(marker):
        time.sleep(0.02)

def speak(marker):
    print("hello from the running task")
    print("a warning on stderr", file=sys.stderr)
    _wait(marker)
    print("done waiting")
    return 7

def shout(x):
    print("map call says", x)
    return x

def stuck(marker):
    print("printed before the timeout")
    _wait(marker)
    return 0
"#;

const LIMIT: Duration = Duration::from_secs(60);

fn env() -> Env {
    let env = Env::new();
    env.write("fns.py", FNS);
    env
}

/// A DAG whose `speak` task prints, then waits for `marker`; `shout` is a map after it.
fn speaking_dag(marker: &Path) -> String {
    format!(
        r#"
is_paused_upon_creation = false

[tasks.speak]
type = "call_async"
func = "fns:speak"
data = {{ marker = "{}" }}

[tasks.shout]
type = "map"
map_function = "fns:shout"
map_iterdata = [1, 2, 3]
upstream = ["speak"]
"#,
        marker.display()
    )
}

fn ti_state(daemon: &Daemon, dag: &str, run: &str, task: &str) -> String {
    let (_, body) = daemon.get(&format!(
        "/api/v1/dags/{dag}/dagRuns/{run}/taskInstances/{task}"
    ));
    body["state"].as_str().unwrap_or_default().to_owned()
}

/// A GET with the token and `Accept: application/json`: (status, JSON body).
fn get_json(daemon: &Daemon, path: &str) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", daemon.port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        daemon.token
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
    // A chunked body (axum's JSON is not, but be safe) would not parse: say so.
    let json = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    (status, json)
}

#[test]
fn a_running_tasks_output_is_in_its_log_before_it_ends_and_once_after() {
    let env = env();
    let marker = env.home().join("go");
    env.write("speaking.toml", &speaking_dag(&marker));
    let (code, _, err) = env.run(&["dags", "trigger", "speaking", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");
    let daemon = env.start();

    // Through the CLI (which goes through the API while the scheduler runs).
    // stdout and stderr are captured by separate readers: wait for both lines.
    let log = wait_for("the printed lines in `tasks logs`", LIMIT, || {
        let (code, out, _) = env.run(&["tasks", "logs", "speaking", "speak", "r1"]);
        (code == 0
            && out.contains("hello from the running task")
            && out.contains("a warning on stderr"))
        .then_some(out)
    });
    assert_eq!(
        ti_state(&daemon, "speaking", "r1", "speak"),
        "running",
        "{log}"
    );
    assert!(log.contains("--- call call 0 stdout ---"), "{log}");
    assert!(log.starts_with('['), "the header comes first: {log}");

    // Through the API in Airflow's shape: the content so far and a token for the rest.
    let route = "/api/v1/dags/speaking/dagRuns/r1/taskInstances/speak/logs/1";
    let (status, first) = get_json(&daemon, route);
    assert_eq!(status, 200, "{first}");
    let content = first["content"].as_str().expect("content");
    assert!(content.contains("hello from the running task"), "{first}");
    assert!(content.contains("a warning on stderr"), "{first}");
    let token = first["continuation_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let (status, same) = get_json(&daemon, &format!("{route}?token={token}"));
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["content"], "", "nothing new yet: {same}");
    assert_eq!(ti_state(&daemon, "speaking", "r1", "speak"), "running");

    std::fs::write(&marker, "").expect("the marker");
    wait_for("the run to succeed", LIMIT, || {
        let (_, run) = daemon.get("/api/v1/dags/speaking/dagRuns/r1");
        (run["state"] == "success").then_some(())
    });
    // The rest, from the token: what was printed after, and the end.
    let (status, rest) = get_json(&daemon, &format!("{route}?token={token}"));
    assert_eq!(status, 200, "{rest}");
    let rest_text = rest["content"].as_str().expect("content");
    assert!(rest_text.contains("done waiting"), "{rest}");
    assert!(!rest_text.contains("hello from the running task"), "{rest}");
    assert!(rest_text.contains("Returned value was: 7"), "{rest}");

    // The final log holds each call's output exactly once.
    let log = env.ok(&["tasks", "logs", "speaking", "speak", "r1"]);
    for line in [
        "hello from the running task",
        "a warning on stderr",
        "done waiting",
    ] {
        assert_eq!(log.matches(line).count(), 1, "{line:?} in {log}");
    }
    assert!(
        log.trim_end()
            .ends_with(&format!("state: success after {}", tail_of(&log))),
        "{log}"
    );
    let map_log = env.ok(&["tasks", "logs", "speaking", "shout", "r1"]);
    for i in 1..=3 {
        assert_eq!(
            map_log.matches(&format!("map call says {i}\n")).count(),
            1,
            "{map_log}"
        );
    }
    assert_eq!(map_log.matches("--- map call ").count(), 3, "{map_log}");
}

/// The duration at the end of a log's last line (`state: success after 1.234s`).
fn tail_of(log: &str) -> &str {
    log.trim_end().rsplit(' ').next().unwrap_or_default()
}

#[test]
fn the_continuation_token_is_checked_and_a_tampered_one_is_refused() {
    let env = env();
    let marker = env.home().join("go");
    std::fs::write(&marker, "").expect("the marker");
    env.write("speaking.toml", &speaking_dag(&marker));
    let (code, _, err) = env.run(&["dags", "trigger", "speaking", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");
    let daemon = env.start();
    wait_for("the run to succeed", LIMIT, || {
        let (_, run) = daemon.get("/api/v1/dags/speaking/dagRuns/r1");
        (run["state"] == "success").then_some(())
    });
    let route = "/api/v1/dags/speaking/dagRuns/r1/taskInstances/speak/logs/1";
    let (status, whole) = get_json(&daemon, route);
    assert_eq!(status, 200, "{whole}");
    let text = whole["content"].as_str().expect("content");
    assert_eq!(text, env.ok(&["tasks", "logs", "speaking", "speak", "r1"]));
    let token = whole["continuation_token"].as_str().expect("a token");
    // At the end: nothing more, and a token that still works.
    let (status, end) = get_json(&daemon, &format!("{route}?token={token}"));
    assert_eq!((status, &end["content"]), (200, &Value::from("")), "{end}");
    // Tampered with (a different offset, a changed signature), another log's, garbage.
    let (offset, mac) = token.split_once('.').expect("offset.signature");
    let flipped: String = mac
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == 'a' { 'b' } else { 'a' }
            } else {
                c
            }
        })
        .collect();
    let other_log = "/api/v1/dags/speaking/dagRuns/r1/taskInstances/shout/logs/1";
    for (path, bad) in [
        (route, format!("0.{mac}")),
        (route, format!("{offset}.{flipped}")),
        (other_log, token.to_owned()),
        (route, "garbage".to_owned()),
    ] {
        let (status, body) = get_json(&daemon, &format!("{path}?token={bad}"));
        assert_eq!(status, 400, "{path}?token={bad}: {body}");
        assert!(body.to_string().contains("Bad Signature"), "{body}");
    }
    // Without `Accept: application/json` (and with `offset`, as lithoflow's own clients
    // ask) the route answers plain text as before.
    let raw = daemon.raw_get(
        &format!("{route}?offset=0"),
        Some(&format!("Bearer {}", daemon.token)),
    );
    let lower = raw.to_ascii_lowercase();
    assert!(lower.contains("content-type: text/plain"), "{raw}");
    assert!(
        lower.contains(&format!("x-log-offset: {}", text.len())),
        "{raw}"
    );
    assert!(raw.ends_with(text), "{raw}");
}

#[test]
fn a_call_killed_by_its_timeout_or_the_execution_timeout_keeps_what_it_printed() {
    let env = env();
    // Never created: the calls wait until they are killed.
    let marker = env.home().join("never");
    env.write(
        "stuck.toml",
        &format!(
            r#"
is_paused_upon_creation = false

[tasks.per_call]
type = "call_async"
func = "fns:stuck"
data = {{ marker = "{m}" }}
timeout = 2

[tasks.per_try]
type = "call_async"
func = "fns:stuck"
data = {{ marker = "{m}" }}
execution_timeout = "2s"
"#,
            m = marker.display()
        ),
    );
    let (code, _, err) = env.run(&["dags", "trigger", "stuck", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");
    env.run(&["scheduler", "--exit-when-idle", "--api-port", "0"]);
    for task in ["per_call", "per_try"] {
        let log = env.ok(&["tasks", "logs", "stuck", task, "r1"]);
        assert_eq!(
            log.matches("printed before the timeout").count(),
            1,
            "{task}: {log}"
        );
        assert!(log.contains("state: failed"), "{task}: {log}");
    }
}

#[test]
fn tasks_logs_follow_prints_a_running_try_and_exits_with_its_outcome_when_it_ends() {
    let env = env();
    let marker = env.home().join("go");
    env.write("speaking.toml", &speaking_dag(&marker));
    let (code, _, err) = env.run(&["dags", "trigger", "speaking", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");
    let daemon = env.start();
    wait_for("the task to run", LIMIT, || {
        (ti_state(&daemon, "speaking", "r1", "speak") == "running").then_some(())
    });
    let mut follower = env
        .cmd(&["tasks", "logs", "speaking", "speak", "r1", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tasks logs -f starts");
    let stdout = follower.stdout.take().expect("its stdout");
    // Lines as they come, read on a thread so the test can wait on them.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("hello from the running task"))
    {
        let line = rx
            .recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("no printed line from -f: {seen:?}"));
        seen.push(line);
    }
    assert!(
        follower.try_wait().expect("try_wait").is_none(),
        "-f keeps following while the try runs: {seen:?}"
    );
    std::fs::write(&marker, "").expect("the marker");
    let status = wait_for("-f to exit", LIMIT, || {
        follower.try_wait().expect("try_wait")
    });
    reader.join().expect("the reader");
    seen.extend(rx.try_iter());
    let mut err = String::new();
    if let Some(mut e) = follower.stderr.take() {
        e.read_to_string(&mut err).expect("stderr");
    }
    assert_eq!(status.code(), Some(0), "{seen:?} {err}");
    let text = seen.join("\n");
    assert_eq!(
        text.matches("hello from the running task").count(),
        1,
        "{text}"
    );
    assert!(text.contains("done waiting"), "{text}");
    assert!(text.contains("state: success"), "{text}");
}

/// The executor's side: what a local call prints reaches the job's sink while the call
/// runs, each piece once, in order; a call that prints nothing sends nothing; and the
/// calls' records still hold their whole output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_streams_a_local_calls_output_to_the_sink_while_it_runs() {
    use lithoflow_executor::{
        CallOptions, Chunking, ExecutorSettings, FunctionExecutor, FunctionRef, JobKind, MapJob,
        OutputSink, OutputStream,
    };
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fns.py"), FNS).expect("fns.py");
    std::fs::write(
        dir.path().join("quiet.py"),
        "def nothing(x):\n    return x\n",
    )
    .expect("quiet.py");
    let exec = FunctionExecutor::new(ExecutorSettings {
        python: "python3".into(),
        worker_processes: 2,
        storage_root: dir.path().join("storage"),
        default_timeout: Duration::from_secs(60),
        default_memory: None,
        invoke_pool_threads: 8,
    });
    /// (phase, index, stream, text) of each piece the sink was handed.
    type Seen = Vec<(&'static str, usize, OutputStream, String)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let sink = {
        let seen = Arc::clone(&seen);
        OutputSink::new(move |o| {
            seen.lock().expect("not poisoned").push((
                o.phase,
                o.index,
                o.stream,
                o.text.to_owned(),
            ));
        })
    };
    let options = || CallOptions {
        sys_path: vec![dir.path().to_path_buf()],
        base_dir: dir.path().to_path_buf(),
        output: Some(sink.clone()),
        ..CallOptions::default()
    };

    // A call that prints, then waits: its first line arrives before it ends.
    let marker = dir.path().join("go");
    let job = exec.submit(lithoflow_executor::JobSpec {
        job_key: "logs/speak/1".to_owned(),
        kind: JobKind::CallAsync {
            func: FunctionRef {
                module: "fns".to_owned(),
                function: "speak".to_owned(),
            },
            data: serde_json::json!({ "marker": marker.display().to_string() }),
        },
        options: options(),
    });
    let deadline = std::time::Instant::now() + LIMIT;
    while !seen
        .lock()
        .expect("not poisoned")
        .iter()
        .any(|(_, _, _, t)| t.contains("hello from the running task"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no output while the call runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::write(&marker, "").expect("the marker");
    let outcome = job.wait().await;
    assert_eq!(outcome.result.as_ref().ok(), Some(&Value::from(7)));
    let record = outcome.calls.get(0).expect("one record");
    assert_eq!(record.stdout, "hello from the running task\ndone waiting\n");
    assert_eq!(record.stderr, "a warning on stderr\n");
    let streamed: String = seen
        .lock()
        .expect("not poisoned")
        .iter()
        .filter(|(phase, index, stream, _)| {
            (*phase, *index, *stream) == ("call", 0, OutputStream::Stdout)
        })
        .map(|(_, _, _, t)| t.as_str())
        .collect();
    assert_eq!(streamed, record.stdout, "each piece once, in order");

    // A map of calls that print nothing hands the sink nothing.
    seen.lock().expect("not poisoned").clear();
    let quiet = exec.submit(lithoflow_executor::JobSpec {
        job_key: "logs/quiet/1".to_owned(),
        kind: JobKind::Map(MapJob {
            func: FunctionRef {
                module: "quiet".to_owned(),
                function: "nothing".to_owned(),
            },
            iterdata: (0..200).map(Value::from).collect(),
            extra: None,
            chunking: Chunking::Whole,
        }),
        options: options(),
    });
    let outcome = quiet.wait().await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert!(seen.lock().expect("not poisoned").is_empty());
    exec.shutdown();
}
