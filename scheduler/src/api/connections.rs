//! `/connections`, as Airflow 2's stable REST API (`airflow/api_connexion/endpoints/
//! connection_endpoint.py`, Airflow 2.10.5): list (`limit`, `offset`, `order_by`), get,
//! post (409 when the id is taken), patch (`update_mask`), delete. The store's connections
//! only, as Airflow's API reads its table. The password is write-only (never answered);
//! the extras' values under secret-looking keys are answered as `***`. Changes are
//! recorded in the event log as Airflow 2.10 names them (`api.connection.create|edit|
//! delete`), without the password.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::event_logs::record;
use super::extract::{ApiError, ApiResult, Body, Ids, Params, paged};
use crate::control::Shared;
use crate::values::{self, Connection};
use lithoflow_api::{Connection as WireConnection, ConnectionCollection, ConnectionCollectionItem};

fn wire(c: &Connection) -> WireConnection {
    WireConnection {
        connection_id: c.conn_id.clone(),
        conn_type: c.conn_type.clone(),
        description: c.description.clone(),
        host: c.host.clone(),
        login: c.login.clone(),
        schema: c.schema.clone(),
        port: c.port,
        password: None,
        extra: values::shown_extra(c.extra.as_deref()),
    }
}

/// What the event log keeps of a connection: every field but the password, the
/// extras masked (Airflow's `_mask_connection_fields`).
pub(crate) fn audit_fields(c: &Connection) -> Value {
    json!({
        "connection_id": c.conn_id,
        "conn_type": c.conn_type,
        "description": c.description,
        "host": c.host,
        "login": c.login,
        "schema": c.schema,
        "port": c.port,
        "extra": values::shown_extra(c.extra.as_deref()),
    })
}

fn invalid(e: values::ValuesError) -> ApiError {
    match e {
        values::ValuesError::Invalid(m) => ApiError::bad_request(m),
        other => ApiError::internal(other.to_string()),
    }
}

/// `GET /connections`.
pub(super) async fn list_connections(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<ConnectionCollection>> {
    let params = Params::parse(&uri, &["limit", "offset", "order_by"])?;
    let mut all = shared.store.connections()?;
    let order = params.last("order_by").unwrap_or("connection_id");
    let (desc, field) = match order.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, order),
    };
    let key = |c: &Connection| -> Value {
        match field {
            "connection_id" | "conn_id" | "id" => Value::from(c.conn_id.clone()),
            "conn_type" => Value::from(c.conn_type.clone()),
            "description" => Value::from(c.description.clone()),
            "host" => Value::from(c.host.clone()),
            "port" => Value::from(c.port),
            _ => Value::Null,
        }
    };
    if ![
        "connection_id",
        "conn_id",
        "id",
        "conn_type",
        "description",
        "host",
        "port",
    ]
    .contains(&field)
    {
        return Err(ApiError::bad_request(format!(
            "Ordering with '{order}' is disallowed or the attribute does not exist on the model"
        )));
    }
    all.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        let o = match (&ka, &kb) {
            (Value::Number(x), Value::Number(y)) => x.as_u64().cmp(&y.as_u64()),
            _ => ka.as_str().unwrap_or("").cmp(kb.as_str().unwrap_or("")),
        };
        o.then_with(|| a.conn_id.cmp(&b.conn_id))
    });
    if desc {
        all.reverse();
    }
    let total_entries = all.len();
    let connections = paged(all, params.page()?)
        .into_iter()
        .map(|c| ConnectionCollectionItem {
            connection_id: c.conn_id,
            conn_type: c.conn_type,
            description: c.description,
            host: c.host,
            login: c.login,
            schema: c.schema,
            port: c.port,
        })
        .collect();
    Ok(Json(ConnectionCollection {
        connections,
        total_entries,
    }))
}

/// `GET /connections/{connection_id}`.
pub(super) async fn get_connection(
    State(shared): State<Arc<Shared>>,
    Ids([id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<WireConnection>> {
    Params::parse(&uri, &[])?;
    match shared.store.connection(&id)? {
        Some(c) => Ok(Json(wire(&c))),
        None => Err(ApiError::not_found(format!(
            "The Connection with connection_id: `{id}` was not found"
        ))),
    }
}

/// `POST /connections`: 409 when the id is taken.
pub(super) async fn post_connection(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Body(body): Body<WireConnection>,
) -> ApiResult<Json<WireConnection>> {
    Params::parse(&uri, &[])?;
    values::check_conn_id(&body.connection_id).map_err(invalid)?;
    if shared.store.connection(&body.connection_id)?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Connection already exist. ID: {}", body.connection_id),
        ));
    }
    let conn = Connection {
        conn_id: body.connection_id,
        conn_type: body.conn_type,
        description: body.description,
        host: body.host,
        schema: body.schema,
        login: body.login,
        password: body.password,
        port: body.port,
        extra: body.extra,
    };
    shared.store.put_connection(&conn)?;
    record(&shared.store, "api.connection.create", &audit_fields(&conn));
    Ok(Json(wire(&conn)))
}

/// The fields a PATCH may change.
const FIELDS: &[&str] = &[
    "conn_type",
    "description",
    "host",
    "login",
    "schema",
    "port",
    "password",
    "extra",
];

/// `PATCH /connections/{connection_id}?update_mask=host,port`: the fields named (or, with
/// no mask, the fields the body has).
pub(super) async fn patch_connection(
    State(shared): State<Arc<Shared>>,
    Ids([id]): Ids<1>,
    uri: Uri,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult<Json<WireConnection>> {
    let params = Params::parse(&uri, &["update_mask"])?;
    if let Some(bad) = body
        .keys()
        .find(|k| k.as_str() != "connection_id" && !FIELDS.contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown field `{bad}`; a connection has connection_id, {}",
            FIELDS.join(", ")
        )));
    }
    if body.get("connection_id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(ApiError::bad_request(
            "The connection_id cannot be updated.",
        ));
    }
    let Some(mut conn) = shared.store.connection(&id)? else {
        return Err(ApiError::not_found(format!(
            "The Connection with connection_id: `{id}` was not found"
        )));
    };
    let mask = params.all("update_mask");
    if let Some(bad) = mask.iter().find(|m| !FIELDS.contains(&m.as_str())) {
        return Err(ApiError::bad_request(format!(
            "'{bad}' is unknown or cannot be updated."
        )));
    }
    let fields: Vec<&str> = if mask.is_empty() {
        FIELDS
            .iter()
            .copied()
            .filter(|f| body.contains_key(*f))
            .collect()
    } else {
        mask.iter().map(String::as_str).collect()
    };
    for f in fields {
        let v = body.get(f).unwrap_or(&Value::Null);
        let text = || -> ApiResult<Option<String>> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                other => Err(ApiError::bad_request(format!(
                    "`{f}` must be a string, found {other}"
                ))),
            }
        };
        match f {
            "conn_type" => conn.conn_type = text()?.unwrap_or_default(),
            "description" => conn.description = text()?,
            "host" => conn.host = text()?,
            "login" => conn.login = text()?,
            "schema" => conn.schema = text()?,
            "password" => conn.password = text()?,
            "extra" => conn.extra = text()?,
            _ => {
                conn.port = match v {
                    Value::Null => None,
                    other => Some(
                        other
                            .as_u64()
                            .and_then(|p| u16::try_from(p).ok())
                            .ok_or_else(|| {
                                ApiError::bad_request(format!(
                                    "`port` must be an integer in 0-65535, found {other}"
                                ))
                            })?,
                    ),
                }
            }
        }
    }
    shared.store.put_connection(&conn)?;
    record(&shared.store, "api.connection.edit", &audit_fields(&conn));
    Ok(Json(wire(&conn)))
}

/// `DELETE /connections/{connection_id}`: 204.
pub(super) async fn delete_connection(
    State(shared): State<Arc<Shared>>,
    Ids([id]): Ids<1>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    Params::parse(&uri, &[])?;
    if shared.store.delete_connection(&id)? {
        record(
            &shared.store,
            "api.connection.delete",
            &json!({"connection_id": id}),
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "The Connection with connection_id: `{id}` was not found"
        )))
    }
}

/// What Airflow answers to `POST /connections/test` with its default
/// `[core] test_connection = Disabled`: lithoflow does not test connections.
pub(crate) const TEST_DISABLED: &str = "Testing connections is disabled in Airflow configuration. Contact your deployment admin to enable it.";

/// `POST /connections/test`: 403, as Airflow's default.
pub(super) async fn test_connection(uri: Uri) -> ApiResult<StatusCode> {
    Params::parse(&uri, &[])?;
    Err(ApiError::new(StatusCode::FORBIDDEN, TEST_DISABLED))
}
