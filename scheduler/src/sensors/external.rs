//! `sensor = "external_task"` (Airflow's `ExternalTaskSensor.poke`,
//! airflow/sensors/external_task.py 2.10), read from the state store: the other DAG's
//! runs at the awaited logical dates, their task instances (or the runs themselves when
//! no task is named). Any awaited instance in `failed_states` fails the sensor (skips it
//! with `soft_fail`), any in `skipped_states` skips it, and it is done when every one is
//! in `allowed_states`.

use chrono::{DateTime, Utc};

use lithoflow_dag::ExternalTaskSpec;

use super::Poke;
use crate::store::{Store, StoreError};

/// One poke.
pub(crate) fn poke(
    store: &Store,
    spec: &ExternalTaskSpec,
    dates: &[DateTime<Utc>],
    soft_fail: bool,
) -> Result<Poke, StoreError> {
    let dag = &spec.external_dag_id;
    if spec.check_existence && store.dag(dag)?.is_none() {
        return Ok(Poke::Error(format!(
            "The external DAG {dag} does not exist."
        )));
    }
    let runs = store.runs(dag)?;
    // Per awaited date: the states of the awaited instances (empty: no run yet).
    let mut per_date: Vec<Vec<String>> = Vec::new();
    for date in dates {
        let Some(run) = runs.iter().find(|r| r.logical_date == Some(*date)) else {
            per_date.push(Vec::new());
            continue;
        };
        let states: Vec<String> = if !spec.external_task_ids.is_empty() {
            let tis = store.tis(dag, &run.run_id)?;
            spec.external_task_ids
                .iter()
                .map(|id| {
                    tis.iter()
                        .find(|t| &t.task_id == id)
                        .map_or("none", |t| t.state.name())
                        .to_owned()
                })
                .collect()
        } else if let Some(group) = &spec.external_task_group_id {
            let prefix = format!("{group}.");
            store
                .tis(dag, &run.run_id)?
                .iter()
                .filter(|t| t.task_id.starts_with(&prefix))
                .map(|t| t.state.name().to_owned())
                .collect()
        } else {
            vec![run.state.name().to_owned()]
        };
        per_date.push(states);
    }
    let what = if !spec.external_task_ids.is_empty() {
        format!(
            "Some of the external tasks {:?} in DAG {dag}",
            spec.external_task_ids
        )
    } else if let Some(g) = &spec.external_task_group_id {
        format!("The external task_group '{g}' in DAG '{dag}'")
    } else {
        format!("The external DAG {dag}")
    };
    let any_in = |states: &[String]| {
        per_date
            .iter()
            .flatten()
            .any(|s| states.iter().any(|x| x == s))
    };
    if !spec.failed_states.is_empty() && any_in(&spec.failed_states) {
        return Ok(if soft_fail {
            Poke::Skip(format!("{what} failed. Skipping due to soft_fail."))
        } else {
            Poke::Error(format!("{what} failed."))
        });
    }
    if !spec.skipped_states.is_empty() && any_in(&spec.skipped_states) {
        return Ok(Poke::Skip(format!(
            "{what} reached a state in our states-to-skip-on list. Skipping."
        )));
    }
    let done = per_date.iter().all(|states| {
        !states.is_empty()
            && states
                .iter()
                .all(|s| spec.allowed_states.iter().any(|a| a == s))
    });
    let dates_text: Vec<String> = dates.iter().map(|d| d.to_rfc3339()).collect();
    Ok(if done {
        Poke::Done(serde_json::Value::Null)
    } else {
        Poke::NotYet(format!(
            "Poking for {} on {}: {:?}",
            what.trim_start_matches("Some of the "),
            dates_text.join(","),
            per_date
        ))
    })
}
