//! `GET /events`: the event stream, one server-sent event per state change.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast;

use super::extract::{ApiResult, Params};
use crate::control::Shared;
use lithoflow_api::{ApiEvent, KEEP_ALIVE};

/// `GET /events`: server-sent events, one per [`ApiEvent`], named by its `type`, its data
/// the event as JSON. A client too slow for the broadcast buffer gets `event: lagged`
/// and should fetch the state again. The stream ends when the scheduler stops.
pub(super) async fn events(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let params = Params::parse(&uri, &["dag_id"])?;
    let dag_filter = params.last("dag_id").map(str::to_owned);
    let rx = shared.events.subscribe();
    let first = stream::once(async { Ok(SseEvent::default().comment("connected")) });
    let rest = stream::unfold(
        (rx, Arc::clone(&shared), dag_filter),
        |(mut rx, shared, filter)| async move {
            loop {
                let got = tokio::select! {
                    got = rx.recv() => got,
                    () = shared.requests.closed() => return None,
                };
                let event = match got {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(n)) => ApiEvent::Lagged { skipped: n },
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                if !wanted(&event, filter.as_deref()) {
                    continue;
                }
                return Some((Ok(sse_event(&event)), (rx, shared, filter)));
            }
        },
    );
    Ok(Sse::new(first.chain(rest)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// Whether a client that asked for `dag`'s events (None: all) gets `ev`: events about
/// another DAG are left out, events about every DAG (reloads, lags) never.
fn wanted(ev: &ApiEvent, dag: Option<&str>) -> bool {
    dag.is_none_or(|want| ev.dag_id().is_none_or(|d| d == want))
}

fn sse_event(ev: &ApiEvent) -> SseEvent {
    let data = serde_json::to_string(ev).unwrap_or_else(|_| "null".to_owned());
    SseEvent::default().event(ev.name()).data(data)
}
