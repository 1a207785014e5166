//! The command line: every command, its arguments and their parsers (clap).

use crate::output::Failure;
use chronos_db::names::{CollectionName, DomainName, TenantId};
use chronos_db::{DatabaseType, Route, Tier, Timestamp};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;

pub(crate) use crate::history_args::*;

/// The command line of `chronos`.
#[derive(Parser, Debug)]
#[command(
    name = "chronos",
    version,
    about = "Versioned, multi-tenant JSON persistence (chronos-db) from the command line"
)]
pub(crate) struct Cli {
    /// JSON configuration file (see `chronos config schema`).
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "data_dir")]
    pub(crate) config: Option<PathBuf>,

    /// Data directory of the embedded default, used when no --config is given
    /// [default: ./chronos-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands. Each variant carries its own `Args` struct and is dispatched in [`run`].
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
    /// What changed in an item between two versions: an RFC 6902 JSON Patch from --from to
    /// --to, and the paths it adds, removes and changes (arrays compared position by
    /// position). Each version is an ov, an RFC 3339 time (the version current then) or
    /// `latest`.
    Diff(DiffArgs),
    /// Every version an actor wrote in a collection (the --actor its writes passed), newest
    /// first, in pages; optionally within --from/--to.
    VersionsByActor(VersionsByActorArgs),
    /// The change feed: the collection's committed versions in cv order after --since-cv,
    /// never skipping one that commits late. Prints a page (pass its `nextSinceCv` back), or
    /// with --follow one JSON line per change as they commit, until interrupted.
    Changes(ChangesArgs),
    /// For every leaf of an item's content (JSON Pointer): the version that set its current
    /// value, who wrote it and when. --at names the version (an ov, an RFC 3339 time or
    /// `latest`).
    Blame(BlameArgs),
    /// The values one path of an item took, newest first: each version that set, changed or
    /// removed it, with who and when.
    FieldHistory(FieldHistoryArgs),
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
    /// Serve every operation over HTTP/JSON (OpenAPI document at /openapi.json). Without
    /// API keys in the configuration it only listens on loopback addresses.
    Serve(ServeArgs),
    /// Print the server's OpenAPI 3.1 document (what `chronos serve` serves at /openapi.json).
    Openapi,
    /// API keys for `chronos serve`.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Erase an item: its content leaves every version (objects, inline copies, indexed
    /// values), an ERASE tombstone stays, every later read answers ERASED, and a signed
    /// receipt goes to the logs database (`erasures`). Needs `erasure.receiptKey`. Running
    /// it again completes an interrupted erasure.
    Erase(EraseArgs),
    /// Erase every item of a tenant whose any version held VALUE in one of its collection's
    /// `subjectProps`, in every collection declaring them and every database of the tenant.
    /// Shared tiers only with --include-generic / --domain. Prints what was erased (with
    /// --dry-run, what would be).
    EraseSubject(EraseSubjectArgs),
    /// Erasure receipts.
    Erasure {
        #[command(subcommand)]
        command: ErasureCommand,
    },
    /// The fallback queue (`fallback.enabled`): writes whose backend did not answer, waiting
    /// to be replayed; its dead letters.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Real-time counters of a collection (counter rules: `counterRules`, `analytics`).
    Counters {
        #[command(subcommand)]
        command: CountersCommand,
    },
    /// Time-based and cross-tenant analytics rules (`analytics.timeBasedRules`,
    /// `analytics.crossTenantRules`): run them, read their results.
    Analytics {
        #[command(subcommand)]
        command: AnalyticsCommand,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AnalyticsCommand {
    /// Run the rules now (time-based for each tenant of analytics.tenants, or --tenant; the
    /// cross-tenant ones), or again every --every until interrupted. Prints each run's
    /// report (one JSON document per line with --every). Safe to run from two processes.
    Run(AnalyticsRunArgs),
    /// Print a tenant's stored results: its time-based rules', or with --cross-tenant those
    /// of the cross-tenant rules it is master of. Newest first.
    Results(AnalyticsResultsArgs),
}

/// Arguments of `chronos analytics run`.
#[derive(Args, Debug)]
pub(crate) struct AnalyticsRunArgs {
    /// Only this rule.
    #[arg(long, value_name = "NAME")]
    pub(crate) rule: Option<String>,
    /// Only this tenant (its time-based runs, and the cross-tenant rules it is master of).
    #[arg(long, value_name = "T")]
    pub(crate) tenant: Option<TenantId>,
    /// Run again this often (e.g. 15m, 1h, 1d; at least a minute) until interrupted.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub(crate) every: Option<std::time::Duration>,
}

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_age(s)?;
    if d < std::time::Duration::from_secs(60) {
        return Err(format!("'{s}' is shorter than a minute"));
    }
    Ok(d)
}

/// Arguments of `chronos analytics results`.
#[derive(Args, Debug)]
pub(crate) struct AnalyticsResultsArgs {
    /// The tenant (the master tenant, with --cross-tenant).
    #[arg(long, value_name = "T")]
    pub(crate) tenant: TenantId,
    /// The cross-tenant rules' results instead of the time-based ones.
    #[arg(long)]
    pub(crate) cross_tenant: bool,
    /// Only this rule's results.
    #[arg(long, value_name = "NAME")]
    pub(crate) rule: Option<String>,
    /// Only rules over this collection.
    #[arg(long, short = 'c', value_name = "C")]
    pub(crate) collection: Option<String>,
    /// Only this timeframe's: hourly, daily, weekly or monthly.
    #[arg(long, value_name = "TIMEFRAME", value_parser = parse_timeframe)]
    pub(crate) timeframe: Option<chronos_db::config::Timeframe>,
    /// Only buckets starting at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) from: Option<Timestamp>,
    /// Only buckets starting at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) to: Option<Timestamp>,
    /// At most this many (1-10000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub(crate) limit: u16,
}

fn parse_timeframe(s: &str) -> Result<chronos_db::config::Timeframe, String> {
    serde_json::from_value(Value::String(s.to_string()))
        .map_err(|_| format!("'{s}' is not one of hourly, daily, weekly, monthly"))
}

#[derive(Subcommand, Debug)]
pub(crate) enum QueueCommand {
    /// Counts: waiting writes (by operation), being replayed, dead letters, oldest age.
    Stats,
    /// The waiting writes in queueing order (request id, route, item, attempts, last error).
    List(QueueListArgs),
    /// The dead letters, most recent first, with the error that ended each.
    Dead(QueueListArgs),
    /// Queue a dead letter again (at the back, attempts reset), once its cause is fixed.
    Retry {
        /// Its request id.
        request_id: String,
    },
    /// Remove a waiting write or a dead letter for good.
    Cancel {
        /// Its request id.
        request_id: String,
    },
    /// Remove the dead letters given up longer ago than --older-than.
    Prune {
        /// Age, like 7d, 12h or 30m.
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: std::time::Duration,
    },
    /// Replay due writes once, until none is due; prints what happened.
    Drain,
    /// Replay writes as they fall due, until interrupted (what `chronos serve` runs).
    Work,
}

/// Arguments of `chronos queue list` and `chronos queue dead`.
#[derive(Args, Debug)]
pub(crate) struct QueueListArgs {
    /// At most this many (1-10000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub(crate) limit: u16,
    /// `list` only: start after this place in the queue (the last `seq` printed).
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub(crate) after: i64,
}

#[derive(Subcommand, Debug)]
pub(crate) enum CountersCommand {
    /// Print a collection's totals: writes per kind, and per rule with --rules or --rule.
    Totals(CounterTotalsArgs),
    /// Print the distinct values a rule counted for a property, a page at a time.
    Uniques(CounterUniquesArgs),
    /// Start a collection's counts again from zero (recorded in the logs database).
    Reset(CounterResetArgs),
}

/// Arguments of `chronos counters totals`.
#[derive(Args, Debug)]
pub(crate) struct CounterTotalsArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Include every rule's totals.
    #[arg(long)]
    pub(crate) rules: bool,
    /// Include this rule's totals (repeat for several; implies --rules for those only).
    #[arg(long = "rule", value_name = "NAME")]
    pub(crate) only: Vec<String>,
}

/// Arguments of `chronos counters uniques`.
#[derive(Args, Debug)]
pub(crate) struct CounterUniquesArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// The counter rule.
    #[arg(long, value_name = "NAME")]
    pub(crate) rule: String,
    /// The property, as written in the rule's countUnique (without `[]`).
    #[arg(long, value_name = "PATH")]
    pub(crate) property: String,
    /// Values per page (1-1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) limit: u16,
    /// The `next` cursor of the previous page.
    #[arg(long, value_name = "CURSOR")]
    pub(crate) cursor: Option<String>,
}

/// Arguments of `chronos counters reset`.
#[derive(Args, Debug)]
pub(crate) struct CounterResetArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Who resets (recorded with the reset).
    #[arg(long, default_value = "cli")]
    pub(crate) actor: String,
    /// Why (recorded with the reset).
    #[arg(long, default_value = "")]
    pub(crate) reason: String,
}

/// Arguments of `chronos serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address used is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    pub(crate) listen: std::net::SocketAddr,
}

#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Make a new random API key. Prints the key (shown this once: store it now) and the
    /// entry to add to `server.apiKeys` in the configuration, which keeps only its SHA-256.
    New(KeysNewArgs),
}

/// Arguments of `chronos keys new`.
#[derive(Args, Debug)]
pub(crate) struct KeysNewArgs {
    /// What the key may do, as databaseType:tier:scopeId:permission, `*` allowed in the first
    /// three parts, permission read < write < admin (e.g. runtime:tenant:tenant-a:write,
    /// knowledge:generic:*:read). Repeat for several scopes.
    #[arg(long = "scope", value_name = "SCOPE", required = true, value_parser = parse_scope)]
    pub(crate) scopes: Vec<String>,
    /// A name for the key, shown in logs (default: key-<first digest characters>); 1-64
    /// printable characters.
    #[arg(long, value_name = "NAME", value_parser = parse_key_id)]
    pub(crate) id: Option<String>,
}

fn parse_key_id(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 64 || text.chars().any(char::is_control) {
        return Err("a key id is 1-64 printable characters".into());
    }
    Ok(text.to_string())
}

fn parse_scope(text: &str) -> Result<String, String> {
    text.parse::<chronos_db::access::Scope>()
        .map(|s| s.to_string())
        .map_err(|e| e.to_string())
}

#[derive(Subcommand, Debug)]
pub(crate) enum AdminCommand {
    /// Find (and with --delete remove) payload objects no version references: leftovers of
    /// failed or interrupted writes. A dry run unless --delete is given.
    Gc(GcArgs),
    /// Prune the collection's versions to its retention (`retention.ver`,
    /// `collectionMaps.<c>.retention`): a dry run unless --delete is given. Prints what was
    /// (or would be) pruned; an interrupted run continues with --resume-after.
    Retention(RetentionArgs),
    /// Prune every collection of `collectionMaps` that has a retention policy, in every
    /// listed database and the template databases of --tenant / --domain (by default those
    /// of `retention.schedule`): what `chronos serve` runs on `retention.schedule`. A dry
    /// run unless --delete is given. Exits 1 when a collection failed (the others ran).
    RetentionSweep(RetentionSweepArgs),
    /// Check (default) or create every bucket of the configuration and print each one's
    /// state: exists, missing, created, skipped (per-tenant templates) or error. Exits 1
    /// when a bucket is missing or in error.
    Buckets(BucketsArgs),
    /// Destroy a tenant's data keys (encryption at rest): everything encrypted for it, in
    /// every copy of the objects, becomes unreadable for good; reads answer ERASED. Other
    /// tenants are untouched. Needs --yes.
    ShredTenant(ShredTenantArgs),
    /// Re-wrap every data key under `encryption.masterKey` (unwrapping with
    /// `encryption.previousMasterKeys`), in every listed database and those of --tenant.
    /// Payloads are not touched.
    RotateMasterKey(RotateMasterKeyArgs),
    /// Compact the metadata databases (embedded SQLite files): the space of pruned versions,
    /// erased and purged items goes back to the disk, and files created with an older page
    /// size take the current one. Visits every listed database and those of --tenant /
    /// --domain; a database not written yet is left alone. Each file must not be open in
    /// another process: stop `chronos serve` first. It needs free disk space of up to twice
    /// the file's size while it runs (part of it in SQLite's temporary directory:
    /// SQLITE_TMPDIR, else /var/tmp or /tmp). The first database that cannot be compacted
    /// ends the run (exit 1), the report saying which; MongoDB databases are reported as not
    /// applicable (the server manages its storage).
    Compact(CompactArgs),
}

/// Arguments of `chronos admin compact`.
#[derive(Args, Debug)]
pub(crate) struct CompactArgs {
    /// Tenants served by a template (repeatable): their databases are compacted too.
    #[arg(long = "tenant", value_name = "T")]
    pub(crate) tenants: Vec<TenantId>,
    /// Domains served by a template (repeatable): their databases are compacted too.
    #[arg(long = "domain", value_name = "D")]
    pub(crate) domains: Vec<DomainName>,
}

/// Arguments of `chronos admin retention-sweep`.
#[derive(Args, Debug)]
pub(crate) struct RetentionSweepArgs {
    /// Remove the versions outside retention (default: only report them).
    #[arg(long)]
    pub(crate) delete: bool,
    /// Tenants served by a template to sweep (repeatable; replaces `retention.schedule.tenants`).
    #[arg(long = "tenant", value_name = "T")]
    pub(crate) tenants: Vec<TenantId>,
    /// Domains served by a template to sweep (repeatable; replaces `retention.schedule.domains`).
    #[arg(long = "domain", value_name = "D")]
    pub(crate) domains: Vec<DomainName>,
}

/// Arguments of `chronos admin shred-tenant`.
#[derive(Args, Debug)]
pub(crate) struct ShredTenantArgs {
    /// The tenant whose data keys are destroyed.
    #[arg(long, value_name = "T")]
    pub(crate) tenant: TenantId,
    /// Confirm: this cannot be undone.
    #[arg(long)]
    pub(crate) yes: bool,
    #[command(flatten)]
    pub(crate) meta: WriteMeta,
}

/// Arguments of `chronos admin rotate-master-key`.
#[derive(Args, Debug)]
pub(crate) struct RotateMasterKeyArgs {
    /// Tenants served by a template (repeatable): their databases are visited too.
    #[arg(long = "tenant", value_name = "T")]
    pub(crate) tenants: Vec<TenantId>,
}

/// Arguments of `chronos admin buckets`.
#[derive(Args, Debug)]
pub(crate) struct BucketsArgs {
    /// Only report each bucket's state (the default).
    #[arg(long, conflicts_with = "create")]
    pub(crate) check: bool,
    /// Create the missing buckets.
    #[arg(long)]
    pub(crate) create: bool,
}

/// Arguments of `chronos erase`.
#[derive(Args, Debug)]
pub(crate) struct EraseArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) meta: WriteMeta,
}

/// Arguments of `chronos erase-subject`.
#[derive(Args, Debug)]
pub(crate) struct EraseSubjectArgs {
    /// The tenant whose data is erased.
    #[arg(long, value_name = "T")]
    pub(crate) tenant: TenantId,
    /// The subject's value (a customer id, an email), compared as a string.
    pub(crate) value: String,
    /// Read VALUE as JSON instead (`42`, `true`, `"42"`): indexed values compare by type.
    #[arg(long)]
    pub(crate) json: bool,
    /// Only list what would be erased.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Also search the generic tier of metadata, knowledge and logs (shared by every
    /// tenant).
    #[arg(long)]
    pub(crate) include_generic: bool,
    /// Also search this domain's databases (repeatable).
    #[arg(long = "domain", value_name = "D")]
    pub(crate) domains: Vec<DomainName>,
    #[command(flatten)]
    pub(crate) meta: WriteMeta,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ErasureCommand {
    /// Run every erasure of a collection again to its end (what a crash after an erasure's
    /// tombstone left: its receipt, objects, row content). Complete erasures change nothing.
    Resume {
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Check that a receipt exists, was never rewritten and carries a valid signature
    /// under `erasure.receiptKey`. Prints the check; exits 1 when it fails.
    Verify {
        /// The receipt id (`receiptId` of an erasure's report).
        receipt_id: String,
    },
}

/// Arguments of `chronos admin retention`.
#[derive(Args, Debug)]
pub(crate) struct RetentionArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Remove the versions outside retention (default: only report them).
    #[arg(long)]
    pub(crate) delete: bool,
    /// Continue after this item id (the `lastId` of an interrupted run's report).
    #[arg(long, value_name = "ID")]
    pub(crate) resume_after: Option<String>,
}

/// Arguments of `chronos admin gc`.
#[derive(Args, Debug)]
pub(crate) struct GcArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Only objects older than this (e.g. 30m, 1h, 2d); younger ones may belong to writes
    /// still in flight.
    #[arg(long, value_name = "AGE", default_value = "1h", value_parser = parse_age)]
    pub(crate) older_than: std::time::Duration,
    /// Remove the orphans (default: only report them).
    #[arg(long)]
    pub(crate) delete: bool,
}

/// The longest age `--older-than` accepts: far beyond any object's lifetime, and small
/// enough that "now minus the age" is a representable time.
pub(crate) const MAX_AGE_DAYS: u64 = 36_500;

pub(crate) fn parse_age(s: &str) -> Result<std::time::Duration, String> {
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
///
/// Without `--scale`, `--memory` or `--http` this is the standard run; `--scale` and
/// `--memory` run their measurement instead (both may be given), `--http` its own (alone, on
/// the embedded backend). Every size is bounded; the defaults come
/// from a preset (full on embedded, smaller on the remote backends, small with `--quick`).
#[derive(Args, Debug)]
#[command(
    after_help = "Runs: the standard run (default; the raw floor and the writes, then get_latest and the list pages, \
each group in alternating rounds so that the two figures of a ratio share the machine's load); --scale; --memory \
(these two may be combined); --http (alone, embedded backend only); --counters, --encryption, --compression (each alone). \
Figures are printed next to the ratios the project tracks (met/MISSED); use a release build. \
Each run's report is printed as soon as the run is over; its data (in a temporary directory, under --data-dir DIR when given) \
is removed after that: about 14 GB per million items on the embedded backend, which takes minutes."
)]
pub(crate) struct BenchArgs {
    /// The backend to measure (the remote ones at the addresses of
    /// `scripts/test-servers.sh env`).
    #[arg(long, default_value = "embedded", value_parser = chronos_bench::BenchBackend::NAMES)]
    pub(crate) backend: String,
    /// Small preset sizes (a smoke run, not figures to record).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Operations per workload of the standard run and of the HTTP run, and samples per
    /// operation and size of the scale run (1-1000000; overrides the preset: 2000, 200
    /// remote or --quick; HTTP run 20000, 200 --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=chronos_bench::MAX_OPS as i64))]
    pub(crate) ops: Option<u32>,
    /// Standard run: versions of the deep item read as of a time (1-1000000; preset 10000,
    /// 300 remote, 500 --quick).
    #[arg(long, value_name = "N", conflicts_with_all = ["scale", "memory"],
          value_parser = clap::value_parser!(u32).range(1..=chronos_bench::MAX_OPS as i64))]
    pub(crate) deep_versions: Option<u32>,
    /// Standard run: items of the listed collection (50-10000000; preset 100000, 5000
    /// remote, 10000 --quick).
    #[arg(long, value_name = "N", conflicts_with_all = ["scale", "memory"],
          value_parser = clap::value_parser!(u32).range(chronos_bench::MIN_LIST_ITEMS as i64..=chronos_bench::MAX_ITEMS as i64))]
    pub(crate) list_items: Option<u32>,
    /// Standard run: items changed then restored by restore_collection (1-10000000; preset
    /// 10000, 200 remote, 500 --quick).
    #[arg(long, value_name = "N", conflicts_with_all = ["scale", "memory"],
          value_parser = clap::value_parser!(u32).range(1..=chronos_bench::MAX_ITEMS as i64))]
    pub(crate) restore_items: Option<u32>,
    /// Run the scale measurement: create, get_latest, get_as_of and the list pages at each
    /// of --scale-sizes items in one growing collection (durability processCrash); on the
    /// embedded backend get_latest once more after the metadata files were read through.
    #[arg(long)]
    pub(crate) scale: bool,
    /// With --scale: the collection sizes, comma-separated, strictly ascending, at least two,
    /// each 50-10000000 (preset 10000,100000,1000000; 1000,10000,100000 remote; 1000,10000
    /// --quick).
    #[arg(long, value_name = "N,N,...", requires = "scale", value_parser = parse_scale_sizes)]
    pub(crate) scale_sizes: Option<ScaleSizes>,
    /// Run the memory measurement: peak resident memory of a restore_collection and of paging
    /// list_by_meta to the end (durability processCrash).
    #[arg(long)]
    pub(crate) memory: bool,
    /// With --memory: items paged through with the cursor (1-10000000; preset 1000000,
    /// 100000 remote, 20000 --quick).
    #[arg(long, value_name = "N", requires = "memory",
          value_parser = clap::value_parser!(u32).range(1..=chronos_bench::MAX_ITEMS as i64))]
    pub(crate) memory_items: Option<u32>,
    /// With --memory: items changed then restored by restore_collection (1-10000000; preset
    /// 100000, 10000 remote, 5000 --quick).
    #[arg(long, value_name = "N", requires = "memory",
          value_parser = clap::value_parser!(u32).range(1..=chronos_bench::MAX_ITEMS as i64))]
    pub(crate) memory_restore_items: Option<u32>,
    /// Run the HTTP measurement instead: create and get_latest at concurrency 32 through the
    /// library and through chronos-server on loopback HTTP, side by side (embedded backend
    /// only, durability processCrash; the server runs in the bench's process).
    #[arg(long, conflicts_with_all = ["scale", "memory", "deep_versions", "list_items", "restore_items"])]
    pub(crate) http: bool,
    /// Run the counters measurement instead: create with 3 counter rules (2 countUnique
    /// properties each) next to create without rules, then a rule counting
    /// --distinct-values distinct values, checked exact.
    #[arg(long, conflicts_with_all = ["scale", "memory", "http", "deep_versions", "list_items", "restore_items"])]
    pub(crate) counters: bool,
    /// Run the encryption measurement instead: create and get_latest with encryption at rest
    /// next to the same without it (--ops each, alternating rounds).
    #[arg(long, conflicts_with_all = ["scale", "memory", "http", "counters", "deep_versions", "list_items", "restore_items"])]
    pub(crate) encryption: bool,
    /// Run the compression measurement instead: create and get_latest of realistic order
    /// documents (0.8-25 KB) with writeOptimization.compressionEnabled next to the same
    /// without it, and the bytes each side stored (--ops each, alternating rounds).
    #[arg(long, conflicts_with_all = ["scale", "memory", "http", "counters", "encryption", "deep_versions", "list_items", "restore_items"])]
    pub(crate) compression: bool,
    /// With --counters: distinct values to count (1-10000000; preset 1000000, 100000
    /// remote, 20000 --quick).
    #[arg(long, value_name = "N", requires = "counters",
          value_parser = clap::value_parser!(u32).range(1..=chronos_bench::MAX_ITEMS as i64))]
    pub(crate) distinct_values: Option<u32>,
}

/// The sizes of `--scale-sizes`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScaleSizes(pub(crate) Vec<usize>);

pub(crate) fn parse_scale_sizes(s: &str) -> Result<ScaleSizes, String> {
    let sizes = s
        .split(',')
        .map(|part| {
            let part = part.trim();
            part.parse::<usize>()
                .map_err(|_| format!("'{part}' is not a whole number of items"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    chronos_bench::check_scale_sizes(&sizes)?;
    Ok(ScaleSizes(sizes))
}

#[derive(Subcommand, Debug)]
pub(crate) enum ConfigCommand {
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
pub(crate) struct RouteArgs {
    /// Database type: metadata, knowledge, runtime or logs.
    #[arg(long, value_name = "TYPE", default_value = "runtime")]
    pub(crate) db: DatabaseType,
    /// Tier: generic, domain or tenant [default: tenant for runtime, generic otherwise].
    #[arg(long, value_name = "TIER")]
    pub(crate) tier: Option<Tier>,
    /// Tenant id (tenant tier).
    #[arg(long, value_name = "T")]
    pub(crate) tenant: Option<TenantId>,
    /// Domain (domain tier).
    #[arg(long, value_name = "D")]
    pub(crate) domain: Option<DomainName>,
    /// Collection name.
    #[arg(long, short = 'c', value_name = "C")]
    pub(crate) collection: CollectionName,
}

impl RouteArgs {
    pub(crate) fn route(&self) -> Route {
        let tier = self.tier.unwrap_or(Tier::default_for(self.db));
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
pub(crate) struct DataArgs {
    /// The JSON document inline, or `-` to read it from stdin.
    #[arg(long, value_name = "JSON")]
    pub(crate) data: Option<String>,
    /// A file holding the JSON document (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) data_file: Option<PathBuf>,
}

impl DataArgs {
    /// The payload, read from at most `max_text` bytes of text (a longer text, an endless
    /// file or stdin, is refused without being read into memory).
    pub(crate) fn read(&self, max_text: usize) -> Result<Value, Failure> {
        let (text, source) = match (&self.data, &self.data_file) {
            (Some(d), _) if d == "-" => (
                read_bounded(std::io::stdin(), max_text, "stdin")?,
                "stdin".to_string(),
            ),
            (Some(d), _) => (d.clone(), "--data".to_string()),
            (None, Some(f)) if f.as_os_str() == "-" => (
                read_bounded(std::io::stdin(), max_text, "stdin")?,
                "stdin".to_string(),
            ),
            (None, Some(f)) => {
                let name = f.display().to_string();
                let file = std::fs::File::open(f)
                    .map_err(|e| Failure::new("IO_ERROR", format!("cannot read {name}: {e}")))?;
                (read_bounded(file, max_text, &name)?, name)
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

/// Reads UTF-8 text of at most `max` bytes.
fn read_bounded(input: impl Read, max: usize, source: &str) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    input
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new("IO_ERROR", format!("cannot read {source}: {e}")))?;
    if bytes.len() > max {
        return Err(Failure::new(
            "PAYLOAD_TOO_LARGE",
            format!("the payload text from {source} is longer than {max} bytes"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| Failure::new("VALIDATION_ERROR", format!("{source} is not UTF-8 text")))
}

/// Who writes and why (recorded with the version).
#[derive(Args, Debug)]
pub(crate) struct RequestIdArg {
    /// The write's request id (idempotency key): run again with the same id, it prints the
    /// first outcome instead of writing again.
    #[arg(long, value_name = "KEY")]
    pub(crate) request_id: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct WriteMeta {
    /// Actor recorded with the version.
    #[arg(long, value_name = "A", default_value = "cli")]
    pub(crate) actor: String,
    /// Reason recorded with the version.
    #[arg(long, value_name = "R", default_value = "")]
    pub(crate) reason: String,
}

#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Use this id instead of a generated one.
    #[arg(long)]
    pub(crate) id: Option<String>,
    /// Parent record id (lineage).
    #[arg(long, value_name = "X", requires = "parent_collection")]
    pub(crate) parent_id: Option<String>,
    /// Parent record collection.
    #[arg(long, value_name = "Y", requires = "parent_id")]
    pub(crate) parent_collection: Option<String>,
    /// Origin record id (lineage).
    #[arg(long, value_name = "X", requires = "origin_collection")]
    pub(crate) origin_id: Option<String>,
    /// Origin collection.
    #[arg(long, value_name = "Y", requires = "origin_id")]
    pub(crate) origin_collection: Option<String>,
    /// External system of the origin (originCollection becomes `<system>:<collection>`).
    #[arg(long, value_name = "S", requires = "origin_id")]
    pub(crate) origin_system: Option<String>,
    /// Save embedded objects as entities first: a JSON array of
    /// `{"property", "collection", "keyProperty", "databaseType"?, "tier"?}`.
    #[arg(long, value_name = "JSON", value_parser = parse_json,
          conflicts_with_all = ["id", "parent_id", "origin_id"])]
    pub(crate) entities: Option<Value>,
    #[command(flatten)]
    pub(crate) meta: WriteMeta,
    #[command(flatten)]
    pub(crate) request: RequestIdArg,
}

/// Read options shared by `get` and `query`.
#[derive(Args, Debug)]
pub(crate) struct ReadArgs {
    /// Include logically deleted items.
    #[arg(long)]
    pub(crate) include_deleted: bool,
    /// Keep only these dot paths of the content (comma-separated).
    #[arg(long, value_name = "PATHS", value_delimiter = ',')]
    pub(crate) projection: Option<Vec<String>>,
    /// Add signed URLs for the version's JSON and blobs (`_presigned`).
    #[arg(long)]
    pub(crate) presign: bool,
    /// Lifetime of the signed URLs in seconds (default 3600).
    #[arg(long, value_name = "SECONDS", requires = "presign")]
    pub(crate) ttl: Option<u64>,
}

#[derive(Args, Debug)]
pub(crate) struct GetArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    /// Read this object version.
    #[arg(long, value_name = "N", conflicts_with = "as_of")]
    pub(crate) ov: Option<u64>,
    /// Read the item as it was at this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub(crate) as_of: Option<Timestamp>,
    #[command(flatten)]
    pub(crate) read: ReadArgs,
}

#[derive(Args, Debug)]
pub(crate) struct UpdateArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    /// The ov the item must be at (optimistic lock).
    #[arg(long, value_name = "N")]
    pub(crate) expected_ov: u64,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    #[command(flatten)]
    pub(crate) meta: WriteMeta,
    #[command(flatten)]
    pub(crate) request: RequestIdArg,
}

#[derive(Args, Debug)]
pub(crate) struct DeleteArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    /// The ov the item must be at (optimistic lock).
    #[arg(long, value_name = "N")]
    pub(crate) expected_ov: u64,
    #[command(flatten)]
    pub(crate) meta: WriteMeta,
    #[command(flatten)]
    pub(crate) request: RequestIdArg,
}

#[derive(Args, Debug)]
pub(crate) struct EnrichArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    /// A patch object, or an array of patch objects.
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Recorded in `_system.functionIds`.
    #[arg(long, value_name = "F")]
    pub(crate) function_id: Option<String>,
    /// Fail with CONFLICT unless the item is at this ov (default: re-merge on concurrent writes).
    #[arg(long, value_name = "N")]
    pub(crate) expected_ov: Option<u64>,
    #[command(flatten)]
    pub(crate) meta: WriteMeta,
    #[command(flatten)]
    pub(crate) request: RequestIdArg,
}

#[derive(Args, Debug)]
pub(crate) struct HistoryArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    /// Page size (1-1000, default 50).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// Only versions below this ov (the `nextBeforeOv` of the previous page).
    #[arg(long, value_name = "N")]
    pub(crate) before_ov: Option<u64>,
    /// Also show each version's `storedSize` (its document as stored: compressed,
    /// encrypted), next to `size`; lists the item's objects once.
    #[arg(long)]
    pub(crate) stored_sizes: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(false))]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Item id.
    pub(crate) id: String,
    /// Restore this object version.
    #[arg(long, value_name = "N", group = "target")]
    pub(crate) ov: Option<u64>,
    /// Restore the state the item had at this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time, group = "target")]
    pub(crate) at: Option<Timestamp>,
    #[command(flatten)]
    pub(crate) meta: WriteMeta,
    #[command(flatten)]
    pub(crate) request: RequestIdArg,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(false))]
pub(crate) struct RestoreCollectionArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// Restore to this collection version.
    #[arg(long, value_name = "N", group = "target")]
    pub(crate) cv: Option<u64>,
    /// Restore to the collection's state at this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time, group = "target")]
    pub(crate) at: Option<Timestamp>,
    /// Count what would change; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Continue an interrupted run after this item id (its `lastId`).
    #[arg(long, value_name = "ID")]
    pub(crate) resume_after: Option<String>,
    #[command(flatten)]
    pub(crate) meta: WriteMeta,
}

/// Arguments of `chronos fetch`.
#[derive(Args, Debug)]
pub(crate) struct FetchArgs {
    /// Database type: knowledge or metadata.
    #[arg(long, value_name = "TYPE", default_value = "knowledge", value_parser = ["knowledge", "metadata"])]
    pub(crate) db: String,
    /// Collection name.
    #[arg(long, short = 'c', value_name = "C")]
    pub(crate) collection: String,
    /// MongoDB-style filter on indexed properties, e.g. '{"key":"feature-flags"}'.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub(crate) filter: Value,
    /// Look in this tenant's database too.
    #[arg(long, value_name = "T")]
    pub(crate) tenant: Option<String>,
    /// Look in this domain's database too.
    #[arg(long, value_name = "D")]
    pub(crate) domain: Option<String>,
    /// Merge all tiers found (generic ← domain ← tenant) instead of returning the most specific.
    #[arg(long)]
    pub(crate) merge: bool,
    /// With --merge: concatenate arrays instead of their union.
    #[arg(long, requires = "merge")]
    pub(crate) keep_duplicates: bool,
    /// With --merge: keep the values earlier tiers set (later tiers only add keys).
    #[arg(long, requires = "merge")]
    pub(crate) preserve_existing: bool,
}

/// Arguments of `chronos query`.
#[derive(Args, Debug)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    pub(crate) route: RouteArgs,
    /// MongoDB-style filter on indexed properties, e.g. '{"plan":"pro"}'.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub(crate) filter: Option<Value>,
    /// Sort keys, e.g. '{"name":1}' (the id is the final tie-break).
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub(crate) sort: Option<Value>,
    /// Page size (1-1000, default 50).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// The `next` cursor of the previous page.
    #[arg(long, value_name = "CURSOR")]
    pub(crate) after: Option<String>,
    /// Query the collection as it was at this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time, conflicts_with = "as_of_cv")]
    pub(crate) as_of: Option<Timestamp>,
    /// Query the collection as it was at this collection version.
    #[arg(long, value_name = "N")]
    pub(crate) as_of_cv: Option<u64>,
    #[command(flatten)]
    pub(crate) read: ReadArgs,
}

pub(crate) fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s)
}

pub(crate) fn parse_json(s: &str) -> Result<Value, String> {
    chronos_db::json::parse_unique_keys(s).map_err(|e| format!("not valid JSON: {e}"))
}
