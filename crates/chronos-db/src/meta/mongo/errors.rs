//! Driver errors as [`MetaError`]s: unavailable (outcome unknown) vs refused.

use super::*;

/// Server error codes that mean "not reachable / not now" rather than "refused".
pub(super) const UNAVAILABLE_CODES: &[i32] = &[
    6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

pub(super) fn map_err(e: DbError) -> MetaError {
    let msg = redact(&e.to_string());
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
        return MetaError::Unavailable(format!("mongodb: {msg}"));
    }
    match e.kind.as_ref() {
        ErrorKind::InvalidArgument { .. } => MetaError::Invalid(format!("mongodb: {msg}")),
        _ => MetaError::Backend(format!("mongodb: {msg}")),
    }
}

/// A duplicate-key error (E11000).
pub(super) fn is_dup(e: &DbError) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => e.to_string().contains("E11000"),
    }
}

pub(super) fn corrupt(what: &str) -> MetaError {
    MetaError::Corrupt(what.to_string())
}
