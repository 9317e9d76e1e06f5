//! Asset events of a task's outlets: when a task instance succeeds, one event per
//! outlet, written in the same durable write as its state (Airflow's
//! `TaskInstance._register_asset_changes`). The scheduler loop then queues them for the
//! DAGs scheduled on those assets (`crate::assets`).

use chrono::{DateTime, Utc};
use serde_json::Map;

use crate::store::{DagRunRecord, EventSource, Store, StoreError, TaskInstanceRecord, TaskState};
use lithoflow_dag::Task;

/// The events a finished try records: none unless it succeeded and has outlets.
#[derive(Debug, Default)]
pub(super) struct OutletEvents {
    source: EventSource,
    uris: Vec<String>,
    at: Option<DateTime<Utc>>,
}

impl OutletEvents {
    /// The events of `ti` of `task` in `run`, finished at `now`.
    pub(super) fn of(
        task: &Task,
        run: &DagRunRecord,
        ti: &TaskInstanceRecord,
        now: DateTime<Utc>,
    ) -> OutletEvents {
        if ti.state != TaskState::Success || task.outlets.is_empty() {
            return OutletEvents::default();
        }
        OutletEvents {
            source: EventSource {
                dag_id: Some(run.dag_id.clone()),
                run_id: Some(run.run_id.clone()),
                task_id: Some(task.task_id.clone()),
                map_index: -1,
            },
            uris: task.outlets.iter().map(|a| a.uri.clone()).collect(),
            at: Some(now),
        }
    }

    /// Writes the events (the caller flushes, with the state).
    pub(super) fn record(&self, s: &Store) -> Result<(), StoreError> {
        let Some(at) = self.at else { return Ok(()) };
        for uri in &self.uris {
            s.add_asset_event(uri, Map::new(), self.source.clone(), at)?;
        }
        Ok(())
    }
}
