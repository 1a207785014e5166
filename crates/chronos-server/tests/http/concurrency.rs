//! Many clients updating one item with optimistic locking: every update lands once, the ovs
//! are contiguous, none is lost.

use crate::support::{start, Backend};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

const CLIENTS: u64 = 32;

async fn contended_updates(backend: Backend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let s = Arc::new(s);
    let c = "/v1/runtime/tenant/acme/counters";
    s.post(
        &format!("{c}/items"),
        json!({"data": {"by": null}, "actor": "t", "reason": "r", "id": "hot"}),
    )
    .await
    .expect(201, "create");
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut expected = 0u64;
            let mut attempts = 0;
            loop {
                attempts += 1;
                assert!(attempts < 10_000, "client {client} never got through");
                let a = s
                    .put(&format!("{c}/items/hot"), json!({"data": {"by": client}, "expectedOv": expected, "actor": format!("c{client}"), "reason": "inc"}))
                    .await;
                match a.status.as_u16() {
                    200 => return a.json["ov"].as_u64().expect("ov"),
                    409 => expected = a.json["currentOv"].as_u64().expect("currentOv"),
                    423 => {}
                    other => panic!("client {client}: unexpected {other} {}", a.text),
                }
            }
        }));
    }
    let mut landed = BTreeSet::new();
    for t in tasks {
        assert!(
            landed.insert(t.await.expect("client")),
            "two updates got the same ov"
        );
    }
    assert_eq!(landed, (1..=CLIENTS).collect::<BTreeSet<_>>());
    let head = s.get(&format!("{c}/items/hot")).await.expect(200, "head");
    assert_eq!(head.json["_system"]["ov"], CLIENTS);
    let versions = s
        .get(&format!("{c}/items/hot/versions?limit=1000"))
        .await
        .expect(200, "versions");
    let ovs: Vec<u64> = versions.json["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["ov"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ovs,
        (0..=CLIENTS).rev().collect::<Vec<_>>(),
        "contiguous ovs"
    );
    let mut writers = BTreeSet::new();
    for ov in 1..=CLIENTS {
        let v = s
            .get(&format!("{c}/items/hot?ov={ov}"))
            .await
            .expect(200, "a version");
        writers.insert(v.json["by"].as_u64().expect("by"));
    }
    assert_eq!(
        writers,
        (0..CLIENTS).collect::<BTreeSet<_>>(),
        "every client's update is a version"
    );
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_one_item_embedded() {
    contended_updates(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_one_item_mongo_s3() {
    contended_updates(Backend::MongoS3).await;
}
