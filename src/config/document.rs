//! Reading config.toml key by key, so that every problem is found in one
//! pass instead of one per run of `storywatch check`.
//!
//! The TOML parser recovers from syntax errors and hands back what it could
//! read; each table is then read one key at a time against its
//! [`schema`](super::schema) section: a key that does not belong (with the
//! key that was probably meant), a value of the wrong type or shape, and a
//! value out of its documented range are each reported with the file, the
//! line, the key, what was expected and an example, and left out. The keys
//! that passed are then read into the table's type together. serde's own
//! wording ("invalid type: string, expected a sequence") never reaches the
//! user unexplained.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::schema::{self, Key, Limit, Section};
use super::units;

/// The text of config.toml and its name, for `FILE:LINE:` prefixes.
pub(crate) struct Source<'a> {
    pub file: String,
    pub text: &'a str,
    /// The offset of every newline, so that finding a key's line is a
    /// binary search: counting newlines from the start for every key made
    /// loading 300,000 feeds take minutes (quadratic in the file's size).
    newlines: Vec<usize>,
}

impl<'a> Source<'a> {
    pub fn new(file: String, text: &'a str) -> Source<'a> {
        Source {
            file,
            text,
            newlines: memchr::memchr_iter(b'\n', text.as_bytes()).collect(),
        }
    }

    /// The 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.newlines.partition_point(|nl| *nl < end) + 1
    }

    /// The value as written (one line, shortened), for quoting it back.
    pub fn raw(&self, span: &Range<usize>) -> String {
        let text = self.text.get(span.clone()).unwrap_or("").trim();
        let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if one_line.chars().count() > 60 {
            let cut: String = one_line.chars().take(57).collect();
            format!("{cut}…")
        } else {
            one_line
        }
    }
}

/// Problems (or warnings) found so far, each with its line; they are
/// listed in file order.
#[derive(Default)]
pub(crate) struct Problems {
    items: Vec<(Option<usize>, String)>,
}

impl Problems {
    pub fn at(&mut self, line: usize, message: impl Into<String>) {
        self.items.push((Some(line), message.into()));
    }

    /// A problem of the whole file (no line to point at).
    pub fn file(&mut self, message: impl Into<String>) {
        self.items.push((None, message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `FILE:LINE: message` lines, in file order, whole-file ones last.
    pub fn render(mut self, file: &str) -> Vec<String> {
        self.items
            .sort_by_key(|(line, _)| line.map_or((1, 0), |l| (0, l)));
        self.items.dedup();
        self.items
            .into_iter()
            .map(|(line, m)| match line {
                Some(l) => format!("{file}:{l}: {m}"),
                None => format!("{file}: {m}"),
            })
            .collect()
    }
}

/// The parsed document and where its syntax errors are.
pub(crate) struct Document<'a> {
    pub root: DeTable<'a>,
    /// Byte ranges of syntax errors: values overlapping them were already
    /// reported and are not read again.
    broken: Vec<Range<usize>>,
    /// A syntax error swallowed part of the file (an unclosed array or
    /// string), so a name defined there may look undefined.
    pub swallowed: bool,
}

/// Parses `source`, reporting syntax errors: the first per line, and for an
/// array or inline table that is never closed, that one at its start
/// instead of every line it swallowed.
pub(crate) fn parse<'a>(source: &Source<'a>, problems: &mut Problems) -> Document<'a> {
    let (root, errors) = DeTable::parse_recoverable(source.text);
    let mut root = root.into_inner();
    root.make_owned();
    let mut errors: Vec<(Range<usize>, String)> = errors
        .iter()
        .map(|e| {
            let span = e.span().unwrap_or(0..0);
            (span, e.message().trim_end().to_string())
        })
        .collect();
    errors.sort_by_key(|(s, _)| s.start);
    let containers = containers(&root);
    let mut broken = Vec::new();
    let mut swallowed = false;
    let mut reported_lines = Vec::new();
    let mut handled_containers: Vec<Range<usize>> = Vec::new();
    for (span, message) in &errors {
        broken.push(span.clone());
        // an error inside a multi-line array or inline table: report the
        // container once, with the error that explains it best
        if let Some(c) = containers.iter().find(|c| {
            c.start < span.start
                && span.start <= c.end
                && source.line(c.start) != source.line(c.end)
        }) {
            if handled_containers.contains(c) {
                continue;
            }
            handled_containers.push(c.clone());
            broken.push(c.clone());
            let inside: Vec<&(Range<usize>, String)> = errors
                .iter()
                .filter(|(s, _)| c.start < s.start && s.start <= c.end)
                .collect();
            let unclosed = inside.iter().find(|(_, m)| m.starts_with("unclosed"));
            let line = source.line(c.start);
            if let Some((_, m)) = unclosed {
                swallowed = true;
                problems.at(
                    line,
                    format!("TOML syntax: {m} (this list or table is never closed, so the lines after it were read as part of it)"),
                );
            } else if let Some((s, m)) = inside.first() {
                problems.at(source.line(s.start), format!("TOML syntax: {m}"));
            }
            reported_lines.push(line);
            continue;
        }
        let line = source.line(span.start);
        if reported_lines.contains(&line) {
            continue;
        }
        reported_lines.push(line);
        swallowed |= message.starts_with("unclosed");
        problems.at(line, format!("TOML syntax: {message}"));
    }
    Document {
        root,
        broken,
        swallowed,
    }
}

/// Spans of every array and inline table value in the document.
fn containers(table: &DeTable) -> Vec<Range<usize>> {
    fn walk(v: &Spanned<DeValue>, out: &mut Vec<Range<usize>>) {
        match v.get_ref() {
            DeValue::Array(a) => {
                if !a.is_empty() || v.span().len() > 1 {
                    out.push(v.span());
                }
                for x in a.iter() {
                    walk(x, out);
                }
            }
            DeValue::Table(t) => {
                for (_, x) in t.iter() {
                    walk(x, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (_, v) in table.iter() {
        walk(v, &mut out);
    }
    // innermost first, so an error is charged to the closest container
    out.sort_by_key(|r| r.len());
    out
}

impl Document<'_> {
    fn is_broken(&self, span: &Range<usize>) -> bool {
        span.is_empty()
            || self
                .broken
                .iter()
                .any(|b| b.start <= span.end && span.start < b.end.max(b.start + 1))
    }
}

/// Where each key of a table was written.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyLines {
    /// The line of the table's header (or of its first key).
    pub line: usize,
    /// Every key written: its line, its value as written, and whether it
    /// was read without problems.
    keys: BTreeMap<String, (usize, String, bool)>,
}

impl KeyLines {
    /// The line of `key`, or of the table when it was not written.
    pub fn line_of(&self, key: &str) -> usize {
        self.keys.get(key).map_or(self.line, |(l, _, _)| *l)
    }

    /// The key was written and read without problems.
    pub fn has(&self, key: &str) -> bool {
        self.keys.get(key).is_some_and(|(_, _, ok)| *ok)
    }

    /// The value of `key` as written.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.keys.get(key).map(|(_, r, _)| r.as_str())
    }

    /// The key was written but could not be read (already reported).
    pub fn failed(&self, key: &str) -> bool {
        self.keys.get(key).is_some_and(|(_, _, ok)| !*ok)
    }

    /// The key was written (a problem with it is already reported).
    pub fn written(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }
}

/// A table read into `T`, and where its keys are.
pub(crate) struct Read<T> {
    pub value: T,
    pub at: KeyLines,
}

/// Reads `table` (at `span`) as `section` into `T`. `label` names the
/// table in messages: `[daemon]`, `feed "bbc"`.
///
/// A table whose keys are all known, within their limits and readable
/// together is read in one go; otherwise key by key, so that every bad key
/// is reported and the good ones still count. (Reading key by key always
/// would parse each URL and compile each regex twice: a tenth of an idle
/// `once` at 1,000 feeds.)
pub(crate) fn read_table<T: DeserializeOwned + Default>(
    source: &Source,
    doc: &Document,
    table: &DeTable,
    span: &Range<usize>,
    section: &Section,
    label: &str,
    problems: &mut Problems,
) -> Read<T> {
    let mut at = KeyLines {
        line: source.line(span.start),
        keys: BTreeMap::new(),
    };
    let mut known = Vec::with_capacity(table.len());
    for (k, v) in table.iter() {
        let name = k.get_ref().as_ref();
        let line = source.line(k.span().start);
        let Some(key) = section.key(name) else {
            problems.at(line, unknown_key(label, name, section));
            continue;
        };
        let raw = source.raw(&v.span());
        let broken = doc.is_broken(&v.span());
        at.keys.insert(name.to_string(), (line, raw, false));
        if !broken {
            known.push((k, v, key, line));
        }
    }
    if known
        .iter()
        .all(|(_, v, key, _)| within_limit(key, v).is_ok())
    {
        let whole: DeTable = known
            .iter()
            .map(|(k, v, _, _)| ((*k).clone(), (*v).clone()))
            .collect();
        if let Ok(value) = deserialize_table::<T>(span, whole) {
            for (k, ..) in &known {
                if let Some(entry) = at.keys.get_mut(k.get_ref().as_ref()) {
                    entry.2 = true;
                }
            }
            return Read { value, at };
        }
    }
    let mut good = DeTable::new();
    for (k, v, key, line) in known {
        let name = k.get_ref().as_ref();
        let raw = source.raw(&v.span());
        let mut one = DeTable::new();
        one.insert(k.clone(), v.clone());
        if let Err(e) = deserialize_table::<T>(&v.span(), one) {
            problems.at(line, key_problem(label, key, &raw, &explain(e.message())));
            continue;
        }
        if let Err(detail) = within_limit(key, v) {
            problems.at(line, key_problem(label, key, &raw, &detail));
            continue;
        }
        at.keys.insert(name.to_string(), (line, raw, true));
        good.insert(k.clone(), v.clone());
    }
    let value = match deserialize_table::<T>(span, good) {
        Ok(v) => v,
        Err(e) => {
            // every key passed alone; only a combination can fail here
            problems.at(at.line, format!("{label}: {}", explain(e.message())));
            T::default()
        }
    };
    Read { value, at }
}

fn deserialize_table<T: DeserializeOwned>(
    span: &Range<usize>,
    table: DeTable,
) -> Result<T, toml::de::Error> {
    T::deserialize(ValueDeserializer::from(Spanned::new(
        span.clone(),
        DeValue::Table(table),
    )))
}

/// `[daemon] listen = "127.0.0.1:99999": port 99999 is out of range;
/// expected an IP address and a port, e.g. listen = "127.0.0.1:8787"`.
pub(crate) fn key_problem(label: &str, key: &Key, raw: &str, detail: &str) -> String {
    let range = key
        .limit
        .range_text()
        .map(|r| match key.limit.why() {
            Some(why) => format!(" from {r} ({why})"),
            None => format!(" from {r}"),
        })
        .unwrap_or_default();
    format!(
        "{label}: {} = {raw}: {detail}; expected {}{range}, e.g. {} = {}",
        key.name, key.expects, key.name, key.example
    )
}

fn unknown_key(label: &str, name: &str, section: &Section) -> String {
    let names = section.keys.iter().map(|k| k.name);
    match schema::did_you_mean(name, names.clone()) {
        Some(known) => format!("{label}: unknown key `{name}`; did you mean `{known}`?"),
        None => format!(
            "{label}: unknown key `{name}`; the keys of {} are {}",
            section.header,
            names.collect::<Vec<_>>().join(", ")
        ),
    }
}

/// serde's message, said for a user: what was found (the key and the
/// expectation are added by [`key_problem`]).
pub(crate) fn explain(message: &str) -> String {
    let message = message.trim_end();
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let found = rest.split(", expected").next().unwrap_or(rest);
        let kind = found.split_whitespace().next().unwrap_or(found);
        let what = match kind {
            "string" => "a string",
            "integer" => "a number",
            "floating" => "a decimal number",
            "boolean" => "true/false",
            "sequence" => "a list",
            "map" => "a table",
            _ => found,
        };
        return format!("this is {what}");
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let found = rest.split(", expected").next().unwrap_or(rest);
        return format!("{} is out of range", found.replace("integer ", ""));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (given, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
        let given = given.trim_matches('`');
        let variants: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return match schema::did_you_mean(given, variants.iter().copied()) {
            Some(v) => format!("unknown value {given:?}; did you mean {v:?}?"),
            None => format!("unknown value {given:?}"),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let name = rest.split(',').next().unwrap_or(rest);
        return format!("unknown key {name}");
    }
    message.to_string()
}

/// Checks a value that has the right type against its key's range.
fn within_limit(key: &Key, v: &Spanned<DeValue>) -> Result<(), String> {
    let outside = || match key.limit.range_text() {
        Some(r) => format!("out of range {r}"),
        None => "out of range".to_string(),
    };
    match key.limit {
        Limit::None => Ok(()),
        Limit::Duration { min, max, .. } => {
            let d = v
                .get_ref()
                .as_str()
                .and_then(|s| units::parse_duration(s).ok());
            match d {
                Some(d) if d < min => Err(format!("less than {}", schema::duration_text(min))),
                Some(d) if d > max => Err(format!("more than {}", schema::duration_text(max))),
                Some(_) => Ok(()),
                None => Err(outside()),
            }
        }
        Limit::Number { min, max, .. } => {
            match u64::deserialize(ValueDeserializer::from(v.clone())) {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(outside()),
            }
        }
        Limit::Size { min, max, .. } => {
            let n = match v.get_ref() {
                DeValue::String(s) => units::parse_size(s).ok(),
                _ => u64::deserialize(ValueDeserializer::from(v.clone())).ok(),
            };
            match n {
                Some(n) if n < min => Err(format!("less than {}", schema::size_text(min))),
                Some(n) if n > max => Err(format!("more than {}", schema::size_text(max))),
                Some(_) => Ok(()),
                None => Err(outside()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Source;

    #[test]
    fn lines_of_offsets() {
        let s = Source::new("c.toml".into(), "a = 1\nb = 2\n\nc = 3");
        assert_eq!(s.line(0), 1);
        assert_eq!(s.line(5), 1); // the newline ends line 1
        assert_eq!(s.line(6), 2);
        assert_eq!(s.line(12), 3);
        assert_eq!(s.line(13), 4);
        assert_eq!(s.line(1000), 4);
    }
}
