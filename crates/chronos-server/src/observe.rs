//! The outermost layer of every request: a request id, a concurrency slot, the time limit,
//! the request log and the metrics.
//!
//! The log line has the request id, method, route template, status, latency and key id;
//! never a body, a query string, a header value or a concrete path (which names tenants and
//! items).

use crate::auth::KeyId;
use crate::problem::{ApiError, ErrorCode};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's request id is kept when it is short and plain; otherwise one is made.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(String::from)
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 12]>()))
}

pub(crate) async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    // Only the methods the API knows become labels: any other (HTTP allows made-up ones)
    // would add a metric series per request.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH") => m,
        _ => "OTHER",
    }
    .to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    // Health, readiness and metrics answer even when every slot is taken: a saturated
    // server is busy, not dead. Waiting for a slot counts against the request's time.
    let needs_slot = route.starts_with("/v1/");
    let slots = state.slots.clone();
    let run = async move {
        let _slot = match needs_slot {
            true => slots.acquire_owned().await.ok(),
            false => None,
        };
        next.run(req).await
    };
    let mut response = match tokio::time::timeout(state.request_timeout, run).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            "the request ran out of time (server.requestTimeoutMs); a write may have been committed: read the item before retrying it",
        )
        .into_response(),
    };
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    state
        .metrics
        .record_request(&method, &route, status, code, seconds);
    let key = response
        .extensions()
        .get::<KeyId>()
        .map(|k| k.0.as_str())
        .unwrap_or("-");
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status,
        latency_ms = seconds * 1000.0,
        key,
        code = code.unwrap_or(""),
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}
