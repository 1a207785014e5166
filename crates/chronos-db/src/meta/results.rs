//! Stored results of analytics rules (time-based and cross-tenant) as a store capability: a
//! document per result under a key its rule derives (`rule|tenant|bucket`), written by
//! replacing, so running a rule again replaces its results instead of adding to them.

use super::MetaError;
use crate::model::Timestamp;
use async_trait::async_trait;

/// One stored result.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticsResult {
    /// Unique per rule, tenant and bucket: a new run of the rule replaces the row.
    pub key: String,
    /// The rule's name.
    pub rule: String,
    /// The collection it aggregates.
    pub collection: String,
    /// The tenant (time-based) or the master tenant (cross-tenant).
    pub tenant: String,
    /// The timeframe of a bucketed result.
    pub timeframe: Option<String>,
    /// The bucket's start; `None` for a result over everything.
    pub bucket: Option<Timestamp>,
    /// The whole result as JSON (an object).
    pub document: serde_json::Value,
}

/// Which results to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultFilter {
    /// Only this rule's.
    pub rule: Option<String>,
    /// Only this collection's.
    pub collection: Option<String>,
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Only this timeframe's.
    pub timeframe: Option<String>,
    /// Only buckets starting at or after this.
    pub from: Option<Timestamp>,
    /// Only buckets starting at or before this.
    pub to: Option<Timestamp>,
    /// At most this many.
    pub limit: usize,
}

/// Analytics results in named tables (`timeBasedResults`, `crossTenantResults`).
#[async_trait]
pub trait ResultStore: Send + Sync + 'static {
    /// Creates what the table needs (indexes) if missing.
    async fn ensure_results(&self, _table: &str) -> Result<(), MetaError> {
        Ok(())
    }

    /// Writes each result, replacing a stored one with the same key.
    async fn put_results(&self, table: &str, rows: &[AnalyticsResult]) -> Result<(), MetaError>;

    /// Removes a rule's bucketed results of one tenant with a bucket starting before
    /// `before` (`retention.counters`); results over everything are kept. Returns how many.
    async fn prune_results(
        &self,
        table: &str,
        rule: &str,
        tenant: &str,
        before: Timestamp,
    ) -> Result<u64, MetaError>;

    /// Results matching `filter`, newest bucket first (results over everything last), then
    /// by key.
    async fn results(
        &self,
        table: &str,
        filter: &ResultFilter,
    ) -> Result<Vec<AnalyticsResult>, MetaError>;
}
