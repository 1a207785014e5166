//! Latency samples, their percentiles and throughput, the rows of the report's tables and its
//! ratio lines.

use std::time::Duration;

/// The latency samples of one workload.
pub(crate) struct Stats {
    name: String,
    samples: Vec<Duration>,
    total: Duration,
    /// For a phase timed as a whole: its operations (`samples` then holds their mean once).
    count: Option<usize>,
    /// For concurrent phases: the wall time of the whole phase (throughput = ops / wall).
    wall: Option<Duration>,
}

impl Stats {
    pub(crate) fn new(name: impl Into<String>) -> Self {
        Stats {
            name: name.into(),
            samples: Vec::new(),
            total: Duration::ZERO,
            count: None,
            wall: None,
        }
    }

    /// A phase timed as a whole: `count` operations that took `elapsed` together, each
    /// recorded as the mean (p50 = p99 = the time per item).
    pub(crate) fn per_item(name: impl Into<String>, count: usize, elapsed: Duration) -> Self {
        let mut s = Stats::new(name);
        s.samples = vec![elapsed.div_f64(count.max(1) as f64)];
        s.total = elapsed;
        s.count = Some(count);
        s.wall = Some(elapsed);
        s
    }

    pub(crate) fn add(&mut self, d: Duration) {
        self.samples.push(d);
        self.total += d;
    }

    /// Adds another phase's samples and wall time (rounds of one workload).
    pub(crate) fn merge(&mut self, other: &Stats) {
        for d in &other.samples {
            self.add(*d);
        }
        self.wall = Some(self.wall.unwrap_or(Duration::ZERO) + other.wall.unwrap_or(other.total));
    }

    /// Sets the wall time of a concurrent phase.
    pub(crate) fn set_wall(&mut self, wall: Duration) {
        self.wall = Some(wall);
    }

    /// The operations measured.
    pub(crate) fn count(&self) -> usize {
        self.count.unwrap_or(self.samples.len())
    }

    /// Operations per second: over the wall time for a concurrent phase, else over the sum
    /// of the samples.
    pub(crate) fn ops_per_sec(&self) -> f64 {
        let time = self.wall.unwrap_or(self.total);
        self.count() as f64 / time.as_secs_f64().max(1e-9)
    }

    /// The `p` quantile (0..=1) of the samples, nearest rank.
    pub(crate) fn pct(&self, p: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort_unstable();
        if s.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((s.len() as f64 - 1.0) * p).round() as usize;
        s[idx.min(s.len() - 1)]
    }

    /// The median, in seconds.
    pub(crate) fn p50_secs(&self) -> f64 {
        self.pct(0.5).as_secs_f64()
    }

    /// The mean time per operation (the sum of the samples over their count), in seconds.
    pub(crate) fn mean_secs(&self) -> f64 {
        self.total.as_secs_f64() / self.count().max(1) as f64
    }

    /// A row of [`table`].
    fn row(&self) -> String {
        format!(
            "| {:<44} | {:>7} | {:>11.0} | {:>9.1} | {:>9.1} |",
            self.name,
            self.count(),
            self.ops_per_sec(),
            micros(self.pct(0.50)),
            micros(self.pct(0.99)),
        )
    }
}

/// The workload table: ops, ops/s, p50 and p99 in µs.
pub(crate) fn table(rows: &[&Stats]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "| {:<44} | {:>7} | {:>11} | {:>9} | {:>9} |\n",
        "workload", "ops", "ops/s", "p50 (µs)", "p99 (µs)"
    ));
    out.push_str(&format!(
        "|{}|{}|{}|{}|{}|\n",
        "-".repeat(46),
        "-".repeat(9),
        "-".repeat(13),
        "-".repeat(11),
        "-".repeat(11)
    ));
    for s in rows {
        out.push_str(&s.row());
        out.push('\n');
    }
    out
}

/// A duration in microseconds.
pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `a / b`, with `b` kept away from zero.
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    a / b.max(1e-12)
}

/// The target a ratio is held to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// At least this much (throughput ratios).
    AtLeast(f64),
    /// At most this much (latency ratios).
    AtMost(f64),
    /// Strictly below this much (memory).
    Below(f64),
}

impl Target {
    pub(crate) fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(t) => value >= t,
            Target::AtMost(t) => value <= t,
            Target::Below(t) => value < t,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::AtLeast(t) => write!(f, ">= {t}"),
            Target::AtMost(t) => write!(f, "<= {t}"),
            Target::Below(t) => write!(f, "< {t}"),
        }
    }
}

/// One ratio line: `  <label> = <value>  (target <t>: met|MISSED)`.
pub(crate) fn ratio_line(label: &str, value: f64, target: Target) -> String {
    format!(
        "  {label:<58} = {value:>6.2}  (target {target}: {})\n",
        verdict(target.met(value))
    )
}

/// `met` or `MISSED`.
pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_throughput() {
        let mut s = Stats::new("x");
        for ms in [5, 1, 3, 2, 4] {
            s.add(Duration::from_millis(ms));
        }
        assert_eq!(s.pct(0.5), Duration::from_millis(3));
        assert_eq!(s.pct(0.99), Duration::from_millis(5));
        assert!((s.ops_per_sec() - 5.0 / 0.015).abs() < 1e-6);
        s.set_wall(Duration::from_millis(5));
        assert!((s.ops_per_sec() - 1000.0).abs() < 1e-6);
        let p = Stats::per_item("r", 4, Duration::from_millis(8));
        assert_eq!(p.pct(0.5), Duration::from_millis(2));
        assert!((p.mean_secs() - 0.002).abs() < 1e-9);
        assert_eq!(p.count(), 4);
        assert!((p.ops_per_sec() - 500.0).abs() < 1e-6);
    }

    #[test]
    fn targets() {
        assert!(Target::AtLeast(0.5).met(0.5) && !Target::AtLeast(0.5).met(0.49));
        assert!(Target::AtMost(2.0).met(2.0) && !Target::AtMost(2.0).met(2.01));
        assert!(!Target::Below(100.0).met(100.0));
        assert!(ratio_line("a", 1.0, Target::AtMost(2.0)).contains("(target <= 2: met)"));
    }
}
