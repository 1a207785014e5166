//! cv allocation: counter slots taken by unique inserts, in groups per process.

use super::*;

/// The `_id` of counter slot `k`: zero-padded, so string order is numeric order.
pub(super) fn cv_key(k: i64) -> String {
    format!("{k:020}")
}

/// Prefix of the `_id` of a moved floor (`floor@` + [`cv_key`]). ASCII `:` follows the digits,
/// so `floor@` .. `floor@:` bounds them all.
const MOVED_FLOOR: &str = "floor@";
const MOVED_FLOOR_END: &str = "floor@:";

/// How long cv allocation and compaction trust what they know of the floors.
#[derive(Debug, Clone, Copy)]
pub(super) struct CvTiming {
    /// An allocator trusts a floor it read for this long: a slot it inserted before then
    /// is above every range compacted by then (see [`MongoStore::compact_counter`]).
    pub(super) floor_trust: Duration,
    /// Slots at or below a floor are deleted once the floor is this old (by the
    /// compacting process's clock): far above `floor_trust`, so clock skew between
    /// processes of up to their difference is harmless.
    pub(super) compaction_grace_micros: i64,
}

impl Default for CvTiming {
    fn default() -> Self {
        CvTiming {
            floor_trust: CV_FLOOR_TRUST,
            compaction_grace_micros: CV_COMPACTION_GRACE_MICROS,
        }
    }
}

/// Hands out the cvs of one collection for this process (step 2 of a commit). Concurrent requests are
/// served in groups: one task takes, with a single ordered `insert_many`, as many slots above
/// the top as there are requests waiting, so this process's writers neither queue one round
/// trip each nor collide with each other. Every slot of a group is still taken right above a
/// slot seen taken, so the prefix rule (and I3) holds. A request whose caller went away
/// leaves its slot unused: a gap.
pub(super) struct CvAllocator {
    counter: Collection<Document>,
    /// Read once per process for the floor (see [`CvAllocator::floor`]).
    head: Collection<Document>,
    ver: Collection<Document>,
    waiting: std::sync::Mutex<Vec<tokio::sync::oneshot::Sender<Result<i64, MetaError>>>>,
    /// The highest slot known taken (`None` until looked up); holding it is leading.
    top: std::sync::Arc<tokio::sync::Mutex<Option<i64>>>,
    /// The highest floor seen, and when the read that found it was issued (by the
    /// monotonic clock, and by the wall clock, which also runs while the host sleeps).
    floor_seen: std::sync::Mutex<Option<(i64, std::time::Instant, std::time::SystemTime)>>,
    floor_trust: Duration,
}

impl CvAllocator {
    pub(super) fn new(c: &Colls, timing: CvTiming) -> Self {
        CvAllocator {
            counter: c.counter.clone(),
            head: c.head.clone(),
            ver: c.ver.clone(),
            waiting: std::sync::Mutex::default(),
            top: std::sync::Arc::default(),
            floor_seen: std::sync::Mutex::default(),
            floor_trust: timing.floor_trust,
        }
    }

    pub(super) async fn next(self: &std::sync::Arc<Self>) -> Result<i64, MetaError> {
        loop {
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.waiting
                .lock()
                .map_err(|_| MetaError::Backend(BackendError::new("cv allocator state poisoned")))?
                .push(tx);
            self.lead_if_idle();
            match rx.await {
                Ok(result) => return result,
                // The leading task was torn down (runtime shutdown) before serving us.
                Err(_) => continue,
            }
        }
    }

    /// Starts a leading task unless one runs. Each leader looks at the queue again after
    /// stepping down, so a request queued while it stepped down is never stranded.
    pub(super) fn lead_if_idle(self: &std::sync::Arc<Self>) {
        let Ok(top) = self.top.clone().try_lock_owned() else {
            return;
        };
        let this = self.clone();
        // A task of its own: a caller that gives up must not take the group down with it.
        tokio::spawn(async move {
            let mut top = top;
            loop {
                let group = match this.waiting.lock() {
                    Ok(mut w) => std::mem::take(&mut *w),
                    Err(_) => Vec::new(),
                };
                if group.is_empty() {
                    break;
                }
                // Bounded: a hung server must not hold every writer of the collection.
                let taken = tokio::time::timeout(
                    CV_ALLOCATION_TIMEOUT,
                    this.take_slots(&mut top, group.len()),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(MetaError::Unavailable(
                        "timed out allocating a collection version".into(),
                    ))
                });
                match taken {
                    Ok(cvs) => {
                        for (tx, cv) in group.into_iter().zip(cvs) {
                            let _ = tx.send(Ok(cv));
                        }
                    }
                    Err(e) => {
                        for tx in group {
                            let _ = tx.send(Err(e.clone()));
                        }
                    }
                }
            }
            drop(top);
            if this.waiting.lock().is_ok_and(|w| !w.is_empty()) {
                this.lead_if_idle();
            }
        });
    }

    /// Takes `n` slots right above the top, in order. On a taken slot (another process), the
    /// slots inserted before it are kept and the rest are tried above it. A slot inserted at
    /// or below the floor (found free because compaction deleted it: this process's top was
    /// older than the compaction) was handed out before, so it is never used; the top is
    /// then looked up again from the floor.
    pub(super) async fn take_slots(
        &self,
        top: &mut Option<i64>,
        n: usize,
    ) -> Result<Vec<i64>, MetaError> {
        let mut t = match *top {
            Some(t) => t,
            None => counter_top(&self.counter, self.trusted_floor().await?).await?,
        };
        let mut out = Vec::with_capacity(n);
        let mut taken_in_a_row = 0;
        for _ in 0..10_000 {
            let want = (n - out.len()) as i64;
            // Each slot records when it was taken: a change feed waits for a slot without a
            // row only while it is young (`feed.rs`).
            let taken_at = now_micros();
            let slots = (1..=want).map(|i| doc! {"_id": cv_key(t + i), "t": taken_at});
            let inserted = match self.counter.insert_many(slots).ordered(true).await {
                Ok(_) => want,
                Err(e) => match first_duplicate(&e) {
                    Some(index) => index as i64,
                    None => return Err(map_err(e)),
                },
            };
            if inserted > 0 {
                // Checked after the insert: a floor raised before it is seen (or trusted).
                let floor = self.trusted_floor().await?;
                if t + inserted <= floor {
                    t = counter_top(&self.counter, floor).await?;
                    *top = Some(t);
                    taken_in_a_row = 0;
                    continue;
                }
                out.extend((t + 1).max(floor + 1)..=t + inserted);
            }
            *top = Some(t + inserted);
            if out.len() == n {
                return Ok(out);
            }
            if inserted == want {
                // Some slots lay at or below the floor; the rest are taken above them.
                t += inserted;
                continue;
            }
            // Slot t + inserted + 1 is taken (by another process, or by this insert's own
            // retry after a lost reply: it is then burnt, which gaps allow).
            let taken = t + inserted + 1;
            taken_in_a_row = if inserted == 0 { taken_in_a_row + 1 } else { 1 };
            t = if taken_in_a_row <= CV_STEPS_BEFORE_SEARCH {
                taken
            } else {
                counter_top(&self.counter, taken).await?
            };
            *top = Some(t);
        }
        Err(MetaError::Unavailable(
            "could not allocate a cv (too much contention)".into(),
        ))
    }

    /// The floor, read again once the last read is older than `floor_trust`.
    async fn trusted_floor(&self) -> Result<i64, MetaError> {
        if let Ok(seen) = self.floor_seen.lock() {
            if let Some((floor, read_at, read_at_wall)) = *seen {
                // A suspended host stops the monotonic clock: both must be within the trust.
                let wall_ok = read_at_wall
                    .elapsed()
                    .is_ok_and(|elapsed| elapsed < self.floor_trust);
                if read_at.elapsed() < self.floor_trust && wall_ok {
                    return Ok(floor);
                }
            }
        }
        let issued = (std::time::Instant::now(), std::time::SystemTime::now());
        let floor = self.floor().await?;
        if let Ok(mut seen) = self.floor_seen.lock() {
            *seen = Some((floor, issued.0, issued.1));
        }
        Ok(floor)
    }

    /// The slot every search starts from: the highest of `{_id: "floor", v}` in `C_counter`,
    /// written once (unique `_id`, so every process agrees on it) with the highest cv the
    /// collection already holds in any form (committed heads and rows, and integer slots of
    /// an older counter layout), and the moved floors `{_id: "floor@<key>", v, at}` that
    /// compaction inserts. Slots above it form a prefix; below it they need not exist. If
    /// the counter collection is dropped, the floor is recomputed from the data, so cvs
    /// still never go back.
    pub(super) async fn floor(&self) -> Result<i64, MetaError> {
        let read = || async {
            let first = self
                .counter
                .find_one(doc! {"_id": "floor"})
                .await
                .map_err(map_err)?
                .and_then(|d| get_int(&d, "v"));
            let moved = self
                .counter
                .find_one(doc! {"_id": {"$gt": MOVED_FLOOR, "$lt": MOVED_FLOOR_END}})
                .sort(doc! {"_id": -1})
                .await
                .map_err(map_err)?
                .and_then(|d| get_int(&d, "v"));
            Ok::<_, MetaError>(first.max(moved))
        };
        if let Some(v) = read().await? {
            return Ok(v);
        }
        let highest = |coll: &Collection<Document>, filter: Document, field: &'static str| {
            let coll = coll.clone();
            async move {
                Ok::<_, MetaError>(
                    coll.find_one(filter)
                        .sort(doc! {field: -1})
                        .projection(doc! {field: 1})
                        .await
                        .map_err(map_err)?
                        .and_then(|d| get_int(&d, field))
                        .unwrap_or(0),
                )
            }
        };
        let v = highest(&self.ver, doc! {}, "cv")
            .await?
            .max(highest(&self.head, doc! {}, "cv").await?)
            .max(highest(&self.counter, doc! {"_id": {"$type": "number"}}, "_id").await?);
        match self.counter.insert_one(doc! {"_id": "floor", "v": v}).await {
            Ok(_) => Ok(v),
            Err(e) if is_dup(&e) => read().await?.ok_or_else(|| {
                MetaError::Backend(BackendError::new(
                    "the cv floor was removed while it was read",
                ))
            }),
            Err(e) => Err(map_err(e)),
        }
    }
}

/// For an ordered `insert_many` that stopped at a duplicate key: the index of that document
/// (= how many were inserted before it). `None` for any other failure.
pub(super) fn first_duplicate(e: &DbError) -> Option<usize> {
    match e.kind.as_ref() {
        ErrorKind::InsertMany(m) if m.write_concern_error.is_none() => {
            let first = m.write_errors.as_ref()?.iter().min_by_key(|w| w.index)?;
            (first.code == 11000).then_some(first.index)
        }
        _ if is_dup(e) => Some(0),
        _ => None,
    }
}

/// Whether counter slot `k` is taken (a lookup by `_id`).
pub(super) async fn slot_taken(counter: &Collection<Document>, k: i64) -> Result<bool, MetaError> {
    Ok(counter
        .find_one(doc! {"_id": cv_key(k)})
        .projection(doc! {"_id": 1})
        .await
        .map_err(map_err)?
        .is_some())
}

/// The highest taken counter slot, given `taken`, a slot known to be taken (0 stands for
/// "none"): gallops up to a free slot, then bisects. Taken slots form a prefix, so about
/// 2·log2(distance) lookups, each by `_id`.
pub(super) async fn counter_top(
    counter: &Collection<Document>,
    taken: i64,
) -> Result<i64, MetaError> {
    let (mut lo, mut step) = (taken, 1i64);
    let mut hi = loop {
        let probe = lo.saturating_add(step);
        if probe == lo {
            return Err(MetaError::Backend(BackendError::new(
                "the cv counter is exhausted",
            )));
        }
        if !slot_taken(counter, probe).await? {
            break probe;
        }
        lo = probe;
        step = step.saturating_mul(2);
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if slot_taken(counter, mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

impl MongoStore {
    /// Rule 2: allocates a cv by inserting `{_id: key(top + 1)}` into `C_counter` (the unique
    /// `_id` makes it atomic even where `$inc` is not). Slots are taken only right above a
    /// slot seen taken and never deleted, so above the floor the taken slots are the prefix
    /// `floor+1..=top`, and a successful insert at `k` means nobody holds a slot above `k`
    /// yet (I3). See [`CvAllocator`].
    pub(super) async fn next_cv(&self, coll: &str, c: &Colls) -> Result<i64, MetaError> {
        let allocator = {
            let mut all = self.cv_allocators.lock().map_err(|_| {
                MetaError::Backend(BackendError::new("cv allocator state poisoned"))
            })?;
            all.entry(coll.to_string())
                .or_insert_with(|| std::sync::Arc::new(CvAllocator::new(c, self.cv_timing)))
                .clone()
        };
        allocator.next().await
    }

    /// Bounds `C_counter`: deletes the slots at or below the newest moved floor that is at
    /// least `compaction_grace` old, then moves the floor to today's top (whose slots go in a
    /// run at least that much later). Returns the slots deleted.
    ///
    /// Why concurrent writers stay safe: a moved floor is at most the top when it is
    /// inserted, so every slot below it is taken then. A writer whose top is older than a
    /// compaction may find such a slot deleted and insert it again; it checks, after every
    /// insert, that the slots are above the floor, re-reading the floor whenever its last
    /// read is older than `floor_trust`. A floor it has not seen was inserted after its last
    /// read, so its slots are deleted at least `compaction_grace` later: after the writer's
    /// trust ran out, so its check then sees that floor and drops the slot. The floor's time
    /// is taken just before its insert, and compared with the clock of a later run: the
    /// clocks of the processes must agree within `compaction_grace - floor_trust`.
    ///
    /// Every process writing to the collection must run a release that checks its slots
    /// (this one or later) before compaction runs. A collection nobody wrote to is left
    /// untouched (nothing is created).
    pub(super) async fn compact_counter(&self, coll: &str) -> Result<u64, MetaError> {
        let c = self.colls(coll);
        let cutoff = Timestamp::now()
            .micros()
            .saturating_sub(self.cv_timing.compaction_grace_micros);
        let due = c
            .counter
            .find_one(doc! {
                "_id": {"$gt": MOVED_FLOOR, "$lt": MOVED_FLOOR_END},
                "at": {"$lte": cutoff},
            })
            .sort(doc! {"_id": -1})
            .await
            .map_err(map_err)?
            .and_then(|d| get_int(&d, "v"));
        let mut removed = 0;
        if let Some(due) = due {
            for filter in [
                doc! {"_id": {"$gte": cv_key(0), "$lte": cv_key(due)}},
                // Integer slots of the older counter layout.
                doc! {"_id": {"$type": "number", "$lte": due}},
            ] {
                removed += c
                    .counter
                    .delete_many(filter)
                    .await
                    .map_err(map_err)?
                    .deleted_count;
            }
            // Floors below this one are never the highest again.
            let below = format!("{MOVED_FLOOR}{}", cv_key(due));
            c.counter
                .delete_many(doc! {"_id": {"$gt": MOVED_FLOOR, "$lt": below}})
                .await
                .map_err(map_err)?;
        }
        let any = c
            .counter
            .find_one(doc! {})
            .projection(doc! {"_id": 1})
            .await
            .map_err(map_err)?;
        if any.is_none() {
            return Ok(removed);
        }
        let floor = CvAllocator::new(&c, self.cv_timing).floor().await?;
        let top = counter_top(&c.counter, floor).await?;
        if top > floor {
            let moved = doc! {
                "_id": format!("{MOVED_FLOOR}{}", cv_key(top)),
                "v": top,
                // Taken now, not when the run began: a run's deletions can take minutes, and
                // the grace counts from when writers can first see this floor.
                "at": Timestamp::now().micros(),
            };
            match c.counter.insert_one(moved).await {
                Ok(_) => {}
                // Another compaction moved it to the same top.
                Err(e) if is_dup(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
        }
        Ok(removed)
    }
}
