//! `lithoflow dags list|show|validate` and `tasks list`: what a DAGs folder holds, read
//! without a scheduler.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::output::render;
use super::{OutputFormat, find_dag, object};
use crate::Outcome;
use crate::dagbag::{DagBag, DagFileResult};
use lithoflow_dag::diag::Severity;
use lithoflow_dag::duration;
use lithoflow_dag::{Dag, Schedule, Task, TaskKind, Timetable};

pub(super) fn write_diagnostics(file: &DagFileResult, w: &mut dyn Write) -> io::Result<()> {
    for d in &file.diagnostics {
        write!(w, "{d}")?;
    }
    Ok(())
}

pub(super) fn dags_list(
    bag: &DagBag,
    paused: &std::collections::HashMap<String, Option<bool>>,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let rows: Vec<Map<String, Value>> = bag
        .dags()
        .into_iter()
        .map(|d| {
            let mut owners: Vec<&str> = d.tasks.iter().map(|t| t.owner.as_str()).collect();
            owners.sort_unstable();
            owners.dedup();
            object(json!({
                "dag_id": d.dag_id,
                "fileloc": std::path::absolute(&d.fileloc).unwrap_or_else(|_| d.fileloc.clone()),
                "schedule": d.schedule_str(),
                "tags": d.tags,
                "tasks": d.tasks.len(),
                "owners": owners,
                "description": d.description,
                "timetable": d.timetable,
                "is_paused_upon_creation": d.is_paused_upon_creation,
                "is_paused": paused.get(&d.dag_id).copied().flatten(),
            }))
        })
        .collect();
    out.write_all(
        render(
            &rows,
            &[
                "dag_id",
                "fileloc",
                "schedule",
                "tags",
                "tasks",
                "is_paused",
            ],
            format,
        )
        .as_bytes(),
    )?;
    let broken = bag.import_errors();
    if !broken.is_empty() {
        writeln!(
            err,
            "warning: {} DAG file{} failed to load (see `lithoflow dags list-import-errors` or `lithoflow dags validate`):",
            broken.len(),
            if broken.len() == 1 { "" } else { "s" }
        )?;
        for b in &broken {
            let count = b.count;
            writeln!(
                err,
                "  {} ({count} error{})",
                b.filepath.display(),
                if count == 1 { "" } else { "s" }
            )?;
        }
    }
    Ok(Outcome::Ok)
}

pub(super) fn dags_validate(
    bag: &DagBag,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let invalid = bag.files.iter().filter(|f| f.has_errors()).count();
    let count = |sev: Severity| {
        bag.files
            .iter()
            .flat_map(|f| &f.diagnostics)
            .filter(|d| d.severity == sev)
            .count()
    };
    if format == OutputFormat::Json {
        let files: Vec<Value> = bag
            .files
            .iter()
            .map(|f| {
                json!({
                    "path": f.path,
                    "dag_id": f.dag().map(|d| d.dag_id.clone()),
                    "dag_ids": f.dags.iter().map(|d| d.dag_id.clone()).collect::<Vec<_>>(),
                    "valid": !f.has_errors(),
                    "diagnostics": f.diagnostics.iter().map(|d| json!({
                        "severity": d.severity,
                        "line": d.location.as_ref().map(|l| l.line),
                        "column": d.location.as_ref().map(|l| l.column),
                        // The message may quote the file: credential shapes are masked, as
                        // in the headline.
                        "message": lithoflow_dag::redact::redact_text(&d.message),
                        "text": d.headline(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&files)?)?;
    } else {
        for f in &bag.files {
            write_diagnostics(f, out)?;
        }
        let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
        writeln!(
            out,
            "{} file{} checked: {} valid, {invalid} invalid ({errors} error{}, {warnings} warning{})",
            bag.files.len(),
            if bag.files.len() == 1 { "" } else { "s" },
            bag.files.len() - invalid,
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" },
        )?;
    }
    Ok(if invalid > 0 {
        Outcome::Invalid
    } else {
        Outcome::Ok
    })
}

pub(super) fn tasks_list(
    dag: &Dag,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    if format == OutputFormat::Plain {
        // Airflow's `tasks list`: sorted task ids, one per line.
        let mut ids: Vec<&str> = dag.tasks.iter().map(|t| t.task_id.as_str()).collect();
        ids.sort_unstable();
        for id in ids {
            writeln!(out, "{id}")?;
        }
        return Ok(Outcome::Ok);
    }
    let rows: Vec<Map<String, Value>> = dag
        .tasks
        .iter()
        .map(|t| {
            object(json!({
                "task_id": t.task_id,
                "type": t.type_name(),
                "function": lithoflow_dag::redact::redact_text(&function_of(t)),
                "operator": t.operator.as_ref().map(|o| o.operator.clone()),
                "upstream": dag.graph.upstream(&t.task_id),
                "trigger_rule": t.trigger_rule.name(),
                "retries": t.retries,
            }))
        })
        .collect();
    out.write_all(
        render(
            &rows,
            &[
                "task_id",
                "type",
                "function",
                "upstream",
                "trigger_rule",
                "retries",
            ],
            format,
        )
        .as_bytes(),
    )?;
    Ok(Outcome::Ok)
}

fn function_of(t: &Task) -> String {
    // A `.py` DAG's references name generated wrappers: the file's own function reads better.
    if let Some(op) = &t.operator {
        return match &op.callable {
            Some(c) => c.clone(),
            None if matches!(t.kind, TaskKind::Bash(_)) => bash_or_dash(t),
            None => op.operator.clone(),
        };
    }
    match &t.kind {
        TaskKind::CallAsync(c) => c.func.to_string(),
        TaskKind::Map(m) => m.map_function.to_string(),
        TaskKind::MapReduce(mr) => format!("{} -> {}", mr.map.map_function, mr.reduce_function),
        TaskKind::Python(p) | TaskKind::Branch(p) | TaskKind::ShortCircuit { python: p, .. } => {
            p.python_callable.to_string()
        }
        TaskKind::Bash(b) => b.bash_command.clone(),
        TaskKind::Sensor(s) => format!("sensor {}", s.sensor.name()),
        TaskKind::TriggerDagRun(t) => format!("-> {}", t.trigger_dag_id),
        TaskKind::Empty => "-".to_owned(),
    }
}

pub(super) fn dags_show(
    bag: &DagBag,
    dag_id: &str,
    dot: bool,
    format: Option<OutputFormat>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let folder = bag
        .files
        .first()
        .and_then(|f| f.path.parent())
        .map_or_else(PathBuf::new, Path::to_path_buf);
    let Some(dag) = find_dag(bag, dag_id, &folder, err)? else {
        return Ok(Outcome::Invalid);
    };
    if dot {
        out.write_all(dag.graph.to_dot(&dag.dag_id).as_bytes())?;
        return Ok(Outcome::Ok);
    }
    match format.unwrap_or_default() {
        OutputFormat::Json => {
            // Secrets (env values, credential-named keys, AWS key ids) never reach output.
            let mut v = lithoflow_dag::redact::redact_value(&serde_json::to_value(dag)?);
            if let Value::Object(m) = &mut v {
                let edges: Vec<Value> = dag
                    .graph
                    .edges()
                    .into_iter()
                    .map(|(a, b)| json!([a, b]))
                    .collect();
                m.insert("edges".to_owned(), Value::Array(edges));
                if let Some(py) = &dag.python {
                    m.insert("airflow_version".to_owned(), json!(py.airflow_version));
                    m.insert("version_reason".to_owned(), json!(py.version_reason));
                    m.insert("ignored".to_owned(), json!(py.ignored));
                }
                if let Some(Value::Array(tasks)) = m.get_mut("tasks") {
                    for (t, shown) in dag.tasks.iter().zip(tasks.iter_mut()) {
                        add_task_fields(dag, t, shown);
                    }
                }
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        OutputFormat::Table | OutputFormat::Plain => out.write_all(show_text(dag).as_bytes())?,
    }
    Ok(Outcome::Ok)
}

/// A task's graph and operator in `dags show -o json`: every `upstream` task (data
/// dependencies included, as Airflow's `upstream_task_ids`) and, for a `.py` DAG, the
/// operator it was made from.
fn add_task_fields(dag: &Dag, t: &Task, shown: &mut Value) {
    let Value::Object(m) = shown else { return };
    m.insert("upstream".to_owned(), json!(dag.graph.upstream(&t.task_id)));
    if let Some(op) = &t.operator {
        m.insert("operator".to_owned(), json!(op.operator));
        m.insert("operator_module".to_owned(), json!(op.operator_module));
        m.insert("line".to_owned(), json!(op.line));
        m.insert("unsupported".to_owned(), json!(op.unsupported));
        m.insert("custom_operator".to_owned(), json!(op.custom));
        m.insert("ignored".to_owned(), json!(op.ignored));
        m.insert("callable".to_owned(), json!(op.callable));
    }
}

fn bash_or_dash(t: &Task) -> String {
    match &t.kind {
        TaskKind::Bash(b) => b.bash_command.clone(),
        _ => "-".to_owned(),
    }
}

/// Lists ignored arguments as `name (line N)`.
fn ignored_list(ignored: &[lithoflow_dag::IgnoredArg]) -> String {
    ignored
        .iter()
        .map(|i| format!("{} (line {})", i.name, i.line))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A readable summary of a DAG with every effective task parameter.
fn show_text(dag: &Dag) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("{k:<27}{v}\n"));
    line("dag_id", dag.dag_id.clone());
    line("fileloc", dag.fileloc.display().to_string());
    if let Some(py) = &dag.python {
        line("defined at", format!("line {}", py.line));
        line(
            "airflow_version",
            format!("{} ({})", py.airflow_version, py.version_reason),
        );
        if !py.ignored.is_empty() {
            line("ignored arguments", ignored_list(&py.ignored));
        }
        if !py.parse_time.is_empty() {
            line(
                "computed at parse time",
                py.parse_time
                    .iter()
                    .map(|p| format!("{} (line {})", p.what, p.line))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
    }
    if let Some(d) = &dag.description {
        line("description", d.clone());
    }
    let schedule = match &dag.schedule {
        None => "none (manual triggers only)".to_owned(),
        Some(Schedule::Cron { expr, .. }) => format!(
            "{expr} ({})",
            json_str(&serde_json::to_value(dag.timetable).unwrap_or(Value::Null))
        ),
        Some(Schedule::Delta { expr, .. }) => format!(
            "{expr} ({})",
            match dag.timetable {
                Timetable::CronTrigger => "delta_trigger",
                Timetable::CronDataInterval => "delta_data_interval",
            }
        ),
        Some(Schedule::Assets(c)) => format!("assets {} (triggered by assets)", c.expression()),
        Some(other) => other.as_str().to_owned(),
    };
    line("schedule", schedule);
    line("timezone", dag.timezone.to_string());
    line(
        "start_date",
        dag.start_date.map_or("-".to_owned(), |d| d.to_rfc3339()),
    );
    line(
        "end_date",
        dag.end_date.map_or("-".to_owned(), |d| d.to_rfc3339()),
    );
    line("catchup", dag.catchup.to_string());
    line(
        "is_paused_upon_creation",
        dag.is_paused_upon_creation.to_string(),
    );
    line("max_active_runs", dag.max_active_runs.to_string());
    line("max_active_tasks", dag.max_active_tasks.to_string());
    line(
        "dagrun_timeout",
        dag.dagrun_timeout.map_or("-".to_owned(), duration::format),
    );
    line("tags", dag.tags.join(", "));
    if !dag.params.is_empty() {
        line(
            "params",
            Value::Object(lithoflow_dag::redact::redact_map(&dag.params)).to_string(),
        );
    }
    let cfg = serde_json::to_value(&dag.lithops_config).unwrap_or(Value::Null);
    line(
        "lithops_config",
        lithoflow_dag::redact::redact_value(&cfg).to_string(),
    );
    let order = dag.graph.topological_order().unwrap_or_default();
    for id in order {
        let Some(t) = dag.task(id) else { continue };
        s.push_str(&format!("\n[tasks.{}]  ({})\n", t.task_id, t.type_name()));
        if let Some(op) = &t.operator {
            if let Some(c) = &op.callable {
                s.push_str(&format!("  {:<27}{c}\n", "calls"));
            }
            s.push_str(&format!(
                "  {:<27}{} (from {}), line {}{}\n",
                "operator",
                op.operator,
                op.operator_module,
                op.line,
                if op.unsupported {
                    ": not implemented by lithoflow, the task fails when it runs"
                } else {
                    ""
                }
            ));
            if !op.ignored.is_empty() {
                s.push_str(&format!(
                    "  {:<27}{}\n",
                    "ignored arguments",
                    ignored_list(&op.ignored)
                ));
            }
        }
        for (k, v) in t.parameters() {
            let v = redact_param(k, &v);
            s.push_str(&format!("  {k:<27}{v}\n"));
        }
        let up = dag.graph.upstream(&t.task_id);
        s.push_str(&format!(
            "  {:<27}{}\n",
            "upstream tasks",
            if up.is_empty() {
                "-".to_owned()
            } else {
                up.join(", ")
            }
        ));
    }
    let edges = dag.graph.edges();
    s.push_str("\nedges\n");
    if edges.is_empty() {
        s.push_str("  (none)\n");
    }
    for (a, b) in edges {
        s.push_str(&format!("  {a} -> {b}\n"));
    }
    s
}

/// A task parameter as `dags show` prints it, secrets masked: every value of an
/// environment, a credential-named parameter, credential-named keys inside JSON values,
/// and AWS access key ids anywhere.
fn redact_param(name: &str, shown: &str) -> String {
    use lithoflow_dag::redact;
    let parsed = serde_json::from_str::<Value>(shown).ok();
    match parsed {
        Some(Value::Object(env)) if name == "extra_env" || name == "env" => {
            Value::Object(redact::mask_all(&env)).to_string()
        }
        _ if redact::is_secret_name(name) => redact::MASK.to_owned(),
        Some(v @ (Value::Object(_) | Value::Array(_))) => redact::redact_value(&v).to_string(),
        _ => redact::redact_text(shown),
    }
}

fn json_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Adds the DAG crate's AWS lint ([`lithoflow_dag::lint::aws_settings`]) to every valid
/// DAG file: warnings for AWS backends or storage whose effective settings lack keys they
/// need, with `home` as the layer under every DAG's settings.
pub(super) fn add_aws_warnings(bag: &mut DagBag, home: &lithoflow_executor::ExecutorConfig) {
    for file in &mut bag.files {
        let extra: Vec<_> = file
            .dags
            .iter()
            // A `.py` DAG's settings were written by the loader: the lint's locations
            // would point into that text, not the file.
            .filter(|dag| dag.python.is_none())
            .flat_map(|dag| lithoflow_dag::lint::aws_settings(dag, home))
            .collect();
        if extra.is_empty() {
            continue;
        }
        file.diagnostics.extend(extra);
        file.diagnostics
            .sort_by_key(|d| d.location.as_ref().map_or((0, 0), |l| (l.line, l.column)));
    }
}
