//! Where sentences start and end in news text.
//!
//! Diffs of long texts go sentence by sentence first, and a watch that
//! fires on *added* text looks at added sentences, so a sentence has to be
//! what a reader would call one: a period after "Mr.", "Jan." or "No." or
//! inside "3.5" ends nothing, and after "U.S." or "Inc." only when a word
//! that typically opens a sentence follows.

/// The sentences of a text, trimmed, in order.
///
/// A sentence ends at a line break, or at `.`, `!`, `?` or `…` (plus any
/// closing quotes or brackets) followed by whitespace and something that can
/// start a sentence (an upper-case letter, a digit, an opening quote). A
/// period does not end a sentence after a title or other abbreviation that
/// precedes a name or number ("Mr.", "Dr.", "Gen.", "Jan.", "No."), nor
/// inside numbers ("3.5"), and after an initialism or short-form company
/// name ("U.S.", "J.", "Inc.", "etc.") only when the next word is one that
/// typically starts a sentence ("The", "He", "But", …).
pub fn split_sentences(text: &str) -> Vec<&str> {
    sentence_bounds(text)
        .windows(2)
        .map(|w| text[w[0]..w[1]].trim())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Abbreviations that precede a name or a number, so a period after them
/// never ends a sentence ("Gen. Smith", "Mar. 7", "No. 10").
const NEVER_FINAL: &[&str] = &[
    "Adm", "Apr", "Aug", "Capt", "Cmdr", "Col", "Cpl", "Dec", "Det", "Dr", "Feb", "Fr", "Ft",
    "Gen", "Gov", "Hon", "Insp", "Jan", "Jr", "Jul", "Jun", "Lt", "Maj", "Mar", "Messrs", "Mr",
    "Mrs", "Ms", "Mt", "No", "Nos", "Nov", "Oct", "Pres", "Prof", "Pt", "Rep", "Rev", "Sen", "Sep",
    "Sept", "Sgt", "Sr", "St", "Supt", "Vol", "approx", "cf", "eg", "fig", "ie", "vs",
];

/// Abbreviations that may also end a sentence ("… sold to Acme Inc. The
/// deal …"): they end one only before a typical sentence opener.
const MAYBE_FINAL: &[&str] = &["Bros", "Co", "Corp", "Inc", "Ltd", "Plc", "etc", "al"];

/// Words that usually start a sentence, used after ambiguous abbreviations.
const SENTENCE_OPENERS: &[&str] = &[
    "A",
    "After",
    "An",
    "And",
    "As",
    "At",
    "But",
    "By",
    "Earlier",
    "For",
    "He",
    "Her",
    "His",
    "However",
    "I",
    "If",
    "In",
    "It",
    "Its",
    "Later",
    "Meanwhile",
    "On",
    "She",
    "So",
    "Some",
    "That",
    "The",
    "Their",
    "There",
    "These",
    "They",
    "This",
    "Those",
    "Under",
    "We",
    "What",
    "When",
    "While",
    "Why",
    "You",
];

/// Characters that may close a sentence after its final punctuation.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '\u{2019}' | '\u{201D}' | '\u{00BB}'
    )
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '\u{2026}')
}

/// Start offsets of the sentences of `text` followed by `text.len()`; each
/// sentence runs up to the next start, so trailing whitespace belongs to the
/// sentence before it and the pieces cover the whole text.
pub fn sentence_bounds(text: &str) -> Vec<usize> {
    let mut bounds = vec![0];
    let is_break = |c: char| c == '\n' || c == '\u{2029}';
    let mut i = 0;
    while let Some(found) = text[i..].find(|c: char| is_break(c) || is_terminator(c)) {
        i += found;
        let c = text[i..].chars().next().unwrap_or('\n');
        if is_break(c) {
            let next = skip_whitespace(text, i);
            push_bound(&mut bounds, next, text.len());
            i = next;
        } else {
            let end = end_of_terminator(text, i);
            let next = skip_whitespace(text, end);
            if next > end && next < text.len() && ends_sentence(text, i, end, next) {
                push_bound(&mut bounds, next, text.len());
            }
            i = end.max(i + c.len_utf8());
        }
    }
    bounds.push(text.len());
    bounds
}

fn push_bound(bounds: &mut Vec<usize>, at: usize, len: usize) {
    if at < len && bounds.last().is_some_and(|last| *last < at) {
        bounds.push(at);
    }
}

fn skip_whitespace(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(text.len(), |(i, _)| from + i)
}

/// Offset just past a run of terminators and closing quotes/brackets.
fn end_of_terminator(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|(_, c)| !is_terminator(*c) && !is_closer(*c))
        .map_or(text.len(), |(i, _)| from + i)
}

/// Decides whether the terminator run `text[at..end]`, followed by
/// whitespace and the text at `next`, ends a sentence.
fn ends_sentence(text: &str, at: usize, end: usize, next: usize) -> bool {
    let following = &text[next..];
    let Some(first) = following.chars().next() else {
        return true;
    };
    let can_start = first.is_uppercase()
        || first.is_numeric()
        || is_closer(first)
        || matches!(first, '(' | '[' | '\u{201C}' | '\u{2018}' | '\u{00AB}')
        || (first.is_alphabetic() && !first.is_lowercase());
    if !can_start {
        return false;
    }
    let single_period = text[at..end].trim_end_matches(is_closer) == ".";
    if !single_period {
        return true;
    }
    match abbreviation_before(text, at) {
        Abbreviation::None => true,
        Abbreviation::NeverFinal => false,
        Abbreviation::MaybeFinal => {
            let next_word = following
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("");
            SENTENCE_OPENERS.contains(&next_word)
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Abbreviation {
    None,
    NeverFinal,
    MaybeFinal,
}

/// Classifies the word before the period at `period`.
fn abbreviation_before(text: &str, period: usize) -> Abbreviation {
    let before = &text[..period];
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[word_start..];
    if word.is_empty() {
        return Abbreviation::None;
    }
    if NEVER_FINAL.contains(&word) {
        return Abbreviation::NeverFinal;
    }
    let is_initial = word.chars().count() == 1 && word.chars().all(char::is_uppercase);
    let is_dotted = word.contains('.') && word.chars().any(char::is_alphabetic);
    if is_initial || is_dotted || MAYBE_FINAL.contains(&word) {
        Abbreviation::MaybeFinal
    } else {
        Abbreviation::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_with_abbreviations_and_numbers() {
        let text = "Mr. Smith paid $3.5 million to Acme Inc. on Jan. 5. The U.S. Senate voted. \
                    \"Stop!\" he said. \"Why?\" She left. Gen. J. R. Brown arrived at 3 p.m. on Friday.\n\
                    A headline without a period\nNo. 10 said no";
        assert_eq!(
            split_sentences(text),
            vec![
                "Mr. Smith paid $3.5 million to Acme Inc. on Jan. 5.",
                "The U.S. Senate voted.",
                "\"Stop!\" he said.",
                "\"Why?\"",
                "She left.",
                "Gen. J. R. Brown arrived at 3 p.m. on Friday.",
                "A headline without a period",
                "No. 10 said no",
            ]
        );
    }

    #[test]
    fn initialism_ends_a_sentence_before_an_opener() {
        assert_eq!(
            split_sentences("Troops were sent to the U.S. The president said so. Talks with the U.N. Security Council failed."),
            vec![
                "Troops were sent to the U.S.",
                "The president said so.",
                "Talks with the U.N. Security Council failed."
            ]
        );
    }

    #[test]
    fn ellipsis_and_quotes() {
        assert_eq!(
            split_sentences(
                "He waited... Nothing came. 'Really?' asked Ann. It was 'over.' Then rain…  More."
            ),
            vec![
                "He waited...",
                "Nothing came.",
                "'Really?' asked Ann.",
                "It was 'over.'",
                "Then rain…",
                "More."
            ]
        );
        assert!(split_sentences("  \n ").is_empty());
    }
}
