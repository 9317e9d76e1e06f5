//! The API's JSON bodies, shaped like Airflow's stable REST API v1 where a concept
//! matches. The server ([`crate::api`]) and the CLI's client ([`crate::client`]) share
//! them, so the two cannot drift apart.
//!
//! Times are written as Airflow writes them (`2026-11-27T10:00:00+00:00`, with
//! microseconds when there are any) and read in any RFC 3339 form.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::cli::ReprocessBehavior;
use crate::ops::BackfillRow;
use crate::store::{DagRunRecord, RunState, SCHEMA_VERSION, TaskInstanceRecord, TaskState};

fn iso<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso_string(t))
}

/// [`crate::ops::iso`]'s text without chrono's format-string interpreter, which took
/// ~15% of the scheduler's CPU while the API answered lists of runs and DAGs under load
/// (bench/load). Years outside 0-9999 and leap seconds go to `ops::iso` itself.
pub(crate) fn iso_string(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike as _, Timelike as _};
    use std::fmt::Write as _;
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return crate::ops::iso(*t);
    }
    let mut out = String::with_capacity(32);
    let _ = write!(
        out,
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let micros = nanos / 1000;
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
    out.push_str("+00:00");
    out
}

fn iso_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => iso(t, s),
        None => s.serialize_none(),
    }
}

/// An error, as RFC 7807 problem JSON (`application/problem+json`), as Airflow answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Always `about:blank`: the title is the HTTP status's name.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's name (`Not Found`).
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong, for a person.
    pub detail: String,
}

/// A DAG tag, as Airflow writes it (`{"name": "example"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The tag.
    pub name: String,
}

/// A run in a DAG's `recent_runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentRun {
    /// The run.
    pub dag_run_id: String,
    /// Its state.
    pub state: RunState,
    /// When it may start (the order of `recent_runs`, newest first).
    #[serde(serialize_with = "iso")]
    pub run_after: DateTime<Utc>,
}

/// A DAG (`GET /dags`, `GET|PATCH /dags/{dag_id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagInfo {
    /// The DAG's id.
    pub dag_id: String,
    /// Free text.
    pub description: Option<String>,
    /// The file it was read from.
    pub fileloc: String,
    /// Whether the scheduler creates its runs.
    pub is_paused: bool,
    /// Always true: the scheduler serves only DAGs its folder has (Airflow's field).
    pub is_active: bool,
    /// Its `is_paused_upon_creation`.
    pub is_paused_upon_creation: bool,
    /// The schedule as written (`@daily`, `0 2 * * *`); null for manual runs only.
    pub schedule: Option<String>,
    /// `cron_trigger` or `cron_data_interval`.
    pub timetable: String,
    /// Its tags.
    pub tags: Vec<Tag>,
    /// Its tasks' owners, sorted, without repeats.
    pub owners: Vec<String>,
    /// Runs running at once at most.
    pub max_active_runs: u32,
    /// Task instances of one run running at once at most.
    pub max_active_tasks: u32,
    /// Whether missed ticks since `start_date` run.
    pub catchup: bool,
    /// The first tick that may run.
    #[serde(serialize_with = "iso_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// The last tick that may run.
    #[serde(serialize_with = "iso_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// The logical date of the next run the scheduler will create (null: none).
    #[serde(serialize_with = "iso_opt")]
    pub next_dagrun: Option<DateTime<Utc>>,
    /// Its data interval's start.
    #[serde(serialize_with = "iso_opt")]
    pub next_dagrun_data_interval_start: Option<DateTime<Utc>>,
    /// Its data interval's end.
    #[serde(serialize_with = "iso_opt")]
    pub next_dagrun_data_interval_end: Option<DateTime<Utc>>,
    /// When it will be created.
    #[serde(serialize_with = "iso_opt")]
    pub next_dagrun_create_after: Option<DateTime<Utc>>,
    /// Whether its file fails to load now (the scheduler keeps its last valid version).
    pub has_import_errors: bool,
    /// Its latest runs, newest first (at most [`RECENT_RUNS`], or the `recent_runs`
    /// query parameter's count).
    pub recent_runs: Vec<RecentRun>,
    /// Only in the answer to a PATCH: whether it was paused before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was_paused: Option<bool>,
}

/// How many runs a DAG's `recent_runs` shows unless `recent_runs=N` asks for more.
pub const RECENT_RUNS: usize = 5;

/// The most runs `recent_runs=N` may ask for.
pub const MAX_RECENT_RUNS: usize = 50;

/// `GET /dags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagCollection {
    /// This page.
    pub dags: Vec<DagInfo>,
    /// Matches before paging.
    pub total_entries: usize,
}

/// `PATCH /dags/{dag_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagPatch {
    /// Pause (true) or unpause (false).
    pub is_paused: bool,
}

/// A task of a DAG (`GET /dags/{dag_id}/tasks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The task's id.
    pub task_id: String,
    /// Its type: `call_async`, `map` or `map_reduce`.
    pub operator_name: String,
    /// Tasks it waits for.
    pub upstream_task_ids: Vec<String>,
    /// Tasks that wait for it.
    pub downstream_task_ids: Vec<String>,
    /// Its trigger rule.
    pub trigger_rule: String,
    /// Retries after the first try.
    pub retries: u32,
    /// Its owner.
    pub owner: String,
    /// Whether it waits for its previous run's instance.
    pub depends_on_past: bool,
}

/// `GET /dags/{dag_id}/tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCollection {
    /// Every task, in file order.
    pub tasks: Vec<TaskInfo>,
    /// How many.
    pub total_entries: usize,
}

/// A DAG run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagRun {
    /// The run's id.
    pub dag_run_id: String,
    /// The DAG.
    pub dag_id: String,
    /// `manual`, `scheduled` or `backfill`.
    pub run_type: String,
    /// `queued`, `running`, `success` or `failed`.
    pub state: RunState,
    /// The logical date.
    #[serde(serialize_with = "iso_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Start of the data interval.
    #[serde(serialize_with = "iso_opt")]
    pub data_interval_start: Option<DateTime<Utc>>,
    /// End of the data interval.
    #[serde(serialize_with = "iso_opt")]
    pub data_interval_end: Option<DateTime<Utc>>,
    /// When it may start.
    #[serde(serialize_with = "iso")]
    pub run_after: DateTime<Utc>,
    /// When it was last queued (created, cleared, re-queued by a backfill).
    #[serde(serialize_with = "iso_opt", default)]
    pub queued_at: Option<DateTime<Utc>>,
    /// When it started running.
    #[serde(serialize_with = "iso_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(serialize_with = "iso_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// Whether it was triggered by hand (Airflow 2's field).
    pub external_trigger: bool,
    /// Its conf.
    #[serde(serialize_with = "redacted")]
    pub conf: Map<String, Value>,
    /// Why it failed, when it failed for a reason of its own.
    pub note: Option<String>,
    /// The backfill that created or cleared it.
    pub backfill_id: Option<String>,
}

impl From<&DagRunRecord> for DagRun {
    fn from(r: &DagRunRecord) -> DagRun {
        DagRun {
            dag_run_id: r.run_id.clone(),
            dag_id: r.dag_id.clone(),
            run_type: r.run_type.clone(),
            state: r.state,
            logical_date: r.logical_date,
            data_interval_start: r.data_interval_start,
            data_interval_end: r.data_interval_end,
            run_after: r.run_after,
            queued_at: r.queued_at,
            start_date: r.start_date,
            end_date: r.end_date,
            external_trigger: r.run_type == "manual",
            conf: r.conf.clone(),
            note: r.note.clone(),
            backfill_id: r.backfill_id.clone(),
        }
    }
}

impl From<DagRun> for DagRunRecord {
    fn from(r: DagRun) -> DagRunRecord {
        DagRunRecord {
            version: SCHEMA_VERSION,
            dag_id: r.dag_id,
            run_id: r.dag_run_id,
            run_type: r.run_type,
            state: r.state,
            logical_date: r.logical_date,
            data_interval_start: r.data_interval_start,
            data_interval_end: r.data_interval_end,
            run_after: r.run_after,
            queued_at: r.queued_at,
            start_date: r.start_date,
            end_date: r.end_date,
            conf: r.conf,
            note: r.note,
            backfill_id: r.backfill_id,
        }
    }
}

/// `POST /dags/{dag_id}/dagRuns` (what [`crate::ops::TriggerRequest`] reads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TriggerBody {
    /// The run's id (default `manual__<now>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_run_id: Option<String>,
    /// The logical date (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_date: Option<DateTime<Utc>>,
    /// The run's conf.
    #[serde(default)]
    pub conf: Map<String, Value>,
}

/// `GET /dags/{dag_id}/dagRuns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagRunCollection {
    /// This page, newest `run_after` first.
    pub dag_runs: Vec<DagRun>,
    /// Matches before paging.
    pub total_entries: usize,
}

/// A task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInstance {
    /// The task.
    pub task_id: String,
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub dag_run_id: String,
    /// The run's logical date.
    #[serde(serialize_with = "iso_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// Its state; null is Airflow's "no status".
    pub state: Option<TaskState>,
    /// The current (or last) try, 1-based; 0 before the first.
    pub try_number: u32,
    /// Tries allowed in all.
    pub max_tries: u32,
    /// When the current try started.
    #[serde(serialize_with = "iso_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(serialize_with = "iso_opt")]
    pub end_date: Option<DateTime<Utc>>,
    /// Seconds the last try ran.
    pub duration: Option<f64>,
    /// The task's type (null when its DAG is no longer loaded).
    pub operator: Option<String>,
    /// Why the last try failed.
    pub error: Option<String>,
    /// The executor job of the current try.
    pub job_id: Option<String>,
    /// Calls of the current try's job that returned.
    pub calls_done: usize,
    /// Calls that failed.
    pub calls_failed: usize,
    /// Calls in all.
    pub calls_total: usize,
    /// When an up_for_retry instance may run again.
    #[serde(serialize_with = "iso_opt")]
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Its XCom `return_value` (only when one instance is asked for; null if none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_value: Option<Value>,
    /// The live progress of a running try's executor job (lithoflow's addition; only
    /// while the instance is running and its job has reported progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<JobProgress>,
}

/// Where a running try's executor job is: its calls in the current phase. The same
/// numbers as the event stream's `progress` events, kept for clients that connect
/// in the middle of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// `call`, `map` or `reduce`.
    pub phase: String,
    /// Calls in this phase.
    pub total: usize,
    /// Calls that returned.
    pub done: usize,
    /// Calls that failed.
    pub failed: usize,
    /// Calls running now.
    pub running: usize,
}

/// One call of a try's executor job (`GET .../taskInstances/{task_id}/calls`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    /// `call`, `map` or `reduce`.
    pub phase: String,
    /// Its index in its phase (the iterdata position for `map`).
    pub index: usize,
    /// How long it ran, in seconds.
    pub duration_s: f64,
    /// Whether it failed.
    pub failed: bool,
}

/// `GET .../taskInstances/{task_id}/calls`: the calls of one try's executor job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallCollection {
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub dag_run_id: String,
    /// The task.
    pub task_id: String,
    /// The try.
    pub try_number: u32,
    /// This page, map calls first, each phase in index order.
    pub calls: Vec<CallInfo>,
    /// Calls in all.
    pub total_entries: usize,
}

impl TaskInstance {
    /// A task instance of a run, as the API shows it.
    pub fn new(run: &DagRunRecord, ti: &TaskInstanceRecord, operator: Option<String>) -> Self {
        TaskInstance {
            task_id: ti.task_id.clone(),
            dag_id: run.dag_id.clone(),
            dag_run_id: run.run_id.clone(),
            logical_date: run.logical_date,
            state: (ti.state != TaskState::None).then_some(ti.state),
            try_number: ti.try_number,
            max_tries: ti.max_tries,
            start_date: ti.start_date,
            end_date: ti.end_date,
            duration: ti.duration_s,
            operator,
            error: ti.error.clone(),
            job_id: ti.job_id.clone(),
            calls_done: ti.calls_done,
            calls_failed: ti.calls_failed,
            calls_total: ti.calls_total,
            next_retry_at: ti.next_retry_at,
            return_value: None,
            progress: None,
        }
    }
}

impl From<TaskInstance> for TaskInstanceRecord {
    fn from(t: TaskInstance) -> TaskInstanceRecord {
        TaskInstanceRecord {
            version: SCHEMA_VERSION,
            task_id: t.task_id,
            state: t.state.unwrap_or(TaskState::None),
            try_number: t.try_number,
            max_tries: t.max_tries,
            start_date: t.start_date,
            end_date: t.end_date,
            duration_s: t.duration,
            error: t.error,
            job_id: t.job_id,
            next_retry_at: t.next_retry_at,
            calls_done: t.calls_done,
            calls_failed: t.calls_failed,
            calls_total: t.calls_total,
        }
    }
}

/// `GET .../dagRuns/{dag_run_id}/taskInstances`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInstanceCollection {
    /// This page, by task id.
    pub task_instances: Vec<TaskInstance>,
    /// Matches before paging.
    pub total_entries: usize,
}

/// `GET .../taskInstances/{task_id}/xcomEntries/{xcom_key}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComEntry {
    /// The key (`return_value`).
    pub key: String,
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub dag_run_id: String,
    /// The task.
    pub task_id: String,
    /// Always -1: lithoflow has no mapped task instances (Airflow's field).
    pub map_index: i32,
    /// The run's logical date.
    #[serde(serialize_with = "iso_opt")]
    pub logical_date: Option<DateTime<Utc>>,
    /// The value, as JSON.
    pub value: Value,
}

/// `POST /dags/{dag_id}/clearTaskInstances`: Airflow's body. Unknown fields are
/// refused, so a filter lithoflow does not have cannot silently clear more.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearBody {
    /// Only report what would be cleared (default **true**, as in Airflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Exactly these tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ids: Option<Vec<String>>,
    /// lithoflow's addition: only tasks whose id matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_regex: Option<String>,
    /// Only this run (default: every run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_run_id: Option<String>,
    /// Also the tasks' upstream tasks.
    #[serde(default)]
    pub include_upstream: bool,
    /// Also the tasks' downstream tasks.
    #[serde(default)]
    pub include_downstream: bool,
    /// Only failed and upstream_failed instances.
    #[serde(default)]
    pub only_failed: bool,
}

/// One task instance a clear reset (or, for a dry run, would reset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClearedInstance {
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub dag_run_id: String,
    /// The task.
    pub task_id: String,
    /// Its state before the clear.
    pub state: TaskState,
}

/// The answer to `clearTaskInstances`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClearResponse {
    /// Grouped by run, newest run first.
    pub task_instances: Vec<ClearedInstance>,
}

/// `POST /backfills`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillBody {
    /// The DAG.
    pub dag_id: String,
    /// First logical date (inclusive).
    pub from_date: DateTime<Utc>,
    /// Last logical date (inclusive).
    pub to_date: DateTime<Utc>,
    /// `none` (default), `failed` or `completed`.
    #[serde(default)]
    pub reprocess_behavior: ReprocessBehavior,
    /// Backfill runs running at once (default 10).
    #[serde(default = "ten")]
    pub max_active_runs: u32,
    /// Newest first.
    #[serde(default)]
    pub run_backwards: bool,
    /// Only plan (default false).
    #[serde(default)]
    pub dry_run: bool,
    /// The runs' conf.
    #[serde(default)]
    pub dag_run_conf: Map<String, Value>,
}

fn ten() -> u32 {
    10
}

/// The answer to `POST /backfills`: the plan, and the backfill's id unless a dry run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackfillResponse {
    /// The backfill's id (null for a dry run).
    pub id: Option<String>,
    /// The DAG.
    pub dag_id: String,
    /// First logical date.
    #[serde(serialize_with = "iso")]
    pub from_date: DateTime<Utc>,
    /// Last logical date.
    #[serde(serialize_with = "iso")]
    pub to_date: DateTime<Utc>,
    /// What it does with dates that have a run.
    pub reprocess_behavior: ReprocessBehavior,
    /// Its runs running at once.
    pub max_active_runs: u32,
    /// Newest first.
    pub run_backwards: bool,
    /// Only planned.
    pub dry_run: bool,
    /// The runs' conf.
    #[serde(serialize_with = "redacted")]
    pub dag_run_conf: Map<String, Value>,
    /// One row per logical date, in the order they run.
    pub dag_runs: Vec<BackfillRun>,
    /// How many rows.
    pub total_entries: usize,
}

/// One logical date of a backfill and what was done about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillRun {
    /// The logical date.
    #[serde(serialize_with = "iso")]
    pub logical_date: DateTime<Utc>,
    /// The run (new or existing).
    pub dag_run_id: String,
    /// `create`, `clear` or `skip`.
    pub action: String,
    /// Why it was skipped.
    pub reason: Option<String>,
}

impl From<BackfillRow> for BackfillRun {
    fn from(r: BackfillRow) -> BackfillRun {
        BackfillRun {
            logical_date: r.logical_date,
            dag_run_id: r.dag_run_id,
            action: r.action,
            reason: r.reason,
        }
    }
}

impl From<BackfillRun> for BackfillRow {
    fn from(r: BackfillRun) -> BackfillRow {
        BackfillRow {
            logical_date: r.logical_date,
            dag_run_id: r.dag_run_id,
            action: r.action,
            reason: r.reason,
        }
    }
}

/// A DAG file that fails to load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportErrorInfo {
    /// Its position in the list (Airflow's id).
    pub import_error_id: usize,
    /// The file.
    pub filename: String,
    /// Every error of the file, one `PATH:LINE:COLUMN: error: MESSAGE` per line.
    pub stack_trace: String,
}

/// `GET /importErrors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportErrorCollection {
    /// This page.
    pub import_errors: Vec<ImportErrorInfo>,
    /// Files with errors.
    pub total_entries: usize,
}

/// One component's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentHealth {
    /// `healthy` or `unhealthy`.
    pub status: String,
}

/// The scheduler's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerHealth {
    /// `healthy` while it answers.
    pub status: String,
    /// Now: the API runs inside the scheduler, so an answer is a heartbeat.
    #[serde(serialize_with = "iso_opt")]
    pub latest_scheduler_heartbeat: Option<DateTime<Utc>>,
    /// When it started (lithoflow's addition).
    #[serde(serialize_with = "iso")]
    pub started_at: DateTime<Utc>,
    /// The DAGs folder it serves (lithoflow's addition).
    pub dags_folder: String,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// The state store.
    pub metadatabase: ComponentHealth,
    /// The scheduler.
    pub scheduler: SchedulerHealth,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// lithoflow's version.
    pub version: String,
    /// Unknown (null); Airflow's field.
    pub git_version: Option<String>,
}

/// A conf as answers show it: credential-named keys, environments and AWS key ids masked
/// (`lithoflow_dag::redact`), so a secret passed in a conf never comes back out of the API.
fn redacted<S: serde::Serializer>(map: &Map<String, Value>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&lithoflow_dag::redact::redact_map(map), s)
}
