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

/// The configuration over MongoDB and `space` (`s3` or `azure`) for the queued-outage loop,
/// with the fallback queue on (its journal in `dir`); `None` without the servers.
fn queued_config(space: &str, dir: &std::path::Path) -> Option<ChronosConfig> {
    let [uri] = common::servers(["CHRONOS_TEST_MONGO_URI"])?;
    let space = match space {
        "s3" => {
            let [e, k, s] = common::servers([
                "CHRONOS_TEST_S3_ENDPOINT",
                "CHRONOS_TEST_S3_ACCESS_KEY",
                "CHRONOS_TEST_S3_SECRET_KEY",
            ])?;
            json!({"provider": "s3", "endpoint": e, "region": "us-east-1", "accessKey": k,
                   "secretKey": s, "forcePathStyle": true, "timeoutMs": 2000, "maxRetries": 0})
        }
        _ => {
            let [e, a, k] = common::servers([
                "CHRONOS_TEST_AZURE_ENDPOINT",
                "CHRONOS_TEST_AZURE_ACCOUNT",
                "CHRONOS_TEST_AZURE_KEY",
            ])?;
            json!({"provider": "azure", "endpoint": e, "accessKey": a, "secretKey": k,
                   "timeoutMs": 2000, "maxRetries": 0})
        }
    };
    let ns = format!("q{}", &chronos_db::names::generate_id()[14..]);
    let mut cfg = ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"mongoUri": uri, "timeoutMs": 1500}},
        "spacesConnections": {"s": space},
        "databases": {"runtime": {"tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "chronos-test", "prefix": format!("{ns}/{{tenantId}}"), "dbName": format!("{ns}_{{tenantId}}")}}},
        "fallback": {"enabled": true, "maxRetries": 1000, "retryDelayMs": 100, "maxDelayMs": 1000,
                     "queueDir": dir.join("queue")}
    }))
    .unwrap();
    cfg.dev_shadow.enabled = false;
    Some(cfg)
}

/// 200 updates over 10 items with the fallback queue on; `server` is stopped before write
/// 50 and started again before write 120. Every call must commit or be queued; once the
/// server is back the queue drains, and every item then holds exactly its writes, in order.
async fn queued_outage_loop(cfg: ChronosConfig, server: &str) {
    const ITEMS: usize = 10;
    let chronos = Chronos::open(cfg).await.unwrap();
    let queue = chronos.queue().unwrap();
    let c = chronos
        .with(Route::tenant(DatabaseType::Runtime, "tenant-q", "queued").unwrap())
        .unwrap();
    let mut ids = Vec::new();
    let mut written: Vec<Vec<Value>> = Vec::new();
    for i in 0..ITEMS {
        let first = json!({"item": i, "k": -1});
        let r = c
            .create(first.clone(), "t", "r", Default::default())
            .await
            .unwrap();
        ids.push(r.id);
        written.push(vec![first]);
    }
    let (mut committed, mut queued) = (0, 0);
    for k in 0..200 {
        if k == 50 {
            servers("pause", server);
        }
        if k == 120 {
            servers("resume", server);
        }
        let i = k % ITEMS;
        let content = json!({"item": i, "k": k, "pad": "x".repeat(k)});
        let expected_ov = written[i].len() as u64 - 1;
        match c
            .update(&ids[i], content.clone(), expected_ov, "t", "loop")
            .await
        {
            Ok(r) => {
                assert_eq!(r.ov, expected_ov + 1);
                committed += 1;
            }
            Err(chronos_db::Error::Queued(q)) => {
                assert_eq!(q.id, ids[i]);
                queued += 1;
            }
            Err(e) => panic!("write {k}: every call commits or is queued, got {e}"),
        }
        written[i].push(content);
    }
    assert!(queued >= ITEMS, "the outage queued writes ({queued})");
    assert!(
        committed >= 50,
        "writes before the outage committed ({committed})"
    );
    // The server is back: replay until the queue is empty.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        queue.drain().await.unwrap();
        let stats = queue.stats().await.unwrap();
        assert_eq!(stats.dead, 0, "{:?}", queue.dead(5).await.unwrap());
        if stats.pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queue did not drain: {stats:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let every = ReadOptions {
        include_deleted: true,
        ..Default::default()
    };
    for (i, id) in ids.iter().enumerate() {
        let history = c.history(id, Default::default()).await.unwrap().versions;
        assert_eq!(
            history.len(),
            written[i].len(),
            "item {i}: one version per write"
        );
        for (ov, content) in written[i].iter().enumerate() {
            let v = c
                .get_version(id, ov as u64, every.clone())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("item {i} version {ov} missing"));
            assert_eq!(&Value::Object(v.data), content, "item {i} version {ov}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outage_with_the_fallback_queue() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let Some(cfg) = queued_config("s3", dir.path()) else {
        return;
    };
    queued_outage_loop(cfg, "s3s").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_outage_with_the_fallback_queue() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let Some(cfg) = queued_config("azure", dir.path()) else {
        return;
    };
    queued_outage_loop(cfg, "azurite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_outage_with_the_fallback_queue() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let Some(cfg) = queued_config("s3", dir.path()) else {
        return;
    };
    queued_outage_loop(cfg, "ferretdb").await;
}
