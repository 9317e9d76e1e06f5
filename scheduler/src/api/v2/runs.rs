//! `/api/v2` DAG runs as Airflow 3.1's public API serves them
//! (`api_fastapi/core_api/routes/public/dag_run.py`, `datamodels/dag_run.py`):
//! `GET|POST /dags/{dag_id}/dagRuns` (`~` for every DAG), `POST /dags/~/dagRuns/list`,
//! `GET|PATCH|DELETE /dags/{dag_id}/dagRuns/{dag_run_id}`, `.../clear`, and the one
//! version lithoflow serves of each DAG, `GET /dags/{dag_id}/dagVersions[/{n}]`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::common::{Query2, V2Error, V2Result};
use super::dags::{dag_of, dag_version, read_v2};
use crate::api::extract::{Ids, OrderBy};
use crate::api::lookup::ask;
use crate::api::run_query::{Range, RunFilter, V2_ORDER, select_runs};
use crate::control::{Request, Shared};
use crate::ops::{ClearSpec, TriggerRequest};
use crate::store::{DagRunRecord, RunState, Store};
use lithoflow_api::iso_string;
use lithoflow_dag::redact::redact_map;

/// The routes of this module.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route(
            "/api/v2/dags/{dag_id}/dagRuns",
            get(list_runs).post(trigger_run),
        )
        .route("/api/v2/dags/{dag_id}/dagRuns/list", post(list_runs_batch))
        .route(
            "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}",
            get(get_run).patch(patch_run).delete(delete_run),
        )
        .route(
            "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/clear",
            post(clear_run),
        )
        .route("/api/v2/dags/{dag_id}/dagVersions", get(list_versions))
        .route(
            "/api/v2/dags/{dag_id}/dagVersions/{version_number}",
            get(get_version),
        )
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(iso_string(&t)))
}

/// Airflow 3's `triggered_by` of a run, from its type (lithoflow does not record who
/// triggered a manual run: `rest_api`).
fn triggered_by(r: &DagRunRecord) -> &'static str {
    match r.run_type.as_str() {
        "scheduled" => "timetable",
        "backfill" => "backfill",
        t if t == crate::assets::RUN_TYPE => "asset",
        _ => "rest_api",
    }
}

/// A run as Airflow 3.1's `DAGRunResponse`, its conf masked.
pub(crate) fn run_response(r: &DagRunRecord) -> Value {
    let duration = match (r.start_date, r.end_date) {
        (Some(s), Some(e)) => Value::from((e - s).num_microseconds().unwrap_or(0) as f64 / 1e6),
        _ => Value::Null,
    };
    json!({
        "dag_run_id": r.run_id,
        "dag_id": r.dag_id,
        "dag_display_name": r.dag_id,
        "logical_date": time(r.logical_date),
        "queued_at": time(r.queued_at),
        "start_date": time(r.start_date),
        "end_date": time(r.end_date),
        "duration": duration,
        "data_interval_start": time(r.data_interval_start),
        "data_interval_end": time(r.data_interval_end),
        "run_after": iso_string(&r.run_after),
        "last_scheduling_decision": time(crate::api::wire::updated_at(r)),
        "run_type": r.run_type,
        "state": r.state.name(),
        "triggered_by": triggered_by(r),
        "triggering_user_name": null,
        "conf": redact_map(&r.conf),
        "note": r.user_note,
        "dag_versions": [dag_version(&r.dag_id, None)],
        "bundle_version": null,
    })
}

/// A DAG the scheduler serves or served (its runs stay readable).
fn known(shared: &Shared, store: &Store, dag_id: &str) -> V2Result<()> {
    if shared.dag(dag_id).is_some() || store.dag(dag_id)?.is_some() {
        return Ok(());
    }
    Err(V2Error::not_found(format!(
        "The Dag with ID: `{dag_id}` was not found"
    )))
}

fn run_of(store: &Store, dag_id: &str, run_id: &str) -> V2Result<DagRunRecord> {
    store.run(dag_id, run_id)?.ok_or_else(|| {
        V2Error::not_found(format!(
            "The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found"
        ))
    })
}

fn range(q: &Query2, name: &str, missing_is_now: bool) -> V2Result<Range> {
    Ok(Range {
        gte: q.date(&format!("{name}_gte"))?,
        lte: q.date(&format!("{name}_lte"))?,
        gt: q.date(&format!("{name}_gt"))?,
        lt: q.date(&format!("{name}_lt"))?,
        missing_is_now,
    })
}

const STATES: &[&str] = &["queued", "running", "success", "failed"];
const RUN_TYPES: &[&str] = &["backfill", "scheduled", "manual", "asset_triggered"];

/// Values of an enum-valued list parameter, 422 for one not in `allowed`.
fn enum_list(q: &Query2, name: &str, allowed: &[&str]) -> V2Result<Vec<String>> {
    let values = q.all(name);
    if let Some(bad) = values.iter().find(|v| !allowed.contains(&v.as_str())) {
        return Err(V2Error::invalid(
            &["query", name],
            format!(
                "Invalid value for {name}. Valid values are {}: {bad:?}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(values)
}

/// `GET /dags/{dag_id}/dagRuns`: filtered, sorted by `order_by` (default `id`, i.e.
/// creation order), paged.
async fn list_runs(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let page = q.page()?;
    let order = q.order_by(V2_ORDER, "id")?;
    let pattern = q.last("run_id_pattern").map(str::to_lowercase);
    let filter = RunFilter {
        dag_ids: (dag_id != "~").then(|| vec![dag_id.clone()]),
        states: enum_list(&q, "state", STATES)?,
        run_types: enum_list(&q, "run_type", RUN_TYPES)?,
        logical: range(&q, "logical_date", false)?,
        start: range(&q, "start_date", true)?,
        end: range(&q, "end_date", true)?,
        updated: range(&q, "updated_at", false)?,
        run_after: range(&q, "run_after", false)?,
    };
    let sh = Arc::clone(&shared);
    read_v2(&shared, move |store| {
        if dag_id != "~" {
            known(&sh, store, &dag_id)?;
        }
        let (runs, total) = match &pattern {
            None => select_runs(store, &filter, &order, page)?,
            Some(p) => {
                let (all, _) = select_runs(store, &filter, &order, (usize::MAX, 0))?;
                let all: Vec<_> = all
                    .into_iter()
                    .filter(|r| r.run_id.to_lowercase().contains(p.as_str()))
                    .collect();
                let total = all.len();
                (all.into_iter().skip(page.1).take(page.0).collect(), total)
            }
        };
        Ok(json!({
            "dag_runs": runs.iter().map(run_response).collect::<Vec<_>>(),
            "total_entries": total,
        }))
    })
    .await
    .map(Json)
}

/// `DAGRunsBatchBody` (`extra="forbid"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    #[serde(default)]
    order_by: Option<String>,
    #[serde(default)]
    page_offset: Option<i64>,
    #[serde(default)]
    page_limit: Option<i64>,
    #[serde(default)]
    dag_ids: Option<Vec<String>>,
    #[serde(default)]
    states: Option<Vec<Option<String>>>,
    #[serde(default)]
    run_after_gte: Option<DateTime<Utc>>,
    #[serde(default)]
    run_after_gt: Option<DateTime<Utc>>,
    #[serde(default)]
    run_after_lte: Option<DateTime<Utc>>,
    #[serde(default)]
    run_after_lt: Option<DateTime<Utc>>,
    #[serde(default)]
    logical_date_gte: Option<DateTime<Utc>>,
    #[serde(default)]
    logical_date_gt: Option<DateTime<Utc>>,
    #[serde(default)]
    logical_date_lte: Option<DateTime<Utc>>,
    #[serde(default)]
    logical_date_lt: Option<DateTime<Utc>>,
    #[serde(default)]
    start_date_gte: Option<DateTime<Utc>>,
    #[serde(default)]
    start_date_gt: Option<DateTime<Utc>>,
    #[serde(default)]
    start_date_lte: Option<DateTime<Utc>>,
    #[serde(default)]
    start_date_lt: Option<DateTime<Utc>>,
    #[serde(default)]
    end_date_gte: Option<DateTime<Utc>>,
    #[serde(default)]
    end_date_gt: Option<DateTime<Utc>>,
    #[serde(default)]
    end_date_lte: Option<DateTime<Utc>>,
    #[serde(default)]
    end_date_lt: Option<DateTime<Utc>>,
}

/// A JSON body, 422 as FastAPI when it does not read.
fn body_of<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> V2Result<T> {
    let bytes = if bytes.is_empty() {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| V2Error::invalid(&["body"], e.to_string()))
}

/// `POST /dags/~/dagRuns/list`.
async fn list_runs_batch(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    bytes: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    if dag_id != "~" {
        return Err(V2Error::invalid(&["path", "dag_id"], "Input should be '~'"));
    }
    let b: BatchBody = body_of(&bytes)?;
    let offset = b.page_offset.unwrap_or(0);
    let limit = b.page_limit.unwrap_or(100);
    if offset < 0 || limit < 0 {
        return Err(V2Error::invalid(
            &["body", "page_limit"],
            "Input should be greater than or equal to 0",
        ));
    }
    let page = (
        usize::try_from(limit).unwrap_or(usize::MAX),
        usize::try_from(offset).unwrap_or(usize::MAX),
    );
    let order = OrderBy::parse(b.order_by.as_deref().unwrap_or("id"), V2_ORDER)
        .map_err(V2Error::bad_request)?;
    let r = |gte, gt, lte, lt, missing_is_now| Range {
        gte,
        gt,
        lte,
        lt,
        missing_is_now,
    };
    let filter = RunFilter {
        dag_ids: b.dag_ids.filter(|ids| !ids.is_empty()),
        states: b.states.unwrap_or_default().into_iter().flatten().collect(),
        run_after: r(
            b.run_after_gte,
            b.run_after_gt,
            b.run_after_lte,
            b.run_after_lt,
            false,
        ),
        logical: r(
            b.logical_date_gte,
            b.logical_date_gt,
            b.logical_date_lte,
            b.logical_date_lt,
            false,
        ),
        start: r(
            b.start_date_gte,
            b.start_date_gt,
            b.start_date_lte,
            b.start_date_lt,
            true,
        ),
        end: r(
            b.end_date_gte,
            b.end_date_gt,
            b.end_date_lte,
            b.end_date_lt,
            true,
        ),
        ..RunFilter::default()
    };
    read_v2(&shared, move |store| {
        let (runs, total) = select_runs(store, &filter, &order, page)?;
        Ok(json!({
            "dag_runs": runs.iter().map(run_response).collect::<Vec<_>>(),
            "total_entries": total,
        }))
    })
    .await
    .map(Json)
}

/// `GET /dags/{dag_id}/dagRuns/{dag_run_id}`.
async fn get_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
) -> V2Result<Json<Value>> {
    read_v2(&shared, move |store| {
        Ok(run_response(&run_of(store, &dag_id, &run_id)?))
    })
    .await
    .map(Json)
}

/// Airflow 3.1's `TriggerDAGRunPostBody` (`extra="forbid"`): `logical_date` is
/// required and may be null.
fn trigger_request(bytes: &[u8]) -> V2Result<TriggerRequest> {
    let body: Map<String, Value> = body_of(bytes)?;
    const FIELDS: &[&str] = &[
        "dag_run_id",
        "data_interval_start",
        "data_interval_end",
        "logical_date",
        "run_after",
        "conf",
        "note",
    ];
    if let Some(k) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(V2Error::invalid(
            &["body", k],
            "Extra inputs are not permitted",
        ));
    }
    if !body.contains_key("logical_date") {
        return Err(V2Error::invalid(
            &["body", "logical_date"],
            "Field required",
        ));
    }
    let date = |name: &str| -> V2Result<Option<DateTime<Utc>>> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| {
                    V2Error::invalid(
                        &["body", name],
                        format!("Input should be a valid datetime: {e}"),
                    )
                }),
            Some(_) => Err(V2Error::invalid(
                &["body", name],
                "Input should be a valid datetime",
            )),
        }
    };
    let string = |name: &str| -> V2Result<Option<String>> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(V2Error::invalid(
                &["body", name],
                "Input should be a valid string",
            )),
        }
    };
    let (start, end) = (date("data_interval_start")?, date("data_interval_end")?);
    let data_interval = match (start, end) {
        (Some(s), Some(e)) => Some((s, e)),
        (None, None) => None,
        _ => {
            return Err(V2Error::invalid(
                &["body"],
                "Value error, Either both data_interval_start and data_interval_end must be provided or both must be None",
            ));
        }
    };
    let conf = match body.get("conf") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(V2Error::invalid(
                &["body", "conf"],
                "Input should be a valid dictionary",
            ));
        }
    };
    let run_after = date("run_after")?.unwrap_or_else(Utc::now).trunc_subsecs(6);
    // lithoflow's runs always have a logical date: a null one is the run's `run_after`
    // (Airflow 3 leaves it null).
    let logical = date("logical_date")?.unwrap_or(run_after);
    Ok(TriggerRequest {
        run_id: Some(
            string("dag_run_id")?.unwrap_or_else(|| format!("manual__{}", iso_string(&run_after))),
        ),
        logical_date: Some(logical),
        data_interval,
        conf,
        note: string("note")?.filter(|n| !n.is_empty()),
        run_after: Some(run_after),
    })
}

/// `POST /dags/{dag_id}/dagRuns`: a queued manual run, made by the scheduler loop.
async fn trigger_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    bytes: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    dag_of(&shared, &dag_id)?;
    let req = trigger_request(&bytes)?;
    let run = ask(&shared, |reply| Request::Trigger {
        dag_id: dag_id.clone(),
        req,
        reply,
    })
    .await?;
    Ok(Json(run_response(&run)))
}

/// `DAGRunPatchBody` (`extra="forbid"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    note: Option<Option<String>>,
}

async fn existing(shared: &Arc<Shared>, dag_id: &str, run_id: &str) -> V2Result<()> {
    let (sh, d, r) = (Arc::clone(shared), dag_id.to_owned(), run_id.to_owned());
    read_v2(shared, move |store| {
        known(&sh, store, &d)?;
        run_of(store, &d, &r).map(|_| ())
    })
    .await
}

async fn run_now(shared: &Arc<Shared>, dag_id: String, run_id: String) -> V2Result<Json<Value>> {
    read_v2(shared, move |store| {
        Ok(run_response(&run_of(store, &dag_id, &run_id)?))
    })
    .await
    .map(Json)
}

/// `PATCH /dags/{dag_id}/dagRuns/{dag_run_id}`: its state (`queued`, `success`,
/// `failed`) and/or note, as `update_mask` says (default: the fields given).
async fn patch_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
    bytes: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let body: PatchBody = body_of(&bytes)?;
    let mask = q.all("update_mask");
    if let Some(bad) = mask.iter().find(|m| *m != "state" && *m != "note") {
        return Err(V2Error::bad_request(format!(
            "Invalid field `{bad}` in update mask"
        )));
    }
    let wants = |f: &str| mask.is_empty() || mask.iter().any(|m| m == f);
    existing(&shared, &dag_id, &run_id).await?;
    if let Some(state) = body.state.as_deref().filter(|_| wants("state")) {
        let state = match state {
            "queued" => RunState::Queued,
            "success" => RunState::Success,
            "failed" => RunState::Failed,
            other => {
                return Err(V2Error::invalid(
                    &["body", "state"],
                    format!("Input should be 'queued', 'success' or 'failed': {other:?}"),
                ));
            }
        };
        ask(&shared, |reply| Request::SetRunState {
            dag_id: dag_id.clone(),
            run_id: run_id.clone(),
            state,
            reply,
        })
        .await?;
    }
    if let Some(note) = body.note.filter(|_| wants("note")) {
        if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
            return Err(V2Error::invalid(
                &["body", "note"],
                "String should have at most 1000 characters",
            ));
        }
        ask(&shared, |reply| Request::SetNote {
            dag_id: dag_id.clone(),
            run_id: run_id.clone(),
            task: None,
            note,
            reply,
        })
        .await?;
    }
    run_now(&shared, dag_id, run_id).await
}

/// `DELETE /dags/{dag_id}/dagRuns/{dag_run_id}`: 204.
async fn delete_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
) -> V2Result<StatusCode> {
    existing(&shared, &dag_id, &run_id).await?;
    ask(&shared, |reply| Request::DeleteRun {
        dag_id: dag_id.clone(),
        run_id: run_id.clone(),
        reply,
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DAGRunClearBody` (`extra="forbid"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearBody {
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    only_failed: Option<bool>,
    #[serde(default)]
    run_on_latest_version: Option<bool>,
}

/// `POST /dags/{dag_id}/dagRuns/{dag_run_id}/clear`: a dry run (the default) answers the
/// task instances that would be cleared; otherwise the run, re-queued.
async fn clear_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    bytes: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    let body: ClearBody = body_of(&bytes)?;
    let _ = body.run_on_latest_version;
    existing(&shared, &dag_id, &run_id).await?;
    dag_of(&shared, &dag_id)?;
    let dry_run = body.dry_run.unwrap_or(true);
    let cleared = ask(&shared, |reply| Request::Clear {
        dag_id: dag_id.clone(),
        spec: ClearSpec {
            run_id: Some(run_id.clone()),
            only_failed: body.only_failed.unwrap_or(false),
            dry_run,
            ..ClearSpec::default()
        },
        reply,
    })
    .await?;
    if !dry_run {
        return run_now(&shared, dag_id, run_id).await;
    }
    let dag = shared.dag(&dag_id);
    read_v2(&shared, move |store| {
        let run = run_of(store, &dag_id, &run_id)?;
        let tis = store.tis(&dag_id, &run_id)?;
        let out: Vec<Value> = tis
            .iter()
            .filter(|ti| cleared.iter().any(|c| c.task_id == ti.task_id))
            .map(|ti| {
                let task = dag.as_ref().and_then(|d| d.task(&ti.task_id));
                json!({
                    "id": dag_version(&format!("{dag_id}/{run_id}/{}/{}", ti.task_id, ti.map_index), None)["id"],
                    "task_id": ti.task_id,
                    "dag_id": dag_id,
                    "dag_run_id": run_id,
                    "dag_display_name": dag_id,
                    "task_display_name": ti.task_id,
                    "map_index": ti.map_index,
                    "logical_date": time(run.logical_date),
                    "run_after": iso_string(&run.run_after),
                    "start_date": time(ti.start_date),
                    "end_date": time(ti.end_date),
                    "duration": ti.duration_s,
                    "state": (ti.state != crate::store::TaskState::None).then(|| ti.state.name()),
                    "try_number": ti.try_number,
                    "max_tries": ti.max_tries,
                    "pool": task.map_or("default_pool", |t| t.pool.as_str()),
                    "pool_slots": task.map_or(1, |t| t.pool_slots),
                    "priority_weight": task.map(|t| t.priority_weight),
                    "operator": task.map(|t| t.type_name()),
                    "queue": "default",
                    "executor_config": "{}",
                    "note": ti.note,
                    "rendered_map_index": ti.rendered_map_index,
                })
            })
            .collect();
        Ok(json!({"total_entries": out.len(), "task_instances": out}))
    })
    .await
    .map(Json)
}

/// `GET /dags/{dag_id}/dagVersions`: the one version lithoflow serves.
async fn list_versions(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
) -> V2Result<Json<Value>> {
    dag_of(&shared, &dag_id)?;
    Ok(Json(json!({
        "dag_versions": [dag_version(&dag_id, None)],
        "total_entries": 1,
    })))
}

/// `GET /dags/{dag_id}/dagVersions/{version_number}`: version 1 only.
async fn get_version(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, number]): Ids<2>,
) -> V2Result<Json<Value>> {
    dag_of(&shared, &dag_id)?;
    if number != "1" {
        return Err(V2Error::not_found(format!(
            "The DagVersion with dag_id: `{dag_id}` and version_number: `{number}` was not found"
        )));
    }
    Ok(Json(dag_version(&dag_id, None)))
}
