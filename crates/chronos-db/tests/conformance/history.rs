//! Time travel and history pages.

use crate::harness::Backend;
use crate::support::*;
use chronos_db::{Error, HistoryOptions, ReadOptions, Timestamp};
use serde_json::json;

conformance_case!(time_travel);
async fn time_travel(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("docs");
    let before = Timestamp::now();
    tick().await;
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    tick().await;
    let t0 = Timestamp::now();
    tick().await;
    c.update(&r.id, json!({"v": 1}), 0, "a", "r").await.unwrap();
    tick().await;
    let t1 = Timestamp::now();
    tick().await;
    c.delete(&r.id, 1, "a", "r").await.unwrap();
    tick().await;
    let t2 = Timestamp::now();
    let at = |t| c.get_as_of(&r.id, t, ReadOptions::default());
    assert!(at(before).await.unwrap().is_none(), "did not exist yet");
    assert_eq!(at(t0).await.unwrap().unwrap().data["v"], json!(0));
    assert_eq!(at(t1).await.unwrap().unwrap().data["v"], json!(1));
    assert_eq!(at(t1).await.unwrap().unwrap().system.ov, 1);
    assert!(at(t2).await.unwrap().is_none(), "deleted at t2");
    let del = c
        .get_as_of(
            &r.id,
            t2,
            ReadOptions {
                include_deleted: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(del.system.deleted);
    // The exact commit time of a version selects that version.
    let v1 = c
        .get_version(&r.id, 1, Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.get_as_of(&r.id, v1.system.updated_at, Default::default())
            .await
            .unwrap()
            .unwrap()
            .system
            .ov,
        1
    );
    assert_eq!(
        c.get_version(&r.id, 0, Default::default())
            .await
            .unwrap()
            .unwrap()
            .data["v"],
        json!(0)
    );
    assert!(c
        .get_version(&r.id, 7, Default::default())
        .await
        .unwrap()
        .is_none());
    assert!(
        c.get_version(&r.id, 2, Default::default())
            .await
            .unwrap()
            .is_none(),
        "ov 2 is a deletion"
    );
}

conformance_case!(history_pages);
async fn history_pages(b: &dyn Backend) {
    let h = open!(b);
    let c = h.coll("docs");
    let r = c
        .create(json!({"v": 0}), "a", "r", Default::default())
        .await
        .unwrap();
    for ov in 0..4 {
        c.update(&r.id, json!({"v": ov + 1}), ov, "a", &format!("step {ov}"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = c
            .history(
                &r.id,
                HistoryOptions {
                    limit: Some(2),
                    before_ov: before,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        seen.extend(page.versions.iter().map(|v| v.ov));
        match page.next_before_ov {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, vec![4, 3, 2, 1, 0]);
    let all = c.history(&r.id, Default::default()).await.unwrap();
    let cvs: Vec<u64> = all.versions.iter().map(|v| v.cv).collect();
    assert!(
        cvs.windows(2).all(|w| w[0] > w[1]),
        "cv decreases going back: {cvs:?}"
    );
    assert_eq!(all.versions[0].reason.as_deref(), Some("step 3"));
    assert!(matches!(
        c.history("missing", Default::default()).await.unwrap_err(),
        Error::NotFound(_)
    ));
    assert!(matches!(
        c.history(
            &r.id,
            HistoryOptions {
                limit: Some(0),
                ..Default::default()
            }
        )
        .await
        .unwrap_err(),
        Error::Validation(_)
    ));
}
