//! The API token: made once in the lithoflow home, private to its owner, and checked on
//! every request. Clients read it with [`lithoflow_api::read_token`], which this side
//! uses too, so both refuse the same files.

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::ApiError;
use super::v2::common::V2Error;
use crate::control::Shared;
use lithoflow_api::{read_token, token_path};

/// The API token in `home/api-token`: read, or created on first start (32 random bytes,
/// hex) with mode 0600 inside a home created 0700. A token file that the group or others
/// can read is refused: anyone who can read it can drive the scheduler.
pub(crate) fn ensure_token(home: &Path) -> anyhow::Result<String> {
    use anyhow::Context as _;
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};

    if !home.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(home)
            .with_context(|| format!("failed to create {}", home.display()))?;
    }
    let path = token_path(home);
    // Two tries: a scheduler started at the same moment may create the file between our
    // look and our create; then we read theirs.
    for _ in 0..2 {
        if let Some(token) = read_token(&path)? {
            return Ok(token);
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| anyhow::anyhow!("failed to get random bytes for the API token: {e}"))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match file {
            Ok(mut f) => {
                f.write_all(token.as_bytes())
                    .and_then(|()| f.write_all(b"\n"))
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("failed to write {}", path.display()))?;
                return Ok(token);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("failed to create {}", path.display()));
            }
        }
    }
    anyhow::bail!("failed to create or read {}", path.display())
}

/// Compares without an early exit, so the time taken says nothing about the token.
pub(super) fn same_token(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= given.get(i).copied().unwrap_or(0) ^ e;
    }
    diff == 0
}

/// The routes that answer without a token, as Airflow's do: they say whether the
/// scheduler is up and which version it is, nothing secret (Airflow 2.10's
/// `api_connexion/endpoints/health_endpoint.py` has no `requires_access`; Airflow 3.1's
/// `routes/public/monitor.py` and `version.py` have no `requires_access_*` dependency).
const OPEN_ROUTES: &[&str] = &[
    "/api/v1/health",
    "/api/v2/monitor/health",
    "/api/v2/version",
];

/// The middleware in front of every route: the bearer token, or 401. Under `/api/v2` the
/// refusals are FastAPI's (`{"detail": "Not authenticated"}` with 401 without a token,
/// `{"detail": "Invalid JWT token"}` with 403 for a wrong one, as Airflow 3.1's
/// `core_api/security.py` answers); under `/api/v1` problem JSON with 401.
pub(super) async fn auth(
    State(shared): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    if req.method() == axum::http::Method::GET && OPEN_ROUTES.contains(&path.as_str()) {
        return next.run(req).await;
    }
    let v2 = path.starts_with("/api/v2/") || path == "/api/v2";
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match given {
        Some(t) if same_token(t.as_bytes(), shared.token.as_bytes()) => {
            let method = req.method().clone();
            let resp = next.run(req).await;
            tracing::debug!(%method, %path, status = resp.status().as_u16(), "api request");
            resp
        }
        Some(_) if v2 => V2Error::new(StatusCode::FORBIDDEN, "Invalid JWT token").into_response(),
        None if v2 => {
            let mut resp =
                V2Error::new(StatusCode::UNAUTHORIZED, "Not authenticated").into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            resp
        }
        Some(_) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "the bearer token is wrong").into_response()
        }
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "send the token of $LITHOFLOW_HOME/api-token as `Authorization: Bearer <token>`",
        )
        .into_response(),
    }
}
