//! History tools over a collection: every version an actor wrote.

use super::read::check_limit;
use super::Collection;
use crate::error::{Error, Result};
use crate::meta::ActorWindow;
use crate::model::{Timestamp, VersionInfo};
use crate::query::{Cursor, Scalar};

/// Options of [`Collection::versions_by_actor`].
#[derive(Debug, Clone, Default)]
pub struct ActorVersionsOptions {
    /// Only versions committed at or after this time.
    pub from: Option<Timestamp>,
    /// Only versions committed at or before this time.
    pub to: Option<Timestamp>,
    /// Page size, 1-1000 (default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page of the same listing.
    pub cursor: Option<String>,
}

/// A page of the versions an actor wrote, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ActorVersionsPage {
    /// The versions of this page, newest first (commit time, then cv).
    pub versions: Vec<VersionInfo>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl Collection {
    /// Every version `actor` wrote in this collection (the `actor` its writes passed), newest
    /// first by commit time, optionally within `[from, to]`, in pages. Each page is one
    /// range of an `(actor, at, cv)` index on every backend (a collection created before the
    /// index existed gets it from the first write of a process; until then the listing
    /// scans its versions). Versions of erased items are listed (their content is gone, the
    /// record of who wrote them stays); versions removed by retention are not.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let chronos = chronos_db::Chronos::embedded(dir.path()).await.unwrap();
    /// use chronos_db::{ops::ActorVersionsOptions, DatabaseType, Route};
    /// use serde_json::json;
    /// let c = chronos.with(Route::tenant(DatabaseType::Runtime, "t1", "orders").unwrap()).unwrap();
    /// let r = c.create(json!({"n": 1}), "alice", "", Default::default()).await.unwrap();
    /// c.update(&r.id, json!({"n": 2}), 0, "bob", "").await.unwrap();
    /// c.update(&r.id, json!({"n": 3}), 1, "alice", "").await.unwrap();
    /// let page = c.versions_by_actor("alice", ActorVersionsOptions::default()).await.unwrap();
    /// let ovs: Vec<u64> = page.versions.iter().map(|v| v.ov).collect();
    /// assert_eq!(ovs, vec![2, 0]);
    /// # });
    /// ```
    pub async fn versions_by_actor(
        &self,
        actor: &str,
        opts: ActorVersionsOptions,
    ) -> Result<ActorVersionsPage> {
        if actor.is_empty() {
            return Err(Error::validation("give the actor whose versions to list"));
        }
        if let (Some(from), Some(to)) = (opts.from, opts.to) {
            if from > to {
                return Err(Error::validation(format!(
                    "from ({from}) is after to ({to})"
                )));
            }
        }
        let limit = check_limit(opts.limit)?;
        let context = self.actor_cursor_context(actor, &opts);
        let before = match &opts.cursor {
            None => None,
            Some(text) => Some(decode_position(text, &context)?),
        };
        let window = ActorWindow {
            from: opts.from,
            to: opts.to,
            before,
        };
        let mut rows = self
            .store
            .versions_by_actor(self.name(), actor, &window, limit + 1)
            .await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = match rows.last() {
            Some(last) if more => Some(
                Cursor {
                    values: vec![Scalar::Int(last.at.micros())],
                    id: last.cv.to_string(),
                }
                .encode(&context),
            ),
            _ => None,
        };
        Ok(ActorVersionsPage {
            versions: rows.iter().map(VersionInfo::from).collect(),
            next_cursor,
        })
    }

    /// What an actor-listing cursor is bound to: this collection and the listing's terms.
    fn actor_cursor_context(&self, actor: &str, opts: &ActorVersionsOptions) -> String {
        let r = &self.resolved;
        format!(
            "by-actor\0{}\0{}\0{}\0{actor}\0{:?}\0{:?}",
            r.db_conn_ref,
            r.db_name,
            self.name(),
            opts.from,
            opts.to
        )
    }
}

/// The `(at, cv)` a cursor of [`Collection::versions_by_actor`] stands for.
fn decode_position(text: &str, context: &str) -> Result<(Timestamp, u64)> {
    let cursor = Cursor::decode(text, 1, context).map_err(Error::Validation)?;
    match (cursor.values.first(), cursor.id.parse::<u64>()) {
        (Some(Scalar::Int(at)), Ok(cv)) => Ok((Timestamp(*at), cv)),
        _ => Err(Error::validation(
            "invalid cursor: pass back the 'nextCursor' of the previous page unchanged",
        )),
    }
}
