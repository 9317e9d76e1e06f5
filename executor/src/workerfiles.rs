//! The local worker's files (`lithoflow_start.py`, `lithoflow_worker.py`,
//! `lithoflow_runtime.py`, `lithoflow.py`), embedded in the binary and written once per
//! content hash to `<base>/runtime-<hash>/`, so a worker starts as `python3 -u
//! <folder>/lithoflow_start.py --worker`: Python caches the runtime's compiled code there
//! (the launcher imports the others, so none is compiled again at a start), and no source
//! travels on a command line (where `ps` would show it). The base is the user's cache folder, shared by
//! every home ([`install_runtime`]).

use std::io;
use std::path::{Path, PathBuf};

use crate::protocol::{
    LITHOFLOW_MODULE_SOURCE, RUNTIME_SOURCE, WORKER_SOURCE, WORKER_START_SOURCE,
};

/// The script a worker runs: a launcher that imports the worker's module, whose cached
/// bytecode Python reads (a main script is compiled at every start).
pub(crate) const WORKER_SCRIPT: &str = "lithoflow_start.py";

/// The files, by name.
fn files() -> [(&'static str, &'static str); 4] {
    [
        (WORKER_SCRIPT, WORKER_START_SOURCE),
        ("lithoflow_worker.py", WORKER_SOURCE),
        ("lithoflow_runtime.py", RUNTIME_SOURCE),
        ("lithoflow.py", LITHOFLOW_MODULE_SOURCE),
    ]
}

/// FNV-1a (64 bits) of the files' names and contents: stable across builds and
/// platforms, which is all a folder name needs.
pub(crate) fn content_hash() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in files() {
        for b in name.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Writes the files to `base/runtime-<hash>/` unless they are there already, and returns
/// the worker script's path. Written to a temporary folder first, then renamed, so a
/// folder under the final name is always whole; two processes installing at once both
/// succeed.
pub(crate) fn install(base: &Path) -> io::Result<PathBuf> {
    let folder =
        crate::compat::install_folder(base, &format!("runtime-{}", content_hash()), |dir| {
            std::fs::create_dir_all(dir)?;
            for (name, text) in files() {
                std::fs::write(dir.join(name), text)?;
            }
            Ok(())
        })?;
    Ok(folder.join(WORKER_SCRIPT))
}

/// Installs the worker's files and returns the worker script's path: in the user's
/// cache folder ([`user_cache`]), shared by every home of the user, so a new home (a
/// test's, a CI job's, a benchmark's) starts its workers from the runtime's bytecode
/// compiled once rather than compiling it again in each worker (about 15 ms of CPU per
/// worker start); when that folder cannot be used, in the home ([`base_for`]).
pub(crate) fn install_runtime(storage_root: &Path) -> io::Result<PathBuf> {
    if let Some(cache) = user_cache()
        && let Ok(script) = install(&cache)
    {
        return Ok(script);
    }
    install(&base_for(storage_root))
}

/// `$XDG_CACHE_HOME/lithoflow`, else `$HOME/.cache/lithoflow`: made if missing (mode
/// 0700), and used only if it is a folder of this user's that nobody else may write to
/// (its files are code the workers run).
fn user_cache() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    let root = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".cache"))
        })?;
    let dir = root.join("lithoflow");
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .ok()?;
    }
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    let private =
        meta.is_dir() && meta.uid() == nix::unistd::geteuid().as_raw() && meta.mode() & 0o022 == 0;
    private.then_some(dir)
}

/// Where the worker's files go in the home for a localhost storage at `storage_root`:
/// beside the compatibility package in `$LITHOFLOW_HOME/python/` when the storage is the
/// home's `storage` folder (as the scheduler sets it), else inside the storage folder.
pub(crate) fn base_for(storage_root: &Path) -> PathBuf {
    match storage_root.parent() {
        Some(home) if storage_root.ends_with("storage") => home.join("python"),
        _ => storage_root.join("python"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_under_its_hash_and_reuses_the_folder() {
        let base = tempfile::tempdir().expect("tempdir");
        let script = install(base.path()).expect("installed");
        assert_eq!(
            script.file_name().and_then(|n| n.to_str()),
            Some(WORKER_SCRIPT)
        );
        for (name, text) in files() {
            let path = script.parent().expect("folder").join(name);
            assert_eq!(std::fs::read_to_string(path).expect("written"), text);
        }
        assert_eq!(install(base.path()).expect("reused"), script);
        let names: Vec<String> = std::fs::read_dir(base.path())
            .expect("readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![format!("runtime-{}", content_hash())]);
    }
}
