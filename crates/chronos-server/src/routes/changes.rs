//! The change feed over HTTP: a page, a long poll (`wait`), or Server-Sent Events
//! (`Accept: text/event-stream`, resumed from `Last-Event-ID`).

use super::CollectionPath;
use crate::extract::QueryParams;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::streams::StreamPermit;
use crate::target::Scoped;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chronos_db::access::Permission;
use chronos_db::ops::{Change, ChangeContent, ChangesOptions, ChangesPage};
use chronos_db::{Collection, Op};
use serde::Deserialize;
use std::collections::VecDeque;
use std::time::Duration;

/// The longest long poll (`wait`).
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting request or an event stream looks for new changes.
const POLL: Duration = Duration::from_millis(200);
/// How long one event stream lasts: then it ends and gives its place back
/// (`server.maxEventStreams`), and the client reconnects with its `Last-Event-ID` (so a
/// client that stopped reading without closing holds its place at most this long).
const STREAM_LIFETIME: Duration = Duration::from_secs(300);

/// `GET {C}/changes` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesQuery {
    /// Changes with a cv above this one (default 0: from the start); then the previous
    /// page's `nextSinceCv`. An event stream resumes from `Last-Event-ID` instead.
    since_cv: Option<u64>,
    /// Changes per page, 1-1000 (default 50).
    limit: Option<usize>,
    /// Only these operations, comma-separated (`CREATE,UPDATE,...`).
    ops: Option<String>,
    /// The content each change carries: `none` (default), `after` or `beforeAfter`.
    #[param(inline)]
    include: Option<ChangeContent>,
    /// Long poll: when nothing is ready, wait up to this long for a change (`30s` or `30`;
    /// at most 60 s, and less than the server's request time). A waiting poll takes a place
    /// among the event streams; when none is free it answers at once.
    wait: Option<String>,
}

fn ops_of(text: &str) -> Result<Vec<Op>, ApiError> {
    text.split(',')
        .map(|s| {
            Op::parse(s.trim()).ok_or_else(|| {
                ApiError::invalid_at(
                    "ops",
                    format!("'{}' is not an operation", s.trim().escape_debug()),
                )
            })
        })
        .collect()
}

fn wait_of(text: &str) -> Result<Duration, ApiError> {
    let seconds = text.strip_suffix('s').unwrap_or(text);
    match seconds.parse::<u64>() {
        Ok(s) if Duration::from_secs(s) <= MAX_WAIT => Ok(Duration::from_secs(s)),
        _ => Err(ApiError::invalid_at(
            "wait",
            "give whole seconds up to 60, like 30s",
        )),
    }
}

/// The collection's committed versions in cv order after `sinceCv`, never skipping one that
/// commits late: pass `nextSinceCv` back. With `wait`, an empty answer waits for a change;
/// with `Accept: text/event-stream`, one `change` event per version (its `id` the cv, so a
/// reconnecting client resumes with `Last-Event-ID`).
#[utoipa::path(get, path = "/v1/{databaseType}/tenant/{tenantId}/{collection}/changes", operation_id = "changes", tag = "collections",
    params(CollectionPath, ChangesQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "An event stream's resume point: the cv of the last event received")),
    responses((status = 200, description = "A page (JSON), or with `Accept: text/event-stream` a stream of `change` events (data: a Change, id: its cv)",
            content((ChangesPage = "application/json"), (String = "text/event-stream"))),
        (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 410, description = "The position is below the retention horizon", body = Problem),
        (status = 429, description = "An event stream over the key's limit (`server.maxEventStreamsPerKey`)", body = Problem),
        (status = 503, description = "An event stream over the server's limit (`server.maxEventStreams`), or a backend did not answer", body = Problem)))]
pub(crate) async fn changes(
    State(state): State<AppState>,
    s: Scoped,
    headers: HeaderMap,
    QueryParams(q): QueryParams<ChangesQuery>,
) -> Result<Response, ApiError> {
    let mut opts = ChangesOptions {
        since_cv: q.since_cv.unwrap_or(0),
        limit: q.limit,
        ops: q.ops.as_deref().map(ops_of).transpose()?,
        include: q.include.unwrap_or_default(),
    };
    let wait = q.wait.as_deref().map(wait_of).transpose()?;
    let coll = s.open(Permission::Read)?;
    let streams = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if streams {
        if let Some(last) = headers.get("last-event-id") {
            opts.since_cv = last
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| ApiError::invalid_at("Last-Event-ID", "not a cv"))?;
        }
        // A place among the open streams, taken after the checks above (a request the key
        // may not make is refused as such, not counted) and held until the stream ends.
        let permit = state.streams.open(s.grant.key_id())?;
        // The first page is read now, so a bad position is a 4xx, not a broken stream.
        let first = coll.changes(opts.clone()).await?;
        return Ok(Sse::new(events(coll, opts, first, permit, state.clone()))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    // A long poll stops waiting at half the request's time, so that the time spent queued
    // for a slot and the last page's read still fit in it.
    let budget = state.request_timeout / 2;
    let wait = wait.unwrap_or_default().min(budget);
    // A long poll waits in a place among the streams (it holds a request slot meanwhile, so
    // waiters must not take them all): when none is free it answers at once, as a plain
    // page would, instead of waiting.
    let place = match wait.is_zero() {
        true => None,
        false => state.streams.open_waiter(s.grant.key_id()).ok(),
    };
    let deadline = tokio::time::Instant::now() + place.as_ref().map_or(Duration::ZERO, |_| wait);
    loop {
        let page = state
            .metrics
            .time("changes", coll.changes(opts.clone()))
            .await?;
        if !page.changes.is_empty()
            || page.more
            || tokio::time::Instant::now() >= deadline
            || state.is_stopping()
        {
            return Ok(Json(page).into_response());
        }
        opts.since_cv = page.next_since_cv;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(POLL.min(left)).await;
    }
}

/// A stream's place, given back when dropped or at `ends` or the server's stop, whichever
/// comes first.
struct TimedPlace {
    place: std::sync::Arc<std::sync::Mutex<Option<StreamPermit>>>,
    timer: tokio::task::JoinHandle<()>,
}

impl TimedPlace {
    fn new(
        permit: StreamPermit,
        ends: tokio::time::Instant,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let place = std::sync::Arc::new(std::sync::Mutex::new(Some(permit)));
        let held = place.clone();
        let timer = tokio::spawn(async move {
            let stop = async {
                // Without a stop signal (an embedded router), only the lifetime counts.
                if stopping.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(ends) => {}
                () = stop => {}
            }
            held.lock().unwrap_or_else(|p| p.into_inner()).take();
        });
        TimedPlace { place, timer }
    }
}

impl Drop for TimedPlace {
    fn drop(&mut self) {
        self.timer.abort();
        self.place.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// The event stream: the changes of `first`, then of every later page, polling while
/// nothing is ready. When the position moves past versions filtered out, a `position` event
/// carries it as its id, so a reconnecting client resumes from there. A failure ends the
/// stream with an `error` event, and every stream ends after [`STREAM_LIFETIME`] (the
/// client resumes from its `Last-Event-ID`).
fn events(
    coll: Collection,
    opts: ChangesOptions,
    first: ChangesPage,
    permit: StreamPermit,
    state: AppState,
) -> impl futures::Stream<Item = Result<Event, std::convert::Infallible>> {
    struct Feed {
        /// The server's state, to end the stream when the server stops.
        state: AppState,
        /// The stream's place, given back when the stream is dropped (ended, or its
        /// client went away), or by a timer at the stream's end of life or the server's
        /// stop even when the stream is no longer polled (a client that stopped reading
        /// leaves its response unflushed, and nothing polls the stream then).
        _place: TimedPlace,
        coll: Collection,
        opts: ChangesOptions,
        ready: VecDeque<Change>,
        more: bool,
        done: bool,
        /// The position last sent as an event id.
        sent: u64,
        ends: tokio::time::Instant,
    }
    let ends = tokio::time::Instant::now() + STREAM_LIFETIME;
    let feed = Feed {
        _place: TimedPlace::new(permit, ends, state.stopping.clone()),
        state,
        coll,
        sent: opts.since_cv,
        opts: ChangesOptions {
            since_cv: first.next_since_cv,
            ..opts
        },
        ready: first.changes.into(),
        more: first.more,
        done: false,
        ends,
    };
    futures::stream::unfold(feed, |mut feed| async move {
        loop {
            // A stopping server ends its streams (the clients resume from their
            // `Last-Event-ID` elsewhere or after the restart) instead of waiting for them.
            if feed.done || tokio::time::Instant::now() >= feed.ends || feed.state.is_stopping() {
                return None;
            }
            if let Some(change) = feed.ready.pop_front() {
                feed.sent = change.cv;
                let event = Event::default()
                    .event("change")
                    .id(change.cv.to_string())
                    .json_data(&change)
                    .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
                return Some((Ok(event), feed));
            }
            if feed.opts.since_cv > feed.sent {
                feed.sent = feed.opts.since_cv;
                let position = Event::default()
                    .event("position")
                    .id(feed.sent.to_string())
                    .data(feed.sent.to_string());
                return Some((Ok(position), feed));
            }
            if !feed.more {
                tokio::time::sleep(POLL).await;
            }
            match feed.coll.changes(feed.opts.clone()).await {
                Ok(page) => {
                    // The new position goes out as an event id only after the changes below
                    // it (they are sent first, above).
                    feed.more = page.more;
                    feed.ready.extend(page.changes);
                    feed.opts.since_cv = page.next_since_cv;
                }
                Err(e) => {
                    feed.done = true;
                    let event = Event::default().event("error").data(e.to_string());
                    return Some((Ok(event), feed));
                }
            }
        }
    })
}
