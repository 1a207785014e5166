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
}
