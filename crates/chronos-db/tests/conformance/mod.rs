//! The conformance suite: the same behavioural tests for every backend.
//!
//! A backend test file does:
//! ```ignore
//! #[macro_use]
//! mod conformance;
//! conformance_suite!(conformance::harness::Embedded);
//! ```
#![allow(dead_code)]

/// Opens a harness on a backend (with an optional config tweak), or skips the test with a
/// printed reason when the backend is unavailable here.
macro_rules! open {
    ($b:expr) => {
        open!($b, |_| {})
    };
    ($b:expr, $tweak:expr) => {
        match $crate::conformance::harness::Harness::open($b, $tweak).await {
            Some(h) => h,
            None => {
                eprintln!("skipped: backend unavailable");
                return;
            }
        }
    };
}

pub mod cases;
pub mod faults;
pub mod hardening;
pub mod harness;
pub mod servers;

/// Generates one `#[tokio::test]` per conformance case for a backend expression.
macro_rules! conformance_suite {
    ($backend:expr) => {
        conformance_suite!(@cases $backend;
            create_and_read, caller_ids, invalid_input, update_replaces_and_conflicts, lineage_carries_forward,
            logical_delete, hard_delete_removes_everything, enrich_merges, time_travel, history_pages,
            query_operators, query_sort_and_pages, query_errors, query_as_of, restore_object, restore_collection,
            restore_collection_resumes, base64_blobs, required_indexed, versioning_disabled, tenant_isolation,
            projection, presigned_urls, leases_serialise_two_clients, crashed_holder_lease_expires, sweeper_removes_only_orphans, concurrent_writers, faults_at_every_step, fault_after_commit, tiered_fetch, entities,
            numbers_read_back_exactly, depth_limit_counts_containers, payload_id_never_chooses_the_id,
            hard_delete_restore_removes_items, hard_delete_frees_logically_deleted_items,
            restore_to_current_state_is_a_no_op,
            blob_refs_resolve_to_own_versions, shared_key_space_keeps_blobs_apart,
            cursors_are_bound_to_their_query, reads_and_sweeps_of_nothing);
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let backend = $backend;
                crate::conformance::cases::$case(&backend).await;
            }
        )*
    };
}
