//! `GET /health` and `GET /version`: whether the scheduler and its store answer, and
//! which lithoflow this is. `/health` answers without a token, as Airflow 2.10's
//! (`api_connexion/endpoints/health_endpoint.py`; `auth.rs`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use chrono::Utc;

use super::extract::{ApiResult, Params};
use super::lookup::read;
use crate::control::Shared;
use lithoflow_api::{ComponentHealth, Health, SchedulerHealth, Version};

/// `GET /health`.
pub(super) async fn health(State(shared): State<Arc<Shared>>, uri: Uri) -> ApiResult<Json<Health>> {
    Params::parse(&uri, &[])?;
    let db_ok = read(&shared, |store| Ok(store.dag("").is_ok())).await?;
    let status = |ok: bool| if ok { "healthy" } else { "unhealthy" }.to_owned();
    Ok(Json(Health {
        metadatabase: ComponentHealth {
            status: status(db_ok),
        },
        scheduler: SchedulerHealth {
            status: status(true),
            latest_scheduler_heartbeat: Some(Utc::now()),
            started_at: shared.started_at,
            dags_folder: shared.dags_folder.display().to_string(),
        },
        triggerer: Some(serde_json::json!({
            "status": null,
            "latest_triggerer_heartbeat": null,
        })),
        dag_processor: Some(serde_json::json!({
            "status": null,
            "latest_dag_processor_heartbeat": null,
        })),
    }))
}

/// `GET /version`.
pub(super) async fn version(uri: Uri) -> ApiResult<Json<Version>> {
    Params::parse(&uri, &[])?;
    Ok(Json(Version {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_version: None,
    }))
}
