//! `lithoflow tasks xcom DAG_ID RUN_ID [TASK_ID]`: a run's XCom entries (every key and
//! map index a task pushed, with its value), from the state store or through a running
//! scheduler's API. Airflow's CLI has no XCom command (its UI and REST API list them);
//! this one prints what `GET .../xcomEntries` lists, with the values.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::OutputFormat;
use crate::cli::output::render;
use crate::cli::runs::StateAccess;
use crate::config::Settings;

/// What to list.
pub(crate) struct XComQuery<'a> {
    pub dag_id: &'a str,
    pub run_id: &'a str,
    /// One task, or every task instance of the run.
    pub task_id: Option<&'a str>,
    /// Only this key.
    pub key: Option<&'a str>,
    /// Only this map index.
    pub map_index: Option<i32>,
}

/// One row: task, key, map index, when it was pushed, the value.
struct Row {
    task_id: String,
    key: String,
    map_index: i32,
    timestamp: Option<chrono::DateTime<chrono::Utc>>,
    value: Value,
}

/// `tasks xcom`.
pub(crate) async fn list(
    q: &XComQuery<'_>,
    settings: &Settings,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let access = StateAccess::connect(settings).await?;
    let run = access.run_of(q.dag_id, q.run_id).await?;
    let task_ids: Vec<String> = match q.task_id {
        Some(t) => vec![t.to_owned()],
        None => access
            .tis(q.dag_id, q.run_id)
            .await?
            .into_iter()
            .map(|t| t.task_id)
            .collect(),
    };
    let mut rows = Vec::new();
    for task_id in &task_ids {
        rows.extend(entries(&access, q, &run.run_id, task_id).await?);
    }
    let rows: Vec<Map<String, Value>> = rows
        .into_iter()
        .filter(|r| {
            q.key.is_none_or(|k| r.key == k) && q.map_index.is_none_or(|i| r.map_index == i)
        })
        .map(|r| {
            let shown = if format == OutputFormat::Json {
                r.value
            } else {
                Value::String(short(&r.value.to_string()))
            };
            let mut m = Map::new();
            m.insert("dag_id".to_owned(), json!(q.dag_id));
            m.insert("run_id".to_owned(), json!(q.run_id));
            m.insert("task_id".to_owned(), json!(r.task_id));
            m.insert("key".to_owned(), json!(r.key));
            m.insert("map_index".to_owned(), json!(r.map_index));
            m.insert(
                "timestamp".to_owned(),
                r.timestamp.map_or(Value::Null, |t| {
                    json!(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false))
                }),
            );
            m.insert("value".to_owned(), shown);
            m
        })
        .collect();
    let cols = ["task_id", "key", "map_index", "timestamp", "value"];
    std::io::stdout().write_all(render(&rows, &cols, format).as_bytes())?;
    Ok(Outcome::Ok)
}

/// A task instance's entries with their values.
async fn entries(
    access: &StateAccess,
    q: &XComQuery<'_>,
    run_id: &str,
    task_id: &str,
) -> anyhow::Result<Vec<Row>> {
    Ok(match access {
        StateAccess::Store(store) => store
            .xcom_entries(q.dag_id, run_id, task_id)?
            .into_iter()
            .map(|e| Row {
                task_id: task_id.to_owned(),
                key: e.key,
                map_index: e.map_index,
                timestamp: Some(e.record.timestamp),
                value: e.record.value,
            })
            .collect(),
        StateAccess::Api(client) => {
            let listed = match client.xcom_entries(q.dag_id, run_id, task_id).await {
                Ok(listed) => listed,
                // A task instance not created yet has no entries.
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            let mut out = Vec::with_capacity(listed.len());
            for item in listed {
                if q.key.is_some_and(|k| item.key != k)
                    || q.map_index.is_some_and(|i| item.map_index != i)
                {
                    continue;
                }
                let entry = client
                    .xcom_entry(q.dag_id, run_id, task_id, &item.key, item.map_index)
                    .await?;
                out.push(Row {
                    task_id: task_id.to_owned(),
                    key: entry.key,
                    map_index: entry.map_index,
                    timestamp: entry.timestamp,
                    value: entry.value,
                });
            }
            out
        }
    })
}

/// A value's JSON for a table cell: at most 120 characters.
fn short(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(MAX - 1).collect();
    s.push('…');
    s
}
