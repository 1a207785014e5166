//! Where data lives: the four database types and the three tiers. Shared by the
//! configuration (which declares databases per type and tier) and routing (which resolves a
//! route to one of them).

use crate::names;
use serde::{Deserialize, Serialize};

/// A database type or tier name that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownName(pub String);

/// The four database types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DatabaseType {
    /// `metadata`: generic, domain and tenant tiers.
    Metadata,
    /// `knowledge`: generic, domain and tenant tiers.
    Knowledge,
    /// `runtime`: the tenant tier only.
    Runtime,
    /// `logs`: a single database (the generic tier).
    Logs,
}

impl DatabaseType {
    /// The lower-case name used in configurations, routes and the `{databaseType}` placeholder.
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
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Ok(match s {
            "metadata" => DatabaseType::Metadata,
            "knowledge" => DatabaseType::Knowledge,
            "runtime" => DatabaseType::Runtime,
            "logs" => DatabaseType::Logs,
            _ => {
                return Err(UnknownName(format!(
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Tier {
    /// `generic`: one database shared by every domain and tenant.
    Generic,
    /// `domain`: one database per domain.
    Domain,
    /// `tenant`: one database per tenant.
    Tenant,
}

impl Tier {
    /// The tier a route of this database type has when none is named: tenant for runtime
    /// (its only tier), generic otherwise.
    ///
    /// ```
    /// use chronos_db::{DatabaseType, Tier};
    /// assert_eq!(Tier::default_for(DatabaseType::Runtime), Tier::Tenant);
    /// assert_eq!(Tier::default_for(DatabaseType::Knowledge), Tier::Generic);
    /// ```
    pub fn default_for(database_type: DatabaseType) -> Tier {
        match database_type {
            DatabaseType::Runtime => Tier::Tenant,
            _ => Tier::Generic,
        }
    }

    /// The lower-case name: `generic`, `domain` or `tenant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Generic => "generic",
            Tier::Domain => "domain",
            Tier::Tenant => "tenant",
        }
    }
}

impl std::str::FromStr for Tier {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Ok(match s {
            "generic" => Tier::Generic,
            "domain" => Tier::Domain,
            "tenant" => Tier::Tenant,
            _ => {
                return Err(UnknownName(format!(
                    "unknown tier '{}' (generic, domain or tenant)",
                    names::printable(s)
                )))
            }
        })
    }
}
