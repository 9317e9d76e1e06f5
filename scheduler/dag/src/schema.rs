//! Task type names (also the plugin's operator class names), trigger rule names, and the
//! "did you mean" matcher. The keys themselves are in [`crate::keys`].

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
    ("sensor", TaskType::Sensor),
    ("trigger_dag_run", TaskType::TriggerDagRun),
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
    ("task.sensor", TaskType::Sensor),
    ("TriggerDagRunOperator", TaskType::TriggerDagRun),
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
    Sensor,
    TriggerDagRun,
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
            TaskType::Sensor => "sensor",
            TaskType::TriggerDagRun => "trigger_dag_run",
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
pub(crate) const TYPES_EXPECTED: &str = "\"call_async\", \"map\", \"map_reduce\", \"python\", \"branch\", \"short_circuit\", \"bash\", \"sensor\", \"trigger_dag_run\" or \"empty\"";

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
