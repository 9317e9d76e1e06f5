//! DAG runs as Airflow 2.10's stable REST API serves them
//! (`api_connexion/endpoints/dag_run_endpoint.py`): `GET|POST /dags/{dag_id}/dagRuns`
//! (`~` for every DAG), `POST /dags/~/dagRuns/list`, `GET|PATCH|DELETE
//! .../dagRuns/{dag_run_id}`, `.../clear`, `.../setNote`, and `POST /backfills`
//! (`clearTaskInstances`: [`super::clear`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{ApiError, ApiResult, Body, Ids, OrderBy, Params, check_id};
use super::lookup::{ask, known_dag, loaded_dag, read, run_of};
use super::run_query::{Range, RunFilter, V1_ORDER, parse_time, select_runs};
use super::wire;
use crate::control::{Request, Shared};
use crate::ops::{ClearSpec, TriggerRequest};
use crate::store::RunState;
use lithoflow_api::{
    BackfillBody, BackfillResponse, DagRun, DagRunCollection, DagRunsBatchBody, MAX_LIMIT,
    NoteBody, RunClearBody, RunStateBody, TriggerBody,
};

// Every run and backfill this module answers goes through `wire::dag_run` or
// `wire::backfill_response`, which mask the conf: never build `DagRun` or
// `BackfillResponse` here.

/// The query parameters of Airflow 2.10's `GET /dags/{dag_id}/dagRuns`.
const LIST_PARAMS: &[&str] = &[
    "limit",
    "offset",
    "execution_date_gte",
    "execution_date_lte",
    "start_date_gte",
    "start_date_lte",
    "end_date_gte",
    "end_date_lte",
    "updated_at_gte",
    "updated_at_lte",
    "state",
    "order_by",
    "fields",
];

/// A date range of the query string (`{name}_gte`, `{name}_lte`).
fn range(params: &Params, name: &str) -> ApiResult<Range> {
    let one = |suffix: &str| {
        let key = format!("{name}_{suffix}");
        params
            .last(&key)
            .map(|v| parse_time(v).map_err(|e| ApiError::bad_request(format!("`{key}`: {e}"))))
            .transpose()
    };
    Ok(Range {
        gte: one("gte")?,
        lte: one("lte")?,
        ..Range::default()
    })
}

/// Airflow's `fields`: only these fields of each run (an unknown one is 400).
pub(super) fn only_fields(run: &DagRun, fields: &[String]) -> ApiResult<Value> {
    let value = serde_json::to_value(run).map_err(|e| ApiError::internal(e.to_string()))?;
    if fields.is_empty() {
        return Ok(value);
    }
    let mut out = serde_json::Map::new();
    for f in fields {
        let v = value
            .get(f)
            .ok_or_else(|| ApiError::bad_request(format!("{f} not in DAGRunSchema")))?;
        out.insert(f.clone(), v.clone());
    }
    Ok(Value::Object(out))
}

/// `GET /dags/{dag_id}/dagRuns` (`~` for every DAG's): filtered as Airflow 2.10's,
/// oldest first unless `order_by` says otherwise.
pub(super) async fn list_runs(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(&uri, LIST_PARAMS)?;
    let page = params.page()?;
    let order = params.order_by(V1_ORDER, "id")?;
    let fields = params.all("fields");
    let filter = RunFilter {
        dag_ids: (dag_id != "~").then(|| vec![dag_id.clone()]),
        states: params.all("state"),
        logical: range(&params, "execution_date")?,
        start: range(&params, "start_date")?,
        end: range(&params, "end_date")?,
        updated: range(&params, "updated_at")?,
        ..RunFilter::default()
    };
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        if dag_id != "~" {
            known_dag(&sh, store, &dag_id)?;
        }
        let (runs, total_entries) = select_runs(store, &filter, &order, page)?;
        let dag_runs = runs
            .iter()
            .map(|r| only_fields(&wire::dag_run(r), &fields))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(json!({"dag_runs": dag_runs, "total_entries": total_entries}))
    })
    .await
    .map(Json)
}

/// `POST /dags/~/dagRuns/list`: the runs of several DAGs, filtered by the body.
pub(super) async fn list_runs_batch(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Body(body): Body<DagRunsBatchBody>,
) -> ApiResult<Json<DagRunCollection>> {
    Params::parse(&uri, &[])?;
    let offset = body.page_offset.unwrap_or(0);
    let limit = body.page_limit.unwrap_or(100);
    if offset < 0 || limit < 1 {
        return Err(ApiError::bad_request(
            "{'page_offset': ['Must be greater than or equal to 0.'], 'page_limit': ['Must be greater than or equal to 1.']}",
        ));
    }
    let page = (
        usize::try_from(limit).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
        usize::try_from(offset).unwrap_or(usize::MAX),
    );
    let order = OrderBy::parse(body.order_by.as_deref().unwrap_or("id"), V1_ORDER)
        .map_err(ApiError::bad_request)?;
    let filter = RunFilter {
        dag_ids: body.dag_ids.filter(|ids| !ids.is_empty()),
        states: body.states.unwrap_or_default(),
        logical: Range {
            gte: body.execution_date_gte,
            lte: body.execution_date_lte,
            ..Range::default()
        },
        start: Range {
            gte: body.start_date_gte,
            lte: body.start_date_lte,
            ..Range::default()
        },
        end: Range {
            gte: body.end_date_gte,
            lte: body.end_date_lte,
            ..Range::default()
        },
        updated: Range {
            gte: body.updated_at_gte,
            lte: body.updated_at_lte,
            ..Range::default()
        },
        ..RunFilter::default()
    };
    read(&shared, move |store| {
        let (runs, total_entries) = select_runs(store, &filter, &order, page)?;
        Ok(DagRunCollection {
            dag_runs: runs.iter().map(wire::dag_run).collect(),
            total_entries,
        })
    })
    .await
    .map(Json)
}

/// The settings of a manual run from a trigger's body, as Airflow 2.10's
/// `DAGRunSchema.autogenerate` reads them: `execution_date` is `logical_date`'s old
/// name (both given must agree), the logical date defaults to now and the run id to
/// `manual__<logical date>`; a data interval is given whole or not at all.
pub(super) fn trigger_request(body: TriggerBody) -> ApiResult<TriggerRequest> {
    let logical = match (body.logical_date, body.execution_date) {
        (Some(l), Some(e)) if l != e => {
            return Err(ApiError::bad_request(format!(
                "logical_date conflicts with execution_date: {} != {}",
                lithoflow_api::iso_string(&l),
                lithoflow_api::iso_string(&e)
            )));
        }
        (l, e) => l.or(e).unwrap_or_else(chrono::Utc::now),
    };
    let data_interval = match (body.data_interval_start, body.data_interval_end) {
        (Some(s), Some(e)) => Some((s, e)),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "{'_schema': [\"Both 'data_interval_start' and 'data_interval_end' must be specified together\"]}",
            ));
        }
    };
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(ApiError::bad_request(
            "{'note': ['Longer than maximum length 1000.']}",
        ));
    }
    Ok(TriggerRequest {
        run_after: None,
        run_id: Some(
            body.dag_run_id
                .unwrap_or_else(|| format!("manual__{}", lithoflow_api::iso_string(&logical))),
        ),
        conf: body.conf,
        logical_date: Some(logical),
        data_interval,
        note: body.note.filter(|n| !n.is_empty()),
    })
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
    let req = trigger_request(body)?;
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

/// `GET /dags/{dag_id}/dagRuns/{dag_run_id}` (with Airflow's `fields`).
pub(super) async fn get_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let fields = Params::parse(&uri, &["fields"])?.all("fields");
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        known_dag(&sh, store, &dag_id)?;
        only_fields(&wire::dag_run(&run_of(store, &dag_id, &run_id)?), &fields)
    })
    .await
    .map(Json)
}

/// A run read back after a change.
async fn run_now(shared: &Arc<Shared>, dag_id: String, run_id: String) -> ApiResult<Json<DagRun>> {
    read(shared, move |store| {
        Ok(wire::dag_run(&run_of(store, &dag_id, &run_id)?))
    })
    .await
    .map(Json)
}

/// The run must exist (404 otherwise) before a change is asked for.
async fn existing_run(shared: &Arc<Shared>, dag_id: &str, run_id: &str) -> ApiResult<()> {
    let (sh, d, r) = (Arc::clone(shared), dag_id.to_owned(), run_id.to_owned());
    read(shared, move |store| {
        known_dag(&sh, store, &d)?;
        run_of(store, &d, &r).map(|_| ())
    })
    .await
}

/// `PATCH /dags/{dag_id}/dagRuns/{dag_run_id}`: set the run's state (`success`,
/// `failed`, `queued`) as Airflow's `set_dag_run_state_to_*`, through the scheduler loop.
pub(super) async fn patch_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
    Body(body): Body<RunStateBody>,
) -> ApiResult<Json<DagRun>> {
    Params::parse(&uri, &["update_mask"])?;
    existing_run(&shared, &dag_id, &run_id).await?;
    let state = settable_state(body.state).ok_or_else(|| {
        ApiError::bad_request("{'state': ['Must be one of: success, failed, queued.']}")
    })?;
    let run = ask(&shared, |reply| Request::SetRunState {
        dag_id: dag_id.clone(),
        run_id: run_id.clone(),
        state,
        reply,
    })
    .await?;
    Ok(Json(wire::dag_run(&run)))
}

/// The states a user may set a run to.
pub(super) fn settable_state(s: lithoflow_api::RunState) -> Option<RunState> {
    match s {
        lithoflow_api::RunState::Success => Some(RunState::Success),
        lithoflow_api::RunState::Failed => Some(RunState::Failed),
        lithoflow_api::RunState::Queued => Some(RunState::Queued),
        _ => None,
    }
}

/// `DELETE /dags/{dag_id}/dagRuns/{dag_run_id}`: 204.
pub(super) async fn delete_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    Params::parse(&uri, &[])?;
    existing_run(&shared, &dag_id, &run_id).await?;
    ask(&shared, |reply| Request::DeleteRun {
        dag_id: dag_id.clone(),
        run_id: run_id.clone(),
        reply,
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /dags/{dag_id}/dagRuns/{dag_run_id}/clear`: every task instance of the run
/// (not only failed ones, as Airflow's `clear_dag_run`). A dry run (the default)
/// answers the instances that would be cleared; otherwise the run, re-queued.
pub(super) async fn clear_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
    Body(body): Body<RunClearBody>,
) -> ApiResult<Json<Value>> {
    Params::parse(&uri, &[])?;
    existing_run(&shared, &dag_id, &run_id).await?;
    loaded_dag(&shared, &dag_id)?;
    let dry_run = body.dry_run.unwrap_or(true);
    let cleared = ask(&shared, |reply| Request::Clear {
        dag_id: dag_id.clone(),
        spec: ClearSpec {
            run_id: Some(run_id.clone()),
            dry_run,
            ..ClearSpec::default()
        },
        reply,
    })
    .await?;
    if dry_run {
        let (d, r) = (dag_id.clone(), run_id.clone());
        let logical = read(
            &shared,
            move |store| Ok(run_of(store, &d, &r)?.logical_date),
        )
        .await?;
        let refs: Vec<Value> = cleared
            .into_iter()
            .map(|c| {
                json!({
                    "task_id": c.task_id,
                    "dag_run_id": c.dag_run_id,
                    "dag_id": dag_id,
                    "execution_date": logical.map(|t| lithoflow_api::iso_string(&t)),
                })
            })
            .collect();
        return Ok(Json(json!({"task_instances": refs})));
    }
    let Json(run) = run_now(&shared, dag_id, run_id).await?;
    serde_json::to_value(run)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `PATCH /dags/{dag_id}/dagRuns/{dag_run_id}/setNote`: the run, with its note.
pub(super) async fn set_run_note(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
    Body(body): Body<NoteBody>,
) -> ApiResult<Json<DagRun>> {
    Params::parse(&uri, &[])?;
    existing_run(&shared, &dag_id, &run_id).await?;
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(ApiError::bad_request(
            "{'note': ['Longer than maximum length 1000.']}",
        ));
    }
    ask(&shared, |reply| Request::SetNote {
        dag_id: dag_id.clone(),
        run_id: run_id.clone(),
        task: None,
        note: body.note,
        reply,
    })
    .await?;
    run_now(&shared, dag_id, run_id).await
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
