//! Airflow DAG files (`.py`), loaded as Airflow loads them: by running the file, in a
//! warm pool of loader processes (`pool.rs`), against lithoflow's own implementation of
//! Airflow's DAG-authoring API (the `airflow` package of `lithoflow_executor::compat`).
//! Each DAG the file defines comes back as a description (`convert.rs`) whose settings
//! are written as a TOML DAG file (`toml_text.rs`) and checked by the same parser as TOML
//! files, its diagnostics moved to the `.py` file's lines.
//!
//! A `.py` file is a DAG file when its text holds both `airflow` and `dag`
//! (case-insensitive), Airflow's safe-mode rule
//! (`airflow/utils/file.py::might_contain_dag_via_default_heuristic`); other `.py` files
//! are plain modules.

mod convert;
mod pool;
mod toml_text;

#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::Value;

use lithoflow_dag::LoadOptions;
use lithoflow_dag::diag::{Diagnostic, Severity};
use lithoflow_dag::template_values::Lookup;

pub(crate) use pool::{Compat, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, LoaderConfig, LoaderPool};

use crate::config::Settings;
use crate::dagbag::{DagFileResult, MAX_DAG_FILE_BYTES};

/// Whether a `.py` file's bytes make it an Airflow DAG file (Airflow's safe mode: both
/// `airflow` and `dag`, case-insensitive).
pub fn is_dag_file(bytes: &[u8]) -> bool {
    let lower = bytes.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    has(b"dag") && has(b"airflow")
}

/// A diagnostic on line `line` of a file (its whole line; none when the line is 0 or
/// past the end).
pub(crate) fn diagnostic_at_line(
    path: &Path,
    text: &str,
    line: usize,
    severity: Severity,
    message: String,
) -> Diagnostic {
    let src = lithoflow_dag::diag::Source::new(path, text);
    convert::at_line(&src, Some(line).filter(|l| *l > 0), severity, message)
}

/// Loads one `.py` file: None when it is not a DAG file (a plain module), unless
/// `named` (a file named on the command line is loaded whatever its text).
pub(crate) fn load_file(
    path: &Path,
    options: &LoadOptions,
    pool: &LoaderPool,
    named: bool,
) -> Option<DagFileResult> {
    let whole_file = |message: String| DagFileResult {
        path: path.to_owned(),
        dags: Vec::new(),
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            path: path.to_owned(),
            location: None,
            message,
        }],
        modules: Vec::new(),
        python: true,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_DAG_FILE_BYTES => {
            return Some(whole_file(format!(
                "file is {} bytes; DAG files are at most {MAX_DAG_FILE_BYTES} bytes",
                m.len()
            )));
        }
        Ok(_) => {}
        Err(e) => return Some(whole_file(format!("cannot read the file: {e}"))),
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Some(whole_file(format!("cannot read the file: {e}"))),
    };
    if !named && !is_dag_file(&bytes) {
        return None;
    }
    let text = String::from_utf8_lossy(&bytes);
    match pool.load(path) {
        Ok(answer) => {
            let mut sys_path = Vec::new();
            if let Ok(compat) = pool.config().compat.folder() {
                sys_path.push(compat);
            }
            sys_path.push(pool.config().dags_folder.clone());
            Some(convert::file_result(
                path, &text, &answer, options, &sys_path,
            ))
        }
        Err(e) => Some(whole_file(e.to_string())),
    }
}

/// The loader pool for a DAGs folder with the home's settings (`[dags] loader_processes`,
/// `[airflow] default_version`, `[localhost] python`); parse-time lookups answered by
/// `lookup`. No process starts before a file needs one.
pub(crate) fn pool_for(
    settings: &Settings,
    dags_folder: &Path,
    lookup: Arc<dyn Lookup>,
) -> LoaderPool {
    LoaderPool::new(loader_config(settings, dags_folder), lookup)
}

/// The settings of a pool for `dags_folder`.
pub(crate) fn loader_config(settings: &Settings, dags_folder: &Path) -> LoaderConfig {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    LoaderConfig {
        python: settings
            .executor
            .python
            .clone()
            .unwrap_or_else(|| "python3".to_owned()),
        compat: Compat::Embedded(settings.home.join("python")),
        dags_folder: std::path::absolute(dags_folder).unwrap_or_else(|_| dags_folder.to_owned()),
        processes: settings.loader_processes.unwrap_or(cores.min(2)).max(1),
        default_version: settings.airflow_default_version,
        timeout: settings.dagbag_import_timeout.unwrap_or(DEFAULT_TIMEOUT),
        memory_mb: DEFAULT_MEMORY_MB,
    }
}

/// Parse-time variable and connection lookups for a command that holds no store: the
/// environment, then the state store, opened only when a file reads a value the
/// environment does not define.
pub(crate) fn cli_lookup(settings: &Settings) -> Arc<dyn Lookup> {
    let settings = settings.clone();
    Arc::new(crate::values::OpenOnNeed::new(move || {
        settings.open_store()
    }))
}

/// The loader's raw answer for each file (`{"op": "result", "ok": ..., "dags": [...],
/// "modules": [...], ...}`: the description of each DAG the file defines, or its
/// error), for `lithoflow migrate`. `home` is the lithoflow home (its `lithoflow.toml`
/// gives the interpreter, `[airflow] default_version` and the number of loader
/// processes; its store answers parse-time `Variable.get`s the environment does not);
/// `dags_folder` is the folder put on the files' `sys.path` besides their own (None: the
/// first file's folder). Files are loaded in parallel.
pub fn describe_files(
    home: &Path,
    paths: &[PathBuf],
    dags_folder: Option<&Path>,
) -> anyhow::Result<Vec<anyhow::Result<Value>>> {
    let settings = Settings::load(home)?;
    let folder = dags_folder
        .map(Path::to_path_buf)
        .or_else(|| {
            paths
                .first()
                .and_then(|p| p.parent())
                .map(Path::to_path_buf)
        })
        .filter(|f| !f.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let pool = pool_for(&settings, &folder, cli_lookup(&settings));
    let run = |p: &PathBuf| {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        pool.load(&abs)
            .with_context(|| format!("failed to load {}", p.display()))
    };
    let threads = pool.config().processes.min(paths.len()).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<(usize, anyhow::Result<Value>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(p) = paths.get(i) else { break };
                        mine.push((i, run(p)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

/// [`describe_files`] for one file.
pub fn describe_file(
    home: &Path,
    path: &Path,
    dags_folder: Option<&Path>,
) -> anyhow::Result<Value> {
    describe_files(home, &[path.to_owned()], dags_folder)?
        .pop()
        .unwrap_or_else(|| anyhow::bail!("no answer for {}", path.display()))
}
