//! Isolation between database entries: which configured entries could name the same
//! database, or the same object key space.
//!
//! Two rules, both about names that only *look* independent:
//!
//! * **Databases (a configuration error).** Two entries that belong to different owners (two
//!   tenants, two domains, a tenant and a shared entry, ...) must never name the same database
//!   on the same connection. Besides two listed entries with one `dbName`, that covers a listed
//!   entry whose `dbName` is what a template gives some *other* tenant (listed `acme` with
//!   `rt_globex`, template `rt_{tenantId}`: an unlisted tenant `globex` would land in acme's
//!   database), and two templates whose names overlap (`k_{tenantId}` and `k_{domain}`).
//!   Template against template is checked with a sample value, which catches every overlap
//!   of the usual one-placeholder shapes.
//! * **Key spaces (a sweeper guard).** Entries with different databases may share a bucket and
//!   prefix (the seed's "shared infrastructure" layout): reads and writes use exact keys, so
//!   that is safe, but the orphan sweeper decides what is an orphan by asking one database,
//!   and would delete the other databases' objects. [`key_space_is_shared`] tells it not to.

use super::types::{ChronosConfig, ConnRefs, DatabaseTemplate};
use regex::Regex;

/// Who a database entry's data belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// A generic database or the logs database.
    Shared,
    Domain(String),
    Tenant(String),
}

impl Owner {
    fn describe(&self) -> String {
        match self {
            Owner::Shared => "a shared (generic) entry".into(),
            Owner::Domain(d) => format!("domain '{d}'"),
            Owner::Tenant(t) => format!("tenant '{t}'"),
        }
    }
}

/// The placeholder a template is instantiated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Domain,
    Tenant,
}

/// One configured entry: listed (fixed names) or a template.
struct Place<'a> {
    path: String,
    database_type: &'static str,
    /// `None` for a listed entry.
    template: Option<Scope>,
    /// The owner of a listed entry (unused for templates).
    owner: Owner,
    db_conns: &'a ConnRefs,
    space_conns: &'a ConnRefs,
    db_name: &'a str,
    bucket: &'a str,
    prefix: Option<&'a str>,
}

/// A value no configured name contains, used to instantiate a template for comparisons.
const SAMPLE: &str = "zq7sample7qz";

impl Place<'_> {
    /// A template field with `{databaseType}` filled in and the placeholder of the other scope
    /// emptied (as routing does), `value` standing for this scope's placeholder.
    fn expand(&self, text: &str, value: &str) -> String {
        let (tenant, domain) = match self.template {
            Some(Scope::Tenant) => (Some(value), None),
            Some(Scope::Domain) => (None, Some(value)),
            None => return text.to_string(),
        };
        super::validate_expand(text, self.database_type, tenant, domain)
    }

    fn owner_for(&self, value: &str) -> Owner {
        match self.template {
            Some(Scope::Tenant) => Owner::Tenant(value.into()),
            Some(Scope::Domain) => Owner::Domain(value.into()),
            None => self.owner.clone(),
        }
    }

    /// What placeholder values make this place produce `name` from `text`: `Some(value)`
    /// (the empty string for a listed entry) when it can, `None` when it cannot.
    fn instantiate(&self, text: &str, name: &str) -> Option<String> {
        if self.template.is_none() {
            return (text == name).then(String::new);
        }
        // Everything but this scope's placeholder is fixed: escape it, then let each
        // occurrence of the placeholder capture a valid scope name; all must agree.
        let fixed = self.expand(text, "\u{1}");
        let mut pattern = String::from("^");
        for (i, piece) in fixed.split('\u{1}').enumerate() {
            if i > 0 {
                pattern.push_str("([a-z0-9][a-z0-9_-]{0,63})");
            }
            pattern.push_str(&regex::escape(piece));
        }
        pattern.push('$');
        let re = Regex::new(&pattern).ok()?;
        let caps = re.captures(name)?;
        let mut values = caps.iter().skip(1).flatten().map(|m| m.as_str());
        let first = values.next()?.to_string();
        values.all(|v| v == first).then_some(first)
    }

    /// The key space (bucket and prefix) as one text, placeholders unexpanded.
    fn key_space_text(&self) -> String {
        format!("{}\u{0}{}", self.bucket, self.prefix.unwrap_or_default())
    }
}

fn intersects(a: &ConnRefs, b: &ConnRefs) -> bool {
    a.as_slice().iter().any(|x| b.as_slice().contains(x))
}

/// A listed entry (generic, domain, tenant or logs: the same fields in different structs).
macro_rules! listed {
    ($path:expr, $ty:expr, $owner:expr, $e:expr) => {
        Place {
            path: $path,
            database_type: $ty,
            template: None,
            owner: $owner,
            db_conns: &$e.db_conn_ref,
            space_conns: &$e.space_conn_ref,
            db_name: &$e.db_name,
            bucket: &$e.bucket,
            prefix: $e.prefix.as_deref(),
        }
    };
}

fn places(cfg: &ChronosConfig) -> Vec<Place<'_>> {
    let mut out = Vec::new();
    let dbs = &cfg.databases;
    fn templated<'a>(
        path: String,
        ty: &'static str,
        scope: Scope,
        t: &'a DatabaseTemplate,
    ) -> Place<'a> {
        Place {
            path,
            database_type: ty,
            template: Some(scope),
            owner: Owner::Shared,
            db_conns: &t.db_conn_ref,
            space_conns: &t.space_conn_ref,
            db_name: &t.db_name,
            bucket: &t.bucket,
            prefix: t.prefix.as_deref(),
        }
    }
    for (ty, tiered) in [("metadata", &dbs.metadata), ("knowledge", &dbs.knowledge)] {
        let Some(t) = tiered else { continue };
        let base = format!("$.databases.{ty}");
        if let Some(g) = &t.generic_database {
            out.push(listed!(
                format!("{base}.genericDatabase"),
                ty,
                Owner::Shared,
                g
            ));
        }
        for (i, d) in t.domains_databases.iter().enumerate() {
            out.push(listed!(
                format!("{base}.domainsDatabases[{i}]"),
                ty,
                Owner::Domain(d.domain.clone()),
                d
            ));
        }
        for (i, e) in t.tenant_databases.iter().enumerate() {
            out.push(listed!(
                format!("{base}.tenantDatabases[{i}]"),
                ty,
                Owner::Tenant(e.tenant_id.clone()),
                e
            ));
        }
        if let Some(tpl) = &t.domain_template {
            out.push(templated(
                format!("{base}.domainTemplate"),
                ty,
                Scope::Domain,
                tpl,
            ));
        }
        if let Some(tpl) = &t.tenant_template {
            out.push(templated(
                format!("{base}.tenantTemplate"),
                ty,
                Scope::Tenant,
                tpl,
            ));
        }
    }
    if let Some(rt) = &dbs.runtime {
        for (i, e) in rt.tenant_databases.iter().enumerate() {
            out.push(listed!(
                format!("$.databases.runtime.tenantDatabases[{i}]"),
                "runtime",
                Owner::Tenant(e.tenant_id.clone()),
                e
            ));
        }
        if let Some(tpl) = &rt.tenant_template {
            out.push(templated(
                "$.databases.runtime.tenantTemplate".into(),
                "runtime",
                Scope::Tenant,
                tpl,
            ));
        }
    }
    if let Some(g) = &dbs.logs {
        out.push(listed!("$.databases.logs".into(), "logs", Owner::Shared, g));
    }
    out
}

/// `(path, message)` for every pair of entries of different owners that can name the same
/// database on a shared connection.
pub(super) fn database_collisions(cfg: &ChronosConfig) -> Vec<(String, String)> {
    let all = places(cfg);
    let mut out = Vec::new();
    for (j, b) in all.iter().enumerate() {
        for a in &all[..j] {
            if !intersects(a.db_conns, b.db_conns) {
                continue;
            }
            if let Some((owner_a, owner_b)) = shared_database(a, b) {
                out.push((
                    format!("{}.dbName", b.path),
                    format!(
                        "can name the same database as {} ({} and {} would share it); give each its own dbName",
                        a.path,
                        owner_b.describe(),
                        owner_a.describe()
                    ),
                ));
            }
        }
    }
    out
}

/// Owners of `a` and `b` that would share one database name, if any.
fn shared_database(a: &Place<'_>, b: &Place<'_>) -> Option<(Owner, Owner)> {
    // Instantiate one side (a sample value for a template), then ask the other side which of
    // its values gives the same name; try both directions.
    for (x, y) in [(a, b), (b, a)] {
        let name = x.expand(x.db_name, SAMPLE);
        if let Some(value) = y.instantiate(y.db_name, &name) {
            let (ox, oy) = (x.owner_for(SAMPLE), y.owner_for(&value));
            if ox != oy {
                return Some(if std::ptr::eq(x, a) {
                    (ox, oy)
                } else {
                    (oy, ox)
                });
            }
        }
    }
    None
}

/// Whether objects under this route's bucket and prefix can belong to a database other than
/// `db_conn_ref` / `db_name` (another entry, or a template for another tenant or domain,
/// names the same bucket and prefix on the same payload connection).
pub(crate) fn key_space_is_shared(
    cfg: &ChronosConfig,
    space_conn_ref: &str,
    bucket: &str,
    prefix: Option<&str>,
    db_conn_ref: &str,
    db_name: &str,
) -> bool {
    let key = format!("{bucket}\u{0}{}", prefix.unwrap_or_default());
    places(cfg).iter().any(|p| {
        if !p.space_conns.as_slice().iter().any(|s| s == space_conn_ref) {
            return false;
        }
        let Some(value) = p.instantiate(&p.key_space_text(), &key) else {
            return false;
        };
        let same_db = p.db_conns.as_slice().iter().any(|c| c == db_conn_ref)
            && p.expand(p.db_name, &value) == db_name;
        !same_db
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(databases: serde_json::Value) -> ChronosConfig {
        serde_json::from_value(serde_json::json!({
            "dbConnections": {"m": {"sqliteDir": "/tmp/x"}, "m2": {"sqliteDir": "/tmp/y"}},
            "spacesConnections": {"s": {"provider": "memory"}},
            "databases": databases,
        }))
        .unwrap()
    }

    fn tenant(id: &str, db: &str, bucket: &str) -> serde_json::Value {
        serde_json::json!({"tenantId": id, "dbConnRef": "m", "spaceConnRef": "s", "bucket": bucket, "dbName": db})
    }

    #[test]
    fn listed_tenants_cannot_share_a_database() {
        let c = cfg(serde_json::json!({"runtime": {"tenantDatabases": [
            tenant("a", "rt", "b-a"), tenant("b", "rt", "b-b")]}}));
        let found = database_collisions(&c);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "$.databases.runtime.tenantDatabases[1].dbName");
        assert!(
            found[0].1.contains("tenant 'b' and tenant 'a'"),
            "{}",
            found[0].1
        );
        // Different connections: different databases.
        let mut other = tenant("b", "rt", "b-b");
        other["dbConnRef"] = "m2".into();
        let c = cfg(
            serde_json::json!({"runtime": {"tenantDatabases": [tenant("a", "rt", "b-a"), other]}}),
        );
        assert!(database_collisions(&c).is_empty());
    }

    #[test]
    fn a_listed_name_must_not_be_another_tenants_template_name() {
        let tpl = serde_json::json!({"dbConnRef": "m", "spaceConnRef": "s", "bucket": "rt-{tenantId}", "dbName": "rt_{tenantId}"});
        // acme's own template name: fine (acme is listed, so the template is not used for it).
        let c = cfg(
            serde_json::json!({"runtime": {"tenantTemplate": tpl.clone(),
            "tenantDatabases": [tenant("acme", "rt_acme", "x")]}}),
        );
        assert!(database_collisions(&c).is_empty());
        let c = cfg(serde_json::json!({"runtime": {"tenantTemplate": tpl,
            "tenantDatabases": [tenant("acme", "rt_globex", "x")]}}));
        let found = database_collisions(&c);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains("tenant 'globex'"), "{}", found[0].1);
    }

    #[test]
    fn overlapping_templates_are_found() {
        let t = |db: &str| serde_json::json!({"dbConnRef": "m", "spaceConnRef": "s", "bucket": "k-{tenantId}{domain}", "dbName": db});
        let c = cfg(serde_json::json!({"knowledge": {
            "tenantTemplate": t("k_{tenantId}"), "domainTemplate": t("k_d_{domain}")}}));
        assert_eq!(database_collisions(&c).len(), 1);
        let c = cfg(serde_json::json!({"knowledge": {
            "tenantTemplate": t("kt_{tenantId}"), "domainTemplate": t("kd_{domain}")}}));
        assert!(database_collisions(&c).is_empty());
        // The same tenant in two tiers may share (its own data either way).
        let c = cfg(
            serde_json::json!({"knowledge": {"tenantTemplate": t("t_{tenantId}")},
            "runtime": {"tenantTemplate": t("t_{tenantId}")}}),
        );
        assert!(database_collisions(&c).is_empty());
        // The embedded default is clean.
        assert!(database_collisions(&ChronosConfig::embedded("/tmp/d")).is_empty());
    }

    #[test]
    fn shared_key_spaces_are_recognised() {
        let c = cfg(serde_json::json!({"runtime": {
            "tenantDatabases": [tenant("a", "rt_a", "shared"), tenant("b", "rt_b", "shared")],
            "tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "rt", "prefix": "t/{tenantId}", "dbName": "rt_{tenantId}"}}}));
        assert!(key_space_is_shared(&c, "s", "shared", None, "m", "rt_a"));
        assert!(!key_space_is_shared(
            &c,
            "s",
            "rt",
            Some("t/zed"),
            "m",
            "rt_zed"
        ));
        let c = cfg(serde_json::json!({"runtime": {
            "tenantDatabases": [tenant("a", "rt_a", "only-a"), tenant("b", "rt_b", "rt")],
            "tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "rt-{tenantId}", "dbName": "rt_{tenantId}"}}}));
        assert!(!key_space_is_shared(&c, "s", "only-a", None, "m", "rt_a"));
        // Listed "rt-x" bucket is what the template gives tenant x.
        let c2 = cfg(serde_json::json!({"runtime": {
            "tenantDatabases": [tenant("a", "rt_a", "rt-x")],
            "tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "rt-{tenantId}", "dbName": "rt_{tenantId}"}}}));
        assert!(key_space_is_shared(&c2, "s", "rt-x", None, "m", "rt_a"));
        assert!(key_space_is_shared(&c2, "s", "rt-x", None, "m", "rt_x"));
    }
}
