//! Encryption primitives (pure, no I/O): the encrypted-object format and the master key
//! that wraps data keys. AES-256-GCM from RustCrypto's `aes-gcm`, random 96-bit nonces.

pub(crate) mod envelope;
mod master;

pub(crate) use envelope::Key;
pub(crate) use master::MasterKey;
