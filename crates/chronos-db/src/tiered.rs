//! Tiered fetch: one record looked up in the generic, domain and tenant databases of the
//! knowledge or metadata type, returned from the most specific tier that has it (fallback) or
//! merged across all of them (generic ← domain ← tenant, the more specific tier winning).
//!
//! Each tier is queried like [`crate::Collection::list_by_meta`] (the filter is on indexed
//! properties; with no `indexedProps` declared every top-level property is indexed), and the
//! first match in id order is that tier's record. A tier without a database is skipped: no
//! generic database, or a tenant (domain) that is neither listed nor covered by a template —
//! such a tenant gets the domain's or generic record, which is what fallback is for. Any
//! other error — the database type not configured at all, a backend that does not answer, an
//! invalid filter or tenant id — fails the whole fetch, because silently falling back to a
//! less specific tier would hand out the wrong configuration.

use crate::error::{Error, Result};
use crate::merge::{merge_records, MergeOptions};
use crate::model::{Document, Item};
use crate::ops::ListOptions;
use crate::routing::{DatabaseType, Route, RouteError, Tier};
use crate::Chronos;
use serde_json::{json, Map, Value};

/// Options of [`Chronos::get_knowledge`] and [`Chronos::get_metadata`].
#[derive(Debug, Clone, Default)]
pub struct TieredOptions {
    /// Look in this tenant's database too.
    pub tenant_id: Option<String>,
    /// Look in this domain's database too.
    pub domain: Option<String>,
    /// Merge every tier found (generic ← domain ← tenant) instead of returning the most
    /// specific one.
    pub merge: bool,
    /// How tiers merge when `merge` is set (default: arrays unioned without duplicates, the
    /// more specific tier winning).
    pub merge_options: MergeOptions,
    /// Also find records whose latest version is a deletion.
    pub include_deleted: bool,
}

/// What a tiered fetch found.
#[derive(Debug, Clone, PartialEq)]
pub struct Tiered {
    /// The record's data: the most specific tier's (fallback), or all tiers' merged (merge).
    /// `None` when no tier has a match.
    pub data: Option<Document>,
    /// The tiers that had a match, in the order they were used (merge: generic first;
    /// fallback: the one returned).
    pub tiers_found: Vec<Tier>,
    /// Each of those tiers' records.
    pub tier_records: Vec<(Tier, Item)>,
}

/// The routes a tiered fetch consults, generic first: the generic tier, then the domain's
/// and the tenant's when `opts` names them. A server checks a caller's access to each
/// before fetching.
///
/// ```
/// use chronos_db::tiered::{tier_routes, TieredOptions};
/// use chronos_db::DatabaseType;
/// let opts = TieredOptions { tenant_id: Some("acme".into()), ..Default::default() };
/// let routes = tier_routes(DatabaseType::Knowledge, "cfg", &opts).unwrap();
/// let names: Vec<String> = routes.iter().map(|r| r.to_string()).collect();
/// assert_eq!(names, ["knowledge/generic/cfg", "knowledge/tenant/acme/cfg"]);
/// ```
pub fn tier_routes(
    database_type: DatabaseType,
    collection: &str,
    opts: &TieredOptions,
) -> Result<Vec<Route>> {
    let mut routes = vec![Route::generic(database_type, collection)?];
    if let Some(d) = &opts.domain {
        routes.push(Route::domain(database_type, d, collection)?);
    }
    if let Some(t) = &opts.tenant_id {
        routes.push(Route::tenant(database_type, t, collection)?);
    }
    Ok(routes)
}

impl Tiered {
    /// The JSON shape of chronos-db v2.2 (TypeScript): `{data, tiersFound, tierRecords: {tier: {_id, ...data, _system}}}`.
    ///
    /// ```
    /// let empty = chronos_db::tiered::Tiered { data: None, tiers_found: vec![], tier_records: vec![] };
    /// assert_eq!(empty.to_json(), serde_json::json!({"data": null, "tiersFound": [], "tierRecords": {}}));
    /// ```
    pub fn to_json(&self) -> Value {
        let records: Map<String, Value> = self
            .tier_records
            .iter()
            .map(|(tier, item)| (tier.as_str().to_string(), Value::Object(item.to_document())))
            .collect();
        json!({
            "data": self.data.clone().map(Value::Object),
            "tiersFound": self.tiers_found.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "tierRecords": records,
        })
    }
}

impl Chronos {
    /// Fetches a record from the knowledge databases: tenant → domain → generic, the first
    /// found, or all of them merged with `merge`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::{tiered::TieredOptions, Chronos, DatabaseType, Route};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir().unwrap();
    /// let chronos = Chronos::embedded(dir.path()).await.unwrap();
    /// let generic = chronos.with(Route::generic(DatabaseType::Knowledge, "app-config").unwrap()).unwrap();
    /// generic.create(json!({"key": "flags", "theme": "light"}), "ops", "seed", Default::default()).await.unwrap();
    /// let tenant = chronos.with(Route::tenant(DatabaseType::Knowledge, "acme", "app-config").unwrap()).unwrap();
    /// tenant.create(json!({"key": "flags", "theme": "dark"}), "ops", "seed", Default::default()).await.unwrap();
    /// let opts = TieredOptions { tenant_id: Some("acme".into()), ..Default::default() };
    /// let found = chronos.get_knowledge("app-config", json!({"key": "flags"}), opts).await.unwrap();
    /// assert_eq!(found.data.unwrap()["theme"], "dark");
    /// # });
    /// ```
    pub async fn get_knowledge(
        &self,
        collection: &str,
        filter: Value,
        opts: TieredOptions,
    ) -> Result<Tiered> {
        self.tiered(DatabaseType::Knowledge, collection, filter, opts)
            .await
    }

    /// [`Chronos::get_knowledge`] over the metadata databases.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::{tiered::TieredOptions, Chronos, DatabaseType, Route, Tier};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir().unwrap();
    /// let chronos = Chronos::embedded(dir.path()).await.unwrap();
    /// let at = |route| chronos.with(route).unwrap();
    /// at(Route::generic(DatabaseType::Metadata, "schemas").unwrap())
    ///     .create(json!({"entity": "user", "fields": ["email"]}), "ops", "seed", Default::default()).await.unwrap();
    /// at(Route::domain(DatabaseType::Metadata, "saas", "schemas").unwrap())
    ///     .create(json!({"entity": "user", "fields": ["plan"]}), "ops", "seed", Default::default()).await.unwrap();
    /// let opts = TieredOptions { domain: Some("saas".into()), merge: true, ..Default::default() };
    /// let schema = chronos.get_metadata("schemas", json!({"entity": "user"}), opts).await.unwrap();
    /// assert_eq!(schema.tiers_found, vec![Tier::Generic, Tier::Domain]);
    /// assert_eq!(schema.data.unwrap()["fields"], json!(["email", "plan"]));
    /// # });
    /// ```
    pub async fn get_metadata(
        &self,
        collection: &str,
        filter: Value,
        opts: TieredOptions,
    ) -> Result<Tiered> {
        self.tiered(DatabaseType::Metadata, collection, filter, opts)
            .await
    }

    async fn tiered(
        &self,
        ty: DatabaseType,
        collection: &str,
        filter: Value,
        opts: TieredOptions,
    ) -> Result<Tiered> {
        let mut tiers: Vec<(Tier, Route)> = tier_routes(ty, collection, &opts)?
            .into_iter()
            .map(|r| (r.tier, r))
            .collect();
        if !opts.merge {
            tiers.reverse();
        }
        let mut out = Tiered {
            data: None,
            tiers_found: Vec::new(),
            tier_records: Vec::new(),
        };
        for (tier, route) in tiers {
            let coll = match self.with(route) {
                Ok(c) => c,
                Err(Error::Route(RouteError::NoGeneric(_) | RouteError::Unknown { .. })) => {
                    continue
                }
                Err(e) => return Err(e),
            };
            let page = coll
                .list_by_meta(ListOptions {
                    filter: Some(filter.clone()),
                    limit: Some(1),
                    include_deleted: opts.include_deleted,
                    ..Default::default()
                })
                .await?;
            let Some(item) = page.items.into_iter().next() else {
                continue;
            };
            out.tiers_found.push(tier);
            match (&mut out.data, opts.merge) {
                (Some(merged), true) => merge_records(merged, &item.data, opts.merge_options),
                (slot, _) => *slot = Some(item.data.clone()),
            }
            out.tier_records.push((tier, item));
            if !opts.merge {
                break;
            }
        }
        Ok(out)
    }
}
