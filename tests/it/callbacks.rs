//! Airflow's callbacks end to end, with real Python on local workers: through `dags
//! test` and through a running scheduler. Each callback appends a JSON line (which
//! callback, the context's task id, its `reason`, its exception's type and message) to a
//! file named by the DAG's params, so the test reads exactly what fired, in what order,
//! with what context.

use serde_json::Value;

use crate::harness::Env;

const FNS: &str = r#"
import json

from lithoflow import Variable, get_current_context


class AirflowSkipException(Exception):
    pass


def ok():
    return 1


def boom():
    raise ValueError("boom from the task")


def skip():
    raise AirflowSkipException("nothing to do today")


def _record(name, context):
    exc = context.get("exception")
    line = {
        "cb": name,
        "task": context.get("task_id"),
        "reason": context.get("reason"),
        "exc_type": type(exc).__name__ if exc is not None else None,
        "exc": str(exc) if exc is not None else None,
        "is_exception": isinstance(exc, BaseException) if exc is not None else None,
        # A callback asks the scheduler as its task does (a Slack callback reads its
        # connection or a variable), and its context is the current one.
        "var": Variable.get("alert_channel", default_var=None),
        "current": get_current_context()["run_id"] == context["run_id"],
    }
    with open(context["params"]["out"], "a") as f:
        f.write(json.dumps(line) + "\n")


def on_execute(context):
    print("about to run", context["task_id"])
    _record("execute", context)


def on_success(context):
    _record("success", context)


def on_success_2(context):
    _record("success_2", context)


def on_failure(context):
    _record("failure", context)


def on_retry(context):
    _record("retry", context)


def on_skipped(context):
    _record("skipped", context)


def raises(context):
    _record("raises", context)
    raise RuntimeError("the callback itself failed")


def dag_success(context):
    _record("dag_success", context)


def dag_failure(context):
    _record("dag_failure", context)
"#;

fn dag(out: &std::path::Path, schedule: &str) -> String {
    format!(
        r#"
{schedule}
params = {{ out = "{out}" }}
on_success_callback = "cbs:dag_success"
on_failure_callback = ["cbs:dag_failure", "cbs:raises"]

[default_args]
on_failure_callback = "cbs:on_failure"

[tasks.first]
type = "python"
python_callable = "cbs:ok"
on_execute_callback = "cbs:on_execute"
on_success_callback = ["cbs:raises", "cbs:on_success", "cbs:on_success_2"]

[tasks.second]
type = "python"
python_callable = "cbs:boom"
upstream = ["first"]
retries = 1
retry_delay = 0
on_retry_callback = "cbs:on_retry"

[tasks.quiet]
type = "python"
python_callable = "cbs:skip"
upstream = ["first"]
on_skipped_callback = "cbs:on_skipped"

[tasks.cleanup]
type = "bash"
bash_command = "exit 0"
upstream = ["first"]
on_success_callback = "cbs:on_success"
"#,
        out = out.display()
    )
}

/// The recorded callbacks: (callback, task id, reason, exception type, exception text).
fn recorded(out: &std::path::Path) -> Vec<(String, String, String, String, String)> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            if !v["exc_type"].is_null() {
                assert_eq!(v["is_exception"], true, "{v}");
            }
            (s("cb"), s("task"), s("reason"), s("exc_type"), s("exc"))
        })
        .collect()
}

/// The callbacks of one task, in order, and the run's at the end.
fn check(out: &std::path::Path) {
    let all = recorded(out);
    let of = |task: &str| -> Vec<String> {
        all.iter()
            .filter(|r| r.1 == task && r.2.is_empty())
            .map(|r| r.0.clone())
            .collect()
    };
    // The list in order; the callback that raised did not stop the next ones.
    assert_eq!(
        of("first"),
        ["execute", "raises", "success", "success_2"],
        "{all:?}"
    );
    assert_eq!(of("second"), ["retry", "failure"], "{all:?}");
    assert_eq!(of("quiet"), ["skipped"], "{all:?}");
    assert_eq!(of("cleanup"), ["success"], "{all:?}");
    let exc: Vec<(&str, &str)> = all
        .iter()
        .filter(|r| r.1 == "second" && r.2.is_empty())
        .map(|r| (r.3.as_str(), r.4.as_str()))
        .collect();
    assert_eq!(
        exc,
        [
            ("ValueError", "boom from the task"),
            ("ValueError", "boom from the task")
        ]
    );
    // The run's callbacks come last, with the reason, the last task instance's context
    // (`second`, by task id) and no exception; the one that raises is the run's second.
    let run: Vec<_> = all.iter().filter(|r| !r.2.is_empty()).collect();
    assert_eq!(run.len(), 2, "{all:?}");
    assert_eq!(
        (run[0].0.as_str(), run[0].1.as_str(), run[0].2.as_str()),
        ("dag_failure", "second", "task_failure")
    );
    assert_eq!(run[1].0, "raises");
    assert!(
        all.last().is_some_and(|l| !l.2.is_empty()),
        "the run's callbacks run last: {all:?}"
    );
}

#[test]
fn dags_test_fires_each_callback_when_airflow_does_with_the_context() {
    let env = Env::new();
    env.write("cbs.py", FNS);
    let out = env.home().join("callbacks.jsonl");
    env.write("cb.toml", &dag(&out, ""));
    let (code, _, err) = env.run(&["variables", "set", "alert_channel", "#alerts"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = env.run(&["dags", "test", "cb"]);
    // `second` failed for good, so the run failed; no callback changed a state.
    assert_eq!(code, 1, "{err}");
    check(&out);
    let lines = std::fs::read_to_string(&out).expect("recorded");
    for line in lines.lines() {
        let v: Value = serde_json::from_str(line).expect("json line");
        assert_eq!(
            v["var"], "#alerts",
            "every callback read the variable: {line}"
        );
        assert_eq!(v["current"], true, "{line}");
    }

    // The try's log holds its callbacks' output and failures.
    let logs = env.home().join("logs").join("dag_id=cb");
    let run_dir = std::fs::read_dir(&logs)
        .expect("the run's logs")
        .next()
        .expect("one run")
        .expect("entry")
        .path();
    let first =
        std::fs::read_to_string(run_dir.join("task_id=first/attempt=1.log")).expect("first's log");
    assert!(first.contains("about to run first"), "{first}");
    assert!(
        first.contains("on_success_callback 1/3 cbs:raises failed (the state is unchanged): RuntimeError: the callback itself failed"),
        "{first}"
    );
    assert!(
        first.contains("on_success_callback 3/3 cbs:on_success_2 done"),
        "{first}"
    );
    let dag_log = std::fs::read_to_string(run_dir.join("dag_callbacks.log")).expect("dag log");
    assert!(
        dag_log.contains("on_failure_callback 2/2 cbs:raises failed"),
        "{dag_log}"
    );
}

#[test]
fn a_running_scheduler_fires_the_callbacks_too() {
    let env = Env::new();
    env.write("cbs.py", FNS);
    let out = env.home().join("callbacks.jsonl");
    env.write(
        "cb.toml",
        &dag(
            &out,
            "schedule = \"@once\"\nstart_date = 2026-01-01\nis_paused_upon_creation = false",
        ),
    );
    env.schedule_until_idle();
    let runs = env.runs("cb");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["state"], "failed");
    check(&out);
}
