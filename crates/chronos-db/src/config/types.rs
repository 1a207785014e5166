//! The configuration types: the configuration keys of chronos-db v2.2 plus the embedded
//! (SQLite + local files) connection kinds, dynamic-tenant templates, limits, locks and
//! durability.
//!
//! Every struct rejects unknown keys, so a typo is an error rather than a silently
//! ignored option. Field names are camelCase in JSON. Keys that act only together with
//! another setting say so in their documentation, and `chronos config check` names those
//! that have no effect in a configuration ([`super::ChronosConfig::inactive_keys`]).

use super::fallback::Fallback;
use super::lifecycle::{EncryptionSettings, ErasureSettings, Retention, VersionRetention};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole configuration document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChronosConfig {
    /// Metadata-store connections, referenced by name from `databases`.
    #[serde(default)]
    pub db_connections: BTreeMap<String, DbConnection>,
    /// Payload-store connections, referenced by name from `databases`.
    #[serde(default)]
    pub spaces_connections: BTreeMap<String, SpacesConnection>,
    /// The tiered databases.
    #[serde(default)]
    pub databases: Databases,
    /// Store every payload on the local filesystem under `basePath/<bucket>/`, whatever the
    /// spaces connection says (development and tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_storage: Option<LocalStorage>,
    /// How one connection is picked when an entry lists several `dbConnRef` or `spaceConnRef`
    /// values (`hashAlgo`, `chooseKey`).
    #[serde(default)]
    pub routing: Routing,
    /// Retention of versions (`ver`: `chronos admin retention`) and of bucketed analytics
    /// results (`counters`: applied by each run of the rules).
    #[serde(default)]
    pub retention: Retention,
    /// Per-collection settings: indexed properties, base64 blobs, validation.
    #[serde(default)]
    pub collection_maps: BTreeMap<String, CollectionMap>,
    /// Counter rules in their top-level form (`{rules: [...]}`). With this key or `analytics`,
    /// every committed write is counted (see `chronos_db::counters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_rules: Option<CounterRules>,
    /// Analytics rules: counter rules (every write counted), time-based and cross-tenant rules
    /// (run by `chronos analytics run`, or by `chronos serve` on `analytics.schedule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<Analytics>,
    /// Keep a copy of small latest documents next to the head for fast reads.
    #[serde(default)]
    pub dev_shadow: DevShadow,
    /// When enabled (default), `delete` writes a deletion version and keeps the history; when
    /// disabled, it removes the item, its versions and objects, which frees the id.
    #[serde(default)]
    pub logical_delete: Toggle,
    /// When enabled (default), every version is kept; when disabled, only each item's latest
    /// version is, and reads as of a time, as-of queries and restores are refused.
    #[serde(default)]
    pub versioning: Toggle,
    /// Payload compression (`compressionEnabled`); how counters catch up (`batchSize`,
    /// `debounceMs`: with counter rules only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_optimization: Option<WriteOptimization>,
    /// The fallback queue: writes whose backend does not answer are journaled locally and
    /// replayed exactly once (see [`Fallback`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// MongoDB multi-document transactions for commits (default: used where the deployment supports
    /// them).
    #[serde(default)]
    pub transactions: Transactions,
    /// Per-item leases that serialise writers across processes and servers.
    #[serde(default)]
    pub locks: Locks,
    /// Input limits (payload size, nesting depth).
    #[serde(default)]
    pub limits: Limits,
    /// What an acknowledged write on local disks (SQLite metadata, local-file payloads)
    /// survives: `powerLoss` (default) or `processCrash`.
    #[serde(default)]
    pub durability: Durability,
    /// The HTTP server (`chronos serve`): API keys and request limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<super::ServerSettings>,
    /// Erasure (`erase`, subject erasure): how receipts are signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure: Option<ErasureSettings>,
    /// Encryption at rest with per-tenant data keys (crypto-shredding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSettings>,
}

/// How far an acknowledged write on local disks (SQLite metadata, local-file payloads) is
/// guaranteed to survive. MongoDB and cloud object stores follow their own settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Durability {
    /// Flushed to disk (fsync of files, their directories and the SQLite log) before the
    /// write is acknowledged: it survives a power loss.
    #[default]
    PowerLoss,
    /// Handed to the operating system: it survives a crash of the process, not of the
    /// machine. Fewer disk flushes per write.
    ProcessCrash,
}

/// A metadata-store connection: exactly one of `mongoUri` or `sqliteDir`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DbConnection {
    /// A MongoDB connection string (`mongodb://` or `mongodb+srv://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mongo_uri: Option<String>,
    /// Embedded SQLite: a directory holding one `<dbName>.sqlite` file per database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite_dir: Option<String>,
    /// MongoDB: how long to wait for a reachable server before failing (default 5000 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// Payload-store provider kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Amazon S3 or any S3-compatible service (MinIO, R2, DigitalOcean Spaces...).
    S3,
    /// Azure Blob Storage.
    Azure,
    /// Google Cloud Storage.
    Gcs,
    /// A directory on the local filesystem.
    Local,
    /// Process memory (tests only; lost at exit).
    Memory,
}

/// A payload-store connection. Each provider takes only the fields it uses: `s3` endpoint,
/// region, accessKey + secretKey, forcePathStyle; `azure` endpoint, accessKey, secretKey;
/// `gcs` secretKey; `s3`, `azure` and `gcs` also timeoutMs and maxRetries; `local` basePath.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpacesConnection {
    /// Provider; when absent, `azure` if the endpoint is an Azure blob endpoint, else `s3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// `s3`, `azure`: the service URL (http:// or https://, without credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `s3`: the region (default us-east-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `s3`: the access key id (with secretKey); `azure`: the storage account name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    /// `s3`: the secret access key; `azure`: the base64 account key; `gcs`: the
    /// service-account key JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// `s3`: path-style requests (`<endpoint>/<bucket>`, the default) rather than
    /// virtual-hosted ones (`<bucket>.<host>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_path_style: Option<bool>,
    /// For `provider: local`: the directory that holds one folder per bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_path: Option<String>,
    /// Per-request timeout (default 30000 ms); a request also fails fast when the endpoint
    /// refuses connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Retries of a failed request (default 2; 0 disables retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

impl SpacesConnection {
    /// The provider, inferred from the endpoint when not given.
    pub fn effective_provider(&self) -> Provider {
        if let Some(p) = self.provider {
            return p;
        }
        match &self.endpoint {
            Some(e)
                if e.contains("blob.core.windows.net") || e.contains("blob.storage.azure.net") =>
            {
                Provider::Azure
            }
            _ => Provider::S3,
        }
    }
}

/// The four database types.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Databases {
    /// The `metadata` database type: generic, domain and tenant tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TieredDatabases>,
    /// The `knowledge` database type: generic, domain and tenant tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge: Option<TieredDatabases>,
    /// The `runtime` database type: the tenant tier only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeDatabases>,
    /// The `logs` database type: one database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<GenericDatabase>,
}

/// metadata / knowledge: generic, domain and tenant tiers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TieredDatabases {
    /// The generic tier: one database shared by every domain and tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic_database: Option<GenericDatabase>,
    /// The domain tier: one database per listed domain (each domain at most once).
    #[serde(default)]
    pub domains_databases: Vec<DomainDatabase>,
    /// The tenant tier: one database per listed tenant (each tenant at most once).
    #[serde(default)]
    pub tenant_databases: Vec<TenantDatabase>,
    /// Used for any domain not listed in `domainsDatabases`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_template: Option<DatabaseTemplate>,
    /// Used for any tenant not listed in `tenantDatabases`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_template: Option<DatabaseTemplate>,
}

/// runtime: tenant tier only.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeDatabases {
    /// One database per listed tenant (each tenant at most once).
    #[serde(default)]
    pub tenant_databases: Vec<TenantDatabase>,
    /// Used for any tenant not listed in `tenantDatabases`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_template: Option<DatabaseTemplate>,
}

/// A generic-tier (or logs) database.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenericDatabase {
    /// Metadata-store connection: a name from `dbConnections`, or several (one is picked
    /// per route by `routing`).
    pub db_conn_ref: ConnRefs,
    /// Payload-store connection: a name from `spacesConnections`, or several (one is picked
    /// per route by `routing`).
    pub space_conn_ref: ConnRefs,
    /// Bucket (Azure container, local folder) of the payloads: 3-63 characters of `[a-z0-9.-]`,
    /// starting and ending with a letter or digit.
    pub bucket: String,
    /// Metadata database name (SQLite: the `<dbName>.sqlite` file): 1-63 characters of
    /// `[A-Za-z0-9_-]`.
    pub db_name: String,
    /// Optional key prefix inside the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Name of a separate analytics database, checked like `dbName`: where the counters of
    /// this database's collections live (default: beside each collection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics_db_name: Option<String>,
}

/// A domain-tier database.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DomainDatabase {
    /// The domain served: 1-64 characters of `[a-z0-9_-]`, starting with a letter or digit.
    pub domain: String,
    /// Metadata-store connection: a name from `dbConnections`, or several (one is picked
    /// per route by `routing`).
    pub db_conn_ref: ConnRefs,
    /// Payload-store connection: a name from `spacesConnections`, or several (one is picked
    /// per route by `routing`).
    pub space_conn_ref: ConnRefs,
    /// Bucket (Azure container, local folder) of the payloads: 3-63 characters of `[a-z0-9.-]`,
    /// starting and ending with a letter or digit.
    pub bucket: String,
    /// Metadata database name (SQLite: the `<dbName>.sqlite` file): 1-63 characters of
    /// `[A-Za-z0-9_-]`.
    pub db_name: String,
    /// Optional key prefix inside the bucket: `/`-separated segments of `[A-Za-z0-9._-]`, at most
    /// 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Name of a separate analytics database, checked like `dbName`: where the counters of
    /// this database's collections live (default: beside each collection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics_db_name: Option<String>,
}

/// A tenant-tier database.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantDatabase {
    /// The tenant served, 1-64 characters of `[a-z0-9_-]`, starting with a letter or digit.
    pub tenant_id: String,
    /// Metadata-store connection: a name from `dbConnections`, or several (one is picked
    /// per route by `routing`).
    pub db_conn_ref: ConnRefs,
    /// Payload-store connection: a name from `spacesConnections`, or several (one is picked
    /// per route by `routing`).
    pub space_conn_ref: ConnRefs,
    /// Bucket (Azure container, local folder) of the payloads: 3-63 characters of `[a-z0-9.-]`,
    /// starting and ending with a letter or digit.
    pub bucket: String,
    /// Metadata database name (SQLite: the `<dbName>.sqlite` file): 1-63 characters of
    /// `[A-Za-z0-9_-]`.
    pub db_name: String,
    /// Optional key prefix inside the bucket: `/`-separated segments of `[A-Za-z0-9._-]`, at most
    /// 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Name of a separate analytics database, checked like `dbName`: where the counters of
    /// this database's collections live (default: beside each collection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics_db_name: Option<String>,
}

/// A dynamic database entry: `dbName`, `bucket`, `prefix` and `analyticsDbName` may contain
/// `{tenantId}`, `{domain}` and `{databaseType}`, so tenants need not be listed one by one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseTemplate {
    /// Metadata-store connection: a name from `dbConnections`, or several (one is picked
    /// per route by `routing`).
    pub db_conn_ref: ConnRefs,
    /// Payload-store connection: a name from `spacesConnections`, or several (one is picked
    /// per route by `routing`).
    pub space_conn_ref: ConnRefs,
    /// Bucket, with placeholders; the bucket or the `prefix` must contain `{tenantId}` (`{domain}`
    /// in a domain template) and expand to a valid bucket name.
    pub bucket: String,
    /// Database name, with placeholders; it must contain `{tenantId}` (`{domain}` in a domain
    /// template) and expand to 1-63 characters of `[A-Za-z0-9_-]`.
    pub db_name: String,
    /// Optional key prefix inside the bucket, with placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Name of a separate analytics database, with placeholders: where the counters of this
    /// database's collections live (default: beside each collection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics_db_name: Option<String>,
}

/// One value or a list of values: `"a"` or `["a", "b"]` in JSON.
///
/// Serializes back the way it was written (a single value as a plain string). An empty list
/// deserializes, and is then reported by validation.
///
/// ```
/// use chronos_db::config::{ConnRefs, OneOrMany};
/// let one: ConnRefs = serde_json::from_str(r#""east""#).unwrap();
/// let two: ConnRefs = serde_json::from_str(r#"["east", "west"]"#).unwrap();
/// assert_eq!(one.as_slice(), ["east"]);
/// assert_eq!(two.len(), 2);
/// assert_eq!(one, OneOrMany::from("east"));
/// assert_eq!(serde_json::to_string(&one).unwrap(), r#""east""#);
/// ```
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A non-empty list of values.
    Many(#[schemars(length(min = 1))] Vec<T>),
}

/// Connection references of a database entry (`dbConnRef`, `spaceConnRef`).
pub type ConnRefs = OneOrMany<String>;

impl<T> OneOrMany<T> {
    /// The values, in the order written.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }
    /// The number of values.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
    /// Only an empty `Many` (which validation rejects) is empty.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
    /// The values, in the order written.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }
    /// Whether the JSON form was a list (paths of problems then end in `[i]`).
    pub fn is_list(&self) -> bool {
        matches!(self, OneOrMany::Many(_))
    }
}

/// Equal when the values are, whatever the form: `"a"` equals `["a"]`.
impl<T: PartialEq> PartialEq for OneOrMany<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Eq> Eq for OneOrMany<T> {}

impl<T: std::hash::Hash> std::hash::Hash for OneOrMany<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl<T: Default> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::One(T::default())
    }
}

impl From<&str> for OneOrMany<String> {
    fn from(v: &str) -> Self {
        OneOrMany::One(v.to_owned())
    }
}

impl From<String> for OneOrMany<String> {
    fn from(v: String) -> Self {
        OneOrMany::One(v)
    }
}

impl<T> From<Vec<T>> for OneOrMany<T> {
    fn from(v: Vec<T>) -> Self {
        OneOrMany::Many(v)
    }
}

impl<'a, T> IntoIterator for &'a OneOrMany<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Hand-written so that a wrong type says what is expected, and so that an element's error
/// keeps its index in the reported path (`dbConnRef[1]`).
impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, IntoDeserializer, SeqAccess, Visitor};
        use std::marker::PhantomData;

        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a non-empty array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(OneOrMany::Many(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// `localStorage`: every payload on the local filesystem.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalStorage {
    /// The directory holding one folder per bucket; it must be a directory of its own (not a
    /// filesystem root, a system directory or the home directory).
    pub base_path: String,
    /// Whether the override applies; when `false`, payloads go where the spaces connections say.
    pub enabled: bool,
}

/// Placement hash for entries that list several connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgo {
    /// Highest random weight: each connection scores SHA-256(`<key>|<ref>`); the highest wins.
    /// Removing a connection moves only the keys it held.
    #[default]
    Rendezvous,
    /// Jump consistent hash over the list positions: appending a connection moves about
    /// 1/(n+1) of the keys; removing or reordering entries moves more.
    Jump,
}

/// How one connection is picked when a database entry lists several `dbConnRef` or
/// `spaceConnRef` values. The pick depends only on the configuration and the route, so every
/// process with the same configuration sends a route to the same place.
///
/// Changing `hashAlgo`, `chooseKey` or a list moves existing data's routes; nothing migrates
/// data between connections.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Routing {
    /// `rendezvous` (default): highest random weight over SHA-256, bit-compatible with the
    /// original; `jump`: jump consistent hash (Lamping and Veach) over the list positions.
    #[serde(default)]
    pub hash_algo: HashAlgo,
    /// What the routing key is made of: alternatives separated by `|`, the first one the
    /// route has (non-empty) wins; tokens `tenantId`, `domain`, `collection`,
    /// `databaseType`. Default `tenantId`; the collection name when nothing matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choose_key: Option<String>,
}

/// Per-collection settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CollectionMap {
    /// Dot paths of the properties to index and allow in filters; a trailing `[]` marks an
    /// array whose elements are matched. Empty = every top-level property except blobs.
    #[serde(default)]
    pub indexed_props: Vec<String>,
    /// Properties holding base64 data, stored as separate blobs.
    #[serde(default)]
    pub base64_props: BTreeMap<String, Base64Prop>,
    /// Checks every write of the collection must pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<CollectionValidation>,
    /// Version retention of this collection (instead of `retention.ver`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<VersionRetention>,
    /// Indexed properties that identify a data subject (`customerId`, `email`, ...): subject
    /// erasure erases every item of a tenant whose any version held the value in one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_props: Vec<String>,
}

/// A property holding base64 data: the bytes are stored as a separate blob and the property reads
/// back as `{"ref": {...}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Base64Prop {
    /// MIME type recorded with the blob (required, not empty); `text/*` types also get a text
    /// rendition.
    pub content_type: String,
    /// Also store a UTF-8 text rendition (`text.txt`) when the bytes decode as text.
    #[serde(default)]
    pub preferred_text: bool,
    /// Charset of the text rendition; only `utf-8` is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_charset: Option<String>,
}

/// Checks every write of a collection must pass.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CollectionValidation {
    /// Indexed properties that must be present and neither null nor empty.
    #[serde(default)]
    pub required_indexed: Vec<String>,
}

/// An operation a counter rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum CounterOp {
    /// `CREATE`: item creations.
    Create,
    /// `UPDATE`: item updates.
    Update,
    /// `DELETE`: item deletions.
    Delete,
    /// `ENRICH`: enrichments.
    Enrich,
    /// `RESTORE`: restores (of one item, or of each item a collection restore changes).
    Restore,
}

/// What a counter rule's `when` conditions look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleScope {
    /// `meta` (default): the indexed properties.
    #[default]
    Meta,
    /// `payload`: the whole document.
    Payload,
}

/// Counter rules in their top-level form.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CounterRules {
    /// The rules.
    #[serde(default)]
    pub rules: Vec<CounterRule>,
}

/// One counter rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CounterRule {
    /// The counter's name.
    pub name: String,
    /// The operations counted (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<CounterOp>>,
    /// What `when` looks at: `meta` (default) or `payload`.
    #[serde(default)]
    pub scope: RuleScope,
    /// The conditions a write must match to be counted.
    pub when: serde_json::Map<String, serde_json::Value>,
    /// Properties whose distinct values are counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub count_unique: Vec<String>,
}

/// Analytics rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Analytics {
    /// Counter rules, as in the top-level `counterRules`.
    #[serde(default)]
    pub counter_rules: Vec<CounterRule>,
    /// Time-based rules: an aggregate over a collection's items, per hour, day, ISO week or
    /// month of their creation, or over all of them (run by `chronos analytics run` or on
    /// `schedule`).
    #[serde(default)]
    pub time_based_rules: Vec<TimeBasedRule>,
    /// Cross-tenant rules: one aggregate per tenant and their combination (run like the
    /// time-based rules).
    #[serde(default)]
    pub cross_tenant_rules: Vec<CrossTenantRule>,
    /// The tenants the time-based rules run for, and the cross-tenant rules' default
    /// `slaveTenantIds`.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// How often `chronos serve` runs the time-based and cross-tenant rules: an ISO 8601
    /// duration of at least a minute (`PT1H`, `P1D`). Absent: `chronos serve` does not run
    /// them (run `chronos analytics run`, once or with `--every`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// How a time-based or cross-tenant rule aggregates the matching items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AggregateOp {
    /// The number of matching items (with `arguments`: of distinct combinations of them).
    Count,
    /// The sum of `field`.
    Sum,
    /// The mean of `field`.
    Average,
    /// The smallest `field`.
    Min,
    /// The largest `field`.
    Max,
    /// The median of `field` (the mean of the two middle values for an even count).
    Median,
}

/// Where a time-based rule's results go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SaveMode {
    /// One result per time bucket of the items' creation time.
    #[default]
    Timeframe,
    /// One result over every matching item.
    Global,
}

/// The buckets of a `timeframe` rule (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Timeframe {
    /// Calendar hours.
    Hourly,
    /// Calendar days.
    Daily,
    /// ISO weeks (from Monday 00:00).
    Weekly,
    /// Calendar months.
    Monthly,
}

/// A window relative to the time a rule runs, as ISO 8601 durations (`PT1H`, `P1D`, `P1M`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelativeTime {
    /// Only items created less than this long ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_than: Option<String>,
    /// Only items created more than this long ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<String>,
}

/// A time-based rule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeBasedRule {
    /// The rule's name.
    pub name: String,
    /// The collection whose items it aggregates.
    pub collection: String,
    /// A filter on the items (the query language); `{}` = all.
    #[serde(default)]
    pub query: serde_json::Map<String, serde_json::Value>,
    /// The aggregate.
    pub operation: AggregateOp,
    /// The property aggregated (every operation but `count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Per time bucket (default) or over everything.
    #[serde(default)]
    pub save_mode: SaveMode,
    /// The buckets (with `saveMode: "timeframe"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<Timeframe>,
    /// Only items created within this window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_time: Option<RelativeTime>,
    /// With `count`: count distinct combinations of these properties instead of items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
}

/// How a cross-tenant rule aggregates per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CrossTenantMode {
    /// Whether the tenant has a matching item; combined: how many tenants have one.
    Boolean,
    /// See [`AggregateOp::Count`].
    Count,
    /// See [`AggregateOp::Sum`].
    Sum,
    /// See [`AggregateOp::Average`].
    Average,
    /// See [`AggregateOp::Min`].
    Min,
    /// See [`AggregateOp::Max`].
    Max,
    /// See [`AggregateOp::Median`].
    Median,
}

/// A cross-tenant rule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrossTenantRule {
    /// The rule's name.
    pub name: String,
    /// The collection aggregated in each tenant's runtime database.
    pub collection: String,
    /// A filter on the items; `{}` = all.
    #[serde(default)]
    pub query: serde_json::Map<String, serde_json::Value>,
    /// The aggregate per tenant.
    pub mode: CrossTenantMode,
    /// The property aggregated (every mode but `boolean` and `count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The tenant whose analytics database keeps the results (and who may read them).
    pub master_tenant_id: String,
    /// The tenants aggregated (default: `analytics.tenants`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slave_tenant_ids: Option<Vec<String>>,
    /// Only items created within this window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_time: Option<RelativeTime>,
}

/// Small latest documents are kept inline with the head, so latest reads and queries need
/// no object-store round trip. The object store stays authoritative.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DevShadow {
    /// Whether inline copies are kept (required inside `devShadow`; without `devShadow` they are).
    pub enabled: bool,
    /// Shadows of versions committed more than this many hours ago are ignored (the object
    /// store is read instead); default 8760 (one year).
    #[serde(default = "default_ttl_hours")]
    pub ttl_hours: u32,
    /// Documents whose JSON is larger than this many bytes are not shadowed
    /// (default 65536).
    #[serde(default = "default_shadow_bytes")]
    pub max_bytes_per_doc: u32,
}

fn default_ttl_hours() -> u32 {
    24 * 365
}
fn default_shadow_bytes() -> u32 {
    64 * 1024
}

impl Default for DevShadow {
    fn default() -> Self {
        DevShadow {
            enabled: true,
            ttl_hours: default_ttl_hours(),
            max_bytes_per_doc: default_shadow_bytes(),
        }
    }
}

/// `{ "enabled": bool }`, defaulting to enabled.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Toggle {
    /// Whether the feature is on (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

/// Payload compression, and how counters are brought up to date (counter rules).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WriteOptimization {
    /// Committed versions a counters catch-up reads and counts per batch (default 1000,
    /// 1-10000). Writes themselves are never batched or delayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// With counter rules: writes no longer count themselves one by one after their commit;
    /// a read of a collection's totals counts what was written since, per collection in
    /// batches of `batchSize`, at most once per `debounceMs` per collection and process
    /// (reads in between answer the last counts, at most this much behind). Hard deletes,
    /// and every write of a collection without version history, still count themselves
    /// (nothing is left to count them from later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce_ms: Option<u64>,
    /// Store each version's `item.json` gzip-compressed when it is at least
    /// `compressionMinBytes` and compressing makes it smaller; reads decode it, and presigned
    /// URLs serve it with `Content-Encoding: gzip` (links through `chronos serve` serve it
    /// decoded). Objects written before stay as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_enabled: Option<bool>,
    /// The smallest `item.json` compressed, in bytes (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_min_bytes: Option<u32>,
}

/// MongoDB multi-document transactions for commits. `enabled` + `autoDetect` (the default):
/// used where the deployment has them (replica set, sharded cluster; asked once per
/// connection), else commits run a protocol that is safe without them. `autoDetect: false`
/// forces them (a standalone server then refuses every commit, and `config check --connect`
/// says so); `enabled: false` never uses them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Transactions {
    /// Allow transactions (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Use them only where the deployment supports them (default true).
    #[serde(default = "yes")]
    pub auto_detect: bool,
}

impl Default for Transactions {
    fn default() -> Self {
        Transactions {
            enabled: true,
            auto_detect: true,
        }
    }
}

/// Transaction locks: every mutating operation holds a lease on its item (`<coll>_locks`),
/// renewed while it runs and released at the end; a crashed holder's lease expires.
/// Correctness never depends on them (the head compare-and-set decides every commit); they
/// turn conflicts between concurrent writers into short waits.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Locks {
    /// Whether mutating operations take the item's lease (default false).
    #[serde(default)]
    pub enabled: bool,
    /// Lease length, at least 100 ms; renewed every third of it while the operation
    /// runs (default 30000 ms).
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// How long an operation waits for a lease before failing with `Locked` (default 10000 ms).
    #[serde(default = "default_wait_ms")]
    pub wait_ms: u64,
}

fn default_lease_ms() -> u64 {
    30_000
}
fn default_wait_ms() -> u64 {
    10_000
}

impl Default for Locks {
    fn default() -> Self {
        Locks {
            enabled: false,
            lease_ms: default_lease_ms(),
            wait_ms: default_wait_ms(),
        }
    }
}

/// Input limits; anything beyond them is rejected before any write.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted payload, in bytes of its JSON, greater than 0
    /// (default 16 MiB).
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: usize,
    /// Deepest accepted nesting of objects and arrays, the document itself being
    /// level 1, greater than 0 (default 64).
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
}

fn default_max_payload() -> usize {
    16 * 1024 * 1024
}
fn default_max_depth() -> usize {
    64
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: default_max_payload(),
            max_depth: default_max_depth(),
        }
    }
}
