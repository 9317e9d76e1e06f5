//! The small read-only routes of Airflow 2.10's stable REST API: `GET /dagStats` (runs
//! per state of each DAG asked for, `dag_stats_endpoint.py`), `GET /importErrors` and
//! `/importErrors/{id}` (the DAG files that fail to load, `import_error_endpoint.py`),
//! and what Airflow answers when it has none: `GET /plugins`, `/providers`,
//! `/dagWarnings` (lithoflow has no plugins, providers or DAG warnings).
//! `/api/v2` serves the same data from [`dag_stats`] and [`import_errors`].

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::extract::{ApiError, ApiResult, Ids, Params, paged};
use super::lookup::read;
use crate::control::Shared;
use crate::store::RunState;

/// The run states Airflow counts, in its `DagRunState` order.
const RUN_STATES: [RunState; 4] = [
    RunState::Queued,
    RunState::Running,
    RunState::Success,
    RunState::Failed,
];

/// `(dag_id, [(state, count)])` for each of `dag_ids` that is loaded, by id.
pub(crate) async fn dag_stats(
    shared: &Arc<Shared>,
    dag_ids: Vec<String>,
) -> ApiResult<Vec<(String, Vec<(&'static str, usize)>)>> {
    let mut ids: Vec<String> = dag_ids
        .into_iter()
        .filter(|d| shared.dag(d).is_some())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    read(shared, move |store| {
        let mut out = Vec::new();
        for id in ids {
            let runs = store.runs(&id)?;
            let counts = RUN_STATES
                .iter()
                .map(|s| (s.name(), runs.iter().filter(|r| r.state == *s).count()))
                .collect();
            out.push((id, counts));
        }
        Ok(out)
    })
    .await
}

/// `GET /dagStats?dag_ids=a,b`.
pub(super) async fn get_dag_stats(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(&uri, &["dag_ids"])?;
    if params.last("dag_ids").is_none() {
        return Err(ApiError::bad_request("Missing query parameter 'dag_ids'"));
    }
    let stats = dag_stats(&shared, params.all("dag_ids")).await?;
    let total = stats.len();
    let dags: Vec<Value> = stats
        .into_iter()
        .map(|(dag_id, counts)| {
            json!({
                "dag_id": dag_id,
                "stats": counts
                    .into_iter()
                    .map(|(state, count)| json!({"state": state, "count": count}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({"dags": dags, "total_entries": total})))
}

/// A file that fails to load: its id (position, from 1), when its error was seen (the
/// file's modification time, else the scheduler's start), the file, the errors.
pub(crate) struct FileError {
    pub(crate) id: usize,
    pub(crate) timestamp: DateTime<Utc>,
    pub(crate) filename: String,
    pub(crate) stack_trace: String,
}

/// Every import error, in the order the DAG folder's scan found them.
pub(crate) fn import_errors(shared: &Shared) -> Vec<FileError> {
    shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .import_errors
        .iter()
        .enumerate()
        .map(|(i, e)| FileError {
            id: i + 1,
            timestamp: std::fs::metadata(&e.filepath)
                .and_then(|m| m.modified())
                .map(DateTime::<Utc>::from)
                .unwrap_or(shared.started_at),
            filename: e.filepath.display().to_string(),
            stack_trace: e.error.clone(),
        })
        .collect()
}

fn v1_error(e: FileError) -> Value {
    json!({
        "import_error_id": e.id,
        "timestamp": lithoflow_api::iso_string(&e.timestamp),
        "filename": e.filename,
        "stack_trace": e.stack_trace,
    })
}

/// `GET /importErrors` (`order_by`: `import_error_id`, `timestamp`, `filename`).
pub(super) async fn list_import_errors(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(&uri, &["limit", "offset", "order_by"])?;
    let order = params.order_by(
        &["import_error_id", "id", "timestamp", "filename"],
        "import_error_id",
    )?;
    let mut all = import_errors(&shared);
    match order.field.as_str() {
        "timestamp" => all.sort_by_key(|e| (e.timestamp, e.id)),
        "filename" => all.sort_by(|a, b| a.filename.cmp(&b.filename)),
        _ => {}
    }
    if order.desc {
        all.reverse();
    }
    let total = all.len();
    let page: Vec<Value> = paged(all, params.page()?)
        .into_iter()
        .map(v1_error)
        .collect();
    Ok(Json(json!({"import_errors": page, "total_entries": total})))
}

/// `GET /importErrors/{import_error_id}`.
pub(super) async fn get_import_error(
    State(shared): State<Arc<Shared>>,
    Ids([id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    Params::parse(&uri, &[])?;
    import_errors(&shared)
        .into_iter()
        .find(|e| e.id.to_string() == id)
        .map(|e| Json(v1_error(e)))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "The ImportError with import_error_id: `{id}` was not found"
            ))
        })
}

/// `GET /plugins`: none.
pub(super) async fn get_plugins(uri: Uri) -> ApiResult<Json<Value>> {
    let params = Params::parse(&uri, &["limit", "offset"])?;
    params.page()?;
    Ok(Json(json!({"plugins": [], "total_entries": 0})))
}

/// `GET /providers`: none (lithoflow runs no Airflow providers).
pub(super) async fn get_providers(uri: Uri) -> ApiResult<Json<Value>> {
    Params::parse(&uri, &[])?;
    Ok(Json(json!({"providers": [], "total_entries": 0})))
}

/// `GET /dagWarnings`: none (lithoflow reports a DAG's problems as import errors).
pub(super) async fn get_dag_warnings(uri: Uri) -> ApiResult<Json<Value>> {
    let params = Params::parse(
        &uri,
        &["dag_id", "warning_type", "limit", "offset", "order_by"],
    )?;
    params.page()?;
    params.order_by(
        &["dag_id", "warning_type", "message", "timestamp"],
        "timestamp",
    )?;
    Ok(Json(json!({"dag_warnings": [], "total_entries": 0})))
}
