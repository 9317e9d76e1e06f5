//! Call records: `GET .../taskInstances/{task_id}/calls`, the calls of a try's executor
//! job with their durations, read from the `results.json` the executor writes into the
//! job's data when the job ends, and kept parsed for the clients that ask again.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::{Extension, Json};

use super::extract::{ApiError, ApiResult, Ids, Params};
use super::lookup::{loaded_dag, read, run_of, ti_of};
use crate::control::Shared;
use lithoflow_api::{CallCollection, CallInfo};

/// A job's results file larger than this is not read for `.../calls`.
const MAX_RESULTS_FILE: u64 = 256 << 20;

/// At most this many call records (from all jobs together) are kept parsed for
/// `.../calls`; the least recently asked job goes first. About 64 bytes each, so ~32 MB.
pub(super) const CALLS_CACHE_RECORDS: usize = 500_000;

/// At most this many jobs' call records are kept parsed, however small.
pub(super) const CALLS_CACHE_JOBS: usize = 256;

/// A job's call records not asked for this long are dropped, so a scheduler whose clients
/// look at each new job's calls once (a dashboard following every-minute DAGs) holds only
/// the last few jobs' records rather than filling the bounds above over hours.
pub(super) const CALLS_CACHE_IDLE: Duration = Duration::from_secs(120);

/// Call records already read from jobs' `results.json`, by file. The file of a
/// 100,000-call map is ~9 MB of JSON: parsing it on every `.../calls` request took
/// 0.1-1 s and, under load, over half of the scheduler's CPU (bench/load), while a client
/// that pages through the calls or refreshes a histogram asks for the same file again and
/// again. The executor writes the file once, when the job ends (write, then rename); an
/// entry is used only while the file's length and modification time are unchanged.
#[derive(Clone, Default)]
pub(super) struct CallsCache(Arc<Mutex<CallsCacheInner>>);

#[derive(Default)]
pub(super) struct CallsCacheInner {
    pub(super) entries: HashMap<std::path::PathBuf, CachedCalls>,
    /// Call records held by all entries together.
    pub(super) records: usize,
    /// Bumped on every use, to find the least recently used entry.
    clock: u64,
}

pub(super) struct CachedCalls {
    stamp: (u64, Option<std::time::SystemTime>),
    calls: Arc<Vec<CallInfo>>,
    /// The cache's clock at the last use: orders entries for eviction.
    used: u64,
    /// When it was last used: entries idle for [`CALLS_CACHE_IDLE`] go.
    pub(super) used_at: Instant,
}

/// Drops idle call records every half [`CALLS_CACHE_IDLE`] until the cache is gone
/// (the router that held it was dropped).
pub(super) async fn expire_calls(cache: std::sync::Weak<Mutex<CallsCacheInner>>) {
    let mut tick = tokio::time::interval(CALLS_CACHE_IDLE / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = cache.upgrade() else {
            return;
        };
        CallsCache(inner).expire(Instant::now());
    }
}

impl CallsCache {
    /// A handle that does not keep the cache alive, for [`expire_calls`].
    pub(super) fn downgrade(&self) -> std::sync::Weak<Mutex<CallsCacheInner>> {
        Arc::downgrade(&self.0)
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, CallsCacheInner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn get(
        &self,
        path: &Path,
        stamp: (u64, Option<std::time::SystemTime>),
    ) -> Option<Arc<Vec<CallInfo>>> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner.entries.get_mut(path)?;
        if entry.stamp != stamp {
            return None;
        }
        entry.used = clock;
        entry.used_at = Instant::now();
        Some(Arc::clone(&entry.calls))
    }

    /// Drops the entries last used more than [`CALLS_CACHE_IDLE`] before `now`.
    pub(super) fn expire(&self, now: Instant) {
        let mut inner = self.lock();
        let mut dropped = 0;
        inner.entries.retain(|_, e| {
            let keep = now.saturating_duration_since(e.used_at) <= CALLS_CACHE_IDLE;
            if !keep {
                dropped += e.calls.len();
            }
            keep
        });
        inner.records -= dropped;
    }

    /// Keeps `calls` for `path`, dropping the least recently used entries to stay within
    /// [`CALLS_CACHE_RECORDS`] and [`CALLS_CACHE_JOBS`]; a job with more records than
    /// that is not kept.
    pub(super) fn put(
        &self,
        path: &Path,
        stamp: (u64, Option<std::time::SystemTime>),
        calls: &Arc<Vec<CallInfo>>,
    ) {
        if calls.len() > CALLS_CACHE_RECORDS {
            return;
        }
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(path) {
            inner.records -= old.calls.len();
        }
        while inner.records + calls.len() > CALLS_CACHE_RECORDS
            || inner.entries.len() >= CALLS_CACHE_JOBS
        {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            if let Some(old) = inner.entries.remove(&oldest) {
                inner.records -= old.calls.len();
            }
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.records += calls.len();
        inner.entries.insert(
            path.to_owned(),
            CachedCalls {
                stamp,
                calls: Arc::clone(calls),
                used,
                used_at: Instant::now(),
            },
        );
    }
}

/// A job's call records from its `results.json`, parsed once per file version.
fn job_calls(
    cache: &CallsCache,
    path: &Path,
    missing: impl Fn() -> ApiError,
) -> ApiResult<Arc<Vec<CallInfo>>> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => missing(),
        _ => ApiError::internal(format!("failed to read {}: {e}", path.display())),
    })?;
    if meta.len() > MAX_RESULTS_FILE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the job's results file is larger than {} MiB",
                MAX_RESULTS_FILE >> 20
            ),
        ));
    }
    let stamp = (meta.len(), meta.modified().ok());
    if let Some(calls) = cache.get(path, stamp) {
        return Ok(calls);
    }
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => missing(),
        _ => ApiError::internal(format!("failed to read {}: {e}", path.display())),
    })?;
    let calls: Arc<Vec<CallInfo>> = Arc::new(
        parse_calls(&bytes)
            .map_err(|e| ApiError::internal(format!("failed to parse {}: {e}", path.display())))?,
    );
    // Kept only if the file did not change while it was read (it never should).
    if std::fs::metadata(path).is_ok_and(|m| (m.len(), m.modified().ok()) == stamp) {
        cache.put(path, stamp, &calls);
    }
    Ok(calls)
}

/// The calls of a `results.json`.
fn parse_calls(bytes: &[u8]) -> serde_json::Result<Vec<CallInfo>> {
    let entries: Vec<ResultEntry> = serde_json::from_slice(bytes)?;
    Ok(entries
        .into_iter()
        .map(|e| CallInfo {
            phase: e.phase,
            index: e.index,
            duration_s: e.duration_s,
            failed: e.error.is_some(),
        })
        .collect())
}

/// One entry of a job's `results.json` (the executor writes it when the job ends);
/// only what `.../calls` answers is read, the results themselves are skipped.
#[derive(serde::Deserialize)]
struct ResultEntry {
    phase: String,
    index: usize,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    duration_s: f64,
}

/// `GET .../taskInstances/{task_id}/calls?try_number=N&map_index=M`: the calls of a
/// try's executor job (of a mapped task's instance M) with their durations, read from the `results.json` the executor writes into the
/// job's data when the job ends (localhost storage only).
pub(super) async fn list_calls(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<CallsCache>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> ApiResult<Json<CallCollection>> {
    let params = Params::parse(&uri, &["try_number", "limit", "offset", "map_index"])?;
    let page = params.page()?;
    let asked_try = params.number("try_number")?;
    let map_index = match params.last("map_index") {
        Some(m) => m.parse::<i32>().map_err(|_| {
            ApiError::bad_request(format!("`map_index` must be an integer, found {m:?}"))
        })?,
        None => crate::store::UNMAPPED,
    };
    let dag = loaded_dag(&shared, &dag_id)?;
    let task = dag
        .task(&task_id)
        .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` has no task `{task_id}`")))?;
    let cfg = dag.executor_config(&shared.settings.executor, task);
    if cfg.effective_storage() != lithoflow_executor::StorageBackend::Localhost {
        return Err(ApiError::not_found(format!(
            "task `{task_id}` keeps its job data in {:?} storage; the API reads call records from localhost storage only",
            cfg.effective_storage()
        )));
    }
    let storage = lithoflow_executor::storage::LocalStorage::new(shared.settings.storage_dir());
    let runtime = tokio::runtime::Handle::current();
    read(&shared, move |store| {
        run_of(store, &dag_id, &run_id)?;
        let ti = if map_index == crate::store::UNMAPPED {
            ti_of(store, &dag_id, &run_id, &task_id)?
        } else {
            super::lookup::ti_at(store, &dag_id, &run_id, &task_id, map_index)?
        };
        let try_number = match asked_try {
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
            None => ti.try_number,
        };
        if try_number == 0 || try_number > ti.try_number {
            return Err(ApiError::not_found(format!(
                "task `{task_id}` of run `{run_id}` has no try {try_number} (its latest is {})",
                ti.try_number
            )));
        }
        let job_key = crate::taskrun::job_key(&dag_id, &run_id, &task_id, map_index, try_number);
        let path = storage.job_dir(&job_key).join("results.json");
        let missing = || {
            ApiError::not_found(format!(
                "no call records for try {try_number} of task `{task_id}` in run `{run_id}`: the job has not ended, or its data was cleaned (`clean_data`)"
            ))
        };
        // A one-call try's record is in the state database, not in its job's storage.
        let kept = store
            .try_calls(&dag_id, &run_id, (&task_id, map_index, try_number))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let all = match kept {
            Some(bytes) => Arc::new(parse_calls(&bytes).map_err(|e| {
                ApiError::internal(format!("the call record of try {try_number} of task `{task_id}` is not readable: {e}"))
            })?),
            None => {
                if !path.exists() {
                    // An ended try's `results.json` may still be on its way to disk
                    // (written off the job's path): what was handed over before now is
                    // written first.
                    runtime.block_on(storage.settle());
                }
                job_calls(&cache, &path, missing)?
            }
        };
        let total_entries = all.len();
        let (limit, offset) = page;
        let calls = all.iter().skip(offset).take(limit).cloned().collect();
        Ok(CallCollection {
            dag_id,
            dag_run_id: run_id,
            task_id,
            try_number,
            calls,
            total_entries,
        })
    })
    .await
    .map(Json)
}
