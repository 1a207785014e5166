//! The HTTP server end to end: a real server on a loopback port, a real HTTP client, on the
//! embedded backend and (with the test servers) on MongoDB + S3.

#[path = "../../../chronos-db/tests/common/mod.rs"]
mod common;

mod auth;
mod bad_input;
mod changes;
mod concurrency;
mod endpoints;
mod limits;
mod openapi;
mod queue;
mod startup;
mod support;
