//! `/pools`, as Airflow 2's stable REST API (`airflow/api_connexion/endpoints/
//! pool_endpoint.py`, Airflow 2.10.5): list (`limit`, `offset`, `order_by` of `name`,
//! `slots` or `id`), get, post (create; 409 when the name is taken), patch
//! (`update_mask`; `default_pool` keeps its name), delete (`default_pool` cannot be).
//! Each pool carries its slot counts at the moment, from the scheduler's slot arbiter;
//! a change reaches the arbiter at once. Changes are recorded in the event log as
//! Airflow 2.10 names them (`api.post_pool`, `api.patch_pool`, `api.delete_pool`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::event_logs::record;
use super::extract::{ApiError, ApiResult, Body, Ids, Params, paged};
use super::lookup::{known_dag, read, run_of, ti_of};
use crate::control::Shared;
use crate::store::{DEFAULT_POOL, PoolRecord, check_pool};
use lithoflow_api::{Pool, PoolCollection, TaskFailedDependency, TaskInstanceDependencyCollection};

/// A pool with its slot counts now.
pub(crate) fn wire(p: PoolRecord, shared: &Shared) -> Pool {
    let usage = shared
        .pools
        .as_ref()
        .and_then(|a| a.usage().get(&p.name).copied())
        .unwrap_or_default();
    let occupied = usage.running;
    Pool {
        open_slots: if p.slots < 0 { -1 } else { p.slots - occupied },
        name: p.name,
        slots: p.slots,
        occupied_slots: occupied,
        running_slots: usage.running,
        queued_slots: 0,
        scheduled_slots: usage.scheduled,
        deferred_slots: 0,
        description: Some(p.description),
        include_deferred: p.include_deferred,
    }
}

/// What the event log keeps of a pool.
pub(crate) fn audit_fields(p: &PoolRecord) -> Value {
    json!({
        "name": p.name,
        "slots": p.slots,
        "description": p.description,
        "include_deferred": p.include_deferred,
    })
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Pool with name:'{name}' not found"))
}

/// Tells the slot arbiter that pools changed.
fn changed(shared: &Shared) {
    if let Some(a) = &shared.pools {
        a.reload();
    }
}

/// `GET /pools`.
pub(super) async fn list_pools(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<PoolCollection>> {
    let params = Params::parse(&uri, &["limit", "offset", "order_by"])?;
    let mut all = shared.store.pools()?;
    let order = params.last("order_by").unwrap_or("id");
    let (desc, field) = match order.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, order),
    };
    match field {
        // Pools have no numeric id here: `id` is the name's order.
        "name" | "id" => {}
        "slots" => all.sort_by_key(|p| p.slots),
        other => {
            return Err(ApiError::bad_request(format!(
                "Ordering with '{other}' is disallowed or the attribute does not exist on the model"
            )));
        }
    }
    if desc {
        all.reverse();
    }
    let total_entries = all.len();
    let pools = paged(all, params.page()?)
        .into_iter()
        .map(|p| wire(p, &shared))
        .collect();
    Ok(Json(PoolCollection {
        pools,
        total_entries,
    }))
}

/// `GET /pools/{pool_name}`.
pub(super) async fn get_pool(
    State(shared): State<Arc<Shared>>,
    Ids([name]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<Pool>> {
    Params::parse(&uri, &[])?;
    match shared.store.pool(&name)? {
        Some(p) => Ok(Json(wire(p, &shared))),
        None => Err(not_found(&name)),
    }
}

/// The writable fields of a body, checked: (name, slots, description, include_deferred),
/// each None when absent.
type Fields = (
    Option<String>,
    Option<i64>,
    Option<Option<String>>,
    Option<bool>,
);

fn fields(body: &Map<String, Value>) -> ApiResult<Fields> {
    const READ_ONLY: &[&str] = &[
        "occupied_slots",
        "running_slots",
        "queued_slots",
        "scheduled_slots",
        "deferred_slots",
        "open_slots",
    ];
    let mut out: Fields = (None, None, None, None);
    for (k, v) in body {
        match (k.as_str(), v) {
            ("name", Value::String(s)) => out.0 = Some(s.clone()),
            ("slots", Value::Number(n)) if n.as_i64().is_some() => out.1 = n.as_i64(),
            ("description", Value::String(s)) => out.2 = Some(Some(s.clone())),
            ("description", Value::Null) => out.2 = Some(None),
            ("include_deferred", Value::Bool(b)) => out.3 = Some(*b),
            (f, _) if READ_ONLY.contains(&f) => {}
            ("name" | "slots" | "description" | "include_deferred", other) => {
                let want = match k.as_str() {
                    "name" | "description" => "a string",
                    "slots" => "an integer",
                    _ => "a boolean",
                };
                return Err(ApiError::bad_request(format!(
                    "{{'{k}': ['Not a valid {}.']}}: found {other}",
                    want.trim_start_matches("a ").trim_start_matches("an ")
                )));
            }
            (f, _) => {
                return Err(ApiError::bad_request(format!(
                    "{{'{f}': ['Unknown field.']}}"
                )));
            }
        }
    }
    Ok(out)
}

fn missing(body: &Map<String, Value>) -> ApiResult<()> {
    let missing: Vec<&str> = ["name", "slots"]
        .into_iter()
        .filter(|f| !body.contains_key(*f))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        // Python's repr of the sorted list, as Airflow prints it.
        let names: Vec<String> = missing.iter().map(|m| format!("'{m}'")).collect();
        Err(ApiError::bad_request(format!(
            "Missing required property(ies): [{}]",
            names.join(", ")
        )))
    }
}

/// `POST /pools`: creates.
pub(super) async fn post_pool(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult<Json<Pool>> {
    Params::parse(&uri, &[])?;
    missing(&body)?;
    let (name, slots, description, include_deferred) = fields(&body)?;
    let (name, slots) = (name.unwrap_or_default(), slots.unwrap_or_default());
    check_pool(&name, slots).map_err(ApiError::bad_request)?;
    if shared.store.pool(&name)?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Pool: {name} already exists"),
        ));
    }
    let rec = PoolRecord::new(
        &name,
        slots,
        &description.flatten().unwrap_or_default(),
        include_deferred.unwrap_or(false),
    );
    shared.store.put_pool(&rec)?;
    shared.store.flush()?;
    changed(&shared);
    record(&shared.store, "api.post_pool", &audit_fields(&rec));
    Ok(Json(wire(rec, &shared)))
}

/// `PATCH /pools/{pool_name}?update_mask=slots,description`.
pub(super) async fn patch_pool(
    State(shared): State<Arc<Shared>>,
    Ids([name]): Ids<1>,
    uri: Uri,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult<Json<Pool>> {
    let params = Params::parse(&uri, &["update_mask"])?;
    let mask = params.all("update_mask");
    // Only slots and include_deferred may change in default_pool, as Airflow.
    let only_slots =
        !mask.is_empty() && mask.iter().all(|m| m == "slots" || m == "include_deferred");
    if name == DEFAULT_POOL
        && body.get("name").and_then(Value::as_str) != Some(DEFAULT_POOL)
        && !only_slots
    {
        return Err(ApiError::bad_request(
            "Default Pool's name can't be modified",
        ));
    }
    let Some(mut pool) = shared.store.pool(&name)? else {
        return Err(not_found(&name));
    };
    let (new_name, slots, description, include_deferred) = fields(&body)?;
    if mask.is_empty() {
        missing(&body)?;
    }
    for field in &mask {
        if !["name", "slots", "description", "include_deferred"].contains(&field.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid field: {field} in update mask"
            )));
        }
    }
    let take = |f: &str| mask.is_empty() || mask.iter().any(|m| m == f);
    let old_name = pool.name.clone();
    if take("name")
        && let Some(n) = new_name
    {
        pool.name = n;
    }
    if take("slots")
        && let Some(s) = slots
    {
        pool.slots = s;
    }
    if take("description")
        && let Some(d) = description
    {
        pool.description = d.unwrap_or_default();
    }
    if take("include_deferred")
        && let Some(b) = include_deferred
    {
        pool.include_deferred = b;
    }
    check_pool(&pool.name, pool.slots).map_err(ApiError::bad_request)?;
    if pool.name != old_name {
        if shared.store.pool(&pool.name)?.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("Pool: {} already exists", pool.name),
            ));
        }
        shared.store.delete_pool(&old_name)?;
    }
    shared.store.put_pool(&pool)?;
    shared.store.flush()?;
    changed(&shared);
    let mut extra = audit_fields(&pool);
    extra["pool_name"] = json!(old_name);
    extra["update_mask"] = json!(mask);
    record(&shared.store, "api.patch_pool", &extra);
    Ok(Json(wire(pool, &shared)))
}

/// `DELETE /pools/{pool_name}`: 204.
pub(super) async fn delete_pool(
    State(shared): State<Arc<Shared>>,
    Ids([name]): Ids<1>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    Params::parse(&uri, &[])?;
    if name == DEFAULT_POOL {
        return Err(ApiError::bad_request("Default Pool can't be deleted"));
    }
    if shared.store.delete_pool(&name)? {
        shared.store.flush()?;
        changed(&shared);
        record(
            &shared.store,
            "api.delete_pool",
            &json!({"pool_name": name}),
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name))
    }
}

/// `GET /dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/dependencies`: what
/// a scheduled instance waits for (Airflow 2.10's route; lithoflow reports the pool,
/// `max_active_tasks` and `max_active_tis_per_dag` dependencies, with the pool and how
/// many waiting instances come before it). Every instance of the task.
pub(super) async fn ti_dependencies(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> ApiResult<Json<TaskInstanceDependencyCollection>> {
    Params::parse(&uri, &[])?;
    let dependencies = dependencies_of(&shared, &dag_id, &run_id, &task_id, None).await?;
    Ok(Json(TaskInstanceDependencyCollection { dependencies }))
}

/// `GET .../taskInstances/{task_id}/{map_index}/dependencies`: the same for one
/// instance of a mapped task.
pub(super) async fn mapped_ti_dependencies(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, index]): Ids<4>,
    uri: Uri,
) -> ApiResult<Json<TaskInstanceDependencyCollection>> {
    Params::parse(&uri, &[])?;
    let map_index: i32 = index.parse().map_err(|_| {
        ApiError::bad_request(format!("`map_index` must be an integer, found {index:?}"))
    })?;
    let dependencies =
        dependencies_of(&shared, &dag_id, &run_id, &task_id, Some(map_index)).await?;
    Ok(Json(TaskInstanceDependencyCollection { dependencies }))
}

/// The unmet dependencies of a task's waiting instances (one map index, or all), after
/// checking the DAG, the run and the task instance exist (404 otherwise). Shared with
/// `/api/v2`.
pub(super) async fn dependencies_of(
    shared: &Arc<Shared>,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    map_index: Option<i32>,
) -> ApiResult<Vec<TaskFailedDependency>> {
    let sh = Arc::clone(shared);
    let (d, r, t) = (dag_id.to_owned(), run_id.to_owned(), task_id.to_owned());
    read(shared, move |store| {
        known_dag(&sh, store, &d)?;
        run_of(store, &d, &r)?;
        match map_index {
            None => ti_of(store, &d, &r, &t).map(|_| ()),
            Some(i) => store.ti_at(&d, &r, &t, i)?.map(|_| ()).ok_or_else(|| {
                ApiError::not_found(format!(
                    "Task instance `{t}` (map index {i}) of run `{r}` not found"
                ))
            }),
        }
    })
    .await?;
    Ok(shared
        .pools
        .as_ref()
        .map(|a| a.waiting(dag_id, run_id))
        .unwrap_or_default()
        .into_iter()
        .filter(|w| w.task_id == task_id && map_index.is_none_or(|i| i == w.map_index))
        .map(|w| TaskFailedDependency {
            name: w.dependency.to_owned(),
            reason: w.reason,
            pool: Some(w.pool),
            ahead: Some(w.ahead),
        })
        .collect())
}
