//! Counted versions and distinct values (`meta::CounterStore`): two bookkeeping tables of the
//! database file, `_chronos_counted` and `_chronos_unique`, written with `INSERT OR IGNORE`
//! on their primary keys, so a repeated record changes nothing.

use super::super::{CountedVersion, CounterStore, CounterTotals, MetaError};
use super::connection::backend;
use super::SqliteStore;
use crate::model::Timestamp;
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl CounterStore for SqliteStore {
    async fn record_counted(&self, coll: &str, e: &CountedVersion) -> Result<bool, MetaError> {
        let rules = serde_json::to_string(&e.rules)
            .map_err(|err| MetaError::Invalid(format!("cannot encode rule names: {err}")))?;
        let (coll, id, ov, op, at) = (
            coll.to_string(),
            e.id.clone(),
            e.ov as i64,
            e.op.as_str(),
            e.at.micros(),
        );
        self.run(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO _chronos_counted(coll, id, ov, op, at, rules)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(backend)?
                .execute(params![coll, id, ov, op, at, rules])
                .map_err(backend)?;
            Ok(n == 1)
        })
        .await
    }

    async fn add_unique_values(
        &self,
        coll: &str,
        rule: &str,
        property: &str,
        values: &[String],
    ) -> Result<u64, MetaError> {
        let rows: Vec<(String, String)> = values
            .iter()
            .map(|v| (super::super::unique_row_key(rule, property, v), v.clone()))
            .collect();
        let (coll, rule, property) = (coll.to_string(), rule.to_string(), property.to_string());
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let mut added = 0u64;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO _chronos_unique(coll, rule, prop, k, value)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(backend)?;
                for (k, value) in &rows {
                    added += insert
                        .execute(params![coll, rule, property, k, value])
                        .map_err(backend)? as u64;
                }
            }
            tx.commit().map_err(backend)?;
            Ok(added)
        })
        .await
    }

    async fn counter_totals(&self, coll: &str) -> Result<CounterTotals, MetaError> {
        // Reading creates nothing: a database that does not exist has counted nothing.
        if self.connection(false).await?.is_none() {
            return Ok(CounterTotals::default());
        }
        let coll = coll.to_string();
        self.run(move |c| {
            let mut t = CounterTotals::default();
            let mut by_op = c
                .prepare_cached(
                    "SELECT op, COUNT(*), MAX(at) FROM _chronos_counted WHERE coll = ?1 GROUP BY op",
                )
                .map_err(backend)?;
            let rows = by_op
                .query_map([&coll], |r| {
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
                    "SELECT j.value, c.op, COUNT(*) FROM _chronos_counted c, json_each(c.rules) j
                     WHERE c.coll = ?1 GROUP BY j.value, c.op",
                )
                .map_err(backend)?;
            let rows = by_rule
                .query_map([&coll], |r| {
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
                .query_map([&coll], |r| {
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
        coll: &str,
        rule: &str,
        property: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(Vec::new());
        }
        let (coll, rule, property) = (coll.to_string(), rule.to_string(), property.to_string());
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
                .query_map(params![coll, rule, property, after, limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend)).collect()
        })
        .await
    }
}
