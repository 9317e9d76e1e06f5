//! The API's enums: the states of task instances and runs, with Airflow's names, and
//! what a backfill does with dates that have a run.
//!
//! These are the wire's own types, not the state store's records: the scheduler
//! converts at the boundary. The state enums read a state this client does not know as
//! `Unknown` (the server never sends it), so a newer scheduler's answer still reads.

use serde::{Deserialize, Serialize};

/// A task instance's state (Airflow's TaskInstanceState; `None` is "no status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// No status yet.
    #[default]
    None,
    /// Its dependencies are met.
    Scheduled,
    /// Handed to the executor, waiting for a slot.
    Queued,
    /// Running.
    Running,
    /// Finished: returned.
    Success,
    /// Finished: failed with no retries left.
    Failed,
    /// Finished without running, or raised a skip.
    Skipped,
    /// Finished without running: an upstream task failed.
    UpstreamFailed,
    /// Failed, will be retried.
    UpForRetry,
    /// A sensor in reschedule mode between two pokes (it holds no pool slot).
    UpForReschedule,
    /// A state this client does not know (a newer scheduler's); never sent.
    #[serde(other)]
    Unknown,
}

impl TaskState {
    /// Its name for people: Airflow's, with `no status` for [`TaskState::None`].
    pub fn name(self) -> &'static str {
        match self {
            TaskState::None => "no status",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::UpForReschedule => "up_for_reschedule",
            TaskState::Unknown => "unknown",
        }
    }

    /// Finished (until cleared): success, failed, skipped, upstream_failed.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::Skipped | TaskState::UpstreamFailed
        )
    }
}

/// A DAG run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Waiting for a slot under `max_active_runs`.
    #[default]
    Queued,
    /// Running.
    Running,
    /// Every leaf task succeeded or was skipped.
    Success,
    /// A leaf task failed, a deadlock, or `dagrun_timeout`.
    Failed,
    /// A state this client does not know (a newer scheduler's); never sent.
    #[serde(other)]
    Unknown,
}

impl RunState {
    /// Airflow's name.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
            RunState::Unknown => "unknown",
        }
    }

    /// The task state of the same name (a run and a task in it read alike: queued,
    /// running, success, failed).
    pub fn as_task_state(self) -> TaskState {
        match self {
            RunState::Queued => TaskState::Queued,
            RunState::Running => TaskState::Running,
            RunState::Success => TaskState::Success,
            RunState::Failed => TaskState::Failed,
            RunState::Unknown => TaskState::Unknown,
        }
    }
}

/// What a backfill does with logical dates that already have a run (Airflow 3). A
/// request field, so an unknown value is refused rather than read as a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReprocessBehavior {
    /// Keep every existing run.
    #[default]
    None,
    /// Clear and re-run failed runs.
    Failed,
    /// Clear and re-run failed and successful runs.
    Completed,
}

impl ReprocessBehavior {
    /// Its name on the wire and in the backfill's record: `none`, `failed`, `completed`.
    pub fn name(self) -> &'static str {
        match self {
            ReprocessBehavior::None => "none",
            ReprocessBehavior::Failed => "failed",
            ReprocessBehavior::Completed => "completed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_wire_names() {
        for s in [
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
            assert_eq!(serde_json::to_value(s).ok(), Some(s.name().into()));
        }
        assert_eq!(
            serde_json::to_value(TaskState::None).ok(),
            Some("none".into())
        );
        for s in [
            RunState::Queued,
            RunState::Running,
            RunState::Success,
            RunState::Failed,
        ] {
            assert_eq!(serde_json::to_value(s).ok(), Some(s.name().into()));
        }
        for r in [
            ReprocessBehavior::None,
            ReprocessBehavior::Failed,
            ReprocessBehavior::Completed,
        ] {
            assert_eq!(serde_json::to_value(r).ok(), Some(r.name().into()));
        }
    }

    #[test]
    fn unknown_states_read_as_unknown_but_unknown_requests_are_refused() {
        let t: TaskState = serde_json::from_str("\"deferred\"").expect("reads");
        assert_eq!(t, TaskState::Unknown);
        let r: RunState = serde_json::from_str("\"paused\"").expect("reads");
        assert_eq!(r, RunState::Unknown);
        assert!(serde_json::from_str::<ReprocessBehavior>("\"all\"").is_err());
    }
}
