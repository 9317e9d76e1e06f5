//! Live job progress: the latest `progress` event of each running job, kept from the
//! event broadcast so a client that connects in the middle of a `map` sees where it is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::control::Event;
use crate::store::{DagRunRecord, TaskInstanceRecord, TaskState};
use lithoflow_api::JobProgress;

/// A task instance: DAG, run, task, map index.
type TiKey = (String, String, String, i32);

/// The latest progress of each running job, by task instance. Entries go when their
/// instance leaves `running` (or its run ends), so the map holds running jobs only.
#[derive(Clone, Default)]
pub(super) struct ProgressBook(Arc<Mutex<HashMap<TiKey, JobProgress>>>);

impl ProgressBook {
    fn get(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i32,
    ) -> Option<JobProgress> {
        let key = (
            dag_id.to_owned(),
            run_id.to_owned(),
            task_id.to_owned(),
            map_index,
        );
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned()
    }

    fn apply(&self, ev: &Event) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match ev {
            Event::Progress {
                dag_id,
                run_id,
                task_id,
                map_index,
                phase,
                total,
                done,
                failed,
                running,
            } => {
                map.insert(
                    (dag_id.clone(), run_id.clone(), task_id.clone(), *map_index),
                    JobProgress {
                        phase: phase.clone(),
                        total: *total,
                        done: *done,
                        failed: *failed,
                        running: *running,
                    },
                );
            }
            Event::TaskInstance {
                dag_id,
                run_id,
                task_id,
                map_index,
                ..
            } => {
                // A new try starts from nothing; a finished one has its counts recorded.
                map.remove(&(dag_id.clone(), run_id.clone(), task_id.clone(), *map_index));
            }
            Event::DagRun {
                dag_id,
                run_id,
                state: lithoflow_api::RunState::Success | lithoflow_api::RunState::Failed,
            } => {
                map.retain(|(d, r, _, _), _| d != dag_id || r != run_id);
            }
            Event::DagRun { .. }
            | Event::Dag { .. }
            | Event::DagsReloaded { .. }
            | Event::Lagged { .. } => {}
        }
    }

    /// The progress of an instance's job, only while the instance is recorded running.
    pub(super) fn live(&self, run: &DagRunRecord, ti: &TaskInstanceRecord) -> Option<JobProgress> {
        (ti.state == TaskState::Running)
            .then(|| self.get(&run.dag_id, &run.run_id, &ti.task_id, ti.map_index))
            .flatten()
    }
}

/// Applies the broadcast's events to the book until the broadcast ends. After a lag
/// the book may hold a finished job's last progress; answers show progress only for
/// instances recorded `running`, so that never reaches a client.
pub(super) async fn keep_progress(mut rx: broadcast::Receiver<Event>, book: ProgressBook) {
    loop {
        match rx.recv().await {
            Ok(ev) => book.apply(&ev),
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
