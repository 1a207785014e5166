//! Scopes: what an API key may do, as `databaseType:tier:scopeId:permission`.
//!
//! * `databaseType` is `metadata`, `knowledge`, `runtime`, `logs` or `*`;
//! * `tier` is `generic`, `domain`, `tenant` or `*`;
//! * `scopeId` is the tenant id (tenant tier) or the domain (domain tier), or `*`. The generic
//!   tier and the logs database have no scope id: only `*` covers them;
//! * `permission` is `read`, `write` or `admin`, each including the ones before it.
//!
//! A scope names a part of the route space and nothing else: whether access is granted is
//! decided from the route alone, before any data is read, so the answer can never depend on
//! whether an item exists.

use crate::routing::{DatabaseType, Route, Tier};
use std::fmt;
use std::str::FromStr;

/// What a request needs on the route it acts on. Ordered: `Read < Write < Admin`, and a
/// scope granting one grants the lower ones too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Reads, history, queries, tiered fetches.
    Read,
    /// Creates, updates, deletes, enrichments, restores of one item.
    Write,
    /// Collection-wide changes: a collection restore, garbage collection (`POST .../gc`).
    Admin,
}

impl Permission {
    /// The name used in scopes.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }
}

/// One part of a scope: a given value or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part<T> {
    Any,
    Exactly(T),
}

impl<T: PartialEq> Part<T> {
    fn covers(&self, value: Option<&T>) -> bool {
        match (self, value) {
            (Part::Any, _) => true,
            (Part::Exactly(want), Some(got)) => want == got,
            (Part::Exactly(_), None) => false,
        }
    }
}

/// A parsed scope.
///
/// ```
/// use chronos_db::access::{Permission, Scope};
/// use chronos_db::{DatabaseType, Route};
/// let scope: Scope = "runtime:tenant:tenant-a:write".parse().unwrap();
/// let a = Route::tenant(DatabaseType::Runtime, "tenant-a", "orders").unwrap();
/// let b = Route::tenant(DatabaseType::Runtime, "tenant-b", "orders").unwrap();
/// assert!(scope.allows(&a, Permission::Read));
/// assert!(scope.allows(&a, Permission::Write));
/// assert!(!scope.allows(&a, Permission::Admin));
/// assert!(!scope.allows(&b, Permission::Read));
/// assert!("runtime:tenant:tenant-a:own".parse::<Scope>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    database_type: Part<DatabaseType>,
    tier: Part<Tier>,
    scope_id: Part<String>,
    permission: Permission,
}

impl Scope {
    /// Whether this scope grants `permission` (or more) on `route`.
    pub fn allows(&self, route: &Route, permission: Permission) -> bool {
        self.permission >= permission && self.covers(route)
    }

    /// Whether the route lies inside this scope, whatever the permission.
    pub fn covers(&self, route: &Route) -> bool {
        let scope_id = match route.tier {
            Tier::Tenant => route.tenant_id.as_ref().map(|t| t.as_str().to_string()),
            Tier::Domain => route.domain.as_ref().map(|d| d.as_str().to_string()),
            Tier::Generic => None,
        };
        self.database_type.covers(Some(&route.database_type))
            && self.tier.covers(Some(&route.tier))
            && self.scope_id.covers(scope_id.as_ref())
    }

    /// Whether this scope covers every route (`*:*:*:<permission>`): what operators' keys
    /// have, and what the server's metrics and readiness endpoints ask for.
    pub fn is_global(&self) -> bool {
        self.database_type == Part::Any && self.tier == Part::Any && self.scope_id == Part::Any
    }

    /// The permission this scope grants.
    pub fn permission(&self) -> Permission {
        self.permission
    }
}

/// Why a scope does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope '{scope}': {why} (expected databaseType:tier:scopeId:permission, e.g. runtime:tenant:tenant-a:write)")]
pub struct ScopeError {
    scope: String,
    why: String,
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(text: &str) -> Result<Self, ScopeError> {
        let fail = |why: String| ScopeError {
            scope: crate::names::printable(text),
            why,
        };
        let parts: Vec<&str> = text.split(':').collect();
        let [database_type, tier, scope_id, permission] = parts[..] else {
            return Err(fail(format!("{} parts instead of 4", parts.len())));
        };
        let database_type = match database_type {
            "*" => Part::Any,
            t => Part::Exactly(DatabaseType::from_str(t).map_err(|e| fail(e.0))?),
        };
        let tier = match tier {
            "*" => Part::Any,
            t => Part::Exactly(Tier::from_str(t).map_err(|e| fail(e.0))?),
        };
        let scope_id = match scope_id {
            "*" => Part::Any,
            id => {
                crate::names::check_scope_name("scopeId", id).map_err(fail)?;
                match tier {
                    Part::Exactly(Tier::Generic) => {
                        return Err(fail(
                            "the generic tier has no scope id: use * as the scopeId".into(),
                        ))
                    }
                    // A tenant and a domain may share a name: `*:*:acme:...` would grant the
                    // domain every tenant of it reads, as well as the tenant.
                    Part::Any => {
                        return Err(fail(
                            "a scopeId needs its tier (tenant or domain), not *".into(),
                        ))
                    }
                    _ => {}
                }
                Part::Exactly(id.to_string())
            }
        };
        let permission = match permission {
            "read" => Permission::Read,
            "write" => Permission::Write,
            "admin" => Permission::Admin,
            other => {
                return Err(fail(format!(
                    "unknown permission '{}' (read, write or admin)",
                    crate::names::printable(other)
                )))
            }
        };
        Ok(Scope {
            database_type,
            tier,
            scope_id,
            permission,
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |p: Option<&str>| p.unwrap_or("*").to_string();
        let database_type = match &self.database_type {
            Part::Any => None,
            Part::Exactly(t) => Some(t.as_str()),
        };
        let tier = match &self.tier {
            Part::Any => None,
            Part::Exactly(t) => Some(t.as_str()),
        };
        let scope_id = match &self.scope_id {
            Part::Any => None,
            Part::Exactly(s) => Some(s.as_str()),
        };
        write!(
            f,
            "{}:{}:{}:{}",
            part(database_type),
            part(tier),
            part(scope_id),
            self.permission.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(text: &str) -> Route {
        let p: Vec<&str> = text.split('/').collect();
        let ty = DatabaseType::from_str(p[0]).unwrap();
        match p[1] {
            "tenant" => Route::tenant(ty, p[2], p[3]),
            "domain" => Route::domain(ty, p[2], p[3]),
            _ => Route::generic(ty, p[2]),
        }
        .unwrap()
    }

    #[test]
    fn wildcards_and_permissions_cover_what_they_say() {
        let cases = [
            (
                "runtime:tenant:tenant-a:read",
                "runtime/tenant/tenant-a/x",
                Permission::Read,
                true,
            ),
            (
                "runtime:tenant:tenant-a:read",
                "runtime/tenant/tenant-a/x",
                Permission::Write,
                false,
            ),
            (
                "runtime:tenant:tenant-a:admin",
                "runtime/tenant/tenant-a/x",
                Permission::Write,
                true,
            ),
            (
                "runtime:tenant:tenant-a:admin",
                "runtime/tenant/tenant-b/x",
                Permission::Read,
                false,
            ),
            (
                "runtime:tenant:tenant-a:admin",
                "knowledge/tenant/tenant-a/x",
                Permission::Read,
                false,
            ),
            (
                "*:tenant:tenant-a:read",
                "knowledge/tenant/tenant-a/x",
                Permission::Read,
                true,
            ),
            (
                "*:tenant:tenant-a:read",
                "knowledge/domain/tenant-a/x",
                Permission::Read,
                false,
            ),
            (
                "knowledge:generic:*:read",
                "knowledge/generic/x",
                Permission::Read,
                true,
            ),
            (
                "knowledge:generic:*:read",
                "knowledge/tenant/t/x",
                Permission::Read,
                false,
            ),
            (
                "knowledge:*:*:write",
                "knowledge/domain/d/x",
                Permission::Write,
                true,
            ),
            // A concrete scope id never covers the generic tier or the logs database.
            (
                "*:tenant:tenant-a:admin",
                "knowledge/generic/x",
                Permission::Read,
                false,
            ),
            (
                "*:tenant:tenant-a:admin",
                "logs/generic/x",
                Permission::Read,
                false,
            ),
            ("logs:*:*:write", "logs/generic/x", Permission::Write, true),
            (
                "*:*:*:admin",
                "metadata/domain/d/x",
                Permission::Admin,
                true,
            ),
            // The same name in another tier is another scope.
            (
                "*:domain:acme:read",
                "runtime/tenant/acme/x",
                Permission::Read,
                false,
            ),
        ];
        for (scope, r, perm, want) in cases {
            let s: Scope = scope.parse().unwrap();
            assert_eq!(
                s.allows(&route(r), perm),
                want,
                "{scope} on {r} for {perm:?}"
            );
            assert_eq!(s.to_string(), scope, "a scope prints as it was written");
        }
    }

    #[test]
    fn malformed_scopes_are_refused_with_the_rule() {
        for bad in [
            "",
            "runtime:tenant:a",
            "runtime:tenant:a:write:x",
            "runtim:tenant:a:read",
            "runtime:tenants:a:read",
            "runtime:tenant:a:owner",
            "runtime:tenant:../a:read",
            "runtime:tenant:a/b:read",
            "knowledge:generic:acme:read",
            "runtime:tenant::read",
            "*:*:tenant-a:read",
            "runtime:*:acme:write",
        ] {
            let e = bad.parse::<Scope>().unwrap_err().to_string();
            assert!(
                e.contains("databaseType:tier:scopeId:permission"),
                "{bad}: {e}"
            );
        }
    }
}
