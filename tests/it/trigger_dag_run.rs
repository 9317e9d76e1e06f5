//! `trigger_dag_run` end to end under `lithoflow scheduler`: a run of another DAG created
//! through the scheduler's loop with its templated run id and conf, with and without
//! waiting for it (success, and a failed triggered run failing the task), the XComs
//! Airflow pushes, `skip_when_already_exists` and `reset_dag_run`; under `dags test` the
//! task fails saying why.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Daemon, Env, wait_for};

const FNS: &str = r#"
import os

def child(dag_run):
    if dag_run.conf.get("fail"):
        raise ValueError("asked to fail")
    return dag_run.conf
"#;

fn env() -> Env {
    let env = Env::new();
    env.write("fns.py", FNS);
    env.write(
        "child.toml",
        r#"
is_paused_upon_creation = false

[tasks.work]
type = "python"
python_callable = "fns:child"
"#,
    );
    env
}

fn run_end(d: &Daemon, dag: &str, run: &str) -> Value {
    wait_for(
        &format!("{dag}/{run} to end"),
        Duration::from_secs(120),
        || {
            let (status, body) = d.get(&format!("/api/v1/dags/{dag}/dagRuns/{run}"));
            (status == 200 && (body["state"] == "success" || body["state"] == "failed"))
                .then(|| body["state"].clone())
        },
    )
}

fn ti_state(d: &Daemon, dag: &str, run: &str, task: &str) -> Value {
    let (_, body) = d.get(&format!(
        "/api/v1/dags/{dag}/dagRuns/{run}/taskInstances/{task}"
    ));
    body["state"].clone()
}

fn xcom(d: &Daemon, dag: &str, run: &str, task: &str, key: &str) -> Value {
    let (_, body) = d.get(&format!(
        "/api/v1/dags/{dag}/dagRuns/{run}/taskInstances/{task}/xcomEntries/{key}?stringify=false"
    ));
    body["value"].clone()
}

#[test]
fn trigger_dag_run_creates_runs_with_and_without_waiting() {
    let env = env();
    env.write(
        "parent.toml",
        r#"
is_paused_upon_creation = false

[tasks.kick]
type = "trigger_dag_run"
trigger_dag_id = "child"
trigger_run_id = "from_parent__{{ ds }}"
logical_date = "{{ ts }}"
conf = { source = "{{ dag.dag_id }}", n = 1 }

[tasks.kick_wait]
type = "trigger_dag_run"
trigger_dag_id = "child"
trigger_run_id = "waited__{{ run_id }}"
conf = { waited = true }
wait_for_completion = true
poke_interval = "1s"

[tasks.kick_fail]
type = "trigger_dag_run"
trigger_dag_id = "child"
trigger_run_id = "failing__{{ run_id }}"
conf = { fail = true }
wait_for_completion = true
poke_interval = "1s"

[tasks.again_skip]
type = "trigger_dag_run"
trigger_dag_id = "child"
trigger_run_id = "waited__{{ run_id }}"
skip_when_already_exists = true
upstream = ["kick_wait"]

[tasks.again_fail]
type = "trigger_dag_run"
trigger_dag_id = "child"
trigger_run_id = "waited__{{ run_id }}"
upstream = ["kick_wait"]

[tasks.again_reset]
type = "trigger_dag_run"
trigger_dag_id = "child"
trigger_run_id = "waited__{{ run_id }}"
reset_dag_run = true
wait_for_completion = true
poke_interval = "1s"
upstream = ["again_skip", "again_fail"]
trigger_rule = "all_done"
"#,
    );
    env.ok(&[
        "dags",
        "trigger",
        "parent",
        "-r",
        "p1",
        "-l",
        "2026-02-03T04:05:06+00:00",
    ]);
    let d = env.start();
    assert_eq!(run_end(&d, "parent", "p1"), "failed");
    // Without waiting: the run exists with its rendered id, date and conf.
    let child = "from_parent__2026-02-03";
    assert_eq!(run_end(&d, "child", child), "success");
    let (_, run) = d.get(&format!("/api/v1/dags/child/dagRuns/{child}"));
    assert_eq!(run["conf"]["source"], "parent", "{run}");
    assert_eq!(run["conf"]["n"], 1, "{run}");
    assert_eq!(run["logical_date"], "2026-02-03T04:05:06+00:00", "{run}");
    assert_eq!(ti_state(&d, "parent", "p1", "kick"), "success");
    assert_eq!(xcom(&d, "parent", "p1", "kick", "trigger_run_id"), child);
    assert_eq!(
        xcom(&d, "parent", "p1", "kick", "trigger_logical_date_iso"),
        "2026-02-03T04:05:06+00:00"
    );
    // Waiting: success once the child succeeded; a failed child fails the task.
    assert_eq!(ti_state(&d, "parent", "p1", "kick_wait"), "success");
    assert_eq!(run_end(&d, "child", "waited__p1"), "success");
    assert_eq!(run_end(&d, "child", "failing__p1"), "failed");
    assert_eq!(ti_state(&d, "parent", "p1", "kick_fail"), "failed");
    let (_, ti) = d.get("/api/v1/dags/parent/dagRuns/p1/taskInstances/kick_fail");
    assert_eq!(ti["try_number"], 1, "{ti}");
    // The same run id again: skipped, failed, or cleared and run again.
    assert_eq!(ti_state(&d, "parent", "p1", "again_skip"), "skipped");
    assert_eq!(ti_state(&d, "parent", "p1", "again_fail"), "failed");
    assert_eq!(ti_state(&d, "parent", "p1", "again_reset"), "success");
    let (_, work) = d.get("/api/v1/dags/child/dagRuns/waited__p1/taskInstances/work");
    assert_eq!(work["state"], "success", "{work}");
    assert_eq!(work["try_number"], 2, "the reset ran it again: {work}");
}

#[test]
fn trigger_dag_run_under_dags_test_fails_saying_why() {
    let env = env();
    env.write(
        "parent.toml",
        "[tasks.kick]\ntype = \"trigger_dag_run\"\ntrigger_dag_id = \"child\"\n",
    );
    let (code, out, err) = env.run(&["dags", "test", "parent"]);
    assert_ne!(code, 0, "{out}{err}");
    let run = env.runs("parent")[0]["run_id"]
        .as_str()
        .expect("a run id")
        .to_owned();
    let log = std::fs::read_to_string(env.home().join(format!(
        "logs/dag_id=parent/run_id={run}/task_id=kick/attempt=1.log"
    )))
    .expect("the log");
    assert!(
        log.contains("run this DAG under `lithoflow scheduler`"),
        "{log}"
    );
}

#[test]
fn a_waiting_trigger_dag_run_resumes_its_run_after_a_killed_scheduler() {
    let env = env();
    let flag = env.home().join("go");
    env.write(
        "gated.toml",
        &format!(
            r#"
is_paused_upon_creation = false

[tasks.gate]
type = "sensor"
sensor = "file"
filepath = "{}"
poke_interval = "1s"
"#,
            flag.display()
        ),
    );
    env.write(
        "parent.toml",
        r#"
is_paused_upon_creation = false

[tasks.kick]
type = "trigger_dag_run"
trigger_dag_id = "gated"
wait_for_completion = true
poke_interval = "1s"
"#,
    );
    env.ok(&["dags", "trigger", "parent", "-r", "p1"]);
    let mut first = env.start();
    wait_for("the triggered run to wait", Duration::from_secs(60), || {
        let (_, runs) = first.get("/api/v1/dags/gated/dagRuns");
        let running = runs["dag_runs"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["state"] == "running"));
        running.then_some(())
    });
    first.kill9();
    let _ = std::fs::remove_file(env.home().join("scheduler.json"));
    std::fs::write(&flag, "").expect("flag");
    let second = env.start();
    assert_eq!(run_end(&second, "parent", "p1"), "success");
    let (_, runs) = second.get("/api/v1/dags/gated/dagRuns");
    let runs = runs["dag_runs"].as_array().cloned().unwrap_or_default();
    // The restarted try waited for the run it had triggered, and triggered no other.
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["state"], "success", "{runs:?}");
    let (_, ti) = second.get("/api/v1/dags/parent/dagRuns/p1/taskInstances/kick");
    assert_eq!(ti["try_number"], 1, "{ti}");
}
