//! The DAGs a scheduler serves: `GET /dags`, `GET|PATCH /dags/{dag_id}`,
//! `GET /dags/{dag_id}/tasks` (the files that fail to load are in `stats.rs`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;

use super::extract::{ApiError, ApiResult, Body, Ids, Params, paged};
use super::lookup::{ask, loaded_dag, read};
use crate::control::{Request, Shared};
use crate::store::Store;
use lithoflow_api::{
    DagCollection, DagInfo, DagPatch, RECENT_RUNS, RecentRun, Tag, TaskCollection, TaskInfo,
};
use lithoflow_dag::Dag;

/// What the DAG list needs from the DAG set, taken under its lock.
struct DagView {
    dag: Arc<Dag>,
    next: Option<lithoflow_dag::timetable::DagRunInfo>,
    has_import_errors: bool,
}

/// The DAGs that pass `filter`, in id order. Only `Arc`s are copied: the views of the
/// page that is answered are made afterwards ([`dag_views`]), not of every DAG (with
/// 1,000 DAGs, making a view of each took ~8% of the scheduler's CPU under load).
fn served_dags(shared: &Shared, filter: impl Fn(&Dag) -> bool) -> Vec<Arc<Dag>> {
    shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .dags
        .values()
        .filter(|d| filter(d))
        .cloned()
        .collect()
}

fn dag_views(shared: &Shared, dags: Vec<Arc<Dag>>) -> Vec<DagView> {
    let set = shared
        .dags
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    dags.into_iter()
        .map(|dag| DagView {
            next: set.next_run.get(&dag.dag_id).copied().flatten(),
            has_import_errors: set.import_errors.iter().any(|e| e.filepath == dag.fileloc),
            dag,
        })
        .collect()
}

fn dag_info(store: &Store, v: &DagView, recent: usize) -> ApiResult<DagInfo> {
    let d = &v.dag;
    let mut owners: Vec<String> = d.tasks.iter().map(|t| t.owner.clone()).collect();
    owners.sort_unstable();
    owners.dedup();
    let recent_runs = store
        .recent_runs(&d.dag_id, 0, recent)?
        .into_iter()
        .map(|r| RecentRun {
            dag_run_id: r.run_id,
            state: r.state.into(),
            run_after: r.run_after,
        })
        .collect();
    let timetable = serde_json::to_value(d.timetable)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(DagInfo {
        dag_id: d.dag_id.clone(),
        description: d.description.clone(),
        fileloc: d.fileloc.display().to_string(),
        is_paused: crate::ops::is_paused(store, d)?,
        is_active: true,
        is_paused_upon_creation: d.is_paused_upon_creation,
        schedule: d.schedule_str().map(str::to_owned),
        timetable,
        timetable_description: crate::assets::condition(d)
            .map(|_| "Triggered by assets".to_owned()),
        dataset_expression: crate::assets::condition(d).map(|c| c.expression()),
        tags: d.tags.iter().map(|t| Tag { name: t.clone() }).collect(),
        owners,
        max_active_runs: d.max_active_runs,
        max_active_tasks: d.max_active_tasks,
        catchup: d.catchup,
        start_date: d.start_date,
        end_date: d.end_date,
        next_dagrun: v.next.map(|i| i.logical_date()),
        next_dagrun_data_interval_start: v.next.map(|i| i.data_interval.start),
        next_dagrun_data_interval_end: v.next.map(|i| i.data_interval.end),
        next_dagrun_create_after: v.next.map(|i| i.run_after),
        has_import_errors: v.has_import_errors,
        recent_runs,
        was_paused: None,
    })
}

/// `GET /dags`: the DAGs served, filtered and paged, in id order.
pub(super) async fn list_dags(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Json<DagCollection>> {
    let params = Params::parse(
        &uri,
        &[
            "limit",
            "offset",
            "paused",
            "tags",
            "dag_id_pattern",
            "only_active",
            "recent_runs",
        ],
    )?;
    let page = params.page()?;
    let recent = params.recent_runs()?;
    params.bool("only_active")?;
    let paused = params.bool("paused")?;
    let tags = params.all("tags");
    let pattern = params.last("dag_id_pattern").map(str::to_lowercase);
    let matching = served_dags(&shared, |d| {
        (tags.is_empty() || d.tags.iter().any(|t| tags.contains(t)))
            && pattern
                .as_deref()
                .is_none_or(|p| d.dag_id.to_lowercase().contains(p))
    });
    let sh = Arc::clone(&shared);
    let dags = read(&shared, move |store| {
        let mut out = Vec::new();
        for dag in matching {
            if let Some(p) = paused
                && crate::ops::is_paused(store, &dag)? != p
            {
                continue;
            }
            out.push(dag);
        }
        let total_entries = out.len();
        let dags = dag_views(&sh, paged(out, page))
            .iter()
            .map(|v| dag_info(store, v, recent))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(DagCollection {
            dags,
            total_entries,
        })
    })
    .await?;
    Ok(Json(dags))
}

/// `GET /dags/{dag_id}`.
pub(super) async fn get_dag(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<DagInfo>> {
    let recent = Params::parse(&uri, &["recent_runs"])?.recent_runs()?;
    loaded_dag(&shared, &dag_id)?;
    one_dag_info(&shared, dag_id, None, recent).await
}

/// A loaded DAG's [`DagInfo`], with `was_paused` set as given.
async fn one_dag_info(
    shared: &Arc<Shared>,
    dag_id: String,
    was_paused: Option<bool>,
    recent: usize,
) -> ApiResult<Json<DagInfo>> {
    let views = dag_views(shared, shared.dag(&dag_id).into_iter().collect());
    read(shared, move |store| {
        let v = views
            .first()
            .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` is not loaded")))?;
        let mut info = dag_info(store, v, recent)?;
        info.was_paused = was_paused;
        Ok(info)
    })
    .await
    .map(Json)
}

/// `PATCH /dags/{dag_id}`: pause or unpause, through the scheduler loop.
pub(super) async fn patch_dag(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
    Body(patch): Body<DagPatch>,
) -> ApiResult<Json<DagInfo>> {
    // Airflow's `update_mask` may only name the one field there is.
    let params = Params::parse(&uri, &["update_mask"])?;
    if let Some(m) = params.all("update_mask").iter().find(|m| *m != "is_paused") {
        return Err(ApiError::bad_request(format!(
            "`update_mask` {m:?}: only `is_paused` can be changed"
        )));
    }
    loaded_dag(&shared, &dag_id)?;
    let before = ask(&shared, |reply| Request::SetPaused {
        dag_id: dag_id.clone(),
        paused: patch.is_paused,
        reply,
    })
    .await?;
    one_dag_info(&shared, dag_id, Some(before), RECENT_RUNS).await
}

/// `GET /dags/{dag_id}/tasks`, in file order.
pub(super) async fn list_tasks(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id]): Ids<1>,
    uri: Uri,
) -> ApiResult<Json<TaskCollection>> {
    Params::parse(&uri, &[])?;
    let dag = loaded_dag(&shared, &dag_id)?;
    let tasks: Vec<TaskInfo> = dag
        .tasks
        .iter()
        .map(|t| TaskInfo {
            task_id: t.task_id.clone(),
            operator_name: t.type_name().to_owned(),
            upstream_task_ids: dag
                .graph
                .upstream(&t.task_id)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            downstream_task_ids: dag
                .graph
                .downstream(&t.task_id)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            trigger_rule: t.trigger_rule.name().to_owned(),
            retries: t.retries,
            owner: t.owner.clone(),
            depends_on_past: t.depends_on_past,
        })
        .collect();
    Ok(Json(TaskCollection {
        total_entries: tasks.len(),
        tasks,
    }))
}
