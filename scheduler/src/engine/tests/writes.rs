//! Issue 20's write paths on a run the engine holds, against the fake executor with
//! tokio's paused clock: a running task set to success (its try stopped, the run goes
//! on), a failed task set to success (its failed downstream runs again), the run set
//! to failed, success and queued, notes kept by the engine, and a deletion.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Ended, Harness, assert_tries, close, fail_after, ok_after};
use crate::engine::RunControl;
use crate::store::{DagRunRecord, RunState, TaskState};

/// `a >> b`, and `c` on its own.
const DAG: &str = r#"
[tasks.a]
type = "python"
python_callable = "m:f"

[tasks.b]
type = "python"
python_callable = "m:f"
upstream = ["a"]

[tasks.c]
type = "python"
python_callable = "m:f"
"#;

/// Asserts that the task's one try was stopped (cancelled, or dropped with the run).
#[track_caller]
fn assert_stopped(h: &Harness, task: &str) {
    let tries = h.fake.tries(task);
    assert!(
        matches!(
            tries.as_slice(),
            [(1, _, Ended::Cancelled | Ended::Dropped)]
        ),
        "{tries:?}"
    );
}

/// Starts the run `r` under control; returns the control channel and the run's end.
fn start(
    h: &Harness,
) -> (
    mpsc::UnboundedSender<RunControl>,
    tokio::task::JoinHandle<anyhow::Result<DagRunRecord>>,
) {
    h.trigger("r", 0);
    let (tx, rx) = mpsc::unbounded_channel();
    let engine = h.engine();
    let dag = Arc::clone(&h.dag);
    let running =
        tokio::spawn(async move { engine.run_controlled(dag, "r", None, Some(rx)).await });
    (tx, running)
}

#[tokio::test(start_paused = true)]
async fn a_running_task_set_to_success_is_stopped_and_its_downstream_runs() {
    let h = Harness::new(DAG);
    h.fake.on("a", 1, ok_after(600));
    h.fake.on("c", 1, ok_after(100));
    let (tx, running) = start(&h);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (reply, answer) = oneshot::channel();
    tx.send(RunControl::SetTaskStates {
        tis: vec![("a".to_owned(), -1)],
        state: TaskState::Success,
        reset_failed: vec!["b".to_owned()],
        reply,
    })
    .expect("send");
    answer.await.expect("answered").expect("set");
    let run = running.await.expect("joined").expect("run");
    assert_eq!(run.state, RunState::Success);
    assert_tries(&h.fake.tries("a"), &[(1, 0.0, Ended::Cancelled)]);
    // b ran once a was set, not when a's try would have ended.
    assert_tries(&h.fake.tries("b"), &[(1, 30.0, Ended::Completed)]);
    assert_eq!(h.state("r", "a"), (TaskState::Success, 1));
}

#[tokio::test(start_paused = true)]
async fn a_failed_task_set_to_success_lets_its_upstream_failed_downstream_run() {
    let h = Harness::new(DAG);
    h.fake.on("a", 1, fail_after(1));
    h.fake.on("c", 1, ok_after(600));
    let (tx, running) = start(&h);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(h.state("r", "b").0, TaskState::UpstreamFailed);
    let (reply, answer) = oneshot::channel();
    tx.send(RunControl::SetTaskStates {
        tis: vec![("a".to_owned(), -1)],
        state: TaskState::Success,
        reset_failed: vec!["b".to_owned()],
        reply,
    })
    .expect("send");
    answer.await.expect("answered").expect("set");
    let run = running.await.expect("joined").expect("run");
    assert_eq!(run.state, RunState::Success);
    assert_tries(&h.fake.tries("b"), &[(1, 30.0, Ended::Completed)]);
}

#[tokio::test(start_paused = true)]
async fn a_run_set_to_failed_fails_its_running_tasks_and_skips_the_rest() {
    let h = Harness::new(DAG);
    h.fake.on("a", 1, ok_after(600));
    h.fake.on("c", 1, ok_after(5));
    let (tx, running) = start(&h);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (reply, answer) = oneshot::channel();
    tx.send(RunControl::SetRunState {
        state: RunState::Failed,
        reply,
    })
    .expect("send");
    let answered = answer.await.expect("answered").expect("set");
    let run = running.await.expect("joined").expect("run");
    assert_eq!(
        (answered.state, run.state),
        (RunState::Failed, RunState::Failed)
    );
    assert!(close(h.at(run.end_date), 30.0));
    assert_eq!(h.state("r", "a").0, TaskState::Failed);
    assert_eq!(h.state("r", "b").0, TaskState::Skipped);
    assert_eq!(h.state("r", "c").0, TaskState::Success);
    assert_stopped(&h, "a");
    assert!(h.fake.tries("b").is_empty());
    let stored = h.store.run("t", "r").expect("read").expect("run");
    assert_eq!(stored.state, RunState::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_run_set_to_success_ends_with_every_task_successful() {
    let h = Harness::new(DAG);
    h.fake.on("a", 1, ok_after(600));
    let (tx, running) = start(&h);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (reply, answer) = oneshot::channel();
    tx.send(RunControl::SetRunState {
        state: RunState::Success,
        reply,
    })
    .expect("send");
    answer.await.expect("answered").expect("set");
    let run = running.await.expect("joined").expect("run");
    assert_eq!(run.state, RunState::Success);
    for t in ["a", "b", "c"] {
        assert_eq!(h.state("r", t).0, TaskState::Success, "{t}");
    }
    assert!(h.fake.tries("b").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_run_set_to_queued_stops_and_runs_again_from_where_it_was() {
    let h = Harness::new(DAG);
    h.fake.on("a", 1, ok_after(600));
    let (tx, running) = start(&h);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (reply, answer) = oneshot::channel();
    tx.send(RunControl::SetRunState {
        state: RunState::Queued,
        reply,
    })
    .expect("send");
    let answered = answer.await.expect("answered").expect("set");
    let run = running.await.expect("joined").expect("run");
    assert_eq!(
        (answered.state, run.state),
        (RunState::Queued, RunState::Queued)
    );
    assert_eq!((run.start_date, run.end_date), (None, None));
    // Started again (as the scheduler does): a's stopped try runs again, same number.
    h.fake.on("a", 1, ok_after(5));
    let run = h.run("r").await;
    assert_eq!(run.state, RunState::Success);
    assert_eq!(h.state("r", "a"), (TaskState::Success, 1));
}

#[tokio::test(start_paused = true)]
async fn notes_set_while_the_run_runs_survive_its_end() {
    let h = Harness::new(DAG);
    h.fake.on("a", 1, ok_after(60));
    let (tx, running) = start(&h);
    tokio::time::sleep(Duration::from_secs(30)).await;
    for task in [None, Some(("a".to_owned(), -1))] {
        let (reply, answer) = oneshot::channel();
        tx.send(RunControl::SetNote {
            task,
            note: Some("checked".to_owned()),
            reply,
        })
        .expect("send");
        answer.await.expect("answered").expect("set");
    }
    let (reply, answer) = oneshot::channel();
    tx.send(RunControl::SetNote {
        task: Some(("nope".to_owned(), -1)),
        note: None,
        reply,
    })
    .expect("send");
    assert!(answer.await.expect("answered").is_err());
    let run = running.await.expect("joined").expect("run");
    assert_eq!(run.state, RunState::Success);
    let stored = h.store.run("t", "r").expect("read").expect("run");
    assert_eq!(stored.user_note.as_deref(), Some("checked"));
    let ti = h.store.ti("t", "r", "a").expect("read").expect("ti");
    assert_eq!(ti.note.as_deref(), Some("checked"));
}

#[tokio::test(start_paused = true)]
async fn a_deleted_run_has_its_tries_stopped_and_is_gone() {
    let h = Harness::new(DAG);
    h.fake.on("a", 1, ok_after(600));
    let (tx, running) = start(&h);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let files = crate::retention::RunFiles {
        logs: h._home.path().join("logs"),
        storage: h._home.path().join("storage"),
    };
    let (reply, answer) = oneshot::channel();
    tx.send(RunControl::Delete { files, reply }).expect("send");
    answer.await.expect("answered").expect("deleted");
    running.await.expect("joined").expect("run");
    assert_stopped(&h, "a");
    assert!(h.store.run("t", "r").expect("read").is_none());
    assert!(h.store.tis("t", "r").expect("read").is_empty());
    assert!(!h._home.path().join("logs/dag_id=t/run_id=r").exists());
}
