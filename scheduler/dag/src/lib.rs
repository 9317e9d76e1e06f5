//! lithoflow's DAG format: DAG files (TOML, DESIGN.md §2) parsed into typed structs,
//! validated with every problem of a file reported at once, and turned into a task graph;
//! the one table of the keys a file may hold ([`keys`]), which drives the parser, `dags
//! show` and `lithoflow migrate`; lints that need more than the file ([`lint`]); and the
//! pure semantics a DAG carries: diagnostics ([`diag`]), cron expressions ([`cron`]) and
//! Airflow's timetables ([`timetable`]), trigger rules ([`trigger`]), retry delays
//! ([`retry`]), templates ([`template`]), durations ([`duration`]) and the masking of
//! secrets ([`redact`]).
//!
//! Pure: no tokio, no sled, no clock (`now` is always a parameter), no environment, and no
//! IO: [`parse_dag`] takes the file's text and path and never touches the file system.
//! Reading a DAGs folder is the scheduler's job.

#![warn(missing_docs)]

pub mod asset;
pub mod cron;
pub mod diag;
pub mod duration;
mod graph;
pub mod keys;
pub mod lint;
mod model;
mod parse;
pub mod priority;
pub mod redact;
pub mod retry;
mod schema;
mod sensor;
pub mod template;
pub mod template_values;
pub mod timetable;
pub mod trigger;

pub use graph::TaskGraph;
pub use model::*;
pub use parse::{lexical_absolute, parse_dag, parse_dag_with};

/// What the DAG loader allows beyond a DAG file's own folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The DAGs folder: `include_modules` paths may point anywhere inside it (a DAG in a
    /// subfolder may include `../common/`). None: the DAG file's own folder.
    pub dags_folder: Option<std::path::PathBuf>,
    /// `[dags] include_paths` of `lithoflow.toml`: absolute folders that
    /// `include_modules` paths may also point into.
    pub include_paths: Vec<std::path::PathBuf>,
}
pub use schema::TRIGGER_RULES;

/// The known id closest to `id`, for "did you mean" hints.
pub fn suggest_id<'a>(id: &str, known: &[&'a str]) -> Option<&'a str> {
    schema::suggest(id, known.iter().copied())
}

#[cfg(test)]
mod sensor_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_assets;
#[cfg(test)]
mod tests_expand;
