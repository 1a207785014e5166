//! Unit tests of the MongoDB store beyond the shared contract: row layout, repairs,
//! transactions, cv allocation. Run against `CHRONOS_TEST_MONGO_URI` (default
//! `mongodb://127.0.0.1:27017`); without a server they are skipped, under CI they fail.

//! Run against `CHRONOS_TEST_MONGO_URI` (default `mongodb://127.0.0.1:27017`, e.g. the
//! FerretDB of `scripts/test-servers.sh`); each test prints "skipped: ..." and passes when
//! no server answers. Every test uses its own database and drops it at the end.
use super::txn::TxnStep;
use super::*;
use serde_json::json;

pub(super) struct Env {
    pub(super) store: MongoStore,
    pub(super) client: Client,
    pub(super) db: String,
}

impl Env {
    pub(super) async fn drop(self) {
        let _ = self.client.database(&self.db).drop().await;
    }
}

/// Skips (prints why and returns `None`) when no server answers, except under CI
/// (`CI=true`), where a missing server fails the test.
fn unavailable(why: String) -> Option<Env> {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("a MongoDB server is required in CI: {why}");
    }
    println!("skipped: {why}");
    None
}

pub(super) async fn env(name: &str) -> Option<Env> {
    let uri = std::env::var("CHRONOS_TEST_MONGO_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let client = match connect(&uri, Duration::from_secs(3)).await {
        Ok(c) => c,
        Err(e) => return unavailable(e.to_string()),
    };
    if let Err(e) = client.database("admin").run_command(doc! {"ping": 1}).await {
        return unavailable(format!("no MongoDB at {} ({})", redact(&uri), map_err(e)));
    }
    let db = format!("chronos_t_{name}_{:08x}", rand::random::<u32>());
    Some(Env {
        store: MongoStore::new(client.clone(), &db),
        client,
        db,
    })
}

/// Drops the test database when the case ends.
struct DropDatabase(Client, String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let db = self.0.database(&self.1);
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let _ = db.drop().await;
            })
        });
    }
}

mod contract {
    use super::*;
    crate::meta::contract::contract_tests!(async {
        let e = env("contract").await?;
        let store: std::sync::Arc<dyn MetadataStore> = std::sync::Arc::new(e.store);
        Some((store, DropDatabase(e.client, e.db)))
    });
}

use crate::meta::contract::{ids, now, put, query, record, spec, write};

/// Losing commits leave no version row behind (not even an invisible one).
#[tokio::test]
async fn losing_commits_leave_no_rows() {
    let Some(e) = env("losers").await else { return };
    let s = &e.store;
    s.ensure_collection(&spec("items", &[])).await.unwrap();
    put(s, "items", "a", &[json!({}), json!({})], 100).await;
    let lost = s
        .commit("items", write(record("a", 1, json!({}), 201), true))
        .await;
    assert_eq!(
        lost,
        Err(MetaError::Conflict {
            current_ov: Some(1)
        })
    );
    let missing = s
        .commit("items", write(record("zz", 3, json!({}), 1), true))
        .await;
    assert_eq!(missing, Err(MetaError::Conflict { current_ov: None }));
    let rows = e
        .client
        .database(&e.db)
        .collection::<Document>("items_ver")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(rows, 2);
    e.drop().await;
}

/// Sort values that are objects travel in cursors as BSON (hex), so pages after them
/// compare exactly.
#[tokio::test]
async fn object_sort_values_travel_in_cursors() {
    let Some(e) = env("objcursor").await else {
        return;
    };
    let s = &e.store;
    let sp = spec("q", &["v"]);
    s.ensure_collection(&sp).await.unwrap();
    for (id, v) in [
        ("a", json!(1)),
        ("b", json!({"o": 1})),
        ("c", json!({"o": 2})),
    ] {
        put(s, "q", id, &[json!({ "v": v })], 10).await;
    }
    let q = query(&sp, json!({}), json!({"v": 1}), 2, None);
    let page = s.query(&sp, &q).await.unwrap();
    let next = page.next.unwrap();
    assert!(matches!(&next.values[0], Scalar::Str(t) if t.starts_with(CURSOR_BSON)));
    let mut q2 = q;
    q2.after = Some(next);
    assert_eq!(ids(&s.query(&sp, &q2).await.unwrap()), ["c"]);
    e.drop().await;
}

/// A commit whose bookkeeping (rule 5) was lost leaves the previous version open; the
/// as-of page check closes it, so each state shows exactly one version of the item.
#[tokio::test]
async fn lost_bookkeeping_is_repaired_by_readers() {
    let Some(e) = env("asofrepair").await else {
        return;
    };
    let s = &e.store;
    let sp = spec("h", &["state"]);
    s.ensure_collection(&sp).await.unwrap();
    let q = |filter: Value, as_of: AsOf| query(&sp, filter, json!({}), 50, Some(as_of));
    let spr = &sp;
    let run = |q: Query| async move { ids(&s.query(spr, &q).await.unwrap()) };
    let cv = put(s, "h", "d", &[json!({"state": "new"})], 5_000).await[0];
    let d1 = s
        .commit(
            "h",
            write(record("d", 1, json!({"state": "old"}), 5_001), true),
        )
        .await
        .unwrap()
        .cv;
    let ver = e.client.database(&e.db).collection::<Document>("h_ver");
    ver.update_one(
        doc! {"id": "d", "ov": 0},
        doc! {"$set": {"next_cv": null, "next_at": null}},
    )
    .await
    .unwrap();
    assert_eq!(run(q(json!({"state": "old"}), AsOf::Cv(d1))).await, ["d"]);
    assert!(run(q(json!({"state": "new"}), AsOf::Cv(d1)))
        .await
        .iter()
        .all(|i| i != "d"));
    assert_eq!(run(q(json!({"state": "new"}), AsOf::Cv(cv))).await, ["d"]);
    let row = ver
        .find_one(doc! {"id": "d", "ov": 0})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get_int(&row, "next_cv"), Some(d1 as i64));
    assert_eq!(s.cv_as_of("h", Timestamp(5_001)).await.unwrap(), d1);
    e.drop().await;
}

#[test]
fn redaction_and_key_escaping() {
    let m = redact("connection to mongodb://alice:s3cr%40t@db.example:27017/?authSource=admin&password=x failed");
    assert!(
        !m.contains("alice") && !m.contains("s3cr") && !m.contains("=x"),
        "{m}"
    );
    for k in ["a", "a.b", "$x", "_%y", "%", "a\0b", "", "_x", "ü.$%"] {
        assert_eq!(unescape_key(&escape_key(k)), k);
        let e = escape_key(k);
        assert!(
            !e.starts_with('$') && !e.contains('.') && !e.contains('\0'),
            "{e}"
        );
    }
    let v = json!({"i": 1, "f": 1.0, "big": u64::MAX, "neg": -5, "s": "x", "n": null,
                   "o": {"a.b": [1, 2.5, {"$c": true}]}});
    let back = bson_to_json(json_to_bson(&v));
    assert_eq!(back["i"], json!(1));
    assert!(back["i"].is_i64() && back["f"].is_f64() && back["neg"].is_i64());
    assert_eq!(back["o"], v["o"]);
    assert_eq!(back["s"], v["s"]);
}

/// A row left by a writer that stalled or died before its head CAS (hand-made here).
pub(super) fn leftover(id: &str, ov: u64, base: Bson, written: i64) -> Document {
    let cv = 7_000 + ov as i64 + if id == "z" { 1_000 } else { 0 };
    let mut d = version_fields(&record(id, ov, json!({"left": true}), 5), cv, None).unwrap();
    d.insert("_id", ObjectId::new());
    d.insert("id", id);
    d.insert("base", base);
    d.insert("written", written);
    d.insert("committed", false);
    d.insert("next_cv", Bson::Null);
    d.insert("next_at", Bson::Null);
    d
}

/// A row whose writer stalled or died blocks nobody for long: it is committed on its
/// writer's behalf; rows nobody can commit any more are removed.
#[tokio::test]
async fn stalled_rows_are_rolled_forward() {
    let Some(e) = env("stale").await else { return };
    let s = &e.store;
    let sp = spec("s", &[]);
    s.ensure_collection(&sp).await.unwrap();
    put(s, "s", "a", &[json!({})], 1).await;
    let ver = e.client.database(&e.db).collection::<Document>("s_ver");
    let heads = e.client.database(&e.db).collection::<Document>("s_head");
    let fence = |id: &'static str| {
        let heads = heads.clone();
        async move { fence_of(&heads.find_one(doc! {"_id": id}).await.unwrap().unwrap()) }
    };
    let old = now() - 120_000_000;

    // A fresh row at head.ov + 1: a writer in flight, so this one is refused.
    ver.insert_one(leftover("a", 1, fence("a").await, now()))
        .await
        .unwrap();
    let r = s
        .commit("s", write(record("a", 1, json!({}), 10), true))
        .await;
    assert_eq!(
        r,
        Err(MetaError::Conflict {
            current_ov: Some(0)
        })
    );
    assert_eq!(s.get_head("s", "a").await.unwrap().unwrap().version.ov, 0);
    // Once stale it is rolled forward: the head moves to it and the late writer is told
    // the item moved on.
    ver.update_one(doc! {"id": "a", "ov": 1}, doc! {"$set": {"written": old}})
        .await
        .unwrap();
    let r = s
        .commit("s", write(record("a", 1, json!({}), 10), true))
        .await;
    assert_eq!(
        r,
        Err(MetaError::Conflict {
            current_ov: Some(1)
        })
    );
    let h = s.get_head("s", "a").await.unwrap().unwrap();
    assert_eq!((h.version.ov, h.version.cv), (1, 7_001));
    assert_eq!(h.version.indexed.get("left"), Some(&json!(true)));
    let v0 = ver
        .find_one(doc! {"id": "a", "ov": 0})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get_int(&v0, "next_cv"), Some(7_001));
    s.commit("s", write(record("a", 2, json!({}), 11), true))
        .await
        .unwrap();

    // A row written against a head that is gone (another fence) can never be committed:
    // it is removed and the writer takes the slot.
    ver.insert_one(leftover("a", 3, Bson::String("gone".into()), now()))
        .await
        .unwrap();
    let c3 = s
        .commit("s", write(record("a", 3, json!({"mine": 3}), 12), true))
        .await
        .unwrap();
    assert_eq!(
        s.get_version("s", "a", 3)
            .await
            .unwrap()
            .unwrap()
            .version
            .cv,
        c3.cv
    );

    // A create meeting a stale row at ov 0 and no head: rolled forward, id taken.
    ver.insert_one(leftover("z", 0, Bson::Null, old))
        .await
        .unwrap();
    let r = s
        .commit("s", write(record("z", 0, json!({}), 10), true))
        .await;
    assert_eq!(r, Err(MetaError::AlreadyExists));
    assert_eq!(
        s.get_head("s", "z").await.unwrap().unwrap().version.cv,
        8_000
    );

    // A reader meeting a stale row at head.ov + 1 rolls it forward too.
    ver.insert_one(leftover("z", 1, fence("z").await, old))
        .await
        .unwrap();
    let q = query(&sp, json!({}), json!({}), 10, Some(AsOf::Cv(u64::MAX)));
    let page = s.query(&sp, &q).await.unwrap();
    assert_eq!(ids(&page), ["a", "z"]);
    assert_eq!(page.rows[1].version.ov, 1);
    assert_eq!(s.get_head("s", "z").await.unwrap().unwrap().version.ov, 1);

    // A purge that died after its claim: a writer completes it.
    let claim = doc! {"_id": ObjectId::new(), "id": "z", "ov": 2i64, "cv": 9_000i64,
    "at": old, "purge": true, "base": fence("z").await, "written": old,
    "next_cv": null, "next_at": null};
    ver.insert_one(claim).await.unwrap();
    let r = s
        .commit("s", write(record("z", 2, json!({}), 10), true))
        .await;
    assert_eq!(r, Err(MetaError::Conflict { current_ov: None }));
    assert!(s.get_head("s", "z").await.unwrap().is_none());
    assert_eq!(ver.count_documents(doc! {"id": "z"}).await.unwrap(), 0);
    s.commit("s", write(record("z", 0, json!({}), 10), true))
        .await
        .unwrap();
    e.drop().await;
}

/// A row above the head's ov is invisible to every reader, even when flagged committed.
#[tokio::test]
async fn rows_above_the_head_are_invisible() {
    let Some(e) = env("inflight").await else {
        return;
    };
    let s = &e.store;
    let sp = spec("i", &["k"]);
    s.ensure_collection(&sp).await.unwrap();
    let cv0 = put(s, "i", "a", &[json!({"k": "v0"})], 100).await[0];
    let ver = e.client.database(&e.db).collection::<Document>("i_ver");
    let head = e.client.database(&e.db).collection::<Document>("i_head");
    let fence = fence_of(&head.find_one(doc! {"_id": "a"}).await.unwrap().unwrap());
    let mut row = leftover("a", 1, fence, now());
    row.insert("meta", doc! {"k": "v1"});
    row.insert("cv", 999i64);
    ver.insert_one(row).await.unwrap();
    for flagged in [false, true] {
        ver.update_one(
            doc! {"id": "a", "ov": 1},
            doc! {"$set": {"committed": flagged}},
        )
        .await
        .unwrap();
        assert!(s.get_version("i", "a", 1).await.unwrap().is_none());
        let h: Vec<u64> = s
            .history("i", "a", None, 10)
            .await
            .unwrap()
            .iter()
            .map(|v| v.ov)
            .collect();
        assert_eq!(h, [0]);
        let v = s
            .version_as_of("i", "a", AsOf::Cv(1_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.version.ov, 0);
        let v = s
            .version_as_of("i", "a", AsOf::Time(Timestamp(i64::MAX)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.version.ov, 0);
        assert_eq!(s.cv_as_of("i", Timestamp(i64::MAX)).await.unwrap(), cv0);
        let q = query(&sp, json!({}), json!({}), 10, Some(AsOf::Cv(1_000)));
        let page = s.query(&sp, &q).await.unwrap();
        assert_eq!(page.rows.len(), 1);
        assert_eq!(page.rows[0].version.ov, 0);
        let q = query(
            &sp,
            json!({"k": "v1"}),
            json!({}),
            10,
            Some(AsOf::Time(Timestamp(i64::MAX))),
        );
        assert!(s.query(&sp, &q).await.unwrap().rows.is_empty());
        // A page of one: the hidden row is skipped, not counted.
        let q = query(&sp, json!({}), json!({"_id": -1}), 1, Some(AsOf::Cv(1_000)));
        let page = s.query(&sp, &q).await.unwrap();
        assert_eq!((ids(&page), page.next), (vec!["a".to_string()], None));
        assert_eq!(s.get_head("i", "a").await.unwrap().unwrap().version.ov, 0);
    }
    // The fresh row is a writer in flight: readers left it alone.
    assert_eq!(ver.count_documents(doc! {"id": "a"}).await.unwrap(), 2);
    e.drop().await;
}

/// The change feed's watermark: a writer paused between taking its cv and committing holds
/// every later version back until it commits, gives its cv up, or its slot ages out.
#[tokio::test]
async fn the_feed_waits_for_writers_inside_their_commit() {
    let Some(e) = env("feed").await else {
        return;
    };
    let s = &e.store;
    s.ensure_collection(&spec("f", &[])).await.unwrap();
    let c = s.colls("f");
    let t0 = now();
    let served = |page: &CommittedPage| -> Vec<String> {
        page.versions.iter().map(|v| v.version.id.clone()).collect()
    };
    let first = s
        .commit("f", write(record("a", 0, json!({}), t0), true))
        .await
        .unwrap();
    // A writer takes its cv and pauses there; another commits above it.
    let paused = s.next_cv("f", &c).await.unwrap();
    let later = s
        .commit("f", write(record("b", 0, json!({}), t0 + 1), true))
        .await
        .unwrap();
    assert!(later.cv as i64 > paused);
    let page = s.visible_page("f", 0, 10).await.unwrap();
    assert_eq!(served(&page), ["a"]);
    assert_eq!(page.settled, first.cv);
    // It inserts its row (not committed yet): still held.
    let c_rec = record("c", 0, json!({}), t0 + 2);
    let (_, row) = new_row(&c_rec, paused, None, &HeadState::Absent, None).unwrap();
    s.insert_row(&c, "c", &row, &HeadState::Absent)
        .await
        .unwrap();
    let page = s.visible_page("f", first.cv, 10).await.unwrap();
    assert!(page.versions.is_empty());
    assert_eq!(page.settled, first.cv);
    // It commits: both come, in cv order.
    s.cas_head(&c, "c", &HeadState::Absent, &row).await.unwrap();
    let page = s.visible_page("f", first.cv, 10).await.unwrap();
    assert_eq!(served(&page), ["c", "b"]);
    assert_eq!(page.settled, later.cv);

    // A cv given up holds nothing back...
    let gone = s.next_cv("f", &c).await.unwrap();
    let d = s
        .commit("f", write(record("d", 0, json!({}), t0 + 3), true))
        .await
        .unwrap();
    assert!(s
        .visible_page("f", later.cv, 10)
        .await
        .unwrap()
        .versions
        .is_empty());
    s.give_up_cv(&c, gone).await;
    let page = s.visible_page("f", later.cv, 10).await.unwrap();
    assert_eq!((served(&page), page.settled), (vec!["d".to_string()], d.cv));
    // ...and neither does a slot without a row once it is older than a writer may hold it.
    let dead = s.next_cv("f", &c).await.unwrap();
    let f = s
        .commit("f", write(record("e", 0, json!({}), t0 + 4), true))
        .await
        .unwrap();
    assert!(s
        .visible_page("f", d.cv, 10)
        .await
        .unwrap()
        .versions
        .is_empty());
    c.counter
        .update_one(
            doc! {"_id": cv_key(dead)},
            doc! {"$set": {"t": now_micros() - super::feed::SLOT_IN_FLIGHT_MICROS - 1_000_000}},
        )
        .await
        .unwrap();
    let page = s.visible_page("f", d.cv, 10).await.unwrap();
    assert_eq!((served(&page), page.settled), (vec!["e".to_string()], f.cv));
    // A refused write gives its cv up by itself: the feed does not wait for it.
    assert!(s
        .commit("f", write(record("e", 0, json!({"x": 1}), t0 + 5), true))
        .await
        .is_err());
    let g = s
        .commit("f", write(record("g", 0, json!({}), t0 + 6), true))
        .await
        .unwrap();
    let page = s.visible_page("f", f.cv, 10).await.unwrap();
    assert_eq!((served(&page), page.settled), (vec!["g".to_string()], g.cv));
    // A row written against a head that no longer exists can never commit: it holds nothing.
    let orphan_cv = s.next_cv("f", &c).await.unwrap();
    let gone_head = HeadState::At(6, Bson::String("a fence long gone".into()));
    let (_, orphan) = new_row(
        &record("a", 7, json!({}), t0 + 7),
        orphan_cv,
        None,
        &gone_head,
        None,
    )
    .unwrap();
    c.ver.insert_one(orphan).await.unwrap();
    let h = s
        .commit("f", write(record("h", 0, json!({}), t0 + 8), true))
        .await
        .unwrap();
    let page = s.visible_page("f", g.cv, 10).await.unwrap();
    assert_eq!((served(&page), page.settled), (vec!["h".to_string()], h.cv));
    assert!(!page.more, "nothing else is ready");
    // A commit abandoned before its row went in (its caller went away) gives its cv up
    // when its guard drops; a disarmed guard (the row may be in) leaves the cv to age.
    let kept = s.next_cv("f", &c).await.unwrap();
    let mut armed = super::feed::UnusedCv::new(&c, kept);
    armed.disarm();
    drop(armed);
    let abandoned = s.next_cv("f", &c).await.unwrap();
    drop(super::feed::UnusedCv::new(&c, abandoned));
    let gone_flag = |cv: i64| {
        let counter = c.counter.clone();
        async move {
            counter
                .find_one(doc! {"_id": cv_key(cv)})
                .await
                .unwrap()
                .and_then(|d| d.get_bool("gone").ok())
                == Some(true)
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !gone_flag(abandoned).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned cv is marked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!gone_flag(kept).await);
    e.drop().await;
}

/// The steps of a transactional commit, run on a session without a transaction (the test
/// server has none): the same observable results as the protocol — contiguous ov, the
/// expectation checks, the previous version closed for as-of reads, older rows removed
/// with versioning off — and nothing written by a refused step.
#[tokio::test]
async fn transaction_steps_commit_like_the_protocol() {
    let Some(e) = env("txnsteps").await else {
        return;
    };
    let s = &e.store;
    s.ensure_collection(&spec("t", &["n"])).await.unwrap();
    let c = s.colls("t");
    let mut session = e.client.start_session().await.unwrap();
    let t0 = now();
    async fn step(
        s: &MongoStore,
        session: &mut mongodb::ClientSession,
        v: VersionRecord,
        keep_history: bool,
    ) -> Result<Committed, TxnStep> {
        let c = s.colls("t");
        let cv = s.next_cv("t", &c).await.unwrap();
        s.commit_steps(&c, &write(v, keep_history), cv, &mut Vec::new(), session)
            .await
    }
    let created = step(s, &mut session, record("a", 0, json!({"n": 0}), t0), true)
        .await
        .ok()
        .unwrap();
    assert!(matches!(
        step(s, &mut session, record("a", 0, json!({"n": 9}), t0), true).await,
        Err(TxnStep::Refused(MetaError::AlreadyExists))
    ));
    let updated = step(
        s,
        &mut session,
        record("a", 1, json!({"n": 1}), t0 + 10),
        true,
    )
    .await
    .ok()
    .unwrap();
    assert!(updated.cv > created.cv);
    assert!(matches!(
        step(
            s,
            &mut session,
            record("a", 1, json!({"n": 9}), t0 + 20),
            true
        )
        .await,
        Err(TxnStep::Refused(MetaError::Conflict {
            current_ov: Some(1)
        }))
    ));
    let head = s.get_head("t", "a").await.unwrap().unwrap();
    assert_eq!(head.version.ov, 1);
    assert_eq!(Value::Object(head.version.indexed.clone()), json!({"n": 1}));
    // Version 0 was closed by version 1: the as-of reads of both sides of t0 + 10.
    let at = |t| s.version_as_of("t", "a", AsOf::Time(Timestamp(t)));
    assert_eq!(at(t0 + 5).await.unwrap().unwrap().version.ov, 0);
    assert_eq!(at(t0 + 10).await.unwrap().unwrap().version.ov, 1);
    let closed = c
        .ver
        .find_one(doc! {"id": "a", "ov": 0})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get_int(&closed, "next_cv"), Some(updated.cv as i64));
    // The refused attempts left no rows: ov 0 and 1 only.
    assert_eq!(c.ver.count_documents(doc! {"id": "a"}).await.unwrap(), 2);
    // An attempt whose commit went through although its caller saw an error: the next
    // attempt of the same commit finds its row in the head and reports that success.
    let c = s.colls("t");
    let mut attempts = Vec::new();
    let w = write(record("r", 0, json!({"n": 0}), t0), true);
    let cv = s.next_cv("t", &c).await.unwrap();
    let first = s
        .commit_steps(&c, &w, cv, &mut attempts, &mut session)
        .await
        .ok()
        .unwrap();
    let cv2 = s.next_cv("t", &c).await.unwrap();
    let again = s
        .commit_steps(&c, &w, cv2, &mut attempts, &mut session)
        .await
        .ok()
        .unwrap();
    assert_eq!(again.cv, first.cv);
    assert_eq!(c.ver.count_documents(doc! {"id": "r"}).await.unwrap(), 1);
    // Versioning off: the commit removes and returns the older versions.
    let dropped = step(
        s,
        &mut session,
        record("a", 2, json!({"n": 2}), t0 + 30),
        false,
    )
    .await
    .ok()
    .unwrap();
    assert_eq!(
        dropped.dropped.iter().map(|v| v.ov).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(c.ver.count_documents(doc! {"id": "a"}).await.unwrap(), 1);
    assert_eq!(s.get_head("t", "a").await.unwrap().unwrap().version.ov, 2);
    e.drop().await;
}

/// `transactions: {enabled: true, autoDetect: false}` on a server without transactions:
/// every commit fails with an error that names the setting, and writes nothing. With
/// detection, the same server is found standalone and commits go through the protocol.
#[tokio::test]
async fn transaction_policy_on_a_standalone_server() {
    let Some(e) = env("txnpolicy").await else {
        return;
    };
    let forced =
        MongoStore::new(e.client.clone(), &e.db).with_transactions(TransactionPolicy::Always);
    forced.ensure_collection(&spec("p", &[])).await.unwrap();
    let err = forced
        .commit("p", write(record("a", 0, json!({}), now()), true))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MetaError::Backend(m) if m.message().contains("`transactions.autoDetect` is false")),
        "{err:?}"
    );
    assert!(forced.get_head("p", "a").await.unwrap().is_none());
    let c = forced.colls("p");
    assert_eq!(c.ver.count_documents(doc! {}).await.unwrap(), 0);

    let topology = Topology::default();
    let detecting = MongoStore::new(e.client.clone(), &e.db)
        .with_transactions(TransactionPolicy::WhenSupported(topology.clone()));
    detecting
        .commit("p", write(record("a", 0, json!({}), now()), true))
        .await
        .unwrap();
    assert_eq!(topology.get(), Some(&None), "FerretDB is standalone");
    assert_eq!(
        detecting
            .get_head("p", "a")
            .await
            .unwrap()
            .unwrap()
            .version
            .ov,
        0
    );
    e.drop().await;
}

/// cv allocation across independent stores (as in separate processes, each remembering
/// its own top): every cv is handed out once, each store's cvs grow, a store that fell far
/// behind still allocates above everything allocated before, and a new store finds the
/// top from nothing with lookups.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cv_allocation_across_processes() {
    let Some(e) = env("cvalloc").await else {
        return;
    };
    let stores: Vec<_> = (0..4)
        .map(|_| std::sync::Arc::new(MongoStore::new(e.client.clone(), &e.db)))
        .collect();
    let first = stores[3].next_cv("k", &stores[3].colls("k")).await.unwrap();
    let mut tasks = Vec::new();
    // Three stores with four concurrent writers each (so allocations are grouped too).
    for s in stores
        .iter()
        .take(3)
        .flat_map(|s| std::iter::repeat_n(s, 4))
    {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let c = s.colls("k");
            let mut cvs = Vec::new();
            for _ in 0..15 {
                cvs.push(s.next_cv("k", &c).await.unwrap());
            }
            cvs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let cvs = t.await.unwrap();
        assert!(cvs.windows(2).all(|w| w[0] < w[1]), "{cvs:?}");
        all.extend(cvs);
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a cv was handed out twice");
    assert!(first < all[0]);
    let behind = stores[3].next_cv("k", &stores[3].colls("k")).await.unwrap();
    assert!(behind > all[n - 1], "{behind} <= {}", all[n - 1]);
    let c = stores[0].colls("k");
    assert_eq!(counter_top(&c.counter, 0).await.unwrap(), behind);
    let fresh = MongoStore::new(e.client.clone(), &e.db);
    assert_eq!(fresh.next_cv("k", &c).await.unwrap(), behind + 1);
    e.drop().await;
}

/// Compacting the cv counter while writers in three stores (as in separate processes)
/// allocate: every cv is handed out once and grows per writer, slots below the moved floors
/// go, and a fourth store whose top fell behind every compaction still allocates above
/// everything. Floors are trusted for no time and slots go as soon as a floor is moved, so
/// every allocation races the compactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cv_counter_compaction_with_writers() {
    let Some(e) = env("cvcompact").await else {
        return;
    };
    let timing = CvTiming {
        floor_trust: Duration::ZERO,
        compaction_grace_micros: 0,
    };
    let stores: Vec<_> = (0..4)
        .map(|_| {
            std::sync::Arc::new(MongoStore::new(e.client.clone(), &e.db).with_cv_timing(timing))
        })
        .collect();
    // A collection nobody wrote to: nothing to compact, and nothing is created.
    assert_eq!(stores[0].compact_counter("empty").await.unwrap(), 0);
    let names = e
        .client
        .database(&e.db)
        .list_collection_names()
        .await
        .unwrap();
    assert!(!names.iter().any(|n| n.starts_with("empty")), "{names:?}");
    let lagging = &stores[3];
    let first = lagging.next_cv("k", &lagging.colls("k")).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for s in stores
        .iter()
        .take(3)
        .flat_map(|s| std::iter::repeat_n(s, 3))
    {
        let (s, stop) = (s.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let c = s.colls("k");
            let mut cvs = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || cvs.len() < 5 {
                cvs.push(s.next_cv("k", &c).await.unwrap());
            }
            cvs
        }));
    }
    let mut removed = 0;
    for _ in 0..12 {
        removed += stores[0].compact_counter("k").await.unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut all = Vec::new();
    for w in writers {
        let cvs = w.await.unwrap();
        assert!(cvs.windows(2).all(|w| w[0] < w[1]), "{cvs:?}");
        all.extend(cvs);
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a cv was handed out twice");
    assert!(removed > 0, "nothing was compacted ({n} cvs)");
    assert!(first < all[0]);
    // Its top is a slot compaction deleted: it finds the floor and allocates above it.
    let behind = lagging.next_cv("k", &lagging.colls("k")).await.unwrap();
    assert!(behind > all[n - 1], "{behind} <= {}", all[n - 1]);
    // Two more runs (move the floor to the top, then delete below it) leave the floors and
    // nothing else; a new store continues above.
    for _ in 0..2 {
        stores[0].compact_counter("k").await.unwrap();
    }
    let c = stores[0].colls("k");
    let left = c.counter.count_documents(doc! {}).await.unwrap();
    assert!(left <= 3, "{left} documents left in the counter");
    let fresh = MongoStore::new(e.client.clone(), &e.db);
    assert_eq!(fresh.next_cv("k", &c).await.unwrap(), behind + 1);
    e.drop().await;
}

/// cvs never go back: not over a counter of the older layout (integer slots), nor after
/// the counter collection is dropped (the floor is recomputed from the versions).
#[tokio::test]
async fn cvs_stay_above_existing_data() {
    let Some(e) = env("cvfloor").await else {
        return;
    };
    let c = e.store.colls("f");
    c.counter
        .insert_many((1..=41i64).map(|k| doc! {"_id": k}))
        .await
        .unwrap();
    let s = MongoStore::new(e.client.clone(), &e.db);
    s.ensure_collection(&spec("f", &[])).await.unwrap();
    let cvs = put(&s, "f", "a", &[json!({}), json!({})], now()).await;
    assert!(cvs[0] > 41, "{cvs:?}");
    c.counter.drop().await.unwrap();
    let fresh = MongoStore::new(e.client.clone(), &e.db);
    let v = record("a", 2, json!({}), now());
    let next = fresh.commit("f", write(v, true)).await.unwrap().cv;
    assert!(next > cvs[1], "{next} after {cvs:?}");
    e.drop().await;
}

#[tokio::test]
async fn connect_errors_hide_credentials() {
    for uri in [
        "mongodb://alice:hunter2@127.0.0.1:notaport",
        "mongodb://alice:hunter2@",
        "nosuchscheme://alice:hunter2@host",
    ] {
        let err = connect(uri, Duration::from_secs(1)).await.unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn keyset_brackets_types() {
    let sort = vec![("meta.v".to_string(), false)];
    let c = Cursor {
        values: vec![Scalar::Int(3)],
        id: "k".into(),
    };
    let d = keyset(&sort, "_id", false, &c).unwrap();
    let text = format!("{d}");
    assert!(
        text.contains("$gt") && text.contains("\"string\"") && text.contains("\"bool\""),
        "{text}"
    );
    let desc = vec![("meta.v".to_string(), true)];
    let c = Cursor {
        values: vec![Scalar::Null],
        id: "k".into(),
    };
    let d = keyset(&desc, "_id", false, &c).unwrap();
    assert!(format!("{d}").contains("$lt"), "{d}");
    assert!(keyset(
        &desc,
        "_id",
        false,
        &Cursor {
            values: vec![],
            id: "k".into()
        }
    )
    .is_err());
}
