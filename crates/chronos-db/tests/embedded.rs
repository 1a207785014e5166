//! The conformance suite on the embedded backend (SQLite + local files).

mod conformance;

conformance_suite!(conformance::harness::Embedded);
