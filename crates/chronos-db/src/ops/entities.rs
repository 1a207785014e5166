//! Entity relationships: a record's embedded objects (a customer inside an order) kept as
//! items of their own collections, and fetched back with the record.
//!
//! An entity is identified by its key property, and that identity is structural: the entity's
//! item id *is* its key (a string key that is a valid item id is used as it is; any other key
//! becomes `key-` + the first 40 hex digits of the SHA-256 of its JSON). So a key can never
//! have two entities, even when two writers insert it at the same time: the second create
//! finds the id taken and updates instead.
//!
//! Write order, for a crash at any step: entities first (each create or update is a write of
//! its own), then the main record. A failure leaves the entities written so far, and running
//! the same insert again finds them `unchanged` (or updates them), so retrying is safe.

use super::{Collection, CreateOptions, ReadOptions};
use crate::chronos::Chronos;
use crate::error::{Error, Result};
use crate::model::{Item, WriteResult};
use crate::routing::{DatabaseType, Route, Tier};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;

/// Where the objects under one property of a record are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityMapping {
    /// The record's property holding the entity object.
    pub property: String,
    /// The entities' collection.
    pub collection: String,
    /// The entity's key property (its identity).
    pub key_property: String,
    /// Database type of the entities' collection (default: the record's).
    #[serde(default)]
    pub database_type: Option<DatabaseType>,
    /// Tier of the entities' collection (default: the record's); the tenant and domain are
    /// always the record's.
    #[serde(default)]
    pub tier: Option<Tier>,
}

/// What happened to one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityOperation {
    Created,
    Updated,
    Unchanged,
}

/// One entity written by [`Collection::insert_with_entities`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityResult {
    pub property: String,
    pub id: String,
    pub operation: EntityOperation,
}

/// The outcome of [`Collection::insert_with_entities`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityInsert {
    /// The main record's create.
    pub main_record: WriteResult,
    /// One per mapping whose property held an object with a key, in mapping order.
    pub entity_results: Vec<EntityResult>,
}

/// The outcome of [`Collection::get_with_entities`].
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRecords {
    pub main_record: Option<Item>,
    /// Per mapping: the entity's latest version (`None` when the record has no such
    /// property, or the entity does not exist or is deleted).
    pub entity_records: Vec<(String, Option<Item>)>,
}

/// The item id of an entity with this key.
///
/// ```
/// use chronos_db::ops::entity_id;
/// use serde_json::json;
/// assert_eq!(entity_id(&json!("CUST-456")).unwrap(), "CUST-456");
/// assert_eq!(entity_id(&json!(42)).unwrap(), "42");
/// assert!(entity_id(&json!("a/b")).unwrap().starts_with("key-"));
/// assert!(entity_id(&json!(null)).is_none());
/// ```
pub fn entity_id(key: &Value) -> Option<String> {
    match key {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) if crate::names::check_item_id(s).is_ok() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        other => {
            let digest = sha2::Sha256::digest(other.to_string().as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            Some(format!("key-{}", &hex[..40]))
        }
    }
}

/// Attempts of an entity update that meets concurrent writers.
const ENTITY_ATTEMPTS: usize = 5;

impl Collection {
    fn entity_collection(&self, m: &EntityMapping) -> Result<Collection> {
        let main = self.route();
        let route = Route {
            database_type: m.database_type.unwrap_or(main.database_type),
            tier: m.tier.unwrap_or(main.tier),
            tenant_id: main.tenant_id.clone(),
            domain: main.domain.clone(),
            collection: m.collection.clone(),
        };
        Chronos::from_inner(self.inner.clone()).with(route)
    }

    /// Saves the objects under the mapped properties as entities (created when their key is
    /// new, updated when a field changed, else left unchanged), then creates the record
    /// itself, with the objects still embedded.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::ops::{EntityMapping, EntityOperation};
    /// use chronos_db::{Chronos, DatabaseType, Route};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir().unwrap();
    /// let chronos = Chronos::embedded(dir.path()).await.unwrap();
    /// let orders = chronos.with(Route::tenant(DatabaseType::Runtime, "acme", "orders")).unwrap();
    /// let customers = EntityMapping { property: "customer".into(), collection: "customers".into(),
    ///     key_property: "customerId".into(), database_type: None, tier: None };
    /// let order = json!({"orderId": "O-1", "customer": {"customerId": "C-1", "name": "Ada"}});
    /// let first = orders.insert_with_entities(order.clone(), &[customers.clone()], "shop", "order").await.unwrap();
    /// assert_eq!(first.entity_results[0].operation, EntityOperation::Created);
    /// let again = orders.insert_with_entities(order, &[customers], "shop", "order").await.unwrap();
    /// assert_eq!(again.entity_results[0].operation, EntityOperation::Unchanged);
    /// # });
    /// ```
    pub async fn insert_with_entities(
        &self,
        data: Value,
        mappings: &[EntityMapping],
        actor: &str,
        reason: &str,
    ) -> Result<EntityInsert> {
        if !data.is_object() {
            return Err(Error::validation("the record must be a JSON object"));
        }
        let mut results = Vec::new();
        for m in mappings {
            let Some(entity) = data.get(&m.property) else {
                continue;
            };
            let Some(fields) = entity.as_object() else {
                return Err(Error::validation(format!(
                    "'{}' must be an object to be saved as an entity of '{}'",
                    m.property, m.collection
                )));
            };
            let Some(id) = fields.get(&m.key_property).and_then(entity_id) else {
                return Err(Error::validation(format!(
                    "'{}.{}' (the entity's key) is missing or empty",
                    m.property, m.key_property
                )));
            };
            let coll = self.entity_collection(m)?;
            let operation = coll.save_entity(&id, fields, actor, reason).await?;
            results.push(EntityResult {
                property: m.property.clone(),
                id,
                operation,
            });
        }
        let main_record = self
            .create(data, actor, reason, CreateOptions::default())
            .await?;
        Ok(EntityInsert {
            main_record,
            entity_results: results,
        })
    }

    /// Creates the entity, or sets the given fields on it (fields it has and the object does
    /// not are kept).
    async fn save_entity(
        &self,
        id: &str,
        fields: &serde_json::Map<String, Value>,
        actor: &str,
        reason: &str,
    ) -> Result<EntityOperation> {
        for _ in 0..ENTITY_ATTEMPTS {
            let current = self.get_latest(id, ReadOptions::default()).await?;
            let Some(current) = current else {
                let opts = CreateOptions {
                    id: Some(id.to_string()),
                    ..Default::default()
                };
                match self
                    .create(Value::Object(fields.clone()), actor, reason, opts)
                    .await
                {
                    Ok(_) => return Ok(EntityOperation::Created),
                    // Created meanwhile by another writer, or deleted: look again.
                    Err(Error::AlreadyExists { .. }) => {
                        if self.get_latest(id, ReadOptions::default()).await?.is_none() {
                            return Err(Error::Deleted {
                                id: id.to_string(),
                                ov: self.history_head_ov(id).await?.unwrap_or_default(),
                            });
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            };
            let mut merged = current.data.clone();
            for (k, v) in fields {
                merged.insert(k.clone(), v.clone());
            }
            if merged == current.data {
                return Ok(EntityOperation::Unchanged);
            }
            match self
                .update(id, Value::Object(merged), current.system.ov, actor, reason)
                .await
            {
                Ok(_) => return Ok(EntityOperation::Updated),
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Locked { id: id.to_string() })
    }

    /// The current ov of an item whose latest version may be a deletion.
    async fn history_head_ov(&self, id: &str) -> Result<Option<u64>> {
        let opts = ReadOptions {
            include_deleted: true,
            ..Default::default()
        };
        Ok(self.get_latest(id, opts).await?.map(|i| i.system.ov))
    }

    /// Reads a record and, for each mapping, the entity its embedded object names.
    pub async fn get_with_entities(
        &self,
        id: &str,
        mappings: &[EntityMapping],
        opts: ReadOptions,
    ) -> Result<EntityRecords> {
        let Some(main) = self.get_latest(id, opts.clone()).await? else {
            return Ok(EntityRecords {
                main_record: None,
                entity_records: Vec::new(),
            });
        };
        let mut records = Vec::new();
        for m in mappings {
            let key = main
                .data
                .get(&m.property)
                .and_then(|e| e.get(&m.key_property))
                .and_then(entity_id);
            let record = match key {
                Some(eid) => {
                    let read = ReadOptions {
                        include_deleted: false,
                        ..opts.clone()
                    };
                    self.entity_collection(m)?.get_latest(&eid, read).await?
                }
                None => None,
            };
            records.push((m.property.clone(), record));
        }
        Ok(EntityRecords {
            main_record: Some(main),
            entity_records: records,
        })
    }
}
