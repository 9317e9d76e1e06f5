//! The event stream's events (`GET /events`): one server-sent event per state change,
//! named by its `type` (`event: dag_run`), its data this enum as JSON.

use serde::{Deserialize, Serialize};

use crate::state::{RunState, TaskState};

/// A state change, as the API's event stream sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApiEvent {
    /// A DAG run changed state (created queued, running, success, failed).
    DagRun {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// Its new state.
        state: RunState,
    },
    /// A task instance changed state.
    TaskInstance {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task.
        task_id: String,
        /// The instance's map index (-1 unmapped).
        #[serde(default = "unmapped")]
        map_index: i32,
        /// Its new state.
        state: TaskState,
        /// Its try.
        try_number: u32,
    },
    /// The calls of a running task's executor job.
    Progress {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task.
        task_id: String,
        /// The instance's map index (-1 unmapped).
        #[serde(default = "unmapped")]
        map_index: i32,
        /// `call`, `map` or `reduce`.
        phase: String,
        /// Calls in this phase.
        total: usize,
        /// Calls that returned.
        done: usize,
        /// Calls that failed.
        failed: usize,
        /// Calls running now.
        running: usize,
    },
    /// A DAG was paused or unpaused.
    Dag {
        /// The DAG.
        dag_id: String,
        /// Whether it is paused now.
        is_paused: bool,
    },
    /// The DAGs folder was loaded again after a change.
    DagsReloaded {
        /// Valid DAGs.
        dags: usize,
        /// Files with errors.
        import_errors: usize,
    },
    /// This client was too slow for the server's buffer and missed events: it should
    /// fetch the state again.
    Lagged {
        /// How many it missed.
        skipped: u64,
    },
}

impl ApiEvent {
    /// Its SSE event name: its `type`.
    pub fn name(&self) -> &'static str {
        match self {
            ApiEvent::DagRun { .. } => "dag_run",
            ApiEvent::TaskInstance { .. } => "task_instance",
            ApiEvent::Progress { .. } => "progress",
            ApiEvent::Dag { .. } => "dag",
            ApiEvent::DagsReloaded { .. } => "dags_reloaded",
            ApiEvent::Lagged { .. } => "lagged",
        }
    }

    /// The DAG it is about (None: every DAG's business).
    pub fn dag_id(&self) -> Option<&str> {
        match self {
            ApiEvent::DagRun { dag_id, .. }
            | ApiEvent::TaskInstance { dag_id, .. }
            | ApiEvent::Progress { dag_id, .. }
            | ApiEvent::Dag { dag_id, .. } => Some(dag_id),
            ApiEvent::DagsReloaded { .. } | ApiEvent::Lagged { .. } => None,
        }
    }
}

/// The map index of an unmapped task instance.
fn unmapped() -> i32 {
    -1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_type() {
        let events = [
            ApiEvent::DagRun {
                dag_id: "d".to_owned(),
                run_id: "r".to_owned(),
                state: RunState::Running,
            },
            ApiEvent::TaskInstance {
                dag_id: "d".to_owned(),
                run_id: "r".to_owned(),
                task_id: "t".to_owned(),
                map_index: -1,
                state: TaskState::UpForRetry,
                try_number: 1,
            },
            ApiEvent::Progress {
                dag_id: "d".to_owned(),
                run_id: "r".to_owned(),
                task_id: "t".to_owned(),
                map_index: -1,
                phase: "map".to_owned(),
                total: 4,
                done: 1,
                failed: 0,
                running: 3,
            },
            ApiEvent::Dag {
                dag_id: "d".to_owned(),
                is_paused: true,
            },
            ApiEvent::DagsReloaded {
                dags: 2,
                import_errors: 1,
            },
            ApiEvent::Lagged { skipped: 8 },
        ];
        for ev in events {
            let json = serde_json::to_value(&ev).expect("serialises");
            assert_eq!(json["type"], ev.name(), "{json}");
            let back: ApiEvent = serde_json::from_value(json).expect("reads back");
            assert_eq!(back, ev);
        }
    }
}
