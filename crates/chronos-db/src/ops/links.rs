//! Links to one version's objects: the object store's presigned URLs, or, with encryption
//! on, links served and decrypted by `chronos serve`:
//! `<base>/v1/blobs/~e/<route>/<key>?expires=&sig=`, where `<route>` is
//! `<databaseType>.<tier>.<tenant or domain, or ~>.<collection>` and the signature is an
//! HMAC under a key derived from the master key (any server with it accepts the link). The
//! object key carries its version and write id, so a link is pinned to one version's object.

use super::Collection;
use crate::error::{Error, Result};
use crate::payload::{LinkError, LinkSigner};
use crate::routing::Route;
use crate::tiers::{DatabaseType, Tier};
use bytes::Bytes;
use std::str::FromStr;

/// The first segment of a link to an encrypted object (`~` is in no connection name).
pub(crate) const ENCRYPTED_LINK: &str = "~e";

/// `<databaseType>.<tier>.<scope id or ~>.<collection>`.
fn route_segment(route: &Route) -> String {
    let scope = route
        .tenant_id
        .as_deref()
        .or(route.domain.as_deref())
        .unwrap_or("~");
    format!(
        "{}.{}.{scope}.{}",
        route.database_type.as_str(),
        route.tier.as_str(),
        route.collection
    )
}

/// The route a segment names (every part validated as a route's).
pub(crate) fn parse_route_segment(segment: &str) -> Option<Route> {
    let mut parts = segment.split('.');
    let (ty, tier, scope, coll) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let ty = DatabaseType::from_str(ty).ok()?;
    match Tier::from_str(tier).ok()? {
        Tier::Generic if scope == "~" => Route::generic(ty, coll).ok(),
        Tier::Domain => Route::domain(ty, scope, coll).ok(),
        Tier::Tenant => Route::tenant(ty, scope, coll).ok(),
        _ => None,
    }
}

impl Collection {
    /// A URL for one of this collection's objects, valid for `ttl`.
    pub(super) async fn object_url(&self, key: &str, ttl: std::time::Duration) -> Result<String> {
        let Some(keyring) = &self.inner.keyring else {
            return Ok(self.payload.presign(key, ttl).await?);
        };
        let signer = self.inner.payloads.links.get().ok_or_else(|| {
            Error::validation("with encryption on, presigned links are served by `chronos serve`")
        })?;
        let path = format!("{ENCRYPTED_LINK}/{}/{key}", route_segment(&self.route));
        Ok(signer.link_with_key(&keyring.link_key(), &path, ttl)?)
    }

    /// The decrypted bytes of one of this collection's objects, for a link already checked.
    pub(crate) async fn linked_object(&self, key: &str) -> std::result::Result<Bytes, LinkError> {
        // The route chose the bucket and prefix; the key must stay in the collection.
        let inside = key
            .strip_prefix(&format!("{}/", self.route.collection))
            .is_some_and(|rest| !rest.is_empty());
        if !inside || object_store::path::Path::parse(key).is_err() {
            return Err(LinkError::Invalid);
        }
        // `<collection>/<id>/...`: a link outlives nothing the item does, erasure included.
        let id = key.split('/').nth(1).unwrap_or_default();
        self.refuse_if_erased(id, || format!("item '{id}'"))
            .await
            .map_err(LinkError::Read)?;
        let bytes = self.payload.get(key).await.map_err(|e| {
            LinkError::Read(match e {
                crate::payload::PayloadError::NotFound(_) => {
                    Error::NotFound("the linked object".into())
                }
                other => other.into(),
            })
        })?;
        crate::compression::for_link(key, bytes, self.settings.limits.max_payload_bytes)
            .map_err(|e| LinkError::Read(Error::Corrupt(e)))
    }
}

/// Checks a link to an encrypted object and reads it (`path` without `~e/`).
pub(crate) async fn read_encrypted_link(
    context: &std::sync::Arc<super::Context>,
    path: &str,
    expires: u64,
    sig: &str,
) -> std::result::Result<Bytes, LinkError> {
    let keyring = context.keyring.as_ref().ok_or(LinkError::Invalid)?;
    let (segment, key) = path.split_once('/').ok_or(LinkError::Invalid)?;
    let route = parse_route_segment(segment).ok_or(LinkError::Invalid)?;
    LinkSigner::check_with_key(
        &keyring.link_key(),
        &format!("{ENCRYPTED_LINK}/{path}"),
        expires,
        sig,
    )?;
    let coll = context.collection(route).map_err(|_| LinkError::Invalid)?;
    coll.linked_object(key).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_segments_round_trip_and_refuse_the_rest() {
        for route in [
            Route::tenant(DatabaseType::Runtime, "t-1", "vault").unwrap(),
            Route::domain(DatabaseType::Knowledge, "health", "docs").unwrap(),
            Route::generic(DatabaseType::Metadata, "schemas").unwrap(),
            Route::logs("erasures").unwrap(),
        ] {
            assert_eq!(parse_route_segment(&route_segment(&route)), Some(route));
        }
        for bad in [
            "",
            "runtime.tenant.t1",
            "runtime.tenant.t1.c.x",
            "runtime.tenant.~.c",
            "nope.tenant.t1.c",
            "runtime.generic.t1.c",
            "runtime.tenant.../c",
        ] {
            assert_eq!(parse_route_segment(bad), None, "{bad}");
        }
    }
}
