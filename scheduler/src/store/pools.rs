//! Pools in the state store (Airflow's `slot_pool` table).
//!
//! Tree `pools`: name -> [`PoolRecord`]. A new tree, so no schema change: a database
//! without it gets `default_pool` with [`DEFAULT_POOL_SLOTS`] slots when it is opened,
//! as Airflow creates `default_pool` from `[core] default_pool_task_slot_count` (128).

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// The pool of a task that names none (Airflow's `Pool.DEFAULT_POOL_NAME`).
pub const DEFAULT_POOL: &str = "default_pool";

/// The slots `default_pool` is created with (Airflow's `default_pool_task_slot_count`).
pub const DEFAULT_POOL_SLOTS: i64 = 128;

/// The longest pool name, in bytes (as every id the API takes in a path; Airflow's
/// column holds 256 characters).
pub const MAX_POOL_NAME: usize = 250;

/// Record format of pools.
const RECORD_VERSION: u32 = 1;

/// One pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRecord {
    /// Record format.
    #[serde(default)]
    pub version: u32,
    /// Its name.
    pub name: String,
    /// How many slots it has; -1: unlimited, as Airflow.
    pub slots: i64,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Whether deferred task instances take slots too (Airflow 2.7+).
    #[serde(default)]
    pub include_deferred: bool,
}

impl PoolRecord {
    /// A pool record of the current format.
    pub fn new(name: &str, slots: i64, description: &str, include_deferred: bool) -> PoolRecord {
        PoolRecord {
            version: RECORD_VERSION,
            name: name.to_owned(),
            slots,
            description: description.to_owned(),
            include_deferred,
        }
    }
}

/// Why a pool cannot be written as asked: Airflow's checks, with its wording where it
/// has one (`airflow/models/pool.py`, `api_connexion/endpoints/pool_endpoint.py`).
pub fn check_pool(name: &str, slots: i64) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("Pool name shouldn't be empty".to_owned());
    }
    if name.len() > MAX_POOL_NAME {
        return Err(format!(
            "Pool name is too long: {} bytes, at most {MAX_POOL_NAME}",
            name.len()
        ));
    }
    if name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(format!(
            "Pool name {name:?} is not valid: no `/`, `\\`, control characters, `.` or `..`"
        ));
    }
    if slots < -1 {
        return Err(format!(
            "Pool slots must be -1 (unlimited) or a non-negative integer, found {slots}"
        ));
    }
    Ok(())
}

impl Store {
    fn pools_tree(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree("pools").map_err(|e| self.db_err(e))
    }

    /// Creates `default_pool` if it is missing (called when the store is opened).
    pub(super) fn ensure_default_pool(&self) -> Result<(), StoreError> {
        if self.pool(DEFAULT_POOL)?.is_none() {
            self.put_pool(&PoolRecord::new(
                DEFAULT_POOL,
                DEFAULT_POOL_SLOTS,
                "Default pool",
                false,
            ))?;
        }
        Ok(())
    }

    /// Every pool, by name.
    pub fn pools(&self) -> Result<Vec<PoolRecord>, StoreError> {
        let tree = self.pools_tree()?;
        self.scan(&tree, b"", "pool")
    }

    /// One pool.
    pub fn pool(&self, name: &str) -> Result<Option<PoolRecord>, StoreError> {
        let tree = self.pools_tree()?;
        self.get(&tree, name.as_bytes(), "pool")
    }

    /// Creates or replaces a pool.
    pub fn put_pool(&self, pool: &PoolRecord) -> Result<(), StoreError> {
        let tree = self.pools_tree()?;
        self.put(&tree, pool.name.as_bytes().to_vec(), pool)
    }

    /// Removes a pool; false if there was none.
    pub fn delete_pool(&self, name: &str) -> Result<bool, StoreError> {
        let tree = self.pools_tree()?;
        Ok(tree
            .remove(name.as_bytes())
            .map_err(|e| self.db_err(e))?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pool_is_created_once_and_pools_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        {
            let store = Store::open_again(&path).expect("open");
            let pools = store.pools().expect("pools");
            assert_eq!(pools.len(), 1);
            assert_eq!(
                (pools[0].name.as_str(), pools[0].slots),
                (DEFAULT_POOL, 128)
            );
            store
                .put_pool(&PoolRecord::new(DEFAULT_POOL, 4, "mine", false))
                .expect("put");
            store
                .put_pool(&PoolRecord::new("etl", 2, "", true))
                .expect("put");
            store.flush().expect("flush");
        }
        let store = Store::reopen(&path).expect("reopen");
        store.ensure_default_pool().expect("ensure");
        // A changed default_pool is kept; pools come by name.
        let pools = store.pools().expect("pools");
        let names: Vec<(&str, i64)> = pools.iter().map(|p| (p.name.as_str(), p.slots)).collect();
        assert_eq!(names, [(DEFAULT_POOL, 4), ("etl", 2)]);
        assert!(store.delete_pool("etl").expect("delete"));
        assert!(!store.delete_pool("etl").expect("delete"));
    }

    #[test]
    fn pool_names_and_slots_are_checked() {
        assert!(check_pool("", 1).is_err());
        assert!(check_pool("a", -2).is_err());
        assert!(check_pool("a", -1).is_ok());
        assert!(check_pool(&"x".repeat(251), 1).is_err());
        assert!(check_pool("a/b", 1).is_err());
        assert!(check_pool("a\nb", 1).is_err());
    }
}
