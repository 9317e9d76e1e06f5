//! XCom entries: `GET .../taskInstances/{task_id}/xcomEntries` (`~` for the DAG, the
//! run or the task) and `GET .../xcomEntries/{xcom_key}`, as Airflow 2.10's
//! `api_connexion/endpoints/xcom_endpoint.py`; [`select`] is shared with `/api/v2`.
//! Values are masked (a task may push a secret it was given).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::extract::{ApiError, ApiResult, Ids, Params, paged};
use super::lookup::{known_dag, read, run_of};
use super::task_instances::map_index_param;
use crate::control::Shared;
use crate::store::{DagRunRecord, Store, StoreError, XComEntry as StoredEntry};
use lithoflow_api::{XComCollection, XComCollectionItem, XComEntry};

/// One stored entry with where it belongs.
pub(crate) struct Found {
    pub(crate) dag_id: String,
    pub(crate) run: DagRunRecord,
    pub(crate) task_id: String,
    pub(crate) entry: StoredEntry,
}

/// Which entries a listing shows (`None`: any; Airflow's `~`).
#[derive(Debug, Default, Clone)]
pub(crate) struct XComFilter {
    pub(crate) dag_id: Option<String>,
    pub(crate) run_id: Option<String>,
    pub(crate) task_id: Option<String>,
    pub(crate) map_index: Option<i32>,
    pub(crate) key: Option<String>,
}

/// The entries `filter` selects, by DAG, task, run, map index and key (Airflow's
/// order, its index's).
pub(crate) fn select(store: &Store, filter: &XComFilter) -> Result<Vec<Found>, StoreError> {
    let runs = match (&filter.dag_id, &filter.run_id) {
        (Some(d), Some(r)) => store.run(d, r)?.into_iter().collect(),
        (Some(d), None) => store.runs(d)?,
        (None, _) => {
            let mut all = store.all_runs()?;
            if let Some(r) = &filter.run_id {
                all.retain(|run| &run.run_id == r);
            }
            all
        }
    };
    let mut out = Vec::new();
    for run in runs {
        let mut tasks: Vec<String> = match &filter.task_id {
            Some(t) => vec![t.clone()],
            None => store
                .tis(&run.dag_id, &run.run_id)?
                .into_iter()
                .map(|t| t.task_id)
                .collect(),
        };
        tasks.dedup();
        for task_id in tasks {
            for entry in store.xcom_entries(&run.dag_id, &run.run_id, &task_id)? {
                if filter.map_index.is_some_and(|i| entry.map_index != i)
                    || filter.key.as_ref().is_some_and(|k| &entry.key != k)
                {
                    continue;
                }
                out.push(Found {
                    dag_id: run.dag_id.clone(),
                    run: run.clone(),
                    task_id: task_id.clone(),
                    entry,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        (
            &a.dag_id,
            &a.task_id,
            &a.run.run_id,
            a.entry.map_index,
            &a.entry.key,
        )
            .cmp(&(
                &b.dag_id,
                &b.task_id,
                &b.run.run_id,
                b.entry.map_index,
                &b.entry.key,
            ))
    });
    Ok(out)
}

/// The run's logical date as Airflow 2 calls it (`execution_date`, required by its
/// clients): its `run_after` when the run has none.
pub(crate) fn execution_date(run: &DagRunRecord) -> DateTime<Utc> {
    run.logical_date.unwrap_or(run.run_after)
}

/// `GET .../taskInstances/{task_id}/xcomEntries`: the entries without their values,
/// filtered by `map_index` and `xcom_key`; `~` for the DAG, run or task: all of them.
pub(super) async fn list_xcom(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
) -> ApiResult<Json<XComCollection>> {
    let params = Params::parse(&uri, &["map_index", "xcom_key", "limit", "offset"])?;
    let page = params.page()?;
    let filter = XComFilter {
        dag_id: (dag_id != "~").then_some(dag_id),
        run_id: (run_id != "~").then_some(run_id),
        task_id: (task_id != "~").then_some(task_id),
        map_index: map_index_param(&params)?,
        key: params.last("xcom_key").map(str::to_owned),
    };
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        if let Some(d) = &filter.dag_id {
            known_dag(&sh, store, d)?;
            if let Some(r) = &filter.run_id {
                run_of(store, d, r)?;
            }
        }
        let found = select(store, &filter)?;
        let total_entries = found.len();
        let xcom_entries = paged(found, page)
            .into_iter()
            .map(|f| XComCollectionItem {
                key: f.entry.key,
                timestamp: Some(f.entry.record.timestamp),
                execution_date: Some(execution_date(&f.run)),
                map_index: f.entry.map_index,
                task_id: f.task_id,
                dag_id: f.dag_id,
            })
            .collect();
        Ok(XComCollection {
            xcom_entries,
            total_entries,
        })
    })
    .await
    .map(Json)
}

/// `GET .../taskInstances/{task_id}/xcomEntries/{xcom_key}`: one entry with its value,
/// at `map_index` (default -1). `stringify` (default true, as Airflow 2.10) writes the
/// value as Python writes it (`str(value)`: `{'a': 1}`, `True`, `None`); `false` gives
/// the JSON value itself. `deserialize` changes nothing (values are JSON already).
pub(super) async fn get_xcom(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, key]): Ids<4>,
    uri: Uri,
) -> ApiResult<Json<XComEntry>> {
    let params = Params::parse(&uri, &["map_index", "deserialize", "stringify"])?;
    let map_index = map_index_param(&params)?.unwrap_or(crate::store::UNMAPPED);
    params.bool("deserialize")?;
    let stringify = params.bool("stringify")?.unwrap_or(true);
    let sh = Arc::clone(&shared);
    read(&shared, move |store| {
        known_dag(&sh, store, &dag_id)?;
        let run = run_of(store, &dag_id, &run_id)?;
        let entry = store
            .xcom_entries(&dag_id, &run_id, &task_id)?
            .into_iter()
            .find(|e| e.key == key && e.map_index == map_index)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "XCom entry not found: task `{task_id}` of run `{run_id}` has no XCom `{key}` at map index {map_index}"
                ))
            })?;
        let value = crate::values::mask_value(store, &entry.record.value);
        Ok(XComEntry {
            key,
            timestamp: Some(entry.record.timestamp),
            execution_date: Some(execution_date(&run)),
            dag_id,
            dag_run_id: run_id,
            task_id,
            map_index,
            logical_date: run.logical_date,
            value: if stringify {
                Value::String(python_str(&value))
            } else {
                value
            },
        })
    })
    .await
    .map(Json)
}

/// `str(value)` in Python of a JSON value: what Airflow's `stringify=true` answers.
pub(crate) fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

/// `repr(value)` in Python of a JSON value.
fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => python_quote(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", python_quote(k), python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A string as Python's `repr` quotes it: single quotes unless the text has one and no
/// double quote.
fn python_quote(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_stringified_as_python_writes_them() {
        assert_eq!(python_str(&json!("text")), "text");
        assert_eq!(python_str(&json!(null)), "None");
        assert_eq!(python_str(&json!(true)), "True");
        assert_eq!(python_str(&json!(30)), "30");
        assert_eq!(python_str(&json!(1.5)), "1.5");
        assert_eq!(
            python_str(&json!({"n": 3, "items": [0, 1], "ok": false, "s": "it's"})),
            "{'n': 3, 'items': [0, 1], 'ok': False, 's': \"it's\"}"
        );
        assert_eq!(python_str(&json!(["a\nb", "q'\""])), "['a\\nb', 'q\\'\"']");
    }
}
