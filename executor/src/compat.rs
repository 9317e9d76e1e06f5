//! lithoflow's Airflow compatibility package (`executor/python/compat/`: the `airflow`
//! package, the DAG-file loader and the worker's DAG-file shims), embedded at build time
//! and written out once per version to a folder that goes first on `sys.path`, so that
//! `import airflow` means lithoflow's own implementation of Airflow's authoring API.

use std::io;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/compat_files.rs"));
}

/// The file a loader process runs: `python3 -u <folder>/lithoflow_loader.py`.
pub const LOADER_SCRIPT: &str = "lithoflow_loader.py";

/// The embedded files: each one's path under the package folder, and its bytes.
pub fn files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

/// A hash of the embedded package: it names the folder [`install`] writes.
pub fn version_hash() -> &'static str {
    embedded::HASH
}

/// The folder [`install`] writes under `base` for this build's package.
pub fn folder(base: &Path) -> PathBuf {
    base.join(format!("compat-{}", embedded::HASH))
}

/// Writes the package to `base/compat-<hash>/` unless it is there already, and returns
/// that folder. The files go to a temporary folder first that is then renamed, so a
/// folder under the final name is always whole; two processes installing at once both
/// succeed (the second rename loses and its copy is removed).
pub fn install(base: &Path) -> io::Result<PathBuf> {
    install_folder(base, &format!("compat-{}", embedded::HASH), write_all)
}

/// Makes `base/name/` with `write` unless it is there already, and returns it: `write`
/// fills a temporary folder beside it, which is then renamed, so a folder under the
/// final name is always whole, and of two processes installing at once the second
/// rename loses and its copy is removed. Shared with the worker's files
/// (`workerfiles::install`).
pub(crate) fn install_folder(
    base: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let target = base.join(name);
    if target.is_dir() {
        return Ok(target);
    }
    std::fs::create_dir_all(base)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temp = base.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    if let Err(e) = write(&temp) {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(e);
    }
    match std::fs::rename(&temp, &target) {
        Ok(()) => Ok(target),
        Err(_) if target.is_dir() => {
            let _ = std::fs::remove_dir_all(&temp);
            Ok(target)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&temp);
            Err(e)
        }
    }
}

fn write_all(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in embedded::FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_under_its_hash_and_reuses_the_folder() {
        let base = tempfile::tempdir().expect("tempdir");
        let first = install(base.path()).expect("installed");
        assert_eq!(first, folder(base.path()));
        for (name, bytes) in files() {
            assert_eq!(&std::fs::read(first.join(name)).expect("written"), bytes);
        }
        let again = install(base.path()).expect("reused");
        assert_eq!(again, first);
        // No temporary folder is left behind.
        let names: Vec<String> = std::fs::read_dir(base.path())
            .expect("readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![format!("compat-{}", version_hash())]);
    }

    #[test]
    fn the_package_holds_the_loader_and_the_lithoflow_module() {
        let names: Vec<&str> = files().iter().map(|(n, _)| *n).collect();
        for needed in [
            "lithoflow_loader.py",
            "lithoflow_dagfiles.py",
            "airflow/__init__.py",
        ] {
            assert!(names.contains(&needed), "{needed} missing from {names:?}");
        }
        let module = files()
            .iter()
            .find(|(n, _)| *n == "lithoflow.py")
            .expect("lithoflow.py is embedded");
        assert_eq!(
            module.1,
            crate::protocol::LITHOFLOW_MODULE_SOURCE.as_bytes()
        );
    }
}
