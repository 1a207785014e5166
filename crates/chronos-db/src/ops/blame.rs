//! History tools over one item's fields: which version set each value (blame), and the
//! values one path took over time (field history).
//!
//! Both walk the item's versions from the newest one of interest towards ov 0, reading
//! each version's content once, and stop as soon as they have their answer: blame when every
//! leaf is attributed, field history when its page is full. Paths are JSON Pointers
//! (RFC 6901), as in diffs; field history also takes a dot path (`address.city`).

use super::read::{check_limit, ReadAt};
use super::{item_id, Collection};
use crate::diff::push_token;
use crate::error::{Error, Result};
use crate::model::{Op, Timestamp, VersionRecord};
use crate::names::ItemId;
use serde_json::Value;

/// The version that set one leaf's current value ([`Collection::blame`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BlameLine {
    /// The leaf, as a JSON Pointer (scalars, and empty objects and arrays, are leaves).
    pub path: String,
    /// Its current value.
    pub value: Value,
    /// The version that set it: the oldest of the unbroken run of versions holding it.
    pub ov: u64,
    /// That version's collection version.
    pub cv: u64,
    /// When that version was committed.
    pub at: Timestamp,
    /// The operation that wrote it.
    pub op: Op,
    /// Who wrote it (`None` when empty).
    pub actor: Option<String>,
    /// The enrichment function it names, if any.
    pub function_id: Option<String>,
}

/// Every leaf of a version's content with the version that set it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Blame {
    /// The item's id.
    pub id: String,
    /// The version blamed.
    pub ov: u64,
    /// One line per leaf, in document order.
    pub lines: Vec<BlameLine>,
    /// False when older versions were removed (retention) before every leaf's run began: the
    /// lines still unattributed then name the oldest version kept.
    pub complete: bool,
}

/// One value a path took ([`Collection::field_history`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// The version that set the value (or removed the path).
    pub ov: u64,
    /// Its collection version.
    pub cv: u64,
    /// When it was committed.
    pub at: Timestamp,
    /// The operation that wrote it.
    pub op: Op,
    /// Who wrote it (`None` when empty).
    pub actor: Option<String>,
    /// The enrichment function it names, if any.
    pub function_id: Option<String>,
    /// Whether the path exists in this version (a removal is a change too).
    pub present: bool,
    /// The value from this version on (`null` when absent).
    pub value: Value,
}

/// The values one path took, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldHistoryPage {
    /// The path, as a JSON Pointer.
    pub path: String,
    /// The versions that changed it, newest first.
    pub changes: Vec<FieldChange>,
    /// Pass as `before_ov` for the next page; `None` when the walk reached ov 0 (or the
    /// oldest version kept).
    pub next_before_ov: Option<u64>,
}

/// Options of [`Collection::field_history`].
#[derive(Debug, Clone, Default)]
pub struct FieldHistoryOptions {
    /// Changes per page, 1-1000 (default 50).
    pub limit: Option<usize>,
    /// Only versions below this ov (the `next_before_ov` of the previous page).
    pub before_ov: Option<u64>,
}

impl Collection {
    /// For every leaf of the item's content at `at` (latest, an ov or a time): the version
    /// that set its current value, with who wrote it and when. Reads the versions back from
    /// `at` until every leaf is attributed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::{ops::ReadAt, DatabaseType, Route};
    /// use serde_json::json;
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "users").unwrap()).unwrap();
    /// let r = c.create(json!({"name": "Ada", "plan": "free"}), "signup", "", Default::default()).await.unwrap();
    /// c.update(&r.id, json!({"name": "Ada", "plan": "pro"}), 0, "billing", "").await.unwrap();
    /// let blame = c.blame(&r.id, ReadAt::Latest).await.unwrap();
    /// let who: Vec<_> = blame.lines.iter().map(|l| (l.path.as_str(), l.actor.as_deref())).collect();
    /// assert_eq!(who, vec![("/name", Some("signup")), ("/plan", Some("billing"))]);
    /// # });
    /// ```
    pub async fn blame(&self, id: &str, at: ReadAt) -> Result<Blame> {
        let id = item_id(id)?;
        let target = self.readable(&id, at, true).await?;
        let content = Value::Object(
            self.load_content(&target.version, target.shadow.as_deref())
                .await?,
        );
        let mut leaves = Vec::new();
        collect_leaves(&content, &mut String::new(), &mut leaves);
        // For each leaf, the version its current run starts at (so far: the target).
        let mut since: Vec<VersionRecord> = vec![target.version.clone(); leaves.len()];
        let mut open: Vec<usize> = (0..leaves.len()).collect();
        let mut newer = target.version.clone();
        let mut complete = true;
        while !open.is_empty() && newer.ov > 0 {
            let Some((older, older_content)) = self.version_with_content(&id, newer.ov - 1).await?
            else {
                complete = false;
                break;
            };
            open.retain(|&i| {
                let (path, value) = &leaves[i];
                if older_content.pointer(path) == Some(value) {
                    since[i] = older.clone();
                    true
                } else {
                    false
                }
            });
            newer = older;
        }
        let lines = leaves
            .into_iter()
            .zip(since)
            .map(|((path, value), v)| BlameLine {
                path,
                value,
                ov: v.ov,
                cv: v.cv,
                at: v.at,
                op: v.op,
                actor: v.actor,
                function_id: v.function_id,
            })
            .collect();
        Ok(Blame {
            id: id.to_string(),
            ov: target.version.ov,
            lines,
            complete,
        })
    }

    /// The values `path` took in the item's content, newest first: one entry per version
    /// that changed it (set, changed or removed it), with who wrote it and when. `path` is a
    /// JSON Pointer (`/address/city`) or a dot path (`address.city`). Pages continue below
    /// `next_before_ov`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::{DatabaseType, Route};
    /// use serde_json::json;
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "users").unwrap()).unwrap();
    /// let r = c.create(json!({"plan": "free"}), "signup", "", Default::default()).await.unwrap();
    /// c.update(&r.id, json!({"plan": "free", "n": 1}), 0, "app", "").await.unwrap();
    /// c.update(&r.id, json!({"plan": "pro", "n": 1}), 1, "billing", "").await.unwrap();
    /// let h = c.field_history(&r.id, "plan", Default::default()).await.unwrap();
    /// let values: Vec<_> = h.changes.iter().map(|c| (c.ov, c.value.clone())).collect();
    /// assert_eq!(values, vec![(2, json!("pro")), (0, json!("free"))]);
    /// # });
    /// ```
    pub async fn field_history(
        &self,
        id: &str,
        path: &str,
        opts: FieldHistoryOptions,
    ) -> Result<FieldHistoryPage> {
        let id = item_id(id)?;
        let pointer = pointer_of(path)?;
        let limit = check_limit(opts.limit)?;
        let head = self.readable(&id, ReadAt::Latest, true).await?;
        let start = match opts.before_ov {
            Some(0) => {
                return Ok(FieldHistoryPage {
                    path: pointer,
                    changes: vec![],
                    next_before_ov: None,
                })
            }
            Some(b) => b.min(head.version.ov + 1) - 1,
            None => head.version.ov,
        };
        let Some(mut newer) = self.version_with_content(&id, start).await? else {
            return Err(Error::NotFound(format!("version {start} of item '{id}'")));
        };
        let mut changes = Vec::new();
        loop {
            let (v, content) = &newer;
            let value = content.pointer(&pointer).cloned();
            let older = match v.ov {
                0 => None,
                ov => self.version_with_content(&id, ov - 1).await?,
            };
            let before = older
                .as_ref()
                .and_then(|(_, c)| c.pointer(&pointer).cloned());
            // Against the version below (none below ov 0 or a retention cut: the path's first
            // value counts as a change there).
            if value != before {
                changes.push(FieldChange {
                    ov: v.ov,
                    cv: v.cv,
                    at: v.at,
                    op: v.op,
                    actor: v.actor.clone(),
                    function_id: v.function_id.clone(),
                    present: value.is_some(),
                    value: value.unwrap_or(Value::Null),
                });
            }
            match older {
                Some(o) if changes.len() < limit => newer = o,
                Some(_) => {
                    return Ok(FieldHistoryPage {
                        path: pointer,
                        changes,
                        next_before_ov: Some(v.ov),
                    })
                }
                None => break,
            }
        }
        Ok(FieldHistoryPage {
            path: pointer,
            changes,
            next_before_ov: None,
        })
    }

    /// Version `ov` of an item with its content, or `None` when it is not kept (removed by
    /// retention).
    async fn version_with_content(
        &self,
        id: &ItemId,
        ov: u64,
    ) -> Result<Option<(VersionRecord, Value)>> {
        let Some(found) = self.find(id, ReadAt::Ov(ov)).await? else {
            return Ok(None);
        };
        let content = self
            .load_content(&found.version, found.shadow.as_deref())
            .await?;
        Ok(Some((found.version, Value::Object(content))))
    }
}

/// The leaves of a document with their JSON Pointers, in document order: scalars, and empty
/// objects and arrays (a value someone set, with nothing inside to attribute instead).
fn collect_leaves(v: &Value, path: &mut String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let len = path.len();
                push_token(path, k);
                collect_leaves(child, path, out);
                path.truncate(len);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                collect_leaves(child, path, out);
                path.truncate(len);
            }
        }
        // The root itself is never a leaf: an empty document has no lines.
        _ if path.is_empty() => {}
        leaf => out.push((path.clone(), leaf.clone())),
    }
}

/// A JSON Pointer from a pointer (`/a/b`) or a dot path (`a.b`, each segment a key or an
/// array index).
fn pointer_of(path: &str) -> Result<String> {
    if path.starts_with('/') {
        return Ok(path.to_string());
    }
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(Error::validation(format!(
            "'{}' is not a path: give a JSON Pointer (/a/b) or a dot path (a.b)",
            crate::names::printable(path)
        )));
    }
    let mut out = String::new();
    for seg in path.split('.') {
        push_token(&mut out, seg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_are_scalars_and_empty_containers_in_document_order() {
        let mut out = Vec::new();
        collect_leaves(
            &json!({"a": {"b": 1, "c": []}, "t": ["x", {}], "k/~": null}),
            &mut String::new(),
            &mut out,
        );
        let paths: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/a/b", "/a/c", "/t/0", "/t/1", "/k~1~0"]);
        let mut none = Vec::new();
        collect_leaves(&json!({}), &mut String::new(), &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn paths_are_pointers_or_dot_paths() {
        assert_eq!(pointer_of("/a/0").unwrap(), "/a/0");
        assert_eq!(pointer_of("address.city").unwrap(), "/address/city");
        assert_eq!(pointer_of("a/b.c").unwrap(), "/a~1b/c");
        for bad in ["", "a..b", ".a", "a."] {
            assert!(pointer_of(bad).is_err(), "{bad}");
        }
    }
}
