//! Counted versions and distinct values (`meta::CounterStore`) in `<key>_counted` (one
//! document per version, `_id` = `<item id>/<ov>`: ids cannot hold `/`) and `<key>_unique`
//! (one per distinct value, `_id` = its key), marks in `chronos_counter_marks` (`_id` = the
//! key). Counted and value rows are written with plain inserts, whose duplicate-key refusal
//! is the one conditional write FerretDB makes atomic, and every total is a
//! `countDocuments` over them. The mark is a plain `$max`: where two updates race (FerretDB)
//! it can go back, which only makes the next catch-up check more rows.

use super::*;
use crate::meta::{
    unique_row_key, CountedVersion, CounterMark, CounterStore, CounterTotals, UniqueValue,
};

/// The operations a version can have, for the per-operation counts.
const OPS: [Op; 5] = [Op::Create, Op::Update, Op::Enrich, Op::Delete, Op::Restore];

impl MongoStore {
    fn counted(&self, coll: &str) -> Collection<Document> {
        self.db.collection(&format!("{coll}_counted"))
    }

    fn uniques(&self, coll: &str) -> Collection<Document> {
        self.db.collection(&format!("{coll}_unique"))
    }

    fn marks(&self) -> Collection<Document> {
        self.db.collection("chronos_counter_marks")
    }
}

#[async_trait]
impl CounterStore for MongoStore {
    async fn ensure_counters(&self, key: &str) -> Result<(), MetaError> {
        let counted = self.counted(key);
        for model in [
            store::index(doc! {"op": 1, "cv": 1}, "op_cv", false),
            store::index(doc! {"rules": 1, "op": 1, "cv": 1}, "rules_op_cv", false),
            store::index(doc! {"at": 1}, "at", false),
            store::index(doc! {"cv": 1}, "cv", false),
        ] {
            counted.create_index(model).await.map_err(map_err)?;
        }
        self.uniques(key)
            .create_index(store::index(
                doc! {"rule": 1, "prop": 1, "_id": 1},
                "rule_prop",
                false,
            ))
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn record_counted(
        &self,
        key: &str,
        e: &CountedVersion,
        values: &[UniqueValue],
    ) -> Result<bool, MetaError> {
        let uniques = self.uniques(key);
        // One insert each: a batch insert stops (or reports) at the first duplicate, and most
        // values of a busy rule are duplicates. Values first: a counted row is never visible
        // without its values, and a repeated record writes the missing ones.
        for v in values {
            let row = doc! {
                "_id": unique_row_key(&v.rule, &v.property, &v.value),
                "rule": &v.rule,
                "prop": &v.property,
                "value": &v.value,
            };
            match uniques.insert_one(row).await {
                Ok(_) => {}
                Err(err) if is_dup(&err) => {}
                Err(err) => return Err(map_err(err)),
            }
        }
        let row = doc! {
            "_id": format!("{}/{}", e.id, e.ov),
            "id": &e.id,
            "ov": clamp(e.ov),
            "cv": clamp(e.cv),
            "op": e.op.as_str(),
            "at": e.at.micros(),
            "rules": e.rules.clone(),
        };
        match self.counted(key).insert_one(row).await {
            Ok(_) => Ok(true),
            Err(err) if is_dup(&err) => Ok(false),
            Err(err) => Err(map_err(err)),
        }
    }

    async fn counted_cvs(
        &self,
        key: &str,
        after: u64,
        through: u64,
    ) -> Result<Vec<u64>, MetaError> {
        let rows = collect(
            self.counted(key)
                .find(doc! {"cv": {"$gt": clamp(after), "$lte": clamp(through)}})
                .sort(doc! {"cv": 1})
                .projection(doc! {"_id": 0, "cv": 1})
                .await
                .map_err(map_err)?,
        )
        .await?;
        Ok(rows
            .iter()
            .filter_map(|d| get_int(d, "cv").map(|cv| cv as u64))
            .collect())
    }

    async fn counter_mark(&self, key: &str) -> Result<CounterMark, MetaError> {
        let mark = self
            .marks()
            .find_one(doc! {"_id": key})
            .await
            .map_err(map_err)?;
        Ok(mark
            .map(|m| {
                let floor = get_int(&m, "floor").unwrap_or(0).max(0) as u64;
                let through = get_int(&m, "through").unwrap_or(0).max(0) as u64;
                CounterMark {
                    through: through.max(floor),
                    floor,
                }
            })
            .unwrap_or_default())
    }

    async fn advance_counter_mark(&self, key: &str, through: u64) -> Result<(), MetaError> {
        self.marks()
            .update_one(
                doc! {"_id": key},
                doc! {"$max": {"through": clamp(through)}, "$setOnInsert": {"floor": 0_i64}},
            )
            .upsert(true)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn reset_counters(&self, key: &str, floor: u64) -> Result<(), MetaError> {
        // The floor first: from here on no total counts a version at or below it, whether
        // or not the rows below are gone yet (a reset that dies half-way is run again).
        self.marks()
            .update_one(
                doc! {"_id": key},
                doc! {"$set": {"through": clamp(floor), "floor": clamp(floor)}},
            )
            .upsert(true)
            .await
            .map_err(map_err)?;
        self.counted(key)
            .delete_many(doc! {})
            .await
            .map_err(map_err)?;
        self.uniques(key)
            .delete_many(doc! {})
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn counter_totals(&self, coll: &str) -> Result<CounterTotals, MetaError> {
        let counted = self.counted(coll);
        let above = clamp(self.counter_mark(coll).await?.floor);
        let mut t = CounterTotals::default();
        for op in OPS {
            let n = counted
                .count_documents(doc! {"op": op.as_str(), "cv": {"$gt": above}})
                .await
                .map_err(map_err)?;
            if n > 0 {
                t.by_op.insert(op.as_str().to_string(), n);
            }
        }
        if let Some(last) = counted
            .find_one(doc! {"cv": {"$gt": above}})
            .sort(doc! {"at": -1})
            .await
            .map_err(map_err)?
        {
            t.last_at = last.get_i64("at").ok().map(Timestamp);
        }
        let rules = counted
            .distinct("rules", doc! {"cv": {"$gt": above}})
            .await
            .map_err(map_err)?;
        for rule in rules.iter().filter_map(|b| b.as_str()) {
            for op in OPS {
                let n = counted
                    .count_documents(doc! {"rules": rule, "op": op.as_str(), "cv": {"$gt": above}})
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
