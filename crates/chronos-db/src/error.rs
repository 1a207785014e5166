//! The error type of the operations layer.
//!
//! Each storage layer has its own error enum ([`crate::meta::MetaError`],
//! [`crate::payload::PayloadError`], [`crate::config::ConfigError`],
//! [`crate::routing::RouteError`]); this module folds them into the one [`Error`]
//! that every public operation returns. Messages never contain credentials or
//! another tenant's names: routes are described by what the caller passed in.

use crate::config::ConfigError;
use crate::meta::MetaError;
use crate::payload::PayloadError;
use crate::routing::RouteError;

/// Result alias used by every public operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an operation can fail with.
///
/// The variants are stable categories a caller (or the HTTP layer) can match on:
///
/// ```
/// use chronos_db::Error;
/// fn http_status(e: &Error) -> u16 {
///     match e {
///         Error::Validation(_) | Error::Config(_) | Error::Route(_) => 400,
///         Error::NotFound(_) => 404,
///         Error::Conflict { .. } | Error::AlreadyExists { .. } | Error::Deleted { .. } => 409,
///         Error::PayloadTooLarge { .. } => 413,
///         _ => 503,
///     }
/// }
/// assert_eq!(http_status(&Error::NotFound("item x".into())), 404);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is malformed: bad id, bad filter, wrong payload shape, missing required field...
    #[error("validation failed: {0}")]
    Validation(String),
    /// The payload is bigger than the configured limit.
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Size of the payload's JSON, in bytes.
        size: usize,
        /// The configured `limits.maxPayloadBytes`.
        limit: usize,
    },
    /// The item (or the requested version of it) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Optimistic lock failure: the caller's expected ov is not the item's current ov.
    #[error("conflict on item '{id}': expected ov {expected}, current ov is {current}")]
    Conflict {
        /// The item.
        id: String,
        /// The ov the caller expected.
        expected: u64,
        /// The item's current ov.
        current: u64,
    },
    /// A create named an id that is already taken.
    #[error("item '{id}' already exists")]
    AlreadyExists {
        /// The id that is taken.
        id: String,
    },
    /// The item is logically deleted; restore it before writing to it.
    #[error("item '{id}' is deleted (at ov {ov}); restore it first")]
    Deleted {
        /// The deleted item.
        id: String,
        /// The ov of its deletion version.
        ov: u64,
    },
    /// The version or time asked for is older than what retention (`retention.ver`) keeps.
    #[error("{what} is beyond retention; the oldest reachable point is {oldest}")]
    BeyondRetention {
        /// What was asked for (a version of an item, a time, a collection version).
        what: String,
        /// The oldest point still answered (an ov and its time, or a time and a cv).
        oldest: String,
    },
    /// The item was erased (`erase`, subject erasure or shredding): none of its versions
    /// can be read or restored.
    #[error("{what} was erased")]
    Erased {
        /// What was asked for (an item, a version of an item).
        what: String,
    },
    /// Another writer holds the item's lease and did not release it in time.
    #[error("item '{id}' is locked by another writer; try again")]
    Locked {
        /// The locked item.
        id: String,
    },
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The route does not resolve to a configured database.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Metadata(#[source] MetaError),
    /// The payload store failed.
    #[error("payload store: {0}")]
    Payload(#[source] PayloadError),
    /// Encrypted data cannot be decrypted with the configured keys: another master key than
    /// the one that wrapped its data key, a missing data key, or an altered object.
    #[error("encryption: {0}")]
    Encryption(String),
    /// Stored data is not what this version of Chronos-DB wrote (corruption or manual edits).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Not a failure: the backend did not answer, so the write was journaled in the fallback
    /// queue (`fallback.enabled`) and will be replayed until it commits, exactly once, or
    /// goes to the dead letters. HTTP answers it with 202.
    #[error("the backend did not answer; write '{}' on item '{}' is queued for replay as request '{}'", .0.op, .0.id, .0.request_id)]
    Queued(crate::model::QueuedWrite),
    /// The fallback queue's journal failed (its disk, its file).
    #[error("fallback queue: {0}")]
    Queue(String),
}

impl From<MetaError> for Error {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Invalid(msg) => Error::Validation(msg),
            other => Error::Metadata(other),
        }
    }
}

impl From<PayloadError> for Error {
    fn from(e: PayloadError) -> Self {
        match e {
            PayloadError::Shredded(what) => Error::Erased { what },
            PayloadError::Encryption(msg) => Error::Encryption(msg),
            other => Error::Payload(other),
        }
    }
}

impl Error {
    pub(crate) fn validation(msg: impl Into<String>) -> Self {
        Error::Validation(msg.into())
    }

    /// Whether a backend did not answer (unreachable, timed out): the operation may be
    /// retried. A write's outcome is then unknown until it is read back.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Metadata(MetaError::Unavailable(_))
                | Error::Payload(PayloadError::Unavailable(_))
        )
    }

    /// A short machine-readable code for the error category (used by the CLI and HTTP layers).
    ///
    /// ```
    /// assert_eq!(chronos_db::Error::NotFound("item 'x'".into()).code(), "NOT_FOUND");
    /// ```
    pub fn code(&self) -> &'static str {
        if self.is_unavailable() {
            return "BACKEND_UNAVAILABLE";
        }
        match self {
            Error::Validation(_) => "VALIDATION_ERROR",
            Error::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Conflict { .. } => "CONFLICT",
            Error::AlreadyExists { .. } => "ALREADY_EXISTS",
            Error::Deleted { .. } => "DELETED",
            Error::BeyondRetention { .. } => "BEYOND_RETENTION",
            Error::Erased { .. } => "ERASED",
            Error::Locked { .. } => "LOCKED",
            Error::Config(_) => "CONFIG_ERROR",
            Error::Route(_) => "ROUTE_ERROR",
            Error::Metadata(_) => "METADATA_ERROR",
            Error::Payload(_) => "PAYLOAD_ERROR",
            Error::Encryption(_) => "ENCRYPTION_ERROR",
            Error::Corrupt(_) => "CORRUPT",
            Error::Queued(_) => "QUEUED",
            Error::Queue(_) => "QUEUE_ERROR",
        }
    }
}
