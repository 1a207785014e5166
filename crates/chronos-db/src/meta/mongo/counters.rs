//! Counted versions and distinct values (`meta::CounterStore`).
//!
//! Per counter key, a mark in `chronos_counter_marks` (`_id` = the key: `through`, `floor`,
//! and `gen`, the key's generation, bumped by each reset), and per generation two
//! collections: `<key>_counted` (`<key>_g<gen>_counted` after a reset), one document per
//! counted version with `_id` = its cv, and `<key>_unique` (likewise), one per distinct value
//! with `_id` = its key. Rows are written with plain inserts, whose duplicate-key refusal is
//! the one conditional write FerretDB makes atomic, and every total is a `countDocuments`
//! over the current generation's rows above the floor.
//!
//! A reset moves the key to a new generation (and then drops the old one's collections), so a
//! record that raced it lands in a generation nobody reads: no total mixes rows from before
//! and after a reset. The mark's `through` is a plain `$max`: where two updates race
//! (FerretDB) it can go back, which only makes the next catch-up check more rows.

use super::*;
use crate::meta::{
    unique_row_key, CountedVersion, CounterMark, CounterStore, CounterTotals, UniqueValue,
};

/// The operations a version can have, for the per-operation counts.
const OPS: [Op; 6] = [
    Op::Create,
    Op::Update,
    Op::Enrich,
    Op::Delete,
    Op::Restore,
    Op::Erase,
];

/// A key's mark as stored.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    through: u64,
    floor: u64,
    generation: i64,
}

impl MongoStore {
    fn rows(&self, key: &str, generation: i64, kind: &str) -> Collection<Document> {
        self.db.collection(&match generation {
            0 => format!("{key}_{kind}"),
            g => format!("{key}_g{g}_{kind}"),
        })
    }

    fn marks(&self) -> Collection<Document> {
        self.db.collection("chronos_counter_marks")
    }

    async fn mark(&self, key: &str) -> Result<Mark, MetaError> {
        let doc = self
            .marks()
            .find_one(doc! {"_id": key})
            .await
            .map_err(map_err)?;
        Ok(doc
            .map(|m| {
                let floor = get_int(&m, "floor").unwrap_or(0).max(0) as u64;
                Mark {
                    through: (get_int(&m, "through").unwrap_or(0).max(0) as u64).max(floor),
                    floor,
                    generation: get_int(&m, "gen").unwrap_or(0).max(0),
                }
            })
            .unwrap_or_default())
    }

    async fn ensure_generation(&self, key: &str, generation: i64) -> Result<(), MetaError> {
        let counted = self.rows(key, generation, "counted");
        for model in [
            store::index(doc! {"op": 1, "cv": 1}, "op_cv", false),
            store::index(doc! {"rules": 1, "op": 1, "cv": 1}, "rules_op_cv", false),
            store::index(doc! {"at": 1}, "at", false),
            store::index(doc! {"cv": 1}, "cv", false),
        ] {
            counted.create_index(model).await.map_err(map_err)?;
        }
        self.rows(key, generation, "unique")
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
    async fn ensure_counters(&self, key: &str) -> Result<(), MetaError> {
        let generation = self.mark(key).await?.generation;
        self.ensure_generation(key, generation).await
    }

    async fn record_counted(
        &self,
        key: &str,
        e: &CountedVersion,
        values: &[UniqueValue],
    ) -> Result<bool, MetaError> {
        let mark = self.mark(key).await?;
        if e.cv <= mark.floor {
            return Ok(false);
        }
        let uniques = self.rows(key, mark.generation, "unique");
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
            "_id": clamp(e.cv),
            "id": &e.id,
            "ov": clamp(e.ov),
            "cv": clamp(e.cv),
            "op": e.op.as_str(),
            "at": e.at.micros(),
            "rules": e.rules.clone(),
        };
        match self
            .rows(key, mark.generation, "counted")
            .insert_one(row)
            .await
        {
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
        let generation = self.mark(key).await?.generation;
        let rows = collect(
            self.rows(key, generation, "counted")
                .find(doc! {"_id": {"$gt": clamp(after), "$lte": clamp(through)}})
                .sort(doc! {"_id": 1})
                .projection(doc! {"_id": 1})
                .await
                .map_err(map_err)?,
        )
        .await?;
        Ok(rows
            .iter()
            .filter_map(|d| get_int(d, "_id").map(|cv| cv as u64))
            .collect())
    }

    async fn counter_mark(&self, key: &str) -> Result<CounterMark, MetaError> {
        let m = self.mark(key).await?;
        Ok(CounterMark {
            through: m.through,
            floor: m.floor,
        })
    }

    async fn advance_counter_mark(&self, key: &str, through: u64) -> Result<(), MetaError> {
        self.marks()
            .update_one(
                doc! {"_id": key},
                doc! {"$max": {"through": clamp(through)}, "$setOnInsert": {"floor": 0_i64, "gen": 0_i64}},
            )
            .upsert(true)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn reset_counters(&self, key: &str, floor: u64) -> Result<(), MetaError> {
        let old = self.mark(key).await?.generation;
        let new = old + 1;
        self.ensure_generation(key, new).await?;
        // The new generation and its floor in one document write: from here on every total
        // reads the new (empty) rows. The old rows are then dropped; a reset that dies here
        // leaves them, unread.
        self.marks()
            .update_one(
                doc! {"_id": key},
                doc! {"$set": {"through": clamp(floor), "floor": clamp(floor), "gen": new}},
            )
            .upsert(true)
            .await
            .map_err(map_err)?;
        for kind in ["counted", "unique"] {
            self.rows(key, old, kind).drop().await.map_err(map_err)?;
        }
        Ok(())
    }

    async fn counter_totals(&self, key: &str) -> Result<CounterTotals, MetaError> {
        let mark = self.mark(key).await?;
        let counted = self.rows(key, mark.generation, "counted");
        let above = clamp(mark.floor);
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
        let uniques = self.rows(key, mark.generation, "unique");
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
        key: &str,
        rule: &str,
        property: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, MetaError> {
        let generation = self.mark(key).await?.generation;
        let rows = collect(
            self.rows(key, generation, "unique")
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
