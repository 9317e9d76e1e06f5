//! What every `/api/v2` route shares: FastAPI's error shape (`{"detail": ...}`), its
//! lenient query strings (unknown parameters are ignored, as FastAPI does), and its
//! paging (`limit` default 50, at most 100; `offset`).

use axum::Json;
use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ops::OpError;
use crate::store::StoreError;

/// FastAPI's default page size (`QueryLimit`).
pub(crate) const DEFAULT_LIMIT: usize = 50;

/// Airflow 3's `[api] maximum_page_limit`: a larger `limit` is lowered to it.
pub(crate) const MAX_LIMIT: usize = 100;

/// An `/api/v2` error: `{"detail": ...}` with the status, as FastAPI's `HTTPException`.
#[derive(Debug)]
pub(crate) struct V2Error {
    status: StatusCode,
    detail: Value,
}

impl V2Error {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> V2Error {
        V2Error {
            status,
            detail: Value::String(detail.into()),
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> V2Error {
        V2Error::new(StatusCode::BAD_REQUEST, detail)
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> V2Error {
        V2Error::new(StatusCode::NOT_FOUND, detail)
    }

    pub(crate) fn conflict(detail: impl Into<String>) -> V2Error {
        V2Error::new(StatusCode::CONFLICT, detail)
    }

    /// A request FastAPI's validation refuses: 422 with pydantic's list of errors.
    pub(crate) fn invalid(loc: &[&str], msg: impl Into<String>) -> V2Error {
        let msg = msg.into();
        V2Error {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: json!([{"type": "value_error", "loc": loc, "msg": msg, "input": null}]),
        }
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(
                status = self.status.as_u16(),
                "api v2 error: {}",
                self.detail
            );
        }
        (self.status, Json(json!({"detail": self.detail}))).into_response()
    }
}

impl From<StoreError> for V2Error {
    fn from(e: StoreError) -> V2Error {
        V2Error::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<OpError> for V2Error {
    fn from(e: OpError) -> V2Error {
        let status = match &e {
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::Conflict(_) => StatusCode::CONFLICT,
            OpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            OpError::Store(_) | OpError::Files(_) => StatusCode::INTERNAL_SERVER_ERROR,
            OpError::NoSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
        };
        V2Error::new(status, e.to_string())
    }
}

pub(crate) type V2Result<T> = Result<T, V2Error>;

/// The query string as pairs; names a route does not take are ignored, as FastAPI does.
pub(crate) struct Query2(Vec<(String, String)>);

impl Query2 {
    pub(crate) fn parse(uri: &Uri) -> V2Result<Query2> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| V2Error::bad_request(e.body_text()))?;
        Ok(Query2(pairs))
    }

    /// Every value of a repeated parameter (`state=a&state=b`), as FastAPI's lists.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(crate) fn last(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn int(&self, name: &str) -> V2Result<Option<i64>> {
        self.last(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    V2Error::invalid(
                        &["query", name],
                        format!("Input should be a valid integer, unable to parse string as an integer: {v:?}"),
                    )
                })
            })
            .transpose()
    }

    pub(crate) fn bool(&self, name: &str) -> V2Result<Option<bool>> {
        self.last(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
                "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
                _ => Err(V2Error::invalid(
                    &["query", name],
                    format!("Input should be a valid boolean, unable to interpret input {v:?}"),
                )),
            })
            .transpose()
    }

    /// A date-time parameter (`logical_date_gte=...`): RFC 3339, or as the 3.x client
    /// writes it (`2025-01-03T00:00:00.000000+0000`, the `+` unencoded, so a space).
    pub(crate) fn date(&self, name: &str) -> V2Result<Option<chrono::DateTime<chrono::Utc>>> {
        self.last(name)
            .map(|v| {
                crate::api::run_query::parse_time(v).map_err(|e| {
                    V2Error::invalid(
                        &["query", name],
                        format!("Input should be a valid datetime: {e}"),
                    )
                })
            })
            .transpose()
    }

    /// `limit` (default 50, lowered to 100) and `offset`, both at least 0.
    pub(crate) fn page(&self) -> V2Result<(usize, usize)> {
        let limit = self.int("limit")?.unwrap_or(DEFAULT_LIMIT as i64);
        let offset = self.int("offset")?.unwrap_or(0);
        if limit < 0 {
            return Err(V2Error::invalid(
                &["query", "limit"],
                "Input should be greater than or equal to 0",
            ));
        }
        if offset < 0 {
            return Err(V2Error::invalid(
                &["query", "offset"],
                "Input should be greater than or equal to 0",
            ));
        }
        let limit = usize::try_from(limit).unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
        Ok((limit, usize::try_from(offset).unwrap_or(usize::MAX)))
    }

    /// `order_by` (repeatable in Airflow 3.1; the first value wins here) against the
    /// route's fields, `default` when absent; an unknown field is 400 as Airflow's
    /// `SortParam` answers.
    pub(crate) fn order_by(
        &self,
        allowed: &[&str],
        default: &str,
    ) -> V2Result<crate::api::extract::OrderBy> {
        let value = self
            .0
            .iter()
            .find(|(k, _)| k == "order_by")
            .map_or(default, |(_, v)| v.as_str());
        crate::api::extract::OrderBy::parse(value, allowed).map_err(V2Error::bad_request)
    }
}
