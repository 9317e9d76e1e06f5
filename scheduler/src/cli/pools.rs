//! `lithoflow pools set|get|list|delete|import|export`, Airflow's verbs, output columns
//! and file format (`airflow/cli/commands/pool_command.py`, Airflow 2.10.5): on the state
//! store when no scheduler runs, through its API (`/pools`) when one holds it, so that
//! the scheduler applies a pool's new size at once. A change made on the store is recorded
//! in the event log as Airflow's CLI names it (`cli_pool_set|delete|import`).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::args_pools::PoolsCommand;
use crate::cli::audit;
use crate::cli::output::render;
use crate::cli::runs::StateAccess;
use crate::config::Settings;
use crate::store::{DEFAULT_POOL, PoolRecord, check_pool};
use lithoflow_api::{PoolBody, found};

/// The columns Airflow's `pools list` shows.
const COLUMNS: &[&str] = &["pool", "slots", "description", "include_deferred"];

pub(crate) async fn run(cmd: PoolsCommand, settings: &Settings) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout();
    match cmd {
        PoolsCommand::Set {
            name,
            slots,
            description,
            include_deferred,
            output: _,
        } => {
            let access = StateAccess::connect(settings).await?;
            let rec = PoolRecord::new(&name, slots, &description, include_deferred);
            set(&access, &rec).await?;
            if let StateAccess::Store(store) = &access {
                audit::record(store, "cli_pool_set", &crate::api::pool_audit_fields(&rec));
            }
            writeln!(out, "Pool {name} created")?;
        }
        PoolsCommand::Get { name, output } => {
            let Some(pool) = get(&StateAccess::connect(settings).await?, &name).await? else {
                bail!("Pool {name} does not exist");
            };
            write!(out, "{}", render(&[row(&pool)], COLUMNS, output.output))?;
        }
        PoolsCommand::List { output } => {
            let pools = list(&StateAccess::connect(settings).await?).await?;
            let rows: Vec<Map<String, Value>> = pools.iter().map(row).collect();
            write!(out, "{}", render(&rows, COLUMNS, output.output))?;
        }
        PoolsCommand::Delete { name, output: _ } => {
            if name == DEFAULT_POOL {
                bail!("{DEFAULT_POOL} cannot be deleted");
            }
            let deleted = match StateAccess::connect(settings).await? {
                StateAccess::Store(store) => {
                    let d = store.delete_pool(&name)?;
                    store.flush()?;
                    if d {
                        audit::record(&store, "cli_pool_delete", &json!({"pool_name": name}));
                    }
                    d
                }
                StateAccess::Api(client) => found(client.delete_pool(&name).await)?.is_some(),
            };
            if !deleted {
                bail!("Pool {name} does not exist");
            }
            writeln!(out, "Pool {name} deleted")?;
        }
        PoolsCommand::Import { file } => return import(settings, &file).await,
        PoolsCommand::Export { file } => {
            let pools = list(&StateAccess::connect(settings).await?).await?;
            let mut doc = Map::new();
            for p in &pools {
                doc.insert(
                    p.name.clone(),
                    json!({
                        "slots": p.slots,
                        "description": p.description,
                        "include_deferred": p.include_deferred,
                    }),
                );
            }
            // Airflow writes `json.dumps(pools, sort_keys=True, indent=4)`.
            let text = to_json_indent4(&Value::Object(doc))?;
            std::fs::write(&file, text)
                .with_context(|| format!("failed to write {}", file.display()))?;
            writeln!(out, "Exported {} pools to {}", pools.len(), file.display())?;
        }
    }
    Ok(Outcome::Ok)
}

fn row(p: &PoolRecord) -> Map<String, Value> {
    match json!({
        "pool": p.name,
        "slots": p.slots,
        "description": p.description,
        "include_deferred": p.include_deferred,
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn to_json_indent4(v: &Value) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser)?;
    Ok(String::from_utf8(buf)?)
}

fn from_wire(p: lithoflow_api::Pool) -> PoolRecord {
    PoolRecord::new(
        &p.name,
        p.slots,
        p.description.as_deref().unwrap_or(""),
        p.include_deferred,
    )
}

async fn get(access: &StateAccess, name: &str) -> anyhow::Result<Option<PoolRecord>> {
    Ok(match access {
        StateAccess::Store(store) => store.pool(name)?,
        StateAccess::Api(client) => found(client.pool(name).await)?.map(from_wire),
    })
}

async fn list(access: &StateAccess) -> anyhow::Result<Vec<PoolRecord>> {
    Ok(match access {
        StateAccess::Store(store) => store.pools()?,
        StateAccess::Api(client) => client.pools().await?.into_iter().map(from_wire).collect(),
    })
}

/// Creates or updates a pool (Airflow's `create_or_update_pool`).
async fn set(access: &StateAccess, pool: &PoolRecord) -> anyhow::Result<()> {
    check_pool(&pool.name, pool.slots).map_err(anyhow::Error::msg)?;
    match access {
        StateAccess::Store(store) => {
            store.put_pool(pool)?;
            store.flush()?;
        }
        StateAccess::Api(client) => {
            let body = PoolBody {
                name: pool.name.clone(),
                slots: pool.slots,
                description: Some(pool.description.clone()),
                include_deferred: pool.include_deferred,
            };
            if found(client.pool(&pool.name).await)?.is_some() {
                client.update_pool(&body).await?;
            } else {
                client.add_pool(&body).await?;
            }
        }
    }
    Ok(())
}

async fn import(settings: &Settings, file: &Path) -> anyhow::Result<Outcome> {
    if !file.exists() {
        bail!("Missing pools file {}", file.display());
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("failed to read {}", file.display()))?;
    let doc: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => bail!("Invalid json file: {e}"),
    };
    let Value::Object(pools) = doc else {
        bail!(
            "Invalid pools file {}: expected a JSON object of name: {{\"slots\": ..., \"description\": ...}}",
            file.display()
        );
    };
    let access = StateAccess::connect(settings).await?;
    let (mut ok, mut failed) = (0, Vec::new());
    for (name, v) in &pools {
        let slots = v.get("slots").and_then(Value::as_i64);
        let description = v.get("description").and_then(Value::as_str);
        let include_deferred = v
            .get("include_deferred")
            .map_or(Some(false), Value::as_bool);
        let (Some(slots), Some(description), Some(include_deferred)) =
            (slots, description, include_deferred)
        else {
            failed.push(name.clone());
            continue;
        };
        let rec = PoolRecord::new(name, slots, description, include_deferred);
        match set(&access, &rec).await {
            Ok(()) => ok += 1,
            Err(e) => {
                writeln!(std::io::stderr(), "Pool {name}: {e:#}")?;
                failed.push(name.clone());
            }
        }
    }
    if let StateAccess::Store(store) = &access {
        audit::record(
            store,
            "cli_pool_import",
            &json!({"file": file.display().to_string(), "updated": ok, "failed": failed}),
        );
    }
    if !failed.is_empty() {
        bail!("Failed to update pool(s): {}", failed.join(", "));
    }
    writeln!(std::io::stdout(), "Uploaded {ok} pool(s)")?;
    Ok(Outcome::Ok)
}

/// What a scheduled task instance waits for, in words: "waiting for a slot in pool p
/// (2 ahead)", or Airflow's reason for the other dependencies.
pub(crate) fn waiting_note(dep: &lithoflow_api::TaskFailedDependency) -> String {
    match (&dep.pool, dep.ahead) {
        (Some(pool), Some(ahead)) if dep.name == "Pool Slots Available" => {
            format!(
                "waiting for a slot in pool {pool} ({ahead} ahead): {}",
                dep.reason
            )
        }
        _ => dep.reason.clone(),
    }
}

/// Adds `waiting_for` to the rows of scheduled task instances of a run (through a
/// running scheduler, which knows what they wait for); whether any row got one.
pub(crate) async fn add_waiting_for(
    access: &StateAccess,
    dag_id: &str,
    run_id: &str,
    rows: &mut [Map<String, Value>],
) -> anyhow::Result<bool> {
    let StateAccess::Api(client) = access else {
        return Ok(false);
    };
    let mut any = false;
    for row in rows.iter_mut() {
        if row.get("state").and_then(Value::as_str) != Some("scheduled") {
            continue;
        }
        let Some(task_id) = row
            .get("task_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            continue;
        };
        let Some(deps) = found(client.ti_dependencies(dag_id, run_id, &task_id).await)? else {
            continue;
        };
        if let Some(dep) = deps.dependencies.first() {
            row.insert("waiting_for".to_owned(), Value::String(waiting_note(dep)));
            any = true;
        }
    }
    Ok(any)
}
