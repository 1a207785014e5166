//! The conformance suite on the embedded backend (SQLite + local files).

#[macro_use]
mod conformance;

conformance_suite!(conformance::harness::Embedded);
