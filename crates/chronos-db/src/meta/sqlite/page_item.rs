//! The flat item the sort indexes of a head table hold for each row: what a JSON list page
//! reads, so that SQLite answers the page from one index with a copy of text per row.

use super::super::FlatColumns;
use crate::model::Timestamp;
use crate::ItemJson;
use rusqlite::types::ValueRef;

/// The longest inline content, in characters, that the property indexes of a head table
/// carry the flat item of (see [`page_item`]).
///
/// Why a bound: each scalar indexed property's sort index holds the flat item (the content
/// plus `_id` and `_system`, about 250 bytes more without lineage), so the copies cost disk
/// and write bytes in proportion to the indexed properties. Up to about 1,000 bytes an
/// index entry stays on its index page; longer entries spill to overflow pages but still
/// spare the table seek; past this bound a page reads the table.
pub(super) const PAGE_COPY_MAX_CHARS: usize = 2048;

/// The SQL function (this crate's, registered on every connection by `open_connection`)
/// that writes a row's flat item for the sort indexes: [`page_item_of`].
///
/// The sort indexes store its answers, so its output must never change for the same
/// arguments (`tests::the_item_bytes_are_pinned` holds them): a change of the flat form
/// ships under a new name (the `_v` suffix), and the indexes, whose names carry a hash of
/// their columns, are then rebuilt when `ensure_collection` next runs for the collection
/// (its first write in a process). Every name a release has used must stay registered:
/// an index not yet rebuilt (a collection not written since, a property no longer
/// configured) still calls it on every write of its table.
pub(super) const PAGE_ITEM_FN: &str = "chronos_page_item_v1";

/// The row's flat item as the property indexes hold it: [`PAGE_ITEM_FN`] over the columns
/// of the flat form. `alias` prefixes the column names (`""` in index definitions, `"h."`
/// in queries: SQLite matches the expressions by their form, so both must come from here).
///
/// A NULL item reads like a row without inline content: the flat page is read again with
/// every column (see `query::run_flat_query`).
pub(super) fn page_item(alias: &str) -> String {
    format!(
        "{PAGE_ITEM_FN}({alias}id, {alias}ov, {alias}cv, {alias}op, {alias}at, {alias}deleted, {alias}lineage, {alias}shadow)"
    )
}

/// What [`PAGE_ITEM_FN`] answers for its arguments (the columns [`page_item`] names, in
/// that order): the item in flat form, as [`crate::meta::FlatRow::Flat`] holds it, when the
/// row has inline content of at most [`PAGE_COPY_MAX_CHARS`] characters that reads as an
/// object and is not an erasure's tombstone; NULL otherwise. Never an error: SQLite calls
/// it to maintain the indexes, so an error would fail the write.
///
/// Why SQLite stores the text, not the columns it is built from: a page then costs, per
/// row, an index step and a copy of that text. Building it while reading (parsing the
/// content to check it, writing `_system`) was most of a page's time.
pub(super) fn page_item_of(args: &[ValueRef<'_>; 8]) -> Option<String> {
    let text = |i: usize| match args[i] {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    };
    let int = |i: usize| match args[i] {
        ValueRef::Integer(n) => Some(n),
        _ => None,
    };
    let content = text(7)?;
    if content.len() > PAGE_COPY_MAX_CHARS && content.chars().count() > PAGE_COPY_MAX_CHARS {
        return None;
    }
    let columns = FlatColumns {
        id: text(0)?,
        ov: u64::try_from(int(1)?).ok()?,
        cv: u64::try_from(int(2)?).ok()?,
        op: text(3)?,
        at: Timestamp(int(4)?),
        deleted: int(5)? != 0,
        lineage: text(6)?,
        content: Some(content),
    };
    columns.item_json().map(ItemJson::into_string)
}

/// The columns a property index carries after its key, the id and `deleted`: with those,
/// what a flat page selects ([`super::rows::FLAT_COLS`]), what a typed page adds to it
/// ([`super::rows::WRITER_COLS`]) or what either filters on (`deleted`, `op`), so that
/// SQLite answers the page from the index alone (a covering index), without seeking each
/// row in the table. The rows of a page are neighbours in the index but scattered in the
/// table: the seeks were a third of a page's time at 100,000 items, and grew with the
/// table (each one a page read from the operating system once the table outgrows
/// SQLite's cache).
pub(super) fn page_columns() -> String {
    format!("op, at, {}, {}", writer_columns(""), page_item(""))
}

/// The longest `actor` or `reason`, in characters, the sort indexes copy (see
/// [`writer_columns`]).
pub(super) const WRITER_COPY_MAX_CHARS: usize = 256;

/// The writer's columns (`actor`, `reason`) as the sort indexes hold them: `''` when the row
/// has none (a write stores none for an empty one, so `''` names nothing else), the text
/// itself up to [`WRITER_COPY_MAX_CHARS`] characters, NULL beyond (a typed page then reads
/// the row whole). Why bounded: both are free text of any length, copied once per indexed
/// property. `alias` as in [`page_item`] (SQLite matches the expressions by their form).
pub(super) fn writer_columns(alias: &str) -> String {
    let column = |c: &str| {
        format!(
            "CASE WHEN {alias}{c} IS NULL THEN '' WHEN length({alias}{c}) <= {WRITER_COPY_MAX_CHARS} THEN {alias}{c} END"
        )
    };
    format!("{}, {}", column("actor"), column("reason"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Lineage;

    fn args<'a>(op: &'a str, lineage: &'a str, shadow: ValueRef<'a>) -> [ValueRef<'a>; 8] {
        [
            ValueRef::Text(b"a1"),
            ValueRef::Integer(2),
            ValueRef::Integer(7),
            ValueRef::Text(op.as_bytes()),
            ValueRef::Integer(1_700_000_000_000_000),
            ValueRef::Integer(0),
            ValueRef::Text(lineage.as_bytes()),
            shadow,
        ]
    }

    /// A lineage with an insert time, a function and a parent, as stored.
    fn full_lineage() -> String {
        serde_json::to_string(&Lineage {
            inserted_at: Some(Timestamp(1_699_999_999_000_000)),
            function_ids: vec!["f@1".into()],
            parent_id: Some("p".into()),
            ..Default::default()
        })
        .unwrap()
    }

    /// The indexes hold the flat form the read path builds from the same columns.
    #[test]
    fn the_item_is_the_flat_form_of_the_columns() {
        let lineage = full_lineage();
        for (op, lineage) in [("UPDATE", Lineage::DEFAULT_JSON), ("ENRICH", &lineage)] {
            let item = page_item_of(&args(op, lineage, ValueRef::Text(br#"{"n":1}"#)));
            let columns = FlatColumns {
                id: "a1",
                ov: 2,
                cv: 7,
                op,
                at: Timestamp(1_700_000_000_000_000),
                deleted: false,
                lineage,
                content: Some(r#"{"n":1}"#),
            };
            let built = columns.item_json().unwrap();
            assert_eq!(item.as_deref(), Some(built.get()));
            assert!(built
                .get()
                .starts_with(r#"{"_id":"a1","n":1,"_system":{"ov":2,"cv":7,"#));
        }
    }

    /// The bytes the indexes hold, pinned: SQLite keeps what an earlier build wrote, so a
    /// change here means a new [`PAGE_ITEM_FN`] name (see its doc), not an edit of this
    /// literal.
    #[test]
    fn the_item_bytes_are_pinned() {
        let lineage = full_lineage();
        let mut row = args(
            "DELETE",
            &lineage,
            ValueRef::Text(r#"{"n":1,"s":"é\n"}"#.as_bytes()),
        );
        row[0] = ValueRef::Text(br#"a"1"#);
        row[5] = ValueRef::Integer(1);
        let expected = concat!(
            r#"{"_id":"a\"1","n":1,"s":"é\n","_system":{"ov":2,"cv":7,"#,
            r#""insertedAt":"2023-11-14T22:13:19.000000Z","updatedAt":"2023-11-14T22:13:20.000000Z","#,
            r#""deletedAt":"2023-11-14T22:13:20.000000Z","deleted":true,"functionIds":["f@1"],"#,
            r#""parentId":"p","parentCollection":null,"originId":null,"originCollection":null}}"#
        );
        assert_eq!(page_item_of(&row).as_deref(), Some(expected));
        let plain = args("CREATE", Lineage::DEFAULT_JSON, ValueRef::Text(b"{}"));
        let expected = concat!(
            r#"{"_id":"a1","_system":{"ov":2,"cv":7,"insertedAt":"2023-11-14T22:13:20.000000Z","#,
            r#""updatedAt":"2023-11-14T22:13:20.000000Z","deletedAt":null,"deleted":false,"#,
            r#""functionIds":[],"parentId":null,"parentCollection":null,"originId":null,"#,
            r#""originCollection":null}}"#
        );
        assert_eq!(page_item_of(&plain).as_deref(), Some(expected));
    }

    /// Rows a page cannot show from the index get NULL (the page then reads them whole),
    /// never an error: SQLite calls the function to maintain the indexes on every write.
    #[test]
    fn rows_without_a_usable_item_get_null() {
        let long = format!(r#"{{"v":"{}"}}"#, "x".repeat(PAGE_COPY_MAX_CHARS));
        let cases = [
            args("ERASE", Lineage::DEFAULT_JSON, ValueRef::Text(b"{}")),
            args("UPDATE", Lineage::DEFAULT_JSON, ValueRef::Null),
            args("UPDATE", Lineage::DEFAULT_JSON, ValueRef::Text(b"[1]")),
            args(
                "UPDATE",
                Lineage::DEFAULT_JSON,
                ValueRef::Text(br#"{"a":1}{"b":2}"#),
            ),
            args(
                "UPDATE",
                Lineage::DEFAULT_JSON,
                ValueRef::Text(long.as_bytes()),
            ),
            args("UPDATE", "not json", ValueRef::Text(b"{}")),
            args("NOT AN OP", Lineage::DEFAULT_JSON, ValueRef::Text(b"{}")),
            args("UPDATE", Lineage::DEFAULT_JSON, ValueRef::Blob(b"{}")),
        ];
        for case in cases {
            assert_eq!(page_item_of(&case), None, "{case:?}");
        }
        let mut negative = args("UPDATE", Lineage::DEFAULT_JSON, ValueRef::Text(b"{}"));
        negative[1] = ValueRef::Integer(-1);
        assert_eq!(page_item_of(&negative), None);
    }
}
