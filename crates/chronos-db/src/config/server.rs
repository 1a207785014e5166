//! The `server` section: what `chronos serve` (the HTTP server) reads. The library itself
//! only validates it; the scopes it holds are parsed by [`crate::access`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Settings of the HTTP server (`chronos serve`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSettings {
    /// API keys. Without any, the server only listens on loopback addresses.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyEntry>,
    /// The largest request body accepted, in bytes (default 16 MiB). A larger body is
    /// refused with 413 before it is read whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// How long one request may take before it is answered with 503 (default 30000 ms).
    /// A write that already reached its commit point stays committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    /// Requests served at once (default 512); more wait for a slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<usize>,
    /// Event streams (`GET .../changes` with `Accept: text/event-stream`) open at once, long
    /// polls waiting included (default 256; waiting long polls also at most half of
    /// `maxConcurrentRequests`); one more stream is refused with 503, one more long poll
    /// answers at once instead of waiting. A stream does not hold a request slot
    /// while it waits for changes, so it is counted here instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_event_streams: Option<usize>,
    /// Event streams (long polls waiting included) one API key may have open at once
    /// (default 32); one more stream is refused with 429, one more long poll answers at
    /// once. Applies when API keys are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_event_streams_per_key: Option<usize>,
    /// The URL clients reach the server at (e.g. `https://chronos.example.com`), used in the
    /// signed links the server hands out for objects kept in local files. Default:
    /// `http://<listen address>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// One API key: its SHA-256 digest (the key itself is never stored) and what it may do.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyEntry {
    /// A name for the key, shown in logs and metrics (never the key).
    pub id: String,
    /// The lower-case hex SHA-256 digest of the key (`chronos keys new` prints it).
    pub sha256: String,
    /// `databaseType:tier:scopeId:permission`, `*` allowed in the first three parts,
    /// permission `read` < `write` < `admin` (e.g. `runtime:tenant:tenant-a:write`).
    pub scopes: Vec<String>,
}

impl ServerSettings {
    /// Default of [`ServerSettings::max_body_bytes`].
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 << 20;
    /// Default of [`ServerSettings::request_timeout_ms`].
    pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;
    /// Default of [`ServerSettings::max_concurrent_requests`].
    pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 512;
    /// Default of [`ServerSettings::max_event_streams`].
    pub const DEFAULT_MAX_EVENT_STREAMS: usize = 256;
    /// Default of [`ServerSettings::max_event_streams_per_key`].
    pub const DEFAULT_MAX_EVENT_STREAMS_PER_KEY: usize = 32;
}
