//! Query pages whose rows a backend may hand out already built from their inline content:
//! in the item's flat JSON form for readers that pass JSON on ([`FlatPage`]), as decoded
//! items for typed readers ([`ItemPage`]); the stored version otherwise.

use crate::model::{Item, Op, StoredVersion, SystemFields, Timestamp};
use crate::query::Cursor;

/// One page of [`super::MetadataStore::query_flat`].
#[derive(Debug, Default)]
pub struct FlatPage {
    /// Matching rows, in the query's order.
    pub rows: Vec<FlatRow>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// One row of a [`FlatPage`].
#[derive(Debug)]
#[non_exhaustive]
pub enum FlatRow {
    /// The item in its flat form (`{"_id", ...content, "_system"}`), built from the row's
    /// inline content.
    Flat {
        /// The item's id.
        id: String,
        /// The item as JSON text.
        json: crate::ItemJson,
    },
    /// A row whose content must come from its object: none inline, an inline copy older
    /// than the caller accepts, or one that does not read as an object.
    Stored(Box<StoredVersion>),
}

impl FlatRow {
    /// The item's id.
    pub fn id(&self) -> &str {
        match self {
            FlatRow::Flat { id, .. } => id,
            FlatRow::Stored(row) => &row.version.id,
        }
    }

    /// `row` in flat form when its inline content was committed at or after `inline_since`
    /// (never when `None`) and reads as an object; an erasure's tombstone never is (its
    /// reader drops it).
    pub fn of(row: StoredVersion, inline_since: Option<Timestamp>) -> FlatRow {
        let v = &row.version;
        let usable = inline_since.is_some_and(|since| v.at >= since) && v.op != Op::Erase;
        if let (true, Some(content)) = (usable, row.shadow.as_deref()) {
            if let Ok(json) = crate::flat::item_json(&v.id, content, &SystemFields::of(v)) {
                return FlatRow::Flat {
                    id: v.id.clone(),
                    json,
                };
            }
        }
        FlatRow::Stored(Box::new(row))
    }
}

/// One page of [`super::MetadataStore::query_items`].
#[derive(Debug, Default)]
pub struct ItemPage {
    /// Matching rows, in the query's order.
    pub rows: Vec<ItemRow>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// One row of an [`ItemPage`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ItemRow {
    /// The item, decoded from the row's inline content by the backend as it read the row.
    Item(Box<Item>),
    /// A row the reader hydrates itself: its content must come from its object, its inline
    /// copy is older than the caller accepts, or the backend hands out stored rows only.
    Stored(Box<StoredVersion>),
}

impl ItemRow {
    /// The item's id.
    pub fn id(&self) -> &str {
        match self {
            ItemRow::Item(item) => &item.id,
            ItemRow::Stored(row) => &row.version.id,
        }
    }

    /// The item a row of a flat form reads as, with the columns of the version that the
    /// flat form does not show (its operation, who wrote it and why); `None` when the text
    /// does not take apart as flat text (the caller then reads the row whole).
    pub(crate) fn from_flat(
        text: &str,
        op: Op,
        actor: Option<String>,
        reason: Option<String>,
    ) -> Option<ItemRow> {
        let parts = crate::flat::parse_item(text).ok()?;
        Some(ItemRow::Item(Box::new(Item {
            id: parts.id,
            data: parts.data,
            system: parts.system,
            op,
            actor,
            reason,
            presigned: None,
        })))
    }
}

/// The columns of a row that its flat form is built from, borrowed from the row as a
/// backend reads it: a page of flat rows then costs no [`StoredVersion`] per row.
pub(crate) struct FlatColumns<'a> {
    /// The item's id.
    pub id: &'a str,
    /// The version's object version.
    pub ov: u64,
    /// The version's collection version.
    pub cv: u64,
    /// When the version was committed.
    pub at: Timestamp,
    /// The version's operation, as stored.
    pub op: &'a str,
    /// Whether the version is a deletion.
    pub deleted: bool,
    /// The version's lineage as JSON text.
    pub lineage: &'a str,
    /// The inline content, if any.
    pub content: Option<&'a str>,
}

impl FlatColumns<'_> {
    /// The row in flat form, or `None` when it does not qualify (see [`FlatRow::of`]) or
    /// its text does not read: the caller then decodes the row whole.
    pub(crate) fn build(&self, inline_since: Option<Timestamp>) -> Option<FlatRow> {
        if self.at < inline_since? {
            return None;
        }
        Some(FlatRow::Flat {
            id: self.id.to_string(),
            json: self.item_json()?,
        })
    }

    /// The item in flat form whatever its commit time, or `None` when the row has no
    /// inline content, is an erasure's tombstone or its text does not read.
    pub(crate) fn item_json(&self) -> Option<crate::ItemJson> {
        let content = self.content?;
        if Op::parse(self.op)? == Op::Erase {
            return None;
        }
        let lineage = crate::model::Lineage::from_json(self.lineage).ok()?;
        let system = SystemFields::from_lineage(self.ov, self.cv, self.at, self.deleted, lineage);
        crate::flat::item_json(self.id, content, &system).ok()
    }
}
