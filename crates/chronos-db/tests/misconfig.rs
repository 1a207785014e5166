//! Misconfiguration and unreachable backends: clear, typed errors within a bounded time, and
//! no credential in any message.

mod common;

use chronos_db::config::ChronosConfig;
use chronos_db::{Chronos, Collection, DatabaseType, Error, Route};
use serde_json::json;
use std::time::{Duration, Instant};

const SECRET: &str = "SuperSecretKey-DoNotLeak-123";

fn config(space: serde_json::Value, dir: &std::path::Path) -> ChronosConfig {
    ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"sqliteDir": dir.join("meta")}},
        "spacesConnections": {"s": space},
        "databases": {"runtime": {"tenantDatabases": [
            {"tenantId": "t1", "dbConnRef": "m", "spaceConnRef": "s", "bucket": "chronos-test", "dbName": "rt_t1"}]}}
    }))
    .expect("config")
}

/// The test MongoDB (FerretDB of `scripts/test-servers.sh`); `None`, after saying why, when
/// it is not configured (required under CI).
fn test_mongo_uri() -> Option<String> {
    common::servers(["CHRONOS_TEST_MONGO_URI"]).map(|[uri]| uri)
}

/// The collection every test writes to.
fn users(chronos: &Chronos) -> Collection {
    chronos
        .with(Route::tenant(DatabaseType::Runtime, "t1", "users").unwrap())
        .unwrap()
}

/// A create that must fail; its error.
async fn refused_create(c: &Collection) -> Error {
    c.create(json!({"a": 1}), "a", "r", Default::default())
        .await
        .unwrap_err()
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

#[tokio::test]
async fn unreachable_s3_fails_fast_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let cfg = config(
        json!({"provider": "s3", "endpoint": endpoint, "region": "us-east-1", "accessKey": "AKIDEXAMPLE", "secretKey": SECRET, "timeoutMs": 2000, "maxRetries": 1}),
        dir.path(),
    );
    let chronos = Chronos::open(cfg).await.unwrap();
    let c = users(&chronos);
    let start = Instant::now();
    let e = refused_create(&c).await;
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "bounded: {:?}",
        start.elapsed()
    );
    assert!(matches!(e, Error::Payload(_)), "{e}");
    assert!(!e.to_string().contains(SECRET), "{e}");
    // Nothing was committed.
    assert!(c
        .list_by_meta(Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let checks = chronos.check_connections().await;
    let payload = checks.iter().find(|c| c.kind == "payload").unwrap();
    assert!(!payload.ok);
    assert!(!payload.message.contains(SECRET), "{}", payload.message);
    assert!(checks.iter().any(|c| c.kind == "metadata" && c.ok));
}

#[tokio::test]
async fn an_endpoint_that_is_not_s3_is_an_error() {
    // A plain HTTP server that answers every request with a 200 HTML page.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for _ in 0..50 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 65536];
            let _ = sock.read(&mut buf).await;
            let body = "<html>not an object store</html>";
            let resp = format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        json!({"provider": "s3", "endpoint": format!("http://127.0.0.1:{port}"), "region": "us-east-1", "accessKey": "AKIDEXAMPLE", "secretKey": SECRET, "timeoutMs": 2000, "maxRetries": 0}),
        dir.path(),
    );
    let chronos = Chronos::open(cfg).await.unwrap();
    let checks = chronos.check_connections().await;
    let payload = checks.iter().find(|c| c.kind == "payload").unwrap();
    assert!(
        !payload.ok,
        "a listing from a non-S3 endpoint must not pass: {payload:?}"
    );
    assert!(!payload.message.contains(SECRET));
    server.abort();
}

#[tokio::test]
async fn config_errors_redact_nothing_they_should_not_print() {
    let e = ChronosConfig::from_json_str(&format!(
        r#"{{"spacesConnections": {{"s": {{"provider": "s3", "endpoint": "ftp://x", "accessKey": "a", "secretKey": "{SECRET}"}}}}}}"#
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("$.spacesConnections.s.endpoint"), "{e}");
    assert!(!e.contains(SECRET), "{e}");
}

#[tokio::test]
async fn wrong_s3_credentials_are_reported_without_the_secret() {
    let Some([endpoint]) = common::servers(["CHRONOS_TEST_S3_ENDPOINT"]) else {
        return;
    };
    let access = std::env::var("CHRONOS_TEST_S3_ACCESS_KEY").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        json!({"provider": "s3", "endpoint": endpoint, "region": "us-east-1", "accessKey": access, "secretKey": SECRET, "timeoutMs": 5000, "maxRetries": 0}),
        dir.path(),
    );
    let chronos = Chronos::open(cfg).await.unwrap();
    let c = users(&chronos);
    let e = refused_create(&c).await;
    assert!(matches!(e, Error::Payload(_)), "{e}");
    let text = e.to_string();
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        text.to_lowercase().contains("signature")
            || text.contains("403")
            || text.to_lowercase().contains("denied"),
        "{text}"
    );
    let checks = chronos.check_connections().await;
    assert!(checks
        .iter()
        .any(|c| c.kind == "payload" && !c.ok && !c.message.contains(SECRET)));
}

#[tokio::test]
async fn unreachable_mongodb_fails_within_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!(
        "mongodb://chronos:{SECRET}@127.0.0.1:{}/?directConnection=true",
        closed_port()
    );
    let cfg = ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"mongoUri": uri, "timeoutMs": 1500}},
        "spacesConnections": {"s": {"provider": "local", "basePath": dir.path().join("objects")}},
        "databases": {"runtime": {"tenantDatabases": [
            {"tenantId": "t1", "dbConnRef": "m", "spaceConnRef": "s", "bucket": "chronos-test", "dbName": "rt_t1"}]}}
    }))
    .unwrap();
    let chronos = Chronos::open(cfg)
        .await
        .expect("opening does not need the server");
    let c = users(&chronos);
    let start = Instant::now();
    let e = refused_create(&c).await;
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "bounded: {:?}",
        start.elapsed()
    );
    assert!(
        matches!(
            e,
            Error::Metadata(chronos_db::meta::MetaError::Unavailable(_))
        ),
        "{e}"
    );
    assert!(!e.to_string().contains(SECRET), "{e}");
    let checks = chronos.check_connections().await;
    let meta = checks.iter().find(|c| c.kind == "metadata").unwrap();
    assert!(!meta.ok, "{meta:?}");
    assert!(!meta.message.contains(SECRET), "{}", meta.message);
    // A malformed URI is a configuration error, reported with its path.
    let e = ChronosConfig::from_json_value(
        json!({"dbConnections": {"m": {"mongoUri": "postgres://x"}}}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("$.dbConnections.m.mongoUri"), "{e}");
}

#[tokio::test]
async fn mongodb_check_reports_transaction_support() {
    let Some(uri) = test_mongo_uri() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"mongoUri": uri}},
        "spacesConnections": {"s": {"provider": "local", "basePath": dir.path().join("objects")}},
        "databases": {"runtime": {"tenantDatabases": [
            {"tenantId": "t1", "dbConnRef": "m", "spaceConnRef": "s", "bucket": "chronos-test", "dbName": "check_t1"}]}}
    }))
    .unwrap();
    let chronos = Chronos::open(cfg).await.unwrap();
    // FerretDB answers `hello` as a standalone server: no multi-document transactions.
    assert_eq!(chronos.transaction_support("m").await.unwrap(), None);
    let checks = chronos.check_connections().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    let meta = checks.iter().find(|c| c.kind == "metadata").unwrap();
    assert!(meta.message.contains("standalone"), "{}", meta.message);
}

/// `transactions: {enabled: true, autoDetect: false}` against a server without transactions
/// (FerretDB): `config check --connect` reports it as a metadata error naming the setting,
/// and a write fails with the same advice instead of running without a transaction.
#[tokio::test]
async fn forced_transactions_on_a_standalone_server_are_reported() {
    let Some(uri) = test_mongo_uri() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("forced_txn_{:08x}", rand::random::<u32>());
    let cfg = ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"mongoUri": uri}},
        "spacesConnections": {"s": {"provider": "local", "basePath": dir.path().join("objects")}},
        "transactions": {"enabled": true, "autoDetect": false},
        "databases": {"runtime": {"tenantDatabases": [
            {"tenantId": "t1", "dbConnRef": "m", "spaceConnRef": "s", "bucket": "chronos-test", "dbName": db}]}}
    }))
    .unwrap();
    let chronos = Chronos::open(cfg).await.unwrap();
    let checks = chronos.check_connections().await;
    let meta = checks.iter().find(|c| c.kind == "metadata").unwrap();
    assert!(!meta.ok, "{meta:?}");
    assert!(meta.message.contains("autoDetect"), "{}", meta.message);
    let c = users(&chronos);
    let e = refused_create(&c).await;
    assert!(e.to_string().contains("transactions.autoDetect"), "{e}");
    assert!(c
        .get_latest("a", Default::default())
        .await
        .unwrap()
        .is_none());
}
