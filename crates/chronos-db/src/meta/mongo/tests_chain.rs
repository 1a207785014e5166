//! The chain check (`chain.rs`) against a real server: a late row in a freed slot is
//! neither served as a version nor waited for, and a row rolled forward on its writer's
//! behalf counts as committed even when its `committed` mark was lost.

use super::tests::env;
use super::*;
use crate::meta::contract::{now, record, spec, write};
use serde_json::json;

/// Versioning off frees the slots below the head; a writer that read the head long ago
/// inserts its row into one of them. Before rows carried their fence, a reader closed that
/// row with the row above it and the feed served it as a version.
#[tokio::test]
async fn a_late_row_in_a_freed_slot_is_not_a_version() {
    let Some(e) = env("chain_late").await else {
        return;
    };
    let s = &e.store;
    s.ensure_collection(&spec("k", &[])).await.unwrap();
    let c = s.colls("k");
    let t0 = now();
    let first = s
        .commit("k", write(record("a", 0, json!({"n": 0}), t0), false))
        .await
        .unwrap();
    let head_then = s.raw_head(&c, "a").await.unwrap();
    let long_ago = HeadState::of(head_then.as_ref());
    let long_ago_row = head_then.as_ref().and_then(|h| h.get("row")).cloned();
    for ov in 1..=2 {
        s.commit(
            "k",
            write(record("a", ov, json!({"n": ov}), t0 + ov as i64), false),
        )
        .await
        .unwrap();
    }
    let rows_of_a = || c.ver.count_documents(doc! {"id": "a"});
    assert_eq!(
        rows_of_a().await.unwrap(),
        1,
        "versioning off keeps one row"
    );

    let late_cv = s.next_cv("k", &c).await.unwrap();
    let mut late_record = record("a", 1, json!({"late": true}), t0 + 3);
    late_record.request_id = Some("late-request".into());
    let (_, late) = new_row(
        &late_record,
        late_cv,
        None,
        &long_ago,
        long_ago_row.as_ref(),
    )
    .unwrap();
    c.ver.insert_one(&late).await.unwrap();
    // It is no version of a: not read by its ov, not in the history.
    assert!(s.get_version("k", "a", 1).await.unwrap().is_none());
    let history = s.history("k", "a", None, 10).await.unwrap();
    assert_eq!(history.iter().map(|v| v.ov).collect::<Vec<_>>(), [2]);
    // Its request never committed: a replay may apply it (once).
    assert!(matches!(
        s.find_request("k", "a", "late-request").await.unwrap(),
        crate::meta::RequestState::Absent
    ));
    let above = s
        .commit("k", write(record("b", 0, json!({}), t0 + 4), false))
        .await
        .unwrap();

    let page = s.visible_page("k", first.cv, 100).await.unwrap();
    let served: Vec<(String, u64)> = page
        .versions
        .iter()
        .map(|v| (v.version.id.clone(), v.version.ov))
        .collect();
    assert_eq!(
        served,
        [("a".to_string(), 2), ("b".to_string(), 0)],
        "the late row is no version of a"
    );
    assert_eq!(page.settled, above.cv, "the feed does not wait for it");
    assert_eq!(rows_of_a().await.unwrap(), 1, "the late row is removed");
    let slot = c
        .counter
        .find_one(doc! {"_id": cv_key(late_cv)})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        slot.get_bool("gone").ok(),
        Some(true),
        "and its cv given up"
    );
    assert_eq!(
        s.visible_page("k", first.cv, 100).await.unwrap().settled,
        above.cv,
        "the watermark stays where it was"
    );

    // A create's row in the freed slot 0 is not judged: after a purge a create can commit
    // there again, so it is hidden but left to its writer.
    let create_cv = s.next_cv("k", &c).await.unwrap();
    let (create_id, create) = new_row(
        &record("a", 0, json!({"again": true}), t0 + 5),
        create_cv,
        None,
        &HeadState::Absent,
        None,
    )
    .unwrap();
    c.ver.insert_one(&create).await.unwrap();
    let head = s.raw_head(&c, "a").await.unwrap();
    assert_eq!(
        s.chain_of(&c, &create, head.as_ref()).await.unwrap(),
        Chain::NotCommitted { dead: false }
    );
    let page = s.visible_page("k", above.cv, 100).await.unwrap();
    assert!(page.versions.is_empty(), "not served");
    assert_eq!(rows_of_a().await.unwrap(), 2, "not removed");
    c.ver.delete_one(doc! {"_id": create_id}).await.unwrap();
    s.give_up_cv(&c, create_cv).await;
    // The item reads and writes on as before.
    let head = s.get_head("k", "a").await.unwrap().unwrap();
    assert_eq!(head.version.ov, 2);
    s.commit("k", write(record("a", 3, json!({"n": 3}), t0 + 6), false))
        .await
        .unwrap();
    e.drop().await;
}

/// A stalled row rolled forward by someone else, whose `committed` mark was then lost,
/// with a later version written on it: the chain still shows it committed, which is what
/// its writer checks before it would remove the row.
#[tokio::test]
async fn a_rolled_forward_row_stays_committed_without_its_mark() {
    let Some(e) = env("chain_mark").await else {
        return;
    };
    let s = &e.store;
    s.ensure_collection(&spec("k", &[])).await.unwrap();
    let c = s.colls("k");
    let t0 = now();
    s.commit("k", write(record("a", 0, json!({}), t0), true))
        .await
        .unwrap();
    let head_zero = s.raw_head(&c, "a").await.unwrap();
    let at_zero = HeadState::of(head_zero.as_ref());
    let cv = s.next_cv("k", &c).await.unwrap();
    let (row_id, stalled) = new_row(
        &record("a", 1, json!({"n": 1}), t0 + 1),
        cv,
        None,
        &at_zero,
        head_zero.as_ref().and_then(|h| h.get("row")),
    )
    .unwrap();
    s.insert_row(&c, "a", &stalled, &at_zero).await.unwrap();
    let head = s.raw_head(&c, "a").await.unwrap();
    assert_eq!(
        s.chain_of(&c, &stalled, head.as_ref()).await.unwrap(),
        Chain::Unknown,
        "above the head: not judged here"
    );
    assert!(s.roll_forward(&c, "a", &stalled, &at_zero).await.unwrap());
    let head = s.raw_head(&c, "a").await.unwrap();
    assert_eq!(
        s.chain_of(&c, &stalled, head.as_ref()).await.unwrap(),
        Chain::Committed,
        "the head points at it"
    );
    c.ver
        .update_one(doc! {"_id": row_id}, doc! {"$set": {"committed": false}})
        .await
        .unwrap();
    s.commit("k", write(record("a", 2, json!({"n": 2}), t0 + 2), true))
        .await
        .unwrap();
    let head = s.raw_head(&c, "a").await.unwrap();
    assert_eq!(
        s.chain_of(&c, &stalled, head.as_ref()).await.unwrap(),
        Chain::Committed,
        "the version above was written on it"
    );
    // The same for a create's row (no base): rolled forward, mark lost, written on.
    let cv = s.next_cv("k", &c).await.unwrap();
    let (created_id, created) = new_row(
        &record("b", 0, json!({}), t0 + 3),
        cv,
        None,
        &HeadState::Absent,
        None,
    )
    .unwrap();
    s.insert_row(&c, "b", &created, &HeadState::Absent)
        .await
        .unwrap();
    assert!(s
        .roll_forward(&c, "b", &created, &HeadState::Absent)
        .await
        .unwrap());
    c.ver
        .update_one(
            doc! {"_id": created_id},
            doc! {"$set": {"committed": false}},
        )
        .await
        .unwrap();
    s.commit("k", write(record("b", 1, json!({}), t0 + 4), true))
        .await
        .unwrap();
    let head = s.raw_head(&c, "b").await.unwrap();
    assert_eq!(
        s.chain_of(&c, &created, head.as_ref()).await.unwrap(),
        Chain::Committed
    );
    let history = s.history("k", "a", None, 10).await.unwrap();
    let ovs: Vec<u64> = history.iter().map(|v| v.ov).collect();
    assert_eq!(ovs, [2, 1, 0], "every committed version is kept");
    e.drop().await;
}
