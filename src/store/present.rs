//! The `present` tree: per feed, the stories of its last parsed poll
//! ([`Listed`]), rewritten by every parsed poll of the feed.
//!
//! A listed story carries the raw fingerprint of its entry, so the next
//! poll passes an entry that did not change without reading its story
//! (most of the entries of a feed that changed).
//!
//! Forms, by first byte:
//!
//! ```text
//! 2 ‖ (id length ‖ id as bytes ‖ raw fingerprint, u64 BE)…
//! 1 ‖ (id length ‖ id as bytes)…   ids only (schema 3)
//! [ …                             JSON: ids (older), or stories whose id
//!                                 is not lower-case hex
//! ```
//!
//! A list of ids only reads with fingerprint 0, "not known": the next poll
//! reads those stories, as it did before, and lists them with theirs.

use serde::Deserialize;

use super::{corrupt, decode, encode, hex_id_bytes, StoreError};
use crate::tracker::Listed;

const IDS_ONLY: u8 = 1;
const LISTED: u8 = 2;

/// `stories` as stored: form 2 when every id is lower-case hex (story ids
/// are; half the size of JSON's quoted strings), JSON otherwise.
pub(super) fn encode_list(stories: &[Listed]) -> Vec<u8> {
    let size: usize = stories.iter().map(|l| 9 + l.id.len() / 2).sum();
    let mut out = Vec::with_capacity(1 + size);
    out.push(LISTED);
    for l in stories {
        let Some(raw) = hex_id_bytes(&l.id) else {
            return encode(&stories);
        };
        out.push(raw.len() as u8);
        out.extend_from_slice(&raw);
        out.extend_from_slice(&l.raw_fp.to_be_bytes());
    }
    out
}

/// Reads any form (see the module doc).
pub(super) fn decode_list(bytes: &[u8]) -> Result<Vec<Listed>, StoreError> {
    let what = "present list";
    let cut = || corrupt(what, "value shorter than its lengths");
    let (form, mut rest) = match bytes.split_first() {
        Some((&form, rest)) if form == IDS_ONLY || form == LISTED => (form, rest),
        _ => {
            let items: Vec<JsonItem> = decode(what, bytes)?;
            return Ok(items.into_iter().map(JsonItem::into_listed).collect());
        }
    };
    let mut stories = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let id = tail.get(..usize::from(len)).ok_or_else(cut)?;
        rest = &tail[usize::from(len)..];
        let mut raw_fp = 0;
        if form == LISTED {
            let (fp, tail) = rest.split_first_chunk::<8>().ok_or_else(cut)?;
            raw_fp = u64::from_be_bytes(*fp);
            rest = tail;
        }
        stories.push(Listed {
            id: hex::encode(id),
            raw_fp,
        });
    }
    Ok(stories)
}

/// An element of a JSON list: an id (as written before fingerprints) or a
/// whole [`Listed`].
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonItem {
    Id(String),
    Listed(Listed),
}

impl JsonItem {
    fn into_listed(self) -> Listed {
        match self {
            JsonItem::Id(id) => Listed { id, raw_fp: 0 },
            JsonItem::Listed(l) => l,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, raw_fp: u64) -> Listed {
        Listed {
            id: id.into(),
            raw_fp,
        }
    }

    #[test]
    fn lists_round_trip_in_bytes_and_older_forms_still_read() {
        let stories = vec![
            listed("00429cef04848df2b127b026", u64::MAX),
            listed("0123456789abcdef", 7),
        ];
        let packed = encode_list(&stories);
        assert_eq!(packed[0], LISTED);
        assert_eq!(packed.len(), 1 + (1 + 12 + 8) + (1 + 8 + 8));
        assert_eq!(decode_list(&packed).unwrap(), stories);
        assert_eq!(decode_list(&encode_list(&[])).unwrap(), Vec::new());

        // the two forms written before: ids only, as bytes and as JSON
        let ids_only: Vec<Listed> = stories.iter().map(|l| listed(&l.id, 0)).collect();
        let mut form1 = vec![IDS_ONLY];
        for l in &stories {
            let raw = hex::decode(&l.id).unwrap();
            form1.push(raw.len() as u8);
            form1.extend_from_slice(&raw);
        }
        assert_eq!(decode_list(&form1).unwrap(), ids_only);
        let json_ids: Vec<&str> = stories.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(decode_list(&encode(&json_ids)).unwrap(), ids_only);

        // ids that are not lower-case hex: JSON, fingerprints kept
        for odd in ["ABCDEF", "abc", "not-hex"] {
            let list = vec![stories[0].clone(), listed(odd, 3)];
            assert_eq!(encode_list(&list)[0], b'[');
            assert_eq!(decode_list(&encode_list(&list)).unwrap(), list);
        }
        // cut anywhere but between two stories
        for end in 2..packed.len() {
            if end != 1 + 21 {
                assert!(decode_list(&packed[..end]).is_err(), "cut at {end}");
            }
        }
    }
}
