//! `/api/v2` XCom entries as Airflow 3.1 serves them (`routes/public/xcom.py`,
//! `datamodels/xcom.py`): the list (`~` for the DAG, run or task; `xcom_key`,
//! `map_index`, the `_pattern` filters and logical date / run_after ranges) and one
//! entry, its value native unless `stringify=true` (Airflow 3's default is native).
//! Values are masked (a task may push a secret it was given).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use serde_json::{Value, json};

use super::common::{Query2, V2Error, V2Result};
use super::task_instances::like;
use crate::api::ti_list::Range;
use crate::api::xcom::{Found, XComFilter, python_str, select};
use crate::control::Shared;
use lithoflow_api::iso_string;

pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    let base = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries";
    axum::Router::new()
        .route(base, get(list))
        .route(&format!("{base}/{{xcom_key}}"), get(get_one))
}

/// Airflow 3.1's `XComResponse` of an entry (without its value).
fn response(f: &Found) -> Value {
    json!({
        "key": f.entry.key,
        "timestamp": iso_string(&f.entry.record.timestamp),
        "logical_date": f.run.logical_date.map(|d| iso_string(&d)),
        "map_index": f.entry.map_index,
        "task_id": f.task_id,
        "dag_id": f.dag_id,
        "run_id": f.run.run_id,
        "dag_display_name": f.dag_id,
        "task_display_name": f.task_id,
        "run_after": iso_string(&f.run.run_after),
    })
}

fn dates(q: &Query2, name: &str) -> V2Result<Range<chrono::DateTime<chrono::Utc>>> {
    Ok(Range {
        gte: q.date(&format!("{name}_gte"))?,
        gt: q.date(&format!("{name}_gt"))?,
        lte: q.date(&format!("{name}_lte"))?,
        lt: q.date(&format!("{name}_lt"))?,
    })
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    uri: Uri,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let (limit, offset) = q.page()?;
    let filter = XComFilter {
        dag_id: (dag_id != "~").then_some(dag_id),
        run_id: (run_id != "~").then_some(run_id),
        task_id: (task_id != "~").then_some(task_id),
        map_index: q
            .int("map_index")?
            .map(|i| i32::try_from(i).unwrap_or(i32::MIN)),
        key: q.last("xcom_key").map(str::to_owned),
    };
    let patterns = [
        (
            "xcom_key_pattern",
            q.last("xcom_key_pattern").map(str::to_owned),
        ),
        (
            "run_id_pattern",
            q.last("run_id_pattern").map(str::to_owned),
        ),
        (
            "task_id_pattern",
            q.last("task_id_pattern").map(str::to_owned),
        ),
        (
            "dag_display_name_pattern",
            q.last("dag_display_name_pattern").map(str::to_owned),
        ),
    ];
    let map_filter = q
        .int("map_index_filter")?
        .map(|i| i32::try_from(i).unwrap_or(i32::MIN));
    let logical = dates(&q, "logical_date")?;
    let run_after = dates(&q, "run_after")?;
    let sh = Arc::clone(&shared);
    let store = Arc::clone(&shared.store);
    let found = tokio::task::spawn_blocking(move || -> V2Result<Vec<Found>> {
        if let Some(d) = &filter.dag_id
            && sh.dag(d).is_none()
            && store.dag(d)?.is_none()
        {
            return Err(V2Error::not_found(format!(
                "The Dag with ID: `{d}` was not found"
            )));
        }
        Ok(select(&store, &filter)?)
    })
    .await
    .map_err(|e| V2Error::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let kept: Vec<&Found> = found
        .iter()
        .filter(|f| {
            patterns.iter().all(|(name, p)| {
                p.as_ref().is_none_or(|p| {
                    let text = match *name {
                        "xcom_key_pattern" => &f.entry.key,
                        "run_id_pattern" => &f.run.run_id,
                        "task_id_pattern" => &f.task_id,
                        _ => &f.dag_id,
                    };
                    like(text, p)
                })
            }) && map_filter.is_none_or(|m| f.entry.map_index == m)
                && logical.matches(f.run.logical_date)
                && run_after.matches(Some(f.run.run_after))
        })
        .collect();
    let entries: Vec<Value> = kept
        .iter()
        .skip(offset)
        .take(limit)
        .map(|f| response(f))
        .collect();
    Ok(Json(
        json!({"xcom_entries": entries, "total_entries": kept.len()}),
    ))
}

async fn get_one(
    State(shared): State<Arc<Shared>>,
    Path((dag_id, run_id, task_id, key)): Path<(String, String, String, String)>,
    uri: Uri,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let map_index = q
        .int("map_index")?
        .map_or(-1, |i| i32::try_from(i).unwrap_or(i32::MIN));
    q.bool("deserialize")?;
    let stringify = q.bool("stringify")?.unwrap_or(false);
    let store = Arc::clone(&shared.store);
    let (found, value) = tokio::task::spawn_blocking(move || -> V2Result<(Found, Value)> {
        let filter = XComFilter {
            dag_id: Some(dag_id),
            run_id: Some(run_id),
            task_id: Some(task_id),
            map_index: Some(map_index),
            key: Some(key.clone()),
        };
        let found = select(&store, &filter)?
            .into_iter()
            .next()
            .ok_or_else(|| V2Error::not_found(format!("XCom entry with key: `{key}` not found")))?;
        let value = crate::values::mask_value(&store, &found.entry.record.value);
        Ok((found, value))
    })
    .await
    .map_err(|e| V2Error::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let mut body = response(&found);
    body["value"] = if stringify {
        match value {
            Value::Null => Value::Null,
            v => Value::String(python_str(&v)),
        }
    } else {
        value
    };
    Ok(Json(body))
}
