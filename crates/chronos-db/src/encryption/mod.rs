//! Encryption at rest with per-tenant data keys (`encryption` in the configuration).
//!
//! Each route's data is encrypted under a data key of its **scope** — `tenant:<id>`,
//! `domain:<name>` or `generic` — kept in that route's own database (`meta::KeyStore`),
//! wrapped by the master key. Objects record the id of the key that encrypted them (the
//! envelope in `crypto/envelope.rs`), so keys can change (a shred, a concurrent first write)
//! without a migration. **Shredding** a scope destroys its keys: every object they encrypted,
//! wherever copies of it live (replicas, backups), is unreadable for good, and reads say the
//! data was erased.
//!
//! With `scope: "subject"`, each version is encrypted under a key of its data subject
//! instead: scope `<route scope>/subject:<keyed hash of the value>`, the value being that of
//! the first of the collection's `subjectProps` that holds one (a version without one uses
//! the route's key). Subject erasure destroys the subject's keys; shredding the tenant
//! destroys its subject keys with its own.
//!
//! Unwrapped keys are cached for [`CACHE_TTL`] for reads: a shred takes effect at once in
//! the process that runs it, and within that time for reads in every other process. Writes
//! ask the database for the scope's live key every time, so no process writes new data
//! under a shredded key (a write racing the shred itself may land on either side of it).

mod payload;

pub(crate) use payload::EncryptedPayload;

use crate::config::ChronosConfig;
use crate::crypto::{Key, MasterKey};
use crate::meta::{MetadataStore, WrappedKey};
use crate::model::Timestamp;
use crate::payload::PayloadError;
use crate::routing::Route;
use crate::tiers::Tier;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an unwrapped data key is used without asking its database again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// (database, key id) → when it was unwrapped, and the key: for reads.
type ReadCache = HashMap<(String, String), (Instant, Arc<Key>)>;

/// The master keys, and the data keys unwrapped recently.
pub(crate) struct Keyring {
    master: MasterKey,
    previous: Vec<MasterKey>,
    read_cache: Mutex<ReadCache>,
    /// With `scope: "subject"`: what names a subject's keys (the receipts' keyed hash).
    subjects: Option<crate::receipts::ReceiptKey>,
}

/// The part of a key scope after a route's scope that names a data subject.
const SUBJECT_SCOPE: &str = "/subject:";

/// Whether `kid` is a key of `scope` or of one of its subjects.
pub(crate) fn kid_in_scope(kid: &str, scope: &str) -> bool {
    kid.strip_prefix(scope)
        .is_some_and(|rest| rest.starts_with(':') || rest.starts_with(SUBJECT_SCOPE))
}

/// The scope of the keys of one data subject (by its keyed hash) under a route's scope.
pub(crate) fn subject_scope(route_scope: &str, subject_hash: &str) -> String {
    format!("{route_scope}{SUBJECT_SCOPE}{subject_hash}")
}

/// The scope of a route's data key.
pub(crate) fn scope_of(route: &Route) -> String {
    match route.tier {
        Tier::Tenant => format!("tenant:{}", route.tenant_id.as_deref().unwrap_or_default()),
        Tier::Domain => format!("domain:{}", route.domain.as_deref().unwrap_or_default()),
        Tier::Generic => "generic".into(),
    }
}

impl Keyring {
    /// The keyring of a configuration with encryption enabled (`None` when it is off).
    pub(crate) fn from_config(cfg: &ChronosConfig) -> Result<Option<Self>, String> {
        let Some(enc) = cfg.encryption.as_ref().filter(|e| e.enabled) else {
            return Ok(None);
        };
        let master =
            MasterKey::parse(&enc.master_key).map_err(|e| format!("encryption.masterKey: {e}"))?;
        let previous = enc
            .previous_master_keys
            .iter()
            .map(|k| MasterKey::parse(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("encryption.previousMasterKeys: {e}"))?;
        let subjects = match enc.scope.as_deref() {
            Some("subject") => Some(
                crate::receipts::ReceiptKey::from_config(cfg)
                    .map_err(|e| format!("encryption.scope \"subject\": {e}"))?,
            ),
            _ => None,
        };
        Ok(Some(Keyring {
            master,
            previous,
            read_cache: Mutex::new(HashMap::new()),
            subjects,
        }))
    }

    /// Whether data keys are per data subject (`scope: "subject"`).
    pub(crate) fn per_subject(&self) -> bool {
        self.subjects.is_some()
    }

    /// The keyed hash naming a subject's keys (`None` unless keys are per subject).
    pub(crate) fn subject_hash(&self, value: &serde_json::Value) -> Option<String> {
        self.subjects.as_ref().map(|k| k.subject_hash(value))
    }

    /// The scope the objects of a version holding `doc` are encrypted under: with keys per
    /// subject, that of the first of `subject_props` holding one value; else `route_scope`.
    pub(crate) fn scope_for(
        &self,
        route_scope: &str,
        doc: &crate::model::Document,
        subject_props: &[String],
    ) -> String {
        use serde_json::Value;
        let Some(hasher) = &self.subjects else {
            return route_scope.to_string();
        };
        let subject = subject_props.iter().find_map(|p| {
            match crate::document::get_path(doc, p.strip_suffix("[]").unwrap_or(p)) {
                Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v),
                Some(v @ Value::String(s)) if !s.is_empty() => Some(v),
                _ => None,
            }
        });
        match subject {
            Some(value) => subject_scope(route_scope, &hasher.subject_hash(value)),
            None => route_scope.to_string(),
        }
    }

    /// The keys of the fallback queue's journal, derived from each master key: the current
    /// one first (new entries), then the previous ones (entries queued before a rotation).
    pub(crate) fn queue_keys(&self) -> Vec<(String, Key)> {
        std::iter::once(&self.master)
            .chain(&self.previous)
            .map(|m| {
                (
                    format!("queue:{}", m.id),
                    m.derive("chronos-fallback-queue"),
                )
            })
            .collect()
    }

    /// The key that signs links to encrypted objects (served, decrypted, by `chronos serve`).
    pub(crate) fn link_key(&self) -> Key {
        self.master.derive("chronos-encrypted-object-links")
    }

    /// The id of the master key new data keys are wrapped with.
    pub(crate) fn master_id(&self) -> &str {
        &self.master.id
    }

    /// The key new objects of `scope` are encrypted with: the scope's newest live key, or a
    /// new one (two processes making one at once each use their own; both stay valid).
    pub(crate) async fn write_key(
        &self,
        store: &dyn MetadataStore,
        db: &str,
        scope: &str,
    ) -> Result<(String, Arc<Key>), PayloadError> {
        // Asked every time (one indexed read), never cached: a key another process shredded
        // is never used for a new object.
        let (kid, key) = match store.current_key(scope).await.map_err(meta_error)? {
            Some(found) => {
                let slot = (db.to_string(), found.kid.clone());
                let cached = lock(&self.read_cache)
                    .get(&slot)
                    .filter(|(at, _)| at.elapsed() < CACHE_TTL)
                    .map(|(_, key)| key.clone());
                let key = match cached {
                    Some(key) => key,
                    None => {
                        let key = self.unwrap(&found)?;
                        self.migrate(store, &found, &key).await;
                        lock(&self.read_cache).insert(slot, (Instant::now(), key.clone()));
                        key
                    }
                };
                (found.kid, key)
            }
            None => {
                let mut key: Key = [0u8; 32];
                rand::fill(&mut key);
                let kid = format!("{scope}:{}", crate::names::write_id());
                store
                    .insert_key(&WrappedKey {
                        kid: kid.clone(),
                        scope: scope.to_string(),
                        wrapped: self.master.wrap(&kid, &key),
                        master_id: self.master.id.clone(),
                        created_at: Timestamp::now(),
                        destroyed: false,
                    })
                    .await
                    .map_err(meta_error)?;
                (kid, Arc::new(key))
            }
        };
        Ok((kid, key))
    }

    /// The key `kid` of a database, for reading an object it encrypted.
    pub(crate) async fn read_key(
        &self,
        store: &dyn MetadataStore,
        db: &str,
        kid: &str,
    ) -> Result<Arc<Key>, PayloadError> {
        let slot = (db.to_string(), kid.to_string());
        if let Some((at, key)) = lock(&self.read_cache).get(&slot) {
            if at.elapsed() < CACHE_TTL {
                return Ok(key.clone());
            }
        }
        let found = store
            .get_key(kid)
            .await
            .map_err(meta_error)?
            .ok_or_else(|| {
                PayloadError::Encryption(format!(
                    "the data key '{kid}' is not in this database (an object from elsewhere?)"
                ))
            })?;
        let key = self.unwrap(&found)?;
        self.migrate(store, &found, &key).await;
        lock(&self.read_cache).insert(slot, (Instant::now(), key.clone()));
        Ok(key)
    }

    /// A key still wrapped by a previous master key is re-wrapped under the current one as
    /// it is used, so rotation completes for every database in use; a failure only leaves
    /// it for `rotate_master_key`.
    async fn migrate(&self, store: &dyn MetadataStore, k: &WrappedKey, key: &Key) {
        if k.master_id == self.master.id {
            return;
        }
        if let Err(e) = store
            .rewrap_key(&k.kid, &self.master.wrap(&k.kid, key), &self.master.id)
            .await
        {
            tracing::warn!(kid = %k.kid, error = %e, "could not re-wrap a data key under the current master key");
        }
    }

    fn unwrap(&self, k: &WrappedKey) -> Result<Arc<Key>, PayloadError> {
        if k.destroyed {
            return Err(PayloadError::Shredded(format!(
                "data encrypted under the shredded key '{}'",
                k.kid
            )));
        }
        let master = std::iter::once(&self.master)
            .chain(&self.previous)
            .find(|m| m.id == k.master_id)
            .ok_or_else(|| {
                PayloadError::Encryption(format!(
                    "the data key '{}' was wrapped by master key {}, but the configured master key is {}{}",
                    k.kid,
                    k.master_id,
                    self.master.id,
                    if self.previous.is_empty() {
                        "".to_string()
                    } else {
                        " (previous master keys do not match either)".to_string()
                    }
                ))
            })?;
        master
            .unwrap(&k.kid, &k.wrapped)
            .map(Arc::new)
            .ok_or_else(|| {
                PayloadError::Encryption(format!(
                    "the data key '{}' does not unwrap with master key {}: it was altered",
                    k.kid, master.id
                ))
            })
    }

    /// Re-wraps every data key of a database not wrapped by the current master key.
    pub(crate) async fn rewrap_all(&self, store: &dyn MetadataStore) -> Result<u64, PayloadError> {
        let mut n = 0;
        for k in store
            .keys_not_wrapped_by(&self.master.id)
            .await
            .map_err(meta_error)?
        {
            let key = self.unwrap(&k)?;
            store
                .rewrap_key(&k.kid, &self.master.wrap(&k.kid, &key), &self.master.id)
                .await
                .map_err(meta_error)?;
            n += 1;
        }
        Ok(n)
    }

    /// Forgets every cached key (after a shred in this process).
    pub(crate) fn forget(&self) {
        lock(&self.read_cache).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn meta_error(e: crate::meta::MetaError) -> PayloadError {
    PayloadError::Backend(crate::backend_error::BackendError::new(format!(
        "reading a data key: {e}"
    )))
}
