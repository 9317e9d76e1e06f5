//! Sensors end to end with the real binary, real Python workers and real bash: every
//! kind under `lithoflow scheduler` (s3_key under `dags test` against the S3 emulator),
//! the PokeReturnValue XCom, soft_fail, and reschedule
//! mode across a scheduler killed with SIGKILL while its sensors are up_for_reschedule:
//! the restarted scheduler resumes them on the same try, and the timeout still counts
//! from the first poke.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::harness::{Daemon, Env, wait_for};

const CHECKS: &str = r#"
import os
from lithoflow import PokeReturnValue

def flag_with_value(path, ds=None):
    if os.path.exists(path):
        return PokeReturnValue(is_done=True, xcom_value={"ds": ds, "found": path})
    return PokeReturnValue(is_done=False)

def truthy_when(path):
    return os.path.exists(path)

def work():
    return "worked"

def same_date(logical_date):
    # execution_date_fn(logical_date, **context): the date arrives as an ISO string.
    return logical_date
"#;

fn states(env: &Env, dag: &str, run: &str) -> Vec<(String, String, u64)> {
    let tis = env.json(&["tasks", "states-for-dag-run", dag, run, "-o", "json"]);
    tis.as_array()
        .expect("task instances")
        .iter()
        .map(|t| {
            (
                t["task_id"].as_str().unwrap_or_default().to_owned(),
                t["state"].as_str().unwrap_or_default().to_owned(),
                t["try_number"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn state_of(tis: &[(String, String, u64)], task: &str) -> (String, u64) {
    tis.iter()
        .find(|t| t.0 == task)
        .map(|t| (t.1.clone(), t.2))
        .unwrap_or_else(|| panic!("no {task} in {tis:?}"))
}

/// The task instances of a run, through the API.
fn api_tis(d: &Daemon, dag: &str, run: &str) -> Vec<Value> {
    let (_, body) = d.get(&format!("/api/v1/dags/{dag}/dagRuns/{run}/taskInstances"));
    body["task_instances"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn api_state(d: &Daemon, dag: &str, run: &str, task: &str) -> Option<String> {
    api_tis(d, dag, run)
        .iter()
        .find(|t| t["task_id"] == task)
        .and_then(|t| t["state"].as_str().map(str::to_owned))
}

#[test]
fn every_sensor_kind_waits_for_its_condition_under_the_scheduler() {
    let env = Env::new();
    env.write("checks.py", CHECKS);
    let flag = env.home().join("flag");
    let flag_s = flag.to_string_lossy().into_owned();
    let data = env.home().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let out = env.home().join("xcom.json");
    // The upstream DAG's `work` waits for the flag too, so the external sensor waits.
    env.write(
        "up.toml",
        &format!(
            r#"
is_paused_upon_creation = false

[tasks.gate]
type = "sensor"
sensor = "file"
filepath = "{flag_s}"
poke_interval = "1s"

[tasks.work]
type = "python"
python_callable = "checks:work"
upstream = ["gate"]
"#
        ),
    );
    env.write(
        "down.toml",
        &format!(
            r#"
is_paused_upon_creation = false

[default_args]
poke_interval = "1s"
timeout = "5m"

[tasks.py]
type = "sensor"
sensor = "python"
python_callable = "checks:flag_with_value"
op_kwargs = {{ path = "{flag_s}" }}

[tasks.py_bool]
type = "sensor"
sensor = "python"
python_callable = "checks:truthy_when"
op_args = ["{flag_s}"]
mode = "reschedule"

[tasks.sh]
type = "sensor"
sensor = "bash"
bash_command = "test -e '{flag_s}'"

[tasks.file]
type = "sensor"
sensor = "file"
filepath = "{}/*/part-*.csv"
mode = "reschedule"

[tasks.ext]
type = "sensor"
sensor = "external_task"
external_dag_id = "up"
external_task_id = "work"

[tasks.ext_fn]
type = "sensor"
sensor = "external_task"
external_dag_id = "up"
execution_date_fn = "checks:same_date"

[tasks.delta]
type = "sensor"
sensor = "time_delta"
delta = "1s"

[tasks.moment]
type = "sensor"
sensor = "date_time"
target_time = "{{{{ data_interval_end }}}}"

[tasks.clock]
type = "sensor"
sensor = "time"
target_time = "00:00:00"

[tasks.record]
type = "bash"
bash_command = "echo '{{{{ ti.xcom_pull(task_ids=\"py\") | tojson }}}}' > '{}'"
upstream = ["py", "py_bool", "sh", "file", "ext", "ext_fn", "delta", "moment", "clock"]
"#,
            data.display(),
            out.display()
        ),
    );
    let logical = "2026-01-05T00:00:00+00:00";
    env.ok(&["dags", "trigger", "up", "-r", "u1", "-l", logical]);
    env.ok(&["dags", "trigger", "down", "-r", "d1", "-l", logical]);
    let d = env.start();
    // Every condition but the clock ones is false: the sensors wait.
    wait_for("the sensors to poke", Duration::from_secs(120), || {
        let tis = api_tis(&d, "down", "d1");
        let waiting = ["py", "sh", "ext", "ext_fn"].iter().all(|t| {
            tis.iter()
                .any(|x| x["task_id"] == *t && x["state"] == "running")
        }) && ["py_bool", "file"].iter().all(|t| {
            tis.iter()
                .any(|x| x["task_id"] == *t && x["state"] == "up_for_reschedule")
        });
        waiting.then_some(())
    });
    assert_ne!(
        api_state(&d, "up", "u1", "work").as_deref(),
        Some("success")
    );
    std::fs::create_dir_all(data.join("2026-01-05")).expect("mkdir");
    std::fs::write(data.join("2026-01-05/part-0.csv"), "x").expect("write");
    std::fs::write(&flag, "").expect("flag");
    wait_for("down to finish", Duration::from_secs(180), || {
        let (_, body) = d.get("/api/v1/dags/down/dagRuns/d1");
        (body["state"] == "success" || body["state"] == "failed").then(|| body["state"].clone())
    });
    drop(d);
    let tis = states(&env, "down", "d1");
    for (task, state, try_number) in &tis {
        assert_eq!(
            (state.as_str(), *try_number),
            ("success", 1),
            "{task}: {tis:?}"
        );
    }
    // PokeReturnValue's xcom_value is the sensor's return_value, with its context.
    let xcom: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the record")).expect("JSON");
    assert_eq!(xcom["ds"], "2026-01-05", "{xcom}");
    assert_eq!(xcom["found"], flag_s.as_str());
}

#[test]
fn a_sensor_that_times_out_fails_without_retry_or_skips_with_soft_fail() {
    let env = Env::new();
    env.write(
        "t.toml",
        r#"
[default_args]
poke_interval = 1
timeout = 2
retries = 2
retry_delay = 1

[tasks.hard]
type = "sensor"
sensor = "bash"
bash_command = "exit 1"

[tasks.soft]
type = "sensor"
sensor = "file"
filepath = "/nonexistent/lithoflow-test"
soft_fail = true
mode = "reschedule"

[tasks.after_soft]
type = "empty"
upstream = ["soft"]

[tasks.strict]
type = "sensor"
sensor = "bash"
bash_command = "exit 4"
retry_exit_code = 3
retries = 0
"#,
    );
    let (code, _, err) = env.run(&["dags", "test", "t"]);
    assert_ne!(code, 0, "{err}");
    let run = env.runs("t")[0]["run_id"]
        .as_str()
        .expect("a run id")
        .to_owned();
    let tis = states(&env, "t", &run);
    // AirflowSensorTimeout is not retried.
    assert_eq!(state_of(&tis, "hard"), ("failed".to_owned(), 1), "{err}");
    assert_eq!(state_of(&tis, "soft"), ("skipped".to_owned(), 1), "{err}");
    assert_eq!(state_of(&tis, "after_soft").0, "skipped", "{err}");
    // BashSensor: an exit code other than retry_exit_code fails at once.
    assert_eq!(state_of(&tis, "strict"), ("failed".to_owned(), 1), "{err}");
    let log = std::fs::read_to_string(env.home().join(format!(
        "logs/dag_id=t/run_id={run}/task_id=hard/attempt=1.log"
    )))
    .expect("the log");
    assert!(
        log.contains("Sensor has timed out; run duration of"),
        "{log}"
    );
    let strict = std::fs::read_to_string(env.home().join(format!(
        "logs/dag_id=t/run_id={run}/task_id=strict/attempt=1.log"
    )))
    .expect("the log");
    assert!(
        strict.contains("Command exited with return code 4"),
        "{strict}"
    );
}

#[test]
fn reschedule_survives_a_killed_scheduler_without_resetting_the_timeout() {
    let env = Env::new();
    let flag = env.home().join("ready");
    env.write(
        "r.toml",
        &format!(
            r#"
is_paused_upon_creation = false

[default_args]
mode = "reschedule"
poke_interval = "1s"

[tasks.waits]
type = "sensor"
sensor = "file"
filepath = "{}"
timeout = "1h"

[tasks.times_out]
type = "sensor"
sensor = "file"
filepath = "/nonexistent/lithoflow-never"
timeout = "8s"

[tasks.soft]
type = "sensor"
sensor = "file"
filepath = "/nonexistent/lithoflow-never"
timeout = "8s"
soft_fail = true
"#,
            flag.display()
        ),
    );
    env.ok(&["dags", "trigger", "r", "-r", "r1"]);
    let mut first = env.start();
    let started = wait_for(
        "all three up_for_reschedule",
        Duration::from_secs(60),
        || {
            let tis = api_tis(&first, "r", "r1");
            let all = ["waits", "times_out", "soft"].iter().all(|t| {
                tis.iter()
                    .any(|x| x["task_id"] == *t && x["state"] == "up_for_reschedule")
            });
            let start = tis
                .iter()
                .filter_map(|x| x["start_date"].as_str())
                .filter_map(|s| DateTime::parse_from_rfc3339(s).ok())
                .min();
            all.then_some(start).flatten()
        },
    );
    first.kill9();
    // A killed scheduler leaves its scheduler.json behind; the next one writes its own.
    let _ = std::fs::remove_file(env.home().join("scheduler.json"));
    // Down longer than the 8 s timeout, counted from the first poke (the try's start).
    wait_for("the timeout to pass", Duration::from_secs(60), || {
        (Utc::now() > started + chrono::Duration::seconds(10)).then_some(())
    });
    std::fs::write(&flag, "").expect("flag");
    let second = env.start();
    wait_for("the run to end", Duration::from_secs(120), || {
        let (_, body) = second.get("/api/v1/dags/r/dagRuns/r1");
        (body["state"] == "success" || body["state"] == "failed").then_some(())
    });
    drop(second);
    let tis = states(&env, "r", "r1");
    // The same try resumed: the file is found; the other two time out at their first
    // poke after the restart instead of waiting another 8 s.
    assert_eq!(
        state_of(&tis, "waits"),
        ("success".to_owned(), 1),
        "{tis:?}"
    );
    assert_eq!(
        state_of(&tis, "times_out"),
        ("failed".to_owned(), 1),
        "{tis:?}"
    );
    assert_eq!(state_of(&tis, "soft"), ("skipped".to_owned(), 1), "{tis:?}");
    let log = std::fs::read_to_string(
        env.home()
            .join("logs/dag_id=r/run_id=r1/task_id=times_out/attempt=1.log"),
    )
    .expect("the log");
    // The log of the resumed try: one poke, then the timeout (a reset timeout would
    // have poked for 8 s more).
    assert!(log.contains("Sensor has timed out"), "{log}");
    assert_eq!(log.matches("Poking for file").count(), 1, "{log}");
}

/// The first log of `task` in any run of `dag`, once it holds `text`.
fn log_with(env: &Env, dag: &str, task: &str, text: &str) -> Option<String> {
    let runs = std::fs::read_dir(env.home().join(format!("logs/dag_id={dag}"))).ok()?;
    for run in runs.flatten() {
        let path = run.path().join(format!("task_id={task}/attempt=1.log"));
        if let Ok(log) = std::fs::read_to_string(&path)
            && log.contains(text)
        {
            return Some(log);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_key_sensor_waits_for_its_keys_in_s3() {
    let emu = crate::emulator::Emulator::start();
    let s3 = crate::s3::client(&emu);
    s3.create_bucket()
        .bucket("lf-sensor")
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket("lf-sensor")
        .key("ready/_SUCCESS")
        .body(Vec::new().into())
        .send()
        .await
        .expect("put");
    let env = Env::new();
    env.write(
        "s3s.toml",
        r#"
[tasks.wait]
type = "sensor"
sensor = "s3_key"
bucket_key = ["s3://lf-sensor/ready/_SUCCESS", "s3://lf-sensor/in/{{ ds }}/*.csv"]
wildcard_match = true
poke_interval = "1s"
timeout = "5m"

[tasks.named]
type = "sensor"
sensor = "s3_key"
bucket_name = "lf-sensor"
bucket_key = "ready/_SUCCESS"
poke_interval = "1s"
"#,
    );
    let mut cmd = env.cmd(&["dags", "test", "s3s"]);
    cmd.envs(emu.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("dags test starts");
    // The wildcard key is missing: the sensor pokes and waits.
    wait_for("the sensor to poke", Duration::from_secs(120), || {
        log_with(&env, "s3s", "wait", "not there yet")
    });
    let day = Utc::now().format("%Y-%m-%d");
    s3.put_object()
        .bucket("lf-sensor")
        .key(format!("in/{day}/part-0.csv"))
        .body(b"a,b\n".to_vec().into())
        .send()
        .await
        .expect("put");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("joins")
        .expect("dags test ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let run = env.runs("s3s")[0]["run_id"]
        .as_str()
        .expect("a run id")
        .to_owned();
    let tis = states(&env, "s3s", &run);
    assert_eq!(state_of(&tis, "wait"), ("success".to_owned(), 1), "{err}");
    assert_eq!(state_of(&tis, "named"), ("success".to_owned(), 1), "{err}");
}
