//! The behavioural cases. Each takes a backend and skips (with a printed reason) only when
//! the backend says it is unavailable.

use super::harness::{Backend, Harness};
use chronos_db::config::{Base64Prop, ChronosConfig, CollectionMap, CollectionValidation};
use chronos_db::{
    CollectionTarget, CreateOptions, EnrichOptions, Error, HistoryOptions, LineageRef, ListOptions,
    Op, OriginRef, ReadOptions, RestoreOptions, RestoreTarget, Timestamp,
};
use serde_json::{json, Value};
use std::time::Duration;

pub use super::faults::{concurrent_writers, fault_after_commit, faults_at_every_step};
pub use super::hardening::{
    blob_refs_resolve_to_own_versions, cursors_are_bound_to_their_query,
    depth_limit_counts_containers, hard_delete_frees_logically_deleted_items,
    hard_delete_restore_removes_items, numbers_read_back_exactly, payload_id_never_chooses_the_id,
    reads_and_sweeps_of_nothing, restore_to_current_state_is_a_no_op,
    shared_key_space_keeps_blobs_apart,
};

pub fn map(indexed: &[&str]) -> CollectionMap {
    CollectionMap {
        indexed_props: indexed.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub fn with_map(name: &'static str, m: CollectionMap) -> impl FnOnce(&mut ChronosConfig) {
    move |c| {
        c.collection_maps.insert(name.into(), m);
    }
}

async fn tick() {
    // Distinct commit times around a captured instant (timestamps have microsecond precision).
    tokio::time::sleep(Duration::from_millis(3)).await;
}

pub async fn create_and_read(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("users");
    let r = c
        .create(
            json!({"email": "a@x.io", "_system": {"ov": 99, "deleted": true}}),
            "app",
            "signup",
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(r.ov, 0);
    assert_eq!(r.id.len(), 24, "generated ids are 24-hex");
    assert!(r.id.chars().all(|c| c.is_ascii_hexdigit()));
    let item = c
        .get_latest(&r.id, ReadOptions::default())
        .await
        .unwrap()
        .expect("item");
    assert_eq!(
        item.data,
        json!({"email": "a@x.io"}).as_object().unwrap().clone(),
        "client _system is ignored"
    );
    let s = &item.system;
    assert_eq!(
        (s.ov, s.cv, s.deleted, s.deleted_at),
        (0, r.cv, false, None)
    );
    assert_eq!(s.inserted_at, s.updated_at);
    assert_eq!(s.updated_at, r.at);
    assert!(s.function_ids.is_empty());
    assert_eq!(
        (item.op, item.actor.as_deref(), item.reason.as_deref()),
        (Op::Create, Some("app"), Some("signup"))
    );
    let doc = item.to_document();
    assert_eq!(doc["_id"], json!(r.id));
    assert_eq!(doc["_system"]["ov"], json!(0));
    // cv grows strictly across writes of a collection.
    let r2 = c
        .create(json!({"email": "b@x.io"}), "app", "", Default::default())
        .await
        .unwrap();
    assert!(r2.cv > r.cv);
    assert!(c
        .get_latest("nope", ReadOptions::default())
        .await
        .unwrap()
        .is_none());
}

pub async fn caller_ids(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("users");
    let opts = CreateOptions {
        id: Some("user:42".into()),
        ..Default::default()
    };
    let r = c
        .create(json!({"n": 1}), "a", "r", opts.clone())
        .await
        .unwrap();
    assert_eq!(r.id, "user:42");
    let dup = c.create(json!({"n": 2}), "a", "r", opts).await.unwrap_err();
    assert!(
        matches!(dup, Error::AlreadyExists { ref id } if id == "user:42"),
        "{dup}"
    );
    assert_eq!(
        c.get_latest("user:42", Default::default())
            .await
            .unwrap()
            .unwrap()
            .data["n"],
        json!(1)
    );
    // An _id in the payload never names the item (see hardening::payload_id_never_chooses_the_id).
    let e = c
        .create(
            json!({"_id": "from-payload", "n": 3}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    let e = c
        .create(
            json!({"_id": "x1"}),
            "a",
            "r",
            CreateOptions {
                id: Some("x2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
}

pub async fn invalid_input(b: &dyn Backend) {
    let h = open!(b, |c: &mut ChronosConfig| c.limits.max_payload_bytes = 2048);
    let c = h.coll("users");
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "../etc/passwd",
        "a\\b",
        "sp ace",
        &"x".repeat(129),
    ] {
        let e = c
            .create(
                json!({}),
                "a",
                "r",
                CreateOptions {
                    id: Some(bad.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad}: {e}");
        let e = c.get_latest(bad, Default::default()).await.unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad}: {e}");
    }
    for bad in [json!([1, 2]), json!("str"), json!(5), json!(null)] {
        let e = c
            .create(bad.clone(), "a", "r", Default::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad}: {e}");
    }
    let big = json!({"blob": "x".repeat(4096)});
    let e = c
        .create(big, "a", "r", Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::PayloadTooLarge { limit: 2048, .. }),
        "{e}"
    );
    let mut deep = json!(1);
    for _ in 0..80 {
        deep = json!({ "d": deep });
    }
    let e = c
        .create(deep, "a", "r", Default::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nested deeper"), "{e}");
    for bad_coll in ["a/b", "..", "", "_x", &"c".repeat(65)] {
        let e = h
            .chronos
            .with(chronos_db::Route::tenant(
                chronos_db::DatabaseType::Runtime,
                "tenant-a",
                bad_coll,
            ))
            .err()
            .expect("bad collection");
        assert!(matches!(e, Error::Route(_)), "{bad_coll}: {e}");
    }
    // Nothing was written by any rejected call.
    assert!(c
        .list_by_meta(ListOptions::default())
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(h.objects("users/").await.is_empty());
}

pub async fn update_replaces_and_conflicts(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("users");
    let r = c
        .create(
            json!({"name": "a", "keep": 1}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let u = c
        .update(&r.id, json!({"name": "b"}), 0, "a", "rename")
        .await
        .unwrap();
    assert_eq!(u.ov, 1);
    assert!(u.cv > r.cv);
    let item = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Value::Object(item.data),
        json!({"name": "b"}),
        "update is a full replacement"
    );
    assert_eq!(item.system.inserted_at, r.at);
    assert_eq!(item.system.updated_at, u.at);
    let e = c
        .update(&r.id, json!({"name": "c"}), 0, "a", "stale")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Conflict {
                expected: 0,
                current: 1,
                ..
            }
        ),
        "{e}"
    );
    let e = c
        .update("missing", json!({}), 0, "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    let e = c
        .update(&r.id, json!(["x"]), 1, "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    assert_eq!(
        c.get_latest(&r.id, Default::default())
            .await
            .unwrap()
            .unwrap()
            .system
            .ov,
        1
    );
}

pub async fn lineage_carries_forward(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("orders");
    let parent = CreateOptions {
        parent: Some(LineageRef {
            id: "p-1".into(),
            collection: "carts".into(),
        }),
        ..Default::default()
    };
    let r = c.create(json!({"n": 1}), "a", "r", parent).await.unwrap();
    let s = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap()
        .system;
    assert_eq!(
        (s.parent_id.as_deref(), s.parent_collection.as_deref()),
        (Some("p-1"), Some("carts"))
    );
    assert_eq!(
        (s.origin_id.as_deref(), s.origin_collection.as_deref()),
        (Some("p-1"), Some("carts"))
    );
    let origin = CreateOptions {
        origin: Some(OriginRef {
            id: "cus_123".into(),
            collection: "customers".into(),
            system: Some("stripe".into()),
        }),
        ..Default::default()
    };
    let r2 = c.create(json!({"n": 2}), "a", "r", origin).await.unwrap();
    c.update(&r2.id, json!({"n": 3}), 0, "a", "r")
        .await
        .unwrap();
    c.enrich(
        &r2.id,
        json!({"m": 1}),
        EnrichOptions {
            function_id: Some("f@1".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    c.restore_object(&r2.id, RestoreTarget::Ov(0), "a", "r")
        .await
        .unwrap();
    let s = c
        .get_latest(&r2.id, Default::default())
        .await
        .unwrap()
        .unwrap()
        .system;
    assert_eq!(
        (s.origin_id.as_deref(), s.origin_collection.as_deref()),
        (Some("cus_123"), Some("stripe:customers"))
    );
    assert_eq!(
        s.function_ids,
        vec!["f@1".to_string()],
        "functionIds survive update, enrich and restore"
    );
    assert_eq!(s.ov, 3);
    let first = c
        .get_version(&r2.id, 0, Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.inserted_at, first.system.inserted_at);
}

pub async fn logical_delete(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("users");
    let r = c
        .create(json!({"name": "a"}), "a", "r", Default::default())
        .await
        .unwrap();
    let e = c.delete(&r.id, 5, "a", "r").await.unwrap_err();
    assert!(matches!(e, Error::Conflict { current: 0, .. }), "{e}");
    let d = c.delete(&r.id, 0, "gdpr", "erase").await.unwrap();
    assert_eq!(d.ov, 1);
    assert!(c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .is_none());
    let item = c
        .get_latest(
            &r.id,
            ReadOptions {
                include_deleted: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(item.system.deleted);
    assert_eq!(item.system.deleted_at, Some(d.at));
    assert_eq!(
        item.data["name"],
        json!("a"),
        "a deleted item keeps its last content in history"
    );
    assert_eq!(item.op, Op::Delete);
    let hist = c.history(&r.id, Default::default()).await.unwrap();
    let ops: Vec<Op> = hist.versions.iter().map(|v| v.op).collect();
    assert_eq!(ops, vec![Op::Delete, Op::Create]);
    let e = c
        .update(&r.id, json!({"name": "b"}), 1, "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Deleted { ov: 1, .. }), "{e}");
    let e = c.delete(&r.id, 1, "a", "r").await.unwrap_err();
    assert!(matches!(e, Error::Deleted { .. }), "{e}");
    let e = c
        .enrich(&r.id, json!({"x": 1}), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Deleted { .. }), "{e}");
    assert_eq!(
        c.get_version(&r.id, 0, Default::default())
            .await
            .unwrap()
            .unwrap()
            .data["name"],
        json!("a")
    );
    assert!(c
        .list_by_meta(ListOptions::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let all = c
        .list_by_meta(ListOptions {
            include_deleted: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
}

pub async fn hard_delete_removes_everything(b: &dyn Backend) {
    let blobs = CollectionMap {
        base64_props: [(
            "file".to_string(),
            Base64Prop {
                content_type: "text/plain".into(),
                preferred_text: true,
                text_charset: None,
            },
        )]
        .into(),
        ..Default::default()
    };
    let h = open!(b, |c: &mut ChronosConfig| {
        c.logical_delete.enabled = false;
        c.collection_maps.insert("docs".into(), blobs);
    });
    let c = h.coll("docs");
    let keep = c
        .create(json!({"file": "aGVsbG8="}), "a", "r", Default::default())
        .await
        .unwrap();
    let r = c
        .create(
            json!({"file": "aGVsbG8=", "v": 1}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    c.update(&r.id, json!({"file": "d29ybGQ=", "v": 2}), 0, "a", "r")
        .await
        .unwrap();
    assert!(!h.objects(&format!("docs/{}/", r.id)).await.is_empty());
    let d = c.delete(&r.id, 1, "a", "purge").await.unwrap();
    assert!(d.cv > 0);
    assert!(c
        .get_latest(
            &r.id,
            ReadOptions {
                include_deleted: true,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_none());
    assert!(c
        .get_version(
            &r.id,
            0,
            ReadOptions {
                include_deleted: true,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        c.history(&r.id, Default::default()).await.unwrap_err(),
        Error::NotFound(_)
    ));
    assert_eq!(
        h.objects(&format!("docs/{}/", r.id)).await,
        Vec::<String>::new(),
        "all objects of all versions are gone"
    );
    assert_eq!(
        h.objects(&format!("docs/{}/", keep.id)).await.len(),
        3,
        "other items keep theirs"
    );
    // The id can be used again.
    let again = c
        .create(
            json!({"v": 9}),
            "a",
            "r",
            CreateOptions {
                id: Some(r.id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(again.ov, 0);
}

pub async fn enrich_merges(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("profiles");
    let r = c
        .create(
            json!({"tags": ["a"], "meta": {"x": 1}, "objs": [{"id": "k", "v": 1}], "s": "keep"}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let e1 = c
        .enrich(
            &r.id,
            json!({"tags": ["b", "a"], "meta": {"y": 2}, "objs": [{"id": "k", "w": 2}]}),
            EnrichOptions {
                function_id: Some("enricher@v1".into()),
                actor: "sys".into(),
                reason: "auto".into(),
                expected_ov: Some(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(e1.ov, 1);
    let e2 = c
        .enrich(
            &r.id,
            json!([{"tags": ["vip"]}, {"meta": {"score": 100}}, {"tags": ["verified"]}]),
            EnrichOptions {
                function_id: Some("scorer@v2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(e2.ov, 2, "a batch is one version");
    let item = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Value::Object(item.data),
        json!({"tags": ["a", "b", "vip", "verified"], "meta": {"x": 1, "y": 2, "score": 100}, "objs": [{"id": "k", "v": 1, "w": 2}], "s": "keep"})
    );
    assert_eq!(
        item.system.function_ids,
        vec!["enricher@v1".to_string(), "scorer@v2".to_string()]
    );
    assert_eq!(item.op, Op::Enrich);
    let e = c
        .enrich(
            &r.id,
            json!({"x": 1}),
            EnrichOptions {
                expected_ov: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { current: 2, .. }), "{e}");
    for bad in [json!(1), json!([]), json!([1]), json!("x")] {
        let e = c
            .enrich(&r.id, bad.clone(), Default::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad}: {e}");
    }
    let e = c
        .enrich("missing", json!({"a": 1}), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
}

pub async fn time_travel(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("docs");
    let before = Timestamp::now();
    tick().await;
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    tick().await;
    let t0 = Timestamp::now();
    tick().await;
    c.update(&r.id, json!({"v": 1}), 0, "a", "r").await.unwrap();
    tick().await;
    let t1 = Timestamp::now();
    tick().await;
    c.delete(&r.id, 1, "a", "r").await.unwrap();
    tick().await;
    let t2 = Timestamp::now();
    let at = |t| c.get_as_of(&r.id, t, ReadOptions::default());
    assert!(at(before).await.unwrap().is_none(), "did not exist yet");
    assert_eq!(at(t0).await.unwrap().unwrap().data["v"], json!(0));
    assert_eq!(at(t1).await.unwrap().unwrap().data["v"], json!(1));
    assert_eq!(at(t1).await.unwrap().unwrap().system.ov, 1);
    assert!(at(t2).await.unwrap().is_none(), "deleted at t2");
    let del = c
        .get_as_of(
            &r.id,
            t2,
            ReadOptions {
                include_deleted: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(del.system.deleted);
    // The exact commit time of a version selects that version.
    let v1 = c
        .get_version(&r.id, 1, Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.get_as_of(&r.id, v1.system.updated_at, Default::default())
            .await
            .unwrap()
            .unwrap()
            .system
            .ov,
        1
    );
    assert_eq!(
        c.get_version(&r.id, 0, Default::default())
            .await
            .unwrap()
            .unwrap()
            .data["v"],
        json!(0)
    );
    assert!(c
        .get_version(&r.id, 7, Default::default())
        .await
        .unwrap()
        .is_none());
    assert!(
        c.get_version(&r.id, 2, Default::default())
            .await
            .unwrap()
            .is_none(),
        "ov 2 is a deletion"
    );
}

pub async fn history_pages(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("docs");
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    for ov in 0..4 {
        c.update(&r.id, json!({"v": ov + 1}), ov, "a", &format!("step {ov}"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = c
            .history(
                &r.id,
                HistoryOptions {
                    limit: Some(2),
                    before_ov: before,
                },
            )
            .await
            .unwrap();
        seen.extend(page.versions.iter().map(|v| v.ov));
        match page.next_before_ov {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, vec![4, 3, 2, 1, 0]);
    let all = c.history(&r.id, Default::default()).await.unwrap();
    let cvs: Vec<u64> = all.versions.iter().map(|v| v.cv).collect();
    assert!(
        cvs.windows(2).all(|w| w[0] > w[1]),
        "cv decreases going back: {cvs:?}"
    );
    assert_eq!(all.versions[0].reason.as_deref(), Some("step 3"));
    assert!(matches!(
        c.history("missing", Default::default()).await.unwrap_err(),
        Error::NotFound(_)
    ));
    assert!(matches!(
        c.history(
            &r.id,
            HistoryOptions {
                limit: Some(0),
                ..Default::default()
            }
        )
        .await
        .unwrap_err(),
        Error::Validation(_)
    ));
}

async fn seed_people(h: &Harness) -> chronos_db::Collection {
    let c = h.coll("people");
    let people = [
        json!({"name": "ann", "age": 31, "city": {"name": "Paris"}, "tags": ["a", "b"], "vip": true}),
        json!({"name": "bob", "age": 25, "city": {"name": "Berlin"}, "tags": ["b"], "vip": false}),
        json!({"name": "cyd", "age": 40, "city": {"name": "paris"}, "tags": [], "score": 1.5}),
        json!({"name": "dan", "age": "unknown", "tags": ["c"]}),
        json!({"name": "eve", "age": null, "city": {"name": "Rome"}}),
    ];
    for p in people {
        let id = p["name"].as_str().unwrap().to_string();
        c.create(
            p,
            "a",
            "r",
            CreateOptions {
                id: Some(id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    c
}

fn people_map() -> CollectionMap {
    map(&["name", "age", "city.name", "tags[]", "vip", "score"])
}

async fn names(c: &chronos_db::Collection, filter: Value) -> Vec<String> {
    let page = c
        .list_by_meta(ListOptions {
            filter: Some(filter.clone()),
            sort: Some(json!({"name": 1})),
            limit: Some(100),
            ..Default::default()
        })
        .await;
    let page = page.unwrap_or_else(|e| panic!("{filter}: {e}"));
    page.items.iter().map(|i| i.id.clone()).collect()
}

pub async fn query_operators(b: &dyn Backend) {
    let h = open!(b, with_map("people", people_map()));
    let c = seed_people(&h).await;
    let cases = [
        (json!({}), vec!["ann", "bob", "cyd", "dan", "eve"]),
        (json!({"name": "bob"}), vec!["bob"]),
        (json!({"name": {"$eq": "bob"}}), vec!["bob"]),
        (
            json!({"name": {"$ne": "bob"}}),
            vec!["ann", "cyd", "dan", "eve"],
        ),
        (json!({"age": {"$gt": 30}}), vec!["ann", "cyd"]),
        (json!({"age": {"$gte": 31}}), vec!["ann", "cyd"]),
        (json!({"age": {"$lt": 31}}), vec!["bob"]),
        (json!({"age": {"$lte": 31}}), vec!["ann", "bob"]),
        (json!({"age": {"$gt": 20, "$lt": 35}}), vec!["ann", "bob"]),
        (json!({"age": {"$gt": "a"}}), vec!["dan"]),
        (json!({"age": null}), vec!["eve"]),
        (json!({"score": null}), vec!["ann", "bob", "dan", "eve"]),
        // Negations match items without the field, as in MongoDB.
        (
            json!({"score": {"$ne": 1.5}}),
            vec!["ann", "bob", "dan", "eve"],
        ),
        (
            json!({"city.name": {"$nin": ["Paris"]}}),
            vec!["bob", "cyd", "dan", "eve"],
        ),
        (
            json!({"score": {"$not": {"$gt": 1}}}),
            vec!["ann", "bob", "dan", "eve"],
        ),
        (
            json!({"name": {"$in": ["ann", "eve", "zed"]}}),
            vec!["ann", "eve"],
        ),
        (
            json!({"name": {"$nin": ["ann", "eve"]}}),
            vec!["bob", "cyd", "dan"],
        ),
        (json!({"score": {"$exists": true}}), vec!["cyd"]),
        (json!({"city.name": {"$exists": false}}), vec!["dan"]),
        (json!({"city.name": "Paris"}), vec!["ann"]),
        (
            json!({"city.name": {"$regex": "^par", "$options": "i"}}),
            vec!["ann", "cyd"],
        ),
        (json!({"name": {"$regex": "^[ab]"}}), vec!["ann", "bob"]),
        (
            json!({"name": {"$not": {"$regex": "^[ab]"}}}),
            vec!["cyd", "dan", "eve"],
        ),
        (
            json!({"age": {"$not": {"$gt": 30}}}),
            vec!["bob", "dan", "eve"],
        ),
        (json!({"tags": "b"}), vec!["ann", "bob"]),
        (json!({"tags": {"$in": ["a", "c"]}}), vec!["ann", "dan"]),
        (json!({"tags": {"$ne": "b"}}), vec!["cyd", "dan", "eve"]),
        (json!({"vip": true}), vec!["ann"]),
        (json!({"vip": false}), vec!["bob"]),
        (json!({"score": 1.5}), vec!["cyd"]),
        (
            json!({"$or": [{"name": "ann"}, {"age": {"$lt": 30}}]}),
            vec!["ann", "bob"],
        ),
        (
            json!({"$and": [{"tags": "b"}, {"age": {"$gt": 30}}]}),
            vec!["ann"],
        ),
        (json!({"_id": "cyd"}), vec!["cyd"]),
        (
            json!({"_system.ov": 0}),
            vec!["ann", "bob", "cyd", "dan", "eve"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(names(&c, filter.clone()).await, expected, "{filter}");
    }
    // Latest state only: an update moves an item out of a filter's result.
    c.update("bob", json!({"name": "bob", "age": 50}), 0, "a", "r")
        .await
        .unwrap();
    assert_eq!(
        names(&c, json!({"age": {"$gt": 30}})).await,
        vec!["ann", "bob", "cyd"]
    );
    assert_eq!(names(&c, json!({"_system.ov": 1})).await, vec!["bob"]);
}

pub async fn query_sort_and_pages(b: &dyn Backend) {
    let h = open!(b, with_map("nums", map(&["n", "group"])));
    let c = h.coll("nums");
    for i in 0..23 {
        let n = if i % 5 == 0 {
            json!(null)
        } else {
            json!(i % 7)
        };
        c.create(
            json!({"n": n, "group": if i % 2 == 0 { "even" } else { "odd" }}),
            "a",
            "r",
            CreateOptions {
                id: Some(format!("i{i:02}")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    for (sort, desc) in [(json!({"n": 1}), false), (json!({"n": -1}), true)] {
        // Page through with a small limit; the concatenation equals one big sorted read.
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = c
                .list_by_meta(ListOptions {
                    sort: Some(sort.clone()),
                    limit: Some(4),
                    after: after.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 4);
            paged.extend(
                page.items
                    .iter()
                    .map(|i| (i.data["n"].clone(), i.id.clone())),
            );
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(paged.len(), 23, "{sort}: every item exactly once");
        let full = c
            .list_by_meta(ListOptions {
                sort: Some(sort.clone()),
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        let full: Vec<_> = full
            .items
            .iter()
            .map(|i| (i.data["n"].clone(), i.id.clone()))
            .collect();
        assert_eq!(paged, full, "{sort}");
        let keys: Vec<(Option<i64>, String)> = full
            .iter()
            .map(|(n, id)| (n.as_i64(), id.clone()))
            .collect();
        let mut expected = keys.clone();
        expected.sort();
        if desc {
            expected.reverse();
        }
        assert_eq!(
            keys, expected,
            "{sort}: nulls first ascending, last descending; ties by id"
        );
    }
    // Filter + sort + pages.
    let page = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"group": "even"})),
            sort: Some(json!({"n": -1, "group": 1})),
            limit: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(page.items.iter().all(|i| i.data["group"] == json!("even")));
    let rest = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"group": "even"})),
            sort: Some(json!({"n": -1, "group": 1})),
            limit: Some(100),
            after: page.next,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 12 - 5);
    assert!(rest.next.is_none());
    // Default sort is by id; default limit 50.
    let ids: Vec<String> = c
        .list_by_meta(ListOptions::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.id)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

pub async fn query_errors(b: &dyn Backend) {
    let h = open!(b, with_map("people", people_map()));
    let c = seed_people(&h).await;
    let bad_filters = [
        json!({"email": "x"}),
        json!({"age": {"$where": "1"}}),
        json!({"$nor": [{"age": 1}]}),
        json!({"age": {"$in": 5}}),
        json!({"age": {"$exists": "yes"}}),
        json!({"name": {"$regex": "(unclosed"}}),
        json!({"city": {"name": "Paris"}}),
        json!({"age": {"$gt": [1]}}),
        json!("not an object"),
    ];
    for f in bad_filters {
        let e = c
            .list_by_meta(ListOptions {
                filter: Some(f.clone()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{f}: {e}");
    }
    for (sort, limit, after) in [
        (Some(json!({"email": 1})), None, None),
        (Some(json!({"age": 0})), None, None),
        (Some(json!({"tags": 1})), None, None),
        (None, Some(0), None),
        (None, Some(1001), None),
        (None, None, Some("garbage".to_string())),
    ] {
        let e = c
            .list_by_meta(ListOptions {
                sort,
                limit,
                after,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{e}");
    }
    // A cursor from a differently sorted query is refused.
    let p = c
        .list_by_meta(ListOptions {
            sort: Some(json!({"age": 1})),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let e = c
        .list_by_meta(ListOptions {
            after: p.next,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
}

pub async fn query_as_of(b: &dyn Backend) {
    let h = open!(b, with_map("people", people_map()));
    let c = seed_people(&h).await;
    tick().await;
    let t = Timestamp::now();
    let cv_mark = c
        .get_latest("eve", Default::default())
        .await
        .unwrap()
        .unwrap()
        .system
        .cv;
    tick().await;
    c.update("ann", json!({"name": "ann", "age": 10}), 0, "a", "r")
        .await
        .unwrap();
    c.delete("bob", 0, "a", "r").await.unwrap();
    c.create(
        json!({"name": "fay", "age": 33}),
        "a",
        "r",
        CreateOptions {
            id: Some("fay".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let now: Vec<String> = names(&c, json!({"age": {"$gt": 20}})).await;
    assert_eq!(now, vec!["cyd", "fay"]);
    for opts in [
        ListOptions {
            as_of_time: Some(t),
            ..Default::default()
        },
        ListOptions {
            as_of_cv: Some(cv_mark),
            ..Default::default()
        },
    ] {
        let page = c
            .list_by_meta(ListOptions {
                filter: Some(json!({"age": {"$gt": 20}})),
                sort: Some(json!({"name": 1})),
                ..opts
            })
            .await
            .unwrap();
        let got: Vec<String> = page.items.iter().map(|i| i.id.clone()).collect();
        assert_eq!(got, vec!["ann", "bob", "cyd"], "state as of the mark");
        assert_eq!(
            page.items[0].data["age"],
            json!(31),
            "with the content of that time"
        );
    }
    let e = c
        .list_by_meta(ListOptions {
            as_of_time: Some(t),
            as_of_cv: Some(1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)));
}

pub async fn restore_object(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("docs");
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    c.update(&r.id, json!({"v": 1}), 0, "a", "r").await.unwrap();
    tick().await;
    let t1 = Timestamp::now();
    tick().await;
    c.update(&r.id, json!({"v": 2}), 1, "a", "r").await.unwrap();
    let x = c
        .restore_object(&r.id, RestoreTarget::Ov(0), "ops", "rollback")
        .await
        .unwrap();
    assert_eq!(x.ov, 3, "restore appends");
    let item = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((item.data["v"].clone(), item.op), (json!(0), Op::Restore));
    c.restore_object(&r.id, RestoreTarget::At(t1), "ops", "r")
        .await
        .unwrap();
    assert_eq!(
        c.get_latest(&r.id, Default::default())
            .await
            .unwrap()
            .unwrap()
            .data["v"],
        json!(1)
    );
    // Delete, then restore a live version: live again.
    let d = c.delete(&r.id, 4, "a", "r").await.unwrap();
    c.restore_object(&r.id, RestoreTarget::Ov(2), "ops", "undelete")
        .await
        .unwrap();
    let item = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (item.data["v"].clone(), item.system.deleted, item.system.ov),
        (json!(2), false, 6)
    );
    // Restore to the deletion: deleted again.
    c.restore_object(&r.id, RestoreTarget::Ov(d.ov), "ops", "r")
        .await
        .unwrap();
    assert!(c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .is_none());
    let e = c
        .restore_object(&r.id, RestoreTarget::Ov(99), "ops", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    let e = c
        .restore_object(&r.id, RestoreTarget::At(Timestamp(0)), "ops", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    let e = c
        .restore_object("missing", RestoreTarget::Ov(0), "ops", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    // Every version's own history is intact.
    let h2 = c.history(&r.id, Default::default()).await.unwrap();
    assert_eq!(h2.versions.len(), 8);
}

pub async fn restore_collection(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("docs");
    let a = c
        .create(
            json!({"v": "a0"}),
            "x",
            "r",
            CreateOptions {
                id: Some("a".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    c.create(
        json!({"v": "b0"}),
        "x",
        "r",
        CreateOptions {
            id: Some("b".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    c.create(
        json!({"v": "d0"}),
        "x",
        "r",
        CreateOptions {
            id: Some("d".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    c.delete("d", 0, "x", "r").await.unwrap();
    let same = c
        .create(
            json!({"v": "s0"}),
            "x",
            "r",
            CreateOptions {
                id: Some("s".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tick().await;
    let t = Timestamp::now();
    tick().await;
    let mark = same.cv;
    c.update("a", json!({"v": "a1"}), 0, "x", "r")
        .await
        .unwrap();
    c.delete("b", 0, "x", "r").await.unwrap();
    c.create(
        json!({"v": "c0"}),
        "x",
        "r",
        CreateOptions {
            id: Some("c".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    c.restore_object("d", RestoreTarget::Ov(0), "x", "r")
        .await
        .unwrap();

    let dry = c
        .restore_collection(
            CollectionTarget::Cv(mark),
            RestoreOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (dry.restored, dry.deleted, dry.unchanged),
        (2, 2, 1),
        "{dry:?}"
    );
    assert_eq!(
        c.get_latest("a", Default::default())
            .await
            .unwrap()
            .unwrap()
            .data["v"],
        json!("a1"),
        "dry run changes nothing"
    );

    let progress_calls = std::sync::atomic::AtomicUsize::new(0);
    let cb = |p: &chronos_db::RestoreProgress| {
        assert_eq!(p.total, 5);
        progress_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    };
    let rep = c
        .restore_collection(
            CollectionTarget::At(t),
            RestoreOptions {
                actor: "ops".into(),
                reason: "rollback".into(),
                progress: Some(&cb),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rep.target_cv, mark);
    assert_eq!(
        (rep.restored, rep.deleted, rep.unchanged),
        (2, 2, 1),
        "{rep:?}"
    );
    assert!(progress_calls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let latest = |id: &'static str| c.get_latest(id, ReadOptions::default());
    assert_eq!(latest("a").await.unwrap().unwrap().data["v"], json!("a0"));
    assert_eq!(
        latest("b").await.unwrap().unwrap().data["v"],
        json!("b0"),
        "undeleted"
    );
    assert!(
        latest("c").await.unwrap().is_none(),
        "created after the target: deleted"
    );
    assert!(
        latest("d").await.unwrap().is_none(),
        "deleted at the target: deleted again"
    );
    assert_eq!(
        latest("s").await.unwrap().unwrap().system.ov,
        0,
        "unchanged items get no new version"
    );
    let a_hist = c.history(&a.id, Default::default()).await.unwrap();
    assert_eq!(a_hist.versions[0].op, Op::Restore);
    assert_eq!(a_hist.versions[0].actor.as_deref(), Some("ops"));
    // Idempotent: a second run changes nothing.
    let again = c
        .restore_collection(CollectionTarget::Cv(mark), RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (again.restored, again.deleted, again.unchanged),
        (0, 0, 5),
        "{again:?}"
    );
}

pub async fn restore_collection_resumes(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("many");
    for i in 0..260 {
        c.create(
            json!({"i": i}),
            "x",
            "r",
            CreateOptions {
                id: Some(format!("k{i:04}")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let mark = c
        .get_latest("k0259", Default::default())
        .await
        .unwrap()
        .unwrap()
        .system
        .cv;
    for i in (0..260).step_by(3) {
        c.update(&format!("k{i:04}"), json!({"i": -1}), 0, "x", "r")
            .await
            .unwrap();
    }
    // Simulate an interrupted run: restore only after k0199, then resume from there. The
    // resumed run's progress counts the 60 items it goes through, and reaches its total.
    let last_progress = std::sync::Mutex::new(None);
    let cb = |p: &chronos_db::RestoreProgress| {
        *last_progress.lock().unwrap() = Some((p.processed, p.total));
    };
    let first = c
        .restore_collection(
            CollectionTarget::Cv(mark),
            RestoreOptions {
                resume_after: Some("k0199".into()),
                progress: Some(&cb),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first.restored, 20, "{first:?}");
    assert_eq!(*last_progress.lock().unwrap(), Some((60, 60)));
    assert_eq!(first.last_id.as_deref(), Some("k0259"));
    let rest = c
        .restore_collection(CollectionTarget::Cv(mark), RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!((rest.restored, rest.unchanged), (67, 193), "{rest:?}");
    let page = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"i": -1})),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

pub fn blob_map() -> CollectionMap {
    CollectionMap {
        indexed_props: vec![],
        base64_props: [
            (
                "file".to_string(),
                Base64Prop {
                    content_type: "application/octet-stream".into(),
                    preferred_text: false,
                    text_charset: None,
                },
            ),
            (
                "doc.note".to_string(),
                Base64Prop {
                    content_type: "text/plain".into(),
                    preferred_text: true,
                    text_charset: None,
                },
            ),
        ]
        .into(),
        validation: None,
    }
}

pub async fn base64_blobs(b: &dyn Backend) {
    let h = open!(b, with_map("files", blob_map()));
    let c = h.coll("files");
    let r = c
        .create(
            json!({"name": "f", "file": "AAECAw==", "doc": {"note": "aGVsbG8gd29ybGQ="}}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let item = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    let file_ref = &item.data["file"]["ref"];
    assert_eq!(file_ref["size"], json!(4));
    assert!(file_ref["blobKey"]
        .as_str()
        .unwrap()
        .starts_with(&format!("files/{}/v0.", r.id)));
    assert!(
        file_ref.get("textKey").is_none(),
        "binary content gets no text rendition"
    );
    let note_ref = &item.data["doc"]["note"]["ref"];
    assert!(note_ref["textKey"]
        .as_str()
        .unwrap()
        .ends_with("/doc.note/text.txt"));
    let objects = h.objects(&format!("files/{}/", r.id)).await;
    assert_eq!(
        objects.len(),
        4,
        "item.json, one blob, one blob + text: {objects:?}"
    );
    let store = h.payloads.lock().unwrap()[0].clone();
    assert_eq!(
        &store
            .get(file_ref["blobKey"].as_str().unwrap())
            .await
            .unwrap()[..],
        &[0u8, 1, 2, 3]
    );
    assert_eq!(
        &store
            .get(note_ref["textKey"].as_str().unwrap())
            .await
            .unwrap()[..],
        b"hello world"
    );
    // Blobs are not indexed.
    let e = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"file": "x"})),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)));
    assert_eq!(
        c.list_by_meta(ListOptions {
            filter: Some(json!({"name": "f"})),
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .len(),
        1
    );
    // Update that keeps the ref: the new version owns a copy.
    let mut data = item.data.clone();
    data.insert("name".into(), json!("g"));
    c.update(&r.id, Value::Object(data), 0, "a", "r")
        .await
        .unwrap();
    let v1 = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    let k1 = v1.data["file"]["ref"]["blobKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(k1.contains("/v1."), "{k1}");
    assert_eq!(&store.get(&k1).await.unwrap()[..], &[0u8, 1, 2, 3]);
    // Invalid base64: rejected, nothing written.
    let before = h.objects("files/").await.len();
    for bad in ["not base64!", "AAECAw", "AAE CAw==", "AAECAw=="] {
        let payload = if bad == "AAECAw==" {
            json!({"file": 5})
        } else {
            json!({"file": bad})
        };
        let e = c
            .create(payload, "a", "r", Default::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad}: {e}");
    }
    assert_eq!(h.objects("files/").await.len(), before);
    // A ref to another item's blob is refused.
    let other = c
        .create(json!({"file": "AAAA"}), "a", "r", Default::default())
        .await
        .unwrap();
    let e = c
        .update(
            &other.id,
            json!({"file": item.data["file"].clone()}),
            0,
            "a",
            "steal",
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
}

pub async fn required_indexed(b: &dyn Backend) {
    let m = CollectionMap {
        indexed_props: vec!["accountId".into(), "amount".into()],
        validation: Some(CollectionValidation {
            required_indexed: vec!["accountId".into(), "amount".into()],
        }),
        ..Default::default()
    };
    let h = open!(b, with_map("ledger", m));
    let c = h.coll("ledger");
    for bad in [
        json!({"amount": 1}),
        json!({"accountId": "", "amount": 1}),
        json!({"accountId": "a", "amount": null}),
    ] {
        let e = c
            .create(bad.clone(), "a", "r", Default::default())
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Validation(ref m) if m.contains("required indexed field")),
            "{bad}: {e}"
        );
    }
    let r = c
        .create(
            json!({"accountId": "a", "amount": 0}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let e = c
        .update(&r.id, json!({"amount": 2}), 0, "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    assert!(
        h.objects("ledger/").await.len() == 1,
        "only the valid create wrote anything"
    );
}

pub async fn versioning_disabled(b: &dyn Backend) {
    let h = open!(b, |c: &mut ChronosConfig| c.versioning.enabled = false);
    let c = h.coll("docs");
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    c.update(&r.id, json!({"v": 1}), 0, "a", "r").await.unwrap();
    c.update(&r.id, json!({"v": 2}), 1, "a", "r").await.unwrap();
    let hist = c.history(&r.id, Default::default()).await.unwrap();
    assert_eq!(
        hist.versions.iter().map(|v| v.ov).collect::<Vec<_>>(),
        vec![2]
    );
    assert!(c
        .get_version(&r.id, 0, Default::default())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        c.get_latest(&r.id, Default::default())
            .await
            .unwrap()
            .unwrap()
            .data["v"],
        json!(2)
    );
    assert_eq!(
        h.objects(&format!("docs/{}/", r.id)).await.len(),
        1,
        "older payloads are removed"
    );
    // Time travel and restores need history: refused, not answered from the latest version.
    let e = c
        .restore_object(&r.id, RestoreTarget::Ov(0), "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    let e = c
        .get_as_of(&r.id, Timestamp::now(), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    let e = c
        .restore_collection(CollectionTarget::Cv(1), RestoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
}

pub async fn tenant_isolation(b: &dyn Backend) {
    let h = open!(b);
    let a = h.tenant("tenant-a", "users");
    let b2 = h.tenant("tenant-b", "users");
    let r = a
        .create(
            json!({"secret": "A"}),
            "a",
            "r",
            CreateOptions {
                id: Some("shared-id".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(b2
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .is_none());
    assert!(b2
        .list_by_meta(ListOptions::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let e = b2
        .update(&r.id, json!({"x": 1}), 0, "b", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)));
    assert!(!e.to_string().contains("tenant-a"));
    // The same id in tenant B is a different item.
    b2.create(
        json!({"secret": "B"}),
        "b",
        "r",
        CreateOptions {
            id: Some("shared-id".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        a.get_latest("shared-id", Default::default())
            .await
            .unwrap()
            .unwrap()
            .data["secret"],
        json!("A")
    );
    assert_eq!(
        b2.get_latest("shared-id", Default::default())
            .await
            .unwrap()
            .unwrap()
            .data["secret"],
        json!("B")
    );
    // Other database types and tiers are separate too.
    let k = h
        .chronos
        .with(chronos_db::Route::generic(
            chronos_db::DatabaseType::Knowledge,
            "users",
        ))
        .unwrap();
    assert!(k
        .get_latest("shared-id", Default::default())
        .await
        .unwrap()
        .is_none());
}

pub async fn projection(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("docs");
    let r = c
        .create(
            json!({"a": {"b": 1, "c": 2}, "d": 3}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let p = Some(vec!["a.b".to_string(), "zzz".to_string()]);
    let item = c
        .get_latest(
            &r.id,
            ReadOptions {
                projection: p.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Value::Object(item.data), json!({"a": {"b": 1}}));
    assert_eq!(item.system.ov, 0, "_system is always returned");
    let page = c
        .list_by_meta(ListOptions {
            projection: p,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        Value::Object(page.items[0].data.clone()),
        json!({"a": {"b": 1}})
    );
}

/// Fetches a presigned URL: `file://` from disk, HTTP(S) over the network. Returns the
/// status (200 for files) and the body.
async fn fetch(url: &str) -> (u16, Vec<u8>) {
    if let Some(path) = url.strip_prefix("file://") {
        return (200, std::fs::read(path).expect("file URL readable"));
    }
    let resp = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("GET presigned URL");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

pub async fn presigned_urls(b: &dyn Backend) {
    let h = open!(b, with_map("files", blob_map()));
    let c = h.coll("files");
    let r = c
        .create(
            json!({"name": "v0", "doc": {"note": "aGVsbG8gd29ybGQ="}, "file": "AAECAw=="}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let opts = ReadOptions {
        presign: true,
        ttl_seconds: Some(120),
        ..Default::default()
    };
    let v0 = c.get_latest(&r.id, opts.clone()).await.unwrap().unwrap();
    let p = v0.presigned.clone().expect("presigned URLs");
    assert_eq!(p.expires_in, 120);
    let (status, body) = fetch(&p.item_url).await;
    assert_eq!(status, 200, "{}", p.item_url);
    let stored: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored["name"], json!("v0"));
    let (status, body) = fetch(&p.blobs["file"].blob_url).await;
    assert_eq!((status, body), (200, vec![0u8, 1, 2, 3]));
    let note = &p.blobs["doc.note"];
    assert_eq!(fetch(&note.blob_url).await, (200, b"hello world".to_vec()));
    assert_eq!(
        fetch(note.text_url.as_ref().expect("text URL")).await,
        (200, b"hello world".to_vec())
    );
    assert!(v0.to_document().contains_key("_presigned"));
    // URLs are pinned to their version: a later update does not change what they return.
    c.update(&r.id, json!({"name": "v1", "file": "BAUG"}), 0, "a", "r")
        .await
        .unwrap();
    assert_eq!(
        fetch(&p.blobs["file"].blob_url).await,
        (200, vec![0u8, 1, 2, 3])
    );
    let old = c
        .get_version(&r.id, 0, opts.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fetch(&old.presigned.unwrap().blobs["file"].blob_url).await,
        (200, vec![0u8, 1, 2, 3])
    );
    let listed = c
        .list_by_meta(ListOptions {
            presign: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let lp = listed.items[0].presigned.as_ref().unwrap();
    assert_eq!(
        fetch(&lp.blobs["file"].blob_url).await,
        (200, vec![4u8, 5, 6])
    );
    // Bad lifetimes are refused.
    for ttl in [0, 604_801] {
        let e = c
            .get_latest(
                &r.id,
                ReadOptions {
                    presign: true,
                    ttl_seconds: Some(ttl),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{e}");
    }
    // An expired URL is refused (signed URLs only; file:// URLs carry no expiry).
    let short = c
        .get_latest(
            &r.id,
            ReadOptions {
                presign: true,
                ttl_seconds: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    let url = short.presigned.unwrap().item_url;
    if !url.starts_with("file://") {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (status, _) = fetch(&url).await;
        assert!(
            status == 403 || status == 401,
            "expired URL answered {status}"
        );
    }
}

pub async fn sweeper_removes_only_orphans(b: &dyn Backend) {
    let h = open!(b, with_map("files", blob_map()));
    let c = h.coll("files");
    let r = c
        .create(json!({"file": "AAECAw=="}), "a", "r", Default::default())
        .await
        .unwrap();
    // A commit that fails with an unknown outcome leaves its objects (they might be
    // referenced); here the commit never happened, so they are orphans.
    h.meta_fault.arm(2, false);
    assert!(c
        .update(&r.id, json!({"file": "BAUG"}), 0, "a", "r")
        .await
        .is_err());
    h.meta_fault.disarm();
    // A commit whose reply was lost: committed, its objects are referenced.
    h.meta_fault.arm(2, true);
    assert!(c
        .update(&r.id, json!({"file": "BwgJ"}), 0, "a", "r")
        .await
        .is_err());
    h.meta_fault.disarm();
    let before = h.objects(&format!("files/{}/", r.id)).await;
    assert_eq!(
        before.len(),
        6,
        "three attempts of item.json + blob: {before:?}"
    );
    let young = c
        .sweep_orphans(Duration::from_secs(3600), false)
        .await
        .unwrap();
    assert!(
        young.orphan_prefixes.is_empty(),
        "recent objects are never swept: {young:?}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dry = c.sweep_orphans(Duration::from_secs(1), true).await.unwrap();
    assert_eq!(
        (
            dry.orphan_prefixes.len(),
            dry.orphan_objects,
            dry.deleted_objects
        ),
        (1, 2, 0),
        "{dry:?}"
    );
    assert!(dry.orphan_prefixes[0].contains("/v1."));
    assert_eq!(
        h.objects(&format!("files/{}/", r.id)).await.len(),
        6,
        "a dry run deletes nothing"
    );
    let done = c
        .sweep_orphans(Duration::from_secs(1), false)
        .await
        .unwrap();
    assert_eq!(done.deleted_objects, 2);
    assert_eq!(h.objects(&format!("files/{}/", r.id)).await.len(), 4);
    // Every version is still complete.
    for ov in [0, 1] {
        let item = c
            .get_version(&r.id, ov, Default::default())
            .await
            .unwrap()
            .unwrap();
        let store = h.payloads.lock().unwrap()[0].clone();
        store
            .get(item.data["file"]["ref"]["blobKey"].as_str().unwrap())
            .await
            .expect("blob kept");
    }
    assert_eq!(
        c.sweep_orphans(Duration::from_secs(1), false)
            .await
            .unwrap()
            .orphan_prefixes
            .len(),
        0
    );
}

fn with_locks(lease_ms: u64, wait_ms: u64) -> impl FnOnce(&mut ChronosConfig) {
    move |c| {
        c.locks.enabled = true;
        c.locks.lease_ms = lease_ms;
        c.locks.wait_ms = wait_ms;
    }
}

/// Two independent clients (separate connections and caches) hammer the same item under
/// leases: no update is lost and no ov is acknowledged twice.
pub async fn leases_serialise_two_clients(b: &dyn Backend) {
    let h = open!(b, with_locks(5_000, 60_000));
    let first = h.coll("hot");
    let other = chronos_db::Chronos::open(h.config.clone()).await.unwrap();
    let second = other
        .with(chronos_db::Route::tenant(
            chronos_db::DatabaseType::Runtime,
            "tenant-a",
            "hot",
        ))
        .unwrap();
    let r = first
        .create(
            json!({"marks": []}),
            "a",
            "r",
            CreateOptions {
                id: Some("counter".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (client, c) in [(0, first.clone()), (1, second.clone())] {
        for w in 0..3 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for k in 0..6 {
                    let mark = format!("c{client}-w{w}-{k}");
                    let res = c
                        .enrich(
                            "counter",
                            json!({"marks": [mark.clone()]}),
                            EnrichOptions::default(),
                        )
                        .await;
                    let res = res.unwrap_or_else(|e| panic!("{mark}: {e}"));
                    acked.push((res.ov, mark));
                }
                acked
            }));
        }
    }
    let mut ovs = std::collections::BTreeSet::new();
    let mut marks = Vec::new();
    for t in tasks {
        for (ov, mark) in t.await.unwrap() {
            assert!(ovs.insert(ov), "ov {ov} acknowledged twice");
            marks.push(mark);
        }
    }
    assert_eq!(
        ovs.iter().copied().collect::<Vec<_>>(),
        (1..=36).collect::<Vec<u64>>()
    );
    let item = second
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    let stored: Vec<String> = item.data["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    marks.sort();
    let mut got = stored.clone();
    got.sort();
    assert_eq!(got, marks, "no update lost");
    assert_eq!(item.system.ov, 36);
}

/// A crashed holder's lease blocks writers only until it expires; a live one makes them
/// fail with `Locked` after their wait.
pub async fn crashed_holder_lease_expires(b: &dyn Backend) {
    let h = open!(b, with_locks(5_000, 3_000));
    let c = h.coll("leases");
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    let store = h.metas.lock().unwrap()[0].clone();
    // A holder that dies right after taking a short lease.
    assert!(store
        .acquire_lease(
            "leases",
            &r.id,
            "crashed-process",
            Duration::from_millis(800)
        )
        .await
        .unwrap());
    let start = std::time::Instant::now();
    c.update(&r.id, json!({"v": 1}), 0, "a", "r").await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "the write waited for the lease: {:?}",
        start.elapsed()
    );
    // A holder that stays alive longer than the writer's wait.
    assert!(store
        .acquire_lease("leases", &r.id, "slow-process", Duration::from_secs(30))
        .await
        .unwrap());
    assert!(!store
        .acquire_lease("leases", &r.id, "someone-else", Duration::from_secs(30))
        .await
        .unwrap());
    let e = c
        .update(&r.id, json!({"v": 2}), 1, "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    store
        .release_lease("leases", &r.id, "slow-process")
        .await
        .unwrap();
    c.update(&r.id, json!({"v": 2}), 1, "a", "r").await.unwrap();
    assert_eq!(
        c.get_latest(&r.id, Default::default())
            .await
            .unwrap()
            .unwrap()
            .system
            .ov,
        2
    );
}

/// Tiered fetch over the knowledge databases: the most specific tier wins without `merge`
/// (tenant, else domain, else generic); with `merge` the tiers merge generic ← domain ←
/// tenant as in the seed's example; another tenant never sees this tenant's record.
pub async fn tiered_fetch(b: &dyn Backend) {
    use chronos_db::tiered::TieredOptions;
    use chronos_db::{DatabaseType, Route, Tier};
    let h = open!(b);
    let k = |route| h.chronos.with(route).expect("route");
    let generic = k(Route::generic(DatabaseType::Knowledge, "app-config"));
    let domain = k(Route::domain(
        DatabaseType::Knowledge,
        "production",
        "app-config",
    ));
    let tenant = k(Route::tenant(
        DatabaseType::Knowledge,
        "tenant-a",
        "app-config",
    ));
    let put = |c: &chronos_db::Collection, v: Value| {
        let c = c.clone();
        async move {
            c.create(v, "ops", "seed", Default::default())
                .await
                .unwrap()
        }
    };
    put(&generic, json!({"key": "flags", "theme": "light", "features": ["basic", "standard"], "settings": {"timeout": 30}})).await;
    put(
        &domain,
        json!({"key": "flags", "features": ["advanced"], "settings": {"maxRetries": 3}}),
    )
    .await;
    put(&tenant, json!({"key": "flags", "theme": "dark", "features": ["premium"], "settings": {"timeout": 60}})).await;
    put(&generic, json!({"key": "other", "theme": "x"})).await;
    let opts = |tenant: Option<&str>, merge: bool| TieredOptions {
        tenant_id: tenant.map(str::to_string),
        domain: Some("production".into()),
        merge,
        ..Default::default()
    };
    let fetch = |o: TieredOptions| {
        h.chronos
            .get_knowledge("app-config", json!({"key": "flags"}), o)
    };

    let first = fetch(opts(Some("tenant-a"), false)).await.unwrap();
    assert_eq!(first.tiers_found, vec![Tier::Tenant]);
    assert_eq!(first.data.as_ref().unwrap()["theme"], json!("dark"));
    // Another tenant falls back to the domain's record, never tenant-a's.
    let other = fetch(opts(Some("tenant-b"), false)).await.unwrap();
    assert_eq!(other.tiers_found, vec![Tier::Domain]);
    assert!(!serde_json::to_string(&other.to_json())
        .unwrap()
        .contains("dark"));

    let merged = fetch(opts(Some("tenant-a"), true)).await.unwrap();
    assert_eq!(
        merged.tiers_found,
        vec![Tier::Generic, Tier::Domain, Tier::Tenant]
    );
    assert_eq!(
        Value::Object(merged.data.clone().unwrap()),
        json!({"key": "flags", "theme": "dark",
               "features": ["basic", "standard", "advanced", "premium"],
               "settings": {"timeout": 60, "maxRetries": 3}})
    );
    let shape = merged.to_json();
    assert_eq!(shape["tiersFound"], json!(["generic", "domain", "tenant"]));
    assert_eq!(
        shape["tierRecords"]["domain"]["settings"],
        json!({"maxRetries": 3})
    );

    // Deleted records are not found (unless asked for); nothing found is an empty result.
    let rec = tenant
        .list_by_meta(ListOptions {
            filter: Some(json!({"key": "flags"})),
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .remove(0);
    tenant.delete(&rec.id, 0, "ops", "gone").await.unwrap();
    let after = fetch(opts(Some("tenant-a"), false)).await.unwrap();
    assert_eq!(after.tiers_found, vec![Tier::Domain]);
    let none = h
        .chronos
        .get_knowledge(
            "app-config",
            json!({"key": "missing"}),
            opts(Some("tenant-a"), true),
        )
        .await
        .unwrap();
    assert_eq!((none.data, none.tiers_found.len()), (None, 0));
    // Invalid filters are errors, not empty results.
    let bad = h
        .chronos
        .get_knowledge(
            "app-config",
            json!({"key": {"$where": "1"}}),
            opts(None, false),
        )
        .await;
    assert!(
        matches!(bad, Err(chronos_db::Error::Validation(_))),
        "{bad:?}"
    );
}

/// Entities: embedded objects saved as items keyed by their key property (created, updated,
/// unchanged), fetched back with the record; one entity per key even under concurrent
/// inserts; each tenant has its own.
pub async fn entities(b: &dyn Backend) {
    use chronos_db::ops::{EntityMapping, EntityOperation};
    use chronos_db::{DatabaseType, Route, Tier};
    let h = open!(b);
    let orders = h.coll("orders");
    let mappings = vec![
        EntityMapping {
            property: "customer".into(),
            collection: "customers".into(),
            key_property: "customerId".into(),
            database_type: Some(DatabaseType::Knowledge),
            tier: Some(Tier::Tenant),
        },
        EntityMapping {
            property: "product".into(),
            collection: "products".into(),
            key_property: "productId".into(),
            database_type: None,
            tier: None,
        },
    ];
    let order = |price: f64| {
        json!({"orderId": "O-1", "quantity": 2,
               "customer": {"customerId": "C-1", "name": "Ada"},
               "product": {"productId": "P-1", "name": "Widget", "price": price}})
    };
    fn ops(r: &chronos_db::ops::EntityInsert) -> Vec<(&str, chronos_db::ops::EntityOperation)> {
        r.entity_results
            .iter()
            .map(|e| (e.property.as_str(), e.operation))
            .collect()
    }
    let first = orders
        .insert_with_entities(order(9.5), &mappings, "shop", "order")
        .await
        .unwrap();
    assert_eq!(
        ops(&first),
        vec![
            ("customer", EntityOperation::Created),
            ("product", EntityOperation::Created)
        ]
    );
    let second = orders
        .insert_with_entities(order(12.0), &mappings, "shop", "order")
        .await
        .unwrap();
    assert_eq!(
        ops(&second),
        vec![
            ("customer", EntityOperation::Unchanged),
            ("product", EntityOperation::Updated)
        ]
    );
    let customers = h
        .chronos
        .with(Route::tenant(
            DatabaseType::Knowledge,
            "tenant-a",
            "customers",
        ))
        .unwrap();
    let c = customers
        .get_latest("C-1", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.data["name"], json!("Ada"));
    let got = orders
        .get_with_entities(&second.main_record.id, &mappings, Default::default())
        .await
        .unwrap();
    assert_eq!(
        got.main_record.unwrap().data["product"]["price"],
        json!(12.0)
    );
    let (prop, product) = &got.entity_records[1];
    assert_eq!(prop, "product");
    let product = product.as_ref().unwrap();
    assert_eq!(
        (product.data["price"].clone(), product.system.ov),
        (json!(12.0), 1)
    );
    assert_eq!(got.entity_records[0].1.as_ref().unwrap().id, "C-1");

    // Another tenant has its own customers.
    let other = h.tenant("tenant-b", "orders");
    let theirs = other
        .insert_with_entities(order(1.0), &mappings, "shop", "order")
        .await
        .unwrap();
    assert_eq!(ops(&theirs)[0], ("customer", EntityOperation::Created));

    // Concurrent inserts of a new key with different content: all succeed, one creates it.
    let run = |n: i64| {
        let orders = orders.clone();
        let mappings = mappings.clone();
        async move {
            let data = json!({"orderId": n, "product": {"productId": "P-new", "stock": n}});
            orders
                .insert_with_entities(data, &mappings, "shop", "race")
                .await
                .unwrap()
        }
    };
    let results = futures::future::join_all((0..12).map(run)).await;
    let created = results
        .iter()
        .filter(|r| r.entity_results[0].operation == EntityOperation::Created)
        .count();
    assert_eq!(created, 1);
    let count = || async {
        orders
            .list_by_meta(ListOptions {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .len()
    };
    assert_eq!(count().await, 14, "2 + 12 orders");

    // Refused before anything is written: an entity that is not an object after one that
    // is, and a mapping into a shared tier.
    let bad = orders
        .insert_with_entities(
            json!({"customer": {"customerId": "C-9"}, "product": "P-1"}),
            &mappings,
            "shop",
            "bad",
        )
        .await;
    assert!(matches!(bad, Err(Error::Validation(_))), "{bad:?}");
    let shared = vec![EntityMapping {
        tier: Some(Tier::Generic),
        database_type: Some(DatabaseType::Knowledge),
        ..mappings[0].clone()
    }];
    let bad = orders
        .insert_with_entities(
            json!({"customer": {"customerId": "C-9"}}),
            &shared,
            "shop",
            "bad",
        )
        .await;
    assert!(matches!(bad, Err(Error::Validation(_))), "{bad:?}");
    assert!(customers
        .get_latest("C-9", Default::default())
        .await
        .unwrap()
        .is_none());
    assert_eq!(count().await, 14);

    // The record's projection does not hide its entities.
    let projected = orders
        .get_with_entities(
            &second.main_record.id,
            &mappings,
            ReadOptions {
                projection: Some(vec!["orderId".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(projected
        .main_record
        .unwrap()
        .data
        .get("customer")
        .is_none());
    assert_eq!(
        projected.entity_records[0].1.as_ref().unwrap().data["name"],
        json!("Ada")
    );

    // An entity created some other way is found by its (indexed) key property.
    let legacy = customers
        .create(
            json!({"customerId": "C-old", "name": "Grace"}),
            "import",
            "legacy",
            Default::default(),
        )
        .await
        .unwrap();
    let found = orders
        .insert_with_entities(
            json!({"customer": {"customerId": "C-old", "name": "Grace"}}),
            &mappings,
            "shop",
            "order",
        )
        .await
        .unwrap();
    assert_eq!(
        (
            found.entity_results[0].id.as_str(),
            found.entity_results[0].operation
        ),
        (legacy.id.as_str(), EntityOperation::Unchanged)
    );

    // A deleted entity blocks the insert with a clear error until it is restored.
    customers.delete("C-1", 0, "ops", "gdpr").await.unwrap();
    let blocked = orders
        .insert_with_entities(order(12.0), &mappings, "shop", "order")
        .await;
    assert!(
        matches!(&blocked, Err(Error::Validation(m)) if m.contains("deleted")),
        "{blocked:?}"
    );
}
