//! Erasure (`meta::ErasureStore`): a search over the version table with the query
//! compiler's filter, and a scrub that is one `UPDATE` of the item's rows below its
//! tombstone.

use super::super::{CollectionSpec, ErasureStore, MetaError};
use super::connection::backend;
use super::query::build_any_version_ids;
use super::SqliteStore;
use crate::query::Filter;
use async_trait::async_trait;
use rusqlite::params;
use std::collections::HashSet;

#[async_trait]
impl ErasureStore for SqliteStore {
    async fn ids_in_any_version(
        &self,
        coll: &CollectionSpec,
        filter: &Filter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, MetaError> {
        let Some(t) = self.table(&coll.name).await? else {
            return Ok(Vec::new());
        };
        let sql = build_any_version_ids(&t, filter, after, limit);
        self.run(move |c| {
            let mut st = c.prepare(&sql.text).map_err(backend)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(sql.params.iter()), |r| {
                    r.get::<_, String>(0)
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn scrub_versions(&self, coll: &str, id: &str, below: u64) -> Result<u64, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(0);
        };
        let (id, below) = (id.to_string(), below.min(i64::MAX as u64) as i64);
        self.run(move |c| {
            let n = c
                .prepare_cached(&format!(
                    "UPDATE {t}_ver SET meta = '{{}}', shadow = NULL, sha256 = '', size = 0
                     WHERE id = ?1 AND ov < ?2
                       AND (meta <> '{{}}' OR shadow IS NOT NULL OR sha256 <> '')"
                ))
                .map_err(backend)?
                .execute(params![id, below])
                .map_err(backend)?;
            Ok(n as u64)
        })
        .await
    }

    async fn erased_among(&self, coll: &str, ids: &[String]) -> Result<HashSet<String>, MetaError> {
        let Some(t) = self.table(coll).await? else {
            return Ok(HashSet::new());
        };
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let ids = ids.to_vec();
        self.run(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT 1 FROM {t}_head WHERE id = ?1 AND op = 'ERASE'"
                ))
                .map_err(backend)?;
            let mut out = HashSet::new();
            for id in ids {
                if st.exists([&id]).map_err(backend)? {
                    out.insert(id);
                }
            }
            Ok(out)
        })
        .await
    }
}
