//! One-line excerpts of feed text for subject lines, headers and
//! listings: whitespace flattened, cut at a word, `…` where it was cut.

/// Text on one line, cut at a word boundary with an ellipsis.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let cut: String = flat.chars().take(max_chars).collect();
    let cut = cut.rsplit_once(' ').map(|(a, _)| a).unwrap_or(&cut);
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_cuts_at_a_word() {
        assert_eq!(one_line("a  b\nc", 10), "a b c");
        assert_eq!(one_line("alpha beta gamma", 12), "alpha beta…");
    }
}
