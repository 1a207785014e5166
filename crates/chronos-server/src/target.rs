//! The collection a request names, and whether its key may act on it.
//!
//! The route comes from the path (`/v1/{databaseType}/tenant/{tenantId}/{collection}`, ...)
//! and is checked against the request's [`Grant`] before any data is read:
//!
//! * a route none of the key's scopes covers is answered exactly as a missing item (404
//!   `NOT_FOUND`): a key for tenant-a cannot tell whether tenant-b has an item, a collection
//!   or anything at all;
//! * a route the key covers with too low a permission (a read key writing, a write key
//!   restoring a collection) is 403 `FORBIDDEN`: the key may see the route, so saying why
//!   reveals nothing it could not read.

use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use chronos_db::access::{Grant, Permission};
use chronos_db::{Chronos, Collection, DatabaseType, Route};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

/// The path prefixes of a collection, one per kind of route.
pub(crate) const PREFIXES: [&str; 4] = [
    "/v1/{databaseType}/generic/{collection}",
    "/v1/{databaseType}/domain/{domain}/{collection}",
    "/v1/{databaseType}/tenant/{tenantId}/{collection}",
    "/v1/logs/{collection}",
];

/// A request's route, grant and (on item endpoints) item id.
pub(crate) struct Scoped {
    pub(crate) route: Route,
    pub(crate) grant: Grant,
    /// The `{id}` of the path, unchecked (the library parses it).
    item: Option<String>,
    /// The `Idempotency-Key` header: the request id of an item write.
    idempotency_key: Option<String>,
    chronos: Arc<Chronos>,
}

/// The header a client names a write's request id with (a repeated key returns the first
/// outcome instead of writing again).
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

impl FromRequestParts<AppState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(format!("path: {}", e.body_text())))?;
        let grant = parts
            .extensions
            .get::<Grant>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("no API key"))?;
        let idempotency_key = match parts.headers.get(IDEMPOTENCY_KEY) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| {
                        ApiError::invalid_at("Idempotency-Key", "must be printable ASCII")
                    })?
                    .to_string(),
            ),
        };
        Ok(Scoped {
            route: route_of(&params)?,
            grant,
            item: params.get("id").cloned(),
            idempotency_key,
            chronos: state.chronos.clone(),
        })
    }
}

fn route_of(params: &HashMap<String, String>) -> Result<Route, ApiError> {
    let param = |name: &str| params.get(name).map(String::as_str);
    let collection = param("collection").unwrap_or_default();
    let route = match param("databaseType") {
        None => Route::logs(collection),
        Some(ty) => {
            let ty = DatabaseType::from_str(ty)
                .map_err(|e| ApiError::invalid_at("databaseType", e.0))?;
            match (param("tenantId"), param("domain")) {
                (Some(tenant), _) => Route::tenant(ty, tenant, collection),
                (None, Some(domain)) => Route::domain(ty, domain, collection),
                (None, None) => Route::generic(ty, collection),
            }
        }
    };
    Ok(route.map_err(chronos_db::Error::from)?)
}

impl Scoped {
    /// The collection, when the key may act on it with `permission`. On an item endpoint an
    /// out-of-scope answer reads like that item missing.
    pub(crate) fn open(&self, permission: Permission) -> Result<Collection, ApiError> {
        check(&self.grant, &self.route, permission, self.item.as_deref())?;
        let collection = self.chronos.with(self.route.clone())?;
        match (&self.idempotency_key, permission) {
            (Some(key), Permission::Write) => Ok(collection
                .with_request_id(key)
                .map_err(|e| ApiError::invalid_at("Idempotency-Key", e))?),
            _ => Ok(collection),
        }
    }

    /// The counters, after checking the key may do `permission` on the route.
    pub(crate) fn counters(
        &self,
        permission: Permission,
    ) -> Result<chronos_db::counters::Counters, ApiError> {
        check(&self.grant, &self.route, permission, self.item.as_deref())?;
        Ok(self.chronos.counters())
    }

    /// The item id of an item endpoint (empty elsewhere).
    pub(crate) fn item(&self) -> &str {
        self.item.as_deref().unwrap_or_default()
    }
}

/// Whether `grant` may act on a tenant with `permission`, for endpoints named by a tenant
/// rather than a collection: checked against its runtime databases (scopes name a database
/// type, a tier and a tenant, never a collection). A tenant outside the key's scopes is
/// answered 404 with the text `missing` gives.
pub(crate) fn check_tenant(
    grant: &Grant,
    tenant: &str,
    permission: Permission,
    missing: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    let route = Route::tenant(DatabaseType::Runtime, tenant, "tenant")
        .map_err(|e| ApiError::from(chronos_db::Error::from(e)))?;
    if !grant.covers(&route) {
        return Err(ApiError::not_found(missing()));
    }
    check(grant, &route, permission, None)
}

/// Whether `grant` may act on `route` with `permission` (see the module docs for the answers).
pub(crate) fn check(
    grant: &Grant,
    route: &Route,
    permission: Permission,
    item: Option<&str>,
) -> Result<(), ApiError> {
    if !grant.covers(route) {
        return Err(match item {
            Some(id) => ApiError::not_found(format!("item '{id}'")),
            None => ApiError::not_found(format!("collection '{}'", route.collection)),
        });
    }
    if !grant.allows(route, permission) {
        return Err(ApiError::forbidden(format!(
            "this API key may not {} here",
            permission.as_str()
        )));
    }
    Ok(())
}
