//! Analytics results (`meta::ResultStore`): one MongoDB collection per table
//! (`timeBasedResults`, `crossTenantResults`), one document per result with `_id` = its key,
//! written with a replace-or-insert. Two runs racing on one result (FerretDB's replace is
//! not atomic) leave one of their documents, each a whole result of the same rule.

use super::*;
use crate::meta::{AnalyticsResult, ResultFilter, ResultStore};

impl MongoStore {
    fn result_table(&self, table: &str) -> Collection<Document> {
        self.db.collection(table)
    }
}

#[async_trait]
impl ResultStore for MongoStore {
    async fn ensure_results(&self, table: &str) -> Result<(), MetaError> {
        self.result_table(table)
            .create_index(store::index(doc! {"bucket": -1, "_id": 1}, "bucket", false))
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn put_results(&self, table: &str, rows: &[AnalyticsResult]) -> Result<(), MetaError> {
        let coll = self.result_table(table);
        for r in rows {
            let doc = doc! {
                "_id": &r.key,
                "rule": &r.rule,
                "collection": &r.collection,
                "tenant": &r.tenant,
                "timeframe": r.timeframe.as_deref().map(Bson::from).unwrap_or(Bson::Null),
                "bucket": r.bucket.map(|b| Bson::Int64(b.micros())).unwrap_or(Bson::Null),
                "doc": r.document.to_string(),
            };
            coll.replace_one(doc! {"_id": &r.key}, doc)
                .upsert(true)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn prune_results(
        &self,
        table: &str,
        rule: &str,
        tenant: &str,
        before: Timestamp,
    ) -> Result<u64, MetaError> {
        let done = self
            .result_table(table)
            .delete_many(doc! {
                "rule": rule,
                "tenant": tenant,
                "bucket": {"$ne": Bson::Null, "$lt": before.micros()},
            })
            .await
            .map_err(map_err)?;
        Ok(done.deleted_count)
    }

    async fn results(
        &self,
        table: &str,
        f: &ResultFilter,
    ) -> Result<Vec<AnalyticsResult>, MetaError> {
        let mut filter = Document::new();
        for (field, value) in [
            ("rule", &f.rule),
            ("collection", &f.collection),
            ("tenant", &f.tenant),
            ("timeframe", &f.timeframe),
        ] {
            if let Some(v) = value {
                filter.insert(field, v.as_str());
            }
        }
        let mut range = Document::new();
        if let Some(from) = f.from {
            range.insert("$gte", from.micros());
        }
        if let Some(to) = f.to {
            range.insert("$lte", to.micros());
        }
        if !range.is_empty() {
            filter.insert("bucket", range);
        }
        let docs = collect(
            self.result_table(table)
                .find(filter)
                .sort(doc! {"bucket": -1, "_id": 1})
                .limit(i64::try_from(f.limit).unwrap_or(i64::MAX))
                .await
                .map_err(map_err)?,
        )
        .await?;
        docs.iter()
            .map(|d| {
                let key = d.get_str("_id").unwrap_or_default().to_string();
                let text = |k: &str| d.get_str(k).map(str::to_string).ok();
                let document = text("doc")
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .ok_or_else(|| MetaError::Corrupt(format!("analytics result '{key}'")))?;
                Ok(AnalyticsResult {
                    rule: text("rule").unwrap_or_default(),
                    collection: text("collection").unwrap_or_default(),
                    tenant: text("tenant").unwrap_or_default(),
                    timeframe: text("timeframe"),
                    bucket: get_int(d, "bucket").map(Timestamp),
                    document,
                    key,
                })
            })
            .collect()
    }
}
