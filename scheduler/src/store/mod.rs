//! The state store: the only module that touches sled. A sync API; the engine calls it
//! from `spawn_blocking` and flushes at durability points.
//!
//! Trees (keys are `\0`-separated ids, values JSON with a `version` field):
//! - `meta`: `schema_version`.
//!
//! Schema history (a database of an older schema is migrated when it is opened, after a
//! copy of it is kept beside it; see [`Store::open`]):
//! - 1: lithoflow 0.1's first format.
//! - 2: runs have `queued_at` (Airflow's `DagRun.queued_at`); migration sets it to the
//!   run's `run_after`, the moment a version 1 run became due.
//! - 3: runs are indexed by DAG and recency (`dag_runs_by_recency`) and counted per DAG
//!   (`dag_run_counts`), so a DAG's latest runs are read without its whole history;
//!   migration builds both from `dag_runs` (and marks the runs version 3).
//! - 4: XCom values are kept per map index, with the time they were pushed (an
//!   [`XComRecord`] under a key that ends with the map index, see `xcom.rs`); migration
//!   moves each value to map index -1 (and marks the runs version 4).
//! - 5: task instances are keyed by task and map index (dynamic task mapping: one
//!   instance per element, `map_index` 0..n-1; -1 for an unmapped task), and the record
//!   holds its `map_index`; migration moves each instance to map index -1.
//! - `dags`: dag_id -> [`DagRecord`] (paused).
//! - `dag_runs`: dag_id \0 run_id -> [`DagRunRecord`].
//! - `dag_runs_by_recency`: dag_id \0 run_after (12 bytes, `recency_key`) run_id ->
//!   nothing; in key order a DAG's runs go oldest `run_after` first (ties by run_id), so
//!   reading its prefix backwards gives the newest first. Written in the same
//!   transaction as the run.
//! - `dag_run_counts`: dag_id -> the DAG's number of runs (u64, big-endian), in the same
//!   transaction.
//! - `task_instances`: dag_id \0 run_id \0 task_id \0 map index (4 bytes, sorting as
//!   the number: -1 first, then 0, 1, ...) -> [`TaskInstanceRecord`].
//! - `xcom`: dag_id \0 run_id \0 task_id \0 key \0 map index (4 bytes) -> [`XComRecord`].
//! - `backfills`: backfill id -> [`BackfillRecord`].
//! - `variables`, `connections`: Airflow's variables and connections, their secrets
//!   encrypted (`values.rs`; new trees, so no schema change).
//! - `pools`: pool name -> [`PoolRecord`] (`pools.rs`; a new tree, `default_pool` created
//!   on open, so no schema change).
//! - `assets`, `asset_events`, `asset_events_by_uri`, `asset_dag_run_queue`,
//!   `asset_run_events`, `asset_counters`: assets, their events and the queue of each
//!   DAG scheduled on them (`assets.rs`; new trees, so no schema change).

mod assets;
mod audit;
mod pools;
mod tries;
mod xcom;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use assets::{AssetEventRecord, AssetRecord, EventSource, QueuedAsset};
pub use audit::AuditRecord;
pub use pools::{DEFAULT_POOL, DEFAULT_POOL_SLOTS, MAX_POOL_NAME, PoolRecord, check_pool};
pub use tries::TryRecord;
pub use xcom::{RETURN_KEY, UNMAPPED, XComEntry, XComRecord, check_key as check_xcom_key};

/// The schema this build writes and reads.
pub const SCHEMA_VERSION: u32 = 5;

/// How long [`Store::reopen`] waits for sled to let go of a database it just closed.
const REOPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// sled's page cache limit (`cache_capacity`, counted in the on-disk size of the cached
/// pages). sled's default is 1 GiB, which a scheduler with a long run history would grow
/// towards, since listing runs reads a DAG's whole history. sled's memory is more than
/// this cache (its page table and the nodes in use) and grows with the database: about
/// 3 KB per run of the soak DAGs (bench/soak `--fast`), as the state folder does, until
/// `lithoflow db clean` removes old runs.
pub const STATE_CACHE_BYTES: u64 = 64 << 20;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (IO, corruption, the lock held by another process).
    #[error("state database at {path}: {message}")]
    Db {
        /// The database folder.
        path: PathBuf,
        /// sled's message.
        message: String,
    },
    /// A stored value does not decode.
    #[error("state database at {path}: corrupt {what}: {source}")]
    Decode {
        /// The database folder.
        path: PathBuf,
        /// What was being read.
        what: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The database was written by a newer lithoflow.
    #[error(
        "state database at {path} has schema version {found}; this lithoflow reads up to {SCHEMA_VERSION}"
    )]
    TooNew {
        /// The database folder.
        path: PathBuf,
        /// Its schema version.
        found: u32,
    },
}

/// A DAG run's state (Airflow's DagRunState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Waiting for a slot under `max_active_runs`.
    Queued,
    /// Running.
    Running,
    /// Every leaf task succeeded or was skipped.
    Success,
    /// A leaf task failed, a deadlock, or `dagrun_timeout`.
    Failed,
}

impl RunState {
    /// Airflow's name.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
        }
    }

    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        matches!(self, RunState::Success | RunState::Failed)
    }
}

/// A task instance's state (Airflow's TaskInstanceState; `None` is "no status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Created, not yet decided.
    None,
    /// Its dependencies are met.
    Scheduled,
    /// Handed to the executor, waiting for a slot.
    Queued,
    /// Running.
    Running,
    /// Finished: returned.
    Success,
    /// Finished: failed with no retries left.
    Failed,
    /// Finished without running, or raised AirflowSkipException.
    Skipped,
    /// Finished without running: an upstream task failed.
    UpstreamFailed,
    /// Failed, will be retried.
    UpForRetry,
    /// A sensor in `mode = "reschedule"` between two pokes (it holds no slot).
    UpForReschedule,
}

impl TaskState {
    /// Airflow's name (`none` for no status).
    pub fn name(self) -> &'static str {
        match self {
            TaskState::None => "none",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::UpForReschedule => "up_for_reschedule",
        }
    }

    /// Finished states: success, failed, skipped, upstream_failed.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::Skipped | TaskState::UpstreamFailed
        )
    }
}

/// A DAG's stored settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DagRecord {
    /// Record format.
    pub version: u32,
    /// Whether the scheduler creates runs for it.
    pub is_paused: bool,
}

/// One DAG run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagRunRecord {
    /// Record format.
    pub version: u32,
    /// The DAG.
    pub dag_id: String,
    /// The run's id (`manual__2026-11-27T10:00:00+00:00`).
    pub run_id: String,
    /// `manual`, `scheduled` or `backfill`.
    pub run_type: String,
    /// State.
    pub state: RunState,
    /// The logical date (None for manual runs without one, as in Airflow 3).
    pub logical_date: Option<DateTime<Utc>>,
    /// Start of the data interval.
    pub data_interval_start: Option<DateTime<Utc>>,
    /// End of the data interval.
    pub data_interval_end: Option<DateTime<Utc>>,
    /// When the run may start.
    pub run_after: DateTime<Utc>,
    /// When it was last queued: created, cleared or re-queued by a backfill (schema 2;
    /// a migrated version 1 run has its `run_after`).
    #[serde(default)]
    pub queued_at: Option<DateTime<Utc>>,
    /// When it started running.
    pub start_date: Option<DateTime<Utc>>,
    /// When it finished.
    pub end_date: Option<DateTime<Utc>>,
    /// The trigger's `--conf`.
    pub conf: serde_json::Map<String, Value>,
    /// Why it failed, when it failed for a reason of its own (deadlock, timeout).
    pub note: Option<String>,
    /// The backfill that created (or cleared) it.
    #[serde(default)]
    pub backfill_id: Option<String>,
    /// The user's note (Airflow's `note`, set by a trigger or `setNote`); `note` above
    /// is lithoflow's own reason for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_note: Option<String>,
}

/// A backfill: runs created for a date range, with their own concurrency limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillRecord {
    /// Record format.
    pub version: u32,
    /// Its id (`backfill__<created_at>`).
    pub id: String,
    /// The DAG.
    pub dag_id: String,
    /// First logical date asked for (inclusive).
    pub from_date: DateTime<Utc>,
    /// Last logical date asked for (inclusive).
    pub to_date: DateTime<Utc>,
    /// `none`, `failed` or `completed`.
    pub reprocess_behavior: String,
    /// Its runs running at once.
    pub max_active_runs: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl DagRunRecord {
    /// A queued manual run (`dags trigger`, `dags test`), its data interval collapsed on
    /// its logical date as Airflow 3 does for trigger timetables.
    pub fn manual(
        dag_id: &str,
        run_id: String,
        logical_date: DateTime<Utc>,
        now: DateTime<Utc>,
        conf: serde_json::Map<String, Value>,
    ) -> DagRunRecord {
        DagRunRecord {
            version: SCHEMA_VERSION,
            dag_id: dag_id.to_owned(),
            run_id,
            run_type: "manual".to_owned(),
            state: RunState::Queued,
            logical_date: Some(logical_date),
            data_interval_start: Some(logical_date),
            data_interval_end: Some(logical_date),
            run_after: now,
            queued_at: Some(now),
            start_date: None,
            end_date: None,
            conf,
            note: None,
            backfill_id: None,
            user_note: None,
        }
    }
}

/// One task instance (one task in one run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInstanceRecord {
    /// Record format.
    pub version: u32,
    /// The task.
    pub task_id: String,
    /// Its place among a mapped task's instances (0, 1, ...); -1 ([`UNMAPPED`]) for an
    /// unmapped task, and for a mapped task not yet expanded (schema 5; migrated
    /// records are unmapped).
    #[serde(default = "unmapped")]
    pub map_index: i32,
    /// A mapped instance's label, its task's `map_index_template` rendered after it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_map_index: Option<String>,
    /// State.
    pub state: TaskState,
    /// The current (or last) try, 1-based; 0 before the first try.
    pub try_number: u32,
    /// Tries allowed in all (`retries + 1`).
    pub max_tries: u32,
    /// When the current try started.
    pub start_date: Option<DateTime<Utc>>,
    /// When it finished.
    pub end_date: Option<DateTime<Utc>>,
    /// Seconds the last try ran.
    pub duration_s: Option<f64>,
    /// Why the last try failed.
    pub error: Option<String>,
    /// The executor job of the current try.
    pub job_id: Option<String>,
    /// When an up_for_retry instance may run again.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Calls done/failed/total of the current try's job.
    pub calls_done: usize,
    /// Calls that failed.
    pub calls_failed: usize,
    /// Calls in all.
    pub calls_total: usize,
    /// A sensor's wait: when it first poked and when it pokes next (kept across
    /// reschedules and scheduler restarts, so the timeout is not reset).
    #[serde(default)]
    pub sensor: Option<SensorWait>,
    /// The user's note (Airflow's task instance `note`, set by `setNote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where a sensor's wait stands (on its [`TaskInstanceRecord`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorWait {
    /// The try of the first poke.
    pub try_number: u32,
    /// When the first poke started: the timeout counts from here.
    pub first_poke: DateTime<Utc>,
    /// When the next poke is due (reschedule mode, or a restart: resume then).
    #[serde(default)]
    pub next_poke_at: Option<DateTime<Utc>>,
    /// Pokes so far.
    #[serde(default)]
    pub pokes: u32,
    /// A trigger_dag_run's triggered run, once created: a restarted try waits for it
    /// instead of triggering again.
    #[serde(default)]
    pub triggered_run_id: Option<String>,
}

fn unmapped() -> i32 {
    UNMAPPED
}

impl TaskInstanceRecord {
    /// A new unmapped instance, state none.
    pub fn new(task_id: &str, max_tries: u32) -> TaskInstanceRecord {
        TaskInstanceRecord::mapped(task_id, UNMAPPED, max_tries)
    }

    /// A new instance at a map index, state none.
    pub fn mapped(task_id: &str, map_index: i32, max_tries: u32) -> TaskInstanceRecord {
        TaskInstanceRecord {
            version: SCHEMA_VERSION,
            task_id: task_id.to_owned(),
            map_index,
            rendered_map_index: None,
            note: None,
            state: TaskState::None,
            try_number: 0,
            max_tries,
            start_date: None,
            end_date: None,
            duration_s: None,
            error: None,
            job_id: None,
            next_retry_at: None,
            calls_done: 0,
            calls_failed: 0,
            calls_total: 0,
            sensor: None,
        }
    }
}

/// The state database.
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    dags: sled::Tree,
    runs: sled::Tree,
    by_recency: sled::Tree,
    run_counts: sled::Tree,
    tis: sled::Tree,
    xcom: sled::Tree,
    backfills: sled::Tree,
    /// Tree `ti_tries` (`tries.rs`), written on the hot path of `put_ti`.
    tries: sled::Tree,
    /// A one-call try's call record (`results.json`'s content), see `tries.rs`.
    try_calls: sled::Tree,
    values: values::ValueTrees,
    assets: assets::AssetTrees,
    /// How many times [`Store::flush`] was called (the engine's group commit is checked
    /// against it).
    flushes: std::sync::atomic::AtomicU64,
    /// How many of them returned successfully (a flush is under way while it is less).
    flushes_done: std::sync::atomic::AtomicU64,
}

/// Copies the database folder at `path` to `<path>.schema-<version>.bak` (or `.bak.N` when
/// that exists already), private to the user like the home, and returns the copy's path.
fn backup_folder(path: &Path, version: u32) -> Result<PathBuf, StoreError> {
    let io_err = |what: &str, at: &Path, e: std::io::Error| StoreError::Db {
        path: path.to_owned(),
        message: format!(
            "keeping a copy before the schema migration: {what} {}: {e}",
            at.display()
        ),
    };
    let base = path.with_file_name(format!(
        "{}.schema-{version}.bak",
        path.file_name()
            .map_or_else(|| "state".into(), |n| n.to_string_lossy())
    ));
    let mut target = base.clone();
    let mut n = 1;
    while target.exists() {
        target = PathBuf::from(format!("{}.{n}", base.display()));
        n += 1;
    }
    fn copy_dir(from: &Path, to: &Path) -> Result<(), (String, PathBuf, std::io::Error)> {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(to)
            .map_err(|e| ("creating".to_owned(), to.to_owned(), e))?;
        let entries =
            std::fs::read_dir(from).map_err(|e| ("reading".to_owned(), from.to_owned(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ("reading".to_owned(), from.to_owned(), e))?;
            let src = entry.path();
            let dst = to.join(entry.file_name());
            let kind = entry
                .file_type()
                .map_err(|e| ("reading".to_owned(), src.clone(), e))?;
            if kind.is_dir() {
                copy_dir(&src, &dst)?;
            } else if kind.is_file() {
                std::fs::copy(&src, &dst).map_err(|e| ("copying".to_owned(), src.clone(), e))?;
            }
        }
        Ok(())
    }
    if let Err((what, at, e)) = copy_dir(path, &target) {
        // A half-made copy (a full disk) is no backup; the next open tries again.
        let _ = std::fs::remove_dir_all(&target);
        return Err(io_err(&what, &at, e));
    }
    Ok(target)
}

fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

fn prefix(parts: &[&str]) -> Vec<u8> {
    let mut k = key(parts);
    k.push(0);
    k
}

/// A run's key in `dag_runs_by_recency`: `dag_id \0`, then `run_after` as 12 bytes that
/// sort as the time does (seconds since the epoch with the sign bit flipped, big-endian,
/// then the nanoseconds, big-endian), then the run id. The time has a fixed length, so
/// byte order is (time, run id) order, the order [`Store::runs`] sorts by.
fn recency_key(dag_id: &str, run_after: DateTime<Utc>, run_id: &str) -> Vec<u8> {
    let mut k = prefix(&[dag_id]);
    k.extend_from_slice(&((run_after.timestamp() as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(&run_after.timestamp_subsec_nanos().to_be_bytes());
    k.extend_from_slice(run_id.as_bytes());
    k
}

/// The run id at the end of a `dag_runs_by_recency` key of `dag_id`.
fn run_id_of_recency_key(dag_id: &str, k: &[u8]) -> Option<String> {
    let rest = k.get(dag_id.len() + 1 + 12..)?;
    String::from_utf8(rest.to_vec()).ok()
}

fn count_bytes(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn count_of(v: Option<&[u8]>) -> u64 {
    v.and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

/// What [`Store::delete_run`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovedRecords {
    /// The run itself (0 when it was not there).
    pub runs: usize,
    /// Its task instances.
    pub task_instances: usize,
    /// Its XCom values.
    pub xcom: usize,
}

impl Store {
    /// Opens (or creates) the database at `path`. Only one process can hold it.
    /// `default_pool` is created if it is missing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let store = Store::open_schema(path)?;
        store.ensure_default_pool()?;
        Ok(store)
    }

    /// [`Store::open`] for tests that open a database they have just dropped: sled lets
    /// go of its lock some time after the last handle is dropped (longer on a busy
    /// machine), so a lock error is waited out as [`Store::reopen`] does.
    #[cfg(test)]
    pub(crate) fn open_again(path: &Path) -> Result<Store, StoreError> {
        let started = std::time::Instant::now();
        loop {
            match Store::open(path) {
                Err(StoreError::Db { message, .. })
                    if message.contains("could not acquire lock")
                        && started.elapsed() < REOPEN_WAIT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Opens the database, migrating an older schema.
    fn open_schema(path: &Path) -> Result<Store, StoreError> {
        let store = Store::open_as_is(path)?;
        let found = store.schema_version()?;
        match found {
            None => {
                store
                    .db
                    .open_tree("meta")
                    .and_then(|meta| {
                        meta.insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())
                    })
                    .map_err(|e| store.db_err(e))?;
                Ok(store)
            }
            Some(found) if found > SCHEMA_VERSION => Err(StoreError::TooNew {
                path: path.to_owned(),
                found,
            }),
            Some(found) if found < SCHEMA_VERSION => {
                // Keep a copy of the old database first: sled holds a lock on it while
                // open, so close it, copy its folder, and open it again to migrate.
                drop(store);
                let backup = backup_folder(path, found)?;
                let store = Store::reopen(path)?;
                store.migrate(found)?;
                tracing::warn!(
                    "state database at {} migrated from schema {found} to {SCHEMA_VERSION}; \
                     the schema {found} database is kept at {}",
                    path.display(),
                    backup.display()
                );
                Ok(store)
            }
            Some(_) => Ok(store),
        }
    }

    /// Opens the database without looking at its schema.
    fn open_as_is(path: &Path) -> Result<Store, StoreError> {
        let db_err = |e: sled::Error| StoreError::Db {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let db = sled::Config::new()
            .path(path)
            .mode(sled::Mode::LowSpace)
            .cache_capacity(STATE_CACHE_BYTES)
            .open()
            .map_err(db_err)?;
        Ok(Store {
            dags: db.open_tree("dags").map_err(db_err)?,
            runs: db.open_tree("dag_runs").map_err(db_err)?,
            by_recency: db.open_tree("dag_runs_by_recency").map_err(db_err)?,
            run_counts: db.open_tree("dag_run_counts").map_err(db_err)?,
            tis: db.open_tree("task_instances").map_err(db_err)?,
            xcom: db.open_tree("xcom").map_err(db_err)?,
            backfills: db.open_tree("backfills").map_err(db_err)?,
            tries: db.open_tree("ti_tries").map_err(db_err)?,
            try_calls: db.open_tree("ti_try_calls").map_err(db_err)?,
            values: values::ValueTrees::open(&db, path).map_err(db_err)?,
            assets: assets::AssetTrees::open(&db).map_err(db_err)?,
            path: path.to_owned(),
            db,
            flushes: std::sync::atomic::AtomicU64::new(0),
            flushes_done: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Opens a database this process has just closed. sled lets go of its lock only when
    /// its background threads have dropped their handles, some time after the last
    /// `Db` is dropped, so a lock error is waited out (up to [`REOPEN_WAIT`]).
    fn reopen(path: &Path) -> Result<Store, StoreError> {
        let started = std::time::Instant::now();
        loop {
            match Store::open_as_is(path) {
                Err(StoreError::Db { message, .. })
                    if message.contains("could not acquire lock")
                        && started.elapsed() < REOPEN_WAIT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// The schema the database was written with; `None` for a new, empty database.
    pub fn schema_version(&self) -> Result<Option<u32>, StoreError> {
        let meta = self.db.open_tree("meta").map_err(|e| self.db_err(e))?;
        self.get(&meta, b"schema_version", "schema version")
    }

    /// Brings every record from schema `from` to [`SCHEMA_VERSION`], then records the new
    /// schema and flushes. Each record carries its own `version`, so a migration cut short
    /// (a kill, a full disk) is simply done again at the next open: records already
    /// migrated are left as they are, and the schema number changes last.
    fn migrate(&self, from: u32) -> Result<(), StoreError> {
        if from < 2 {
            // 1 -> 2: runs get `queued_at`, the moment a version 1 run became due.
            for item in self.runs.iter() {
                let (k, v) = item.map_err(|e| self.db_err(e))?;
                let mut run: DagRunRecord =
                    serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                        path: self.path.clone(),
                        what: "DAG run (schema 1)".to_owned(),
                        source,
                    })?;
                if run.version >= 2 {
                    continue;
                }
                run.version = 2;
                run.queued_at.get_or_insert(run.run_after);
                self.put(&self.runs, k.to_vec(), &run)?;
            }
        }
        if from < 3 {
            // 2 -> 3: the run index and counts, built afresh from the runs (so a
            // migration cut short builds them whole again).
            self.by_recency.clear().map_err(|e| self.db_err(e))?;
            self.run_counts.clear().map_err(|e| self.db_err(e))?;
            let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
            for item in self.runs.iter() {
                let (k, v) = item.map_err(|e| self.db_err(e))?;
                let mut run: DagRunRecord =
                    serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                        path: self.path.clone(),
                        what: "DAG run (schema 2)".to_owned(),
                        source,
                    })?;
                self.by_recency
                    .insert(
                        recency_key(&run.dag_id, run.run_after, &run.run_id),
                        &[] as &[u8],
                    )
                    .map_err(|e| self.db_err(e))?;
                // The record's format is unchanged; it says which schema it belongs to.
                if run.version < 3 {
                    run.version = 3;
                    self.put(&self.runs, k.to_vec(), &run)?;
                }
                *counts.entry(run.dag_id).or_default() += 1;
            }
            for (dag_id, n) in counts {
                self.run_counts
                    .insert(dag_id.as_bytes(), &count_bytes(n))
                    .map_err(|e| self.db_err(e))?;
            }
        }
        if from < 4 {
            // 3 -> 4: XCom values per map index, with their time.
            self.migrate_xcom_to_4()?;
            for item in self.runs.iter() {
                let (k, v) = item.map_err(|e| self.db_err(e))?;
                let mut run: DagRunRecord =
                    serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                        path: self.path.clone(),
                        what: "DAG run (schema 3)".to_owned(),
                        source,
                    })?;
                if run.version < 4 {
                    run.version = 4;
                    self.put(&self.runs, k.to_vec(), &run)?;
                }
            }
        }
        if from < 5 {
            // 4 -> 5: task instances keyed by map index.
            self.migrate_tis_to_5()?;
            for item in self.runs.iter() {
                let (k, v) = item.map_err(|e| self.db_err(e))?;
                let mut run: DagRunRecord =
                    serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                        path: self.path.clone(),
                        what: "DAG run (schema 4)".to_owned(),
                        source,
                    })?;
                if run.version < 5 {
                    run.version = 5;
                    self.put(&self.runs, k.to_vec(), &run)?;
                }
            }
        }
        self.flush()?;
        let meta = self.db.open_tree("meta").map_err(|e| self.db_err(e))?;
        meta.insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())
            .map_err(|e| self.db_err(e))?;
        self.flush()
    }

    fn db_err(&self, e: sled::Error) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn put<T: Serialize>(&self, tree: &sled::Tree, k: Vec<u8>, v: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(v).map_err(|source| StoreError::Decode {
            path: self.path.clone(),
            what: "value".to_owned(),
            source,
        })?;
        tree.insert(k, bytes).map_err(|e| self.db_err(e))?;
        Ok(())
    }

    fn get<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        k: &[u8],
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        match tree.get(k).map_err(|e| self.db_err(e))? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|source| StoreError::Decode {
                    path: self.path.clone(),
                    what: what.to_owned(),
                    source,
                }),
            None => Ok(None),
        }
    }

    fn scan<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        p: &[u8],
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in tree.scan_prefix(p) {
            let (_, v) = item.map_err(|e| self.db_err(e))?;
            out.push(
                serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                    path: self.path.clone(),
                    what: what.to_owned(),
                    source,
                })?,
            );
        }
        Ok(out)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.db.flush().map_err(|e| self.db_err(e))?;
        self.flushes_done
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// How many flushes this store was asked for since it was opened.
    pub fn flush_count(&self) -> u64 {
        self.flushes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a flush is under way (the engine's tests check that no job starts then).
    #[cfg(test)]
    pub(crate) fn flushing(&self) -> bool {
        self.flushes.load(std::sync::atomic::Ordering::SeqCst)
            != self.flushes_done.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A DAG's stored settings.
    pub fn dag(&self, dag_id: &str) -> Result<Option<DagRecord>, StoreError> {
        self.get(&self.dags, dag_id.as_bytes(), "DAG record")
    }

    /// Stores a DAG's settings.
    pub fn put_dag(&self, dag_id: &str, rec: &DagRecord) -> Result<(), StoreError> {
        self.put(&self.dags, dag_id.as_bytes().to_vec(), rec)
    }

    /// Every stored DAG record, by dag_id.
    pub fn dag_records(&self) -> Result<Vec<(String, DagRecord)>, StoreError> {
        let mut out = Vec::new();
        for item in self.dags.iter() {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let rec: DagRecord =
                serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                    path: self.path.clone(),
                    what: "DAG record".to_owned(),
                    source,
                })?;
            out.push((String::from_utf8_lossy(&k).into_owned(), rec));
        }
        Ok(out)
    }

    /// Stores a backfill.
    pub fn put_backfill(&self, rec: &BackfillRecord) -> Result<(), StoreError> {
        self.put(&self.backfills, rec.id.as_bytes().to_vec(), rec)
    }

    /// A backfill.
    pub fn backfill(&self, id: &str) -> Result<Option<BackfillRecord>, StoreError> {
        self.get(&self.backfills, id.as_bytes(), "backfill")
    }

    /// Stores a run, with its place in the DAG's index of runs (one transaction).
    pub fn put_run(&self, run: &DagRunRecord) -> Result<(), StoreError> {
        use sled::Transactional;
        use sled::transaction::ConflictableTransactionError as Abort;

        let bytes = serde_json::to_vec(run).map_err(|source| StoreError::Decode {
            path: self.path.clone(),
            what: "value".to_owned(),
            source,
        })?;
        let k = key(&[&run.dag_id, &run.run_id]);
        let new_index = recency_key(&run.dag_id, run.run_after, &run.run_id);
        let result = (&self.runs, &self.by_recency, &self.run_counts).transaction(
            |(runs, index, counts)| {
                match runs.insert(k.as_slice(), bytes.as_slice())? {
                    Some(old) => {
                        // Only `run_after` places a run; a record that does not decode
                        // keeps its index entry (it is skipped when read).
                        if let Ok(old) = serde_json::from_slice::<DagRunRecord>(&old)
                            && old.run_after != run.run_after
                        {
                            index.remove(recency_key(&run.dag_id, old.run_after, &run.run_id))?;
                        }
                    }
                    None => {
                        let n = count_of(counts.get(run.dag_id.as_bytes())?.as_deref());
                        counts.insert(run.dag_id.as_bytes(), &count_bytes(n + 1))?;
                    }
                }
                index.insert(new_index.as_slice(), &[] as &[u8])?;
                Ok::<(), Abort<()>>(())
            },
        );
        result.map_err(|e| self.tx_err(e))
    }

    fn tx_err<E: std::fmt::Debug>(&self, e: sled::transaction::TransactionError<E>) -> StoreError {
        match e {
            sled::transaction::TransactionError::Storage(e) => self.db_err(e),
            sled::transaction::TransactionError::Abort(e) => StoreError::Db {
                path: self.path.clone(),
                message: format!("transaction aborted: {e:?}"),
            },
        }
    }

    /// A DAG's latest runs, newest `run_after` first (ties: greater run id first, as
    /// [`Store::runs`]), skipping `offset`: read through the index, so the cost is the
    /// page's, not the DAG's history.
    pub fn recent_runs(
        &self,
        dag_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<DagRunRecord>, StoreError> {
        let mut out = Vec::new();
        let mut skipped = 0;
        for item in self.by_recency.scan_prefix(prefix(&[dag_id])).rev() {
            if out.len() >= limit {
                break;
            }
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            let Some(run_id) = run_id_of_recency_key(dag_id, &k) else {
                continue;
            };
            // An entry whose run is gone is skipped: it cannot happen, as both change
            // in one transaction, but a reader must not fail on it.
            let Some(run) = self.run(dag_id, &run_id)? else {
                continue;
            };
            if skipped < offset {
                skipped += 1;
                continue;
            }
            out.push(run);
        }
        Ok(out)
    }

    /// A DAG's runs, newest first, read through the index one at a time: for a caller
    /// that filters and stops early, or counts without keeping the runs.
    pub fn runs_newest_first(
        &self,
        dag_id: &str,
    ) -> impl Iterator<Item = Result<DagRunRecord, StoreError>> + '_ {
        let dag_id = dag_id.to_owned();
        self.by_recency
            .scan_prefix(prefix(&[&dag_id]))
            .rev()
            .filter_map(move |item| {
                let k = match item {
                    Ok((k, _)) => k,
                    Err(e) => return Some(Err(self.db_err(e))),
                };
                let run_id = run_id_of_recency_key(&dag_id, &k)?;
                self.run(&dag_id, &run_id).transpose()
            })
    }

    /// How many runs a DAG has (kept with the index; no run is read).
    pub fn run_count(&self, dag_id: &str) -> Result<usize, StoreError> {
        let n = self
            .run_counts
            .get(dag_id.as_bytes())
            .map_err(|e| self.db_err(e))?;
        Ok(usize::try_from(count_of(n.as_deref())).unwrap_or(usize::MAX))
    }

    /// Removes a run with its task instances and XCom values, in one transaction (a
    /// kill leaves all of it or none). Files (logs, job storage) are the caller's.
    pub fn delete_run(&self, dag_id: &str, run_id: &str) -> Result<RemovedRecords, StoreError> {
        use sled::Transactional;
        use sled::transaction::ConflictableTransactionError as Abort;

        let keys = |tree: &sled::Tree| -> Result<Vec<sled::IVec>, StoreError> {
            tree.scan_prefix(prefix(&[dag_id, run_id]))
                .keys()
                .collect::<Result<_, _>>()
                .map_err(|e| self.db_err(e))
        };
        let ti_keys = keys(&self.tis)?;
        let xcom_keys = keys(&self.xcom)?;
        let k = key(&[dag_id, run_id]);
        let result = (
            &self.runs,
            &self.by_recency,
            &self.run_counts,
            &self.tis,
            &self.xcom,
        )
            .transaction(|(runs, index, counts, tis, xcom)| {
                let mut removed = RemovedRecords::default();
                if let Some(old) = runs.remove(k.as_slice())? {
                    removed.runs = 1;
                    if let Ok(old) = serde_json::from_slice::<DagRunRecord>(&old) {
                        index.remove(recency_key(dag_id, old.run_after, run_id))?;
                    }
                    let n = count_of(counts.get(dag_id.as_bytes())?.as_deref());
                    counts.insert(dag_id.as_bytes(), &count_bytes(n.saturating_sub(1)))?;
                }
                for t in &ti_keys {
                    removed.task_instances += usize::from(tis.remove(t)?.is_some());
                }
                for x in &xcom_keys {
                    removed.xcom += usize::from(xcom.remove(x)?.is_some());
                }
                Ok::<_, Abort<()>>(removed)
            });
        let removed = result.map_err(|e| self.tx_err(e))?;
        // Which events triggered it goes with it (the events stay, as in Airflow).
        self.forget_run_asset_events(dag_id, run_id)?;
        self.forget_run_tries(dag_id, run_id)?;
        Ok(removed)
    }

    /// How many task instances and XCom values a run has (for a dry run of
    /// [`Store::delete_run`]).
    pub fn run_record_counts(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<RemovedRecords, StoreError> {
        let p = prefix(&[dag_id, run_id]);
        let count = |tree: &sled::Tree| -> Result<usize, StoreError> {
            let mut n = 0;
            for k in tree.scan_prefix(&p).keys() {
                k.map_err(|e| self.db_err(e))?;
                n += 1;
            }
            Ok(n)
        };
        Ok(RemovedRecords {
            runs: usize::from(
                self.runs
                    .contains_key(key(&[dag_id, run_id]))
                    .map_err(|e| self.db_err(e))?,
            ),
            task_instances: count(&self.tis)?,
            xcom: count(&self.xcom)?,
        })
    }

    /// A run.
    pub fn run(&self, dag_id: &str, run_id: &str) -> Result<Option<DagRunRecord>, StoreError> {
        self.get(&self.runs, &key(&[dag_id, run_id]), "DAG run")
    }

    /// Every run of a DAG, newest `run_after` first.
    pub fn runs(&self, dag_id: &str) -> Result<Vec<DagRunRecord>, StoreError> {
        let mut runs: Vec<DagRunRecord> = self.scan(&self.runs, &prefix(&[dag_id]), "DAG run")?;
        runs.sort_by(|a, b| {
            b.run_after
                .cmp(&a.run_after)
                .then_with(|| b.run_id.cmp(&a.run_id))
        });
        Ok(runs)
    }

    /// Every run of every DAG.
    pub fn all_runs(&self) -> Result<Vec<DagRunRecord>, StoreError> {
        self.scan(&self.runs, b"", "DAG run")
    }

    /// Stores a task instance, at its map index.
    pub fn put_ti(
        &self,
        dag_id: &str,
        run_id: &str,
        ti: &TaskInstanceRecord,
    ) -> Result<(), StoreError> {
        self.put(
            &self.tis,
            ti_key(dag_id, run_id, &ti.task_id, ti.map_index),
            ti,
        )?;
        // The try history (`/tries`).
        self.note_try(dag_id, run_id, ti)
    }

    /// Removes one task instance (a mapped task's instances when it is cleared back
    /// to unexpanded, or its unexpanded instance when it is expanded).
    pub fn delete_ti(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i32,
    ) -> Result<(), StoreError> {
        self.tis
            .remove(ti_key(dag_id, run_id, task_id, map_index))
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// The task instances of a run, by task id, then map index.
    pub fn tis(&self, dag_id: &str, run_id: &str) -> Result<Vec<TaskInstanceRecord>, StoreError> {
        self.scan(&self.tis, &prefix(&[dag_id, run_id]), "task instance")
    }

    /// Every instance of one task in a run, by map index (one, at -1, unless the task is
    /// mapped and expanded).
    pub fn task_tis(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<Vec<TaskInstanceRecord>, StoreError> {
        self.scan(
            &self.tis,
            &prefix(&[dag_id, run_id, task_id]),
            "task instance",
        )
    }

    /// The unmapped instance (map index -1) of a task.
    pub fn ti(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<Option<TaskInstanceRecord>, StoreError> {
        self.ti_at(dag_id, run_id, task_id, UNMAPPED)
    }

    /// One task instance, at a map index.
    pub fn ti_at(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i32,
    ) -> Result<Option<TaskInstanceRecord>, StoreError> {
        self.get(
            &self.tis,
            &ti_key(dag_id, run_id, task_id, map_index),
            "task instance",
        )
    }

    /// Schema 4 -> 5: each task instance `dag \0 run \0 task` moves to map index -1
    /// (`dag \0 run \0 task \0 <-1>`) and is marked version 5. A record still of
    /// version 4 is an old one, so a migration cut short is finished by running it
    /// again (the new key is written before the old one is removed).
    fn migrate_tis_to_5(&self) -> Result<(), StoreError> {
        let mut old = Vec::new();
        for item in self.tis.iter() {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let ti: TaskInstanceRecord =
                serde_json::from_slice(&v).map_err(|source| StoreError::Decode {
                    path: self.path.clone(),
                    what: "task instance (schema 4)".to_owned(),
                    source,
                })?;
            if ti.version < 5 {
                old.push((k, ti));
            }
        }
        for (k, mut ti) in old {
            let text = String::from_utf8_lossy(&k).into_owned();
            let mut parts = text.splitn(3, '\0');
            let (Some(dag_id), Some(run_id)) = (parts.next(), parts.next()) else {
                continue;
            };
            ti.version = 5;
            ti.map_index = UNMAPPED;
            self.put_ti(dag_id, run_id, &ti)?;
            self.tis.remove(&k).map_err(|e| self.db_err(e))?;
        }
        Ok(())
    }
}

/// A task instance's key: `dag \0 run \0 task \0` and the map index as 4 bytes that
/// sort as the number (the sign bit flipped, big-endian), as XCom's.
fn ti_key(dag_id: &str, run_id: &str, task_id: &str, map_index: i32) -> Vec<u8> {
    let mut k = prefix(&[dag_id, run_id, task_id]);
    k.extend_from_slice(&xcom::index_bytes(map_index));
    k
}

#[cfg(test)]
mod tests;
mod values;
