//! Commits inside a multi-document transaction (replica sets, sharded clusters), and
//! detecting whether a deployment has them.

use super::*;

/// What [`detect_transactions`] answered for one connection: asked once, shared by every
/// store on that connection (`Some("replicaSet" | "sharded")`, or `None` for standalone).
pub type Topology = std::sync::Arc<tokio::sync::OnceCell<Option<&'static str>>>;

/// What a connection's topology says about transactions, asking `hello` only the first time.
pub async fn topology_of(
    topology: &Topology,
    client: &Client,
) -> Result<Option<&'static str>, MetaError> {
    Ok(*topology
        .get_or_try_init(|| detect_transactions(client))
        .await?)
}

/// When commits run inside a multi-document transaction (config `transactions`).
#[derive(Debug, Clone)]
pub enum TransactionPolicy {
    /// `enabled: false`: the unique-insert protocol alone.
    Never,
    /// `enabled: true, autoDetect: false`: every commit runs in a transaction; on a deployment
    /// without them every commit fails with an error saying so (nothing is written).
    Always,
    /// `enabled: true, autoDetect: true` (the default): in a transaction when the connection's
    /// topology supports them (replica set or mongos), else the protocol.
    WhenSupported(Topology),
}

/// Runs `hello` once: `Some("replicaSet" | "sharded")` when multi-document transactions are
/// possible, `None` for a standalone server (FerretDB).
pub async fn detect_transactions(client: &Client) -> Result<Option<&'static str>, MetaError> {
    let hello = client
        .database("admin")
        .run_command(doc! {"hello": 1})
        .await
        .map_err(map_err)?;
    if hello.get_str("msg").ok() == Some("isdbgrid") {
        return Ok(Some("sharded"));
    }
    if hello.contains_key("setName") {
        return Ok(Some("replicaSet"));
    }
    Ok(None)
}

/// Why a transactional commit attempt stopped before `commitTransaction`.
pub(super) enum TxnStep {
    /// The head is not as expected (or the content cannot be stored): the answer.
    Refused(MetaError),
    /// The `(id, ov)` slot holds a row written outside transactions.
    SlotTaken,
    /// The driver failed (a write conflict is labelled `TransientTransactionError`).
    Driver(DbError),
}

impl From<DbError> for TxnStep {
    fn from(e: DbError) -> Self {
        TxnStep::Driver(e)
    }
}

/// `commitTransaction`, retried while its outcome is unknown (a lost reply), as the driver
/// specification asks of applications.
pub(super) async fn commit_transaction(s: &mut mongodb::ClientSession) -> Result<(), DbError> {
    let mut tries = 0;
    loop {
        match s.commit_transaction().await {
            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && tries < 3 => {
                tries += 1;
            }
            other => return other,
        }
    }
}

impl MongoStore {
    /// The commit inside one multi-document transaction (replica sets, sharded clusters):
    /// the head read, the version row, the previous row's closing (or, versioning off, the
    /// removal of older rows) and the head write become visible together or not at all, so
    /// an aborted attempt leaves no row behind (I1). A concurrent commit on the same item
    /// shows up as a write conflict (`TransientTransactionError`): the attempt is run again,
    /// and its head read then reports the `Conflict` (I2).
    ///
    /// The cv slot is taken before each attempt, outside the transaction: slots must never be
    /// given back (see [`MongoStore::next_cv`]), and an aborted transaction would give one back. An aborted
    /// attempt therefore leaves a gap in cvs, which I3 allows.
    ///
    /// The commit point is `commitTransaction`; a reply lost in transit
    /// (`UnknownTransactionCommitResult`) is retried, as the driver's specification says, and
    /// reported as [`MetaError::Unavailable`] (outcome unknown) if it stays unknown.
    pub(super) async fn commit_in_transaction(
        &self,
        coll: &str,
        write: &VersionWrite,
    ) -> Result<Committed, MetaError> {
        let c = self.colls(coll);
        let mut session = self.db.client().start_session().await.map_err(map_err)?;
        // Rows of earlier attempts: one of them may have committed after all (a reply lost,
        // then a retry), and a head pointing at it means success, not a conflict.
        let mut attempts: Vec<(Bson, i64)> = Vec::new();
        for attempt in 0..TXN_ATTEMPTS {
            let started = std::time::Instant::now();
            let cv = self.next_cv(coll, &c).await?;
            // Until the commit is sent, an abandoned attempt (its caller went away) cannot
            // have used the cv: the guard gives it up then.
            let mut unused = super::feed::UnusedCv::new(&c, cv);
            if let Err(e) = session.start_transaction().await {
                unused.disarm();
                self.give_up_cv(&c, cv).await;
                return Err(self.transaction_failure(e).await);
            }
            let error = match self
                .commit_steps(&c, write, cv, &mut attempts, &mut session)
                .await
            {
                // The cv is a lease (`CV_SLOT_TTL`): committed after it ran out, the row could
                // appear below a cv a change feed has passed. Give it up and take another.
                Ok(_) if started.elapsed() > CV_SLOT_TTL => {
                    let _ = session.abort_transaction().await;
                    unused.disarm();
                    self.give_up_cv(&c, cv).await;
                    continue;
                }
                Ok(done) => {
                    // Sent: from here the outcome may be a commit.
                    unused.disarm();
                    match commit_transaction(&mut session).await {
                        Ok(()) => {
                            // Rows removed by versioning off hold no version any more.
                            let removed: Vec<i64> =
                                done.dropped.iter().map(|v| clamp(v.cv)).collect();
                            self.give_up_cvs(&c, &removed).await;
                            return Ok(done);
                        }
                        // Refused as transient: it did not commit; retried with a new cv.
                        Err(e) if e.contains_label(TRANSIENT_TRANSACTION_ERROR) => {
                            self.give_up_cv(&c, cv).await;
                            e
                        }
                        Err(e) => e,
                    }
                }
                Err(step) => {
                    // Best effort: the server aborts a failed transaction by itself. Its
                    // row goes with it, so the cv is never used (a commit's failure, below,
                    // may hide a commit: that cv is left to age).
                    let _ = session.abort_transaction().await;
                    unused.disarm();
                    self.give_up_cv(&c, cv).await;
                    match step {
                        TxnStep::Refused(e) => return Err(e),
                        // A row left at the slot by a writer outside transactions (a crashed
                        // one, or a process with transactions off): the protocol knows how
                        // to clear or roll it forward.
                        TxnStep::SlotTaken => {
                            return self.commit_by_protocol(coll, write.clone()).await
                        }
                        TxnStep::Driver(e) => e,
                    }
                }
            };
            if !error.contains_label(TRANSIENT_TRANSACTION_ERROR) {
                return Err(self.transaction_failure(error).await);
            }
            crate::retry::jittered_pause(attempt).await;
        }
        Err(MetaError::Unavailable(
            "the commit transaction kept meeting write conflicts".into(),
        ))
    }

    /// The error of a failed transactional commit. With transactions forced (`autoDetect`
    /// false) on a server that has none, the driver or the server refuses the transaction's
    /// fields; that is a configuration problem, and the message says which setting to change.
    pub(super) async fn transaction_failure(&self, e: DbError) -> MetaError {
        let forced = matches!(self.transactions, TransactionPolicy::Always);
        if forced && matches!(detect_transactions(self.db.client()).await, Ok(None)) {
            return MetaError::Backend(BackendError::caused_by(
                "mongodb: this server has no multi-document transactions, and config \
                 `transactions.autoDetect` is false, so every commit needs one: set autoDetect \
                 to true, or enabled to false",
                &e,
            ));
        }
        map_err(e)
    }

    /// The writes of one transactional commit, all on `session` (see
    /// [`MongoStore::commit_in_transaction`]). Without a transaction started on the session
    /// they run one by one: the tests use that to check them on servers without transactions.
    pub(super) async fn commit_steps(
        &self,
        c: &Colls,
        write: &VersionWrite,
        cv: i64,
        attempts: &mut Vec<(Bson, i64)>,
        s: &mut mongodb::ClientSession,
    ) -> Result<Committed, TxnStep> {
        let v = &write.version;
        let id = v.id.as_str();
        let head = c.head.find_one(doc! {"_id": id}).session(&mut *s).await?;
        if let Some(row) = head.as_ref().and_then(|h| h.get("row")) {
            if let Some((_, cv)) = attempts.iter().find(|(r, _)| r == row) {
                return Ok(Committed {
                    cv: *cv as u64,
                    dropped: Vec::new(),
                });
            }
        }
        let state = check_expected(write.expect, head.as_ref()).map_err(TxnStep::Refused)?;
        let (row_id, row) = new_row(
            v,
            cv,
            write.shadow.as_deref(),
            &state,
            head.as_ref().and_then(|h| h.get("row")),
        )
        .map_err(TxnStep::Refused)?;
        attempts.push((Bson::ObjectId(row_id), cv));
        match c.ver.insert_one(&row).session(&mut *s).await {
            Ok(_) => {}
            Err(e) if is_dup(&e) => return Err(TxnStep::SlotTaken),
            Err(e) => return Err(TxnStep::Driver(e)),
        }
        let new_head = head_of_row(&row);
        match &state {
            HeadState::Absent => {
                let mut doc = doc! {"_id": id};
                doc.extend(new_head);
                match c.head.insert_one(doc).session(&mut *s).await {
                    Ok(_) => {}
                    // The item exists but its rows are gone (versioning off).
                    Err(e) if is_dup(&e) => return Err(TxnStep::Refused(MetaError::AlreadyExists)),
                    Err(e) => return Err(TxnStep::Driver(e)),
                }
            }
            HeadState::At(ov, fence) => {
                let replaced = c
                    .head
                    .replace_one(doc! {"_id": id, "ov": ov, "fence": fence.clone()}, new_head)
                    .session(&mut *s)
                    .await?;
                if replaced.matched_count != 1 {
                    return Err(TxnStep::Refused(state.lost()));
                }
            }
        }
        let ov = clamp(v.ov);
        let mut dropped = Vec::new();
        if write.keep_history {
            if let HeadState::At(..) = &state {
                let prev = head.as_ref().and_then(|h| h.get("row"));
                c.ver
                    .update_one(
                        previous_row(id, ov, prev),
                        doc! {"$set": {"next_cv": cv, "next_at": v.at.micros()}},
                    )
                    .session(&mut *s)
                    .await?;
            }
        } else {
            let filter = rows_below(id, ov);
            let mut cursor = c
                .ver
                .find(filter.clone())
                .projection(doc! {"shadow": 0})
                .session(&mut *s)
                .await?;
            let mut rows = Vec::new();
            while let Some(row) = cursor.next(&mut *s).await.transpose()? {
                rows.push(row);
            }
            if !rows.is_empty() {
                c.ver.delete_many(filter).session(&mut *s).await?;
            }
            dropped = versions_of(&rows).map_err(TxnStep::Refused)?;
        }
        Ok(Committed {
            cv: cv as u64,
            dropped,
        })
    }
}
