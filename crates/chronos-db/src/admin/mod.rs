//! Start-up and maintenance checks over the configured connections.

mod buckets;
mod compact;
mod keys;
mod retention;

pub use compact::{CompactOutcome, CompactedDatabase, CompactionReport};
pub use keys::{RotationReport, ShredReport};
pub use retention::{RetentionSweep, SweepOptions, SweptCollection};

use crate::chronos::Chronos;
use crate::config::{ConnRefs, Provider, Serves};
use crate::routing::{DatabaseType, Route};
use futures::StreamExt;
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
    /// Whether the check passed.
    pub ok: bool,
    /// What went wrong (credentials redacted), or "ok".
    pub message: String,
}

/// What `chronos admin buckets` found for one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BucketStatus {
    /// The bucket (container, directory) exists and the credentials reach it.
    Exists,
    /// It does not exist (only reported by a check; a create makes it).
    Missing,
    /// It did not exist and was just created.
    Created,
    /// A template bucket with `{tenantId}` or `{domain}`: one bucket per tenant or domain,
    /// which cannot be listed from the configuration.
    Skipped,
    /// It could not be checked or created (see the message).
    Error,
}

/// The state of one bucket of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketState {
    /// The spaces connection reference.
    pub connection: String,
    /// The bucket (for a skipped template, the template text).
    pub bucket: String,
    /// The provider the bucket is stored with (`local` when `localStorage` is enabled).
    pub provider: Provider,
    /// What was found or done.
    pub state: BucketStatus,
    /// What was asked and answered (credentials redacted).
    pub message: String,
}

/// How many buckets are checked at once.
const BUCKET_CONCURRENCY: usize = 8;

/// Name of the collection used for probes (never written).
const PROBE: &str = "chronos_check";

impl Chronos {
    /// Contacts every metadata database and bucket of the configuration's listed entries:
    /// a ping for databases; for buckets a small object written, read back and removed (what
    /// fails with a missing bucket, wrong credentials, or an endpoint that is not an object
    /// store). Template entries are checked
    /// when a route first uses them; a metadata connection only templates use is still
    /// pinged (with the database name `chronos_check`, which the ping does not create).
    pub async fn check_connections(&self) -> Vec<ConnectionCheck> {
        let mut out = self.listed_checks().await;
        let checked: std::collections::HashSet<String> = out
            .iter()
            .filter(|c| c.kind == "metadata")
            .map(|c| c.connection.clone())
            .collect();
        for conn in self.config().db_connections.keys() {
            if checked.contains(conn) {
                continue;
            }
            let health = match self.context.metadata.open(conn, PROBE) {
                Ok(store) => store.health().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            out.push(check("metadata", "(templates)", conn, PROBE, health));
        }
        out
    }

    async fn listed_checks(&self) -> Vec<ConnectionCheck> {
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
            // The store says what an operator should know (e.g. transactions), and fails
            // when it answers but cannot work as configured.
            let health = match self
                .context
                .metadata
                .open(&resolved.db_conn_ref, &resolved.db_name)
            {
                Ok(store) => store.health().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            out.push(check(
                "metadata",
                &entry,
                &resolved.db_conn_ref,
                &resolved.db_name,
                health,
            ));
            let payload = match self.context.payloads.open(
                &resolved.space_conn_ref,
                &resolved.bucket,
                resolved.prefix.as_deref(),
            ) {
                Ok(store) => store.health().await.map_err(|e| e.to_string()),
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

    /// Checks, and with `create` creates, every bucket of the configuration: one entry per
    /// distinct (spaceConnRef, bucket) of the database entries, every reference of a
    /// multi-reference list included. Template buckets count when their only placeholder is
    /// `{databaseType}`; templates with `{tenantId}` or `{domain}` are listed as
    /// [`BucketStatus::Skipped`].
    ///
    /// S3 is asked with a signed HeadBucket (`HEAD /<bucket>`) and CreateBucket
    /// (`PUT /<bucket>`), Azure with Get/Create Container (`?restype=container`), a local
    /// connection looks at `<basePath>/<bucket>`. GCS and memory connections are reported as
    /// errors (not supported). A bucket that already exists is [`BucketStatus::Exists`], also
    /// with `create`. Requests time out after the connection's `timeoutMs` (default 30 s).
    pub async fn bucket_states(&self, create: bool) -> Vec<BucketState> {
        let cfg = self.config();
        let local_override = match &cfg.local_storage {
            Some(ls) if ls.enabled => Some(ls.base_path.as_str()),
            _ => None,
        };
        let mut seen = std::collections::HashSet::new();
        let mut jobs = Vec::new();
        for (ty, refs, bucket, template) in self.bucket_entries() {
            // `{databaseType}` is known for a template; `{tenantId}` and `{domain}` are not.
            let bucket = if template {
                bucket.replace("{databaseType}", ty.as_str())
            } else {
                bucket.to_string()
            };
            for r in refs {
                if seen.insert((r.clone(), bucket.clone())) {
                    jobs.push((r.clone(), bucket.clone(), template));
                }
            }
        }
        futures::stream::iter(jobs)
            .map(|(connection, bucket, template)| async move {
                let Some(conn) = cfg.spaces_connections.get(&connection) else {
                    return BucketState {
                        message: format!("spaces connection '{connection}' is not configured"),
                        connection,
                        bucket,
                        provider: Provider::S3,
                        state: BucketStatus::Error,
                    };
                };
                let provider = buckets::effective_provider(conn, local_override);
                if template && bucket.contains('{') {
                    return BucketState {
                        message: "template bucket with {tenantId} or {domain}: one bucket \
                                  per tenant or domain, which the configuration does not list \
                                  (not checked)"
                            .into(),
                        connection,
                        bucket,
                        provider,
                        state: BucketStatus::Skipped,
                    };
                }
                let o = buckets::check(conn, local_override, &bucket, create).await;
                BucketState {
                    connection,
                    bucket,
                    provider,
                    state: o.status,
                    message: o.message,
                }
            })
            .buffered(BUCKET_CONCURRENCY)
            .collect()
            .await
    }

    /// (databaseType, spaceConnRef, bucket, is a template) of every database entry and
    /// template, in configuration order.
    fn bucket_entries(&self) -> Vec<(DatabaseType, &ConnRefs, &str, bool)> {
        self.config()
            .databases
            .entries()
            .into_iter()
            .map(|e| {
                let template = e.serves.template().is_some();
                (
                    e.database_type,
                    e.db.space_conn_ref(),
                    e.db.bucket(),
                    template,
                )
            })
            .collect()
    }

    /// One route per listed (non-template) database entry. Validation has checked every
    /// listed tenant and domain name, so none is dropped here in practice.
    fn listed_routes(&self) -> Vec<Route> {
        self.config()
            .databases
            .entries()
            .into_iter()
            .filter_map(|e| {
                let ty = e.database_type;
                match e.serves {
                    Serves::Everyone if ty == DatabaseType::Logs => Route::logs(PROBE),
                    Serves::Everyone => Route::generic(ty, PROBE),
                    Serves::Domain(d) => Route::domain(ty, d, PROBE),
                    Serves::Tenant(t) => Route::tenant(ty, t, PROBE),
                    Serves::AnyDomain(_) | Serves::AnyTenant(_) => return None,
                }
                .ok()
            })
            .collect()
    }
}

/// The collection name routes to whole databases are built with: only their database
/// matters.
const ANY_COLLECTION: &str = "chronos_admin";

/// One route per database of the configuration's listed entries, and per database of each
/// of `tenants` and `domains` where a template serves them; with the database types whose
/// templates serve others than those named (not visited: nothing lists them).
pub(crate) fn database_routes(
    cfg: &crate::config::ChronosConfig,
    tenants: &[String],
    domains: &[String],
) -> crate::error::Result<(Vec<Route>, Vec<String>)> {
    let (mut routes, mut not_listed) = (Vec::new(), Vec::new());
    for e in cfg.databases.entries() {
        let ty = e.database_type;
        match e.serves {
            Serves::Everyone if ty == DatabaseType::Logs => {
                routes.push(Route::logs(ANY_COLLECTION)?)
            }
            Serves::Everyone => routes.push(Route::generic(ty, ANY_COLLECTION)?),
            Serves::Domain(d) => routes.push(Route::domain(ty, d, ANY_COLLECTION)?),
            Serves::Tenant(t) => routes.push(Route::tenant(ty, t, ANY_COLLECTION)?),
            Serves::AnyDomain(_) => {
                not_listed.push(unvisited(ty, "domains", domains));
                for d in domains {
                    routes.push(Route::domain(ty, d, ANY_COLLECTION)?);
                }
            }
            Serves::AnyTenant(_) => {
                not_listed.push(unvisited(ty, "tenants", tenants));
                for t in tenants {
                    routes.push(Route::tenant(ty, t, ANY_COLLECTION)?);
                }
            }
        }
    }
    Ok((routes, not_listed))
}

/// How [`database_routes`] names the databases a template serves that it does not visit.
fn unvisited(ty: DatabaseType, whose: &str, named: &[String]) -> String {
    match named {
        [] => format!("{}: {whose}", ty.as_str()),
        _ => format!("{}: {whose} other than those named", ty.as_str()),
    }
}

fn check(
    kind: &'static str,
    entry: &str,
    connection: &str,
    target: &str,
    result: Result<Option<String>, String>,
) -> ConnectionCheck {
    // A healthy store may say more than "ok" (transactions, a directory not created yet).
    let (ok, message) = match result {
        Ok(note) => (true, note.unwrap_or_else(|| "ok".to_string())),
        Err(e) => (false, crate::redact::redact(&e)),
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
