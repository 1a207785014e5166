//! The cap on change-feed waiters: event streams (`GET {C}/changes` with `Accept:
//! text/event-stream`) and long polls while they wait (`wait`).
//!
//! A stream gives its request slot back once its headers are sent, but it goes on reading
//! the change feed every poll interval until it ends; a long poll holds its request slot
//! while it waits. Both are counted here: at most `server.maxEventStreams` in all, and with
//! API keys configured at most `server.maxEventStreamsPerKey` per key, so that one key (one
//! tenant's client in a loop) can neither take every stream from the others nor fill the
//! request slots with waiting polls. A refused stream gets 503 (the server is full) or 429
//! (the key is), both with `Retry-After`; a long poll without a place answers at once
//! instead of waiting.

use crate::problem::ApiError;
use axum::http::StatusCode;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The open streams, by key.
pub(crate) struct EventStreams {
    total_cap: usize,
    /// Long polls waiting at once: at most half the request slots, whatever
    /// `server.maxEventStreams` says, so that waiting polls never fill the slots.
    waiter_cap: usize,
    /// `None` without API keys: every request then shares one grant, and the server only
    /// listens on loopback.
    per_key_cap: Option<usize>,
    open: Mutex<OpenStreams>,
    gauge: Gauge,
}

#[derive(Default)]
struct OpenStreams {
    total: usize,
    waiters: usize,
    by_key: HashMap<String, usize>,
}

/// One open stream's place; dropping it (the stream ended, or its client went away) gives
/// the place back.
pub(crate) struct StreamPermit {
    streams: Arc<EventStreams>,
    key: String,
    waiter: bool,
}

impl EventStreams {
    /// `gauge` shows the number open (`chronos_event_streams_open`); long polls are capped
    /// at half of `request_slots` besides.
    pub(crate) fn new(
        total_cap: usize,
        per_key_cap: Option<usize>,
        request_slots: usize,
        gauge: Gauge,
    ) -> Self {
        EventStreams {
            total_cap,
            waiter_cap: (request_slots / 2).max(1),
            per_key_cap,
            open: Mutex::new(OpenStreams::default()),
            gauge,
        }
    }

    /// A place for a stream of the key `key_id`, or the refusal to answer with.
    pub(crate) fn open(self: &Arc<Self>, key_id: &str) -> Result<StreamPermit, ApiError> {
        self.take(key_id, false)
    }

    /// A place for a waiting long poll of the key `key_id`, or the refusal (the poll then
    /// answers without waiting).
    pub(crate) fn open_waiter(self: &Arc<Self>, key_id: &str) -> Result<StreamPermit, ApiError> {
        self.take(key_id, true)
    }

    fn take(self: &Arc<Self>, key_id: &str, waiter: bool) -> Result<StreamPermit, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // The refusal says the server is full, never how full: that would tell one tenant
        // how busy the others are.
        if open.total >= self.total_cap || (waiter && open.waiters >= self.waiter_cap) {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_STREAMS",
                "the server has no room for another event stream (server.maxEventStreams): \
                 retry later",
            ));
        }
        let of_key = open.by_key.get(key_id).copied().unwrap_or(0);
        if let Some(cap) = self.per_key_cap.filter(|cap| of_key >= *cap) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_STREAMS",
                format!(
                    "this API key has {cap} event streams open, its limit \
                     (server.maxEventStreamsPerKey): close one, or long-poll with `wait`"
                ),
            ));
        }
        open.total += 1;
        open.waiters += usize::from(waiter);
        *open.by_key.entry(key_id.to_string()).or_default() += 1;
        self.gauge
            .set(i64::try_from(open.total).unwrap_or(i64::MAX));
        Ok(StreamPermit {
            streams: self.clone(),
            key: key_id.to_string(),
            waiter,
        })
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if self.waiter {
            open.waiters = open.waiters.saturating_sub(1);
        }
        if let Some(n) = open.by_key.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_key.remove(&self.key);
            }
        }
        self.streams
            .gauge
            .set(i64::try_from(open.total).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_capped_in_all_and_per_key_and_given_back_on_drop() {
        let gauge = Gauge::default();
        let streams = Arc::new(EventStreams::new(3, Some(2), 512, gauge.clone()));
        let a1 = streams.open("a").expect("a's first");
        let a2 = streams.open("a").expect("a's second");
        let refused = streams
            .open("a")
            .err()
            .expect("a's third is over its key's cap");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let b1 = streams.open("b").expect("b's first");
        assert_eq!(gauge.get(), 3);
        let full = streams.open("c").err().expect("the server is full");
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        drop(a1);
        assert_eq!(gauge.get(), 2);
        let _a3 = streams
            .open("a")
            .expect("a place given back is taken again");
        drop((a2, b1));
        assert_eq!(gauge.get(), 1);
        let open = streams.open.lock().unwrap();
        assert_eq!(open.by_key.len(), 1, "keys with no stream are forgotten");
    }

    #[test]
    fn without_keys_only_the_total_counts() {
        let streams = Arc::new(EventStreams::new(2, None, 512, Gauge::default()));
        let _one = streams.open("open").expect("first");
        let _two = streams.open("open").expect("second");
        assert!(streams.open("open").is_err());
    }

    #[test]
    fn waiting_long_polls_take_at_most_half_the_request_slots() {
        let streams = Arc::new(EventStreams::new(100, None, 4, Gauge::default()));
        let one = streams.open_waiter("k").expect("first waiter");
        let _two = streams.open_waiter("k").expect("second waiter");
        assert!(streams.open_waiter("k").is_err(), "half of 4 request slots");
        let _stream = streams.open("k").expect("streams hold no request slot");
        drop(one);
        let _three = streams
            .open_waiter("k")
            .expect("a waiter's place comes back");
    }
}
