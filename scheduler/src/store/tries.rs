//! The tries of each task instance (Airflow's `task_instance_history`, served by the
//! `/tries` routes).
//!
//! Tree `ti_tries`: a task instance's key (as tree `task_instances`) and the try number
//! as a big-endian `u32` -> the instance's record as that try left it. [`Store::put_ti`]
//! keeps it: whenever an instance is stored in a try's state (running, or how the try
//! ended), its record is written under its try number, so a try's entry holds its
//! latest state; a reset (clear) stores the instance with no state and leaves the
//! entries of its tries alone. A new tree, so no schema change; a run's entries go
//! with the run ([`Store::delete_run`]).
//!
//! Tree `ti_try_calls`, keyed the same way: the call record of a try whose executor
//! job was one call on localhost storage (`results.json`'s content, which such a job
//! does not write to its storage: `CallOptions::one_call_record_kept`), written with
//! the try's end; the API's `.../calls` reads it. Also a new tree; it goes with the run.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, TaskInstanceRecord, TaskState, prefix, ti_key};

/// Record format of try entries.
const RECORD_VERSION: u32 = 1;

/// One try of a task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TryRecord {
    /// Record format.
    #[serde(default)]
    pub version: u32,
    /// The instance as the try left it (its `try_number` is the try's).
    pub ti: TaskInstanceRecord,
}

/// Whether `state` is one a try is in (started, or ended): the states worth keeping.
fn is_try_state(state: TaskState) -> bool {
    !matches!(
        state,
        TaskState::None | TaskState::Scheduled | TaskState::Queued
    )
}

fn try_key(dag_id: &str, run_id: &str, task_id: &str, map_index: i32, try_number: u32) -> Vec<u8> {
    let mut k = ti_key(dag_id, run_id, task_id, map_index);
    k.extend_from_slice(&try_number.to_be_bytes());
    k
}

impl Store {
    /// Keeps `ti`'s current try (called by [`Store::put_ti`]): written when the
    /// instance is in a try's state and its entry differs.
    pub(super) fn note_try(
        &self,
        dag_id: &str,
        run_id: &str,
        ti: &TaskInstanceRecord,
    ) -> Result<(), StoreError> {
        if ti.try_number == 0 || !is_try_state(ti.state) {
            return Ok(());
        }
        let tree = &self.tries;
        let k = try_key(dag_id, run_id, &ti.task_id, ti.map_index, ti.try_number);
        let old: Option<TryRecord> = self.get(tree, &k, "task instance try")?;
        if old.as_ref().is_some_and(|o| &o.ti == ti) {
            return Ok(());
        }
        self.put(
            tree,
            k,
            &TryRecord {
                version: RECORD_VERSION,
                ti: ti.clone(),
            },
        )
    }

    /// Every recorded try of a task instance, by try number.
    pub fn tries(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i32,
    ) -> Result<Vec<TaskInstanceRecord>, StoreError> {
        let tree = &self.tries;
        let p = ti_key(dag_id, run_id, task_id, map_index);
        let records: Vec<TryRecord> = self.scan(tree, &p, "task instance try")?;
        // The prefix of map index -1 is no prefix of another index (fixed width), but
        // a longer task id could share it: keep the instance's own.
        let mut tries: Vec<TaskInstanceRecord> = records
            .into_iter()
            .map(|r| r.ti)
            .filter(|t| t.task_id == task_id && t.map_index == map_index)
            .collect();
        // A try that a later try followed, in a state that is not finished (up_for_retry,
        // running when cleared), is history as Airflow records it: failed
        // (`TaskInstanceHistory.record_ti`, 2.10 and 3.1).
        let last = tries.iter().map(|t| t.try_number).max().unwrap_or(0);
        for t in tries.iter_mut().filter(|t| t.try_number < last) {
            if !t.state.is_finished() {
                t.state = TaskState::Failed;
                if t.end_date.is_none() {
                    t.end_date = t.next_retry_at.or(t.start_date);
                }
            }
        }
        Ok(tries)
    }

    /// Removes the try entries of a run (with the run).
    pub(super) fn forget_run_tries(&self, dag_id: &str, run_id: &str) -> Result<(), StoreError> {
        for tree in [&self.tries, &self.try_calls] {
            for k in tree.scan_prefix(prefix(&[dag_id, run_id])).keys() {
                let k = k.map_err(|e| self.db_err(e))?;
                tree.remove(k).map_err(|e| self.db_err(e))?;
            }
        }
        Ok(())
    }

    /// Keeps a try's call record (`results.json`'s content, as JSON bytes).
    pub fn put_try_calls(
        &self,
        dag_id: &str,
        run_id: &str,
        (task_id, map_index, try_number): (&str, i32, u32),
        results_json: &[u8],
    ) -> Result<(), StoreError> {
        let k = try_key(dag_id, run_id, task_id, map_index, try_number);
        self.try_calls
            .insert(k, results_json)
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// A try's call record kept by [`Store::put_try_calls`], if any.
    pub fn try_calls(
        &self,
        dag_id: &str,
        run_id: &str,
        (task_id, map_index, try_number): (&str, i32, u32),
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let k = try_key(dag_id, run_id, task_id, map_index, try_number);
        Ok(self
            .try_calls
            .get(k)
            .map_err(|e| self.db_err(e))?
            .map(|v| v.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_try_keeps_its_last_state_and_a_reset_keeps_them_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("state")).expect("store");
        let mut ti = TaskInstanceRecord::new("t", 3);
        store.put_ti("d", "r", &ti).expect("none");
        ti.try_number = 1;
        ti.state = TaskState::Running;
        store.put_ti("d", "r", &ti).expect("running");
        ti.state = TaskState::UpForRetry;
        ti.error = Some("boom".to_owned());
        store.put_ti("d", "r", &ti).expect("retry");
        ti.state = TaskState::Queued;
        store.put_ti("d", "r", &ti).expect("queued again");
        ti.try_number = 2;
        ti.state = TaskState::Success;
        ti.error = None;
        store.put_ti("d", "r", &ti).expect("success");
        ti.state = TaskState::None;
        store.put_ti("d", "r", &ti).expect("cleared");
        // Another task whose id starts the same is not mixed in.
        let mut other = TaskInstanceRecord::new("t2", 1);
        other.try_number = 1;
        other.state = TaskState::Failed;
        store.put_ti("d", "r", &other).expect("other");

        let tries = store.tries("d", "r", "t", -1).expect("tries");
        let seen: Vec<_> = tries.iter().map(|t| (t.try_number, t.state)).collect();
        // Try 1 was up for retry when try 2 began: history says failed, as Airflow's.
        assert_eq!(seen, [(1, TaskState::Failed), (2, TaskState::Success)]);
        assert_eq!(tries[0].error.as_deref(), Some("boom"));

        store.delete_run("d", "r").expect("delete");
        assert!(store.tries("d", "r", "t", -1).expect("tries").is_empty());
    }
}
