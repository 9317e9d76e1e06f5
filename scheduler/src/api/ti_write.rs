//! Changes to task instances through `/api/v1`, as Airflow 2.10's
//! `task_instance_endpoint.py`: `PATCH .../taskInstances/{task_id}` (and
//! `/{map_index}`) and `POST /dags/{dag_id}/updateTaskInstancesState` set states
//! (`Request::SetTaskState`: Airflow's `set_state` with upstream/downstream/past/future
//! and `dry_run`, default true), `PATCH .../setNote` sets a note (`Request::SetNote`).
//! The scheduler loop applies them (it owns the runs).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::Uri;

use super::clear::references;
use super::extract::{ApiError, ApiResult, Body, Ids, Params};
use super::lookup::{ask, known_dag, loaded_dag, read, run_of, ti_at};
use super::progress::ProgressBook;
use super::ti_view::DagFacts;
use crate::control::{Request, SetTaskStateSpec, Shared};
use crate::store::TaskState;
use lithoflow_api::{ClearResponse, ClearedInstance, TaskInstance};

/// A state a user may set (Airflow: success, failed or skipped).
pub(crate) fn settable(state: &str) -> Option<TaskState> {
    match state {
        "success" => Some(TaskState::Success),
        "failed" => Some(TaskState::Failed),
        "skipped" => Some(TaskState::Skipped),
        _ => None,
    }
}

fn state_of(field: &str, state: &str) -> ApiResult<TaskState> {
    settable(state).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{{'{field}': ['Must be one of: success, failed, skipped.']}}"
        ))
    })
}

/// Airflow 2.10's `UpdateTaskInstance` body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PatchBody {
    #[serde(default)]
    dry_run: Option<bool>,
    new_state: String,
}

async fn patch(
    shared: Arc<Shared>,
    (dag_id, run_id, task_id, map_index): (String, String, String, i32),
    body: PatchBody,
) -> ApiResult<Json<ClearedInstance>> {
    let state = state_of("new_state", &body.new_state)?;
    let dag = loaded_dag(&shared, &dag_id)?;
    if dag.task(&task_id).is_none() {
        return Err(ApiError::not_found(format!(
            "Task {task_id:?} not found in DAG {dag_id:?}"
        )));
    }
    let (d, r, t) = (dag_id.clone(), run_id.clone(), task_id.clone());
    let ti = read(&shared, move |store| {
        store.ti_at(&d, &r, &t, map_index)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "Task instance not found for task {t:?} on DAG run with ID {r:?}"
            ))
        })
    })
    .await?;
    let current = crate::ops::ClearedTi {
        dag_run_id: run_id.clone(),
        task_id: task_id.clone(),
        map_index,
        state: ti.state,
    };
    // Airflow's dry run answers the instance and changes nothing.
    if body.dry_run.unwrap_or(true) {
        let mut refs = references(&shared, &dag_id, vec![current]).await?;
        return refs
            .pop()
            .map(Json)
            .ok_or_else(|| ApiError::internal("no reference"));
    }
    let spec = SetTaskStateSpec {
        run_id,
        task_id,
        map_indexes: Some(vec![map_index]),
        state,
        upstream: false,
        downstream: false,
        future: false,
        past: false,
        dry_run: false,
    };
    ask(&shared, |reply| Request::SetTaskState {
        dag_id: dag_id.clone(),
        spec,
        reply,
    })
    .await?;
    let mut refs = references(&shared, &dag_id, vec![current]).await?;
    refs.pop()
        .map(Json)
        .ok_or_else(|| ApiError::internal("no reference"))
}

/// `PATCH .../taskInstances/{task_id}`: set the unmapped instance's state.
pub(super) async fn patch_task_instance(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
    Body(body): Body<PatchBody>,
) -> ApiResult<Json<ClearedInstance>> {
    Params::parse(&uri, &[])?;
    patch(shared, (dag_id, run_id, task_id, -1), body).await
}

/// `PATCH .../taskInstances/{task_id}/{map_index}`.
pub(super) async fn patch_mapped_task_instance(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, index]): Ids<4>,
    uri: Uri,
    Body(body): Body<PatchBody>,
) -> ApiResult<Json<ClearedInstance>> {
    Params::parse(&uri, &[])?;
    let map_index = index.parse().map_err(|_| {
        ApiError::bad_request(format!("`map_index` must be an integer, found {index:?}"))
    })?;
    patch(shared, (dag_id, run_id, task_id, map_index), body).await
}

/// Airflow 2.10's `UpdateTaskInstancesState` body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateStateBody {
    #[serde(default)]
    dry_run: Option<bool>,
    task_id: String,
    #[serde(default)]
    execution_date: Option<String>,
    #[serde(default)]
    dag_run_id: Option<String>,
    include_upstream: bool,
    include_downstream: bool,
    include_future: bool,
    include_past: bool,
    new_state: String,
}

/// `POST /dags/{dag_id}/updateTaskInstancesState`: a task's instances in one run (by
/// `dag_run_id` or `execution_date`) and, as asked, its relatives and other runs.
pub(super) async fn update_task_instances_state(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
    Body(body): Body<UpdateStateBody>,
) -> ApiResult<Json<ClearResponse>> {
    Params::parse(&uri, &[])?;
    let state = state_of("new_state", &body.new_state)?;
    if body.execution_date.is_some() == body.dag_run_id.is_some() {
        return Err(ApiError::bad_request(
            "{'_schema': ['Exactly one of execution_date or dag_run_id must be provided']}",
        ));
    }
    let dag = loaded_dag(&shared, &dag_id)?;
    if dag.task(&body.task_id).is_none() {
        return Err(ApiError::not_found(format!(
            "Task ID {} not found",
            body.task_id
        )));
    }
    let run_id = match body.dag_run_id {
        Some(r) => r,
        None => {
            let date = body.execution_date.unwrap_or_default();
            let when = super::ti_list::parse_date(&date).ok_or_else(|| {
                ApiError::bad_request("{'execution_date': ['Not a valid datetime.']}")
            })?;
            let (d, t) = (dag_id.clone(), body.task_id.clone());
            read(&shared, move |store| {
                store
                    .runs(&d)?
                    .into_iter()
                    .find(|r| r.logical_date == Some(when))
                    .map(|r| r.run_id)
                    .ok_or_else(|| {
                        ApiError::not_found(format!(
                            "Task instance not found for task {t:?} on execution_date {date}"
                        ))
                    })
            })
            .await?
        }
    };
    let spec = SetTaskStateSpec {
        run_id,
        task_id: body.task_id,
        map_indexes: None,
        state,
        upstream: body.include_upstream,
        downstream: body.include_downstream,
        future: body.include_future,
        past: body.include_past,
        dry_run: body.dry_run.unwrap_or(true),
    };
    let touched = ask(&shared, |reply| Request::SetTaskState {
        dag_id: dag_id.clone(),
        spec,
        reply,
    })
    .await?;
    Ok(Json(ClearResponse {
        task_instances: references(&shared, &dag_id, touched).await?,
    }))
}

/// Airflow 2.10's `SetTaskInstanceNote` body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoteBody {
    #[serde(default)]
    map_index: Option<i32>,
    note: Option<String>,
}

async fn set_note(
    shared: Arc<Shared>,
    book: ProgressBook,
    (dag_id, run_id, task_id, map_index): (String, String, String, i32),
    body: NoteBody,
) -> ApiResult<Json<TaskInstance>> {
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(ApiError::bad_request(
            "{'note': ['Longer than maximum length 1000.']}",
        ));
    }
    let (d, r, t) = (dag_id.clone(), run_id.clone(), task_id.clone());
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        known_dag(&sh, store, &d)?;
        run_of(store, &d, &r)?;
        ti_at(store, &d, &r, &t, map_index).map(|_| ())
    })
    .await?;
    ask(&shared, |reply| Request::SetNote {
        dag_id: dag_id.clone(),
        run_id: run_id.clone(),
        task: Some((task_id.clone(), map_index)),
        note: body.note,
        reply,
    })
    .await?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let facts = DagFacts::new(known_dag(&sh, store, &dag_id)?);
        let run = run_of(store, &dag_id, &run_id)?;
        let ti = ti_at(store, &dag_id, &run_id, &task_id, map_index)?;
        let mut out = facts.body(&run, &ti);
        out.progress = book.live(&run, &ti);
        Ok(out)
    })
    .await
    .map(Json)
}

/// `PATCH .../taskInstances/{task_id}/setNote` (`map_index` may be in the body).
pub(super) async fn set_task_instance_note(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
    Body(body): Body<NoteBody>,
) -> ApiResult<Json<TaskInstance>> {
    Params::parse(&uri, &[])?;
    let map_index = body.map_index.unwrap_or(-1);
    set_note(shared, book, (dag_id, run_id, task_id, map_index), body).await
}

/// `PATCH .../taskInstances/{task_id}/{map_index}/setNote`.
pub(super) async fn set_mapped_task_instance_note(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id, task_id, index]): Ids<4>,
    uri: Uri,
    Body(body): Body<NoteBody>,
) -> ApiResult<Json<TaskInstance>> {
    Params::parse(&uri, &[])?;
    let map_index = index.parse().map_err(|_| {
        ApiError::bad_request(format!("`map_index` must be an integer, found {index:?}"))
    })?;
    set_note(shared, book, (dag_id, run_id, task_id, map_index), body).await
}
