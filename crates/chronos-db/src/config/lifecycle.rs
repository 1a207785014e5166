//! Data-lifecycle settings: version and analytics-result retention, erasure receipts and
//! encryption at rest.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Retention of versions (`chronos admin retention`) and of bucketed analytics results
/// (applied by every run of the time-based and cross-tenant rules).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retention {
    /// How long versions are kept (per collection: `collectionMaps.<c>.retention`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<VersionRetention>,
    /// How long bucketed analytics results are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<CounterRetention>,
    /// When `chronos serve` applies version retention by itself. Absent: only
    /// `chronos admin retention` (one collection) and `chronos admin retention-sweep` apply it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<RetentionSchedule>,
}

/// Which collections a retention sweep covers, and how often `chronos serve` runs one.
///
/// A sweep applies retention to every collection named in `collectionMaps` (pruning those
/// with a policy — their own `retention`, or `retention.ver` — or inline copies with a TTL,
/// and bounding every one's per-commit bookkeeping), in every database the configuration
/// lists (generic, listed domains and tenants) and in the template databases of `tenants`
/// and `domains`. Tenants served by a template are listed nowhere else, so they are named
/// here. A collection that has no `collectionMaps` entry is not swept: give it one (`{}` is
/// enough).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionSchedule {
    /// How often `chronos serve` sweeps: an ISO 8601 duration of at least a minute (`PT6H`,
    /// `P1D`). The first sweep starts when the server starts.
    pub every: String,
    /// Tenants served by a tenant template to sweep too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// Domains served by a domain template to sweep too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
}

/// How long versions are kept. An item keeps its newest versions back to the newest one at
/// or before the window's start (`days`), and at most `maxPerItem` of them; the head is never
/// pruned. What is kept is always an unbroken run up to the head, so every read it still
/// answers is answered as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionRetention {
    /// Keep the versions of the last this many days (and the one in force when they began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Keep at most this many versions per item (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_item: Option<u32>,
}

/// How long bucketed analytics results (`timeBasedResults`, `crossTenantResults`) are kept:
/// each run of a rule removes its buckets that start before the window (counted back from
/// the current bucket). Results over everything (`saveMode: global`) are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CounterRetention {
    /// Hourly and daily buckets (and cross-tenant results, one per run hour) for this many
    /// days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Weekly buckets for this many weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weeks: Option<u32>,
    /// Monthly buckets for this many months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<u32>,
}

/// Encryption at rest. Payload objects and blobs are encrypted with AES-256-GCM under a
/// data key per tenant (per domain, and one for the generic tier), kept in that database
/// wrapped by the master key. Indexed properties stay in plaintext in the metadata store
/// (queries need them); no inline copies are written or read (`devShadow` is ignored).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionSettings {
    /// Encrypt what is written from now on (objects written before stay readable).
    pub enabled: bool,
    /// 32 bytes as 64 hex digits or base64, best given as `${env:NAME}`.
    pub master_key: String,
    /// Earlier master keys, still accepted to unwrap data keys until
    /// `chronos admin rotate-master-key` has re-wrapped them under `masterKey`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_master_keys: Vec<String>,
    /// Whose data a data key covers: `tenant` (the default: one key per tenant, domain and
    /// the generic tier) or `subject`: each version of an item is encrypted under a key of
    /// its data subject, named by the first of its collection's `subjectProps` holding one
    /// value (a string, number or boolean; items without one use the tenant's key), and
    /// subject erasure destroys that key, so copies of the objects anywhere (replicas,
    /// backups) are unreadable for good. Needs `erasure.receiptKey` (a subject key is named
    /// by the subject value's keyed hash) and at least one collection with `subjectProps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Erasure settings. Every erasure writes a signed receipt to the logs database
/// (`erasures`); without a receipt key erasure is refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErasureSettings {
    /// The HMAC-SHA-256 key that signs receipts and hashes the erased item ids and subject
    /// values in them: at least 32 characters, best given as `${env:NAME}`. Changing it makes
    /// earlier receipts fail verification.
    pub receipt_key: String,
}
