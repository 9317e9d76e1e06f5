//! Issue 20's write paths on a run the engine holds: task instances' state
//! ([`RunControl::SetTaskStates`]), the run's state ([`RunControl::SetRunState`]), notes
//! ([`RunControl::SetNote`]) and deletion ([`RunControl::Delete`]). The engine owns the
//! run's task instances while it runs, so these go through it (as a clear does); the
//! rules are the ones `ops/writes.rs` applies to stored runs.
//!
//! [`RunControl::SetTaskStates`]: crate::engine::RunControl::SetTaskStates
//! [`RunControl::SetRunState`]: crate::engine::RunControl::SetRunState
//! [`RunControl::SetNote`]: crate::engine::RunControl::SetNote
//! [`RunControl::Delete`]: crate::engine::RunControl::Delete

use std::sync::Arc;

use super::RunLoop;
use crate::engine::mapping::TiKey;
use crate::engine::{Answer, RunEvent};
use crate::ops::{self, OpError};
use crate::store::{DagRunRecord, RunState, TaskInstanceRecord, TaskState};

/// An engine failure as the API's answer.
fn failed(e: &anyhow::Error) -> OpError {
    OpError::Conflict(format!("the run's engine failed: {e:#}"))
}

impl RunLoop<'_> {
    /// Sets task instances' state: a try in flight is stopped (its outcome is dropped,
    /// as the instance is no longer running), a slot request withdrawn. Then the failed
    /// and upstream_failed instances of `reset_failed` are cleared. The next
    /// [`RunLoop::schedule`] decides what follows by the trigger rules.
    pub(super) async fn set_task_states(
        &mut self,
        tis: &[(String, i32)],
        state: TaskState,
        reset_failed: &[String],
    ) -> anyhow::Result<()> {
        let now = self.engine.now();
        let mut changed: Vec<TaskInstanceRecord> = Vec::new();
        for (task_id, map_index) in tis {
            let key = TiKey::new(task_id, *map_index);
            let Some(ti) = self.tis.get_mut(&key) else {
                continue;
            };
            if ti.state == state {
                continue;
            }
            if let Some(try_) = self.in_flight.get(&key) {
                try_.cancel.cancel();
            }
            self.restarting.remove(&key);
            self.slots.cancel(&key);
            ops::set_ti_state(ti, state, now);
            changed.push(ti.clone());
            self.ready.touch(&key);
        }
        for ti in &changed {
            self.emit(RunEvent::Task {
                task_id: ti.task_id.clone(),
                map_index: ti.map_index,
                state: ti.state,
                try_number: ti.try_number,
            });
        }
        let (d, r) = (self.dag.dag_id.clone(), self.run.run_id.clone());
        self.engine
            .persist(move |s| changed.iter().try_for_each(|ti| s.put_ti(&d, &r, ti)))
            .await?;
        let reset: Vec<TiKey> = reset_failed
            .iter()
            .flat_map(|id| {
                self.tis
                    .range(TiKey::range_of(id))
                    .filter(|(_, t)| {
                        matches!(t.state, TaskState::Failed | TaskState::UpstreamFailed)
                    })
                    .map(|(k, _)| k.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        if reset.is_empty() {
            Ok(())
        } else {
            self.clear_tis(&reset).await
        }
    }

    /// Sets the run's state. `success` / `failed`: its task instances as
    /// [`ops::run_state_changes`] says, every try stopped, the run ended (no DAG
    /// callback: Airflow calls none when a user sets the state). `queued`: every try
    /// stopped, the run recorded queued with its task instances as they are; the
    /// scheduler starts it again, and a stopped try runs again on the same try number.
    /// Returns the run when the loop ends (always, unless the state is refused).
    pub(super) async fn on_set_run_state(
        &mut self,
        state: RunState,
        reply: Answer<DagRunRecord>,
    ) -> anyhow::Result<Option<DagRunRecord>> {
        if let Err(e) = ops::check_run_state(state) {
            let _ = reply.send(Err(e));
            return Ok(None);
        }
        self.stop_all().await;
        self.slots.cancel_all();
        let now = self.engine.now();
        let mut changed = Vec::new();
        for (task_id, map_index, to) in ops::run_state_changes(self.tis.values(), state) {
            let key = TiKey::new(&task_id, map_index);
            if let Some(ti) = self.tis.get_mut(&key) {
                ops::set_ti_state(ti, to, now);
                changed.push(ti.clone());
                self.ready.touch(&key);
            }
        }
        ops::apply_run_state(&mut self.run, state, now);
        for ti in &changed {
            self.emit(RunEvent::Task {
                task_id: ti.task_id.clone(),
                map_index: ti.map_index,
                state: ti.state,
                try_number: ti.try_number,
            });
        }
        let (run, d, r) = (
            self.run.clone(),
            self.dag.dag_id.clone(),
            self.run.run_id.clone(),
        );
        let saved = self
            .engine
            .persist(move |s| {
                changed.iter().try_for_each(|ti| s.put_ti(&d, &r, ti))?;
                s.put_run(&run)
            })
            .await;
        if let Err(e) = saved {
            let _ = reply.send(Err(failed(&e)));
            return Err(e);
        }
        if state.is_finished() {
            self.emit(RunEvent::Finished(state));
        }
        let _ = reply.send(Ok(self.run.clone()));
        // Callbacks of tries that ended before go on to their end.
        while self.callbacks.join_next().await.is_some() {}
        Ok(Some(self.run.clone()))
    }

    /// Sets (None: removes) the user's note on the run or one of its task instances.
    pub(super) async fn set_note(
        &mut self,
        task: Option<(String, i32)>,
        note: Option<String>,
    ) -> Result<(), OpError> {
        let (d, r) = (self.dag.dag_id.clone(), self.run.run_id.clone());
        let saved = match task {
            None => {
                self.run.user_note = note;
                let run = self.run.clone();
                self.engine.persist(move |s| s.put_run(&run)).await
            }
            Some((task_id, map_index)) => {
                let Some(ti) = self.tis.get_mut(&TiKey::new(&task_id, map_index)) else {
                    return Err(OpError::NotFound(format!(
                        "run `{r}` of DAG `{d}` has no task instance `{}`",
                        TiKey::new(&task_id, map_index)
                    )));
                };
                ti.note = note;
                let ti = ti.clone();
                self.engine.persist(move |s| s.put_ti(&d, &r, &ti)).await
            }
        };
        saved.map_err(|e| failed(&e))
    }

    /// Stops every try and callback, deletes the run with its records, logs and job
    /// data, and ends the loop.
    pub(super) async fn on_delete(
        mut self,
        files: crate::retention::RunFiles,
        reply: Answer<()>,
    ) -> anyhow::Result<DagRunRecord> {
        self.stop_all().await;
        self.slots.cancel_all();
        self.callbacks.abort_all();
        while self.callbacks.join_next().await.is_some() {}
        let store = Arc::clone(&self.engine.store);
        let (d, r) = (self.dag.dag_id.clone(), self.run.run_id.clone());
        let removed = tokio::task::spawn_blocking(move || ops::delete_run(&store, &files, &d, &r))
            .await
            .unwrap_or_else(|e| Err(OpError::Files(format!("the deletion stopped: {e}"))));
        let _ = reply.send(removed);
        Ok(self.run)
    }
}
