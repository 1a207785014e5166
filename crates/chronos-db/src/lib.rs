//! # Chronos-DB
//!
//! A versioned, multi-tenant persistence layer for JSON documents. Every write becomes an
//! immutable version (an object version `ov` per item, a collection version `cv` per
//! collection); the latest state, the version index and the indexed properties live in a
//! metadata store, and the full JSON of every version lives in object storage.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use chronos_db::{Chronos, Route, DatabaseType, ReadOptions};
//! use serde_json::json;
//! let dir = tempfile::tempdir().unwrap();
//! let chronos = Chronos::embedded(dir.path()).await.unwrap();
//! let users = chronos.with(Route::tenant(DatabaseType::Runtime, "tenant-a", "users").unwrap()).unwrap();
//! let v0 = users.create(json!({"name": "Ada"}), "app", "signup", Default::default()).await.unwrap();
//! let v1 = users.update(&v0.id, json!({"name": "Ada L."}), 0, "app", "rename").await.unwrap();
//! assert_eq!(v1.ov, 1);
//! let old = users.get_version(&v0.id, 0, ReadOptions::default()).await.unwrap().unwrap();
//! assert_eq!(old.data["name"], "Ada");
//! # });
//! ```
//!
//! Layout: [`config`] (JSON configuration and its schema), [`routing`] (routes to databases
//! and buckets), [`meta`] (metadata-store trait and backends), [`payload`] (object storage),
//! [`ops`] (the operations), [`query`] (the filter language), [`merge`] (deep merge),
//! [`json`] (strict reading of user JSON), [`diff`] (JSON Patch between versions).

#![warn(missing_docs, unreachable_pub)]

pub mod access;
pub mod admin;
pub mod analytics;
pub mod analytics_jobs;
pub mod backend_error;
pub mod config;
pub mod counters;
pub mod diff;
pub mod encryption;
pub mod erasure;
pub mod error;
pub mod fallback;
pub mod json;
pub mod merge;
pub mod meta;
pub mod model;
pub mod names;
pub mod ops;
pub mod payload;
pub mod query;
pub mod queue;
pub mod receipts;
pub mod redact;
pub mod routing;
pub mod tiered;
pub mod tiers;

mod chronos;
mod compression;
mod crypto;
mod document;
mod flat;
mod links;
mod local_fs;
mod retry;

pub use backend_error::BackendError;
pub use chronos::Chronos;
pub use diff::{DiffSummary, ItemDiff};
pub use error::{Error, Result};
pub use flat::ItemJson;
pub use meta::MetadataLayer;
pub use model::{
    BlobUrls, Document, Item, Op, Presigned, SystemFields, Timestamp, VersionInfo, WriteResult,
};
pub use ops::{ChronosOptions, Clock};
pub use ops::{
    Collection, CollectionTarget, CreateOptions, EnrichOptions, GcReport, HistoryOptions,
    HistoryPage, LineageRef, ListOptions, OriginRef, Page, ReadOptions, RestoreOptions,
    RestoreProgress, RestoreReport, RestoreTarget, RetentionOptions, RetentionProgress,
    RetentionReport,
};
pub use payload::PayloadLayer;
pub use routing::{DatabaseType, Route, Tier};
