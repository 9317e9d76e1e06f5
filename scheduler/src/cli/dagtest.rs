//! `lithoflow dags test`: one DAG run in the foreground, recorded in the state store,
//! with live progress and a per-task summary (Airflow's `dags test`).

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use lithoflow_executor::FunctionExecutor;
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::OutputFormat;
use crate::config::Settings;
use crate::engine::{Engine, RunEvent};
use crate::store::{DagRunRecord, RunState, Store};
use lithoflow_dag::Dag;

/// Parses a logical date: RFC 3339, or a date (midnight UTC).
pub(crate) fn parse_date(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    bail!("logical date {text:?}: expected RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)")
}

/// Parses `--conf`: a JSON object.
pub(crate) fn parse_conf(conf: Option<&str>) -> anyhow::Result<Map<String, Value>> {
    match conf {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text).context("--conf is not JSON")? {
            Value::Object(m) => Ok(m),
            other => bail!("--conf must be a JSON object, found {other}"),
        },
    }
}

pub(crate) async fn run(
    dag: Dag,
    logical_date: Option<&str>,
    conf: Option<&str>,
    format: OutputFormat,
    settings: &Settings,
    warm: Option<super::warm::WarmExecutor>,
) -> anyhow::Result<Outcome> {
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
    let logical = match logical_date {
        Some(text) => parse_date(text)?,
        None => now,
    };
    let conf = parse_conf(conf)?;
    // The workers started before the DAG folder was parsed (`warm`) unless the DAG's
    // settings differ from the home's; either way the Python interpreters start while
    // the state database opens rather than after it. The home is made private first (the
    // workers' files go into it).
    settings.create_private_dirs()?;
    let mut cfg = settings.executor.clone();
    cfg.merge(&dag.lithops_config);
    let executor = Arc::new(super::warm::executor_for(warm, &cfg, settings));
    if super::warm::runs_in_parallel(&dag) {
        executor.start_all_workers();
    }
    let store = settings.open_store()?;
    let run_id = format!("manual__{}", now.format("%Y-%m-%dT%H:%M:%S%.6f+00:00"));
    let run = DagRunRecord::manual(&dag.dag_id, run_id, logical, now, conf);
    let result = run_on(dag, run, format, settings, &store, executor).await;
    if result.is_err() {
        // The state database may have failed a write (a full disk): sled 0.34 can then
        // wait forever in the flush it makes when it is closed. What was flushed before is
        // safe, and nothing more can be written, so it is left open for the process's
        // exit to release.
        std::mem::forget(Arc::clone(&store));
    }
    result
}

/// [`run`] of the run record `run` on an open store, with the DAG's executor.
async fn run_on(
    dag: Dag,
    run: DagRunRecord,
    format: OutputFormat,
    settings: &Settings,
    store: &Arc<Store>,
    executor: Arc<FunctionExecutor>,
) -> anyhow::Result<Outcome> {
    let run_id = run.run_id.clone();
    crate::engine::check_space(&settings.home.join("state"), 0)?;
    store.put_run(&run)?;
    store.flush()?;
    let engine = Engine::new(
        Arc::clone(store),
        Arc::clone(&executor),
        settings.executor.clone(),
        settings.home.join("logs"),
    )
    .wait_for_past(false)
    .without_pools();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        let mut err = std::io::stderr();
        while let Some(event) = rx.recv().await {
            let _ = match event {
                RunEvent::Task {
                    task_id,
                    map_index,
                    state,
                    try_number,
                } => {
                    let key = crate::engine::mapping::TiKey::new(&task_id, map_index);
                    // Formatted first: stderr is unbuffered, and `writeln!` on it makes a
                    // write for each piece of the line.
                    let line = format!("[dags test] {key}: {} (try {try_number})\n", state.name());
                    err.write_all(line.as_bytes())
                }
                RunEvent::Finished(state) => {
                    // The run's last event: stop here rather than wait for every sender
                    // to go (a job's progress forwarder notices only at its next tick).
                    let _ = writeln!(err, "[dags test] run finished: {}", state.name());
                    break;
                }
                RunEvent::Progress { .. } => Ok(()),
            };
        }
    });
    let dag = Arc::new(dag);
    let started = std::time::Instant::now();
    let finished = engine.run(Arc::clone(&dag), &run_id, Some(tx)).await;
    drop(engine);
    let _ = printer.await;
    executor.settle().await;
    executor.shutdown();
    let finished = finished.with_context(|| {
        format!(
            "run {run_id} of `{}` stopped; what it recorded so far is kept",
            dag.dag_id
        )
    })?;

    let mut tasks = Vec::new();
    let tis = store.tis(&dag.dag_id, &run_id)?;
    // Each task's instances, in map index order (the store's order): grouped once, not
    // searched for each task (quadratic at 10,000 tasks).
    let mut by_task: std::collections::HashMap<&str, Vec<&crate::store::TaskInstanceRecord>> =
        std::collections::HashMap::with_capacity(dag.tasks.len());
    for ti in &tis {
        by_task.entry(ti.task_id.as_str()).or_default().push(ti);
    }
    // The secrets are read once; without any, values are shown as they are (when they
    // cannot be read, each value is masked as before).
    let masking = crate::values::secret_masks(store).map_or(true, |m| !m.is_empty());
    for task in &dag.tasks {
        for ti in by_task.get(task.task_id.as_str()).into_iter().flatten() {
            // Shown masked: a task may return a secret it was given.
            let value = store
                .xcom_at(
                    &dag.dag_id,
                    &run_id,
                    &task.task_id,
                    ti.map_index,
                    "return_value",
                )?
                .map(|v| {
                    if masking {
                        crate::values::mask_value(store, &v)
                    } else {
                        v
                    }
                });
            let mut row = json!({
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": ti.state.name(),
                "try_number": ti.try_number,
                "duration_s": ti.duration_s,
                "return_value": value,
                "error": ti.error,
            });
            if let (Some(label), Value::Object(m)) = (&ti.rendered_map_index, &mut row) {
                m.insert("rendered_map_index".into(), json!(label));
            }
            tasks.push(row);
        }
    }
    let mut out = std::io::stdout();
    if format == OutputFormat::Json {
        let doc = json!({"dag_id": dag.dag_id, "run_id": run_id, "state": finished.state.name(), "note": finished.note, "tasks": tasks});
        writeln!(out, "{doc}")?;
    } else {
        let rows: Vec<Map<String, Value>> = tasks
            .iter()
            .map(|t| {
                let mut m = t.as_object().cloned().unwrap_or_default();
                // A mapped instance is shown as `task[N]`.
                if let (Some(id), Some(i)) = (
                    t["task_id"].as_str(),
                    t["map_index"].as_i64().filter(|i| *i >= 0),
                ) {
                    m.insert("task_id".into(), Value::String(format!("{id}[{i}]")));
                }
                let shown: String = m
                    .get("return_value")
                    .map(|v| v.to_string())
                    .unwrap_or_default()
                    .chars()
                    .take(60)
                    .collect();
                m.insert("return_value".into(), Value::String(shown));
                if let Some(Value::Number(d)) = m.get("duration_s") {
                    let d = d.as_f64().unwrap_or(0.0);
                    m.insert("duration".into(), Value::String(format!("{d:.3}s")));
                }
                m
            })
            .collect();
        out.write_all(
            crate::cli::output::render(
                &rows,
                &["task_id", "state", "try_number", "duration", "return_value"],
                format,
            )
            .as_bytes(),
        )?;
        writeln!(
            out,
            "DagRun finished: dag_id={}, run_id={run_id}, state={}{} in {:.3}s",
            dag.dag_id,
            finished.state.name(),
            finished
                .note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            started.elapsed().as_secs_f64()
        )?;
        for t in &tasks {
            if let Some(e) = t.get("error").and_then(Value::as_str) {
                writeln!(
                    std::io::stderr(),
                    "--- {} failed ---\n{e}",
                    t["task_id"].as_str().unwrap_or_default()
                )?;
            }
        }
    }
    Ok(if finished.state == RunState::Success {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}
