//! `/api/v2/variables` and `/api/v2/connections`, as Airflow 3.1 serves them
//! (`core_api/routes/public/variables.py`, `connections.py`; bodies
//! `datamodels/variables.py`, `connections.py`): list (`limit`, `offset`, `order_by`,
//! `variable_key_pattern` / `connection_id_pattern`), get, `POST` (201; 409 when taken),
//! `PATCH` one (`update_mask`), `DELETE` (204) and the bulk `PATCH` of the collection.
//! Secrets stay in: a variable whose key looks secret is answered `***` (and a JSON
//! object value with its secret-looking keys masked); a connection's `password` is
//! always null (Airflow 3 answers `***`), its extras' secret-looking values `***`.
//! `POST /connections/test` is 403, as Airflow's default `test_connection = Disabled`.
//! Changes are recorded in the event log under Airflow 3.1's names (the route
//! function's: `post_variable`, `patch_variable`, `delete_variable`, `bulk_variables`,
//! and the same for connections), without values or passwords.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::bulk::{self, Body2, Op, Resource, forbid_extra, int, masked, text};
use super::common::{Query2, V2Error, V2Result};
use crate::api::connections::audit_fields;
use crate::api::event_logs::{ilike_contains, record};
use crate::control::Shared;
use crate::values::{self, Connection, Variable};

/// The routes.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route(
            "/api/v2/variables",
            get(list_variables)
                .post(post_variable)
                .patch(bulk_variables),
        )
        .route(
            "/api/v2/variables/{variable_key}",
            get(get_variable)
                .patch(patch_variable)
                .delete(delete_variable),
        )
        .route(
            "/api/v2/connections",
            get(list_connections)
                .post(post_connection)
                .patch(bulk_connections),
        )
        .route(
            "/api/v2/connections/test",
            axum::routing::post(|| async {
                V2Error::new(
                    StatusCode::FORBIDDEN,
                    crate::api::connections::TEST_DISABLED,
                )
            }),
        )
        .route(
            "/api/v2/connections/{connection_id}",
            get(get_connection)
                .patch(patch_connection)
                .delete(delete_connection),
        )
}

/// A variable as Airflow 3.1's `VariableResponse`.
fn variable_json(v: &Variable) -> Value {
    let value = if values::is_sensitive(&v.key) {
        lithoflow_dag::redact::MASK.to_owned()
    } else {
        match serde_json::from_str::<Value>(&v.value) {
            Ok(obj @ Value::Object(_)) => {
                let shown = values::mask_json(&obj);
                if shown == obj {
                    v.value.clone()
                } else {
                    shown.to_string()
                }
            }
            _ => v.value.clone(),
        }
    };
    json!({
        "key": v.key,
        "value": value,
        "description": v.description,
        "is_encrypted": false,
    })
}

fn invalid(e: values::ValuesError) -> V2Error {
    match e {
        values::ValuesError::Invalid(m) => V2Error::bad_request(m),
        other => V2Error::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

fn sort_by<T>(items: &mut [T], desc: bool, key: impl Fn(&T) -> Value) {
    items.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        match (&ka, &kb) {
            (Value::Number(x), Value::Number(y)) => x.as_i64().cmp(&y.as_i64()),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            _ => ka.as_str().unwrap_or("").cmp(kb.as_str().unwrap_or("")),
        }
    });
    if desc {
        items.reverse();
    }
}

fn page<T>(items: Vec<T>, (limit, offset): (usize, usize)) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

/// `GET /variables`.
async fn list_variables(State(shared): State<Arc<Shared>>, uri: Uri) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let order = q.order_by(
        &["key", "id", "_val", "value", "description", "is_encrypted"],
        "id",
    )?;
    let mut all = shared.store.variables()?;
    if let Some(p) = q.last("variable_key_pattern") {
        all.retain(|v| ilike_contains(&v.key, p));
    }
    let field = order.field.clone();
    sort_by(&mut all, order.desc, |v| match field.as_str() {
        "description" => json!(v.description),
        "_val" | "value" => json!(v.value),
        "is_encrypted" => json!(false),
        _ => json!(v.key),
    });
    let total = all.len();
    let variables: Vec<Value> = page(all, q.page()?).iter().map(variable_json).collect();
    Ok(Json(
        json!({"variables": variables, "total_entries": total}),
    ))
}

fn variable_not_found(key: &str) -> V2Error {
    V2Error::not_found(format!("The Variable with key: `{key}` was not found"))
}

/// `GET /variables/{variable_key}`.
async fn get_variable(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(key): axum::extract::Path<String>,
) -> V2Result<Json<Value>> {
    match shared.store.variable(&key)? {
        Some(v) => Ok(Json(variable_json(&v))),
        None => Err(variable_not_found(&key)),
    }
}

/// A variable's value as given: a string as it is, any other JSON as JSON text.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads a `VariableBody` (`key`, `value`, `description`).
fn variable_body(body: &Map<String, Value>) -> V2Result<Variable> {
    forbid_extra(body, &["key", "value", "description"])?;
    let key = text(body, "key", true)?.unwrap_or_default();
    let Some(value) = body.get("value") else {
        return Err(V2Error::invalid(&["body", "value"], "Field required"));
    };
    values::check_variable_key(&key).map_err(invalid)?;
    Ok(Variable {
        key,
        value: value_text(value),
        description: text(body, "description", false)?,
    })
}

fn set(shared: &Shared, v: &Variable) -> V2Result<()> {
    values::set_variable(&shared.store, &v.key, &v.value, v.description.as_deref()).map_err(invalid)
}

/// `POST /variables`: 201, 409 when the key is taken.
async fn post_variable(
    State(shared): State<Arc<Shared>>,
    Body2(body): Body2,
) -> V2Result<(StatusCode, Json<Value>)> {
    let var = variable_body(&body)?;
    if shared.store.variable(&var.key)?.is_some() {
        return Err(V2Error::conflict(format!(
            "The Variable with key: `{}` already exists",
            var.key
        )));
    }
    set(&shared, &var)?;
    record(
        &shared.store,
        "post_variable",
        &json!({"key": var.key, "description": var.description, "method": "POST"}),
    );
    Ok((StatusCode::CREATED, Json(variable_json(&var))))
}

/// `PATCH /variables/{variable_key}?update_mask=value`.
async fn patch_variable(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(key): axum::extract::Path<String>,
    uri: Uri,
    Body2(body): Body2,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let given = variable_body(&body)?;
    if given.key != key {
        return Err(V2Error::bad_request(
            "Invalid body, key from request body doesn't match uri parameter",
        ));
    }
    let Some(mut var) = shared.store.variable(&key)? else {
        return Err(variable_not_found(&key));
    };
    let mask = q.all("update_mask");
    for f in masked(&body, &mask, &["value", "description"]) {
        match f {
            "value" => var.value.clone_from(&given.value),
            _ => var.description.clone_from(&given.description),
        }
    }
    set(&shared, &var)?;
    record(
        &shared.store,
        "patch_variable",
        &json!({"key": key, "description": var.description, "update_mask": mask, "method": "PATCH"}),
    );
    Ok(Json(variable_json(&var)))
}

/// `DELETE /variables/{variable_key}`: 204.
async fn delete_variable(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(key): axum::extract::Path<String>,
) -> V2Result<StatusCode> {
    if shared.store.delete_variable(&key)? {
        record(
            &shared.store,
            "delete_variable",
            &json!({"variable_key": key, "method": "DELETE"}),
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(variable_not_found(&key))
    }
}

/// Checks every entity of a bulk body with `check` before any action runs, as pydantic
/// validates the whole body first.
fn check_entities(
    body: &Map<String, Value>,
    check: impl Fn(&Map<String, Value>) -> V2Result<()>,
) -> V2Result<()> {
    let actions = body.get("actions").and_then(Value::as_array);
    for a in actions.into_iter().flatten() {
        if a.get("action").and_then(Value::as_str) == Some("delete") {
            continue;
        }
        let entities = a.get("entities").and_then(Value::as_array);
        for e in entities.into_iter().flatten() {
            if let Value::Object(o) = e {
                check(o)?;
            }
        }
    }
    Ok(())
}

/// `PATCH /variables`: bulk create, update, delete.
async fn bulk_variables(
    State(shared): State<Arc<Shared>>,
    Body2(body): Body2,
) -> V2Result<Json<Value>> {
    check_entities(&body, |o| variable_body(o).map(|_| ()))?;
    let existing: BTreeSet<String> = shared
        .store
        .variables()?
        .into_iter()
        .map(|v| v.key)
        .collect();
    let res = Resource {
        plural: "variables",
        key_words: "keys",
        key_field: "key",
        existing,
    };
    let answer = bulk::run(&body, res, |op| match op {
        Op::Create(o) | Op::Update(o) => {
            let v = variable_body(o).map_err(|e| format!("{e:?}"))?;
            set(&shared, &v).map_err(|e| format!("{e:?}"))
        }
        Op::Delete(k) => shared
            .store
            .delete_variable(k)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    })?;
    record(
        &shared.store,
        "bulk_variables",
        &json!({"result": answer, "method": "PATCH"}),
    );
    Ok(Json(answer))
}

/// A connection as Airflow 3.1's `ConnectionResponse` (the password null).
fn connection_json(c: &Connection) -> Value {
    json!({
        "connection_id": c.conn_id,
        "conn_type": c.conn_type,
        "description": c.description,
        "host": c.host,
        "login": c.login,
        "schema": c.schema,
        "port": c.port,
        "password": null,
        "extra": values::shown_extra(c.extra.as_deref()),
    })
}

fn connection_not_found(id: &str) -> V2Error {
    V2Error::not_found(format!(
        "The Connection with connection_id: `{id}` was not found"
    ))
}

/// `GET /connections`.
async fn list_connections(State(shared): State<Arc<Shared>>, uri: Uri) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let order = q.order_by(
        &[
            "conn_id",
            "connection_id",
            "conn_type",
            "description",
            "host",
            "port",
            "id",
        ],
        "id",
    )?;
    let mut all = shared.store.connections()?;
    if let Some(p) = q.last("connection_id_pattern") {
        all.retain(|c| ilike_contains(&c.conn_id, p));
    }
    let field = order.field.clone();
    sort_by(&mut all, order.desc, |c| match field.as_str() {
        "conn_type" => json!(c.conn_type),
        "description" => json!(c.description),
        "host" => json!(c.host),
        "port" => json!(c.port),
        _ => json!(c.conn_id),
    });
    let total = all.len();
    let connections: Vec<Value> = page(all, q.page()?).iter().map(connection_json).collect();
    Ok(Json(
        json!({"connections": connections, "total_entries": total}),
    ))
}

/// `GET /connections/{connection_id}`.
async fn get_connection(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> V2Result<Json<Value>> {
    match shared.store.connection(&id)? {
        Some(c) => Ok(Json(connection_json(&c))),
        None => Err(connection_not_found(&id)),
    }
}

/// The fields of Airflow 3.1's `ConnectionBody`.
const CONN_FIELDS: &[&str] = &[
    "connection_id",
    "conn_type",
    "description",
    "host",
    "login",
    "schema",
    "port",
    "password",
    "extra",
];

/// Reads a `ConnectionBody`: `connection_id` (`^[\w.-]+$`, at most 200) and `conn_type`
/// required.
fn connection_body(body: &Map<String, Value>) -> V2Result<Connection> {
    forbid_extra(body, CONN_FIELDS)?;
    let conn_id = text(body, "connection_id", true)?.unwrap_or_default();
    if conn_id.is_empty()
        || conn_id.len() > 200
        || !conn_id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(V2Error::invalid(
            &["body", "connection_id"],
            "String should match pattern '^[\\w.-]+$' (at most 200 characters)",
        ));
    }
    values::check_conn_id(&conn_id).map_err(invalid)?;
    let Some(conn_type) = text(body, "conn_type", true)? else {
        return Err(V2Error::invalid(
            &["body", "conn_type"],
            "Input should be a valid string",
        ));
    };
    let extra = text(body, "extra", false)?;
    if let Some(e) = &extra
        && !matches!(serde_json::from_str::<Value>(e), Ok(Value::Object(_)))
    {
        return Err(V2Error::invalid(
            &["body", "extra"],
            "Value error, The `extra` field must be a valid JSON object (e.g., {\"key\": \"value\"})",
        ));
    }
    let port = int(body, "port", false)?
        .map(|p| {
            u16::try_from(p).map_err(|_| {
                V2Error::invalid(&["body", "port"], format!("a port is 0-65535, found {p}"))
            })
        })
        .transpose()?;
    Ok(Connection {
        conn_id,
        conn_type,
        description: text(body, "description", false)?,
        host: text(body, "host", false)?,
        schema: text(body, "schema", false)?,
        login: text(body, "login", false)?,
        password: text(body, "password", false)?,
        port,
        extra,
    })
}

/// `POST /connections`: 201, 409 when the id is taken.
async fn post_connection(
    State(shared): State<Arc<Shared>>,
    Body2(body): Body2,
) -> V2Result<(StatusCode, Json<Value>)> {
    let conn = connection_body(&body)?;
    if shared.store.connection(&conn.conn_id)?.is_some() {
        return Err(V2Error::conflict(format!(
            "Connection with connection_id: `{}` already exists",
            conn.conn_id
        )));
    }
    shared.store.put_connection(&conn)?;
    let mut extra = audit_fields(&conn);
    extra["method"] = json!("POST");
    record(&shared.store, "post_connection", &extra);
    Ok((StatusCode::CREATED, Json(connection_json(&conn))))
}

/// Copies the `fields` of `from` into `to`.
fn patch_fields(to: &mut Connection, from: Connection, fields: &[&str]) {
    for f in fields {
        match *f {
            "conn_type" => to.conn_type.clone_from(&from.conn_type),
            "description" => to.description.clone_from(&from.description),
            "host" => to.host.clone_from(&from.host),
            "login" => to.login.clone_from(&from.login),
            "schema" => to.schema.clone_from(&from.schema),
            "port" => to.port = from.port,
            "password" => to.password.clone_from(&from.password),
            "extra" => to.extra.clone_from(&from.extra),
            _ => {}
        }
    }
}

/// `PATCH /connections/{connection_id}?update_mask=host`.
async fn patch_connection(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    uri: Uri,
    Body2(body): Body2,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let given = connection_body(&body)?;
    if given.conn_id != id {
        return Err(V2Error::bad_request(
            "The connection_id in the request body does not match the URL parameter",
        ));
    }
    let Some(mut conn) = shared.store.connection(&id)? else {
        return Err(connection_not_found(&id));
    };
    let mask = q.all("update_mask");
    let fields = masked(&body, &mask, &CONN_FIELDS[1..]);
    patch_fields(&mut conn, given, &fields);
    shared.store.put_connection(&conn)?;
    let mut extra = audit_fields(&conn);
    extra["method"] = json!("PATCH");
    extra["update_mask"] = json!(mask);
    record(&shared.store, "patch_connection", &extra);
    Ok(Json(connection_json(&conn)))
}

/// `DELETE /connections/{connection_id}`: 204.
async fn delete_connection(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> V2Result<StatusCode> {
    if shared.store.delete_connection(&id)? {
        record(
            &shared.store,
            "delete_connection",
            &json!({"connection_id": id, "method": "DELETE"}),
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(connection_not_found(&id))
    }
}

/// `PATCH /connections`: bulk create, update, delete.
async fn bulk_connections(
    State(shared): State<Arc<Shared>>,
    Body2(body): Body2,
) -> V2Result<Json<Value>> {
    check_entities(&body, |o| connection_body(o).map(|_| ()))?;
    let existing: BTreeSet<String> = shared
        .store
        .connections()?
        .into_iter()
        .map(|c| c.conn_id)
        .collect();
    let res = Resource {
        plural: "connections",
        key_words: "connection_ids",
        key_field: "connection_id",
        existing,
    };
    let answer = bulk::run(&body, res, |op| match op {
        Op::Create(o) => {
            let c = connection_body(o).map_err(|e| format!("{e:?}"))?;
            shared.store.put_connection(&c).map_err(|e| e.to_string())
        }
        Op::Update(o) => {
            let c = connection_body(o).map_err(|e| format!("{e:?}"))?;
            let mut old = shared
                .store
                .connection(&c.conn_id)
                .map_err(|e| e.to_string())?
                .unwrap_or_else(|| c.clone());
            let fields: Vec<&str> = CONN_FIELDS[1..]
                .iter()
                .copied()
                .filter(|f| o.contains_key(*f))
                .collect();
            patch_fields(&mut old, c, &fields);
            shared.store.put_connection(&old).map_err(|e| e.to_string())
        }
        Op::Delete(k) => shared
            .store
            .delete_connection(k)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    })?;
    record(
        &shared.store,
        "bulk_connections",
        &json!({"result": answer, "method": "PATCH"}),
    );
    Ok(Json(answer))
}
