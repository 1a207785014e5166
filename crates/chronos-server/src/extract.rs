//! Request bodies and query strings, read strictly, with problem+json errors.
//!
//! A JSON body must be declared as JSON (or not declared at all), be UTF-8, parse, name each
//! key once per object, and match the request type, which refuses unknown fields: a typo in a
//! field name is an error naming its JSON path, never an ignored option. Query strings refuse
//! unknown parameters the same way.

use crate::problem::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON request body of type `T`.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(kind) = req.headers().get(header::CONTENT_TYPE) {
            let kind = kind.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = kind.split(';').next().unwrap_or_default().trim();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "the body must be JSON: send Content-Type: application/json",
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    "the request body is larger than the server accepts (server.maxBodyBytes)",
                )
                .closing()
            } else {
                ApiError::invalid(format!(
                    "the request body could not be read: {}",
                    r.body_text()
                ))
            }
        })?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::invalid("the request body is not UTF-8 text"))?;
        let value = chronos_db::json::parse_unique_keys(text)
            .map_err(|e| ApiError::invalid(format!("the request body is not valid JSON: {e}")))?;
        let typed = chronos_db::json::from_value::<T>(&value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." {
                "$".to_string()
            } else {
                format!("$.{path}")
            };
            ApiError::invalid_at(path, e.inner())
        })?;
        Ok(JsonBody(typed))
    }
}

/// The query string as `T`.
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let params = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(params)
            .map(QueryParams)
            .map_err(|e| {
                let name = e.path().to_string();
                if name == "." {
                    ApiError::invalid(format!("query string: {}", e.inner()))
                } else {
                    ApiError::invalid_at(name, e.inner())
                }
            })
    }
}

/// A comma-separated list of dot paths (`fields=a,b.c`), or `None` when not given.
pub(crate) fn field_list(fields: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(text) = fields else {
        return Ok(None);
    };
    let paths: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    if paths.is_empty() {
        return Err(ApiError::invalid_at("fields", "name at least one dot path"));
    }
    Ok(Some(paths))
}

/// A time parameter (RFC 3339).
pub(crate) fn time(param: &str, text: &str) -> Result<chronos_db::Timestamp, ApiError> {
    chronos_db::Timestamp::parse(text).map_err(|e| ApiError::invalid_at(param, e))
}
