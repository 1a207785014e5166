//! The synthetic items every run writes, the list queries over them and the page size each
//! query must return, computed from the data (so a wrong page is an error, whatever the size).

use chronos_db::ListOptions;
use serde_json::{json, Value};

/// Items per list page.
pub(crate) const PAGE: usize = 50;
/// Distinct `group` values of the items when the size does not call for fewer.
pub(crate) const GROUPS: usize = 100;
/// Distinct `score` values: item `i` scores `i % SCORES`.
pub(crate) const SCORES: usize = 1000;
/// The indexed properties of every bench collection.
pub(crate) const INDEXED: [&str; 4] = ["email", "status", "group", "score"];

/// Item `i`: about 400 bytes of JSON, four indexed properties. `group` is `g{i % groups}`.
pub(crate) fn doc(i: usize, groups: usize) -> Value {
    json!({"email": format!("user{i}@example.com"), "status": if i % 3 == 0 { "active" } else { "idle" },
           "group": format!("g{}", i % groups.max(1)), "score": i % SCORES, "tags": ["a", "b"], "bio": "x".repeat(200)})
}

/// Item `i` rewritten: the same indexed values (so the list counts stay exact), one more
/// property.
pub(crate) fn revised(i: usize, groups: usize, rev: usize) -> Value {
    let mut d = doc(i, groups);
    if let Some(o) = d.as_object_mut() {
        o.insert("rev".into(), json!(rev));
    }
    d
}

/// The `group` count of a listed collection of `items` items: as many as leave at least one
/// full page in every group (at most [`GROUPS`], at least 1).
pub(crate) fn groups_for(items: usize) -> usize {
    (items / PAGE).clamp(1, GROUPS)
}

/// A deterministic id for item `i` of a collection filled by the bench (`prefix` tells the
/// collections apart in logs).
pub(crate) fn item_id(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:09}")
}

/// The indexed equality query: `group = g{k}`, one page.
pub(crate) fn eq_query(k: usize) -> ListOptions {
    ListOptions {
        filter: Some(json!({"group": format!("g{k}")})),
        limit: Some(PAGE),
        ..Default::default()
    }
}

/// How many of items `0..items` (generated with `groups`) are in group `k`.
pub(crate) fn group_count(items: usize, groups: usize, k: usize) -> usize {
    let groups = groups.max(1);
    items / groups + usize::from(k < items % groups)
}

/// The range query with a sort: `score >= x`, ascending by score, one page.
pub(crate) fn range_query(x: usize) -> ListOptions {
    ListOptions {
        filter: Some(json!({"score": {"$gte": x}})),
        sort: Some(json!({"score": 1})),
        limit: Some(PAGE),
        ..Default::default()
    }
}

/// The range query's lower bound for a random draw `r` over `items` items: at most the
/// highest bound that still leaves a full page (any bound when there are fewer than a page).
pub(crate) fn range_start(items: usize, r: u64) -> usize {
    let max = items.min(SCORES).saturating_sub(PAGE);
    (r % (max as u64 + 1)) as usize
}

/// How many of items `0..items` score at least `x`.
pub(crate) fn score_count(items: usize, x: usize) -> usize {
    let (full, rem) = (items / SCORES, items % SCORES);
    full * SCORES.saturating_sub(x) + rem.saturating_sub(x)
}

/// The page size a query must return when `matches` items match.
pub(crate) fn expected_page(matches: usize) -> usize {
    matches.min(PAGE)
}

/// A small deterministic generator (xorshift64) for the random picks of the workloads: the same
/// picks in every run.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new() -> Self {
        Rng(0x9e37_79b9_7f4a_7c15)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts computed from the formulas are those of the generated items.
    #[test]
    fn counts_match_the_generated_items() {
        for items in [1, 49, 50, 73, 99, 100, 101, 999, 1000, 1001, 2500] {
            let groups = groups_for(items);
            let docs: Vec<Value> = (0..items).map(|i| doc(i, groups)).collect();
            for k in 0..groups {
                let g = format!("g{k}");
                let n = docs.iter().filter(|d| d["group"] == g.as_str()).count();
                assert_eq!(group_count(items, groups, k), n, "items {items} group {k}");
            }
            for x in [0, 1, 23, 50, 500, 950, 999] {
                let n = docs
                    .iter()
                    .filter(|d| d["score"].as_u64().is_some_and(|s| s as usize >= x))
                    .count();
                assert_eq!(score_count(items, x), n, "items {items} x {x}");
            }
        }
    }

    /// Every list size the command line allows has a full page for every group and every
    /// range bound the workloads draw.
    #[test]
    fn every_allowed_list_size_has_full_pages() {
        let sizes = (50..=5_000).chain([9_999, 10_000, 100_000, 1_000_000, 10_000_000]);
        for items in sizes {
            let groups = groups_for(items);
            for k in 0..groups {
                assert!(group_count(items, groups, k) >= PAGE, "items {items} k {k}");
            }
            let max = items.min(SCORES).saturating_sub(PAGE);
            for x in [0, max / 2, max] {
                assert!(score_count(items, x) >= PAGE, "items {items} x {x}");
            }
            assert!(range_start(items, u64::MAX) <= max);
        }
    }
}
