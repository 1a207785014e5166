//! Single-item writes and reads: create, ids, validation, update, lineage, deletes, enrich,
//! required fields, versioning off, tenant isolation, projection.

use crate::harness::Backend;
use crate::support::*;
use chronos_db::config::{Base64Prop, ChronosConfig, CollectionMap, CollectionValidation};
use chronos_db::{
    CollectionTarget, CreateOptions, EnrichOptions, Error, LineageRef, ListOptions, Op, OriginRef,
    ReadOptions, RestoreOptions, RestoreTarget, Timestamp,
};
use serde_json::{json, Value};

conformance_case!(create_and_read);
async fn create_and_read(b: &dyn Backend) {
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

conformance_case!(caller_ids);
async fn caller_ids(b: &dyn Backend) {
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

conformance_case!(invalid_input);
async fn invalid_input(b: &dyn Backend) {
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
        let e = chronos_db::Route::tenant(chronos_db::DatabaseType::Runtime, "tenant-a", bad_coll)
            .expect_err("bad collection");
        assert!(
            matches!(e, chronos_db::routing::RouteError::Invalid(_)),
            "{bad_coll}: {e}"
        );
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

conformance_case!(update_replaces_and_conflicts);
async fn update_replaces_and_conflicts(b: &dyn Backend) {
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

conformance_case!(lineage_carries_forward);
async fn lineage_carries_forward(b: &dyn Backend) {
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

conformance_case!(logical_delete);
async fn logical_delete(b: &dyn Backend) {
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

conformance_case!(hard_delete_removes_everything);
async fn hard_delete_removes_everything(b: &dyn Backend) {
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

conformance_case!(enrich_merges);
async fn enrich_merges(b: &dyn Backend) {
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

conformance_case!(required_indexed);
async fn required_indexed(b: &dyn Backend) {
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

conformance_case!(versioning_disabled);
async fn versioning_disabled(b: &dyn Backend) {
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

conformance_case!(tenant_isolation);
async fn tenant_isolation(b: &dyn Backend) {
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
        .with(chronos_db::Route::generic(chronos_db::DatabaseType::Knowledge, "users").unwrap())
        .unwrap();
    assert!(k
        .get_latest("shared-id", Default::default())
        .await
        .unwrap()
        .is_none());
}

conformance_case!(projection);
async fn projection(b: &dyn Backend) {
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
