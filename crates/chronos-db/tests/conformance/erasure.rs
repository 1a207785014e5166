//! Erasure: an erased item keeps only its tombstone (every object gone, every version row
//! emptied, every read refused), subject erasure finds a subject in any version and stays
//! inside its tenant, receipts verify and show tampering, and an erasure interrupted at any
//! step completes when run again.

use crate::harness::{Backend, Harness};
use chronos_db::config::{ChronosConfig, ErasureSettings};
use chronos_db::erasure::SubjectErasureOptions;
use chronos_db::ops::{EraseOptions, EraseStep};
use chronos_db::{
    Collection, CollectionTarget, DatabaseType, Error, ListOptions, Op, ReadOptions,
    RestoreOptions, RestoreTarget, Route, Timestamp,
};
use serde_json::{json, Value};

const PHOTO: &str = "aGVsbG8gd29ybGQ="; // "hello world"

pub fn erasable(cfg: &mut ChronosConfig) {
    cfg.erasure = Some(ErasureSettings {
        receipt_key: "conformance-receipt-key-0123456789abcdef".into(),
    });
    cfg.dev_shadow.enabled = true;
    cfg.collection_maps.insert(
        "customers".into(),
        serde_json::from_value(json!({
            "indexedProps": ["customerId", "email", "status"],
            "subjectProps": ["customerId", "email"],
            "base64Props": {"photo": {"contentType": "image/png"}}
        }))
        .unwrap(),
    );
}

fn by(actor: &str) -> EraseOptions {
    EraseOptions {
        actor: actor.into(),
        reason: "art. 17 request".into(),
        ..Default::default()
    }
}

fn erased<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::Erased { .. }) => {}
        other => panic!("expected Erased, got {other:?}"),
    }
}

/// A customer with three versions (the first with a photo blob); its id.
async fn customer(c: &Collection, customer_id: &str) -> String {
    let id = c
        .create(
            json!({"customerId": customer_id, "email": "ada@example.com", "status": "new", "photo": PHOTO}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap()
        .id;
    c.update(
        &id,
        json!({"customerId": customer_id, "email": "ada@example.com", "status": "active"}),
        0,
        "app",
        "",
    )
    .await
    .unwrap();
    c.enrich(&id, json!({"note": "vip"}), Default::default())
        .await
        .unwrap();
    id
}

/// The raw version row `ov` of an item, from whichever store holds it.
async fn raw_row(h: &Harness, coll: &str, id: &str, ov: u64) -> chronos_db::model::StoredVersion {
    let stores: Vec<_> = h.metas.lock().unwrap().clone();
    for s in stores {
        if let Ok(Some(v)) = s.get_version(coll, id, ov).await {
            return v;
        }
    }
    panic!("no store has version {ov} of {id}");
}

/// Everything an erasure must leave: no object, every earlier row empty, every read
/// refused, the tombstone on top, a valid receipt.
async fn assert_fully_erased(h: &Harness, c: &Collection, id: &str, receipt_id: &str) {
    let prefix = format!("{}/{id}/", c.route().collection);
    assert_eq!(
        h.objects(&prefix).await,
        Vec::<String>::new(),
        "objects of {id}"
    );
    let history = c.history(id, Default::default()).await.unwrap();
    let top = &history.versions[0];
    assert_eq!(top.op, Op::Erase);
    for v in &history.versions[1..] {
        let row = raw_row(h, &c.route().collection, id, v.ov).await;
        assert!(row.shadow.is_none(), "inline copy of ov {}", v.ov);
        assert!(
            row.version.indexed.is_empty(),
            "indexed values of ov {}",
            v.ov
        );
        assert_eq!(row.version.sha256, "", "content hash of ov {}", v.ov);
        erased(c.get_version(id, v.ov, ReadOptions::default()).await);
    }
    erased(c.get_latest(id, ReadOptions::default()).await);
    let check = h.chronos.erasure().verify(receipt_id).await.unwrap();
    assert!(check.valid, "{check:?}");
}

conformance_case!(erasing_an_item_removes_every_trace_but_its_tombstone);
async fn erasing_an_item_removes_every_trace_but_its_tombstone(b: &dyn Backend) {
    let h = open!(b, erasable);
    let c = h.coll("customers");
    let id = customer(&c, "c-1").await;
    let before_erasure = Timestamp::now();
    let kept = customer(&c, "c-2").await;
    let objects = h.objects(&format!("customers/{id}/")).await;
    assert!(
        objects.len() >= 4,
        "three item.json and a blob: {objects:?}"
    );
    let kept_objects = h.objects(&format!("customers/{kept}/")).await;

    let report = c.erase(&id, by("dpo")).await.unwrap();
    assert_eq!(
        (report.ov, report.resumed, report.complete),
        (3, false, true)
    );
    assert_eq!(report.objects_deleted, objects.len() as u64);
    assert_eq!(report.versions_scrubbed, 3);
    assert_fully_erased(&h, &c, &id, &report.receipt_id).await;

    // The tombstone says what happened, when and by whom; the other item is untouched.
    let history = c.history(&id, Default::default()).await.unwrap();
    let ops: Vec<Op> = history.versions.iter().map(|v| v.op).collect();
    assert_eq!(ops, vec![Op::Erase, Op::Enrich, Op::Update, Op::Create]);
    assert_eq!(history.versions[0].actor.as_deref(), Some("dpo"));
    assert_eq!(h.objects(&format!("customers/{kept}/")).await, kept_objects);
    assert_eq!(
        c.get_latest(&kept, ReadOptions::default())
            .await
            .unwrap()
            .unwrap()
            .data["customerId"],
        "c-2"
    );

    // Every read, at any time, with or without deleted items, refuses or omits it.
    let deleted_too = ReadOptions {
        include_deleted: true,
        ..Default::default()
    };
    erased(c.get_latest(&id, deleted_too.clone()).await);
    erased(c.get_as_of(&id, before_erasure, deleted_too).await);
    for opts in [
        ListOptions {
            include_deleted: true,
            ..Default::default()
        },
        ListOptions {
            as_of_time: Some(before_erasure),
            ..Default::default()
        },
        ListOptions {
            filter: Some(json!({"customerId": "c-1"})),
            as_of_time: Some(before_erasure),
            include_deleted: true,
            ..Default::default()
        },
    ] {
        let page = c.list_by_meta(opts.clone()).await.unwrap();
        assert!(page.items.iter().all(|i| i.id != id), "{opts:?}");
        let json = serde_json::to_string(&c.list_by_meta_json(opts).await.unwrap()).unwrap();
        assert!(!json.contains(&id) && !json.contains("c-1"));
    }

    // No write brings it back; its id stays taken.
    erased(
        c.update(&id, json!({"customerId": "x"}), 3, "app", "")
            .await,
    );
    erased(c.enrich(&id, json!({"x": 1}), Default::default()).await);
    erased(c.delete(&id, 3, "app", "").await);
    erased(c.restore_object(&id, RestoreTarget::Ov(1), "app", "").await);
    let again = chronos_db::CreateOptions {
        id: Some(id.clone()),
        ..Default::default()
    };
    assert!(matches!(
        c.create(json!({"a": 1}), "app", "", again).await,
        Err(Error::AlreadyExists { .. })
    ));
    let restore = c
        .restore_collection(
            CollectionTarget::At(before_erasure),
            RestoreOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(restore.erased, 1);
    erased(c.get_version(&id, 0, ReadOptions::default()).await);

    // Running it again completes nothing new and finds the same receipt.
    let rerun = c.erase(&id, by("dpo")).await.unwrap();
    assert_eq!(
        (
            rerun.resumed,
            rerun.objects_deleted,
            rerun.versions_scrubbed
        ),
        (true, 0, 0)
    );
    assert_eq!(rerun.receipt_id, report.receipt_id);
}

conformance_case!(receipts_name_nothing_and_show_tampering);
async fn receipts_name_nothing_and_show_tampering(b: &dyn Backend) {
    let h = open!(b, erasable);
    let c = h.coll("customers");
    let id = customer(&c, "c-1").await;
    let report = c.erase(&id, by("dpo")).await.unwrap();
    let receipts = h.chronos.with(Route::logs("erasures").unwrap()).unwrap();
    let stored = receipts
        .get_latest(&report.receipt_id, ReadOptions::default())
        .await
        .unwrap()
        .unwrap();
    let text = Value::Object(stored.data.clone()).to_string();
    assert!(
        !text.contains(&id) && !text.contains("c-1") && !text.contains("ada@"),
        "{text}"
    );
    assert_eq!(stored.data["versionsRemoved"], 3);
    assert_eq!(stored.data["route"]["tenantId"], "tenant-a");
    let check = h
        .chronos
        .erasure()
        .verify(&report.receipt_id)
        .await
        .unwrap();
    assert!(check.valid);

    // A forged copy with one number changed fails on its signature ...
    let mut forged = stored.data.clone();
    forged.insert("receiptId".into(), json!("er-forged"));
    let create = chronos_db::CreateOptions {
        id: Some("er-forged".into()),
        ..Default::default()
    };
    receipts
        .create(Value::Object(forged.clone()), "x", "", create.clone())
        .await
        .unwrap();
    let check = h.chronos.erasure().verify("er-forged").await.unwrap();
    assert!(!check.valid);
    assert!(check.problem.unwrap().contains("altered"));
    // ... and a receipt rewritten in place fails too.
    let mut changed = stored.data.clone();
    changed.insert("objectsRemoved".into(), json!(0));
    receipts
        .update(&report.receipt_id, Value::Object(changed), 0, "x", "")
        .await
        .unwrap();
    let check = h
        .chronos
        .erasure()
        .verify(&report.receipt_id)
        .await
        .unwrap();
    assert!(!check.valid);
    assert!(check.problem.unwrap().contains("rewritten"));
    assert!(matches!(
        h.chronos.erasure().verify("er-missing").await,
        Err(Error::NotFound(_))
    ));
}

conformance_case!(subject_erasure_finds_old_versions_and_stays_in_its_tenant);
async fn subject_erasure_finds_old_versions_and_stays_in_its_tenant(b: &dyn Backend) {
    let h = open!(b, erasable);
    let a = h.coll("customers");
    // Held c-1 once; its latest version names another customer.
    let moved = customer(&a, "c-1").await;
    a.update(
        &moved,
        json!({"customerId": "c-5", "email": "other@example.com"}),
        2,
        "app",
        "",
    )
    .await
    .unwrap();
    let by_email = a
        .create(
            json!({"customerId": "c-6", "email": "c-1"}),
            "app",
            "",
            Default::default(),
        )
        .await
        .unwrap()
        .id;
    let never = customer(&a, "c-3").await;
    let tenant_b = h.tenant("tenant-b", "customers");
    let b_item = customer(&tenant_b, "c-1").await;
    let knowledge = |route: Route| h.chronos.with(route).unwrap();
    let a_knowledge =
        knowledge(Route::tenant(DatabaseType::Knowledge, "tenant-a", "customers").unwrap());
    let a_kn_item = customer(&a_knowledge, "c-1").await;
    let shared = knowledge(Route::generic(DatabaseType::Knowledge, "customers").unwrap());
    let shared_item = customer(&shared, "c-1").await;

    let erasure = h.chronos.erasure();
    let dry = SubjectErasureOptions {
        dry_run: true,
        ..Default::default()
    };
    let plan = erasure
        .erase_subject("tenant-a", &json!("c-1"), &dry)
        .await
        .unwrap();
    let mut planned: Vec<String> = plan
        .collections
        .iter()
        .flat_map(|c| c.ids.clone())
        .collect();
    planned.sort();
    let mut expected = vec![moved.clone(), by_email.clone(), a_kn_item.clone()];
    expected.sort();
    assert_eq!(planned, expected);
    assert!(a
        .get_latest(&moved, ReadOptions::default())
        .await
        .unwrap()
        .is_some());

    let opts = SubjectErasureOptions {
        actor: "dpo".into(),
        reason: "request 7".into(),
        ..Default::default()
    };
    let done = erasure
        .erase_subject("tenant-a", &json!("c-1"), &opts)
        .await
        .unwrap();
    assert_eq!(done.items, 3);
    for coll in &done.collections {
        assert_eq!(coll.route.tenant_id.as_deref(), Some("tenant-a"));
        for receipt in &coll.receipt_ids {
            let check = erasure.verify(receipt).await.unwrap();
            assert!(check.valid);
            let r = check.receipt.unwrap();
            assert_eq!(
                (r.kind.as_str(), r.subject_hash.as_deref()),
                ("subject", Some(done.subject_hash.as_str()))
            );
        }
    }
    for (c, id) in [(&a, &moved), (&a, &by_email), (&a_knowledge, &a_kn_item)] {
        erased(c.get_latest(id, ReadOptions::default()).await);
        assert_eq!(h.objects(&format!("customers/{id}/")).await.len(), 0);
    }
    // Other tenants, other subjects and the shared tier are untouched.
    for (c, id) in [(&a, &never), (&tenant_b, &b_item), (&shared, &shared_item)] {
        assert!(c
            .get_version(id, 0, ReadOptions::default())
            .await
            .unwrap()
            .is_some());
    }
    // Nothing is left to find; the shared tier is searched when asked for.
    let rerun = erasure
        .erase_subject("tenant-a", &json!("c-1"), &opts)
        .await
        .unwrap();
    assert_eq!(rerun.items, 0);
    let with_shared = SubjectErasureOptions {
        include_generic: true,
        ..opts.clone()
    };
    let shared_run = erasure
        .erase_subject("tenant-a", &json!("c-1"), &with_shared)
        .await
        .unwrap();
    assert_eq!(shared_run.items, 1);
    erased(
        shared
            .get_latest(&shared_item, ReadOptions::default())
            .await,
    );
    assert!(tenant_b
        .get_latest(&b_item, ReadOptions::default())
        .await
        .unwrap()
        .is_some());

    // Bad input is refused before anything happens.
    for bad in [json!({"a": 1}), json!(null), json!([1])] {
        assert!(matches!(
            erasure.erase_subject("tenant-a", &bad, &opts).await,
            Err(Error::Validation(_))
        ));
    }
    assert!(erasure
        .erase_subject("../x", &json!("c-1"), &opts)
        .await
        .is_err());
}

conformance_case!(an_erasure_interrupted_anywhere_completes_on_a_rerun);
async fn an_erasure_interrupted_anywhere_completes_on_a_rerun(b: &dyn Backend) {
    let h = open!(b, erasable);
    let c = h.coll("customers");
    // Stopped cleanly after each step: reads are refused from the tombstone on.
    for step in [EraseStep::Tombstone, EraseStep::Receipt, EraseStep::Objects] {
        let id = customer(&c, "c-1").await;
        let halted = EraseOptions {
            halt_after: Some(step),
            ..by("dpo")
        };
        let first = c.erase(&id, halted).await.unwrap();
        assert!(!first.complete);
        erased(c.get_version(&id, 0, ReadOptions::default()).await);
        let rerun = c.erase(&id, by("dpo")).await.unwrap();
        assert!(rerun.resumed && rerun.complete);
        assert_eq!(rerun.receipt_id, first.receipt_id, "{step:?}");
        assert_fully_erased(&h, &c, &id, &rerun.receipt_id).await;
    }
    // Found and completed by a collection-wide resume, too.
    let id = customer(&c, "c-1").await;
    let halted = EraseOptions {
        halt_after: Some(EraseStep::Tombstone),
        ..by("dpo")
    };
    c.erase(&id, halted).await.unwrap();
    let resumed = c.resume_erasures().await.unwrap();
    assert!(
        resumed.erased_items >= 4 && resumed.objects_deleted >= 4,
        "{resumed:?}"
    );
    let done = c.erase(&id, by("dpo")).await.unwrap();
    assert_eq!((done.objects_deleted, done.versions_scrubbed), (0, 0));
    assert_fully_erased(&h, &c, &id, &done.receipt_id).await;
    // A failure at each metadata call in turn (with and without the call taking effect),
    // then at each object deletion.
    for after_effect in [false, true] {
        for k in 1..80 {
            let id = customer(&c, "c-1").await;
            h.meta_fault.arm(k, after_effect);
            let failed = c.erase(&id, by("dpo")).await.is_err();
            let calls = h.meta_fault.calls.load(std::sync::atomic::Ordering::SeqCst);
            h.meta_fault.disarm();
            let done = c.erase(&id, by("dpo")).await.unwrap();
            assert_fully_erased(&h, &c, &id, &done.receipt_id).await;
            if !failed && calls < k {
                break; // the erasure made fewer calls than k: every position was covered
            }
            assert!(k < 79, "erasure never finished without reaching the fault");
        }
    }
    for k in 1..10 {
        let id = customer(&c, "c-1").await;
        h.delete_fault.arm(k, false);
        let failed = c.erase(&id, by("dpo")).await.is_err();
        h.delete_fault.disarm();
        let done = c.erase(&id, by("dpo")).await.unwrap();
        assert_fully_erased(&h, &c, &id, &done.receipt_id).await;
        if !failed {
            break;
        }
    }
    // A subject erasure that failed halfway is completed by running it again.
    let ids = [customer(&c, "c-9").await, customer(&c, "c-9").await];
    h.delete_fault.arm(2, false);
    let opts = SubjectErasureOptions {
        actor: "dpo".into(),
        ..Default::default()
    };
    assert!(h
        .chronos
        .erasure()
        .erase_subject("tenant-a", &json!("c-9"), &opts)
        .await
        .is_err());
    h.delete_fault.disarm();
    let done = h
        .chronos
        .erasure()
        .erase_subject("tenant-a", &json!("c-9"), &opts)
        .await
        .unwrap();
    assert!(done.items >= 1);
    for id in &ids {
        let receipt = h
            .chronos
            .erasure()
            .erase_subject("tenant-a", &json!("c-9"), &opts)
            .await
            .unwrap();
        assert_eq!(receipt.items, 0);
        let report = c.erase(id, by("dpo")).await.unwrap();
        assert!(report.resumed);
        assert_fully_erased(&h, &c, id, &report.receipt_id).await;
    }
}
