//! Reads on MongoDB create nothing: a read of a tenant, tier or collection nobody wrote
//! leaves no database, collection or index behind (a read-only caller must not be able to
//! create databases without bound). Needs the test MongoDB of `scripts/test-servers.sh`
//! (skipped without it, failed under CI).

mod common;

use chronos_db::config::ChronosConfig;
use chronos_db::{Chronos, DatabaseType, ListOptions, ReadOptions, Route, Timestamp};
use serde_json::json;

#[tokio::test]
async fn reads_of_nothing_create_no_database() {
    let Some([uri]) = common::servers(["CHRONOS_TEST_MONGO_URI"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("r{}", &chronos_db::names::generate_id()[14..]);
    let entry = |db: String| json!({"dbConnRef": "m", "spaceConnRef": "s", "bucket": "objects", "dbName": db, "prefix": db});
    let cfg = ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"mongoUri": &uri, "timeoutMs": 5000}},
        "spacesConnections": {"s": {"provider": "local", "basePath": dir.path().join("objects")}},
        "databases": {
            "runtime": {"tenantTemplate": entry(format!("{ns}_rt_{{tenantId}}"))},
            "knowledge": {"domainTemplate": entry(format!("{ns}_kd_{{domain}}")),
                          "genericDatabase": entry(format!("{ns}_kg"))},
        }
    }))
    .unwrap();
    let chronos = Chronos::open(cfg).await.unwrap();
    let all = ReadOptions {
        include_deleted: true,
        ..Default::default()
    };
    let routes = [
        Route::tenant(DatabaseType::Runtime, "ghost", "users").unwrap(),
        Route::domain(DatabaseType::Knowledge, "ghost", "kb").unwrap(),
    ];
    for route in routes {
        let c = chronos.with(route).unwrap();
        assert!(c.get_latest("x", all.clone()).await.unwrap().is_none());
        assert!(c.get_version("x", 2, all.clone()).await.unwrap().is_none());
        assert!(c
            .get_as_of("x", Timestamp::now(), all.clone())
            .await
            .unwrap()
            .is_none());
        assert!(c
            .list_by_meta(ListOptions::default())
            .await
            .unwrap()
            .items
            .is_empty());
        assert!(
            c.history("x", Default::default())
                .await
                .is_err_and(|e| e.code() == "NOT_FOUND")
                || c.history("x", Default::default())
                    .await
                    .is_ok_and(|p| p.versions.is_empty())
        );
    }
    let found = chronos
        .get_knowledge(
            "kb",
            json!({}),
            chronos_db::tiered::TieredOptions {
                domain: Some("ghost".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(found.tiers_found.is_empty());

    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let names = client.list_database_names().await.unwrap();
    let ours: Vec<_> = names.iter().filter(|n| n.starts_with(&ns)).collect();
    assert!(ours.is_empty(), "reads created databases: {ours:?}");
    assert!(
        !dir.path().join("objects").exists(),
        "reads created directories"
    );
}
