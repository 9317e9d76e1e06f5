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
    load_file_with, toml_files,
};
pub use graph::TaskGraph;
pub use model::*;
pub(crate) use parse::lexical_absolute;
pub use parse::{parse_dag, parse_dag_with};

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
mod tests;
