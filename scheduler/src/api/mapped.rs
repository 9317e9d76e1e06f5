//! A mapped task's instances (dynamic task mapping): `GET .../taskInstances/{task_id}/listMapped`
//! and `GET .../taskInstances/{task_id}/{map_index}`, as Airflow 2.10's
//! `get_mapped_task_instances` and `get_mapped_task_instance`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::{Extension, Json};

use super::extract::{ApiError, ApiResult, Ids, Params};
use super::lookup::{known_dag, read, run_of, ti_at};
use super::progress::ProgressBook;
use super::task_instances::collection;
use super::ti_list;
use super::ti_view::DagFacts;
use crate::control::Shared;
use lithoflow_api::{TaskInstance, TaskInstanceCollection};

/// `GET .../taskInstances/{task_id}/listMapped`: the instances of a mapped task, by map
/// index (`state`, `limit` and `offset` as the run's list). Airflow answers 404 for a
/// task that is not mapped; so does this (an unexpanded mapped task has none yet).
pub(super) async fn list_mapped(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> ApiResult<Json<TaskInstanceCollection>> {
    let params = Params::parse(&uri, MAPPED_PARAMS)?;
    let page = params.page()?;
    // Airflow 2.10's default: by map index.
    let order = params.order_by(ti_list::ORDER_FIELDS, "map_index")?;
    let mut filter = ti_list::v1_filter(&params)?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let dag = known_dag(&sh, store, &dag_id)?;
        run_of(store, &dag_id, &run_id)?;
        let mapped = dag
            .as_ref()
            .and_then(|d| d.task(&task_id))
            .is_some_and(lithoflow_dag::Task::is_mapped);
        if !mapped
            && !store
                .task_tis(&dag_id, &run_id, &task_id)?
                .iter()
                .any(|t| t.map_index >= 0)
        {
            return Err(ApiError::not_found(format!(
                "task `{task_id}` of DAG `{dag_id}` is not mapped"
            )));
        }
        filter.dag_ids = Some(vec![dag_id]);
        filter.run_ids = Some(vec![run_id]);
        filter.task_ids = Some(vec![task_id]);
        filter.mapped_only = true;
        let rows = ti_list::select(&sh, store, &filter)?;
        Ok(collection(rows, Some(&order), page, &book))
    })
    .await
    .map(Json)
}

/// `listMapped`'s query parameters: Airflow 2.10's, and `map_index` (lithoflow's
/// earlier versions took it).
const MAPPED_PARAMS: &[&str] = &[
    "execution_date_gte",
    "execution_date_lte",
    "start_date_gte",
    "start_date_lte",
    "end_date_gte",
    "end_date_lte",
    "updated_at_gte",
    "updated_at_lte",
    "duration_gte",
    "duration_lte",
    "state",
    "pool",
    "queue",
    "executor",
    "limit",
    "offset",
    "order_by",
    "map_index",
];

/// `GET .../taskInstances/{task_id}/{map_index}`: one instance of a mapped task, with
/// its XCom `return_value` (masked).
pub(super) async fn get_mapped_task_instance(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id, task_id, index]): Ids<4>,
    uri: Uri,
) -> ApiResult<Json<TaskInstance>> {
    Params::parse(&uri, &[])?;
    let map_index: i32 = index.parse().map_err(|_| {
        ApiError::bad_request(format!("`map_index` must be an integer, found {index:?}"))
    })?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let facts = DagFacts::new(known_dag(&sh, store, &dag_id)?);
        let run = run_of(store, &dag_id, &run_id)?;
        let ti = ti_at(store, &dag_id, &run_id, &task_id, map_index)?;
        let mut out = facts.body(&run, &ti);
        out.progress = book.live(&run, &ti);
        out.return_value = Some(crate::values::mask_value(
            store,
            &store
                .xcom_at(
                    &dag_id,
                    &run_id,
                    &task_id,
                    map_index,
                    crate::store::RETURN_KEY,
                )?
                .unwrap_or(serde_json::Value::Null),
        ));
        Ok(out)
    })
    .await
    .map(Json)
}
