//! A collection's real-time counters: totals, distinct values, reset.

use super::CollectionPath;
use crate::extract::{JsonBody, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::target::Scoped;
use axum::extract::State;
use axum::Json;
use chronos_db::access::Permission;
use chronos_db::counters::{ResetReport, Totals, TotalsOptions, UniqueValuesPage};
use serde::Deserialize;

/// `GET {C}/counters`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TotalsQuery {
    /// Include per-rule totals (every rule, or those of `rules`).
    #[serde(default)]
    include_rules: Option<bool>,
    /// Comma-separated rule names: only these rules' totals (implies `includeRules`).
    #[serde(default)]
    rules: Option<String>,
}

/// A collection's totals: writes per kind (`created`, `updated`, `deleted`, `enriched`,
/// `restored`), per counter rule with their distinct-value counts, and `lastAt`. Every
/// committed write is in them.
#[utoipa::path(get, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/counters", operation_id = "getTotals", tag = "counters",
    params(CollectionPath, TotalsQuery),
    responses((status = 200, body = Totals), (status = 400, description = "Counting is off, or an unknown rule", body = Problem),
        (status = 404, body = Problem)))]
pub(crate) async fn totals(
    State(state): State<AppState>,
    s: Scoped,
    QueryParams(q): QueryParams<TotalsQuery>,
) -> Result<Json<Totals>, ApiError> {
    let counters = s.counters(Permission::Read)?;
    let rules: Option<Vec<String>> = q
        .rules
        .as_deref()
        .map(|r| r.split(',').map(|n| n.trim().to_string()).collect());
    let opts = TotalsOptions {
        include_rules: q.include_rules.unwrap_or(false) || rules.is_some(),
        rules,
    };
    let totals = state
        .metrics
        .time("get_totals", counters.get_totals(&s.route, &opts))
        .await?;
    Ok(Json(totals))
}

/// `GET {C}/counters/unique`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UniqueQuery {
    /// The counter rule.
    rule: String,
    /// The property, as the rule's `countUnique` names it (without `[]`).
    property: String,
    /// Values per page, 1-1000 (default 100).
    #[serde(default)]
    limit: Option<usize>,
    /// The `next` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
}

/// The distinct values a counter rule counted for a property, a page at a time.
#[utoipa::path(get, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/counters/unique", operation_id = "getUniqueValues", tag = "counters",
    params(CollectionPath, UniqueQuery),
    responses((status = 200, body = UniqueValuesPage), (status = 400, description = "Counting is off, an unknown rule or property, a bad cursor", body = Problem),
        (status = 404, body = Problem)))]
pub(crate) async fn unique(
    State(state): State<AppState>,
    s: Scoped,
    QueryParams(q): QueryParams<UniqueQuery>,
) -> Result<Json<UniqueValuesPage>, ApiError> {
    let counters = s.counters(Permission::Read)?;
    let page = state
        .metrics
        .time(
            "get_unique_values",
            counters.get_unique_values(
                &s.route,
                &q.rule,
                &q.property,
                q.cursor.as_deref(),
                q.limit.unwrap_or(100),
            ),
        )
        .await?;
    Ok(Json(page))
}

/// `POST {C}/counters/reset`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ResetBody {
    /// Who resets (recorded in the logs database).
    actor: String,
    /// Why (recorded in the logs database).
    #[serde(default)]
    reason: String,
}

/// Starts a collection's counts again from zero: totals and distinct values (needs
/// `admin`). The reset is recorded in the logs database first.
#[utoipa::path(post, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/counters/reset", operation_id = "resetTotals", tag = "counters",
    params(CollectionPath), request_body = ResetBody,
    responses((status = 200, body = ResetReport), (status = 400, body = Problem), (status = 403, description = "The key is not admin here", body = Problem),
        (status = 404, body = Problem)))]
pub(crate) async fn reset(
    State(state): State<AppState>,
    s: Scoped,
    JsonBody(body): JsonBody<ResetBody>,
) -> Result<Json<ResetReport>, ApiError> {
    let counters = s.counters(Permission::Admin)?;
    let report = state
        .metrics
        .time(
            "reset_totals",
            counters.reset_totals(&s.route, &body.actor, &body.reason),
        )
        .await?;
    Ok(Json(report))
}
