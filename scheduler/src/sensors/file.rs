//! `sensor = "file"` (Airflow's `FileSensor`, airflow/sensors/filesystem.py 2.10): done
//! when the glob matches a file, or a folder with a file somewhere under it. Python's
//! `glob` rules: `*`, `?` and `[...]` within one path segment, names starting with `.`
//! matched only by a pattern starting with `.`, and with `recursive`, `**` for any
//! number of folders.

use std::path::{Path, PathBuf};

use super::fnmatch;

/// Whether `pattern` (relative paths against `base`, the DAG's folder) matches a file,
/// or a folder holding a file at any depth; the first match, for the log.
pub(crate) fn poke(pattern: &str, recursive: bool, base: &Path) -> Option<PathBuf> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let text = full.to_string_lossy().into_owned();
    let segments: Vec<&str> = text.split('/').collect();
    let (root, rest) = if text.starts_with('/') {
        (PathBuf::from("/"), &segments[1..])
    } else {
        (PathBuf::from("."), &segments[..])
    };
    let mut found = Vec::new();
    expand(&root, rest, recursive, &mut found);
    found.into_iter().find(|p| p.is_file() || has_file(p))
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Every existing path matching the segments under `dir`.
fn expand(dir: &Path, segments: &[&str], recursive: bool, out: &mut Vec<PathBuf>) {
    let Some((first, rest)) = segments.split_first() else {
        out.push(dir.to_path_buf());
        return;
    };
    if first.is_empty() {
        // `a//b` or a trailing `/`.
        return expand(dir, rest, recursive, out);
    }
    if recursive && *first == "**" {
        // Zero folders, then each folder below (not hidden ones), as Python's glob.
        expand(dir, rest, recursive, out);
        for sub in children(dir).into_iter().filter(|p| p.is_dir()) {
            expand(&sub, segments, recursive, out);
        }
        return;
    }
    if !has_magic(first) {
        let next = dir.join(first);
        if rest.is_empty() {
            if next.exists() {
                out.push(next);
            }
        } else if next.is_dir() {
            expand(&next, rest, recursive, out);
        }
        return;
    }
    for child in children(dir) {
        let Some(name) = child.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') && !first.starts_with('.') {
            continue;
        }
        if fnmatch(first, name) && (rest.is_empty() || child.is_dir()) {
            expand(&child, rest, recursive, out);
        }
    }
}

/// The entries of a folder, sorted, hidden ones (`.x`) left out of `**`.
fn children(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    v
}

/// Whether a folder holds a file at any depth (`os.walk`).
fn has_file(dir: &Path) -> bool {
    if !dir.is_dir() {
        return false;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_files_and_folders_with_files_as_airflows_file_sensor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path();
        assert_eq!(poke("data/*.csv", false, base), None);
        std::fs::create_dir_all(base.join("data/2026/05")).expect("mkdir");
        // An empty folder does not count; one holding a file (at any depth) does.
        assert_eq!(poke("data/2026", false, base), None);
        std::fs::write(base.join("data/2026/05/x.txt"), "x").expect("write");
        assert!(poke("data/2026", false, base).is_some());
        assert_eq!(poke("data/*.csv", false, base), None);
        std::fs::write(base.join("data/.hidden.csv"), "x").expect("write");
        assert_eq!(
            poke("data/*.csv", false, base),
            None,
            "hidden files need .*"
        );
        assert!(poke("data/.*.csv", false, base).is_some());
        // `**` spans folders only with recursive.
        assert_eq!(poke("data/**/x.txt", false, base), None);
        assert!(poke("data/**/x.txt", true, base).is_some());
        assert!(poke("data/20[0-9][0-9]/0?/x.txt", false, base).is_some());
        let abs = base.join("data/2026/05/x.txt");
        assert!(poke(&abs.to_string_lossy(), false, Path::new("/nowhere")).is_some());
    }
}
