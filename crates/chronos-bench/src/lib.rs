//! # chronos-bench
//!
//! The benchmark of chronos-db, run as `chronos bench`. It measures the library's operations on
//! one backend and prints each figure next to the ratio the project tracks; nothing here is a
//! test (no threshold fails a build, a missed target prints `MISSED`). Run it on a release
//! build.
//!
//! ## What is measured
//!
//! * **The standard run** ([`run`] with none of `scale`, `memory`, `http`, `counters`,
//!   `encryption`, `compression`): the backend's *raw
//!   floor* (what the storage itself costs per write: one SQLite insert plus one flushed file
//!   put on the embedded backend, one MongoDB insert plus one object PUT on the remote ones,
//!   built directly with the drivers), then `create`, `update` and `enrich` over distinct
//!   items at the floor's concurrency, `get_latest`, `get_as_of` at random points of one item
//!   with a deep history, `list_by_meta` pages of 50 (an indexed equality filter, and a range
//!   filter with a sort) and `restore_collection` per item. Ratios: each write's throughput
//!   over the floor's (target >= 0.5), `get_as_of` over `get_latest` (<= 2), each list page
//!   over `get_latest` (<= 3), a collection restore per item over one sequential update
//!   (<= 2). The floor and the writes run in alternating rounds, and so do `get_latest` and
//!   the list pages: each figure of a ratio is sampled across the same stretch of time.
//! * **The scale run** (`scale`): one collection grown step by step to each of
//!   [`BenchSizes::scale_sizes`]; at each size `create`, `get_latest`, `get_as_of` and both
//!   list pages, typed and as JSON, are sampled a fixed number of times. Ratio per operation: p50 at the largest
//!   size over p50 at the smallest (target <= 1.5), i.e. the cost of an operation must not
//!   grow with the collection.
//! * **The memory run** (`memory`): the peak resident memory of a `restore_collection` of
//!   many changed items and of paging `list_by_meta` with its cursor through a large
//!   collection (target < 100 MiB each): both must stream, not load the collection.
//! * **The HTTP run** (`http`, embedded backend only): `create` over distinct items and
//!   `get_latest` of them at concurrency 32, through the library and through
//!   `chronos-server` over loopback HTTP (POST and GET of `/v1/runtime/tenant/bench/bench/items`),
//!   each side on its own instance, durability `processCrash`. Ratio per operation: HTTP
//!   ops/s over library ops/s (target >= 0.7). The server runs in the bench's process, on its
//!   tokio runtime, next to the client (`reqwest` with keep-alive connections).
//!
//! * **The counters run** (`counters`): `create` without counter rules next to `create` with
//!   three rules of two `countUnique` properties each, in alternating rounds at the standard
//!   run's concurrency and durability (target: time per create <= 1.3x); then a rule counting
//!   [`BenchSizes::distinct_values`] distinct values (a million on the embedded preset),
//!   checked exact, and reading the totals at the end over at the start (<= 1.5).
//!
//! * **The encryption run** (`encryption`): `create` and `get_latest` with encryption at rest
//!   next to the same without, both without inline copies, in alternating rounds (target:
//!   time per operation <= 1.2x each).
//!
//! * **The compression run** (`compression`): `create` and `get_latest` of realistic order
//!   documents with `writeOptimization.compressionEnabled` next to the same without, and the
//!   bytes each side stored (targets: stored bytes <= 0.5x, time per operation <= 1.2x).
//!
//! ## Why ratios measured side by side
//!
//! Absolute figures move with the machine, its disks, its load and the servers' placement; a
//! figure recorded last month on another machine says little. A ratio of two figures taken in
//! the same process, on the same backend, minutes apart, cancels most of that: if the disk is
//! slow today, the floor is slow too. So every target is a ratio of two measurements of one
//! run, and the report prints both figures and their quotient.

#![warn(missing_docs, unreachable_pub)]

mod backends;
mod compression;
mod counters;
mod data;
mod drive;
mod encryption;
mod floors;
mod http;
mod memory;
mod scale;
mod scratch;
mod stats;
mod workloads;

pub use backends::BenchBackend;

/// The error of a bench run: any failure of a backend, the library or the bench's own checks,
/// as text with its source chain.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The smallest `list_items`: one full page of 50.
pub const MIN_LIST_ITEMS: u32 = 50;
/// The smallest size of a scale step: one full page of 50.
pub const MIN_SCALE_SIZE: u32 = 50;
/// The largest item count any size accepts.
pub const MAX_ITEMS: u32 = 10_000_000;
/// The largest `ops` and `deep_versions`.
pub const MAX_OPS: u32 = 1_000_000;

/// Sizes of the workloads of every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchSizes {
    /// Standard run: operations per workload. Scale run: samples per operation and size.
    pub ops: usize,
    /// Standard run: versions of the deep item read as of a time.
    pub deep_versions: usize,
    /// Standard run: items of the listed collection (at least [`MIN_LIST_ITEMS`]).
    pub list_items: usize,
    /// Standard run: items changed, then restored by `restore_collection`.
    pub restore_items: usize,
    /// Scale run: the collection sizes measured, ascending, at least two.
    pub scale_sizes: Vec<usize>,
    /// Memory run: items paged through with the cursor.
    pub memory_items: usize,
    /// Memory run: items changed, then restored by `restore_collection`.
    pub memory_restore_items: usize,
    /// HTTP run: operations per workload (each side, each operation).
    pub http_ops: usize,
    /// Counters run: distinct values counted (rounded up to whole items of
    /// `VALUES_PER_ITEM`).
    pub distinct_values: usize,
}

impl BenchSizes {
    /// The embedded backend's full sizes: the figures recorded in `BENCHMARKS.md`.
    pub fn full() -> Self {
        BenchSizes {
            ops: 2000,
            deep_versions: 10_000,
            list_items: 100_000,
            restore_items: 10_000,
            scale_sizes: vec![10_000, 100_000, 1_000_000],
            memory_items: 1_000_000,
            memory_restore_items: 100_000,
            http_ops: 20_000,
            distinct_values: 1_000_000,
        }
    }

    /// The production backends on the test servers (FerretDB's SQLite handler is far slower
    /// than MongoDB, so the deep history and the collections are smaller).
    pub fn remote() -> Self {
        BenchSizes {
            ops: 200,
            deep_versions: 300,
            list_items: 5_000,
            restore_items: 200,
            scale_sizes: vec![1_000, 10_000, 100_000],
            memory_items: 100_000,
            memory_restore_items: 10_000,
            // The HTTP run measures the embedded backend only.
            http_ops: 2_000,
            distinct_values: 100_000,
        }
    }

    /// Small sizes for a smoke run (not figures to record).
    pub fn quick() -> Self {
        BenchSizes {
            ops: 200,
            deep_versions: 500,
            list_items: 10_000,
            restore_items: 500,
            scale_sizes: vec![1_000, 10_000],
            memory_items: 20_000,
            memory_restore_items: 5_000,
            http_ops: 200,
            distinct_values: 20_000,
        }
    }

    /// The preset of a backend: [`quick`](Self::quick) when asked, else
    /// [`full`](Self::full) on the embedded backend and [`remote`](Self::remote) on the others.
    pub fn preset(backend: BenchBackend, quick: bool) -> Self {
        match (quick, backend) {
            (true, _) => BenchSizes::quick(),
            (false, BenchBackend::Embedded) => BenchSizes::full(),
            (false, _) => BenchSizes::remote(),
        }
    }

    /// Checks every size against its bounds (the command line checks the same bounds; a
    /// library caller gets the same message here).
    pub fn check(&self) -> Result<(), Error> {
        let within = |name: &str, v: usize, min: u32, max: u32| {
            if v < min as usize || v > max as usize {
                Err(format!("{name} must be between {min} and {max}, got {v}"))
            } else {
                Ok(())
            }
        };
        within("ops", self.ops, 1, MAX_OPS)?;
        within("deep_versions", self.deep_versions, 1, MAX_OPS)?;
        within("list_items", self.list_items, MIN_LIST_ITEMS, MAX_ITEMS)?;
        within("restore_items", self.restore_items, 1, MAX_ITEMS)?;
        within("memory_items", self.memory_items, 1, MAX_ITEMS)?;
        within(
            "memory_restore_items",
            self.memory_restore_items,
            1,
            MAX_ITEMS,
        )?;
        within("http_ops", self.http_ops, 1, MAX_OPS)?;
        within("distinct_values", self.distinct_values, 1, MAX_ITEMS)?;
        check_scale_sizes(&self.scale_sizes)?;
        Ok(())
    }
}

/// Checks a list of scale sizes: at least two, each within
/// [`MIN_SCALE_SIZE`]..=[`MAX_ITEMS`], strictly ascending.
pub fn check_scale_sizes(sizes: &[usize]) -> Result<(), String> {
    if sizes.len() < 2 {
        return Err(format!(
            "give at least two scale sizes (the ratio compares the largest with the smallest), got {}",
            sizes.len()
        ));
    }
    for &s in sizes {
        if s < MIN_SCALE_SIZE as usize || s > MAX_ITEMS as usize {
            return Err(format!(
                "each scale size must be between {MIN_SCALE_SIZE} and {MAX_ITEMS}, got {s}"
            ));
        }
    }
    if sizes.windows(2).any(|w| w[0] >= w[1]) {
        return Err("scale sizes must be strictly ascending (e.g. 10000,100000,1000000)".into());
    }
    Ok(())
}

/// What to run, where, at which sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// The backend measured.
    pub backend: BenchBackend,
    /// The sizes of every run.
    pub sizes: BenchSizes,
    /// Run the scale measurement (instead of the standard run).
    pub scale: bool,
    /// Run the memory measurement (instead of the standard run).
    pub memory: bool,
    /// Run the HTTP measurement (instead of the standard run; embedded backend only).
    pub http: bool,
    /// Run the counters measurement (instead of the standard run).
    pub counters: bool,
    /// Run the encryption measurement (instead of the standard run).
    pub encryption: bool,
    /// Run the compression measurement (instead of the standard run).
    pub compression: bool,
    /// Where the run's temporary directories are made (the embedded backend's data, the raw
    /// floor's files); `None`: the system's temporary directory. Each run's are removed once
    /// its report section is out (see [`run_each`]).
    pub work_dir: Option<std::path::PathBuf>,
}

impl BenchOptions {
    /// The standard run on `backend` at its preset sizes ([`BenchSizes::preset`]).
    pub fn new(backend: BenchBackend, quick: bool) -> Self {
        BenchOptions {
            backend,
            sizes: BenchSizes::preset(backend, quick),
            scale: false,
            memory: false,
            http: false,
            counters: false,
            encryption: false,
            compression: false,
            work_dir: None,
        }
    }
}

/// Runs what `opts` asks for (the standard run unless `scale`, `memory`, `http`,
/// `counters`, `encryption` or `compression` is set; those may be combined) and returns the
/// report: one section per run, each with its header, its table and its ratios, separated
/// by a newline. Progress bars are drawn on stderr when it is a terminal.
///
/// The HTTP run measures the embedded backend only: with `http` on another backend this is
/// an error, before anything runs.
///
/// ```no_run
/// # async fn bench() -> Result<(), chronos_bench::Error> {
/// use chronos_bench::{run, BenchBackend, BenchOptions};
/// let report = run(&BenchOptions::new(BenchBackend::Embedded, true)).await?;
/// assert!(report.contains("ratios (same run):"));
/// # Ok(()) }
/// ```
pub async fn run(opts: &BenchOptions) -> Result<String, Error> {
    let mut sections = Vec::new();
    run_each(opts, |section| {
        sections.push(section.to_string());
        Ok(())
    })
    .await?;
    Ok(sections.join("\n"))
}

/// [`run`], handing each report section to `on_section` as soon as its run is over, before
/// that run's data is removed: a scale run leaves millions of files, whose removal can take
/// many minutes (a spinner on stderr says so while it lasts).
///
/// Each run's data is removed before the next run starts, whether the run succeeded or
/// not. A run that fails is not handed out: its error is returned and no further run
/// starts; so does an error of `on_section` (e.g. stdout could not be written), after the
/// removal. A directory that cannot be removed is left where it is, with a `tracing`
/// warning naming it: the figures are out by then, so it does not fail the bench.
///
/// ```no_run
/// # async fn bench() -> Result<(), chronos_bench::Error> {
/// use chronos_bench::{run_each, BenchBackend, BenchOptions};
/// let mut opts = BenchOptions::new(BenchBackend::Embedded, true);
/// opts.scale = true;
/// opts.memory = true;
/// run_each(&opts, |section| {
///     println!("{section}");
///     Ok(())
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn run_each(
    opts: &BenchOptions,
    mut on_section: impl FnMut(&str) -> Result<(), Error>,
) -> Result<(), Error> {
    opts.sizes.check()?;
    let scratch = scratch::Scratch::new(opts.work_dir.as_deref());
    let standard = !opts.scale
        && !opts.memory
        && !opts.http
        && !opts.counters
        && !opts.encryption
        && !opts.compression;
    // In this order; the HTTP run first of those asked for: on another backend it fails
    // before anything has run.
    let runs = [
        (standard, Run::Standard),
        (opts.http, Run::Http),
        (opts.counters, Run::Counters),
        (opts.encryption, Run::Encryption),
        (opts.compression, Run::Compression),
        (opts.scale, Run::Scale),
        (opts.memory, Run::Memory),
    ];
    for (_, which) in runs.into_iter().filter(|(asked, _)| *asked) {
        let handed = match which.run(opts, &scratch).await {
            Ok(report) => on_section(&report),
            Err(e) => Err(e),
        };
        for left in scratch.remove().await {
            tracing::warn!(directory = %left, "could not remove the bench data; remove it by hand");
        }
        handed?;
    }
    Ok(())
}

/// One run of [`run_each`].
#[derive(Clone, Copy)]
enum Run {
    Standard,
    Http,
    Counters,
    Encryption,
    Compression,
    Scale,
    Memory,
}

impl Run {
    /// Runs it with its directories from `scratch`; returns its report section.
    async fn run(self, opts: &BenchOptions, scratch: &scratch::Scratch) -> Result<String, Error> {
        match self {
            Run::Standard => workloads::standard(opts, scratch).await,
            Run::Http => http::http(opts, scratch).await,
            Run::Counters => counters::counters(opts, scratch).await,
            Run::Encryption => encryption::encryption(opts, scratch).await,
            Run::Compression => compression::compression(opts, scratch).await,
            Run::Scale => scale::scale(opts, scratch).await,
            Run::Memory => memory::memory(opts, scratch).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_within_bounds() {
        for backend in [
            BenchBackend::Embedded,
            BenchBackend::MongoS3,
            BenchBackend::MongoAzure,
        ] {
            for quick in [false, true] {
                BenchSizes::preset(backend, quick)
                    .check()
                    .unwrap_or_else(|e| panic!("{backend:?} quick={quick}: {e}"));
            }
        }
    }

    /// The HTTP run refuses the remote backends before it contacts anything.
    #[tokio::test]
    async fn http_run_is_embedded_only() {
        for backend in [BenchBackend::MongoS3, BenchBackend::MongoAzure] {
            let mut opts = BenchOptions::new(backend, true);
            opts.http = true;
            let err = run(&opts).await.expect_err("a remote backend").to_string();
            assert!(err.contains("embedded backend only"), "{err}");
        }
    }

    /// The scale and memory runs at tiny sizes (seconds), their data under `work`.
    fn tiny_scale_and_memory(work: &std::path::Path) -> BenchOptions {
        let mut opts = BenchOptions::new(BenchBackend::Embedded, true);
        opts.sizes.ops = 3;
        opts.sizes.scale_sizes = vec![60, 120];
        opts.sizes.memory_items = 130;
        opts.sizes.memory_restore_items = 7;
        opts.scale = true;
        opts.memory = true;
        opts.work_dir = Some(work.to_path_buf());
        opts
    }

    /// Each section is handed out while its run's data is still on disk; the data is gone
    /// before the next run starts, and nothing is left at the end.
    #[tokio::test]
    async fn each_section_is_out_before_its_data_is_removed() {
        let work = tempfile::tempdir().unwrap();
        let opts = tiny_scale_and_memory(work.path());
        let entries = || std::fs::read_dir(work.path()).unwrap().count();
        let mut seen = Vec::new();
        run_each(&opts, |section| {
            seen.push((section.to_string(), entries()));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            seen[0].0.contains("p50 at largest / p50 at smallest"),
            "{}",
            seen[0].0
        );
        // The embedded run reads get_latest again with its metadata files read through,
        // at every size, and says how much it read.
        let resident = seen[0]
            .0
            .split("after the metadata files were read through")
            .nth(1);
        let lines: Vec<&str> = resident
            .map(|r| r.lines().filter(|l| l.contains(" items: p50 ")).collect())
            .unwrap_or_default();
        assert_eq!(lines.len(), opts.sizes.scale_sizes.len(), "{}", seen[0].0);
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("(metadata files: 0.0 MB)")),
            "{lines:?}"
        );
        assert!(seen[1].0.contains("peak resident MiB"), "{}", seen[1].0);
        // The run's own directory, and only it: the scale run's was removed before the
        // memory run began.
        assert_eq!(seen[0].1, 1);
        assert_eq!(seen[1].1, 1);
        assert_eq!(entries(), 0);
    }

    /// An error of the caller's `on_section` stops the bench after that run's data is
    /// removed: no further run starts.
    #[tokio::test]
    async fn an_error_handing_a_section_out_stops_the_bench() {
        let work = tempfile::tempdir().unwrap();
        let opts = tiny_scale_and_memory(work.path());
        let mut handed = 0;
        let err = run_each(&opts, |_| {
            handed += 1;
            Err("stdout is full".into())
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "stdout is full");
        assert_eq!(handed, 1);
        assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
    }

    /// A work directory that cannot be made: the error names it, no section is handed out.
    #[tokio::test]
    async fn a_run_that_cannot_start_says_why() {
        let work = tempfile::tempdir().unwrap();
        let mut opts = BenchOptions::new(BenchBackend::Embedded, true);
        // A file where the work directory must be.
        std::fs::write(work.path().join("blocked"), b"").unwrap();
        opts.work_dir = Some(work.path().join("blocked"));
        let mut sections = 0;
        let err = run_each(&opts, |_| {
            sections += 1;
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("cannot create"), "{err}");
        assert_eq!(sections, 0);
        assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 1);
    }

    #[test]
    fn scale_sizes_are_checked() {
        assert!(check_scale_sizes(&[60, 120]).is_ok());
        assert!(check_scale_sizes(&[60]).is_err());
        assert!(check_scale_sizes(&[120, 60]).is_err());
        assert!(check_scale_sizes(&[60, 60]).is_err());
        assert!(check_scale_sizes(&[49, 120]).is_err());
        assert!(check_scale_sizes(&[60, MAX_ITEMS as usize + 1]).is_err());
    }
}
