//! The fallback queue's journal: item writes whose backend did not answer, kept in a local
//! SQLite file until a worker replays them (see [`crate::queue`] for the worker and the
//! admin calls, and `ops::submit` for how a write gets here).
//!
//! # Layout (`<queueDir>/queue.sqlite`, WAL, `synchronous=FULL`)
//!
//! * `chronos_fallback_ops`: one row per queued write, `seq` ascending in queueing order.
//!   `request_id` is unique; `item_key` (`<route>/<id>`) orders the writes of one item;
//!   `route` and `op` are the JSON a replay needs (the whole route, actor, reason, expected
//!   ov and payload); `attempts`, `next_at` (µs) schedule the replays; `lease_owner`,
//!   `lease_until` (µs) say which worker is replaying it.
//! * the dead letters (`fallback.deadLetterCollection`, default `chronos_fallback_dead`):
//!   the same columns, plus when and why the write was given up (`failed_at`, `code`,
//!   `message`).
//!
//! # Invariants
//!
//! * **J1** A queued write is in exactly one table; moving it (to the dead letters, or back
//!   with `retry`) is one transaction.
//! * **J2** A worker claims a write only when its lease is free and no older write of the
//!   same item is still queued (leased, waiting or not), so the writes of one item commit in
//!   the order they were queued; it settles the write (removes, reschedules, buries) only
//!   while it still holds the lease. A worker whose lease ran out mid-replay may still
//!   commit: the request id makes that commit the one every later replay recognises.
//! * **J3** A row leaves `chronos_fallback_ops` only after its replay committed (or proved
//!   it had committed before), or as a dead letter. A crash anywhere leaves it queued, and
//!   the next replay recognises an earlier commit by the request id recorded with the
//!   version, so it is applied exactly once.
//!
//! The journal is shared by every process that opens the same directory (SQLite's locks);
//! two queue directories are two independent queues, which order only their own writes.

mod journal;

pub(crate) use journal::{Claimed, NewEntry};
pub use journal::{DeadLetter, Journal, QueueEntry, QueueStats};

/// The wait before replay `attempt` (1 for the first retry): `min(2^(attempt-1) × first,
/// max)`, then ± 20% at random, so that the writes queued by one outage do not all come
/// back at the same instant.
///
/// ```
/// use chronos_db::fallback::backoff_ms;
/// for _ in 0..100 {
///     let d = backoff_ms(1, 1000, 60_000);
///     assert!((800..=1200).contains(&d));
///     assert!(backoff_ms(30, 1000, 60_000) <= 72_000);
/// }
/// ```
pub fn backoff_ms(attempt: u32, first_ms: u64, max_ms: u64) -> u64 {
    let base = first_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(40))
        .min(max_ms);
    let spread = base / 5;
    if spread == 0 {
        return base;
    }
    base - spread + rand::random::<u64>() % (2 * spread + 1)
}
