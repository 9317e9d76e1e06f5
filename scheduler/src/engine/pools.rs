//! Pools and priority: the slot arbiter one [`super::Engine`] shares between all its runs.
//!
//! A task instance whose trigger rule lets it run asks for `pool_slots` slots of its
//! pool (state `scheduled` while it waits). Waiting requests of every run and DAG are
//! granted in Airflow's scheduler order (2.10's `_executable_task_instances_to_queued` in
//! `airflow/jobs/scheduler_job_runner.py`): the effective priority weight, highest
//! first, then the run's logical date, then the map index, then the order of asking.
//! A request is passed over, without blocking the ones behind it, when its pool does not
//! exist (a warning, as Airflow's "Tasks using non-existent pool"), has no open slot,
//! has fewer slots in all than it asks for (a warning), or fewer open than it asks for;
//! when its run already has `max_active_tasks` instances holding slots (per run, as
//! Airflow 3 and lithoflow's docs); or when its task already has
//! `max_active_tis_per_dag` instances holding slots across all runs of the DAG.
//!
//! A grant is a [`SlotGuard`], held while the try runs (it is moved into the try's
//! future) and released when it is dropped; every release, request and pool change
//! grants again at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::mapping::TiKey;
use crate::store::{DagRunRecord, PoolRecord, Store};
use lithoflow_dag::{Dag, Task};

/// A granted slot request, sent to the run that asked.
pub(crate) struct Grant {
    key: TiKey,
    guard: SlotGuard,
}

/// Slots held by one try; released when dropped.
pub(crate) struct SlotGuard {
    arbiter: Arc<Arbiter>,
    holder: Holder,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.arbiter.release(&self.holder);
    }
}

/// What a granted request holds.
#[derive(Debug, Clone)]
struct Holder {
    pool: String,
    slots: i64,
    dag_id: String,
    run_id: String,
    task_id: String,
    map_index: i32,
}

/// One waiting request.
#[derive(Debug, Clone)]
struct Request {
    /// The run that asked ([`RunSlots::handle`]).
    run: u64,
    holder: Holder,
    weight: i64,
    logical: DateTime<Utc>,
    seq: u64,
    run_limit: u32,
    task_limit: Option<u64>,
}

impl Request {
    /// Airflow's order: `-priority_weight, execution_date, map_index` (then first asked).
    fn order(&self) -> (i64, DateTime<Utc>, i32, u64) {
        (-self.weight, self.logical, self.holder.map_index, self.seq)
    }
}

/// Why a waiting task instance has not got its slots yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    /// The task.
    pub task_id: String,
    /// The instance's map index (-1: unmapped).
    pub map_index: i32,
    /// Its pool.
    pub pool: String,
    /// The slots it asks for.
    pub slots: i64,
    /// Requests for the same pool granted before it would be (all runs and DAGs).
    pub ahead: usize,
    /// The dependency that holds it, by Airflow's name ("Pool Slots Available", "Task
    /// Concurrency", ...).
    pub dependency: &'static str,
    /// Why, in Airflow's words.
    pub reason: String,
}

/// The slots a pool has in use and waited for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PoolUse {
    /// Slots held by running tries.
    pub running: i64,
    /// Slots asked for by scheduled task instances.
    pub scheduled: i64,
}

#[derive(Default)]
struct State {
    pools: HashMap<String, PoolRecord>,
    held_pool: HashMap<String, i64>,
    held_run: HashMap<(String, String), u32>,
    held_task: HashMap<(String, String), u64>,
    pending: Vec<Request>,
    runs: HashMap<u64, mpsc::UnboundedSender<Grant>>,
    next_handle: u64,
    seq: u64,
    /// Pools already warned about (missing, or smaller than a request), with the warning.
    warned: HashSet<String>,
}

/// The engine-wide slot arbiter.
pub(crate) struct Arbiter {
    store: Arc<Store>,
    state: Mutex<State>,
}

impl Arbiter {
    /// An arbiter over the pools in `store`.
    pub(crate) fn new(store: Arc<Store>) -> Arc<Arbiter> {
        let arbiter = Arc::new(Arbiter {
            store,
            state: Mutex::new(State::default()),
        });
        arbiter.load_pools();
        arbiter
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn load_pools(&self) {
        match self.store.pools() {
            Ok(pools) => {
                let mut st = self.lock();
                st.pools = pools.into_iter().map(|p| (p.name.clone(), p)).collect();
                st.warned.clear();
            }
            Err(e) => {
                tracing::error!(error = %e, "failed to read the pools; keeping the ones read before")
            }
        }
    }

    /// Reads the pools again (a pool was set or deleted) and grants what now fits.
    pub(crate) fn reload(self: &Arc<Self>) {
        self.load_pools();
        self.grant(None);
    }

    /// The slots each pool has held and waited for.
    pub(crate) fn usage(&self) -> BTreeMap<String, PoolUse> {
        let st = self.lock();
        let mut out: BTreeMap<String, PoolUse> = BTreeMap::new();
        for (pool, n) in &st.held_pool {
            out.entry(pool.clone()).or_default().running += n;
        }
        for r in &st.pending {
            out.entry(r.holder.pool.clone()).or_default().scheduled += r.holder.slots;
        }
        out
    }

    /// The task instances of a run waiting for slots, and why.
    pub(crate) fn waiting(&self, dag_id: &str, run_id: &str) -> Vec<Waiting> {
        let st = self.lock();
        let mut order: Vec<&Request> = st.pending.iter().collect();
        order.sort_by_key(|r| r.order());
        // One pass: how many of each pool come before each request.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for r in order {
            let h = &r.holder;
            let ahead = seen.entry(h.pool.as_str()).or_default();
            if h.dag_id == dag_id && h.run_id == run_id {
                let (dependency, reason) = st.why_waiting(r);
                out.push(Waiting {
                    task_id: h.task_id.clone(),
                    map_index: h.map_index,
                    pool: h.pool.clone(),
                    slots: h.slots,
                    ahead: *ahead,
                    dependency,
                    reason,
                });
            }
            *ahead += 1;
        }
        out
    }

    /// Registers a run; its grants arrive on the returned receiver.
    fn register(&self) -> (u64, mpsc::UnboundedReceiver<Grant>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        st.next_handle += 1;
        let handle = st.next_handle;
        st.runs.insert(handle, tx);
        (handle, rx)
    }

    /// Forgets a run and its waiting requests.
    fn forget(self: &Arc<Self>, handle: u64) {
        let mut st = self.lock();
        st.runs.remove(&handle);
        st.pending.retain(|r| r.run != handle);
    }

    /// Withdraws a run's waiting request for a task.
    fn withdraw(&self, handle: u64, key: &TiKey) {
        self.lock().pending.retain(|r| {
            !(r.run == handle
                && r.holder.task_id == key.task_id
                && r.holder.map_index == key.map_index)
        });
    }

    /// Adds requests and grants what fits; the grants of run `caller` are returned, the
    /// others sent to their runs.
    fn submit(self: &Arc<Self>, caller: u64, mut requests: Vec<Request>) -> Vec<Grant> {
        {
            let mut st = self.lock();
            for r in &mut requests {
                st.seq += 1;
                r.seq = st.seq;
            }
            st.pending.extend(requests);
        }
        self.grant(Some(caller))
    }

    fn release(self: &Arc<Self>, h: &Holder) {
        {
            let mut st = self.lock();
            dec(&mut st.held_pool, &h.pool, h.slots);
            dec(&mut st.held_run, &(h.dag_id.clone(), h.run_id.clone()), 1);
            dec(&mut st.held_task, &(h.dag_id.clone(), h.task_id.clone()), 1);
        }
        self.grant(None);
    }

    /// Grants waiting requests in Airflow's order while they fit. Grants for `caller`
    /// are returned; the others are sent (a run gone drops its grant, which releases it).
    fn grant(self: &Arc<Self>, caller: Option<u64>) -> Vec<Grant> {
        let mut mine = Vec::new();
        let mut sends = Vec::new();
        {
            let mut st = self.lock();
            st.pending.sort_by_key(Request::order);
            let pending = std::mem::take(&mut st.pending);
            let mut keep = Vec::with_capacity(pending.len());
            for r in pending {
                if !st.fits(&r) {
                    st.warn_once(&r);
                    keep.push(r);
                    continue;
                }
                let h = &r.holder;
                *st.held_pool.entry(h.pool.clone()).or_default() += h.slots;
                *st.held_run
                    .entry((h.dag_id.clone(), h.run_id.clone()))
                    .or_default() += 1;
                *st.held_task
                    .entry((h.dag_id.clone(), h.task_id.clone()))
                    .or_default() += 1;
                let grant = Grant {
                    key: TiKey::new(&h.task_id, h.map_index),
                    guard: SlotGuard {
                        arbiter: Arc::clone(self),
                        holder: r.holder.clone(),
                    },
                };
                if Some(r.run) == caller {
                    mine.push(grant);
                } else {
                    sends.push((st.runs.get(&r.run).cloned(), grant));
                }
            }
            st.pending = keep;
        }
        // Outside the lock: a grant that cannot be delivered is dropped, and its guard
        // releases the slots (granting again).
        for (tx, grant) in sends {
            if let Some(tx) = tx {
                let _ = tx.send(grant);
            }
        }
        mine
    }
}

impl State {
    /// The open slots of a pool; None: no such pool. -1 slots is unlimited.
    fn open(&self, pool: &str) -> Option<i64> {
        let p = self.pools.get(pool)?;
        if p.slots < 0 {
            return Some(i64::MAX);
        }
        Some(p.slots - self.held_pool.get(pool).copied().unwrap_or(0))
    }

    fn fits(&self, r: &Request) -> bool {
        let h = &r.holder;
        let Some(open) = self.open(&h.pool) else {
            return false;
        };
        let total = self.pools.get(&h.pool).map_or(0, |p| p.slots);
        if open <= 0 || (total >= 0 && h.slots > total) || h.slots > open {
            return false;
        }
        let run_held = self
            .held_run
            .get(&(h.dag_id.clone(), h.run_id.clone()))
            .copied()
            .unwrap_or(0);
        if run_held >= r.run_limit {
            return false;
        }
        let task_held = self
            .held_task
            .get(&(h.dag_id.clone(), h.task_id.clone()))
            .copied()
            .unwrap_or(0);
        r.task_limit.is_none_or(|limit| task_held < limit)
    }

    /// Why a request waits, as Airflow's task instance dependencies say it
    /// (`airflow/ti_deps/deps/`): the dependency's name and the reason.
    fn why_waiting(&self, r: &Request) -> (&'static str, String) {
        const POOL: &str = "Pool Slots Available";
        let h = &r.holder;
        let Some(open) = self.open(&h.pool) else {
            return (
                POOL,
                format!(
                    "Tasks using non-existent pool '{}' will not be scheduled",
                    h.pool
                ),
            );
        };
        let total = self.pools.get(&h.pool).map_or(0, |p| p.slots);
        if total >= 0 && h.slots > total {
            return (
                POOL,
                format!(
                    "Requested pool slots ({}) are greater than total pool slots: '{total}' for pool: {}",
                    h.slots, h.pool
                ),
            );
        }
        if h.slots > open {
            return (
                POOL,
                format!(
                    "Not scheduling since there are {} open slots in pool {} and require {} pool slots",
                    open.max(0),
                    h.pool,
                    h.slots
                ),
            );
        }
        let run_held = self
            .held_run
            .get(&(h.dag_id.clone(), h.run_id.clone()))
            .copied()
            .unwrap_or(0);
        if run_held >= r.run_limit {
            return (
                "Task Instance Slots Available",
                format!(
                    "The maximum number of running tasks ({}) for this task's DAG run has been reached.",
                    r.run_limit
                ),
            );
        }
        if r.task_limit.is_some() {
            return (
                "Task Concurrency",
                "The max task concurrency has been reached.".to_owned(),
            );
        }
        (
            POOL,
            format!(
                "Waiting for the scheduler to grant a slot in pool {}",
                h.pool
            ),
        )
    }

    fn warn_once(&mut self, r: &Request) {
        let h = &r.holder;
        match self.pools.get(&h.pool) {
            None => {
                if self.warned.insert(format!("missing\0{}", h.pool)) {
                    tracing::warn!(pool = %h.pool, dag = %h.dag_id, task = %h.task_id, "Tasks using non-existent pool '{}' will not be scheduled; create it with `lithoflow pools set`", h.pool);
                }
            }
            Some(p) if p.slots >= 0 && h.slots > p.slots => {
                if self
                    .warned
                    .insert(format!("small\0{}\0{}", h.pool, h.slots))
                {
                    tracing::warn!(pool = %h.pool, dag = %h.dag_id, task = %h.task_id, "Not executing {}.{}: requested pool slots ({}) are greater than total pool slots ({}) of pool {}", h.dag_id, h.task_id, h.slots, p.slots, h.pool);
                }
            }
            Some(_) => {}
        }
    }
}

fn dec<K: std::hash::Hash + Eq + Clone, V>(map: &mut HashMap<K, V>, k: &K, by: V)
where
    V: std::ops::SubAssign + PartialOrd + Default + Copy,
{
    if let Some(v) = map.get_mut(k) {
        *v -= by;
        if *v <= V::default() {
            map.remove(k);
        }
    }
}

/// A request a task instance makes again, on its own (a reschedule-mode sensor holds no
/// slot between pokes, as Airflow's `up_for_reschedule` counts in no pool).
pub(crate) struct SlotsAgain {
    arbiter: Arc<Arbiter>,
    request: Request,
}

/// A registration with the arbiter, forgotten (its waiting request withdrawn) when
/// dropped: a sensor stopped while it waits for its slot leaves nothing behind.
struct Registration {
    arbiter: Arc<Arbiter>,
    handle: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.arbiter.forget(self.handle);
    }
}

impl SlotsAgain {
    /// Waits for the slots, granted in Airflow's order among every waiting request.
    pub(crate) async fn take(&self) -> SlotGuard {
        let (handle, mut rx) = self.arbiter.register();
        let _registered = Registration {
            arbiter: Arc::clone(&self.arbiter),
            handle,
        };
        let mut request = self.request.clone();
        request.run = handle;
        if let Some(grant) = self.arbiter.submit(handle, vec![request]).pop() {
            return grant.guard;
        }
        match rx.recv().await {
            Some(grant) => grant.guard,
            // The arbiter is gone (the engine with it): nothing is ever granted.
            None => std::future::pending().await,
        }
    }
}

/// One run's side of the arbiter: what it waits for and what it was granted.
pub(super) struct RunSlots {
    arbiter: Option<Arc<Arbiter>>,
    handle: u64,
    rx: Option<mpsc::UnboundedReceiver<Grant>>,
    weights: BTreeMap<String, i64>,
    dag_id: String,
    run_id: String,
    logical: DateTime<Utc>,
    run_limit: u32,
    /// Asked for in this decision pass, not yet submitted.
    wants: Vec<TiKey>,
    pending: HashSet<TiKey>,
    granted: HashMap<TiKey, SlotGuard>,
}

impl RunSlots {
    /// A run's slots through `arbiter` (None: tasks run without pools, as `dags test`).
    pub(super) fn new(arbiter: Option<Arc<Arbiter>>, dag: &Dag, run: &DagRunRecord) -> RunSlots {
        let (handle, rx) = match &arbiter {
            Some(a) => {
                let (h, rx) = a.register();
                (h, Some(rx))
            }
            None => (0, None),
        };
        RunSlots {
            weights: if arbiter.is_some() {
                lithoflow_dag::priority::effective_weights(dag)
            } else {
                BTreeMap::new()
            },
            arbiter,
            handle,
            rx,
            dag_id: dag.dag_id.clone(),
            run_id: run.run_id.clone(),
            logical: run.logical_date.unwrap_or(run.run_after),
            run_limit: dag.max_active_tasks,
            wants: Vec::new(),
            pending: HashSet::new(),
            granted: HashMap::new(),
        }
    }

    /// Whether `task` may start now: it holds a grant (or there are no pools). Otherwise
    /// it is asked for at the end of the pass ([`RunSlots::submit`]).
    pub(super) fn ready(&mut self, task: &Task, key: &TiKey) -> bool {
        debug_assert_eq!(task.task_id, key.task_id);
        if self.arbiter.is_none() || self.granted.contains_key(key) {
            return true;
        }
        if !self.pending.contains(key) && !self.wants.contains(key) {
            self.wants.push(key.clone());
        }
        false
    }

    /// The request of an instance of `t`.
    fn request(&self, t: &Task, map_index: i32) -> Request {
        Request {
            run: self.handle,
            holder: Holder {
                pool: t.pool.clone(),
                slots: t.pool_slots,
                dag_id: self.dag_id.clone(),
                run_id: self.run_id.clone(),
                task_id: t.task_id.clone(),
                map_index,
            },
            weight: self
                .weights
                .get(&t.task_id)
                .copied()
                .unwrap_or(t.priority_weight),
            logical: self.logical,
            seq: 0,
            run_limit: self.run_limit,
            task_limit: t.max_active_tis_per_dag,
        }
    }

    /// How an instance of `t` asks for its slots again after giving them back (a
    /// reschedule-mode sensor between pokes); None without pools.
    pub(super) fn again(&self, t: &Task, map_index: i32) -> Option<SlotsAgain> {
        Some(SlotsAgain {
            arbiter: Arc::clone(self.arbiter.as_ref()?),
            request: self.request(t, map_index),
        })
    }

    /// Asks for the slots of the tasks found ready in this pass, all at once so that
    /// their priorities are compared: the tasks granted at once, and the ones that now
    /// wait (to be recorded `scheduled`).
    pub(super) fn submit(&mut self, dag: &Dag) -> (Vec<TiKey>, Vec<TiKey>) {
        let Some(arbiter) = self.arbiter.clone() else {
            return (Vec::new(), Vec::new());
        };
        let wants = std::mem::take(&mut self.wants);
        let requests: Vec<Request> = wants
            .iter()
            .filter_map(|k| Some((dag.task(&k.task_id)?, k.map_index)))
            .map(|(t, map_index)| self.request(t, map_index))
            .collect();
        self.pending.extend(wants.iter().cloned());
        let mut now = Vec::new();
        for g in arbiter.submit(self.handle, requests) {
            now.push(g.key.clone());
            self.pending.remove(&g.key);
            self.granted.insert(g.key, g.guard);
        }
        let waiting = wants.into_iter().filter(|w| !now.contains(w)).collect();
        (now, waiting)
    }

    /// The next grant for this run (never, without pools).
    pub(super) async fn next_grant(&mut self) -> Grant {
        match self.rx.as_mut() {
            Some(rx) => match rx.recv().await {
                Some(g) => g,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// A grant arrived: kept if the task still waits for it, else released.
    pub(super) fn on_grant(&mut self, grant: Grant) {
        if self.pending.remove(&grant.key) {
            self.granted.insert(grant.key, grant.guard);
        }
    }

    /// The slots a task is to run with (None without pools).
    pub(super) fn take(&mut self, key: &TiKey) -> Option<SlotGuard> {
        self.granted.remove(key)
    }

    /// The task no longer waits (it was cleared).
    pub(super) fn cancel(&mut self, key: &TiKey) {
        self.granted.remove(key);
        if self.pending.remove(key)
            && let Some(a) = &self.arbiter
        {
            a.withdraw(self.handle, key);
        }
    }

    /// Nothing of this run waits any more (a drain).
    pub(super) fn cancel_all(&mut self) {
        let ids: Vec<TiKey> = self.pending.iter().cloned().collect();
        for id in ids {
            self.cancel(&id);
        }
        self.granted.clear();
    }

    /// How many other instances of `key`'s task asked for slots (waiting, or granted
    /// and not yet started).
    pub(super) fn asked_for(&self, key: &TiKey) -> usize {
        let other = |k: &&TiKey| k.task_id == key.task_id && *k != key;
        self.wants.iter().filter(other).count()
            + self.pending.iter().filter(other).count()
            + self.granted.keys().filter(other).count()
    }

    /// Whether some task instance waits for slots (the run is not deadlocked).
    pub(super) fn waiting(&self) -> bool {
        !self.pending.is_empty() || !self.granted.is_empty()
    }
}

impl Drop for RunSlots {
    fn drop(&mut self) {
        if let Some(a) = &self.arbiter {
            a.forget(self.handle);
        }
    }
}
