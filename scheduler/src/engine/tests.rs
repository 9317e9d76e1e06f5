//! The engine against a fake executor with tokio's paused clock: retries with backoff,
//! `execution_timeout`, `dagrun_timeout`, `depends_on_past`, `max_active_tasks`, trigger
//! rule sequencing and a clear while a try runs. Each try's length is virtual time, so a
//! run of hours takes milliseconds, and the times the engine chose are exact.
//!
//! The state store is a real (temporary) sled database, as in production; only the
//! executor and the clock are stand-ins.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{
    CallbackInput, CallbackOutput, Clock, Engine, RunControl, TaskExecutor, TryInput, TryOutput,
};
use crate::ops::{self, TriggerRequest};
use crate::store::{DagRunRecord, RunState, Store, TaskState};
use crate::taskrun::TaskError;
use lithoflow_dag::{Dag, Task};

/// What a fake try does: run for `runs_for` (virtual time), then end with `result`.
#[derive(Clone)]
struct Step {
    runs_for: Duration,
    result: Result<Value, String>,
}

fn ok_after(secs: u64) -> Step {
    Step {
        runs_for: Duration::from_secs(secs),
        result: Ok(json!(secs)),
    }
}

fn fail_after(secs: u64) -> Step {
    Step {
        runs_for: Duration::from_secs(secs),
        result: Err(format!("boom after {secs}s")),
    }
}

/// One try the fake saw start, and how it ended.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    task_id: String,
    try_number: u32,
    /// Virtual seconds since the test began.
    started_at: f64,
    ended: Ended,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ended {
    /// Still running (or its future was dropped mid-way).
    NotYet,
    /// Ran its full length.
    Completed,
    /// Stopped through its cancellation token.
    Cancelled,
    /// Its future was dropped before it ended (`execution_timeout`, `dagrun_timeout`).
    Dropped,
}

/// A [`TaskExecutor`] that plays a script: each (task, try) runs for a virtual time and
/// returns a value or fails; anything not scripted succeeds at once with `null`.
struct FakeExecutor {
    t0: Instant,
    script: Mutex<HashMap<(String, u32), Step>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
    /// The callbacks called, in order.
    called: Mutex<Vec<Called>>,
    /// The run's store, and the tries that started while it was being flushed.
    store: Mutex<Option<Arc<Store>>>,
    started_while_flushing: Mutex<Vec<String>>,
}

/// A callback the fake was asked to call.
#[derive(Debug, Clone)]
struct Called {
    /// `on_success_callback`, ...
    key: &'static str,
    /// `module:function`; functions named `bad` fail.
    func: String,
    context: serde_json::Map<String, Value>,
    /// Virtual seconds since the test began.
    at: f64,
}

impl FakeExecutor {
    fn new(t0: Instant) -> Arc<FakeExecutor> {
        Arc::new(FakeExecutor {
            t0,
            script: Mutex::new(HashMap::new()),
            seen: Arc::new(Mutex::new(Vec::new())),
            running: Arc::new(AtomicUsize::new(0)),
            max_running: Arc::new(AtomicUsize::new(0)),
            called: Mutex::new(Vec::new()),
            store: Mutex::new(None),
            started_while_flushing: Mutex::new(Vec::new()),
        })
    }

    fn called(&self) -> Vec<Called> {
        self.called.lock().expect("called").clone()
    }

    fn on(&self, task: &str, try_number: u32, step: Step) {
        self.script
            .lock()
            .expect("script")
            .insert((task.to_owned(), try_number), step);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    /// The tries of `task`, in order: (try number, virtual start second, how it ended).
    fn tries(&self, task: &str) -> Vec<(u32, f64, Ended)> {
        self.seen()
            .into_iter()
            .filter(|s| s.task_id == task)
            .map(|s| (s.try_number, s.started_at, s.ended))
            .collect()
    }
}

/// Marks a try dropped unless it ended otherwise first.
struct DropMark {
    seen: Arc<Mutex<Vec<Seen>>>,
    index: usize,
    running: Arc<AtomicUsize>,
}

impl DropMark {
    fn end(&self, how: Ended) {
        let mut seen = self.seen.lock().expect("seen");
        if seen[self.index].ended == Ended::NotYet {
            seen[self.index].ended = how;
            self.running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for DropMark {
    fn drop(&mut self) {
        self.end(Ended::Dropped);
    }
}

impl TaskExecutor for FakeExecutor {
    fn run_try(&self, input: TryInput) -> BoxFuture<'static, TryOutput> {
        let step = self
            .script
            .lock()
            .expect("script")
            .get(&(input.task.task_id.clone(), input.try_number))
            .cloned()
            .unwrap_or(Step {
                runs_for: Duration::ZERO,
                result: Ok(Value::Null),
            });
        let index = {
            let mut seen = self.seen.lock().expect("seen");
            seen.push(Seen {
                task_id: input.task.task_id.clone(),
                try_number: input.try_number,
                started_at: (Instant::now() - self.t0).as_secs_f64(),
                ended: Ended::NotYet,
            });
            seen.len() - 1
        };
        if let Some(store) = &*self.store.lock().expect("store")
            && store.flushing()
        {
            self.started_while_flushing
                .lock()
                .expect("flushing")
                .push(input.task.task_id.clone());
        }
        let now_running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now_running, Ordering::SeqCst);
        let mark = DropMark {
            seen: Arc::clone(&self.seen),
            index,
            running: Arc::clone(&self.running),
        };
        Box::pin(async move {
            tokio::select! {
                () = tokio::time::sleep(step.runs_for) => {
                    mark.end(Ended::Completed);
                    TryOutput {
                        value: step.result.map_err(TaskError::Input),
                        job: None,
                        output: None,
                    }
                }
                () = input.cancel.cancelled() => {
                    mark.end(Ended::Cancelled);
                    TryOutput::failed(TaskError::Input("cancelled".to_owned()))
                }
            }
        })
    }

    fn enforces_execution_timeout(&self, _task: &Task) -> bool {
        false
    }

    fn run_callback(&self, input: CallbackInput) -> BoxFuture<'static, CallbackOutput> {
        let func = input.func.to_string();
        let fails = input.func.function == "bad";
        self.called.lock().expect("called").push(Called {
            key: input.kind.key(),
            func,
            context: input.context,
            at: (Instant::now() - self.t0).as_secs_f64(),
        });
        Box::pin(async move {
            // A callback takes a second, so a task's callbacks overlap what follows.
            tokio::time::sleep(Duration::from_secs(1)).await;
            CallbackOutput {
                result: if fails {
                    Err("ValueError: bad callback".to_owned())
                } else {
                    Ok(())
                },
                output: String::new(),
            }
        })
    }
}

/// Wall time that moves with tokio's (paused) clock.
struct VirtualClock {
    base: DateTime<Utc>,
    t0: Instant,
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::from_std(Instant::now() - self.t0).expect("small")
    }
}

/// A DAG, a store, an engine over the fake executor, all in a temporary home.
struct Harness {
    _home: tempfile::TempDir,
    store: Arc<Store>,
    fake: Arc<FakeExecutor>,
    clock: Arc<VirtualClock>,
    dag: Arc<Dag>,
}

const BASE: &str = "2026-12-01T00:00:00Z";

impl Harness {
    fn new(toml: &str) -> Harness {
        let home = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(&home.path().join("state")).expect("store"));
        let (dag, diags) = lithoflow_dag::parse_dag(Path::new("/dags/t.toml"), toml);
        assert!(diags.is_empty(), "{diags:?}");
        let t0 = Instant::now();
        let base = DateTime::parse_from_rfc3339(BASE)
            .expect("date")
            .with_timezone(&Utc);
        let fake = FakeExecutor::new(t0);
        *fake.store.lock().expect("store") = Some(Arc::clone(&store));
        Harness {
            _home: home,
            store,
            fake,
            clock: Arc::new(VirtualClock { base, t0 }),
            dag: Arc::new(dag.expect("dag")),
        }
    }

    fn engine(&self) -> Engine {
        let logs = self._home.path().join("logs");
        Engine::with_executor(Arc::clone(&self.store), self.fake.clone(), logs)
            .with_clock(self.clock.clone())
    }

    /// A manual run with this logical date (days after 2026-12-01).
    fn trigger(&self, run_id: &str, day: u32) -> DagRunRecord {
        let logical = Utc
            .with_ymd_and_hms(2026, 12, 1 + day, 0, 0, 0)
            .single()
            .expect("date");
        let req = TriggerRequest {
            run_id: Some(run_id.to_owned()),
            logical_date: Some(logical),
            ..TriggerRequest::default()
        };
        ops::trigger(&self.store, &self.dag, req, self.clock.now()).expect("trigger")
    }

    async fn run(&self, run_id: &str) -> DagRunRecord {
        self.engine()
            .run(Arc::clone(&self.dag), run_id, None)
            .await
            .expect("the run ends")
    }

    fn state(&self, run_id: &str, task: &str) -> (TaskState, u32) {
        let ti = self
            .store
            .ti(&self.dag.dag_id, run_id, task)
            .expect("read")
            .expect("task instance");
        (ti.state, ti.try_number)
    }

    fn error(&self, run_id: &str, task: &str) -> String {
        self.store
            .ti(&self.dag.dag_id, run_id, task)
            .expect("read")
            .and_then(|t| t.error)
            .unwrap_or_default()
    }

    /// Virtual seconds from the start of the test to `t`.
    fn at(&self, t: Option<DateTime<Utc>>) -> f64 {
        let t = t.expect("a time");
        (t - self.clock.base).as_seconds_f64()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.01
}

/// Asserts a task's tries: (try number, virtual start second, how it ended).
#[track_caller]
fn assert_tries(actual: &[(u32, f64, Ended)], expected: &[(u32, f64, Ended)]) {
    let same = actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| a.0 == e.0 && close(a.1, e.1) && a.2 == e.2);
    assert!(same, "tries {actual:?}, expected {expected:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_try_is_retried_after_airflows_backoff_delay() {
    let h = Harness::new(
        r#"
        start_date = 2026-11-01T00:00:00Z
        [tasks.flaky]
        type = "python"
        python_callable = "m:f"
        retries = 3
        retry_delay = "10s"
        retry_exponential_backoff = 2.0
        "#,
    );
    h.fake.on("flaky", 1, fail_after(5));
    h.fake.on("flaky", 2, fail_after(5));
    h.fake.on("flaky", 3, ok_after(5));
    h.trigger("r", 0);
    let run = h.run("r").await;
    assert_eq!(run.state, RunState::Success);
    assert_eq!(h.state("r", "flaky"), (TaskState::Success, 3));

    // Each retry starts exactly Airflow's delay after the failed try ended.
    let task = h.dag.task("flaky").expect("task");
    let logical = run.logical_date;
    let d1 = lithoflow_dag::retry::retry_delay(task, "t", logical, 1).as_secs_f64();
    let d2 = lithoflow_dag::retry::retry_delay(task, "t", logical, 2).as_secs_f64();
    assert!(
        (10.0..20.0).contains(&d1) && (20.0..40.0).contains(&d2),
        "{d1} {d2}"
    );
    let tries = h.fake.tries("flaky");
    assert_eq!(tries.len(), 3, "{tries:?}");
    assert!(close(tries[0].1, 0.0), "{tries:?}");
    assert!(close(tries[1].1, 5.0 + d1), "{tries:?} {d1}");
    assert!(close(tries[2].1, 5.0 + d1 + 5.0 + d2), "{tries:?} {d2}");
    assert!(close(h.at(run.end_date), 15.0 + d1 + d2), "{run:?}");
}

#[tokio::test(start_paused = true)]
async fn a_try_past_its_execution_timeout_is_stopped_and_retried() {
    let h = Harness::new(
        r#"
        [tasks.slow]
        type = "python"
        python_callable = "m:f"
        execution_timeout = "30s"
        retries = 1
        retry_delay = "1m"
        [tasks.after]
        type = "python"
        python_callable = "m:f"
        upstream = ["slow"]
        "#,
    );
    h.fake.on("slow", 1, ok_after(3600));
    h.fake.on("slow", 2, ok_after(10));
    h.trigger("r", 0);
    let run = h.run("r").await;
    assert_eq!(run.state, RunState::Success);
    assert_eq!(h.state("r", "slow"), (TaskState::Success, 2));
    let tries = h.fake.tries("slow");
    // The first try's future was dropped at 30 s (which stops a real job); the retry
    // started a minute later.
    assert_tries(
        &tries,
        &[(1, 0.0, Ended::Dropped), (2, 90.0, Ended::Completed)],
    );
    assert!(close(h.fake.tries("after")[0].1, 100.0));

    // Without retries left, the task fails with the limit named.
    let h = Harness::new(
        r#"
        [tasks.slow]
        type = "python"
        python_callable = "m:f"
        execution_timeout = "30s"
        "#,
    );
    h.fake.on("slow", 1, ok_after(3600));
    h.trigger("r", 0);
    assert_eq!(h.run("r").await.state, RunState::Failed);
    assert_eq!(h.state("r", "slow"), (TaskState::Failed, 1));
    assert_eq!(
        h.error("r", "slow"),
        "the task exceeded its execution_timeout of 30s; its calls were stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn dagrun_timeout_stops_the_run_and_skips_what_did_not_finish() {
    let h = Harness::new(
        r#"
        dagrun_timeout = "1m"
        [tasks.quick]
        type = "python"
        python_callable = "m:f"
        [tasks.long]
        type = "python"
        python_callable = "m:f"
        upstream = ["quick"]
        [tasks.never]
        type = "python"
        python_callable = "m:f"
        upstream = ["long"]
        "#,
    );
    h.fake.on("quick", 1, ok_after(10));
    h.fake.on("long", 1, ok_after(3600));
    h.trigger("r", 0);
    let run = h.run("r").await;
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(run.note.as_deref(), Some("dagrun_timeout of 1m exceeded"));
    assert!(close(h.at(run.end_date), 60.0), "{run:?}");
    assert_eq!(h.state("r", "quick"), (TaskState::Success, 1));
    assert_eq!(h.state("r", "long"), (TaskState::Skipped, 1));
    assert_eq!(h.state("r", "never"), (TaskState::Skipped, 0));
    assert_tries(&h.fake.tries("long"), &[(1, 10.0, Ended::Dropped)]);
    assert!(h.fake.tries("never").is_empty());
}

#[tokio::test(start_paused = true)]
async fn depends_on_past_waits_for_the_previous_run_and_goes_on_once_it_succeeded() {
    let toml = r#"
        [tasks.load]
        type = "python"
        python_callable = "m:f"
        depends_on_past = true
        "#;
    let h = Harness::new(toml);
    h.fake.on("load", 1, fail_after(1));
    h.trigger("day1", 0);
    assert_eq!(h.run("day1").await.state, RunState::Failed);

    // `dags test` cannot wait: the run fails at once, naming the task.
    h.trigger("day2", 1);
    let failed = h
        .engine()
        .wait_for_past(false)
        .run(Arc::clone(&h.dag), "day2", None)
        .await
        .expect("run");
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(
        failed.note.as_deref(),
        Some("depends_on_past not met: load did not succeed in the previous run (waiting: load)")
    );

    // The scheduler waits, looking again every 5 s, until the past is fixed.
    h.fake.on("load", 1, ok_after(1));
    h.trigger("day3", 2);
    let engine = h.engine();
    let dag = Arc::clone(&h.dag);
    let waiting = tokio::spawn(async move { engine.run(dag, "day3", None).await });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiting.is_finished());
    assert_eq!(h.state("day3", "load"), (TaskState::None, 0));
    // The previous run's task succeeds (as a clear and a re-run would leave it).
    let mut ti = h.store.ti("t", "day2", "load").expect("read").expect("ti");
    ti.state = TaskState::Success;
    h.store.put_ti("t", "day2", &ti).expect("write");
    let run = waiting.await.expect("joined").expect("run");
    assert_eq!(run.state, RunState::Success);
    let started = h.fake.tries("load").last().map(|t| t.1).expect("a try");
    // The first re-check after the fix: at 61 s or, if it came just before, at 66 s.
    assert!((61.0 - 0.01..=66.01).contains(&started), "{started}");
}

#[tokio::test(start_paused = true)]
async fn no_more_than_max_active_tasks_run_at_once() {
    let mut toml = String::from("max_active_tasks = 2\n");
    for i in 0..5 {
        toml.push_str(&format!(
            "[tasks.t{i}]\ntype = \"python\"\npython_callable = \"m:f\"\n"
        ));
    }
    let h = Harness::new(&toml);
    for i in 0..5 {
        h.fake.on(&format!("t{i}"), 1, ok_after(10));
    }
    h.trigger("r", 0);
    let run = h.run("r").await;
    assert_eq!(run.state, RunState::Success);
    assert_eq!(h.fake.max_running.load(Ordering::SeqCst), 2);
    // Three waves of ten seconds.
    let mut starts: Vec<f64> = h.fake.seen().iter().map(|s| s.started_at).collect();
    starts.sort_by(f64::total_cmp);
    let waves = [0.0, 0.0, 10.0, 10.0, 20.0];
    assert!(
        starts.len() == 5 && starts.iter().zip(waves).all(|(s, w)| close(*s, w)),
        "{starts:?}"
    );
    assert!(close(h.at(run.end_date), 30.0));
}

#[tokio::test(start_paused = true)]
async fn trigger_rules_decide_what_runs_after_a_failure_and_when() {
    let h = Harness::new(
        r#"
        [tasks.extract]
        type = "python"
        python_callable = "m:f"
        [tasks.side]
        type = "python"
        python_callable = "m:f"
        [tasks.load]
        type = "python"
        python_callable = "m:f"
        upstream = ["extract"]
        [tasks.alert]
        type = "python"
        python_callable = "m:f"
        upstream = ["extract", "side"]
        trigger_rule = "one_failed"
        [tasks.cleanup]
        type = "python"
        python_callable = "m:f"
        upstream = ["extract", "side"]
        trigger_rule = "all_done"
        [tasks.report]
        type = "python"
        python_callable = "m:f"
        upstream = ["load", "cleanup"]
        trigger_rule = "none_failed"
        "#,
    );
    h.fake.on("extract", 1, fail_after(5));
    h.fake.on("side", 1, ok_after(20));
    h.fake.on("alert", 1, ok_after(1));
    h.fake.on("cleanup", 1, ok_after(1));
    h.trigger("r", 0);
    let run = h.run("r").await;
    let starts: HashMap<String, f64> = h
        .fake
        .seen()
        .into_iter()
        .map(|s| (s.task_id, s.started_at))
        .collect();
    // one_failed fires as soon as extract fails, without waiting for side;
    // all_done waits for both; load never runs; report (none_failed) sees
    // upstream_failed and is upstream_failed itself.
    assert!(
        starts.get("alert").is_some_and(|s| close(*s, 5.0)),
        "{starts:?}"
    );
    assert!(
        starts.get("cleanup").is_some_and(|s| close(*s, 20.0)),
        "{starts:?}"
    );
    assert!(!starts.contains_key("load") && !starts.contains_key("report"));
    assert_eq!(h.state("r", "load"), (TaskState::UpstreamFailed, 0));
    assert_eq!(h.state("r", "alert"), (TaskState::Success, 1));
    assert_eq!(h.state("r", "cleanup"), (TaskState::Success, 1));
    assert_eq!(h.state("r", "report"), (TaskState::UpstreamFailed, 0));
    // A leaf (alert's sibling report) failed upstream: the run fails.
    assert_eq!(run.state, RunState::Failed);
    assert!(close(h.at(run.end_date), 21.0));
}

#[tokio::test(start_paused = true)]
async fn a_task_cleared_while_it_runs_is_stopped_and_runs_again_with_fresh_retries() {
    let h = Harness::new(
        r#"
        [tasks.long]
        type = "python"
        python_callable = "m:f"
        "#,
    );
    h.fake.on("long", 1, ok_after(600));
    h.fake.on("long", 2, ok_after(5));
    h.trigger("r", 0);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = h.engine();
    let dag = Arc::clone(&h.dag);
    let running =
        tokio::spawn(async move { engine.run_controlled(dag, "r", None, Some(rx)).await });
    tokio::time::sleep(Duration::from_secs(30)).await;
    tx.send(RunControl::Clear(vec!["long".to_owned()]))
        .expect("send");
    let run = running.await.expect("joined").expect("run");
    assert_eq!(run.state, RunState::Success);
    assert_tries(
        &h.fake.tries("long"),
        &[(1, 0.0, Ended::Cancelled), (2, 30.0, Ended::Completed)],
    );
    // A clear grants a fresh set of tries: try 2 of max 2 (it was 1 of 1).
    let ti = h.store.ti("t", "r", "long").expect("read").expect("ti");
    assert_eq!(
        (ti.state, ti.try_number, ti.max_tries),
        (TaskState::Success, 2, 2)
    );
}

/// The callbacks called: (key, function, task_id of the context, its `reason`, its
/// exception's type).
fn calls(h: &Harness) -> Vec<(&'static str, String, String, String, String)> {
    let text = |c: &Called, k: &str| {
        c.context
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    h.fake
        .called()
        .iter()
        .map(|c| {
            let exc = c
                .context
                .get("exception")
                .and_then(|e| e.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            (
                c.key,
                c.func.clone(),
                text(c, "task_id"),
                text(c, "reason"),
                exc,
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn callbacks_fire_when_airflow_fires_them_and_a_failing_one_changes_nothing() {
    let h = Harness::new(
        r#"
        start_date = 2026-11-01T00:00:00Z
        on_success_callback = "cb:run_ok"
        on_failure_callback = "cb:run_failed"
        [default_args]
        on_retry_callback = "cb:retry"
        on_failure_callback = "cb:failed"
        [tasks.flaky]
        type = "python"
        python_callable = "m:f"
        retries = 1
        retry_delay = "10s"
        on_execute_callback = "cb:starting"
        on_success_callback = ["cb:bad", "cb:ok"]
        [tasks.after]
        type = "python"
        python_callable = "m:g"
        upstream = ["flaky"]
        "#,
    );
    h.fake.on("flaky", 1, fail_after(5));
    h.fake.on("flaky", 2, ok_after(5));
    h.trigger("r", 0);
    let run = h.run("r").await;
    // A callback that raised changed nothing.
    assert_eq!(run.state, RunState::Success);
    assert_eq!(h.state("r", "flaky"), (TaskState::Success, 2));
    assert_eq!(h.state("r", "after").0, TaskState::Success);
    let s = |x: &str| x.to_owned();
    assert_eq!(
        calls(&h),
        [
            (
                "on_execute_callback",
                s("cb:starting"),
                s("flaky"),
                s(""),
                s("")
            ),
            (
                "on_retry_callback",
                s("cb:retry"),
                s("flaky"),
                s(""),
                s("AirflowException")
            ),
            (
                "on_execute_callback",
                s("cb:starting"),
                s("flaky"),
                s(""),
                s("")
            ),
            // The list in order, the second after the first failed.
            ("on_success_callback", s("cb:bad"), s("flaky"), s(""), s("")),
            ("on_success_callback", s("cb:ok"), s("flaky"), s(""), s("")),
            // The run's, with the context of the last task instance by task id (Airflow's
            // `get_last_ti`) and the reason.
            (
                "on_success_callback",
                s("cb:run_ok"),
                s("flaky"),
                s("success"),
                s("")
            ),
        ]
    );
    let called = h.fake.called();
    // The retry's callback carries the try's error.
    let exc = &called[1].context["exception"];
    assert_eq!(exc["message"], "boom after 5s");
    // `after` started as soon as `flaky` was recorded, while its callbacks ran.
    let after = h.fake.tries("after");
    assert!(
        close(after[0].1, called[3].at),
        "{after:?} {:?}",
        called[3].at
    );
    // The run's callback waited for the task's.
    assert!(called[5].at >= called[4].at + 1.0, "{called:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_run_calls_the_failure_callbacks_with_the_exception_and_the_reason() {
    let h = Harness::new(
        r#"
        start_date = 2026-11-01T00:00:00Z
        on_success_callback = "cb:run_ok"
        on_failure_callback = ["cb:run_failed", "cb:bad", "cb:run_failed_2"]
        [default_args]
        on_failure_callback = "cb:failed"
        on_skipped_callback = "cb:skipped"
        on_success_callback = "cb:ok"
        [tasks.a]
        type = "python"
        python_callable = "m:f"
        execution_timeout = "3s"
        [tasks.b]
        type = "python"
        python_callable = "m:g"
        upstream = ["a"]
        "#,
    );
    h.fake.on("a", 1, ok_after(60));
    h.trigger("r", 0);
    let run = h.run("r").await;
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(h.state("r", "b").0, TaskState::UpstreamFailed);
    let s = |x: &str| x.to_owned();
    // b never ran: no callback of its own (upstream_failed is not a try's failure).
    assert_eq!(
        calls(&h),
        [
            (
                "on_failure_callback",
                s("cb:failed"),
                s("a"),
                s(""),
                s("AirflowTaskTimeout")
            ),
            (
                "on_failure_callback",
                s("cb:run_failed"),
                s("b"),
                s("task_failure"),
                s("")
            ),
            (
                "on_failure_callback",
                s("cb:bad"),
                s("b"),
                s("task_failure"),
                s("")
            ),
            (
                "on_failure_callback",
                s("cb:run_failed_2"),
                s("b"),
                s("task_failure"),
                s("")
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_past_its_dagrun_timeout_calls_the_failure_callback_with_timed_out() {
    let h = Harness::new(
        r#"
        start_date = 2026-11-01T00:00:00Z
        dagrun_timeout = "10s"
        on_failure_callback = "cb:run_failed"
        [tasks.slow]
        type = "python"
        python_callable = "m:f"
        on_failure_callback = "cb:failed"
        on_skipped_callback = "cb:skipped"
        "#,
    );
    h.fake.on("slow", 1, ok_after(60));
    h.trigger("r", 0);
    let run = h.run("r").await;
    assert_eq!(run.state, RunState::Failed);
    let s = |x: &str| x.to_owned();
    // The stopped task gets no callback (Airflow kills it); the run's says why.
    assert_eq!(
        calls(&h),
        [(
            "on_failure_callback",
            s("cb:run_failed"),
            s("slow"),
            s("timed_out"),
            s("")
        )]
    );
}

/// A recent look at the free space answers for the next writes while it found plenty of
/// room; an old one, one that would leave too little, or none, sends the next write to
/// the filesystem.
#[test]
fn a_recent_look_at_the_free_space_is_trusted_only_with_plenty_of_room() {
    use super::{SPACE_TRUSTED_FOR, SPACE_TRUSTED_ROOM, SpaceSeen};
    let h = Harness::new(
        r#"
        [tasks.a]
        type = "empty"
        "#,
    );
    let engine = h.engine();
    let seen = |room: u64, ago: Duration| {
        *engine.space_seen.lock().expect("lock") = Some(SpaceSeen {
            at: std::time::Instant::now() - ago,
            room,
        });
    };
    let room_left = || {
        engine
            .space_seen
            .lock()
            .expect("lock")
            .as_ref()
            .map(|s| s.room)
    };

    assert!(!engine.room_seen_for(0), "nothing seen yet");

    seen(SPACE_TRUSTED_ROOM + 1000, Duration::ZERO);
    assert!(engine.room_seen_for(600));
    assert_eq!(
        room_left(),
        Some(SPACE_TRUSTED_ROOM + 400),
        "the write is taken from it"
    );
    assert!(
        !engine.room_seen_for(401),
        "it would leave less than the trusted room"
    );
    assert_eq!(room_left(), None, "and the look is forgotten");

    seen(
        10 * SPACE_TRUSTED_ROOM,
        SPACE_TRUSTED_FOR + Duration::from_millis(1),
    );
    assert!(!engine.room_seen_for(0), "too old");
    assert_eq!(room_left(), None);

    // A real look at the home's disk (far more free than the trusted room on any
    // machine that builds lithoflow) is kept for the next writes.
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(engine.room_for(0))
        .expect("room");
    let left = room_left().expect("kept");
    assert!(left >= SPACE_TRUSTED_ROOM, "{left}");
    assert!(engine.room_seen_for(1));
}

mod commit;
mod mapping;
#[path = "tests/pools.rs"]
mod pools;
mod writes;
