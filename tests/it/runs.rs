//! DAG runs end to end with real Python: `lithoflow dags test` on the fixtures under
//! `tests/fixtures/runs/`, checked against Airflow's semantics (trigger rules, retries,
//! skips, timeouts, templates, XCom, per-try logs, max_active_tasks, depends_on_past).
//!
//! Every test gets its own `LITHOFLOW_HOME`; a function that must keep state between tries
//! gets a temporary folder through `--conf` (rendered into its `data` by a template).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{lithoflow, repo_root};

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/runs")
}

/// One finished `dags test`.
struct Run {
    /// The JSON document it printed.
    doc: Value,
    /// Whether it exited 0 (1 otherwise; anything else fails the test).
    ok: bool,
    /// How long the command took.
    elapsed: Duration,
    /// What it printed on stderr.
    stderr: String,
}

impl Run {
    fn state(&self) -> &str {
        self.doc["state"].as_str().expect("the run has a state")
    }

    fn note(&self) -> &str {
        self.doc["note"].as_str().unwrap_or_default()
    }

    fn run_id(&self) -> &str {
        self.doc["run_id"].as_str().expect("the run has a run_id")
    }

    fn task(&self, task_id: &str) -> &Value {
        self.doc["tasks"]
            .as_array()
            .expect("tasks is an array")
            .iter()
            .find(|t| t["task_id"] == task_id)
            .unwrap_or_else(|| panic!("no task `{task_id}` in {}", self.doc))
    }

    /// Asserts a task's state and try number.
    fn expect_task(&self, task_id: &str, state: &str, try_number: u64) -> &Value {
        let t = self.task(task_id);
        assert_eq!(
            (t["state"].as_str(), t["try_number"].as_u64()),
            (Some(state), Some(try_number)),
            "task `{task_id}` in {}\nstderr:\n{}",
            self.doc,
            self.stderr
        );
        t
    }

    fn value(&self, task_id: &str) -> &Value {
        &self.task(task_id)["return_value"]
    }

    fn time(&self, task_id: &str) -> f64 {
        self.value(task_id)
            .as_f64()
            .unwrap_or_else(|| panic!("`{task_id}` returns a time: {}", self.doc))
    }

    fn error(&self, task_id: &str) -> &str {
        self.task(task_id)["error"].as_str().unwrap_or_default()
    }

    /// The log file of one try of a task.
    fn log(&self, home: &Path, task_id: &str, attempt: u32) -> String {
        let dag_id = self.doc["dag_id"].as_str().expect("dag_id");
        let path = home
            .join("logs")
            .join(format!("dag_id={dag_id}"))
            .join(format!("run_id={}", self.run_id()))
            .join(format!("task_id={task_id}"))
            .join(format!("attempt={attempt}.log"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()))
    }
}

/// `lithoflow --dags-folder <folder> dags test <args> -o json` with `home` as LITHOFLOW_HOME.
fn dags_test_in(folder: &Path, home: &Path, args: &[&str]) -> Run {
    let started = Instant::now();
    let out = lithoflow()
        .env("LITHOFLOW_HOME", home)
        .arg("--dags-folder")
        .arg(folder)
        .args(["dags", "test"])
        .args(args)
        .args(["-o", "json"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("lithoflow runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let ok = match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("dags test {args:?} exited with {other:?}\nstderr:\n{stderr}"),
    };
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "dags test {args:?} prints JSON ({e}): {}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let run = Run {
        doc,
        ok,
        elapsed,
        stderr,
    };
    assert_eq!(
        run.ok,
        run.state() == "success",
        "the exit code follows the run state: {}",
        run.doc
    );
    run
}

/// `dags test` on the runs fixtures.
fn dags_test(home: &Path, args: &[&str]) -> Run {
    dags_test_in(&fixtures(), home, args)
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn the_example_chain_runs_to_success_on_first_tries() {
    let home = home();
    let run = dags_test_in(&repo_root().join("dags"), home.path(), &["lithops_example"]);
    assert!(run.ok);
    assert_eq!(run.state(), "success");
    assert!(run.run_id().starts_with("manual__"), "{}", run.doc);
    for (task, value) in [
        ("add_task_1", serde_json::json!(4)),
        ("add_task_2", serde_json::json!(8)),
        ("map_task", serde_json::json!([2, 3, 4])),
        ("mapreduce_task", serde_json::json!(60)),
    ] {
        run.expect_task(task, "success", 1);
        assert_eq!(run.value(task), &value, "{task}");
        assert!(run.task(task)["error"].is_null(), "{task}");
    }
}

#[test]
fn a_failure_cascades_as_upstream_failed() {
    let home = home();
    let run = dags_test(home.path(), &["cascade"]);
    assert!(!run.ok);
    assert_eq!(run.state(), "failed");
    run.expect_task("a", "failed", 1);
    assert!(
        run.error("a").contains("ValueError: a always fails"),
        "{}",
        run.error("a")
    );
    // upstream_failed tasks never ran: no try, no value.
    for t in ["b", "c"] {
        run.expect_task(t, "upstream_failed", 0);
        assert!(run.value(t).is_null());
    }
}

#[test]
fn retries_are_used_up_then_the_task_fails_and_every_try_has_its_log() {
    let home = home();
    let run = dags_test(home.path(), &["retries"]);
    assert_eq!(run.state(), "failed");
    run.expect_task("a", "failed", 3);
    run.expect_task("b", "upstream_failed", 0);
    assert!(run.error("a").contains("ValueError: a always fails"));
    for attempt in 1..=3 {
        let log = run.log(home.path(), "a", attempt);
        assert!(log.contains(&format!("try {attempt}/3")), "{log}");
        assert!(
            log.contains("boom is about to fail: a always fails"),
            "{log}"
        );
        assert!(
            log.contains("Task failed: call 0 raised ValueError: a always fails"),
            "{log}"
        );
        let state = if attempt < 3 {
            "up_for_retry"
        } else {
            "failed"
        };
        assert!(log.contains(&format!("state: {state}")), "{log}");
    }
    let task_logs = home
        .path()
        .join("logs/dag_id=retries")
        .join(format!("run_id={}", run.run_id()))
        .join("task_id=a");
    assert!(!task_logs.join("attempt=4.log").exists());
    // b never ran, so it has no log.
    assert!(!task_logs.with_file_name("task_id=b").exists());
}

#[test]
fn a_task_that_succeeds_on_its_last_retry_succeeds_and_logs_every_try() {
    let home = home();
    let counter = tempfile::tempdir().expect("temp dir");
    let conf = serde_json::json!({ "dir": counter.path() }).to_string();
    let run = dags_test(home.path(), &["flaky", "--conf", &conf]);
    assert!(run.ok, "{}\n{}", run.doc, run.stderr);
    assert_eq!(run.state(), "success");
    run.expect_task("flaky", "success", 3);
    assert_eq!(run.value("flaky"), "ok on try 3");
    assert!(
        run.task("flaky")["error"].is_null(),
        "a successful try clears the error"
    );
    run.expect_task("after", "success", 1);
    assert_eq!(
        std::fs::read_to_string(counter.path().join("flaky.count")).expect("counter"),
        "3"
    );
    for attempt in 1..=3 {
        let log = run.log(home.path(), "flaky", attempt);
        assert!(log.contains(&format!("flaky try {attempt}\n")), "{log}");
        if attempt < 3 {
            assert!(
                log.contains(&format!(
                    "Task failed: call 0 raised RuntimeError: flaky failure on try {attempt}"
                )),
                "{log}"
            );
            assert!(log.contains("state: up_for_retry"), "{log}");
        } else {
            assert!(
                log.contains("Done. Returned value was: \"ok on try 3\""),
                "{log}"
            );
            assert!(log.contains("state: success"), "{log}");
        }
    }
}

#[test]
fn absorbing_rules_run_but_an_upstream_failed_leaf_fails_the_run() {
    let home = home();
    let run = dags_test(home.path(), &["absorb"]);
    run.expect_task("a", "failed", 1);
    run.expect_task("cleanup", "success", 1);
    assert_eq!(run.value("cleanup"), "cleaned");
    run.expect_task("alert", "success", 1);
    assert_eq!(run.value("alert"), "alerted");
    run.expect_task("normal", "upstream_failed", 0);
    assert_eq!(run.state(), "failed");
    assert!(!run.ok);
}

#[test]
fn a_failure_absorbed_by_the_only_leaf_gives_a_successful_run() {
    let home = home();
    let run = dags_test(home.path(), &["absorb_leaf"]);
    run.expect_task("a", "failed", 1);
    run.expect_task("cleanup", "success", 1);
    // Airflow decides the run from its leaves: the only leaf succeeded.
    assert_eq!(run.state(), "success");
    assert!(run.ok);
}

#[test]
fn airflow_skip_exception_skips_the_task_and_its_all_success_descendants() {
    let home = home();
    let run = dags_test(home.path(), &["skips"]);
    run.expect_task("skipper", "skipped", 1);
    assert!(run.value("skipper").is_null());
    run.expect_task("child", "skipped", 0);
    run.expect_task("grandchild", "skipped", 0);
    run.expect_task("other", "success", 1);
    run.expect_task("join", "success", 1);
    assert_eq!(run.value("join"), "joined");
    // Leaves: grandchild (skipped) and join (success): the run succeeds.
    assert_eq!(run.state(), "success");
    assert!(run.ok);
}

#[test]
fn one_success_runs_while_another_upstream_is_still_running() {
    let home = home();
    let run = dags_test(home.path(), &["one_success"]);
    assert_eq!(run.state(), "success");
    run.expect_task("slow", "success", 1);
    run.expect_task("fast", "success", 1);
    run.expect_task("first", "success", 1);
    let (fast, first, slow_end) = (run.time("fast"), run.time("first"), run.time("slow"));
    assert!(fast <= first, "first ran after fast: {}", run.doc);
    assert!(
        first < slow_end,
        "first ran before slow finished ({:.3}s earlier): {}",
        slow_end - first,
        run.doc
    );
}

#[test]
fn execution_timeout_stops_the_task_fails_it_and_is_retried() {
    let home = home();
    let run = dags_test(home.path(), &["exec_timeout"]);
    assert_eq!(run.state(), "failed");
    run.expect_task("sleeper", "failed", 2);
    let error = run.error("sleeper");
    assert!(error.contains("execution_timeout"), "{error}");
    assert!(error.contains("1s"), "{error}");
    run.expect_task("after", "upstream_failed", 0);
    assert!(
        run.elapsed < Duration::from_secs(20),
        "two 1 s timeouts, not a 30 s sleep: took {:?}",
        run.elapsed
    );
    let log = run.log(home.path(), "sleeper", 1);
    assert!(log.contains("execution_timeout"), "{log}");
    assert!(log.contains("state: up_for_retry"), "{log}");
}

#[test]
fn dagrun_timeout_fails_the_run_and_skips_unfinished_tasks() {
    let home = home();
    let run = dags_test(home.path(), &["run_timeout"]);
    assert!(!run.ok);
    assert_eq!(run.state(), "failed");
    assert!(run.note().contains("dagrun_timeout"), "{}", run.doc);
    assert!(run.note().contains("2s"), "{}", run.doc);
    // sleeper was running (its try 1) when the run timed out.
    run.expect_task("sleeper", "skipped", 1);
    assert!(run.value("sleeper").is_null());
    run.expect_task("after", "skipped", 0);
    // quick normally finishes before the deadline; on a loaded machine it may not.
    let quick = run.task("quick");
    match quick["state"].as_str() {
        Some("success") => assert_eq!(quick["return_value"], "quick"),
        Some("skipped") => {}
        other => panic!("quick ended {other:?}: {}", run.doc),
    }
    assert!(
        run.elapsed < Duration::from_secs(20),
        "the run stops at its 2 s timeout, not after the 30 s sleep: took {:?}",
        run.elapsed
    );
}

#[test]
fn templates_render_airflow_names_and_conf_overrides_params() {
    let home = home();
    let run = dags_test(
        home.path(),
        &["templates", "2026-11-01", "--conf", r#"{"n": 5}"#],
    );
    assert!(run.ok, "{}\n{}", run.doc, run.stderr);
    run.expect_task("render", "success", 1);
    let v = run.value("render");
    assert_eq!(v["day"], "2026-11-01");
    assert_eq!(v["nodash"], "20261101");
    assert_eq!(v["n"], "5", "--conf overrides params.n = 3");
    assert_eq!(v["plain"], "no template");
    assert_eq!(v["number"], 7);
    let rendered_run = v["run"].as_str().expect("run is a string");
    assert!(rendered_run.starts_with("manual__"), "{rendered_run}");
    assert_eq!(rendered_run, run.run_id());

    // Without --conf, params keeps its default.
    let run = dags_test(home.path(), &["templates", "2026-11-02"]);
    assert_eq!(run.value("render")["n"], "3");
    assert_eq!(run.value("render")["day"], "2026-11-02");
}

#[test]
fn an_unknown_template_variable_fails_the_task_clearly() {
    let home = home();
    let run = dags_test(home.path(), &["templates_unknown"]);
    assert_eq!(run.state(), "failed");
    run.expect_task("render", "failed", 1);
    let error = run.error("render");
    assert!(
        error.contains("{{ no_such_variable }}") && error.contains("undefined"),
        "{error}"
    );
    run.expect_task("after", "upstream_failed", 0);
}

#[test]
fn iterdata_from_task_over_a_number_fails_saying_it_must_be_a_list() {
    let home = home();
    let run = dags_test(home.path(), &["xcom_shape"]);
    assert_eq!(run.state(), "failed");
    run.expect_task("number", "success", 1);
    assert_eq!(run.value("number"), 7);
    run.expect_task("mapper", "failed", 1);
    let error = run.error("mapper");
    assert!(error.contains("must be a list"), "{error}");
    assert!(error.contains("`number`"), "{error}");
    assert!(error.contains("a number: 7"), "{error}");
}

#[test]
fn max_active_tasks_one_runs_independent_tasks_one_at_a_time() {
    let home = home();
    let run = dags_test(home.path(), &["max_active"]);
    assert_eq!(run.state(), "success");
    let mut spans: Vec<(f64, f64)> = ["t1", "t2", "t3"]
        .iter()
        .map(|t| {
            run.expect_task(t, "success", 1);
            let v = run.value(t);
            (v[0].as_f64().expect("start"), v[1].as_f64().expect("end"))
        })
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "tasks overlap with max_active_tasks = 1: {spans:?}"
        );
    }
}

#[test]
fn depends_on_past_blocks_a_task_whose_previous_try_failed() {
    let home = home();
    let first = dags_test(
        home.path(),
        &["past", "2026-11-01", "--conf", r#"{"fail": "yes"}"#],
    );
    assert_eq!(first.state(), "failed");
    first.expect_task("gate", "failed", 1);

    let second = dags_test(home.path(), &["past", "2026-11-02"]);
    assert!(!second.ok);
    assert_eq!(second.state(), "failed");
    // gate never runs (try 0) and keeps no state, as in Airflow. The scheduler would keep
    // the run waiting for the past to be fixed; `dags test` cannot wait for another run,
    // so it ends the run failed with a note naming the blocked task.
    second.expect_task("gate", "none", 0);
    second.expect_task("after", "none", 0);
    assert!(
        second
            .note()
            .starts_with("depends_on_past not met: gate did not succeed in the previous run"),
        "{}",
        second.doc
    );
    assert!(
        !home
            .path()
            .join("logs/dag_id=past")
            .join(format!("run_id={}", second.run_id()))
            .exists(),
        "nothing ran in the second run"
    );
}

#[test]
fn depends_on_past_lets_the_task_run_after_a_successful_previous_run() {
    let home = home();
    let first = dags_test(home.path(), &["past", "2026-11-01"]);
    assert_eq!(first.state(), "success");
    first.expect_task("gate", "success", 1);

    let second = dags_test(home.path(), &["past", "2026-11-02"]);
    assert!(second.ok, "{}\n{}", second.doc, second.stderr);
    second.expect_task("gate", "success", 1);
    assert_eq!(second.value("gate"), "passed");
    second.expect_task("after", "success", 1);
    assert!(second.doc["note"].is_null());
}

#[test]
fn python_bash_and_empty_tasks_run_with_airflows_arguments_context_and_xcom() {
    let home = home();
    let run = dags_test(home.path(), &["airflow_types"]);
    assert_eq!(run.state(), "success", "{}\n{}", run.doc, run.stderr);
    assert_eq!(
        run.expect_task("start", "success", 1)["return_value"],
        Value::Null
    );
    assert_eq!(run.value("first"), &serde_json::json!(3));
    let d = run.value("described");
    let ds = d["ds"]
        .as_str()
        .expect("ds is passed to a function that names it");
    assert_eq!(ds.len(), 10, "{d}");
    assert_eq!(
        (&d["x"], &d["y"], &d["has_run_id"], &d["params"]),
        (
            &serde_json::json!(3),
            &serde_json::json!("lithoflow"),
            &serde_json::json!(true),
            &serde_json::json!({"who": "lithoflow"})
        ),
        "op_args_from_task, a templated op_kwargs, the whole context through **kwargs: {d}"
    );
    assert_eq!(d["templates_dict"]["day"], ds.replace('-', ""), "{d}");
    assert_eq!(run.value("named"), &serde_json::json!(["a", 10]));
    assert_eq!(run.value("shell"), &serde_json::json!("hello lithoflow 21"));
    let log = run.log(home.path(), "shell", 1);
    assert!(log.contains("start\nhello lithoflow 21"), "{log}");
    run.expect_task("end", "success", 1);
}

#[test]
fn a_branch_skips_the_direct_downstream_tasks_it_does_not_follow() {
    let home = home();
    let run = dags_test(home.path(), &["branching"]);
    assert_eq!(run.state(), "success", "{}\n{}", run.doc, run.stderr);
    assert_eq!(run.value("pick"), &serde_json::json!("left"));
    assert_eq!(run.value("left"), &serde_json::json!("L"));
    run.expect_task("right", "skipped", 0);
    run.expect_task("right_child", "skipped", 0);
    run.expect_task("join", "success", 1);
    run.expect_task("b1", "success", 1);
    run.expect_task("b2", "success", 1);
}

#[test]
fn a_falsy_short_circuit_skips_downstream_tasks_as_airflow_does() {
    let home = home();
    let run = dags_test(home.path(), &["short_circuit"]);
    assert_eq!(run.state(), "success", "{}\n{}", run.doc, run.stderr);
    assert_eq!(run.value("stop"), &serde_json::json!(0));
    run.expect_task("after_stop", "skipped", 0);
    // ignore_downstream_trigger_rules (the default): even an all_done task is skipped.
    run.expect_task("after_stop_always", "skipped", 0);
    run.expect_task("direct_child", "skipped", 0);
    assert_eq!(
        run.expect_task("grandchild_all_done", "success", 1)["return_value"],
        "ran"
    );
    run.expect_task("after_go", "success", 1);
}

#[test]
fn bash_exit_codes_skip_or_fail_the_task() {
    let home = home();
    let run = dags_test(home.path(), &["bash_exit"]);
    assert_eq!(run.state(), "failed", "{}", run.doc);
    run.expect_task("skipper", "skipped", 1);
    run.expect_task("after_skip", "skipped", 0);
    run.expect_task("failer", "failed", 1);
    assert_eq!(
        run.error("failer"),
        "bash command failed. The command returned a non-zero exit code 3."
    );
    assert!(run.log(home.path(), "failer", 1).contains("oops"));
    run.expect_task("custom", "skipped", 1);
}

#[test]
fn a_branch_naming_an_unknown_task_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixtures().join("funcs.py"), dir.path().join("funcs.py")).expect("copy");
    std::fs::write(
        dir.path().join("bad_branch.toml"),
        "[tasks.pick]\ntype = \"branch\"\npython_callable = \"funcs:choose\"\nop_args = [\"nowhere\"]\n\n[tasks.a]\ntype = \"empty\"\nupstream = [\"pick\"]\n",
    )
    .expect("write");
    let home = home();
    let run = dags_test_in(dir.path(), home.path(), &["bad_branch"]);
    assert_eq!(run.state(), "failed");
    run.expect_task("pick", "failed", 1);
    assert_eq!(
        run.error("pick"),
        "'branch_task_ids' must contain only valid task_ids. Invalid tasks found: [\"nowhere\"]"
    );
    run.expect_task("a", "upstream_failed", 0);
}
