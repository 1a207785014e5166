//! Compacting the metadata databases (`chronos admin compact`).

use super::database_routes;
use crate::chronos::Chronos;
use crate::error::Result;
use crate::meta::Compaction;
use crate::routing::resolve;
use serde::Serialize;
use std::collections::BTreeSet;

/// What [`Chronos::compact_metadata`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactionReport {
    /// Every database visited, in the configuration's order.
    pub databases: Vec<CompactedDatabase>,
    /// Database types whose tenants or domains are served by a template: only those named
    /// were visited.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub templates_not_listed: Vec<String>,
}

/// One database of a [`CompactionReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactedDatabase {
    /// The database's name on its connection (on SQLite the file's name without `.sqlite`).
    pub database: String,
    /// The connection reference (`dbConnections`).
    pub connection: String,
    /// What happened to it.
    pub outcome: CompactOutcome,
    /// Its sizes before and after, when it was compacted.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub compaction: Option<Compaction>,
}

/// What compacting one database did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CompactOutcome {
    /// Rewritten (see [`Compaction`]).
    Compacted,
    /// It does not exist yet (nothing was written to it): left alone, not created.
    Absent,
    /// Its server manages its storage (MongoDB).
    NotApplicable,
}

impl Chronos {
    /// Compacts every metadata database of the configuration's listed entries and those of
    /// `tenants` and `domains` (served by templates, not listed anywhere else): on SQLite
    /// the space of removed rows (pruned versions, erased or purged items) goes back to the
    /// file system and files created before the current page size take it
    /// ([`crate::meta::MetadataStore::compact`]). Each database must not be open in another
    /// process (`chronos serve`): the first one that is stops the run with an error, the
    /// databases before it compacted, the others untouched.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::admin::CompactOutcome;
    /// use chronos_db::{Chronos, DatabaseType, Route};
    /// let dir = tempfile::tempdir().unwrap();
    /// let chronos = Chronos::embedded(dir.path()).await.unwrap();
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "notes").unwrap()).unwrap();
    /// c.create(serde_json::json!({"n": 1}), "app", "", Default::default()).await.unwrap();
    /// let report = chronos.compact_metadata(&["t1".into()], &[]).await.unwrap();
    /// // The one database written to (t1's runtime database) is compacted; the others
    /// // (other types, other tiers) do not exist yet and are left alone.
    /// let compacted: Vec<_> = report
    ///     .databases
    ///     .iter()
    ///     .filter(|d| d.outcome == CompactOutcome::Compacted)
    ///     .collect();
    /// assert_eq!(compacted.len(), 1);
    /// assert_eq!(compacted[0].compaction.unwrap().page_size_after, 8192);
    /// assert!(report.databases.iter().any(|d| d.outcome == CompactOutcome::Absent));
    /// # });
    /// ```
    pub async fn compact_metadata(
        &self,
        tenants: &[String],
        domains: &[String],
    ) -> Result<CompactionReport> {
        let cfg = &self.context.config;
        let (routes, templates_not_listed) = database_routes(cfg, tenants, domains)?;
        let mut seen = BTreeSet::new();
        let mut databases = Vec::new();
        for route in routes {
            let resolved = resolve(cfg, &route)?;
            let (connection, database) = (resolved.db_conn_ref, resolved.db_name);
            if !seen.insert((connection.clone(), database.clone())) {
                continue;
            }
            let local = cfg
                .db_connections
                .get(&connection)
                .is_some_and(|c| c.sqlite_dir.is_some());
            let store = self.context.metadata.open(&connection, &database)?;
            tracing::info!(%database, %connection, "compacting");
            let compaction = store.compact().await?;
            let outcome = match (&compaction, local) {
                (Some(_), _) => CompactOutcome::Compacted,
                (None, true) => CompactOutcome::Absent,
                (None, false) => CompactOutcome::NotApplicable,
            };
            databases.push(CompactedDatabase {
                database,
                connection,
                outcome,
                compaction,
            });
        }
        Ok(CompactionReport {
            databases,
            templates_not_listed,
        })
    }
}
