//! The bodies of the DAG and DAG-run routes beyond the basic ones in `types`: a DAG's
//! details, the batch list of runs, a run's state, note and clear, and the bulk
//! `PATCH /dags`, shaped as Airflow 2.10's stable REST API (`api_connexion/schemas/
//! dag_schema.py`, `dag_run_schema.py`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::RunState;
use crate::time::iso_opt;
use crate::types::DagInfo;

/// `GET /dags/{dag_id}/details`: the DAG and Airflow's `DAGDetail` fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DagDetail {
    /// What `GET /dags/{dag_id}` says.
    #[serde(flatten)]
    pub dag: DagInfo,
    /// Airflow's `concurrency` (its old name for `max_active_tasks`).
    #[serde(default)]
    pub concurrency: f64,
    /// `dagrun_timeout` as Airflow's `TimeDelta` object, or null.
    #[serde(default)]
    pub dag_run_timeout: Option<Value>,
    /// Airflow's `doc_md`: its description.
    #[serde(default)]
    pub doc_md: Option<String>,
    /// Airflow's `orientation` (`LR`).
    #[serde(default)]
    pub orientation: Option<String>,
    /// Its params (defaults of `{{ params.x }}`).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Whether templates render to native objects.
    #[serde(default)]
    pub render_template_as_native_obj: Option<bool>,
    /// Airflow's `template_search_path`: null.
    #[serde(default)]
    pub template_search_path: Option<Vec<String>>,
    /// The zone its schedule is computed in (`UTC`, `Europe/Paris`).
    #[serde(default)]
    pub timezone: String,
    /// When its file was last loaded (Airflow's `last_parsed`).
    #[serde(serialize_with = "iso_opt", default)]
    pub last_parsed: Option<DateTime<Utc>>,
}

/// `POST /dags/~/dagRuns/list` (Airflow's `ListDagRunsForm`): every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagRunsBatchBody {
    /// `order_by` as the query parameter of `GET .../dagRuns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// Skip this many (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_offset: Option<i64>,
    /// At most this many (default 100, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_limit: Option<i64>,
    /// Only these DAGs' runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_ids: Option<Vec<String>>,
    /// Only runs in these states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<String>>,
    /// Logical date at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_date_gte: Option<DateTime<Utc>>,
    /// Logical date at or before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_date_lte: Option<DateTime<Utc>>,
    /// Started at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_gte: Option<DateTime<Utc>>,
    /// Started at or before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_lte: Option<DateTime<Utc>>,
    /// Ended at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_gte: Option<DateTime<Utc>>,
    /// Ended at or before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_lte: Option<DateTime<Utc>>,
    /// Updated at or after (read, as Airflow 2.10's form does, but Airflow's batch
    /// endpoint ignores it; lithoflow applies it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_gte: Option<DateTime<Utc>>,
    /// Updated at or before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_lte: Option<DateTime<Utc>>,
}

/// `PATCH /dags/{dag_id}/dagRuns/{dag_run_id}`: `success`, `failed` or `queued`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStateBody {
    /// The new state.
    pub state: RunState,
}

/// `PATCH /dags/{dag_id}/dagRuns/{dag_run_id}/setNote` (also task instances').
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoteBody {
    /// The note (null or missing: none).
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /dags/{dag_id}/dagRuns/{dag_run_id}/clear`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunClearBody {
    /// Only report what would be cleared (default **true**, as in Airflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}
