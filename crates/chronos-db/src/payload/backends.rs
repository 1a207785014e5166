//! Opening an `object_store` backend for a spaces connection and a bucket.
//!
//! Credentials go only into the builders; every error message is built from the connection
//! name and bucket, and a backend's own text goes through `SpacesConnection::redact`.

use super::PayloadError;
use crate::backend_error::BackendError;
use crate::config::{Provider, SpacesConnection};
use object_store::{ClientOptions, RetryConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Default per-request timeout of the cloud providers.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default retries of a failed request.
const DEFAULT_RETRIES: u32 = 2;

fn client_options(conn: &SpacesConnection) -> (ClientOptions, RetryConfig) {
    let timeout = conn
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT);
    let options = ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(timeout.min(Duration::from_secs(5)))
        .with_allow_http(
            conn.endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
        );
    let retry = RetryConfig {
        max_retries: conn.max_retries.unwrap_or(DEFAULT_RETRIES) as usize,
        retry_timeout: timeout.saturating_mul(2),
        ..Default::default()
    };
    (options, retry)
}

/// Opens the store holding `bucket` for a connection, with the way to presign its keys.
pub(crate) fn open(
    name: &str,
    conn: &SpacesConnection,
    local_override: Option<&str>,
    bucket: &str,
) -> Result<(Arc<dyn object_store::ObjectStore>, Signing), PayloadError> {
    // The builders' messages may quote a configured key, so only the connection's own
    // redaction of them is kept, not the errors.
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        PayloadError::Backend(BackendError::new(format!(
            "spaces connection '{name}', bucket '{bucket}': {what}: {e}"
        )))
    };
    if let Some(base) = local_override {
        return local(base, bucket);
    }
    let (options, retry) = client_options(conn);
    Ok(match conn.effective_provider() {
        Provider::Local => local(conn.base_path.as_deref().unwrap_or("."), bucket)?,
        Provider::Memory => (
            Arc::new(object_store::memory::InMemory::new()),
            Signing::None,
        ),
        Provider::S3 => {
            let mut b = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(conn.region.clone().unwrap_or_else(|| "us-east-1".into()))
                .with_client_options(options)
                .with_retry(retry)
                .with_virtual_hosted_style_request(!conn.force_path_style.unwrap_or(true));
            if let Some(e) = &conn.endpoint {
                b = b.with_endpoint(s3_endpoint(
                    e,
                    bucket,
                    conn.force_path_style.unwrap_or(true),
                ));
            }
            if let (Some(k), Some(s)) = (&conn.access_key, &conn.secret_key) {
                b = b.with_access_key_id(k).with_secret_access_key(s);
            }
            {
                let s3 = Arc::new(
                    b.build()
                        .map_err(|e| bad("invalid S3 settings", &conn.redact(&e.to_string())))?,
                );
                (s3.clone(), Signing::Url(s3))
            }
        }
        Provider::Azure => {
            let mut b = object_store::azure::MicrosoftAzureBuilder::new()
                .with_container_name(bucket)
                .with_client_options(options)
                .with_retry(retry);
            let account = conn.access_key.clone().unwrap_or_default();
            b = b.with_account(&account);
            if let Some(key) = &conn.secret_key {
                b = b.with_access_key(key);
            }
            // The configured endpoint, as `admin buckets` uses it: an emulator on this machine
            // (Azurite) gets the path-style account URL `<endpoint>/<account>`, on whatever
            // port it listens (object_store's own emulator mode would always use port 10000).
            if conn.endpoint.as_deref().is_some_and(|e| !e.is_empty()) {
                b = b.with_endpoint(azure_base(conn, &account));
            }
            {
                let az =
                    Arc::new(b.build().map_err(|e| {
                        bad("invalid Azure settings", &conn.redact(&e.to_string()))
                    })?);
                (az.clone(), Signing::Url(az))
            }
        }
        Provider::Gcs => {
            let mut b = object_store::gcp::GoogleCloudStorageBuilder::new()
                .with_bucket_name(bucket)
                .with_client_options(options)
                .with_retry(retry);
            // secretKey holds the service-account key (JSON); without it, the environment's.
            if let Some(key) = &conn.secret_key {
                b = b.with_service_account_key(key);
            }
            {
                let gcs = Arc::new(
                    b.build()
                        .map_err(|e| bad("invalid GCS settings", &conn.redact(&e.to_string())))?,
                );
                (gcs.clone(), Signing::Url(gcs))
            }
        }
    })
}

/// The endpoint object_store expects: with virtual-hosted requests it must already name the
/// bucket (`https://<bucket>.<host>`), while configurations give the service endpoint.
fn s3_endpoint(endpoint: &str, bucket: &str, path_style: bool) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    if path_style {
        return endpoint.to_string();
    }
    match endpoint.split_once("://") {
        Some((scheme, host)) if !host.starts_with(&format!("{bucket}.")) => {
            format!("{scheme}://{bucket}.{host}")
        }
        _ => endpoint.to_string(),
    }
}

fn local(
    base: &str,
    bucket: &str,
) -> Result<(Arc<dyn object_store::ObjectStore>, Signing), PayloadError> {
    let dir = PathBuf::from(base).join(bucket);
    let fs = open_local_dir(&dir)?;
    Ok((fs.clone(), Signing::File(fs)))
}

/// The directory of a bucket when the connection keeps objects in local files.
pub(crate) fn local_dir(
    conn: &SpacesConnection,
    local_override: Option<&str>,
    bucket: &str,
) -> Option<PathBuf> {
    match (local_override, conn.effective_provider()) {
        (Some(base), _) => Some(PathBuf::from(base).join(bucket)),
        (None, Provider::Local) => {
            Some(PathBuf::from(conn.base_path.as_deref().unwrap_or(".")).join(bucket))
        }
        _ => None,
    }
}

/// The directory under which a connection keeps its buckets when it keeps objects in local
/// files.
pub(crate) fn local_base(conn: &SpacesConnection, local_override: Option<&str>) -> Option<PathBuf> {
    match (local_override, conn.effective_provider()) {
        (Some(base), _) => Some(PathBuf::from(base)),
        (None, Provider::Local) => Some(PathBuf::from(conn.base_path.as_deref().unwrap_or("."))),
        _ => None,
    }
}

/// Creates (if needed) and opens a local directory as an object store.
pub(crate) fn open_local_dir(
    dir: &std::path::Path,
) -> Result<Arc<object_store::local::LocalFileSystem>, PayloadError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        PayloadError::Backend(BackendError::caused_by(
            format!("cannot create {}", dir.display()),
            &e,
        ))
    })?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
        .map_err(|e| PayloadError::Backend(BackendError::caused_by("local directory", &e)))?;
    Ok(Arc::new(fs))
}

/// True when an endpoint points at this machine (the Azurite emulator).
fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint.split("://").nth(1).unwrap_or(endpoint);
    rest.starts_with("127.") || rest.starts_with("localhost") || rest.starts_with("[::1]")
}

/// The account's blob service URL: the endpoint; for an emulator endpoint without a path,
/// the path-style account URL `<endpoint>/<account>`; without an endpoint, the public one.
pub(crate) fn azure_base(conn: &SpacesConnection, account: &str) -> String {
    match conn.endpoint.as_deref().map(|e| e.trim_end_matches('/')) {
        Some(e) if !e.is_empty() => {
            let has_path = e.split("://").nth(1).is_some_and(|rest| rest.contains('/'));
            if is_loopback(e) && !has_path {
                format!("{e}/{account}")
            } else {
                e.to_string()
            }
        }
        _ => format!("https://{account}.blob.core.windows.net"),
    }
}

/// How a store turns a key into a URL a client can fetch.
#[derive(Clone)]
pub(crate) enum Signing {
    /// No URLs (in-memory store).
    None,
    /// Presigned HTTP(S) URLs (S3 SigV4 query signing, Azure SAS, GCS V4).
    Url(Arc<dyn object_store::signer::Signer>),
    /// `file://` URLs of the local filesystem (development; they carry no expiry).
    File(Arc<object_store::local::LocalFileSystem>),
}

#[cfg(test)]
mod tests {
    use super::s3_endpoint;

    #[test]
    fn virtual_hosted_endpoints_name_the_bucket() {
        assert_eq!(
            s3_endpoint("https://nyc3.digitaloceanspaces.com/", "b1x", false),
            "https://b1x.nyc3.digitaloceanspaces.com"
        );
        assert_eq!(
            s3_endpoint("https://b1x.nyc3.digitaloceanspaces.com", "b1x", false),
            "https://b1x.nyc3.digitaloceanspaces.com"
        );
        assert_eq!(
            s3_endpoint("http://127.0.0.1:9000/", "b1x", true),
            "http://127.0.0.1:9000"
        );
    }
}
