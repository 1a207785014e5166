//! Bad input never yields a 5xx: each answer is a problem document with a 4xx status and a
//! code, and the data stays as it was.

use crate::support::{config, start_with, Backend};
use reqwest::Method;
use serde_json::json;

const C: &str = "/v1/runtime/tenant/acme/orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_a_typed_4xx() {
    let (cfg, keep) = config(Backend::Embedded).expect("embedded");
    let s = start_with(cfg, keep, vec![], |_| {}).await;
    s.post(
        &format!("{C}/items"),
        json!({"data": {"status": "open", "n": 1}, "actor": "a", "reason": "r", "id": "x-1"}),
    )
    .await
    .expect(201, "seed");

    let json_bodies: Vec<(&str, Method, String, String)> = vec![
        (
            "malformed JSON",
            Method::POST,
            format!("{C}/items"),
            "{\"data\": {".into(),
        ),
        (
            "not an object",
            Method::POST,
            format!("{C}/items"),
            "[1, 2]".into(),
        ),
        (
            "trailing garbage",
            Method::POST,
            format!("{C}/items"),
            "{\"data\": {}, \"actor\": \"a\", \"reason\": \"r\"} x".into(),
        ),
        (
            "a key twice",
            Method::POST,
            format!("{C}/items"),
            "{\"data\": {}, \"data\": {}, \"actor\": \"a\", \"reason\": \"r\"}".into(),
        ),
        (
            "data not an object",
            Method::POST,
            format!("{C}/items"),
            json!({"data": "x", "actor": "a", "reason": "r"}).to_string(),
        ),
        (
            "missing actor",
            Method::POST,
            format!("{C}/items"),
            json!({"data": {}, "reason": "r"}).to_string(),
        ),
        (
            "unknown field",
            Method::POST,
            format!("{C}/items"),
            json!({"data": {}, "actor": "a", "reason": "r", "colour": 1}).to_string(),
        ),
        (
            "expectedOv a string",
            Method::PUT,
            format!("{C}/items/x-1"),
            json!({"data": {}, "expectedOv": "0", "actor": "a", "reason": "r"}).to_string(),
        ),
        (
            "expectedOv negative",
            Method::PUT,
            format!("{C}/items/x-1"),
            json!({"data": {}, "expectedOv": -1, "actor": "a", "reason": "r"}).to_string(),
        ),
        (
            "id with a slash in the body",
            Method::POST,
            format!("{C}/items"),
            json!({"data": {}, "actor": "a", "reason": "r", "id": "a/b"}).to_string(),
        ),
        (
            "id ..",
            Method::POST,
            format!("{C}/items"),
            json!({"data": {}, "actor": "a", "reason": "r", "id": ".."}).to_string(),
        ),
        (
            "unknown query operator",
            Method::POST,
            format!("{C}/query"),
            json!({"filter": {"status": {"$where": "1"}}}).to_string(),
        ),
        (
            "tampered cursor",
            Method::POST,
            format!("{C}/query"),
            json!({"cursor": "eyJ0YW1wZXJlZCI6dHJ1ZX0"}).to_string(),
        ),
        (
            "huge limit",
            Method::POST,
            format!("{C}/query"),
            json!({"limit": 1_000_000_000_u64}).to_string(),
        ),
        (
            "zero limit",
            Method::POST,
            format!("{C}/query"),
            json!({"limit": 0}).to_string(),
        ),
        (
            "bad asOf",
            Method::POST,
            format!("{C}/query"),
            json!({"asOf": "yesterday"}).to_string(),
        ),
        (
            "both asOf and asOfCv",
            Method::POST,
            format!("{C}/query"),
            json!({"asOf": "2024-01-01T00:00:00Z", "asOfCv": 1}).to_string(),
        ),
        (
            "restore without a target",
            Method::POST,
            format!("{C}/items/x-1/restore"),
            json!({"actor": "a", "reason": "r"}).to_string(),
        ),
        (
            "restore with both targets",
            Method::POST,
            format!("{C}/restore"),
            json!({"cv": 1, "at": "2024-01-01T00:00:00Z", "actor": "a", "reason": "r"}).to_string(),
        ),
        (
            "enrich with a number",
            Method::POST,
            format!("{C}/items/x-1/enrich"),
            json!({"patch": 5, "functionId": "f", "actor": "a", "reason": "r"}).to_string(),
        ),
        (
            "fetch with a bad tenant",
            Method::POST,
            "/v1/knowledge/fetch".into(),
            json!({"collection": "c", "filter": {}, "tenantId": "../b"}).to_string(),
        ),
        (
            "1,000-deep nesting",
            Method::POST,
            format!("{C}/items"),
            format!(
                "{{\"data\": {}{}, \"actor\": \"a\", \"reason\": \"r\"}}",
                "{\"a\":".repeat(1000) + "1",
                "}".repeat(1000)
            ),
        ),
        (
            "1,000-deep arrays",
            Method::POST,
            format!("{C}/query"),
            format!("{{\"filter\": {}{}}}", "[".repeat(1000), "]".repeat(1000)),
        ),
    ];
    for (what, method, path, body) in json_bodies {
        let a = s
            .raw(method, &path, "application/json", body.into_bytes())
            .await;
        assert!(
            a.status.is_client_error(),
            "{what}: {} {}",
            a.status,
            a.text
        );
        // A bad tenant or collection name is a bad route; the rest is bad data.
        let code = if what.contains("tenant") {
            "ROUTE_ERROR"
        } else {
            "VALIDATION_ERROR"
        };
        a.problem(400, code, what);
    }
    let typed = s
        .put(
            &format!("{C}/items/x-1"),
            json!({"data": {}, "expectedOv": "0", "actor": "a", "reason": "r"}),
        )
        .await;
    assert_eq!(typed.json["path"], "$.expectedOv", "{}", typed.text);

    // Paths: ids and names with /, .., encoded dots and slashes, NUL, invalid UTF-8.
    for path in [
        format!("{C}/items/a%2Fb"),
        format!("{C}/items/%2e%2e"),
        format!("{C}/items/.."),
        format!("{C}/items/a%00b"),
        format!("{C}/items/%FF"),
        format!("{C}/items/{}", "x".repeat(200)),
        "/v1/runtime/tenant/%2e%2e/orders/items/x".into(),
        "/v1/runtime/tenant/ACME/orders/items/x".into(),
        "/v1/runtime/tenant/a%2Fb/orders/items/x".into(),
        "/v1/runtime/tenant/acme/or%2Fders/items/x".into(),
        "/v1/runtime/tenant/acme/%00/items/x".into(),
        "/v1/nosuchtype/tenant/acme/orders/items/x".into(),
        "/v1/runtime/generic/orders/items/x".into(),
        format!("{C}/items/x-1?ov=abc"),
        format!("{C}/items/x-1?ov=-1"),
        format!("{C}/items/x-1?at=tomorrow"),
        format!("{C}/items/x-1?ov=0&at=2024-01-01T00:00:00Z"),
        format!("{C}/items/x-1?colour=red"),
        format!("{C}/items/x-1?fields="),
        format!("{C}/items/x-1?presign=true&ttlSeconds=0"),
        format!("{C}/items/x-1?entities=notjson"),
        format!("{C}/items/x-1/versions?limit=100000"),
    ] {
        let a = s.get(&path).await;
        assert!(
            a.status.is_client_error(),
            "GET {path}: {} {}",
            a.status,
            a.text
        );
        assert_eq!(
            a.headers["content-type"], "application/problem+json",
            "GET {path}"
        );
        assert!(a.json["code"].is_string(), "GET {path}: {}", a.text);
    }
    let named = s.get(&format!("{C}/items/x-1?ov=abc")).await;
    assert_eq!(
        named.json["path"], "ov",
        "the offending parameter is named: {}",
        named.text
    );
    // Traversal never reaches a file: `..` in any form is refused or stays a name.
    let a = s
        .get("/v1/runtime/tenant/acme/orders/items/..%2F..%2Fmeta")
        .await;
    assert!(a.status.is_client_error(), "{}", a.text);

    // Not JSON at all, or not declared as JSON.
    s.raw(
        Method::POST,
        &format!("{C}/items"),
        "text/plain",
        b"{}".to_vec(),
    )
    .await
    .problem(415, "UNSUPPORTED_MEDIA_TYPE", "text/plain body");
    s.raw(
        Method::POST,
        &format!("{C}/items"),
        "application/json",
        vec![0xff, 0xfe],
    )
    .await
    .problem(400, "VALIDATION_ERROR", "a body that is not UTF-8");

    // A body above the server's limit (16 MiB by default) is refused before it is read whole.
    let big = format!(
        "{{\"data\": {{\"blob\": \"{}\"}}, \"actor\": \"a\", \"reason\": \"r\"}}",
        "x".repeat(17 << 20)
    );
    s.raw(
        Method::POST,
        &format!("{C}/items"),
        "application/json",
        big.into_bytes(),
    )
    .await
    .problem(413, "PAYLOAD_TOO_LARGE", "a 17 MiB body");

    // Unknown endpoints and methods.
    s.get("/v2/anything")
        .await
        .problem(404, "NOT_FOUND", "unknown endpoint");
    s.call(Method::PATCH, &format!("{C}/items/x-1"), None)
        .await
        .problem(405, "METHOD_NOT_ALLOWED", "PATCH");
    let brew = Method::from_bytes(b"BREW").unwrap();
    let a = s.call(brew, &format!("{C}/items/x-1"), None).await;
    assert!(a.status.is_client_error(), "{}", a.text);
    let metrics = s.get("/metrics").await.expect(200, "metrics");
    assert!(
        !metrics.text.contains("BREW"),
        "made-up methods do not become labels"
    );

    // None of it changed the item.
    let item = s
        .get(&format!("{C}/items/x-1"))
        .await
        .expect(200, "the item after");
    assert_eq!(item.json["_system"]["ov"], 0);
    assert_eq!(item.json["n"], 1);
    let all = s
        .post(&format!("{C}/query"), json!({}))
        .await
        .expect(200, "query after");
    assert_eq!(all.json["items"].as_array().unwrap().len(), 1);
    s.stop().await;
}

/// `limits.maxPayloadBytes` applies to the data (413 from the library) below the body limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_above_the_payload_limit_is_413() {
    let (mut cfg, keep) = config(Backend::Embedded).expect("embedded");
    cfg.limits.max_payload_bytes = 1024;
    let s = start_with(cfg, keep, vec![], |settings| {
        settings.max_body_bytes = Some(1 << 20)
    })
    .await;
    let a = s
        .post(
            &format!("{C}/items"),
            json!({"data": {"blob": "x".repeat(4096)}, "actor": "a", "reason": "r"}),
        )
        .await
        .problem(
            413,
            "PAYLOAD_TOO_LARGE",
            "data above limits.maxPayloadBytes",
        );
    assert_eq!(a.json["limit"], 1024);
    let b = s
        .raw(
            Method::POST,
            &format!("{C}/items"),
            "application/json",
            vec![b' '; 2 << 20],
        )
        .await;
    b.problem(413, "PAYLOAD_TOO_LARGE", "a body above server.maxBodyBytes");
    s.stop().await;
}
