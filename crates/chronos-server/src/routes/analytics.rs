//! A tenant's analytics rules: running them, and reading the results of its time-based
//! rules and of the cross-tenant rules it is master of.

use super::TenantPath;
use crate::extract::{time, JsonBody, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use chronos_db::access::{Grant, Permission};
use chronos_db::analytics_jobs::{ResultsQuery, RunOptions, RunReport};
use chronos_db::config::Timeframe;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Checks the key may do `permission` on the tenant; a tenant outside its scopes is
/// answered like one without analytics.
fn check_tenant(grant: &Grant, tenant: &str, permission: Permission) -> Result<(), ApiError> {
    crate::target::check_tenant(grant, tenant, permission, || {
        format!("analytics of tenant '{tenant}'")
    })
}

/// `GET /v1/analytics/{tenantId}/time-based` and `.../cross-tenant`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ResultsParams {
    /// Only this rule's results.
    #[serde(default)]
    rule: Option<String>,
    /// Only rules over this collection.
    #[serde(default)]
    collection: Option<String>,
    /// Only this timeframe's: `hourly`, `daily`, `weekly`, `monthly` (time-based).
    #[serde(default)]
    #[param(value_type = Option<String>)]
    timeframe: Option<Timeframe>,
    /// Only buckets (cross-tenant: run hours) starting at or after this time (RFC 3339).
    #[serde(default)]
    from: Option<String>,
    /// Only buckets starting at or before this time (RFC 3339).
    #[serde(default)]
    to: Option<String>,
    /// At most this many, 1-10000 (default 100).
    #[serde(default)]
    limit: Option<usize>,
}

impl ResultsParams {
    fn query(self) -> Result<ResultsQuery, ApiError> {
        Ok(ResultsQuery {
            rule: self.rule,
            collection: self.collection,
            timeframe: self.timeframe,
            from: self.from.as_deref().map(|t| time("from", t)).transpose()?,
            to: self.to.as_deref().map(|t| time("to", t)).transpose()?,
            limit: self.limit,
        })
    }
}

/// Stored results, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ResultsPage {
    /// One document per result: the rule, its value (and per tenant, for a cross-tenant
    /// rule), the bucket or run hour, when it was computed.
    #[schema(value_type = Vec<Object>)]
    results: Vec<Value>,
}

/// The results of the tenant's time-based rules, newest bucket first.
#[utoipa::path(get, path = "/v1/analytics/{tenantId}/time-based", operation_id = "getTimeBasedResults", tag = "analytics",
    params(TenantPath, ResultsParams),
    responses((status = 200, body = ResultsPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn time_based(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    Path(tenant): Path<String>,
    QueryParams(params): QueryParams<ResultsParams>,
) -> Result<Json<ResultsPage>, ApiError> {
    check_tenant(&grant, &tenant, Permission::Read)?;
    let query = params.query()?;
    let results = state
        .metrics
        .time(
            "get_time_based_results",
            state
                .chronos
                .analytics()
                .get_time_based_results(&tenant, &query),
        )
        .await?;
    Ok(Json(ResultsPage { results }))
}

/// The results of the cross-tenant rules this tenant is master of, newest run first (other
/// tenants read none of them).
#[utoipa::path(get, path = "/v1/analytics/{tenantId}/cross-tenant", operation_id = "getCrossTenantResults", tag = "analytics",
    params(TenantPath, ResultsParams),
    responses((status = 200, body = ResultsPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn cross_tenant(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    Path(tenant): Path<String>,
    QueryParams(params): QueryParams<ResultsParams>,
) -> Result<Json<ResultsPage>, ApiError> {
    check_tenant(&grant, &tenant, Permission::Read)?;
    let query = params.query()?;
    let results = state
        .metrics
        .time(
            "get_cross_tenant_results",
            state
                .chronos
                .analytics()
                .get_cross_tenant_results(&tenant, &query),
        )
        .await?;
    Ok(Json(ResultsPage { results }))
}

/// `POST /v1/analytics/{tenantId}/run`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RunBody {
    /// Only this rule.
    #[serde(default)]
    rule: Option<String>,
}

/// Runs the tenant's time-based rules and the cross-tenant rules it is master of, now
/// (needs `admin`). A rule another process is running is reported `busy`.
#[utoipa::path(post, path = "/v1/analytics/{tenantId}/run", operation_id = "runAnalytics", tag = "analytics",
    params(TenantPath), request_body = RunBody,
    responses((status = 200, body = RunReport), (status = 400, body = Problem), (status = 403, description = "The key is not admin here", body = Problem),
        (status = 404, body = Problem)))]
pub(crate) async fn run(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<RunBody>,
) -> Result<Json<RunReport>, ApiError> {
    check_tenant(&grant, &tenant, Permission::Admin)?;
    let opts = RunOptions {
        rule: body.rule,
        tenant: Some(tenant),
    };
    let report = state
        .metrics
        .time("run_analytics", state.chronos.analytics().run(&opts))
        .await?;
    Ok(Json(report))
}
