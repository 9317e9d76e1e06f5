//! A task instance's tries: v1 `GET .../taskInstances/{task_id}/tries`,
//! `.../tries/{task_try_number}` and their mapped forms (`.../{map_index}/tries`), as
//! Airflow 2.10's `get_task_instance_tries` / `get_task_instance_try_details`: the
//! recorded tries (`store::tries`, Airflow's `task_instance_history`) and the instance
//! itself, unless it is up for retry (its try is recorded already). [`tries_of`] is
//! shared with `/api/v2`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;

use super::extract::{ApiError, ApiResult, Ids, Params, paged};
use super::lookup::{known_dag, read, run_of, ti_at};
use super::ti_view::DagFacts;
use crate::control::Shared;
use crate::store::{Store, StoreError, TaskInstanceRecord, TaskState};
use lithoflow_api::{TaskInstance, TaskInstanceCollection};

/// Every try of the instance `current` (recorded ones, then the instance itself), by
/// try number.
pub(crate) fn tries_of(
    store: &Store,
    dag_id: &str,
    run_id: &str,
    current: &TaskInstanceRecord,
) -> Result<Vec<TaskInstanceRecord>, StoreError> {
    let mut tries = store.tries(dag_id, run_id, &current.task_id, current.map_index)?;
    match current.state {
        // A new try is pending (or the instance was cleared): the tries so far, then
        // the instance, as Airflow lists the instance beside its history.
        TaskState::None | TaskState::Scheduled | TaskState::Queued => {
            tries.push(current.clone());
        }
        // Its try is recorded already (Airflow leaves the instance out).
        TaskState::UpForRetry if tries.iter().any(|t| t.try_number == current.try_number) => {}
        // The instance is its latest try, fresher than the recorded copy.
        _ => {
            tries.retain(|t| t.try_number != current.try_number);
            tries.push(current.clone());
        }
    }
    tries.sort_by_key(|t| t.try_number);
    Ok(tries)
}

/// One try: the instance's own when it is that try, else the recorded one.
pub(crate) fn try_of(
    store: &Store,
    dag_id: &str,
    run_id: &str,
    current: &TaskInstanceRecord,
    try_number: u32,
) -> Result<Option<TaskInstanceRecord>, StoreError> {
    Ok(tries_of(store, dag_id, run_id, current)?
        .into_iter()
        .rev()
        .find(|t| t.try_number == try_number))
}

fn map_index_of(text: &str) -> ApiResult<i32> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!("`map_index` must be an integer, found {text:?}"))
    })
}

fn try_number_of(text: &str) -> ApiResult<u32> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`task_try_number` must be a non-negative integer, found {text:?}"
        ))
    })
}

async fn list(
    shared: Arc<Shared>,
    (dag_id, run_id, task_id, map_index): (String, String, String, i32),
    uri: Uri,
) -> ApiResult<Json<TaskInstanceCollection>> {
    let params = Params::parse(&uri, &["limit", "offset", "order_by"])?;
    let page = params.page()?;
    let order = params.order_by(
        &["try_number", "start_date", "end_date", "state", "duration"],
        "try_number",
    )?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let facts = DagFacts::new(known_dag(&sh, store, &dag_id)?);
        let run = run_of(store, &dag_id, &run_id)?;
        let ti = ti_at(store, &dag_id, &run_id, &task_id, map_index)?;
        let mut tries = tries_of(store, &dag_id, &run_id, &ti)?;
        let cmp = |a: &TaskInstanceRecord, b: &TaskInstanceRecord| match order.field.as_str() {
            "start_date" => a.start_date.cmp(&b.start_date),
            "end_date" => a.end_date.cmp(&b.end_date),
            "state" => a.state.name().cmp(b.state.name()),
            "duration" => a
                .duration_s
                .partial_cmp(&b.duration_s)
                .unwrap_or(std::cmp::Ordering::Equal),
            _ => a.try_number.cmp(&b.try_number),
        };
        tries.sort_by(|a, b| if order.desc { cmp(b, a) } else { cmp(a, b) });
        let total_entries = tries.len();
        let task_instances = paged(tries, page)
            .iter()
            .map(|t| facts.body(&run, t))
            .collect();
        Ok(TaskInstanceCollection {
            task_instances,
            total_entries,
        })
    })
    .await
    .map(Json)
}

async fn one(
    shared: Arc<Shared>,
    (dag_id, run_id, task_id, map_index): (String, String, String, i32),
    try_number: u32,
    uri: Uri,
) -> ApiResult<Json<TaskInstance>> {
    Params::parse(&uri, &[])?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let facts = DagFacts::new(known_dag(&sh, store, &dag_id)?);
        let run = run_of(store, &dag_id, &run_id)?;
        let ti = ti_at(store, &dag_id, &run_id, &task_id, map_index)?;
        let found = try_of(store, &dag_id, &run_id, &ti, try_number)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "Task Instance not found: task `{task_id}` of run `{run_id}` has no try {try_number}"
            ))
        })?;
        Ok(facts.body(&run, &found))
    })
    .await
    .map(Json)
}

/// `GET .../taskInstances/{task_id}/tries`.
pub(super) async fn list_tries(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> ApiResult<Json<TaskInstanceCollection>> {
    list(shared, (dag_id, run_id, task_id, -1), uri).await
}

/// `GET .../taskInstances/{task_id}/{map_index}/tries`.
pub(super) async fn list_mapped_tries(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, index]): Ids<4>,
    uri: Uri,
) -> ApiResult<Json<TaskInstanceCollection>> {
    let map_index = map_index_of(&index)?;
    list(shared, (dag_id, run_id, task_id, map_index), uri).await
}

/// `GET .../taskInstances/{task_id}/tries/{task_try_number}`.
pub(super) async fn get_try(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, n]): Ids<4>,
    uri: Uri,
) -> ApiResult<Json<TaskInstance>> {
    let try_number = try_number_of(&n)?;
    one(shared, (dag_id, run_id, task_id, -1), try_number, uri).await
}

/// `GET .../taskInstances/{task_id}/{map_index}/tries/{task_try_number}`.
pub(super) async fn get_mapped_try(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, index, n]): Ids<5>,
    uri: Uri,
) -> ApiResult<Json<TaskInstance>> {
    let map_index = map_index_of(&index)?;
    let try_number = try_number_of(&n)?;
    one(
        shared,
        (dag_id, run_id, task_id, map_index),
        try_number,
        uri,
    )
    .await
}
