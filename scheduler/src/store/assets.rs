//! Assets in the state store (Airflow's `asset`, `asset_event`, `asset_dag_run_queue`
//! and `dagrun_asset_event` tables; Airflow 2's `dataset*`).
//!
//! Trees (new trees, so no schema change):
//! - `assets`: uri -> [`AssetRecord`].
//! - `asset_events`: event id (8 bytes, big-endian) -> [`AssetEventRecord`]; ids grow
//!   with each event (from the counter in `asset_counters`), so key order is the order
//!   events were recorded.
//! - `asset_events_by_uri`: uri \0 event id (8 bytes) -> nothing.
//! - `asset_dag_run_queue`: dag_id \0 uri -> [`QueuedAsset`]: per DAG scheduled on
//!   assets, the assets updated since its last asset-triggered run (Airflow's
//!   `AssetDagRunQueue`).
//! - `asset_run_events`: dag_id \0 run_id -> the ids of the events that triggered the
//!   run (Airflow's `dagrun_asset_event`).
//! - `asset_outlet_extras`: dag_id \0 run_id \0 task_id \0 map index -> the extras a
//!   running task gave its outlets' events (`outlet_events[asset].extra`), uri -> extra;
//!   taken when the task instance finishes.
//! - `asset_counters`: `asset_id`, `event_id` (the last ids given, u64 big-endian) and
//!   `queued_up_to` (the last event the scheduler queued for its consumers).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Store, StoreError, key, prefix};
use lithoflow_dag::asset::Asset;

/// Record format of asset records.
const RECORD_VERSION: u32 = 1;

/// The trees of assets.
pub(super) struct AssetTrees {
    assets: sled::Tree,
    events: sled::Tree,
    by_uri: sled::Tree,
    queue: sled::Tree,
    run_events: sled::Tree,
    outlet_extras: sled::Tree,
    counters: sled::Tree,
}

impl AssetTrees {
    pub(super) fn open(db: &sled::Db) -> Result<AssetTrees, sled::Error> {
        Ok(AssetTrees {
            assets: db.open_tree("assets")?,
            events: db.open_tree("asset_events")?,
            by_uri: db.open_tree("asset_events_by_uri")?,
            queue: db.open_tree("asset_dag_run_queue")?,
            run_events: db.open_tree("asset_run_events")?,
            outlet_extras: db.open_tree("asset_outlet_extras")?,
            counters: db.open_tree("asset_counters")?,
        })
    }
}

/// An asset known to the scheduler: named by a DAG it loaded, or by an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetRecord {
    /// Record format.
    pub version: u32,
    /// Its number (Airflow's `id`), from 1.
    pub id: u64,
    /// Its normalised URI, the key.
    pub uri: String,
    /// Its name (Airflow 3).
    pub name: String,
    /// Its group (Airflow 3).
    pub group: String,
    /// Its extra, as the DAG last loaded wrote it.
    pub extra: Map<String, Value>,
    /// When first seen.
    pub created_at: DateTime<Utc>,
    /// When its name, group or extra last changed.
    pub updated_at: DateTime<Utc>,
}

/// Where an event came from: a task instance, or nothing (an external event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventSource {
    /// The producing DAG.
    pub dag_id: Option<String>,
    /// Its run.
    pub run_id: Option<String>,
    /// The task.
    pub task_id: Option<String>,
    /// The task instance's map index (-1: not mapped).
    #[serde(default = "unmapped")]
    pub map_index: i64,
}

fn unmapped() -> i64 {
    -1
}

/// One update of an asset (Airflow's `AssetEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetEventRecord {
    /// Record format.
    pub version: u32,
    /// Its number; later events have larger ones.
    pub id: u64,
    /// The asset's URI.
    pub uri: String,
    /// Free JSON given with the event.
    pub extra: Map<String, Value>,
    /// Where it came from.
    #[serde(flatten)]
    pub source: EventSource,
    /// When it was recorded.
    pub timestamp: DateTime<Utc>,
}

/// An asset updated since a DAG's last asset-triggered run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedAsset {
    /// The asset's URI.
    pub uri: String,
    /// When it was first updated since that run (Airflow's `created_at`).
    pub created_at: DateTime<Utc>,
}

fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn id_of(b: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(b).ok().map(u64::from_be_bytes)
}

impl Store {
    fn next_counter(&self, name: &str) -> Result<u64, StoreError> {
        let next = self
            .assets
            .counters
            .update_and_fetch(name, |old| {
                let n = old.and_then(id_of).unwrap_or(0) + 1;
                Some(id_key(n).to_vec())
            })
            .map_err(|e| self.db_err(e))?;
        Ok(next.as_deref().and_then(id_of).unwrap_or(1))
    }

    fn counter(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self
            .assets
            .counters
            .get(name)
            .map_err(|e| self.db_err(e))?
            .as_deref()
            .and_then(id_of)
            .unwrap_or(0))
    }

    /// Records the assets DAGs name: new ones are added, known ones updated when their
    /// name, group or extra changed. Returns how many were written.
    pub fn upsert_assets<'a>(
        &self,
        assets: impl IntoIterator<Item = &'a Asset>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut written = 0;
        for a in assets {
            let rec = match self.asset(&a.uri)? {
                Some(old) if old.name == a.name && old.group == a.group && old.extra == a.extra => {
                    continue;
                }
                Some(old) => AssetRecord {
                    name: a.name.clone(),
                    group: a.group.clone(),
                    extra: a.extra.clone(),
                    updated_at: now,
                    ..old
                },
                None => AssetRecord {
                    version: RECORD_VERSION,
                    id: self.next_counter("asset_id")?,
                    uri: a.uri.clone(),
                    name: a.name.clone(),
                    group: a.group.clone(),
                    extra: a.extra.clone(),
                    created_at: now,
                    updated_at: now,
                },
            };
            self.put(&self.assets.assets, a.uri.as_bytes().to_vec(), &rec)?;
            written += 1;
        }
        Ok(written)
    }

    /// The asset with this URI.
    pub fn asset(&self, uri: &str) -> Result<Option<AssetRecord>, StoreError> {
        self.get(&self.assets.assets, uri.as_bytes(), "asset")
    }

    /// Every asset, by URI.
    pub fn assets(&self) -> Result<Vec<AssetRecord>, StoreError> {
        self.scan(&self.assets.assets, b"", "asset")
    }

    /// Records an event of the asset `uri` (added to the known assets if new) and
    /// returns it. Not flushed: the caller's durable write flushes it.
    pub fn add_asset_event(
        &self,
        uri: &str,
        extra: Map<String, Value>,
        source: EventSource,
        now: DateTime<Utc>,
    ) -> Result<AssetEventRecord, StoreError> {
        if self.asset(uri)?.is_none() {
            let asset = Asset {
                uri: uri.to_owned(),
                name: uri.to_owned(),
                group: "asset".to_owned(),
                extra: Map::new(),
            };
            self.upsert_assets([&asset], now)?;
        }
        let id = self.next_counter("event_id")?;
        let ev = AssetEventRecord {
            version: RECORD_VERSION,
            id,
            uri: uri.to_owned(),
            extra,
            source,
            timestamp: now,
        };
        self.put(&self.assets.events, id_key(id).to_vec(), &ev)?;
        let mut k = prefix(&[uri]);
        k.extend_from_slice(&id_key(id));
        self.assets
            .by_uri
            .insert(k, &[] as &[u8])
            .map_err(|e| self.db_err(e))?;
        Ok(ev)
    }

    /// One event.
    pub fn asset_event(&self, id: u64) -> Result<Option<AssetEventRecord>, StoreError> {
        self.get(&self.assets.events, &id_key(id), "asset event")
    }

    /// Events after event `after` (0: all), oldest first.
    pub fn asset_events_after(&self, after: u64) -> Result<Vec<AssetEventRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.assets.events.range(id_key(after.saturating_add(1))..) {
            let (_, v) = item.map_err(|e| self.db_err(e))?;
            out.push(self.decode_asset(&v, "asset event")?);
        }
        Ok(out)
    }

    /// The events of the asset `uri`, oldest first.
    pub fn asset_events_of(&self, uri: &str) -> Result<Vec<AssetEventRecord>, StoreError> {
        let p = prefix(&[uri]);
        let mut out = Vec::new();
        for item in self.assets.by_uri.scan_prefix(&p) {
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            if let Some(id) = k.get(p.len()..).and_then(id_of)
                && let Some(ev) = self.asset_event(id)?
            {
                out.push(ev);
            }
        }
        Ok(out)
    }

    /// The last event the scheduler queued for the DAGs scheduled on its asset.
    pub fn asset_events_queued_up_to(&self) -> Result<u64, StoreError> {
        self.counter("queued_up_to")
    }

    /// Marks the events up to `id` as queued for their consumers.
    pub fn set_asset_events_queued_up_to(&self, id: u64) -> Result<(), StoreError> {
        self.assets
            .counters
            .insert("queued_up_to", &id_key(id))
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Queues the asset `uri` for `dag_id` unless it is queued already (Airflow keeps the
    /// first `created_at`). Returns whether it was added.
    pub fn queue_asset(
        &self,
        dag_id: &str,
        uri: &str,
        created_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let k = key(&[dag_id, uri]);
        if self
            .assets
            .queue
            .contains_key(&k)
            .map_err(|e| self.db_err(e))?
        {
            return Ok(false);
        }
        let q = QueuedAsset {
            uri: uri.to_owned(),
            created_at,
        };
        self.put(&self.assets.queue, k, &q)?;
        Ok(true)
    }

    /// The assets queued for `dag_id`.
    pub fn asset_queue(&self, dag_id: &str) -> Result<Vec<QueuedAsset>, StoreError> {
        self.scan(&self.assets.queue, &prefix(&[dag_id]), "queued asset")
    }

    /// The DAGs with queued assets.
    pub fn asset_queue_dags(&self) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = Vec::new();
        for item in self.assets.queue.iter() {
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            let dag = k.split(|b| *b == 0).next().unwrap_or_default();
            let dag = String::from_utf8_lossy(dag).into_owned();
            if out.last() != Some(&dag) {
                out.push(dag);
            }
        }
        Ok(out)
    }

    /// Empties `dag_id`'s queue.
    pub fn clear_asset_queue(&self, dag_id: &str) -> Result<(), StoreError> {
        for item in self.assets.queue.scan_prefix(prefix(&[dag_id])) {
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            self.assets.queue.remove(k).map_err(|e| self.db_err(e))?;
        }
        Ok(())
    }

    /// Sets the extra a running task instance gives its outlet `uri`'s event.
    pub fn put_outlet_extra(
        &self,
        ti: (&str, &str, &str, i64),
        uri: &str,
        extra: Map<String, Value>,
    ) -> Result<(), StoreError> {
        let k = key(&[ti.0, ti.1, ti.2, &ti.3.to_string()]);
        let mut all: Map<String, Value> = self
            .get(&self.assets.outlet_extras, &k, "outlet extras")?
            .unwrap_or_default();
        all.insert(uri.to_owned(), Value::Object(extra));
        self.put(&self.assets.outlet_extras, k, &all)
    }

    /// Removes and returns the extras a task instance gave its outlets' events.
    pub fn take_outlet_extras(
        &self,
        ti: (&str, &str, &str, i64),
    ) -> Result<Map<String, Value>, StoreError> {
        let k = key(&[ti.0, ti.1, ti.2, &ti.3.to_string()]);
        match self
            .assets
            .outlet_extras
            .remove(k)
            .map_err(|e| self.db_err(e))?
        {
            Some(v) => self.decode_asset(&v, "outlet extras"),
            None => Ok(Map::new()),
        }
    }

    /// Records the events that triggered a run.
    pub fn put_run_asset_events(
        &self,
        dag_id: &str,
        run_id: &str,
        ids: &[u64],
    ) -> Result<(), StoreError> {
        self.put(&self.assets.run_events, key(&[dag_id, run_id]), &ids)
    }

    /// Forgets which events triggered a run (the run is being removed).
    pub(super) fn forget_run_asset_events(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<(), StoreError> {
        self.assets
            .run_events
            .remove(key(&[dag_id, run_id]))
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// The events that triggered a run (none for a run not triggered by assets), oldest
    /// first.
    pub fn run_asset_events(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<AssetEventRecord>, StoreError> {
        let ids: Vec<u64> = self
            .get(
                &self.assets.run_events,
                &key(&[dag_id, run_id]),
                "run's asset events",
            )?
            .unwrap_or_default();
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.asset_event(id)?);
        }
        Ok(out)
    }

    /// The runs each event triggered: event id -> (dag_id, run_id) of each.
    pub fn runs_triggered_by_events(
        &self,
    ) -> Result<std::collections::HashMap<u64, Vec<(String, String)>>, StoreError> {
        let mut out: std::collections::HashMap<u64, Vec<(String, String)>> =
            std::collections::HashMap::new();
        for item in self.assets.run_events.iter() {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let ids: Vec<u64> = self.decode_asset(&v, "run's asset events")?;
            let text = String::from_utf8_lossy(&k);
            let Some((dag, run)) = text.split_once('\0') else {
                continue;
            };
            for id in ids {
                out.entry(id)
                    .or_default()
                    .push((dag.to_owned(), run.to_owned()));
            }
        }
        Ok(out)
    }

    fn decode_asset<T: serde::de::DeserializeOwned>(
        &self,
        v: &[u8],
        what: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_slice(v).map_err(|source| StoreError::Decode {
            path: self.path.clone(),
            what: what.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn events_queues_and_runs_survive_a_reopen() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("state");
        {
            let store = Store::open(&path)?;
            let a = Asset::from_uri("s3://b/a").map_err(anyhow::Error::msg)?;
            assert_eq!(store.upsert_assets([&a], at(0))?, 1);
            assert_eq!(store.upsert_assets([&a], at(1))?, 0, "unchanged");
            let src = EventSource {
                dag_id: Some("p".into()),
                run_id: Some("r".into()),
                task_id: Some("t".into()),
                map_index: -1,
            };
            let e1 = store.add_asset_event("s3://b/a", Map::new(), src.clone(), at(2))?;
            let e2 = store.add_asset_event("s3://b/new", Map::new(), src, at(3))?;
            assert!(e2.id > e1.id);
            assert!(store.queue_asset("c", "s3://b/a", at(2))?);
            assert!(!store.queue_asset("c", "s3://b/a", at(5))?, "first kept");
            store.set_asset_events_queued_up_to(e1.id)?;
            store.put_run_asset_events("c", "run1", &[e1.id])?;
            store.flush()?;
        }
        let store = Store::open_again(&path)?;
        assert_eq!(store.assets()?.len(), 2, "the event's asset was added");
        assert_eq!(store.asset_events_after(0)?.len(), 2);
        let after = store.asset_events_after(store.asset_events_queued_up_to()?)?;
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].uri, "s3://b/new");
        assert_eq!(store.asset_events_of("s3://b/a")?.len(), 1);
        assert_eq!(store.asset_queue("c")?[0].created_at, at(2));
        assert_eq!(store.asset_queue_dags()?, ["c"]);
        assert_eq!(store.run_asset_events("c", "run1")?[0].uri, "s3://b/a");
        store.clear_asset_queue("c")?;
        assert!(store.asset_queue("c")?.is_empty());
        let next = store.add_asset_event("s3://b/a", Map::new(), EventSource::default(), at(9))?;
        assert!(next.id > after[0].id, "ids keep growing after a reopen");
        store.delete_run("c", "run1")?;
        assert!(store.run_asset_events("c", "run1")?.is_empty());
        assert_eq!(store.asset_events_after(0)?.len(), 3, "events stay");
        Ok(())
    }
}
