//! The boundary between the state store's records and the API's wire types
//! (`lithoflow-api`): the server turns records into answers here, and the CLI, when it
//! goes through a running scheduler's API, turns answers back into records to print
//! them as it prints the store's.
//!
//! Confs leave the scheduler only through `dag_run` and `backfill_response`, which
//! mask them (`lithoflow_dag::redact`): the wire types cannot, as the masking rules
//! belong to the DAG format, so the server must never build a `DagRun` or a
//! `BackfillResponse` another way.

use crate::ops::BackfillOutcome;
use crate::store::{DagRunRecord, RunState, SCHEMA_VERSION, TaskInstanceRecord, TaskState};
use lithoflow_api as wire;
use lithoflow_dag::redact::redact_map;

impl From<RunState> for wire::RunState {
    fn from(s: RunState) -> wire::RunState {
        match s {
            RunState::Queued => wire::RunState::Queued,
            RunState::Running => wire::RunState::Running,
            RunState::Success => wire::RunState::Success,
            RunState::Failed => wire::RunState::Failed,
        }
    }
}

impl From<TaskState> for wire::TaskState {
    fn from(s: TaskState) -> wire::TaskState {
        match s {
            TaskState::None => wire::TaskState::None,
            TaskState::Scheduled => wire::TaskState::Scheduled,
            TaskState::Queued => wire::TaskState::Queued,
            TaskState::Running => wire::TaskState::Running,
            TaskState::Success => wire::TaskState::Success,
            TaskState::Failed => wire::TaskState::Failed,
            TaskState::Skipped => wire::TaskState::Skipped,
            TaskState::UpstreamFailed => wire::TaskState::UpstreamFailed,
            TaskState::UpForRetry => wire::TaskState::UpForRetry,
            TaskState::UpForReschedule => wire::TaskState::UpForReschedule,
        }
    }
}

/// A state in an answer that this lithoflow's records cannot hold: the scheduler is a
/// newer version than the CLI.
#[derive(Debug, thiserror::Error)]
#[error(
    "the scheduler's API answered a state this lithoflow does not know; use the same lithoflow version for the CLI and the scheduler"
)]
pub struct UnknownState;

impl TryFrom<wire::RunState> for RunState {
    type Error = UnknownState;

    fn try_from(s: wire::RunState) -> Result<RunState, UnknownState> {
        Ok(match s {
            wire::RunState::Queued => RunState::Queued,
            wire::RunState::Running => RunState::Running,
            wire::RunState::Success => RunState::Success,
            wire::RunState::Failed => RunState::Failed,
            wire::RunState::Unknown => return Err(UnknownState),
        })
    }
}

impl TryFrom<wire::TaskState> for TaskState {
    type Error = UnknownState;

    fn try_from(s: wire::TaskState) -> Result<TaskState, UnknownState> {
        Ok(match s {
            wire::TaskState::None => TaskState::None,
            wire::TaskState::Scheduled => TaskState::Scheduled,
            wire::TaskState::Queued => TaskState::Queued,
            wire::TaskState::Running => TaskState::Running,
            wire::TaskState::Success => TaskState::Success,
            wire::TaskState::Failed => TaskState::Failed,
            wire::TaskState::Skipped => TaskState::Skipped,
            wire::TaskState::UpstreamFailed => TaskState::UpstreamFailed,
            wire::TaskState::UpForRetry => TaskState::UpForRetry,
            wire::TaskState::UpForReschedule => TaskState::UpForReschedule,
            wire::TaskState::Unknown => return Err(UnknownState),
        })
    }
}

/// A run as the API shows it, its conf masked. `run_type` is Airflow 2's
/// (`dataset_triggered` for an asset-triggered run).
pub(crate) fn dag_run(r: &DagRunRecord) -> wire::DagRun {
    wire::DagRun {
        dag_run_id: r.run_id.clone(),
        dag_id: r.dag_id.clone(),
        run_type: if r.run_type == crate::assets::RUN_TYPE {
            "dataset_triggered".to_owned()
        } else {
            r.run_type.clone()
        },
        state: r.state.into(),
        logical_date: r.logical_date,
        execution_date: r.logical_date,
        data_interval_start: r.data_interval_start,
        data_interval_end: r.data_interval_end,
        last_scheduling_decision: updated_at(r),
        run_after: r.run_after,
        queued_at: r.queued_at,
        start_date: r.start_date,
        end_date: r.end_date,
        external_trigger: r.run_type == "manual",
        conf: redact_map(&r.conf),
        note: r.user_note.clone(),
        failure_reason: r.note.clone(),
        backfill_id: r.backfill_id.clone(),
    }
}

/// A run's `updated_at` as lithoflow knows it: the latest of its queued, start and end
/// times (its `run_after` if none).
pub(crate) fn updated_at(r: &DagRunRecord) -> Option<chrono::DateTime<chrono::Utc>> {
    [r.queued_at, r.start_date, r.end_date]
        .into_iter()
        .flatten()
        .max()
        .or(Some(r.run_after))
}

/// The answer to a backfill: what was asked (its conf masked) and the plan.
pub(crate) fn backfill_response(
    spec: wire::BackfillBody,
    outcome: BackfillOutcome,
) -> wire::BackfillResponse {
    wire::BackfillResponse {
        id: outcome.backfill_id,
        dag_id: spec.dag_id,
        from_date: spec.from_date,
        to_date: spec.to_date,
        reprocess_behavior: spec.reprocess_behavior,
        max_active_runs: spec.max_active_runs,
        run_backwards: spec.run_backwards,
        dry_run: spec.dry_run,
        dag_run_conf: redact_map(&spec.dag_run_conf),
        total_entries: outcome.runs.len(),
        dag_runs: outcome.runs,
    }
}

/// A task instance of a run, as the API shows it (without its return value and live
/// progress, which only some answers carry).
pub(crate) fn task_instance(
    run: &DagRunRecord,
    ti: &TaskInstanceRecord,
    operator: Option<String>,
) -> wire::TaskInstance {
    wire::TaskInstance {
        task_id: ti.task_id.clone(),
        map_index: ti.map_index,
        rendered_map_index: ti.rendered_map_index.clone(),
        dag_id: run.dag_id.clone(),
        dag_run_id: run.run_id.clone(),
        logical_date: run.logical_date,
        state: (ti.state != TaskState::None).then_some(ti.state.into()),
        try_number: ti.try_number,
        // The record counts the tries allowed in all; Airflow's `max_tries` counts
        // the retries (`retries`, raised by a clear): one less.
        max_tries: ti.max_tries.saturating_sub(1),
        start_date: ti.start_date,
        end_date: ti.end_date,
        duration: ti.duration_s,
        operator,
        error: ti.error.clone(),
        job_id: ti.job_id.clone(),
        calls_done: ti.calls_done,
        calls_failed: ti.calls_failed,
        calls_total: ti.calls_total,
        next_retry_at: ti.next_retry_at,
        return_value: None,
        progress: None,
        note: ti.note.clone(),
        ..wire::TaskInstance::default()
    }
}

impl TryFrom<wire::DagRun> for DagRunRecord {
    type Error = UnknownState;

    fn try_from(r: wire::DagRun) -> Result<DagRunRecord, UnknownState> {
        Ok(DagRunRecord {
            version: SCHEMA_VERSION,
            dag_id: r.dag_id,
            run_id: r.dag_run_id,
            run_type: if r.run_type == "dataset_triggered" {
                crate::assets::RUN_TYPE.to_owned()
            } else {
                r.run_type
            },
            state: r.state.try_into()?,
            logical_date: r.logical_date,
            data_interval_start: r.data_interval_start,
            data_interval_end: r.data_interval_end,
            run_after: r.run_after,
            queued_at: r.queued_at,
            start_date: r.start_date,
            end_date: r.end_date,
            conf: r.conf,
            note: r.failure_reason,
            backfill_id: r.backfill_id,
            user_note: r.note,
        })
    }
}

impl TryFrom<wire::TaskInstance> for TaskInstanceRecord {
    type Error = UnknownState;

    fn try_from(t: wire::TaskInstance) -> Result<TaskInstanceRecord, UnknownState> {
        Ok(TaskInstanceRecord {
            sensor: None,
            version: SCHEMA_VERSION,
            state: t.state().try_into()?,
            task_id: t.task_id,
            map_index: t.map_index,
            rendered_map_index: t.rendered_map_index,
            try_number: t.try_number,
            max_tries: t.max_tries.saturating_add(1),
            start_date: t.start_date,
            end_date: t.end_date,
            duration_s: t.duration,
            error: t.error,
            job_id: t.job_id,
            next_retry_at: t.next_retry_at,
            calls_done: t.calls_done,
            calls_failed: t.calls_failed,
            calls_total: t.calls_total,
            note: t.note,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state reads back as itself through the wire, and says the same name.
    #[test]
    fn states_cross_the_wire_unchanged() {
        for s in [
            TaskState::None,
            TaskState::Scheduled,
            TaskState::Queued,
            TaskState::Running,
            TaskState::Success,
            TaskState::Failed,
            TaskState::Skipped,
            TaskState::UpstreamFailed,
            TaskState::UpForRetry,
            TaskState::UpForReschedule,
        ] {
            let w = wire::TaskState::from(s);
            assert_eq!(
                serde_json::to_value(w).ok(),
                serde_json::to_value(s).ok(),
                "{s:?}"
            );
            assert_eq!(TaskState::try_from(w).ok(), Some(s));
        }
        for s in [
            RunState::Queued,
            RunState::Running,
            RunState::Success,
            RunState::Failed,
        ] {
            let w = wire::RunState::from(s);
            assert_eq!(w.name(), s.name());
            assert_eq!(
                serde_json::to_value(w).ok(),
                serde_json::to_value(s).ok(),
                "{s:?}"
            );
            assert_eq!(RunState::try_from(w).ok(), Some(s));
        }
        assert!(TaskState::try_from(wire::TaskState::Unknown).is_err());
        assert!(RunState::try_from(wire::RunState::Unknown).is_err());
    }
}
