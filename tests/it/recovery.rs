//! Recovery after `kill -9`: runs of a mixed DAG are started, the scheduler is killed at
//! random moments many times and restarted, and afterwards every run has reached its
//! final state, no task recorded as finished ran again, no retry was used, and XCom
//! values and logs are intact.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lithoflow_scheduler::store::{RunState, Store, TaskState};
use serde_json::json;

use crate::repo_root;

const RUNS: usize = 100;
const KILLS: usize = 20;
const TASKS: usize = 7;

fn binary() -> PathBuf {
    crate::lithoflow_path()
}

fn fixture() -> PathBuf {
    repo_root().join("tests/fixtures/recovery")
}

fn scheduler(home: &Path, log: &Path, exit_when_idle: bool) -> Command {
    let mut cmd = Command::new(binary());
    cmd.arg("--dags-folder")
        .arg(fixture())
        .args(["scheduler", "--api-port", "0"])
        .env("LITHOFLOW_HOME", home)
        .env("RECOVERY_LOG", log)
        .env_remove("LITHOFLOW_DAGS_FOLDER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if exit_when_idle {
        cmd.arg("--exit-when-idle");
    }
    cmd
}

/// Finished task instances per (run, task), read while no scheduler holds the database.
fn finished(home: &Path) -> HashSet<(String, String)> {
    // sled's lock outlives a closed handle for a moment (this process's previous look),
    // and the scheduler waits such a lock out too: so does this look.
    let deadline = Instant::now() + Duration::from_secs(60);
    let store = loop {
        match Store::open(&home.join("state")) {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => break other.expect("the state database opens after a kill"),
        }
    };
    let mut out = HashSet::new();
    for run in store.runs("mixed").expect("runs") {
        for ti in store.tis("mixed", &run.run_id).expect("task instances") {
            if ti.state.is_finished() {
                out.insert((run.run_id.clone(), ti.task_id));
            }
        }
    }
    out
}

/// Tiny deterministic pseudo-random numbers (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

#[test]
#[expect(
    clippy::print_stderr,
    reason = "how many task instances had finished at each kill is the test's figure for docs/reliability.md"
)]
fn runs_survive_kill_9_at_random_moments() {
    let home = crate::private_home();
    let log = home.path().join("executions.log");
    std::fs::write(&log, "").expect("log file");
    for i in 0..RUNS {
        let status = Command::new(binary())
            .args(["--dags-folder"])
            .arg(fixture())
            .args([
                "dags",
                "trigger",
                "mixed",
                "-r",
                &format!("run_{i:03}"),
                "-o",
                "plain",
            ])
            .env("LITHOFLOW_HOME", home.path())
            .stdout(Stdio::null())
            .status()
            .expect("trigger runs");
        assert!(status.success());
    }

    // Kill the scheduler at random moments; after each kill, note what had finished.
    let mut rng = Lcg(0x5eed);
    let mut snapshots: Vec<(f64, HashSet<(String, String)>)> = Vec::new();
    for _ in 0..KILLS {
        let before = std::fs::read_to_string(&log).map_or(0, |t| t.lines().count());
        let mut child = scheduler(home.path(), &log, false)
            .spawn()
            .expect("scheduler starts");
        // A random moment once this scheduler has started calls: on a loaded machine
        // its start-up alone can take longer than any fixed delay.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&log).map_or(0, |t| t.lines().count()) <= before
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(rng.next_ms(100, 2500)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs_f64();
        snapshots.push((at, finished(home.path())));
    }
    eprintln!(
        "recovery: {RUNS} runs x {TASKS} tasks, task instances finished at each of the {KILLS} kills: {:?}",
        snapshots.iter().map(|(_, s)| s.len()).collect::<Vec<_>>()
    );
    // Let it finish.
    let started = Instant::now();
    let status = scheduler(home.path(), &log, true)
        .status()
        .expect("scheduler runs");
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_secs(900),
        "the runs did not finish in 15 minutes: a run is stuck"
    );

    let store = Store::open(&home.path().join("state")).expect("opens");
    let runs = store.runs("mixed").expect("runs");
    assert_eq!(runs.len(), RUNS);
    for run in &runs {
        assert_eq!(
            run.state,
            RunState::Success,
            "run {} ended {:?} ({:?})",
            run.run_id,
            run.state,
            run.note
        );
        let tis = store.tis("mixed", &run.run_id).expect("tis");
        assert_eq!(tis.len(), TASKS);
        for ti in &tis {
            assert_eq!(
                ti.state,
                TaskState::Success,
                "{} {}",
                run.run_id,
                ti.task_id
            );
            assert_eq!(
                ti.try_number, 1,
                "{} {}: a kill must not use a retry",
                run.run_id, ti.task_id
            );
            let log_file = home
                .path()
                .join("logs/dag_id=mixed")
                .join(format!("run_id={}", run.run_id))
                .join(format!("task_id={}", ti.task_id))
                .join("attempt=1.log");
            let text = std::fs::read_to_string(&log_file).unwrap_or_default();
            assert!(
                text.contains("Done. Returned value was:"),
                "log of {} {} is intact",
                run.run_id,
                ti.task_id
            );
        }
        let x = |task: &str| {
            store
                .xcom("mixed", &run.run_id, task, "return_value")
                .expect("xcom")
        };
        assert_eq!(x("a"), Some(json!(1)));
        assert_eq!(x("m"), Some(json!([2, 4, 6, 8])));
        assert_eq!(x("b"), Some(json!(2)));
        assert_eq!(x("r"), Some(json!(40)));
        assert_eq!(x("c"), Some(json!(40)));
        assert_eq!(x("p"), Some(json!(41)));
        assert_eq!(x("sh"), Some(json!("7")));
    }

    // No task instance recorded as finished started again afterwards.
    let text = std::fs::read_to_string(&log).expect("executions log");
    let mut starts: HashMap<(String, String), Vec<f64>> = HashMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let ["start", at, run, task] = parts[..] {
            starts
                .entry((run.to_owned(), task.to_owned()))
                .or_default()
                .push(at.parse().expect("time"));
        }
    }
    for (at, done) in &snapshots {
        for key in done {
            let again: Vec<&f64> = starts
                .get(key)
                .map(|v| v.iter().filter(|t| *t > at).collect())
                .unwrap_or_default();
            assert!(
                again.is_empty(),
                "{key:?} was finished at a kill but ran again"
            );
        }
    }
    assert!(
        snapshots.iter().any(|(_, s)| !s.is_empty()),
        "no kill happened after a task had finished; the test proved nothing"
    );
    assert!(
        snapshots.iter().any(|(_, s)| s.len() < RUNS * TASKS),
        "every kill came after all runs had finished"
    );
}

/// Whether process `pid` is gone (a zombie waiting for a parent counts as gone: it runs
/// nothing).
fn process_gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

/// The children of `pid` (from /proc), to find a scheduler's Python workers.
fn children_of(pid: u32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().nth(1))
                    .and_then(|ppid| ppid.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// Lines of a marks file that start with `word`, as their whitespace-separated fields.
fn marks(path: &Path, word: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(word))
        .map(|l| l.split_whitespace().skip(1).map(str::to_owned).collect())
        .collect()
}

#[test]
fn a_killed_scheduler_takes_its_workers_and_commands_with_it() {
    // A Python task and a bash task each start a child process and then wait for a go
    // file; the scheduler is killed with SIGKILL while they wait. Everything they run
    // must die with it (before this, the worker went on and finished the call after the
    // scheduler was gone, and the restarted scheduler ran it again). The restarted
    // scheduler runs both tasks again, and each completes exactly once.
    let env = crate::harness::Env::new();
    let m = tempfile::tempdir().expect("marks dir");
    let go = m.path().join("go");
    let py_marks = m.path().join("py.log");
    let sh_marks = m.path().join("sh.log");
    env.write(
        "orph.py",
        r#"import os, subprocess, time

def hold(marks, go):
    child = subprocess.Popen(["sleep", "300"])
    with open(marks, "a") as f:
        f.write("start %d %d\n" % (os.getpid(), child.pid))
    while not os.path.exists(go):
        time.sleep(0.02)
    with open(marks, "a") as f:
        f.write("end %d\n" % os.getpid())
    child.kill()
    return 1
"#,
    );
    env.write(
        "orphans.toml",
        &format!(
            r#"is_paused_upon_creation = false

[tasks.py]
type = "call_async"
func = "orph:hold"
data = {{ marks = "{py}", go = "{go}" }}

[tasks.sh]
type = "bash"
bash_command = """
sleep 300 &
echo "start $$ $!" >> {sh}
while [ ! -e {go} ]; do sleep 0.02; done
echo "end $$" >> {sh}
kill $!
"""
"#,
            py = py_marks.display(),
            sh = sh_marks.display(),
            go = go.display(),
        ),
    );
    env.ok(&["dags", "trigger", "orphans", "-r", "r1"]);
    let mut first = env.start();
    let pids = crate::harness::wait_for("both tasks to start", Duration::from_secs(120), || {
        let py = marks(&py_marks, "start");
        let sh = marks(&sh_marks, "start");
        (py.len() == 1 && sh.len() == 1).then(|| {
            let mut pids: Vec<i32> = py[0]
                .iter()
                .chain(sh[0].iter())
                .map(|p| p.parse().expect("a pid"))
                .collect();
            pids.extend(children_of(first.pid()));
            pids
        })
    });
    assert!(pids.iter().all(|p| !process_gone(*p)), "{pids:?}");
    first.kill9();
    // The promise is about a second; the limit is for a busy machine.
    crate::harness::wait_for(
        "every worker, command and child of the killed scheduler to be gone",
        Duration::from_secs(30),
        || pids.iter().all(|p| process_gone(*p)).then_some(()),
    );
    std::fs::write(&go, "").expect("go file");
    drop(first);
    env.schedule_until_idle();
    assert_eq!(env.run_state("orphans", "r1").as_deref(), Some("success"));
    for (marks_file, what) in [
        (&py_marks, "the Python call"),
        (&sh_marks, "the bash command"),
    ] {
        let starts = marks(marks_file, "start");
        let ends = marks(marks_file, "end");
        assert_eq!(
            starts.len(),
            2,
            "{what} ran once before the kill and once after"
        );
        assert_eq!(ends.len(), 1, "{what} completed exactly once: {ends:?}");
        assert_ne!(
            ends[0][0], starts[0][0],
            "{what} of the killed scheduler went on to the end"
        );
    }
}
