//! History tools: what changed in an item between two versions, which version set each
//! value (blame), the values one path took; every version an actor wrote in a collection.

use super::{CollectionPath, ItemPath};
use crate::extract::{time, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::target::Scoped;
use axum::extract::State;
use axum::Json;
use chronos_db::access::Permission;
use chronos_db::ops::{
    ActorVersionsOptions, ActorVersionsPage, Blame, FieldHistoryOptions, FieldHistoryPage, ReadAt,
};
use chronos_db::ItemDiff;
use serde::Deserialize;

/// `GET {C}/items/{id}/diff` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DiffQuery {
    /// The version compared from: an ov (`0`, `1`, ...), an RFC 3339 time (the version
    /// current then) or `latest`.
    from: String,
    /// The version compared to, named the same way (default `latest`).
    to: Option<String>,
}

fn version(param: &str, text: &str) -> Result<ReadAt, ApiError> {
    text.parse::<ReadAt>()
        .map_err(|e| ApiError::invalid_at(param, e))
}

/// What changed in an item between two versions: an RFC 6902 JSON Patch from `from`'s
/// content to `to`'s, and the paths it adds, removes and changes (objects compared key by
/// key, arrays position by position). Deleted versions compare like any other.
#[utoipa::path(get, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}/diff", operation_id = "diffVersions", tag = "items",
    params(ItemPath, DiffQuery),
    responses((status = 200, body = ItemDiff), (status = 400, body = Problem),
        (status = 404, description = "No such item, version or time", body = Problem),
        (status = 410, description = "The item is erased", body = Problem)))]
pub(crate) async fn diff(
    State(state): State<AppState>,
    s: Scoped,
    QueryParams(q): QueryParams<DiffQuery>,
) -> Result<Json<ItemDiff>, ApiError> {
    let id = s.item();
    let from = version("from", &q.from)?;
    let to = version("to", q.to.as_deref().unwrap_or("latest"))?;
    let coll = s.open(Permission::Read)?;
    Ok(Json(
        state.metrics.time("diff", coll.diff(id, from, to)).await?,
    ))
}

/// `GET {C}/versions` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActorVersionsQuery {
    /// The actor, as its writes passed it.
    actor: String,
    /// Only versions committed at or after this time (RFC 3339).
    from: Option<String>,
    /// Only versions committed at or before this time (RFC 3339).
    to: Option<String>,
    /// Page size, 1-1000 (default 50).
    limit: Option<usize>,
    /// The `nextCursor` of the previous page of the same listing.
    cursor: Option<String>,
}

/// Every version an actor wrote in the collection, newest first (commit time, then cv), in
/// pages; optionally within `from`/`to`. Served by an `(actor, at, cv)` index.
#[utoipa::path(get, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/versions", operation_id = "versionsByActor", tag = "collections",
    params(CollectionPath, ActorVersionsQuery),
    responses((status = 200, body = ActorVersionsPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn by_actor(
    State(state): State<AppState>,
    s: Scoped,
    QueryParams(q): QueryParams<ActorVersionsQuery>,
) -> Result<Json<ActorVersionsPage>, ApiError> {
    let opts = ActorVersionsOptions {
        from: q.from.as_deref().map(|t| time("from", t)).transpose()?,
        to: q.to.as_deref().map(|t| time("to", t)).transpose()?,
        limit: q.limit,
        cursor: q.cursor,
    };
    let coll = s.open(Permission::Read)?;
    Ok(Json(
        state
            .metrics
            .time("versions_by_actor", coll.versions_by_actor(&q.actor, opts))
            .await?,
    ))
}

/// `GET {C}/items/{id}/blame` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BlameQuery {
    /// The version blamed: an ov, an RFC 3339 time or `latest` (the default).
    at: Option<String>,
}

/// For every leaf of the item's content (a JSON Pointer): the version that set its current
/// value, who wrote it and when.
#[utoipa::path(get, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}/blame", operation_id = "blameItem", tag = "items",
    params(ItemPath, BlameQuery),
    responses((status = 200, body = Blame), (status = 400, body = Problem),
        (status = 404, description = "No such item, version or time", body = Problem),
        (status = 410, description = "The item is erased", body = Problem)))]
pub(crate) async fn blame(
    State(state): State<AppState>,
    s: Scoped,
    QueryParams(q): QueryParams<BlameQuery>,
) -> Result<Json<Blame>, ApiError> {
    let id = s.item();
    let at = version("at", q.at.as_deref().unwrap_or("latest"))?;
    let coll = s.open(Permission::Read)?;
    Ok(Json(state.metrics.time("blame", coll.blame(id, at)).await?))
}

/// `GET {C}/items/{id}/field-history` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FieldHistoryQuery {
    /// The path: a JSON Pointer (`/address/city`) or a dot path (`address.city`).
    path: String,
    /// Changes per page, 1-1000 (default 50).
    limit: Option<usize>,
    /// Only versions below this ov (the `nextBeforeOv` of the previous page).
    before_ov: Option<u64>,
}

/// The values one path of the item took, newest first: each version that set, changed or
/// removed it, with who wrote it and when.
#[utoipa::path(get, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}/field-history", operation_id = "fieldHistory", tag = "items",
    params(ItemPath, FieldHistoryQuery),
    responses((status = 200, body = FieldHistoryPage), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 410, description = "The item is erased", body = Problem)))]
pub(crate) async fn field_history(
    State(state): State<AppState>,
    s: Scoped,
    QueryParams(q): QueryParams<FieldHistoryQuery>,
) -> Result<Json<FieldHistoryPage>, ApiError> {
    let id = s.item();
    let opts = FieldHistoryOptions {
        limit: q.limit,
        before_ov: q.before_ov,
    };
    let coll = s.open(Permission::Read)?;
    Ok(Json(
        state
            .metrics
            .time("field_history", coll.field_history(id, &q.path, opts))
            .await?,
    ))
}
