//! Version rows: the column list, decoding a row, encoding a record's parameters.

use super::super::{FlatColumns, FlatRow, MetaError};
use super::connection::backend;
use crate::model::{Lineage, Op, StoredVersion, Timestamp, VersionRecord};
use rusqlite::types::{Value as SqlValue, ValueRef};

pub(super) const VER_COLS: &str = "id, ov, cv, op, at, actor, reason, function_id, payload_key, size, sha256, meta, lineage, deleted, content_of, request_id";

pub(super) fn read_version(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<VersionRecord, MetaError>> {
    let op: String = r.get(3)?;
    let meta: String = r.get(11)?;
    let lineage: String = r.get(12)?;
    let id: String = r.get(0)?;
    let ov: i64 = r.get(1)?;
    let decoded = (|| -> Result<VersionRecord, MetaError> {
        let corrupt =
            |what: &str| MetaError::Corrupt(format!("version {ov} of '{id}': bad {what}"));
        Ok(VersionRecord {
            id: id.clone(),
            ov: ov as u64,
            cv: r.get::<_, i64>(2).map_err(|_| corrupt("cv"))? as u64,
            op: Op::parse(&op).ok_or_else(|| corrupt("op"))?,
            at: Timestamp(r.get(4).map_err(|_| corrupt("at"))?),
            actor: r.get(5).map_err(|_| corrupt("actor"))?,
            reason: r.get(6).map_err(|_| corrupt("reason"))?,
            function_id: r.get(7).map_err(|_| corrupt("function_id"))?,
            payload_key: r.get(8).map_err(|_| corrupt("payload_key"))?,
            size: r.get::<_, i64>(9).map_err(|_| corrupt("size"))? as u64,
            sha256: r.get(10).map_err(|_| corrupt("sha256"))?,
            indexed: serde_json::from_str(&meta).map_err(|_| corrupt("meta"))?,
            lineage: Lineage::from_json(&lineage).map_err(|_| corrupt("lineage"))?,
            deleted: r.get::<_, i64>(13).map_err(|_| corrupt("deleted"))? != 0,
            content_of: r.get::<_, i64>(14).map_err(|_| corrupt("content_of"))? as u64,
            request_id: r.get(15).map_err(|_| corrupt("request_id"))?,
        })
    })();
    Ok(decoded)
}

pub(super) fn read_head(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<StoredVersion, MetaError>> {
    let shadow: Option<String> = r.get(16)?;
    Ok(read_version(r)?.map(|version| StoredVersion {
        version,
        shadow,
        mark: None,
    }))
}

/// The columns a query selects when it wants its rows in flat form only (see
/// [`read_flat_only`]), by name; `lineage` and `shadow` are selected as [`page_lineage`]
/// and [`page_copy`].
pub(super) const FLAT_COLS: &str = "id, ov, cv, op, at, deleted, lineage, shadow";

/// The longest inline content, in characters, that the property indexes of a head table
/// carry a copy of (see [`page_copy`]).
///
/// Why a bound: each scalar indexed property's sort index holds the copy, so the copies
/// cost disk and write bytes in proportion to the indexed properties. Up to
/// about 1,000 bytes an index entry stays on its index page; longer copies spill to
/// overflow pages but still spare the table seek; past this bound a page reads the table.
pub(super) const PAGE_COPY_MAX_CHARS: usize = 2048;

/// `shadow` as the property indexes hold it: the inline content when it has at most
/// [`PAGE_COPY_MAX_CHARS`] characters, NULL otherwise. `alias` prefixes the column name
/// (`""` in index definitions, `"h."` in queries: SQLite matches the expressions by their
/// form, so both must come from here).
///
/// A NULL copy reads like a row without inline content: the flat page is read again with
/// every column, `shadow` included (see `query::run_flat_query`).
pub(super) fn page_copy(alias: &str) -> String {
    format!("(CASE WHEN length({alias}shadow) <= {PAGE_COPY_MAX_CHARS} THEN {alias}shadow END)")
}

/// `lineage` as the property indexes hold it: NULL for [`Lineage::DEFAULT_JSON`] (a first
/// version without parent, origin or function: items created and never changed), the text
/// otherwise. That text is a quarter of such an item's index entry, and a page whose
/// entries fill fewer index pages reads fewer pages from the file. `alias` as for
/// [`page_copy`].
pub(super) fn page_lineage(alias: &str) -> String {
    format!(
        "(CASE WHEN {alias}lineage = '{}' THEN NULL ELSE {alias}lineage END)",
        Lineage::DEFAULT_JSON
    )
}

/// The columns a property index carries after its key, so that it holds every column of a
/// flat page ([`FLAT_COLS`], as [`page_lineage`] and [`page_copy`] for `lineage` and
/// `shadow`) and SQLite answers the page from the index alone (a covering index), without
/// seeking each row in the table. The rows of a page are neighbours in the index but
/// scattered in the table: the seeks were a third of a page's time.
pub(super) fn page_columns() -> String {
    format!("ov, cv, op, at, {}, {}", page_lineage(""), page_copy(""))
}

/// Where the flat form's columns are in a query row.
struct FlatAt {
    id: usize,
    ov: usize,
    cv: usize,
    op: usize,
    at: usize,
    deleted: usize,
    lineage: usize,
    content: usize,
    /// The lineage column is [`page_lineage`]'s (NULL for the default), not the stored
    /// column (never NULL: a NULL there is a damaged row).
    lineage_null_is_default: bool,
}

/// In a row of [`VER_COLS`] and `shadow`.
const FLAT_IN_FULL: FlatAt = FlatAt {
    id: 0,
    ov: 1,
    cv: 2,
    op: 3,
    at: 4,
    deleted: 13,
    lineage: 12,
    content: 16,
    lineage_null_is_default: false,
};

/// In a row of [`FLAT_COLS`].
const FLAT_IN_FLAT: FlatAt = FlatAt {
    id: 0,
    ov: 1,
    cv: 2,
    op: 3,
    at: 4,
    deleted: 5,
    lineage: 6,
    content: 7,
    lineage_null_is_default: true,
};

/// The row's flat form built from its text as SQLite holds it, when `inline_since` allows
/// it (see [`crate::meta::FlatRow`]) and its columns read as expected.
fn flat_columns(
    r: &rusqlite::Row<'_>,
    at: &FlatAt,
    inline_since: Option<Timestamp>,
) -> Option<FlatRow> {
    inline_since?;
    let text = |i: usize| match r.get_ref(i) {
        Ok(ValueRef::Text(t)) => std::str::from_utf8(t).ok(),
        _ => None,
    };
    let int = |i: usize| match r.get_ref(i) {
        Ok(ValueRef::Integer(n)) => Some(n),
        _ => None,
    };
    FlatColumns {
        id: text(at.id)?,
        ov: u64::try_from(int(at.ov)?).ok()?,
        cv: u64::try_from(int(at.cv)?).ok()?,
        at: Timestamp(int(at.at)?),
        op: text(at.op)?,
        deleted: int(at.deleted)? != 0,
        // NULL: the default lineage, as the property indexes hold it (`page_lineage`).
        lineage: match r.get_ref(at.lineage) {
            Ok(ValueRef::Null) if at.lineage_null_is_default => Lineage::DEFAULT_JSON,
            _ => text(at.lineage)?,
        },
        content: text(at.content),
    }
    .build(inline_since)
}

/// A row of [`FLAT_COLS`] in flat form, or `None` when it cannot be (its content must come
/// from its object, or its columns do not read): the caller then reads the row whole.
pub(super) fn read_flat_only(
    r: &rusqlite::Row<'_>,
    inline_since: Option<Timestamp>,
) -> Option<FlatRow> {
    flat_columns(r, &FLAT_IN_FLAT, inline_since)
}

/// A query row (the columns of [`read_head`]) in flat form when `inline_since` allows it,
/// built from the row's text as SQLite holds it; decoded whole otherwise (see
/// [`crate::meta::FlatRow`]). Only the columns the flat item shows are read on the fast
/// path; a row whose columns do not read as expected is decoded whole, which reports it
/// as corrupt.
pub(super) fn read_flat(
    r: &rusqlite::Row<'_>,
    inline_since: Option<Timestamp>,
) -> rusqlite::Result<Result<FlatRow, MetaError>> {
    if let Some(flat) = flat_columns(r, &FLAT_IN_FULL, inline_since) {
        return Ok(Ok(flat));
    }
    Ok(read_head(r)?.map(|row| FlatRow::Stored(Box::new(row))))
}

pub(super) fn version_params(v: &VersionRecord, cv: u64) -> Result<Vec<SqlValue>, MetaError> {
    let json = |x: &dyn erased::Ser| x.to_json();
    Ok(vec![
        SqlValue::Text(v.id.clone()),
        SqlValue::Integer(v.ov as i64),
        SqlValue::Integer(cv as i64),
        SqlValue::Text(v.op.as_str().into()),
        SqlValue::Integer(v.at.micros()),
        v.actor
            .clone()
            .map(SqlValue::Text)
            .unwrap_or(SqlValue::Null),
        v.reason
            .clone()
            .map(SqlValue::Text)
            .unwrap_or(SqlValue::Null),
        v.function_id
            .clone()
            .map(SqlValue::Text)
            .unwrap_or(SqlValue::Null),
        SqlValue::Text(v.payload_key.clone()),
        SqlValue::Integer(v.size as i64),
        SqlValue::Text(v.sha256.clone()),
        SqlValue::Text(json(&v.indexed)?),
        SqlValue::Text(json(&v.lineage)?),
        SqlValue::Integer(v.deleted as i64),
        SqlValue::Integer(v.content_of as i64),
        v.request_id
            .clone()
            .map(SqlValue::Text)
            .unwrap_or(SqlValue::Null),
    ])
}

mod erased {
    use super::MetaError;
    pub(crate) trait Ser {
        fn to_json(&self) -> Result<String, MetaError>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> Result<String, MetaError> {
            serde_json::to_string(self)
                .map_err(|e| MetaError::Invalid(format!("cannot encode: {e}")))
        }
    }
}

pub(super) fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<Result<T, MetaError>>>,
) -> Result<Vec<T>, MetaError> {
    rows.map(|r| r.map_err(backend)?).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default lineage is written into SQL as a literal between single quotes.
    #[test]
    fn the_default_lineage_is_a_plain_sql_literal() {
        assert!(!Lineage::DEFAULT_JSON.contains('\''));
        assert!(page_lineage("h.").contains(Lineage::DEFAULT_JSON));
    }

    /// The positions written in [`FLAT_IN_FULL`] and [`FLAT_IN_FLAT`] are those of the
    /// named columns in the lists the queries select.
    #[test]
    fn flat_positions_name_the_selected_columns() {
        let full: Vec<&str> = VER_COLS.split(", ").chain(["shadow"]).collect();
        let flat: Vec<&str> = FLAT_COLS.split(", ").collect();
        for (cols, at) in [(&full, &FLAT_IN_FULL), (&flat, &FLAT_IN_FLAT)] {
            let named = [
                ("id", at.id),
                ("ov", at.ov),
                ("cv", at.cv),
                ("op", at.op),
                ("at", at.at),
                ("deleted", at.deleted),
                ("lineage", at.lineage),
                ("shadow", at.content),
            ];
            for (name, i) in named {
                assert_eq!(cols.get(i), Some(&name), "{cols:?}");
            }
        }
    }
}
