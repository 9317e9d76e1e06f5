//! Variables and connections over the API: bodies shaped like Airflow 2's stable REST
//! API v1 (`airflow/api_connexion/openapi/v1.yaml` in Airflow 2.10.5: `Variable`,
//! `VariableCollection`, `Connection`, `ConnectionCollection`), and the [`Client`]'s
//! methods for them. A connection's `password` is write-only: the server never sends it;
//! the value of a variable whose key looks secret arrives masked (`***`).

use hyper::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Client, ClientError, segment};

/// A variable (`GET /variables/{key}`, and the body of `POST` and `PATCH`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// Its key.
    pub key: String,
    /// Its value (`***` in answers when the key looks secret).
    #[serde(default)]
    pub value: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
}

/// A variable in a list (the value only comes with `GET /variables/{key}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableCollectionItem {
    /// Its key.
    pub key: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
}

/// `GET /variables`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableCollection {
    /// This page.
    #[serde(default)]
    pub variables: Vec<VariableCollectionItem>,
    /// How many there are in all.
    #[serde(default)]
    pub total_entries: usize,
}

/// A connection (`GET /connections/{id}`, and the body of `POST` and `PATCH`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Its id.
    pub connection_id: String,
    /// Its type.
    #[serde(default)]
    pub conn_type: String,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The host.
    #[serde(default)]
    pub host: Option<String>,
    /// The login.
    #[serde(default)]
    pub login: Option<String>,
    /// The schema.
    #[serde(default)]
    pub schema: Option<String>,
    /// The port.
    #[serde(default)]
    pub port: Option<u16>,
    /// The password: sent by clients, never answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Extra settings, a JSON object as text (values under secret-looking keys masked
    /// in answers).
    #[serde(default)]
    pub extra: Option<String>,
}

/// A connection in a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCollectionItem {
    /// Its id.
    pub connection_id: String,
    /// Its type.
    #[serde(default)]
    pub conn_type: String,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The host.
    #[serde(default)]
    pub host: Option<String>,
    /// The login.
    #[serde(default)]
    pub login: Option<String>,
    /// The schema.
    #[serde(default)]
    pub schema: Option<String>,
    /// The port.
    #[serde(default)]
    pub port: Option<u16>,
}

/// `GET /connections`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCollection {
    /// This page.
    #[serde(default)]
    pub connections: Vec<ConnectionCollectionItem>,
    /// How many there are in all.
    #[serde(default)]
    pub total_entries: usize,
}

impl Client {
    /// Every variable (all pages), by key.
    pub async fn variables(&self) -> Result<Vec<VariableCollectionItem>, ClientError> {
        self.pages(
            "/variables?order_by=key",
            usize::MAX,
            |c: VariableCollection| (c.variables, c.total_entries),
        )
        .await
        .map(|(v, _)| v)
    }

    /// One variable (its value masked when its key looks secret).
    pub async fn variable(&self, key: &str) -> Result<Variable, ClientError> {
        self.get(&format!("/variables/{}", segment(key))).await
    }

    /// Creates or replaces a variable (`POST /variables`).
    pub async fn set_variable(&self, var: &Variable) -> Result<Variable, ClientError> {
        self.json(Method::POST, "/variables", Some(var)).await
    }

    /// Deletes a variable.
    pub async fn delete_variable(&self, key: &str) -> Result<(), ClientError> {
        self.call(
            Method::DELETE,
            &format!("/variables/{}", segment(key)),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Every connection (all pages), by id.
    pub async fn connections(&self) -> Result<Vec<ConnectionCollectionItem>, ClientError> {
        self.pages(
            "/connections?order_by=connection_id",
            usize::MAX,
            |c: ConnectionCollection| (c.connections, c.total_entries),
        )
        .await
        .map(|(v, _)| v)
    }

    /// One connection (without its password).
    pub async fn connection(&self, conn_id: &str) -> Result<Connection, ClientError> {
        self.get(&format!("/connections/{}", segment(conn_id)))
            .await
    }

    /// Creates a connection (`POST /connections`; 409 when the id is taken).
    pub async fn add_connection(&self, conn: &Connection) -> Result<Connection, ClientError> {
        self.json(Method::POST, "/connections", Some(conn)).await
    }

    /// Deletes a connection.
    pub async fn delete_connection(&self, conn_id: &str) -> Result<(), ClientError> {
        self.call(
            Method::DELETE,
            &format!("/connections/{}", segment(conn_id)),
            None,
        )
        .await
        .map(|_| ())
    }
}

/// An entry of the event log of user actions (`GET /eventLogs/{id}`; Airflow 2.10's
/// `EventLog`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLog {
    /// Its id, growing with time.
    pub event_log_id: u64,
    /// When it happened.
    #[serde(serialize_with = "crate::time::iso")]
    pub when: chrono::DateTime<chrono::Utc>,
    /// The DAG it concerned.
    #[serde(default)]
    pub dag_id: Option<String>,
    /// The task.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The run.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The map index.
    #[serde(default)]
    pub map_index: Option<i32>,
    /// The try.
    #[serde(default)]
    pub try_number: Option<u32>,
    /// What happened, in Airflow's words (`api.variable.create`, `trigger`, ...).
    pub event: String,
    /// The logical date of the run it concerned, when the action named one.
    #[serde(default, serialize_with = "crate::time::iso_opt")]
    pub execution_date: Option<chrono::DateTime<chrono::Utc>>,
    /// Who did it: `api`, or the OS user of a CLI command.
    #[serde(default)]
    pub owner: Option<String>,
    /// Details, JSON text (never a secret).
    #[serde(default)]
    pub extra: Option<String>,
}

/// `GET /eventLogs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLogCollection {
    /// This page.
    #[serde(default)]
    pub event_logs: Vec<EventLog>,
    /// How many match in all.
    #[serde(default)]
    pub total_entries: usize,
}

impl Client {
    /// The newest `limit` entries of the event log, newest first, filtered by DAG and
    /// event when given.
    pub async fn event_logs(
        &self,
        dag_id: Option<&str>,
        event: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventLog>, ClientError> {
        let mut path = "/eventLogs?order_by=-event_log_id".to_owned();
        if let Some(d) = dag_id {
            path.push_str(&format!("&dag_id={}", segment(d)));
        }
        if let Some(e) = event {
            path.push_str(&format!("&event={}", segment(e)));
        }
        self.pages(&path, limit, |c: EventLogCollection| {
            (c.event_logs, c.total_entries)
        })
        .await
        .map(|(mut v, _)| {
            v.truncate(limit);
            v
        })
    }
}
