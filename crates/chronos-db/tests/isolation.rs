//! Isolation between configured databases: names that would let two tenants share a database
//! are configuration errors; a bucket shared by several databases is never swept.

use chronos_db::config::ChronosConfig;
use chronos_db::{Chronos, DatabaseType, Error, Route};
use serde_json::json;
use std::time::Duration;

fn config(dir: &std::path::Path, tenants: serde_json::Value) -> serde_json::Value {
    json!({
        "dbConnections": {"m": {"sqliteDir": dir.join("meta")}},
        "spacesConnections": {"s": {"provider": "local", "basePath": dir.join("objects")}},
        "databases": {"runtime": {"tenantDatabases": tenants,
            "tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "rt-{tenantId}", "dbName": "rt_{tenantId}"}}}
    })
}

#[test]
fn a_listed_database_that_another_tenant_would_get_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        json!([{"tenantId": "acme", "dbConnRef": "m", "spaceConnRef": "s", "bucket": "acme", "dbName": "rt_globex"}]),
    );
    let e = ChronosConfig::from_json_value(cfg).unwrap_err().to_string();
    assert!(
        e.contains("$.databases.runtime.tenantTemplate.dbName")
            || e.contains("$.databases.runtime.tenantDatabases[0].dbName"),
        "{e}"
    );
    assert!(e.contains("tenant 'globex'"), "{e}");
}

#[tokio::test]
async fn the_sweeper_never_runs_on_a_bucket_other_databases_share() {
    let dir = tempfile::tempdir().unwrap();
    let shared = |id: &str| json!({"tenantId": id, "dbConnRef": "m", "spaceConnRef": "s", "bucket": "shared", "dbName": format!("db_{id}")});
    let cfg = ChronosConfig::from_json_value(config(dir.path(), json!([shared("a"), shared("b")])))
        .expect("sharing a bucket between databases is allowed (a shared-infrastructure layout)");
    let chronos = Chronos::open(cfg).await.unwrap();
    let a = chronos
        .with(Route::tenant(DatabaseType::Runtime, "a", "users").unwrap())
        .unwrap();
    let b = chronos
        .with(Route::tenant(DatabaseType::Runtime, "b", "users").unwrap())
        .unwrap();
    a.create(json!({"n": 1}), "t", "r", Default::default())
        .await
        .unwrap();
    let kept = b
        .create(json!({"n": 2}), "t", "r", Default::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for c in [&a, &b] {
        let e = c
            .sweep_orphans(Duration::from_millis(1), false)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{e}");
        assert!(e.to_string().contains("bucket 'shared'"), "{e}");
    }
    // b's object is still there (a's sweep would have taken it for an orphan of a).
    let item = b.get_latest(&kept.id, Default::default()).await.unwrap();
    assert_eq!(item.unwrap().data["n"], 2);
    // A tenant of the template has its own bucket: its sweeper runs.
    let t = chronos
        .with(Route::tenant(DatabaseType::Runtime, "zed", "users").unwrap())
        .unwrap();
    t.create(json!({"n": 3}), "t", "r", Default::default())
        .await
        .unwrap();
    let report = t
        .sweep_orphans(Duration::from_millis(1), true)
        .await
        .unwrap();
    assert!(report.orphan_prefixes.is_empty(), "{report:?}");
}
