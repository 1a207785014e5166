//! Driver errors as [`MetaError`]s: unavailable (outcome unknown) vs refused.

use super::*;

/// Server error codes that mean "not reachable / not now" rather than "refused".
pub(super) const UNAVAILABLE_CODES: &[i32] = &[
    6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

pub(super) fn map_err(e: DbError) -> MetaError {
    let unavailable = match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. } => true,
        ErrorKind::Command(c) => UNAVAILABLE_CODES.contains(&c.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(c)) => UNAVAILABLE_CODES.contains(&c.code),
        _ => false,
    };
    if unavailable {
        return MetaError::Unavailable(BackendError::caused_by("mongodb", &e));
    }
    match e.kind.as_ref() {
        ErrorKind::InvalidArgument { .. } => {
            MetaError::Invalid(format!("mongodb: {}", redact(&e.to_string())))
        }
        _ => MetaError::Backend(BackendError::caused_by("mongodb", &e)),
    }
}

/// A duplicate-key error (code 11000), decided from the error's kind and code.
pub(super) fn is_dup(e: &DbError) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errors| errors.iter().any(|w| w.code == DUPLICATE_KEY)),
        _ => false,
    }
}

pub(super) fn corrupt(what: &str) -> MetaError {
    MetaError::Corrupt(what.to_string())
}
