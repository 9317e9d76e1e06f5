//! `/variables`, as Airflow 2's stable REST API (`airflow/api_connexion/endpoints/
//! variable_endpoint.py`, Airflow 2.10.5): list (`limit`, `offset`, `order_by`), get,
//! post (create or replace, as `Variable.set`), patch (`update_mask`), delete. The store's
//! variables only, as Airflow's API reads its table (the environment's `AIRFLOW_VAR_*`
//! are not listed). The value of a variable whose key looks secret is answered as `***`.
//! Changes are recorded in the event log as Airflow 2.10 names them
//! (`api.variable.create|edit|delete`), without the value.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::event_logs::record;
use super::extract::{ApiError, ApiResult, Body, Ids, Params, paged};
use crate::control::Shared;
use crate::values::{self, Variable};
use lithoflow_api::{Variable as WireVariable, VariableCollection, VariableCollectionItem};

fn wire(v: Variable) -> WireVariable {
    let value = if values::is_sensitive(&v.key) {
        lithoflow_dag::redact::MASK.to_owned()
    } else {
        v.value
    };
    WireVariable {
        key: v.key,
        value,
        description: v.description,
    }
}

fn invalid(e: values::ValuesError) -> ApiError {
    match e {
        values::ValuesError::Invalid(m) => ApiError::bad_request(m),
        other => ApiError::internal(other.to_string()),
    }
}

/// `GET /variables`.
pub(super) async fn list_variables(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<VariableCollection>> {
    let params = Params::parse(&uri, &["limit", "offset", "order_by"])?;
    let mut all = shared.store.variables()?;
    match params.last("order_by").unwrap_or("key") {
        "key" | "id" => {}
        "-key" | "-id" => all.reverse(),
        other => {
            return Err(ApiError::bad_request(format!(
                "Ordering with '{other}' is disallowed or the attribute does not exist on the model; use key or -key"
            )));
        }
    }
    let total_entries = all.len();
    let variables = paged(all, params.page()?)
        .into_iter()
        .map(|v| VariableCollectionItem {
            key: v.key,
            description: v.description,
        })
        .collect();
    Ok(Json(VariableCollection {
        variables,
        total_entries,
    }))
}

/// `GET /variables/{variable_key}`.
pub(super) async fn get_variable(
    State(shared): State<Arc<Shared>>,
    Ids([key]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<WireVariable>> {
    Params::parse(&uri, &[])?;
    match shared.store.variable(&key)? {
        Some(v) => Ok(Json(wire(v))),
        None => Err(ApiError::not_found(format!("Variable not found: {key}"))),
    }
}

/// `POST /variables`: creates or replaces.
pub(super) async fn post_variable(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Body(body): Body<WireVariable>,
) -> ApiResult<Json<WireVariable>> {
    Params::parse(&uri, &[])?;
    values::set_variable(
        &shared.store,
        &body.key,
        &body.value,
        body.description.as_deref(),
    )
    .map_err(invalid)?;
    record(
        &shared.store,
        "api.variable.create",
        &json!({"key": body.key, "description": body.description}),
    );
    Ok(Json(wire(Variable {
        key: body.key,
        value: body.value,
        description: body.description,
    })))
}

/// `PATCH /variables/{variable_key}?update_mask=value,description`.
pub(super) async fn patch_variable(
    State(shared): State<Arc<Shared>>,
    Ids([key]): Ids<1>,
    uri: Uri,
    Body(body): Body<Map<String, Value>>,
) -> ApiResult<Json<WireVariable>> {
    let params = Params::parse(&uri, &["update_mask"])?;
    if let Some(bad) = body
        .keys()
        .find(|k| !["key", "value", "description"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown field `{bad}`; a variable has key, value, description"
        )));
    }
    if body.get("key").and_then(Value::as_str) != Some(key.as_str()) {
        return Err(ApiError::bad_request(
            "Invalid post body: key from request body doesn't match uri parameter",
        ));
    }
    let Some(mut var) = shared.store.variable(&key)? else {
        return Err(ApiError::not_found(format!("Variable not found: {key}")));
    };
    let mask = params.all("update_mask");
    for field in ["value", "description"] {
        if !mask.is_empty() && !mask.iter().any(|m| m == field) {
            continue;
        }
        match (field, body.get(field)) {
            (_, None) => {
                if !mask.is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "update_mask names `{field}`, which the body does not have"
                    )));
                }
            }
            ("value", Some(Value::String(s))) => var.value = s.clone(),
            ("description", Some(Value::String(s))) => var.description = Some(s.clone()),
            ("description", Some(Value::Null)) => var.description = None,
            (f, Some(other)) => {
                return Err(ApiError::bad_request(format!(
                    "`{f}` must be a string, found {other}"
                )));
            }
        }
    }
    if let Some(bad) = mask
        .iter()
        .find(|m| !["value", "description"].contains(&m.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid field: {bad} in update_mask; a variable's value and description can be updated"
        )));
    }
    values::set_variable(&shared.store, &key, &var.value, var.description.as_deref())
        .map_err(invalid)?;
    record(
        &shared.store,
        "api.variable.edit",
        &json!({"key": key, "description": var.description, "update_mask": mask}),
    );
    Ok(Json(wire(var)))
}

/// `DELETE /variables/{variable_key}`: 204.
pub(super) async fn delete_variable(
    State(shared): State<Arc<Shared>>,
    Ids([key]): Ids<1>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    Params::parse(&uri, &[])?;
    if shared.store.delete_variable(&key)? {
        record(
            &shared.store,
            "api.variable.delete",
            &json!({"variable_key": key}),
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("Variable not found: {key}")))
    }
}
