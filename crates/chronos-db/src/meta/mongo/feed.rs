//! The change feed's page: committed versions above a cv, up to the visibility watermark.
//!
//! # The watermark
//! Without transactions a cv is taken (a unique counter slot) before its version row is
//! inserted, and the row commits later still, so a version can become visible below one
//! already visible. A feed that has served cv N must never see a version below N appear
//! afterwards. [`MongoStore::visible_page`] therefore serves versions only up to the highest
//! cv `W` such that every cv in `(after, W]` is settled:
//! - its row is committed (the head reached it): served;
//! - its slot is marked given up (`gone`, written by a writer that will never use the cv:
//!   refused before its row went in, a lease run out, an aborted transaction, a commit
//!   abandoned before its row went in ([`UnusedCv`]); and by commits and purges for the rows
//!   they remove);
//! - its slot has no row and was taken longer than [`SLOT_IN_FLIGHT_MICROS`] ago;
//! - it has no slot: below the counter's floor (compacted, old), or never taken;
//! - its row is not committed and never can be: written against a head that is gone
//!   (fences never recur).
//!
//! A cv whose row is present but not committed holds the watermark until the row commits
//! or is dropped (stalled rows are rolled forward by whoever meets them, `verify_page`); a
//! purge claim holds it until the purge is finished (a stale one is finished here).
//!
//! **The lease, and what the watermark assumes.** A cv is a lease of `CV_SLOT_TTL` (30 s):
//! a writer checks it right before inserting its row (a transaction, right before its
//! commit), and gives the cv up instead when it ran out. The watermark waits 5 minutes for a
//! slot without a row, so it relies on no writer stalling for more than about 4.5 minutes
//! between that check and its row reaching the server, and on clocks within about 4.5
//! minutes of each other (slots carry the taking process's time). Slots taken before they
//! carried a time count as old. Making this independent of time (the feed claiming an aged
//! slot with a unique insert the late row would collide with) is the next step.
//! Slots are only ever taken above the top (taken slots form a prefix, `cv.rs`), so no slot
//! appears below one already seen: a watermark, once computed, only moves up.
//!
//! With transactions the slot is taken before the transaction starts and the row becomes
//! visible at its commit: the same rule covers it.

use super::*;

/// A slot without a row counts as in flight for this long after it was taken (by the
/// taking process's clock): the lease (`CV_SLOT_TTL`) plus margin for stalls and skew.
pub(super) const SLOT_IN_FLIGHT_MICROS: i64 = 300_000_000;

/// The most slots one page looks at beyond its rows (gaps left by given-up writes).
const MAX_SLOTS_PER_PAGE: i64 = 10_000;

impl MongoStore {
    /// Committed versions with `cv > after`, ascending, at most `limit`, and the watermark
    /// (see the module docs) as `settled`: every version at or below it was returned by this
    /// page or an earlier one, and no other can still commit there.
    pub(super) async fn visible_page(
        &self,
        coll: &str,
        after: u64,
        limit: usize,
    ) -> Result<CommittedPage, MetaError> {
        let c = self.colls(coll);
        let limit = limit.clamp(1, 100_000);
        let after_i = clamp(after);
        for _ in 0..QUERY_ATTEMPTS {
            // Purge claims are read too: a claim holds its cv like a version row does.
            let rows = collect(
                c.ver
                    .find(doc! {"cv": {"$gt": after_i}})
                    .sort(doc! {"cv": 1})
                    .limit(limit as i64 + 1)
                    .await
                    .map_err(map_err)?,
            )
            .await?;
            let versions: Vec<Document> = rows.iter().filter(|r| !is_claim(r)).cloned().collect();
            let (reread, hidden) = self.verify_page(&c, &versions, "next_cv").await?;
            if reread {
                continue;
            }
            let mut top_row = rows
                .last()
                .and_then(|r| get_int(r, "cv"))
                .unwrap_or(after_i);
            let (slots, truncated_at) = self.slots_between(&c, after_i, top_row).await?;
            // Past the last slot read nothing is known: the walk stops there.
            if let Some(last) = truncated_at {
                top_row = top_row.min(last);
            }
            let by_cv: HashMap<i64, &Document> = rows
                .iter()
                .filter_map(|r| Some((get_int(r, "cv")?, r)))
                .collect();
            // Hidden rows that can never commit (written against a head that is gone: fences
            // never recur) hold nothing; the others are writers inside their commit.
            let dead = self.dead_rows(&c, &rows, &hidden).await?;
            let now = now_micros();
            let mut out = Vec::new();
            let mut settled = after_i;
            let mut blocked = false;
            let mut stale_claim = None;
            // Walk the cvs in order, over the union of the rows' and the slots' cvs.
            let mut cvs: Vec<i64> = by_cv.keys().copied().chain(slots.keys().copied()).collect();
            cvs.sort_unstable();
            cvs.dedup();
            let mut served = 0;
            for cv in cvs {
                if cv > top_row || served == limit {
                    break;
                }
                let slot = slots.get(&cv);
                let given_up = slot.is_some_and(|s| s.gone);
                let holds = match by_cv.get(&cv) {
                    Some(r) if is_claim(r) => {
                        // A purge in progress commits no version but holds its cv until it
                        // is finished; a stale one (its purger died) is finished here.
                        if !given_up && is_stale(r) {
                            stale_claim = Some((*r).clone());
                        }
                        !given_up
                    }
                    Some(r) => {
                        let oid = r.get_object_id("_id").ok();
                        let uncommitted = oid.is_some_and(|o| hidden.contains(&o));
                        if !uncommitted {
                            out.push(decode_head(r, "id")?);
                            served += 1;
                        }
                        uncommitted && !given_up && !oid.is_some_and(|o| dead.contains(&o))
                    }
                    None => slot.is_some_and(|s| {
                        !s.gone && now.saturating_sub(s.taken_at) <= SLOT_IN_FLIGHT_MICROS
                    }),
                };
                if holds {
                    blocked = true;
                    break;
                }
                settled = cv;
            }
            if let Some(claim) = stale_claim {
                if let Ok(id) = claim.get_str("id") {
                    self.complete_purge(&c, id, &claim).await?;
                    continue;
                }
            }
            // More is ready when the walk stopped at the page's size or at the rows or slots
            // read, not when it waits for a commit in flight (a follower then waits too).
            let more = !blocked && (rows.len() > limit || truncated_at.is_some());
            return Ok(CommittedPage {
                versions: out,
                settled: settled.max(after_i) as u64,
                more,
            });
        }
        Err(MetaError::Backend(BackendError::new(
            "the rows above the feed's position kept changing while being read",
        )))
    }

    /// Which of the `hidden` rows can never commit. The heads are read after the rows, so a
    /// row may have committed since (its head at or above its ov): that one is not dead. A row
    /// at its head's next ov commits only if written against that head's fence (with no
    /// head: at ov 0, against none); a row further above its head (or above a head that is
    /// gone, after a purge) was written against a head that no longer exists, and fences
    /// never recur.
    async fn dead_rows(
        &self,
        c: &Colls,
        rows: &[Document],
        hidden: &HashSet<ObjectId>,
    ) -> Result<HashSet<ObjectId>, MetaError> {
        let mut dead = HashSet::new();
        if hidden.is_empty() {
            return Ok(dead);
        }
        let hidden_rows: Vec<&Document> = rows
            .iter()
            .filter(|r| r.get_object_id("_id").is_ok_and(|o| hidden.contains(&o)))
            .collect();
        let heads = self.heads_of_rows(c, &hidden_rows).await?;
        for r in hidden_rows {
            let (Ok(oid), Ok(id)) = (r.get_object_id("_id"), r.get_str("id")) else {
                continue;
            };
            let state = HeadState::of(heads.get(id));
            let base = r.get("base").cloned().unwrap_or(Bson::Null);
            let ov = get_int(r, "ov").unwrap_or(-1);
            let alive = match ov.cmp(&state.next_ov()) {
                // At or below the head: committed since it was read, or never to be (a row
                // the head passed without it, `chain.rs`); rows the chain cannot judge
                // (written on a row of an earlier release) are given the benefit of the doubt.
                std::cmp::Ordering::Less => !matches!(
                    self.chain_of(c, r, heads.get(id)).await?,
                    Chain::NotCommitted { dead: true }
                ),
                std::cmp::Ordering::Equal => base == state.fence(),
                std::cmp::Ordering::Greater => false,
            };
            if !alive {
                dead.insert(oid);
            }
        }
        Ok(dead)
    }

    /// The counter slots in `(after, up_to]` (at most [`MAX_SLOTS_PER_PAGE`]), by cv, and
    /// the last cv read when there may be more.
    async fn slots_between(
        &self,
        c: &Colls,
        after: i64,
        up_to: i64,
    ) -> Result<(HashMap<i64, SlotState>, Option<i64>), MetaError> {
        if up_to <= after {
            return Ok((HashMap::new(), None));
        }
        let docs = collect(
            c.counter
                .find(doc! {"_id": {"$gt": cv_key(after), "$lte": cv_key(up_to)}})
                .sort(doc! {"_id": 1})
                .limit(MAX_SLOTS_PER_PAGE)
                .await
                .map_err(map_err)?,
        )
        .await?;
        let truncated_at = (docs.len() as i64 >= MAX_SLOTS_PER_PAGE)
            .then(|| {
                docs.last()
                    .and_then(|d| d.get_str("_id").ok()?.parse::<i64>().ok())
            })
            .flatten();
        let slots = docs
            .iter()
            .filter_map(|d| {
                let cv = d.get_str("_id").ok()?.parse::<i64>().ok()?;
                Some((
                    cv,
                    SlotState {
                        // Slots taken before slots carried their time count as old.
                        taken_at: get_int(d, "t").unwrap_or(i64::MIN),
                        gone: matches!(d.get("gone"), Some(Bson::Boolean(true))),
                    },
                ))
            })
            .collect();
        Ok((slots, truncated_at))
    }

    /// Marks a cv given up: its writer will never insert or commit a row with it (best
    /// effort: an unmarked slot without a row is judged by its age).
    pub(super) async fn give_up_cv(&self, c: &Colls, cv: i64) {
        self.give_up_cvs(c, &[cv]).await;
    }

    /// Marks cvs whose rows are gone for good (given up, or removed: versioning off, purges).
    pub(super) async fn give_up_cvs(&self, c: &Colls, cvs: &[i64]) {
        // One `_id` update each (usually one): the lookup every server serves best.
        for cv in cvs {
            if let Err(e) = c
                .counter
                .update_one(doc! {"_id": cv_key(*cv)}, doc! {"$set": {"gone": true}})
                .await
            {
                tracing::debug!(cv, error = %map_err(e), "could not mark a given-up cv");
            }
        }
    }
}

/// What the feed needs of a counter slot.
struct SlotState {
    /// When it was taken (µs, the taking process's clock).
    taken_at: i64,
    /// Whether its writer marked it given up.
    gone: bool,
}

/// A cv taken and not yet put to use: if the commit is abandoned before its row insert
/// starts (its caller went away: a request's time ran out), dropping the guard gives the cv
/// up in the background, so change feeds need not wait for the slot to age. Once the insert
/// has started, the outcome is unknown and the guard must be disarmed.
pub(super) struct UnusedCv {
    counter: Option<Collection<Document>>,
    cv: i64,
}

impl UnusedCv {
    pub(super) fn new(c: &Colls, cv: i64) -> Self {
        UnusedCv {
            counter: Some(c.counter.clone()),
            cv,
        }
    }

    /// The cv is being used (or given up explicitly): dropping the guard does nothing.
    pub(super) fn disarm(&mut self) {
        self.counter = None;
    }
}

impl Drop for UnusedCv {
    fn drop(&mut self) {
        let (Some(counter), Ok(runtime)) =
            (self.counter.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let cv = self.cv;
        runtime.spawn(async move {
            if let Err(e) = counter
                .update_one(doc! {"_id": cv_key(cv)}, doc! {"$set": {"gone": true}})
                .await
            {
                tracing::debug!(cv, error = %map_err(e), "could not mark an abandoned cv");
            }
        });
    }
}
