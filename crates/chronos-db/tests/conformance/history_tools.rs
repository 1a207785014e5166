//! History tools: diffs between versions, the versions an actor wrote, blame and field
//! history.

use crate::harness::Backend;
use crate::support::*;
use chronos_db::ops::{
    ActorVersionsOptions, Change, ChangeContent, ChangesOptions, FieldHistoryOptions, ReadAt,
};
use chronos_db::{Error, Timestamp};
use serde_json::{json, Value};

/// `from` with the patch applied.
fn applied(from: &Value, patch: &json_patch::Patch) -> Value {
    let mut doc = from.clone();
    json_patch::patch(&mut doc, patch).expect("the patch applies");
    doc
}

conformance_case!(diff_between_versions);
async fn diff_between_versions(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("docs");
    let v0 = json!({"name": "Ada", "tags": ["a", "b", "c"], "address": {"city": "Paris", "zip": "75001"}, "n": 1});
    let v1 = json!({"name": "Ada", "tags": ["a", "x"], "address": {"city": "Lyon", "zip": "75001"}, "n": 1, "vip": true});
    let v2 = json!({"name": "Ada L.", "tags": [], "address": "unknown", "n": 2.5});
    let r = c
        .create(v0.clone(), "a", "r", Default::default())
        .await
        .unwrap();
    tick().await;
    c.update(&r.id, v1.clone(), 0, "a", "r").await.unwrap();
    tick().await;
    let t1 = Timestamp::now();
    tick().await;
    c.update(&r.id, v2.clone(), 1, "a", "r").await.unwrap();

    // By ov: the patch turns version 0 into version 1, and the summary names its paths.
    let d = c.diff(&r.id, ReadAt::Ov(0), ReadAt::Ov(1)).await.unwrap();
    assert_eq!((d.id.as_str(), d.from.ov, d.to.ov), (r.id.as_str(), 0, 1));
    assert_eq!(applied(&v0, &d.patch), v1);
    assert_eq!(d.summary.added, vec!["/vip"]);
    assert_eq!(d.summary.removed, vec!["/tags/2"]);
    assert_eq!(d.summary.changed, vec!["/tags/1", "/address/city"]);

    // By time and latest: the version current at t1 is version 1.
    let d = c
        .diff(&r.id, ReadAt::Time(t1), ReadAt::Latest)
        .await
        .unwrap();
    assert_eq!((d.from.ov, d.to.ov), (1, 2));
    assert_eq!(applied(&v1, &d.patch), v2);
    assert!(
        d.summary.changed.contains(&"/address".to_string()),
        "{:?}",
        d.summary
    );

    // Backwards: the patch undoes the changes.
    let d = c.diff(&r.id, ReadAt::Ov(2), ReadAt::Ov(0)).await.unwrap();
    assert_eq!(applied(&v2, &d.patch), v0);

    // A version with itself: nothing.
    let d = c.diff(&r.id, ReadAt::Ov(1), ReadAt::Ov(1)).await.unwrap();
    assert!(d.patch.0.is_empty() && d.summary.is_empty());

    // The versions are described as history lists them.
    let d = c.diff(&r.id, ReadAt::Ov(0), ReadAt::Latest).await.unwrap();
    assert_eq!(d.from.actor.as_deref(), Some("a"));
    assert!(d.to.cv > d.from.cv);
    assert_eq!(d.to.op, chronos_db::Op::Update);
}

conformance_case!(diff_refusals_and_deletions);
async fn diff_refusals_and_deletions(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("docs");
    let before = Timestamp::now();
    tick().await;
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    c.update(&r.id, json!({"v": 1}), 0, "a", "r").await.unwrap();
    c.delete(&r.id, 1, "a", "r").await.unwrap();

    // A deletion is a version like the others: it kept the content it deleted.
    let d = c.diff(&r.id, ReadAt::Ov(0), ReadAt::Latest).await.unwrap();
    assert!(d.to.deleted);
    assert_eq!(d.summary.changed, vec!["/v"]);

    for (from, to, what) in [
        (ReadAt::Ov(0), ReadAt::Ov(9), "version 9"),
        (ReadAt::Time(before), ReadAt::Latest, "as of"),
    ] {
        match c.diff(&r.id, from, to).await {
            Err(Error::NotFound(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("{what}: expected NotFound, got {other:?}"),
        }
    }
    assert!(matches!(
        c.diff("missing", ReadAt::Ov(0), ReadAt::Latest).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        c.diff("", ReadAt::Ov(0), ReadAt::Latest).await,
        Err(Error::Validation(_))
    ));

    // Another tenant's collection of the same name has no such item: the same answer as an
    // id that never existed, nothing of the other tenant's content.
    let other = h.tenant("tenant-b", "docs");
    match other.diff(&r.id, ReadAt::Ov(0), ReadAt::Ov(1)).await {
        Err(Error::NotFound(m)) => assert!(!m.contains("\"v\""), "{m}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

conformance_case!(versions_by_actor);
async fn versions_by_actor(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("orders");
    let mut alice = Vec::new(); // (id, ov) of alice's versions, in commit order
    let mut mid = None;
    for i in 0..5 {
        let r = c
            .create(json!({"n": i}), "alice", "new", Default::default())
            .await
            .unwrap();
        alice.push((r.id.clone(), 0u64));
        c.update(&r.id, json!({"n": i, "seen": true}), 0, "bob", "check")
            .await
            .unwrap();
        c.update(&r.id, json!({"n": i, "done": true}), 1, "alice", "close")
            .await
            .unwrap();
        alice.push((r.id.clone(), 2));
        if i == 2 {
            tick().await;
            mid = Some(Timestamp::now());
            tick().await;
        }
    }
    let newest_first: Vec<(String, u64)> = alice.iter().rev().cloned().collect();

    // Pages of 3, newest first, every one of alice's versions exactly once.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = c
            .versions_by_actor(
                "alice",
                ActorVersionsOptions {
                    limit: Some(3),
                    cursor: cursor.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(page.versions.len() <= 3);
        for v in &page.versions {
            assert_eq!(v.actor.as_deref(), Some("alice"));
            seen.push((v.id.clone(), v.ov));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);

    // A time window: what alice wrote after `mid` (items 3 and 4, two versions each).
    let page = c
        .versions_by_actor(
            "alice",
            ActorVersionsOptions {
                from: mid,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.versions.len(), 4);
    assert!(page.versions.iter().all(|v| Some(v.at) >= mid));
    let page = c
        .versions_by_actor(
            "bob",
            ActorVersionsOptions {
                to: mid,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.versions.len(), 3, "bob's checks of items 0-2");
    assert!(page.versions.iter().all(|v| v.op == chronos_db::Op::Update));

    // Refusals: no actor, an inverted window, a cursor of another listing.
    let refused = |r: chronos_db::Result<chronos_db::ops::ActorVersionsPage>| {
        assert!(matches!(r, Err(Error::Validation(_))), "{r:?}")
    };
    refused(c.versions_by_actor("", Default::default()).await);
    refused(
        c.versions_by_actor(
            "alice",
            ActorVersionsOptions {
                from: Some(Timestamp(2)),
                to: Some(Timestamp(1)),
                ..Default::default()
            },
        )
        .await,
    );
    let first = c
        .versions_by_actor(
            "alice",
            ActorVersionsOptions {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    refused(
        c.versions_by_actor(
            "bob",
            ActorVersionsOptions {
                cursor: first.next_cursor,
                ..Default::default()
            },
        )
        .await,
    );

    // Nobody else's: an unknown actor, and the same actor in another tenant.
    assert!(c
        .versions_by_actor("carol", Default::default())
        .await
        .unwrap()
        .versions
        .is_empty());
    let other = h.tenant("tenant-b", "orders");
    assert!(other
        .versions_by_actor("alice", Default::default())
        .await
        .unwrap()
        .versions
        .is_empty());
}

conformance_case!(blame_and_field_history);
async fn blame_and_field_history(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("users");
    let r = c
        .create(
            json!({"name": "Ada", "plan": "free", "address": {"city": "Paris"}}),
            "signup",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    c.update(
        &r.id,
        json!({"name": "Ada", "plan": "pro", "address": {"city": "Paris"}}),
        0,
        "billing",
        "",
    )
    .await
    .unwrap();
    c.enrich(
        &r.id,
        json!({"address": {"city": "Lyon"}, "tags": ["vip"]}),
        chronos_db::EnrichOptions {
            function_id: Some("geo@1".into()),
            actor: "geo".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Back to "free", then to "pro" again: the run of the current value starts at ov 4.
    for (ov, plan) in [(2, "free"), (3, "pro")] {
        c.update(
            &r.id,
            json!({"name": "Ada", "plan": plan, "address": {"city": "Lyon"}, "tags": ["vip"]}),
            ov,
            "support",
            "",
        )
        .await
        .unwrap();
    }

    let blame = c.blame(&r.id, ReadAt::Latest).await.unwrap();
    assert_eq!(blame.ov, 4);
    assert!(blame.complete);
    let lines: Vec<(&str, u64, Option<&str>)> = blame
        .lines
        .iter()
        .map(|l| (l.path.as_str(), l.ov, l.actor.as_deref()))
        .collect();
    assert_eq!(
        lines,
        [
            ("/name", 0, Some("signup")),
            ("/plan", 4, Some("support")),
            ("/address/city", 2, Some("geo")),
            ("/tags/0", 2, Some("geo")),
        ]
    );
    assert_eq!(blame.lines[2].function_id.as_deref(), Some("geo@1"));
    assert_eq!(blame.lines[2].value, json!("Lyon"));
    // Blame of an older version: its own runs.
    let old = c.blame(&r.id, ReadAt::Ov(1)).await.unwrap();
    assert_eq!(old.lines[1].path, "/plan");
    assert_eq!(
        (old.lines[1].ov, old.lines[1].value.clone()),
        (1, json!("pro"))
    );

    // The values "plan" took, newest first, in pages of two.
    let page = c
        .field_history(
            &r.id,
            "plan",
            FieldHistoryOptions {
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.path, "/plan");
    let values: Vec<(u64, Value)> = page
        .changes
        .iter()
        .map(|c| (c.ov, c.value.clone()))
        .collect();
    assert_eq!(values, [(4, json!("pro")), (3, json!("free"))]);
    let rest = c
        .field_history(
            &r.id,
            "/plan",
            FieldHistoryOptions {
                before_ov: page.next_before_ov,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let values: Vec<(u64, Value)> = rest
        .changes
        .iter()
        .map(|c| (c.ov, c.value.clone()))
        .collect();
    assert_eq!(values, [(1, json!("pro")), (0, json!("free"))]);
    assert_eq!(rest.next_before_ov, None);

    // A path that appeared later, and one that never existed.
    let tags = c
        .field_history(&r.id, "tags.0", Default::default())
        .await
        .unwrap();
    assert_eq!(tags.changes.len(), 1);
    assert_eq!((tags.changes[0].ov, tags.changes[0].present), (2, true));
    assert!(c
        .field_history(&r.id, "nope", Default::default())
        .await
        .unwrap()
        .changes
        .is_empty());

    // A removal is a change, and a deletion keeps the content it deleted.
    c.update(&r.id, json!({"name": "Ada"}), 4, "support", "")
        .await
        .unwrap();
    c.delete(&r.id, 5, "support", "").await.unwrap();
    let plan = c
        .field_history(
            &r.id,
            "plan",
            FieldHistoryOptions {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((plan.changes[0].ov, plan.changes[0].present), (5, false));
    let blame = c.blame(&r.id, ReadAt::Latest).await.unwrap();
    assert_eq!(blame.lines.len(), 1);
    assert_eq!(
        (blame.lines[0].path.as_str(), blame.lines[0].ov),
        ("/name", 0)
    );

    // Refusals: a bad path, a missing item, another tenant.
    assert!(matches!(
        c.field_history(&r.id, "a..b", Default::default()).await,
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        c.blame("missing", ReadAt::Latest).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        h.tenant("tenant-b", "users")
            .blame(&r.id, ReadAt::Latest)
            .await,
        Err(Error::NotFound(_))
    ));
}

conformance_case!(blame_and_field_history_stop_at_a_retention_cut);
async fn blame_and_field_history_stop_at_a_retention_cut(b: &dyn Backend) {
    let h = open!(b, |cfg: &mut chronos_db::config::ChronosConfig| {
        cfg.collection_maps.insert(
            "capped".into(),
            chronos_db::config::CollectionMap {
                retention: Some(chronos_db::config::VersionRetention {
                    days: None,
                    max_per_item: Some(2),
                }),
                ..Default::default()
            },
        );
    });
    let c = h.coll("capped");
    let r = c
        .create(
            json!({"keep": 1, "plan": "a"}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    for (ov, plan) in [(0, "b"), (1, "c"), (2, "d")] {
        c.update(&r.id, json!({"keep": 1, "plan": plan}), ov, "app", "")
            .await
            .unwrap();
    }
    c.apply_retention(chronos_db::RetentionOptions::default())
        .await
        .unwrap();
    // Versions 2 and 3 are kept: `keep`, set at ov 0, is attributed to the oldest kept.
    let blame = c.blame(&r.id, ReadAt::Latest).await.unwrap();
    assert!(!blame.complete);
    assert_eq!(
        (blame.lines[0].path.as_str(), blame.lines[0].ov),
        ("/keep", 2)
    );
    assert_eq!(
        (blame.lines[1].path.as_str(), blame.lines[1].ov),
        ("/plan", 3)
    );
    // The values of `plan` that are still kept; no error for the versions pruned below.
    let plan = c
        .field_history(&r.id, "plan", Default::default())
        .await
        .unwrap();
    let values: Vec<(u64, Value)> = plan
        .changes
        .iter()
        .map(|c| (c.ov, c.value.clone()))
        .collect();
    assert_eq!(values, [(3, json!("d")), (2, json!("c"))]);
    assert_eq!(plan.next_before_ov, None);
    // Diffs to a pruned version say so.
    assert!(matches!(
        c.diff(&r.id, ReadAt::Ov(0), ReadAt::Latest).await,
        Err(Error::BeyondRetention { .. })
    ));
}

/// Every change after `since`, page by page, until a page says nothing more is ready.
async fn drain(c: &chronos_db::Collection, since: &mut u64, include: ChangeContent) -> Vec<Change> {
    let mut all = Vec::new();
    loop {
        let page = c
            .changes(ChangesOptions {
                since_cv: *since,
                limit: Some(3),
                include,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            page.next_since_cv >= *since,
            "the position never moves back"
        );
        *since = page.next_since_cv;
        all.extend(page.changes);
        if !page.more {
            return all;
        }
    }
}

conformance_case!(change_feed_in_cv_order);
async fn change_feed_in_cv_order(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("feed");
    let a = c
        .create(json!({"n": 0}), "alice", "new", Default::default())
        .await
        .unwrap();
    let bb = c
        .create(json!({"m": 0}), "bob", "new", Default::default())
        .await
        .unwrap();
    c.update(&a.id, json!({"n": 1}), 0, "alice", "edit")
        .await
        .unwrap();
    c.enrich(
        &bb.id,
        json!({"tags": ["x"]}),
        chronos_db::EnrichOptions {
            function_id: Some("tagger".into()),
            actor: "fn".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    c.delete(&a.id, 1, "alice", "gone").await.unwrap();
    c.restore_object(&a.id, chronos_db::RestoreTarget::Ov(1), "ops", "back")
        .await
        .unwrap();

    let mut since = 0;
    let all = drain(&c, &mut since, ChangeContent::BeforeAfter).await;
    let seen: Vec<(&str, u64, chronos_db::Op)> = all
        .iter()
        .map(|ch| (ch.id.as_str(), ch.ov, ch.op))
        .collect();
    use chronos_db::Op::*;
    assert_eq!(
        seen,
        [
            (a.id.as_str(), 0, Create),
            (bb.id.as_str(), 0, Create),
            (a.id.as_str(), 1, Update),
            (bb.id.as_str(), 1, Enrich),
            (a.id.as_str(), 2, Delete),
            (a.id.as_str(), 3, Restore),
        ]
    );
    assert!(all.windows(2).all(|w| w[0].cv < w[1].cv), "cv order");
    assert_eq!(since, all.last().unwrap().cv);
    assert_eq!(all[2].before, Some(json!({"n": 0})));
    assert_eq!(all[2].after, Some(json!({"n": 1})));
    assert_eq!(all[0].before, None);
    assert_eq!(all[3].function_id.as_deref(), Some("tagger"));
    assert_eq!(all[3].after, Some(json!({"m": 0, "tags": ["x"]})));
    assert_eq!(all[5].actor.as_deref(), Some("ops"));

    // Without content, and only some operations: the position still moves past the rest.
    let page = c
        .changes(ChangesOptions {
            ops: Some(vec![Update, Delete]),
            ..Default::default()
        })
        .await
        .unwrap();
    let ops: Vec<_> = page.changes.iter().map(|ch| ch.op).collect();
    assert_eq!(ops, [Update, Delete]);
    assert!(page
        .changes
        .iter()
        .all(|ch| ch.after.is_none() && ch.before.is_none()));
    assert_eq!(page.next_since_cv, since);

    // Caught up: nothing, and the position stays; a later write comes next.
    let idle = c
        .changes(ChangesOptions {
            since_cv: since,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(idle.changes.is_empty() && !idle.more);
    assert_eq!(idle.next_since_cv, since);
    c.update(&bb.id, json!({"m": 1}), 1, "bob", "")
        .await
        .unwrap();
    let next = drain(&c, &mut since, ChangeContent::None).await;
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].ov, next[0].op), (2, Update));

    // Refusals and isolation.
    assert!(matches!(
        c.changes(ChangesOptions {
            limit: Some(0),
            ..Default::default()
        })
        .await,
        Err(Error::Validation(_))
    ));
    let other = h.tenant("tenant-b", "feed");
    assert!(other
        .changes(ChangesOptions::default())
        .await
        .unwrap()
        .changes
        .is_empty());
}

conformance_case!(change_feed_follower_sees_every_commit_once);
async fn change_feed_follower_sees_every_commit_once(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("followed");
    const WRITERS: usize = 8;
    const ITEMS: usize = 3;
    const UPDATES: u64 = 2;
    let follower = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut since = 0;
            let mut seen = Vec::new();
            let want = WRITERS * ITEMS * (UPDATES as usize + 1);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while seen.len() < want && std::time::Instant::now() < deadline {
                seen.extend(drain(&c, &mut since, ChangeContent::None).await);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            seen
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let c = c.clone();
        writers.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for i in 0..ITEMS {
                let r = c
                    .create(json!({"w": w, "i": i, "v": 0}), "w", "", Default::default())
                    .await
                    .unwrap();
                written.push((r.id.clone(), 0));
                for v in 1..=UPDATES {
                    c.update(&r.id, json!({"w": w, "i": i, "v": v}), v - 1, "w", "")
                        .await
                        .unwrap();
                    written.push((r.id.clone(), v));
                }
            }
            written
        }));
    }
    let mut expected = Vec::new();
    for w in writers {
        expected.extend(w.await.unwrap());
    }
    let seen = follower.await.unwrap();
    // Exactly once each, in cv order.
    assert!(
        seen.windows(2).all(|w| w[0].cv < w[1].cv),
        "cv order, no repeats"
    );
    let mut got: Vec<(String, u64)> = seen.iter().map(|ch| (ch.id.clone(), ch.ov)).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}
