//! Text folding and tokenising for watch matching (search, not diffs: the
//! diff's words are [`super::tokens`]).
//!
//! Readers type `kyiv`, feeds write `Kyiv`, `KYIV` or `Kyïv`; a watch must
//! match them all. So both sides of every comparison, the query and the
//! story, go through the same [`fold_char`]: compatibility decomposition
//! (NFKD, so `ﬁ`, full-width letters and `²` fold too), combining marks
//! dropped (accents), lower case, and a few letters that have no
//! decomposition but that readers treat as plain Latin (`ß`→`ss`, `æ`→`ae`,
//! `ø`→`o`, `ł`→`l`, …). Because the *same* function runs on both sides,
//! matching stays symmetric even where a fold is lossy.
//!
//! Tokens are maximal runs of letters and digits of the folded text;
//! everything else (spaces, hyphens, apostrophes, dots) separates them. That
//! makes `North-Korean` the two tokens `north korean`, `don't` and `don’t`
//! both `don t`, `Russia's` contain `russia`, and `U.S.` the tokens `u s`.
//! Han ideographs, Hiragana and Katakana are written without spaces, so each
//! of those characters is a token of its own (phrases of them still match).
//!
//! Every token remembers the byte range of the *original* text it came from,
//! so highlights can point at what the reader actually sees even where
//! folding changed byte lengths (`Straße` → `strasse`).

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// One word of folded text and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Byte offset of the token in the folded text.
    pub start: usize,
    /// Byte offset just past the token in the folded text.
    pub end: usize,
    /// Byte offset of the first original character that produced the token.
    pub orig_start: usize,
    /// Byte offset just past the last original character of the token
    /// (including accents or soft hyphens that folded away inside it).
    pub orig_end: usize,
}

/// How far apart (in original bytes) [`Folded`] records where the folded
/// and the original text line up.
const CHECKPOINT_BYTES: usize = 64;

/// A text folded once, with its tokens.
///
/// The folded text keeps the separators (folded too), so a regex can still
/// see word boundaries and punctuation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    text: String,
    tokens: Vec<Token>,
    /// (folded offset, original offset) pairs at character boundaries,
    /// about every [`CHECKPOINT_BYTES`], so mapping a regex match back
    /// walks a few bytes instead of the whole text.
    checkpoints: Vec<(usize, usize)>,
}

impl Folded {
    /// Folds and tokenises `original` in one pass.
    pub fn new(original: &str) -> Folded {
        let mut builder = Builder {
            text: String::with_capacity(original.len()),
            tokens: Vec::with_capacity(original.len() / 5 + 1),
            current: None,
            checkpoints: Vec::with_capacity(original.len() / CHECKPOINT_BYTES + 1),
            next_checkpoint: 0,
        };
        // Feed text is mostly ASCII: handle those bytes inline and decode
        // only the rest.
        let bytes = original.as_bytes();
        let mut at = 0;
        while let Some(&b) = bytes.get(at) {
            if b.is_ascii_alphanumeric() {
                let run = bytes[at..]
                    .iter()
                    .position(|c| !c.is_ascii_alphanumeric())
                    .map_or(bytes.len(), |n| at + n);
                builder.push_ascii_word(original.get(at..run).unwrap_or(""), at);
                at = run;
            } else if b.is_ascii() {
                builder.checkpoint(at);
                builder.push_folded(char::from(b), at, at + 1);
                at += 1;
            } else if let Some(c) = original.get(at..).and_then(|rest| rest.chars().next()) {
                builder.push_original(at, c);
                at += c.len_utf8();
            } else {
                break;
            }
        }
        builder.finish()
    }

    /// The whole folded text, separators included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The tokens, in text order.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The folded text of the `i`-th token ("" when out of range).
    pub fn token_str(&self, i: usize) -> &str {
        self.tokens
            .get(i)
            .and_then(|t| self.text.get(t.start..t.end))
            .unwrap_or("")
    }

    /// Maps a byte range of the folded text back to the smallest range of
    /// `original` (which must be the text this was built from) covering the
    /// characters that produced it. Used for regex highlights, which can
    /// start and end anywhere; tokens carry their own original offsets.
    ///
    /// This walks the text again from the nearest checkpoint instead of
    /// storing a per-byte map: regex highlights are rare, documents many.
    pub fn original_range(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let nearest = self.checkpoints.partition_point(|&(f, _)| f <= start);
        let (mut folded_pos, from) = nearest
            .checked_sub(1)
            .and_then(|i| self.checkpoints.get(i))
            .copied()
            .unwrap_or((0, 0));
        let rest = original.get(from..).unwrap_or("");
        let mut orig = None;
        let mut orig_end = 0;
        for (ob, c) in rest.char_indices().map(|(i, c)| (from + i, c)) {
            let before = folded_pos;
            fold_char(c, &mut |f| folded_pos += f.len_utf8());
            let produced = folded_pos > before;
            if produced && folded_pos > start && before < end.max(start + 1) {
                orig.get_or_insert(ob);
                orig_end = ob + c.len_utf8();
            }
            if before >= end.max(start + 1) {
                break;
            }
        }
        match orig {
            Some(s) => (s, orig_end),
            None => (original.len(), original.len()),
        }
    }
}

/// Accumulates folded text and tokens while walking the original.
struct Builder {
    text: String,
    tokens: Vec<Token>,
    current: Option<Token>,
    checkpoints: Vec<(usize, usize)>,
    next_checkpoint: usize,
}

impl Builder {
    /// Records where folded and original text line up, if the last record
    /// is far enough back. `orig` must be a character boundary about to be
    /// folded.
    fn checkpoint(&mut self, orig: usize) {
        if orig >= self.next_checkpoint {
            self.checkpoints.push((self.text.len(), orig));
            self.next_checkpoint = orig + CHECKPOINT_BYTES;
        }
    }

    fn push_original(&mut self, orig_start: usize, c: char) {
        self.checkpoint(orig_start);
        let orig_end = orig_start + c.len_utf8();
        let before = self.text.len();
        fold_char(c, &mut |f| self.push_folded(f, orig_start, orig_end));
        if self.text.len() == before {
            // Folded to nothing (an accent in decomposed text, a soft
            // hyphen): it belongs to the word it sits in.
            if let Some(cur) = self.current.as_mut() {
                cur.orig_end = orig_end;
            }
        }
    }

    /// A run of ASCII letters and digits: copied and lower-cased in bulk.
    fn push_ascii_word(&mut self, run: &str, orig_start: usize) {
        let start = self.text.len();
        // ASCII folds byte for byte, so every offset in the run lines up.
        for k in (0..run.len()).step_by(CHECKPOINT_BYTES) {
            if orig_start + k >= self.next_checkpoint {
                self.checkpoints.push((start + k, orig_start + k));
                self.next_checkpoint = orig_start + k + CHECKPOINT_BYTES;
            }
        }
        self.text.push_str(run);
        if let Some(added) = self.text.get_mut(start..) {
            added.make_ascii_lowercase();
        }
        let end = self.text.len();
        let orig_end = orig_start + run.len();
        match self.current.as_mut() {
            // Continues a word begun with non-ASCII letters ("Ångström").
            Some(cur) => {
                cur.end = end;
                cur.orig_end = orig_end;
            }
            None => {
                self.current = Some(Token {
                    start,
                    end,
                    orig_start,
                    orig_end,
                })
            }
        }
    }

    #[inline]
    fn push_folded(&mut self, f: char, orig_start: usize, orig_end: usize) {
        let start = self.text.len();
        self.text.push(f);
        let end = self.text.len();
        if !f.is_alphanumeric() {
            self.close();
        } else if is_unigram(f) {
            self.close();
            self.tokens.push(Token {
                start,
                end,
                orig_start,
                orig_end,
            });
        } else if let Some(cur) = self.current.as_mut() {
            cur.end = end;
            cur.orig_end = orig_end;
        } else {
            self.current = Some(Token {
                start,
                end,
                orig_start,
                orig_end,
            });
        }
    }

    fn close(&mut self) {
        if let Some(t) = self.current.take() {
            self.tokens.push(t);
        }
    }

    fn finish(mut self) -> Folded {
        self.close();
        Folded {
            text: self.text,
            tokens: self.tokens,
            checkpoints: self.checkpoints,
        }
    }
}

/// Folds a whole string (separators kept).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        fold_char(c, &mut |f| out.push(f));
    }
    out
}

/// The folded tokens of `s`, as the matcher sees them.
pub fn tokenize(s: &str) -> Vec<String> {
    let folded = Folded::new(s);
    (0..folded.tokens.len())
        .map(|i| folded.token_str(i).to_string())
        .collect()
}

/// Feeds the folded form of one character to `out` (zero or more chars).
///
/// ASCII takes a fast path: feed text is mostly ASCII and only needs
/// lower-casing. Hangul syllables and kana are not decomposed: their
/// decomposition is not an accent (dropping the kana voicing mark would make
/// `ガ` equal `カ`).
pub fn fold_char(c: char, out: &mut impl FnMut(char)) {
    if c.is_ascii() {
        out(c.to_ascii_lowercase());
        return;
    }
    if is_ignorable(c) {
        return;
    }
    if is_kana(c) || ('\u{AC00}'..='\u{D7A3}').contains(&c) {
        out(c);
        return;
    }
    decompose_compatible(c, |d| {
        if is_combining_mark(d) || is_ignorable(d) {
            return;
        }
        for lower in d.to_lowercase() {
            // Lower-casing can itself yield a mark (`İ` → `i` + U+0307).
            if is_combining_mark(lower) {
                continue;
            }
            match special(lower) {
                Some(s) => s.chars().for_each(&mut *out),
                None => out(lower),
            }
        }
    });
}

/// Letters with no Unicode decomposition that readers nevertheless treat as
/// a plain Latin letter, and typographic punctuation folded to ASCII so a
/// regex can use `'`, `"` and `-`.
fn special(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'ø' => "o",
        'ł' => "l",
        'đ' | 'ð' => "d",
        'þ' => "th",
        'ı' => "i",
        'ħ' => "h",
        'ŧ' => "t",
        'ŋ' => "n",
        'ĸ' => "k",
        'ς' => "σ",
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => "\"",
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        _ => return None,
    })
}

/// Invisible format characters that live *inside* words in real feeds
/// (`&shy;` soft hyphens, zero-width joiners, BOMs pasted mid-text): they
/// must not split a word in two.
fn is_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

fn is_kana(c: char) -> bool {
    ('\u{3040}'..='\u{30FF}').contains(&c) || ('\u{31F0}'..='\u{31FF}').contains(&c)
}

/// Scripts written without spaces between words: each character is a token.
fn is_unigram(c: char) -> bool {
    c >= '\u{3040}'
        && (is_kana(c)
            || ('\u{3400}'..='\u{4DBF}').contains(&c)
            || ('\u{4E00}'..='\u{9FFF}').contains(&c)
            || ('\u{F900}'..='\u{FAFF}').contains(&c)
            || ('\u{20000}'..='\u{3134F}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_case_and_accents() {
        assert_eq!(fold("Kyiv KYIV"), "kyiv kyiv");
        assert_eq!(fold("Ümlaut café Kyïv"), "umlaut cafe kyiv");
        assert_eq!(fold("Straße ẞ"), "strasse ss");
        assert_eq!(
            fold("Æther Øresund Łódź œuvre"),
            "aether oresund lodz oeuvre"
        );
    }

    #[test]
    fn folds_compatibility_forms() {
        assert_eq!(fold("ﬁnance"), "finance");
        assert_eq!(fold("Ｋｙｉｖ"), "kyiv");
        assert_eq!(fold("x²"), "x2");
        assert_eq!(fold("İstanbul"), "istanbul");
    }

    #[test]
    fn decomposed_input_folds_like_precomposed() {
        assert_eq!(tokenize("cafe\u{301} au lait"), tokenize("café au lait"));
    }

    #[test]
    fn typographic_punctuation_folds_to_ascii() {
        assert_eq!(fold("don’t “x” a–b"), "don't \"x\" a-b");
    }

    #[test]
    fn tokens_split_on_punctuation_and_hyphens() {
        assert_eq!(
            tokenize("North-Korean troops"),
            ["north", "korean", "troops"]
        );
        assert_eq!(tokenize("don't"), tokenize("don’t"));
        assert_eq!(tokenize("don't"), ["don", "t"]);
        assert_eq!(tokenize("Russia's army"), ["russia", "s", "army"]);
        assert_eq!(tokenize("the U.S. said"), ["the", "u", "s", "said"]);
        assert_eq!(tokenize("software, wars"), ["software", "wars"]);
    }

    #[test]
    fn soft_hyphen_does_not_split_a_word() {
        assert_eq!(tokenize("Ky\u{AD}iv"), ["kyiv"]);
    }

    #[test]
    fn cjk_characters_are_tokens_of_their_own() {
        assert_eq!(tokenize("我爱北京"), ["我", "爱", "北", "京"]);
        assert_eq!(tokenize("abc北"), ["abc", "北"]);
        assert_eq!(tokenize("ガ"), ["ガ"]);
    }

    #[test]
    fn token_offsets_point_at_the_original() {
        let s = "Die Straße in Kyïv";
        let f = Folded::new(s);
        let t = f.tokens()[1];
        assert_eq!(f.token_str(1), "strasse");
        assert_eq!(&s[t.orig_start..t.orig_end], "Straße");
        let t = f.tokens()[3];
        assert_eq!(&s[t.orig_start..t.orig_end], "Kyïv");
    }

    #[test]
    fn trailing_combining_mark_stays_in_the_token() {
        let s = "cafe\u{301}!";
        let f = Folded::new(s);
        let t = f.tokens()[0];
        assert_eq!(&s[t.orig_start..t.orig_end], "cafe\u{301}");
    }

    #[test]
    fn original_range_maps_folded_bytes_back() {
        let s = "Große Straße";
        let f = Folded::new(s);
        let start = f.text().find("strasse").unwrap_or(0);
        let (a, b) = f.original_range(s, start, start + "strasse".len());
        assert_eq!(&s[a..b], "Straße");
        // A range ending in the middle of an expansion covers the whole char.
        let (a, b) = f.original_range(s, 0, 4);
        assert_eq!(&s[a..b], "Groß");
    }

    proptest! {
        #[test]
        fn fold_is_idempotent(s in any::<String>()) {
            let once = fold(&s);
            prop_assert_eq!(fold(&once), once.clone());
            prop_assert_eq!(tokenize(&once), tokenize(&s));
        }

        #[test]
        fn token_offsets_are_valid_and_ordered(s in any::<String>()) {
            let f = Folded::new(&s);
            let mut last_end = 0;
            for (i, t) in f.tokens().iter().enumerate() {
                prop_assert!(s.is_char_boundary(t.orig_start) && s.is_char_boundary(t.orig_end));
                prop_assert!(t.orig_start < t.orig_end && t.orig_end <= s.len());
                prop_assert!(t.start >= last_end);
                last_end = t.end;
                let slice_folded = fold(&s[t.orig_start..t.orig_end]);
                prop_assert!(slice_folded.contains(f.token_str(i)));
            }
        }

        #[test]
        fn original_range_is_valid(s in any::<String>(), a in 0usize..64, len in 0usize..16) {
            let f = Folded::new(&s);
            let start = a.min(f.text().len());
            let end = (start + len).min(f.text().len());
            let (x, y) = f.original_range(&s, start, end);
            prop_assert!(x <= y && y <= s.len());
            prop_assert!(s.is_char_boundary(x) && s.is_char_boundary(y));
        }

        #[test]
        fn checkpoints_change_nothing(
            s in "([a-zA-Z0-9 ]{0,90}[éßÆ½’İ\u{301}\u{AD}北]){0,12}",
            a in 0usize..600,
            len in 0usize..40,
        ) {
            let f = Folded::new(&s);
            let start = a.min(f.text().len());
            let end = (start + len).min(f.text().len());
            let without = Folded { checkpoints: Vec::new(), ..f.clone() };
            prop_assert_eq!(
                f.original_range(&s, start, end),
                without.original_range(&s, start, end)
            );
        }
    }
}
