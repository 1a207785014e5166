//! Data-key administration (encryption at rest): shredding a tenant, re-wrapping data keys
//! under a new master key.

use crate::chronos::Chronos;
use crate::error::{Error, Result};
use crate::routing::{resolve, DatabaseType, Route};
use serde::Serialize;
use std::collections::BTreeSet;

/// The collection name routes are built with here: only their database matters.
const ANY: &str = "keys";

/// What [`Chronos::shred_tenant`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShredReport {
    /// The tenant.
    pub tenant_id: String,
    /// The tenant's databases visited (database types).
    pub databases: Vec<String>,
    /// Data keys destroyed (0 when the tenant had none, or was shredded before).
    pub keys_destroyed: u64,
}

/// What [`Chronos::rotate_master_key`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationReport {
    /// The id of the master key every visited data key is now wrapped with.
    pub master_key_id: String,
    /// Databases visited.
    pub databases: u64,
    /// Data keys re-wrapped.
    pub keys_rewrapped: u64,
    /// Database types whose tenants are served by a template: only the tenants named were
    /// visited (keys elsewhere are re-wrapped as they are used, while the previous master
    /// key is still configured).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub templates_not_listed: Vec<String>,
}

impl Chronos {
    fn keyring(&self) -> Result<&crate::encryption::Keyring> {
        self.context.keyring.as_deref().ok_or_else(|| {
            Error::validation("encryption is off: set encryption.enabled and encryption.masterKey")
        })
    }

    /// Destroys the data keys of a tenant in each of its databases (metadata, knowledge,
    /// runtime): everything encrypted for it — every version, blob and copy, wherever the
    /// objects are — becomes unreadable, and reads of it fail with `Erased`. Other tenants
    /// are untouched. New writes for the tenant get a new key. The shred is recorded in the
    /// logs database (`key_shreds`) first, when there is one.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::{config::{ChronosConfig, EncryptionSettings}, Chronos, DatabaseType, Error, Route};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut cfg = ChronosConfig::embedded(dir.path());
    /// cfg.encryption = Some(EncryptionSettings { enabled: true, master_key: "ab".repeat(32), ..Default::default() });
    /// let chronos = Chronos::open(cfg).await.unwrap();
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "notes").unwrap()).unwrap();
    /// let v = c.create(serde_json::json!({"text": "secret"}), "app", "", Default::default()).await.unwrap();
    /// let report = chronos.shred_tenant("t1", "dpo", "contract ended").await.unwrap();
    /// assert_eq!(report.keys_destroyed, 1);
    /// assert!(matches!(c.get_latest(&v.id, Default::default()).await, Err(Error::Erased { .. })));
    /// # });
    /// ```
    pub async fn shred_tenant(
        &self,
        tenant: &str,
        actor: &str,
        reason: &str,
    ) -> Result<ShredReport> {
        let keyring = self.keyring()?;
        crate::names::TenantId::parse(tenant).map_err(Error::Validation)?;
        let cfg = &self.context.config;
        let mut databases = Vec::new();
        let mut stores = Vec::new();
        let mut seen = BTreeSet::new();
        for ty in [
            DatabaseType::Metadata,
            DatabaseType::Knowledge,
            DatabaseType::Runtime,
        ] {
            let Ok(resolved) = resolve(cfg, &Route::tenant(ty, tenant, ANY)?) else {
                continue;
            };
            databases.push(ty.as_str().to_string());
            if seen.insert((resolved.db_conn_ref.clone(), resolved.db_name.clone())) {
                stores.push(
                    self.context
                        .metadata
                        .open(&resolved.db_conn_ref, &resolved.db_name)?,
                );
            }
        }
        if let Ok(logs) = Route::logs("key_shreds")
            .map_err(Error::from)
            .and_then(|r| self.context.collection(r))
        {
            let record = serde_json::json!({
                "tenantId": tenant,
                "databases": databases,
                "actor": actor,
                "reason": reason,
                "requestedAt": self.context.now(),
            });
            logs.create_direct(record, actor, reason, Default::default())
                .await?;
        }
        let scope = format!("tenant:{tenant}");
        let mut keys_destroyed = 0;
        for store in stores {
            keys_destroyed += store.destroy_keys(&scope).await?;
        }
        keyring.forget();
        tracing::info!(
            databases = databases.len(),
            keys_destroyed,
            "shredded a tenant"
        );
        Ok(ShredReport {
            tenant_id: tenant.to_string(),
            databases,
            keys_destroyed,
        })
    }

    /// Re-wraps every data key not wrapped by `encryption.masterKey` (with one of
    /// `encryption.previousMasterKeys`) under it, in every database of the configuration's
    /// listed entries and those of `tenants` (tenants served by a template are not listed
    /// anywhere else). Payloads are not touched. Afterwards the previous keys can leave the
    /// configuration.
    pub async fn rotate_master_key(&self, tenants: &[String]) -> Result<RotationReport> {
        let keyring = self.keyring()?;
        let cfg = &self.context.config;
        let (routes, templates_not_listed) = super::database_routes(cfg, tenants, &[])?;
        let mut seen = BTreeSet::new();
        let mut report = RotationReport {
            master_key_id: keyring.master_id().to_string(),
            databases: 0,
            keys_rewrapped: 0,
            templates_not_listed,
        };
        for route in routes {
            let resolved = resolve(cfg, &route)?;
            if !seen.insert((resolved.db_conn_ref.clone(), resolved.db_name.clone())) {
                continue;
            }
            let store = self
                .context
                .metadata
                .open(&resolved.db_conn_ref, &resolved.db_name)?;
            report.databases += 1;
            report.keys_rewrapped += keyring.rewrap_all(store.as_ref()).await?;
        }
        keyring.forget();
        Ok(report)
    }
}
