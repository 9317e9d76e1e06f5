//! The scheduler's local API as the UI sees it: its own serde types for the JSON it
//! reads (never the scheduler crate's), a small HTTP/1.1 client over hyper-util, the
//! server-sent event stream, and how to find a running scheduler from its home.
//!
//! Only the fields the UI shows are read; serde skips the rest, so the API can grow.
//! Unknown states read as [`TaskState::Unknown`] rather than failing the whole answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, header};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How long one request may take (the event stream has no limit).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The API's page size limit.
const PAGE: usize = 1000;

// ---------------------------------------------------------------------------------------
// Types.

/// A task instance's state, Airflow's names; `None` is "no status".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// No status yet.
    #[default]
    None,
    /// Its dependencies are met.
    Scheduled,
    /// Waiting for a slot.
    Queued,
    /// Running.
    Running,
    /// Returned.
    Success,
    /// Failed with no retries left.
    Failed,
    /// Did not run, or raised a skip.
    Skipped,
    /// An upstream task failed.
    UpstreamFailed,
    /// Failed, will be retried.
    UpForRetry,
    /// A state this UI does not know.
    #[serde(other)]
    Unknown,
}

impl TaskState {
    /// Airflow's name.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::None => "no status",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::Unknown => "unknown",
        }
    }

    /// Whether the instance is done with (until cleared).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::Skipped | TaskState::UpstreamFailed
        )
    }
}

/// A DAG run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Waiting for a slot.
    #[default]
    Queued,
    /// Running.
    Running,
    /// Every leaf succeeded or was skipped.
    Success,
    /// Failed.
    Failed,
    /// A state this UI does not know.
    #[serde(other)]
    Unknown,
}

impl RunState {
    /// Airflow's name.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
            RunState::Unknown => "unknown",
        }
    }

    /// The task state drawn with the same colour.
    pub fn as_task_state(self) -> TaskState {
        match self {
            RunState::Queued => TaskState::Queued,
            RunState::Running => TaskState::Running,
            RunState::Success => TaskState::Success,
            RunState::Failed => TaskState::Failed,
            RunState::Unknown => TaskState::Unknown,
        }
    }
}

/// A DAG tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The tag.
    pub name: String,
}

/// One of a DAG's latest runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentRun {
    /// The run.
    pub dag_run_id: String,
    /// Its state.
    pub state: RunState,
}

/// A DAG (`GET /dags`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dag {
    /// Its id.
    pub dag_id: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the scheduler creates its runs.
    pub is_paused: bool,
    /// The schedule as written; None for manual runs only.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The logical date of the next run the scheduler will create.
    #[serde(default)]
    pub next_dagrun: Option<DateTime<Utc>>,
    /// When that run will be created.
    #[serde(default)]
    pub next_dagrun_create_after: Option<DateTime<Utc>>,
    /// Whether its file fails to load now.
    #[serde(default)]
    pub has_import_errors: bool,
    /// Its latest runs, newest first.
    #[serde(default)]
    pub recent_runs: Vec<RecentRun>,
}

#[derive(Debug, Deserialize)]
struct DagCollection {
    dags: Vec<Dag>,
    total_entries: usize,
}

/// A task of a DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub task_id: String,
    /// `call_async`, `map` or `map_reduce`.
    pub operator_name: String,
    /// Tasks it waits for.
    #[serde(default)]
    pub upstream_task_ids: Vec<String>,
    /// Tasks that wait for it.
    #[serde(default)]
    pub downstream_task_ids: Vec<String>,
    /// Its trigger rule.
    #[serde(default)]
    pub trigger_rule: String,
}

#[derive(Debug, Deserialize)]
struct TaskCollection {
    tasks: Vec<Task>,
}

/// A DAG run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagRun {
    /// Its id.
    pub dag_run_id: String,
    /// The DAG.
    pub dag_id: String,
    /// `manual`, `scheduled` or `backfill`.
    #[serde(default)]
    pub run_type: String,
    /// Its state.
    pub state: RunState,
    /// The logical date.
    #[serde(default)]
    pub logical_date: Option<DateTime<Utc>>,
    /// When it may start.
    pub run_after: DateTime<Utc>,
    /// When it started.
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default)]
    pub end_date: Option<DateTime<Utc>>,
    /// Its conf.
    #[serde(default)]
    pub conf: Map<String, Value>,
    /// Why it failed, when for a reason of its own.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DagRunCollection {
    dag_runs: Vec<DagRun>,
}

/// The live progress of a running try's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobProgress {
    /// Calls in the current phase.
    pub total: usize,
    /// Calls that returned.
    pub done: usize,
    /// Calls that failed.
    pub failed: usize,
    /// Calls running now.
    pub running: usize,
}

/// A task instance.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskInstance {
    /// The task.
    pub task_id: String,
    /// The DAG.
    #[serde(default)]
    pub dag_id: String,
    /// The run.
    #[serde(default)]
    pub dag_run_id: String,
    /// Its state (null: no status).
    #[serde(default)]
    pub state: Option<TaskState>,
    /// The current try, 0 before the first.
    #[serde(default)]
    pub try_number: u32,
    /// Tries allowed.
    #[serde(default)]
    pub max_tries: u32,
    /// When the current try started.
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default)]
    pub end_date: Option<DateTime<Utc>>,
    /// Seconds the last try ran.
    #[serde(default)]
    pub duration: Option<f64>,
    /// The task's type.
    #[serde(default)]
    pub operator: Option<String>,
    /// Why the last try failed, with the remote traceback.
    #[serde(default)]
    pub error: Option<String>,
    /// The executor job of the current try.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Calls that returned.
    #[serde(default)]
    pub calls_done: usize,
    /// Calls that failed.
    #[serde(default)]
    pub calls_failed: usize,
    /// Calls in all.
    #[serde(default)]
    pub calls_total: usize,
    /// When an up_for_retry instance runs again.
    #[serde(default)]
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Its XCom `return_value` (only in the one-instance answer).
    #[serde(default)]
    pub return_value: Option<Value>,
    /// Its running job's progress.
    #[serde(default)]
    pub progress: Option<JobProgress>,
}

impl TaskInstance {
    /// Its state, `None` for no status.
    pub fn state(&self) -> TaskState {
        self.state.unwrap_or(TaskState::None)
    }
}

#[derive(Debug, Deserialize)]
struct TaskInstanceCollection {
    task_instances: Vec<TaskInstance>,
    total_entries: usize,
}

/// One call of a try's executor job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    /// `call`, `map` or `reduce`.
    pub phase: String,
    /// Its index in its phase.
    pub index: usize,
    /// Seconds it ran.
    pub duration_s: f64,
    /// Whether it failed.
    pub failed: bool,
}

#[derive(Debug, Deserialize)]
struct CallCollection {
    calls: Vec<CallInfo>,
    total_entries: usize,
}

/// What a clear reset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClearedInstance {
    /// The run.
    pub dag_run_id: String,
    /// The task.
    pub task_id: String,
}

#[derive(Debug, Deserialize)]
struct ClearResponse {
    task_instances: Vec<ClearedInstance>,
}

#[derive(Debug, Deserialize)]
struct Problem {
    #[serde(default)]
    detail: String,
}

/// A state change from the event stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApiEvent {
    /// A run was created or changed state.
    DagRun {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// Its new state.
        state: RunState,
    },
    /// A task instance changed state.
    TaskInstance {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task.
        task_id: String,
        /// Its new state.
        state: TaskState,
        /// Its try.
        try_number: u32,
    },
    /// A running job's calls moved.
    Progress {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task.
        task_id: String,
        /// `call`, `map` or `reduce`.
        phase: String,
        /// Calls in the phase.
        total: usize,
        /// Returned.
        done: usize,
        /// Failed.
        failed: usize,
        /// Running now.
        running: usize,
    },
    /// A DAG was paused or unpaused.
    Dag {
        /// The DAG.
        dag_id: String,
        /// Paused now.
        is_paused: bool,
    },
    /// The DAGs folder was loaded again.
    DagsReloaded {
        /// Valid DAGs.
        dags: usize,
        /// Files with errors.
        import_errors: usize,
    },
    /// This client missed events: fetch again.
    Lagged {
        /// How many.
        skipped: u64,
    },
}

// ---------------------------------------------------------------------------------------
// Errors.

/// Why a call to the API failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No scheduler is described in the home.
    #[error(
        "no scheduler is running for {home} (no scheduler.json); start one with `lithoflow scheduler`"
    )]
    NoScheduler {
        /// The lithoflow home.
        home: PathBuf,
    },
    /// The home's files could not be read.
    #[error("{0}")]
    Discovery(String),
    /// No connection, or no answer in time.
    #[error("cannot reach the scheduler: {0}")]
    Unreachable(String),
    /// The API answered with an error.
    #[error("{detail}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
    /// The answer was not what the API sends.
    #[error("unexpected answer from the scheduler: {0}")]
    Protocol(String),
}

impl ApiError {
    /// Whether the API said 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Status { status: 404, .. })
    }
}

/// An error with its sources, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

// ---------------------------------------------------------------------------------------
// Finding the scheduler.

/// Where a scheduler's API listens and its token.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The bearer token.
    pub token: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SchedulerFile {
    port: u16,
}

/// The scheduler `home/scheduler.json` describes, with the token of `home/api-token`
/// (which must be private to its owner, as the scheduler makes it).
pub fn discover(home: &Path) -> Result<Endpoint, ApiError> {
    use std::os::unix::fs::PermissionsExt as _;

    let info_path = home.join("scheduler.json");
    let bytes = match std::fs::read(&info_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NoScheduler {
                home: home.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(ApiError::Discovery(format!(
                "failed to read {}: {e}",
                info_path.display()
            )));
        }
    };
    let info: SchedulerFile = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::Discovery(format!(
            "{} is not a scheduler description: {e}",
            info_path.display()
        ))
    })?;
    let token_path = home.join("api-token");
    let meta = std::fs::metadata(&token_path).map_err(|e| {
        ApiError::Discovery(format!("failed to read {}: {e}", token_path.display()))
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(ApiError::Discovery(format!(
            "the API token {} is accessible to other users; run `chmod 600 {}`",
            token_path.display(),
            token_path.display()
        )));
    }
    let token = std::fs::read_to_string(&token_path)
        .map_err(|e| ApiError::Discovery(format!("failed to read {}: {e}", token_path.display())))?
        .trim()
        .to_owned();
    if token.is_empty() {
        return Err(ApiError::Discovery(format!(
            "{} holds no token",
            token_path.display()
        )));
    }
    Ok(Endpoint {
        port: info.port,
        token,
    })
}

// ---------------------------------------------------------------------------------------
// The client.

/// Percent-encodes a path segment (run ids hold `:` and `+`).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A client of one scheduler's API. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    endpoint: Endpoint,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the API at `endpoint`.
    pub fn new(endpoint: Endpoint) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(3)));
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new()).build(connector);
        Client { http, endpoint }
    }

    /// Where it connects.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/api/v1{path}", self.endpoint.port)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, ApiError> {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.endpoint.token),
            );
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let req = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ApiError::Protocol(e.to_string()))?;
        self.http
            .request(req)
            .await
            .map_err(|e| ApiError::Unreachable(chain(&e)))
    }

    /// Sends a request and reads the whole answer: the body and the headers.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(hyper::HeaderMap, Bytes), ApiError> {
        let fut = async {
            let resp = self.send(method, path, body).await?;
            let (parts, body) = resp.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| ApiError::Unreachable(chain(&e)))?
                .to_bytes();
            Ok::<_, ApiError>((parts, bytes))
        };
        let (parts, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| {
                ApiError::Unreachable(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))
            })??;
        if parts.status.is_success() {
            return Ok((parts.headers, bytes));
        }
        let detail = serde_json::from_slice::<Problem>(&bytes)
            .map(|p| p.detail)
            .unwrap_or_else(|_| {
                format!(
                    "{} {}",
                    parts.status,
                    String::from_utf8_lossy(&bytes).trim()
                )
            });
        Err(ApiError::Status {
            status: parts.status.as_u16(),
            detail,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let body = body.map(|b| b.to_string().into_bytes());
        let (_, bytes) = self.call(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Protocol(format!("{path}: {e}")))
    }

    /// Every DAG, each with its `recent` latest runs.
    pub async fn dags(&self, recent: usize) -> Result<Vec<Dag>, ApiError> {
        let mut out = Vec::new();
        loop {
            let page: DagCollection = self
                .json(
                    Method::GET,
                    &format!(
                        "/dags?limit={PAGE}&offset={}&recent_runs={recent}",
                        out.len()
                    ),
                    None,
                )
                .await?;
            let n = page.dags.len();
            out.extend(page.dags);
            if n == 0 || out.len() >= page.total_entries {
                return Ok(out);
            }
        }
    }

    /// A DAG's tasks, in file order.
    pub async fn tasks(&self, dag_id: &str) -> Result<Vec<Task>, ApiError> {
        let c: TaskCollection = self
            .json(
                Method::GET,
                &format!("/dags/{}/tasks", segment(dag_id)),
                None,
            )
            .await?;
        Ok(c.tasks)
    }

    /// A DAG's latest `limit` runs, newest first.
    pub async fn runs(&self, dag_id: &str, limit: usize) -> Result<Vec<DagRun>, ApiError> {
        let c: DagRunCollection = self
            .json(
                Method::GET,
                &format!("/dags/{}/dagRuns?limit={limit}", segment(dag_id)),
                None,
            )
            .await?;
        Ok(c.dag_runs)
    }

    /// Every task instance of a run.
    pub async fn task_instances(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<TaskInstance>, ApiError> {
        let mut out = Vec::new();
        loop {
            let page: TaskInstanceCollection = self
                .json(
                    Method::GET,
                    &format!(
                        "/dags/{}/dagRuns/{}/taskInstances?limit={PAGE}&offset={}",
                        segment(dag_id),
                        segment(run_id),
                        out.len()
                    ),
                    None,
                )
                .await?;
            let n = page.task_instances.len();
            out.extend(page.task_instances);
            if n == 0 || out.len() >= page.total_entries {
                return Ok(out);
            }
        }
    }

    /// One task instance with its return value.
    pub async fn task_instance(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<TaskInstance, ApiError> {
        self.json(
            Method::GET,
            &format!(
                "/dags/{}/dagRuns/{}/taskInstances/{}",
                segment(dag_id),
                segment(run_id),
                segment(task_id)
            ),
            None,
        )
        .await
    }

    /// The calls of a try's job (at most `max` of them).
    pub async fn calls(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
        max: usize,
    ) -> Result<(Vec<CallInfo>, usize), ApiError> {
        let mut out = Vec::new();
        loop {
            let page: CallCollection = self
                .json(
                    Method::GET,
                    &format!(
                        "/dags/{}/dagRuns/{}/taskInstances/{}/calls?try_number={try_number}&limit={PAGE}&offset={}",
                        segment(dag_id),
                        segment(run_id),
                        segment(task_id),
                        out.len()
                    ),
                    None,
                )
                .await?;
            let n = page.calls.len();
            out.extend(page.calls);
            if n == 0 || out.len() >= page.total_entries || out.len() >= max {
                return Ok((out, page.total_entries));
            }
        }
    }

    /// A try's log from byte `offset`: the text and the offset to ask from next.
    pub async fn log(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
        offset: u64,
    ) -> Result<(String, u64), ApiError> {
        let path = format!(
            "/dags/{}/dagRuns/{}/taskInstances/{}/logs/{try_number}?offset={offset}",
            segment(dag_id),
            segment(run_id),
            segment(task_id)
        );
        let (headers, body) = self.call(Method::GET, &path, None).await?;
        let next = headers
            .get("x-log-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| ApiError::Protocol(format!("{path}: no x-log-offset header")))?;
        Ok((String::from_utf8_lossy(&body).into_owned(), next))
    }

    /// Triggers a run with `conf`; the run created.
    pub async fn trigger(
        &self,
        dag_id: &str,
        conf: Map<String, Value>,
    ) -> Result<DagRun, ApiError> {
        let body = serde_json::json!({ "conf": conf });
        self.json(
            Method::POST,
            &format!("/dags/{}/dagRuns", segment(dag_id)),
            Some(&body),
        )
        .await
    }

    /// Pauses or unpauses a DAG.
    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<Dag, ApiError> {
        let body = serde_json::json!({ "is_paused": paused });
        self.json(
            Method::PATCH,
            &format!("/dags/{}", segment(dag_id)),
            Some(&body),
        )
        .await
    }

    /// Clears a task instance (and its downstream tasks) so it runs again.
    pub async fn clear(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        downstream: bool,
    ) -> Result<Vec<ClearedInstance>, ApiError> {
        let body = serde_json::json!({
            "dry_run": false,
            "dag_run_id": run_id,
            "task_ids": [task_id],
            "include_downstream": downstream,
        });
        let r: ClearResponse = self
            .json(
                Method::POST,
                &format!("/dags/{}/clearTaskInstances", segment(dag_id)),
                Some(&body),
            )
            .await?;
        Ok(r.task_instances)
    }

    /// Opens the event stream.
    pub async fn events(&self) -> Result<EventStream, ApiError> {
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.send(Method::GET, "/events", None))
            .await
            .map_err(|_| ApiError::Unreachable("no answer".to_owned()))??;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let detail = serde_json::from_slice::<Problem>(&bytes)
                .map_or_else(|_| status.to_string(), |p| p.detail);
            return Err(ApiError::Status {
                status: status.as_u16(),
                detail,
            });
        }
        Ok(EventStream {
            body: resp.into_body(),
            buf: Vec::new(),
        })
    }
}

/// The API's server-sent events.
#[derive(Debug)]
pub struct EventStream {
    body: Incoming,
    buf: Vec<u8>,
}

impl EventStream {
    /// The next event; None when the scheduler ended the stream. Events this UI cannot
    /// read are skipped.
    pub async fn next(&mut self) -> Result<Option<ApiEvent>, ApiError> {
        loop {
            while let Some(block) = take_block(&mut self.buf) {
                if let Some(data) = block_data(&block) {
                    match serde_json::from_str::<ApiEvent>(&data) {
                        Ok(ev) => return Ok(Some(ev)),
                        Err(e) => tracing::debug!(error = %e, "skipped an event: {data}"),
                    }
                }
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(ApiError::Unreachable(chain(&e))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend(data.iter().filter(|b| **b != b'\r'));
                    }
                }
            }
        }
    }
}

/// The next complete SSE block (up to a blank line), if one has arrived.
fn take_block(buf: &mut Vec<u8>) -> Option<String> {
    let end = buf.windows(2).position(|w| w == b"\n\n")?;
    let block: Vec<u8> = buf.drain(..end + 2).collect();
    Some(String::from_utf8_lossy(&block[..end]).into_owned())
}

/// An SSE block's data lines joined; None for comments (keep-alives).
fn block_data(block: &str) -> Option<String> {
    let data: Vec<&str> = block
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|v| v.strip_prefix(' ').unwrap_or(v))
        .collect();
    (!data.is_empty()).then(|| data.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_from_sse_blocks() {
        let mut buf = b": connected\n\nevent: dag_run\ndata: {\"type\":\"dag_run\",\"dag_id\":\"d\",\"run_id\":\"r\",\"state\":\"running\"}\n\nevent: x\ndata: {\"ty".to_vec();
        assert_eq!(take_block(&mut buf).as_deref(), Some(": connected"));
        let block = take_block(&mut buf).expect("a block");
        let ev: ApiEvent =
            serde_json::from_str(&block_data(&block).expect("data")).expect("an event");
        assert_eq!(
            ev,
            ApiEvent::DagRun {
                dag_id: "d".to_owned(),
                run_id: "r".to_owned(),
                state: RunState::Running
            }
        );
        assert_eq!(take_block(&mut buf), None, "half a block waits for more");
        assert_eq!(block_data(": keep-alive"), None);
    }

    #[test]
    fn unknown_states_and_fields_do_not_break_answers() {
        let ti: TaskInstance = serde_json::from_str(
            r#"{"task_id":"t","state":"deferred","try_number":1,"new_field":[1]}"#,
        )
        .expect("reads");
        assert_eq!(ti.state(), TaskState::Unknown);
        let ti: TaskInstance =
            serde_json::from_str(r#"{"task_id":"t","state":null}"#).expect("reads");
        assert_eq!(ti.state(), TaskState::None);
        assert_eq!(
            segment("manual__2026-11-27T10:00:00+00:00"),
            "manual__2026-11-27T10%3A00%3A00%2B00%3A00"
        );
    }
}
