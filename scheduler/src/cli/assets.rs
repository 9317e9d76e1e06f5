//! `lithoflow assets list` (Airflow 3's `airflow assets list`: columns name, uri, group,
//! extra) and `lithoflow assets events [--asset URI] [--limit N]` (the newest events
//! first): on the state store when no scheduler runs, through its API (`/datasets`) when
//! one holds it. Extras are redacted.

use std::io::Write;

use clap::Subcommand;
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::args::OutputArg;
use crate::cli::output::render;
use crate::cli::runs::StateAccess;
use crate::config::Settings;
use lithoflow_api::EventFilter;
use lithoflow_dag::redact::redact_map;

/// `lithoflow assets ...`
#[derive(Debug, Subcommand)]
pub enum AssetsCommand {
    /// List the assets the scheduler knows (named by loaded DAGs or by events).
    List {
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// List asset events, the newest first, with the runs each triggered.
    Events {
        /// Only this asset's events (its URI, as written in DAG files).
        #[arg(long, value_name = "URI")]
        asset: Option<String>,
        /// At most this many events.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
}

const ASSET_COLUMNS: &[&str] = &["name", "uri", "group", "extra"];
const EVENT_COLUMNS: &[&str] = &[
    "id",
    "timestamp",
    "uri",
    "source_dag_id",
    "source_task_id",
    "source_run_id",
    "source_map_index",
    "extra",
    "triggered_runs",
];

fn row(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(crate) async fn run(cmd: AssetsCommand, settings: &Settings) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout();
    match cmd {
        AssetsCommand::List { output } => {
            let rows: Vec<Map<String, Value>> = match StateAccess::connect(settings).await? {
                StateAccess::Store(store) => store
                    .assets()?
                    .into_iter()
                    .map(|a| {
                        row(json!({
                            "id": a.id, "name": a.name, "uri": a.uri, "group": a.group,
                            "extra": redact_map(&a.extra),
                            "created_at": lithoflow_api::iso_string(&a.created_at),
                            "updated_at": lithoflow_api::iso_string(&a.updated_at),
                        }))
                    })
                    .collect(),
                StateAccess::Api(client) => client
                    .datasets()
                    .await?
                    .into_iter()
                    .map(|d| {
                        row(json!({
                            "id": d.id, "name": d.name, "uri": d.uri, "group": d.group,
                            "extra": d.extra.unwrap_or_default(),
                            "created_at": d.created_at.as_ref().map(lithoflow_api::iso_string),
                            "updated_at": d.updated_at.as_ref().map(lithoflow_api::iso_string),
                            "consuming_dags": d.consuming_dags.iter().map(|c| c.dag_id.clone()).collect::<Vec<_>>(),
                            "producing_tasks": d.producing_tasks.iter().map(|t| format!("{}.{}", t.dag_id, t.task_id)).collect::<Vec<_>>(),
                        }))
                    })
                    .collect(),
            };
            write!(out, "{}", render(&rows, ASSET_COLUMNS, output.output))?;
        }
        AssetsCommand::Events {
            asset,
            limit,
            output,
        } => {
            let rows = events(settings, asset, limit).await?;
            write!(out, "{}", render(&rows, EVENT_COLUMNS, output.output))?;
        }
    }
    Ok(Outcome::Ok)
}

async fn events(
    settings: &Settings,
    asset: Option<String>,
    limit: Option<usize>,
) -> anyhow::Result<Vec<Map<String, Value>>> {
    let limit = limit.unwrap_or(usize::MAX);
    Ok(match StateAccess::connect(settings).await? {
        StateAccess::Store(store) => {
            let mut all = match &asset {
                Some(uri) => {
                    let normal =
                        lithoflow_dag::asset::sanitize_uri(uri).map_err(anyhow::Error::msg)?;
                    store.asset_events_of(&normal)?
                }
                None => store.asset_events_after(0)?,
            };
            all.reverse();
            all.truncate(limit);
            let triggered = store.runs_triggered_by_events()?;
            all.into_iter()
                .map(|e| {
                    let runs: Vec<String> = triggered
                        .get(&e.id)
                        .into_iter()
                        .flatten()
                        .map(|(d, r)| format!("{d}/{r}"))
                        .collect();
                    row(json!({
                        "id": e.id,
                        "timestamp": lithoflow_api::iso_string(&e.timestamp),
                        "uri": e.uri,
                        "source_dag_id": e.source.dag_id,
                        "source_task_id": e.source.task_id,
                        "source_run_id": e.source.run_id,
                        "source_map_index": e.source.map_index,
                        "extra": redact_map(&e.extra),
                        "triggered_runs": runs,
                    }))
                })
                .collect()
        }
        StateAccess::Api(client) => client
            .dataset_events(&EventFilter {
                uri: asset,
                limit: Some(limit),
            })
            .await?
            .into_iter()
            .map(|e| {
                let runs: Vec<String> = e
                    .created_dagruns
                    .iter()
                    .map(|r| format!("{}/{}", r.dag_id, r.run_id))
                    .collect();
                row(json!({
                    "id": e.id,
                    "timestamp": lithoflow_api::iso_string(&e.timestamp),
                    "uri": e.dataset_uri,
                    "source_dag_id": e.source_dag_id,
                    "source_task_id": e.source_task_id,
                    "source_run_id": e.source_run_id,
                    "source_map_index": e.source_map_index,
                    "extra": e.extra.unwrap_or_default(),
                    "triggered_runs": runs,
                }))
            })
            .collect(),
    })
}
