//! Commands over recorded runs: `dags trigger`, `dags list-runs`,
//! `tasks states-for-dag-run|state|logs|clear`, and `lithoflow scheduler`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::OutputFormat;
use crate::config::Settings;
use crate::dag::Dag;
use crate::dagtest::{open_store, parse_conf, parse_date};
use crate::engine::Engine;
use crate::output::render;
use crate::store::{DagRunRecord, Store, TaskState};

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
    let req = crate::ops::TriggerRequest {
        conf: parse_conf(conf)?,
        run_id,
        logical_date: logical_date.map(parse_date).transpose()?,
    };
    let run = crate::ops::trigger(&store, dag, req, Utc::now())?;
    print_triggered(&run, format)
}

/// Prints a triggered run as `dags trigger` does.
pub(crate) fn print_triggered(run: &DagRunRecord, format: OutputFormat) -> anyhow::Result<Outcome> {
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

/// `dags pause` / `dags unpause`: prints the DAG with its previous `is_paused`, as
/// Airflow 3 does.
pub(crate) fn set_paused(
    dag: &Dag,
    settings: &Settings,
    paused: bool,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let store = open_store(settings)?;
    let before = crate::ops::set_paused(&store, dag, paused)?;
    print_paused(&dag.dag_id, before, paused, format)
}

/// Prints the outcome of a pause or unpause.
pub(crate) fn print_paused(
    dag_id: &str,
    before: bool,
    after: bool,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let row = object(json!({"dag_id": dag_id, "is_paused": after, "was_paused": before}));
    std::io::stdout().write_all(render(&[row], &["dag_id", "is_paused"], format).as_bytes())?;
    Ok(Outcome::Ok)
}

/// `dags next-execution`.
pub(crate) fn next_execution(
    dag: &Dag,
    settings: &Settings,
    n: usize,
    now: DateTime<Utc>,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let mut err = std::io::stderr();
    // Best effort: a scheduler holding the store just means no reminder.
    if let Ok(store) = Store::open(&settings.home.join("state"))
        && crate::ops::is_paused(&store, dag).unwrap_or(false)
    {
        writeln!(err, "[INFO] Please be reminded this DAG is PAUSED now.")?;
    }
    let infos = crate::timetable::next_executions(dag, n, now);
    let mut out = std::io::stdout();
    let t = |d: DateTime<Utc>| Value::String(crate::ops::iso(d));
    match format {
        OutputFormat::Json => {
            let rows: Vec<Value> = infos
                .iter()
                .map(|i| {
                    json!({
                        "run_after": t(i.run_after),
                        "logical_date": t(i.logical_date()),
                        "data_interval_start": t(i.data_interval.start),
                        "data_interval_end": t(i.data_interval.end),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        }
        OutputFormat::Plain => {
            for i in &infos {
                writeln!(out, "{}", crate::ops::iso(i.logical_date()))?;
            }
        }
        OutputFormat::Table => {
            let rows: Vec<Map<String, Value>> = infos
                .iter()
                .map(|i| {
                    object(json!({
                        "logical_date": t(i.logical_date()),
                        "run_after": t(i.run_after),
                        "data_interval_start": t(i.data_interval.start),
                        "data_interval_end": t(i.data_interval.end),
                    }))
                })
                .collect();
            let cols = [
                "logical_date",
                "run_after",
                "data_interval_start",
                "data_interval_end",
            ];
            out.write_all(render(&rows, &cols, format).as_bytes())?;
        }
    }
    if infos.len() < n {
        writeln!(
            err,
            "[WARN] No following schedule can be found after {} run(s). This DAG may have schedule `@once`, no schedule, or an end_date.",
            infos.len()
        )?;
        if infos.is_empty() && format == OutputFormat::Plain {
            writeln!(out, "None")?;
        }
    }
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
pub(crate) fn clear(
    dag: &Dag,
    settings: &Settings,
    spec: crate::ops::ClearSpec,
    yes: bool,
) -> anyhow::Result<Outcome> {
    let store = open_store(settings)?;
    let targets = crate::ops::clear_targets(&store, dag, &spec)?;
    let mut out = std::io::stdout();
    if targets.is_empty() {
        writeln!(out, "No task instances to clear")?;
        return Ok(Outcome::Ok);
    }
    let mut n = 0;
    for (run, tis) in &targets {
        for ti in tis {
            n += 1;
            writeln!(
                out,
                "<TaskInstance: {}.{} {} [{}]>",
                dag.dag_id,
                ti.task_id,
                run.run_id,
                ti.state.name()
            )?;
        }
    }
    if spec.dry_run {
        return Ok(Outcome::Ok);
    }
    if !confirm(&format!("You are about to clear these {n} task instances."), yes)? {
        writeln!(out, "Cancelled, nothing was cleared.")?;
        return Ok(Outcome::Ok);
    }
    crate::ops::apply_clear(&store, dag, targets)?;
    writeln!(out, "Cleared; `lithoflow scheduler` runs them again.")?;
    Ok(Outcome::Ok)
}

/// Asks `question [y/n]` on a terminal; refuses without one unless `yes`.
pub(crate) fn confirm(question: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to change state without confirmation; pass -y");
    }
    let mut out = std::io::stdout();
    write!(out, "{question} Are you sure? [y/n] ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `dags backfill`: plans, records the runs, and (without a running scheduler) runs
/// them here until they finish.
pub(crate) async fn backfill(
    dag: Dag,
    settings: &Settings,
    spec: crate::ops::BackfillSpec,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let store = open_store(settings)?;
    let outcome = crate::ops::backfill(&store, &dag, &spec, Utc::now())?;
    print_backfill(&outcome, spec.dry_run, format)?;
    if spec.dry_run || outcome.runs.iter().all(|r| r.action == "skip") {
        return Ok(Outcome::Ok);
    }
    let run_ids: Vec<String> = outcome
        .runs
        .iter()
        .filter(|r| r.action != "skip")
        .map(|r| r.dag_run_id.clone())
        .collect();
    drop(store);
    crate::daemon::run_backfill_here(dag, settings, run_ids, spec.max_active_runs).await
}

/// Prints a backfill plan: `Logical dates to be attempted:` for a dry run, like Airflow.
pub(crate) fn print_backfill(
    outcome: &crate::ops::BackfillOutcome,
    dry_run: bool,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    if format == OutputFormat::Plain && dry_run {
        writeln!(out, "Logical dates to be attempted:")?;
        for r in outcome.runs.iter().filter(|r| r.action != "skip") {
            writeln!(out, "  {}", crate::ops::iso(r.logical_date))?;
        }
        return Ok(());
    }
    let rows: Vec<Map<String, Value>> = outcome
        .runs
        .iter()
        .map(|r| {
            object(json!({
                "logical_date": crate::ops::iso(r.logical_date),
                "dag_run_id": r.dag_run_id,
                "action": r.action,
                "reason": r.reason,
            }))
        })
        .collect();
    out.write_all(
        render(
            &rows,
            &["logical_date", "dag_run_id", "action", "reason"],
            format,
        )
        .as_bytes(),
    )?;
    Ok(())
}

