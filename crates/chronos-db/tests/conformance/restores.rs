//! Append-only restores of one item and of a whole collection.

use crate::harness::Backend;
use crate::support::*;
use chronos_db::{
    CollectionTarget, CreateOptions, Error, ListOptions, Op, ReadOptions, RestoreOptions,
    RestoreTarget, Timestamp,
};
use serde_json::json;

conformance_case!(restore_object);
async fn restore_object(b: &dyn Backend) {
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

conformance_case!(restore_collection);
async fn restore_collection(b: &dyn Backend) {
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

conformance_case!(restore_collection_resumes);
async fn restore_collection_resumes(b: &dyn Backend) {
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
