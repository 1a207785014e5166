//! Outages in the middle of a write loop: a server is stopped, the loop keeps writing, the
//! server comes back. Every acknowledged write must then be readable with its exact content,
//! no head may point at a missing object, and writes during the outage must report failure.
//!
//! Needs the servers of `scripts/test-servers.sh` (skipped without them, failed under CI).
//! The tests pause shared servers, so they run one at a time.

mod common;

use chronos_db::config::ChronosConfig;
use chronos_db::{Chronos, DatabaseType, ReadOptions, Route};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-servers.sh")
}

fn servers(action: &str, name: &str) {
    let status = std::process::Command::new("bash")
        .arg(script())
        .arg(action)
        .arg(name)
        .status()
        .expect("run test-servers.sh");
    assert!(status.success(), "test-servers.sh {action} {name} failed");
}

/// Runs `n` updates of one item, pausing `server` before update `down_at` and resuming it
/// before `up_at`; checks the guarantees afterwards.
async fn outage_loop(cfg: ChronosConfig, server: &str, n: usize, down_at: usize, up_at: usize) {
    let chronos = Chronos::open(cfg).await.unwrap();
    let c = chronos
        .with(Route::tenant(DatabaseType::Runtime, "tenant-a", "outage").unwrap())
        .unwrap();
    let first = c
        .create(json!({"i": -1}), "t", "r", Default::default())
        .await
        .unwrap();
    let id = first.id.clone();
    let mut acked: BTreeMap<u64, Value> = BTreeMap::from([(0, json!({"i": -1}))]);
    let mut ov = 0;
    let mut failures = Vec::new();
    for i in 0..n {
        if i == down_at {
            servers("pause", server);
        }
        if i == up_at {
            servers("resume", server);
            // Clients rediscover a restarted server on their own schedule: wait until the
            // item reads again before going on.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while c.get_latest(&id, ReadOptions::default()).await.is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{server} did not come back"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
        let content = json!({"i": i, "pad": "x".repeat(i)});
        match c.update(&id, content.clone(), ov, "t", "loop").await {
            Ok(r) => {
                acked.insert(r.ov, content);
                ov = r.ov;
            }
            Err(e) => {
                failures.push(i);
                assert!(
                    matches!(
                        e,
                        chronos_db::Error::Payload(_) | chronos_db::Error::Metadata(_)
                    ),
                    "typed error, got {e}"
                );
                // A failed write whose commit outcome is unknown may still have landed:
                // resynchronise on the head once it is readable again.
                if let Ok(Some(item)) = c.get_latest(&id, ReadOptions::default()).await {
                    if item.system.ov != ov {
                        acked.insert(item.system.ov, Value::Object(item.data.clone()));
                        ov = item.system.ov;
                    }
                }
            }
        }
    }
    assert!(
        failures.iter().any(|i| (down_at..up_at).contains(i)),
        "writes during the outage must fail: {failures:?}"
    );
    assert!(
        failures.iter().all(|i| (down_at..up_at + 2).contains(i)),
        "only writes during the outage fail: {failures:?}"
    );
    for (v, content) in &acked {
        let item = c
            .get_version(&id, *v, ReadOptions::default())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("version {v} missing"));
        assert_eq!(&Value::Object(item.data), content, "version {v}");
    }
    let latest = c
        .get_latest(&id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.system.ov, *acked.keys().next_back().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outage_during_a_write_loop() {
    let _serial = SERIAL.lock().await;
    let Some([endpoint, ak, sk]) = common::servers([
        "CHRONOS_TEST_S3_ENDPOINT",
        "CHRONOS_TEST_S3_ACCESS_KEY",
        "CHRONOS_TEST_S3_SECRET_KEY",
    ]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("o{}", &chronos_db::names::generate_id()[14..]);
    let mut cfg = ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"sqliteDir": dir.path().join("meta")}},
        "spacesConnections": {"s": {"provider": "s3", "endpoint": endpoint, "region": "us-east-1", "accessKey": ak, "secretKey": sk, "timeoutMs": 2000, "maxRetries": 0}},
        "databases": {"runtime": {"tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "chronos-test", "prefix": format!("{ns}/{{tenantId}}"), "dbName": "rt_{tenantId}"}}}
    }))
    .unwrap();
    // Reads must go to object storage, not to the inline copies.
    cfg.dev_shadow.enabled = false;
    outage_loop(cfg, "s3s", 45, 15, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_outage_during_a_write_loop() {
    let _serial = SERIAL.lock().await;
    let Some([uri]) = common::servers(["CHRONOS_TEST_MONGO_URI"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("o{}", &chronos_db::names::generate_id()[14..]);
    let mut cfg = ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"mongoUri": uri, "timeoutMs": 1500}},
        "spacesConnections": {"s": {"provider": "local", "basePath": dir.path().join("objects")}},
        "databases": {"runtime": {"tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "chronos-test", "prefix": format!("{ns}/{{tenantId}}"), "dbName": format!("{ns}_{{tenantId}}")}}}
    }))
    .unwrap();
    cfg.dev_shadow.enabled = false;
    outage_loop(cfg, "ferretdb", 30, 10, 16).await;
}
