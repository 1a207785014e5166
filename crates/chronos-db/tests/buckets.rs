//! `Chronos::bucket_states` (`chronos admin buckets`): real HeadBucket / CreateBucket calls
//! against the servers of `scripts/test-servers.sh` (s3s-fs, Azurite), and the local provider.
//!
//! The server cases need `eval "$(bash scripts/test-servers.sh env)"`; without the variables
//! they are skipped with a printed reason, and fail under `CI=true`.

mod common;

use chronos_db::admin::{BucketState, BucketStatus};
use chronos_db::config::{ChronosConfig, Provider};
use chronos_db::Chronos;
use serde_json::{json, Value};

/// A bucket name no other run uses.
fn unique_bucket() -> String {
    format!("chronos-b-{:016x}", rand::random::<u64>())
}

/// An instance whose logs database lists `refs` as its payload connections, with `bucket`.
async fn open(spaces: Value, refs: Value, bucket: &str, dir: &std::path::Path) -> Chronos {
    open_with(spaces, refs, bucket, dir, json!({})).await
}

async fn open_with(
    spaces: Value,
    refs: Value,
    bucket: &str,
    dir: &std::path::Path,
    extra: Value,
) -> Chronos {
    let mut doc = json!({
        "dbConnections": {"m": {"sqliteDir": dir.join("meta")}},
        "spacesConnections": spaces,
        "databases": {"logs": {"dbConnRef": "m", "spaceConnRef": refs, "bucket": bucket, "dbName": "logs"}}
    });
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    let cfg = ChronosConfig::from_json_value(doc).expect("config");
    Chronos::open(cfg).await.expect("open")
}

fn only(states: &[BucketState]) -> &BucketState {
    assert_eq!(states.len(), 1, "{states:#?}");
    &states[0]
}

/// missing (check) → created (create) → exists (check, and create again).
async fn lifecycle(chronos: &Chronos, provider: Provider) {
    let s = chronos.bucket_states(false).await;
    let b = only(&s);
    assert_eq!(b.provider, provider, "{b:?}");
    assert_eq!(b.state, BucketStatus::Missing, "{b:?}");

    let s = chronos.bucket_states(true).await;
    assert_eq!(only(&s).state, BucketStatus::Created, "{s:?}");

    let s = chronos.bucket_states(false).await;
    assert_eq!(only(&s).state, BucketStatus::Exists, "{s:?}");
    // Creating an existing bucket is not an error.
    let s = chronos.bucket_states(true).await;
    assert_eq!(only(&s).state, BucketStatus::Exists, "{s:?}");
}

// ------------------------------------------------------------------------------ local ---

#[tokio::test]
async fn local_bucket_missing_created_exists() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("objects");
    let bucket = unique_bucket();
    let chronos = open(
        json!({"files": {"provider": "local", "basePath": base}}),
        json!("files"),
        &bucket,
        dir.path(),
    )
    .await;
    lifecycle(&chronos, Provider::Local).await;
    assert!(base.join(&bucket).is_dir());
}

#[tokio::test]
async fn local_bucket_that_is_a_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = unique_bucket();
    std::fs::write(dir.path().join(&bucket), b"x").unwrap();
    let chronos = open(
        json!({"files": {"provider": "local", "basePath": dir.path()}}),
        json!("files"),
        &bucket,
        dir.path(),
    )
    .await;
    for create in [false, true] {
        let s = chronos.bucket_states(create).await;
        let b = only(&s);
        assert_eq!(b.state, BucketStatus::Error, "{b:?}");
        assert!(b.message.contains("not a directory"), "{b:?}");
    }
}

#[tokio::test]
async fn every_reference_and_template_is_listed_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let cfg = ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"sqliteDir": dir.path().join("meta")}},
        "spacesConnections": {
            "a": {"provider": "local", "basePath": a},
            "b": {"provider": "local", "basePath": b},
            "g": {"provider": "gcs"},
            "mem": {"provider": "memory"}
        },
        "databases": {
            "metadata": {
                "genericDatabase": {"dbConnRef": "m", "spaceConnRef": ["a", "b"], "bucket": "shared", "dbName": "g"},
                "tenantDatabases": [
                    {"tenantId": "t1", "dbConnRef": "m", "spaceConnRef": "a", "bucket": "shared", "dbName": "t1"},
                    {"tenantId": "t2", "dbConnRef": "m", "spaceConnRef": ["g", "mem"], "bucket": "other", "dbName": "t2"}
                ],
                "domainTemplate": {"dbConnRef": "m", "spaceConnRef": "a", "bucket": "chronos-{databaseType}", "prefix": "d/{domain}", "dbName": "d_{domain}"},
                "tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "b", "bucket": "t-{tenantId}", "dbName": "t_{tenantId}"}
            },
            "runtime": {
                "tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "a", "bucket": "chronos-{databaseType}", "prefix": "r/{tenantId}", "dbName": "r_{tenantId}"}
            }
        }
    }))
    .expect("config");
    let chronos = Chronos::open(cfg).await.unwrap();
    let s = chronos.bucket_states(true).await;
    let got: Vec<(&str, &str, BucketStatus)> = s
        .iter()
        .map(|b| (b.connection.as_str(), b.bucket.as_str(), b.state))
        .collect();
    assert_eq!(
        got,
        [
            ("a", "shared", BucketStatus::Created),
            ("b", "shared", BucketStatus::Created),
            ("g", "other", BucketStatus::Error),
            ("mem", "other", BucketStatus::Error),
            ("a", "chronos-metadata", BucketStatus::Created),
            ("b", "t-{tenantId}", BucketStatus::Skipped),
            ("a", "chronos-runtime", BucketStatus::Created),
        ],
        "{s:#?}"
    );
    for b in s.iter().filter(|b| b.state == BucketStatus::Error) {
        assert!(b.message.contains("not supported"), "{b:?}");
    }
    assert!(a.join("shared").is_dir() && b.join("shared").is_dir());
    assert!(a.join("chronos-runtime").is_dir());
    // The JSON form.
    let v = serde_json::to_value(&s[5]).unwrap();
    assert_eq!(v["state"], "skipped");
    assert_eq!(v["provider"], "local");
    assert_eq!(v["connection"], "b");
    assert!(v["message"].is_string());
}

#[tokio::test]
async fn local_storage_override_uses_directories() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("local");
    let bucket = unique_bucket();
    // The S3 connection is never contacted: localStorage puts every bucket on disk.
    let chronos = open_with(
        json!({"s3": {"provider": "s3", "endpoint": "http://127.0.0.1:1", "accessKey": "k", "secretKey": "s"}}),
        json!("s3"),
        &bucket,
        dir.path(),
        json!({"localStorage": {"basePath": base, "enabled": true}}),
    )
    .await;
    lifecycle(&chronos, Provider::Local).await;
    assert!(base.join(&bucket).is_dir());
}

// --------------------------------------------------------------------------------- S3 ---

const S3_VARS: [&str; 4] = [
    "CHRONOS_TEST_S3_ENDPOINT",
    "CHRONOS_TEST_S3_ACCESS_KEY",
    "CHRONOS_TEST_S3_SECRET_KEY",
    "CHRONOS_TEST_S3_REGION",
];

fn s3_conn(v: &[String], secret: &str) -> Value {
    json!({"provider": "s3", "endpoint": v[0], "accessKey": v[1], "secretKey": secret,
           "region": v[3], "timeoutMs": 10000})
}

#[tokio::test]
async fn s3_bucket_missing_created_exists() {
    let Some(v) = common::servers(S3_VARS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let chronos = open(
        json!({"s3": s3_conn(&v, &v[2])}),
        json!("s3"),
        &unique_bucket(),
        dir.path(),
    )
    .await;
    lifecycle(&chronos, Provider::S3).await;
}

#[tokio::test]
async fn s3_wrong_secret_is_an_error_without_the_secret() {
    let Some(v) = common::servers(S3_VARS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bucket = unique_bucket();
    let wrong = format!("wrong-secret-{:x}", rand::random::<u64>());
    // One bucket that exists (made with the right secret) and one that does not: the wrong
    // secret must be an error either way, never "missing" or "exists".
    let good = open(
        json!({"s3": s3_conn(&v, &v[2])}),
        json!("s3"),
        &bucket,
        dir.path(),
    )
    .await;
    assert_eq!(
        only(&good.bucket_states(true).await).state,
        BucketStatus::Created
    );
    for b in [bucket, unique_bucket()] {
        let chronos = open(
            json!({"s3": s3_conn(&v, &wrong)}),
            json!("s3"),
            &b,
            dir.path(),
        )
        .await;
        for create in [false, true] {
            let s = chronos.bucket_states(create).await;
            let st = only(&s);
            assert_eq!(st.state, BucketStatus::Error, "{st:?}");
            assert!(st.message.contains("access denied"), "{st:?}");
            assert!(!st.message.contains(&wrong), "{st:?}");
            assert!(
                !serde_json::to_string(&s).unwrap().contains(&wrong),
                "{s:?}"
            );
        }
    }
}

// ------------------------------------------------------------------------------ Azure ---

const AZURE_VARS: [&str; 3] = [
    "CHRONOS_TEST_AZURE_ENDPOINT",
    "CHRONOS_TEST_AZURE_ACCOUNT",
    "CHRONOS_TEST_AZURE_KEY",
];

fn azure_conn(v: &[String], key: &str) -> Value {
    json!({"provider": "azure", "endpoint": v[0], "accessKey": v[1], "secretKey": key,
           "timeoutMs": 10000})
}

#[tokio::test]
async fn azure_container_missing_created_exists() {
    let Some(v) = common::servers(AZURE_VARS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let chronos = open(
        json!({"az": azure_conn(&v, &v[2])}),
        json!("az"),
        &unique_bucket(),
        dir.path(),
    )
    .await;
    lifecycle(&chronos, Provider::Azure).await;
}

#[tokio::test]
async fn azure_wrong_key_is_an_error_without_the_key() {
    let Some(v) = common::servers(AZURE_VARS) else {
        return;
    };
    use base64::Engine;
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>().as_slice());
    let dir = tempfile::tempdir().unwrap();
    let chronos = open(
        json!({"az": azure_conn(&v, &wrong)}),
        json!("az"),
        &unique_bucket(),
        dir.path(),
    )
    .await;
    for create in [false, true] {
        let s = chronos.bucket_states(create).await;
        let st = only(&s);
        assert_eq!(st.state, BucketStatus::Error, "{st:?}");
        assert!(st.message.contains("access denied"), "{st:?}");
        assert!(
            !serde_json::to_string(&s).unwrap().contains(&wrong),
            "{s:?}"
        );
    }
    // A key that is not base64 at all is a configuration error, without the key.
    let e = ChronosConfig::from_json_value(
        json!({"spacesConnections": {"az": azure_conn(&v, "not a key!")}}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("$.spacesConnections.az.secretKey: must be the storage account key, in base64"),
        "{e}"
    );
    assert!(!e.contains("not a key!"), "{e}");
}

/// A TCP relay on an ephemeral 127.0.0.1 port in front of `target`, counting connections.
async fn relay(
    target: std::net::SocketAddr,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (port, count)
}

/// The Azure endpoint's port is the configured one for every call (writes, reads, presigned
/// URLs, container creation), not object_store's fixed emulator address: Azurite is reached
/// here only through a relay on another port.
#[tokio::test]
async fn azure_uses_the_configured_endpoint_port() {
    let Some(v) = common::servers(AZURE_VARS) else {
        return;
    };
    let url = reqwest::Url::parse(&v[0]).unwrap();
    let target = url.socket_addrs(|| None).unwrap()[0];
    let (port, connections) = relay(target).await;
    let mut via_relay = v.clone();
    via_relay[0] = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let bucket = unique_bucket();
    let chronos = open(
        json!({"az": azure_conn(&via_relay, &v[2])}),
        json!("az"),
        &bucket,
        dir.path(),
    )
    .await;
    assert_eq!(
        only(&chronos.bucket_states(true).await).state,
        BucketStatus::Created
    );
    let c = chronos
        .with(chronos_db::Route::generic(chronos_db::DatabaseType::Logs, "events").unwrap())
        .unwrap();
    let before = connections.load(std::sync::atomic::Ordering::SeqCst);
    let r = c
        .create(json!({"n": 1}), "t", "r", Default::default())
        .await
        .unwrap();
    let after_write = connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!(after_write > before, "the write went around the relay");
    let read = c
        .get_latest(
            &r.id,
            chronos_db::ReadOptions {
                presign: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    let link = read.presigned.expect("presigned urls").item_url;
    assert!(link.contains(&format!(":{port}/")), "{link}");
    let body = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(body.contains("\"n\":1"), "{body}");
}
