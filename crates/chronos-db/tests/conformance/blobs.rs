//! base64Props blobs, presigned URLs and the orphan sweeper.

use crate::harness::Backend;
use crate::support::*;
use chronos_db::{Error, ListOptions, ReadOptions};
use serde_json::{json, Value};
use std::time::Duration;

conformance_case!(base64_blobs);
async fn base64_blobs(b: &dyn Backend) {
    let h = open!(b, with_map("files", blob_map()));
    let c = h.coll("files");
    let r = c
        .create(
            json!({"name": "f", "file": "AAECAw==", "doc": {"note": "aGVsbG8gd29ybGQ="}}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let item = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    let file_ref = &item.data["file"]["ref"];
    assert_eq!(file_ref["size"], json!(4));
    assert!(file_ref["blobKey"]
        .as_str()
        .unwrap()
        .starts_with(&format!("files/{}/v0.", r.id)));
    assert!(
        file_ref.get("textKey").is_none(),
        "binary content gets no text rendition"
    );
    let note_ref = &item.data["doc"]["note"]["ref"];
    assert!(note_ref["textKey"]
        .as_str()
        .unwrap()
        .ends_with("/doc.note/text.txt"));
    let objects = h.objects(&format!("files/{}/", r.id)).await;
    assert_eq!(
        objects.len(),
        4,
        "item.json, one blob, one blob + text: {objects:?}"
    );
    let store = h.payloads.lock().unwrap()[0].clone();
    assert_eq!(
        &store
            .get(file_ref["blobKey"].as_str().unwrap())
            .await
            .unwrap()[..],
        &[0u8, 1, 2, 3]
    );
    assert_eq!(
        &store
            .get(note_ref["textKey"].as_str().unwrap())
            .await
            .unwrap()[..],
        b"hello world"
    );
    // Blobs are not indexed.
    let e = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"file": "x"})),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)));
    assert_eq!(
        c.list_by_meta(ListOptions {
            filter: Some(json!({"name": "f"})),
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .len(),
        1
    );
    // Update that keeps the ref: the new version owns a copy.
    let mut data = item.data.clone();
    data.insert("name".into(), json!("g"));
    c.update(&r.id, Value::Object(data), 0, "a", "r")
        .await
        .unwrap();
    let v1 = c
        .get_latest(&r.id, Default::default())
        .await
        .unwrap()
        .unwrap();
    let k1 = v1.data["file"]["ref"]["blobKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(k1.contains("/v1."), "{k1}");
    assert_eq!(&store.get(&k1).await.unwrap()[..], &[0u8, 1, 2, 3]);
    // Invalid base64: rejected, nothing written.
    let before = h.objects("files/").await.len();
    for bad in ["not base64!", "AAECAw", "AAE CAw==", "AAECAw=="] {
        let payload = if bad == "AAECAw==" {
            json!({"file": 5})
        } else {
            json!({"file": bad})
        };
        let e = c
            .create(payload, "a", "r", Default::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad}: {e}");
    }
    assert_eq!(h.objects("files/").await.len(), before);
    // A ref to another item's blob is refused.
    let other = c
        .create(json!({"file": "AAAA"}), "a", "r", Default::default())
        .await
        .unwrap();
    let e = c
        .update(
            &other.id,
            json!({"file": item.data["file"].clone()}),
            0,
            "a",
            "steal",
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e}");
}

/// Fetches a presigned URL: `file://` from disk, HTTP(S) over the network. Returns the
/// status (200 for files) and the body.
async fn fetch(url: &str) -> (u16, Vec<u8>) {
    if let Some(path) = url.strip_prefix("file://") {
        return (200, std::fs::read(path).expect("file URL readable"));
    }
    let resp = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("GET presigned URL");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

conformance_case!(presigned_urls);
async fn presigned_urls(b: &dyn Backend) {
    let h = open!(b, with_map("files", blob_map()));
    let c = h.coll("files");
    let r = c
        .create(
            json!({"name": "v0", "doc": {"note": "aGVsbG8gd29ybGQ="}, "file": "AAECAw=="}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let opts = ReadOptions {
        presign: true,
        ttl_seconds: Some(120),
        ..Default::default()
    };
    let v0 = c.get_latest(&r.id, opts.clone()).await.unwrap().unwrap();
    let p = v0.presigned.clone().expect("presigned URLs");
    assert_eq!(p.expires_in, 120);
    let (status, body) = fetch(&p.item_url).await;
    assert_eq!(status, 200, "{}", p.item_url);
    let stored: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored["name"], json!("v0"));
    let (status, body) = fetch(&p.blobs["file"].blob_url).await;
    assert_eq!((status, body), (200, vec![0u8, 1, 2, 3]));
    let note = &p.blobs["doc.note"];
    assert_eq!(fetch(&note.blob_url).await, (200, b"hello world".to_vec()));
    assert_eq!(
        fetch(note.text_url.as_ref().expect("text URL")).await,
        (200, b"hello world".to_vec())
    );
    assert!(v0.to_document().contains_key("_presigned"));
    // URLs are pinned to their version: a later update does not change what they return.
    c.update(&r.id, json!({"name": "v1", "file": "BAUG"}), 0, "a", "r")
        .await
        .unwrap();
    assert_eq!(
        fetch(&p.blobs["file"].blob_url).await,
        (200, vec![0u8, 1, 2, 3])
    );
    let old = c
        .get_version(&r.id, 0, opts.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fetch(&old.presigned.unwrap().blobs["file"].blob_url).await,
        (200, vec![0u8, 1, 2, 3])
    );
    let listed = c
        .list_by_meta(ListOptions {
            presign: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let lp = listed.items[0].presigned.as_ref().unwrap();
    assert_eq!(
        fetch(&lp.blobs["file"].blob_url).await,
        (200, vec![4u8, 5, 6])
    );
    // Bad lifetimes are refused.
    for ttl in [0, 604_801] {
        let e = c
            .get_latest(
                &r.id,
                ReadOptions {
                    presign: true,
                    ttl_seconds: Some(ttl),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{e}");
    }
    // An expired URL is refused (signed URLs only; file:// URLs carry no expiry).
    let short = c
        .get_latest(
            &r.id,
            ReadOptions {
                presign: true,
                ttl_seconds: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    let url = short.presigned.unwrap().item_url;
    if !url.starts_with("file://") {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (status, _) = fetch(&url).await;
        assert!(
            status == 403 || status == 401,
            "expired URL answered {status}"
        );
    }
}

conformance_case!(sweeper_removes_only_orphans);
async fn sweeper_removes_only_orphans(b: &dyn Backend) {
    let h = open!(b, with_map("files", blob_map()));
    let c = h.coll("files");
    let r = c
        .create(json!({"file": "AAECAw=="}), "a", "r", Default::default())
        .await
        .unwrap();
    // A commit that fails with an unknown outcome leaves its objects (they might be
    // referenced); here the commit never happened, so they are orphans.
    h.meta_fault.arm(2, false);
    assert!(c
        .update(&r.id, json!({"file": "BAUG"}), 0, "a", "r")
        .await
        .is_err());
    h.meta_fault.disarm();
    // A commit whose reply was lost: committed, its objects are referenced.
    h.meta_fault.arm(2, true);
    assert!(c
        .update(&r.id, json!({"file": "BwgJ"}), 0, "a", "r")
        .await
        .is_err());
    h.meta_fault.disarm();
    let before = h.objects(&format!("files/{}/", r.id)).await;
    assert_eq!(
        before.len(),
        6,
        "three attempts of item.json + blob: {before:?}"
    );
    let young = c
        .sweep_orphans(Duration::from_secs(3600), false)
        .await
        .unwrap();
    assert!(
        young.orphan_prefixes.is_empty(),
        "recent objects are never swept: {young:?}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dry = c.sweep_orphans(Duration::from_secs(1), true).await.unwrap();
    assert_eq!(
        (
            dry.orphan_prefixes.len(),
            dry.orphan_objects,
            dry.deleted_objects
        ),
        (1, 2, 0),
        "{dry:?}"
    );
    assert!(dry.orphan_prefixes[0].contains("/v1."));
    assert_eq!(
        h.objects(&format!("files/{}/", r.id)).await.len(),
        6,
        "a dry run deletes nothing"
    );
    let done = c
        .sweep_orphans(Duration::from_secs(1), false)
        .await
        .unwrap();
    assert_eq!(done.deleted_objects, 2);
    assert_eq!(h.objects(&format!("files/{}/", r.id)).await.len(), 4);
    // Every version is still complete.
    for ov in [0, 1] {
        let item = c
            .get_version(&r.id, ov, Default::default())
            .await
            .unwrap()
            .unwrap();
        let store = h.payloads.lock().unwrap()[0].clone();
        store
            .get(item.data["file"]["ref"]["blobKey"].as_str().unwrap())
            .await
            .expect("blob kept");
    }
    assert_eq!(
        c.sweep_orphans(Duration::from_secs(1), false)
            .await
            .unwrap()
            .orphan_prefixes
            .len(),
        0
    );
}
