//! Compression (`writeOptimization.compressionEnabled`): documents above the threshold are
//! stored gzip-compressed (the bucket holds fewer bytes), read back exactly, and served
//! exactly by presigned URLs and links; small ones are stored as they are.

use crate::harness::Harness;
use chronos_db::config::{ChronosConfig, WriteOptimization};
use chronos_db::{HistoryOptions, ListOptions, ReadOptions};
use serde_json::{json, Value};
use std::io::Read;

fn compressed(cfg: &mut ChronosConfig) {
    cfg.write_optimization = Some(WriteOptimization {
        compression_enabled: Some(true),
        ..Default::default()
    });
    cfg.collection_maps.insert(
        "orders".into(),
        serde_json::from_value(json!({"indexedProps": ["customer"]})).unwrap(),
    );
}

/// A realistic order document of about 30 KB, as JSON text (exact numbers included).
fn order_text() -> String {
    let lines: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"sku":"SKU-{i:05}","name":"Widget model {m}","qty":{q},"price":1{i}.50,"tags":["hardware","catalog-{m}"]}}"#,
                m = i % 7,
                q = i % 5 + 1
            )
        })
        .collect();
    format!(
        r#"{{"customer":"c-42","total":18446744073709551616,"currency":"EUR","lines":[{}]}}"#,
        lines.join(",")
    )
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}

/// The stored bytes of the version's `item.json` (below every layer).
async fn stored_item(h: &Harness, prefix: &str) -> Vec<u8> {
    let stores: Vec<_> = h.payloads.lock().unwrap().clone();
    for s in stores {
        for o in s.list(prefix).await.unwrap() {
            if o.key.ends_with("/item.json") {
                return s.get(&o.key).await.unwrap().to_vec();
            }
        }
    }
    panic!("no item.json under {prefix}");
}

conformance_case!(large_documents_are_stored_compressed);
async fn large_documents_are_stored_compressed(b: &dyn crate::harness::Backend) {
    let h = open!(b, compressed);
    let c = h.coll("orders");
    let text = order_text();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let big = c
        .create(doc.clone(), "app", "", Default::default())
        .await
        .unwrap()
        .id;
    let small = c
        .create(
            json!({"customer": "c-7", "total": 1}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap()
        .id;

    // In the bucket: a gzip stream a fraction of the document's size; the small one as is.
    let stored = stored_item(&h, &format!("orders/{big}/")).await;
    assert!(stored.starts_with(&[0x1f, 0x8b]), "not compressed");
    assert!(
        stored.len() * 4 < text.len(),
        "{} stored bytes for {}",
        stored.len(),
        text.len()
    );
    assert!(stored_item(&h, &format!("orders/{small}/"))
        .await
        .starts_with(b"{"));

    // History reports both sizes: the document's and the stored one.
    for (id, compressed) in [(&big, true), (&small, false)] {
        let page = c
            .history(
                id,
                HistoryOptions {
                    stored_sizes: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let v = &page.versions[0];
        let stored_size = v.stored_size.expect("a stored size");
        if compressed {
            assert!(stored_size * 4 < v.size, "{v:?}");
        } else {
            assert_eq!(stored_size, v.size, "{v:?}");
        }
    }
    assert_eq!(
        c.history(&big, HistoryOptions::default())
            .await
            .unwrap()
            .versions[0]
            .stored_size,
        None
    );

    // Reads: the exact content (numbers keep their digits), as typed items and as JSON.
    let latest = c
        .get_latest(&big, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_string(&latest.data["lines"]).unwrap(),
        serde_json::to_string(&doc["lines"]).unwrap()
    );
    assert_eq!(
        latest.data["total"].to_string(),
        "18446744073709551616",
        "{}",
        latest.data["total"]
    );
    let v0 = c
        .get_version(&big, 0, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v0.data, latest.data);
    let page = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"customer": "c-42"})),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].data["lines"], doc["lines"]);

    // Presigned URLs: cloud stores serve it with Content-Encoding: gzip; links through a
    // server serve it decoded; file:// URLs name the stored file.
    let presign = ReadOptions {
        presign: true,
        ..Default::default()
    };
    let url = c
        .get_latest(&big, presign.clone())
        .await
        .unwrap()
        .unwrap()
        .presigned
        .unwrap()
        .item_url;
    let expected: Value = serde_json::from_str(&text).unwrap();
    if let Some(path) = url.strip_prefix("file://") {
        let file = std::fs::read(path).unwrap();
        let body: Value = serde_json::from_slice(&gunzip(&file)).unwrap();
        assert_eq!(body, expected);
        h.chronos.enable_local_links("http://server");
        let link = c
            .get_latest(&big, presign)
            .await
            .unwrap()
            .unwrap()
            .presigned
            .unwrap()
            .item_url;
        let rest = link.split("/v1/blobs/").nth(1).unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        let mut expires = 0;
        let mut sig = "";
        for kv in query.split('&') {
            match kv.split_once('=') {
                Some(("expires", v)) => expires = v.parse().unwrap(),
                Some(("sig", v)) => sig = v,
                _ => {}
            }
        }
        let body = h.chronos.read_link(path, expires, sig).await.unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
    } else {
        let resp = reqwest::Client::new().get(&url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let encoding = resp
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let raw = resp.bytes().await.unwrap();
        assert_eq!(encoding.as_deref(), Some("gzip"), "{url}");
        let body: Value = serde_json::from_slice(&gunzip(&raw)).unwrap();
        assert_eq!(body, expected);
    }
}

/// What a presigned URL or link serves: a `file://` URL's file as stored, a server link
/// through `read_link`, a cloud URL over HTTP (with its `Content-Encoding`).
async fn fetch_url(h: &Harness, url: &str) -> (Vec<u8>, Option<String>) {
    if let Some(path) = url.strip_prefix("file://") {
        return (std::fs::read(path).unwrap(), None);
    }
    if let Some(rest) = url.split("/v1/blobs/").nth(1) {
        let (path, query) = rest.split_once('?').unwrap();
        let (mut expires, mut sig) = (0, "");
        for kv in query.split('&') {
            match kv.split_once('=') {
                Some(("expires", v)) => expires = v.parse().unwrap(),
                Some(("sig", v)) => sig = v,
                _ => {}
            }
        }
        return (
            h.chronos
                .read_link(path, expires, sig)
                .await
                .unwrap()
                .to_vec(),
            None,
        );
    }
    let resp = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    let encoding = resp
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (resp.bytes().await.unwrap().to_vec(), encoding)
}

conformance_case!(text_blobs_are_stored_compressed);
/// Text blobs (`base64Props` with a text content type) above the threshold are stored
/// compressed with their text rendition, under `.gz` keys; binary blobs are stored as they
/// are, even when they are gzip files; copies keep the stored form; URLs serve the content.
async fn text_blobs_are_stored_compressed(b: &dyn crate::harness::Backend) {
    use base64::Engine;
    let h = open!(b, |c: &mut ChronosConfig| {
        compressed(c);
        c.collection_maps.insert(
            "notes".into(),
            serde_json::from_value(json!({"base64Props": {
                "body": {"contentType": "text/markdown"},
                "archive": {"contentType": "application/gzip"}}}))
            .unwrap(),
        );
    });
    let c = h.coll("notes");
    let text = order_text();
    let archive = {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(text.as_bytes()).unwrap();
        z.finish().unwrap()
    };
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let r = c
        .create(
            json!({"body": b64(text.as_bytes()), "archive": b64(&archive)}),
            "a",
            "r",
            Default::default(),
        )
        .await
        .unwrap();
    let item = c
        .get_latest(&r.id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    let body = item.data["body"]["ref"].clone();
    assert!(
        body["blobKey"]
            .as_str()
            .unwrap()
            .ends_with("/body/blob.bin.gz"),
        "{body}"
    );
    assert!(
        body["textKey"]
            .as_str()
            .unwrap()
            .ends_with("/body/text.txt.gz"),
        "{body}"
    );
    assert_eq!(body["contentEncoding"], "gzip");
    assert_eq!(body["size"], text.len());
    let kept = item.data["archive"]["ref"].clone();
    assert!(
        kept["blobKey"]
            .as_str()
            .unwrap()
            .ends_with("/archive/blob.bin"),
        "{kept}"
    );
    assert!(kept.get("contentEncoding").is_none());

    // The bucket holds the compressed bytes (below every layer).
    let stores: Vec<_> = h.payloads.lock().unwrap().clone();
    let raw = {
        let key = body["blobKey"].as_str().unwrap();
        let mut found = None;
        for s in &stores {
            if let Ok(bytes) = s.get(key).await {
                found = Some(bytes.to_vec());
            }
        }
        found.expect("the stored blob")
    };
    assert!(
        raw.len() * 3 < text.len(),
        "{} of {}",
        raw.len(),
        text.len()
    );
    assert_eq!(gunzip(&raw), text.as_bytes());

    // A later version copies the refs, keeping the stored form.
    let next = c
        .update(
            &r.id,
            json!({"body": {"ref": body.clone()}, "archive": {"ref": kept.clone()}, "n": 1}),
            0,
            "a",
            "r",
        )
        .await
        .unwrap();
    let copied = c
        .get_latest(&r.id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(copied.system.ov, next.ov);
    let copy = copied.data["body"]["ref"].clone();
    assert_ne!(copy["blobKey"], body["blobKey"]);
    assert!(copy["blobKey"]
        .as_str()
        .unwrap()
        .ends_with("/body/blob.bin.gz"));
    assert_eq!(copy["contentEncoding"], "gzip");

    // URLs serve the content: cloud stores with Content-Encoding, links decoded, a
    // file:// URL the stored file; the gzip archive exactly as uploaded.
    let presign = ReadOptions {
        presign: true,
        ..Default::default()
    };
    let urls = |item: chronos_db::model::Item| item.presigned.unwrap().blobs;
    let read = c.get_latest(&r.id, presign.clone()).await.unwrap().unwrap();
    let blobs = urls(read);
    let (served, encoding) = fetch_url(&h, &blobs["body"].blob_url).await;
    let content = match (
        blobs["body"].blob_url.starts_with("file://"),
        encoding.as_deref(),
    ) {
        (true, _) | (false, Some("gzip")) => gunzip(&served),
        _ => panic!("a cloud URL of a compressed blob carries Content-Encoding: gzip"),
    };
    assert_eq!(content, text.as_bytes());
    let (served, encoding) = fetch_url(&h, &blobs["archive"].blob_url).await;
    assert_eq!((served, encoding), (archive.clone(), None));
    if blobs["body"].blob_url.starts_with("file://") {
        h.chronos.enable_local_links("http://server");
        let blobs = urls(c.get_latest(&r.id, presign).await.unwrap().unwrap());
        let (served, _) = fetch_url(&h, &blobs["body"].blob_url).await;
        assert_eq!(served, text.as_bytes());
        let (served, _) = fetch_url(&h, blobs["body"].text_url.as_ref().unwrap()).await;
        assert_eq!(served, text.as_bytes());
        let (served, _) = fetch_url(&h, &blobs["archive"].blob_url).await;
        assert_eq!(served, archive);
    }
}
