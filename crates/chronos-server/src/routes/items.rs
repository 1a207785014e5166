//! One item: create, read, update, delete, enrich, its versions, restore.

use super::{raw_json, CollectionPath, IdempotencyKey, ItemDocument, ItemPath};
use crate::extract::{field_list, time, JsonBody, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::target::{check, Scoped};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chronos_db::access::Permission;
use chronos_db::model::QueuedWrite;
use chronos_db::ops::{EntityInsert, EntityMapping, ReadAt};
use chronos_db::{
    CreateOptions, EnrichOptions, HistoryOptions, HistoryPage, LineageRef, OriginRef, ReadOptions,
    RestoreTarget, WriteResult,
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A write's answer: `status` with its result once committed, 202 with the queued write
/// when the fallback queue took it.
fn answer(
    status: StatusCode,
    written: Result<WriteResult, chronos_db::Error>,
) -> Result<Response, ApiError> {
    match written {
        Ok(w) => Ok((status, Json(w)).into_response()),
        Err(chronos_db::Error::Queued(q)) => Ok((StatusCode::ACCEPTED, Json(q)).into_response()),
        Err(e) => Err(e.into()),
    }
}

/// A parent record.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ParentBody {
    /// The parent record's id.
    id: String,
    /// The parent record's collection.
    collection: String,
}

/// Where the record originally comes from.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OriginBody {
    /// The origin record's id.
    id: String,
    /// The origin record's collection.
    collection: String,
    /// The external system it lives in (e.g. `stripe`).
    #[serde(default)]
    system: Option<String>,
}

/// `POST {C}/items`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateBody {
    /// The item's content: a JSON object.
    #[schema(value_type = Object)]
    data: Value,
    /// Who writes (recorded with the version).
    actor: String,
    /// Why (recorded with the version).
    reason: String,
    /// Use this id instead of a generated one (1-128 of `[A-Za-z0-9._:-]`).
    #[serde(default)]
    id: Option<String>,
    /// The parent record (lineage).
    #[serde(default)]
    parent: Option<ParentBody>,
    /// The origin record (lineage); without it, the parent.
    #[serde(default)]
    origin: Option<OriginBody>,
    /// Save the objects under these properties as entities first:
    /// `{property, collection, keyProperty, databaseType?, tier?}`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    entities: Option<Vec<EntityMapping>>,
}

/// Checks that the key may write (or read) every entity collection the mappings name.
fn check_entities(
    s: &Scoped,
    mappings: &[EntityMapping],
    permission: Permission,
) -> Result<(), ApiError> {
    for m in mappings {
        let route = m.route_for(&s.route)?;
        check(&s.grant, &route, permission, None)?;
    }
    Ok(())
}

/// Creates an item (ov 0).
#[utoipa::path(post, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items", operation_id = "createItem", tag = "items",
    params(CollectionPath, IdempotencyKey), request_body = CreateBody,
    responses((status = 201, description = "Created; with `entities`, the main record's result and one result per entity", body = WriteResult),
        (status = 202, description = "Queued: the backend did not answer and the fallback queue took the write; it commits on replay", body = QueuedWrite), (status = 400, body = Problem), (status = 409, description = "The chosen id is taken", body = Problem), (status = 413, body = Problem)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    s: Scoped,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let coll = s.open(Permission::Write)?;
    if let Some(mappings) = body.entities {
        if body.id.is_some() || body.parent.is_some() || body.origin.is_some() {
            return Err(ApiError::invalid_at(
                "$.entities",
                "cannot be combined with id, parent or origin",
            ));
        }
        check_entities(&s, &mappings, Permission::Write)?;
        let done: EntityInsert = state
            .metrics
            .time(
                "insert_with_entities",
                coll.insert_with_entities(body.data, &mappings, &body.actor, &body.reason),
            )
            .await?;
        return Ok((StatusCode::CREATED, Json(done)).into_response());
    }
    let opts = CreateOptions {
        id: body.id,
        parent: body.parent.map(|p| LineageRef {
            id: p.id,
            collection: p.collection,
        }),
        origin: body.origin.map(|o| OriginRef {
            id: o.id,
            collection: o.collection,
            system: o.system,
        }),
    };
    let written = state
        .metrics
        .time(
            "create",
            coll.create(body.data, &body.actor, &body.reason, opts),
        )
        .await;
    answer(StatusCode::CREATED, written)
}

/// `GET {C}/items/{id}` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct GetQuery {
    /// Read this version.
    ov: Option<u64>,
    /// Read the version current at this time (RFC 3339).
    at: Option<String>,
    /// Return the item even when the version read is a deletion.
    include_deleted: Option<bool>,
    /// Keep only these comma-separated dot paths of the content.
    fields: Option<String>,
    /// Add `_presigned` URLs of the version's JSON and blobs.
    presign: Option<bool>,
    /// Lifetime of the signed URLs, 1-604800 seconds (default 3600).
    ttl_seconds: Option<u64>,
    /// Entity mappings (a JSON array, URL-encoded): answer `{mainRecord, entityRecords}`.
    entities: Option<String>,
}

/// Reads an item: the latest version, a version (`ov`) or as of a time (`at`).
#[utoipa::path(get, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}", operation_id = "getItem", tag = "items",
    params(ItemPath, GetQuery),
    responses((status = 200, description = "The item in its flat shape", body = ItemDocument),
        (status = 400, body = Problem), (status = 404, description = "No such item or version, or it is deleted", body = Problem)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    s: Scoped,
    QueryParams(q): QueryParams<GetQuery>,
) -> Result<Response, ApiError> {
    let id = s.item();
    let coll = s.open(Permission::Read)?;
    let at = match (q.ov, q.at.as_deref()) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give ov or at, not both")),
        (Some(ov), None) => ReadAt::Ov(ov),
        (None, Some(t)) => ReadAt::Time(time("at", t)?),
        (None, None) => ReadAt::Latest,
    };
    let opts = ReadOptions {
        projection: field_list(q.fields.as_deref())?,
        include_deleted: q.include_deleted.unwrap_or(false),
        presign: q.presign.unwrap_or(false),
        ttl_seconds: q.ttl_seconds,
    };
    if let Some(text) = q.entities.as_deref() {
        if at != ReadAt::Latest {
            return Err(ApiError::invalid(
                "entities reads the latest version: drop ov and at",
            ));
        }
        let value = chronos_db::json::parse_unique_keys(text)
            .map_err(|e| ApiError::invalid_at("entities", e))?;
        let mappings: Vec<EntityMapping> = chronos_db::json::from_value(&value)
            .map_err(|e| ApiError::invalid_at(format!("entities{}", e.path()), e.inner()))?;
        check_entities(&s, &mappings, Permission::Read)?;
        let found = state
            .metrics
            .time(
                "get_with_entities",
                coll.get_with_entities(id, &mappings, opts),
            )
            .await?;
        let Some(main) = found.main_record else {
            return Err(ApiError::not_found(format!("item '{id}'")));
        };
        let mut entities = Map::new();
        for (property, item) in found.entity_records {
            entities.insert(
                property,
                item.map(|i| Value::Object(i.to_document()))
                    .unwrap_or(Value::Null),
            );
        }
        let body = serde_json::json!({
            "mainRecord": Value::Object(main.to_document()),
            "entityRecords": entities,
        });
        return Ok(Json(body).into_response());
    }
    let doc = state
        .metrics
        .time("read", coll.read_json(id, at, opts))
        .await?;
    Ok(raw_json(StatusCode::OK, doc.into_string()))
}

/// `PUT {C}/items/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpdateBody {
    /// The new content (replaces the old).
    #[schema(value_type = Object)]
    data: Value,
    /// The ov the item must be at (optimistic lock).
    expected_ov: u64,
    /// Who writes.
    actor: String,
    /// Why.
    reason: String,
}

/// Replaces an item's content.
#[utoipa::path(put, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}", operation_id = "updateItem", tag = "items",
    params(ItemPath, IdempotencyKey), request_body = UpdateBody,
    responses((status = 200, body = WriteResult), (status = 202, description = "Queued: the backend did not answer and the fallback queue took the write; it commits on replay", body = QueuedWrite), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "`expectedOv` is stale; `currentOv` says where the item is", body = Problem),
        (status = 410, description = "The item is deleted", body = Problem), (status = 413, body = Problem)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    s: Scoped,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    let id = s.item();
    let coll = s.open(Permission::Write)?;
    let written = state
        .metrics
        .time(
            "update",
            coll.update(id, body.data, body.expected_ov, &body.actor, &body.reason),
        )
        .await;
    answer(StatusCode::OK, written)
}

/// `DELETE {C}/items/{id}` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteQuery {
    /// The ov the item must be at.
    expected_ov: u64,
    /// Who deletes.
    actor: String,
    /// Why.
    reason: String,
}

/// Deletes an item (a deletion version, unless `logicalDelete.enabled` is false).
#[utoipa::path(delete, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}", operation_id = "deleteItem", tag = "items",
    params(ItemPath, DeleteQuery, IdempotencyKey),
    responses((status = 200, body = WriteResult), (status = 202, description = "Queued: the backend did not answer and the fallback queue took the write; it commits on replay", body = QueuedWrite), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 410, body = Problem)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    s: Scoped,
    QueryParams(q): QueryParams<DeleteQuery>,
) -> Result<Response, ApiError> {
    let id = s.item();
    let coll = s.open(Permission::Write)?;
    let written = state
        .metrics
        .time(
            "delete",
            coll.delete(id, q.expected_ov, &q.actor, &q.reason),
        )
        .await;
    answer(StatusCode::OK, written)
}

/// `POST {C}/items/{id}/enrich`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EnrichBody {
    /// One patch (an object) or several (an array of objects), deep-merged in order with
    /// arrays unioned.
    #[schema(value_type = Object)]
    patch: Value,
    /// The enrichment function (recorded in `_system.functionIds`), if any.
    #[serde(default)]
    function_id: Option<String>,
    /// Who enriches.
    actor: String,
    /// Why.
    reason: String,
    /// Fail with 409 unless the item is at this ov; without it, a concurrent write makes the
    /// enrichment merge again on the newer version.
    #[serde(default)]
    expected_ov: Option<u64>,
}

/// Deep-merges patches into an item.
#[utoipa::path(post, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}/enrich", operation_id = "enrichItem", tag = "items",
    params(ItemPath, IdempotencyKey), request_body = EnrichBody,
    responses((status = 200, body = WriteResult), (status = 202, description = "Queued: the backend did not answer and the fallback queue took the write; it commits on replay", body = QueuedWrite), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 410, body = Problem)))]
pub(crate) async fn enrich(
    State(state): State<AppState>,
    s: Scoped,
    JsonBody(body): JsonBody<EnrichBody>,
) -> Result<Response, ApiError> {
    let id = s.item();
    let coll = s.open(Permission::Write)?;
    let opts = EnrichOptions {
        function_id: body.function_id,
        actor: body.actor,
        reason: body.reason,
        expected_ov: body.expected_ov,
    };
    let written = state
        .metrics
        .time("enrich", coll.enrich(id, body.patch, opts))
        .await;
    answer(StatusCode::OK, written)
}

/// `GET {C}/items/{id}/versions` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionsQuery {
    /// Page size, 1-1000 (default 50).
    limit: Option<usize>,
    /// Only versions below this ov (the `nextBeforeOv` of the previous page).
    before_ov: Option<u64>,
    /// Also report each version's `storedSize` (as stored: compressed, encrypted).
    #[serde(default)]
    stored_sizes: bool,
}

/// Lists an item's versions, newest first.
#[utoipa::path(get, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}/versions", operation_id = "listVersions", tag = "items",
    params(ItemPath, VersionsQuery),
    responses((status = 200, body = HistoryPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn versions(
    State(state): State<AppState>,
    s: Scoped,
    QueryParams(q): QueryParams<VersionsQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let id = s.item();
    let coll = s.open(Permission::Read)?;
    let opts = HistoryOptions {
        limit: q.limit,
        before_ov: q.before_ov,
        stored_sizes: q.stored_sizes,
    };
    Ok(Json(
        state
            .metrics
            .time("history", coll.history(id, opts))
            .await?,
    ))
}

/// `POST {C}/items/{id}/restore`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RestoreItemBody {
    /// Restore this version...
    #[serde(default)]
    ov: Option<u64>,
    /// ...or the version current at this time (RFC 3339).
    #[serde(default)]
    at: Option<String>,
    /// Who restores.
    actor: String,
    /// Why.
    reason: String,
}

/// Appends a RESTORE version with an earlier version's content.
#[utoipa::path(post, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}/restore", operation_id = "restoreItem", tag = "items",
    params(ItemPath, IdempotencyKey), request_body = RestoreItemBody,
    responses((status = 200, body = WriteResult), (status = 202, description = "Queued: the backend did not answer and the fallback queue took the write; it commits on replay", body = QueuedWrite), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn restore(
    State(state): State<AppState>,
    s: Scoped,
    JsonBody(body): JsonBody<RestoreItemBody>,
) -> Result<Response, ApiError> {
    let id = s.item();
    let coll = s.open(Permission::Write)?;
    let target = match (body.ov, body.at.as_deref()) {
        (Some(ov), None) => RestoreTarget::Ov(ov),
        (None, Some(t)) => RestoreTarget::At(time("$.at", t)?),
        _ => return Err(ApiError::invalid("give exactly one of ov or at")),
    };
    let written = state
        .metrics
        .time(
            "restore_object",
            coll.restore_object(id, target, &body.actor, &body.reason),
        )
        .await;
    answer(StatusCode::OK, written)
}
