//! The fallback queue over HTTP: 202 for a write the queue took, the server's worker
//! replaying it, `Idempotency-Key`, the queue's gauges in /metrics.

use crate::support::serve_chronos;
use async_trait::async_trait;
use bytes::Bytes;
use chronos_db::payload::{ObjectInfo, PayloadError, PayloadStore};
use chronos_db::ChronosOptions;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Object storage that does not answer while `down` is set.
struct Switch {
    inner: Arc<dyn PayloadStore>,
    down: Arc<AtomicBool>,
}

impl Switch {
    fn check(&self) -> Result<(), PayloadError> {
        match self.down.load(Ordering::SeqCst) {
            true => Err(PayloadError::Unavailable("storage switched off".into())),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl PayloadStore for Switch {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), PayloadError> {
        self.check()?;
        self.inner.put(key, bytes).await
    }
    async fn get(&self, key: &str) -> Result<Bytes, PayloadError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), PayloadError> {
        self.check()?;
        self.inner.copy(from, to).await
    }
    async fn delete(&self, key: &str) -> Result<(), PayloadError> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, PayloadError> {
        self.check()?;
        self.inner.list(prefix).await
    }
    async fn presign(&self, key: &str, ttl: Duration) -> Result<String, PayloadError> {
        self.inner.presign(key, ttl).await
    }
}

/// A server on the embedded backend with the queue on, and the switch of its storage.
async fn server() -> (crate::support::TestServer, Arc<AtomicBool>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = chronos_db::config::ChronosConfig::embedded(dir.path());
    cfg.fallback = Some(chronos_db::config::Fallback {
        enabled: true,
        retry_delay_ms: Some(50),
        max_delay_ms: Some(100),
        max_retries: Some(1000),
        ..Default::default()
    });
    let down = Arc::new(AtomicBool::new(false));
    let switch = down.clone();
    let options = ChronosOptions {
        payload_layer: Some(Arc::new(move |inner| {
            Arc::new(Switch {
                inner,
                down: switch.clone(),
            }) as Arc<dyn PayloadStore>
        })),
        ..Default::default()
    };
    let chronos = chronos_db::Chronos::open_with(cfg, options).await.unwrap();
    (serve_chronos(chronos, Box::new(dir)).await, down)
}

const C: &str = "/v1/runtime/tenant/acme/orders";

/// The value of a metric line `name value` in the Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_write_is_202_and_the_server_replays_it() {
    let (s, down) = server().await;
    down.store(true, Ordering::SeqCst);
    let queued = s
        .post(
            &format!("{C}/items"),
            json!({"data": {"total": 1}, "actor": "a", "reason": "r"}),
        )
        .await
        .expect(202, "a create while storage is down");
    assert_eq!(
        (queued.json["queued"].clone(), queued.json["op"].clone()),
        (json!(true), json!("create"))
    );
    let id = queued.json["id"].as_str().unwrap().to_string();
    let behind = s
        .put(
            &format!("{C}/items/{id}"),
            json!({"data": {"total": 2}, "expectedOv": 0, "actor": "a", "reason": "r"}),
        )
        .await
        .expect(202, "an update behind a queued create");
    assert_eq!(behind.json["op"], "update");
    assert_ne!(behind.json["requestId"], queued.json["requestId"]);
    s.get(&format!("{C}/items/{id}"))
        .await
        .problem(404, "NOT_FOUND", "not committed yet");
    let text = s.get("/metrics").await.expect(200, "metrics").text;
    assert_eq!(
        metric(&text, "chronos_fallback_queue_depth"),
        Some(2.0),
        "{text}"
    );

    down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = s.get(&format!("{C}/items/{id}")).await;
        if a.status == 200 && a.json["_system"]["ov"] == 1 {
            assert_eq!(a.json["total"], 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not replay: {}",
            a.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let versions = s
        .get(&format!("{C}/items/{id}/versions"))
        .await
        .expect(200, "versions");
    assert_eq!(versions.json["versions"].as_array().unwrap().len(), 2);
    let text = s.get("/metrics").await.expect(200, "metrics").text;
    assert_eq!(
        metric(&text, "chronos_fallback_queue_depth"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "chronos_fallback_dead_letters"),
        Some(0.0),
        "{text}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_keys_return_the_first_outcome() {
    let (s, down) = server().await;
    let keyed = |key: &'static str, body: Value| {
        let s = &s;
        async move {
            let r = s
                .client
                .post(format!("{}{C}/items", s.base))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let body = json!({"data": {"n": 1}, "actor": "a", "reason": "r"});
    let first = keyed("order-1", body.clone()).await;
    let again = keyed("order-1", body.clone()).await;
    assert_eq!(first.0, 201);
    assert_eq!(first, again);
    let id = first.1["id"].as_str().unwrap();
    let versions = s
        .get(&format!("{C}/items/{id}/versions"))
        .await
        .expect(200, "versions");
    assert_eq!(versions.json["versions"].as_array().unwrap().len(), 1);

    let (status, problem) = keyed("has space", body.clone()).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (400, json!("VALIDATION_ERROR"))
    );

    // A queued request repeated: still queued, as the same request.
    down.store(true, Ordering::SeqCst);
    let queued = keyed("order-2", body.clone()).await;
    let queued_again = keyed("order-2", body.clone()).await;
    assert_eq!(queued.0, 202);
    assert_eq!(queued, queued_again);
    assert_eq!(queued.1["requestId"], "order-2");
    down.store(false, Ordering::SeqCst);
    s.stop().await;
}
