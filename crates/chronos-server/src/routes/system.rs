//! Liveness, readiness, metrics and the OpenAPI document. None names a tenant, a database or a
//! bucket; readiness and metrics (which show every tenant's traffic) need an operator's key
//! when keys are configured.

use crate::problem::ApiError;
use crate::readiness::ReadyReport;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// The process is alive.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", security(()), tag = "system",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)))]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Every configured database and bucket answers (checked at most every 2 seconds). Needs an
/// operator's key (`*:*:*:read`) when keys are configured.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "system",
    responses((status = 200, body = ReadyReport), (status = 503, description = "A connection did not answer", body = ReadyReport)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let report = state.readiness.report(&state.chronos).await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

/// Prometheus metrics (text format). Needs an operator's key (`*:*:*:read`) when keys are
/// configured.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    if let Ok(queue) = state.chronos.queue() {
        match queue.stats().await {
            Ok(stats) => state.metrics.set_queue(&stats),
            Err(e) => tracing::warn!(error = %e, "could not read the fallback queue's state"),
        }
    }
    let text = state
        .metrics
        .encode()
        .map_err(|e| ApiError::from(chronos_db::Error::Corrupt(e.to_string())))?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", security(()), tag = "system",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server", body = Object)))]
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}
