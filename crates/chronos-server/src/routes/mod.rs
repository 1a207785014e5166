//! The handlers, one file per group of endpoints. Each reads its request, checks the key's
//! scope, makes one library call and writes its answer: no behaviour lives here.

pub(crate) mod analytics;
pub(crate) mod blobs;
pub(crate) mod changes;
pub(crate) mod collection;
pub(crate) mod counters;
pub(crate) mod erasure;
pub(crate) mod fetch;
pub(crate) mod history;
pub(crate) mod items;
pub(crate) mod system;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A JSON answer from text the library assembled (no re-encoding).
pub(crate) fn raw_json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Path parameters of a tenant collection (the OpenAPI document is written for the tenant
/// prefix and copied to the other three; see `openapi.rs`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct CollectionPath {
    /// `metadata`, `knowledge` or `runtime`.
    #[param(rename = "databaseType")]
    database_type: String,
    /// The tenant (lower-case letters, digits, `_`, `-`).
    #[param(rename = "tenantId")]
    tenant_id: String,
    /// The collection (1-64 of `[A-Za-z0-9_-]`).
    collection: String,
}

/// Path of the endpoints named by a tenant (analytics, subject erasure).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct TenantPath {
    /// The tenant (lower-case letters, digits, `_`, `-`).
    #[param(rename = "tenantId")]
    tenant_id: String,
}

/// The header of an item write's request id.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct IdempotencyKey {
    /// The write's request id (1-128 printable ASCII characters): a write repeated with the
    /// same key returns the first outcome (its committed version, or 202 while it is queued)
    /// instead of writing again. A create without an `id` gets an id derived from the key.
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

/// [`CollectionPath`] plus the item id.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct ItemPath {
    /// `metadata`, `knowledge` or `runtime`.
    #[param(rename = "databaseType")]
    database_type: String,
    /// The tenant (lower-case letters, digits, `_`, `-`).
    #[param(rename = "tenantId")]
    tenant_id: String,
    /// The collection (1-64 of `[A-Za-z0-9_-]`).
    collection: String,
    /// The item id (1-128 of `[A-Za-z0-9._:-]`).
    id: String,
}

/// The flat shape of an item: `{"_id", ...content, "_system": {...}}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ItemDocument {
    /// The item's id.
    #[schema(rename = "_id")]
    id: String,
    /// Versions, times, deletion and lineage.
    #[schema(rename = "_system")]
    system: chronos_db::SystemFields,
    /// Signed URLs of the version's JSON and blobs, when `presign` was asked.
    #[schema(rename = "_presigned", value_type = Option<Object>)]
    presigned: Option<serde_json::Value>,
}
