//! Static sharding: which feeds one instance of several polls.
//!
//! `[daemon] shard = "k/N"` (or `STORYWATCH_SHARD=k/N`, which a Kubernetes
//! StatefulSet derives from the pod's ordinal) makes an instance own only
//! the feeds whose stable hash falls in shard `k` of `N`; each shard has its
//! own database. The owner of a feed is chosen by rendezvous hashing
//! (highest random weight): every shard scores the feed, the highest score
//! wins. Going from `N` to `N + 1` shards, a feed moves only when the new
//! shard outscores all the old ones, which happens for about `1/(N + 1)` of
//! the feeds; every other feed keeps its owner and its history.
//!
//! The hash is of the feed's *name* (the key its state is stored under), so
//! it must never change: a different function would move almost every feed.

use std::fmt;

use crate::fingerprint;

/// The most shards one config may name: beyond this, one machine per shard
/// would be polling a few dozen feeds each.
pub const MAX_SHARDS: u32 = 1024;

/// Shard `index` of `count` (0-based: `0/3`, `1/3`, `2/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard text was refused (the caller adds where it came from).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{0:?} is not k/N: expected the shard's number, a slash and the number of shards, e.g. \"0/3\" (shards are numbered from 0)")]
    Shape(String),
    #[error("{0:?}: the number of shards must be from 1 to {MAX_SHARDS}")]
    Count(String),
    #[error("{text:?}: shard {index} does not exist among {count} shards; they are numbered 0 to {last}", last = count - 1)]
    Index {
        text: String,
        index: u32,
        count: u32,
    },
}

impl Shard {
    /// `"k/N"` with `0 <= k < N <= MAX_SHARDS`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let shape = || ShardError::Shape(text.to_string());
        let (k, n) = text.trim().split_once('/').ok_or_else(shape)?;
        let index: u32 = k.trim().parse().map_err(|_| shape())?;
        let count: u32 = n.trim().parse().map_err(|_| shape())?;
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError::Count(text.to_string()));
        }
        if index >= count {
            return Err(ShardError::Index {
                text: text.to_string(),
                index,
                count,
            });
        }
        Ok(Shard { index, count })
    }

    /// Does this shard poll the feed called `name`?
    pub fn owns(&self, name: &str) -> bool {
        owner(name, self.count) == self.index
    }
}

/// The shard (of `count`) that owns the feed called `name`.
pub fn owner(name: &str, count: u32) -> u32 {
    let key = fingerprint::of_parts(&[name]);
    (0..count.max(1))
        .max_by_key(|k| (mix(key ^ mix(u64::from(*k) + 1)), *k))
        .unwrap_or(0)
}

/// SplitMix64's finaliser: FNV-1a alone is too regular in its low bits to
/// rank shards fairly; this spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n_and_explains_mistakes() {
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            Shard::parse(" 0 / 1 ").map(|s| s.to_string()),
            Ok("0/1".into())
        );
        assert!(matches!(Shard::parse("3/3"), Err(ShardError::Index { .. })));
        assert!(matches!(Shard::parse("0/0"), Err(ShardError::Count(_))));
        assert!(matches!(Shard::parse("1"), Err(ShardError::Shape(_))));
        assert!(matches!(Shard::parse("-1/3"), Err(ShardError::Shape(_))));
        let e = Shard::parse("3/3").unwrap_err().to_string();
        assert!(e.contains("numbered 0 to 2"), "{e}");
    }

    #[test]
    fn every_feed_has_exactly_one_owner_and_shares_are_even() {
        let names: Vec<String> = (0..30_000).map(|i| format!("feed{i}")).collect();
        let mut counts = [0u32; 5];
        for name in &names {
            let owners: Vec<u32> = (0..5)
                .filter(|k| {
                    Shard {
                        index: *k,
                        count: 5,
                    }
                    .owns(name)
                })
                .collect();
            assert_eq!(owners.len(), 1, "{name}: {owners:?}");
            counts[owners[0] as usize] += 1;
        }
        for c in counts {
            // 6,000 expected per shard; 5 % either way is > 7 sigma
            assert!((5_700..=6_300).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn adding_a_shard_moves_about_one_in_n_plus_one() {
        let names: Vec<String> = (0..40_000).map(|i| format!("news-{i}")).collect();
        for n in 1..8u32 {
            let moved = names
                .iter()
                .filter(|name| owner(name, n) != owner(name, n + 1))
                .count();
            // every moved feed goes to the new shard
            assert!(names
                .iter()
                .filter(|name| owner(name, n) != owner(name, n + 1))
                .all(|name| owner(name, n + 1) == n));
            let expected = names.len() as f64 / f64::from(n + 1);
            let ratio = moved as f64 / expected;
            assert!(
                (0.95..=1.05).contains(&ratio),
                "N={n}: moved {moved}, expected {expected}"
            );
        }
    }
}
