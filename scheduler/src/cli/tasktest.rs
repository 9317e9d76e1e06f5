//! `lithoflow tasks test`: run one task with the executor, record nothing, print its
//! return value (Airflow's `tasks test`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use lithoflow_executor::{JobKind, JobOutcome};
use serde_json::{Value, json};

use crate::Outcome;
use crate::cli::OutputFormat;
use crate::config::Settings;
use crate::taskrun::{self, TaskError};
use lithoflow_dag::{Dag, TaskKind};

/// Parses `--xcom TASK_ID=JSON` values.
fn parse_xcom(values: &[String], dag: &Dag) -> anyhow::Result<HashMap<String, Value>> {
    let mut out = HashMap::new();
    for v in values {
        let Some((task, json)) = v.split_once('=') else {
            bail!("--xcom {v:?}: expected TASK_ID=JSON, for example --xcom add_task_1=4");
        };
        if dag.task(task).is_none() {
            bail!("--xcom {v:?}: DAG `{}` has no task `{task}`", dag.dag_id);
        }
        let value: Value = serde_json::from_str(json)
            .with_context(|| format!("--xcom {v:?}: the value is not JSON"))?;
        out.insert(task.to_owned(), value);
    }
    Ok(out)
}

pub(crate) async fn run(
    mut dag: Dag,
    task_id: &str,
    xcom: &[String],
    format: OutputFormat,
    settings: &Settings,
    warm: Option<super::warm::WarmExecutor>,
) -> anyhow::Result<Outcome> {
    // A map's literal elements (a million of them, perhaps) are moved into the task that
    // runs rather than copied: the DAG keeps an empty list, which nothing here reads.
    let literal = dag
        .tasks
        .iter_mut()
        .find(|t| t.task_id == task_id)
        .and_then(|t| literal_mut(t).map(std::mem::take));
    run_task(&dag, task_id, literal, xcom, format, settings, warm).await
}

/// The literal elements of a map or map_reduce task.
fn literal_mut(task: &mut lithoflow_dag::Task) -> Option<&mut Vec<Value>> {
    let map = match &mut task.kind {
        TaskKind::Map(m) => m,
        TaskKind::MapReduce(mr) => &mut mr.map,
        _ => return None,
    };
    match &mut map.iterdata {
        lithoflow_dag::Iterdata::Literal(items) => Some(items),
        _ => None,
    }
}

async fn run_task(
    dag: &Dag,
    task_id: &str,
    literal: Option<Vec<Value>>,
    xcom: &[String],
    format: OutputFormat,
    settings: &Settings,
    warm: Option<super::warm::WarmExecutor>,
) -> anyhow::Result<Outcome> {
    let Some(task) = dag.task(task_id) else {
        let ids: Vec<&str> = dag.tasks.iter().map(|t| t.task_id.as_str()).collect();
        let hint = lithoflow_dag::suggest_id(task_id, &ids)
            .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
        bail!("DAG `{}` has no task `{task_id}`{hint}", dag.dag_id);
    };
    let xcom = parse_xcom(xcom, dag)?;
    let cfg = dag.executor_config(&settings.executor, task);
    // The executor's local storage lives in the home: create the home's folders private
    // first, as every command does, or the folders it creates would be open to others
    // and `lithoflow scheduler` would then refuse the home.
    settings.create_private_dirs()?;
    let executor = super::warm::executor_for(warm, &cfg, settings);
    // As the warm executor did (`WarmExecutor::start`): its one task is as likely a map
    // as not.
    executor.start_all_workers();
    let run_id = format!(
        "tasks_test__{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ")
    );
    let job_key = format!("{}/{run_id}/{}/1", dag.dag_id, task.task_id);
    let mut stderr = std::io::stderr();
    // Templates render as in a run whose logical date is now (Airflow's `tasks test`
    // takes the date as an argument; lithoflow's runs it "now").
    let now = chrono::Utc::now();
    let mut ctx = lithoflow_dag::template::Context::standalone(dag, &task.task_id, &run_id, now);
    taskrun::set_clock(&mut ctx, now);
    let executor = Arc::new(executor);
    let caller = if dag.templates.calls_python() {
        taskrun::ExecutorPyCaller::new(Arc::clone(&executor), dag, &settings.executor)
            .map(|c| Arc::new(c) as Arc<dyn lithoflow_dag::template::PyCaller>)
    } else {
        None
    };
    let renderer = lithoflow_dag::template::Renderer::new(&dag.templates, caller);
    // `var` and `conn`: the environment, then the store (opened only if needed).
    let open_settings = settings.clone();
    let lookup = Arc::new(crate::values::OpenOnNeed::new(move || {
        open_settings.open_store().context(
            "`tasks test` reads stored variables and connections only while no scheduler holds the state database",
        )
    }));
    let rendered = {
        let mut task = task.clone();
        if let (Some(items), Some(slot)) = (literal, literal_mut(&mut task)) {
            *slot = items;
        }
        let lookup = Arc::clone(&lookup) as Arc<dyn lithoflow_dag::template_values::Lookup>;
        // Off the runtime's threads: Python template callables wait for the executor.
        match tokio::task::spawn_blocking(move || {
            crate::taskrun::render_task(&task, &renderer, &ctx, Some(lookup)).map(|t| (t, ctx))
        })
        .await
        {
            Ok(r) => r,
            Err(e) => Err(format!("rendering the templates stopped: {e}")),
        }
    };
    // What the task could be given is masked in what this command prints.
    let masks = Masks(lookup.secret_masks());
    let rendered = match rendered {
        Ok(t) => t,
        Err(e) => {
            return report(
                format,
                &task.task_id,
                Err(TaskError::Input(e)),
                None,
                &masks,
            );
        }
    };
    let (mut rendered, ctx) = rendered;
    let task = &rendered;
    if matches!(task.kind, TaskKind::Bash(_) | TaskKind::Empty) {
        writeln!(
            stderr,
            "[tasks test] running {}.{} ({}) here",
            dag.dag_id,
            task.task_id,
            task.type_name()
        )?;
        let (value, output) = taskrun::run_local(dag, task).await;
        if let Some(output) = output {
            stderr.write_all(masks.apply(&output).as_bytes())?;
        }
        return report(format, &task.task_id, value, None, &masks);
    }
    // A python sensor's callable runs once here (one poke); the other waiting kinds wait
    // in the engine, which `dags test` runs.
    if matches!(task.kind, TaskKind::Sensor(_) | TaskKind::TriggerDagRun(_))
        && task.python().is_none()
    {
        let why = format!(
            "`tasks test` runs one call of a task; task `{}` ({}) waits in the scheduler's engine: run it with `lithoflow dags test {}`",
            task.task_id,
            task.type_name(),
            dag.dag_id
        );
        return report(
            format,
            &task.task_id,
            Err(TaskError::Input(why)),
            None,
            &masks,
        );
    }
    let context = task.python().map(|_| ctx.json());
    // The rendered elements move into the job: taken out of the task before the job is
    // made (which would copy them) and put into it after, so one copy is ever held.
    let items = literal_mut(&mut rendered).map(std::mem::take);
    let task = &rendered;
    let mut spec = match taskrun::prepare(&executor, dag, task, &cfg, xcom, job_key, context).await
    {
        Ok(spec) => spec,
        Err(e) => return report(format, &task.task_id, Err(e), None, &masks),
    };
    if let Some(items) = items {
        match &mut spec.kind {
            JobKind::Map(map) | JobKind::MapReduce { map, .. } => map.iterdata = items,
            _ => {}
        }
    }
    // The function may read variables and connections (the environment's, then the
    // state database's while no scheduler holds it) and push XCom, which `tasks test`
    // keeps in memory only.
    spec.options.services = Some(crate::services::TaskServices::standalone(
        &dag.dag_id,
        &run_id,
        &task.task_id,
        ctx.json(),
        Arc::clone(&lookup),
    ));
    let on = match cfg.effective_backend() {
        lithoflow_executor::Backend::Localhost => format!(
            "{} local worker{}",
            executor.workers(),
            if executor.workers() == 1 { "" } else { "s" }
        ),
        lithoflow_executor::Backend::AwsLambda => "AWS Lambda".to_owned(),
    };
    writeln!(
        stderr,
        "[tasks test] running {}.{} ({}) on {on}",
        dag.dag_id,
        task.task_id,
        task.type_name(),
    )?;
    let job = taskrun::start(&executor, spec);
    let bar = progress_bar(task, &job);
    let outcome = taskrun::finish(&executor, task, &job).await;
    if let Some(bar) = bar {
        bar.abort();
    }
    if task.common.async_invoke {
        writeln!(
            stderr,
            "[tasks test] async_invoke: every call was accepted; waiting for them to finish before exiting"
        )?;
        let done = job.wait().await;
        masks.write_call_output(&mut stderr, &done)?;
    } else if let Some(done) = &outcome.job {
        masks.write_call_output(&mut stderr, done)?;
        writeln!(
            stderr,
            "[tasks test] {} call{} in {:.3}s",
            done.calls.len(),
            if done.calls.len() == 1 { "" } else { "s" },
            done.duration_s
        )?;
    }
    executor.settle().await;
    executor.shutdown();
    report(
        format,
        &task.task_id,
        outcome.return_value,
        outcome.job.as_deref(),
        &masks,
    )
}

/// Secrets masked in what `tasks test` prints.
struct Masks(Vec<String>);

impl Masks {
    fn apply(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_owned();
        }
        let values: Vec<&str> = self.0.iter().map(String::as_str).collect();
        lithoflow_dag::redact::mask_values(text, &values)
    }

    fn write_call_output(&self, w: &mut dyn Write, job: &JobOutcome) -> std::io::Result<()> {
        let mut text = Vec::new();
        taskrun::write_call_output(&mut text, job)?;
        w.write_all(self.apply(&String::from_utf8_lossy(&text)).as_bytes())
    }
}

/// A live progress bar for maps, on a terminal only.
fn progress_bar(
    task: &lithoflow_dag::Task,
    job: &lithoflow_executor::Job,
) -> Option<tokio::task::JoinHandle<()>> {
    if matches!(task.kind, TaskKind::CallAsync(_)) || !std::io::stderr().is_terminal() {
        return None;
    }
    let mut rx = job.progress();
    Some(tokio::spawn(async move {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>6} [{bar:40}] {pos}/{len} done, {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        loop {
            {
                let p = rx.borrow_and_update();
                bar.set_prefix(p.phase);
                bar.set_length(p.total as u64);
                bar.set_position((p.done + p.failed) as u64);
                bar.set_message(format!("{} running, {} failed", p.running, p.failed));
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        bar.finish_and_clear();
    }))
}

fn report(
    format: OutputFormat,
    task_id: &str,
    value: Result<Value, TaskError>,
    _job: Option<&JobOutcome>,
    masks: &Masks,
) -> anyhow::Result<Outcome> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let failed = value.is_err() && !matches!(value, Err(TaskError::Skip(_)));
    // A return value (a map's list of a million results) is written as it is encoded,
    // not copied into a document or a string first, unless secrets must be masked in it.
    if let Ok(v) = &value
        && masks.0.is_empty()
    {
        if format == OutputFormat::Json {
            write!(
                out,
                "{{\"task_id\":{},\"state\":\"success\",\"return_value\":",
                Value::String(task_id.to_owned())
            )?;
            serde_json::to_writer(&mut out, v)?;
            writeln!(out, ",\"error\":null}}")?;
        } else {
            write!(out, "Done. Returned value was: ")?;
            serde_json::to_writer(&mut out, v)?;
            writeln!(out)?;
        }
        out.flush()?;
        return Ok(Outcome::Ok);
    }
    if format == OutputFormat::Json {
        let doc = match &value {
            Ok(v) => {
                json!({"task_id": task_id, "state": "success", "return_value": v, "error": null})
            }
            Err(TaskError::Skip(m)) => {
                json!({"task_id": task_id, "state": "skipped", "return_value": null, "error": null, "message": m})
            }
            Err(e) => {
                json!({"task_id": task_id, "state": "failed", "return_value": null, "error": e.to_string()})
            }
        };
        writeln!(out, "{}", masks.apply(&doc.to_string()))?;
    } else {
        match &value {
            Ok(v) => writeln!(
                out,
                "{}",
                masks.apply(&format!("Done. Returned value was: {v}"))
            )?,
            Err(TaskError::Skip(m)) => writeln!(out, "{}", masks.apply(&format!("Skipped: {m}")))?,
            Err(e) => {
                writeln!(
                    std::io::stderr(),
                    "{}",
                    masks.apply(&format!("Task failed: {e}"))
                )?;
            }
        }
    }
    out.flush()?;
    Ok(if failed { Outcome::Failed } else { Outcome::Ok })
}
