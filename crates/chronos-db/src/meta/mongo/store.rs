//! [`MetadataStore`] for [`MongoStore`]: each trait call in terms of the protocol, the
//! transactional path, the cv allocator and the query compiler.

use super::*;
use crate::meta::RequestState;

pub(super) fn short_hash(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    hex::encode(&d[..4])
}

pub(super) fn index(keys: Document, name: &str, unique: bool) -> IndexModel {
    let mut opts = IndexOptions::builder().name(name.to_string()).build();
    if unique {
        opts.unique = Some(true);
    }
    IndexModel::builder().keys(keys).options(opts).build()
}

#[async_trait]
impl LeaseStore for MongoStore {
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
}

#[async_trait]
impl MetadataStore for MongoStore {
    async fn compact(&self) -> Result<Option<crate::meta::Compaction>, MetaError> {
        // The server manages its storage (and compacts it with its own tools).
        Ok(None)
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

    async fn health(&self) -> Result<Option<String>, MetaError> {
        self.ping().await?;
        let support = detect_transactions(self.db.client()).await?;
        match (support, &self.transactions) {
            (Some(kind), _) => Ok(Some(format!(
                "ok ({kind}: multi-document transactions available)"
            ))),
            (None, TransactionPolicy::Always) => Err(MetaError::Invalid(
                "standalone server (no multi-document transactions), but \
                 `transactions.autoDetect` is false, so every commit would need one: set \
                 autoDetect to true or enabled to false"
                    .into(),
            )),
            (None, _) => Ok(Some(
                "ok (standalone: no multi-document transactions)".into(),
            )),
        }
    }

    async fn ensure_collection(&self, coll: &CollectionSpec) -> Result<(), MetaError> {
        let c = self.colls(&coll.name);
        // One index per createIndexes call: FerretDB 1.24 drops the connection (a server-side
        // panic) when one call names several indexes that all exist already.
        for model in [
            index(doc! {"id": 1, "ov": 1}, "id_ov", true),
            // `ov` last: an as-of read by time sorts on `(at, ov)` (equal times are possible).
            index(doc! {"id": 1, "at": 1, "ov": 1}, "id_at_ov", false),
            index(doc! {"id": 1, "cv": 1}, "id_cv", false),
            index(doc! {"cv": 1}, "cv", false),
            index(doc! {"at": 1}, "at", false),
            // A replay or a repeated request finds its version by its request id.
            index(doc! {"rid": 1}, "rid", false),
            // An actor's versions, newest first (`versions_by_actor`).
            index(doc! {"actor": 1, "at": 1, "cv": 1}, "actor_at_cv", false),
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
        self.ensure_retention_indexes(&coll.name).await
    }

    async fn get_head(&self, coll: &str, id: &str) -> Result<Option<StoredVersion>, MetaError> {
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

    async fn get_version(
        &self,
        coll: &str,
        id: &str,
        ov: u64,
    ) -> Result<Option<StoredVersion>, MetaError> {
        let c = self.colls(coll);
        let head = self.raw_head(&c, id).await?;
        self.version_under_head(&c, id, ov, head.as_ref()).await
    }

    async fn version_and_erased(
        &self,
        coll: &str,
        id: &str,
        at: VersionAt,
    ) -> Result<(Option<StoredVersion>, bool), MetaError> {
        let c = self.colls(coll);
        let is_erasure = |h: &Option<Document>| {
            h.as_ref()
                .is_some_and(|h| h.get_str("op").ok() == Some(Op::Erase.as_str()))
        };
        // One head read serves both answers when the version is found: which rows are
        // committed, and whether the item is erased (two round trips). The answer is the
        // state at that head read, a point within this call: a row's content changes only
        // when an erasure scrubs it (after its tombstone committed, blanking its hash), so
        // an unscrubbed row is the same whenever it is read, and an erasure that commits
        // after the head read is ordered after this read.
        let head = self.raw_head(&c, id).await?;
        let found = match at {
            VersionAt::Ov(ov) => self.version_under_head(&c, id, ov, head.as_ref()).await?,
            VersionAt::AsOf(as_of) => {
                self.version_as_of_under_head(&c, id, as_of, head.as_ref())
                    .await?
            }
        };
        let scrubbed = found.as_ref().is_some_and(|v| v.version.sha256.is_empty());
        if (found.is_none() || scrubbed) && !is_erasure(&head) {
            // Nothing found (retention or a purge may have removed the row after the head
            // was read), or a row an erasure scrubbed meanwhile: the head again tells which
            // (a third trip, only here).
            return Ok((found, is_erasure(&self.raw_head(&c, id).await?)));
        }
        Ok((found, is_erasure(&head)))
    }

    async fn find_request(
        &self,
        coll: &str,
        id: &str,
        request_id: &str,
    ) -> Result<RequestState, MetaError> {
        let c = self.colls(coll);
        // Every attempt of the request: one may have left a row that can never commit (a
        // late insert below the head) next to the one that committed.
        let rows = collect(
            c.ver
                .find(doc! {"rid": request_id, "id": id})
                .sort(doc! {"ov": 1})
                .await
                .map_err(map_err)?,
        )
        .await?;
        if rows.is_empty() {
            return Ok(RequestState::Absent);
        }
        let head = self.raw_head(&c, id).await?;
        let head_ov = head_ov(head.as_ref());
        let mut in_flight = false;
        for row in &rows {
            match (head_ov, get_int(row, "ov")) {
                // At or below the head: committed, unless the chain shows it is not
                // (`chain.rs`). A row that never can be is as good as absent (applying the
                // request again is its first application); one that still could (a create's
                // row, after a purge) is in flight.
                (Some(h), Some(ov)) if ov <= h => {
                    match self.chain_of(&c, row, head.as_ref()).await? {
                        Chain::NotCommitted { dead: true } => {}
                        Chain::NotCommitted { dead: false } => in_flight = true,
                        Chain::Committed | Chain::Unknown => {
                            return decode_version(row, "id")
                                .map(|v| RequestState::Committed(Box::new(v)));
                        }
                    }
                }
                // Above the head's ov: not committed (yet): its writer may still finish it,
                // or a writer that meets it at its slot commit it on its behalf (P2).
                _ => in_flight = true,
            }
        }
        Ok(match in_flight {
            true => RequestState::Committing,
            false => RequestState::Absent,
        })
    }

    async fn version_as_of(
        &self,
        coll: &str,
        id: &str,
        as_of: AsOf,
    ) -> Result<Option<StoredVersion>, MetaError> {
        let c = self.colls(coll);
        let head = self.raw_head(&c, id).await?;
        self.version_as_of_under_head(&c, id, as_of, head.as_ref())
            .await
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
        let head = self.raw_head(&c, id).await?;
        let Some(head_ov) = head_ov(head.as_ref()) else {
            return Ok(Vec::new());
        };
        let mut before = before_ov.map(clamp).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        // Rows the chain shows dead are left out, and the page is topped up past them, so
        // a short page still means "no more".
        while out.len() < limit {
            let want = limit - out.len();
            let rows = collect(
                c.ver
                    .find(doc! {"id": id, "ov": {"$lt": before, "$lte": head_ov}})
                    .sort(doc! {"ov": -1})
                    .limit(want.min(i64::MAX as usize) as i64)
                    .projection(doc! {"shadow": 0})
                    .await
                    .map_err(map_err)?,
            )
            .await?;
            let exhausted = rows.len() < want;
            let Some(lowest) = rows.last().and_then(|r| get_int(r, "ov")) else {
                break;
            };
            before = lowest;
            for r in self
                .without_uncommitted_rows(&c, rows, head.as_ref())
                .await?
            {
                out.push(decode_version(&r, "id")?);
            }
            if exhausted {
                break;
            }
        }
        Ok(out)
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
        } else {
            // Erasure tombstones are deleted too, but never listed: nothing of them is left.
            conds.push(doc! {"op": {"$ne": "ERASE"}});
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
    ) -> Result<Vec<StoredVersion>, MetaError> {
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

    /// Rows above `after` in cv order, checked like the rows of an as-of page (stale rows
    /// at their head's next slot are rolled forward or removed on the way). A row can still
    /// commit below a newer one while its writer is live (the protocol's slow writer, or a
    /// transaction that allocated its cv earlier), so `settled` stops before the first row
    /// written less than `SETTLE_MICROS` ago: a writer gives its cv up after `CV_SLOT_TTL`,
    /// so no row appears in a gap below a row that old.
    async fn committed_after(
        &self,
        coll: &str,
        after: u64,
        limit: usize,
    ) -> Result<CommittedPage, MetaError> {
        let c = self.colls(coll);
        let limit = limit.clamp(1, 100_000);
        for _ in 0..QUERY_ATTEMPTS {
            let mut rows = collect(
                c.ver
                    .find(doc! {"cv": {"$gt": clamp(after)}, "purge": {"$ne": true}})
                    .sort(doc! {"cv": 1})
                    .limit(limit as i64 + 1)
                    .await
                    .map_err(map_err)?,
            )
            .await?;
            let more = rows.len() > limit;
            rows.truncate(limit);
            let (reread, hidden) = self.verify_page(&c, &rows, "next_cv").await?;
            if reread {
                continue;
            }
            let mut versions = Vec::with_capacity(rows.len());
            let mut settled = after;
            let mut settling = true;
            for r in &rows {
                let uncommitted = r
                    .get_object_id("_id")
                    .is_ok_and(|oid| hidden.contains(&oid));
                // A hidden row that old was met by `verify_page` and is dead; a younger one may
                // still commit. A committed young row may have a slower neighbour below it
                // that has not inserted its row yet.
                settling &= written_longer_ago(r, SETTLE_MICROS);
                if settling {
                    settled = get_int(r, "cv").map(|cv| cv as u64).unwrap_or(settled);
                }
                if !uncommitted {
                    versions.push(decode_head(r, "id")?);
                }
            }
            return Ok(CommittedPage {
                versions,
                settled,
                more,
            });
        }
        Err(MetaError::Backend(BackendError::new(
            "rows above the collection's counted mark kept changing while being read",
        )))
    }

    async fn visible_after(
        &self,
        coll: &str,
        after: u64,
        limit: usize,
    ) -> Result<CommittedPage, MetaError> {
        self.visible_page(coll, after, limit).await
    }

    /// One range of the `(actor, at, cv)` index, newest first; rows not committed (their
    /// item's head is below them) are checked against the heads and left out, and the page
    /// is topped up past them, so a short page means the end.
    async fn versions_by_actor(
        &self,
        coll: &str,
        actor: &str,
        window: &ActorWindow,
        limit: usize,
    ) -> Result<Vec<VersionRecord>, MetaError> {
        let c = self.colls(coll);
        let mut out = Vec::new();
        let mut before = window.before;
        let mut attempts = 0;
        while out.len() < limit {
            let want = (limit - out.len()).min(1000);
            let mut filter = doc! {
                "actor": actor,
                "at": {
                    "$gte": window.from.map_or(i64::MIN, Timestamp::micros),
                    "$lte": window.to.map_or(i64::MAX, Timestamp::micros),
                },
                "purge": {"$ne": true},
            };
            if let Some((at, cv)) = before {
                filter.insert(
                    "$or",
                    vec![
                        doc! {"at": {"$lt": at.micros()}},
                        doc! {"at": at.micros(), "cv": {"$lt": clamp(cv)}},
                    ],
                );
            }
            let rows = collect(
                c.ver
                    .find(filter)
                    .sort(doc! {"at": -1, "cv": -1})
                    .limit(want as i64)
                    .await
                    .map_err(map_err)?,
            )
            .await?;
            let (reread, hidden) = self.verify_page(&c, &rows, "next_cv").await?;
            if reread && attempts < QUERY_ATTEMPTS {
                attempts += 1;
                continue;
            }
            let full = rows.len() == want;
            for r in &rows {
                if r.get_object_id("_id")
                    .is_ok_and(|oid| hidden.contains(&oid))
                {
                    continue;
                }
                out.push(decode_version(r, "id")?);
            }
            match rows
                .last()
                .and_then(|r| Some((get_int(r, "at")?, get_int(r, "cv")?)))
            {
                Some((at, cv)) if full => before = Some((Timestamp(at), cv.max(0) as u64)),
                _ => break,
            }
        }
        Ok(out)
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

impl MongoStore {
    /// The committed version `ov` of `id`, given the item's head as just read: only rows at
    /// or below the head's ov are committed, and of those only the ones in the item's chain
    /// (a late row in a freed slot is not, `chain.rs`).
    async fn version_under_head(
        &self,
        c: &Colls,
        id: &str,
        ov: u64,
        head: Option<&Document>,
    ) -> Result<Option<StoredVersion>, MetaError> {
        let Some(head_ov) = head_ov(head) else {
            return Ok(None);
        };
        if clamp(ov) > head_ov {
            return Ok(None);
        }
        let Some(row) = c
            .ver
            .find_one(doc! {"id": id, "ov": clamp(ov)})
            .await
            .map_err(map_err)?
        else {
            return Ok(None);
        };
        self.without_uncommitted_rows(c, vec![row], head)
            .await?
            .first()
            .map(|d| decode_head(d, "id"))
            .transpose()
    }

    /// The latest committed version of `id` as of `as_of`, given the item's head as just
    /// read (rows above its ov are not committed).
    async fn version_as_of_under_head(
        &self,
        c: &Colls,
        id: &str,
        as_of: AsOf,
        head: Option<&Document>,
    ) -> Result<Option<StoredVersion>, MetaError> {
        let Some(head_ov) = head_ov(head) else {
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
}
