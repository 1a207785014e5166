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
    /// Why it could not be compacted (credentials redacted), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
    /// It could not be compacted (see `error`; it is unchanged). The run stopped there: the
    /// databases after it were not visited.
    Failed,
}

impl CompactionReport {
    /// Whether a database could not be compacted.
    pub fn failed(&self) -> bool {
        self.databases
            .iter()
            .any(|d| d.outcome == CompactOutcome::Failed)
    }
}

impl Chronos {
    /// Compacts every metadata database of the configuration's listed entries and those of
    /// `tenants` and `domains` (served by templates, not listed anywhere else): on SQLite
    /// the space of removed rows (pruned versions, erased or purged items) goes back to the
    /// file system and files created before the current page size take it
    /// ([`crate::meta::MetadataStore::compact`]). Each database must not be open in another
    /// process (`chronos serve`): the first one that is, or that fails otherwise, ends the
    /// run, reported as [`CompactOutcome::Failed`] after those compacted before it (see
    /// [`CompactionReport::failed`]); the others are not visited. An error is returned only
    /// when the configuration cannot name the databases.
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
            tracing::info!(%database, %connection, "compacting");
            let compacted = match self.context.metadata.open(&connection, &database) {
                Ok(store) => store.compact().await,
                Err(e) => Err(e),
            };
            let (outcome, compaction, error) = match compacted {
                Ok(Some(done)) => (CompactOutcome::Compacted, Some(done), None),
                Ok(None) if local => (CompactOutcome::Absent, None, None),
                Ok(None) => (CompactOutcome::NotApplicable, None, None),
                Err(e) => {
                    let error = crate::redact::redact(&crate::Error::from(e).to_string());
                    (CompactOutcome::Failed, None, Some(error))
                }
            };
            databases.push(CompactedDatabase {
                database,
                connection,
                outcome,
                compaction,
                error,
            });
            if outcome == CompactOutcome::Failed {
                break;
            }
        }
        Ok(CompactionReport {
            databases,
            templates_not_listed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DatabaseType, Route};

    /// A database another process (here: another instance) has open is reported failed and
    /// ends the run; once it is closed, the same run compacts it.
    #[tokio::test]
    async fn a_database_in_use_fails_the_run_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let serving = Chronos::embedded(dir.path()).await.unwrap();
        let route = Route::tenant(DatabaseType::Runtime, "t1", "notes").unwrap();
        let c = serving.with(route).unwrap();
        c.create(serde_json::json!({"n": 1}), "app", "", Default::default())
            .await
            .unwrap();
        let admin = Chronos::embedded(dir.path()).await.unwrap();
        let tenants = ["t1".to_string()];
        let report = admin.compact_metadata(&tenants, &[]).await.unwrap();
        assert!(report.failed());
        let last = report.databases.last().unwrap();
        assert_eq!(last.outcome, CompactOutcome::Failed);
        assert!(
            last.error.as_deref().unwrap_or("").contains("in use"),
            "{last:?}"
        );
        assert!(report
            .databases
            .iter()
            .all(|d| d.outcome != CompactOutcome::Compacted));
        drop(c);
        drop(serving);
        let report = admin.compact_metadata(&tenants, &[]).await.unwrap();
        assert!(!report.failed(), "{report:?}");
        assert!(report
            .databases
            .iter()
            .any(|d| d.outcome == CompactOutcome::Compacted));
    }
}
