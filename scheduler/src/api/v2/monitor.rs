//! `GET /api/v2/monitor/health` and `GET /api/v2/version`, as Airflow 3.1 serves them
//! (`core_api/routes/public/monitor.py`, `version.py`): both answer without a token
//! (`api/auth.rs`). The scheduler answers, so it is healthy and its heartbeat is now;
//! lithoflow has no triggerer or DAG processor apart from the scheduler, so theirs are
//! `status: null` (as Airflow answers for a component that never ran). The version is
//! lithoflow's.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use super::common::{V2Error, V2Result};
use crate::control::Shared;

/// The routes.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/api/v2/monitor/health", get(health))
        .route("/api/v2/version", get(version))
}

/// `GET /monitor/health`.
async fn health(State(shared): State<Arc<Shared>>) -> V2Result<Json<Value>> {
    let store = Arc::clone(&shared.store);
    let db_ok = tokio::task::spawn_blocking(move || store.dag("").is_ok())
        .await
        .map_err(|e| V2Error::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let status = if db_ok { "healthy" } else { "unhealthy" };
    Ok(Json(json!({
        "metadatabase": {"status": status},
        "scheduler": {
            "status": "healthy",
            "latest_scheduler_heartbeat": lithoflow_api::iso_string(&Utc::now()),
        },
        "triggerer": {"status": null, "latest_triggerer_heartbeat": null},
        "dag_processor": {"status": null, "latest_dag_processor_heartbeat": null},
    })))
}

/// `GET /version`.
async fn version() -> Json<Value> {
    Json(json!({"version": env!("CARGO_PKG_VERSION"), "git_version": null}))
}
