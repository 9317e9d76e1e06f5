//! `/api/v2` task instances as Airflow 3.1 serves them
//! (`api_fastapi/core_api/routes/public/task_instances.py`,
//! `datamodels/task_instances.py`): `TaskInstanceResponse` bodies, the list with its
//! filters (`~` for the DAG and the run), the batch `POST .../taskInstances/list`, one
//! instance, mapped instances, and `POST /dags/{dag_id}/clearTaskInstances`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::common::{Query2, V2Error, V2Result};
use crate::api::clear::{ClearAsk, ClearError, clear};
use crate::api::extract::{Ids, OrderBy};
use crate::api::progress::ProgressBook;
use crate::api::ti_list::{self, Range, Row, TiFilter};
use crate::api::ti_view::DagFacts;
use crate::control::Shared;
use crate::store::{DagRunRecord, Store};
use lithoflow_api::{ClearTaskId, TaskInstance, iso_string};

/// The routes of this module.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    let ti = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances";
    let (patch_one, patch_mapped) = super::ti_write::patch_routes();
    axum::Router::new()
        .route(ti, get(list))
        .route(&format!("{ti}/list"), post(batch))
        .route(&format!("{ti}/{{task_id}}"), get(get_one).merge(patch_one))
        .route(&format!("{ti}/{{task_id}}/listMapped"), get(list_mapped))
        .route(
            &format!("{ti}/{{task_id}}/{{map_index}}"),
            get(get_mapped).merge(patch_mapped),
        )
        .route(&format!("{ti}/{{task_id}}/tries"), get(tries))
        .route(
            &format!("{ti}/{{task_id}}/{{map_index}}/tries"),
            get(mapped_tries),
        )
        .route(
            &format!("{ti}/{{task_id}}/tries/{{try_number}}"),
            get(one_try),
        )
        .route(
            &format!("{ti}/{{task_id}}/{{map_index}}/tries/{{try_number}}"),
            get(one_mapped_try),
        )
        .route(
            "/api/v2/dags/{dag_id}/clearTaskInstances",
            post(clear_task_instances),
        )
}

/// A stable id for a task instance (Airflow 3's `id` is a UUID): a name-based UUID
/// (version 5 layout) of its DAG, run, task and map index.
pub(crate) fn ti_id(dag_id: &str, run_id: &str, task_id: &str, map_index: i32) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::new()
        .chain_update(b"lithoflow-ti\0")
        .chain_update(dag_id.as_bytes())
        .chain_update(b"\0")
        .chain_update(run_id.as_bytes())
        .chain_update(b"\0")
        .chain_update(task_id.as_bytes())
        .chain_update(b"\0")
        .chain_update(map_index.to_string().as_bytes())
        .finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(iso_string(&t)))
}

/// Airflow 3.1's `TaskInstanceResponse` of a v1 body and its run.
pub(crate) fn response(t: &TaskInstance, run: &DagRunRecord) -> Value {
    json!({
        "id": ti_id(&t.dag_id, &t.dag_run_id, &t.task_id, t.map_index),
        "task_id": t.task_id,
        "dag_id": t.dag_id,
        "dag_run_id": t.dag_run_id,
        "map_index": t.map_index,
        "logical_date": time(run.logical_date),
        "run_after": iso_string(&run.run_after),
        "start_date": time(t.start_date),
        "end_date": time(t.end_date),
        "duration": t.duration,
        "state": t.state.map(|s| s.name()),
        "try_number": t.try_number,
        "max_tries": t.max_tries,
        "task_display_name": t.task_display_name,
        "dag_display_name": t.dag_id,
        "hostname": t.hostname,
        "unixname": t.unixname,
        "pool": t.pool,
        "pool_slots": t.pool_slots,
        "queue": t.queue,
        "priority_weight": t.priority_weight,
        "operator": t.operator,
        "operator_name": t.operator,
        "queued_when": time(t.queued_when),
        "scheduled_when": Value::Null,
        "pid": Value::Null,
        "executor": Value::Null,
        "executor_config": "{}",
        "note": t.note,
        "rendered_map_index": t.rendered_map_index,
        "rendered_fields": {},
        "trigger": Value::Null,
        "triggerer_job": Value::Null,
        "dag_version": Value::Null,
    })
}

fn collection(rows: Vec<Row>, (limit, offset): (usize, usize)) -> Value {
    let total = rows.len();
    let tis: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| response(&r.body, &r.run))
        .collect();
    json!({"task_instances": tis, "total_entries": total})
}

/// Fields `order_by` takes (Airflow 3.1's list).
const ORDER_FIELDS: &[&str] = &[
    "id",
    "state",
    "duration",
    "start_date",
    "end_date",
    "map_index",
    "try_number",
    "logical_date",
    "run_after",
    "data_interval_start",
    "data_interval_end",
    "rendered_map_index",
    "operator",
];

fn range_dates(q: &Query2, name: &str) -> V2Result<Range<DateTime<Utc>>> {
    Ok(Range {
        gte: q.date(&format!("{name}_gte"))?,
        gt: q.date(&format!("{name}_gt"))?,
        lte: q.date(&format!("{name}_lte"))?,
        lt: q.date(&format!("{name}_lt"))?,
    })
}

fn float(q: &Query2, name: &str) -> V2Result<Option<f64>> {
    q.last(name)
        .map(|v| {
            v.parse::<f64>().map_err(|_| {
                V2Error::invalid(
                    &["query", name],
                    format!("Input should be a valid number: {v:?}"),
                )
            })
        })
        .transpose()
}

fn ints(q: &Query2, name: &str) -> V2Result<Option<Vec<i64>>> {
    let all = q.all(name);
    if all.is_empty() {
        return Ok(None);
    }
    all.iter()
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                V2Error::invalid(
                    &["query", name],
                    format!("Input should be a valid integer: {v:?}"),
                )
            })
        })
        .collect::<V2Result<Vec<_>>>()
        .map(Some)
}

/// Airflow 3's state filter: `none` or `no_status` is "no status"; another unknown
/// state is 422.
fn states(values: Vec<String>) -> V2Result<Option<Vec<String>>> {
    if values.is_empty() {
        return Ok(None);
    }
    const KNOWN: &[&str] = &[
        "removed",
        "scheduled",
        "queued",
        "running",
        "success",
        "restarting",
        "failed",
        "up_for_retry",
        "up_for_reschedule",
        "upstream_failed",
        "skipped",
        "deferred",
    ];
    values
        .into_iter()
        .map(|s| {
            if s == "none" || s == "no_status" {
                Ok("none".to_owned())
            } else if KNOWN.contains(&s.as_str()) {
                Ok(s)
            } else {
                Err(V2Error::invalid(
                    &["query", "state"],
                    format!(
                        "Invalid value for state. Valid values are {}",
                        KNOWN.join(", ")
                    ),
                ))
            }
        })
        .collect::<V2Result<Vec<_>>>()
        .map(Some)
}

/// The filter of a v2 listing's query string, with what only v2 has applied after.
struct V2Filter {
    base: TiFilter,
    try_numbers: Option<Vec<i64>>,
    operators: Option<Vec<String>>,
    display_pattern: Option<String>,
}

fn v2_filter(q: &Query2) -> V2Result<V2Filter> {
    let list = |name: &str| {
        let all = q.all(name);
        (!all.is_empty()).then_some(all)
    };
    let map_indexes = ints(q, "map_index")?.map(|v| {
        v.into_iter()
            .map(|i| i32::try_from(i).unwrap_or(i32::MIN))
            .collect()
    });
    Ok(V2Filter {
        base: TiFilter {
            task_ids: q.last("task_id").map(|t| vec![t.to_owned()]),
            map_indexes,
            logical_date: range_dates(q, "logical_date")?,
            run_after: range_dates(q, "run_after")?,
            start_date: range_dates(q, "start_date")?,
            end_date: range_dates(q, "end_date")?,
            updated_at: range_dates(q, "updated_at")?,
            duration: Range {
                gte: float(q, "duration_gte")?,
                gt: float(q, "duration_gt")?,
                lte: float(q, "duration_lte")?,
                lt: float(q, "duration_lt")?,
            },
            states: states(q.all("state"))?,
            pools: list("pool"),
            queues: list("queue"),
            executors: list("executor"),
            ..TiFilter::default()
        },
        try_numbers: ints(q, "try_number")?,
        operators: list("operator"),
        display_pattern: q.last("task_display_name_pattern").map(str::to_owned),
    })
}

impl V2Filter {
    fn keep(&self, r: &Row) -> bool {
        self.try_numbers
            .as_ref()
            .is_none_or(|t| t.contains(&i64::from(r.body.try_number)))
            && self
                .operators
                .as_ref()
                .is_none_or(|o| r.body.operator.as_ref().is_some_and(|op| o.contains(op)))
            && self
                .display_pattern
                .as_ref()
                .is_none_or(|p| like(&r.body.task_display_name, p))
    }
}

/// SQL `LIKE` as Airflow 3's `_pattern` parameters use it (`%` any run, `_` one
/// character; no wildcard: a substring match, as `ilike %pattern%`), case-insensitive.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = format!("%{}%", pattern.to_lowercase()).chars().collect();
    // Classic two-pointer wildcard match.
    let (mut ti, mut pi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

pub(super) async fn read2<T, F>(shared: &Arc<Shared>, f: F) -> V2Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> V2Result<T> + Send + 'static,
{
    let store = Arc::clone(&shared.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| V2Error::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

pub(super) fn dag_known(
    shared: &Shared,
    store: &Store,
    dag_id: &str,
) -> V2Result<Option<Arc<lithoflow_dag::Dag>>> {
    if let Some(d) = shared.dag(dag_id) {
        return Ok(Some(d));
    }
    if store.dag(dag_id)?.is_some() {
        return Ok(None);
    }
    Err(V2Error::not_found(format!(
        "The Dag with ID: `{dag_id}` was not found"
    )))
}

pub(super) fn run_known(store: &Store, dag_id: &str, run_id: &str) -> V2Result<DagRunRecord> {
    store.run(dag_id, run_id)?.ok_or_else(|| {
        V2Error::not_found(format!(
            "The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found"
        ))
    })
}

/// `GET /dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances` (`~` for either).
async fn list(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let page = q.page()?;
    let order = q.order_by(ORDER_FIELDS, "map_index")?;
    let mut filter = v2_filter(&q)?;
    let sh = Arc::clone(&shared);
    read2(&shared, move |store| {
        if dag_id != "~" {
            dag_known(&sh, store, &dag_id)?;
            filter.base.dag_ids = Some(vec![dag_id.clone()]);
        }
        if run_id != "~" {
            let found = if dag_id != "~" {
                store.run(&dag_id, &run_id)?.is_some()
            } else {
                store.all_runs()?.iter().any(|r| r.run_id == run_id)
            };
            if !found {
                return Err(V2Error::not_found(format!(
                    "DagRun with run_id: `{run_id}` was not found"
                )));
            }
            filter.base.run_ids = Some(vec![run_id]);
        }
        let mut rows = ti_list::select(&sh, store, &filter.base)?;
        rows.retain(|r| filter.keep(r));
        ti_list::sort(&mut rows, &order);
        Ok(collection(rows, page))
    })
    .await
    .map(Json)
}

/// Airflow 3.1's `TaskInstancesBatchBody`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    #[serde(default)]
    dag_ids: Option<Vec<String>>,
    #[serde(default)]
    dag_run_ids: Option<Vec<String>>,
    #[serde(default)]
    task_ids: Option<Vec<String>>,
    #[serde(default)]
    state: Option<Vec<Option<String>>>,
    #[serde(default)]
    run_after_gte: Option<DateTime<Utc>>,
    #[serde(default)]
    run_after_gt: Option<DateTime<Utc>>,
    #[serde(default)]
    run_after_lte: Option<DateTime<Utc>>,
    #[serde(default)]
    run_after_lt: Option<DateTime<Utc>>,
    #[serde(default)]
    logical_date_gte: Option<DateTime<Utc>>,
    #[serde(default)]
    logical_date_gt: Option<DateTime<Utc>>,
    #[serde(default)]
    logical_date_lte: Option<DateTime<Utc>>,
    #[serde(default)]
    logical_date_lt: Option<DateTime<Utc>>,
    #[serde(default)]
    start_date_gte: Option<DateTime<Utc>>,
    #[serde(default)]
    start_date_gt: Option<DateTime<Utc>>,
    #[serde(default)]
    start_date_lte: Option<DateTime<Utc>>,
    #[serde(default)]
    start_date_lt: Option<DateTime<Utc>>,
    #[serde(default)]
    end_date_gte: Option<DateTime<Utc>>,
    #[serde(default)]
    end_date_gt: Option<DateTime<Utc>>,
    #[serde(default)]
    end_date_lte: Option<DateTime<Utc>>,
    #[serde(default)]
    end_date_lt: Option<DateTime<Utc>>,
    #[serde(default)]
    duration_gte: Option<f64>,
    #[serde(default)]
    duration_gt: Option<f64>,
    #[serde(default)]
    duration_lte: Option<f64>,
    #[serde(default)]
    duration_lt: Option<f64>,
    #[serde(default)]
    pool: Option<Vec<String>>,
    #[serde(default)]
    queue: Option<Vec<String>>,
    #[serde(default)]
    executor: Option<Vec<String>>,
    #[serde(default)]
    page_offset: Option<u64>,
    #[serde(default)]
    page_limit: Option<u64>,
    #[serde(default)]
    order_by: Option<String>,
}

/// A JSON body, its errors as FastAPI's 422.
pub(super) fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> V2Result<T> {
    serde_json::from_slice(bytes).map_err(|e| V2Error::invalid(&["body"], e.to_string()))
}

/// `POST /dags/~/dagRuns/~/taskInstances/list`: the filters in the body.
async fn batch(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    bytes: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    if dag_id != "~" || run_id != "~" {
        return Err(V2Error::invalid(
            &["path", "dag_id"],
            "Input should be '~' (the batch list is for every DAG and run)",
        ));
    }
    let b: BatchBody = body(&bytes)?;
    let order = b
        .order_by
        .as_deref()
        .map(|o| OrderBy::parse(o, ORDER_FIELDS).map_err(V2Error::bad_request))
        .transpose()?;
    let page = (
        usize::try_from(b.page_limit.unwrap_or(100)).unwrap_or(usize::MAX),
        usize::try_from(b.page_offset.unwrap_or(0)).unwrap_or(usize::MAX),
    );
    let states = match b.state {
        None => None,
        Some(l) => states(
            l.into_iter()
                .map(|s| s.unwrap_or_else(|| "none".to_owned()))
                .collect(),
        )?,
    };
    let filter = TiFilter {
        dag_ids: b.dag_ids,
        run_ids: b.dag_run_ids,
        task_ids: b.task_ids,
        run_after: Range {
            gte: b.run_after_gte,
            gt: b.run_after_gt,
            lte: b.run_after_lte,
            lt: b.run_after_lt,
        },
        logical_date: Range {
            gte: b.logical_date_gte,
            gt: b.logical_date_gt,
            lte: b.logical_date_lte,
            lt: b.logical_date_lt,
        },
        start_date: Range {
            gte: b.start_date_gte,
            gt: b.start_date_gt,
            lte: b.start_date_lte,
            lt: b.start_date_lt,
        },
        end_date: Range {
            gte: b.end_date_gte,
            gt: b.end_date_gt,
            lte: b.end_date_lte,
            lt: b.end_date_lt,
        },
        duration: Range {
            gte: b.duration_gte,
            gt: b.duration_gt,
            lte: b.duration_lte,
            lt: b.duration_lt,
        },
        states,
        pools: b.pool,
        queues: b.queue,
        executors: b.executor,
        ..TiFilter::default()
    };
    let sh = Arc::clone(&shared);
    read2(&shared, move |store| {
        let mut rows = ti_list::select(&sh, store, &filter)?;
        if let Some(order) = &order {
            ti_list::sort(&mut rows, order);
        }
        Ok(collection(rows, page))
    })
    .await
    .map(Json)
}

/// `GET .../taskInstances/{task_id}`: the unmapped instance.
async fn get_one(
    State(shared): State<Arc<Shared>>,
    Extension(book): Extension<ProgressBook>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
) -> V2Result<Json<Value>> {
    let sh = Arc::clone(&shared);
    read2(&shared, move |store| {
        let facts = DagFacts::new(dag_known(&sh, store, &dag_id)?);
        let run = run_known(store, &dag_id, &run_id)?;
        let Some(ti) = store.ti(&dag_id, &run_id, &task_id)? else {
            if !store.task_tis(&dag_id, &run_id, &task_id)?.is_empty() {
                return Err(V2Error::not_found(
                    "Task instance is mapped, add the map_index value to the URL",
                ));
            }
            return Err(V2Error::not_found(format!(
                "The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}` and task_id: `{task_id}` was not found"
            )));
        };
        let mut body = facts.body(&run, &ti);
        body.progress = book.live(&run, &ti);
        Ok(response(&body, &run))
    })
    .await
    .map(Json)
}

/// `GET .../taskInstances/{task_id}/{map_index}`.
async fn get_mapped(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, index]): Ids<4>,
) -> V2Result<Json<Value>> {
    let map_index: i32 = index.parse().map_err(|_| {
        V2Error::invalid(
            &["path", "map_index"],
            format!("Input should be a valid integer: {index:?}"),
        )
    })?;
    let sh = Arc::clone(&shared);
    read2(&shared, move |store| {
        let facts = DagFacts::new(dag_known(&sh, store, &dag_id)?);
        let run = run_known(store, &dag_id, &run_id)?;
        let ti = store.ti_at(&dag_id, &run_id, &task_id, map_index)?.ok_or_else(|| {
            V2Error::not_found(format!(
                "The Mapped Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, task_id: `{task_id}`, and map_index: `{map_index}` was not found"
            ))
        })?;
        Ok(response(&facts.body(&run, &ti), &run))
    })
    .await
    .map(Json)
}

/// `GET .../taskInstances/{task_id}/listMapped`: by map index unless `order_by`.
async fn list_mapped(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(&uri)?;
    let page = q.page()?;
    let order = q.order_by(ORDER_FIELDS, "map_index")?;
    let mut filter = v2_filter(&q)?;
    let sh = Arc::clone(&shared);
    read2(&shared, move |store| {
        let dag = dag_known(&sh, store, &dag_id)?;
        run_known(store, &dag_id, &run_id)?;
        let mapped = dag
            .as_ref()
            .and_then(|d| d.task(&task_id))
            .is_some_and(lithoflow_dag::Task::is_mapped);
        if !mapped {
            return Err(V2Error::not_found(format!(
                "Task id {task_id} is not mapped"
            )));
        }
        filter.base.dag_ids = Some(vec![dag_id]);
        filter.base.run_ids = Some(vec![run_id]);
        filter.base.task_ids = Some(vec![task_id]);
        filter.base.mapped_only = true;
        let mut rows = ti_list::select(&sh, store, &filter.base)?;
        rows.retain(|r| filter.keep(r));
        ti_list::sort(&mut rows, &order);
        Ok(collection(rows, page))
    })
    .await
    .map(Json)
}

/// Airflow 3.1's `ClearTaskInstancesBody` (`extra="forbid"`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearBody2 {
    #[serde(default = "yes")]
    dry_run: bool,
    #[serde(default)]
    start_date: Option<DateTime<Utc>>,
    #[serde(default)]
    end_date: Option<DateTime<Utc>>,
    #[serde(default = "yes")]
    only_failed: bool,
    #[serde(default)]
    only_running: bool,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "taken as Airflow takes it; lithoflow always re-queues"
    )]
    reset_dag_runs: Option<bool>,
    #[serde(default)]
    task_ids: Option<Vec<ClearTaskId>>,
    #[serde(default)]
    dag_run_id: Option<String>,
    #[serde(default)]
    include_upstream: bool,
    #[serde(default)]
    include_downstream: bool,
    #[serde(default)]
    include_future: bool,
    #[serde(default)]
    include_past: bool,
    #[serde(default)]
    #[allow(dead_code, reason = "one DAG version here: always the latest")]
    run_on_latest_version: bool,
}

fn yes() -> bool {
    true
}

/// `POST /dags/{dag_id}/clearTaskInstances`: the instances cleared (or, for a dry
/// run, that would be) as `TaskInstanceCollectionResponse`.
async fn clear_task_instances(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    bytes: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    let b: ClearBody2 = body(&bytes)?;
    if shared.dag(&dag_id).is_none() {
        return Err(V2Error::not_found(format!("Dag id {dag_id} not found")));
    }
    let dry_run = b.dry_run;
    let cleared = clear(
        &shared,
        &dag_id,
        ClearAsk {
            dry_run,
            task_ids: b.task_ids,
            task_regex: None,
            dag_run_id: b.dag_run_id,
            start_date: b.start_date,
            end_date: b.end_date,
            upstream: b.include_upstream,
            downstream: b.include_downstream,
            past: b.include_past,
            future: b.include_future,
            only_failed: b.only_failed,
            only_running: b.only_running,
        },
    )
    .await
    .map_err(|e| match e {
        ClearError::Invalid(m) => V2Error::invalid(&["body"], m),
        ClearError::Api(e) => V2Error::from(e),
    })?;
    let sh = Arc::clone(&shared);
    read2(&shared, move |store| {
        let facts = DagFacts::new(sh.dag(&dag_id));
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for c in &cleared {
            if !seen.insert((c.dag_run_id.clone(), c.task_id.clone())) {
                continue;
            }
            let Some(run) = store.run(&dag_id, &c.dag_run_id)? else {
                continue;
            };
            for ti in store.task_tis(&dag_id, &c.dag_run_id, &c.task_id)? {
                out.push(response(&facts.body(&run, &ti), &run));
            }
        }
        Ok(json!({"task_instances": out, "total_entries": out.len()}))
    })
    .await
    .map(Json)
}

/// Airflow 3.1's `TaskInstanceHistoryResponse` of a try.
fn history(t: &TaskInstance, run: &DagRunRecord) -> Value {
    let full = response(t, run);
    let keep = [
        "task_id",
        "dag_id",
        "dag_run_id",
        "map_index",
        "start_date",
        "end_date",
        "duration",
        "state",
        "try_number",
        "max_tries",
        "task_display_name",
        "dag_display_name",
        "hostname",
        "unixname",
        "pool",
        "pool_slots",
        "queue",
        "priority_weight",
        "operator",
        "operator_name",
        "queued_when",
        "scheduled_when",
        "pid",
        "executor",
        "executor_config",
        "dag_version",
    ];
    Value::Object(
        keep.iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    full.get(*k).cloned().unwrap_or(Value::Null),
                )
            })
            .collect(),
    )
}

fn index_of(text: &str) -> V2Result<i32> {
    text.parse().map_err(|_| {
        V2Error::invalid(
            &["path", "map_index"],
            format!("Input should be a valid integer: {text:?}"),
        )
    })
}

/// The tries of one instance (`try_number`: only that one).
async fn tries_answer(
    shared: Arc<Shared>,
    (dag_id, run_id, task_id, map_index): (String, String, String, i32),
    try_number: Option<u32>,
) -> V2Result<Json<Value>> {
    let sh = Arc::clone(&shared);
    read2(&shared, move |store| {
        let facts = DagFacts::new(dag_known(&sh, store, &dag_id)?);
        let run = run_known(store, &dag_id, &run_id)?;
        let not_found = || {
            V2Error::not_found(format!(
                "The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, task_id: `{task_id}` and map_index: `{map_index}` was not found"
            ))
        };
        let ti = store
            .ti_at(&dag_id, &run_id, &task_id, map_index)?
            .ok_or_else(not_found)?;
        let tries = crate::api::tries::tries_of(store, &dag_id, &run_id, &ti)?;
        match try_number {
            None => {
                let list: Vec<Value> = tries.iter().map(|t| history(&facts.body(&run, t), &run)).collect();
                Ok(json!({"task_instances": list, "total_entries": list.len()}))
            }
            Some(n) => tries
                .iter()
                .rev()
                .find(|t| t.try_number == n)
                .map(|t| history(&facts.body(&run, t), &run))
                .ok_or_else(|| {
                    V2Error::not_found(format!(
                        "The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, task_id: `{task_id}`, try_number: `{n}` and map_index: `{map_index}` was not found"
                    ))
                }),
        }
    })
    .await
    .map(Json)
}

fn query_map_index(uri: &Uri) -> V2Result<i32> {
    Ok(Query2::parse(uri)?
        .int("map_index")?
        .map_or(-1, |i| i32::try_from(i).unwrap_or(i32::MIN)))
}

fn try_of_path(text: &str) -> V2Result<u32> {
    text.parse().map_err(|_| {
        V2Error::invalid(
            &["path", "task_try_number"],
            format!("Input should be a valid integer: {text:?}"),
        )
    })
}

/// `GET .../taskInstances/{task_id}/tries` (`map_index` in the query, default -1).
async fn tries(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> V2Result<Json<Value>> {
    let map_index = query_map_index(&uri)?;
    tries_answer(shared, (dag_id, run_id, task_id, map_index), None).await
}

/// `GET .../taskInstances/{task_id}/{map_index}/tries`.
async fn mapped_tries(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, index]): Ids<4>,
) -> V2Result<Json<Value>> {
    let map_index = index_of(&index)?;
    tries_answer(shared, (dag_id, run_id, task_id, map_index), None).await
}

/// `GET .../taskInstances/{task_id}/tries/{task_try_number}`.
async fn one_try(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, n]): Ids<4>,
    uri: Uri,
) -> V2Result<Json<Value>> {
    let map_index = query_map_index(&uri)?;
    let n = try_of_path(&n)?;
    tries_answer(shared, (dag_id, run_id, task_id, map_index), Some(n)).await
}

/// `GET .../taskInstances/{task_id}/{map_index}/tries/{task_try_number}`.
async fn one_mapped_try(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, index, n]): Ids<5>,
) -> V2Result<Json<Value>> {
    let map_index = index_of(&index)?;
    let n = try_of_path(&n)?;
    tries_answer(shared, (dag_id, run_id, task_id, map_index), Some(n)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_uuids() {
        let a = ti_id("d", "r", "t", -1);
        assert_eq!(a, ti_id("d", "r", "t", -1));
        assert_ne!(a, ti_id("d", "r", "t", 0));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
    }

    #[test]
    fn patterns_match_as_sql_like() {
        assert!(like("produce_rows", "rows"));
        assert!(like("produce_rows", "PRO%rows"));
        assert!(like("produce", "pr_duce"));
        assert!(!like("produce", "x"));
    }
}
