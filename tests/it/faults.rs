//! The fault matrix (docs/fault-matrix.md): each fault injected for real through a whole
//! DAG run of the built binary, and its outcome checked: the task's state and error, the
//! tries used, the downstream tasks, a log per try, and that no call was lost or run
//! twice.
//!
//! The fault functions (`tests/fixtures/faults/faultfns.py`) append one line per
//! execution to `<marks>/calls.log` (`task try call start|end pid`), so a test counts how
//! many times each call really ran, in which try and on which worker process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fault_proxy::FaultProxy;
use crate::{lithoflow, lithoflow_path, repo_root};

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/faults")
}

/// The longest any command here may take: a hang fails the test instead of blocking it.
const DEADLINE: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------
// Running DAGs
// ---------------------------------------------------------------------------------------

/// A home and a marks folder of a test's own.
struct Case {
    home: tempfile::TempDir,
    marks: tempfile::TempDir,
    /// The runs' `--conf`: `dir`, the marks folder, and what a test adds.
    conf: serde_json::Map<String, Value>,
}

impl Case {
    fn new() -> Case {
        Case::with_home(crate::private_home())
    }

    fn with_home(home: tempfile::TempDir) -> Case {
        let marks = tempfile::tempdir().expect("temp dir");
        let mut conf = serde_json::Map::new();
        conf.insert("dir".to_owned(), json!(marks.path()));
        Case { home, marks, conf }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    /// `--conf` giving the fault functions the marks folder.
    fn conf(&self) -> String {
        Value::Object(self.conf.clone()).to_string()
    }

    /// `dags test DAG -o json` on the fault fixtures, to the end.
    fn dags_test(&self, dag: &str) -> Run {
        self.dags_test_in(&fixtures(), dag, &[])
    }

    fn dags_test_in(&self, dags: &Path, dag: &str, envs: &[(&str, String)]) -> Run {
        let out = lithoflow()
            .env("LITHOFLOW_HOME", self.home())
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("--dags-folder")
            .arg(dags)
            .args(["dags", "test", dag, "--conf", &self.conf(), "-o", "json"])
            .timeout(DEADLINE)
            .output()
            .expect("lithoflow runs");
        Run::parse(
            dag,
            out.status.code(),
            &out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The command `dags test DAG -o json` on this home.
    fn dags_test_command(&self, dags: &Path, dag: &str) -> Command {
        let mut cmd = Command::new(lithoflow_path());
        cmd.env("LITHOFLOW_HOME", self.home())
            .env_remove("LITHOFLOW_DAGS_FOLDER")
            .env_remove("RUST_LOG")
            .env_remove("LITHOFLOW_LOG")
            .arg("--dags-folder")
            .arg(dags)
            .args(["dags", "test", dag, "--conf", &self.conf(), "-o", "json"]);
        cmd
    }

    /// `dags test DAG -o json` in the background, its output in files under the marks
    /// folder.
    fn spawn_dags_test(&self, dags: &Path, dag: &str, envs: &[(&str, String)]) -> Background {
        let stdout = self.marks.path().join(format!("{dag}.stdout"));
        let stderr = self.marks.path().join(format!("{dag}.stderr"));
        let child = self
            .dags_test_command(dags, dag)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("lithoflow starts");
        Background {
            child,
            dag: dag.to_owned(),
            stdout,
            stderr,
        }
    }

    /// Another command of the binary on this home and the fault fixtures, which must
    /// succeed and print JSON.
    fn cli_json(&self, args: &[&str]) -> Value {
        let out = lithoflow()
            .env("LITHOFLOW_HOME", self.home())
            .arg("--dags-folder")
            .arg(fixtures())
            .args(args)
            .timeout(DEADLINE)
            .output()
            .expect("lithoflow runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} prints JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Every execution the fault functions recorded.
    fn marks(&self) -> Marks {
        Marks::read(self.marks.path())
    }

    /// The folder of one try's job data (`status.json`, `results.json`) in the local
    /// storage.
    fn job_dir(&self, run: &Run, task: &str, attempt: u32) -> PathBuf {
        self.home()
            .join("storage/lithoflow.jobs")
            .join(&run.dag)
            .join(run.run_id())
            .join(task)
            .join(attempt.to_string())
    }

    /// One try's `results.json`: each call's result or error, by call index.
    fn results(&self, run: &Run, task: &str, attempt: u32) -> Vec<Value> {
        let path = self.job_dir(run, task, attempt).join("results.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()));
        match serde_json::from_str(&text).expect("results.json is JSON") {
            Value::Array(a) => a,
            other => panic!("results.json is a list: {other}"),
        }
    }

    /// The log of one try of a task.
    fn log(&self, run: &Run, task: &str, attempt: u32) -> String {
        let path = self.log_path(run, task, attempt);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()))
    }

    fn log_path(&self, run: &Run, task: &str, attempt: u32) -> PathBuf {
        self.home()
            .join("logs")
            .join(format!("dag_id={}", run.dag))
            .join(format!("run_id={}", run.run_id()))
            .join(format!("task_id={task}"))
            .join(format!("attempt={attempt}.log"))
    }

    /// Asserts that a task has exactly one log per try, `tries` in all, each naming its
    /// try and ending in the state that try left.
    fn expect_logs(&self, run: &Run, task: &str, tries: u32, last_state: &str) {
        for attempt in 1..=tries {
            let log = self.log(run, task, attempt);
            assert!(
                log.contains(&format!(" try {attempt}/")),
                "try {attempt} of {task}: {log}"
            );
            let state = if attempt < tries {
                "up_for_retry"
            } else {
                last_state
            };
            assert!(
                log.contains(&format!("state: {state} after")),
                "try {attempt} of {task} ends {state}: {log}"
            );
        }
        let next = self.log_path(run, task, tries + 1);
        assert!(!next.exists(), "no try {} of {task}", tries + 1);
    }
}

/// A `dags test` running in the background.
struct Background {
    child: Child,
    dag: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for the end (within the deadline; killed after it).
    fn finish(mut self) -> Run {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("dags test {} hung:\n{}", self.dag, self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stdout = std::fs::read(&self.stdout).unwrap_or_default();
        Run::parse(&self.dag, status.code(), &stdout, self.stderr())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A finished `dags test -o json`.
struct Run {
    dag: String,
    doc: Value,
    stderr: String,
}

impl Run {
    fn parse(dag: &str, code: Option<i32>, stdout: &[u8], stderr: String) -> Run {
        assert!(
            !stderr.contains("panicked at"),
            "dags test {dag} panicked:\n{stderr}"
        );
        let doc: Value = serde_json::from_slice(stdout).unwrap_or_else(|e| {
            panic!(
                "dags test {dag} (exit {code:?}) prints JSON ({e}): {}\nstderr:\n{stderr}",
                String::from_utf8_lossy(stdout)
            )
        });
        let succeeded = doc["state"] == "success";
        assert_eq!(
            code,
            Some(if succeeded { 0 } else { 1 }),
            "the exit code follows the run's state: {doc}\n{stderr}"
        );
        Run {
            dag: dag.to_owned(),
            doc,
            stderr,
        }
    }

    fn state(&self) -> &str {
        self.doc["state"].as_str().expect("a run state")
    }

    fn run_id(&self) -> &str {
        self.doc["run_id"].as_str().expect("a run id")
    }

    fn task(&self, task: &str) -> &Value {
        self.doc["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["task_id"] == task)
            .unwrap_or_else(|| panic!("no task {task} in {}", self.doc))
    }

    /// Asserts a task's state and try number; returns the task.
    fn expect(&self, task: &str, state: &str, try_number: u64) -> &Value {
        let t = self.task(task);
        assert_eq!(
            (t["state"].as_str(), t["try_number"].as_u64()),
            (Some(state), Some(try_number)),
            "{task}: {}\nstderr:\n{}",
            self.doc,
            self.stderr
        );
        t
    }

    fn error(&self, task: &str) -> &str {
        self.task(task)["error"].as_str().unwrap_or_default()
    }

    fn value(&self, task: &str) -> &Value {
        &self.task(task)["return_value"]
    }
}

// ---------------------------------------------------------------------------------------
// Counting executions
// ---------------------------------------------------------------------------------------

/// One recorded event of one execution.
#[derive(Debug, Clone)]
struct Mark {
    task: String,
    try_number: u32,
    call: usize,
    event: String,
    pid: i32,
}

/// Everything the fault functions recorded.
#[derive(Debug)]
struct Marks(Vec<Mark>);

impl Marks {
    fn read(dir: &Path) -> Marks {
        let text = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
        Marks(
            text.lines()
                .map(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    assert_eq!(f.len(), 5, "a whole mark line: {l:?}");
                    Mark {
                        task: f[0].to_owned(),
                        try_number: f[1].parse().expect("a try number"),
                        call: f[2].parse().expect("a call index"),
                        event: f[3].to_owned(),
                        pid: f[4].parse().expect("a pid"),
                    }
                })
                .collect(),
        )
    }

    /// Per call of one try of a task: (starts, ends).
    fn calls(&self, task: &str, try_number: u32) -> BTreeMap<usize, (usize, usize)> {
        let mut out: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for m in self
            .0
            .iter()
            .filter(|m| m.task == task && m.try_number == try_number)
        {
            let e = out.entry(m.call).or_default();
            match m.event.as_str() {
                "start" => e.0 += 1,
                "end" => e.1 += 1,
                other => panic!("unknown event {other}"),
            }
        }
        out
    }

    /// Asserts exactly which calls of a try ran and how often: (call, starts, ends).
    fn expect(&self, task: &str, try_number: u32, calls: &[(usize, usize, usize)]) {
        let want: BTreeMap<usize, (usize, usize)> =
            calls.iter().map(|&(c, s, e)| (c, (s, e))).collect();
        assert_eq!(
            self.calls(task, try_number),
            want,
            "{task} try {try_number}: (call -> (starts, ends)) in {:#?}",
            self.0
        );
    }

    /// Asserts that a try ran every one of `n` calls exactly once to its end: nothing
    /// lost, nothing run twice.
    fn expect_all_once(&self, task: &str, try_number: u32, n: usize) {
        let all: Vec<(usize, usize, usize)> = (0..n).map(|c| (c, 1, 1)).collect();
        self.expect(task, try_number, &all);
    }

    /// Asserts that no call of a try started or ended more than once.
    fn expect_at_most_once(&self, task: &str, try_number: u32) {
        for (call, (starts, ends)) in self.calls(task, try_number) {
            assert!(
                starts <= 1 && ends <= starts,
                "{task} try {try_number} call {call} ran {starts} times ({ends} ends): {:#?}",
                self.0
            );
        }
    }

    /// The worker process that ran a call of a try.
    fn pid(&self, task: &str, try_number: u32, call: usize) -> i32 {
        self.0
            .iter()
            .find(|m| m.task == task && m.try_number == try_number && m.call == call)
            .map(|m| m.pid)
            .unwrap_or_else(|| panic!("{task} try {try_number} call {call} never started"))
    }

    /// The tries of a task that recorded anything.
    fn tries(&self, task: &str) -> Vec<u32> {
        let mut t: Vec<u32> = self
            .0
            .iter()
            .filter(|m| m.task == task)
            .map(|m| m.try_number)
            .collect();
        t.dedup();
        t.sort_unstable();
        t.dedup();
        t
    }
}

/// Whether a process is alive: it has a /proc entry and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        // `pid (comm) S ...`: the state follows the last `)`.
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Asserts that every successful call of a try has its result in the try's
/// `results.json`: a failure elsewhere in the map loses no finished call.
fn expect_results_kept(
    case: &Case,
    run: &Run,
    task: &str,
    attempt: u32,
    value: impl Fn(usize) -> Value,
) {
    let results = case.results(run, task, attempt);
    for (call, (_, ends)) in case.marks().calls(task, attempt) {
        if ends == 1 {
            let r = results
                .iter()
                .find(|r| r["phase"] == "map" && r["index"] == call)
                .unwrap_or_else(|| panic!("call {call} of {task} try {attempt} in {results:#?}"));
            assert_eq!(r["result"], value(call), "call {call}: {r}");
            assert!(r["error"].is_null(), "call {call}: {r}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. The function raises
// ---------------------------------------------------------------------------------------

#[test]
fn a_raising_call_fails_its_task_after_its_retries_and_a_first_try_fault_recovers() {
    let case = Case::new();
    let run = case.dags_test("raises");
    assert_eq!(run.state(), "failed", "{}", run.doc);

    // `always`: call 2 raises on each of 1 + 2 tries.
    run.expect("always", "failed", 3);
    let error = run.error("always");
    let faultfns = fixtures().join("faultfns.py");
    assert!(
        error.starts_with("call 2 raised ValueError: call 2 got the bad value 2\nTraceback (most recent call last):\n"),
        "{error}"
    );
    assert!(
        error.contains(&format!("File \"{}\", line ", faultfns.display()))
            && error.contains(", in raises\n")
            && error.ends_with("ValueError: call 2 got the bad value 2"),
        "the traceback reaches into the user's function: {error}"
    );
    run.expect("after_always", "upstream_failed", 0);
    assert!(run.value("after_always").is_null());
    case.expect_logs(&run, "always", 3, "failed");
    for attempt in 1..=3 {
        assert!(
            case.log(&run, "always", attempt)
                .contains("Task failed: call 2 raised ValueError: call 2 got the bad value 2"),
            "try {attempt}"
        );
        // One call at a time: 0 and 1 finish, 2 raises, 3 never starts.
        case.marks()
            .expect("always", attempt, &[(0, 1, 1), (1, 1, 1), (2, 1, 0)]);
        expect_results_kept(&case, &run, "always", attempt, |c| json!(c * 10));
    }
    assert_eq!(case.marks().tries("always"), [1, 2, 3]);

    // `once`: call 2 raises on its first execution only; try 2 runs every call once.
    run.expect("once", "success", 2);
    assert!(
        run.task("once")["error"].is_null(),
        "success clears the error"
    );
    assert_eq!(run.value("once"), &json!([0, 10, 20, 30]));
    run.expect("after_once", "success", 1);
    assert_eq!(
        run.value("after_once"),
        &json!(60),
        "the XCom downstream is whole"
    );
    case.expect_logs(&run, "once", 2, "success");
    let marks = case.marks();
    marks.expect("once", 1, &[(0, 1, 1), (1, 1, 1), (2, 1, 0)]);
    marks.expect_all_once("once", 2, 4);
    assert!(
        case.log(&run, "once", 2)
            .contains("Done. Returned value was: [0,10,20,30]"),
        "{}",
        case.log(&run, "once", 2)
    );
}

// ---------------------------------------------------------------------------------------
// 2. The function hangs
// ---------------------------------------------------------------------------------------

#[test]
fn a_call_past_its_timeout_fails_naming_the_limit_and_its_hung_worker_is_gone() {
    // The probe sees a live process (this one): a dead worker below is really dead.
    assert!(alive(i32::try_from(std::process::id()).expect("a pid")));
    let case = Case::new();
    let run = case.dags_test("timeout_call");
    assert_eq!(run.state(), "failed", "{}", run.doc);
    run.expect("per_call", "failed", 2);
    assert_eq!(
        run.error("per_call"),
        "call 1 failed: the call exceeded its timeout of 2s; its worker was killed and replaced"
    );
    run.expect("after_per_call", "upstream_failed", 0);
    case.expect_logs(&run, "per_call", 2, "failed");
    let marks = case.marks();
    for attempt in 1..=2 {
        assert!(
            case.log(&run, "per_call", attempt)
                .contains("the call exceeded its timeout of 2s"),
            "try {attempt}"
        );
        // Call 0 finished, call 1 hung, call 2 never started (one call at a time).
        marks.expect("per_call", attempt, &[(0, 1, 1), (1, 1, 0)]);
        let hung = marks.pid("per_call", attempt, 1);
        assert!(
            !alive(hung),
            "the hung worker {hung} of try {attempt} is gone"
        );
        expect_results_kept(&case, &run, "per_call", attempt, |c| json!(c * 10));
    }
    assert_ne!(
        marks.pid("per_call", 1, 1),
        marks.pid("per_call", 2, 1),
        "try 2 ran on a replacement worker"
    );
}

#[test]
fn a_task_past_its_execution_timeout_fails_naming_the_limit_and_its_worker_is_gone() {
    let case = Case::new();
    let run = case.dags_test("timeout_task");
    assert_eq!(run.state(), "failed", "{}", run.doc);
    run.expect("warm", "success", 1);
    run.expect("per_task", "failed", 2);
    assert_eq!(
        run.error("per_task"),
        "the task exceeded its execution_timeout of 2s; its calls were stopped"
    );
    run.expect("after_per_task", "upstream_failed", 0);
    case.expect_logs(&run, "per_task", 2, "failed");
    assert!(
        case.log(&run, "per_task", 1)
            .contains("Task failed: the task exceeded its execution_timeout of 2s"),
        "{}",
        case.log(&run, "per_task", 1)
    );
    // A try's call may not have reached a worker within the limit on a loaded machine;
    // each one that did never ended, and its worker was killed.
    let marks = case.marks();
    let mut hung = Vec::new();
    for attempt in 1..=2 {
        let calls = marks.calls("per_task", attempt);
        assert!(
            calls.is_empty() || calls == BTreeMap::from([(0, (1, 0))]),
            "try {attempt}: {calls:?}"
        );
        if !calls.is_empty() {
            hung.push(marks.pid("per_task", attempt, 0));
        }
    }
    assert!(!hung.is_empty(), "a timed try ran its call: {marks:#?}");
    for pid in hung {
        assert!(!alive(pid), "the hung worker {pid} is gone");
    }
}

// ---------------------------------------------------------------------------------------
// 3. The function exceeds runtime_memory
// ---------------------------------------------------------------------------------------

#[test]
fn a_call_over_runtime_memory_fails_naming_the_limit_in_mb() {
    let case = Case::new();
    let run = case.dags_test("memory");
    assert_eq!(run.state(), "failed", "{}", run.doc);
    run.expect("hog", "failed", 1);
    let error = run.error("hog");
    assert!(
        error.starts_with(
            "call 1 failed: function exceeded its memory limit of 100 MB (runtime_memory)\nTraceback"
        ),
        "{error}"
    );
    assert!(
        error.contains(", in allocates\n") && error.ends_with("MemoryError"),
        "{error}"
    );
    run.expect("after_hog", "upstream_failed", 0);
    case.expect_logs(&run, "hog", 1, "failed");
    // 10 MB fit; the 600 MB call started and never finished; the third never started.
    case.marks().expect("hog", 1, &[(0, 1, 1), (1, 1, 0)]);
    expect_results_kept(&case, &run, "hog", 1, |_| json!(10 * 1024 * 1024));
}

// ---------------------------------------------------------------------------------------
// 4. The worker dies: SIGSEGV, SIGKILL from inside, kill -9 from outside
// ---------------------------------------------------------------------------------------

#[test]
fn a_worker_that_segfaults_or_is_killed_fails_its_task_naming_the_signal_and_a_retry_recovers() {
    let case = Case::new();
    let run = case.dags_test("crash");
    assert_eq!(run.state(), "failed", "{}", run.doc);

    // A real segmentation fault on every try: the signal, and Python's fault handler
    // pointing at the user's line.
    run.expect("segv", "failed", 1);
    let error = run.error("segv");
    assert!(
        error.starts_with(
            "call 1 failed: the worker process died during the call: killed by SIGSEGV\n"
        ),
        "{error}"
    );
    assert!(
        error.contains("Fatal Python error: Segmentation fault")
            && error.contains(&format!(
                "{}\", line ",
                fixtures().join("faultfns.py").display()
            ))
            && error.contains(" in dies"),
        "{error}"
    );
    run.expect("after_segv", "upstream_failed", 0);
    case.expect_logs(&run, "segv", 1, "failed");
    let marks = case.marks();
    let segv = marks.calls("segv", 1);
    assert_eq!(segv.get(&1), Some(&(1, 0)), "call 1 died: {segv:?}");
    marks.expect_at_most_once("segv", 1);
    assert!(!alive(marks.pid("segv", 1, 1)));
    expect_results_kept(&case, &run, "segv", 1, |c| json!(c * 10));

    // SIGKILL on the first execution of call 3 only: try 1 fails naming the signal, try 2
    // runs every call exactly once and the value is whole.
    run.expect("sigkill_once", "success", 2);
    assert_eq!(run.value("sigkill_once"), &json!([0, 10, 20, 30, 40, 50]));
    run.expect("after_sigkill_once", "success", 1);
    assert_eq!(run.value("after_sigkill_once"), &json!(150));
    case.expect_logs(&run, "sigkill_once", 2, "success");
    let log = case.log(&run, "sigkill_once", 1);
    assert!(
        log.contains(
            "Task failed: call 3 failed: the worker process died during the call: killed by SIGKILL"
        ),
        "{log}"
    );
    let tried = marks.calls("sigkill_once", 1);
    assert_eq!(tried.get(&3), Some(&(1, 0)), "call 3 died: {tried:?}");
    marks.expect_at_most_once("sigkill_once", 1);
    assert!(!alive(marks.pid("sigkill_once", 1, 3)));
    expect_results_kept(&case, &run, "sigkill_once", 1, |c| json!(c * 10));
    marks.expect_all_once("sigkill_once", 2, 6);
}

#[test]
fn a_worker_killed_with_sigkill_from_outside_mid_map_fails_the_try_and_the_retry_runs_every_call_once()
 {
    let case = Case::new();
    let bg = case.spawn_dags_test(&fixtures(), "killed", &[]);
    // Both workers hold a call of try 1, waiting for the go file.
    let busy = crate::harness::wait_for("two calls of try 1 running", DEADLINE, || {
        let calls = case.marks().calls("gated", 1);
        (calls.len() >= 2).then_some(calls)
    });
    let victim_call = *busy.keys().next().expect("a call");
    let victim = case.marks().pid("gated", 1, victim_call);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the worker");
    // Try 1 ends (its log is written) before the calls may go on.
    let try1_log = case.home().join("logs/dag_id=killed").to_path_buf();
    crate::harness::wait_for("try 1 of gated to end", DEADLINE, || {
        ended_log(&try1_log, "attempt=1.log")
    });
    std::fs::write(case.marks.path().join("go"), "").expect("the go file");
    let run = bg.finish();

    assert_eq!(run.state(), "success", "{}\n{}", run.doc, run.stderr);
    run.expect("gated", "success", 2);
    assert_eq!(run.value("gated"), &json!([0, 10, 20, 30]));
    run.expect("after_gated", "success", 1);
    assert_eq!(run.value("after_gated"), &json!(60));
    case.expect_logs(&run, "gated", 2, "success");
    let log = case.log(&run, "gated", 1);
    assert!(
        log.contains(&format!(
            "Task failed: call {victim_call} failed: the worker process died during the call: killed by SIGKILL"
        )),
        "{log}"
    );
    assert!(!alive(victim), "the killed worker {victim} is gone");
    let marks = case.marks();
    // Try 1: no call finished (they all waited for the go file) and none ran twice.
    marks.expect_at_most_once("gated", 1);
    assert!(
        marks.calls("gated", 1).values().all(|&(_, ends)| ends == 0),
        "{marks:#?}"
    );
    marks.expect_all_once("gated", 2, 4);
}

/// A file named `name` somewhere under `dir`.
/// A try's log once the try has ended: the file exists from the try's start, and its
/// last line (`[...] state: ...`) is written when the try ends.
fn ended_log(dir: &Path, name: &str) -> Option<PathBuf> {
    find_file(dir, name)
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|text| text.contains("] state: ")))
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// 5. The module does not import
// ---------------------------------------------------------------------------------------

#[test]
fn a_module_that_raises_on_import_or_is_missing_fails_with_its_traceback_or_the_searched_path() {
    let case = Case::new();
    let run = case.dags_test("imports");
    assert_eq!(run.state(), "failed", "{}", run.doc);

    run.expect("broken", "failed", 2);
    let error = run.error("broken");
    assert!(
        error.starts_with("call 0 failed: importing module `broken_mod` failed: RuntimeError: broken_mod refuses to import\nTraceback"),
        "{error}"
    );
    assert!(
        error.contains(&format!(
            "File \"{}\", line 4, in <module>",
            fixtures().join("broken_mod.py").display()
        )),
        "the traceback points at the raising line: {error}"
    );
    run.expect("after_broken", "upstream_failed", 0);
    case.expect_logs(&run, "broken", 2, "failed");

    run.expect("missing", "failed", 1);
    let error = run.error("missing");
    let prefix = format!(
        "call 0 failed: module `lithoflow_no_such_module` not found; searched sys.path: [\"{}\", ",
        fixtures().display()
    );
    assert!(
        error.starts_with(&prefix) && error.ends_with(']'),
        "{error}"
    );
    run.expect("after_missing", "upstream_failed", 0);
    case.expect_logs(&run, "missing", 1, "failed");
}

// ---------------------------------------------------------------------------------------
// 6. The result is not JSON
// ---------------------------------------------------------------------------------------

#[test]
fn a_result_json_cannot_hold_fails_naming_its_type() {
    let case = Case::new();
    let run = case.dags_test("notjson");
    assert_eq!(run.state(), "failed", "{}", run.doc);
    run.expect("a_set", "failed", 1);
    assert_eq!(
        run.error("a_set"),
        "call 0 failed: the function returned a value of type `set` that JSON cannot hold: Object of type set is not JSON serializable"
    );
    run.expect("an_object", "failed", 1);
    assert_eq!(
        run.error("an_object"),
        "call 1 failed: the function returned a value of type `Thing` that JSON cannot hold: Object of type Thing is not JSON serializable"
    );
    run.expect("after", "upstream_failed", 0);
    case.expect_logs(&run, "a_set", 1, "failed");
    case.expect_logs(&run, "an_object", 1, "failed");
    // The functions ran to their end exactly once: it is the value that failed.
    let marks = case.marks();
    marks.expect("a_set", 1, &[(0, 1, 1)]);
    marks.expect("an_object", 1, &[(0, 1, 1), (1, 1, 1)]);
    let results = case.results(&run, "an_object", 1);
    assert_eq!(results[0]["result"], "fine", "{results:#?}");
    assert_eq!(results[1]["error"]["kind"], "not_json", "{results:#?}");
}

// ---------------------------------------------------------------------------------------
// 7. The S3-compatible server stops in the middle of a map and comes back
// ---------------------------------------------------------------------------------------

/// The objects the S3 map reads: two parts each (`chunk_n = 2`).
const S3_INPUTS: &[(&str, &str)] = &[
    ("data/a.txt", "alpha\nbeta\ngamma\ndelta\n"),
    ("data/b.txt", "one\ntwo\nthree\nfour\nfive\n"),
    ("data/c.txt", "last line without a newline\nreally"),
];

/// Uploads the inputs of the S3 map (creating the bucket, which also holds the job data).
/// The emulator keeps its data in memory, so a restarted one needs them again.
fn upload_s3_inputs(emu: &crate::emulator::Emulator) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = lithoflow_executor::aws::s3::S3Storage::from_client(
            "lf-faults",
            crate::s3::client(emu),
        );
        s.ensure_bucket().await.expect("the bucket");
        for (key, text) in S3_INPUTS {
            s.put(key, text.as_bytes().to_vec()).await.expect("upload");
        }
    });
}

#[test]
fn the_s3_server_stopping_mid_map_fails_the_try_naming_the_endpoint_and_a_retry_completes_the_map()
{
    let mut emu = crate::emulator::Emulator::start();
    upload_s3_inputs(&emu);
    let case = Case::new();
    let bg = case.spawn_dags_test(&fixtures(), "s3_restart", &emu.env());
    crate::harness::wait_for("two calls of try 1 running", DEADLINE, || {
        (case.marks().calls("parts", 1).len() >= 2).then_some(())
    });
    // The two running calls hold their parts already; the next call's part is read from
    // a server that is gone.
    emu.stop();
    std::fs::write(case.marks.path().join("go"), "").expect("the go file");
    let logs = case.home().join("logs/dag_id=s3_restart");
    crate::harness::wait_for("try 1 of parts to end", DEADLINE, || {
        ended_log(&logs, "attempt=1.log")
    });
    // ministack keeps its data in memory: the restarted server is empty, so the bucket
    // and the inputs go up again before a retry (3 s apart) reads them.
    emu.restart();
    upload_s3_inputs(&emu);
    let run = bg.finish();

    assert_eq!(
        run.state(),
        "success",
        "{}\n{}\nemulator:\n{}",
        run.doc,
        run.stderr,
        emu.log()
    );
    let tries = run.task("parts")["try_number"].as_u64().expect("a try");
    assert!(
        (2..=4).contains(&tries),
        "a retry completed the map: {}",
        run.doc
    );
    let tries = u32::try_from(tries).expect("small");
    case.expect_logs(&run, "parts", tries, "success");
    // Try 1 failed on the stopped server, naming the object it could not read, the
    // endpoint's connection failure and the retries already made.
    let log = case.log(&run, "parts", 1);
    let endpoint_port = format!("127.0.0.1:{}", emu.port);
    assert!(
        log.contains("Task failed: call 2 failed: ")
            && log.contains("s3://lf-faults/data/")
            && log.contains(&endpoint_port)
            && log.contains("Connection refused")
            && log.contains("after 6 attempts"),
        "{log}"
    );
    let marks = case.marks();
    // Try 1: the two calls that held their parts finished once; no other call ran.
    marks.expect("parts", 1, &[(0, 1, 1), (1, 1, 1)]);
    // The try that succeeded ran all six calls exactly once; a failed try in between
    // (the server still starting) ran none.
    marks.expect_all_once("parts", tries, 6);
    for between in 2..tries {
        marks.expect("parts", between, &[]);
    }
    // Nothing lost: every part, in order, concatenating to its object.
    let parts = run.value("parts").as_array().expect("a list");
    assert_eq!(parts.len(), 6, "{parts:?}");
    for (i, (key, text)) in S3_INPUTS.iter().enumerate() {
        let mine = &parts[2 * i..2 * i + 2];
        assert!(
            mine.iter()
                .zip(1..)
                .all(|(p, n)| p["key"] == *key && p["part"] == n),
            "{mine:?}"
        );
        let joined: String = mine
            .iter()
            .map(|p| p["text"].as_str().expect("text"))
            .collect();
        assert_eq!(joined, *text, "{key}");
    }
}

// ---------------------------------------------------------------------------------------
// 8. The Lambda API throttles and fails for a while
// ---------------------------------------------------------------------------------------

#[test]
fn lambda_answering_429_and_500_for_a_while_costs_no_task_retry_and_runs_each_call_once() {
    let emu = crate::emulator::Emulator::start();
    let proxy = FaultProxy::start(&emu.endpoint());
    let case = Case::new();
    std::fs::write(
        case.home().join("lithoflow.toml"),
        format!(
            "[lithops]\nbackend = \"aws_lambda\"\nstorage = \"aws_s3\"\n\n[aws_s3]\nstorage_bucket = \"lf-faults-lambda\"\n\n[aws_lambda]\nexecution_role = \"arn:aws:iam::000000000000:role/lithoflow\"\nendpoint_url = \"{}\"\n",
            proxy.endpoint()
        ),
    )
    .expect("lithoflow.toml");
    let out = lithoflow()
        .env("LITHOFLOW_HOME", case.home())
        .envs(emu.env())
        .arg("--dags-folder")
        .arg(fixtures())
        .args(["runtime", "deploy"])
        .timeout(DEADLINE)
        .output()
        .expect("lithoflow runs");
    assert!(
        out.status.success(),
        "runtime deploy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = proxy.forwarded_sync();

    // Every invocation fails (429, 500, 503, 502) from before the run starts until two
    // seconds after the first fault was served.
    proxy.fail_everything();
    let bg = case.spawn_dags_test(&fixtures(), "lambda_window", &emu.env());
    crate::harness::wait_for("the first injected fault", DEADLINE, || {
        (proxy.stats()["faults_served"].as_u64().unwrap_or(0) > 0).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let served = proxy.stats()["faults_served"].as_u64().unwrap_or(0);
    proxy.heal();
    let run = bg.finish();

    assert_eq!(run.state(), "success", "{}\n{}", run.doc, run.stderr);
    assert!(served >= 8, "every call met faults: {served} served");
    // No task retry: the backend's own retries absorbed the faults.
    run.expect("calls", "success", 1);
    assert_eq!(run.value("calls"), &json!([0, 10, 20, 30, 40, 50, 60, 70]));
    run.expect("sum", "success", 1);
    assert_eq!(run.value("sum"), &json!(280));
    case.expect_logs(&run, "calls", 1, "success");
    assert!(
        run.stderr
            .contains("invocation throttled or failed; retrying"),
        "{}",
        run.stderr
    );
    // Each call ran exactly once in the function, and reached it through one invocation
    // (8 map calls and the downstream task's call).
    case.marks().expect_all_once("calls", 1, 8);
    assert_eq!(
        proxy.forwarded_sync() - before,
        9,
        "one forwarded invocation per call: {}",
        proxy.stats()
    );
}

// ---------------------------------------------------------------------------------------
// 9. The disk holding LITHOFLOW_HOME is full
// ---------------------------------------------------------------------------------------

/// A small tmpfs mounted on a temporary folder (the tests run as root); unmounted when
/// dropped. A mount that fails fails the test: it is never skipped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run mount (the disk-full tests need it, as root): {e}")
            });
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs on {} failed (the disk-full tests run as root and need `mount -t tmpfs`): {}{}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A private home on this filesystem.
    fn home(&self) -> tempfile::TempDir {
        tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(self.path())
            .expect("a home on the tmpfs")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Busy (a process still holds a file): detach it so nothing stays mounted.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Writes `path` until the filesystem is full (ENOSPC), to the last byte.
fn fill_disk(path: &Path) {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).expect("the filler file");
    for chunk in [1 << 16, 1 << 12, 1] {
        let block = vec![0u8; chunk];
        loop {
            match f.write(&block) {
                Ok(n) if n > 0 => {}
                Ok(_) => break,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, not {e}");
                    break;
                }
            }
        }
    }
    f.sync_all().ok();
}

/// Runs the binary to its end within the deadline: (exit code, stdout, stderr).
fn run_to_end(mut cmd: Command, what: &str) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lithoflow starts");
    let deadline = Instant::now() + DEADLINE;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("{what} hung: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked at"), "{what} panicked: {stderr}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

/// Every task log under a run's folder, by path, with its text.
fn run_logs(home: &Path, dag: &str, run_id: &str) -> BTreeMap<PathBuf, String> {
    let dir = home
        .join("logs")
        .join(format!("dag_id={dag}"))
        .join(format!("run_id={run_id}"));
    let mut out = BTreeMap::new();
    for task in std::fs::read_dir(&dir).expect("the run's logs").flatten() {
        for log in std::fs::read_dir(task.path())
            .expect("a task's logs")
            .flatten()
        {
            let text = std::fs::read_to_string(log.path()).expect("a log");
            out.insert(log.path(), text);
        }
    }
    out
}

#[test]
fn a_full_disk_fails_dags_test_clearly_without_a_hang_and_loses_nothing_recorded() {
    let disk = Tmpfs::mount("4m");
    let mut case = Case::with_home(disk.home());
    let filler = case.home().join("filler");
    case.conf.insert("filler".to_owned(), json!(filler));
    let state = case.home().join("state");

    // A run that succeeds, before the disk fills.
    let first = case.dags_test("disk_small");
    assert_eq!(first.state(), "success", "{}\n{}", first.doc, first.stderr);
    assert_eq!(first.value("m"), &json!([10, 20, 30]));
    assert_eq!(first.value("sum"), &json!(60));
    let first_logs = run_logs(case.home(), "disk_small", first.run_id());
    assert_eq!(first_logs.len(), 2, "{first_logs:#?}");

    // The disk is full before the run: the state database cannot be opened or written.
    fill_disk(&filler);
    let cmd = case.dags_test_command(&fixtures(), "disk_small");
    let (code, stdout, stderr) = run_to_end(cmd, "dags test on a full disk");
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("No space left on device") && stderr.contains(&state.display().to_string()),
        "the error names the cause and the path: {stderr}"
    );
    std::fs::remove_file(&filler).expect("free the space");

    // The disk fills during the run: `fill` fills it, and its 300 KB value cannot be
    // recorded. lithoflow stops the run with the same clear error, at once; sled never
    // sees the full disk (a large value written to a full disk made it wait forever).
    let cmd = case.dags_test_command(&fixtures(), "disk_fill");
    let (code, stdout, stderr) = run_to_end(cmd, "dags test filling the disk");
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("No space left on device")
            && stderr.contains(&format!("state database at {}", state.display()))
            && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stopped; what it recorded so far is kept"),
        "{stderr}"
    );
    case.marks().expect("fill", 1, &[(0, 1, 1)]);
    std::fs::remove_file(&filler).expect("free the space");

    // What was recorded before is intact: the first run, its tasks and logs.
    let runs = case.cli_json(&["dags", "list-runs", "disk_small", "-o", "json"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    assert_eq!(
        (&runs[0]["run_id"], &runs[0]["state"]),
        (&first.doc["run_id"], &json!("success"))
    );
    let states = case.cli_json(&[
        "tasks",
        "states-for-dag-run",
        "disk_small",
        first.run_id(),
        "-o",
        "json",
    ]);
    let states: Vec<(&str, &str)> = states
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| {
            (
                t["task_id"].as_str().unwrap_or_default(),
                t["state"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(states, [("m", "success"), ("sum", "success")]);
    assert_eq!(
        run_logs(case.home(), "disk_small", first.run_id()),
        first_logs
    );
    // The run the full disk stopped was left running, as a killed process leaves one.
    let stopped = case.cli_json(&["dags", "list-runs", "disk_fill", "-o", "json"]);
    assert_eq!(stopped[0]["state"], "running", "{stopped}");
    let stopped_id = stopped[0]["run_id"].as_str().expect("a run id").to_owned();

    // A new run succeeds.
    let again = case.dags_test("disk_small");
    assert_eq!(again.state(), "success", "{}\n{}", again.doc, again.stderr);
    assert_eq!(again.value("sum"), &json!(60));

    // A scheduler started on this home serves the first run's XCom, and recovers the
    // stopped run: `fill` runs again on the same try (its first outcome was never
    // recorded) without filling anything this time, and the run succeeds.
    let env = crate::harness::Env {
        dags: tempfile::tempdir().expect("temp dir"),
        home: case.home,
    };
    for f in ["faultfns.py", "disk_small.toml", "disk_fill.toml"] {
        std::fs::copy(fixtures().join(f), env.dags.path().join(f)).expect("copy");
    }
    let mut d = env.start();
    let (status, body) = d.get(&format!(
        "/api/v1/dags/disk_small/dagRuns/{}/taskInstances/m/xcomEntries/return_value?stringify=false",
        first.run_id().replace('+', "%2B")
    ));
    assert_eq!(
        (status, &body["value"]),
        (200, &json!([10, 20, 30])),
        "{body}"
    );
    crate::harness::wait_for("the stopped run to be recovered", DEADLINE, || {
        match env.run_state("disk_fill", &stopped_id).as_deref() {
            Some("success") => Some(()),
            Some("failed") => panic!("the recovered run failed: {}", d.log()),
            _ => None,
        }
    });
    assert!(!filler.exists(), "the recovered `fill` filled nothing");
    let marks = Marks::read(case.marks.path());
    marks.expect("fill", 1, &[(0, 2, 2)]);
    assert_eq!(d.terminate(), 0, "{}", d.log());
    assert!(!d.log().contains("panicked at"), "{}", d.log());
}

#[test]
fn a_full_disk_under_the_scheduler_refuses_triggers_pauses_runs_and_loses_nothing() {
    let disk = Tmpfs::mount("4m");
    let env = crate::harness::Env {
        dags: tempfile::tempdir().expect("temp dir"),
        home: disk.home(),
    };
    for f in ["faultfns.py", "disk_small.toml", "disk_fill.toml"] {
        std::fs::copy(fixtures().join(f), env.dags.path().join(f)).expect("copy");
    }
    let marks = tempfile::tempdir().expect("temp dir");
    let filler = env.home().join("filler");
    let conf = json!({ "dir": marks.path(), "filler": filler }).to_string();
    let state = env.home().join("state").display().to_string();
    let mut d = env.start();
    let trigger = |dag: &str, run: &str| -> (i32, String, String) {
        env.run(&["dags", "trigger", dag, "-r", run, "--conf", &conf])
    };
    let wait_success = |dag: &str, run: &str| {
        crate::harness::wait_for(&format!("run {run} to succeed"), DEADLINE, || {
            match env.run_state(dag, run).as_deref() {
                Some("success") => Some(()),
                Some("failed") => panic!("run {run} failed: {}", d.log()),
                _ => None,
            }
        });
    };
    let xcom = |dag: &str, run: &str, task: &str| {
        d.get(&format!(
            "/api/v1/dags/{dag}/dagRuns/{run}/taskInstances/{task}/xcomEntries/return_value?stringify=false"
        ))
    };

    // Before the disk fills.
    let (code, _, err) = trigger("disk_small", "r1");
    assert_eq!(code, 0, "{err}");
    wait_success("disk_small", "r1");
    let r1_logs = run_logs(env.home(), "disk_small", "r1");

    // A full disk: a trigger is refused, naming the cause and the state database.
    fill_disk(&filler);
    let (code, out, err) = trigger("disk_small", "r2");
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("No space left on device") && err.contains(&state),
        "{err}"
    );
    // Through the API: 507 Insufficient Storage, with the same reason.
    let (status, problem) = d.post(
        "/api/v1/dags/disk_small/dagRuns",
        &json!({"dag_run_id": "r2_api"}),
    );
    assert_eq!(status, 507, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("No space left on device") && d.contains(&state)),
        "{problem}"
    );
    // The scheduler is still up, and what it recorded is intact.
    let (status, body) = xcom("disk_small", "r1", "sum");
    assert_eq!((status, &body["value"]), (200, &json!(60)), "{body}");
    std::fs::remove_file(&filler).expect("free the space");

    // Space again: runs go on.
    let (code, _, err) = trigger("disk_small", "r3");
    assert_eq!(code, 0, "{err}");
    wait_success("disk_small", "r3");

    // A run that fills the disk itself: its 300 KB value waits to be recorded while the
    // scheduler keeps answering, then goes on once the space is freed.
    let (code, _, err) = trigger("disk_fill", "f1");
    assert_eq!(code, 0, "{err}");
    crate::harness::wait_for("the scheduler to wait for space", DEADLINE, || {
        d.log()
            .contains("runs wait until space is freed")
            .then_some(())
    });
    let (status, runs) = d.get("/api/v1/dags/disk_fill/dagRuns");
    assert_eq!(
        status, 200,
        "the API answers while the disk is full: {runs}"
    );
    assert_eq!(env.run_state("disk_fill", "f1").as_deref(), Some("running"));
    let (code, _, err) = trigger("disk_small", "r4");
    assert_ne!(code, 0);
    assert!(err.contains("No space left on device"), "{err}");
    // A DAG file that appears now is loaded, but its scheduled run waits for space.
    env.write(
        "disk_once.toml",
        "schedule = \"@once\"\nstart_date = 2026-01-01T00:00:00Z\nis_paused_upon_creation = false\n\n[tasks.t]\ntype = \"empty\"\n",
    );
    crate::harness::wait_for(
        "the scheduler to hold back a scheduled run",
        DEADLINE,
        || {
            d.log()
                .contains("no scheduled run is created until space is freed")
                .then_some(())
        },
    );
    assert_eq!(
        d.get("/api/v1/dags/disk_once").0,
        200,
        "the new DAG is served"
    );
    assert!(
        env.runs("disk_once").is_empty(),
        "no run while the disk is full"
    );
    std::fs::remove_file(&filler).expect("free the space");
    wait_success("disk_fill", "f1");
    let once = crate::harness::wait_for("the scheduled run", DEADLINE, || {
        env.runs("disk_once").into_iter().next()
    });
    let once = once["run_id"].as_str().expect("a run id").to_owned();
    wait_success("disk_once", &once);
    let (status, body) = xcom("disk_fill", "f1", "after");
    assert_eq!((status, &body["value"]), (200, &json!([300_000])), "{body}");
    // `fill` ran once: its outcome waited in memory, it was never run again.
    let m = Marks::read(marks.path());
    m.expect("fill", 1, &[(0, 1, 1)]);
    // Its log, which the full disk refused, was written once there was room.
    let logs = run_logs(env.home(), "disk_fill", "f1");
    assert_eq!(logs.len(), 2, "{logs:#?}");
    for (path, text) in &logs {
        assert!(
            text.contains("state: success after"),
            "{}: {text}",
            path.display()
        );
    }

    // Nothing was lost or half-made: r1, r3 and f1 succeeded, r2 and r4 do not exist.
    let mut ids: Vec<(String, String)> = ["disk_small", "disk_fill"]
        .iter()
        .flat_map(|dag| env.runs(dag))
        .map(|r| {
            (
                r["run_id"].as_str().unwrap_or_default().to_owned(),
                r["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            ("f1".to_owned(), "success".to_owned()),
            ("r1".to_owned(), "success".to_owned()),
            ("r3".to_owned(), "success".to_owned()),
        ]
    );
    assert_eq!(run_logs(env.home(), "disk_small", "r1"), r1_logs);
    let log = d.log();
    assert!(!log.contains("panicked at"), "{log}");
    assert_eq!(d.terminate(), 0, "{}", d.log());
}
