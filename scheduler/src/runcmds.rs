//! Commands over recorded runs: `dags trigger`, `dags list-runs`,
//! `tasks states-for-dag-run|state|logs|clear`, and `lithoflow scheduler`.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use lithoflow_executor::{ExecutorSettings, FunctionExecutor};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::Outcome;
use crate::cli::OutputFormat;
use crate::config::Settings;
use crate::dag::{Dag, DagBag};
use crate::dagtest::{open_store, parse_conf, parse_date};
use crate::engine::Engine;
use crate::output::render;
use crate::store::{DagRunRecord, RunState, Store, TaskInstanceRecord, TaskState};

fn ts(d: Option<DateTime<Utc>>) -> Value {
    d.map_or(Value::Null, |d| {
        Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Micros, false))
    })
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `dags trigger`: records a queued run.
pub(crate) fn trigger(
    dag: &Dag,
    settings: &Settings,
    conf: Option<&str>,
    run_id: Option<String>,
    logical_date: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let store = open_store(settings)?;
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
    let logical = logical_date.map(parse_date).transpose()?.unwrap_or(now);
    let run_id =
        run_id.unwrap_or_else(|| format!("manual__{}", now.format("%Y-%m-%dT%H:%M:%S%.6f+00:00")));
    if !crate::dag::is_valid_id(&run_id.replace([':', '+'], "_")) {
        bail!("run id {run_id:?}: use letters, digits, `_`, `.`, `-`, `:` and `+`");
    }
    if store.run(&dag.dag_id, &run_id)?.is_some() {
        bail!("DAG `{}` already has a run `{run_id}`", dag.dag_id);
    }
    let run = DagRunRecord::manual(&dag.dag_id, run_id.clone(), logical, now, parse_conf(conf)?);
    store.put_run(&run)?;
    store.flush()?;
    let row = object(json!({
        "conf": run.conf,
        "dag_id": run.dag_id,
        "dag_run_id": run.run_id,
        "data_interval_start": ts(run.data_interval_start),
        "data_interval_end": ts(run.data_interval_end),
        "end_date": null,
        "logical_date": ts(run.logical_date),
        "run_type": run.run_type,
        "start_date": null,
        "state": run.state.name(),
    }));
    let cols = [
        "conf",
        "dag_id",
        "dag_run_id",
        "logical_date",
        "run_type",
        "state",
    ];
    std::io::stdout().write_all(render(&[row], &cols, format).as_bytes())?;
    Ok(Outcome::Ok)
}

/// `dags list-runs`.
pub(crate) fn list_runs(
    dag_id: &str,
    settings: &Settings,
    state: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let store = open_store(settings)?;
    let rows: Vec<Map<String, Value>> = store
        .runs(dag_id)?
        .into_iter()
        .filter(|r| state.is_none_or(|s| r.state.name() == s))
        .map(|r| {
            object(json!({
                "dag_id": r.dag_id,
                "run_id": r.run_id,
                "state": r.state.name(),
                "run_after": ts(Some(r.run_after)),
                "logical_date": ts(r.logical_date),
                "start_date": ts(r.start_date),
                "end_date": ts(r.end_date),
                "note": r.note,
            }))
        })
        .collect();
    let cols = [
        "dag_id",
        "run_id",
        "state",
        "run_after",
        "logical_date",
        "start_date",
        "end_date",
    ];
    std::io::stdout().write_all(render(&rows, &cols, format).as_bytes())?;
    Ok(Outcome::Ok)
}

fn run_of(store: &Store, dag_id: &str, run_id: &str) -> anyhow::Result<DagRunRecord> {
    store.run(dag_id, run_id)?.with_context(|| {
        format!("DAG `{dag_id}` has no run `{run_id}`; see `lithoflow dags list-runs {dag_id}`")
    })
}

/// `tasks states-for-dag-run`.
pub(crate) fn states_for_dag_run(
    dag_id: &str,
    run_id: &str,
    settings: &Settings,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let store = open_store(settings)?;
    let run = run_of(&store, dag_id, run_id)?;
    let rows: Vec<Map<String, Value>> = store
        .tis(dag_id, run_id)?
        .into_iter()
        .map(|t| {
            object(json!({
                "dag_id": dag_id,
                "logical_date": ts(run.logical_date),
                "task_id": t.task_id,
                "state": t.state.name(),
                "try_number": t.try_number,
                "start_date": ts(t.start_date),
                "end_date": ts(t.end_date),
            }))
        })
        .collect();
    let cols = [
        "dag_id",
        "logical_date",
        "task_id",
        "state",
        "try_number",
        "start_date",
        "end_date",
    ];
    std::io::stdout().write_all(render(&rows, &cols, format).as_bytes())?;
    Ok(Outcome::Ok)
}

/// `tasks state`.
pub(crate) fn state(
    dag_id: &str,
    task_id: &str,
    run_id: &str,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let store = open_store(settings)?;
    run_of(&store, dag_id, run_id)?;
    let state = store
        .ti(dag_id, run_id, task_id)?
        .map_or(TaskState::None, |t| t.state);
    writeln!(std::io::stdout(), "{}", state.name())?;
    Ok(Outcome::Ok)
}

/// `tasks logs`.
pub(crate) fn logs(
    dag_id: &str,
    task_id: &str,
    run_id: &str,
    try_number: Option<u32>,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let store = open_store(settings)?;
    run_of(&store, dag_id, run_id)?;
    let ti = store.ti(dag_id, run_id, task_id)?;
    let latest = ti.as_ref().map_or(0, |t| t.try_number);
    let n = try_number.unwrap_or(latest);
    if n == 0 {
        bail!("task `{task_id}` of run `{run_id}` has not run yet");
    }
    let path = Engine::log_path(&settings.home.join("logs"), dag_id, run_id, task_id, n);
    let text = std::fs::read(&path)
        .with_context(|| format!("no log for try {n} at {}", path.display()))?;
    std::io::stdout().write_all(&text)?;
    Ok(Outcome::Ok)
}

/// `tasks clear`: matched task instances go back to no state (their XCom removed) and
/// their runs back to queued, so `lithoflow scheduler` runs them again.
#[expect(clippy::too_many_arguments, reason = "one argument per CLI flag")]
pub(crate) fn clear(
    dag: &Dag,
    settings: &Settings,
    task_regex: Option<&str>,
    upstream: bool,
    downstream: bool,
    only_failed: bool,
    run_id: Option<&str>,
    yes: bool,
) -> anyhow::Result<Outcome> {
    let re = task_regex
        .map(regex::Regex::new)
        .transpose()
        .context("-t/--task-regex is not a valid regular expression")?;
    let mut tasks: BTreeSet<String> = dag
        .tasks
        .iter()
        .filter(|t| re.as_ref().is_none_or(|r| r.is_match(&t.task_id)))
        .map(|t| t.task_id.clone())
        .collect();
    let relatives = |start: &BTreeSet<String>, up: bool| {
        let mut seen = start.clone();
        let mut stack: Vec<String> = start.iter().cloned().collect();
        while let Some(t) = stack.pop() {
            let next = if up {
                dag.graph.upstream(&t)
            } else {
                dag.graph.downstream(&t)
            };
            for n in next {
                if seen.insert(n.to_owned()) {
                    stack.push(n.to_owned());
                }
            }
        }
        seen
    };
    if upstream {
        tasks.extend(relatives(&tasks, true));
    }
    if downstream {
        tasks.extend(relatives(&tasks, false));
    }
    let store = open_store(settings)?;
    let runs: Vec<DagRunRecord> = match run_id {
        Some(r) => vec![run_of(&store, &dag.dag_id, r)?],
        None => store.runs(&dag.dag_id)?,
    };
    let mut targets: Vec<(DagRunRecord, TaskInstanceRecord)> = Vec::new();
    for run in &runs {
        for ti in store.tis(&dag.dag_id, &run.run_id)? {
            let failed = matches!(ti.state, TaskState::Failed | TaskState::UpstreamFailed);
            if tasks.contains(&ti.task_id)
                && (!only_failed || failed)
                && ti.state != TaskState::None
            {
                targets.push((run.clone(), ti));
            }
        }
    }
    let mut out = std::io::stdout();
    if targets.is_empty() {
        writeln!(out, "No task instances to clear")?;
        return Ok(Outcome::Ok);
    }
    for (run, ti) in &targets {
        writeln!(
            out,
            "<TaskInstance: {}.{} {} [{}]>",
            dag.dag_id,
            ti.task_id,
            run.run_id,
            ti.state.name()
        )?;
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to clear without confirmation; pass -y");
        }
        write!(
            out,
            "You are about to clear these {} task instances. Are you sure? [y/n] ",
            targets.len()
        )?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "Cancelled, nothing was cleared.")?;
            return Ok(Outcome::Ok);
        }
    }
    let mut touched: HashMap<String, DagRunRecord> = HashMap::new();
    for (run, mut ti) in targets {
        ti.state = TaskState::None;
        ti.next_retry_at = None;
        ti.error = None;
        // Airflow gives a cleared instance a fresh set of retries.
        ti.max_tries = ti.try_number + dag.task(&ti.task_id).map_or(0, |t| t.retries) + 1;
        store.put_ti(&dag.dag_id, &run.run_id, &ti)?;
        store.delete_xcom(&dag.dag_id, &run.run_id, &ti.task_id, "return_value")?;
        touched.insert(run.run_id.clone(), run);
    }
    for (_, mut run) in touched {
        run.state = RunState::Queued;
        run.end_date = None;
        run.note = None;
        store.put_run(&run)?;
    }
    store.flush()?;
    writeln!(out, "Cleared; `lithoflow scheduler` runs them again.")?;
    Ok(Outcome::Ok)
}

/// `lithoflow scheduler`: runs queued runs and recovers running ones, at most
/// `max_active_runs` per DAG at a time, until stopped.
pub(crate) async fn scheduler(
    bag: &DagBag,
    settings: &Settings,
    exit_when_idle: bool,
) -> anyhow::Result<Outcome> {
    let store = open_store(settings)?;
    let executor = Arc::new(FunctionExecutor::new(ExecutorSettings::from_config(
        &settings.executor,
        settings.storage_dir(),
    )));
    executor
        .check()
        .await
        .context("the executor cannot start its Python workers")?;
    let engine = Arc::new(Engine::new(
        Arc::clone(&store),
        Arc::clone(&executor),
        settings.executor.clone(),
        settings.home.join("logs"),
    ));
    let dags: HashMap<String, Arc<Dag>> = bag
        .dags()
        .into_iter()
        .map(|d| (d.dag_id.clone(), Arc::new(d.clone())))
        .collect();
    let mut running: JoinSet<(String, String, anyhow::Result<DagRunRecord>)> = JoinSet::new();
    let mut active: BTreeSet<(String, String)> = BTreeSet::new();
    let mut err = std::io::stderr();
    writeln!(
        err,
        "[scheduler] started with {} DAGs and {} local workers",
        dags.len(),
        executor.workers()
    )?;
    loop {
        // Start what may start: runs left running first (recovery), then queued ones,
        // oldest first, within each DAG's max_active_runs.
        let mut runs = store.all_runs()?;
        runs.sort_by_key(|r| (r.state != RunState::Running, r.run_after));
        for run in runs.into_iter().filter(|r| !r.state.is_finished()) {
            let key = (run.dag_id.clone(), run.run_id.clone());
            if active.contains(&key) {
                continue;
            }
            let Some(dag) = dags.get(&run.dag_id) else {
                continue;
            };
            let busy = active.iter().filter(|(d, _)| d == &run.dag_id).count();
            if busy >= dag.max_active_runs as usize {
                continue;
            }
            writeln!(
                err,
                "[scheduler] {} run {} ({})",
                if run.state == RunState::Running {
                    "recovering"
                } else {
                    "starting"
                },
                run.run_id,
                run.dag_id
            )?;
            active.insert(key);
            let (engine, dag) = (Arc::clone(&engine), Arc::clone(dag));
            running.spawn(async move {
                let result = engine.run(Arc::clone(&dag), &run.run_id, None).await;
                (dag.dag_id.clone(), run.run_id, result)
            });
        }
        if running.is_empty() && exit_when_idle {
            executor.shutdown();
            return Ok(Outcome::Ok);
        }
        tokio::select! {
            Some(joined) = running.join_next() => {
                if let Ok((dag_id, run_id, result)) = joined {
                    active.remove(&(dag_id.clone(), run_id.clone()));
                    match result {
                        Ok(run) => writeln!(err, "[scheduler] run {run_id} ({dag_id}) finished: {}", run.state.name())?,
                        Err(e) => writeln!(err, "[scheduler] run {run_id} ({dag_id}) stopped: {e:#}")?,
                    }
                }
            }
            () = tokio::time::sleep(std::time::Duration::from_secs(1)), if running.is_empty() => {}
            _ = shutdown_signal() => {
                writeln!(err, "[scheduler] stopping; runs still in flight are recovered by the next start")?;
                executor.shutdown();
                return Ok(Outcome::Ok);
            }
        }
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
