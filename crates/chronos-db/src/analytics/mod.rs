//! Counters and analytics: the rules that decide what a committed write counts under.
//!
//! This layer holds the rule engine: counter rules compiled from the configuration (both
//! forms, `counterRules.rules` and `analytics.counterRules`), matched in memory with the query
//! language's semantics ([`crate::query::Filter::matches`]), the canonical form of the
//! values `countUnique` counts, and the arithmetic of time-based and cross-tenant rules
//! (windows from ISO 8601 durations, UTC buckets, aggregates with a true median). Storing
//! totals and running rules is not done yet: the configuration keys stay "accepted, not yet
//! in effect" until it is, but they are checked now.

mod aggregate;
mod evaluate;
mod rule_checks;
mod rules;
mod unique;

pub use aggregate::{aggregate, bucket_start, schedule_interval, window, IsoDuration};
pub use evaluate::{combine, tenant_value, Aggregation, BucketValue, ItemFacts};
pub use rules::{check_config, CountedRule, CounterRuleSet};
pub use unique::unique_key;
