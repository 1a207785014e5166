//! Routes: `(databaseType, tier, tenantId | domain, collection)` → a metadata database and a
//! payload location, resolved from the configuration only. A caller can never name a
//! database or bucket directly, which is what keeps tenants apart.

use crate::config::{validate_expand, ChronosConfig, DatabaseTemplate};
use crate::names;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The four database types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseType {
    Metadata,
    Knowledge,
    Runtime,
    Logs,
}

impl DatabaseType {
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseType::Metadata => "metadata",
            DatabaseType::Knowledge => "knowledge",
            DatabaseType::Runtime => "runtime",
            DatabaseType::Logs => "logs",
        }
    }
}

impl std::str::FromStr for DatabaseType {
    type Err = RouteError;
    fn from_str(s: &str) -> Result<Self, RouteError> {
        Ok(match s {
            "metadata" => DatabaseType::Metadata,
            "knowledge" => DatabaseType::Knowledge,
            "runtime" => DatabaseType::Runtime,
            "logs" => DatabaseType::Logs,
            _ => {
                return Err(RouteError::Invalid(format!(
                    "unknown databaseType '{}' (metadata, knowledge, runtime or logs)",
                    names::printable(s)
                )))
            }
        })
    }
}

/// The three tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Generic,
    Domain,
    Tenant,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Generic => "generic",
            Tier::Domain => "domain",
            Tier::Tenant => "tenant",
        }
    }
}

impl std::str::FromStr for Tier {
    type Err = RouteError;
    fn from_str(s: &str) -> Result<Self, RouteError> {
        Ok(match s {
            "generic" => Tier::Generic,
            "domain" => Tier::Domain,
            "tenant" => Tier::Tenant,
            _ => {
                return Err(RouteError::Invalid(format!(
                    "unknown tier '{}' (generic, domain or tenant)",
                    names::printable(s)
                )))
            }
        })
    }
}

/// Where an operation goes.
///
/// ```
/// use chronos_db::Route;
/// let r = Route::tenant(chronos_db::DatabaseType::Runtime, "tenant-a", "users");
/// assert_eq!(r.to_string(), "runtime/tenant/tenant-a/users");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub database_type: DatabaseType,
    pub tier: Tier,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub collection: String,
}

impl Route {
    pub fn generic(database_type: DatabaseType, collection: &str) -> Self {
        Route {
            database_type,
            tier: Tier::Generic,
            tenant_id: None,
            domain: None,
            collection: collection.into(),
        }
    }
    pub fn domain(database_type: DatabaseType, domain: &str, collection: &str) -> Self {
        Route {
            database_type,
            tier: Tier::Domain,
            tenant_id: None,
            domain: Some(domain.into()),
            collection: collection.into(),
        }
    }
    pub fn tenant(database_type: DatabaseType, tenant_id: &str, collection: &str) -> Self {
        Route {
            database_type,
            tier: Tier::Tenant,
            tenant_id: Some(tenant_id.into()),
            domain: None,
            collection: collection.into(),
        }
    }
    /// The logs database (it has a single tier).
    pub fn logs(collection: &str) -> Self {
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
pub enum RouteError {
    #[error("invalid route: {0}")]
    Invalid(String),
    #[error("databaseType '{0}' is not configured")]
    NotConfigured(&'static str),
    #[error("{kind} '{name}' is not configured for {database_type} and no template exists")]
    Unknown {
        kind: &'static str,
        name: String,
        database_type: &'static str,
    },
}

/// The physical target of a route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedRoute {
    pub db_conn_ref: String,
    pub db_name: String,
    pub space_conn_ref: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub analytics_db_name: Option<String>,
    pub collection: String,
}

struct Entry<'a> {
    db_conn_ref: &'a str,
    space_conn_ref: &'a str,
    bucket: &'a str,
    db_name: &'a str,
    prefix: &'a Option<String>,
    analytics: &'a Option<String>,
}

impl ResolvedRoute {
    fn from_entry(e: Entry<'_>, collection: &str) -> Self {
        ResolvedRoute {
            db_conn_ref: e.db_conn_ref.into(),
            db_name: e.db_name.into(),
            space_conn_ref: e.space_conn_ref.into(),
            bucket: e.bucket.into(),
            prefix: e.prefix.clone(),
            analytics_db_name: e.analytics.clone(),
            collection: collection.into(),
        }
    }

    fn from_template(
        t: &DatabaseTemplate,
        ty: DatabaseType,
        tenant: Option<&str>,
        domain: Option<&str>,
        collection: &str,
    ) -> Result<Self, RouteError> {
        let expand = |s: &str| validate_expand(s, ty.as_str(), tenant, domain);
        let db_name = expand(&t.db_name);
        // No case folding or character mapping here: two tenants must never share a name.
        let bucket = expand(&t.bucket);
        let prefix = t.prefix.as_deref().map(expand);
        let analytics = t.analytics_db_name.as_deref().map(expand);
        let bad = |e: String| {
            RouteError::Invalid(format!(
                "the template gives an invalid name for this route: {e}"
            ))
        };
        names::check_db_name(&db_name).map_err(bad)?;
        names::check_bucket(&bucket).map_err(bad)?;
        if let Some(p) = &prefix {
            names::check_prefix(p).map_err(bad)?;
        }
        if let Some(a) = &analytics {
            names::check_db_name(a).map_err(bad)?;
        }
        Ok(ResolvedRoute {
            db_conn_ref: t.db_conn_ref.clone(),
            db_name,
            space_conn_ref: t.space_conn_ref.clone(),
            bucket,
            prefix,
            analytics_db_name: analytics,
            collection: collection.into(),
        })
    }
}

/// Resolves a route against the configuration.
///
/// ```
/// use chronos_db::{config::ChronosConfig, routing::resolve, Route, DatabaseType};
/// let cfg = ChronosConfig::embedded("/tmp/data");
/// let r = resolve(&cfg, &Route::tenant(DatabaseType::Runtime, "acme", "orders")).unwrap();
/// assert_eq!(r.db_name, "runtime_tenant_acme");
/// assert!(resolve(&cfg, &Route::generic(DatabaseType::Runtime, "orders")).is_err());
/// ```
pub fn resolve(cfg: &ChronosConfig, route: &Route) -> Result<ResolvedRoute, RouteError> {
    names::check_name("collection", &route.collection).map_err(RouteError::Invalid)?;
    let ty = route.database_type;
    let coll = route.collection.as_str();
    let need_tenant = || -> Result<&str, RouteError> {
        let t = route.tenant_id.as_deref().ok_or_else(|| {
            RouteError::Invalid(format!("tier 'tenant' of {} needs a tenantId", ty.as_str()))
        })?;
        names::check_scope_name("tenantId", t).map_err(RouteError::Invalid)?;
        Ok(t)
    };
    let need_domain = || -> Result<&str, RouteError> {
        let d = route.domain.as_deref().ok_or_else(|| {
            RouteError::Invalid(format!("tier 'domain' of {} needs a domain", ty.as_str()))
        })?;
        names::check_scope_name("domain", d).map_err(RouteError::Invalid)?;
        Ok(d)
    };
    let unused = |field: &str| {
        RouteError::Invalid(format!(
            "{field} is not used by tier '{}'; leave it out",
            route.tier.as_str()
        ))
    };
    match route.tier {
        Tier::Generic if route.tenant_id.is_some() => return Err(unused("tenantId")),
        Tier::Generic if route.domain.is_some() => return Err(unused("domain")),
        Tier::Tenant if route.domain.is_some() => return Err(unused("domain")),
        Tier::Domain if route.tenant_id.is_some() => return Err(unused("tenantId")),
        _ => {}
    }
    match ty {
        DatabaseType::Metadata | DatabaseType::Knowledge => {
            let tiered = if ty == DatabaseType::Metadata {
                &cfg.databases.metadata
            } else {
                &cfg.databases.knowledge
            };
            let t = tiered
                .as_ref()
                .ok_or(RouteError::NotConfigured(ty.as_str()))?;
            match route.tier {
                Tier::Generic => {
                    let g = t.generic_database.as_ref().ok_or_else(|| {
                        RouteError::Invalid(format!(
                            "{} has no genericDatabase configured",
                            ty.as_str()
                        ))
                    })?;
                    Ok(ResolvedRoute::from_entry(
                        Entry {
                            db_conn_ref: &g.db_conn_ref,
                            space_conn_ref: &g.space_conn_ref,
                            bucket: &g.bucket,
                            db_name: &g.db_name,
                            prefix: &g.prefix,
                            analytics: &g.analytics_db_name,
                        },
                        coll,
                    ))
                }
                Tier::Domain => {
                    let d = need_domain()?;
                    if let Some(e) = t.domains_databases.iter().find(|e| e.domain == d) {
                        return Ok(ResolvedRoute::from_entry(
                            Entry {
                                db_conn_ref: &e.db_conn_ref,
                                space_conn_ref: &e.space_conn_ref,
                                bucket: &e.bucket,
                                db_name: &e.db_name,
                                prefix: &e.prefix,
                                analytics: &e.analytics_db_name,
                            },
                            coll,
                        ));
                    }
                    let tpl = t
                        .domain_template
                        .as_ref()
                        .ok_or_else(|| RouteError::Unknown {
                            kind: "domain",
                            name: d.into(),
                            database_type: ty.as_str(),
                        })?;
                    ResolvedRoute::from_template(tpl, ty, None, Some(d), coll)
                }
                Tier::Tenant => {
                    let tenant = need_tenant()?;
                    if let Some(e) = t.tenant_databases.iter().find(|e| e.tenant_id == tenant) {
                        return Ok(ResolvedRoute::from_entry(
                            Entry {
                                db_conn_ref: &e.db_conn_ref,
                                space_conn_ref: &e.space_conn_ref,
                                bucket: &e.bucket,
                                db_name: &e.db_name,
                                prefix: &e.prefix,
                                analytics: &e.analytics_db_name,
                            },
                            coll,
                        ));
                    }
                    let tpl = t
                        .tenant_template
                        .as_ref()
                        .ok_or_else(|| RouteError::Unknown {
                            kind: "tenant",
                            name: tenant.into(),
                            database_type: ty.as_str(),
                        })?;
                    ResolvedRoute::from_template(tpl, ty, Some(tenant), None, coll)
                }
            }
        }
        DatabaseType::Runtime => {
            if route.tier != Tier::Tenant {
                return Err(RouteError::Invalid(format!(
                    "runtime has only the tenant tier, not '{}'",
                    route.tier.as_str()
                )));
            }
            let rt = cfg
                .databases
                .runtime
                .as_ref()
                .ok_or(RouteError::NotConfigured("runtime"))?;
            let tenant = need_tenant()?;
            if let Some(e) = rt.tenant_databases.iter().find(|e| e.tenant_id == tenant) {
                return Ok(ResolvedRoute::from_entry(
                    Entry {
                        db_conn_ref: &e.db_conn_ref,
                        space_conn_ref: &e.space_conn_ref,
                        bucket: &e.bucket,
                        db_name: &e.db_name,
                        prefix: &e.prefix,
                        analytics: &e.analytics_db_name,
                    },
                    coll,
                ));
            }
            let tpl = rt
                .tenant_template
                .as_ref()
                .ok_or_else(|| RouteError::Unknown {
                    kind: "tenant",
                    name: tenant.into(),
                    database_type: "runtime",
                })?;
            ResolvedRoute::from_template(tpl, ty, Some(tenant), None, coll)
        }
        DatabaseType::Logs => {
            if route.tier != Tier::Generic {
                return Err(RouteError::Invalid(format!(
                    "logs has a single database; use tier 'generic', not '{}'",
                    route.tier.as_str()
                )));
            }
            let g = cfg
                .databases
                .logs
                .as_ref()
                .ok_or(RouteError::NotConfigured("logs"))?;
            Ok(ResolvedRoute::from_entry(
                Entry {
                    db_conn_ref: &g.db_conn_ref,
                    space_conn_ref: &g.space_conn_ref,
                    bucket: &g.bucket,
                    db_name: &g.db_name,
                    prefix: &g.prefix,
                    analytics: &g.analytics_db_name,
                },
                coll,
            ))
        }
    }
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
            &Route::tenant(DatabaseType::Runtime, "tenant-a", "users"),
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
            &Route::domain(DatabaseType::Metadata, "health", "schemas"),
        )
        .unwrap();
        assert_eq!(r.db_name, "meta_health");
    }

    #[test]
    fn invalid_combinations_are_clear_errors() {
        let cfg = listed();
        let e = resolve(&cfg, &Route::generic(DatabaseType::Runtime, "users"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("runtime has only the tenant tier"), "{e}");
        let mut r = Route::tenant(DatabaseType::Runtime, "x", "users");
        r.tenant_id = None;
        assert!(resolve(&cfg, &r)
            .unwrap_err()
            .to_string()
            .contains("needs a tenantId"));
        let e = resolve(
            &cfg,
            &Route::tenant(DatabaseType::Runtime, "tenant-b", "users"),
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
            resolve(&cfg, &Route::logs("x")),
            Err(RouteError::NotConfigured("logs"))
        ));
        assert!(resolve(&cfg, &Route::tenant(DatabaseType::Runtime, "../a", "users")).is_err());
        assert!(resolve(
            &cfg,
            &Route::tenant(DatabaseType::Runtime, "tenant-a", "a/b")
        )
        .is_err());
    }

    #[test]
    fn templates_give_each_tenant_its_own_database_and_bucket() {
        let cfg = ChronosConfig::embedded("/tmp/d");
        let a = resolve(
            &cfg,
            &Route::tenant(DatabaseType::Runtime, "tenant_a", "users"),
        )
        .unwrap();
        let b = resolve(
            &cfg,
            &Route::tenant(DatabaseType::Runtime, "tenant-a", "users"),
        )
        .unwrap();
        assert_eq!(a.db_name, "runtime_tenant_tenant_a");
        assert_ne!(a.db_name, b.db_name);
        assert_ne!((&a.bucket, &a.prefix), (&b.bucket, &b.prefix));
        assert!(resolve(
            &cfg,
            &Route::tenant(DatabaseType::Runtime, "Tenant-A", "users")
        )
        .is_err());
    }
}
