//! Backends on real servers (started by `scripts/test-servers.sh`), configured from the
//! `CHRONOS_TEST_*` environment variables. Each test gets its own namespace: database names
//! and key prefixes carry a random tag, so tests never see each other's data.
//!
//! Without the variables a test is skipped with a printed reason — except under CI
//! (`CI=true`), where a missing server is a failure.

use crate::harness::Backend;
use chronos_db::config::ChronosConfig;
use serde_json::json;
use std::any::Any;

/// Which metadata store.
#[derive(Clone, Copy, Debug)]
pub enum Meta {
    Sqlite,
    Mongo,
}

/// Which payload store.
#[derive(Clone, Copy, Debug)]
pub enum Space {
    Local,
    S3,
    Azure,
}

/// A metadata store + payload store combination.
pub struct Servers {
    pub meta: Meta,
    pub space: Space,
}

/// The bucket (container) the test script creates on the S3 and Azure servers.
pub const TEST_BUCKET: &str = "chronos-test";

impl Backend for Servers {
    fn config(&self) -> Option<(ChronosConfig, Box<dyn Any + Send + Sync>)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ns = format!("t{}", &chronos_db::names::generate_id()[14..]);
        let db = match self.meta {
            Meta::Sqlite => json!({"sqliteDir": dir.path().join("meta")}),
            Meta::Mongo => {
                let [uri] = crate::common::servers(["CHRONOS_TEST_MONGO_URI"])?;
                json!({"mongoUri": uri, "timeoutMs": 15000})
            }
        };
        let space = match self.space {
            Space::Local => json!({"provider": "local", "basePath": dir.path().join("objects")}),
            Space::S3 => {
                let [e, k, s] = crate::common::servers([
                    "CHRONOS_TEST_S3_ENDPOINT",
                    "CHRONOS_TEST_S3_ACCESS_KEY",
                    "CHRONOS_TEST_S3_SECRET_KEY",
                ])?;
                let region =
                    std::env::var("CHRONOS_TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into());
                json!({"provider": "s3", "endpoint": e, "region": region, "accessKey": k,
                       "secretKey": s, "forcePathStyle": true, "timeoutMs": 30000})
            }
            Space::Azure => {
                let [e, a, k] = crate::common::servers([
                    "CHRONOS_TEST_AZURE_ENDPOINT",
                    "CHRONOS_TEST_AZURE_ACCOUNT",
                    "CHRONOS_TEST_AZURE_KEY",
                ])?;
                json!({"provider": "azure", "endpoint": e, "accessKey": a, "secretKey": k, "timeoutMs": 30000})
            }
        };
        let entry = |db_name: String, prefix: String| json!({"dbConnRef": "m", "spaceConnRef": "s", "bucket": TEST_BUCKET, "dbName": db_name, "prefix": prefix});
        let cfg = json!({
            "dbConnections": {"m": db},
            "spacesConnections": {"s": space},
            "databases": {
                "runtime": {"tenantTemplate": entry(format!("{ns}_rt_{{tenantId}}"), format!("{ns}/rt/{{tenantId}}"))},
                "knowledge": {
                    "genericDatabase": entry(format!("{ns}_kg"), format!("{ns}/kg")),
                    "domainTemplate": entry(format!("{ns}_kd_{{domain}}"), format!("{ns}/kd/{{domain}}")),
                    "tenantTemplate": entry(format!("{ns}_kt_{{tenantId}}"), format!("{ns}/kt/{{tenantId}}")),
                },
                "logs": entry(format!("{ns}_logs"), format!("{ns}/logs")),
            }
        });
        let cfg = ChronosConfig::from_json_value(cfg).expect("test config");
        Some((cfg, Box::new(dir)))
    }
}
