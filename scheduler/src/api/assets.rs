//! `/datasets`, as Airflow 2.10's stable REST API (`airflow/api_connexion/endpoints/
//! dataset_endpoint.py` and `dag_run_endpoint.py::get_upstream_dataset_events`, Airflow
//! 2.10.5): the assets (list with `limit`, `offset`, `order_by`, `uri_pattern`,
//! `dag_ids`; one by URI), their events (list with the source filters; `POST` records an
//! event from outside, which may trigger DAGs scheduled on the asset), and the events
//! that triggered a run. Extras are redacted.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use serde_json::{Map, Value};

use super::extract::{ApiError, ApiResult, Body, Ids, Params, paged};
use crate::control::Shared;
use crate::store::{AssetEventRecord, AssetRecord, EventSource, Store, StoreError};
use lithoflow_api::{
    BasicDagRun, CreateDatasetEvent, DagScheduleDatasetReference, Dataset, DatasetCollection,
    DatasetEvent, DatasetEventCollection, QueuedEvent, QueuedEventCollection,
    TaskOutletDatasetReference,
};
use lithoflow_dag::redact::redact_map;

/// The asset's wire form, with the loaded DAGs scheduled on it and the tasks updating it.
fn dataset(shared: &Shared, a: AssetRecord) -> Dataset {
    let dags = shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut consuming_dags = Vec::new();
    let mut producing_tasks = Vec::new();
    for dag in dags.dags.values() {
        if crate::assets::condition(dag).is_some_and(|c| c.assets().iter().any(|x| x.uri == a.uri))
        {
            consuming_dags.push(DagScheduleDatasetReference {
                dag_id: dag.dag_id.clone(),
                created_at: Some(a.created_at),
                updated_at: Some(a.updated_at),
            });
        }
        for t in dag
            .tasks
            .iter()
            .filter(|t| t.outlets.iter().any(|x| x.uri == a.uri))
        {
            producing_tasks.push(TaskOutletDatasetReference {
                dag_id: dag.dag_id.clone(),
                task_id: t.task_id.clone(),
                created_at: Some(a.created_at),
                updated_at: Some(a.updated_at),
            });
        }
    }
    Dataset {
        id: a.id,
        uri: a.uri,
        name: a.name,
        group: a.group,
        extra: Some(redact_map(&a.extra)),
        created_at: Some(a.created_at),
        updated_at: Some(a.updated_at),
        consuming_dags,
        producing_tasks,
        aliases: Vec::new(),
    }
}

/// The runs each event triggered, read once per answer.
struct Triggered(HashMap<u64, Vec<(String, String)>>);

impl Triggered {
    fn read(store: &Store) -> Result<Triggered, StoreError> {
        store.runs_triggered_by_events().map(Triggered)
    }
}

fn event(
    store: &Store,
    ids: &HashMap<String, u64>,
    triggered: &Triggered,
    e: AssetEventRecord,
) -> Result<DatasetEvent, StoreError> {
    let mut created_dagruns = Vec::new();
    for (dag_id, run_id) in triggered.0.get(&e.id).into_iter().flatten() {
        if let Some(r) = store.run(dag_id, run_id)? {
            created_dagruns.push(BasicDagRun {
                run_id: r.run_id,
                dag_id: r.dag_id,
                state: r.state.into(),
                logical_date: r.logical_date,
                start_date: r.start_date,
                end_date: r.end_date,
                data_interval_start: r.data_interval_start,
                data_interval_end: r.data_interval_end,
            });
        }
    }
    Ok(DatasetEvent {
        id: e.id,
        dataset_id: ids.get(&e.uri).copied().unwrap_or(0),
        dataset_uri: e.uri,
        extra: Some(redact_map(&e.extra)),
        source_dag_id: e.source.dag_id,
        source_task_id: e.source.task_id,
        source_run_id: e.source.run_id,
        source_map_index: Some(e.source.map_index),
        created_dagruns,
        timestamp: e.timestamp,
    })
}

fn asset_ids(store: &Store) -> Result<HashMap<String, u64>, StoreError> {
    Ok(store.assets()?.into_iter().map(|a| (a.uri, a.id)).collect())
}

/// A URI as asked for: as written, else normalised as the DAG format normalises it.
fn find_asset(store: &Store, uri: &str) -> Result<Option<AssetRecord>, StoreError> {
    if let Some(a) = store.asset(uri)? {
        return Ok(Some(a));
    }
    match lithoflow_dag::asset::sanitize_uri(uri) {
        Ok(normal) if normal != uri => store.asset(&normal),
        _ => Ok(None),
    }
}

/// `GET /datasets`.
pub(super) async fn list_datasets(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<DatasetCollection>> {
    let params = Params::parse(
        &uri,
        &["limit", "offset", "order_by", "uri_pattern", "dag_ids"],
    )?;
    let mut all: Vec<Dataset> = shared
        .store
        .assets()?
        .into_iter()
        .map(|a| dataset(&shared, a))
        .collect();
    if let Some(pattern) = params.last("uri_pattern") {
        let pattern = pattern.to_lowercase();
        all.retain(|d| d.uri.to_lowercase().contains(&pattern));
    }
    if let Some(ids) = params.last("dag_ids") {
        let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
        all.retain(|d| {
            d.consuming_dags
                .iter()
                .any(|c| ids.contains(&c.dag_id.as_str()))
                || d.producing_tasks
                    .iter()
                    .any(|t| ids.contains(&t.dag_id.as_str()))
        });
    }
    let order = params.last("order_by").unwrap_or("id");
    let (desc, field) = order
        .strip_prefix('-')
        .map_or((false, order), |f| (true, f));
    match field {
        "id" => all.sort_by_key(|d| d.id),
        "uri" => all.sort_by(|a, b| a.uri.cmp(&b.uri)),
        "created_at" => all.sort_by_key(|d| (d.created_at, d.id)),
        "updated_at" => all.sort_by_key(|d| (d.updated_at, d.id)),
        other => {
            return Err(ApiError::bad_request(format!(
                "Ordering with '{other}' is disallowed or the attribute does not exist on the model; use id, uri, created_at or updated_at"
            )));
        }
    }
    if desc {
        all.reverse();
    }
    let total_entries = all.len();
    Ok(Json(DatasetCollection {
        datasets: paged(all, params.page()?),
        total_entries,
    }))
}

/// `GET /datasets/{uri}` (the URI percent-encoded, or as it is).
pub(super) async fn get_dataset(
    State(shared): State<Arc<Shared>>,
    Path(asked): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Dataset>> {
    Params::parse(&uri, &[])?;
    match find_asset(&shared.store, &asked)? {
        Some(a) => Ok(Json(dataset(&shared, a))),
        None => Err(ApiError::not_found(format!(
            "The Dataset with uri: `{asked}` was not found"
        ))),
    }
}

/// `GET /datasets/events`.
pub(super) async fn list_dataset_events(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<DatasetEventCollection>> {
    let params = Params::parse(
        &uri,
        &[
            "limit",
            "offset",
            "order_by",
            "dataset_id",
            "uri",
            "source_dag_id",
            "source_task_id",
            "source_run_id",
            "source_map_index",
        ],
    )?;
    let store = &shared.store;
    let ids = asset_ids(store)?;
    let mut all = store.asset_events_after(0)?;
    if let Some(id) = params.number("dataset_id")? {
        all.retain(|e| ids.get(&e.uri) == Some(&id));
    }
    if let Some(asked) = params.last("uri") {
        let normal = lithoflow_dag::asset::sanitize_uri(asked).unwrap_or_else(|_| asked.to_owned());
        all.retain(|e| e.uri == asked || e.uri == normal);
    }
    for (name, get) in [
        (
            "source_dag_id",
            (|s: &EventSource| s.dag_id.clone()) as fn(&EventSource) -> Option<String>,
        ),
        ("source_task_id", |s| s.task_id.clone()),
        ("source_run_id", |s| s.run_id.clone()),
        ("source_map_index", |s| Some(s.map_index.to_string())),
    ] {
        if let Some(want) = params.last(name) {
            all.retain(|e| get(&e.source).as_deref() == Some(want));
        }
    }
    let order = params.last("order_by").unwrap_or("timestamp");
    let (desc, field) = order
        .strip_prefix('-')
        .map_or((false, order), |f| (true, f));
    match field {
        "timestamp" | "id" => {}
        "source_dag_id" => all.sort_by(|a, b| a.source.dag_id.cmp(&b.source.dag_id)),
        "source_task_id" => all.sort_by(|a, b| a.source.task_id.cmp(&b.source.task_id)),
        "source_run_id" => all.sort_by(|a, b| a.source.run_id.cmp(&b.source.run_id)),
        "source_map_index" => all.sort_by_key(|e| e.source.map_index),
        other => {
            return Err(ApiError::bad_request(format!(
                "Ordering with '{other}' is disallowed or the attribute does not exist on the model; use timestamp, source_dag_id, source_task_id, source_run_id or source_map_index"
            )));
        }
    }
    if desc {
        all.reverse();
    }
    let total_entries = all.len();
    let triggered = Triggered::read(store)?;
    let dataset_events = paged(all, params.page()?)
        .into_iter()
        .map(|e| event(store, &ids, &triggered, e))
        .collect::<Result<_, _>>()?;
    Ok(Json(DatasetEventCollection {
        dataset_events,
        total_entries,
    }))
}

/// `POST /datasets/events` (Airflow 2.9+): records an event of a known asset, its extra
/// marked `from_rest_api` as Airflow marks it; the scheduler then queues it for the
/// DAGs scheduled on the asset.
pub(super) async fn post_dataset_event(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Body(body): Body<CreateDatasetEvent>,
) -> ApiResult<Json<DatasetEvent>> {
    Params::parse(&uri, &[])?;
    let store = &shared.store;
    let Some(asset) = find_asset(store, &body.dataset_uri)? else {
        return Err(ApiError::not_found(format!(
            "Dataset with uri: '{}' not found",
            body.dataset_uri
        )));
    };
    let mut extra: Map<String, Value> = body.extra.unwrap_or_default();
    extra.insert("from_rest_api".to_owned(), Value::Bool(true));
    crate::engine::check_space(&shared.settings.home.join("state"), 0)
        .map_err(|e| ApiError::new(axum::http::StatusCode::INSUFFICIENT_STORAGE, e.to_string()))?;
    let ev = store.add_asset_event(
        &asset.uri,
        extra,
        EventSource::default(),
        chrono::Utc::now(),
    )?;
    store.flush()?;
    let ids = asset_ids(store)?;
    Ok(Json(event(store, &ids, &Triggered(HashMap::new()), ev)?))
}

/// `GET /dags/{dag_id}/dagRuns/{dag_run_id}/upstreamDatasetEvents`: the events that
/// triggered the run.
pub(super) async fn upstream_dataset_events(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> ApiResult<Json<DatasetEventCollection>> {
    Params::parse(&uri, &[])?;
    let store = &shared.store;
    if store.run(&dag_id, &run_id)?.is_none() {
        return Err(ApiError::not_found(format!(
            "DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found"
        )));
    }
    let ids = asset_ids(store)?;
    let triggered = Triggered::read(store)?;
    let dataset_events: Vec<DatasetEvent> = store
        .run_asset_events(&dag_id, &run_id)?
        .into_iter()
        .map(|e| event(store, &ids, &triggered, e))
        .collect::<Result<_, _>>()?;
    Ok(Json(DatasetEventCollection {
        total_entries: dataset_events.len(),
        dataset_events,
    }))
}

/// `GET /dags/{dag_id}/datasets/queuedEvent`: the assets updated since the DAG's last
/// asset-triggered run (Airflow 2.10's `get_dag_dataset_queued_events`); 404 when none.
pub(super) async fn dag_queued_events(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<QueuedEventCollection>> {
    Params::parse(&uri, &["before"])?;
    let queued_events: Vec<QueuedEvent> = shared
        .store
        .asset_queue(&dag_id)?
        .into_iter()
        .map(|q| QueuedEvent {
            uri: q.uri,
            dag_id: dag_id.clone(),
            created_at: Some(q.created_at),
        })
        .collect();
    if queued_events.is_empty() {
        return Err(ApiError::not_found(format!(
            "Queue event with dag_id: `{dag_id}` was not found"
        )));
    }
    Ok(Json(QueuedEventCollection {
        total_entries: queued_events.len(),
        queued_events,
    }))
}
