//! Signed links to objects kept in local files: what `presign` hands out on the embedded
//! backend (cloud stores hand out their own presigned URLs).

use crate::extract::QueryParams;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chronos_db::payload::LinkError;
use serde::Deserialize;

/// The link's signature and time.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LinkQuery {
    /// Unix time (seconds) after which the link is refused.
    expires: u64,
    /// HMAC-SHA-256 of the link, in hex.
    sig: String,
}

/// One object by a signed link from a read with `presign` (no API key: the link is the
/// credential, for one version's object, until it expires).
#[utoipa::path(get, path = "/v1/blobs/{path}", tag = "items", operation_id = "getLinkedObject", security(()),
    params(("path" = String, Path, description = "`<connection>/<bucket>/<key>`, as in the link"), LinkQuery),
    responses((status = 200, description = "The object's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, description = "The link is not valid or has expired", body = Problem),
        (status = 404, description = "The object no longer exists", body = Problem)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(path): Path<String>,
    QueryParams(q): QueryParams<LinkQuery>,
) -> Result<Response, ApiError> {
    let bytes = state
        .chronos
        .read_link(&path, q.expires, &q.sig)
        .await
        .map_err(|e| match e {
            LinkError::Expired => {
                ApiError::new(StatusCode::FORBIDDEN, "LINK_EXPIRED", e.to_string())
            }
            LinkError::Read(e) => ApiError::from(e),
            other => ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", other.to_string()),
        })?;
    let kind = match path.rsplit('.').next() {
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    let mut response = bytes.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    Ok(response)
}
