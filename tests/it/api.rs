//! The scheduler's local API end to end: a real `lithoflow scheduler` holds the store,
//! and the CLI's run commands go through its API (with the token) while it runs; the
//! event stream shows the runs' state changes; SIGTERM ends it with exit code 0.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lithoflow_scheduler::client::{Client, SseMessage};
use serde_json::Value;

use crate::{lithoflow_path, repo_root};

/// A DAGs folder with the API fixtures, and a home.
struct Env {
    dags: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dags: tempfile::tempdir().expect("temp dir"),
            home: tempfile::tempdir().expect("temp dir"),
        };
        let fixtures = repo_root().join("tests/fixtures/api");
        for entry in std::fs::read_dir(&fixtures).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                let name = path.file_name().expect("a name");
                std::fs::copy(&path, env.dags.path().join(name)).expect("copy");
            }
        }
        env
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(lithoflow_path());
        cmd.arg("--dags-folder")
            .arg(self.dags.path())
            .args(args)
            .env("LITHOFLOW_HOME", self.home())
            .env_remove("LITHOFLOW_DAGS_FOLDER")
            .env_remove("RUST_LOG")
            .env_remove("LITHOFLOW_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).output().expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} prints JSON ({e}): {out}"))
    }

    fn run_state(&self, dag: &str, run: &str) -> Option<String> {
        let runs = self.json(&["dags", "list-runs", dag, "-o", "json"]);
        runs.as_array()?
            .iter()
            .find(|r| r["run_id"] == run)
            .and_then(|r| r["state"].as_str().map(str::to_owned))
    }

    fn start(&self) -> Scheduler {
        let log = self.home().join("scheduler.log");
        let child = self
            .cmd(&["scheduler", "--api-port", "0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("the scheduler starts");
        let mut s = Scheduler {
            child,
            log,
            port: 0,
        };
        let info = self.home().join("scheduler.json");
        wait_for("scheduler.json", Duration::from_secs(60), || {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("the scheduler exited with {status}: {}", s.log());
            }
            std::fs::read(&info)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        });
        let info: Value = serde_json::from_slice(&std::fs::read(&info).expect("read"))
            .expect("scheduler.json is JSON");
        s.port = u16::try_from(info["port"].as_u64().expect("a port")).expect("a u16");
        s
    }
}

struct Scheduler {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Scheduler {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A raw GET without the client: the status line and headers.
    fn raw_get(&self, path: &str, auth: Option<&str>) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
        )
        .expect("send");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read");
        raw
    }

    /// SIGTERM; the exit code.
    fn terminate(&mut self) -> i32 {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn cli_commands_go_through_the_api_while_the_scheduler_holds_the_store() {
    let env = Env::new();
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
    let env = Env::new();
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
