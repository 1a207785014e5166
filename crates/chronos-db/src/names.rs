//! Validation of every identifier that reaches a storage key or a database name, and
//! generation of item ids.
//!
//! Rules: item ids are 1-128 chars of `[A-Za-z0-9._:-]`, never `.` or `..`;
//! collections, tenants and domains are 1-64 chars of `[A-Za-z0-9_-]` starting with a letter
//! or digit; database names 1-63 of `[A-Za-z0-9_-]`; buckets 3-63 of `[a-z0-9.-]`.

use rand::Rng;
use std::sync::atomic::{AtomicU32, Ordering};

fn all_chars(s: &str, extra: &[char]) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// Checks a caller-supplied item id.
///
/// ```
/// assert!(chronos_db::names::check_item_id("cus_123:v2").is_ok());
/// assert!(chronos_db::names::check_item_id("../etc").is_err());
/// ```
pub fn check_item_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err(format!(
            "item id must be 1-128 characters, got {}",
            id.len()
        ));
    }
    if id == "." || id == ".." {
        return Err("item id must not be '.' or '..'".into());
    }
    if !all_chars(id, &['.', '_', ':', '-']) {
        return Err(format!(
            "item id '{}' may only contain [A-Za-z0-9._:-]",
            printable(id)
        ));
    }
    Ok(())
}

/// An item id that passed [`check_item_id`]: parsed once where a caller's id enters the
/// library, then passed around as proof that it is valid.
///
/// ```
/// use chronos_db::names::ItemId;
/// let id = ItemId::parse("cus_123:v2").unwrap();
/// assert_eq!(id.as_str(), "cus_123:v2");
/// assert!(ItemId::parse("../etc").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(String);

impl ItemId {
    /// Validates an id (see [`check_item_id`]).
    pub fn parse(id: &str) -> Result<ItemId, String> {
        check_item_id(id)?;
        Ok(ItemId(id.to_string()))
    }

    /// A new generated id (see [`generate_id`]), valid by construction.
    pub fn generate() -> ItemId {
        ItemId(generate_id())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for ItemId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Checks a name used for collections, tenants and domains.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 64 || !first_ok || !all_chars(name, &['_', '-']) {
        return Err(format!(
            "{kind} '{}' is invalid: use 1-64 characters of [A-Za-z0-9_-], starting with a letter or digit",
            printable(name)
        ));
    }
    Ok(())
}

/// Checks a tenant id or domain: like [`check_name`] but lower-case only, because tenants
/// become database names and buckets, which some backends compare without case.
pub fn check_scope_name(kind: &str, name: &str) -> Result<(), String> {
    check_name(kind, name)?;
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "{kind} '{}' is invalid: use lower-case letters, digits, '_' and '-'",
            printable(name)
        ));
    }
    Ok(())
}

/// Defines a validated name type: a `String` that passed one check, parsed once where a
/// caller's name enters the library (a route, a CLI flag, an HTTP path) and trusted after.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates a name; the error says which rule it breaks.
            pub fn parse(name: &str) -> Result<$name, String> {
                $check($kind, name)?;
                Ok($name(name.to_string()))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(name: String) -> Result<$name, String> {
                $check($kind, &name)?;
                Ok($name(name))
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(name: &str) -> Result<$name, String> {
                $name::parse(name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name_type!(
    /// A collection name that passed [`check_name`].
    ///
    /// ```
    /// use chronos_db::names::CollectionName;
    /// assert_eq!(CollectionName::parse("orders").unwrap().as_str(), "orders");
    /// assert!(CollectionName::parse("_private").is_err());
    /// ```
    CollectionName,
    "collection",
    check_name
);

name_type!(
    /// A tenant id that passed [`check_scope_name`] (lower-case, because tenants become
    /// database and bucket names).
    ///
    /// ```
    /// use chronos_db::names::TenantId;
    /// assert!(TenantId::parse("tenant-a").is_ok());
    /// assert!(TenantId::parse("Tenant-A").is_err());
    /// ```
    TenantId,
    "tenantId",
    check_scope_name
);

name_type!(
    /// A domain that passed [`check_scope_name`].
    ///
    /// ```
    /// use chronos_db::names::DomainName;
    /// assert!(DomainName::parse("health").is_ok());
    /// assert!(DomainName::parse("a/b").is_err());
    /// ```
    DomainName,
    "domain",
    check_scope_name
);

/// The longest database name (MongoDB's limit, applied to every backend so that
/// configurations stay portable).
pub const MAX_DB_NAME: usize = 63;
/// The longest bucket (S3, Azure and GCS limit).
pub const MAX_BUCKET: usize = 63;
/// The longest key prefix.
pub const MAX_PREFIX: usize = 256;

/// Checks a database name (MongoDB limits apply to every backend so configs stay portable).
pub fn check_db_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_DB_NAME || !all_chars(name, &['_', '-']) {
        return Err(format!(
            "database name '{}' is invalid: use 1-63 characters of [A-Za-z0-9_-]",
            printable(name)
        ));
    }
    Ok(())
}

/// Checks a bucket (or container) name: DNS-compatible, as S3, Azure and GCS require.
pub fn check_bucket(name: &str) -> Result<(), String> {
    let edge_ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.len() < 3
        || name.len() > MAX_BUCKET
        || !edge_ok
        || name.contains("..")
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Err(format!(
            "bucket '{}' is invalid: use 3-63 characters of [a-z0-9.-], starting and ending with a letter or digit",
            printable(name)
        ));
    }
    Ok(())
}

/// Checks a key prefix inside a bucket: `/`-separated segments of `[A-Za-z0-9._-]`, no `..`.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX
        && prefix.split('/').all(|seg| {
            !seg.is_empty() && seg != "." && seg != ".." && all_chars(seg, &['.', '_', '-'])
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "prefix '{}' is invalid: use '/'-separated segments of [A-Za-z0-9._-]",
            printable(prefix)
        ))
    }
}

/// Checks a property path (`a.b.c`, optionally ending in `[]`).
pub fn check_prop_path(path: &str) -> Result<(), String> {
    let body = path.strip_suffix("[]").unwrap_or(path);
    let ok = !body.is_empty()
        && body.len() <= 256
        && body
            .split('.')
            .all(|seg| !seg.is_empty() && all_chars(seg, &['_', '-']));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "property path '{}' is invalid: use '.'-separated names of [A-Za-z0-9_-]",
            printable(path)
        ))
    }
}

/// Shortens and escapes a user string for an error message.
pub(crate) fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_default).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A new 24-hex id, ObjectId style: 4 bytes of seconds, 5 random bytes, 3 bytes of counter,
/// so ids sort by creation time.
///
/// ```
/// let a = chronos_db::names::generate_id();
/// assert_eq!(a.len(), 24);
/// assert!(chronos_db::names::check_item_id(&a).is_ok());
/// ```
pub fn generate_id() -> String {
    let secs = chrono::Utc::now().timestamp() as u32;
    let mut rng = rand::rng();
    let random: [u8; 5] = rng.random();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
    let mut bytes = Vec::with_capacity(12);
    bytes.extend_from_slice(&secs.to_be_bytes());
    bytes.extend_from_slice(&random);
    bytes.extend_from_slice(&count.to_be_bytes()[1..]);
    hex::encode(bytes)
}

/// A random id for one write attempt; it makes every payload key unique to its attempt.
pub(crate) fn write_id() -> String {
    let bytes: [u8; 8] = rand::rng().random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids() {
        for ok in ["a", "A-b_c.d:e", &"x".repeat(128)] {
            assert!(check_item_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a\\b", "a b", "é", &"x".repeat(129)] {
            assert!(check_item_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_buckets() {
        assert!(check_name("collection", "users").is_ok());
        assert!(check_name("collection", "_users").is_err());
        assert!(check_name("collection", "a.b").is_err());
        assert!(check_bucket("chronos-runtime-tenant-a").is_ok());
        assert!(check_bucket("Chronos").is_err());
        assert!(check_bucket("ab").is_err());
        assert!(check_prefix("a/b").is_ok());
        assert!(check_prefix("a/../b").is_err());
        assert!(check_prop_path("tags[]").is_ok());
        assert!(check_prop_path("a..b").is_err());
    }

    #[test]
    fn generated_ids_are_unique_and_ordered_by_time() {
        let a = generate_id();
        let b = generate_id();
        assert_ne!(a, b);
        assert!(a[..8] <= b[..8], "time prefix must not go backwards");
    }
}
