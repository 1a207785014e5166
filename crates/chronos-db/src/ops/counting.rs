//! Counting committed writes (counter rules), and catching up on what was not counted.
//!
//! **Where.** A collection's counters live in its database's `analyticsDbName` when the
//! configuration names one (counter key `<dbName>.<collection>`, so that databases sharing
//! an analytics database stay apart), otherwise in its own database (key: the collection's
//! name). The route decides, never the caller.
//!
//! **When, and why nothing is lost or counted twice.** Counting is on when the configuration
//! has `counterRules` or `analytics`. Every committed version is counted from what its
//! commit stored, by an idempotent record keyed on its cv:
//!
//! 1. right after the commit point, by the writer (an error here is logged, never reported:
//!    the write is committed);
//! 2. by a **catch-up** before every read of the totals: the versions committed above the
//!    key's mark (`CounterMark::through`) are compared with the counted rows above it; each
//!    version not counted is counted now, then the mark moves to what the store calls
//!    settled (`MetadataStore::committed_after`).
//!
//! So a crash between a commit and its count (step 1) is repaired by the next read, and a
//! count repeated by both steps records once. A write that fails before its commit point
//! counts nothing: there is no version to count. What a catch-up cannot see: versions that
//! are gone before it runs (a hard delete has no version row, and with versioning off an
//! item keeps only its latest version), so their counts rest on step 1 alone.

use super::Collection;
use crate::analytics::CounterRuleSet;
use crate::error::Result;
use crate::meta::{CountedVersion, MetadataStore, UniqueValue};
use crate::model::{Document, StoredVersion, VersionRecord};
use crate::query::SystemValues;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

/// Where one collection's counters live.
pub(crate) struct CounterPlace {
    /// The store holding the counted rows.
    pub(crate) store: Arc<dyn MetadataStore>,
    /// The counter key inside it.
    pub(crate) key: String,
}

impl Collection {
    /// The compiled counter rules, or `None` when counting is off.
    pub(crate) fn counter_rules(&self) -> Option<&Arc<CounterRuleSet>> {
        self.inner.counter_rules.as_ref()
    }

    /// Whether writers leave counting to the catch-up (`writeOptimization.debounceMs`): only
    /// where every version stays to be counted later (version history kept).
    pub(crate) fn defers_counting(&self) -> bool {
        self.settings.count_debounce.is_some() && self.settings.versioning
    }

    /// Runs the catch-up, unless `debounceMs` says one ran for this collection (in this
    /// process) too recently.
    async fn catch_up_if_due(&self, place: &CounterPlace) -> Result<()> {
        let Some(every) = self.settings.count_debounce else {
            self.catch_up_counters(place).await?;
            return Ok(());
        };
        let key = format!(
            "{}/{}/{}",
            self.resolved.db_conn_ref, self.resolved.db_name, place.key
        );
        let due = {
            let last = self
                .inner
                .caught_up
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            last.get(&key).is_none_or(|at| at.elapsed() >= every)
        };
        if due {
            self.catch_up_counters(place).await?;
            self.inner
                .caught_up
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, std::time::Instant::now());
        }
        Ok(())
    }

    /// Whether a counter rule looks at the whole document (so counting needs the content).
    pub(crate) fn counting_needs_payload(&self) -> bool {
        self.counter_rules().is_some_and(|set| {
            set.rules()
                .iter()
                .any(|r| r.scope == crate::config::RuleScope::Payload)
        })
    }

    /// Where this collection's counters live; with `ensure`, their indexes are made (once
    /// per process). Reads pass `false`: asking must not create a database.
    pub(crate) async fn counter_place(&self, ensure: bool) -> Result<CounterPlace> {
        let r = &self.resolved;
        let store = self.analytics_store()?;
        let (key, db) = match &r.analytics_db_name {
            Some(db) => (
                format!("{}.{}", r.db_name, self.route.collection),
                db.clone(),
            ),
            None => (self.route.collection.to_string(), r.db_name.clone()),
        };
        let ensured = (r.db_conn_ref.clone(), db, format!("counters:{key}"));
        let known = self
            .inner
            .ensured
            .lock()
            .map(|s| s.contains(&ensured))
            .unwrap_or(false);
        if ensure && !known {
            store.ensure_counters(&key).await?;
            if let Ok(mut s) = self.inner.ensured.lock() {
                s.insert(ensured);
            }
        }
        Ok(CounterPlace { store, key })
    }

    /// Step 1: counts a version right after its commit. `content` is what it stored; never
    /// fails the write (the catch-up counts what this misses).
    pub(super) async fn count_committed(
        &self,
        version: &VersionRecord,
        content: Option<&Document>,
        replayable: bool,
    ) {
        if self.counter_rules().is_none() {
            return;
        }
        let counted = async {
            let place = self.counter_place(true).await?;
            self.record_count(&place, version, content, replayable)
                .await
        }
        .await;
        if let Err(e) = counted {
            tracing::warn!(
                collection = %self.route.collection,
                id = %version.id,
                ov = version.ov,
                error = %e,
                "a committed write was not counted yet; the next read of the totals counts it"
            );
        }
    }

    /// Records one version under the rules it matches (`content` may be `None` when no
    /// rule looks at the payload); `false` when it was recorded before. `replayable`: see
    /// [`CountedVersion::replayable`].
    async fn record_count(
        &self,
        place: &CounterPlace,
        v: &VersionRecord,
        content: Option<&Document>,
        replayable: bool,
    ) -> Result<bool> {
        let Some(rules) = self.counter_rules() else {
            return Ok(false);
        };
        let meta = Value::Object(v.indexed.clone());
        let payload = content
            .map(|c| Value::Object(c.clone()))
            .unwrap_or(Value::Null);
        let system = SystemValues {
            id: &v.id,
            ov: v.ov,
            cv: v.cv,
            updated_at: Some(v.at),
        };
        let mut matched = Vec::new();
        let mut values = Vec::new();
        for rule in rules.rules() {
            if !rule.counts(v.op, &meta, &payload, &system) {
                continue;
            }
            matched.push(rule.name.clone());
            for (property, value) in rule.unique_values(&meta, &payload) {
                values.push(UniqueValue {
                    rule: rule.name.clone(),
                    property,
                    value,
                });
            }
        }
        let entry = CountedVersion {
            id: v.id.clone(),
            ov: v.ov,
            cv: v.cv,
            op: v.op,
            at: v.at,
            rules: matched,
            replayable,
        };
        Ok(place
            .store
            .record_counted(&place.key, &entry, &values)
            .await?)
    }

    /// Step 2: counts every committed version above the mark that is not counted yet, then
    /// moves the mark as far as the store says is settled. Returns how many it counted.
    pub(crate) async fn catch_up_counters(&self, place: &CounterPlace) -> Result<u64> {
        if self.counter_rules().is_none() {
            return Ok(0);
        }
        let needs_payload = self.counting_needs_payload();
        let mark = place.store.counter_mark(&place.key).await?;
        let mut after = mark.through;
        let mut settled = mark.through;
        let mut blocked = false;
        let mut repaired = 0;
        let mut ensured = false;
        loop {
            let page = self
                .store
                .committed_after(self.name(), after, self.settings.count_batch)
                .await?;
            let top = page.versions.last().map(|v| v.version.cv).unwrap_or(after);
            let counted: HashSet<u64> = place
                .store
                .counted_cvs(&place.key, after, top)
                .await?
                .into_iter()
                .collect();
            // Items erased since are counted on what their rows say, never from content an
            // erasure is removing.
            let erased = match needs_payload {
                true => {
                    let ids: Vec<String> = page
                        .versions
                        .iter()
                        .filter(|v| !counted.contains(&v.version.cv))
                        .map(|v| v.version.id.clone())
                        .collect();
                    self.store.erased_among(self.name(), &ids).await?
                }
                false => HashSet::new(),
            };
            for StoredVersion {
                version, shadow, ..
            } in &page.versions
            {
                if version.cv <= mark.floor || counted.contains(&version.cv) {
                    continue;
                }
                // An erased version has no content left (an erasure tombstone never had
                // any): it is counted on what its row still says.
                let readable = !version.sha256.is_empty() && !erased.contains(&version.id);
                let content = match needs_payload && readable {
                    true => Some(self.load_content(version, shadow.as_deref()).await?),
                    false => None,
                };
                if !ensured {
                    place.store.ensure_counters(&place.key).await?;
                    ensured = true;
                }
                if self
                    .record_count(place, version, content.as_ref(), true)
                    .await?
                {
                    repaired += 1;
                }
            }
            // A page that did not settle up to its last row blocks every later page's claim.
            if !blocked {
                settled = settled.max(page.settled);
                blocked = page.settled < top;
            }
            if !page.more {
                break;
            }
            after = top;
        }
        if settled > mark.through {
            place
                .store
                .advance_counter_mark(&place.key, settled)
                .await?;
        }
        if repaired > 0 {
            tracing::info!(
                collection = %self.route.collection,
                counted = repaired,
                "counted committed writes the writers had not counted"
            );
        }
        Ok(repaired)
    }
}

/// What a reset did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResetDone {
    /// The cv the counts start again above.
    pub(crate) floor: u64,
}

impl Collection {
    /// The counting rules, or the error a counters call gets when counting is off.
    fn rules_in_force(&self) -> Result<Arc<CounterRuleSet>> {
        self.counter_rules().cloned().ok_or_else(|| {
            crate::error::Error::validation(
                "counters are off: the configuration has neither `counterRules` nor `analytics`",
            )
        })
    }

    /// The collection's totals, after counting whatever the writers did not.
    pub(crate) async fn counted_totals(&self) -> Result<crate::meta::CounterTotals> {
        self.rules_in_force()?;
        let place = self.counter_place(false).await?;
        self.catch_up_if_due(&place).await?;
        Ok(place.store.counter_totals(&place.key).await?)
    }

    /// A page of a rule property's distinct values (canonical JSON texts) after `cursor`.
    pub(crate) async fn counted_unique_values(
        &self,
        rule: &str,
        property: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        let rules = self.rules_in_force()?;
        let known = rules
            .rules()
            .iter()
            .find(|r| r.name == rule)
            .ok_or_else(|| {
                crate::error::Error::validation(format!(
                    "no counter rule is named '{}'",
                    crate::names::printable(rule)
                ))
            })?;
        if !known.count_unique.iter().any(|p| p.dotted() == property) {
            return Err(crate::error::Error::validation(format!(
                "counter rule '{rule}' does not count distinct values of '{}'",
                crate::names::printable(property)
            )));
        }
        if let Some(c) = cursor {
            if c.len() != 64 || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(crate::error::Error::validation(
                    "cursor is not one this API returned",
                ));
            }
        }
        let place = self.counter_place(false).await?;
        self.catch_up_if_due(&place).await?;
        Ok(place
            .store
            .unique_values(&place.key, rule, property, cursor, limit)
            .await?)
    }

    /// Starts the collection's counts again: versions committed from now on count (the
    /// floor is the newest committed cv). A write whose commit races the reset lands on
    /// either side of it; distinct values it adds after the reset are kept.
    pub(crate) async fn reset_counted(&self) -> Result<ResetDone> {
        self.rules_in_force()?;
        let place = self.counter_place(true).await?;
        let floor = self
            .store
            .cv_as_of(self.name(), crate::model::Timestamp(i64::MAX))
            .await?;
        place.store.reset_counters(&place.key, floor).await?;
        Ok(ResetDone { floor })
    }
}
