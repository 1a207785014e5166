//! Object keys. Inputs are validated names and ids, so keys cannot escape their prefix.

/// The prefix every object of one write attempt lives under:
/// `<collection>/<id>/v<ov>.<writeId>/`.
///
/// ```
/// assert_eq!(chronos_db::payload::keys::version_prefix("users", "u1", 3, "ab12"), "users/u1/v3.ab12/");
/// ```
pub fn version_prefix(collection: &str, id: &str, ov: u64, write_id: &str) -> String {
    format!("{collection}/{id}/v{ov}.{write_id}/")
}

/// The JSON document of a version.
pub fn item_key(prefix: &str) -> String {
    format!("{prefix}item.json")
}

/// The blob of a base64 property.
pub fn blob_key(prefix: &str, prop: &str) -> String {
    format!("{prefix}{prop}/blob.bin")
}

/// The text rendition of a base64 property.
pub fn text_key(prefix: &str, prop: &str) -> String {
    format!("{prefix}{prop}/text.txt")
}

/// The prefix of every object of one item (all versions and attempts).
pub fn item_prefix(collection: &str, id: &str) -> String {
    format!("{collection}/{id}/")
}
