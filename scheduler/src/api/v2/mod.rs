//! `/api/v2`: Airflow 3's public REST API (`airflow/api_fastapi/core_api`), for the
//! resources lithoflow has, field for field as its OpenAPI document says. The same token
//! as `/api/v1`; `monitor/health` and `version` answer without one, as Airflow's do.
//!
//! One module per resource group; each gives its routes, merged here.

mod bulk;
pub(crate) mod common;
mod dags;
mod dependencies;
mod logs;
mod misc;
mod monitor;
mod pools;
mod runs;
mod task_instances;
mod ti_write;
mod values;
mod wait;
mod xcom;

use std::sync::Arc;

use crate::control::Shared;

/// The `/api/v2` routes.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .merge(dags::routes())
        .merge(runs::routes())
        .merge(values::routes())
        .merge(pools::routes())
        .merge(monitor::routes())
        .merge(misc::routes())
        .merge(task_instances::routes())
        .merge(ti_write::routes())
        .merge(xcom::routes())
        .merge(logs::routes())
        .merge(wait::routes())
        .merge(dependencies::routes())
}
