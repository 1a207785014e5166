//! The request time limit and the concurrency limit, over a deliberately slow payload store.

use crate::support::TestServer;
use async_trait::async_trait;
use bytes::Bytes;
use chronos_db::payload::{ObjectInfo, PayloadError, PayloadStore};
use chronos_db::ChronosOptions;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A payload store whose writes take `delay`.
struct Slow {
    inner: Arc<dyn PayloadStore>,
    delay: Duration,
    puts: Arc<Puts>,
}

/// How many payload writes have begun and finished: tests wait on these, not on the clock.
#[derive(Default)]
pub(crate) struct Puts {
    pub(crate) started: AtomicUsize,
    pub(crate) finished: AtomicUsize,
}

#[async_trait]
impl PayloadStore for Slow {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), PayloadError> {
        self.puts.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let done = self.inner.put(key, bytes).await;
        self.puts.finished.fetch_add(1, Ordering::SeqCst);
        done
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

async fn slow_server(delay: Duration, timeout_ms: u64, slots: usize) -> (TestServer, Arc<Puts>) {
    let (s, _, puts) = slow_server_with_config(delay, timeout_ms, slots).await;
    (s, puts)
}

/// A server whose payload writes take `delay`, its configuration (to reopen the data) and
/// its payload writes.
pub(crate) async fn slow_server_with_config(
    delay: Duration,
    timeout_ms: u64,
    slots: usize,
) -> (TestServer, chronos_db::config::ChronosConfig, Arc<Puts>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = chronos_db::config::ChronosConfig::embedded(dir.path());
    cfg.server = Some(chronos_db::config::ServerSettings {
        request_timeout_ms: Some(timeout_ms),
        max_concurrent_requests: Some(slots),
        ..Default::default()
    });
    let puts = Arc::new(Puts::default());
    let counted = puts.clone();
    let options = ChronosOptions {
        payload_layer: Some(Arc::new(move |inner| {
            Arc::new(Slow {
                inner,
                delay,
                puts: counted.clone(),
            }) as Arc<dyn PayloadStore>
        })),
        ..Default::default()
    };
    let chronos = chronos_db::Chronos::open_with(cfg.clone(), options)
        .await
        .unwrap();
    (
        crate::support::serve_chronos(chronos, Box::new(dir)).await,
        cfg,
        puts,
    )
}

const C: &str = "/v1/runtime/tenant/acme/orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_past_its_time_is_503_and_commits_nothing() {
    // The store would take 60 s; the answer comes at the 200 ms limit (bounded loosely: a
    // loaded machine may be slow, but never by most of a minute).
    let (s, _) = slow_server(Duration::from_secs(60), 200, 16).await;
    let started = Instant::now();
    let a = s
        .post(
            &format!("{C}/items"),
            json!({"data": {"n": 1}, "actor": "a", "reason": "r", "id": "late"}),
        )
        .await
        .problem(503, "TIMEOUT", "a write slower than requestTimeoutMs");
    assert!(
        started.elapsed() < Duration::from_secs(30),
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
    // Long enough that a health check answering "at once" is never a matter of luck.
    let delay = Duration::from_secs(4);
    let (s, puts) = slow_server(delay, 30_000, 1).await;
    let s = Arc::new(s);
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
    // Health checks do not queue behind the writes: one answers while the first write
    // holds the only slot and the second waits.
    let deadline = Instant::now() + Duration::from_secs(60);
    while puts.started.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.get("/healthz")
        .await
        .expect(200, "healthz while the slot is taken");
    assert_eq!(
        puts.finished.load(Ordering::SeqCst),
        0,
        "healthz waited for a slot"
    );
    for w in writes {
        w.await.unwrap();
    }
    // One slot: the second write waited for the first (each does one slow object write).
    assert!(started.elapsed() >= delay * 2, "{:?}", started.elapsed());
}
