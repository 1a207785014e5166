//! The standard run: the raw floor, the writes at the floor's concurrency, the single-item
//! reads, the list pages and a collection restore, with their ratios.

use crate::backends::{route, BenchBackend};
use crate::data::{
    doc, eq_query, expected_page, group_count, groups_for, item_id, range_query, range_start,
    revised, score_count, Rng, GROUPS,
};
use crate::drive::{bar, fill, fill_named, timed};
use crate::floors::RawFloor;
use crate::scratch::Scratch;
use crate::stats::{ratio, ratio_line, table, Stats, Target};
use crate::{BenchOptions, Error};
use chronos_db::config::Durability;
use chronos_db::{
    Chronos, Collection, CollectionTarget, CreateOptions, EnrichOptions, ListOptions, ReadOptions,
    RestoreOptions, Timestamp,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// The most alternating rounds of the standard run's measured phases: in each round every
/// workload of a phase runs its share of the operations, so that a change in the machine's
/// load hits the figures a ratio compares alike (a machine's speed can move by 2x within
/// minutes).
const ROUNDS: usize = 10;

/// The operations each task of a concurrent phase runs at least per round: fewer, and the
/// wait for a round's slowest task would weigh on its throughput.
const MIN_OPS_PER_TASK: usize = 10;

/// The rounds of `n` operations at `concurrency`: [`ROUNDS`], fewer when a round would give
/// a task fewer than [`MIN_OPS_PER_TASK`] operations, at least one.
fn rounds_for(n: usize, concurrency: usize) -> usize {
    (n / (concurrency.max(1) * MIN_OPS_PER_TASK)).clamp(1, ROUNDS)
}

/// The operations of round `r` of `rounds`: all of `0..n` over the rounds, in ascending
/// order.
fn round_range(n: usize, rounds: usize, r: usize) -> std::ops::Range<usize> {
    r * n / rounds..(r + 1) * n / rounds
}

/// The collections of the standard run.
const OPS: &str = "bench";
const LIST: &str = "list";
const RESTORE: &str = "restore";

/// Runs every workload of the standard run on one backend; returns its report section.
pub(crate) async fn standard(opts: &BenchOptions, scratch: &Scratch) -> Result<String, Error> {
    let (backend, sizes) = (opts.backend, &opts.sizes);
    let dir = scratch.dir()?;
    let durability = Durability::PowerLoss;
    let cfg = backend.config(&dir, durability, &[OPS, LIST, RESTORE])?;
    let chronos = Chronos::open(cfg.clone()).await?;
    let c = chronos.with(route(OPS)?)?;
    let n = sizes.ops;
    let k = backend.concurrency();
    let mut rng = Rng::new();

    // The floor and the writes over distinct items at the floor's concurrency, throughput
    // from wall time, in alternating rounds: each round writes the next items of each.
    let write_rounds = rounds_for(n, k);
    let floor = Arc::new(RawFloor::open(backend, &dir, &cfg).await?);
    let mut floor_stats = Stats::new(floor.name());
    let mut create = Stats::new("create");
    let mut update = Stats::new(format!("update (concurrency {k})"));
    let mut enrich = Stats::new(format!("enrich (concurrency {k})"));
    let mut ids: Vec<String> = Vec::with_capacity(n);
    for r in 0..write_rounds {
        let round = round_range(n, write_rounds, r);
        let (base, len) = (round.start, round.len());
        if len == 0 {
            continue;
        }
        let f = floor.clone();
        let (s, _) = timed(&format!("raw floor, round {}", r + 1), len, k, move |i| {
            let f = f.clone();
            async move { f.write(base + i).await }
        })
        .await?;
        floor_stats.merge(&s);
        let cc = c.clone();
        let (s, created) = timed(&format!("create, round {}", r + 1), len, k, move |i| {
            let c = cc.clone();
            async move {
                let r = c
                    .create(
                        doc(base + i, GROUPS),
                        "bench",
                        "create",
                        CreateOptions::default(),
                    )
                    .await?;
                Ok(r.id)
            }
        })
        .await?;
        create.merge(&s);
        let created = Arc::new(created);
        let (cc, ids2) = (c.clone(), created.clone());
        let (s, _) = timed(&format!("update, round {}", r + 1), len, k, move |i| {
            let (c, ids) = (cc.clone(), ids2.clone());
            async move {
                c.update(&ids[i], doc(base + i + 1, GROUPS), 0, "bench", "update")
                    .await?;
                Ok(())
            }
        })
        .await?;
        update.merge(&s);
        let (cc, ids2) = (c.clone(), created.clone());
        let (s, _) = timed(&format!("enrich, round {}", r + 1), len, k, move |i| {
            let (c, ids) = (cc.clone(), ids2.clone());
            async move {
                let opts = EnrichOptions {
                    function_id: Some("bench@1".into()),
                    actor: "bench".into(),
                    reason: "enrich".into(),
                    expected_ov: None,
                };
                c.enrich(
                    &ids[i],
                    json!({"tags": ["enriched"], "enrichment": {"n": base + i}}),
                    opts,
                )
                .await?;
                Ok(())
            }
        })
        .await?;
        enrich.merge(&s);
        ids.extend(created.iter().cloned());
    }
    floor.finish().await;
    let floor = floor_stats;

    let (latest_deep, as_of) = deep_history(&c, n, sizes.deep_versions, &mut rng).await?;

    // The listed collection, apart from the others so that every count is known.
    let lc = chronos.with(route(LIST)?)?;
    let items = sizes.list_items;
    let groups = groups_for(items);
    let fc = lc.clone();
    fill(
        "list collection",
        0,
        items,
        backend.fill_concurrency(),
        move |i| {
            let c = fc.clone();
            async move {
                let r = c
                    .create(doc(i, groups), "bench", "fill", CreateOptions::default())
                    .await?;
                Ok(r.cv)
            }
        },
    )
    .await?;

    // `get_latest` and the list pages, typed and through the JSON read path (what an HTTP
    // server or the CLI sends on), in alternating rounds.
    let mut latest = Stats::new("get_latest");
    let mut list_eq = Stats::new("list_by_meta (indexed eq, page of 50)");
    let mut list_range = Stats::new("list_by_meta (range + sort, page of 50)");
    let mut json_eq = Stats::new("list_by_meta_json (indexed eq, page of 50)");
    let mut json_range = Stats::new("list_by_meta_json (range + sort, page of 50)");
    let read_rounds = rounds_for(n, 1);
    let pb = bar(5 * n, "reads");
    for r in 0..read_rounds {
        let round = round_range(n, read_rounds, r);
        for i in round.clone() {
            let start = Instant::now();
            let item = c.get_latest(&ids[i], ReadOptions::default()).await?;
            latest.add(start.elapsed());
            if item.is_none() {
                return Err(format!("get_latest: item {i} is missing").into());
            }
        }
        for _ in round.clone() {
            let g = rng.below(groups);
            let want = expected_page(group_count(items, groups, g));
            list_eq.add(list_page(&lc, eq_query(g), want, None).await?);
        }
        for _ in round.clone() {
            let x = range_start(items, rng.next_u64());
            let want = expected_page(score_count(items, x));
            list_range.add(list_page(&lc, range_query(x), want, Some(x)).await?);
        }
        for _ in round.clone() {
            let g = rng.below(groups);
            let want = expected_page(group_count(items, groups, g));
            json_eq.add(json_page(&lc, eq_query(g), want).await?);
        }
        for _ in round.clone() {
            let x = range_start(items, rng.next_u64());
            let want = expected_page(score_count(items, x));
            json_range.add(json_page(&lc, range_query(x), want).await?);
        }
        pb.inc(5 * round.len() as u64);
    }
    pb.finish_and_clear();

    let (update_seq, restore) = restore_workload(&chronos, backend, sizes.restore_items).await?;

    let rounds = |r: usize| match r {
        1 => "1 round".to_string(),
        r => format!("{r} alternating rounds"),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "{} backend, standard run, {}\n{n} ops per workload (create, update, enrich and the raw floor at concurrency {k}, over distinct items) \
         in {}, get_latest and the list pages in {}, deep item with {} versions, list over {items} items (equality filter over {groups} group values: a full page each), restore of {} items\n\n",
        backend.describe(),
        backend.durability_note(durability),
        rounds(write_rounds),
        rounds(read_rounds),
        sizes.deep_versions,
        sizes.restore_items,
    ));
    out.push_str(&table(&[
        &floor,
        &create,
        &update,
        &enrich,
        &latest,
        &latest_deep,
        &as_of,
        &list_eq,
        &list_range,
        &json_eq,
        &json_range,
        &update_seq,
        &restore,
    ]));
    let floor_ops = floor.ops_per_sec();
    let latest_p50 = latest.p50_secs();
    out.push_str("\nratios (same run):\n");
    out.push_str(&ratio_line(
        "create ops/s / raw floor ops/s",
        ratio(create.ops_per_sec(), floor_ops),
        Target::AtLeast(0.5),
    ));
    out.push_str(&ratio_line(
        "update ops/s / raw floor ops/s",
        ratio(update.ops_per_sec(), floor_ops),
        Target::AtLeast(0.5),
    ));
    out.push_str(&ratio_line(
        "enrich ops/s / raw floor ops/s",
        ratio(enrich.ops_per_sec(), floor_ops),
        Target::AtLeast(0.5),
    ));
    out.push_str(&ratio_line(
        "get_as_of p50 / get_latest p50 (deep item)",
        ratio(as_of.p50_secs(), latest_deep.p50_secs()),
        Target::AtMost(2.0),
    ));
    out.push_str(&ratio_line(
        "list_by_meta indexed eq page p50 / get_latest p50",
        ratio(list_eq.p50_secs(), latest_p50),
        Target::AtMost(3.0),
    ));
    out.push_str(&ratio_line(
        "list_by_meta range+sort page p50 / get_latest p50",
        ratio(list_range.p50_secs(), latest_p50),
        Target::AtMost(3.0),
    ));
    out.push_str(&ratio_line(
        "list_by_meta_json indexed eq page p50 / get_latest p50",
        ratio(json_eq.p50_secs(), latest_p50),
        Target::AtMost(3.0),
    ));
    out.push_str(&ratio_line(
        "list_by_meta_json range+sort page p50 / get_latest p50",
        ratio(json_range.p50_secs(), latest_p50),
        Target::AtMost(3.0),
    ));
    out.push_str(&ratio_line(
        "restore_collection per item / update per item (sequential)",
        ratio(restore.mean_secs(), update_seq.mean_secs()),
        Target::AtMost(2.0),
    ));
    out.push_str(
        "  (restore_collection goes through the items one at a time; it is compared with the\n   \
         sequential updates of the same items just before it, mean time per item on both sides)\n",
    );
    Ok(out)
}

/// One item with a deep history; `get_as_of` at random points of it next to `get_latest`
/// of the same item.
async fn deep_history(
    c: &Collection,
    n: usize,
    versions: usize,
    rng: &mut Rng,
) -> Result<(Stats, Stats), Error> {
    let deep = c
        .create(doc(0, GROUPS), "bench", "deep", CreateOptions::default())
        .await?;
    let mut times: Vec<Timestamp> = Vec::with_capacity(versions);
    let pb = bar(versions, "deep history");
    for ov in 0..versions as u64 {
        let r = c
            .update(&deep.id, doc(ov as usize, GROUPS), ov, "bench", "deep")
            .await?;
        times.push(r.at);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut latest_deep = Stats::new("get_latest (deep item)");
    let mut as_of = Stats::new("get_as_of (deep item)");
    for _ in 0..n {
        let t = times[rng.below(times.len())];
        let start = Instant::now();
        let item = c.get_as_of(&deep.id, t, ReadOptions::default()).await?;
        as_of.add(start.elapsed());
        if item.is_none() {
            return Err("get_as_of: the deep item's read found nothing".into());
        }
        let start = Instant::now();
        let item = c.get_latest(&deep.id, ReadOptions::default()).await?;
        latest_deep.add(start.elapsed());
        if item.is_none() {
            return Err("get_latest: the deep item is missing".into());
        }
    }
    Ok((latest_deep, as_of))
}

/// One timed page; an error unless it holds `want` items (and, for a range query from `x`,
/// only scores from `x` upwards in ascending order).
pub(crate) async fn list_page(
    c: &Collection,
    opts: ListOptions,
    want: usize,
    range_from: Option<usize>,
) -> Result<std::time::Duration, Error> {
    let what = format!("{:?}", opts.filter);
    let start = Instant::now();
    let page = c.list_by_meta(opts).await?;
    let elapsed = start.elapsed();
    if page.items.len() != want {
        return Err(format!(
            "list_by_meta {what}: expected a page of {want}, got {}",
            page.items.len()
        )
        .into());
    }
    if let Some(x) = range_from {
        let mut last = x as u64;
        for item in &page.items {
            let s = item.data.get("score").and_then(|s| s.as_u64());
            match s {
                Some(s) if s >= last => last = s,
                _ => {
                    return Err(format!(
                        "list_by_meta {what}: score {s:?} out of order or below {x}"
                    )
                    .into())
                }
            }
        }
    }
    Ok(elapsed)
}

/// One timed page of the JSON read path; an error unless it holds `want` items.
pub(crate) async fn json_page(
    c: &Collection,
    opts: ListOptions,
    want: usize,
) -> Result<std::time::Duration, Error> {
    let what = format!("{:?}", opts.filter);
    let start = Instant::now();
    let page = c.list_by_meta_json(opts).await?;
    let elapsed = start.elapsed();
    if page.items.len() != want {
        return Err(format!(
            "list_by_meta_json {what}: expected a page of {want}, got {}",
            page.items.len()
        )
        .into());
    }
    Ok(elapsed)
}

/// A collection of `items` items, each changed once after a mark; the changes timed one at a
/// time, then `restore_collection` back to the mark timed as a whole (time per item).
async fn restore_workload(
    chronos: &Chronos,
    backend: BenchBackend,
    items: usize,
) -> Result<(Stats, Stats), Error> {
    let rc = chronos.with(route(RESTORE)?)?;
    let mark = fill_named(
        &rc,
        "restore collection",
        "r",
        items,
        backend.fill_concurrency(),
    )
    .await?;
    let mut update_seq = Stats::new("update (sequential, the restored items)");
    let pb = bar(items, "changes to restore");
    for i in 0..items {
        let id = item_id("r", i);
        let start = Instant::now();
        rc.update(&id, revised(i, GROUPS, 1), 0, "bench", "change")
            .await?;
        update_seq.add(start.elapsed());
        pb.inc(1);
    }
    pb.finish_and_clear();
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
    let elapsed = start.elapsed();
    if rep.restored != items as u64 {
        return Err(format!(
            "restore_collection restored {} items, expected {items} ({} deleted, {} unchanged)",
            rep.restored, rep.deleted, rep.unchanged
        )
        .into());
    }
    let restore = Stats::per_item("restore_collection (per item)", items, elapsed);
    Ok((update_seq, restore))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rounds cover every operation once, in order, whatever `n` and however many
    /// rounds (fewer operations than rounds leave some rounds empty).
    #[test]
    fn rounds_cover_every_operation_once() {
        for n in [0, 1, 7, ROUNDS, 2000, 2003] {
            for rounds in [1, 3, ROUNDS] {
                let all: Vec<usize> = (0..rounds)
                    .flat_map(|r| round_range(n, rounds, r))
                    .collect();
                assert_eq!(
                    all,
                    (0..n).collect::<Vec<_>>(),
                    "n = {n}, rounds = {rounds}"
                );
            }
        }
        assert_eq!(round_range(2000, ROUNDS, 3), 600..800);
    }

    /// Ten rounds where each task still runs ten operations per round; one round for the
    /// remote preset's 200 writes at concurrency 16.
    #[test]
    fn rounds_keep_tasks_busy() {
        assert_eq!(rounds_for(2000, 1), ROUNDS);
        assert_eq!(rounds_for(200, 1), ROUNDS);
        assert_eq!(rounds_for(50, 1), 5);
        assert_eq!(rounds_for(200, 16), 1);
        assert_eq!(rounds_for(2000, 16), ROUNDS);
        assert_eq!(rounds_for(1, 1), 1);
        assert_eq!(rounds_for(0, 0), 1);
    }
}
