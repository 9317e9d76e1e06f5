//! What a successful try's value means beyond its state: the `multiple_outputs` check,
//! the XCom it pushes, and the tasks a branch or short_circuit task skips.

use serde_json::Value;

use crate::taskrun::{self, TaskError};
use lithoflow_dag::{Dag, Task, TaskKind};

/// A `multiple_outputs` task must return a dict (or nothing): Airflow's check and message
/// (task-sdk `execution_time/task_runner.py` `_push_xcom_if_needed`; 2.x
/// `taskinstance.py` `_execute_task`).
pub(super) fn multiple_outputs_check(task: &Task, value: &Value) -> Result<(), TaskError> {
    if !task.multiple_outputs || !task.do_xcom_push || value.is_null() || value.is_object() {
        return Ok(());
    }
    let python_type = match value {
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        _ => "list",
    };
    Err(TaskError::Input(format!(
        "TypeError: Returned output was type <class '{python_type}'> expected dictionary for multiple_outputs"
    )))
}

/// The XCom a successful try pushes from its return value: nothing with `do_xcom_push =
/// false`; with `multiple_outputs`, each key of the returned dict, then `return_value`
/// (Airflow pushes the keys first, then the whole value).
pub(super) fn pushes(task: &Task, value: &Value) -> Vec<(String, Value)> {
    if !task.do_xcom_push {
        return Vec::new();
    }
    let mut out = Vec::new();
    if task.multiple_outputs
        && let Value::Object(m) = value
    {
        out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out.push((crate::store::RETURN_KEY.to_owned(), value.clone()));
    out
}

/// The tasks a successful branch or short_circuit task skips, as Airflow's SkipMixin:
/// a branch skips its direct downstream tasks it did not name; a short_circuit whose
/// value is falsy skips every downstream task (`ignore_downstream_trigger_rules`, the
/// default) or only the direct ones. A branch naming unknown tasks fails.
/// Whether `task` is a branch or short_circuit task of an Airflow 3 DAG file: Airflow 3's
/// `SkipMixin` skips by raising `DownstreamTasksSkipped` out of `execute`, so such a task
/// that skipped something pushes no return value (Airflow 2.10 pushes it).
pub(super) fn airflow3_skip_ends_execute(dag: &Dag, task: &Task) -> bool {
    matches!(
        task.kind,
        TaskKind::Branch(_) | TaskKind::ShortCircuit { .. }
    ) && dag.python.as_ref().is_some_and(|p| p.airflow_version >= 3)
}

pub(super) fn skips_after(dag: &Dag, task: &Task, value: &Value) -> Result<Vec<String>, TaskError> {
    let direct = || -> Vec<String> {
        dag.graph
            .downstream(&task.task_id)
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    match &task.kind {
        TaskKind::Branch(_) => {
            let follow = taskrun::branch_targets(dag, task, value)?;
            Ok(direct()
                .into_iter()
                .filter(|d| !follow.contains(d))
                .collect())
        }
        TaskKind::ShortCircuit {
            ignore_downstream_trigger_rules,
            ..
        } if !taskrun::truthy(value) => {
            if !ignore_downstream_trigger_rules {
                return Ok(direct());
            }
            let mut seen: Vec<String> = Vec::new();
            let mut queue = direct();
            while let Some(id) = queue.pop() {
                if seen.contains(&id) {
                    continue;
                }
                queue.extend(dag.graph.downstream(&id).into_iter().map(str::to_owned));
                seen.push(id);
            }
            Ok(seen)
        }
        _ => Ok(Vec::new()),
    }
}
