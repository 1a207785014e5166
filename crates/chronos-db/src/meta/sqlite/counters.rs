//! Counted versions, distinct values and marks (`meta::CounterStore`) in bookkeeping tables
//! of the database file: the rows (`_chronos_counts`, `_chronos_unique`), the marks
//! (`_chronos_counter_marks`, with the latest time counted) and the totals they add up to
//! (`_chronos_counter_totals` per rule and operation, rule `''` for the collection;
//! `_chronos_unique_totals` per rule and property).
//!
//! A counted version is one transaction: skip it if it is at or below the floor or already
//! there (`INSERT OR IGNORE` on the primary key), else insert its row and its new values and
//! add what was new to the totals. So the totals always equal the rows (SQLite serialises
//! writers), and reading them costs the same at a thousand values as at a million. A reset
//! is one transaction too.

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
        let rule_names = e.rules.clone();
        // A record need not reach the disk before it returns when a catch-up can count it
        // again: see below.
        let flushed = self.durability == crate::config::Durability::PowerLoss && e.replayable;
        self.run(move |c| {
            // A record need not reach the disk before it returns: the versions it counts do,
            // and a record lost to a power cut is counted again by the next catch-up. That
            // holds because the mark only moves in a flushed transaction, which flushes the
            // log up to it, records included (SQLite's log is written in order).
            if flushed {
                c.pragma_update(None, "synchronous", "NORMAL")
                    .map_err(backend)?;
            }
            let recorded = record(c, &key, &id, (ov, cv, op, at), &rules, &rule_names, &rows);
            if flushed {
                c.pragma_update(None, "synchronous", "FULL")
                    .map_err(backend)?;
            }
            recorded
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
                "INSERT INTO _chronos_counter_marks(coll, through, floor, last_at) VALUES (?1, ?2, ?2, NULL)
                 ON CONFLICT(coll) DO UPDATE SET through = excluded.through, floor = excluded.floor,
                 last_at = NULL",
                params![key, sql_cv(floor)],
            )
            .map_err(backend)?;
            for table in [
                "_chronos_counts",
                "_chronos_unique",
                "_chronos_counter_totals",
                "_chronos_unique_totals",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE coll = ?1"), [&key])
                    .map_err(backend)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn counter_totals(&self, key: &str) -> Result<CounterTotals, MetaError> {
        // Reading creates nothing: a database that does not exist has counted nothing.
        if self.connection(false).await?.is_none() {
            return Ok(CounterTotals::default());
        }
        let key = key.to_string();
        self.run(move |c| {
            let mut t = CounterTotals::default();
            let mut by_op = c
                .prepare_cached(
                    "SELECT rule, op, n FROM _chronos_counter_totals WHERE coll = ?1 AND n > 0",
                )
                .map_err(backend)?;
            let rows = by_op
                .query_map([&key], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(backend)?;
            for row in rows {
                let (rule, op, n) = row.map_err(backend)?;
                match rule.as_str() {
                    "" => t.by_op.insert(op, n as u64),
                    _ => t.by_rule.entry(rule).or_default().insert(op, n as u64),
                };
            }
            let mut unique = c
                .prepare_cached("SELECT rule, prop, n FROM _chronos_unique_totals WHERE coll = ?1")
                .map_err(backend)?;
            let rows = unique
                .query_map([&key], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(backend)?;
            for row in rows {
                let (rule, prop, n) = row.map_err(backend)?;
                t.unique.entry(rule).or_default().insert(prop, n as u64);
            }
            t.last_at = c
                .prepare_cached("SELECT last_at FROM _chronos_counter_marks WHERE coll = ?1")
                .map_err(backend)?
                .query_row([&key], |r| r.get::<_, Option<i64>>(0))
                .optional()
                .map_err(backend)?
                .flatten()
                .map(Timestamp);
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

/// One counted version, in one transaction (see the module docs).
fn record(
    c: &mut rusqlite::Connection,
    key: &str,
    id: &str,
    (ov, cv, op, at): (i64, i64, &str, i64),
    rules: &str,
    rule_names: &[String],
    rows: &[(UniqueValue, String)],
) -> Result<bool, MetaError> {
    let tx = c
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let floor: i64 = tx
        .prepare_cached("SELECT floor FROM _chronos_counter_marks WHERE coll = ?1")
        .map_err(backend)?
        .query_row([&key], |r| r.get(0))
        .optional()
        .map_err(backend)?
        .unwrap_or(0);
    if cv <= floor {
        return Ok(false);
    }
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO _chronos_counts(coll, id, ov, cv, op, at, rules)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(backend)?
        .execute(params![key, id, ov, cv, op, at, rules])
        .map_err(backend)?;
    if inserted == 0 {
        return Ok(false);
    }
    {
        let mut add_total = tx
            .prepare_cached(
                "INSERT INTO _chronos_counter_totals(coll, rule, op, n) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT(coll, rule, op) DO UPDATE SET n = n + 1",
            )
            .map_err(backend)?;
        for rule in std::iter::once("").chain(rule_names.iter().map(String::as_str)) {
            add_total.execute(params![key, rule, op]).map_err(backend)?;
        }
        let mut insert = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO _chronos_unique(coll, rule, prop, k, value)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(backend)?;
        let mut new_values: std::collections::BTreeMap<(&str, &str), i64> =
            std::collections::BTreeMap::new();
        for (v, k) in rows {
            let added = insert
                .execute(params![key, v.rule, v.property, k, v.value])
                .map_err(backend)?;
            *new_values.entry((&v.rule, &v.property)).or_default() += added as i64;
        }
        let mut add_unique = tx
            .prepare_cached(
                "INSERT INTO _chronos_unique_totals(coll, rule, prop, n) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(coll, rule, prop) DO UPDATE SET n = n + excluded.n",
            )
            .map_err(backend)?;
        for ((rule, prop), n) in new_values.into_iter().filter(|(_, n)| *n > 0) {
            add_unique
                .execute(params![key, rule, prop, n])
                .map_err(backend)?;
        }
        tx.prepare_cached(
            "INSERT INTO _chronos_counter_marks(coll, through, floor, last_at) VALUES (?1, 0, 0, ?2)
             ON CONFLICT(coll) DO UPDATE SET last_at = MAX(COALESCE(last_at, ?2), ?2)",
        )
        .map_err(backend)?
        .execute(params![key, at])
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)?;
    Ok(true)
}
