//! Transaction locks: per-item leases between independent clients.

use crate::harness::Backend;
use chronos_db::config::ChronosConfig;
use chronos_db::{CreateOptions, EnrichOptions, Error};
use serde_json::json;
use std::time::Duration;

fn with_locks(lease_ms: u64, wait_ms: u64) -> impl FnOnce(&mut ChronosConfig) {
    move |c| {
        c.locks.enabled = true;
        c.locks.lease_ms = lease_ms;
        c.locks.wait_ms = wait_ms;
    }
}

conformance_case!(leases_serialise_two_clients);
/// Two independent clients (separate connections and caches) hammer the same item under
/// leases: no update is lost and no ov is acknowledged twice.
async fn leases_serialise_two_clients(b: &dyn Backend) {
    let h = open!(b, with_locks(5_000, 60_000));
    let first = h.coll("hot");
    let other = chronos_db::Chronos::open(h.config.clone()).await.unwrap();
    let second = other
        .with(
            chronos_db::Route::tenant(chronos_db::DatabaseType::Runtime, "tenant-a", "hot")
                .unwrap(),
        )
        .unwrap();
    let r = first
        .create(
            json!({"marks": []}),
            "a",
            "r",
            CreateOptions {
                id: Some("counter".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (client, c) in [(0, first.clone()), (1, second.clone())] {
        for w in 0..3 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for k in 0..6 {
                    let mark = format!("c{client}-w{w}-{k}");
                    let res = c
                        .enrich(
                            "counter",
                            json!({"marks": [mark.clone()]}),
                            EnrichOptions::default(),
                        )
                        .await;
                    let res = res.unwrap_or_else(|e| panic!("{mark}: {e}"));
                    acked.push((res.ov, mark));
                }
                acked
            }));
        }
    }
    let mut ovs = std::collections::BTreeSet::new();
    let mut marks = Vec::new();
    for t in tasks {
        for (ov, mark) in t.await.unwrap() {
            assert!(ovs.insert(ov), "ov {ov} acknowledged twice");
            marks.push(mark);
        }
    }
    assert_eq!(
        ovs.iter().copied().collect::<Vec<_>>(),
        (1..=36).collect::<Vec<u64>>()
    );
    let item = second
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    let stored: Vec<String> = item.data["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    marks.sort();
    let mut got = stored.clone();
    got.sort();
    assert_eq!(got, marks, "no update lost");
    assert_eq!(item.system.ov, 36);
}

conformance_case!(a_dropped_write_stops_renewing_its_lease);
/// A write whose future is dropped while it holds the item's lease (a request timeout, a
/// cancelled task) stops renewing it: the next writer gets through once the lease expires,
/// and the dropped write left no version.
async fn a_dropped_write_stops_renewing_its_lease(b: &dyn Backend) {
    let h = open!(b, with_locks(600, 5_000));
    let c = h.coll("leases");
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    h.payload_fault
        .put_delay_ms
        .store(60_000, std::sync::atomic::Ordering::SeqCst);
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        c.update(&r.id, json!({"v": "dropped"}), 0, "a", "r"),
    )
    .await;
    assert!(
        dropped.is_err(),
        "the slow write was dropped by the timeout"
    );
    h.payload_fault
        .put_delay_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    // Renewals every 200 ms would keep the lease forever; without them it expires.
    let start = std::time::Instant::now();
    let next = c.update(&r.id, json!({"v": 1}), 0, "a", "r").await;
    let next = next.unwrap_or_else(|e| panic!("after {:?}: {e}", start.elapsed()));
    assert_eq!(next.ov, 1);
    let item = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.data["v"], 1);
}

conformance_case!(crashed_holder_lease_expires);
/// A crashed holder's lease blocks writers only until it expires; a live one makes them
/// fail with `Locked` after their wait.
async fn crashed_holder_lease_expires(b: &dyn Backend) {
    let h = open!(b, with_locks(5_000, 3_000));
    let c = h.coll("leases");
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    let store = h.metas.lock().unwrap()[0].clone();
    // A holder that dies right after taking a short lease.
    assert!(store
        .acquire_lease(
            "leases",
            &r.id,
            "crashed-process",
            Duration::from_millis(800)
        )
        .await
        .unwrap());
    let start = std::time::Instant::now();
    c.update(&r.id, json!({"v": 1}), 0, "a", "r").await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "the write waited for the lease: {:?}",
        start.elapsed()
    );
    // A holder that stays alive longer than the writer's wait.
    assert!(store
        .acquire_lease("leases", &r.id, "slow-process", Duration::from_secs(30))
        .await
        .unwrap());
    assert!(!store
        .acquire_lease("leases", &r.id, "someone-else", Duration::from_secs(30))
        .await
        .unwrap());
    let e = c
        .update(&r.id, json!({"v": 2}), 1, "a", "r")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    store
        .release_lease("leases", &r.id, "slow-process")
        .await
        .unwrap();
    c.update(&r.id, json!({"v": 2}), 1, "a", "r").await.unwrap();
    assert_eq!(
        c.get_latest(&r.id, Default::default())
            .await
            .unwrap()
            .unwrap()
            .system
            .ov,
        2
    );
}
