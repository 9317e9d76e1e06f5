//! Shared by the scheduler tests: a DAGs folder and a LITHOFLOW_HOME of their own, the
//! binary run on them, and a `lithoflow scheduler` in the background with raw HTTP
//! access to its API.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lithoflow_path;

/// A DAGs folder and a home, both temporary.
pub(crate) struct Env {
    pub(crate) dags: tempfile::TempDir,
    pub(crate) home: tempfile::TempDir,
}

impl Env {
    /// An empty DAGs folder.
    pub(crate) fn new() -> Env {
        Env {
            dags: tempfile::tempdir().expect("temp dir"),
            home: crate::private_home(),
        }
    }

    /// A DAGs folder holding a copy of the files of a fixture folder.
    pub(crate) fn with_fixtures(fixtures: &Path) -> Env {
        let env = Env::new();
        for entry in std::fs::read_dir(fixtures).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                let name = path.file_name().expect("a name");
                std::fs::copy(&path, env.dags.path().join(name)).expect("copy");
            }
        }
        env
    }

    /// The home.
    pub(crate) fn home(&self) -> &Path {
        self.home.path()
    }

    /// Writes a file into the DAGs folder whole (write, then rename), so a watching
    /// scheduler never reads half of it.
    pub(crate) fn write(&self, name: &str, text: &str) {
        let tmp = self.dags.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, self.dags.path().join(name)).expect("rename");
    }

    /// Writes `$LITHOFLOW_HOME/lithoflow.toml`.
    pub(crate) fn write_config(&self, text: &str) {
        std::fs::write(self.home().join("lithoflow.toml"), text).expect("write lithoflow.toml");
    }

    /// The binary on this folder and home.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
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

    /// Runs a command to completion: (exit code, stdout, stderr).
    pub(crate) fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).output().expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A command that must succeed; its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    }

    /// A command that must succeed and print JSON.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} prints JSON ({e}): {out}"))
    }

    /// `dags list-runs DAG -o json`.
    pub(crate) fn runs(&self, dag: &str) -> Vec<Value> {
        match self.json(&["dags", "list-runs", dag, "-o", "json"]) {
            Value::Array(a) => a,
            other => panic!("not a list: {other}"),
        }
    }

    /// A run's state, if it exists.
    pub(crate) fn run_state(&self, dag: &str, run: &str) -> Option<String> {
        self.runs(dag)
            .iter()
            .find(|r| r["run_id"] == run)
            .and_then(|r| r["state"].as_str().map(str::to_owned))
    }

    /// `scheduler --exit-when-idle` to completion; its stderr.
    pub(crate) fn schedule_until_idle(&self) -> String {
        let (code, _, err) = self.run(&["scheduler", "--exit-when-idle", "--api-port", "0"]);
        assert_eq!(code, 0, "{err}");
        err
    }

    /// A scheduler in the background (any free API port), its stderr in a file; returns
    /// once its API answers.
    pub(crate) fn start(&self) -> Daemon {
        let log = self.home().join("scheduler.log");
        let child = self
            .cmd(&["scheduler", "--api-port", "0", "--grace-period", "20"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("the scheduler starts");
        let mut d = Daemon {
            child,
            log,
            port: 0,
            token: String::new(),
        };
        let info = self.home().join("scheduler.json");
        let info: Value = wait_for("scheduler.json", Duration::from_secs(60), || {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("the scheduler exited with {status}: {}", d.log());
            }
            std::fs::read(&info)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        });
        d.port = u16::try_from(info["port"].as_u64().expect("a port")).expect("a u16");
        d.token = std::fs::read_to_string(self.home().join("api-token"))
            .expect("the token file")
            .trim()
            .to_owned();
        d
    }
}

/// A scheduler running in the background; killed if a test ends without stopping it.
pub(crate) struct Daemon {
    child: Child,
    log: PathBuf,
    /// Its API port.
    pub(crate) port: u16,
    /// Its API token.
    pub(crate) token: String,
}

impl Daemon {
    /// What it wrote to stderr.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A raw GET: the whole response, status line and headers included.
    pub(crate) fn raw_get(&self, path: &str, auth: Option<&str>) -> String {
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

    /// GET with the token: (status, JSON body or null).
    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        status_and_json(&self.raw_get(path, Some(&format!("Bearer {}", self.token))))
    }

    /// POST of a JSON body with the token: (status, JSON body or null).
    pub(crate) fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let body = body.to_string();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.token,
            body.len()
        )
        .expect("send");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read");
        status_and_json(&raw)
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (`kill -9`), and reaped.
    pub(crate) fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM; the exit code.
    pub(crate) fn terminate(&mut self) -> i32 {
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

/// A whole HTTP response's status, and its body as JSON (null when it is not JSON).
fn status_and_json(raw: &str) -> (u16, Value) {
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it gives a value; fails the test after `limit`.
pub(crate) fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
