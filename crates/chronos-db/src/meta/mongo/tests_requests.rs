//! Request ids (idempotency keys) on MongoDB without transactions: a request's row above
//! the head is an attempt still committing, and a repeat of that request waits for it
//! rather than report a refusal. Run against `CHRONOS_TEST_MONGO_URI` like `tests`.

use super::codec::fence_of;
use super::tests::{env, leftover, Env};
use crate::meta::contract::{now, put, record, spec, write};
use crate::meta::{MetadataStore, RequestState};
use mongodb::bson::{doc, Document};
use serde_json::json;

/// Request `rid`'s row for item `a` of collection `r`, written just now at ov 1 against the
/// current head (an attempt still committing); returns the version rows' collection.
async fn committing_row(e: &Env, rid: &str) -> mongodb::Collection<Document> {
    let ver = e.client.database(&e.db).collection::<Document>("r_ver");
    let heads = e.client.database(&e.db).collection::<Document>("r_head");
    let fence = fence_of(&heads.find_one(doc! {"_id": "a"}).await.unwrap().unwrap());
    let mut row = leftover("a", 1, fence, now());
    row.insert("rid", rid);
    ver.insert_one(row).await.unwrap();
    ver
}

/// A request's row above the head is not its outcome yet (`Committing`); once committed,
/// on its writer's behalf, it is (`Committed`).
#[tokio::test]
async fn a_request_row_above_the_head_is_committing() {
    let Some(e) = env("reqrow").await else { return };
    let s = &e.store;
    s.ensure_collection(&spec("r", &[])).await.unwrap();
    put(s, "r", "a", &[json!({})], 1).await;
    let ver = committing_row(&e, "req-1").await;
    assert_eq!(
        s.find_request("r", "a", "req-1").await.unwrap(),
        RequestState::Committing
    );
    assert_eq!(
        s.find_request("r", "a", "other").await.unwrap(),
        RequestState::Absent
    );
    // Stale, it is committed by the next writer that meets it.
    let old = now() - 120_000_000;
    ver.update_one(doc! {"id": "a", "ov": 1}, doc! {"$set": {"written": old}})
        .await
        .unwrap();
    let _ = s
        .commit("r", write(record("a", 1, json!({}), 10), true))
        .await;
    match s.find_request("r", "a", "req-1").await.unwrap() {
        RequestState::Committed(v) => {
            assert_eq!((v.ov, v.request_id.as_deref()), (1, Some("req-1")))
        }
        other => panic!("expected the committed row, got {other:?}"),
    }
    e.drop().await;
}

/// A keyed write refused while its own request's earlier attempt is still committing (the
/// attempt's row sits above the head, fresh) is not reported refused: its outcome is
/// unknown until that attempt finishes, so the caller is told to try again (unavailable),
/// and nothing is written. A write of another request meets the same row as a plain
/// conflict. Once the attempt's writer is gone (the row is stale), the repeat commits the
/// row on its behalf and answers with that attempt's version: the request is applied once.
#[tokio::test(flavor = "multi_thread")]
async fn a_repeat_waits_for_its_attempt_still_committing() {
    let Some(e) = env("repeat").await else { return };
    let uri = std::env::var("CHRONOS_TEST_MONGO_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let dir = tempfile::tempdir().unwrap();
    let entry = json!({"dbConnRef": "m", "spaceConnRef": "s", "bucket": "objects",
                       "dbName": &e.db, "prefix": "p"});
    let cfg = crate::config::ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"mongoUri": uri, "timeoutMs": 5000}},
        "spacesConnections": {"s": {"provider": "local", "basePath": dir.path().join("objects")}},
        "databases": {"knowledge": {"genericDatabase": entry}},
    }))
    .unwrap();
    let chronos = crate::Chronos::open(cfg).await.unwrap();
    let c = chronos
        .with(crate::Route::generic(crate::DatabaseType::Knowledge, "r").unwrap())
        .unwrap();
    let created = c
        .create(
            json!({"n": 0}),
            "tester",
            "first",
            crate::CreateOptions {
                id: Some("a".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(created.ov, 0);

    // The earlier attempt of request "req-1": its row at ov 1, written just now.
    let s = &e.store;
    let ver = committing_row(&e, "req-1").await;

    let keyed = c.with_request_id("req-1").unwrap();
    let refused = keyed
        .update("a", json!({"n": 1}), 0, "tester", "retry")
        .await
        .expect_err("the attempt is still committing");
    assert!(refused.is_unavailable(), "{refused:?}");
    assert!(
        refused.to_string().contains("has not finished committing"),
        "{refused}"
    );
    let other = c
        .with_request_id("req-2")
        .unwrap()
        .update("a", json!({"n": 2}), 0, "tester", "another")
        .await
        .expect_err("the slot is taken");
    assert_eq!(other.code(), "CONFLICT", "{other:?}");
    assert_eq!(s.get_head("r", "a").await.unwrap().unwrap().version.ov, 0);
    assert_eq!(
        ver.count_documents(doc! {"id": "a"}).await.unwrap(),
        2,
        "neither refused write left a row"
    );

    // The attempt's writer is gone: the repeat commits its row and answers with it.
    let old = now() - 120_000_000;
    ver.update_one(doc! {"id": "a", "ov": 1}, doc! {"$set": {"written": old}})
        .await
        .unwrap();
    let done = keyed
        .update("a", json!({"n": 1}), 0, "tester", "retry")
        .await
        .unwrap();
    assert_eq!((done.id.as_str(), done.ov, done.cv), ("a", 1, 7_001));
    let again = keyed
        .update("a", json!({"n": 1}), 0, "tester", "retry")
        .await
        .unwrap();
    assert_eq!(again, done);
    assert_eq!(s.get_head("r", "a").await.unwrap().unwrap().version.ov, 1);
    match s.find_request("r", "a", "req-1").await.unwrap() {
        RequestState::Committed(v) => assert_eq!(v.ov, 1),
        other => panic!("expected the committed row, got {other:?}"),
    }
    assert_eq!(ver.count_documents(doc! {"id": "a"}).await.unwrap(), 2);
    e.drop().await;
}
