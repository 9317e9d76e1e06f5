//! The event log from the command line: `lithoflow audit-log [--dag-id D] [--event E]
//! [--limit N] [-o json]` lists the newest entries (Airflow has no such command: its
//! users read the log in the web UI, which lithoflow has not), from the store, or
//! through `/api/v1/eventLogs` when a scheduler holds it. [`record`] is how the CLI's
//! commands that change variables, connections and pools write their entry when they
//! change the store themselves (through the API, the API records it).

use std::io::Write as _;

use clap::Args;
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::OutputArg;
use crate::cli::output::render;
use crate::cli::runs::StateAccess;
use crate::config::Settings;
use crate::store::{AuditRecord, Store};

/// `lithoflow audit-log`.
#[derive(Debug, Args)]
pub struct AuditLogArgs {
    /// Only entries about this DAG.
    #[arg(long, value_name = "DAG_ID")]
    pub dag_id: Option<String>,
    /// Only entries of this event (`trigger`, `cli_variables_set`,
    /// `api.variable.create`, `post_pool`, ...).
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,
    /// How many of the newest entries to show.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArg,
}

/// Records `event` (Airflow's CLI name, `cli_<command>`) by the OS user with `extra`
/// (never a secret). A failure to record is a warning: the change is made.
pub(crate) fn record(store: &Store, event: &str, extra: &Value) {
    crate::ops::audit(
        store,
        AuditRecord::new(event, &crate::ops::os_user()).with_extra(extra),
    );
}

fn row(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `lithoflow audit-log`.
pub(crate) async fn run(args: AuditLogArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    let rows: Vec<Map<String, Value>> = match StateAccess::connect(settings).await? {
        StateAccess::Store(store) => {
            let mut all = store.audit_log()?;
            all.retain(|r| {
                args.dag_id
                    .as_ref()
                    .is_none_or(|d| r.dag_id.as_ref() == Some(d))
                    && args.event.as_ref().is_none_or(|e| *e == r.event)
            });
            all.reverse();
            all.truncate(args.limit);
            all.into_iter()
                .map(|r| {
                    row(json!({
                        "id": r.id,
                        "when": lithoflow_api::iso_string(&r.when),
                        "event": r.event,
                        "owner": r.owner,
                        "dag_id": r.dag_id,
                        "run_id": r.run_id,
                        "task_id": r.task_id,
                        "extra": r.extra,
                    }))
                })
                .collect()
        }
        StateAccess::Api(client) => client
            .event_logs(args.dag_id.as_deref(), args.event.as_deref(), args.limit)
            .await?
            .into_iter()
            .map(|e| {
                row(json!({
                    "id": e.event_log_id,
                    "when": lithoflow_api::iso_string(&e.when),
                    "event": e.event,
                    "owner": e.owner,
                    "dag_id": e.dag_id,
                    "run_id": e.run_id,
                    "task_id": e.task_id,
                    "extra": e.extra,
                }))
            })
            .collect(),
    };
    let mut out = std::io::stdout();
    write!(
        out,
        "{}",
        render(
            &rows,
            &["id", "when", "event", "owner", "dag_id", "run_id", "extra"],
            args.output.output,
        )
    )?;
    Ok(Outcome::Ok)
}
