//! Retention sweeps: version retention applied to every collection the configuration covers,
//! once (`chronos admin retention-sweep`) or on `retention.schedule` (`chronos serve`).
//!
//! A sweep is a series of [`crate::Collection::apply_retention`] runs, one per route, each
//! safe to interrupt and to repeat (see `ops/retention.rs`); two servers sweeping at once do
//! the same idempotent steps twice and lose nothing. A route that fails is reported and the
//! sweep goes on with the next.

use crate::chronos::Chronos;
use crate::config::{ChronosConfig, Serves};
use crate::error::Result;
use crate::ops::{RetentionOptions, RetentionReport};
use crate::routing::{resolve, DatabaseType, Route};
use serde::Serialize;
use std::collections::BTreeSet;

/// What a sweep covers beyond the listed databases, and whether it only reports.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Only report what would be pruned.
    pub dry_run: bool,
    /// Tenants served by a tenant template to sweep too (listed tenants always are).
    pub tenants: Vec<String>,
    /// Domains served by a domain template to sweep too.
    pub domains: Vec<String>,
}

impl SweepOptions {
    /// The tenants and domains of `retention.schedule`, removing versions.
    pub fn scheduled(cfg: &ChronosConfig) -> Self {
        let schedule = cfg.retention.schedule.clone().unwrap_or_default();
        SweepOptions {
            dry_run: false,
            tenants: schedule.tenants,
            domains: schedule.domains,
        }
    }
}

/// One collection's part of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SweptCollection {
    /// The collection's route.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub route: Route,
    /// What its retention run did, when it completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<RetentionReport>,
    /// Why it failed, when it did (the sweep went on with the next collection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a sweep did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionSweep {
    /// Whether nothing was removed.
    pub dry_run: bool,
    /// Per collection swept, in the order of [`Chronos::retention_routes`].
    pub collections: Vec<SweptCollection>,
    /// Versions removed (or to remove) over every collection.
    pub versions_removed: u64,
    /// Collections whose run failed.
    pub failed: u64,
}

impl Chronos {
    /// The collections a sweep with `opts` covers, from the configuration alone (nothing is
    /// read): every collection of `collectionMaps`, in every listed database and the template
    /// databases of `opts.tenants` and `opts.domains`. Those with a retention policy or
    /// inline copies with a TTL are pruned; every one gets its per-commit bookkeeping bounded
    /// (MongoDB's cv slots), versioning or not.
    ///
    /// ```
    /// use chronos_db::{admin::SweepOptions, config::{ChronosConfig, VersionRetention}, Chronos};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut cfg = ChronosConfig::embedded(dir.path());
    /// cfg.retention.ver = Some(VersionRetention { days: Some(30), max_per_item: None });
    /// cfg.collection_maps.insert("orders".into(), Default::default());
    /// let chronos = Chronos::open(cfg).await.unwrap();
    /// let opts = SweepOptions { tenants: vec!["t1".into()], ..Default::default() };
    /// let routes: Vec<String> = chronos.retention_routes(&opts).unwrap().iter().map(|r| r.to_string()).collect();
    /// assert!(routes.contains(&"runtime/tenant/t1/orders".to_string()), "{routes:?}");
    /// assert!(routes.contains(&"metadata/generic/orders".to_string()), "{routes:?}");
    /// # });
    /// ```
    pub fn retention_routes(&self, opts: &SweepOptions) -> Result<Vec<Route>> {
        let cfg = &self.context.config;
        let collections: Vec<&String> = cfg.collection_maps.keys().collect();
        let mut databases = Vec::new();
        for e in cfg.databases.entries() {
            let ty = e.database_type;
            match e.serves {
                Serves::Everyone => databases.push((ty, None, None)),
                Serves::Domain(d) => databases.push((ty, Some(d.to_string()), None)),
                Serves::Tenant(t) => databases.push((ty, None, Some(t.to_string()))),
                Serves::AnyDomain(_) => {
                    for d in &opts.domains {
                        databases.push((ty, Some(d.clone()), None));
                    }
                }
                Serves::AnyTenant(_) => {
                    for t in &opts.tenants {
                        databases.push((ty, None, Some(t.clone())));
                    }
                }
            }
        }
        let mut routes = Vec::new();
        let mut seen = BTreeSet::new();
        for (ty, domain, tenant) in &databases {
            for c in &collections {
                let route = match (ty, domain, tenant) {
                    (_, _, Some(t)) => Route::tenant(*ty, t, c)?,
                    (_, Some(d), None) => Route::domain(*ty, d, c)?,
                    (DatabaseType::Logs, None, None) => Route::logs(c)?,
                    (_, None, None) => Route::generic(*ty, c)?,
                };
                // A listed tenant also named in `tenants` is swept once; a route the
                // configuration cannot place (a name its templates refuse) holds nothing.
                if resolve(cfg, &route).is_ok() && seen.insert(route.to_string()) {
                    routes.push(route);
                }
            }
        }
        Ok(routes)
    }

    /// Applies retention to every collection of [`Chronos::retention_routes`], one after
    /// the other. A collection that fails is reported in its entry and the sweep goes on.
    ///
    /// ```
    /// use chronos_db::{admin::SweepOptions, config::{ChronosConfig, VersionRetention}, Chronos, DatabaseType, Route};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut cfg = ChronosConfig::embedded(dir.path());
    /// cfg.retention.ver = Some(VersionRetention { days: None, max_per_item: Some(1) });
    /// cfg.collection_maps.insert("orders".into(), Default::default());
    /// let chronos = Chronos::open(cfg).await.unwrap();
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "orders").unwrap()).unwrap();
    /// let v = c.create(serde_json::json!({"n": 0}), "app", "", Default::default()).await.unwrap();
    /// c.update(&v.id, serde_json::json!({"n": 1}), 0, "app", "").await.unwrap();
    /// let opts = SweepOptions { tenants: vec!["t1".into()], ..Default::default() };
    /// let sweep = chronos.apply_retention_everywhere(&opts).await.unwrap();
    /// assert_eq!((sweep.versions_removed, sweep.failed), (1, 0));
    /// # });
    /// ```
    pub async fn apply_retention_everywhere(&self, opts: &SweepOptions) -> Result<RetentionSweep> {
        let routes = self.retention_routes(opts)?;
        let mut sweep = RetentionSweep {
            dry_run: opts.dry_run,
            collections: Vec::with_capacity(routes.len()),
            versions_removed: 0,
            failed: 0,
        };
        for route in routes {
            let run = match self.context.collection(route.clone()) {
                Ok(c) => {
                    c.apply_retention(RetentionOptions {
                        dry_run: opts.dry_run,
                        ..Default::default()
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            let entry = match run {
                Ok(report) => {
                    sweep.versions_removed += report.versions_removed;
                    SweptCollection {
                        route,
                        report: Some(report),
                        error: None,
                    }
                }
                Err(e) => {
                    tracing::warn!(route = %route, error = %e, "retention failed for a collection");
                    sweep.failed += 1;
                    SweptCollection {
                        route,
                        report: None,
                        error: Some(e.to_string()),
                    }
                }
            };
            sweep.collections.push(entry);
        }
        Ok(sweep)
    }

    /// Runs [`apply_retention_everywhere`](Self::apply_retention_everywhere) now and then
    /// every `every` until `stop` completes (a sweep in progress then stops between two of
    /// its steps, which the next sweep completes) or `on_sweep`, handed each outcome, breaks.
    /// A sweep that takes longer than `every` delays the next.
    pub async fn apply_retention_every(
        &self,
        opts: &SweepOptions,
        every: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
        mut on_sweep: impl FnMut(Result<RetentionSweep>) -> std::ops::ControlFlow<()>,
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
                outcome = self.apply_retention_everywhere(opts) => outcome,
            };
            if on_sweep(outcome).is_break() {
                return;
            }
        }
    }
}
