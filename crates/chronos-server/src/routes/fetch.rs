//! Tiered fetch: one record from the tenant, domain and generic databases.

use crate::extract::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::target::check;
use axum::extract::{Path, State};
use axum::Extension;
use axum::Json;
use chronos_db::access::{Grant, Permission};
use chronos_db::merge::MergeOptions;
use chronos_db::tiered::{tier_routes, TieredOptions};
use chronos_db::DatabaseType;
use serde::Deserialize;
use serde_json::Value;

/// How tiers merge.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MergeOptionsBody {
    /// Union arrays without duplicates (default true); false concatenates them.
    #[serde(default)]
    dedupe_arrays: Option<bool>,
    /// Keep keys a less specific tier already set (default false).
    #[serde(default)]
    preserve_existing: Option<bool>,
}

/// `POST /v1/{databaseType}/fetch`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FetchBody {
    /// The collection, in every tier.
    collection: String,
    /// A filter on indexed properties; each tier's first match (by id) is its record.
    #[schema(value_type = Object)]
    filter: Value,
    /// Look in this tenant's database too.
    #[serde(default)]
    tenant_id: Option<String>,
    /// Look in this domain's database too.
    #[serde(default)]
    domain: Option<String>,
    /// Merge every tier found (generic ← domain ← tenant) instead of returning the most
    /// specific.
    #[serde(default)]
    merge: bool,
    /// How tiers merge.
    #[serde(default)]
    merge_options: Option<MergeOptionsBody>,
    /// Also find records whose latest version is a deletion.
    #[serde(default)]
    include_deleted: bool,
}

/// The answer: `{data, tiersFound, tierRecords}`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct FetchResult {
    /// The most specific tier's record, or every tier merged; `null` when none has one.
    #[schema(value_type = Option<Object>)]
    data: Option<Value>,
    /// The tiers that had a record (`generic`, `domain`, `tenant`).
    tiers_found: Vec<String>,
    /// Each of those tiers' records, by tier, in the flat item shape.
    #[schema(value_type = Object)]
    tier_records: Value,
}

/// Looks a knowledge or metadata record up across tiers. The key needs read access to every
/// tier the fetch consults (generic, and the domain and tenant when given).
#[utoipa::path(post, path = "/v1/{databaseType}/fetch", operation_id = "fetchTiered", tag = "tiered",
    params(("databaseType" = String, Path, description = "`knowledge` or `metadata`")),
    request_body = FetchBody,
    responses((status = 200, body = FetchResult), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn fetch(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    Path(database_type): Path<String>,
    JsonBody(body): JsonBody<FetchBody>,
) -> Result<Json<Value>, ApiError> {
    let ty = match database_type.as_str() {
        "knowledge" => DatabaseType::Knowledge,
        "metadata" => DatabaseType::Metadata,
        _ => {
            return Err(ApiError::invalid_at(
                "databaseType",
                "tiered fetch reads knowledge or metadata",
            ))
        }
    };
    let defaults = MergeOptions::default();
    let merge = body.merge_options.unwrap_or_default();
    let opts = TieredOptions {
        tenant_id: body.tenant_id,
        domain: body.domain,
        merge: body.merge,
        merge_options: MergeOptions {
            dedupe_arrays: merge.dedupe_arrays.unwrap_or(defaults.dedupe_arrays),
            preserve_existing: merge
                .preserve_existing
                .unwrap_or(defaults.preserve_existing),
        },
        include_deleted: body.include_deleted,
    };
    for route in tier_routes(ty, &body.collection, &opts)? {
        check(&grant, &route, Permission::Read, None)?;
    }
    let chronos = &state.chronos;
    let found = match ty {
        DatabaseType::Knowledge => {
            state
                .metrics
                .time(
                    "get_knowledge",
                    chronos.get_knowledge(&body.collection, body.filter, opts),
                )
                .await?
        }
        _ => {
            state
                .metrics
                .time(
                    "get_metadata",
                    chronos.get_metadata(&body.collection, body.filter, opts),
                )
                .await?
        }
    };
    Ok(Json(found.to_json()))
}
