//! `lithoflow variables set|get|list|delete|import|export`, Airflow's verbs and file
//! format (`airflow/cli/commands/variable_command.py`, Airflow 2.10.5): on the state
//! store when no scheduler runs, through its API (`/variables`) when one holds it. A value
//! whose key looks secret is printed as `***` unless `variables get --reveal`; exports go
//! to a file created 0600, never to the terminal. A change made on the store is recorded
//! in the event log as Airflow's CLI names it (`cli_variables_set|delete|import`), without
//! the value.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::args_values::{OnExisting, VariablesCommand};
use crate::cli::audit;
use crate::cli::output::render;
use crate::cli::runs::StateAccess;
use crate::config::Settings;
use crate::values::{self, ProcessEnv};
use lithoflow_api::found;
use lithoflow_dag::redact::MASK;

pub(crate) async fn run(cmd: VariablesCommand, settings: &Settings) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout();
    match cmd {
        VariablesCommand::Set {
            key,
            value,
            json,
            description,
        } => {
            let value = if json {
                let v: Value =
                    serde_json::from_str(&value).context("--json: the value is not JSON")?;
                py_json_indent2(&v)
            } else {
                value
            };
            set(settings, &key, &value, description.as_deref()).await?;
            writeln!(out, "Variable {key} created")?;
        }
        VariablesCommand::Get {
            key,
            default,
            json,
            reveal,
        } => return get(settings, &key, default, json, reveal).await,
        VariablesCommand::List { output } => {
            let rows: Vec<Map<String, Value>> = match StateAccess::connect(settings).await? {
                StateAccess::Store(store) => store
                    .variables()?
                    .into_iter()
                    .map(|v| row(json!({"key": v.key, "description": v.description})))
                    .collect(),
                StateAccess::Api(client) => client
                    .variables()
                    .await?
                    .into_iter()
                    .map(|v| row(json!({"key": v.key, "description": v.description})))
                    .collect(),
            };
            write!(
                out,
                "{}",
                render(&rows, &["key", "description"], output.output)
            )?;
        }
        VariablesCommand::Delete { key } => {
            let deleted = match StateAccess::connect(settings).await? {
                StateAccess::Store(store) => {
                    let deleted = store.delete_variable(&key)?;
                    if deleted {
                        audit::record(&store, "cli_variables_delete", &json!({"key": key}));
                    }
                    deleted
                }
                StateAccess::Api(client) => found(client.delete_variable(&key).await)?.is_some(),
            };
            if !deleted {
                bail!("Variable {key} does not exist");
            }
            writeln!(out, "Variable {key} deleted")?;
        }
        VariablesCommand::Import {
            file,
            action_on_existing_key,
        } => return import(settings, &file, action_on_existing_key).await,
        VariablesCommand::Export { file } => {
            let store = match StateAccess::connect(settings).await? {
                StateAccess::Store(store) => store,
                StateAccess::Api(_) => bail!(
                    "`variables export` writes every value, secret ones too, which the API never answers: stop the scheduler to export"
                ),
            };
            let mut doc = Map::new();
            for v in store.variables()? {
                // Values that are JSON are written as JSON, as Airflow does.
                let value = serde_json::from_str::<Value>(&v.value)
                    .unwrap_or_else(|_| Value::String(v.value.clone()));
                doc.insert(v.key, value);
            }
            doc.sort_keys();
            let n = doc.len();
            write_private(
                &file,
                &format!("{}\n", serde_json::to_string_pretty(&Value::Object(doc))?),
            )?;
            writeln!(
                out,
                "{n} variables successfully exported to {}",
                file.display()
            )?;
        }
    }
    Ok(Outcome::Ok)
}

fn row(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `json.dumps(value, indent=2)`, as `Variable.set(serialize_json=True)` stores it.
fn py_json_indent2(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

async fn set(
    settings: &Settings,
    key: &str,
    value: &str,
    description: Option<&str>,
) -> anyhow::Result<()> {
    values::check_variable_key(key)?;
    if let Some((name, _)) = values::env_variable(&ProcessEnv, key) {
        writeln!(
            std::io::stderr(),
            "warning: {name} defines variable {key}, and the environment comes first: the stored value is updated, but {name}'s is the one read"
        )?;
    }
    match StateAccess::connect(settings).await? {
        StateAccess::Store(store) => {
            values::set_variable(&store, key, value, description)?;
            audit::record(
                &store,
                "cli_variables_set",
                &json!({"key": key, "description": description}),
            );
        }
        StateAccess::Api(client) => {
            client
                .set_variable(&lithoflow_api::Variable {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    description: description.map(str::to_owned),
                })
                .await?;
        }
    }
    Ok(())
}

async fn get(
    settings: &Settings,
    key: &str,
    default: Option<String>,
    as_json: bool,
    reveal: bool,
) -> anyhow::Result<Outcome> {
    let secret = values::is_sensitive(key);
    let value = match values::env_variable(&ProcessEnv, key) {
        Some((_, v)) => Some(v),
        None => match StateAccess::connect(settings).await? {
            StateAccess::Store(store) => store.variable(key)?.map(|v| v.value),
            StateAccess::Api(client) => {
                let v = found(client.variable(key).await)?.map(|v| v.value);
                if reveal && secret && v.is_some() {
                    bail!(
                        "variable {key} looks secret and the API never answers its value: stop the scheduler to read it with --reveal"
                    );
                }
                v
            }
        },
    };
    let Some(value) = value else {
        return match default {
            Some(d) => {
                writeln!(std::io::stdout(), "{d}")?;
                Ok(Outcome::Ok)
            }
            None => bail!("Variable {key} does not exist"),
        };
    };
    let shown = if as_json {
        let v: Value =
            serde_json::from_str(&value).with_context(|| format!("variable {key} is not JSON"))?;
        if secret && !reveal {
            MASK.to_owned()
        } else if reveal {
            serde_json::to_string_pretty(&v)?
        } else {
            serde_json::to_string_pretty(&crate::values::mask_json(&v))?
        }
    } else if secret && !reveal {
        MASK.to_owned()
    } else {
        value
    };
    writeln!(std::io::stdout(), "{shown}")?;
    Ok(Outcome::Ok)
}

async fn import(
    settings: &Settings,
    file: &Path,
    on_existing: OnExisting,
) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("Missing variables file {}", file.display()))?;
    let doc: Value = serde_json::from_str(&text)
        .with_context(|| format!("Invalid variables file {}", file.display()))?;
    let Value::Object(vars) = doc else {
        bail!(
            "Invalid variables file {}: expected a JSON object of key: value",
            file.display()
        );
    };
    let access = StateAccess::connect(settings).await?;
    let mut existing = Vec::new();
    for k in vars.keys() {
        let exists = match &access {
            StateAccess::Store(store) => store.variable(k)?.is_some(),
            StateAccess::Api(client) => found(client.variable(k).await)?.is_some(),
        };
        if exists {
            existing.push(k.clone());
        }
    }
    if on_existing == OnExisting::Fail && !existing.is_empty() {
        bail!("Failed. These keys: {existing:?} already exists.");
    }
    let (mut ok, mut failed, mut skipped) = (0, 0, Vec::new());
    let mut out = std::io::stdout();
    for (k, v) in &vars {
        if on_existing == OnExisting::Skip && existing.contains(k) {
            skipped.push(k.clone());
            continue;
        }
        let value = match v {
            Value::String(s) => s.clone(),
            other => py_json_indent2(other),
        };
        match set_quiet(&access, k, &value).await {
            Ok(()) => ok += 1,
            Err(e) => {
                writeln!(out, "Variable import failed: {e:#}")?;
                failed += 1;
            }
        }
    }
    if let StateAccess::Store(store) = &access {
        audit::record(
            store,
            "cli_variables_import",
            &json!({"file": file.display().to_string(), "updated": ok, "failed": failed}),
        );
    }
    writeln!(
        out,
        "{ok} of {} variables successfully updated.",
        vars.len()
    )?;
    if failed > 0 {
        writeln!(out, "{failed} variable(s) failed to be updated.")?;
    }
    if !skipped.is_empty() {
        writeln!(
            out,
            "The variables with these keys: {skipped:?} were skipped because they already exists"
        )?;
    }
    Ok(if failed > 0 {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

async fn set_quiet(access: &StateAccess, key: &str, value: &str) -> anyhow::Result<()> {
    values::check_variable_key(key)?;
    match access {
        StateAccess::Store(store) => values::set_variable(store, key, value, None)?,
        StateAccess::Api(client) => {
            client
                .set_variable(&lithoflow_api::Variable {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    description: None,
                })
                .await?;
        }
    }
    Ok(())
}

/// Writes `text` to `path`, created (or truncated) with mode 0600: exports hold secrets.
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    // An existing file keeps its mode on open: make it private too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("failed to make {} private", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("failed to write {}", path.display()))
}
