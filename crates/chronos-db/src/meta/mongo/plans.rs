//! What the MongoDB store sends, observed through the driver's command monitoring: the
//! metadata round trips of each operation, and every query shape next to the index that
//! serves it. Run against `CHRONOS_TEST_MONGO_URI` like the other MongoDB unit tests.
//!
//! FerretDB (the test server) evaluates most filters outside its indexes, so timings there
//! cannot show whether a query is index-served; the key patterns can. `every_query_has_an_index`
//! fails when a query the store sends has no index whose key pattern serves it (see
//! [`serves`]), and prints each shape with its index and, where the server answers
//! `explain`, its winning plan.

use super::*;
use crate::meta::contract::{record, spec, write};
use crate::meta::{CounterStore, VersionAt};
use crate::query::AsOf;
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// One command the store sent: its name, its collection and the command document.
#[derive(Debug, Clone)]
struct Sent {
    name: String,
    command: Document,
}

struct Monitored {
    store: MongoStore,
    client: Client,
    db: String,
    log: Arc<Mutex<Vec<Sent>>>,
}

impl Monitored {
    /// Connects with a command monitor recording every data command on the test database.
    async fn open(name: &str) -> Option<Monitored> {
        let uri = std::env::var("CHRONOS_TEST_MONGO_URI")
            .unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
        let skip = |why: String| {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("a MongoDB server is required in CI: {why}");
            }
            println!("skipped: {why}");
        };
        let mut opts = match ClientOptions::parse(&uri).await {
            Ok(o) => o,
            Err(e) => {
                skip(map_err(e).to_string());
                return None;
            }
        };
        opts.server_selection_timeout = Some(Duration::from_secs(3));
        let db = format!("chronos_p_{name}_{:08x}", rand::random::<u32>());
        let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let (sink, watched) = (log.clone(), db.clone());
        opts.command_event_handler = Some(EventHandler::callback(move |ev: CommandEvent| {
            if let CommandEvent::Started(s) = ev {
                if s.db == watched {
                    if let Ok(mut l) = sink.lock() {
                        l.push(Sent {
                            name: s.command_name.clone(),
                            command: s.command.clone(),
                        });
                    }
                }
            }
        }));
        let client = Client::with_options(opts).ok()?;
        if let Err(e) = client.database("admin").run_command(doc! {"ping": 1}).await {
            skip(format!("no MongoDB at {} ({})", redact(&uri), map_err(e)));
            return None;
        }
        Some(Monitored {
            store: MongoStore::new(client.clone(), &db),
            client,
            db,
            log,
        })
    }

    /// The data commands sent since the last call (index and collection management left out).
    fn take(&self) -> Vec<Sent> {
        const DATA: &[&str] = &[
            "find",
            "insert",
            "update",
            "delete",
            "findAndModify",
            "aggregate",
            "count",
            "distinct",
            "getMore",
        ];
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.drain(..)
            .filter(|s| DATA.contains(&s.name.as_str()))
            .collect()
    }

    async fn drop(self) {
        let _ = self.client.database(&self.db).drop().await;
    }
}

fn describe(sent: &[Sent]) -> String {
    sent.iter()
        .map(|s| {
            let coll = s.command.get_str(&s.name).unwrap_or("?");
            format!("{} {coll}", s.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The metadata round trips of each write and read, as sent on the commit path this server
/// takes (without transactions on FerretDB and standalone servers). Printed as a table; the
/// counts are asserted so that a change adding a trip is a visible decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_per_operation() {
    let Some(m) = Monitored::open("trips").await else {
        return;
    };
    let s = &m.store;
    s.ensure_collection(&spec("rt", &["n"])).await.unwrap();
    // Warm up the cv allocator (its first use finds the collection's top).
    s.commit("rt", write(record("warm", 0, json!({"n": 0}), 1), true))
        .await
        .unwrap();
    let transactional = s.in_transactions().await.unwrap();
    m.take();

    let mut rows = Vec::new();
    s.commit("rt", write(record("a", 0, json!({"n": 1}), 100), true))
        .await
        .unwrap();
    rows.push(("create (commit)", m.take()));
    let head = s.get_head("rt", "a").await.unwrap().unwrap();
    rows.push((
        "read the head (get_latest, and before every update)",
        m.take(),
    ));
    assert!(head.mark.is_some(), "a MongoDB head carries its mark");
    s.commit(
        "rt",
        VersionWrite {
            seen: head.mark.clone(),
            ..write(record("a", 1, json!({"n": 2}), 200), true)
        },
    )
    .await
    .unwrap();
    rows.push(("update (commit, with the head's mark)", m.take()));
    s.commit("rt", write(record("a", 2, json!({"n": 3}), 300), true))
        .await
        .unwrap();
    rows.push(("update (commit, without a mark)", m.take()));
    s.get_version("rt", "a", 1).await.unwrap().unwrap();
    rows.push(("version by ov", m.take()));
    s.version_as_of("rt", "a", AsOf::Time(Timestamp(250)))
        .await
        .unwrap()
        .unwrap();
    rows.push(("version as of a time", m.take()));
    s.version_and_erased("rt", "a", VersionAt::Ov(1))
        .await
        .unwrap();
    rows.push(("get_version (with the erasure check)", m.take()));
    s.version_and_erased("rt", "a", VersionAt::AsOf(AsOf::Time(Timestamp(250))))
        .await
        .unwrap();
    rows.push(("get_as_of (with the erasure check)", m.take()));

    println!(
        "metadata round trips ({} commit path):",
        if transactional {
            "transactional"
        } else {
            "protocol"
        }
    );
    for (what, sent) in &rows {
        println!("  {what:<52} {:>2}  [{}]", sent.len(), describe(sent));
    }
    if !transactional {
        let counts: Vec<usize> = rows.iter().map(|(_, s)| s.len()).collect();
        // create: cv slot, version row, head insert; update: + close the previous row, and
        // the head read that a mark saves; an older version: the head that decides whether
        // the row is committed, and the row; a read of one: the same two, the head also
        // telling whether the item is erased.
        let table: Vec<String> = rows
            .iter()
            .map(|(w, s)| format!("{w}: {}", describe(s)))
            .collect();
        assert_eq!(counts, [3, 1, 4, 5, 2, 2, 2, 2], "{table:#?}");
    }
    m.drop().await;
}

/// The filter, sort and hint of a command that selects documents, per statement.
fn selections(s: &Sent) -> Vec<(String, Document, Document, Option<Bson>)> {
    let coll = s.command.get_str(&s.name).unwrap_or("?").to_string();
    let doc_of = |d: &Document, k: &str| d.get_document(k).cloned().unwrap_or_default();
    match s.name.as_str() {
        "find" => vec![(
            coll,
            doc_of(&s.command, "filter"),
            doc_of(&s.command, "sort"),
            s.command.get("hint").cloned(),
        )],
        "count" => vec![(coll, doc_of(&s.command, "query"), Document::new(), None)],
        "findAndModify" => vec![(
            coll,
            doc_of(&s.command, "query"),
            doc_of(&s.command, "sort"),
            None,
        )],
        "update" | "delete" => {
            let (list, key) = if s.name == "update" {
                ("updates", "q")
            } else {
                ("deletes", "q")
            };
            s.command
                .get_array(list)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_document())
                        .map(|d| (coll.clone(), doc_of(d, key), Document::new(), None))
                        .collect()
                })
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// An index's name and key pattern.
type NamedIndex = (String, Vec<(String, i64)>);

/// Whether an index with key pattern `keys` serves a query: its leading keys are the
/// filter's equality fields (in any order), the sort's fields follow in order (all in the
/// index's direction or all reversed), and a range field may come next. A query on `_id`
/// equality is served by the `_id` index. Fields the filter only negates or tests for
/// existence, and boolean flags, are left to the documents the index finds.
fn serves(keys: &[(String, i64)], filter: &Document, sort: &Document) -> bool {
    let mut eq = std::collections::BTreeSet::new();
    let mut range = std::collections::BTreeSet::new();
    // The conditions that must all hold: top-level fields and the members of `$and`.
    let mut terms: Vec<(&String, &Bson)> = Vec::new();
    for (k, v) in filter {
        match (k.as_str(), v) {
            ("$and", Bson::Array(parts)) => {
                for part in parts.iter().filter_map(Bson::as_document) {
                    terms.extend(part.iter().filter(|(k, _)| !k.starts_with('$')));
                }
            }
            _ if k.starts_with('$') => {}
            _ => terms.push((k, v)),
        }
    }
    for (k, v) in terms {
        match v {
            // A two-valued flag (`deleted`) narrows nothing an index could use: the
            // documents the rest of the query finds are tested for it.
            Bson::Boolean(_) => {}
            Bson::Document(d) if d.keys().any(|op| op.starts_with('$')) => {
                if d.contains_key("$eq") || d.contains_key("$in") {
                    eq.insert(k.clone());
                } else if ["$gt", "$gte", "$lt", "$lte"]
                    .iter()
                    .any(|op| d.contains_key(*op))
                {
                    range.insert(k.clone());
                }
            }
            _ => {
                eq.insert(k.clone());
            }
        }
    }
    if eq.contains("_id") {
        return true;
    }
    let mut i = 0;
    let mut seen_eq = std::collections::BTreeSet::new();
    while i < keys.len() && eq.contains(&keys[i].0) {
        seen_eq.insert(keys[i].0.clone());
        i += 1;
    }
    if seen_eq != eq {
        return false;
    }
    let mut direction = None;
    for (field, dir) in sort {
        if eq.contains(field) {
            continue; // one value: sorting on it is free
        }
        let dir = dir
            .as_i64()
            .or_else(|| dir.as_i32().map(i64::from))
            .unwrap_or(1);
        // `_id` ends every key pattern implicitly (it identifies the document).
        let (key, kdir) = match keys.get(i) {
            Some((k, d)) => (k.as_str(), *d),
            None if field == "_id" => ("_id", dir),
            None => return false,
        };
        if key != field {
            return false;
        }
        let same = (kdir > 0) == (dir > 0);
        if *direction.get_or_insert(same) != same {
            return false;
        }
        i += 1;
    }
    // Nothing to seek on at all: only a full scan would answer it.
    !(eq.is_empty()
        && sort.is_empty()
        && range.iter().all(|r| keys.first().map(|k| &k.0) != Some(r)))
        || keys.first().is_some_and(|k| range.contains(&k.0))
}

/// Runs every kind of store call and checks each query it sends against the collection's
/// indexes (see the module docs). The shapes, their index and the server's winning plan
/// (where `explain` answers) are printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_has_an_index() {
    let Some(m) = Monitored::open("plans").await else {
        return;
    };
    let s = &m.store;
    let sp = spec("pl", &["n", "s", "tags[]"]);
    s.ensure_collection(&sp).await.unwrap();
    for (id, n) in [("a", 1), ("b", 2), ("c", 3)] {
        s.commit(
            "pl",
            write(
                record(id, 0, json!({"n": n, "s": id, "tags": ["x"]}), 100),
                true,
            ),
        )
        .await
        .unwrap();
        let head = s.get_head("pl", id).await.unwrap().unwrap();
        s.commit(
            "pl",
            VersionWrite {
                seen: head.mark,
                ..write(
                    record(id, 1, json!({"n": n * 10, "s": id, "tags": ["y"]}), 200),
                    true,
                )
            },
        )
        .await
        .unwrap();
    }
    s.commit("pl", write(record("c", 2, json!({"n": 5}), 300), true))
        .await
        .unwrap();
    s.get_version("pl", "a", 0).await.unwrap();
    s.version_as_of("pl", "a", AsOf::Time(Timestamp(150)))
        .await
        .unwrap();
    s.version_as_of("pl", "a", AsOf::Cv(1)).await.unwrap();
    s.history("pl", "a", None, 10).await.unwrap();
    s.history("pl", "a", Some(1), 10).await.unwrap();
    s.cv_as_of("pl", Timestamp(250)).await.unwrap();
    let window = crate::meta::ActorWindow {
        from: Some(Timestamp(50)),
        to: Some(Timestamp(400)),
        before: Some((Timestamp(300), 9)),
    };
    s.versions_by_actor("pl", "tester", &window, 10)
        .await
        .unwrap();
    s.count_heads("pl", None).await.unwrap();
    s.count_heads("pl", Some("a")).await.unwrap();
    s.scan_heads("pl", Some("a"), 10).await.unwrap();
    let q = |filter: serde_json::Value, sort: serde_json::Value, as_of: Option<AsOf>| {
        crate::meta::contract::query(&sp, filter, sort, 10, as_of)
    };
    for query in [
        q(json!({}), json!({}), None),
        q(json!({"n": 10}), json!({}), None),
        q(json!({"n": {"$gte": 5}}), json!({"n": 1}), None),
        q(json!({"s": "a"}), json!({"_id": -1}), None),
        q(json!({"tags": "y"}), json!({}), None),
        q(
            json!({"n": {"$lt": 20}}),
            json!({"n": -1}),
            Some(AsOf::Time(Timestamp(250))),
        ),
        q(json!({}), json!({}), Some(AsOf::Cv(3))),
    ] {
        s.query(&sp, &query).await.unwrap();
    }
    s.acquire_lease("pl", "a", "me", Duration::from_secs(5))
        .await
        .unwrap();
    s.release_lease("pl", "a", "me").await.unwrap();
    let counted = crate::meta::CountedVersion {
        id: "a".into(),
        ov: 0,
        cv: 1,
        op: Op::Create,
        at: Timestamp(100),
        rules: vec!["r".into()],
        replayable: true,
    };
    s.ensure_counters("pl").await.unwrap();
    let value = crate::meta::UniqueValue {
        rule: "r".into(),
        property: "p".into(),
        value: "1".into(),
    };
    s.record_counted("pl", &counted, &[value]).await.unwrap();
    s.counted_cvs("pl", 0, 10).await.unwrap();
    s.counter_mark("pl").await.unwrap();
    s.advance_counter_mark("pl", 1).await.unwrap();
    s.counter_totals("pl").await.unwrap();
    s.unique_values("pl", "r", "p", None, 10).await.unwrap();
    s.committed_after("pl", 0, 10).await.unwrap();
    s.visible_after("pl", 0, 10).await.unwrap();
    s.purge_item("pl", "b", 1).await.unwrap();

    let sent = m.take();
    let db = m.client.database(&m.db);
    let mut indexes: HashMap<String, Vec<NamedIndex>> = HashMap::new();
    let mut unserved = Vec::new();
    let mut shapes = std::collections::BTreeSet::new();
    for cmd in &sent {
        for (coll, filter, sort, hint) in selections(cmd) {
            if !indexes.contains_key(&coll) {
                let mut list = Vec::new();
                let mut cursor = db
                    .collection::<Document>(&coll)
                    .list_indexes()
                    .await
                    .unwrap();
                while let Some(ix) = cursor.try_next().await.unwrap() {
                    let keys = ix
                        .keys
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_i64()
                                    .or_else(|| v.as_i32().map(i64::from))
                                    .unwrap_or(1),
                            )
                        })
                        .collect();
                    let name = ix.options.and_then(|o| o.name).unwrap_or_default();
                    list.push((name, keys));
                }
                indexes.insert(coll.clone(), list);
            }
            let shape = format!(
                "{:<14} {coll:<12} filter {} sort {} hint {}",
                cmd.name,
                shape_of(&filter),
                sort,
                hint.as_ref()
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "-".into())
            );
            if !shapes.insert(shape.clone()) {
                continue;
            }
            let serving = indexes[&coll]
                .iter()
                .find(|(_, keys)| serves(keys, &filter, &sort))
                .map(|(name, _)| name.clone());
            let plan = if cmd.name == "find" {
                explain(&db, &coll, &filter, &sort).await
            } else {
                String::new()
            };
            println!(
                "{shape}\n    index: {}{}",
                serving.as_deref().unwrap_or("NONE"),
                if plan.is_empty() {
                    String::new()
                } else {
                    format!("\n    plan:  {plan}")
                }
            );
            if serving.is_none() && !accepted_scan(&coll, &sort) {
                unserved.push(shape);
            }
        }
    }
    assert!(
        shapes.len() >= 10,
        "the workload sent too few queries: {shapes:#?}"
    );
    assert!(
        unserved.is_empty(),
        "queries without a serving index: {unserved:#?}"
    );
    m.drop().await;
}

/// Known shapes no index serves, and why that is accepted: an as-of query sorted by an
/// indexed property reads the version rows in its window and sorts them (the version
/// collection has no per-property indexes: each would cost every write of every version).
fn accepted_scan(coll: &str, sort: &Document) -> bool {
    let accepted = coll.ends_with("_ver") && sort.keys().any(|k| k.starts_with("meta."));
    if accepted {
        println!("    accepted without an index: as-of query sorted by an indexed property");
    }
    accepted
}

/// A filter with its values replaced by their types: the shape, not the data.
fn shape_of(filter: &Document) -> String {
    fn walk(b: &Bson) -> Bson {
        match b {
            Bson::Document(d) => {
                Bson::Document(d.iter().map(|(k, v)| (k.clone(), walk(v))).collect())
            }
            Bson::Array(a) => Bson::Array(a.iter().take(1).map(walk).collect()),
            other => Bson::String(format!("<{:?}>", other.element_type())),
        }
    }
    walk(&Bson::Document(filter.clone())).to_string()
}

/// The server's winning plan for a find, in one line, when it answers `explain`.
async fn explain(db: &Database, coll: &str, filter: &Document, sort: &Document) -> String {
    let cmd = doc! {
        "explain": {"find": coll, "filter": filter.clone(), "sort": sort.clone()},
        "verbosity": "queryPlanner",
    };
    match db.run_command(cmd).await {
        Ok(r) => r
            .get_document("queryPlanner")
            .ok()
            .and_then(|q| q.get("winningPlan").cloned())
            .map(|p| p.to_string())
            .unwrap_or_else(|| {
                let text = r.to_string();
                format!(
                    "(server's own format) {}",
                    text.chars().take(160).collect::<String>()
                )
            }),
        Err(e) => format!("(explain not answered: {})", map_err(e)),
    }
}
