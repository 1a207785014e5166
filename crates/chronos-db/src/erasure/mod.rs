//! Erasure across collections and databases: subject erasure, and verifying receipts.
//!
//! One item is erased with [`crate::ops::Collection::erase`] (its steps and crash windows
//! are described in `ops/erase.rs`). A **subject erasure** erases every item of one tenant
//! whose any version — not only the latest — held a value (a customer id, an email) in one
//! of its collection's `subjectProps`, in every collection that declares them and every
//! database the tenant owns (metadata, knowledge, runtime). Databases shared with other
//! tenants (generic tiers, domains) are only searched when asked for by name. Each erased
//! item gets its own receipt, which also carries the subject's keyed hash.
//!
//! An interrupted subject erasure is completed by running it again: an item whose erasure
//! stopped before its rows were scrubbed still holds the value, so it is found again and its
//! erasure resumed; one that was scrubbed is complete.

pub use crate::receipts::{Receipt, ReceiptCheck, RECEIPTS_COLLECTION};

use crate::error::{Error, Result};
use crate::ops::{Context, EraseOptions};
use crate::receipts::ReceiptKey;
use crate::routing::{resolve, Route};
use crate::tiers::DatabaseType;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// Candidates read per page of a subject search.
const PAGE: usize = 200;

/// Options of [`Erasure::erase_subject`].
#[derive(Debug, Clone, Default)]
pub struct SubjectErasureOptions {
    /// Who erases (recorded with each tombstone and receipt).
    pub actor: String,
    /// Why.
    pub reason: String,
    /// Only list what would be erased.
    pub dry_run: bool,
    /// Also search the generic tier (shared by every tenant) of metadata, knowledge and logs.
    pub include_generic: bool,
    /// Also search these domains' databases (shared by the domain's tenants).
    pub domains: Vec<String>,
}

/// What a subject erasure did (or, in a dry run, would do) in one collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubjectCollectionReport {
    /// The collection's route.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub route: Route,
    /// The items erased (or to erase).
    pub ids: Vec<String>,
    /// Their receipts, in the same order (empty in a dry run).
    pub receipt_ids: Vec<String>,
}

/// What [`Erasure::erase_subject`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubjectErasureReport {
    /// Whether nothing was erased.
    pub dry_run: bool,
    /// The keyed hash of the subject value, as the receipts carry it.
    pub subject_hash: String,
    /// Items erased (or to erase), over every collection.
    pub items: u64,
    /// With data keys per subject (`encryption.scope: "subject"`): the subject's data keys
    /// destroyed in the databases searched (0 in a dry run). Every copy of what they
    /// encrypted, backups included, is then unreadable.
    pub keys_destroyed: u64,
    /// Writes in the fallback queue (waiting or dead) whose content held the subject, in
    /// the collections searched: removed (in a dry run, found). A write a worker was
    /// replaying at that moment may still commit: run the erasure again once the queue is
    /// empty.
    pub queued_writes_removed: u64,
    /// Per collection searched that held the subject.
    pub collections: Vec<SubjectCollectionReport>,
}

/// Subject erasure and receipts ([`crate::Chronos::erasure`]).
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use chronos_db::{config::ChronosConfig, erasure::SubjectErasureOptions, Chronos, DatabaseType, Route};
/// use serde_json::json;
/// let dir = tempfile::tempdir().unwrap();
/// let mut cfg = ChronosConfig::embedded(dir.path());
/// cfg.erasure = Some(serde_json::from_value(json!({"receiptKey": "r".repeat(32)})).unwrap());
/// cfg.collection_maps.insert("orders".into(), serde_json::from_value(json!({
///     "indexedProps": ["customerId"], "subjectProps": ["customerId"]})).unwrap());
/// let chronos = Chronos::open(cfg).await.unwrap();
/// let orders = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "orders").unwrap()).unwrap();
/// let o = orders.create(json!({"customerId": "c-7"}), "app", "", Default::default()).await.unwrap();
/// orders.update(&o.id, json!({"customerId": "c-8"}), 0, "app", "").await.unwrap();
/// let opts = SubjectErasureOptions { actor: "dpo".into(), reason: "request 12".into(), ..Default::default() };
/// // Found through its first version, though its latest names another customer.
/// let report = chronos.erasure().erase_subject("t1", &json!("c-7"), &opts).await.unwrap();
/// assert_eq!(report.collections[0].ids, vec![o.id.clone()]);
/// assert!(orders.get_latest(&o.id, Default::default()).await.is_err());
/// # });
/// ```
pub struct Erasure {
    pub(crate) context: Arc<Context>,
}

impl Erasure {
    /// Erases every item of `tenant` whose any version held `value` in one of its
    /// collection's `subjectProps` (see the module docs). `value` is a string, number or
    /// boolean, compared as the indexed values are (`"1"` and `1` differ).
    pub async fn erase_subject(
        &self,
        tenant: &str,
        value: &Value,
        opts: &SubjectErasureOptions,
    ) -> Result<SubjectErasureReport> {
        if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            return Err(Error::validation(
                "a subject value is a string, a number or a boolean",
            ));
        }
        let key = ReceiptKey::from_config(&self.context.config)?;
        let routes = self.subject_routes(tenant, opts)?;
        let erase = EraseOptions {
            actor: opts.actor.clone(),
            reason: opts.reason.clone(),
            halt_after: None,
        };
        let subject_hash = key.subject_hash(value);
        let mut report = SubjectErasureReport {
            dry_run: opts.dry_run,
            subject_hash: subject_hash.clone(),
            items: 0,
            keys_destroyed: 0,
            queued_writes_removed: 0,
            collections: Vec::new(),
        };
        // First the queue: a queued create of the subject would otherwise commit after the
        // search.
        report.queued_writes_removed = self
            .queued_subject_writes(&routes, value, opts.dry_run)
            .await?;
        let searched: Vec<Route> = routes.iter().map(|(r, _)| r.clone()).collect();
        for (route, props) in &routes {
            let found = self
                .erase_in(route, props, value, &erase, &subject_hash, opts.dry_run)
                .await?;
            if !found.ids.is_empty() {
                report.items += found.ids.len() as u64;
                report.collections.push(found);
            }
        }
        if !opts.dry_run {
            report.keys_destroyed = self.destroy_subject_keys(&searched, value).await?;
            // With keys per subject, an item written between the search and the destruction
            // is sealed under a destroyed key: searched once more, so it gets its tombstone
            // and receipt instead of reading as shredded with no record.
            if report.keys_destroyed > 0 {
                for (route, props) in &routes {
                    let late = self
                        .erase_in(route, props, value, &erase, &subject_hash, false)
                        .await?;
                    if late.ids.is_empty() {
                        continue;
                    }
                    report.items += late.ids.len() as u64;
                    match report.collections.iter_mut().find(|c| &c.route == route) {
                        Some(c) => {
                            c.ids.extend(late.ids);
                            c.receipt_ids.extend(late.receipt_ids);
                        }
                        None => report.collections.push(late),
                    }
                }
            }
        }
        Ok(report)
    }

    /// Removes (or in a dry run, counts) the fallback queue's writes to `routes` whose
    /// content holds `value` in the collection's subject properties.
    async fn queued_subject_writes(
        &self,
        routes: &[(Route, Vec<String>)],
        value: &Value,
        dry_run: bool,
    ) -> Result<u64> {
        let Some(queue) = &self.context.fallback else {
            return Ok(0);
        };
        let mut held = Vec::new();
        for (request_id, route, op) in queue.all_writes().await? {
            let Ok(route) = serde_json::from_str::<Route>(&route) else {
                continue;
            };
            let Some((_, props)) = routes.iter().find(|(r, _)| *r == route) else {
                continue;
            };
            let Ok(op) = serde_json::from_str::<crate::ops::WriteOp>(&op) else {
                continue;
            };
            let coll = self.context.collection(route.clone())?;
            if coll.queued_write_holds(&op, props, value)? {
                held.push(request_id);
            }
        }
        match dry_run {
            true => Ok(held.len() as u64),
            false => queue.remove(held, None).await,
        }
    }

    /// Erases (or in a dry run, lists) the items of one collection whose any version held
    /// `value` in one of `props`.
    async fn erase_in(
        &self,
        route: &Route,
        props: &[String],
        value: &Value,
        erase: &EraseOptions,
        subject_hash: &str,
        dry_run: bool,
    ) -> Result<SubjectCollectionReport> {
        let coll = self.context.collection(route.clone())?;
        let mut found = SubjectCollectionReport {
            route: route.clone(),
            ids: Vec::new(),
            receipt_ids: Vec::new(),
        };
        let mut after: Option<String> = None;
        loop {
            let (ids, next) = coll
                .subject_items(props, value, after.as_deref(), PAGE)
                .await?;
            for id in ids {
                if !dry_run {
                    let item = crate::names::ItemId::parse(&id).map_err(Error::Corrupt)?;
                    match coll
                        .erase_item(&item, erase, Some(subject_hash.to_string()))
                        .await
                    {
                        Ok(done) => found.receipt_ids.push(done.receipt_id),
                        // Gone meanwhile (a hard delete): nothing left to erase.
                        Err(Error::NotFound(_)) => continue,
                        Err(e) => return Err(e),
                    }
                }
                found.ids.push(id);
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        Ok(found)
    }

    /// With data keys per subject: destroys the subject's keys in the database of each
    /// route (once per database), after its items were erased, so a re-run after a crash
    /// between the two finds nothing left to erase and destroys them then. Also destroyed
    /// when no item held the value any more: copies of objects erased earlier (backups) are
    /// still under them.
    async fn destroy_subject_keys(&self, routes: &[Route], value: &Value) -> Result<u64> {
        let Some(keyring) = self.context.keyring.as_ref().filter(|k| k.per_subject()) else {
            return Ok(0);
        };
        let Some(hash) = keyring.subject_hash(value) else {
            return Ok(0);
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut destroyed = 0;
        for route in routes {
            let resolved = resolve(&self.context.config, route)?;
            let scope =
                crate::encryption::subject_scope(&crate::encryption::scope_of(route), &hash);
            if !seen.insert((
                resolved.db_conn_ref.clone(),
                resolved.db_name.clone(),
                scope.clone(),
            )) {
                continue;
            }
            let store = self
                .context
                .metadata
                .open(&resolved.db_conn_ref, &resolved.db_name)?;
            destroyed += store.destroy_keys(&scope).await?;
        }
        keyring.forget();
        Ok(destroyed)
    }

    /// The collections [`Erasure::erase_subject`] would search for `tenant` with `opts`,
    /// from the configuration alone (nothing is read): what a caller's permissions must
    /// cover.
    pub fn routes_searched(
        &self,
        tenant: &str,
        opts: &SubjectErasureOptions,
    ) -> Result<Vec<Route>> {
        Ok(self
            .subject_routes(tenant, opts)?
            .into_iter()
            .map(|(route, _)| route)
            .collect())
    }

    /// The collections a subject erasure searches, with their subject properties: every
    /// collection declaring `subjectProps`, in each database of the tenant (and the shared
    /// ones asked for) that the configuration has.
    fn subject_routes(
        &self,
        tenant: &str,
        opts: &SubjectErasureOptions,
    ) -> Result<Vec<(Route, Vec<String>)>> {
        let cfg = &self.context.config;
        let declared: Vec<(&String, &Vec<String>)> = cfg
            .collection_maps
            .iter()
            .filter(|(_, m)| !m.subject_props.is_empty())
            .map(|(c, m)| (c, &m.subject_props))
            .collect();
        if declared.is_empty() {
            return Err(Error::validation(
                "no collection declares subjectProps (collectionMaps.<c>.subjectProps), so no \
                 subject can be found",
            ));
        }
        // The tenant id is checked even when no database of it is configured.
        crate::names::TenantId::parse(tenant).map_err(Error::Validation)?;
        let mut routes = Vec::new();
        for (coll, props) in declared {
            let mut candidates = Vec::new();
            for ty in [
                DatabaseType::Metadata,
                DatabaseType::Knowledge,
                DatabaseType::Runtime,
            ] {
                candidates.push(Route::tenant(ty, tenant, coll)?);
            }
            if opts.include_generic {
                for ty in [
                    DatabaseType::Metadata,
                    DatabaseType::Knowledge,
                    DatabaseType::Logs,
                ] {
                    candidates.push(Route::generic(ty, coll)?);
                }
            }
            for domain in &opts.domains {
                for ty in [DatabaseType::Metadata, DatabaseType::Knowledge] {
                    candidates.push(Route::domain(ty, domain, coll)?);
                }
            }
            // A route the configuration has no database for holds nothing.
            routes.extend(
                candidates
                    .into_iter()
                    .filter(|r| resolve(cfg, r).is_ok())
                    .map(|r| (r, props.clone())),
            );
        }
        Ok(routes)
    }

    /// Checks a receipt: it exists in the logs database, was never rewritten, and its
    /// signature under `erasure.receiptKey` matches every field.
    pub async fn verify(&self, receipt_id: &str) -> Result<ReceiptCheck> {
        let key = ReceiptKey::from_config(&self.context.config)?;
        let receipts = self.context.collection(Route::logs(RECEIPTS_COLLECTION)?)?;
        let not_found = || Error::NotFound(format!("receipt '{receipt_id}'"));
        let latest = match receipts.get_latest(receipt_id, Default::default()).await {
            Ok(Some(item)) => item,
            Ok(None) | Err(Error::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e),
        };
        if latest.system.ov != 0 {
            return Ok(ReceiptCheck {
                receipt_id: receipt_id.to_string(),
                valid: false,
                problem: Some(format!(
                    "the receipt was rewritten after it was issued ({} later versions)",
                    latest.system.ov
                )),
                receipt: None,
            });
        }
        Ok(key.check(receipt_id, Value::Object(latest.data)))
    }
}
