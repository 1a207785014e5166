//! What every handler shares.

use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::streams::EventStreams;
use chronos_db::access::{ApiKeys, Grant};
use chronos_db::Chronos;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The shared state of one server.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) chronos: Arc<Chronos>,
    pub(crate) keys: Arc<ApiKeys>,
    /// What every request may do when no key is configured (loopback only).
    pub(crate) open_grant: Grant,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) readiness: Arc<Readiness>,
    pub(crate) slots: Arc<Semaphore>,
    /// Open event streams, capped apart from the request slots (`streams.rs`).
    pub(crate) streams: Arc<EventStreams>,
    pub(crate) request_timeout: Duration,
    /// Becomes `true` when the server begins its graceful stop (never, for a router
    /// embedded with `Server::into_router`).
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    /// Whether the server is stopping: long polls answer at once and event streams end,
    /// so that the stop waits for no client.
    pub(crate) fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }
}
