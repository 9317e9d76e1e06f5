//! The one client of a running scheduler's local API, for the CLI's commands that change
//! or read state while the scheduler holds the store, and for the terminal UI.
//!
//! Plain HTTP/1.1 to 127.0.0.1 over hyper-util's pooled client: the server side already
//! brings hyper, so this adds no TLS stack and almost no crates (reqwest would bring
//! `url` and its IDNA tables for nothing on a loopback-only connection). Every answer
//! is bounded by [`crate::REQUEST_TIMEOUT`]; the event stream by
//! [`crate::STREAM_SILENCE`] of silence.

use std::path::Path;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, StatusCode, header};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::discovery::{DiscoveryError, SchedulerInfo, read_token, token_path};
use crate::sse::EventStream;
use crate::types::{
    BackfillBody, BackfillResponse, CallCollection, CallInfo, ClearBody, ClearResponse,
    DagCollection, DagInfo, DagPatch, DagRun, DagRunCollection, DbCleanBody, DbCleanResponse,
    Health, ImportErrorCollection, Problem, TaskCollection, TaskInfo, TaskInstance,
    TaskInstanceCollection, TriggerBody, Triggered, XComCollection, XComCollectionItem, XComEntry,
};
use crate::{CONNECT_TIMEOUT, LOG_OFFSET_HEADER, MAX_LIMIT, REQUEST_TIMEOUT};

/// Why a call to the API failed. Plain data (clone, compare), so a UI can keep it in
/// its messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The home's files do not lead to a scheduler.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// No client yet: no scheduler has been found.
    #[error("not connected to a scheduler")]
    NotConnected,
    /// No connection, or no answer in time.
    #[error("cannot reach the scheduler's API at {url}: {message}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why.
        message: String,
    },
    /// The API answered with an error (its problem JSON's detail).
    #[error("{detail}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
    /// The answer was not what the API sends.
    #[error("the scheduler's API at {url} answered something unexpected: {message}")]
    Protocol {
        /// What was asked.
        url: String,
        /// What was wrong.
        message: String,
    },
}

impl ClientError {
    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the API said "not found".
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// An answer that may be "not found" as None.
pub fn found<T>(answer: Result<T, ClientError>) -> Result<Option<T>, ClientError> {
    match answer {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

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

/// An error with its sources, `a: b: c`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A whole answer: its headers and body.
pub(crate) struct Answer {
    headers: hyper::HeaderMap,
    body: Bytes,
}

/// A client of one scheduler's API. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    base: String,
    port: u16,
    token: String,
    info: Option<SchedulerInfo>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the API on `127.0.0.1:port`.
    pub fn new(port: u16, token: String) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new()).build(connector);
        Client {
            http,
            base: format!("http://127.0.0.1:{port}/api/v1"),
            port,
            token,
            info: None,
        }
    }

    /// The client of the scheduler `$home/scheduler.json` describes, with the token of
    /// `$home/api-token` (which must be private to its owner, as the scheduler makes
    /// it); None when no scheduler file exists. Reads files: call it off an async loop.
    pub fn discover(home: &Path) -> Result<Option<Client>, DiscoveryError> {
        let Some(info) = SchedulerInfo::read(home)? else {
            return Ok(None);
        };
        let token_path = token_path(home);
        let token = read_token(&token_path)?.ok_or_else(|| DiscoveryError::NoToken {
            pid: info.pid,
            info: SchedulerInfo::path(home),
            token: token_path.clone(),
        })?;
        let mut client = Client::new(info.port, token);
        client.info = Some(info);
        Ok(Some(client))
    }

    /// [`Client::discover`], with no scheduler file an error.
    pub fn connect(home: &Path) -> Result<Client, DiscoveryError> {
        Client::discover(home)?.ok_or_else(|| DiscoveryError::NoScheduler {
            home: home.to_owned(),
        })
    }

    /// What `scheduler.json` said, for a client made by [`Client::discover`].
    pub fn info(&self) -> Option<&SchedulerInfo> {
        self.info.as_ref()
    }

    /// The API's base URL (`http://127.0.0.1:PORT/api/v1`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The API's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let url = self.url(path);
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let req = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Protocol {
                url: url.clone(),
                message: e.to_string(),
            })?;
        self.http
            .request(req)
            .await
            .map_err(|e| ClientError::Unreachable {
                url,
                message: error_chain(&e),
            })
    }

    /// Sends a request and reads the whole answer; error statuses become
    /// [`ClientError::Status`].
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        let url = self.url(path);
        let fut = async {
            let resp = self.send(method, path, body).await?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| ClientError::Unreachable {
                    url: url.clone(),
                    message: error_chain(&e),
                })?
                .to_bytes();
            Ok::<_, ClientError>((parts, body))
        };
        let (parts, body) = tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| ClientError::Unreachable {
                url: url.clone(),
                message: format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
            })??;
        if parts.status.is_success() {
            return Ok(Answer {
                headers: parts.headers,
                body,
            });
        }
        Err(status_error(parts.status, &body))
    }

    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let protocol = |e: serde_json::Error| ClientError::Protocol {
            url: self.url(path),
            message: e.to_string(),
        };
        let body = body.map(serde_json::to_vec).transpose().map_err(protocol)?;
        let answer = self.call(method, path, body).await?;
        serde_json::from_slice(&answer.body).map_err(protocol)
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, None::<&()>).await
    }

    /// Every item of a paged list: asks `path` (with its own query, or none) page by
    /// page of [`MAX_LIMIT`] until `total_entries` or `max` items are read. Returns the
    /// items and `total_entries`.
    pub(crate) async fn pages<P: DeserializeOwned, T>(
        &self,
        path: &str,
        max: usize,
        split: impl Fn(P) -> (Vec<T>, usize),
    ) -> Result<(Vec<T>, usize), ClientError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        loop {
            let page: P = self
                .get(&format!(
                    "{path}{sep}limit={MAX_LIMIT}&offset={}",
                    out.len()
                ))
                .await?;
            let (items, total) = split(page);
            let n = items.len();
            out.extend(items);
            if n == 0 || out.len() >= total || out.len() >= max {
                return Ok((out, total));
            }
        }
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/health").await
    }

    /// Every DAG the scheduler serves (all pages).
    pub async fn dags(&self) -> Result<Vec<DagInfo>, ClientError> {
        self.pages("/dags", usize::MAX, |c: DagCollection| {
            (c.dags, c.total_entries)
        })
        .await
        .map(|(dags, _)| dags)
    }

    /// Every DAG, each with its `recent` latest runs (1 to [`crate::MAX_RECENT_RUNS`]).
    pub async fn dags_with_recent_runs(&self, recent: usize) -> Result<Vec<DagInfo>, ClientError> {
        self.pages(
            &format!("/dags?recent_runs={recent}"),
            usize::MAX,
            |c: DagCollection| (c.dags, c.total_entries),
        )
        .await
        .map(|(dags, _)| dags)
    }

    /// Pauses or unpauses a DAG; the answer has `was_paused`.
    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<DagInfo, ClientError> {
        self.json(
            Method::PATCH,
            &format!("/dags/{}", segment(dag_id)),
            Some(&DagPatch { is_paused: paused }),
        )
        .await
    }

    /// A DAG's tasks, in file order.
    pub async fn tasks(&self, dag_id: &str) -> Result<Vec<TaskInfo>, ClientError> {
        let c: TaskCollection = self
            .get(&format!("/dags/{}/tasks", segment(dag_id)))
            .await?;
        Ok(c.tasks)
    }

    /// Creates a queued manual run.
    pub async fn trigger(
        &self,
        dag_id: &str,
        body: &TriggerBody,
    ) -> Result<Triggered, ClientError> {
        let path = format!("/dags/{}/dagRuns", segment(dag_id));
        let protocol = |e: serde_json::Error| ClientError::Protocol {
            url: self.url(&path),
            message: e.to_string(),
        };
        let body = serde_json::to_vec(body).map_err(protocol)?;
        let answer = self.call(Method::POST, &path, Some(body)).await?;
        let warning = answer
            .headers
            .get(header::WARNING)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::warning_text)
            .map(str::to_owned);
        Ok(Triggered {
            run: serde_json::from_slice(&answer.body).map_err(protocol)?,
            warning,
        })
    }

    /// Every run of a DAG (all pages), newest first.
    pub async fn runs(&self, dag_id: &str) -> Result<Vec<DagRun>, ClientError> {
        self.pages(
            &format!("/dags/{}/dagRuns?order_by=-id", segment(dag_id)),
            usize::MAX,
            |c: DagRunCollection| (c.dag_runs, c.total_entries),
        )
        .await
        .map(|(runs, _)| runs)
    }

    /// A DAG's latest `limit` runs (at most [`MAX_LIMIT`]), newest first.
    pub async fn latest_runs(
        &self,
        dag_id: &str,
        limit: usize,
    ) -> Result<Vec<DagRun>, ClientError> {
        let c: DagRunCollection = self
            .get(&format!(
                "/dags/{}/dagRuns?order_by=-id&limit={limit}",
                segment(dag_id)
            ))
            .await?;
        Ok(c.dag_runs)
    }

    /// One run; None if the DAG has no such run.
    pub async fn run(&self, dag_id: &str, run_id: &str) -> Result<Option<DagRun>, ClientError> {
        found(
            self.get(&format!(
                "/dags/{}/dagRuns/{}",
                segment(dag_id),
                segment(run_id)
            ))
            .await,
        )
    }

    /// The task instances of a run (all pages), by task id.
    pub async fn task_instances(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<TaskInstance>, ClientError> {
        self.pages(
            &format!(
                "/dags/{}/dagRuns/{}/taskInstances",
                segment(dag_id),
                segment(run_id)
            ),
            usize::MAX,
            |c: TaskInstanceCollection| (c.task_instances, c.total_entries),
        )
        .await
        .map(|(tis, _)| tis)
    }

    /// One task instance with its return value; 404 ([`ClientError::is_not_found`])
    /// if it does not exist (yet): [`found`] makes that a None.
    pub async fn task_instance(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<TaskInstance, ClientError> {
        self.get(&format!(
            "/dags/{}/dagRuns/{}/taskInstances/{}",
            segment(dag_id),
            segment(run_id),
            segment(task_id)
        ))
        .await
    }

    /// One instance of a task at a map index (-1: the unmapped one, as
    /// [`Client::task_instance`]), with its return value.
    pub async fn task_instance_at(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i32,
    ) -> Result<TaskInstance, ClientError> {
        if map_index < 0 {
            return self.task_instance(dag_id, run_id, task_id).await;
        }
        self.get(&format!(
            "/dags/{}/dagRuns/{}/taskInstances/{}/{map_index}",
            segment(dag_id),
            segment(run_id),
            segment(task_id)
        ))
        .await
    }

    /// A task instance's XCom entries (all pages), by key, then map index.
    pub async fn xcom_entries(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<Vec<XComCollectionItem>, ClientError> {
        self.pages(
            &format!(
                "/dags/{}/dagRuns/{}/taskInstances/{}/xcomEntries",
                segment(dag_id),
                segment(run_id),
                segment(task_id)
            ),
            usize::MAX,
            |c: XComCollection| (c.xcom_entries, c.total_entries),
        )
        .await
        .map(|(entries, _)| entries)
    }

    /// One XCom entry with its value (`stringify=false`: the JSON value itself).
    pub async fn xcom_entry(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
        map_index: i32,
    ) -> Result<XComEntry, ClientError> {
        self.get(&format!(
            "/dags/{}/dagRuns/{}/taskInstances/{}/xcomEntries/{}?map_index={map_index}&stringify=false",
            segment(dag_id),
            segment(run_id),
            segment(task_id),
            segment(key)
        ))
        .await
    }

    /// The calls of a try's job, at most `max` of them (whole pages are read, so a few
    /// more may come), and how many there are.
    pub async fn calls(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
        max: usize,
    ) -> Result<(Vec<CallInfo>, usize), ClientError> {
        self.pages(
            &format!(
                "/dags/{}/dagRuns/{}/taskInstances/{}/calls?try_number={try_number}",
                segment(dag_id),
                segment(run_id),
                segment(task_id)
            ),
            max,
            |c: CallCollection| (c.calls, c.total_entries),
        )
        .await
    }

    /// A try's log from byte `offset`: the bytes (at most [`crate::LOG_CHUNK`]) and
    /// the offset to ask from next.
    pub async fn log(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
        offset: u64,
    ) -> Result<(Bytes, u64), ClientError> {
        self.log_at(dag_id, run_id, (task_id, -1), try_number, offset)
            .await
    }

    /// [`Client::log`] of a mapped instance (`map_index` -1: the unmapped one).
    pub async fn log_at(
        &self,
        dag_id: &str,
        run_id: &str,
        (task_id, map_index): (&str, i32),
        try_number: u32,
        offset: u64,
    ) -> Result<(Bytes, u64), ClientError> {
        let path = format!(
            "/dags/{}/dagRuns/{}/taskInstances/{}/logs/{try_number}?offset={offset}&map_index={map_index}",
            segment(dag_id),
            segment(run_id),
            segment(task_id)
        );
        let answer = self.call(Method::GET, &path, None).await?;
        let next = answer
            .headers
            .get(LOG_OFFSET_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| ClientError::Protocol {
                url: self.url(&path),
                message: format!("no {LOG_OFFSET_HEADER} header"),
            })?;
        Ok((answer.body, next))
    }

    /// Clears task instances (a dry run unless `body.dry_run` is `Some(false)`).
    pub async fn clear(
        &self,
        dag_id: &str,
        body: &ClearBody,
    ) -> Result<ClearResponse, ClientError> {
        self.json(
            Method::POST,
            &format!("/dags/{}/clearTaskInstances", segment(dag_id)),
            Some(body),
        )
        .await
    }

    /// `db clean`: removes old runs (a dry run unless `body.dry_run` is `Some(false)`).
    pub async fn db_clean(&self, body: &DbCleanBody) -> Result<DbCleanResponse, ClientError> {
        self.json(Method::POST, "/dbClean", Some(body)).await
    }

    /// Creates (or plans) a backfill.
    pub async fn backfill(&self, body: &BackfillBody) -> Result<BackfillResponse, ClientError> {
        self.json(Method::POST, "/backfills", Some(body)).await
    }

    /// The DAG files that fail to load.
    pub async fn import_errors(&self) -> Result<ImportErrorCollection, ClientError> {
        self.get(&format!("/importErrors?limit={MAX_LIMIT}")).await
    }

    /// Opens the event stream (`query` without `?`, e.g. `dag_id=x`, or empty).
    pub async fn events(&self, query: &str) -> Result<EventStream, ClientError> {
        let path = if query.is_empty() {
            "/events".to_owned()
        } else {
            format!("/events?{query}")
        };
        let url = self.url(&path);
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.send(Method::GET, &path, None))
            .await
            .map_err(|_| ClientError::Unreachable {
                url: url.clone(),
                message: format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
            })??;
        let status = resp.status();
        if !status.is_success() {
            let body = tokio::time::timeout(REQUEST_TIMEOUT, resp.into_body().collect())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(status_error(status, &body));
        }
        Ok(EventStream::new(resp.into_body(), url))
    }
}

/// An error answer as [`ClientError::Status`]: its problem JSON's detail, else the
/// status and the body's text.
fn status_error(status: StatusCode, body: &[u8]) -> ClientError {
    let detail = serde_json::from_slice::<Problem>(body)
        .ok()
        .filter(|p| !p.detail.is_empty())
        .map_or_else(
            || format!("{status} {}", String::from_utf8_lossy(body).trim()),
            |p| p.detail,
        );
    ClientError::Status {
        status: status.as_u16(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(
            segment("manual__2026-11-27T10:00:00+00:00"),
            "manual__2026-11-27T10%3A00%3A00%2B00%3A00"
        );
        assert_eq!(segment("../x"), "..%2Fx");
    }

    #[test]
    fn error_answers_say_what_the_problem_says() {
        let e = status_error(
            StatusCode::CONFLICT,
            br#"{"type":"about:blank","title":"Conflict","status":409,"detail":"DAG `d` already has a run `r`"}"#,
        );
        assert_eq!(
            e,
            ClientError::Status {
                status: 409,
                detail: "DAG `d` already has a run `r`".to_owned()
            }
        );
        let e = status_error(StatusCode::BAD_GATEWAY, b"upstream gone\n");
        assert_eq!(e.to_string(), "502 Bad Gateway upstream gone");
        assert!(!e.is_not_found());
        assert_eq!(
            found(Err::<(), _>(status_error(StatusCode::NOT_FOUND, b""))),
            Ok(None)
        );
        assert_eq!(e.status(), Some(502));
    }

    #[test]
    fn discovery_finds_the_port_and_the_token_or_says_why_not() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path();
        assert!(matches!(Client::discover(home), Ok(None)));
        assert_eq!(
            Client::connect(home).expect_err("none").to_string(),
            format!(
                "no scheduler is running for {} (no scheduler.json); start one with `lithoflow scheduler`",
                home.display()
            )
        );
        std::fs::write(
            SchedulerInfo::path(home),
            r#"{"pid":7,"port":8793,"started_at":"2026-11-27T10:00:00Z","dags_folder":"/d"}"#,
        )
        .expect("write");
        let err = Client::discover(home).expect_err("no token");
        assert!(
            err.to_string()
                .starts_with("a scheduler (pid 7) is described in"),
            "{err}"
        );
        std::fs::write(token_path(home), "0123456789abcdef0123456789abcdef\n").expect("write");
        std::fs::set_permissions(token_path(home), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let client = Client::connect(home).expect("found");
        assert_eq!(client.port(), 8793);
        assert_eq!(client.base(), "http://127.0.0.1:8793/api/v1");
        assert_eq!(client.info().map(|i| i.pid), Some(7));
        assert!(
            !format!("{client:?}").contains("0123456789abcdef"),
            "the token stays out of logs"
        );
    }
}
