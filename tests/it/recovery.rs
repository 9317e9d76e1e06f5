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
    let store = Store::open(&home.join("state")).expect("the state database opens after a kill");
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
