//! Data keys (`meta::KeyStore`): documents of `chronos_keys`, `_id` = the key id. A key is
//! inserted once; destroying it removes its wrapped bytes and marks it, rotation replaces
//! its wrapping: each a single-document update.

use super::*;
use crate::meta::{KeyStore, WrappedKey};
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::Binary;

impl MongoStore {
    fn keys(&self) -> Collection<Document> {
        self.db.collection("chronos_keys")
    }
}

fn decode(d: &Document) -> Result<WrappedKey, MetaError> {
    let bad = || MetaError::Corrupt("a data key document is malformed".into());
    Ok(WrappedKey {
        kid: d.get_str("_id").map_err(|_| bad())?.to_string(),
        scope: d.get_str("scope").map_err(|_| bad())?.to_string(),
        wrapped: match d.get("wrapped") {
            Some(Bson::Binary(b)) => b.bytes.clone(),
            _ => return Err(bad()),
        },
        master_id: d.get_str("master_id").map_err(|_| bad())?.to_string(),
        created_at: Timestamp(get_int(d, "created_at").ok_or_else(bad)?),
        destroyed: d.get_bool("destroyed").map_err(|_| bad())?,
    })
}

fn binary(bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    })
}

#[async_trait]
impl KeyStore for MongoStore {
    async fn insert_key(&self, key: &WrappedKey) -> Result<(), MetaError> {
        let keys = self.keys();
        keys.create_index(store::index(
            doc! {"scope": 1, "created_at": -1},
            "scope",
            false,
        ))
        .await
        .map_err(map_err)?;
        let row = doc! {
            "_id": &key.kid,
            "scope": &key.scope,
            "wrapped": binary(&key.wrapped),
            "master_id": &key.master_id,
            "created_at": key.created_at.micros(),
            "destroyed": key.destroyed,
        };
        match keys.insert_one(row).await {
            Ok(_) => Ok(()),
            Err(e) if is_dup(&e) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn get_key(&self, kid: &str) -> Result<Option<WrappedKey>, MetaError> {
        self.keys()
            .find_one(doc! {"_id": kid})
            .await
            .map_err(map_err)?
            .map(|d| decode(&d))
            .transpose()
    }

    async fn current_key(&self, scope: &str) -> Result<Option<WrappedKey>, MetaError> {
        self.keys()
            .find_one(doc! {"scope": scope, "destroyed": false})
            .sort(doc! {"created_at": -1, "_id": -1})
            .await
            .map_err(map_err)?
            .map(|d| decode(&d))
            .transpose()
    }

    async fn destroy_keys(&self, scope: &str) -> Result<u64, MetaError> {
        let done = self
            .keys()
            .update_many(
                // `:` and `;` are consecutive: the range holds exactly `<scope>/subject:*`.
                doc! {
                    "$or": [
                        {"scope": scope},
                        {"scope": {"$gte": format!("{scope}/subject:"), "$lt": format!("{scope}/subject;")}},
                    ],
                    "destroyed": false,
                },
                doc! {"$set": {"wrapped": binary(&[]), "destroyed": true}},
            )
            .await
            .map_err(map_err)?;
        Ok(done.modified_count)
    }

    async fn keys_not_wrapped_by(&self, master_id: &str) -> Result<Vec<WrappedKey>, MetaError> {
        let rows = collect(
            self.keys()
                .find(doc! {"master_id": {"$ne": master_id}, "destroyed": false})
                .sort(doc! {"_id": 1})
                .await
                .map_err(map_err)?,
        )
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn rewrap_key(
        &self,
        kid: &str,
        wrapped: &[u8],
        master_id: &str,
    ) -> Result<(), MetaError> {
        self.keys()
            .update_one(
                doc! {"_id": kid, "destroyed": false},
                doc! {"$set": {"wrapped": binary(wrapped), "master_id": master_id}},
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
