//! Timetables: when a DAG's runs are created, with Airflow 3's semantics exactly
//! (`airflow/timetables/{trigger,interval,simple,_cron}.py`). Pure: the clock is an
//! argument, nothing here does IO.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::dag::Dag;

/// A run's data interval, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataInterval {
    /// Start (inclusive); the run's logical date.
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
}

/// A run the scheduler would create (Airflow's `DagRunInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DagRunInfo {
    /// When the run may be created and start.
    pub run_after: DateTime<Utc>,
    /// Its data interval.
    pub data_interval: DataInterval,
}

impl DagRunInfo {
    /// The logical date: the start of the data interval.
    pub fn logical_date(&self) -> DateTime<Utc> {
        self.data_interval.start
    }
}

/// Bounds on scheduling (Airflow's `TimeRestriction`); both bounds inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRestriction {
    /// `start_date`.
    pub earliest: Option<DateTime<Utc>>,
    /// `end_date`.
    pub latest: Option<DateTime<Utc>>,
    /// `catchup`.
    pub catchup: bool,
}

impl TimeRestriction {
    /// A DAG's own restriction: its start_date, end_date and catchup.
    pub fn of(dag: &Dag) -> TimeRestriction {
        TimeRestriction {
            earliest: dag.start_date,
            latest: dag.end_date,
            catchup: dag.catchup,
        }
    }
}

/// The next run after `last` (the data interval of the DAG's latest scheduled or
/// backfill run; None if it has none), given the clock reads `now`. None: no more runs
/// (manual-only DAG, `@once` done, past `end_date`).
pub fn next_dagrun_info(
    dag: &Dag,
    last: Option<&DataInterval>,
    restriction: &TimeRestriction,
    now: DateTime<Utc>,
) -> Option<DagRunInfo> {
    let _ = (dag, last, restriction, now);
    None
}

/// The data interval of a manual run at `run_after` (Airflow's
/// `infer_manual_data_interval`).
pub fn infer_manual_data_interval(dag: &Dag, run_after: DateTime<Utc>) -> DataInterval {
    let _ = dag;
    DataInterval {
        start: run_after,
        end: run_after,
    }
}

/// The next `n` runs the scheduler would create for `dag` if it had no runs yet and
/// the clock read `now` (`dags next-execution`).
pub fn next_executions(dag: &Dag, n: usize, now: DateTime<Utc>) -> Vec<DagRunInfo> {
    let restriction = TimeRestriction::of(dag);
    let mut out: Vec<DagRunInfo> = Vec::new();
    while out.len() < n {
        let last = out.last().map(|i| i.data_interval);
        match next_dagrun_info(dag, last.as_ref(), &restriction, now) {
            Some(info) => out.push(info),
            None => break,
        }
    }
    out
}

/// The runs a backfill from `from` to `to` (both inclusive) creates: the DAG's
/// schedule between those dates, ignoring its start/end dates and catchup, keeping
/// only runs whose data interval ended before `now` (Airflow 3's
/// `models/backfill.py::_get_info_list`).
pub fn backfill_infos(
    dag: &Dag,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<DagRunInfo> {
    let _ = (dag, from, to, now);
    Vec::new()
}

/// Runs of this DAG that may be active at once (`@continuous`: 1).
pub fn active_runs_limit(dag: &Dag) -> u32 {
    match dag.schedule {
        Some(crate::dag::Schedule::Continuous) => 1,
        _ => dag.max_active_runs,
    }
}
