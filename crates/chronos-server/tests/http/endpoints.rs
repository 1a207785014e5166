//! Every endpoint, its success cases and its typed errors, on every backend; and every path
//! of the OpenAPI document exercised (read back from the server's own metrics).

use crate::support::{start, Backend, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The collection prefixes, one per kind of route.
const PREFIXES: [&str; 4] = [
    "/v1/runtime/tenant/acme/orders",
    "/v1/knowledge/domain/retail/products",
    "/v1/metadata/generic/schemas",
    "/v1/logs/events",
];

async fn item_lifecycle(s: &TestServer, p: &str) {
    let first = s
        .post(
            &format!("{p}/items"),
            json!({"data": {"status": "open", "n": 1}, "actor": "app", "reason": "new"}),
        )
        .await
        .expect(201, "create");
    let first_id = first.json["id"].as_str().expect("id").to_string();
    assert_eq!(first.json["ov"], 0);
    let first_cv = first.json["cv"].as_u64().expect("cv");
    assert!(first.json["at"].as_str().is_some_and(|t| t.ends_with('Z')));

    let body = json!({"data": {"status": "open", "n": 2}, "actor": "app", "reason": "new", "id": "it-1",
        "parent": {"id": first_id, "collection": "orders"}, "origin": {"id": "cus_1", "collection": "customers", "system": "stripe"}});
    s.post(&format!("{p}/items"), body.clone())
        .await
        .expect(201, "create with id");
    s.post(&format!("{p}/items"), body).await.problem(
        409,
        "ALREADY_EXISTS",
        "create with a taken id",
    );

    let item = s.get(&format!("{p}/items/it-1")).await.expect(200, "get");
    assert_eq!(item.json["_id"], "it-1");
    assert_eq!(item.json["n"], 2);
    assert_eq!(item.json["_system"]["ov"], 0);
    assert_eq!(item.json["_system"]["parentId"], first_id.as_str());
    assert_eq!(item.json["_system"]["originCollection"], "stripe:customers");
    s.get(&format!("{p}/items/nope"))
        .await
        .problem(404, "NOT_FOUND", "get a missing item");

    let v1 = s
        .put(&format!("{p}/items/it-1"), json!({"data": {"status": "paid", "n": 3}, "expectedOv": 0, "actor": "app", "reason": "pay"}))
        .await
        .expect(200, "update");
    assert_eq!(v1.json["ov"], 1);
    let v1_at = v1.json["at"].as_str().expect("at").to_string();
    let stale = s
        .put(
            &format!("{p}/items/it-1"),
            json!({"data": {"status": "x"}, "expectedOv": 0, "actor": "app", "reason": "late"}),
        )
        .await
        .problem(409, "CONFLICT", "stale update");
    assert_eq!(stale.json["currentOv"], 1);
    assert_eq!(stale.json["expectedOv"], 0);

    let v2 = s
        .post(&format!("{p}/items/it-1/enrich"), json!({"patch": [{"tags": ["a"]}, {"tags": ["b"]}], "functionId": "tagger", "actor": "fn", "reason": "tags"}))
        .await
        .expect(200, "enrich");
    assert_eq!(v2.json["ov"], 2);
    s.post(
        &format!("{p}/items/it-1/enrich"),
        json!({"patch": {"x": 1}, "functionId": "f", "actor": "fn", "reason": "", "expectedOv": 0}),
    )
    .await
    .problem(409, "CONFLICT", "enrich with a stale expectedOv");
    let enriched = s
        .get(&format!("{p}/items/it-1"))
        .await
        .expect(200, "get enriched");
    assert_eq!(enriched.json["tags"], json!(["a", "b"]));
    assert_eq!(enriched.json["_system"]["functionIds"], json!(["tagger"]));

    let page = s
        .get(&format!("{p}/items/it-1/versions?limit=2"))
        .await
        .expect(200, "versions");
    let ovs: Vec<u64> = page.json["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["ov"].as_u64().unwrap())
        .collect();
    assert_eq!(ovs, [2, 1]);
    assert_eq!(page.json["nextBeforeOv"], 1);
    assert_eq!(page.json["versions"][0]["op"], "ENRICH");
    let rest = s
        .get(&format!("{p}/items/it-1/versions?beforeOv=1"))
        .await
        .expect(200, "versions, next page");
    assert_eq!(rest.json["versions"][0]["ov"], 0);
    assert_eq!(rest.json["nextBeforeOv"], Value::Null);

    let diff = s
        .get(&format!("{p}/items/it-1/diff?from=0&to=2"))
        .await
        .expect(200, "diff");
    assert_eq!(diff.json["from"]["ov"], 0);
    assert_eq!(diff.json["to"]["op"], "ENRICH");
    assert_eq!(
        diff.json["patch"],
        json!([{"op": "replace", "path": "/status", "value": "paid"},
               {"op": "replace", "path": "/n", "value": 3},
               {"op": "add", "path": "/tags", "value": ["a", "b"]}])
    );
    assert_eq!(diff.json["summary"]["changed"], json!(["/status", "/n"]));
    assert_eq!(diff.json["summary"]["added"], json!(["/tags"]));
    let by_time = s
        .get(&format!(
            "{p}/items/it-1/diff?from={}",
            v1_at.replace(':', "%3A")
        ))
        .await
        .expect(200, "diff from a time to the latest");
    assert_eq!(by_time.json["from"]["ov"], 1);
    assert_eq!(by_time.json["summary"]["added"], json!(["/tags"]));
    s.get(&format!("{p}/items/it-1/diff?from=v0"))
        .await
        .problem(
            400,
            "VALIDATION_ERROR",
            "diff from a name that is no version",
        );
    s.get(&format!("{p}/items/it-1/diff")).await.problem(
        400,
        "VALIDATION_ERROR",
        "diff without from",
    );
    s.get(&format!("{p}/items/it-1/diff?from=0&to=9"))
        .await
        .problem(404, "NOT_FOUND", "diff to a missing version");
    s.get(&format!("{p}/items/nope/diff?from=0")).await.problem(
        404,
        "NOT_FOUND",
        "diff of a missing item",
    );

    let blame = s
        .get(&format!("{p}/items/it-1/blame"))
        .await
        .expect(200, "blame");
    let lines = blame.json["lines"].as_array().expect("lines").clone();
    let line = |path: &str| lines.iter().find(|l| l["path"] == path).cloned();
    assert_eq!(line("/status").map(|l| l["ov"].clone()), Some(json!(1)));
    assert_eq!(
        line("/tags/1").map(|l| l["functionId"].clone()),
        Some(json!("tagger"))
    );
    let old = s
        .get(&format!("{p}/items/it-1/blame?at=0"))
        .await
        .expect(200, "blame of ov 0");
    assert_eq!(old.json["ov"], 0);
    s.get(&format!("{p}/items/it-1/blame?at=-1")).await.problem(
        400,
        "VALIDATION_ERROR",
        "blame at a name that is no version",
    );
    let n = s
        .get(&format!("{p}/items/it-1/field-history?path=n&limit=1"))
        .await
        .expect(200, "field history");
    assert_eq!(n.json["path"], "/n");
    assert_eq!(n.json["changes"][0]["value"], 3);
    let below = n.json["nextBeforeOv"].as_u64().expect("a next page");
    let rest = s
        .get(&format!(
            "{p}/items/it-1/field-history?path=%2Fn&beforeOv={below}"
        ))
        .await
        .expect(200, "field history, next page");
    assert_eq!(rest.json["changes"][0]["value"], 2);
    s.get(&format!("{p}/items/it-1/field-history?path=a..b"))
        .await
        .problem(
            400,
            "VALIDATION_ERROR",
            "field history of a path that is none",
        );

    let old = s
        .get(&format!("{p}/items/it-1?ov=0"))
        .await
        .expect(200, "get ov 0");
    assert_eq!(old.json["n"], 2);
    let then = s
        .get(&format!("{p}/items/it-1?at={}", v1_at.replace(':', "%3A")))
        .await
        .expect(200, "get at");
    assert_eq!(then.json["_system"]["ov"], 1);
    let projected = s
        .get(&format!("{p}/items/it-1?fields=status,tags"))
        .await
        .expect(200, "get fields");
    assert_eq!(projected.json["status"], "paid");
    assert!(projected.json.get("n").is_none(), "{}", projected.text);
    s.get(&format!("{p}/items/it-1?ov=9"))
        .await
        .problem(404, "NOT_FOUND", "a missing version");

    let restored = s
        .post(
            &format!("{p}/items/it-1/restore"),
            json!({"ov": 0, "actor": "ops", "reason": "undo"}),
        )
        .await
        .expect(200, "restore");
    assert_eq!(restored.json["ov"], 3);
    let now = s
        .get(&format!("{p}/items/it-1"))
        .await
        .expect(200, "get restored");
    assert_eq!(
        (now.json["status"].clone(), now.json["n"].clone()),
        (json!("open"), json!(2))
    );
    s.post(
        &format!("{p}/items/it-1/restore"),
        json!({"at": v1_at, "actor": "ops", "reason": "redo"}),
    )
    .await
    .expect(200, "restore at a time");

    // The change feed: every version so far, in cv order.
    let feed = s
        .get(&format!("{p}/changes?limit=1000"))
        .await
        .expect(200, "changes");
    let cvs: Vec<u64> = feed.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["cv"].as_u64().unwrap())
        .collect();
    assert!(
        cvs.len() >= 5 && cvs.windows(2).all(|w| w[0] < w[1]),
        "{cvs:?}"
    );

    // The versions an actor wrote: ops made the two restores.
    let by_ops = s
        .get(&format!("{p}/versions?actor=ops&limit=1"))
        .await
        .expect(200, "versions by actor");
    assert_eq!(by_ops.json["versions"][0]["op"], "RESTORE");
    assert_eq!(by_ops.json["versions"][0]["actor"], "ops");
    let cursor = by_ops.json["nextCursor"].as_str().expect("a next page");
    let rest = s
        .get(&format!("{p}/versions?actor=ops&cursor={cursor}"))
        .await
        .expect(200, "versions by actor, next page");
    assert_eq!(rest.json["versions"].as_array().map(Vec::len), Some(1));
    assert!(rest.json["nextCursor"].is_null());
    assert!(
        rest.json["versions"][0]["cv"].as_u64() < by_ops.json["versions"][0]["cv"].as_u64(),
        "newest first"
    );
    s.get(&format!("{p}/versions?actor=app&cursor={cursor}"))
        .await
        .problem(400, "VALIDATION_ERROR", "a cursor of another listing");
    s.get(&format!("{p}/versions")).await.problem(
        400,
        "VALIDATION_ERROR",
        "versions without an actor",
    );
    s.get(&format!("{p}/versions?actor=ops&from=yesterday"))
        .await
        .problem(400, "VALIDATION_ERROR", "versions from a time that is none");

    // Queries: every item, pages with a cursor, as of a collection version.
    let all = s
        .post(&format!("{p}/query"), json!({"filter": {}}))
        .await
        .expect(200, "query");
    assert_eq!(all.json["items"].as_array().expect("items").len(), 2);
    let one = s
        .post(&format!("{p}/query"), json!({"limit": 1}))
        .await
        .expect(200, "page 1");
    assert_eq!(one.json["items"].as_array().unwrap().len(), 1);
    let cursor = one.json["nextCursor"]
        .as_str()
        .expect("a next cursor")
        .to_string();
    let two = s
        .post(&format!("{p}/query"), json!({"limit": 1, "cursor": cursor}))
        .await
        .expect(200, "page 2");
    assert_ne!(one.json["items"][0]["_id"], two.json["items"][0]["_id"]);
    let past = s
        .post(&format!("{p}/query"), json!({"asOfCv": first_cv}))
        .await
        .expect(200, "query as of a cv");
    assert_eq!(past.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(past.json["items"][0]["_id"], first_id.as_str());
    let paid = s
        .post(
            &format!("{p}/query"),
            json!({"filter": {"status": "paid"}, "fields": ["status"]}),
        )
        .await
        .expect(200, "query with a filter");
    assert_eq!(paid.json["items"][0]["_id"], "it-1");
    assert!(paid.json["items"][0].get("n").is_none());

    // Delete, then the deleted item's answers.
    let head = s.get(&format!("{p}/items/it-1")).await.json["_system"]["ov"]
        .as_u64()
        .unwrap();
    s.delete(&format!(
        "{p}/items/it-1?expectedOv={}&actor=ops&reason=bye",
        head + 7
    ))
    .await
    .problem(409, "CONFLICT", "delete with a stale expectedOv");
    let deleted = s
        .delete(&format!(
            "{p}/items/it-1?expectedOv={head}&actor=ops&reason=bye"
        ))
        .await
        .expect(200, "delete");
    s.get(&format!("{p}/items/it-1"))
        .await
        .problem(404, "NOT_FOUND", "get a deleted item");
    let tomb = s
        .get(&format!("{p}/items/it-1?includeDeleted=true"))
        .await
        .expect(200, "get deleted with includeDeleted");
    assert_eq!(tomb.json["_system"]["deleted"], true);
    let gone = s
        .put(&format!("{p}/items/it-1"), json!({"data": {"n": 9}, "expectedOv": deleted.json["ov"], "actor": "app", "reason": "late"}))
        .await
        .problem(410, "DELETED", "update a deleted item");
    assert_eq!(gone.json["ov"], deleted.json["ov"]);

    // The whole collection back to before it-1 existed: it-1 stays deleted, the first item
    // is unchanged.
    let dry = s
        .post(
            &format!("{p}/restore"),
            json!({"cv": first_cv, "dryRun": true, "actor": "ops", "reason": "check"}),
        )
        .await
        .expect(200, "collection restore, dry run");
    assert_eq!(dry.json["dryRun"], true);
    assert_eq!(dry.json["unchanged"], 2);
    let report = s
        .post(
            &format!("{p}/restore"),
            json!({"at": first.json["at"], "actor": "ops", "reason": "rollback"}),
        )
        .await
        .expect(200, "collection restore");
    assert_eq!(report.json["targetCv"], first_cv);
    let swept = s
        .post(&format!("{p}/gc"), json!({"olderThanSeconds": 0}))
        .await
        .expect(200, "gc, dry run");
    assert_eq!(swept.json["dryRun"], true);
    assert_eq!(
        swept.json["orphanObjects"], 0,
        "every object belongs to a version"
    );

    // Counters: two creates (the refused one counts nothing), both of open items.
    let totals = s
        .get(&format!("{p}/counters?includeRules=true"))
        .await
        .expect(200, "counter totals");
    assert_eq!(totals.json["created"], 2);
    assert_eq!(totals.json["rules"]["open_items"]["created"], 2);
    assert_eq!(totals.json["rules"]["open_items"]["unique"]["n"], 2);
    assert!(totals.json["lastAt"].is_string());
    let only = s
        .get(&format!("{p}/counters?rules=open_items"))
        .await
        .expect(200, "counter totals of named rules");
    assert_eq!(only.json["rules"]["open_items"]["created"], 2);
    s.get(&format!("{p}/counters?rules=nope")).await.problem(
        400,
        "VALIDATION_ERROR",
        "totals of an unknown rule",
    );
    let page = s
        .get(&format!(
            "{p}/counters/unique?rule=open_items&property=n&limit=1"
        ))
        .await
        .expect(200, "distinct values");
    assert_eq!(page.json["values"].as_array().map(Vec::len), Some(1));
    let next = page.json["next"].as_str().expect("a next cursor");
    let rest = s
        .get(&format!(
            "{p}/counters/unique?rule=open_items&property=n&cursor={next}"
        ))
        .await
        .expect(200, "distinct values, next page");
    assert_eq!(rest.json["values"].as_array().map(Vec::len), Some(1));
    s.get(&format!("{p}/counters/unique?rule=open_items"))
        .await
        .problem(
            400,
            "VALIDATION_ERROR",
            "distinct values without a property",
        );
    let reset = s
        .post(
            &format!("{p}/counters/reset"),
            json!({"actor": "ops", "reason": "test"}),
        )
        .await
        .expect(200, "counter reset");
    assert!(reset.json["floorCv"].is_u64());
    let after = s
        .get(&format!("{p}/counters"))
        .await
        .expect(200, "totals after a reset");
    assert_eq!(after.json["created"], 0);

    // Erasure: the item reads as gone (410) in every version; its history keeps the
    // tombstone; a second call completes nothing new.
    let erased = s
        .post(
            &format!("{p}/items/{first_id}/erase"),
            json!({"actor": "dpo", "reason": "request"}),
        )
        .await
        .expect(200, "erase");
    assert_eq!(erased.json["complete"], true);
    assert!(erased.json["receiptId"].as_str().is_some());
    for path in [
        format!("{p}/items/{first_id}"),
        format!("{p}/items/{first_id}?ov=0"),
    ] {
        s.get(&path)
            .await
            .problem(410, "ERASED", "reading an erased item");
    }
    let versions = s
        .get(&format!("{p}/items/{first_id}/versions"))
        .await
        .expect(200, "versions of an erased item");
    assert_eq!(versions.json["versions"][0]["op"], "ERASE");
    s.post(
        &format!("{p}/items/{first_id}/restore"),
        json!({"ov": 0, "actor": "x", "reason": "x"}),
    )
    .await
    .problem(410, "ERASED", "restoring an erased item");
    s.post(&format!("{p}/items/{first_id}/erase"), json!({"actor": 1}))
        .await
        .problem(400, "VALIDATION_ERROR", "an erase body of the wrong type");
}

async fn every_endpoint(backend: Backend) {
    let Some(s) = start(backend).await else {
        return;
    };
    for p in PREFIXES {
        item_lifecycle(&s, p).await;
    }

    // Tiered fetch: generic and tenant records, fallback and merge.
    s.post(
        "/v1/knowledge/generic/cfg/items",
        json!({"data": {"key": "flags", "a": [1], "g": true}, "actor": "ops", "reason": "seed"}),
    )
    .await
    .expect(201, "generic record");
    s.post(
        "/v1/knowledge/tenant/acme/cfg/items",
        json!({"data": {"key": "flags", "a": [2], "t": true}, "actor": "ops", "reason": "seed"}),
    )
    .await
    .expect(201, "tenant record");
    let found = s
        .post(
            "/v1/knowledge/fetch",
            json!({"collection": "cfg", "filter": {"key": "flags"}, "tenantId": "acme"}),
        )
        .await
        .expect(200, "fetch");
    assert_eq!(found.json["tiersFound"], json!(["tenant"]));
    assert_eq!(found.json["data"]["t"], true);
    assert!(found.json["tierRecords"]["tenant"]["_id"].is_string());
    let merged = s
        .post("/v1/knowledge/fetch", json!({"collection": "cfg", "filter": {"key": "flags"}, "tenantId": "acme", "merge": true}))
        .await
        .expect(200, "fetch merged");
    assert_eq!(merged.json["tiersFound"], json!(["generic", "tenant"]));
    assert_eq!(merged.json["data"]["a"], json!([1, 2]));
    let none = s
        .post(
            "/v1/metadata/fetch",
            json!({"collection": "cfg", "filter": {"key": "flags"}, "domain": "retail"}),
        )
        .await
        .expect(200, "fetch with nothing found");
    assert_eq!(none.json["data"], Value::Null);
    s.post(
        "/v1/runtime/fetch",
        json!({"collection": "cfg", "filter": {}}),
    )
    .await
    .problem(400, "VALIDATION_ERROR", "fetch from runtime");

    // Entities: saved on create, read back with the record.
    let mappings =
        json!([{"property": "customer", "collection": "customers", "keyProperty": "customerId"}]);
    let made = s
        .post(
            "/v1/runtime/tenant/acme/orders/items",
            json!({"data": {"orderId": "o-9", "customer": {"customerId": "C-1", "name": "Ada"}},
            "actor": "shop", "reason": "order", "entities": mappings}),
        )
        .await
        .expect(201, "create with entities");
    assert_eq!(made.json["entityResults"][0]["operation"], "created");
    let order_id = made.json["mainRecord"]["id"]
        .as_str()
        .expect("main id")
        .to_string();
    let encoded = mappings
        .to_string()
        .replace('"', "%22")
        .replace(' ', "%20")
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('[', "%5B")
        .replace(']', "%5D")
        .replace(',', "%2C")
        .replace(':', "%3A");
    let with = s
        .get(&format!(
            "/v1/runtime/tenant/acme/orders/items/{order_id}?entities={encoded}"
        ))
        .await
        .expect(200, "get with entities");
    assert_eq!(with.json["mainRecord"]["orderId"], "o-9");
    assert_eq!(with.json["entityRecords"]["customer"]["name"], "Ada");

    // Presigned URLs.
    let signed = s
        .get(&format!(
            "/v1/runtime/tenant/acme/orders/items/{order_id}?presign=true&ttlSeconds=60"
        ))
        .await
        .expect(200, "get with presign");
    assert!(
        signed.json["_presigned"]["itemUrl"].is_string(),
        "{}",
        signed.text
    );
    assert_eq!(signed.json["_presigned"]["expiresIn"], 60);
    let url = signed.json["_presigned"]["itemUrl"].as_str().unwrap();
    // A signed URL (S3's own, or on local files this server's link): it serves the
    // version's JSON without any other credential.
    let got = reqwest::get(url).await.expect("signed GET");
    assert_eq!(got.status(), 200, "{url}");
    let content: Value = got.json().await.expect("JSON");
    assert_eq!(content["orderId"], "o-9");
    let served_here = url.starts_with(&format!("{}/v1/blobs/", s.base));
    if served_here {
        let (path, query) = url.split_once('?').unwrap();
        let sig_at = query.find("sig=").unwrap() + 4;
        let mut tampered = query.to_string();
        tampered.replace_range(
            sig_at..sig_at + 2,
            if &query[sig_at..sig_at + 2] == "00" {
                "11"
            } else {
                "00"
            },
        );
        for (what, link) in [
            ("a changed signature", format!("{path}?{tampered}")),
            (
                "another version's key",
                format!("{}?{query}", path.replace("/v0.", "/v1.")),
            ),
            (
                "a later expiry",
                format!("{path}?{}", query.replacen("expires=", "expires=9", 1)),
            ),
            (
                "a path out of the bucket",
                format!("{}/v1/blobs/files/..%2F..%2Fmeta?{query}", s.base),
            ),
        ] {
            let r = reqwest::get(&link).await.unwrap();
            assert_eq!(r.status(), 403, "{what}: {link}");
        }
        let no_sig = reqwest::get(path).await.unwrap();
        assert_eq!(no_sig.status(), 400, "a link without its signature");
    }

    // Analytics: acme has one order (the entities one above, not "open") and its customer;
    // run its rules, read the results.
    s.post(
        "/v1/runtime/tenant/acme/orders/items",
        json!({"data": {"status": "open"}, "actor": "shop", "reason": "checkout"}),
    )
    .await
    .expect(201, "an open order");
    let ran = s
        .post("/v1/analytics/acme/run", json!({}))
        .await
        .expect(200, "analytics run");
    assert_eq!(ran.json["runs"].as_array().map(Vec::len), Some(2));
    assert!(ran.json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "done"));
    let daily = s
        .get("/v1/analytics/acme/time-based?rule=open_orders&timeframe=daily")
        .await
        .expect(200, "time-based results");
    let results = daily.json["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    let open = s
        .post(
            "/v1/runtime/tenant/acme/orders/query",
            json!({"filter": {"status": "open"}, "limit": 1000}),
        )
        .await
        .expect(200, "open orders");
    let open = open.json["items"].as_array().map(Vec::len).unwrap_or(0);
    assert!(open >= 1);
    assert_eq!(results[0]["value"], open as f64);
    let cross = s
        .get("/v1/analytics/acme/cross-tenant")
        .await
        .expect(200, "cross-tenant results");
    assert_eq!(
        cross.json["results"][0]["value"], 1.0,
        "acme has orders, other none"
    );
    assert_eq!(
        s.get("/v1/analytics/other/cross-tenant")
            .await
            .expect(200, "another tenant's cross-tenant results")
            .json["results"],
        json!([])
    );
    s.get("/v1/analytics/acme/time-based?from=yesterday")
        .await
        .problem(400, "VALIDATION_ERROR", "a bad time");
    s.post("/v1/analytics/acme/run", json!({"rule": "nope"}))
        .await
        .problem(400, "VALIDATION_ERROR", "an unknown rule");

    // Subject erasure and receipts: acme's customer c-1 in an old version only; other's
    // copy stays.
    let held = s
        .post(
            "/v1/runtime/tenant/acme/subjects/items",
            json!({"data": {"email": "c-1"}, "actor": "app", "reason": ""}),
        )
        .await
        .expect(201, "a subject's item");
    let held_id = held.json["id"].as_str().unwrap().to_string();
    s.put(
        &format!("/v1/runtime/tenant/acme/subjects/items/{held_id}"),
        json!({"data": {"email": "c-2"}, "expectedOv": 0, "actor": "app", "reason": ""}),
    )
    .await
    .expect(200, "the subject moves on");
    s.post(
        "/v1/runtime/tenant/other/subjects/items",
        json!({"data": {"email": "c-1"}, "actor": "app", "reason": "", "id": "o-1"}),
    )
    .await
    .expect(201, "another tenant's item with the same value");
    let plan = s
        .post(
            "/v1/erasure/acme/subject",
            json!({"value": "c-1", "actor": "dpo", "dryRun": true}),
        )
        .await
        .expect(200, "subject erasure, dry run");
    assert_eq!(plan.json["items"], 1);
    let done = s
        .post(
            "/v1/erasure/acme/subject",
            json!({"value": "c-1", "actor": "dpo", "reason": "art. 17"}),
        )
        .await
        .expect(200, "subject erasure");
    assert_eq!(done.json["collections"][0]["ids"][0], held_id.as_str());
    let receipt = done.json["collections"][0]["receiptIds"][0]
        .as_str()
        .unwrap()
        .to_string();
    let check = s
        .get(&format!("/v1/erasure/acme/receipts/{receipt}"))
        .await
        .expect(200, "receipt check");
    assert_eq!(check.json["valid"], true);
    assert!(!check.text.contains("c-1") && !check.text.contains(&held_id));
    s.get(&format!("/v1/erasure/other/receipts/{receipt}"))
        .await
        .problem(404, "NOT_FOUND", "another tenant's receipt");
    s.get("/v1/runtime/tenant/other/subjects/items/o-1")
        .await
        .expect(200, "the other tenant's item is untouched");
    s.post(
        "/v1/erasure/acme/subject",
        json!({"value": {"a": 1}, "actor": "dpo"}),
    )
    .await
    .problem(400, "VALIDATION_ERROR", "an object as a subject value");

    // System endpoints.
    assert_eq!(
        s.get("/healthz").await.expect(200, "healthz").json["status"],
        "ok"
    );
    let ready = s.get("/readyz").await.expect(200, "readyz");
    assert_eq!(ready.json["status"], "ready");
    assert!(
        !ready.text.contains("acme"),
        "readyz names no tenant: {}",
        ready.text
    );
    let doc = s.get("/openapi.json").await.expect(200, "openapi");
    s.get("/metrics").await.expect(200, "metrics");
    let metrics = s.get("/metrics").await.expect(200, "metrics");
    assert!(metrics.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(metrics
        .text
        .contains("chronos_backend_call_duration_seconds"));
    assert!(
        !metrics.text.contains("acme"),
        "metrics name route templates only"
    );

    // Every operation of the OpenAPI document was answered with a success above.
    let mut documented = BTreeSet::new();
    for (path, item) in doc.json["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    if !served_here {
        // Cloud stores hand out their own URLs: the local link endpoint has nothing to serve.
        documented.remove(&("GET".to_string(), "/v1/blobs/{path}".to_string()));
    }
    let mut exercised = BTreeSet::new();
    for line in metrics
        .text
        .lines()
        .filter(|l| l.starts_with("chronos_http_requests_total{"))
    {
        let label = |name: &str| {
            let start = line
                .find(&format!("{name}=\""))
                .map(|i| i + name.len() + 2)?;
            let end = line[start..].find('"')? + start;
            Some(line[start..end].to_string())
        };
        let (Some(method), Some(route), Some(status)) =
            (label("method"), label("route"), label("status"))
        else {
            continue;
        };
        if status.starts_with('2') {
            exercised.insert((method, route.replace("{*", "{")));
        }
    }
    let missing: Vec<_> = documented.difference(&exercised).collect();
    assert!(
        missing.is_empty(),
        "documented but never answered with a success: {missing:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_embedded() {
    every_endpoint(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_mongo_s3() {
    every_endpoint(Backend::MongoS3).await;
}

/// A backend that does not answer is 503 with Retry-After, and says nothing of its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_backend_is_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = chronos_db::config::ChronosConfig::from_json_value(json!({
        "dbConnections": {"m": {"mongoUri": format!("mongodb://user:hunter2@127.0.0.1:{port}"), "timeoutMs": 300}},
        "spacesConnections": {"s": {"provider": "local", "basePath": dir.path().join("o")}},
        "databases": {"runtime": {"tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "test-b", "prefix": "{tenantId}", "dbName": "rt_{tenantId}"}}}
    }))
    .unwrap();
    let s = crate::support::start_with(cfg, Box::new(dir), vec![], |_| {}).await;
    let a = s
        .get("/v1/runtime/tenant/acme/orders/items/x")
        .await
        .problem(
            503,
            "BACKEND_UNAVAILABLE",
            "read with the metadata store down",
        );
    assert_eq!(a.headers["retry-after"], "1");
    assert!(!a.text.contains("hunter2"), "{}", a.text);
    let ready = s
        .get("/readyz")
        .await
        .expect(503, "readyz with the metadata store down");
    assert_eq!(ready.json["status"], "unavailable");
    assert!(
        !ready.text.contains("hunter2") && !ready.text.contains("127.0.0.1"),
        "{}",
        ready.text
    );
    s.stop().await;
}

/// With `analytics.schedule`, the server runs the rules while it serves (the first run at
/// start-up), and stops with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_run_on_the_schedule() {
    let Some((mut cfg, keep)) = crate::support::config(Backend::Embedded) else {
        return;
    };
    if let Some(a) = cfg.analytics.as_mut() {
        a.schedule = Some("PT1H".into());
    }
    let chronos = chronos_db::Chronos::open(cfg).await.expect("open");
    let orders = chronos
        .with(
            chronos_db::Route::tenant(chronos_db::DatabaseType::Runtime, "acme", "orders").unwrap(),
        )
        .unwrap();
    for _ in 0..3 {
        orders
            .create(json!({"status": "open"}), "shop", "", Default::default())
            .await
            .unwrap();
    }
    let s = crate::support::serve_chronos(chronos, keep).await;
    let mut value = Value::Null;
    // Generous: a loaded CI machine may take seconds to start the first run.
    for _ in 0..1200 {
        let got = s
            .get("/v1/analytics/acme/time-based?rule=open_orders")
            .await
            .expect(200, "results");
        value = got.json["results"][0]["value"].clone();
        if !value.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(value, 3.0, "the scheduled run stored its result");
    s.stop().await;
}

/// With `retention.schedule`, the server sweeps retention while it serves (the first sweep
/// at start-up) over the collections with a policy, in the tenants it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_runs_on_the_schedule() {
    let Some((mut cfg, keep)) = crate::support::config(Backend::Embedded) else {
        return;
    };
    cfg.retention.schedule = Some(chronos_db::config::RetentionSchedule {
        every: "PT1H".into(),
        tenants: vec!["acme".into()],
        domains: vec![],
    });
    cfg.collection_maps.insert(
        "capped".into(),
        serde_json::from_value(json!({"retention": {"maxPerItem": 1}})).expect("map"),
    );
    let chronos = chronos_db::Chronos::open(cfg).await.expect("open");
    let mut ids = Vec::new();
    for tenant in ["acme", "other"] {
        let capped = chronos
            .with(
                chronos_db::Route::tenant(chronos_db::DatabaseType::Runtime, tenant, "capped")
                    .unwrap(),
            )
            .unwrap();
        let id = capped
            .create(json!({"n": 0}), "app", "", Default::default())
            .await
            .unwrap()
            .id;
        capped
            .update(&id, json!({"n": 1}), 0, "app", "")
            .await
            .unwrap();
        ids.push(id);
    }
    let s = crate::support::serve_chronos(chronos, keep).await;
    let acme = format!("/v1/runtime/tenant/acme/capped/items/{}?ov=0", ids[0]);
    let mut status = 200;
    for _ in 0..1200 {
        status = s.get(&acme).await.status.as_u16();
        if status != 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 410, "the scheduled sweep pruned ov 0");
    let gone = s.get(&acme).await;
    assert_eq!(gone.json["code"], "BEYOND_RETENTION", "{}", gone.text);
    // A tenant the schedule does not name keeps its history.
    let other = format!("/v1/runtime/tenant/other/capped/items/{}?ov=0", ids[1]);
    s.get(&other)
        .await
        .expect(200, "an unswept tenant's first version");
    s.stop().await;
}
