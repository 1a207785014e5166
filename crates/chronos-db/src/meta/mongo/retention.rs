//! Version retention (`meta::RetentionStore`): a prune deletes an item's rows below a floor
//! that is at most its head's ov (rows above the head are other writers' attempts and are
//! never touched); the floors are documents of `<coll>_retention`, `_id` = `<id>/<ov>`,
//! inserted once, so the horizon (their newest `at` and highest `cv`) only moves forward.

use super::*;
use crate::meta::{RetentionHorizon, RetentionStore};

impl MongoStore {
    fn floors(&self, coll: &str) -> Collection<Document> {
        self.db.collection(&format!("{coll}_retention"))
    }

    /// The indexes the horizon is read from (see `ensure_collection`).
    pub(super) async fn ensure_retention_indexes(&self, coll: &str) -> Result<(), MetaError> {
        let floors = self.floors(coll);
        for model in [
            store::index(doc! {"at": -1}, "at", false),
            store::index(doc! {"cv": -1}, "cv", false),
        ] {
            floors.create_index(model).await.map_err(map_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl RetentionStore for MongoStore {
    async fn compact_cv_counter(&self, coll: &str) -> Result<u64, MetaError> {
        self.compact_counter(coll).await
    }

    async fn prune_versions(
        &self,
        coll: &str,
        id: &str,
        below: u64,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        let c = self.colls(coll);
        let Some(head) = head_ov(self.raw_head(&c, id).await?.as_ref()) else {
            return Ok(Vec::new());
        };
        let below = clamp(below).min(head);
        let filter = doc! {"id": id, "ov": {"$lt": below}};
        let rows = collect(
            c.ver
                .find(filter.clone())
                .projection(doc! {"shadow": 0})
                .await
                .map_err(map_err)?,
        )
        .await?;
        let removed = rows
            .iter()
            .filter(|r| !is_claim(r))
            .map(|r| decode_version(r, "id"))
            .collect::<Result<Vec<_>, _>>()?;
        c.ver.delete_many(filter).await.map_err(map_err)?;
        Ok(removed)
    }

    async fn drop_inline_copies(
        &self,
        coll: &str,
        id: &str,
        below: u64,
        older_than: Timestamp,
    ) -> Result<u64, MetaError> {
        let c = self.colls(coll);
        let Some(head) = head_ov(self.raw_head(&c, id).await?.as_ref()) else {
            return Ok(0);
        };
        let done = c
            .ver
            .update_many(
                doc! {
                    "id": id,
                    "ov": {"$lt": clamp(below).min(head)},
                    "at": {"$lt": older_than.micros()},
                    "shadow": {"$type": "string"},
                },
                doc! {"$unset": {"shadow": ""}},
            )
            .await
            .map_err(map_err)?;
        Ok(done.modified_count)
    }

    async fn oldest_version(
        &self,
        coll: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, MetaError> {
        let c = self.colls(coll);
        let Some(head) = head_ov(self.raw_head(&c, id).await?.as_ref()) else {
            return Ok(None);
        };
        c.ver
            .find_one(doc! {"id": id, "ov": {"$lte": head}})
            .sort(doc! {"ov": 1})
            .projection(doc! {"shadow": 0})
            .await
            .map_err(map_err)?
            .map(|d| decode_version(&d, "id"))
            .transpose()
    }

    async fn record_retention_floor(
        &self,
        coll: &str,
        floor: &VersionRecord,
    ) -> Result<(), MetaError> {
        let row = doc! {
            "_id": format!("{}/{}", floor.id, floor.ov),
            "at": floor.at.micros(),
            "cv": clamp(floor.cv),
        };
        match self.floors(coll).insert_one(row).await {
            Ok(_) => Ok(()),
            Err(e) if is_dup(&e) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn retention_horizon(&self, coll: &str) -> Result<Option<RetentionHorizon>, MetaError> {
        let floors = self.floors(coll);
        let newest = |field: &'static str| {
            let floors = floors.clone();
            async move {
                floors
                    .find_one(doc! {})
                    .sort(doc! {field: -1})
                    .await
                    .map_err(map_err)
                    .map(|d| d.and_then(|d| get_int(&d, field)))
            }
        };
        let (at, cv) = (newest("at").await?, newest("cv").await?);
        Ok(at.zip(cv).map(|(at, cv)| RetentionHorizon {
            at: Timestamp(at),
            cv: cv.max(0) as u64,
        }))
    }
}
