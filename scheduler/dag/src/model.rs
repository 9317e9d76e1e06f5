//! The typed form of a DAG file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use lithoflow_executor_config::ExecutorConfig;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cron::CronExpr;
use crate::diag::Location;
use crate::graph::TaskGraph;
pub use crate::sensor::*;

/// A DAG or task id: `^[A-Za-z0-9_.-]+$`, at most 250 characters.
pub type DagId = String;
/// A task id, with the same rules as a [`DagId`].
pub type TaskId = String;

/// The longest id Airflow accepts (`ID_LEN`).
pub const MAX_ID_LEN: usize = 250;

/// Whether `id` is a valid DAG or task id.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A parsed, validated DAG.
#[derive(Debug, Clone, Serialize)]
pub struct Dag {
    /// The DAG's id (the file stem unless `dag_id` is set).
    pub dag_id: DagId,
    /// The file the DAG was read from.
    pub fileloc: PathBuf,
    /// Free text.
    pub description: Option<String>,
    /// When runs are created; `None` means manual triggers only.
    pub schedule: Option<Schedule>,
    /// How cron ticks become runs.
    pub timetable: Timetable,
    /// The first tick that may run.
    pub start_date: Option<DateTime<Utc>>,
    /// The last tick that may run (inclusive).
    pub end_date: Option<DateTime<Utc>>,
    /// The zone cron ticks are computed in.
    pub timezone: DagTimezone,
    /// Whether the DAG starts paused the first time it is seen.
    pub is_paused_upon_creation: bool,
    /// Whether missed ticks since `start_date` are all run.
    pub catchup: bool,
    /// Runs beyond this wait queued.
    pub max_active_runs: u32,
    /// Task instances running at once in one run.
    pub max_active_tasks: u32,
    /// A run still unfinished after this long fails.
    #[serde(serialize_with = "ser_opt_duration")]
    pub dagrun_timeout: Option<Duration>,
    /// Labels for filtering.
    pub tags: Vec<String>,
    /// Defaults for `{{ params.x }}`, overridable by a trigger's conf.
    pub params: Map<String, Value>,
    /// `user_defined_macros`, `user_defined_filters`, `render_template_as_native_obj`.
    pub templates: crate::template::TemplateSettings,
    /// Called when a run succeeds.
    pub on_success_callback: Vec<FuncRef>,
    /// Called when a run fails.
    pub on_failure_callback: Vec<FuncRef>,
    /// The DAG-wide executor settings (`[lithops_config]`).
    pub lithops_config: ExecutorConfig,
    /// Tasks in file order, with `default_args` applied.
    pub tasks: Vec<Task>,
    /// Dependencies between the tasks.
    #[serde(skip)]
    pub graph: TaskGraph,
    /// Where `dag_id` is written, for errors about the id (such as a duplicate).
    #[serde(skip)]
    pub dag_id_span: Option<std::ops::Range<usize>>,
    /// Where the file writes executor settings, for diagnostics about them.
    #[serde(skip)]
    pub settings_written: SettingsWritten,
    /// For a DAG defined by an Airflow DAG file (`.py`): what the loader found besides
    /// the settings (None for TOML DAGs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<PyDagInfo>,
}

/// What loading an Airflow DAG file (`.py`) says about one of its DAGs beyond its
/// settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PyDagInfo {
    /// The line in the file where the DAG is created.
    pub line: usize,
    /// The Airflow version whose defaults applied (2 or 3).
    pub airflow_version: u8,
    /// Why that version applied.
    pub version_reason: String,
    /// DAG arguments lithoflow has no meaning for, accepted and ignored.
    pub ignored: Vec<IgnoredArg>,
    /// Values computed while the file was imported (`Variable.get`, the clock), which a
    /// TOML file could not hold.
    pub parse_time: Vec<ParseTimeRead>,
    /// The modules of the DAGs folder the file imported (a change to one reloads it).
    pub modules: Vec<PathBuf>,
    /// The folders the DAG's tasks need on `sys.path` besides the DAG file's own: the
    /// Airflow compatibility package (first, so `import airflow` means lithoflow's) and
    /// the DAGs folder.
    #[serde(skip)]
    pub sys_path: Vec<PathBuf>,
}

/// An operator or DAG argument that lithoflow accepts and ignores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredArg {
    /// The argument.
    pub name: String,
    /// Where it is given.
    pub line: usize,
}

/// A value read or computed while the DAG file was imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseTimeRead {
    /// What was read (`Variable.get('bucket')`, `datetime.now()`).
    pub what: String,
    /// Where.
    pub line: usize,
}

/// The Airflow operator a task of a `.py` DAG was made from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OperatorInfo {
    /// Its class name (`PythonOperator`, `BigQueryInsertJobOperator`).
    pub operator: String,
    /// The module the class comes from (`airflow.operators.python`).
    pub operator_module: String,
    /// The line in the DAG file where the task is created.
    pub line: usize,
    /// A provider operator lithoflow does not implement: the task fails when it runs.
    pub unsupported: bool,
    /// A user-written operator class (its `execute` or `poke` runs on the worker).
    pub custom: bool,
    /// Operator arguments lithoflow has no meaning for, accepted and ignored.
    pub ignored: Vec<IgnoredArg>,
    /// The Python function the task calls as the file names it (`extract (etl.py:12)`),
    /// when it has one.
    pub callable: Option<String>,
}

/// Where a DAG file writes executor settings: the settings of each `lithops_config`
/// table, by section and name (`("lithops", "backend")`, written flat or in its section).
#[derive(Debug, Clone, Default)]
pub struct SettingsWritten {
    /// `[lithops_config]`.
    pub dag: WrittenAt,
    /// `lithops_config` in `[default_args]`.
    pub default_args: WrittenAt,
    /// Each task's own `lithops_config`, by task id (tasks without one are absent).
    pub tasks: BTreeMap<TaskId, WrittenAt>,
}

/// Settings by section and name, and where each is written.
pub type WrittenAt = BTreeMap<(&'static str, &'static str), Location>;

impl Dag {
    /// The task with this id.
    pub fn task(&self, id: &str) -> Option<&Task> {
        // The graph is built from the tasks in this order, so its index finds the task
        // without a walk over all of them (the engine asks at every task's start and end).
        self.graph
            .position(id)
            .and_then(|i| self.tasks.get(i))
            .filter(|t| t.task_id == id)
            .or_else(|| self.tasks.iter().find(|t| t.task_id == id))
    }

    /// The schedule as written (`"@daily"`, `"0 2 * * *"`), or `None` for manual only.
    pub fn schedule_str(&self) -> Option<&str> {
        self.schedule.as_ref().map(Schedule::as_str)
    }

    /// The executor settings `task` runs with, the layers merged key by key: `home` (the
    /// lithoflow home's config), then the DAG's `[lithops_config]`, then the task's own
    /// (with `[default_args]` filled in).
    pub fn executor_config(&self, home: &ExecutorConfig, task: &Task) -> ExecutorConfig {
        let mut cfg = home.clone();
        cfg.merge(&self.lithops_config);
        cfg.merge(&task.common.lithops_config);
        cfg
    }
}

/// When a DAG's runs are created.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// A cron expression or preset.
    Cron {
        /// As written in the file (a preset name or the expression).
        expr: String,
        /// The parsed expression (a preset's expansion).
        #[serde(skip)]
        cron: Box<CronExpr>,
    },
    /// A fixed duration (`"1d"`, `"6h"`, `"30m"`): Airflow's `schedule=timedelta(...)`,
    /// a run every `delta` (`DeltaTriggerTimetable`, or `DeltaDataIntervalTimetable`
    /// with `timetable = "cron_data_interval"`).
    Delta {
        /// As written in the file.
        expr: String,
        /// The time between runs (more than zero).
        #[serde(serialize_with = "ser_duration")]
        delta: Duration,
    },
    /// `@once`: one run at `start_date`.
    Once,
    /// `@continuous`: a new run as soon as the last one ends.
    Continuous,
    /// Runs triggered by asset events (Airflow's `schedule=[Asset(...), ...]`,
    /// `AssetTriggeredTimetable`): a run when the condition is met by the assets updated
    /// since the DAG's last asset-triggered run; no time-based runs.
    Assets(crate::asset::AssetCondition),
}

impl Schedule {
    /// The schedule as written.
    pub fn as_str(&self) -> &str {
        match self {
            Schedule::Cron { expr, .. } | Schedule::Delta { expr, .. } => expr,
            Schedule::Once => "@once",
            Schedule::Continuous => "@continuous",
            // The `summary` of Airflow 3's AssetTriggeredTimetable.
            Schedule::Assets(_) => "Asset",
        }
    }

    /// The asset condition of an asset schedule.
    pub fn assets(&self) -> Option<&crate::asset::AssetCondition> {
        match self {
            Schedule::Assets(c) => Some(c),
            _ => None,
        }
    }
}

/// How cron ticks (or a duration schedule's steps) become runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timetable {
    /// Airflow 3: a run at each tick, logical date = the tick (`CronTriggerTimetable`;
    /// for a duration schedule `DeltaTriggerTimetable`).
    #[default]
    CronTrigger,
    /// Airflow 2: interval [tick, next tick), run at its end, logical date = its start
    /// (`CronDataIntervalTimetable`; for a duration schedule
    /// `DeltaDataIntervalTimetable`).
    CronDataInterval,
}

/// The zone a DAG's cron ticks are computed in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DagTimezone {
    /// An IANA zone (`Europe/Amsterdam`), with DST.
    Named(#[serde(serialize_with = "ser_tz")] chrono_tz::Tz),
    /// A fixed offset, taken from `start_date`.
    Fixed(#[serde(serialize_with = "ser_display")] FixedOffset),
}

impl Default for DagTimezone {
    fn default() -> Self {
        DagTimezone::Named(chrono_tz::UTC)
    }
}

impl fmt::Display for DagTimezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DagTimezone::Named(tz) => f.write_str(tz.name()),
            DagTimezone::Fixed(off) => write!(f, "{off}"),
        }
    }
}

/// Airflow's twelve trigger rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[expect(
    missing_docs,
    reason = "the names are Airflow's, documented in docs/dag-format.md"
)]
pub enum TriggerRule {
    #[default]
    AllSuccess,
    AllFailed,
    AllDone,
    AllDoneMinOneSuccess,
    OneSuccess,
    OneFailed,
    OneDone,
    NoneFailed,
    NoneFailedMinOneSuccess,
    NoneSkipped,
    AllSkipped,
    Always,
}

/// Airflow's weight rules (`airflow/utils/weight_rule.py`): how a task's effective
/// priority weight is computed from its own and its relatives' `priority_weight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightRule {
    /// Its own weight plus those of every task downstream of it (Airflow's default).
    #[default]
    Downstream,
    /// Its own weight plus those of every task upstream of it.
    Upstream,
    /// Its own weight.
    Absolute,
}

impl WeightRule {
    /// The rules by their names in files, in Airflow's order.
    pub const NAMES: &[(&str, WeightRule)] = &[
        ("downstream", WeightRule::Downstream),
        ("upstream", WeightRule::Upstream),
        ("absolute", WeightRule::Absolute),
    ];

    /// The rule's name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            WeightRule::Downstream => "downstream",
            WeightRule::Upstream => "upstream",
            WeightRule::Absolute => "absolute",
        }
    }
}

/// A task, with `default_args` applied.
///
/// `Default` gives placeholder values (an empty task); [`crate::parse_dag`] gives every
/// key its value or its default from the table in [`crate::keys`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Task {
    /// The task's id (its table name under `[tasks]`).
    pub task_id: TaskId,
    /// What the task runs.
    #[serde(flatten)]
    pub kind: TaskKind,
    /// Plain dependencies (`upstream`), in file order.
    pub upstream: Vec<TaskId>,
    /// When the task may run, given its upstream tasks' states.
    pub trigger_rule: TriggerRule,
    /// How many times a failed try is retried.
    pub retries: u32,
    /// The base wait before a retry.
    #[serde(serialize_with = "ser_duration")]
    pub retry_delay: Duration,
    /// Multiplier for exponential backoff; 0 is off.
    pub retry_exponential_backoff: f64,
    /// Upper bound of the retry wait.
    #[serde(serialize_with = "ser_opt_duration")]
    pub max_retry_delay: Option<Duration>,
    /// A try still running after this long fails.
    #[serde(serialize_with = "ser_opt_duration")]
    pub execution_timeout: Option<Duration>,
    /// Run only if the previous run's instance of this task succeeded or was skipped.
    pub depends_on_past: bool,
    /// The task's owner (Airflow's `owner`, shown in listings).
    pub owner: String,
    /// Whether the task's return value is pushed as its XCom `return_value` (Airflow's
    /// `do_xcom_push`, true by default).
    pub do_xcom_push: bool,
    /// Whether a returned dict is also pushed key by key, each key an XCom of its own
    /// (Airflow's `multiple_outputs`).
    pub multiple_outputs: bool,
    /// The pool whose slots the task's tries take (Airflow's `pool`, `"default_pool"`).
    pub pool: String,
    /// How many slots of its pool a try takes (Airflow's `pool_slots`, at least 1).
    pub pool_slots: i64,
    /// The task's own priority weight (Airflow's `priority_weight`, int32 bounds);
    /// [`crate::priority::effective_weights`] applies the `weight_rule`.
    pub priority_weight: i64,
    /// How the effective priority weight is computed (Airflow's `weight_rule`).
    pub weight_rule: WeightRule,
    /// Instances of this task running at once across all runs of the DAG (Airflow's
    /// `max_active_tis_per_dag`); None: no limit.
    pub max_active_tis_per_dag: Option<u64>,
    /// Assets the task updates when it succeeds (Airflow's `outlets`).
    pub outlets: Vec<crate::asset::Asset>,
    /// Assets the task reads (Airflow's `inlets`); informational.
    pub inlets: Vec<crate::asset::Asset>,
    /// Settings every Lithops operator inherits.
    pub common: CommonParams,
    /// Python functions called on the executor when the task's state changes.
    pub callbacks: TaskCallbacks,
    /// Dynamic task mapping (`expand`, `expand_kwargs`): one task instance per element,
    /// created at run time; None: the task is not mapped.
    pub expand: Option<Expand>,
    /// The label of a mapped instance (Airflow 2.9's `map_index_template`), rendered
    /// with the instance's context after it ran.
    pub map_index_template: Option<String>,
    /// Instances of this task running at once in one DAG run (Airflow's
    /// `max_active_tis_per_dagrun`); None: no limit but the DAG's.
    pub max_active_tis_per_dagrun: Option<u64>,
    /// The task's own `params` (Airflow's BaseOperator `params`, `[default_args]`'s
    /// merged under them key by key): merged over the DAG's `params` in the task's
    /// context, a run's conf over both; None: none written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    /// For a task of a `.py` DAG: the Airflow operator it was made from (`dags show`
    /// writes it as the task's `operator`, `operator_module`, ...).
    #[serde(skip)]
    pub operator: Option<OperatorInfo>,
}

/// How a mapped task's instances get their arguments (Airflow's `expand` and
/// `expand_kwargs`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expand {
    /// `expand = { name = source, ... }`: each name maps over its source; several names
    /// give the cross product, the last name varying fastest (Airflow's
    /// `DictOfListsExpandInput`).
    Args(Vec<(String, ExpandSource)>),
    /// `expand_kwargs = source`: each element is a table of arguments (Airflow's
    /// `ListOfDictsExpandInput`).
    Kwargs(ExpandSource),
}

/// Where a mapped argument's elements come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpandSource {
    /// An upstream task's XCom `return_value` (a list, or a dict read as (key, value) pairs).
    Task(TaskId),
    /// A literal array written in the file.
    Literal(Vec<Value>),
}

impl Expand {
    /// The upstream tasks the elements come from, in file order, without repeats.
    pub fn sources(&self) -> Vec<&str> {
        let mut out: Vec<&str> = match self {
            Expand::Args(args) => args
                .iter()
                .filter_map(|(_, s)| match s {
                    ExpandSource::Task(t) => Some(t.as_str()),
                    ExpandSource::Literal(_) => None,
                })
                .collect(),
            Expand::Kwargs(ExpandSource::Task(t)) => vec![t.as_str()],
            Expand::Kwargs(ExpandSource::Literal(_)) => Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        out.retain(|t| seen.insert(*t));
        out
    }
}

/// A task's callbacks (Airflow's `on_*_callback` operator arguments), each a list of
/// functions called in order with the context as their one argument.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskCallbacks {
    /// Just before the task runs.
    pub on_execute_callback: Vec<FuncRef>,
    /// After it succeeded.
    pub on_success_callback: Vec<FuncRef>,
    /// After it failed with no retry left (the context holds `exception`).
    pub on_failure_callback: Vec<FuncRef>,
    /// After a failed try that will be retried (the context holds `exception`).
    pub on_retry_callback: Vec<FuncRef>,
    /// After it skipped itself.
    pub on_skipped_callback: Vec<FuncRef>,
}

impl TaskCallbacks {
    /// Whether no callback is set.
    pub fn is_empty(&self) -> bool {
        self.on_execute_callback.is_empty()
            && self.on_success_callback.is_empty()
            && self.on_failure_callback.is_empty()
            && self.on_retry_callback.is_empty()
            && self.on_skipped_callback.is_empty()
    }
}

impl Task {
    /// The task type's name as written in files (`call_async`, `map`, `python`, ...).
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            TaskKind::CallAsync(_) => "call_async",
            TaskKind::Map(_) => "map",
            TaskKind::MapReduce(_) => "map_reduce",
            TaskKind::Python(_) => "python",
            TaskKind::Branch(_) => "branch",
            TaskKind::ShortCircuit { .. } => "short_circuit",
            TaskKind::Bash(_) => "bash",
            TaskKind::Sensor(_) => "sensor",
            TaskKind::TriggerDagRun(_) => "trigger_dag_run",
            TaskKind::Empty => "empty",
        }
    }

    /// The upstream tasks whose return values this task reads (`data_from_task`,
    /// `iterdata_from_task`, `op_args_from_task`, `op_kwargs_from_task`).
    pub fn value_sources(&self) -> Vec<&str> {
        match &self.kind {
            TaskKind::CallAsync(c) => c.data_from_task.iter().map(|(_, t)| t.as_str()).collect(),
            TaskKind::Map(m) => m.iterdata.from_task().into_iter().collect(),
            TaskKind::MapReduce(mr) => mr.map.iterdata.from_task().into_iter().collect(),
            TaskKind::Python(p)
            | TaskKind::Branch(p)
            | TaskKind::ShortCircuit { python: p, .. } => p
                .op_args_from_task
                .iter()
                .map(|(_, t)| t.as_str())
                .chain(p.op_kwargs_from_task.iter().map(|(_, t)| t.as_str()))
                .collect(),
            TaskKind::Bash(_)
            | TaskKind::Sensor(_)
            | TaskKind::TriggerDagRun(_)
            | TaskKind::Empty => Vec::new(),
        }
    }

    /// The Python callable settings of a python, branch or short_circuit task, or of a
    /// python sensor (each gets Airflow's context).
    pub fn python(&self) -> Option<&PythonSpec> {
        match &self.kind {
            TaskKind::Python(p)
            | TaskKind::Branch(p)
            | TaskKind::ShortCircuit { python: p, .. }
            | TaskKind::Sensor(SensorSpec {
                sensor: SensorKind::Python(p),
                ..
            }) => Some(p),
            _ => None,
        }
    }

    /// Whether the task is mapped (`expand` or `expand_kwargs`).
    pub fn is_mapped(&self) -> bool {
        self.expand.is_some()
    }

    /// Every task this one depends on: `upstream`, then the tasks it reads values from,
    /// then the tasks its mapping expands over, without repeats, in that order.
    pub fn dependencies(&self) -> Vec<&str> {
        let mut deps: Vec<&str> = self.upstream.iter().map(String::as_str).collect();
        deps.extend(self.value_sources());
        if let Some(e) = &self.expand {
            deps.extend(e.sources());
        }
        let mut seen = std::collections::HashSet::new();
        deps.retain(|d| seen.insert(*d));
        deps
    }
}

/// Parameters every Lithops operator inherits (the seed README's "Inherited parameters").
#[derive(Debug, Clone, Default, Serialize)]
pub struct CommonParams {
    /// Task-level executor settings, over the DAG's.
    pub lithops_config: ExecutorConfig,
    /// Return once every call is accepted; the XCom is a job reference.
    pub async_invoke: bool,
    /// Wait for completion and return the results (false: return a job reference).
    pub get_result: bool,
    /// Delete the job's data from storage after the task.
    pub clean_data: bool,
    /// Environment variables set for the function.
    pub extra_env: Map<String, Value>,
    /// Memory for the function, MB (None: from config).
    pub runtime_memory: Option<u64>,
    /// Per-call time limit (None: from config).
    #[serde(serialize_with = "ser_opt_duration")]
    pub timeout: Option<Duration>,
    /// Extra modules to make importable.
    pub include_modules: Vec<String>,
    /// Modules to keep out.
    pub exclude_modules: Vec<String>,
}

/// A Python callable, `module:function`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct FuncRef {
    /// Dotted module path, importable with the DAG folder on `sys.path`.
    pub module: String,
    /// Function name inside the module.
    pub function: String,
}

impl fmt::Display for FuncRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.module, self.function)
    }
}

impl From<FuncRef> for String {
    fn from(f: FuncRef) -> String {
        f.to_string()
    }
}

/// What a task runs.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskKind {
    /// One call (`LithopsCallAsyncOperator`).
    CallAsync(CallAsync),
    /// One call per iterdata element (`LithopsMapOperator`).
    Map(MapSpec),
    /// A map, then a reducer over its results (`LithopsMapReduceOperator`).
    MapReduce(MapReduceSpec),
    /// A Python callable with Airflow's arguments (`PythonOperator`, `@task`).
    Python(PythonSpec),
    /// A callable that returns the task ids to follow (`BranchPythonOperator`,
    /// `@task.branch`); the other direct downstream tasks are skipped.
    Branch(PythonSpec),
    /// A callable whose falsy result skips the downstream tasks
    /// (`ShortCircuitOperator`, `@task.short_circuit`).
    ShortCircuit {
        /// The callable.
        #[serde(flatten)]
        python: PythonSpec,
        /// True: a falsy result skips every downstream task; false: only the direct
        /// ones, the rest follow their trigger rules.
        ignore_downstream_trigger_rules: bool,
    },
    /// A shell command (`BashOperator`).
    Bash(BashSpec),
    /// Waits for a condition, poking it from the scheduler (Airflow's sensors).
    Sensor(SensorSpec),
    /// Creates a run of another DAG, optionally waiting for it (`TriggerDagRunOperator`).
    TriggerDagRun(TriggerDagRunSpec),
    /// Nothing to run (`EmptyOperator`, `DummyOperator`).
    #[default]
    Empty,
}

/// The callable of a python, branch or short_circuit task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PythonSpec {
    /// The function.
    pub python_callable: FuncRef,
    /// Positional arguments (templated).
    pub op_args: Vec<Value>,
    /// Keyword arguments (templated).
    pub op_kwargs: Map<String, Value>,
    /// Positional arguments taken from upstream tasks' return values: position -> task.
    pub op_args_from_task: Vec<(usize, TaskId)>,
    /// Keyword arguments taken from upstream tasks' return values, in file order.
    pub op_kwargs_from_task: Vec<(String, TaskId)>,
    /// Rendered and passed as the keyword argument `templates_dict`.
    pub templates_dict: Option<Map<String, Value>>,
    /// Write the return value into the task's log.
    pub show_return_value_in_logs: bool,
}

/// A `bash` task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BashSpec {
    /// The command, run with `bash -c` (templated).
    pub bash_command: String,
    /// The environment: replaces the inherited one unless `append_env` (templated).
    pub env: Option<Map<String, Value>>,
    /// Add `env` to the inherited environment instead of replacing it.
    pub append_env: bool,
    /// The working directory (default: a fresh temporary one, as Airflow).
    pub cwd: Option<String>,
    /// Exit codes that mean "skipped" (Airflow's default: 99).
    pub skip_on_exit_code: Vec<i64>,
}

/// A `call_async` task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallAsync {
    /// The function.
    pub func: FuncRef,
    /// Its arguments: a table binds as keyword arguments; anything else (an array too,
    /// as in current Lithops) binds as the one positional argument.
    pub data: Value,
    /// Keyword arguments taken from upstream tasks' return values, in file order.
    pub data_from_task: Vec<(String, TaskId)>,
}

/// Where a map's elements come from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Iterdata {
    /// `map_iterdata`, written in the file.
    Literal(Vec<Value>),
    /// `iterdata_from_task = "t"`: iterate over t's return value.
    FromTask(TaskId),
    /// `iterdata_from_task = { kw = "t" }`: each element becomes `{ kw = element }`.
    FromTaskKeyword {
        /// The keyword each element binds to.
        keyword: String,
        /// The upstream task.
        task: TaskId,
    },
}

impl Default for Iterdata {
    fn default() -> Self {
        Iterdata::Literal(Vec::new())
    }
}

impl Iterdata {
    /// The upstream task the elements come from, if any.
    pub fn from_task(&self) -> Option<&str> {
        match self {
            Iterdata::Literal(_) => None,
            Iterdata::FromTask(t) | Iterdata::FromTaskKeyword { task: t, .. } => Some(t),
        }
    }
}

/// Arguments added to every call of a map.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtraParams {
    /// A table: keyword arguments.
    Keyword(Map<String, Value>),
    /// An array: positional arguments after the element.
    Positional(Vec<Value>),
}

/// A `map` task, and the map half of a `map_reduce`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MapSpec {
    /// The function applied to each element.
    pub map_function: FuncRef,
    /// The elements.
    pub iterdata: Iterdata,
    /// Arguments added to every call.
    pub extra_params: Option<ExtraParams>,
    /// Split each object into parts of this many bytes.
    pub chunk_size: Option<u64>,
    /// Split each object into this many parts.
    pub chunk_n: Option<u64>,
    /// Fan the calls out from inside the cloud (aws_lambda only).
    pub remote_invocation: bool,
    /// Calls in flight at once (None: `invoke_pool_threads` from the config, else 500).
    pub invoke_pool_threads: Option<u64>,
}

/// A `map_reduce` task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MapReduceSpec {
    /// The map half.
    #[serde(flatten)]
    pub map: MapSpec,
    /// The reducer, called with the list of map results.
    pub reduce_function: FuncRef,
    /// Memory for map calls, MB.
    pub map_runtime_memory: Option<u64>,
    /// Memory for the reducer, MB.
    pub reduce_runtime_memory: Option<u64>,
    /// One reducer per object after partitioning.
    pub reducer_one_per_object: bool,
    /// Wait for map results locally before starting the reducer.
    pub reducer_wait_local: bool,
}

pub(crate) fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::duration::format(*d))
}

pub(crate) fn ser_opt_duration<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

fn ser_tz<S: serde::Serializer>(tz: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

fn ser_display<S: serde::Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
