//! `GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}`
//! as Airflow 3.1 serves it (`routes/public/log.py`): JSON by default,
//! `{"content": [{"event": ..., "timestamp": ...}, ...], "continuation_token": ...}`
//! with the log's lines as structured messages (a line's leading `[timestamp]` becomes
//! its `timestamp`), the token null once a finished try's log has been read to its
//! end; `Accept: application/x-ndjson` streams the same messages one per line, the
//! token in `Airflow-Continuation-Token`. `token`, `full_content` and `map_index` as
//! v1's.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::common::{Query2, V2Error, V2Result};
use crate::api::task_instances::{LogId, read_log_chunk};
use crate::control::Shared;

pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new().route(
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
        get(get_log),
    )
}

/// One log line as Airflow 3's `StructuredLogMessage`.
fn message(line: &str) -> Value {
    if let Some(rest) = line.strip_prefix('[')
        && let Some((ts, event)) = rest.split_once("] ")
        && let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts)
    {
        return json!({
            "timestamp": lithoflow_api::iso_string(&t.with_timezone(&chrono::Utc)),
            "event": event,
        });
    }
    json!({"event": line})
}

async fn get_log(
    State(shared): State<Arc<Shared>>,
    Path((dag_id, run_id, task_id, try_text)): Path<(String, String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> V2Result<Response> {
    let q = Query2::parse(&uri)?;
    let try_number: u32 = try_text.parse().map_err(|_| {
        V2Error::invalid(
            &["path", "try_number"],
            format!("Input should be a valid integer, found {try_text:?}"),
        )
    })?;
    let map_index = q
        .int("map_index")?
        .map_or(-1, |i| i32::try_from(i).unwrap_or(i32::MIN));
    for (name, id) in [
        ("dag_id", &dag_id),
        ("dag_run_id", &run_id),
        ("task_id", &task_id),
    ] {
        crate::api::extract::check_id(name, id).map_err(V2Error::from)?;
    }
    let id = LogId {
        dag_id,
        run_id,
        task_id,
        map_index,
        try_number,
    };
    let offset = if q.bool("full_content")? == Some(true) {
        0
    } else {
        match q.last("token") {
            Some(t) if !t.is_empty() => id.offset_of(&shared.token, t).ok_or_else(|| {
                V2Error::bad_request(
                    "Bad Signature. Please use only the tokens provided by the API.",
                )
            })?,
            _ => 0,
        }
    };
    let (bytes, next, ended) = read_log_chunk(&shared, &id, offset)
        .await
        .map_err(V2Error::from)?;
    // Whole lines only, unless the log has ended: a line cut by the chunk's end comes
    // whole with the next.
    let text = String::from_utf8_lossy(&bytes);
    let (text, next) = match text.rfind('\n') {
        Some(i) if !ended && i + 1 < text.len() => {
            let cut = text.len() - (i + 1);
            (text[..=i].to_owned(), next - cut as u64)
        }
        _ => (text.into_owned(), next),
    };
    let messages: Vec<Value> = text.lines().map(message).collect();
    let token = (!ended).then(|| id.token(&shared.token, next));
    let ndjson = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/x-ndjson"));
    if ndjson {
        let mut body = String::new();
        for m in &messages {
            body.push_str(&m.to_string());
            body.push('\n');
        }
        let mut resp = ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response();
        if let Some(t) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
            resp.headers_mut().insert("Airflow-Continuation-Token", t);
        }
        return Ok(resp);
    }
    Ok(Json(json!({"content": messages, "continuation_token": token})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_structured_messages() {
        assert_eq!(
            message("[2026-11-27T10:00:00.5+00:00] state: success"),
            json!({"timestamp": "2026-11-27T10:00:00.500000+00:00", "event": "state: success"})
        );
        assert_eq!(message("plain output"), json!({"event": "plain output"}));
        assert_eq!(
            message("[not a date] x"),
            json!({"event": "[not a date] x"})
        );
    }
}
