//! The conformance suite: the same behavioural cases on every backend.
//!
//! A case is an `async fn(b: &dyn Backend)` in the feature file it tests, registered by
//! `conformance_case!(name);` written right above it. The macro generates one test per
//! backend, named `<case>::<backend>` (`cargo test --test conformance create_and_read`, or
//! `... embedded`, `... mongo_s3`). A case function without its macro is dead code, which the
//! build rejects, so no case can be forgotten.
//!
//! Backends: `embedded` (SQLite + local files, always), and on the test servers of
//! `scripts/test-servers.sh`: `sqlite_s3`, `sqlite_azure`, `mongo_s3`, `mongo_azure`,
//! `mongo_local`. Without the servers those are skipped with a printed reason, except under
//! `CI=true`, where they fail.

/// Opens a harness on a backend (with an optional config tweak), or returns from the test
/// when the backend is unavailable here (skipped, or failed under CI).
macro_rules! open {
    ($b:expr) => {
        open!($b, |_| {})
    };
    ($b:expr, $tweak:expr) => {
        match $crate::harness::Harness::open($b, $tweak).await {
            Some(h) => h,
            None => return,
        }
    };
}

/// Registers a case: one `#[tokio::test]` per backend, in a module named after the case.
macro_rules! conformance_case {
    ($case:ident) => {
        mod $case {
            use $crate::harness::Embedded;
            use $crate::servers::{Meta, Servers, Space};

            async fn run(backend: &dyn $crate::harness::Backend) {
                super::$case(backend).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn embedded() {
                run(&Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite_s3() {
                run(&Servers {
                    meta: Meta::Sqlite,
                    space: Space::S3,
                })
                .await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite_azure() {
                run(&Servers {
                    meta: Meta::Sqlite,
                    space: Space::Azure,
                })
                .await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn mongo_s3() {
                run(&Servers {
                    meta: Meta::Mongo,
                    space: Space::S3,
                })
                .await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn mongo_azure() {
                run(&Servers {
                    meta: Meta::Mongo,
                    space: Space::Azure,
                })
                .await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn mongo_local() {
                run(&Servers {
                    meta: Meta::Mongo,
                    space: Space::Local,
                })
                .await
            }
        }
    };
}

#[path = "../common/mod.rs"]
mod common;
mod harness;
mod servers;
mod support;

mod analytics;
mod blobs;
mod compression;
mod counters;
mod encryption;
mod entities;
mod erasure;
mod fallback;
mod faults;
mod hardening;
mod history;
mod history_tools;
mod items;
mod json_out;
mod leases;
mod queries;
mod restores;
mod retention;
mod tiers;
