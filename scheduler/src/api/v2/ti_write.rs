//! `PATCH /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}` (and
//! `/{map_index}`, and their `/dry_run` forms) as Airflow 3.1's `patch_task_instance`:
//! `PatchTaskInstanceBody` (`new_state`, `note`, `include_*`), `update_mask` choosing
//! which of them apply (default: those in the body). The state goes to the scheduler
//! loop as `Request::SetTaskState`, the note as `Request::SetNote`; the answer is the
//! instances touched, as `TaskInstanceCollectionResponse`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::routing::patch;
use serde_json::{Value, json};

use super::common::{Query2, V2Error, V2Result};
use super::task_instances::{body, dag_known, read2, response, run_known};
use crate::api::extract::Ids;
use crate::api::lookup::ask;
use crate::api::ti_view::DagFacts;
use crate::api::ti_write::settable;
use crate::control::{Request, SetTaskStateSpec, Shared};

pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    let ti = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}";
    axum::Router::new()
        .route(&format!("{ti}/dry_run"), patch(patch_one::<true>))
        .route(
            &format!("{ti}/{{map_index}}/dry_run"),
            patch(patch_mapped::<true>),
        )
}

/// The `PATCH` handlers the task instance routes chain to their `GET`s.
pub(super) fn patch_routes() -> (
    axum::routing::MethodRouter<Arc<Shared>>,
    axum::routing::MethodRouter<Arc<Shared>>,
) {
    (patch(patch_one::<false>), patch(patch_mapped::<false>))
}

/// Airflow 3.1's `PatchTaskInstanceBody` (`extra="forbid"`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default)]
    new_state: Option<Value>,
    #[serde(default)]
    note: Option<Value>,
    #[serde(default)]
    include_upstream: bool,
    #[serde(default)]
    include_downstream: bool,
    #[serde(default)]
    include_future: bool,
    #[serde(default)]
    include_past: bool,
}

struct Target {
    dag_id: String,
    run_id: String,
    task_id: String,
    map_index: Option<i32>,
}

fn int(text: &str, name: &str) -> V2Result<i32> {
    text.parse().map_err(|_| {
        V2Error::invalid(
            &["path", name],
            format!("Input should be a valid integer: {text:?}"),
        )
    })
}

async fn apply(
    shared: Arc<Shared>,
    target: Target,
    uri: &Uri,
    bytes: &[u8],
    dry_run: bool,
) -> V2Result<Json<Value>> {
    let q = Query2::parse(uri)?;
    let raw: Value = body(bytes)?;
    let b: PatchBody = body(bytes)?;
    let map_index = target
        .map_index
        .or(q
            .int("map_index")?
            .map(|i| i32::try_from(i).unwrap_or(i32::MIN)))
        .unwrap_or(-1);
    // Which fields: `update_mask`, else those the body has.
    let mask = q.all("update_mask");
    let wants = |field: &str| {
        if mask.is_empty() {
            raw.get(field).is_some()
        } else {
            mask.iter().any(|m| m == field)
        }
    };
    let state = if wants("new_state") {
        let name = b
            .new_state
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_lowercase)
            .ok_or_else(|| {
                V2Error::invalid(
                    &["body", "new_state"],
                    "Value error, 'new_state' should not be empty",
                )
            })?;
        Some(settable(&name).ok_or_else(|| {
            V2Error::invalid(
                &["body", "new_state"],
                format!("Value error, '{name}' is not one of ['success', 'failed', 'skipped']"),
            )
        })?)
    } else {
        None
    };
    let note = if wants("note") {
        match &b.note {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.chars().count() <= 1000 => Some(Some(s.clone())),
            Some(_) => {
                return Err(V2Error::invalid(
                    &["body", "note"],
                    "String should have at most 1000 characters",
                ));
            }
        }
    } else {
        None
    };
    if state.is_none() && note.is_none() {
        return Err(V2Error::bad_request(
            "Invalid update_mask: nothing to update (new_state or note)",
        ));
    }
    let Target {
        dag_id,
        run_id,
        task_id,
        ..
    } = target;
    let (sh, d, r, t) = (
        Arc::clone(&shared),
        dag_id.clone(),
        run_id.clone(),
        task_id.clone(),
    );
    read2(&shared, move |store| {
        dag_known(&sh, store, &d)?;
        run_known(store, &d, &r)?;
        store.ti_at(&d, &r, &t, map_index)?.map(|_| ()).ok_or_else(|| {
            V2Error::not_found(format!(
                "The Task Instance with dag_id: `{d}`, run_id: `{r}`, task_id: `{t}` and map_index: `{map_index}` was not found"
            ))
        })
    })
    .await?;
    let mut touched: Vec<(String, String)> = vec![(run_id.clone(), task_id.clone())];
    if let Some(state) = state {
        let spec = SetTaskStateSpec {
            run_id: run_id.clone(),
            task_id: task_id.clone(),
            map_indexes: Some(vec![map_index]),
            state,
            upstream: b.include_upstream,
            downstream: b.include_downstream,
            future: b.include_future,
            past: b.include_past,
            dry_run,
        };
        let changed = ask(&shared, |reply| Request::SetTaskState {
            dag_id: dag_id.clone(),
            spec,
            reply,
        })
        .await
        .map_err(V2Error::from)?;
        touched = changed
            .into_iter()
            .map(|c| (c.dag_run_id, c.task_id))
            .collect();
    }
    if let Some(note) = note
        && !dry_run
    {
        ask(&shared, |reply| Request::SetNote {
            dag_id: dag_id.clone(),
            run_id: run_id.clone(),
            task: Some((task_id.clone(), map_index)),
            note,
            reply,
        })
        .await
        .map_err(V2Error::from)?;
    }
    let sh = Arc::clone(&shared);
    read2(&shared, move |store| {
        let facts = DagFacts::new(sh.dag(&dag_id));
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for (r, t) in touched {
            if !seen.insert((r.clone(), t.clone())) {
                continue;
            }
            let Some(run) = store.run(&dag_id, &r)? else {
                continue;
            };
            for ti in store.task_tis(&dag_id, &r, &t)? {
                if r == run_id && t == task_id && ti.map_index != map_index {
                    continue;
                }
                out.push(response(&facts.body(&run, &ti), &run));
            }
        }
        Ok(json!({"task_instances": out, "total_entries": out.len()}))
    })
    .await
    .map(Json)
}

/// `PATCH .../{task_id}` (and, with `DRY_RUN`, `.../{task_id}/dry_run`).
async fn patch_one<const DRY_RUN: bool>(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id]): Ids<3>,
    uri: Uri,
    bytes: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    let target = Target {
        dag_id,
        run_id,
        task_id,
        map_index: None,
    };
    apply(shared, target, &uri, &bytes, DRY_RUN).await
}

/// `PATCH .../{task_id}/{map_index}` (and, with `DRY_RUN`, `.../dry_run`).
async fn patch_mapped<const DRY_RUN: bool>(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id, task_id, index]): Ids<4>,
    uri: Uri,
    bytes: axum::body::Bytes,
) -> V2Result<Json<Value>> {
    let map_index = Some(int(&index, "map_index")?);
    let target = Target {
        dag_id,
        run_id,
        task_id,
        map_index,
    };
    apply(shared, target, &uri, &bytes, DRY_RUN).await
}
