//! Prometheus metrics: requests, latencies and errors by route template and status, and the
//! time spent in library calls by operation. Labels are route templates
//! (`/v1/{databaseType}/tenant/{tenantId}/{collection}/items/{id}`), never concrete paths,
//! so no tenant, collection or item name ever appears in a label.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::future::Future;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    route: String,
    status: u16,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: &'static str,
    outcome: &'static str,
}

/// The server's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    calls: Family<CallLabels, Histogram>,
    queue: QueueGauges,
    event_streams: Gauge,
}

/// The fallback queue's state, read from its journal at every scrape (absent without a
/// queue).
#[derive(Default)]
struct QueueGauges {
    depth: Gauge,
    oldest_age: Gauge,
    dead: Gauge,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 52 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("chronos");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        let calls = Family::<CallLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            latency.clone(),
        );
        registry.register(
            "http_errors",
            "HTTP error answers, by route template, status and error code",
            errors.clone(),
        );
        registry.register(
            "backend_call_duration_seconds",
            "Time spent in each request's library call (its metadata-store and object-storage round trips and their processing), by operation and outcome",
            calls.clone(),
        );
        let event_streams = Gauge::default();
        registry.register(
            "event_streams_open",
            "Change-feed event streams open and long polls waiting (server.maxEventStreams caps them)",
            event_streams.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            errors,
            calls,
            queue: QueueGauges::default(),
            event_streams,
        }
    }

    /// The gauge of open event streams, kept by [`crate::streams::EventStreams`].
    pub(crate) fn event_streams_gauge(&self) -> Gauge {
        self.event_streams.clone()
    }

    pub(crate) fn record_request(
        &self,
        method: &str,
        route: &str,
        status: u16,
        error_code: Option<&str>,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.into(),
                route: route.into(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                method: method.into(),
                route: route.into(),
            })
            .observe(seconds);
        if let Some(code) = error_code {
            self.errors
                .get_or_create(&ErrorLabels {
                    route: route.into(),
                    status,
                    code: code.into(),
                })
                .inc();
        }
    }

    /// Runs one library call, recording its duration under `operation`.
    pub(crate) async fn time<T, E>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.calls
            .get_or_create(&CallLabels { operation, outcome })
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Adds the fallback queue's gauges (once, when the instance has a queue).
    pub(crate) fn with_queue(mut self) -> Self {
        self.registry.register(
            "fallback_queue_depth",
            "Writes waiting in the fallback queue (being replayed included)",
            self.queue.depth.clone(),
        );
        self.registry.register(
            "fallback_queue_oldest_age_seconds",
            "Age of the oldest write waiting in the fallback queue (0 when empty)",
            self.queue.oldest_age.clone(),
        );
        self.registry.register(
            "fallback_dead_letters",
            "Writes in the fallback queue's dead letters",
            self.queue.dead.clone(),
        );
        self
    }

    /// Records the fallback queue's state for the next scrape.
    pub(crate) fn set_queue(&self, stats: &chronos_db::fallback::QueueStats) {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.queue.depth.set(clamp(stats.pending));
        self.queue.dead.set(clamp(stats.dead));
        let now = chronos_db::model::Timestamp::now().micros();
        let age = stats
            .oldest_queued_at
            .map(|t| now.saturating_sub(t.micros()).max(0) / 1_000_000)
            .unwrap_or(0);
        self.queue.oldest_age.set(age);
    }

    /// The Prometheus text format of every metric.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
