//! Erasure: of one item, of a tenant's data subject, and checking receipts. All need
//! `admin` on what they touch, except checking a receipt (`read`).

use super::{ItemPath, TenantPath};
use crate::extract::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::target::Scoped;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use chronos_db::access::{Grant, Permission};
use chronos_db::erasure::{ReceiptCheck, SubjectErasureOptions, SubjectErasureReport};
use chronos_db::ops::{EraseOptions, EraseReport};
use serde::Deserialize;
use serde_json::Value;

/// `POST {C}/items/{id}/erase`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EraseBody {
    /// Who erases (recorded with the tombstone and in the receipt).
    actor: String,
    /// Why.
    #[serde(default)]
    reason: String,
}

/// Erases an item (needs `admin`): its content leaves every version, an `ERASE` tombstone
/// stays, and every later read of it answers 410 `ERASED`. A signed receipt goes to the logs
/// database. Calling it again completes an interrupted erasure.
#[utoipa::path(post, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}/erase", operation_id = "eraseItem", tag = "erasure",
    params(ItemPath), request_body = EraseBody,
    responses((status = 200, body = EraseReport), (status = 400, description = "Bad input, or erasure is not configured (erasure.receiptKey, a logs database)", body = Problem),
        (status = 403, description = "The key is not admin here", body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn erase(
    State(state): State<AppState>,
    s: Scoped,
    JsonBody(body): JsonBody<EraseBody>,
) -> Result<Json<EraseReport>, ApiError> {
    let id = s.item();
    let coll = s.open(Permission::Admin)?;
    let opts = EraseOptions {
        actor: body.actor,
        reason: body.reason,
        ..Default::default()
    };
    let report = state.metrics.time("erase", coll.erase(id, opts)).await?;
    Ok(Json(report))
}

/// `POST /v1/erasure/{tenantId}/subject`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SubjectBody {
    /// The subject's value in the collections' `subjectProps`: a string, number or boolean
    /// (compared with its type: `"1"` and `1` differ).
    #[schema(value_type = Object)]
    value: Value,
    /// Who erases.
    actor: String,
    /// Why.
    #[serde(default)]
    reason: String,
    /// Only list what would be erased.
    #[serde(default)]
    dry_run: bool,
    /// Also search the generic tiers (shared by every tenant; the key must be admin there).
    #[serde(default)]
    include_generic: bool,
    /// Also search these domains' databases (the key must be admin there).
    #[serde(default)]
    domains: Vec<String>,
}

/// Erases every item of the tenant whose any version held the value in one of its
/// collection's `subjectProps` (needs `admin` on every database searched). Items of other
/// tenants are never touched; shared tiers only when named.
#[utoipa::path(post, path = "/v1/erasure/{tenantId}/subject", operation_id = "eraseSubject", tag = "erasure",
    params(TenantPath), request_body = SubjectBody,
    responses((status = 200, body = SubjectErasureReport), (status = 400, body = Problem),
        (status = 403, description = "The key is not admin on a database searched", body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn erase_subject(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<SubjectBody>,
) -> Result<Json<SubjectErasureReport>, ApiError> {
    let opts = SubjectErasureOptions {
        actor: body.actor,
        reason: body.reason,
        dry_run: body.dry_run,
        include_generic: body.include_generic,
        domains: body.domains,
    };
    // Decided from the routes alone, before anything is read.
    check_tenant(&grant, &tenant, Permission::Read)?;
    let erasure = state.chronos.erasure();
    for route in erasure.routes_searched(&tenant, &opts)? {
        if !grant.allows(&route, Permission::Admin) {
            return Err(ApiError::forbidden(format!(
                "a subject erasure searches {route}; this API key is not admin there"
            )));
        }
    }
    let report = state
        .metrics
        .time(
            "erase_subject",
            erasure.erase_subject(&tenant, &body.value, &opts),
        )
        .await?;
    Ok(Json(report))
}

/// Path of a receipt.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct ReceiptPath {
    /// The tenant (lower-case letters, digits, `_`, `-`).
    #[param(rename = "tenantId")]
    tenant_id: String,
    /// The receipt id (`receiptId` of an erasure's report).
    #[param(rename = "receiptId")]
    receipt_id: String,
}

/// Checks one of the tenant's erasure receipts: it exists, was never rewritten, and its
/// signature matches every field (`valid`; `problem` says why not). A receipt of another
/// tenant answers 404, like a missing one.
#[utoipa::path(get, path = "/v1/erasure/{tenantId}/receipts/{receiptId}", operation_id = "verifyReceipt", tag = "erasure",
    params(ReceiptPath),
    responses((status = 200, body = ReceiptCheck), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    Path((tenant, receipt_id)): Path<(String, String)>,
) -> Result<Json<ReceiptCheck>, ApiError> {
    check_tenant(&grant, &tenant, Permission::Read)?;
    let missing = || ApiError::not_found(format!("receipt '{receipt_id}'"));
    let found = state
        .metrics
        .time(
            "verify_receipt",
            state.chronos.erasure().verify(&receipt_id),
        )
        .await?;
    // Only the tenant's own receipts; a damaged one is shown only when it still names it.
    let owner = found
        .receipt
        .as_ref()
        .and_then(|r| r.route.tenant_id.as_ref())
        .map(|t| t.as_str().to_string());
    if owner.as_deref() != Some(tenant.as_str()) {
        return Err(missing());
    }
    Ok(Json(found))
}

/// Checks the key may do `permission` on the tenant; a tenant outside its scopes is
/// answered as unknown.
fn check_tenant(grant: &Grant, tenant: &str, permission: Permission) -> Result<(), ApiError> {
    crate::target::check_tenant(grant, tenant, permission, || format!("tenant '{tenant}'"))
}
