//! A client of a running scheduler's local API (`docs/api.md`), for CLI commands that
//! change or read state while the scheduler holds the store.
//!
//! Plain HTTP/1.1 to 127.0.0.1 over hyper-util's pooled client: the server side already
//! brings hyper, so this adds no TLS stack and almost no crates (reqwest would bring
//! `url` and its IDNA tables for nothing on a loopback-only connection).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, StatusCode, header};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::types::{
    BackfillBody, BackfillResponse, ClearBody, ClearResponse, DagCollection, DagInfo, DagPatch,
    DagRun, DagRunCollection, Health, ImportErrorCollection, Problem, TaskInstance,
    TaskInstanceCollection, TriggerBody,
};
use crate::control::SchedulerInfo;

/// How long one request may take (the event stream has no limit).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a call to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
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
    Api {
        /// The HTTP status.
        status: u16,
        /// The status's name.
        title: String,
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
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the API said "not found".
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// An answer: status, headers and body.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: hyper::HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// A client of one scheduler's API.
#[derive(Clone)]
pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    base: String,
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

impl Client {
    /// A client of the API on `127.0.0.1:port`.
    pub fn new(port: u16, token: String) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new()).build(connector);
        Client {
            http,
            base: format!("http://127.0.0.1:{port}/api/v1"),
            token,
            info: None,
        }
    }

    /// The client of the scheduler `$home/scheduler.json` describes, with the token of
    /// `$home/api-token`; None when no scheduler file exists.
    pub fn discover(home: &Path) -> anyhow::Result<Option<Client>> {
        let path = SchedulerInfo::path(home);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
        };
        let info: SchedulerInfo = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a scheduler description", path.display()))?;
        let token_path = crate::api::token_path(home);
        let token = crate::api::read_token(&token_path)?.with_context(|| {
            format!(
                "a scheduler (pid {}) is described in {} but there is no API token at {}",
                info.pid,
                path.display(),
                token_path.display()
            )
        })?;
        let mut client = Client::new(info.port, token);
        client.info = Some(info);
        Ok(Some(client))
    }

    /// What `scheduler.json` said, for a client made by [`Client::discover`].
    pub fn info(&self) -> Option<&SchedulerInfo> {
        self.info.as_ref()
    }

    /// The API's base URL (`http://127.0.0.1:PORT/api/v1`).
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Request<Full<Bytes>>, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Protocol {
                url,
                message: e.to_string(),
            })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let url = format!("{}{path}", self.base);
        let req = self.request(method, path, body)?;
        self.http
            .request(req)
            .await
            .map_err(|e| ClientError::Unreachable {
                url,
                message: error_chain(&e),
            })
    }

    /// Sends a request and reads the whole answer; error statuses become
    /// [`ClientError::Api`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
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
            Ok::<_, ClientError>(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| ClientError::Unreachable {
                url: url.clone(),
                message: format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
            })??;
        if answer.status.is_success() {
            return Ok(answer);
        }
        Err(match serde_json::from_slice::<Problem>(&answer.body) {
            Ok(p) => ClientError::Api {
                status: answer.status.as_u16(),
                title: p.title,
                detail: p.detail,
            },
            Err(_) => ClientError::Api {
                status: answer.status.as_u16(),
                title: answer
                    .status
                    .canonical_reason()
                    .unwrap_or("Error")
                    .to_owned(),
                detail: format!(
                    "{} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body).trim()
                ),
            },
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Protocol {
                url: format!("{}{path}", self.base),
                message: e.to_string(),
            })?;
        let answer = self.call(method, path, body).await?;
        serde_json::from_slice(&answer.body).map_err(|e| ClientError::Protocol {
            url: format!("{}{path}", self.base),
            message: e.to_string(),
        })
    }

    /// `GET` a JSON document.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, None::<&()>).await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/health").await
    }

    /// Every DAG the scheduler serves (all pages).
    pub async fn dags(&self) -> Result<Vec<DagInfo>, ClientError> {
        let mut out = Vec::new();
        loop {
            let page: DagCollection = self
                .get(&format!(
                    "/dags?limit={}&offset={}",
                    crate::api::MAX_LIMIT,
                    out.len()
                ))
                .await?;
            let n = page.dags.len();
            out.extend(page.dags);
            if n == 0 || out.len() >= page.total_entries {
                return Ok(out);
            }
        }
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

    /// Creates a queued manual run.
    pub async fn trigger(&self, dag_id: &str, body: &TriggerBody) -> Result<DagRun, ClientError> {
        self.json(
            Method::POST,
            &format!("/dags/{}/dagRuns", segment(dag_id)),
            Some(body),
        )
        .await
    }

    /// Every run of a DAG (all pages), newest first.
    pub async fn runs(&self, dag_id: &str) -> Result<Vec<DagRun>, ClientError> {
        let mut out = Vec::new();
        loop {
            let page: DagRunCollection = self
                .get(&format!(
                    "/dags/{}/dagRuns?limit={}&offset={}",
                    segment(dag_id),
                    crate::api::MAX_LIMIT,
                    out.len()
                ))
                .await?;
            let n = page.dag_runs.len();
            out.extend(page.dag_runs);
            if n == 0 || out.len() >= page.total_entries {
                return Ok(out);
            }
        }
    }

    /// One run; None if the DAG has no such run.
    pub async fn run(&self, dag_id: &str, run_id: &str) -> Result<Option<DagRun>, ClientError> {
        match self
            .get(&format!(
                "/dags/{}/dagRuns/{}",
                segment(dag_id),
                segment(run_id)
            ))
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The task instances of a run (all pages), by task id.
    pub async fn task_instances(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<TaskInstance>, ClientError> {
        let mut out = Vec::new();
        loop {
            let page: TaskInstanceCollection = self
                .get(&format!(
                    "/dags/{}/dagRuns/{}/taskInstances?limit={}&offset={}",
                    segment(dag_id),
                    segment(run_id),
                    crate::api::MAX_LIMIT,
                    out.len()
                ))
                .await?;
            let n = page.task_instances.len();
            out.extend(page.task_instances);
            if n == 0 || out.len() >= page.total_entries {
                return Ok(out);
            }
        }
    }

    /// One task instance with its return value; None if it does not exist (yet).
    pub async fn task_instance(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<Option<TaskInstance>, ClientError> {
        match self
            .get(&format!(
                "/dags/{}/dagRuns/{}/taskInstances/{}",
                segment(dag_id),
                segment(run_id),
                segment(task_id)
            ))
            .await
        {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A try's log from byte `offset`: the bytes (at most 4 MiB) and the offset after them.
    pub async fn log(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
        offset: u64,
    ) -> Result<(Bytes, u64), ClientError> {
        let path = format!(
            "/dags/{}/dagRuns/{}/taskInstances/{}/logs/{try_number}?offset={offset}",
            segment(dag_id),
            segment(run_id),
            segment(task_id)
        );
        let answer = self.call(Method::GET, &path, None).await?;
        let next = answer
            .headers
            .get(crate::api::LOG_OFFSET_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| ClientError::Protocol {
                url: format!("{}{path}", self.base),
                message: format!("no {} header", crate::api::LOG_OFFSET_HEADER),
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

    /// Creates (or plans) a backfill.
    pub async fn backfill(&self, body: &BackfillBody) -> Result<BackfillResponse, ClientError> {
        self.json(Method::POST, "/backfills", Some(body)).await
    }

    /// The DAG files that fail to load.
    pub async fn import_errors(&self) -> Result<ImportErrorCollection, ClientError> {
        self.get(&format!("/importErrors?limit={}", crate::api::MAX_LIMIT))
            .await
    }

    /// Opens the event stream (`query` without `?`, e.g. `dag_id=x`, or empty).
    pub async fn events(&self, query: &str) -> Result<EventStream, ClientError> {
        let path = if query.is_empty() {
            "/events".to_owned()
        } else {
            format!("/events?{query}")
        };
        let url = format!("{}{path}", self.base);
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.send(Method::GET, &path, None))
            .await
            .map_err(|_| ClientError::Unreachable {
                url: url.clone(),
                message: "no answer".to_owned(),
            })??;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let detail = serde_json::from_slice::<Problem>(&body)
                .map_or_else(|_| status.to_string(), |p| p.detail);
            return Err(ClientError::Api {
                status: status.as_u16(),
                title: status.canonical_reason().unwrap_or("Error").to_owned(),
                detail,
            });
        }
        Ok(EventStream {
            body: resp.into_body(),
            buf: Vec::new(),
            url,
        })
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    /// Its `event:` name (`dag_run`, `task_instance`, `lagged`, ...).
    pub event: String,
    /// Its `data:` (JSON).
    pub data: String,
}

impl SseMessage {
    /// The data as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or(serde_json::Value::Null)
    }
}

/// The API's event stream.
#[derive(Debug)]
pub struct EventStream {
    body: Incoming,
    buf: Vec<u8>,
    url: String,
}

impl EventStream {
    /// The next event; None when the scheduler ended the stream.
    pub async fn next(&mut self) -> Result<Option<SseMessage>, ClientError> {
        loop {
            while let Some(block) = self.take_block() {
                if let Some(msg) = parse_block(&block) {
                    return Ok(Some(msg));
                }
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(ClientError::Unreachable {
                        url: self.url.clone(),
                        message: error_chain(&e),
                    });
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend(data.iter().filter(|b| **b != b'\r'));
                    }
                }
            }
        }
    }

    /// The next complete block (up to a blank line), if one has arrived.
    fn take_block(&mut self) -> Option<String> {
        let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
        let block: Vec<u8> = self.buf.drain(..end + 2).collect();
        Some(String::from_utf8_lossy(&block[..end]).into_owned())
    }
}

/// An SSE block as a message; None for comments (keep-alives).
fn parse_block(block: &str) -> Option<SseMessage> {
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if event.is_none() && data.is_empty() {
        return None;
    }
    Some(SseMessage {
        event: event.unwrap_or_else(|| "message".to_owned()),
        data: data.join("\n"),
    })
}

/// An error with its sources, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded_and_sse_blocks_parse() {
        assert_eq!(
            segment("manual__2026-11-27T10:00:00+00:00"),
            "manual__2026-11-27T10%3A00%3A00%2B00%3A00"
        );
        assert_eq!(segment("../x"), "..%2Fx");
        assert_eq!(parse_block(": keep-alive"), None);
        assert_eq!(
            parse_block("event: dag_run\ndata: {\"a\":1}"),
            Some(SseMessage {
                event: "dag_run".to_owned(),
                data: "{\"a\":1}".to_owned()
            })
        );
    }
}
