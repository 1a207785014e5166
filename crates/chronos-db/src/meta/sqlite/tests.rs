//! Unit tests of the SQLite store (the shared contract runs in `contract`).

use super::query::{build_query, Columns};

/// The version columns before request ids were recorded.
const OLD_COLS: &str = "id, ov, cv, op, at, actor, reason, function_id, payload_key, size, sha256, meta, lineage, deleted, content_of";
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

/// A new file gets the crate's page size; a file made with SQLite's default keeps its own
/// and works the same.
#[tokio::test]
async fn new_files_get_the_page_size_old_ones_keep_theirs() {
    use crate::meta::contract::{put, spec};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.sqlite");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t (x);")
        .unwrap();
    let orders = spec("orders", &["status"]);
    for (file, size) in [
        ("new.sqlite", super::connection::PAGE_SIZE),
        ("old.sqlite", 4096),
    ] {
        let store = SqliteStore::open(&dir.path().join(file)).unwrap();
        store.ensure_collection(&orders).await.unwrap();
        put(&store, "orders", "a", &[json!({"status": "open"})], 10).await;
        let got = store
            .run(|c| {
                c.query_row("PRAGMA page_size", [], |r| r.get::<_, u32>(0))
                    .map_err(backend)
            })
            .await
            .unwrap();
        assert_eq!(got, size, "{file}");
        let page = store
            .query(&orders, &open_orders(&orders.index))
            .await
            .unwrap();
        assert_eq!(page.rows.len(), 1, "{file}");
    }
}

/// Compaction gives the space of removed rows back and moves a file of an older page size
/// to the current one; the data reads and takes writes as before, in WAL mode. While
/// another connection has the file open it fails, saying so, and changes nothing.
#[tokio::test]
async fn compaction_gives_space_back_and_takes_the_page_size() {
    use crate::meta::contract::{put, record, spec, write};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t (x);")
        .unwrap();
    let store = SqliteStore::open_with(&path, crate::config::Durability::ProcessCrash).unwrap();
    let orders = spec("orders", &["status"]);
    store.ensure_collection(&orders).await.unwrap();
    for i in 0..300 {
        let mut w = write(
            record(&format!("o{i:03}"), 0, json!({"status": "open"}), 10),
            true,
        );
        w.shadow = Some(format!("{{\"text\":\"{}\"}}", "x".repeat(1_500)));
        store.commit("orders", w).await.unwrap();
    }
    for i in 0..280 {
        store
            .purge_item("orders", &format!("o{i:03}"), 0)
            .await
            .unwrap();
    }
    async fn mode(store: &SqliteStore) -> String {
        store
            .run(|c| {
                c.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                    .map_err(backend)
            })
            .await
            .unwrap()
    }
    let synchronous = || {
        store.run(|c| {
            c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))
                .map_err(backend)
        })
    };
    assert_eq!(synchronous().await.unwrap(), 1, "NORMAL");
    let done = store.compact().await.unwrap().unwrap();
    assert_eq!(synchronous().await.unwrap(), 1, "NORMAL again");
    assert_eq!(done.page_size_before, 4096);
    assert_eq!(done.page_size_after, super::connection::PAGE_SIZE);
    assert!(
        done.bytes_after * 4 < done.bytes_before,
        "{} -> {} bytes",
        done.bytes_before,
        done.bytes_after
    );
    assert_eq!(mode(&store).await, "wal");
    let open = open_orders(&orders.index);
    assert_eq!(store.query(&orders, &open).await.unwrap().rows.len(), 20);
    let head = store.get_head("orders", "o299").await.unwrap().unwrap();
    assert!(head.shadow.unwrap().contains(&"x".repeat(1_500)));
    put(&store, "orders", "later", &[json!({"status": "open"})], 20).await;
    assert_eq!(store.query(&orders, &open).await.unwrap().rows.len(), 21);

    // Another connection has the file open: refused, nothing changed.
    let other = rusqlite::Connection::open(&path).unwrap();
    let _: i64 = other
        .query_row("SELECT COUNT(*) FROM _chronos_collections", [], |r| {
            r.get(0)
        })
        .unwrap();
    let refused = store.compact().await.unwrap_err();
    assert!(matches!(refused, MetaError::Unavailable(_)), "{refused:?}");
    assert!(refused.to_string().contains("in use"), "{refused}");
    assert_eq!(mode(&store).await, "wal");
    assert_eq!(store.query(&orders, &open).await.unwrap().rows.len(), 21);
    drop(other);
    assert!(store.compact().await.unwrap().is_some());
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

/// Latest queries on an indexed property are index seeks, not table scans, whichever
/// columns they select; the pages of the JSON path (the flat form's columns) and of the
/// typed path (those and the writer's) are read from the sort index alone, without a table
/// seek per row, and need no sorting step.
#[tokio::test]
async fn indexed_queries_use_the_expression_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("x.sqlite")).unwrap();
    let spec = CollectionSpec {
        name: "orders".into(),
        index: IndexSpec {
            paths: vec![IndexedPath::parse("status"), IndexedPath::parse("total")],
            excluded: vec![],
        },
    };
    store.ensure_collection(&spec).await.unwrap();
    let parsed = |filter: serde_json::Value, sort: Option<serde_json::Value>| Query {
        filter: Filter::parse(&filter, &spec.index).unwrap(),
        sort: sort
            .map(|s| crate::query::parse_sort(&s, &spec.index).unwrap())
            .unwrap_or_default(),
        limit: DEFAULT_LIMIT,
        after: None,
        as_of: None,
        include_deleted: false,
    };
    // Equality on a string, and a range sorted on its own property (a later page too).
    let equal = open_orders(&spec.index);
    let mut range = parsed(
        serde_json::json!({"total": {"$gte": 10}}),
        Some(serde_json::json!({"total": -1})),
    );
    for (q, index) in [(&equal, "_head_sort_status"), (&range, "_head_sort_total")] {
        let full = query_plan(&store, q, Columns::Full).await;
        assert!(
            full.contains("USING INDEX") && full.contains(index),
            "{full}"
        );
        for columns in [Columns::Flat, Columns::Typed] {
            let plan = query_plan(&store, q, columns).await;
            assert!(
                plan.contains("USING COVERING INDEX") && plan.contains(index),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
    // Later pages, in either direction, are one range of the same index, from the cursor
    // to the filter's far bound.
    let between = serde_json::json!({"total": {"$gte": 10, "$lt": 90}});
    let mut ascending = parsed(between.clone(), Some(serde_json::json!({"total": 1})));
    let mut descending = parsed(between, Some(serde_json::json!({"total": -1})));
    for q in [&mut range, &mut ascending, &mut descending] {
        q.after = Some(crate::query::Cursor {
            values: vec![crate::query::Scalar::Int(50)],
            id: "x".into(),
        });
        for columns in [Columns::Flat, Columns::Typed] {
            let plan = query_plan(&store, q, columns).await;
            assert!(
                plan.contains("USING COVERING INDEX") && plan.contains("_head_sort_total"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
    for q in [&ascending, &descending] {
        let flat = query_plan(&store, q, Columns::Flat).await;
        assert!(flat.contains("(<expr>>? AND <expr><?)"), "{flat}");
    }
    // Comparisons not stated on the sort key (`$in`) keep the value index.
    let any_of = parsed(
        serde_json::json!({"status": {"$in": ["open", "shut"]}}),
        None,
    );
    let plan = query_plan(&store, &any_of, Columns::Flat).await;
    assert!(plan.contains("_head_m_status"), "{plan}");
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

/// A file written by an earlier release keeps its `WITHOUT ROWID` tables until the
/// collection is next opened: they are then moved to the rowid layout in one transaction,
/// and every read answers as before, indexes included.
#[tokio::test]
async fn tables_of_the_earlier_layout_are_moved_on_open() {
    use crate::meta::contract::{put, spec};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    let orders = spec("orders", &["status"]);
    let before = {
        let store = SqliteStore::open(&path).unwrap();
        store.ensure_collection(&orders).await.unwrap();
        put(
            &store,
            "orders",
            "a",
            &[json!({"status": "open"}), json!({"status": "shut"})],
            10,
        )
        .await;
        put(&store, "orders", "b", &[json!({"status": "open"})], 20).await;
        let answers = (
            store.get_head("orders", "a").await.unwrap(),
            store.history("orders", "a", None, 10).await.unwrap(),
        );
        let t = store.table("orders").await.unwrap().unwrap();
        // Rewrite both tables as the earlier release created them (no request ids either).
        store
            .run(move |c| {
                for (table, key) in [(format!("{t}_ver"), "id, ov"), (format!("{t}_head"), "id")] {
                    c.execute_batch(&format!(
                        "CREATE TABLE old_layout ({}, shadow TEXT, PRIMARY KEY ({key})) WITHOUT ROWID;
                         INSERT INTO old_layout SELECT {OLD_COLS}, shadow FROM {table};
                         DROP TABLE {table};
                         ALTER TABLE old_layout RENAME TO {table};",
                        "id TEXT NOT NULL, ov INTEGER NOT NULL, cv INTEGER NOT NULL, op TEXT NOT NULL, at INTEGER NOT NULL,
                         actor TEXT, reason TEXT, function_id TEXT, payload_key TEXT NOT NULL, size INTEGER NOT NULL,
                         sha256 TEXT NOT NULL, meta TEXT NOT NULL, lineage TEXT NOT NULL, deleted INTEGER NOT NULL,
                         content_of INTEGER NOT NULL"
                    ))
                    .map_err(backend)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        answers
    };
    let store = SqliteStore::open(&path).unwrap();
    // Opening the file added the request-id column: reads work before any write.
    assert_eq!(store.get_head("orders", "a").await.unwrap(), before.0);
    let old = table_layouts(&store).await;
    assert_eq!(old.len(), 2);
    assert!(
        old.iter().all(|sql| sql.contains("WITHOUT ROWID")),
        "{old:?}"
    );
    store.ensure_collection(&orders).await.unwrap();
    let new = table_layouts(&store).await;
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(
        new.iter().all(|sql| !sql.contains("WITHOUT ROWID")),
        "{new:?}"
    );
    assert_eq!(store.get_head("orders", "a").await.unwrap(), before.0);
    assert_eq!(
        store.history("orders", "a", None, 10).await.unwrap(),
        before.1
    );
    assert_eq!(store.count_heads("orders", None).await.unwrap(), 2);
    // The unique keys hold again: the same (id, ov) cannot commit twice.
    let again =
        crate::meta::contract::write(crate::meta::contract::record("b", 0, json!({}), 30), true);
    assert!(store.commit("orders", again).await.is_err());
    // The indexes are back: an indexed equality is an index seek.
    let q = open_orders(&orders.index);
    let page = store.query(&orders, &q).await.unwrap();
    assert_eq!(page.rows.len(), 1);
    let plan = query_plan(&store, &q, Columns::Full).await;
    assert!(plan.contains("_head_sort_status"), "{plan}");
    // A second open finds nothing to move.
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    store.ensure_collection(&orders).await.unwrap();
    assert_eq!(store.get_head("orders", "a").await.unwrap(), before.0);
}

/// A file written before the sort indexes covered list pages has narrow `_s_` indexes, and
/// one written by another layout of the page columns has a `_sort_` index of other columns:
/// the next open of the collection replaces either with the current index, and the pages
/// read the same rows before and after.
#[tokio::test]
async fn sort_indexes_of_other_layouts_are_replaced_on_open() {
    use crate::meta::contract::{put, spec};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("narrow.sqlite");
    let orders = spec("orders", &["status"]);
    let store = SqliteStore::open(&path).unwrap();
    store.ensure_collection(&orders).await.unwrap();
    put(&store, "orders", "a", &[json!({"status": "open"})], 10).await;
    put(&store, "orders", "b", &[json!({"status": "shut"})], 20).await;
    let t = store.table("orders").await.unwrap().unwrap();
    let key = super::query::sort_key_expr(&IndexedPath::parse("status"), "meta");
    let hash = hex::encode(sha2_short("status"));
    let q = open_orders(&orders.index);
    let current: Vec<String> = index_names(&store)
        .await
        .into_iter()
        .filter(|n| n.contains("_head_sort_status"))
        .collect();
    assert_eq!(current.len(), 1, "{current:?}");
    for older in [
        format!("{t}_head_s_status_{hash}"),
        format!("{t}_head_sort_status_{hash}_00000000"),
    ] {
        let (stem, drop) = (t.clone(), current[0].clone());
        let key = key.clone();
        let create = older.clone();
        store
            .run(move |c| {
                c.execute_batch(&format!(
                    "DROP INDEX {drop}; CREATE INDEX {create} ON {stem}_head({key}, id);"
                ))
                .map_err(backend)
            })
            .await
            .unwrap();
        let before = store
            .query_flat(&orders, &q, Some(Timestamp(0)))
            .await
            .unwrap();
        assert_eq!(before.rows.len(), 1);
        assert!(!query_plan(&store, &q, Columns::Flat)
            .await
            .contains("COVERING"));
        let store = SqliteStore::open(&path).unwrap();
        store.ensure_collection(&orders).await.unwrap();
        let names = index_names(&store).await;
        assert!(names.contains(&current[0]), "{names:?}");
        assert!(!names.contains(&older), "{names:?}");
        let plan = query_plan(&store, &q, Columns::Flat).await;
        assert!(plan.contains("USING COVERING INDEX"), "{plan}");
        let after = store
            .query_flat(&orders, &q, Some(Timestamp(0)))
            .await
            .unwrap();
        assert_eq!(after.rows.len(), before.rows.len());
        assert_eq!(after.rows[0].id(), "a");
    }
    // Another property whose name extends this one's index name keeps its own index.
    let both = spec("orders", &["status", &format!("status_{hash}_x")]);
    store.ensure_collection(&both).await.unwrap();
    store.ensure_collection(&orders).await.unwrap();
    let sorts = index_names(&store)
        .await
        .into_iter()
        .filter(|n| n.contains("_head_sort_status"))
        .count();
    assert_eq!(sorts, 2);
}

/// The inline content whose flat item the sort indexes hold is bounded in characters, not
/// bytes.
#[tokio::test]
async fn the_page_copy_is_bounded_in_characters() {
    use crate::meta::contract::{record, spec, write};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("copy.sqlite")).unwrap();
    let sp = spec("docs", &["n"]);
    store.ensure_collection(&sp).await.unwrap();
    let limit = super::page_item::PAGE_COPY_MAX_CHARS;
    for (id, chars) in [("at", limit), ("over", limit + 1)] {
        let mut w = write(record(id, 0, json!({"n": 1}), 10), true);
        // `{"v":"…"}`: 8 characters around the text.
        w.shadow = Some(format!("{{\"v\":\"{}\"}}", "é".repeat(chars - 8)));
        store.commit("docs", w).await.unwrap();
    }
    let t = store.table("docs").await.unwrap().unwrap();
    let copied: Vec<String> = store
        .run(move |c| {
            let sql = format!(
                "SELECT id FROM {t}_head WHERE {} IS NOT NULL ORDER BY id",
                super::page_item::page_item("")
            );
            let mut st = c.prepare(&sql).map_err(backend)?;
            let rows = st.query_map([], |r| r.get(0)).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
        .unwrap();
    assert_eq!(copied, ["at"]);
    // Both are listed whole, the second through the page read again with every column.
    let q = Query {
        filter: Filter::parse(&json!({"n": 1}), &sp.index).unwrap(),
        sort: vec![],
        limit: DEFAULT_LIMIT,
        after: None,
        as_of: None,
        include_deleted: false,
    };
    let page = store.query_flat(&sp, &q, Some(Timestamp(0))).await.unwrap();
    assert_eq!(page.rows.len(), 2);
    for row in &page.rows {
        let crate::meta::FlatRow::Flat { json, .. } = row else {
            panic!("not flat: {row:?}")
        };
        assert!(json.get().contains(&"é".repeat(limit - 8)), "{}", row.id());
    }
}

/// Typed pages decode every row from the sort index's copy when each row has one (the
/// writer's columns included), and hand the whole page out stored when one row has none.
#[tokio::test]
async fn typed_pages_decode_rows_from_the_index_copy() {
    use crate::meta::contract::{record, spec, write};
    use crate::meta::ItemRow;
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("typed.sqlite")).unwrap();
    let sp = spec("docs", &["n"]);
    store.ensure_collection(&sp).await.unwrap();
    for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
        let mut v = record(id, 0, json!({"n": i}), 10 + i as i64);
        v.reason = Some(format!("why {id}"));
        store.commit("docs", write(v, true)).await.unwrap();
    }
    let q = |filter: serde_json::Value| Query {
        filter: Filter::parse(&filter, &sp.index).unwrap(),
        sort: crate::query::parse_sort(&json!({"n": 1}), &sp.index).unwrap(),
        limit: DEFAULT_LIMIT,
        after: None,
        as_of: None,
        include_deleted: false,
    };
    let all = q(json!({"n": {"$gte": 0}}));
    let page = store
        .query_items(&sp, &all, Some(Timestamp(0)))
        .await
        .unwrap();
    let got: Vec<(String, Option<String>, Option<String>)> = page
        .rows
        .iter()
        .map(|row| match row {
            ItemRow::Item(item) => (item.id.clone(), item.actor.clone(), item.reason.clone()),
            ItemRow::Stored(_) => panic!("stored: {row:?}"),
        })
        .collect();
    let tester = Some("tester".to_string());
    assert_eq!(
        got,
        [
            ("a".into(), tester.clone(), Some("why a".into())),
            ("b".into(), tester.clone(), Some("why b".into())),
            ("c".into(), tester, Some("why c".into())),
        ]
    );
    let mut large = write(record("d", 0, json!({"n": 3}), 20), true);
    large.shadow = Some(format!("{{\"v\":\"{}\"}}", "x".repeat(3_000)));
    store.commit("docs", large).await.unwrap();
    let page = store
        .query_items(&sp, &all, Some(Timestamp(0)))
        .await
        .unwrap();
    assert_eq!(page.rows.len(), 4);
    assert!(page.rows.iter().all(|r| matches!(r, ItemRow::Stored(_))));
    // Committed before the inline copies are fresh: stored.
    let page = store
        .query_items(&sp, &all, Some(Timestamp(11)))
        .await
        .unwrap();
    assert!(page.rows.iter().all(|r| matches!(r, ItemRow::Stored(_))));
    let fresh = q(json!({"n": {"$gte": 1, "$lt": 3}}));
    let page = store
        .query_items(&sp, &fresh, Some(Timestamp(11)))
        .await
        .unwrap();
    assert_eq!(page.rows.len(), 2);
    assert!(page.rows.iter().all(|r| matches!(r, ItemRow::Item(_))));
    // The writer's columns are copied up to a bound, in characters; no actor is not ''.
    let bound = super::page_item::WRITER_COPY_MAX_CHARS;
    for (id, n, chars) in [("e", 10, bound), ("f", 11, bound + 1)] {
        let mut v = record(id, 0, json!({"n": n}), 30);
        (v.actor, v.reason) = (None, Some("é".repeat(chars)));
        store.commit("docs", write(v, true)).await.unwrap();
    }
    let at_bound = q(json!({"n": 10}));
    let page = store
        .query_items(&sp, &at_bound, Some(Timestamp(0)))
        .await
        .unwrap();
    let [ItemRow::Item(item)] = page.rows.as_slice() else {
        panic!("{:?}", page.rows)
    };
    assert_eq!(
        (item.actor.as_deref(), item.reason.clone()),
        (None, Some("é".repeat(bound)))
    );
    let over = q(json!({"n": {"$gte": 10}}));
    let page = store
        .query_items(&sp, &over, Some(Timestamp(0)))
        .await
        .unwrap();
    assert_eq!(page.rows.len(), 2);
    assert!(page.rows.iter().all(|r| matches!(r, ItemRow::Stored(_))));
}

/// The names of every index in the store's file.
async fn index_names(store: &SqliteStore) -> Vec<String> {
    schema_texts(store, "SELECT name FROM sqlite_schema WHERE type = 'index'").await
}

/// The `CREATE TABLE` text of every collection table in the store's file.
async fn table_layouts(store: &SqliteStore) -> Vec<String> {
    schema_texts(
        store,
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name LIKE 'c%'",
    )
    .await
}

/// The one text column `query` selects from the store's schema, row by row.
async fn schema_texts(store: &SqliteStore, query: &'static str) -> Vec<String> {
    store
        .run(move |c| {
            let mut st = c.prepare(query).map_err(backend)?;
            let rows = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
        .unwrap()
}

/// SQLite's plan for the query on the `orders` collection selecting `columns`, its steps
/// joined by ` | `.
async fn query_plan(store: &SqliteStore, q: &Query, columns: Columns) -> String {
    let t = store.table("orders").await.unwrap().unwrap();
    let sql = build_query(&t, q, columns);
    store
        .run(move |c| {
            let mut st = c
                .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
                .map_err(backend)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(sql.params.iter()), |r| {
                    r.get::<_, String>(3)
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>()
                .map(|v| v.join(" | "))
                .map_err(backend)
        })
        .await
        .unwrap()
}

/// The latest items whose indexed `status` is `"open"`, first page.
fn open_orders(index: &IndexSpec) -> Query {
    Query {
        filter: Filter::parse(&serde_json::json!({"status": "open"}), index).unwrap(),
        sort: vec![],
        limit: DEFAULT_LIMIT,
        after: None,
        as_of: None,
        include_deleted: false,
    }
}
