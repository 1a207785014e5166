//! Version retention: what is kept (an unbroken run up to the head), reads before it refused
//! with `BeyondRetention`, objects of pruned versions gone, and nothing lost to writers
//! running at the same time.

use crate::harness::{Backend, Harness};
use chronos_db::admin::SweepOptions;
use chronos_db::config::{ChronosConfig, CollectionMap, VersionRetention};
use chronos_db::{
    Collection, CollectionTarget, DatabaseType, Error, ListOptions, ReadOptions, RestoreOptions,
    RestoreTarget, RetentionOptions, Route, Timestamp,
};
use serde_json::json;

fn day(d: i64) -> String {
    let t = Timestamp::parse("2024-01-01T00:00:00Z").unwrap().micros() + d * 86_400_000_000;
    Timestamp(t).to_string()
}

fn retained(cfg: &mut ChronosConfig) {
    for (name, policy) in [
        (
            "docs",
            VersionRetention {
                days: Some(10),
                max_per_item: None,
            },
        ),
        (
            "capped",
            VersionRetention {
                days: None,
                max_per_item: Some(2),
            },
        ),
    ] {
        cfg.collection_maps.insert(
            name.into(),
            CollectionMap {
                retention: Some(policy),
                ..Default::default()
            },
        );
    }
}

/// Writes versions of a new item at the given days; its id.
async fn item_at(h: &Harness, coll: &str, days: &[i64]) -> String {
    let c = h.coll(coll);
    let mut id = String::new();
    for (n, d) in days.iter().enumerate() {
        h.set_clock(Some(&day(*d)));
        if n == 0 {
            id = c
                .create(json!({"n": 0}), "app", "", Default::default())
                .await
                .unwrap()
                .id;
        } else {
            c.update(&id, json!({"n": n}), n as u64 - 1, "app", "")
                .await
                .unwrap();
        }
    }
    id
}

/// The objects of version `ov` of an item (listing works on whole path segments).
async fn version_objects(h: &Harness, coll: &str, id: &str, ov: u64) -> Vec<String> {
    let version = format!("{coll}/{id}/v{ov}.");
    h.objects(&format!("{coll}/{id}/"))
        .await
        .into_iter()
        .filter(|k| k.starts_with(&version))
        .collect()
}

fn beyond(e: Error, oldest: &str) {
    match e {
        Error::BeyondRetention { oldest: o, .. } => assert!(o.contains(oldest), "{o}"),
        other => panic!("expected BeyondRetention, got {other:?}"),
    }
}

conformance_case!(retention_keeps_an_unbroken_run_to_the_head);
/// Days and maxPerItem: exactly the right versions stay; reads inside the window answer as
/// before, reads before it are refused naming the oldest point; the pruned versions' objects
/// are gone; a second run prunes nothing more.
async fn retention_keeps_an_unbroken_run_to_the_head(b: &dyn Backend) {
    let h = open!(b, retained);
    let a = item_at(&h, "docs", &[0, 5, 12, 18, 25]).await;
    let single = item_at(&h, "docs", &[1]).await;
    let young = item_at(&h, "docs", &[20, 22]).await;
    let capped = item_at(&h, "capped", &[0, 1, 2, 3, 4]).await;
    h.set_clock(Some(&day(30))); // the window starts on day 20
    let docs = h.coll("docs");
    let before_objects = version_objects(&h, "docs", &a, 0).await;
    assert!(!before_objects.is_empty());

    let dry = docs
        .apply_retention(RetentionOptions {
            dry_run: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (dry.items_scanned, dry.items_pruned, dry.versions_removed),
        (3, 1, 3)
    );
    assert!(docs
        .get_version(&a, 0, ReadOptions::default())
        .await
        .unwrap()
        .is_some());

    let report = docs
        .apply_retention(RetentionOptions::default())
        .await
        .unwrap();
    assert_eq!((report.items_pruned, report.versions_removed), (1, 3));
    assert_eq!(report.window_start.map(|t| t.to_string()), Some(day(20)));
    // Kept: v3 (day 18, in force when the window began) and v4.
    beyond(
        docs.get_version(&a, 0, ReadOptions::default())
            .await
            .unwrap_err(),
        "ov 3",
    );
    beyond(
        docs.get_version(&a, 2, ReadOptions::default())
            .await
            .unwrap_err(),
        "ov 3",
    );
    assert_eq!(
        docs.get_version(&a, 3, ReadOptions::default())
            .await
            .unwrap()
            .unwrap()
            .data["n"],
        3
    );
    let at = |d: i64| Timestamp::parse(&day(d)).unwrap();
    assert_eq!(
        docs.get_as_of(&a, at(19), ReadOptions::default())
            .await
            .unwrap()
            .unwrap()
            .data["n"],
        3
    );
    assert_eq!(
        docs.get_as_of(&a, at(26), ReadOptions::default())
            .await
            .unwrap()
            .unwrap()
            .data["n"],
        4
    );
    beyond(
        docs.get_as_of(&a, at(10), ReadOptions::default())
            .await
            .unwrap_err(),
        "ov 3",
    );
    // Before the item existed is not a retention question.
    assert!(docs
        .get_as_of(&a, at(-1), ReadOptions::default())
        .await
        .unwrap()
        .is_none());
    // Untouched items.
    assert!(docs
        .get_version(&single, 0, ReadOptions::default())
        .await
        .unwrap()
        .is_some());
    assert!(docs
        .get_version(&young, 0, ReadOptions::default())
        .await
        .unwrap()
        .is_some());
    // History lists what is kept.
    let history = docs.history(&a, Default::default()).await.unwrap();
    assert_eq!(
        history.versions.iter().map(|v| v.ov).collect::<Vec<_>>(),
        [4, 3]
    );
    // The pruned versions' objects are gone, the kept ones' are there.
    for ov in 0..3 {
        assert!(
            version_objects(&h, "docs", &a, ov).await.is_empty(),
            "v{ov}"
        );
    }
    assert!(!version_objects(&h, "docs", &a, 3).await.is_empty());
    // Restores before the window are refused; inside it they work.
    beyond(
        docs.restore_object(&a, RestoreTarget::Ov(1), "ops", "")
            .await
            .unwrap_err(),
        "ov 3",
    );
    docs.restore_object(&a, RestoreTarget::Ov(3), "ops", "")
        .await
        .unwrap();
    // The collection as of a time or cv before the horizon is refused.
    let as_of = |t: Timestamp| ListOptions {
        as_of_time: Some(t),
        ..Default::default()
    };
    assert!(docs.list_by_meta(as_of(at(19))).await.is_ok());
    assert!(matches!(
        docs.list_by_meta(as_of(at(10))).await.unwrap_err(),
        Error::BeyondRetention { .. }
    ));
    assert!(matches!(
        docs.restore_collection(
            CollectionTarget::At(at(10)),
            RestoreOptions {
                dry_run: true,
                resume_after: None,
                actor: "ops".into(),
                reason: String::new(),
                progress: None,
            }
        )
        .await
        .unwrap_err(),
        Error::BeyondRetention { .. }
    ));
    // Nothing more to prune.
    let again = docs
        .apply_retention(RetentionOptions::default())
        .await
        .unwrap();
    assert_eq!(again.versions_removed, 0);

    // maxPerItem 2: the newest two.
    let capped_coll = h.coll("capped");
    let r = capped_coll
        .apply_retention(RetentionOptions::default())
        .await
        .unwrap();
    assert_eq!(r.versions_removed, 3);
    let history = capped_coll
        .history(&capped, Default::default())
        .await
        .unwrap();
    assert_eq!(
        history.versions.iter().map(|v| v.ov).collect::<Vec<_>>(),
        [4, 3]
    );
    // A collection without a policy prunes nothing.
    let none = h
        .coll("free")
        .apply_retention(RetentionOptions::default())
        .await
        .unwrap();
    assert!(none.policy.is_none() && none.versions_removed == 0);
    h.set_clock(None);
}

conformance_case!(retention_alongside_writers_loses_nothing);
/// Four writers keep updating their items while retention runs again and again: every
/// acknowledged write is there at the end, and each item keeps an unbroken run up to it.
async fn retention_alongside_writers_loses_nothing(b: &dyn Backend) {
    let h = open!(b, retained);
    let c = h.coll("capped");
    let mut ids = Vec::new();
    for w in 0..4 {
        ids.push(
            c.create(json!({"w": w, "n": 0}), "app", "", Default::default())
                .await
                .unwrap()
                .id,
        );
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pruner = {
        let (c, stop) = (c.clone(), stop.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || runs == 0 {
                c.apply_retention(RetentionOptions::default())
                    .await
                    .unwrap();
                runs += 1;
            }
            runs
        })
    };
    let mut writers = Vec::new();
    for (w, id) in ids.iter().enumerate() {
        let (c, id) = (c.clone(), id.clone());
        writers.push(tokio::spawn(async move {
            for n in 1..=15u64 {
                c.update(&id, json!({"w": w, "n": n}), n - 1, "app", "")
                    .await
                    .unwrap();
            }
        }));
    }
    for t in writers {
        t.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(pruner.await.unwrap() >= 1);
    c.apply_retention(RetentionOptions::default())
        .await
        .unwrap();
    for (w, id) in ids.iter().enumerate() {
        let head = c
            .get_latest(id, ReadOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (head.data["w"].clone(), head.data["n"].clone()),
            (json!(w), json!(15))
        );
        let ovs: Vec<u64> = c
            .history(id, Default::default())
            .await
            .unwrap()
            .versions
            .iter()
            .map(|v| v.ov)
            .collect();
        assert_eq!(ovs, [15, 14]);
        for ov in [14, 15] {
            assert!(c
                .get_version(id, ov, ReadOptions::default())
                .await
                .unwrap()
                .is_some());
        }
    }
}

conformance_case!(stale_inline_copies_are_dropped_and_read_from_objects);
/// `devShadow.ttlHours`: a retention run drops the inline copies of earlier versions older
/// than the TTL (never the head's); those versions still read the same, from object storage.
async fn stale_inline_copies_are_dropped_and_read_from_objects(b: &dyn Backend) {
    let h = open!(b, |cfg: &mut ChronosConfig| {
        cfg.dev_shadow.enabled = true;
        cfg.dev_shadow.ttl_hours = 24;
    });
    let id = item_at(&h, "notes", &[0, 1, 5]).await;
    let shadow_of = |ov: u64| {
        let (metas, id) = (h.metas.lock().unwrap().clone(), id.clone());
        async move {
            for s in metas {
                if let Ok(Some(v)) = s.get_version("notes", &id, ov).await {
                    return v.shadow;
                }
            }
            panic!("no version {ov}")
        }
    };
    assert!(shadow_of(0).await.is_some() && shadow_of(1).await.is_some());
    h.set_clock(Some(&day(10)));
    let c = h.coll("notes");
    let dry = c
        .apply_retention(RetentionOptions {
            dry_run: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dry.inline_copies_dropped, 0);
    assert!(shadow_of(0).await.is_some());
    let done = c
        .apply_retention(RetentionOptions::default())
        .await
        .unwrap();
    assert_eq!((done.inline_copies_dropped, done.versions_removed), (2, 0));
    assert!(shadow_of(0).await.is_none() && shadow_of(1).await.is_none());
    assert!(shadow_of(2).await.is_some(), "the head's copy stays");
    for ov in 0..3u64 {
        let v = c
            .get_version(&id, ov, ReadOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.data["n"], ov);
    }
    let again = c
        .apply_retention(RetentionOptions::default())
        .await
        .unwrap();
    assert_eq!(again.inline_copies_dropped, 0);
    h.set_clock(None);
}

conformance_case!(a_sweep_prunes_every_covered_collection);
async fn a_sweep_prunes_every_covered_collection(b: &dyn Backend) {
    let h = open!(b, |cfg: &mut ChronosConfig| {
        retained(cfg);
        // Named, but without a policy (no retention.ver, no inline copies to expire): swept
        // (its bookkeeping bounded), never pruned.
        cfg.collection_maps
            .insert("plain".into(), CollectionMap::default());
        cfg.dev_shadow.enabled = false;
    });
    let other = |tenant: &str, coll: &str| {
        h.chronos
            .with(Route::tenant(DatabaseType::Runtime, tenant, coll).unwrap())
            .unwrap()
    };
    let versions = |c: Collection, n: u64| async move {
        let id = c
            .create(json!({"n": 0}), "app", "", Default::default())
            .await
            .unwrap()
            .id;
        for ov in 1..n {
            c.update(&id, json!({"n": ov}), ov - 1, "app", "")
                .await
                .unwrap();
        }
        (c, id)
    };
    // capped keeps 2: tenant-a's 4 versions lose 2, tenant-b's 3 lose 1, tenant-c's 3 lose 1.
    let (a, a_id) = versions(h.coll("capped"), 4).await;
    let (b_capped, b_id) = versions(other("tenant-b", "capped"), 3).await;
    let (c_capped, c_id) = versions(other("tenant-c", "capped"), 3).await;
    let (plain, plain_id) = versions(h.coll("plain"), 4).await;

    let opts = SweepOptions {
        dry_run: true,
        tenants: vec!["tenant-a".into(), "tenant-b".into()],
        domains: vec![],
    };
    let routes: Vec<String> = h
        .chronos
        .retention_routes(&opts)
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    for wanted in [
        "runtime/tenant/tenant-a/capped",
        "runtime/tenant/tenant-b/capped",
    ] {
        assert!(routes.iter().any(|r| r == wanted), "{wanted}: {routes:?}");
    }
    assert!(
        routes.iter().any(|r| r == "runtime/tenant/tenant-a/plain")
            && !routes.iter().any(|r| r.contains("tenant-c")),
        "{routes:?}"
    );
    let dry = h.chronos.apply_retention_everywhere(&opts).await.unwrap();
    assert_eq!((dry.versions_removed, dry.failed), (3, 0), "{dry:?}");
    assert!(a
        .get_version(&a_id, 0, ReadOptions::default())
        .await
        .is_ok());

    let done = h
        .chronos
        .apply_retention_everywhere(&SweepOptions {
            dry_run: false,
            ..opts.clone()
        })
        .await
        .unwrap();
    assert_eq!((done.versions_removed, done.failed), (3, 0), "{done:?}");
    beyond(
        a.get_version(&a_id, 1, ReadOptions::default())
            .await
            .unwrap_err(),
        "ov 2",
    );
    assert_eq!(
        a.get_version(&a_id, 2, ReadOptions::default())
            .await
            .unwrap()
            .unwrap()
            .data["n"],
        2
    );
    assert!(b_capped
        .get_version(&b_id, 0, ReadOptions::default())
        .await
        .is_err());
    // Not named, not swept; no policy, not swept.
    for (c, id) in [(&c_capped, &c_id), (&plain, &plain_id)] {
        assert_eq!(
            c.get_version(id, 0, ReadOptions::default())
                .await
                .unwrap()
                .unwrap()
                .data["n"],
            0
        );
    }
    let again = h
        .chronos
        .apply_retention_everywhere(&SweepOptions {
            dry_run: false,
            ..opts
        })
        .await
        .unwrap();
    assert_eq!(again.versions_removed, 0);
}
