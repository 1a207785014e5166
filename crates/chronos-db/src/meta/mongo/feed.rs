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
//!   refused before its row went in, its row dropped after a refused compare-and-set, an
//!   allocation that took too long, an aborted transaction);
//! - its slot has no row and was taken longer than [`SLOT_IN_FLIGHT_MICROS`] ago (a writer
//!   gives a cv up after `CV_SLOT_TTL` before inserting its row, a transaction lives 60 s by
//!   default; the rest is margin for transit and clock skew between processes);
//! - it has no slot: below the counter's floor (compacted, old), or never taken.
//!
//! A cv whose row is present but not committed holds the watermark until the row commits
//! or is dropped (stalled rows are rolled forward by whoever meets them, `verify_page`).
//! Slots are only ever taken above the top (taken slots form a prefix, `cv.rs`), so no slot
//! appears below one already seen: a watermark, once computed, only moves up.
//!
//! With transactions the slot is taken before the transaction starts and the row becomes
//! visible at its commit: the same rule covers it.

use super::*;

/// A slot without a row counts as in flight for this long after it was taken (by the
/// taking process's clock).
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
            let top_row = rows
                .last()
                .and_then(|r| get_int(r, "cv"))
                .unwrap_or(after_i);
            let slots = self.slots_between(&c, after_i, top_row).await?;
            let by_cv: HashMap<i64, &Document> = rows
                .iter()
                .filter_map(|r| Some((get_int(r, "cv")?, r)))
                .collect();
            let now = now_micros();
            let mut out = Vec::new();
            let mut settled = after_i;
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
                match by_cv.get(&cv) {
                    Some(r) if is_claim(r) => {
                        // A purge in progress: it commits no version, but holds its cv
                        // until it is finished or given up.
                        if !given_up {
                            break;
                        }
                    }
                    Some(r) => {
                        let uncommitted = r
                            .get_object_id("_id")
                            .is_ok_and(|oid| hidden.contains(&oid));
                        if uncommitted {
                            if !given_up {
                                break;
                            }
                        } else {
                            out.push(decode_head(r, "id")?);
                            served += 1;
                        }
                    }
                    None => {
                        let in_flight = slot.is_some_and(|s| {
                            !s.gone && now.saturating_sub(s.taken_at) <= SLOT_IN_FLIGHT_MICROS
                        });
                        if in_flight {
                            break;
                        }
                    }
                }
                settled = cv;
            }
            // Past the last row read, only when nothing is left above it: the cvs between it
            // and the counter's top have no rows yet and are judged like the others next time.
            let more = rows.len() > limit || settled < top_row;
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

    /// The counter slots in `(after, up_to]` (at most [`MAX_SLOTS_PER_PAGE`]), by cv.
    async fn slots_between(
        &self,
        c: &Colls,
        after: i64,
        up_to: i64,
    ) -> Result<HashMap<i64, SlotState>, MetaError> {
        if up_to <= after {
            return Ok(HashMap::new());
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
        Ok(docs
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
            .collect())
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
