//! History tools over one item's fields: which version set each value (blame), and the
//! values one path took over time (field history).
//!
//! Both walk the item's versions from the newest one of interest towards ov 0, reading
//! each version's content once (a version with the same content hash as the one above it is
//! not read again), and stop as soon as they have their answer: blame when every leaf is
//! attributed, field history when its page is full. Each call reads at most
//! [`MAX_VERSIONS_WALKED`] versions, so its cost is bounded however long the history: blame then says
//! `complete: false`, field history returns a shorter page that continues below
//! `next_before_ov`. Versions removed by retention end the walk the same way.
//!
//! Paths are JSON Pointers (RFC 6901), as in diffs; field history also takes a dot path
//! (`address.city`). A value counts as unchanged only when its path resolves through
//! containers of the same kinds (an array turned into an object with a key `"0"` is a
//! change at `/a/0`, as a diff reports it). A deletion keeps the content it deleted, so it
//! changes no path; removing a property with an update does.

use super::read::{check_limit, ReadAt};
use super::{item_id, Collection};
use crate::diff::push_token;
use crate::error::{Error, Result};
use crate::model::{Op, Timestamp, VersionRecord};
use crate::names::ItemId;
use serde_json::Value;

/// The most versions one blame or one field-history page reads.
pub const MAX_VERSIONS_WALKED: usize = 1000;

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
    /// False when the walk stopped before every leaf's run began: older versions were
    /// removed by retention, or [`MAX_VERSIONS_WALKED`] versions were read. The lines still open then
    /// name the oldest version read.
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
    /// oldest version kept). A page can hold fewer than `limit` changes and still have a
    /// next one: it stopped after reading [`MAX_VERSIONS_WALKED`] versions.
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
        // The versions read, newest first; for each leaf, the index of the version its
        // current run starts at (so far: the target).
        let mut walked = vec![(target.version.clone(), content)];
        let mut since = vec![0usize; leaves.len()];
        let mut open: Vec<usize> = (0..leaves.len()).collect();
        let mut complete = true;
        while !open.is_empty() {
            let (newer, newer_content) = &walked[walked.len() - 1];
            if newer.ov == 0 {
                break;
            }
            if walked.len() >= MAX_VERSIONS_WALKED {
                complete = false;
                break;
            }
            let Some(older) = self
                .version_with_content(&id, newer.ov - 1, Some((newer, newer_content)))
                .await?
            else {
                complete = false;
                break;
            };
            let k = walked.len();
            let target_content = &walked[0].1;
            open.retain(|&i| {
                let path = &leaves[i].0;
                let same = located(&older.1, path) == located(target_content, path);
                if same {
                    since[i] = k;
                }
                same
            });
            walked.push(older);
        }
        let lines = leaves
            .into_iter()
            .zip(since)
            .map(|((path, value), k)| {
                let v = &walked[k].0;
                BlameLine {
                    path,
                    value,
                    ov: v.ov,
                    cv: v.cv,
                    at: v.at,
                    op: v.op,
                    actor: v.actor.clone(),
                    function_id: v.function_id.clone(),
                }
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
        // The first version of the page: the head as already read, or a version below it.
        let first = if start == head.version.ov {
            let content = self
                .load_content(&head.version, head.shadow.as_deref())
                .await?;
            Some((head.version.clone(), Value::Object(content)))
        } else {
            self.version_with_content(&id, start, None).await?
        };
        let Some(mut newer) = first else {
            // Removed by retention: nothing older is kept either.
            return Ok(FieldHistoryPage {
                path: pointer,
                changes: vec![],
                next_before_ov: None,
            });
        };
        let mut changes = Vec::new();
        let mut read = 1;
        loop {
            let (v, content) = &newer;
            let older = match v.ov {
                0 => None,
                // The page's budget is spent: it continues below this version.
                _ if read >= MAX_VERSIONS_WALKED => {
                    return Ok(FieldHistoryPage {
                        path: pointer,
                        changes,
                        next_before_ov: Some(v.ov),
                    })
                }
                ov => {
                    read += 1;
                    self.version_with_content(&id, ov - 1, Some((v, content)))
                        .await?
                }
            };
            let here = located(content, &pointer);
            let below = older.as_ref().and_then(|(_, c)| located(c, &pointer));
            // Against the version below (none below ov 0 or a retention cut: the path's first
            // value counts as a change there).
            if here != below {
                let value = here.map(|(value, _)| value.clone());
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
    /// retention). `newer` is the version above it, when read: when both hold the same
    /// document (same content hash) its content is reused instead of read again.
    async fn version_with_content(
        &self,
        id: &ItemId,
        ov: u64,
        newer: Option<(&VersionRecord, &Value)>,
    ) -> Result<Option<(VersionRecord, Value)>> {
        let found = match self.find(id, ReadAt::Ov(ov)).await {
            Ok(Some(found)) => found,
            Ok(None) | Err(Error::BeyondRetention { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if let Some((newer, newer_content)) = newer {
            if !found.version.sha256.is_empty() && found.version.sha256 == newer.sha256 {
                return Ok(Some((found.version, newer_content.clone())));
            }
        }
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

/// The value a pointer resolves to, with the kind of every container on the way (`true` for
/// an array): `/a/0` in `{"a": [1]}` and in `{"a": {"0": 1}}` are different places.
fn located<'a>(doc: &'a Value, pointer: &str) -> Option<(&'a Value, Vec<bool>)> {
    let mut kinds = Vec::new();
    let mut at = doc;
    if pointer.is_empty() {
        return Some((at, kinds));
    }
    for token in pointer.strip_prefix('/')?.split('/') {
        let key = token.replace("~1", "/").replace("~0", "~");
        kinds.push(at.is_array());
        at = match at {
            Value::Object(m) => m.get(&key)?,
            Value::Array(a) => {
                // RFC 6901: an index is 0 or digits without a leading zero.
                if key.is_empty() || (key.len() > 1 && key.starts_with('0')) {
                    return None;
                }
                a.get(key.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some((at, kinds))
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
    fn a_place_is_its_value_and_the_kinds_of_its_containers() {
        let list = json!({"a": [1, {"b~/": 2}]});
        let map = json!({"a": {"0": 1}});
        assert_eq!(located(&list, "/a/0").map(|(v, _)| v), Some(&json!(1)));
        assert_eq!(located(&map, "/a/0").map(|(v, _)| v), Some(&json!(1)));
        assert_ne!(located(&list, "/a/0"), located(&map, "/a/0"));
        assert_eq!(
            located(&list, "/a/1/b~0~1").map(|(v, _)| v),
            Some(&json!(2))
        );
        for missing in ["/a/2", "/a/01", "/a/x", "/z", "a"] {
            assert_eq!(located(&list, missing), None, "{missing}");
        }
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
