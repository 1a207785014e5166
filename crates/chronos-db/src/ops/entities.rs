//! Entity relationships: a record's embedded objects (a customer inside an order) kept as
//! items of their own collections, and fetched back with the record.
//!
//! An entity is identified by its key property, and that identity is structural: the entity's
//! item id *is* its key's text (a string key that is a valid item id is used as it is, an
//! integer as its digits — so `42` and `"42"` are one key —, any other key becomes `key-` +
//! the first 40 hex digits of the SHA-256 of its JSON). So a key can never have two entities,
//! even when two writers insert it at the same time: the second create finds the id taken and
//! updates instead. An entity created before under another id (a plain `create`) is still
//! found through its key property when that property is indexed.
//!
//! Entities live in the record's own tier, tenant and domain (a mapping may name another
//! database type): a tenant's record never writes into a shared (generic or domain) database
//! that other tenants read.
//!
//! Everything is validated before the first write (every mapping, every entity, the record).
//! Then entities are written (each create or update is a write of its own), then the record.
//! A failure in between (a backend error) leaves the entities written so far; running the
//! same insert again finds them `unchanged`, so retrying is safe.

use super::{Collection, CreateOptions, ReadOptions};
use crate::error::{Error, Result};
use crate::model::{Item, WriteResult};
use crate::names::CollectionName;
use crate::routing::{DatabaseType, Route, Tier};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;

/// Where the objects under one property of a record are kept.
///
/// In JSON an object; an array (which serde would read positionally) is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
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
    /// Tier of the entities' collection; only the record's own tier is accepted (entities
    /// stay in the record's tenant or domain). Default: the record's.
    #[serde(default)]
    pub tier: Option<Tier>,
}

crate::object_only!(EntityMapping, "an entity mapping object", serialize);

impl EntityMapping {
    /// The route of this mapping's entities for a record on `record`: the record's tier,
    /// tenant or domain, in the mapping's database type (or the record's). A tier other than
    /// the record's is refused: entities never leave the record's tenant or domain.
    ///
    /// ```
    /// use chronos_db::ops::EntityMapping;
    /// use chronos_db::{DatabaseType, Route};
    /// let m = EntityMapping { property: "customer".into(), collection: "customers".into(),
    ///     key_property: "customerId".into(), database_type: Some(DatabaseType::Knowledge), tier: None };
    /// let record = Route::tenant(DatabaseType::Runtime, "acme", "orders").unwrap();
    /// assert_eq!(m.route_for(&record).unwrap().to_string(), "knowledge/tenant/acme/customers");
    /// ```
    pub fn route_for(&self, record: &Route) -> Result<Route> {
        if let Some(tier) = self.tier.filter(|t| *t != record.tier) {
            return Err(Error::validation(format!(
                "entities of '{}' must be in the record's own tier ('{}'), not '{}': a record \
                 never writes into databases other tenants or domains read",
                self.property,
                record.tier.as_str(),
                tier.as_str()
            )));
        }
        Ok(Route {
            database_type: self.database_type.unwrap_or(record.database_type),
            collection: CollectionName::parse(&self.collection).map_err(Error::Validation)?,
            ..record.clone()
        })
    }
}

/// What happened to one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EntityOperation {
    /// The entity did not exist and was created.
    Created,
    /// The entity existed and the given fields were set.
    Updated,
    /// The entity already held the given fields: nothing was written.
    Unchanged,
}

/// One entity written by [`Collection::insert_with_entities`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EntityResult {
    /// The record property the entity came from.
    pub property: String,
    /// The entity's item id.
    pub id: String,
    /// What was done to it.
    pub operation: EntityOperation,
}

/// The outcome of [`Collection::insert_with_entities`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The record as stored (with its entities), when it was read back.
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

/// Attempts of an entity update that meets concurrent writers (with growing, jittered pauses).
const ENTITY_ATTEMPTS: u32 = 24;

impl Collection {
    fn entity_collection(&self, m: &EntityMapping) -> Result<Collection> {
        self.inner.collection(m.route_for(self.route())?)
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
    /// let orders = chronos.with(Route::tenant(DatabaseType::Runtime, "acme", "orders").unwrap()).unwrap();
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
        // Several items' writes: one request id cannot name their outcome.
        if self.request_id.is_some() {
            return Err(Error::validation(
                "a request id (idempotency key) applies to one item's write, not to a create \
                 with entities",
            ));
        }
        // 1. Validate everything before the first write.
        let doc = self.accept(data.clone(), None)?;
        self.check_required(&doc)?;
        let mut planned = Vec::new();
        for m in mappings {
            let Some(entity) = doc.get(&m.property) else {
                continue;
            };
            let Some(fields) = entity.as_object() else {
                return Err(Error::validation(format!(
                    "'{}' must be an object to be saved as an entity of '{}'",
                    m.property, m.collection
                )));
            };
            let Some((key, id)) = fields
                .get(&m.key_property)
                .and_then(|k| Some((k.clone(), entity_id(k)?)))
            else {
                return Err(Error::validation(format!(
                    "'{}.{}' (the entity's key) is missing or empty",
                    m.property, m.key_property
                )));
            };
            let coll = self.entity_collection(m)?;
            // `_id` and `_system` are the store's, never part of an entity's content; an
            // entity's identity is its key property, so an `_id` here (an entity object as
            // read back) is ignored rather than refused.
            let mut fields = fields.clone();
            fields.remove("_id");
            fields.remove("_system");
            let checked = coll.accept(Value::Object(fields), None)?;
            coll.check_required(&checked)?;
            planned.push((m, coll, key, id, checked));
        }
        // 2. The entities, then the record.
        let mut results = Vec::new();
        for (m, coll, key, id, fields) in planned {
            let (id, operation) = coll
                .save_entity(m, &key, id, &fields, actor, reason)
                .await?;
            results.push(EntityResult {
                property: m.property.clone(),
                id,
                operation,
            });
        }
        let main_record = self
            .create_direct(data, actor, reason, CreateOptions::default())
            .await?;
        Ok(EntityInsert {
            main_record,
            entity_results: results,
        })
    }

    /// The entity with this key: at its derived id, else (created some other way) the first
    /// item whose key property holds the key, when that property is indexed.
    async fn find_entity(&self, m: &EntityMapping, key: &Value, id: &str) -> Result<Option<Item>> {
        match self.get_latest(id, ReadOptions::default()).await {
            Ok(Some(item)) => return Ok(Some(item)),
            Ok(None) => {}
            // An erased entity is no entity (its id stays taken: a new one with the same key
            // is refused there with `Erased`).
            Err(crate::error::Error::Erased { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        // Only the derived id can name the entity when the key property is not indexed, or
        // when the key is not a scalar (an object would read as filter operators).
        let scalar = key.is_string() || key.is_number() || key.is_boolean();
        if !scalar || !self.settings.index.is_indexed(&m.key_property) {
            return Ok(None);
        }
        let by_property = super::ListOptions {
            filter: Some(serde_json::json!({ m.key_property.clone(): key })),
            limit: Some(1),
            ..Default::default()
        };
        Ok(self
            .list_by_meta(by_property)
            .await?
            .items
            .into_iter()
            .next())
    }

    /// Creates the entity, or sets the given fields on it (fields it has and the object does
    /// not are kept). Returns its id and what was done.
    async fn save_entity(
        &self,
        m: &EntityMapping,
        key: &Value,
        derived: String,
        fields: &serde_json::Map<String, Value>,
        actor: &str,
        reason: &str,
    ) -> Result<(String, EntityOperation)> {
        for attempt in 0..ENTITY_ATTEMPTS {
            if attempt > 0 {
                crate::retry::jittered_pause(attempt).await;
            }
            let Some(current) = self.find_entity(m, key, &derived).await? else {
                let opts = CreateOptions {
                    id: Some(derived.clone()),
                    ..Default::default()
                };
                match self
                    .create_direct(Value::Object(fields.clone()), actor, reason, opts)
                    .await
                {
                    Ok(_) => return Ok((derived, EntityOperation::Created)),
                    Err(Error::AlreadyExists { .. }) => {
                        // Created meanwhile by another writer (then look again), or deleted.
                        let deleted = ReadOptions {
                            include_deleted: true,
                            ..Default::default()
                        };
                        let found = self.get_latest(&derived, deleted).await?;
                        if found.is_some_and(|item| item.system.deleted) {
                            return Err(Error::validation(format!(
                                "entity '{derived}' of '{}' (collection '{}') is deleted; restore \
                                 it before inserting records that name it",
                                m.property, m.collection
                            )));
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
                return Ok((current.id, EntityOperation::Unchanged));
            }
            match self
                .update_direct(
                    &current.id,
                    Value::Object(merged),
                    current.system.ov,
                    actor,
                    reason,
                )
                .await
            {
                Ok(_) => return Ok((current.id, EntityOperation::Updated)),
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        let current = self
            .get_latest(&derived, ReadOptions::default())
            .await?
            .map(|i| i.system.ov)
            .unwrap_or_default();
        Err(Error::Conflict {
            id: derived,
            expected: current,
            current,
        })
    }

    /// Reads a record and, for each mapping, the entity its embedded object names (read
    /// whole: the record's projection applies to the record only).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::ops::EntityMapping;
    /// use chronos_db::{Chronos, DatabaseType, Route};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir().unwrap();
    /// let chronos = Chronos::embedded(dir.path()).await.unwrap();
    /// let orders = chronos.with(Route::tenant(DatabaseType::Runtime, "acme", "orders").unwrap()).unwrap();
    /// let m = [EntityMapping { property: "customer".into(), collection: "customers".into(),
    ///     key_property: "customerId".into(), database_type: None, tier: None }];
    /// let order = json!({"customer": {"customerId": "C-1", "name": "Ada"}});
    /// let done = orders.insert_with_entities(order, &m, "shop", "order").await.unwrap();
    /// let got = orders.get_with_entities(&done.main_record.id, &m, Default::default()).await.unwrap();
    /// assert_eq!(got.entity_records[0].1.as_ref().unwrap().data["name"], "Ada");
    /// # });
    /// ```
    pub async fn get_with_entities(
        &self,
        id: &str,
        mappings: &[EntityMapping],
        opts: ReadOptions,
    ) -> Result<EntityRecords> {
        // The keys come from the whole record, whatever the caller's projection keeps.
        let whole = ReadOptions {
            projection: None,
            ..opts.clone()
        };
        let Some(full) = self.get_latest(id, whole).await? else {
            return Ok(EntityRecords {
                main_record: None,
                entity_records: Vec::new(),
            });
        };
        let main = match opts.projection {
            Some(_) => self.get_latest(id, opts.clone()).await?,
            None => Some(full.clone()),
        };
        let mut records = Vec::new();
        for m in mappings {
            let key = full
                .data
                .get(&m.property)
                .and_then(|e| e.get(&m.key_property))
                .and_then(|k| Some((k, entity_id(k)?)));
            let record = match key {
                Some((key, id)) => {
                    let coll = self.entity_collection(m)?;
                    match coll.find_entity(m, key, &id).await? {
                        // Re-read with the caller's signing options; the record's projection
                        // does not apply to its entities.
                        Some(found) => {
                            let read = ReadOptions {
                                presign: opts.presign,
                                ttl_seconds: opts.ttl_seconds,
                                ..Default::default()
                            };
                            match coll.get_latest(&found.id, read).await {
                                Err(crate::error::Error::Erased { .. }) => None,
                                other => other?,
                            }
                        }
                        None => None,
                    }
                }
                None => None,
            };
            records.push((m.property.clone(), record));
        }
        Ok(EntityRecords {
            main_record: main,
            entity_records: records,
        })
    }
}
