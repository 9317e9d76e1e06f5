//! The daemon's view of the DAGs folder: each DAG file as last seen, loaded again only
//! when it changed (its modification time or size), or for an Airflow DAG file (`.py`)
//! when one of the DAGs-folder modules it imported changed. A broken file keeps serving
//! its last valid DAGs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::dagbag::{DagFileResult, ImportError, ModuleStamp};
use crate::pydag::LoaderPool;
use lithoflow_dag::Dag;

/// A file's modification time and size.
type Stamp = (Option<SystemTime>, u64);

/// One DAG file as last seen.
struct WatchedFile {
    stamp: Stamp,
    /// Its diagnostics (errors make it an import error).
    diagnostics: Vec<lithoflow_dag::diag::Diagnostic>,
    /// Its valid DAGs now.
    dags: Vec<Arc<Dag>>,
    /// Its DAGs when it last loaded without errors, which keep running while it is broken.
    last_valid: Vec<Arc<Dag>>,
    /// For a `.py` file, the modules it imported.
    modules: Vec<ModuleStamp>,
}

/// The DAGs folder as last seen. Only new and changed files are loaded again; DAGs are
/// shared (`Arc`), so publishing a new set copies pointers, not DAGs.
pub(super) struct Watcher {
    folder: PathBuf,
    options: lithoflow_dag::LoadOptions,
    python: Option<Arc<LoaderPool>>,
    files: BTreeMap<PathBuf, WatchedFile>,
    /// `.py` files that are not DAG files, as last seen (read again only when changed).
    plain: HashMap<PathBuf, Stamp>,
    folder_error: Option<String>,
}

impl Watcher {
    pub(super) fn new(
        folder: PathBuf,
        options: lithoflow_dag::LoadOptions,
        python: Option<Arc<LoaderPool>>,
    ) -> Watcher {
        Watcher {
            folder,
            options,
            python,
            files: BTreeMap::new(),
            plain: HashMap::new(),
            folder_error: None,
        }
    }

    /// Loads new and changed files and forgets deleted ones; true if anything changed.
    pub(super) fn scan(&mut self) -> bool {
        let paths = match crate::dagbag::dag_files(&self.folder, self.python.is_some()) {
            Ok(p) => {
                self.folder_error = None;
                p
            }
            Err(e) => {
                let message = format!("cannot read the DAGs folder {}: {e}", self.folder.display());
                if self.folder_error.as_deref() != Some(message.as_str()) {
                    tracing::warn!("{message}");
                    self.folder_error = Some(message);
                }
                return false;
            }
        };
        let before = self.files.len();
        let present: HashSet<&PathBuf> = paths.iter().collect();
        self.files.retain(|p, _| present.contains(p));
        self.plain.retain(|p, _| present.contains(p));
        let mut changed = self.files.len() != before;
        let mut module_times: HashMap<PathBuf, Option<u64>> = HashMap::new();
        let mut stamps: HashMap<PathBuf, Stamp> = HashMap::new();
        let stale: Vec<PathBuf> = paths
            .iter()
            .filter(|p| {
                let stamp = stamp_of(p);
                stamps.insert((*p).clone(), stamp);
                if self.plain.get(*p) == Some(&stamp) {
                    return false;
                }
                match self.files.get(*p) {
                    Some(f) => {
                        f.stamp != stamp
                            || f.modules.iter().any(|m| {
                                let now = module_times
                                    .entry(m.path.clone())
                                    .or_insert_with(|| mtime_ns(&m.path));
                                m.mtime_ns.is_some() && *now != m.mtime_ns
                            })
                    }
                    None => true,
                }
            })
            .cloned()
            .collect();
        if stale.is_empty() {
            return changed;
        }
        let loaded = crate::dagbag::load_many(&stale, &self.options, self.python.as_deref(), &[]);
        for (path, result) in loaded {
            let stamp = stamps.get(&path).copied().unwrap_or((None, 0));
            let Some(result) = result else {
                // A `.py` file that is not (or no longer) a DAG file.
                changed |= self.files.remove(&path).is_some();
                self.plain.insert(path, stamp);
                continue;
            };
            self.plain.remove(&path);
            changed = true;
            let file = self.watched(&path, stamp, result);
            self.files.insert(path, file);
        }
        changed
    }

    fn watched(&self, path: &Path, stamp: Stamp, result: DagFileResult) -> WatchedFile {
        let has_errors = result.has_errors();
        let dags: Vec<Arc<Dag>> = result.dags.into_iter().map(Arc::new).collect();
        let last_valid = if has_errors {
            self.files
                .get(path)
                .map(|f| f.last_valid.clone())
                .unwrap_or_default()
        } else {
            dags.clone()
        };
        WatchedFile {
            stamp,
            diagnostics: result.diagnostics,
            dags,
            last_valid,
            modules: result.modules,
        }
    }

    /// The DAGs to serve and the files' errors. The first file (by path) keeps a
    /// dag_id; a broken file keeps its last valid DAGs unless another file has their ids.
    pub(super) fn dag_set(&self) -> (BTreeMap<String, Arc<Dag>>, Vec<ImportError>) {
        let mut dags: BTreeMap<String, Arc<Dag>> = BTreeMap::new();
        let mut owners: HashMap<String, &PathBuf> = HashMap::new();
        let mut errors = Vec::new();
        for (path, f) in &self.files {
            let mut diagnostics = f.diagnostics.clone();
            for d in &f.dags {
                match owners.get(&d.dag_id) {
                    None => {
                        owners.insert(d.dag_id.clone(), path);
                        dags.insert(d.dag_id.clone(), Arc::clone(d));
                    }
                    Some(owner) if *owner == path => {}
                    Some(owner) => {
                        diagnostics.push(crate::dagbag::duplicate_id_diagnostic(path, d, owner));
                    }
                }
            }
            if diagnostics.iter().any(|d| d.is_error()) {
                errors.push(ImportError::new(path, &diagnostics));
            }
        }
        for f in self
            .files
            .values()
            .filter(|f| f.diagnostics.iter().any(|d| d.is_error()))
        {
            for d in &f.last_valid {
                dags.entry(d.dag_id.clone())
                    .or_insert_with(|| Arc::clone(d));
            }
        }
        (dags, errors)
    }
}

fn stamp_of(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .map(|m| (m.modified().ok(), m.len()))
        .unwrap_or((None, 0))
}

/// A file's modification time in nanoseconds since the epoch, as Python's `st_mtime_ns`.
fn mtime_ns(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write");
    }

    #[test]
    fn watcher_keeps_the_last_valid_version_of_a_broken_file_and_drops_deleted_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "a.toml",
            "[tasks.t]\ntype = \"call_async\"\nfunc = \"m:f\"\n",
        );
        let mut w = Watcher::new(
            dir.path().to_owned(),
            lithoflow_dag::LoadOptions::default(),
            None,
        );
        assert!(w.scan());
        assert!(!w.scan(), "nothing changed");
        let (dags, errors) = w.dag_set();
        assert!(dags.contains_key("a") && errors.is_empty());
        // Broken: the last valid version stays, the error is listed.
        write(
            dir.path(),
            "a.toml",
            "[tasks.t]\ntype = \"call_async\"\nfunc = \n",
        );
        assert!(w.scan());
        let (dags, errors) = w.dag_set();
        assert!(dags.contains_key("a"));
        assert_eq!(errors.len(), 1);
        // Deleted: gone.
        std::fs::remove_file(dir.path().join("a.toml")).expect("rm");
        assert!(w.scan());
        let (dags, errors) = w.dag_set();
        assert!(dags.is_empty() && errors.is_empty());
    }

    #[test]
    fn a_py_file_reloads_when_a_module_it_imported_changes_and_keeps_its_dags_when_broken() {
        use crate::pydag::tests::{etl, py, setup, two_tasks};
        let s = setup(1, std::time::Duration::from_secs(30));
        write(&s.dags, "helper.py", "X = 1\n");
        write(
            &s.dags,
            "etl.py",
            &format!("#MODULE helper.py\n{}", py(&etl(two_tasks()))),
        );
        let pool = Arc::new(s.pool);
        let mut w = Watcher::new(
            s.dags.clone(),
            lithoflow_dag::LoadOptions::default(),
            Some(Arc::clone(&pool)),
        );
        assert!(w.scan());
        assert!(!w.scan(), "nothing changed");
        let (dags, errors) = w.dag_set();
        assert!(dags.contains_key("etl") && errors.is_empty(), "{errors:?}");
        // The module changes (a later modification time): the DAG file loads again.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(s.dags.join("helper.py"))
            .and_then(|f| f.set_modified(later))
            .expect("touch");
        assert!(w.scan(), "the module changed");
        assert!(!w.scan(), "nothing changed since");
        // Broken: its DAG keeps running, the error is listed.
        let answer = serde_json::json!({"ok": false, "error": {"type": "ValueError", "message": "bad", "line": 2}});
        write(&s.dags, "etl.py", &py(&answer));
        assert!(w.scan());
        let (dags, errors) = w.dag_set();
        assert!(dags.contains_key("etl"));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].error.contains("ValueError: bad"),
            "{}",
            errors[0].error
        );
        // No longer a DAG file: a plain module, its DAG gone.
        write(&s.dags, "etl.py", "X = 2\n");
        assert!(w.scan());
        let (dags, errors) = w.dag_set();
        assert!(dags.is_empty() && errors.is_empty());
        assert!(!w.scan());
    }
}
