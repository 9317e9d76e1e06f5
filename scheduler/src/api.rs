//! The local API (axum): paths shaped like Airflow's stable REST API v1, a bearer token,
//! and an event stream. Bound to 127.0.0.1 only (by the daemon).
//!
//! Reads go straight to the store (on the blocking pool); changes go to the scheduler
//! loop as [`Request`]s, because it owns the runs. Every route needs the token; every
//! error is problem JSON. Ids from the path are checked before any lookup and are never
//! joined into a file path unless the run or task instance they name is recorded.
//! `docs/api.md` describes each route.

pub mod types;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use chrono::Utc;
use futures_util::stream::{self, Stream, StreamExt};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, oneshot};

use crate::control::{Event, Request, Shared};
use crate::ops::{BackfillSpec, ClearSpec, OpError, TriggerRequest};
use crate::store::{Store, StoreError};
use lithoflow_dag::Dag;
use types::{
    BackfillBody, BackfillResponse, CallCollection, CallInfo, ClearBody, ClearResponse,
    ClearedInstance, ComponentHealth, DagCollection, DagInfo, DagPatch, DagRun, DagRunCollection,
    Health, ImportErrorCollection, ImportErrorInfo, JobProgress, MAX_RECENT_RUNS, Problem,
    RECENT_RUNS, RecentRun, SchedulerHealth, Tag, TaskCollection, TaskInfo, TaskInstance,
    TaskInstanceCollection, Version, XComEntry,
};

/// Request bodies larger than this are refused (413).
pub const BODY_LIMIT: usize = 1 << 20;

/// How long a change may wait for the scheduler loop's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Lists show this many entries unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;

/// `limit` above this is lowered to it, as Airflow's `maximum_page_limit`.
pub const MAX_LIMIT: usize = 1000;

/// A log response carries at most this many bytes; ask again from `X-Log-Offset`.
pub const LOG_CHUNK: u64 = 4 << 20;

/// The header carrying the offset to ask a log from next.
pub const LOG_OFFSET_HEADER: &str = "x-log-offset";

/// An SSE comment is sent this often so proxies and clients see the stream alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A job's results file larger than this is not read for `.../calls`.
const MAX_RESULTS_FILE: u64 = 256 << 20;

/// At most this many call records (from all jobs together) are kept parsed for
/// `.../calls`; the least recently asked job goes first. About 64 bytes each, so ~32 MB.
const CALLS_CACHE_RECORDS: usize = 500_000;

/// At most this many jobs' call records are kept parsed, however small.
const CALLS_CACHE_JOBS: usize = 256;

/// A job's call records not asked for this long are dropped, so a scheduler whose clients
/// look at each new job's calls once (a dashboard following every-minute DAGs) holds only
/// the last few jobs' records rather than filling the bounds above over hours.
const CALLS_CACHE_IDLE: Duration = Duration::from_secs(120);

/// The API's routes over a running scheduler's shared state.
///
/// Inside a tokio runtime it also starts a task that keeps the latest progress of each
/// running job from the event broadcast, so a client that connects in the middle of a
/// `map` sees where it is (`progress` in task instances); the task ends with the
/// broadcast.
pub fn router(shared: Arc<Shared>) -> axum::Router {
    let ti = "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}";
    let book = ProgressBook::default();
    let calls = CallsCache::default();
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(keep_progress(shared.events.subscribe(), book.clone()));
        tokio::spawn(expire_calls(Arc::downgrade(&calls.0)));
    }
    axum::Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/version", get(version))
        .route("/api/v1/dags", get(list_dags))
        .route("/api/v1/dags/{dag_id}", get(get_dag).patch(patch_dag))
        .route("/api/v1/dags/{dag_id}/tasks", get(list_tasks))
        .route(
            "/api/v1/dags/{dag_id}/dagRuns",
            get(list_runs).post(trigger_run),
        )
        .route("/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}", get(get_run))
        .route(
            "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
            get(list_task_instances),
        )
        .route(ti, get(get_task_instance))
        .route(&format!("{ti}/xcomEntries/{{xcom_key}}"), get(get_xcom))
        .route(&format!("{ti}/logs/{{try_number}}"), get(get_log))
        .route(&format!("{ti}/calls"), get(list_calls))
        .route(
            "/api/v1/dags/{dag_id}/clearTaskInstances",
            post(clear_task_instances),
        )
        .route("/api/v1/backfills", post(create_backfill))
        .route("/api/v1/importErrors", get(import_errors))
        .route("/api/v1/events", get(events))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(Extension(book))
        .layer(Extension(calls))
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), auth))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------
// Live job progress.

/// A task instance: DAG, run, task.
type TiKey = (String, String, String);

/// The latest progress of each running job, by task instance. Entries go when their
/// instance leaves `running` (or its run ends), so the map holds running jobs only.
#[derive(Clone, Default)]
struct ProgressBook(Arc<Mutex<HashMap<TiKey, JobProgress>>>);

impl ProgressBook {
    fn get(&self, dag_id: &str, run_id: &str, task_id: &str) -> Option<JobProgress> {
        let key = (dag_id.to_owned(), run_id.to_owned(), task_id.to_owned());
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned()
    }

    fn apply(&self, ev: &Event) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match ev {
            Event::Progress {
                dag_id,
                run_id,
                task_id,
                phase,
                total,
                done,
                failed,
                running,
            } => {
                map.insert(
                    (dag_id.clone(), run_id.clone(), task_id.clone()),
                    JobProgress {
                        phase: phase.clone(),
                        total: *total,
                        done: *done,
                        failed: *failed,
                        running: *running,
                    },
                );
            }
            Event::TaskInstance {
                dag_id,
                run_id,
                task_id,
                ..
            } => {
                // A new try starts from nothing; a finished one has its counts recorded.
                map.remove(&(dag_id.clone(), run_id.clone(), task_id.clone()));
            }
            Event::DagRun {
                dag_id,
                run_id,
                state: crate::store::RunState::Success | crate::store::RunState::Failed,
            } => {
                map.retain(|(d, r, _), _| d != dag_id || r != run_id);
            }
            Event::DagRun { .. } | Event::Dag { .. } | Event::DagsReloaded { .. } => {}
        }
    }
}

/// Applies the broadcast's events to the book until the broadcast ends. After a lag
/// the book may hold a finished job's last progress; answers show progress only for
/// instances recorded `running`, so that never reaches a client.
async fn keep_progress(mut rx: broadcast::Receiver<Event>, book: ProgressBook) {
    loop {
        match rx.recv().await {
            Ok(ev) => book.apply(&ev),
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Call records.

/// Call records already read from jobs' `results.json`, by file. The file of a
/// 100,000-call map is ~9 MB of JSON: parsing it on every `.../calls` request took
/// 0.1-1 s and, under load, over half of the scheduler's CPU (bench/load), while a client
/// that pages through the calls or refreshes a histogram asks for the same file again and
/// again. The executor writes the file once, when the job ends (write, then rename); an
/// entry is used only while the file's length and modification time are unchanged.
#[derive(Clone, Default)]
struct CallsCache(Arc<Mutex<CallsCacheInner>>);

#[derive(Default)]
struct CallsCacheInner {
    entries: HashMap<std::path::PathBuf, CachedCalls>,
    /// Call records held by all entries together.
    records: usize,
    /// Bumped on every use, to find the least recently used entry.
    clock: u64,
}

struct CachedCalls {
    stamp: (u64, Option<std::time::SystemTime>),
    calls: Arc<Vec<CallInfo>>,
    /// The cache's clock at the last use: orders entries for eviction.
    used: u64,
    /// When it was last used: entries idle for [`CALLS_CACHE_IDLE`] go.
    used_at: Instant,
}

/// Drops idle call records every half [`CALLS_CACHE_IDLE`] until the cache is gone
/// (the router that held it was dropped).
async fn expire_calls(cache: std::sync::Weak<Mutex<CallsCacheInner>>) {
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
    fn lock(&self) -> std::sync::MutexGuard<'_, CallsCacheInner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(
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
    fn expire(&self, now: Instant) {
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
    fn put(
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
    let entries: Vec<ResultEntry> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::internal(format!("failed to parse {}: {e}", path.display())))?;
    let calls: Arc<Vec<CallInfo>> = Arc::new(
        entries
            .into_iter()
            .map(|e| CallInfo {
                phase: e.phase,
                index: e.index,
                duration_s: e.duration_s,
                failed: e.error.is_some(),
            })
            .collect(),
    );
    // Kept only if the file did not change while it was read (it never should).
    if std::fs::metadata(path).is_ok_and(|m| (m.len(), m.modified().ok()) == stamp) {
        cache.put(path, stamp, &calls);
    }
    Ok(calls)
}

// ---------------------------------------------------------------------------------------
// The token.

/// The API token in `home/api-token`: read, or created on first start (32 random bytes,
/// hex) with mode 0600 inside a home created 0700. A token file that the group or others
/// can read is refused: anyone who can read it can drive the scheduler.
pub fn ensure_token(home: &Path) -> anyhow::Result<String> {
    use anyhow::Context as _;
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};

    if !home.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(home)
            .with_context(|| format!("failed to create {}", home.display()))?;
    }
    let path = token_path(home);
    // Two tries: a scheduler started at the same moment may create the file between our
    // look and our create; then we read theirs.
    for _ in 0..2 {
        match read_token(&path) {
            Ok(Some(token)) => return Ok(token),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| anyhow::anyhow!("failed to get random bytes for the API token: {e}"))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match file {
            Ok(mut f) => {
                f.write_all(token.as_bytes())
                    .and_then(|()| f.write_all(b"\n"))
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("failed to write {}", path.display()))?;
                return Ok(token);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("failed to create {}", path.display()));
            }
        }
    }
    anyhow::bail!("failed to create or read {}", path.display())
}

/// Where a lithoflow home keeps the API token.
pub fn token_path(home: &Path) -> std::path::PathBuf {
    home.join("api-token")
}

/// Reads the token file: None if it does not exist; an error if others can read it or
/// it holds no token.
pub fn read_token(path: &Path) -> anyhow::Result<Option<String>> {
    use anyhow::Context as _;
    use std::os::unix::fs::PermissionsExt as _;

    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
    };
    if meta.permissions().mode() & 0o077 != 0 {
        anyhow::bail!(
            "the API token {} is accessible to other users (mode {:03o}); run `chmod 600 {}`",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let token = text.trim();
    if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        anyhow::bail!(
            "the API token {} is not a token (at least 32 printable characters); delete it and start the scheduler again to make a new one",
            path.display()
        );
    }
    Ok(Some(token.to_owned()))
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= given.get(i).copied().unwrap_or(0) ^ e;
    }
    diff == 0
}

async fn auth(
    State(shared): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match given {
        Some(t) if same_token(t.as_bytes(), shared.token.as_bytes()) => {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let resp = next.run(req).await;
            tracing::debug!(%method, %path, status = resp.status().as_u16(), "api request");
            resp
        }
        Some(_) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "the bearer token is wrong").into_response()
        }
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "send the token of $LITHOFLOW_HOME/api-token as `Authorization: Bearer <token>`",
        )
        .into_response(),
    }
}

// ---------------------------------------------------------------------------------------
// Errors and extractors.

/// An error answer: problem JSON with the status's name as its title.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
}

impl ApiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
        }
    }

    fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), "api error: {}", self.detail);
        }
        let problem = Problem {
            kind: "about:blank".to_owned(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
        };
        let mut resp = (self.status, Json(problem)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        let status = match &e {
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::Conflict(_) => StatusCode::CONFLICT,
            OpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            OpError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejections (bad JSON, too large, wrong content type) are problem
/// JSON too.
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {BODY_LIMIT} bytes"),
                ))
            }
            // Airflow answers 400 to a body it cannot read; axum would say 422.
            Err(e @ (JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_))) => {
                Err(ApiError::bad_request(e.body_text()))
            }
            Err(e) => Err(ApiError::new(e.status(), e.body_text())),
        }
    }
}

/// The path's ids, each checked: no `/`, `\`, NUL, `.` or `..`, at most 250 bytes.
struct Ids<const N: usize>([String; N]);

impl<S: Send + Sync, const N: usize> FromRequestParts<S> for Ids<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?
            .0;
        let mut out: [String; N] = std::array::from_fn(|_| String::new());
        if params.len() != N {
            return Err(ApiError::internal("route and handler disagree on path ids"));
        }
        for (slot, (name, value)) in out.iter_mut().zip(params) {
            check_id(&name, &value)?;
            *slot = value;
        }
        Ok(Ids(out))
    }
}

/// Refuses ids that could name another file if they ever reached a path, and ids no
/// record can have.
fn check_id(name: &str, id: &str) -> ApiResult<()> {
    if id.is_empty()
        || id == "."
        || id == ".."
        || id.contains(['/', '\\', '\0'])
        || id.len() > lithoflow_dag::MAX_ID_LEN
    {
        return Err(ApiError::bad_request(format!(
            "`{name}` {id:?} is not a valid id (no `/`, `\\`, NUL, `.` or `..`; at most {} bytes)",
            lithoflow_dag::MAX_ID_LEN
        )));
    }
    Ok(())
}

/// The query string as pairs, with every name checked against the route's list.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(uri: &Uri, known: &[&str]) -> ApiResult<Params> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter `{k}`; this route takes {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
        Ok(Params(pairs))
    }

    /// Every value of a name; comma-separated values count as several.
    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(',').map(str::trim).map(str::to_owned))
            .filter(|v| !v.is_empty())
            .collect()
    }

    fn last(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str) -> ApiResult<Option<u64>> {
        self.last(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "`{name}` must be a non-negative integer, found {v:?}"
                    ))
                })
            })
            .transpose()
    }

    fn bool(&self, name: &str) -> ApiResult<Option<bool>> {
        self.last(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "`{name}` must be true or false, found {v:?}"
                ))),
            })
            .transpose()
    }

    /// `recent_runs`: how many runs a DAG's `recent_runs` lists (1 to
    /// [`MAX_RECENT_RUNS`], default [`RECENT_RUNS`]).
    fn recent_runs(&self) -> ApiResult<usize> {
        match self.number("recent_runs")? {
            None => Ok(RECENT_RUNS),
            Some(n) if (1..=MAX_RECENT_RUNS as u64).contains(&n) => {
                Ok(usize::try_from(n).unwrap_or(RECENT_RUNS))
            }
            Some(n) => Err(ApiError::bad_request(format!(
                "`recent_runs` must be between 1 and {MAX_RECENT_RUNS}, found {n}"
            ))),
        }
    }

    /// `limit` and `offset`.
    fn page(&self) -> ApiResult<(usize, usize)> {
        let limit = self
            .number("limit")?
            .map_or(DEFAULT_LIMIT, |n| usize::try_from(n).unwrap_or(MAX_LIMIT))
            .min(MAX_LIMIT);
        let offset = self
            .number("offset")?
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok((limit, offset))
    }
}

fn paged<T>(items: Vec<T>, (limit, offset): (usize, usize)) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

// ---------------------------------------------------------------------------------------
// Helpers over the shared state.

/// Runs a store read on the blocking pool (sled is blocking).
async fn read<T, F>(shared: &Arc<Shared>, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> ApiResult<T> + Send + 'static,
{
    let store = Arc::clone(&shared.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::internal(format!("a store read failed: {e}")))?
}

/// Sends a change to the scheduler loop and waits for its answer.
async fn ask<T>(
    shared: &Shared,
    make: impl FnOnce(oneshot::Sender<Result<T, OpError>>) -> Request,
) -> ApiResult<T> {
    let unavailable = |why: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why.to_owned());
    let (tx, rx) = oneshot::channel();
    shared
        .requests
        .send(make(tx))
        .await
        .map_err(|_| unavailable("the scheduler is stopping"))?;
    match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
        Err(_) => Err(unavailable("the scheduler did not answer within 60 s")),
        Ok(Err(_)) => Err(unavailable("the scheduler dropped the request")),
        Ok(Ok(result)) => result.map_err(ApiError::from),
    }
}

fn loaded_dag(shared: &Shared, dag_id: &str) -> ApiResult<Arc<Dag>> {
    shared.dag(dag_id).ok_or_else(|| {
        ApiError::not_found(format!(
            "DAG `{dag_id}` is not loaded (see `lithoflow dags list` and `lithoflow dags list-import-errors`)"
        ))
    })
}

/// A DAG the scheduler serves, or one it served before (its runs stay readable).
fn known_dag(shared: &Shared, store: &Store, dag_id: &str) -> ApiResult<Option<Arc<Dag>>> {
    if let Some(dag) = shared.dag(dag_id) {
        return Ok(Some(dag));
    }
    if store.dag(dag_id)?.is_some() {
        return Ok(None);
    }
    Err(ApiError::not_found(format!("no DAG `{dag_id}`")))
}

fn run_of(store: &Store, dag_id: &str, run_id: &str) -> ApiResult<crate::store::DagRunRecord> {
    store
        .run(dag_id, run_id)?
        .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` has no run `{run_id}`")))
}

fn ti_of(
    store: &Store,
    dag_id: &str,
    run_id: &str,
    task_id: &str,
) -> ApiResult<crate::store::TaskInstanceRecord> {
    store.ti(dag_id, run_id, task_id)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "run `{run_id}` of DAG `{dag_id}` has no task instance `{task_id}` (yet)"
        ))
    })
}

/// The book's progress of an instance's job, only while the instance is recorded running.
fn live_progress(
    book: &ProgressBook,
    run: &crate::store::DagRunRecord,
    ti: &crate::store::TaskInstanceRecord,
) -> Option<JobProgress> {
    (ti.state == crate::store::TaskState::Running)
        .then(|| book.get(&run.dag_id, &run.run_id, &ti.task_id))
        .flatten()
}

fn operator(dag: Option<&Arc<Dag>>, task_id: &str) -> Option<String> {
    dag.and_then(|d| d.task(task_id))
        .map(|t| t.type_name().to_owned())
}

/// What the DAG list needs from the DAG set, taken under its lock.
struct DagView {
    dag: Arc<Dag>,
    next: Option<lithoflow_dag::timetable::DagRunInfo>,
    has_import_errors: bool,
}

/// The DAGs that pass `filter`, in id order. Only `Arc`s are copied: the views of the
/// page that is answered are made afterwards ([`dag_views`]), not of every DAG (with
/// 1,000 DAGs, making a view of each took ~8% of the scheduler's CPU under load).
fn served_dags(shared: &Shared, filter: impl Fn(&Dag) -> bool) -> Vec<Arc<Dag>> {
    shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .dags
        .values()
        .filter(|d| filter(d))
        .cloned()
        .collect()
}

fn dag_views(shared: &Shared, dags: Vec<Arc<Dag>>) -> Vec<DagView> {
    let set = shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    dags.into_iter()
        .map(|dag| DagView {
            next: set.next_run.get(&dag.dag_id).copied().flatten(),
            has_import_errors: set.import_errors.iter().any(|e| e.filepath == dag.fileloc),
            dag,
        })
        .collect()
}

fn dag_info(store: &Store, v: &DagView, recent: usize) -> ApiResult<DagInfo> {
    let d = &v.dag;
    let mut owners: Vec<String> = d.tasks.iter().map(|t| t.owner.clone()).collect();
    owners.sort_unstable();
    owners.dedup();
    let recent_runs = store
        .runs(&d.dag_id)?
        .into_iter()
        .take(recent)
        .map(|r| RecentRun {
            dag_run_id: r.run_id,
            state: r.state,
            run_after: r.run_after,
        })
        .collect();
    let timetable = serde_json::to_value(d.timetable)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(DagInfo {
        dag_id: d.dag_id.clone(),
        description: d.description.clone(),
        fileloc: d.fileloc.display().to_string(),
        is_paused: crate::ops::is_paused(store, d)?,
        is_active: true,
        is_paused_upon_creation: d.is_paused_upon_creation,
        schedule: d.schedule_str().map(str::to_owned),
        timetable,
        tags: d.tags.iter().map(|t| Tag { name: t.clone() }).collect(),
        owners,
        max_active_runs: d.max_active_runs,
        max_active_tasks: d.max_active_tasks,
        catchup: d.catchup,
        start_date: d.start_date,
        end_date: d.end_date,
        next_dagrun: v.next.map(|i| i.logical_date()),
        next_dagrun_data_interval_start: v.next.map(|i| i.data_interval.start),
        next_dagrun_data_interval_end: v.next.map(|i| i.data_interval.end),
        next_dagrun_create_after: v.next.map(|i| i.run_after),
        has_import_errors: v.has_import_errors,
        recent_runs,
        was_paused: None,
    })
}

// ---------------------------------------------------------------------------------------
// Handlers.

async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {}; see docs/api.md for the routes",
        uri.path()
    ))
}

async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method; see docs/api.md",
    )
}

async fn health(State(shared): State<Arc<Shared>>, uri: Uri) -> ApiResult<Json<Health>> {
    Params::parse(&uri, &[])?;
    let db_ok = read(&shared, |store| Ok(store.dag("").is_ok())).await?;
    let status = |ok: bool| if ok { "healthy" } else { "unhealthy" }.to_owned();
    Ok(Json(Health {
        metadatabase: ComponentHealth {
            status: status(db_ok),
        },
        scheduler: SchedulerHealth {
            status: status(true),
            latest_scheduler_heartbeat: Some(Utc::now()),
            started_at: shared.started_at,
            dags_folder: shared.dags_folder.display().to_string(),
        },
    }))
}

async fn version(uri: Uri) -> ApiResult<Json<Version>> {
    Params::parse(&uri, &[])?;
    Ok(Json(Version {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_version: None,
    }))
}

async fn list_dags(State(shared): State<Arc<Shared>>, uri: Uri) -> ApiResult<Json<DagCollection>> {
    let params = Params::parse(
        &uri,
        &[
            "limit",
            "offset",
            "paused",
            "tags",
            "dag_id_pattern",
            "only_active",
            "recent_runs",
        ],
    )?;
    let page = params.page()?;
    let recent = params.recent_runs()?;
    params.bool("only_active")?;
    let paused = params.bool("paused")?;
    let tags = params.all("tags");
    let pattern = params.last("dag_id_pattern").map(str::to_lowercase);
    let matching = served_dags(&shared, |d| {
        (tags.is_empty() || d.tags.iter().any(|t| tags.contains(t)))
            && pattern
                .as_deref()
                .is_none_or(|p| d.dag_id.to_lowercase().contains(p))
    });
    let sh = Arc::clone(&shared);
    let dags = read(&shared, move |store| {
        let mut out = Vec::new();
        for dag in matching {
            if let Some(p) = paused
                && crate::ops::is_paused(store, &dag)? != p
            {
                continue;
            }
            out.push(dag);
        }
        let total_entries = out.len();
        let dags = dag_views(&sh, paged(out, page))
            .iter()
            .map(|v| dag_info(store, v, recent))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(DagCollection {
            dags,
            total_entries,
        })
    })
    .await?;
    Ok(Json(dags))
}

async fn get_dag(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<DagInfo>> {
    let recent = Params::parse(&uri, &["recent_runs"])?.recent_runs()?;
    loaded_dag(&shared, &dag_id)?;
    one_dag_info(&shared, dag_id, None, recent).await
}

/// A loaded DAG's [`DagInfo`], with `was_paused` set as given.
async fn one_dag_info(
    shared: &Arc<Shared>,
    dag_id: String,
    was_paused: Option<bool>,
    recent: usize,
) -> ApiResult<Json<DagInfo>> {
    let views = dag_views(shared, shared.dag(&dag_id).into_iter().collect());
    read(shared, move |store| {
        let v = views
            .first()
            .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` is not loaded")))?;
        let mut info = dag_info(store, v, recent)?;
        info.was_paused = was_paused;
        Ok(info)
    })
    .await
    .map(Json)
}

async fn patch_dag(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
    Body(patch): Body<DagPatch>,
) -> ApiResult<Json<DagInfo>> {
    // Airflow's `update_mask` may only name the one field there is.
    let params = Params::parse(&uri, &["update_mask"])?;
    if let Some(m) = params.all("update_mask").iter().find(|m| *m != "is_paused") {
        return Err(ApiError::bad_request(format!(
            "`update_mask` {m:?}: only `is_paused` can be changed"
        )));
    }
    loaded_dag(&shared, &dag_id)?;
    let before = ask(&shared, |reply| Request::SetPaused {
        dag_id: dag_id.clone(),
        paused: patch.is_paused,
        reply,
    })
    .await?;
    one_dag_info(&shared, dag_id, Some(before), RECENT_RUNS).await
}

async fn list_tasks(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<TaskCollection>> {
    Params::parse(&uri, &[])?;
    let dag = loaded_dag(&shared, &dag_id)?;
    let tasks: Vec<TaskInfo> = dag
        .tasks
        .iter()
        .map(|t| TaskInfo {
            task_id: t.task_id.clone(),
            operator_name: t.type_name().to_owned(),
            upstream_task_ids: dag
                .graph
                .upstream(&t.task_id)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            downstream_task_ids: dag
                .graph
                .downstream(&t.task_id)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            trigger_rule: t.trigger_rule.name().to_owned(),
            retries: t.retries,
            owner: t.owner.clone(),
            depends_on_past: t.depends_on_past,
        })
        .collect();
    Ok(Json(TaskCollection {
        total_entries: tasks.len(),
        tasks,
    }))
}

async fn list_runs(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<DagRunCollection>> {
    let params = Params::parse(&uri, &["limit", "offset", "state"])?;
    let page = params.page()?;
    let states = params.all("state");
    for s in &states {
        if !["queued", "running", "success", "failed"].contains(&s.as_str()) {
            return Err(ApiError::bad_request(format!(
                "`state` {s:?}: expected queued, running, success or failed"
            )));
        }
    }
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let mut runs = if dag_id == "~" {
            let mut all = store.all_runs()?;
            all.sort_by(|a, b| {
                b.run_after
                    .cmp(&a.run_after)
                    .then_with(|| b.run_id.cmp(&a.run_id))
            });
            all
        } else {
            known_dag(&sh, store, &dag_id)?;
            store.runs(&dag_id)?
        };
        runs.retain(|r| states.is_empty() || states.iter().any(|s| s == r.state.name()));
        let total_entries = runs.len();
        let dag_runs = paged(runs, page).iter().map(DagRun::from).collect();
        Ok(DagRunCollection {
            dag_runs,
            total_entries,
        })
    })
    .await
    .map(Json)
}

async fn trigger_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
    Body(req): Body<TriggerRequest>,
) -> ApiResult<Json<DagRun>> {
    Params::parse(&uri, &[])?;
    loaded_dag(&shared, &dag_id)?;
    let run = ask(&shared, |reply| Request::Trigger {
        dag_id: dag_id.clone(),
        req,
        reply,
    })
    .await?;
    Ok(Json(DagRun::from(&run)))
}

async fn get_run(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> ApiResult<Json<DagRun>> {
    Params::parse(&uri, &[])?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        known_dag(&sh, store, &dag_id)?;
        Ok(DagRun::from(&run_of(store, &dag_id, &run_id)?))
    })
    .await
    .map(Json)
}

async fn list_task_instances(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> ApiResult<Json<TaskInstanceCollection>> {
    let params = Params::parse(&uri, &["limit", "offset", "state"])?;
    let page = params.page()?;
    let states = params.all("state");
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let dag = known_dag(&sh, store, &dag_id)?;
        let run = run_of(store, &dag_id, &run_id)?;
        let mut tis = store.tis(&dag_id, &run_id)?;
        tis.retain(|t| {
            states.is_empty()
                || states
                    .iter()
                    .any(|s| s == t.state.name() || (s == "null" && t.state.name() == "none"))
        });
        let total_entries = tis.len();
        let task_instances = paged(tis, page)
            .iter()
            .map(|t| {
                let mut out = TaskInstance::new(&run, t, operator(dag.as_ref(), &t.task_id));
                out.progress = live_progress(&book, &run, t);
                out
            })
            .collect();
        Ok(TaskInstanceCollection {
            task_instances,
            total_entries,
        })
    })
    .await
    .map(Json)
}

async fn get_task_instance(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> ApiResult<Json<TaskInstance>> {
    Params::parse(&uri, &[])?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let dag = known_dag(&sh, store, &dag_id)?;
        let run = run_of(store, &dag_id, &run_id)?;
        let ti = ti_of(store, &dag_id, &run_id, &task_id)?;
        let mut out = TaskInstance::new(&run, &ti, operator(dag.as_ref(), &task_id));
        out.progress = live_progress(&book, &run, &ti);
        out.return_value = Some(
            store
                .xcom(&dag_id, &run_id, &task_id, "return_value")?
                .unwrap_or(serde_json::Value::Null),
        );
        Ok(out)
    })
    .await
    .map(Json)
}

async fn get_xcom(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, key]): Ids<4>,
    uri: Uri,
) -> ApiResult<Json<XComEntry>> {
    Params::parse(&uri, &[])?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        known_dag(&sh, store, &dag_id)?;
        let run = run_of(store, &dag_id, &run_id)?;
        ti_of(store, &dag_id, &run_id, &task_id)?;
        let value = store
            .xcom(&dag_id, &run_id, &task_id, &key)?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "task `{task_id}` of run `{run_id}` has no XCom `{key}`"
                ))
            })?;
        Ok(XComEntry {
            key,
            dag_id,
            dag_run_id: run_id,
            task_id,
            map_index: -1,
            logical_date: run.logical_date,
            value,
        })
    })
    .await
    .map(Json)
}

async fn get_log(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, try_text]): Ids<4>,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::parse(&uri, &["offset"])?;
    let offset = params.number("offset")?.unwrap_or(0);
    let try_number: u32 = try_text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`try_number` must be a positive integer, found {try_text:?}"
        ))
    })?;
    let logs_dir = shared.settings.home.join("logs");
    let sh = Arc::clone(&shared);
    let (bytes, next) = read(&shared, move |store| {
        known_dag(&sh, store, &dag_id)?;
        run_of(store, &dag_id, &run_id)?;
        let ti = ti_of(store, &dag_id, &run_id, &task_id)?;
        if try_number == 0 || try_number > ti.try_number {
            return Err(ApiError::not_found(format!(
                "task `{task_id}` of run `{run_id}` has no try {try_number} (its latest is {})",
                ti.try_number
            )));
        }
        // The instance is recorded, so its ids passed validation when it was created;
        // check again anyway before they become path segments.
        if !lithoflow_dag::is_valid_id(&dag_id) || !lithoflow_dag::is_valid_id(&task_id) {
            return Err(ApiError::bad_request("invalid DAG or task id"));
        }
        let path =
            crate::engine::Engine::log_path(&logs_dir, &dag_id, &run_id, &task_id, try_number);
        read_log(&path, offset).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ApiError::not_found(format!(
                "no log for try {try_number} of task `{task_id}` in run `{run_id}` yet"
            )),
            _ => ApiError::internal(format!("failed to read {}: {e}", path.display())),
        })
    })
    .await?;
    let mut resp = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response();
    resp.headers_mut()
        .insert(LOG_OFFSET_HEADER, HeaderValue::from(next));
    Ok(resp)
}

/// The log's bytes from `offset` (at most [`LOG_CHUNK`]) and the offset after them.
fn read_log(path: &Path, offset: u64) -> std::io::Result<(Vec<u8>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = offset.min(len);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(LOG_CHUNK).read_to_end(&mut buf)?;
    let next = start + buf.len() as u64;
    Ok((buf, next))
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

/// `GET .../taskInstances/{task_id}/calls?try_number=N`: the calls of a try's executor
/// job with their durations, read from the `results.json` the executor writes into the
/// job's data when the job ends (localhost storage only).
async fn list_calls(
    State(shared): State<Arc<Shared>>,
    Extension(cache): Extension<CallsCache>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> ApiResult<Json<CallCollection>> {
    let params = Params::parse(&uri, &["try_number", "limit", "offset"])?;
    let page = params.page()?;
    let asked_try = params.number("try_number")?;
    let dag = loaded_dag(&shared, &dag_id)?;
    let task = dag
        .task(&task_id)
        .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` has no task `{task_id}`")))?;
    let cfg = crate::taskrun::executor_config(&shared.settings.executor, &dag, task);
    if cfg.effective_storage() != lithoflow_executor::StorageBackend::Localhost {
        return Err(ApiError::not_found(format!(
            "task `{task_id}` keeps its job data in {:?} storage; the API reads call records from localhost storage only",
            cfg.effective_storage()
        )));
    }
    let storage = lithoflow_executor::storage::LocalStorage::new(shared.settings.storage_dir());
    read(&shared, move |store| {
        run_of(store, &dag_id, &run_id)?;
        let ti = ti_of(store, &dag_id, &run_id, &task_id)?;
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
        let job_key = crate::engine::job_key(&dag_id, &run_id, &task_id, try_number);
        let path = storage.job_dir(&job_key).join("results.json");
        let missing = || {
            ApiError::not_found(format!(
                "no call records for try {try_number} of task `{task_id}` in run `{run_id}`: the job has not ended, or its data was cleaned (`clean_data`)"
            ))
        };
        let all = job_calls(&cache, &path, missing)?;
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

async fn clear_task_instances(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
    Body(body): Body<ClearBody>,
) -> ApiResult<Json<ClearResponse>> {
    Params::parse(&uri, &[])?;
    loaded_dag(&shared, &dag_id)?;
    if let Some(r) = &body.dag_run_id {
        check_id("dag_run_id", r)?;
    }
    let spec = ClearSpec {
        task_regex: body.task_regex,
        task_ids: body.task_ids,
        upstream: body.include_upstream,
        downstream: body.include_downstream,
        only_failed: body.only_failed,
        run_id: body.dag_run_id,
        dry_run: body.dry_run.unwrap_or(true),
    };
    let cleared = ask(&shared, |reply| Request::Clear {
        dag_id: dag_id.clone(),
        spec,
        reply,
    })
    .await?;
    Ok(Json(ClearResponse {
        task_instances: cleared
            .into_iter()
            .map(|c| ClearedInstance {
                dag_id: dag_id.clone(),
                dag_run_id: c.dag_run_id,
                task_id: c.task_id,
                state: c.state,
            })
            .collect(),
    }))
}

async fn create_backfill(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Body(body): Body<BackfillBody>,
) -> ApiResult<Json<BackfillResponse>> {
    Params::parse(&uri, &[])?;
    check_id("dag_id", &body.dag_id)?;
    loaded_dag(&shared, &body.dag_id)?;
    let spec = BackfillSpec {
        from_date: body.from_date,
        to_date: body.to_date,
        reprocess_behavior: body.reprocess_behavior,
        max_active_runs: body.max_active_runs,
        run_backwards: body.run_backwards,
        dry_run: body.dry_run,
        conf: body.dag_run_conf.clone(),
    };
    let outcome = ask(&shared, |reply| Request::Backfill {
        dag_id: body.dag_id.clone(),
        spec,
        reply,
    })
    .await?;
    Ok(Json(BackfillResponse {
        id: outcome.backfill_id,
        dag_id: body.dag_id,
        from_date: body.from_date,
        to_date: body.to_date,
        reprocess_behavior: body.reprocess_behavior,
        max_active_runs: body.max_active_runs,
        run_backwards: body.run_backwards,
        dry_run: body.dry_run,
        dag_run_conf: body.dag_run_conf,
        total_entries: outcome.runs.len(),
        dag_runs: outcome.runs.into_iter().map(Into::into).collect(),
    }))
}

async fn import_errors(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<ImportErrorCollection>> {
    let params = Params::parse(&uri, &["limit", "offset"])?;
    let page = params.page()?;
    let all: Vec<ImportErrorInfo> = shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .import_errors
        .iter()
        .enumerate()
        .map(|(i, e)| ImportErrorInfo {
            import_error_id: i + 1,
            filename: e.filepath.display().to_string(),
            stack_trace: e.error.clone(),
        })
        .collect();
    let total_entries = all.len();
    Ok(Json(ImportErrorCollection {
        import_errors: paged(all, page),
        total_entries,
    }))
}

/// `GET /events`: server-sent events, one per [`Event`], named by its `type`, its data
/// the event as JSON. A client too slow for the broadcast buffer gets `event: lagged`
/// and should fetch the state again. The stream ends when the scheduler stops.
async fn events(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let params = Params::parse(&uri, &["dag_id"])?;
    let dag_filter = params.last("dag_id").map(str::to_owned);
    let rx = shared.events.subscribe();
    let first = stream::once(async { Ok(SseEvent::default().comment("connected")) });
    let rest = stream::unfold(
        (rx, Arc::clone(&shared), dag_filter),
        |(mut rx, shared, filter)| async move {
            loop {
                let got = tokio::select! {
                    got = rx.recv() => got,
                    () = shared.requests.closed() => return None,
                };
                let event = match got {
                    Ok(ev) => {
                        if !wanted(&ev, filter.as_deref()) {
                            continue;
                        }
                        sse_event(&ev)
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => SseEvent::default()
                        .event("lagged")
                        .data(serde_json::json!({"type": "lagged", "skipped": n}).to_string()),
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                return Some((Ok(event), (rx, shared, filter)));
            }
        },
    );
    Ok(Sse::new(first.chain(rest)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn wanted(ev: &Event, dag: Option<&str>) -> bool {
    let Some(want) = dag else { return true };
    match ev {
        Event::DagRun { dag_id, .. }
        | Event::TaskInstance { dag_id, .. }
        | Event::Progress { dag_id, .. }
        | Event::Dag { dag_id, .. } => dag_id == want,
        Event::DagsReloaded { .. } => true,
    }
}

fn sse_event(ev: &Event) -> SseEvent {
    let data = serde_json::to_value(ev).unwrap_or(serde_json::Value::Null);
    let name = data
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("event")
        .to_owned();
    SseEvent::default().event(name).data(data.to_string())
}
