//! Task instances of a run: `GET .../taskInstances`, one instance with its return value,
//! its XCom entries and the log of each try. (Their job's calls: [`super::calls`].)

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::extract::{ApiError, ApiResult, Body, Ids, Params, paged};
use super::lookup::{known_dag, read, run_of, ti_at, ti_of};
use super::progress::ProgressBook;
use super::ti_list;
use super::ti_view::DagFacts;
use crate::control::Shared;
use lithoflow_api::{LOG_CHUNK, LOG_OFFSET_HEADER, TaskInstance, TaskInstanceCollection};

/// `GET .../dagRuns/{dag_run_id}/taskInstances` (`~` for every DAG or run), with
/// Airflow 2.10's filters (`ti_list::V1_LIST_PARAMS`); by run, then task id, then map
/// index unless `order_by` says otherwise.
pub(super) async fn list_task_instances(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> ApiResult<Json<TaskInstanceCollection>> {
    let params = Params::parse(&uri, ti_list::V1_LIST_PARAMS)?;
    let page = params.page()?;
    let order = params
        .last("order_by")
        .map(|_| params.order_by(ti_list::ORDER_FIELDS, "map_index"))
        .transpose()?;
    let mut filter = ti_list::v1_filter(&params)?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        if dag_id != "~" {
            known_dag(&sh, store, &dag_id)?;
            filter.dag_ids = Some(vec![dag_id.clone()]);
            if run_id != "~" {
                run_of(store, &dag_id, &run_id)?;
            }
        }
        if run_id != "~" {
            filter.run_ids = Some(vec![run_id]);
        }
        let rows = ti_list::select(&sh, store, &filter)?;
        Ok(collection(rows, order.as_ref(), page, &book))
    })
    .await
    .map(Json)
}

/// `POST /dags/~/dagRuns/~/taskInstances/list`: Airflow 2.10's batch listing, its
/// filters in the body (`ListTaskInstanceForm`; `page_offset`, `page_limit`).
pub(super) async fn list_task_instances_batch(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    uri: Uri,
    Body(form): Body<TiBatchForm>,
) -> ApiResult<Json<TaskInstanceCollection>> {
    Params::parse(&uri, &[])?;
    let page_limit = form.page_limit.unwrap_or(100);
    if page_limit < 1 {
        return Err(ApiError::bad_request(
            "{'page_limit': ['Must be greater than or equal to 1.']}",
        ));
    }
    let page = (
        usize::try_from(page_limit).unwrap_or(lithoflow_api::MAX_LIMIT),
        usize::try_from(form.page_offset.unwrap_or(0)).map_err(|_| {
            ApiError::bad_request("{'page_offset': ['Must be greater than or equal to 0.']}")
        })?,
    );
    let filter = form.filter()?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let rows = ti_list::select(&sh, store, &filter)?;
        Ok(collection(rows, None, page, &book))
    })
    .await
    .map(Json)
}

/// Airflow 2.10's `ListTaskInstanceForm`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TiBatchForm {
    #[serde(default)]
    page_offset: Option<i64>,
    #[serde(default)]
    page_limit: Option<i64>,
    #[serde(default)]
    dag_ids: Option<Vec<String>>,
    #[serde(default)]
    dag_run_ids: Option<Vec<String>>,
    #[serde(default)]
    task_ids: Option<Vec<String>>,
    #[serde(default)]
    execution_date_gte: Option<String>,
    #[serde(default)]
    execution_date_lte: Option<String>,
    #[serde(default)]
    start_date_gte: Option<String>,
    #[serde(default)]
    start_date_lte: Option<String>,
    #[serde(default)]
    end_date_gte: Option<String>,
    #[serde(default)]
    end_date_lte: Option<String>,
    #[serde(default)]
    duration_gte: Option<f64>,
    #[serde(default)]
    duration_lte: Option<f64>,
    #[serde(default)]
    state: Option<Vec<Option<String>>>,
    #[serde(default)]
    pool: Option<Vec<String>>,
    #[serde(default)]
    queue: Option<Vec<String>>,
    #[serde(default)]
    executor: Option<Vec<String>>,
}

impl TiBatchForm {
    fn filter(self) -> ApiResult<ti_list::TiFilter> {
        let date = |name: &str,
                    v: &Option<String>|
         -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
            v.as_deref()
                .map(|v| {
                    ti_list::parse_date(v).ok_or_else(|| {
                        ApiError::bad_request(format!("{{'{name}': ['Not a valid datetime.']}}"))
                    })
                })
                .transpose()
        };
        let range = |gte: Option<_>, lte: Option<_>| ti_list::Range {
            gte,
            lte,
            ..ti_list::Range::default()
        };
        Ok(ti_list::TiFilter {
            // Airflow filters by an empty list as "none of them"; so does this.
            dag_ids: self.dag_ids,
            run_ids: self.dag_run_ids,
            task_ids: self.task_ids,
            logical_date: range(
                date("execution_date_gte", &self.execution_date_gte)?,
                date("execution_date_lte", &self.execution_date_lte)?,
            ),
            start_date: range(
                date("start_date_gte", &self.start_date_gte)?,
                date("start_date_lte", &self.start_date_lte)?,
            ),
            end_date: range(
                date("end_date_gte", &self.end_date_gte)?,
                date("end_date_lte", &self.end_date_lte)?,
            ),
            duration: ti_list::Range {
                gte: self.duration_gte,
                lte: self.duration_lte,
                ..ti_list::Range::default()
            },
            states: self.state.map(|l| {
                l.into_iter()
                    .map(|s| s.unwrap_or_else(|| "none".to_owned()))
                    .collect()
            }),
            pools: self.pool,
            queues: self.queue,
            executors: self.executor,
            ..ti_list::TiFilter::default()
        })
    }
}

/// The page of `rows` (sorted by `order` first, if any), as the API answers a list of
/// task instances, with the live progress of running ones.
pub(super) fn collection(
    mut rows: Vec<ti_list::Row>,
    order: Option<&super::extract::OrderBy>,
    page: (usize, usize),
    book: &ProgressBook,
) -> TaskInstanceCollection {
    if let Some(order) = order {
        ti_list::sort(&mut rows, order);
    }
    let total_entries = rows.len();
    let task_instances = paged(rows, page)
        .into_iter()
        .map(|r| {
            let mut out = r.body;
            out.progress = book.live(&r.run, &r.ti);
            out
        })
        .collect();
    TaskInstanceCollection {
        task_instances,
        total_entries,
    }
}

/// `GET .../taskInstances/{task_id}`, with its XCom `return_value`.
pub(super) async fn get_task_instance(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> ApiResult<Json<TaskInstance>> {
    Params::parse(&uri, &[])?;
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        let facts = DagFacts::new(known_dag(&sh, store, &dag_id)?);
        let run = run_of(store, &dag_id, &run_id)?;
        // A mapped task's instances are asked for by map index, as in Airflow 2.10.
        if store.ti(&dag_id, &run_id, &task_id)?.is_none()
            && !store.task_tis(&dag_id, &run_id, &task_id)?.is_empty()
        {
            return Err(ApiError::bad_request(
                "Task instance is mapped, add the map_index value to the URL",
            ));
        }
        let ti = ti_of(store, &dag_id, &run_id, &task_id)?;
        let mut out = facts.body(&run, &ti);
        out.progress = book.live(&run, &ti);
        // Masked: a task may return a secret it was given.
        out.return_value = Some(crate::values::mask_value(
            store,
            &store
                .xcom(&dag_id, &run_id, &task_id, "return_value")?
                .unwrap_or(serde_json::Value::Null),
        ));
        Ok(out)
    })
    .await
    .map(Json)
}

/// A `map_index` query parameter: an integer, -1 for an unmapped entry.
pub(super) fn map_index_param(params: &Params) -> ApiResult<Option<i32>> {
    params
        .last("map_index")
        .map(|v| {
            v.parse::<i32>().map_err(|_| {
                ApiError::bad_request(format!("`map_index` must be an integer, found {v:?}"))
            })
        })
        .transpose()
}

/// `GET .../taskInstances/{task_id}/logs/{try_number}`: a try's log, while the try runs
/// too (the file grows as it prints). Two shapes:
///
/// - `?offset=N` (what lithoflow's CLI and TUI ask): at most [`LOG_CHUNK`] bytes from
///   `offset` as `text/plain`, and in [`LOG_OFFSET_HEADER`] where to go on;
/// - Airflow's (`Accept: application/json`, or `?token=`): `{"content": ...,
///   "continuation_token": ...}`, the token to pass as `?token=` for what follows
///   (Airflow 2.10's `get_log`). A token is this log's offset signed with the API's
///   secret; any other token is refused with 400, as Airflow refuses a bad signature.
///   `full_content=true` starts from the beginning; `map_index` picks a mapped
///   instance's log (default -1, the unmapped instance).
pub(super) async fn get_log(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, try_text]): Ids<4>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let params = Params::parse(&uri, &["offset", "token", "full_content", "map_index"])?;
    let try_number: u32 = try_text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`try_number` must be a positive integer, found {try_text:?}"
        ))
    })?;
    let map_index = map_index_param(&params)?.unwrap_or(crate::store::UNMAPPED);
    let airflow = params.last("offset").is_none()
        && (params.last("token").is_some() || prefers_json(&headers));
    let log_id = LogId {
        dag_id: dag_id.clone(),
        run_id: run_id.clone(),
        task_id: task_id.clone(),
        map_index,
        try_number,
    };
    let offset = if !airflow {
        params.number("offset")?.unwrap_or(0)
    } else if params.bool("full_content")? == Some(true) {
        0
    } else {
        match params.last("token") {
            Some(t) if !t.is_empty() => log_id.offset_of(&shared.token, t).ok_or_else(|| {
                ApiError::bad_request(
                    "Bad Signature. Please use only the tokens provided by the API.",
                )
            })?,
            _ => 0,
        }
    };
    let (bytes, next, _) = read_log_chunk(&shared, &log_id, offset).await?;
    if airflow {
        // Whole characters only: a character cut by the chunk's end comes with the next.
        let (text, next) = match std::str::from_utf8(&bytes) {
            Ok(t) => (t.to_owned(), next),
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                let text = String::from_utf8_lossy(&bytes[..valid]).into_owned();
                (text, next - (bytes.len() - valid) as u64)
            }
            Err(_) => (String::from_utf8_lossy(&bytes).into_owned(), next),
        };
        let body = serde_json::json!({
            "content": text,
            "continuation_token": log_id.token(&shared.token, next),
        });
        return Ok(Json(body).into_response());
    }
    let mut resp = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response();
    resp.headers_mut()
        .insert(LOG_OFFSET_HEADER, HeaderValue::from(next));
    Ok(resp)
}

/// A chunk of a try's log from `offset`: its bytes (at most [`LOG_CHUNK`]), the offset
/// after them, and whether that is the end of a try that is over (nothing more will
/// come).
pub(crate) async fn read_log_chunk(
    shared: &Arc<Shared>,
    id: &LogId,
    offset: u64,
) -> ApiResult<(Vec<u8>, u64, bool)> {
    let logs_dir = shared.settings.home.join("logs");
    let sh = Arc::clone(shared);
    let LogId {
        dag_id,
        run_id,
        task_id,
        map_index,
        try_number,
    } = id.clone();
    read(shared, move |store| {
        known_dag(&sh, store, &dag_id)?;
        run_of(store, &dag_id, &run_id)?;
        let ti = ti_at(store, &dag_id, &run_id, &task_id, map_index)?;
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
        let over = try_number < ti.try_number
            || ti.state.is_finished()
            || ti.state == crate::store::TaskState::UpForRetry;
        let path = crate::engine::Engine::log_path(
            &logs_dir, &dag_id, &run_id, &task_id, map_index, try_number,
        );
        let (bytes, next) = read_log(&path, offset).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ApiError::not_found(format!(
                "no log for try {try_number} of task `{task_id}` in run `{run_id}` yet"
            )),
            _ => ApiError::internal(format!("failed to read {}: {e}", path.display())),
        })?;
        let end = std::fs::metadata(&path).map_or(next, |m| m.len());
        Ok((bytes, next, over && next >= end))
    })
    .await
}

/// Whether `Accept` prefers `application/json` to `text/plain` (Airflow picks with
/// werkzeug's `best_match(["text/plain", "application/json"])`: a tie is text).
fn prefers_json(headers: &HeaderMap) -> bool {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let quality = |wanted: &str| -> f32 {
        let (kind, _) = wanted.split_once('/').unwrap_or((wanted, ""));
        let mut best: Option<(u8, f32)> = None;
        for item in accept.iter().flat_map(|a| a.split(',')) {
            let mut parts = item.split(';').map(str::trim);
            let range = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            // The most specific range that matches decides.
            let specificity = if range == wanted {
                2
            } else if range == format!("{kind}/*") {
                1
            } else if range == "*/*" {
                0
            } else {
                continue;
            };
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, q));
            }
        }
        best.map_or(0.0, |(_, q)| q)
    };
    let json = quality("application/json");
    json > 0.0 && json > quality("text/plain")
}

/// Which log a continuation token belongs to.
#[derive(Debug, Clone)]
pub(crate) struct LogId {
    pub(crate) dag_id: String,
    pub(crate) run_id: String,
    pub(crate) task_id: String,
    pub(crate) map_index: i32,
    pub(crate) try_number: u32,
}

impl LogId {
    /// The token for `offset` in this log: the offset and a MAC over it and the log's
    /// ids, keyed with the API's secret, so a token is good for this log only and
    /// cannot be altered.
    pub(crate) fn token(&self, secret: &str, offset: u64) -> String {
        format!("{offset}.{}", self.mac(secret, offset))
    }

    /// The offset a token of this log holds; `None` for anything this API did not issue.
    pub(crate) fn offset_of(&self, secret: &str, token: &str) -> Option<u64> {
        let (offset, mac) = token.split_once('.')?;
        // Digits only (`u64::from_str` would take a `+`), and no leading zeros, so each
        // offset has exactly one token.
        if offset.is_empty()
            || !offset.bytes().all(|b| b.is_ascii_digit())
            || (offset.len() > 1 && offset.starts_with('0'))
        {
            return None;
        }
        let offset: u64 = offset.parse().ok()?;
        (self.mac(secret, offset) == mac).then_some(offset)
    }

    fn mac(&self, secret: &str, offset: u64) -> String {
        // An unmapped instance's tokens are as before map indexes existed.
        let map = if self.map_index >= 0 {
            format!("\0{}", self.map_index)
        } else {
            String::new()
        };
        let message = format!(
            "lithoflow-log\0{}\0{}\0{}{map}\0{}\0{offset}",
            self.dag_id, self.run_id, self.task_id, self.try_number
        );
        hmac_sha1(secret.as_bytes(), message.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// HMAC-SHA1 (RFC 2104), what Airflow's `URLSafeSerializer` signs its tokens with.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    use sha1::{Digest, Sha1};
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha1::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha1::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        let hex = |b: [u8; 20]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex(hmac_sha1(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn a_token_is_good_for_its_log_and_offset_only() {
        let id = |try_number| LogId {
            map_index: -1,
            dag_id: "d".to_owned(),
            run_id: "r".to_owned(),
            task_id: "t".to_owned(),
            try_number,
        };
        let token = id(1).token("secret", 1234);
        assert_eq!(id(1).offset_of("secret", &token), Some(1234));
        assert_eq!(id(2).offset_of("secret", &token), None, "another try's");
        assert_eq!(id(1).offset_of("other", &token), None, "another secret's");
        let (_, mac) = token.split_once('.').expect("a dot");
        for bad in [
            format!("1235.{mac}"),
            format!("01234.{mac}"),
            format!("+1234.{mac}"),
            format!("1234.{}", &mac[1..]),
            "1234".to_owned(),
            String::new(),
            "garbage".to_owned(),
        ] {
            assert_eq!(id(1).offset_of("secret", &bad), None, "{bad}");
        }
    }

    #[test]
    fn json_is_chosen_only_when_accept_prefers_it() {
        let with = |accept: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(a) = accept {
                h.insert(header::ACCEPT, HeaderValue::from_str(a).expect("a header"));
            }
            prefers_json(&h)
        };
        assert!(with(Some("application/json")));
        assert!(with(Some("text/plain;q=0.5, application/json")));
        assert!(with(Some("application/*")));
        assert!(!with(None));
        assert!(!with(Some("*/*")));
        assert!(!with(Some("text/plain")));
        assert!(!with(Some("application/json, text/plain")));
        assert!(!with(Some("application/json;q=0, */*")));
    }
}
