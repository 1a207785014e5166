//! The secrets a configuration holds, so that messages can be cleaned of them (see
//! [`crate::redact`]).

use super::{ChronosConfig, SpacesConnection};
use crate::redact::{
    percent_decode, redact_with, register_secret, service_account_secrets, uri_password,
};

impl SpacesConnection {
    /// `text` without this connection's keys (a message about this connection).
    pub(crate) fn redact(&self, text: &str) -> String {
        let secrets = self.secrets();
        redact_with(text, secrets.iter().map(String::as_str))
    }

    /// The keys of this connection as they may appear in a message.
    fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = [&self.secret_key, &self.access_key]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if let Some(key) = &self.secret_key {
            out.extend(service_account_secrets(key));
        }
        out
    }
}

impl ChronosConfig {
    /// Registers every key and password of the configuration with [`register_secret`], so
    /// that no message or log line shows them.
    pub(crate) fn register_secrets(&self) {
        for conn in self.spaces_connections.values() {
            for s in conn.secrets() {
                register_secret(&s);
            }
        }
        if let Some(erasure) = &self.erasure {
            register_secret(&erasure.receipt_key);
        }
        if let Some(enc) = &self.encryption {
            register_secret(&enc.master_key);
            for k in &enc.previous_master_keys {
                register_secret(k);
            }
        }
        for conn in self.db_connections.values() {
            if let Some(password) = conn.mongo_uri.as_deref().and_then(uri_password) {
                register_secret(&percent_decode(password));
                register_secret(password);
            }
        }
    }
}
