//! Errors and request extractors: every error is problem JSON (RFC 7807), including
//! the rejections of a body, a path or a query string the API cannot read.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::BODY_LIMIT;
use crate::ops::OpError;
use crate::store::StoreError;
use lithoflow_api::{MAX_LIMIT, MAX_RECENT_RUNS, Problem, RECENT_RUNS};

/// Lists show this many entries unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;

/// An error answer: problem JSON with the status's name as its title.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    detail: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
        }
    }

    pub(super) fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    pub(super) fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    pub(super) fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), "api error: {}", self.detail);
        }
        let problem = Problem {
            kind: "about:blank".to_owned(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
        };
        let mut resp = (self.status, Json(problem)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        let status = match &e {
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::Conflict(_) => StatusCode::CONFLICT,
            OpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            OpError::Store(_) | OpError::Files(_) => StatusCode::INTERNAL_SERVER_ERROR,
            // WebDAV's "the server is unable to store the representation", which
            // clients and proxies know; a 500 would read as a bug.
            OpError::NoSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
        };
        ApiError::new(status, e.to_string())
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejections (bad JSON, too large, wrong content type) are problem
/// JSON too.
pub(super) struct Body<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {BODY_LIMIT} bytes"),
                ))
            }
            // Airflow answers 400 to a body it cannot read; axum would say 422.
            Err(e @ (JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_))) => {
                Err(ApiError::bad_request(e.body_text()))
            }
            Err(e) => Err(ApiError::new(e.status(), e.body_text())),
        }
    }
}

/// The path's ids, each checked: no `/`, `\`, NUL, `.` or `..`, at most 250 bytes.
pub(super) struct Ids<const N: usize>(pub(super) [String; N]);

impl<S: Send + Sync, const N: usize> FromRequestParts<S> for Ids<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?
            .0;
        let mut out: [String; N] = std::array::from_fn(|_| String::new());
        if params.len() != N {
            return Err(ApiError::internal("route and handler disagree on path ids"));
        }
        for (slot, (name, value)) in out.iter_mut().zip(params) {
            check_id(&name, &value)?;
            *slot = value;
        }
        Ok(Ids(out))
    }
}

/// Refuses ids that could name another file if they ever reached a path, and ids no
/// record can have.
pub(super) fn check_id(name: &str, id: &str) -> ApiResult<()> {
    if id.is_empty()
        || id == "."
        || id == ".."
        || id.contains(['/', '\\', '\0'])
        || id.len() > lithoflow_dag::MAX_ID_LEN
    {
        return Err(ApiError::bad_request(format!(
            "`{name}` {id:?} is not a valid id (no `/`, `\\`, NUL, `.` or `..`; at most {} bytes)",
            lithoflow_dag::MAX_ID_LEN
        )));
    }
    Ok(())
}

/// The query string as pairs, with every name checked against the route's list.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn parse(uri: &Uri, known: &[&str]) -> ApiResult<Params> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter `{k}`; this route takes {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
        Ok(Params(pairs))
    }

    /// Every value of a name; comma-separated values count as several.
    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(',').map(str::trim).map(str::to_owned))
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub(super) fn last(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn number(&self, name: &str) -> ApiResult<Option<u64>> {
        self.last(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "`{name}` must be a non-negative integer, found {v:?}"
                    ))
                })
            })
            .transpose()
    }

    pub(super) fn bool(&self, name: &str) -> ApiResult<Option<bool>> {
        self.last(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "`{name}` must be true or false, found {v:?}"
                ))),
            })
            .transpose()
    }

    /// `recent_runs`: how many runs a DAG's `recent_runs` lists (1 to
    /// [`MAX_RECENT_RUNS`], default [`RECENT_RUNS`]).
    pub(super) fn recent_runs(&self) -> ApiResult<usize> {
        match self.number("recent_runs")? {
            None => Ok(RECENT_RUNS),
            Some(n) if (1..=MAX_RECENT_RUNS as u64).contains(&n) => {
                Ok(usize::try_from(n).unwrap_or(RECENT_RUNS))
            }
            Some(n) => Err(ApiError::bad_request(format!(
                "`recent_runs` must be between 1 and {MAX_RECENT_RUNS}, found {n}"
            ))),
        }
    }

    /// `limit` and `offset`.
    pub(super) fn page(&self) -> ApiResult<(usize, usize)> {
        let limit = self
            .number("limit")?
            .map_or(DEFAULT_LIMIT, |n| usize::try_from(n).unwrap_or(MAX_LIMIT))
            .min(MAX_LIMIT);
        let offset = self
            .number("offset")?
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok((limit, offset))
    }
}

/// An `order_by` value: the field, and whether it sorts descending (a leading `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderBy {
    /// The field, as the client named it (one of the route's list).
    pub(crate) field: String,
    /// `-field`: descending.
    pub(crate) desc: bool,
}

impl OrderBy {
    /// Reads `value` (`field` or `-field`) against the fields a route sorts by, as
    /// Airflow answers an unknown one (400 naming the allowed fields).
    pub(crate) fn parse(value: &str, allowed: &[&str]) -> Result<OrderBy, String> {
        let (desc, field) = match value.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, value),
        };
        if allowed.contains(&field) {
            Ok(OrderBy {
                field: field.to_owned(),
                desc,
            })
        } else {
            Err(format!(
                "Ordering with '{field}' is disallowed or the attribute does not exist on the model; \
                 use one of {}",
                allowed.join(", ")
            ))
        }
    }
}

impl Params {
    /// `order_by` against the route's fields; `default` when it is absent.
    pub(super) fn order_by(&self, allowed: &[&str], default: &str) -> ApiResult<OrderBy> {
        OrderBy::parse(self.last("order_by").unwrap_or(default), allowed)
            .map_err(ApiError::bad_request)
    }
}

pub(super) fn paged<T>(items: Vec<T>, (limit, offset): (usize, usize)) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

/// Any path no route has.
pub(super) async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {}; see docs/api.md for the routes",
        uri.path()
    ))
}

/// A route asked with a method it does not take.
pub(super) async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method; see docs/api.md",
    )
}

/// A v1 error as `/api/v2` answers it (`{"detail": ...}`), for helpers both share.
impl From<ApiError> for super::v2::common::V2Error {
    fn from(e: ApiError) -> super::v2::common::V2Error {
        super::v2::common::V2Error::new(e.status, e.detail)
    }
}
