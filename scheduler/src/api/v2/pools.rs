//! `/api/v2/pools`, as Airflow 3.1 serves them (`core_api/routes/public/pools.py`,
//! `datamodels/pools.py`): list (`limit`, `offset`, `order_by` of `id`/`pool`/`name`,
//! `pool_name_pattern`), get, `POST` (201; 409 when taken), `PATCH` one (`update_mask`;
//! only `slots` and `include_deferred` of `default_pool`), `DELETE` (204; not
//! `default_pool`) and the bulk `PATCH`. Slot counts come from the scheduler's arbiter
//! as in `/api/v1` ([`crate::api::pools::wire`]). Changes are recorded in the event log
//! as Airflow 3.1 names them (`post_pool`, `patch_pool`, `delete_pool`, `bulk_pools`).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::bulk::{self, Body2, Op, Resource, boolean, forbid_extra, int, masked, text};
use super::common::{Query2, V2Error, V2Result};
use crate::api::event_logs::{ilike_contains, record};
use crate::api::pools::{audit_fields, wire};
use crate::control::Shared;
use crate::store::{DEFAULT_POOL, PoolRecord, check_pool};

/// The routes.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route(
            "/api/v2/pools",
            get(list_pools).post(post_pool).patch(bulk_pools),
        )
        .route(
            "/api/v2/pools/{pool_name}",
            get(get_pool).patch(patch_pool).delete(delete_pool),
        )
}

/// A pool as Airflow 3.1's `PoolResponse`.
fn pool_json(p: PoolRecord, shared: &Shared) -> Value {
    let w = wire(p, shared);
    json!({
        "name": w.name,
        "slots": w.slots,
        "description": w.description.filter(|d| !d.is_empty()),
        "include_deferred": w.include_deferred,
        "occupied_slots": w.occupied_slots,
        "running_slots": w.running_slots,
        "queued_slots": w.queued_slots,
        "scheduled_slots": w.scheduled_slots,
        "open_slots": w.open_slots,
        "deferred_slots": w.deferred_slots,
    })
}

fn not_found(name: &str) -> V2Error {
    V2Error::not_found(format!("The Pool with name: `{name}` was not found"))
}

fn changed(shared: &Shared) -> V2Result<()> {
    shared.store.flush()?;
    if let Some(a) = &shared.pools {
        a.reload();
    }
    Ok(())
}

/// `GET /pools`.
async fn list_pools(State(shared): State<Arc<Shared>>, uri: Uri) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let order = q.order_by(&["id", "pool", "name"], "id")?;
    let mut all = shared.store.pools()?;
    if let Some(p) = q.last("pool_name_pattern") {
        all.retain(|r| ilike_contains(&r.name, p));
    }
    // Pools have no numeric id here: `id` is the name's order (the store's).
    if order.desc {
        all.reverse();
    }
    let total = all.len();
    let (limit, offset) = q.page()?;
    let pools: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|p| pool_json(p, &shared))
        .collect();
    Ok(Json(json!({"pools": pools, "total_entries": total})))
}

/// `GET /pools/{pool_name}`.
async fn get_pool(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> V2Result<Json<Value>> {
    match shared.store.pool(&name)? {
        Some(p) => Ok(Json(pool_json(p, &shared))),
        None => Err(not_found(&name)),
    }
}

/// Reads a `PoolBody` (`name` and `slots` required).
fn pool_body(body: &Map<String, Value>) -> V2Result<PoolRecord> {
    forbid_extra(body, &["name", "slots", "description", "include_deferred"])?;
    let name = text(body, "name", true)?.unwrap_or_default();
    let slots = int(body, "slots", true)?.unwrap_or_default();
    if slots < -1 {
        return Err(V2Error::invalid(
            &["body", "slots"],
            "Input should be greater than or equal to -1",
        ));
    }
    check_pool(&name, slots).map_err(V2Error::bad_request)?;
    Ok(PoolRecord::new(
        &name,
        slots,
        &text(body, "description", false)?.unwrap_or_default(),
        boolean(body, "include_deferred")?.unwrap_or(false),
    ))
}

/// `POST /pools`: 201, 409 when the name is taken.
async fn post_pool(
    State(shared): State<Arc<Shared>>,
    Body2(body): Body2,
) -> V2Result<(StatusCode, Json<Value>)> {
    let rec = pool_body(&body)?;
    if shared.store.pool(&rec.name)?.is_some() {
        return Err(V2Error::conflict(format!(
            "The Pool with name: `{}` already exists",
            rec.name
        )));
    }
    shared.store.put_pool(&rec)?;
    changed(&shared)?;
    let mut extra = audit_fields(&rec);
    extra["method"] = json!("POST");
    record(&shared.store, "post_pool", &extra);
    Ok((StatusCode::CREATED, Json(pool_json(rec, &shared))))
}

/// `PATCH /pools/{pool_name}?update_mask=slots`.
async fn patch_pool(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    uri: Uri,
    Body2(body): Body2,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    // `PoolPatchBody`: every field optional; `pool` is the name's alias.
    forbid_extra(
        &body,
        &["name", "pool", "slots", "description", "include_deferred"],
    )?;
    let given_name = match text(&body, "name", false)? {
        Some(n) => Some(n),
        None => text(&body, "pool", false)?,
    };
    if given_name.as_ref().is_some_and(|n| *n != name) {
        return Err(V2Error::bad_request(
            "Invalid body, pool name from request body doesn't match uri parameter",
        ));
    }
    let mask: Vec<String> = q
        .all("update_mask")
        .iter()
        .flat_map(|m| m.split(','))
        .map(|m| m.trim().to_owned())
        .collect();
    if name == DEFAULT_POOL
        && (mask.is_empty() || !mask.iter().all(|m| m == "slots" || m == "include_deferred"))
    {
        return Err(V2Error::bad_request(
            "Only slots and included_deferred can be modified on Default Pool",
        ));
    }
    let Some(mut pool) = shared.store.pool(&name)? else {
        return Err(not_found(&name));
    };
    let slots = int(&body, "slots", false)?;
    if slots.is_some_and(|s| s < -1) {
        return Err(V2Error::invalid(
            &["body", "slots"],
            "Input should be greater than or equal to -1",
        ));
    }
    let fields = masked(&body, &mask, &["slots", "description", "include_deferred"]);
    if mask.is_empty() && (!body.contains_key("slots") || body.get("slots") == Some(&Value::Null)) {
        // Without a mask the body must be a whole pool (`BasePool.model_validate`).
        return Err(V2Error::invalid(&["body", "slots"], "Field required"));
    }
    for f in fields {
        match f {
            "slots" => {
                if let Some(s) = slots {
                    pool.slots = s;
                }
            }
            "description" => {
                pool.description = text(&body, "description", false)?.unwrap_or_default();
            }
            _ => {
                if let Some(b) = boolean(&body, "include_deferred")? {
                    pool.include_deferred = b;
                }
            }
        }
    }
    check_pool(&pool.name, pool.slots).map_err(V2Error::bad_request)?;
    shared.store.put_pool(&pool)?;
    changed(&shared)?;
    let mut extra = audit_fields(&pool);
    extra["method"] = json!("PATCH");
    extra["update_mask"] = json!(mask);
    record(&shared.store, "patch_pool", &extra);
    Ok(Json(pool_json(pool, &shared)))
}

/// `DELETE /pools/{pool_name}`: 204.
async fn delete_pool(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> V2Result<StatusCode> {
    if name == DEFAULT_POOL {
        return Err(V2Error::bad_request("Default Pool can't be deleted"));
    }
    if shared.store.delete_pool(&name)? {
        changed(&shared)?;
        record(
            &shared.store,
            "delete_pool",
            &json!({"pool_name": name, "method": "DELETE"}),
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name))
    }
}

/// `PATCH /pools`: bulk create, update, delete (`default_pool` cannot be deleted).
async fn bulk_pools(
    State(shared): State<Arc<Shared>>,
    Body2(body): Body2,
) -> V2Result<Json<Value>> {
    let actions = body.get("actions").and_then(Value::as_array);
    for a in actions.into_iter().flatten() {
        if a.get("action").and_then(Value::as_str) == Some("delete") {
            continue;
        }
        for e in a
            .get("entities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Value::Object(o) = e {
                pool_body(o)?;
            }
        }
    }
    let existing: BTreeSet<String> = shared.store.pools()?.into_iter().map(|p| p.name).collect();
    let res = Resource {
        plural: "pools",
        key_words: "pool names",
        key_field: "name",
        existing,
    };
    let answer = bulk::run(&body, res, |op| match op {
        Op::Create(o) | Op::Update(o) => {
            let rec = pool_body(o).map_err(|e| format!("{e:?}"))?;
            shared.store.put_pool(&rec).map_err(|e| e.to_string())
        }
        Op::Delete(k) if k == DEFAULT_POOL => Err("Default Pool can't be deleted".to_owned()),
        Op::Delete(k) => shared
            .store
            .delete_pool(k)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    })?;
    changed(&shared)?;
    record(
        &shared.store,
        "bulk_pools",
        &json!({"result": answer, "method": "PATCH"}),
    );
    Ok(Json(answer))
}
