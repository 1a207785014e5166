//! Version retention (`retention.ver`, `collectionMaps.<c>.retention`): pruning each item
//! down to what the policy keeps, and refusing reads that reach before it.
//!
//! **What is kept.** Per item, an unbroken run of versions ending at the head: back to the
//! newest version at or before the window's start (`days`), and no more than the newest
//! `maxPerItem`; whichever floor is higher. A kept version is then always the right answer
//! for every time from its commit to its successor's, so every read retention still answers
//! is answered exactly as before; a kept version below a gap would not be.
//!
//! **One item, step by step** (each step safe to repeat):
//! 1. read the head and the versions down to the floor, and the oldest one still kept;
//! 2. record the item's floor (`RetentionStore::record_retention_floor`): from here on the
//!    collection's as-of reads before it are refused, before any row goes;
//! 3. remove the rows below the floor (one store call; never the head's, never a row a
//!    concurrent commit adds, which are above the head);
//! 4. delete the removed versions' objects (each version's own prefix: later versions copy
//!    what they keep, so no kept version points into it).
//!
//! A crash after 2 leaves a horizon a little ahead of the rows (reads are refused that could
//! still be answered: safe); after 3, objects nobody references (the next run, or the orphan
//! sweeper, removes them: `admin gc`).

use super::Collection;
use crate::config::VersionRetention;
use crate::error::{Error, Result};
use crate::model::{StoredVersion, Timestamp, VersionRecord};
use serde::Serialize;

/// Items read per page of a retention run.
const PAGE: usize = 200;

/// Options of [`Collection::apply_retention`].
#[derive(Default)]
pub struct RetentionOptions<'a> {
    /// Only report what would be pruned.
    pub dry_run: bool,
    /// Continue an interrupted run after this item id (its report's `last_id`).
    pub resume_after: Option<String>,
    /// Called after each page of items.
    pub progress: Option<&'a (dyn Fn(&RetentionProgress) + Send + Sync)>,
}

/// Progress of a retention run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionProgress {
    /// Items examined so far.
    pub scanned: u64,
    /// Items of the collection (at the start of the run).
    pub total: u64,
}

/// What a retention run did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionReport {
    /// Whether nothing was removed.
    pub dry_run: bool,
    /// The policy applied (`null`: the collection has none, so nothing was pruned).
    pub policy: Option<VersionRetention>,
    /// The window's start for `days`.
    pub window_start: Option<Timestamp>,
    /// Items examined.
    pub items_scanned: u64,
    /// Items with versions pruned (or to prune).
    pub items_pruned: u64,
    /// Versions pruned (or to prune).
    pub versions_removed: u64,
    /// Inline copies (`devShadow`) of earlier versions older than `devShadow.ttlHours`
    /// dropped (not counted in a dry run).
    pub inline_copies_dropped: u64,
    /// Per-commit bookkeeping removed: the cv slots MongoDB keeps one of per commit, below
    /// a floor moved at least 15 minutes before (0 on SQLite, and in a dry run).
    pub cv_slots_removed: u64,
    /// The last item examined: pass it as `resume_after` to continue.
    pub last_id: Option<String>,
}

impl Collection {
    /// Prunes every item of the collection to what its retention keeps (see the module
    /// docs); a dry run reports without removing. Memory stays bounded (a page of items at a
    /// time); an interrupted run continues with `resume_after`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::{config::{ChronosConfig, VersionRetention}, Chronos, DatabaseType, Route, RetentionOptions};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut cfg = ChronosConfig::embedded(dir.path());
    /// cfg.retention.ver = Some(VersionRetention { days: None, max_per_item: Some(2) });
    /// let chronos = Chronos::open(cfg).await.unwrap();
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "docs").unwrap()).unwrap();
    /// let v = c.create(json!({"n": 0}), "app", "", Default::default()).await.unwrap();
    /// for n in 1..5 {
    ///     c.update(&v.id, json!({"n": n}), n - 1, "app", "").await.unwrap();
    /// }
    /// let report = c.apply_retention(RetentionOptions::default()).await.unwrap();
    /// assert_eq!(report.versions_removed, 3);
    /// assert!(c.get_version(&v.id, 0, Default::default()).await.is_err()); // beyond retention
    /// assert_eq!(c.get_version(&v.id, 3, Default::default()).await.unwrap().unwrap().data["n"], 3);
    /// # });
    /// ```
    pub async fn apply_retention(&self, opts: RetentionOptions<'_>) -> Result<RetentionReport> {
        let policy = self.settings.retention.clone();
        let mut report = RetentionReport {
            dry_run: opts.dry_run,
            policy: policy.clone(),
            last_id: opts.resume_after.clone(),
            ..Default::default()
        };
        let now = self.inner.now();
        // Whatever the policy (or none, or versioning off): the store's per-commit
        // bookkeeping is bounded by every run. A failure there leaves pruning to go on.
        if !opts.dry_run {
            match self.store.compact_cv_counter(self.name()).await {
                Ok(n) => report.cv_slots_removed = n,
                Err(e) => tracing::warn!(
                    collection = self.name(),
                    error = %e,
                    "could not compact the cv counter; versions are still pruned"
                ),
            }
        }
        // Inline copies of earlier versions past devShadow.ttlHours go in the same pass.
        let shadow_cutoff = self.settings.shadow.enabled.then(|| {
            let ttl = i64::from(self.settings.shadow.ttl_hours).saturating_mul(3_600_000_000);
            Timestamp(now.micros().saturating_sub(ttl))
        });
        // Without versioning there are no earlier versions to prune or inline copies to drop;
        // only a version policy then is a contradiction worth an error.
        if policy.is_none() && (shadow_cutoff.is_none() || !self.settings.versioning) {
            return Ok(report);
        }
        self.need_history("retention")?;
        let window_start = policy.as_ref().and_then(|p| p.days).map(|d| {
            Timestamp(
                now.micros()
                    .saturating_sub(i64::from(d).saturating_mul(86_400_000_000)),
            )
        });
        report.window_start = window_start;
        let total = self.store.count_heads(self.name(), None).await?;
        let mut after = opts.resume_after.clone();
        loop {
            let heads = self
                .store
                .scan_heads(self.name(), after.as_deref(), PAGE)
                .await?;
            let Some(last) = heads.last() else { break };
            after = Some(last.version.id.clone());
            let full = heads.len() == PAGE;
            for head in &heads {
                report.items_scanned += 1;
                if let Some(policy) = &policy {
                    if let Some(pruned) = self
                        .prune_item(head, policy, window_start, opts.dry_run)
                        .await?
                    {
                        report.items_pruned += 1;
                        report.versions_removed += pruned;
                    }
                }
                if let (Some(cutoff), false) = (shadow_cutoff, opts.dry_run) {
                    report.inline_copies_dropped += self
                        .store
                        .drop_inline_copies(self.name(), &head.version.id, head.version.ov, cutoff)
                        .await?;
                }
                report.last_id = Some(head.version.id.clone());
            }
            if let Some(progress) = opts.progress {
                progress(&RetentionProgress {
                    scanned: report.items_scanned,
                    total,
                });
            }
            if !full {
                break;
            }
        }
        Ok(report)
    }

    /// Prunes one item (steps 1-4 of the module docs); the number of versions removed, or
    /// `None` when it keeps everything.
    async fn prune_item(
        &self,
        head: &StoredVersion,
        policy: &VersionRetention,
        window_start: Option<Timestamp>,
        dry_run: bool,
    ) -> Result<Option<u64>> {
        let id = head.version.id.as_str();
        let Some(floor) = self
            .retention_floor(&head.version, policy, window_start)
            .await?
        else {
            return Ok(None);
        };
        let Some(oldest) = self.store.oldest_version(self.name(), id).await? else {
            return Ok(None);
        };
        if oldest.ov >= floor.ov {
            return Ok(None);
        }
        if dry_run {
            return Ok(Some(floor.ov - oldest.ov));
        }
        self.store
            .record_retention_floor(self.name(), &floor)
            .await?;
        let removed = self.store.prune_versions(self.name(), id, floor.ov).await?;
        self.discard_versions(&removed).await;
        Ok(Some(removed.len() as u64))
    }

    /// The item's oldest version to keep under `policy`.
    async fn retention_floor(
        &self,
        head: &VersionRecord,
        policy: &VersionRetention,
        window_start: Option<Timestamp>,
    ) -> Result<Option<VersionRecord>> {
        let count_floor = policy
            .max_per_item
            .map(|n| (head.ov + 1).saturating_sub(u64::from(n)))
            .unwrap_or(0);
        // Newest first, down to the first version at or before the window's start, or to
        // the count floor, whichever comes first.
        let mut floor: Option<VersionRecord> = None;
        let mut before = None;
        'walk: loop {
            let page = self
                .store
                .history(self.name(), &head.id, before, 100)
                .await?;
            let Some(last) = page.last() else { break };
            before = Some(last.ov);
            let full = page.len() == 100;
            for v in page {
                let at_count_floor = v.ov <= count_floor;
                let at_window_start = window_start.is_some_and(|w| v.at <= w);
                let stop = at_count_floor || at_window_start;
                floor = Some(v);
                if stop {
                    break 'walk;
                }
            }
            if !full {
                // Reached the oldest version without meeting a floor: nothing to prune.
                return Ok(None);
            }
        }
        Ok(floor)
    }

    /// An error for a read of `what` that retention no longer answers, naming the item's
    /// oldest kept version.
    pub(super) async fn beyond_retention(&self, id: &str, what: String) -> Result<Error> {
        let oldest = self.store.oldest_version(self.name(), id).await?;
        Ok(Error::BeyondRetention {
            what,
            oldest: match oldest {
                Some(v) => format!("ov {} (committed at {})", v.ov, v.at),
                None => "nothing (the item has no versions)".into(),
            },
        })
    }

    /// Refuses a collection read as of `at` or `cv` that reaches before the retention
    /// horizon.
    pub(super) async fn check_horizon(&self, at: Option<Timestamp>, cv: Option<u64>) -> Result<()> {
        if at.is_none() && cv.is_none() {
            return Ok(());
        }
        let Some(h) = self.store.retention_horizon(self.name()).await? else {
            return Ok(());
        };
        let (what, before) = match (at, cv) {
            (Some(t), _) => (format!("the collection as of {t}"), t < h.at),
            (None, Some(cv)) => (format!("the collection as of cv {cv}"), cv < h.cv),
            (None, None) => return Ok(()),
        };
        if before {
            return Err(Error::BeyondRetention {
                what,
                oldest: format!("{} (cv {})", h.at, h.cv),
            });
        }
        Ok(())
    }
}
