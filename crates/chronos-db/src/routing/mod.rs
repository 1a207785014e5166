//! Routes: `(databaseType, tier, tenantId | domain, collection)` → a metadata database and a
//! payload location, resolved from the configuration only. A caller can never name a
//! database or bucket directly, which is what keeps tenants apart.
//!
//! A database entry may list several `dbConnRef` / `spaceConnRef` connections (several
//! clusters serving one tier). One of each list is then picked per route by a placement hash
//! ([`rendezvous`] or [`jump`], chosen by `routing.hashAlgo`) over a routing key built from
//! the route as `routing.chooseKey` says ([`routing_key`]). The pick depends on nothing but
//! the configuration and the route.

pub mod hash;

pub use hash::{jump, key_hash, rendezvous, rendezvous_score};

pub use crate::config::{check_choose_key, CHOOSE_KEY_TOKENS, DEFAULT_CHOOSE_KEY};
pub use crate::tiers::{DatabaseType, Tier};

use crate::config::{
    template_names, ChronosConfig, ConnRefs, DatabaseEntry, DatabaseTemplate, HashAlgo, Routing,
    Serves,
};
use crate::names::{CollectionName, DomainName, TenantId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an operation goes. Its names are validated when the route is built (by the
/// constructors or by deserializing), so a `Route` always holds well-formed names; whether
/// the configuration serves it is decided by [`resolve`].
///
/// ```
/// use chronos_db::{DatabaseType, Route};
/// let r = Route::tenant(DatabaseType::Runtime, "tenant-a", "users").unwrap();
/// assert_eq!(r.to_string(), "runtime/tenant/tenant-a/users");
/// assert!(Route::tenant(DatabaseType::Runtime, "../a", "users").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct Route {
    /// `databaseType`: which of the four database types.
    pub database_type: DatabaseType,
    /// Which tier of it (`runtime` has only `tenant`, `logs` only `generic`).
    pub tier: Tier,
    /// `tenantId`: the tenant, for the tenant tier only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    /// The domain, for the domain tier only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainName>,
    /// The collection: 1-64 characters of `[A-Za-z0-9_-]`, starting with a letter or digit.
    pub collection: CollectionName,
}

// A route from JSON is an object: an array would be read positionally.
crate::object_only!(Route, "a route object", serialize);

impl Route {
    /// A route to the generic tier of a database type, shared by every domain and tenant.
    pub fn generic(database_type: DatabaseType, collection: &str) -> Result<Self, RouteError> {
        Ok(Route {
            database_type,
            tier: Tier::Generic,
            tenant_id: None,
            domain: None,
            collection: CollectionName::parse(collection).map_err(RouteError::Invalid)?,
        })
    }
    /// A route to one domain's database of a database type.
    pub fn domain(
        database_type: DatabaseType,
        domain: &str,
        collection: &str,
    ) -> Result<Self, RouteError> {
        Ok(Route {
            database_type,
            tier: Tier::Domain,
            tenant_id: None,
            domain: Some(DomainName::parse(domain).map_err(RouteError::Invalid)?),
            collection: CollectionName::parse(collection).map_err(RouteError::Invalid)?,
        })
    }
    /// A route to one tenant's database of a database type.
    pub fn tenant(
        database_type: DatabaseType,
        tenant_id: &str,
        collection: &str,
    ) -> Result<Self, RouteError> {
        Ok(Route {
            database_type,
            tier: Tier::Tenant,
            tenant_id: Some(TenantId::parse(tenant_id).map_err(RouteError::Invalid)?),
            domain: None,
            collection: CollectionName::parse(collection).map_err(RouteError::Invalid)?,
        })
    }
    /// The logs database (it has a single tier).
    pub fn logs(collection: &str) -> Result<Self, RouteError> {
        Route::generic(DatabaseType::Logs, collection)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.database_type.as_str(), self.tier.as_str())?;
        if let Some(d) = &self.domain {
            write!(f, "/{d}")?;
        }
        if let Some(t) = &self.tenant_id {
            write!(f, "/{t}")?;
        }
        write!(f, "/{}", self.collection)
    }
}

/// Why a route does not resolve. Messages only repeat what the caller passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The route cannot be used: a bad name (or one too long for a template), or a field or
    /// tier the database type does not have.
    #[error("invalid route: {0}")]
    Invalid(String),
    /// The configuration has no database of this type (the type's name).
    #[error("databaseType '{0}' is not configured")]
    NotConfigured(&'static str),
    /// A tiered database type without a `genericDatabase`.
    #[error("{0} has no genericDatabase configured")]
    NoGeneric(&'static str),
    /// The tenant or domain is neither listed nor covered by a template.
    #[error("{kind} '{name}' is not configured for {database_type} and no template exists")]
    Unknown {
        /// `tenant` or `domain`.
        kind: &'static str,
        /// The tenant id or domain the route named.
        name: String,
        /// The database type's name (`metadata`, `knowledge`, `runtime` or `logs`).
        database_type: &'static str,
    },
}

impl From<crate::tiers::UnknownName> for RouteError {
    fn from(e: crate::tiers::UnknownName) -> Self {
        RouteError::Invalid(e.0)
    }
}

/// The physical target of a route. When the entry lists several connections, the
/// `*_conn_ref` fields hold the ones picked for this route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedRoute {
    /// The metadata connection (a `dbConnections` name) picked for the route.
    pub db_conn_ref: String,
    /// The metadata database name, placeholders filled in.
    pub db_name: String,
    /// The payload connection (a `spacesConnections` name) picked for the route.
    pub space_conn_ref: String,
    /// The bucket, placeholders filled in.
    pub bucket: String,
    /// The key prefix inside the bucket, placeholders filled in, if any.
    pub prefix: Option<String>,
    /// The analytics database name, if configured: where the collection's counters live.
    pub analytics_db_name: Option<String>,
    /// The route's collection.
    pub collection: String,
}

/// The routing key of a route: the first alternative of `routing.chooseKey` (default
/// `tenantId`) that the route has and that is not empty, else the collection name. Unknown
/// tokens (which validation rejects) are skipped.
///
/// ```
/// use chronos_db::{config::Routing, routing::routing_key, DatabaseType, Route};
/// let by_tenant = Routing::default();
/// let r = Route::tenant(DatabaseType::Runtime, "acme", "orders").unwrap();
/// assert_eq!(routing_key(&by_tenant, &r), "acme");
/// assert_eq!(routing_key(&by_tenant, &Route::logs("audit").unwrap()), "audit");
/// let by_domain = Routing { choose_key: Some("domain|databaseType".into()), ..Routing::default() };
/// assert_eq!(routing_key(&by_domain, &r), "runtime");
/// ```
pub fn routing_key(routing: &Routing, route: &Route) -> String {
    let expr = routing.choose_key.as_deref().unwrap_or(DEFAULT_CHOOSE_KEY);
    for token in expr.split('|').map(str::trim) {
        let value = match token {
            "tenantId" => route.tenant_id.as_deref(),
            "domain" => route.domain.as_deref(),
            "collection" => Some(route.collection.as_str()),
            "databaseType" => Some(route.database_type.as_str()),
            _ => None,
        };
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            return v.to_owned();
        }
    }
    route.collection.to_string()
}

/// Which of `candidates` a routing key goes to, with `routing.hashAlgo`. Always an index
/// into `candidates` when it is not empty (0 when it is).
///
/// ```
/// use chronos_db::config::{HashAlgo, Routing};
/// use chronos_db::routing::choose;
/// let refs = ["east".to_string(), "west".to_string()];
/// let hrw = Routing::default();
/// let jump = Routing { hash_algo: HashAlgo::Jump, ..Routing::default() };
/// assert!(choose(&hrw, "acme", &refs) < 2);
/// assert_eq!(choose(&jump, "acme", &refs), choose(&jump, "acme", &refs));
/// ```
pub fn choose(routing: &Routing, key: &str, candidates: &[String]) -> usize {
    if candidates.len() < 2 {
        return 0;
    }
    match routing.hash_algo {
        HashAlgo::Rendezvous => rendezvous(key, candidates),
        HashAlgo::Jump => {
            let buckets = u32::try_from(candidates.len()).unwrap_or(u32::MAX);
            jump(key_hash(key), buckets) as usize
        }
    }
}

/// Picks one connection of an entry's list for a route.
fn pick(
    routing: &Routing,
    route: &Route,
    field: &str,
    refs: &ConnRefs,
) -> Result<String, RouteError> {
    match refs.as_slice() {
        [] => Err(RouteError::Invalid(format!(
            "the configuration entry for {} lists no {field}",
            route.database_type.as_str()
        ))),
        [one] => Ok(one.clone()),
        many => Ok(many[choose(routing, &routing_key(routing, route), many)].clone()),
    }
}

impl ResolvedRoute {
    /// Where this route's database keeps its objects (for isolation checks).
    pub(crate) fn key_space(&self) -> crate::config::KeySpace<'_> {
        crate::config::KeySpace {
            space_conn_ref: &self.space_conn_ref,
            bucket: &self.bucket,
            prefix: self.prefix.as_deref(),
            db_conn_ref: &self.db_conn_ref,
            db_name: &self.db_name,
        }
    }
}

impl ResolvedRoute {
    fn from_entry(
        e: &dyn DatabaseEntry,
        routing: &Routing,
        route: &Route,
    ) -> Result<Self, RouteError> {
        Ok(ResolvedRoute {
            db_conn_ref: pick(routing, route, "dbConnRef", e.db_conn_ref())?,
            db_name: e.db_name().into(),
            space_conn_ref: pick(routing, route, "spaceConnRef", e.space_conn_ref())?,
            bucket: e.bucket().into(),
            prefix: e.prefix().map(str::to_string),
            analytics_db_name: e.analytics_db_name().map(str::to_string),
            collection: route.collection.to_string(),
        })
    }

    fn from_template(
        t: &DatabaseTemplate,
        routing: &Routing,
        route: &Route,
        tenant: Option<&str>,
        domain: Option<&str>,
    ) -> Result<Self, RouteError> {
        let names = template_names(t, route.database_type.as_str(), tenant, domain)
            .map_err(RouteError::Invalid)?;
        Ok(ResolvedRoute {
            db_conn_ref: pick(routing, route, "dbConnRef", &t.db_conn_ref)?,
            db_name: names.db_name,
            space_conn_ref: pick(routing, route, "spaceConnRef", &t.space_conn_ref)?,
            bucket: names.bucket,
            prefix: names.prefix,
            analytics_db_name: names.analytics_db_name,
            collection: route.collection.to_string(),
        })
    }
}

/// Resolves a route against the configuration.
///
/// ```
/// use chronos_db::{config::ChronosConfig, routing::resolve, Route, DatabaseType};
/// let cfg = ChronosConfig::embedded("/tmp/data");
/// let r = resolve(&cfg, &Route::tenant(DatabaseType::Runtime, "acme", "orders").unwrap()).unwrap();
/// assert_eq!(r.db_name, "runtime_tenant_acme");
/// assert!(resolve(&cfg, &Route::generic(DatabaseType::Runtime, "orders").unwrap()).is_err());
/// ```
pub fn resolve<'a>(cfg: &ChronosConfig, route: &'a Route) -> Result<ResolvedRoute, RouteError> {
    let ty = route.database_type;
    let unused = |field: &str| {
        RouteError::Invalid(format!(
            "{field} is not used by tier '{}'; leave it out",
            route.tier.as_str()
        ))
    };
    match (ty, route.tier) {
        (_, Tier::Generic) if route.tenant_id.is_some() => return Err(unused("tenantId")),
        (_, Tier::Generic) if route.domain.is_some() => return Err(unused("domain")),
        (_, Tier::Tenant) if route.domain.is_some() => return Err(unused("domain")),
        (_, Tier::Domain) if route.tenant_id.is_some() => return Err(unused("tenantId")),
        (DatabaseType::Runtime, Tier::Generic | Tier::Domain) => {
            return Err(RouteError::Invalid(format!(
                "runtime has only the tenant tier, not '{}'",
                route.tier.as_str()
            )))
        }
        (DatabaseType::Logs, Tier::Domain | Tier::Tenant) => {
            return Err(RouteError::Invalid(format!(
                "logs has a single database; use tier 'generic', not '{}'",
                route.tier.as_str()
            )))
        }
        _ => {}
    }
    if !cfg.databases.has(ty) {
        return Err(RouteError::NotConfigured(ty.as_str()));
    }
    // Who the route is for: nobody in particular, or one (validated) domain or tenant.
    let scope = |kind: &'static str, value: Option<&'a str>| -> Result<&'a str, RouteError> {
        value.ok_or_else(|| {
            RouteError::Invalid(format!(
                "tier '{}' of {} needs a {kind}",
                route.tier.as_str(),
                ty.as_str()
            ))
        })
    };
    let (tenant, domain) = match route.tier {
        Tier::Generic => (None, None),
        Tier::Domain => (None, Some(scope("domain", route.domain.as_deref())?)),
        Tier::Tenant => (Some(scope("tenantId", route.tenant_id.as_deref())?), None),
    };
    let entries = cfg.databases.entries();
    let of_tier = || {
        entries
            .iter()
            .filter(|e| e.database_type == ty && e.serves.tier() == route.tier)
    };
    // A listed entry first, then the tier's template.
    let listed = of_tier().find(|e| match e.serves {
        Serves::Everyone => true,
        Serves::Domain(d) => Some(d) == domain,
        Serves::Tenant(t) => Some(t) == tenant,
        Serves::AnyDomain(_) | Serves::AnyTenant(_) => false,
    });
    if let Some(e) = listed {
        return ResolvedRoute::from_entry(e.db, &cfg.routing, route);
    }
    if let Some(template) = of_tier().find_map(|e| e.serves.template()) {
        return ResolvedRoute::from_template(template, &cfg.routing, route, tenant, domain);
    }
    Err(match (tenant, domain) {
        (Some(t), _) => RouteError::Unknown {
            kind: "tenant",
            name: t.into(),
            database_type: ty.as_str(),
        },
        (_, Some(d)) => RouteError::Unknown {
            kind: "domain",
            name: d.into(),
            database_type: ty.as_str(),
        },
        _ => RouteError::NoGeneric(ty.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> ChronosConfig {
        ChronosConfig::from_json_str(
            r#"{"dbConnections":{"m":{"sqliteDir":"/tmp/m"}},
                "spacesConnections":{"s":{"provider":"local","basePath":"/tmp/s"}},
                "databases":{
                  "metadata":{"genericDatabase":{"dbConnRef":"m","spaceConnRef":"s","bucket":"meta-g","dbName":"meta_g"},
                              "domainsDatabases":[{"domain":"health","dbConnRef":"m","spaceConnRef":"s","bucket":"meta-health","dbName":"meta_health"}],
                              "tenantDatabases":[]},
                  "runtime":{"tenantDatabases":[{"tenantId":"tenant-a","dbConnRef":"m","spaceConnRef":"s","bucket":"rt-a","dbName":"rt_a","analyticsDbName":"an_a"}]}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn listed_entries_resolve() {
        let cfg = listed();
        let r = resolve(
            &cfg,
            &Route::tenant(DatabaseType::Runtime, "tenant-a", "users").unwrap(),
        )
        .unwrap();
        assert_eq!(
            (
                r.db_name.as_str(),
                r.bucket.as_str(),
                r.analytics_db_name.as_deref()
            ),
            ("rt_a", "rt-a", Some("an_a"))
        );
        let r = resolve(
            &cfg,
            &Route::domain(DatabaseType::Metadata, "health", "schemas").unwrap(),
        )
        .unwrap();
        assert_eq!(r.db_name, "meta_health");
    }

    #[test]
    fn invalid_combinations_are_clear_errors() {
        let cfg = listed();
        let e = resolve(
            &cfg,
            &Route::generic(DatabaseType::Runtime, "users").unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("runtime has only the tenant tier"), "{e}");
        let mut r = Route::tenant(DatabaseType::Runtime, "x", "users").unwrap();
        r.tenant_id = None;
        assert!(resolve(&cfg, &r)
            .unwrap_err()
            .to_string()
            .contains("needs a tenantId"));
        let e = resolve(
            &cfg,
            &Route::tenant(DatabaseType::Runtime, "tenant-b", "users").unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            RouteError::Unknown {
                kind: "tenant",
                name: "tenant-b".into(),
                database_type: "runtime"
            }
        );
        assert!(matches!(
            resolve(&cfg, &Route::logs("x").unwrap()),
            Err(RouteError::NotConfigured("logs"))
        ));
        // Bad names never become a route, whether built or deserialized.
        assert!(Route::tenant(DatabaseType::Runtime, "../a", "users").is_err());
        assert!(Route::tenant(DatabaseType::Runtime, "tenant-a", "a/b").is_err());
        assert!(Route::domain(DatabaseType::Metadata, "", "users").is_err());
        let bad = r#"{"databaseType":"runtime","tier":"tenant","tenantId":"a/b","collection":"c"}"#;
        let e = serde_json::from_str::<Route>(bad).unwrap_err().to_string();
        assert!(e.contains("tenantId 'a/b' is invalid"), "{e}");
    }

    const MULTI: &str = r#"{
        "dbConnections":{"m1":{"sqliteDir":"/tmp/m1"},"m2":{"sqliteDir":"/tmp/m2"}},
        "spacesConnections":{"s1":{"provider":"local","basePath":"/tmp/s1"},
                             "s2":{"provider":"local","basePath":"/tmp/s2"},
                             "s3":{"provider":"local","basePath":"/tmp/s3"}},
        "routing":{"hashAlgo":"HASH"},
        "databases":{
          "metadata":{"genericDatabase":{"dbConnRef":["m1","m2"],"spaceConnRef":"s1","bucket":"meta-g","dbName":"meta_g"},
                      "tenantDatabases":[{"tenantId":"listed","dbConnRef":["m1","m2"],"spaceConnRef":["s1","s2","s3"],"bucket":"meta-l","dbName":"meta_l"}]},
          "runtime":{"tenantTemplate":{"dbConnRef":["m1","m2"],"spaceConnRef":["s1","s2","s3"],
                                       "bucket":"rt-{tenantId}","dbName":"rt_{tenantId}"}}}}"#;

    fn multi(hash: &str) -> ChronosConfig {
        ChronosConfig::from_json_str(&MULTI.replace("HASH", hash)).unwrap()
    }

    fn rt(tenant: &str) -> Route {
        Route::tenant(DatabaseType::Runtime, tenant, "users").unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_spread_tenants_over_connections() {
        for hash in ["rendezvous", "jump"] {
            let cfg = multi(hash);
            let mut dbs = std::collections::BTreeSet::new();
            let mut spaces = std::collections::BTreeSet::new();
            for i in 0..50 {
                let r = resolve(&cfg, &rt(&format!("tenant-{i}"))).unwrap();
                assert_eq!(r.db_name, format!("rt_tenant-{i}"));
                dbs.insert(r.db_conn_ref);
                spaces.insert(r.space_conn_ref);
            }
            assert_eq!(dbs.len(), 2, "{hash}: {dbs:?}");
            assert_eq!(spaces.len(), 3, "{hash}: {spaces:?}");
        }
        // Some pair of tenants lands on different connections.
        let cfg = multi("rendezvous");
        let a = resolve(&cfg, &rt("tenant-a")).unwrap();
        let b = resolve(&cfg, &rt("tenant-b")).unwrap();
        assert_ne!(a.db_conn_ref, b.db_conn_ref);
        assert_ne!(a.space_conn_ref, b.space_conn_ref);
    }

    #[test]
    fn the_pick_is_the_documented_hash_of_the_routing_key() {
        let (dbs, spaces) = (strings(&["m1", "m2"]), strings(&["s1", "s2", "s3"]));
        let hrw = multi("rendezvous");
        let jmp = multi("jump");
        for i in 0..100 {
            let t = format!("tenant-{i}");
            let r = resolve(&hrw, &rt(&t)).unwrap();
            assert_eq!(r.db_conn_ref, dbs[rendezvous(&t, &dbs)]);
            assert_eq!(r.space_conn_ref, spaces[rendezvous(&t, &spaces)]);
            let r = resolve(&jmp, &rt(&t)).unwrap();
            assert_eq!(r.db_conn_ref, dbs[jump(key_hash(&t), 2) as usize]);
            assert_eq!(r.space_conn_ref, spaces[jump(key_hash(&t), 3) as usize]);
        }
        // Fixed values (from an independent SHA-256 computation): the scores of m1 and m2
        // for "tenant-a" are 0x96c9… and 0xf018…, so m2 wins.
        assert_eq!(
            rendezvous_score("tenant-a", "m1"),
            10_865_380_038_391_267_756
        );
        assert_eq!(
            rendezvous_score("tenant-a", "m2"),
            17_300_759_665_902_114_182
        );
        let r = resolve(&hrw, &rt("tenant-a")).unwrap();
        assert_eq!(r.db_conn_ref, "m2");
    }

    #[test]
    fn picks_are_deterministic_across_calls_and_reparsed_configs() {
        for hash in ["rendezvous", "jump"] {
            let first = multi(hash);
            let again = multi(hash);
            // Through a serialize / parse round trip too.
            let text = serde_json::to_string(&first).unwrap();
            let round = ChronosConfig::from_json_str(&text).unwrap();
            for i in 0..200 {
                let route = rt(&format!("t{i}"));
                let r = resolve(&first, &route).unwrap();
                assert_eq!(r, resolve(&first, &route).unwrap());
                assert_eq!(r, resolve(&again, &route).unwrap());
                assert_eq!(r, resolve(&round, &route).unwrap());
            }
        }
    }

    #[test]
    fn the_default_key_is_the_tenant_so_a_tenant_stays_on_one_connection() {
        let cfg = multi("rendezvous");
        let picks: std::collections::BTreeSet<_> = (0..40)
            .map(|i| {
                let r = resolve(
                    &cfg,
                    &Route::tenant(DatabaseType::Runtime, "acme", &format!("c{i}")).unwrap(),
                )
                .unwrap();
                (r.db_conn_ref, r.space_conn_ref)
            })
            .collect();
        assert_eq!(picks.len(), 1);
        // Listed entries hash too; the generic tier has no tenant, so the collection is used.
        let listed = Route::tenant(DatabaseType::Metadata, "listed", "x").unwrap();
        assert_eq!(resolve(&cfg, &listed).unwrap().db_name, "meta_l");
        let generic: std::collections::BTreeSet<_> = (0..40)
            .map(|i| {
                resolve(
                    &cfg,
                    &Route::generic(DatabaseType::Metadata, &format!("c{i}")).unwrap(),
                )
                .unwrap()
                .db_conn_ref
            })
            .collect();
        assert_eq!(generic.len(), 2);
    }

    #[test]
    fn choose_key_alternatives() {
        let mut routing = Routing::default();
        let t = Route::tenant(DatabaseType::Runtime, "acme", "orders").unwrap();
        let d = Route::domain(DatabaseType::Metadata, "health", "schemas").unwrap();
        let g = Route::generic(DatabaseType::Knowledge, "facts").unwrap();
        assert_eq!(routing_key(&routing, &t), "acme");
        assert_eq!(routing_key(&routing, &d), "schemas");
        routing.choose_key = Some("collection".into());
        assert_eq!(routing_key(&routing, &t), "orders");
        routing.choose_key = Some("domain|tenantId".into());
        assert_eq!(routing_key(&routing, &t), "acme");
        assert_eq!(routing_key(&routing, &d), "health");
        assert_eq!(routing_key(&routing, &g), "facts");
        routing.choose_key = Some(" tenantId | databaseType ".into());
        assert_eq!(routing_key(&routing, &g), "knowledge");
        // A value the route does not have does not count.
        routing.choose_key = Some("tenantId|collection".into());
        assert_eq!(routing_key(&routing, &d), "schemas");
        // Unknown tokens (rejected by validation) are skipped.
        routing.choose_key = Some("objectId".into());
        assert_eq!(routing_key(&routing, &t), "orders");

        // With chooseKey collection, one tenant's collections spread over the connections.
        let cfg = ChronosConfig::from_json_str(&MULTI.replace(
            r#""hashAlgo":"HASH""#,
            r#""hashAlgo":"jump","chooseKey":"collection""#,
        ))
        .unwrap();
        let spread: std::collections::BTreeSet<_> = (0..40)
            .map(|i| {
                resolve(
                    &cfg,
                    &Route::tenant(DatabaseType::Runtime, "acme", &format!("c{i}")).unwrap(),
                )
                .unwrap()
                .db_conn_ref
            })
            .collect();
        assert_eq!(spread.len(), 2);
    }

    #[test]
    fn an_unvalidated_empty_list_is_an_error_not_a_panic() {
        let mut cfg = ChronosConfig::embedded("/tmp/d");
        if let Some(rt) = cfg.databases.runtime.as_mut() {
            if let Some(t) = rt.tenant_template.as_mut() {
                t.db_conn_ref = Vec::new().into();
            }
        }
        let e = resolve(&cfg, &rt("acme")).unwrap_err().to_string();
        assert!(e.contains("lists no dbConnRef"), "{e}");
    }

    #[test]
    fn a_valid_tenant_id_too_long_for_a_template_says_which_input_is_too_long() {
        let cfg = ChronosConfig::embedded("/tmp/d");
        // What README promises for the embedded default: 46 characters fit everywhere.
        let t46 = "t".repeat(46);
        for ty in [
            DatabaseType::Metadata,
            DatabaseType::Knowledge,
            DatabaseType::Runtime,
        ] {
            resolve(&cfg, &Route::tenant(ty, &t46, "users").unwrap()).unwrap();
            if ty != DatabaseType::Runtime {
                resolve(&cfg, &Route::domain(ty, &t46, "users").unwrap()).unwrap();
            }
        }
        for (ty, len, name) in [
            (DatabaseType::Runtime, 60, "database name 'runtime_tenant_"),
            (
                DatabaseType::Runtime,
                47,
                "analytics database name 'analytics_tenant_",
            ),
            (
                DatabaseType::Knowledge,
                64,
                "database name 'knowledge_tenant_",
            ),
        ] {
            let tenant = "x".repeat(len);
            let e = resolve(&cfg, &Route::tenant(ty, &tenant, "users").unwrap())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "tenant id '{tenant}' ({len} chars) makes the {name}"
                )),
                "{e}"
            );
            assert!(e.ends_with("longer than 63 characters"), "{e}");
        }
        let domain = "d".repeat(50);
        let e = resolve(
            &cfg,
            &Route::domain(DatabaseType::Metadata, &domain, "c").unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(&format!(
                "domain '{domain}' (50 chars) makes the database name 'metadata_domain_"
            )),
            "{e}"
        );
        // A character a bucket cannot hold.
        let cfg = ChronosConfig::from_json_str(
            r#"{"dbConnections":{"m":{"sqliteDir":"/tmp/m"}},
                "spacesConnections":{"s":{"provider":"local","basePath":"/tmp/s"}},
                "databases":{"runtime":{"tenantTemplate":
                  {"dbConnRef":"m","spaceConnRef":"s","bucket":"rt-{tenantId}","dbName":"rt_{tenantId}"}}}}"#,
        )
        .unwrap();
        let e = resolve(&cfg, &rt("a_b")).unwrap_err().to_string();
        assert!(
            e.contains("tenant id 'a_b' makes an invalid bucket: bucket 'rt-a_b' is invalid"),
            "{e}"
        );
    }

    #[test]
    fn templates_give_each_tenant_its_own_database_and_bucket() {
        let cfg = ChronosConfig::embedded("/tmp/d");
        let a = resolve(
            &cfg,
            &Route::tenant(DatabaseType::Runtime, "tenant_a", "users").unwrap(),
        )
        .unwrap();
        let b = resolve(
            &cfg,
            &Route::tenant(DatabaseType::Runtime, "tenant-a", "users").unwrap(),
        )
        .unwrap();
        assert_eq!(a.db_name, "runtime_tenant_tenant_a");
        assert_ne!(a.db_name, b.db_name);
        assert_ne!((&a.bucket, &a.prefix), (&b.bucket, &b.prefix));
        assert!(Route::tenant(DatabaseType::Runtime, "Tenant-A", "users").is_err());
    }
}
