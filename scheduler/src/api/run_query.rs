//! Selecting runs as Airflow's run lists do, shared by `/api/v1` and `/api/v2`: the
//! filters (DAGs, states, date ranges on the logical, start, end, `updated_at` and
//! `run_after` times) and `order_by` (Airflow 2.10's `_fetch_dag_runs` in
//! `api_connexion/endpoints/dag_run_endpoint.py`; Airflow 3.1's `get_dag_runs` in
//! `api_fastapi/core_api/routes/public/dag_run.py`).
//!
//! Airflow's row `id` (creation order) is stood in for by `run_after` then `run_id`,
//! the order of the store's recency index; `updated_at` is the latest of a run's
//! queued, start and end times ([`wire::updated_at`]).

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound as _, Utc};

use super::extract::OrderBy;
use super::wire;
use crate::store::{DagRunRecord, Store, StoreError};

/// The fields Airflow 2.10's run lists sort by.
pub(crate) const V1_ORDER: &[&str] = &[
    "id",
    "state",
    "dag_id",
    "execution_date",
    "dag_run_id",
    "start_date",
    "end_date",
    "updated_at",
    "external_trigger",
    "conf",
];

/// The fields Airflow 3.1's run list sorts by (`SortParam` of `get_dag_runs`).
pub(crate) const V2_ORDER: &[&str] = &[
    "id",
    "state",
    "dag_id",
    "run_id",
    "logical_date",
    "run_after",
    "start_date",
    "end_date",
    "updated_at",
    "conf",
    "duration",
    "dag_run_id",
];

/// A range of times; any bound may be missing (`gt`/`lt` are Airflow 3's strict ones).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Range {
    pub gte: Option<DateTime<Utc>>,
    pub lte: Option<DateTime<Utc>>,
    pub gt: Option<DateTime<Utc>>,
    pub lt: Option<DateTime<Utc>>,
    /// A missing time counts as now (Airflow 3's `start_date`/`end_date` filters:
    /// `coalesce(attr, now())`); otherwise it is in no bounded range (SQL's NULL).
    pub missing_is_now: bool,
}

impl Range {
    /// Whether `t` is in the range.
    fn holds(&self, t: Option<DateTime<Utc>>) -> bool {
        if self.is_open() {
            return true;
        }
        let t = if self.missing_is_now {
            t.or_else(|| Some(Utc::now()))
        } else {
            t
        };
        // Compared as the API writes them (microseconds), so a time read from an
        // answer selects that run.
        let t = t.map(|t| t.trunc_subsecs(6));
        t.is_some_and(|t| {
            self.gte.is_none_or(|b| t >= b)
                && self.lte.is_none_or(|b| t <= b)
                && self.gt.is_none_or(|b| t > b)
                && self.lt.is_none_or(|b| t < b)
        })
    }

    fn is_open(&self) -> bool {
        self.gte.is_none() && self.lte.is_none() && self.gt.is_none() && self.lt.is_none()
    }
}

/// Which runs a list answers.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunFilter {
    /// Only these DAGs (None: every DAG).
    pub dag_ids: Option<Vec<String>>,
    /// Only runs in these states (empty: any); unknown names match nothing, as in Airflow.
    pub states: Vec<String>,
    /// Only these run types (v2's `run_type`; empty: any).
    pub run_types: Vec<String>,
    pub logical: Range,
    pub start: Range,
    pub end: Range,
    pub updated: Range,
    pub run_after: Range,
}

impl RunFilter {
    fn only_dags(&self) -> bool {
        self.states.is_empty()
            && self.run_types.is_empty()
            && self.logical.is_open()
            && self.start.is_open()
            && self.end.is_open()
            && self.updated.is_open()
            && self.run_after.is_open()
    }

    fn holds(&self, r: &DagRunRecord) -> bool {
        (self.states.is_empty() || self.states.iter().any(|s| s == r.state.name()))
            && (self.run_types.is_empty() || self.run_types.contains(&r.run_type))
            && self.logical.holds(r.logical_date)
            && self.start.holds(r.start_date)
            && self.end.holds(r.end_date)
            && self.updated.holds(wire::updated_at(r))
            && self.run_after.holds(Some(r.run_after))
    }
}

/// Creation order: `run_after`, then `run_id`.
fn by_id(a: &DagRunRecord, b: &DagRunRecord) -> Ordering {
    a.run_after
        .cmp(&b.run_after)
        .then_with(|| a.run_id.cmp(&b.run_id))
}

/// Missing values sort last ascending and first descending, as PostgreSQL's NULLs.
fn opt<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
    }
}

fn compare(field: &str, a: &DagRunRecord, b: &DagRunRecord) -> Ordering {
    match field {
        "state" => a.state.name().cmp(b.state.name()),
        "dag_id" => a.dag_id.cmp(&b.dag_id),
        "execution_date" | "logical_date" => opt(a.logical_date, b.logical_date),
        "dag_run_id" | "run_id" => a.run_id.cmp(&b.run_id),
        "start_date" => opt(a.start_date, b.start_date),
        "end_date" => opt(a.end_date, b.end_date),
        "updated_at" => opt(wire::updated_at(a), wire::updated_at(b)),
        "external_trigger" => (a.run_type == "manual").cmp(&(b.run_type == "manual")),
        "conf" => serde_json::to_string(&a.conf)
            .unwrap_or_default()
            .cmp(&serde_json::to_string(&b.conf).unwrap_or_default()),
        "run_after" => a.run_after.cmp(&b.run_after),
        "duration" => opt(duration(a), duration(b)),
        _ => Ordering::Equal,
    }
}

fn duration(r: &DagRunRecord) -> Option<chrono::TimeDelta> {
    Some(r.end_date? - r.start_date?)
}

/// The runs `filter` selects, sorted by `order` (then creation order), the page
/// `(limit, offset)` of them and how many matched.
pub(crate) fn select_runs(
    store: &Store,
    filter: &RunFilter,
    order: &OrderBy,
    (limit, offset): (usize, usize),
) -> Result<(Vec<DagRunRecord>, usize), StoreError> {
    // One DAG's runs in creation order: the page through the DAG's recency index, the
    // total from its count, nothing else of its history read.
    if let Some([dag_id]) = filter.dag_ids.as_deref()
        && filter.only_dags()
        && order.field == "id"
    {
        let total = store.run_count(dag_id)?;
        if order.desc {
            return Ok((store.recent_runs(dag_id, offset, limit)?, total));
        }
        let end = total.saturating_sub(offset);
        let start = end.saturating_sub(limit);
        let mut page = store.recent_runs(dag_id, start, end - start)?;
        page.reverse();
        return Ok((page, total));
    }
    let mut runs = match &filter.dag_ids {
        None => store.all_runs()?,
        Some(ids) => {
            let mut all = Vec::new();
            for id in ids {
                all.extend(store.runs(id)?);
            }
            all
        }
    };
    runs.retain(|r| filter.holds(r));
    runs.sort_by(|a, b| {
        let o = compare(&order.field, a, b).then_with(|| by_id(a, b));
        if order.desc { o.reverse() } else { o }
    });
    let total = runs.len();
    Ok((runs.into_iter().skip(offset).take(limit).collect(), total))
}

/// A date-time in a query string as Airflow 2's `format_datetime` reads it: RFC 3339,
/// a time without zone (UTC), or a date; a `+` the query string turned into a space is
/// put back.
pub(crate) fn parse_time(value: &str) -> Result<DateTime<Utc>, String> {
    let v = value.trim();
    // pydantic takes a space for the `T` (Python's `str(datetime)`,
    // `2026-11-27 10:00:00+00:00`); any other space is an offset's `+` left unescaped
    // by a client (the 3.x client's `isoformat()`).
    // A `+` there stood for such a space.
    let v = match v.get(..10) {
        Some(day) if matches!(v.as_bytes().get(10), Some(b' ' | b'+')) => {
            format!("{day}T{}", &v[11..])
        }
        _ => v.to_owned(),
    };
    let v = if v.ends_with('Z') {
        v
    } else {
        v.replace(' ', "+")
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(&v) {
        return Ok(t.with_timezone(&Utc));
    }
    // `+0000`, as the 3.x client writes offsets.
    if let Ok(t) = DateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&v, fmt) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(&v, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "Invalid datetime format {value:?}: expected RFC 3339, such as 2026-11-27T10:00:00+00:00"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_airflow_reads_them() {
        let want = "2026-01-02T03:04:05Z".parse::<DateTime<Utc>>().ok();
        for v in [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05+00:00",
            "2026-01-02T03:04:05 00:00",
            "2026-01-02T03:04:05",
            "2026-01-02T03:04:05.000000+0000",
        ] {
            assert_eq!(parse_time(v).ok(), want, "{v}");
        }
        assert!(parse_time("2026-01-02").is_ok());
        assert!(parse_time("yesterday").is_err());
    }
}
