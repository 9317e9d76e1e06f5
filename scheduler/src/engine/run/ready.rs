//! What [`RunLoop::decide`](super::RunLoop) needs to look at, kept up to date as task
//! instances change instead of found by walking every task at every event: per task, the
//! states of its direct upstream tasks' instances counted ([`UpstreamCounts`], the input
//! of the trigger rules), and the tasks worth deciding again (`dirty`: an upstream or
//! one of its own instances changed; `held`: the rule let it run but there was no room).
//! It also keeps the run-wide figures the loop asks for after each event (instances
//! running, unfinished, waiting for a retry), so that an event costs the same whether the
//! DAG has 10 tasks or 100,000.
//!
//! The run loop changes `tis` in place and says which instances it touched
//! ([`Ready::touch`]); [`Ready::sync`] compares each touched instance's state with the
//! state it was counted in and moves its counts. A debug build checks every count it
//! hands out against a recount from `tis` ([`Ready::counts`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use lithoflow_dag::Dag;
use lithoflow_dag::trigger::UpstreamCounts;

use crate::engine::mapping::TiKey;
use crate::store::{TaskInstanceRecord, TaskState};

/// A task's own instances, counted by state.
#[derive(Debug, Clone, Copy, Default)]
struct Own {
    instances: usize,
    success: usize,
    skipped: usize,
    failed: usize,
    upstream_failed: usize,
}

impl Own {
    /// What the task adds to each downstream task's [`UpstreamCounts`]: each instance
    /// counts one (a task with none, one: Airflow counts an unexpanded mapped task as
    /// one instance, not done).
    fn contribution(self) -> [usize; 5] {
        if self.instances == 0 {
            [1, 0, 0, 0, 0]
        } else {
            [
                self.instances,
                self.success,
                self.skipped,
                self.failed,
                self.upstream_failed,
            ]
        }
    }

    fn add(&mut self, state: TaskState, sign: bool) {
        let slot = match state {
            TaskState::Success => Some(&mut self.success),
            TaskState::Skipped => Some(&mut self.skipped),
            TaskState::Failed => Some(&mut self.failed),
            TaskState::UpstreamFailed => Some(&mut self.upstream_failed),
            _ => None,
        };
        for n in [Some(&mut self.instances), slot].into_iter().flatten() {
            *n = if sign { *n + 1 } else { n.saturating_sub(1) };
        }
    }
}

/// The ready queue and the counts behind it (see the module's documentation).
pub(super) struct Ready {
    /// The DAG, whose graph finds a task's position in its task list.
    dag: Arc<Dag>,
    /// Each task's direct downstream tasks, by position.
    downstream: Vec<Vec<usize>>,
    own: Vec<Own>,
    /// Each task's upstream instances counted by state.
    upstream: Vec<UpstreamCounts>,
    /// The state each existing instance was counted in.
    counted: HashMap<TiKey, TaskState>,
    /// Instances changed since the last [`Ready::sync`].
    touched: Vec<TiKey>,
    /// Tasks to decide again, by position (the DAG's order is the order of decisions).
    pub(super) dirty: BTreeSet<usize>,
    /// Tasks the trigger rules let run with instances that did not start (no room, a
    /// pool slot to wait for, `depends_on_past`): decided again while there is room.
    pub(super) held: BTreeSet<usize>,
    /// The tasks of `held` with `depends_on_past`: looked at even without room, so that
    /// the run knows which wait for the past.
    pub(super) held_past: BTreeSet<usize>,
    running: usize,
    unfinished: usize,
    /// Instances waiting for a retry.
    retrying: HashSet<TiKey>,
}

impl Ready {
    /// The counts of `tis`, every task to be decided.
    pub(super) fn new(dag: Arc<Dag>, tis: &BTreeMap<TiKey, TaskInstanceRecord>) -> Ready {
        let downstream = dag
            .tasks
            .iter()
            .map(|t| {
                dag.graph
                    .downstream(&t.task_id)
                    .into_iter()
                    .filter_map(|d| dag.graph.position(d))
                    .collect()
            })
            .collect();
        let n = dag.tasks.len();
        let mut ready = Ready {
            dag,
            downstream,
            own: vec![Own::default(); n],
            upstream: vec![UpstreamCounts::default(); n],
            counted: HashMap::with_capacity(tis.len()),
            touched: Vec::new(),
            dirty: (0..n).collect(),
            held: BTreeSet::new(),
            held_past: BTreeSet::new(),
            running: 0,
            unfinished: 0,
            retrying: HashSet::new(),
        };
        for (key, ti) in tis {
            ready.count(key, None, Some(ti.state), false);
        }
        for task in 0..n {
            let c = ready.own[task].contribution();
            for d in ready.downstream[task].clone() {
                add(&mut ready.upstream[d], c, true);
            }
        }
        ready
    }

    /// A task's position in the DAG's task list.
    pub(super) fn position(&self, task_id: &str) -> Option<usize> {
        // The graph is built from the tasks in their order (as `Dag::task` relies on).
        self.dag
            .graph
            .position(task_id)
            .filter(|&i| self.dag.tasks.get(i).is_some_and(|t| t.task_id == task_id))
    }

    /// Notes that an instance was changed, added or removed in `tis`.
    pub(super) fn touch(&mut self, key: &TiKey) {
        self.touched.push(key.clone());
    }

    /// Moves the counts of the instances touched since the last call to their states in
    /// `tis`; their tasks and those tasks' downstream tasks become dirty.
    pub(super) fn sync(&mut self, tis: &BTreeMap<TiKey, TaskInstanceRecord>) {
        for key in std::mem::take(&mut self.touched) {
            let now = tis.get(&key).map(|t| t.state);
            let before = self.counted.get(&key).copied();
            if now != before {
                self.count(&key, before, now, true);
            }
        }
    }

    fn count(
        &mut self,
        key: &TiKey,
        before: Option<TaskState>,
        now: Option<TaskState>,
        live: bool,
    ) {
        match now {
            Some(s) => self.counted.insert(key.clone(), s),
            None => self.counted.remove(key),
        };
        for (state, sign) in [(before, false), (now, true)] {
            let Some(state) = state else { continue };
            let step = |n: &mut usize| *n = if sign { *n + 1 } else { n.saturating_sub(1) };
            if state == TaskState::Running {
                step(&mut self.running);
            }
            if !state.is_finished() {
                step(&mut self.unfinished);
            }
        }
        if now == Some(TaskState::UpForRetry) {
            self.retrying.insert(key.clone());
        } else {
            self.retrying.remove(key);
        }
        let Some(task) = self.position(&key.task_id) else {
            return;
        };
        let old = self.own[task].contribution();
        if let Some(s) = before {
            self.own[task].add(s, false);
        }
        if let Some(s) = now {
            self.own[task].add(s, true);
        }
        if !live {
            return;
        }
        let new = self.own[task].contribution();
        self.dirty.insert(task);
        if old == new {
            return;
        }
        for &d in &self.downstream[task] {
            add(&mut self.upstream[d], new, true);
            add(&mut self.upstream[d], old, false);
            self.dirty.insert(d);
        }
    }

    /// The upstream counts of the task at `position` (synced).
    pub(super) fn counts(
        &self,
        position: usize,
        dag: &Dag,
        tis: &BTreeMap<TiKey, TaskInstanceRecord>,
    ) -> UpstreamCounts {
        let c = self.upstream.get(position).copied().unwrap_or_default();
        if cfg!(debug_assertions)
            && let Some(task) = dag.tasks.get(position)
        {
            debug_assert_eq!(
                c,
                crate::engine::mapping::upstream_counts(dag, task, tis),
                "the ready queue's counts of `{}` went wrong",
                task.task_id
            );
        }
        c
    }

    /// Instances running (synced).
    pub(super) fn running(&self) -> usize {
        self.running
    }

    /// Whether every instance is finished (synced).
    pub(super) fn all_finished(&self) -> bool {
        self.unfinished == 0
    }

    /// The instances waiting for a retry (synced).
    pub(super) fn retrying(&self) -> impl Iterator<Item = &TiKey> {
        self.retrying.iter()
    }

    /// The next task to decide at or after `from`: a dirty one, or a held one (with
    /// `room`; without, only those that wait for the past).
    pub(super) fn next(&self, from: usize, room: bool) -> Option<usize> {
        let dirty = self.dirty.range(from..).next();
        let held = if room {
            self.held.range(from..).next()
        } else {
            self.held_past.range(from..).next()
        };
        match (dirty, held) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// Takes a task out of the queue to decide it.
    pub(super) fn take(&mut self, task: usize) {
        self.dirty.remove(&task);
        self.held.remove(&task);
        self.held_past.remove(&task);
    }

    /// Puts a decided task back as held.
    pub(super) fn hold(&mut self, task: usize, past: bool) {
        self.held.insert(task);
        if past {
            self.held_past.insert(task);
        }
    }

    /// A task to decide again though none of its counts moved (the last of its
    /// instances cleared while running has stopped).
    pub(super) fn mark(&mut self, task_id: &str) {
        if let Some(i) = self.position(task_id) {
            self.dirty.insert(i);
        }
    }
}

fn add(c: &mut UpstreamCounts, by: [usize; 5], sign: bool) {
    let fields = [
        &mut c.upstream,
        &mut c.success,
        &mut c.skipped,
        &mut c.failed,
        &mut c.upstream_failed,
    ];
    for (f, n) in fields.into_iter().zip(by) {
        *f = if sign { *f + n } else { f.saturating_sub(n) };
    }
}
