//! [`BackendError`]: a storage driver's error with its whole source chain kept, every level's
//! message passed through [`crate::redact::redact`].
//!
//! Why not keep the driver's error itself as the `source`: MongoDB, object_store and the HTTP
//! clients under them quote connection strings, signed URLs and headers in their messages,
//! and anything that walks an error chain (`{:#}` in anyhow, a tracing layer, an HTTP error
//! body) would print them. So the chain is copied once, at the point where the driver's error
//! enters the library, as redacted text per level; what the caller may decide on
//! (unavailable or refused, conflict, not found) is decided there from the driver's error
//! kinds and codes and carried by the enclosing error's variant.

use crate::redact::redact;
use std::error::Error as StdError;
use std::fmt;

/// The longest source chain copied: deeper levels are dropped (a driver's chain is a handful
/// of levels; the bound only keeps a pathological one from costing memory).
const MAX_DEPTH: usize = 16;

/// A backend failure: a redacted message and the redacted chain of errors that caused it.
///
/// ```
/// use chronos_db::BackendError;
/// use std::error::Error;
/// let io = std::io::Error::other("connect to mongodb://admin:hunter22@db:27017 failed");
/// let e = BackendError::caused_by("mongodb", &io);
/// assert!(e.to_string().starts_with("mongodb: connect to mongodb://***@db"));
/// assert!(!e.to_string().contains("hunter22"));
/// let source = e.source().expect("the io error is kept as the source");
/// assert!(!source.to_string().contains("hunter22"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    message: String,
    source: Option<Box<BackendError>>,
}

impl BackendError {
    /// A failure described by the library itself, with no underlying error.
    pub fn new(message: impl AsRef<str>) -> Self {
        BackendError {
            message: redact(message.as_ref()),
            source: None,
        }
    }

    /// A failure caused by `err`: the message is `context: <err>`, and `err`'s chain is kept
    /// (redacted) as the source.
    pub fn caused_by(context: impl AsRef<str>, err: &(dyn StdError + 'static)) -> Self {
        let source = Self::copy_chain(err, 0);
        BackendError {
            message: format!("{}: {}", redact(context.as_ref()), source.message),
            source: Some(Box::new(source)),
        }
    }

    fn copy_chain(err: &(dyn StdError + 'static), depth: usize) -> BackendError {
        BackendError {
            message: redact(&err.to_string()),
            source: err
                .source()
                .filter(|_| depth + 1 < MAX_DEPTH)
                .map(|s| Box::new(Self::copy_chain(s, depth + 1))),
        }
    }

    /// The redacted message of this level (the same text as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<&str> for BackendError {
    fn from(message: &str) -> Self {
        BackendError::new(message)
    }
}

impl From<String> for BackendError {
    fn from(message: String) -> Self {
        BackendError::new(message)
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for BackendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Layer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|s| s as &(dyn StdError + 'static))
        }
    }

    #[test]
    fn every_level_is_kept_and_redacted() {
        let inner = Layer(
            "GET https://acct.blob.core.windows.net/c/k?sig=SECRETSIG&se=1",
            None,
        );
        let outer = Layer("request failed", Some(Box::new(inner)));
        let e = BackendError::caused_by("azure", &outer);
        assert_eq!(e.to_string(), "azure: request failed");
        let mut levels = Vec::new();
        let mut next: Option<&(dyn StdError + 'static)> = Some(&e);
        while let Some(level) = next {
            levels.push(level.to_string());
            next = level.source();
        }
        assert_eq!(levels.len(), 3, "{levels:?}");
        assert!(levels[2].contains("sig=***"), "{levels:?}");
        assert!(levels.iter().all(|l| !l.contains("SECRETSIG")));
    }

    #[test]
    fn a_long_chain_is_bounded() {
        let mut err = Layer("bottom", None);
        for _ in 0..100 {
            err = Layer("level", Some(Box::new(err)));
        }
        let e = BackendError::caused_by("x", &err);
        let mut depth = 0;
        let mut next: Option<&(dyn StdError + 'static)> = Some(&e);
        while let Some(level) = next {
            depth += 1;
            next = level.source();
        }
        assert_eq!(depth, MAX_DEPTH + 1);
    }

    #[test]
    fn own_messages_are_redacted_too() {
        let e = BackendError::new("cannot reach mongodb://u:pw123456@h");
        assert!(!e.to_string().contains("pw123456"));
        assert!(e.source().is_none());
    }
}
