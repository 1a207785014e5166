//! One walk over the configured databases. The four entry structs (generic, domain, tenant,
//! template) share their fields through [`DatabaseEntry`]; [`Databases::entries`] lists every
//! entry with its database type, what it serves and its JSON path, in configuration order.
//! Routing, validation, isolation and administration all walk this list.

use super::{
    ConnRefs, DatabaseTemplate, Databases, DomainDatabase, GenericDatabase, TenantDatabase,
};
use crate::tiers::{DatabaseType, Tier};

/// The fields every database entry has. (The structs cannot share them through
/// `#[serde(flatten)]`, which `deny_unknown_fields` rules out.)
///
/// ```
/// use chronos_db::config::{ChronosConfig, DatabaseEntry};
/// let cfg = ChronosConfig::embedded("/tmp/data");
/// let entries = cfg.databases.entries();
/// assert!(entries.iter().all(|e| !e.db.bucket().is_empty()));
/// ```
pub trait DatabaseEntry {
    /// The metadata connection(s).
    fn db_conn_ref(&self) -> &ConnRefs;
    /// The payload connection(s).
    fn space_conn_ref(&self) -> &ConnRefs;
    /// The bucket (a template for template entries).
    fn bucket(&self) -> &str;
    /// The database name (a template for template entries).
    fn db_name(&self) -> &str;
    /// The key prefix in the bucket, if any.
    fn prefix(&self) -> Option<&str>;
    /// The analytics database name, if any.
    fn analytics_db_name(&self) -> Option<&str>;
}

macro_rules! database_entry {
    ($($ty:ty),*) => {$(
        impl DatabaseEntry for $ty {
            fn db_conn_ref(&self) -> &ConnRefs { &self.db_conn_ref }
            fn space_conn_ref(&self) -> &ConnRefs { &self.space_conn_ref }
            fn bucket(&self) -> &str { &self.bucket }
            fn db_name(&self) -> &str { &self.db_name }
            fn prefix(&self) -> Option<&str> { self.prefix.as_deref() }
            fn analytics_db_name(&self) -> Option<&str> { self.analytics_db_name.as_deref() }
        }
    )*};
}
database_entry!(
    GenericDatabase,
    DomainDatabase,
    TenantDatabase,
    DatabaseTemplate
);

/// Whom a database entry serves.
#[derive(Debug, Clone, Copy)]
pub enum Serves<'a> {
    /// Everyone: the generic tier (and the logs database).
    Everyone,
    /// One listed domain.
    Domain(&'a str),
    /// One listed tenant.
    Tenant(&'a str),
    /// Every domain not listed (a template).
    AnyDomain(&'a DatabaseTemplate),
    /// Every tenant not listed (a template).
    AnyTenant(&'a DatabaseTemplate),
}

impl Serves<'_> {
    /// The tier of the entry.
    pub fn tier(&self) -> Tier {
        match self {
            Serves::Everyone => Tier::Generic,
            Serves::Domain(_) | Serves::AnyDomain(_) => Tier::Domain,
            Serves::Tenant(_) | Serves::AnyTenant(_) => Tier::Tenant,
        }
    }

    /// The template, for template entries.
    pub fn template(&self) -> Option<&DatabaseTemplate> {
        match self {
            Serves::AnyDomain(t) | Serves::AnyTenant(t) => Some(t),
            _ => None,
        }
    }
}

/// One configured database entry.
pub struct Entry<'a> {
    /// The database type it belongs to.
    pub database_type: DatabaseType,
    /// Whom it serves.
    pub serves: Serves<'a>,
    /// Its JSON path in the configuration (e.g. `$.databases.runtime.tenantDatabases[0]`).
    pub path: String,
    /// Its fields.
    pub db: &'a dyn DatabaseEntry,
}

impl Databases {
    /// Every database entry and template, in configuration order: per database type
    /// (metadata, knowledge, runtime, logs) the generic entry, listed domains, listed
    /// tenants, then the domain and tenant templates.
    pub fn entries<'a>(&'a self) -> Vec<Entry<'a>> {
        let mut out: Vec<Entry<'a>> = Vec::new();
        let mut push = |database_type, serves, path: String, db: &'a dyn DatabaseEntry| {
            out.push(Entry {
                database_type,
                serves,
                path,
                db,
            })
        };
        for (ty, tiered) in [
            (DatabaseType::Metadata, &self.metadata),
            (DatabaseType::Knowledge, &self.knowledge),
        ] {
            let Some(t) = tiered else { continue };
            let base = format!("$.databases.{}", ty.as_str());
            if let Some(g) = &t.generic_database {
                push(ty, Serves::Everyone, format!("{base}.genericDatabase"), g);
            }
            for (i, d) in t.domains_databases.iter().enumerate() {
                let path = format!("{base}.domainsDatabases[{i}]");
                push(ty, Serves::Domain(&d.domain), path, d);
            }
            for (i, e) in t.tenant_databases.iter().enumerate() {
                let path = format!("{base}.tenantDatabases[{i}]");
                push(ty, Serves::Tenant(&e.tenant_id), path, e);
            }
            if let Some(tpl) = &t.domain_template {
                push(
                    ty,
                    Serves::AnyDomain(tpl),
                    format!("{base}.domainTemplate"),
                    tpl,
                );
            }
            if let Some(tpl) = &t.tenant_template {
                push(
                    ty,
                    Serves::AnyTenant(tpl),
                    format!("{base}.tenantTemplate"),
                    tpl,
                );
            }
        }
        if let Some(rt) = &self.runtime {
            let ty = DatabaseType::Runtime;
            for (i, e) in rt.tenant_databases.iter().enumerate() {
                let path = format!("$.databases.runtime.tenantDatabases[{i}]");
                push(ty, Serves::Tenant(&e.tenant_id), path, e);
            }
            if let Some(tpl) = &rt.tenant_template {
                let path = "$.databases.runtime.tenantTemplate".to_string();
                push(ty, Serves::AnyTenant(tpl), path, tpl);
            }
        }
        if let Some(g) = &self.logs {
            push(
                DatabaseType::Logs,
                Serves::Everyone,
                "$.databases.logs".into(),
                g,
            );
        }
        out
    }

    /// Whether a section for the database type is configured at all.
    pub fn has(&self, database_type: DatabaseType) -> bool {
        match database_type {
            DatabaseType::Metadata => self.metadata.is_some(),
            DatabaseType::Knowledge => self.knowledge.is_some(),
            DatabaseType::Runtime => self.runtime.is_some(),
            DatabaseType::Logs => self.logs.is_some(),
        }
    }
}
