//! Loading every DAG file of a folder, as Airflow's DagBag does: TOML files, and with
//! a loader pool ([`crate::pydag`]) Airflow DAG files (`.py`, Airflow's safe-mode rule),
//! each of which may define many DAGs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use lithoflow_dag::diag::{Diagnostic, Severity, Source};
use lithoflow_dag::{Dag, LoadOptions, parse_dag_with};

/// Files larger than this are refused rather than read into memory.
pub const MAX_DAG_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Folders deeper than this under the DAGs folder are not searched.
const MAX_DEPTH: usize = 32;

/// The outcome of loading one file.
#[derive(Debug, Clone)]
pub struct DagFileResult {
    /// The file.
    pub path: PathBuf,
    /// Its valid DAGs: a TOML file's one DAG when it has no errors; every valid DAG an
    /// Airflow DAG file (`.py`) defines.
    pub dags: Vec<Dag>,
    /// Errors, warnings and notes, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// For a `.py` file: the modules of the DAGs folder it imported (a change to one of
    /// them reloads it).
    pub modules: Vec<ModuleStamp>,
    /// Whether the file is an Airflow DAG file (`.py`).
    pub python: bool,
}

/// A module a `.py` DAG file imported, and its modification time when it was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStamp {
    /// The module's file.
    pub path: PathBuf,
    /// Its modification time, nanoseconds since the epoch (None: unknown).
    pub mtime_ns: Option<u64>,
}

impl DagFileResult {
    /// Whether the file has at least one error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The file's first DAG (a TOML file's only one).
    pub fn dag(&self) -> Option<&Dag> {
        self.dags.first()
    }
}

/// One file that failed to load, as `dags list-import-errors` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ImportError {
    /// The file.
    pub filepath: PathBuf,
    /// Every error of the file, each in `PATH:LINE:COLUMN: error: MESSAGE` form (an
    /// Airflow DAG file's error goes on with the end of its Python traceback).
    pub error: String,
    /// How many errors.
    #[serde(skip)]
    pub count: usize,
}

impl ImportError {
    /// The error of a file: its error diagnostics, one headline per line.
    pub fn new(path: &Path, diagnostics: &[Diagnostic]) -> ImportError {
        ImportError {
            filepath: path.to_owned(),
            count: diagnostics.iter().filter(|d| d.is_error()).count(),
            error: diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(Diagnostic::headline)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Every DAG file under a folder (or a list of paths), parsed.
#[derive(Debug, Clone, Default)]
pub struct DagBag {
    /// One result per file, sorted by path.
    pub files: Vec<DagFileResult>,
}

impl DagBag {
    /// Loads every `*.toml` file under `folder`, recursively, skipping hidden folders.
    pub fn load_folder(folder: &Path) -> std::io::Result<DagBag> {
        Self::load_folder_with(folder, &LoadOptions::default())
    }

    /// [`DagBag::load_folder`] with the loader's options; `folder` is the DAGs folder
    /// unless the options name one.
    pub fn load_folder_with(folder: &Path, options: &LoadOptions) -> std::io::Result<DagBag> {
        Self::load_folder_py(folder, options, None)
    }

    /// [`DagBag::load_folder_with`], and with a loader pool the Airflow DAG files
    /// (`.py`) too.
    pub(crate) fn load_folder_py(
        folder: &Path,
        options: &LoadOptions,
        python: Option<&crate::pydag::LoaderPool>,
    ) -> std::io::Result<DagBag> {
        let paths = dag_files(folder, python.is_some())?;
        let mut options = options.clone();
        options
            .dags_folder
            .get_or_insert_with(|| folder.to_path_buf());
        Ok(Self::load_files(paths, &options, python, &[]))
    }

    /// Loads files and folders given on a command line.
    pub fn load_paths(paths: &[PathBuf]) -> std::io::Result<DagBag> {
        Self::load_paths_with(paths, &LoadOptions::default())
    }

    /// [`DagBag::load_paths`] with the loader's options.
    pub fn load_paths_with(paths: &[PathBuf], options: &LoadOptions) -> std::io::Result<DagBag> {
        Self::load_paths_py(paths, options, None)
    }

    /// [`DagBag::load_paths_with`], and with a loader pool the `.py` files too (a `.py`
    /// file named on the command line is loaded even when safe mode would skip it).
    pub(crate) fn load_paths_py(
        paths: &[PathBuf],
        options: &LoadOptions,
        python: Option<&crate::pydag::LoaderPool>,
    ) -> std::io::Result<DagBag> {
        let mut files = Vec::new();
        let mut named = Vec::new();
        for p in paths {
            if p.is_dir() {
                files.extend(dag_files(p, python.is_some())?);
            } else {
                files.push(p.clone());
                named.push(p.clone());
            }
        }
        Ok(Self::load_files(files, options, python, &named))
    }

    /// `named`: files named on the command line, loaded whatever their text.
    fn load_files(
        mut paths: Vec<PathBuf>,
        options: &LoadOptions,
        python: Option<&crate::pydag::LoaderPool>,
        named: &[PathBuf],
    ) -> DagBag {
        paths.sort();
        paths.dedup();
        let mut files: Vec<DagFileResult> = load_many(&paths, options, python, named)
            .into_iter()
            .filter_map(|(_, r)| r)
            // A `.py` file that passes the safe-mode rule but defines no DAG and has no
            // problem (a helper module whose docstring names Airflow DAGs) is a module,
            // as in Airflow's DagBag, not a DAG file to count.
            .filter(|r| !(r.python && r.dags.is_empty() && r.diagnostics.is_empty()))
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        mark_duplicate_ids(&mut files);
        DagBag { files }
    }

    /// Every valid DAG, sorted by dag_id.
    pub fn dags(&self) -> Vec<&Dag> {
        let mut dags: Vec<&Dag> = self.files.iter().flat_map(|f| &f.dags).collect();
        dags.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
        dags
    }

    /// The DAG with this id.
    pub fn dag(&self, dag_id: &str) -> Option<&Dag> {
        self.files
            .iter()
            .flat_map(|f| &f.dags)
            .find(|d| d.dag_id == dag_id)
    }

    /// Takes the DAG with this id out of the bag (no copy: a DAG holding a map's
    /// 1,000,000 literal elements is big).
    pub fn take_dag(&mut self, dag_id: &str) -> Option<Dag> {
        self.files.iter_mut().find_map(|f| {
            let i = f.dags.iter().position(|d| d.dag_id == dag_id)?;
            Some(f.dags.swap_remove(i))
        })
    }

    /// Files that failed to load.
    pub fn import_errors(&self) -> Vec<ImportError> {
        self.files
            .iter()
            .filter(|f| f.has_errors())
            .map(|f| ImportError::new(&f.path, &f.diagnostics))
            .collect()
    }

    /// A file that failed to load whose name suggests it defines `dag_id`, for errors
    /// like "DAG not found" that should point at the broken file instead.
    pub fn broken_file_for(&self, dag_id: &str) -> Option<&DagFileResult> {
        self.files
            .iter()
            .find(|f| f.has_errors() && f.path.file_stem().is_some_and(|s| s == dag_id))
    }
}

/// Every `*.toml` file under `folder`, recursively, skipping hidden folders; sorted.
pub fn toml_files(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    dag_files(folder, false)
}

/// Every `*.toml` file under `folder`, and with `python` every `*.py` file (whether it
/// is a DAG file is decided when it is read), recursively, skipping hidden folders,
/// `__pycache__` and what `.airflowignore` files exclude; sorted.
///
/// `.airflowignore` follows Airflow 2.10's default `regexp` syntax
/// (`airflow/utils/file.py`, `_RegexpIgnoreRule`): each line, without its `#` comment,
/// is a regular expression searched in the path relative to `folder`; a file's rules
/// apply to its folder and everything under it; a matching folder is not entered.
pub fn dag_files(folder: &Path, python: bool) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    let walk = Walk {
        base: folder,
        python,
    };
    walk.collect(folder, 0, &[], &mut paths)?;
    paths.sort();
    Ok(paths)
}

/// The name of Airflow's ignore file.
const IGNORE_FILE: &str = ".airflowignore";

struct Walk<'a> {
    base: &'a Path,
    python: bool,
}

impl Walk<'_> {
    fn collect(
        &self,
        dir: &Path,
        depth: usize,
        inherited: &[regex::Regex],
        out: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let mut rules = inherited.to_vec();
        rules.extend(ignore_rules(&dir.join(IGNORE_FILE)));
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "__pycache__" {
                continue;
            }
            // Symlinks are followed for files but not folders, so a link loop cannot trap the scan.
            let file_type = entry.file_type()?;
            let path = entry.path();
            if self.ignored(&path, &rules) {
                continue;
            }
            if file_type.is_dir() {
                self.collect(&path, depth + 1, &rules, out)?;
            } else if path
                .extension()
                .is_some_and(|e| e == "toml" || (self.python && e == "py"))
                && (file_type.is_file() || path.is_file())
            {
                out.push(path);
            }
        }
        Ok(())
    }

    fn ignored(&self, path: &Path, rules: &[regex::Regex]) -> bool {
        if rules.is_empty() {
            return false;
        }
        let relative = path.strip_prefix(self.base).unwrap_or(path);
        let relative = relative.to_string_lossy();
        rules.iter().any(|r| r.is_match(&relative))
    }
}

/// The rules of one `.airflowignore` file (none when it is absent); an invalid pattern
/// is skipped with a warning, as Airflow does.
fn ignore_rules(file: &Path) -> Vec<regex::Regex> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    text.split('\n')
        .map(|line| match line.find('#') {
            // Airflow removes `\s*#.*`: the comment and the blanks before it.
            Some(at) => line[..at].trim_end(),
            None => line,
        })
        .filter(|line| !line.is_empty())
        .filter_map(|line| match regex::Regex::new(line) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(file = %file.display(), "ignoring the invalid pattern `{line}`: {e}");
                None
            }
        })
        .collect()
}

/// Loads files on several threads, each taking the next file from a shared list (`.py`
/// files first, as they take longest): with a loader pool, at least twice as many
/// threads as loader processes, so every process stays busy while other threads check
/// the DAGs they described. Results in no particular order; None for a `.py` file that
/// is not a DAG file.
pub(crate) fn load_many(
    paths: &[PathBuf],
    options: &LoadOptions,
    python: Option<&crate::pydag::LoaderPool>,
    named: &[PathBuf],
) -> Vec<(PathBuf, Option<DagFileResult>)> {
    let is_py = |p: &&PathBuf| p.extension().is_some_and(|e| e == "py");
    let order: Vec<&PathBuf> = paths
        .iter()
        .filter(is_py)
        .chain(paths.iter().filter(|p| !is_py(p)))
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = python
        .filter(|_| order.first().is_some_and(is_py))
        .map_or(cores, |p| cores.max(2 * p.config().processes))
        .min(order.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(p) = order.get(i) else { break };
                        let r = load_any(p, options, python, named.contains(p));
                        mine.push(((*p).clone(), r));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Loads one file of either kind: None for a `.py` file that is not a DAG file (unless
/// `named`: a file named on the command line is loaded whatever its text), or any `.py`
/// file without a loader pool.
pub(crate) fn load_any(
    path: &Path,
    options: &LoadOptions,
    python: Option<&crate::pydag::LoaderPool>,
    named: bool,
) -> Option<DagFileResult> {
    if path.extension().is_some_and(|e| e == "py") {
        return python.and_then(|pool| crate::pydag::load_file(path, options, pool, named));
    }
    Some(load_file_with(path, options))
}

/// Reads and parses one file; IO and encoding problems become diagnostics too.
pub fn load_file(path: &Path) -> DagFileResult {
    load_file_with(path, &LoadOptions::default())
}

/// [`load_file`] with the loader's options.
pub fn load_file_with(path: &Path, options: &LoadOptions) -> DagFileResult {
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
        python: false,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_DAG_FILE_BYTES => {
            return whole_file(format!(
                "file is {} bytes; DAG files are at most {MAX_DAG_FILE_BYTES} bytes",
                m.len()
            ));
        }
        Ok(_) => {}
        Err(e) => return whole_file(format!("cannot read the file: {e}")),
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return whole_file(format!("cannot read the file: {e}")),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let src = Source::new(path, &lossy);
            let before = String::from_utf8_lossy(&e.as_bytes()[..at]).len();
            return DagFileResult {
                path: path.to_owned(),
                dags: Vec::new(),
                diagnostics: vec![src.diagnostic(
                    Severity::Error,
                    before..before + 1,
                    format!("invalid UTF-8 at byte {at}; DAG files must be UTF-8 text"),
                )],
                modules: Vec::new(),
                python: false,
            };
        }
    };
    let (dag, diagnostics) = parse_dag_with(path, &text, options);
    DagFileResult {
        path: path.to_owned(),
        dags: dag.into_iter().collect(),
        diagnostics,
        modules: Vec::new(),
        python: false,
    }
}

/// A dag_id defined by two files: the first file (by path) keeps it, the others fail.
/// Within one `.py` file the first DAG with an id keeps it.
fn mark_duplicate_ids(files: &mut [DagFileResult]) {
    let mut first: HashMap<String, PathBuf> = HashMap::new();
    for f in files.iter_mut() {
        let dags = std::mem::take(&mut f.dags);
        for dag in dags {
            match first.get(&dag.dag_id) {
                None => {
                    first.insert(dag.dag_id.clone(), f.path.clone());
                    f.dags.push(dag);
                }
                Some(owner) if *owner == f.path => {}
                Some(owner) => {
                    let diag = duplicate_id_diagnostic(&f.path, &dag, owner);
                    f.diagnostics.push(diag);
                }
            }
        }
    }
}

/// The error of a file whose `dag_id` another file (`owner`) already defines.
pub fn duplicate_id_diagnostic(path: &Path, dag: &Dag, owner: &Path) -> Diagnostic {
    let message = format!(
        "dag_id `{}` is already defined in {}; each DAG needs its own id",
        dag.dag_id,
        owner.display()
    );
    if let Some(py) = &dag.python {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        return crate::pydag::diagnostic_at_line(path, &text, py.line, Severity::Error, message);
    }
    match (&dag.dag_id_span, std::fs::read_to_string(path)) {
        (Some(span), Ok(text)) => {
            Source::new(path, &text).diagnostic(Severity::Error, span.clone(), message)
        }
        _ => Diagnostic {
            severity: Severity::Error,
            path: path.to_owned(),
            location: None,
            message: format!(
                "{message} (the id comes from the file name; set `dag_id` to change it)"
            ),
        },
    }
}
