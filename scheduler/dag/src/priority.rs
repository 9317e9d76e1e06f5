//! Effective priority weights: a task's `priority_weight` combined with its relatives'
//! as its `weight_rule` says, as Airflow 2.10 computes them
//! (`airflow/task/priority_strategy.py`): `downstream` is its own weight plus the
//! weights of every task downstream of it (transitively, each counted once), `upstream`
//! the same over the tasks upstream of it, `absolute` its own weight. The sum is clamped
//! to the database's 32-bit bounds as Airflow's `db_safe_priority`
//! (`airflow/utils/weight_rule.py`).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Dag, WeightRule};

/// The smallest priority weight (Airflow's `DB_SAFE_MINIMUM`).
pub const MIN_WEIGHT: i64 = i32::MIN as i64;
/// The largest priority weight (Airflow's `DB_SAFE_MAXIMUM`).
pub const MAX_WEIGHT: i64 = i32::MAX as i64;

/// Every task's effective priority weight, by task id.
pub fn effective_weights(dag: &Dag) -> BTreeMap<String, i64> {
    let own: BTreeMap<&str, i64> = dag
        .tasks
        .iter()
        .map(|t| (t.task_id.as_str(), t.priority_weight))
        .collect();
    dag.tasks
        .iter()
        .map(|t| {
            let relatives = match t.weight_rule {
                WeightRule::Absolute => BTreeSet::new(),
                WeightRule::Downstream => reachable(dag, &t.task_id, false),
                WeightRule::Upstream => reachable(dag, &t.task_id, true),
            };
            let sum = relatives
                .iter()
                .map(|id| own.get(id.as_str()).copied().unwrap_or(0))
                .fold(t.priority_weight, i64::saturating_add);
            (t.task_id.clone(), sum.clamp(MIN_WEIGHT, MAX_WEIGHT))
        })
        .collect()
}

/// The tasks reachable from `id` (itself excluded), upstream or downstream: Airflow's
/// `get_flat_relative_ids`.
fn reachable(dag: &Dag, id: &str, upstream: bool) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![id.to_owned()];
    while let Some(cur) = stack.pop() {
        let next = if upstream {
            dag.graph.upstream(&cur)
        } else {
            dag.graph.downstream(&cur)
        };
        for n in next {
            if n != id && seen.insert(n.to_owned()) {
                stack.push(n.to_owned());
            }
        }
    }
    seen
}
