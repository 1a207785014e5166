//! `chronos`: a thin command-line shell over the chronos-db library.
//!
//! Every command opens a [`Chronos`] instance (from `--config FILE`, or the embedded default
//! under `--data-dir`), performs one library call and prints its result as pretty JSON on
//! stdout. Failures print one line, `error: <CODE>: <message>`, on stderr and exit with 1;
//! usage errors are clap's (exit 2).

mod bench;
mod demo;
mod redacting_writer;

use chronos_db::config::ChronosConfig;
use chronos_db::{
    Chronos, CollectionTarget, CreateOptions, DatabaseType, EnrichOptions, HistoryOptions,
    LineageRef, ListOptions, OriginRef, ReadOptions, RestoreOptions, RestoreProgress,
    RestoreTarget, Route, Tier, Timestamp,
};
use clap::{Args, CommandFactory, Parser, Subcommand};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The embedded default data directory.
const DEFAULT_DATA_DIR: &str = "./chronos-data";

#[derive(Parser, Debug)]
#[command(
    name = "chronos",
    version,
    about = "Versioned, multi-tenant JSON persistence (chronos-db) from the command line"
)]
struct Cli {
    /// JSON configuration file (see `chronos config schema`).
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "data_dir")]
    config: Option<PathBuf>,

    /// Data directory of the embedded default, used when no --config is given
    /// [default: ./chronos-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

/// The commands. Each variant carries its own `Args` struct and is dispatched in [`run`].
#[derive(Subcommand, Debug)]
enum Command {
    /// Create an item (ov 0); prints the write result.
    Create(CreateArgs),
    /// Read an item: latest, a version (--ov) or as of a time (--as-of).
    Get(GetArgs),
    /// Replace an item's content (optimistic lock on --expected-ov).
    Update(UpdateArgs),
    /// Delete an item (a logical delete unless the configuration disables logicalDelete).
    Delete(DeleteArgs),
    /// Deep-merge one patch (object) or several (array) into an item.
    Enrich(EnrichArgs),
    /// List the versions of an item, newest first.
    History(HistoryArgs),
    /// Restore an item to an earlier version (appends a RESTORE version).
    Restore(RestoreArgs),
    /// Restore a whole collection to a collection version or a time.
    RestoreCollection(RestoreCollectionArgs),
    /// Query a collection on its indexed properties.
    Query(QueryArgs),
    /// Fetch a knowledge or metadata record across tiers: the most specific found (tenant,
    /// then domain, then generic), or all of them merged with --merge.
    Fetch(FetchArgs),
    /// Check a configuration file or print the configuration's JSON Schema.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// A narrated walk-through of the main features (also a smoke test: exits 1 on failure).
    Demo,
    /// Run the benchmark workloads next to the backend's raw floor (use a release build).
    Bench(BenchArgs),
    /// Maintenance commands.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Find (and with --delete remove) payload objects no version references: leftovers of
    /// failed or interrupted writes. A dry run unless --delete is given.
    Gc(GcArgs),
    /// Check (default) or create every bucket of the configuration and print each one's
    /// state: exists, missing, created, skipped (per-tenant templates) or error. Exits 1
    /// when a bucket is missing or in error.
    Buckets(BucketsArgs),
}

/// Arguments of `chronos admin buckets`.
#[derive(Args, Debug)]
struct BucketsArgs {
    /// Only report each bucket's state (the default).
    #[arg(long, conflicts_with = "create")]
    check: bool,
    /// Create the missing buckets.
    #[arg(long)]
    create: bool,
}

/// Arguments of `chronos admin gc`.
#[derive(Args, Debug)]
struct GcArgs {
    #[command(flatten)]
    route: RouteArgs,
    /// Only objects older than this (e.g. 30m, 1h, 2d); younger ones may belong to writes
    /// still in flight.
    #[arg(long, value_name = "AGE", default_value = "1h", value_parser = parse_age)]
    older_than: std::time::Duration,
    /// Remove the orphans (default: only report them).
    #[arg(long)]
    delete: bool,
}

/// The longest age `--older-than` accepts: far beyond any object's lifetime, and small
/// enough that "now minus the age" is a representable time.
const MAX_AGE_DAYS: u64 = 36_500;

fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    if num.is_empty() {
        return Err(format!("'{s}' is not an age like 30m, 1h or 2d"));
    }
    let too_long = || format!("'{s}' is longer than the maximum age of {MAX_AGE_DAYS}d");
    // Only digits here: a parse failure is an overflow.
    let n: u64 = num.parse().map_err(|_| too_long())?;
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" | "" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{s}': use the units s, m, h or d")),
    };
    match n.checked_mul(unit_secs) {
        Some(secs) if secs <= MAX_AGE_DAYS * 86_400 => Ok(std::time::Duration::from_secs(secs)),
        _ => Err(too_long()),
    }
}

/// Arguments of `chronos bench`.
#[derive(Args, Debug)]
struct BenchArgs {
    /// The backend to measure.
    #[arg(long, default_value = "embedded", value_parser = ["embedded", "mongo-s3", "mongo-azure"])]
    backend: String,
    /// Small workloads (a smoke run, not figures to record).
    #[arg(long)]
    quick: bool,
    /// Operations per workload (overrides the preset).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    ops: Option<u32>,
    /// Versions of the deep item read as of a time (overrides the preset).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    deep_versions: Option<u32>,
    /// Items of the listed collection, at least 50 (overrides the preset).
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..))]
    list_items: Option<u32>,
    /// Items changed then restored by restore_collection (overrides the preset).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    restore_items: Option<u32>,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate a configuration file: prints "config OK" or the error (exit 1).
    Check {
        /// The configuration file.
        file: PathBuf,
        /// Also contact every configured database and bucket and report each one.
        #[arg(long)]
        connect: bool,
    },
    /// Print the JSON Schema of the configuration document.
    Schema,
}

/// Where an item command goes.
#[derive(Args, Debug)]
struct RouteArgs {
    /// Database type: metadata, knowledge, runtime or logs.
    #[arg(long, value_name = "TYPE", default_value = "runtime")]
    db: DatabaseType,
    /// Tier: generic, domain or tenant [default: tenant for runtime, generic otherwise].
    #[arg(long, value_name = "TIER")]
    tier: Option<Tier>,
    /// Tenant id (tenant tier).
    #[arg(long, value_name = "T")]
    tenant: Option<String>,
    /// Domain (domain tier).
    #[arg(long, value_name = "D")]
    domain: Option<String>,
    /// Collection name.
    #[arg(long, short = 'c', value_name = "C")]
    collection: String,
}

impl RouteArgs {
    fn route(&self) -> Route {
        let tier = self.tier.unwrap_or(match self.db {
            DatabaseType::Runtime => Tier::Tenant,
            _ => Tier::Generic,
        });
        Route {
            database_type: self.db,
            tier,
            tenant_id: self.tenant.clone(),
            domain: self.domain.clone(),
            collection: self.collection.clone(),
        }
    }
}

/// The JSON payload of a write.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct DataArgs {
    /// The JSON document inline, or `-` to read it from stdin.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
    /// A file holding the JSON document (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    data_file: Option<PathBuf>,
}

impl DataArgs {
    fn read(&self) -> Result<Value, Failure> {
        let (text, source) = match (&self.data, &self.data_file) {
            (Some(d), _) if d == "-" => (read_stdin()?, "stdin".to_string()),
            (Some(d), _) => (d.clone(), "--data".to_string()),
            (None, Some(f)) if f.as_os_str() == "-" => (read_stdin()?, "stdin".to_string()),
            (None, Some(f)) => {
                let text = std::fs::read_to_string(f).map_err(|e| {
                    Failure::new("IO_ERROR", format!("cannot read {}: {e}", f.display()))
                })?;
                (text, f.display().to_string())
            }
            (None, None) => {
                return Err(Failure::new(
                    "VALIDATION_ERROR",
                    "no payload: give --data or --data-file",
                ))
            }
        };
        // A key given twice would silently lose one of its values: refused.
        chronos_db::json::parse_unique_keys(&text).map_err(|e| {
            Failure::new(
                "VALIDATION_ERROR",
                format!("the payload from {source} is not valid JSON: {e}"),
            )
        })
    }
}

fn read_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::new("IO_ERROR", format!("cannot read stdin: {e}")))?;
    Ok(text)
}

/// Who writes and why (recorded with the version).
#[derive(Args, Debug)]
struct WriteMeta {
    /// Actor recorded with the version.
    #[arg(long, value_name = "A", default_value = "cli")]
    actor: String,
    /// Reason recorded with the version.
    #[arg(long, value_name = "R", default_value = "")]
    reason: String,
}

#[derive(Args, Debug)]
struct CreateArgs {
    #[command(flatten)]
    route: RouteArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Use this id instead of a generated one.
    #[arg(long)]
    id: Option<String>,
    /// Parent record id (lineage).
    #[arg(long, value_name = "X", requires = "parent_collection")]
    parent_id: Option<String>,
    /// Parent record collection.
    #[arg(long, value_name = "Y", requires = "parent_id")]
    parent_collection: Option<String>,
    /// Origin record id (lineage).
    #[arg(long, value_name = "X", requires = "origin_collection")]
    origin_id: Option<String>,
    /// Origin collection.
    #[arg(long, value_name = "Y", requires = "origin_id")]
    origin_collection: Option<String>,
    /// External system of the origin (originCollection becomes `<system>:<collection>`).
    #[arg(long, value_name = "S", requires = "origin_id")]
    origin_system: Option<String>,
    /// Save embedded objects as entities first: a JSON array of
    /// `{"property", "collection", "keyProperty", "databaseType"?, "tier"?}`.
    #[arg(long, value_name = "JSON", value_parser = parse_json,
          conflicts_with_all = ["id", "parent_id", "origin_id"])]
    entities: Option<Value>,
    #[command(flatten)]
    meta: WriteMeta,
}

/// Read options shared by `get` and `query`.
#[derive(Args, Debug)]
struct ReadArgs {
    /// Include logically deleted items.
    #[arg(long)]
    include_deleted: bool,
    /// Keep only these dot paths of the content (comma-separated).
    #[arg(long, value_name = "PATHS", value_delimiter = ',')]
    projection: Option<Vec<String>>,
    /// Add signed URLs for the version's JSON and blobs (`_presigned`).
    #[arg(long)]
    presign: bool,
    /// Lifetime of the signed URLs in seconds (default 3600).
    #[arg(long, value_name = "SECONDS", requires = "presign")]
    ttl: Option<u64>,
}

#[derive(Args, Debug)]
struct GetArgs {
    #[command(flatten)]
    route: RouteArgs,
    /// Item id.
    id: String,
    /// Read this object version.
    #[arg(long, value_name = "N", conflicts_with = "as_of")]
    ov: Option<u64>,
    /// Read the item as it was at this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    as_of: Option<Timestamp>,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args, Debug)]
struct UpdateArgs {
    #[command(flatten)]
    route: RouteArgs,
    /// Item id.
    id: String,
    /// The ov the item must be at (optimistic lock).
    #[arg(long, value_name = "N")]
    expected_ov: u64,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    meta: WriteMeta,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    #[command(flatten)]
    route: RouteArgs,
    /// Item id.
    id: String,
    /// The ov the item must be at (optimistic lock).
    #[arg(long, value_name = "N")]
    expected_ov: u64,
    #[command(flatten)]
    meta: WriteMeta,
}

#[derive(Args, Debug)]
struct EnrichArgs {
    #[command(flatten)]
    route: RouteArgs,
    /// Item id.
    id: String,
    /// A patch object, or an array of patch objects.
    #[command(flatten)]
    data: DataArgs,
    /// Recorded in `_system.functionIds`.
    #[arg(long, value_name = "F")]
    function_id: Option<String>,
    /// Fail with CONFLICT unless the item is at this ov (default: re-merge on concurrent writes).
    #[arg(long, value_name = "N")]
    expected_ov: Option<u64>,
    #[command(flatten)]
    meta: WriteMeta,
}

#[derive(Args, Debug)]
struct HistoryArgs {
    #[command(flatten)]
    route: RouteArgs,
    /// Item id.
    id: String,
    /// Page size (1-1000, default 50).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Only versions below this ov (the `nextBeforeOv` of the previous page).
    #[arg(long, value_name = "N")]
    before_ov: Option<u64>,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(false))]
struct RestoreArgs {
    #[command(flatten)]
    route: RouteArgs,
    /// Item id.
    id: String,
    /// Restore this object version.
    #[arg(long, value_name = "N", group = "target")]
    ov: Option<u64>,
    /// Restore the state the item had at this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time, group = "target")]
    at: Option<Timestamp>,
    #[command(flatten)]
    meta: WriteMeta,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(false))]
struct RestoreCollectionArgs {
    #[command(flatten)]
    route: RouteArgs,
    /// Restore to this collection version.
    #[arg(long, value_name = "N", group = "target")]
    cv: Option<u64>,
    /// Restore to the collection's state at this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time, group = "target")]
    at: Option<Timestamp>,
    /// Count what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Continue an interrupted run after this item id (its `lastId`).
    #[arg(long, value_name = "ID")]
    resume_after: Option<String>,
    #[command(flatten)]
    meta: WriteMeta,
}

/// Arguments of `chronos fetch`.
#[derive(Args, Debug)]
struct FetchArgs {
    /// Database type: knowledge or metadata.
    #[arg(long, value_name = "TYPE", default_value = "knowledge", value_parser = ["knowledge", "metadata"])]
    db: String,
    /// Collection name.
    #[arg(long, short = 'c', value_name = "C")]
    collection: String,
    /// MongoDB-style filter on indexed properties, e.g. '{"key":"feature-flags"}'.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    filter: Value,
    /// Look in this tenant's database too.
    #[arg(long, value_name = "T")]
    tenant: Option<String>,
    /// Look in this domain's database too.
    #[arg(long, value_name = "D")]
    domain: Option<String>,
    /// Merge all tiers found (generic ← domain ← tenant) instead of returning the most specific.
    #[arg(long)]
    merge: bool,
    /// With --merge: concatenate arrays instead of their union.
    #[arg(long, requires = "merge")]
    keep_duplicates: bool,
    /// With --merge: keep the values earlier tiers set (later tiers only add keys).
    #[arg(long, requires = "merge")]
    preserve_existing: bool,
}

/// Arguments of `chronos query`.
#[derive(Args, Debug)]
struct QueryArgs {
    #[command(flatten)]
    route: RouteArgs,
    /// MongoDB-style filter on indexed properties, e.g. '{"plan":"pro"}'.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    filter: Option<Value>,
    /// Sort keys, e.g. '{"name":1}' (the id is the final tie-break).
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    sort: Option<Value>,
    /// Page size (1-1000, default 50).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// The `next` cursor of the previous page.
    #[arg(long, value_name = "CURSOR")]
    after: Option<String>,
    /// Query the collection as it was at this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time, conflicts_with = "as_of_cv")]
    as_of: Option<Timestamp>,
    /// Query the collection as it was at this collection version.
    #[arg(long, value_name = "N")]
    as_of_cv: Option<u64>,
    #[command(flatten)]
    read: ReadArgs,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s)
}

fn parse_json(s: &str) -> Result<Value, String> {
    chronos_db::json::parse_unique_keys(s).map_err(|e| format!("not valid JSON: {e}"))
}

/// A failure as the CLI reports it: `error: <code>: <message>`.
#[derive(Debug)]
pub(crate) struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<chronos_db::Error> for Failure {
    fn from(e: chronos_db::Error) -> Self {
        Failure::new(e.code(), e.to_string())
    }
}

impl From<chronos_db::config::ConfigError> for Failure {
    fn from(e: chronos_db::config::ConfigError) -> Self {
        chronos_db::Error::from(e).into()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One line, whatever the message: multi-line errors (config problems) are joined.
        let mut message = String::new();
        for line in self
            .message
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if !message.is_empty() {
                message.push_str(if message.ends_with(':') { " " } else { "; " });
            }
            message.push_str(line);
        }
        write!(f, "error: {}: {}", self.code, message)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Demo) && cli.config.is_some() {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "the demo runs on the embedded default; use --data-dir DIR instead of --config",
            )
            .exit();
    }
    init_logging();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // A closed or full stderr must not turn a clean failure into a panic.
            let _ = writeln!(std::io::stderr().lock(), "{failure}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(redacting_writer::Redacting(std::io::stderr))
        // Its fallback report of a failed write is an `eprintln!`, which panics when stderr
        // itself is the problem (closed, or a full disk).
        .log_internal_errors(false)
        .init();
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let global = Global {
        config: cli.config,
        data_dir: cli.data_dir,
    };
    match cli.command {
        Command::Create(a) => create(&global, a).await,
        Command::Get(a) => get(&global, a).await,
        Command::Update(a) => update(&global, a).await,
        Command::Delete(a) => delete(&global, a).await,
        Command::Enrich(a) => enrich(&global, a).await,
        Command::History(a) => history(&global, a).await,
        Command::Restore(a) => restore(&global, a).await,
        Command::RestoreCollection(a) => restore_collection(&global, a).await,
        Command::Query(a) => query(&global, a).await,
        Command::Fetch(a) => fetch(&global, a).await,
        Command::Config {
            command: ConfigCommand::Check { file, connect },
        } => config_check(&file, connect).await,
        Command::Config {
            command: ConfigCommand::Schema,
        } => print_json(&ChronosConfig::json_schema()),
        Command::Demo => demo::run(global.data_dir.as_deref()).await,
        Command::Admin {
            command: AdminCommand::Gc(a),
        } => {
            let coll = global.collection(&a.route).await?;
            let report = coll.sweep_orphans(a.older_than, !a.delete).await?;
            print_json(&report)
        }
        Command::Admin {
            command: AdminCommand::Buckets(a),
        } => admin_buckets(&global, a.create && !a.check).await,
        Command::Bench(a) => {
            let backend = bench::BenchBackend::parse(&a.backend).ok_or_else(|| {
                Failure::new(
                    "VALIDATION_ERROR",
                    format!("unknown backend '{}'", a.backend),
                )
            })?;
            let mut sizes = match (a.quick, backend) {
                (true, _) => bench::BenchSizes::quick(),
                (false, bench::BenchBackend::Embedded) => bench::BenchSizes::full(),
                (false, _) => bench::BenchSizes::remote(),
            };
            let set = |slot: &mut usize, v: Option<u32>| {
                if let Some(v) = v {
                    *slot = v as usize;
                }
            };
            set(&mut sizes.ops, a.ops);
            set(&mut sizes.deep_versions, a.deep_versions);
            set(&mut sizes.list_items, a.list_items);
            set(&mut sizes.restore_items, a.restore_items);

            let table = bench::run(backend, sizes)
                .await
                .map_err(|e| Failure::new("BENCH_FAILED", e.to_string()))?;
            print_text(&table.to_string())
        }
    }
}

/// The global flags: how to open the instance.
struct Global {
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
}

impl Global {
    async fn open(&self) -> Result<Chronos, Failure> {
        let config = match (&self.config, &self.data_dir) {
            (Some(file), _) => ChronosConfig::from_file(file)?,
            (None, Some(dir)) => ChronosConfig::embedded(dir),
            (None, None) => ChronosConfig::embedded(DEFAULT_DATA_DIR),
        };
        Ok(Chronos::open(config).await?)
    }

    async fn collection(&self, route: &RouteArgs) -> Result<chronos_db::Collection, Failure> {
        Ok(self.open().await?.with(route.route())?)
    }
}

/// Prints a value as pretty JSON on stdout. A closed pipe (`| head`) is not an error.
pub(crate) fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new("INTERNAL_ERROR", format!("cannot encode the output: {e}")))?;
    print_text(&text)
}

/// Prints a line on stdout. A closed pipe (`| head`) is not an error; any other write
/// failure (a full disk) is reported, never a panic.
pub(crate) fn print_text(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::new(
            "IO_ERROR",
            format!("cannot write to stdout: {e}"),
        )),
        _ => Ok(()),
    }
}

async fn create(g: &Global, a: CreateArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let data = a.data.read()?;
    if let Some(mappings) = a.entities {
        let mappings: Vec<chronos_db::ops::EntityMapping> = serde_json::from_value(mappings)
            .map_err(|e| Failure::new("VALIDATION_ERROR", format!("--entities: {e}")))?;
        let done = coll
            .insert_with_entities(data, &mappings, &a.meta.actor, &a.meta.reason)
            .await?;
        return print_json(&done);
    }
    let opts = CreateOptions {
        id: a.id,
        parent: a
            .parent_id
            .zip(a.parent_collection)
            .map(|(id, collection)| LineageRef { id, collection }),
        origin: a
            .origin_id
            .zip(a.origin_collection)
            .map(|(id, collection)| OriginRef {
                id,
                collection,
                system: a.origin_system,
            }),
    };
    print_json(
        &coll
            .create(data, &a.meta.actor, &a.meta.reason, opts)
            .await?,
    )
}

fn read_options(r: ReadArgs) -> ReadOptions {
    ReadOptions {
        projection: r.projection,
        include_deleted: r.include_deleted,
        presign: r.presign,
        ttl_seconds: r.ttl,
    }
}

async fn get(g: &Global, a: GetArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let include_deleted = a.read.include_deleted;
    let opts = read_options(a.read);
    let id = a.id.as_str();
    let (item, what) = match (a.ov, a.as_of) {
        (Some(ov), _) => (
            coll.get_version(id, ov, opts).await?,
            format!("version {ov} of item '{id}'"),
        ),
        (None, Some(at)) => (
            coll.get_as_of(id, at, opts).await?,
            format!("item '{id}' as of {at}"),
        ),
        (None, None) => (coll.get_latest(id, opts).await?, format!("item '{id}'")),
    };
    match item {
        Some(item) => print_json(&item.to_document()),
        None => {
            // Say why when the only reason is a deletion (a cheap second read).
            let deleted = !include_deleted && {
                let again = ReadOptions {
                    include_deleted: true,
                    projection: Some(vec![]),
                    ..Default::default()
                };
                let found = match (a.ov, a.as_of) {
                    (Some(ov), _) => coll.get_version(id, ov, again).await,
                    (None, Some(at)) => coll.get_as_of(id, at, again).await,
                    (None, None) => coll.get_latest(id, again).await,
                };
                matches!(found, Ok(Some(_)))
            };
            let hint = if deleted {
                " (it is deleted; pass --include-deleted to see it)"
            } else {
                ""
            };
            Err(chronos_db::Error::NotFound(format!("{what}{hint}")).into())
        }
    }
}

async fn update(g: &Global, a: UpdateArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let data = a.data.read()?;
    print_json(
        &coll
            .update(&a.id, data, a.expected_ov, &a.meta.actor, &a.meta.reason)
            .await?,
    )
}

async fn delete(g: &Global, a: DeleteArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    print_json(
        &coll
            .delete(&a.id, a.expected_ov, &a.meta.actor, &a.meta.reason)
            .await?,
    )
}

async fn enrich(g: &Global, a: EnrichArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let patches = a.data.read()?;
    let opts = EnrichOptions {
        function_id: a.function_id,
        actor: a.meta.actor,
        reason: a.meta.reason,
        expected_ov: a.expected_ov,
    };
    print_json(&coll.enrich(&a.id, patches, opts).await?)
}

async fn history(g: &Global, a: HistoryArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    print_json(
        &coll
            .history(
                &a.id,
                HistoryOptions {
                    limit: a.limit,
                    before_ov: a.before_ov,
                },
            )
            .await?,
    )
}

async fn restore(g: &Global, a: RestoreArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let target = match (a.ov, a.at) {
        (Some(ov), _) => RestoreTarget::Ov(ov),
        (None, Some(at)) => RestoreTarget::At(at),
        (None, None) => return Err(Failure::new("VALIDATION_ERROR", "give --ov or --at")),
    };
    print_json(
        &coll
            .restore_object(&a.id, target, &a.meta.actor, &a.meta.reason)
            .await?,
    )
}

async fn restore_collection(g: &Global, a: RestoreCollectionArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let target = match (a.cv, a.at) {
        (Some(cv), _) => CollectionTarget::Cv(cv),
        (None, Some(at)) => CollectionTarget::At(at),
        (None, None) => return Err(Failure::new("VALIDATION_ERROR", "give --cv or --at")),
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} restoring [{bar:40}] {pos}/{len} items ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let on_progress = |p: &RestoreProgress| {
        bar.set_length(p.total.max(p.processed));
        bar.set_position(p.processed);
    };
    let opts = RestoreOptions {
        dry_run: a.dry_run,
        resume_after: a.resume_after,
        actor: a.meta.actor,
        reason: a.meta.reason,
        progress: Some(&on_progress),
    };
    let report = coll.restore_collection(target, opts).await;
    bar.finish_and_clear();
    print_json(&report?)
}

async fn query(g: &Global, a: QueryArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let opts = ListOptions {
        filter: a.filter,
        sort: a.sort,
        limit: a.limit,
        after: a.after,
        as_of_time: a.as_of,
        as_of_cv: a.as_of_cv,
        include_deleted: a.read.include_deleted,
        projection: a.read.projection,
        presign: a.read.presign,
        ttl_seconds: a.read.ttl,
    };
    let page = coll.list_by_meta(opts).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|i| Value::Object(i.to_document()))
        .collect();
    print_json(&serde_json::json!({ "items": items, "next": page.next }))
}

async fn fetch(g: &Global, a: FetchArgs) -> Result<(), Failure> {
    let chronos = g.open().await?;
    let opts = chronos_db::tiered::TieredOptions {
        tenant_id: a.tenant,
        domain: a.domain,
        merge: a.merge,
        merge_options: chronos_db::merge::MergeOptions {
            dedupe_arrays: !a.keep_duplicates,
            preserve_existing: a.preserve_existing,
        },
        include_deleted: false,
    };
    let found = if a.db == "metadata" {
        chronos.get_metadata(&a.collection, a.filter, opts).await?
    } else {
        chronos.get_knowledge(&a.collection, a.filter, opts).await?
    };
    print_json(&found.to_json())
}

async fn config_check(file: &Path, connect: bool) -> Result<(), Failure> {
    let config = ChronosConfig::from_file(file)?;
    for key in config.inactive_keys() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "note: `{key}` is accepted but not yet in effect (nothing acts on it yet)"
        );
    }
    if !connect {
        return print_text("config OK");
    }
    let chronos = Chronos::open(config).await?;
    let checks = chronos.check_connections().await;
    print_json(&checks)?;
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(Failure::new(
            "CONNECTION_ERROR",
            format!(
                "{failed} of {} connection checks failed (see above)",
                checks.len()
            ),
        ));
    }
    Ok(())
}

/// `chronos admin buckets`: every bucket's state; a missing or failed bucket fails the run.
async fn admin_buckets(g: &Global, create: bool) -> Result<(), Failure> {
    let chronos = g.open().await?;
    let states = chronos.bucket_states(create).await;
    print_json(&states)?;
    let bad: Vec<String> = states
        .iter()
        .filter(|b| {
            matches!(
                b.state,
                chronos_db::admin::BucketStatus::Missing | chronos_db::admin::BucketStatus::Error
            )
        })
        .map(|b| {
            let state = serde_json::to_value(b.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("{}/{} ({state})", b.connection, b.bucket)
        })
        .collect();
    if !bad.is_empty() {
        return Err(Failure::new(
            "BUCKET_ERROR",
            format!(
                "{} of {} buckets are missing or in error: {}",
                bad.len(),
                states.len(),
                bad.join(", ")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn failures_print_on_one_line() {
        let f = Failure::new("CONFIG_ERROR", "invalid config:\n$.a: bad\n$.b: worse");
        assert_eq!(
            f.to_string(),
            "error: CONFIG_ERROR: invalid config: $.a: bad; $.b: worse"
        );
    }

    #[test]
    fn tier_defaults_follow_the_database_type() {
        let cli = Cli::parse_from(["chronos", "get", "--collection", "c", "--tenant", "t", "x"]);
        let Command::Get(a) = cli.command else {
            panic!("parsed as get")
        };
        assert_eq!(
            a.route.route(),
            Route::tenant(DatabaseType::Runtime, "t", "c")
        );
        let cli = Cli::parse_from(["chronos", "get", "--db", "logs", "--collection", "c", "x"]);
        let Command::Get(a) = cli.command else {
            panic!("parsed as get")
        };
        assert_eq!(a.route.route(), Route::logs("c"));
    }
}
