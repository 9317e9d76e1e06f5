//! Task instances of a run: `GET .../taskInstances`, one instance with its return value,
//! its XCom entries and the log of each try. (Their job's calls: [`super::calls`].)

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::extract::{ApiError, ApiResult, Ids, Params, paged};
use super::lookup::{known_dag, operator, read, run_of, ti_of};
use super::progress::ProgressBook;
use super::wire;
use crate::control::Shared;
use lithoflow_api::{
    LOG_CHUNK, LOG_OFFSET_HEADER, TaskInstance, TaskInstanceCollection, XComEntry,
};

/// `GET .../dagRuns/{dag_run_id}/taskInstances`, by task id.
pub(super) async fn list_task_instances(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> ApiResult<Json<TaskInstanceCollection>> {
    let params = Params::parse(&uri, &["limit", "offset", "state"])?;
    let page = params.page()?;
    let states = params.all("state");
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let dag = known_dag(&sh, store, &dag_id)?;
        let run = run_of(store, &dag_id, &run_id)?;
        let mut tis = store.tis(&dag_id, &run_id)?;
        tis.retain(|t| {
            states.is_empty()
                || states
                    .iter()
                    .any(|s| s == t.state.name() || (s == "null" && t.state.name() == "none"))
        });
        let total_entries = tis.len();
        let task_instances = paged(tis, page)
            .iter()
            .map(|t| {
                let mut out = wire::task_instance(&run, t, operator(dag.as_ref(), &t.task_id));
                out.progress = book.live(&run, t);
                out
            })
            .collect();
        Ok(TaskInstanceCollection {
            task_instances,
            total_entries,
        })
    })
    .await
    .map(Json)
}

/// `GET .../taskInstances/{task_id}`, with its XCom `return_value`.
pub(super) async fn get_task_instance(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> ApiResult<Json<TaskInstance>> {
    Params::parse(&uri, &[])?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let dag = known_dag(&sh, store, &dag_id)?;
        let run = run_of(store, &dag_id, &run_id)?;
        let ti = ti_of(store, &dag_id, &run_id, &task_id)?;
        let mut out = wire::task_instance(&run, &ti, operator(dag.as_ref(), &task_id));
        out.progress = book.live(&run, &ti);
        out.return_value = Some(
            store
                .xcom(&dag_id, &run_id, &task_id, "return_value")?
                .unwrap_or(serde_json::Value::Null),
        );
        Ok(out)
    })
    .await
    .map(Json)
}

/// `GET .../taskInstances/{task_id}/xcomEntries/{xcom_key}`.
pub(super) async fn get_xcom(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, key]): Ids<4>,
    uri: Uri,
) -> ApiResult<Json<XComEntry>> {
    Params::parse(&uri, &[])?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        known_dag(&sh, store, &dag_id)?;
        let run = run_of(store, &dag_id, &run_id)?;
        ti_of(store, &dag_id, &run_id, &task_id)?;
        let value = store
            .xcom(&dag_id, &run_id, &task_id, &key)?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "task `{task_id}` of run `{run_id}` has no XCom `{key}`"
                ))
            })?;
        Ok(XComEntry {
            key,
            dag_id,
            dag_run_id: run_id,
            task_id,
            map_index: -1,
            logical_date: run.logical_date,
            value,
        })
    })
    .await
    .map(Json)
}

/// `GET .../taskInstances/{task_id}/logs/{try_number}?offset=N`: at most
/// [`LOG_CHUNK`] bytes from `offset`, and in [`LOG_OFFSET_HEADER`] where to go on.
pub(super) async fn get_log(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, try_text]): Ids<4>,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::parse(&uri, &["offset"])?;
    let offset = params.number("offset")?.unwrap_or(0);
    let try_number: u32 = try_text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`try_number` must be a positive integer, found {try_text:?}"
        ))
    })?;
    let logs_dir = shared.settings.home.join("logs");
    let sh = Arc::clone(&shared);
    let (bytes, next) = read(&shared, move |store| {
        known_dag(&sh, store, &dag_id)?;
        run_of(store, &dag_id, &run_id)?;
        let ti = ti_of(store, &dag_id, &run_id, &task_id)?;
        if try_number == 0 || try_number > ti.try_number {
            return Err(ApiError::not_found(format!(
                "task `{task_id}` of run `{run_id}` has no try {try_number} (its latest is {})",
                ti.try_number
            )));
        }
        // The instance is recorded, so its ids passed validation when it was created;
        // check again anyway before they become path segments.
        if !lithoflow_dag::is_valid_id(&dag_id) || !lithoflow_dag::is_valid_id(&task_id) {
            return Err(ApiError::bad_request("invalid DAG or task id"));
        }
        let path =
            crate::engine::Engine::log_path(&logs_dir, &dag_id, &run_id, &task_id, try_number);
        read_log(&path, offset).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ApiError::not_found(format!(
                "no log for try {try_number} of task `{task_id}` in run `{run_id}` yet"
            )),
            _ => ApiError::internal(format!("failed to read {}: {e}", path.display())),
        })
    })
    .await?;
    let mut resp = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response();
    resp.headers_mut()
        .insert(LOG_OFFSET_HEADER, HeaderValue::from(next));
    Ok(resp)
}

/// The log's bytes from `offset` (at most [`LOG_CHUNK`]) and the offset after them.
fn read_log(path: &Path, offset: u64) -> std::io::Result<(Vec<u8>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = offset.min(len);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(LOG_CHUNK).read_to_end(&mut buf)?;
    let next = start + buf.len() as u64;
    Ok((buf, next))
}
