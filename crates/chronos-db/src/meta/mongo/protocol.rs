//! The commit protocol without transactions: unique-index inserts of version rows, the head
//! compare-and-set on a fence, roll-forward of stalled rows, purge claims.

use super::*;

/// What the head looked like to a commit attempt, and so how its compare-and-set reads.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum HeadState {
    /// No head: the commit inserts one (ov 0).
    Absent,
    /// A head at this ov with this fence: the commit replaces it if both still match.
    At(i64, Bson),
}

impl HeadState {
    pub(super) fn of(head: Option<&Document>) -> HeadState {
        match head.and_then(|h| Some((get_int(h, "ov")?, fence_of(h)))) {
            Some((ov, fence)) => HeadState::At(ov, fence),
            None => HeadState::Absent,
        }
    }

    /// The `base` recorded on a row written against this head.
    pub(super) fn fence(&self) -> Bson {
        match self {
            HeadState::Absent => Bson::Null,
            HeadState::At(_, f) => f.clone(),
        }
    }

    pub(super) fn next_ov(&self) -> i64 {
        match self {
            HeadState::Absent => 0,
            HeadState::At(ov, _) => ov + 1,
        }
    }

    /// The refusal for a writer that lost a race in this state.
    pub(super) fn lost(&self) -> MetaError {
        match self {
            HeadState::Absent => MetaError::AlreadyExists,
            HeadState::At(ov, _) => MetaError::Conflict {
                current_ov: to_u64(Some(*ov)),
            },
        }
    }
}

/// The filter of version `ov - 1` of an item: its row `_id` when the head named it (MongoDB
/// answers it from the primary index; FerretDB 1.x evaluates a lone `_id` equality in SQL
/// instead of decoding every document in Go), else its `(id, ov)` slot.
pub(super) fn previous_row(id: &str, ov: i64, prev_row: Option<&Bson>) -> Document {
    match prev_row {
        Some(row @ Bson::ObjectId(_)) => doc! {"_id": row.clone()},
        _ => doc! {"id": id, "ov": ov - 1},
    }
}

/// The filter of an item's version rows below `ov` (purge claims excluded).
pub(super) fn rows_below(id: &str, ov: i64) -> Document {
    doc! {"id": id, "ov": {"$lt": ov}, "purge": {"$ne": true}}
}

/// Version rows decoded, in ov order.
pub(super) fn versions_of(rows: &[Document]) -> Result<Vec<VersionRecord>, MetaError> {
    let mut out = rows
        .iter()
        .map(|r| decode_version(r, "id"))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|v| v.ov);
    Ok(out)
}

/// A new, uncommitted version row written against `state` (whose row is `base_row`, when
/// known), and its `_id`.
pub(super) fn new_row(
    v: &VersionRecord,
    cv: i64,
    shadow: Option<&str>,
    state: &HeadState,
    base_row: Option<&Bson>,
) -> Result<(ObjectId, Document), MetaError> {
    let row_id = ObjectId::new();
    let mut row = doc! {"_id": row_id, "id": v.id.as_str()};
    row.extend(version_fields(v, cv, shadow)?);
    row.extend(doc! {
        "base": state.fence(),
        // The row it is written on: the link `chain.rs` follows.
        "base_row": match state {
            HeadState::Absent => Bson::Null,
            HeadState::At(..) => base_row.cloned().unwrap_or(Bson::Null),
        },
        // The fence its head gets when it commits, so that whoever commits it (its writer
        // or a roll-forward) writes the same head.
        "fence": new_fence(),
        "written": now_micros(),
        "committed": false,
        "next_cv": Bson::Null,
        "next_at": Bson::Null,
    });
    Ok((row_id, row))
}

/// Rule 1's check of a head read against `expect` (Absent → no head, else AlreadyExists;
/// Ov(n) → head.ov == n, else Conflict{current_ov}).
pub(super) fn check_expected(
    expect: Expect,
    head: Option<&Document>,
) -> Result<HeadState, MetaError> {
    let state = HeadState::of(head);
    match (expect, &state) {
        (Expect::Absent, HeadState::Absent) => Ok(state),
        (Expect::Absent, HeadState::At(..)) => Err(MetaError::AlreadyExists),
        (Expect::Ov(n), HeadState::At(ov, _)) if *ov == clamp(n) => Ok(state),
        (Expect::Ov(_), _) => Err(MetaError::Conflict {
            current_ov: to_u64(head_ov(head)),
        }),
    }
}

/// The head document of a version row: its version fields, the row's fence (a fresh one for
/// a row written before rows carried theirs) and the row's id.
pub(super) fn head_of_row(row: &Document) -> Document {
    let mut head = Document::new();
    for k in VERSION_KEYS {
        if let Some(v) = row.get(k) {
            head.insert(k, v.clone());
        }
    }
    let fence = match row.get("fence") {
        Some(Bson::String(f)) => f.clone(),
        _ => new_fence(),
    };
    head.insert("fence", fence);
    head.insert("row", row.get("_id").cloned().unwrap_or(Bson::Null));
    head
}

impl MongoStore {
    pub(super) async fn raw_head(
        &self,
        c: &Colls,
        id: &str,
    ) -> Result<Option<Document>, MetaError> {
        c.head.find_one(doc! {"_id": id}).await.map_err(map_err)
    }

    /// The refusal after the head turned out not to be as expected: `AlreadyExists` for a
    /// create, else `Conflict` with the current ov.
    pub(super) async fn refusal(&self, c: &Colls, id: &str, state: &HeadState) -> MetaError {
        match state {
            HeadState::Absent => MetaError::AlreadyExists,
            HeadState::At(..) => match self.raw_head(c, id).await {
                Ok(h) => MetaError::Conflict {
                    current_ov: to_u64(head_ov(h.as_ref())),
                },
                Err(e) => e,
            },
        }
    }

    /// Rule 1: read the head and check `expect` (Absent → no head, else AlreadyExists;
    /// Ov(n) → head.ov == n, else Conflict{current_ov}); remember its fence, and return the
    /// `_id` of its version row (to close that row after the commit without a search).
    pub(super) async fn read_expected(
        &self,
        c: &Colls,
        id: &str,
        expect: Expect,
    ) -> Result<(HeadState, Option<Bson>), MetaError> {
        let head = self.raw_head(c, id).await?;
        let state = check_expected(expect, head.as_ref())?;
        Ok((state, head.as_ref().and_then(|h| h.get("row")).cloned()))
    }

    pub(super) async fn head_has_row(
        &self,
        c: &Colls,
        id: &str,
        row: &Bson,
    ) -> Result<bool, MetaError> {
        Ok(self
            .raw_head(c, id)
            .await?
            .is_some_and(|h| h.get("row") == Some(row)))
    }

    /// Rule 4: the head compare-and-set, the commit point (I1, I2).
    /// * create: `insert_one` of the head (unique `_id`; a duplicate → `AlreadyExists`);
    /// * update: `replace_one` on `{_id, ov: n, fence: f}` (matched 0 → `Conflict`).
    ///
    /// "No match" is re-checked against the head's `row`: a head that already points at this
    /// row (rolled forward by someone else, or a write the driver retried after it had been
    /// applied) is a success.
    pub(super) async fn cas_head(
        &self,
        c: &Colls,
        id: &str,
        state: &HeadState,
        row: &Document,
    ) -> Result<(), MetaError> {
        let head = head_of_row(row);
        let matched = match state {
            HeadState::Absent => {
                let mut doc = doc! {"_id": id};
                doc.extend(head);
                match c.head.insert_one(doc).await {
                    Ok(_) => true,
                    Err(e) if is_dup(&e) => false,
                    Err(e) => return Err(map_err(e)),
                }
            }
            HeadState::At(ov, f) => {
                c.head
                    .replace_one(doc! {"_id": id, "ov": ov, "fence": f.clone()}, head)
                    .await
                    .map_err(map_err)?
                    .matched_count
                    == 1
            }
        };
        let row_id = row.get("_id").cloned().unwrap_or(Bson::Null);
        if matched || self.head_has_row(c, id, &row_id).await? {
            return Ok(());
        }
        Err(self.refusal(c, id, state).await)
    }

    /// Commits a stalled or dead writer's row on its behalf: the row at `head.ov + 1` written
    /// against the current head owns the item's next state, so moving the head to it is what
    /// its writer would have done. Returns whether the head now holds it.
    pub(super) async fn roll_forward(
        &self,
        c: &Colls,
        id: &str,
        row: &Document,
        state: &HeadState,
    ) -> Result<bool, MetaError> {
        match self.cas_head(c, id, state, row).await {
            Ok(()) => {}
            Err(MetaError::Conflict { .. } | MetaError::AlreadyExists) => return Ok(false),
            Err(e) => return Err(e),
        }
        tracing::info!(
            id,
            ov = get_int(row, "ov"),
            "committed a version row whose writer stalled or died"
        );
        // Mark it, so that its writer, if it wakes up and finds the head moved on, knows the
        // row was committed on its behalf and neither deletes it nor reports a refusal.
        if let Some(row_id) = row.get("_id") {
            if let Err(e) = c
                .ver
                .update_one(
                    doc! {"_id": row_id.clone()},
                    doc! {"$set": {"committed": true}},
                )
                .await
            {
                tracing::warn!(id, error = %map_err(e), "could not mark a rolled-forward row committed");
            }
        }
        if let (Some(ov), Some(cv), Some(at)) =
            (get_int(row, "ov"), get_int(row, "cv"), get_int(row, "at"))
        {
            if let Err(e) = self.close_previous(c, id, ov, None, cv, at).await {
                tracing::warn!(id, ov, error = %e, "could not close the previous version");
            }
        }
        Ok(true)
    }

    /// Deletes a row nobody can commit any more (best effort).
    pub(super) async fn drop_row(&self, c: &Colls, row_id: &Bson) {
        if let Err(e) = c.ver.delete_one(doc! {"_id": row_id.clone()}).await {
            tracing::warn!(error = %map_err(e), "could not remove a dead version row");
        }
    }

    /// The purge claim of an item, if a purge is under way (or died).
    pub(super) async fn claim_of(
        &self,
        c: &Colls,
        id: &str,
    ) -> Result<Option<Document>, MetaError> {
        c.ver
            .find_one(doc! {"id": id, "purge": true})
            .await
            .map_err(map_err)
    }

    /// Rule 3: insert the version row (`committed: false`) at its `(id, ov)` slot. On a
    /// duplicate, look at the row E that holds the slot:
    /// * E is ours (the driver retried an insert that had been applied) → done;
    /// * the head moved since rule 1 → refused;
    /// * E was written against another head (its `base` fence is gone) → nobody can commit
    ///   it: delete it by `_id` and insert ours again;
    /// * E is a purge claim → refused (a stale claim is completed first);
    /// * a create meets the rows of an item whose purge died → complete the purge, retry;
    /// * E is fresh → a concurrent writer → refused;
    /// * E is stale (written more than 60 s ago by its writer's clock, compared with ours) →
    ///   roll it forward (commit it for its writer), then refused: the slot was E's.
    pub(super) async fn insert_row(
        &self,
        c: &Colls,
        id: &str,
        row: &Document,
        state: &HeadState,
    ) -> Result<(), MetaError> {
        let ov = state.next_ov();
        let row_id = row.get("_id").cloned().unwrap_or(Bson::Null);
        for attempt in 0..3 {
            match c.ver.insert_one(row).await {
                Ok(_) => return Ok(()),
                Err(e) if is_dup(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
            let Some(existing) = c
                .ver
                .find_one(doc! {"id": id, "ov": ov})
                .await
                .map_err(map_err)?
            else {
                continue; // it went away meanwhile: try again
            };
            if existing.get("_id") == Some(&row_id) {
                return Ok(());
            }
            let head = self.raw_head(c, id).await?;
            if HeadState::of(head.as_ref()) != *state {
                return Err(self.refusal(c, id, state).await);
            }
            if existing.get("base").unwrap_or(&Bson::Null) != &state.fence() {
                self.drop_row(c, existing.get("_id").unwrap_or(&Bson::Null))
                    .await;
                continue;
            }
            if is_claim(&existing) {
                if is_stale(&existing) {
                    self.complete_purge(c, id, &existing).await?;
                }
                return Err(match state {
                    HeadState::Absent => MetaError::AlreadyExists,
                    HeadState::At(..) => self.refusal(c, id, state).await,
                });
            }
            if *state == HeadState::Absent && attempt == 0 {
                if let Some(claim) = self.claim_of(c, id).await? {
                    if !is_stale(&claim) {
                        return Err(MetaError::AlreadyExists);
                    }
                    self.complete_purge(c, id, &claim).await?;
                    continue;
                }
            }
            if is_stale(&existing) {
                self.roll_forward(c, id, &existing, state).await?;
            }
            return Err(self.refusal(c, id, state).await);
        }
        Err(state.lost())
    }

    /// Rule 5, after the commit point; failures are only logged (the commit stands; as-of
    /// reads repair a missing `next_*`): with history, record on the previous version (the
    /// row `prev_row` when the head named it) that it was superseded (`next_cv`, `next_at`);
    /// without history (`keep_history == false`), delete the item's older rows (`ov < ours`)
    /// and return them. The row keeps `committed: false`: that flag is only set by a
    /// roll-forward (see [`MongoStore::roll_forward`]); the head decides what is committed.
    pub(super) async fn finish_commit(
        &self,
        c: &Colls,
        v: &VersionRecord,
        prev_row: Option<&Bson>,
        cv: i64,
        keep_history: bool,
    ) -> Vec<VersionRecord> {
        let ov = clamp(v.ov);
        if keep_history {
            if let Err(e) = self
                .close_previous(c, &v.id, ov, prev_row, cv, v.at.micros())
                .await
            {
                tracing::warn!(id = %v.id, ov, error = %e, "could not close the previous version");
            }
            return Vec::new();
        }
        match self.drop_older(c, &v.id, ov).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(id = %v.id, ov, error = %e, "could not remove older versions (versioning off); the next commit will");
                Vec::new()
            }
        }
    }

    /// Marks version `ov - 1` of an item as superseded by version `ov` (its cv and time);
    /// `prev_row` is that version's row `_id` when known (see [`previous_row`]).
    pub(super) async fn close_previous(
        &self,
        c: &Colls,
        id: &str,
        ov: i64,
        prev_row: Option<&Bson>,
        cv: i64,
        at: i64,
    ) -> Result<(), MetaError> {
        if ov <= 0 {
            return Ok(());
        }
        c.ver
            .update_one(
                previous_row(id, ov, prev_row),
                doc! {"$set": {"next_cv": cv, "next_at": at}},
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Deletes the rows of an item below `ov` and returns them (versioning off).
    pub(super) async fn drop_older(
        &self,
        c: &Colls,
        id: &str,
        ov: i64,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        let rows = collect(
            c.ver
                .find(rows_below(id, ov))
                .projection(doc! {"shadow": 0})
                .await
                .map_err(map_err)?,
        )
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bson> = rows.iter().filter_map(|r| r.get("_id").cloned()).collect();
        c.ver
            .delete_many(doc! {"_id": {"$in": ids}})
            .await
            .map_err(map_err)?;
        // Their cvs hold no version any more: settled for a change feed.
        let cvs: Vec<i64> = rows.iter().filter_map(|r| get_int(r, "cv")).collect();
        self.give_up_cvs(c, &cvs).await;
        versions_of(&rows)
    }
}

impl MongoStore {
    /// Finishes a purge whose claim row is `claim` (idempotent; the purging process and
    /// anyone meeting a stale claim run the same steps): delete the head if it is still the
    /// one the purge saw, the item's rows older than the purge's cv, then the claim.
    pub(super) async fn complete_purge(
        &self,
        c: &Colls,
        id: &str,
        claim: &Document,
    ) -> Result<(), MetaError> {
        let ov = get_int(claim, "ov").unwrap_or(0) - 1;
        let cv = get_int(claim, "cv").unwrap_or(0);
        let base = claim.get("base").cloned().unwrap_or(Bson::Null);
        c.head
            .delete_one(doc! {"_id": id, "ov": ov, "fence": base})
            .await
            .map_err(map_err)?;
        let older = doc! {"id": id, "cv": {"$lt": cv}, "purge": {"$ne": true}};
        let mut cvs: Vec<i64> = collect(
            c.ver
                .find(older.clone())
                .projection(doc! {"cv": 1})
                .await
                .map_err(map_err)?,
        )
        .await?
        .iter()
        .filter_map(|r| get_int(r, "cv"))
        .collect();
        c.ver.delete_many(older).await.map_err(map_err)?;
        c.ver
            .delete_one(doc! {"_id": claim.get("_id").cloned().unwrap_or(Bson::Null)})
            .await
            .map_err(map_err)?;
        // Neither the removed versions nor the claim are anything a change feed could still
        // wait for.
        cvs.push(cv);
        self.give_up_cvs(c, &cvs).await;
        Ok(())
    }

    // --------------------------------------------------------------- as-of verification ---
}

impl MongoStore {
    /// The commit without transactions, in five steps (the "rules" its helpers name):
    ///
    /// 1. read the head and check the expectation;
    /// 2. allocate the cv;
    /// 3. insert the version row at its `(id, ov)` slot;
    /// 4. the head compare-and-set, the commit point;
    /// 5. close the previous version (or, versioning off, remove the older ones).
    pub(super) async fn commit_by_protocol(
        &self,
        coll: &str,
        write: VersionWrite,
    ) -> Result<Committed, MetaError> {
        let c = self.colls(coll);
        let v = &write.version;
        let id = v.id.as_str();
        // 1. Read the head and check `expect`; remember its fence. A create skips the read:
        //    it writes against "no head", and an existing item makes its slot-0 insert or its
        //    head insert fail (both end in `AlreadyExists`), so the read would only fail
        //    earlier, at the cost of a round trip on every create.
        //    An update that hands back the mark of the head it read skips the read too: the
        //    state it names is what that read returned, and a head that moved since fails the
        //    slot insert or the compare-and-set exactly as it would after a fresh read.
        let marked = match (write.expect, &write.seen) {
            (Expect::Ov(n), Some(mark)) => unmark(mark, clamp(n)).map(|(s, row)| (s, Some(row))),
            _ => None,
        };
        let (state, prev_row) = match (write.expect, marked) {
            (Expect::Absent, _) => (HeadState::Absent, None),
            (Expect::Ov(_), Some(known)) => known,
            (Expect::Ov(_), None) => self.read_expected(&c, id, write.expect).await?,
        };

        // 2. Allocate the cv. Gaps are allowed (I3): a refused attempt burns its cv. Per item
        //    the cv is allocated after the previous version's commit, so it grows with ov.
        //    An allocation that took longer than `CV_SLOT_TTL` is given up for a fresh one:
        //    no row may appear far below the cvs others have committed since (counter
        //    catch-ups rely on it, see `committed_after`).
        let mut cv = None;
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let slot = self.next_cv(coll, &c).await?;
            if started.elapsed() <= CV_SLOT_TTL {
                cv = Some((slot, started));
                break;
            }
            // Never used: say so, so that a change feed need not wait for it to age.
            self.give_up_cv(&c, slot).await;
        }
        let Some((cv, started)) = cv else {
            return Err(MetaError::Unavailable(BackendError::new(
                "allocating a collection version took too long, three times",
            )));
        };

        // 3. Insert the version row at its (id, ov) slot, `committed: false`: invisible to
        //    every reader until the head reaches its ov. Holding the slot makes this attempt
        //    the only possible next state of the item (see `insert_row` for collisions).
        let mut unused = super::feed::UnusedCv::new(&c, cv);
        let (row_id, row) = new_row(v, cv, write.shadow.as_deref(), &state, prev_row.as_ref())?;
        // The cv is a lease: checked again right before the row goes in (a pause since the
        // allocation must not put a row below what a change feed has passed).
        if started.elapsed() > CV_SLOT_TTL {
            unused.disarm();
            self.give_up_cv(&c, cv).await;
            return Err(MetaError::Unavailable(BackendError::new(
                "the collection version's lease ran out before the version was written",
            )));
        }
        // From here the row may be in: a cancelled commit leaves the cv to age.
        unused.disarm();
        match self.insert_row(&c, id, &row, &state).await {
            Ok(()) => {}
            // A refusal: the row is not in (another one holds the slot), so the cv is never
            // used. Any other error leaves that unknown, and the cv is left to age.
            Err(e @ (MetaError::Conflict { .. } | MetaError::AlreadyExists)) => {
                self.give_up_cv(&c, cv).await;
                return Err(e);
            }
            Err(e) => return Err(e),
        }

        // 4. The head compare-and-set: the commit point (I1, I2). On a refusal delete OUR
        //    version row by its `_id` (never anything else) before returning: the head left
        //    the state our row was written against, so nobody can commit it. Any other error
        //    leaves the outcome unknown, so nothing is deleted (a stalled row is rolled forward
        //    by the next writer or reader that meets it).
        match self.cas_head(&c, id, &state, &row).await {
            Ok(()) => {}
            Err(e @ (MetaError::Conflict { .. } | MetaError::AlreadyExists)) => {
                // Someone may have rolled our (stalled) row forward before the head moved on:
                // then the write is committed and must be reported as such, not deleted.
                // The roll-forward's `committed` mark can be lost, so the chain decides too:
                // the head points at our row, or the row above it was written on it.
                let ours = c
                    .ver
                    .find_one(doc! {"_id": row_id})
                    .await
                    .map_err(map_err)?;
                let marked = ours.as_ref().and_then(|r| r.get_bool("committed").ok()) == Some(true);
                let chained = match (&ours, marked) {
                    (Some(r), false) => {
                        let head = self.raw_head(&c, id).await?;
                        self.chain_of(&c, r, head.as_ref()).await? == Chain::Committed
                    }
                    _ => false,
                };
                if !marked && !chained {
                    // The cv is not marked given up here: a roll-forward whose mark was lost
                    // may have committed the row (a change feed judges the cv by its age).
                    self.drop_row(&c, &Bson::ObjectId(row_id)).await;
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }

        // 5. After the commit point.
        let dropped = self
            .finish_commit(&c, v, prev_row.as_ref(), cv, write.keep_history)
            .await;
        Ok(Committed {
            cv: cv as u64,
            dropped,
        })
    }
}
