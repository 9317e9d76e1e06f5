//! Helpers over the scheduler's shared state: store reads on the blocking pool, changes
//! sent to the scheduler loop, and the lookups every route starts with (each a 404 with
//! a sentence when what it names is not there).

use std::sync::Arc;

use axum::http::StatusCode;
use tokio::sync::oneshot;

use super::extract::{ApiError, ApiResult};
use crate::control::{Request, Shared};
use crate::ops::OpError;
use crate::store::{DagRunRecord, Store, TaskInstanceRecord};
use lithoflow_api::CHANGE_TIMEOUT;
use lithoflow_dag::Dag;

/// Runs a store read on the blocking pool (sled is blocking).
pub(super) async fn read<T, F>(shared: &Arc<Shared>, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> ApiResult<T> + Send + 'static,
{
    let store = Arc::clone(&shared.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::internal(format!("a store read failed: {e}")))?
}

/// Sends a change to the scheduler loop and waits for its answer, at most
/// [`CHANGE_TIMEOUT`] (clients wait longer, so they see this answer).
pub(super) async fn ask<T>(
    shared: &Shared,
    make: impl FnOnce(oneshot::Sender<Result<T, OpError>>) -> Request,
) -> ApiResult<T> {
    let unavailable = |why: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why.to_owned());
    let (tx, rx) = oneshot::channel();
    shared
        .requests
        .send(make(tx))
        .await
        .map_err(|_| unavailable("the scheduler is stopping"))?;
    match tokio::time::timeout(CHANGE_TIMEOUT, rx).await {
        Err(_) => Err(unavailable(&format!(
            "the scheduler did not answer within {} s",
            CHANGE_TIMEOUT.as_secs()
        ))),
        Ok(Err(_)) => Err(unavailable("the scheduler dropped the request")),
        Ok(Ok(result)) => result.map_err(ApiError::from),
    }
}

/// A DAG the scheduler serves now.
pub(super) fn loaded_dag(shared: &Shared, dag_id: &str) -> ApiResult<Arc<Dag>> {
    shared.dag(dag_id).ok_or_else(|| {
        ApiError::not_found(format!(
            "DAG `{dag_id}` is not loaded (see `lithoflow dags list` and `lithoflow dags list-import-errors`)"
        ))
    })
}

/// A DAG the scheduler serves, or one it served before (its runs stay readable).
pub(super) fn known_dag(
    shared: &Shared,
    store: &Store,
    dag_id: &str,
) -> ApiResult<Option<Arc<Dag>>> {
    if let Some(dag) = shared.dag(dag_id) {
        return Ok(Some(dag));
    }
    if store.dag(dag_id)?.is_some() {
        return Ok(None);
    }
    Err(ApiError::not_found(format!("no DAG `{dag_id}`")))
}

/// A recorded run.
pub(super) fn run_of(store: &Store, dag_id: &str, run_id: &str) -> ApiResult<DagRunRecord> {
    store
        .run(dag_id, run_id)?
        .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` has no run `{run_id}`")))
}

/// A recorded task instance: the unmapped one, or, for a mapped task, any of its
/// instances (for routes about the task as a whole, such as its XCom entries).
pub(super) fn ti_of(
    store: &Store,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
) -> ApiResult<TaskInstanceRecord> {
    if let Some(ti) = store.ti(dag_id, run_id, task_id)? {
        return Ok(ti);
    }
    store
        .task_tis(dag_id, run_id, task_id)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "run `{run_id}` of DAG `{dag_id}` has no task instance `{task_id}` (yet)"
            ))
        })
}

/// A recorded task instance at a map index (-1: the unmapped one).
pub(super) fn ti_at(
    store: &Store,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    map_index: i32,
) -> ApiResult<TaskInstanceRecord> {
    store
        .ti_at(dag_id, run_id, task_id, map_index)?
        .ok_or_else(|| {
            let which = if map_index >= 0 {
                format!("`{task_id}` at map index {map_index}")
            } else {
                format!("`{task_id}`")
            };
            ApiError::not_found(format!(
                "run `{run_id}` of DAG `{dag_id}` has no task instance {which} (yet)"
            ))
        })
}

/// A task's type, if its DAG is loaded.
pub(super) fn operator(dag: Option<&Arc<Dag>>, task_id: &str) -> Option<String> {
    dag.and_then(|d| d.task(task_id))
        .map(|t| t.type_name().to_owned())
}
