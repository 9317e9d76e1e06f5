//! Job data in the localhost storage: `<root>/lithoflow.jobs/<job_key>/`, holding the
//! job's description, its status and its results, so a job reference can be resolved
//! after the task that made it has finished.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;

/// The top folder of job data inside a storage.
pub const JOBS_PREFIX: &str = "lithoflow.jobs";

/// A folder used as storage.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Storage rooted at `root` (for example `$LITHOFLOW_HOME/storage`).
    pub fn new(root: impl Into<PathBuf>) -> LocalStorage {
        LocalStorage { root: root.into() }
    }

    /// The folder of a job. Keys are `/`-separated; segments that could escape the
    /// storage (`..`, empty, absolute) are replaced.
    pub fn job_dir(&self, job_key: &str) -> PathBuf {
        let mut dir = self.root.join(JOBS_PREFIX);
        for seg in job_key.split('/') {
            let safe: String = seg
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || "_.-+:=".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            dir.push(match safe.as_str() {
                "" | "." | ".." => "_".to_owned(),
                _ => safe,
            });
        }
        dir
    }

    /// Writes `name` (JSON) in the job's folder, atomically (write then rename).
    pub fn put_json<T: Serialize>(
        &self,
        job_key: &str,
        name: &str,
        value: &T,
    ) -> Result<PathBuf, Error> {
        let dir = self.job_dir(job_key);
        std::fs::create_dir_all(&dir).map_err(|source| Error::Storage {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let body = serde_json::to_vec(value).map_err(|e| Error::Storage {
            path: path.clone(),
            source: e.into(),
        })?;
        std::fs::write(&tmp, body).map_err(|source| Error::Storage {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| Error::Storage {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Deletes a job's data (`clean_data`).
    pub fn clean(&self, job_key: &str) -> Result<(), Error> {
        let dir = self.job_dir(job_key);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Storage { path: dir, source }),
        }
    }

    /// The storage's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_keys_cannot_escape_the_storage() {
        let s = LocalStorage::new("/st");
        assert_eq!(
            s.job_dir("dag/run 1/../t/1"),
            PathBuf::from("/st/lithoflow.jobs/dag/run_1/_/t/1")
        );
        assert_eq!(s.job_dir("/abs"), PathBuf::from("/st/lithoflow.jobs/_/abs"));
    }
}
