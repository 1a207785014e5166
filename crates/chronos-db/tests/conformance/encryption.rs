//! Encryption at rest: objects in the bucket hold no plaintext, reads are unchanged, a wrong
//! master key is a clear error, rotation re-wraps data keys, and shredding a tenant makes its
//! objects unreadable for good while other tenants read normally.

use crate::harness::{Backend, Harness};
use base64::Engine;
use chronos_db::config::{ChronosConfig, EncryptionSettings};
use chronos_db::{
    Chronos, Collection, DatabaseType, Error, ListOptions, ReadOptions, RestoreTarget, Route,
};
use serde_json::json;

const SECRET: &str = "TOP-SECRET-4711";
const BLOB_SECRET: &str = "BLOB-SECRET-0815";
/// Long enough that random ciphertext never contains it by chance.
const OWNER: &str = "ada-lovelace-1815";

fn key(byte: u8) -> String {
    hex_of(&[byte; 32])
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn encrypted(cfg: &mut ChronosConfig) {
    cfg.encryption = Some(EncryptionSettings {
        enabled: true,
        master_key: key(1),
        ..Default::default()
    });
    cfg.dev_shadow.enabled = true; // ignored under encryption: no plaintext inline copies
    cfg.collection_maps.insert(
        "vault".into(),
        serde_json::from_value(json!({
            "indexedProps": ["owner"],
            "base64Props": {"scan": {"contentType": "text/plain", "preferredText": true}}
        }))
        .unwrap(),
    );
}

/// Every object under `prefix`, raw from the bucket (below the encryption layer).
async fn raw_objects(h: &Harness, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let stores: Vec<_> = h.payloads.lock().unwrap().clone();
    let mut out = Vec::new();
    for s in stores {
        for o in s.list(prefix).await.unwrap() {
            out.push((o.key.clone(), s.get(&o.key).await.unwrap().to_vec()));
        }
    }
    out
}

/// The key id and the sealed part (nonce, ciphertext, tag) of an encrypted object:
/// `CHRENC1\0`, a big-endian u16 length, the key id, then the rest.
fn envelope(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let rest = bytes.strip_prefix(b"CHRENC1\0".as_slice())?;
    let len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let kid = std::str::from_utf8(rest.get(2..2 + len)?).ok()?;
    Some((kid, rest.get(2 + len..)?))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn secret_item(c: &Collection) -> String {
    let scan = base64::engine::general_purpose::STANDARD.encode(BLOB_SECRET);
    c.create(
        json!({"owner": OWNER, "note": SECRET, "scan": scan}),
        "app",
        "",
        Default::default(),
    )
    .await
    .unwrap()
    .id
}

fn erased<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(
        matches!(r, Err(Error::Erased { .. })),
        "expected Erased, got {r:?}"
    );
}

conformance_case!(encrypted_objects_hold_no_plaintext);
async fn encrypted_objects_hold_no_plaintext(b: &dyn Backend) {
    let h = open!(b, encrypted);
    let c = h.coll("vault");
    let id = secret_item(&c).await;
    c.update(
        &id,
        json!({"owner": OWNER, "note": format!("{SECRET}-v1")}),
        0,
        "app",
        "",
    )
    .await
    .unwrap();
    // A restore copies the blob of version 0 into the new version's own prefix.
    c.restore_object(&id, RestoreTarget::Ov(0), "app", "")
        .await
        .unwrap();

    let objects = raw_objects(&h, &format!("vault/{id}/")).await;
    assert!(
        objects.len() >= 5,
        "three item.json, two blobs and texts: {objects:?}"
    );
    for (key, bytes) in &objects {
        let (kid, sealed) = envelope(bytes).unwrap_or_else(|| panic!("{key} is not encrypted"));
        // The key id is random hex after its scope, so only the sealed part is searched.
        assert!(kid.starts_with("tenant:tenant-a:"), "{key}: {kid}");
        assert!(
            !contains(sealed, SECRET) && !contains(sealed, BLOB_SECRET) && !contains(sealed, OWNER),
            "{key}"
        );
    }
    // Reads are unchanged: content, blobs, earlier versions, queries.
    let latest = c
        .get_latest(&id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.data["note"], SECRET);
    let scan = latest.data["scan"]["ref"].clone();
    assert!(scan.is_object(), "{latest:?}");
    let v1 = c
        .get_version(&id, 1, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.data["note"], format!("{SECRET}-v1"));
    let page = c
        .list_by_meta(ListOptions {
            filter: Some(json!({"owner": OWNER})),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    // No inline copy was kept, and no URL hands out ciphertext.
    let stores: Vec<_> = h.metas.lock().unwrap().clone();
    for s in stores {
        if let Ok(Some(head)) = s.get_head("vault", &id).await {
            assert!(head.shadow.is_none());
        }
    }
    // Presigned links: only through a server, which decrypts; never the object store's URL.
    let presign = ReadOptions {
        presign: true,
        ..Default::default()
    };
    assert!(matches!(
        c.get_latest(&id, presign.clone()).await,
        Err(Error::Validation(_))
    ));
    h.chronos.enable_local_links("http://server");
    let item = c.get_version(&id, 0, presign).await.unwrap().unwrap();
    let links = item.presigned.expect("links");
    let (path, expires, sig) = link_parts(&links.item_url);
    assert!(
        path.starts_with(&format!("~e/runtime.tenant.tenant-a.vault/vault/{id}/v0.")),
        "{path}"
    );
    let body = h.chronos.read_link(&path, expires, &sig).await.unwrap();
    assert!(contains(&body, SECRET));
    let blob = &links.blobs["scan"];
    let (bpath, bexp, bsig) = link_parts(&blob.blob_url);
    assert_eq!(
        &h.chronos.read_link(&bpath, bexp, &bsig).await.unwrap()[..],
        BLOB_SECRET.as_bytes()
    );
    // Altered links are refused: another tenant, another object, another time, no signature.
    for (p, e, s) in [
        (path.replace("tenant-a", "tenant-b"), expires, sig.clone()),
        (path.replace("/v0.", "/v1."), expires, sig.clone()),
        (path.clone(), expires + 1, sig.clone()),
        (path.clone(), expires, "00".into()),
    ] {
        assert!(
            matches!(
                h.chronos.read_link(&p, e, &s).await,
                Err(chronos_db::payload::LinkError::Invalid)
            ),
            "{p}"
        );
    }
}

/// A link's path (after `/v1/blobs/`), expiry and signature.
fn link_parts(url: &str) -> (String, u64, String) {
    let rest = url.split("/v1/blobs/").nth(1).expect("a link");
    let (path, query) = rest.split_once('?').expect("a query");
    let mut expires = 0;
    let mut sig = String::new();
    for kv in query.split('&') {
        match kv.split_once('=') {
            Some(("expires", v)) => expires = v.parse().unwrap(),
            Some(("sig", v)) => sig = v.into(),
            _ => {}
        }
    }
    (path.to_string(), expires, sig)
}

conformance_case!(master_keys_are_checked_and_rotated);
async fn master_keys_are_checked_and_rotated(b: &dyn Backend) {
    let h = open!(b, encrypted);
    let id = secret_item(&h.coll("vault")).await;
    let knowledge = Route::tenant(DatabaseType::Knowledge, "tenant-a", "vault").unwrap();
    let kn_id = secret_item(&h.chronos.with(knowledge.clone()).unwrap()).await;
    let with_master = |master: String, previous: Vec<String>| {
        let mut cfg = h.config.clone();
        cfg.encryption = Some(EncryptionSettings {
            enabled: true,
            master_key: master,
            previous_master_keys: previous,
            ..Default::default()
        });
        cfg
    };
    let route = Route::tenant(DatabaseType::Runtime, "tenant-a", "vault").unwrap();
    // Another master key: a clear error naming both key ids, never a wrong answer.
    let wrong = Chronos::open(with_master(key(2), vec![])).await.unwrap();
    match wrong
        .with(route.clone())
        .unwrap()
        .get_latest(&id, ReadOptions::default())
        .await
    {
        Err(Error::Encryption(msg)) => assert!(msg.contains("master key"), "{msg}"),
        other => panic!("expected an encryption error, got {other:?}"),
    }
    // The new key with the old one as previous: reads work (and re-wrap the key they use),
    // rotation re-wraps the rest, then the old key can go.
    let rotating = Chronos::open(with_master(key(2), vec![key(1)]))
        .await
        .unwrap();
    let c = rotating.with(route.clone()).unwrap();
    assert_eq!(
        c.get_latest(&id, ReadOptions::default())
            .await
            .unwrap()
            .unwrap()
            .data["note"],
        SECRET
    );
    let report = rotating
        .rotate_master_key(&["tenant-a".into()])
        .await
        .unwrap();
    assert_eq!(
        report.keys_rewrapped, 1,
        "the knowledge database's: {report:?}"
    );
    let again = rotating
        .rotate_master_key(&["tenant-a".into()])
        .await
        .unwrap();
    assert_eq!(again.keys_rewrapped, 0);
    let rotated = Chronos::open(with_master(key(2), vec![])).await.unwrap();
    for (route, id) in [(route, &id), (knowledge, &kn_id)] {
        let c = rotated.with(route).unwrap();
        assert_eq!(
            c.get_latest(id, ReadOptions::default())
                .await
                .unwrap()
                .unwrap()
                .data["note"],
            SECRET
        );
    }
}

conformance_case!(shredding_a_tenant_leaves_the_others_readable);
async fn shredding_a_tenant_leaves_the_others_readable(b: &dyn Backend) {
    let h = open!(b, encrypted);
    let a = h.coll("vault");
    let a_id = secret_item(&a).await;
    a.update(&a_id, json!({"owner": OWNER}), 0, "app", "")
        .await
        .unwrap();
    let a_kn = h
        .chronos
        .with(Route::tenant(DatabaseType::Knowledge, "tenant-a", "vault").unwrap())
        .unwrap();
    let a_kn_id = secret_item(&a_kn).await;
    let bee = h.tenant("tenant-b", "vault");
    let b_id = secret_item(&bee).await;
    let objects_before = raw_objects(&h, &format!("vault/{a_id}/")).await;

    let report = h
        .chronos
        .shred_tenant("tenant-a", "dpo", "contract ended")
        .await
        .unwrap();
    assert!(report.keys_destroyed >= 2, "{report:?}");
    erased(a.get_latest(&a_id, ReadOptions::default()).await);
    erased(a.get_version(&a_id, 0, ReadOptions::default()).await);
    erased(a_kn.get_latest(&a_kn_id, ReadOptions::default()).await);
    // The objects are still there (and in any copy of the bucket), but undecryptable, also
    // for a process that never saw the key.
    assert_eq!(
        raw_objects(&h, &format!("vault/{a_id}/")).await,
        objects_before
    );
    let fresh = Chronos::open(h.config.clone()).await.unwrap();
    erased(
        fresh
            .with(Route::tenant(DatabaseType::Runtime, "tenant-a", "vault").unwrap())
            .unwrap()
            .get_latest(&a_id, ReadOptions::default())
            .await,
    );
    // Tenant B reads as before; tenant A's new writes get a new key.
    assert_eq!(
        bee.get_latest(&b_id, ReadOptions::default())
            .await
            .unwrap()
            .unwrap()
            .data["note"],
        SECRET
    );
    let new_id = secret_item(&a).await;
    assert_eq!(
        a.get_latest(&new_id, ReadOptions::default())
            .await
            .unwrap()
            .unwrap()
            .data["note"],
        SECRET
    );
    let again = h
        .chronos
        .shred_tenant("tenant-a", "dpo", "again")
        .await
        .unwrap();
    assert!(again.keys_destroyed >= 1);
    erased(a.get_latest(&new_id, ReadOptions::default()).await);
    assert!(matches!(
        h.chronos.shred_tenant("../x", "dpo", "").await,
        Err(Error::Validation(_))
    ));
}

/// Keys per data subject: `vault.owner` names the subject.
fn per_subject(cfg: &mut ChronosConfig) {
    encrypted(cfg);
    if let Some(e) = cfg.encryption.as_mut() {
        e.scope = Some("subject".into());
    }
    cfg.erasure = Some(chronos_db::config::ErasureSettings {
        receipt_key: "conformance-receipt-key-0123456789abcdef".into(),
    });
    if let Some(m) = cfg.collection_maps.get_mut("vault") {
        m.subject_props = vec!["owner".into()];
    }
}

/// The key ids of the objects under `prefix`.
async fn kids(h: &Harness, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = raw_objects(h, prefix)
        .await
        .iter()
        .map(|(key, bytes)| {
            envelope(bytes)
                .unwrap_or_else(|| panic!("{key} is not encrypted"))
                .0
                .to_string()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

conformance_case!(subject_erasure_destroys_the_subjects_keys);
async fn subject_erasure_destroys_the_subjects_keys(b: &dyn Backend) {
    let h = open!(b, per_subject);
    let c = h.coll("vault");
    let ada = secret_item(&c).await;
    let other_subject = c
        .create(
            json!({"owner": "grace-hopper-1906", "note": SECRET}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap()
        .id;
    let no_subject = c
        .create(json!({"note": SECRET}), "app", "", Default::default())
        .await
        .unwrap()
        .id;
    let same_value_elsewhere = secret_item(&h.tenant("tenant-b", "vault")).await;

    // Each subject has its own key; an item without one uses the tenant's.
    let ada_kids = kids(&h, &format!("vault/{ada}/")).await;
    assert_eq!(ada_kids.len(), 1, "{ada_kids:?}");
    assert!(ada_kids[0].starts_with("tenant:tenant-a/subject:"));
    let grace_kids = kids(&h, &format!("vault/{other_subject}/")).await;
    assert!(grace_kids[0].starts_with("tenant:tenant-a/subject:") && grace_kids != ada_kids);
    let plain_kids = kids(&h, &format!("vault/{no_subject}/")).await;
    assert!(
        plain_kids[0].starts_with("tenant:tenant-a:"),
        "{plain_kids:?}"
    );
    // A copy of the objects taken before the erasure (a backup).
    let backup = raw_objects(&h, &format!("vault/{ada}/")).await;
    assert!(!backup.is_empty());

    let report = h
        .chronos
        .erasure()
        .erase_subject(
            "tenant-a",
            &json!(OWNER),
            &chronos_db::erasure::SubjectErasureOptions {
                actor: "dpo".into(),
                reason: "art. 17".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((report.items, report.keys_destroyed), (1, 1), "{report:?}");
    erased(c.get_latest(&ada, ReadOptions::default()).await);
    // The key of the backup's objects is gone from the database: its ciphertext cannot be
    // opened by anyone, wherever copies of it live.
    let stores: Vec<_> = h.metas.lock().unwrap().clone();
    let mut destroyed = false;
    for s in &stores {
        if let Ok(Some(k)) = s.get_key(&ada_kids[0]).await {
            assert!(k.destroyed && k.wrapped.is_empty(), "{k:?}");
            destroyed = true;
        }
        for live in [&grace_kids[0], &plain_kids[0]] {
            if let Ok(Some(k)) = s.get_key(live).await {
                assert!(!k.destroyed, "{live}");
            }
        }
    }
    assert!(destroyed, "the subject's key was not found");
    // Other subjects, items without one, and the same value in another tenant read as before.
    for (coll, id) in [
        (&c, &other_subject),
        (&c, &no_subject),
        (&h.tenant("tenant-b", "vault"), &same_value_elsewhere),
    ] {
        assert_eq!(
            coll.get_latest(id, ReadOptions::default())
                .await
                .unwrap()
                .unwrap()
                .data["note"],
            SECRET
        );
    }
    // A new item of the erased subject gets a new key.
    let again = secret_item(&c).await;
    let again_kids = kids(&h, &format!("vault/{again}/")).await;
    assert_ne!(again_kids, ada_kids);
    assert_eq!(
        c.get_latest(&again, ReadOptions::default())
            .await
            .unwrap()
            .unwrap()
            .data["note"],
        SECRET
    );
}
