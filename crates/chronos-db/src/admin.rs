//! Start-up and maintenance checks over the configured connections.

use crate::chronos::Chronos;
use crate::routing::{DatabaseType, Route};
use serde::Serialize;

/// The outcome of checking one database or bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCheck {
    /// `metadata` or `payload`.
    pub kind: &'static str,
    /// Where in the configuration (e.g. `runtime/tenant/tenant-a`).
    pub entry: String,
    /// The connection reference used.
    pub connection: String,
    /// The database name or bucket checked.
    pub target: String,
    pub ok: bool,
    /// What went wrong (credentials redacted), or "ok".
    pub message: String,
}

/// Name of the collection used for probes (never written).
const PROBE: &str = "chronos_check";

impl Chronos {
    /// Contacts every metadata database and bucket of the configuration's listed entries:
    /// a ping for databases; for buckets a small object written, read back and removed (what
    /// fails with a missing bucket, wrong credentials, or an endpoint that is not an object
    /// store). Template entries are checked
    /// when a route first uses them.
    pub async fn check_connections(&self) -> Vec<ConnectionCheck> {
        let mut out = Vec::new();
        for route in self.listed_routes() {
            let entry = route
                .to_string()
                .trim_end_matches(&format!("/{PROBE}"))
                .to_string();
            let resolved = match crate::routing::resolve(self.config(), &route) {
                Ok(r) => r,
                Err(e) => {
                    out.push(ConnectionCheck {
                        kind: "metadata",
                        entry,
                        connection: String::new(),
                        target: String::new(),
                        ok: false,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let mut meta = match self.metadata_store(&resolved) {
                Ok(store) => store.ping().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let is_mongo = self
                .config()
                .db_connections
                .get(&resolved.db_conn_ref)
                .is_some_and(|c| c.mongo_uri.is_some());
            let mut note = None;
            if meta.is_ok() && is_mongo {
                match self.transaction_support(&resolved.db_conn_ref).await {
                    Ok(Some(kind)) => {
                        note = Some(format!(
                            "ok ({kind}: multi-document transactions available)"
                        ))
                    }
                    Ok(None) => {
                        note = Some("ok (standalone: no multi-document transactions)".to_string())
                    }
                    Err(e) => meta = Err(e.to_string()),
                }
            }
            let mut c = check(
                "metadata",
                &entry,
                &resolved.db_conn_ref,
                &resolved.db_name,
                meta,
            );
            if let (true, Some(n)) = (c.ok, note) {
                c.message = n;
            }
            out.push(c);
            let payload = match self.payload_store(&resolved) {
                Ok(store) => probe(store.as_ref()).await,
                Err(e) => Err(e.to_string()),
            };
            let target = match &resolved.prefix {
                Some(p) => format!("{}/{p}", resolved.bucket),
                None => resolved.bucket.clone(),
            };
            out.push(check(
                "payload",
                &entry,
                &resolved.space_conn_ref,
                &target,
                payload,
            ));
        }
        out
    }

    /// One route per listed (non-template) database entry.
    fn listed_routes(&self) -> Vec<Route> {
        let dbs = &self.config().databases;
        let mut routes = Vec::new();
        for (ty, tiered) in [
            (DatabaseType::Metadata, &dbs.metadata),
            (DatabaseType::Knowledge, &dbs.knowledge),
        ] {
            let Some(t) = tiered else { continue };
            if t.generic_database.is_some() {
                routes.push(Route::generic(ty, PROBE));
            }
            routes.extend(
                t.domains_databases
                    .iter()
                    .map(|d| Route::domain(ty, &d.domain, PROBE)),
            );
            routes.extend(
                t.tenant_databases
                    .iter()
                    .map(|d| Route::tenant(ty, &d.tenant_id, PROBE)),
            );
        }
        if let Some(rt) = &dbs.runtime {
            routes.extend(
                rt.tenant_databases
                    .iter()
                    .map(|d| Route::tenant(DatabaseType::Runtime, &d.tenant_id, PROBE)),
            );
        }
        if dbs.logs.is_some() {
            routes.push(Route::logs(PROBE));
        }
        routes
    }
}

fn check(
    kind: &'static str,
    entry: &str,
    connection: &str,
    target: &str,
    result: Result<(), String>,
) -> ConnectionCheck {
    let (ok, message) = match result {
        Ok(()) => (true, "ok".to_string()),
        Err(e) => (false, e),
    };
    ConnectionCheck {
        kind,
        entry: entry.to_string(),
        connection: connection.to_string(),
        target: target.to_string(),
        ok,
        message,
    }
}

/// Writes, reads back and removes a small object: a listing alone passes on endpoints that
/// answer anything with 200, so the probe checks the bytes come back.
async fn probe(store: &dyn crate::payload::PayloadStore) -> Result<(), String> {
    let key = format!("{PROBE}/{}.probe", crate::names::write_id());
    let body = bytes::Bytes::from(format!("chronos probe {key}"));
    store
        .put(&key, body.clone())
        .await
        .map_err(|e| e.to_string())?;
    let read = store.get(&key).await.map_err(|e| e.to_string());
    let _ = store.delete(&key).await;
    match read {
        Ok(b) if b == body => Ok(()),
        Ok(_) => Err(
            "the endpoint accepted a write but returned different bytes: it is not an object store"
                .into(),
        ),
        Err(e) => Err(e),
    }
}
