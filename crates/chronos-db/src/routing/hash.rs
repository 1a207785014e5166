//! Placement hashes: which of several connections a routing key goes to.
//!
//! Both functions are pure: the answer depends only on the key and the candidates, never
//! on the process, the platform or the time, so every node agrees on it.

use sha2::{Digest, Sha256};

/// The first 8 bytes of SHA-256 of the concatenated parts, as a big-endian `u64`.
fn sha256_u64(parts: &[&[u8]]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// A routing key as a `u64` for [`jump`]: the first 8 bytes (big-endian) of SHA-256(`key`).
///
/// ```
/// use chronos_db::routing::key_hash;
/// assert_eq!(key_hash("tenant-a"), 0x80a7_07af_7dc7_7ee1);
/// ```
pub fn key_hash(key: &str) -> u64 {
    sha256_u64(&[key.as_bytes()])
}

/// The rendezvous weight of one candidate for a key: the first 8 bytes (big-endian) of
/// SHA-256(`<key>|<candidate>`), i.e. the original's first 16 hex digits of the digest.
///
/// ```
/// use chronos_db::routing::rendezvous_score;
/// assert_eq!(rendezvous_score("tenant-a", "east"), 0xab58_b566_b24f_9dc6);
/// ```
pub fn rendezvous_score(key: &str, candidate: &str) -> u64 {
    sha256_u64(&[key.as_bytes(), b"|", candidate.as_bytes()])
}

/// Rendezvous (highest random weight) hashing: the index of the candidate with the highest
/// [`rendezvous_score`] for `key`; on a tie the first one wins. Bit-compatible with the
/// original's HRW index.
///
/// Removing a candidate moves only the keys that were on it; adding one moves only the keys
/// it now wins (about 1/(n+1)). The order of the list does not matter, except for ties.
/// Returns 0 for a list of one and, as there is nothing to pick, for an empty list.
///
/// ```
/// use chronos_db::routing::rendezvous;
/// let refs = ["east".to_string(), "west".to_string(), "north".to_string()];
/// assert_eq!(rendezvous("tenant-a", &refs), 0);
/// assert_eq!(rendezvous("tenant-b", &refs), 1);
/// assert_eq!(rendezvous("acme", &refs), 2);
/// assert_eq!(rendezvous("acme", &refs[..1]), 0);
/// ```
pub fn rendezvous(key: &str, candidates: &[String]) -> usize {
    if candidates.len() < 2 {
        return 0;
    }
    let mut best = 0;
    let mut best_score = rendezvous_score(key, &candidates[0]);
    for (i, c) in candidates.iter().enumerate().skip(1) {
        let s = rendezvous_score(key, c);
        if s > best_score {
            best = i;
            best_score = s;
        }
    }
    best
}

/// Jump consistent hash (Lamping and Veach, 2014): maps a 64-bit key to a bucket in
/// `0..buckets`, with the paper's 64-bit linear congruential generator.
///
/// Growing from `n` to `n + 1` buckets moves only about 1/(n+1) of the keys, all of them to
/// the new bucket. Buckets are positions, so only appending (or removing the last one) is
/// cheap. `buckets` of 0 or 1 gives 0.
///
/// ```
/// use chronos_db::routing::{jump, key_hash};
/// assert_eq!(jump(256, 1024), 520); // the value of Lamping and Veach's published algorithm
/// assert_eq!(jump(key_hash("tenant-a"), 3), 2);
/// assert_eq!(jump(12345, 1), 0);
/// ```
pub fn jump(mut key: u64, buckets: u32) -> u32 {
    let n = i64::from(buckets);
    let (mut b, mut j) = (-1_i64, 0_i64);
    while j < n {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // As in the paper: the quotient in double precision, truncated toward zero.
        j = ((b + 1) as f64 * ((1_i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // b < buckets <= u32::MAX, and b is -1 only when buckets is 0.
    u32::try_from(b.max(0)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("cluster-{i}")).collect()
    }

    #[test]
    fn jump_matches_published_vectors() {
        // Values of the paper's C++ code, as published by other implementations.
        assert_eq!(jump(256, 1024), 520);
        assert_eq!(jump(10_863_919_174_838_991, 11), 6);
        assert_eq!(jump(2_016_238_256_797_177_309, 11), 3);
        assert_eq!(jump(0, 0), 0);
        assert_eq!(jump(u64::MAX, 1), 0);
        for k in 0..1000u64 {
            assert!(jump(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), 7) < 7);
        }
    }

    #[test]
    fn rendezvous_matches_the_original_hex_prefix() {
        // The original parses the first 16 hex digits of the SHA-256 hex digest.
        let digest = Sha256::digest(b"tenant-b|west");
        let hex16 = &hex::encode(digest)[..16];
        assert_eq!(
            rendezvous_score("tenant-b", "west"),
            u64::from_str_radix(hex16, 16).unwrap()
        );
        assert_eq!(rendezvous("x", &[]), 0);
    }

    #[test]
    fn ties_go_to_the_first_candidate() {
        let same = vec!["a".to_string(), "a".to_string(), "a".to_string()];
        assert_eq!(rendezvous("k", &same), 0);
    }

    #[test]
    fn both_are_deterministic() {
        let r = refs(4);
        for i in 0..200 {
            let key = format!("tenant-{i}");
            assert_eq!(rendezvous(&key, &r), rendezvous(&key, &r.clone()));
            assert_eq!(jump(key_hash(&key), 4), jump(key_hash(&key), 4));
        }
    }

    /// Every candidate gets 1/n of 10,000 keys, within 15%.
    #[test]
    fn spread_is_near_uniform() {
        const KEYS: usize = 10_000;
        for n in 2..=5usize {
            let r = refs(n);
            let mut hrw = vec![0usize; n];
            let mut jmp = vec![0usize; n];
            for i in 0..KEYS {
                let key = format!("tenant-{i}");
                hrw[rendezvous(&key, &r)] += 1;
                jmp[jump(key_hash(&key), n as u32) as usize] += 1;
            }
            let expected = KEYS as f64 / n as f64;
            for (name, counts) in [("rendezvous", &hrw), ("jump", &jmp)] {
                for (i, &c) in counts.iter().enumerate() {
                    let dev = (c as f64 - expected).abs() / expected;
                    assert!(
                        dev <= 0.15,
                        "{name}, {n} candidates: #{i} got {c} of {KEYS} (expected {expected:.0})"
                    );
                }
            }
        }
    }

    /// Going from n to n+1 buckets moves about 1/(n+1) of the keys, and only to the new one.
    #[test]
    fn jump_moves_few_keys_when_a_bucket_is_added() {
        const KEYS: usize = 10_000;
        for n in 1..=8u32 {
            let mut moved = 0usize;
            for i in 0..KEYS {
                let k = key_hash(&format!("key-{i}"));
                let (before, after) = (jump(k, n), jump(k, n + 1));
                if before != after {
                    assert_eq!(after, n, "a moved key goes to the new bucket");
                    moved += 1;
                }
            }
            let expected = KEYS as f64 / f64::from(n + 1);
            let dev = (moved as f64 - expected).abs() / expected;
            assert!(
                dev <= 0.15,
                "{n}->{}: {moved} moved, expected about {expected:.0}",
                n + 1
            );
        }
    }

    /// Rendezvous: adding a candidate moves only the keys it wins; removing one moves only
    /// the keys it had.
    #[test]
    fn rendezvous_moves_only_the_changed_candidates_keys() {
        let three = refs(3);
        let four = refs(4);
        for i in 0..2000 {
            let key = format!("tenant-{i}");
            let (before, after) = (rendezvous(&key, &three), rendezvous(&key, &four));
            assert!(after == before || after == 3, "{key}: {before} -> {after}");
            let without_1: Vec<String> = vec![three[0].clone(), three[2].clone()];
            let picked = &without_1[rendezvous(&key, &without_1)];
            if before != 1 {
                assert_eq!(picked, &three[before]);
            }
        }
    }
}
