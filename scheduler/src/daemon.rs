//! `lithoflow scheduler`: the long-running daemon.
//!
//! One loop owns scheduling. Each turn it (1) picks up changed DAG files, (2) creates
//! the runs whose time has come (timetables, catchup, `max_active_runs`), (3) starts
//! queued runs within their limits, each in an [`Engine`] task, and then waits for the
//! first of: a run ending, an API request, the next due run, the next folder scan
//! (every 500 ms), or SIGTERM/SIGINT. State-changing API requests come to this loop
//! (it knows which runs are in flight); reads go straight to the store.
//!
//! On SIGTERM/SIGINT it stops creating and starting runs, lets running tries finish
//! within the grace period (then stops them; their runs are recovered on the next
//! start), flushes the store and exits 0.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use lithoflow_executor::{ExecutorSettings, FunctionExecutor};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use crate::Outcome;
use crate::config::Settings;
use crate::control::{DagSet, Event, Request, Shared};
use crate::engine::{Engine, RunControl, RunEvent};
use crate::ops::{self, OpError};
use crate::store::{BackfillRecord, DagRunRecord, RunState, Store};
use lithoflow_api::SchedulerInfo;
use lithoflow_dag::Dag;
use lithoflow_dag::timetable::{self, DataInterval, TimeRestriction};
use watch::Watcher;

mod watch;
mod writes;

/// The API port when neither `--api-port` nor `[api] port` sets one.
pub(crate) const DEFAULT_API_PORT: u16 = 8793;

/// How often the DAGs folder is scanned for changes.
const SCAN_EVERY: Duration = Duration::from_millis(500);

/// How long the loop sleeps at most while a scan runs beside it.
const SCAN_IDLE: Duration = Duration::from_secs(3600);

/// The watcher, its lock poisoned or not (a scan that panicked left no half-written state
/// worth refusing: files are replaced whole).
fn lock(w: &std::sync::Mutex<Watcher>) -> std::sync::MutexGuard<'_, Watcher> {
    w.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Scheduled runs created for one DAG in one turn at most (catchup creates the rest on
/// the following turns, as Airflow's `max_dagruns_to_create_per_loop`).
const MAX_CREATE_PER_TURN: usize = 64;

/// How the daemon was started.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The DAGs folder it watches.
    pub dags_folder: PathBuf,
    /// Exit once nothing is queued, running or due.
    pub exit_when_idle: bool,
    /// The API port (None: `[api] port`, else 8793; 0 picks a free one).
    pub api_port: Option<u16>,
    /// The API's address (None: `[api] host`, else 127.0.0.1).
    pub api_host: Option<std::net::IpAddr>,
    /// `--allow-non-loopback`: the API may bind an address other hosts reach.
    pub allow_non_loopback: bool,
    /// How long running calls get to finish after SIGTERM.
    pub grace_period: Duration,
}

/// A DAG's scheduling state, kept between turns so a turn only recomputes the DAGs
/// whose next run is due or whose inputs changed.
struct DagSched {
    paused: bool,
    /// The next run (None: not computed since the last change).
    next: Option<Option<timetable::DagRunInfo>>,
}

/// A run an engine task is running.
struct ActiveRun {
    control: mpsc::UnboundedSender<RunControl>,
    backfill_id: Option<String>,
}

type RunKey = (String, String);

/// The scheduling loop's state.
struct Daemon {
    shared: Arc<Shared>,
    engine: Arc<Engine>,
    /// Runs not finished (queued, or running and maybe in flight), by (dag_id, run_id).
    unfinished: HashMap<RunKey, DagRunRecord>,
    active: HashMap<RunKey, ActiveRun>,
    joins: JoinSet<(RunKey, anyhow::Result<DagRunRecord>)>,
    /// The data interval of each DAG's latest scheduled run.
    last_scheduled: HashMap<String, Option<DataInterval>>,
    /// Per DAG: whether it is paused, and its next run once computed.
    sched: HashMap<String, DagSched>,
    backfills: HashMap<String, Option<BackfillRecord>>,
    draining: bool,
    /// Whether the lack of room for the state database was reported (once per episode).
    short_of_space: bool,
}

/// Runs the scheduler until SIGTERM/SIGINT (or idle with `exit_when_idle`).
pub(crate) async fn run(settings: Settings, opts: Options) -> anyhow::Result<Outcome> {
    // Checked before anything is opened or written, so a refused start changes nothing.
    let host = api_host(&settings, &opts)?;
    settings.create_private_dirs()?;
    settings.check_private_dirs()?;
    crate::config::check_private(&crate::api::token_path(&settings.home), 0o600)?;
    let store = open_exclusive(&settings)?;
    let (executor, engine) = start_engine(&settings, &store, true).await?;
    // Airflow DAG files: parse-time variables and connections come from this store.
    let python = settings.load_python.then(|| {
        Arc::new(crate::pydag::pool_for(
            &settings,
            &opts.dags_folder,
            Arc::new(crate::values::StoreLookup(Arc::clone(&store))),
        ))
    });
    let watcher = Watcher::new(
        opts.dags_folder.clone(),
        settings.load_options(&opts.dags_folder),
        python,
    );
    // The first scan may import many `.py` files: off the async threads.
    let watcher = Arc::new(std::sync::Mutex::new(watcher));
    let first = Arc::clone(&watcher);
    tokio::task::spawn_blocking(move || lock(&first).scan())
        .await
        .context("the first scan of the DAGs folder failed")?;
    let token = crate::api::ensure_token(&settings.home)?;
    let (req_tx, mut req_rx) = mpsc::channel::<Request>(256);
    // trigger_dag_run tasks create runs through this loop, as the API does.
    engine.set_run_creator(Arc::new(crate::engine::DaemonRuns(req_tx.clone())));
    let (events, _) = broadcast::channel(4096);
    let shared = Arc::new(Shared {
        store: Arc::clone(&store),
        settings: settings.clone(),
        dags_folder: opts.dags_folder.clone(),
        dags: RwLock::new(DagSet::default()),
        events,
        requests: req_tx,
        started_at: Utc::now(),
        token,
        pools: engine.pools().cloned(),
    });

    let mut daemon = Daemon {
        shared: Arc::clone(&shared),
        engine,
        unfinished: HashMap::new(),
        active: HashMap::new(),
        joins: JoinSet::new(),
        last_scheduled: HashMap::new(),
        sched: HashMap::new(),
        backfills: HashMap::new(),
        draining: false,
        short_of_space: false,
    };
    for run in store
        .all_runs()?
        .into_iter()
        .filter(|r| !r.state.is_finished())
    {
        daemon
            .unfinished
            .insert((run.dag_id.clone(), run.run_id.clone()), run);
    }
    daemon.publish_dags(&lock(&watcher))?;
    // The API only once the DAGs are published, so a client never sees an empty set.
    // The API, on loopback unless explicitly allowed elsewhere.
    let port = opts
        .api_port
        .or(settings.api_port)
        .unwrap_or(DEFAULT_API_PORT);
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| {
            format!("cannot listen on {host}:{port} for the API (is another scheduler running? choose another with --api-port or [api] port)")
        })?;
    let port = listener.local_addr()?.port();
    let (stop_api, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let app = crate::api::router(Arc::clone(&shared));
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await
        })
    };
    let info_path = SchedulerInfo::path(&settings.home);
    let info = SchedulerInfo {
        pid: std::process::id(),
        port,
        started_at: shared.started_at,
        dags_folder: std::fs::canonicalize(&opts.dags_folder)
            .unwrap_or_else(|_| opts.dags_folder.clone()),
    };
    // Written whole, then renamed: a client never reads half of it.
    let tmp = info_path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&info)?)
        .and_then(|()| std::fs::rename(&tmp, &info_path))
        .with_context(|| format!("failed to write {}", info_path.display()))?;

    let mut err = std::io::stderr();
    writeln!(
        err,
        "[scheduler] started: {} DAGs from {}, {} local workers, API on http://{}/api/v1",
        daemon.dag_count(),
        opts.dags_folder.display(),
        executor.workers(),
        std::net::SocketAddr::new(host, port)
    )?;

    let result = daemon.main_loop(&watcher, &mut req_rx, &opts).await;
    // Ends the event streams at once; queued requests get a clean 503.
    drop(req_rx);
    // Shutdown: the API stops, the state is flushed, the workers stop.
    let _ = stop_api.send(());
    // Event streams never end by themselves: give open connections a moment, then go.
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    let _ = std::fs::remove_file(&info_path);
    let flushed = store.flush();
    executor.settle().await;
    executor.shutdown();
    result?;
    flushed?;
    writeln!(err, "[scheduler] stopped")?;
    Ok(Outcome::Ok)
}

/// The address the API binds: `--api-host`, else `[api] host`, else 127.0.0.1. Anything
/// but loopback is refused unless `--allow-non-loopback` (or `[api] allow_non_loopback`)
/// allows it, and then warned about: the token crosses the network in clear text.
fn api_host(settings: &Settings, opts: &Options) -> anyhow::Result<std::net::IpAddr> {
    let host = opts
        .api_host
        .or(settings.api_host)
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    if host.is_loopback() {
        return Ok(host);
    }
    if !(opts.allow_non_loopback || settings.allow_non_loopback) {
        anyhow::bail!(
            "refusing to serve the API on {host}, which is not a loopback address: anyone who can reach it could try the token; pass --allow-non-loopback (or set `[api] allow_non_loopback = true`) to do it anyway"
        );
    }
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "[scheduler] warning: the API listens on {host}, not loopback: other machines can reach it and its bearer token travels unencrypted (plain HTTP)"
    );
    tracing::warn!(%host, "the API listens on a non-loopback address");
    Ok(host)
}

/// The executor (its local workers checked) and a run engine over `store`; with
/// `wait_for_space`, runs wait for free space on the state database's filesystem instead
/// of stopping (see [`Engine::wait_for_space`]).
pub(crate) async fn start_engine(
    settings: &Settings,
    store: &Arc<Store>,
    wait_for_space: bool,
) -> anyhow::Result<(Arc<FunctionExecutor>, Arc<Engine>)> {
    let executor = Arc::new(FunctionExecutor::new(ExecutorSettings::from_config(
        &settings.executor,
        settings.storage_dir(),
    )));
    executor
        .check()
        .await
        .context("the executor cannot start its Python workers")?;
    let engine = Arc::new(
        Engine::new(
            Arc::clone(store),
            Arc::clone(&executor),
            settings.executor.clone(),
            settings.home.join("logs"),
        )
        .wait_for_space(wait_for_space),
    );
    Ok((executor, engine))
}

/// Opens the store; a clear error when another process holds it.
fn open_exclusive(settings: &Settings) -> anyhow::Result<Arc<Store>> {
    let path = settings.home.join("state");
    settings.create_private_dirs()?;
    Store::open(&path).map(Arc::new).with_context(|| {
        let running = std::fs::read(SchedulerInfo::path(&settings.home))
            .ok()
            .and_then(|b| serde_json::from_slice::<SchedulerInfo>(&b).ok());
        match running {
            Some(i) => format!(
                "another lithoflow scheduler (pid {}) holds the state database at {}",
                i.pid,
                path.display()
            ),
            None => format!(
                "failed to open the state database at {} (is another lithoflow process using this LITHOFLOW_HOME?)",
                path.display()
            ),
        }
    })
}

impl Daemon {
    fn dag_count(&self) -> usize {
        self.read_dags().dags.len()
    }

    fn read_dags(&self) -> std::sync::RwLockReadGuard<'_, DagSet> {
        self.shared
            .dags
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn dag(&self, dag_id: &str) -> Option<Arc<Dag>> {
        self.shared.dag(dag_id)
    }

    /// Publishes the watcher's DAGs; new DAGs get their stored record.
    fn publish_dags(&mut self, watcher: &Watcher) -> anyhow::Result<()> {
        let (dags, import_errors) = watcher.dag_set();
        let mut sched = HashMap::with_capacity(dags.len());
        // A full disk must not reach the state database (see `STATE_SPACE_RESERVE`): a
        // new DAG's record then waits for its next publication; its paused state is its
        // default until then either way.
        let room = self.room().is_ok();
        for dag in dags.values() {
            let paused = if room {
                ops::ensure_dag_record(&self.shared.store, dag)?.is_paused
            } else {
                ops::is_paused(&self.shared.store, dag)?
            };
            sched.insert(dag.dag_id.clone(), DagSched { paused, next: None });
        }
        self.sched = sched;
        if room {
            crate::assets::register(&self.shared.store, &dags, Utc::now())?;
        }
        let (n, e) = (dags.len(), import_errors.len());
        {
            let mut set = self
                .shared
                .dags
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            set.dags = dags;
            set.import_errors = import_errors;
        }
        self.shared.emit(Event::DagsReloaded {
            dags: n,
            import_errors: e,
        });
        Ok(())
    }

    async fn main_loop(
        &mut self,
        watcher: &Arc<std::sync::Mutex<Watcher>>,
        requests: &mut mpsc::Receiver<Request>,
        opts: &Options,
    ) -> anyhow::Result<()> {
        let mut next_scan = tokio::time::Instant::now() + SCAN_EVERY;
        let mut scanning: Option<tokio::task::JoinHandle<bool>> = None;
        let stop = shutdown_signal();
        tokio::pin!(stop);
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        loop {
            let now = Utc::now();
            let mut busy = false;
            let mut next_due: Option<DateTime<Utc>> = None;
            if !self.draining {
                let triggered = self.create_asset_runs()?;
                let (created, due) = self.create_scheduled_runs(now)?;
                next_due = due;
                let started = self.start_runs()?;
                busy = triggered + created + started > 0;
            }
            if self.draining && self.active.is_empty() {
                return Ok(());
            }
            if opts.exit_when_idle && !busy && self.active.is_empty() {
                return Ok(());
            }
            let wake_at = match next_due {
                Some(due) => {
                    let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                    (tokio::time::Instant::now() + wait).min(next_scan)
                }
                None => next_scan,
            };
            tokio::select! {
                Some(joined) = self.joins.join_next() => {
                    if let Ok((key, result)) = joined {
                        self.finished(key, result)?;
                    }
                }
                Some(req) = requests.recv() => self.handle(req)?,
                () = tokio::time::sleep_until(wake_at) => {
                    if tokio::time::Instant::now() >= next_scan && scanning.is_none() && !self.draining {
                        // Loading `.py` files may take seconds (a file may take up to its
                        // 30 s limit): the scan runs beside this loop, which goes on
                        // scheduling and answering the API meanwhile.
                        let w = Arc::clone(watcher);
                        scanning = Some(tokio::task::spawn_blocking(move || lock(&w).scan()));
                        next_scan = tokio::time::Instant::now() + SCAN_IDLE;
                    }
                }
                changed = async {
                    match scanning.as_mut() {
                        Some(h) => h.await,
                        None => std::future::pending().await,
                    }
                } => {
                    scanning = None;
                    next_scan = tokio::time::Instant::now() + SCAN_EVERY;
                    if !self.draining && changed.context("a scan of the DAGs folder failed")? {
                        self.publish_dags(&lock(watcher))?;
                        self.last_scheduled.clear();
                    }
                }
                () = &mut stop, if !self.draining => {
                    let deadline = tokio::time::Instant::now() + opts.grace_period;
                    drain_deadline = Some(deadline);
                    self.draining = true;
                    writeln!(std::io::stderr(), "[scheduler] stopping: no new runs; {} run(s) in flight get {}s to finish their running tasks", self.active.len(), opts.grace_period.as_secs())?;
                    for a in self.active.values() {
                        let _ = a.control.send(RunControl::Drain { deadline });
                    }
                }
                () = async {
                    match drain_deadline {
                        Some(at) => tokio::time::sleep_until(at + Duration::from_secs(5)).await,
                        None => std::future::pending().await,
                    }
                } => {
                    // Engines stop their tries at the deadline; this is the backstop.
                    self.joins.abort_all();
                    return Ok(());
                }
            }
        }
    }

    /// Asset-triggered runs (`crate::assets::turn`); returns how many were created.
    fn create_asset_runs(&mut self) -> anyhow::Result<usize> {
        let active = |id: &str| self.active_scheduled_runs(id);
        let runs = crate::assets::turn(&self.shared, &|d| self.paused(d), &active)?;
        let n = runs.len();
        self.unfinished.extend(runs);
        Ok(n)
    }

    /// The data interval of a DAG's latest scheduled run (cached).
    fn last_scheduled(&mut self, dag_id: &str) -> anyhow::Result<Option<DataInterval>> {
        if let Some(v) = self.last_scheduled.get(dag_id) {
            return Ok(*v);
        }
        let last = self
            .shared
            .store
            .runs(dag_id)?
            .into_iter()
            .filter(|r| r.run_type == "scheduled")
            .filter_map(|r| match (r.data_interval_start, r.data_interval_end) {
                (Some(start), Some(end)) => Some(DataInterval { start, end }),
                _ => None,
            })
            .max_by_key(|i| (i.start, i.end));
        self.last_scheduled.insert(dag_id.to_owned(), last);
        Ok(last)
    }

    /// Runs of a DAG that count against its `max_active_runs` (not backfills).
    fn active_scheduled_runs(&self, dag_id: &str) -> usize {
        self.unfinished
            .values()
            .filter(|r| r.dag_id == dag_id && r.backfill_id.is_none())
            .count()
    }

    /// Whether a DAG is paused (cached; a DAG not loaded follows its file's default).
    fn paused(&self, dag: &Dag) -> bool {
        self.sched
            .get(&dag.dag_id)
            .map_or(dag.is_paused_upon_creation, |d| d.paused)
    }

    /// Creates the scheduled runs that are due; returns how many, and when the next
    /// one falls due. A DAG's next run is recomputed only when it is due (a due run is
    /// always recomputed with the clock first, as catchup = false depends on it) or
    /// when something changed (its file, a run created, pause).
    fn create_scheduled_runs(
        &mut self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(usize, Option<DateTime<Utc>>)> {
        let dags: Vec<Arc<Dag>> = self
            .read_dags()
            .dags
            .values()
            .filter(|d| d.schedule.is_some())
            .cloned()
            .collect();
        if !dags.is_empty() {
            match self.room() {
                Err(e) => {
                    // Runs due now are created once space is freed (looked at every scan).
                    if !self.short_of_space {
                        tracing::error!(path = %e.path.display(), "{e}; no scheduled run is created until space is freed");
                        self.short_of_space = true;
                    }
                    return Ok((0, None));
                }
                Ok(()) if self.short_of_space => {
                    tracing::warn!(
                        "there is room for the state database again; scheduled runs are created"
                    );
                    self.short_of_space = false;
                }
                Ok(()) => {}
            }
        }
        let mut created = 0;
        let mut next_due: Option<DateTime<Utc>> = None;
        let mut changed = false;
        for dag in dags {
            let restriction = TimeRestriction::of(&dag);
            let mut n = 0;
            loop {
                let cached = self.sched.get(&dag.dag_id).and_then(|d| d.next);
                let info = match cached {
                    Some(Some(info))
                        if info.run_after > now || timetable::keeps_due_run(&dag, &info, now) =>
                    {
                        Some(info)
                    }
                    Some(None) => None,
                    _ => {
                        let last = self.last_scheduled(&dag.dag_id)?;
                        let info =
                            timetable::next_dagrun_info(&dag, last.as_ref(), &restriction, now);
                        if let Some(d) = self.sched.get_mut(&dag.dag_id) {
                            changed |= d.next != Some(info);
                            d.next = Some(info);
                        }
                        info
                    }
                };
                let Some(info) = info else { break };
                if self.paused(&dag) {
                    break;
                }
                let limit = timetable::active_runs_limit(&dag) as usize;
                if info.run_after > now {
                    if self.active_scheduled_runs(&dag.dag_id) < limit {
                        next_due = Some(next_due.map_or(info.run_after, |d| d.min(info.run_after)));
                    }
                    break;
                }
                // Airflow creates no scheduled run while max_active_runs are active.
                if self.active_scheduled_runs(&dag.dag_id) >= limit || n >= MAX_CREATE_PER_TURN {
                    break;
                }
                let logical = info.logical_date();
                let run_id = format!("scheduled__{}", ops::iso(info.run_after));
                let store = &self.shared.store;
                let taken = store.run(&dag.dag_id, &run_id)?.is_some()
                    || store
                        .runs(&dag.dag_id)?
                        .iter()
                        .any(|r| r.logical_date == Some(logical));
                if !taken {
                    let mut run = DagRunRecord::manual(
                        &dag.dag_id,
                        run_id.clone(),
                        logical,
                        info.run_after,
                        serde_json::Map::new(),
                    );
                    run.run_type = "scheduled".to_owned();
                    run.data_interval_start = Some(info.data_interval.start);
                    run.data_interval_end = Some(info.data_interval.end);
                    store.put_run(&run)?;
                    store.flush()?;
                    writeln!(
                        std::io::stderr(),
                        "[scheduler] created run {run_id} ({})",
                        dag.dag_id
                    )?;
                    self.shared.emit(Event::DagRun {
                        dag_id: dag.dag_id.clone(),
                        run_id: run_id.clone(),
                        state: RunState::Queued.into(),
                    });
                    self.unfinished.insert((dag.dag_id.clone(), run_id), run);
                    created += 1;
                    n += 1;
                }
                self.last_scheduled
                    .insert(dag.dag_id.clone(), Some(info.data_interval));
                if let Some(d) = self.sched.get_mut(&dag.dag_id) {
                    d.next = None;
                }
            }
        }
        if changed {
            let next_runs = self
                .sched
                .iter()
                .filter_map(|(id, d)| d.next.map(|n| (id.clone(), n)))
                .collect();
            self.shared
                .dags
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .next_run = next_runs;
        }
        Ok((created, next_due))
    }

    fn backfill_limit(&mut self, id: &str) -> anyhow::Result<usize> {
        if !self.backfills.contains_key(id) {
            let rec = self.shared.store.backfill(id)?;
            self.backfills.insert(id.to_owned(), rec);
        }
        Ok(self
            .backfills
            .get(id)
            .and_then(|r| r.as_ref())
            .map_or(10, |r| r.max_active_runs as usize))
    }

    /// Starts queued runs (and recovers running ones) within their limits.
    fn start_runs(&mut self) -> anyhow::Result<usize> {
        let mut candidates: Vec<DagRunRecord> = self
            .unfinished
            .iter()
            .filter(|(k, _)| !self.active.contains_key(*k))
            .map(|(_, r)| r.clone())
            .collect();
        candidates.sort_by(|a, b| {
            (
                a.state != RunState::Running,
                a.run_after,
                a.logical_date,
                &a.run_id,
            )
                .cmp(&(
                    b.state != RunState::Running,
                    b.run_after,
                    b.logical_date,
                    &b.run_id,
                ))
        });
        let mut started = 0;
        for run in candidates {
            let Some(dag) = self.dag(&run.dag_id) else {
                continue;
            };
            let busy = self
                .active
                .iter()
                .filter(|((d, _), a)| d == &run.dag_id && a.backfill_id == run.backfill_id)
                .count();
            match &run.backfill_id {
                Some(id) => {
                    if busy >= self.backfill_limit(id)? {
                        continue;
                    }
                }
                None => {
                    if self.paused(&dag) || busy >= timetable::active_runs_limit(&dag) as usize {
                        continue;
                    }
                }
            }
            self.spawn(dag, run);
            started += 1;
        }
        Ok(started)
    }

    fn spawn(&mut self, dag: Arc<Dag>, run: DagRunRecord) {
        let key = (run.dag_id.clone(), run.run_id.clone());
        let _ = writeln!(
            std::io::stderr(),
            "[scheduler] {} run {} ({})",
            if run.state == RunState::Running {
                "recovering"
            } else {
                "starting"
            },
            run.run_id,
            run.dag_id
        );
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<RunEvent>();
        let shared = Arc::clone(&self.shared);
        let (dag_id, run_id) = key.clone();
        tokio::spawn(async move {
            while let Some(ev) = ev_rx.recv().await {
                shared.emit(run_event(&dag_id, &run_id, ev));
            }
        });
        self.shared.emit(Event::DagRun {
            dag_id: key.0.clone(),
            run_id: key.1.clone(),
            state: RunState::Running.into(),
        });
        let engine = Arc::clone(&self.engine);
        let k = key.clone();
        self.joins.spawn(async move {
            let result = engine
                .run_controlled(dag, &k.1, Some(ev_tx), Some(ctl_rx))
                .await;
            (k, result)
        });
        self.active.insert(
            key,
            ActiveRun {
                control: ctl_tx,
                backfill_id: run.backfill_id,
            },
        );
    }

    fn finished(
        &mut self,
        key: RunKey,
        result: anyhow::Result<DagRunRecord>,
    ) -> anyhow::Result<()> {
        self.active.remove(&key);
        let mut err = std::io::stderr();
        match result {
            Ok(run) if run.state.is_finished() => {
                writeln!(
                    err,
                    "[scheduler] run {} ({}) finished: {}",
                    key.1,
                    key.0,
                    run.state.name()
                )?;
                self.unfinished.remove(&key);
            }
            Ok(run) => {
                // Drained on shutdown (recovered by the next start) or set to queued
                // (started again); a deleted run is gone.
                if self.shared.store.run(&key.0, &key.1)?.is_some() {
                    self.unfinished.insert(key, run);
                } else {
                    self.unfinished.remove(&key);
                }
            }
            Err(e) => {
                writeln!(
                    err,
                    "[scheduler] run {} ({}) stopped: {e:#}; it is recovered on the next start",
                    key.1, key.0
                )?;
                self.unfinished.remove(&key);
            }
        }
        Ok(())
    }

    /// Whether the state database's filesystem has room for a state change (see
    /// [`crate::engine::STATE_SPACE_RESERVE`]).
    fn room(&self) -> Result<(), crate::engine::NoSpace> {
        crate::engine::check_space(&self.shared.settings.home.join("state"), 0)
    }

    /// Applies an API request and answers it; a user's change is recorded in the event
    /// log.
    fn handle(&mut self, req: Request) -> anyhow::Result<()> {
        match req {
            Request::Unaudited(req) => self.handle_as(*req, false),
            req => self.handle_as(req, true),
        }
    }

    /// [`Daemon::handle`]; `audited`: whether a change is recorded in the event log.
    fn handle_as(&mut self, req: Request, audited: bool) -> anyhow::Result<()> {
        let writes = match &req {
            // Unwrapped below.
            Request::Unaudited(_) => false,
            Request::Trigger { .. } | Request::SetPaused { .. } => true,
            Request::Clear { spec, .. } => !spec.dry_run,
            Request::Backfill { spec, .. } => !spec.dry_run,
            Request::DbClean { spec, .. } => !spec.dry_run,
            Request::SetTaskState { spec, .. } => !spec.dry_run,
            Request::SetRunState { .. } | Request::DeleteRun { .. } | Request::SetNote { .. } => {
                true
            }
        };
        if writes && let Err(e) = self.room() {
            // Refused before the state database sees a full disk; the answer names it.
            let refused = || OpError::NoSpace(e.clone());
            match req {
                Request::Trigger { reply, .. } => drop(reply.send(Err(refused()))),
                Request::SetPaused { reply, .. } => drop(reply.send(Err(refused()))),
                Request::Clear { reply, .. } => drop(reply.send(Err(refused()))),
                Request::Backfill { reply, .. } => drop(reply.send(Err(refused()))),
                Request::DbClean { reply, .. } => drop(reply.send(Err(refused()))),
                Request::SetRunState { reply, .. } => drop(reply.send(Err(refused()))),
                Request::DeleteRun { reply, .. } => drop(reply.send(Err(refused()))),
                Request::SetNote { reply, .. } => drop(reply.send(Err(refused()))),
                Request::SetTaskState { reply, .. } => drop(reply.send(Err(refused()))),
                Request::Unaudited(_) => {}
            }
            return Ok(());
        }
        let stopping = || OpError::Conflict("the scheduler is stopping".to_owned());
        let not_found = |id: &str| {
            OpError::NotFound(format!(
                "DAG `{id}` is not loaded (see `lithoflow dags list-import-errors`)"
            ))
        };
        match req {
            Request::Unaudited(req) => return self.handle_as(*req, false),
            Request::SetRunState {
                dag_id,
                run_id,
                state,
                reply,
            } => self.set_run_state((dag_id, run_id), state, reply, audited)?,
            Request::DeleteRun {
                dag_id,
                run_id,
                reply,
            } => self.delete_run((dag_id, run_id), reply, audited)?,
            Request::SetNote {
                dag_id,
                run_id,
                task,
                note,
                reply,
            } => self.set_note((dag_id, run_id), task, note, reply, audited)?,
            Request::SetTaskState {
                dag_id,
                spec,
                reply,
            } => self.set_task_state(dag_id, spec, reply, audited)?,
            Request::DbClean { spec, reply } => {
                // In the loop, which is the only writer of runs it does not hold: no run
                // can be created, cleared or started while the clean decides and removes.
                // Runs it holds (queued, running, or finishing) are left alone.
                let files = crate::retention::RunFiles::of(&self.shared.settings);
                let held = |dag: &str, run: &str| {
                    let key = (dag.to_owned(), run.to_owned());
                    self.unfinished.contains_key(&key) || self.active.contains_key(&key)
                };
                let result = crate::retention::clean(&self.shared.store, &files, &spec, &held);
                let _ = reply.send(result);
            }
            Request::Trigger { dag_id, req, reply } => {
                let result = match self.dag(&dag_id) {
                    None => Err(not_found(&dag_id)),
                    Some(_) if self.draining => Err(stopping()),
                    Some(dag) => ops::trigger(&self.shared.store, &dag, req, Utc::now()),
                };
                if let Ok(run) = &result {
                    self.shared.emit(Event::DagRun {
                        dag_id: dag_id.clone(),
                        run_id: run.run_id.clone(),
                        state: run.state.into(),
                    });
                    self.record(audited, writes::trigger_entry(run));
                    self.unfinished
                        .insert((dag_id, run.run_id.clone()), run.clone());
                }
                let _ = reply.send(result);
            }
            Request::SetPaused {
                dag_id,
                paused,
                reply,
            } => {
                let result = match self.dag(&dag_id) {
                    None => Err(not_found(&dag_id)),
                    Some(dag) => ops::set_paused(&self.shared.store, &dag, paused),
                };
                if result.is_ok() {
                    self.record(
                        audited,
                        writes::entry(ops::events::API_PATCH_DAG, &dag_id, None)
                            .with_extra(&serde_json::json!({ "is_paused": paused })),
                    );
                    if let Some(d) = self.sched.get_mut(&dag_id) {
                        d.paused = paused;
                        d.next = None;
                    }
                    self.shared.emit(Event::Dag {
                        dag_id,
                        is_paused: paused,
                    });
                }
                let _ = reply.send(result);
            }
            Request::Clear {
                dag_id,
                spec,
                reply,
            } => {
                let result = match self.dag(&dag_id) {
                    None => Err(not_found(&dag_id)),
                    Some(_) if self.draining && !spec.dry_run => Err(stopping()),
                    Some(dag) => self.clear(&dag, &spec),
                };
                if let Ok(cleared) = &result
                    && !spec.dry_run
                {
                    self.record(audited, writes::clear_entry(&dag_id, &spec, cleared.len()));
                }
                let _ = reply.send(result);
            }
            Request::Backfill {
                dag_id,
                spec,
                reply,
            } => {
                let result = match self.dag(&dag_id) {
                    None => Err(not_found(&dag_id)),
                    Some(_) if self.draining && !spec.dry_run => Err(stopping()),
                    Some(dag) => {
                        let r = ops::backfill(&self.shared.store, &dag, &spec, Utc::now());
                        if let Ok(outcome) = &r
                            && !spec.dry_run
                        {
                            self.record(audited, writes::backfill_entry(&dag_id, &spec, outcome));
                        }
                        if let Ok(outcome) = &r {
                            for row in outcome.runs.iter().filter(|r| r.action != "skip") {
                                if spec.dry_run {
                                    break;
                                }
                                if let Some(run) =
                                    self.shared.store.run(&dag_id, &row.dag_run_id)?
                                {
                                    self.shared.emit(Event::DagRun {
                                        dag_id: dag_id.clone(),
                                        run_id: run.run_id.clone(),
                                        state: run.state.into(),
                                    });
                                    self.unfinished
                                        .insert((dag_id.clone(), run.run_id.clone()), run);
                                }
                            }
                        }
                        r
                    }
                };
                let _ = reply.send(result);
            }
        }
        Ok(())
    }

    /// Clears task instances: runs in flight through their engine, the others in the
    /// store (their runs go back to queued).
    fn clear(&mut self, dag: &Dag, spec: &ops::ClearSpec) -> Result<Vec<ops::ClearedTi>, OpError> {
        let targets = ops::clear_targets(&self.shared.store, dag, spec)?;
        let listed: Vec<ops::ClearedTi> = targets
            .iter()
            .flat_map(|(run, tis)| {
                tis.iter().map(|ti| ops::ClearedTi {
                    dag_run_id: run.run_id.clone(),
                    task_id: ti.task_id.clone(),
                    map_index: ti.map_index,
                    state: ti.state,
                })
            })
            .collect();
        if spec.dry_run {
            return Ok(listed);
        }
        let mut stored = Vec::new();
        for (run, tis) in targets {
            let key = (dag.dag_id.clone(), run.run_id.clone());
            if let Some(active) = self.active.get(&key) {
                let ids = tis.iter().map(|t| t.task_id.clone()).collect();
                let _ = active.control.send(RunControl::Clear(ids));
            } else {
                stored.push((run, tis));
            }
        }
        let runs: Vec<String> = stored.iter().map(|(r, _)| r.run_id.clone()).collect();
        for (run, tis) in &stored {
            for ti in tis {
                self.shared.emit(Event::TaskInstance {
                    dag_id: dag.dag_id.clone(),
                    run_id: run.run_id.clone(),
                    task_id: ti.task_id.clone(),
                    map_index: ti.map_index,
                    state: crate::store::TaskState::None.into(),
                    try_number: ti.try_number,
                });
            }
        }
        ops::apply_clear(&self.shared.store, dag, stored)?;
        for run_id in runs {
            if let Some(run) = self.shared.store.run(&dag.dag_id, &run_id)? {
                self.shared.emit(Event::DagRun {
                    dag_id: dag.dag_id.clone(),
                    run_id: run_id.clone(),
                    state: run.state.into(),
                });
                self.unfinished.insert((dag.dag_id.clone(), run_id), run);
            }
        }
        Ok(listed)
    }
}

/// A run's engine event as an API event.
fn run_event(dag_id: &str, run_id: &str, ev: RunEvent) -> Event {
    match ev {
        RunEvent::Task {
            task_id,
            map_index,
            state,
            try_number,
        } => Event::TaskInstance {
            dag_id: dag_id.to_owned(),
            run_id: run_id.to_owned(),
            task_id,
            map_index,
            state: state.into(),
            try_number,
        },
        RunEvent::Progress {
            task_id,
            map_index,
            progress,
        } => Event::Progress {
            dag_id: dag_id.to_owned(),
            run_id: run_id.to_owned(),
            task_id,
            map_index,
            phase: progress.phase.to_owned(),
            total: progress.total,
            done: progress.done,
            failed: progress.failed,
            running: progress.running,
        },
        RunEvent::Finished(state) => Event::DagRun {
            dag_id: dag_id.to_owned(),
            run_id: run_id.to_owned(),
            state: state.into(),
        },
    }
}

/// Runs a backfill's runs in this process (which holds the store: no scheduler does),
/// at most `max_active_runs` at once, oldest first; exit 1 if any failed.
///
/// The store is the one the backfill was planned with: closing sled and opening it again
/// raced with sled's flusher thread, which lets go of the database's lock only some time
/// after the last handle is dropped (a busy machine saw "could not acquire lock").
pub(crate) async fn run_backfill_here(
    dag: Dag,
    settings: &Settings,
    store: Arc<Store>,
    run_ids: Vec<String>,
    max_active_runs: u32,
) -> anyhow::Result<Outcome> {
    let (executor, engine) = start_engine(settings, &store, false).await?;
    let dag = Arc::new(dag);
    let mut pending: std::collections::VecDeque<String> = run_ids.into();
    let mut joins: JoinSet<(String, anyhow::Result<DagRunRecord>)> = JoinSet::new();
    let mut failed = 0;
    let mut err = std::io::stderr();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        while joins.len() < max_active_runs.max(1) as usize {
            let Some(run_id) = pending.pop_front() else {
                break;
            };
            writeln!(err, "[backfill] starting run {run_id}")?;
            let (engine, dag) = (Arc::clone(&engine), Arc::clone(&dag));
            joins.spawn(async move {
                let r = engine.run(dag, &run_id, None).await;
                (run_id, r)
            });
        }
        tokio::select! {
            joined = joins.join_next() => match joined {
                None => break,
                Some(Ok((run_id, Ok(run)))) => {
                    writeln!(err, "[backfill] run {run_id} finished: {}", run.state.name())?;
                    if run.state != RunState::Success {
                        failed += 1;
                    }
                }
                Some(Ok((run_id, Err(e)))) => {
                    writeln!(err, "[backfill] run {run_id} stopped: {e:#}")?;
                    failed += 1;
                }
                Some(Err(_)) => failed += 1,
            },
            () = &mut stop => {
                writeln!(err, "[backfill] interrupted; the queued runs are run by `lithoflow scheduler`")?;
                joins.abort_all();
                break;
            }
        }
    }
    executor.settle().await;
    executor.shutdown();
    store.flush()?;
    Ok(if failed > 0 {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
