//! Words as diffs, materiality and alias matching count them.
//!
//! A token is a word, a whitespace run or any other single character, so
//! the tokens of a text reproduce it byte for byte and a diff over them
//! changes whole words. A word keeps its digits together across `,` and `.`
//! ("200,000", "3.5": a changed number is one changed word) and its letters
//! across an apostrophe ("Trump's", "don't"). One definition, so that "a
//! word" means the same thing in a diff, a materiality score and a count.
//! (Watch matching folds and tokenises differently, for search: see
//! [`super::fold`].)

/// What a token is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Space,
    Word,
    Other,
}

fn kind_of(c: char) -> TokenKind {
    if c.is_whitespace() {
        TokenKind::Space
    } else if c.is_alphanumeric() {
        TokenKind::Word
    } else {
        TokenKind::Other
    }
}

/// Token boundaries: `[0, end of token 1, …, text.len()]`.
///
/// A word is a run of letters and digits that also spans `,` or `.` between
/// digits ("200,000", "3.5", so a changed number is one changed token) and
/// an apostrophe between letters ("Trump's", "don't"). A whitespace run is
/// one token; any other character is a token of its own.
pub fn token_bounds(text: &str) -> Vec<usize> {
    let mut bounds = Vec::with_capacity(text.len() / 3 + 2);
    bounds.push(0);
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let kind = kind_of(c);
        let mut previous = c;
        let mut end = start + c.len_utf8();
        if kind != TokenKind::Other {
            while let Some(&(i, next)) = chars.peek() {
                let continues = kind_of(next) == kind
                    || (kind == TokenKind::Word
                        && joins_word(previous, next, text[i + next.len_utf8()..].chars().next()));
                if !continues {
                    break;
                }
                chars.next();
                previous = next;
                end = i + next.len_utf8();
            }
        }
        bounds.push(end);
    }
    bounds
}

/// Whether `joiner` (between `before` and `after`) belongs inside a word.
fn joins_word(before: char, joiner: char, after: Option<char>) -> bool {
    let Some(after) = after else { return false };
    match joiner {
        ',' | '.' => before.is_ascii_digit() && after.is_ascii_digit(),
        '\'' | '\u{2019}' => before.is_alphabetic() && after.is_alphabetic(),
        _ => false,
    }
}

/// The word tokens of a text, in order (shared with the materiality rules
/// so that "a word" means the same thing everywhere).
pub fn words(text: &str) -> impl Iterator<Item = &str> + '_ {
    tokens(text).filter(|t| t.chars().next().is_some_and(char::is_alphanumeric))
}

/// All tokens of a text, in order.
pub fn tokens(text: &str) -> impl Iterator<Item = &str> + '_ {
    let bounds = token_bounds(text);
    (1..bounds.len()).map(move |i| &text[bounds[i - 1]..bounds[i]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_keep_numbers_and_contractions_whole() {
        let t: Vec<&str> = tokens("Trump's 200,000 (3.5%) don't-stop 'quoted'").collect();
        assert_eq!(
            t,
            vec![
                "Trump's", " ", "200,000", " ", "(", "3.5", "%", ")", " ", "don't", "-", "stop",
                " ", "'", "quoted", "'"
            ]
        );
        assert_eq!(
            words("a, b. 1,2 x.").collect::<Vec<_>>(),
            vec!["a", "b", "1,2", "x"]
        );
    }

    proptest! {
        #[test]
        fn tokens_cover_the_text(a in "\\PC{0,100}") {
            prop_assert_eq!(tokens(&a).collect::<String>(), a);
        }
    }
}
