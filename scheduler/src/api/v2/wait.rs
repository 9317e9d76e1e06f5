//! `GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/wait`: Airflow 3.1's experimental
//! route that streams a run's state as NDJSON until the run ends
//! (`routes/public/dag_run.py::wait_dag_run_until_finished`, `services/public/dag_run.py`
//! `DagRunWaiter`): one `{"state": ...}` line at once, then one every `interval` seconds
//! while the run is unfinished; the last line, once it has ended, also holds
//! `"results"`: the `return_value` XCom of each task named by a `result` parameter (a
//! mapped task's values as a list), masked as every XCom the API answers. Like
//! Airflow's, the answer has no content type.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::common::{Query2, V2Error, V2Result};
use super::task_instances::{read2, run_known};
use crate::api::extract::Ids;
use crate::control::Shared;
use crate::store::{RETURN_KEY, Store, UNMAPPED};

/// The routes of this module.
pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new().route("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/wait", get(wait))
}

/// `interval`: required, a number of seconds above 0 (FastAPI's `Query(gt=0.0)`).
fn interval(q: &Query2) -> V2Result<Duration> {
    let loc = ["query", "interval"];
    let text = q
        .last("interval")
        .ok_or_else(|| V2Error::invalid(&loc, "Field required"))?;
    let secs: f64 = text.trim().parse().map_err(|_| {
        V2Error::invalid(
            &loc,
            format!("Input should be a valid number, unable to parse string as a number: {text:?}"),
        )
    })?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(V2Error::invalid(&loc, "Input should be greater than 0"));
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|_| V2Error::invalid(&loc, format!("{text:?} seconds is out of range")))
}

/// One line: the run's state, and the asked results once it has ended.
fn line(store: &Store, dag_id: &str, run_id: &str, results: &[String]) -> V2Result<(String, bool)> {
    let run = run_known(store, dag_id, run_id)?;
    let state: lithoflow_api::RunState = run.state.into();
    let mut body = json!({ "state": state });
    let done = run.state.is_finished();
    if done && !results.is_empty() {
        let mut out = Map::new();
        for task_id in results {
            let values = store.xcom_all(dag_id, run_id, task_id, RETURN_KEY)?;
            let value = match values.as_slice() {
                [] => continue,
                [(UNMAPPED, v)] => v.clone(),
                many => Value::Array(many.iter().map(|(_, v)| v.clone()).collect()),
            };
            out.insert(task_id.clone(), crate::values::mask_value(store, &value));
        }
        body["results"] = Value::Object(out);
    }
    Ok((format!("{body}\n"), done))
}

/// Where the stream is: a line to say now, a look at the run after `interval`, or the end.
enum Step {
    Say((String, bool)),
    Look,
    End,
}

async fn wait(
    State(shared): State<Arc<Shared>>,
    Ids([dag_id, run_id]): Ids<2>,
    uri: Uri,
) -> V2Result<Response> {
    let q = Query2::parse(&uri)?;
    let every = interval(&q)?;
    let results: Arc<[String]> = q.all("result").into();
    // The run must exist before the stream starts (404 otherwise, as Airflow's).
    let (d, r, rs) = (dag_id.clone(), run_id.clone(), Arc::clone(&results));
    let first = read2(&shared, move |store| line(store, &d, &r, &rs)).await?;
    let stream = futures_util::stream::unfold(Step::Say(first), move |step| {
        let (shared, dag_id, run_id, results) = (
            Arc::clone(&shared),
            dag_id.clone(),
            run_id.clone(),
            Arc::clone(&results),
        );
        async move {
            let (text, done) = match step {
                Step::Say(said) => said,
                Step::Look => {
                    tokio::time::sleep(every).await;
                    // A run deleted meanwhile ends the stream with what was said so far.
                    read2(&shared, move |store| {
                        line(store, &dag_id, &run_id, &results)
                    })
                    .await
                    .ok()?
                }
                Step::End => return None,
            };
            let next = if done { Step::End } else { Step::Look };
            Some((Ok::<_, Infallible>(Bytes::from(text)), next))
        }
    });
    // No content type, as Airflow's `StreamingResponse` (no media type) sends: the 3.x
    // client then reads a one-line answer as JSON and a longer one as text.
    Ok(Body::from_stream(stream).into_response())
}
