//! The engine's group commit and ready queue, against the fake executor with tokio's
//! paused clock: tries that end together are recorded in one turn (one flush, not one
//! per try), each state is in the store before what follows it starts, and a wide
//! fan-out and a long chain run in DAG order to the end.

use std::fmt::Write as _;

use super::{Harness, ok_after};
use crate::store::{RunState, TaskState};

/// `root >> [c00 .. c{n-1}] >> join`.
fn fan_out(n: usize) -> String {
    let mut toml = format!(
        "max_active_tasks = {}\n[tasks.root]\ntype = \"python\"\npython_callable = \"m:f\"\n",
        n + 2
    );
    let kids: Vec<String> = (0..n).map(|i| format!("c{i:02}")).collect();
    for k in &kids {
        let _ = write!(
            toml,
            "[tasks.{k}]\ntype = \"python\"\npython_callable = \"m:f\"\nupstream = [\"root\"]\n"
        );
    }
    let ups: Vec<String> = kids.iter().map(|k| format!("\"{k}\"")).collect();
    let _ = write!(
        toml,
        "[tasks.join]\ntype = \"python\"\npython_callable = \"m:f\"\nupstream = [{}]\n",
        ups.join(", ")
    );
    toml
}

#[tokio::test(start_paused = true)]
async fn tries_that_end_together_are_recorded_with_one_flush_before_what_follows_starts() {
    let n = 30;
    let h = Harness::new(&fan_out(n));
    for i in 0..n {
        // Every child runs 5 s: they all end at the same instant.
        h.fake.on(&format!("c{i:02}"), 1, ok_after(5));
    }
    h.trigger("r", 0);
    let before = h.store.flush_count();
    let run = h.run("r").await;
    assert_eq!(run.state, RunState::Success);
    let flushes = h.store.flush_count() - before;
    // The run's start, root's start, root's end with the children's starts, the
    // children's ends with join's start, join's end, the run's end: a handful, where
    // one flush per child's end would be more than 30.
    assert!(
        flushes < 10,
        "{flushes} flushes for a fan-out of {n} tries that ended together"
    );
    // Durable before the side effect: join started after every child was recorded.
    let tis = h.store.tis(&h.dag.dag_id, "r").expect("tis");
    let join = tis.iter().find(|t| t.task_id == "join").expect("join");
    assert_eq!(join.state, TaskState::Success);
    for t in tis.iter().filter(|t| t.task_id.starts_with('c')) {
        assert_eq!(
            (t.state, t.try_number),
            (TaskState::Success, 1),
            "{}",
            t.task_id
        );
        assert!(
            t.end_date <= join.start_date,
            "{} ended after join started",
            t.task_id
        );
    }
    let seen = h.fake.seen();
    assert_eq!(seen.len(), n + 2);
    assert_eq!(seen.first().map(|s| s.task_id.as_str()), Some("root"));
    assert_eq!(seen.last().map(|s| s.task_id.as_str()), Some("join"));
}

#[tokio::test(start_paused = true)]
async fn a_long_chain_runs_in_order_with_one_task_at_a_time() {
    // One thread: each flush is made on it (`Engine::start_flush`).
    long_chain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_chain_on_worker_threads_starts_no_try_while_its_start_is_flushed() {
    // Worker threads: each flush goes to the blocking pool while the turn's tries are
    // prepared, and a try waits at its gate until the flush is done.
    long_chain().await;
}

async fn long_chain() {
    let n = 200;
    let mut toml = String::new();
    for i in 0..n {
        let _ = write!(
            toml,
            "[tasks.t{i:03}]\ntype = \"python\"\npython_callable = \"m:f\"\n"
        );
        if i > 0 {
            let _ = writeln!(toml, "upstream = [\"t{:03}\"]", i - 1);
        }
    }
    let h = Harness::new(&toml);
    h.trigger("r", 0);
    let run = h.run("r").await;
    assert_eq!(run.state, RunState::Success);
    let order: Vec<String> = h.fake.seen().into_iter().map(|s| s.task_id).collect();
    let expected: Vec<String> = (0..n).map(|i| format!("t{i:03}")).collect();
    assert_eq!(order, expected);
    assert_eq!(
        h.fake.max_running.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // Each try is prepared while its start is being flushed, and starts its job only
    // once that flush is done: in a chain nothing else is flushed meanwhile.
    let early = h
        .fake
        .started_while_flushing
        .lock()
        .expect("flushing")
        .clone();
    assert!(
        early.is_empty(),
        "started before their start was durable: {early:?}"
    );
}
