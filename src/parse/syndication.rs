//! The RSS 1.0 syndication module's polling hints (`sy:updatePeriod`,
//! `sy:updateFrequency`), which feed-rs does not read.
//!
//! They tell the scheduler how often the publisher expects to be polled, so
//! they are worth a cheap text scan: a substring search for the element name,
//! then a look at the few bytes after it. The prefix is not checked (it is
//! `sy:` in every real feed, and a namespace-aware lookup would cost a second
//! XML parse).

use std::sync::LazyLock;

use regex::Regex;

/// Element names, as literal regexes: their SIMD substring search keeps the
/// scan of a large feed without these elements cheap.
static UPDATE_PERIOD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("updatePeriod").expect("a valid regex"));
static UPDATE_FREQUENCY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("updateFrequency").expect("a valid regex"));

/// Seconds between updates announced by the feed, if it announces them.
///
/// `updateFrequency` is "times per period" (default 1), so `hourly` with a
/// frequency of 2 means every 1800 s.
pub(crate) fn update_period_secs(text: &str) -> Option<u64> {
    let period = element_text(text, &UPDATE_PERIOD)?;
    let unit: u64 = match period.to_ascii_lowercase().as_str() {
        "hourly" => 3_600,
        "daily" => 86_400,
        "weekly" => 7 * 86_400,
        "monthly" => 30 * 86_400,
        "yearly" => 365 * 86_400,
        _ => return None,
    };
    let frequency = element_text(text, &UPDATE_FREQUENCY)
        .and_then(|value| value.parse::<u64>().ok())
        .filter(|&frequency| frequency > 0)
        .unwrap_or(1);
    Some((unit / frequency).max(1))
}

/// Trimmed text of the first `<…name>text<` in `text`, the name preceded by
/// `<` or a prefix's `:`.
fn element_text<'t>(text: &'t str, name: &Regex) -> Option<&'t str> {
    let mut from = 0;
    while let Some(found) = name.find_at(text, from) {
        let (at, name) = (found.start(), found.as_str());
        from = at + name.len();
        let before = text.as_bytes()[..at].last();
        let opens = matches!(before, Some(b':' | b'<')) && !text[..at].ends_with("</");
        let after = text[from..].trim_start();
        if !opens || !after.starts_with('>') {
            continue;
        }
        let value = &after[1..];
        let end = value.find('<')?;
        return Some(value[..end].trim());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_and_frequency() {
        let text = "<channel><sy:updatePeriod> hourly </sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>";
        assert_eq!(update_period_secs(text), Some(1_800));
    }

    #[test]
    fn frequency_defaults_to_one() {
        assert_eq!(
            update_period_secs("<sy:updatePeriod>daily</sy:updatePeriod>"),
            Some(86_400)
        );
        let zero =
            "<sy:updatePeriod>Weekly</sy:updatePeriod><sy:updateFrequency>0</sy:updateFrequency>";
        assert_eq!(update_period_secs(zero), Some(604_800));
    }

    #[test]
    fn absent_or_unknown() {
        assert_eq!(update_period_secs("<rss><channel/></rss>"), None);
        assert_eq!(
            update_period_secs("<sy:updatePeriod>fortnightly</sy:updatePeriod>"),
            None
        );
        assert_eq!(update_period_secs("<p>the updatePeriod element</p>"), None);
    }
}
