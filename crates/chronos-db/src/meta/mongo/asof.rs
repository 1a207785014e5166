//! As-of reads: checking a page of versions against the heads, and repairing rows whose
//! bookkeeping was lost.

use super::*;

pub(super) fn as_of_bound(as_of: AsOf) -> (&'static str, &'static str, i64) {
    match as_of {
        AsOf::Time(t) => ("at", "next_at", t.micros()),
        AsOf::Cv(cv) => ("cv", "next_cv", clamp(cv)),
    }
}

impl MongoStore {
    /// The heads (`ov`, `fence` and `row`) of the items of `rows`, by item id: one query.
    pub(super) async fn heads_of_rows(
        &self,
        c: &Colls,
        rows: &[&Document],
    ) -> Result<HashMap<String, Document>, MetaError> {
        let ids: Vec<String> = rows
            .iter()
            .filter_map(|d| d.get_str("id").ok().map(str::to_string))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        Ok(collect(
            c.head
                .find(doc! {"_id": {"$in": ids}})
                .projection(doc! {"ov": 1, "fence": 1, "row": 1})
                .await
                .map_err(map_err)?,
        )
        .await?
        .into_iter()
        .filter_map(|h| Some((h.get_str("_id").ok()?.to_string(), h)))
        .collect())
    }

    /// Checks the open rows (`next_*` unset) of an as-of page against the heads:
    /// * at the head's ov → the item's latest version, fine;
    /// * below it → committed but never closed (a lost `next_*`): close it from its
    ///   successor, and report that the page must be read again;
    /// * above it, or no head → not committed: left out of the page (returned in `hidden`).
    ///   On the way, a stale row at `head.ov + 1` written against the head is rolled forward,
    ///   a row there written against another head is deleted (nobody can commit it), and a
    ///   stale purge claim is completed; each of these also asks for a re-read.
    pub(super) async fn verify_page(
        &self,
        c: &Colls,
        docs: &[Document],
        next_field: &str,
    ) -> Result<(bool, HashSet<ObjectId>), MetaError> {
        let open: Vec<&Document> = docs
            .iter()
            .filter(|d| matches!(d.get(next_field), None | Some(Bson::Null)))
            .collect();
        let mut hidden = HashSet::new();
        if open.is_empty() {
            return Ok((false, hidden));
        }
        let heads = self.heads_of_rows(c, &open).await?;
        let mut reread = false;
        for r in open {
            let (Ok(id), Some(ov)) = (r.get_str("id"), get_int(r, "ov")) else {
                continue;
            };
            let head = heads.get(id);
            let state = HeadState::of(head);
            match head_ov(head) {
                Some(h) if ov == h => {}
                Some(h) if ov < h => {
                    // A row below the head that nothing was written on is a late insert
                    // into a freed slot, not a version (see `chain.rs`): hidden, and removed
                    // when it can never commit.
                    if let Chain::NotCommitted { dead } = self.chain_of(c, r, head).await? {
                        if dead {
                            let row_id = r.get("_id").cloned().unwrap_or(Bson::Null);
                            self.drop_row(c, &row_id).await;
                            // Its cv will never hold a version: a change feed need not wait.
                            if let Some(cv) = get_int(r, "cv") {
                                self.give_up_cv(c, cv).await;
                            }
                        }
                        if let Ok(oid) = r.get_object_id("_id") {
                            hidden.insert(oid);
                        }
                        continue;
                    }
                    let next = c
                        .ver
                        .find_one(doc! {"id": id, "ov": ov + 1})
                        .projection(doc! {"cv": 1, "at": 1})
                        .await
                        .map_err(map_err)?;
                    match next.and_then(|n| Some((get_int(&n, "cv")?, get_int(&n, "at")?))) {
                        Some((cv, at)) => {
                            self.close_previous(c, id, ov + 1, None, cv, at).await?;
                            reread = true;
                        }
                        // No successor: not part of the item's chain (a late writer's row in a
                        // slot freed by versioning-off, about to be removed by its writer).
                        None => {
                            if let Ok(oid) = r.get_object_id("_id") {
                                hidden.insert(oid);
                            }
                        }
                    }
                }
                _ => {
                    let mut hide = true;
                    if ov == state.next_ov() {
                        let (rolled, changed) = self.repair_above_head(c, id, r, &state).await?;
                        hide = !rolled;
                        reread |= changed;
                    }
                    if let (true, Ok(oid)) = (hide, r.get_object_id("_id")) {
                        hidden.insert(oid);
                    }
                }
            }
        }
        Ok((reread, hidden))
    }

    /// What a reader does about an uncommitted row at the head's next slot: complete a stale
    /// purge, remove a row written against another head, roll a stale row forward. Returns
    /// (the row is now committed, something changed).
    pub(super) async fn repair_above_head(
        &self,
        c: &Colls,
        id: &str,
        r: &Document,
        state: &HeadState,
    ) -> Result<(bool, bool), MetaError> {
        // A stale purge claim, or the rows of an item whose purge died.
        if is_claim(r) || *state == HeadState::Absent {
            let claim = if is_claim(r) {
                Some(r.clone())
            } else {
                self.claim_of(c, id).await?
            };
            if let Some(claim) = claim {
                if is_stale(&claim) {
                    self.complete_purge(c, id, &claim).await?;
                    return Ok((false, true));
                }
                return Ok((false, false));
            }
        }
        if r.get("base").unwrap_or(&Bson::Null) != &state.fence() {
            self.drop_row(c, r.get("_id").unwrap_or(&Bson::Null)).await;
            return Ok((false, true));
        }
        if is_stale(r) {
            let rolled = self.roll_forward(c, id, r, state).await?;
            return Ok((rolled, rolled));
        }
        Ok((false, false))
    }
}
