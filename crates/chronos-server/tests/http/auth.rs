//! The authorisation matrix: tenants never see each other, permissions are ordered, keys are
//! checked before anything else, and `*` scopes cover what they say.

use crate::support::{config, key, start_with, Backend};
use reqwest::Method;
use serde_json::json;

const A: &str = "/v1/runtime/tenant/tenant-a/orders";
const B: &str = "/v1/runtime/tenant/tenant-b/orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_see_their_scopes_and_nothing_else() {
    let (cfg, keep) = config(Backend::Embedded).expect("embedded");
    let (a_read, e1) = key("a-read", &["runtime:tenant:tenant-a:read"]);
    let (a_write, e2) = key(
        "a-write",
        &[
            "runtime:tenant:tenant-a:write",
            "knowledge:tenant:tenant-a:read",
        ],
    );
    let (a_admin, e3) = key("a-admin", &["runtime:tenant:tenant-a:admin"]);
    let (b_admin, e4) = key(
        "b-admin",
        &["*:tenant:tenant-b:admin", "knowledge:generic:*:write"],
    );
    let (all_tenants, e5) = key("tenants-read", &["runtime:tenant:*:read"]);
    let (generic, e6) = key("generic-read", &["knowledge:generic:*:read"]);
    let (operator, e7) = key("operator", &["*:*:*:read"]);
    let s = start_with(cfg, keep, vec![e1, e2, e3, e4, e5, e6, e7], |_| {}).await;

    let a = s.with_key(Some(&a_write));
    let b = s.with_key(Some(&b_admin));
    let create =
        |id: &str| json!({"data": {"status": "open"}, "actor": "t", "reason": "r", "id": id});
    a.call(Method::POST, &format!("{A}/items"), Some(create("a-1")))
        .await
        .expect(201, "a creates in a");
    b.call(Method::POST, &format!("{B}/items"), Some(create("b-1")))
        .await
        .expect(201, "b creates in b");
    b.call(
        Method::POST,
        "/v1/knowledge/tenant/tenant-b/cfg/items",
        Some(json!({"data": {"k": 1}, "actor": "t", "reason": "r"})),
    )
    .await
    .expect(201, "b writes its knowledge");
    b.call(
        Method::POST,
        "/v1/knowledge/generic/cfg/items",
        Some(json!({"data": {"k": 1}, "actor": "t", "reason": "r"})),
    )
    .await
    .expect(201, "b writes generic knowledge");

    // tenant-a's key on tenant-b: an existing item and a missing one answer alike, for
    // every operation.
    for id in ["b-1", "b-404"] {
        let calls = [
            (Method::GET, format!("{B}/items/{id}"), None),
            (Method::GET, format!("{B}/items/{id}/versions"), None),
            (
                Method::PUT,
                format!("{B}/items/{id}"),
                Some(json!({"data": {}, "expectedOv": 0, "actor": "x", "reason": "x"})),
            ),
            (
                Method::DELETE,
                format!("{B}/items/{id}?expectedOv=0&actor=x&reason=x"),
                None,
            ),
            (
                Method::POST,
                format!("{B}/items/{id}/enrich"),
                Some(json!({"patch": {}, "functionId": "f", "actor": "x", "reason": "x"})),
            ),
            (
                Method::POST,
                format!("{B}/items/{id}/restore"),
                Some(json!({"ov": 0, "actor": "x", "reason": "x"})),
            ),
        ];
        for (method, path, body) in calls {
            let answer = a.call(method.clone(), &path, body).await.problem(
                404,
                "NOT_FOUND",
                &format!("a's key: {method} {path}"),
            );
            // Word for word what a missing item in the key's own tenant gets.
            assert_eq!(
                answer.json["detail"],
                format!("not found: item '{id}'"),
                "{method} {path}"
            );
        }
    }
    for (path, body) in [
        (format!("{B}/items"), create("a-2")),
        (format!("{B}/query"), json!({})),
        (
            format!("{B}/restore"),
            json!({"cv": 1, "actor": "x", "reason": "x", "dryRun": true}),
        ),
    ] {
        let answer = a.call(Method::POST, &path, Some(body)).await;
        answer.problem(404, "NOT_FOUND", &format!("a's key: POST {path}"));
    }
    // ... and through the tiered fetch, whether tenant-b has the record or not.
    for tenant in ["tenant-b", "tenant-zz"] {
        a.call(
            Method::POST,
            "/v1/knowledge/fetch",
            Some(json!({"collection": "cfg", "filter": {"k": 1}, "tenantId": tenant})),
        )
        .await
        .problem(404, "NOT_FOUND", "a's key fetching from another tenant");
    }
    // tenant-a's key cannot reach the generic tier it has no scope for either.
    a.call(
        Method::POST,
        "/v1/knowledge/fetch",
        Some(json!({"collection": "cfg", "filter": {"k": 1}})),
    )
    .await
    .problem(404, "NOT_FOUND", "a's key fetching generic knowledge");
    // Nothing of tenant-b changed.
    let b1 = b
        .call(Method::GET, &format!("{B}/items/b-1/versions"), None)
        .await
        .expect(200, "b reads b");
    assert_eq!(b1.json["versions"].as_array().unwrap().len(), 1);
    let bq = b
        .call(Method::POST, &format!("{B}/query"), Some(json!({})))
        .await
        .expect(200, "b queries b");
    assert_eq!(
        bq.json["items"].as_array().unwrap().len(),
        1,
        "a's create in b did not land"
    );

    // Permissions are ordered: read < write < admin.
    let r = s.with_key(Some(&a_read));
    r.call(Method::GET, &format!("{A}/items/a-1"), None)
        .await
        .expect(200, "read key reads");
    r.call(Method::POST, &format!("{A}/query"), Some(json!({})))
        .await
        .expect(200, "read key queries");
    for (method, path, body) in [
        (Method::POST, format!("{A}/items"), Some(create("a-3"))),
        (
            Method::PUT,
            format!("{A}/items/a-1"),
            Some(json!({"data": {}, "expectedOv": 0, "actor": "x", "reason": "x"})),
        ),
        (
            Method::DELETE,
            format!("{A}/items/a-1?expectedOv=0&actor=x&reason=x"),
            None,
        ),
        (
            Method::POST,
            format!("{A}/items/a-1/enrich"),
            Some(json!({"patch": {}, "functionId": "f", "actor": "x", "reason": "x"})),
        ),
        (
            Method::POST,
            format!("{A}/items/a-1/restore"),
            Some(json!({"ov": 0, "actor": "x", "reason": "x"})),
        ),
        (
            Method::POST,
            format!("{A}/restore"),
            Some(json!({"cv": 1, "actor": "x", "reason": "x"})),
        ),
    ] {
        r.call(method.clone(), &path, body).await.problem(
            403,
            "FORBIDDEN",
            &format!("read key: {method} {path}"),
        );
    }
    let restore = json!({"cv": 1, "actor": "x", "reason": "x", "dryRun": true});
    a.call(Method::POST, &format!("{A}/restore"), Some(restore.clone()))
        .await
        .problem(403, "FORBIDDEN", "write key restoring a collection");
    a.call(Method::POST, &format!("{A}/gc"), Some(json!({})))
        .await
        .problem(403, "FORBIDDEN", "write key collecting garbage");
    a.call(Method::POST, &format!("{B}/gc"), Some(json!({})))
        .await
        .problem(404, "NOT_FOUND", "a's key collecting b's garbage");
    s.with_key(Some(&a_admin))
        .call(Method::POST, &format!("{A}/restore"), Some(restore))
        .await
        .expect(200, "admin key restoring a collection");

    // Counters: reading needs read, a reset admin; another tenant's are missing, and say so
    // in the words of a missing item.
    r.call(Method::GET, &format!("{A}/counters"), None)
        .await
        .expect(200, "read key reads totals");
    let reset = json!({"actor": "x", "reason": "x"});
    a.call(
        Method::POST,
        &format!("{A}/counters/reset"),
        Some(reset.clone()),
    )
    .await
    .problem(403, "FORBIDDEN", "write key resetting counters");
    a.call(Method::GET, &format!("{B}/counters"), None)
        .await
        .problem(404, "NOT_FOUND", "a's key reading b's totals");
    a.call(
        Method::GET,
        &format!("{B}/counters/unique?rule=open_items&property=n"),
        None,
    )
    .await
    .problem(404, "NOT_FOUND", "a's key reading b's distinct values");
    s.with_key(Some(&a_admin))
        .call(Method::POST, &format!("{A}/counters/reset"), Some(reset))
        .await
        .expect(200, "admin key resetting counters");

    // Analytics: a tenant's results need read on its runtime databases, a run admin.
    r.call(Method::GET, "/v1/analytics/tenant-a/time-based", None)
        .await
        .expect(200, "read key reads its tenant's results");
    a.call(Method::GET, "/v1/analytics/tenant-b/cross-tenant", None)
        .await
        .problem(404, "NOT_FOUND", "a's key reading b's cross-tenant results");
    a.call(Method::POST, "/v1/analytics/tenant-a/run", Some(json!({})))
        .await
        .problem(403, "FORBIDDEN", "write key running analytics");

    // Erasure needs admin; another tenant's items, subjects and receipts are missing.
    let erase = json!({"actor": "x"});
    a.call(
        Method::POST,
        &format!("{A}/items/a-1/erase"),
        Some(erase.clone()),
    )
    .await
    .problem(403, "FORBIDDEN", "write key erasing");
    s.with_key(Some(&a_admin))
        .call(Method::POST, &format!("{B}/items/b-1/erase"), Some(erase))
        .await
        .problem(404, "NOT_FOUND", "a's admin key erasing b's item");
    let subject = json!({"value": "v", "actor": "x"});
    s.with_key(Some(&a_admin))
        .call(
            Method::POST,
            "/v1/erasure/tenant-b/subject",
            Some(subject.clone()),
        )
        .await
        .problem(404, "NOT_FOUND", "a's admin key erasing b's subject");
    s.with_key(Some(&a_admin))
        .call(Method::POST, "/v1/erasure/tenant-a/subject", Some(subject))
        .await
        .problem(
            403,
            "FORBIDDEN",
            "a runtime-only admin key: the subject's knowledge and metadata too",
        );
    r.call(Method::GET, "/v1/erasure/tenant-b/receipts/er-1", None)
        .await
        .problem(404, "NOT_FOUND", "a's key checking b's receipt");

    // Entities in another database type need their own scope.
    a.call(Method::POST, &format!("{A}/items"), Some(json!({"data": {"c": {"cid": "1"}}, "actor": "x", "reason": "x",
        "entities": [{"property": "c", "collection": "customers", "keyProperty": "cid", "databaseType": "knowledge"}]})))
        .await
        .problem(403, "FORBIDDEN", "entities into knowledge with a read-only knowledge scope");

    // `*` scopes.
    let all = s.with_key(Some(&all_tenants));
    all.call(Method::GET, &format!("{A}/items/a-1"), None)
        .await
        .expect(200, "runtime:tenant:* reads a");
    all.call(Method::GET, &format!("{B}/items/b-1"), None)
        .await
        .expect(200, "runtime:tenant:* reads b");
    all.call(
        Method::GET,
        "/v1/knowledge/tenant/tenant-b/cfg/items/x",
        None,
    )
    .await
    .problem(404, "NOT_FOUND", "runtime:tenant:* is not knowledge");
    all.call(Method::POST, &format!("{A}/items"), Some(create("a-4")))
        .await
        .problem(403, "FORBIDDEN", "runtime:tenant:*:read writing");
    let g = s.with_key(Some(&generic));
    let got = g
        .call(
            Method::POST,
            "/v1/knowledge/fetch",
            Some(json!({"collection": "cfg", "filter": {"k": 1}})),
        )
        .await
        .expect(200, "knowledge:generic:* fetching generic");
    assert_eq!(got.json["tiersFound"], json!(["generic"]));
    g.call(
        Method::POST,
        "/v1/knowledge/fetch",
        Some(json!({"collection": "cfg", "filter": {"k": 1}, "tenantId": "tenant-b"})),
    )
    .await
    .problem(
        404,
        "NOT_FOUND",
        "knowledge:generic:* fetching a tenant tier",
    );
    g.call(
        Method::POST,
        "/v1/knowledge/domain/retail/cfg/query",
        Some(json!({})),
    )
    .await
    .problem(404, "NOT_FOUND", "knowledge:generic:* on a domain");

    // Missing, malformed and unknown keys: 401 on every route, before the route is looked at.
    for (header, what) in [
        (None, "no key"),
        (Some("Basic abc"), "another scheme"),
        (Some("Bearer"), "no key after Bearer"),
        (Some("Bearer chr_not-a-key"), "an unknown key"),
        (
            Some(&*format!("Bearer {a_read}x")),
            "a key with a character more",
        ),
    ] {
        for path in [
            format!("{A}/items/a-1"),
            format!("{B}/items/b-1"),
            "/v1/runtime/tenant/nobody/x/items/y".to_string(),
        ] {
            let mut req = s.client.get(format!("{}{path}", s.base));
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{what} on {path}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"chronos\"");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["code"], "UNAUTHORIZED");
        }
    }
    // Liveness and the API description need no key.
    s.with_key(None)
        .call(Method::GET, "/healthz", None)
        .await
        .expect(200, "healthz without a key");
    s.with_key(None)
        .call(Method::GET, "/openapi.json", None)
        .await
        .expect(200, "openapi without a key");
    // Metrics and readiness (every tenant's traffic, the deployment's connections) need an
    // operator's key.
    for path in ["/metrics", "/readyz"] {
        s.with_key(None)
            .call(Method::GET, path, None)
            .await
            .problem(401, "UNAUTHORIZED", path);
        for tenant_key in [&a_admin, &b_admin, &all_tenants] {
            s.with_key(Some(tenant_key))
                .call(Method::GET, path, None)
                .await
                .problem(403, "FORBIDDEN", &format!("{path} with a tenant's key"));
        }
        s.with_key(Some(&operator))
            .call(Method::GET, path, None)
            .await
            .expect(200, path);
    }
    s.stop().await;
}
