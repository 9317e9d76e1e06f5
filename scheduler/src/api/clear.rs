//! `POST /dags/{dag_id}/clearTaskInstances` (v1, and v2's through [`clear`]): Airflow's
//! clear of task instances (`api_connexion/endpoints/task_instance_endpoint.py`
//! `post_clear_task_instances`; Airflow 3.1's `routes/public/task_instances.py`
//! `post_clear_task_instances`), sent to the scheduler loop as a `Request::Clear`.
//! `dag_run_id` with `include_past`/`include_future` becomes a range of logical dates,
//! as Airflow turns it into `start_date`/`end_date`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use chrono::{DateTime, Utc};

use super::extract::{ApiError, ApiResult, Body, Ids, Params, check_id};
use super::lookup::{ask, loaded_dag, read};
use crate::control::{Request, Shared};
use crate::ops::{ClearSpec, OpError};
use lithoflow_api::{ClearBody, ClearResponse, ClearTaskId, ClearedInstance};

/// `POST /dags/{dag_id}/clearTaskInstances`: a dry run unless `dry_run` is false;
/// failed instances only unless `only_failed` is false (Airflow's defaults).
pub(super) async fn clear_task_instances(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
    Body(body): Body<ClearBody>,
) -> ApiResult<Json<ClearResponse>> {
    Params::parse(&uri, &[])?;
    loaded_dag(&shared, &dag_id)?;
    let date = |name: &str, v: &Option<String>| -> ApiResult<Option<DateTime<Utc>>> {
        v.as_deref()
            .map(|v| {
                super::ti_list::parse_date(v).ok_or_else(|| {
                    ApiError::bad_request(format!("{{'{name}': ['Not a valid datetime.']}}"))
                })
            })
            .transpose()
    };
    let ask_for = ClearAsk {
        dry_run: body.dry_run.unwrap_or(true),
        task_ids: body.task_ids,
        task_regex: body.task_regex,
        dag_run_id: body.dag_run_id,
        start_date: date("start_date", &body.start_date)?,
        end_date: date("end_date", &body.end_date)?,
        upstream: body.include_upstream,
        downstream: body.include_downstream,
        past: body.include_past,
        future: body.include_future,
        only_failed: body.only_failed.unwrap_or(true),
        only_running: body.only_running,
    };
    let cleared = clear(&shared, &dag_id, ask_for)
        .await
        .map_err(|e| match e {
            ClearError::Invalid(m) => ApiError::bad_request(m),
            ClearError::Api(e) => e,
        })?;
    Ok(Json(ClearResponse {
        task_instances: cleared,
    }))
}

/// A clear as both API versions ask for it.
pub(crate) struct ClearAsk {
    pub(crate) dry_run: bool,
    pub(crate) task_ids: Option<Vec<ClearTaskId>>,
    pub(crate) task_regex: Option<String>,
    pub(crate) dag_run_id: Option<String>,
    pub(crate) start_date: Option<DateTime<Utc>>,
    pub(crate) end_date: Option<DateTime<Utc>>,
    pub(crate) upstream: bool,
    pub(crate) downstream: bool,
    pub(crate) past: bool,
    pub(crate) future: bool,
    pub(crate) only_failed: bool,
    pub(crate) only_running: bool,
}

/// Why a clear was refused.
pub(crate) enum ClearError {
    /// The body breaks one of Airflow's rules (v1 400, v2 422/400).
    Invalid(String),
    /// Anything else, as v1 answers it.
    Api(ApiError),
}

impl From<ApiError> for ClearError {
    fn from(e: ApiError) -> ClearError {
        ClearError::Api(e)
    }
}

impl From<OpError> for ClearError {
    fn from(e: OpError) -> ClearError {
        ClearError::Api(e.into())
    }
}

/// Checks `ask` as Airflow's form does, sends the clear and answers the instances
/// cleared (or, for a dry run, that would be), with their runs' logical dates.
pub(crate) async fn clear(
    shared: &Arc<Shared>,
    dag_id: &str,
    ask_for: ClearAsk,
) -> Result<Vec<ClearedInstance>, ClearError> {
    if ask_for.only_failed && ask_for.only_running {
        return Err(ClearError::Invalid(
            "only_failed and only_running both are set to True".to_owned(),
        ));
    }
    if let (Some(s), Some(e)) = (ask_for.start_date, ask_for.end_date)
        && s > e
    {
        return Err(ClearError::Invalid(
            "end_date is sooner than start_date".to_owned(),
        ));
    }
    if ask_for.dag_run_id.is_some() && (ask_for.start_date.is_some() || ask_for.end_date.is_some())
    {
        return Err(ClearError::Invalid(
            "Exactly one of dag_run_id or (start_date and end_date) must be provided".to_owned(),
        ));
    }
    if ask_for.task_ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(ClearError::Invalid(
            "task_ids list should have at least 1 element.".to_owned(),
        ));
    }
    let mut spec = ClearSpec {
        task_regex: ask_for.task_regex,
        upstream: ask_for.upstream,
        downstream: ask_for.downstream,
        only_failed: ask_for.only_failed,
        only_running: ask_for.only_running,
        dry_run: ask_for.dry_run,
        start_date: ask_for.start_date,
        end_date: ask_for.end_date,
        ..ClearSpec::default()
    };
    if let Some(ids) = ask_for.task_ids {
        let mut tasks = BTreeSet::new();
        let mut whole = BTreeSet::new();
        for id in ids {
            match id {
                ClearTaskId::Task(t) => {
                    whole.insert(t.clone());
                    tasks.insert(t);
                }
                ClearTaskId::Mapped(t, i) => {
                    spec.map_indexes.entry(t.clone()).or_default().insert(i);
                    tasks.insert(t);
                }
            }
        }
        // A task named whole and by a map index: all of its instances.
        for t in &whole {
            spec.map_indexes.remove(t);
        }
        spec.task_ids = Some(tasks.into_iter().collect());
    }
    if let Some(run_id) = ask_for.dag_run_id {
        check_id("dag_run_id", &run_id)?;
        if ask_for.past || ask_for.future {
            // Airflow: the run's logical date, one end opened by include_past/future.
            let (d, r) = (dag_id.to_owned(), run_id.clone());
            let run = read(shared, move |store| {
                store.run(&d, &r)?.ok_or_else(|| {
                    ApiError::not_found(format!("Dag Run id {r} not found in dag {d}"))
                })
            })
            .await?;
            let date = run.logical_date.unwrap_or(run.run_after);
            spec.start_date = (!ask_for.past).then_some(date);
            spec.end_date = (!ask_for.future).then_some(date);
        } else {
            spec.run_id = Some(run_id);
        }
    }
    let cleared = ask(shared, |reply| Request::Clear {
        dag_id: dag_id.to_owned(),
        spec,
        reply,
    })
    .await?;
    let d = dag_id.to_owned();
    Ok(read(shared, move |store| {
        let mut dates = std::collections::HashMap::new();
        let mut out = Vec::new();
        for c in cleared {
            if !dates.contains_key(&c.dag_run_id) {
                let run = store.run(&d, &c.dag_run_id)?;
                dates.insert(
                    c.dag_run_id.clone(),
                    run.map(|r| r.logical_date.unwrap_or(r.run_after)),
                );
            }
            out.push(ClearedInstance {
                dag_id: d.clone(),
                execution_date: dates.get(&c.dag_run_id).copied().flatten(),
                dag_run_id: c.dag_run_id,
                task_id: c.task_id,
                state: c.state.into(),
            });
        }
        Ok(out)
    })
    .await?)
}
