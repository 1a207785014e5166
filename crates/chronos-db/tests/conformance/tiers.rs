//! Tiered fetch across the generic, domain and tenant databases.

use crate::harness::Backend;
use chronos_db::ListOptions;
use serde_json::{json, Value};

conformance_case!(tiered_fetch);
/// Tiered fetch over the knowledge databases: the most specific tier wins without `merge`
/// (tenant, else domain, else generic); with `merge` the tiers merge generic ← domain ←
/// tenant (arrays unioned, later tiers win); another tenant never sees this tenant's record.
async fn tiered_fetch(b: &dyn Backend) {
    use chronos_db::tiered::TieredOptions;
    use chronos_db::{DatabaseType, Route, Tier};
    let h = open!(b);
    let k = |route| h.chronos.with(route).expect("route");
    let generic = k(Route::generic(DatabaseType::Knowledge, "app-config").unwrap());
    let domain = k(Route::domain(DatabaseType::Knowledge, "production", "app-config").unwrap());
    let tenant = k(Route::tenant(DatabaseType::Knowledge, "tenant-a", "app-config").unwrap());
    let put = |c: &chronos_db::Collection, v: Value| {
        let c = c.clone();
        async move {
            c.create(v, "ops", "seed", Default::default())
                .await
                .unwrap()
        }
    };
    put(&generic, json!({"key": "flags", "theme": "light", "features": ["basic", "standard"], "settings": {"timeout": 30}})).await;
    put(
        &domain,
        json!({"key": "flags", "features": ["advanced"], "settings": {"maxRetries": 3}}),
    )
    .await;
    put(&tenant, json!({"key": "flags", "theme": "dark", "features": ["premium"], "settings": {"timeout": 60}})).await;
    put(&generic, json!({"key": "other", "theme": "x"})).await;
    let opts = |tenant: Option<&str>, merge: bool| TieredOptions {
        tenant_id: tenant.map(str::to_string),
        domain: Some("production".into()),
        merge,
        ..Default::default()
    };
    let fetch = |o: TieredOptions| {
        h.chronos
            .get_knowledge("app-config", json!({"key": "flags"}), o)
    };

    let first = fetch(opts(Some("tenant-a"), false)).await.unwrap();
    assert_eq!(first.tiers_found, vec![Tier::Tenant]);
    assert_eq!(first.data.as_ref().unwrap()["theme"], json!("dark"));
    // Another tenant falls back to the domain's record, never tenant-a's.
    let other = fetch(opts(Some("tenant-b"), false)).await.unwrap();
    assert_eq!(other.tiers_found, vec![Tier::Domain]);
    assert!(!serde_json::to_string(&other.to_json())
        .unwrap()
        .contains("dark"));

    let merged = fetch(opts(Some("tenant-a"), true)).await.unwrap();
    assert_eq!(
        merged.tiers_found,
        vec![Tier::Generic, Tier::Domain, Tier::Tenant]
    );
    assert_eq!(
        Value::Object(merged.data.clone().unwrap()),
        json!({"key": "flags", "theme": "dark",
               "features": ["basic", "standard", "advanced", "premium"],
               "settings": {"timeout": 60, "maxRetries": 3}})
    );
    let shape = merged.to_json();
    assert_eq!(shape["tiersFound"], json!(["generic", "domain", "tenant"]));
    assert_eq!(
        shape["tierRecords"]["domain"]["settings"],
        json!({"maxRetries": 3})
    );

    // Deleted records are not found (unless asked for); nothing found is an empty result.
    let rec = tenant
        .list_by_meta(ListOptions {
            filter: Some(json!({"key": "flags"})),
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .remove(0);
    tenant.delete(&rec.id, 0, "ops", "gone").await.unwrap();
    let after = fetch(opts(Some("tenant-a"), false)).await.unwrap();
    assert_eq!(after.tiers_found, vec![Tier::Domain]);
    let none = h
        .chronos
        .get_knowledge(
            "app-config",
            json!({"key": "missing"}),
            opts(Some("tenant-a"), true),
        )
        .await
        .unwrap();
    assert_eq!((none.data, none.tiers_found.len()), (None, 0));
    // Invalid filters are errors, not empty results.
    let bad = h
        .chronos
        .get_knowledge(
            "app-config",
            json!({"key": {"$where": "1"}}),
            opts(None, false),
        )
        .await;
    assert!(
        matches!(bad, Err(chronos_db::Error::Validation(_))),
        "{bad:?}"
    );
}
