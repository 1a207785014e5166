//! One function per command: parse what the library needs from the arguments, make one
//! library call, print its result.

use crate::args::*;
use crate::output::{print_json, print_text, Failure};
use chronos_db::config::ChronosConfig;
use chronos_db::ops::ReadAt;
use chronos_db::{
    Chronos, CollectionTarget, CreateOptions, EnrichOptions, HistoryOptions, LineageRef,
    ListOptions, OriginRef, ReadOptions, RestoreOptions, RestoreProgress, RestoreTarget,
};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The longest payload text read for a write: a document within `limits.maxPayloadBytes` may
/// be written with more whitespace, so the text may be 4× that (plus 1 MiB).
fn payload_text_limit(coll: &chronos_db::Collection) -> usize {
    coll.limits()
        .max_payload_bytes
        .saturating_mul(4)
        .saturating_add(1 << 20)
}

/// The embedded default data directory.
const DEFAULT_DATA_DIR: &str = "./chronos-data";

/// The global flags: how to open the instance.
pub(crate) struct Global {
    pub(crate) config: Option<PathBuf>,
    pub(crate) data_dir: Option<PathBuf>,
}

impl Global {
    pub(crate) async fn open(&self) -> Result<Chronos, Failure> {
        let config = match (&self.config, &self.data_dir) {
            (Some(file), _) => ChronosConfig::from_file(file)?,
            (None, Some(dir)) => ChronosConfig::embedded(dir),
            (None, None) => ChronosConfig::embedded(DEFAULT_DATA_DIR),
        };
        Ok(Chronos::open(config).await?)
    }

    pub(crate) async fn collection(
        &self,
        route: &RouteArgs,
    ) -> Result<chronos_db::Collection, Failure> {
        Ok(self.open().await?.with(route.route())?)
    }
}

/// The collection, with the write's request id when one was given.
fn keyed(
    coll: chronos_db::Collection,
    r: &RequestIdArg,
) -> Result<chronos_db::Collection, Failure> {
    match &r.request_id {
        Some(key) => Ok(coll.with_request_id(key)?),
        None => Ok(coll),
    }
}

/// Prints a write's outcome: its result once committed; the queued write (and a `QUEUED`
/// failure, exit code 3) when the fallback queue took it.
fn print_written(written: chronos_db::Result<chronos_db::WriteResult>) -> Result<(), Failure> {
    match written {
        Ok(w) => print_json(&w),
        Err(chronos_db::Error::Queued(q)) => {
            print_json(&q)?;
            Err(chronos_db::Error::Queued(q).into())
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn create(g: &Global, a: CreateArgs) -> Result<(), Failure> {
    let coll = keyed(g.collection(&a.route).await?, &a.request)?;
    let data = a.data.read(payload_text_limit(&coll))?;
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
    print_written(coll.create(data, &a.meta.actor, &a.meta.reason, opts).await)
}

pub(crate) fn read_options(r: ReadArgs) -> ReadOptions {
    ReadOptions {
        projection: r.projection,
        include_deleted: r.include_deleted,
        presign: r.presign,
        ttl_seconds: r.ttl,
    }
}

pub(crate) async fn get(g: &Global, a: GetArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let at = match (a.ov, a.as_of) {
        (Some(ov), _) => ReadAt::Ov(ov),
        (None, Some(t)) => ReadAt::Time(t),
        (None, None) => ReadAt::Latest,
    };
    let item = coll.read(&a.id, at, read_options(a.read)).await?;
    print_json(&item.to_document())
}

pub(crate) async fn update(g: &Global, a: UpdateArgs) -> Result<(), Failure> {
    let coll = keyed(g.collection(&a.route).await?, &a.request)?;
    let data = a.data.read(payload_text_limit(&coll))?;
    print_written(
        coll.update(&a.id, data, a.expected_ov, &a.meta.actor, &a.meta.reason)
            .await,
    )
}

pub(crate) async fn delete(g: &Global, a: DeleteArgs) -> Result<(), Failure> {
    let coll = keyed(g.collection(&a.route).await?, &a.request)?;
    print_written(
        coll.delete(&a.id, a.expected_ov, &a.meta.actor, &a.meta.reason)
            .await,
    )
}

pub(crate) async fn enrich(g: &Global, a: EnrichArgs) -> Result<(), Failure> {
    let coll = keyed(g.collection(&a.route).await?, &a.request)?;
    let patches = a.data.read(payload_text_limit(&coll))?;
    let opts = EnrichOptions {
        function_id: a.function_id,
        actor: a.meta.actor,
        reason: a.meta.reason,
        expected_ov: a.expected_ov,
    };
    print_written(coll.enrich(&a.id, patches, opts).await)
}

pub(crate) async fn history(g: &Global, a: HistoryArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    print_json(
        &coll
            .history(
                &a.id,
                HistoryOptions {
                    limit: a.limit,
                    before_ov: a.before_ov,
                    stored_sizes: a.stored_sizes,
                },
            )
            .await?,
    )
}

pub(crate) async fn diff(g: &Global, a: DiffArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    print_json(&coll.diff(&a.id, a.from, a.to).await?)
}

pub(crate) async fn changes(g: &Global, a: ChangesArgs) -> Result<(), Failure> {
    use chronos_db::ops::{ChangeContent, ChangesOptions};
    let coll = g.collection(&a.route).await?;
    let include = match a.include {
        IncludeArg::None => ChangeContent::None,
        IncludeArg::After => ChangeContent::After,
        IncludeArg::BeforeAfter => ChangeContent::BeforeAfter,
    };
    let mut opts = ChangesOptions {
        since_cv: a.since_cv,
        limit: a.limit,
        ops: a.ops,
        include,
    };
    if !a.follow {
        return print_json(&coll.changes(opts).await?);
    }
    loop {
        let page = coll.changes(opts.clone()).await?;
        for change in &page.changes {
            let line = serde_json::to_string(change).map_err(|e| {
                Failure::new("INTERNAL_ERROR", format!("cannot encode a change: {e}"))
            })?;
            let mut out = std::io::stdout();
            match writeln!(out, "{line}").and_then(|()| out.flush()) {
                Ok(()) => {}
                // The reader went away (`| head`): following is over.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => {
                    return Err(Failure::new(
                        "IO_ERROR",
                        format!("cannot write to stdout: {e}"),
                    ))
                }
            }
        }
        opts.since_cv = page.next_since_cv;
        if !page.more {
            tokio::time::sleep(std::time::Duration::from_millis(a.poll_ms)).await;
        }
    }
}

pub(crate) async fn blame(g: &Global, a: BlameArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    print_json(&coll.blame(&a.id, a.at).await?)
}

pub(crate) async fn field_history(g: &Global, a: FieldHistoryArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let opts = chronos_db::ops::FieldHistoryOptions {
        limit: a.limit,
        before_ov: a.before_ov,
    };
    print_json(&coll.field_history(&a.id, &a.path, opts).await?)
}

pub(crate) async fn versions_by_actor(g: &Global, a: VersionsByActorArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let opts = chronos_db::ops::ActorVersionsOptions {
        from: a.from,
        to: a.to,
        limit: a.limit,
        cursor: a.cursor,
    };
    print_json(&coll.versions_by_actor(&a.actor, opts).await?)
}

pub(crate) async fn restore(g: &Global, a: RestoreArgs) -> Result<(), Failure> {
    let coll = keyed(g.collection(&a.route).await?, &a.request)?;
    let target = match (a.ov, a.at) {
        (Some(ov), _) => RestoreTarget::Ov(ov),
        (None, Some(at)) => RestoreTarget::At(at),
        (None, None) => return Err(Failure::new("VALIDATION_ERROR", "give --ov or --at")),
    };
    print_written(
        coll.restore_object(&a.id, target, &a.meta.actor, &a.meta.reason)
            .await,
    )
}

pub(crate) async fn restore_collection(
    g: &Global,
    a: RestoreCollectionArgs,
) -> Result<(), Failure> {
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

pub(crate) async fn admin_retention(g: &Global, a: RetentionArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} retention [{bar:40}] {pos}/{len} items ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let on_progress = |p: &chronos_db::RetentionProgress| {
        bar.set_length(p.total.max(p.scanned));
        bar.set_position(p.scanned);
    };
    let opts = chronos_db::RetentionOptions {
        dry_run: !a.delete,
        resume_after: a.resume_after,
        progress: Some(&on_progress),
    };
    let report = coll.apply_retention(opts).await;
    bar.finish_and_clear();
    print_json(&report?)
}

/// `chronos admin compact`: every metadata database rewritten compactly, a spinner while
/// it lasts (a large file takes minutes).
pub(crate) async fn admin_compact(g: &Global, a: CompactArgs) -> Result<(), Failure> {
    let chronos = g.open().await?;
    let tenants: Vec<String> = a.tenants.iter().map(|t| t.to_string()).collect();
    let domains: Vec<String> = a.domains.iter().map(|d| d.to_string()).collect();
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message("compacting the metadata databases");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = chronos.compact_metadata(&tenants, &domains).await;
    spinner.finish_and_clear();
    let report = report?;
    print_json(&report)?;
    if report.failed() {
        return Err(Failure::new(
            "COMPACTION_FAILED",
            "a database could not be compacted (see its `error` above); the databases after it were not visited",
        ));
    }
    Ok(())
}

/// `chronos admin retention-sweep`: one retention run per covered collection.
pub(crate) async fn admin_retention_sweep(
    g: &Global,
    a: RetentionSweepArgs,
) -> Result<(), Failure> {
    let chronos = g.open().await?;
    let mut opts = chronos_db::admin::SweepOptions::scheduled(chronos.config());
    opts.dry_run = !a.delete;
    if !a.tenants.is_empty() {
        opts.tenants = a.tenants.iter().map(|t| t.to_string()).collect();
    }
    if !a.domains.is_empty() {
        opts.domains = a.domains.iter().map(|d| d.to_string()).collect();
    }
    let sweep = chronos.apply_retention_everywhere(&opts).await?;
    print_json(&sweep)?;
    if sweep.failed > 0 {
        return Err(Failure::new(
            "RETENTION_FAILED",
            format!(
                "retention failed for {} of {} collections (see their `error` above)",
                sweep.failed,
                sweep.collections.len()
            ),
        ));
    }
    Ok(())
}

pub(crate) async fn query(g: &Global, a: QueryArgs) -> Result<(), Failure> {
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

pub(crate) async fn fetch(g: &Global, a: FetchArgs) -> Result<(), Failure> {
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

pub(crate) async fn queue(g: &Global, command: QueueCommand) -> Result<(), Failure> {
    let chronos = g.open().await?;
    let queue = chronos.queue()?;
    match command {
        QueueCommand::Stats => print_json(&queue.stats().await?),
        QueueCommand::List(a) => print_json(&queue.list(a.after, usize::from(a.limit)).await?),
        QueueCommand::Dead(a) => print_json(&queue.dead(usize::from(a.limit)).await?),
        QueueCommand::Retry { request_id } => {
            queue.retry(&request_id).await?;
            print_json(&serde_json::json!({"requestId": request_id, "retried": true}))
        }
        QueueCommand::Cancel { request_id } => {
            queue.cancel(&request_id).await?;
            print_json(&serde_json::json!({"requestId": request_id, "cancelled": true}))
        }
        QueueCommand::Prune { older_than } => {
            let removed = queue.prune(older_than).await?;
            print_json(&serde_json::json!({"removed": removed}))
        }
        QueueCommand::Drain => print_json(&queue.drain().await?),
        QueueCommand::Work => {
            tracing::info!(journal = %queue.path().display(), "replaying queued writes until interrupted");
            queue.work(chronos_server::shutdown_signal()).await;
            Ok(())
        }
    }
}

pub(crate) async fn counters(g: &Global, command: CountersCommand) -> Result<(), Failure> {
    let chronos = g.open().await?;
    let counters = chronos.counters();
    match command {
        CountersCommand::Totals(a) => {
            let opts = chronos_db::counters::TotalsOptions {
                include_rules: a.rules || !a.only.is_empty(),
                rules: (!a.only.is_empty()).then_some(a.only),
            };
            print_json(&counters.get_totals(&a.route.route(), &opts).await?)
        }
        CountersCommand::Uniques(a) => print_json(
            &counters
                .get_unique_values(
                    &a.route.route(),
                    &a.rule,
                    &a.property,
                    a.cursor.as_deref(),
                    usize::from(a.limit),
                )
                .await?,
        ),
        CountersCommand::Reset(a) => print_json(
            &counters
                .reset_totals(&a.route.route(), &a.actor, &a.reason)
                .await?,
        ),
    }
}

pub(crate) async fn analytics(g: &Global, command: AnalyticsCommand) -> Result<(), Failure> {
    let chronos = g.open().await?;
    let jobs = chronos.analytics();
    match command {
        AnalyticsCommand::Run(a) => {
            let opts = chronos_db::analytics_jobs::RunOptions {
                rule: a.rule,
                tenant: a.tenant.map(|t| t.to_string()),
            };
            let Some(every) = a.every else {
                return print_json(&jobs.run(&opts).await?);
            };
            // One JSON document per line and run; a failed run is reported and the loop
            // goes on (the next run may succeed), until Ctrl-C or a closed stdout.
            let mut out = Ok(());
            jobs.run_every(&opts, every, chronos_server::shutdown_signal(), |outcome| {
                let line = match outcome {
                    Ok(report) => serde_json::to_string(&report).unwrap_or_default(),
                    Err(e) => {
                        serde_json::json!({"error": {"code": e.code(), "message": e.to_string()}})
                            .to_string()
                    }
                };
                out = print_text(&line);
                match out {
                    Ok(()) => std::ops::ControlFlow::Continue(()),
                    Err(_) => std::ops::ControlFlow::Break(()),
                }
            })
            .await;
            out
        }
        AnalyticsCommand::Results(a) => {
            let tenant = a.tenant.to_string();
            let query = chronos_db::analytics_jobs::ResultsQuery {
                rule: a.rule,
                collection: a.collection,
                timeframe: a.timeframe,
                from: a.from,
                to: a.to,
                limit: Some(usize::from(a.limit)),
            };
            let results = match a.cross_tenant {
                true => jobs.get_cross_tenant_results(&tenant, &query).await?,
                false => jobs.get_time_based_results(&tenant, &query).await?,
            };
            print_json(&results)
        }
    }
}

pub(crate) async fn config_check(file: &Path, connect: bool) -> Result<(), Failure> {
    let config = ChronosConfig::from_file(file)?;
    chronos_db::access::check_config(&config)?;
    chronos_db::analytics::check_config(&config)?;
    for key in config.inactive_keys() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "note: `{key}` has no effect here: it acts on counters, and the configuration has no counter rules"
        );
    }
    if let Ok(rules) = chronos_db::analytics::CounterRuleSet::from_config(&config) {
        for warning in rules.blind_spots(&config) {
            let _ = writeln!(std::io::stderr().lock(), "warning: {warning}");
        }
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
pub(crate) async fn admin_buckets(g: &Global, create: bool) -> Result<(), Failure> {
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

/// `chronos bench`: the options from the flags (a preset, then each size given), one run of
/// the bench crate, each section of its report on stdout as soon as its run is over (before
/// the run's data is removed).
/// `--data-dir`, when given, is where the run's temporary directories are made.
pub(crate) async fn bench(work_dir: Option<PathBuf>, a: BenchArgs) -> Result<(), Failure> {
    let backend: chronos_bench::BenchBackend = a
        .backend
        .parse()
        .map_err(|e: String| Failure::new("VALIDATION_ERROR", e))?;
    let mut opts = chronos_bench::BenchOptions::new(backend, a.quick);
    opts.scale = a.scale;
    opts.memory = a.memory;
    opts.http = a.http;
    opts.counters = a.counters;
    opts.encryption = a.encryption;
    opts.compression = a.compression;
    opts.work_dir = work_dir;
    let sizes = &mut opts.sizes;
    let set = |slot: &mut usize, v: Option<u32>| {
        if let Some(v) = v {
            *slot = v as usize;
        }
    };
    set(&mut sizes.ops, a.ops);
    set(&mut sizes.http_ops, a.ops);
    set(&mut sizes.deep_versions, a.deep_versions);
    set(&mut sizes.list_items, a.list_items);
    set(&mut sizes.restore_items, a.restore_items);
    set(&mut sizes.memory_items, a.memory_items);
    set(&mut sizes.memory_restore_items, a.memory_restore_items);
    set(&mut sizes.distinct_values, a.distinct_values);
    if let Some(ScaleSizes(s)) = a.scale_sizes {
        sizes.scale_sizes = s;
    }
    // A section that cannot be printed stops the bench (after its data is removed): the
    // runs after it could take hours for figures nobody would see.
    let mut unprinted = None;
    let ran = chronos_bench::run_each(&opts, |section| {
        print_text(section).map_err(|f| {
            let message = f.to_string();
            unprinted = Some(f);
            message.into()
        })
    })
    .await;
    if let Some(failure) = unprinted {
        return Err(failure);
    }
    ran.map_err(|e| {
        // The whole chain: a driver's error often says what went wrong only in its source
        // (library errors already print theirs).
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                message.push_str(&format!(": {text}"));
            }
            source = s.source();
        }
        Failure::new("BENCH_FAILED", message)
    })
}

pub(crate) async fn serve(g: &Global, a: ServeArgs) -> Result<(), Failure> {
    let chronos = g.open().await?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .map_err(|e| Failure::new("IO_ERROR", format!("cannot listen on {}: {e}", a.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::new("IO_ERROR", e.to_string()))?;
    let server = chronos_server::Server::new(chronos, &addr)
        .map_err(|e| Failure::new("CONFIG_ERROR", e.to_string()))?;
    let auth = if server.auth_enabled() {
        "on (API keys from server.apiKeys)"
    } else {
        "off (no API keys configured: loopback only)"
    };
    print_text(&format!("chronos serving on http://{addr} — auth {auth}"))?;
    server
        .serve(listener, chronos_server::shutdown_signal())
        .await
        .map_err(|e| Failure::new("IO_ERROR", e.to_string()))
}

pub(crate) fn keys_new(a: KeysNewArgs) -> Result<(), Failure> {
    let (key, sha256) = chronos_db::access::new_key();
    let id = a.id.unwrap_or_else(|| format!("key-{}", &sha256[..8]));
    let entry = chronos_db::config::ApiKeyEntry {
        id,
        sha256,
        scopes: a.scopes,
    };
    print_json(&serde_json::json!({
        "key": key,
        "apiKeysEntry": entry,
        "note": "The key is shown this once: store it now. Add apiKeysEntry to server.apiKeys; clients send `Authorization: Bearer <key>`.",
    }))
}

pub(crate) async fn erase(g: &Global, a: EraseArgs) -> Result<(), Failure> {
    let coll = g.collection(&a.route).await?;
    let opts = chronos_db::ops::EraseOptions {
        actor: a.meta.actor,
        reason: a.meta.reason,
        ..Default::default()
    };
    print_json(&coll.erase(&a.id, opts).await?)
}

pub(crate) async fn erase_subject(g: &Global, a: EraseSubjectArgs) -> Result<(), Failure> {
    let value = match a.json {
        true => serde_json::from_str(&a.value).map_err(|e| {
            Failure::new(
                "VALIDATION_ERROR",
                format!("VALUE is not JSON (--json): {e}"),
            )
        })?,
        false => Value::String(a.value),
    };
    let opts = chronos_db::erasure::SubjectErasureOptions {
        actor: a.meta.actor,
        reason: a.meta.reason,
        dry_run: a.dry_run,
        include_generic: a.include_generic,
        domains: a.domains.iter().map(|d| d.to_string()).collect(),
    };
    let chronos = g.open().await?;
    let report = chronos
        .erasure()
        .erase_subject(&a.tenant, &value, &opts)
        .await?;
    print_json(&report)
}

pub(crate) async fn erasure_verify(g: &Global, receipt_id: &str) -> Result<(), Failure> {
    let chronos = g.open().await?;
    let check = chronos.erasure().verify(receipt_id).await?;
    print_json(&check)?;
    match check.problem {
        None if check.valid => Ok(()),
        problem => Err(Failure::new(
            "RECEIPT_INVALID",
            problem.unwrap_or_else(|| "the receipt did not verify".into()),
        )),
    }
}

pub(crate) async fn admin_shred_tenant(g: &Global, a: ShredTenantArgs) -> Result<(), Failure> {
    if !a.yes {
        return Err(Failure::new(
            "VALIDATION_ERROR",
            format!(
                "shredding destroys tenant '{}''s data keys for good: add --yes to confirm",
                a.tenant
            ),
        ));
    }
    let chronos = g.open().await?;
    print_json(
        &chronos
            .shred_tenant(&a.tenant, &a.meta.actor, &a.meta.reason)
            .await?,
    )
}
