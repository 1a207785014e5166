//! The counters run: what counting costs a write, and distinct values past a million.
//!
//! * **Counting overhead.** `create` over distinct items on two instances of the backend,
//!   one without counter rules and one with three rules of two `countUnique` properties each
//!   (rules on the indexed properties, as most are), at the standard run's concurrency and
//!   the default durability, in alternating rounds so that drift hits both sides alike.
//!   Ratio: time per create with the rules over time per create without (target <= 1.3).
//! * **A million distinct values.** Items whose `tags` array holds [`VALUES_PER_ITEM`]
//!   values never seen before, counted by a rule with `countUnique: ["tags[]"]`, until the
//!   rule has [`BenchSizes::distinct_values`](crate::BenchSizes) of them. The count must be
//!   exact (checked, as is a write repeating old values, which adds none); `get_totals` is
//!   timed at the first item's values and at the last. Ratio: p50 at the end over p50 at the
//!   start (target <= 1.5: a total must not cost more to read as it grows).

use crate::backends::route;
use crate::data::{doc, GROUPS};
use crate::drive::{fill, timed};
use crate::scratch::Scratch;
use crate::stats::{ratio, ratio_line, table, Stats, Target};
use crate::{BenchOptions, Error};
use chronos_db::config::{ChronosConfig, Durability};
use chronos_db::counters::TotalsOptions;
use chronos_db::{Chronos, Collection, CreateOptions};
use serde_json::{json, Value};
use std::time::Instant;

/// New distinct values each item of the distinct-values phase adds.
pub(crate) const VALUES_PER_ITEM: usize = 1024;
/// The collection of both phases (tenant `bench` of the runtime database).
const COLLECTION: &str = "counted";
/// Alternating rounds of the overhead phase (each side runs `ops / ROUNDS` per round).
const ROUNDS: usize = 4;
/// Reads of the totals timed at each end of the distinct-values phase.
const TOTALS_READS: usize = 50;
/// The overhead target: time per create with the rules over time without.
const OVERHEAD_TARGET: f64 = 1.3;
/// The growth target of reading the totals.
const GROWTH_TARGET: f64 = 1.5;

/// Three rules of two distinct properties each, on the generated items' indexed properties.
fn three_rules(cfg: &mut ChronosConfig) -> Result<(), Error> {
    cfg.counter_rules = Some(serde_json::from_value(json!({"rules": [
        {"name": "active_users", "when": {"status": "active"}, "countUnique": ["email", "group"]},
        {"name": "all_creates", "on": ["CREATE"], "when": {}, "countUnique": ["group", "score"]},
        {"name": "high_scores", "when": {"score": {"$gte": 500}}, "countUnique": ["email", "status"]},
    ]}))?);
    Ok(())
}

/// Runs the counters measurement; returns its report section.
pub(crate) async fn counters(opts: &BenchOptions, scratch: &Scratch) -> Result<String, Error> {
    let backend = opts.backend;
    let n = opts.sizes.ops;
    let k = backend.concurrency();
    let durability = Durability::PowerLoss;

    // Overhead: the same creates on an instance without rules and one with three.
    let plain_dir = scratch.dir()?;
    let plain = Chronos::open(backend.config(&plain_dir, durability, &[COLLECTION])?).await?;
    let plain = plain.with(route(COLLECTION)?)?;
    let counted_dir = scratch.dir()?;
    let mut cfg = backend.config(&counted_dir, durability, &[COLLECTION])?;
    three_rules(&mut cfg)?;
    let counted_chronos = Chronos::open(cfg).await?;
    let counted = counted_chronos.with(route(COLLECTION)?)?;
    let per_round = (n / ROUNDS).max(1);
    let mut plain_stats = Stats::new(format!("create, no rules (concurrency {k})"));
    let mut counted_stats =
        Stats::new(format!("create, 3 rules x 2 countUnique (concurrency {k})"));
    for round in 0..ROUNDS {
        let base = round * per_round;
        for (coll, stats) in [(&plain, &mut plain_stats), (&counted, &mut counted_stats)] {
            let c = coll.clone();
            let (s, _) = timed(
                &format!("create round {}", round + 1),
                per_round,
                k,
                move |i| {
                    let c = c.clone();
                    async move {
                        c.create(
                            doc(base + i, GROUPS),
                            "bench",
                            "create",
                            CreateOptions::default(),
                        )
                        .await?;
                        Ok(())
                    }
                },
            )
            .await?;
            stats.merge(&s);
        }
    }
    let creates = per_round * ROUNDS;
    let totals = counted_chronos
        .counters()
        .get_totals(
            &route(COLLECTION)?,
            &TotalsOptions {
                include_rules: true,
                rules: None,
            },
        )
        .await?;
    if totals.counts.created != creates as u64 {
        return Err(format!(
            "the counted instance's totals say {} creates, {creates} were made",
            totals.counts.created
        )
        .into());
    }

    // A million distinct values.
    let target = opts.sizes.distinct_values;
    let items = target.div_ceil(VALUES_PER_ITEM);
    let values = items * VALUES_PER_ITEM;
    let distinct_dir = scratch.dir()?;
    let mut cfg = backend.config(&distinct_dir, Durability::ProcessCrash, &[COLLECTION])?;
    cfg.counter_rules = Some(serde_json::from_value(json!({"rules": [
        {"name": "tags", "scope": "payload", "when": {}, "countUnique": ["tags[]"]},
    ]}))?);
    let chronos = Chronos::open(cfg).await?;
    let coll = chronos.with(route(COLLECTION)?)?;
    create_tagged(&coll, 0).await?;
    let first = read_totals(
        &chronos,
        "get_totals at the first item's values",
        VALUES_PER_ITEM as u64,
    )
    .await?;
    let started = Instant::now();
    let c = coll.clone();
    fill(
        &format!("{values} distinct values"),
        1,
        items,
        backend.fill_concurrency(),
        move |i| {
            let c = c.clone();
            async move {
                create_tagged(&c, i).await?;
                Ok(0)
            }
        },
    )
    .await?;
    let fill_secs = started.elapsed().as_secs_f64();
    // A write whose values were all seen before adds none.
    coll.create(tagged(0), "bench", "repeat", CreateOptions::default())
        .await?;
    let last = read_totals(
        &chronos,
        &format!("get_totals at {values} values"),
        values as u64,
    )
    .await?;
    let page_started = Instant::now();
    let page = chronos
        .counters()
        .get_unique_values(&route(COLLECTION)?, "tags", "tags", None, 1000)
        .await?;
    let page_ms = page_started.elapsed().as_secs_f64() * 1e3;
    if page.values.len() != 1000 {
        return Err(format!("a page of 1000 distinct values had {}", page.values.len()).into());
    }

    let mut out = String::new();
    out.push_str(&format!(
        "{} backend, counters run\n\
         overhead: {creates} creates per side (~400-byte items, 4 indexed properties) at concurrency {k}, in {ROUNDS} alternating rounds, {}; \
         the counted side has 3 counter rules of 2 countUnique properties each (on indexed properties); its totals were checked: {creates} creates\n\
         distinct values: {items} items of {VALUES_PER_ITEM} new `tags` each, counted by one payload rule with countUnique [\"tags[]\"] \
         (durability processCrash, fill concurrency {}): {values} distinct values counted exactly (checked, also after a write repeating old values), \
         filled in {fill_secs:.1} s ({:.0} values/s); a page of 1000 values read in {page_ms:.1} ms\n\n",
        backend.describe(),
        backend.durability_note(durability),
        backend.fill_concurrency(),
        values as f64 / fill_secs,
    ));
    out.push_str(&table(&[&plain_stats, &counted_stats, &first, &last]));
    out.push_str("\nratios (same run):\n");
    out.push_str(&ratio_line(
        "create time with 3 rules / without (1 / ops/s ratio)",
        ratio(plain_stats.ops_per_sec(), counted_stats.ops_per_sec()),
        Target::AtMost(OVERHEAD_TARGET),
    ));
    out.push_str(&ratio_line(
        &format!("get_totals p50 at {values} values / at {VALUES_PER_ITEM}"),
        ratio(last.p50_secs(), first.p50_secs()),
        Target::AtMost(GROWTH_TARGET),
    ));
    Ok(out)
}

/// Item `i` of the distinct-values phase: [`VALUES_PER_ITEM`] tags no other item has.
fn tagged(i: usize) -> Value {
    let tags: Vec<String> = (0..VALUES_PER_ITEM)
        .map(|j| format!("t{}", i * VALUES_PER_ITEM + j))
        .collect();
    json!({"email": format!("user{i}@example.com"), "status": "idle", "group": "g0", "score": 0, "tags": tags})
}

async fn create_tagged(c: &Collection, i: usize) -> Result<(), Error> {
    c.create(tagged(i), "bench", "tags", CreateOptions::default())
        .await?;
    Ok(())
}

/// Times [`TOTALS_READS`] reads of the totals, each checked to count `expected` values.
async fn read_totals(chronos: &Chronos, name: &str, expected: u64) -> Result<Stats, Error> {
    let (chronos, name_owned) = (chronos.clone(), name.to_string());
    let (stats, _) = timed(name, TOTALS_READS, 1, move |_| {
        let (chronos, name) = (chronos.clone(), name_owned.clone());
        async move {
            let t = chronos
                .counters()
                .get_totals(
                    &route(COLLECTION)?,
                    &TotalsOptions {
                        include_rules: true,
                        rules: None,
                    },
                )
                .await?;
            let n = t
                .rules
                .as_ref()
                .and_then(|r| r.get("tags"))
                .and_then(|r| r.unique.get("tags"))
                .copied()
                .unwrap_or(0);
            if n != expected {
                return Err(
                    format!("{name}: {n} distinct values counted, {expected} expected").into(),
                );
            }
            Ok(())
        }
    })
    .await?;
    Ok(stats)
}
