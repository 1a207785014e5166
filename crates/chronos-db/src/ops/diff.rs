//! History tools over one item: what changed between two of its versions.

use super::read::ReadAt;
use super::{item_id, Collection};
use crate::diff::{diff_documents, ItemDiff};
use crate::error::Result;
use crate::model::VersionInfo;
use serde_json::Value;

impl Collection {
    /// What changed in an item's content between two of its versions, each named by ov, by
    /// time (the version current then) or as the latest: an RFC 6902 JSON Patch from `from`
    /// to `to` and the paths it adds, removes and changes (comparison rule: [`crate::diff`]).
    ///
    /// Deleted versions are compared like any other (a deletion keeps the content it
    /// deleted); `from` may be later than `to` (the patch then undoes the changes). An item,
    /// version or time that does not exist is `NotFound`; an erased item is `Erased`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::{ops::ReadAt, DatabaseType, Route};
    /// use serde_json::json;
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "users").unwrap()).unwrap();
    /// let r = c.create(json!({"name": "Ada", "tags": ["a"]}), "app", "", Default::default()).await.unwrap();
    /// c.update(&r.id, json!({"name": "Ada L.", "tags": ["a"]}), 0, "app", "").await.unwrap();
    /// let d = c.diff(&r.id, ReadAt::Ov(0), ReadAt::Latest).await.unwrap();
    /// assert_eq!((d.from.ov, d.to.ov), (0, 1));
    /// assert_eq!(d.summary.changed, vec!["/name"]);
    /// assert_eq!(serde_json::to_value(&d.patch).unwrap(),
    ///            json!([{"op": "replace", "path": "/name", "value": "Ada L."}]));
    /// # });
    /// ```
    pub async fn diff(&self, id: &str, from: ReadAt, to: ReadAt) -> Result<ItemDiff> {
        let id = item_id(id)?;
        let a = self.readable(&id, from, true).await?;
        let b = self.readable(&id, to, true).await?;
        let before = self.load_content(&a.version, a.shadow.as_deref()).await?;
        let after = self.load_content(&b.version, b.shadow.as_deref()).await?;
        let d = diff_documents(&Value::Object(before), &Value::Object(after));
        Ok(ItemDiff {
            id: id.to_string(),
            from: VersionInfo::from(&a.version),
            to: VersionInfo::from(&b.version),
            patch: d.patch,
            summary: d.summary,
        })
    }
}
