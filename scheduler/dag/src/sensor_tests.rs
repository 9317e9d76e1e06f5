//! Tests of the `sensor` and `trigger_dag_run` task types: what each reads, its
//! defaults, and an error with file:line:column for every bad value.

use std::time::Duration;

use super::*;
use crate::tests::{errors, parse_ok};

fn sensor(dag: &Dag, id: &str) -> SensorSpec {
    match &dag.task(id).expect("task").kind {
        TaskKind::Sensor(s) => s.clone(),
        other => panic!("not a sensor: {other:?}"),
    }
}

#[test]
fn every_sensor_kind_is_read_with_airflows_defaults() {
    let dag = parse_ok(
        r#"
[tasks.py]
type = "sensor"
sensor = "python"
python_callable = "checks:ready"
op_kwargs = { table = "{{ ds }}" }
templates_dict = { day = "{{ ds }}" }

[tasks.sh]
type = "sensor"
sensor = "bash"
bash_command = "test -f /tmp/x"
env = { A = "1" }
cwd = "/tmp"
retry_exit_code = 3

[tasks.file]
type = "sensor"
sensor = "file"
filepath = "/data/{{ ds }}/*.csv"
recursive = true
poke_interval = "30s"
timeout = "2h"
mode = "reschedule"
soft_fail = true
exponential_backoff = true
max_wait = "10m"
silent_fail = true

[tasks.ext]
type = "sensor"
sensor = "external_task"
external_dag_id = "upstream_dag"
external_task_id = "load"
execution_delta = "1h"
failed_states = ["failed", "upstream_failed"]

[tasks.delta]
type = "sensor"
sensor = "time_delta"
delta = "5m"

[tasks.at]
type = "sensor"
sensor = "date_time"
target_time = "{{ data_interval_end }}"

[tasks.tod]
type = "sensor"
sensor = "time"
target_time = "09:30"

[tasks.s3]
type = "sensor"
sensor = "s3_key"
bucket_key = ["s3://b/raw/{{ ds }}.csv", "s3://b/raw/other.csv"]
wildcard_match = true
"#,
    );
    let py = sensor(&dag, "py");
    let SensorKind::Python(p) = &py.sensor else {
        panic!("{py:?}")
    };
    assert_eq!(p.python_callable.to_string(), "checks:ready");
    assert!(p.templates_dict.is_some());
    // Airflow's defaults: poke every 60 s for up to 7 days, in poke mode.
    assert_eq!(py.poke_interval, Duration::from_secs(60));
    assert_eq!(py.timeout, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(py.mode, SensorMode::Poke);
    assert!(!py.soft_fail && !py.exponential_backoff && !py.silent_fail);

    let SensorKind::Bash {
        bash,
        retry_exit_code,
    } = sensor(&dag, "sh").sensor
    else {
        panic!()
    };
    assert_eq!(bash.cwd.as_deref(), Some("/tmp"));
    assert_eq!(retry_exit_code, Some(3));

    let file = sensor(&dag, "file");
    assert_eq!(file.poke_interval, Duration::from_secs(30));
    assert_eq!(file.timeout, Duration::from_secs(7200));
    assert_eq!(file.mode, SensorMode::Reschedule);
    assert!(file.soft_fail && file.exponential_backoff && file.silent_fail);
    assert_eq!(file.max_wait, Some(Duration::from_secs(600)));
    // The sensor's timeout is not a time limit of function calls.
    assert_eq!(dag.task("file").expect("file").common.timeout, None);

    let SensorKind::ExternalTask(ext) = sensor(&dag, "ext").sensor else {
        panic!()
    };
    assert_eq!(ext.external_task_ids, vec!["load".to_owned()]);
    assert_eq!(ext.allowed_states, vec!["success".to_owned()]);
    assert_eq!(ext.execution_delta, Some(Duration::from_secs(3600)));

    assert!(matches!(
        sensor(&dag, "tod").sensor,
        SensorKind::Time { target_time } if target_time.to_string() == "09:30:00"
    ));
    let SensorKind::S3Key(s3) = sensor(&dag, "s3").sensor else {
        panic!()
    };
    assert_eq!(s3.bucket_key.len(), 2);
    assert!(s3.wildcard_match);
    // dags show lists a sensor's keys.
    let params = dag.task("file").expect("file").parameters();
    assert!(
        params.contains(&("sensor", "file".to_owned())),
        "{params:?}"
    );
    assert!(
        params.contains(&("mode", "reschedule".to_owned())),
        "{params:?}"
    );
}

#[test]
fn sensor_defaults_come_from_default_args() {
    let dag = parse_ok(
        r#"
[default_args]
poke_interval = "5s"
mode = "reschedule"
timeout = "1h"

[tasks.s]
type = "sensor"
sensor = "time_delta"
delta = "1m"

[tasks.t]
type = "trigger_dag_run"
trigger_dag_id = "other"
"#,
    );
    let s = sensor(&dag, "s");
    assert_eq!(
        (s.poke_interval, s.mode, s.timeout),
        (
            Duration::from_secs(5),
            SensorMode::Reschedule,
            Duration::from_secs(3600)
        )
    );
    let TaskKind::TriggerDagRun(t) = &dag.task("t").expect("t").kind else {
        panic!()
    };
    assert_eq!(t.poke_interval, Duration::from_secs(5));
}

#[test]
fn an_unknown_sensor_kind_gets_a_did_you_mean() {
    let errs = errors("[tasks.s]\ntype = \"sensor\"\nsensor = \"fiel\"\nfilepath = \"/x\"\n");
    assert_eq!(
        errs,
        vec![
            "t.toml:3:10: error: unknown sensor \"fiel\"; did you mean \"file\"? expected one of python, file, external_task, time_delta, date_time, time, s3_key, bash"
        ]
    );
    let errs = errors("[tasks.s]\ntype = \"sensor\"\n");
    assert_eq!(
        errs,
        vec![
            "t.toml:1:8: error: task `s` (sensor) is missing `sensor`: what it waits for, one of python, file, external_task, time_delta, date_time, time, s3_key, bash"
        ]
    );
}

#[test]
fn a_key_of_another_sensor_kind_is_refused() {
    let errs = errors(
        "[tasks.s]\ntype = \"sensor\"\nsensor = \"time_delta\"\ndelta = \"1h\"\nfilepath = \"/x\"\n",
    );
    assert_eq!(
        errs,
        vec![
            "t.toml:5:1: error: `filepath` is not a parameter of time_delta sensors (it belongs to file sensors)"
        ]
    );
    // Sensor keys on other task types.
    let errs = errors("[tasks.b]\ntype = \"bash\"\nbash_command = \"true\"\nmode = \"poke\"\n");
    assert_eq!(
        errs,
        vec![
            "t.toml:4:1: error: `mode` is not a parameter of bash tasks (it belongs to sensor tasks)"
        ]
    );
    let errs = errors(
        "[tasks.p]\ntype = \"python\"\npython_callable = \"m:f\"\nwait_for_completion = true\n",
    );
    assert_eq!(
        errs,
        vec![
            "t.toml:4:1: error: `wait_for_completion` is not a parameter of python tasks (it belongs to trigger_dag_run tasks)"
        ]
    );
}

#[test]
fn every_bad_sensor_value_is_an_error_with_its_place() {
    let cases: &[(&str, &str)] = &[
        (
            "sensor = \"file\"\nfilepath = \"/x\"\nmode = \"resched\"",
            "t.toml:5:8: error: unknown sensor mode \"resched\"; did you mean \"reschedule\"? expected \"poke\" or \"reschedule\"",
        ),
        (
            "sensor = \"file\"\nfilepath = \"/x\"\npoke_interval = \"soon\"",
            "t.toml:5:17: error: `poke_interval` must be a duration such as \"90s\", \"5m\" or \"1h30m\", or a number of seconds, found string \"soon\" (expected number at 0)",
        ),
        (
            "sensor = \"time\"\ntarget_time = \"25:00\"",
            "t.toml:4:15: error: `target_time`: \"25:00\" is not a time of day (expected \"HH:MM\" or \"HH:MM:SS\")",
        ),
        (
            "sensor = \"date_time\"\ntarget_time = \"tomorrow\"",
            "t.toml:4:15: error: `target_time`: \"tomorrow\" is not a date-time (expected ISO 8601 such as \"2026-05-01T10:00:00+00:00\")",
        ),
        (
            "sensor = \"external_task\"\nexternal_dag_id = \"d\"\nexternal_task_id = \"a\"\nallowed_states = [\"succes\"]",
            "t.toml:6:18: error: `allowed_states` names \"succes\", which is not one of the task instance states; did you mean \"success\"? expected success, failed, skipped, upstream_failed, up_for_retry, up_for_reschedule, running, queued, scheduled, removed, restarting, deferred, none",
        ),
        (
            "sensor = \"external_task\"\nexternal_dag_id = \"d\"\nallowed_states = [\"skipped\"]",
            "t.toml:5:18: error: `allowed_states` names \"skipped\", which is not one of the DAG run states (no task is named); expected queued, running, success, failed",
        ),
        (
            "sensor = \"external_task\"\nexternal_dag_id = \"d\"\nexternal_task_id = \"a\"\nexternal_task_ids = [\"b\"]",
            "t.toml:6:21: error: task `s` sets both `external_task_id` and `external_task_ids`; only one of them may be provided",
        ),
        (
            "sensor = \"external_task\"\nexternal_dag_id = \"d\"\nexecution_delta = \"1h\"\nexecution_date_fn = \"m:f\"",
            "t.toml:6:21: error: task `s` sets both `execution_delta` and `execution_date_fn`; only one of them may be provided",
        ),
        (
            "sensor = \"external_task\"\nexternal_dag_id = \"d\"\nfailed_states = [\"success\"]",
            "t.toml:5:17: error: \"success\" is in both `allowed_states` and `failed_states`; a state may mean only one of them",
        ),
        (
            "sensor = \"external_task\"\nexternal_dag_id = \"no such dag\"",
            "t.toml:4:19: error: `external_dag_id` \"no such dag\" is not a valid DAG id (letters, digits, `_`, `.` and `-`, at most 250 characters)",
        ),
        (
            "sensor = \"s3_key\"\nbucket_key = \"raw/x.csv\"",
            "t.toml:4:14: error: bucket_key \"raw/x.csv\" is not a full s3:// url, and no `bucket_name` is set; write \"s3://bucket/raw/x.csv\" or set bucket_name",
        ),
        (
            "sensor = \"s3_key\"\nbucket_key = \"s3://b/x\"\nbucket_name = \"b\"",
            "t.toml:4:14: error: bucket_key \"s3://b/x\" is a full s3:// url, but `bucket_name` is set; with bucket_name, bucket_key should be the relative path from the bucket's root",
        ),
        (
            "sensor = \"bash\"\nbash_command = \"true\"\nretry_exit_code = 300",
            "t.toml:5:19: error: `retry_exit_code` must be an exit code (0-255), found integer 300",
        ),
        (
            "sensor = \"file\"\nfilepath = \"/x\"\nsoft_fail = \"yes\"",
            "t.toml:5:13: error: `soft_fail` must be a boolean (true or false), found string \"yes\"",
        ),
        (
            "sensor = \"python\"",
            "t.toml:1:8: error: task `s` (sensor) is missing `python_callable`: the Python callable to run (\"module:function\")",
        ),
    ];
    for (body, want) in cases {
        let text = format!("[tasks.s]\ntype = \"sensor\"\n{body}\n");
        let errs = errors(&text);
        assert_eq!(errs, vec![(*want).to_owned()], "{text}");
    }
}

#[test]
fn trigger_dag_run_is_read_with_airflows_defaults_and_checked() {
    let dag = parse_ok(
        r#"
[tasks.kick]
type = "TriggerDagRunOperator"
trigger_dag_id = "downstream_dag"
trigger_run_id = "triggered__{{ ts }}"
conf = { source = "{{ dag.dag_id }}" }
execution_date = "{{ ts }}"
wait_for_completion = true
poke_interval = "2s"

[tasks.plain]
type = "trigger_dag_run"
trigger_dag_id = "other"
"#,
    );
    let TaskKind::TriggerDagRun(k) = &dag.task("kick").expect("kick").kind else {
        panic!()
    };
    assert_eq!(k.logical_date.as_deref(), Some("{{ ts }}"));
    assert_eq!(k.trigger_run_id.as_deref(), Some("triggered__{{ ts }}"));
    assert!(k.wait_for_completion);
    assert_eq!(k.poke_interval, Duration::from_secs(2));
    let TaskKind::TriggerDagRun(p) = &dag.task("plain").expect("plain").kind else {
        panic!()
    };
    assert_eq!(p.allowed_states, vec!["success".to_owned()]);
    assert_eq!(p.failed_states, vec!["failed".to_owned()]);
    assert!(!p.reset_dag_run && !p.skip_when_already_exists && !p.wait_for_completion);
    assert_eq!(p.poke_interval, Duration::from_secs(60));

    let errs = errors("[tasks.t]\ntype = \"trigger_dag_run\"\n");
    assert_eq!(
        errs,
        vec![
            "t.toml:1:8: error: task `t` (trigger_dag_run) is missing `trigger_dag_id`: the DAG to trigger"
        ]
    );
    let errs = errors(
        "[tasks.t]\ntype = \"trigger_dag_run\"\ntrigger_dag_id = \"o\"\nfailed_states = [\"skipped\"]\n",
    );
    assert_eq!(
        errs,
        vec![
            "t.toml:4:17: error: `failed_states` names \"skipped\", which is not one of the DAG run states; expected queued, running, success, failed"
        ]
    );
    let errs = errors(
        "[tasks.t]\ntype = \"trigger_dag_run\"\ntrigger_dag_id = \"o\"\nlogical_date = \"someday\"\n",
    );
    assert_eq!(
        errs,
        vec![
            "t.toml:4:16: error: `logical_date`: \"someday\" is not a date-time (expected ISO 8601 such as \"2026-05-01T10:00:00+00:00\")"
        ]
    );
}

#[test]
fn datetimes_parse_as_airflows_timezone_parse() {
    let want = chrono::DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z")
        .expect("valid")
        .with_timezone(&chrono::Utc);
    for text in [
        "2026-05-01T10:00:00+00:00",
        "2026-05-01T12:00:00+02:00",
        "2026-05-01 10:00:00",
        "2026-05-01T10:00:00",
        "2026-05-01T10:00:00.000000+00:00",
    ] {
        assert_eq!(parse_datetime(text), Ok(want), "{text}");
    }
    assert!(parse_datetime("2026-05-01").is_ok());
    assert!(parse_datetime("May 1st").is_err());
}
