//! The query compiler: filters, sorts and keyset conditions as MongoDB queries.

use super::*;

pub(super) fn field_path(f: &Field, ver: bool) -> String {
    match f {
        Field::Id if ver => "id".into(),
        Field::Id => "_id".into(),
        Field::Ov => "ov".into(),
        Field::Cv => "cv".into(),
        Field::UpdatedAt => "at".into(),
        Field::Meta(p) => meta_path(p),
    }
}

pub(super) fn meta_path(p: &IndexedPath) -> String {
    format!("meta.{}", p.dotted())
}

pub(super) fn scalar_bson(s: &Scalar) -> Bson {
    match s {
        Scalar::Null => Bson::Null,
        Scalar::Bool(b) => Bson::Boolean(*b),
        Scalar::Int(i) => Bson::Int64(*i),
        Scalar::Float(f) => Bson::Double(*f),
        Scalar::Str(s) => Bson::String(s.clone()),
    }
}

/// A condition nothing matches (every document has an `_id`).
pub(super) fn match_none() -> Document {
    doc! {"_id": {"$in": []}}
}

pub(super) fn one(path: &str, op: &str, value: Bson) -> Document {
    let mut inner = Document::new();
    inner.insert(op, value);
    let mut d = Document::new();
    d.insert(path, inner);
    d
}

pub(super) fn all_of(mut parts: Vec<Document>) -> Document {
    parts.retain(|p| !p.is_empty());
    match parts.len() {
        0 => Document::new(),
        1 => parts.pop().unwrap_or_default(),
        _ => doc! {"$and": parts},
    }
}

pub(super) fn any_of(mut parts: Vec<Document>) -> Document {
    match parts.len() {
        0 => match_none(),
        1 => parts.pop().unwrap_or_default(),
        _ => doc! {"$or": parts},
    }
}

/// Compiles a validated filter to a MongoDB filter (`ver`: over version rows, where the item
/// id is `id` instead of `_id`).
pub(super) fn compile(f: &Filter, ver: bool) -> Document {
    match f {
        Filter::All => Document::new(),
        Filter::And(parts) => all_of(parts.iter().map(|p| compile(p, ver)).collect()),
        Filter::Or(parts) => {
            let subs: Vec<Document> = parts.iter().map(|p| compile(p, ver)).collect();
            if subs.iter().any(Document::is_empty) {
                Document::new()
            } else {
                any_of(subs)
            }
        }
        Filter::Not(inner) => doc! {"$nor": [compile(inner, ver)]},
        Filter::Cmp { field, op, value } => {
            let op = match op {
                CmpOp::Eq => "$eq",
                CmpOp::Ne => "$ne",
                CmpOp::Gt => "$gt",
                CmpOp::Gte => "$gte",
                CmpOp::Lt => "$lt",
                CmpOp::Lte => "$lte",
            };
            let path = field_path(field, ver);
            if op == "$eq" && *value == Scalar::Null {
                let mut d = Document::new();
                d.insert(path, Bson::Null);
                return d;
            }
            one(&path, op, scalar_bson(value))
        }
        Filter::In { field, values } => one(
            &field_path(field, ver),
            "$in",
            Bson::Array(values.iter().map(scalar_bson).collect()),
        ),
        Filter::Exists { field, exists } => match field {
            Field::Meta(p) => one(&meta_path(p), "$exists", Bson::Boolean(*exists)),
            // System fields always exist.
            _ if *exists => Document::new(),
            _ => match_none(),
        },
        Filter::Regex { field, pattern } => {
            // Inline flags such as `(?i)` stay in the pattern: PCRE (MongoDB) and Go's regexp
            // (FerretDB) both understand them.
            one(
                &field_path(field, ver),
                "$regex",
                Bson::String(pattern.clone()),
            )
        }
    }
}

/// The position of a BSON value's type in MongoDB's ascending sort order (of the types JSON
/// values have): null/missing 0, numbers 1, strings 2, objects 3, arrays 4, booleans 5.
pub(super) fn type_rank(b: &Bson) -> usize {
    match b {
        Bson::Null | Bson::Undefined | Bson::MinKey => 0,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 1,
        Bson::String(_) | Bson::Symbol(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        _ => 5,
    }
}

pub(super) fn type_list(names: &[&str]) -> Bson {
    Bson::Array(names.iter().map(|n| Bson::String(n.to_string())).collect())
}

/// "Sorts strictly after `v`" for one sort key. MongoDB's comparison operators only match
/// values of the same type, so the types that sort after `v`'s type are added explicitly.
/// `None` when nothing can sort after it.
pub(super) fn after(path: &str, v: &Bson, desc: bool) -> Option<Document> {
    let rank = type_rank(v);
    let mut ors = Vec::new();
    if !desc {
        if rank > 0 {
            ors.push(one(path, "$gt", v.clone()));
        }
        if rank + 1 < TYPE_ORDER.len() {
            ors.push(one(path, "$type", type_list(&TYPE_ORDER[rank + 1..])));
        }
    } else {
        if rank == 0 {
            return None;
        }
        ors.push(one(path, "$lt", v.clone()));
        if rank > 1 {
            ors.push(one(path, "$type", type_list(&TYPE_ORDER[1..rank])));
        }
        // null or missing sorts first.
        let mut null = Document::new();
        null.insert(path, Bson::Null);
        ors.push(null);
    }
    if ors.is_empty() {
        None
    } else {
        Some(any_of(ors))
    }
}

/// A cursor value as BSON (object and array sort values travel as marked hex BSON).
pub(super) fn cursor_bson(s: &Scalar) -> Result<Bson, MetaError> {
    if let Scalar::Str(text) = s {
        if let Some(hexed) = text.strip_prefix(CURSOR_BSON) {
            let bad = || {
                MetaError::Invalid(
                    "invalid cursor: pass back the 'next' value of the previous page unchanged"
                        .into(),
                )
            };
            let bytes = hex::decode(hexed).map_err(|_| bad())?;
            let d = bson::from_slice::<Document>(&bytes).map_err(|_| bad())?;
            return d.get("v").cloned().ok_or_else(bad);
        }
    }
    Ok(scalar_bson(s))
}

/// A sort value of a result row as a cursor scalar (missing → Null).
pub(super) fn cursor_scalar(b: Option<&Bson>) -> Scalar {
    match b {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Scalar::Null,
        Some(Bson::Boolean(x)) => Scalar::Bool(*x),
        Some(Bson::Int32(x)) => Scalar::Int(i64::from(*x)),
        Some(Bson::Int64(x)) => Scalar::Int(*x),
        Some(Bson::Double(x)) => Scalar::Float(*x),
        Some(Bson::String(s)) if !s.starts_with(CURSOR_BSON) => Scalar::Str(s.clone()),
        Some(other) => {
            let bytes = bson::to_vec(&doc! {"v": other.clone()}).unwrap_or_default();
            Scalar::Str(format!("{CURSOR_BSON}{}", hex::encode(bytes)))
        }
    }
}

/// The value at a dotted path of a document.
pub(super) fn lookup<'a>(d: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut cur = d;
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        let v = cur.get(seg)?;
        if segs.peek().is_none() {
            return Some(v);
        }
        cur = v.as_document()?;
    }
    None
}

/// The keyset condition "strictly after the cursor", like the SQLite store's: for each i,
/// the first i sort values equal and the (i+1)-th after, and finally all equal and the id
/// after (in the direction of the last key).
pub(super) fn keyset(
    sort: &[(String, bool)],
    id_path: &str,
    id_sorted: bool,
    cursor: &Cursor,
) -> Result<Document, MetaError> {
    if cursor.values.len() != sort.len() {
        return Err(MetaError::Invalid(
            "the cursor belongs to a query with a different sort".into(),
        ));
    }
    let values = cursor
        .values
        .iter()
        .map(cursor_bson)
        .collect::<Result<Vec<_>, _>>()?;
    let id_desc = sort.last().map(|s| s.1).unwrap_or(false);
    let mut ors = Vec::new();
    for i in 0..=sort.len() {
        let mut ands: Vec<Document> = (0..i)
            .map(|j| one(&sort[j].0, "$eq", values[j].clone()))
            .collect();
        if i < sort.len() {
            match after(&sort[i].0, &values[i], sort[i].1) {
                Some(d) => ands.push(d),
                None => continue,
            }
        } else {
            if id_sorted {
                continue;
            }
            let op = if id_desc { "$lt" } else { "$gt" };
            ands.push(one(id_path, op, Bson::String(cursor.id.clone())));
        }
        ors.push(all_of(ands));
    }
    Ok(any_of(ors))
}
