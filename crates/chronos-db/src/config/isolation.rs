//! Isolation between database entries: which configured entries could name the same
//! database, or overlapping object key spaces.
//!
//! Two rules, both about names that only *look* independent:
//!
//! * **Databases (a configuration error).** Two entries must never be able to name the same
//!   database (`dbName` or `analyticsDbName`) on the same server, unless they are the same
//!   owner in the same database type: a tenant's listed entry may carry the name its tier's
//!   template would give that tenant. Everything else is refused: two tenants (or domains,
//!   or a tenant and a shared entry), including through templates — a listed `acme` with
//!   `rt_globex` next to the template `rt_{tenantId}` would put an unlisted tenant `globex`
//!   into acme's database; `k_{tenantId}` and `{domain}_k` both give `k_k` — and two database
//!   types (their collections would merge). Templates are compared as patterns (a
//!   placeholder stands for any scope name), so every overlap is found, not just samples.
//! * **Key spaces (a sweeper guard).** Entries with different databases may share a bucket
//!   (a "shared infrastructure" layout): reads and writes use exact keys, so that is
//!   safe, but the orphan sweeper decides what is an orphan by asking one database, and would
//!   delete objects of the others. [`key_space_is_shared`] tells it when another database's
//!   objects can live under (or above) a route's bucket and prefix.
//!
//! Names are compared without case (MongoDB refuses two databases that differ only by case,
//! and some filesystems fold case), and connections by what they point at (two references
//! to one server or directory are one connection).

use super::entries::Serves;
use super::types::{ChronosConfig, ConnRefs, Provider};
use regex::Regex;
use std::collections::{BTreeSet, HashMap};

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

// ------------------------------------------------------------------------- patterns ---

/// One position of a name pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    /// A scope name: one or more of `[a-z0-9_-]`.
    Name,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
}

/// A lower-cased name in which a template's placeholder stands for any scope name.
#[derive(Debug, Clone)]
struct Pattern(Vec<Tok>);

/// Automaton states: (position, inside a name that already has a character).
type States = BTreeSet<(usize, bool)>;

/// The character standing for `{tenantId}` / `{domain}` while a pattern is built.
const HOLE: char = '\u{1}';

impl Pattern {
    fn new(text: &str) -> Self {
        Pattern(
            text.to_lowercase()
                .chars()
                .map(|c| if c == HOLE { Tok::Name } else { Tok::Char(c) })
                .collect(),
        )
    }

    fn close(&self, mut states: States) -> States {
        let extra: Vec<_> = states
            .iter()
            .filter(|(i, inside)| *inside && self.0.get(*i) == Some(&Tok::Name))
            .map(|(i, _)| (i + 1, false))
            .collect();
        states.extend(extra);
        states
    }

    fn start(&self) -> States {
        self.close(BTreeSet::from([(0, false)]))
    }

    fn step(&self, states: &States, c: char) -> States {
        let mut next = BTreeSet::new();
        for &(i, _) in states {
            match self.0.get(i) {
                Some(Tok::Char(x)) if *x == c => {
                    next.insert((i + 1, false));
                }
                Some(Tok::Name) if is_name_char(c) => {
                    next.insert((i, true));
                }
                _ => {}
            }
        }
        self.close(next)
    }

    fn accepts(&self, states: &States) -> bool {
        states.contains(&(self.0.len(), false))
    }

    fn run(&self, s: &str) -> States {
        s.to_lowercase()
            .chars()
            .fold(self.start(), |st, c| self.step(&st, c))
    }

    /// Whether the pattern gives exactly `s`.
    fn matches(&self, s: &str) -> bool {
        self.accepts(&self.run(s))
    }

    /// Whether `s` starts some name the pattern gives (every live state can still reach the
    /// end: names are non-empty and literals are literal).
    fn starts(&self, s: &str) -> bool {
        !self.run(s).is_empty()
    }

    /// Whether some name is given by both patterns (a subset construction over the product;
    /// one character outside every literal stands for all such characters).
    fn overlaps(&self, other: &Pattern) -> bool {
        let mut alphabet: BTreeSet<char> = self
            .0
            .iter()
            .chain(&other.0)
            .filter_map(|t| match t {
                Tok::Char(c) => Some(*c),
                Tok::Name => None,
            })
            .collect();
        if let Some(free) = "abcdefghijklmnopqrstuvwxyz0123456789_-"
            .chars()
            .find(|c| !alphabet.contains(c))
        {
            alphabet.insert(free);
        }
        let mut seen = BTreeSet::new();
        let mut todo = vec![(self.start(), other.start())];
        while let Some((a, b)) = todo.pop() {
            if self.accepts(&a) && other.accepts(&b) {
                return true;
            }
            if !seen.insert((a.clone(), b.clone())) {
                continue;
            }
            for &c in &alphabet {
                let (na, nb) = (self.step(&a, c), other.step(&b, c));
                if !na.is_empty() && !nb.is_empty() {
                    todo.push((na, nb));
                }
            }
        }
        false
    }
}

// --------------------------------------------------------------------------- places ---

/// A database name an entry gives: the config field, its text, and what it can expand to.
struct DbName {
    field: &'static str,
    text: String,
    pattern: Pattern,
}

/// One configured entry: listed (fixed names) or a template.
struct Place<'a> {
    path: String,
    database_type: &'static str,
    /// `None` for a listed entry.
    template: Option<Scope>,
    /// The owner of a listed entry (unused for templates).
    owner: Owner,
    db_conns: BTreeSet<String>,
    space_conns: BTreeSet<String>,
    db_name: &'a str,
    analytics: Option<&'a str>,
    bucket: &'a str,
    prefix: Option<&'a str>,
}

impl Place<'_> {
    /// A field with `{databaseType}` filled in, the other scope's placeholder emptied (as
    /// routing does) and this scope's replaced by `value`.
    fn expand(&self, text: &str, value: &str) -> String {
        let (tenant, domain) = match self.template {
            Some(Scope::Tenant) => (Some(value), None),
            Some(Scope::Domain) => (None, Some(value)),
            None => return text.to_string(),
        };
        super::validate_expand(text, self.database_type, tenant, domain)
    }

    fn pattern(&self, text: &str) -> Pattern {
        Pattern::new(&self.expand(text, &HOLE.to_string()))
    }

    fn owner_for(&self, value: &str) -> Owner {
        match self.template {
            Some(Scope::Tenant) => Owner::Tenant(value.into()),
            Some(Scope::Domain) => Owner::Domain(value.into()),
            None => self.owner.clone(),
        }
    }

    /// The names this entry gives databases.
    fn databases(&self) -> Vec<DbName> {
        let name = |field, text: &str| DbName {
            field,
            text: text.to_string(),
            pattern: self.pattern(text),
        };
        let mut out = vec![name("dbName", self.db_name)];
        if let Some(a) = self.analytics {
            out.push(name("analyticsDbName", a));
        }
        out
    }

    /// The value of this template's placeholder that turns `text` into `name` (compared
    /// without case); `Some("")` for a listed entry whose `text` is `name`.
    fn value_for(&self, text: &str, name: &str) -> Option<String> {
        if self.template.is_none() {
            return text.eq_ignore_ascii_case(name).then(String::new);
        }
        let fixed = self.expand(text, &HOLE.to_string()).to_lowercase();
        let mut pattern = String::from("^");
        for (i, piece) in fixed.split(HOLE).enumerate() {
            if i > 0 {
                pattern.push_str("([a-z0-9_-]+)");
            }
            pattern.push_str(&regex::escape(piece));
        }
        pattern.push('$');
        let name = name.to_lowercase();
        let caps = Regex::new(&pattern).ok()?.captures(&name)?;
        let mut values = caps.iter().skip(1).flatten().map(|m| m.as_str());
        let first = values.next()?.to_string();
        values.all(|v| v == first).then_some(first)
    }

    /// Bucket and prefix as one text (`bucket NUL prefix/`), placeholders unexpanded.
    fn key_space_text(&self) -> String {
        key_space(self.bucket, self.prefix)
    }
}

fn key_space(bucket: &str, prefix: Option<&str>) -> String {
    match prefix {
        Some(p) => format!("{bucket}\u{0}{}/", p.trim_end_matches('/')),
        None => format!("{bucket}\u{0}"),
    }
}

/// What a database connection points at: two references to one server or directory are one.
fn db_identity(cfg: &ChronosConfig, name: &str) -> String {
    let Some(c) = cfg.db_connections.get(name) else {
        return format!("ref:{name}");
    };
    if let Some(dir) = &c.sqlite_dir {
        return format!("sqlite:{}", dir.trim_end_matches('/'));
    }
    let uri = c.mongo_uri.as_deref().unwrap_or_default();
    // The hosts, without credentials, options or database.
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let hosts = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let hosts = hosts.split(['/', '?']).next().unwrap_or_default();
    let mut list: Vec<String> = hosts.split(',').map(|h| h.to_lowercase()).collect();
    list.sort();
    format!("mongo:{}", list.join(","))
}

/// What a spaces connection points at: the same service (and so the same bucket names).
fn space_identity(cfg: &ChronosConfig, name: &str) -> String {
    let Some(c) = cfg.spaces_connections.get(name) else {
        return format!("ref:{name}");
    };
    let endpoint = c
        .endpoint
        .as_deref()
        .map(|e| e.trim_end_matches('/').to_lowercase());
    match c.effective_provider() {
        Provider::Local => format!(
            "local:{}",
            c.base_path.as_deref().unwrap_or(".").trim_end_matches('/')
        ),
        // Every memory store is its own.
        Provider::Memory => format!("memory:{name}"),
        Provider::S3 => format!("s3:{}", endpoint.unwrap_or_else(|| "aws".into())),
        Provider::Azure => format!(
            "azure:{}:{}",
            endpoint.unwrap_or_default(),
            c.access_key.as_deref().unwrap_or_default()
        ),
        Provider::Gcs => format!("gcs:{}", endpoint.unwrap_or_default()),
    }
}

fn identities(
    cfg: &ChronosConfig,
    refs: &ConnRefs,
    f: fn(&ChronosConfig, &str) -> String,
) -> BTreeSet<String> {
    refs.as_slice().iter().map(|r| f(cfg, r)).collect()
}

/// Every configured entry as a place where names can meet.
fn places(cfg: &ChronosConfig) -> Vec<Place<'_>> {
    cfg.databases
        .entries()
        .into_iter()
        .map(|e| {
            let (owner, template) = match e.serves {
                Serves::Everyone => (Owner::Shared, None),
                Serves::Domain(d) => (Owner::Domain(d.to_string()), None),
                Serves::Tenant(t) => (Owner::Tenant(t.to_string()), None),
                Serves::AnyDomain(_) => (Owner::Shared, Some(Scope::Domain)),
                Serves::AnyTenant(_) => (Owner::Shared, Some(Scope::Tenant)),
            };
            Place {
                database_type: e.database_type.as_str(),
                template,
                owner,
                db_conns: identities(cfg, e.db.db_conn_ref(), db_identity),
                space_conns: identities(cfg, e.db.space_conn_ref(), space_identity),
                db_name: e.db.db_name(),
                analytics: e.db.analytics_db_name(),
                bucket: e.db.bucket(),
                prefix: e.db.prefix(),
                path: e.path,
            }
        })
        .collect()
}

// ------------------------------------------------------------------------ the rules ---

/// `(path, message)` for every pair of entries that can name the same database on one
/// server without being the same owner in the same database type.
///
/// Each entry's names are built once. Two listed names can only meet when their texts are
/// equal (without case), so those pairs come from a map of the listed names seen so far;
/// only pairs involving a template are compared as patterns. That keeps start-up linear in
/// the number of listed tenants rather than quadratic.
pub(super) fn database_collisions(cfg: &ChronosConfig) -> Vec<(String, String)> {
    let all = places(cfg);
    let names: Vec<Vec<DbName>> = all.iter().map(Place::databases).collect();
    let mut listed: HashMap<String, Vec<usize>> = HashMap::new();
    let mut out = Vec::new();
    for (j, b) in all.iter().enumerate() {
        let mut earlier: BTreeSet<usize> = BTreeSet::new();
        if b.template.is_none() {
            for n in &names[j] {
                let seen = listed.entry(n.text.to_lowercase()).or_default();
                earlier.extend(seen.iter().copied());
                seen.push(j);
            }
        }
        earlier.extend((0..j).filter(|&i| all[i].template.is_some() || b.template.is_some()));
        for i in earlier {
            let a = &all[i];
            if a.db_conns.is_disjoint(&b.db_conns) {
                continue;
            }
            if let Some((field, why)) = shared_database(a, &names[i], b, &names[j]) {
                out.push((
                    format!("{}.{field}", b.path),
                    format!("can name the same database as {}: {why}", a.path),
                ));
            }
        }
    }
    out
}

/// Why `a` and `b` (with their names) may share a database (the field of `b` concerned), if
/// they may.
fn shared_database(
    a: &Place<'_>,
    a_names: &[DbName],
    b: &Place<'_>,
    b_names: &[DbName],
) -> Option<(&'static str, String)> {
    for na in a_names {
        for nb in b_names {
            if !na.pattern.overlaps(&nb.pattern) {
                continue;
            }
            // A listed name against a template: the owner the template gives that name.
            let templated = match (a.template, b.template) {
                (None, Some(_)) => b
                    .value_for(&nb.text, &na.text)
                    .map(|v| (a, b.owner_for(&v))),
                (Some(_), None) => a
                    .value_for(&na.text, &nb.text)
                    .map(|v| (b, a.owner_for(&v))),
                _ => None,
            };
            // The one allowed overlap: a listed tenant (or domain) entry and its own tier's
            // template, where the template would give the listed owner this very name (the
            // listed entry wins for that owner, so the template never uses the name).
            if let Some((listed, owner)) = &templated {
                if na.field == nb.field
                    && a.database_type == b.database_type
                    && *owner == listed.owner
                {
                    continue;
                }
            }
            let why = match (a.template, b.template) {
                (None, None) if a.database_type != b.database_type => format!(
                    "a {} and a {} database would merge their collections",
                    a.database_type, b.database_type
                ),
                (None, None) => format!(
                    "{} and {} would share it",
                    b.owner.describe(),
                    a.owner.describe()
                ),
                _ => format!(
                    "the names of `{}` and of `{}` overlap{}; give each entry names no other can produce",
                    nb.field,
                    na.field,
                    templated
                        .map(|(_, owner)| format!(" ({} would get it)", owner.describe()))
                        .unwrap_or_default()
                ),
            };
            return Some((nb.field, why));
        }
    }
    None
}

/// Where one database keeps its objects, and which database that is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeySpace<'a> {
    pub(crate) space_conn_ref: &'a str,
    pub(crate) bucket: &'a str,
    pub(crate) prefix: Option<&'a str>,
    pub(crate) db_conn_ref: &'a str,
    pub(crate) db_name: &'a str,
}

/// Whether objects of a database other than the route's can live under its bucket and
/// prefix, or above them (another entry, or a template for another tenant or domain, names
/// the same or a nested key space on the same service).
pub(crate) fn key_space_is_shared(cfg: &ChronosConfig, route: &KeySpace<'_>) -> bool {
    let space = space_identity(cfg, route.space_conn_ref);
    let db = db_identity(cfg, route.db_conn_ref);
    let db_name = route.db_name;
    let key = key_space(route.bucket, route.prefix).to_lowercase();
    places(cfg).iter().any(|p| {
        if !p.space_conns.contains(&space) {
            return false;
        }
        let text = p.key_space_text();
        let pattern = p.pattern(&text);
        if pattern.matches(&key) {
            // The same key space: shared unless it is this very database.
            let Some(value) = p.value_for(&text, &key) else {
                return true;
            };
            let same_db = p.db_conns.contains(&db)
                && p.expand(p.db_name, &value).eq_ignore_ascii_case(db_name);
            return !same_db;
        }
        // Nested either way: its key space inside ours, or ours inside its.
        let ours_inside_its = key
            .char_indices()
            .filter(|&(_, c)| c == '/' || c == '\u{0}')
            .any(|(i, _)| pattern.matches(&key[..=i]));
        pattern.starts(&key) || ours_inside_its
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(databases: serde_json::Value) -> ChronosConfig {
        serde_json::from_value(serde_json::json!({
            "dbConnections": {"m": {"sqliteDir": "/tmp/x"}, "m2": {"sqliteDir": "/tmp/y"},
                              "m3": {"sqliteDir": "/tmp/x/"}},
            "spacesConnections": {"s": {"provider": "memory"}},
            "databases": databases,
        }))
        .unwrap()
    }

    /// Whether the key space of a route with these names is shared.
    fn shared(
        c: &ChronosConfig,
        space: &str,
        bucket: &str,
        prefix: Option<&str>,
        db_conn: &str,
        db: &str,
    ) -> bool {
        let route = KeySpace {
            db_conn_ref: db_conn,
            db_name: db,
            space_conn_ref: space,
            bucket,
            prefix,
        };
        key_space_is_shared(c, &route)
    }

    fn tenant(id: &str, db: &str, bucket: &str) -> serde_json::Value {
        serde_json::json!({"tenantId": id, "dbConnRef": "m", "spaceConnRef": "s", "bucket": bucket, "dbName": db})
    }

    fn tpl(db: &str) -> serde_json::Value {
        serde_json::json!({"dbConnRef": "m", "spaceConnRef": "s", "bucket": "b-{tenantId}{domain}", "dbName": db})
    }

    #[test]
    fn patterns() {
        let p = |t: &str| Pattern::new(&t.replace("{}", &HOLE.to_string()));
        assert!(p("k_{}").matches("k_acme"));
        assert!(!p("k_{}").matches("k_"));
        assert!(p("k_{}").starts("k_"));
        assert!(!p("k_{}").starts("x"));
        assert!(p("k_{}").overlaps(&p("{}_k")), "k_k");
        assert!(p("k_{}").overlaps(&p("k_d_{}")));
        assert!(!p("kt_{}").overlaps(&p("kd_{}")));
        assert!(!p("a{}").overlaps(&p("b{}")));
        assert!(p("DB_X").overlaps(&p("db_x")), "names compare without case");
    }

    #[test]
    fn listed_entries_cannot_share_a_database() {
        let c = cfg(serde_json::json!({"runtime": {"tenantDatabases": [
            tenant("a", "rt", "b-a"), tenant("b", "RT", "b-b")]}}));
        let found = database_collisions(&c);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "$.databases.runtime.tenantDatabases[1].dbName");
        assert!(
            found[0].1.contains("tenant 'b' and tenant 'a'"),
            "{}",
            found[0].1
        );
        // Another server: another database. The same directory under two names: the same.
        let mut other = tenant("b", "rt", "b-b");
        other["dbConnRef"] = "m2".into();
        let c = cfg(
            serde_json::json!({"runtime": {"tenantDatabases": [tenant("a", "rt", "b-a"), other.clone()]}}),
        );
        assert!(database_collisions(&c).is_empty());
        other["dbConnRef"] = "m3".into();
        let c = cfg(
            serde_json::json!({"runtime": {"tenantDatabases": [tenant("a", "rt", "b-a"), other]}}),
        );
        assert_eq!(database_collisions(&c).len(), 1);
        // An analytics database named like another tenant's database.
        let mut a = tenant("a", "rt_a", "b-a");
        a["analyticsDbName"] = "rt_b".into();
        let c = cfg(
            serde_json::json!({"runtime": {"tenantDatabases": [a, tenant("b", "rt_b", "b-b")]}}),
        );
        assert_eq!(database_collisions(&c).len(), 1);
        // Two database types in one database.
        let g = serde_json::json!({"dbConnRef": "m", "spaceConnRef": "s", "bucket": "g", "dbName": "shared"});
        let c = cfg(
            serde_json::json!({"metadata": {"genericDatabase": g.clone()}, "knowledge": {"genericDatabase": g}}),
        );
        let found = database_collisions(&c);
        assert!(
            found.len() == 1 && found[0].1.contains("merge"),
            "{found:?}"
        );
    }

    #[test]
    fn a_listed_name_must_not_be_another_tenants_template_name() {
        // acme's own template name: fine (acme is listed, so the template is not used for it).
        let c = cfg(
            serde_json::json!({"runtime": {"tenantTemplate": tpl("rt_{tenantId}"),
            "tenantDatabases": [tenant("acme", "rt_acme", "x")]}}),
        );
        assert!(database_collisions(&c).is_empty());
        let c = cfg(
            serde_json::json!({"runtime": {"tenantTemplate": tpl("rt_{tenantId}"),
            "tenantDatabases": [tenant("acme", "rt_globex", "x")]}}),
        );
        let found = database_collisions(&c);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains("tenant 'globex'"), "{}", found[0].1);
    }

    #[test]
    fn overlapping_templates_are_found() {
        for (t, d) in [
            ("k_{tenantId}", "k_d_{domain}"),
            ("k_{tenantId}", "{domain}_k"),
        ] {
            let c = cfg(
                serde_json::json!({"knowledge": {"tenantTemplate": tpl(t), "domainTemplate": tpl(d)}}),
            );
            assert_eq!(database_collisions(&c).len(), 1, "{t} / {d}");
        }
        let c = cfg(serde_json::json!({"knowledge": {
            "tenantTemplate": tpl("kt_{tenantId}"), "domainTemplate": tpl("kd_{domain}")}}));
        assert!(database_collisions(&c).is_empty());
        // One tenant's knowledge and runtime databases must differ too.
        let c = cfg(
            serde_json::json!({"knowledge": {"tenantTemplate": tpl("t_{tenantId}")},
            "runtime": {"tenantTemplate": tpl("t_{tenantId}")}}),
        );
        assert_eq!(database_collisions(&c).len(), 1);
        // The embedded default is clean.
        assert!(database_collisions(&ChronosConfig::embedded("/tmp/d")).is_empty());
    }

    #[test]
    fn shared_key_spaces_are_recognised() {
        let t = serde_json::json!({"dbConnRef": "m", "spaceConnRef": "s", "bucket": "rt", "prefix": "t/{tenantId}", "dbName": "rt_{tenantId}"});
        let c = cfg(serde_json::json!({"runtime": {
            "tenantDatabases": [tenant("a", "rt_a", "shared"), tenant("b", "rt_b", "shared")],
            "tenantTemplate": t}}));
        assert!(shared(&c, "s", "shared", None, "m", "rt_a"));
        assert!(!shared(&c, "s", "rt", Some("t/zed"), "m", "rt_zed"));
        // A listed "rt-x" bucket is what the template gives tenant x.
        let c = cfg(serde_json::json!({"runtime": {
            "tenantDatabases": [tenant("a", "rt_a", "rt-x"), tenant("b", "rt_b", "only-b")],
            "tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "rt-{tenantId}", "dbName": "rt_{tenantId}"}}}));
        assert!(shared(&c, "s", "rt-x", None, "m", "rt_a"));
        assert!(shared(&c, "s", "rt-x", None, "m", "rt_x"));
        assert!(!shared(&c, "s", "only-b", None, "m", "rt_b"));
        // Nested: a generic entry at the bucket's root, tenants under prefixes of it.
        let c = cfg(serde_json::json!({"knowledge": {
            "genericDatabase": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "b", "dbName": "kg"},
            "tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "b", "prefix": "{tenantId}", "dbName": "kt_{tenantId}"}}}));
        assert!(shared(&c, "s", "b", None, "m", "kg"));
        assert!(shared(&c, "s", "b", Some("acme"), "m", "kt_acme"));
    }
}
