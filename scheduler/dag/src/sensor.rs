//! The typed form of the two waiting task types: `sensor` (Airflow's sensors) and
//! `trigger_dag_run` (`TriggerDagRunOperator`). Parsed in `parse/sensor.rs`; the engine
//! does the waiting (`scheduler/src/engine/sensor.rs`).

use std::time::Duration;

use chrono::NaiveTime;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{BashSpec, FuncRef, PythonSpec, ser_duration, ser_opt_duration};

/// Airflow's `BaseSensorOperator` default timeout: 7 days (`60 * 60 * 24 * 7`).
pub const SENSOR_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60 * 60 * 24 * 7);

/// Airflow's default `poke_interval`: 60 s (sensors and `TriggerDagRunOperator`).
pub const POKE_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);

/// A `sensor` task: what it waits for, and how.
#[derive(Debug, Clone, Serialize)]
pub struct SensorSpec {
    /// What it waits for.
    #[serde(flatten)]
    pub sensor: SensorKind,
    /// The time between two pokes.
    #[serde(serialize_with = "ser_duration")]
    pub poke_interval: Duration,
    /// The wait ends (failed, or skipped with `soft_fail`) this long after the first
    /// poke of the try (the task key `timeout`).
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Whether it stays `running` between pokes or is `up_for_reschedule`.
    pub mode: SensorMode,
    /// On timeout: skipped instead of failed.
    pub soft_fail: bool,
    /// Grow the interval between pokes (Airflow's formula, with jitter).
    pub exponential_backoff: bool,
    /// The cap of the interval with `exponential_backoff`.
    #[serde(serialize_with = "ser_opt_duration")]
    pub max_wait: Option<Duration>,
    /// A poke that raises is logged and poking continues (Airflow 2.10).
    pub silent_fail: bool,
}

impl Default for SensorSpec {
    fn default() -> Self {
        SensorSpec {
            sensor: SensorKind::default(),
            poke_interval: POKE_INTERVAL_DEFAULT,
            timeout: SENSOR_TIMEOUT_DEFAULT,
            mode: SensorMode::Poke,
            soft_fail: false,
            exponential_backoff: false,
            max_wait: None,
            silent_fail: false,
        }
    }
}

/// How a sensor waits between pokes. Either way no worker and no executor slot is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorMode {
    /// The task instance stays `running`.
    #[default]
    Poke,
    /// The task instance is `up_for_reschedule` between pokes (its pool slot freed).
    Reschedule,
}

/// What a sensor waits for (the `sensor` key).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "sensor", rename_all = "snake_case")]
pub enum SensorKind {
    /// A Python callable returning a bool or `PokeReturnValue` (`PythonSensor`,
    /// `@task.sensor`).
    Python(PythonSpec),
    /// A shell command: exit 0 is done (`BashSensor`).
    Bash {
        /// The command, its env and cwd (`append_env` and `skip_on_exit_code` unused).
        #[serde(flatten)]
        bash: BashSpec,
        /// The exit code that means "poke again"; any other non-zero code fails the
        /// task. None: every non-zero code means "poke again".
        retry_exit_code: Option<i64>,
    },
    /// A file or glob on the scheduler's file system (`FileSensor`).
    File {
        /// The path or glob (templated).
        filepath: String,
        /// `**` matches folders recursively.
        recursive: bool,
        /// Accepted for Airflow files; the scheduler's own file system is read.
        fs_conn_id: Option<String>,
    },
    /// A task (or a whole run) of another DAG (`ExternalTaskSensor`).
    ExternalTask(ExternalTaskSpec),
    /// A time after the run's data interval end (`TimeDeltaSensor`).
    TimeDelta {
        /// The delta after the data interval end.
        #[serde(serialize_with = "ser_duration")]
        delta: Duration,
    },
    /// A moment (`DateTimeSensor`).
    DateTime {
        /// An ISO date-time (templated); without an offset it is UTC.
        target_time: String,
    },
    /// A time of day in the DAG's time zone, on the day of the run's data interval end
    /// (`TimeSensor`).
    Time {
        /// `HH:MM[:SS]`.
        #[serde(serialize_with = "ser_time")]
        target_time: NaiveTime,
    },
    /// Keys in S3 (`S3KeySensor`), listed on the `aws_s3` storage.
    S3Key(S3KeySpec),
}

impl Default for SensorKind {
    fn default() -> Self {
        SensorKind::TimeDelta {
            delta: Duration::ZERO,
        }
    }
}

impl SensorKind {
    /// The `sensor` name as written in files.
    pub fn name(&self) -> &'static str {
        match self {
            SensorKind::Python(_) => "python",
            SensorKind::Bash { .. } => "bash",
            SensorKind::File { .. } => "file",
            SensorKind::ExternalTask(_) => "external_task",
            SensorKind::TimeDelta { .. } => "time_delta",
            SensorKind::DateTime { .. } => "date_time",
            SensorKind::Time { .. } => "time",
            SensorKind::S3Key(_) => "s3_key",
        }
    }

    /// The Airflow sensor class it stands for.
    pub fn airflow_class(&self) -> &'static str {
        match self {
            SensorKind::Python(_) => "PythonSensor",
            SensorKind::Bash { .. } => "BashSensor",
            SensorKind::File { .. } => "FileSensor",
            SensorKind::ExternalTask(_) => "ExternalTaskSensor",
            SensorKind::TimeDelta { .. } => "TimeDeltaSensor",
            SensorKind::DateTime { .. } => "DateTimeSensor",
            SensorKind::Time { .. } => "TimeSensor",
            SensorKind::S3Key(_) => "S3KeySensor",
        }
    }
}

/// The `sensor` names, in the order messages list them.
pub const SENSOR_KINDS: &[&str] = &[
    "python",
    "file",
    "external_task",
    "time_delta",
    "date_time",
    "time",
    "s3_key",
    "bash",
];

/// The keys only some sensor kinds take, and which.
pub const SENSOR_KIND_KEYS: &[(&str, &[&str])] = &[
    (
        "python",
        &["python_callable", "op_args", "op_kwargs", "templates_dict"],
    ),
    ("bash", &["bash_command", "env", "cwd", "retry_exit_code"]),
    ("file", &["filepath", "recursive", "fs_conn_id"]),
    (
        "external_task",
        &[
            "external_dag_id",
            "external_task_id",
            "external_task_ids",
            "external_task_group_id",
            "allowed_states",
            "skipped_states",
            "failed_states",
            "execution_delta",
            "execution_date_fn",
            "check_existence",
        ],
    ),
    ("time_delta", &["delta"]),
    ("date_time", &["target_time"]),
    ("time", &["target_time"]),
    (
        "s3_key",
        &["bucket_key", "bucket_name", "wildcard_match", "aws_conn_id"],
    ),
];

/// An `external_task` sensor.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExternalTaskSpec {
    /// The other DAG (templated).
    pub external_dag_id: String,
    /// The task ids to wait for (`external_task_id` or `external_task_ids`, templated);
    /// empty (and no group): the whole run.
    pub external_task_ids: Vec<String>,
    /// A task group whose tasks to wait for (its tasks are the ids starting with
    /// `<group>.`).
    pub external_task_group_id: Option<String>,
    /// The states that mean done.
    pub allowed_states: Vec<String>,
    /// The states that skip the sensor.
    pub skipped_states: Vec<String>,
    /// The states that fail the sensor.
    pub failed_states: Vec<String>,
    /// The other run's logical date is this much before this run's.
    #[serde(serialize_with = "ser_opt_duration")]
    pub execution_delta: Option<Duration>,
    /// A callable `(logical_date, context) -> date or dates` giving the other run's
    /// logical date(s).
    pub execution_date_fn: Option<FuncRef>,
    /// Fail at once when the other DAG (or task) does not exist.
    pub check_existence: bool,
}

/// An `s3_key` sensor.
#[derive(Debug, Clone, Default, Serialize)]
pub struct S3KeySpec {
    /// The keys (`s3://bucket/key` URLs, or keys in `bucket_name`), all of which must
    /// exist (templated).
    pub bucket_key: Vec<String>,
    /// The bucket of keys written without `s3://` (templated).
    pub bucket_name: Option<String>,
    /// Keys are `fnmatch` patterns.
    pub wildcard_match: bool,
    /// Accepted for Airflow files; the `aws_s3` storage's credentials are used.
    pub aws_conn_id: Option<String>,
}

/// A `trigger_dag_run` task (`TriggerDagRunOperator`).
#[derive(Debug, Clone, Serialize)]
pub struct TriggerDagRunSpec {
    /// The DAG to trigger (templated).
    pub trigger_dag_id: String,
    /// The new run's id (templated); None: `manual__<logical date>`.
    pub trigger_run_id: Option<String>,
    /// The new run's conf (templated).
    pub conf: Option<Map<String, Value>>,
    /// The new run's logical date (templated); None: now.
    pub logical_date: Option<String>,
    /// A run with that id already exists: clear it and run it again.
    pub reset_dag_run: bool,
    /// Wait until the triggered run ends.
    pub wait_for_completion: bool,
    /// How often the triggered run's state is read while waiting.
    #[serde(serialize_with = "ser_duration")]
    pub poke_interval: Duration,
    /// Run states that end the wait successfully.
    pub allowed_states: Vec<String>,
    /// Run states that fail the task.
    pub failed_states: Vec<String>,
    /// A run with that id already exists: skip (instead of failing).
    pub skip_when_already_exists: bool,
}

impl Default for TriggerDagRunSpec {
    fn default() -> Self {
        TriggerDagRunSpec {
            trigger_dag_id: String::new(),
            trigger_run_id: None,
            conf: None,
            logical_date: None,
            reset_dag_run: false,
            wait_for_completion: false,
            poke_interval: POKE_INTERVAL_DEFAULT,
            allowed_states: vec!["success".to_owned()],
            failed_states: vec!["failed".to_owned()],
            skip_when_already_exists: false,
        }
    }
}

/// Airflow's task instance states (what `external_task` states may name with task ids).
pub const TASK_INSTANCE_STATES: &[&str] = &[
    "success",
    "failed",
    "skipped",
    "upstream_failed",
    "up_for_retry",
    "up_for_reschedule",
    "running",
    "queued",
    "scheduled",
    "removed",
    "restarting",
    "deferred",
    "none",
];

/// Airflow's DAG run states.
pub const DAG_RUN_STATES: &[&str] = &["queued", "running", "success", "failed"];

fn ser_time<S: serde::Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format("%H:%M:%S"))
}

/// Whether a string is a template (holds `{{` or `{%`), so only its rendering can be
/// checked.
pub fn is_templated(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// A date-time as `DateTimeSensor`'s `target_time` and `TriggerDagRunOperator`'s
/// `logical_date` are written: RFC 3339 (`2026-05-01T10:00:00+02:00`), or without an
/// offset (UTC, Airflow's default time zone), with a space or `T`, or a date alone
/// (midnight UTC).
pub fn parse_datetime(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    let s = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Ok(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, fmt) {
            return Ok(d.with_timezone(&Utc));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(d.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(NaiveTime::MIN).and_utc());
    }
    Err(format!(
        "{s:?} is not a date-time (expected ISO 8601 such as \"2026-05-01T10:00:00+00:00\")"
    ))
}

/// A time of day, `HH:MM` or `HH:MM:SS` (`TimeSensor`'s `target_time`).
pub fn parse_time_of_day(text: &str) -> Result<NaiveTime, String> {
    let s = text.trim();
    NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .map_err(|_| format!("{s:?} is not a time of day (expected \"HH:MM\" or \"HH:MM:SS\")"))
}

impl SensorSpec {
    /// The wait before the next poke: `poke_interval`, or with `exponential_backoff`
    /// Airflow's `BaseSensorOperator._get_next_poke_interval` (airflow/sensors/base.py,
    /// 2.10): `min_backoff = max(int(poke_interval * 2 ** (poke_count - 2)), 1)`, plus a
    /// jitter of `sha1("dag#task#started_at#poke_count") mod min_backoff`, at most the
    /// time left before the timeout, at most `max_wait`. In reschedule mode the poke
    /// count is estimated from the time since the first poke, as Airflow does (it keeps
    /// no count between reschedules). `started_at` is the first poke's time;
    /// `poke_count` counts from 1.
    pub fn next_poke_interval(
        &self,
        dag_id: &str,
        task_id: &str,
        started_at: chrono::DateTime<chrono::Utc>,
        poke_count: u32,
        run_duration: Duration,
    ) -> Duration {
        if !self.exponential_backoff {
            return self.poke_interval;
        }
        let started = crate::retry::python_str(Some(started_at));
        let interval = self.poke_interval.as_secs_f64();
        let backoff = |n: u32| -> u64 {
            let exp = i32::try_from(n).unwrap_or(i32::MAX).saturating_sub(2);
            let min_backoff = (interval * 2f64.powi(exp)).floor().max(1.0);
            let min_backoff = if min_backoff >= 1e15 {
                1_000_000_000_000_000
            } else {
                min_backoff as u64
            };
            let digest = sha1_of(&format!("{dag_id}#{task_id}#{started}#{n}"));
            min_backoff + crate::retry::digest_mod(&digest, min_backoff)
        };
        let mut count = poke_count.max(1);
        if self.mode == SensorMode::Reschedule {
            let elapsed = run_duration.as_secs_f64();
            let (mut cumulative, mut estimated) = (0.0f64, 0u32);
            while cumulative <= elapsed && estimated < 64 {
                estimated += 1;
                cumulative += backoff(estimated) as f64;
            }
            if estimated > 0 {
                count = estimated;
            }
        }
        let delay = backoff(count) as f64;
        let left = self.timeout.as_secs_f64() - run_duration.as_secs_f64().floor();
        let mut secs = delay.min(left.max(0.0));
        if let Some(max) = self.max_wait {
            secs = secs.min(max.as_secs_f64());
        }
        Duration::from_secs_f64(secs.max(0.0))
    }
}

fn sha1_of(text: &str) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    Sha1::digest(text.as_bytes()).to_vec()
}
