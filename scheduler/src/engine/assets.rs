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

fn source_of(task: &Task, run: &DagRunRecord, map_index: i32) -> EventSource {
    EventSource {
        dag_id: Some(run.dag_id.clone()),
        run_id: Some(run.run_id.clone()),
        task_id: Some(task.task_id.clone()),
        map_index: map_index.into(),
    }
}

impl OutletEvents {
    /// The events of `ti` of `task` in `run`, finished at `now`.
    pub(super) fn of(
        task: &Task,
        run: &DagRunRecord,
        ti: &TaskInstanceRecord,
        now: DateTime<Utc>,
    ) -> OutletEvents {
        let source = source_of(task, run, ti.map_index);
        if ti.state != TaskState::Success || task.outlets.is_empty() {
            return OutletEvents {
                source,
                ..OutletEvents::default()
            };
        }
        OutletEvents {
            source,
            uris: task.outlets.iter().map(|a| a.uri.clone()).collect(),
            at: Some(now),
        }
    }

    /// Writes the events, each with the extra the task gave it (`outlet_events`), and
    /// drops the extras of a try that records none (the caller flushes, with the
    /// state).
    pub(super) fn record(&self, s: &Store) -> Result<(), StoreError> {
        let src = &self.source;
        let extras = match (&src.dag_id, &src.run_id, &src.task_id) {
            (Some(d), Some(r), Some(t)) => s.take_outlet_extras((d, r, t, src.map_index))?,
            _ => Map::new(),
        };
        let Some(at) = self.at else { return Ok(()) };
        for uri in &self.uris {
            let extra = match extras.get(uri) {
                Some(serde_json::Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            s.add_asset_event(uri, extra, self.source.clone(), at)?;
        }
        Ok(())
    }
}
