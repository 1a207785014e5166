//! Counted versions, distinct values and marks (`meta::CounterStore`): three bookkeeping
//! tables of the database file, `_chronos_counts`, `_chronos_unique` and
//! `_chronos_counter_marks`. A counted version and its values are written in one
//! transaction with `INSERT OR IGNORE` on their primary keys, so a repeated record changes
//! nothing; a reset is one transaction too.

use super::super::{
    unique_row_key, CountedVersion, CounterMark, CounterStore, CounterTotals, MetaError,
    UniqueValue,
};
use super::connection::backend;
use super::SqliteStore;
use crate::model::Timestamp;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

/// A cv as SQLite stores it.
fn sql_cv(cv: u64) -> i64 {
    cv.min(i64::MAX as u64) as i64
}

#[async_trait]
impl CounterStore for SqliteStore {
    async fn record_counted(
        &self,
        key: &str,
        e: &CountedVersion,
        values: &[UniqueValue],
    ) -> Result<bool, MetaError> {
        let rules = serde_json::to_string(&e.rules)
            .map_err(|err| MetaError::Invalid(format!("cannot encode rule names: {err}")))?;
        let rows: Vec<(UniqueValue, String)> = values
            .iter()
            .map(|v| (v.clone(), unique_row_key(&v.rule, &v.property, &v.value)))
            .collect();
        let (key, id, ov, cv, op, at) = (
            key.to_string(),
            e.id.clone(),
            sql_cv(e.ov),
            sql_cv(e.cv),
            e.op.as_str(),
            e.at.micros(),
        );
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO _chronos_unique(coll, rule, prop, k, value)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(backend)?;
                for (v, k) in &rows {
                    insert
                        .execute(params![key, v.rule, v.property, k, v.value])
                        .map_err(backend)?;
                }
            }
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO _chronos_counts(coll, id, ov, cv, op, at, rules)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(backend)?
                .execute(params![key, id, ov, cv, op, at, rules])
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(n == 1)
        })
        .await
    }

    async fn counted_cvs(
        &self,
        key: &str,
        after: u64,
        through: u64,
    ) -> Result<Vec<u64>, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(Vec::new());
        }
        let key = key.to_string();
        self.run(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT cv FROM _chronos_counts WHERE coll = ?1 AND cv > ?2 AND cv <= ?3 ORDER BY cv",
                )
                .map_err(backend)?;
            let rows = st
                .query_map(params![key, sql_cv(after), sql_cv(through)], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(backend)?;
            rows.map(|r| r.map(|cv| cv as u64).map_err(backend))
                .collect()
        })
        .await
    }

    async fn counter_mark(&self, key: &str) -> Result<CounterMark, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(CounterMark::default());
        }
        let key = key.to_string();
        self.run(move |c| {
            let mark = c
                .prepare_cached("SELECT through, floor FROM _chronos_counter_marks WHERE coll = ?1")
                .map_err(backend)?
                .query_row([&key], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                .optional()
                .map_err(backend)?;
            Ok(mark
                .map(|(through, floor)| CounterMark {
                    through: through.max(floor) as u64,
                    floor: floor as u64,
                })
                .unwrap_or_default())
        })
        .await
    }

    async fn advance_counter_mark(&self, key: &str, through: u64) -> Result<(), MetaError> {
        let key = key.to_string();
        self.run(move |c| {
            c.prepare_cached(
                "INSERT INTO _chronos_counter_marks(coll, through, floor) VALUES (?1, ?2, 0)
                 ON CONFLICT(coll) DO UPDATE SET through = MAX(through, excluded.through)",
            )
            .map_err(backend)?
            .execute(params![key, sql_cv(through)])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn reset_counters(&self, key: &str, floor: u64) -> Result<(), MetaError> {
        let key = key.to_string();
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            tx.execute(
                "INSERT INTO _chronos_counter_marks(coll, through, floor) VALUES (?1, ?2, ?2)
                 ON CONFLICT(coll) DO UPDATE SET through = excluded.through, floor = excluded.floor",
                params![key, sql_cv(floor)],
            )
            .map_err(backend)?;
            tx.execute("DELETE FROM _chronos_counts WHERE coll = ?1", [&key])
                .map_err(backend)?;
            tx.execute("DELETE FROM _chronos_unique WHERE coll = ?1", [&key])
                .map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn counter_totals(&self, key: &str) -> Result<CounterTotals, MetaError> {
        // Reading creates nothing: a database that does not exist has counted nothing.
        if self.connection(false).await?.is_none() {
            return Ok(CounterTotals::default());
        }
        let floor = sql_cv(self.counter_mark(key).await?.floor);
        let key = key.to_string();
        self.run(move |c| {
            let mut t = CounterTotals::default();
            let mut by_op = c
                .prepare_cached(
                    "SELECT op, COUNT(*), MAX(at) FROM _chronos_counts
                     WHERE coll = ?1 AND cv > ?2 GROUP BY op",
                )
                .map_err(backend)?;
            let rows = by_op
                .query_map(params![key, floor], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })
                .map_err(backend)?;
            for row in rows {
                let (op, n, at) = row.map_err(backend)?;
                t.by_op.insert(op, n as u64);
                t.last_at = t.last_at.max(Some(Timestamp(at)));
            }
            let mut by_rule = c
                .prepare_cached(
                    "SELECT j.value, c.op, COUNT(*) FROM _chronos_counts c, json_each(c.rules) j
                     WHERE c.coll = ?1 AND c.cv > ?2 GROUP BY j.value, c.op",
                )
                .map_err(backend)?;
            let rows = by_rule
                .query_map(params![key, floor], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })
                .map_err(backend)?;
            for row in rows {
                let (rule, op, n) = row.map_err(backend)?;
                t.by_rule.entry(rule).or_default().insert(op, n as u64);
            }
            let mut unique = c
                .prepare_cached(
                    "SELECT rule, prop, COUNT(*) FROM _chronos_unique WHERE coll = ?1 GROUP BY rule, prop",
                )
                .map_err(backend)?;
            let rows = unique
                .query_map([&key], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })
                .map_err(backend)?;
            for row in rows {
                let (rule, prop, n) = row.map_err(backend)?;
                t.unique.entry(rule).or_default().insert(prop, n as u64);
            }
            Ok(t)
        })
        .await
    }

    async fn unique_values(
        &self,
        key: &str,
        rule: &str,
        property: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(Vec::new());
        }
        let (key, rule, property) = (key.to_string(), rule.to_string(), property.to_string());
        let after = after.unwrap_or_default().to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |c| {
            let mut page = c
                .prepare_cached(
                    "SELECT k, value FROM _chronos_unique
                     WHERE coll = ?1 AND rule = ?2 AND prop = ?3 AND k > ?4 ORDER BY k LIMIT ?5",
                )
                .map_err(backend)?;
            let rows = page
                .query_map(params![key, rule, property, after, limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend)).collect()
        })
        .await
    }
}
