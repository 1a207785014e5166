//! Counters and analytics: the rules, compiled and evaluated without I/O.
//!
//! Counter rules are compiled from the configuration (both forms, `counterRules.rules` and
//! `analytics.counterRules`) and matched in memory with the query language's semantics
//! ([`crate::query::Filter::matches`]); [`unique_key`] is the canonical form of the values
//! `countUnique` counts. Time-based and cross-tenant rules are evaluated by [`Aggregation`]
//! (windows from ISO 8601 durations, UTC buckets, aggregates with a true median). Counting
//! writes is `ops/counting.rs`, reading the totals [`crate::counters`]; running the other
//! rules and reading their results is [`crate::analytics_jobs`].

mod aggregate;
mod evaluate;
mod rule_checks;
mod rules;
mod unique;

pub use aggregate::{aggregate, bucket_start, schedule_interval, window, IsoDuration};
pub use evaluate::{combine, tenant_value, Aggregation, BucketValue, ItemFacts};
pub use rules::{check_config, CountedRule, CounterRuleSet};
pub use unique::unique_key;
