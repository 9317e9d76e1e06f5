//! The warm pool of loader processes: `python3 -u <compat>/lithoflow_loader.py`, each
//! with a cleared environment (no scheduler secrets), the DAGs folder as its working
//! folder and its own process group. One request at a time per process (the loader forks
//! a child per file, so a hostile file never harms the process itself); a process that
//! dies, or answers nothing within the backstop time, is killed and replaced. The
//! protocol is one JSON object per line (docs/airflow-runtime.md, "The loader pool").
//!
//! Blocking on purpose: a DagBag loads on plain threads (`std::thread::scope`), each
//! caller waiting for an idle process, so every process stays busy while the callers'
//! threads turn answers into DAGs.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use lithoflow_dag::template_values::Lookup;

/// Airflow's `[core] dagbag_import_timeout`: how long one file may take to import.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The address-space limit of the process importing one file, MB.
pub(crate) const DEFAULT_MEMORY_MB: u64 = 2048;

/// How long a loader process may take to start and say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The most time past a file's own limit after which a silent loader process is killed
/// (the loader enforces the limit itself; this is for a loader that hangs): half the
/// limit, at most this.
const BACKSTOP_GRACE: Duration = Duration::from_secs(15);

/// The environment variables a loader process keeps; everything else (credentials,
/// `LITHOFLOW_*`, `AIRFLOW_*`, `PYTHONPATH`) is cleared.
const KEPT_ENV: &[&str] = &["PATH", "HOME", "LANG", "TZ", "TMPDIR"];

/// The bytes of a loader's stderr kept to explain a failed start.
const STDERR_TAIL: usize = 4096;

/// How a pool's processes are started and what each request asks for.
#[derive(Debug, Clone)]
pub(crate) struct LoaderConfig {
    /// The Python interpreter.
    pub(crate) python: String,
    /// Where the compatibility package (with the loader script) is.
    pub(crate) compat: Compat,
    /// The DAGs folder (the processes' working folder; on the loaded files' `sys.path`).
    pub(crate) dags_folder: PathBuf,
    /// How many processes at most.
    pub(crate) processes: usize,
    /// `[airflow] default_version`: the Airflow version of files that do not import
    /// Airflow 3's modules.
    pub(crate) default_version: u8,
    /// The time limit per file.
    pub(crate) timeout: Duration,
    /// The memory limit per file, MB.
    pub(crate) memory_mb: u64,
}

/// Where a pool finds the compatibility package.
#[derive(Debug, Clone)]
pub(crate) enum Compat {
    /// The embedded package, installed under this folder when a process first starts
    /// (`lithoflow_executor::compat::install`; `$LITHOFLOW_HOME/python`).
    Embedded(PathBuf),
    /// A folder holding `lithoflow_loader.py` (the tests' stand-in loader).
    #[cfg(test)]
    Folder(PathBuf),
}

impl Compat {
    /// The package's folder, installed now if it is the embedded one.
    pub(crate) fn folder(&self) -> std::io::Result<PathBuf> {
        match self {
            Compat::Embedded(base) => lithoflow_executor::compat::install(base),
            #[cfg(test)]
            Compat::Folder(f) => Ok(f.clone()),
        }
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LoaderError {
    /// The process could not be started or did not become ready.
    #[error("cannot start a DAG-file loader process ({python}): {reason}")]
    Start {
        /// The interpreter.
        python: String,
        /// What went wrong (with the end of its stderr).
        reason: String,
    },
    /// The process died (or closed its output) while it handled the request.
    #[error("the DAG-file loader process died while loading the file")]
    Died,
    /// The process answered nothing within the backstop time and was killed.
    #[error("the DAG-file loader process did not answer within {0:?} and was killed")]
    Hung(Duration),
    /// The process wrote something that is not the protocol.
    #[error("the DAG-file loader process broke the protocol: {0}")]
    Protocol(String),
}

/// The pool. Processes start when first needed; dropping the pool kills them.
pub(crate) struct LoaderPool {
    config: LoaderConfig,
    lookup: Arc<dyn Lookup>,
    state: Mutex<Slots>,
    freed: Condvar,
}

struct Slots {
    idle: Vec<Loader>,
    /// Processes that may still be started.
    free: usize,
    next_id: u64,
}

impl std::fmt::Debug for LoaderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoaderPool")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LoaderPool {
    /// A pool of at most `config.processes` processes whose parse-time variable and
    /// connection lookups `lookup` answers.
    pub(crate) fn new(config: LoaderConfig, lookup: Arc<dyn Lookup>) -> LoaderPool {
        let free = config.processes.max(1);
        LoaderPool {
            config,
            lookup,
            state: Mutex::new(Slots {
                idle: Vec::new(),
                free,
                next_id: 1,
            }),
            freed: Condvar::new(),
        }
    }

    /// The pool's settings.
    pub(crate) fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Loads one file: the loader's `result` object. A process that dies while loading is
    /// replaced and the file tried once more on a fresh one (the death may have been
    /// another cause's); a second death is the file's error.
    pub(crate) fn load(&self, path: &Path) -> Result<Value, LoaderError> {
        // The loader runs in the DAGs folder: a relative path would mean another file there.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        match self.load_once(&path) {
            Err(LoaderError::Died) => self.load_once(&path),
            other => other,
        }
    }

    fn load_once(&self, path: &Path) -> Result<Value, LoaderError> {
        let (mut loader, id) = self.acquire()?;
        let request = json!({
            "id": id,
            "op": "load",
            "path": path,
            "dags_folder": self.config.dags_folder,
            "default_version": self.config.default_version,
            "timeout_s": self.config.timeout.as_secs_f64(),
            "memory_mb": self.config.memory_mb,
        });
        let backstop = self.config.timeout + (self.config.timeout / 2).min(BACKSTOP_GRACE);
        let answer = loader.request(&request, id, backstop, &*self.lookup);
        match answer {
            Ok(v) => {
                self.release(Some(loader));
                Ok(v)
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), "{e}; the loader process is replaced");
                drop(loader);
                self.release(None);
                Err(e)
            }
        }
    }

    /// An idle process, started now if none is idle and the pool has room, else the
    /// first one freed; and the request id to use.
    fn acquire(&self) -> Result<(Loader, u64), LoaderError> {
        let mut slots = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let id = slots.next_id;
            slots.next_id += 1;
            if let Some(l) = slots.idle.pop() {
                return Ok((l, id));
            }
            if slots.free > 0 {
                slots.free -= 1;
                drop(slots);
                return match Loader::start(&self.config) {
                    Ok(l) => Ok((l, id)),
                    Err(e) => {
                        self.release(None);
                        Err(e)
                    }
                };
            }
            slots = self
                .freed
                .wait(slots)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Gives a process back (None: it was killed, its slot is free again).
    fn release(&self, loader: Option<Loader>) {
        let mut slots = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match loader {
            Some(l) => slots.idle.push(l),
            None => slots.free += 1,
        }
        drop(slots);
        self.freed.notify_one();
    }
}

/// What the reader thread passes on: a line, or the end of the output.
type Line = Option<String>;

/// One loader process.
struct Loader {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Line>,
    stderr_tail: Arc<Mutex<VecDeque<u8>>>,
}

impl Loader {
    fn start(config: &LoaderConfig) -> Result<Loader, LoaderError> {
        use std::os::unix::process::CommandExt as _;
        let fail = |reason: String| LoaderError::Start {
            python: config.python.clone(),
            reason,
        };
        let compat = config.compat.folder().map_err(|e| {
            fail(format!(
                "cannot install the Airflow compatibility package: {e}"
            ))
        })?;
        let script = compat.join(lithoflow_executor::compat::LOADER_SCRIPT);
        let mut cmd = Command::new(&config.python);
        cmd.arg("-u")
            .arg(&script)
            .current_dir(&config.dags_folder)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (name, value) in std::env::vars_os() {
            let n = name.to_string_lossy();
            if KEPT_ENV.contains(&n.as_ref()) || n.starts_with("LC_") {
                cmd.env(&name, value);
            }
        }
        let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            kill_group(&mut child);
            return Err(fail("its pipes could not be opened".to_owned()));
        };
        let (tx, lines) = sync_channel::<Line>(64);
        std::thread::Builder::new()
            .name("loader-out".to_owned())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => {
                            let _ = tx.send(None);
                            return;
                        }
                        Ok(_) => {
                            if tx.send(Some(line)).is_err() {
                                return;
                            }
                        }
                    }
                }
            })
            .map_err(|e| fail(e.to_string()))?;
        // Drained always (a full pipe would block the loader); only its end is kept,
        // and shown only when the process fails to start: what a file prints is never
        // logged.
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr_tail);
        std::thread::Builder::new()
            .name("loader-err".to_owned())
            .spawn(move || {
                let mut stderr = stderr;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let mut t = tail.lock().unwrap_or_else(PoisonError::into_inner);
                    t.extend(&buf[..n]);
                    let over = t.len().saturating_sub(STDERR_TAIL);
                    t.drain(..over);
                }
            })
            .map_err(|e| fail(e.to_string()))?;
        let mut loader = Loader {
            child,
            stdin,
            lines,
            stderr_tail,
        };
        match loader.next_message(Instant::now() + START_TIMEOUT) {
            Ok(m) if m.get("op").and_then(Value::as_str) == Some("ready") => Ok(loader),
            Ok(m) => Err(fail(format!(
                "it said {} instead of being ready",
                short(&m.to_string())
            ))),
            Err(e) => {
                // Its stderr closes when it exits; wait briefly for the reason.
                let _ = loader.child.wait();
                let tail = loader.stderr_text();
                Err(fail(if tail.is_empty() {
                    e.to_string()
                } else {
                    format!("{e}: {tail}")
                }))
            }
        }
    }

    fn stderr_text(&self) -> String {
        // The drain thread may still be copying the last bytes.
        std::thread::sleep(Duration::from_millis(20));
        let t = self
            .stderr_tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (a, b) = t.as_slices();
        let mut bytes = a.to_vec();
        bytes.extend_from_slice(b);
        String::from_utf8_lossy(&bytes).trim().to_owned()
    }

    /// Sends one request and answers the loader's lookups until its result comes.
    fn request(
        &mut self,
        request: &Value,
        id: u64,
        backstop: Duration,
        lookup: &dyn Lookup,
    ) -> Result<Value, LoaderError> {
        let deadline = Instant::now() + backstop;
        self.send(request)?;
        loop {
            let m = self.next_message(deadline).map_err(|e| match e {
                LoaderError::Hung(_) => LoaderError::Hung(backstop),
                other => other,
            })?;
            if m.get("id").and_then(Value::as_u64) != Some(id) {
                return Err(LoaderError::Protocol(format!(
                    "an answer for another request: {}",
                    short(&m.to_string())
                )));
            }
            match m.get("op").and_then(Value::as_str) {
                Some("result") => return Ok(m),
                Some("lookup") => {
                    let mut answer = answer_lookup(&m, lookup);
                    answer["id"] = json!(id);
                    answer["op"] = json!("answer");
                    self.send(&answer)?;
                }
                _ => {
                    return Err(LoaderError::Protocol(format!(
                        "an unknown message: {}",
                        short(&m.to_string())
                    )));
                }
            }
        }
    }

    fn send(&mut self, message: &Value) -> Result<(), LoaderError> {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|_| LoaderError::Died)
    }

    /// The next protocol message, before `deadline`.
    fn next_message(&mut self, deadline: Instant) -> Result<Value, LoaderError> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(Some(line)) => serde_json::from_str(line.trim_end())
                .map_err(|e| LoaderError::Protocol(format!("{e} in {}", short(line.trim_end())))),
            Ok(None) | Err(RecvTimeoutError::Disconnected) => Err(LoaderError::Died),
            Err(RecvTimeoutError::Timeout) => Err(LoaderError::Hung(wait)),
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Kills a loader and every process it forked (its own process group), and reaps it.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The answer to a `lookup` message: `{"found": true, "value": ...}` or `{"found": false}`.
/// A store that cannot be read answers "not found" (the file then raises as Airflow's
/// `Variable.get` does), and the reason is logged without the key's value.
fn answer_lookup(m: &Value, lookup: &dyn Lookup) -> Value {
    let key = m.get("key").and_then(Value::as_str).unwrap_or_default();
    let what = m.get("what").and_then(Value::as_str).unwrap_or_default();
    let found = match what {
        "variable" => lookup.variable(key).map(|v| v.map(Value::String)),
        "connection" => lookup.connection(key),
        other => Err(format!("unknown lookup `{other}`")),
    };
    match found {
        Ok(Some(value)) => json!({"found": true, "value": value}),
        Ok(None) => json!({"found": false}),
        Err(e) => {
            tracing::warn!("a DAG file's parse-time {what} lookup of `{key}` failed: {e}");
            json!({"found": false})
        }
    }
}

/// A message cut for an error text.
fn short(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}
