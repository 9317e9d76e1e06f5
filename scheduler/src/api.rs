//! The local API (axum): paths shaped like Airflow's stable REST API v1, a bearer token,
//! and an event stream. Bound to 127.0.0.1 only.

use std::sync::Arc;

use crate::control::Shared;

/// The API's routes over a running scheduler's shared state.
pub fn router(shared: Arc<Shared>) -> axum::Router {
    let _ = shared;
    axum::Router::new()
}
