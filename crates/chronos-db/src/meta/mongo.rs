//! MongoDB metadata store (the official `mongodb` driver), safe without transactions.
//!
//! **Two commit paths.** Where the deployment has multi-document transactions (a replica set
//! or a sharded cluster, detected once per connection with `hello`), and config
//! `transactions` allows them, a commit runs its head read, version row, previous-row update
//! and head write in one transaction (`MongoStore::commit_in_transaction`): all or nothing.
//! Everywhere else, and for purges, it runs the protocol below, which needs no transaction.
//! Rows of both paths look alike, so processes of either kind can share a database; a
//! transactional commit that meets a row the protocol left at its slot hands over to it.
//!
//! It must work on servers without multi-document transactions (a standalone `mongod`,
//! FerretDB). FerretDB 1.24 (SQLite handler) does not even make single-document conditional
//! writes atomic: `update_one` / `replace_one` / `delete_one` with a filter and
//! `findAndModify` `$inc` read the document and then write it by `_id`, so two concurrent
//! compare-and-sets can both "succeed" (measured: most races of 8-12 clients had several
//! winners; 240 concurrent `$inc` returned 34 distinct values). Its one atomic primitive is an
//! insert under a unique index, so the protocol's safety rests on unique inserts alone:
//!
//! * **Slots.** A version row is inserted at its `(id, ov)` slot (unique index). Whoever
//!   inserts the row at `head.ov + 1` owns the item's only possible next state: nobody else
//!   can move the head, so the head write that follows is uncontended (I2).
//! * **Commit point.** The head write (an insert for a create, a replace filtered on `ov` and
//!   `fence` for an update) makes the row visible (I1). Until then readers ignore the row: a
//!   row is committed iff its ov is at most its head's ov (a closed row, `next_cv` set, has a
//!   committed successor, so it is committed too).
//! * **Roll forward, never take over.** A row at `head.ov + 1` written against the current
//!   head (its `base` = the head's fence) whose writer stalled or died (written more than 60 s
//!   ago) is committed *on its writer's behalf* by whoever meets it (a writer whose insert
//!   collides with it, or a reader); its writer, if alive, finds its row in the head and
//!   reports success. Rows are only deleted when nobody can ever commit them (their `base`
//!   fence is gone, fences being random per commit), so no head points at a missing row.
//! * **cv.** Allocated by inserting `{_id: key(k)}`, k = top + 1, into `C_counter` (unique
//!   `_id`): unique and increasing in real time (I3). Slots are never deleted and each is
//!   taken right above one seen taken, so above the collection's *floor* (a document written
//!   once with the highest cv the data already held) the taken ones form the prefix
//!   `floor+1..=top`: each process remembers the last slot it took and finds the top again
//!   with point lookups (galloping, then bisection) when it meets a taken slot, never with a
//!   scan or a sort.
//! * **Purge claim.** A purge first inserts a claim row at `head.ov + 1` (so no writer can
//!   move the head meanwhile), then deletes the head, the rows and the claim. Whoever meets
//!   a stale claim completes the purge.
//! * **As-of windows.** Each row records when it was superseded (`next_cv`, `next_at`), so the
//!   state as of X is the plain `find` `cv|at <= X && (next == null || next > X)`: FerretDB has
//!   neither `$group` `$first`/`$max`/`$push` nor `$replaceRoot`. `next_*` is written after the
//!   commit and can be lost (a crash, or FerretDB's last-writer-wins updates), so every as-of
//!   page is checked against the heads before it is returned: rows above their head are
//!   dropped, rows below it that are still open are closed and the page is read again.
//!
//! Layout per collection `C` (the names chronos-db v2.2 used):
//! * `C_head`: one document per item, `_id` = item id, the fields of its latest version
//!   (`ov, cv, op, at, actor, reason, function_id, payload_key, size, sha256, meta, lineage,
//!   deleted, content_of, shadow`) plus `fence` (random per commit) and `row` (the `_id` of its
//!   version row). Indexes: `at`, `cv`, and one per indexed property on `meta.<path>` (scalar
//!   paths with `_id` as second key; array paths a plain multikey index).
//! * `C_ver`: one document per version: the same fields plus `id`, `base` (the fence of the
//!   head it was written against, `null` for a create), `written` (the inserting process's
//!   clock), `committed` (set only when someone else rolled the row forward; readers decide
//!   by the head), `next_cv` and `next_at`. Purge claims are rows with `purge: true`. Unique index
//!   `(id, ov)`, indexes `(id, at)`, `(id, cv)`, `(cv)`, `(at)`.
//! * `C_counter`: one `{_id: key(cv)}` per allocated cv, the cv as a 20-digit zero-padded
//!   string (string `_id`s are what FerretDB can look up without a scan). About 40 bytes per
//!   commit, next to a version row of several hundred; never pruned (see the rule above).
//!   Plus `{_id: "floor", v}`.
//!
//! `at` is stored as i64 microseconds (BSON dates only have milliseconds). Indexed properties
//! (`meta`) are stored as BSON with ints as Int64 and floats as Double, so they round-trip;
//! object keys MongoDB/FerretDB cannot store (`$` prefix, `.`, NUL) are escaped with a `_%`
//! prefix that no queryable property name can have.

use super::{CollectionSpec, Committed, Expect, MetaError, MetadataStore, QueryPage, VersionWrite};
use crate::model::{Head, Lineage, Op, Timestamp, VersionRecord};
use crate::query::{AsOf, CmpOp, Cursor, Field, Filter, IndexedPath, Query, Scalar};
use crate::redact::redact;
use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{self, doc, oid::ObjectId, Bson, Document};
use mongodb::error::{
    Error as DbError, ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// An uncommitted version row written longer ago than this (by its writer's clock) is rolled
/// forward by whoever meets it: its writer is presumed stalled or dead. Safety never depends
/// on it; only liveness.
const STALE_MICROS: i64 = 60_000_000;
/// Times an as-of query is re-read after repairing what it met.
const QUERY_ATTEMPTS: usize = 5;
/// Longest a group of cv requests waits for its slots.
const CV_ALLOCATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts of a transactional commit that meets write conflicts.
const TXN_ATTEMPTS: u32 = 8;
/// Consecutive taken counter slots met one by one before looking the top up again.
const CV_STEPS_BEFORE_SEARCH: usize = 2;
/// Prefix of a cursor value that is not a scalar (an object or array sort value), followed by
/// the hex of the BSON document `{v: value}`.
const CURSOR_BSON: &str = "\u{0}bson:";
/// Prefix of an escaped object key (see [`escape_key`]).
const KEY_ESCAPE: &str = "_%";
/// BSON type names in ascending sort order of the types JSON values can have
/// (null/missing < numbers < strings < objects < arrays < booleans).
const TYPE_ORDER: [&str; 6] = ["null", "number", "string", "object", "array", "bool"];
/// The fields a head copies from its version row.
const VERSION_KEYS: [&str; 15] = [
    "ov",
    "cv",
    "op",
    "at",
    "actor",
    "reason",
    "function_id",
    "payload_key",
    "size",
    "sha256",
    "meta",
    "lineage",
    "deleted",
    "content_of",
    "shadow",
];

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

/// A metadata store over one MongoDB database.
///
/// ```no_run
/// # async fn demo() -> Result<(), chronos_db::meta::MetaError> {
/// use chronos_db::meta::mongo::{connect, MongoStore};
/// use std::time::Duration;
/// let client = connect("mongodb://127.0.0.1:27017", Duration::from_secs(5)).await?;
/// let store = MongoStore::new(client, "app_db");
/// # let _ = store; Ok(()) }
/// ```
pub struct MongoStore {
    db: Database,
    transactions: TransactionPolicy,
    /// Per collection: this process's cv allocator.
    cv_allocators: std::sync::Mutex<HashMap<String, std::sync::Arc<CvAllocator>>>,
}

/// The `_id` of counter slot `k`: zero-padded, so string order is numeric order.
fn cv_key(k: i64) -> String {
    format!("{k:020}")
}

/// Hands out the cvs of one collection for this process (step 2 of a commit). Concurrent requests are
/// served in groups: one task takes, with a single ordered `insert_many`, as many slots above
/// the top as there are requests waiting, so this process's writers neither queue one round
/// trip each nor collide with each other. Every slot of a group is still taken right above a
/// slot seen taken, so the prefix rule (and I3) holds. A request whose caller went away
/// leaves its slot unused: a gap.
struct CvAllocator {
    counter: Collection<Document>,
    /// Read once per process for the floor (see [`CvAllocator::floor`]).
    head: Collection<Document>,
    ver: Collection<Document>,
    waiting: std::sync::Mutex<Vec<tokio::sync::oneshot::Sender<Result<i64, MetaError>>>>,
    /// The highest slot known taken (`None` until looked up); holding it is leading.
    top: std::sync::Arc<tokio::sync::Mutex<Option<i64>>>,
}

impl CvAllocator {
    fn new(c: &Colls) -> Self {
        CvAllocator {
            counter: c.counter.clone(),
            head: c.head.clone(),
            ver: c.ver.clone(),
            waiting: std::sync::Mutex::default(),
            top: std::sync::Arc::default(),
        }
    }

    async fn next(self: &std::sync::Arc<Self>) -> Result<i64, MetaError> {
        loop {
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.waiting
                .lock()
                .map_err(|_| MetaError::Backend("cv allocator state poisoned".into()))?
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
    fn lead_if_idle(self: &std::sync::Arc<Self>) {
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
    /// slots inserted before it are kept and the rest are tried above it.
    async fn take_slots(&self, top: &mut Option<i64>, n: usize) -> Result<Vec<i64>, MetaError> {
        let mut t = match *top {
            Some(t) => t,
            None => counter_top(&self.counter, self.floor().await?).await?,
        };
        let mut out = Vec::with_capacity(n);
        let mut taken_in_a_row = 0;
        for _ in 0..10_000 {
            let want = (n - out.len()) as i64;
            let slots = (1..=want).map(|i| doc! {"_id": cv_key(t + i)});
            let inserted = match self.counter.insert_many(slots).ordered(true).await {
                Ok(_) => want,
                Err(e) => match first_duplicate(&e) {
                    Some(index) => index as i64,
                    None => return Err(map_err(e)),
                },
            };
            out.extend(t + 1..=t + inserted);
            *top = Some(t + inserted);
            if out.len() == n {
                return Ok(out);
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

    /// The slot every search starts from: `{_id: "floor", v}` in `C_counter`, written once
    /// (unique `_id`, so every process agrees on it) with the highest cv the collection
    /// already holds in any form: committed heads and rows, and integer slots of an older
    /// counter layout. Slots above it form a prefix; below it they need not exist. If the
    /// counter collection is dropped, the floor is recomputed from the data, so cvs still
    /// never go back.
    async fn floor(&self) -> Result<i64, MetaError> {
        let read = || async {
            Ok::<_, MetaError>(
                self.counter
                    .find_one(doc! {"_id": "floor"})
                    .await
                    .map_err(map_err)?
                    .and_then(|d| get_int(&d, "v")),
            )
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
            Err(e) if is_dup(&e) => read()
                .await?
                .ok_or_else(|| MetaError::Corrupt("the cv floor vanished".into())),
            Err(e) => Err(map_err(e)),
        }
    }
}

/// For an ordered `insert_many` that stopped at a duplicate key: the index of that document
/// (= how many were inserted before it). `None` for any other failure.
fn first_duplicate(e: &DbError) -> Option<usize> {
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
async fn slot_taken(counter: &Collection<Document>, k: i64) -> Result<bool, MetaError> {
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
async fn counter_top(counter: &Collection<Document>, taken: i64) -> Result<i64, MetaError> {
    let (mut lo, mut step) = (taken, 1i64);
    let mut hi = loop {
        let probe = lo.saturating_add(step);
        if probe == lo {
            return Err(MetaError::Corrupt("the cv counter is exhausted".into()));
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

/// The three MongoDB collections of one chronos collection.
struct Colls {
    head: Collection<Document>,
    ver: Collection<Document>,
    counter: Collection<Document>,
}

impl MongoStore {
    /// One client per connection ref is created by the caller and shared; this wraps one
    /// database. Commits use transactions when the deployment supports them (detected on the
    /// first commit); see [`MongoStore::with_transactions`].
    pub fn new(client: Client, db_name: &str) -> Self {
        MongoStore {
            db: client.database(db_name),
            transactions: TransactionPolicy::WhenSupported(Topology::default()),
            cv_allocators: std::sync::Mutex::default(),
        }
    }

    /// Sets when commits run in a transaction (pass one [`Topology`] per connection, so
    /// detection runs once per connection).
    pub fn with_transactions(mut self, policy: TransactionPolicy) -> Self {
        self.transactions = policy;
        self
    }

    /// Whether this store's commits run in a transaction (detecting the topology once).
    async fn in_transactions(&self) -> Result<bool, MetaError> {
        match &self.transactions {
            TransactionPolicy::Never => Ok(false),
            TransactionPolicy::Always => Ok(true),
            TransactionPolicy::WhenSupported(topology) => {
                Ok(topology_of(topology, self.db.client()).await?.is_some())
            }
        }
    }

    fn colls(&self, coll: &str) -> Colls {
        Colls {
            head: self.db.collection(&format!("{coll}_head")),
            ver: self.db.collection(&format!("{coll}_ver")),
            counter: self.db.collection(&format!("{coll}_counter")),
        }
    }
}

/// Connects with bounded timeouts (server selection / connect = `timeout`), never logging or
/// returning the URI's credentials in errors. The client connects lazily: an unreachable
/// server shows up as [`MetaError::Unavailable`] on first use.
pub async fn connect(uri: &str, timeout: Duration) -> Result<Client, MetaError> {
    let mut opts = tokio::time::timeout(timeout, async { ClientOptions::parse(uri).await })
        .await
        .map_err(|_| {
            MetaError::Unavailable("timed out resolving the MongoDB connection string".into())
        })?
        .map_err(|e| match map_err(e) {
            MetaError::Backend(m) | MetaError::Invalid(m) => {
                MetaError::Invalid(format!("invalid MongoDB connection string: {m}"))
            }
            other => other,
        })?;
    opts.server_selection_timeout = Some(timeout);
    opts.connect_timeout = Some(timeout);
    if opts.app_name.is_none() {
        opts.app_name = Some("chronos-db".into());
    }
    Client::with_options(opts).map_err(map_err)
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

// ------------------------------------------------------------------------------ errors ---

/// Server error codes that mean "not reachable / not now" rather than "refused".
const UNAVAILABLE_CODES: &[i32] = &[
    6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

fn map_err(e: DbError) -> MetaError {
    let msg = redact(&e.to_string());
    let unavailable = match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. } => true,
        ErrorKind::Command(c) => UNAVAILABLE_CODES.contains(&c.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(c)) => UNAVAILABLE_CODES.contains(&c.code),
        _ => false,
    };
    if unavailable {
        return MetaError::Unavailable(format!("mongodb: {msg}"));
    }
    match e.kind.as_ref() {
        ErrorKind::InvalidArgument { .. } => MetaError::Invalid(format!("mongodb: {msg}")),
        _ => MetaError::Backend(format!("mongodb: {msg}")),
    }
}

/// A duplicate-key error (E11000).
fn is_dup(e: &DbError) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => e.to_string().contains("E11000"),
    }
}

fn corrupt(what: &str) -> MetaError {
    MetaError::Corrupt(what.to_string())
}

// ----------------------------------------------------------------------- conversions ---

fn clamp(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

fn now_micros() -> i64 {
    Timestamp::now().micros()
}

/// A random fence value, new for every head written.
fn new_fence() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn get_int(d: &Document, key: &str) -> Option<i64> {
    match d.get(key)? {
        Bson::Int64(x) => Some(*x),
        Bson::Int32(x) => Some(i64::from(*x)),
        Bson::Double(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
        _ => None,
    }
}

fn get_opt_str(d: &Document, key: &str) -> Result<Option<String>, ()> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        _ => Err(()),
    }
}

/// The ov of a head document.
fn head_ov(head: Option<&Document>) -> Option<i64> {
    head.and_then(|h| get_int(h, "ov"))
}

fn is_stale(row: &Document) -> bool {
    let written = get_int(row, "written")
        .or_else(|| get_int(row, "at"))
        .unwrap_or(i64::MAX);
    now_micros().saturating_sub(written) > STALE_MICROS
}

fn is_claim(row: &Document) -> bool {
    matches!(row.get("purge"), Some(Bson::Boolean(true)))
}

fn fence_of(head: &Document) -> Bson {
    head.get("fence").cloned().unwrap_or(Bson::Null)
}

fn to_u64(n: Option<i64>) -> Option<u64> {
    n.map(|n| n.max(0) as u64)
}

/// Does an object key need escaping? MongoDB/FerretDB reject `$`-prefixed keys, `.` and NUL;
/// keys that already start with the escape prefix are escaped too, so decoding is exact.
fn needs_escape(k: &str) -> bool {
    k.starts_with('$') || k.contains('.') || k.contains('\0') || k.starts_with(KEY_ESCAPE)
}

/// `_%` + the key with `%`, `.`, `$` and NUL percent-encoded. No filterable property name can
/// start with `_%` (declared paths are `[A-Za-z0-9_-]`, automatic ones never start with `_`),
/// so escaped keys never shadow a queryable one.
fn escape_key(k: &str) -> String {
    if !needs_escape(k) {
        return k.to_string();
    }
    let mut out = String::from(KEY_ESCAPE);
    for ch in k.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            '$' => out.push_str("%24"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
    out
}

fn unescape_key(k: &str) -> String {
    let Some(rest) = k.strip_prefix(KEY_ESCAPE) else {
        return k.to_string();
    };
    let mut parts = rest.split('%');
    let mut out = parts.next().unwrap_or_default().to_string();
    for p in parts {
        match (p.get(..2), p.get(2..)) {
            (Some(code), Some(tail)) => {
                match code {
                    "25" => out.push('%'),
                    "2E" => out.push('.'),
                    "24" => out.push('$'),
                    "00" => out.push('\0'),
                    other => {
                        out.push('%');
                        out.push_str(other);
                    }
                }
                out.push_str(tail);
            }
            _ => {
                out.push('%');
                out.push_str(p);
            }
        }
    }
    out
}

/// JSON → BSON: integers become Int64, other numbers Double (so both round-trip; integers
/// above i64::MAX become Double), object keys are escaped where needed.
fn json_to_bson(v: &Value) -> Bson {
    match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Bson::Int64(i),
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(a) => Bson::Array(a.iter().map(json_to_bson).collect()),
        Value::Object(m) => Bson::Document(json_object_to_doc(m)),
    }
}

fn json_object_to_doc(m: &serde_json::Map<String, Value>) -> Document {
    m.iter()
        .map(|(k, v)| (escape_key(k), json_to_bson(v)))
        .collect()
}

/// BSON → JSON (relaxed extended JSON for the leaves), unescaping object keys.
fn bson_to_json(b: Bson) -> Value {
    match b {
        Bson::Document(d) => Value::Object(
            d.into_iter()
                .map(|(k, v)| (unescape_key(&k), bson_to_json(v)))
                .collect(),
        ),
        Bson::Array(a) => Value::Array(a.into_iter().map(bson_to_json).collect()),
        other => other.into_relaxed_extjson(),
    }
}

/// The fields a version row and a head have in common.
fn version_fields(v: &VersionRecord, cv: i64, shadow: Option<&str>) -> Result<Document, MetaError> {
    let lineage = bson::to_bson(&v.lineage)
        .map_err(|e| MetaError::Invalid(format!("cannot encode the lineage: {e}")))?;
    Ok(doc! {
        "ov": clamp(v.ov),
        "cv": cv,
        "op": v.op.as_str(),
        "at": v.at.micros(),
        "actor": v.actor.clone(),
        "reason": v.reason.clone(),
        "function_id": v.function_id.clone(),
        "payload_key": v.payload_key.clone(),
        "size": clamp(v.size),
        "sha256": v.sha256.clone(),
        "meta": json_object_to_doc(&v.meta),
        "lineage": lineage,
        "deleted": v.deleted,
        "content_of": clamp(v.content_of),
        "shadow": shadow.map(str::to_string),
    })
}

/// Decodes a version row (`id_key` = "id") or a head (`id_key` = "_id").
fn decode_version(d: &Document, id_key: &str) -> Result<VersionRecord, MetaError> {
    let id = d
        .get_str(id_key)
        .map_err(|_| corrupt("a metadata document has no string id"))?
        .to_string();
    let ov = get_int(d, "ov").unwrap_or(-1);
    let bad = |what: &str| MetaError::Corrupt(format!("version {ov} of '{id}': bad {what}"));
    let int = |k: &str| -> Result<u64, MetaError> {
        get_int(d, k)
            .filter(|n| *n >= 0)
            .map(|n| n as u64)
            .ok_or_else(|| bad(k))
    };
    let meta = match d.get("meta") {
        Some(Bson::Document(m)) => match bson_to_json(Bson::Document(m.clone())) {
            Value::Object(o) => o,
            _ => return Err(bad("meta")),
        },
        None | Some(Bson::Null) => Default::default(),
        _ => return Err(bad("meta")),
    };
    let lineage = match d.get("lineage") {
        Some(l @ Bson::Document(_)) => {
            bson::from_bson::<Lineage>(l.clone()).map_err(|_| bad("lineage"))?
        }
        None | Some(Bson::Null) => Lineage::default(),
        _ => return Err(bad("lineage")),
    };
    Ok(VersionRecord {
        ov: int("ov")?,
        cv: int("cv")?,
        op: d
            .get_str("op")
            .ok()
            .and_then(Op::parse)
            .ok_or_else(|| bad("op"))?,
        at: Timestamp(get_int(d, "at").ok_or_else(|| bad("at"))?),
        actor: get_opt_str(d, "actor").map_err(|_| bad("actor"))?,
        reason: get_opt_str(d, "reason").map_err(|_| bad("reason"))?,
        function_id: get_opt_str(d, "function_id").map_err(|_| bad("function_id"))?,
        payload_key: d
            .get_str("payload_key")
            .map_err(|_| bad("payload_key"))?
            .to_string(),
        size: int("size")?,
        sha256: d.get_str("sha256").map_err(|_| bad("sha256"))?.to_string(),
        meta,
        lineage,
        deleted: d.get_bool("deleted").map_err(|_| bad("deleted"))?,
        content_of: int("content_of")?,
        id,
    })
}

fn decode_head(d: &Document, id_key: &str) -> Result<Head, MetaError> {
    let version = decode_version(d, id_key)?;
    let shadow = get_opt_str(d, "shadow").map_err(|_| {
        MetaError::Corrupt(format!(
            "version {} of '{}': bad shadow",
            version.ov, version.id
        ))
    })?;
    Ok(Head { version, shadow })
}

async fn collect(cursor: mongodb::Cursor<Document>) -> Result<Vec<Document>, MetaError> {
    cursor.try_collect().await.map_err(map_err)
}

// -------------------------------------------------------------------- commit protocol ---

/// What the head looked like to a commit attempt, and so how its compare-and-set reads.
#[derive(Debug, Clone, PartialEq)]
enum HeadState {
    /// No head: the commit inserts one (ov 0).
    Absent,
    /// A head at this ov with this fence: the commit replaces it if both still match.
    At(i64, Bson),
}

impl HeadState {
    fn of(head: Option<&Document>) -> HeadState {
        match head.and_then(|h| Some((get_int(h, "ov")?, fence_of(h)))) {
            Some((ov, fence)) => HeadState::At(ov, fence),
            None => HeadState::Absent,
        }
    }

    /// The `base` recorded on a row written against this head.
    fn fence(&self) -> Bson {
        match self {
            HeadState::Absent => Bson::Null,
            HeadState::At(_, f) => f.clone(),
        }
    }

    fn next_ov(&self) -> i64 {
        match self {
            HeadState::Absent => 0,
            HeadState::At(ov, _) => ov + 1,
        }
    }

    /// The refusal for a writer that lost a race in this state.
    fn lost(&self) -> MetaError {
        match self {
            HeadState::Absent => MetaError::AlreadyExists,
            HeadState::At(ov, _) => MetaError::Conflict {
                current_ov: to_u64(Some(*ov)),
            },
        }
    }
}

/// Why a transactional commit attempt stopped before `commitTransaction`.
enum TxnStep {
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
async fn commit_transaction(s: &mut mongodb::ClientSession) -> Result<(), DbError> {
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

/// The filter of version `ov - 1` of an item: its row `_id` when the head named it (a lookup
/// FerretDB answers without scanning the collection), else its `(id, ov)` slot.
fn previous_row(id: &str, ov: i64, prev_row: Option<&Bson>) -> Document {
    match prev_row {
        Some(row @ Bson::ObjectId(_)) => doc! {"_id": row.clone()},
        _ => doc! {"id": id, "ov": ov - 1},
    }
}

/// The filter of an item's version rows below `ov` (purge claims excluded).
fn rows_below(id: &str, ov: i64) -> Document {
    doc! {"id": id, "ov": {"$lt": ov}, "purge": {"$ne": true}}
}

/// Version rows decoded, in ov order.
fn versions_of(rows: &[Document]) -> Result<Vec<VersionRecord>, MetaError> {
    let mut out = rows
        .iter()
        .map(|r| decode_version(r, "id"))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|v| v.ov);
    Ok(out)
}

/// A new, uncommitted version row written against `state`, and its `_id`.
fn new_row(
    v: &VersionRecord,
    cv: i64,
    shadow: Option<&str>,
    state: &HeadState,
) -> Result<(ObjectId, Document), MetaError> {
    let row_id = ObjectId::new();
    let mut row = doc! {"_id": row_id, "id": v.id.as_str()};
    row.extend(version_fields(v, cv, shadow)?);
    row.extend(doc! {
        "base": state.fence(),
        "written": now_micros(),
        "committed": false,
        "next_cv": Bson::Null,
        "next_at": Bson::Null,
    });
    Ok((row_id, row))
}

/// Rule 1's check of a head read against `expect` (Absent → no head, else AlreadyExists;
/// Ov(n) → head.ov == n, else Conflict{current_ov}).
fn check_expected(expect: Expect, head: Option<&Document>) -> Result<HeadState, MetaError> {
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

/// The head document of a version row: its version fields, a fresh fence and the row's id.
fn head_of_row(row: &Document) -> Document {
    let mut head = Document::new();
    for k in VERSION_KEYS {
        if let Some(v) = row.get(k) {
            head.insert(k, v.clone());
        }
    }
    head.insert("fence", new_fence());
    head.insert("row", row.get("_id").cloned().unwrap_or(Bson::Null));
    head
}

impl MongoStore {
    async fn raw_head(&self, c: &Colls, id: &str) -> Result<Option<Document>, MetaError> {
        c.head.find_one(doc! {"_id": id}).await.map_err(map_err)
    }

    /// The refusal after the head turned out not to be as expected: `AlreadyExists` for a
    /// create, else `Conflict` with the current ov.
    async fn refusal(&self, c: &Colls, id: &str, state: &HeadState) -> MetaError {
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
    async fn read_expected(
        &self,
        c: &Colls,
        id: &str,
        expect: Expect,
    ) -> Result<(HeadState, Option<Bson>), MetaError> {
        let head = self.raw_head(c, id).await?;
        let state = check_expected(expect, head.as_ref())?;
        Ok((state, head.as_ref().and_then(|h| h.get("row")).cloned()))
    }

    async fn head_has_row(&self, c: &Colls, id: &str, row: &Bson) -> Result<bool, MetaError> {
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
    async fn cas_head(
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
    async fn roll_forward(
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
    async fn drop_row(&self, c: &Colls, row_id: &Bson) {
        if let Err(e) = c.ver.delete_one(doc! {"_id": row_id.clone()}).await {
            tracing::warn!(error = %map_err(e), "could not remove a dead version row");
        }
    }

    /// The purge claim of an item, if a purge is under way (or died).
    async fn claim_of(&self, c: &Colls, id: &str) -> Result<Option<Document>, MetaError> {
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
    async fn insert_row(
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
    async fn finish_commit(
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
    async fn close_previous(
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
    async fn drop_older(
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
        versions_of(&rows)
    }

    /// Rule 2: allocates a cv by inserting `{_id: key(top + 1)}` into `C_counter` (the unique
    /// `_id` makes it atomic even where `$inc` is not). Slots are taken only right above a
    /// slot seen taken and never deleted, so above the floor the taken slots are the prefix
    /// `floor+1..=top`, and a successful insert at `k` means nobody holds a slot above `k`
    /// yet (I3). See [`CvAllocator`].
    async fn next_cv(&self, coll: &str, c: &Colls) -> Result<i64, MetaError> {
        let allocator = {
            let mut all = self
                .cv_allocators
                .lock()
                .map_err(|_| MetaError::Backend("cv allocator state poisoned".into()))?;
            all.entry(coll.to_string())
                .or_insert_with(|| std::sync::Arc::new(CvAllocator::new(c)))
                .clone()
        };
        allocator.next().await
    }

    /// Finishes a purge whose claim row is `claim` (idempotent; the purging process and
    /// anyone meeting a stale claim run the same steps): delete the head if it is still the
    /// one the purge saw, the item's rows older than the purge's cv, then the claim.
    async fn complete_purge(&self, c: &Colls, id: &str, claim: &Document) -> Result<(), MetaError> {
        let ov = get_int(claim, "ov").unwrap_or(0) - 1;
        let cv = get_int(claim, "cv").unwrap_or(0);
        let base = claim.get("base").cloned().unwrap_or(Bson::Null);
        c.head
            .delete_one(doc! {"_id": id, "ov": ov, "fence": base})
            .await
            .map_err(map_err)?;
        c.ver
            .delete_many(doc! {"id": id, "cv": {"$lt": cv}, "purge": {"$ne": true}})
            .await
            .map_err(map_err)?;
        c.ver
            .delete_one(doc! {"_id": claim.get("_id").cloned().unwrap_or(Bson::Null)})
            .await
            .map_err(map_err)?;
        Ok(())
    }

    // --------------------------------------------------------------- as-of verification ---

    /// Checks the open rows (`next_*` unset) of an as-of page against the heads:
    /// * at the head's ov → the item's latest version, fine;
    /// * below it → committed but never closed (a lost `next_*`): close it from its
    ///   successor, and report that the page must be read again;
    /// * above it, or no head → not committed: left out of the page (returned in `hidden`).
    ///   On the way, a stale row at `head.ov + 1` written against the head is rolled forward,
    ///   a row there written against another head is deleted (nobody can commit it), and a
    ///   stale purge claim is completed; each of these also asks for a re-read.
    async fn verify_page(
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
        let ids: Vec<String> = open
            .iter()
            .filter_map(|d| d.get_str("id").ok().map(str::to_string))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let heads: HashMap<String, Document> = collect(
            c.head
                .find(doc! {"_id": {"$in": ids}})
                .projection(doc! {"ov": 1, "fence": 1})
                .await
                .map_err(map_err)?,
        )
        .await?
        .into_iter()
        .filter_map(|h| Some((h.get_str("_id").ok()?.to_string(), h)))
        .collect();
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
    async fn repair_above_head(
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

// --------------------------------------------------------------------------- queries ---

fn field_path(f: &Field, ver: bool) -> String {
    match f {
        Field::Id if ver => "id".into(),
        Field::Id => "_id".into(),
        Field::Ov => "ov".into(),
        Field::Cv => "cv".into(),
        Field::UpdatedAt => "at".into(),
        Field::Meta(p) => meta_path(p),
    }
}

fn meta_path(p: &IndexedPath) -> String {
    format!("meta.{}", p.dotted())
}

fn scalar_bson(s: &Scalar) -> Bson {
    match s {
        Scalar::Null => Bson::Null,
        Scalar::Bool(b) => Bson::Boolean(*b),
        Scalar::Int(i) => Bson::Int64(*i),
        Scalar::Float(f) => Bson::Double(*f),
        Scalar::Str(s) => Bson::String(s.clone()),
    }
}

/// A condition nothing matches (every document has an `_id`).
fn match_none() -> Document {
    doc! {"_id": {"$in": []}}
}

fn one(path: &str, op: &str, value: Bson) -> Document {
    let mut inner = Document::new();
    inner.insert(op, value);
    let mut d = Document::new();
    d.insert(path, inner);
    d
}

fn all_of(mut parts: Vec<Document>) -> Document {
    parts.retain(|p| !p.is_empty());
    match parts.len() {
        0 => Document::new(),
        1 => parts.pop().unwrap_or_default(),
        _ => doc! {"$and": parts},
    }
}

fn any_of(mut parts: Vec<Document>) -> Document {
    match parts.len() {
        0 => match_none(),
        1 => parts.pop().unwrap_or_default(),
        _ => doc! {"$or": parts},
    }
}

/// Compiles a validated filter to a MongoDB filter (`ver`: over version rows, where the item
/// id is `id` instead of `_id`).
fn compile(f: &Filter, ver: bool) -> Document {
    match f {
        Filter::All => Document::new(),
        Filter::And(parts) => all_of(parts.iter().map(|p| compile(p, ver)).collect()),
        Filter::Or(parts) => {
            let subs: Vec<Document> = parts.iter().map(|p| compile(p, ver)).collect();
            if subs.iter().any(Document::is_empty) {
                Document::new()
            } else {
                any_of(subs)
            }
        }
        Filter::Not(inner) => doc! {"$nor": [compile(inner, ver)]},
        Filter::Cmp { field, op, value } => {
            let op = match op {
                CmpOp::Eq => "$eq",
                CmpOp::Ne => "$ne",
                CmpOp::Gt => "$gt",
                CmpOp::Gte => "$gte",
                CmpOp::Lt => "$lt",
                CmpOp::Lte => "$lte",
            };
            let path = field_path(field, ver);
            if op == "$eq" && *value == Scalar::Null {
                let mut d = Document::new();
                d.insert(path, Bson::Null);
                return d;
            }
            one(&path, op, scalar_bson(value))
        }
        Filter::In { field, values } => one(
            &field_path(field, ver),
            "$in",
            Bson::Array(values.iter().map(scalar_bson).collect()),
        ),
        Filter::Exists { field, exists } => match field {
            Field::Meta(p) => one(&meta_path(p), "$exists", Bson::Boolean(*exists)),
            // System fields always exist.
            _ if *exists => Document::new(),
            _ => match_none(),
        },
        Filter::Regex { field, pattern } => {
            // Inline flags such as `(?i)` stay in the pattern: PCRE (MongoDB) and Go's regexp
            // (FerretDB) both understand them.
            one(
                &field_path(field, ver),
                "$regex",
                Bson::String(pattern.clone()),
            )
        }
    }
}

/// The position of a BSON value's type in MongoDB's ascending sort order (of the types JSON
/// values have): null/missing 0, numbers 1, strings 2, objects 3, arrays 4, booleans 5.
fn type_rank(b: &Bson) -> usize {
    match b {
        Bson::Null | Bson::Undefined | Bson::MinKey => 0,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 1,
        Bson::String(_) | Bson::Symbol(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        _ => 5,
    }
}

fn type_list(names: &[&str]) -> Bson {
    Bson::Array(names.iter().map(|n| Bson::String(n.to_string())).collect())
}

/// "Sorts strictly after `v`" for one sort key. MongoDB's comparison operators only match
/// values of the same type, so the types that sort after `v`'s type are added explicitly.
/// `None` when nothing can sort after it.
fn after(path: &str, v: &Bson, desc: bool) -> Option<Document> {
    let rank = type_rank(v);
    let mut ors = Vec::new();
    if !desc {
        if rank > 0 {
            ors.push(one(path, "$gt", v.clone()));
        }
        if rank + 1 < TYPE_ORDER.len() {
            ors.push(one(path, "$type", type_list(&TYPE_ORDER[rank + 1..])));
        }
    } else {
        if rank == 0 {
            return None;
        }
        ors.push(one(path, "$lt", v.clone()));
        if rank > 1 {
            ors.push(one(path, "$type", type_list(&TYPE_ORDER[1..rank])));
        }
        // null or missing sorts first.
        let mut null = Document::new();
        null.insert(path, Bson::Null);
        ors.push(null);
    }
    if ors.is_empty() {
        None
    } else {
        Some(any_of(ors))
    }
}

/// A cursor value as BSON (object and array sort values travel as marked hex BSON).
fn cursor_bson(s: &Scalar) -> Result<Bson, MetaError> {
    if let Scalar::Str(text) = s {
        if let Some(hexed) = text.strip_prefix(CURSOR_BSON) {
            let bad = || {
                MetaError::Invalid(
                    "invalid cursor: pass back the 'next' value of the previous page unchanged"
                        .into(),
                )
            };
            let bytes = hex::decode(hexed).map_err(|_| bad())?;
            let d = bson::from_slice::<Document>(&bytes).map_err(|_| bad())?;
            return d.get("v").cloned().ok_or_else(bad);
        }
    }
    Ok(scalar_bson(s))
}

/// A sort value of a result row as a cursor scalar (missing → Null).
fn cursor_scalar(b: Option<&Bson>) -> Scalar {
    match b {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Scalar::Null,
        Some(Bson::Boolean(x)) => Scalar::Bool(*x),
        Some(Bson::Int32(x)) => Scalar::Int(i64::from(*x)),
        Some(Bson::Int64(x)) => Scalar::Int(*x),
        Some(Bson::Double(x)) => Scalar::Float(*x),
        Some(Bson::String(s)) if !s.starts_with(CURSOR_BSON) => Scalar::Str(s.clone()),
        Some(other) => {
            let bytes = bson::to_vec(&doc! {"v": other.clone()}).unwrap_or_default();
            Scalar::Str(format!("{CURSOR_BSON}{}", hex::encode(bytes)))
        }
    }
}

/// The value at a dotted path of a document.
fn lookup<'a>(d: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut cur = d;
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        let v = cur.get(seg)?;
        if segs.peek().is_none() {
            return Some(v);
        }
        cur = v.as_document()?;
    }
    None
}

/// The keyset condition "strictly after the cursor", like the SQLite store's: for each i,
/// the first i sort values equal and the (i+1)-th after, and finally all equal and the id
/// after (in the direction of the last key).
fn keyset(
    sort: &[(String, bool)],
    id_path: &str,
    id_sorted: bool,
    cursor: &Cursor,
) -> Result<Document, MetaError> {
    if cursor.values.len() != sort.len() {
        return Err(MetaError::Invalid(
            "the cursor belongs to a query with a different sort".into(),
        ));
    }
    let values = cursor
        .values
        .iter()
        .map(cursor_bson)
        .collect::<Result<Vec<_>, _>>()?;
    let id_desc = sort.last().map(|s| s.1).unwrap_or(false);
    let mut ors = Vec::new();
    for i in 0..=sort.len() {
        let mut ands: Vec<Document> = (0..i)
            .map(|j| one(&sort[j].0, "$eq", values[j].clone()))
            .collect();
        if i < sort.len() {
            match after(&sort[i].0, &values[i], sort[i].1) {
                Some(d) => ands.push(d),
                None => continue,
            }
        } else {
            if id_sorted {
                continue;
            }
            let op = if id_desc { "$lt" } else { "$gt" };
            ands.push(one(id_path, op, Bson::String(cursor.id.clone())));
        }
        ors.push(all_of(ands));
    }
    Ok(any_of(ors))
}

// ------------------------------------------------------------------------ the trait ---

fn short_hash(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    hex::encode(&d[..4])
}

fn index(keys: Document, name: &str, unique: bool) -> IndexModel {
    let mut opts = IndexOptions::builder().name(name.to_string()).build();
    if unique {
        opts.unique = Some(true);
    }
    IndexModel::builder().keys(keys).options(opts).build()
}

fn as_of_bound(as_of: AsOf) -> (&'static str, &'static str, i64) {
    match as_of {
        AsOf::Time(t) => ("at", "next_at", t.micros()),
        AsOf::Cv(cv) => ("cv", "next_cv", clamp(cv)),
    }
}

impl MongoStore {
    /// The commit without transactions, in five steps (the "rules" its helpers name):
    ///
    /// 1. read the head and check the expectation;
    /// 2. allocate the cv;
    /// 3. insert the version row at its `(id, ov)` slot;
    /// 4. the head compare-and-set, the commit point;
    /// 5. close the previous version (or, versioning off, remove the older ones).
    async fn commit_by_protocol(
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
        let (state, prev_row) = match write.expect {
            Expect::Absent => (HeadState::Absent, None),
            Expect::Ov(_) => self.read_expected(&c, id, write.expect).await?,
        };

        // 2. Allocate the cv. Gaps are allowed (I3): a refused attempt burns its cv. Per item
        //    the cv is allocated after the previous version's commit, so it grows with ov.
        let cv = self.next_cv(coll, &c).await?;

        // 3. Insert the version row at its (id, ov) slot, `committed: false`: invisible to
        //    every reader until the head reaches its ov. Holding the slot makes this attempt
        //    the only possible next state of the item (see `insert_row` for collisions).
        let (row_id, row) = new_row(v, cv, write.shadow.as_deref(), &state)?;
        self.insert_row(&c, id, &row, &state).await?;

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
                let ours = c
                    .ver
                    .find_one(doc! {"_id": row_id})
                    .await
                    .map_err(map_err)?;
                if ours.as_ref().and_then(|r| r.get_bool("committed").ok()) != Some(true) {
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
    async fn commit_in_transaction(
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
            let cv = self.next_cv(coll, &c).await?;
            if let Err(e) = session.start_transaction().await {
                return Err(self.transaction_failure(e).await);
            }
            let error = match self
                .commit_steps(&c, write, cv, &mut attempts, &mut session)
                .await
            {
                Ok(done) => match commit_transaction(&mut session).await {
                    Ok(()) => return Ok(done),
                    Err(e) => e,
                },
                Err(step) => {
                    // Best effort: the server aborts a failed transaction by itself.
                    let _ = session.abort_transaction().await;
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
    async fn transaction_failure(&self, e: DbError) -> MetaError {
        let forced = matches!(self.transactions, TransactionPolicy::Always);
        if forced && matches!(detect_transactions(self.db.client()).await, Ok(None)) {
            return MetaError::Backend(format!(
                "mongodb: {} (this server has no multi-document transactions, and config \
                 `transactions.autoDetect` is false, so every commit needs one: set autoDetect \
                 to true, or enabled to false)",
                redact(&e.to_string())
            ));
        }
        map_err(e)
    }

    /// The writes of one transactional commit, all on `session` (see
    /// [`MongoStore::commit_in_transaction`]). Without a transaction started on the session
    /// they run one by one: the tests use that to check them on servers without transactions.
    async fn commit_steps(
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
        let (row_id, row) =
            new_row(v, cv, write.shadow.as_deref(), &state).map_err(TxnStep::Refused)?;
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

#[async_trait]
impl MetadataStore for MongoStore {
    /// `<coll>_locks`, one document per leased item: `{_id: itemId, owner, expiresAt}`.
    /// Taking a free lease is a unique-index insert (atomic even on FerretDB). Taking over an
    /// expired one deletes it and inserts again; on servers whose filtered deletes are not
    /// atomic (FerretDB) two takers can both believe they won — leases only order writers,
    /// the head compare-and-set still decides every commit, so that costs a conflict, never
    /// a lost update.
    async fn acquire_lease(
        &self,
        coll: &str,
        id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, MetaError> {
        let locks = self.db.collection::<Document>(&format!("{coll}_locks"));
        let now = now_micros();
        let expires = now.saturating_add(lease.as_micros().min(i64::MAX as u128) as i64);
        for _ in 0..2 {
            match locks
                .insert_one(doc! {"_id": id, "owner": owner, "expiresAt": expires})
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if is_dup(&e) => {}
                Err(e) => return Err(map_err(e)),
            }
            let Some(held) = locks.find_one(doc! {"_id": id}).await.map_err(map_err)? else {
                continue;
            };
            let held_owner = held.get_str("owner").unwrap_or_default().to_string();
            let held_until = held.get_i64("expiresAt").unwrap_or(i64::MAX);
            if held_owner == owner {
                locks
                    .update_one(
                        doc! {"_id": id, "owner": owner},
                        doc! {"$set": {"expiresAt": expires}},
                    )
                    .await
                    .map_err(map_err)?;
                return Ok(true);
            }
            if held_until >= now {
                return Ok(false);
            }
            locks
                .delete_one(doc! {"_id": id, "owner": &held_owner, "expiresAt": held_until})
                .await
                .map_err(map_err)?;
        }
        Ok(false)
    }

    async fn release_lease(&self, coll: &str, id: &str, owner: &str) -> Result<(), MetaError> {
        let locks = self.db.collection::<Document>(&format!("{coll}_locks"));
        locks
            .delete_one(doc! {"_id": id, "owner": owner})
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn payload_keys(&self, coll: &str, id: &str) -> Result<Vec<String>, MetaError> {
        let c = self.colls(coll);
        let rows = collect(
            c.ver
                .find(doc! {"id": id})
                .projection(doc! {"payload_key": 1})
                .await
                .map_err(map_err)?,
        )
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get_str("payload_key").ok().map(str::to_string))
            .collect())
    }

    async fn ping(&self) -> Result<(), MetaError> {
        self.db
            .run_command(doc! {"ping": 1})
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn ensure_collection(&self, coll: &CollectionSpec) -> Result<(), MetaError> {
        let c = self.colls(&coll.name);
        // One index per createIndexes call: FerretDB 1.24 drops the connection (a server-side
        // panic) when one call names several indexes that all exist already.
        for model in [
            index(doc! {"id": 1, "ov": 1}, "id_ov", true),
            index(doc! {"id": 1, "at": 1}, "id_at", false),
            index(doc! {"id": 1, "cv": 1}, "id_cv", false),
            index(doc! {"cv": 1}, "cv", false),
            index(doc! {"at": 1}, "at", false),
        ] {
            c.ver.create_index(model).await.map_err(map_err)?;
        }
        let mut head = vec![
            index(doc! {"at": 1}, "at", false),
            index(doc! {"cv": 1}, "cv", false),
        ];
        for p in &coll.index.paths {
            let dotted = p.dotted();
            let stem: String = dotted
                .chars()
                .take(40)
                .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
                .collect();
            let mut keys = Document::new();
            keys.insert(meta_path(p), 1i32);
            let name = if p.array {
                format!("ma_{stem}_{}", short_hash(&dotted))
            } else {
                keys.insert("_id", 1i32);
                format!("m_{stem}_{}", short_hash(&dotted))
            };
            head.push(index(keys, &name, false));
        }
        for model in head {
            c.head.create_index(model).await.map_err(map_err)?;
        }
        Ok(())
    }

    async fn get_head(&self, coll: &str, id: &str) -> Result<Option<Head>, MetaError> {
        let c = self.colls(coll);
        self.raw_head(&c, id)
            .await?
            .map(|d| decode_head(&d, "_id"))
            .transpose()
    }

    async fn commit(&self, coll: &str, write: VersionWrite) -> Result<Committed, MetaError> {
        let v = &write.version;
        let id = v.id.as_str();
        match (write.expect, v.ov) {
            (Expect::Absent, 0) => {}
            (Expect::Ov(n), o) if n.checked_add(1) == Some(o) => {}
            _ => {
                return Err(MetaError::Invalid(format!(
                    "version {} of '{id}' does not follow the expected head",
                    v.ov
                )))
            }
        }

        if self.in_transactions().await? {
            return self.commit_in_transaction(coll, &write).await;
        }
        self.commit_by_protocol(coll, write).await
    }

    /// A purge claims the item's next slot first (a row `{purge: true}` at `head.ov + 1`), so
    /// no writer can move the head while it runs; then it deletes the head, the item's rows
    /// older than its cv and the claim. Whoever meets a stale claim completes the purge.
    /// (Purges use this protocol with or without transactions.)
    async fn purge_item(
        &self,
        coll: &str,
        id: &str,
        expected_ov: u64,
    ) -> Result<(u64, Vec<VersionRecord>), MetaError> {
        let c = self.colls(coll);
        let (state, _) = self.read_expected(&c, id, Expect::Ov(expected_ov)).await?;
        let cv = self.next_cv(coll, &c).await?;
        let now = now_micros();
        let claim = doc! {
            "_id": ObjectId::new(),
            "id": id,
            "ov": state.next_ov(),
            "cv": cv,
            "at": now,
            "purge": true,
            "base": state.fence(),
            "written": now,
            "next_cv": Bson::Null,
            "next_at": Bson::Null,
        };
        self.insert_row(&c, id, &claim, &state).await?;
        let rows = collect(
            c.ver
                .find(doc! {"id": id, "cv": {"$lt": cv}, "purge": {"$ne": true}})
                .projection(doc! {"shadow": 0})
                .await
                .map_err(map_err)?,
        )
        .await?;
        self.complete_purge(&c, id, &claim).await?;
        let mut removed = versions_of(&rows)?;
        // Rows above the head (writers that lost to the purge) are not versions of the item.
        removed.retain(|v| v.ov <= expected_ov);
        Ok((cv as u64, removed))
    }

    async fn get_version(&self, coll: &str, id: &str, ov: u64) -> Result<Option<Head>, MetaError> {
        let c = self.colls(coll);
        // Only rows at or below the head's ov are committed.
        let Some(head_ov) = head_ov(self.raw_head(&c, id).await?.as_ref()) else {
            return Ok(None);
        };
        if clamp(ov) > head_ov {
            return Ok(None);
        }
        c.ver
            .find_one(doc! {"id": id, "ov": clamp(ov)})
            .await
            .map_err(map_err)?
            .map(|d| decode_head(&d, "id"))
            .transpose()
    }

    async fn version_as_of(
        &self,
        coll: &str,
        id: &str,
        as_of: AsOf,
    ) -> Result<Option<Head>, MetaError> {
        let c = self.colls(coll);
        let Some(head_ov) = head_ov(self.raw_head(&c, id).await?.as_ref()) else {
            return Ok(None);
        };
        let (filter, sort) = match as_of {
            AsOf::Time(t) => (
                doc! {"id": id, "ov": {"$lte": head_ov}, "at": {"$lte": t.micros()}},
                doc! {"at": -1, "ov": -1},
            ),
            AsOf::Cv(cv) => (
                doc! {"id": id, "ov": {"$lte": head_ov}, "cv": {"$lte": clamp(cv)}},
                doc! {"cv": -1},
            ),
        };
        c.ver
            .find_one(filter)
            .sort(sort)
            .await
            .map_err(map_err)?
            .map(|d| decode_head(&d, "id"))
            .transpose()
    }

    async fn history(
        &self,
        coll: &str,
        id: &str,
        before_ov: Option<u64>,
        limit: usize,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let c = self.colls(coll);
        let Some(head_ov) = head_ov(self.raw_head(&c, id).await?.as_ref()) else {
            return Ok(Vec::new());
        };
        let before = before_ov.map(clamp).unwrap_or(i64::MAX);
        let rows = collect(
            c.ver
                .find(doc! {"id": id, "ov": {"$lt": before, "$lte": head_ov}})
                .sort(doc! {"ov": -1})
                .limit(limit.min(i64::MAX as usize) as i64)
                .projection(doc! {"shadow": 0})
                .await
                .map_err(map_err)?,
        )
        .await?;
        rows.iter().map(|r| decode_version(r, "id")).collect()
    }

    async fn query(&self, coll: &CollectionSpec, query: &Query) -> Result<QueryPage, MetaError> {
        let c = self.colls(&coll.name);
        let ver = query.as_of.is_some();
        let id_path = if ver { "id" } else { "_id" };
        let sort: Vec<(String, bool)> = query
            .sort
            .iter()
            .map(|k| (field_path(&k.field, ver), k.descending))
            .collect();
        let id_sorted = query.sort.iter().any(|k| k.field == Field::Id);
        let id_desc = sort.last().map(|s| s.1).unwrap_or(false);

        let mut conds = Vec::new();
        let mut next_field = "next_cv";
        if let Some(as_of) = query.as_of {
            // The state as of X: per item, the version with `cv|at <= X` that was not yet
            // superseded at X (checked against the heads below).
            let (field, next, x) = as_of_bound(as_of);
            next_field = next;
            conds.push(one(field, "$lte", Bson::Int64(x)));
            let mut open = Document::new();
            open.insert(next, Bson::Null);
            conds.push(any_of(vec![open, one(next, "$gt", Bson::Int64(x))]));
            conds.push(doc! {"purge": {"$ne": true}});
        }
        if !query.include_deleted {
            conds.push(doc! {"deleted": false});
        }
        conds.push(compile(&query.filter, ver));
        if let Some(cursor) = &query.after {
            conds.push(keyset(&sort, id_path, id_sorted, cursor)?);
        }
        let mut sort_doc = Document::new();
        for (p, desc) in &sort {
            sort_doc.insert(p, if *desc { -1i32 } else { 1i32 });
        }
        if !id_sorted {
            sort_doc.insert(id_path, if id_desc { -1i32 } else { 1i32 });
        }
        let limit = query.limit.min(i64::MAX as usize - 1) as i64 + 1;
        let target = if ver { &c.ver } else { &c.head };

        let mut hidden: HashSet<ObjectId> = HashSet::new();
        let mut docs = Vec::new();
        for attempt in 1..=QUERY_ATTEMPTS {
            let mut all = conds.clone();
            if !hidden.is_empty() {
                let ids: Vec<Bson> = hidden.iter().map(|o| Bson::ObjectId(*o)).collect();
                all.push(doc! {"_id": {"$nin": ids}});
            }
            docs = collect(
                target
                    .find(all_of(all))
                    .sort(sort_doc.clone())
                    .limit(limit)
                    .await
                    .map_err(map_err)?,
            )
            .await?;
            if !ver {
                break;
            }
            let (reread, newly_hidden) = self.verify_page(&c, &docs, next_field).await?;
            hidden.extend(newly_hidden);
            let fetched = docs.len();
            docs.retain(|d| {
                d.get_object_id("_id")
                    .map(|o| !hidden.contains(&o))
                    .unwrap_or(true)
            });
            // Re-read after a repair, or when hidden rows shortened a full page.
            let shortened = fetched as i64 == limit && docs.len() < fetched;
            if !(reread || shortened) || attempt == QUERY_ATTEMPTS {
                break;
            }
        }

        let next = if docs.len() > query.limit {
            docs.truncate(query.limit);
            docs.last().map(|d| Cursor {
                values: sort
                    .iter()
                    .map(|(p, _)| cursor_scalar(lookup(d, p)))
                    .collect(),
                id: d.get_str(id_path).unwrap_or_default().to_string(),
            })
        } else {
            None
        };
        let rows = docs
            .iter()
            .map(|d| decode_head(d, id_path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(QueryPage { rows, next })
    }

    async fn scan_heads(
        &self,
        coll: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Head>, MetaError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let c = self.colls(coll);
        let filter = match after_id {
            Some(after) => doc! {"_id": {"$gt": after}},
            None => doc! {},
        };
        let docs = collect(
            c.head
                .find(filter)
                .sort(doc! {"_id": 1})
                .limit(limit.min(i64::MAX as usize) as i64)
                .await
                .map_err(map_err)?,
        )
        .await?;
        docs.iter().map(|d| decode_head(d, "_id")).collect()
    }

    async fn count_heads(&self, coll: &str, after_id: Option<&str>) -> Result<u64, MetaError> {
        let c = self.colls(coll);
        let filter = match after_id {
            Some(after) => doc! {"_id": {"$gt": after}},
            None => doc! {},
        };
        c.head.count_documents(filter).await.map_err(map_err)
    }

    /// The highest committed cv with `at <= T`: the newest rows first, each checked like the
    /// rows of an as-of page (closed → committed; open → committed iff at or below its head).
    async fn cv_as_of(&self, coll: &str, at: Timestamp) -> Result<u64, MetaError> {
        let c = self.colls(coll);
        let mut below = i64::MAX;
        loop {
            let rows = collect(
                c.ver
                    .find(doc! {"at": {"$lte": at.micros()}, "cv": {"$lt": below}, "purge": {"$ne": true}})
                    .sort(doc! {"cv": -1})
                    .limit(32)
                    .projection(doc! {"id": 1, "ov": 1, "cv": 1, "next_cv": 1})
                    .await
                    .map_err(map_err)?,
            )
            .await?;
            let Some(last) = rows.last() else {
                return Ok(0);
            };
            below = get_int(last, "cv").unwrap_or(0);
            let ids: Vec<String> = rows
                .iter()
                .filter_map(|r| r.get_str("id").ok().map(str::to_string))
                .collect();
            let heads: HashMap<String, i64> = collect(
                c.head
                    .find(doc! {"_id": {"$in": ids}})
                    .projection(doc! {"ov": 1})
                    .await
                    .map_err(map_err)?,
            )
            .await?
            .into_iter()
            .filter_map(|h| Some((h.get_str("_id").ok()?.to_string(), get_int(&h, "ov")?)))
            .collect();
            for r in &rows {
                let closed = !matches!(r.get("next_cv"), None | Some(Bson::Null));
                let at_or_below_head = match (r.get_str("id"), get_int(r, "ov")) {
                    (Ok(id), Some(ov)) => heads.get(id).is_some_and(|h| *h >= ov),
                    _ => false,
                };
                if closed || at_or_below_head {
                    return Ok(get_int(r, "cv").unwrap_or(0).max(0) as u64);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Run against `CHRONOS_TEST_MONGO_URI` (default `mongodb://127.0.0.1:27017`, e.g. the
    //! FerretDB of `scripts/test-servers.sh`); each test prints "skipped: ..." and passes when
    //! no server answers. Every test uses its own database and drops it at the end.
    use super::*;
    use crate::query::{parse_sort, IndexSpec};
    use serde_json::json;

    struct Env {
        store: MongoStore,
        client: Client,
        db: String,
    }

    impl Env {
        async fn drop(self) {
            let _ = self.client.database(&self.db).drop().await;
        }
    }

    /// Skips (prints why and returns `None`) when no server answers, except under CI
    /// (`CI=true`), where a missing server fails the test.
    fn unavailable(why: String) -> Option<Env> {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("a MongoDB server is required in CI: {why}");
        }
        println!("skipped: {why}");
        None
    }

    async fn env(name: &str) -> Option<Env> {
        let uri = std::env::var("CHRONOS_TEST_MONGO_URI")
            .unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
        let client = match connect(&uri, Duration::from_secs(3)).await {
            Ok(c) => c,
            Err(e) => return unavailable(e.to_string()),
        };
        if let Err(e) = client.database("admin").run_command(doc! {"ping": 1}).await {
            return unavailable(format!("no MongoDB at {} ({})", redact(&uri), map_err(e)));
        }
        let db = format!("chronos_t_{name}_{:08x}", rand::random::<u32>());
        Some(Env {
            store: MongoStore::new(client.clone(), &db),
            client,
            db,
        })
    }

    /// Drops the test database when the case ends.
    struct DropDatabase(Client, String);

    impl Drop for DropDatabase {
        fn drop(&mut self) {
            let db = self.0.database(&self.1);
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    let _ = db.drop().await;
                })
            });
        }
    }

    mod contract {
        use super::*;
        crate::meta::contract::contract_tests!(async {
            let e = env("contract").await?;
            let store: std::sync::Arc<dyn MetadataStore> = std::sync::Arc::new(e.store);
            Some((store, DropDatabase(e.client, e.db)))
        });
    }

    use crate::meta::contract::{put, record, write};

    fn spec(name: &str, paths: &[&str]) -> CollectionSpec {
        CollectionSpec {
            name: name.into(),
            index: IndexSpec {
                paths: paths.iter().map(|p| IndexedPath::parse(p)).collect(),
                excluded: vec![],
            },
        }
    }

    fn query(
        spec: &CollectionSpec,
        filter: Value,
        sort: Value,
        limit: usize,
        as_of: Option<AsOf>,
    ) -> Query {
        Query {
            filter: Filter::parse(&filter, &spec.index).unwrap(),
            sort: parse_sort(&sort, &spec.index).unwrap(),
            limit,
            after: None,
            as_of,
            include_deleted: false,
        }
    }

    fn ids(page: &QueryPage) -> Vec<String> {
        page.rows.iter().map(|h| h.version.id.clone()).collect()
    }

    fn now() -> i64 {
        Timestamp::now().micros()
    }

    /// Losing commits leave no version row behind (not even an invisible one).
    #[tokio::test]
    async fn losing_commits_leave_no_rows() {
        let Some(e) = env("losers").await else { return };
        let s = &e.store;
        s.ensure_collection(&spec("items", &[])).await.unwrap();
        put(s, "items", "a", &[json!({}), json!({})], 100).await;
        let lost = s
            .commit("items", write(record("a", 1, json!({}), 201), true))
            .await;
        assert_eq!(
            lost,
            Err(MetaError::Conflict {
                current_ov: Some(1)
            })
        );
        let missing = s
            .commit("items", write(record("zz", 3, json!({}), 1), true))
            .await;
        assert_eq!(missing, Err(MetaError::Conflict { current_ov: None }));
        let rows = e
            .client
            .database(&e.db)
            .collection::<Document>("items_ver")
            .count_documents(doc! {})
            .await
            .unwrap();
        assert_eq!(rows, 2);
        e.drop().await;
    }

    /// Sort values that are objects travel in cursors as BSON (hex), so pages after them
    /// compare exactly.
    #[tokio::test]
    async fn object_sort_values_travel_in_cursors() {
        let Some(e) = env("objcursor").await else {
            return;
        };
        let s = &e.store;
        let sp = spec("q", &["v"]);
        s.ensure_collection(&sp).await.unwrap();
        for (id, v) in [
            ("a", json!(1)),
            ("b", json!({"o": 1})),
            ("c", json!({"o": 2})),
        ] {
            put(s, "q", id, &[json!({ "v": v })], 10).await;
        }
        let q = query(&sp, json!({}), json!({"v": 1}), 2, None);
        let page = s.query(&sp, &q).await.unwrap();
        let next = page.next.unwrap();
        assert!(matches!(&next.values[0], Scalar::Str(t) if t.starts_with(CURSOR_BSON)));
        let mut q2 = q;
        q2.after = Some(next);
        assert_eq!(ids(&s.query(&sp, &q2).await.unwrap()), ["c"]);
        e.drop().await;
    }

    /// A commit whose bookkeeping (rule 5) was lost leaves the previous version open; the
    /// as-of page check closes it, so each state shows exactly one version of the item.
    #[tokio::test]
    async fn lost_bookkeeping_is_repaired_by_readers() {
        let Some(e) = env("asofrepair").await else {
            return;
        };
        let s = &e.store;
        let sp = spec("h", &["state"]);
        s.ensure_collection(&sp).await.unwrap();
        let q = |filter: Value, as_of: AsOf| query(&sp, filter, json!({}), 50, Some(as_of));
        let spr = &sp;
        let run = |q: Query| async move { ids(&s.query(spr, &q).await.unwrap()) };
        let cv = put(s, "h", "d", &[json!({"state": "new"})], 5_000).await[0];
        let d1 = s
            .commit(
                "h",
                write(record("d", 1, json!({"state": "old"}), 5_001), true),
            )
            .await
            .unwrap()
            .cv;
        let ver = e.client.database(&e.db).collection::<Document>("h_ver");
        ver.update_one(
            doc! {"id": "d", "ov": 0},
            doc! {"$set": {"next_cv": null, "next_at": null}},
        )
        .await
        .unwrap();
        assert_eq!(run(q(json!({"state": "old"}), AsOf::Cv(d1))).await, ["d"]);
        assert!(run(q(json!({"state": "new"}), AsOf::Cv(d1)))
            .await
            .iter()
            .all(|i| i != "d"));
        assert_eq!(run(q(json!({"state": "new"}), AsOf::Cv(cv))).await, ["d"]);
        let row = ver
            .find_one(doc! {"id": "d", "ov": 0})
            .await
            .unwrap()
            .unwrap();
        assert_eq!(get_int(&row, "next_cv"), Some(d1 as i64));
        assert_eq!(s.cv_as_of("h", Timestamp(5_001)).await.unwrap(), d1);
        e.drop().await;
    }

    #[test]
    fn redaction_and_key_escaping() {
        let m = redact("connection to mongodb://alice:s3cr%40t@db.example:27017/?authSource=admin&password=x failed");
        assert!(
            !m.contains("alice") && !m.contains("s3cr") && !m.contains("=x"),
            "{m}"
        );
        for k in ["a", "a.b", "$x", "_%y", "%", "a\0b", "", "_x", "ü.$%"] {
            assert_eq!(unescape_key(&escape_key(k)), k);
            let e = escape_key(k);
            assert!(
                !e.starts_with('$') && !e.contains('.') && !e.contains('\0'),
                "{e}"
            );
        }
        let v = json!({"i": 1, "f": 1.0, "big": u64::MAX, "neg": -5, "s": "x", "n": null,
                       "o": {"a.b": [1, 2.5, {"$c": true}]}});
        let back = bson_to_json(json_to_bson(&v));
        assert_eq!(back["i"], json!(1));
        assert!(back["i"].is_i64() && back["f"].is_f64() && back["neg"].is_i64());
        assert_eq!(back["o"], v["o"]);
        assert_eq!(back["s"], v["s"]);
    }

    /// A row left by a writer that stalled or died before its head CAS (hand-made here).
    fn leftover(id: &str, ov: u64, base: Bson, written: i64) -> Document {
        let cv = 7_000 + ov as i64 + if id == "z" { 1_000 } else { 0 };
        let mut d = version_fields(&record(id, ov, json!({"left": true}), 5), cv, None).unwrap();
        d.insert("_id", ObjectId::new());
        d.insert("id", id);
        d.insert("base", base);
        d.insert("written", written);
        d.insert("committed", false);
        d.insert("next_cv", Bson::Null);
        d.insert("next_at", Bson::Null);
        d
    }

    /// A row whose writer stalled or died blocks nobody for long: it is committed on its
    /// writer's behalf; rows nobody can commit any more are removed.
    #[tokio::test]
    async fn stalled_rows_are_rolled_forward() {
        let Some(e) = env("stale").await else { return };
        let s = &e.store;
        let sp = spec("s", &[]);
        s.ensure_collection(&sp).await.unwrap();
        put(s, "s", "a", &[json!({})], 1).await;
        let ver = e.client.database(&e.db).collection::<Document>("s_ver");
        let heads = e.client.database(&e.db).collection::<Document>("s_head");
        let fence = |id: &'static str| {
            let heads = heads.clone();
            async move { fence_of(&heads.find_one(doc! {"_id": id}).await.unwrap().unwrap()) }
        };
        let old = now() - 120_000_000;

        // A fresh row at head.ov + 1: a writer in flight, so this one is refused.
        ver.insert_one(leftover("a", 1, fence("a").await, now()))
            .await
            .unwrap();
        let r = s
            .commit("s", write(record("a", 1, json!({}), 10), true))
            .await;
        assert_eq!(
            r,
            Err(MetaError::Conflict {
                current_ov: Some(0)
            })
        );
        assert_eq!(s.get_head("s", "a").await.unwrap().unwrap().version.ov, 0);
        // Once stale it is rolled forward: the head moves to it and the late writer is told
        // the item moved on.
        ver.update_one(doc! {"id": "a", "ov": 1}, doc! {"$set": {"written": old}})
            .await
            .unwrap();
        let r = s
            .commit("s", write(record("a", 1, json!({}), 10), true))
            .await;
        assert_eq!(
            r,
            Err(MetaError::Conflict {
                current_ov: Some(1)
            })
        );
        let h = s.get_head("s", "a").await.unwrap().unwrap();
        assert_eq!((h.version.ov, h.version.cv), (1, 7_001));
        assert_eq!(h.version.meta.get("left"), Some(&json!(true)));
        let v0 = ver
            .find_one(doc! {"id": "a", "ov": 0})
            .await
            .unwrap()
            .unwrap();
        assert_eq!(get_int(&v0, "next_cv"), Some(7_001));
        s.commit("s", write(record("a", 2, json!({}), 11), true))
            .await
            .unwrap();

        // A row written against a head that is gone (another fence) can never be committed:
        // it is removed and the writer takes the slot.
        ver.insert_one(leftover("a", 3, Bson::String("gone".into()), now()))
            .await
            .unwrap();
        let c3 = s
            .commit("s", write(record("a", 3, json!({"mine": 3}), 12), true))
            .await
            .unwrap();
        assert_eq!(
            s.get_version("s", "a", 3)
                .await
                .unwrap()
                .unwrap()
                .version
                .cv,
            c3.cv
        );

        // A create meeting a stale row at ov 0 and no head: rolled forward, id taken.
        ver.insert_one(leftover("z", 0, Bson::Null, old))
            .await
            .unwrap();
        let r = s
            .commit("s", write(record("z", 0, json!({}), 10), true))
            .await;
        assert_eq!(r, Err(MetaError::AlreadyExists));
        assert_eq!(
            s.get_head("s", "z").await.unwrap().unwrap().version.cv,
            8_000
        );

        // A reader meeting a stale row at head.ov + 1 rolls it forward too.
        ver.insert_one(leftover("z", 1, fence("z").await, old))
            .await
            .unwrap();
        let q = query(&sp, json!({}), json!({}), 10, Some(AsOf::Cv(u64::MAX)));
        let page = s.query(&sp, &q).await.unwrap();
        assert_eq!(ids(&page), ["a", "z"]);
        assert_eq!(page.rows[1].version.ov, 1);
        assert_eq!(s.get_head("s", "z").await.unwrap().unwrap().version.ov, 1);

        // A purge that died after its claim: a writer completes it.
        let claim = doc! {"_id": ObjectId::new(), "id": "z", "ov": 2i64, "cv": 9_000i64,
        "at": old, "purge": true, "base": fence("z").await, "written": old,
        "next_cv": null, "next_at": null};
        ver.insert_one(claim).await.unwrap();
        let r = s
            .commit("s", write(record("z", 2, json!({}), 10), true))
            .await;
        assert_eq!(r, Err(MetaError::Conflict { current_ov: None }));
        assert!(s.get_head("s", "z").await.unwrap().is_none());
        assert_eq!(ver.count_documents(doc! {"id": "z"}).await.unwrap(), 0);
        s.commit("s", write(record("z", 0, json!({}), 10), true))
            .await
            .unwrap();
        e.drop().await;
    }

    /// A row above the head's ov is invisible to every reader, even when flagged committed.
    #[tokio::test]
    async fn rows_above_the_head_are_invisible() {
        let Some(e) = env("inflight").await else {
            return;
        };
        let s = &e.store;
        let sp = spec("i", &["k"]);
        s.ensure_collection(&sp).await.unwrap();
        let cv0 = put(s, "i", "a", &[json!({"k": "v0"})], 100).await[0];
        let ver = e.client.database(&e.db).collection::<Document>("i_ver");
        let head = e.client.database(&e.db).collection::<Document>("i_head");
        let fence = fence_of(&head.find_one(doc! {"_id": "a"}).await.unwrap().unwrap());
        let mut row = leftover("a", 1, fence, now());
        row.insert("meta", doc! {"k": "v1"});
        row.insert("cv", 999i64);
        ver.insert_one(row).await.unwrap();
        for flagged in [false, true] {
            ver.update_one(
                doc! {"id": "a", "ov": 1},
                doc! {"$set": {"committed": flagged}},
            )
            .await
            .unwrap();
            assert!(s.get_version("i", "a", 1).await.unwrap().is_none());
            let h: Vec<u64> = s
                .history("i", "a", None, 10)
                .await
                .unwrap()
                .iter()
                .map(|v| v.ov)
                .collect();
            assert_eq!(h, [0]);
            let v = s
                .version_as_of("i", "a", AsOf::Cv(1_000))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(v.version.ov, 0);
            let v = s
                .version_as_of("i", "a", AsOf::Time(Timestamp(i64::MAX)))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(v.version.ov, 0);
            assert_eq!(s.cv_as_of("i", Timestamp(i64::MAX)).await.unwrap(), cv0);
            let q = query(&sp, json!({}), json!({}), 10, Some(AsOf::Cv(1_000)));
            let page = s.query(&sp, &q).await.unwrap();
            assert_eq!(page.rows.len(), 1);
            assert_eq!(page.rows[0].version.ov, 0);
            let q = query(
                &sp,
                json!({"k": "v1"}),
                json!({}),
                10,
                Some(AsOf::Time(Timestamp(i64::MAX))),
            );
            assert!(s.query(&sp, &q).await.unwrap().rows.is_empty());
            // A page of one: the hidden row is skipped, not counted.
            let q = query(&sp, json!({}), json!({"_id": -1}), 1, Some(AsOf::Cv(1_000)));
            let page = s.query(&sp, &q).await.unwrap();
            assert_eq!((ids(&page), page.next), (vec!["a".to_string()], None));
            assert_eq!(s.get_head("i", "a").await.unwrap().unwrap().version.ov, 0);
        }
        // The fresh row is a writer in flight: readers left it alone.
        assert_eq!(ver.count_documents(doc! {"id": "a"}).await.unwrap(), 2);
        e.drop().await;
    }

    /// The steps of a transactional commit, run on a session without a transaction (the test
    /// server has none): the same observable results as the protocol — contiguous ov, the
    /// expectation checks, the previous version closed for as-of reads, older rows removed
    /// with versioning off — and nothing written by a refused step.
    #[tokio::test]
    async fn transaction_steps_commit_like_the_protocol() {
        let Some(e) = env("txnsteps").await else {
            return;
        };
        let s = &e.store;
        s.ensure_collection(&spec("t", &["n"])).await.unwrap();
        let c = s.colls("t");
        let mut session = e.client.start_session().await.unwrap();
        let t0 = now();
        async fn step(
            s: &MongoStore,
            session: &mut mongodb::ClientSession,
            v: VersionRecord,
            keep_history: bool,
        ) -> Result<Committed, TxnStep> {
            let c = s.colls("t");
            let cv = s.next_cv("t", &c).await.unwrap();
            s.commit_steps(&c, &write(v, keep_history), cv, &mut Vec::new(), session)
                .await
        }
        let created = step(s, &mut session, record("a", 0, json!({"n": 0}), t0), true)
            .await
            .ok()
            .unwrap();
        assert!(matches!(
            step(s, &mut session, record("a", 0, json!({"n": 9}), t0), true).await,
            Err(TxnStep::Refused(MetaError::AlreadyExists))
        ));
        let updated = step(
            s,
            &mut session,
            record("a", 1, json!({"n": 1}), t0 + 10),
            true,
        )
        .await
        .ok()
        .unwrap();
        assert!(updated.cv > created.cv);
        assert!(matches!(
            step(
                s,
                &mut session,
                record("a", 1, json!({"n": 9}), t0 + 20),
                true
            )
            .await,
            Err(TxnStep::Refused(MetaError::Conflict {
                current_ov: Some(1)
            }))
        ));
        let head = s.get_head("t", "a").await.unwrap().unwrap();
        assert_eq!(head.version.ov, 1);
        assert_eq!(Value::Object(head.version.meta.clone()), json!({"n": 1}));
        // Version 0 was closed by version 1: the as-of reads of both sides of t0 + 10.
        let at = |t| s.version_as_of("t", "a", AsOf::Time(Timestamp(t)));
        assert_eq!(at(t0 + 5).await.unwrap().unwrap().version.ov, 0);
        assert_eq!(at(t0 + 10).await.unwrap().unwrap().version.ov, 1);
        let closed = c
            .ver
            .find_one(doc! {"id": "a", "ov": 0})
            .await
            .unwrap()
            .unwrap();
        assert_eq!(get_int(&closed, "next_cv"), Some(updated.cv as i64));
        // The refused attempts left no rows: ov 0 and 1 only.
        assert_eq!(c.ver.count_documents(doc! {"id": "a"}).await.unwrap(), 2);
        // An attempt whose commit went through although its caller saw an error: the next
        // attempt of the same commit finds its row in the head and reports that success.
        let c = s.colls("t");
        let mut attempts = Vec::new();
        let w = write(record("r", 0, json!({"n": 0}), t0), true);
        let cv = s.next_cv("t", &c).await.unwrap();
        let first = s
            .commit_steps(&c, &w, cv, &mut attempts, &mut session)
            .await
            .ok()
            .unwrap();
        let cv2 = s.next_cv("t", &c).await.unwrap();
        let again = s
            .commit_steps(&c, &w, cv2, &mut attempts, &mut session)
            .await
            .ok()
            .unwrap();
        assert_eq!(again.cv, first.cv);
        assert_eq!(c.ver.count_documents(doc! {"id": "r"}).await.unwrap(), 1);
        // Versioning off: the commit removes and returns the older versions.
        let dropped = step(
            s,
            &mut session,
            record("a", 2, json!({"n": 2}), t0 + 30),
            false,
        )
        .await
        .ok()
        .unwrap();
        assert_eq!(
            dropped.dropped.iter().map(|v| v.ov).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(c.ver.count_documents(doc! {"id": "a"}).await.unwrap(), 1);
        assert_eq!(s.get_head("t", "a").await.unwrap().unwrap().version.ov, 2);
        e.drop().await;
    }

    /// `transactions: {enabled: true, autoDetect: false}` on a server without transactions:
    /// every commit fails with an error that names the setting, and writes nothing. With
    /// detection, the same server is found standalone and commits go through the protocol.
    #[tokio::test]
    async fn transaction_policy_on_a_standalone_server() {
        let Some(e) = env("txnpolicy").await else {
            return;
        };
        let forced =
            MongoStore::new(e.client.clone(), &e.db).with_transactions(TransactionPolicy::Always);
        forced.ensure_collection(&spec("p", &[])).await.unwrap();
        let err = forced
            .commit("p", write(record("a", 0, json!({}), now()), true))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, MetaError::Backend(m) if m.contains("`transactions.autoDetect` is false")),
            "{err:?}"
        );
        assert!(forced.get_head("p", "a").await.unwrap().is_none());
        let c = forced.colls("p");
        assert_eq!(c.ver.count_documents(doc! {}).await.unwrap(), 0);

        let topology = Topology::default();
        let detecting = MongoStore::new(e.client.clone(), &e.db)
            .with_transactions(TransactionPolicy::WhenSupported(topology.clone()));
        detecting
            .commit("p", write(record("a", 0, json!({}), now()), true))
            .await
            .unwrap();
        assert_eq!(topology.get(), Some(&None), "FerretDB is standalone");
        assert_eq!(
            detecting
                .get_head("p", "a")
                .await
                .unwrap()
                .unwrap()
                .version
                .ov,
            0
        );
        e.drop().await;
    }

    /// cv allocation across independent stores (as in separate processes, each remembering
    /// its own top): every cv is handed out once, each store's cvs grow, a store that fell far
    /// behind still allocates above everything allocated before, and a new store finds the
    /// top from nothing with lookups.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cv_allocation_across_processes() {
        let Some(e) = env("cvalloc").await else {
            return;
        };
        let stores: Vec<_> = (0..4)
            .map(|_| std::sync::Arc::new(MongoStore::new(e.client.clone(), &e.db)))
            .collect();
        let first = stores[3].next_cv("k", &stores[3].colls("k")).await.unwrap();
        let mut tasks = Vec::new();
        // Three stores with four concurrent writers each (so allocations are grouped too).
        for s in stores
            .iter()
            .take(3)
            .flat_map(|s| std::iter::repeat_n(s, 4))
        {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let c = s.colls("k");
                let mut cvs = Vec::new();
                for _ in 0..15 {
                    cvs.push(s.next_cv("k", &c).await.unwrap());
                }
                cvs
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            let cvs = t.await.unwrap();
            assert!(cvs.windows(2).all(|w| w[0] < w[1]), "{cvs:?}");
            all.extend(cvs);
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a cv was handed out twice");
        assert!(first < all[0]);
        let behind = stores[3].next_cv("k", &stores[3].colls("k")).await.unwrap();
        assert!(behind > all[n - 1], "{behind} <= {}", all[n - 1]);
        let c = stores[0].colls("k");
        assert_eq!(counter_top(&c.counter, 0).await.unwrap(), behind);
        let fresh = MongoStore::new(e.client.clone(), &e.db);
        assert_eq!(fresh.next_cv("k", &c).await.unwrap(), behind + 1);
        e.drop().await;
    }

    /// cvs never go back: not over a counter of the older layout (integer slots), nor after
    /// the counter collection is dropped (the floor is recomputed from the versions).
    #[tokio::test]
    async fn cvs_stay_above_existing_data() {
        let Some(e) = env("cvfloor").await else {
            return;
        };
        let c = e.store.colls("f");
        c.counter
            .insert_many((1..=41i64).map(|k| doc! {"_id": k}))
            .await
            .unwrap();
        let s = MongoStore::new(e.client.clone(), &e.db);
        s.ensure_collection(&spec("f", &[])).await.unwrap();
        let cvs = put(&s, "f", "a", &[json!({}), json!({})], now()).await;
        assert!(cvs[0] > 41, "{cvs:?}");
        c.counter.drop().await.unwrap();
        let fresh = MongoStore::new(e.client.clone(), &e.db);
        let v = record("a", 2, json!({}), now());
        let next = fresh.commit("f", write(v, true)).await.unwrap().cv;
        assert!(next > cvs[1], "{next} after {cvs:?}");
        e.drop().await;
    }

    #[tokio::test]
    async fn connect_errors_hide_credentials() {
        for uri in [
            "mongodb://alice:hunter2@127.0.0.1:notaport",
            "mongodb://alice:hunter2@",
            "nosuchscheme://alice:hunter2@host",
        ] {
            let err = connect(uri, Duration::from_secs(1)).await.unwrap_err();
            let text = err.to_string();
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn keyset_brackets_types() {
        let sort = vec![("meta.v".to_string(), false)];
        let c = Cursor {
            values: vec![Scalar::Int(3)],
            id: "k".into(),
        };
        let d = keyset(&sort, "_id", false, &c).unwrap();
        let text = format!("{d}");
        assert!(
            text.contains("$gt") && text.contains("\"string\"") && text.contains("\"bool\""),
            "{text}"
        );
        let desc = vec![("meta.v".to_string(), true)];
        let c = Cursor {
            values: vec![Scalar::Null],
            id: "k".into(),
        };
        let d = keyset(&desc, "_id", false, &c).unwrap();
        assert!(format!("{d}").contains("$lt"), "{d}");
        assert!(keyset(
            &desc,
            "_id",
            false,
            &Cursor {
                values: vec![],
                id: "k".into()
            }
        )
        .is_err());
    }
}
