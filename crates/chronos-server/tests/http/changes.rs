//! The change feed over HTTP: pages, long polls, event streams resumed from `Last-Event-ID`,
//! on every backend.

use crate::support::{config, key, start, start_with, Backend, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const P: &str = "/v1/runtime/tenant/acme/feed";

/// The `id:` of every `change` event in `text`, and their data.
fn events(text: &str) -> Vec<(u64, Value)> {
    text.split("\n\n")
        .filter(|block| block.lines().any(|l| l == "event: change"))
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            (
                field("id:").parse().expect("an event id"),
                serde_json::from_str(&field("data:")).expect("JSON data"),
            )
        })
        .collect()
}

/// Reads an event stream until it holds `n` change events (or fails after 20 s).
async fn read_events(s: &TestServer, last_event_id: Option<u64>, n: usize) -> Vec<(u64, Value)> {
    let mut req = s
        .client
        .get(format!("{}{P}/changes", s.base))
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id.to_string());
    }
    let mut resp = req.send().await.expect("the stream opens");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    while events(&text).len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, resp.chunk()).await {
            Ok(Ok(Some(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("the stream ended early ({other:?}): {text}"),
        }
    }
    events(&text)
}

async fn feed(backend: Backend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let created = s
        .post(
            &format!("{P}/items"),
            json!({"data": {"n": 1}, "actor": "app", "reason": ""}),
        )
        .await
        .expect(201, "create");
    let id = created.json["id"].as_str().expect("id").to_string();
    let item = format!("{P}/items/{id}");
    let update = |ov: u64, n: u64| {
        s.put(
            &item,
            json!({"data": {"n": n}, "expectedOv": ov, "actor": "app", "reason": ""}),
        )
    };
    update(0, 2).await.expect(200, "update");

    let page = s
        .get(&format!("{P}/changes?include=after"))
        .await
        .expect(200, "changes");
    let ops: Vec<&str> = page.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["CREATE", "UPDATE"]);
    assert_eq!(page.json["changes"][1]["after"], json!({"n": 2}));
    let since = page.json["nextSinceCv"].as_u64().expect("a position");
    for (query, what) in [
        ("ops=TOUCH", "an operation that is none"),
        ("wait=90s", "a wait over a minute"),
        ("include=all", "content that is none"),
        ("sinceCv=x", "a position that is no cv"),
    ] {
        s.get(&format!("{P}/changes?{query}"))
            .await
            .problem(400, "VALIDATION_ERROR", what);
    }

    // A long poll with nothing to say answers empty after its wait...
    let started = Instant::now();
    let idle = s
        .get(&format!("{P}/changes?sinceCv={since}&wait=1s"))
        .await
        .expect(200, "an idle long poll");
    assert!(idle.json["changes"].as_array().unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
    // ...and as soon as a change commits otherwise.
    let waiting = format!("{P}/changes?sinceCv={since}&wait=20s");
    let poll = s.get(&waiting);
    let write = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        update(1, 3).await.expect(200, "update during the poll");
    };
    let started = Instant::now();
    let (woken, ()) = tokio::join!(poll, write);
    let woken = woken.expect(200, "a woken long poll");
    assert_eq!(woken.json["changes"][0]["ov"], 2);
    assert!(started.elapsed() < Duration::from_secs(10));

    // An event stream: every change with its cv as the event id; resumed after one.
    let all = read_events(&s, None, 3).await;
    let ovs: Vec<u64> = all.iter().map(|(_, c)| c["ov"].as_u64().unwrap()).collect();
    assert_eq!(ovs, [0, 1, 2]);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(all.iter().all(|(cv, c)| c["cv"] == *cv));
    let resumed = read_events(&s, Some(all[0].0), 2).await;
    assert_eq!(resumed[0].0, all[1].0);
    // Later commits arrive on an open stream.
    let (live, ()) = tokio::join!(read_events(&s, Some(all[2].0), 1), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        update(2, 4).await.expect(200, "update during the stream");
    });
    assert_eq!(live[0].1["ov"], 3);
    s.stop().await;
}

/// Opens an event stream with `key`; the response (kept open) or the refusal.
async fn open_stream(s: &TestServer, key: &str) -> reqwest::Response {
    s.client
        .get(format!("{}{P}/changes", s.base))
        .header("accept", "text/event-stream")
        .bearer_auth(key)
        .send()
        .await
        .expect("the request is answered")
}

/// Asserts a refused stream: its status, `TOO_MANY_STREAMS` and `Retry-After`.
async fn assert_refused(resp: reqwest::Response, status: u16, what: &str) {
    assert_eq!(resp.status().as_u16(), status, "{what}");
    assert!(resp.headers().contains_key("retry-after"), "{what}");
    let body: Value = resp.json().await.expect("a problem document");
    assert_eq!(body["code"], "TOO_MANY_STREAMS", "{what}: {body}");
}

/// Event streams are capped in all and per key; a stream whose client went away gives its
/// place back; the cap never touches pages and long polls.
#[tokio::test]
async fn event_streams_are_capped_per_key_and_in_all() {
    let Some((cfg, keep)) = config(Backend::Embedded) else {
        return;
    };
    let (a, entry_a) = key("reader-a", &["runtime:tenant:acme:write"]);
    let (b, entry_b) = key("reader-b", &["runtime:tenant:acme:read"]);
    let (operator, entry_ops) = key("operator", &["*:*:*:read"]);
    let s = start_with(cfg, keep, vec![entry_a, entry_b, entry_ops], |settings| {
        settings.max_event_streams = Some(3);
        settings.max_event_streams_per_key = Some(2);
    })
    .await;
    let a1 = open_stream(&s, &a).await;
    let a2 = open_stream(&s, &a).await;
    assert_eq!((a1.status().as_u16(), a2.status().as_u16()), (200, 200));
    assert_refused(open_stream(&s, &a).await, 429, "a third stream of one key").await;
    let b1 = open_stream(&s, &b).await;
    assert_eq!(b1.status().as_u16(), 200, "another key's stream");
    assert_refused(
        open_stream(&s, &b).await,
        503,
        "a stream over the server's cap",
    )
    .await;
    // A long poll without a free place answers at once instead of waiting.
    let started = Instant::now();
    let page = s
        .with_key(Some(&b))
        .call(reqwest::Method::GET, &format!("{P}/changes?wait=5s"), None)
        .await;
    assert_eq!(page.status.as_u16(), 200, "{}", page.text);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "it did not wait: {:?}",
        started.elapsed()
    );
    let metrics = s
        .with_key(Some(&operator))
        .call(reqwest::Method::GET, "/metrics", None)
        .await;
    assert!(
        metrics.text.contains("chronos_event_streams_open 3"),
        "{}",
        metrics.text
    );

    // A client that goes away gives its place back once the server notices (its next
    // write to the connection fails): commits give the streams something to write.
    drop(a1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let reopened = loop {
        s.with_key(Some(&a))
            .call(
                reqwest::Method::POST,
                &format!("{P}/items"),
                Some(json!({"data": {"n": 1}, "actor": "app", "reason": ""})),
            )
            .await
            .expect(201, "a commit for the streams to send");
        let resp = open_stream(&s, &a).await;
        if resp.status().as_u16() == 200 {
            break resp;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop((reopened, a2, b1));
    s.stop().await;
}

/// A stopping server ends its event streams and answers its long polls at once: its stop
/// waits for no client (a stream would otherwise hold it for the stream's 5 minutes).
#[tokio::test]
async fn a_stopping_server_ends_streams_and_long_polls() {
    let Some(mut s) = start(Backend::Embedded).await else {
        return;
    };
    let url = format!("{}{P}/changes", s.base);
    let mut stream = s
        .client
        .get(&url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(stream.status().as_u16(), 200);
    let poll = tokio::spawn(s.client.get(format!("{url}?wait=60s")).send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let stop = s.begin_stop();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the event stream ends when the server stops");
    let polled = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("the long poll is answered when the server stops")
        .expect("the poll task")
        .expect("an answer");
    assert_eq!(polled.status().as_u16(), 200);
    tokio::time::timeout(Duration::from_secs(10), stop)
        .await
        .expect("the server stops without waiting for its clients")
        .expect("the server task")
        .expect("a clean stop");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn change_feed_embedded() {
    feed(Backend::Embedded).await;
}

#[tokio::test]
async fn change_feed_mongo_s3() {
    feed(Backend::MongoS3).await;
}
