//! The local API's server (axum): paths shaped like Airflow's stable REST API v1, a
//! bearer token, and an event stream. Bound to 127.0.0.1 only (by the daemon). What it
//! sends and reads is `lithoflow-api`'s wire types; [`wire`] converts the store's
//! records into them (and masks confs), so the database format is not the wire format.
//!
//! Reads go straight to the store (on the blocking pool); changes go to the scheduler
//! loop as [`Request`](crate::control::Request)s, because it owns the runs. Every route
//! needs the token; every error is problem JSON. Ids from the path are checked before
//! any lookup and are never joined into a file path unless the run or task instance
//! they name is recorded. `docs/api.md` describes each route.
//!
//! The modules: `auth` (the token and its check), `extract` (errors and request
//! extractors), `lookup` (helpers over the shared state), one module of handlers per
//! resource (`health`, `dags`, `runs`, `task_instances`, `events`, `db`, `assets`), `progress` (live job
//! progress) and `calls` (call records of ended jobs).

mod assets;
mod auth;
mod calls;
mod clear;
mod config;
mod connections;
mod dags;
mod db;
mod event_logs;
mod events;
pub(crate) mod extract;
mod health;
mod lookup;
mod mapped;
pub(crate) mod pools;
mod progress;
mod run_query;
mod runs;
mod stats;
mod task_instances;
mod ti_list;
mod ti_view;
mod ti_write;
mod tries;
mod variables;
pub(crate) mod wire;
mod xcom;

#[cfg(test)]
mod tests;
mod v2;

use std::sync::Arc;

use axum::Extension;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, patch, post};

use crate::control::Shared;
use calls::CallsCache;
use progress::ProgressBook;

pub(crate) use auth::ensure_token;
pub(crate) use connections::audit_fields as connection_audit_fields;
pub(crate) use lithoflow_api::token_path;
pub(crate) use pools::audit_fields as pool_audit_fields;

/// Request bodies larger than this are refused (413).
pub(crate) const BODY_LIMIT: usize = 1 << 20;

/// The API's routes over a running scheduler's shared state.
///
/// Inside a tokio runtime it also starts a task that keeps the latest progress of each
/// running job from the event broadcast, so a client that connects in the middle of a
/// `map` sees where it is (`progress` in task instances); the task ends with the
/// broadcast.
pub(crate) fn router(shared: Arc<Shared>) -> axum::Router {
    let ti = "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}";
    let book = ProgressBook::default();
    let calls = CallsCache::default();
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(progress::keep_progress(
            shared.events.subscribe(),
            book.clone(),
        ));
        tokio::spawn(calls::expire_calls(calls.downgrade()));
    }
    axum::Router::new()
        .route("/api/v1/health", get(health::health))
        .route("/api/v1/version", get(health::version))
        .route("/api/v1/dags", get(dags::list_dags).patch(dags::patch_dags))
        .route(
            "/api/v1/dags/{dag_id}",
            get(dags::get_dag).patch(dags::patch_dag),
        )
        .route("/api/v1/dags/{dag_id}/details", get(dags::get_dag_details))
        .route("/api/v1/dags/{dag_id}/tasks", get(dags::list_tasks))
        .route("/api/v1/dags/{dag_id}/tasks/{task_id}", get(dags::get_task))
        .route("/api/v1/dagSources/{file_token}", get(dags::get_dag_source))
        .route(
            "/api/v1/dags/{dag_id}/dagRuns",
            get(runs::list_runs).post(runs::trigger_run),
        )
        .route(
            "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}",
            get(runs::get_run)
                .patch(runs::patch_run)
                .delete(runs::delete_run),
        )
        .route("/api/v1/dags/~/dagRuns/list", post(runs::list_runs_batch))
        .route(
            "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/clear",
            post(runs::clear_run),
        )
        .route(
            "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/setNote",
            patch(runs::set_run_note),
        )
        .route(
            "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
            get(task_instances::list_task_instances),
        )
        .route(
            "/api/v1/dags/~/dagRuns/~/taskInstances/list",
            post(task_instances::list_task_instances_batch),
        )
        .route(
            ti,
            get(task_instances::get_task_instance).patch(ti_write::patch_task_instance),
        )
        .route(
            &format!("{ti}/setNote"),
            patch(ti_write::set_task_instance_note),
        )
        .route(
            &format!("{ti}/{{map_index}}/setNote"),
            patch(ti_write::set_mapped_task_instance_note),
        )
        .route(
            "/api/v1/dags/{dag_id}/updateTaskInstancesState",
            post(ti_write::update_task_instances_state),
        )
        .route(&format!("{ti}/listMapped"), get(mapped::list_mapped))
        .route(
            &format!("{ti}/{{map_index}}"),
            get(mapped::get_mapped_task_instance).patch(ti_write::patch_mapped_task_instance),
        )
        .route(&format!("{ti}/tries"), get(tries::list_tries))
        .route(
            &format!("{ti}/tries/{{task_try_number}}"),
            get(tries::get_try),
        )
        .route(
            &format!("{ti}/{{map_index}}/tries"),
            get(tries::list_mapped_tries),
        )
        .route(
            &format!("{ti}/{{map_index}}/tries/{{task_try_number}}"),
            get(tries::get_mapped_try),
        )
        .route(&format!("{ti}/xcomEntries"), get(xcom::list_xcom))
        .route(&format!("{ti}/dependencies"), get(pools::ti_dependencies))
        .route(
            &format!("{ti}/{{map_index}}/dependencies"),
            get(pools::mapped_ti_dependencies),
        )
        .route(
            &format!("{ti}/xcomEntries/{{xcom_key}}"),
            get(xcom::get_xcom),
        )
        .route(
            &format!("{ti}/logs/{{try_number}}"),
            get(task_instances::get_log),
        )
        .route(&format!("{ti}/calls"), get(calls::list_calls))
        .route(
            "/api/v1/dags/{dag_id}/clearTaskInstances",
            post(clear::clear_task_instances),
        )
        .route("/api/v1/backfills", post(runs::create_backfill))
        .route("/api/v1/dbClean", post(db::db_clean))
        .route(
            "/api/v1/variables",
            get(variables::list_variables).post(variables::post_variable),
        )
        .route(
            "/api/v1/variables/{variable_key}",
            get(variables::get_variable)
                .patch(variables::patch_variable)
                .delete(variables::delete_variable),
        )
        .route(
            "/api/v1/connections",
            get(connections::list_connections).post(connections::post_connection),
        )
        .route(
            "/api/v1/connections/test",
            axum::routing::post(connections::test_connection),
        )
        .route(
            "/api/v1/connections/{connection_id}",
            get(connections::get_connection)
                .patch(connections::patch_connection)
                .delete(connections::delete_connection),
        )
        .route(
            "/api/v1/pools",
            get(pools::list_pools).post(pools::post_pool),
        )
        .route(
            "/api/v1/pools/{pool_name}",
            get(pools::get_pool)
                .patch(pools::patch_pool)
                .delete(pools::delete_pool),
        )
        .route("/api/v1/datasets", get(assets::list_datasets))
        .route(
            "/api/v1/datasets/events",
            get(assets::list_dataset_events).post(assets::post_dataset_event),
        )
        .route("/api/v1/datasets/{*uri}", get(assets::get_dataset))
        // Airflow 3's name for the same routes (the bodies stay Airflow 2.10's).
        .route("/api/v1/assets", get(assets::list_datasets))
        .route(
            "/api/v1/assets/events",
            get(assets::list_dataset_events).post(assets::post_dataset_event),
        )
        .route("/api/v1/assets/{*uri}", get(assets::get_dataset))
        .route(
            "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/upstreamDatasetEvents",
            get(assets::upstream_dataset_events),
        )
        .route(
            "/api/v1/dags/{dag_id}/datasets/queuedEvent",
            get(assets::dag_queued_events),
        )
        .route("/api/v1/importErrors", get(stats::list_import_errors))
        .route(
            "/api/v1/importErrors/{import_error_id}",
            get(stats::get_import_error),
        )
        .route("/api/v1/eventLogs", get(event_logs::list_event_logs))
        .route(
            "/api/v1/eventLogs/{event_log_id}",
            get(event_logs::get_event_log),
        )
        .route("/api/v1/dagStats", get(stats::get_dag_stats))
        .route("/api/v1/config", get(config::get_config))
        .route(
            "/api/v1/config/section/{section}/option/{option}",
            get(config::get_value),
        )
        .route("/api/v1/plugins", get(stats::get_plugins))
        .route("/api/v1/providers", get(stats::get_providers))
        .route("/api/v1/dagWarnings", get(stats::get_dag_warnings))
        .route("/api/v1/events", get(events::events))
        .merge(v2::routes())
        .fallback(extract::no_route)
        .method_not_allowed_fallback(extract::no_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(Extension(book))
        .layer(Extension(calls))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            auth::auth,
        ))
        .with_state(shared)
}
