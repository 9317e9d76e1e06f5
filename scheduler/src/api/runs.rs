//! DAG runs: `GET|POST /dags/{dag_id}/dagRuns`, `GET .../dagRuns/{dag_run_id}`, and the
//! changes that make runs run again: `POST /backfills` (`clearTaskInstances`:
//! [`super::clear`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};

use super::extract::{ApiError, ApiResult, Body, Ids, Params, check_id, paged};
use super::lookup::{ask, known_dag, loaded_dag, read, run_of};
use super::wire;
use crate::control::{Request, Shared};
use crate::ops::TriggerRequest;
use lithoflow_api::{BackfillBody, BackfillResponse, DagRun, DagRunCollection, TriggerBody};

// Every run and backfill this module answers goes through `wire::dag_run` or
// `wire::backfill_response`, which mask the conf: never build `DagRun` or
// `BackfillResponse` here.

/// `GET /dags/{dag_id}/dagRuns` (`~` for every DAG's), newest `run_after` first.
pub(super) async fn list_runs(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<DagRunCollection>> {
    let params = Params::parse(&uri, &["limit", "offset", "state"])?;
    let page = params.page()?;
    let states = params.all("state");
    for s in &states {
        if !["queued", "running", "success", "failed"].contains(&s.as_str()) {
            return Err(ApiError::bad_request(format!(
                "`state` {s:?}: expected queued, running, success or failed"
            )));
        }
    }
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let wanted = |r: &crate::store::DagRunRecord| {
            states.is_empty() || states.iter().any(|s| s == r.state.name())
        };
        if dag_id == "~" {
            let mut all = store.all_runs()?;
            all.sort_by(|a, b| {
                b.run_after
                    .cmp(&a.run_after)
                    .then_with(|| b.run_id.cmp(&a.run_id))
            });
            all.retain(wanted);
            let total_entries = all.len();
            let dag_runs = paged(all, page).iter().map(wire::dag_run).collect();
            return Ok(DagRunCollection {
                dag_runs,
                total_entries,
            });
        }
        known_dag(&sh, store, &dag_id)?;
        let (limit, offset) = page;
        if states.is_empty() {
            // The page through the DAG's index, the total from its count: nothing of the
            // rest of its history is read.
            let runs = store.recent_runs(&dag_id, offset, limit)?;
            return Ok(DagRunCollection {
                dag_runs: runs.iter().map(wire::dag_run).collect(),
                total_entries: store.run_count(&dag_id)?,
            });
        }
        // A state filter counts every match, so every run is read, newest first, and
        // only the page is kept.
        let mut dag_runs = Vec::new();
        let mut total_entries = 0;
        for run in store.runs_newest_first(&dag_id) {
            let run = run?;
            if !wanted(&run) {
                continue;
            }
            if total_entries >= offset && dag_runs.len() < limit {
                dag_runs.push(wire::dag_run(&run));
            }
            total_entries += 1;
        }
        Ok(DagRunCollection {
            dag_runs,
            total_entries,
        })
    })
    .await
    .map(Json)
}

/// `POST /dags/{dag_id}/dagRuns`: a queued manual run, made by the scheduler loop. Of a
/// paused DAG, the run is recorded as in Airflow and waits; a `Warning` header says so.
pub(super) async fn trigger_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
    Body(body): Body<TriggerBody>,
) -> ApiResult<Response> {
    Params::parse(&uri, &[])?;
    loaded_dag(&shared, &dag_id)?;
    let req = TriggerRequest {
        conf: body.conf,
        run_id: body.dag_run_id,
        logical_date: body.logical_date,
        ..Default::default()
    };
    let run = ask(&shared, |reply| Request::Trigger {
        dag_id: dag_id.clone(),
        req,
        reply,
    })
    .await?;
    let sh = Arc::clone(&shared);
    let id = dag_id.clone();
    let paused = read(&shared, move |store| {
        let dag = loaded_dag(&sh, &id)?;
        crate::ops::is_paused(store, &dag).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    let mut resp = Json(wire::dag_run(&run)).into_response();
    if paused {
        let text = lithoflow_api::paused_trigger_notice(&dag_id, &run.run_id);
        if let Ok(value) = HeaderValue::from_str(&lithoflow_api::warning_header(&text)) {
            resp.headers_mut().insert(header::WARNING, value);
        }
    }
    Ok(resp)
}

/// `GET /dags/{dag_id}/dagRuns/{dag_run_id}`.
pub(super) async fn get_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> ApiResult<Json<DagRun>> {
    Params::parse(&uri, &[])?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        known_dag(&sh, store, &dag_id)?;
        Ok(wire::dag_run(&run_of(store, &dag_id, &run_id)?))
    })
    .await
    .map(Json)
}

/// `POST /backfills`: a backfill planned (and, unless a dry run, queued) by the
/// scheduler loop.
pub(super) async fn create_backfill(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Body(body): Body<BackfillBody>,
) -> ApiResult<Json<BackfillResponse>> {
    Params::parse(&uri, &[])?;
    check_id("dag_id", &body.dag_id)?;
    loaded_dag(&shared, &body.dag_id)?;
    let outcome = ask(&shared, |reply| Request::Backfill {
        dag_id: body.dag_id.clone(),
        spec: body.clone(),
        reply,
    })
    .await?;
    Ok(Json(wire::backfill_response(body, outcome)))
}
