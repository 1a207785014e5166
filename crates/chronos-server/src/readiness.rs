//! `/readyz`: every configured database and bucket reachable.
//!
//! The check contacts every listed database and bucket (a ping, a small object written, read
//! back and removed), so its result is kept for a short while: probes every second do not
//! turn into a load on the backends. The answer names the configuration's connection names
//! and whether each answered, never database names, buckets, tenants or error texts (which
//! could name hosts).

use chronos_db::Chronos;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long one check's result is served.
const FRESH_FOR: Duration = Duration::from_secs(2);
/// The longest a check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectionReady {
    /// `metadata` or `payload`.
    kind: &'static str,
    /// The connection's name in the configuration (`dbConnections` / `spacesConnections`).
    connection: String,
    /// Whether every database or bucket checked on it answered.
    ok: bool,
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct ReadyReport {
    /// `ready` or `unavailable`.
    status: &'static str,
    /// One entry per connection.
    connections: Vec<ConnectionReady>,
}

impl ReadyReport {
    pub(crate) fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

pub(crate) struct Readiness {
    last: Mutex<Option<(Instant, ReadyReport)>>,
}

impl Readiness {
    pub(crate) fn new() -> Self {
        Readiness {
            last: Mutex::new(None),
        }
    }

    pub(crate) async fn report(&self, chronos: &Chronos) -> ReadyReport {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref() {
            if at.elapsed() < FRESH_FOR {
                return report.clone();
            }
        }
        let checks = tokio::time::timeout(CHECK_TIMEOUT, chronos.check_connections()).await;
        let mut by_connection: BTreeMap<(&'static str, String), bool> = BTreeMap::new();
        let mut all_ok = checks.is_ok();
        for c in checks.unwrap_or_default() {
            all_ok &= c.ok;
            *by_connection
                .entry((c.kind, c.connection.clone()))
                .or_insert(true) &= c.ok;
        }
        let report = ReadyReport {
            status: if all_ok { "ready" } else { "unavailable" },
            connections: by_connection
                .into_iter()
                .map(|((kind, connection), ok)| ConnectionReady {
                    kind,
                    connection,
                    ok,
                })
                .collect(),
        };
        *last = Some((Instant::now(), report.clone()));
        report
    }
}
