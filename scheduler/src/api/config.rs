//! `GET /config` and `GET /config/section/{section}/option/{option}`: lithoflow's settings
//! in Airflow's shape (`{"sections": [{"name", "options": [{"key", "value"}]}]}`, Airflow
//! 2.10's `api_connexion/endpoints/config_endpoint.py`; JSON, or Airflow's `[section]`
//! text when the client asks for `text/plain`). The sections are lithoflow's, not
//! Airflow's: `core` (`dags_folder`, `lithoflow_home`), `api`, `dags` and `airflow` as
//! resolved, then every other section of `lithoflow.toml` (the executor's) as written.
//! Served as Airflow's `expose_config = non-sensitive-only`: a value under a
//! secret-looking key is `< hidden >`, and credential-shaped text in any value is masked.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{ApiError, ApiResult, Ids, Params};
use crate::control::Shared;
use lithoflow_dag::redact;

/// What Airflow shows instead of a sensitive value (`AirflowConfigParser.as_dict` with
/// `display_sensitive=False`).
pub(crate) const HIDDEN: &str = "< hidden >";

/// One section: its name and `(key, value)` options.
pub(crate) type Section = (String, Vec<(String, String)>);

fn shown(key: &str, value: String) -> String {
    if redact::is_secret_name(key) {
        HIDDEN.to_owned()
    } else {
        redact::redact_text(&value)
    }
}

/// A TOML value as config text: strings bare, the rest as TOML writes them.
fn text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every section, masked.
pub(crate) fn sections(shared: &Shared) -> Vec<Section> {
    let s = &shared.settings;
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut out: Vec<Section> = vec![
        (
            "core".to_owned(),
            vec![
                (
                    "dags_folder".to_owned(),
                    shared.dags_folder.display().to_string(),
                ),
                ("lithoflow_home".to_owned(), s.home.display().to_string()),
            ],
        ),
        (
            "api".to_owned(),
            vec![
                ("port".to_owned(), opt(s.api_port.map(|p| p.to_string()))),
                ("host".to_owned(), opt(s.api_host.map(|h| h.to_string()))),
                (
                    "allow_non_loopback".to_owned(),
                    s.allow_non_loopback.to_string(),
                ),
            ],
        ),
        (
            "dags".to_owned(),
            vec![
                (
                    "include_paths".to_owned(),
                    s.include_paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                ("load_python".to_owned(), s.load_python.to_string()),
                (
                    "loader_processes".to_owned(),
                    opt(s.loader_processes.map(|n| n.to_string())),
                ),
                (
                    "dagbag_import_timeout".to_owned(),
                    opt(s.dagbag_import_timeout.map(|d| d.as_secs_f64().to_string())),
                ),
            ],
        ),
        (
            "airflow".to_owned(),
            vec![(
                "default_version".to_owned(),
                s.airflow_default_version.to_string(),
            )],
        ),
    ];
    // The executor's sections as the file writes them (unreadable: none; the scheduler
    // started with it, so it was readable then).
    let file = std::fs::read_to_string(s.home.join("lithoflow.toml")).unwrap_or_default();
    if let Ok(table) = file.parse::<toml::Table>() {
        for (name, value) in table {
            let toml::Value::Table(t) = value else {
                continue;
            };
            if out.iter().any(|(n, _)| *n == name) {
                continue;
            }
            out.push((name, t.iter().map(|(k, v)| (k.clone(), text(v))).collect()));
        }
    }
    out.into_iter()
        .map(|(name, options)| {
            let options = options
                .into_iter()
                .map(|(k, v)| {
                    let v = shown(&k, v);
                    (k, v)
                })
                .collect();
            (name, options)
        })
        .collect()
}

/// The sections as Airflow's `Config` JSON.
pub(crate) fn to_json(sections: &[Section]) -> Value {
    json!({
        "sections": sections
            .iter()
            .map(|(name, options)| json!({
                "name": name,
                "options": options
                    .iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>(),
    })
}

/// The sections as Airflow's text (`[section]` then `key = value` lines).
pub(crate) fn to_text(sections: &[Section]) -> String {
    let mut out = String::new();
    for (name, options) in sections {
        out.push_str(&format!("[{name}]\n"));
        for (k, v) in options {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out.push('\n');
    }
    out
}

/// Whether the client asked for text (`Accept: text/plain` without JSON).
pub(crate) fn wants_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("text/plain") && !accept.contains("application/json")
}

/// The answer in the form asked for.
pub(crate) fn answer(sections: &[Section], headers: &HeaderMap) -> Response {
    if wants_text(headers) {
        let mut resp = to_text(sections).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    } else {
        axum::Json(to_json(sections)).into_response()
    }
}

/// `GET /config?section=...`.
pub(super) async fn get_config(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::parse(&uri, &["section"])?;
    let mut all = sections(&shared);
    if let Some(section) = params.last("section") {
        all.retain(|(n, _)| n == section);
        if all.is_empty() {
            return Err(ApiError::not_found(format!("section={section} not found.")));
        }
    }
    Ok(answer(&all, &headers))
}

/// `GET /config/section/{section}/option/{option}`.
pub(super) async fn get_value(
    State(shared): State<Arc<Shared>>,
    Ids([section, option]): Ids<2>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    Params::parse(&uri, &[])?;
    let found = sections(&shared)
        .into_iter()
        .find(|(n, _)| *n == section)
        .and_then(|(n, options)| {
            options
                .into_iter()
                .find(|(k, _)| *k == option)
                .map(|o| (n, vec![o]))
        });
    match found {
        Some(one) => Ok(answer(&[one], &headers)),
        None => Err(ApiError::not_found(format!(
            "The option [{section}/{option}] is not found in config."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_values_are_hidden_and_text_is_airflows() {
        assert_eq!(shown("secret_access_key", "abc".into()), HIDDEN);
        assert_eq!(shown("region", "us-east-1".into()), "us-east-1");
        let s: Vec<Section> = vec![("core".into(), vec![("a".into(), "1".into())])];
        assert_eq!(to_text(&s), "[core]\na = 1\n\n");
        assert_eq!(
            to_json(&s),
            json!({"sections": [{"name": "core", "options": [{"key": "a", "value": "1"}]}]})
        );
    }
}
