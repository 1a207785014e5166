//! Counter rules: `{name, on?, scope?, when, countUnique?}` compiled once from the
//! configuration, and what one committed write counts under them.
//!
//! `when` is a filter of the query language, matched in memory with the stores' semantics.
//! With `scope: "meta"` (the default) it sees the version's indexed properties, so it names
//! `indexedProps` (any top-level property when none are declared); with `scope: "payload"` it
//! sees the whole content. `countUnique` paths read the same document; a path written `p[]`
//! counts each element of an array, a plain path the value as a whole.

use super::unique::unique_key;
use crate::config::{ChronosConfig, ConfigError, CounterOp, CounterRule, RuleScope};
use crate::model::Op;
use crate::query::{Filter, IndexSpec, IndexedPath, SystemValues};
use serde_json::Value;
use std::collections::HashSet;

/// One compiled counter rule.
#[derive(Debug, Clone)]
pub struct CountedRule {
    /// The rule's name (the key of its totals under `rules`).
    pub name: String,
    /// The operations it counts; empty = all of them.
    on: Vec<Op>,
    /// What `when` and `countUnique` look at.
    pub scope: RuleScope,
    when: Filter,
    /// The properties whose distinct values are counted.
    pub count_unique: Vec<IndexedPath>,
    /// Every property `when` and `countUnique` name (dotted, without `[]`).
    named: Vec<String>,
    /// Where the rule is in the configuration (`$.counterRules.rules[0]`).
    path: String,
}

impl CountedRule {
    /// Whether a committed write counts under this rule. `meta` is the version's indexed
    /// properties, `payload` its content.
    pub fn counts(&self, op: Op, meta: &Value, payload: &Value, system: &SystemValues<'_>) -> bool {
        (self.on.is_empty() || self.on.contains(&op))
            && self.when.matches(self.doc(meta, payload), system)
    }

    /// The `(property, canonical value)` pairs a counted write adds to the rule's distinct
    /// values (see [`unique_key`]); a missing property adds nothing.
    pub fn unique_values(&self, meta: &Value, payload: &Value) -> Vec<(String, String)> {
        let doc = self.doc(meta, payload);
        let mut out = Vec::new();
        for path in &self.count_unique {
            let mut at = Some(doc);
            for seg in &path.segments {
                at = at.and_then(|v| v.as_object()).and_then(|o| o.get(seg));
            }
            let name = path.dotted();
            match (at, path.array) {
                (None, _) => {}
                (Some(Value::Array(items)), true) => {
                    let mut seen = HashSet::new();
                    for item in items {
                        let key = unique_key(item);
                        if seen.insert(key.clone()) {
                            out.push((name.clone(), key));
                        }
                    }
                }
                (Some(v), _) => out.push((name.clone(), unique_key(v))),
            }
        }
        out
    }

    fn doc<'a>(&self, meta: &'a Value, payload: &'a Value) -> &'a Value {
        match self.scope {
            RuleScope::Meta => meta,
            RuleScope::Payload => payload,
        }
    }
}

/// Every counter rule of a configuration, from `counterRules.rules` and
/// `analytics.counterRules`.
///
/// ```
/// use chronos_db::analytics::CounterRuleSet;
/// use chronos_db::model::Op;
/// use chronos_db::query::SystemValues;
/// use serde_json::json;
/// let cfg = chronos_db::config::ChronosConfig::from_json_value(json!({
///     "counterRules": {"rules": [{"name": "user_logins", "on": ["CREATE"], "when": {"action": "login"},
///                                 "countUnique": ["sessionId"]}]}
/// })).unwrap();
/// let rules = CounterRuleSet::from_config(&cfg).unwrap();
/// let login = json!({"action": "login", "sessionId": "s-1"});
/// let rule = &rules.rules()[0];
/// assert!(rule.counts(Op::Create, &login, &login, &SystemValues::default()));
/// assert!(!rule.counts(Op::Update, &login, &login, &SystemValues::default()));
/// assert_eq!(rule.unique_values(&login, &login), vec![("sessionId".to_string(), "\"s-1\"".to_string())]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CounterRuleSet {
    rules: Vec<CountedRule>,
}

impl CounterRuleSet {
    /// The compiled rules, or every problem as `path: message`.
    pub fn from_config(cfg: &ChronosConfig) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut rules = Vec::new();
        let mut names = HashSet::new();
        let top = cfg.counter_rules.iter().flat_map(|c| c.rules.iter());
        let forms = top
            .enumerate()
            .map(|(i, r)| (format!("$.counterRules.rules[{i}]"), r))
            .chain(cfg.analytics.iter().flat_map(|a| {
                a.counter_rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("$.analytics.counterRules[{i}]"), r))
            }));
        for (path, rule) in forms {
            if !names.insert(rule.name.clone()) {
                problems.push(format!(
                    "{path}.name: '{}' names another rule too; rule names are the keys of their totals",
                    crate::names::printable(&rule.name)
                ));
            }
            match compile(rule, &path) {
                Ok(compiled) => rules.push(compiled),
                Err((field, why)) => problems.push(format!("{path}{field}: {why}")),
            }
        }
        if problems.is_empty() {
            Ok(CounterRuleSet { rules })
        } else {
            Err(problems)
        }
    }

    /// The rules, in configuration order (`counterRules` first).
    pub fn rules(&self) -> &[CountedRule] {
        &self.rules
    }

    /// Rules that can never match in some collection: a `scope: "meta"` rule sees only the
    /// indexed properties, so one naming a property a collection with `indexedProps` does not
    /// index never counts (or never sees the value) there. One line per rule and collection.
    ///
    /// ```
    /// use chronos_db::analytics::CounterRuleSet;
    /// use serde_json::json;
    /// let cfg = chronos_db::config::ChronosConfig::from_json_value(json!({
    ///     "collectionMaps": {"orders": {"indexedProps": ["status"]}},
    ///     "counterRules": {"rules": [{"name": "big", "when": {"total": {"$gt": 100}}}]}
    /// })).unwrap();
    /// let warnings = CounterRuleSet::from_config(&cfg).unwrap().blind_spots(&cfg);
    /// assert!(warnings[0].contains("'total'") && warnings[0].contains("'orders'"));
    /// ```
    pub fn blind_spots(&self, cfg: &ChronosConfig) -> Vec<String> {
        let mut out = Vec::new();
        for rule in self.rules.iter().filter(|r| r.scope == RuleScope::Meta) {
            for (collection, map) in &cfg.collection_maps {
                if map.indexed_props.is_empty() {
                    continue; // every top-level property is indexed
                }
                let indexed: Vec<String> = map
                    .indexed_props
                    .iter()
                    .map(|p| IndexedPath::parse(p).dotted())
                    .collect();
                let missing: Vec<String> = rule
                    .named
                    .iter()
                    .filter(|n| {
                        // An indexed object holds its nested properties too.
                        !indexed
                            .iter()
                            .any(|i| *n == i || n.starts_with(&format!("{i}.")))
                    })
                    .map(|m| format!("'{m}'"))
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                let them = if missing.len() == 1 { "it" } else { "them" };
                out.push(format!(
                    "{}: counter rule '{}' (scope meta) names {} that collection '{collection}' \
                     does not index: there it never sees {them}; index {them} or use scope payload",
                    rule.path,
                    rule.name,
                    missing.join(", "),
                ));
            }
        }
        out
    }
}

/// Checks the configuration's analytics rules: counter rules (names, operations, `when`,
/// `countUnique`), time-based and cross-tenant rules (query, aggregate and its field,
/// timeframe, ISO 8601 windows, tenants), and `retention.schedule`. [`crate::Chronos::open`] runs it after the
/// configuration's own checks.
pub fn check_config(cfg: &ChronosConfig) -> Result<(), ConfigError> {
    let mut problems = CounterRuleSet::from_config(cfg).err().unwrap_or_default();
    problems.extend(super::rule_checks::problems(cfg));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// A rule compiled, or the field at fault (a JSON path suffix) and why.
fn compile(rule: &CounterRule, path: &str) -> Result<CountedRule, (String, String)> {
    crate::names::check_name("a counter rule name", &rule.name).map_err(|e| (".name".into(), e))?;
    let on = match &rule.on {
        None => Vec::new(),
        Some(ops) if ops.is_empty() => {
            return Err((
                ".on".into(),
                "name at least one operation, or leave `on` out to count all".into(),
            ))
        }
        Some(ops) => ops
            .iter()
            .map(|o| match o {
                CounterOp::Create => Op::Create,
                CounterOp::Update => Op::Update,
                CounterOp::Delete => Op::Delete,
                CounterOp::Enrich => Op::Enrich,
                CounterOp::Restore => Op::Restore,
            })
            .collect(),
    };
    let when = filter_on_named_paths(&rule.when).map_err(|e| (".when".to_string(), e))?;
    let mut count_unique = Vec::new();
    let mut seen = HashSet::new();
    for (i, p) in rule.count_unique.iter().enumerate() {
        let bare = p.strip_suffix("[]").unwrap_or(p);
        crate::names::check_prop_path(bare).map_err(|e| (format!(".countUnique[{i}]"), e))?;
        if !seen.insert(bare.to_string()) {
            return Err((
                format!(".countUnique[{i}]"),
                format!("'{bare}' is listed twice"),
            ));
        }
        count_unique.push(IndexedPath::parse(p));
    }
    let mut named = Vec::new();
    field_names(&Value::Object(rule.when.clone()), &mut named);
    named.retain(|n| !n.starts_with('_'));
    named.extend(count_unique.iter().map(IndexedPath::dotted));
    for n in &mut named {
        if let Some(bare) = n.strip_suffix("[]") {
            *n = bare.to_string();
        }
    }
    Ok(CountedRule {
        name: rule.name.clone(),
        on,
        scope: rule.scope,
        when,
        count_unique,
        named,
        path: path.to_string(),
    })
}

/// A filter over whatever properties it names (rules are checked before any collection's
/// `indexedProps` is known): every name must be a valid property path, then the filter is
/// parsed with those names taken as indexed.
pub(super) fn filter_on_named_paths(
    filter: &serde_json::Map<String, Value>,
) -> Result<Filter, String> {
    let filter = Value::Object(filter.clone());
    let mut fields = Vec::new();
    field_names(&filter, &mut fields);
    let mut paths = Vec::new();
    for f in &fields {
        if f.starts_with('_') {
            continue; // `_id` and `_system.*`: the filter parser knows them
        }
        crate::names::check_prop_path(f.strip_suffix("[]").unwrap_or(f))?;
        paths.push(IndexedPath::parse(f));
    }
    Filter::parse(
        &filter,
        &IndexSpec {
            paths,
            excluded: vec![],
        },
    )
}

/// The property names a filter object mentions (inside `$and` / `$or` too).
fn field_names(filter: &Value, out: &mut Vec<String>) {
    let Value::Object(map) = filter else { return };
    for (k, v) in map {
        match k.as_str() {
            "$and" | "$or" => {
                for item in v.as_array().into_iter().flatten() {
                    field_names(item, out);
                }
            }
            k if k.starts_with('$') => {}
            name => out.push(name.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: serde_json::Value) -> Result<CounterRuleSet, Vec<String>> {
        let cfg = ChronosConfig::from_json_value(v).expect("config shape");
        CounterRuleSet::from_config(&cfg)
    }

    #[test]
    fn both_forms_compile_and_count_by_op_and_scope() {
        let set = rules(json!({
            "counterRules": {"rules": [
                {"name": "user_logins", "on": ["CREATE"], "when": {"action": "login"}, "countUnique": ["sessionId"]},
            ]},
            "analytics": {"counterRules": [
                {"name": "views", "scope": "payload", "when": {"product.price": {"$gte": 10}}, "countUnique": ["product.id", "tags[]"]},
                {"name": "enriched", "on": ["ENRICH", "RESTORE"], "when": {}},
            ]}
        }))
        .unwrap();
        let names: Vec<&str> = set.rules().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["user_logins", "views", "enriched"]);
        let sys = SystemValues::default();
        let meta = json!({"action": "login", "sessionId": "s1"});
        let payload = json!({"action": "login", "sessionId": "s1", "product": {"id": 7, "price": 12}, "tags": ["a", "b", "a"]});
        let [logins, views, enriched] = set.rules() else {
            panic!("three rules")
        };
        assert!(logins.counts(Op::Create, &meta, &payload, &sys));
        assert!(!logins.counts(Op::Enrich, &meta, &payload, &sys));
        // scope meta: the payload's properties are not seen.
        assert!(!views.counts(Op::Update, &payload, &meta, &sys));
        assert!(views.counts(Op::Update, &meta, &payload, &sys));
        assert_eq!(
            views.unique_values(&meta, &payload),
            vec![
                ("product.id".to_string(), "7".to_string()),
                ("tags".to_string(), "\"a\"".to_string()),
                ("tags".to_string(), "\"b\"".to_string()),
            ]
        );
        assert!(enriched.counts(Op::Restore, &meta, &payload, &sys));
        assert!(!enriched.counts(Op::Create, &meta, &payload, &sys));
    }

    #[test]
    fn bad_rules_are_config_errors_with_their_path() {
        let problems = rules(json!({
            "counterRules": {"rules": [
                {"name": "a", "when": {"n": {"$near": 1}}},
                {"name": "a", "when": {}},
                {"name": "b c", "when": {}},
                {"name": "d", "on": [], "when": {}},
                {"name": "e", "when": {"../x": 1}},
                {"name": "f", "when": {}, "countUnique": ["x", "x[]"]},
            ]},
            "analytics": {"counterRules": [{"name": "g", "when": {"$where": "1"}}]}
        }))
        .unwrap_err()
        .join("\n");
        for want in [
            "$.counterRules.rules[0].when: unknown operator '$near'",
            "$.counterRules.rules[1].name: 'a' names another rule too",
            "$.counterRules.rules[2].name",
            "$.counterRules.rules[3].on: name at least one operation",
            "$.counterRules.rules[4].when",
            "$.counterRules.rules[5].countUnique[1]: 'x' is listed twice",
            "$.analytics.counterRules[0].when: unknown top-level operator '$where'",
        ] {
            assert!(problems.contains(want), "missing {want:?} in:\n{problems}");
        }
    }
}
