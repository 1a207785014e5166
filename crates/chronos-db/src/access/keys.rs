//! API keys: generation, the configured digests, and authentication.

use super::scope::{Permission, Scope};
use crate::config::ApiKeyEntry;
use crate::routing::Route;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Every key starts with this, so a leaked one is recognisable by secret scanners.
const KEY_PREFIX: &str = "chr_";

/// A fresh random key (256 bits from the operating system's generator, URL-safe) and the
/// lower-case hex SHA-256 digest to put in `server.apiKeys[].sha256`.
pub fn new_key() -> (String, String) {
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    let key = format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    (key, digest)
}

struct Key {
    id: String,
    digest: [u8; 32],
    scopes: Arc<[Scope]>,
}

/// The configured API keys.
pub struct ApiKeys {
    keys: Vec<Key>,
}

/// What an authenticated key may do.
#[derive(Debug, Clone)]
pub struct Grant {
    key_id: String,
    scopes: Arc<[Scope]>,
}

impl Grant {
    /// The configured id of the key (for logs; never the key itself).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Whether one of the key's scopes grants `permission` on `route`.
    pub fn allows(&self, route: &Route, permission: Permission) -> bool {
        self.scopes.iter().any(|s| s.allows(route, permission))
    }

    /// Whether one of the key's scopes covers every route (an operator's key).
    pub fn is_global(&self) -> bool {
        self.scopes.iter().any(Scope::is_global)
    }

    /// Whether one of the key's scopes covers `route` at all. A server answers requests on
    /// routes a key does not cover exactly as it answers for data that does not exist.
    pub fn covers(&self, route: &Route) -> bool {
        self.scopes.iter().any(|s| s.covers(route))
    }
}

impl ApiKeys {
    /// The keys of a configuration, or every problem with them as `path: message`.
    pub fn from_entries(entries: &[ApiKeyEntry]) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut keys = Vec::new();
        let mut ids = std::collections::HashSet::new();
        let mut digests = std::collections::HashSet::new();
        for (i, e) in entries.iter().enumerate() {
            let path = format!("$.server.apiKeys[{i}]");
            if e.id.is_empty() || e.id.len() > 64 || e.id.chars().any(|c| c.is_control()) {
                problems.push(format!("{path}.id: must be 1-64 printable characters"));
            } else if !ids.insert(e.id.as_str()) {
                problems.push(format!("{path}.id: '{}' is used by another key", e.id));
            }
            let digest = match hex::decode(&e.sha256)
                .ok()
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
            {
                Some(d) if e.sha256.chars().all(|c| !c.is_ascii_uppercase()) => Some(d),
                _ => {
                    problems.push(format!(
                        "{path}.sha256: must be the 64 lower-case hex digits of the key's SHA-256 digest"
                    ));
                    None
                }
            };
            if e.scopes.is_empty() {
                problems.push(format!("{path}.scopes: a key needs at least one scope"));
            }
            let mut scopes = Vec::new();
            for (j, s) in e.scopes.iter().enumerate() {
                match s.parse::<Scope>() {
                    Ok(scope) => scopes.push(scope),
                    Err(why) => problems.push(format!("{path}.scopes[{j}]: {why}")),
                }
            }
            if let Some(digest) = digest.filter(|d| {
                let fresh = digests.insert(*d);
                if !fresh {
                    problems.push(format!(
                        "{path}.sha256: the same key is configured under another id; give each key one entry"
                    ));
                }
                fresh
            }) {
                keys.push(Key {
                    id: e.id.clone(),
                    digest,
                    scopes: scopes.into(),
                });
            }
        }
        if problems.is_empty() {
            Ok(ApiKeys { keys })
        } else {
            Err(problems)
        }
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The grant of the key `presented`, or `None` when it is not a configured key. Every
    /// configured digest is compared, in constant time, whichever matches.
    pub fn authenticate(&self, presented: &str) -> Option<Grant> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.digest.ct_eq(&digest)) {
                found = Some(key);
            }
        }
        found.map(|k| Grant {
            key_id: k.id.clone(),
            scopes: k.scopes.clone(),
        })
    }

    /// A grant of everything, for servers running without keys (loopback only).
    pub fn open_grant() -> Grant {
        Grant {
            key_id: "anonymous".into(),
            scopes: Arc::from(vec!["*:*:*:admin".parse::<Scope>().expect("a valid scope")]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::DatabaseType;

    fn entry(id: &str, digest: &str, scopes: &[&str]) -> ApiKeyEntry {
        ApiKeyEntry {
            id: id.into(),
            sha256: digest.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_new_key_authenticates_and_nothing_else_does() {
        let (a, da) = new_key();
        let (b, db) = new_key();
        assert_ne!(a, b);
        assert!(a.starts_with("chr_") && a.len() == 4 + 43, "{a}");
        let keys = ApiKeys::from_entries(&[
            entry("a", &da, &["runtime:tenant:tenant-a:read"]),
            entry("b", &db, &["runtime:tenant:tenant-b:write"]),
        ])
        .unwrap();
        assert_eq!(keys.authenticate(&a).unwrap().key_id(), "a");
        assert_eq!(keys.authenticate(&b).unwrap().key_id(), "b");
        for wrong in ["", "chr_", &a[..a.len() - 1], &format!("{a} "), &da] {
            assert!(keys.authenticate(wrong).is_none(), "{wrong}");
        }
        let ra = Route::tenant(DatabaseType::Runtime, "tenant-a", "x").unwrap();
        let grant = keys.authenticate(&a).unwrap();
        assert!(grant.allows(&ra, Permission::Read) && !grant.allows(&ra, Permission::Write));
        assert!(grant.covers(&ra));
    }

    #[test]
    fn bad_entries_are_each_reported_with_their_path() {
        let (_, d) = new_key();
        let problems = ApiKeys::from_entries(&[
            entry("a", &d, &["runtime:tenant:a:read"]),
            entry("a", &d.to_uppercase(), &[]),
            entry("", "abc", &["nope"]),
            entry("c", &d, &["runtime:tenant:a:read"]),
        ])
        .err()
        .unwrap();
        let text = problems.join("\n");
        for want in [
            "$.server.apiKeys[1].id: 'a' is used by another key",
            "$.server.apiKeys[1].sha256",
            "$.server.apiKeys[1].scopes: a key needs at least one scope",
            "$.server.apiKeys[2].id",
            "$.server.apiKeys[2].sha256",
            "$.server.apiKeys[2].scopes[0]: invalid scope 'nope'",
            "$.server.apiKeys[3].sha256: the same key is configured under another id",
        ] {
            assert!(text.contains(want), "missing {want} in:\n{text}");
        }
    }
}
