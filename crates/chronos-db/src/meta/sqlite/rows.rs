//! Version rows: the column list, decoding a row, encoding a record's parameters.

use super::super::{FlatColumns, FlatRow, ItemRow, MetaError};
use super::connection::backend;
use crate::model::{Lineage, Op, StoredVersion, Timestamp, VersionRecord};
use crate::ItemJson;
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
/// [`read_flat_only`]), by name; `page_item` is selected as
/// [`super::page_item::page_item`].
pub(super) const FLAT_COLS: &str = "id, at, page_item";

/// The columns a typed page selects after [`FLAT_COLS`] (see [`read_item_only`]): what an
/// [`crate::Item`] holds beyond its flat form; the writer's two as the sort indexes hold
/// them (`page_item::writer_columns`).
pub(super) const WRITER_COLS: &str = "op, actor, reason";

/// Where the flat form's columns are in a row of [`VER_COLS`] and `shadow`.
mod full_at {
    pub(super) const ID: usize = 0;
    pub(super) const OV: usize = 1;
    pub(super) const CV: usize = 2;
    pub(super) const OP: usize = 3;
    pub(super) const AT: usize = 4;
    pub(super) const LINEAGE: usize = 12;
    pub(super) const DELETED: usize = 13;
    pub(super) const CONTENT: usize = 16;
}

/// The row's flat form built from its text as SQLite holds it, when `inline_since` allows
/// it (see [`crate::meta::FlatRow`]) and its columns read as expected.
fn flat_columns(r: &rusqlite::Row<'_>, inline_since: Option<Timestamp>) -> Option<FlatRow> {
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
        id: text(full_at::ID)?,
        ov: u64::try_from(int(full_at::OV)?).ok()?,
        cv: u64::try_from(int(full_at::CV)?).ok()?,
        at: Timestamp(int(full_at::AT)?),
        op: text(full_at::OP)?,
        deleted: int(full_at::DELETED)? != 0,
        lineage: text(full_at::LINEAGE)?,
        content: text(full_at::CONTENT),
    }
    .build(inline_since)
}

/// A row of [`FLAT_COLS`] in flat form, or `None` when it cannot be (its content must come
/// from its object, it was committed before `inline_since`, or its columns do not read):
/// the caller then reads the row whole.
///
/// The item is the text [`super::page_item::page_item_of`] wrote (SQLite hands it over from the index, or
/// computes it for a row no index covers), taken as it is: it was checked as it was
/// written.
pub(super) fn read_flat_only(
    r: &rusqlite::Row<'_>,
    inline_since: Option<Timestamp>,
) -> Option<FlatRow> {
    let item = fresh_item(r, inline_since?)?;
    let Ok(ValueRef::Text(id)) = r.get_ref(0) else {
        return None;
    };
    Some(FlatRow::Flat {
        id: std::str::from_utf8(id).ok()?.to_string(),
        json: ItemJson::written(item.to_string()),
    })
}

/// The flat item of a row of [`FLAT_COLS`] when the row was committed at or after `since`
/// and its columns read as expected.
fn fresh_item<'r>(r: &'r rusqlite::Row<'_>, since: Timestamp) -> Option<&'r str> {
    let (Ok(ValueRef::Integer(at)), Ok(ValueRef::Text(item))) = (r.get_ref(1), r.get_ref(2)) else {
        return None;
    };
    if Timestamp(at) < since {
        return None;
    }
    std::str::from_utf8(item).ok()
}

/// A row of [`FLAT_COLS`] and [`WRITER_COLS`] as an item, decoded from its flat form, or
/// `None` when it cannot be (as [`read_flat_only`]; also when the text does not take apart
/// as flat text): the caller then reads the row whole.
pub(super) fn read_item_only(
    r: &rusqlite::Row<'_>,
    inline_since: Option<Timestamp>,
) -> Option<ItemRow> {
    let item = fresh_item(r, inline_since?)?;
    let Ok(ValueRef::Text(op)) = r.get_ref(3) else {
        return None;
    };
    let op = Op::parse(std::str::from_utf8(op).ok()?)?;
    // `''`: none; NULL: longer than the indexes copy (see `page_item::writer_columns`).
    let text = |i: usize| -> Option<Option<String>> {
        match r.get_ref(i).ok()? {
            ValueRef::Text([]) => Some(None),
            ValueRef::Text(t) => Some(Some(std::str::from_utf8(t).ok()?.to_string())),
            _ => None,
        }
    };
    ItemRow::from_flat(item, op, text(4)?, text(5)?)
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
    if let Some(flat) = flat_columns(r, inline_since) {
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

    /// The positions written in [`full_at`] are those of the named columns in the list the
    /// queries select, and [`read_flat_only`]'s those of [`FLAT_COLS`].
    #[test]
    fn flat_positions_name_the_selected_columns() {
        let full: Vec<&str> = VER_COLS.split(", ").chain(["shadow"]).collect();
        let named = [
            ("id", full_at::ID),
            ("ov", full_at::OV),
            ("cv", full_at::CV),
            ("op", full_at::OP),
            ("at", full_at::AT),
            ("deleted", full_at::DELETED),
            ("lineage", full_at::LINEAGE),
            ("shadow", full_at::CONTENT),
        ];
        for (name, i) in named {
            assert_eq!(full.get(i), Some(&name), "{full:?}");
        }
        assert_eq!(FLAT_COLS, "id, at, page_item");
        assert_eq!(WRITER_COLS, "op, actor, reason");
    }
}
