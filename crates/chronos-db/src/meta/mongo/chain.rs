//! Whether a version row belongs to its item's committed chain.
//!
//! A row records the head it was written on twice: `base`, that head's fence (what the
//! commit's compare-and-set checks), and `base_row`, that head's row `_id`. A head always
//! points at the row it was made from (`row`, written by every commit and roll-forward), so
//! row `n + 1` was written on row `n` exactly when its `base_row` is row `n`'s `_id`, and
//! the chain of committed rows can be checked from the rows alone, without trusting later
//! bookkeeping (`next_cv`, the `committed` mark), both of which can be lost:
//! * a row the head points at, or that the row above it was written on, is committed;
//! * any other row at or below the head is not committed. Below the head it was inserted
//!   late into a slot freed after the head had passed it (versioning off and retention
//!   remove older rows) by a writer whose head is long gone; at the head's ov, the head is
//!   another row's. Such a row can never commit, since the head would have to come back to
//!   its `base` and fences are random per row and never recur: it is *dead*. Except a
//!   create's row (`base` null) and a purge claim: after a purge the item has no head, and a
//!   create can commit at slot 0 again, so those are only *not committed (now)*.
//!
//! Rows that cannot be judged this way (a row above the head, a head without `row`, a row
//! above written by a release before rows carried `base_row`) are [`Chain::Unknown`], and
//! the callers keep their earlier, weaker rules for them.

use super::*;

/// What the chain says of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chain {
    /// Committed: the head points at it, or the row above it was written on it.
    Committed,
    /// Not committed; `dead` when it never can be (see the module docs).
    NotCommitted { dead: bool },
    /// Not judged here.
    Unknown,
}

impl MongoStore {
    /// What the chain says of `row`, given its item's `head` (read after the row).
    pub(super) async fn chain_of(
        &self,
        c: &Colls,
        row: &Document,
        head: Option<&Document>,
    ) -> Result<Chain, MetaError> {
        let (Ok(id), Some(ov), Some(Bson::ObjectId(row_id))) =
            (row.get_str("id"), get_int(row, "ov"), row.get("_id"))
        else {
            return Ok(Chain::Unknown);
        };
        let Some(head) = head else {
            return Ok(Chain::Unknown);
        };
        let (Some(head_ov), Some(Bson::ObjectId(head_row))) =
            (get_int(head, "ov"), head.get("row"))
        else {
            return Ok(Chain::Unknown);
        };
        if head_row == row_id {
            return Ok(Chain::Committed);
        }
        if ov > head_ov {
            return Ok(Chain::Unknown);
        }
        let not_committed = Chain::NotCommitted {
            dead: !matches!(row.get("base"), None | Some(Bson::Null)) && !is_claim(row),
        };
        if ov == head_ov {
            return Ok(not_committed);
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
            None => not_committed,
            Some(a) => match a.get("base_row") {
                Some(Bson::ObjectId(base_row)) if base_row == row_id => Chain::Committed,
                Some(Bson::ObjectId(_)) => not_committed,
                _ => Chain::Unknown,
            },
        })
    }

    /// `rows` (of one item, at or below its `head`) without those the chain shows are not
    /// committed. A closed row (`next_cv` set) was superseded by a commit and stays; so, at
    /// no cost, does the row the head points at; only the other open rows cost a lookup,
    /// and with the bookkeeping intact there are none.
    pub(super) async fn without_uncommitted_rows(
        &self,
        c: &Colls,
        rows: Vec<Document>,
        head: Option<&Document>,
    ) -> Result<Vec<Document>, MetaError> {
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            let closed = !matches!(row.get("next_cv"), None | Some(Bson::Null));
            if closed
                || !matches!(
                    self.chain_of(c, &row, head).await?,
                    Chain::NotCommitted { .. }
                )
            {
                kept.push(row);
            }
        }
        Ok(kept)
    }
}
