//! Time-based and cross-tenant rules: run over each tenant's live items, results stored in
//! the tenant's analytics store, replaced (never duplicated) by a later run.

use crate::harness::Backend;
use chronos_db::analytics::bucket_start;
use chronos_db::analytics_jobs::{ResultsQuery, RunOptions, RunStatus};
use chronos_db::config::{ChronosConfig, Timeframe};
use chronos_db::{Error, Timestamp};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn rules(cfg: &mut ChronosConfig) {
    cfg.analytics = Some(
        serde_json::from_value(json!({
            "tenants": ["tenant-a", "tenant-b"],
            "timeBasedRules": [
                {"name": "daily_revenue", "collection": "tx", "query": {"status": "completed"},
                 "operation": "sum", "field": "amount", "saveMode": "timeframe", "timeframe": "daily"},
                {"name": "median_amount", "collection": "tx", "query": {"status": "completed"},
                 "operation": "median", "field": "amount", "saveMode": "global"},
                {"name": "monthly_customers", "collection": "tx", "operation": "count",
                 "arguments": ["customerId"], "timeframe": "monthly"},
                {"name": "recent", "collection": "tx", "operation": "count", "saveMode": "global",
                 "relativeTime": {"newerThan": "PT1H"}},
            ],
            "crossTenantRules": [
                {"name": "active_tenants", "collection": "events", "query": {"action": "user_activity"},
                 "mode": "boolean", "masterTenantId": "tenant-m", "slaveTenantIds": ["tenant-a", "tenant-b", "tenant-c"]},
                {"name": "total_spend", "collection": "events", "mode": "sum", "field": "spend",
                 "masterTenantId": "tenant-m", "slaveTenantIds": ["tenant-a", "tenant-b", "tenant-c"]},
                {"name": "median_spend", "collection": "events", "mode": "median", "field": "spend",
                 "masterTenantId": "tenant-m", "slaveTenantIds": ["tenant-a", "tenant-b", "tenant-c"]},
            ],
        }))
        .unwrap(),
    );
}

fn by_rule(results: &[Value], rule: &str) -> Vec<Value> {
    results
        .iter()
        .filter(|r| r["ruleName"] == rule)
        .cloned()
        .collect()
}

conformance_case!(time_based_rules_bucket_and_rerun);
/// Sums per day, a true median, distinct customers per month and a relative window, per
/// tenant; a second run replaces the results; a bucket emptied since is written empty.
async fn time_based_rules_bucket_and_rerun(b: &dyn Backend) {
    let h = open!(b, rules);
    let tx = h.tenant("tenant-a", "tx");
    let mut ids = Vec::new();
    for (amount, status, customer) in [
        (10, "completed", "c1"),
        (40, "completed", "c2"),
        (20, "completed", "c1"),
        (30, "completed", "c3"),
        (1000, "pending", "c4"),
    ] {
        let r = tx
            .create(
                json!({"amount": amount, "status": status, "customerId": customer}),
                "shop",
                "sale",
                Default::default(),
            )
            .await
            .unwrap();
        ids.push(r.id);
    }
    // What the history says, bucketed by each item's creation time as read back.
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for (id, amount) in ids.iter().zip([10.0, 40.0, 20.0, 30.0]) {
        let item = tx
            .get_latest(id, Default::default())
            .await
            .unwrap()
            .unwrap();
        let day = bucket_start(item.system.inserted_at, Timeframe::Daily);
        *expected
            .entry(
                serde_json::to_value(day)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
            .or_default() += amount;
    }

    let report = h
        .chronos
        .analytics()
        .run(&RunOptions::default())
        .await
        .unwrap();
    // 4 rules x 2 tenants, and the 3 cross-tenant rules.
    assert_eq!(report.runs.len(), 4 * 2 + 3);
    assert!(report.runs.iter().all(|r| r.status == RunStatus::Done));
    let jobs = h.chronos.analytics();
    let results = jobs
        .get_time_based_results("tenant-a", &ResultsQuery::default())
        .await
        .unwrap();
    let daily = by_rule(&results, "daily_revenue");
    let got: BTreeMap<String, f64> = daily
        .iter()
        .map(|r| {
            (
                r["bucket"].as_str().unwrap().to_string(),
                r["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(daily[0]["timeframe"], "daily");
    assert_eq!(daily[0]["tenantId"], "tenant-a");
    let median = by_rule(&results, "median_amount");
    assert_eq!(median.len(), 1);
    assert_eq!(median[0]["value"], 25.0, "the median of 10, 20, 30, 40");
    assert_eq!(median[0]["bucket"], Value::Null);
    let customers: f64 = by_rule(&results, "monthly_customers")
        .iter()
        .map(|r| r["value"].as_f64().unwrap())
        .sum();
    assert!(
        (4.0..=5.0).contains(&customers),
        "{customers}: c1-c4, once per month"
    );
    assert_eq!(by_rule(&results, "recent")[0]["value"], 5.0);

    // Tenant b: no data, its global rules say so; tenant a's results are not there.
    let b_results = jobs
        .get_time_based_results("tenant-b", &ResultsQuery::default())
        .await
        .unwrap();
    assert!(b_results.iter().all(|r| r["tenantId"] == "tenant-b"));
    assert_eq!(
        by_rule(&b_results, "median_amount")[0]["value"],
        Value::Null
    );
    assert_eq!(by_rule(&b_results, "recent")[0]["value"], 0.0);
    assert!(by_rule(&b_results, "daily_revenue").is_empty());

    // Run again after a change: replaced, not duplicated; a bucket emptied is written empty.
    let n_before = results.len();
    for (id, ov) in ids.iter().take(4).zip([0, 0, 0, 0]) {
        tx.update(
            id,
            json!({"amount": 1, "status": "refunded", "customerId": "c9"}),
            ov,
            "shop",
            "refund",
        )
        .await
        .unwrap();
    }
    jobs.run(&RunOptions {
        rule: Some("daily_revenue".into()),
        tenant: Some("tenant-a".into()),
    })
    .await
    .unwrap();
    let again = jobs
        .get_time_based_results("tenant-a", &ResultsQuery::default())
        .await
        .unwrap();
    assert_eq!(again.len(), n_before);
    for r in by_rule(&again, "daily_revenue") {
        assert_eq!(
            (r["value"].clone(), r["matched"].clone()),
            (Value::Null, json!(0))
        );
    }

    // Filters: by rule, timeframe, a bucket range that excludes everything, a limit.
    let only = jobs
        .get_time_based_results(
            "tenant-a",
            &ResultsQuery {
                rule: Some("median_amount".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    let monthly = jobs
        .get_time_based_results(
            "tenant-a",
            &ResultsQuery {
                timeframe: Some(Timeframe::Monthly),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!monthly.is_empty() && monthly.iter().all(|r| r["ruleName"] == "monthly_customers"));
    let long_ago = jobs
        .get_time_based_results(
            "tenant-a",
            &ResultsQuery {
                to: Some(Timestamp::parse("2000-01-01T00:00:00Z").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(long_ago.is_empty());
    let one = jobs
        .get_time_based_results(
            "tenant-a",
            &ResultsQuery {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(one.len(), 1);

    // A rule held by another process's lease is reported busy, and left alone.
    let stores: Vec<_> = h.metas.lock().unwrap().clone();
    for s in &stores {
        s.acquire_lease(
            "timeBasedResults",
            "daily_revenue.tenant-a",
            "someone-else",
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    }
    let busy = jobs
        .run(&RunOptions {
            rule: Some("daily_revenue".into()),
            tenant: Some("tenant-a".into()),
        })
        .await
        .unwrap();
    assert_eq!(busy.runs.len(), 1);
    assert_eq!(busy.runs[0].status, RunStatus::Busy);
    for s in &stores {
        s.release_lease("timeBasedResults", "daily_revenue.tenant-a", "someone-else")
            .await
            .unwrap();
    }

    let unknown = jobs
        .run(&RunOptions {
            rule: Some("nope".into()),
            tenant: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(unknown, Error::Validation(_)), "{unknown:?}");
}

conformance_case!(cross_tenant_rules_combine_tenants);
/// A boolean rule counts the tenants with a match, a sum adds their totals and a median takes
/// the middle of their values; a tenant with no data is 0 or left out; only the master
/// tenant reads the results.
async fn cross_tenant_rules_combine_tenants(b: &dyn Backend) {
    let h = open!(b, rules);
    // Results are kept per run hour: a fixed clock keeps both runs below in the same one.
    h.set_clock(Some("2024-05-01T10:15:00Z"));
    for (tenant, spends) in [("tenant-a", vec![5, 7]), ("tenant-b", vec![100])] {
        let events = h.tenant(tenant, "events");
        for spend in spends {
            events
                .create(
                    json!({"action": "user_activity", "spend": spend}),
                    "app",
                    "",
                    Default::default(),
                )
                .await
                .unwrap();
        }
    }
    h.tenant("tenant-b", "events")
        .create(
            json!({"action": "other", "spend": 1}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    let jobs = h.chronos.analytics();
    let report = jobs
        .run(&RunOptions {
            rule: None,
            tenant: Some("tenant-m".into()),
        })
        .await
        .unwrap();
    // tenant-m's own time-based runs, and the three cross-tenant rules it is master of.
    let cross: Vec<_> = report
        .runs
        .iter()
        .filter(|r| r.kind == chronos_db::analytics_jobs::RuleKind::CrossTenant)
        .collect();
    assert_eq!(cross.len(), 3);
    assert!(report.runs.iter().all(|r| r.tenant == "tenant-m"));
    let results = jobs
        .get_cross_tenant_results("tenant-m", &ResultsQuery::default())
        .await
        .unwrap();
    let one = |rule: &str| {
        let r = by_rule(&results, rule);
        assert_eq!(r.len(), 1, "{rule}: {results:?}");
        r[0].clone()
    };
    let active = one("active_tenants");
    assert_eq!(active["value"], 2.0);
    assert_eq!(active["masterTenantId"], "tenant-m");
    let slaves = active["slaveResults"].as_array().unwrap();
    assert_eq!(slaves.len(), 3);
    assert_eq!(
        slaves[2],
        json!({"tenantId": "tenant-c", "value": 0.0, "matched": 0})
    );
    assert_eq!(one("total_spend")["value"], 113.0);
    // Per tenant, its median: a 6 (5, 7), b 50.5 (100, 1), c none; combined, their median.
    let median = one("median_spend");
    assert_eq!(median["value"], 28.25);
    assert_eq!(median["slaveResults"][2]["value"], Value::Null);

    // Running again within the hour replaces the run's result.
    jobs.run(&RunOptions::default()).await.unwrap();
    let again = jobs
        .get_cross_tenant_results("tenant-m", &ResultsQuery::default())
        .await
        .unwrap();
    assert_eq!(again.len(), 3);

    // Another tenant reads none of them.
    for t in ["tenant-a", "tenant-c"] {
        assert!(jobs
            .get_cross_tenant_results(t, &ResultsQuery::default())
            .await
            .unwrap()
            .is_empty());
    }
    h.set_clock(None);
}

conformance_case!(time_based_buckets_at_fixed_times);
/// Items written at fixed times on both sides of hour, day and month boundaries land in the
/// right UTC buckets; the median of an even count is the mean of the middle two; a window
/// relative to the run's time keeps only the items inside it.
async fn time_based_buckets_at_fixed_times(b: &dyn Backend) {
    let h = open!(b, |cfg: &mut ChronosConfig| {
        cfg.analytics = Some(
            serde_json::from_value(json!({
                "tenants": ["tenant-a"],
                "timeBasedRules": [
                    {"name": "hourly", "collection": "tx", "operation": "sum", "field": "n", "timeframe": "hourly"},
                    {"name": "daily", "collection": "tx", "operation": "sum", "field": "n", "timeframe": "daily"},
                    {"name": "monthly", "collection": "tx", "operation": "sum", "field": "n", "timeframe": "monthly"},
                    {"name": "median", "collection": "tx", "operation": "median", "field": "n", "timeframe": "monthly"},
                    {"name": "last_day", "collection": "tx", "operation": "count", "saveMode": "global",
                     "relativeTime": {"newerThan": "P1D", "olderThan": "PT30M"}},
                ],
            }))
            .unwrap(),
        );
    });
    let tx = h.tenant("tenant-a", "tx");
    for (at, n) in [
        ("2024-01-31T22:59:59Z", 1),
        ("2024-01-31T23:00:00Z", 2),
        ("2024-01-31T23:59:59Z", 4),
        ("2024-02-01T00:00:00Z", 8),
        ("2024-02-01T00:45:00Z", 16),
    ] {
        h.set_clock(Some(at));
        tx.create(json!({"n": n}), "shop", "", Default::default())
            .await
            .unwrap();
    }
    // The run happens at 01:00 on Feb 1st: the last day is Jan 31st 01:00 to 00:30.
    h.set_clock(Some("2024-02-01T01:00:00Z"));
    h.chronos
        .analytics()
        .run(&RunOptions::default())
        .await
        .unwrap();
    h.set_clock(None);
    let results = h
        .chronos
        .analytics()
        .get_time_based_results(
            "tenant-a",
            &ResultsQuery {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let buckets = |rule: &str| -> Vec<(String, Value)> {
        let mut v: Vec<(String, Value)> = by_rule(&results, rule)
            .into_iter()
            .map(|r| {
                (
                    r["bucket"].as_str().unwrap()[..19].to_string(),
                    r["value"].clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let pairs = |v: &[(&str, f64)]| -> Vec<(String, Value)> {
        v.iter().map(|(t, n)| (t.to_string(), json!(n))).collect()
    };
    assert_eq!(
        buckets("hourly"),
        pairs(&[
            ("2024-01-31T22:00:00", 1.0),
            ("2024-01-31T23:00:00", 6.0),
            ("2024-02-01T00:00:00", 24.0),
        ])
    );
    assert_eq!(
        buckets("daily"),
        pairs(&[("2024-01-31T00:00:00", 7.0), ("2024-02-01T00:00:00", 24.0)])
    );
    assert_eq!(
        buckets("monthly"),
        pairs(&[("2024-01-01T00:00:00", 7.0), ("2024-02-01T00:00:00", 24.0)])
    );
    // January: 1, 2, 4 → 2; February: 8, 16 → 12 (an even count).
    assert_eq!(
        buckets("median"),
        pairs(&[("2024-01-01T00:00:00", 2.0), ("2024-02-01T00:00:00", 12.0)])
    );
    // Created between Jan 31st 01:00 and Feb 1st 00:30: all but the 00:45 one.
    assert_eq!(by_rule(&results, "last_day")[0]["value"], 4.0);
    // The items carry those times.
    let page = tx.list_by_meta(Default::default()).await.unwrap();
    assert!(page
        .items
        .iter()
        .any(|i| i.system.inserted_at == Timestamp::parse("2024-01-31T23:00:00Z").unwrap()));
}

conformance_case!(counter_retention_prunes_old_buckets);
/// `retention.counters`: each run removes the buckets older than the timeframe's window
/// (days for daily, weeks for weekly, months for monthly, counted back from the current
/// bucket); results over everything stay.
async fn counter_retention_prunes_old_buckets(b: &dyn Backend) {
    let h = open!(b, |cfg: &mut ChronosConfig| {
        cfg.retention.counters =
            Some(serde_json::from_value(json!({"days": 3, "weeks": 2, "months": 1})).unwrap());
        cfg.analytics = Some(
            serde_json::from_value(json!({
                "tenants": ["tenant-a"],
                "timeBasedRules": [
                    {"name": "daily", "collection": "tx", "operation": "sum", "field": "n", "timeframe": "daily"},
                    {"name": "weekly", "collection": "tx", "operation": "sum", "field": "n", "timeframe": "weekly"},
                    {"name": "monthly", "collection": "tx", "operation": "sum", "field": "n", "timeframe": "monthly"},
                    {"name": "all", "collection": "tx", "operation": "count", "saveMode": "global"},
                ],
            }))
            .unwrap(),
        );
    });
    let tx = h.tenant("tenant-a", "tx");
    for at in [
        "2024-01-01T10:00:00Z",
        "2024-01-20T10:00:00Z",
        "2024-02-25T10:00:00Z",
        "2024-03-01T10:00:00Z",
    ] {
        h.set_clock(Some(at));
        tx.create(json!({"n": 1}), "shop", "", Default::default())
            .await
            .unwrap();
    }
    h.set_clock(Some("2024-03-01T12:00:00Z"));
    let report = h
        .chronos
        .analytics()
        .run(&RunOptions::default())
        .await
        .unwrap();
    h.set_clock(None);
    let pruned = |rule: &str| report.runs.iter().find(|r| r.rule == rule).unwrap().pruned;
    // Daily: Jan 1st, Jan 20th, Feb 25th go (kept from Feb 27th); weekly: the two January
    // weeks go (kept from the week of Feb 12th); monthly: January goes (kept from Feb 1st).
    assert_eq!(
        (
            pruned("daily"),
            pruned("weekly"),
            pruned("monthly"),
            pruned("all")
        ),
        (3, 2, 1, 0)
    );
    let results = h
        .chronos
        .analytics()
        .get_time_based_results(
            "tenant-a",
            &ResultsQuery {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let buckets = |rule: &str| -> Vec<String> {
        let mut v: Vec<String> = by_rule(&results, rule)
            .into_iter()
            .map(|r| r["bucket"].as_str().unwrap()[..10].to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(buckets("daily"), ["2024-03-01"]);
    assert_eq!(buckets("weekly"), ["2024-02-19", "2024-02-26"]);
    assert_eq!(buckets("monthly"), ["2024-02-01", "2024-03-01"]);
    assert_eq!(by_rule(&results, "all")[0]["value"], 4.0);
}
