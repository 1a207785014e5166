//! The memory run: the peak resident memory of the operations that go through a whole
//! collection (a collection restore, paging with the cursor to the end), each of which must
//! stream rather than hold the collection.
//!
//! The peak is Linux's `VmHWM` from `/proc/self/status`, reset before each phase by writing
//! `5` to `/proc/self/clear_refs` (which sets the peak back to the current resident size).
//! Where the reset is refused, the figures are the process-wide peak, and the report says so.

use crate::backends::{route, BenchBackend};
use crate::data::{doc, item_id, revised, GROUPS};
use crate::drive::{bar, fill, fill_named};
use crate::scratch::Scratch;
use crate::stats::{ratio_line, Target};
use crate::{BenchOptions, Error};
use chronos_db::config::Durability;
use chronos_db::{Chronos, CollectionTarget, CreateOptions, ListOptions, RestoreOptions};
use std::time::{Duration, Instant};

/// The collections of the memory run.
const RESTORE: &str = "mem-restore";
const PAGED: &str = "mem-paged";
/// Items per page when paging to the end (the largest page a query may ask for).
const PAGE: usize = chronos_db::query::MAX_LIMIT;
/// The target: peak resident memory of each phase below this many MiB.
const TARGET_MIB: f64 = 100.0;

/// What one phase used.
struct Phase {
    what: String,
    items: usize,
    took: Duration,
    /// Resident memory when the phase started (after the reset), MiB.
    start_mib: Option<f64>,
    /// Peak resident memory during the phase, MiB.
    peak_mib: Option<f64>,
    /// Why the peak could not be reset before the phase (then `peak_mib` is the process's).
    reset_error: Option<String>,
}

/// Runs the memory measurement; returns its report section.
pub(crate) async fn memory(opts: &BenchOptions, scratch: &Scratch) -> Result<String, Error> {
    let (backend, sizes) = (opts.backend, &opts.sizes);
    let dir = scratch.dir()?;
    // The fills are not measured; flushing each of a million writes would take hours.
    let durability = Durability::ProcessCrash;
    let cfg = backend.config(&dir, durability, &[RESTORE, PAGED])?;
    let chronos = Chronos::open(cfg).await?;

    // (a) restore_collection of many changed items.
    let n = sizes.memory_restore_items;
    let rc = chronos.with(route(RESTORE)?)?;
    let mark = fill_named(&rc, "restore items", "m", n, backend.fill_concurrency()).await?;
    let c = rc.clone();
    fill(
        "changes to restore",
        0,
        n,
        backend.fill_concurrency(),
        move |i| {
            let c = c.clone();
            async move {
                let r = c
                    .update(
                        &item_id("m", i),
                        revised(i, GROUPS, 1),
                        0,
                        "bench",
                        "change",
                    )
                    .await?;
                Ok(r.cv)
            }
        },
    )
    .await?;
    let (start_mib, reset_error) = reset_peak();
    let start = Instant::now();
    let rep = rc
        .restore_collection(
            CollectionTarget::Cv(mark),
            RestoreOptions {
                actor: "bench".into(),
                reason: "restore".into(),
                ..Default::default()
            },
        )
        .await?;
    let restore = Phase {
        what: format!("restore_collection of {n} changed items"),
        items: n,
        took: start.elapsed(),
        start_mib,
        peak_mib: status_mib("VmHWM"),
        reset_error,
    };
    if rep.restored != n as u64 {
        return Err(format!(
            "restore_collection restored {} items, expected {n}",
            rep.restored
        )
        .into());
    }

    // (b) paging through a large collection with the cursor.
    let m = sizes.memory_items;
    let pc = chronos.with(route(PAGED)?)?;
    let c = pc.clone();
    fill("paged items", 0, m, backend.fill_concurrency(), move |i| {
        let c = c.clone();
        async move {
            let opts = CreateOptions {
                id: Some(item_id("p", i)),
                ..Default::default()
            };
            Ok(c.create(doc(i, GROUPS), "bench", "fill", opts).await?.cv)
        }
    })
    .await?;
    let (start_mib, reset_error) = reset_peak();
    let start = Instant::now();
    let pb = bar(m, "paging");
    let (mut seen, mut pages, mut after) = (0usize, 0usize, None);
    loop {
        let page = pc
            .list_by_meta(ListOptions {
                limit: Some(PAGE),
                after: after.take(),
                ..Default::default()
            })
            .await?;
        seen += page.items.len();
        pages += 1;
        pb.inc(page.items.len() as u64);
        match page.next {
            Some(next) if !page.items.is_empty() => after = Some(next),
            _ => break,
        }
    }
    pb.finish_and_clear();
    let paging = Phase {
        what: format!(
            "list_by_meta paged to the end through {m} items ({pages} pages of up to {PAGE})"
        ),
        items: m,
        took: start.elapsed(),
        start_mib,
        peak_mib: status_mib("VmHWM"),
        reset_error,
    };
    if seen != m {
        return Err(format!("paging saw {seen} items, expected {m}").into());
    }

    Ok(report(backend, durability, &[restore, paging]))
}

fn report(backend: BenchBackend, durability: Durability, phases: &[Phase]) -> String {
    let mut out = format!(
        "{} backend, memory run, {}\nfills not measured; peak = VmHWM of /proc/self/status during the phase, \
         reset before it by writing 5 to /proc/self/clear_refs\n\n",
        backend.describe(),
        backend.durability_note(durability),
    );
    out.push_str(&format!(
        "| {:<80} | {:>9} | {:>8} | {:>14} | {:>10} |\n|{}|{}|{}|{}|{}|\n",
        "phase",
        "items",
        "time (s)",
        "RSS start MiB",
        "peak MiB",
        "-".repeat(82),
        "-".repeat(11),
        "-".repeat(10),
        "-".repeat(16),
        "-".repeat(12),
    ));
    let mib = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1}"));
    for p in phases {
        out.push_str(&format!(
            "| {:<80} | {:>9} | {:>8.1} | {:>14} | {:>10} |\n",
            p.what,
            p.items,
            p.took.as_secs_f64(),
            mib(p.start_mib),
            mib(p.peak_mib),
        ));
    }
    out.push_str("\npeak memory per phase (same run):\n");
    for (label, p) in ["restore_collection", "list_by_meta paging"]
        .iter()
        .zip(phases)
    {
        match p.peak_mib {
            Some(peak) => out.push_str(&ratio_line(
                &format!("{label}: peak resident MiB"),
                peak,
                Target::Below(TARGET_MIB),
            )),
            None => out.push_str(&format!(
                "  {label}: peak resident MiB = n/a (no VmHWM in /proc/self/status on this system)\n"
            )),
        }
        if let Some(e) = &p.reset_error {
            out.push_str(&format!(
                "    (the peak could not be reset before this phase ({e}): the figure is the process-wide peak since start, fills included)\n"
            ));
        }
    }
    out
}

/// Resets the process's peak resident size to its current size; returns the current size
/// (MiB) and, when the reset was refused, why.
fn reset_peak() -> (Option<f64>, Option<String>) {
    let reset = std::fs::write("/proc/self/clear_refs", "5")
        .map_err(|e| format!("writing 5 to /proc/self/clear_refs: {e}"))
        .err();
    (status_mib("VmRSS"), reset)
}

/// A `kB` field of `/proc/self/status` (`VmHWM`, `VmRSS`), in MiB.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_kib(&status, field).map(|kib| kib as f64 / 1024.0)
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tx\nVmHWM:\t  204800 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(204_800));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(10_240));
        assert_eq!(parse_status_kib(status, "VmPeak"), None);
    }
}
