//! A whole collection: queries and restores.

use super::{CollectionPath, ItemDocument};
use crate::extract::{time, JsonBody};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::target::Scoped;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chronos_db::access::Permission;
use chronos_db::{
    CollectionTarget, GcReport, ItemJson, ListOptions, RestoreOptions, RestoreReport,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST {C}/query`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct QueryBody {
    /// A MongoDB-style filter on indexed properties (`$eq $ne $gt $gte $lt $lte $in $nin
    /// $exists $and $or $not $regex`); `{}` or absent = every item.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    filter: Option<Value>,
    /// `{"property": 1 | -1}`; the id breaks ties. Default: by id.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    sort: Option<Value>,
    /// Page size, 1-1000 (default 50).
    #[serde(default)]
    limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
    /// Query the collection as it was at this time (RFC 3339)...
    #[serde(default)]
    as_of: Option<String>,
    /// ...or at this collection version.
    #[serde(default)]
    as_of_cv: Option<u64>,
    /// Include items whose version read is a deletion.
    #[serde(default)]
    include_deleted: Option<bool>,
    /// Keep only these dot paths of each item's content.
    #[serde(default)]
    fields: Option<Vec<String>>,
    /// Add `_presigned` URLs to every item.
    #[serde(default)]
    presign: Option<bool>,
    /// Lifetime of the signed URLs, 1-604800 seconds (default 3600).
    #[serde(default)]
    ttl_seconds: Option<u64>,
}

/// A page of items.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryPage {
    /// The items of this page, in the query's order, in their flat shape.
    #[schema(value_type = Vec<ItemDocument>)]
    items: Vec<ItemJson>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

impl QueryPage {
    /// The page as JSON text, each item's text copied as the library wrote it (serializing
    /// through serde would parse every item again; a test holds the two equal).
    fn to_json_text(&self) -> Result<String, serde_json::Error> {
        let next = serde_json::to_string(&self.next_cursor)?;
        let items: usize = self.items.iter().map(|i| i.get().len() + 1).sum();
        let mut text = String::with_capacity(items + next.len() + 32);
        text.push_str("{\"items\":[");
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(item.get());
        }
        text.push_str("],\"nextCursor\":");
        text.push_str(&next);
        text.push('}');
        Ok(text)
    }
}

/// Queries a collection on its indexed properties, one keyset page at a time.
#[utoipa::path(post, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/query", operation_id = "queryItems", tag = "collections",
    params(CollectionPath), request_body = QueryBody,
    responses((status = 200, body = QueryPage), (status = 400, description = "Bad filter, sort, limit or cursor", body = Problem),
        (status = 404, body = Problem)))]
pub(crate) async fn query(
    State(state): State<AppState>,
    s: Scoped,
    JsonBody(body): JsonBody<QueryBody>,
) -> Result<Response, ApiError> {
    let coll = s.open(Permission::Read)?;
    let as_of_time = body
        .as_of
        .as_deref()
        .map(|t| time("$.asOf", t))
        .transpose()?;
    if as_of_time.is_some() && body.as_of_cv.is_some() {
        return Err(ApiError::invalid("give asOf or asOfCv, not both"));
    }
    let opts = ListOptions {
        filter: body.filter,
        sort: body.sort,
        limit: body.limit,
        after: body.cursor,
        as_of_time,
        as_of_cv: body.as_of_cv,
        include_deleted: body.include_deleted.unwrap_or(false),
        projection: body.fields,
        presign: body.presign.unwrap_or(false),
        ttl_seconds: body.ttl_seconds,
    };
    let page = state
        .metrics
        .time("list_by_meta", coll.list_by_meta_json(opts))
        .await?;
    let page = QueryPage {
        items: page.items,
        next_cursor: page.next,
    };
    let text = page
        .to_json_text()
        .map_err(|e| ApiError::from(chronos_db::Error::Corrupt(e.to_string())))?;
    Ok(super::raw_json(StatusCode::OK, text))
}

/// `POST {C}/restore`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RestoreCollectionBody {
    /// Restore to this collection version...
    #[serde(default)]
    cv: Option<u64>,
    /// ...or to this time (RFC 3339).
    #[serde(default)]
    at: Option<String>,
    /// Count what would change, change nothing.
    #[serde(default)]
    dry_run: bool,
    /// Continue an interrupted restore after this item id (its report's `lastId`).
    #[serde(default)]
    resume_after: Option<String>,
    /// Recorded as the actor of every version written.
    actor: String,
    /// Recorded as the reason of every version written.
    reason: String,
}

/// Restores every item of a collection to its state at a collection version or a time
/// (appending versions; needs `admin`).
#[utoipa::path(post, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/restore", operation_id = "restoreCollection", tag = "collections",
    params(CollectionPath), request_body = RestoreCollectionBody,
    responses((status = 200, body = RestoreReport), (status = 400, body = Problem), (status = 403, description = "The key is not admin here", body = Problem),
        (status = 404, body = Problem)))]
pub(crate) async fn restore(
    State(state): State<AppState>,
    s: Scoped,
    JsonBody(body): JsonBody<RestoreCollectionBody>,
) -> Result<Json<RestoreReport>, ApiError> {
    let coll = s.open(Permission::Admin)?;
    let target = match (body.cv, body.at.as_deref()) {
        (Some(cv), None) => CollectionTarget::Cv(cv),
        (None, Some(t)) => CollectionTarget::At(time("$.at", t)?),
        _ => return Err(ApiError::invalid("give exactly one of cv or at")),
    };
    let opts = RestoreOptions {
        dry_run: body.dry_run,
        resume_after: body.resume_after,
        actor: body.actor,
        reason: body.reason,
        progress: None,
    };
    let report = state
        .metrics
        .time("restore_collection", coll.restore_collection(target, opts))
        .await?;
    Ok(Json(report))
}

/// `POST {C}/gc`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GcBody {
    /// Only objects older than this many seconds (default 3600: writes in progress are
    /// never touched).
    #[serde(default)]
    older_than_seconds: Option<u64>,
    /// Only report (default `true`); `false` removes the orphans.
    #[serde(default)]
    dry_run: Option<bool>,
}

/// Finds (and with `dryRun: false` removes) payload objects of the collection that no
/// version references: leftovers of failed or interrupted writes (needs `admin`).
#[utoipa::path(post, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/gc", tag = "collections", operation_id = "collectGarbage",
    params(CollectionPath), request_body = GcBody,
    responses((status = 200, body = GcReport), (status = 400, body = Problem), (status = 403, description = "The key is not admin here", body = Problem),
        (status = 404, body = Problem)))]
pub(crate) async fn gc(
    State(state): State<AppState>,
    s: Scoped,
    JsonBody(body): JsonBody<GcBody>,
) -> Result<Json<GcReport>, ApiError> {
    let coll = s.open(Permission::Admin)?;
    let older_than = std::time::Duration::from_secs(body.older_than_seconds.unwrap_or(3600));
    let report = state
        .metrics
        .time(
            "sweep_orphans",
            coll.sweep_orphans(older_than, body.dry_run.unwrap_or(true)),
        )
        .await?;
    Ok(Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronos_db::{Chronos, CreateOptions, DatabaseType, Route};

    /// The page's text, items copied as they are, is what serializing it gives, on the
    /// first page (with a cursor) and the last (without).
    #[tokio::test]
    async fn page_text_is_the_serialized_page() {
        let dir = tempfile::tempdir().unwrap();
        let chronos = Chronos::embedded(dir.path()).await.unwrap();
        let route = Route::tenant(DatabaseType::Runtime, "t1", "notes").unwrap();
        let c = chronos.with(route).unwrap();
        for n in 0..3 {
            let doc = serde_json::json!({"n": n, "text": "quote \" and \u{e9}"});
            c.create(doc, "me", "test", CreateOptions::default())
                .await
                .unwrap();
        }
        let mut after = None;
        for want_next in [true, false] {
            let page = c
                .list_by_meta_json(ListOptions {
                    limit: Some(2),
                    after: after.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(page.next.is_some(), want_next);
            after = page.next.clone();
            let page = QueryPage {
                items: page.items,
                next_cursor: page.next,
            };
            let text = page.to_json_text().unwrap();
            assert_eq!(text, serde_json::to_string(&page).unwrap());
            let parsed: Value = serde_json::from_str(&text).unwrap();
            assert!(parsed["items"][0]["_system"].is_object(), "{text}");
        }
    }
}
