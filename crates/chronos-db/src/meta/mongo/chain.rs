//! Whether a version row belongs to its item's committed chain.
//!
//! A row carries `fence`, the fence its head gets when the row commits (chosen with the row,
//! so whoever commits it, its writer or a roll-forward, writes the same one), and `base`, the
//! fence of the head it was written against. Fences are random per row and never recur, so
//! the chain links itself: row `n + 1` is written on row `n` exactly when its `base` is row
//! `n`'s `fence`. That tells, without trusting any later bookkeeping:
//! * a row the head points at is committed;
//! * a row below the head is committed iff the row above it was written on it. One that is
//!   not was inserted late into a slot freed after the head had passed it (versioning off
//!   removes older rows), by a writer whose head is long gone: it can never commit (the head
//!   would have to come back to its base), so it is removed;
//! * a row at the head's ov that the head does not point at can never commit either.
//!
//! Rows written before rows carried their fence cannot be judged this way (`None`): the
//! callers keep their earlier, weaker rules for them.

use super::*;

impl MongoStore {
    /// Whether `row` is part of its item's committed chain, given its item's `head` (read
    /// after the row); `None` when that cannot be told here (a row without its fence, no
    /// head, a head without its row's `_id`, or a row above the head).
    pub(super) async fn in_chain(
        &self,
        c: &Colls,
        row: &Document,
        head: Option<&Document>,
    ) -> Result<Option<bool>, MetaError> {
        let (Some(Bson::String(fence)), Ok(id), Some(ov)) =
            (row.get("fence"), row.get_str("id"), get_int(row, "ov"))
        else {
            return Ok(None);
        };
        let Some(head) = head else { return Ok(None) };
        let (Some(head_ov), Some(head_row)) = (get_int(head, "ov"), head.get("row")) else {
            return Ok(None);
        };
        if Some(head_row) == row.get("_id") {
            return Ok(Some(true));
        }
        if ov > head_ov {
            return Ok(None);
        }
        if ov == head_ov {
            return Ok(Some(false));
        }
        let above = c
            .ver
            .find_one(doc! {"id": id, "ov": ov + 1})
            .projection(doc! {"base": 1})
            .await
            .map_err(map_err)?;
        // No row above a row below the head: with history kept the row above is never
        // removed before this one, and without it a commit removes the older rows, so
        // this one is a late insert that nothing was ever written on.
        Ok(Some(above.is_some_and(
            |a| matches!(a.get("base"), Some(Bson::String(b)) if b == fence),
        )))
    }
}
