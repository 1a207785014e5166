//! The loops that drive operations: `n` operations spread over a number of concurrent tasks,
//! timed (a measured phase) or not (a fill), with a progress bar on stderr.

use crate::stats::Stats;
use crate::Error;
use indicatif::{ProgressBar, ProgressStyle};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

/// A progress bar on stderr (drawn only when stderr is a terminal).
pub(crate) fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>32} [{bar:30}] {pos}/{len} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

/// Runs `op(i)` for every `i` in `0..n` over `concurrency` tasks (task `t` takes
/// `t, t + concurrency, ...`): the latency of each operation, the phase's wall time, and the
/// operations' results in the order of `i`.
pub(crate) async fn timed<T, F, Fut>(
    name: &str,
    n: usize,
    concurrency: usize,
    op: F,
) -> Result<(Stats, Vec<T>), Error>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    let concurrency = concurrency.max(1);
    let op = Arc::new(op);
    let pb = bar(n, name);
    let start = Instant::now();
    // Dropping the set (on the first error) aborts the other tasks.
    let mut tasks = JoinSet::new();
    for t in 0..concurrency {
        let (op, pb) = (op.clone(), pb.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            for i in (t..n).step_by(concurrency) {
                let s = Instant::now();
                let r = op(i).await?;
                out.push((i, s.elapsed(), r));
                pb.inc(1);
            }
            Ok::<_, Error>(out)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    let wall = start.elapsed();
    pb.finish_and_clear();
    all.sort_by_key(|(i, _, _)| *i);
    let mut stats = Stats::new(name);
    let mut results = Vec::with_capacity(n);
    for (_, d, r) in all {
        stats.add(d);
        results.push(r);
    }
    stats.set_wall(wall);
    Ok((stats, results))
}

/// Runs `op(i)` for every `i` in `from..to` over `concurrency` tasks, keeping nothing but the
/// largest value the operations return (a fill: the collection version of its last commit).
pub(crate) async fn fill<F, Fut>(
    what: &str,
    from: usize,
    to: usize,
    concurrency: usize,
    op: F,
) -> Result<u64, Error>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64, Error>> + Send + 'static,
{
    let concurrency = concurrency.max(1);
    let pb = bar(to.saturating_sub(from), what);
    let op = Arc::new(op);
    let mut tasks = JoinSet::new();
    for t in 0..concurrency {
        let (op, pb) = (op.clone(), pb.clone());
        tasks.spawn(async move {
            let mut max = 0u64;
            for i in (from + t..to).step_by(concurrency) {
                max = max.max(op(i).await?);
                pb.inc(1);
            }
            Ok::<_, Error>(max)
        });
    }
    let mut max = 0;
    while let Some(done) = tasks.join_next().await {
        max = max.max(done??);
    }
    pb.finish_and_clear();
    Ok(max)
}

/// Creates items `0..n` of a collection with the ids `item_id(prefix, i)` (so a later phase
/// can address them), at `concurrency`; returns the highest cv committed.
pub(crate) async fn fill_named(
    c: &chronos_db::Collection,
    what: &str,
    prefix: &'static str,
    n: usize,
    concurrency: usize,
) -> Result<u64, Error> {
    let c = c.clone();
    fill(what, 0, n, concurrency, move |i| {
        let c = c.clone();
        async move {
            let opts = chronos_db::CreateOptions {
                id: Some(crate::data::item_id(prefix, i)),
                ..Default::default()
            };
            let doc = crate::data::doc(i, crate::data::GROUPS);
            Ok(c.create(doc, "bench", "fill", opts).await?.cv)
        }
    })
    .await
}
