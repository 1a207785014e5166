//! Version retention (`meta::RetentionStore`): a prune is one transaction that checks the
//! head and deletes the rows below it; the floors are rows of `_chronos_retention`, one per
//! `(collection, item, floor ov)`, inserted once.

use super::super::{MetaError, RetentionHorizon, RetentionStore};
use super::connection::backend;
use super::rows::{collect, read_version, VER_COLS};
use super::SqliteStore;
use crate::model::{Timestamp, VersionRecord};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn prune_versions(
        &self,
        coll: &str,
        id: &str,
        below: u64,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(Vec::new());
        };
        let id = id.to_string();
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let head: Option<i64> = tx
                .query_row(
                    &format!("SELECT ov FROM {t}_head WHERE id = ?1"),
                    [&id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let Some(head) = head else {
                return Ok(Vec::new());
            };
            let below = (below.min(i64::MAX as u64) as i64).min(head);
            let removed = {
                let mut st = tx
                    .prepare(&format!(
                        "SELECT {VER_COLS} FROM {t}_ver WHERE id = ?1 AND ov < ?2 ORDER BY ov"
                    ))
                    .map_err(backend)?;
                let rows = st
                    .query_map(params![id, below], read_version)
                    .map_err(backend)?;
                collect(rows)?
            };
            tx.execute(
                &format!("DELETE FROM {t}_ver WHERE id = ?1 AND ov < ?2"),
                params![id, below],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(removed)
        })
        .await
    }

    async fn drop_inline_copies(
        &self,
        coll: &str,
        id: &str,
        below: u64,
        older_than: Timestamp,
    ) -> Result<u64, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(0);
        };
        let (id, below) = (id.to_string(), below.min(i64::MAX as u64) as i64);
        self.run(move |c| {
            let n = c
                .prepare_cached(&format!(
                    "UPDATE {t}_ver SET shadow = NULL
                     WHERE id = ?1 AND ov < ?2 AND at < ?3 AND shadow IS NOT NULL
                       AND ov < (SELECT h.ov FROM {t}_head AS h WHERE h.id = ?1)"
                ))
                .map_err(backend)?
                .execute(params![id, below, older_than.micros()])
                .map_err(backend)?;
            Ok(n as u64)
        })
        .await
    }

    async fn oldest_version(
        &self,
        coll: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(None);
        };
        let id = id.to_string();
        self.run(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {VER_COLS} FROM {t}_ver WHERE id = ?1 ORDER BY ov LIMIT 1"
                ))
                .map_err(backend)?;
            let rows = st.query_map([&id], read_version).map_err(backend)?;
            Ok(collect(rows)?.into_iter().next())
        })
        .await
    }

    async fn record_retention_floor(
        &self,
        coll: &str,
        floor: &VersionRecord,
    ) -> Result<(), MetaError> {
        let (coll, id, ov, at, cv) = (
            coll.to_string(),
            floor.id.clone(),
            floor.ov.min(i64::MAX as u64) as i64,
            floor.at.micros(),
            floor.cv.min(i64::MAX as u64) as i64,
        );
        self.run(move |c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO _chronos_retention(coll, id, ov, at, cv) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(backend)?
            .execute(params![coll, id, ov, at, cv])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn retention_horizon(&self, coll: &str) -> Result<Option<RetentionHorizon>, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(None);
        }
        let coll = coll.to_string();
        self.run(move |c| {
            let (at, cv): (Option<i64>, Option<i64>) = c
                .prepare_cached("SELECT MAX(at), MAX(cv) FROM _chronos_retention WHERE coll = ?1")
                .map_err(backend)?
                .query_row([&coll], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(backend)?;
            Ok(at.zip(cv).map(|(at, cv)| RetentionHorizon {
                at: Timestamp(at),
                cv: cv as u64,
            }))
        })
        .await
    }
}
