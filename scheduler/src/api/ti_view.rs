//! How a task instance record becomes Airflow's `TaskInstance` body: the fields its
//! record holds, and those Airflow's schema has that come from the loaded task (`pool`,
//! `pool_slots`, the effective `priority_weight`, `operator`) or from the machine the
//! tries ran on (`hostname`, `unixname`), as Airflow 2.10's `TaskInstanceSchema`
//! (`api_connexion/schemas/task_instance_schema.py`) and Airflow 3.1's
//! `TaskInstanceResponse` show them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use crate::control::Shared;
use crate::store::{DagRunRecord, TaskInstanceRecord};
use lithoflow_dag::Dag;

/// The facts of one DAG's tasks a task instance body needs.
pub(crate) struct DagFacts {
    dag: Option<Arc<Dag>>,
    weights: BTreeMap<String, i64>,
}

impl DagFacts {
    /// The facts of `dag` (None: the DAG is no longer loaded; the task's fields then
    /// take Airflow's defaults).
    pub(crate) fn new(dag: Option<Arc<Dag>>) -> DagFacts {
        let weights = dag
            .as_deref()
            .map(lithoflow_dag::priority::effective_weights)
            .unwrap_or_default();
        DagFacts { dag, weights }
    }

    /// The body of `ti` of `run` (without its return value and live progress).
    pub(crate) fn body(
        &self,
        run: &DagRunRecord,
        ti: &TaskInstanceRecord,
    ) -> lithoflow_api::TaskInstance {
        let task = self.dag.as_ref().and_then(|d| d.task(&ti.task_id));
        let mut out = super::wire::task_instance(
            run,
            ti,
            super::lookup::operator(self.dag.as_ref(), &ti.task_id),
        );
        out.execution_date = Some(run.logical_date.unwrap_or(run.run_after));
        out.task_display_name = ti.task_id.clone();
        // Airflow records the host when a try starts; before the first, "".
        let (host, user) = machine();
        if ti.try_number > 0 {
            out.hostname = host.to_owned();
        }
        out.unixname = user.to_owned();
        out.pool = task.map_or_else(|| "default_pool".to_owned(), |t| t.pool.clone());
        out.pool_slots = task.map_or(1, |t| t.pool_slots);
        out.priority_weight = Some(self.weights.get(&ti.task_id).copied().unwrap_or(1));
        out.queue = Some("default".to_owned());
        out.executor_config = "{}".to_owned();
        out.note = ti.note.clone();
        out
    }
}

/// The facts of every DAG a listing across DAGs meets, built once per DAG.
pub(crate) struct FactsBook<'a> {
    shared: &'a Shared,
    by_dag: HashMap<String, DagFacts>,
}

impl<'a> FactsBook<'a> {
    pub(crate) fn new(shared: &'a Shared) -> FactsBook<'a> {
        FactsBook {
            shared,
            by_dag: HashMap::new(),
        }
    }

    /// The facts of `dag_id`.
    pub(crate) fn of(&mut self, dag_id: &str) -> &DagFacts {
        let shared = self.shared;
        self.by_dag
            .entry(dag_id.to_owned())
            .or_insert_with(|| DagFacts::new(shared.dag(dag_id)))
    }
}

/// This machine's host name and the OS user the scheduler (and its local workers) run
/// as, read once.
pub(crate) fn machine() -> (&'static str, &'static str) {
    static MACHINE: OnceLock<(String, String)> = OnceLock::new();
    let (h, u) = MACHINE.get_or_init(|| {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_default();
        (host, user)
    });
    (h, u)
}
