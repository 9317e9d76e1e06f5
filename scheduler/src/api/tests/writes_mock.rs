//! The API tests' stand-in for the scheduler loop's answers to issue 20's write
//! requests: the `ops` functions on the store, as the loop answers them for runs no
//! engine holds (`daemon/writes.rs`).

use chrono::Utc;

use crate::control::{Request, Shared};
use crate::ops::OpError;

/// Answers a run state, delete, note or task state request on the store.
pub(super) fn answer(shared: &Shared, req: Request) {
    let store = &shared.store;
    let not_loaded = |id: &str| OpError::NotFound(format!("DAG `{id}` is not loaded"));
    match req {
        Request::SetRunState {
            dag_id,
            run_id,
            state,
            reply,
        } => {
            let r = match shared.dag(&dag_id) {
                Some(d) => crate::ops::set_run_state(store, &d, &run_id, state, Utc::now())
                    .map(|(run, _)| run),
                None => Err(not_loaded(&dag_id)),
            };
            let _ = reply.send(r);
        }
        Request::DeleteRun {
            dag_id,
            run_id,
            reply,
        } => {
            let files = crate::retention::RunFiles::of(&shared.settings);
            let _ = reply.send(crate::ops::delete_run(store, &files, &dag_id, &run_id));
        }
        Request::SetNote {
            dag_id,
            run_id,
            task,
            note,
            reply,
        } => {
            let dag = shared.dag(&dag_id);
            let task = task.as_ref().map(|(t, m)| (t.as_str(), *m));
            let r = crate::ops::set_note(store, dag.as_deref(), &dag_id, &run_id, task, note);
            let _ = reply.send(r);
        }
        Request::SetTaskState {
            dag_id,
            spec,
            reply,
        } => {
            let r = match shared.dag(&dag_id) {
                Some(d) => crate::ops::task_state_plan(store, &d, &spec).and_then(|plans| {
                    let listed = crate::ops::planned(&plans);
                    if !spec.dry_run {
                        for plan in plans {
                            crate::ops::apply_task_state(store, &d, plan, spec.state, Utc::now())?;
                        }
                    }
                    Ok(listed)
                }),
                None => Err(not_loaded(&dag_id)),
            };
            let _ = reply.send(r);
        }
        // Not a write request of issue 20: `answer_one` answers it.
        _ => {}
    }
}
