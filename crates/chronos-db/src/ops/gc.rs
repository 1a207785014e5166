//! The orphan sweeper: removes payload objects that no committed version references.
//!
//! Orphans come from writes that failed or crashed between the payload upload and the
//! commit (see the write protocol in the parent module). Every object of a write attempt
//! lives under its own prefix `<coll>/<id>/v<ov>.<writeId>/`; a prefix is an orphan when no
//! version row of the item has `payload_key == <prefix>item.json`. Only prefixes whose
//! newest object is older than `older_than` are considered, so in-flight writes (objects
//! written, commit not yet done) are never touched.

use super::Collection;
use crate::error::{Error, Result};
use crate::payload::keys;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// What a sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    /// `true` when nothing was removed (only reported).
    pub dry_run: bool,
    /// Objects listed under the collection.
    pub objects_scanned: u64,
    /// Write-attempt prefixes that no version references and are old enough.
    pub orphan_prefixes: Vec<String>,
    /// Objects under those prefixes.
    pub orphan_objects: u64,
    /// Objects removed (0 in a dry run).
    pub deleted_objects: u64,
}

/// `<coll>/<id>/v<ov>.<writeId>/` of a key, and the item id, if the key has that shape.
fn attempt_prefix<'a>(collection: &str, key: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = key.strip_prefix(collection)?.strip_prefix('/')?;
    let (id, after_id) = rest.split_once('/')?;
    let (attempt, _) = after_id.split_once('/')?;
    if !attempt.starts_with('v') || !attempt.contains('.') {
        return None;
    }
    let len = collection.len() + 1 + id.len() + 1 + attempt.len() + 1;
    Some((&key[..len], id))
}

impl Collection {
    /// Finds (and unless `dry_run`, removes) payload objects of this collection that no
    /// version references and that are older than `older_than`.
    ///
    /// Refused (a validation error, nothing listed) when another configured database keeps
    /// its objects under the same bucket and prefix: this database cannot tell which objects
    /// are theirs (see `config::isolation`).
    pub async fn sweep_orphans(&self, older_than: Duration, dry_run: bool) -> Result<GcReport> {
        let r = &self.resolved;
        if crate::config::key_space_is_shared(&self.inner.config, &r.key_space()) {
            let place = match &r.prefix {
                Some(p) => format!("bucket '{}', prefix '{p}'", r.bucket),
                None => format!("bucket '{}' (no prefix)", r.bucket),
            };
            return Err(Error::Validation(format!(
                "the orphan sweeper does not run on {place}: other configured databases keep \
                 their objects there too, and this one cannot tell which are theirs; give each \
                 database entry its own bucket or prefix"
            )));
        }
        // An age reaching past the earliest representable time means "nothing is that old".
        let cutoff = chrono::Duration::from_std(older_than)
            .ok()
            .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let objects = self.payload.list(&format!("{}/", self.name())).await?;
        let mut report = GcReport {
            dry_run,
            objects_scanned: objects.len() as u64,
            ..Default::default()
        };
        // attempt prefix → (item id, its keys, newest modification)
        let mut attempts: BTreeMap<String, (String, Vec<String>, chrono::DateTime<chrono::Utc>)> =
            BTreeMap::new();
        for o in &objects {
            let Some((prefix, id)) = attempt_prefix(self.name(), &o.key) else {
                continue;
            };
            let entry = attempts
                .entry(prefix.to_string())
                .or_insert_with(|| (id.to_string(), Vec::new(), o.last_modified));
            entry.1.push(o.key.clone());
            entry.2 = entry.2.max(o.last_modified);
        }
        let mut referenced_by_item: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        for (prefix, (id, keys_of_attempt, newest)) in attempts {
            if newest > cutoff {
                continue;
            }
            if !referenced_by_item.contains_key(&id) {
                referenced_by_item.insert(id.clone(), self.referenced_keys(&id).await?);
            }
            let referenced = &referenced_by_item[&id];
            if referenced.contains(&keys::item_key(&prefix)) {
                continue;
            }
            report.orphan_objects += keys_of_attempt.len() as u64;
            report.orphan_prefixes.push(prefix);
            if !dry_run {
                for k in &keys_of_attempt {
                    self.payload.delete(k).await?;
                    report.deleted_objects += 1;
                }
            }
        }
        Ok(report)
    }

    /// Every payload key the item's version rows reference, including rows not committed
    /// yet (a stalled writer's row can still be committed on its behalf).
    async fn referenced_keys(&self, id: &str) -> Result<HashSet<String>> {
        Ok(self
            .store
            .payload_keys(self.name(), id)
            .await?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::attempt_prefix;

    #[test]
    fn attempt_prefixes() {
        assert_eq!(
            attempt_prefix("users", "users/u1/v3.ab/item.json"),
            Some(("users/u1/v3.ab/", "u1"))
        );
        assert_eq!(
            attempt_prefix("users", "users/u1/v3.ab/file/blob.bin"),
            Some(("users/u1/v3.ab/", "u1"))
        );
        assert_eq!(attempt_prefix("users", "users2/u1/v3.ab/item.json"), None);
        assert_eq!(attempt_prefix("users", "users/u1/other"), None);
    }
}
