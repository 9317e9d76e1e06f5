//! How a client finds a running scheduler: `$LITHOFLOW_HOME/scheduler.json` says where
//! its API listens, `$LITHOFLOW_HOME/api-token` holds the bearer token. The scheduler
//! writes both (the token once, private to its owner); clients only read them.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `$LITHOFLOW_HOME/scheduler.json`: how clients find a running scheduler's API.
/// Written once the API listens; removed when the scheduler exits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerInfo {
    /// The scheduler's process id.
    pub pid: u32,
    /// The API's port on 127.0.0.1.
    pub port: u16,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// The DAGs folder it serves.
    pub dags_folder: PathBuf,
}

impl SchedulerInfo {
    /// The file's path in a lithoflow home.
    pub fn path(home: &Path) -> PathBuf {
        home.join("scheduler.json")
    }

    /// The home's scheduler file; None when there is none (no scheduler runs).
    pub fn read(home: &Path) -> Result<Option<SchedulerInfo>, DiscoveryError> {
        let path = SchedulerInfo::path(home);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(DiscoveryError::Read {
                    path,
                    message: e.to_string(),
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DiscoveryError::NotAScheduler {
                path,
                message: e.to_string(),
            })
    }
}

/// Why a home's files do not lead to a scheduler. The causes are kept as text so the
/// error stays cheap to clone and compare (the TUI keeps errors in its messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The home describes no scheduler (no `scheduler.json`).
    #[error(
        "no scheduler is running for {} (no scheduler.json); start one with `lithoflow scheduler`",
        .home.display()
    )]
    NoScheduler {
        /// The lithoflow home.
        home: PathBuf,
    },
    /// A file could not be read.
    #[error("failed to read {}: {message}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// `scheduler.json` is not what a scheduler writes.
    #[error("{} is not a scheduler description: {message}", .path.display())]
    NotAScheduler {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A scheduler is described but the token file is missing.
    #[error(
        "a scheduler (pid {pid}) is described in {} but there is no API token at {}",
        .info.display(),
        .token.display()
    )]
    NoToken {
        /// The scheduler's process id.
        pid: u32,
        /// `scheduler.json`.
        info: PathBuf,
        /// Where the token should be.
        token: PathBuf,
    },
    /// The token file can be read by others: anyone who can read it can drive the
    /// scheduler, so it is not used.
    #[error(
        "the API token {} is accessible to other users (mode {mode:03o}); run `chmod 600 {}`",
        .path.display(),
        .path.display()
    )]
    TokenNotPrivate {
        /// The token file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The token file holds no token.
    #[error(
        "the API token {} is not a token (at least 32 printable characters); delete it and start the scheduler again to make a new one",
        .path.display()
    )]
    NotAToken {
        /// The token file.
        path: PathBuf,
    },
}

/// Where a lithoflow home keeps the API token.
pub fn token_path(home: &Path) -> PathBuf {
    home.join("api-token")
}

/// Reads the token file: None if it does not exist; an error if others can read it or
/// it holds no token (at least 32 printable characters).
pub fn read_token(path: &Path) -> Result<Option<String>, DiscoveryError> {
    use std::os::unix::fs::PermissionsExt as _;

    let read_error = |e: std::io::Error| DiscoveryError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(DiscoveryError::TokenNotPrivate {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let token = text.trim();
    if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DiscoveryError::NotAToken {
            path: path.to_owned(),
        });
    }
    Ok(Some(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_token_must_be_private_and_a_token() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = token_path(dir.path());
        assert_eq!(read_token(&path), Ok(None));
        let token = "0123456789abcdef0123456789abcdef";
        std::fs::write(&path, format!("{token}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read_token(&path), Ok(Some(token.to_owned())));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let err = read_token(&path).expect_err("others can read it");
        assert_eq!(
            err.to_string(),
            format!(
                "the API token {} is accessible to other users (mode 640); run `chmod 600 {}`",
                path.display(),
                path.display()
            )
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::write(&path, "short\n").expect("write");
        assert_eq!(
            read_token(&path),
            Err(DiscoveryError::NotAToken { path: path.clone() })
        );
    }

    #[test]
    fn the_scheduler_file_is_read_when_there_is_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(SchedulerInfo::read(dir.path()), Ok(None));
        let info = SchedulerInfo {
            pid: 42,
            port: 8793,
            started_at: DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
                .expect("valid")
                .with_timezone(&Utc),
            dags_folder: PathBuf::from("/dags"),
        };
        let path = SchedulerInfo::path(dir.path());
        std::fs::write(&path, serde_json::to_vec(&info).expect("json")).expect("write");
        assert_eq!(SchedulerInfo::read(dir.path()), Ok(Some(info)));
        std::fs::write(&path, "{}").expect("write");
        assert!(matches!(
            SchedulerInfo::read(dir.path()),
            Err(DiscoveryError::NotAScheduler { .. })
        ));
    }
}
