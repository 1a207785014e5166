//! The fallback queue's settings (`fallback`): what the journal, the worker and the
//! validation read.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The journal table of queued writes (the dead letters' table is configurable).
pub const FALLBACK_OPS_TABLE: &str = "chronos_fallback_ops";

impl Fallback {
    /// `maxRetries`, or its default.
    pub fn max_retries(&self) -> u32 {
        self.max_retries.unwrap_or(10)
    }
    /// `retryDelayMs`, or its default.
    pub fn retry_delay_ms(&self) -> u64 {
        self.retry_delay_ms.unwrap_or(1000)
    }
    /// `maxDelayMs`, or its default.
    pub fn max_delay_ms(&self) -> u64 {
        self.max_delay_ms.unwrap_or(60_000)
    }
    /// `leaseMs`, or its default.
    pub fn lease_ms(&self) -> u64 {
        self.lease_ms.unwrap_or(30_000)
    }
    /// `deadLetterCollection`, or its default.
    pub fn dead_letter_table(&self) -> &str {
        self.dead_letter_collection
            .as_deref()
            .unwrap_or("chronos_fallback_dead")
    }
}

/// The fallback queue. With `enabled`, an item write (create, update, delete, enrich,
/// restore) whose metadata or object store does not answer is journaled in a local SQLite
/// file and answered `queued` (HTTP 202) instead of failing; a worker (`chronos serve`,
/// `chronos queue work`) replays it until it commits, exactly once, waiting `retryDelayMs`
/// after the first failed replay, twice as long after each next one, at most `maxDelayMs`
/// (± 20%). After `maxRetries`
/// failed attempts, or at once on a permanent error (validation, conflict, not found,
/// deleted), it moves to the dead letters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fallback {
    /// Whether the queue is on (required).
    pub enabled: bool,
    /// Replays of a write before it goes to the dead letters (default 10: about five
    /// minutes of outage with the default delays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Delay before the first retry, in milliseconds (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_ms: Option<u64>,
    /// Longest delay between retries, in milliseconds (default 60000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay_ms: Option<u64>,
    /// The journal's table of writes that will not be replayed again (default
    /// `chronos_fallback_dead`; letters, digits and `_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_collection: Option<String>,
    /// The directory of the journal (`queue.sqlite`). It must be local to this host, so
    /// that a backend outage cannot take it along (default: `fallback` beside the first
    /// connection's `sqliteDir`; required when no connection has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_dir: Option<String>,
    /// How long a worker owns a write it replays before another worker may take it over,
    /// in milliseconds (default 30000; renewed while the replay runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
}
