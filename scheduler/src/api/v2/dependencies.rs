//! `GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/dependencies`
//! (and `/{map_index}/dependencies`): what a scheduled task instance waits for, as
//! Airflow 3.1's `TaskDependencyCollectionResponse` (`{"dependencies": [{"name",
//! "reason"}]}`), from the same slot arbiter as `/api/v1`'s route.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::common::{V2Error, V2Result};
use crate::api::extract::Ids;
use crate::api::pools::dependencies_of;
use crate::control::Shared;

/// The routes of this module.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    let ti = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}";
    axum::Router::new()
        .route(&format!("{ti}/dependencies"), get(unmapped))
        .route(&format!("{ti}/{{map_index}}/dependencies"), get(mapped))
}

async fn answer(
    shared: &Arc<Shared>,
    (dag_id, run_id, task_id): (&str, &str, &str),
    map_index: Option<i32>,
) -> V2Result<Json<Value>> {
    let found = dependencies_of(shared, dag_id, run_id, task_id, map_index).await?;
    let dependencies: Vec<Value> = found
        .into_iter()
        .map(|d| json!({"name": d.name, "reason": d.reason}))
        .collect();
    Ok(Json(json!({ "dependencies": dependencies })))
}

async fn unmapped(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
) -> V2Result<Json<Value>> {
    answer(&shared, (&dag_id, &run_id, &task_id), None).await
}

async fn mapped(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, index]): Ids<4>,
) -> V2Result<Json<Value>> {
    let map_index = index.parse().map_err(|_| {
        V2Error::invalid(
            &["path", "map_index"],
            format!(
                "Input should be a valid integer, unable to parse string as an integer: {index:?}"
            ),
        )
    })?;
    answer(&shared, (&dag_id, &run_id, &task_id), Some(map_index)).await
}
