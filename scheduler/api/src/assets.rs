//! Assets over the API: bodies shaped like Airflow 2.10's stable REST API v1
//! (`airflow/api_connexion/openapi/v1.yaml` in Airflow 2.10.5: `Dataset`,
//! `DatasetCollection`, `DatasetEvent`, `DatasetEventCollection`, `CreateDatasetEvent`,
//! `BasicDAGRun`), with Airflow 3's `name` and `group` of an asset and an event's `id`
//! beside them, and the [`Client`]'s methods for them. Extras arrive redacted (values
//! under credential-looking keys masked by the server).

use chrono::{DateTime, Utc};
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::{Client, ClientError};
use crate::state::RunState;
use crate::time::{iso, iso_opt};

/// A DAG scheduled on an asset (`DagScheduleDatasetReference`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DagScheduleDatasetReference {
    /// The DAG.
    pub dag_id: String,
    /// When the asset was first seen.
    #[serde(serialize_with = "iso_opt", default)]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(serialize_with = "iso_opt", default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A task with the asset among its outlets (`TaskOutletDatasetReference`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOutletDatasetReference {
    /// Its DAG.
    pub dag_id: String,
    /// The task.
    pub task_id: String,
    /// When the asset was first seen.
    #[serde(serialize_with = "iso_opt", default)]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(serialize_with = "iso_opt", default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// An asset (`GET /datasets/{uri}`; Airflow 2's `Dataset`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Its number.
    pub id: u64,
    /// Its normalised URI.
    pub uri: String,
    /// Its name (Airflow 3).
    #[serde(default)]
    pub name: String,
    /// Its group (Airflow 3).
    #[serde(default)]
    pub group: String,
    /// Its extra (redacted).
    #[serde(default)]
    pub extra: Option<Map<String, Value>>,
    /// When first seen.
    #[serde(serialize_with = "iso_opt", default)]
    pub created_at: Option<DateTime<Utc>>,
    /// When its name, group or extra last changed.
    #[serde(serialize_with = "iso_opt", default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The loaded DAGs scheduled on it.
    #[serde(default)]
    pub consuming_dags: Vec<DagScheduleDatasetReference>,
    /// The loaded tasks that update it.
    #[serde(default)]
    pub producing_tasks: Vec<TaskOutletDatasetReference>,
    /// Always empty: asset aliases are not supported.
    #[serde(default)]
    pub aliases: Vec<Value>,
}

/// `GET /datasets`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetCollection {
    /// This page.
    #[serde(default)]
    pub datasets: Vec<Dataset>,
    /// How many there are in all.
    #[serde(default)]
    pub total_entries: usize,
}

/// A run an event triggered (`BasicDAGRun`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasicDagRun {
    /// The run's id.
    pub run_id: String,
    /// Its DAG.
    pub dag_id: String,
    /// Its state.
    pub state: RunState,
    /// Its logical date.
    #[serde(serialize_with = "iso_opt", default)]
    pub logical_date: Option<DateTime<Utc>>,
    /// When it started.
    #[serde(serialize_with = "iso_opt", default)]
    pub start_date: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(serialize_with = "iso_opt", default)]
    pub end_date: Option<DateTime<Utc>>,
    /// Its data interval's start.
    #[serde(serialize_with = "iso_opt", default)]
    pub data_interval_start: Option<DateTime<Utc>>,
    /// Its data interval's end.
    #[serde(serialize_with = "iso_opt", default)]
    pub data_interval_end: Option<DateTime<Utc>>,
}

/// An asset event (`DatasetEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetEvent {
    /// Its number (lithoflow's; later events have larger ones).
    #[serde(default)]
    pub id: u64,
    /// The asset's number.
    #[serde(default)]
    pub dataset_id: u64,
    /// The asset's URI.
    pub dataset_uri: String,
    /// Its extra (redacted).
    #[serde(default)]
    pub extra: Option<Map<String, Value>>,
    /// The DAG whose task updated the asset (null: an external event).
    #[serde(default)]
    pub source_dag_id: Option<String>,
    /// That task.
    #[serde(default)]
    pub source_task_id: Option<String>,
    /// Its run.
    #[serde(default)]
    pub source_run_id: Option<String>,
    /// Its map index (-1: not mapped).
    #[serde(default)]
    pub source_map_index: Option<i64>,
    /// The runs it triggered.
    #[serde(default)]
    pub created_dagruns: Vec<BasicDagRun>,
    /// When it was recorded.
    #[serde(serialize_with = "iso")]
    pub timestamp: DateTime<Utc>,
}

/// `GET /datasets/events`, `GET .../upstreamDatasetEvents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetEventCollection {
    /// This page.
    #[serde(default)]
    pub dataset_events: Vec<DatasetEvent>,
    /// How many there are in all.
    #[serde(default)]
    pub total_entries: usize,
}

/// `POST /datasets/events` (Airflow 2.9+): an event from outside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDatasetEvent {
    /// The asset's URI (normalised by the server).
    pub dataset_uri: String,
    /// Free JSON recorded with the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
}

/// An asset updated since a DAG's last asset-triggered run (`QueuedEvent`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueuedEvent {
    /// The asset's URI.
    pub uri: String,
    /// The DAG scheduled on it.
    pub dag_id: String,
    /// When it was first updated since that run.
    #[serde(serialize_with = "iso_opt", default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// `GET /dags/{dag_id}/datasets/queuedEvent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueuedEventCollection {
    /// The queue.
    #[serde(default)]
    pub queued_events: Vec<QueuedEvent>,
    /// How many.
    #[serde(default)]
    pub total_entries: usize,
}

/// The query of `GET /datasets/events` a client sends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only this asset's events (a URI, normalised by the server).
    pub uri: Option<String>,
    /// At most this many, the newest.
    pub limit: Option<usize>,
}

/// `uri` percent-encoded as a query value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Every asset (all pages), by URI.
    pub async fn datasets(&self) -> Result<Vec<Dataset>, ClientError> {
        self.pages(
            "/datasets?order_by=uri",
            usize::MAX,
            |c: DatasetCollection| (c.datasets, c.total_entries),
        )
        .await
        .map(|(v, _)| v)
    }

    /// Asset events, newest first: all of them, or one asset's, at most `limit`.
    pub async fn dataset_events(
        &self,
        filter: &EventFilter,
    ) -> Result<Vec<DatasetEvent>, ClientError> {
        let mut path = "/datasets/events?order_by=-timestamp".to_owned();
        if let Some(uri) = &filter.uri {
            path.push_str(&format!("&uri={}", encode(uri)));
        }
        self.pages(
            &path,
            filter.limit.unwrap_or(usize::MAX),
            |c: DatasetEventCollection| (c.dataset_events, c.total_entries),
        )
        .await
        .map(|(mut v, _)| {
            v.truncate(filter.limit.unwrap_or(usize::MAX));
            v
        })
    }

    /// Records an asset event from outside (`POST /datasets/events`).
    pub async fn create_dataset_event(
        &self,
        body: &CreateDatasetEvent,
    ) -> Result<DatasetEvent, ClientError> {
        self.json(Method::POST, "/datasets/events", Some(body))
            .await
    }
}
