//! DAG files: the TOML format of DESIGN.md §2, parsed into typed structs, validated with
//! every problem of a file reported at once, and turned into a task graph.
//!
//! Pure: [`parse_dag`] takes the file's text and path and never touches the file system.

mod bag;
mod graph;
mod model;
mod parse;
mod schema;

pub use bag::{
    DagBag, DagFileResult, ImportError, MAX_DAG_FILE_BYTES, duplicate_id_diagnostic, load_file,
    toml_files,
};
pub use graph::TaskGraph;
pub use model::*;
pub use parse::parse_dag;
pub use schema::TRIGGER_RULES;

/// The known id closest to `id`, for "did you mean" hints.
pub fn suggest_id<'a>(id: &str, known: &[&'a str]) -> Option<&'a str> {
    schema::suggest(id, known.iter().copied())
}

#[cfg(test)]
mod tests;
