//! `/eventLogs`: the event log of user actions (the store's `audit_log`), as Airflow
//! 2.10's `api_connexion/endpoints/event_log_endpoint.py` serves its `log` table: list
//! with the filters `dag_id`, `task_id`, `run_id`, `map_index`, `try_number`, `event`,
//! `owner`, `before`, `after`, `included_events`, `excluded_events` and `order_by`
//! (default `event_log_id`), and get one. `/api/v2/eventLogs` shares the filtering
//! ([`Filter`]). [`record`] is how the API's handlers write an entry.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::extract::{ApiError, ApiResult, Ids, Params, paged};
use super::lookup::read;
use crate::control::Shared;
use crate::store::{AuditRecord, Store};
use lithoflow_api::{EventLog, EventLogCollection};

/// Who the API's entries are by: the API has one token, not users.
pub(crate) const API_OWNER: &str = "api";

/// Records an entry by the API. A failure to record is logged, not answered: the action
/// it describes is done.
pub(crate) fn record(store: &Store, event: &str, extra: &Value) {
    crate::ops::audit(store, AuditRecord::new(event, API_OWNER).with_extra(extra));
}

/// The fields the list sorts by (Airflow's `allowed_sort_attrs`; `execution_date` and
/// `logical_date` sort by the entry's time, the run's date not being recorded).
pub(crate) const ORDER_FIELDS: &[&str] = &[
    "event_log_id",
    "id",
    "when",
    "dttm",
    "dag_id",
    "task_id",
    "run_id",
    "event",
    "execution_date",
    "logical_date",
    "owner",
    "extra",
];

/// What a list of entries is filtered by (each `None`/empty: no filter).
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub(crate) dag_id: Option<String>,
    pub(crate) task_id: Option<String>,
    pub(crate) run_id: Option<String>,
    pub(crate) map_index: Option<i64>,
    pub(crate) try_number: Option<i64>,
    pub(crate) owner: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) included: Vec<String>,
    pub(crate) excluded: Vec<String>,
    pub(crate) before: Option<DateTime<Utc>>,
    pub(crate) after: Option<DateTime<Utc>>,
    /// `(field, pattern)`: Airflow 3's `*_pattern` searches (SQL `ILIKE %pattern%`).
    pub(crate) patterns: Vec<(&'static str, String)>,
}

/// SQL's `ILIKE '%pattern%'` as Airflow 3's `_SearchParam`: `%` any run, `_` any one
/// character, case-insensitive.
pub(crate) fn ilike_contains(text: &str, pattern: &str) -> bool {
    fn here(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => true,
            Some(('%', rest)) => (0..=t.len()).any(|i| here(&t[i..], rest)),
            Some((c, rest)) => t
                .split_first()
                .is_some_and(|(tc, trest)| (*c == '_' || tc == c) && here(trest, rest)),
        }
    }
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    (0..=t.len()).any(|i| here(&t[i..], &p))
}

/// A time as served (to the microsecond, as Airflow's database keeps it), so that an
/// entry's own `when` given back as `after` leaves it out.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    t.trunc_subsecs(6)
}

impl Filter {
    fn keeps(&self, r: &AuditRecord) -> bool {
        let eq = |want: &Option<String>, got: &Option<String>| {
            want.as_ref().is_none_or(|w| got.as_deref() == Some(w))
        };
        eq(&self.dag_id, &r.dag_id)
            && eq(&self.task_id, &r.task_id)
            && eq(&self.run_id, &r.run_id)
            && self
                .map_index
                .is_none_or(|m| r.map_index.map(i64::from) == Some(m))
            && self
                .try_number
                .is_none_or(|t| r.try_number.map(i64::from) == Some(t))
            && self.owner.as_ref().is_none_or(|o| *o == r.owner)
            && self.event.as_ref().is_none_or(|e| *e == r.event)
            && (self.included.is_empty() || self.included.contains(&r.event))
            && !self.excluded.contains(&r.event)
            && self.before.is_none_or(|b| micros(r.when) < b)
            && self.after.is_none_or(|a| micros(r.when) > a)
            && self.patterns.iter().all(|(field, p)| {
                let text = match *field {
                    "dag_id" => r.dag_id.as_deref(),
                    "task_id" => r.task_id.as_deref(),
                    "run_id" => r.run_id.as_deref(),
                    "owner" => Some(r.owner.as_str()),
                    _ => Some(r.event.as_str()),
                };
                text.is_some_and(|t| ilike_contains(t, p))
            })
    }

    /// The entries that pass, sorted by `order` (`field`, descending), ties by id.
    pub(crate) fn apply(&self, all: Vec<AuditRecord>, field: &str, desc: bool) -> Vec<AuditRecord> {
        let mut kept: Vec<AuditRecord> = all.into_iter().filter(|r| self.keeps(r)).collect();
        let text = |r: &AuditRecord| -> Option<String> {
            match field {
                "dag_id" => r.dag_id.clone(),
                "task_id" => r.task_id.clone(),
                "run_id" => r.run_id.clone(),
                "event" => Some(r.event.clone()),
                "owner" => Some(r.owner.clone()),
                "extra" => r.extra.clone(),
                _ => None,
            }
        };
        match field {
            "when" | "dttm" | "execution_date" | "logical_date" => {
                kept.sort_by(|a, b| a.when.cmp(&b.when).then(a.id.cmp(&b.id)));
            }
            "event_log_id" | "id" => kept.sort_by_key(|r| r.id),
            _ => kept.sort_by(|a, b| text(a).cmp(&text(b)).then(a.id.cmp(&b.id))),
        }
        if desc {
            kept.reverse();
        }
        kept
    }
}

/// The logical date of the run an entry names (Airflow records the run's
/// `execution_date` with the entry); None without a run or when it is gone.
pub(crate) fn logical_date(store: &Store, r: &AuditRecord) -> Option<DateTime<Utc>> {
    let (dag_id, run_id) = (r.dag_id.as_deref()?, r.run_id.as_deref()?);
    store.run(dag_id, run_id).ok().flatten()?.logical_date
}

/// The entries of a page as Airflow 2.10 answers them, with their runs' logical dates.
pub(crate) fn wire_all(store: &Store, page: Vec<AuditRecord>) -> Vec<EventLog> {
    page.into_iter()
        .map(|r| {
            let date = logical_date(store, &r);
            EventLog {
                execution_date: date,
                ..wire(r)
            }
        })
        .collect()
}

/// An entry as Airflow 2.10 answers it (without its run's logical date).
pub(crate) fn wire(r: AuditRecord) -> EventLog {
    EventLog {
        event_log_id: r.id,
        when: micros(r.when),
        dag_id: r.dag_id,
        task_id: r.task_id,
        run_id: r.run_id,
        map_index: r.map_index,
        try_number: r.try_number,
        event: r.event,
        execution_date: None,
        owner: Some(r.owner),
        extra: r.extra,
    }
}

fn date(params: &Params, name: &str) -> ApiResult<Option<DateTime<Utc>>> {
    params
        .last(name)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "`{name}` must be an RFC 3339 date-time, found {v:?}: {e}"
                    ))
                })
        })
        .transpose()
}

/// `GET /eventLogs`.
pub(super) async fn list_event_logs(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<EventLogCollection>> {
    let params = Params::parse(
        &uri,
        &[
            "limit",
            "offset",
            "order_by",
            "dag_id",
            "task_id",
            "run_id",
            "map_index",
            "try_number",
            "event",
            "owner",
            "before",
            "after",
            "included_events",
            "excluded_events",
        ],
    )?;
    let order = params.order_by(ORDER_FIELDS, "event_log_id")?;
    let text = |n: &str| params.last(n).filter(|v| !v.is_empty()).map(str::to_owned);
    let int = |n: &str| -> ApiResult<Option<i64>> {
        params
            .last(n)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("`{n}` must be an integer, found {v:?}"))
                })
            })
            .transpose()
    };
    let filter = Filter {
        dag_id: text("dag_id"),
        task_id: text("task_id"),
        run_id: text("run_id"),
        // Airflow 2.10 filters with `if map_index:`, so 0 filters nothing.
        map_index: int("map_index")?.filter(|m| *m != 0),
        try_number: int("try_number")?.filter(|t| *t != 0),
        owner: text("owner"),
        event: text("event"),
        included: params.all("included_events"),
        excluded: params.all("excluded_events"),
        before: date(&params, "before")?,
        after: date(&params, "after")?,
        patterns: Vec::new(),
    };
    let page = params.page()?;
    let (event_logs, total_entries) = read(&shared, move |store| {
        let kept = filter.apply(store.audit_log()?, &order.field, order.desc);
        let total = kept.len();
        Ok((wire_all(store, paged(kept, page)), total))
    })
    .await?;
    Ok(Json(EventLogCollection {
        event_logs,
        total_entries,
    }))
}

/// `GET /eventLogs/{event_log_id}`.
pub(super) async fn get_event_log(
    State(shared): State<Arc<Shared>>,
    Ids([id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<EventLog>> {
    Params::parse(&uri, &[])?;
    let not_found = || ApiError::not_found(format!("Event Log with id: `{id}` not found"));
    let Ok(n) = id.parse::<u64>() else {
        return Err(ApiError::bad_request(format!(
            "`event_log_id` must be an integer, found {id:?}"
        )));
    };
    let found = read(&shared, move |store| {
        Ok(store.audit_entry(n)?.map(|r| wire_all(store, vec![r])))
    })
    .await?;
    match found.and_then(|mut v| v.pop()) {
        Some(e) => Ok(Json(e)),
        None => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::ilike_contains;

    #[test]
    fn patterns_match_as_sql_ilike_inside_percent_signs() {
        assert!(ilike_contains("api.variable.create", "VARIABLE"));
        assert!(ilike_contains("api.variable.create", "var%create"));
        assert!(ilike_contains("abc", "a_c"));
        assert!(!ilike_contains("abc", "a_d"));
        assert!(ilike_contains("abc", ""));
    }
}
