//! Reads: latest, by version, as of a time, history, and queries on indexed properties.

use super::hydrate::encode_item;
use super::{item_id, Collection};
use crate::error::{Error, Result};
use crate::meta::VersionAt;
use crate::model::StoredVersion;
use crate::model::{Item, Op, Timestamp, VersionInfo};
use crate::names::ItemId;
use crate::query::{parse_sort, AsOf, Cursor, Filter, Query, DEFAULT_LIMIT, MAX_LIMIT};
use crate::ItemJson;
use serde_json::Value;

/// Options of the single-item reads.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Keep only these dot paths of the content (`_system` is always returned).
    pub projection: Option<Vec<String>>,
    /// Return the item even when the version read is a deletion.
    pub include_deleted: bool,
    /// Add signed URLs for the version's JSON and blobs (`Item::presigned`).
    pub presign: bool,
    /// Lifetime of the signed URLs, 1..=604800 seconds (default 3600).
    pub ttl_seconds: Option<u64>,
}

/// Default lifetime of presigned URLs.
pub(crate) const DEFAULT_PRESIGN_TTL: u64 = 3600;

fn presign_ttl(opts: &ReadOptions) -> Result<Option<u64>> {
    if !opts.presign {
        return Ok(None);
    }
    match opts.ttl_seconds.unwrap_or(DEFAULT_PRESIGN_TTL) {
        t @ 1..=604_800 => Ok(Some(t)),
        t => Err(Error::validation(format!(
            "ttl_seconds must be between 1 and 604800 (7 days), got {t}"
        ))),
    }
}

/// Options of [`Collection::history`].
#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    /// Page size, 1..=1000 (default 50).
    pub limit: Option<usize>,
    /// Only versions with an ov below this (the `next_before_ov` of the previous page).
    pub before_ov: Option<u64>,
    /// Also report each version's stored size (`stored_size`: its `item.json` as stored,
    /// compressed or encrypted), at the cost of one listing of the item's objects.
    pub stored_sizes: bool,
}

/// One page of history, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    /// The versions of this page, newest first.
    pub versions: Vec<VersionInfo>,
    /// Pass as `before_ov` for the next page; `None` on the last page.
    pub next_before_ov: Option<u64>,
}

/// Options of [`Collection::list_by_meta`].
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// A MongoDB-style filter on indexed properties (`{}` or `None` = everything).
    pub filter: Option<Value>,
    /// `{"field": 1 | -1}`; the id is the final tie-break. Default: by id.
    pub sort: Option<Value>,
    /// 1..=1000, default 50.
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// Query the collection as it was at a time...
    pub as_of_time: Option<Timestamp>,
    /// ...or at a collection version.
    pub as_of_cv: Option<u64>,
    /// Include items whose latest (or as-of) version is a deletion.
    pub include_deleted: bool,
    /// Keep only these dot paths of each item (`_system` is always returned).
    pub projection: Option<Vec<String>>,
    /// Add signed URLs to every item (see [`ReadOptions::presign`]).
    pub presign: bool,
    /// Lifetime of the signed URLs, 1..=604800 seconds (default 3600).
    pub ttl_seconds: Option<u64>,
}

/// A page of items.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The items of this page, in the query's order.
    pub items: Vec<Item>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// A page of items as flat JSON objects (see [`Collection::list_by_meta_json`]); serializes
/// as `{"items": [...], "next": ...}`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JsonPage {
    /// The items of this page, in the query's order, each `{"_id", ...data, "_system"}`.
    pub items: Vec<ItemJson>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

pub(super) fn check_limit(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(l) => Err(Error::validation(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {l}"
        ))),
    }
}

/// Which version a [`Collection::read`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAt {
    /// The latest version.
    Latest,
    /// The version with this ov.
    Ov(u64),
    /// The latest version committed at or before this time.
    Time(Timestamp),
}

impl std::str::FromStr for ReadAt {
    type Err = String;

    /// `latest`, an ov (digits) or an RFC 3339 time: how the CLI and the HTTP API name a
    /// version.
    ///
    /// ```
    /// use chronos_db::ops::ReadAt;
    /// assert_eq!("3".parse::<ReadAt>(), Ok(ReadAt::Ov(3)));
    /// assert_eq!("latest".parse::<ReadAt>(), Ok(ReadAt::Latest));
    /// assert!(matches!("2024-01-01T00:00:00Z".parse::<ReadAt>(), Ok(ReadAt::Time(_))));
    /// assert!("v3".parse::<ReadAt>().is_err());
    /// ```
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "latest" {
            return Ok(ReadAt::Latest);
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(ReadAt::Ov)
                .map_err(|_| format!("ov {s} is out of range"));
        }
        Timestamp::parse(s).map(ReadAt::Time).map_err(|_| {
            format!(
                "'{}' names no version: give an ov (0, 1, ...), an RFC 3339 time or `latest`",
                crate::names::printable(s)
            )
        })
    }
}

impl Collection {
    /// One item at a version, or `NotFound` saying why: the item (or that version) does not
    /// exist, or the version read is a deletion (then the message says so, and
    /// `include_deleted` returns it).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::{ops::ReadAt, DatabaseType, Route};
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "notes").unwrap()).unwrap();
    /// let r = c.create(serde_json::json!({"n": 1}), "app", "", Default::default()).await.unwrap();
    /// c.delete(&r.id, 0, "app", "").await.unwrap();
    /// let e = c.read(&r.id, ReadAt::Latest, Default::default()).await.unwrap_err();
    /// assert!(e.to_string().contains("is deleted"));
    /// assert_eq!(c.read(&r.id, ReadAt::Ov(0), Default::default()).await.unwrap().data["n"], 1);
    /// # });
    /// ```
    pub async fn read(&self, id: &str, at: ReadAt, opts: ReadOptions) -> Result<Item> {
        let found = self
            .readable(&item_id(id)?, at, opts.include_deleted)
            .await?;
        self.read_one(&found, &opts).await
    }

    /// The version [`Collection::read`] returns, or `NotFound` saying why.
    pub(super) async fn readable(
        &self,
        id: &ItemId,
        at: ReadAt,
        include_deleted: bool,
    ) -> Result<StoredVersion> {
        let what = match at {
            ReadAt::Latest => format!("item '{id}'"),
            ReadAt::Ov(ov) => format!("version {ov} of item '{id}'"),
            ReadAt::Time(t) => format!("item '{id}' as of {t}"),
        };
        match self.find(id, at).await? {
            None => Err(Error::NotFound(what)),
            Some(found) if found.version.deleted && !include_deleted => Err(Error::NotFound(
                format!("{what} (it is deleted; read it with include_deleted)"),
            )),
            Some(found) => Ok(found),
        }
    }

    /// The stored version a single-item read reads, if any.
    pub(super) async fn find(&self, id: &ItemId, at: ReadAt) -> Result<Option<StoredVersion>> {
        let what = || match at {
            ReadAt::Latest => format!("item '{id}'"),
            ReadAt::Ov(ov) => format!("version {ov} of item '{id}'"),
            ReadAt::Time(t) => format!("item '{id}' as of {t}"),
        };
        let version_at = match at {
            ReadAt::Latest => {
                return match self.head(id).await? {
                    Some(v) if v.version.op == Op::Erase => Err(Error::Erased { what: what() }),
                    found => Ok(found),
                };
            }
            ReadAt::Ov(ov) => VersionAt::Ov(ov),
            ReadAt::Time(t) => {
                self.need_history("a read as of a time")?;
                VersionAt::AsOf(AsOf::Time(t))
            }
        };
        // The erasure state comes with the version, from a head read no earlier than the
        // version's (or, for a found version, the one that decided it committed): a version
        // is returned only if the item was not erased at that point.
        let (found, erased) = self
            .store
            .version_and_erased(self.name(), id, version_at)
            .await?;
        if erased || found.as_ref().is_some_and(|v| v.version.op == Op::Erase) {
            return Err(Error::Erased { what: what() });
        }
        match found {
            Some(v) => Ok(Some(v)),
            None => self.missing_or_pruned(id, at).await.map(|()| None),
        }
    }

    /// For a version read that found nothing: `BeyondRetention` when retention pruned what
    /// was asked for (a version below the head, or a time when the item already existed),
    /// else nothing (it never existed).
    pub(super) async fn missing_or_pruned(&self, id: &str, at: ReadAt) -> Result<()> {
        if self.settings.retention.is_none() || at == ReadAt::Latest {
            return Ok(());
        }
        let Some(head) = self.store.get_head(self.name(), id).await? else {
            return Ok(());
        };
        let created = head.version.lineage.inserted_at.unwrap_or(head.version.at);
        let what = match at {
            ReadAt::Ov(ov) if ov < head.version.ov => format!("version {ov} of item '{id}'"),
            ReadAt::Time(t) if t >= created => format!("item '{id}' as of {t}"),
            _ => return Ok(()),
        };
        Err(self.beyond_retention(id, what).await?)
    }

    /// Hydrates one version for a single-item read: projection, URLs.
    async fn read_one(&self, found: &StoredVersion, opts: &ReadOptions) -> Result<Item> {
        let ttl = presign_ttl(opts)?;
        let mut items = self
            .items_of(std::slice::from_ref(found), opts.projection.as_deref(), ttl)
            .await?;
        items
            .pop()
            .ok_or_else(|| Error::Corrupt(format!("item '{}' could not be read", found.version.id)))
    }

    /// The latest version, or `None` if the item does not exist (or is deleted, unless
    /// `include_deleted`).
    pub async fn get_latest(&self, id: &str, opts: ReadOptions) -> Result<Option<Item>> {
        self.get_at(id, ReadAt::Latest, opts).await
    }

    /// One version by its ov.
    pub async fn get_version(&self, id: &str, ov: u64, opts: ReadOptions) -> Result<Option<Item>> {
        self.get_at(id, ReadAt::Ov(ov), opts).await
    }

    /// The item as it was at `at`: its latest version with a commit time `<= at`. `None` if it
    /// did not exist then or was deleted (unless `include_deleted`).
    pub async fn get_as_of(
        &self,
        id: &str,
        at: Timestamp,
        opts: ReadOptions,
    ) -> Result<Option<Item>> {
        self.get_at(id, ReadAt::Time(at), opts).await
    }

    /// [`Collection::read`] with "absent or deleted" as `None`.
    async fn get_at(&self, id: &str, at: ReadAt, opts: ReadOptions) -> Result<Option<Item>> {
        match self.find(&item_id(id)?, at).await? {
            Some(found) if !found.version.deleted || opts.include_deleted => {
                self.read_one(&found, &opts).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The objects the item holds in object storage (every version and attempt), with their
    /// stored sizes: compressed or encrypted objects count as stored. Nothing is decoded.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use chronos_db::{Chronos, DatabaseType, Route};
    /// let dir = tempfile::tempdir().unwrap();
    /// let chronos = Chronos::embedded(dir.path()).await.unwrap();
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "docs").unwrap()).unwrap();
    /// let w = c.create(serde_json::json!({"n": 1}), "app", "", Default::default()).await.unwrap();
    /// let objects = c.stored_objects(&w.id).await.unwrap();
    /// assert_eq!(objects.len(), 1);
    /// assert!(objects[0].key.ends_with("/item.json") && objects[0].size == 7);
    /// # });
    /// ```
    pub async fn stored_objects(&self, id: &str) -> Result<Vec<crate::payload::ObjectInfo>> {
        let id = item_id(id)?;
        Ok(self
            .payload
            .list(&crate::payload::keys::item_prefix(self.name(), id.as_str()))
            .await?)
    }

    /// The versions of an item, newest first. `NotFound` if the item has none.
    pub async fn history(&self, id: &str, opts: HistoryOptions) -> Result<HistoryPage> {
        let id = &item_id(id)?;
        let limit = check_limit(opts.limit)?;
        let rows = self
            .store
            .history(self.name(), id, opts.before_ov, limit + 1)
            .await?;
        if rows.is_empty() && opts.before_ov.is_none() {
            return Err(Error::NotFound(format!("item '{id}'")));
        }
        let more = rows.len() > limit;
        let mut versions: Vec<VersionInfo> =
            rows.iter().take(limit).map(VersionInfo::from).collect();
        if opts.stored_sizes {
            let stored: std::collections::HashMap<String, u64> = self
                .payload
                .list(&crate::payload::keys::item_prefix(self.name(), id.as_str()))
                .await?
                .into_iter()
                .map(|o| (o.key, o.size))
                .collect();
            for (info, row) in versions.iter_mut().zip(&rows) {
                info.stored_size = stored.get(&row.payload_key).copied();
            }
        }
        let next_before_ov = if more {
            versions.last().map(|v| v.ov)
        } else {
            None
        };
        Ok(HistoryPage {
            versions,
            next_before_ov,
        })
    }

    /// What a page cursor is bound to: the database, collection and the query's own terms.
    fn cursor_context(&self, opts: &ListOptions) -> String {
        let r = &self.resolved;
        let json = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
        format!(
            "{}\0{}\0{}\0{}\0{}\0{:?}\0{:?}\0{}",
            r.db_conn_ref,
            r.db_name,
            self.name(),
            json(&opts.filter),
            json(&opts.sort),
            opts.as_of_time,
            opts.as_of_cv,
            opts.include_deleted
        )
    }

    /// Items whose indexed properties match a filter, sorted and paginated by keyset.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::{ListOptions, Route, DatabaseType};
    /// use serde_json::json;
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "orders").unwrap()).unwrap();
    /// for n in 0..3 {
    ///     c.create(json!({"status": "open", "n": n}), "app", "", Default::default()).await.unwrap();
    /// }
    /// let opts = ListOptions { filter: Some(json!({"n": {"$gte": 1}})), sort: Some(json!({"n": -1})), ..Default::default() };
    /// let page = c.list_by_meta(opts).await.unwrap();
    /// let ns: Vec<_> = page.items.iter().map(|i| i.data["n"].clone()).collect();
    /// assert_eq!(ns, vec![json!(2), json!(1)]);
    /// # });
    /// ```
    pub async fn list_by_meta(&self, opts: ListOptions) -> Result<Page> {
        let (query, context, ttl) = self.page_query(&opts)?;
        self.check_horizon(opts.as_of_time, opts.as_of_cv).await?;
        if ttl.is_some() {
            // Signed URLs name each version's objects: the stored versions are needed.
            let page = self.store.query(&self.spec(), &query).await?;
            let rows = self
                .without_erased(page.rows, query.as_of.is_some())
                .await?;
            let items = self
                .items_of(&rows, opts.projection.as_deref(), ttl)
                .await?;
            return Ok(Page {
                items,
                next: page.next.map(|c| c.encode(&context)),
            });
        }
        // The store decodes the rows whose inline content is fresh as it reads them.
        let page = self
            .store
            .query_items(&self.spec(), &query, self.inline_since())
            .await?;
        let rows = self
            .without_erased(page.rows, query.as_of.is_some())
            .await?;
        Ok(Page {
            items: self
                .typed_items_of(rows, opts.projection.as_deref())
                .await?,
            next: page.next.map(|c| c.encode(&context)),
        })
    }

    /// [`Collection::list_by_meta`] with each item as flat JSON text (`{"_id", ...data,
    /// "_system"}`, as [`Item::to_document`] gives), assembled around the stored JSON
    /// without decoding it: the cheap path for callers that pass JSON on.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::{ListOptions, Route, DatabaseType};
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "orders").unwrap()).unwrap();
    /// // Parsed from text, the number keeps its digits (a `json!` literal would be an f64).
    /// let doc = serde_json::from_str(r#"{"n": 1.50}"#).unwrap();
    /// let r = c.create(doc, "app", "", Default::default()).await.unwrap();
    /// let page = c.list_by_meta_json(ListOptions::default()).await.unwrap();
    /// let text = serde_json::to_string(&page).unwrap();
    /// assert!(text.starts_with(&format!(r#"{{"items":[{{"_id":"{}","n":1.50,"_system":"#, r.id)));
    /// # });
    /// ```
    pub async fn list_by_meta_json(&self, opts: ListOptions) -> Result<JsonPage> {
        if opts.projection.is_some() || opts.presign {
            // Projected or signed items are built typed, then encoded.
            let page = self.list_by_meta(opts).await?;
            return Ok(JsonPage {
                items: page.items.iter().map(encode_item).collect::<Result<_>>()?,
                next: page.next,
            });
        }
        let (query, context, _) = self.page_query(&opts)?;
        self.check_horizon(opts.as_of_time, opts.as_of_cv).await?;
        // The store flattens the rows whose inline content is fresh as it reads them.
        let page = self
            .store
            .query_flat(&self.spec(), &query, self.inline_since())
            .await?;
        let rows = self
            .without_erased(page.rows, query.as_of.is_some())
            .await?;
        Ok(JsonPage {
            items: self.flat_items_of(rows).await?,
            next: page.next.map(|c| c.encode(&context)),
        })
    }

    /// [`Collection::read`] with the item as flat JSON text (see
    /// [`Collection::list_by_meta_json`]).
    pub async fn read_json(&self, id: &str, at: ReadAt, opts: ReadOptions) -> Result<ItemJson> {
        let ttl = presign_ttl(&opts)?;
        let found = self
            .readable(&item_id(id)?, at, opts.include_deleted)
            .await?;
        let mut json = self
            .json_items_of(
                std::slice::from_ref(&found),
                opts.projection.as_deref(),
                ttl,
            )
            .await?;
        json.pop()
            .ok_or_else(|| Error::Corrupt(format!("item '{id}' could not be read")))
    }

    /// The store query, cursor context and URL lifetime of a page request (shared by both
    /// forms of the list).
    fn page_query(&self, opts: &ListOptions) -> Result<(Query, String, Option<u64>)> {
        let index = &self.settings.index;
        let filter = match &opts.filter {
            None => Filter::All,
            Some(f) => Filter::parse(f, index).map_err(Error::Validation)?,
        };
        let sort = match &opts.sort {
            None => vec![],
            Some(s) => parse_sort(s, index).map_err(Error::Validation)?,
        };
        let limit = check_limit(opts.limit)?;
        let context = self.cursor_context(opts);
        let after = match &opts.after {
            None => None,
            Some(c) => Some(Cursor::decode(c, sort.len(), &context).map_err(Error::Validation)?),
        };
        if opts.as_of_time.is_some() || opts.as_of_cv.is_some() {
            self.need_history("an as-of query")?;
        }
        let as_of = match (opts.as_of_time, opts.as_of_cv) {
            (Some(_), Some(_)) => {
                return Err(Error::validation(
                    "give as_of as a time or as a cv, not both",
                ))
            }
            (Some(t), None) => Some(AsOf::Time(t)),
            (None, Some(cv)) => Some(AsOf::Cv(cv)),
            (None, None) => None,
        };
        let ttl = presign_ttl(&ReadOptions {
            presign: opts.presign,
            ttl_seconds: opts.ttl_seconds,
            ..Default::default()
        })?;
        let query = Query {
            filter,
            sort,
            limit,
            after,
            as_of,
            include_deleted: opts.include_deleted,
        };
        Ok((query, context, ttl))
    }
}
