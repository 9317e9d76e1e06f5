//! Commands over recorded runs: `dags trigger|pause|unpause|list-runs|backfill`,
//! `tasks states-for-dag-run|state|logs|clear`.
//!
//! Each opens the state store itself; when a running `lithoflow scheduler` holds it
//! (sled lets one process open it), the command goes through that scheduler's API
//! instead ([`StateAccess`]) and prints the same output: the API's answers are turned
//! back into the store's records ([`crate::api::wire`]) and printed as those are.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::cli::OutputFormat;
use crate::cli::dagtest::{parse_conf, parse_date};
use crate::cli::output::render;
use crate::config::Settings;
use crate::engine::Engine;
use crate::store::{DagRunRecord, Store, TaskInstanceRecord, TaskState};
use lithoflow_api::{BackfillBody, ClearBody, Client, SchedulerInfo, TriggerBody, found};
use lithoflow_dag::Dag;

/// How a command reads and changes recorded state.
pub(crate) enum StateAccess {
    /// The store, opened by this process (no scheduler holds it).
    Store(Arc<Store>),
    /// A running scheduler's API.
    Api(Box<Client>),
}

impl StateAccess {
    /// Opens the store; when a running scheduler holds it, connects to its API.
    pub(crate) async fn connect(settings: &Settings) -> anyhow::Result<StateAccess> {
        let mut tries = 0;
        let (store_err, client) = loop {
            let store_err = match settings.open_store() {
                Ok(store) => return Ok(StateAccess::Store(store)),
                Err(e) => e,
            };
            match Client::discover(&settings.home) {
                Ok(Some(c)) => break (store_err, c),
                // Another short-lived command (`dags list`, a second `dags trigger`) may
                // hold the store for a moment: try again briefly.
                Ok(None) if tries < LOCK_RETRIES && is_lock_error(&store_err) => {
                    tries += 1;
                    tokio::time::sleep(LOCK_RETRY_DELAY).await;
                }
                Ok(None) => return Err(store_err),
                Err(e) => {
                    bail!("{store_err:#}\na scheduler holds it, but its API cannot be used: {e:#}")
                }
            }
        };
        match client.health().await {
            Ok(_) => Ok(StateAccess::Api(Box::new(client))),
            Err(e) => {
                let pid = client.info().map_or(0, |i| i.pid);
                bail!(
                    "{store_err:#}\nand the scheduler that {} describes (pid {pid}) does not answer: {e}",
                    SchedulerInfo::path(&settings.home).display()
                )
            }
        }
    }
}

/// How often, and how long apart, a command tries the store again when another
/// process holds it and no scheduler is described.
const LOCK_RETRIES: u32 = 60;
const LOCK_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether opening the store failed because another process holds sled's lock.
fn is_lock_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::store::StoreError>()
            .is_some_and(|s| s.to_string().contains("could not acquire lock"))
    })
}

/// Each DAG's `is_paused` for `dags list`: from the store, else from a running
/// scheduler's API; a DAG with no state yet follows `is_paused_upon_creation`. None
/// when the state cannot be read (a warning says why).
pub(crate) async fn paused_states(
    home: &Path,
    dags: &[&Dag],
    err: &mut dyn Write,
) -> anyhow::Result<HashMap<String, Option<bool>>> {
    let upon_creation = || {
        dags.iter()
            .map(|d| (d.dag_id.clone(), Some(d.is_paused_upon_creation)))
            .collect()
    };
    let path = home.join("state");
    if !path.exists() {
        return Ok(upon_creation());
    }
    let mut tries = 0;
    let store_err = loop {
        match Store::open(&path) {
            Ok(store) => {
                return Ok(dags
                    .iter()
                    .map(|d| (d.dag_id.clone(), crate::ops::is_paused(&store, d).ok()))
                    .collect());
            }
            // Another short-lived command may hold the store for a moment.
            Err(e)
                if tries < LOCK_RETRIES
                    && e.to_string().contains("could not acquire lock")
                    && !SchedulerInfo::path(home).exists() =>
            {
                tries += 1;
                tokio::time::sleep(LOCK_RETRY_DELAY).await;
            }
            Err(e) => break e,
        }
    };
    let answer = match Client::discover(home) {
        Ok(Some(client)) => client.dags().await.map_err(anyhow::Error::from),
        Ok(None) => Err(anyhow::Error::from(store_err)),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    match answer {
        Ok(served) => {
            let by_id: HashMap<String, bool> = served
                .into_iter()
                .map(|d| (d.dag_id, d.is_paused))
                .collect();
            Ok(dags
                .iter()
                .map(|d| {
                    let p = by_id
                        .get(&d.dag_id)
                        .copied()
                        .unwrap_or(d.is_paused_upon_creation);
                    (d.dag_id.clone(), Some(p))
                })
                .collect())
        }
        Err(e) => {
            writeln!(
                err,
                "warning: cannot read whether the DAGs are paused: {e:#}"
            )?;
            Ok(dags.iter().map(|d| (d.dag_id.clone(), None)).collect())
        }
    }
}

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

/// The DAG a state-changing command acts on. Through a scheduler's API only its id is
/// needed (the scheduler resolves it), so the DAGs folder is parsed only for direct
/// store access.
pub(crate) struct Target {
    /// The store or the API.
    pub(crate) access: StateAccess,
    /// The DAG's id.
    pub(crate) dag_id: String,
    /// The DAG, loaded for direct store access.
    pub(crate) dag: Option<Dag>,
}

impl Target {
    fn dag(&self) -> anyhow::Result<&Dag> {
        self.dag
            .as_ref()
            .with_context(|| format!("DAG `{}` was not loaded", self.dag_id))
    }
}

/// Records what the CLI changed on the store in the event log (owner: the OS user, as
/// Airflow's CLI records it); through a running scheduler its API records it.
fn cli_audit(
    store: &crate::store::Store,
    event: &str,
    dag_id: &str,
    run_id: Option<&str>,
    extra: Value,
) {
    let rec = crate::store::AuditRecord::new(event, &crate::ops::os_user())
        .about(dag_id, run_id)
        .with_extra(&extra);
    crate::ops::audit(store, rec);
    // The change itself was flushed; its entry goes with it.
    let _ = store.flush();
}

/// `dags trigger`: records a queued run.
pub(crate) async fn trigger(
    target: Target,
    conf: Option<&str>,
    run_id: Option<String>,
    logical_date: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let req = crate::ops::TriggerRequest {
        conf: parse_conf(conf)?,
        run_id,
        logical_date: logical_date.map(parse_date).transpose()?,
        ..Default::default()
    };
    let (run, paused) = match &target.access {
        StateAccess::Store(store) => {
            let dag = target.dag()?;
            let run = crate::ops::trigger(store, dag, req, Utc::now())?;
            cli_audit(
                store,
                crate::ops::events::CLI_TRIGGER,
                &run.dag_id,
                Some(&run.run_id),
                json!({"logical_date": run.logical_date.map(crate::ops::iso)}),
            );
            (run, crate::ops::is_paused(store, dag)?)
        }
        StateAccess::Api(client) => {
            let body = TriggerBody {
                dag_run_id: req.run_id,
                logical_date: req.logical_date,
                conf: req.conf,
                ..TriggerBody::default()
            };
            let triggered = client.trigger(&target.dag_id, &body).await?;
            let paused = triggered.warning.is_some();
            (triggered.run.try_into()?, paused)
        }
    };
    let outcome = print_triggered(&run, format)?;
    if paused {
        // On stderr: stdout stays the run alone (JSON with `-o json`).
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "note: {}",
            lithoflow_api::paused_trigger_notice(&run.dag_id, &run.run_id)
        );
    }
    Ok(outcome)
}

/// Prints a triggered run as `dags trigger` does.
pub(crate) fn print_triggered(run: &DagRunRecord, format: OutputFormat) -> anyhow::Result<Outcome> {
    let row = object(json!({
        "conf": lithoflow_dag::redact::redact_map(&run.conf),
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
pub(crate) async fn set_paused(
    target: Target,
    paused: bool,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let before = match &target.access {
        StateAccess::Store(store) => {
            let before = crate::ops::set_paused(store, target.dag()?, paused)?;
            let event = if paused {
                crate::ops::events::CLI_PAUSE
            } else {
                crate::ops::events::CLI_UNPAUSE
            };
            cli_audit(
                store,
                event,
                &target.dag_id,
                None,
                json!({"is_paused": paused}),
            );
            before
        }
        StateAccess::Api(client) => {
            let info = client.set_paused(&target.dag_id, paused).await?;
            info.was_paused.unwrap_or(info.is_paused)
        }
    };
    print_paused(&target.dag_id, before, paused, format)
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
pub(crate) async fn next_execution(
    dag: &Dag,
    settings: &Settings,
    n: usize,
    now: DateTime<Utc>,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let mut err = std::io::stderr();
    // Best effort: state that cannot be read just means no reminder.
    let paused = paused_states(&settings.home, &[dag], &mut std::io::sink()).await?;
    if paused.get(&dag.dag_id).copied().flatten() == Some(true) {
        writeln!(err, "[INFO] Please be reminded this DAG is PAUSED now.")?;
    }
    let infos = lithoflow_dag::timetable::next_executions(dag, n, now);
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
pub(crate) async fn list_runs(
    dag_id: &str,
    settings: &Settings,
    state: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let runs: Vec<DagRunRecord> = match StateAccess::connect(settings).await? {
        StateAccess::Store(store) => store.runs(dag_id)?,
        // A DAG the store has never seen has no runs, as on the direct path.
        StateAccess::Api(client) => found(client.runs(dag_id).await)?
            .unwrap_or_default()
            .into_iter()
            .map(DagRunRecord::try_from)
            .collect::<Result<_, _>>()?,
    };
    let rows: Vec<Map<String, Value>> = runs
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

impl StateAccess {
    /// A run, or an error pointing at `dags list-runs`.
    pub(super) async fn run_of(&self, dag_id: &str, run_id: &str) -> anyhow::Result<DagRunRecord> {
        let run = match self {
            StateAccess::Store(store) => store.run(dag_id, run_id)?,
            // An unknown DAG has no runs (None), as on the direct path.
            StateAccess::Api(client) => client
                .run(dag_id, run_id)
                .await?
                .map(DagRunRecord::try_from)
                .transpose()?,
        };
        run.with_context(|| {
            format!("DAG `{dag_id}` has no run `{run_id}`; see `lithoflow dags list-runs {dag_id}`")
        })
    }

    /// The task instances of a run.
    pub(super) async fn tis(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> anyhow::Result<Vec<TaskInstanceRecord>> {
        Ok(match self {
            StateAccess::Store(store) => store.tis(dag_id, run_id)?,
            StateAccess::Api(client) => client
                .task_instances(dag_id, run_id)
                .await?
                .into_iter()
                .map(TaskInstanceRecord::try_from)
                .collect::<Result<_, _>>()?,
        })
    }

    /// One task instance (at a map index, -1 unmapped); None if it does not exist yet.
    async fn ti(
        &self,
        dag_id: &str,
        run_id: &str,
        (task_id, map_index): (&str, i32),
    ) -> anyhow::Result<Option<TaskInstanceRecord>> {
        Ok(match self {
            StateAccess::Store(store) => store.ti_at(dag_id, run_id, task_id, map_index)?,
            StateAccess::Api(client) => found(
                client
                    .task_instance_at(dag_id, run_id, task_id, map_index)
                    .await,
            )?
            .map(TaskInstanceRecord::try_from)
            .transpose()?,
        })
    }
}

/// `tasks states-for-dag-run`.
pub(crate) async fn states_for_dag_run(
    dag_id: &str,
    run_id: &str,
    settings: &Settings,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let access = StateAccess::connect(settings).await?;
    let run = access.run_of(dag_id, run_id).await?;
    let mut rows: Vec<Map<String, Value>> = access
        .tis(dag_id, run_id)
        .await?
        .into_iter()
        .map(|t| {
            object(json!({
                "dag_id": dag_id,
                "logical_date": ts(run.logical_date),
                "task_id": t.task_id,
                "map_index": t.map_index,
                "state": t.state.name(),
                "try_number": t.try_number,
                "start_date": ts(t.start_date),
                "end_date": ts(t.end_date),
            }))
        })
        .collect();
    let mut cols = vec![
        "dag_id",
        "logical_date",
        "task_id",
        "map_index",
        "state",
        "try_number",
        "start_date",
        "end_date",
    ];
    // Scheduled instances waiting for a pool slot say so.
    if crate::cli::pools::add_waiting_for(&access, dag_id, run_id, &mut rows).await? {
        cols.push("waiting_for");
    }
    std::io::stdout().write_all(render(&rows, &cols, format).as_bytes())?;
    Ok(Outcome::Ok)
}

/// `tasks state`.
pub(crate) async fn state(
    dag_id: &str,
    task: (&str, i32),
    run_id: &str,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let access = StateAccess::connect(settings).await?;
    access.run_of(dag_id, run_id).await?;
    let state = access
        .ti(dag_id, run_id, task)
        .await?
        .map_or(TaskState::None, |t| t.state);
    writeln!(std::io::stdout(), "{}", state.name())?;
    Ok(Outcome::Ok)
}

/// `tasks logs`: a try's log (the latest by default). With `follow`, a running try is
/// followed through the scheduler's API as its log grows, until the try ends; the exit
/// status is then the try's outcome (0: success or skipped).
pub(crate) async fn logs(
    dag_id: &str,
    (task_id, map_index): (&str, i32),
    run_id: &str,
    try_number: Option<u32>,
    follow: bool,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let access = StateAccess::connect(settings).await?;
    access.run_of(dag_id, run_id).await?;
    let ti = access.ti(dag_id, run_id, (task_id, map_index)).await?;
    let latest = ti.as_ref().map_or(0, |t| t.try_number);
    let n = try_number.unwrap_or(latest);
    if n == 0 {
        bail!("task `{task_id}` of run `{run_id}` has not run yet");
    }
    let path = Engine::log_path(
        &settings.home.join("logs"),
        dag_id,
        run_id,
        task_id,
        map_index,
        n,
    );
    let mut out = std::io::stdout();
    let client = match &access {
        StateAccess::Store(_) => {
            // No scheduler runs: nothing will be added to the file.
            let text = std::fs::read(&path)
                .with_context(|| format!("no log for try {n} at {}", path.display()))?;
            out.write_all(&text)?;
            return Ok(if follow {
                try_outcome(ti.as_ref(), n)
            } else {
                Outcome::Ok
            });
        }
        StateAccess::Api(client) => client,
    };
    let mut offset = 0;
    loop {
        // Whether the try had ended before this read: then the read reaches the log's end.
        let ended = if follow {
            let ti = access.ti(dag_id, run_id, (task_id, map_index)).await?;
            let running = ti
                .as_ref()
                .is_some_and(|t| t.try_number == n && t.state == TaskState::Running);
            (!running).then(|| try_outcome(ti.as_ref(), n))
        } else {
            Some(Outcome::Ok)
        };
        // The API answers in chunks; ask until a chunk comes back empty.
        loop {
            let (bytes, next) = match client
                .log_at(dag_id, run_id, (task_id, map_index), n, offset)
                .await
            {
                Ok(answer) => answer,
                // A followed try's log may not exist yet (its try is being dispatched).
                Err(e) if follow && ended.is_none() && e.is_not_found() => break,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("no log for try {n} at {}", path.display()));
                }
            };
            if bytes.is_empty() || next <= offset {
                break;
            }
            out.write_all(&bytes)?;
            offset = next;
        }
        out.flush()?;
        if let Some(outcome) = ended {
            return Ok(outcome);
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// How often `tasks logs -f` asks for more of a running try's log.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// The outcome of try `n` once it has ended: its task instance's state when it is the
/// latest try; an earlier try was followed by another, so it did not succeed.
fn try_outcome(ti: Option<&TaskInstanceRecord>, n: u32) -> Outcome {
    match ti {
        Some(t)
            if t.try_number == n && matches!(t.state, TaskState::Success | TaskState::Skipped) =>
        {
            Outcome::Ok
        }
        _ => Outcome::Failed,
    }
}

/// `tasks clear`: matched task instances go back to no state (their XCom removed) and
/// their runs back to queued, so `lithoflow scheduler` runs them again.
pub(crate) async fn clear(
    target: Target,
    spec: crate::ops::ClearSpec,
    yes: bool,
) -> anyhow::Result<Outcome> {
    let access = &target.access;
    // What would be cleared, as (run id, task id, state) in the order ops finds them.
    let (targets, listed): (_, Vec<(String, String, TaskState)>) = match access {
        StateAccess::Store(store) => {
            let targets = crate::ops::clear_targets(store, target.dag()?, &spec)?;
            let listed = targets
                .iter()
                .flat_map(|(run, tis)| {
                    tis.iter()
                        .map(|ti| (run.run_id.clone(), ti.task_id.clone(), ti.state))
                })
                .collect();
            (Some(targets), listed)
        }
        StateAccess::Api(client) => {
            let planned = client
                .clear(&target.dag_id, &clear_body(&spec, true))
                .await?;
            let listed = planned
                .task_instances
                .into_iter()
                .map(|t| Ok((t.dag_run_id, t.task_id, t.state.try_into()?)))
                .collect::<anyhow::Result<_>>()?;
            (None, listed)
        }
    };
    let mut out = std::io::stdout();
    if listed.is_empty() {
        writeln!(out, "No task instances to clear")?;
        return Ok(Outcome::Ok);
    }
    for (run_id, task_id, state) in &listed {
        writeln!(
            out,
            "<TaskInstance: {}.{task_id} {run_id} [{}]>",
            target.dag_id,
            state.name()
        )?;
    }
    if spec.dry_run {
        return Ok(Outcome::Ok);
    }
    let n = listed.len();
    if !confirm(
        &format!("You are about to clear these {n} task instances."),
        yes,
    )? {
        writeln!(out, "Cancelled, nothing was cleared.")?;
        return Ok(Outcome::Ok);
    }
    match (access, targets) {
        (StateAccess::Store(store), Some(targets)) => {
            crate::ops::apply_clear(store, target.dag()?, targets)?;
            cli_audit(
                store,
                crate::ops::events::CLI_CLEAR,
                &target.dag_id,
                spec.run_id.as_deref(),
                json!({
                    "task_ids": spec.task_ids,
                    "task_regex": spec.task_regex,
                    "only_failed": spec.only_failed,
                    "include_upstream": spec.upstream,
                    "include_downstream": spec.downstream,
                    "task_instances": n,
                }),
            );
        }
        (StateAccess::Api(client), _) => {
            client
                .clear(&target.dag_id, &clear_body(&spec, false))
                .await?;
        }
        (StateAccess::Store(_), None) => {}
    }
    writeln!(out, "Cleared; `lithoflow scheduler` runs them again.")?;
    Ok(Outcome::Ok)
}

/// A clear as the API's body.
fn clear_body(spec: &crate::ops::ClearSpec, dry_run: bool) -> ClearBody {
    ClearBody {
        dry_run: Some(dry_run),
        task_ids: spec.task_ids.as_ref().map(|ids| {
            ids.iter()
                .map(|t| lithoflow_api::ClearTaskId::Task(t.clone()))
                .collect()
        }),
        task_regex: spec.task_regex.clone(),
        dag_run_id: spec.run_id.clone(),
        include_upstream: spec.upstream,
        include_downstream: spec.downstream,
        only_failed: Some(spec.only_failed),
        ..ClearBody::default()
    }
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
    spec: BackfillBody,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let store = match StateAccess::connect(settings).await? {
        StateAccess::Store(store) => store,
        StateAccess::Api(client) => return backfill_through(&client, &dag, &spec, format).await,
    };
    let outcome = crate::ops::backfill(&store, &dag, &spec, Utc::now())?;
    if !spec.dry_run {
        cli_audit(
            &store,
            crate::ops::events::CLI_BACKFILL,
            &dag.dag_id,
            None,
            json!({
                "backfill_id": outcome.backfill_id,
                "from_date": crate::ops::iso(spec.from_date),
                "to_date": crate::ops::iso(spec.to_date),
                "reprocess_behavior": spec.reprocess_behavior.name(),
                "max_active_runs": spec.max_active_runs,
            }),
        );
    }
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
    crate::daemon::run_backfill_here(dag, settings, store, run_ids, spec.max_active_runs).await
}

/// A backfill through a running scheduler: it creates the runs and runs them.
async fn backfill_through(
    client: &Client,
    dag: &Dag,
    spec: &BackfillBody,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let answer = client.backfill(spec).await?;
    let outcome = crate::ops::BackfillOutcome {
        backfill_id: answer.id,
        runs: answer.dag_runs,
    };
    print_backfill(&outcome, spec.dry_run, format)?;
    let queued = outcome.runs.iter().filter(|r| r.action != "skip").count();
    if !spec.dry_run && queued > 0 {
        writeln!(
            std::io::stderr(),
            "[backfill] {} queued {queued} run(s); the running scheduler (pid {}) runs them: follow with `lithoflow dags list-runs {}`",
            outcome.backfill_id.as_deref().unwrap_or("the backfill"),
            client.info().map_or(0, |i| i.pid),
            dag.dag_id
        )?;
    }
    Ok(Outcome::Ok)
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
