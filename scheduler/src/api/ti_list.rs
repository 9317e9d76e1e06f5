//! Listing task instances across runs and DAGs with Airflow's filters: what
//! `GET /dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances` (`~` for either),
//! `POST /dags/~/dagRuns/~/taskInstances/list`, `listMapped` and their `/api/v2`
//! equivalents share (Airflow 2.10's `task_instance_endpoint.get_task_instances`,
//! `_apply_range_filter` / `_apply_array_filter`; Airflow 3.1's
//! `routes/public/task_instances.py`). A range filter never matches a missing value,
//! as SQL's comparisons with NULL do not.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::extract::{OrderBy, Params};
use super::ti_view::FactsBook;
use crate::control::Shared;
use crate::store::{DagRunRecord, Store, StoreError, TaskInstanceRecord};
use lithoflow_api::TaskInstance;

/// Bounds of a range filter (`_gte`, `_gt`, `_lte`, `_lt`).
#[derive(Debug, Clone)]
pub(crate) struct Range<T> {
    pub(crate) gte: Option<T>,
    pub(crate) gt: Option<T>,
    pub(crate) lte: Option<T>,
    pub(crate) lt: Option<T>,
}

impl<T> Default for Range<T> {
    fn default() -> Range<T> {
        Range {
            gte: None,
            gt: None,
            lte: None,
            lt: None,
        }
    }
}

impl<T: PartialOrd + Copy> Range<T> {
    /// Whether `value` is within the bounds; a missing value matches only no bounds.
    pub(crate) fn matches(&self, value: Option<T>) -> bool {
        if self.gte.is_none() && self.gt.is_none() && self.lte.is_none() && self.lt.is_none() {
            return true;
        }
        let Some(v) = value else {
            return false;
        };
        self.gte.is_none_or(|b| v >= b)
            && self.gt.is_none_or(|b| v > b)
            && self.lte.is_none_or(|b| v <= b)
            && self.lt.is_none_or(|b| v < b)
    }
}

/// Which task instances a listing shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct TiFilter {
    /// These DAGs (None: all).
    pub(crate) dag_ids: Option<Vec<String>>,
    /// These runs (None: all).
    pub(crate) run_ids: Option<Vec<String>>,
    /// These tasks (None: all).
    pub(crate) task_ids: Option<Vec<String>>,
    /// Only mapped instances (`listMapped`).
    pub(crate) mapped_only: bool,
    /// These map indexes (None: all).
    pub(crate) map_indexes: Option<Vec<i32>>,
    /// The run's logical date (Airflow 2's `execution_date`).
    pub(crate) logical_date: Range<DateTime<Utc>>,
    /// The run's `run_after`.
    pub(crate) run_after: Range<DateTime<Utc>>,
    pub(crate) start_date: Range<DateTime<Utc>>,
    pub(crate) end_date: Range<DateTime<Utc>>,
    /// When the instance last changed (lithoflow records no `updated_at`: the end of
    /// its last try, else its start, else its run's queueing).
    pub(crate) updated_at: Range<DateTime<Utc>>,
    pub(crate) duration: Range<f64>,
    /// State names, `none` (or `null`) for no status (None: all).
    pub(crate) states: Option<Vec<String>>,
    pub(crate) pools: Option<Vec<String>>,
    pub(crate) queues: Option<Vec<String>>,
    pub(crate) executors: Option<Vec<String>>,
    /// A task id pattern (v2's `task_id_pattern`, SQL `LIKE %pattern%`).
    pub(crate) task_id_pattern: Option<String>,
}

/// One task instance that matched, with its run and its body.
pub(crate) struct Row {
    pub(crate) run: Arc<DagRunRecord>,
    pub(crate) ti: TaskInstanceRecord,
    pub(crate) body: TaskInstance,
}

fn in_list(list: &Option<Vec<String>>, value: &str) -> bool {
    list.as_ref().is_none_or(|l| l.iter().any(|v| v == value))
}

/// A state filter's values as Airflow reads them: `none` and `null` (and an empty
/// value) are "no status".
fn state_matches(states: &Option<Vec<String>>, state: &str) -> bool {
    states.as_ref().is_none_or(|l| {
        l.iter().any(|s| {
            s == state || (state == "none" && (s == "none" || s == "null" || s.is_empty()))
        })
    })
}

/// When `ti` last changed, as far as its record tells.
pub(crate) fn updated_at(run: &DagRunRecord, ti: &TaskInstanceRecord) -> Option<DateTime<Utc>> {
    ti.end_date.or(ti.start_date).or(run.queued_at)
}

/// The task instances `filter` selects, by run (oldest `run_after` first), then task
/// id, then map index.
pub(crate) fn select(
    shared: &Shared,
    store: &Store,
    filter: &TiFilter,
) -> Result<Vec<Row>, StoreError> {
    let mut runs = match &filter.dag_ids {
        Some(ids) => {
            let mut runs = Vec::new();
            for id in ids {
                runs.extend(store.runs(id)?);
            }
            runs
        }
        None => store.all_runs()?,
    };
    runs.retain(|r| {
        in_list(&filter.run_ids, &r.run_id)
            && filter.logical_date.matches(r.logical_date)
            && filter.run_after.matches(Some(r.run_after))
    });
    runs.sort_by(|a, b| {
        (a.run_after, &a.dag_id, &a.run_id).cmp(&(b.run_after, &b.dag_id, &b.run_id))
    });
    let mut facts = FactsBook::new(shared);
    let mut rows = Vec::new();
    for run in runs {
        let run = Arc::new(run);
        let mut tis = store.tis(&run.dag_id, &run.run_id)?;
        tis.sort_by(|a, b| (&a.task_id, a.map_index).cmp(&(&b.task_id, b.map_index)));
        for ti in tis {
            if !in_list(&filter.task_ids, &ti.task_id)
                || (filter.mapped_only && ti.map_index < 0)
                || filter
                    .map_indexes
                    .as_ref()
                    .is_some_and(|m| !m.contains(&ti.map_index))
                || filter
                    .task_id_pattern
                    .as_ref()
                    .is_some_and(|p| !ti.task_id.contains(p.as_str()))
                || !state_matches(&filter.states, ti.state.name())
                || !filter.start_date.matches(ti.start_date)
                || !filter.end_date.matches(ti.end_date)
                || !filter.duration.matches(ti.duration_s)
                || !filter.updated_at.matches(updated_at(&run, &ti))
            {
                continue;
            }
            let body = facts.of(&run.dag_id).body(&run, &ti);
            if !in_list(&filter.pools, &body.pool)
                || !in_list(&filter.queues, body.queue.as_deref().unwrap_or(""))
                || filter.executors.is_some()
            {
                // No instance has an executor: any executor filter matches none.
                continue;
            }
            rows.push(Row {
                run: Arc::clone(&run),
                ti,
                body,
            });
        }
    }
    Ok(rows)
}

/// Sorts `rows` by `order` (stable: ties keep the listing's order). The fields are
/// the instance's (`state`, `duration`, `start_date`, `end_date`, `map_index`,
/// `try_number`, `task_id`, `dag_id`, `run_id`/`dag_run_id`, `pool`, `queue`,
/// `priority_weight`, `logical_date`/`execution_date`, `run_after`, `updated_at`);
/// missing values sort first ascending, as Airflow's databases (Postgres aside) do.
pub(crate) fn sort(rows: &mut [Row], order: &OrderBy) {
    let key = |r: &Row, other: &Row| -> Ordering {
        let (a, b) = (&r.body, &other.body);
        match order.field.as_str() {
            "state" => a.state.map(|s| s.name()).cmp(&b.state.map(|s| s.name())),
            "duration" => a
                .duration
                .partial_cmp(&b.duration)
                .unwrap_or(Ordering::Equal),
            "start_date" => a.start_date.cmp(&b.start_date),
            "end_date" => a.end_date.cmp(&b.end_date),
            "map_index" => a.map_index.cmp(&b.map_index),
            "try_number" => a.try_number.cmp(&b.try_number),
            "task_id" => a.task_id.cmp(&b.task_id),
            "dag_id" => a.dag_id.cmp(&b.dag_id),
            "run_id" | "dag_run_id" => a.dag_run_id.cmp(&b.dag_run_id),
            "pool" => a.pool.cmp(&b.pool),
            "queue" => a.queue.cmp(&b.queue),
            "priority_weight" => a.priority_weight.cmp(&b.priority_weight),
            "logical_date" | "execution_date" => a.logical_date.cmp(&b.logical_date),
            "run_after" => r.run.run_after.cmp(&other.run.run_after),
            "operator" => a.operator.cmp(&b.operator),
            "rendered_map_index" => a.rendered_map_index.cmp(&b.rendered_map_index),
            "data_interval_start" => r
                .run
                .data_interval_start
                .cmp(&other.run.data_interval_start),
            "data_interval_end" => r.run.data_interval_end.cmp(&other.run.data_interval_end),
            "updated_at" => updated_at(&r.run, &r.ti).cmp(&updated_at(&other.run, &other.ti)),
            _ => Ordering::Equal,
        }
    };
    rows.sort_by(|a, b| {
        let o = key(a, b);
        if order.desc { o.reverse() } else { o }
    });
}

/// Fields `order_by` takes on the v1 listings (Airflow 2.10's `listMapped` ones and
/// lithoflow's additions).
pub(crate) const ORDER_FIELDS: &[&str] = &[
    "state",
    "duration",
    "start_date",
    "end_date",
    "map_index",
    "try_number",
    "task_id",
    "dag_id",
    "run_id",
    "dag_run_id",
    "pool",
    "queue",
    "priority_weight",
    "logical_date",
    "execution_date",
    "run_after",
    "updated_at",
];

/// The v1 query parameters of a task instance listing (Airflow 2.10's, with
/// `order_by` as `listMapped` takes it).
pub(crate) const V1_LIST_PARAMS: &[&str] = &[
    "execution_date_gte",
    "execution_date_lte",
    "start_date_gte",
    "start_date_lte",
    "end_date_gte",
    "end_date_lte",
    "updated_at_gte",
    "updated_at_lte",
    "duration_gte",
    "duration_lte",
    "state",
    "pool",
    "queue",
    "executor",
    "limit",
    "offset",
    "order_by",
];

/// A v1 date parameter as Airflow's `format_datetime` reads it (a `+` of the offset
/// that arrived as a space is restored; a date without a zone is UTC).
pub(super) fn v1_date(
    params: &Params,
    name: &str,
) -> super::extract::ApiResult<Option<DateTime<Utc>>> {
    params
        .last(name)
        .map(|v| {
            parse_date(v).ok_or_else(|| {
                super::extract::ApiError::bad_request(format!(
                    "Invalid datetime for `{name}`: {v:?} (expected RFC 3339, e.g. 2026-11-27T10:00:00+00:00)"
                ))
            })
        })
        .transpose()
}

/// An ISO 8601 date-time as the clients send it (`run_query::parse_time`).
pub(crate) fn parse_date(v: &str) -> Option<DateTime<Utc>> {
    crate::api::run_query::parse_time(v).ok()
}

/// A v1 number parameter (`duration_gte`).
fn v1_float(params: &Params, name: &str) -> super::extract::ApiResult<Option<f64>> {
    params
        .last(name)
        .map(|v| {
            v.parse::<f64>().map_err(|_| {
                super::extract::ApiError::bad_request(format!(
                    "`{name}` must be a number, found {v:?}"
                ))
            })
        })
        .transpose()
}

/// The filter of a v1 GET listing's query string (the path's DAG and run aside).
pub(super) fn v1_filter(params: &Params) -> super::extract::ApiResult<TiFilter> {
    let list = |name: &str| {
        let all = params.all(name);
        (!all.is_empty()).then_some(all)
    };
    // `state=` (empty) is "no status", which `all` drops: keep it.
    let states = params
        .last("state")
        .map(|_| {
            let mut s = params.all("state");
            if s.is_empty() {
                s.push("none".to_owned());
            }
            s
        })
        .or_else(|| list("state"));
    Ok(TiFilter {
        logical_date: Range {
            gte: v1_date(params, "execution_date_gte")?,
            lte: v1_date(params, "execution_date_lte")?,
            ..Range::default()
        },
        start_date: Range {
            gte: v1_date(params, "start_date_gte")?,
            lte: v1_date(params, "start_date_lte")?,
            ..Range::default()
        },
        end_date: Range {
            gte: v1_date(params, "end_date_gte")?,
            lte: v1_date(params, "end_date_lte")?,
            ..Range::default()
        },
        updated_at: Range {
            gte: v1_date(params, "updated_at_gte")?,
            lte: v1_date(params, "updated_at_lte")?,
            ..Range::default()
        },
        duration: Range {
            gte: v1_float(params, "duration_gte")?,
            lte: v1_float(params, "duration_lte")?,
            ..Range::default()
        },
        states,
        pools: list("pool"),
        queues: list("queue"),
        executors: list("executor"),
        ..TiFilter::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_airflow_reads_them() {
        let want = parse_date("2026-11-27T10:00:00+00:00");
        assert!(want.is_some());
        assert_eq!(parse_date("2026-11-27T10:00:00 00:00"), want, "a + lost");
        assert_eq!(parse_date("2026-11-27T10:00:00"), want, "naive is UTC");
        assert_eq!(parse_date("2026-11-27T12:00:00+02:00"), want);
        assert_eq!(
            parse_date("2026-11-27 10:00:00+00:00"),
            want,
            "Python's str()"
        );
        assert_eq!(parse_date("2026-11-27 10:00:00 00:00"), want);
        assert_eq!(parse_date("2026-11-27 10:00:00"), want);
        assert_eq!(
            parse_date("2026-11-27T10:00:00.000000+0000"),
            want,
            "no colon"
        );
        assert_eq!(parse_date("2026-11-27"), parse_date("2026-11-27T00:00:00Z"));
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn a_range_never_matches_a_missing_value() {
        let open: Range<i32> = Range::default();
        assert!(open.matches(None));
        let r = Range {
            gte: Some(2),
            lt: Some(5),
            ..Range::default()
        };
        assert!(!r.matches(None));
        assert!(r.matches(Some(2)));
        assert!(!r.matches(Some(5)));
        assert!(!r.matches(Some(1)));
    }
}
