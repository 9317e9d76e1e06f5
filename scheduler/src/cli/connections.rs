//! `lithoflow connections add|get|list|delete|import|export`, Airflow's verbs, flags and
//! file formats (`airflow/cli/commands/connection_command.py`,
//! `airflow/secrets/local_filesystem.py`, Airflow 2.10.5): on the state store when no
//! scheduler runs, through its API (`/connections`) when one holds it. A password is never
//! printed (`***`, also inside the URI), nor are extras under secret-looking keys;
//! `export` writes passwords, as Airflow does, but only to the user's file, created 0600.
//! A change made on the store is recorded in the event log as Airflow's CLI names it
//! (`cli_connections_add|delete|import`), without the password.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::args_values::{AddConnection, ConnectionsCommand, FileFormat, Serialization};
use crate::cli::audit;
use crate::cli::output::render;
use crate::cli::runs::StateAccess;
use crate::cli::variables::write_private;
use crate::config::Settings;
use crate::values::{self, Connection, ProcessEnv};
use lithoflow_api::found;
use lithoflow_dag::redact::MASK;

/// Columns of `get` and `list`, as Airflow's `_connection_mapper`.
const COLUMNS: &[&str] = &[
    "conn_id",
    "conn_type",
    "description",
    "host",
    "schema",
    "login",
    "password",
    "port",
    "extra_dejson",
    "get_uri",
];

pub(crate) async fn run(cmd: ConnectionsCommand, settings: &Settings) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout();
    match cmd {
        ConnectionsCommand::Add(add) => {
            let AddConnection {
                conn_id,
                conn_uri,
                conn_json,
                conn_type,
                conn_host,
                conn_login,
                conn_password,
                conn_schema,
                conn_port,
                conn_extra,
                conn_description,
            } = *add;
            values::check_conn_id(&conn_id).context("Could not create connection")?;
            let fields = [
                ("conn_type", &conn_type),
                ("conn_host", &conn_host),
                ("conn_login", &conn_login),
                ("conn_password", &conn_password),
                ("conn_schema", &conn_schema),
                ("conn_port", &conn_port),
            ];
            let mut conn = match (&conn_uri, &conn_json) {
                (Some(_), Some(_)) => bail!("Cannot supply both conn-uri and conn-json"),
                (None, None) if conn_type.is_none() => {
                    bail!("Must supply either conn-uri or conn-json if not supplying conn-type")
                }
                (uri, json) if uri.is_some() || json.is_some() => {
                    let mut bad: Vec<&str> = fields
                        .iter()
                        .filter(|(_, v)| v.is_some())
                        .map(|(n, _)| *n)
                        .collect();
                    if json.is_some() && conn_extra.is_some() {
                        bad.push("--conn-extra");
                    }
                    if !bad.is_empty() {
                        bail!(
                            "The following args are not compatible with the --conn-{} flag: {bad:?}",
                            if uri.is_some() { "uri" } else { "json" }
                        );
                    }
                    match (uri, json) {
                        (Some(u), _) => {
                            if crate::values::uri_scheme(u).is_empty() {
                                bail!(
                                    "The URI provided to --conn-uri is invalid: it has no scheme (the connection type)"
                                );
                            }
                            let mut c = Connection::from_uri(&conn_id, u)
                                .map_err(|e| anyhow::anyhow!("--conn-uri: {e}"))?;
                            c.description = conn_description.clone();
                            if let Some(e) = &conn_extra {
                                c.extra = Some(e.clone());
                            }
                            c
                        }
                        (None, Some(j)) => {
                            let c = Connection::from_json(&conn_id, j)
                                .map_err(|e| anyhow::anyhow!("--conn-json: {e}"))?;
                            if c.conn_type.is_empty() {
                                bail!("conn-json is invalid; must supply conn-type");
                            }
                            c
                        }
                        (None, None) => unreachable_fields()?,
                    }
                }
                _ => Connection {
                    conn_id: conn_id.clone(),
                    conn_type: conn_type.clone().unwrap_or_default(),
                    description: conn_description.clone(),
                    host: conn_host.clone(),
                    schema: conn_schema.clone(),
                    login: conn_login.clone(),
                    password: conn_password.clone(),
                    port: conn_port
                        .as_deref()
                        .map(|p| {
                            p.trim().parse::<u16>().map_err(|_| {
                                anyhow::anyhow!(
                                    "--conn-port must be an integer in 0-65535, found {p:?}"
                                )
                            })
                        })
                        .transpose()?,
                    extra: conn_extra.clone(),
                },
            };
            if let Some(e) = conn.extra.as_deref()
                && !matches!(serde_json::from_str::<Value>(e), Ok(Value::Object(_)))
            {
                bail!("the connection's extra must be a JSON object");
            }
            conn.conn_id = conn_id.clone();
            let added = match StateAccess::connect(settings).await? {
                StateAccess::Store(store) => {
                    if store.connection(&conn_id)?.is_some() {
                        false
                    } else {
                        store.put_connection(&conn)?;
                        audit::record(
                            &store,
                            "cli_connections_add",
                            &crate::api::connection_audit_fields(&conn),
                        );
                        true
                    }
                }
                StateAccess::Api(client) => match client.add_connection(&to_wire(&conn)).await {
                    Ok(_) => true,
                    Err(e) if e.status() == Some(409) => false,
                    Err(e) => return Err(e.into()),
                },
            };
            if !added {
                bail!("A connection with `conn_id`={conn_id} already exists.");
            }
            writeln!(
                out,
                "Successfully added `conn_id`={conn_id} : {}",
                shown_uri(&conn)
            )?;
        }
        ConnectionsCommand::Get { conn_id, output } => {
            let conn = match values::env_connection(&ProcessEnv, &conn_id)? {
                Some(c) => Some(row(&c, true)),
                None => match StateAccess::connect(settings).await? {
                    StateAccess::Store(store) => store.connection(&conn_id)?.map(|c| row(&c, true)),
                    StateAccess::Api(client) => {
                        found(client.connection(&conn_id).await)?.map(|w| row(&from_wire(w), false))
                    }
                },
            };
            let Some(conn) = conn else {
                bail!("Connection not found.");
            };
            write!(out, "{}", render(&[conn], COLUMNS, output.output))?;
        }
        ConnectionsCommand::List { conn_id, output } => {
            let mut rows = match StateAccess::connect(settings).await? {
                StateAccess::Store(store) => store
                    .connections()?
                    .iter()
                    .map(|c| row(c, true))
                    .collect::<Vec<_>>(),
                StateAccess::Api(client) => {
                    let mut rows = Vec::new();
                    for item in client.connections().await? {
                        if let Some(w) = found(client.connection(&item.connection_id).await)? {
                            rows.push(row(&from_wire(w), false));
                        }
                    }
                    rows
                }
            };
            if let Some(id) = conn_id {
                rows.retain(|r| r.get("conn_id").and_then(Value::as_str) == Some(id.as_str()));
            }
            write!(out, "{}", render(&rows, COLUMNS, output.output))?;
        }
        ConnectionsCommand::Delete { conn_id } => {
            let deleted = match StateAccess::connect(settings).await? {
                StateAccess::Store(store) => {
                    let deleted = store.delete_connection(&conn_id)?;
                    if deleted {
                        audit::record(
                            &store,
                            "cli_connections_delete",
                            &json!({"conn_id": conn_id}),
                        );
                    }
                    deleted
                }
                StateAccess::Api(client) => {
                    found(client.delete_connection(&conn_id).await)?.is_some()
                }
            };
            if !deleted {
                bail!("Did not find a connection with `conn_id`={conn_id}");
            }
            writeln!(
                out,
                "Successfully deleted connection with `conn_id`={conn_id}"
            )?;
        }
        ConnectionsCommand::Import { file, overwrite } => {
            let entries = read_file(&file)?;
            let access = StateAccess::connect(settings).await?;
            for (conn_id, entry) in entries {
                let conn = match entry {
                    Ok(c) => c,
                    Err(e) => {
                        writeln!(out, "Could not import connection {conn_id}: {e}")?;
                        continue;
                    }
                };
                if let Err(e) = values::check_conn_id(&conn_id) {
                    writeln!(out, "Could not import connection. {e}")?;
                    continue;
                }
                let imported = match &access {
                    StateAccess::Store(store) => {
                        if store.connection(&conn_id)?.is_some() && !overwrite {
                            false
                        } else {
                            store.put_connection(&conn)?;
                            audit::record(
                                store,
                                "cli_connections_import",
                                &crate::api::connection_audit_fields(&conn),
                            );
                            true
                        }
                    }
                    StateAccess::Api(client) => {
                        let exists = found(client.connection(&conn_id).await)?.is_some();
                        if exists && !overwrite {
                            false
                        } else {
                            if exists {
                                client.delete_connection(&conn_id).await?;
                            }
                            client.add_connection(&to_wire(&conn)).await?;
                            true
                        }
                    }
                };
                if imported {
                    writeln!(out, "Imported connection {conn_id}")?;
                } else {
                    writeln!(
                        out,
                        "Could not import connection {conn_id}: connection already exists."
                    )?;
                }
            }
        }
        ConnectionsCommand::Export {
            file,
            file_format,
            serialization_format,
        } => {
            let format = match file_format {
                Some(f) => f,
                None => match file
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_lowercase)
                    .as_deref()
                {
                    Some("json") => FileFormat::Json,
                    Some("env") => FileFormat::Env,
                    _ => bail!(
                        "Unsupported file format. The file must have the extension .json, .env (YAML is not supported)."
                    ),
                },
            };
            if serialization_format.is_some() && format != FileFormat::Env {
                bail!("Option `--serialization-format` may only be used with file type `env`.");
            }
            let store = match StateAccess::connect(settings).await? {
                StateAccess::Store(store) => store,
                StateAccess::Api(_) => bail!(
                    "`connections export` writes passwords, which the API never answers: stop the scheduler to export"
                ),
            };
            let conns = store.connections()?;
            let text = match format {
                FileFormat::Json => {
                    let doc: Map<String, Value> = conns
                        .iter()
                        .map(|c| (c.conn_id.clone(), c.export_dict()))
                        .collect();
                    format!("{}\n", serde_json::to_string_pretty(&Value::Object(doc))?)
                }
                FileFormat::Env => conns
                    .iter()
                    .map(
                        |c| match serialization_format.unwrap_or(Serialization::Uri) {
                            Serialization::Uri => format!("{}={}\n", c.conn_id, c.get_uri()),
                            Serialization::Json => format!("{}={}\n", c.conn_id, c.export_dict()),
                        },
                    )
                    .collect(),
            };
            write_private(&file, &text)?;
            writeln!(
                out,
                "Connections successfully exported to {}.",
                file.display()
            )?;
        }
    }
    Ok(Outcome::Ok)
}

fn unreachable_fields() -> anyhow::Result<Connection> {
    bail!("Must supply either conn-uri or conn-json if not supplying conn-type")
}

/// The URI with the password masked.
fn shown_uri(c: &Connection) -> String {
    let secrets = c.secrets();
    let values: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let uri = lithoflow_dag::redact::mask_values(&c.get_uri(), &values);
    // Short passwords (under 4 characters) are not masked by value: mask by position.
    match (&c.password, c.password.as_deref().map(crate::values::quote)) {
        (Some(p), Some(q)) if !p.is_empty() && uri.contains(&format!(":{q}@")) => {
            uri.replacen(&format!(":{q}@"), &format!(":{MASK}@"), 1)
        }
        _ => uri,
    }
}

/// A connection as `get` and `list` show it (Airflow's `_connection_mapper`), secrets
/// masked. `has_password`: whether the password is known (the API never sends it).
fn row(c: &Connection, has_password: bool) -> Map<String, Value> {
    let extra_dejson = values::mask_json(&Value::Object(c.extra_dejson()));
    let password = match (&c.password, has_password) {
        (Some(p), true) if !p.is_empty() => Value::from(MASK),
        (_, true) => Value::Null,
        (_, false) => Value::from("(not shown by the API)"),
    };
    match json!({
        "conn_id": c.conn_id,
        "conn_type": c.conn_type,
        "description": c.description,
        "host": c.host,
        "schema": c.schema,
        "login": c.login,
        "password": password,
        "port": c.port,
        "extra_dejson": extra_dejson,
        "get_uri": shown_uri(c),
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn to_wire(c: &Connection) -> lithoflow_api::Connection {
    lithoflow_api::Connection {
        connection_id: c.conn_id.clone(),
        conn_type: c.conn_type.clone(),
        description: c.description.clone(),
        host: c.host.clone(),
        login: c.login.clone(),
        schema: c.schema.clone(),
        port: c.port,
        password: c.password.clone(),
        extra: c.extra.clone(),
    }
}

fn from_wire(w: lithoflow_api::Connection) -> Connection {
    Connection {
        conn_id: w.connection_id,
        conn_type: w.conn_type,
        description: w.description,
        host: w.host,
        schema: w.schema,
        login: w.login,
        password: None,
        port: w.port,
        extra: w.extra,
    }
}

/// A connections file: `.json` (`{"id": URI or object}`) or `.env` (`ID=URI` or
/// `ID=JSON`, `#` comments), as `load_connections_dict` reads them.
fn read_file(path: &Path) -> anyhow::Result<Vec<(String, Result<Connection, String>)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Missing connections file {}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase);
    match ext.as_deref() {
        Some("json") => {
            let doc: Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", path.display()))?;
            let Value::Object(map) = doc else {
                bail!(
                    "{}: expected a JSON object of conn_id: connection",
                    path.display()
                );
            };
            Ok(map
                .iter()
                .map(|(id, v)| (id.clone(), Connection::from_file_entry(id, v)))
                .collect())
        }
        Some("env") => {
            let mut out = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line_no = n + 1;
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                let Some((id, value)) = line.split_once('=') else {
                    bail!(
                        "{}:{line_no}: Invalid line format. The line should contain at least one equal sign (\"=\").",
                        path.display()
                    );
                };
                let (id, value) = (id.trim(), value.trim());
                if value.is_empty() {
                    bail!(
                        "{}:{line_no}: Invalid line format. Key is empty.",
                        path.display()
                    );
                }
                let conn = if value.starts_with('{') {
                    serde_json::from_str::<Value>(value)
                        .map_err(|e| format!("not JSON: {e}"))
                        .and_then(|v| Connection::from_file_entry(id, &v))
                } else {
                    Connection::from_uri(id, value)
                };
                out.push((id.to_owned(), conn));
            }
            Ok(out)
        }
        _ => bail!(
            "Unsupported file format {}: the file must have the extension .json or .env (YAML is not supported)",
            path.display()
        ),
    }
}
