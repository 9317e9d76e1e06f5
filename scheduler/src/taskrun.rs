//! A task's try, prepared and run: its templates rendered ([`render_task`], with
//! `template_context`), its job key, the task turned into an executor job and the job's
//! outcome into the task's XCom value (docs/dag-format.md, "What a task returns"), and
//! [`ExecutorTasks`], the engine's real [`TaskExecutor`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use lithoflow_executor::{
    CallError, CallOptions, Chunking, ExecutorConfig, Extra, FunctionExecutor, FunctionRef, Job,
    JobKind, JobOutcome, JobSpec, MapJob, OutputSink, StorageBackend,
};
use serde_json::{Map, Value, json};

use chrono::{DateTime, Offset, TimeZone, Utc};
use lithoflow_dag::template::{Context, PrevRun, Renderer, XcomSource};

use crate::engine::{
    CallbackInput, CallbackOutput, JobStarted, TaskExecutor, TryInput, TryLog, TryOutput,
};
use crate::store::{DagRunRecord, RunState, Store};

use lithoflow_dag::{
    Dag, ExtraParams, FuncRef, Iterdata, MapSpec, PythonSpec, SensorKind, SensorSpec, Task,
    TaskKind,
};

/// Why a task could not run or failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum TaskError {
    /// Its inputs are missing or have the wrong shape.
    #[error("{0}")]
    Input(String),
    /// A call failed.
    #[error("{0}")]
    Call(CallError),
    /// The task skipped itself (a bash exit code in `skip_on_exit_code`).
    #[error("{0}")]
    Skip(String),
    /// The try ran longer than its `execution_timeout` (Airflow's AirflowTaskTimeout).
    #[error("{0}")]
    Timeout(String),
    /// A sensor's timeout (Airflow's AirflowSensorTimeout): failed, not retried.
    #[error("{0}")]
    SensorTimeout(String),
    /// Failed, not retried (Airflow's AirflowFailException).
    #[error("{0}")]
    Fail(String),
}

impl TaskError {
    /// Whether the failure is final whatever retries are left (AirflowSensorTimeout,
    /// AirflowFailException).
    pub(crate) fn no_retry(&self) -> bool {
        match self {
            TaskError::SensorTimeout(_) | TaskError::Fail(_) => true,
            TaskError::Call(c) => {
                matches!(
                    c.exc_type.as_str(),
                    "AirflowFailException" | "AirflowSensorTimeout"
                )
            }
            _ => false,
        }
    }
}

/// Runs a bash or empty task on this machine: its value (or why it failed or skipped)
/// and its output for the log. Empty tasks succeed at once, with no value.
pub(crate) async fn run_local(
    dag: &Dag,
    task: &Task,
) -> (Result<Value, TaskError>, Option<String>) {
    run_local_logged(dag, task, None).await
}

/// [`run_local`], a bash command's output also appended to `log` as it is printed.
async fn run_local_logged(
    dag: &Dag,
    task: &Task,
    log: Option<&TryLog>,
) -> (Result<Value, TaskError>, Option<String>) {
    match &task.kind {
        TaskKind::Empty => (Ok(Value::Null), None),
        TaskKind::Bash(b) => {
            let on_output = log
                .cloned()
                .map(|log| move |stream: &str, text: &str| log.bash_output(stream, text));
            let on_output = on_output.as_ref().map(|f| f as &crate::bash::OnOutput<'_>);
            let dir = dag_folder(&dag.fileloc);
            let o = crate::bash::run(b, &dir, task.execution_timeout, on_output).await;
            let value = o.result.map_err(|e| match e {
                crate::bash::BashEnd::Skipped(m) => TaskError::Skip(m),
                crate::bash::BashEnd::Failed(m) => TaskError::Input(m),
            });
            (value, Some(o.output))
        }
        _ => (
            Err(TaskError::Input(format!(
                "task `{}` ({}) runs on the executor",
                task.task_id,
                task.type_name()
            ))),
            None,
        ),
    }
}

/// Python's truthiness of a JSON value: null, false, 0, "", [] and {} are false.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// The task ids a branch task's return value names: a string, a list of strings, or
/// null (follow nothing). Every id must be a task of the DAG, as Airflow checks.
pub(crate) fn branch_targets(
    dag: &Dag,
    task: &Task,
    value: &Value,
) -> Result<Vec<String>, TaskError> {
    let ids: Vec<String> = match value {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        other => {
            let shown: String = other.to_string().chars().take(80).collect();
            return Err(TaskError::Input(format!(
                "branch task `{}` must return a task id, a list of task ids or None, but returned {shown}",
                task.task_id
            )));
        }
    };
    let invalid: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| dag.task(id).is_none())
        .collect();
    if !invalid.is_empty() {
        return Err(TaskError::Input(format!(
            "'branch_task_ids' must contain only valid task_ids. Invalid tasks found: {invalid:?}"
        )));
    }
    Ok(ids)
}

/// A return value whose JSON is larger than this many bytes (1 MiB) is offloaded when
/// the task's storage is `aws_s3`: the JSON goes to
/// `lithoflow.jobs/<job_key>/xcom/return_value.json` in the bucket, and the XCom holds a
/// reference to it ([`XCOM_REFERENCE_KEY`]). Small values stay in the state database,
/// where reading them costs nothing.
pub(crate) const XCOM_OFFLOAD_THRESHOLD: usize = 1024 * 1024;

/// The key of an offloaded XCom's reference: `{"__lithoflow_xcom__": "s3://bucket/key",
/// "size": N}` (N the JSON's size in bytes).
pub(crate) const XCOM_REFERENCE_KEY: &str = "__lithoflow_xcom__";

/// Where an offloaded return value lives inside its job's data.
const XCOM_OBJECT: &str = "xcom/return_value.json";

/// The location an offloaded XCom value points to, when `value` is such a reference.
pub(crate) fn xcom_reference(value: &Value) -> Option<&str> {
    let m = value.as_object()?;
    if m.len() != 2 || !m.get("size").is_some_and(Value::is_u64) {
        return None;
    }
    m.get(XCOM_REFERENCE_KEY)?.as_str()
}

/// Replaces the offloaded values among `xcom` that this task reads (through
/// `data_from_task`, `iterdata_from_task`, `op_args_from_task` or `op_kwargs_from_task`) by the values themselves, read from their
/// storage with the task's settings.
pub(crate) async fn resolve_xcom(
    executor: &FunctionExecutor,
    task: &Task,
    cfg: &ExecutorConfig,
    xcom: &mut HashMap<String, Value>,
) -> Result<(), TaskError> {
    for from in task.value_sources() {
        let Some(location) = xcom.get(from).and_then(xcom_reference).map(str::to_owned) else {
            continue;
        };
        let bytes = executor
            .read_location(cfg, &location)
            .await
            .map_err(|e| {
                TaskError::Input(format!(
                    "task `{}` needs the return value of `{from}`, stored at {location}, which cannot be read: {e}",
                    task.task_id
                ))
            })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            TaskError::Input(format!(
                "the return value of `{from}` stored at {location} is not JSON: {e}"
            ))
        })?;
        xcom.insert(from.to_owned(), value);
    }
    Ok(())
}

/// [`resolve_xcom`], then [`job_spec`]: the job for a task whose upstream values may be
/// offloaded.
pub(crate) async fn prepare(
    executor: &FunctionExecutor,
    dag: &Dag,
    task: &Task,
    cfg: &ExecutorConfig,
    mut xcom: HashMap<String, Value>,
    job_key: String,
    context: Option<Map<String, Value>>,
) -> Result<JobSpec, TaskError> {
    if let Some(e) = unsupported(task) {
        return Err(e);
    }
    resolve_xcom(executor, task, cfg, &mut xcom).await?;
    job_spec(dag, task, cfg, &xcom, job_key, context)
}

/// A task of a `.py` DAG made from a provider operator lithoflow does not implement:
/// it fails at once and is not retried (retrying cannot help), naming the operator.
pub(crate) fn unsupported(task: &Task) -> Option<TaskError> {
    let op = task.operator.as_ref().filter(|o| o.unsupported)?;
    Some(TaskError::Fail(format!(
        "{} (from {}) is a provider operator lithoflow does not implement; this DAG needs it: keep the DAG on Airflow or replace the task",
        op.operator, op.operator_module
    )))
}

fn func(f: &FuncRef) -> FunctionRef {
    FunctionRef {
        module: f.module.clone(),
        function: f.function.clone(),
    }
}

fn upstream<'x>(
    xcom: &'x HashMap<String, Value>,
    task: &Task,
    from: &str,
    key: &str,
) -> Result<&'x Value, TaskError> {
    xcom.get(from).ok_or_else(|| {
        TaskError::Input(format!(
            "task `{}` needs the return value of `{from}` (through `{key}`), and there is none",
            task.task_id
        ))
    })
}

/// Builds the job for a task from its parameters and its upstream tasks' return values.
/// `context` is the Airflow context a `python_callable` may ask for (python, branch and
/// short_circuit tasks). Bash and empty tasks have no job.
pub(crate) fn job_spec(
    dag: &Dag,
    task: &Task,
    cfg: &ExecutorConfig,
    xcom: &HashMap<String, Value>,
    job_key: String,
    context: Option<Map<String, Value>>,
) -> Result<JobSpec, TaskError> {
    let kind = match &task.kind {
        TaskKind::CallAsync(c) => {
            let mut data = c.data.clone();
            for (kw, from) in &c.data_from_task {
                let value = upstream(xcom, task, from, "data_from_task")?.clone();
                if let Value::Object(m) = &mut data {
                    m.insert(kw.clone(), value);
                }
            }
            JobKind::CallAsync {
                func: func(&c.func),
                data,
            }
        }
        TaskKind::Map(m) => JobKind::Map(map_job(task, m, xcom)?),
        TaskKind::MapReduce(mr) => JobKind::MapReduce {
            map: map_job(task, &mr.map, xcom)?,
            reduce: func(&mr.reduce_function),
            map_memory: mr.map_runtime_memory,
            reduce_memory: mr.reduce_runtime_memory,
            one_per_object: mr.reducer_one_per_object,
        },
        TaskKind::Python(p)
        | TaskKind::Branch(p)
        | TaskKind::ShortCircuit { python: p, .. }
        | TaskKind::Sensor(SensorSpec {
            sensor: SensorKind::Python(p),
            ..
        }) => python_call(task, p, xcom, context)?,
        TaskKind::Bash(_) | TaskKind::Sensor(_) | TaskKind::TriggerDagRun(_) | TaskKind::Empty => {
            return Err(TaskError::Input(format!(
                "task `{}` ({}) does not run on the executor",
                task.task_id,
                task.type_name()
            )));
        }
    };
    let options = call_options(dag, task, cfg);
    Ok(JobSpec {
        job_key,
        kind,
        options,
    })
}

/// The folders a DAG's Python functions import from: its file's folder; for a `.py`
/// DAG the Airflow compatibility package first (so `import airflow` means lithoflow's,
/// in the worker as in the loader) and the DAGs folder after.
pub(crate) fn dag_sys_path(dag: &Dag) -> Vec<PathBuf> {
    let dag_dir = dag_folder(&dag.fileloc);
    let Some(py) = &dag.python else {
        return vec![dag_dir];
    };
    let mut out: Vec<PathBuf> = py.sys_path.iter().take(1).cloned().collect();
    out.push(dag_dir);
    for p in py.sys_path.iter().skip(1) {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// How a task's calls run: its folder and `include_modules` on `sys.path`, its
/// environment, memory, timeout and executor settings.
fn call_options(dag: &Dag, task: &Task, cfg: &ExecutorConfig) -> CallOptions {
    let dag_dir = dag_folder(&dag.fileloc);
    let invoke_pool_threads = match &task.kind {
        TaskKind::Map(m) => m.invoke_pool_threads,
        TaskKind::MapReduce(mr) => mr.map.invoke_pool_threads,
        _ => None,
    }
    .or(cfg.invoke_pool_threads)
    .and_then(|n| usize::try_from(n).ok());
    let mut sys_path = dag_sys_path(dag);
    for m in &task.common.include_modules {
        // A path (`lib/`, `helpers.py`) makes its folder importable; a module name must
        // already be importable from the DAG's folder or the interpreter's packages.
        if m.contains('/') || m.ends_with(".py") {
            let p = dag_dir.join(m);
            let folder = if m.ends_with(".py") {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            } else {
                p
            };
            if !sys_path.contains(&folder) {
                sys_path.push(folder);
            }
        }
    }
    CallOptions {
        sys_path,
        base_dir: dag_dir,
        extra_env: task.common.extra_env.clone(),
        runtime_memory: task.common.runtime_memory.or(cfg.runtime_memory),
        timeout: task
            .common
            .timeout
            .or(cfg.execution_timeout.map(std::time::Duration::from_secs)),
        invoke_pool_threads,
        exclude_modules: task.common.exclude_modules.clone(),
        config: cfg.clone(),
        // Names (not paths) in include_modules: the Lambda backend ships them too.
        include_modules: task
            .common
            .include_modules
            .iter()
            .filter(|m| !m.contains('/') && !m.ends_with(".py"))
            .cloned()
            .collect(),
        async_invoke: task.common.async_invoke,
        remote_invocation: match &task.kind {
            TaskKind::Map(m) => m.remote_invocation,
            TaskKind::MapReduce(mr) => mr.map.remote_invocation,
            _ => false,
        } || cfg.remote_invoker == Some(true),
        reducer_wait_local: match &task.kind {
            TaskKind::MapReduce(mr) => mr.reducer_wait_local,
            _ => true,
        },
        output: None,
        services: None,
        // Every command that runs jobs waits for their data before it exits
        // (`FunctionExecutor::settle`), and the API's `.../calls` before it reads it.
        job_data_later: true,
        // A one-call job's record is kept beside its try in the state database (see
        // `Store::put_try_calls`; with `clean_data`, nowhere: there is nothing to clean),
        // unless the task returns the job's reference (`get_result = false`): its
        // `status_location` names the job's files.
        one_call_record_kept: task.common.get_result,
    }
}

pub(crate) fn dag_folder(fileloc: &Path) -> PathBuf {
    let dir = fileloc
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

fn map_job(task: &Task, m: &MapSpec, xcom: &HashMap<String, Value>) -> Result<MapJob, TaskError> {
    let iterdata = match &m.iterdata {
        Iterdata::Literal(items) => items.clone(),
        Iterdata::FromTask(from) => match upstream(xcom, task, from, "iterdata_from_task")? {
            Value::Array(items) => items.clone(),
            other => return Err(not_a_list(task, from, other)),
        },
        Iterdata::FromTaskKeyword {
            keyword,
            task: from,
        } => match upstream(xcom, task, from, "iterdata_from_task")? {
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    let mut m = Map::new();
                    m.insert(keyword.clone(), v.clone());
                    Value::Object(m)
                })
                .collect(),
            other => return Err(not_a_list(task, from, other)),
        },
    };
    let extra = match &m.extra_params {
        Some(ExtraParams::Keyword(k)) => Some(Extra::Keyword(k.clone())),
        Some(ExtraParams::Positional(p)) => Some(Extra::Positional(p.clone())),
        None => None,
    };
    let chunking = match (m.chunk_size, m.chunk_n) {
        (Some(size), _) => Chunking::Size(size),
        (None, Some(n)) => Chunking::Count(n),
        (None, None) => Chunking::Whole,
    };
    Ok(MapJob {
        func: func(&m.map_function),
        iterdata,
        extra,
        chunking,
    })
}

/// The one call of a python, branch or short_circuit task: `op_args` with the upstream
/// values at their positions, `op_kwargs` with theirs, and the Airflow context.
fn python_call(
    task: &Task,
    p: &PythonSpec,
    xcom: &HashMap<String, Value>,
    context: Option<Map<String, Value>>,
) -> Result<JobKind, TaskError> {
    let total = p.op_args.len() + p.op_args_from_task.len();
    let mut literal = p.op_args.iter();
    let mut args = Vec::with_capacity(total);
    for pos in 0..total {
        match p.op_args_from_task.iter().find(|(at, _)| *at == pos) {
            Some((_, from)) => args.push(upstream(xcom, task, from, "op_args_from_task")?.clone()),
            None => args.extend(literal.next().cloned()),
        }
    }
    let mut kwargs = p.op_kwargs.clone();
    for (kw, from) in &p.op_kwargs_from_task {
        kwargs.insert(
            kw.clone(),
            upstream(xcom, task, from, "op_kwargs_from_task")?.clone(),
        );
    }
    // As in Airflow, `templates_dict` reaches the callable through the context: a
    // function that names it (or takes **kwargs) gets it.
    let mut context = context.unwrap_or_default();
    if let Some(td) = &p.templates_dict {
        context.insert("templates_dict".to_owned(), Value::Object(td.clone()));
    }
    Ok(JobKind::Call {
        func: func(&p.python_callable),
        args,
        kwargs,
        context: Some(context),
        context_positional: false,
    })
}

fn not_a_list(task: &Task, from: &str, value: &Value) -> TaskError {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let shown: String = value.to_string().chars().take(80).collect();
    TaskError::Input(format!(
        "task `{}` iterates over the return value of `{from}` (iterdata_from_task), which must be a list, but it is {kind}: {shown}",
        task.task_id
    ))
}

/// A task that has finished running through the executor.
#[derive(Debug, Clone)]
pub(crate) struct TaskOutcome {
    /// The XCom `return_value` (the job reference with `async_invoke` or `get_result = false`).
    pub return_value: Result<Value, TaskError>,
    /// The job's record, when it ran to the end.
    pub job: Option<Arc<JobOutcome>>,
}

/// Starts a task's job.
pub(crate) fn start(executor: &FunctionExecutor, spec: JobSpec) -> Job {
    executor.submit(spec)
}

/// Waits for a task's job and derives its XCom value. With `async_invoke` the value is
/// the job reference as soon as every call is accepted, and the job keeps running;
/// `on_accepted` is told the value then.
pub(crate) async fn finish(executor: &FunctionExecutor, task: &Task, job: &Job) -> TaskOutcome {
    if task.common.async_invoke {
        job.accepted().await;
        return TaskOutcome {
            return_value: Ok(job.reference()),
            job: None,
        };
    }
    let outcome = job.wait().await;
    let return_value = match &outcome.result {
        Ok(v) if task.common.get_result => Ok(v.clone()),
        Ok(_) => Ok(job.reference()),
        Err(e) => Err(TaskError::Call(e.clone())),
    };
    // The clean and the offload are boxed: S3 requests are large futures, and inline
    // they made every try's future (a fan-out holds thousands while they wait for a
    // worker) 12 KB.
    if task.common.clean_data
        && let Err(e) = Box::pin(executor.clean(job)).await
    {
        tracing::warn!(job = %job.job_id, error = %e, "failed to clean the job's data");
    }
    // After the clean: an offloaded value is the task's XCom, not job data, so
    // `clean_data` never takes it away from the downstream tasks.
    let return_value = match return_value {
        Ok(v) => Ok(Box::pin(offload(executor, job, v)).await),
        Err(e) => Err(e),
    };
    TaskOutcome {
        return_value,
        job: Some(outcome),
    }
}

/// Stores a large return value in the job's S3 storage and returns the reference that
/// replaces it in XCom; any other value comes back as it is. A value that cannot be
/// stored stays inline (the state database holds it too, only less comfortably).
async fn offload(executor: &FunctionExecutor, job: &Job, value: Value) -> Value {
    if job.options().config.effective_storage() != StorageBackend::AwsS3 {
        return value;
    }
    let body = match serde_json::to_vec(&value) {
        Ok(b) if b.len() > XCOM_OFFLOAD_THRESHOLD => b,
        _ => return value,
    };
    let size = body.len();
    match executor.put_job_data(job, XCOM_OBJECT, body).await {
        Ok(location) => {
            tracing::debug!(job = %job.job_id, %location, size, "offloaded a large return value");
            json!({ XCOM_REFERENCE_KEY: location, "size": size })
        }
        Err(e) => {
            tracing::warn!(job = %job.job_id, error = %e, size, "failed to offload a large return value to S3; keeping it in the state database");
            value
        }
    }
}

/// Writes each call's stdout and stderr, separated per call (`--- map call 3 stdout ---`).
pub(crate) fn write_call_output(
    w: &mut dyn std::io::Write,
    outcome: &JobOutcome,
) -> std::io::Result<()> {
    for c in outcome.calls.with_output() {
        for (stream, text) in [("stdout", c.stdout), ("stderr", c.stderr)] {
            if !text.is_empty() {
                writeln!(w, "--- {} call {} {stream} ---", c.phase, c.index)?;
                w.write_all(text.as_bytes())?;
                if !text.ends_with('\n') {
                    writeln!(w)?;
                }
            }
        }
    }
    Ok(())
}

/// The real [`TaskExecutor`]: python and Lithops tasks run on the lithoflow executor
/// (local workers or Lambda), bash and empty tasks on this machine.
pub(crate) struct ExecutorTasks {
    executor: Arc<FunctionExecutor>,
    home_config: ExecutorConfig,
}

impl ExecutorTasks {
    /// Tries run on `executor`; `home_config` is the first layer of every task's settings.
    pub(crate) fn new(
        executor: Arc<FunctionExecutor>,
        home_config: ExecutorConfig,
    ) -> ExecutorTasks {
        ExecutorTasks {
            executor,
            home_config,
        }
    }
}

impl TaskExecutor for ExecutorTasks {
    fn run_try(&self, input: TryInput) -> BoxFuture<'static, TryOutput> {
        let executor = Arc::clone(&self.executor);
        let cfg = input.dag.executor_config(&self.home_config, &input.task);
        Box::pin(async move {
            let TryInput {
                dag,
                task,
                map_index,
                try_number,
                job_key,
                xcom,
                context,
                cancel,
                started,
                log,
                services,
            } = input;
            if runs_here(&task) {
                // Boxed, as the other rare paths: inline, each would make every try's
                // future as large as the largest of them (~20 KB, kept while it waits).
                let (value, output) = Box::pin(run_local_logged(&dag, &task, Some(&log))).await;
                return TryOutput {
                    value,
                    job: None,
                    output,
                };
            }
            // Upstream values offloaded to S3 are read back here.
            let mut spec = match Box::pin(prepare(
                &executor, &dag, &task, &cfg, xcom, job_key, context,
            ))
            .await
            {
                Ok(spec) => spec,
                Err(e) => return TryOutput::failed(e),
            };
            // The calls' output goes to the try's log as it arrives.
            spec.options.output = Some(OutputSink::new(move |out| log.call_output(out)));
            spec.options.services = services;
            let job = start(&executor, spec);
            let _ = started.send(JobStarted {
                task_id: task.task_id.clone(),
                map_index,
                try_number,
                progress: job.progress(),
            });
            // Dropped before the job ends (execution_timeout, a drain or dagrun_timeout):
            // the job stops too.
            let guard = CancelOnDrop(Some(job.clone()));
            let mut finished = Box::pin(finish(&executor, &task, &job));
            let outcome = tokio::select! {
                o = &mut finished => o,
                () = cancel.cancelled() => {
                    job.cancel();
                    finished.await
                }
            };
            guard.disarm();
            TryOutput {
                value: outcome.return_value,
                job: outcome.job,
                output: None,
            }
        })
    }

    fn enforces_execution_timeout(&self, task: &Task) -> bool {
        runs_here(task)
    }

    fn executor_config(&self, dag: &Dag, task: &Task) -> ExecutorConfig {
        dag.executor_config(&self.home_config, task)
    }

    fn run_callback(&self, input: CallbackInput) -> BoxFuture<'static, CallbackOutput> {
        let executor = Arc::clone(&self.executor);
        // A DAG's callback runs with the DAG's settings (a task's defaults).
        let task = input.task.unwrap_or_default();
        let cfg = input.dag.executor_config(&self.home_config, &task);
        let spec = JobSpec {
            job_key: input.job_key,
            kind: JobKind::Call {
                func: func(&input.func),
                args: Vec::new(),
                kwargs: Map::new(),
                context: Some(input.context),
                context_positional: true,
            },
            options: CallOptions {
                services: input.services,
                ..call_options(&input.dag, &task, &cfg)
            },
        };
        Box::pin(async move {
            let job = start(&executor, spec);
            // Dropped before the call ends (the scheduler stopping): the call stops too.
            let guard = CancelOnDrop(Some(job.clone()));
            let outcome = job.wait().await;
            guard.disarm();
            let mut output = Vec::new();
            // Into a Vec: cannot fail.
            let _ = write_call_output(&mut output, &outcome);
            if let Err(e) = executor.clean(&job).await {
                tracing::debug!(job = %job.job_id, error = %e, "failed to clean a callback's job data");
            }
            CallbackOutput {
                result: outcome.result.as_ref().map(|_| ()).map_err(|e| {
                    let mut text = format!("{}: {}", e.exc_type, e.message);
                    if !e.traceback.is_empty() {
                        text.push('\n');
                        text.push_str(e.traceback.trim_end());
                    }
                    text
                }),
                output: String::from_utf8_lossy(&output).into_owned(),
            }
        })
    }

    fn py_caller(&self, dag: &Dag) -> Option<Arc<dyn lithoflow_dag::template::PyCaller>> {
        if !dag.templates.calls_python() {
            return None;
        }
        let c = ExecutorPyCaller::new(Arc::clone(&self.executor), dag, &self.home_config)?;
        Some(Arc::new(c))
    }
}

/// Bash and empty tasks run on this machine, not on the executor.
fn runs_here(task: &Task) -> bool {
    matches!(task.kind, TaskKind::Bash(_) | TaskKind::Empty)
}

/// Cancels a job when dropped, unless disarmed first.
struct CancelOnDrop(Option<Job>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(job) = &self.0 {
            job.cancel();
        }
    }
}

/// What the context of a try needs from beyond the DAG and the run: the clock, the
/// previous successful run, where `ti.xcom_pull` reads.
pub(crate) struct ContextInputs {
    /// The time of rendering.
    pub now: DateTime<Utc>,
    /// The DAG's previous successful run.
    pub prev_success: Option<PrevRun>,
    /// This run's XCom values.
    pub xcom: Option<Arc<dyn XcomSource>>,
    /// The asset events that triggered the run, by URI (`crate::assets::context_events`).
    pub asset_events: serde_json::Map<String, Value>,
}

impl ContextInputs {
    /// Nothing from the store (no previous run, nothing to pull), the run's `run_after`
    /// as the clock: for a context only sent to Python as JSON (callbacks).
    pub(crate) fn detached(run: &DagRunRecord) -> ContextInputs {
        ContextInputs {
            now: run.run_after,
            prev_success: None,
            xcom: None,
            asset_events: serde_json::Map::new(),
        }
    }
}

/// The template context of a task's try (Airflow's names, docs/airflow-runtime.md "The
/// context").
pub(crate) fn template_context(
    dag: &Dag,
    run: &DagRunRecord,
    task_id: &str,
    try_number: u32,
    inputs: ContextInputs,
) -> Context {
    let logical = run.logical_date.unwrap_or(run.run_after);
    // Airflow's `process_params` (models/param.py): the DAG's params, the task's over
    // them, then the run's conf.
    let mut params = dag.params.clone();
    if let Some(own) = dag.task(task_id).and_then(|t| t.params.as_ref()) {
        params.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for (k, v) in &run.conf {
        params.insert(k.clone(), v.clone());
    }
    let interval_end = run.data_interval_end.unwrap_or(logical);
    let (prev, next) = lithoflow_dag::timetable::airflow2_neighbours(
        dag,
        run.run_type == "manual",
        logical,
        interval_end,
    );
    let mut c = Context::new(&dag.dag_id, task_id, &run.run_id, logical);
    if let Some(task) = dag.task(task_id) {
        c.task_type = lithoflow_dag::template::operator_class(task).to_owned();
        c.max_tries = task.retries.saturating_add(1);
        c.set_assets(task);
    }
    c.run_type = run.run_type.clone();
    c.data_interval_start = run.data_interval_start.unwrap_or(logical);
    c.data_interval_end = interval_end;
    c.run_after = run.run_after;
    c.run_start_date = run.start_date;
    c.params = params;
    c.conf = run.conf.clone();
    c.try_number = try_number;
    c.prev_success = inputs.prev_success;
    c.prev_execution_date = prev;
    c.next_execution_date = next;
    c.xcom = inputs.xcom;
    c.triggering_asset_events = inputs.asset_events;
    set_clock(&mut c, inputs.now);
    c
}

/// The clock and randomness a render reads (`macros.datetime.now()`, `uuid4()`).
pub(crate) fn set_clock(c: &mut Context, now: DateTime<Utc>) {
    c.now = now;
    c.local_offset = chrono::Local
        .offset_from_utc_datetime(&now.naive_utc())
        .fix();
    c.seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(now.timestamp_micros());
        h.finish()
    };
}

/// The DAG's previous successful run: of its runs that succeeded, the one with the latest
/// logical date before `logical` (Airflow's `get_previous_successful_dagrun`). Runs are
/// read newest `run_after` first, and a run's logical date is never after its
/// `run_after`, so the scan stops at the first run older than the best found.
pub(crate) fn prev_success(
    store: &Store,
    dag_id: &str,
    logical: DateTime<Utc>,
) -> anyhow::Result<Option<PrevRun>> {
    let mut best: Option<PrevRun> = None;
    for r in store.runs_newest_first(dag_id) {
        let r = r?;
        if best.is_some_and(|b| r.run_after < b.logical_date) {
            break;
        }
        let ld = r.logical_date.unwrap_or(r.run_after);
        if r.state != RunState::Success || ld >= logical {
            continue;
        }
        if best.is_none_or(|b| ld > b.logical_date) {
            best = Some(PrevRun {
                logical_date: ld,
                data_interval_start: r.data_interval_start.unwrap_or(ld),
                data_interval_end: r.data_interval_end.unwrap_or(ld),
                start_date: r.start_date,
                end_date: r.end_date,
            });
        }
    }
    Ok(best)
}

/// `ti.xcom_pull` in a template: this run's values, read from the store.
pub(crate) struct StoreXcom {
    /// The state store.
    pub store: Arc<Store>,
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
}

impl std::fmt::Debug for StoreXcom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreXcom({}, {})", self.dag_id, self.run_id)
    }
}

impl XcomSource for StoreXcom {
    fn xcom(&self, task_id: &str, key: &str) -> Option<Value> {
        // A mapped task (expanded, so no unmapped instance): the list of its instances'
        // values in map index order, as Airflow's `LazyXComSelectSequence`.
        let mapped = || -> Result<Option<Value>, crate::store::StoreError> {
            if self
                .store
                .ti(&self.dag_id, &self.run_id, task_id)?
                .is_some()
                || self
                    .store
                    .ti_at(&self.dag_id, &self.run_id, task_id, 0)?
                    .is_none()
            {
                return self.store.xcom(&self.dag_id, &self.run_id, task_id, key);
            }
            let all = self
                .store
                .xcom_all(&self.dag_id, &self.run_id, task_id, key)?;
            Ok(Some(Value::Array(
                all.into_iter()
                    .filter(|(i, _)| *i >= 0)
                    .map(|(_, v)| v)
                    .collect(),
            )))
        };
        match mapped() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(dag = %self.dag_id, run = %self.run_id, task = task_id, error = %e, "failed to read an XCom value for a template");
                None
            }
        }
    }
}

/// Runs a DAG's template callables (`user_defined_macros` and `user_defined_filters`
/// naming Python functions) as one-call jobs on the executor's local workers, with the
/// DAG's folder on `sys.path`, and waits for each: templates render before the task is
/// dispatched, in a blocking thread ([`render_task`]'s caller uses `spawn_blocking`).
pub(crate) struct ExecutorPyCaller {
    executor: Arc<FunctionExecutor>,
    dag_id: String,
    dag_dir: PathBuf,
    sys_path: Vec<PathBuf>,
    config: ExecutorConfig,
    handle: tokio::runtime::Handle,
    calls: std::sync::atomic::AtomicU64,
}

impl ExecutorPyCaller {
    /// A caller for `dag`'s templates; None outside a tokio runtime.
    pub(crate) fn new(
        executor: Arc<FunctionExecutor>,
        dag: &Dag,
        home: &ExecutorConfig,
    ) -> Option<ExecutorPyCaller> {
        let mut config = home.clone();
        config.merge(&dag.lithops_config);
        // Template callables run on this machine's workers, whatever the tasks use.
        config.backend = Some(lithoflow_executor::Backend::Localhost);
        config.storage = Some(StorageBackend::Localhost);
        Some(ExecutorPyCaller {
            executor,
            dag_id: dag.dag_id.clone(),
            dag_dir: dag_folder(&dag.fileloc),
            sys_path: dag_sys_path(dag),
            config,
            handle: tokio::runtime::Handle::try_current().ok()?,
            calls: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

impl std::fmt::Debug for ExecutorPyCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExecutorPyCaller({})", self.dag_id)
    }
}

impl lithoflow_dag::template::PyCaller for ExecutorPyCaller {
    fn call(
        &self,
        f: &FuncRef,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, String> {
        let n = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let spec = JobSpec {
            job_key: format!(
                "{}/templates/{}-{n}",
                sanitize(&self.dag_id),
                chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f")
            ),
            kind: JobKind::Call {
                func: func(f),
                args,
                kwargs,
                context: None,
                context_positional: false,
            },
            options: CallOptions {
                sys_path: self.sys_path.clone(),
                base_dir: self.dag_dir.clone(),
                config: self.config.clone(),
                ..CallOptions::default()
            },
        };
        let executor = Arc::clone(&self.executor);
        self.handle.block_on(async move {
            let job = executor.submit(spec);
            let outcome = job.wait().await;
            if let Err(e) = executor.clean(&job).await {
                tracing::debug!(job = %job.job_id, error = %e, "failed to clean a template call's data");
            }
            outcome.result.clone().map_err(|e| e.to_string())
        })
    }
}

/// The task with its templates rendered; `var` and `conn` are read through `lookup`.
pub(crate) fn render_task(
    task: &Task,
    renderer: &Renderer,
    ctx: &Context,
    lookup: Option<Arc<dyn lithoflow_dag::template_values::Lookup>>,
) -> Result<Task, String> {
    let mut t = task.clone();
    let render = |v: &Value| renderer.render_with(v, ctx, lookup.clone());
    match &mut t.kind {
        TaskKind::CallAsync(c) => c.data = render(&c.data)?,
        TaskKind::Map(m) => render_map(m, &render, renderer)?,
        TaskKind::MapReduce(mr) => render_map(&mut mr.map, &render, renderer)?,
        TaskKind::Python(p) | TaskKind::Branch(p) | TaskKind::ShortCircuit { python: p, .. } => {
            // Airflow's template_fields of PythonOperator.
            if let Value::Array(a) = render(&Value::Array(std::mem::take(&mut p.op_args)))? {
                p.op_args = a;
            }
            if let Value::Object(m) = render(&Value::Object(std::mem::take(&mut p.op_kwargs)))? {
                p.op_kwargs = m;
            }
            if let Some(td) = p.templates_dict.take()
                && let Value::Object(m) = render(&Value::Object(td))?
            {
                p.templates_dict = Some(m);
            }
        }
        TaskKind::Bash(b) => render_bash(b, &render)?,
        TaskKind::Sensor(s) => crate::sensors::render(&mut s.sensor, &render)?,
        TaskKind::TriggerDagRun(tr) => crate::sensors::render_trigger(tr, &render)?,
        TaskKind::Empty => {}
    }
    if let Value::Object(env) = render(&Value::Object(t.common.extra_env.clone()))? {
        t.common.extra_env = env;
    }
    Ok(t)
}

/// Renders BashOperator's template_fields: bash_command, env, cwd. Rendered natively
/// too, a command is still run as text.
pub(crate) fn render_bash(
    b: &mut lithoflow_dag::BashSpec,
    render: &impl Fn(&Value) -> Result<Value, String>,
) -> Result<(), String> {
    b.bash_command = as_text(render(&Value::String(std::mem::take(&mut b.bash_command)))?);
    if let Some(env) = b.env.take()
        && let Value::Object(m) = render(&Value::Object(env))?
    {
        b.env = Some(
            m.into_iter()
                .map(|(k, v)| (k, Value::String(as_text(v))))
                .collect(),
        );
    }
    if let Some(cwd) = b.cwd.take() {
        b.cwd = Some(as_text(render(&Value::String(cwd))?));
    }
    Ok(())
}

/// A rendered value where text is needed: a string as it is, anything else as JSON.
pub(crate) fn as_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn render_map(
    m: &mut lithoflow_dag::MapSpec,
    render: &impl Fn(&Value) -> Result<Value, String>,
    renderer: &Renderer,
) -> Result<(), String> {
    // A literal without templates (a million plain numbers, perhaps) stays where it is
    // rather than being rendered into a copy.
    if let Iterdata::Literal(items) = &mut m.iterdata
        && items.iter().any(|i| renderer.needs_render(i))
        && let Value::Array(rendered) = render(&Value::Array(std::mem::take(items)))?
    {
        *items = rendered;
    }
    m.extra_params = match m.extra_params.take() {
        Some(ExtraParams::Keyword(k)) => match render(&Value::Object(k))? {
            Value::Object(k) => Some(ExtraParams::Keyword(k)),
            _ => None,
        },
        Some(ExtraParams::Positional(p)) => match render(&Value::Array(p))? {
            Value::Array(p) => Some(ExtraParams::Positional(p)),
            _ => None,
        },
        None => None,
    };
    Ok(())
}

/// The executor job key of a try: where its data lives in storage
/// (`lithoflow.jobs/<job key>/`).
/// A mapped instance's jobs are under its map index (`<task>/m<N>/<try>`).
pub(crate) fn job_key(
    dag_id: &str,
    run_id: &str,
    task_id: &str,
    map_index: i32,
    try_number: u32,
) -> String {
    let task = if map_index >= 0 {
        format!("{}/m{map_index}", sanitize(task_id))
    } else {
        sanitize(task_id)
    };
    format!(
        "{}/{}/{task}/{try_number}",
        sanitize(dag_id),
        sanitize(run_id),
    )
}

/// An id as one path segment: `/`, `\` and NUL become `_`.
pub(crate) fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exact_reference_object_is_an_offloaded_xcom() {
        let r = json!({ XCOM_REFERENCE_KEY: "s3://b/k", "size": 12 });
        assert_eq!(xcom_reference(&r), Some("s3://b/k"));
        for other in [
            json!({ XCOM_REFERENCE_KEY: "s3://b/k" }),
            json!({ XCOM_REFERENCE_KEY: "s3://b/k", "size": "12" }),
            json!({ XCOM_REFERENCE_KEY: "s3://b/k", "size": 12, "more": 1 }),
            json!({ XCOM_REFERENCE_KEY: 3, "size": 12 }),
            json!(["s3://b/k", 12]),
            json!("s3://b/k"),
        ] {
            assert_eq!(xcom_reference(&other), None, "{other}");
        }
    }
}
