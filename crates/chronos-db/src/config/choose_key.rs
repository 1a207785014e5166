//! `routing.chooseKey`: which parts of a route make the key that picks a connection when an
//! entry lists several.

use crate::names;

/// The tokens `routing.chooseKey` may use.
pub const CHOOSE_KEY_TOKENS: [&str; 4] = ["tenantId", "domain", "collection", "databaseType"];

/// `routing.chooseKey` when it is not set.
pub const DEFAULT_CHOOSE_KEY: &str = "tenantId";

/// Checks a `routing.chooseKey` expression: `|`-separated tokens from [`CHOOSE_KEY_TOKENS`].
///
/// ```
/// use chronos_db::routing::check_choose_key;
/// assert!(check_choose_key("tenantId|collection").is_ok());
/// assert!(check_choose_key("tenantId|objectId").is_err());
/// ```
pub fn check_choose_key(expr: &str) -> Result<(), String> {
    for token in expr.split('|').map(str::trim) {
        if token.is_empty() {
            return Err("has an empty alternative (write e.g. 'tenantId|collection')".into());
        }
        if !CHOOSE_KEY_TOKENS.contains(&token) {
            return Err(format!(
                "unknown token '{}' (use tenantId, domain, collection or databaseType, separated by '|')",
                names::printable(token)
            ));
        }
    }
    Ok(())
}
