//! The backends a bench runs on and their configurations: the embedded default in a temporary
//! directory, or MongoDB with S3 or Azure Blob at the addresses `scripts/test-servers.sh env`
//! exports (`CHRONOS_TEST_*`).

use crate::data::INDEXED;
use crate::Error;
use chronos_db::config::{ChronosConfig, CollectionMap, Durability};
use chronos_db::{DatabaseType, Route};
use serde_json::json;
use std::path::Path;

/// The backends `chronos bench` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BenchBackend {
    /// SQLite + local files.
    Embedded,
    /// MongoDB + S3, at the addresses of `scripts/test-servers.sh env`.
    MongoS3,
    /// MongoDB + Azure Blob, at the addresses of `scripts/test-servers.sh env`.
    MongoAzure,
}

impl std::str::FromStr for BenchBackend {
    type Err = String;

    /// `embedded`, `mongo-s3` or `mongo-azure`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "embedded" => Ok(BenchBackend::Embedded),
            "mongo-s3" => Ok(BenchBackend::MongoS3),
            "mongo-azure" => Ok(BenchBackend::MongoAzure),
            _ => Err(format!(
                "unknown backend '{s}' (use one of: {})",
                BenchBackend::NAMES.join(", ")
            )),
        }
    }
}

impl BenchBackend {
    /// The names [`FromStr`](std::str::FromStr) accepts.
    pub const NAMES: [&'static str; 3] = ["embedded", "mongo-s3", "mongo-azure"];

    /// The backend as the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            BenchBackend::Embedded => "embedded (SQLite + local files)",
            BenchBackend::MongoS3 => "MongoDB + S3",
            BenchBackend::MongoAzure => "MongoDB + Azure Blob",
        }
    }

    /// Concurrency of the raw floor and of the measured write phases (`create`, `update`,
    /// `enrich`): one writer on SQLite, sixteen against the servers.
    pub fn concurrency(self) -> usize {
        match self {
            BenchBackend::Embedded => 1,
            _ => 16,
        }
    }

    /// Concurrency of the (unmeasured) fills that grow collections.
    pub(crate) fn fill_concurrency(self) -> usize {
        match self {
            BenchBackend::Embedded => 8,
            _ => 32,
        }
    }

    /// How durable an acknowledged write is under `durability`, for report headers.
    pub(crate) fn durability_note(self, durability: Durability) -> &'static str {
        match (self, durability) {
            (BenchBackend::Embedded, Durability::PowerLoss) => {
                "durability powerLoss (fsync of each object, its directories and the SQLite log)"
            }
            (BenchBackend::Embedded, Durability::ProcessCrash) => {
                "durability processCrash (no fsync: writes survive a crash of the process, not of the machine)"
            }
            _ => "durability as MongoDB and the object store acknowledge it (config.durability applies to local disks only)",
        }
    }

    /// The configuration of a run: the backend under `dir` (embedded) or on the test
    /// servers in a namespace of its own, with `durability` and the bench collections
    /// `collections` indexed on the generated items' properties.
    pub(crate) fn config(
        self,
        dir: &Path,
        durability: Durability,
        collections: &[&str],
    ) -> Result<ChronosConfig, Error> {
        let mut cfg = match self {
            BenchBackend::Embedded => ChronosConfig::embedded(dir),
            _ => self.remote_config()?,
        };
        cfg.durability = durability;
        for name in collections {
            cfg.collection_maps.insert(
                (*name).to_string(),
                CollectionMap {
                    indexed_props: INDEXED.iter().map(|p| (*p).to_string()).collect(),
                    ..Default::default()
                },
            );
        }
        Ok(cfg)
    }

    fn remote_config(self) -> Result<ChronosConfig, Error> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| format!("{name} is not set: start the servers with scripts/test-servers.sh start and eval \"$(scripts/test-servers.sh env)\""))
        };
        let space = match self {
            BenchBackend::MongoS3 => {
                json!({"provider": "s3", "endpoint": var("CHRONOS_TEST_S3_ENDPOINT")?, "region": "us-east-1",
                "accessKey": var("CHRONOS_TEST_S3_ACCESS_KEY")?, "secretKey": var("CHRONOS_TEST_S3_SECRET_KEY")?})
            }
            _ => json!({"provider": "azure", "endpoint": var("CHRONOS_TEST_AZURE_ENDPOINT")?,
                "accessKey": var("CHRONOS_TEST_AZURE_ACCOUNT")?, "secretKey": var("CHRONOS_TEST_AZURE_KEY")?}),
        };
        let ns = format!("bench{}", run_suffix());
        let cfg = json!({
            "dbConnections": {"m": {"mongoUri": var("CHRONOS_TEST_MONGO_URI")?}},
            "spacesConnections": {"s": space},
            "databases": {"runtime": {"tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": REMOTE_BUCKET,
                "prefix": format!("{ns}/{{tenantId}}"), "dbName": format!("{ns}_{{tenantId}}")}}}
        });
        Ok(ChronosConfig::from_json_value(cfg)?)
    }
}

/// The route of a bench collection: tenant `bench` of the runtime database.
pub(crate) fn route(collection: &str) -> Result<Route, Error> {
    Ok(Route::tenant(DatabaseType::Runtime, "bench", collection)?)
}

/// The bucket (container) of the test servers.
pub(crate) const REMOTE_BUCKET: &str = "chronos-test";

/// A short suffix unique to this run (the random tail of a generated id), so runs against
/// shared servers never meet.
pub(crate) fn run_suffix() -> String {
    let id = chronos_db::names::generate_id();
    let tail = id.len().saturating_sub(10);
    id.get(tail..).unwrap_or(&id).to_string()
}
