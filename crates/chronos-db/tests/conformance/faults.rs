//! Concurrency and fault injection: the commit protocol's guarantees, on every backend.

use crate::harness::Backend;
use chronos_db::config::{Base64Prop, ChronosConfig, CollectionMap};
use chronos_db::{Collection, EnrichOptions, Error, ReadOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

const WRITERS: usize = 8;
const ATTEMPTS_PER_WRITER: usize = 30;

conformance_case!(concurrent_writers);
/// 8 writers update one item concurrently: each update commits or gets `Conflict`; ov is
/// contiguous; every version holds exactly what its writer sent.
async fn concurrent_writers(b: &dyn Backend) {
    let h = open!(b, |_: &mut ChronosConfig| {});
    let c = h.coll("hot");
    let created = c
        .create(
            json!({"writer": -1, "n": -1}),
            "init",
            "",
            Default::default(),
        )
        .await
        .unwrap();
    let id = Arc::new(created.id.clone());
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let c = c.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut committed = Vec::new();
            let mut conflicts = 0;
            for n in 0..ATTEMPTS_PER_WRITER {
                let head = c
                    .get_latest(&id, ReadOptions::default())
                    .await
                    .unwrap()
                    .unwrap();
                let content = json!({"writer": w, "n": n, "pad": "x".repeat(n * 7)});
                match c
                    .update(
                        &id,
                        content.clone(),
                        head.system.ov,
                        &format!("w{w}"),
                        "race",
                    )
                    .await
                {
                    Ok(r) => committed.push((r.ov, content)),
                    Err(Error::Conflict { .. }) => conflicts += 1,
                    Err(e) => panic!("writer {w}: unexpected error {e}"),
                }
            }
            (committed, conflicts)
        }));
    }
    let mut by_ov: BTreeMap<u64, Value> = BTreeMap::new();
    let mut total_conflicts = 0;
    for t in tasks {
        let (committed, conflicts) = t.await.unwrap();
        total_conflicts += conflicts;
        for (ov, content) in committed {
            assert!(
                by_ov.insert(ov, content).is_none(),
                "two writers were acknowledged for ov {ov}"
            );
        }
    }
    let n = by_ov.len() as u64;
    assert!(n > 0);
    assert_eq!(
        n as usize + total_conflicts,
        WRITERS * ATTEMPTS_PER_WRITER,
        "every attempt committed or conflicted"
    );
    assert_eq!(
        by_ov.keys().copied().collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>(),
        "acknowledged ovs are 1..=n"
    );
    let mut versions = Vec::new();
    let mut before = None;
    loop {
        let page = c
            .history(
                &id,
                chronos_db::HistoryOptions {
                    limit: Some(1000),
                    before_ov: before,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        versions.extend(page.versions.iter().map(|v| v.ov));
        match page.next_before_ov {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    versions.reverse();
    assert_eq!(
        versions,
        (0..=n).collect::<Vec<_>>(),
        "history has contiguous ov 0..=n"
    );
    for (ov, content) in &by_ov {
        let item = c
            .get_version(&id, *ov, ReadOptions::default())
            .await
            .unwrap()
            .expect("version readable");
        assert_eq!(
            &Value::Object(item.data),
            content,
            "version {ov} holds what its writer sent"
        );
    }
    let latest = c
        .get_latest(&id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.system.ov, n);
}

fn blob_tweak(c: &mut ChronosConfig) {
    c.collection_maps.insert(
        "faulty".into(),
        CollectionMap {
            base64_props: [(
                "file".to_string(),
                Base64Prop {
                    content_type: "text/plain".into(),
                    preferred_text: true,
                    text_charset: None,
                },
            )]
            .into(),
            ..Default::default()
        },
    );
}

/// What the test believes is committed: ov → content (None for a deletion's own content check).
struct Expected {
    versions: BTreeMap<u64, Value>,
}

async fn check_invariants(c: &Collection, id: &str, exp: &Expected, label: &str) {
    let (last_ov, last) = exp
        .versions
        .iter()
        .next_back()
        .map(|(k, v)| (*k, v.clone()))
        .unwrap();
    let head = c
        .get_latest(
            id,
            ReadOptions {
                include_deleted: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let head = head.unwrap_or_else(|| panic!("{label}: item vanished"));
    assert_eq!(
        head.system.ov, last_ov,
        "{label}: readable at its last committed version"
    );
    assert_eq!(
        strip_refs(Value::Object(head.data)),
        last,
        "{label}: latest content"
    );
    let hist = c
        .history(
            id,
            chronos_db::HistoryOptions {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ovs: Vec<u64> = hist.versions.iter().rev().map(|v| v.ov).collect();
    assert_eq!(
        ovs,
        exp.versions.keys().copied().collect::<Vec<_>>(),
        "{label}: versions"
    );
    for (ov, content) in &exp.versions {
        let item = c
            .get_version(
                id,
                *ov,
                ReadOptions {
                    include_deleted: true,
                    ..Default::default()
                },
            )
            .await;
        let item = item
            .unwrap_or_else(|e| panic!("{label}: version {ov} unreadable: {e}"))
            .unwrap();
        assert_eq!(
            &strip_refs(Value::Object(item.data.clone())),
            content,
            "{label}: version {ov} content"
        );
        if let Some(r) = item.data.get("file").and_then(|f| f.get("ref")) {
            let key = r["blobKey"].as_str().unwrap();
            assert!(
                key.contains(&format!("/v{ov}.")),
                "{label}: version {ov} owns its blob ({key})"
            );
        }
    }
}

/// Replaces blob refs by their size, so contents compare across versions.
fn strip_refs(mut v: Value) -> Value {
    if let Some(f) = v.get_mut("file") {
        if let Some(size) = f.get("ref").and_then(|r| r.get("size")).cloned() {
            *f = json!({"blobSize": size});
        }
    }
    v
}

conformance_case!(faults_at_every_step);
/// A failure injected at each step of each kind of write leaves the item readable at its
/// last committed version, and no version pointing at a missing or foreign payload.
async fn faults_at_every_step(b: &dyn Backend) {
    let h = open!(b, blob_tweak);
    let c = h.coll("faulty");
    let created = c
        .create(
            json!({"file": "aGVsbG8=", "n": 0}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let id = created.id.clone();
    let mut exp = Expected {
        versions: BTreeMap::from([(0, json!({"file": {"blobSize": 5}, "n": 0}))]),
    };
    let mut step = 0;
    for fault_on_meta in [false, true] {
        for op in ["update", "enrich", "delete-restore"] {
            let mut k = 1;
            loop {
                step += 1;
                let label = format!(
                    "{op} with {} call {k} failing",
                    if fault_on_meta { "metadata" } else { "payload" }
                );
                let ov = *exp.versions.keys().next_back().unwrap();
                let fault = if fault_on_meta {
                    &h.meta_fault
                } else {
                    &h.payload_fault
                };
                fault.arm(k, false);
                let (result, content) = match op {
                    "update" => {
                        let content = json!({"file": "d29ybGQ=", "n": step});
                        (
                            c.update(&id, content, ov, "a", "r").await,
                            json!({"file": {"blobSize": 5}, "n": step}),
                        )
                    }
                    "enrich" => {
                        let mut content = exp.versions[&ov].clone();
                        content["e"] = json!(step);
                        (
                            c.enrich(
                                &id,
                                json!({"e": step}),
                                EnrichOptions {
                                    expected_ov: Some(ov),
                                    ..Default::default()
                                },
                            )
                            .await,
                            content,
                        )
                    }
                    _ => {
                        let content = exp.versions[&ov].clone();
                        (c.delete(&id, ov, "a", "r").await, content)
                    }
                };
                let fired = fault.calls.load(std::sync::atomic::Ordering::SeqCst) >= k;
                fault.disarm();
                match result {
                    Ok(r) => {
                        assert!(!fired, "{label}: the injected failure was swallowed");
                        exp.versions.insert(r.ov, content.clone());
                        if op == "delete-restore" {
                            let back = c
                                .restore_object(
                                    &id,
                                    chronos_db::RestoreTarget::Ov(ov),
                                    "a",
                                    "undelete",
                                )
                                .await
                                .unwrap();
                            exp.versions.insert(back.ov, content);
                        }
                    }
                    Err(e) => {
                        assert!(fired, "{label}: failed without an injected fault: {e}");
                        assert!(
                            matches!(e, Error::Metadata(_) | Error::Payload(_)),
                            "{label}: typed error, got {e}"
                        );
                    }
                }
                check_invariants(&c, &id, &exp, &label).await;
                if !fired {
                    break;
                }
                k += 1;
            }
        }
        if !fault_on_meta {
            // Payload failures are definite: each attempt removed what it had written.
            let mut referenced = 0;
            for ov in exp.versions.keys() {
                let v = c
                    .get_version(
                        &id,
                        *ov,
                        ReadOptions {
                            include_deleted: true,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap()
                    .unwrap();
                referenced += 1 + usize::from(v.data.get("file").is_some()) * 2;
            }
            assert_eq!(
                h.objects(&format!("faulty/{id}/")).await.len(),
                referenced,
                "no orphan objects after refused writes"
            );
        }
    }
}

conformance_case!(fault_after_commit);
/// A commit whose reply is lost: the caller sees an error, the write is nevertheless
/// complete and readable (its objects were not deleted).
async fn fault_after_commit(b: &dyn Backend) {
    let h = open!(b, blob_tweak);
    let c = h.coll("faulty");
    let r = c
        .create(
            json!({"file": "aGVsbG8=", "n": 0}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    // update: metadata call 1 = get_head, call 2 = commit.
    h.meta_fault.arm(2, true);
    let e = c
        .update(&r.id, json!({"file": "d29ybGQ=", "n": 1}), 0, "a", "r")
        .await
        .unwrap_err();
    h.meta_fault.disarm();
    assert!(matches!(e, Error::Metadata(_)), "{e}");
    let item = c
        .get_latest(&r.id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((item.system.ov, item.data["n"].clone()), (1, json!(1)));
    let store = h.payloads.lock().unwrap()[0].clone();
    let key = item.data["file"]["ref"]["blobKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(&store.get(&key).await.unwrap()[..], b"world");
}
