//! `trigger_dag_run` tasks (Airflow's `TriggerDagRunOperator`,
//! airflow/operators/trigger_dagrun.py 2.10; Airflow 3's standard provider): the new run
//! is created by whoever owns run creation, through a [`RunCreator`]. Under
//! `lithoflow scheduler` that is the scheduler's loop ([`DaemonRuns`] sends it the same
//! request as `POST /api/v1/dags/{dag_id}/dagRuns`); under `lithoflow dags test` there is
//! none, and the task fails saying so. With `wait_for_completion` the try then reads the
//! triggered run's state from the store every `poke_interval`, on a timer, holding no
//! worker.

use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::sensor::{Waiting, blocking};
use super::{TryInput, TryOutput};
use crate::control::Request;
use crate::ops::{ClearSpec, OpError, TriggerRequest, iso};
use crate::store::DagRunRecord;
use crate::taskrun::TaskError;
use lithoflow_dag::TriggerDagRunSpec;

/// Who creates and clears runs for trigger_dag_run tasks.
pub(crate) trait RunCreator: Send + Sync + 'static {
    /// Creates a queued run of `dag_id` (as `lithoflow dags trigger`).
    fn trigger(
        &self,
        dag_id: String,
        req: TriggerRequest,
    ) -> BoxFuture<'static, Result<DagRunRecord, OpError>>;

    /// Clears every task instance of a run, so that it runs again (`reset_dag_run`).
    fn reset(&self, dag_id: String, run_id: String) -> BoxFuture<'static, Result<(), OpError>>;
}

/// The scheduler's loop as a [`RunCreator`]: requests on its request channel.
pub(crate) struct DaemonRuns(pub mpsc::Sender<Request>);

impl DaemonRuns {
    async fn ask<T>(
        requests: mpsc::Sender<Request>,
        make: impl FnOnce(oneshot::Sender<Result<T, OpError>>) -> Request,
    ) -> Result<T, OpError> {
        let (reply, answer) = oneshot::channel();
        let stopping = || OpError::Conflict("the scheduler is stopping".to_owned());
        requests.send(make(reply)).await.map_err(|_| stopping())?;
        answer.await.map_err(|_| stopping())?
    }
}

impl RunCreator for DaemonRuns {
    fn trigger(
        &self,
        dag_id: String,
        req: TriggerRequest,
    ) -> BoxFuture<'static, Result<DagRunRecord, OpError>> {
        let requests = self.0.clone();
        // Not a user's action: not in the event log (Airflow's operator records none).
        Box::pin(Self::ask(requests, move |reply| {
            Request::Unaudited(Box::new(Request::Trigger { dag_id, req, reply }))
        }))
    }

    fn reset(&self, dag_id: String, run_id: String) -> BoxFuture<'static, Result<(), OpError>> {
        let requests = self.0.clone();
        Box::pin(async move {
            Self::ask(requests, move |reply| {
                Request::Unaudited(Box::new(Request::Clear {
                    dag_id,
                    spec: ClearSpec {
                        run_id: Some(run_id),
                        ..ClearSpec::default()
                    },
                    reply,
                }))
            })
            .await
            .map(|_| ())
        })
    }
}

/// Runs a trigger_dag_run try.
pub(super) async fn run(w: &Waiting, spec: &TriggerDagRunSpec, input: TryInput) -> TryOutput {
    match trigger(w, spec, &input).await {
        Ok(v) => TryOutput {
            value: Ok(v),
            job: None,
            output: None,
        },
        Err(e) => TryOutput::failed(e),
    }
}

async fn trigger(
    w: &Waiting,
    spec: &TriggerDagRunSpec,
    input: &TryInput,
) -> Result<Value, TaskError> {
    let target = &spec.trigger_dag_id;
    let Some(runs) = &w.runs else {
        return Err(TaskError::Input(format!(
            "trigger_dag_run creates a run of `{target}` through the scheduler, and none runs here: run this DAG under `lithoflow scheduler` (`lithoflow dags test` cannot create or run other DAGs' runs; test `{target}` on its own with `lithoflow dags test {target}`)"
        )));
    };
    let task_id = &input.task.task_id;
    // This try already triggered its run (a scheduler restart in the middle of the
    // wait): wait for that run again instead of triggering another.
    let resumed = w
        .recorded_wait(task_id)
        .filter(|r| r.try_number == input.try_number)
        .and_then(|r| r.triggered_run_id);
    if let Some(id) = resumed {
        let run = {
            let store = std::sync::Arc::clone(&w.store);
            let (dag, id) = (target.clone(), id.clone());
            blocking(move || store.run(&dag, &id))
                .await
                .ok_or_else(stopped)?
                .map_err(|e| TaskError::Input(e.to_string()))?
        };
        let Some(run) = run else {
            return Err(TaskError::Input(format!(
                "the triggered run {id} of {target} no longer exists"
            )));
        };
        input
            .log
            .sensor_line(&format!("Resuming the wait for {target} run {id}"));
        return finish(w, spec, input, run).await;
    }
    let logical = match &spec.logical_date {
        Some(text) => lithoflow_dag::parse_datetime(text)
            .map_err(|e| TaskError::Input(format!("logical_date: {e}")))?,
        None => w.now(),
    };
    // DagRun.generate_run_id(DagRunType.MANUAL, logical_date).
    let run_id = spec
        .trigger_run_id
        .clone()
        .unwrap_or_else(|| format!("manual__{}", iso(logical)));
    let existing = {
        let store = std::sync::Arc::clone(&w.store);
        let (dag, id) = (target.clone(), run_id.clone());
        blocking(move || -> Result<Option<DagRunRecord>, String> {
            if let Some(r) = store.run(&dag, &id).map_err(|e| e.to_string())? {
                return Ok(Some(r));
            }
            Ok(store
                .runs(&dag)
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|r| r.logical_date == Some(logical)))
        })
        .await
        .ok_or_else(stopped)?
        .map_err(TaskError::Input)?
    };
    let log = &input.log;
    let run = match existing {
        Some(run) if spec.reset_dag_run => {
            log.sensor_line(&format!(
                "Clearing {target} on {}",
                run.logical_date.map(iso).unwrap_or_default()
            ));
            runs.reset(target.clone(), run.run_id.clone())
                .await
                .map_err(|e| TaskError::Input(e.to_string()))?;
            run
        }
        Some(_) if spec.skip_when_already_exists => {
            return Err(TaskError::Skip(
                "Skipping due to skip_when_already_exists is set to True and DagRunAlreadyExists"
                    .to_owned(),
            ));
        }
        Some(run) => {
            return Err(TaskError::Input(format!(
                "DagRunAlreadyExists: A DAG Run already exists for DAG {target} with run id {}",
                run.run_id
            )));
        }
        None => {
            let req = TriggerRequest {
                conf: spec.conf.clone().unwrap_or_default(),
                run_id: Some(run_id.clone()),
                logical_date: Some(logical),
                ..Default::default()
            };
            runs.trigger(target.clone(), req)
                .await
                .map_err(|e| TaskError::Input(format!("cannot trigger `{target}`: {e}")))?
        }
    };
    log.sensor_line(&format!(
        "Triggered DAG {target} with run id {}",
        run.run_id
    ));
    // Recorded (durable) before anything else: a restart from here on resumes it.
    let wait = crate::store::SensorWait {
        try_number: input.try_number,
        first_poke: w.now(),
        next_poke_at: None,
        pokes: 0,
        triggered_run_id: Some(run.run_id.clone()),
    };
    w.record(task_id, crate::store::TaskState::Running, &wait, true)
        .await;
    finish(w, spec, input, run).await
}

/// After the run was triggered (or found again): the XComs, then the wait.
async fn finish(
    w: &Waiting,
    spec: &TriggerDagRunSpec,
    input: &TryInput,
    run: DagRunRecord,
) -> Result<Value, TaskError> {
    let target = &spec.trigger_dag_id;
    let log = &input.log;
    // XComs: Airflow 3's and 2.10's keys, and the older Airflow 2 names.
    let logical_iso = run.logical_date.map(iso).unwrap_or_default();
    let pushes = [
        ("trigger_run_id", Value::String(run.run_id.clone())),
        (
            "trigger_logical_date_iso",
            Value::String(logical_iso.clone()),
        ),
        ("trigger_execution_date_iso", Value::String(logical_iso)),
        ("trigger_dag_id", Value::String(target.clone())),
    ];
    {
        let store = std::sync::Arc::clone(&w.store);
        let (d, r, t) = (
            w.run.dag_id.clone(),
            w.run.run_id.clone(),
            input.task.task_id.clone(),
        );
        blocking(move || {
            for (k, v) in &pushes {
                store.put_xcom(&d, &r, &t, k, v)?;
            }
            store.flush()
        })
        .await
        .ok_or_else(stopped)?
        .map_err(|e| TaskError::Input(e.to_string()))?;
    }
    if !spec.wait_for_completion {
        return Ok(Value::Null);
    }
    loop {
        let next = w.now()
            + chrono::Duration::from_std(spec.poke_interval).unwrap_or(chrono::Duration::MAX);
        log.sensor_line(&format!(
            "Waiting for {target} on {} to become allowed state {:?} ...",
            run.run_id, spec.allowed_states
        ));
        if !w.sleep_until(next, input).await {
            return Err(TaskError::Input("the wait was stopped".to_owned()));
        }
        let state = {
            let store = std::sync::Arc::clone(&w.store);
            let (dag, id) = (target.clone(), run.run_id.clone());
            blocking(move || store.run(&dag, &id))
                .await
                .ok_or_else(stopped)?
                .map_err(|e| TaskError::Input(e.to_string()))?
                .map(|r| r.state.name())
        };
        let Some(state) = state else {
            return Err(TaskError::Input(format!(
                "the triggered run {} of {target} no longer exists",
                run.run_id
            )));
        };
        if spec.failed_states.iter().any(|s| s == state) {
            return Err(TaskError::Input(format!(
                "{target} failed with failed states {state}"
            )));
        }
        if spec.allowed_states.iter().any(|s| s == state) {
            log.sensor_line(&format!("{target} finished with allowed state {state}"));
            return Ok(Value::Null);
        }
    }
}

fn stopped() -> TaskError {
    TaskError::Input("reading the state store stopped".to_owned())
}
