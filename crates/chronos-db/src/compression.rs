//! Payload compression (`writeOptimization.compressionEnabled`).
//!
//! **Format.** A compressed object is a gzip stream (RFC 1952), stored as it is, with
//! `Content-Encoding: gzip` on stores that keep object attributes (S3, Azure, GCS), so every
//! HTTP client decodes what a presigned URL returns. gzip rather than zstd for exactly that:
//! every client decodes it. A reader recognises a compressed `item.json` by the gzip magic
//! (`1f 8b`): JSON text never starts with byte `1f`, so nothing is ever guessed. Decoding is
//! bounded by the version's recorded size, so a corrupt or hostile object cannot inflate
//! beyond it.
//!
//! **Blobs.** A `base64Props` blob whose content type is text (`text/*`, JSON, XML) and
//! whose bytes are UTF-8 is compressed the same way, with its text rendition, under keys
//! ending in `.gz` (`<prop>/blob.bin.gz`, `<prop>/text.txt.gz`) and `"contentEncoding":
//! "gzip"` in its ref; `size` and `sha256` stay those of the content. The key says it, so a
//! binary blob that happens to be a gzip file is never decoded by mistake.

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};

/// The `Content-Encoding` of compressed objects.
pub(crate) const CONTENT_ENCODING: &str = "gzip";

/// The default threshold below which objects are stored as they are.
pub(crate) const DEFAULT_MIN_BYTES: u32 = 1024;

/// Whether `bytes` is a gzip stream.
pub(crate) fn is_compressed(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// `bytes` compressed, when that makes them smaller.
pub(crate) fn compress(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        // Level 1: for JSON nearly the ratio of the default level at a fraction of the cost
        // (0.20 vs 0.13 of the size on the bench corpus; see BENCHMARKS.md).
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    encoder.write_all(bytes).ok()?;
    let out = encoder.finish().ok()?;
    (out.len() < bytes.len()).then_some(out)
}

/// The content of a compressed object, at most `limit` bytes.
pub(crate) fn decompress(bytes: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    GzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("a compressed object does not decode: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!(
            "a compressed object decodes to more than the {limit} bytes expected of it"
        ));
    }
    Ok(out)
}

/// Whether blobs of `content_type` are text, and so compressed with the documents.
pub(crate) fn is_text_type(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || matches!(
            mime.as_str(),
            "application/json" | "application/xml" | "application/javascript"
        )
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
}

/// The suffix of a compressed blob's keys.
pub(crate) const BLOB_SUFFIX: &str = ".gz";

/// What a link to `key` serves: a compressed `item.json` or blob decoded, anything else as
/// it is.
/// Links are read by clients that asked for the document, not for its storage. The bound
/// only stops a hostile object from inflating without end: twice the largest payload a write
/// accepts now (`max_payload_bytes`) and at least 64 MiB, because a stored document can be
/// somewhat larger than its payload (blob refs) and the limit may have been lowered since.
pub(crate) fn for_link(
    key: &str,
    bytes: bytes::Bytes,
    max_payload_bytes: usize,
) -> Result<bytes::Bytes, String> {
    if (key.ends_with("/item.json") || key.ends_with(BLOB_SUFFIX)) && is_compressed(&bytes) {
        let bound = (max_payload_bytes as u64)
            .saturating_mul(2)
            .max(64 * 1024 * 1024);
        decompress(&bytes, bound).map(bytes::Bytes::from)
    } else {
        Ok(bytes)
    }
}

/// The stored form of a version's `item.json`: compressed when compression is on, the
/// document is at least `min_bytes` and compressing saves space; `None` to store it as it is.
pub(crate) fn stored_form(bytes: &[u8], min_bytes: Option<u32>) -> Option<Vec<u8>> {
    let min = min_bytes?;
    if (bytes.len() as u64) < u64::from(min) {
        return None;
    }
    compress(bytes)
}

#[cfg(test)]
mod tests {

    #[test]
    fn text_content_types() {
        for t in [
            "text/plain; charset=utf-8",
            "application/ld+json",
            "application/json",
            "image/svg+xml",
            "TEXT/CSV",
        ] {
            assert!(is_text_type(t), "{t}");
        }
        for t in [
            "image/png",
            "application/octet-stream",
            "application/gzip",
            "",
        ] {
            assert!(!is_text_type(t), "{t}");
        }
    }

    use super::*;

    #[test]
    fn round_trip_threshold_and_bound() {
        let doc =
            serde_json::to_vec(&serde_json::json!({"rows": vec!["repeated text"; 200]})).unwrap();
        let z = stored_form(&doc, Some(1024)).expect("compressed");
        assert!(is_compressed(&z) && z.len() * 5 < doc.len());
        assert_eq!(decompress(&z, doc.len() as u64).unwrap(), doc);
        assert!(decompress(&z, doc.len() as u64 - 1)
            .unwrap_err()
            .contains("more than"));
        // Links decode documents larger than today's payload limit (blob refs, a lowered
        // limit), within a generous bound.
        let link = for_link("c/x/v0.w/item.json", z.clone().into(), 10).unwrap();
        assert_eq!(&link[..], &doc[..]);
        let blob = for_link("c/x/v0.w/f/blob.bin", z.clone().into(), 10).unwrap();
        assert_eq!(&blob[..], &z[..]);
        assert!(decompress(b"\x1f\x8bnot gzip", 100).is_err());
        // Below the threshold, off, or incompressible: stored as it is.
        assert_eq!(stored_form(b"{\"a\":1}", Some(1024)), None);
        assert_eq!(stored_form(&doc, None), None);
        let noise: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
        assert_eq!(stored_form(&noise, Some(16)), None);
        assert!(!is_compressed(b"{\"a\":1}"));
    }
}
