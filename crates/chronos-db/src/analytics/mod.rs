//! Counters and analytics: the rules that decide what a committed write counts under.
//!
//! This layer holds the rule engine: counter rules compiled from the configuration (both
//! forms, `counterRules.rules` and `analytics.counterRules`), matched in memory with the query
//! language's semantics ([`crate::query::Filter::matches`]), and the canonical form of the
//! values `countUnique` counts. Storing the totals is not done yet: the configuration keys
//! stay "accepted, not yet in effect" until it is.

mod rules;
mod unique;

pub use rules::{check_config, CountedRule, CounterRuleSet};
pub use unique::unique_key;
