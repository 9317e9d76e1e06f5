//! A try's end recorded: [`RunLoop::complete`] turns its outcome into the task
//! instance's new state (success, skipped, up_for_retry, failed), its XCom, the skips a
//! branch decides and its outlets' asset events, writes its log, then records them
//! together; the task's callbacks run once that is durable.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::{RunLoop, TryResult};
use crate::engine::callbacks::{self, CallbackInput, CallbackKind, CallbackLog};
use crate::engine::mapping::{self, TiKey};
use crate::engine::outcome::{
    airflow3_skip_ends_execute, multiple_outputs_check, pushes, skips_after,
};
use crate::engine::{Engine, RunEvent};
use crate::store::TaskState;
use crate::taskrun::TaskError;
use lithoflow_dag::TaskKind;

/// A one-call try's record kept in the state database holds its call's result up to
/// this size; a bigger one is left out (it is the try's XCom `return_value` already).
const CALL_RECORD_KEPT_WHOLE: usize = 64 * 1024;

/// What follows a try's recorded end once it is durable: its callbacks.
pub(super) struct Recorded {
    key: TiKey,
    /// The callbacks and the log they write to.
    callbacks: Option<(Vec<CallbackInput>, PathBuf)>,
}

impl RunLoop<'_> {
    /// Starts making what this turn of the loop wrote durable (one flush: a group
    /// commit); [`RunLoop::finish_commit`] waits for it, then does what waited for it:
    /// the events, then the recorded tries' callbacks; the tries dispatched meanwhile
    /// start their jobs after that, so a state change is durable before its side effect.
    /// Events stay held meanwhile.
    pub(super) fn start_commit(&self) -> Option<crate::engine::Flushing> {
        self.unflushed.then(|| self.engine.start_flush())
    }

    /// Waits for the flush [`RunLoop::start_commit`] started, then sends the held events
    /// and starts the recorded tries' callbacks.
    pub(super) async fn finish_commit(
        &mut self,
        flushing: Option<crate::engine::Flushing>,
    ) -> anyhow::Result<()> {
        if let Some(flushing) = flushing {
            match flushing {
                crate::engine::Flushing::Done(r) => r?,
                crate::engine::Flushing::Started(h) => h
                    .await
                    .map_err(|e| anyhow::anyhow!("the state store task stopped: {e}"))??,
            }
            self.unflushed = false;
        }
        let held = std::mem::take(&mut self.held_events);
        if let Some(tx) = &self.events {
            for e in held {
                let _ = tx.send(e);
            }
        }
        for done in std::mem::take(&mut self.recorded) {
            // Now the callbacks, without holding up the tasks that follow; a task's run
            // in the order its states changed.
            if let Some((calls, path)) = done.callbacks {
                let executor = Arc::clone(&self.engine.executor);
                let before = self.callbacks_done.remove(&done.key);
                let (tx, done_rx) = tokio::sync::oneshot::channel();
                self.callbacks_done.insert(done.key, done_rx);
                self.callbacks.spawn(async move {
                    if let Some(before) = before {
                        // Err: those were stopped; these run anyway.
                        let _ = before.await;
                    }
                    callbacks::run_all(executor, calls, CallbackLog::File(path)).await;
                    let _ = tx.send(());
                });
            }
        }
        Ok(())
    }

    /// Records a finished try: XCom and state first, then the log file.
    pub(super) async fn complete(&mut self, result: TryResult) -> anyhow::Result<()> {
        let dag = Arc::clone(&self.dag);
        let Some(ti) = self.tis.get_mut(&result.key()) else {
            return Ok(());
        };
        let Some(task) = self
            .ready
            .position(&result.task_id)
            .and_then(|i| dag.tasks.get(i))
        else {
            return Ok(());
        };
        if ti.try_number != result.try_number || ti.state != TaskState::Running {
            return Ok(());
        }
        let now = self.engine.now();
        ti.end_date = Some(now);
        ti.duration_s = Some(result.duration_s);
        if result.rendered_map_index.is_some() {
            ti.rendered_map_index = result.rendered_map_index.clone();
        }
        if let Some(job) = &result.output.job {
            ti.job_id = Some(job.job_id.clone());
            ti.calls_total = job.calls.len();
            ti.calls_failed = job.calls.failed();
            ti.calls_done = ti.calls_total - ti.calls_failed;
        }
        let mut xcom: Vec<(String, Value)> = Vec::new();
        // A branch or short_circuit task that succeeded skips some of its downstream tasks.
        let mut to_skip = Vec::new();
        let value = match &result.output.value {
            Ok(v) => multiple_outputs_check(task, v)
                .and_then(|()| {
                    mapping::check_pushed_for_mapping(&dag, task, v).map_err(TaskError::Input)
                })
                .and_then(|()| skips_after(&dag, task, v))
                .map(|skips| {
                    to_skip = skips;
                    v
                }),
            Err(e) => Err(e.clone()),
        };
        match &value {
            Ok(v) => {
                ti.state = TaskState::Success;
                // An empty task pushes nothing, as EmptyOperator; nor does a branch or
                // short_circuit task of an Airflow 3 DAG file that skipped tasks (Airflow 3
                // skips by raising DownstreamTasksSkipped, before the value is pushed).
                let skip_ended_execute =
                    airflow3_skip_ends_execute(&dag, task) && !to_skip.is_empty();
                if !matches!(task.kind, TaskKind::Empty) && !skip_ended_execute {
                    xcom = pushes(task, v);
                }
            }
            Err(TaskError::Call(e)) if e.exc_type == "AirflowSkipException" => {
                // As in Airflow, a skip is not an error; its message is in the log.
                ti.state = TaskState::Skipped;
                ti.error = None;
            }
            Err(TaskError::Skip(_)) => {
                ti.state = TaskState::Skipped;
                ti.error = None;
            }
            Err(e) => {
                let error = e.to_string();
                ti.error = Some(match &result.log {
                    Some(log) => log.mask(&error),
                    None => error,
                });
                if ti.try_number < ti.max_tries && !e.no_retry() {
                    ti.state = TaskState::UpForRetry;
                    let delay = lithoflow_dag::retry::retry_delay(
                        task,
                        &dag.dag_id,
                        self.run.logical_date,
                        ti.try_number,
                    );
                    ti.next_retry_at =
                        Some(now + chrono::Duration::from_std(delay).unwrap_or_default());
                } else {
                    ti.state = TaskState::Failed;
                }
            }
        }
        // The log first: a kill after it re-runs the try and rewrites the log; a kill
        // between a recorded state and its log would lose the log.
        let logged =
            self.engine
                .write_log(&dag, &self.run, ti, &result, value.as_ref().map(|v| *v));
        if let Err(e) = &logged {
            tracing::warn!(dag = %dag.dag_id, task = %ti.task_id, error = %e, "failed to write the task's log; trying again once the state is recorded");
        }
        // A one-call job's record, which its storage does not hold (`results.json`'s
        // content, for the API's `.../calls`), is kept beside the try; with
        // `clean_data`, nowhere.
        let calls_record = result
            .output
            .job
            .as_ref()
            .filter(|job| job.record_kept_by_caller && !task.common.clean_data)
            .and_then(|job| {
                // Its return value is the try's XCom already: a large one is not kept twice.
                let slim = || {
                    let calls = lithoflow_executor::CallRecords::from_records(
                        job.calls.iter().map(|c| lithoflow_executor::CallRecord {
                            result: Value::Null,
                            ..c.to_record()
                        }),
                    );
                    lithoflow_executor::results_json(&calls)
                };
                lithoflow_executor::results_json(&job.calls)
                    .and_then(|full| if full.len() <= CALL_RECORD_KEPT_WHOLE { Ok(full) } else { slim() })
                    .inspect_err(|e| tracing::warn!(task = %ti.task_id, error = %e, "failed to encode the try's call record"))
                    .ok()
            });
        let xcom_size = xcom
            .iter()
            .filter_map(|(_, v)| serde_json::to_vec(v).ok())
            .map(|b| b.len() as u64)
            .sum::<u64>()
            + calls_record.as_ref().map_or(0, |c| c.len() as u64);
        let saved = ti.clone();
        self.ready.touch(&result.key());
        let mut skipped = Vec::new();
        for id in &to_skip {
            if let Some(t) = self.tis.get_mut(&TiKey::unmapped(id))
                && t.state == TaskState::None
            {
                t.state = TaskState::Skipped;
                t.end_date = Some(now);
                skipped.push(t.clone());
                self.ready.touch(&TiKey::unmapped(id));
            }
        }
        let (d, r) = (dag.dag_id.clone(), self.run.run_id.clone());
        let after = CallbackKind::after_try(saved.state).map(|kind| {
            callbacks::with_services(
                callbacks::for_task(
                    &dag,
                    &self.run,
                    (task, saved.map_index),
                    saved.try_number,
                    kind,
                    value.as_ref().err(),
                ),
                &self.engine.store,
                &self.engine.state_dir,
                &self.run,
            )
        });
        let events: Vec<RunEvent> = std::iter::once(&saved)
            .chain(&skipped)
            .map(|t| RunEvent::Task {
                task_id: t.task_id.clone(),
                map_index: t.map_index,
                state: t.state,
                try_number: t.try_number,
            })
            .collect();
        let outlets = crate::engine::assets::OutletEvents::of(task, &self.run, &saved, now);
        // The branch's success and the skips it decides are stored together, flushed
        // with whatever else this turn of the loop decides (`RunLoop::commit`).
        self.engine
            .write_sized(xcom_size, move |s| {
                for (k, v) in &xcom {
                    s.put_xcom_at(&d, &r, &saved.task_id, saved.map_index, k, v, now)?;
                }
                if let Some(calls) = &calls_record {
                    s.put_try_calls(
                        &d,
                        &r,
                        (&saved.task_id, saved.map_index, saved.try_number),
                        calls,
                    )?;
                }
                s.put_ti(&d, &r, &saved)?;
                outlets.record(s)?;
                skipped.iter().try_for_each(|t| s.put_ti(&d, &r, t))
            })
            .await?;
        self.unflushed = true;
        for e in events {
            self.emit(e);
        }
        if logged.is_err() {
            // The disk was full, and the state write found room since (it waits for
            // room in the scheduler): the log is written after all.
            if let Some(ti) = self.tis.get(&result.key())
                && let Err(e) =
                    self.engine
                        .write_log(&dag, &self.run, ti, &result, value.as_ref().map(|v| *v))
            {
                tracing::warn!(dag = %dag.dag_id, task = %ti.task_id, error = %e, "failed to write the task's log");
            }
        }
        let callbacks = after.filter(|c| !c.is_empty()).map(|calls| {
            let path = Engine::log_path(
                &self.engine.logs_dir,
                &dag.dag_id,
                &self.run.run_id,
                &result.task_id,
                result.map_index,
                result.try_number,
            );
            (calls, path)
        });
        self.recorded.push(Recorded {
            key: result.key(),
            callbacks,
        });
        Ok(())
    }
}
