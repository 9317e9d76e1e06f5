//! Asset-triggered runs, the scheduler's side (Airflow 3.1's
//! `SchedulerJobRunner._create_dag_runs_asset_triggered` with `DagModel.dags_needing_dagruns`,
//! and 2.10's `_create_dag_runs_dataset_triggered`).
//!
//! Each turn of the scheduler loop:
//! 1. events recorded since the last turn (by tasks' outlets, in the engine's durable
//!    write, or through the API) are queued for every DAG scheduled on their asset that
//!    is not paused (`AssetManager.register_asset_change` queues no paused DAG); the
//!    store remembers the last event queued, so events recorded while the scheduler was
//!    down are queued when it starts;
//! 2. each DAG whose queued assets meet its condition (and which is not paused and under
//!    its `max_active_runs`) gets a run of type `asset_triggered`, and its queue is
//!    emptied. A paused DAG keeps its queue.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lithoflow_dag::asset::AssetCondition;
use lithoflow_dag::{Dag, Schedule};

use crate::control::{Event, Shared};
use crate::ops;
use crate::store::{AssetEventRecord, DagRunRecord, RunState, Store, StoreError};

/// The run type of runs triggered by assets (Airflow 3's `DagRunType.ASSET_TRIGGERED`;
/// Airflow 2 called it `dataset_triggered`).
pub(crate) const RUN_TYPE: &str = "asset_triggered";

/// The asset condition a DAG is scheduled on, if it is.
pub(crate) fn condition(dag: &Dag) -> Option<&AssetCondition> {
    dag.schedule.as_ref().and_then(Schedule::assets)
}

/// One turn of the scheduler loop (nothing when the state database is short of room):
/// queues the new events, creates the runs whose condition is met, says so on stderr
/// and to the event stream, and returns them by (dag_id, run_id), for the loop's runs
/// not finished.
pub(crate) fn turn(
    shared: &Shared,
    paused: &dyn Fn(&Dag) -> bool,
    active_runs: &dyn Fn(&str) -> usize,
) -> anyhow::Result<Vec<((String, String), DagRunRecord)>> {
    use std::io::Write as _;
    // A full disk must not reach the state database (`crate::engine::STATE_SPACE_RESERVE`).
    if crate::engine::check_space(&shared.settings.home.join("state"), 0).is_err() {
        return Ok(Vec::new());
    }
    let dags = shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .dags
        .clone();
    queue_events(&shared.store, &dags, paused)?;
    let runs = create_runs(&shared.store, &dags, paused, active_runs, Utc::now())?;
    for run in &runs {
        writeln!(
            std::io::stderr(),
            "[scheduler] created run {} ({})",
            run.run_id,
            run.dag_id
        )?;
        shared.emit(Event::DagRun {
            dag_id: run.dag_id.clone(),
            run_id: run.run_id.clone(),
            state: RunState::Queued.into(),
        });
    }
    Ok(runs
        .into_iter()
        .map(|r| ((r.dag_id.clone(), r.run_id.clone()), r))
        .collect())
}

/// Records the assets the loaded DAGs name (outlets, inlets, schedules), as Airflow
/// registers them when it parses DAG files.
pub(crate) fn register(
    store: &Store,
    dags: &BTreeMap<String, Arc<Dag>>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut assets = Vec::new();
    for dag in dags.values() {
        if let Some(c) = condition(dag) {
            assets.extend(c.assets());
        }
        for t in &dag.tasks {
            assets.extend(t.outlets.iter().chain(&t.inlets));
        }
    }
    store.upsert_assets(assets, now)
}

/// Queues the events recorded since the last call for the DAGs scheduled on their
/// asset; `paused` tells which DAGs are paused. Returns how many were queued.
pub(crate) fn queue_events(
    store: &Store,
    dags: &BTreeMap<String, Arc<Dag>>,
    paused: &dyn Fn(&Dag) -> bool,
) -> Result<usize, StoreError> {
    let done = store.asset_events_queued_up_to()?;
    let events = store.asset_events_after(done)?;
    let Some(last) = events.last().map(|e| e.id) else {
        return Ok(0);
    };
    let mut queued = 0;
    for ev in &events {
        for dag in dags.values() {
            let Some(c) = condition(dag) else { continue };
            if paused(dag) || !c.assets().iter().any(|a| a.uri == ev.uri) {
                continue;
            }
            if store.queue_asset(&dag.dag_id, &ev.uri, ev.timestamp)? {
                queued += 1;
            }
        }
    }
    store.set_asset_events_queued_up_to(last)?;
    store.flush()?;
    Ok(queued)
}

/// Creates a run for each DAG whose queued assets meet its condition, not paused and
/// with fewer than `max_active_runs` runs queued or running (`active_runs`). Returns
/// the runs created (stored and flushed, queued).
pub(crate) fn create_runs(
    store: &Store,
    dags: &BTreeMap<String, Arc<Dag>>,
    paused: &dyn Fn(&Dag) -> bool,
    active_runs: &dyn Fn(&str) -> usize,
    now: DateTime<Utc>,
) -> Result<Vec<DagRunRecord>, StoreError> {
    let mut created = Vec::new();
    for dag_id in store.asset_queue_dags()? {
        let Some(dag) = dags.get(&dag_id) else {
            continue;
        };
        let Some(cond) = condition(dag) else { continue };
        if paused(dag) || active_runs(&dag_id) >= dag.max_active_runs as usize {
            continue;
        }
        let queue = store.asset_queue(&dag_id)?;
        if !cond.evaluate(&|uri| queue.iter().any(|q| q.uri == uri)) {
            continue;
        }
        let Some(triggered) = queue.iter().map(|q| q.created_at).max() else {
            continue;
        };
        let run_id = format!("{RUN_TYPE}__{}", ops::iso(triggered));
        // A run of this id exists when the scheduler stopped between creating it and
        // emptying the queue: the queue is only emptied now.
        if store.run(&dag_id, &run_id)?.is_none() {
            let events = triggering_events(store, dag, cond, triggered)?;
            let mut run = new_run(store, dag, run_id, triggered, &events)?;
            run.queued_at = Some(now);
            store.put_run_asset_events(
                &dag_id,
                &run.run_id,
                &events.iter().map(|e| e.id).collect::<Vec<_>>(),
            )?;
            store.put_run(&run)?;
            created.push(run);
        }
        store.clear_asset_queue(&dag_id)?;
        store.flush()?;
    }
    Ok(created)
}

/// The events a run triggered at `triggered` consumes: those of the DAG's assets after
/// its previous asset-triggered run's `run_after` and up to `triggered`, oldest first
/// (Airflow 3.1's query in `_create_dag_runs_asset_triggered`).
fn triggering_events(
    store: &Store,
    dag: &Dag,
    cond: &AssetCondition,
    triggered: DateTime<Utc>,
) -> Result<Vec<AssetEventRecord>, StoreError> {
    let previous = store
        .runs(&dag.dag_id)?
        .into_iter()
        .filter(|r| r.run_type == RUN_TYPE && r.run_after < triggered)
        .map(|r| r.run_after)
        .max();
    let mut events = Vec::new();
    for asset in cond.assets() {
        events.extend(
            store
                .asset_events_of(&asset.uri)?
                .into_iter()
                .filter(|e| e.timestamp <= triggered && previous.is_none_or(|p| e.timestamp > p)),
        );
    }
    events.sort_by_key(|e| (e.timestamp, e.id));
    Ok(events)
}

/// The run: `run_after` and the logical date at the latest queued update; the data
/// interval from the earliest start to the latest end of the producing runs' intervals
/// (an external event's own time stands for both), as Airflow 2.10's
/// `DatasetTriggeredTimetable.data_interval_for_events`.
fn new_run(
    store: &Store,
    dag: &Dag,
    run_id: String,
    triggered: DateTime<Utc>,
    events: &[AssetEventRecord],
) -> Result<DagRunRecord, StoreError> {
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for ev in events {
        let source = match (&ev.source.dag_id, &ev.source.run_id) {
            (Some(d), Some(r)) => store.run(d, r)?,
            _ => None,
        };
        match source.and_then(|r| r.data_interval_start.zip(r.data_interval_end)) {
            Some((s, e)) => {
                starts.push(s);
                ends.push(e);
            }
            None => {
                starts.push(ev.timestamp);
                ends.push(ev.timestamp);
            }
        }
    }
    let mut run = DagRunRecord::manual(
        &dag.dag_id,
        run_id,
        triggered,
        triggered,
        serde_json::Map::new(),
    );
    run.run_type = RUN_TYPE.to_owned();
    run.data_interval_start = Some(starts.into_iter().min().unwrap_or(triggered));
    run.data_interval_end = Some(ends.into_iter().max().unwrap_or(triggered));
    Ok(run)
}

/// `triggering_asset_events` of a run's context: the events that triggered it, by asset
/// URI, each as Airflow's `AssetEventDagRunReference` (Airflow 3) with the fields of
/// Airflow 2's `DatasetEvent` beside them (`dataset_id`, `dataset`); empty for a run
/// not triggered by assets.
pub(crate) fn context_events(
    store: &Store,
    run: &DagRunRecord,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    let mut out = serde_json::Map::new();
    if run.run_type != RUN_TYPE {
        return Ok(out);
    }
    for ev in store.run_asset_events(&run.dag_id, &run.run_id)? {
        let asset = store.asset(&ev.uri)?;
        let (asset_id, name, group, asset_extra) = match &asset {
            Some(a) => (a.id, a.name.clone(), a.group.clone(), a.extra.clone()),
            None => (
                0,
                ev.uri.clone(),
                "asset".to_owned(),
                serde_json::Map::new(),
            ),
        };
        let doc = serde_json::json!({
            "id": ev.id,
            "asset_id": asset_id,
            "dataset_id": asset_id,
            "uri": ev.uri,
            "asset": {"uri": ev.uri, "name": name, "group": group, "extra": asset_extra},
            "dataset": {"uri": ev.uri, "extra": asset_extra},
            "extra": ev.extra,
            "source_dag_id": ev.source.dag_id,
            "source_task_id": ev.source.task_id,
            "source_run_id": ev.source.run_id,
            "source_map_index": ev.source.map_index,
            "source_aliases": [],
            "timestamp": ops::iso(ev.timestamp),
        });
        if let serde_json::Value::Array(list) = out
            .entry(ev.uri.clone())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()))
        {
            list.push(doc);
        }
    }
    Ok(out)
}
