//! The slot arbiter with the fake executor and tokio's paused clock: several DAGs' runs
//! share pools through one engine; start order follows the effective priority weight,
//! a request that does not fit leaves the slots to smaller ones behind it, a pool's new
//! size takes effect at once, and `max_active_tis_per_dag` holds across runs.

use super::*;
use crate::store::PoolRecord;

/// Several DAGs, one store, one engine over the fake executor.
struct Many {
    _home: tempfile::TempDir,
    store: Arc<Store>,
    fake: Arc<FakeExecutor>,
    clock: Arc<VirtualClock>,
    engine: Arc<Engine>,
}

impl Many {
    fn new(pools: &[(&str, i64)]) -> Many {
        let home = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(&home.path().join("state")).expect("store"));
        for (name, slots) in pools {
            store
                .put_pool(&PoolRecord::new(name, *slots, "", false))
                .expect("pool");
        }
        let t0 = Instant::now();
        let base = DateTime::parse_from_rfc3339(BASE)
            .expect("date")
            .with_timezone(&Utc);
        let fake = FakeExecutor::new(t0);
        let clock = Arc::new(VirtualClock { base, t0 });
        let engine = Arc::new(
            Engine::with_executor(Arc::clone(&store), fake.clone(), home.path().join("logs"))
                .with_clock(clock.clone()),
        );
        Many {
            _home: home,
            store,
            fake,
            clock,
            engine,
        }
    }

    fn dag(name: &str, toml: &str) -> Arc<Dag> {
        let (dag, diags) = lithoflow_dag::parse_dag(Path::new(&format!("/dags/{name}.toml")), toml);
        assert!(diags.is_empty(), "{diags:?}");
        Arc::new(dag.expect("dag"))
    }

    /// Triggers a run of `dag` (logical date `day` days after the base) and starts it.
    fn start(
        &self,
        dag: &Arc<Dag>,
        run_id: &str,
        day: u32,
    ) -> tokio::task::JoinHandle<DagRunRecord> {
        let logical = Utc
            .with_ymd_and_hms(2026, 12, 1 + day, 0, 0, 0)
            .single()
            .expect("date");
        let req = TriggerRequest {
            run_id: Some(run_id.to_owned()),
            logical_date: Some(logical),
            ..TriggerRequest::default()
        };
        ops::trigger(&self.store, dag, req, self.clock.now()).expect("trigger");
        let (engine, dag, run_id) = (Arc::clone(&self.engine), Arc::clone(dag), run_id.to_owned());
        tokio::spawn(async move { engine.run(dag, &run_id, None).await.expect("run") })
    }

    /// (task, virtual start second) of every try, in start order.
    fn starts(&self) -> Vec<(String, f64)> {
        let mut s: Vec<(String, f64)> = self
            .fake
            .seen()
            .into_iter()
            .map(|s| (s.task_id, s.started_at))
            .collect();
        s.sort_by(|a, b| a.1.total_cmp(&b.1));
        s
    }
}

fn one_task(task: &str, extra: &str) -> String {
    format!("[tasks.{task}]\ntype = \"python\"\npython_callable = \"m:f\"\n{extra}\n")
}

impl Many {
    fn state(&self, dag: &str, task: &str) -> Option<TaskState> {
        self.store
            .ti(dag, "r", task)
            .expect("read")
            .map(|t| t.state)
    }

    /// Waits (virtual time, a millisecond at a time) until `cond` holds. The paused
    /// clock jumps to the next timer when every task waits, also on the store's blocking
    /// writes, so the tests wait for states rather than for durations.
    async fn until(&self, what: &str, cond: impl Fn(&Many) -> bool) {
        for _ in 0..1_000_000 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("never: {what}");
    }
}

/// The start times of `tasks`, in that order.
fn at(order: &[(String, f64)], tasks: &[&str]) -> Vec<f64> {
    tasks
        .iter()
        .map(|t| {
            order
                .iter()
                .find(|(n, _)| n == t)
                .map(|(_, at)| *at)
                .unwrap_or(f64::NAN)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn waiting_instances_of_several_dags_start_by_priority() {
    let m = Many::new(&[("p", 1)]);
    let blocker = Many::dag("blocker", &one_task("hold", "pool = \"p\""));
    m.fake.on("hold", 1, ok_after(1000));
    let mut dags = Vec::new();
    for (name, weight) in [("low", 1), ("mid", 5), ("high", 10)] {
        let task = format!("{name}_task");
        m.fake.on(&task, 1, ok_after(1));
        let toml = one_task(&task, &format!("pool = \"p\"\npriority_weight = {weight}"));
        dags.push(Many::dag(name, &toml));
    }
    let first = m.start(&blocker, "r", 0);
    m.until("hold runs", |m| m.fake.seen().len() == 1).await;
    // Triggered lowest first, on later logical dates for the higher ones.
    let runs: Vec<_> = dags
        .iter()
        .enumerate()
        .map(|(i, d)| m.start(d, "r", u32::try_from(i).expect("small") + 1))
        .collect();
    m.until("all three wait", |m| {
        ["low", "mid", "high"]
            .iter()
            .all(|d| m.state(d, &format!("{d}_task")) == Some(TaskState::Scheduled))
    })
    .await;
    let arbiter = m.engine.pools().expect("pools");
    let low = arbiter.waiting("low", "r");
    assert_eq!(low.len(), 1);
    assert_eq!((low[0].pool.as_str(), low[0].ahead), ("p", 2), "{low:?}");
    assert_eq!(low[0].dependency, "Pool Slots Available");
    assert_eq!(
        low[0].reason,
        "Not scheduling since there are 0 open slots in pool p and require 1 pool slots"
    );
    assert_eq!(arbiter.usage()["p"].running, 1);
    assert_eq!(arbiter.usage()["p"].scheduled, 3);
    for r in std::iter::once(first).chain(runs) {
        assert_eq!(r.await.expect("join").state, RunState::Success);
    }
    let order = m.starts();
    let names: Vec<&str> = order.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["hold", "high_task", "mid_task", "low_task"]);
    // One after the other, each as soon as the one before it ended.
    let t = at(&order, &["hold", "high_task", "mid_task", "low_task"]);
    assert!(
        close(t[1] - t[0], 1000.0) && close(t[2] - t[1], 1.0) && close(t[3] - t[2], 1.0),
        "{order:?}"
    );
    assert!(
        arbiter
            .usage()
            .values()
            .all(|u| u.running == 0 && u.scheduled == 0)
    );
}

#[tokio::test(start_paused = true)]
async fn the_downstream_weight_rule_adds_the_downstream_weights() {
    let m = Many::new(&[("p", 1)]);
    let blocker = Many::dag("blocker", &one_task("hold", "pool = \"p\""));
    m.fake.on("hold", 1, ok_after(1000));
    // first: 1 + 5 downstream = 6 > solo's 3 (absolute); on its own it would lose.
    let chain = Many::dag(
        "chain",
        &format!(
            "{}{}",
            one_task("first", "pool = \"p\""),
            one_task("then", "upstream = [\"first\"]\npriority_weight = 5")
        ),
    );
    let other = Many::dag(
        "other",
        &one_task(
            "solo",
            "pool = \"p\"\npriority_weight = 3\nweight_rule = \"absolute\"",
        ),
    );
    m.fake.on("first", 1, ok_after(1));
    m.fake.on("solo", 1, ok_after(1));
    let a = m.start(&blocker, "r", 0);
    m.until("hold runs", |m| m.fake.seen().len() == 1).await;
    let b = m.start(&other, "r", 0);
    let c = m.start(&chain, "r", 1);
    m.until("both wait", |m| {
        m.state("other", "solo") == Some(TaskState::Scheduled)
            && m.state("chain", "first") == Some(TaskState::Scheduled)
    })
    .await;
    for r in [a, b, c] {
        assert_eq!(r.await.expect("join").state, RunState::Success);
    }
    // The tasks of pool p (`then`, in default_pool, starts beside solo).
    let order: Vec<String> = m
        .starts()
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t != "then")
        .collect();
    assert_eq!(order, ["hold", "first", "solo"]);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_does_not_fit_leaves_open_slots_to_smaller_ones() {
    let m = Many::new(&[("p", 2)]);
    let blocker = Many::dag("blocker", &one_task("hold", "pool = \"p\""));
    m.fake.on("hold", 1, ok_after(1000));
    let big = Many::dag(
        "big",
        &one_task("wide", "pool = \"p\"\npool_slots = 2\npriority_weight = 10"),
    );
    let small = Many::dag("small", &one_task("narrow", "pool = \"p\""));
    m.fake.on("wide", 1, ok_after(5));
    m.fake.on("narrow", 1, ok_after(3));
    let a = m.start(&blocker, "r", 0);
    m.until("hold runs", |m| m.fake.seen().len() == 1).await;
    let b = m.start(&big, "r", 0);
    m.until("wide waits", |m| {
        m.state("big", "wide") == Some(TaskState::Scheduled)
    })
    .await;
    let c = m.start(&small, "r", 0);
    for r in [a, b, c] {
        assert_eq!(r.await.expect("join").state, RunState::Success);
    }
    let order = m.starts();
    let names: Vec<&str> = order.iter().map(|(t, _)| t.as_str()).collect();
    // narrow takes the open slot behind the heavier wide, which does not fit; wide gets
    // both slots once hold and narrow have ended.
    assert_eq!(names, ["hold", "narrow", "wide"]);
    let t = at(&order, &["hold", "narrow", "wide"]);
    assert!(
        t[1] - t[0] < 1000.0 && close(t[2] - t[0], 1000.0),
        "{order:?}"
    );
    assert_eq!(m.fake.max_running.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_pools_new_size_and_a_new_pool_take_effect_at_once() {
    let m = Many::new(&[("p", 1)]);
    let mut handles = Vec::new();
    for i in 0..3 {
        let name = format!("d{i}");
        m.fake.on(&format!("t{i}"), 1, ok_after(1000));
        let dag = Many::dag(&name, &one_task(&format!("t{i}"), "pool = \"p\""));
        handles.push(m.start(&dag, "r", 0));
    }
    // A pool that does not exist: the instance waits (no deadlock), with the reason.
    let lost = Many::dag("lost", &one_task("orphan", "pool = \"nowhere\""));
    m.fake.on("orphan", 1, ok_after(1000));
    handles.push(m.start(&lost, "r", 0));
    m.until("three wait", |m| {
        let waiting = (0..3)
            .filter(|i| m.state(&format!("d{i}"), &format!("t{i}")) == Some(TaskState::Scheduled))
            .count();
        waiting == 2 && m.state("lost", "orphan") == Some(TaskState::Scheduled)
    })
    .await;
    assert_eq!(m.fake.seen().len(), 1);
    let arbiter = m.engine.pools().expect("pools").clone();
    let why = arbiter.waiting("lost", "r");
    assert_eq!(
        why[0].reason,
        "Tasks using non-existent pool 'nowhere' will not be scheduled"
    );
    m.store
        .put_pool(&PoolRecord::new("p", 3, "", false))
        .expect("pool");
    m.store
        .put_pool(&PoolRecord::new("nowhere", 1, "", false))
        .expect("pool");
    arbiter.reload();
    for h in handles {
        assert_eq!(h.await.expect("join").state, RunState::Success);
    }
    let t: Vec<f64> = m.starts().into_iter().map(|(_, at)| at).collect();
    // The three waiting start together, at once, while the first still runs.
    assert!(
        t.len() == 4 && close(t[1], t[3]) && t[1] - t[0] < 1000.0,
        "{t:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn max_active_tis_per_dag_holds_across_runs() {
    let m = Many::new(&[]);
    let dag = Many::dag(
        "limited",
        &one_task("t", "max_active_tis_per_dag = 1\npriority_weight = 2"),
    );
    m.fake.on("t", 1, ok_after(10));
    let runs: Vec<_> = (0..3).map(|i| m.start(&dag, &format!("r{i}"), i)).collect();
    for r in runs {
        assert_eq!(r.await.expect("join").state, RunState::Success);
    }
    let t: Vec<f64> = m.starts().into_iter().map(|(_, at)| at).collect();
    assert!(
        t.len() == 3 && t[1] - t[0] >= 10.0 - 0.01 && t[2] - t[1] >= 10.0 - 0.01,
        "{t:?}"
    );
    assert_eq!(m.fake.max_running.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn max_active_tasks_picks_the_heavier_task_of_a_run_first() {
    let m = Many::new(&[]);
    let dag = Many::dag(
        "one_at_a_time",
        &format!(
            "max_active_tasks = 1\n{}{}",
            one_task("light", "priority_weight = 1"),
            one_task("heavy", "priority_weight = 9")
        ),
    );
    m.fake.on("light", 1, ok_after(1));
    m.fake.on("heavy", 1, ok_after(1));
    let run = m.start(&dag, "r", 0);
    assert_eq!(run.await.expect("join").state, RunState::Success);
    let order: Vec<String> = m.starts().into_iter().map(|(t, _)| t).collect();
    assert_eq!(order, ["heavy", "light"]);
}

#[tokio::test(start_paused = true)]
async fn an_unlimited_pool_never_holds_back_and_a_too_large_request_waits_for_the_timeout() {
    let m = Many::new(&[("open", -1), ("small", 1)]);
    let mut toml = String::new();
    for i in 0..4 {
        toml.push_str(&one_task(
            &format!("u{i}"),
            "pool = \"open\"\npool_slots = 50",
        ));
    }
    let wide = Many::dag("wide", &toml);
    for i in 0..4 {
        m.fake.on(&format!("u{i}"), 1, ok_after(10));
    }
    assert_eq!(
        m.start(&wide, "r", 0).await.expect("join").state,
        RunState::Success
    );
    assert_eq!(m.fake.max_running.load(Ordering::SeqCst), 4);

    // Two slots of a one-slot pool: never granted, and the run is not a deadlock; its
    // dagrun_timeout ends it, the instance skipped as every unfinished one.
    let big = Many::dag(
        "big",
        &format!(
            "dagrun_timeout = \"1h\"\n{}",
            one_task("huge", "pool = \"small\"\npool_slots = 2")
        ),
    );
    let run = m.start(&big, "r", 0);
    m.until("huge waits", |m| {
        m.state("big", "huge") == Some(TaskState::Scheduled)
    })
    .await;
    let why = m.engine.pools().expect("pools").waiting("big", "r");
    assert_eq!(
        why[0].reason,
        "Requested pool slots (2) are greater than total pool slots: '1' for pool: small"
    );
    let run = run.await.expect("join");
    assert_eq!(run.state, RunState::Failed);
    assert!(
        run.note
            .as_deref()
            .is_some_and(|n| n.contains("dagrun_timeout")),
        "{run:?}"
    );
    assert_eq!(m.state("big", "huge"), Some(TaskState::Skipped));
    assert!(
        m.engine
            .pools()
            .expect("pools")
            .usage()
            .values()
            .all(|u| u.running == 0 && u.scheduled == 0)
    );
}
