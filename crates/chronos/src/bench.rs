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
    /// The production backends on the test servers (FerretDB's SQLite handler is far
    /// slower than MongoDB, so the deep history and the collection are smaller).
    pub fn remote() -> Self {
        BenchSizes {
            ops: 200,
            deep_versions: 300,
            list_items: 5_000,
            restore_items: 200,
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
    /// For concurrent phases: the wall time of the whole phase (throughput = ops / wall).
    wall: Option<Duration>,
}

impl Stats {
    fn new(name: &'static str) -> Self {
        Stats {
            name,
            samples: Vec::new(),
            total: Duration::ZERO,
            wall: None,
        }
    }
    fn add(&mut self, d: Duration) {
        self.samples.push(d);
        self.total += d;
    }
    fn ops_per_sec(&self) -> f64 {
        let time = self.wall.unwrap_or(self.total);
        self.samples.len() as f64 / time.as_secs_f64().max(1e-9)
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
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
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
        let key = object_store::path::Path::from(format!("raw/{i}/item.json"));
        fs.put(&key, bytes::Bytes::from(body.clone()).into())
            .await?;
        // Flushed like the embedded store flushes (durability powerLoss, the default): the
        // file and each directory up to the root.
        let file = fs.path_to_filesystem(&key)?;
        tokio::task::spawn_blocking(move || flush_to_disk(&file, 3)).await??;
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

/// Runs every workload on one backend and prints the table.
pub async fn run(backend: BenchBackend, sizes: BenchSizes) -> Result<String, BoxError> {
    let dir = tempfile::tempdir()?;
    let mut cfg = backend.config(dir.path())?;
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
    let floor_cfg = cfg.clone();
    let chronos = Chronos::open(cfg).await?;
    let c = chronos.with(Route::tenant(DatabaseType::Runtime, "bench", "bench")?)?;
    let n = sizes.ops;

    let floor = match backend {
        BenchBackend::Embedded => raw_floor(dir.path(), n).await?,
        _ => remote_raw_floor(&floor_cfg, n, backend.concurrency()).await?,
    };

    let (create, ids) = concurrent_creates(&c, n, backend.concurrency()).await?;

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
    let lc = chronos.with(Route::tenant(DatabaseType::Runtime, "bench", "bench")?)?;
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
    let rc = chronos.with(Route::tenant(DatabaseType::Runtime, "bench", "restore")?)?;
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
        "{} backend, {} ops per workload (create and its raw floor at concurrency {}), deep item with {} versions, list over {} items\n\n",
        backend.describe(), n, backend.concurrency(), sizes.deep_versions, sizes.list_items
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

/// The backends `chronos bench` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchBackend {
    /// SQLite + local files.
    Embedded,
    /// MongoDB + S3, at the addresses of `scripts/test-servers.sh env`.
    MongoS3,
    /// MongoDB + Azure Blob, at the addresses of `scripts/test-servers.sh env`.
    MongoAzure,
}

impl BenchBackend {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "embedded" => Some(BenchBackend::Embedded),
            "mongo-s3" => Some(BenchBackend::MongoS3),
            "mongo-azure" => Some(BenchBackend::MongoAzure),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            BenchBackend::Embedded => "embedded (SQLite + local files)",
            BenchBackend::MongoS3 => "MongoDB + S3",
            BenchBackend::MongoAzure => "MongoDB + Azure Blob",
        }
    }

    /// Concurrency of the create phase and its raw floor.
    fn concurrency(self) -> usize {
        match self {
            BenchBackend::Embedded => 1,
            _ => 16,
        }
    }

    fn config(self, dir: &std::path::Path) -> Result<chronos_db::config::ChronosConfig, BoxError> {
        if self == BenchBackend::Embedded {
            return Ok(chronos_db::config::ChronosConfig::embedded(dir));
        }
        let var = |name: &str| {
            std::env::var(name).map_err(|_| format!("{name} is not set: start the servers with scripts/test-servers.sh start and eval \"$(scripts/test-servers.sh env)\""))
        };
        let space = match self {
            BenchBackend::MongoS3 => {
                json!({"provider": "s3", "endpoint": var("CHRONOS_TEST_S3_ENDPOINT")?, "region": "us-east-1",
                "accessKey": var("CHRONOS_TEST_S3_ACCESS_KEY")?, "secretKey": var("CHRONOS_TEST_S3_SECRET_KEY")?})
            }
            _ => json!({"provider": "azure", "endpoint": var("CHRONOS_TEST_AZURE_ENDPOINT")?,
                "accessKey": var("CHRONOS_TEST_AZURE_ACCOUNT")?, "secretKey": var("CHRONOS_TEST_AZURE_KEY")?}),
        };
        let ns = format!("bench{}", &chronos_db::names::generate_id()[14..]);
        let cfg = json!({
            "dbConnections": {"m": {"mongoUri": var("CHRONOS_TEST_MONGO_URI")?}},
            "spacesConnections": {"s": space},
            "databases": {"runtime": {"tenantTemplate": {"dbConnRef": "m", "spaceConnRef": "s", "bucket": "chronos-test",
                "prefix": format!("{ns}/{{tenantId}}"), "dbName": format!("{ns}_{{tenantId}}")}}}
        });
        Ok(chronos_db::config::ChronosConfig::from_json_value(cfg)?)
    }
}

/// `n` creates spread over `concurrency` tasks: per-op latencies and the phase's wall time.
async fn concurrent_creates(
    c: &chronos_db::Collection,
    n: usize,
    concurrency: usize,
) -> Result<(Stats, Vec<String>), BoxError> {
    let pb = bar(n, "create");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let c = c.clone();
        let pb = pb.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (t..n).step_by(concurrency) {
                let s = Instant::now();
                let r = c
                    .create(doc(i), "bench", "create", CreateOptions::default())
                    .await?;
                out.push((s.elapsed(), r.id));
                pb.inc(1);
            }
            Ok::<_, chronos_db::Error>(out)
        }));
    }
    let mut stats = Stats::new("create");
    let mut ids = Vec::with_capacity(n);
    for t in tasks {
        for (d, id) in t.await?? {
            stats.add(d);
            ids.push(id);
        }
    }
    stats.wall = Some(start.elapsed());
    pb.finish_and_clear();
    Ok((stats, ids))
}

/// The production backends' raw floor: one MongoDB insert plus one object PUT per op, with
/// the same driver, the same object_store client settings and the same concurrency.
async fn remote_raw_floor(
    cfg: &chronos_db::config::ChronosConfig,
    n: usize,
    concurrency: usize,
) -> Result<Stats, BoxError> {
    let uri = cfg.db_connections["m"]
        .mongo_uri
        .clone()
        .ok_or("no mongoUri")?;
    // The same driver with the same bounded timeouts the library uses.
    let mut options = mongodb::options::ClientOptions::parse(&uri).await?;
    options.server_selection_timeout = Some(Duration::from_secs(5));
    options.connect_timeout = Some(Duration::from_secs(5));
    let client = mongodb::Client::with_options(options)?;
    let coll = client
        .database(&format!("raw{}", &chronos_db::names::generate_id()[14..]))
        .collection::<mongodb::bson::Document>("raw_floor");
    let store = raw_object_store(&cfg.spaces_connections["s"], "chronos-test")?;
    let pb = bar(n, "raw floor");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let (coll, store, pb) = (coll.clone(), store.clone(), pb.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (t..n).step_by(concurrency) {
                let body = serde_json::to_vec(&doc(i))?;
                let s = Instant::now();
                store.put(&object_store::path::Path::from(format!("rawfloor/{i}/item.json")), bytes::Bytes::from(body.clone()).into()).await?;
                coll.insert_one(mongodb::bson::doc! {"i": i as i64, "body": String::from_utf8_lossy(&body).to_string()}).await?;
                out.push(s.elapsed());
                pb.inc(1);
            }
            Ok::<_, BoxError>(out)
        }));
    }
    let mut stats = Stats::new("raw floor (mongo insert + object put)");
    for t in tasks {
        for d in t.await?? {
            stats.add(d);
        }
    }
    stats.wall = Some(start.elapsed());
    pb.finish_and_clear();
    let _ = coll.drop().await;
    Ok(stats)
}

/// The object store of the raw floor, built directly with object_store (the floor measures
/// the service, not the library): S3 path-style or Azure at the configured endpoint.
fn raw_object_store(
    conn: &chronos_db::config::SpacesConnection,
    bucket: &str,
) -> Result<std::sync::Arc<dyn object_store::ObjectStore>, BoxError> {
    let endpoint = conn.endpoint.clone().ok_or("no endpoint")?;
    let options =
        object_store::ClientOptions::new().with_allow_http(endpoint.starts_with("http://"));
    let key = |k: &Option<String>| k.clone().ok_or("missing key");
    Ok(match conn.effective_provider() {
        chronos_db::config::Provider::Azure => std::sync::Arc::new(
            object_store::azure::MicrosoftAzureBuilder::new()
                .with_account(key(&conn.access_key)?)
                .with_access_key(key(&conn.secret_key)?)
                .with_container_name(bucket)
                .with_endpoint(endpoint)
                .with_client_options(options)
                .build()?,
        ),
        _ => std::sync::Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_endpoint(endpoint)
                .with_region(conn.region.clone().unwrap_or_else(|| "us-east-1".into()))
                .with_access_key_id(key(&conn.access_key)?)
                .with_secret_access_key(key(&conn.secret_key)?)
                .with_bucket_name(bucket)
                .with_virtual_hosted_style_request(false)
                .with_client_options(options)
                .build()?,
        ),
    })
}

/// Flushes a file and the directories above it (as the embedded store does with durability
/// `powerLoss`), so the raw floor pays the same disk flushes.
fn flush_to_disk(file: &std::path::Path, dir_levels: usize) -> std::io::Result<()> {
    let flush = |p: &std::path::Path| std::fs::File::open(p).and_then(|f| f.sync_all());
    flush(file)?;
    if cfg!(unix) {
        let mut dir = file.parent();
        for _ in 0..dir_levels {
            let Some(d) = dir else { break };
            flush(d)?;
            dir = d.parent();
        }
    }
    Ok(())
}
