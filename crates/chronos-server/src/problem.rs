//! Errors as RFC 9457 `application/problem+json`, with the library's stable error codes.
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `VALIDATION_ERROR`, `ROUTE_ERROR` | malformed JSON, wrong types, bad ids or names, unknown parameters or query operators (with the JSON path or parameter) |
//! | 404 | `ROUTE_ERROR` | a database type, tenant or domain the configuration does not serve |
//! | 401 | `UNAUTHORIZED` | no, malformed or unknown API key |
//! | 403 | `FORBIDDEN` | the key sees the route but lacks the permission (a read key writing) |
//! | 404 | `NOT_FOUND` | no such item or version, no such route, or a route outside the key's scopes |
//! | 409 | `CONFLICT` (with `currentOv`), `ALREADY_EXISTS` | optimistic lock failures, taken ids |
//! | 410 | `DELETED` (with `ov`) | writing to a logically deleted item |
//! | 410 | `BEYOND_RETENTION` (with `oldest`) | a version, time or collection version retention pruned |
//! | 410 | `ERASED` | any read, write or restore of an erased item (or of any of its versions) |
//! | 413 | `PAYLOAD_TOO_LARGE` | a body above `server.maxBodyBytes`, or data above `limits.maxPayloadBytes` |
//! | 415 | `UNSUPPORTED_MEDIA_TYPE` | a body that is not declared as JSON |
//! | 423 | `LOCKED` | another writer holds the item's lease (`locks.enabled`) |
//! | 429 | `TOO_MANY_STREAMS` | the key has `server.maxEventStreamsPerKey` event streams open (with `Retry-After`) |
//! | 503 | `BACKEND_UNAVAILABLE`, `TIMEOUT`, `TOO_MANY_STREAMS` | a backend did not answer, the request ran out of time, or the server has `server.maxEventStreams` event streams open (with `Retry-After`) |
//! | 500 | `METADATA_ERROR`, `PAYLOAD_ERROR`, `CORRUPT`, `ENCRYPTION_ERROR` | a backend refused, stored data is damaged, or encrypted data does not open with the configured master key |
//!
//! Bodies carry the error's message (which the library keeps free of credentials), never a
//! stack trace.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chronos_db::routing::RouteError;
use chronos_db::Error;
use serde_json::{Map, Value};

/// Seconds a client should wait before retrying after a 503 or a 429.
const RETRY_AFTER_SECONDS: u64 = 1;

/// The error code an error response carried, for metrics (set as a response extension).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCode(pub(crate) &'static str);

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    extra: Map<String, Value>,
    /// Answer with `Connection: close` (the request body was left unread).
    close: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
            close: false,
        }
    }

    /// The answer's status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// Closes the connection after this answer: the rest of the request's body was not read,
    /// so the connection cannot carry another request.
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// 400 `VALIDATION_ERROR`.
    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", detail)
    }

    /// 400 `VALIDATION_ERROR` naming the offending JSON path or parameter.
    pub(crate) fn invalid_at(path: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        let path = path.into();
        Self::invalid(format!("{path}: {detail}")).with("path", Value::String(path))
    }

    /// 401 `UNAUTHORIZED`.
    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", detail)
    }

    /// 403 `FORBIDDEN`.
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", detail)
    }

    /// 404 `NOT_FOUND`, worded as the library words it.
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into()).into()
    }

    pub(crate) fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let detail = e.to_string();
        let code = e.code();
        let status = if e.is_unavailable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            match &e {
                Error::Validation(_) | Error::Config(_) => StatusCode::BAD_REQUEST,
                Error::Route(RouteError::Invalid(_)) => StatusCode::BAD_REQUEST,
                Error::Route(_) => StatusCode::NOT_FOUND,
                Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                Error::NotFound(_) => StatusCode::NOT_FOUND,
                Error::Conflict { .. } | Error::AlreadyExists { .. } => StatusCode::CONFLICT,
                Error::Deleted { .. } | Error::BeyondRetention { .. } | Error::Erased { .. } => {
                    StatusCode::GONE
                }
                Error::Locked { .. } => StatusCode::LOCKED,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            }
        };
        if status.is_server_error() {
            tracing::warn!(code, error = %detail, "request failed on the server side");
        }
        let mut out = ApiError::new(status, code, detail);
        match e {
            Error::Conflict {
                expected, current, ..
            } => {
                out = out
                    .with("currentOv", current.into())
                    .with("expectedOv", expected.into())
            }
            Error::Deleted { ov, .. } => out = out.with("ov", ov.into()),
            Error::BeyondRetention { oldest, .. } => {
                out = out.with("oldest", oldest.clone().into())
            }
            Error::PayloadTooLarge { size, limit } => {
                out = out.with("size", size.into()).with("limit", limit.into())
            }
            _ => {}
        }
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            format!("urn:chronos-db:problem:{}", self.code.to_ascii_lowercase()).into(),
        );
        body.insert(
            "title".into(),
            self.status.canonical_reason().unwrap_or("Error").into(),
        );
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("code".into(), self.code.into());
        body.insert("detail".into(), self.detail.into());
        body.extend(self.extra);
        let text = Value::Object(body).to_string();
        let mut response = (self.status, text).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"chronos\""),
            );
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if matches!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

/// The problem document's schema, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct Problem {
    /// `urn:chronos-db:problem:<code in lower case>`.
    r#type: String,
    /// The HTTP status's reason phrase.
    title: String,
    /// The HTTP status.
    status: u16,
    /// The stable error code (`VALIDATION_ERROR`, `NOT_FOUND`, `CONFLICT`, ...).
    code: String,
    /// What went wrong, for people.
    detail: String,
    /// The offending JSON path or parameter (validation errors).
    path: Option<String>,
    /// The item's current ov (409 `CONFLICT`).
    current_ov: Option<u64>,
}
