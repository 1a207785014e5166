//! The JSON read path (`read_json`, `list_by_meta_json`): the same items, byte for byte, as
//! the typed path encoded, whether the content comes inline or from object storage.

use crate::harness::{Backend, Harness};
use crate::support::*;
use chronos_db::config::DevShadow;
use chronos_db::ops::ReadAt;
use chronos_db::{Collection, Error, ListOptions, ReadOptions};
use serde_json::{json, Value};

/// Documents that stress the text: exact numbers, escapes, unicode, nesting, empty shapes,
/// and one large enough to live only in object storage (the shadow limit is 200 bytes here).
fn documents() -> Vec<Value> {
    let numbers: Value = serde_json::from_str(
        r#"{"kind": "n", "big": 18446744073709551616, "neg": -9223372036854775809, "dec": 1.50, "tiny": 0.1000000000000000000001, "e": 1e30}"#,
    )
    .unwrap();
    vec![
        json!({"kind": "plain", "n": 1}),
        json!({"kind": "text", "s": "quote \" backslash \\ tab \t nl \n \u{0001} é 😀 </script>"}),
        json!({"kind": "nested", "a": {"b": [1, {"c": [[]]}, {}], "d": null}, "t": true}),
        json!({"kind": "empty-members", "o": {}, "l": []}),
        numbers,
        json!({"kind": "large", "bio": "x".repeat(400), "n": 2}),
    ]
}

async fn typed_text(c: &Collection, id: &str, at: ReadAt, opts: ReadOptions) -> String {
    let item = c.read(id, at, opts).await.unwrap();
    serde_json::to_string(&item.to_document()).unwrap()
}

async fn seed(h: &Harness) -> (Collection, Vec<String>) {
    let c = h.coll("docs");
    let mut ids = Vec::new();
    for d in documents() {
        ids.push(c.create(d, "a", "r", Default::default()).await.unwrap().id);
    }
    (c, ids)
}

fn small_shadows(name: &'static str) -> impl FnOnce(&mut chronos_db::config::ChronosConfig) {
    shadows_for(name, 24)
}

/// Inline copies up to 200 bytes, fresh for `ttl_hours` (0: copies committed before a read
/// began are stale, so their content comes from objects).
fn shadows_for(
    name: &'static str,
    ttl_hours: u32,
) -> impl FnOnce(&mut chronos_db::config::ChronosConfig) {
    move |cfg| {
        with_map(name, map(&["kind", "n"]))(cfg);
        cfg.dev_shadow = DevShadow {
            enabled: true,
            ttl_hours,
            max_bytes_per_doc: 200,
        };
    }
}

conformance_case!(json_reads_match_typed_reads);
async fn json_reads_match_typed_reads(b: &dyn Backend) {
    let h = open!(b, small_shadows("docs"));
    let (c, ids) = seed(&h).await;
    for id in &ids {
        let typed = typed_text(&c, id, ReadAt::Latest, ReadOptions::default()).await;
        let json = c
            .read_json(id, ReadAt::Latest, ReadOptions::default())
            .await
            .unwrap();
        assert_eq!(json.get(), typed, "item {id}");
        assert!(typed.starts_with(&format!("{{\"_id\":\"{id}\"")), "{typed}");
    }
    // The exact digits of the stored document survive the JSON path.
    let numbers = c
        .read_json(&ids[4], ReadAt::Latest, ReadOptions::default())
        .await
        .unwrap();
    assert!(
        numbers.get().contains(r#""big":18446744073709551616"#),
        "{numbers}"
    );
    assert!(numbers.get().contains(r#""dec":1.50"#), "{numbers}");

    // A projection and older versions take the same options on both paths.
    c.update(
        &ids[0],
        json!({"kind": "plain", "n": 5, "extra": [1]}),
        0,
        "a",
        "r",
    )
    .await
    .unwrap();
    let only_n = ReadOptions {
        projection: Some(vec!["n".into()]),
        ..Default::default()
    };
    for (at, opts) in [
        (ReadAt::Ov(0), ReadOptions::default()),
        (ReadAt::Latest, only_n.clone()),
        (ReadAt::Ov(1), only_n),
    ] {
        let typed = typed_text(&c, &ids[0], at, opts.clone()).await;
        let json = c.read_json(&ids[0], at, opts).await.unwrap();
        assert_eq!(json.get(), typed, "{at:?}");
    }

    // Deleted and missing items fail the same way on both paths.
    c.delete(&ids[1], 0, "a", "r").await.unwrap();
    let e = c
        .read_json(&ids[1], ReadAt::Latest, ReadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotFound(m) if m.contains("is deleted")),
        "{e}"
    );
    let with_deleted = ReadOptions {
        include_deleted: true,
        ..Default::default()
    };
    let typed = typed_text(&c, &ids[1], ReadAt::Latest, with_deleted.clone()).await;
    let json = c
        .read_json(&ids[1], ReadAt::Latest, with_deleted)
        .await
        .unwrap();
    assert_eq!(json.get(), typed);
    assert!(matches!(
        c.read_json("nope", ReadAt::Latest, ReadOptions::default())
            .await
            .unwrap_err(),
        Error::NotFound(_)
    ));
    assert!(matches!(
        c.read_json("../x", ReadAt::Latest, ReadOptions::default())
            .await
            .unwrap_err(),
        Error::Validation(_)
    ));
}

conformance_case!(json_pages_match_typed_pages);
async fn json_pages_match_typed_pages(b: &dyn Backend) {
    let h = open!(b, small_shadows("docs"));
    pages_match(&h).await;
}

conformance_case!(json_pages_of_stale_inline_copies_come_from_objects);
async fn json_pages_of_stale_inline_copies_come_from_objects(b: &dyn Backend) {
    let h = open!(b, shadows_for("docs", 0));
    pages_match(&h).await;
}

conformance_case!(json_pages_read_objects_only_for_content_not_fresh_inline);
async fn json_pages_read_objects_only_for_content_not_fresh_inline(b: &dyn Backend) {
    // Object reads made by one list_by_meta_json call over the items written first.
    async fn object_reads(h: &Harness) -> usize {
        let (c, _ids) = seed(h).await;
        tick().await;
        let reads = || {
            h.payload_fault
                .reads
                .load(std::sync::atomic::Ordering::SeqCst)
        };
        let before = reads();
        let page = c.list_by_meta_json(ListOptions::default()).await.unwrap();
        assert_eq!(page.items.len(), documents().len());
        reads() - before
    }
    // Fresh inline copies: only the document too large to be inline is read.
    let fresh = open!(b, small_shadows("docs"));
    assert_eq!(object_reads(&fresh).await, 1);
    // Stale copies are never used: every document comes from its object.
    let stale = open!(b, shadows_for("docs", 0));
    assert_eq!(object_reads(&stale).await, documents().len());
    // Nor are inline copies with encryption on (they would outlive a shred).
    let encrypted = open!(b, |cfg: &mut chronos_db::config::ChronosConfig| {
        small_shadows("docs")(cfg);
        crate::encryption::encrypted(cfg);
    });
    assert_eq!(object_reads(&encrypted).await, documents().len());
}

/// Every page of several queries, the JSON form against the typed form encoded.
async fn pages_match(h: &Harness) {
    let (c, _ids) = seed(h).await;
    let mark = chronos_db::Timestamp::now();
    tick().await;
    let first = c.list_by_meta(ListOptions::default()).await.unwrap().items[0].clone();
    c.update(&first.id, json!({"kind": "changed"}), 0, "a", "r")
        .await
        .unwrap();
    let queries = [
        ListOptions::default(),
        ListOptions {
            filter: Some(json!({"kind": {"$in": ["plain", "large", "nested", "changed"]}})),
            sort: Some(json!({"kind": -1})),
            limit: Some(2),
            ..Default::default()
        },
        ListOptions {
            projection: Some(vec!["kind".into()]),
            ..Default::default()
        },
        ListOptions {
            as_of_time: Some(mark),
            ..Default::default()
        },
    ];
    for q in queries {
        // Walk every page of both forms side by side.
        let (mut typed_after, mut json_after) = (None::<String>, None::<String>);
        let mut pages = 0;
        loop {
            let typed = c
                .list_by_meta(ListOptions {
                    after: typed_after.clone(),
                    ..q.clone()
                })
                .await
                .unwrap();
            let json = c
                .list_by_meta_json(ListOptions {
                    after: json_after.clone(),
                    ..q.clone()
                })
                .await
                .unwrap();
            let typed_texts: Vec<String> = typed
                .items
                .iter()
                .map(|i| serde_json::to_string(&i.to_document()).unwrap())
                .collect();
            let json_texts: Vec<&str> = json.items.iter().map(|r| r.get()).collect();
            assert_eq!(json_texts, typed_texts, "{q:?}");
            assert_eq!(json.next, typed.next);
            pages += 1;
            if typed.next.is_none() {
                break;
            }
            (typed_after, json_after) = (typed.next, json.next);
        }
        assert!(pages >= 1);
    }
    // The page serializes as {"items": [...], "next": ...}.
    let page = c.list_by_meta_json(ListOptions::default()).await.unwrap();
    let v: Value = serde_json::to_value(&page).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), documents().len());
    assert!(v["next"].is_null());
}
