//! Authentication: the `Authorization: Bearer <key>` header to a [`Grant`].
//!
//! With keys configured every `/v1` request needs one; a missing, malformed or unknown key is
//! 401 whatever the route, so a 401 says nothing about the route or its data. `/metrics` and
//! `/readyz` need an operator's key (a `*:*:*` scope). Without keys (a server on loopback
//! only) every request gets a grant of everything.

use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chronos_db::access::Grant;

/// The id of the key a request was made with, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct KeyId(pub(crate) String);

/// The grant of a request's key (everything when no keys are configured).
fn grant_of(state: &AppState, headers: &HeaderMap) -> Result<Grant, ApiError> {
    if state.keys.is_empty() {
        return Ok(state.open_grant.clone());
    }
    bearer(headers)
        .and_then(|key| {
            state
                .keys
                .authenticate(key)
                .ok_or("the API key is not valid")
        })
        .map_err(ApiError::unauthorized)
}

pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let grant = match grant_of(&state, req.headers()) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let key_id = KeyId(grant.key_id().to_string());
    req.extensions_mut().insert::<Grant>(grant);
    let mut response = next.run(req).await;
    response.extensions_mut().insert(key_id);
    response
}

fn bearer(headers: &HeaderMap) -> Result<&str, &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or("send the API key as `Authorization: Bearer <key>`")?;
    let text = value
        .to_str()
        .map_err(|_| "the Authorization header is not readable text")?;
    let (scheme, key) = text
        .split_once(' ')
        .ok_or("the Authorization header must be `Bearer <key>`")?;
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err("the Authorization header must be `Bearer <key>`");
    }
    Ok(key.trim())
}

/// `/metrics` and `/readyz` describe every tenant's traffic and the deployment's
/// connections: with keys configured they need an operator's key, one with a scope over
/// every route (`*:*:*:read` or more).
pub(crate) async fn operators_only(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match grant_of(&state, req.headers()) {
        Ok(grant) if grant.is_global() => {
            let key_id = KeyId(grant.key_id().to_string());
            let mut response = next.run(req).await;
            response.extensions_mut().insert(key_id);
            response
        }
        Ok(_) => ApiError::forbidden("this endpoint needs an operator's key (a *:*:*:read scope)")
            .into_response(),
        Err(e) => e.into_response(),
    }
}
