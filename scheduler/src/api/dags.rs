//! The DAGs a scheduler serves, as Airflow 2.10's stable REST API
//! (`api_connexion/endpoints/dag_endpoint.py`, `task_endpoint.py`,
//! `dag_source_endpoint.py`): `GET|PATCH /dags`, `GET|PATCH /dags/{dag_id}`,
//! `.../details`, `.../tasks`, `.../tasks/{task_id}` and `GET /dagSources/{file_token}`
//! (the files that fail to load are in `stats.rs`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{ApiError, ApiResult, Body, Ids, Params, paged};
use super::lookup::{ask, loaded_dag, read};
use crate::control::{Request, Shared};
use crate::store::Store;
use lithoflow_api::{
    ClassRef, DagCollection, DagDetail, DagInfo, DagPatch, RECENT_RUNS, RecentRun, Tag,
    TaskCollection, TaskInfo, timedelta_json,
};
use lithoflow_dag::{Dag, Schedule};

/// What the DAG list needs from the DAG set, taken under its lock.
struct DagView {
    dag: Arc<Dag>,
    next: Option<lithoflow_dag::timetable::DagRunInfo>,
    has_import_errors: bool,
}

/// The DAGs that pass `filter`, in id order. Only `Arc`s are copied: the views of the
/// page that is answered are made afterwards ([`dag_views`]), not of every DAG (with
/// 1,000 DAGs, making a view of each took ~8% of the scheduler's CPU under load).
fn served_dags(shared: &Shared, filter: impl Fn(&Dag) -> bool) -> Vec<Arc<Dag>> {
    shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .dags
        .values()
        .filter(|d| filter(d))
        .cloned()
        .collect()
}

fn dag_views(shared: &Shared, dags: Vec<Arc<Dag>>) -> Vec<DagView> {
    let set = shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    dags.into_iter()
        .map(|dag| DagView {
            next: set.next_run.get(&dag.dag_id).copied().flatten(),
            has_import_errors: set.import_errors.iter().any(|e| e.filepath == dag.fileloc),
            dag,
        })
        .collect()
}

/// Airflow 2's `schedule_interval` object of a DAG's schedule: a cron expression or
/// preset (`@once`, `@continuous`, and `Dataset` for an asset schedule, as Airflow
/// 2.10 writes them) is a `CronExpression`, a duration a `TimeDelta`, none null.
pub(super) fn schedule_interval(d: &Dag) -> Option<Value> {
    match d.schedule.as_ref()? {
        Schedule::Delta { delta, .. } => Some(timedelta_json(*delta)),
        Schedule::Assets(_) => Some(json!({"__type": "CronExpression", "value": "Dataset"})),
        s => Some(json!({"__type": "CronExpression", "value": s.as_str()})),
    }
}

/// The `file_token` of a DAG file: its path, hex-encoded. `GET /dagSources/{token}`
/// serves only files a loaded DAG comes from, so a token names no other file.
pub(super) fn file_token(d: &Dag) -> String {
    d.fileloc
        .display()
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The path a `file_token` encodes (None: not a token).
pub(super) fn token_path(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// What the schedule means, where Airflow's timetables say it without a cron
/// description (`NullTimetable`, `OnceTimetable`, `ContinuousTimetable`, asset
/// schedules); null for cron and duration schedules.
fn timetable_description(d: &Dag) -> Option<String> {
    Some(
        match d.schedule.as_ref() {
            None => "Never, external triggers only",
            Some(Schedule::Once) => "Once, as soon as possible",
            Some(Schedule::Continuous) => "As frequently as possible, but only one run at a time.",
            Some(Schedule::Assets(_)) => "Triggered by assets",
            Some(_) => return None,
        }
        .to_owned(),
    )
}

/// Its tasks' owners, sorted, without repeats.
pub(super) fn owners(d: &Dag) -> Vec<String> {
    let mut owners: Vec<String> = d.tasks.iter().map(|t| t.owner.clone()).collect();
    owners.sort_unstable();
    owners.dedup();
    owners
}

pub(super) fn has_task_concurrency_limits(d: &Dag) -> bool {
    d.tasks
        .iter()
        .any(|t| t.max_active_tis_per_dag.is_some() || t.max_active_tis_per_dagrun.is_some())
}

fn dag_info(store: &Store, v: &DagView, recent: usize) -> ApiResult<DagInfo> {
    let d = &v.dag;
    let recent_runs = store
        .recent_runs(&d.dag_id, 0, recent)?
        .into_iter()
        .map(|r| RecentRun {
            dag_run_id: r.run_id,
            state: r.state.into(),
            run_after: r.run_after,
        })
        .collect();
    let timetable = serde_json::to_value(d.timetable)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(DagInfo {
        dag_id: d.dag_id.clone(),
        dag_display_name: d.dag_id.clone(),
        file_token: file_token(d),
        schedule_interval: schedule_interval(d),
        default_view: Some("grid".to_owned()),
        is_subdag: false,
        root_dag_id: None,
        last_parsed_time: None,
        last_pickled: None,
        last_expired: None,
        scheduler_lock: None,
        pickle_id: None,
        has_task_concurrency_limits: has_task_concurrency_limits(d),
        max_consecutive_failed_dag_runs: 0,
        description: d.description.clone(),
        fileloc: d.fileloc.display().to_string(),
        is_paused: crate::ops::is_paused(store, d)?,
        is_active: true,
        is_paused_upon_creation: d.is_paused_upon_creation,
        schedule: d.schedule_str().map(str::to_owned),
        timetable,
        timetable_description: timetable_description(d),
        dataset_expression: crate::assets::condition(d).map(|c| c.expression()),
        tags: d.tags.iter().map(|t| Tag { name: t.clone() }).collect(),
        owners: owners(d),
        max_active_runs: d.max_active_runs,
        max_active_tasks: d.max_active_tasks,
        catchup: d.catchup,
        start_date: d.start_date,
        end_date: d.end_date,
        next_dagrun: v.next.map(|i| i.logical_date()),
        next_dagrun_data_interval_start: v.next.map(|i| i.data_interval.start),
        next_dagrun_data_interval_end: v.next.map(|i| i.data_interval.end),
        next_dagrun_create_after: v.next.map(|i| i.run_after),
        has_import_errors: v.has_import_errors,
        recent_runs,
        was_paused: None,
    })
}

/// Which DAGs a list (or a bulk patch) is about: Airflow's `tags` (any of them),
/// `dag_id_pattern` (case-insensitive substring; `~` in a bulk patch: every DAG) and
/// `paused`, in `dag_id` order.
struct DagQuery {
    tags: Vec<String>,
    pattern: Option<String>,
    paused: Option<bool>,
}

impl DagQuery {
    fn from(params: &Params) -> ApiResult<DagQuery> {
        params.bool("only_active")?;
        Ok(DagQuery {
            tags: params.all("tags"),
            pattern: params
                .last("dag_id_pattern")
                .filter(|p| *p != "~")
                .map(str::to_lowercase),
            paused: params.bool("paused")?,
        })
    }

    /// The matching DAGs, sorted (`desc`: by id descending).
    fn select(&self, shared: &Shared, store: &Store, desc: bool) -> ApiResult<Vec<Arc<Dag>>> {
        let mut out = Vec::new();
        for dag in served_dags(shared, |d| {
            (self.tags.is_empty() || d.tags.iter().any(|t| self.tags.contains(t)))
                && self
                    .pattern
                    .as_deref()
                    .is_none_or(|p| d.dag_id.to_lowercase().contains(p))
        }) {
            if let Some(p) = self.paused
                && crate::ops::is_paused(store, &dag)? != p
            {
                continue;
            }
            out.push(dag);
        }
        out.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
        if desc {
            out.reverse();
        }
        Ok(out)
    }
}

/// Airflow's `fields`: only these fields of each DAG (an unknown one is 400).
fn dag_fields(info: &DagInfo, fields: &[String]) -> ApiResult<Value> {
    let value = serde_json::to_value(info).map_err(|e| ApiError::internal(e.to_string()))?;
    if fields.is_empty() {
        return Ok(value);
    }
    let mut out = serde_json::Map::new();
    for f in fields {
        let v = value
            .get(f)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid fields: {{'{f}'}}")))?;
        out.insert(f.clone(), v.clone());
    }
    Ok(Value::Object(out))
}

/// The [`DagInfo`]s of these DAGs (`/api/v2` builds its answers from them).
pub(super) fn infos(
    shared: &Shared,
    store: &Store,
    dags: Vec<Arc<Dag>>,
) -> ApiResult<Vec<DagInfo>> {
    dag_views(shared, dags)
        .iter()
        .map(|v| dag_info(store, v, RECENT_RUNS))
        .collect()
}

/// `GET /dags`: the DAGs served, filtered as Airflow 2.10's `get_dags`, in `dag_id`
/// order (`order_by=-dag_id` reverses it), paged.
pub(super) async fn list_dags(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(
        &uri,
        &[
            "limit",
            "offset",
            "order_by",
            "paused",
            "tags",
            "dag_id_pattern",
            "only_active",
            "fields",
            "recent_runs",
        ],
    )?;
    let page = params.page()?;
    let recent = params.recent_runs()?;
    let order = params.order_by(&["dag_id"], "dag_id")?;
    let fields = params.all("fields");
    let query = DagQuery::from(&params)?;
    let sh = Arc::clone(&shared);
    let dags = read(&shared, move |store| {
        let out = query.select(&sh, store, order.desc)?;
        let total_entries = out.len();
        let dags = dag_views(&sh, paged(out, page))
            .iter()
            .map(|v| dag_fields(&dag_info(store, v, recent)?, &fields))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(json!({"dags": dags, "total_entries": total_entries}))
    })
    .await?;
    Ok(Json(dags))
}

/// `PATCH /dags`: pause or unpause every DAG `dag_id_pattern` (required by Airflow's
/// document; `~` for all) and `tags` select, through the scheduler loop; the answer is
/// the page of DAGs changed, as they are now.
pub(super) async fn patch_dags(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Body(patch): Body<DagPatch>,
) -> ApiResult<Json<DagCollection>> {
    let params = Params::parse(
        &uri,
        &[
            "limit",
            "offset",
            "tags",
            "update_mask",
            "only_active",
            "dag_id_pattern",
        ],
    )?;
    check_update_mask(&params)?;
    if params.last("dag_id_pattern").is_none() {
        return Err(ApiError::bad_request(
            "Missing query parameter 'dag_id_pattern' (`~` for every DAG)",
        ));
    }
    let page = params.page()?;
    let query = DagQuery::from(&params)?;
    let sh = Arc::clone(&shared);
    let (chosen, total_entries) = read(&shared, move |store| {
        let all = query.select(&sh, store, false)?;
        let total = all.len();
        Ok((paged(all, page), total))
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
    let dags = read(&shared, move |store| {
        dag_views(&sh, chosen)
            .iter()
            .map(|v| dag_info(store, v, RECENT_RUNS))
            .collect::<ApiResult<Vec<_>>>()
    })
    .await?;
    Ok(Json(DagCollection {
        dags,
        total_entries,
    }))
}

/// Airflow's `update_mask` may only name the one field there is.
fn check_update_mask(params: &Params) -> ApiResult<()> {
    if params.all("update_mask").iter().any(|m| m != "is_paused") {
        return Err(ApiError::bad_request(
            "Only `is_paused` field can be updated through the REST API",
        ));
    }
    Ok(())
}

/// `GET /dags/{dag_id}`.
pub(super) async fn get_dag(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(&uri, &["fields", "recent_runs"])?;
    let recent = params.recent_runs()?;
    loaded_dag(&shared, &dag_id)?;
    let Json(info) = one_dag_info(&shared, dag_id, None, recent).await?;
    dag_fields(&info, &params.all("fields")).map(Json)
}

/// `GET /dags/{dag_id}/details`: Airflow's `DAGDetail`.
pub(super) async fn get_dag_details(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(&uri, &["fields"])?;
    let dag = loaded_dag(&shared, &dag_id)?;
    let Json(info) = one_dag_info(&shared, dag_id, None, RECENT_RUNS).await?;
    let detail = dag_detail(&dag, info);
    let value = serde_json::to_value(&detail).map_err(|e| ApiError::internal(e.to_string()))?;
    let fields = params.all("fields");
    if fields.is_empty() {
        return Ok(Json(value));
    }
    let mut out = serde_json::Map::new();
    for f in fields {
        let v = value
            .get(&f)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid fields: {{'{f}'}}")))?;
        out.insert(f, v.clone());
    }
    Ok(Json(Value::Object(out)))
}

/// A DAG's details around its [`DagInfo`].
pub(super) fn dag_detail(dag: &Dag, info: DagInfo) -> DagDetail {
    DagDetail {
        concurrency: f64::from(dag.max_active_tasks),
        dag_run_timeout: dag.dagrun_timeout.map(timedelta_json),
        doc_md: None,
        orientation: Some("LR".to_owned()),
        params: dag
            .params
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!({"__class": "airflow.models.param.Param", "value": v, "description": null, "schema": {}}),
                )
            })
            .collect(),
        render_template_as_native_obj: Some(dag.templates.render_template_as_native_obj),
        template_search_path: None,
        timezone: dag_timezone(dag),
        last_parsed: info.last_parsed_time,
        dag: info,
    }
}

/// The DAG's zone as Airflow names it (`UTC`, `Europe/Paris`, `+02:00`).
pub(super) fn dag_timezone(dag: &Dag) -> String {
    match &dag.timezone {
        lithoflow_dag::DagTimezone::Named(tz) => tz.name().to_owned(),
        lithoflow_dag::DagTimezone::Fixed(off) => off.to_string(),
    }
}

/// A loaded DAG's [`DagInfo`], with `was_paused` set as given.
async fn one_dag_info(
    shared: &Arc<Shared>,
    dag_id: String,
    was_paused: Option<bool>,
    recent: usize,
) -> ApiResult<Json<DagInfo>> {
    let views = dag_views(shared, shared.dag(&dag_id).into_iter().collect());
    read(shared, move |store| {
        let v = views
            .first()
            .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` is not loaded")))?;
        let mut info = dag_info(store, v, recent)?;
        info.was_paused = was_paused;
        Ok(info)
    })
    .await
    .map(Json)
}

/// `PATCH /dags/{dag_id}`: pause or unpause, through the scheduler loop.
pub(super) async fn patch_dag(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
    Body(patch): Body<DagPatch>,
) -> ApiResult<Json<DagInfo>> {
    let params = Params::parse(&uri, &["update_mask"])?;
    check_update_mask(&params)?;
    loaded_dag(&shared, &dag_id)?;
    let before = ask(&shared, |reply| Request::SetPaused {
        dag_id: dag_id.clone(),
        paused: patch.is_paused,
        reply,
    })
    .await?;
    one_dag_info(&shared, dag_id, Some(before), RECENT_RUNS).await
}

/// A task as Airflow's `Task` schema shows it (`api_connexion/schemas/task_schema.py`).
pub(super) fn task_info(dag: &Dag, t: &lithoflow_dag::Task) -> TaskInfo {
    let class_ref = match &t.operator {
        Some(op) => ClassRef {
            class_name: op.operator.clone(),
            module_path: op.operator_module.clone(),
        },
        None => ClassRef {
            class_name: t.type_name().to_owned(),
            module_path: "lithoflow".to_owned(),
        },
    };
    TaskInfo {
        task_id: t.task_id.clone(),
        operator_name: t
            .operator
            .as_ref()
            .map_or_else(|| t.type_name().to_owned(), |op| op.operator.clone()),
        upstream_task_ids: dag
            .graph
            .upstream(&t.task_id)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        downstream_task_ids: dag
            .graph
            .downstream(&t.task_id)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        trigger_rule: t.trigger_rule.name().to_owned(),
        retries: t.retries,
        owner: t.owner.clone(),
        depends_on_past: t.depends_on_past,
        class_ref: Some(class_ref),
        task_display_name: t.task_id.clone(),
        pool: t.pool.clone(),
        pool_slots: t.pool_slots,
        priority_weight: t.priority_weight,
        weight_rule: weight_rule(t.weight_rule).to_owned(),
        queue: Some("default".to_owned()),
        is_mapped: t.expand.is_some(),
        retry_delay: Some(timedelta_json(t.retry_delay)),
        retry_exponential_backoff: t.retry_exponential_backoff > 0.0,
        execution_timeout: t.execution_timeout.map(timedelta_json),
        wait_for_downstream: false,
        start_date: dag.start_date,
        end_date: dag.end_date,
        ui_color: "#fff".to_owned(),
        ui_fgcolor: "#000".to_owned(),
        template_fields: Vec::new(),
        extra_links: Vec::new(),
        doc_md: None,
        executor: None,
    }
}

/// Airflow's name of a weight rule.
pub(super) fn weight_rule(w: lithoflow_dag::WeightRule) -> &'static str {
    match w {
        lithoflow_dag::WeightRule::Downstream => "downstream",
        lithoflow_dag::WeightRule::Upstream => "upstream",
        lithoflow_dag::WeightRule::Absolute => "absolute",
    }
}

/// The fields Airflow's `get_tasks` sorts by (any attribute of the task; these are the
/// ones lithoflow has).
const TASK_ORDER: &[&str] = &[
    "task_id",
    "owner",
    "retries",
    "pool",
    "pool_slots",
    "priority_weight",
    "trigger_rule",
    "operator_name",
    "depends_on_past",
];

/// `GET /dags/{dag_id}/tasks`: sorted by `order_by` (Airflow's default: `task_id`).
pub(super) async fn list_tasks(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<TaskCollection>> {
    let params = Params::parse(&uri, &["order_by"])?;
    let order = params.order_by(TASK_ORDER, "task_id")?;
    let dag = loaded_dag(&shared, &dag_id)?;
    let mut tasks: Vec<TaskInfo> = dag.tasks.iter().map(|t| task_info(&dag, t)).collect();
    sort_tasks(&mut tasks, &order.field, order.desc);
    Ok(Json(TaskCollection {
        total_entries: tasks.len(),
        tasks,
    }))
}

/// Sorts tasks by one of [`TASK_ORDER`]'s fields.
pub(super) fn sort_tasks(tasks: &mut [TaskInfo], field: &str, desc: bool) {
    tasks.sort_by(|a, b| {
        let o = match field {
            "owner" => a.owner.cmp(&b.owner),
            "retries" => a.retries.cmp(&b.retries),
            "pool" => a.pool.cmp(&b.pool),
            "pool_slots" => a.pool_slots.cmp(&b.pool_slots),
            "priority_weight" => a.priority_weight.cmp(&b.priority_weight),
            "trigger_rule" => a.trigger_rule.cmp(&b.trigger_rule),
            "operator_name" => a.operator_name.cmp(&b.operator_name),
            "depends_on_past" => a.depends_on_past.cmp(&b.depends_on_past),
            _ => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.task_id.cmp(&b.task_id));
        if desc { o.reverse() } else { o }
    });
}

/// `GET /dags/{dag_id}/tasks/{task_id}`.
pub(super) async fn get_task(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, task_id]): Ids<2>,
    uri: Uri,
) -> ApiResult<Json<TaskInfo>> {
    Params::parse(&uri, &[])?;
    let dag = loaded_dag(&shared, &dag_id)?;
    let task = dag.task(&task_id).ok_or_else(|| {
        ApiError::not_found(format!(
            "Task with id: '{task_id}' not found in DAG `{dag_id}`"
        ))
    })?;
    Ok(Json(task_info(&dag, task)))
}

/// The source of a loaded DAG's file, by the file's path.
pub(super) fn dag_file_source(shared: &Shared, path: &str) -> Option<std::io::Result<String>> {
    let served = served_dags(shared, |d| d.fileloc.display().to_string() == path);
    let dag = served.first()?;
    Some(std::fs::read_to_string(&dag.fileloc))
}

/// `GET /dagSources/{file_token}`: the file's text, as JSON `{"content": ...}` when the
/// client accepts JSON, `text/plain` otherwise (Airflow's `dag_source_endpoint.py`).
pub(super) async fn get_dag_source(
    State(shared): State<Arc<Shared>>,
    Ids([token]): Ids<1>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    Params::parse(&uri, &[])?;
    let not_found = || ApiError::not_found("Dag source not found");
    let path = token_path(&token).ok_or_else(|| {
        ApiError::bad_request("Bad Signature. Please use only the tokens provided by the API.")
    })?;
    let content = dag_file_source(&shared, &path)
        .ok_or_else(not_found)?
        .map_err(|_| not_found())?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    if accept.contains("application/json") {
        return Ok(Json(json!({"content": content})).into_response());
    }
    if accept.contains("text/plain") || accept.contains("*/*") {
        return Ok(([(header::CONTENT_TYPE, "text/plain")], content).into_response());
    }
    Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, "Not Acceptable"))
}
