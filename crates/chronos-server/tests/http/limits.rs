//! The request time limit and the concurrency limit, over a deliberately slow payload store.

use crate::support::TestServer;
use async_trait::async_trait;
use bytes::Bytes;
use chronos_db::payload::{ObjectInfo, PayloadError, PayloadStore};
use chronos_db::ChronosOptions;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A payload store whose writes take `delay`.
struct Slow {
    inner: Arc<dyn PayloadStore>,
    delay: Duration,
}

#[async_trait]
impl PayloadStore for Slow {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), PayloadError> {
        tokio::time::sleep(self.delay).await;
        self.inner.put(key, bytes).await
    }
    async fn get(&self, key: &str) -> Result<Bytes, PayloadError> {
        self.inner.get(key).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), PayloadError> {
        self.inner.copy(from, to).await
    }
    async fn delete(&self, key: &str) -> Result<(), PayloadError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, PayloadError> {
        self.inner.list(prefix).await
    }
    async fn presign(&self, key: &str, ttl: Duration) -> Result<String, PayloadError> {
        self.inner.presign(key, ttl).await
    }
}

async fn slow_server(delay: Duration, timeout_ms: u64, slots: usize) -> TestServer {
    slow_server_with_config(delay, timeout_ms, slots).await.0
}

/// A server whose payload writes take `delay`, and its configuration (to reopen the data).
pub(crate) async fn slow_server_with_config(
    delay: Duration,
    timeout_ms: u64,
    slots: usize,
) -> (TestServer, chronos_db::config::ChronosConfig) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = chronos_db::config::ChronosConfig::embedded(dir.path());
    cfg.server = Some(chronos_db::config::ServerSettings {
        request_timeout_ms: Some(timeout_ms),
        max_concurrent_requests: Some(slots),
        ..Default::default()
    });
    let options = ChronosOptions {
        payload_layer: Some(Arc::new(move |inner| {
            Arc::new(Slow { inner, delay }) as Arc<dyn PayloadStore>
        })),
        ..Default::default()
    };
    let chronos = chronos_db::Chronos::open_with(cfg.clone(), options)
        .await
        .unwrap();
    (
        crate::support::serve_chronos(chronos, Box::new(dir)).await,
        cfg,
    )
}

const C: &str = "/v1/runtime/tenant/acme/orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_past_its_time_is_503_and_commits_nothing() {
    let s = slow_server(Duration::from_secs(5), 200, 16).await;
    let started = Instant::now();
    let a = s
        .post(
            &format!("{C}/items"),
            json!({"data": {"n": 1}, "actor": "a", "reason": "r", "id": "late"}),
        )
        .await
        .problem(503, "TIMEOUT", "a write slower than requestTimeoutMs");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(a.headers["retry-after"], "1");
    // Dropped before its commit point: no version, and the id is still free.
    s.get(&format!("{C}/items/late"))
        .await
        .problem(404, "NOT_FOUND", "the timed-out write");
    s.get("/healthz")
        .await
        .expect(200, "the server still answers");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_beyond_the_concurrency_limit_wait_for_a_slot() {
    let delay = Duration::from_millis(1500);
    let s = Arc::new(slow_server(delay, 30_000, 1).await);
    let started = Instant::now();
    let mut writes = Vec::new();
    for i in 0..2 {
        let s = s.clone();
        writes.push(tokio::spawn(async move {
            s.post(
                &format!("{C}/items"),
                json!({"data": {"i": i}, "actor": "a", "reason": "r"}),
            )
            .await
            .expect(201, "a write");
        }));
    }
    // Health checks do not queue behind the writes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let probe = Instant::now();
    s.get("/healthz")
        .await
        .expect(200, "healthz while the slot is taken");
    assert!(
        probe.elapsed() < delay,
        "healthz waited for a slot: {:?}",
        probe.elapsed()
    );
    for w in writes {
        w.await.unwrap();
    }
    // One slot: the second write waited for the first (each does one slow object write).
    assert!(started.elapsed() >= delay * 2, "{:?}", started.elapsed());
}
