//! Pools over the API: bodies shaped like Airflow 2's stable REST API v1
//! (`airflow/api_connexion/openapi/v1.yaml` in Airflow 2.10.5: `Pool`, `PoolCollection`)
//! and the [`Client`]'s methods for them.

use hyper::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Client, ClientError, segment};

/// A pool as answered (`GET /pools/{name}`), with its slot counts at the moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Its name.
    pub name: String,
    /// How many slots it has; -1: unlimited.
    #[serde(default)]
    pub slots: i64,
    /// Slots of running and queued task instances (and deferred ones with
    /// `include_deferred`).
    #[serde(default)]
    pub occupied_slots: i64,
    /// Slots of running task instances.
    #[serde(default)]
    pub running_slots: i64,
    /// Slots of queued task instances.
    #[serde(default)]
    pub queued_slots: i64,
    /// Slots asked for by scheduled task instances, waiting.
    #[serde(default)]
    pub scheduled_slots: i64,
    /// Slots of deferred task instances.
    #[serde(default)]
    pub deferred_slots: i64,
    /// Free slots (`slots - occupied_slots`; -1 for an unlimited pool, as Airflow).
    #[serde(default)]
    pub open_slots: i64,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether deferred task instances take slots.
    #[serde(default)]
    pub include_deferred: bool,
}

/// The body of `POST /pools` (and of a whole `PATCH`): what a client may set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolBody {
    /// Its name.
    pub name: String,
    /// How many slots it has; -1: unlimited.
    pub slots: i64,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether deferred task instances take slots.
    #[serde(default)]
    pub include_deferred: bool,
}

/// `GET /pools`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCollection {
    /// This page.
    #[serde(default)]
    pub pools: Vec<Pool>,
    /// How many there are in all.
    #[serde(default)]
    pub total_entries: usize,
}

impl Client {
    /// Every pool (all pages), by name.
    pub async fn pools(&self) -> Result<Vec<Pool>, ClientError> {
        self.pages("/pools?order_by=name", usize::MAX, |c: PoolCollection| {
            (c.pools, c.total_entries)
        })
        .await
        .map(|(v, _)| v)
    }

    /// One pool.
    pub async fn pool(&self, name: &str) -> Result<Pool, ClientError> {
        self.get(&format!("/pools/{}", segment(name))).await
    }

    /// Creates a pool (`POST /pools`; 409 when the name is taken).
    pub async fn add_pool(&self, pool: &PoolBody) -> Result<Pool, ClientError> {
        self.json(Method::POST, "/pools", Some(pool)).await
    }

    /// Replaces a pool's slots, description and `include_deferred` (`PATCH`).
    pub async fn update_pool(&self, pool: &PoolBody) -> Result<Pool, ClientError> {
        self.json(
            Method::PATCH,
            &format!(
                "/pools/{}?update_mask=slots,description,include_deferred",
                segment(&pool.name)
            ),
            Some(pool),
        )
        .await
    }

    /// Deletes a pool.
    pub async fn delete_pool(&self, name: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, &format!("/pools/{}", segment(name)), None)
            .await
            .map(|_| ())
    }
}

/// A dependency a task instance does not meet (Airflow 2.10's `TaskFailedDependency`):
/// a scheduled instance waiting for pool slots says so here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailedDependency {
    /// Airflow's name of the dependency ("Pool Slots Available", "Task Concurrency",
    /// "Task Instance Slots Available").
    pub name: String,
    /// Why it is not met, in Airflow's words.
    pub reason: String,
    /// The pool the instance waits for (lithoflow's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// How many waiting instances of that pool (all runs and DAGs) come before it
    /// (lithoflow's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead: Option<usize>,
}

/// `GET .../taskInstances/{task_id}/dependencies`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInstanceDependencyCollection {
    /// The dependencies not met.
    #[serde(default)]
    pub dependencies: Vec<TaskFailedDependency>,
}

impl Client {
    /// The dependencies a task instance does not meet (a pool slot it waits for).
    pub async fn ti_dependencies(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<TaskInstanceDependencyCollection, ClientError> {
        self.get(&format!(
            "/dags/{}/dagRuns/{}/taskInstances/{}/dependencies",
            segment(dag_id),
            segment(run_id),
            segment(task_id)
        ))
        .await
    }
}
