//! `POST /dbClean` (lithoflow's addition): `lithoflow db clean` through a running
//! scheduler, whose loop removes the old runs (it owns the runs, and sled's lock).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;

use super::extract::{ApiResult, Body, Params, check_id};
use super::lookup::ask;
use crate::control::{Request, Shared};
use crate::retention::CleanSpec;
use lithoflow_api::{DbCleanBody, DbCleanResponse};

/// `POST /dbClean`: a dry run unless `dry_run` is false.
pub(super) async fn db_clean(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Body(body): Body<DbCleanBody>,
) -> ApiResult<Json<DbCleanResponse>> {
    Params::parse(&uri, &[])?;
    for dag_id in &body.dag_ids {
        check_id("dag_ids", dag_id)?;
    }
    let spec = CleanSpec {
        before: body.clean_before_timestamp,
        dag_ids: body.dag_ids,
        dry_run: body.dry_run.unwrap_or(true),
        max_runs: body.max_runs,
    };
    let report = ask(&shared, |reply| Request::DbClean { spec, reply }).await?;
    Ok(Json(report))
}
