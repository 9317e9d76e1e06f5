//! What the `/api/v2` write routes of variables, connections and pools share: a JSON
//! body read as pydantic's strict models read it (`extra="forbid"`: an unknown field is
//! 422, as every error of the body), and Airflow 3.1's bulk `PATCH`
//! (`core_api/datamodels/common.py` `BulkBody`, `services/public/common.py`
//! `BulkService`): a list of actions `create` (with `action_on_existence` `fail`, `skip`
//! or `overwrite`), `update` and `delete` (with `action_on_non_existence` `fail` or
//! `skip`), each answered in a `BulkResponse` (`{"create": {"success": [...],
//! "errors": [...]}, ...}`, only the actions asked for).

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::common::{V2Error, V2Result};

/// A JSON object body; anything else (bad JSON, not an object) is 422 as FastAPI says.
pub(crate) struct Body2(pub(crate) Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body2 {
    type Rejection = V2Error;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, V2Error> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| V2Error::new(e.status(), e.body_text()))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(Body2(m)),
            Ok(other) => Err(V2Error::invalid(
                &["body"],
                format!("Input should be a valid dictionary or object, found {other}"),
            )),
            Err(e) => Err(V2Error::invalid(
                &["body"],
                format!("JSON decode error: {e}"),
            )),
        }
    }
}

/// Refuses fields outside `allowed` (pydantic's `extra_forbidden`).
pub(crate) fn forbid_extra(obj: &Map<String, Value>, allowed: &[&str]) -> V2Result<()> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(V2Error::invalid(
            &["body", k],
            "Extra inputs are not permitted",
        )),
        None => Ok(()),
    }
}

/// A string field: `Ok(None)` when absent or null; `required` makes absence 422.
pub(crate) fn text(
    obj: &Map<String, Value>,
    name: &str,
    required: bool,
) -> V2Result<Option<String>> {
    match obj.get(name) {
        None if required => Err(V2Error::invalid(&["body", name], "Field required")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(V2Error::invalid(
            &["body", name],
            format!("Input should be a valid string, found {other}"),
        )),
    }
}

/// An integer field, as [`text`].
pub(crate) fn int(obj: &Map<String, Value>, name: &str, required: bool) -> V2Result<Option<i64>> {
    match obj.get(name) {
        None if required => Err(V2Error::invalid(&["body", name], "Field required")),
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            V2Error::invalid(
                &["body", name],
                format!("Input should be a valid integer, found {v}"),
            )
        }),
    }
}

/// A boolean field, as [`text`].
pub(crate) fn boolean(obj: &Map<String, Value>, name: &str) -> V2Result<Option<bool>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(V2Error::invalid(
            &["body", name],
            format!("Input should be a valid boolean, found {v}"),
        )),
    }
}

/// `update_mask`: the fields a `PATCH` changes; empty: those the body has.
pub(crate) fn masked<'a>(
    body: &Map<String, Value>,
    mask: &[String],
    fields: &'a [&'a str],
) -> Vec<&'a str> {
    fields
        .iter()
        .copied()
        .filter(|f| body.contains_key(*f) && (mask.is_empty() || mask.iter().any(|m| m == f)))
        .collect()
}

/// One action on one entity, as the resource's store does it.
pub(crate) enum Op<'a> {
    /// Create (or replace, with `overwrite`) from the entity's body.
    Create(&'a Map<String, Value>),
    /// Update from the entity's body.
    Update(&'a Map<String, Value>),
    /// Delete the entity with this key.
    Delete(&'a str),
}

/// What a resource tells the bulk route.
pub(crate) struct Resource<'a> {
    /// Airflow's words in its errors: `variables`, `connections`, `pools`.
    pub(crate) plural: &'a str,
    /// `keys`, `connection_ids`, `pool names`.
    pub(crate) key_words: &'a str,
    /// The field of an entity that is its key (`key`, `connection_id`, `name`).
    pub(crate) key_field: &'a str,
    /// The keys that exist now.
    pub(crate) existing: BTreeSet<String>,
}

/// Python's `repr` of a set of strings, as Airflow's messages print one.
fn py_set(keys: &BTreeSet<&str>) -> String {
    let inner: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Runs a bulk body's actions in order through `apply` (which answers an error text for
/// one entity it could not do) and answers Airflow's `BulkResponse`.
pub(crate) fn run(
    body: &Map<String, Value>,
    mut res: Resource<'_>,
    mut apply: impl FnMut(Op<'_>) -> Result<(), String>,
) -> V2Result<Value> {
    forbid_extra(body, &["actions"])?;
    let Some(Value::Array(actions)) = body.get("actions") else {
        return Err(V2Error::invalid(
            &["body", "actions"],
            "Field required: a list of actions",
        ));
    };
    // Checked whole before any is done, as pydantic validates the body first.
    for (i, a) in actions.iter().enumerate() {
        let idx = i.to_string();
        let Value::Object(a) = a else {
            return Err(V2Error::invalid(
                &["body", "actions", &idx],
                "Input should be an object",
            ));
        };
        let action = a.get("action").and_then(Value::as_str).unwrap_or("");
        let (allowed, option, choices): (&[&str], &str, &[&str]) = match action {
            "create" => (
                &["action", "entities", "action_on_existence"],
                "action_on_existence",
                &["fail", "skip", "overwrite"],
            ),
            "update" | "delete" => (
                &["action", "entities", "action_on_non_existence"],
                "action_on_non_existence",
                &["fail", "skip"],
            ),
            other => {
                return Err(V2Error::invalid(
                    &["body", "actions", &idx, "action"],
                    format!("Input should be 'create', 'update' or 'delete', found {other:?}"),
                ));
            }
        };
        forbid_extra(a, allowed)?;
        if let Some(v) = a.get(option)
            && !v.as_str().is_some_and(|s| choices.contains(&s))
        {
            return Err(V2Error::invalid(
                &["body", "actions", &idx, option],
                format!("Input should be one of {choices:?}, found {v}"),
            ));
        }
        let Some(Value::Array(entities)) = a.get("entities") else {
            return Err(V2Error::invalid(
                &["body", "actions", &idx, "entities"],
                "Field required: a list",
            ));
        };
        for (j, e) in entities.iter().enumerate() {
            let ok = match (action, e) {
                ("delete", Value::String(_)) => true,
                ("delete", Value::Object(o)) | (_, Value::Object(o)) => {
                    o.get(res.key_field).is_some_and(Value::is_string)
                }
                _ => false,
            };
            if !ok {
                return Err(V2Error::invalid(
                    &["body", "actions", &idx, "entities", &j.to_string()],
                    format!("each entity needs its `{}` (a string)", res.key_field),
                ));
            }
        }
    }
    let mut out = Map::new();
    for a in actions {
        let a = a.as_object().cloned().unwrap_or_default();
        let action = a.get("action").and_then(Value::as_str).unwrap_or("");
        let option = a
            .get("action_on_existence")
            .or_else(|| a.get("action_on_non_existence"))
            .and_then(Value::as_str)
            .unwrap_or("fail");
        let entities = a
            .get("entities")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let key_of = |e: &Value| -> String {
            match e {
                Value::String(s) => s.clone(),
                other => other
                    .get(res.key_field)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            }
        };
        let keys: BTreeSet<String> = entities.iter().map(key_of).collect();
        let matched: BTreeSet<&str> = keys
            .iter()
            .filter(|k| res.existing.contains(*k))
            .map(String::as_str)
            .collect();
        let missing: BTreeSet<&str> = keys
            .iter()
            .filter(|k| !res.existing.contains(*k))
            .map(String::as_str)
            .collect();
        let slot = out
            .entry(action.to_owned())
            .or_insert_with(|| json!({"success": [], "errors": []}));
        let mut success = Vec::new();
        let mut errors = Vec::new();
        let refused = match (action, option) {
            ("create", "fail") if !matched.is_empty() => Some((
                StatusCode::CONFLICT,
                format!(
                    "The {} with these {}: {} already exist.",
                    res.plural,
                    res.key_words,
                    py_set(&matched)
                ),
            )),
            ("update" | "delete", "fail") if !missing.is_empty() => Some((
                StatusCode::NOT_FOUND,
                format!(
                    "The {} with these {}: {} were not found.",
                    res.plural,
                    res.key_words,
                    py_set(&missing)
                ),
            )),
            _ => None,
        };
        if let Some((status, error)) = refused {
            errors.push(json!({"error": error, "status_code": status.as_u16()}));
        } else {
            for e in &entities {
                let key = key_of(e);
                let exists = res.existing.contains(&key);
                let skip = match action {
                    "create" => exists && option == "skip",
                    _ => !exists,
                };
                if skip {
                    continue;
                }
                let done = match (action, e) {
                    ("create", Value::Object(o)) => apply(Op::Create(o)),
                    ("update", Value::Object(o)) => apply(Op::Update(o)),
                    _ => apply(Op::Delete(&key)),
                };
                match done {
                    Ok(()) => {
                        if action == "delete" {
                            res.existing.remove(&key);
                        } else {
                            res.existing.insert(key.clone());
                        }
                        success.push(Value::String(key));
                    }
                    Err(error) => errors.push(json!({"error": error})),
                }
            }
        }
        if let Some(Value::Array(s)) = slot.get_mut("success") {
            s.extend(success);
        }
        if let Some(Value::Array(e)) = slot.get_mut("errors") {
            e.extend(errors);
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn actions_follow_airflows_existence_rules() {
        let mut store: BTreeMap<String, Value> = BTreeMap::new();
        store.insert("a".into(), json!(1));
        let body = obj(json!({"actions": [
            {"action": "create", "entities": [{"key": "a"}, {"key": "b"}]},
            {"action": "create", "entities": [{"key": "a"}, {"key": "c"}], "action_on_existence": "skip"},
            {"action": "update", "entities": [{"key": "z"}]},
            {"action": "delete", "entities": ["a", "zz"], "action_on_non_existence": "skip"},
        ]}));
        let res = Resource {
            plural: "variables",
            key_words: "keys",
            key_field: "key",
            existing: store.keys().cloned().collect(),
        };
        let got = run(&body, res, |op| {
            match op {
                Op::Create(o) | Op::Update(o) => {
                    let k = o["key"].as_str().unwrap_or_default().to_owned();
                    store.insert(k, json!(2));
                }
                Op::Delete(k) => {
                    store.remove(k);
                }
            }
            Ok(())
        })
        .expect("bulk");
        assert_eq!(
            got,
            json!({
                "create": {"success": ["c"], "errors": [
                    {"error": "The variables with these keys: {'a'} already exist.", "status_code": 409}
                ]},
                "update": {"success": [], "errors": [
                    {"error": "The variables with these keys: {'z'} were not found.", "status_code": 404}
                ]},
                "delete": {"success": ["a"], "errors": []},
            })
        );
        assert_eq!(store.keys().collect::<Vec<_>>(), ["c"]);
        let bad = obj(json!({"actions": [{"action": "create", "entities": [], "bogus": 1}]}));
        let res = Resource {
            plural: "variables",
            key_words: "keys",
            key_field: "key",
            existing: BTreeSet::new(),
        };
        assert!(run(&bad, res, |_| Ok(())).is_err());
    }
}
