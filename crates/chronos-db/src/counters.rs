//! Real-time counters: per collection, how many writes of each kind were committed, how
//! many matched each counter rule, and how many distinct values each rule saw per property.
//!
//! Counting and its guarantees are described in `ops/counting.rs`: every committed version
//! is counted exactly once, from what its commit stored, also across crashes (with the two
//! exceptions named there: versions gone before a catch-up could count them). This module
//! is the read side, in the shape Chronos-DB v2 clients know (`{_id, created, updated,
//! deleted, rules: {name: {created, unique: {prop: n}}}, lastAt}`), scoped by the route
//! like every other read.

use crate::error::{Error, Result};
use crate::meta::CounterTotals;
use crate::model::Timestamp;
use crate::ops::Context;
use crate::routing::{DatabaseType, Route, Tier};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most distinct values one page returns.
pub const MAX_UNIQUE_PAGE: usize = 1000;

/// What [`Counters::get_totals`] includes.
#[derive(Debug, Clone, Default)]
pub struct TotalsOptions {
    /// Include per-rule totals.
    pub include_rules: bool,
    /// Only these rules (every configured rule when `None`). An unknown name is an error.
    pub rules: Option<Vec<String>>,
}

/// Counted writes per operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpCounts {
    /// Creates.
    pub created: u64,
    /// Updates.
    pub updated: u64,
    /// Deletes (logical and hard).
    pub deleted: u64,
    /// Enrichments.
    pub enriched: u64,
    /// Restores (of an item, or as part of a collection restore).
    pub restored: u64,
    /// Erasures (the tombstone each erased item gets).
    pub erased: u64,
}

impl OpCounts {
    fn of(by_op: &BTreeMap<String, u64>) -> Self {
        let n = |op: &str| by_op.get(op).copied().unwrap_or(0);
        OpCounts {
            created: n("CREATE"),
            updated: n("UPDATE"),
            deleted: n("DELETE"),
            enriched: n("ENRICH"),
            restored: n("RESTORE"),
            erased: n("ERASE"),
        }
    }
}

/// One rule's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleTotals {
    /// The writes that matched the rule, per operation.
    #[serde(flatten)]
    pub counts: OpCounts,
    /// Per `countUnique` property, its number of distinct values.
    pub unique: BTreeMap<String, u64>,
}

/// A collection's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    /// `tenant:<id>|db:<dbName>|coll:<collection>` (`domain:<name>` or `generic` for the
    /// other tiers).
    #[serde(rename = "_id")]
    pub id: String,
    /// The tenant, for the tenant tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The domain, for the domain tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The database type.
    pub database_type: DatabaseType,
    /// The tier.
    pub tier: Tier,
    /// The metadata database the collection lives in.
    pub db_name: String,
    /// The collection.
    pub collection: String,
    /// Counted writes per operation.
    #[serde(flatten)]
    pub counts: OpCounts,
    /// Per rule (with `include_rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<BTreeMap<String, RuleTotals>>,
    /// The commit time of the latest write counted.
    pub last_at: Option<Timestamp>,
}

/// A page of a rule property's distinct values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UniqueValuesPage {
    /// The values, as JSON (`"1"` and `1` are different values).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub values: Vec<serde_json::Value>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// What a reset did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetReport {
    /// Writes committed with a cv above this count from now on.
    pub floor_cv: u64,
    /// The id of the reset's record in the logs database (`counter_resets`), when the
    /// configuration has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
}

/// The counters of a Chronos instance ([`crate::Chronos::counters`]).
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use chronos_db::{config::ChronosConfig, counters::TotalsOptions, Chronos, DatabaseType, Route};
/// use serde_json::json;
/// let dir = tempfile::tempdir().unwrap();
/// let mut cfg = ChronosConfig::embedded(dir.path());
/// cfg.counter_rules = Some(serde_json::from_value(json!({"rules": [
///     {"name": "user_logins", "on": ["CREATE"], "when": {"action": "login"}, "countUnique": ["sessionId"]}
/// ]})).unwrap());
/// let chronos = Chronos::open(cfg).await.unwrap();
/// let route = Route::tenant(DatabaseType::Runtime, "tenant-a", "events").unwrap();
/// let events = chronos.with(route.clone()).unwrap();
/// for s in ["s1", "s2", "s1"] {
///     events.create(json!({"action": "login", "sessionId": s}), "app", "login", Default::default()).await.unwrap();
/// }
/// let totals = chronos.counters().get_totals(&route, &TotalsOptions { include_rules: true, rules: None }).await.unwrap();
/// assert_eq!(totals.counts.created, 3);
/// let logins = &totals.rules.as_ref().unwrap()["user_logins"];
/// assert_eq!((logins.counts.created, logins.unique["sessionId"]), (3, 2));
/// # });
/// ```
pub struct Counters {
    pub(crate) context: Arc<Context>,
}

impl Counters {
    /// A collection's totals: every committed write is in them (writes not counted yet by
    /// their writer are counted first).
    pub async fn get_totals(&self, route: &Route, opts: &TotalsOptions) -> Result<Totals> {
        let coll = self.context.collection(route.clone())?;
        let raw = coll.counted_totals().await?;
        let rules = match opts.include_rules {
            false => None,
            true => Some(self.rule_totals(&raw, opts.rules.as_deref())?),
        };
        let resolved = crate::routing::resolve(&self.context.config, route)?;
        let scope = match (route.tier, &route.tenant_id, &route.domain) {
            (Tier::Tenant, Some(t), _) => format!("tenant:{t}"),
            (Tier::Domain, _, Some(d)) => format!("domain:{d}"),
            _ => "generic".to_string(),
        };
        Ok(Totals {
            id: format!("{scope}|db:{}|coll:{}", resolved.db_name, route.collection),
            tenant: route.tenant_id.as_ref().map(|t| t.to_string()),
            domain: route.domain.as_ref().map(|d| d.to_string()),
            database_type: route.database_type,
            tier: route.tier,
            db_name: resolved.db_name,
            collection: route.collection.to_string(),
            counts: OpCounts::of(&raw.by_op),
            rules,
            last_at: raw.last_at,
        })
    }

    /// Every configured rule (or the named ones), zeros included.
    fn rule_totals(
        &self,
        raw: &CounterTotals,
        only: Option<&[String]>,
    ) -> Result<BTreeMap<String, RuleTotals>> {
        let Some(set) = &self.context.counter_rules else {
            return Ok(BTreeMap::new());
        };
        if let Some(only) = only {
            if let Some(unknown) = only
                .iter()
                .find(|n| !set.rules().iter().any(|r| &r.name == *n))
            {
                return Err(Error::Validation(format!(
                    "no counter rule is named '{}'",
                    crate::names::printable(unknown)
                )));
            }
        }
        let mut out = BTreeMap::new();
        for rule in set.rules() {
            if only.is_some_and(|o| !o.contains(&rule.name)) {
                continue;
            }
            let seen = raw.unique.get(&rule.name);
            let unique = rule
                .count_unique
                .iter()
                .map(|p| {
                    let name = p.dotted();
                    let n = seen.and_then(|u| u.get(&name)).copied().unwrap_or(0);
                    (name, n)
                })
                .collect();
            let counts = raw
                .by_rule
                .get(&rule.name)
                .map(OpCounts::of)
                .unwrap_or_default();
            out.insert(rule.name.clone(), RuleTotals { counts, unique });
        }
        Ok(out)
    }

    /// A page of the distinct values a rule counted for a property (its `countUnique` path
    /// as written, without `[]`), in a stable order; `limit` is capped at
    /// [`MAX_UNIQUE_PAGE`].
    pub async fn get_unique_values(
        &self,
        route: &Route,
        rule: &str,
        property: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<UniqueValuesPage> {
        let limit = limit.clamp(1, MAX_UNIQUE_PAGE);
        let coll = self.context.collection(route.clone())?;
        let rows = coll
            .counted_unique_values(rule, property, cursor, limit)
            .await?;
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|(k, _)| k.clone()))
            .flatten();
        let values = rows
            .into_iter()
            .map(|(_, text)| {
                serde_json::from_str(&text)
                    .map_err(|e| Error::Corrupt(format!("a counted distinct value: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(UniqueValuesPage { values, next })
    }

    /// Resets a collection's totals and distinct values: writes committed afterwards count
    /// from zero. The reset is recorded first in the logs database (collection
    /// `counter_resets`: who, why, which collection) when the configuration has one.
    pub async fn reset_totals(
        &self,
        route: &Route,
        actor: &str,
        reason: &str,
    ) -> Result<ResetReport> {
        let coll = self.context.collection(route.clone())?;
        coll.counter_rules().ok_or_else(|| {
            Error::validation(
                "counters are off: the configuration has neither `counterRules` nor `analytics`",
            )
        })?;
        let log_id = match Route::generic(DatabaseType::Logs, "counter_resets")
            .map_err(Error::from)
            .and_then(|r| self.context.collection(r))
        {
            Ok(logs) => {
                let record = serde_json::json!({
                    "route": route,
                    "actor": actor,
                    "reason": reason,
                    "requestedAt": self.context.now(),
                });
                Some(
                    logs.create_direct(record, actor, reason, Default::default())
                        .await?
                        .id,
                )
            }
            Err(_) => None,
        };
        let done = coll.reset_counted().await?;
        Ok(ResetReport {
            floor_cv: done.floor,
            log_id,
        })
    }
}
