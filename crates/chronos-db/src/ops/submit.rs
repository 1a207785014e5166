//! How an item write enters: its request id (the caller's idempotency key, or one of its
//! own when the fallback queue is on), the check for an earlier outcome of the same request,
//! and the fallback queue.
//!
//! # Request ids
//!
//! A write that has a request id records it with the version it commits
//! ([`crate::model::VersionRecord::request_id`]). Before writing, and again after a refusal
//! (conflict, id taken), the write looks for a committed version of its item carrying its
//! request id; when there is one, that version's result is the write's result. So a request
//! repeated after a lost reply, a replay of a queued write whose earlier attempt committed,
//! and two workers replaying the same write at once all end with exactly one version.
//!
//! A create without an `id` option must name its item before anything is written, or a
//! repeat could not find it: with a caller's key the id is derived from the key (so two
//! concurrent repeats collide on the id instead of creating two items), otherwise it is
//! generated up front and travels with the queued write.
//!
//! # The fallback queue (`fallback.enabled`)
//!
//! A write whose backend did not answer ([`Error::is_unavailable`]) is journaled in the
//! local queue ([`crate::fallback::Journal`]) and answered with [`Error::Queued`]; a later
//! write to an item that has queued writes is queued behind them. The journal insert is
//! that write's commit point: once it returns, the write will be replayed until it commits
//! or goes to the dead letters. If the journal cannot take a write whose backend failed,
//! the caller gets the backend's error, as without a queue; if the journal cannot even be
//! read (a full or broken disk), every write fails with `QUEUE_ERROR`, since it cannot
//! tell whether the item has writes waiting that the new one must not overtake.

use super::{item_id, Collection, CreateOptions, EnrichOptions, LineageRef, OriginRef};
use crate::error::{Error, Result};
use crate::fallback::NewEntry;
use crate::meta::{MetaError, RequestState};
use crate::model::{Timestamp, WriteResult};
use crate::names::ItemId;
use crate::ops::RestoreTarget;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;
use std::sync::Arc;

/// The longest request id (idempotency key) accepted.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// One item write, as the queue journals it and a replay performs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub(crate) enum WriteOp {
    Create {
        /// Always set once the write is submitted (see the module docs).
        id: Option<String>,
        /// The id was generated for this create (not the caller's, not from a key).
        #[serde(default)]
        generated: bool,
        data: Value,
        actor: String,
        reason: String,
        parent: Option<(String, String)>,
        origin: Option<(String, String, Option<String>)>,
    },
    Update {
        id: String,
        data: Value,
        expected_ov: u64,
        actor: String,
        reason: String,
    },
    Delete {
        id: String,
        expected_ov: u64,
        actor: String,
        reason: String,
    },
    Enrich {
        id: String,
        patches: Value,
        function_id: Option<String>,
        expected_ov: Option<u64>,
        actor: String,
        reason: String,
    },
    Restore {
        id: String,
        to_ov: Option<u64>,
        to_at: Option<i64>,
        actor: String,
        reason: String,
    },
}

impl WriteOp {
    pub(crate) fn create(data: Value, actor: &str, reason: &str, opts: CreateOptions) -> Self {
        WriteOp::Create {
            id: opts.id,
            generated: false,
            data,
            actor: actor.into(),
            reason: reason.into(),
            parent: opts.parent.map(|p| (p.id, p.collection)),
            origin: opts.origin.map(|o| (o.id, o.collection, o.system)),
        }
    }

    pub(crate) fn enrich(id: &str, patches: Value, opts: EnrichOptions) -> Self {
        WriteOp::Enrich {
            id: id.into(),
            patches,
            function_id: opts.function_id,
            expected_ov: opts.expected_ov,
            actor: opts.actor,
            reason: opts.reason,
        }
    }

    pub(crate) fn restore(id: &str, target: RestoreTarget, actor: &str, reason: &str) -> Self {
        let (to_ov, to_at) = match target {
            RestoreTarget::Ov(ov) => (Some(ov), None),
            RestoreTarget::At(at) => (None, Some(at.micros())),
        };
        WriteOp::Restore {
            id: id.into(),
            to_ov,
            to_at,
            actor: actor.into(),
            reason: reason.into(),
        }
    }

    /// `create`, `update`, `delete`, `enrich` or `restore`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            WriteOp::Create { .. } => "create",
            WriteOp::Update { .. } => "update",
            WriteOp::Delete { .. } => "delete",
            WriteOp::Enrich { .. } => "enrich",
            WriteOp::Restore { .. } => "restore",
        }
    }

    /// The item written, `None` for a create that has no id yet.
    pub(crate) fn item(&self) -> Option<&str> {
        match self {
            WriteOp::Create { id, .. } => id.as_deref(),
            WriteOp::Update { id, .. }
            | WriteOp::Delete { id, .. }
            | WriteOp::Enrich { id, .. }
            | WriteOp::Restore { id, .. } => Some(id),
        }
    }
}

/// A new request id: 32 random hex digits.
fn new_request_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The item id a create without an `id` option gets under the caller's key: the first 24
/// hex digits of the key's SHA-256 (the shape of a generated id).
fn id_for_key(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))[..24].to_string()
}

/// Checks a caller's request id: 1-128 printable ASCII characters.
fn check_request_id(key: &str) -> Result<()> {
    if key.is_empty()
        || key.len() > MAX_REQUEST_ID_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::validation(format!(
            "a request id (idempotency key) must be 1-{MAX_REQUEST_ID_LEN} printable ASCII \
             characters without spaces"
        )));
    }
    Ok(())
}

/// How long a keyed write refused by its own request's earlier attempt, still committing,
/// waits for that attempt to finish (its commit takes a few round trips: milliseconds, more
/// on a loaded server).
const EARLIER_ATTEMPT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// When a keyed write looks for the outcome of its request's earlier attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Asked {
    /// Before it writes: an attempt still committing is no outcome yet (the write goes
    /// ahead, and meeting that attempt's row at its slot commits it, or fails).
    BeforeWrite,
    /// After its write was refused. `wait`: whether an attempt still committing can
    /// finish meanwhile; not when this write holds the item's lease, which a live attempt
    /// would need (the row is then a dead process's).
    AfterRefusal { wait: bool },
}

impl Collection {
    /// These operations with a request id (idempotency key) for their item writes (create,
    /// update, delete, enrich, restore of one item).
    ///
    /// The id is recorded with the version a write commits. A write whose request id already
    /// committed a version of its item writes nothing and returns that version's result, so
    /// a request retried after a lost reply is applied once. A request that failed (a
    /// conflict, a validation error) left no version and runs again when repeated. A create
    /// without an `id` option gets an id derived from the key. A key is recognised as long
    /// as the version it wrote is kept (retention, `versioning.enabled = false` and hard
    /// deletes remove versions; a repeated hard delete answers `NOT_FOUND`). Use a new key
    /// for every distinct write.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::{DatabaseType, Route};
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "orders").unwrap()).unwrap();
    /// let keyed = c.with_request_id("order-7f3a").unwrap();
    /// let first = keyed.create(serde_json::json!({"total": 5}), "shop", "checkout", Default::default()).await.unwrap();
    /// // The reply was lost; the caller sends the same request again.
    /// let again = keyed.create(serde_json::json!({"total": 5}), "shop", "checkout", Default::default()).await.unwrap();
    /// assert_eq!(first, again);
    /// assert_eq!(c.history(&first.id, Default::default()).await.unwrap().versions.len(), 1);
    /// # });
    /// ```
    pub fn with_request_id(&self, key: &str) -> Result<Collection> {
        check_request_id(key)?;
        Ok(self.stamped(Some(key.into())))
    }

    /// A copy whose writes record `request_id`.
    pub(crate) fn stamped(&self, request_id: Option<Arc<str>>) -> Collection {
        let mut c = self.clone();
        c.request_id = request_id;
        c
    }

    /// Whether a delete removes the item (`logicalDelete.enabled = false`).
    pub(crate) fn hard_deletes(&self) -> bool {
        !self.settings.logical_delete
    }

    /// The request id these operations' writes record, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Performs an item write: directly, or through the fallback queue when it is on.
    pub(super) async fn submit(&self, mut op: WriteOp) -> Result<WriteResult> {
        let queue = self.inner.fallback.clone();
        if queue.is_none() && self.request_id.is_none() {
            return self.apply(op).await;
        }
        let this = match &self.request_id {
            Some(_) => self.clone(),
            None => self.stamped(Some(new_request_id().into())),
        };
        let request_id = this.request_id.clone().unwrap_or_default();
        if let WriteOp::Create {
            id: id @ None,
            generated,
            ..
        } = &mut op
        {
            *id = Some(match &self.request_id {
                Some(key) => id_for_key(key),
                None => {
                    *generated = true;
                    ItemId::generate().to_string()
                }
            });
        }
        // A request id made just now cannot have committed anything: its first attempt
        // skips the look for an earlier one.
        let fresh = self.request_id.is_none();
        let Some(queue) = queue else {
            return this.apply_first(op, fresh).await;
        };
        let item = item_id(op.item().unwrap_or_default())?;
        let item_key = this.item_key(&item);
        let (earlier, pending) = queue.lookup(&request_id, &item_key).await?;
        if let Some(queued) = earlier {
            // The same request, queued before: its outcome is still that it is queued.
            return Err(Error::Queued(queued));
        }
        if pending {
            // Writes to this item are waiting: this one goes behind them, not past them.
            return this.enqueue(&queue, op, &item, item_key, None).await;
        }
        let journaled = op.clone();
        match this.apply_first(op, fresh).await {
            Err(e) if e.is_unavailable() => {
                this.enqueue(&queue, journaled, &item, item_key, Some(e))
                    .await
            }
            other => other,
        }
    }

    /// What can be checked without I/O, before a write is journaled: a queued write with bad
    /// input would only fail on replay, where its caller no longer hears of it.
    fn precheck(&self, op: &WriteOp) -> Result<()> {
        match op {
            WriteOp::Create { id, data, .. } => {
                let doc = self.accept(data.clone(), id.as_deref())?;
                self.check_required(&doc)
            }
            WriteOp::Update { id, data, .. } => {
                let doc = self.accept(data.clone(), Some(id))?;
                self.check_required(&doc)
            }
            WriteOp::Enrich { id, patches, .. } => match patches {
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .try_for_each(|p| self.accept(p.clone(), Some(id)).map(drop)),
                Value::Object(_) => self.accept(patches.clone(), Some(id)).map(drop),
                _ => Err(Error::validation(
                    "enrichment must be a JSON object or a non-empty array of objects",
                )),
            },
            WriteOp::Restore {
                to_ov: None,
                to_at: None,
                ..
            } => Err(Error::validation("a restore needs a target ov or time")),
            WriteOp::Restore { .. } => self.need_history("restore_object"),
            WriteOp::Delete { .. } => Ok(()),
        }
    }

    /// Whether a journaled write's content holds `value` in one of `props` (subject
    /// properties): what a subject erasure removes from the fallback queue.
    pub(crate) fn queued_write_holds(
        &self,
        op: &WriteOp,
        props: &[String],
        value: &Value,
    ) -> Result<bool> {
        let alternatives: Vec<Value> = props
            .iter()
            .map(|p| serde_json::json!({ p.strip_suffix("[]").unwrap_or(p): value }))
            .collect();
        let filter = crate::query::Filter::parse(
            &serde_json::json!({ "$or": alternatives }),
            &self.settings.index,
        )
        .map_err(Error::Validation)?;
        let system = crate::query::SystemValues::default();
        let holds = |doc: &Value| filter.matches(doc, &system);
        Ok(match op {
            WriteOp::Create { data, .. } | WriteOp::Update { data, .. } => holds(data),
            WriteOp::Enrich { patches, .. } => match patches {
                Value::Array(items) => items.iter().any(holds),
                other => holds(other),
            },
            WriteOp::Delete { .. } | WriteOp::Restore { .. } => false,
        })
    }

    /// The key that orders the queued writes of one item: its route and id.
    pub(super) fn item_key(&self, item: &ItemId) -> String {
        format!("{}/{item}", self.route)
    }

    async fn enqueue(
        &self,
        queue: &crate::fallback::Journal,
        op: WriteOp,
        item: &ItemId,
        item_key: String,
        cause: Option<Error>,
    ) -> Result<WriteResult> {
        self.precheck(&op)?;
        let entry = NewEntry {
            request_id: self.request_id.as_deref().unwrap_or_default().to_string(),
            item_key,
            route: serde_json::to_string(&self.route)
                .map_err(|e| Error::validation(format!("cannot journal the route: {e}")))?,
            item_id: item.to_string(),
            kind: op.kind().to_string(),
            op: serde_json::to_string(&op)
                .map_err(|e| Error::validation(format!("cannot journal the write: {e}")))?,
            cause: cause
                .as_ref()
                .map(|e| (e.code().to_string(), e.to_string())),
        };
        match queue.enqueue(entry).await {
            Ok(queued) => {
                tracing::info!(
                    request_id = %queued.request_id,
                    item = %queued.id,
                    op = %queued.op,
                    "write queued for replay"
                );
                Err(Error::Queued(queued))
            }
            Err(journal_error) => {
                tracing::error!(error = %journal_error, "the fallback queue could not take a write");
                // Not accepted: the caller gets the backend's error (or the journal's).
                Err(cause.unwrap_or(journal_error))
            }
        }
    }

    /// Performs a write now (no queue), recognising an earlier commit of its request id.
    pub(crate) async fn apply(&self, op: WriteOp) -> Result<WriteResult> {
        self.apply_first(op, false).await
    }

    /// [`Collection::apply`]; `fresh`: the request id was made for this attempt, so no
    /// earlier commit of it can exist.
    async fn apply_first(&self, op: WriteOp, fresh: bool) -> Result<WriteResult> {
        let item = op.item().map(str::to_string);
        if !fresh {
            if let Some(done) = self
                .earlier_outcome(item.as_deref(), Asked::BeforeWrite)
                .await?
            {
                return Ok(done);
            }
        }
        let result = match op {
            WriteOp::Create {
                id,
                generated,
                data,
                actor,
                reason,
                parent,
                origin,
            } => {
                let fresh_id = match (&id, generated) {
                    (Some(id), true) => Some(item_id(id)?),
                    _ => None,
                };
                let opts = CreateOptions {
                    id: if fresh_id.is_some() { None } else { id },
                    parent: parent.map(|(id, collection)| LineageRef { id, collection }),
                    origin: origin.map(|(id, collection, system)| OriginRef {
                        id,
                        collection,
                        system,
                    }),
                };
                match fresh_id {
                    Some(id) => self.create_fresh(data, &actor, &reason, id, opts).await,
                    None => self.create_direct(data, &actor, &reason, opts).await,
                }
            }
            WriteOp::Update {
                id,
                data,
                expected_ov,
                actor,
                reason,
            } => {
                self.update_direct(&id, data, expected_ov, &actor, &reason)
                    .await
            }
            WriteOp::Delete {
                id,
                expected_ov,
                actor,
                reason,
            } => self.delete_direct(&id, expected_ov, &actor, &reason).await,
            WriteOp::Enrich {
                id,
                patches,
                function_id,
                expected_ov,
                actor,
                reason,
            } => {
                let opts = EnrichOptions {
                    function_id,
                    actor,
                    reason,
                    expected_ov,
                };
                self.enrich_direct(&id, patches, opts).await
            }
            WriteOp::Restore {
                id,
                to_ov,
                to_at,
                actor,
                reason,
            } => {
                let target = match (to_ov, to_at) {
                    (Some(ov), _) => RestoreTarget::Ov(ov),
                    (None, Some(at)) => RestoreTarget::At(Timestamp(at)),
                    (None, None) => {
                        return Err(Error::validation("a restore needs a target ov or time"))
                    }
                };
                self.restore_direct(&id, target, &actor, &reason).await
            }
        };
        match result {
            // Refused: perhaps because another attempt of this very request committed
            // meanwhile (a replay racing a retry of a lost reply).
            Err(
                e @ (Error::Conflict { .. }
                | Error::AlreadyExists { .. }
                | Error::NotFound(_)
                | Error::Deleted { .. }),
            ) => match self
                .earlier_outcome(item.as_deref(), Asked::AfterRefusal { wait: true })
                .await
            {
                Ok(Some(done)) => Ok(done),
                Ok(None) => Err(e),
                Err(unknown) if unknown.is_unavailable() => Err(unknown),
                Err(_) => Err(e),
            },
            other => other,
        }
    }

    /// The result of the version this request already committed to `item`, if any.
    ///
    /// A version of the request whose commit has not completed (MongoDB without
    /// transactions) is no outcome yet before a write (see [`Asked`]). After a refusal the
    /// refusal may come from that very attempt, still committing: it is waited for, when
    /// it can finish, up to [`EARLIER_ATTEMPT_WAIT`], and its result returned; if it has
    /// not finished by then (it may belong to a process that died), the outcome is
    /// unknown, an unavailable error, so that the write is tried again later rather than
    /// reported refused.
    pub(super) async fn earlier_outcome(
        &self,
        item: Option<&str>,
        asked: Asked,
    ) -> Result<Option<WriteResult>> {
        let (Some(request_id), Some(item)) = (self.request_id.as_deref(), item) else {
            return Ok(None);
        };
        let id = item_id(item)?;
        let deadline = match asked {
            Asked::AfterRefusal { wait: true } => {
                tokio::time::Instant::now() + EARLIER_ATTEMPT_WAIT
            }
            _ => tokio::time::Instant::now(),
        };
        // From pauses of a few milliseconds: a commit takes a few round trips.
        let mut attempt = 2;
        loop {
            match self
                .store
                .find_request(self.name(), &id, request_id)
                .await?
            {
                RequestState::Committed(v) => {
                    return Ok(Some(WriteResult {
                        id: v.id.clone(),
                        ov: v.ov,
                        cv: v.cv,
                        at: v.at,
                    }))
                }
                RequestState::Committing if asked != Asked::BeforeWrite => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(Error::Metadata(MetaError::Unavailable(
                            format!(
                                "an earlier attempt of request '{}' on item '{id}' has not \
                                 finished committing; try again",
                                crate::names::printable(request_id)
                            )
                            .into(),
                        )));
                    }
                    crate::retry::jittered_pause(attempt).await;
                    attempt += 1;
                }
                RequestState::Absent | RequestState::Committing => return Ok(None),
            }
        }
    }
}
