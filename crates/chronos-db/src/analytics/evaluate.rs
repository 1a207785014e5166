//! Evaluating a time-based or cross-tenant rule over items: the filter, the window, the
//! buckets and the aggregate. Pure (no I/O): a runner feeds it one item at a time, in any
//! order, and stores what [`Aggregation::finish`] returns, so the arithmetic is tested here
//! with fixed timestamps.

use super::aggregate::{aggregate, bucket_start, window};
use super::rules::filter_on_named_paths;
use super::unique::unique_key;
use crate::config::{AggregateOp, CrossTenantMode, CrossTenantRule, TimeBasedRule, Timeframe};
use crate::model::Timestamp;
use crate::query::{Filter, IndexedPath, SystemValues};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// What a rule needs to know of one item (its latest version, not deleted).
#[derive(Debug, Clone, Copy)]
pub struct ItemFacts<'a> {
    /// The item's id.
    pub id: &'a str,
    /// When the item was created (`_system.insertedAt`): what windows and buckets use.
    pub inserted_at: Timestamp,
    /// Its content.
    pub content: &'a Value,
}

/// One bucket's result.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketValue {
    /// The bucket's start (UTC hour, day, ISO week or month); `None` over everything.
    pub bucket: Option<Timestamp>,
    /// The aggregate: `None` when it has no value (an average of nothing).
    pub value: Option<f64>,
    /// Items that matched the filter and the window in this bucket.
    pub matched: u64,
}

/// A rule being evaluated: feed it items with [`add`](Self::add), then
/// [`finish`](Self::finish).
///
/// ```
/// use chronos_db::analytics::{Aggregation, ItemFacts};
/// use chronos_db::config::TimeBasedRule;
/// use chronos_db::Timestamp;
/// use serde_json::json;
/// let rule: TimeBasedRule = serde_json::from_value(json!({"name": "daily_revenue", "collection": "tx",
///     "query": {"status": "completed"}, "operation": "sum", "field": "amount", "timeframe": "daily"})).unwrap();
/// let now = chrono::Utc::now();
/// let mut agg = Aggregation::time_based(&rule, now).unwrap();
/// for (at, amount) in [("2024-01-01T23:59:00Z", 5), ("2024-01-02T00:01:00Z", 7), ("2024-01-02T10:00:00Z", 1)] {
///     let content = json!({"status": "completed", "amount": amount});
///     agg.add(ItemFacts { id: "x", inserted_at: Timestamp::parse(at).unwrap(), content: &content });
/// }
/// let days: Vec<_> = agg.finish().into_iter().map(|b| (b.bucket.unwrap().to_string(), b.value)).collect();
/// assert_eq!(days, [("2024-01-01T00:00:00.000000Z".to_string(), Some(5.0)), ("2024-01-02T00:00:00.000000Z".to_string(), Some(8.0))]);
/// ```
#[derive(Debug, Clone)]
pub struct Aggregation {
    filter: Filter,
    op: AggregateOp,
    field: Option<IndexedPath>,
    arguments: Vec<IndexedPath>,
    timeframe: Option<Timeframe>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    buckets: BTreeMap<Option<Timestamp>, Acc>,
}

#[derive(Debug, Clone, Default)]
struct Acc {
    matched: u64,
    values: Vec<f64>,
    combinations: HashSet<String>,
}

impl Aggregation {
    /// A time-based rule as of `now` (its `relativeTime` window ends there); buckets with
    /// `saveMode: "timeframe"`, one result otherwise.
    pub fn time_based(rule: &TimeBasedRule, now: DateTime<Utc>) -> Result<Self, String> {
        let timeframe = match rule.save_mode {
            crate::config::SaveMode::Timeframe => Some(rule.timeframe.ok_or_else(|| {
                format!(
                    "rule '{}': saveMode \"timeframe\" needs a timeframe",
                    rule.name
                )
            })?),
            crate::config::SaveMode::Global => None,
        };
        Self::new(
            &rule.query,
            rule.operation,
            rule.field.as_deref(),
            &rule.arguments,
            timeframe,
            rule.relative_time.as_ref(),
            now,
        )
    }

    /// One tenant's part of a cross-tenant rule, as of `now`: one result over everything
    /// (`boolean` is evaluated as a count; see [`combine`]).
    pub fn cross_tenant(rule: &CrossTenantRule, now: DateTime<Utc>) -> Result<Self, String> {
        Self::new(
            &rule.query,
            per_tenant_op(rule.mode),
            rule.field.as_deref(),
            &[],
            None,
            rule.relative_time.as_ref(),
            now,
        )
    }

    fn new(
        query: &serde_json::Map<String, Value>,
        op: AggregateOp,
        field: Option<&str>,
        arguments: &[String],
        timeframe: Option<Timeframe>,
        relative: Option<&crate::config::RelativeTime>,
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        let filter = filter_on_named_paths(query)?;
        let (from, to) = window(relative, now)?;
        Ok(Aggregation {
            filter,
            op,
            field: field.map(IndexedPath::parse),
            arguments: arguments.iter().map(|a| IndexedPath::parse(a)).collect(),
            timeframe,
            from,
            to,
            buckets: BTreeMap::new(),
        })
    }

    /// The window items must have been created in: `[from, to]`, each end open when `None`.
    pub fn window(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        (self.from, self.to)
    }

    /// Takes one item into account (items outside the window or not matching are skipped).
    pub fn add(&mut self, item: ItemFacts<'_>) {
        if self.from.is_some_and(|f| item.inserted_at < f)
            || self.to.is_some_and(|t| item.inserted_at > t)
        {
            return;
        }
        let system = SystemValues {
            id: item.id,
            ..Default::default()
        };
        if !self.filter.matches(item.content, &system) {
            return;
        }
        let bucket = self.timeframe.map(|tf| bucket_start(item.inserted_at, tf));
        let acc = self.buckets.entry(bucket).or_default();
        acc.matched += 1;
        if let Some(n) = self
            .field
            .as_ref()
            .and_then(|f| value_at(item.content, f))
            .and_then(Value::as_f64)
        {
            acc.values.push(n);
        }
        if !self.arguments.is_empty() {
            let combination: Vec<Value> = self
                .arguments
                .iter()
                .map(|a| value_at(item.content, a).cloned().unwrap_or(Value::Null))
                .collect();
            if combination.iter().any(|v| !v.is_null()) {
                acc.combinations
                    .insert(unique_key(&Value::Array(combination)));
            }
        }
    }

    /// The results, oldest bucket first (one, with `bucket: None`, for a global rule, even
    /// when nothing matched).
    pub fn finish(self) -> Vec<BucketValue> {
        let (op, counts_combinations) = (self.op, !self.arguments.is_empty());
        let mut buckets = self.buckets;
        if self.timeframe.is_none() {
            buckets.entry(None).or_default();
        }
        buckets
            .into_iter()
            .map(|(bucket, acc)| BucketValue {
                bucket,
                value: match (op, counts_combinations) {
                    (AggregateOp::Count, true) => Some(acc.combinations.len() as f64),
                    (AggregateOp::Count, false) => Some(acc.matched as f64),
                    _ => aggregate(op, &acc.values),
                },
                matched: acc.matched,
            })
            .collect()
    }
}

/// What one tenant's part of a cross-tenant rule computes.
fn per_tenant_op(mode: CrossTenantMode) -> AggregateOp {
    match mode {
        CrossTenantMode::Boolean | CrossTenantMode::Count => AggregateOp::Count,
        CrossTenantMode::Sum => AggregateOp::Sum,
        CrossTenantMode::Average => AggregateOp::Average,
        CrossTenantMode::Min => AggregateOp::Min,
        CrossTenantMode::Max => AggregateOp::Max,
        CrossTenantMode::Median => AggregateOp::Median,
    }
}

/// A tenant's value under a cross-tenant mode, from its [`Aggregation::finish`] result:
/// `boolean` is 1 when something matched, else 0; `count` and `sum` are 0 for a tenant
/// with nothing; the others have no value then.
pub fn tenant_value(mode: CrossTenantMode, result: &BucketValue) -> Option<f64> {
    match mode {
        CrossTenantMode::Boolean => Some(if result.matched > 0 { 1.0 } else { 0.0 }),
        CrossTenantMode::Count => Some(result.matched as f64),
        CrossTenantMode::Sum => Some(result.value.unwrap_or(0.0)),
        _ => result.value,
    }
}

/// The combined value of the tenants' values: `boolean` the number of tenants with a match,
/// `count` and `sum` the total, the others the aggregate of the tenants' values (tenants
/// without a value left out).
///
/// ```
/// use chronos_db::analytics::combine;
/// use chronos_db::config::CrossTenantMode;
/// assert_eq!(combine(CrossTenantMode::Boolean, &[Some(1.0), Some(0.0), Some(1.0)]), Some(2.0));
/// assert_eq!(combine(CrossTenantMode::Median, &[Some(4.0), None, Some(1.0), Some(3.0), Some(2.0)]), Some(2.5));
/// ```
pub fn combine(mode: CrossTenantMode, values: &[Option<f64>]) -> Option<f64> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    match mode {
        CrossTenantMode::Boolean | CrossTenantMode::Count | CrossTenantMode::Sum => {
            Some(present.iter().sum())
        }
        other => aggregate(per_tenant_op(other), &present),
    }
}

/// The value at a dotted path of a document.
fn value_at<'a>(doc: &'a Value, path: &IndexedPath) -> Option<&'a Value> {
    let mut at = doc;
    for seg in &path.segments {
        at = at.as_object()?.get(seg)?;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> TimeBasedRule {
        serde_json::from_value(v).expect("a time-based rule")
    }

    fn run(
        rule: &TimeBasedRule,
        now: &str,
        items: &[(&str, Value)],
    ) -> Vec<(Option<String>, Option<f64>, u64)> {
        let now = DateTime::parse_from_rfc3339(now).unwrap().to_utc();
        let mut agg = Aggregation::time_based(rule, now).unwrap();
        for (i, (at, content)) in items.iter().enumerate() {
            let id = format!("i{i}");
            agg.add(ItemFacts {
                id: &id,
                inserted_at: Timestamp::parse(at).unwrap(),
                content,
            });
        }
        agg.finish()
            .into_iter()
            .map(|b| {
                (
                    b.bucket.map(|t| t.to_string()[..19].to_string()),
                    b.value,
                    b.matched,
                )
            })
            .collect()
    }

    #[test]
    fn buckets_split_at_hour_day_week_and_month_boundaries() {
        let items = [
            ("2024-01-31T22:59:59.999999Z", json!({"n": 1})),
            ("2024-01-31T23:00:00Z", json!({"n": 2})),
            ("2024-01-31T23:59:59Z", json!({"n": 4})),
            ("2024-02-01T00:00:00Z", json!({"n": 8})),
            ("2024-02-04T12:00:00Z", json!({"n": 16})), // a Sunday
            ("2024-02-05T00:00:00Z", json!({"n": 32})), // the next Monday
        ];
        let r = |tf: &str| {
            rule(
                json!({"name": "r", "collection": "c", "operation": "sum", "field": "n", "timeframe": tf}),
            )
        };
        let now = "2024-03-01T00:00:00Z";
        let s = |t: &str| Some(t.to_string());
        assert_eq!(
            run(&r("hourly"), now, &items),
            vec![
                (s("2024-01-31T22:00:00"), Some(1.0), 1),
                (s("2024-01-31T23:00:00"), Some(6.0), 2),
                (s("2024-02-01T00:00:00"), Some(8.0), 1),
                (s("2024-02-04T12:00:00"), Some(16.0), 1),
                (s("2024-02-05T00:00:00"), Some(32.0), 1),
            ]
        );
        assert_eq!(
            run(&r("daily"), now, &items),
            vec![
                (s("2024-01-31T00:00:00"), Some(7.0), 3),
                (s("2024-02-01T00:00:00"), Some(8.0), 1),
                (s("2024-02-04T00:00:00"), Some(16.0), 1),
                (s("2024-02-05T00:00:00"), Some(32.0), 1),
            ]
        );
        assert_eq!(
            run(&r("weekly"), now, &items),
            vec![
                (s("2024-01-29T00:00:00"), Some(31.0), 5),
                (s("2024-02-05T00:00:00"), Some(32.0), 1),
            ]
        );
        assert_eq!(
            run(&r("monthly"), now, &items),
            vec![
                (s("2024-01-01T00:00:00"), Some(7.0), 3),
                (s("2024-02-01T00:00:00"), Some(56.0), 3),
            ]
        );
    }

    #[test]
    fn every_operation_the_filter_and_the_window() {
        let items = [
            ("2024-05-01T10:00:00Z", json!({"s": "ok", "v": 4})),
            ("2024-05-01T11:00:00Z", json!({"s": "ok", "v": 1})),
            ("2024-05-01T12:00:00Z", json!({"s": "ok", "v": 3})),
            ("2024-05-01T13:00:00Z", json!({"s": "ok", "v": 2})),
            ("2024-05-01T14:00:00Z", json!({"s": "no", "v": 100})),
            (
                "2024-05-01T15:00:00Z",
                json!({"s": "ok", "v": "not a number"}),
            ),
        ];
        let global = |op: &str| {
            rule(
                json!({"name": "r", "collection": "c", "query": {"s": "ok"}, "operation": op,
                        "field": "v", "saveMode": "global"}),
            )
        };
        let now = "2024-05-02T00:00:00Z";
        let value = |op: &str| run(&global(op), now, &items)[0].1;
        assert_eq!(value("count"), Some(5.0));
        assert_eq!(value("sum"), Some(10.0));
        assert_eq!(value("average"), Some(2.5));
        assert_eq!(value("min"), Some(1.0));
        assert_eq!(value("max"), Some(4.0));
        assert_eq!(
            value("median"),
            Some(2.5),
            "the true median of an even count"
        );
        // Both ends of the window: created 13h-10h ago → 11:00, 12:00, 13:00 (14:00 is "no").
        let windowed = rule(json!({"name": "r", "collection": "c", "query": {"s": "ok"},
            "operation": "median", "field": "v", "saveMode": "global",
            "relativeTime": {"newerThan": "PT13H", "olderThan": "PT10H"}}));
        assert_eq!(run(&windowed, now, &items), vec![(None, Some(2.0), 3)]);
        // Nothing matched: a global rule still has its one result.
        let none = rule(
            json!({"name": "r", "collection": "c", "query": {"s": "missing"},
            "operation": "average", "field": "v", "saveMode": "global"}),
        );
        assert_eq!(run(&none, now, &items), vec![(None, None, 0)]);
    }

    #[test]
    fn arguments_count_distinct_combinations() {
        let r = rule(json!({"name": "r", "collection": "c", "operation": "count",
            "arguments": ["customerId", "shop.id"], "timeframe": "monthly"}));
        let items = [
            (
                "2024-01-05T00:00:00Z",
                json!({"customerId": 1, "shop": {"id": "a"}}),
            ),
            (
                "2024-01-06T00:00:00Z",
                json!({"customerId": 1, "shop": {"id": "a"}}),
            ),
            (
                "2024-01-07T00:00:00Z",
                json!({"customerId": "1", "shop": {"id": "a"}}),
            ),
            (
                "2024-01-08T00:00:00Z",
                json!({"customerId": 1, "shop": {"id": "b"}}),
            ),
            ("2024-01-09T00:00:00Z", json!({"other": true})),
            (
                "2024-02-01T00:00:00Z",
                json!({"customerId": 1, "shop": {"id": "a"}}),
            ),
        ];
        let out = run(&r, "2024-03-01T00:00:00Z", &items);
        assert_eq!(out[0].1, Some(3.0), "1/a, \"1\"/a and 1/b");
        assert_eq!(out[0].2, 5);
        assert_eq!(out[1].1, Some(1.0));
    }

    #[test]
    fn cross_tenant_values_combine_per_mode() {
        let result = |matched: u64, value: Option<f64>| BucketValue {
            bucket: None,
            value,
            matched,
        };
        let empty = result(0, None);
        let busy = result(3, Some(12.0));
        assert_eq!(tenant_value(CrossTenantMode::Boolean, &empty), Some(0.0));
        assert_eq!(tenant_value(CrossTenantMode::Boolean, &busy), Some(1.0));
        assert_eq!(tenant_value(CrossTenantMode::Count, &busy), Some(3.0));
        assert_eq!(tenant_value(CrossTenantMode::Sum, &empty), Some(0.0));
        assert_eq!(tenant_value(CrossTenantMode::Average, &empty), None);
        assert_eq!(
            combine(CrossTenantMode::Sum, &[Some(12.0), Some(0.0)]),
            Some(12.0)
        );
        assert_eq!(
            combine(CrossTenantMode::Max, &[None, Some(2.0), Some(7.0)]),
            Some(7.0)
        );
        assert_eq!(combine(CrossTenantMode::Average, &[None, None]), None);
    }
}
