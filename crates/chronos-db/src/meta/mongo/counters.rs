//! Counted versions and distinct values (`meta::CounterStore`) in `<coll>_counted` (one
//! document per version, `_id` = `<item id>/<ov>`: ids cannot hold `/`) and `<coll>_unique`
//! (one per distinct value, `_id` = its key). Both are written with plain inserts, whose
//! duplicate-key refusal is the one conditional write FerretDB makes atomic; every total is
//! a `countDocuments` over them.

use super::*;
use crate::meta::{unique_row_key, CountedVersion, CounterStore, CounterTotals};

/// The operations a version can have, for the per-operation counts.
const OPS: [Op; 5] = [Op::Create, Op::Update, Op::Enrich, Op::Delete, Op::Restore];

impl MongoStore {
    fn counted(&self, coll: &str) -> Collection<Document> {
        self.db.collection(&format!("{coll}_counted"))
    }

    fn uniques(&self, coll: &str) -> Collection<Document> {
        self.db.collection(&format!("{coll}_unique"))
    }

    /// The indexes the counts are served from (one createIndexes call each, see
    /// `ensure_collection`).
    pub(super) async fn ensure_counter_indexes(&self, coll: &str) -> Result<(), MetaError> {
        let counted = self.counted(coll);
        for model in [
            store::index(doc! {"op": 1}, "op", false),
            store::index(doc! {"rules": 1, "op": 1}, "rules_op", false),
            store::index(doc! {"at": 1}, "at", false),
        ] {
            counted.create_index(model).await.map_err(map_err)?;
        }
        self.uniques(coll)
            .create_index(store::index(
                doc! {"rule": 1, "prop": 1, "_id": 1},
                "rule_prop",
                false,
            ))
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

#[async_trait]
impl CounterStore for MongoStore {
    async fn record_counted(&self, coll: &str, e: &CountedVersion) -> Result<bool, MetaError> {
        let row = doc! {
            "_id": format!("{}/{}", e.id, e.ov),
            "id": &e.id,
            "ov": e.ov as i64,
            "op": e.op.as_str(),
            "at": e.at.micros(),
            "rules": e.rules.clone(),
        };
        match self.counted(coll).insert_one(row).await {
            Ok(_) => Ok(true),
            Err(err) if is_dup(&err) => Ok(false),
            Err(err) => Err(map_err(err)),
        }
    }

    async fn add_unique_values(
        &self,
        coll: &str,
        rule: &str,
        property: &str,
        values: &[String],
    ) -> Result<u64, MetaError> {
        let uniques = self.uniques(coll);
        let mut added = 0;
        // One insert each: a batch insert stops (or reports) at the first duplicate, and most
        // values of a busy rule are duplicates.
        for v in values {
            let row = doc! {"_id": unique_row_key(rule, property, v), "rule": rule, "prop": property, "value": v};
            match uniques.insert_one(row).await {
                Ok(_) => added += 1,
                Err(err) if is_dup(&err) => {}
                Err(err) => return Err(map_err(err)),
            }
        }
        Ok(added)
    }

    async fn counter_totals(&self, coll: &str) -> Result<CounterTotals, MetaError> {
        let counted = self.counted(coll);
        let mut t = CounterTotals::default();
        for op in OPS {
            let n = counted
                .count_documents(doc! {"op": op.as_str()})
                .await
                .map_err(map_err)?;
            if n > 0 {
                t.by_op.insert(op.as_str().to_string(), n);
            }
        }
        if let Some(last) = counted
            .find_one(doc! {})
            .sort(doc! {"at": -1})
            .await
            .map_err(map_err)?
        {
            t.last_at = last.get_i64("at").ok().map(Timestamp);
        }
        let rules = counted.distinct("rules", doc! {}).await.map_err(map_err)?;
        for rule in rules.iter().filter_map(|b| b.as_str()) {
            for op in OPS {
                let n = counted
                    .count_documents(doc! {"rules": rule, "op": op.as_str()})
                    .await
                    .map_err(map_err)?;
                if n > 0 {
                    t.by_rule
                        .entry(rule.to_string())
                        .or_default()
                        .insert(op.as_str().to_string(), n);
                }
            }
        }
        let uniques = self.uniques(coll);
        let unique_rules = uniques.distinct("rule", doc! {}).await.map_err(map_err)?;
        for rule in unique_rules.iter().filter_map(|b| b.as_str()) {
            let props = uniques
                .distinct("prop", doc! {"rule": rule})
                .await
                .map_err(map_err)?;
            for prop in props.iter().filter_map(|b| b.as_str()) {
                let n = uniques
                    .count_documents(doc! {"rule": rule, "prop": prop})
                    .await
                    .map_err(map_err)?;
                t.unique
                    .entry(rule.to_string())
                    .or_default()
                    .insert(prop.to_string(), n);
            }
        }
        Ok(t)
    }

    async fn unique_values(
        &self,
        coll: &str,
        rule: &str,
        property: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, MetaError> {
        let rows = collect(
            self.uniques(coll)
                .find(doc! {"rule": rule, "prop": property, "_id": {"$gt": after.unwrap_or_default()}})
                .sort(doc! {"_id": 1})
                .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                .await
                .map_err(map_err)?,
        )
        .await?;
        Ok(rows
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_str("_id").ok()?.to_string(),
                    d.get_str("value").ok()?.to_string(),
                ))
            })
            .collect())
    }
}
