//! Running time-based and cross-tenant rules (`analytics.timeBasedRules`,
//! `analytics.crossTenantRules`), and reading their results.
//!
//! A run reads the live items of the rule's collection in each tenant's runtime database
//! (routed like every read, templates included), evaluates the rule
//! ([`crate::analytics::Aggregation`]) and stores the results in the tenant's analytics
//! store (its runtime database's `analyticsDbName`, else the runtime database itself):
//!
//! * a **time-based** result per `(rule, tenant, bucket)` in `timeBasedResults`; running a
//!   rule again replaces its buckets, and a bucket of the window that has no items any more
//!   is written empty (count 0, other aggregates `null`) rather than left stale;
//! * a **cross-tenant** result per `(rule, hour of the run)` in `crossTenantResults` of the
//!   master tenant, with each tenant's value: runs within the hour replace it, earlier hours
//!   stay as history.
//!
//! Each `(rule, tenant)` run holds a lease in the results' store, so two processes running the
//! same rule at once do it once (the other reports it `busy`); a run is also safe to repeat.
//! A run that dies leaves the results it had written, whole documents each; its lease
//! expires after [`RUN_LEASE`] and the next run recomputes everything.

use crate::analytics::{bucket_start, combine, tenant_value, Aggregation, ItemFacts};
use crate::config::{Analytics, CrossTenantRule, TimeBasedRule, Timeframe};
use crate::error::{Error, Result};
use crate::meta::{AnalyticsResult, MetadataStore, ResultFilter};
use crate::model::Timestamp;
use crate::ops::{Collection, Context};
use crate::routing::{DatabaseType, Route};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The table of time-based results.
pub const TIME_BASED_RESULTS: &str = "timeBasedResults";
/// The table of cross-tenant results.
pub const CROSS_TENANT_RESULTS: &str = "crossTenantResults";
/// How long a run's lease lasts (a run longer than this may overlap another; both write
/// whole results, so the later one wins).
pub const RUN_LEASE: std::time::Duration = std::time::Duration::from_secs(600);
/// Items read per page of a run.
const PAGE: usize = 500;
/// Most results one read returns.
pub const MAX_RESULTS: usize = 10_000;

/// Which rules [`AnalyticsJobs::run`] runs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Only this rule (time-based or cross-tenant).
    pub rule: Option<String>,
    /// Only this tenant: its time-based runs, and the cross-tenant rules it is master of.
    pub tenant: Option<String>,
}

/// What kind of rule a run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RuleKind {
    /// `analytics.timeBasedRules`.
    TimeBased,
    /// `analytics.crossTenantRules`.
    CrossTenant,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RunStatus {
    /// Evaluated and stored.
    Done,
    /// Another process holds the rule's lease (it is running it now).
    Busy,
    /// It failed (see `error`); the other rules ran.
    Failed,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorInfo {
    /// The error's code (`VALIDATION_ERROR`, `BACKEND_UNAVAILABLE`, ...).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// One rule's run for one tenant (the master tenant of a cross-tenant rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleRun {
    /// The rule.
    pub rule: String,
    /// Its kind.
    pub kind: RuleKind,
    /// The tenant (the master tenant of a cross-tenant rule).
    pub tenant: String,
    /// How it ended.
    pub status: RunStatus,
    /// Live items read.
    pub items: u64,
    /// Results written.
    pub results: usize,
    /// Bucketed results removed because they are older than `retention.counters` keeps.
    pub pruned: u64,
    /// Why it failed (with status `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// What [`AnalyticsJobs::run`] did, rule by rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunReport {
    /// One entry per rule and tenant.
    pub runs: Vec<RuleRun>,
}

/// Which results to read.
#[derive(Debug, Clone, Default)]
pub struct ResultsQuery {
    /// Only this rule's.
    pub rule: Option<String>,
    /// Only rules over this collection.
    pub collection: Option<String>,
    /// Only this timeframe's (time-based).
    pub timeframe: Option<Timeframe>,
    /// Only buckets (cross-tenant: run hours) starting at or after this.
    pub from: Option<Timestamp>,
    /// Only buckets starting at or before this.
    pub to: Option<Timestamp>,
    /// At most this many (default 100, at most [`MAX_RESULTS`]).
    pub limit: Option<usize>,
}

/// Time-based and cross-tenant rules of a Chronos instance ([`crate::Chronos::analytics`]).
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use chronos_db::analytics_jobs::{ResultsQuery, RunOptions};
/// use chronos_db::{config::ChronosConfig, Chronos, DatabaseType, Route};
/// use serde_json::json;
/// let dir = tempfile::tempdir().unwrap();
/// let mut cfg = ChronosConfig::embedded(dir.path());
/// cfg.analytics = Some(serde_json::from_value(json!({"tenants": ["tenant-a"], "timeBasedRules": [
///     {"name": "revenue", "collection": "tx", "operation": "sum", "field": "amount", "saveMode": "global"}
/// ]})).unwrap());
/// let chronos = Chronos::open(cfg).await.unwrap();
/// let tx = chronos.with(Route::tenant(DatabaseType::Runtime, "tenant-a", "tx").unwrap()).unwrap();
/// for amount in [5, 7] {
///     tx.create(json!({"amount": amount}), "shop", "sale", Default::default()).await.unwrap();
/// }
/// chronos.analytics().run(&RunOptions::default()).await.unwrap();
/// let results = chronos.analytics().get_time_based_results("tenant-a", &ResultsQuery::default()).await.unwrap();
/// assert_eq!(results[0]["value"], 12.0);
/// # });
/// ```
pub struct AnalyticsJobs {
    pub(crate) context: Arc<Context>,
}

impl AnalyticsJobs {
    fn analytics(&self) -> Option<&Analytics> {
        self.context.config.analytics.as_ref()
    }

    /// Runs the time-based rules (for each tenant of `analytics.tenants`, or the one asked
    /// for) and the cross-tenant rules, now.
    pub async fn run(&self, opts: &RunOptions) -> Result<RunReport> {
        let Some(a) = self.analytics() else {
            return Err(Error::validation(
                "no analytics rules: the configuration has no `analytics`",
            ));
        };
        if let Some(name) = &opts.rule {
            let known = a.time_based_rules.iter().any(|r| &r.name == name)
                || a.cross_tenant_rules.iter().any(|r| &r.name == name);
            if !known {
                return Err(Error::validation(format!(
                    "no time-based or cross-tenant rule is named '{}'",
                    crate::names::printable(name)
                )));
            }
        }
        let wanted = |name: &str| opts.rule.as_deref().is_none_or(|r| r == name);
        let now = self.context.now().to_datetime();
        let mut report = RunReport::default();
        let time_based: Vec<&TimeBasedRule> = a
            .time_based_rules
            .iter()
            .filter(|r| wanted(&r.name))
            .collect();
        if !time_based.is_empty() {
            let tenants = match &opts.tenant {
                Some(t) => vec![t.clone()],
                None => a.tenants.clone(),
            };
            if tenants.is_empty() {
                return Err(Error::validation(
                    "time-based rules run per tenant: list the tenants in analytics.tenants, or name one",
                ));
            }
            for rule in time_based {
                for tenant in &tenants {
                    let run = self.run_time_based(rule, tenant, now).await;
                    report
                        .runs
                        .push(failed_or(run, &rule.name, RuleKind::TimeBased, tenant));
                }
            }
        }
        for rule in a.cross_tenant_rules.iter().filter(|r| {
            wanted(&r.name)
                && opts
                    .tenant
                    .as_deref()
                    .is_none_or(|t| t == r.master_tenant_id)
        }) {
            let tenants = rule.slave_tenant_ids.as_ref().unwrap_or(&a.tenants);
            let run = self.run_cross_tenant(rule, tenants, now).await;
            report.runs.push(failed_or(
                run,
                &rule.name,
                RuleKind::CrossTenant,
                &rule.master_tenant_id,
            ));
        }
        Ok(report)
    }

    /// Runs [`run`](Self::run) now and then every `every` until `stop` completes (a run in
    /// progress then is dropped: its results so far stay, its lease expires) or `on_run`,
    /// handed each outcome, breaks. A run that takes longer than `every` delays the next.
    pub async fn run_every(
        &self,
        opts: &RunOptions,
        every: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
        mut on_run: impl FnMut(Result<RunReport>) -> std::ops::ControlFlow<()>,
    ) {
        tokio::pin!(stop);
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticks.tick() => {}
            }
            let outcome = tokio::select! {
                _ = &mut stop => return,
                outcome = self.run(opts) => outcome,
            };
            if on_run(outcome).is_break() {
                return;
            }
        }
    }

    fn collection(&self, tenant: &str, collection: &str) -> Result<Collection> {
        self.context
            .collection(Route::tenant(DatabaseType::Runtime, tenant, collection)?)
    }

    /// Runs `body` under the lease `(table, id)` of `store`; `None` when someone else holds
    /// it. The lease is renewed every third of [`RUN_LEASE`] while `body` runs; `lost` turns
    /// true if a renewal finds it taken over (the body then must not write).
    async fn leased<T>(
        store: &Arc<dyn MetadataStore>,
        table: &str,
        id: &str,
        lost: Arc<AtomicBool>,
        body: impl std::future::Future<Output = Result<T>>,
    ) -> Result<Option<T>> {
        let owner = crate::names::generate_id();
        if !store.acquire_lease(table, id, &owner, RUN_LEASE).await? {
            return Ok(None);
        }
        let renewal = {
            let (store, table, id, owner) = (
                store.clone(),
                table.to_string(),
                id.to_string(),
                owner.clone(),
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RUN_LEASE / 3).await;
                    match store.acquire_lease(&table, &id, &owner, RUN_LEASE).await {
                        Ok(true) => {}
                        Ok(false) => {
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // A renewal that failed is tried again; the lease lasts meanwhile.
                        Err(e) => {
                            tracing::warn!(table, id, error = %e, "could not renew an analytics run's lease")
                        }
                    }
                }
            })
        };
        let out = body.await;
        renewal.abort();
        if let Err(e) = store.release_lease(table, id, &owner).await {
            tracing::warn!(table, id, error = %e, "could not release an analytics run's lease; it expires on its own");
        }
        out.map(Some)
    }

    /// The error of a run whose lease another process took over.
    fn lease_lost(rule: &str) -> Error {
        Error::Metadata(crate::meta::MetaError::Unavailable(
            crate::BackendError::new(format!(
                "the run of analytics rule '{rule}' lost its lease; its results were not written"
            )),
        ))
    }

    /// Feeds every live item of `coll` to `agg`; returns how many it read.
    async fn scan(coll: &Collection, agg: &mut Aggregation) -> Result<u64> {
        let mut after: Option<String> = None;
        let mut items = 0;
        loop {
            let (page, next) = coll.live_items(after.as_deref(), PAGE).await?;
            for item in page {
                let content = Value::Object(item.content);
                agg.add(ItemFacts {
                    id: &item.id,
                    inserted_at: item.inserted_at,
                    content: &content,
                });
                items += 1;
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(items),
            }
        }
    }

    async fn run_time_based(
        &self,
        rule: &TimeBasedRule,
        tenant: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<RuleRun> {
        let coll = self.collection(tenant, &rule.collection)?;
        let store = coll.analytics_store()?;
        store.ensure_results(TIME_BASED_RESULTS).await?;
        let lease = format!("{}.{tenant}", rule.name);
        let lost = Arc::new(AtomicBool::new(false));
        let done = Self::leased(&store, TIME_BASED_RESULTS, &lease, lost.clone(), async {
            let mut agg = Aggregation::time_based(rule, now).map_err(Error::Validation)?;
            let items = Self::scan(&coll, &mut agg).await?;
            let (from, to) = agg.window();
            let timeframe = rule
                .timeframe
                .filter(|_| rule.save_mode == crate::config::SaveMode::Timeframe);
            let timeframe_name = timeframe.map(|t| timeframe_name(t).to_string());
            let computed_at = self.context.now();
            let row = |bucket: Option<Timestamp>, value: Option<f64>, matched: u64| {
                let key = format!(
                    "{}|{tenant}|{}",
                    rule.name,
                    bucket
                        .map(|b| b.micros().to_string())
                        .unwrap_or_else(|| "all".into())
                );
                AnalyticsResult {
                    key,
                    rule: rule.name.clone(),
                    collection: rule.collection.clone(),
                    tenant: tenant.to_string(),
                    timeframe: timeframe_name.clone(),
                    bucket,
                    document: json!({
                        "ruleName": rule.name,
                        "collection": rule.collection,
                        "tenantId": tenant,
                        "operation": rule.operation,
                        "field": rule.field,
                        "arguments": rule.arguments,
                        "timeframe": timeframe_name,
                        "bucket": bucket,
                        "value": value,
                        "matched": matched,
                        "window": {"from": from, "to": to},
                        "computedAt": computed_at,
                    }),
                }
            };
            let mut rows: Vec<AnalyticsResult> = agg
                .finish()
                .into_iter()
                .map(|b| row(b.bucket, b.value, b.matched))
                .collect();
            // Buckets of the window stored by an earlier run that have nothing now.
            if timeframe.is_some() {
                let earlier = store
                    .results(
                        TIME_BASED_RESULTS,
                        &ResultFilter {
                            rule: Some(rule.name.clone()),
                            tenant: Some(tenant.to_string()),
                            from,
                            to,
                            limit: usize::MAX,
                            ..Default::default()
                        },
                    )
                    .await?;
                let empty = (rule.operation == crate::config::AggregateOp::Count).then_some(0.0);
                for old in earlier {
                    if old.bucket.is_some() && !rows.iter().any(|r| r.key == old.key) {
                        rows.push(row(old.bucket, empty, 0));
                    }
                }
            }
            if lost.load(Ordering::SeqCst) {
                return Err(Self::lease_lost(&rule.name));
            }
            store.put_results(TIME_BASED_RESULTS, &rows).await?;
            let pruned = match timeframe.and_then(|t| self.results_kept_from(t, now)) {
                Some(before) => {
                    store
                        .prune_results(TIME_BASED_RESULTS, &rule.name, tenant, before)
                        .await?
                }
                None => 0,
            };
            Ok((items, rows.len(), pruned))
        })
        .await?;
        Ok(run_entry(&rule.name, RuleKind::TimeBased, tenant, done))
    }

    async fn run_cross_tenant(
        &self,
        rule: &CrossTenantRule,
        tenants: &[String],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<RuleRun> {
        let master = &rule.master_tenant_id;
        let store = self
            .collection(master, &rule.collection)?
            .analytics_store()?;
        store.ensure_results(CROSS_TENANT_RESULTS).await?;
        let lost = Arc::new(AtomicBool::new(false));
        let done =
            Self::leased(
                &store,
                CROSS_TENANT_RESULTS,
                &rule.name,
                lost.clone(),
                async {
                    let mut items = 0;
                    let mut per_tenant = Vec::with_capacity(tenants.len());
                    let mut values = Vec::with_capacity(tenants.len());
                    let mut window = (None, None);
                    for tenant in tenants {
                        let coll = self.collection(tenant, &rule.collection)?;
                        let mut agg =
                            Aggregation::cross_tenant(rule, now).map_err(Error::Validation)?;
                        window = agg.window();
                        items += Self::scan(&coll, &mut agg).await?;
                        let result = agg.finish().into_iter().next().unwrap_or(
                            crate::analytics::BucketValue {
                                bucket: None,
                                value: None,
                                matched: 0,
                            },
                        );
                        let value = tenant_value(rule.mode, &result);
                        values.push(value);
                        per_tenant.push(
                            json!({"tenantId": tenant, "value": value, "matched": result.matched}),
                        );
                    }
                    let hour = bucket_start(Timestamp(now.timestamp_micros()), Timeframe::Hourly);
                    let result = AnalyticsResult {
                        key: format!("{}|{master}|{}", rule.name, hour.micros()),
                        rule: rule.name.clone(),
                        collection: rule.collection.clone(),
                        tenant: master.clone(),
                        timeframe: None,
                        bucket: Some(hour),
                        document: json!({
                            "ruleName": rule.name,
                            "collection": rule.collection,
                            "mode": rule.mode,
                            "field": rule.field,
                            "masterTenantId": master,
                            "value": combine(rule.mode, &values),
                            "slaveResults": per_tenant,
                            "window": {"from": window.0, "to": window.1},
                            "runHour": hour,
                            "computedAt": self.context.now(),
                        }),
                    };
                    if lost.load(Ordering::SeqCst) {
                        return Err(Self::lease_lost(&rule.name));
                    }
                    store.put_results(CROSS_TENANT_RESULTS, &[result]).await?;
                    // Results per run hour: kept as hourly buckets are.
                    let pruned = match self.results_kept_from(Timeframe::Hourly, now) {
                        Some(before) => {
                            store
                                .prune_results(CROSS_TENANT_RESULTS, &rule.name, master, before)
                                .await?
                        }
                        None => 0,
                    };
                    Ok((items, 1, pruned))
                },
            )
            .await?;
        Ok(run_entry(&rule.name, RuleKind::CrossTenant, master, done))
    }

    /// Where `retention.counters` starts keeping a timeframe's buckets (`None`: all are
    /// kept): hourly and daily buckets for `days`, weekly for `weeks`, monthly for `months`,
    /// counted back from the start of the current bucket.
    fn results_kept_from(
        &self,
        timeframe: Timeframe,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Timestamp> {
        let keep = self.context.config.retention.counters.as_ref()?;
        let current = bucket_start(Timestamp(now.timestamp_micros()), timeframe).to_datetime();
        let start = match timeframe {
            Timeframe::Hourly | Timeframe::Daily => {
                current.checked_sub_signed(chrono::TimeDelta::try_days(i64::from(keep.days?))?)
            }
            Timeframe::Weekly => {
                current.checked_sub_signed(chrono::TimeDelta::try_weeks(i64::from(keep.weeks?))?)
            }
            Timeframe::Monthly => current.checked_sub_months(chrono::Months::new(keep.months?)),
        }?;
        Some(Timestamp(start.timestamp_micros()))
    }

    /// A tenant's time-based results, newest bucket first.
    pub async fn get_time_based_results(
        &self,
        tenant: &str,
        q: &ResultsQuery,
    ) -> Result<Vec<Value>> {
        let rules: Vec<(String, String)> = self
            .analytics()
            .map(|a| {
                a.time_based_rules
                    .iter()
                    .map(|r| (r.name.clone(), r.collection.clone()))
                    .collect()
            })
            .unwrap_or_default();
        self.read(TIME_BASED_RESULTS, tenant, &rules, q).await
    }

    /// The results of the cross-tenant rules whose master is `master_tenant`, newest run
    /// first. Another tenant asking gets none: only the master's scope reads them.
    pub async fn get_cross_tenant_results(
        &self,
        master_tenant: &str,
        q: &ResultsQuery,
    ) -> Result<Vec<Value>> {
        let rules: Vec<(String, String)> = self
            .analytics()
            .map(|a| {
                a.cross_tenant_rules
                    .iter()
                    .filter(|r| r.master_tenant_id == master_tenant)
                    .map(|r| (r.name.clone(), r.collection.clone()))
                    .collect()
            })
            .unwrap_or_default();
        self.read(CROSS_TENANT_RESULTS, master_tenant, &rules, q)
            .await
    }

    /// Results of `rules` (name, collection) for `tenant`, from each rule's store.
    async fn read(
        &self,
        table: &str,
        tenant: &str,
        rules: &[(String, String)],
        q: &ResultsQuery,
    ) -> Result<Vec<Value>> {
        let limit = q.limit.unwrap_or(100).clamp(1, MAX_RESULTS);
        let mut seen_stores: Vec<Arc<dyn MetadataStore>> = Vec::new();
        let mut rows = Vec::new();
        for (name, collection) in rules {
            if q.rule.as_ref().is_some_and(|r| r != name)
                || q.collection.as_ref().is_some_and(|c| c != collection)
            {
                continue;
            }
            let store = self.collection(tenant, collection)?.analytics_store()?;
            if seen_stores.iter().any(|s| Arc::ptr_eq(s, &store)) {
                continue;
            }
            seen_stores.push(store.clone());
            rows.extend(
                store
                    .results(
                        table,
                        &ResultFilter {
                            rule: q.rule.clone(),
                            collection: q.collection.clone(),
                            tenant: Some(tenant.to_string()),
                            timeframe: q.timeframe.map(|t| timeframe_name(t).to_string()),
                            from: q.from,
                            to: q.to,
                            limit,
                        },
                    )
                    .await?,
            );
        }
        // Only configured rules: results of a rule since removed from the configuration stay
        // stored but are not shown.
        rows.retain(|r| rules.iter().any(|(name, _)| name == &r.rule));
        rows.sort_by(|a, b| b.bucket.cmp(&a.bucket).then_with(|| a.key.cmp(&b.key)));
        rows.truncate(limit);
        Ok(rows.into_iter().map(|r| r.document).collect())
    }
}

fn run_entry(rule: &str, kind: RuleKind, tenant: &str, done: Option<(u64, usize, u64)>) -> RuleRun {
    let (status, items, results, pruned) = match done {
        Some((items, results, pruned)) => (RunStatus::Done, items, results, pruned),
        None => (RunStatus::Busy, 0, 0, 0),
    };
    RuleRun {
        rule: rule.to_string(),
        kind,
        tenant: tenant.to_string(),
        status,
        items,
        results,
        pruned,
        error: None,
    }
}

/// A run's entry, or the entry of a run that failed (one rule's failure does not stop the
/// others).
fn failed_or(run: Result<RuleRun>, rule: &str, kind: RuleKind, tenant: &str) -> RuleRun {
    run.unwrap_or_else(|e| {
        tracing::warn!(rule, tenant, error = %e, "an analytics rule failed");
        RuleRun {
            rule: rule.to_string(),
            kind,
            tenant: tenant.to_string(),
            status: RunStatus::Failed,
            items: 0,
            results: 0,
            pruned: 0,
            error: Some(ErrorInfo {
                code: e.code().to_string(),
                message: e.to_string(),
            }),
        }
    })
}

fn timeframe_name(t: Timeframe) -> &'static str {
    match t {
        Timeframe::Hourly => "hourly",
        Timeframe::Daily => "daily",
        Timeframe::Weekly => "weekly",
        Timeframe::Monthly => "monthly",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ChronosConfig;
    use serde_json::json;

    /// A rule that fails for one tenant (here: a tenant no database is configured for) is
    /// reported failed, with the error, and the other runs go on.
    #[tokio::test]
    async fn one_failing_run_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ChronosConfig::embedded(dir.path());
        let runtime = cfg.databases.runtime.as_mut().unwrap();
        let template = runtime.tenant_template.take().unwrap();
        runtime.tenant_databases = vec![serde_json::from_value(json!({
            "tenantId": "tenant-a", "dbConnRef": template.db_conn_ref, "spaceConnRef": template.space_conn_ref,
            "bucket": "chronos-runtime", "dbName": "runtime_tenant_a", "prefix": "tenant-a"
        }))
        .unwrap()];
        cfg.analytics = Some(
            serde_json::from_value(json!({
                "tenants": ["tenant-z", "tenant-a"],
                "timeBasedRules": [{"name": "n", "collection": "c", "operation": "count", "saveMode": "global"}]
            }))
            .unwrap(),
        );
        let chronos = crate::Chronos::open(cfg).await.unwrap();
        let report = chronos
            .analytics()
            .run(&RunOptions::default())
            .await
            .unwrap();
        let statuses: Vec<(&str, RunStatus)> = report
            .runs
            .iter()
            .map(|r| (r.tenant.as_str(), r.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("tenant-z", RunStatus::Failed),
                ("tenant-a", RunStatus::Done)
            ]
        );
        let error = report.runs[0].error.as_ref().unwrap();
        assert!(error.message.contains("tenant-z"), "{error:?}");
        assert_eq!(report.runs[1].error, None);
    }
}
