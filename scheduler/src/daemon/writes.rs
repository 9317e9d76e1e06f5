//! The loop's side of issue 20's write paths: a run's state, deleting a run, notes and
//! task instances' state (`control::Request::{SetRunState, DeleteRun, SetNote,
//! SetTaskState}`), and the event log entries of what the API changes.
//!
//! A run in flight is changed by its engine ([`RunControl`]); its answer comes back on
//! a task of its own, so the loop never waits for an engine. A run whose engine ended
//! before it took the request is changed in the store instead: the request comes back
//! to the loop ([`Request::Unaudited`], so that it is recorded once). Runs no engine
//! holds are changed in the store by the `ops` functions.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use tokio::sync::oneshot;

use super::{Daemon, RunKey};
use crate::control::{Event, Request, SetTaskStateSpec, Shared};
use crate::engine::RunControl;
use crate::ops::{self, ClearedTi, OpError, events};
use crate::store::{AuditRecord, DagRunRecord, RunState, Store};

type Reply<T> = oneshot::Sender<Result<T, OpError>>;

/// Makes a request anew, for the loop (see [`forward`]).
type Again<T> = Box<dyn FnOnce(Reply<T>) -> Request + Send>;

fn stopping() -> OpError {
    OpError::Conflict("the scheduler is stopping".to_owned())
}

fn not_loaded(dag_id: &str) -> OpError {
    OpError::NotFound(format!(
        "DAG `{dag_id}` is not loaded (see `lithoflow dags list-import-errors`)"
    ))
}

/// An event log entry of the API (owner `api`) about a DAG and a run.
pub(super) fn entry(event: &str, dag_id: &str, run_id: Option<&str>) -> AuditRecord {
    AuditRecord::new(event, "api").about(dag_id, run_id)
}

/// The entry of a trigger.
pub(super) fn trigger_entry(run: &DagRunRecord) -> AuditRecord {
    entry(events::API_TRIGGER, &run.dag_id, Some(&run.run_id))
        .with_extra(&json!({"logical_date": run.logical_date.map(ops::iso)}))
}

/// The entry of a clear of `n` task instances.
pub(super) fn clear_entry(dag_id: &str, spec: &ops::ClearSpec, n: usize) -> AuditRecord {
    entry(events::API_CLEAR, dag_id, spec.run_id.as_deref()).with_extra(&json!({
        "task_ids": spec.task_ids,
        "task_regex": spec.task_regex,
        "only_failed": spec.only_failed,
        "include_upstream": spec.upstream,
        "include_downstream": spec.downstream,
        "task_instances": n,
    }))
}

/// The entry of a backfill.
pub(super) fn backfill_entry(
    dag_id: &str,
    spec: &lithoflow_api::BackfillBody,
    outcome: &ops::BackfillOutcome,
) -> AuditRecord {
    entry(events::API_BACKFILL, dag_id, None).with_extra(&json!({
        "backfill_id": outcome.backfill_id,
        "from_date": ops::iso(spec.from_date),
        "to_date": ops::iso(spec.to_date),
        "reprocess_behavior": spec.reprocess_behavior.name(),
        "max_active_runs": spec.max_active_runs,
    }))
}

/// Emits the state of task instances as they are stored now.
fn emit_tis(shared: &Shared, dag_id: &str, tis: &[ClearedTi]) {
    for t in tis {
        if let Ok(Some(ti)) = shared
            .store
            .ti_at(dag_id, &t.dag_run_id, &t.task_id, t.map_index)
        {
            shared.emit(Event::TaskInstance {
                dag_id: dag_id.to_owned(),
                run_id: t.dag_run_id.clone(),
                task_id: ti.task_id,
                map_index: ti.map_index,
                state: ti.state.into(),
                try_number: ti.try_number,
            });
        }
    }
}

fn emit_run(shared: &Shared, run: &DagRunRecord) {
    shared.emit(Event::DagRun {
        dag_id: run.dag_id.clone(),
        run_id: run.run_id.clone(),
        state: run.state.into(),
    });
}

/// Answers `reply` with an engine's answer, once it comes; records `entry` when it is
/// a success. When the engine ended before it took the request, `again` makes the
/// request anew for the loop (which then applies it to the stored run).
fn forward<T: Send + 'static>(
    shared: &Arc<Shared>,
    answer: oneshot::Receiver<Result<T, OpError>>,
    reply: Reply<T>,
    entry: Option<AuditRecord>,
    again: Option<Again<T>>,
    on_ok: impl FnOnce(&Shared, &T) + Send + 'static,
) {
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let result = match (answer.await, again) {
            (Ok(r), _) => r,
            (Err(_), None) => Err(stopping()),
            (Err(_), Some(again)) => {
                let (tx, rx) = oneshot::channel();
                let req = Request::Unaudited(Box::new(again(tx)));
                match shared.requests.send(req).await {
                    Ok(()) => rx.await.unwrap_or_else(|_| Err(stopping())),
                    Err(_) => Err(stopping()),
                }
            }
        };
        if let Ok(v) = &result {
            on_ok(&shared, v);
            if let Some(e) = entry {
                ops::audit(&shared.store, e);
            }
        }
        let _ = reply.send(result);
    });
}

impl Daemon {
    fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Records `entry` when the request is a user's (not one the loop made again).
    pub(super) fn record(&self, audited: bool, entry: AuditRecord) {
        if audited {
            ops::audit(self.store(), entry);
        }
    }

    /// Keeps the loop's book of unfinished runs in step with a run changed in the store.
    fn track(&mut self, run: &DagRunRecord) {
        let key: RunKey = (run.dag_id.clone(), run.run_id.clone());
        if run.state.is_finished() {
            self.unfinished.remove(&key);
        } else {
            self.unfinished.insert(key, run.clone());
        }
    }

    /// [`Request::SetRunState`].
    pub(super) fn set_run_state(
        &mut self,
        (dag_id, run_id): RunKey,
        state: RunState,
        reply: Reply<DagRunRecord>,
        audited: bool,
    ) -> anyhow::Result<()> {
        let Some(dag) = self.dag(&dag_id) else {
            let _ = reply.send(Err(not_loaded(&dag_id)));
            return Ok(());
        };
        if self.draining {
            let _ = reply.send(Err(stopping()));
            return Ok(());
        }
        if let Err(e) = ops::check_run_state(state) {
            let _ = reply.send(Err(e));
            return Ok(());
        }
        let entry = audited.then(|| {
            entry(events::API_RUN_STATE, &dag_id, Some(&run_id))
                .with_extra(&json!({"state": state.name()}))
        });
        let key = (dag_id, run_id);
        if let Some(active) = self.active.get(&key) {
            let (tx, rx) = oneshot::channel();
            let _ = active
                .control
                .send(RunControl::SetRunState { state, reply: tx });
            let (dag_id, run_id) = key;
            forward(
                &self.shared,
                rx,
                reply,
                entry,
                Some(Box::new(move |reply| Request::SetRunState {
                    dag_id,
                    run_id,
                    state,
                    reply,
                })),
                emit_run,
            );
            return Ok(());
        }
        let result = ops::set_run_state(self.store(), &dag, &key.1, state, Utc::now());
        if let Ok((run, changed)) = &result {
            emit_tis(&self.shared, &key.0, changed);
            emit_run(&self.shared, run);
            self.track(run);
            if let Some(e) = entry {
                ops::audit(self.store(), e);
            }
        }
        let _ = reply.send(result.map(|(run, _)| run));
        Ok(())
    }

    /// [`Request::DeleteRun`]: a run in flight has its tries stopped first (Airflow
    /// deletes the row and its running tasks stop when they find it gone).
    pub(super) fn delete_run(
        &mut self,
        (dag_id, run_id): RunKey,
        reply: Reply<()>,
        audited: bool,
    ) -> anyhow::Result<()> {
        let entry = audited.then(|| entry(events::API_DELETE_RUN, &dag_id, Some(&run_id)));
        let files = crate::retention::RunFiles::of(&self.shared.settings);
        let key = (dag_id, run_id);
        if let Some(active) = self.active.get(&key) {
            let (tx, rx) = oneshot::channel();
            let _ = active.control.send(RunControl::Delete { files, reply: tx });
            let (dag_id, run_id) = key;
            forward(
                &self.shared,
                rx,
                reply,
                entry,
                Some(Box::new(move |reply| Request::DeleteRun {
                    dag_id,
                    run_id,
                    reply,
                })),
                |_, ()| {},
            );
            return Ok(());
        }
        let result = ops::delete_run(self.store(), &files, &key.0, &key.1);
        if result.is_ok() {
            self.unfinished.remove(&key);
            if let Some(e) = entry {
                ops::audit(self.store(), e);
            }
        }
        let _ = reply.send(result);
        Ok(())
    }

    /// [`Request::SetNote`].
    pub(super) fn set_note(
        &mut self,
        (dag_id, run_id): RunKey,
        task: Option<(String, i32)>,
        note: Option<String>,
        reply: Reply<()>,
        audited: bool,
    ) -> anyhow::Result<()> {
        let entry = audited.then(|| {
            let event = if task.is_some() {
                events::API_TI_NOTE
            } else {
                events::API_RUN_NOTE
            };
            let mut e = entry(event, &dag_id, Some(&run_id))
                .with_extra(&json!({"note_set": note.is_some()}));
            if let Some((t, m)) = &task {
                e.task_id = Some(t.clone());
                e.map_index = Some(*m);
            }
            e
        });
        let key = (dag_id, run_id);
        if let Some(active) = self.active.get(&key) {
            let (tx, rx) = oneshot::channel();
            let _ = active.control.send(RunControl::SetNote {
                task: task.clone(),
                note: note.clone(),
                reply: tx,
            });
            let (dag_id, run_id) = key;
            forward(
                &self.shared,
                rx,
                reply,
                entry,
                Some(Box::new(move |reply| Request::SetNote {
                    dag_id,
                    run_id,
                    task,
                    note,
                    reply,
                })),
                |_, ()| {},
            );
            return Ok(());
        }
        let dag = self.dag(&key.0);
        let task_ref = task.as_ref().map(|(t, m)| (t.as_str(), *m));
        let result = ops::set_note(self.store(), dag.as_deref(), &key.0, &key.1, task_ref, note);
        if result.is_ok() {
            if let Some(run) = self
                .unfinished
                .get(&key)
                .and(self.store().run(&key.0, &key.1)?)
            {
                self.unfinished.insert(key, run);
            }
            if let Some(e) = entry {
                ops::audit(self.store(), e);
            }
        }
        let _ = reply.send(result);
        Ok(())
    }

    /// [`Request::SetTaskState`]: Airflow's `set_task_instance_state`, run by run.
    pub(super) fn set_task_state(
        &mut self,
        dag_id: String,
        spec: SetTaskStateSpec,
        reply: Reply<Vec<ClearedTi>>,
        audited: bool,
    ) -> anyhow::Result<()> {
        let Some(dag) = self.dag(&dag_id) else {
            let _ = reply.send(Err(not_loaded(&dag_id)));
            return Ok(());
        };
        if self.draining && !spec.dry_run {
            let _ = reply.send(Err(stopping()));
            return Ok(());
        }
        let plans = match ops::task_state_plan(self.store(), &dag, &spec) {
            Ok(p) => p,
            Err(e) => {
                let _ = reply.send(Err(e));
                return Ok(());
            }
        };
        let listed = ops::planned(&plans);
        if spec.dry_run {
            let _ = reply.send(Ok(listed));
            return Ok(());
        }
        let entry = audited.then(|| {
            let wide = spec.upstream || spec.downstream || spec.future || spec.past;
            let event = if wide {
                events::API_TIS_STATE
            } else {
                events::API_TI_STATE
            };
            let mut e = entry(event, &dag_id, Some(&spec.run_id)).with_extra(&json!({
                "new_state": spec.state.name(),
                "map_indexes": spec.map_indexes,
                "include_upstream": spec.upstream,
                "include_downstream": spec.downstream,
                "include_future": spec.future,
                "include_past": spec.past,
                "task_instances": listed.len(),
            }));
            e.task_id = Some(spec.task_id.clone());
            if let Some([m]) = spec.map_indexes.as_deref() {
                e.map_index = Some(*m);
            }
            e
        });
        let mut answers = Vec::new();
        for plan in plans {
            let key = (dag_id.clone(), plan.run.run_id.clone());
            if let Some(active) = self.active.get(&key) {
                let (tx, rx) = oneshot::channel();
                let tis = plan
                    .set
                    .iter()
                    .map(|t| (t.task_id.clone(), t.map_index))
                    .collect();
                let _ = active.control.send(RunControl::SetTaskStates {
                    tis,
                    state: spec.state,
                    reset_failed: plan.reset_failed,
                    reply: tx,
                });
                answers.push(rx);
                continue;
            }
            let run_id = plan.run.run_id.clone();
            let set: Vec<ClearedTi> = listed
                .iter()
                .filter(|t| t.dag_run_id == run_id)
                .cloned()
                .collect();
            match ops::apply_task_state(self.store(), &dag, plan, spec.state, Utc::now()) {
                Ok(run) => {
                    emit_tis(&self.shared, &dag_id, &set);
                    emit_run(&self.shared, &run);
                    self.track(&run);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return Ok(());
                }
            }
        }
        // Every engine's answer, then the reply (a run whose engine ended first is
        // changed in the store: the request comes back to the loop).
        let (all_tx, all_rx) = oneshot::channel();
        let shared = Arc::clone(&self.shared);
        let retry = spec.clone();
        tokio::spawn(async move {
            let mut result = Ok(listed.clone());
            let mut again = false;
            for rx in answers {
                match rx.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => result = Err(e),
                    Err(_) => again = true,
                }
            }
            if again && result.is_ok() {
                let (tx, rx) = oneshot::channel();
                let req = Request::Unaudited(Box::new(Request::SetTaskState {
                    dag_id,
                    spec: retry,
                    reply: tx,
                }));
                result = match shared.requests.send(req).await {
                    Ok(()) => match rx.await {
                        Ok(Ok(_)) => Ok(listed),
                        Ok(Err(e)) => Err(e),
                        Err(_) => Err(stopping()),
                    },
                    Err(_) => Err(stopping()),
                };
            }
            let _ = all_tx.send(result);
        });
        forward(&self.shared, all_rx, reply, entry, None, |_, _| {});
        Ok(())
    }
}

#[cfg(test)]
#[path = "writes_tests.rs"]
mod tests;
