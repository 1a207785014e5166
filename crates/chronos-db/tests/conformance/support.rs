//! Helpers shared by the conformance cases.

use chronos_db::config::{Base64Prop, ChronosConfig, CollectionMap};
use chronos_db::CreateOptions;
use std::time::Duration;

/// Create options naming the item's id.
pub fn with_id(id: &str) -> CreateOptions {
    CreateOptions {
        id: Some(id.into()),
        ..Default::default()
    }
}

pub fn map(indexed: &[&str]) -> CollectionMap {
    CollectionMap {
        indexed_props: indexed.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub fn with_map(name: &'static str, m: CollectionMap) -> impl FnOnce(&mut ChronosConfig) {
    move |c| {
        c.collection_maps.insert(name.into(), m);
    }
}

pub async fn tick() {
    // Distinct commit times around a captured instant (timestamps have microsecond precision).
    tokio::time::sleep(Duration::from_millis(3)).await;
}

pub fn blob_map() -> CollectionMap {
    CollectionMap {
        indexed_props: vec![],
        base64_props: [
            (
                "file".to_string(),
                Base64Prop {
                    content_type: "application/octet-stream".into(),
                    preferred_text: false,
                    text_charset: None,
                },
            ),
            (
                "doc.note".to_string(),
                Base64Prop {
                    content_type: "text/plain".into(),
                    preferred_text: true,
                    text_charset: None,
                },
            ),
        ]
        .into(),
        ..Default::default()
    }
}
