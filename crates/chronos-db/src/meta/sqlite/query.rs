//! The query compiler: filters, sorts and keyset pages as SQL over the indexed properties
//! (`json_extract` of the head's `meta` column), and running a query.

use super::super::{FlatPage, FlatRow, ItemPage, ItemRow, MetaError, QueryPage};
use super::connection::backend;
use super::page_item::{page_item, writer_columns};
use super::rows::{
    read_flat, read_flat_only, read_head, read_item_only, FLAT_COLS, VER_COLS, WRITER_COLS,
};
use crate::model::{StoredVersion, Timestamp};
use crate::query::{AsOf, CmpOp, Cursor, Field, Filter, IndexedPath, Query, Scalar};
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

/// `'$."a"."b"'`: the JSON path literal of an indexed property (segments are validated names).
fn json_path(p: &IndexedPath) -> String {
    let mut s = String::from("'$");
    for seg in &p.segments {
        s.push_str(".\"");
        s.push_str(seg);
        s.push('"');
    }
    s.push('\'');
    s
}

pub(super) fn meta_expr(p: &IndexedPath) -> String {
    format!("json_extract(meta, {})", json_path(p))
}

/// The second index column: filters check the JSON type next to the value (MongoDB never
/// compares values of different types), so the index answers both without reading the row.
pub(super) fn meta_type_expr(p: &IndexedPath) -> String {
    format!("json_type(meta, {})", json_path(p))
}

/// Builds SQL text and its parameters.
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) params: Vec<SqlValue>,
}

impl Sql {
    fn bind(&mut self, v: SqlValue) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }

    fn bind_scalar(&mut self, s: &Scalar) -> String {
        let v = match s {
            Scalar::Null => SqlValue::Null,
            Scalar::Bool(b) => SqlValue::Integer(*b as i64),
            Scalar::Int(i) => SqlValue::Integer(*i),
            Scalar::Float(f) => SqlValue::Real(*f),
            Scalar::Str(s) => SqlValue::Text(s.clone()),
        };
        self.bind(v)
    }

    /// Binds a sort value taken from a cursor: a BLOB sort key travels as marked text.
    fn bind_cursor_value(&mut self, s: &Scalar) -> String {
        match s {
            Scalar::Str(text) => match text.strip_prefix(CURSOR_BLOB).map(hex::decode) {
                Some(Ok(bytes)) => self.bind(SqlValue::Blob(bytes)),
                _ => self.bind_scalar(s),
            },
            other => self.bind_scalar(other),
        }
    }
}

fn op_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
    }
}

/// A comparison of one JSON value (`val`, with SQLite JSON type `ty`) against a scalar, with
/// MongoDB's rule that values of different types never compare.
fn json_cmp(sql: &mut Sql, val: &str, ty: &str, op: CmpOp, s: &Scalar) -> String {
    if op == CmpOp::Ne {
        return format!(
            "NOT COALESCE(({}), 0)",
            json_cmp(sql, val, ty, CmpOp::Eq, s)
        );
    }
    match s {
        Scalar::Null => match op {
            CmpOp::Eq | CmpOp::Gte | CmpOp::Lte => format!("({ty} IS NULL OR {ty} = 'null')"),
            _ => "0".into(),
        },
        Scalar::Bool(b) => match op {
            CmpOp::Eq => format!("({ty} = '{}')", if *b { "true" } else { "false" }),
            _ => {
                let p = sql.bind_scalar(s);
                format!("({ty} IN ('true','false') AND {val} {} {p})", op_sql(op))
            }
        },
        Scalar::Int(_) | Scalar::Float(_) => {
            let p = sql.bind_scalar(s);
            format!("({val} {} {p} AND {ty} IN ('integer','real'))", op_sql(op))
        }
        Scalar::Str(_) => {
            let p = sql.bind_scalar(s);
            format!("({val} {} {p} AND {ty} = 'text')", op_sql(op))
        }
    }
}

fn column(field: &Field) -> &'static str {
    match field {
        Field::Id => "h.id",
        Field::Ov => "h.ov",
        Field::Cv => "h.cv",
        Field::UpdatedAt => "h.at",
        Field::Meta(_) => "",
    }
}

/// A condition on a field, for scalar and array properties alike.
fn field_cond(
    sql: &mut Sql,
    field: &Field,
    cond: &dyn Fn(&mut Sql, &str, &str) -> String,
    null_means_missing: bool,
) -> String {
    match field {
        Field::Meta(p) => {
            let path = json_path(p);
            let val = format!("json_extract(h.meta, {path})");
            let ty = format!("json_type(h.meta, {path})");
            if p.array {
                let inner = cond(sql, "j.value", "j.type");
                let missing = if null_means_missing {
                    format!(" OR {ty} IS NULL OR {ty} = 'null'")
                } else {
                    String::new()
                };
                format!("(EXISTS (SELECT 1 FROM json_each(h.meta, {path}) AS j WHERE {inner}){missing})")
            } else {
                cond(sql, &val, &ty)
            }
        }
        _ => {
            let col = column(field);
            let ty = match field {
                Field::Id => "'text'",
                _ => "'integer'",
            };
            cond(sql, col, ty)
        }
    }
}

fn compile(sql: &mut Sql, f: &Filter) -> String {
    match f {
        Filter::All => "1".into(),
        Filter::And(parts) => format!(
            "({})",
            parts
                .iter()
                .map(|p| compile(sql, p))
                .collect::<Vec<_>>()
                .join(" AND ")
        ),
        Filter::Or(parts) => format!(
            "({})",
            parts
                .iter()
                .map(|p| compile(sql, p))
                .collect::<Vec<_>>()
                .join(" OR ")
        ),
        // COALESCE: a comparison on a missing field is NULL in SQL, and NOT NULL would drop
        // the row, while MongoDB's negations match documents without the field.
        Filter::Not(inner) => format!("(NOT COALESCE({}, 0))", compile(sql, inner)),
        Filter::Cmp { field, op, value } => {
            if *op == CmpOp::Ne {
                // $ne is the negation of $eq over the whole field (arrays: no element equals).
                let eq = Filter::Cmp {
                    field: field.clone(),
                    op: CmpOp::Eq,
                    value: value.clone(),
                };
                return format!("(NOT COALESCE({}, 0))", compile(sql, &eq));
            }
            let null_eq =
                matches!(value, Scalar::Null) && matches!(op, CmpOp::Eq | CmpOp::Gte | CmpOp::Lte);
            field_cond(
                sql,
                field,
                &|sql, val, ty| json_cmp(sql, val, ty, *op, value),
                null_eq,
            )
        }
        Filter::In { field, values } => {
            if values.is_empty() {
                return "0".into();
            }
            let parts: Vec<String> = values
                .iter()
                .map(|v| {
                    compile(
                        sql,
                        &Filter::Cmp {
                            field: field.clone(),
                            op: CmpOp::Eq,
                            value: v.clone(),
                        },
                    )
                })
                .collect();
            format!("({})", parts.join(" OR "))
        }
        Filter::Exists { field, exists } => {
            let cond = match field {
                Field::Meta(p) => format!("json_type(h.meta, {}) IS NOT NULL", json_path(p)),
                _ => "1".into(),
            };
            if *exists {
                cond
            } else {
                format!("(NOT {cond})")
            }
        }
        Filter::Regex { field, pattern } => {
            let pattern = pattern.clone();
            field_cond(
                sql,
                field,
                &|sql, val, ty| {
                    let p = sql.bind(SqlValue::Text(pattern.clone()));
                    format!("({ty} = 'text' AND chronos_regexp({p}, {val}))")
                },
                false,
            )
        }
    }
}

fn sort_expr(field: &Field) -> String {
    match field {
        Field::Meta(p) => sort_key_expr(p, "h.meta"),
        other => column(other).to_string(),
    }
}

/// The value an indexed property sorts by, so that SQLite's own order of values (NULL <
/// numbers < text < BLOB, BLOBs bytewise) puts the types in MongoDB's order: null and
/// missing < numbers < strings < objects < arrays < booleans (false < true). Objects and
/// arrays become BLOBs of their JSON text behind a type byte, so within those two types the
/// order is their JSON text's (MongoDB compares them field by field, and arrays by their
/// smallest element); booleans become a type byte and 0 or 1.
pub(super) fn sort_key_expr(p: &IndexedPath, meta: &str) -> String {
    let path = json_path(p);
    format!(
        "(CASE json_type({meta}, {path}) \
         WHEN 'object' THEN CAST(X'01' || json_extract({meta}, {path}) AS BLOB) \
         WHEN 'array' THEN CAST(X'02' || json_extract({meta}, {path}) AS BLOB) \
         WHEN 'false' THEN X'0300' WHEN 'true' THEN X'0301' \
         ELSE json_extract({meta}, {path}) END)"
    )
}

/// The filter as SQL, with its top-level comparisons of scalar indexed properties (numbers
/// and strings, not `$ne`) stated on each property's sort-key expression instead of on
/// `json_extract`/`json_type`.
///
/// Why: the sort index of a property is the one that covers a flat page (see
/// `page_item::page_columns`), and stated on its key a comparison is a seek into it:
/// - an equality page is one range of that index, in id order, read from the index alone;
/// - a range filter on `p` sorted by `p` would otherwise be answered by one of two plans,
///   both bad when the range is wide: the value index (every match read, then sorted) or
///   the sort index scanned from its start, parsing each row's JSON to test the range.
///
/// The two forms match the same rows: the sort key of a number is the number and of a
/// string the string, while every other JSON type (null, booleans, objects, arrays) has a
/// NULL or BLOB key, which the type test excludes as `json_type` did. Comparisons inside
/// `$or`, `$not` and `$in`, and those on null, booleans and arrays, keep the value index.
///
/// `cursor_start`: a later page sorted on this property (descending when `true`) starts its
/// range at the cursor, which always lies within the filter's range. The filter's bounds
/// on the same side (lower bounds ascending, upper bounds descending) are then written so
/// that SQLite does not take them as the index range (a unary `+`): with two bounds on one
/// side it may pick either, and the filter's would read every row before the cursor again.
fn compile_on_sort_keys(
    sql: &mut Sql,
    filter: &Filter,
    cursor_start: Option<(&IndexedPath, bool)>,
) -> String {
    let mut conds = Vec::new();
    let mut rest = Vec::new();
    for part in top_level(filter) {
        match key_comparison(part) {
            Some((p, op, value, types)) => {
                let key = sort_key_expr(p, "h.meta");
                let bound = sql.bind_scalar(value);
                let same_side = match cursor_start {
                    Some((sorted, desc)) if sorted == p => match op {
                        CmpOp::Gt | CmpOp::Gte => !desc,
                        CmpOp::Lt | CmpOp::Lte => desc,
                        CmpOp::Eq | CmpOp::Ne => false,
                    },
                    _ => false,
                };
                let plus = if same_side { "+" } else { "" };
                conds.push(format!(
                    "({plus}{key} {} {bound} AND typeof({key}) IN {types})",
                    op_sql(*op)
                ));
            }
            None => rest.push(part.clone()),
        }
    }
    if !rest.is_empty() {
        conds.push(compile(sql, &Filter::And(rest)));
    }
    if conds.is_empty() {
        "1".into()
    } else {
        conds.join(" AND ")
    }
}

/// Marks a cursor value that stands for a BLOB sort key (its bytes in hex).
const CURSOR_BLOB: &str = "\u{0}blob:";

/// Whether the filter leaves out the rows whose sort key on `field` is NULL (null or
/// missing): it has a top-level comparison of a number or a string on it.
fn excludes_null_keys(filter: &Filter, field: &Field) -> bool {
    match field {
        Field::Meta(p) => top_level(filter)
            .iter()
            .filter_map(key_comparison)
            .any(|(compared, ..)| compared == p),
        // The system columns are never NULL.
        _ => true,
    }
}

/// The filter's top-level parts: those of an `$and`, or the filter itself.
fn top_level(filter: &Filter) -> &[Filter] {
    match filter {
        Filter::And(parts) => parts,
        single => std::slice::from_ref(single),
    }
}

/// A comparison [`compile_on_sort_keys`] states on a sort key: a scalar indexed property
/// compared (not `$ne`) with a number or a string; with the SQLite types its key has then.
fn key_comparison(part: &Filter) -> Option<(&IndexedPath, &CmpOp, &Scalar, &'static str)> {
    match part {
        Filter::Cmp {
            field: Field::Meta(p),
            op,
            value,
        } if !p.array && *op != CmpOp::Ne => match value {
            Scalar::Int(_) | Scalar::Float(_) => Some((p, op, value, "('integer','real')")),
            Scalar::Str(_) => Some((p, op, value, "('text')")),
            _ => None,
        },
        _ => None,
    }
}

/// The keyset condition "strictly after the cursor" for the given sort. `nulls_excluded`:
/// the filter leaves out NULL keys of the first sort key (see [`excludes_null_keys`]).
fn keyset(sql: &mut Sql, sort: &[(String, bool)], cursor: &Cursor, nulls_excluded: bool) -> String {
    let id_desc = sort.last().map(|s| s.1).unwrap_or(false);
    if let ([(expr, desc)], [value]) = (sort, cursor.values.as_slice()) {
        if !matches!(value, Scalar::Null) {
            // One sort key with a value: a bound on the key that SQLite reads as the start
            // of the page's range in the key's sort index, and the tie on the id as a test
            // of the rows at the bound. (The expanded OR below is one index search per
            // branch and a sort of everything they match.) A descending page whose filter
            // keeps NULL keys still needs an OR for them, which SQLite may read that way.
            let p = sql.bind_cursor_value(value);
            let id = sql.bind(SqlValue::Text(cursor.id.clone()));
            return if !*desc {
                format!("({expr} >= {p} AND ({expr} > {p} OR h.id > {id}))")
            } else if nulls_excluded {
                format!("({expr} <= {p} AND ({expr} < {p} OR h.id < {id}))")
            } else {
                // NULL keys sort first: a descending order ends with them.
                format!("(({expr} <= {p} AND ({expr} < {p} OR h.id < {id})) OR {expr} IS NULL)")
            };
        }
    }
    let mut ors = Vec::new();
    for i in 0..=sort.len() {
        let mut ands = Vec::new();
        for (j, (expr, _)) in sort.iter().enumerate().take(i) {
            let p = sql.bind_cursor_value(&cursor.values[j]);
            ands.push(format!("{expr} IS {p}"));
        }
        if i < sort.len() {
            let (expr, desc) = &sort[i];
            let after = match (&cursor.values[i], desc) {
                (Scalar::Null, false) => format!("{expr} IS NOT NULL"),
                (Scalar::Null, true) => "0".into(),
                (v, false) => {
                    let p = sql.bind_cursor_value(v);
                    format!("{expr} > {p}")
                }
                (v, true) => {
                    let p = sql.bind_cursor_value(v);
                    format!("({expr} < {p} OR {expr} IS NULL)")
                }
            };
            ands.push(after);
        } else {
            let p = sql.bind(SqlValue::Text(cursor.id.clone()));
            ands.push(format!("h.id {} {p}", if id_desc { "<" } else { ">" }));
        }
        ors.push(format!("({})", ands.join(" AND ")));
    }
    format!("({})", ors.join(" OR "))
}

fn to_scalar(v: SqlValue) -> Scalar {
    match v {
        SqlValue::Null => Scalar::Null,
        SqlValue::Integer(i) => Scalar::Int(i),
        SqlValue::Real(f) => Scalar::Float(f),
        SqlValue::Text(s) => Scalar::Str(s),
        SqlValue::Blob(b) => Scalar::Str(format!("{CURSOR_BLOB}{}", hex::encode(b))),
    }
}

/// Which columns a query page selects; its sort values follow them.
#[derive(Clone, Copy)]
pub(super) enum Columns {
    /// Every column of a version row ([`VER_COLS`], then `shadow`): what decoding the row
    /// whole needs.
    Full,
    /// Only those of the item's flat form ([`FLAT_COLS`]): SQLite copies each selected
    /// text into the result, so a JSON page leaves out the rest (payload key, hash, actor...),
    /// and the sort indexes hold these columns, so the page needs no table row.
    Flat,
    /// Those of the flat form and [`WRITER_COLS`]: what a typed item holds. The sort
    /// indexes hold these too.
    Typed,
}

impl Columns {
    fn select(self) -> &'static str {
        match self {
            Columns::Full => &PREFIXED_COLS,
            Columns::Flat => &PREFIXED_FLAT_COLS,
            Columns::Typed => &PREFIXED_TYPED_COLS,
        }
    }

    /// The position of the first sort value.
    fn sort_at(self) -> usize {
        match self {
            Columns::Full => VER_COLS.split(", ").count() + 1,
            Columns::Flat => FLAT_COLS.split(", ").count(),
            Columns::Typed => FLAT_COLS.split(", ").count() + WRITER_COLS.split(", ").count(),
        }
    }
}

pub(super) fn build_query(t: &str, q: &Query, columns: Columns) -> Sql {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let sort: Vec<(String, bool)> = q
        .sort
        .iter()
        .map(|k| (sort_expr(&k.field), k.descending))
        .collect();
    let sort_cols: String = sort.iter().map(|(e, _)| format!(", {e}")).collect();
    let cols = columns.select();
    // Latest queries read the head table directly, so SQLite can use its expression indexes.
    let mut conds = Vec::new();
    let source = match q.as_of {
        None => format!("SELECT {cols}{sort_cols} FROM {t}_head AS h"),
        Some(as_of) => {
            let (col, bound) = match as_of {
                AsOf::Time(ts) => ("at", ts.micros()),
                AsOf::Cv(cv) => ("cv", cv.min(i64::MAX as u64) as i64),
            };
            let p = sql.bind(SqlValue::Integer(bound));
            conds.push(format!("h.cv = (SELECT MAX(v2.cv) FROM {t}_ver AS v2 WHERE v2.id = h.id AND v2.{col} <= {p})"));
            format!("SELECT {cols}{sort_cols} FROM {t}_ver AS h")
        }
    };
    if !q.include_deleted {
        conds.push("h.deleted = 0".to_string());
    } else {
        // Erasure tombstones are deleted too, but never listed: nothing of them is left.
        conds.push("h.op <> 'ERASE'".to_string());
    }
    let first_sorted = q.sort.first().map(|k| &k.field);
    // The page starts at the cursor's bound (see `keyset`) when it has one sort key and a
    // value for it.
    let cursor_start = match (q.sort.as_slice(), &q.after) {
        ([key], Some(c)) => match (&key.field, c.values.as_slice()) {
            (Field::Meta(p), [v]) if !matches!(v, Scalar::Null) => Some((p, key.descending)),
            _ => None,
        },
        _ => None,
    };
    conds.push(compile_on_sort_keys(&mut sql, &q.filter, cursor_start));
    if let Some(cursor) = &q.after {
        // `Query` is public: a hand-built cursor may not fit the sort (decoded ones always do).
        if cursor.values.len() == sort.len() {
            let nulls_excluded = first_sorted.is_some_and(|f| excludes_null_keys(&q.filter, f));
            conds.push(keyset(&mut sql, &sort, cursor, nulls_excluded));
        } else {
            conds.push("0".into());
        }
    }
    let id_desc = sort.last().map(|s| s.1).unwrap_or(false);
    let mut order: Vec<String> = sort
        .iter()
        .map(|(e, d)| format!("{e} {}", if *d { "DESC" } else { "ASC" }))
        .collect();
    order.push(format!("h.id {}", if id_desc { "DESC" } else { "ASC" }));
    let limit = sql.bind(SqlValue::Integer(q.limit as i64 + 1));
    sql.text = format!(
        "{source} WHERE {} ORDER BY {} LIMIT {limit}",
        conds.join(" AND "),
        order.join(", ")
    );
    sql
}

/// Distinct ids of items with a version row matching `filter`, after `after`, ascending.
pub(super) fn build_any_version_ids(
    t: &str,
    filter: &Filter,
    after: Option<&str>,
    limit: usize,
) -> Sql {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let mut conds = vec![compile(&mut sql, filter)];
    if let Some(after) = after {
        let p = sql.bind(SqlValue::Text(after.to_string()));
        conds.push(format!("h.id > {p}"));
    }
    let limit = sql.bind(SqlValue::Integer(limit.min(i64::MAX as usize) as i64));
    sql.text = format!(
        "SELECT DISTINCT h.id FROM {t}_ver AS h WHERE {} ORDER BY h.id LIMIT {limit}",
        conds.join(" AND ")
    );
    sql
}

pub(super) fn run_query(c: &mut Connection, t: &str, q: &Query) -> Result<QueryPage, MetaError> {
    let read = |r: &rusqlite::Row<'_>| Ok(read_head(r)?.map(Some));
    let (rows, next) = run_page(c, t, q, Columns::Full, read, |h: &StoredVersion| {
        &h.version.id
    })?
    .unwrap_or_default();
    Ok(QueryPage { rows, next })
}

/// [`run_query`] with each row in flat form when `inline_since` allows it (see
/// [`crate::meta::MetadataStore::query_flat`]).
pub(super) fn run_flat_query(
    c: &mut Connection,
    t: &str,
    q: &Query,
    inline_since: Option<Timestamp>,
) -> Result<FlatPage, MetaError> {
    let (rows, next) = run_from_index(
        c,
        t,
        q,
        inline_since,
        Columns::Flat,
        |r| read_flat_only(r, inline_since),
        |r| read_flat(r, inline_since),
        FlatRow::id,
    )?;
    Ok(FlatPage { rows, next })
}

/// [`run_query`] with each row decoded as an item when `inline_since` allows it (see
/// [`crate::meta::MetadataStore::query_items`]).
pub(super) fn run_item_query(
    c: &mut Connection,
    t: &str,
    q: &Query,
    inline_since: Option<Timestamp>,
) -> Result<ItemPage, MetaError> {
    let (rows, next) = run_from_index(
        c,
        t,
        q,
        inline_since,
        Columns::Typed,
        |r| read_item_only(r, inline_since),
        |r| Ok(read_head(r)?.map(|row| ItemRow::Stored(Box::new(row)))),
        ItemRow::id,
    )?;
    Ok(ItemPage { rows, next })
}

/// A page read first from the sort indexes' copies (`columns`, each row by `from_copy`),
/// and again with every column (each row by `whole`) when a row has no usable copy.
///
/// The common page: every row has usable inline content, and only the columns the indexes
/// hold are read; the first row that cannot be built so ends the attempt. The second read
/// replaces the first whole, so the page is one snapshot even if a write landed in between.
#[allow(clippy::too_many_arguments)]
fn run_from_index<T>(
    c: &mut Connection,
    t: &str,
    q: &Query,
    inline_since: Option<Timestamp>,
    columns: Columns,
    from_copy: impl Fn(&rusqlite::Row<'_>) -> Option<T>,
    whole: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Result<T, MetaError>>,
    id_of: impl Fn(&T) -> &str,
) -> Result<Page<T>, MetaError> {
    if inline_since.is_some() {
        let read = |r: &rusqlite::Row<'_>| Ok(Ok(from_copy(r)));
        if let Some(page) = run_page(c, t, q, columns, read, &id_of)? {
            return Ok(page);
        }
    }
    let read = |r: &rusqlite::Row<'_>| Ok(whole(r)?.map(Some));
    Ok(run_page(c, t, q, Columns::Full, read, &id_of)?.unwrap_or_default())
}

/// A page's rows and the cursor after its last one, when more follow.
type Page<T> = (Vec<T>, Option<Cursor>);

/// Runs the query, reading each row with `read`; returns the page's rows and the cursor
/// after its last one (named by `id_of`) when more follow, or `None` as soon as `read`
/// gives up on a row (answers `None`).
fn run_page<T>(
    c: &mut Connection,
    t: &str,
    q: &Query,
    columns: Columns,
    read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Result<Option<T>, MetaError>>,
    id_of: impl Fn(&T) -> &str,
) -> Result<Option<Page<T>>, MetaError> {
    let sql = build_query(t, q, columns);
    let sort_at = columns.sort_at();
    let n_sort = q.sort.len();
    let mut st = c.prepare_cached(&sql.text).map_err(backend)?;
    let mut rows = st
        .query(rusqlite::params_from_iter(sql.params.iter()))
        .map_err(backend)?;
    let mut out: Vec<T> = Vec::with_capacity(q.limit.saturating_add(1).min(1024));
    // The query asks for one row more than the page: its presence says another page follows
    // (it is not read), and the cursor is the page's last row's sort values (read for no
    // other row).
    let mut last_sort = Vec::new();
    let mut more = false;
    while let Some(r) = rows.next().map_err(backend)? {
        if out.len() == q.limit {
            more = true;
            break;
        }
        if out.len() + 1 == q.limit {
            last_sort = (0..n_sort)
                .map(|i| r.get::<_, SqlValue>(sort_at + i).map(to_scalar))
                .collect::<rusqlite::Result<_>>()
                .map_err(backend)?;
        }
        match read(r).map_err(backend)?? {
            Some(row) => out.push(row),
            None => return Ok(None),
        }
    }
    let next = match out.last() {
        Some(row) if more => Some(Cursor {
            values: last_sort,
            id: id_of(row).to_string(),
        }),
        _ => None,
    };
    Ok(Some((out, next)))
}

/// [`VER_COLS`] and `shadow` of the query's row alias `h`, built once: a page's SQL is
/// rebuilt per call (its text is the statement cache's key).
static PREFIXED_COLS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{}, h.shadow", prefixed_cols()));

/// [`FLAT_COLS`] of the query's row alias `h`, `page_item` as the property indexes hold
/// it (so that they cover the query).
static PREFIXED_FLAT_COLS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    FLAT_COLS
        .split(", ")
        .map(|c| match c {
            "page_item" => page_item("h."),
            _ => format!("h.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
});

/// [`PREFIXED_FLAT_COLS`] and [`WRITER_COLS`] of the query's row alias `h`, the writer's as
/// the sort indexes hold them (`page_item::writer_columns`).
static PREFIXED_TYPED_COLS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{}, h.op, {}", *PREFIXED_FLAT_COLS, writer_columns("h.")));

fn prefixed_cols() -> String {
    // Query results never need the indexed meta decoded (filters read `h.meta` directly).
    VER_COLS
        .split(", ")
        .map(|c| {
            if c == "meta" {
                "'{}' AS meta".to_string()
            } else {
                format!("h.{c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
