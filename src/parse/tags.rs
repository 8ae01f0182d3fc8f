//! Small helpers for reading a start tag's name and attributes without an
//! XML parser, for the few places that look at or patch one tag before
//! feed-rs runs (the root element, text-construct `type` attributes).

/// Byte offsets of one attribute in a start tag.
pub(crate) struct AttributeSpan {
    pub name_start: usize,
    pub value_start: usize,
    pub value_end: usize,
}

impl AttributeSpan {
    pub fn value<'t>(&self, tag: &'t str) -> &'t str {
        &tag[self.value_start..self.value_end]
    }
}

/// Finds attribute `wanted` in a start tag (`<name a="1" b='2'>`).
pub(crate) fn find_attribute(tag: &str, wanted: &str) -> Option<AttributeSpan> {
    let bytes = tag.as_bytes();
    let mut i = 1 + element_name(tag).len();
    loop {
        while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        let name_start = i;
        while bytes
            .get(i)
            .is_some_and(|&b| !b.is_ascii_whitespace() && b != b'=' && b != b'>' && b != b'/')
        {
            i += 1;
        }
        if i == name_start {
            return None;
        }
        let name = &tag[name_start..i];
        while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        let quote = *bytes.get(i)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let value_start = i + 1;
        let value_end = value_start + tag[value_start..].find(quote as char)?;
        if name == wanted {
            return Some(AttributeSpan {
                name_start,
                value_start,
                value_end,
            });
        }
        i = value_end + 1;
    }
}

/// Length of the start tag at the beginning of `text` (quotes respected).
pub(crate) fn start_tag_len(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in text.bytes().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// The qualified name of the element whose start tag begins `tag`.
pub(crate) fn element_name(tag: &str) -> &str {
    let after = tag.get(1..).unwrap_or_default();
    let end = after
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(after.len());
    &after[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_found() {
        let tag = "<feed xml:lang=\"en\"  type = 'text/plain' bare src=\"a>b\">";
        assert_eq!(element_name(tag), "feed");
        let attr = find_attribute(tag, "type").map(|a| a.value(tag));
        assert_eq!(attr, Some("text/plain"));
        assert_eq!(
            find_attribute(tag, "src").map(|a| a.value(tag)),
            Some("a>b")
        );
        assert!(find_attribute(tag, "missing").is_none());
        assert_eq!(start_tag_len(tag), Some(tag.len()));
        assert_eq!(start_tag_len("<a b='>'"), None);
    }
}
