//! `chronos queue` as an operator runs it: writes queued by one process while object storage
//! is unreachable survive it; worker processes killed with SIGKILL at random moments in the
//! middle of replays never apply a write twice or lose one; the admin commands.
//!
//! Needs the S3 server of `scripts/test-servers.sh` (skipped without it, failed under CI).

use chronos_db::config::ChronosConfig;
use chronos_db::{Chronos, DatabaseType, Error, ReadOptions, Route};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ITEMS: usize = 5;
const WRITES_PER_ITEM: usize = 40;

/// The test servers' variables, or `None` (after saying why) when one is missing outside CI.
fn servers<const N: usize>(vars: [&str; N]) -> Option<[String; N]> {
    let found: Vec<String> = vars.iter().filter_map(|v| std::env::var(v).ok()).collect();
    match <[String; N]>::try_from(found) {
        Ok(all) => Some(all),
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the test servers are required in CI: start them with scripts/test-servers.sh")
        }
        Err(_) => {
            eprintln!("skipped: {vars:?} not set (run scripts/test-servers.sh start)");
            None
        }
    }
}

/// Which stores a killed-worker run uses.
#[derive(Clone, Copy)]
enum Stores {
    SqliteS3,
    MongoS3,
    MongoAzure,
}

/// A configuration over `stores`, with object storage reachable (`up`) or at a port where
/// nothing listens, and the queue on; `None` without the servers.
fn config(stores: Stores, dir: &Path, ns: &str, up: bool) -> Option<Value> {
    let meta = match stores {
        Stores::SqliteS3 => json!({"sqliteDir": dir.join("meta")}),
        Stores::MongoS3 | Stores::MongoAzure => {
            let [uri] = servers(["CHRONOS_TEST_MONGO_URI"])?;
            json!({"mongoUri": uri, "timeoutMs": 15000})
        }
    };
    let space = match stores {
        Stores::SqliteS3 | Stores::MongoS3 => {
            let [e, k, s] = servers([
                "CHRONOS_TEST_S3_ENDPOINT",
                "CHRONOS_TEST_S3_ACCESS_KEY",
                "CHRONOS_TEST_S3_SECRET_KEY",
            ])?;
            let e = if up { e } else { "http://127.0.0.1:1".into() };
            json!({"provider": "s3", "endpoint": e, "region": "us-east-1", "accessKey": k,
                   "secretKey": s, "forcePathStyle": true, "timeoutMs": 5000, "maxRetries": 0})
        }
        Stores::MongoAzure => {
            let [e, a, k] = servers([
                "CHRONOS_TEST_AZURE_ENDPOINT",
                "CHRONOS_TEST_AZURE_ACCOUNT",
                "CHRONOS_TEST_AZURE_KEY",
            ])?;
            let e = if up {
                e
            } else {
                "http://127.0.0.1:1/devstoreaccount1".into()
            };
            json!({"provider": "azure", "endpoint": e, "accessKey": a, "secretKey": k,
                   "timeoutMs": 5000, "maxRetries": 0})
        }
    };
    Some(json!({
        "dbConnections": {"m": meta},
        "spacesConnections": {"s": space},
        "databases": {"runtime": {"tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s",
            "bucket": "chronos-test", "prefix": format!("{ns}/{{tenantId}}"),
            "dbName": format!("{ns}_rt_{{tenantId}}")}}},
        "fallback": {"enabled": true, "maxRetries": 1000, "retryDelayMs": 20, "maxDelayMs": 200,
            "leaseMs": 300, "queueDir": dir.join("queue")}
    }))
}

fn chronos(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chronos"));
    c.arg("--config").arg(config).args(args);
    c
}

/// A pause of 60-460 ms that differs from run to run (no test-only randomness crate).
fn random_pause() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(60 + u64::from(nanos / 7 % 400))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_never_apply_a_write_twice_sqlite_s3() {
    killed_workers(Stores::SqliteS3).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_never_apply_a_write_twice_mongo_s3() {
    killed_workers(Stores::MongoS3).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_never_apply_a_write_twice_mongo_azure() {
    killed_workers(Stores::MongoAzure).await
}

async fn killed_workers(stores: Stores) {
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("k{}", &chronos_db::names::generate_id()[14..]);
    let route = Route::tenant(DatabaseType::Runtime, "tenant-k", "killed").unwrap();

    // 1. Object storage unreachable (nothing listens on port 1): every write is queued.
    let Some(down) = config(stores, dir.path(), &ns, false) else {
        return;
    };
    {
        let chronos = Chronos::open(ChronosConfig::from_json_value(down).unwrap())
            .await
            .unwrap();
        let c = chronos.with(route.clone()).unwrap();
        for i in 0..ITEMS {
            let id = format!("item-{i}");
            let opts = chronos_db::CreateOptions {
                id: Some(id.clone()),
                ..Default::default()
            };
            let e = c
                .create(json!({"item": i, "k": 0}), "t", "r", opts)
                .await
                .unwrap_err();
            assert!(matches!(e, Error::Queued(_)), "{e}");
            for k in 1..WRITES_PER_ITEM {
                let e = c
                    .update(&id, json!({"item": i, "k": k}), k as u64 - 1, "t", "r")
                    .await
                    .unwrap_err();
                assert!(matches!(e, Error::Queued(_)), "{e}");
            }
        }
        let stats = chronos.queue().unwrap().stats().await.unwrap();
        assert_eq!(stats.pending as usize, ITEMS * WRITES_PER_ITEM);
    } // The process that queued them is gone; the journal stays.

    // 2. Storage is back. Workers are killed (SIGKILL) at random moments, 20 times.
    let up = dir.path().join("up.json");
    let Some(up_config) = config(stores, dir.path(), &ns, true) else {
        return;
    };
    std::fs::write(&up, up_config.to_string()).unwrap();
    let stats_of = |path: &Path| {
        let out = chronos(path, &["queue", "stats"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    for _ in 0..20 {
        let mut worker = chronos(&up, &["queue", "work"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(random_pause());
        worker.kill().unwrap();
        worker.wait().unwrap();
    }
    let left = stats_of(&up)["pending"].as_u64().unwrap();
    eprintln!("after 20 killed workers, {left} of 200 writes still queued");

    // 3. One last worker drains what is left (a killed worker's lease runs out first).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = chronos(&up, &["queue", "drain"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stats = stats_of(&up);
        assert_eq!(stats["dead"], 0, "{stats}");
        if stats["pending"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue did not drain: {stats}"
        );
        std::thread::sleep(Duration::from_millis(350));
    }

    // 4. Every write exactly once, in order.
    let text = std::fs::read_to_string(&up).unwrap();
    let chronos = Chronos::open(ChronosConfig::from_json_str(&text).unwrap())
        .await
        .unwrap();
    let c = chronos.with(route).unwrap();
    for i in 0..ITEMS {
        let id = format!("item-{i}");
        let versions = c.history(&id, Default::default()).await.unwrap().versions;
        assert_eq!(
            versions.len(),
            WRITES_PER_ITEM,
            "item {i}: one version per write"
        );
        for k in 0..WRITES_PER_ITEM {
            let v = c
                .get_version(&id, k as u64, ReadOptions::default())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("item {i}: version {k} missing"));
            assert_eq!(Value::Object(v.data), json!({"item": i, "k": k}));
        }
    }
}

#[test]
fn queue_admin_commands() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("c.json");
    let mut cfg = serde_json::to_value(ChronosConfig::embedded(dir.path().join("data"))).unwrap();
    cfg["fallback"] = json!({"enabled": true});
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let run = |args: &[&str]| chronos(&cfg_path, args).output().unwrap();

    let out = run(&["queue", "stats"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (stats["pending"].clone(), stats["dead"].clone()),
        (json!(0), json!(0))
    );
    assert!(dir.path().join("data/fallback/queue.sqlite").exists());

    let out = run(&["queue", "retry", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: NOT_FOUND:"));
    let out = run(&["queue", "prune", "--older-than", "7d"]);
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!({"removed": 0})
    );

    // A keyed write, repeated: the first outcome, one version.
    let create = |key: &str| {
        run(&[
            "create",
            "--tenant",
            "t1",
            "--collection",
            "c",
            "--id",
            "x",
            "--data",
            r#"{"a":1}"#,
            "--request-id",
            key,
        ])
    };
    let first = create("req-1");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let again = create("req-1");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(first.stdout, again.stdout);
    let out = create("has space");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: VALIDATION_ERROR:"));

    // Without the queue configured: a clear error.
    let plain = dir.path().join("plain.json");
    std::fs::write(
        &plain,
        serde_json::to_string(&ChronosConfig::embedded(dir.path().join("data2"))).unwrap(),
    )
    .unwrap();
    let out = chronos(&plain, &["queue", "stats"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fallback.enabled"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
