//! Which keys a DAG file may hold, where, and under which names.

use crate::model::TriggerRule;

/// Task type names: the DESIGN.md names and Airflow's operator class names.
pub(crate) const TASK_TYPES: &[(&str, TaskType)] = &[
    ("call_async", TaskType::CallAsync),
    ("map", TaskType::Map),
    ("map_reduce", TaskType::MapReduce),
    ("python", TaskType::Python),
    ("branch", TaskType::Branch),
    ("short_circuit", TaskType::ShortCircuit),
    ("bash", TaskType::Bash),
    ("empty", TaskType::Empty),
    ("LithopsCallAsyncOperator", TaskType::CallAsync),
    ("LithopsMapOperator", TaskType::Map),
    ("LithopsMapReduceOperator", TaskType::MapReduce),
    ("PythonOperator", TaskType::Python),
    ("task", TaskType::Python),
    ("BranchPythonOperator", TaskType::Branch),
    ("task.branch", TaskType::Branch),
    ("ShortCircuitOperator", TaskType::ShortCircuit),
    ("task.short_circuit", TaskType::ShortCircuit),
    ("BashOperator", TaskType::Bash),
    ("EmptyOperator", TaskType::Empty),
    ("DummyOperator", TaskType::Empty),
];

/// The task types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskType {
    CallAsync,
    Map,
    MapReduce,
    Python,
    Branch,
    ShortCircuit,
    Bash,
    Empty,
}

impl TaskType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TaskType::CallAsync => "call_async",
            TaskType::Map => "map",
            TaskType::MapReduce => "map_reduce",
            TaskType::Python => "python",
            TaskType::Branch => "branch",
            TaskType::ShortCircuit => "short_circuit",
            TaskType::Bash => "bash",
            TaskType::Empty => "empty",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<TaskType> {
        TASK_TYPES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// The three Lithops operators.
    pub(crate) fn is_lithops(self) -> bool {
        matches!(
            self,
            TaskType::CallAsync | TaskType::Map | TaskType::MapReduce
        )
    }

    /// The task types that call a `python_callable`.
    pub(crate) fn is_python(self) -> bool {
        matches!(
            self,
            TaskType::Python | TaskType::Branch | TaskType::ShortCircuit
        )
    }
}

/// The task type names as the "expected ..." part of a message.
pub(crate) const TYPES_EXPECTED: &str = "\"call_async\", \"map\", \"map_reduce\", \"python\", \"branch\", \"short_circuit\", \"bash\" or \"empty\"";

/// Airflow's trigger rules, by name.
pub const TRIGGER_RULES: &[(&str, TriggerRule)] = &[
    ("all_success", TriggerRule::AllSuccess),
    ("all_failed", TriggerRule::AllFailed),
    ("all_done", TriggerRule::AllDone),
    (
        "all_done_min_one_success",
        TriggerRule::AllDoneMinOneSuccess,
    ),
    ("one_success", TriggerRule::OneSuccess),
    ("one_failed", TriggerRule::OneFailed),
    ("one_done", TriggerRule::OneDone),
    ("none_failed", TriggerRule::NoneFailed),
    (
        "none_failed_min_one_success",
        TriggerRule::NoneFailedMinOneSuccess,
    ),
    ("none_skipped", TriggerRule::NoneSkipped),
    ("all_skipped", TriggerRule::AllSkipped),
    ("always", TriggerRule::Always),
];

impl TriggerRule {
    /// The rule's Airflow name.
    pub fn name(self) -> &'static str {
        TRIGGER_RULES
            .iter()
            .find(|(_, r)| *r == self)
            .map_or("all_success", |(n, _)| n)
    }
}

/// Keys allowed at the top of a DAG file.
pub(crate) const DAG_KEYS: &[&str] = &[
    "dag_id",
    "description",
    "schedule",
    "timetable",
    "start_date",
    "end_date",
    "timezone",
    "is_paused_upon_creation",
    "catchup",
    "max_active_runs",
    "max_active_tasks",
    "dagrun_timeout",
    "tags",
    "params",
    "default_args",
    "lithops_config",
    "tasks",
];

/// Which task types a task key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every task type.
    Common,
    /// Task types whose code runs on the executor: the Lithops three and the Python ones.
    Executor,
    /// The three Lithops operators.
    Lithops,
    /// `call_async` only.
    CallAsync,
    /// `map` and `map_reduce`.
    MapLike,
    /// `map_reduce` only.
    MapReduce,
    /// `python`, `branch` and `short_circuit`.
    Python,
    /// `short_circuit` only.
    ShortCircuit,
    /// `bash` only.
    Bash,
}

impl Scope {
    pub(crate) fn allows(self, t: TaskType) -> bool {
        match self {
            Scope::Common => true,
            Scope::Executor => t.is_lithops() || t.is_python(),
            Scope::Lithops => t.is_lithops(),
            Scope::CallAsync => t == TaskType::CallAsync,
            Scope::MapLike => matches!(t, TaskType::Map | TaskType::MapReduce),
            Scope::MapReduce => t == TaskType::MapReduce,
            Scope::Python => t.is_python(),
            Scope::ShortCircuit => t == TaskType::ShortCircuit,
            Scope::Bash => t == TaskType::Bash,
        }
    }

    pub(crate) fn owners(self) -> &'static str {
        match self {
            Scope::Common => "every task type",
            Scope::Executor => "the Lithops and Python task types",
            Scope::Lithops => "call_async, map and map_reduce tasks",
            Scope::CallAsync => "call_async tasks",
            Scope::MapLike => "map and map_reduce tasks",
            Scope::MapReduce => "map_reduce tasks",
            Scope::Python => "python, branch and short_circuit tasks",
            Scope::ShortCircuit => "short_circuit tasks",
            Scope::Bash => "bash tasks",
        }
    }
}

/// Every task key, with the task types it belongs to.
pub(crate) const TASK_KEYS: &[(&str, Scope)] = &[
    ("type", Scope::Common),
    ("upstream", Scope::Common),
    ("trigger_rule", Scope::Common),
    ("retries", Scope::Common),
    ("retry_delay", Scope::Common),
    ("retry_exponential_backoff", Scope::Common),
    ("max_retry_delay", Scope::Common),
    ("execution_timeout", Scope::Common),
    ("depends_on_past", Scope::Common),
    ("owner", Scope::Common),
    ("lithops_config", Scope::Executor),
    ("async_invoke", Scope::Lithops),
    ("get_result", Scope::Lithops),
    ("clean_data", Scope::Lithops),
    ("extra_env", Scope::Executor),
    ("runtime_memory", Scope::Executor),
    ("timeout", Scope::Executor),
    ("include_modules", Scope::Executor),
    ("exclude_modules", Scope::Executor),
    ("func", Scope::CallAsync),
    ("data", Scope::CallAsync),
    ("data_from_task", Scope::CallAsync),
    ("map_function", Scope::MapLike),
    ("map_iterdata", Scope::MapLike),
    ("iterdata_from_task", Scope::MapLike),
    ("extra_params", Scope::MapLike),
    ("chunk_size", Scope::MapLike),
    ("chunk_n", Scope::MapLike),
    ("remote_invocation", Scope::MapLike),
    ("invoke_pool_threads", Scope::MapLike),
    ("reduce_function", Scope::MapReduce),
    ("map_runtime_memory", Scope::MapReduce),
    ("reduce_runtime_memory", Scope::MapReduce),
    ("reducer_one_per_object", Scope::MapReduce),
    ("reducer_wait_local", Scope::MapReduce),
    ("python_callable", Scope::Python),
    ("op_args", Scope::Python),
    ("op_kwargs", Scope::Python),
    ("op_args_from_task", Scope::Python),
    ("op_kwargs_from_task", Scope::Python),
    ("templates_dict", Scope::Python),
    ("show_return_value_in_logs", Scope::Python),
    ("ignore_downstream_trigger_rules", Scope::ShortCircuit),
    ("bash_command", Scope::Bash),
    ("env", Scope::Bash),
    ("append_env", Scope::Bash),
    ("cwd", Scope::Bash),
    ("skip_on_exit_code", Scope::Bash),
];

/// Keys of which a task may set only one: a task's own key also overrides a default for
/// the other.
pub(crate) const EXCLUSIVE_PAIRS: &[(&str, &str)] = &[
    ("map_iterdata", "iterdata_from_task"),
    ("chunk_size", "chunk_n"),
];

/// Keys that only make sense on one task and so may not appear in `[default_args]`.
pub(crate) const TASK_ONLY_KEYS: &[&str] = &[
    "type",
    "upstream",
    "data_from_task",
    "iterdata_from_task",
    "op_args_from_task",
    "op_kwargs_from_task",
];

/// Other spellings accepted for a key: the original plugin's code and the README's typo.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("extra_args", "extra_params"),
    ("iterdata_form_task", "iterdata_from_task"),
    ("config", "lithops_config"),
];

/// The canonical name of a key, and whether it was written as an alias.
pub(crate) fn canonical(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, canon)| canon)
}

pub(crate) fn task_key(key: &str) -> Option<(&'static str, Scope)> {
    TASK_KEYS.iter().find(|(k, _)| *k == key).copied()
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&word_lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
