//! Checks of the time-based and cross-tenant rules, and of the schedules (analytics and
//! retention; both are ISO 8601 durations, parsed here): every problem as `path: message`, so
//! a configuration that would fail later fails at open.

use super::aggregate::IsoDuration;
use crate::config::{AggregateOp, ChronosConfig, CrossTenantMode, RelativeTime, SaveMode};
use serde_json::{Map, Value};
use std::collections::HashSet;

pub(super) fn problems(cfg: &ChronosConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = &cfg.retention.schedule {
        if let Err(e) = super::schedule_interval(&s.every) {
            out.push(format!("$.retention.schedule.every: {e}"));
        }
        for (j, t) in s.tenants.iter().enumerate() {
            if let Err(e) = crate::names::check_scope_name("a tenant id", t) {
                out.push(format!("$.retention.schedule.tenants[{j}]: {e}"));
            }
        }
        for (j, d) in s.domains.iter().enumerate() {
            if let Err(e) = crate::names::check_scope_name("a domain", d) {
                out.push(format!("$.retention.schedule.domains[{j}]: {e}"));
            }
        }
    }
    let Some(a) = &cfg.analytics else {
        return out;
    };
    let mut names = HashSet::new();
    for (i, r) in a.time_based_rules.iter().enumerate() {
        let path = format!("$.analytics.timeBasedRules[{i}]");
        common(
            &mut out,
            &mut names,
            &path,
            &r.name,
            &r.collection,
            &r.query,
            r.relative_time.as_ref(),
        );
        let needs_field = r.operation != AggregateOp::Count;
        field(&mut out, &path, r.field.as_deref(), needs_field);
        if r.save_mode == SaveMode::Timeframe && r.timeframe.is_none() {
            out.push(format!(
                "{path}.timeframe: saveMode \"timeframe\" needs hourly, daily, weekly or monthly"
            ));
        }
        if !r.arguments.is_empty() && r.operation != AggregateOp::Count {
            out.push(format!(
                "{path}.arguments: only a count counts distinct combinations"
            ));
        }
        for (j, arg) in r.arguments.iter().enumerate() {
            if let Err(e) = crate::names::check_prop_path(arg) {
                out.push(format!("{path}.arguments[{j}]: {e}"));
            }
        }
    }
    for (i, r) in a.cross_tenant_rules.iter().enumerate() {
        let path = format!("$.analytics.crossTenantRules[{i}]");
        common(
            &mut out,
            &mut names,
            &path,
            &r.name,
            &r.collection,
            &r.query,
            r.relative_time.as_ref(),
        );
        let needs_field = !matches!(r.mode, CrossTenantMode::Boolean | CrossTenantMode::Count);
        field(&mut out, &path, r.field.as_deref(), needs_field);
        if let Err(e) = crate::names::check_scope_name("masterTenantId", &r.master_tenant_id) {
            out.push(format!("{path}.masterTenantId: {e}"));
        }
        let tenants = r.slave_tenant_ids.as_ref().unwrap_or(&a.tenants);
        if tenants.is_empty() {
            out.push(format!(
                "{path}.slaveTenantIds: name the tenants, here or in analytics.tenants"
            ));
        }
        for (j, t) in r.slave_tenant_ids.iter().flatten().enumerate() {
            if let Err(e) = crate::names::check_scope_name("a tenant id", t) {
                out.push(format!("{path}.slaveTenantIds[{j}]: {e}"));
            }
        }
    }
    for (j, t) in a.tenants.iter().enumerate() {
        if let Err(e) = crate::names::check_scope_name("a tenant id", t) {
            out.push(format!("$.analytics.tenants[{j}]: {e}"));
        }
    }
    if let Some(every) = &a.schedule {
        if let Err(e) = super::schedule_interval(every) {
            out.push(format!("$.analytics.schedule: {e}"));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn common(
    out: &mut Vec<String>,
    names: &mut HashSet<String>,
    path: &str,
    name: &str,
    collection: &str,
    query: &Map<String, Value>,
    relative: Option<&RelativeTime>,
) {
    if let Err(e) = crate::names::check_name("a rule name", name) {
        out.push(format!("{path}.name: {e}"));
    } else if !names.insert(name.to_string()) {
        out.push(format!("{path}.name: '{name}' names another rule too"));
    }
    if let Err(e) = crate::names::CollectionName::parse(collection) {
        out.push(format!("{path}.collection: {e}"));
    }
    if let Err(e) = super::rules::filter_on_named_paths(query) {
        out.push(format!("{path}.query: {e}"));
    }
    if let Some(r) = relative {
        let mut durations_ok = true;
        for (key, text) in [("newerThan", &r.newer_than), ("olderThan", &r.older_than)] {
            if let Some(Err(e)) = text.as_deref().map(IsoDuration::parse) {
                durations_ok = false;
                out.push(format!("{path}.relativeTime.{key}: {e}"));
            }
        }
        // With both durations valid, what is left to check is that the window is not empty.
        if durations_ok {
            if let Err(e) = super::aggregate::window(Some(r), chrono::Utc::now()) {
                out.push(format!("{path}.relativeTime: {e}"));
            }
        }
    }
}

fn field(out: &mut Vec<String>, path: &str, field: Option<&str>, needed: bool) {
    match (field, needed) {
        (None, true) => out.push(format!(
            "{path}.field: this aggregate needs the property it aggregates"
        )),
        (Some(f), _) => {
            if let Err(e) = crate::names::check_prop_path(f) {
                out.push(format!("{path}.field: {e}"));
            }
        }
        (None, false) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_examples_pass_and_mistakes_are_named() {
        let ok = ChronosConfig::from_json_value(json!({"analytics": {
            "timeBasedRules": [
                {"name": "daily_revenue", "collection": "transactions", "query": {"status": "completed"},
                 "operation": "sum", "field": "amount", "saveMode": "timeframe", "timeframe": "daily"},
                {"name": "hourly_active_users", "collection": "events", "query": {"action": "page_view"},
                 "operation": "count", "saveMode": "timeframe", "timeframe": "hourly", "relativeTime": {"newerThan": "PT1H"}},
                {"name": "nested_or", "collection": "orders", "query": {"$or": [{"customer.tier": "gold"}, {"tags[]": "vip"}]},
                 "operation": "count", "saveMode": "global"},
                {"name": "monthly_unique_customers", "collection": "orders", "query": {"status": "completed"},
                 "operation": "count", "saveMode": "timeframe", "timeframe": "monthly", "arguments": ["customerId"]}
            ],
            "crossTenantRules": [
                {"name": "global_active_tenants", "collection": "events", "query": {"action": "user_activity"},
                 "mode": "boolean", "masterTenantId": "master-tenant", "slaveTenantIds": ["tenant-a", "tenant-b", "tenant-c"],
                 "relativeTime": {"newerThan": "P1D"}}
            ],
            "tenants": ["tenant-a", "tenant-b", "tenant-c", "master-tenant"]
        }}))
        .unwrap();
        assert!(problems(&ok).is_empty(), "{:?}", problems(&ok));

        let bad = ChronosConfig::from_json_value(json!({"analytics": {
            "timeBasedRules": [
                {"name": "r", "collection": "../x", "query": {"a": {"$near": 1}}, "operation": "sum"},
                {"name": "r", "collection": "c", "operation": "median", "field": "v", "timeframe": "daily",
                 "relativeTime": {"newerThan": "1 day", "olderThan": "P1D"}},
                {"name": "s", "collection": "c", "operation": "max", "field": "v", "saveMode": "timeframe"},
                {"name": "t", "collection": "c", "operation": "sum", "field": "v", "saveMode": "global", "arguments": ["a"]},
                {"name": "u", "collection": "c", "operation": "count", "saveMode": "global",
                 "relativeTime": {"newerThan": "P1D", "olderThan": "P7D"}}
            ],
            "crossTenantRules": [
                {"name": "x", "collection": "c", "mode": "sum", "masterTenantId": "Master"}
            ]
        }}))
        .unwrap();
        let text = problems(&bad).join("\n");
        for want in [
            "$.analytics.timeBasedRules[0].collection",
            "$.analytics.timeBasedRules[0].query: unknown operator '$near'",
            "$.analytics.timeBasedRules[0].field: this aggregate needs",
            "$.analytics.timeBasedRules[1].name: 'r' names another rule too",
            "$.analytics.timeBasedRules[1].relativeTime.newerThan: '1 day' is not an ISO 8601 duration",
            "$.analytics.timeBasedRules[2].timeframe",
            "$.analytics.timeBasedRules[3].arguments: only a count",
            "$.analytics.timeBasedRules[4].relativeTime: newerThan must reach further back",
            "$.analytics.crossTenantRules[0].field",
            "$.analytics.crossTenantRules[0].masterTenantId",
            "$.analytics.crossTenantRules[0].slaveTenantIds: name the tenants",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }
}
