//! `lithoflow db clean`: removes old runs with their task instances, XCom values, log files
//! and local job storage, as Airflow 2.10's `airflow db clean` (airflow/utils/db_cleanup.py)
//! purges `dag_run` and the rows that hang off it.
//!
//! Airflow's rules, kept:
//! - A run's age is its `start_date` (the `dag_run` table's recency column); a run that
//!   never started is never old (Airflow compares NULL, which is never before anything).
//! - The latest run of each DAG that was not triggered by hand (`external_trigger` false:
//!   scheduled and backfill runs), by `start_date`, is kept even when old ("keep_last",
//!   grouped by dag_id), so the scheduler still knows where the DAG's timetable stands.
//!
//! lithoflow's additions:
//! - An unfinished run (queued or running) is never removed, whatever its age; through a
//!   running scheduler, neither is a run its loop still holds.
//! - The scheduled run with the latest data interval is kept too: the scheduler's
//!   timetable continues from it (`Daemon::last_scheduled`), and a backfill of old dates
//!   may have started after it, which Airflow's rule alone would then remove (the DAG's
//!   next scheduled run would go back in time, and with catchup re-create removed runs).
//! - A run's files go first, then its records in one transaction: a kill in between
//!   leaves a run without logs, which the next clean removes, never files that no record
//!   leads to.
//!
//! The job data of `aws_s3` storage (in the bucket) is not removed; a bucket lifecycle
//! rule does that (docs/cli.md).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use lithoflow_api::DbCleanResponse;

use crate::ops::OpError;
use crate::store::{DagRunRecord, Store};
use crate::taskrun::sanitize;

/// What to clean.
#[derive(Debug, Clone)]
pub(crate) struct CleanSpec {
    /// Runs that started before this are old.
    pub(crate) before: DateTime<Utc>,
    /// Only these DAGs (empty: every DAG).
    pub(crate) dag_ids: Vec<String>,
    /// Only count what would be removed.
    pub(crate) dry_run: bool,
    /// Remove at most this many runs (then `more` says whether old runs remain).
    pub(crate) max_runs: Option<usize>,
}

/// Where a home keeps the files of runs.
#[derive(Debug, Clone)]
pub(crate) struct RunFiles {
    /// `$LITHOFLOW_HOME/logs`.
    pub(crate) logs: PathBuf,
    /// `$LITHOFLOW_HOME/storage` (the executor's local storage).
    pub(crate) storage: PathBuf,
}

impl RunFiles {
    /// The folders of a home.
    pub(crate) fn of(settings: &crate::config::Settings) -> RunFiles {
        RunFiles {
            logs: settings.home.join("logs"),
            storage: settings.storage_dir(),
        }
    }

    /// A run's log folder (`Engine::log_path` without its task and try).
    fn log_dir(&self, dag_id: &str, run_id: &str) -> PathBuf {
        self.logs
            .join(format!("dag_id={}", sanitize(dag_id)))
            .join(format!("run_id={}", sanitize(run_id)))
    }

    /// A run's job folder: the common part of its tries' job keys
    /// (`taskrun::job_key`), placed as the executor places a job.
    fn storage_dir(&self, dag_id: &str, run_id: &str) -> PathBuf {
        lithoflow_executor::storage::LocalStorage::new(&self.storage).job_dir(&format!(
            "{}/{}",
            sanitize(dag_id),
            sanitize(run_id)
        ))
    }
}

/// The runs a clean keeps although they are old: per DAG, Airflow's latest non-manual run
/// by `start_date` (every run sharing that date, as Airflow's join on it keeps them) and
/// the scheduled run with the latest data interval.
fn kept_latest(runs: &[DagRunRecord]) -> HashSet<&str> {
    let mut keep = HashSet::new();
    let latest_start = runs
        .iter()
        .filter(|r| r.run_type != "manual")
        .filter_map(|r| r.start_date)
        .max();
    if let Some(latest) = latest_start {
        keep.extend(
            runs.iter()
                .filter(|r| r.run_type != "manual" && r.start_date == Some(latest))
                .map(|r| r.run_id.as_str()),
        );
    }
    let interval = |r: &DagRunRecord| match (r.data_interval_start, r.data_interval_end) {
        (Some(s), Some(e)) if r.run_type == "scheduled" => Some((s, e)),
        _ => None,
    };
    if let Some(last) = runs.iter().filter_map(interval).max() {
        keep.extend(
            runs.iter()
                .filter(|r| interval(r) == Some(last))
                .map(|r| r.run_id.as_str()),
        );
    }
    keep
}

/// Files and bytes under a folder (none when it does not exist).
fn tally(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let mut files = 0;
    let mut bytes = 0;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let (f, b) = tally(&entry.path());
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += entry.metadata().map_or(0, |m| m.len());
        }
    }
    (files, bytes)
}

/// Removes a folder; one that is not there is fine.
fn remove_dir(dir: &Path) -> Result<(), OpError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(OpError::Files(format!(
            "cannot remove {}: {e}; the run's records were left in the state",
            dir.display()
        ))),
    }
}

/// Removes a run's logs, job data and records (its task instances and XCom); not
/// flushed. `db clean` removes old runs with it, `DELETE .../dagRuns/{id}` one run.
pub(crate) fn remove_run(
    store: &Store,
    files: &RunFiles,
    dag_id: &str,
    run_id: &str,
) -> Result<crate::store::RemovedRecords, OpError> {
    remove_dir(&files.log_dir(dag_id, run_id))?;
    remove_dir(&files.storage_dir(dag_id, run_id))?;
    Ok(store.delete_run(dag_id, run_id)?)
}

/// Removes (or, for a dry run, counts) the old finished runs and what belongs to them.
/// `held` says whether a running scheduler still holds a run (it is then left alone).
pub(crate) fn clean(
    store: &Store,
    files: &RunFiles,
    spec: &CleanSpec,
    held: &dyn Fn(&str, &str) -> bool,
) -> Result<DbCleanResponse, OpError> {
    let mut by_dag: BTreeMap<String, Vec<DagRunRecord>> = BTreeMap::new();
    for run in store.all_runs()? {
        if spec.dag_ids.is_empty() || spec.dag_ids.contains(&run.dag_id) {
            by_dag.entry(run.dag_id.clone()).or_default().push(run);
        }
    }
    let mut report = DbCleanResponse {
        clean_before_timestamp: Some(spec.before),
        dry_run: spec.dry_run,
        ..DbCleanResponse::default()
    };
    'dags: for (dag_id, runs) in &by_dag {
        let keep = kept_latest(runs);
        let mut removed_any = false;
        for run in runs {
            let old = run.start_date.is_some_and(|d| d < spec.before);
            if !old {
                continue;
            }
            if !run.state.is_finished() || held(dag_id, &run.run_id) {
                report.skipped_unfinished += 1;
                continue;
            }
            if keep.contains(run.run_id.as_str()) {
                report.kept_latest += 1;
                continue;
            }
            if !spec.dry_run && spec.max_runs.is_some_and(|m| report.dag_runs >= m) {
                report.more = true;
                break 'dags;
            }
            let log_dir = files.log_dir(dag_id, &run.run_id);
            let storage_dir = files.storage_dir(dag_id, &run.run_id);
            let (log_files, log_bytes) = tally(&log_dir);
            let (job_files, job_bytes) = tally(&storage_dir);
            let records = if spec.dry_run {
                store.run_record_counts(dag_id, &run.run_id)?
            } else {
                remove_run(store, files, dag_id, &run.run_id)?
            };
            removed_any = true;
            report.dag_runs += records.runs;
            report.task_instances += records.task_instances;
            report.xcom += records.xcom;
            report.log_files += log_files;
            report.log_bytes += log_bytes;
            report.job_storage_files += job_files;
            report.job_storage_bytes += job_bytes;
        }
        if removed_any && !spec.dry_run {
            // The DAG's own folders go when they are left empty (remove_dir refuses a
            // folder that is not).
            if let Some(parent) = files.log_dir(dag_id, "x").parent() {
                let _ = std::fs::remove_dir(parent);
            }
            if let Some(parent) = files.storage_dir(dag_id, "x").parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
    if !spec.dry_run {
        store.flush()?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunState;

    fn run(id: &str, kind: &str, started: Option<i64>, interval: Option<i64>) -> DagRunRecord {
        let t = |s: i64| DateTime::from_timestamp(s, 0).expect("valid");
        let mut r = DagRunRecord::manual("d", id.to_owned(), t(0), t(0), Default::default());
        r.run_type = kind.to_owned();
        r.state = RunState::Success;
        r.start_date = started.map(t);
        r.data_interval_start = interval.map(t);
        r.data_interval_end = interval.map(|s| t(s + 60));
        r
    }

    #[test]
    fn the_latest_non_manual_run_and_the_latest_scheduled_interval_are_kept() {
        let runs = [
            run("sched_old", "scheduled", Some(10), Some(100)),
            run("sched_last", "scheduled", Some(20), Some(200)),
            // A backfill of old dates that started last: Airflow keeps it...
            run("backfill", "backfill", Some(30), Some(50)),
            // ...and manual runs never count.
            run("manual", "manual", Some(40), None),
        ];
        let mut kept: Vec<&str> = kept_latest(&runs).into_iter().collect();
        kept.sort_unstable();
        assert_eq!(kept, ["backfill", "sched_last"]);
        let manual_only = [run("m1", "manual", Some(1), None)];
        assert!(kept_latest(&manual_only).is_empty());
    }
}
