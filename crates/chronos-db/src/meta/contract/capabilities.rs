//! Contract cases of the stores' capabilities beside versions: counters, the committed-version
//! feed counter catch-ups read, and analytics results.

use super::{record, spec, write};
use crate::meta::MetadataStore;
use crate::model::{Op, Timestamp};
use serde_json::json;
use std::sync::Arc;

/// Counted versions and distinct values: a repeated record counts once, concurrent writers
/// of overlapping values leave exactly the distinct ones, totals add up per operation and
/// rule, pages of values walk all of them once, marks only go up, a reset starts from its
/// floor, and keys keep their own counts.
pub(crate) async fn counters_are_exact_and_idempotent(store: Arc<dyn MetadataStore>) {
    use crate::meta::{CountedVersion, CounterMark, CounterTotals, UniqueValue};
    store.ensure_counters("events").await.unwrap();
    assert_eq!(
        store.counter_totals("events").await.unwrap(),
        CounterTotals::default()
    );
    assert_eq!(
        store.counter_mark("events").await.unwrap(),
        CounterMark::default()
    );
    let entry = |id: &str, ov: u64, cv: u64, op: Op, rules: &[&str]| CountedVersion {
        id: id.into(),
        ov,
        cv,
        op,
        at: Timestamp(1_700_000_000_000_000 + cv as i64),
        rules: rules.iter().map(|r| r.to_string()).collect(),
        replayable: true,
    };
    let value = |rule: &str, property: &str, v: &str| UniqueValue {
        rule: rule.into(),
        property: property.into(),
        value: v.into(),
    };
    assert!(store
        .record_counted("events", &entry("a", 0, 1, Op::Create, &["logins"]), &[])
        .await
        .unwrap());
    assert!(
        !store
            .record_counted("events", &entry("a", 0, 1, Op::Create, &["logins"]), &[])
            .await
            .unwrap(),
        "counted twice"
    );
    assert!(store
        .record_counted("events", &entry("a", 1, 3, Op::Update, &[]), &[])
        .await
        .unwrap());
    assert!(store
        .record_counted(
            "events",
            &entry("b", 0, 2, Op::Create, &["logins", "vip"]),
            &[]
        )
        .await
        .unwrap());
    assert!(store
        .record_counted("events", &entry("b", 5, 9, Op::Enrich, &["vip"]), &[])
        .await
        .unwrap());
    assert_eq!(store.counted_cvs("events", 1, 9).await.unwrap(), [2, 3, 9]);
    // An item created again under the same id (after a hard delete) is another commit.
    assert!(store
        .record_counted("events", &entry("a", 0, 10, Op::Create, &[]), &[])
        .await
        .unwrap());
    assert_eq!(store.counted_cvs("events", 0, 2).await.unwrap(), [1, 2]);

    // 8 writers record versions whose values overlap (150 values each, of 45 distinct ones).
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let values: Vec<UniqueValue> = (0..150u64)
                .map(|i| UniqueValue {
                    rule: "logins".into(),
                    property: "sessionId".into(),
                    value: format!("\"s-{}\"", (i * 7 + w) % 45),
                })
                .collect();
            let e = CountedVersion {
                id: format!("w{w}"),
                ov: 0,
                cv: 100 + w,
                op: Op::Create,
                at: Timestamp(1_700_000_000_000_000),
                rules: vec!["logins".into()],
                replayable: true,
            };
            s.record_counted("events", &e, &values).await.unwrap()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap());
    }
    // "1" and 1 are different values; the same value under another property or rule is
    // another row.
    store
        .record_counted(
            "events",
            &entry("c", 0, 200, Op::Create, &["logins", "vip"]),
            &[
                value("logins", "sessionId", "\"s-1\""),
                value("logins", "sessionId", "1"),
                value("vip", "sessionId", "1"),
                value("logins", "userId", "1"),
            ],
        )
        .await
        .unwrap();

    let t = store.counter_totals("events").await.unwrap();
    assert_eq!(t.by_op.get("CREATE"), Some(&12));
    assert_eq!(t.by_op.get("UPDATE"), Some(&1));
    assert_eq!(t.by_op.get("ENRICH"), Some(&1));
    assert_eq!(t.by_op.get("DELETE"), None);
    assert_eq!(t.by_rule["logins"].get("CREATE"), Some(&11));
    assert_eq!(t.by_rule["vip"].get("CREATE"), Some(&2));
    assert_eq!(t.by_rule["vip"].get("ENRICH"), Some(&1));
    assert_eq!(t.unique["logins"]["sessionId"], 46);
    assert_eq!(t.unique["logins"]["userId"], 1);
    assert_eq!(t.unique["vip"]["sessionId"], 1);
    assert_eq!(t.last_at, Some(Timestamp(1_700_000_000_000_200)));

    // Pages of 10 walk the 46 values once each.
    let mut seen = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .unique_values("events", "logins", "sessionId", after.as_deref(), 10)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        for (_, v) in &page {
            assert!(seen.insert(v.clone()), "{v} seen twice");
        }
        after = page.last().map(|(k, _)| k.clone());
    }
    assert_eq!(seen.len(), 46);
    assert!(seen.contains("1") && seen.contains("\"s-44\""));

    // Marks only go up.
    store.advance_counter_mark("events", 7).await.unwrap();
    store.advance_counter_mark("events", 5).await.unwrap();
    assert_eq!(
        store.counter_mark("events").await.unwrap(),
        CounterMark {
            through: 7,
            floor: 0
        }
    );

    // A reset: everything at or below the floor is gone, later records count.
    store.reset_counters("events", 150).await.unwrap();
    assert_eq!(
        store.counter_mark("events").await.unwrap(),
        CounterMark {
            through: 150,
            floor: 150
        }
    );
    assert_eq!(
        store.counter_totals("events").await.unwrap(),
        CounterTotals::default()
    );
    // A late record of a version below the floor (a writer racing the reset) is not counted.
    store
        .record_counted(
            "events",
            &entry("late", 0, 140, Op::Create, &["logins"]),
            &[],
        )
        .await
        .unwrap();
    store
        .record_counted(
            "events",
            &entry("d", 0, 151, Op::Create, &["logins"]),
            &[value("logins", "sessionId", "\"s-1\"")],
        )
        .await
        .unwrap();
    let t = store.counter_totals("events").await.unwrap();
    assert_eq!(t.by_op.get("CREATE"), Some(&1));
    assert_eq!(t.by_rule["logins"].get("CREATE"), Some(&1));
    assert_eq!(t.unique["logins"]["sessionId"], 1);
    store.advance_counter_mark("events", 100).await.unwrap();
    assert_eq!(store.counter_mark("events").await.unwrap().through, 150);

    // Another key counts for itself.
    store.ensure_counters("other").await.unwrap();
    assert_eq!(
        store.counter_totals("other").await.unwrap(),
        CounterTotals::default()
    );
    assert!(store
        .unique_values("other", "logins", "sessionId", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.counter_mark("other").await.unwrap(),
        CounterMark::default()
    );
}

/// Committed versions in cv order, in pages: every committed version once, none of a
/// refused write, the content inline when it was given, and a settled cv that never passes
/// a version still to come.
pub(crate) async fn committed_versions_in_cv_order(store: Arc<dyn MetadataStore>) {
    let sp = spec("feed", &[]);
    store.ensure_collection(&sp).await.unwrap();
    let empty = store.committed_after("feed", 0, 10).await.unwrap();
    assert!(empty.versions.is_empty() && !empty.more);
    let mut cvs = Vec::new();
    for i in 0..5 {
        let id = format!("i{i}");
        let c = store
            .commit(
                "feed",
                write(record(&id, 0, json!({"n": i}), 1_000 + i), true),
            )
            .await
            .unwrap();
        cvs.push(c.cv);
        // A refused write leaves nothing to count.
        assert!(store
            .commit("feed", write(record(&id, 0, json!({"n": 99}), 2_000), true))
            .await
            .is_err());
    }
    let c = store
        .commit(
            "feed",
            write(record("i0", 1, json!({"n": 10}), 3_000), true),
        )
        .await
        .unwrap();
    cvs.push(c.cv);
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.committed_after("feed", after, 2).await.unwrap();
        if page.more {
            assert!(page.settled <= page.versions.last().map(|v| v.version.cv).unwrap_or(0));
        }
        seen.extend(page.versions.iter().map(|v| v.version.cv));
        match page.versions.last() {
            Some(last) if page.more => after = last.version.cv,
            _ => break,
        }
    }
    assert_eq!(seen, cvs);
    let all = store.committed_after("feed", 0, 100).await.unwrap();
    let first = &all.versions[0];
    assert_eq!((first.version.id.as_str(), first.version.ov), ("i0", 0));
    assert_eq!(first.version.indexed["n"], 0);
    assert_eq!(all.versions.last().unwrap().version.indexed["n"], 10);
    assert_eq!(all.versions[0].shadow.as_deref(), Some("{\"v\":0}"));
    assert!(all.settled <= *cvs.last().unwrap());
}

/// Analytics results: a result written again under its key replaces the first, reads filter
/// on rule, collection, tenant, timeframe and a bucket range, newest bucket first, and
/// tables keep their own rows.
pub(crate) async fn results_replace_by_key_and_filter(store: Arc<dyn MetadataStore>) {
    use crate::meta::{AnalyticsResult, ResultFilter};
    store.ensure_results("timeBasedResults").await.unwrap();
    let all = |limit| ResultFilter {
        limit,
        ..Default::default()
    };
    assert!(store
        .results("timeBasedResults", &all(10))
        .await
        .unwrap()
        .is_empty());
    let row = |rule: &str, tenant: &str, bucket: Option<i64>, value: i64| AnalyticsResult {
        key: format!("{rule}|{tenant}|{}", bucket.unwrap_or(-1)),
        rule: rule.into(),
        collection: "events".into(),
        tenant: tenant.into(),
        timeframe: bucket.map(|_| "daily".to_string()),
        bucket: bucket.map(Timestamp),
        document: json!({"value": value}),
    };
    store
        .put_results(
            "timeBasedResults",
            &[
                row("a", "t1", Some(100), 1),
                row("a", "t1", Some(200), 2),
                row("a", "t2", Some(200), 3),
                row("b", "t1", None, 4),
            ],
        )
        .await
        .unwrap();
    // Running again replaces.
    store
        .put_results("timeBasedResults", &[row("a", "t1", Some(200), 20)])
        .await
        .unwrap();
    let got = store.results("timeBasedResults", &all(10)).await.unwrap();
    let summary: Vec<(String, i64)> = got
        .iter()
        .map(|r| (r.key.clone(), r.document["value"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("a|t1|200".to_string(), 20),
            ("a|t2|200".to_string(), 3),
            ("a|t1|100".to_string(), 1),
            ("b|t1|-1".to_string(), 4),
        ]
    );
    let f = |rule: Option<&str>, tenant: Option<&str>, from: Option<i64>, to: Option<i64>| {
        ResultFilter {
            rule: rule.map(str::to_string),
            tenant: tenant.map(str::to_string),
            from: from.map(Timestamp),
            to: to.map(Timestamp),
            limit: 10,
            ..Default::default()
        }
    };
    let keys = |rows: Vec<AnalyticsResult>| rows.into_iter().map(|r| r.key).collect::<Vec<_>>();
    assert_eq!(
        keys(
            store
                .results("timeBasedResults", &f(Some("a"), Some("t1"), None, None))
                .await
                .unwrap()
        ),
        ["a|t1|200", "a|t1|100"]
    );
    assert_eq!(
        keys(
            store
                .results("timeBasedResults", &f(None, None, Some(150), Some(250)))
                .await
                .unwrap()
        ),
        ["a|t1|200", "a|t2|200"]
    );
    assert_eq!(
        keys(
            store
                .results("timeBasedResults", &f(Some("b"), None, None, None))
                .await
                .unwrap()
        ),
        ["b|t1|-1"]
    );
    let timeframe = ResultFilter {
        timeframe: Some("daily".into()),
        collection: Some("events".into()),
        limit: 1,
        ..Default::default()
    };
    assert_eq!(
        keys(store.results("timeBasedResults", &timeframe).await.unwrap()),
        ["a|t1|200"]
    );
    let first = &store.results("timeBasedResults", &all(1)).await.unwrap()[0];
    assert_eq!(
        (
            first.rule.as_str(),
            first.tenant.as_str(),
            first.timeframe.as_deref(),
            first.bucket
        ),
        ("a", "t1", Some("daily"), Some(Timestamp(200)))
    );
    assert!(store
        .results("crossTenantResults", &all(10))
        .await
        .unwrap()
        .is_empty());
}

/// Erasure: a search finds every item any of whose versions matched (not only the latest),
/// once each, in id order, page by page; a scrub empties exactly the rows below the given
/// ov, counts them once and leaves history intact; `erased_among` names the items whose
/// head is a tombstone.
pub(crate) async fn erasure_search_and_scrub(store: Arc<dyn MetadataStore>) {
    use crate::query::Filter;
    let s = store.as_ref();
    let sp = spec("people", &["email", "tags[]"]);
    s.ensure_collection(&sp).await.unwrap();
    let f = |v: serde_json::Value| Filter::parse(&v, &sp.index).unwrap();
    // a: held x@ in its first version only; b: in its latest; c: never; d: in a tag.
    super::put(
        s,
        "people",
        "a",
        &[json!({"email": "x@"}), json!({"email": "y@"})],
        1,
    )
    .await;
    super::put(
        s,
        "people",
        "b",
        &[json!({"email": "z@"}), json!({"email": "x@"})],
        10,
    )
    .await;
    super::put(s, "people", "c", &[json!({"email": "y@"})], 20).await;
    super::put(s, "people", "d", &[json!({"tags": ["k", "x@"]})], 30).await;
    let subject = f(json!({"$or": [{"email": "x@"}, {"tags": "x@"}]}));
    let all = s.ids_in_any_version(&sp, &subject, None, 10).await.unwrap();
    assert_eq!(all, vec!["a", "b", "d"]);
    let first = s.ids_in_any_version(&sp, &subject, None, 2).await.unwrap();
    assert_eq!(first, vec!["a", "b"]);
    let rest = s
        .ids_in_any_version(&sp, &subject, Some("b"), 2)
        .await
        .unwrap();
    assert_eq!(rest, vec!["d"]);
    let unknown = spec("nobody", &["email"]);
    assert!(s
        .ids_in_any_version(&unknown, &subject, None, 10)
        .await
        .unwrap()
        .is_empty());

    // A tombstone on a, then its two earlier rows scrubbed, once.
    let mut tomb = record("a", 2, json!({}), 40);
    tomb.op = Op::Erase;
    tomb.deleted = true;
    tomb.sha256 = String::new();
    tomb.payload_key = String::new();
    let mut w = write(tomb, true);
    w.shadow = None;
    s.commit("people", w).await.unwrap();
    assert_eq!(s.scrub_versions("people", "a", 2).await.unwrap(), 2);
    assert_eq!(s.scrub_versions("people", "a", 2).await.unwrap(), 0);
    for ov in [0, 1] {
        let row = s.get_version("people", "a", ov).await.unwrap().unwrap();
        assert!(row.version.indexed.is_empty() && row.shadow.is_none());
        assert_eq!(row.version.sha256, "");
        assert_eq!(row.version.actor.as_deref(), Some("tester"));
    }
    assert_eq!(s.history("people", "a", None, 10).await.unwrap().len(), 3);
    // b's rows are untouched; a is no longer found.
    let b0 = s.get_version("people", "b", 0).await.unwrap().unwrap();
    assert_eq!(b0.version.indexed["email"], "z@");
    assert!(b0.shadow.is_some());
    let after = s.ids_in_any_version(&sp, &subject, None, 10).await.unwrap();
    assert_eq!(after, vec!["b", "d"]);
    let ids: Vec<String> = ["a", "b", "zz"].iter().map(|s| s.to_string()).collect();
    let erased = s.erased_among("people", &ids).await.unwrap();
    assert_eq!(
        erased.into_iter().collect::<Vec<_>>(),
        vec!["a".to_string()]
    );
    assert!(s.erased_among("nobody", &ids).await.unwrap().is_empty());
}

/// Data keys: inserted once per id, the newest live key of a scope is current, destroying a
/// scope removes its wrapped bytes (and only its own), rotation re-wraps live keys. Reading
/// an empty store creates nothing and finds nothing.
pub(crate) async fn data_keys_insert_destroy_and_rewrap(store: Arc<dyn MetadataStore>) {
    use crate::meta::WrappedKey;
    let s = store.as_ref();
    assert_eq!(s.get_key("k").await.unwrap(), None);
    assert_eq!(s.current_key("tenant:a").await.unwrap(), None);
    assert_eq!(s.destroy_keys("tenant:a").await.unwrap(), 0);
    assert!(s.keys_not_wrapped_by("m2").await.unwrap().is_empty());
    let key = |kid: &str, scope: &str, at: i64| WrappedKey {
        kid: kid.into(),
        scope: scope.into(),
        wrapped: vec![1, 2, 3, at as u8],
        master_id: "m1".into(),
        created_at: Timestamp(at),
        destroyed: false,
    };
    s.insert_key(&key("a1", "tenant:a", 1)).await.unwrap();
    s.insert_key(&key("a2", "tenant:a", 2)).await.unwrap();
    s.insert_key(&key("b1", "tenant:b", 3)).await.unwrap();
    // The same id again changes nothing.
    let mut again = key("a1", "tenant:a", 9);
    again.wrapped = vec![9];
    s.insert_key(&again).await.unwrap();
    assert_eq!(
        s.get_key("a1").await.unwrap(),
        Some(key("a1", "tenant:a", 1))
    );
    assert_eq!(s.current_key("tenant:a").await.unwrap().unwrap().kid, "a2");

    // Rotation: every live key not wrapped by m2, then re-wrapped.
    let stale = s.keys_not_wrapped_by("m2").await.unwrap();
    assert_eq!(
        stale.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        vec!["a1", "a2", "b1"]
    );
    s.rewrap_key("a1", &[7, 7], "m2").await.unwrap();
    let a1 = s.get_key("a1").await.unwrap().unwrap();
    assert_eq!((a1.wrapped, a1.master_id.as_str()), (vec![7, 7], "m2"));

    // Destroying a scope: its keys lose their bytes, the other scope keeps its own.
    assert_eq!(s.destroy_keys("tenant:a").await.unwrap(), 2);
    assert_eq!(s.destroy_keys("tenant:a").await.unwrap(), 0);
    let gone = s.get_key("a2").await.unwrap().unwrap();
    assert!(gone.destroyed && gone.wrapped.is_empty());
    assert_eq!(s.current_key("tenant:a").await.unwrap(), None);
    assert_eq!(s.current_key("tenant:b").await.unwrap().unwrap().kid, "b1");
    s.rewrap_key("a2", &[5], "m3").await.unwrap();
    assert!(s.get_key("a2").await.unwrap().unwrap().wrapped.is_empty());
    assert_eq!(
        s.keys_not_wrapped_by("m2")
            .await
            .unwrap()
            .iter()
            .map(|k| k.kid.as_str())
            .collect::<Vec<_>>(),
        vec!["b1"]
    );

    // Subject scopes: one subject's keys alone, or all of a tenant's with the tenant's own
    // (never those of a tenant whose id extends it).
    for (kid, scope) in [
        ("c1", "tenant:c/subject:h1"),
        ("c2", "tenant:c/subject:h2"),
        ("c3", "tenant:c"),
        ("x1", "tenant:cc/subject:h1"),
        ("x2", "tenant:c-d/subject:h1"),
    ] {
        s.insert_key(&key(kid, scope, 4)).await.unwrap();
    }
    assert_eq!(s.destroy_keys("tenant:c/subject:h1").await.unwrap(), 1);
    assert!(s.get_key("c1").await.unwrap().unwrap().destroyed);
    assert!(!s.get_key("c2").await.unwrap().unwrap().destroyed);
    assert_eq!(s.destroy_keys("tenant:c").await.unwrap(), 2);
    for (kid, destroyed) in [("c2", true), ("c3", true), ("x1", false), ("x2", false)] {
        assert_eq!(
            s.get_key(kid).await.unwrap().unwrap().destroyed,
            destroyed,
            "{kid}"
        );
    }
}
