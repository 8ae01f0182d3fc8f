//! HTML character references, one copy for the whole program: the HTML5
//! named entities (the WHATWG table html-escape ships), the legacy names a
//! browser accepts without `;` (`&copy 2024`), numeric references, and the
//! windows-1252 meaning HTML5 gives `&#128;`–`&#159;` (`&#146;` is an
//! apostrophe on many old sites).
//!
//! Used by HTML → text ([`super::html`], which decodes references as a
//! browser would) and by the parser's repair of undeclared entities before
//! the strict XML parse (`parse::entities`, which rewrites them as numeric
//! references).

/// A decoded character reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    Char(char),
    Str(&'static str),
}

/// The longest HTML5 entity name ("CounterClockwiseContourIntegral") has 31
/// characters; a longer run of letters cannot be a reference.
pub const MAX_ENTITY_NAME: usize = 32;

/// Entity names a browser also recognises without the trailing `;`
/// (the HTML5 "legacy" set), sorted so the longest match can be found.
const LEGACY_ENTITIES: &[&str] = &[
    "AElig", "AMP", "Aacute", "Acirc", "Agrave", "Aring", "Atilde", "Auml", "COPY", "Ccedil",
    "ETH", "Eacute", "Ecirc", "Egrave", "Euml", "GT", "Iacute", "Icirc", "Igrave", "Iuml", "LT",
    "Ntilde", "Oacute", "Ocirc", "Ograve", "Oslash", "Otilde", "Ouml", "QUOT", "REG", "THORN",
    "Uacute", "Ucirc", "Ugrave", "Uuml", "Yacute", "aacute", "acirc", "acute", "aelig", "agrave",
    "amp", "aring", "atilde", "auml", "brvbar", "ccedil", "cedil", "cent", "copy", "curren", "deg",
    "divide", "eacute", "ecirc", "egrave", "eth", "euml", "frac12", "frac14", "frac34", "gt",
    "iacute", "icirc", "iexcl", "igrave", "iquest", "iuml", "laquo", "lt", "macr", "micro",
    "middot", "nbsp", "not", "ntilde", "oacute", "ocirc", "ograve", "ordf", "ordm", "oslash",
    "otilde", "ouml", "para", "plusmn", "pound", "quot", "raquo", "reg", "sect", "shy", "sup1",
    "sup2", "sup3", "szlig", "thorn", "times", "uacute", "ucirc", "ugrave", "uml", "uuml",
    "yacute", "yen", "yuml",
];

/// Decodes the character reference at the start of `s` (which starts with
/// `&`). Returns the decoded text and the bytes consumed, or `None` when the
/// `&` is literal text (as in `AT&T`).
pub fn decode_reference(s: &str) -> Option<(Decoded, usize)> {
    let bytes = s.as_bytes();
    if bytes.get(1) == Some(&b'#') {
        return decode_numeric(bytes);
    }
    let name_len = bytes[1..]
        .iter()
        .take(MAX_ENTITY_NAME + 1)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if name_len == 0 {
        return None;
    }
    let name = &bytes[1..1 + name_len];
    if bytes.get(1 + name_len) == Some(&b';') {
        if let Some(value) = named_entity(name) {
            return Some((Decoded::Str(value), name_len + 2));
        }
    }
    let legacy = LEGACY_ENTITIES
        .iter()
        .filter(|legacy| name.starts_with(legacy.as_bytes()))
        .max_by_key(|legacy| legacy.len())?;
    let value = named_entity(legacy.as_bytes())?;
    Some((Decoded::Str(value), legacy.len() + 1))
}

/// The characters of an HTML5 named entity: looks a name (without `&` and
/// `;`) up in the WHATWG table that html-escape ships (sorted by name,
/// 2,125 entries).
pub fn named_entity(name: &[u8]) -> Option<&'static str> {
    let table = &html_escape::NAMED_ENTITIES;
    table
        .binary_search_by(|(candidate, _)| (*candidate).cmp(name))
        .ok()
        .map(|index| table[index].1)
}

/// `&#123;`, `&#x7B;`, with or without the `;` (browsers accept both).
fn decode_numeric(bytes: &[u8]) -> Option<(Decoded, usize)> {
    let (radix, digits_start) = match bytes.get(2) {
        Some(b'x' | b'X') => (16, 3),
        _ => (10, 2),
    };
    let digits = bytes[digits_start.min(bytes.len())..]
        .iter()
        .take_while(|b| {
            if radix == 16 {
                b.is_ascii_hexdigit()
            } else {
                b.is_ascii_digit()
            }
        })
        .count();
    if digits == 0 {
        return None;
    }
    let mut value: u32 = 0;
    for &b in &bytes[digits_start..digits_start + digits] {
        let digit = char::from(b).to_digit(radix).unwrap_or(0);
        value = value.saturating_mul(radix).saturating_add(digit);
    }
    let mut consumed = digits_start + digits;
    if bytes.get(consumed) == Some(&b';') {
        consumed += 1;
    }
    Some((Decoded::Char(numeric_char(value)), consumed))
}

/// The character a numeric reference stands for, following the HTML5 rules:
/// NUL, surrogates and out-of-range values become U+FFFD, and 0x80–0x9F take
/// their windows-1252 meaning (`&#146;` is an apostrophe on many old sites).
fn numeric_char(value: u32) -> char {
    match windows_1252_c1(value) {
        0 => char::REPLACEMENT_CHARACTER,
        v => char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

/// HTML5's reading of `&#128;`–`&#159;`: the windows-1252 character at that
/// byte (the five bytes windows-1252 leaves undefined keep their C1 code
/// point). Any other code point is returned as it is.
pub fn windows_1252_c1(code: u32) -> u32 {
    const TABLE: [u32; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    code.checked_sub(0x80)
        .and_then(|index| TABLE.get(index as usize))
        .copied()
        .unwrap_or(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_html_entity_name_resolves() {
        for (name, value) in html_escape::NAMED_ENTITIES.iter() {
            assert_eq!(named_entity(name), Some(*value));
            assert!(name.len() < MAX_ENTITY_NAME);
        }
        assert_eq!(named_entity(b"eacute"), Some("\u{e9}"));
        assert_eq!(named_entity(b"Eacute"), Some("\u{c9}"));
        assert_eq!(named_entity(b"nosuch"), None);
    }

    #[test]
    fn legacy_names_are_html5_names() {
        for name in LEGACY_ENTITIES {
            assert!(named_entity(name.as_bytes()).is_some(), "{name}");
        }
    }

    #[test]
    fn c1_code_points_read_as_windows_1252() {
        assert_eq!(windows_1252_c1(0x80), 0x20AC);
        assert_eq!(windows_1252_c1(0x92), 0x2019);
        assert_eq!(windows_1252_c1(0x9F), 0x0178);
        // undefined in windows-1252: kept
        for code in [0x81, 0x8D, 0x8F, 0x90, 0x9D] {
            assert_eq!(windows_1252_c1(code), code);
        }
        for code in [0, 0x41, 0x7F, 0xA0, 0xE9, 0x2019, 0x11_0000] {
            assert_eq!(windows_1252_c1(code), code);
        }
    }

    #[test]
    fn references_decode_as_a_browser_reads_them() {
        let decode = |s: &str| decode_reference(s);
        assert_eq!(decode("&amp;x"), Some((Decoded::Str("&"), 5)));
        assert_eq!(decode("&copy 2024"), Some((Decoded::Str("\u{a9}"), 5)));
        assert_eq!(decode("&notit;"), Some((Decoded::Str("\u{ac}"), 4)));
        assert_eq!(decode("&#146;"), Some((Decoded::Char('\u{2019}'), 6)));
        assert_eq!(decode("&#x81;"), Some((Decoded::Char('\u{81}'), 6)));
        assert_eq!(decode("&#0;"), Some((Decoded::Char('\u{FFFD}'), 4)));
        assert_eq!(decode("&#xD800;"), Some((Decoded::Char('\u{FFFD}'), 8)));
        assert_eq!(decode("&#233"), Some((Decoded::Char('\u{e9}'), 5)));
        assert_eq!(decode("&unknown;"), None);
        assert_eq!(decode("& "), None);
        assert_eq!(decode("&#;"), None);
    }
}
