//! `chronos bench`: fixed workloads next to the backend's raw floor, measured in one run.
//!
//! Every figure is printed with the ratio the project tracks; nothing here is a test (no
//! thresholds fail a build). Run it on a release build.

use chronos_db::{
    Chronos, CollectionTarget, CreateOptions, DatabaseType, ListOptions, ReadOptions,
    RestoreOptions, Route, Timestamp,
};
use indicatif::{ProgressBar, ProgressStyle};
use object_store::ObjectStoreExt;
use serde_json::json;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sizes of the workloads.
#[derive(Debug, Clone, Copy)]
pub struct BenchSizes {
    pub ops: usize,
    pub deep_versions: usize,
    pub list_items: usize,
    pub restore_items: usize,
}

impl BenchSizes {
    pub fn full() -> Self {
        BenchSizes {
            ops: 2000,
            deep_versions: 10_000,
            list_items: 100_000,
            restore_items: 10_000,
        }
    }
    pub fn quick() -> Self {
        BenchSizes {
            ops: 200,
            deep_versions: 500,
            list_items: 10_000,
            restore_items: 500,
        }
    }
}

/// Latency samples of one workload.
struct Stats {
    name: &'static str,
    samples: Vec<Duration>,
    total: Duration,
}

impl Stats {
    fn new(name: &'static str) -> Self {
        Stats {
            name,
            samples: Vec::new(),
            total: Duration::ZERO,
        }
    }
    fn add(&mut self, d: Duration) {
        self.samples.push(d);
        self.total += d;
    }
    fn ops_per_sec(&self) -> f64 {
        self.samples.len() as f64 / self.total.as_secs_f64().max(1e-9)
    }
    fn pct(&self, p: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        if s.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((s.len() as f64 - 1.0) * p).round() as usize;
        s[idx.min(s.len() - 1)]
    }
    fn row(&self) -> String {
        format!(
            "| {:<34} | {:>7} | {:>11.0} | {:>9.1} | {:>9.1} |",
            self.name,
            self.samples.len(),
            self.ops_per_sec(),
            self.pct(0.50).as_secs_f64() * 1e6,
            self.pct(0.99).as_secs_f64() * 1e6
        )
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

/// The embedded backend's raw floor: one SQLite insert plus one file write per op, with the
/// same SQLite settings and the same object_store filesystem backend as Chronos-DB uses.
async fn raw_floor(dir: &std::path::Path, n: usize) -> Result<Stats, BoxError> {
    let conn = rusqlite::Connection::open(dir.join("raw.sqlite"))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE raw (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;",
    )?;
    let conn = std::sync::Arc::new(std::sync::Mutex::new(conn));
    let files_dir = dir.join("raw-files");
    std::fs::create_dir_all(&files_dir)?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(&files_dir)?;
    let mut stats = Stats::new("raw floor (sqlite insert + file put)");
    let pb = bar(n, "raw floor");
    for i in 0..n {
        let body = serde_json::to_vec(&doc(i))?;
        let start = Instant::now();
        fs.put(
            &object_store::path::Path::from(format!("raw/{i}/item.json")),
            bytes::Bytes::from(body.clone()).into(),
        )
        .await?;
        let c = conn.clone();
        tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
            let c = c.lock().map_err(|_| "lock poisoned")?;
            c.execute(
                "INSERT INTO raw (id, body) VALUES (?1, ?2)",
                rusqlite::params![format!("{i}"), String::from_utf8_lossy(&body)],
            )?;
            Ok(())
        })
        .await??;
        stats.add(start.elapsed());
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(stats)
}

fn doc(i: usize) -> serde_json::Value {
    json!({"email": format!("user{i}@example.com"), "status": if i % 3 == 0 { "active" } else { "idle" },
           "group": format!("g{}", i % 100), "score": i % 1000, "tags": ["a", "b"], "bio": "x".repeat(200)})
}

/// Runs every workload on the embedded backend and prints the table.
pub async fn run_embedded(sizes: BenchSizes) -> Result<String, BoxError> {
    let dir = tempfile::tempdir()?;
    let mut cfg = chronos_db::config::ChronosConfig::embedded(dir.path());
    cfg.collection_maps.insert(
        "bench".into(),
        chronos_db::config::CollectionMap {
            indexed_props: vec![
                "email".into(),
                "status".into(),
                "group".into(),
                "score".into(),
            ],
            ..Default::default()
        },
    );
    let chronos = Chronos::open(cfg).await?;
    let c = chronos.with(Route::tenant(DatabaseType::Runtime, "bench", "bench"))?;
    let n = sizes.ops;

    let floor = raw_floor(dir.path(), n).await?;

    let mut create = Stats::new("create");
    let mut ids = Vec::with_capacity(n);
    let pb = bar(n, "create");
    for i in 0..n {
        let start = Instant::now();
        let r = c
            .create(doc(i), "bench", "create", CreateOptions::default())
            .await?;
        create.add(start.elapsed());
        ids.push(r.id);
        pb.inc(1);
    }
    pb.finish_and_clear();

    let mut update = Stats::new("update");
    let pb = bar(n, "update");
    for (i, id) in ids.iter().enumerate() {
        let start = Instant::now();
        c.update(id, doc(i + 1), 0, "bench", "update").await?;
        update.add(start.elapsed());
        pb.inc(1);
    }
    pb.finish_and_clear();

    let mut latest = Stats::new("get_latest");
    for (i, id) in ids.iter().enumerate().take(n) {
        let start = Instant::now();
        let item = c.get_latest(id, ReadOptions::default()).await?;
        latest.add(start.elapsed());
        if item.is_none() {
            return Err(format!("item {i} missing").into());
        }
    }

    // One item with a deep history; as-of reads at random points of it.
    let deep = c
        .create(doc(0), "bench", "deep", CreateOptions::default())
        .await?;
    let mut times = Vec::with_capacity(sizes.deep_versions);
    let pb = bar(sizes.deep_versions, "deep history");
    for ov in 0..sizes.deep_versions as u64 {
        let r = c
            .update(&deep.id, doc(ov as usize), ov, "bench", "deep")
            .await?;
        times.push(r.at);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut latest_deep = Stats::new("get_latest (deep item)");
    let mut as_of = Stats::new("get_as_of (deep item)");
    let mut rng_state = 0x9e3779b97f4a7c15u64;
    for _ in 0..n {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        let t: Timestamp = times[(rng_state % times.len() as u64) as usize];
        let start = Instant::now();
        let item = c.get_as_of(&deep.id, t, ReadOptions::default()).await?;
        as_of.add(start.elapsed());
        if item.is_none() {
            return Err("as-of read found nothing".into());
        }
        let start = Instant::now();
        c.get_latest(&deep.id, ReadOptions::default()).await?;
        latest_deep.add(start.elapsed());
    }

    // A big collection; an indexed equality filter, one page of 50.
    let lc = chronos.with(Route::tenant(DatabaseType::Runtime, "bench", "bench"))?;
    let have = n;
    let pb = bar(sizes.list_items.saturating_sub(have), "list collection");
    for i in have..sizes.list_items {
        lc.create(doc(i), "bench", "fill", CreateOptions::default())
            .await?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut list = Stats::new("list_by_meta (indexed eq, 50)");
    for i in 0..n {
        let opts = ListOptions {
            filter: Some(json!({"group": format!("g{}", i % 100)})),
            limit: Some(50),
            ..Default::default()
        };
        let start = Instant::now();
        let page = lc.list_by_meta(opts).await?;
        list.add(start.elapsed());
        if page.items.len() != 50 {
            return Err(format!("expected a full page, got {}", page.items.len()).into());
        }
    }

    // restore_collection over a separate collection.
    let rc = chronos.with(Route::tenant(DatabaseType::Runtime, "bench", "restore"))?;
    let mut rids = Vec::new();
    for i in 0..sizes.restore_items {
        rids.push(
            rc.create(doc(i), "bench", "fill", CreateOptions::default())
                .await?
                .id,
        );
    }
    let mark = rc
        .get_latest(rids.last().ok_or("no items")?, ReadOptions::default())
        .await?
        .ok_or("missing")?
        .system
        .cv;
    for (i, id) in rids.iter().enumerate() {
        rc.update(id, doc(i + 7), 0, "bench", "change").await?;
    }
    let mut restore = Stats::new("restore_collection (per item)");
    let start = Instant::now();
    let rep = rc
        .restore_collection(CollectionTarget::Cv(mark), RestoreOptions::default())
        .await?;
    let elapsed = start.elapsed();
    let per_item = elapsed / (rep.restored.max(1) as u32);
    for _ in 0..rep.restored {
        restore.add(per_item);
    }

    let mut out = String::new();
    out.push_str(&format!(
        "embedded backend (SQLite + local files), {} ops per workload, deep item with {} versions, list over {} items\n\n",
        n, sizes.deep_versions, sizes.list_items
    ));
    out.push_str(
        "| workload                           |     ops |       ops/s |  p50 (µs) |  p99 (µs) |\n",
    );
    out.push_str(
        "|------------------------------------|---------|-------------|-----------|-----------|\n",
    );
    for s in [
        &floor,
        &create,
        &update,
        &latest,
        &latest_deep,
        &as_of,
        &list,
        &restore,
    ] {
        out.push_str(&s.row());
        out.push('\n');
    }
    let ratio = |a: f64, b: f64| a / b.max(1e-12);
    let create_ratio = ratio(create.ops_per_sec(), floor.ops_per_sec());
    let asof_ratio = ratio(
        as_of.pct(0.5).as_secs_f64(),
        latest_deep.pct(0.5).as_secs_f64(),
    );
    let list_ratio = ratio(list.pct(0.5).as_secs_f64(), latest.pct(0.5).as_secs_f64());
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    out.push_str("\nratios (same run):\n");
    out.push_str(&format!(
        "  create ops/s / raw floor ops/s       = {create_ratio:.2}  (target >= 0.5: {})\n",
        verdict(create_ratio >= 0.5)
    ));
    out.push_str(&format!(
        "  get_as_of p50 / get_latest p50        = {asof_ratio:.2}  (target <= 2: {})\n",
        verdict(asof_ratio <= 2.0)
    ));
    out.push_str(&format!(
        "  list_by_meta page p50 / get_latest p50 = {list_ratio:.2}  (target <= 3: {})\n",
        verdict(list_ratio <= 3.0)
    ));
    Ok(out)
}
