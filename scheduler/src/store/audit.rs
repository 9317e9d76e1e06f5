//! The event log of user actions (Airflow's `log` table, served as `eventLogs`).
//!
//! Tree `audit_log`: a big-endian `u64` id (sled's monotonic `generate_id`, so ids grow
//! with time) -> [`AuditRecord`]. A new tree, so no schema change. What a user did
//! (trigger, clear, pause, patch, variable and connection changes) is recorded by the
//! code that does it, from the API and the CLI alike; secrets never go into `extra`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// Record format of event log entries.
const RECORD_VERSION: u32 = 1;

/// One user action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Record format.
    #[serde(default)]
    pub version: u32,
    /// Its id (Airflow's `event_log_id`), growing with time.
    pub id: u64,
    /// When it happened.
    pub when: DateTime<Utc>,
    /// What happened, in Airflow's words where it has them (`trigger`, `clear`,
    /// `paused`, `variable.create`, `connection.edit`, ...).
    pub event: String,
    /// The DAG it concerned.
    #[serde(default)]
    pub dag_id: Option<String>,
    /// The task.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The run.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The map index (-1 or none: unmapped).
    #[serde(default)]
    pub map_index: Option<i32>,
    /// The try.
    #[serde(default)]
    pub try_number: Option<u32>,
    /// Who did it: `cli` (with the OS user) or `api`.
    pub owner: String,
    /// Details as JSON text (never a secret: values of variables and passwords are not
    /// recorded).
    #[serde(default)]
    pub extra: Option<String>,
}

impl AuditRecord {
    /// An entry for `event` by `owner` now; the id is given when it is recorded.
    pub fn new(event: &str, owner: &str) -> AuditRecord {
        AuditRecord {
            version: RECORD_VERSION,
            id: 0,
            when: Utc::now(),
            event: event.to_owned(),
            dag_id: None,
            task_id: None,
            run_id: None,
            map_index: None,
            try_number: None,
            owner: owner.to_owned(),
            extra: None,
        }
    }

    /// The same entry about a DAG (and a run).
    pub fn about(mut self, dag_id: &str, run_id: Option<&str>) -> AuditRecord {
        self.dag_id = Some(dag_id.to_owned());
        self.run_id = run_id.map(str::to_owned);
        self
    }

    /// The same entry with `extra` set to this JSON.
    pub fn with_extra(mut self, extra: &serde_json::Value) -> AuditRecord {
        self.extra = Some(extra.to_string());
        self
    }
}

impl Store {
    fn audit_tree(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree("audit_log").map_err(|e| self.db_err(e))
    }

    /// Records `rec` under a new id (returned). Not flushed on its own: the change it
    /// describes is flushed by its own writer, and a lost entry loses no state.
    pub fn record_audit(&self, mut rec: AuditRecord) -> Result<u64, StoreError> {
        let id = self.db.generate_id().map_err(|e| self.db_err(e))? + 1;
        rec.id = id;
        let tree = self.audit_tree()?;
        self.put(&tree, id.to_be_bytes().to_vec(), &rec)?;
        Ok(id)
    }

    /// Every entry, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let tree = self.audit_tree()?;
        self.scan(&tree, &[], "event log entry")
    }

    /// One entry.
    pub fn audit_entry(&self, id: u64) -> Result<Option<AuditRecord>, StoreError> {
        let tree = self.audit_tree()?;
        self.get(&tree, &id.to_be_bytes(), "event log entry")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_get_growing_ids_and_come_back_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("state")).expect("store");
        let a = store
            .record_audit(AuditRecord::new("trigger", "api").about("d", Some("r1")))
            .expect("a");
        let b = store
            .record_audit(
                AuditRecord::new("paused", "cli")
                    .with_extra(&serde_json::json!({"is_paused": true})),
            )
            .expect("b");
        assert!(b > a);
        let all = store.audit_log().expect("log");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].event, "trigger");
        assert_eq!(all[0].run_id.as_deref(), Some("r1"));
        assert_eq!(all[1].extra.as_deref(), Some(r#"{"is_paused":true}"#));
        assert_eq!(
            store.audit_entry(b).expect("get").map(|r| r.event),
            Some("paused".into())
        );
        assert_eq!(store.audit_entry(b + 100).expect("get"), None);
    }
}
