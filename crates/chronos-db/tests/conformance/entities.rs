//! Entity relationships: embedded objects saved and fetched as items of their own.

use crate::harness::Backend;
use chronos_db::{Error, ListOptions, ReadOptions};
use serde_json::json;

conformance_case!(entities);
/// Entities: embedded objects saved as items keyed by their key property (created, updated,
/// unchanged), fetched back with the record; one entity per key even under concurrent
/// inserts; each tenant has its own.
async fn entities(b: &dyn Backend) {
    use chronos_db::ops::{EntityMapping, EntityOperation};
    use chronos_db::{DatabaseType, Route, Tier};
    let h = open!(b);
    let orders = h.coll("orders");
    let mappings = vec![
        EntityMapping {
            property: "customer".into(),
            collection: "customers".into(),
            key_property: "customerId".into(),
            database_type: Some(DatabaseType::Knowledge),
            tier: Some(Tier::Tenant),
        },
        EntityMapping {
            property: "product".into(),
            collection: "products".into(),
            key_property: "productId".into(),
            database_type: None,
            tier: None,
        },
    ];
    let order = |price: f64| {
        json!({"orderId": "O-1", "quantity": 2,
               "customer": {"customerId": "C-1", "name": "Ada"},
               "product": {"productId": "P-1", "name": "Widget", "price": price}})
    };
    fn ops(r: &chronos_db::ops::EntityInsert) -> Vec<(&str, chronos_db::ops::EntityOperation)> {
        r.entity_results
            .iter()
            .map(|e| (e.property.as_str(), e.operation))
            .collect()
    }
    let first = orders
        .insert_with_entities(order(9.5), &mappings, "shop", "order")
        .await
        .unwrap();
    assert_eq!(
        ops(&first),
        vec![
            ("customer", EntityOperation::Created),
            ("product", EntityOperation::Created)
        ]
    );
    let second = orders
        .insert_with_entities(order(12.0), &mappings, "shop", "order")
        .await
        .unwrap();
    assert_eq!(
        ops(&second),
        vec![
            ("customer", EntityOperation::Unchanged),
            ("product", EntityOperation::Updated)
        ]
    );
    let customers = h
        .chronos
        .with(Route::tenant(DatabaseType::Knowledge, "tenant-a", "customers").unwrap())
        .unwrap();
    let c = customers
        .get_latest("C-1", Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.data["name"], json!("Ada"));
    let got = orders
        .get_with_entities(&second.main_record.id, &mappings, Default::default())
        .await
        .unwrap();
    assert_eq!(
        got.main_record.unwrap().data["product"]["price"],
        json!(12.0)
    );
    let (prop, product) = &got.entity_records[1];
    assert_eq!(prop, "product");
    let product = product.as_ref().unwrap();
    assert_eq!(
        (product.data["price"].clone(), product.system.ov),
        (json!(12.0), 1)
    );
    assert_eq!(got.entity_records[0].1.as_ref().unwrap().id, "C-1");

    // Another tenant has its own customers.
    let other = h.tenant("tenant-b", "orders");
    let theirs = other
        .insert_with_entities(order(1.0), &mappings, "shop", "order")
        .await
        .unwrap();
    assert_eq!(ops(&theirs)[0], ("customer", EntityOperation::Created));

    // Concurrent inserts of a new key with different content: all succeed, one creates it.
    let run = |n: i64| {
        let orders = orders.clone();
        let mappings = mappings.clone();
        async move {
            let data = json!({"orderId": n, "product": {"productId": "P-new", "stock": n}});
            orders
                .insert_with_entities(data, &mappings, "shop", "race")
                .await
                .unwrap()
        }
    };
    let results = futures::future::join_all((0..12).map(run)).await;
    let created = results
        .iter()
        .filter(|r| r.entity_results[0].operation == EntityOperation::Created)
        .count();
    assert_eq!(created, 1);
    let count = || async {
        orders
            .list_by_meta(ListOptions {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .len()
    };
    assert_eq!(count().await, 14, "2 + 12 orders");

    // Refused before anything is written: an entity that is not an object after one that
    // is, and a mapping into a shared tier.
    let bad = orders
        .insert_with_entities(
            json!({"customer": {"customerId": "C-9"}, "product": "P-1"}),
            &mappings,
            "shop",
            "bad",
        )
        .await;
    assert!(matches!(bad, Err(Error::Validation(_))), "{bad:?}");
    let shared = vec![EntityMapping {
        tier: Some(Tier::Generic),
        database_type: Some(DatabaseType::Knowledge),
        ..mappings[0].clone()
    }];
    let bad = orders
        .insert_with_entities(
            json!({"customer": {"customerId": "C-9"}}),
            &shared,
            "shop",
            "bad",
        )
        .await;
    assert!(matches!(bad, Err(Error::Validation(_))), "{bad:?}");
    assert!(customers
        .get_latest("C-9", Default::default())
        .await
        .unwrap()
        .is_none());
    assert_eq!(count().await, 14);

    // The record's projection does not hide its entities.
    let projected = orders
        .get_with_entities(
            &second.main_record.id,
            &mappings,
            ReadOptions {
                projection: Some(vec!["orderId".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(projected
        .main_record
        .unwrap()
        .data
        .get("customer")
        .is_none());
    assert_eq!(
        projected.entity_records[0].1.as_ref().unwrap().data["name"],
        json!("Ada")
    );

    // An entity created some other way is found by its (indexed) key property.
    let legacy = customers
        .create(
            json!({"customerId": "C-old", "name": "Grace"}),
            "import",
            "legacy",
            Default::default(),
        )
        .await
        .unwrap();
    let found = orders
        .insert_with_entities(
            json!({"customer": {"customerId": "C-old", "name": "Grace"}}),
            &mappings,
            "shop",
            "order",
        )
        .await
        .unwrap();
    assert_eq!(
        (
            found.entity_results[0].id.as_str(),
            found.entity_results[0].operation
        ),
        (legacy.id.as_str(), EntityOperation::Unchanged)
    );

    // A deleted entity blocks the insert with a clear error until it is restored.
    customers.delete("C-1", 0, "ops", "gdpr").await.unwrap();
    let blocked = orders
        .insert_with_entities(order(12.0), &mappings, "shop", "order")
        .await;
    assert!(
        matches!(&blocked, Err(Error::Validation(m)) if m.contains("deleted")),
        "{blocked:?}"
    );
}
