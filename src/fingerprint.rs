//! One fast, stable fingerprint (FNV-1a, 64 bits) for "is this the same as
//! before?" questions: a feed body or an article page byte-identical to the
//! last one is not parsed or extracted again, an entry identical to the
//! stored one is not normalised again, a story returning to an earlier
//! version is recognised, and a feed's start-up slot is derived from its
//! name. It lives at the bottom so that the poll, the article fetcher, the
//! scheduler and the tracker share one function without importing each
//! other. Stored values (`body_fp`, `raw_fp`, `seen_fps` in
//! [`crate::records`]) depend on it: never change the function. Not for
//! security.

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

/// FNV-1a fed field by field, for a value with several fields: strings
/// end with `0xff` (which UTF-8 never contains) and numbers are 8 bytes,
/// so in a fixed sequence of fields no two values feed the same bytes.
#[derive(Debug, Clone, Copy)]
pub struct Fields(u64);

impl Default for Fields {
    fn default() -> Self {
        Fields(OFFSET)
    }
}

impl Fields {
    pub fn text(self, s: &str) -> Fields {
        Fields(feed(feed(self.0, s.as_bytes()), &[0xff]))
    }

    pub fn number(self, n: u64) -> Fields {
        Fields(feed(self.0, &n.to_le_bytes()))
    }

    /// A list: its length, then each item.
    pub fn texts(self, items: &[String]) -> Fields {
        items
            .iter()
            .fold(self.number(items.len() as u64), |h, s| h.text(s))
    }

    pub fn finish(self) -> u64 {
        self.0
    }
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
    fn stored_values_never_change() {
        // The tracker stores these (raw and reader fingerprints, earlier
        // field values): a new value here would make every stored story
        // look edited on the next poll.
        assert_eq!(of_parts(&["a"]), 0x089b_c907_b544_c769);
        assert_eq!(of_parts(&["kyiv"]), 0xfe9d_cd10_911d_35e7);
        assert_eq!(of_parts(&["a", "b", ""]), 0x9ee3_542c_183c_e1cf);
        assert_eq!(of_parts(&[]), OFFSET);
        // story values record it for their `latest` (`store::layout::base_of`)
        let fields = Fields::default()
            .text("a")
            .number(7)
            .texts(&["b".into(), "c".into()]);
        assert_eq!(fields.finish(), 0x6193_162e_815b_ca41);
    }

    #[test]
    fn fields_do_not_run_into_each_other() {
        let one = |a: &str, b: &str| Fields::default().text(a).text(b).finish();
        assert_ne!(one("ab", "c"), one("a", "bc"));
        let list = |items: &[&str], after: &str| {
            let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
            Fields::default().texts(&items).text(after).finish()
        };
        assert_ne!(list(&["a"], "b"), list(&["a", "b"], ""));
    }
}
