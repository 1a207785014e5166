//! Request ids (idempotency keys) and the fallback queue: every write applied exactly once,
//! the writes of an item in order, dead letters, on every backend. Outages are injected by
//! the harness's fault layer (a store call that does not answer); the outage tests on
//! stopped servers are in `tests/outages.rs`.

use crate::harness::{Backend, Harness};
use chronos_db::config::{ChronosConfig, Fallback};
use chronos_db::{Chronos, Collection, EnrichOptions, Error, ReadOptions, RestoreTarget};
use serde_json::{json, Value};
use std::time::Duration;

/// The queue on, with `max_retries` replays `delay_ms` apart.
fn queue_on(max_retries: u32, delay_ms: u64) -> impl FnOnce(&mut ChronosConfig) {
    move |c| {
        c.fallback = Some(Fallback {
            enabled: true,
            max_retries: Some(max_retries),
            retry_delay_ms: Some(delay_ms),
            max_delay_ms: Some(delay_ms),
            ..Default::default()
        })
    }
}

/// The contents of an item's versions, oldest first.
async fn contents(c: &Collection, id: &str) -> Vec<Value> {
    let mut versions = c.history(id, Default::default()).await.unwrap().versions;
    versions.reverse();
    let mut out = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        assert_eq!(v.ov, i as u64, "ov are contiguous");
        let every = ReadOptions {
            include_deleted: true,
            ..Default::default()
        };
        let item = c.get_version(id, v.ov, every).await.unwrap().unwrap();
        out.push(Value::Object(item.data));
    }
    out
}

fn queued(e: Error) -> chronos_db::model::QueuedWrite {
    match e {
        Error::Queued(q) => q,
        other => panic!("expected the write to be queued, got {other}"),
    }
}

conformance_case!(request_ids_apply_a_write_once);
/// Each item write repeated with its request id returns the first outcome and writes
/// nothing more; a request that failed runs again; bad ids are refused.
async fn request_ids_apply_a_write_once(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("keyed");
    let keyed = |k: &str| c.with_request_id(k).unwrap();

    let first = keyed("create-1")
        .create(json!({"n": 1}), "a", "r", Default::default())
        .await
        .unwrap();
    let again = keyed("create-1")
        .create(json!({"n": 1}), "a", "r", Default::default())
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        first.id.len(),
        24,
        "a create without an id gets one from the key"
    );
    let id = first.id.clone();

    let up = keyed("update-1")
        .update(&id, json!({"n": 2}), 0, "a", "r")
        .await
        .unwrap();
    // The same request again: its expected ov is stale now, yet it is the same write.
    let up_again = keyed("update-1")
        .update(&id, json!({"n": 2}), 0, "a", "r")
        .await
        .unwrap();
    assert_eq!((up.ov, up_again), (1, up.clone()));

    let enrich = |k: &str| {
        let c = keyed(k);
        let id = id.clone();
        async move {
            c.enrich(
                &id,
                json!({"tags": ["x"]}),
                EnrichOptions {
                    function_id: Some("f".into()),
                    ..Default::default()
                },
            )
            .await
        }
    };
    let e1 = enrich("enrich-1").await.unwrap();
    assert_eq!(enrich("enrich-1").await.unwrap(), e1);
    let r1 = keyed("restore-1")
        .restore_object(&id, RestoreTarget::Ov(0), "a", "r")
        .await
        .unwrap();
    assert_eq!(
        keyed("restore-1")
            .restore_object(&id, RestoreTarget::Ov(0), "a", "r")
            .await
            .unwrap(),
        r1
    );
    let d1 = keyed("delete-1").delete(&id, 3, "a", "r").await.unwrap();
    assert_eq!(
        keyed("delete-1").delete(&id, 3, "a", "r").await.unwrap(),
        d1
    );
    assert_eq!(
        contents(&c, &id).await,
        [
            json!({"n": 1}),
            json!({"n": 2}),
            json!({"n": 2, "tags": ["x"]}),
            json!({"n": 1}),
            json!({"n": 1}),
        ]
    );

    // A request that failed left nothing: repeated (fixed), it runs.
    let other = c
        .create(json!({"m": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    let e = keyed("fix-me")
        .update(&other.id, json!({"m": 1}), 7, "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
    let fixed = keyed("fix-me")
        .update(&other.id, json!({"m": 1}), 0, "a", "r")
        .await
        .unwrap();
    assert_eq!(fixed.ov, 1);

    // Keys belong to their collection: the same key elsewhere is another request.
    let elsewhere = h
        .coll("keyed-elsewhere")
        .with_request_id("create-1")
        .unwrap()
        .create(json!({"n": 9}), "a", "r", Default::default())
        .await
        .unwrap();
    assert_eq!(elsewhere.ov, 0);
    let read = h
        .coll("keyed-elsewhere")
        .get_latest(&elsewhere.id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Value::Object(read.data), json!({"n": 9}));

    for bad in ["", "has space", &"k".repeat(129), "tab\there"] {
        let e = c.with_request_id(bad).err().expect("refused");
        assert_eq!(e.code(), "VALIDATION_ERROR", "{bad:?}");
    }
}

conformance_case!(concurrent_repeats_of_a_keyed_create);
/// Eight copies of one keyed create sent at once make one item with one version.
async fn concurrent_repeats_of_a_keyed_create(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("keyed-race").with_request_id("race-1").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.create(json!({"v": 1}), "a", "r", Default::default())
                .await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert!(results.iter().all(|r| r == &results[0]), "{results:?}");
    assert_eq!(contents(&c, &results[0].id).await, [json!({"v": 1})]);
}

conformance_case!(a_repeat_after_a_lost_reply_writes_nothing);
/// The commit happened but its reply was lost: the request repeated with its key returns
/// the committed version instead of writing a second one.
async fn a_repeat_after_a_lost_reply_writes_nothing(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("lost-reply");
    let r = c
        .create(json!({"n": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    let keyed = c.with_request_id("lost-1").unwrap();
    // Metadata calls of a keyed update: find_request, get_head, commit.
    h.meta_fault.arm(3, true);
    let e = keyed
        .update(&r.id, json!({"n": 1}), 0, "a", "r")
        .await
        .unwrap_err();
    h.meta_fault.disarm();
    assert!(e.is_unavailable(), "{e}");
    let head = c
        .get_latest(&r.id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.system.ov, 1, "the commit happened");
    let again = keyed
        .update(&r.id, json!({"n": 1}), 0, "a", "r")
        .await
        .unwrap();
    assert_eq!(again.ov, 1);
    assert_eq!(
        contents(&c, &r.id).await,
        [json!({"n": 0}), json!({"n": 1})]
    );
}

conformance_case!(queued_writes_replay_in_order_exactly_once);
/// With the queue on: a write whose store does not answer is queued; later writes to the
/// item queue behind it; reads show the committed state meanwhile; a drain commits them
/// in order, once, including one whose commit happened before its reply was lost.
async fn queued_writes_replay_in_order_exactly_once(b: &dyn Backend) {
    let h = open!(b, queue_on(5, 1));
    let queue = h.chronos.queue().unwrap();
    let c = h.coll("queued");
    let id = c
        .create(json!({"n": 0}), "a", "r", Default::default())
        .await
        .unwrap()
        .id;

    h.meta_fault.arm(1, false);
    let q1 = queued(
        c.update(&id, json!({"n": 1}), 0, "a", "r")
            .await
            .unwrap_err(),
    );
    h.meta_fault.disarm();
    assert_eq!(
        (q1.id.as_str(), q1.op.as_str(), q1.queued),
        (id.as_str(), "update", true)
    );
    // The store answers again, but the item has a queued write: these go behind it.
    let q2 = queued(
        c.update(&id, json!({"n": 2}), 1, "a", "r")
            .await
            .unwrap_err(),
    );
    let q3 = queued(
        c.enrich(&id, json!({"e": true}), EnrichOptions::default())
            .await
            .unwrap_err(),
    );
    assert_ne!(q1.request_id, q2.request_id);
    // Bad input is refused at once, not queued to fail on replay.
    let e = c
        .update(&id, json!(["not", "an", "object"]), 3, "a", "r")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VALIDATION_ERROR", "{e}");
    // Repeating a queued request is still that one queued write.
    let q2_again = queued(
        c.with_request_id(&q2.request_id)
            .unwrap()
            .update(&id, json!({"n": 2}), 1, "a", "r")
            .await
            .unwrap_err(),
    );
    assert_eq!(q2_again, q2);
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead), (3, 0));
    assert_eq!(stats.by_op.get("update"), Some(&2));
    let listed: Vec<String> = queue
        .list(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.request_id)
        .collect();
    assert_eq!(
        listed,
        [
            q1.request_id.clone(),
            q2.request_id.clone(),
            q3.request_id.clone()
        ]
    );
    let meanwhile = c
        .get_latest(&id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meanwhile.system.ov, 0, "reads show the committed state");

    let report = queue.drain().await.unwrap();
    assert_eq!((report.committed, report.dead), (3, 0));
    assert_eq!(
        contents(&c, &id).await,
        [
            json!({"n": 0}),
            json!({"n": 1}),
            json!({"n": 2}),
            json!({"n": 2, "e": true})
        ]
    );
    assert_eq!(queue.stats().await.unwrap().pending, 0);
    // Nothing queued for the item any more: writes go straight to the store.
    assert_eq!(
        c.update(&id, json!({"n": 4}), 3, "a", "r")
            .await
            .unwrap()
            .ov,
        4
    );

    // A commit whose reply is lost: queued, and its replay recognises the version.
    // Metadata calls of an update with a request id made for it: get_head, commit.
    h.meta_fault.arm(2, true);
    let lost = queued(
        c.update(&id, json!({"n": 5}), 4, "a", "r")
            .await
            .unwrap_err(),
    );
    h.meta_fault.disarm();
    assert_eq!(lost.op, "update");
    let report = queue.drain().await.unwrap();
    assert_eq!(report.committed, 1);
    let all = contents(&c, &id).await;
    assert_eq!(all.len(), 6, "no second version: {all:?}");
    assert_eq!(all[5], json!({"n": 5}));

    // A create queued while the store is away gets its id up front.
    h.meta_fault.arm(1, false);
    let created = queued(
        c.create(json!({"new": 1}), "a", "r", Default::default())
            .await
            .unwrap_err(),
    );
    h.meta_fault.disarm();
    assert_eq!(created.op, "create");
    assert!(c
        .get_latest(&created.id, ReadOptions::default())
        .await
        .unwrap()
        .is_none());
    assert_eq!(queue.drain().await.unwrap().committed, 1);
    assert_eq!(contents(&c, &created.id).await, [json!({"new": 1})]);
}

conformance_case!(dead_letters_retry_and_cancel);
/// Permanent errors go to the dead letters at once, transient ones after `maxRetries`;
/// `retry` after fixing the cause commits; `cancel` and `prune` remove.
async fn dead_letters_retry_and_cancel(b: &dyn Backend) {
    let h = open!(b, queue_on(2, 40));
    let queue = h.chronos.queue().unwrap();
    let c = h.coll("dead");
    let a = c
        .create(json!({"a": 0}), "a", "r", Default::default())
        .await
        .unwrap()
        .id;

    // A stale expected ov: a conflict when replayed.
    h.meta_fault.arm(1, false);
    let stale = queued(
        c.update(&a, json!({"a": "late"}), 3, "a", "r")
            .await
            .unwrap_err(),
    );
    h.meta_fault.disarm();
    assert_eq!(queue.drain().await.unwrap().dead, 1);
    let dead = queue.dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].request_id.as_str(),
            dead[0].code.as_str(),
            dead[0].attempts
        ),
        (stale.request_id.as_str(), "CONFLICT", 1)
    );
    assert!(
        dead[0].message.contains("expected ov 3"),
        "{}",
        dead[0].message
    );
    assert_eq!(contents(&c, &a).await, [json!({"a": 0})]);
    // The cause fixed (the item brought to the ov the write expects), the retry commits.
    for ov in 0..3 {
        c.update(&a, json!({"a": ov + 1}), ov, "a", "r")
            .await
            .unwrap();
    }
    queue.retry(&stale.request_id).await.unwrap();
    assert!(queue.dead(10).await.unwrap().is_empty());
    assert_eq!(
        queue.retry(&stale.request_id).await.unwrap_err().code(),
        "NOT_FOUND"
    );
    assert_eq!(queue.drain().await.unwrap().committed, 1);
    let now = contents(&c, &a).await;
    assert_eq!((now.len(), &now[4]), (5, &json!({"a": "late"})));

    // An update of an item that does not exist: NOT_FOUND; cancelled.
    h.meta_fault.arm(1, false);
    let nowhere = queued(
        c.update("nowhere", json!({"l": 1}), 0, "a", "r")
            .await
            .unwrap_err(),
    );
    h.meta_fault.disarm();
    assert_eq!(queue.drain().await.unwrap().dead, 1);
    assert_eq!(queue.dead(10).await.unwrap()[0].code, "NOT_FOUND");
    queue.cancel(&nowhere.request_id).await.unwrap();
    assert!(queue.dead(10).await.unwrap().is_empty());
    let e = queue.cancel(&nowhere.request_id).await.unwrap_err();
    assert_eq!(e.code(), "NOT_FOUND");

    // Still no answer after maxRetries (2) replays: a dead letter with the backend's code.
    h.meta_fault.arm(1, false);
    let down = queued(
        c.update(&a, json!({"a": 9}), 4, "a", "r")
            .await
            .unwrap_err(),
    );
    // Each round's replay meets a store that does not answer; the next is 40 ms later.
    for _ in 0..2 {
        h.meta_fault.arm(1, false);
        tokio::time::sleep(Duration::from_millis(60)).await;
        queue.drain().await.unwrap();
    }
    h.meta_fault.disarm();
    let dead = queue.dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].request_id.as_str(),
            dead[0].code.as_str(),
            dead[0].attempts
        ),
        (down.request_id.as_str(), "BACKEND_UNAVAILABLE", 2)
    );
    assert_eq!(queue.stats().await.unwrap().dead, 1);
    assert_eq!(queue.prune(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(queue.stats().await.unwrap().dead, 0);
    assert_eq!(contents(&c, &a).await.len(), 5);
}

conformance_case!(two_workers_share_a_queue);
/// Two instances drain one journal at once: each write is replayed once, each item's
/// writes in order.
async fn two_workers_share_a_queue(b: &dyn Backend) {
    let h: Harness = open!(b, queue_on(5, 1));
    let c = h.coll("workers");
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = c
            .create(json!({"item": i, "k": 0}), "a", "r", Default::default())
            .await
            .unwrap()
            .id;
        h.meta_fault.arm(1, false);
        for k in 1..=8u64 {
            queued(
                c.update(&id, json!({"item": i, "k": k}), k - 1, "a", "r")
                    .await
                    .unwrap_err(),
            );
        }
        h.meta_fault.disarm();
        ids.push(id);
    }
    let other = Chronos::open(h.config.clone()).await.unwrap();
    let (q1, q2) = (h.chronos.queue().unwrap(), other.queue().unwrap());
    let (r1, r2) = tokio::join!(q1.drain(), q2.drain());
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(r1.committed + r2.committed, 24, "{r1:?} {r2:?}");
    assert_eq!(r1.dead + r2.dead, 0);
    for (i, id) in ids.iter().enumerate() {
        let expected: Vec<Value> = (0..=8).map(|k| json!({"item": i, "k": k})).collect();
        assert_eq!(contents(&c, id).await, expected);
    }
}

conformance_case!(erasure_removes_queued_writes);
/// Queued writes hold content too: a subject erasure removes those holding the subject (a
/// queued create of it never commits), an item erasure those of the item.
async fn erasure_removes_queued_writes(b: &dyn Backend) {
    let h = open!(b, |c: &mut ChronosConfig| {
        crate::erasure::erasable(c);
        queue_on(5, 1)(c);
    });
    let queue = h.chronos.queue().unwrap();
    let c = h.coll("customers");
    let kept = c
        .create(
            json!({"customerId": "c-2", "email": "b@x.io"}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap()
        .id;
    h.meta_fault.arm(1, false);
    let subject = queued(
        c.create(
            json!({"customerId": "c-1", "email": "a@x.io"}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap_err(),
    );
    h.meta_fault.arm(1, false);
    queued(
        c.update(
            &kept,
            json!({"customerId": "c-2", "email": "b2@x.io"}),
            0,
            "a",
            "r",
        )
        .await
        .unwrap_err(),
    );
    h.meta_fault.disarm();

    let mut opts = chronos_db::erasure::SubjectErasureOptions {
        actor: "dpo".into(),
        reason: "art. 17".into(),
        dry_run: true,
        ..Default::default()
    };
    let dry = h
        .chronos
        .erasure()
        .erase_subject("tenant-a", &json!("c-1"), &opts)
        .await
        .unwrap();
    assert_eq!(dry.queued_writes_removed, 1);
    assert_eq!(queue.stats().await.unwrap().pending, 2);
    opts.dry_run = false;
    let done = h
        .chronos
        .erasure()
        .erase_subject("tenant-a", &json!("c-1"), &opts)
        .await
        .unwrap();
    assert_eq!(done.queued_writes_removed, 1);
    assert_eq!(queue.stats().await.unwrap().pending, 1);
    assert_eq!(queue.drain().await.unwrap().committed, 1);
    assert!(c
        .get_latest(&subject.id, ReadOptions::default())
        .await
        .unwrap()
        .is_none());
    assert_eq!(contents(&c, &kept).await.len(), 2);

    // An item erasure removes the item's queued writes.
    h.meta_fault.arm(1, false);
    queued(
        c.update(
            &kept,
            json!({"customerId": "c-2", "email": "b3@x.io"}),
            1,
            "a",
            "r",
        )
        .await
        .unwrap_err(),
    );
    h.meta_fault.disarm();
    c.erase(
        &kept,
        chronos_db::ops::EraseOptions {
            actor: "dpo".into(),
            reason: "art. 17".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead), (0, 0));
}

conformance_case!(request_ids_belong_to_their_item);
/// Two tenants that happen to use the same key are two requests, queued or not.
async fn request_ids_belong_to_their_item(b: &dyn Backend) {
    let h = open!(b, queue_on(5, 1));
    let queue = h.chronos.queue().unwrap();
    let (a, b2) = (
        h.tenant("tenant-a", "shared"),
        h.tenant("tenant-b", "shared"),
    );
    let ida = a
        .create(json!({"t": "a"}), "x", "r", Default::default())
        .await
        .unwrap()
        .id;
    let idb = b2
        .create(json!({"t": "b"}), "x", "r", Default::default())
        .await
        .unwrap()
        .id;
    h.meta_fault.arm(1, false);
    let qa = queued(
        a.with_request_id("same-key")
            .unwrap()
            .update(&ida, json!({"t": "a", "n": 1}), 0, "x", "r")
            .await
            .unwrap_err(),
    );
    h.meta_fault.arm(1, false);
    let qb = queued(
        b2.with_request_id("same-key")
            .unwrap()
            .update(&idb, json!({"t": "b", "n": 1}), 0, "x", "r")
            .await
            .unwrap_err(),
    );
    h.meta_fault.disarm();
    assert_eq!(
        (qa.id.as_str(), qb.id.as_str()),
        (ida.as_str(), idb.as_str())
    );
    assert_eq!(queue.stats().await.unwrap().pending, 2);
    // An ambiguous id is refused by the admin calls rather than guessed.
    assert_eq!(
        queue.cancel("same-key").await.unwrap_err().code(),
        "VALIDATION_ERROR"
    );
    assert_eq!(queue.drain().await.unwrap().committed, 2);
    assert_eq!(contents(&a, &ida).await[1], json!({"t": "a", "n": 1}));
    assert_eq!(contents(&b2, &idb).await[1], json!({"t": "b", "n": 1}));
}

conformance_case!(twin_keyed_enrichments_merge_once);
/// Two copies of one keyed enrichment sent at once, under item leases: one merge.
async fn twin_keyed_enrichments_merge_once(b: &dyn Backend) {
    let h = open!(b, |c: &mut ChronosConfig| c.locks.enabled = true);
    let c = h.coll("twins");
    let id = c
        .create(json!({"n": 0}), "x", "r", Default::default())
        .await
        .unwrap()
        .id;
    // Slow object writes: the second copy waits for the first one's lease.
    h.payload_fault
        .put_delay_ms
        .store(150, std::sync::atomic::Ordering::SeqCst);
    let keyed = c.with_request_id("enrich-twin").unwrap();
    let one = {
        let (k, id) = (keyed.clone(), id.clone());
        tokio::spawn(async move {
            k.enrich(&id, json!({"tags": ["x"]}), EnrichOptions::default())
                .await
        })
    };
    let two = {
        let (k, id) = (keyed.clone(), id.clone());
        tokio::spawn(async move {
            k.enrich(&id, json!({"tags": ["x"]}), EnrichOptions::default())
                .await
        })
    };
    let (one, two) = (one.await.unwrap().unwrap(), two.await.unwrap().unwrap());
    h.payload_fault
        .put_delay_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(one, two);
    assert_eq!(contents(&c, &id).await.len(), 2, "one merge");
}

conformance_case!(queued_payloads_are_sealed_with_encryption_on);
/// With encryption at rest, a queued write's content is sealed in the journal too (and
/// still replays).
async fn queued_payloads_are_sealed_with_encryption_on(b: &dyn Backend) {
    let h = open!(b, |c: &mut ChronosConfig| {
        crate::encryption::encrypted(c);
        queue_on(5, 1)(c);
    });
    let queue = h.chronos.queue().unwrap();
    let c = h.coll("sealed");
    let marker = "plaintext-marker-7f3a9c";
    h.meta_fault.arm(1, false);
    let q = queued(
        c.create(json!({"secret": marker}), "a", "r", Default::default())
            .await
            .unwrap_err(),
    );
    h.meta_fault.disarm();
    let mut journal = Vec::new();
    for entry in std::fs::read_dir(queue.path().parent().unwrap()).unwrap() {
        journal.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(!journal.is_empty());
    assert!(
        !journal
            .windows(marker.len())
            .any(|w| w == marker.as_bytes()),
        "the journal holds the payload in plaintext"
    );
    assert_eq!(queue.drain().await.unwrap().committed, 1);
    assert_eq!(contents(&c, &q.id).await, [json!({"secret": marker})]);
}
