//! Hostile and careless input: each case reproduces a defect class found by probing, on every
//! backend.

use crate::harness::Backend;
use crate::support::{blob_map, map, with_id, with_map};
use chronos_db::config::{ChronosConfig, TenantDatabase};
use chronos_db::{
    CollectionTarget, EnrichOptions, Error, ListOptions, ReadOptions, RestoreOptions, RestoreTarget,
};
use serde_json::{json, Value};
use std::time::Duration;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("test JSON")
}

conformance_case!(numbers_read_back_exactly);
/// Numbers are acknowledged and read back with their exact digits, on every path (create,
/// update, enrich, restore, history reads); numbers beyond a 64-bit float are refused.
async fn numbers_read_back_exactly(b: &dyn Backend) {
    let h = open!(b, with_map("nums", map(&["n"])));
    let c = h.coll("nums");
    let big = r#"{"n": 18446744073709551616, "neg": -9223372036854775809, "tiny": 0.100000000000000000000000000001, "list": [1.50, 123456789012345678901234567890]}"#;
    let r = c.create(parse(big), "a", "r", with_id("n1")).await.unwrap();
    let text = |item: &chronos_db::Item| Value::Object(item.data.clone()).to_string();
    let expected = parse(big).to_string();
    let latest = c
        .get_latest("n1", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&latest), expected);
    assert!(expected.contains("18446744073709551616") && expected.contains("[1.50,"));

    // Through enrich (deep merge) and restore, digits survive too.
    c.enrich(
        "n1",
        parse(r#"{"more": 340282366920938463463374607431768211457}"#),
        EnrichOptions::default(),
    )
    .await
    .unwrap();
    let enriched = c
        .get_latest("n1", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        enriched.data["more"].to_string(),
        "340282366920938463463374607431768211457"
    );
    assert_eq!(enriched.data["n"].to_string(), "18446744073709551616");
    c.restore_object("n1", RestoreTarget::Ov(r.ov), "a", "back")
        .await
        .unwrap();
    let restored = c
        .get_latest("n1", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&restored), expected);

    // Indexed comparisons use the nearest 64-bit float: the item is found by range.
    let page = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"n": {"$gt": 1.8e19}})),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].data["n"].to_string(), "18446744073709551616");

    // Out of float range: refused, nothing written.
    for bad in [r#"{"n": 1e400}"#, r#"{"deep": {"n": [-1e309]}}"#] {
        let e = c
            .create(parse(bad), "a", "r", Default::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad}: {e}");
        let e = c.update("n1", parse(bad), 2, "a", "r").await.unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad}: {e}");
    }
    assert_eq!(
        c.get_latest("n1", Default::default())
            .await
            .unwrap()
            .unwrap()
            .system
            .ov,
        2
    );
}

/// `levels` nested objects, the innermost being `inner`.
fn nested(levels: usize, inner: Value) -> Value {
    let mut v = inner;
    for _ in 1..levels {
        v = json!({ "a": v });
    }
    v
}

conformance_case!(depth_limit_counts_containers);
/// The depth limit counts objects and arrays only, the same way whatever the innermost
/// object holds, on create, update and enrich.
async fn depth_limit_counts_containers(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("deep");
    let limit = h.config.limits.max_depth;
    for inner in [json!({}), json!({"x": 1}), json!({"x": "s"})] {
        c.create(nested(limit, inner.clone()), "a", "r", Default::default())
            .await
            .unwrap_or_else(|e| panic!("{limit} levels ending in {inner}: {e}"));
        let e = c
            .create(
                nested(limit + 1, inner.clone()),
                "a",
                "r",
                Default::default(),
            )
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains(&format!("deeper than {limit}")),
            "{e}"
        );
    }
    let r = c
        .create(nested(limit - 1, json!({})), "a", "r", with_id("d1"))
        .await
        .unwrap();
    // An enrichment one level past the limit is refused.
    let mut patch = json!({"x": 1});
    for _ in 0..limit {
        patch = json!({ "a": patch });
    }
    let e = c
        .enrich("d1", patch, EnrichOptions::default())
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
        0
    );
}

conformance_case!(payload_id_never_chooses_the_id);
/// `_id` in a payload never chooses an id: refused on a create without `id`, accepted only
/// when it names the item being written (read-modify-write round trips).
async fn payload_id_never_chooses_the_id(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("ids");
    let e = c
        .create(
            json!({"_id": "chosen", "v": 1}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Validation(m) if m.contains("`id` option")),
        "{e}"
    );
    assert!(c
        .get_latest(
            "chosen",
            ReadOptions {
                include_deleted: true,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_none());
    let e = c
        .create(json!({"_id": "other", "v": 1}), "a", "r", with_id("chosen"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    c.create(
        json!({"_id": "chosen", "v": 1}),
        "a",
        "r",
        with_id("chosen"),
    )
    .await
    .unwrap();
    // A document read back can be written back as it is.
    let item = c
        .get_latest("chosen", Default::default())
        .await
        .unwrap()
        .unwrap();
    let mut doc = item.to_document();
    assert_eq!(doc["_id"], "chosen");
    doc.insert("v".into(), json!(2));
    c.update("chosen", Value::Object(doc), 0, "a", "r")
        .await
        .unwrap();
    let e = c
        .update("chosen", json!({"_id": "x", "v": 3}), 1, "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    let e = c
        .enrich("chosen", json!({"_id": 5}), EnrichOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    let e = c
        .insert_with_entities(json!({"_id": "rec", "v": 1}), &[], "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    let latest = c
        .get_latest("chosen", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((latest.system.ov, latest.data["v"].clone()), (1, json!(2)));
    assert!(!latest.data.contains_key("_id"));
}

fn hard_delete(c: &mut ChronosConfig) {
    c.logical_delete.enabled = false;
    c.collection_maps.insert("files".into(), blob_map());
}

conformance_case!(hard_delete_restore_removes_items);
/// With hard deletes, a collection restore removes the items created after the target the
/// way `delete` does: no version, no object left, and the id can be created again.
async fn hard_delete_restore_removes_items(b: &dyn Backend) {
    let h = open!(b, hard_delete);
    let c = h.coll("files");
    let kept = c
        .create(
            json!({"name": "kept", "file": "AAECAw=="}),
            "a",
            "r",
            with_id("kept"),
        )
        .await
        .unwrap();
    let later = c
        .create(
            json!({"name": "later", "file": "BAUG"}),
            "a",
            "r",
            with_id("later"),
        )
        .await
        .unwrap();
    c.update("kept", json!({"name": "kept v1"}), 0, "a", "r")
        .await
        .unwrap();
    assert!(!h.objects("files/later/").await.is_empty());

    let dry = c
        .restore_collection(
            CollectionTarget::Cv(kept.cv),
            RestoreOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((dry.restored, dry.deleted, dry.unchanged), (1, 1, 0));
    let report = c
        .restore_collection(CollectionTarget::Cv(kept.cv), RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!((report.restored, report.deleted), (1, 1), "{report:?}");
    assert!(report.target_cv < later.cv);

    let all = ReadOptions {
        include_deleted: true,
        ..Default::default()
    };
    assert!(c.get_latest("later", all.clone()).await.unwrap().is_none());
    assert!(
        matches!(
            c.history("later", Default::default()).await,
            Err(Error::NotFound(_))
        ) || c
            .history("later", Default::default())
            .await
            .is_ok_and(|p| p.versions.is_empty())
    );
    assert_eq!(h.objects("files/later/").await, Vec::<String>::new());
    let kept_now = c
        .get_latest("kept", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept_now.data["name"], "kept");

    // The id is free again: created, then deleted like any other item.
    let again = c
        .create(json!({"name": "again"}), "a", "r", with_id("later"))
        .await
        .unwrap();
    assert_eq!(again.ov, 0);
    c.delete("later", 0, "a", "r").await.unwrap();
    assert!(c.get_latest("later", all).await.unwrap().is_none());
    // A second run finds nothing left to do.
    let again = c
        .restore_collection(CollectionTarget::Cv(kept.cv), RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!((again.restored, again.deleted, again.unchanged), (0, 0, 1));
}

conformance_case!(hard_delete_frees_logically_deleted_items);
/// Switching to hard deletes: an item deleted logically before can be deleted (removed) and
/// its id created again, instead of being stuck between DELETED and ALREADY_EXISTS.
async fn hard_delete_frees_logically_deleted_items(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("users");
    c.create(json!({"v": 1}), "a", "r", with_id("old"))
        .await
        .unwrap();
    c.delete("old", 0, "a", "r").await.unwrap();
    let mut cfg = h.config.clone();
    cfg.logical_delete.enabled = false;
    let hard = chronos_db::Chronos::open(cfg).await.unwrap();
    let c = hard
        .with(
            chronos_db::Route::tenant(chronos_db::DatabaseType::Runtime, "tenant-a", "users")
                .unwrap(),
        )
        .unwrap();
    let e = c
        .create(json!({"v": 2}), "a", "r", with_id("old"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    let e = c.delete("old", 0, "a", "r").await.unwrap_err();
    assert!(
        matches!(e, Error::Conflict { current: 1, .. }),
        "a stale expected ov is still a conflict: {e}"
    );
    c.delete("old", 1, "a", "r").await.unwrap();
    assert!(c
        .get_latest(
            "old",
            ReadOptions {
                include_deleted: true,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_none());
    assert_eq!(h.objects("users/old/").await, Vec::<String>::new());
    let again = c
        .create(json!({"v": 3}), "a", "r", with_id("old"))
        .await
        .unwrap();
    assert_eq!(again.ov, 0);
}

conformance_case!(restore_to_current_state_is_a_no_op);
/// Restoring an item to the state it is already in appends nothing.
async fn restore_to_current_state_is_a_no_op(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("same");
    let v0 = c
        .create(json!({"v": 0}), "a", "r", with_id("s1"))
        .await
        .unwrap();
    let v1 = c.update("s1", json!({"v": 1}), 0, "a", "r").await.unwrap();
    let same = c
        .restore_object("s1", RestoreTarget::Ov(1), "a", "again")
        .await
        .unwrap();
    assert_eq!((same.ov, same.cv), (v1.ov, v1.cv));
    let back = c
        .restore_object("s1", RestoreTarget::Ov(0), "a", "undo")
        .await
        .unwrap();
    assert_eq!(back.ov, 2);
    // ov 2 has ov 0's content: restoring ov 0 again changes nothing either.
    let still = c
        .restore_object("s1", RestoreTarget::Ov(v0.ov), "a", "undo")
        .await
        .unwrap();
    assert_eq!(still.ov, 2);
    let history = c.history("s1", Default::default()).await.unwrap();
    assert_eq!(history.versions.len(), 3);
}

conformance_case!(blob_refs_resolve_to_own_versions);
/// A blob ref in a write is resolved against the item's own committed versions: forged
/// metadata is replaced by the stored one, and refs that name no such version are refused.
async fn blob_refs_resolve_to_own_versions(b: &dyn Backend) {
    let h = open!(b, with_map("files", blob_map()));
    let c = h.coll("files");
    c.create(
        json!({"name": "f", "file": "AAECAw==", "doc": {"note": "aGVsbG8gd29ybGQ="}}),
        "a",
        "r",
        with_id("f1"),
    )
    .await
    .unwrap();
    let v0 = c
        .get_latest("f1", Default::default())
        .await
        .unwrap()
        .unwrap();
    let real = v0.data["file"]["ref"].clone();

    // Forged sha256 / size / contentType / textKey sent back on update: the stored ones win.
    let mut forged = v0.data.clone();
    forged["file"]["ref"]["sha256"] = json!("00".repeat(32));
    forged["file"]["ref"]["size"] = json!(999_999);
    forged["file"]["ref"]["contentType"] = json!("text/html");
    forged["doc"]["note"]["ref"]["textKey"] = json!("files/f1/elsewhere/text.txt");
    forged["doc"]["note"]["ref"]["size"] = json!(1);
    c.update("f1", Value::Object(forged), 0, "a", "forge")
        .await
        .unwrap();
    let v1 = c
        .get_latest("f1", Default::default())
        .await
        .unwrap()
        .unwrap();
    for field in ["sha256", "size", "contentType"] {
        assert_eq!(v1.data["file"]["ref"][field], real[field], "{field}");
    }
    assert_eq!(
        v1.data["doc"]["note"]["ref"]["size"],
        v0.data["doc"]["note"]["ref"]["size"]
    );
    let text_key = v1.data["doc"]["note"]["ref"]["textKey"].as_str().unwrap();
    assert!(text_key.starts_with("files/f1/v1."), "{text_key}");
    let store = h.payloads.lock().unwrap()[0].clone();
    assert_eq!(&store.get(text_key).await.unwrap()[..], b"hello world");

    // Also through enrich: a patch cannot change a ref's metadata.
    c.enrich(
        "f1",
        json!({"file": {"ref": {"sha256": "forged"}}}),
        EnrichOptions::default(),
    )
    .await
    .unwrap();
    let v2 = c
        .get_latest("f1", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v2.data["file"]["ref"]["sha256"], real["sha256"]);

    // Refs that name no committed version of this item are refused, nothing written.
    let blob = real["blobKey"].as_str().unwrap().to_string();
    let other_write = {
        // Same item, same ov, another write id: an attempt that never committed.
        let (head, tail) = blob.split_once("/v0.").unwrap();
        let (_, rest) = tail.split_once('/').unwrap();
        format!("{head}/v0.ffffffffffffffff/{rest}")
    };
    let before = h.objects("files/").await;
    for bad_key in [
        other_write,
        blob.replace("/file/", "/doc.note/"),
        blob.replace("f1", "f2"),
        "files/f1/v9.x/file/blob.bin".to_string(),
        "../../etc/passwd".to_string(),
    ] {
        let mut r = real.clone();
        r["blobKey"] = json!(bad_key);
        let e = c
            .update("f1", json!({"file": {"ref": r}}), 2, "a", "r")
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad_key}: {e}");
    }
    assert_eq!(h.objects("files/").await, before);
}

conformance_case!(shared_key_space_keeps_blobs_apart);
/// Two tenants sharing one bucket and prefix: a tenant cannot copy the other's blob by
/// sending its ref (same collection, same item id, same key shape).
async fn shared_key_space_keeps_blobs_apart(b: &dyn Backend) {
    // Listed tenants may share a bucket and prefix (templates may not).
    let h = open!(b, |c: &mut ChronosConfig| {
        c.collection_maps.insert("files".into(), blob_map());
        let runtime = c.databases.runtime.as_mut().expect("runtime databases");
        let t = runtime
            .tenant_template
            .clone()
            .expect("a runtime tenant template");
        let fill = |text: &str, tenant: &str| {
            text.replace("{tenantId}", tenant)
                .replace("{databaseType}", "runtime")
        };
        for tenant in ["tenant-a", "tenant-b"] {
            runtime.tenant_databases.push(TenantDatabase {
                tenant_id: tenant.into(),
                db_conn_ref: t.db_conn_ref.clone(),
                space_conn_ref: t.space_conn_ref.clone(),
                bucket: fill(&t.bucket, "shared"),
                // A name the template cannot produce, so the entries own their databases.
                db_name: format!("zz{}", fill(&t.db_name, &tenant.replace('-', "_"))),
                prefix: t.prefix.as_deref().map(|p| fill(p, "shared")),
                analytics_db_name: None,
            });
        }
    });
    let a = h.tenant("tenant-a", "files");
    let bee = h.tenant("tenant-b", "files");
    a.create(
        json!({"file": "c2VjcmV0IG9mIEE="}),
        "a",
        "r",
        with_id("same"),
    )
    .await
    .unwrap();
    bee.create(json!({"file": "Ym9yaW5n"}), "b", "r", with_id("same"))
        .await
        .unwrap();
    let a_item = a
        .get_latest("same", Default::default())
        .await
        .unwrap()
        .unwrap();
    let a_key = a_item.data["file"]["ref"]["blobKey"].as_str().unwrap();
    // The key space really is shared: B's store sees A's object under the same key.
    let b_item = bee
        .get_latest("same", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert!(a_key.starts_with("files/same/v0."));
    assert!(b_item.data["file"]["ref"]["blobKey"]
        .as_str()
        .unwrap()
        .starts_with("files/same/v0."));

    let e = bee
        .update(
            "same",
            json!({"file": a_item.data["file"].clone()}),
            0,
            "b",
            "steal",
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
    let b_now = bee
        .get_latest("same", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b_now.system.ov, 0);
    assert_eq!(b_now.data["file"], b_item.data["file"]);
}

conformance_case!(cursors_are_bound_to_their_query);
/// A page cursor continues only the query that made it.
async fn cursors_are_bound_to_their_query(b: &dyn Backend) {
    let h = open!(b, |c: &mut ChronosConfig| {
        c.collection_maps.insert("p1".into(), map(&["n"]));
        c.collection_maps.insert("p2".into(), map(&["n"]));
    });
    let (p1, p2) = (h.coll("p1"), h.coll("p2"));
    for n in 0..5 {
        p1.create(json!({"n": n}), "a", "r", Default::default())
            .await
            .unwrap();
        p2.create(json!({"n": n}), "a", "r", Default::default())
            .await
            .unwrap();
    }
    let q = |after: Option<String>, filter: Value| ListOptions {
        filter: Some(filter),
        sort: Some(json!({"n": 1})),
        limit: Some(2),
        after,
        ..Default::default()
    };
    let first = p1.list_by_meta(q(None, json!({}))).await.unwrap();
    let cursor = first.next.clone().expect("more pages");
    let second = p1
        .list_by_meta(q(Some(cursor.clone()), json!({})))
        .await
        .unwrap();
    assert_eq!(second.items[0].data["n"], 2);
    for (coll, filter) in [(&p2, json!({})), (&p1, json!({"n": {"$gte": 0}}))] {
        let e = coll
            .list_by_meta(q(Some(cursor.clone()), filter))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Validation(m) if m.contains("invalid cursor")),
            "{e}"
        );
    }
    let other_tenant = h.tenant("tenant-b", "p1");
    let e = other_tenant
        .list_by_meta(q(Some(cursor), json!({})))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
}

conformance_case!(reads_and_sweeps_of_nothing);
/// Reads of tenants, collections and items nobody wrote answer "nothing" and create no
/// object; an orphan sweep with an age beyond any time does not fail.
async fn reads_and_sweeps_of_nothing(b: &dyn Backend) {
    let h = open!(b, with_map("files", blob_map()));
    let ghost = h.tenant("ghost", "files");
    let all = ReadOptions {
        include_deleted: true,
        ..Default::default()
    };
    assert!(ghost.get_latest("x", all.clone()).await.unwrap().is_none());
    assert!(ghost
        .get_version("x", 0, all.clone())
        .await
        .unwrap()
        .is_none());
    assert!(ghost
        .get_as_of("x", chronos_db::Timestamp::now(), all)
        .await
        .unwrap()
        .is_none());
    assert!(ghost
        .list_by_meta(ListOptions::default())
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(matches!(
        ghost.update("x", json!({}), 0, "a", "r").await,
        Err(Error::NotFound(_))
    ));
    let report = ghost
        .sweep_orphans(Duration::MAX, true)
        .await
        .expect("a sweep of nothing");
    assert_eq!(report.objects_scanned, 0);
    assert!(h.objects("").await.is_empty(), "{:?}", h.objects("").await);

    // An age longer than the clock goes back: nothing is that old, nothing is removed.
    let c = h.coll("files");
    c.create(json!({"file": "AAAA"}), "a", "r", Default::default())
        .await
        .unwrap();
    let report = c.sweep_orphans(Duration::MAX, false).await.unwrap();
    assert_eq!(report.deleted_objects, 0);
    assert!(report.orphan_prefixes.is_empty());
}
