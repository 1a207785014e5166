//! Connecting: one client per connection reference, with bounded timeouts.

use super::*;

/// Connects with bounded timeouts (server selection / connect = `timeout`), never logging or
/// returning the URI's credentials in errors. The client connects lazily: an unreachable
/// server shows up as [`MetaError::Unavailable`] on first use.
pub(crate) async fn connect(uri: &str, timeout: Duration) -> Result<Client, MetaError> {
    let mut opts = tokio::time::timeout(timeout, async { ClientOptions::parse(uri).await })
        .await
        .map_err(|_| {
            MetaError::Unavailable(BackendError::new(
                "timed out resolving the MongoDB connection string",
            ))
        })?
        .map_err(|e| match map_err(e) {
            MetaError::Backend(m) => {
                MetaError::Invalid(format!("invalid MongoDB connection string: {m}"))
            }
            MetaError::Invalid(m) => {
                MetaError::Invalid(format!("invalid MongoDB connection string: {m}"))
            }
            other => other,
        })?;
    opts.server_selection_timeout = Some(timeout);
    opts.connect_timeout = Some(timeout);
    if opts.app_name.is_none() {
        opts.app_name = Some("chronos-db".into());
    }
    Client::with_options(opts).map_err(map_err)
}
