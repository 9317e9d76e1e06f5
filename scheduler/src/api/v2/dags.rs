//! `/api/v2` DAGs, tasks and DAG sources as Airflow 3.1's public API serves them
//! (`api_fastapi/core_api/routes/public/dags.py`, `tasks.py`, `dag_sources.py`;
//! `datamodels/dags.py`, `tasks.py`): `GET|PATCH /dags`, `GET|PATCH /dags/{dag_id}`,
//! `GET /dags/{dag_id}/details`, `GET /dags/{dag_id}/tasks[/{task_id}]`,
//! `GET /dagSources/{dag_id}`.
//!
//! lithoflow has no DAG bundles or versions: `bundle_name` is `dags-folder` (Airflow's
//! name of the DAGs-folder bundle), `bundle_version` null, and every DAG has one version
//! (number 1, its id derived from the DAG id).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{Query2, V2Error, V2Result};
use crate::api::dags as v1;
use crate::api::extract::Ids;
use crate::api::lookup::ask;
use crate::control::{Request, Shared};
use crate::store::Store;
use lithoflow_api::iso_string;
use lithoflow_dag::Dag;

/// The routes of this module.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/api/v2/dags", get(list_dags).patch(patch_dags))
        .route("/api/v2/dags/{dag_id}", get(get_dag).patch(patch_dag))
        .route("/api/v2/dags/{dag_id}/details", get(get_dag_details))
        .route("/api/v2/dags/{dag_id}/tasks", get(list_tasks))
        .route("/api/v2/dags/{dag_id}/tasks/{task_id}", get(get_task))
        .route("/api/v2/dagSources/{dag_id}", get(get_dag_source))
}

/// Airflow's name of the DAGs folder's bundle.
pub(crate) const BUNDLE: &str = "dags-folder";

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(iso_string(&t)))
}

/// Airflow 3's `timetable.summary`: a cron preset as the expression it stands for
/// (`CronMixin` through `airflow.utils.dates.cron_presets`), anything else as written;
/// no schedule (NullTimetable's "None") is null, as `DAGResponse`'s validator answers.
fn timetable_summary(dag: &Dag) -> Option<&str> {
    let written = dag.schedule_str()?;
    Some(match written {
        "@hourly" => "0 * * * *",
        "@daily" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@quarterly" => "0 0 1 */3 *",
        "@yearly" => "0 0 1 1 *",
        other => other,
    })
}

/// A loaded DAG, or 404 as Airflow 3 says it.
pub(crate) fn dag_of(shared: &Shared, dag_id: &str) -> V2Result<Arc<Dag>> {
    shared
        .dag(dag_id)
        .ok_or_else(|| V2Error::not_found(format!("Dag with id {dag_id} was not found")))
}

/// The one version lithoflow serves of a DAG (Airflow 3's `DagVersionResponse`): its id
/// a UUID derived from the DAG id, so it stays the same across restarts.
pub(crate) fn dag_version(
    dag_id: &str,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Value {
    // Two FNV-1a hashes of the id, as a version-4-shaped UUID.
    let fnv = |seed: u64| {
        dag_id.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    let hex = format!("{a:016x}{b:016x}");
    let id = format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    );
    json!({
        "id": id,
        "version_number": 1,
        "dag_id": dag_id,
        "dag_display_name": dag_id,
        "bundle_name": BUNDLE,
        "bundle_version": null,
        "bundle_url": null,
        "created_at": iso_string(&created_at.unwrap_or(chrono::DateTime::UNIX_EPOCH)),
    })
}

/// A DAG as Airflow 3.1's `DAGResponse`, from what `/api/v1` says of it.
fn dag_response(info: &lithoflow_api::DagInfo, dag: &Dag) -> Value {
    json!({
        "dag_id": info.dag_id,
        "dag_display_name": info.dag_id,
        "is_paused": info.is_paused,
        "is_stale": false,
        "last_parsed_time": time(info.last_parsed_time),
        "last_parse_duration": null,
        "last_expired": null,
        "bundle_name": BUNDLE,
        "bundle_version": null,
        "relative_fileloc": dag.fileloc.file_name().map(|f| f.to_string_lossy().into_owned()),
        "fileloc": info.fileloc,
        "description": info.description,
        "timetable_summary": timetable_summary(dag),
        "timetable_description": info.timetable_description,
        "tags": info.tags.iter().map(|t| json!({"name": t.name, "dag_id": info.dag_id, "dag_display_name": info.dag_id})).collect::<Vec<_>>(),
        "max_active_tasks": info.max_active_tasks,
        "max_active_runs": info.max_active_runs,
        "max_consecutive_failed_dag_runs": 0,
        "has_task_concurrency_limits": info.has_task_concurrency_limits,
        "has_import_errors": info.has_import_errors,
        "next_dagrun_logical_date": time(info.next_dagrun),
        "next_dagrun_data_interval_start": time(info.next_dagrun_data_interval_start),
        "next_dagrun_data_interval_end": time(info.next_dagrun_data_interval_end),
        "next_dagrun_run_after": time(info.next_dagrun_create_after),
        "owners": info.owners,
        "file_token": info.file_token,
    })
}

/// `DAGResponse`s of these DAGs.
fn responses(shared: &Arc<Shared>, store: &Store, dags: Vec<Arc<Dag>>) -> V2Result<Vec<Value>> {
    let infos = v1::infos(shared, store, dags.clone())?;
    Ok(infos
        .iter()
        .zip(&dags)
        .map(|(i, d)| dag_response(i, d))
        .collect())
}

/// What the DAG list and the bulk patch filter on (Airflow 3.1's `get_dags` parameters
/// lithoflow has data for; the others are accepted and filter nothing).
struct DagFilter {
    tags: Vec<String>,
    tags_all: bool,
    owners: Vec<String>,
    id_pattern: Option<String>,
    name_pattern: Option<String>,
    paused: Option<bool>,
    has_import_errors: Option<bool>,
    has_asset_schedule: Option<bool>,
    last_run_state: Vec<String>,
}

impl DagFilter {
    fn parse(q: &Query2) -> V2Result<DagFilter> {
        let pattern = |name: &str| {
            q.last(name)
                .filter(|p| !p.is_empty() && *p != "~")
                .map(str::to_lowercase)
        };
        Ok(DagFilter {
            tags: q.all("tags"),
            tags_all: q.last("tags_match_mode") == Some("all"),
            owners: q.all("owners"),
            id_pattern: pattern("dag_id_pattern"),
            name_pattern: pattern("dag_display_name_pattern"),
            paused: q.bool("paused")?,
            has_import_errors: q.bool("has_import_errors")?,
            has_asset_schedule: q.bool("has_asset_schedule")?,
            last_run_state: q.all("last_dag_run_state"),
        })
    }

    fn select(&self, shared: &Shared, store: &Store) -> V2Result<Vec<Arc<Dag>>> {
        let set = shared
            .dags
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let broken = |d: &Dag| set.import_errors.iter().any(|e| e.filepath == d.fileloc);
        let mut out = Vec::new();
        for d in set.dags.values() {
            let id = d.dag_id.to_lowercase();
            let tag_ok = if self.tags_all {
                self.tags.iter().all(|t| d.tags.contains(t))
            } else {
                self.tags.is_empty() || d.tags.iter().any(|t| self.tags.contains(t))
            };
            let owners = v1::owners(d);
            if !tag_ok
                || !(self.owners.is_empty() || owners.iter().any(|o| self.owners.contains(o)))
                || self.id_pattern.as_deref().is_some_and(|p| !id.contains(p))
                || self
                    .name_pattern
                    .as_deref()
                    .is_some_and(|p| !id.contains(p))
                || self.has_import_errors.is_some_and(|b| broken(d) != b)
                || self
                    .has_asset_schedule
                    .is_some_and(|b| crate::assets::condition(d).is_some() != b)
            {
                continue;
            }
            if let Some(p) = self.paused
                && crate::ops::is_paused(store, d)? != p
            {
                continue;
            }
            if !self.last_run_state.is_empty() {
                let last = store.recent_runs(&d.dag_id, 0, 1)?;
                if !last
                    .first()
                    .is_some_and(|r| self.last_run_state.iter().any(|s| s == r.state.name()))
                {
                    continue;
                }
            }
            out.push(Arc::clone(d));
        }
        out.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
        Ok(out)
    }
}

/// `GET /dags`: filtered, sorted by `order_by` (default `dag_id`), paged.
async fn list_dags(State(shared): State<Arc<Shared>>, uri: Uri) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let page = q.page()?;
    let order = q.order_by(
        &[
            "dag_id",
            "dag_display_name",
            "next_dagrun",
            "state",
            "start_date",
            "last_run_state",
            "last_run_start_date",
        ],
        "dag_id",
    )?;
    let filter = DagFilter::parse(&q)?;
    let sh = Arc::clone(&shared);
    read_v2(&shared, move |store| {
        let mut dags = filter.select(&sh, store)?;
        if order.field == "next_dagrun" {
            let set = sh
                .dags
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let next = |d: &Dag| {
                set.next_run
                    .get(&d.dag_id)
                    .copied()
                    .flatten()
                    .map(|i| i.logical_date())
            };
            dags.sort_by(|a, b| {
                next(a)
                    .is_none()
                    .cmp(&next(b).is_none())
                    .then_with(|| next(a).cmp(&next(b)))
            });
        }
        if order.desc {
            dags.reverse();
        }
        let total = dags.len();
        let (limit, offset) = page;
        let page: Vec<_> = dags.into_iter().skip(offset).take(limit).collect();
        Ok(json!({"dags": responses(&sh, store, page)?, "total_entries": total}))
    })
    .await
    .map(Json)
}

/// A store read on the blocking pool, with `/api/v2` errors.
pub(crate) async fn read_v2<T, F>(shared: &Arc<Shared>, f: F) -> V2Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> V2Result<T> + Send + 'static,
{
    let store = Arc::clone(&shared.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| V2Error::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// `GET /dags/{dag_id}`.
async fn get_dag(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
) -> V2Result<Json<Value>> {
    let dag = dag_of(&shared, &dag_id)?;
    let sh = Arc::clone(&shared);
    read_v2(&shared, move |store| {
        responses(&sh, store, vec![dag])?
            .pop()
            .ok_or_else(|| V2Error::not_found(format!("Dag with id {dag_id} was not found")))
    })
    .await
    .map(Json)
}

/// `GET /dags/{dag_id}/details`: `DAGDetailsResponse`.
async fn get_dag_details(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
) -> V2Result<Json<Value>> {
    let dag = dag_of(&shared, &dag_id)?;
    let sh = Arc::clone(&shared);
    read_v2(&shared, move |store| {
        let infos = v1::infos(&sh, store, vec![Arc::clone(&dag)])?;
        let info = infos
            .first()
            .ok_or_else(|| V2Error::not_found(format!("Dag with id {dag_id} was not found")))?;
        let mut v = dag_response(info, &dag);
        let extra = json!({
            "catchup": dag.catchup,
            "dag_run_timeout": dag.dagrun_timeout.map(iso_duration),
            "asset_expression": info.dataset_expression,
            "doc_md": null,
            "start_date": time(dag.start_date),
            "end_date": time(dag.end_date),
            "is_paused_upon_creation": dag.is_paused_upon_creation,
            "params": v1::dag_detail(&dag, info.clone()).params,
            "render_template_as_native_obj": dag.templates.render_template_as_native_obj,
            "template_search_path": null,
            "timezone": v1::dag_timezone(&dag),
            "last_parsed": null,
            "default_args": null,
            "owner_links": null,
            "is_favorite": false,
            "concurrency": dag.max_active_tasks,
            "latest_dag_version": dag_version(&dag.dag_id, None),
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        Ok(v)
    })
    .await
    .map(Json)
}

/// A duration as pydantic writes a `timedelta` (ISO 8601: `PT1H`, `P1DT30M`).
pub(crate) fn iso_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let micros = d.subsec_micros();
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if rest > 0 || micros > 0 || days == 0 {
        out.push('T');
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if s > 0 || micros > 0 || rest == 0 {
            if micros > 0 {
                out.push_str(&format!("{s}.{micros:06}S"));
            } else {
                out.push_str(&format!("{s}S"));
            }
        }
    }
    out
}

/// `DAGPatchBody`: unknown fields are 422 (`extra="forbid"`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    is_paused: bool,
}

fn patch_body(body: &[u8]) -> V2Result<PatchBody> {
    serde_json::from_slice(body).map_err(|e| V2Error::invalid(&["body"], e.to_string()))
}

fn check_mask(q: &Query2) -> V2Result<()> {
    if q.all("update_mask").iter().any(|m| m != "is_paused") {
        return Err(V2Error::bad_request(
            "Only `is_paused` field can be updated through the REST API",
        ));
    }
    Ok(())
}

/// `PATCH /dags/{dag_id}`: pause or unpause, through the scheduler loop.
async fn patch_dag(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
    body: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    check_mask(&q)?;
    let patch = patch_body(&body)?;
    let dag = dag_of(&shared, &dag_id)?;
    ask(&shared, |reply| Request::SetPaused {
        dag_id: dag_id.clone(),
        paused: patch.is_paused,
        reply,
    })
    .await?;
    let sh = Arc::clone(&shared);
    read_v2(&shared, move |store| {
        responses(&sh, store, vec![dag])?
            .pop()
            .ok_or_else(|| V2Error::not_found(format!("Dag with id {dag_id} was not found")))
    })
    .await
    .map(Json)
}

/// `PATCH /dags`: pause or unpause the page of DAGs the filters select
/// (`dag_id_pattern` `~` or absent: every DAG).
async fn patch_dags(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    body: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    check_mask(&q)?;
    let patch = patch_body(&body)?;
    let (limit, offset) = q.page()?;
    let filter = DagFilter::parse(&q)?;
    let sh = Arc::clone(&shared);
    let (chosen, total) = read_v2(&shared, move |store| {
        let all = filter.select(&sh, store)?;
        let total = all.len();
        Ok((
            all.into_iter().skip(offset).take(limit).collect::<Vec<_>>(),
            total,
        ))
    })
    .await?;
    for dag in &chosen {
        ask(&shared, |reply| Request::SetPaused {
            dag_id: dag.dag_id.clone(),
            paused: patch.is_paused,
            reply,
        })
        .await?;
    }
    let sh = Arc::clone(&shared);
    read_v2(&shared, move |store| {
        Ok(json!({"dags": responses(&sh, store, chosen)?, "total_entries": total}))
    })
    .await
    .map(Json)
}

/// A task as Airflow 3.1's `TaskResponse`.
fn task_response(dag: &Dag, t: &lithoflow_dag::Task) -> Value {
    let info = v1::task_info(dag, t);
    json!({
        "task_id": info.task_id,
        "task_display_name": info.task_display_name,
        "owner": info.owner,
        "start_date": time(info.start_date),
        "end_date": time(info.end_date),
        "trigger_rule": info.trigger_rule,
        "depends_on_past": info.depends_on_past,
        "wait_for_downstream": false,
        "retries": info.retries,
        "queue": info.queue,
        "pool": info.pool,
        "pool_slots": info.pool_slots,
        "execution_timeout": info.execution_timeout,
        "retry_delay": info.retry_delay,
        "retry_exponential_backoff": info.retry_exponential_backoff,
        "priority_weight": info.priority_weight,
        "weight_rule": info.weight_rule,
        "ui_color": info.ui_color,
        "ui_fgcolor": info.ui_fgcolor,
        "template_fields": info.template_fields,
        "downstream_task_ids": info.downstream_task_ids,
        "doc_md": null,
        "operator_name": info.operator_name,
        "params": {},
        "class_ref": info.class_ref,
        "is_mapped": info.is_mapped,
        "extra_links": [],
    })
}

/// `GET /dags/{dag_id}/tasks`, sorted by `order_by` (default `task_id`).
async fn list_tasks(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let order = q.last("order_by").unwrap_or("task_id");
    let (desc, field) = match order.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, order),
    };
    let dag = dag_of(&shared, &dag_id)?;
    let mut infos: Vec<_> = dag.tasks.iter().map(|t| v1::task_info(&dag, t)).collect();
    if ![
        "task_id",
        "owner",
        "retries",
        "pool",
        "pool_slots",
        "priority_weight",
        "trigger_rule",
        "operator_name",
        "depends_on_past",
    ]
    .contains(&field)
    {
        return Err(V2Error::bad_request(format!(
            "Attribute '{field}' not found in Task"
        )));
    }
    v1::sort_tasks(&mut infos, field, desc);
    let tasks: Vec<Value> = infos
        .iter()
        .filter_map(|i| dag.task(&i.task_id))
        .map(|t| task_response(&dag, t))
        .collect();
    Ok(Json(json!({"total_entries": tasks.len(), "tasks": tasks})))
}

/// `GET /dags/{dag_id}/tasks/{task_id}`.
async fn get_task(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, task_id]): Ids<2>,
) -> V2Result<Json<Value>> {
    let dag = dag_of(&shared, &dag_id)?;
    let task = dag
        .task(&task_id)
        .ok_or_else(|| V2Error::not_found(format!("Task with id {task_id} was not found")))?;
    Ok(Json(task_response(&dag, task)))
}

/// `GET /dagSources/{dag_id}`: `DAGSourceResponse`, or the text alone when the client
/// asks for `text/plain`.
async fn get_dag_source(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    headers: HeaderMap,
) -> V2Result<Response> {
    let dag = dag_of(&shared, &dag_id)?;
    let content = std::fs::read_to_string(&dag.fileloc).map_err(|_| {
        V2Error::not_found(format!(
            "The source code of the DAG {dag_id}, version_number None was not found"
        ))
    })?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if accept.starts_with("text/plain") {
        return Ok(([(header::CONTENT_TYPE, "text/plain")], content).into_response());
    }
    Ok(Json(json!({
        "content": content,
        "dag_id": dag_id,
        "dag_display_name": dag_id,
        "version_number": 1,
    }))
    .into_response())
}
