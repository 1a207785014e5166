//! The fallback queue: its worker, which replays journaled writes, and its admin calls
//! (`chronos queue ...`). How a write is queued is described in the journal's module,
//! [`crate::fallback`].
//!
//! # A replay, step by step
//!
//! 1. **Claim** the oldest due write that is first of its item, with a lease
//!    (`fallback.leaseMs`, renewed every third of it while the replay runs).
//! 2. **Perform** it on its route with its request id: a version of the item that already
//!    carries the request id (an earlier attempt committed before its reply was lost) is
//!    the outcome, and nothing is written; otherwise the write runs as it would have, and
//!    its version records the request id. That commit is the replay's commit point.
//! 3. **Settle** it in the journal: removed once committed; rescheduled after
//!    [`crate::fallback::backoff_ms`] when the backend still does not answer (or the item is
//!    locked); moved to the dead letters after `maxRetries` attempts, or at once on a
//!    permanent error (validation, conflict, not found, deleted, erased).
//!
//! A crash after 2 and before 3 leaves the write queued with its lease running out; the
//! next replay finds its version by the request id and only completes it (exactly once).
//! A queued hard delete (`logicalDelete.enabled = false`) leaves no version to find: its
//! replay completes when the item is already gone.

use crate::error::{Error, Result};
use crate::fallback::{backoff_ms, Claimed, DeadLetter, Journal, QueueEntry, QueueStats};
use crate::model::Timestamp;
use crate::ops::{Context, WriteOp};
use crate::routing::Route;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often an idle worker looks for due writes.
const POLL: Duration = Duration::from_millis(250);

/// What [`FallbackQueue::drain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainReport {
    /// Writes that committed (or had committed before), and left the queue.
    pub committed: u64,
    /// Writes whose backend still did not answer: scheduled again.
    pub rescheduled: u64,
    /// Writes moved to the dead letters.
    pub dead: u64,
}

/// The fallback queue of an instance (`fallback.enabled`); see the module docs.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// let mut cfg = chronos_db::config::ChronosConfig::embedded(dir.path());
/// cfg.fallback = Some(chronos_db::config::Fallback { enabled: true, ..Default::default() });
/// let chronos = chronos_db::Chronos::open(cfg).await.unwrap();
/// let queue = chronos.queue().unwrap();
/// assert_eq!(queue.stats().await.unwrap().pending, 0);
/// assert_eq!(queue.drain().await.unwrap(), Default::default());
/// # });
/// ```
#[derive(Clone)]
pub struct FallbackQueue {
    pub(crate) context: Arc<Context>,
    pub(crate) journal: Journal,
}

impl FallbackQueue {
    /// The journal file.
    pub fn path(&self) -> &std::path::Path {
        self.journal.path()
    }

    /// Counts: waiting, being replayed, dead; the oldest waiting write's age.
    pub async fn stats(&self) -> Result<QueueStats> {
        self.journal.stats().await
    }

    /// Waiting writes in queueing order, after `after_seq` (0 for the start).
    pub async fn list(&self, after_seq: i64, limit: usize) -> Result<Vec<QueueEntry>> {
        self.journal.list(after_seq, limit).await
    }

    /// Dead letters, most recent first.
    pub async fn dead(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.journal.dead(limit).await
    }

    /// Queues a dead letter again (at the back, attempts reset), after its cause is fixed.
    pub async fn retry(&self, request_id: &str) -> Result<()> {
        match self.journal.retry(request_id).await? {
            true => Ok(()),
            false => Err(Error::NotFound(format!(
                "dead letter '{}'",
                crate::names::printable(request_id)
            ))),
        }
    }

    /// Removes a waiting write or a dead letter for good.
    pub async fn cancel(&self, request_id: &str) -> Result<()> {
        match self.journal.cancel(request_id).await? {
            true => Ok(()),
            false => Err(Error::NotFound(format!(
                "queued write '{}'",
                crate::names::printable(request_id)
            ))),
        }
    }

    /// Removes the dead letters given up more than `age` ago; returns how many.
    pub async fn prune(&self, age: Duration) -> Result<u64> {
        let micros = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
        let before = Timestamp(Timestamp::now().micros().saturating_sub(micros));
        self.journal.prune(before).await
    }

    /// Replays every write that is due now, one at a time, until none is.
    pub async fn drain(&self) -> Result<DrainReport> {
        let owner = worker_name();
        let mut report = DrainReport::default();
        while let Some(claimed) = self.journal.claim(&owner, self.lease_ms()).await? {
            match self.replay(claimed, &owner).await? {
                Settled::Committed => report.committed += 1,
                Settled::Rescheduled => report.rescheduled += 1,
                Settled::Dead => report.dead += 1,
            }
        }
        Ok(report)
    }

    /// Replays due writes until `shutdown` completes. A journal error is logged and the
    /// worker goes on.
    pub async fn work(&self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                drained = self.drain() => match drained {
                    Ok(r) if r != DrainReport::default() => tracing::info!(
                        committed = r.committed, rescheduled = r.rescheduled, dead = r.dead,
                        "fallback queue replayed writes"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "fallback queue: a replay round failed"),
                },
                _ = &mut shutdown => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = &mut shutdown => return,
            }
        }
    }

    fn settings(&self) -> crate::config::Fallback {
        self.context.config.fallback.clone().unwrap_or_default()
    }

    fn lease_ms(&self) -> u64 {
        self.settings().lease_ms()
    }

    async fn replay(&self, claimed: Claimed, owner: &str) -> Result<Settled> {
        let lease = self.lease_ms();
        let renew = crate::ops::AbortOnDrop(tokio::spawn({
            let (journal, owner, seq) = (self.journal.clone(), owner.to_string(), claimed.seq);
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(lease / 3)).await;
                    if let Ok(false) | Err(_) = journal.renew(seq, &owner, lease).await {
                        tracing::warn!(seq, "fallback queue: could not renew a replay's lease");
                    }
                }
            }
        }));
        let outcome = self.perform(&claimed).await;
        drop(renew);
        let attempts = claimed.attempts.saturating_add(1);
        match outcome {
            Ok(()) => {
                if !self.journal.complete(claimed.seq, owner).await? {
                    // Another worker took the write over (this one's lease ran out): its
                    // replay finds the version by the request id and completes it.
                    tracing::debug!(request_id = %claimed.request_id, "replayed a write another worker now owns");
                }
                Ok(Settled::Committed)
            }
            Err(e) if transient(&e) && attempts < self.settings().max_retries() => {
                let s = self.settings();
                let delay = backoff_ms(attempts, s.retry_delay_ms(), s.max_delay_ms());
                tracing::debug!(request_id = %claimed.request_id, attempts, delay, error = %e, "replay failed; retrying later");
                self.journal
                    .retry_later(
                        claimed.seq,
                        owner,
                        attempts,
                        delay,
                        e.code(),
                        &e.to_string(),
                    )
                    .await?;
                Ok(Settled::Rescheduled)
            }
            Err(e) => {
                tracing::warn!(request_id = %claimed.request_id, attempts, error = %e, "replay given up: moved to the dead letters");
                self.journal
                    .bury(claimed.seq, owner, attempts, e.code(), &e.to_string())
                    .await?;
                Ok(Settled::Dead)
            }
        }
    }

    /// Performs a claimed write: `Ok` once it has committed (now or before).
    async fn perform(&self, claimed: &Claimed) -> Result<()> {
        let route: Route = serde_json::from_str(&claimed.route)
            .map_err(|e| Error::Corrupt(format!("a queued write's route: {e}")))?;
        let op = self
            .journal
            .open_op(&claimed.item_key, &claimed.request_id, &claimed.op)?;
        let op: WriteOp = serde_json::from_str(&op)
            .map_err(|e| Error::Corrupt(format!("a queued write: {e}")))?;
        let collection = self
            .context
            .collection(route)?
            .stamped(Some(claimed.request_id.as_str().into()));
        let hard_delete = matches!(op, WriteOp::Delete { .. }) && collection.hard_deletes();
        match collection.apply(op).await {
            Ok(_) => Ok(()),
            Err(Error::NotFound(_)) if hard_delete => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// How a replay ended.
enum Settled {
    Committed,
    Rescheduled,
    Dead,
}

/// Errors a later replay may not meet: the backend did not answer, or the item was locked.
fn transient(e: &Error) -> bool {
    e.is_unavailable() || matches!(e, Error::Locked { .. })
}

/// `<host>-<pid>:<random>`: who holds a replay's lease, as `chronos queue list` shows it.
fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!(
        "{host}-{}:{}",
        std::process::id(),
        hex::encode(rand::random::<[u8; 4]>())
    )
}
