//! The loop's answers to issue 20's write requests, on a real store and engine (over an
//! executor whose `long*` tries run until they are stopped): a run in flight changed
//! through its engine, a request for a run whose engine ended first applied to the
//! stored run, runs no engine holds changed in the store, and the event log entries.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinSet;

use super::super::Daemon;
use crate::config::Settings;
use crate::control::{DagSet, Request, SetTaskStateSpec, Shared};
use crate::engine::{CallbackInput, CallbackOutput, Engine, TaskExecutor, TryInput, TryOutput};
use crate::ops::{OpError, TriggerRequest};
use crate::store::{RunState, Store, TaskState};
use crate::taskrun::TaskError;
use lithoflow_dag::Task;

/// `long*` tries run until stopped; the others succeed at once.
struct Tries;

impl TaskExecutor for Tries {
    fn run_try(&self, input: TryInput) -> BoxFuture<'static, TryOutput> {
        let long = input.task.task_id.starts_with("long");
        Box::pin(async move {
            if long {
                input.cancel.cancelled().await;
                return TryOutput::failed(TaskError::Input("stopped".to_owned()));
            }
            TryOutput {
                value: Ok(Value::Null),
                job: None,
                output: None,
            }
        })
    }

    fn enforces_execution_timeout(&self, _task: &Task) -> bool {
        false
    }

    fn run_callback(&self, _input: CallbackInput) -> BoxFuture<'static, CallbackOutput> {
        Box::pin(async {
            CallbackOutput {
                result: Ok(()),
                output: String::new(),
            }
        })
    }
}

/// `long >> after`, and `quick` on its own.
const DAG: &str = r#"
is_paused_upon_creation = false

[tasks.long]
type = "python"
python_callable = "m:f"

[tasks.after]
type = "python"
python_callable = "m:f"
upstream = ["long"]

[tasks.quick]
type = "python"
python_callable = "m:f"
"#;

struct Loop {
    _home: tempfile::TempDir,
    daemon: Daemon,
    requests: mpsc::Receiver<Request>,
}

fn new_loop() -> Loop {
    let home = tempfile::tempdir().expect("tempdir");
    let settings = Settings::load(home.path()).expect("settings");
    let store = Arc::new(Store::open(&home.path().join("state")).expect("store"));
    let (dag, diags) = lithoflow_dag::parse_dag(Path::new("/dags/w.toml"), DAG);
    assert!(diags.is_empty(), "{diags:?}");
    let dag = Arc::new(dag.expect("dag"));
    let mut set = DagSet::default();
    set.dags.insert(dag.dag_id.clone(), dag);
    let (tx, rx) = mpsc::channel(16);
    let engine = Engine::with_executor(
        Arc::clone(&store),
        Arc::new(Tries),
        home.path().join("logs"),
    );
    let shared = Arc::new(Shared {
        store,
        settings,
        dags_folder: home.path().join("dags"),
        dags: RwLock::new(set),
        events: broadcast::channel(256).0,
        requests: tx,
        started_at: Utc::now(),
        token: String::new(),
        pools: engine.pools().cloned(),
    });
    let daemon = Daemon {
        shared,
        engine: Arc::new(engine),
        unfinished: HashMap::new(),
        active: HashMap::new(),
        joins: JoinSet::new(),
        last_scheduled: HashMap::new(),
        sched: HashMap::new(),
        backfills: HashMap::new(),
        draining: false,
        short_of_space: false,
    };
    Loop {
        _home: home,
        daemon,
        requests: rx,
    }
}

/// Polls `f` (every 10 ms, for 60 s at most).
async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..6000 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

impl Loop {
    fn store(&self) -> &Store {
        &self.daemon.shared.store
    }

    fn state(&self, task: &str) -> TaskState {
        self.store()
            .ti("w", "r", task)
            .expect("read")
            .map_or(TaskState::None, |t| t.state)
    }

    /// Triggers run `r` through the loop and starts it.
    async fn start_run(&mut self) {
        let (reply, answer) = oneshot::channel();
        self.daemon
            .handle(Request::Trigger {
                dag_id: "w".to_owned(),
                req: TriggerRequest {
                    run_id: Some("r".to_owned()),
                    ..TriggerRequest::default()
                },
                reply,
            })
            .expect("handled");
        answer.await.expect("answered").expect("triggered");
        self.daemon.start_runs().expect("started");
        let store = Arc::clone(&self.daemon.shared.store);
        until("long running", || {
            let ti = store.ti("w", "r", "long").ok()??;
            (ti.state == TaskState::Running).then_some(())
        })
        .await;
    }

    /// Waits for the run's engine to end, as the loop does.
    async fn join(&mut self) {
        let joined = self.daemon.joins.join_next().await.expect("a run");
        let (key, result) = joined.expect("joined");
        self.daemon.finished(key, result).expect("finished");
    }

    fn events(&self) -> Vec<(String, String)> {
        self.store()
            .audit_log()
            .expect("log")
            .into_iter()
            .map(|e| (e.event, e.owner))
            .collect()
    }
}

fn key() -> (String, String) {
    ("w".to_owned(), "r".to_owned())
}

#[tokio::test]
async fn a_run_in_flight_set_to_failed_is_changed_by_its_engine_and_recorded() {
    let mut l = new_loop();
    l.start_run().await;
    let (reply, answer) = oneshot::channel();
    l.daemon
        .handle(Request::SetRunState {
            dag_id: "w".to_owned(),
            run_id: "r".to_owned(),
            state: RunState::Failed,
            reply,
        })
        .expect("handled");
    let run = answer.await.expect("answered").expect("set");
    assert_eq!(run.state, RunState::Failed);
    l.join().await;
    assert!(!l.daemon.unfinished.contains_key(&key()));
    assert_eq!(l.state("long"), TaskState::Failed);
    assert_eq!(l.state("after"), TaskState::Skipped);
    assert_eq!(
        l.events(),
        vec![
            ("api.post_dag_run".to_owned(), "api".to_owned()),
            ("api.update_dag_run_state".to_owned(), "api".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_running_task_set_to_success_lets_the_run_finish() {
    let mut l = new_loop();
    l.start_run().await;
    let (reply, answer) = oneshot::channel();
    l.daemon
        .handle(Request::SetTaskState {
            dag_id: "w".to_owned(),
            spec: SetTaskStateSpec {
                run_id: "r".to_owned(),
                task_id: "long".to_owned(),
                map_indexes: None,
                state: TaskState::Success,
                upstream: false,
                downstream: false,
                future: false,
                past: false,
                dry_run: false,
            },
            reply,
        })
        .expect("handled");
    let listed = answer.await.expect("answered").expect("set");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].task_id.as_str(), listed[0].state),
        ("long", TaskState::Running)
    );
    l.join().await;
    let run = l.store().run("w", "r").expect("read").expect("run");
    assert_eq!(run.state, RunState::Success);
    assert_eq!(l.state("after"), TaskState::Success);
    assert!(
        l.events()
            .contains(&("api.patch_task_instance".to_owned(), "api".to_owned()))
    );
}

#[tokio::test]
async fn a_deleted_run_in_flight_is_stopped_removed_and_not_started_again() {
    let mut l = new_loop();
    l.start_run().await;
    let (reply, answer) = oneshot::channel();
    l.daemon
        .handle(Request::DeleteRun {
            dag_id: "w".to_owned(),
            run_id: "r".to_owned(),
            reply,
        })
        .expect("handled");
    answer.await.expect("answered").expect("deleted");
    l.join().await;
    assert!(l.store().run("w", "r").expect("read").is_none());
    assert!(!l.daemon.unfinished.contains_key(&key()));
    assert_eq!(l.daemon.start_runs().expect("start"), 0);
    assert!(
        l.events()
            .contains(&("api.delete_dag_run".to_owned(), "api".to_owned()))
    );
    // Gone: a second delete is refused.
    let (reply, answer) = oneshot::channel();
    l.daemon
        .handle(Request::DeleteRun {
            dag_id: "w".to_owned(),
            run_id: "r".to_owned(),
            reply,
        })
        .expect("handled");
    assert!(matches!(
        answer.await.expect("answered"),
        Err(OpError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_request_for_a_run_whose_engine_just_ended_is_applied_to_the_stored_run() {
    let mut l = new_loop();
    l.start_run().await;
    // The engine ends the run; the loop has not seen it end yet.
    let (reply, answer) = oneshot::channel();
    l.daemon
        .handle(Request::SetRunState {
            dag_id: "w".to_owned(),
            run_id: "r".to_owned(),
            state: RunState::Success,
            reply,
        })
        .expect("handled");
    answer.await.expect("answered").expect("set");
    assert!(l.daemon.active.contains_key(&key()));
    let (reply, answer) = oneshot::channel();
    l.daemon
        .handle(Request::SetNote {
            dag_id: "w".to_owned(),
            run_id: "r".to_owned(),
            task: None,
            note: Some("seen".to_owned()),
            reply,
        })
        .expect("handled");
    l.join().await;
    // The request comes back to the loop, which now applies it to the store.
    let again = l.requests.recv().await.expect("asked again");
    assert!(matches!(again, Request::Unaudited(_)));
    l.daemon.handle(again).expect("handled");
    answer.await.expect("answered").expect("noted");
    let run = l.store().run("w", "r").expect("read").expect("run");
    assert_eq!(run.user_note.as_deref(), Some("seen"));
    // Recorded once.
    let notes = l
        .events()
        .into_iter()
        .filter(|(e, _)| e == "api.set_dag_run_note")
        .count();
    assert_eq!(notes, 1);
}

#[tokio::test]
async fn a_finished_run_set_to_queued_is_started_again_and_requests_of_the_scheduler_are_not_recorded()
 {
    let mut l = new_loop();
    // A trigger the scheduler makes itself (trigger_dag_run) is not a user's action.
    let (reply, answer) = oneshot::channel();
    l.daemon
        .handle(Request::Unaudited(Box::new(Request::Trigger {
            dag_id: "w".to_owned(),
            req: TriggerRequest {
                run_id: Some("r".to_owned()),
                ..TriggerRequest::default()
            },
            reply,
        })))
        .expect("handled");
    answer.await.expect("answered").expect("triggered");
    assert!(l.events().is_empty());
    // Not started: set to failed in the store, then queued.
    for state in [RunState::Failed, RunState::Queued] {
        let (reply, answer) = oneshot::channel();
        l.daemon
            .handle(Request::SetRunState {
                dag_id: "w".to_owned(),
                run_id: "r".to_owned(),
                state,
                reply,
            })
            .expect("handled");
        let run = answer.await.expect("answered").expect("set");
        assert_eq!(run.state, state);
        assert_eq!(
            l.daemon.unfinished.contains_key(&key()),
            state == RunState::Queued
        );
    }
    assert_eq!(l.state("long"), TaskState::Skipped);
    // Started again, it ends by its task instances' states (all skipped: success).
    assert_eq!(l.daemon.start_runs().expect("start"), 1);
    l.join().await;
    let run = l.store().run("w", "r").expect("read").expect("run");
    assert_eq!(run.state, RunState::Success);
    assert_eq!(l.events().len(), 2);
}
