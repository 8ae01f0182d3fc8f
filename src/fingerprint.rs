//! One fast, stable fingerprint (FNV-1a, 64 bits) for "is this the same as
//! before?" questions: a feed body or an article page byte-identical to the
//! last one is not parsed or extracted again, and a feed's start-up slot
//! is derived from its name. It lives at the bottom so that the poll, the
//! article fetcher and the scheduler share it without importing each other.
//! Stored values (`body_fp` in [`crate::records`]) depend on it: never
//! change the function. Not for security.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

fn feed(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// FNV-1a over raw bytes (a feed body, an article page).
pub fn of_bytes(bytes: &[u8]) -> u64 {
    feed(OFFSET, bytes)
}

/// FNV-1a over several strings, each followed by a `0xff` byte (which
/// UTF-8 never contains), so `["ab", "c"]` and `["a", "bc"]` differ.
pub fn of_parts(parts: &[&str]) -> u64 {
    parts
        .iter()
        .fold(OFFSET, |h, part| feed(feed(h, part.as_bytes()), &[0xff]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // FNV-1a 64 test vectors
        assert_eq!(of_bytes(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(of_bytes(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(of_bytes(b"foobar"), 0x8594_4171_f739_67e8);
        assert_ne!(of_parts(&["ab", "c"]), of_parts(&["a", "bc"]));
        assert_eq!(of_parts(&["ab"]), of_bytes(b"ab\xff"));
    }

    #[test]
    fn parts_agree_with_the_trackers_fingerprint() {
        // tracker::identity::fingerprint is the same function (it moves
        // here when the tracker's rework lands)
        for parts in [&["kyiv"][..], &["a", "b", ""], &[]] {
            assert_eq!(
                of_parts(parts),
                crate::tracker::identity::fingerprint(parts)
            );
        }
    }
}
