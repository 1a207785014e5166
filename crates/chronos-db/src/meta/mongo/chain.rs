//! Whether a version row belongs to its item's committed chain.
//!
//! A row records the head it was written on twice: `base`, that head's fence (what the
//! commit's compare-and-set checks), and `base_row`, that head's row `_id`. A head always
//! points at the row it was made from (`row`, written by every commit and roll-forward), so
//! row `n + 1` was written on row `n` exactly when its `base_row` is row `n`'s `_id`, and
//! the chain of committed rows can be checked from the rows alone, without trusting later
//! bookkeeping (`next_cv`, the `committed` mark), both of which can be lost:
//! * a row the head points at is committed;
//! * a row below the head is committed iff the row above it was written on it. One that is
//!   not, or that has nothing above it, was inserted late into a slot freed after the head
//!   had passed it (versioning off removes older rows) by a writer whose head is long gone.
//!   It can never commit: the head would have to come back to its `base`, and fences are
//!   random per row and never recur. A create's row (`base` null) is the exception, since
//!   after a purge a create can commit at slot 0 again: it is not judged;
//! * a row at the head's ov that the head does not point at can never commit either.
//!
//! `None` means "not judged here": the callers keep their earlier, weaker rules (a row
//! written above a row of a release before rows carried `base_row`, a head without `row`, a
//! create's row, a row above the head).

use super::*;

impl MongoStore {
    /// Whether `row` is part of its item's committed chain, given its item's `head` (read
    /// after the row), or `None` when that is not judged (see the module docs).
    pub(super) async fn in_chain(
        &self,
        c: &Colls,
        row: &Document,
        head: Option<&Document>,
    ) -> Result<Option<bool>, MetaError> {
        let (Ok(id), Some(ov), Some(Bson::ObjectId(row_id))) =
            (row.get_str("id"), get_int(row, "ov"), row.get("_id"))
        else {
            return Ok(None);
        };
        if matches!(row.get("base"), None | Some(Bson::Null)) || is_claim(row) {
            return Ok(None);
        }
        let Some(head) = head else { return Ok(None) };
        let (Some(head_ov), Some(Bson::ObjectId(head_row))) =
            (get_int(head, "ov"), head.get("row"))
        else {
            return Ok(None);
        };
        if head_row == row_id {
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
            .projection(doc! {"base_row": 1})
            .await
            .map_err(map_err)?;
        Ok(match above {
            // With history kept the row above is never removed before this one (retention
            // prunes from the oldest), and without it a commit removes the older rows: a
            // row below the head with nothing above it is a late insert.
            None => Some(false),
            Some(a) => match a.get("base_row") {
                Some(Bson::ObjectId(base_row)) => Some(base_row == row_id),
                _ => None,
            },
        })
    }

    /// `rows` (of one item, at or below its `head`) without those the chain shows can never
    /// commit. A closed row (`next_cv` set) was superseded by a commit and stays; so, at no
    /// cost, does the row the head points at; only the other open rows cost a lookup, and
    /// with the bookkeeping intact there are none.
    pub(super) async fn without_dead_rows(
        &self,
        c: &Colls,
        rows: Vec<Document>,
        head: Option<&Document>,
    ) -> Result<Vec<Document>, MetaError> {
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            let closed = !matches!(row.get("next_cv"), None | Some(Bson::Null));
            if closed || self.in_chain(c, &row, head).await? != Some(false) {
                kept.push(row);
            }
        }
        Ok(kept)
    }
}
