//! A scheduler killed (`kill -9`) while a map runs on AWS Lambda (the emulator): the
//! restarted scheduler runs the try again on the same try number and adopts the calls
//! of the killed run (their status objects tell which finished and which still run)
//! instead of invoking them again, so each call runs exactly once. The functions wait
//! for a gate file the test creates; no fixed sleeps.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::emulator::Emulator;
use crate::harness::{Env, wait_for};

const BUCKET: &str = "lithoflow-restart";

const DAG: &str = r#"
dag_id = "restart"
is_paused_upon_creation = false

[tasks.maps]
type = "map"
map_function = "restartfuncs:mark"
map_iterdata = [0, 1, 2]
"#;

/// Call 0 ends at once; calls 1 and 2 wait for the gate. Each writes when it starts and
/// when it ends.
fn funcs(marks: &Path, gate: &Path) -> String {
    format!(
        r#"
import os, time

MARKS = {marks:?}
GATE = {gate:?}

def mark(x):
    with open(MARKS, "a") as f:
        f.write("start %d\n" % x)
    if x > 0:
        while not os.path.exists(GATE):
            time.sleep(0.05)
    with open(MARKS, "a") as f:
        f.write("end %d\n" % x)
    return x * 10
"#,
        marks = marks.display().to_string(),
        gate = gate.display().to_string(),
    )
}

fn lines(marks: &Path) -> Vec<String> {
    std::fs::read_to_string(marks)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn scheduler(env: &Env, emu: &Emulator, log: &Path, args: &[&str]) -> Child {
    env.cmd(&[&["scheduler", "--api-port", "0"], args].concat())
        .envs(emu.env())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("the scheduler starts")
}

#[test]
fn a_scheduler_killed_during_a_lambda_map_adopts_its_calls_after_a_restart_and_each_runs_once() {
    let emu = Emulator::start();
    let env = Env::new();
    let marks_dir = tempfile::tempdir().expect("tempdir");
    let marks = marks_dir.path().join("marks.txt");
    let gate = marks_dir.path().join("gate");
    env.write_config(&format!(
        "[lithops]\nbackend = \"aws_lambda\"\nstorage = \"aws_s3\"\n\n[aws_s3]\nstorage_bucket = \"{BUCKET}\"\n\n[aws_lambda]\nexecution_role = \"arn:aws:iam::000000000000:role/lithoflow\"\n"
    ));
    env.write("restartfuncs.py", &funcs(&marks, &gate));
    env.write("restart.toml", DAG);
    let (code, _, err) = env.run(&["dags", "trigger", "restart", "-r", "r1"]);
    assert_eq!(code, 0, "{err}");

    let first_log = env.home().join("first.log");
    let mut first = scheduler(&env, &emu, &first_log, &[]);
    // Call 0 finished and calls 1 and 2 run on Lambda: the scheduler dies.
    wait_for(
        "calls 1 and 2 running, call 0 done",
        Duration::from_secs(180),
        || {
            if let Ok(Some(status)) = first.try_wait() {
                panic!(
                    "the scheduler exited with {status}: {}",
                    std::fs::read_to_string(&first_log).unwrap_or_default()
                );
            }
            let l = lines(&marks);
            ["end 0", "start 1", "start 2"]
                .iter()
                .all(|m| l.iter().any(|x| x == m))
                .then_some(())
        },
    );
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let second_log = env.home().join("second.log");
    let mut second = scheduler(&env, &emu, &second_log, &["--exit-when-idle"]);
    std::fs::write(&gate, b"go").expect("open the gate");
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!(
                "the restarted scheduler did not finish: {}",
                std::fs::read_to_string(&second_log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let second_stderr = std::fs::read_to_string(&second_log).unwrap_or_default();
    assert!(status.success(), "{status}: {second_stderr}");
    assert_eq!(
        env.run_state("restart", "r1").as_deref(),
        Some("success"),
        "{second_stderr}"
    );
    let mut l = lines(&marks);
    l.sort();
    assert_eq!(
        l,
        ["end 0", "end 1", "end 2", "start 0", "start 1", "start 2"],
        "each call ran exactly once\n{second_stderr}"
    );
    let states = env.json(&["tasks", "states-for-dag-run", "restart", "r1", "-o", "json"]);
    let maps = states
        .as_array()
        .and_then(|a| a.iter().find(|t| t["task_id"] == "maps"))
        .unwrap_or_else(|| panic!("{states}"));
    assert_eq!(maps["try_number"], 1, "a kill uses no retry: {maps}");
}
