//! Unit tests of the SQLite store (the shared contract runs in `contract`).

use super::query::build_query;
use super::*;
use crate::query::{Filter, IndexedPath};
use crate::query::{IndexSpec, DEFAULT_LIMIT};

mod contract {
    use super::*;
    crate::meta::contract::contract_tests!(async {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store: Arc<dyn MetadataStore> =
            Arc::new(SqliteStore::open(&dir.path().join("contract.sqlite")).expect("a store"));
        Some((store, dir))
    });
}

/// `durability` decides whether every commit syncs the log (FULL = 2) or not (NORMAL = 1).
#[tokio::test]
async fn durability_sets_the_sync_level() {
    let dir = tempfile::tempdir().unwrap();
    for (d, level) in [(Durability::PowerLoss, 2), (Durability::ProcessCrash, 1)] {
        let store = SqliteStore::open_with(&dir.path().join(format!("{level}.sqlite")), d).unwrap();
        let got: i64 = store
            .run(|c| {
                c.query_row("PRAGMA synchronous", [], |r| r.get(0))
                    .map_err(backend)
            })
            .await
            .unwrap();
        assert_eq!(got, level, "{d:?}");
    }
}

/// Reads of a database that does not exist answer "nothing" and create no file; the
/// first write creates it.
#[tokio::test]
async fn reads_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("ghost.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    let spec = CollectionSpec {
        name: "users".into(),
        index: IndexSpec::default(),
    };
    assert!(store.get_head("users", "x").await.unwrap().is_none());
    assert!(store.get_version("users", "x", 0).await.unwrap().is_none());
    assert!(store
        .version_as_of("users", "x", AsOf::Cv(1))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .history("users", "x", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .scan_heads("users", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.count_heads("users", None).await.unwrap(), 0);
    assert_eq!(store.cv_as_of("users", Timestamp::now()).await.unwrap(), 0);
    let everything = Query {
        filter: Filter::parse(&serde_json::json!({}), &spec.index).unwrap(),
        sort: vec![],
        limit: DEFAULT_LIMIT,
        after: None,
        as_of: None,
        include_deleted: true,
    };
    let page = store.query(&spec, &everything).await.unwrap();
    assert!(page.rows.is_empty());
    assert!(!path.exists() && !path.parent().unwrap().exists());
    store.ensure_collection(&spec).await.unwrap();
    assert!(path.exists());
}

/// Latest queries on an indexed property are index seeks, not table scans.
#[tokio::test]
async fn indexed_equality_uses_the_expression_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("x.sqlite")).unwrap();
    let spec = CollectionSpec {
        name: "orders".into(),
        index: IndexSpec {
            paths: vec![IndexedPath::parse("status")],
            excluded: vec![],
        },
    };
    store.ensure_collection(&spec).await.unwrap();
    let filter = Filter::parse(&serde_json::json!({"status": "open"}), &spec.index).unwrap();
    let q = Query {
        filter,
        sort: vec![],
        limit: DEFAULT_LIMIT,
        after: None,
        as_of: None,
        include_deleted: false,
    };
    let t = store.table("orders").await.unwrap().unwrap();
    let sql = build_query(&t, &q);
    let plan: Vec<String> = store
        .run(move |c| {
            let mut st = c
                .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
                .map_err(backend)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(sql.params.iter()), |r| {
                    r.get::<_, String>(3)
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
        .unwrap();
    let plan = plan.join(" | ");
    assert!(
        plan.contains("USING INDEX") && plan.contains("_head_m_status"),
        "{plan}"
    );
}

/// A connection check creates nothing, yet still fails where the first write would.
#[tokio::test]
async fn health_checks_without_creating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("db.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    let note = store.health().await.unwrap().unwrap();
    assert!(note.contains("does not exist yet"), "{note}");
    assert!(!dir.path().join("sub").exists());
    // Under a file, no database can ever be created.
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let blocked = SqliteStore::open(&dir.path().join("file").join("db.sqlite")).unwrap();
    assert!(blocked.health().await.is_err());
    // An existing database is opened and read.
    let spec = CollectionSpec {
        name: "c".into(),
        index: IndexSpec::default(),
    };
    store.ensure_collection(&spec).await.unwrap();
    assert_eq!(store.health().await.unwrap(), None);
}

/// The first operations on a new database may run at once (several requests to a new
/// tenant): each opens the file, and none may fail because another is switching it to WAL
/// or creating its tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_first_opens_wait_for_each_other() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("fresh{round}.sqlite"));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                tokio::spawn(async move {
                    // One store per task, as separate processes or routes would have.
                    let store = SqliteStore::open(&path).unwrap();
                    store
                        .ensure_collection(&crate::meta::contract::spec("c", &["n"]))
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
}
