//! Real-time counters: totals and distinct values per collection, exact against the
//! history under concurrency and injected faults, on every backend.

use crate::harness::{Backend, Harness};
use chronos_db::config::ChronosConfig;
use chronos_db::counters::{Totals, TotalsOptions};
use chronos_db::{Chronos, EnrichOptions, Error, RestoreTarget, Route};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// The chronos-db v2 README's rules: logins with their distinct sessions (top-level form), product views
/// with three distinct properties (the `analytics` form, on the payload).
fn seed_rules(cfg: &mut ChronosConfig) {
    cfg.counter_rules = Some(
        serde_json::from_value(json!({"rules": [
            {"name": "user_logins", "on": ["CREATE"], "scope": "meta",
             "when": {"action": "login"}, "countUnique": ["sessionId"]},
        ]}))
        .unwrap(),
    );
    cfg.analytics = Some(
        serde_json::from_value(json!({"counterRules": [
            {"name": "product_views", "on": ["CREATE"], "scope": "payload",
             "when": {"action": "view"}, "countUnique": ["productId", "userId", "product.category"]},
            {"name": "all_changes", "when": {}},
            {"name": "big_orders", "scope": "payload", "when": {"total": {"$gte": 100}}},
        ]}))
        .unwrap(),
    );
}

async fn totals(h: &Harness, route: &Route) -> Totals {
    h.chronos
        .counters()
        .get_totals(
            route,
            &TotalsOptions {
                include_rules: true,
                rules: None,
            },
        )
        .await
        .unwrap()
}

fn route(tenant: &str, coll: &str) -> Route {
    Route::tenant(chronos_db::DatabaseType::Runtime, tenant, coll).unwrap()
}

conformance_case!(seed_counter_examples);
/// The chronos-db v2 README's example: 150 logins with 45 distinct sessions, product views with three
/// distinct properties (one nested), and writes that match no rule still counted by kind.
async fn seed_counter_examples(b: &dyn Backend) {
    let h = open!(b, seed_rules);
    let events = h.coll("events");
    for i in 0..150 {
        events
            .create(
                json!({"action": "login", "sessionId": format!("sess{}", i % 45), "userId": i % 7}),
                "app",
                "login",
                Default::default(),
            )
            .await
            .unwrap();
    }
    for i in 0..20 {
        let category = ["books", "toys", "games"][i % 3];
        events
            .create(
                json!({"action": "view", "productId": i % 4, "userId": format!("u{}", i % 5),
                       "product": {"category": category}}),
                "app",
                "view",
                Default::default(),
            )
            .await
            .unwrap();
    }
    // `productId` 1 and "1" are different values.
    events
        .create(
            json!({"action": "view", "productId": "1", "userId": "u0", "product": {"category": "books"}}),
            "app",
            "view",
            Default::default(),
        )
        .await
        .unwrap();
    let t = totals(&h, &route("tenant-a", "events")).await;
    assert_eq!(t.counts.created, 171);
    assert_eq!(t.counts.updated, 0);
    let rules = t.rules.as_ref().unwrap();
    let logins = &rules["user_logins"];
    assert_eq!(logins.counts.created, 150);
    assert_eq!(logins.unique["sessionId"], 45);
    let views = &rules["product_views"];
    assert_eq!(views.counts.created, 21);
    assert_eq!(views.unique["productId"], 5);
    assert_eq!(views.unique["userId"], 5);
    assert_eq!(views.unique["product.category"], 3);
    assert_eq!(rules["all_changes"].counts.created, 171);
    assert_eq!(rules["big_orders"].counts.created, 0);
    assert!(t.last_at.is_some());
    assert_eq!(t.tenant.as_deref(), Some("tenant-a"));
    assert!(t.id.starts_with("tenant:tenant-a|db:") && t.id.ends_with("|coll:events"));

    // The chronos-db v2 JSON shape.
    let shape = serde_json::to_value(&t).unwrap();
    assert_eq!(shape["created"], 171);
    assert_eq!(shape["rules"]["user_logins"]["created"], 150);
    assert_eq!(shape["rules"]["user_logins"]["unique"]["sessionId"], 45);
    assert!(shape["lastAt"].is_string());

    // Without rules; only some rules; an unknown rule is a typed error.
    let c = h.chronos.counters();
    let bare = c
        .get_totals(&route("tenant-a", "events"), &TotalsOptions::default())
        .await
        .unwrap();
    assert!(bare.rules.is_none() && bare.counts.created == 171);
    let some = c
        .get_totals(
            &route("tenant-a", "events"),
            &TotalsOptions {
                include_rules: true,
                rules: Some(vec!["user_logins".into()]),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        some.rules.unwrap().keys().collect::<Vec<_>>(),
        ["user_logins"]
    );
    let unknown = c
        .get_totals(
            &route("tenant-a", "events"),
            &TotalsOptions {
                include_rules: true,
                rules: Some(vec!["nope".into()]),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(unknown, Error::Validation(_)), "{unknown:?}");

    // Distinct values, in pages.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = c
            .get_unique_values(
                &route("tenant-a", "events"),
                "user_logins",
                "sessionId",
                cursor.as_deref(),
                10,
            )
            .await
            .unwrap();
        seen.extend(page.values);
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    seen.sort_by_key(|v| v.to_string());
    seen.dedup();
    assert_eq!(seen.len(), 45);
    assert!(seen.contains(&json!("sess0")) && seen.contains(&json!("sess44")));
    let ids = c
        .get_unique_values(
            &route("tenant-a", "events"),
            "product_views",
            "productId",
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(ids.values.len(), 5);
    assert!(ids.values.contains(&json!(1)) && ids.values.contains(&json!("1")));
    for (rule, prop) in [("nope", "sessionId"), ("user_logins", "userId")] {
        let e = c
            .get_unique_values(&route("tenant-a", "events"), rule, prop, None, 10)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{e:?}");
    }
    let e = c
        .get_unique_values(
            &route("tenant-a", "events"),
            "user_logins",
            "sessionId",
            Some("zz"),
            10,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e:?}");
}

conformance_case!(counters_follow_operations_and_scope);
/// Each kind of write counts under its own name; `on` picks operations, `when` sees the
/// indexed properties (`scope: meta`) or the whole document (`scope: payload`).
async fn counters_follow_operations_and_scope(b: &dyn Backend) {
    let h = open!(b, |cfg: &mut ChronosConfig| {
        seed_rules(cfg);
        cfg.collection_maps.insert(
            "orders".into(),
            serde_json::from_value(json!({"indexedProps": ["status"]})).unwrap(),
        );
        cfg.counter_rules = Some(
            serde_json::from_value(json!({"rules": [
                // `total` is not indexed: a meta rule never sees it, a payload rule does.
                {"name": "meta_total", "when": {"total": {"$gte": 100}}},
                {"name": "paid", "on": ["UPDATE", "ENRICH"], "when": {"status": "paid"}},
                {"name": "restores", "on": ["RESTORE", "DELETE"], "when": {}},
            ]}))
            .unwrap(),
        );
    });
    let orders = h.coll("orders");
    let a = orders
        .create(
            json!({"status": "new", "total": 150}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    orders
        .update(&a.id, json!({"status": "paid", "total": 150}), 0, "app", "")
        .await
        .unwrap();
    orders
        .enrich(
            &a.id,
            json!({"note": "x"}),
            EnrichOptions {
                actor: "app".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    orders.delete(&a.id, 2, "app", "").await.unwrap();
    orders
        .restore_object(&a.id, RestoreTarget::Ov(1), "app", "")
        .await
        .unwrap();
    let small = orders
        .create(
            json!({"status": "new", "total": 5}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    let _ = small;
    let t = totals(&h, &route("tenant-a", "orders")).await;
    assert_eq!(
        (
            t.counts.created,
            t.counts.updated,
            t.counts.enriched,
            t.counts.deleted,
            t.counts.restored
        ),
        (2, 1, 1, 1, 1)
    );
    let rules = t.rules.unwrap();
    let all = |n: &str| {
        let c = &rules[n].counts;
        (c.created, c.updated, c.enriched, c.deleted, c.restored)
    };
    assert_eq!(
        all("meta_total"),
        (0, 0, 0, 0, 0),
        "a meta rule sees only indexed properties"
    );
    assert_eq!(
        all("big_orders"),
        (1, 1, 1, 1, 1),
        "a payload rule sees the document"
    );
    assert_eq!(all("paid"), (0, 1, 1, 0, 0));
    assert_eq!(all("restores"), (0, 0, 0, 1, 1));
    assert_eq!(all("all_changes"), (2, 1, 1, 1, 1));
}

conformance_case!(counters_count_hard_deletes_and_reused_ids);
/// With logical delete off, a delete removes the item: it still counts as a delete, and an
/// item created again under the same id counts as a new create.
async fn counters_count_hard_deletes_and_reused_ids(b: &dyn Backend) {
    let h = open!(b, |cfg: &mut ChronosConfig| {
        seed_rules(cfg);
        cfg.logical_delete.enabled = false;
    });
    let c = h.coll("reused");
    let opts = || chronos_db::CreateOptions {
        id: Some("x-1".into()),
        ..Default::default()
    };
    c.create(json!({"total": 500}), "app", "", opts())
        .await
        .unwrap();
    c.delete("x-1", 0, "app", "").await.unwrap();
    c.create(json!({"total": 7}), "app", "", opts())
        .await
        .unwrap();
    c.update("x-1", json!({"total": 8}), 0, "app", "")
        .await
        .unwrap();
    let t = totals(&h, &route("tenant-a", "reused")).await;
    assert_eq!(
        (t.counts.created, t.counts.deleted, t.counts.updated),
        (2, 1, 1)
    );
    // The payload rule saw the deleted item's content.
    let rules = t.rules.unwrap();
    assert_eq!(rules["big_orders"].counts.created, 1);
    assert_eq!(rules["big_orders"].counts.deleted, 1);
}

conformance_case!(counters_are_exact_under_concurrency_and_faults);
/// 8 writers at once, with the count step failing now and then (as if the process died
/// between a commit and its count) and commits failing before or after their effect: the
/// totals equal what the history says, never more, never less.
async fn counters_are_exact_under_concurrency_and_faults(b: &dyn Backend) {
    let h = open!(b, seed_rules);
    let events = h.coll("busy");
    // Every 7th count fails outright, its effect lost (a crash before the count).
    h.count_fault.arm(7, false);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let c = events.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..12 {
                let r = c
                    .create(
                        json!({"action": "login", "sessionId": format!("s{}", (w * 12 + i) % 30)}),
                        "app",
                        "",
                        Default::default(),
                    )
                    .await
                    .unwrap();
                if i % 3 == 0 {
                    c.update(&r.id, json!({"action": "logout"}), 0, "app", "")
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        h.count_fault.calls.load(Ordering::SeqCst) >= 7,
        "the fault fired"
    );
    h.count_fault.disarm();

    // A write whose payload cannot be stored counts nothing; neither does a commit that
    // fails before its effect; one whose reply is lost after the commit counts once.
    h.payload_fault.arm(1, false);
    let unstored = h
        .coll("busy")
        .create(
            json!({"action": "login", "sessionId": "never"}),
            "app",
            "",
            Default::default(),
        )
        .await;
    assert!(unstored.is_err());
    h.payload_fault.disarm();
    h.meta_fault.arm(1, false);
    let refused = h
        .coll("busy")
        .create(
            json!({"action": "login", "sessionId": "never"}),
            "app",
            "",
            Default::default(),
        )
        .await;
    assert!(refused.is_err());
    h.meta_fault.arm(1, true);
    let lost_reply = h
        .coll("busy")
        .create(
            json!({"action": "login", "sessionId": "lost"}),
            "app",
            "",
            Default::default(),
        )
        .await;
    assert!(lost_reply.is_err());
    h.meta_fault.disarm();
    // A count whose effect happened but whose reply was lost counts once.
    h.count_fault.arm(1, true);
    events
        .create(
            json!({"action": "login", "sessionId": "twice?"}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    h.count_fault.disarm();

    // What the history says: every item and every version.
    let mut created = 0;
    let mut updated = 0;
    let mut sessions = std::collections::BTreeSet::new();
    let mut logins = 0;
    let page = events
        .list_by_meta(chronos_db::ListOptions {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    for item in &page.items {
        let history = events.history(&item.id, Default::default()).await.unwrap();
        for v in &history.versions {
            match v.op {
                chronos_db::Op::Create => created += 1,
                chronos_db::Op::Update => updated += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        let first = events
            .get_version(&item.id, 0, Default::default())
            .await
            .unwrap()
            .unwrap();
        if first.data["action"] == "login" {
            logins += 1;
            sessions.insert(first.data["sessionId"].to_string());
        }
    }
    assert_eq!(created, 8 * 12 + 2);
    assert!(!sessions.contains("\"never\"") && sessions.contains("\"lost\""));
    let t = totals(&h, &route("tenant-a", "busy")).await;
    assert_eq!(t.counts.created, created);
    assert_eq!(t.counts.updated, updated);
    let rules = t.rules.unwrap();
    assert_eq!(rules["user_logins"].counts.created, logins);
    assert_eq!(
        rules["user_logins"].unique["sessionId"],
        sessions.len() as u64
    );
    assert_eq!(
        rules["all_changes"].counts.created + rules["all_changes"].counts.updated,
        created + updated
    );
    // Reading again changes nothing.
    let again = totals(&h, &route("tenant-a", "busy")).await;
    assert_eq!(again.counts, t.counts);

    // Another process (a fresh client, nothing cached) reads the same totals.
    let other = chronos_db::Chronos::open(h.config.clone()).await.unwrap();
    let fresh = other
        .counters()
        .get_totals(&route("tenant-a", "busy"), &TotalsOptions::default())
        .await
        .unwrap();
    assert_eq!(fresh.counts, t.counts);
}

conformance_case!(counters_reset_isolation_and_placement);
/// A reset starts the counts again (and is recorded in the logs database); tenants never
/// see each other's totals; counters live in the analytics database when one is configured,
/// else beside the collection.
async fn counters_reset_isolation_and_placement(b: &dyn Backend) {
    let h = open!(b, |cfg: &mut ChronosConfig| {
        seed_rules(cfg);
        let t = cfg
            .databases
            .runtime
            .as_mut()
            .and_then(|r| r.tenant_template.as_mut())
            .expect("a runtime tenant template");
        t.analytics_db_name = Some(format!(
            "{}_an",
            t.db_name.replace("{tenantId}", "x{tenantId}")
        ));
    });
    let a = h.coll("events");
    let b_events = h.tenant("tenant-b", "events");
    for i in 0..5 {
        a.create(
            json!({"action": "login", "sessionId": i}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    }
    b_events
        .create(
            json!({"action": "login", "sessionId": "b"}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        totals(&h, &route("tenant-a", "events"))
            .await
            .counts
            .created,
        5
    );
    assert_eq!(
        totals(&h, &route("tenant-b", "events"))
            .await
            .counts
            .created,
        1
    );
    // A tenant with no data has zeros, and reading created nothing for it.
    let none = totals(&h, &route("tenant-c", "events")).await;
    assert_eq!(none.counts.created, 0);
    assert_eq!(none.rules.unwrap()["user_logins"].unique["sessionId"], 0);

    // Placement: the counted rows are in the analytics database, keyed by database and
    // collection, and not beside the collection.
    let resolved = chronos_db::routing::resolve(&h.config, &route("tenant-a", "events")).unwrap();
    let key = format!("{}.events", resolved.db_name);
    let stores: Vec<_> = h.metas.lock().unwrap().clone();
    let mut holding = 0;
    for s in &stores {
        let in_analytics = s.counter_totals(&key).await.unwrap();
        let beside = s.counter_totals("events").await.unwrap();
        assert!(beside.by_op.is_empty(), "counts beside the collection");
        if in_analytics.by_op.get("CREATE") == Some(&5) {
            holding += 1;
        }
    }
    assert_eq!(
        holding, 1,
        "one store (the analytics database) holds tenant-a's counts"
    );

    // Reset tenant-a: zeros, tenant-b untouched, later writes count, the reset is logged.
    let report = h
        .chronos
        .counters()
        .reset_totals(&route("tenant-a", "events"), "ops", "new quarter")
        .await
        .unwrap();
    let t = totals(&h, &route("tenant-a", "events")).await;
    assert_eq!(t.counts.created, 0);
    assert_eq!(t.rules.unwrap()["user_logins"].unique["sessionId"], 0);
    assert_eq!(
        totals(&h, &route("tenant-b", "events"))
            .await
            .counts
            .created,
        1
    );
    a.create(
        json!({"action": "login", "sessionId": 0}),
        "app",
        "",
        Default::default(),
    )
    .await
    .unwrap();
    let t = totals(&h, &route("tenant-a", "events")).await;
    assert_eq!(t.counts.created, 1);
    assert_eq!(t.rules.unwrap()["user_logins"].unique["sessionId"], 1);
    let log_id = report.log_id.expect("the reset is logged");
    let logs = h
        .chronos
        .with(Route::generic(chronos_db::DatabaseType::Logs, "counter_resets").unwrap())
        .unwrap();
    let logged = logs
        .get_latest(&log_id, Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(logged.data["reason"], "new quarter");
    assert_eq!(logged.data["route"]["tenantId"], "tenant-a");
    assert_eq!(logged.data["route"]["collection"], "events");

    // Counting off: a typed error, not zeros that look real.
    let off = open!(b);
    let e = off
        .chronos
        .counters()
        .get_totals(&route("tenant-a", "events"), &TotalsOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e:?}");
    let _: Option<Value> = None;
}

conformance_case!(debounced_counting_catches_up_in_batches);
/// `writeOptimization.debounceMs`: writers leave counting to the catch-up, which counts in
/// batches of `batchSize` and runs at most once per `debounceMs` per collection and
/// process; hard deletes still count themselves.
async fn debounced_counting_catches_up_in_batches(b: &dyn Backend) {
    let h = open!(b, |c: &mut ChronosConfig| {
        seed_rules(c);
        c.write_optimization =
            Some(serde_json::from_value(json!({"debounceMs": 600000, "batchSize": 2})).unwrap());
    });
    let events = h.coll("debounced");
    for i in 0..5 {
        events
            .create(
                json!({"action": "login", "sessionId": format!("s{i}")}),
                "app",
                "",
                Default::default(),
            )
            .await
            .unwrap();
    }
    let r = route("tenant-a", "debounced");
    let first = totals(&h, &r).await;
    assert_eq!(
        first.counts.created, 5,
        "counted by the catch-up, two at a time"
    );
    assert_eq!(
        first.rules.as_ref().unwrap()["user_logins"].unique["sessionId"],
        5
    );
    events
        .create(
            json!({"action": "login", "sessionId": "s5"}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    // Within debounceMs: the last counts (the writer did not count itself).
    assert_eq!(totals(&h, &r).await.counts.created, 5);
    // Another process has not caught up yet: it counts the sixth.
    let other = Chronos::open(h.config.clone()).await.unwrap();
    let fresh = other
        .counters()
        .get_totals(&r, &TotalsOptions::default())
        .await
        .unwrap();
    assert_eq!(fresh.counts.created, 6);
}
