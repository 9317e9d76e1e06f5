//! The table of keys.
//!
//! Its order is the order of the parser's messages: the keys allowed at the top of a
//! file are listed in it ("expected one of dag_id, description, ..."), and a "did you
//! mean" hint prefers, of equally close keys, the later one. `dags show` lists a task's
//! keys in this order too (a task type's own keys first).

use std::time::Duration;

use serde_json::{Map, Value};

use super::Holds::{Hand, Plain as P};
use super::Scope::{
    BashCommand, CallAsync, Common, Executor, Lithops, MapLike, MapReduce, Mappable, PythonCall,
    Sensor, TriggerDagRun, Waits,
};
use super::{Key, Place, Plain, Scope, ValueKind as K, slot, task, task_only};
use crate::model::{
    Expand, ExpandSource, ExtraParams, Iterdata, MapReduceSpec, SensorKind, SensorSpec, TaskKind,
    TriggerDagRunSpec,
};
use crate::priority::{MAX_WEIGHT, MIN_WEIGHT};

/// A sanity bound on memory, MB (1 TiB); each backend checks its own limits (Lambda:
/// 128-10,240 MB).
const MEMORY_MAX: u64 = 1024 * 1024;

/// The largest integer a count such as `chunk_size` may be (what fits in an `i64`).
const INT_MAX: u64 = i64::MAX.unsigned_abs();

mod shows;
use shows::*;

/// Every key of a DAG file: the DAG-level keys, then the task keys (`lithops_config` is
/// both), then `tasks`.
pub static KEYS: &[Key] = &[
    // ----- the top of a DAG file ---------------------------------------------------------
    dag_key("dag_id", K::String, "the file stem", "The DAG's id."),
    dag_key(
        "description",
        K::String,
        "none",
        "Free text, shown by `dags show`.",
    ),
    dag_key(
        "schedule",
        K::String,
        "none: manual triggers only",
        "A cron expression, a preset, a duration, \"@once\", \"@continuous\", or assets: [\"uri\", ...] (all), { all = [...] }, { any = [...] }.",
    ),
    dag_key(
        "timetable",
        K::String,
        "\"cron_trigger\"",
        "How cron ticks become runs: \"cron_trigger\" (Airflow 3) or \"cron_data_interval\" (Airflow 2).",
    ),
    dag_key(
        "start_date",
        K::Date,
        "none",
        "The first tick that may run.",
    ),
    dag_key(
        "end_date",
        K::Date,
        "none",
        "The last tick that may run (inclusive).",
    ),
    dag_key(
        "timezone",
        K::String,
        "\"UTC\", or the fixed offset of start_date",
        "The IANA zone cron ticks are computed in.",
    ),
    dag_key(
        "is_paused_upon_creation",
        K::Boolean,
        "true",
        "Whether the DAG starts paused the first time it is seen.",
    ),
    dag_key(
        "catchup",
        K::Boolean,
        "false",
        "Whether every missed tick since start_date gets a run.",
    ),
    dag_key(
        "max_active_runs",
        K::Integer,
        "16 (1 with @continuous)",
        "Runs of this DAG running at once; further runs wait queued.",
    ),
    dag_key(
        "max_active_tasks",
        K::Integer,
        "16",
        "Tasks running at once within one run.",
    ),
    dag_key(
        "dagrun_timeout",
        K::Duration,
        "none",
        "A run still unfinished after this long fails.",
    ),
    dag_key("tags", K::Strings, "[]", "Labels for filtering."),
    Key {
        name: "params",
        aliases: &[],
        doc: "Values for {{ params.x }} (a task's over the DAG's, key by key), overridable by a trigger's conf.",
        place: Place {
            dag: true,
            task: Some(Common),
            default_args: true,
        },
        airflow: Some(Common),
        holds: P(Plain::Kwargs {
            at: slot!(params),
            unset: "- (the DAG's)",
        }),
    },
    dag_key(
        "user_defined_macros",
        K::Table,
        "{}",
        "Names every template sees: a value, or { callable = \"module:function\" } run in Python.",
    ),
    dag_key(
        "user_defined_filters",
        K::Table,
        "{}",
        "Jinja filters by name, each a Python function \"module:function\".",
    ),
    dag_key(
        "render_template_as_native_obj",
        K::Boolean,
        "false",
        "Templates render to Python values (lists, numbers...) rather than text.",
    ),
    dag_key(
        "default_args",
        K::Table,
        "{}",
        "Defaults for task parameters.",
    ),
    // ----- every task type -----------------------------------------------------------------
    Key {
        name: "type",
        aliases: &[],
        doc: "The task type.",
        place: task_only(Common),
        airflow: None,
        holds: Hand {
            kind: K::String,
            default: None,
            // The listing names the type in each task's header.
            show: None,
        },
    },
    Key {
        name: "upstream",
        aliases: &[],
        doc: "Plain dependencies: Airflow's `[a, b] >> this`.",
        place: task_only(Common),
        airflow: None,
        holds: Hand {
            kind: K::TaskIds,
            default: Some("[]"),
            // The listing shows every upstream task, data dependencies too, on its own.
            show: None,
        },
    },
    Key {
        name: "trigger_rule",
        aliases: &[],
        doc: "When the task may run, given its upstream tasks' states.",
        place: task(Common),
        airflow: Some(Common),
        holds: Hand {
            kind: K::String,
            default: Some("\"all_success\""),
            show: Some(|t| Some(t.trigger_rule.name().to_owned())),
        },
    },
    Key {
        name: "retries",
        aliases: &[],
        doc: "How many times a failed try is retried.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Count {
            at: slot!(retries),
            default: 0,
        }),
    },
    Key {
        name: "retry_delay",
        aliases: &[],
        doc: "The base wait before a retry.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Duration {
            at: slot!(retry_delay),
            default: Duration::from_secs(300),
        }),
    },
    Key {
        name: "retry_exponential_backoff",
        aliases: &[],
        doc: "Multiplier for exponential backoff between retries; 0 is off.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Multiplier {
            at: slot!(retry_exponential_backoff),
            default: 0.0,
        }),
    },
    Key {
        name: "max_retry_delay",
        aliases: &[],
        doc: "Upper bound of the wait between retries.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::OptDuration {
            at: slot!(max_retry_delay),
            positive: false,
            unset: "-",
        }),
    },
    Key {
        name: "execution_timeout",
        aliases: &[],
        doc: "A try still running after this long fails.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::OptDuration {
            at: slot!(execution_timeout),
            positive: true,
            unset: "-",
        }),
    },
    Key {
        name: "depends_on_past",
        aliases: &[],
        doc: "Run only if the previous run's instance of this task succeeded or was skipped.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Bool {
            at: slot!(depends_on_past),
            default: false,
        }),
    },
    Key {
        name: "do_xcom_push",
        aliases: &[],
        doc: "Push the task's return value as its XCom `return_value` (false: push nothing).",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Bool {
            at: slot!(do_xcom_push),
            default: true,
        }),
    },
    Key {
        name: "multiple_outputs",
        aliases: &[],
        doc: "Also push a returned dict key by key, each as an XCom of its own.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Bool {
            at: slot!(multiple_outputs),
            default: false,
        }),
    },
    Key {
        name: "owner",
        aliases: &[],
        doc: "The task's owner, shown in listings.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Str {
            at: slot!(owner),
            default: "airflow",
        }),
    },
    Key {
        name: "pool",
        aliases: &[],
        doc: "The pool whose slots the task's tries take; a try waits, scheduled, for a free slot.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Str {
            at: slot!(pool),
            default: "default_pool",
        }),
    },
    Key {
        name: "pool_slots",
        aliases: &[],
        doc: "How many slots of its pool a try takes (at least 1).",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Int {
            at: slot!(pool_slots),
            default: 1,
            min: 1,
            max: MAX_WEIGHT,
        }),
    },
    Key {
        name: "priority_weight",
        aliases: &[],
        doc: "The task's own priority; waiting instances with the higher effective weight start first.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::Int {
            at: slot!(priority_weight),
            default: 1,
            min: MIN_WEIGHT,
            max: MAX_WEIGHT,
        }),
    },
    Key {
        name: "weight_rule",
        aliases: &[],
        doc: "How the effective weight is computed: \"downstream\" (own + all downstream), \"upstream\" (own + all upstream) or \"absolute\" (own).",
        place: task(Common),
        airflow: Some(Common),
        holds: Hand {
            kind: K::String,
            default: Some("\"downstream\""),
            show: Some(|t| Some(t.weight_rule.name().to_owned())),
        },
    },
    Key {
        name: "max_active_tis_per_dag",
        aliases: &[],
        doc: "Instances of this task running at once across all runs of the DAG.",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::OptInt {
            at: slot!(max_active_tis_per_dag),
            min: 1,
            max: MAX_WEIGHT.unsigned_abs(),
            unset: "unlimited",
        }),
    },
    Key {
        name: "outlets",
        aliases: &[],
        doc: "Assets the task updates when it succeeds: an event per asset, which may trigger asset-scheduled DAGs.",
        place: task(Common),
        airflow: None,
        holds: Hand {
            kind: K::Value,
            default: Some("[]"),
            show: Some(|t| show_assets(&t.outlets)),
        },
    },
    Key {
        name: "inlets",
        aliases: &[],
        doc: "Assets the task reads (informational, as in Airflow).",
        place: task(Common),
        airflow: None,
        holds: Hand {
            kind: K::Value,
            default: Some("[]"),
            show: Some(|t| show_assets(&t.inlets)),
        },
    },
    // ----- executor settings -----------------------------------------------------------------
    callback_key(
        "on_execute_callback",
        false,
        "Called with the context just before the task runs.",
        |t| show_funcs(&t.callbacks.on_execute_callback),
    ),
    callback_key(
        "on_success_callback",
        true,
        "Called with the context after the task succeeds (at the top: after a run succeeds, reason \"success\").",
        |t| show_funcs(&t.callbacks.on_success_callback),
    ),
    callback_key(
        "on_failure_callback",
        true,
        "Called with the context (and its `exception`) after the task fails for good (at the top: after a run fails, reason \"task_failure\", \"timed_out\" or \"all_tasks_deadlocked\").",
        |t| show_funcs(&t.callbacks.on_failure_callback),
    ),
    callback_key(
        "on_retry_callback",
        false,
        "Called with the context (and its `exception`) after a failed try that will be retried.",
        |t| show_funcs(&t.callbacks.on_retry_callback),
    ),
    callback_key(
        "on_skipped_callback",
        false,
        "Called with the context after the task skips itself (AirflowSkipException, a bash skip exit code).",
        |t| show_funcs(&t.callbacks.on_skipped_callback),
    ),
    Key {
        name: "lithops_config",
        aliases: &["config"],
        doc: "Executor settings, over the DAG's [lithops_config] (at the top: the DAG's).",
        place: Place {
            dag: true,
            task: Some(Executor),
            default_args: true,
        },
        airflow: Some(Lithops),
        holds: Hand {
            kind: K::Table,
            default: Some("{}"),
            show: Some(|t| {
                let cfg = serde_json::to_value(&t.common.lithops_config).unwrap_or(Value::Null);
                Some(cfg.to_string())
            }),
        },
    },
    Key {
        name: "async_invoke",
        aliases: &[],
        doc: "Return once every call is accepted; the XCom is a job reference.",
        place: task(Lithops),
        airflow: Some(Lithops),
        holds: P(Plain::Bool {
            at: slot!(common.async_invoke),
            default: false,
        }),
    },
    Key {
        name: "get_result",
        aliases: &[],
        doc: "Wait for completion and return the results (false: a job reference).",
        place: task(Lithops),
        airflow: Some(Lithops),
        holds: P(Plain::Bool {
            at: slot!(common.get_result),
            default: true,
        }),
    },
    Key {
        name: "clean_data",
        aliases: &[],
        doc: "Delete the job's data from storage after the task.",
        place: task(Lithops),
        airflow: Some(Lithops),
        holds: P(Plain::Bool {
            at: slot!(common.clean_data),
            default: false,
        }),
    },
    Key {
        name: "extra_env",
        aliases: &[],
        doc: "Environment variables set for the function.",
        place: task(Executor),
        airflow: Some(Lithops),
        holds: Hand {
            kind: K::Table,
            default: Some("{}"),
            show: Some(|t| Some(Value::Object(t.common.extra_env.clone()).to_string())),
        },
    },
    Key {
        name: "runtime_memory",
        aliases: &[],
        doc: "Memory for the function, MB.",
        place: task(Executor),
        airflow: Some(Lithops),
        holds: P(Plain::OptInt {
            at: slot!(common.runtime_memory),
            min: 1,
            max: MEMORY_MAX,
            unset: "- (from config)",
        }),
    },
    Key {
        name: "timeout",
        aliases: &[],
        doc: "Time limit of each function call; for a sensor, its timeout (default 7 days).",
        place: task(Executor),
        airflow: Some(Lithops),
        holds: P(Plain::OptDuration {
            at: slot!(common.timeout),
            positive: true,
            unset: "- (from config)",
        }),
    },
    Key {
        name: "include_modules",
        aliases: &[],
        doc: "Modules shipped with the function; paths must stay inside the DAGs folder.",
        place: task(Executor),
        airflow: Some(Lithops),
        holds: P(Plain::Strings {
            at: slot!(common.include_modules),
            module_paths: true,
        }),
    },
    Key {
        name: "exclude_modules",
        aliases: &[],
        doc: "Modules never shipped.",
        place: task(Executor),
        airflow: Some(Lithops),
        holds: P(Plain::Strings {
            at: slot!(common.exclude_modules),
            module_paths: false,
        }),
    },
    // ----- call_async ---------------------------------------------------------------------
    Key {
        name: "func",
        aliases: &[],
        doc: "The Python callable.",
        place: task(CallAsync),
        airflow: Some(CallAsync),
        holds: Hand {
            kind: K::Function,
            default: None,
            show: Some(|t| match &t.kind {
                TaskKind::CallAsync(c) => Some(c.func.to_string()),
                _ => None,
            }),
        },
    },
    Key {
        name: "data",
        aliases: &[],
        doc: "The function's arguments: a table binds as keyword arguments.",
        place: task(CallAsync),
        airflow: Some(CallAsync),
        holds: Hand {
            kind: K::Value,
            default: Some("{}"),
            show: Some(|t| match &t.kind {
                TaskKind::CallAsync(c) => Some(c.data.to_string()),
                _ => None,
            }),
        },
    },
    Key {
        name: "data_from_task",
        aliases: &[],
        doc: "Keyword arguments taken from upstream tasks' results.",
        place: task_only(CallAsync),
        airflow: Some(CallAsync),
        holds: Hand {
            kind: K::Table,
            default: Some("none"),
            show: Some(|t| match &t.kind {
                TaskKind::CallAsync(c) if !c.data_from_task.is_empty() => Some(task_refs(
                    c.data_from_task.iter().map(|(k, t)| (k.clone(), t)),
                )),
                _ => None,
            }),
        },
    },
    // ----- map and map_reduce -----------------------------------------------------------------
    Key {
        name: "map_function",
        aliases: &[],
        doc: "The function applied to each element.",
        place: task(MapLike),
        airflow: Some(MapLike),
        holds: Hand {
            kind: K::Function,
            default: None,
            show: Some(|t| map_spec(t).map(|m| m.map_function.to_string())),
        },
    },
    Key {
        name: "map_iterdata",
        aliases: &[],
        doc: "The elements, one call each (or iterdata_from_task).",
        place: task(MapLike),
        airflow: Some(MapLike),
        holds: Hand {
            kind: K::Value,
            default: Some("none"),
            show: Some(|t| match &map_spec(t)?.iterdata {
                Iterdata::Literal(items) => Some(Value::Array(items.clone()).to_string()),
                _ => None,
            }),
        },
    },
    Key {
        name: "iterdata_from_task",
        aliases: &["iterdata_form_task"],
        doc: "Iterate over an upstream task's result (or map_iterdata).",
        place: task_only(MapLike),
        airflow: Some(MapLike),
        holds: Hand {
            kind: K::TaskIds,
            default: Some("none"),
            show: Some(|t| match &map_spec(t)?.iterdata {
                Iterdata::Literal(_) => None,
                Iterdata::FromTask(t) => Some(t.clone()),
                Iterdata::FromTaskKeyword { keyword, task } => {
                    Some(format!("{{ {keyword} = {task:?} }}"))
                }
            }),
        },
    },
    Key {
        name: "extra_params",
        aliases: &["extra_args"],
        doc: "Arguments added to every call: a table by keyword, an array by position.",
        place: task(MapLike),
        airflow: Some(MapLike),
        holds: Hand {
            kind: K::Value,
            default: Some("none"),
            show: Some(|t| {
                Some(match &map_spec(t)?.extra_params {
                    Some(ExtraParams::Keyword(k)) => Value::Object(k.clone()).to_string(),
                    Some(ExtraParams::Positional(a)) => Value::Array(a.clone()).to_string(),
                    None => "-".to_owned(),
                })
            }),
        },
    },
    Key {
        name: "chunk_size",
        aliases: &[],
        doc: "Split each object into parts of this many bytes.",
        place: task(MapLike),
        airflow: Some(MapLike),
        holds: P(Plain::OptInt {
            at: slot!(TaskKind::Map(m) | TaskKind::MapReduce(MapReduceSpec { map: m, .. }) => m.chunk_size),
            min: 1,
            max: INT_MAX,
            unset: "-",
        }),
    },
    Key {
        name: "chunk_n",
        aliases: &[],
        doc: "Split each object into this many parts.",
        place: task(MapLike),
        airflow: Some(MapLike),
        holds: P(Plain::OptInt {
            at: slot!(TaskKind::Map(m) | TaskKind::MapReduce(MapReduceSpec { map: m, .. }) => m.chunk_n),
            min: 1,
            // An object is split into at most MAX_PARTS parts, so a larger chunk_n can
            // never run: said at validation rather than when the task runs.
            max: lithoflow_executor_config::MAX_PARTS,
            unset: "-",
        }),
    },
    Key {
        name: "remote_invocation",
        aliases: &[],
        doc: "Fan the calls out from inside the cloud (aws_lambda only).",
        place: task(MapLike),
        airflow: Some(MapLike),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::Map(m) | TaskKind::MapReduce(MapReduceSpec { map: m, .. }) => m.remote_invocation),
            default: false,
        }),
    },
    Key {
        name: "invoke_pool_threads",
        aliases: &[],
        doc: "Calls in flight at once.",
        place: task(MapLike),
        airflow: Some(MapLike),
        holds: P(Plain::OptInt {
            at: slot!(TaskKind::Map(m) | TaskKind::MapReduce(MapReduceSpec { map: m, .. }) => m.invoke_pool_threads),
            min: 1,
            max: INT_MAX,
            unset: "- (from config, else 500)",
        }),
    },
    Key {
        name: "reduce_function",
        aliases: &[],
        doc: "The reducer, called with the list of map results.",
        place: task(MapReduce),
        airflow: Some(MapReduce),
        holds: Hand {
            kind: K::Function,
            default: None,
            show: Some(|t| match &t.kind {
                TaskKind::MapReduce(mr) => Some(mr.reduce_function.to_string()),
                _ => None,
            }),
        },
    },
    Key {
        name: "map_runtime_memory",
        aliases: &[],
        doc: "Memory for the map calls, MB.",
        place: task(MapReduce),
        airflow: Some(MapReduce),
        holds: P(Plain::OptInt {
            at: slot!(TaskKind::MapReduce(mr) => mr.map_runtime_memory),
            min: 1,
            max: MEMORY_MAX,
            unset: "-",
        }),
    },
    Key {
        name: "reduce_runtime_memory",
        aliases: &[],
        doc: "Memory for the reducer, MB.",
        place: task(MapReduce),
        airflow: Some(MapReduce),
        holds: P(Plain::OptInt {
            at: slot!(TaskKind::MapReduce(mr) => mr.reduce_runtime_memory),
            min: 1,
            max: MEMORY_MAX,
            unset: "-",
        }),
    },
    Key {
        name: "reducer_one_per_object",
        aliases: &[],
        doc: "One reducer per object after partitioning.",
        place: task(MapReduce),
        airflow: Some(MapReduce),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::MapReduce(mr) => mr.reducer_one_per_object),
            default: false,
        }),
    },
    Key {
        name: "reducer_wait_local",
        aliases: &[],
        doc: "Wait for the map results locally before starting the reducer.",
        place: task(MapReduce),
        airflow: Some(MapReduce),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::MapReduce(mr) => mr.reducer_wait_local),
            default: false,
        }),
    },
    // ----- python, branch and short_circuit ---------------------------------------------
    Key {
        name: "python_callable",
        aliases: &[],
        doc: "The Python callable.",
        place: task(PythonCall),
        airflow: Some(PythonCall),
        holds: Hand {
            kind: K::Function,
            default: None,
            show: Some(|t| python_of(t).map(|p| p.python_callable.to_string())),
        },
    },
    Key {
        name: "op_args",
        aliases: &[],
        doc: "Positional arguments (templated).",
        place: task(PythonCall),
        airflow: Some(PythonCall),
        holds: Hand {
            kind: K::Value,
            default: Some("[]"),
            show: Some(|t| python_of(t).map(|p| Value::Array(p.op_args.clone()).to_string())),
        },
    },
    Key {
        name: "op_kwargs",
        aliases: &[],
        doc: "Keyword arguments (templated).",
        place: task(PythonCall),
        airflow: Some(PythonCall),
        holds: Hand {
            kind: K::Table,
            default: Some("{}"),
            show: Some(|t| python_of(t).map(|p| Value::Object(p.op_kwargs.clone()).to_string())),
        },
    },
    Key {
        name: "op_args_from_task",
        aliases: &[],
        doc: "Positional arguments taken from upstream tasks' results, by position.",
        place: task_only(Scope::Python),
        airflow: None,
        holds: Hand {
            kind: K::Table,
            default: Some("{}"),
            show: Some(|t| {
                let p = t.python()?;
                Some(task_refs(
                    p.op_args_from_task.iter().map(|(i, t)| (i.to_string(), t)),
                ))
            }),
        },
    },
    Key {
        name: "op_kwargs_from_task",
        aliases: &[],
        doc: "Keyword arguments taken from upstream tasks' results.",
        place: task_only(Scope::Python),
        airflow: None,
        holds: Hand {
            kind: K::Table,
            default: Some("{}"),
            show: Some(|t| {
                let p = t.python()?;
                Some(task_refs(
                    p.op_kwargs_from_task.iter().map(|(k, t)| (k.clone(), t)),
                ))
            }),
        },
    },
    Key {
        name: "templates_dict",
        aliases: &[],
        doc: "Rendered and passed as the keyword argument templates_dict.",
        place: task(PythonCall),
        airflow: Some(PythonCall),
        holds: P(Plain::Kwargs {
            at: slot!(TaskKind::Python(p) | TaskKind::Branch(p) | TaskKind::ShortCircuit { python: p, .. } | TaskKind::Sensor(SensorSpec { sensor: SensorKind::Python(p), .. }) => p.templates_dict),
            unset: "-",
        }),
    },
    Key {
        name: "show_return_value_in_logs",
        aliases: &[],
        doc: "Write the return value into the task's log.",
        place: task(Scope::Python),
        airflow: Some(Scope::Python),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::Python(p) | TaskKind::Branch(p) | TaskKind::ShortCircuit { python: p, .. } => p.show_return_value_in_logs),
            default: true,
        }),
    },
    Key {
        name: "ignore_downstream_trigger_rules",
        aliases: &[],
        doc: "A falsy result skips every downstream task (false: only the direct ones).",
        place: task(Scope::ShortCircuit),
        airflow: Some(Scope::ShortCircuit),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::ShortCircuit { ignore_downstream_trigger_rules: b, .. } => *b),
            default: true,
        }),
    },
    // ----- bash -----------------------------------------------------------------------------
    Key {
        name: "bash_command",
        aliases: &[],
        doc: "The command, run with bash -c (templated).",
        place: task(BashCommand),
        airflow: Some(BashCommand),
        holds: Hand {
            kind: K::String,
            default: None,
            show: Some(|t| bash(t).map(|b| b.bash_command.clone())),
        },
    },
    Key {
        name: "env",
        aliases: &[],
        doc: "The command's environment: replaces the inherited one unless append_env.",
        place: task(BashCommand),
        airflow: Some(BashCommand),
        holds: Hand {
            kind: K::Table,
            default: Some("none (inherited)"),
            show: Some(|t| {
                Some(
                    bash(t)?
                        .env
                        .as_ref()
                        .map_or("- (inherited)".to_owned(), |e| {
                            Value::Object(e.clone()).to_string()
                        }),
                )
            }),
        },
    },
    Key {
        name: "append_env",
        aliases: &[],
        doc: "Add env to the inherited environment instead of replacing it.",
        place: task(Scope::Bash),
        airflow: Some(Scope::Bash),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::Bash(b) => b.append_env),
            default: false,
        }),
    },
    Key {
        name: "cwd",
        aliases: &[],
        doc: "The working directory (default: a fresh temporary one).",
        place: task(BashCommand),
        airflow: Some(BashCommand),
        holds: P(Plain::OptStr {
            at: slot!(TaskKind::Bash(b) | TaskKind::Sensor(SensorSpec { sensor: SensorKind::Bash { bash: b, .. }, .. }) => b.cwd),
            unset: "- (a temporary folder)",
        }),
    },
    Key {
        name: "skip_on_exit_code",
        aliases: &[],
        doc: "Exit codes that mean \"skipped\".",
        place: task(Scope::Bash),
        airflow: Some(Scope::Bash),
        holds: Hand {
            kind: K::Integers,
            default: Some("[99]"),
            show: Some(|t| Some(format!("{:?}", bash(t)?.skip_on_exit_code))),
        },
    },
    // ----- dynamic task mapping ----------------------------------------------------------------
    Key {
        name: "expand",
        aliases: &[],
        doc: "Map the task at run time: a table of argument name -> upstream task id (its result) or literal array; several names give the cross product.",
        place: task_only(Mappable),
        airflow: None,
        holds: Hand {
            kind: K::Table,
            default: Some("none (not mapped)"),
            show: Some(|t| match &t.expand {
                Some(Expand::Args(args)) => {
                    let m: Map<String, Value> = args
                        .iter()
                        .map(|(k, s)| (k.clone(), show_source(s)))
                        .collect();
                    Some(Value::Object(m).to_string())
                }
                _ => None,
            }),
        },
    },
    Key {
        name: "expand_kwargs",
        aliases: &[],
        doc: "Map the task at run time over a list of argument tables: an upstream task id (its result) or a literal array of tables.",
        place: task_only(Mappable),
        airflow: None,
        holds: Hand {
            kind: K::Value,
            default: Some("none (not mapped)"),
            show: Some(|t| match &t.expand {
                Some(Expand::Kwargs(s)) => Some(show_source(s).to_string()),
                _ => None,
            }),
        },
    },
    Key {
        name: "map_index_template",
        aliases: &[],
        doc: "The label of each mapped instance, rendered with its context after it ran (ignored on an unmapped task).",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::OptStr {
            at: slot!(map_index_template),
            unset: "-",
        }),
    },
    Key {
        name: "max_active_tis_per_dagrun",
        aliases: &[],
        doc: "Instances of the task running at once in one DAG run (mapped instances count one each).",
        place: task(Common),
        airflow: Some(Common),
        holds: P(Plain::OptInt {
            at: slot!(max_active_tis_per_dagrun),
            min: 1,
            max: INT_MAX,
            unset: "-",
        }),
    },
    // ----- sensor and trigger_dag_run ------------------------------------------------------
    Key {
        name: "poke_interval",
        aliases: &[],
        doc: "The time between two pokes (trigger_dag_run: between two reads of the triggered run's state).",
        place: task(Waits),
        airflow: Some(Waits),
        holds: P(Plain::Duration {
            at: slot!(TaskKind::Sensor(SensorSpec { poke_interval: p, .. }) | TaskKind::TriggerDagRun(TriggerDagRunSpec { poke_interval: p, .. }) => *p),
            default: crate::model::POKE_INTERVAL_DEFAULT,
        }),
    },
    Key {
        name: "allowed_states",
        aliases: &[],
        doc: "States of the awaited run or tasks that end the wait successfully.",
        place: task_only(Waits),
        airflow: Some(Waits),
        holds: Hand {
            kind: K::Strings,
            default: Some("[\"success\"]"),
            show: Some(|t| match &t.kind {
                TaskKind::TriggerDagRun(s) => Some(format!("{:?}", s.allowed_states)),
                _ => sensor_show(t, "allowed_states"),
            }),
        },
    },
    Key {
        name: "failed_states",
        aliases: &[],
        doc: "States of the awaited run or tasks that fail the task.",
        place: task_only(Waits),
        airflow: Some(Waits),
        holds: Hand {
            kind: K::Strings,
            default: Some("[\"failed\"] (external_task: [])"),
            show: Some(|t| match &t.kind {
                TaskKind::TriggerDagRun(s) => Some(format!("{:?}", s.failed_states)),
                _ => sensor_show(t, "failed_states"),
            }),
        },
    },
    // ----- sensor -----------------------------------------------------------------------------
    Key {
        name: "sensor",
        aliases: &[],
        doc: "What the sensor waits for: python, file, external_task, time_delta, date_time, time, s3_key or bash.",
        place: task_only(Sensor),
        airflow: None,
        holds: Hand {
            kind: K::String,
            default: None,
            show: Some(|t| Some(sensor(t)?.sensor.name().to_owned())),
        },
    },
    Key {
        name: "mode",
        aliases: &[],
        doc: "\"poke\": running between pokes; \"reschedule\": up_for_reschedule between pokes.",
        place: task(Sensor),
        airflow: Some(Sensor),
        holds: Hand {
            kind: K::String,
            default: Some("\"poke\""),
            show: Some(|t| {
                Some(
                    match sensor(t)?.mode {
                        crate::model::SensorMode::Poke => "poke",
                        crate::model::SensorMode::Reschedule => "reschedule",
                    }
                    .to_owned(),
                )
            }),
        },
    },
    Key {
        name: "soft_fail",
        aliases: &[],
        doc: "On timeout the sensor is skipped instead of failed.",
        place: task(Sensor),
        airflow: Some(Sensor),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::Sensor(s) => s.soft_fail),
            default: false,
        }),
    },
    Key {
        name: "exponential_backoff",
        aliases: &[],
        doc: "Grow the time between pokes exponentially (Airflow's formula, with jitter).",
        place: task(Sensor),
        airflow: Some(Sensor),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::Sensor(s) => s.exponential_backoff),
            default: false,
        }),
    },
    Key {
        name: "max_wait",
        aliases: &[],
        doc: "The longest time between pokes with exponential_backoff.",
        place: task(Sensor),
        airflow: Some(Sensor),
        holds: P(Plain::OptDuration {
            at: slot!(TaskKind::Sensor(s) => s.max_wait),
            positive: true,
            unset: "- (no cap)",
        }),
    },
    Key {
        name: "silent_fail",
        aliases: &[],
        doc: "A poke that raises is logged and poking continues.",
        place: task(Sensor),
        airflow: Some(Sensor),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::Sensor(s) => s.silent_fail),
            default: false,
        }),
    },
    sensor_key(
        "retry_exit_code",
        K::Integer,
        Some("none: any non-zero code pokes again"),
        "bash sensor: the exit code that means poke again; other non-zero codes fail.",
        |t| sensor_show(t, "retry_exit_code"),
    ),
    sensor_key(
        "filepath",
        K::String,
        None,
        "file sensor: the path or glob to wait for (templated).",
        |t| sensor_show(t, "filepath"),
    ),
    sensor_key(
        "recursive",
        K::Boolean,
        Some("false"),
        "file sensor: ** in filepath matches folders recursively.",
        |t| sensor_show(t, "recursive"),
    ),
    sensor_key(
        "fs_conn_id",
        K::String,
        Some("\"fs_default\""),
        "file sensor: accepted; the scheduler's file system is read.",
        |t| sensor_show(t, "fs_conn_id"),
    ),
    sensor_key(
        "external_dag_id",
        K::String,
        None,
        "external_task sensor: the DAG to wait for (templated).",
        |t| sensor_show(t, "external_dag_id"),
    ),
    sensor_key(
        "external_task_id",
        K::String,
        Some("none: the whole run"),
        "external_task sensor: the task to wait for (templated).",
        |t| sensor_show(t, "external_task_ids"),
    ),
    sensor_key(
        "external_task_ids",
        K::Strings,
        Some("none: the whole run"),
        "external_task sensor: the tasks to wait for (templated).",
        |_| None,
    ),
    sensor_key(
        "external_task_group_id",
        K::String,
        Some("none"),
        "external_task sensor: the task group to wait for (templated).",
        |t| sensor_show(t, "external_task_group_id"),
    ),
    sensor_key(
        "skipped_states",
        K::Strings,
        Some("[]"),
        "external_task sensor: states of the awaited run or tasks that skip the sensor.",
        |t| sensor_show(t, "skipped_states"),
    ),
    sensor_key(
        "execution_delta",
        K::Duration,
        Some("none: the same logical date"),
        "external_task sensor: the other run's logical date is this much earlier.",
        |t| sensor_show(t, "execution_delta"),
    ),
    sensor_key(
        "execution_date_fn",
        K::Function,
        Some("none"),
        "external_task sensor: (logical_date, context) -> the other run's logical date(s).",
        |t| sensor_show(t, "execution_date_fn"),
    ),
    sensor_key(
        "check_existence",
        K::Boolean,
        Some("false"),
        "external_task sensor: fail at once if the other DAG or task does not exist.",
        |t| sensor_show(t, "check_existence"),
    ),
    sensor_key(
        "delta",
        K::Duration,
        None,
        "time_delta sensor: wait until this long after the data interval end.",
        |t| sensor_show(t, "delta"),
    ),
    sensor_key(
        "target_time",
        K::String,
        None,
        "date_time: an ISO date-time (templated); time: \"HH:MM[:SS]\" in the DAG's time zone.",
        |t| sensor_show(t, "target_time"),
    ),
    sensor_key(
        "bucket_key",
        K::Strings,
        None,
        "s3_key sensor: the keys, s3:// URLs or keys in bucket_name, all of which must exist (templated).",
        |t| sensor_show(t, "bucket_key"),
    ),
    sensor_key(
        "bucket_name",
        K::String,
        Some("none: bucket_key holds s3:// URLs"),
        "s3_key sensor: the bucket of the keys (templated).",
        |t| sensor_show(t, "bucket_name"),
    ),
    sensor_key(
        "wildcard_match",
        K::Boolean,
        Some("false"),
        "s3_key sensor: the keys are fnmatch patterns.",
        |t| sensor_show(t, "wildcard_match"),
    ),
    sensor_key(
        "aws_conn_id",
        K::String,
        Some("\"aws_default\""),
        "s3_key sensor: accepted; the aws_s3 storage's credentials are used.",
        |t| sensor_show(t, "aws_conn_id"),
    ),
    // ----- trigger_dag_run ----------------------------------------------------------------
    Key {
        name: "trigger_dag_id",
        aliases: &[],
        doc: "The DAG to trigger (templated).",
        place: task_only(TriggerDagRun),
        airflow: Some(TriggerDagRun),
        holds: Hand {
            kind: K::String,
            default: None,
            show: Some(|t| Some(trigger(t)?.trigger_dag_id.clone())),
        },
    },
    Key {
        name: "trigger_run_id",
        aliases: &[],
        doc: "The new run's id (templated).",
        place: task(TriggerDagRun),
        airflow: Some(TriggerDagRun),
        holds: P(Plain::OptStr {
            at: slot!(TaskKind::TriggerDagRun(s) => s.trigger_run_id),
            unset: "- (manual__<logical date>)",
        }),
    },
    Key {
        name: "conf",
        aliases: &[],
        doc: "The new run's conf (templated).",
        place: task(TriggerDagRun),
        airflow: Some(TriggerDagRun),
        holds: P(Plain::Kwargs {
            at: slot!(TaskKind::TriggerDagRun(s) => s.conf),
            unset: "-",
        }),
    },
    Key {
        name: "logical_date",
        aliases: &["execution_date"],
        doc: "The new run's logical date (templated); execution_date is Airflow 2's name.",
        place: task(TriggerDagRun),
        airflow: Some(TriggerDagRun),
        holds: P(Plain::OptStr {
            at: slot!(TaskKind::TriggerDagRun(s) => s.logical_date),
            unset: "- (now)",
        }),
    },
    Key {
        name: "reset_dag_run",
        aliases: &[],
        doc: "A run with that id exists: clear it and run it again.",
        place: task(TriggerDagRun),
        airflow: Some(TriggerDagRun),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::TriggerDagRun(s) => s.reset_dag_run),
            default: false,
        }),
    },
    Key {
        name: "wait_for_completion",
        aliases: &[],
        doc: "Wait until the triggered run ends (no worker is held).",
        place: task(TriggerDagRun),
        airflow: Some(TriggerDagRun),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::TriggerDagRun(s) => s.wait_for_completion),
            default: false,
        }),
    },
    Key {
        name: "skip_when_already_exists",
        aliases: &[],
        doc: "A run with that id exists: skip instead of failing.",
        place: task(TriggerDagRun),
        airflow: Some(TriggerDagRun),
        holds: P(Plain::Bool {
            at: slot!(TaskKind::TriggerDagRun(s) => s.skip_when_already_exists),
            default: false,
        }),
    },
    // ----- the tasks --------------------------------------------------------------------------
    dag_key(
        "tasks",
        K::Table,
        "{}",
        "The tasks, one [tasks.<task_id>] table each.",
    ),
];

/// Assets as `dags show` lists them (their URIs); none: not listed.
fn show_assets(assets: &[crate::asset::Asset]) -> Option<String> {
    (!assets.is_empty()).then(|| {
        assets
            .iter()
            .map(|a| a.uri.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// A mapped argument's source as `dags show` prints it: the task id, or the array.
fn show_source(s: &ExpandSource) -> Value {
    match s {
        ExpandSource::Task(t) => Value::String(t.clone()),
        ExpandSource::Literal(items) => Value::Array(items.clone()),
    }
}
