//! Erasure (`meta::ErasureStore`): an aggregation over `<coll>_ver` grouped by item id, and
//! a scrub that is one `updateMany` of the item's rows below its tombstone. A scrubbed row
//! has an empty `sha256` (every version with content has one), which makes the scrub
//! idempotent and countable on servers without atomic conditional updates.

use super::*;
use crate::meta::{CollectionSpec, ErasureStore};

#[async_trait]
impl ErasureStore for MongoStore {
    async fn ids_in_any_version(
        &self,
        coll: &CollectionSpec,
        filter: &Filter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, MetaError> {
        let c = self.colls(&coll.name);
        let mut matched = compile(filter, true);
        if let Some(after) = after {
            matched = all_of(vec![matched, doc! {"id": {"$gt": after}}]);
        }
        let pipeline = vec![
            doc! {"$match": matched},
            doc! {"$group": {"_id": "$id"}},
            doc! {"$sort": {"_id": 1}},
            doc! {"$limit": clamp(limit as u64)},
        ];
        let rows = collect(c.ver.aggregate(pipeline).await.map_err(map_err)?).await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get_str("_id").ok().map(str::to_string))
            .collect())
    }

    async fn scrub_versions(&self, coll: &str, id: &str, below: u64) -> Result<u64, MetaError> {
        let c = self.colls(coll);
        let done = c
            .ver
            .update_many(
                doc! {"id": id, "ov": {"$lt": clamp(below)}, "sha256": {"$ne": ""}},
                doc! {"$set": {"meta": {}, "sha256": "", "size": 0i64}, "$unset": {"shadow": ""}},
            )
            .await
            .map_err(map_err)?;
        Ok(done.modified_count)
    }

    async fn erased_among(&self, coll: &str, ids: &[String]) -> Result<HashSet<String>, MetaError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let c = self.colls(coll);
        let rows = collect(
            c.head
                .find(doc! {"_id": {"$in": ids}, "op": "ERASE"})
                .projection(doc! {"_id": 1})
                .await
                .map_err(map_err)?,
        )
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get_str("_id").ok().map(str::to_string))
            .collect())
    }
}
