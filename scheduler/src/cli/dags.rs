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
use lithoflow_dag::{Dag, ExtraParams, Iterdata, MapReduceSpec, MapSpec, Schedule, Task, TaskKind};

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
            let count = b.error.lines().count();
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
                    "dag_id": f.dag.as_ref().map(|d| d.dag_id.clone()),
                    "valid": !f.has_errors(),
                    "diagnostics": f.diagnostics.iter().map(|d| json!({
                        "severity": d.severity,
                        "line": d.location.as_ref().map(|l| l.line),
                        "column": d.location.as_ref().map(|l| l.column),
                        "message": d.message,
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
    match &t.kind {
        TaskKind::CallAsync(c) => c.func.to_string(),
        TaskKind::Map(m) => m.map_function.to_string(),
        TaskKind::MapReduce(mr) => format!("{} -> {}", mr.map.map_function, mr.reduce_function),
        TaskKind::Python(p) | TaskKind::Branch(p) | TaskKind::ShortCircuit { python: p, .. } => {
            p.python_callable.to_string()
        }
        TaskKind::Bash(b) => b.bash_command.clone(),
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
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        OutputFormat::Table | OutputFormat::Plain => out.write_all(show_text(dag).as_bytes())?,
    }
    Ok(Outcome::Ok)
}

/// A readable summary of a DAG with every effective task parameter.
fn show_text(dag: &Dag) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("{k:<27}{v}\n"));
    line("dag_id", dag.dag_id.clone());
    line("fileloc", dag.fileloc.display().to_string());
    if let Some(d) = &dag.description {
        line("description", d.clone());
    }
    let schedule = match &dag.schedule {
        None => "none (manual triggers only)".to_owned(),
        Some(Schedule::Cron { expr, .. }) => format!(
            "{expr} ({})",
            json_str(&serde_json::to_value(dag.timetable).unwrap_or(Value::Null))
        ),
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
        for (k, v) in task_params(t) {
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

/// A task's effective parameters, in the order of the seed README's tables.
fn task_params(t: &Task) -> Vec<(&'static str, String)> {
    let mut p: Vec<(&'static str, String)> = Vec::new();
    match &t.kind {
        TaskKind::CallAsync(c) => {
            p.push(("func", c.func.to_string()));
            p.push(("data", c.data.to_string()));
            if !c.data_from_task.is_empty() {
                let m: Map<String, Value> = c
                    .data_from_task
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                p.push(("data_from_task", Value::Object(m).to_string()));
            }
        }
        TaskKind::Map(m) => map_params(&mut p, m, None),
        TaskKind::MapReduce(mr) => map_params(&mut p, &mr.map, Some(mr)),
        TaskKind::Python(py) | TaskKind::Branch(py) | TaskKind::ShortCircuit { python: py, .. } => {
            let refs = |list: Vec<(String, String)>| -> String {
                Value::Object(
                    list.into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect(),
                )
                .to_string()
            };
            p.push(("python_callable", py.python_callable.to_string()));
            p.push(("op_args", Value::Array(py.op_args.clone()).to_string()));
            p.push(("op_kwargs", Value::Object(py.op_kwargs.clone()).to_string()));
            p.push((
                "op_args_from_task",
                refs(
                    py.op_args_from_task
                        .iter()
                        .map(|(i, t)| (i.to_string(), t.clone()))
                        .collect(),
                ),
            ));
            p.push(("op_kwargs_from_task", refs(py.op_kwargs_from_task.clone())));
            if let TaskKind::ShortCircuit {
                ignore_downstream_trigger_rules,
                ..
            } = &t.kind
            {
                p.push((
                    "ignore_downstream_trigger_rules",
                    ignore_downstream_trigger_rules.to_string(),
                ));
            }
        }
        TaskKind::Bash(b) => {
            p.push(("bash_command", b.bash_command.clone()));
            p.push((
                "env",
                b.env.as_ref().map_or("- (inherited)".to_owned(), |e| {
                    Value::Object(e.clone()).to_string()
                }),
            ));
            p.push(("append_env", b.append_env.to_string()));
            p.push((
                "cwd",
                b.cwd
                    .clone()
                    .unwrap_or_else(|| "- (a temporary folder)".to_owned()),
            ));
            p.push(("skip_on_exit_code", format!("{:?}", b.skip_on_exit_code)));
            return p;
        }
        TaskKind::Empty => return p,
    }
    common_params(&mut p, t);
    p
}

fn map_params(p: &mut Vec<(&'static str, String)>, m: &MapSpec, mr: Option<&MapReduceSpec>) {
    let opt_u64 = |v: Option<u64>| v.map_or("-".to_owned(), |n| n.to_string());
    {
        {
            p.push(("map_function", m.map_function.to_string()));
            match &m.iterdata {
                Iterdata::Literal(items) => {
                    p.push(("map_iterdata", Value::Array(items.clone()).to_string()))
                }
                Iterdata::FromTask(t) => p.push(("iterdata_from_task", t.clone())),
                Iterdata::FromTaskKeyword { keyword, task } => {
                    p.push(("iterdata_from_task", format!("{{ {keyword} = {task:?} }}")))
                }
            }
            if let Some(mr) = mr {
                p.push(("reduce_function", mr.reduce_function.to_string()));
            }
            p.push((
                "extra_params",
                match &m.extra_params {
                    Some(ExtraParams::Keyword(k)) => Value::Object(k.clone()).to_string(),
                    Some(ExtraParams::Positional(a)) => Value::Array(a.clone()).to_string(),
                    None => "-".to_owned(),
                },
            ));
            p.push(("chunk_size", opt_u64(m.chunk_size)));
            p.push(("chunk_n", opt_u64(m.chunk_n)));
            p.push(("remote_invocation", m.remote_invocation.to_string()));
            p.push((
                "invoke_pool_threads",
                m.invoke_pool_threads
                    .map_or("- (from config, else 500)".to_owned(), |n| n.to_string()),
            ));
            if let Some(mr) = mr {
                p.push(("map_runtime_memory", opt_u64(mr.map_runtime_memory)));
                p.push(("reduce_runtime_memory", opt_u64(mr.reduce_runtime_memory)));
                p.push((
                    "reducer_one_per_object",
                    mr.reducer_one_per_object.to_string(),
                ));
                p.push(("reducer_wait_local", mr.reducer_wait_local.to_string()));
            }
        }
    }
}

fn common_params(p: &mut Vec<(&'static str, String)>, t: &Task) {
    let c = &t.common;
    p.push((
        "lithops_config",
        serde_json::to_value(&c.lithops_config)
            .unwrap_or(Value::Null)
            .to_string(),
    ));
    p.push(("async_invoke", c.async_invoke.to_string()));
    p.push(("get_result", c.get_result.to_string()));
    p.push(("clean_data", c.clean_data.to_string()));
    p.push(("extra_env", Value::Object(c.extra_env.clone()).to_string()));
    p.push((
        "runtime_memory",
        c.runtime_memory
            .map_or("- (from config)".to_owned(), |n| n.to_string()),
    ));
    p.push((
        "timeout",
        c.timeout
            .map_or("- (from config)".to_owned(), duration::format),
    ));
    p.push(("include_modules", format!("{:?}", c.include_modules)));
    p.push(("exclude_modules", format!("{:?}", c.exclude_modules)));
    p.push(("trigger_rule", t.trigger_rule.name().to_owned()));
    p.push(("retries", t.retries.to_string()));
    p.push(("retry_delay", duration::format(t.retry_delay)));
    p.push((
        "retry_exponential_backoff",
        t.retry_exponential_backoff.to_string(),
    ));
    p.push((
        "max_retry_delay",
        t.max_retry_delay.map_or("-".to_owned(), duration::format),
    ));
    p.push((
        "execution_timeout",
        t.execution_timeout.map_or("-".to_owned(), duration::format),
    ));
    p.push(("depends_on_past", t.depends_on_past.to_string()));
    p.push(("owner", t.owner.clone()));
}

/// Adds a warning to every DAG file that asks for an AWS backend or storage (with
/// `backend`/`storage` in its `[lithops_config]`, `[default_args]` or a task's
/// `lithops_config`) whose effective settings (home config < DAG < task, as when tasks
/// run) lack the keys it needs, pointing at the key that asked for it.
pub(super) fn add_aws_warnings(bag: &mut DagBag, home: &lithoflow_executor::ExecutorConfig) {
    for file in &mut bag.files {
        let Some(dag) = &file.dag else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&file.path) else {
            continue;
        };
        let mut extra = aws_warnings(&file.path, &text, dag, home);
        if extra.is_empty() {
            continue;
        }
        file.diagnostics.append(&mut extra);
        file.diagnostics
            .sort_by_key(|d| d.location.as_ref().map_or((0, 0), |l| (l.line, l.column)));
    }
}

/// The AWS warnings of one DAG file.
fn aws_warnings(
    path: &Path,
    text: &str,
    dag: &Dag,
    home: &lithoflow_executor::ExecutorConfig,
) -> Vec<lithoflow_dag::diag::Diagnostic> {
    use lithoflow_executor::{Backend, StorageBackend};
    use toml::de::{DeTable, DeValue};

    type Span = std::ops::Range<usize>;
    /// The span of `key` in a Lithops settings table, written flat or in `[.. .lithops]`.
    fn key_in(table: &DeTable<'_>, key: &str) -> Option<Span> {
        for (k, v) in table.iter() {
            let name: &str = k.get_ref().as_ref();
            if name == key {
                return Some(k.span());
            }
            if name == "lithops"
                && let DeValue::Table(t) = v.get_ref()
                && let Some(span) = key_in(t, key)
            {
                return Some(span);
            }
        }
        None
    }
    /// The Lithops settings table of a DAG, `[default_args]` or task table.
    fn settings_of<'a>(table: &'a DeTable<'a>) -> Option<&'a DeTable<'a>> {
        table.iter().find_map(|(k, v)| {
            let name: &str = k.get_ref().as_ref();
            match (name, v.get_ref()) {
                ("lithops_config" | "config", DeValue::Table(t)) => Some(t),
                _ => None,
            }
        })
    }
    fn table<'a>(v: Option<&'a toml::Spanned<DeValue<'a>>>) -> Option<&'a DeTable<'a>> {
        match v.map(toml::Spanned::get_ref) {
            Some(DeValue::Table(t)) => Some(t),
            _ => None,
        }
    }

    let (doc, _) = DeTable::parse_recoverable(text);
    let top = doc.get_ref();
    let dag_settings = table(top.get("lithops_config"));
    let default_settings = table(top.get("default_args")).and_then(settings_of);
    let tasks = table(top.get("tasks"));
    let src = lithoflow_dag::diag::Source::new(path, text);
    let mut out: Vec<lithoflow_dag::diag::Diagnostic> = Vec::new();
    let mut warn = |span: Span, message: String| {
        let d = src.diagnostic(Severity::Warning, span, message);
        if !out.contains(&d) {
            out.push(d);
        }
    };
    const HOME: &str = "$LITHOFLOW_HOME/lithoflow.toml";
    for task in &dag.tasks {
        let cfg = crate::taskrun::executor_config(home, dag, task);
        let task_settings = tasks
            .and_then(|t| table(t.get(task.task_id.as_str())))
            .and_then(settings_of);
        // The nearest place in this file that sets `key` for this task.
        let anchor = |key: &str| {
            [task_settings, default_settings, dag_settings]
                .into_iter()
                .flatten()
                .find_map(|t| key_in(t, key))
        };
        let lambda = cfg.effective_backend() == Backend::AwsLambda;
        let s3 = cfg.effective_storage() == StorageBackend::AwsS3;
        if lambda && let Some(span) = anchor("backend") {
            if !s3 {
                warn(
                    span.clone(),
                    format!(
                        "`backend = \"aws_lambda\"` needs S3 storage for the function modules and for results too large for a Lambda response: add `storage = \"aws_s3\"` to [lithops_config] in this file, or under [lithops] in {HOME}"
                    ),
                );
            }
            if cfg.storage_bucket.is_none() {
                warn(
                    span.clone(),
                    format!(
                        "`backend = \"aws_lambda\"` needs a bucket for its storage: add `storage_bucket = \"<bucket>\"` under [aws_s3] in {HOME} (or under [lithops_config.aws_s3] in this file)"
                    ),
                );
            }
            if cfg.execution_role.is_none() {
                warn(
                    span,
                    format!(
                        "`backend = \"aws_lambda\"` runs tasks on the lithoflow runtime function, which must be deployed first with `lithoflow runtime deploy`, and deploying needs an IAM role: add `execution_role = \"arn:aws:iam::<account>:role/<role>\"` under [aws_lambda] in {HOME} (lithoflow then also deploys missing runtimes on first use)"
                    ),
                );
            }
        }
        if s3
            && !lambda
            && cfg.storage_bucket.is_none()
            && let Some(span) = anchor("storage")
        {
            warn(
                span,
                format!(
                    "`storage = \"aws_s3\"` needs a bucket: add `storage_bucket = \"<bucket>\"` under [aws_s3] in {HOME} (or under [lithops_config.aws_s3] in this file)"
                ),
            );
        }
    }
    out
}
