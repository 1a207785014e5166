//! # chronos-server
//!
//! Every operation of the `chronos-db` library over HTTP/JSON, safe to expose on a network:
//! API keys with tenant-scoped permissions, RFC 9457 problem documents, an OpenAPI 3.1
//! document at `/openapi.json`, Prometheus metrics at `/metrics`, request limits and a
//! graceful shutdown. `chronos serve` is its command-line shell.
//!
//! The handlers are thin: each parses its request, checks the key's scope and makes one
//! library call. Layout: `routes/` (handlers, one file per group), `target.rs` (path →
//! route → scope check), `auth.rs` (API keys), `extract.rs` (strict JSON and query
//! parsing), `problem.rs` (errors), `observe.rs` (request ids, limits, logs, metrics),
//! `openapi.rs`, `metrics.rs`, `readiness.rs`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let chronos = chronos_db::Chronos::embedded("./chronos-data").await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7070").await?;
//! let server = chronos_server::Server::new(chronos, &listener.local_addr()?)?;
//! server.serve(listener, chronos_server::shutdown_signal()).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs, unreachable_pub)]

mod auth;
mod extract;
mod metrics;
mod observe;
mod openapi;
mod problem;
mod readiness;
mod routes;
mod state;
mod streams;
mod target;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use chronos_db::access::ApiKeys;
use chronos_db::config::ServerSettings;
use chronos_db::Chronos;
use problem::ApiError;
use routes::{
    analytics, blobs, changes, collection, counters, erasure, fetch, history, items, system,
};
use state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use target::PREFIXES;

/// Why a server cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The `server` section of the configuration is invalid (each problem as `path: message`).
    #[error("invalid server configuration:\n{}", .0.join("\n"))]
    Config(Vec<String>),
    /// No API key is configured and the address is not a loopback address.
    #[error("refusing to listen on {0} without API keys: add server.apiKeys to the configuration (`chronos keys new`), or listen on 127.0.0.1 / [::1]")]
    Unprotected(SocketAddr),
    /// Serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// A configured server: the library instance, its keys and limits, and the router.
pub struct Server {
    router: Router,
    auth: bool,
    /// The analytics rules' schedule (`analytics.schedule`), run while serving.
    schedule: Option<(Duration, Arc<Chronos>)>,
    /// The retention sweeps' schedule (`retention.schedule`), run while serving.
    retention: Option<(Duration, Arc<Chronos>)>,
    /// The fallback queue's worker (`fallback.enabled`), run while serving.
    queue: Option<chronos_db::queue::FallbackQueue>,
    /// Set when the graceful stop begins: the schedules, the queue's worker, long polls and
    /// event streams watch it.
    stopping: tokio::sync::watch::Sender<bool>,
    /// How long the graceful stop waits for connections before it closes them.
    grace: Duration,
}

impl Server {
    /// A server over `chronos`, configured by its configuration's `server` section, that will
    /// listen on `addr`. Without API keys only a loopback `addr` is accepted.
    /// Objects kept in local files are presigned as links to this server
    /// (`server.publicUrl`, default `http://<addr>`), which it serves at `/v1/blobs/...`.
    pub fn new(chronos: Chronos, addr: &SocketAddr) -> Result<Self, ServerError> {
        let settings = chronos.config().server.clone().unwrap_or_default();
        let base_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        chronos.enable_local_links(&base_url);
        let server = Self::over(chronos, settings)?;
        if !server.auth && !addr.ip().is_loopback() {
            return Err(ServerError::Unprotected(*addr));
        }
        Ok(server)
    }

    fn over(chronos: Chronos, settings: ServerSettings) -> Result<Self, ServerError> {
        let keys = ApiKeys::from_entries(&settings.api_keys).map_err(ServerError::Config)?;
        let auth = !keys.is_empty();
        let has_queue = chronos.queue().is_ok();
        let metrics = match has_queue {
            true => metrics::Metrics::new().with_queue(),
            false => metrics::Metrics::new(),
        };
        let request_slots = settings
            .max_concurrent_requests
            .unwrap_or(ServerSettings::DEFAULT_MAX_CONCURRENT_REQUESTS);
        let streams = streams::EventStreams::new(
            settings
                .max_event_streams
                .unwrap_or(ServerSettings::DEFAULT_MAX_EVENT_STREAMS),
            auth.then(|| {
                settings
                    .max_event_streams_per_key
                    .unwrap_or(ServerSettings::DEFAULT_MAX_EVENT_STREAMS_PER_KEY)
            }),
            request_slots,
            metrics.event_streams_gauge(),
        );
        let request_timeout = Duration::from_millis(
            settings
                .request_timeout_ms
                .unwrap_or(ServerSettings::DEFAULT_REQUEST_TIMEOUT_MS),
        );
        let (stopping, stopping_seen) = tokio::sync::watch::channel(false);
        let state = AppState {
            stopping: stopping_seen,
            chronos: Arc::new(chronos),
            keys: Arc::new(keys),
            open_grant: ApiKeys::open_grant(),
            metrics: Arc::new(metrics),
            streams: Arc::new(streams),
            readiness: Arc::new(readiness::Readiness::new()),
            slots: Arc::new(tokio::sync::Semaphore::new(request_slots)),
            request_timeout,
        };
        let max_body = settings
            .max_body_bytes
            .unwrap_or(ServerSettings::DEFAULT_MAX_BODY_BYTES);
        // Checked with the configuration (`analytics::check_config`): an unreadable schedule
        // never gets here.
        let schedule = state
            .chronos
            .config()
            .analytics
            .as_ref()
            .and_then(|a| a.schedule.as_deref())
            .and_then(|every| chronos_db::analytics::schedule_interval(every).ok())
            .map(|every| (every, state.chronos.clone()));
        let retention = state
            .chronos
            .config()
            .retention
            .schedule
            .as_ref()
            .and_then(|s| chronos_db::analytics::schedule_interval(&s.every).ok())
            .map(|every| (every, state.chronos.clone()));
        let queue = state.chronos.queue().ok();
        Ok(Server {
            queue,
            stopping,
            // Every request ends within its time limit; past that, a connection still
            // open is a client not reading its answer.
            grace: request_timeout + Duration::from_secs(5),
            router: router(state, usize::try_from(max_body).unwrap_or(usize::MAX)),
            auth,
            schedule,
            retention,
        })
    }

    /// Whether requests need an API key (keys are configured).
    pub fn auth_enabled(&self) -> bool {
        self.auth
    }

    /// The router, for embedding in another axum application or testing without a socket.
    pub fn into_router(self) -> Router {
        self.router
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting connections
    /// and waits for the requests in flight (writes included) to finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        // Answers are small and written whole: send them at once (no Nagle delay).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        // The schedules, long polls and event streams stop when the server begins its
        // graceful stop.
        let stopping = self.stopping;
        let stopped = stopping.subscribe();
        let retention = self.retention.map(|(every, chronos)| {
            tokio::spawn(run_retention_schedule(chronos, every, stopped.clone()))
        });
        let queue = self.queue.map(|queue| {
            let mut stop = stopped.clone();
            tokio::spawn(async move {
                queue
                    .work(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await
            })
        });
        let schedule = self
            .schedule
            .map(|(every, chronos)| tokio::spawn(run_schedule(chronos, every, stopped)));
        let mut stop_seen = stopping.subscribe();
        let shutdown = async move {
            shutdown.await;
            let _ = stopping.send(true);
        };
        let grace = self.grace;
        // Requests end within their time limit and streams end at the stop, but a response
        // a client stopped reading is never flushed: past the grace period the stop closes
        // whatever is still open instead of waiting for it.
        let overdue = async move {
            if stop_seen.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            served = axum::serve(listener, self.router).with_graceful_shutdown(shutdown) => served?,
            () = overdue => tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "connections still open after the stop's grace period (clients not reading their answers): closing them"
            ),
        }
        for task in [schedule, retention].into_iter().flatten() {
            task.abort();
        }
        if let Some(worker) = queue {
            // It stops when the server begins to stop: a replay in flight is dropped and left
            // queued; if it had committed, its next replay recognises the version by its
            // request id (never applied twice).
            if tokio::time::timeout(Duration::from_secs(10), worker)
                .await
                .is_err()
            {
                tracing::warn!("the fallback queue's worker did not stop in 10 s");
            }
        }
        Ok(())
    }
}

fn router(state: AppState, max_body: usize) -> Router {
    let mut v1 = Router::new();
    for prefix in PREFIXES {
        v1 = v1
            .route(&format!("{prefix}/items"), post(items::create))
            .route(
                &format!("{prefix}/items/{{id}}"),
                get(items::get).put(items::update).delete(items::delete),
            )
            .route(
                &format!("{prefix}/items/{{id}}/enrich"),
                post(items::enrich),
            )
            .route(
                &format!("{prefix}/items/{{id}}/versions"),
                get(items::versions),
            )
            .route(&format!("{prefix}/items/{{id}}/diff"), get(history::diff))
            .route(&format!("{prefix}/items/{{id}}/blame"), get(history::blame))
            .route(
                &format!("{prefix}/items/{{id}}/field-history"),
                get(history::field_history),
            )
            .route(&format!("{prefix}/versions"), get(history::by_actor))
            .route(&format!("{prefix}/changes"), get(changes::changes))
            .route(
                &format!("{prefix}/items/{{id}}/restore"),
                post(items::restore),
            )
            .route(
                &format!("{prefix}/items/{{id}}/erase"),
                post(erasure::erase),
            )
            .route(&format!("{prefix}/query"), post(collection::query))
            .route(&format!("{prefix}/restore"), post(collection::restore))
            .route(&format!("{prefix}/gc"), post(collection::gc))
            .route(&format!("{prefix}/counters"), get(counters::totals))
            .route(&format!("{prefix}/counters/unique"), get(counters::unique))
            .route(&format!("{prefix}/counters/reset"), post(counters::reset));
    }
    let v1 = v1
        .route("/v1/{databaseType}/fetch", post(fetch::fetch))
        .route(
            "/v1/analytics/{tenantId}/time-based",
            get(analytics::time_based),
        )
        .route(
            "/v1/analytics/{tenantId}/cross-tenant",
            get(analytics::cross_tenant),
        )
        .route("/v1/analytics/{tenantId}/run", post(analytics::run))
        .route(
            "/v1/erasure/{tenantId}/subject",
            post(erasure::erase_subject),
        )
        .route(
            "/v1/erasure/{tenantId}/receipts/{receiptId}",
            get(erasure::verify),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .merge(v1)
        // A signed link is its own credential: no API key.
        .route("/v1/blobs/{*path}", get(blobs::get))
        .merge(
            Router::new()
                .route("/readyz", get(system::readyz))
                .route("/metrics", get(system::metrics))
                .route_layer(from_fn_with_state(state.clone(), auth::operators_only)),
        )
        .route("/healthz", get(system::healthz))
        .route("/openapi.json", get(system::openapi))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such endpoint: see /openapi.json",
            )
            .into_response()
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "this endpoint does not take this method: see /openapi.json",
            )
            .into_response()
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}

/// The OpenAPI 3.1 document of the server, as served at `/openapi.json`.
///
/// ```
/// let doc = chronos_server::openapi_json();
/// assert_eq!(doc["openapi"], "3.1.0");
/// assert!(doc["paths"]["/v1/{databaseType}/tenant/{tenantId}/{collection}/items"]["post"].is_object());
/// ```
pub fn openapi_json() -> serde_json::Value {
    serde_json::to_value(openapi::document()).unwrap_or_default()
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

/// Sweeps retention every `every` until `stop` turns true, logging each sweep.
async fn run_retention_schedule(
    chronos: Arc<Chronos>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let opts = chronos_db::admin::SweepOptions::scheduled(chronos.config());
    chronos
        .apply_retention_every(&opts, every, stopped, |outcome| {
            match outcome {
                Ok(sweep) if sweep.failed > 0 => tracing::warn!(
                    collections = sweep.collections.len(),
                    failed = sweep.failed,
                    versions_removed = sweep.versions_removed,
                    "retention ran on schedule; some collections failed"
                ),
                Ok(sweep) => tracing::info!(
                    collections = sweep.collections.len(),
                    versions_removed = sweep.versions_removed,
                    "retention ran on schedule"
                ),
                Err(e) => tracing::warn!(error = %e, "a scheduled retention sweep failed"),
            }
            std::ops::ControlFlow::Continue(())
        })
        .await;
}

/// Runs the analytics rules every `every` until `stop` turns true, logging each run.
async fn run_schedule(
    chronos: Arc<Chronos>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    chronos
        .analytics()
        .run_every(&Default::default(), every, stopped, |outcome| {
            match outcome {
                Ok(report) => {
                    let busy = report
                        .runs
                        .iter()
                        .filter(|r| r.status == chronos_db::analytics_jobs::RunStatus::Busy)
                        .count();
                    tracing::info!(
                        runs = report.runs.len(),
                        busy,
                        "analytics rules ran on schedule"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "a scheduled analytics run failed"),
            }
            std::ops::ControlFlow::Continue(())
        })
        .await;
}
