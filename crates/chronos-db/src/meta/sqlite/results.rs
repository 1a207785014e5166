//! Analytics results (`meta::ResultStore`) in one bookkeeping table, `_chronos_results`,
//! keyed by `(table, key)`; a result is written with `INSERT OR REPLACE`.

use super::super::{AnalyticsResult, MetaError, ResultFilter, ResultStore};
use super::connection::backend;
use super::SqliteStore;
use crate::model::Timestamp;
use async_trait::async_trait;
use rusqlite::params;
use rusqlite::types::Value as SqlValue;

#[async_trait]
impl ResultStore for SqliteStore {
    async fn put_results(&self, table: &str, rows: &[AnalyticsResult]) -> Result<(), MetaError> {
        let rows: Vec<(AnalyticsResult, String)> = rows
            .iter()
            .map(|r| (r.clone(), r.document.to_string()))
            .collect();
        let table = table.to_string();
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            {
                let mut put = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO _chronos_results(tbl, k, rule, collection, tenant, timeframe, bucket, doc)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )
                    .map_err(backend)?;
                for (r, doc) in &rows {
                    put.execute(params![
                        table,
                        r.key,
                        r.rule,
                        r.collection,
                        r.tenant,
                        r.timeframe,
                        r.bucket.map(Timestamp::micros),
                        doc
                    ])
                    .map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn prune_results(
        &self,
        table: &str,
        rule: &str,
        tenant: &str,
        before: Timestamp,
    ) -> Result<u64, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(0);
        }
        let (table, rule, tenant) = (table.to_string(), rule.to_string(), tenant.to_string());
        self.run(move |c| {
            let n = c
                .prepare_cached(
                    "DELETE FROM _chronos_results WHERE tbl = ?1 AND rule = ?2 AND tenant = ?3
                     AND bucket IS NOT NULL AND bucket < ?4",
                )
                .map_err(backend)?
                .execute(params![table, rule, tenant, before.micros()])
                .map_err(backend)?;
            Ok(n as u64)
        })
        .await
    }

    async fn results(
        &self,
        table: &str,
        f: &ResultFilter,
    ) -> Result<Vec<AnalyticsResult>, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT k, rule, collection, tenant, timeframe, bucket, doc FROM _chronos_results WHERE tbl = ?1",
        );
        let mut args = vec![SqlValue::Text(table.to_string())];
        let mut add = |clause: &str, v: SqlValue| {
            args.push(v);
            sql.push_str(&format!(" AND {clause} ?{}", args.len()));
        };
        for (column, value) in [
            ("rule =", &f.rule),
            ("collection =", &f.collection),
            ("tenant =", &f.tenant),
            ("timeframe =", &f.timeframe),
        ] {
            if let Some(v) = value {
                add(column, SqlValue::Text(v.clone()));
            }
        }
        if let Some(from) = f.from {
            add("bucket >=", SqlValue::Integer(from.micros()));
        }
        if let Some(to) = f.to {
            add("bucket <=", SqlValue::Integer(to.micros()));
        }
        args.push(SqlValue::Integer(
            i64::try_from(f.limit).unwrap_or(i64::MAX),
        ));
        sql.push_str(&format!(" ORDER BY bucket DESC, k LIMIT ?{}", args.len()));
        self.run(move |c| {
            let mut st = c.prepare(&sql).map_err(backend)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (key, rule, collection, tenant, timeframe, bucket, doc) =
                    row.map_err(backend)?;
                let document = serde_json::from_str(&doc)
                    .map_err(|e| MetaError::Corrupt(format!("analytics result '{key}': {e}")))?;
                out.push(AnalyticsResult {
                    key,
                    rule,
                    collection,
                    tenant,
                    timeframe,
                    bucket: bucket.map(Timestamp),
                    document,
                });
            }
            Ok(out)
        })
        .await
    }
}
