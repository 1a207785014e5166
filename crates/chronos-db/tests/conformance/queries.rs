//! Queries on indexed properties: operators, sort and pages, errors, as-of.

use crate::harness::{Backend, Harness};
use crate::support::*;
use chronos_db::config::CollectionMap;
use chronos_db::{CreateOptions, Error, ListOptions, Timestamp};
use serde_json::{json, Value};

fn people() -> [Value; 5] {
    [
        json!({"name": "ann", "age": 31, "city": {"name": "Paris"}, "tags": ["a", "b"], "vip": true}),
        json!({"name": "bob", "age": 25, "city": {"name": "Berlin"}, "tags": ["b"], "vip": false}),
        json!({"name": "cyd", "age": 40, "city": {"name": "paris"}, "tags": [], "score": 1.5}),
        json!({"name": "dan", "age": "unknown", "tags": ["c"]}),
        json!({"name": "eve", "age": null, "city": {"name": "Rome"}}),
    ]
}

/// The names of `people()` a filter matches in memory (`Filter::matches`, what counter rules
/// use), at ov 0.
fn matched_in_memory(filter: &Value) -> Vec<String> {
    let spec = chronos_db::query::IndexSpec {
        paths: PEOPLE_PATHS
            .iter()
            .map(|p| chronos_db::query::IndexedPath::parse(p))
            .collect(),
        excluded: vec![],
    };
    let f = chronos_db::query::Filter::parse(filter, &spec).unwrap();
    people()
        .iter()
        .filter(|d| {
            let id = d["name"].as_str().unwrap();
            let sys = chronos_db::query::SystemValues {
                id,
                ov: 0,
                ..Default::default()
            };
            f.matches(d, &sys)
        })
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

const PEOPLE_PATHS: [&str; 6] = ["name", "age", "city.name", "tags[]", "vip", "score"];

async fn seed_people(h: &Harness) -> chronos_db::Collection {
    let c = h.coll("people");
    for p in people() {
        let id = p["name"].as_str().unwrap().to_string();
        c.create(
            p,
            "a",
            "r",
            CreateOptions {
                id: Some(id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    c
}

fn people_map() -> CollectionMap {
    map(&PEOPLE_PATHS)
}

async fn names(c: &chronos_db::Collection, filter: Value) -> Vec<String> {
    let page = c
        .list_by_meta(ListOptions {
            filter: Some(filter.clone()),
            sort: Some(json!({"name": 1})),
            limit: Some(100),
            ..Default::default()
        })
        .await;
    let page = page.unwrap_or_else(|e| panic!("{filter}: {e}"));
    page.items.iter().map(|i| i.id.clone()).collect()
}

conformance_case!(query_operators);
async fn query_operators(b: &dyn Backend) {
    let h = open!(b, with_map("people", people_map()));
    let c = seed_people(&h).await;
    let cases = [
        (json!({}), vec!["ann", "bob", "cyd", "dan", "eve"]),
        (json!({"name": "bob"}), vec!["bob"]),
        (json!({"name": {"$eq": "bob"}}), vec!["bob"]),
        (
            json!({"name": {"$ne": "bob"}}),
            vec!["ann", "cyd", "dan", "eve"],
        ),
        (json!({"age": {"$gt": 30}}), vec!["ann", "cyd"]),
        (json!({"age": {"$gte": 31}}), vec!["ann", "cyd"]),
        (json!({"age": {"$lt": 31}}), vec!["bob"]),
        (json!({"age": {"$lte": 31}}), vec!["ann", "bob"]),
        (json!({"age": {"$gt": 20, "$lt": 35}}), vec!["ann", "bob"]),
        (json!({"age": {"$gt": "a"}}), vec!["dan"]),
        (json!({"age": null}), vec!["eve"]),
        (json!({"score": null}), vec!["ann", "bob", "dan", "eve"]),
        // Negations match items without the field, as in MongoDB.
        (
            json!({"score": {"$ne": 1.5}}),
            vec!["ann", "bob", "dan", "eve"],
        ),
        (
            json!({"city.name": {"$nin": ["Paris"]}}),
            vec!["bob", "cyd", "dan", "eve"],
        ),
        (
            json!({"score": {"$not": {"$gt": 1}}}),
            vec!["ann", "bob", "dan", "eve"],
        ),
        (
            json!({"name": {"$in": ["ann", "eve", "zed"]}}),
            vec!["ann", "eve"],
        ),
        (
            json!({"name": {"$nin": ["ann", "eve"]}}),
            vec!["bob", "cyd", "dan"],
        ),
        (json!({"score": {"$exists": true}}), vec!["cyd"]),
        (json!({"city.name": {"$exists": false}}), vec!["dan"]),
        (json!({"city.name": "Paris"}), vec!["ann"]),
        (
            json!({"city.name": {"$regex": "^par", "$options": "i"}}),
            vec!["ann", "cyd"],
        ),
        (json!({"name": {"$regex": "^[ab]"}}), vec!["ann", "bob"]),
        (
            json!({"name": {"$not": {"$regex": "^[ab]"}}}),
            vec!["cyd", "dan", "eve"],
        ),
        (
            json!({"age": {"$not": {"$gt": 30}}}),
            vec!["bob", "dan", "eve"],
        ),
        (json!({"tags": "b"}), vec!["ann", "bob"]),
        (json!({"tags": {"$in": ["a", "c"]}}), vec!["ann", "dan"]),
        (json!({"tags": {"$ne": "b"}}), vec!["cyd", "dan", "eve"]),
        (json!({"vip": true}), vec!["ann"]),
        (json!({"vip": false}), vec!["bob"]),
        (json!({"score": 1.5}), vec!["cyd"]),
        (
            json!({"$or": [{"name": "ann"}, {"age": {"$lt": 30}}]}),
            vec!["ann", "bob"],
        ),
        (
            json!({"$and": [{"tags": "b"}, {"age": {"$gt": 30}}]}),
            vec!["ann"],
        ),
        (json!({"_id": "cyd"}), vec!["cyd"]),
        (
            json!({"_system.ov": 0}),
            vec!["ann", "bob", "cyd", "dan", "eve"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(names(&c, filter.clone()).await, expected, "{filter}");
        // The in-memory matcher (counter rules) agrees with the store.
        assert_eq!(matched_in_memory(&filter), expected, "in memory: {filter}");
    }
    // Latest state only: an update moves an item out of a filter's result.
    c.update("bob", json!({"name": "bob", "age": 50}), 0, "a", "r")
        .await
        .unwrap();
    assert_eq!(
        names(&c, json!({"age": {"$gt": 30}})).await,
        vec!["ann", "bob", "cyd"]
    );
    assert_eq!(names(&c, json!({"_system.ov": 1})).await, vec!["bob"]);
}

conformance_case!(query_sort_and_pages);
async fn query_sort_and_pages(b: &dyn Backend) {
    let h = open!(b, with_map("nums", map(&["n", "group"])));
    let c = h.coll("nums");
    for i in 0..23 {
        let n = if i % 5 == 0 {
            json!(null)
        } else {
            json!(i % 7)
        };
        c.create(
            json!({"n": n, "group": if i % 2 == 0 { "even" } else { "odd" }}),
            "a",
            "r",
            CreateOptions {
                id: Some(format!("i{i:02}")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    for (sort, desc) in [(json!({"n": 1}), false), (json!({"n": -1}), true)] {
        // Page through with a small limit; the concatenation equals one big sorted read.
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = c
                .list_by_meta(ListOptions {
                    sort: Some(sort.clone()),
                    limit: Some(4),
                    after: after.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 4);
            paged.extend(
                page.items
                    .iter()
                    .map(|i| (i.data["n"].clone(), i.id.clone())),
            );
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(paged.len(), 23, "{sort}: every item exactly once");
        let full = c
            .list_by_meta(ListOptions {
                sort: Some(sort.clone()),
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        let full: Vec<_> = full
            .items
            .iter()
            .map(|i| (i.data["n"].clone(), i.id.clone()))
            .collect();
        assert_eq!(paged, full, "{sort}");
        let keys: Vec<(Option<i64>, String)> = full
            .iter()
            .map(|(n, id)| (n.as_i64(), id.clone()))
            .collect();
        let mut expected = keys.clone();
        expected.sort();
        if desc {
            expected.reverse();
        }
        assert_eq!(
            keys, expected,
            "{sort}: nulls first ascending, last descending; ties by id"
        );
    }
    // Filter + sort + pages.
    let page = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"group": "even"})),
            sort: Some(json!({"n": -1, "group": 1})),
            limit: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(page.items.iter().all(|i| i.data["group"] == json!("even")));
    let rest = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"group": "even"})),
            sort: Some(json!({"n": -1, "group": 1})),
            limit: Some(100),
            after: page.next,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 12 - 5);
    assert!(rest.next.is_none());
    // Default sort is by id; default limit 50.
    let ids: Vec<String> = c
        .list_by_meta(ListOptions::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.id)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

conformance_case!(query_errors);
async fn query_errors(b: &dyn Backend) {
    let h = open!(b, with_map("people", people_map()));
    let c = seed_people(&h).await;
    let bad_filters = [
        json!({"email": "x"}),
        json!({"age": {"$where": "1"}}),
        json!({"$nor": [{"age": 1}]}),
        json!({"age": {"$in": 5}}),
        json!({"age": {"$exists": "yes"}}),
        json!({"name": {"$regex": "(unclosed"}}),
        json!({"city": {"name": "Paris"}}),
        json!({"age": {"$gt": [1]}}),
        json!("not an object"),
    ];
    for f in bad_filters {
        let e = c
            .list_by_meta(ListOptions {
                filter: Some(f.clone()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{f}: {e}");
    }
    for (sort, limit, after) in [
        (Some(json!({"email": 1})), None, None),
        (Some(json!({"age": 0})), None, None),
        (Some(json!({"tags": 1})), None, None),
        (None, Some(0), None),
        (None, Some(1001), None),
        (None, None, Some("garbage".to_string())),
    ] {
        let e = c
            .list_by_meta(ListOptions {
                sort,
                limit,
                after,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{e}");
    }
    // A cursor from a differently sorted query is refused.
    let p = c
        .list_by_meta(ListOptions {
            sort: Some(json!({"age": 1})),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let e = c
        .list_by_meta(ListOptions {
            after: p.next,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
}

conformance_case!(query_as_of);
async fn query_as_of(b: &dyn Backend) {
    let h = open!(b, with_map("people", people_map()));
    let c = seed_people(&h).await;
    tick().await;
    let t = Timestamp::now();
    let cv_mark = c
        .get_latest("eve", Default::default())
        .await
        .unwrap()
        .unwrap()
        .system
        .cv;
    tick().await;
    c.update("ann", json!({"name": "ann", "age": 10}), 0, "a", "r")
        .await
        .unwrap();
    c.delete("bob", 0, "a", "r").await.unwrap();
    c.create(
        json!({"name": "fay", "age": 33}),
        "a",
        "r",
        CreateOptions {
            id: Some("fay".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let now: Vec<String> = names(&c, json!({"age": {"$gt": 20}})).await;
    assert_eq!(now, vec!["cyd", "fay"]);
    for opts in [
        ListOptions {
            as_of_time: Some(t),
            ..Default::default()
        },
        ListOptions {
            as_of_cv: Some(cv_mark),
            ..Default::default()
        },
    ] {
        let page = c
            .list_by_meta(ListOptions {
                filter: Some(json!({"age": {"$gt": 20}})),
                sort: Some(json!({"name": 1})),
                ..opts
            })
            .await
            .unwrap();
        let got: Vec<String> = page.items.iter().map(|i| i.id.clone()).collect();
        assert_eq!(got, vec!["ann", "bob", "cyd"], "state as of the mark");
        assert_eq!(
            page.items[0].data["age"],
            json!(31),
            "with the content of that time"
        );
    }
    let e = c
        .list_by_meta(ListOptions {
            as_of_time: Some(t),
            as_of_cv: Some(1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)));
}

conformance_case!(query_range_sorted_by_the_same_property);
/// A range on the property the page is sorted by (served by seeking into the sort index on
/// SQLite) keeps exactly the filter's matches, in order, across pages, whatever the types
/// of other items' values. (An array held by a property not declared as an array path is
/// left out: MongoDB matches its elements, SQLite compares it whole.)
async fn query_range_sorted_by_the_same_property(b: &dyn Backend) {
    let h = open!(b, with_map("mixed", map(&["v"])));
    let c = h.coll("mixed");
    let values = [
        json!(5),
        json!(30),
        json!(2.5),
        json!(30.5),
        json!(-1),
        json!("25"),
        json!("b"),
        json!("a"),
        json!("zz"),
        json!(null),
        json!(true),
        json!({"x": 1}),
        json!(31),
    ];
    for (i, v) in values.iter().enumerate() {
        c.create(json!({"v": v}), "a", "r", with_id(&format!("i{i:02}")))
            .await
            .unwrap();
    }
    c.create(json!({"other": 1}), "a", "r", with_id("missing"))
        .await
        .unwrap();
    let walk = |filter: Value, sort: Value| {
        let c = c.clone();
        async move {
            let mut out = Vec::new();
            let mut after = None;
            loop {
                let page = c
                    .list_by_meta(ListOptions {
                        filter: Some(filter.clone()),
                        sort: Some(sort.clone()),
                        limit: Some(2),
                        after,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                out.extend(page.items.iter().map(|i| i.data["v"].clone()));
                match page.next {
                    Some(n) => after = Some(n),
                    None => return out,
                }
            }
        }
    };
    assert_eq!(
        walk(json!({"v": {"$gte": 5}}), json!({"v": 1})).await,
        [json!(5), json!(30), json!(30.5), json!(31)]
    );
    assert_eq!(
        walk(json!({"v": {"$gt": 2.5, "$lt": 31}}), json!({"v": -1})).await,
        [json!(30.5), json!(30), json!(5)]
    );
    assert_eq!(
        walk(json!({"v": {"$lte": "b"}}), json!({"v": 1})).await,
        [json!("25"), json!("a"), json!("b")]
    );
    assert_eq!(walk(json!({"v": 30}), json!({"v": 1})).await, [json!(30)]);
    assert_eq!(
        walk(json!({"v": {"$gte": 0, "$ne": 5}}), json!({"v": -1})).await,
        [json!(31), json!(30.5), json!(30), json!(2.5)]
    );
}
