//! The contract every [`MetadataStore`] keeps, as tests that run unchanged on each backend.
//!
//! Each case takes a fresh, empty store; a backend's test module instantiates them all with
//! [`contract_tests!`](crate::meta::contract::contract_tests), giving its own way to open (and
//! clean up) a store. What the cases check is the trait's documented behaviour and the
//! invariants I1–I4 of the parent module; anything specific to one backend's storage (row
//! layouts, repairs) stays in that backend's own tests.

mod capabilities;
pub(crate) use capabilities::*;

use super::{
    CollectionSpec, Expect, FlatRow, ItemRow, MetaError, MetadataStore, QueryPage, VersionAt,
    VersionWrite,
};
use crate::model::{Lineage, Op, StoredVersion, Timestamp, VersionRecord};
use crate::query::{parse_sort, AsOf, Cursor, Filter, IndexSpec, IndexedPath, Query, Scalar};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// Generates one `#[tokio::test]` per contract case. `$open` is an async expression giving
/// `Option<(Arc<dyn MetadataStore>, G)>`: the store and a guard dropped after the case
/// (`None` skips the case, for a backend that is not reachable here).
macro_rules! contract_tests {
    ($open:expr) => {
        $crate::meta::contract::contract_tests!(@cases $open;
            commit_conflict_and_already_exists,
            versions_history_and_time_travel,
            queries_with_operators_sort_and_cursor_pages,
            as_of_queries,
            flat_pages_match_query_pages,
            item_pages_match_query_pages,
            sorted_pages_cross_ties_within_range_bounds,
            versions_come_with_the_erasure_state,
            purge_removes_everything,
            versioning_off_drops_older_versions,
            concurrent_writers_keep_ov_contiguous,
            reads_of_unknown_collections_are_empty,
            head_marks_save_reads_but_never_decide,
            counters_are_exact_and_idempotent,
            committed_versions_in_cv_order,
            results_replace_by_key_and_filter,
            erasure_search_and_scrub,
            data_keys_insert_destroy_and_rewrap,
        );
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some((store, guard)) = $open.await else { return };
                $crate::meta::contract::$case(store).await;
                drop(guard);
            }
        )*
    };
}
pub(crate) use contract_tests;

pub(crate) fn spec(name: &str, paths: &[&str]) -> CollectionSpec {
    CollectionSpec {
        name: name.into(),
        index: IndexSpec {
            paths: paths.iter().map(|p| IndexedPath::parse(p)).collect(),
            excluded: vec![],
        },
    }
}

/// A version record as the operations layer would build it (`cv` is the store's).
pub(crate) fn record(id: &str, ov: u64, meta: Value, at: i64) -> VersionRecord {
    VersionRecord {
        id: id.into(),
        ov,
        cv: 0,
        op: if ov == 0 { Op::Create } else { Op::Update },
        at: Timestamp(at),
        actor: Some("tester".into()),
        reason: None,
        function_id: None,
        payload_key: format!("c/{id}/v{ov}.w/item.json"),
        size: 10,
        sha256: "00".into(),
        indexed: meta.as_object().cloned().unwrap_or_default(),
        lineage: Lineage {
            inserted_at: Some(Timestamp(1_700_000_000_000_000)),
            function_ids: vec!["f1".into()],
            ..Default::default()
        },
        deleted: false,
        content_of: ov,
        request_id: None,
    }
}

/// The write of `v` on top of its predecessor, with an inline shadow naming its ov.
pub(crate) fn write(v: VersionRecord, keep_history: bool) -> VersionWrite {
    let expect = if v.ov == 0 {
        Expect::Absent
    } else {
        Expect::Ov(v.ov - 1)
    };
    VersionWrite {
        shadow: Some(format!("{{\"v\":{}}}", v.ov)),
        version: v,
        expect,
        seen: None,
        keep_history,
    }
}

/// Commits versions 0..=last of an item with `at` = base + ov, returning their cvs.
pub(crate) async fn put(
    s: &dyn MetadataStore,
    coll: &str,
    id: &str,
    metas: &[Value],
    base: i64,
) -> Vec<u64> {
    let mut cvs = Vec::new();
    for (ov, m) in metas.iter().enumerate() {
        let v = record(id, ov as u64, m.clone(), base + ov as i64);
        cvs.push(s.commit(coll, write(v, true)).await.unwrap().cv);
    }
    cvs
}

pub(crate) fn query(
    spec: &CollectionSpec,
    filter: Value,
    sort: Value,
    limit: usize,
    as_of: Option<AsOf>,
) -> Query {
    Query {
        filter: Filter::parse(&filter, &spec.index).unwrap(),
        sort: parse_sort(&sort, &spec.index).unwrap(),
        limit,
        after: None,
        as_of,
        include_deleted: false,
    }
}

pub(crate) fn ids(page: &QueryPage) -> Vec<String> {
    page.rows.iter().map(|h| h.version.id.clone()).collect()
}

/// Follows `next` to the end, checking every page is at most `limit` long.
async fn all_pages(s: &dyn MetadataStore, spec: &CollectionSpec, mut q: Query) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let page = s.query(spec, &q).await.unwrap();
        assert!(page.rows.len() <= q.limit);
        out.extend(ids(&page));
        match page.next {
            Some(c) => {
                // The cursor survives its text form.
                let text = c.encode("test");
                q.after = Some(Cursor::decode(&text, q.sort.len(), "test").unwrap());
            }
            None => return out,
        }
    }
    panic!("pagination does not end: {out:?}");
}

pub(crate) fn now() -> i64 {
    Timestamp::now().micros()
}

async fn ovs(s: &dyn MetadataStore, coll: &str, id: &str) -> Vec<u64> {
    s.history(coll, id, None, 1000)
        .await
        .unwrap()
        .iter()
        .map(|v| v.ov)
        .collect()
}

/// I1 + I2: a commit is all or nothing and only lands on the head it read.
pub(crate) async fn commit_conflict_and_already_exists(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("items", &["status", "n"]);
    s.ensure_collection(&sp).await.unwrap();
    s.ensure_collection(&sp).await.unwrap(); // idempotent
    assert!(s.get_head("items", "a").await.unwrap().is_none());

    let meta = json!({"status": "open", "n": 3, "f": 2.0, "o": {"x.y": 1, "$z": [1, 2.5]}});
    let c0 = s
        .commit("items", write(record("a", 0, meta.clone(), 100), true))
        .await
        .unwrap();
    assert!(c0.dropped.is_empty());
    let again = s
        .commit("items", write(record("a", 0, json!({}), 101), true))
        .await;
    assert_eq!(again, Err(MetaError::AlreadyExists));

    let head = s.get_head("items", "a").await.unwrap().unwrap();
    assert_eq!(head.version.ov, 0);
    assert_eq!(head.version.cv, c0.cv);
    assert_eq!(Value::Object(head.version.indexed.clone()), meta);
    assert!(head.version.indexed["n"].is_i64() && head.version.indexed["f"].is_f64());
    assert_eq!(head.shadow.as_deref(), Some("{\"v\":0}"));
    assert_eq!(head.version, {
        let mut r = record("a", 0, meta.clone(), 100);
        r.cv = c0.cv;
        r
    });

    let c1 = s
        .commit(
            "items",
            write(record("a", 1, json!({"status": "done"}), 200), true),
        )
        .await
        .unwrap();
    assert!(c1.cv > c0.cv);
    // A second writer that also read ov 0 loses.
    let lost = s
        .commit("items", write(record("a", 1, json!({}), 201), true))
        .await;
    assert_eq!(
        lost,
        Err(MetaError::Conflict {
            current_ov: Some(1)
        })
    );
    // Updating an item that does not exist.
    let missing = s
        .commit("items", write(record("zz", 3, json!({}), 1), true))
        .await;
    assert_eq!(missing, Err(MetaError::Conflict { current_ov: None }));
    // The losers left nothing a reader can see.
    assert_eq!(ovs(s, "items", "a").await, [1, 0]);
    let v1 = s.get_version("items", "a", 1).await.unwrap().unwrap();
    assert_eq!(v1.version.indexed["status"], "done");
    assert!(s.get_version("items", "zz", 3).await.unwrap().is_none());
    assert!(ovs(s, "items", "zz").await.is_empty());
    assert_eq!(
        s.get_head("items", "a").await.unwrap().unwrap().version.ov,
        1
    );

    s.commit("items", write(record("b", 0, json!({}), 1), true))
        .await
        .unwrap();
    assert_eq!(s.count_heads("items", None).await.unwrap(), 2);
    assert_eq!(s.count_heads("items", Some("a")).await.unwrap(), 1);
    let scan: Vec<String> = s
        .scan_heads("items", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.version.id)
        .collect();
    assert_eq!(scan, ["a", "b"]);
    let scan = s.scan_heads("items", Some("a"), 10).await.unwrap();
    assert_eq!(scan.len(), 1);
}

/// Versions by ov, as of a time or cv (I3, I4), history pages.
pub(crate) async fn versions_history_and_time_travel(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("docs", &["k"]);
    s.ensure_collection(&sp).await.unwrap();
    let cvs = put(
        s,
        "docs",
        "a",
        &[json!({"k": 0}), json!({"k": 1}), json!({"k": 2})],
        100,
    )
    .await;
    // Interleave another item so cvs have gaps per item.
    put(s, "docs", "b", &[json!({"k": 9})], 50).await;

    for ov in 0..3u64 {
        let h = s.get_version("docs", "a", ov).await.unwrap().unwrap();
        assert_eq!((h.version.ov, h.version.cv), (ov, cvs[ov as usize]));
        assert_eq!(h.shadow, Some(format!("{{\"v\":{ov}}}")));
    }
    assert!(s.get_version("docs", "a", 3).await.unwrap().is_none());
    assert!(s.get_version("docs", "nope", 0).await.unwrap().is_none());

    let ov_as_of = |as_of: AsOf| async move {
        s.version_as_of("docs", "a", as_of)
            .await
            .unwrap()
            .map(|h| h.version.ov)
    };
    let at = |t| AsOf::Time(Timestamp(t));
    assert_eq!(ov_as_of(at(99)).await, None);
    assert_eq!(ov_as_of(at(100)).await, Some(0));
    assert_eq!(ov_as_of(at(101)).await, Some(1));
    assert_eq!(ov_as_of(at(1_000)).await, Some(2));
    assert_eq!(ov_as_of(AsOf::Cv(cvs[1])).await, Some(1));
    assert_eq!(ov_as_of(AsOf::Cv(cvs[0] - 1)).await, None);
    assert_eq!(ov_as_of(AsOf::Cv(u64::MAX)).await, Some(2));

    assert_eq!(ovs(s, "docs", "a").await, [2, 1, 0]);
    let h: Vec<u64> = s
        .history("docs", "a", Some(2), 1)
        .await
        .unwrap()
        .iter()
        .map(|v| v.ov)
        .collect();
    assert_eq!(h, [1]);
    assert!(s.history("docs", "a", None, 0).await.unwrap().is_empty());

    // Every committed cv is above the earlier ones (I3).
    let b_cv = s.get_head("docs", "b").await.unwrap().unwrap().version.cv;
    assert!(cvs.windows(2).all(|w| w[0] < w[1]) && b_cv > cvs[2]);
    assert_eq!(s.cv_as_of("docs", Timestamp(10)).await.unwrap(), 0);
    assert_eq!(s.cv_as_of("docs", Timestamp(50)).await.unwrap(), b_cv);
    assert_eq!(s.cv_as_of("docs", Timestamp(101)).await.unwrap(), b_cv);
    assert_eq!(s.cv_as_of("docs", Timestamp(i64::MAX)).await.unwrap(), b_cv);
}

/// Filter operators, mixed-type sorts (MongoDB's order), keyset pages without gaps.
pub(crate) async fn queries_with_operators_sort_and_cursor_pages(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("q", &["status", "age", "tags[]", "addr.city", "v"]);
    s.ensure_collection(&sp).await.unwrap();
    let items = [
        (
            "a",
            json!({"status": "open", "age": 30, "tags": ["x", "y"], "addr": {"city": "Paris"}, "v": 1}),
        ),
        (
            "b",
            json!({"status": "closed", "age": 25.5, "tags": ["y"], "addr": {"city": "paris"}, "v": "s"}),
        ),
        (
            "c",
            json!({"status": "open", "age": 41, "tags": [], "v": null}),
        ),
        (
            "d",
            json!({"status": "pending", "tags": ["x"], "addr": {"city": "Rome"}, "v": true}),
        ),
        ("e", json!({"status": "open", "age": 30, "v": {"o": 1}})),
        ("f", json!({"status": "open", "age": 18, "v": 2.5})),
        (
            "g",
            json!({"status": "closed", "age": "unknown", "v": false}),
        ),
    ];
    for (id, m) in &items {
        put(s, "q", id, std::slice::from_ref(m), 10).await;
    }
    // A deleted item is hidden unless asked for.
    let mut del = record("h", 1, json!({"status": "open", "age": 30}), 20);
    put(s, "q", "h", &[json!({"status": "open"})], 10).await;
    del.deleted = true;
    del.op = Op::Delete;
    s.commit("q", write(del, true)).await.unwrap();

    let spr = &sp;
    let run = |filter: Value, sort: Value| {
        let q = query(spr, filter, sort, 100, None);
        async move { ids(&s.query(spr, &q).await.unwrap()) }
    };
    for (filter, expected) in [
        (json!({"status": "open"}), &["a", "c", "e", "f"][..]),
        (json!({"age": {"$gte": 30}}), &["a", "c", "e"]),
        (json!({"age": {"$gt": 20, "$lt": 35}}), &["a", "b", "e"]),
        (json!({"age": {"$ne": 30}}), &["b", "c", "d", "f", "g"]),
        (
            json!({"status": {"$in": ["closed", "pending"]}}),
            &["b", "d", "g"],
        ),
        (json!({"status": {"$nin": ["open"]}}), &["b", "d", "g"]),
        (json!({"tags": "x"}), &["a", "d"]),
        (json!({"tags[]": {"$in": ["y"]}}), &["a", "b"]),
        (
            json!({"addr.city": {"$regex": "^par", "$options": "i"}}),
            &["a", "b"],
        ),
        (
            json!({"addr.city": {"$exists": false}}),
            &["c", "e", "f", "g"],
        ),
        (json!({"v": null}), &["c"]),
        (
            json!({"age": {"$not": {"$gte": 30}}}),
            &["b", "d", "f", "g"],
        ),
        (
            json!({"$or": [{"status": "pending"}, {"age": {"$lt": 20}}], "_id": {"$ne": "zz"}}),
            &["d", "f"],
        ),
        (json!({"_system.ov": 0, "_id": {"$gte": "f"}}), &["f", "g"]),
    ] {
        assert_eq!(run(filter.clone(), json!({})).await, expected, "{filter}");
    }

    let mut with_deleted = query(&sp, json!({"status": "open"}), json!({}), 100, None);
    with_deleted.include_deleted = true;
    assert_eq!(
        ids(&s.query(&sp, &with_deleted).await.unwrap()),
        ["a", "c", "e", "f", "h"]
    );

    // Sorts over mixed types follow MongoDB's order (null/missing < numbers < strings <
    // objects < arrays < booleans), ties broken by id in the last key's direction, and
    // pages walk them without gaps or repeats.
    let asc = ["c", "a", "f", "b", "e", "g", "d"];
    assert_eq!(run(json!({}), json!({"v": 1})).await, asc);
    let mut desc = asc;
    desc.reverse();
    assert_eq!(run(json!({}), json!({"v": -1})).await, desc);
    for (sort, expected) in [
        (json!({"v": 1}), asc.to_vec()),
        (json!({"v": -1}), desc.to_vec()),
    ] {
        for limit in [1, 2, 3] {
            let q = query(&sp, json!({}), sort.clone(), limit, None);
            assert_eq!(all_pages(s, &sp, q).await, expected, "{sort} / {limit}");
        }
    }
    // Two keys with ties and missing values; then id descending.
    let expected_age = ["d", "f", "b", "a", "e", "c", "g"];
    assert_eq!(run(json!({}), json!({"age": 1})).await, expected_age);
    let q = query(&sp, json!({}), json!({"status": -1, "age": 1}), 2, None);
    assert_eq!(
        all_pages(s, &sp, q).await,
        ["d", "f", "a", "e", "c", "b", "g"]
    );
    let q = query(&sp, json!({"status": "open"}), json!({"_id": -1}), 3, None);
    assert_eq!(all_pages(s, &sp, q).await, ["f", "e", "c", "a"]);
    let q = query(&sp, json!({}), json!({"_system.updatedAt": -1}), 2, None);
    assert_eq!(
        all_pages(s, &sp, q).await,
        ["g", "f", "e", "d", "c", "b", "a"]
    );
    let first = s
        .query(&sp, &query(&sp, json!({}), json!({"v": 1}), 4, None))
        .await
        .unwrap();
    let cursor = first.next.unwrap();
    assert_eq!(cursor.id, "b");
    assert_eq!(cursor.values, [Scalar::Str("s".into())]);
}

/// Queries over the collection's state at a cv or a time.
pub(crate) async fn as_of_queries(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("h", &["state"]);
    s.ensure_collection(&sp).await.unwrap();
    let a = put(
        s,
        "h",
        "a",
        &[json!({"state": "new"}), json!({"state": "paid"})],
        1_000,
    )
    .await;
    let b = put(s, "h", "b", &[json!({"state": "new"})], 2_000).await;
    let mut del = record("b", 1, json!({"state": "new"}), 3_000);
    del.deleted = true;
    del.op = Op::Delete;
    let b_del = s.commit("h", write(del, true)).await.unwrap().cv;
    put(s, "h", "c", &[json!({"state": "paid"})], 4_000).await;

    let q = |filter: Value, as_of: AsOf| query(&sp, filter, json!({}), 50, Some(as_of));
    let spr = &sp;
    let run = |q: Query| async move { ids(&s.query(spr, &q).await.unwrap()) };
    assert_eq!(run(q(json!({"state": "new"}), AsOf::Cv(a[0]))).await, ["a"]);
    assert_eq!(run(q(json!({"state": "new"}), AsOf::Cv(b[0]))).await, ["b"]);
    assert_eq!(run(q(json!({}), AsOf::Cv(b[0]))).await, ["a", "b"]);
    assert_eq!(run(q(json!({}), AsOf::Cv(b_del))).await, ["a"]);
    let mut deleted = q(json!({}), AsOf::Cv(b_del));
    deleted.include_deleted = true;
    let page = s.query(&sp, &deleted).await.unwrap();
    assert_eq!(ids(&page), ["a", "b"]);
    assert!(page.rows[1].version.deleted);
    assert_eq!(page.rows[0].version.ov, 1);
    assert_eq!(page.rows[0].shadow.as_deref(), Some("{\"v\":1}"));
    let t = |t| AsOf::Time(Timestamp(t));
    assert!(run(q(json!({}), t(999))).await.is_empty());
    assert_eq!(run(q(json!({"state": "new"}), t(1_000))).await, ["a"]);
    assert_eq!(run(q(json!({"state": "paid"}), t(1_001))).await, ["a"]);
    assert_eq!(
        run(q(json!({"state": "paid"}), t(i64::MAX))).await,
        ["a", "c"]
    );
    // Pages and a sort on the as-of state (all "paid": ties go by id in the direction of the
    // last key).
    let paged = query(&sp, json!({}), json!({"state": -1}), 1, Some(t(i64::MAX)));
    assert_eq!(all_pages(s, &sp, paged).await, ["c", "a"]);
}

/// Pages of one item, sorted on a property with ties, under range filters on the same
/// property (both directions, bounds on either side of the cursor), and a descending sort
/// whose filter keeps items without the property (they come last): every matching item
/// once, in order, ties by id in the sort's direction. The same through `query_flat`.
pub(crate) async fn sorted_pages_cross_ties_within_range_bounds(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("t", &["v"]);
    s.ensure_collection(&sp).await.unwrap();
    let items = [
        ("a", json!({"v": 30})),
        ("b", json!({"v": 10})),
        ("c", json!({"v": 30})),
        ("d", json!({"v": 50})),
        ("e", json!({"v": 30})),
        ("f", json!({})),
        ("g", json!({"v": 70})),
        ("h", json!({"v": null})),
    ];
    for (i, (id, meta)) in items.iter().enumerate() {
        put(s, "t", id, std::slice::from_ref(meta), 1_000 + i as i64).await;
    }
    let cases = [
        (
            json!({"v": {"$gte": 20}}),
            json!({"v": 1}),
            vec!["a", "c", "e", "d", "g"],
        ),
        (
            json!({"v": {"$gte": 20}}),
            json!({"v": -1}),
            vec!["g", "d", "e", "c", "a"],
        ),
        (
            json!({"v": {"$gt": 10, "$lt": 60}}),
            json!({"v": 1}),
            vec!["a", "c", "e", "d"],
        ),
        (
            json!({"v": {"$gt": 10, "$lte": 50}}),
            json!({"v": -1}),
            vec!["d", "e", "c", "a"],
        ),
        (
            json!({"v": {"$lte": 30}}),
            json!({"v": -1}),
            vec!["e", "c", "a", "b"],
        ),
        (
            json!({"$or": [{"v": {"$gte": 30}}, {"v": {"$exists": false}}]}),
            json!({"v": -1}),
            vec!["g", "d", "e", "c", "a", "f"],
        ),
        (
            json!({}),
            json!({"v": -1}),
            vec!["g", "d", "e", "c", "a", "b", "h", "f"],
        ),
    ];
    for (filter, sort, want) in cases {
        for limit in [1, 2, 3] {
            let q = query(&sp, filter.clone(), sort.clone(), limit, None);
            assert_eq!(
                all_pages(s, &sp, q.clone()).await,
                want,
                "{filter} {sort} by {limit}"
            );
            let mut flat = q;
            let mut got = Vec::new();
            for _ in 0..20 {
                let page = s.query_flat(&sp, &flat, Some(Timestamp(0))).await.unwrap();
                got.extend(page.rows.iter().map(|r| r.id().to_string()));
                match page.next {
                    Some(c) => flat.after = Some(c),
                    None => break,
                }
            }
            assert_eq!(got, want, "flat: {filter} {sort} by {limit}");
        }
    }
}

/// `query_flat` gives `query`'s rows and cursors, each row flattened exactly when its inline
/// content is recent enough and reads as an object, to the text built from the stored row.
pub(crate) async fn flat_pages_match_query_pages(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("f", &["n"]);
    s.ensure_collection(&sp).await.unwrap();
    let a = put(s, "f", "a", &[json!({"n": 1}), json!({"n": 2})], 1_000).await;
    put(s, "f", "b", &[json!({"n": 3})], 2_000).await;
    let mut no_inline = write(record("c", 0, json!({"n": 4}), 3_000), true);
    no_inline.shadow = None;
    s.commit("f", no_inline).await.unwrap();
    let mut not_object = write(record("d", 0, json!({"n": 5}), 4_000), true);
    not_object.shadow = Some("[1]".into());
    s.commit("f", not_object).await.unwrap();
    let mut del = record("e", 0, json!({"n": 6}), 5_000);
    (del.deleted, del.op) = (true, Op::Delete);
    s.commit("f", write(del, true)).await.unwrap();
    // An erasure's tombstone is never a row of either form.
    put(s, "f", "g", &[json!({"n": 7})], 6_000).await;
    let mut tombstone = record("g", 1, json!({}), 6_001);
    (tombstone.deleted, tombstone.op) = (true, Op::Erase);
    s.commit("f", write(tombstone, true)).await.unwrap();
    // Large inline content (a store may keep a bounded copy of it beside its indexes, and
    // then read such rows from the item's full row).
    let mut large = write(record("h", 0, json!({"n": 8}), 7_000), true);
    large.shadow = Some(format!("{{\"v\":\"{}\"}}", "é".repeat(3_000)));
    s.commit("f", large).await.unwrap();

    let check = |q: Query, since: Option<Timestamp>, want_flat: Vec<&'static str>| {
        let spr = &sp;
        async move {
            let (mut q_rows, mut q_flat) = (q.clone(), q);
            let mut flat_ids = Vec::new();
            for _ in 0..20 {
                let page = s.query(spr, &q_rows).await.unwrap();
                let flat = s.query_flat(spr, &q_flat, since).await.unwrap();
                assert_eq!(flat.rows.len(), page.rows.len());
                assert_eq!(flat.next, page.next);
                for (f, row) in flat.rows.iter().zip(&page.rows) {
                    assert_eq!(f.id(), row.version.id);
                    match f {
                        FlatRow::Flat { json, .. } => {
                            let v = &row.version;
                            let content = row.shadow.as_deref().unwrap();
                            let want = crate::flat::item_json(
                                &v.id,
                                content,
                                &crate::model::SystemFields::of(v),
                            )
                            .unwrap();
                            assert_eq!(json.get(), want.get());
                            flat_ids.push(v.id.clone());
                        }
                        FlatRow::Stored(stored) => assert_eq!(stored.as_ref(), row),
                    }
                }
                match page.next {
                    Some(c) => (q_rows.after, q_flat.after) = (Some(c.clone()), Some(c)),
                    None => break,
                }
            }
            assert_eq!(flat_ids, want_flat, "inline since {since:?}");
        }
    };
    let mut all = query(&sp, json!({}), json!({"n": -1}), 2, None);
    all.include_deleted = true;
    check(all.clone(), None, vec![]).await;
    check(all.clone(), Some(Timestamp(0)), vec!["h", "e", "b", "a"]).await;
    check(all.clone(), Some(Timestamp(2_000)), vec!["h", "e", "b"]).await;
    check(all, Some(Timestamp(i64::MAX)), vec![]).await;
    let as_of = query(&sp, json!({}), json!({}), 2, Some(AsOf::Cv(a[0])));
    check(as_of, Some(Timestamp(0)), vec!["a"]).await;
    let page = s
        .query_flat(
            &sp,
            &query(&sp, json!({"n": 1}), json!({}), 5, Some(AsOf::Cv(a[0]))),
            Some(Timestamp(0)),
        )
        .await
        .unwrap();
    let FlatRow::Flat { json, .. } = &page.rows[0] else {
        panic!("not flat")
    };
    let v: Value = serde_json::from_str(json.get()).unwrap();
    assert_eq!(v["_id"], "a");
    assert_eq!(v["v"], 0);
    assert_eq!(v["_system"]["ov"], 0);
    assert_eq!(v["_system"]["functionIds"], json!(["f1"]));
}

/// `query_items` gives `query`'s rows and cursors; a row it decodes is the item the stored
/// row reads as (id, content, `_system`, operation, actor, reason), any other is the stored
/// row itself. Rows of every kind: other writers and reasons (or none), a deletion, an
/// enrichment with lineage and a content member named `_id`, no inline content, content
/// that is not an object, large content, an erasure's tombstone (never a row), content
/// with a member named `_system`.
pub(crate) async fn item_pages_match_query_pages(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("i", &["n"]);
    s.ensure_collection(&sp).await.unwrap();
    let a = put(s, "i", "a", &[json!({"n": 1}), json!({"n": 2})], 1_000).await;
    let mut b = record("b", 0, json!({"n": 3}), 2_000);
    (b.actor, b.reason) = (None, Some("import \"q\"".into()));
    s.commit("i", write(b, true)).await.unwrap();
    let mut no_inline = write(record("c", 0, json!({"n": 4}), 3_000), true);
    no_inline.shadow = None;
    s.commit("i", no_inline).await.unwrap();
    let mut not_object = write(record("d", 0, json!({"n": 5}), 4_000), true);
    not_object.shadow = Some("[1]".into());
    s.commit("i", not_object).await.unwrap();
    let mut del = record("e", 0, json!({"n": 6}), 5_000);
    (del.deleted, del.op, del.actor) = (true, Op::Delete, Some("remover".into()));
    s.commit("i", write(del, true)).await.unwrap();
    put(s, "i", "g", &[json!({"n": 7})], 6_000).await;
    let mut tombstone = record("g", 1, json!({}), 6_001);
    (tombstone.deleted, tombstone.op) = (true, Op::Erase);
    s.commit("i", write(tombstone, true)).await.unwrap();
    let mut large = write(record("h", 0, json!({"n": 8}), 7_000), true);
    large.shadow = Some(format!("{{\"v\":\"{}\"}}", "é".repeat(3_000)));
    s.commit("i", large).await.unwrap();
    let mut enriched = record("k", 0, json!({"n": 9}), 8_000);
    enriched.op = Op::Enrich;
    enriched.lineage.parent_id = Some("p1".into());
    enriched.lineage.origin_collection = Some("crm:people".into());
    let mut enriched = write(enriched, true);
    enriched.shadow = Some(r#"{"_id":"inner","x":[1,2.50,{"y":null}]}"#.into());
    s.commit("i", enriched).await.unwrap();
    let mut own_system = write(record("m", 0, json!({"n": 10}), 9_000), true);
    own_system.shadow = Some(r#"{"_system":{"mine":true},"z":1}"#.into());
    s.commit("i", own_system).await.unwrap();

    let check = |q: Query, since: Option<Timestamp>| {
        let spr = &sp;
        async move {
            let (mut q_rows, mut q_items) = (q.clone(), q);
            let mut decoded = 0;
            for _ in 0..20 {
                let page = s.query(spr, &q_rows).await.unwrap();
                let items = s.query_items(spr, &q_items, since).await.unwrap();
                assert_eq!(items.rows.len(), page.rows.len());
                assert_eq!(items.next, page.next);
                for (got, row) in items.rows.iter().zip(&page.rows) {
                    assert_eq!(got.id(), row.version.id);
                    match got {
                        ItemRow::Item(item) => {
                            let v = &row.version;
                            assert!(since.is_some_and(|t| v.at >= t), "{}", v.id);
                            let content = row.shadow.as_deref().unwrap();
                            let want = crate::model::Item {
                                id: v.id.clone(),
                                data: serde_json::from_str(content).unwrap(),
                                system: crate::model::SystemFields::of(v),
                                op: v.op,
                                actor: v.actor.clone(),
                                reason: v.reason.clone(),
                                presigned: None,
                            };
                            assert_eq!(item.as_ref(), &want);
                            assert!(item.data.keys().eq(want.data.keys()));
                            decoded += 1;
                        }
                        ItemRow::Stored(stored) => assert_eq!(stored.as_ref(), row),
                    }
                }
                match page.next {
                    Some(c) => (q_rows.after, q_items.after) = (Some(c.clone()), Some(c)),
                    None => break,
                }
            }
            decoded
        }
    };
    for limit in [1, 2, 20] {
        let mut all = query(&sp, json!({}), json!({"n": -1}), limit, None);
        all.include_deleted = true;
        assert_eq!(
            check(all.clone(), None).await,
            0,
            "nothing is decoded without inline_since"
        );
        check(all.clone(), Some(Timestamp(0))).await;
        check(all.clone(), Some(Timestamp(2_000))).await;
        check(all, Some(Timestamp(i64::MAX))).await;
        let as_of = query(&sp, json!({}), json!({}), limit, Some(AsOf::Cv(a[0])));
        check(as_of, Some(Timestamp(0))).await;
    }
}

/// `version_and_erased` reads the version an ov or an as-of point names, and tells whether
/// the item's head is an erasure's tombstone.
pub(crate) async fn versions_come_with_the_erasure_state(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("v", &[]);
    assert_eq!(
        s.version_and_erased("v", "a", VersionAt::Ov(0))
            .await
            .unwrap(),
        (None, false)
    );
    s.ensure_collection(&sp).await.unwrap();
    let cvs = put(s, "v", "a", &[json!({}), json!({})], 1_000).await;
    let ov = |r: (Option<StoredVersion>, bool)| (r.0.map(|v| v.version.ov), r.1);
    let read = |at| async move { ov(s.version_and_erased("v", "a", at).await.unwrap()) };
    assert_eq!(read(VersionAt::Ov(0)).await, (Some(0), false));
    assert_eq!(read(VersionAt::Ov(5)).await, (None, false));
    assert_eq!(
        read(VersionAt::AsOf(AsOf::Cv(cvs[0]))).await,
        (Some(0), false)
    );
    assert_eq!(
        read(VersionAt::AsOf(AsOf::Time(Timestamp(1_001)))).await,
        (Some(1), false)
    );
    assert_eq!(
        read(VersionAt::AsOf(AsOf::Time(Timestamp(999)))).await,
        (None, false)
    );
    let mut tombstone = record("a", 2, json!({}), 2_000);
    (tombstone.deleted, tombstone.op) = (true, Op::Erase);
    s.commit("v", write(tombstone, true)).await.unwrap();
    assert_eq!(read(VersionAt::Ov(0)).await, (Some(0), true));
    assert_eq!(
        read(VersionAt::AsOf(AsOf::Time(Timestamp(999)))).await,
        (None, true)
    );
    let other = s
        .version_and_erased("v", "b", VersionAt::Ov(0))
        .await
        .unwrap();
    assert_eq!(other, (None, false));
    // A deleted item is not an erased one.
    put(s, "v", "d", &[json!({})], 3_000).await;
    let mut deletion = record("d", 1, json!({}), 3_001);
    (deletion.deleted, deletion.op) = (true, Op::Delete);
    s.commit("v", write(deletion, true)).await.unwrap();
    let d = s
        .version_and_erased("v", "d", VersionAt::Ov(0))
        .await
        .unwrap();
    assert_eq!((d.0.map(|v| v.version.ov), d.1), (Some(0), false));
}

/// A purge removes the head and every version, only from the expected head, and frees the id.
pub(crate) async fn purge_removes_everything(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("p", &["k"]);
    s.ensure_collection(&sp).await.unwrap();
    let cvs = put(s, "p", "a", &[json!({"k": 1}), json!({"k": 2})], 100).await;
    put(s, "p", "b", &[json!({"k": 1})], 100).await;
    assert_eq!(
        s.purge_item("p", "a", 0).await,
        Err(MetaError::Conflict {
            current_ov: Some(1)
        })
    );
    assert_eq!(
        s.purge_item("p", "zz", 0).await,
        Err(MetaError::Conflict { current_ov: None })
    );
    // The refused purge left the item fully visible.
    let all = query(&sp, json!({}), json!({}), 10, Some(AsOf::Cv(cvs[1])));
    assert_eq!(ids(&s.query(&sp, &all).await.unwrap()), ["a"]);
    assert_eq!(ovs(s, "p", "a").await, [1, 0]);

    let (cv, removed) = s.purge_item("p", "a", 1).await.unwrap();
    assert!(cv > cvs[1]);
    let mut removed_ovs: Vec<u64> = removed.iter().map(|v| v.ov).collect();
    removed_ovs.sort();
    assert_eq!(removed_ovs, [0, 1]);
    assert!(s.get_head("p", "a").await.unwrap().is_none());
    assert!(s.get_version("p", "a", 0).await.unwrap().is_none());
    assert!(s.history("p", "a", None, 10).await.unwrap().is_empty());
    assert!(s.query(&sp, &all).await.unwrap().rows.is_empty());
    assert_eq!(s.count_heads("p", None).await.unwrap(), 1);
    // The id can be created again, from ov 0.
    put(s, "p", "a", &[json!({"k": 3})], 200).await;
    assert_eq!(s.history("p", "a", None, 10).await.unwrap().len(), 1);
}

/// `keep_history: false` drops the older versions in the same commit and returns them.
pub(crate) async fn versioning_off_drops_older_versions(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("n", &[]);
    s.ensure_collection(&sp).await.unwrap();
    let c0 = s
        .commit("n", write(record("a", 0, json!({}), 1), false))
        .await
        .unwrap();
    assert!(c0.dropped.is_empty());
    let c1 = s
        .commit("n", write(record("a", 1, json!({}), 2), false))
        .await
        .unwrap();
    assert_eq!(c1.dropped.iter().map(|v| v.ov).collect::<Vec<_>>(), [0]);
    assert_eq!(c1.dropped[0].payload_key, "c/a/v0.w/item.json");
    let c2 = s
        .commit("n", write(record("a", 2, json!({}), 3), false))
        .await
        .unwrap();
    assert_eq!(c2.dropped.iter().map(|v| v.ov).collect::<Vec<_>>(), [1]);
    assert_eq!(ovs(s, "n", "a").await, [2]);
    assert!(s.get_version("n", "a", 1).await.unwrap().is_none());
    let (_, removed) = s.purge_item("n", "a", 2).await.unwrap();
    assert_eq!(removed.len(), 1);
}

/// Concurrent writers: each commit lands or is refused, ov stays contiguous, every head has
/// its version row, cvs grow with ov and are never handed out twice; one create of an id
/// wins.
pub(crate) async fn concurrent_writers_keep_ov_contiguous(store: Arc<dyn MetadataStore>) {
    let s = store;
    let sp = spec("r", &["w"]);
    s.ensure_collection(&sp).await.unwrap();
    put(s.as_ref(), "r", "a", &[json!({"w": -1})], now()).await;
    const WRITERS: usize = 6;
    const EACH: usize = 6;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut cvs = Vec::new();
            let mut creates = 0;
            match s
                .commit("r", write(record("b", 0, json!({"w": w}), now()), true))
                .await
            {
                Ok(_) => creates += 1,
                Err(MetaError::AlreadyExists) => {}
                Err(e) => panic!("create: {e}"),
            }
            while cvs.len() < EACH {
                let head = s.get_head("r", "a").await.unwrap().unwrap().version;
                let at = head.at.micros().max(now());
                let v = record("a", head.ov + 1, json!({"w": w}), at);
                match s.commit("r", write(v, true)).await {
                    Ok(c) => cvs.push(c.cv),
                    Err(MetaError::Conflict {
                        current_ov: Some(_),
                    }) => {}
                    Err(e) => panic!("update: {e}"),
                }
            }
            (cvs, creates)
        }));
    }
    let mut all_cvs = Vec::new();
    let mut creates = 0;
    for t in tasks {
        let (cvs, c) = t.await.unwrap();
        all_cvs.extend(cvs);
        creates += c;
    }
    assert_eq!(creates, 1);
    let n = (WRITERS * EACH) as u64;
    let head = s.get_head("r", "a").await.unwrap().unwrap();
    assert_eq!(head.version.ov, n);
    let hist = s.history("r", "a", None, 1000).await.unwrap();
    assert_eq!(
        hist.iter().map(|v| v.ov).collect::<Vec<_>>(),
        (0..=n).rev().collect::<Vec<_>>()
    );
    assert_eq!(hist[0], head.version);
    for pair in hist.windows(2) {
        assert!(
            pair[0].cv > pair[1].cv && pair[0].at >= pair[1].at,
            "{:?}",
            hist.iter()
                .map(|v| (v.ov, v.cv, v.at.micros()))
                .collect::<Vec<_>>()
        );
    }
    let unique: HashSet<u64> = all_cvs.iter().copied().collect();
    assert_eq!(unique.len(), all_cvs.len());
    // The as-of state at every cv is exactly one version of "a".
    for v in hist.iter().step_by(7) {
        let q = query(&sp, json!({}), json!({}), 10, Some(AsOf::Cv(v.cv)));
        let page = s.query(&sp, &q).await.unwrap();
        let a: Vec<u64> = page
            .rows
            .iter()
            .filter(|h| h.version.id == "a")
            .map(|h| h.version.ov)
            .collect();
        assert_eq!(a, [v.ov]);
    }
}

/// Reads of a collection nobody created answer "nothing".
pub(crate) async fn reads_of_unknown_collections_are_empty(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("ghost", &["k"]);
    assert!(s.get_head("ghost", "x").await.unwrap().is_none());
    assert!(s.get_version("ghost", "x", 0).await.unwrap().is_none());
    assert!(s
        .version_as_of("ghost", "x", AsOf::Cv(u64::MAX))
        .await
        .unwrap()
        .is_none());
    assert!(s.history("ghost", "x", None, 10).await.unwrap().is_empty());
    assert!(s.scan_heads("ghost", None, 10).await.unwrap().is_empty());
    assert_eq!(s.count_heads("ghost", None).await.unwrap(), 0);
    assert_eq!(s.cv_as_of("ghost", Timestamp(i64::MAX)).await.unwrap(), 0);
    let q = query(&sp, json!({}), json!({}), 10, None);
    assert!(s.query(&sp, &q).await.unwrap().rows.is_empty());
}

/// A commit may hand back the mark of the head it read (`VersionWrite::seen`). With the
/// current mark it commits; with a stale one, or one that is not a mark of this store, it
/// never lands on a head it was not written against, and leaves nothing a reader sees.
pub(crate) async fn head_marks_save_reads_but_never_decide(store: Arc<dyn MetadataStore>) {
    let s = store.as_ref();
    let sp = spec("marks", &["n"]);
    s.ensure_collection(&sp).await.unwrap();
    s.commit("marks", write(record("a", 0, json!({"n": 0}), 100), true))
        .await
        .unwrap();
    let head0 = s.get_head("marks", "a").await.unwrap().unwrap();
    let with_mark = |v: VersionRecord, mark: Option<crate::model::HeadMark>| VersionWrite {
        seen: mark,
        ..write(v, true)
    };
    // The current mark: the commit lands.
    s.commit(
        "marks",
        with_mark(record("a", 1, json!({"n": 1}), 200), head0.mark.clone()),
    )
    .await
    .unwrap();
    // The mark of ov 0 again, now stale, with the stale ov: refused.
    let r = s
        .commit(
            "marks",
            with_mark(record("a", 1, json!({"n": 9}), 300), head0.mark.clone()),
        )
        .await;
    assert!(matches!(r, Err(MetaError::Conflict { .. })), "{r:?}");
    // The stale mark with the current ov contradicts itself: a store that uses marks refuses
    // it, one that ignores them commits on the head the ov names. Never anything else.
    let r = s
        .commit(
            "marks",
            with_mark(record("a", 2, json!({"n": 9}), 301), head0.mark.clone()),
        )
        .await;
    let next = match r {
        Ok(_) => 3,
        Err(MetaError::Conflict {
            current_ov: Some(1),
        }) => 2,
        other => panic!("a stale mark with the current ov: {other:?}"),
    };
    // Not a mark of this store: read as if there were none.
    let foreign = Some(crate::model::HeadMark("not/a-mark".into()));
    s.commit(
        "marks",
        with_mark(record("a", next, json!({"n": 2}), 400), foreign),
    )
    .await
    .unwrap();
    let expected: Vec<u64> = (0..=next).rev().collect();
    assert_eq!(ovs(s, "marks", "a").await, expected);
    let head = s.get_head("marks", "a").await.unwrap().unwrap();
    assert_eq!(head.version.ov, next);
    assert_eq!(head.version.indexed["n"], 2);
}
