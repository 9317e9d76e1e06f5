//! The read-only `/api/v2` routes that share their data with `/api/v1`'s, in Airflow
//! 3.1's shapes (`core_api/routes/public/import_error.py`, `event_logs.py`,
//! `dag_stats.py`, `config.py`, `plugins.py`, `providers.py`, `dag_warning.py`):
//! import errors, the event log, run counts per state, lithoflow's settings (masked as in
//! `/api/v1/config`), and the empty lists of plugins, providers and DAG warnings.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::common::{Query2, V2Error, V2Result};
use crate::api::event_logs::{Filter, ORDER_FIELDS, wire_all};
use crate::api::{config, stats};
use crate::control::Shared;
use crate::store::AuditRecord;

/// The routes.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/api/v2/importErrors", get(list_import_errors))
        .route(
            "/api/v2/importErrors/{import_error_id}",
            get(get_import_error),
        )
        .route("/api/v2/eventLogs", get(list_event_logs))
        .route("/api/v2/eventLogs/{event_log_id}", get(get_event_log))
        .route("/api/v2/dagStats", get(dag_stats))
        .route("/api/v2/config", get(get_config))
        .route(
            "/api/v2/config/section/{section}/option/{option}",
            get(get_config_value),
        )
        .route("/api/v2/plugins", get(plugins))
        .route("/api/v2/plugins/importErrors", get(plugin_import_errors))
        .route("/api/v2/providers", get(providers))
        .route("/api/v2/dagWarnings", get(dag_warnings))
}

fn import_error_json(e: stats::FileError) -> Value {
    json!({
        "import_error_id": e.id,
        "timestamp": lithoflow_api::iso_string(&e.timestamp),
        "filename": e.filename,
        "bundle_name": null,
        "stack_trace": e.stack_trace,
    })
}

/// `GET /importErrors` (`order_by`: `id`, `timestamp`, `filename`; `filename_pattern`).
async fn list_import_errors(State(shared): State<Arc<Shared>>, uri: Uri) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let order = q.order_by(
        &[
            "id",
            "import_error_id",
            "timestamp",
            "filename",
            "bundle_name",
            "stacktrace",
        ],
        "id",
    )?;
    let mut all = stats::import_errors(&shared);
    if let Some(p) = q.last("filename_pattern") {
        all.retain(|e| crate::api::event_logs::ilike_contains(&e.filename, p));
    }
    match order.field.as_str() {
        "timestamp" => all.sort_by_key(|e| (e.timestamp, e.id)),
        "filename" => all.sort_by(|a, b| a.filename.cmp(&b.filename)),
        "stacktrace" => all.sort_by(|a, b| a.stack_trace.cmp(&b.stack_trace)),
        _ => {}
    }
    if order.desc {
        all.reverse();
    }
    let total = all.len();
    let (limit, offset) = q.page()?;
    let errors: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(import_error_json)
        .collect();
    Ok(Json(
        json!({"import_errors": errors, "total_entries": total}),
    ))
}

/// `GET /importErrors/{import_error_id}`.
async fn get_import_error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> V2Result<Json<Value>> {
    stats::import_errors(&shared)
        .into_iter()
        .find(|e| e.id.to_string() == id)
        .map(|e| Json(import_error_json(e)))
        .ok_or_else(|| {
            V2Error::not_found(format!(
                "The ImportError with import_error_id: `{id}` was not found"
            ))
        })
}

/// An entry as Airflow 3.1's `EventLogResponse`.
fn event_log_json(w: lithoflow_api::EventLog) -> Value {
    json!({
        "event_log_id": w.event_log_id,
        "when": lithoflow_api::iso_string(&w.when),
        "dag_id": w.dag_id,
        "task_id": w.task_id,
        "run_id": w.run_id,
        "map_index": w.map_index,
        "try_number": w.try_number,
        "event": w.event,
        "logical_date": w.execution_date.as_ref().map(lithoflow_api::iso_string),
        "owner": w.owner,
        "extra": w.extra,
        "dag_display_name": w.dag_id,
        "task_display_name": w.task_id,
    })
}

/// `GET /eventLogs`: the filters of `/api/v1` (exact ones apply even when 0) and the
/// `*_pattern` searches.
async fn list_event_logs(State(shared): State<Arc<Shared>>, uri: Uri) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let order = q.order_by(ORDER_FIELDS, "id")?;
    let text = |n: &str| q.last(n).map(str::to_owned);
    let list = |n: &str| -> Vec<String> {
        q.all(n)
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::to_owned)
            .filter(|v| !v.is_empty())
            .collect()
    };
    let mut patterns = Vec::new();
    for (param, field) in [
        ("dag_id_pattern", "dag_id"),
        ("task_id_pattern", "task_id"),
        ("run_id_pattern", "run_id"),
        ("owner_pattern", "owner"),
        ("event_pattern", "event"),
    ] {
        if let Some(p) = q.last(param) {
            patterns.push((field, p.to_owned()));
        }
    }
    let filter = Filter {
        dag_id: text("dag_id"),
        task_id: text("task_id"),
        run_id: text("run_id"),
        map_index: q.int("map_index")?,
        try_number: q.int("try_number")?,
        owner: text("owner"),
        event: text("event"),
        included: list("included_events"),
        excluded: list("excluded_events"),
        before: q.date("before")?,
        after: q.date("after")?,
        patterns,
    };
    let (limit, offset) = q.page()?;
    let store = Arc::clone(&shared.store);
    let (page, total) = tokio::task::spawn_blocking(move || {
        let kept = filter.apply(store.audit_log()?, &order.field, order.desc);
        let total = kept.len();
        let page: Vec<AuditRecord> = kept.into_iter().skip(offset).take(limit).collect();
        Ok::<_, crate::store::StoreError>((wire_all(&store, page), total))
    })
    .await
    .map_err(|e| V2Error::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let logs: Vec<Value> = page.into_iter().map(event_log_json).collect();
    Ok(Json(json!({"event_logs": logs, "total_entries": total})))
}

/// `GET /eventLogs/{event_log_id}`.
async fn get_event_log(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> V2Result<Json<Value>> {
    let Ok(n) = id.parse::<u64>() else {
        return Err(V2Error::invalid(
            &["path", "event_log_id"],
            format!(
                "Input should be a valid integer, unable to parse string as an integer: {id:?}"
            ),
        ));
    };
    let store = Arc::clone(&shared.store);
    let found = tokio::task::spawn_blocking(move || {
        store
            .audit_entry(n)
            .map(|r| r.and_then(|r| wire_all(&store, vec![r]).pop()))
    })
    .await
    .map_err(|e| V2Error::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    found
        .map(|r| Json(event_log_json(r)))
        .ok_or_else(|| V2Error::not_found(format!("The Event Log with id: `{id}` not found")))
}

/// `GET /dagStats?dag_ids=a&dag_ids=b`: the DAGs asked for (all without `dag_ids`) that
/// have runs, as Airflow 3.1 counts from its runs table.
async fn dag_stats(State(shared): State<Arc<Shared>>, uri: Uri) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let mut ids: Vec<String> = q
        .all("dag_ids")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::to_owned)
        .filter(|v| !v.is_empty())
        .collect();
    if ids.is_empty() {
        ids = shared
            .dags
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .dags
            .keys()
            .cloned()
            .collect();
    }
    let counted = stats::dag_stats(&shared, ids).await.map_err(|e| {
        V2Error::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("{e:?}"),
        )
    })?;
    let dags: Vec<Value> = counted
        .into_iter()
        .filter(|(_, counts)| counts.iter().any(|(_, n)| *n > 0))
        .map(|(dag_id, counts)| {
            json!({
                "dag_id": dag_id,
                "dag_display_name": dag_id,
                "stats": counts
                    .into_iter()
                    .map(|(state, count)| json!({"state": state, "count": count}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let total = dags.len();
    Ok(Json(json!({"dags": dags, "total_entries": total})))
}

/// `GET /config?section=...`.
async fn get_config(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
) -> V2Result<Response> {
    let q = Query2::parse(&uri)?;
    let mut all = config::sections(&shared);
    if let Some(section) = q.last("section") {
        all.retain(|(n, _)| n == section);
        if all.is_empty() {
            return Err(V2Error::not_found(format!("Section {section} not found.")));
        }
    }
    Ok(config::answer(&all, &headers))
}

/// `GET /config/section/{section}/option/{option}`.
async fn get_config_value(
    State(shared): State<Arc<Shared>>,
    Path((section, option)): Path<(String, String)>,
    headers: HeaderMap,
) -> V2Result<Response> {
    config::sections(&shared)
        .into_iter()
        .find(|(n, _)| *n == section)
        .and_then(|(n, options)| {
            options
                .into_iter()
                .find(|(k, _)| *k == option)
                .map(|o| (n, vec![o]))
        })
        .map(|one| config::answer(&[one], &headers))
        .ok_or_else(|| V2Error::not_found(format!("Option [{section}/{option}] not found.")))
}

/// `GET /plugins`: none.
async fn plugins(uri: Uri) -> V2Result<Json<Value>> {
    Query2::parse(&uri)?.page()?;
    Ok(Json(json!({"plugins": [], "total_entries": 0})))
}

/// `GET /plugins/importErrors`: none.
async fn plugin_import_errors() -> Json<Value> {
    Json(json!({"import_errors": [], "total_entries": 0}))
}

/// `GET /providers`: none.
async fn providers(uri: Uri) -> V2Result<Json<Value>> {
    Query2::parse(&uri)?.page()?;
    Ok(Json(json!({"providers": [], "total_entries": 0})))
}

/// `GET /dagWarnings`: none.
async fn dag_warnings(uri: Uri) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    q.page()?;
    q.order_by(
        &["dag_id", "warning_type", "message", "timestamp"],
        "dag_id",
    )?;
    Ok(Json(json!({"dag_warnings": [], "total_entries": 0})))
}
