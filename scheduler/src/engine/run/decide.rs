//! What may run now: [`RunLoop::decide`] takes the tasks the ready queue (`ready.rs`)
//! says may have changed and applies the trigger rules (each mapped
//! upstream instance counted), `depends_on_past`, `max_active_tasks` and
//! `max_active_tis_per_dagrun` to the undecided task instances, and expands the mapped
//! tasks whose upstream tasks are done.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::RunLoop;
use crate::engine::RunEvent;
use crate::engine::mapping::{self, InstanceArgs, TiKey};
use crate::store::{TaskInstanceRecord, TaskState, UNMAPPED};
use lithoflow_dag::Task;
use lithoflow_dag::trigger::{self, Decision};

/// What [`RunLoop::decide`] decided.
#[derive(Default)]
pub(super) struct Decided {
    /// Task instances whose state changed (skipped, upstream_failed, a mapped task's
    /// new instances), to record.
    pub(super) changed: Vec<TaskInstanceRecord>,
    /// Instances to start now.
    pub(super) to_dispatch: Vec<TiKey>,
    /// The same, ordered, to ask whether an instance is among them and how many of a
    /// task's are: asked of the list, that was a scan per task, and a fan-out of
    /// 100,000 tasks ready at once spent 40% of its run comparing task ids.
    chosen: BTreeSet<TiKey>,
    /// Instances that are gone (a mapped task's unexpanded instance, once expanded).
    pub(super) removed: Vec<TiKey>,
}

impl RunLoop<'_> {
    /// Applies the trigger rules, `depends_on_past`, `max_active_tasks` and
    /// `max_active_tis_per_dagrun` to every task instance not yet decided, and expands
    /// the mapped tasks that may run, until nothing changes.
    pub(super) fn decide(&mut self, now: DateTime<Utc>) -> anyhow::Result<Decided> {
        let mut out = Decided::default();
        self.blocked_on_past.clear();
        let dag = Arc::clone(&self.dag);
        self.ready.sync(&self.tis);
        // Retries that came due make their tasks worth deciding again.
        let due: Vec<usize> = self
            .ready
            .retrying()
            .filter(|k| {
                self.tis
                    .get(*k)
                    .is_some_and(|t| t.next_retry_at.is_none_or(|at| at <= now))
            })
            .filter_map(|k| self.ready.position(&k.task_id))
            .collect();
        self.ready.dirty.extend(due);
        // Running instances; the ones chosen for dispatch in this pass are added below.
        let active = self.ready.running();
        let max_active = dag.max_active_tasks as usize;
        // Passes in the DAG's order, as long as decisions change states: a task dirtied
        // by one behind the cursor waits for the next pass (Airflow's scheduler loop).
        loop {
            let mut cursor = 0;
            loop {
                let room = self.drain.is_none() && active + out.to_dispatch.len() < max_active;
                let Some(position) = self.ready.next(cursor, room) else {
                    break;
                };
                cursor = position + 1;
                self.ready.take(position);
                let Some(task) = dag.tasks.get(position) else {
                    continue;
                };
                // Instances of a mapped task cleared while running are still stopping:
                // it is expanded again once they have (their end touches it).
                if task.is_mapped() && self.restarting.iter().any(|k| k.task_id == task.task_id) {
                    continue;
                }
                let held = self.decide_task(task, position, now, active, &mut out)?;
                if held {
                    self.ready.hold(position, task.depends_on_past);
                }
                self.ready.sync(&self.tis);
            }
            if self.ready.dirty.is_empty() {
                break;
            }
        }
        // Pool slots for the instances that may run, asked for together (priority order).
        let (granted, waiting) = self.slots.submit(&dag);
        out.chosen.extend(granted.iter().cloned());
        out.to_dispatch.extend(granted);
        for key in waiting {
            if let Some(ti) = self.tis.get_mut(&key)
                && ti.state != TaskState::Scheduled
            {
                ti.state = TaskState::Scheduled;
                out.changed.push(ti.clone());
                self.ready.touch(&key);
                let try_number = ti.try_number;
                self.emit(RunEvent::Task {
                    task_id: key.task_id.clone(),
                    map_index: key.map_index,
                    state: TaskState::Scheduled,
                    try_number,
                });
            }
        }
        Ok(out)
    }

    /// Decides the undecided instances of one task; true when the trigger rule lets it
    /// run and some of its instances did not start (it is held for the next decision).
    fn decide_task(
        &mut self,
        task: &Task,
        position: usize,
        now: DateTime<Utc>,
        active: usize,
        out: &mut Decided,
    ) -> anyhow::Result<bool> {
        let dag = Arc::clone(&self.dag);
        // The decision is the same for each instance of the task, computed once.
        // Only the instances that can change now are gathered: none while the rule
        // waits, and no more than may start (a 10,000-instance task is not walked
        // whole at each event).
        let mut decision = None;
        let room = (dag.max_active_tasks as usize)
            .saturating_sub(active + out.to_dispatch.len())
            .min(self.task_room(task, &out.chosen));
        let mut keys: Vec<TiKey> = Vec::new();
        let mut held = false;
        for (key, ti) in self.tis.range(TiKey::range_of(&task.task_id)) {
            let waiting_retry =
                ti.state == TaskState::UpForRetry && ti.next_retry_at.is_some_and(|at| at > now);
            if !matches!(
                ti.state,
                TaskState::None | TaskState::UpForRetry | TaskState::Scheduled
            ) || waiting_retry
                || out.chosen.contains(key)
            {
                continue;
            }
            let d = *decision.get_or_insert_with(|| {
                trigger::evaluate(
                    task.trigger_rule,
                    self.ready.counts(position, &dag, &self.tis),
                )
            });
            let starts = d == Decision::Run
                && !(task.is_mapped() && key.map_index == UNMAPPED)
                && !task.depends_on_past;
            if d == Decision::Wait {
                break;
            }
            if starts && keys.len() >= room {
                held = true;
                break;
            }
            keys.push(key.clone());
        }
        for key in keys {
            let Some(d) = decision else {
                break;
            };
            let mut error = None;
            let new_state = match d {
                Decision::Skip => Some(TaskState::Skipped),
                Decision::UpstreamFailed => Some(TaskState::UpstreamFailed),
                Decision::Wait => None,
                Decision::Run if task.is_mapped() && key.map_index == UNMAPPED => {
                    match self.expand(task, out) {
                        Ok(true) => None,
                        // Nothing to map over: Airflow skips the task.
                        Ok(false) => Some(TaskState::Skipped),
                        Err(e) => {
                            error = Some(e);
                            Some(TaskState::Failed)
                        }
                    }
                }
                Decision::Run => {
                    if task.depends_on_past && !self.past_met(&key)? {
                        if !self.blocked_on_past.contains(&task.task_id) {
                            self.blocked_on_past.push(task.task_id.clone());
                        }
                        held = true;
                    } else if self.drain.is_none()
                        && active + out.to_dispatch.len() < dag.max_active_tasks as usize
                        && self.below_task_limit(task, &key, &out.chosen)
                        && self.slots.ready(task, &key)
                    {
                        out.chosen.insert(key.clone());
                        out.to_dispatch.push(key.clone());
                    } else {
                        held = true;
                    }
                    None
                }
            };
            if let Some(state) = new_state
                && let Some(ti) = self.tis.get_mut(&key)
            {
                ti.state = state;
                ti.end_date = Some(now);
                if error.is_some() {
                    ti.error = error;
                }
                let try_number = ti.try_number;
                out.changed.push(ti.clone());
                self.ready.touch(&key);
                self.emit(RunEvent::Task {
                    task_id: key.task_id.clone(),
                    map_index: key.map_index,
                    state,
                    try_number,
                });
            }
        }
        Ok(held)
    }

    /// Whether another instance of `task` may start under its
    /// `max_active_tis_per_dagrun`, counting the ones chosen to start and the other
    /// instances that asked for pool slots.
    fn below_task_limit(&self, task: &Task, key: &TiKey, chosen: &BTreeSet<TiKey>) -> bool {
        let Some(limit) = task.max_active_tis_per_dagrun else {
            return true;
        };
        let running = self
            .tis
            .range(TiKey::range_of(&task.task_id))
            .filter(|(_, t)| t.state == TaskState::Running)
            .count()
            + chosen.range(TiKey::range_of(&task.task_id)).count()
            + self.slots.asked_for(key);
        (running as u64) < limit
    }

    /// How many more instances of `task` may start under its
    /// `max_active_tis_per_dagrun` (no limit: `usize::MAX`).
    fn task_room(&self, task: &Task, chosen: &BTreeSet<TiKey>) -> usize {
        let Some(limit) = task.max_active_tis_per_dagrun else {
            return usize::MAX;
        };
        let running = self
            .tis
            .range(TiKey::range_of(&task.task_id))
            .filter(|(_, t)| t.state == TaskState::Running)
            .count()
            + chosen.range(TiKey::range_of(&task.task_id)).count();
        usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(running)
    }

    /// Expands a mapped task whose upstream tasks are done: its unexpanded instance
    /// makes way for one instance per element (recorded through `out`). False: there is
    /// nothing to map over; an error is the task's failure.
    fn expand(&mut self, task: &Task, out: &mut Decided) -> Result<bool, String> {
        let instances = mapping::expand(&self.engine.store, &self.dag, &self.run.run_id, task)?;
        if instances.is_empty() {
            return Ok(false);
        }
        let n = i32::try_from(instances.len())
            .map_err(|_| format!("{} mapped instances are too many", instances.len()))?;
        let unmapped = TiKey::unmapped(&task.task_id);
        // The tries the task's instances had before a clear: each new instance goes on
        // from there, so no earlier try's log is written over.
        let tries_before = self.tis.remove(&unmapped).map_or(0, |t| t.try_number);
        self.ready.touch(&unmapped);
        out.removed.push(unmapped);
        tracing::info!(dag = %self.dag.dag_id, run = %self.run.run_id, task = %task.task_id, instances = n, "expanded a mapped task");
        for i in 0..n {
            let mut ti = TaskInstanceRecord::mapped(&task.task_id, i, task.retries + 1);
            ti.try_number = tries_before;
            ti.max_tries = tries_before + task.retries + 1;
            out.changed.push(ti.clone());
            self.emit(RunEvent::Task {
                task_id: task.task_id.clone(),
                map_index: i,
                state: ti.state,
                try_number: tries_before,
            });
            let key = TiKey::new(&task.task_id, i);
            self.ready.touch(&key);
            self.tis.insert(key, ti);
        }
        self.expansions
            .insert(task.task_id.clone(), Arc::new(instances));
        Ok(true)
    }

    /// The arguments of a mapped instance, from the task's expansion (read again from
    /// the upstream results after a restart).
    pub(super) fn instance_args(
        &mut self,
        task: &Task,
        map_index: i32,
    ) -> Result<InstanceArgs, String> {
        let all = match self.expansions.get(&task.task_id) {
            Some(all) => Arc::clone(all),
            None => {
                let all = Arc::new(mapping::expand(
                    &self.engine.store,
                    &self.dag,
                    &self.run.run_id,
                    task,
                )?);
                self.expansions
                    .insert(task.task_id.clone(), Arc::clone(&all));
                all
            }
        };
        usize::try_from(map_index)
            .ok()
            .and_then(|i| all.get(i))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "map index {map_index} is beyond the {} elements the task maps over now",
                    all.len()
                )
            })
    }

    /// Whether `depends_on_past` is met: the same task in the previous run (by logical
    /// date) succeeded or was skipped; the first run always passes.
    pub(super) fn past_met(&self, key: &TiKey) -> anyhow::Result<bool> {
        let Some(date) = self.run.logical_date else {
            return Ok(true);
        };
        let store = &self.engine.store;
        let previous = store
            .runs(&self.dag.dag_id)?
            .into_iter()
            .filter(|r| r.logical_date.is_some_and(|d| d < date))
            .max_by_key(|r| r.logical_date);
        let Some(prev) = previous else {
            return Ok(true);
        };
        // The same map index in the previous run (Airflow's `_get_previous_ti` keeps the
        // map index); a mapped instance with none there looks at the task's others.
        let ok =
            |t: &TaskInstanceRecord| matches!(t.state, TaskState::Success | TaskState::Skipped);
        if let Some(t) = store.ti_at(&self.dag.dag_id, &prev.run_id, &key.task_id, key.map_index)? {
            return Ok(ok(&t));
        }
        let all = store.task_tis(&self.dag.dag_id, &prev.run_id, &key.task_id)?;
        Ok(key.map_index != UNMAPPED && !all.is_empty() && all.iter().all(ok))
    }
}
