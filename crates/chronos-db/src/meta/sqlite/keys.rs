//! Data keys (`meta::KeyStore`): rows of `_chronos_keys`, one per key id.

use super::super::{KeyStore, MetaError, WrappedKey};
use super::connection::backend;
use super::SqliteStore;
use crate::model::Timestamp;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

const COLS: &str = "kid, scope, wrapped, master_id, created_at, destroyed";

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<WrappedKey> {
    Ok(WrappedKey {
        kid: r.get(0)?,
        scope: r.get(1)?,
        wrapped: r.get(2)?,
        master_id: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
        destroyed: r.get::<_, i64>(5)? != 0,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &WrappedKey) -> Result<(), MetaError> {
        let k = key.clone();
        self.run(move |c| {
            c.prepare_cached(&format!(
                "INSERT OR IGNORE INTO _chronos_keys ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .map_err(backend)?
            .execute(params![
                k.kid,
                k.scope,
                k.wrapped,
                k.master_id,
                k.created_at.micros(),
                k.destroyed as i64
            ])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn get_key(&self, kid: &str) -> Result<Option<WrappedKey>, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(None);
        }
        let kid = kid.to_string();
        self.run(move |c| {
            c.prepare_cached(&format!("SELECT {COLS} FROM _chronos_keys WHERE kid = ?1"))
                .map_err(backend)?
                .query_row([&kid], read)
                .optional()
                .map_err(backend)
        })
        .await
    }

    async fn current_key(&self, scope: &str) -> Result<Option<WrappedKey>, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(None);
        }
        let scope = scope.to_string();
        self.run(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLS} FROM _chronos_keys WHERE scope = ?1 AND destroyed = 0
                 ORDER BY created_at DESC, kid DESC LIMIT 1"
            ))
            .map_err(backend)?
            .query_row([&scope], read)
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn destroy_keys(&self, scope: &str) -> Result<u64, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(0);
        }
        // `:` and `;` are consecutive: the range holds exactly the scopes `<scope>/subject:*`.
        let (scope, from, to) = (
            scope.to_string(),
            format!("{scope}/subject:"),
            format!("{scope}/subject;"),
        );
        self.run(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE _chronos_keys SET wrapped = x'', destroyed = 1
                     WHERE (scope = ?1 OR (scope >= ?2 AND scope < ?3)) AND destroyed = 0",
                )
                .map_err(backend)?
                .execute([&scope, &from, &to])
                .map_err(backend)?;
            Ok(n as u64)
        })
        .await
    }

    async fn keys_not_wrapped_by(&self, master_id: &str) -> Result<Vec<WrappedKey>, MetaError> {
        if self.connection(false).await?.is_none() {
            return Ok(Vec::new());
        }
        let master_id = master_id.to_string();
        self.run(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM _chronos_keys WHERE master_id <> ?1 AND destroyed = 0 ORDER BY kid"
                ))
                .map_err(backend)?;
            let rows = st.query_map([&master_id], read).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn rewrap_key(
        &self,
        kid: &str,
        wrapped: &[u8],
        master_id: &str,
    ) -> Result<(), MetaError> {
        let (kid, wrapped, master_id) = (kid.to_string(), wrapped.to_vec(), master_id.to_string());
        self.run(move |c| {
            c.prepare_cached(
                "UPDATE _chronos_keys SET wrapped = ?2, master_id = ?3 WHERE kid = ?1 AND destroyed = 0",
            )
            .map_err(backend)?
            .execute(params![kid, wrapped, master_id])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
}
