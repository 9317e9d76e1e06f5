//! XCom in the state store: tree `xcom`, one entry per (DAG, run, task, key, map index),
//! Airflow's primary key (`airflow/models/xcom.py`: dag_run_id, task_id, map_index, key;
//! map index -1 for a task instance that is not mapped, a map call's index for what that
//! call pushed).
//!
//! Key: `dag_id \0 run_id \0 task_id \0 key \0` then the map index as 4 bytes that sort
//! as the number does (the `i32` with its sign bit flipped, big-endian), so a prefix scan
//! of one key gives its values in map-index order, -1 first. A key may not hold `\0`.
//! Value: an [`XComRecord`] (schema 4; schema 3 held the bare JSON value under
//! `dag_id \0 run_id \0 task_id \0 key`, see [`Store::migrate_xcom_to_4`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{SCHEMA_VERSION, Store, StoreError, TaskInstanceRecord, key, prefix};

/// Airflow's key of a task's return value.
pub const RETURN_KEY: &str = "return_value";

/// The map index of a task instance that is not mapped.
pub const UNMAPPED: i32 = -1;

/// One stored XCom value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComRecord {
    /// Record format.
    pub version: u32,
    /// The value (JSON).
    pub value: Value,
    /// When it was pushed.
    pub timestamp: DateTime<Utc>,
}

/// An XCom entry of a task instance, as listings show it.
#[derive(Debug, Clone, PartialEq)]
pub struct XComEntry {
    /// The key.
    pub key: String,
    /// The map index (-1: not mapped).
    pub map_index: i32,
    /// The value and when it was pushed.
    pub record: XComRecord,
}

/// Why an XCom key cannot be stored.
pub fn check_key(xkey: &str) -> Result<(), String> {
    if xkey.is_empty() {
        return Err("XCom key must be a non-empty string".to_owned());
    }
    if xkey.contains('\0') {
        return Err(format!(
            "XCom key {xkey:?} holds a NUL character, which lithoflow cannot store"
        ));
    }
    Ok(())
}

pub(super) fn index_bytes(map_index: i32) -> [u8; 4] {
    ((map_index as u32) ^ (1 << 31)).to_be_bytes()
}

fn index_of(bytes: &[u8]) -> Option<i32> {
    let b: [u8; 4] = bytes.try_into().ok()?;
    Some((u32::from_be_bytes(b) ^ (1 << 31)) as i32)
}

fn xcom_key(dag_id: &str, run_id: &str, task_id: &str, xkey: &str, map_index: i32) -> Vec<u8> {
    let mut k = prefix(&[dag_id, run_id, task_id, xkey]);
    k.extend_from_slice(&index_bytes(map_index));
    k
}

/// The key and map index at the end of an `xcom` tree key whose task prefix is
/// `task_prefix` bytes long.
fn split_entry_key(k: &[u8], task_prefix: usize) -> Option<(String, i32)> {
    let rest = k.get(task_prefix..)?;
    let cut = rest.len().checked_sub(5)?;
    if rest.get(cut) != Some(&0) {
        return None;
    }
    let xkey = String::from_utf8(rest[..cut].to_vec()).ok()?;
    Some((xkey, index_of(&rest[cut + 1..])?))
}

impl Store {
    fn xcom_record(&self, k: &[u8]) -> Result<Option<XComRecord>, StoreError> {
        self.get(&self.xcom, k, "XCom value")
    }

    /// Stores an XCom value of an unmapped task instance (map index -1).
    pub fn put_xcom(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        xkey: &str,
        v: &Value,
    ) -> Result<(), StoreError> {
        self.put_xcom_at(dag_id, run_id, task_id, UNMAPPED, xkey, v, Utc::now())
    }

    /// Stores an XCom value at a map index, pushed at `timestamp`.
    #[expect(
        clippy::too_many_arguments,
        reason = "the five parts of Airflow's XCom key, the value and its time"
    )]
    pub fn put_xcom_at(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i32,
        xkey: &str,
        v: &Value,
        timestamp: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = XComRecord {
            version: SCHEMA_VERSION,
            value: v.clone(),
            timestamp,
        };
        self.put(
            &self.xcom,
            xcom_key(dag_id, run_id, task_id, xkey, map_index),
            &record,
        )
    }

    /// An XCom value of an unmapped task instance (map index -1).
    pub fn xcom(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        xkey: &str,
    ) -> Result<Option<Value>, StoreError> {
        self.xcom_at(dag_id, run_id, task_id, UNMAPPED, xkey)
    }

    /// An XCom value at a map index.
    pub fn xcom_at(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i32,
        xkey: &str,
    ) -> Result<Option<Value>, StoreError> {
        Ok(self
            .xcom_record(&xcom_key(dag_id, run_id, task_id, xkey, map_index))?
            .map(|r| r.value))
    }

    /// Every value of one key of a task instance, by map index (-1 first, then the map
    /// calls' in order): Airflow's `XCom.get_all`.
    pub fn xcom_all(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        xkey: &str,
    ) -> Result<Vec<(i32, Value)>, StoreError> {
        let p = prefix(&[dag_id, run_id, task_id, xkey]);
        let mut out = Vec::new();
        for item in self.xcom.scan_prefix(&p) {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let Some(map_index) = k.get(p.len()..).and_then(index_of) else {
                continue;
            };
            let record: XComRecord =
                serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                    path: self.path.clone(),
                    what: "XCom value".to_owned(),
                    source,
                })?;
            out.push((map_index, record.value));
        }
        Ok(out)
    }

    /// Every XCom entry of a task instance, by key, then map index.
    pub fn xcom_entries(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<Vec<XComEntry>, StoreError> {
        let p = prefix(&[dag_id, run_id, task_id]);
        let mut out = Vec::new();
        for item in self.xcom.scan_prefix(&p) {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let Some((xkey, map_index)) = split_entry_key(&k, p.len()) else {
                continue;
            };
            let record: XComRecord =
                serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                    path: self.path.clone(),
                    what: "XCom value".to_owned(),
                    source,
                })?;
            out.push(XComEntry {
                key: xkey,
                map_index,
                record,
            });
        }
        Ok(out)
    }

    /// Deletes one key of a task instance, at every map index.
    pub fn delete_xcom(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        xkey: &str,
    ) -> Result<(), StoreError> {
        self.delete_prefix(&prefix(&[dag_id, run_id, task_id, xkey]))
    }

    /// Deletes every XCom value of a task instance: when it is cleared, and when a new
    /// try starts (Airflow clears a task instance's XCom before it runs:
    /// `TaskInstance._run_raw_task` in 2.x, `xcom_keys_to_clear` in 3.x's task runner).
    pub fn clear_xcom(&self, dag_id: &str, run_id: &str, task_id: &str) -> Result<(), StoreError> {
        self.delete_prefix(&prefix(&[dag_id, run_id, task_id]))
    }

    /// Deletes every XCom value of one instance of a task (at one map index): when a
    /// mapped instance is cleared or starts a new try.
    pub fn clear_xcom_at(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i32,
    ) -> Result<(), StoreError> {
        let p = prefix(&[dag_id, run_id, task_id]);
        for k in self.xcom.scan_prefix(&p).keys() {
            let k = k.map_err(|e| self.db_err(e))?;
            if split_entry_key(&k, p.len()).is_some_and(|(_, i)| i == map_index) {
                self.xcom.remove(k).map_err(|e| self.db_err(e))?;
            }
        }
        Ok(())
    }

    /// The `return_value` of each instance of a mapped task, in map index order
    /// (instances that pushed none are left out): Airflow's `LazyXComSelectSequence`.
    pub fn mapped_results(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<Vec<Value>, StoreError> {
        Ok(self
            .xcom_all(dag_id, run_id, task_id, RETURN_KEY)?
            .into_iter()
            .filter(|(i, _)| *i >= 0)
            .map(|(_, v)| v)
            .collect())
    }

    fn delete_prefix(&self, p: &[u8]) -> Result<(), StoreError> {
        for k in self.xcom.scan_prefix(p).keys() {
            let k = k.map_err(|e| self.db_err(e))?;
            self.xcom.remove(k).map_err(|e| self.db_err(e))?;
        }
        Ok(())
    }

    /// Schema 3 -> 4: each XCom value `dag \0 run \0 task \0 key -> JSON` becomes an
    /// [`XComRecord`] at map index -1, timestamped with its task instance's end (else
    /// now). A key with three NULs is of schema 3; one migrated already has four, so a
    /// migration cut short is finished by running it again.
    pub(super) fn migrate_xcom_to_4(&self) -> Result<(), StoreError> {
        let now = Utc::now();
        for item in self.xcom.iter() {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            if k.iter().filter(|&&b| b == 0).count() != 3 {
                continue;
            }
            let text = String::from_utf8_lossy(&k).into_owned();
            let parts: Vec<&str> = text.split('\0').collect();
            let [dag_id, run_id, task_id, xkey] = parts[..] else {
                continue;
            };
            let value: Value = serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                path: self.path.clone(),
                what: "XCom value (schema 3)".to_owned(),
                source,
            })?;
            // Task instances are still keyed as in schema 3 and 4 here (`dag \0 run \0
            // task`): XCom moves before them.
            let timestamp = self
                .get::<TaskInstanceRecord>(
                    &self.tis,
                    &key(&[dag_id, run_id, task_id]),
                    "task instance",
                )?
                .and_then(|ti| ti.end_date)
                .unwrap_or(now);
            self.put_xcom_at(dag_id, run_id, task_id, UNMAPPED, xkey, &value, timestamp)?;
            self.xcom.remove(&k).map_err(|e| self.db_err(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn map_indexes_sort_as_numbers_and_keys_split_back() {
        let mut keys: Vec<_> = [5, -1, 0, 300, 2]
            .iter()
            .map(|&i| xcom_key("d", "r", "t", "k", i))
            .collect();
        keys.sort();
        let p = prefix(&["d", "r", "t"]).len();
        let got: Vec<_> = keys.iter().filter_map(|k| split_entry_key(k, p)).collect();
        assert_eq!(
            got,
            [-1, 0, 2, 5, 300].map(|i| ("k".to_owned(), i)).to_vec()
        );
        assert!(check_key("").is_err() && check_key("a\0b").is_err());
        assert!(check_key("any key/with: spaces").is_ok());
    }

    #[test]
    fn values_are_kept_per_key_and_map_index_and_cleared_per_task() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("state")).expect("opens");
        let at = Utc::now();
        s.put_xcom("d", "r", "t", RETURN_KEY, &json!([1, 2]))
            .expect("put");
        for i in [2, 0, 1] {
            s.put_xcom_at("d", "r", "t", i, "seen", &json!(i * 10), at)
                .expect("put");
        }
        s.put_xcom("d", "r", "t2", "seen", &json!("other task"))
            .expect("put");
        assert_eq!(
            s.xcom_all("d", "r", "t", "seen").expect("all"),
            vec![(0, json!(0)), (1, json!(10)), (2, json!(20))]
        );
        assert_eq!(
            s.xcom_at("d", "r", "t", 1, "seen").expect("one"),
            Some(json!(10))
        );
        assert_eq!(s.xcom("d", "r", "t", "seen").expect("unmapped"), None);
        let entries = s.xcom_entries("d", "r", "t").expect("entries");
        let listed: Vec<_> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.map_index))
            .collect();
        assert_eq!(
            listed,
            [("return_value", -1), ("seen", 0), ("seen", 1), ("seen", 2)]
        );
        s.clear_xcom("d", "r", "t").expect("clear");
        assert!(s.xcom_entries("d", "r", "t").expect("entries").is_empty());
        assert_eq!(
            s.xcom("d", "r", "t2", "seen").expect("kept"),
            Some(json!("other task"))
        );
    }
}
