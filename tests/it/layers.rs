//! The architecture as a test: reads the `crate::` (and `super::`) paths of
//! every file in `src/` and fails on an import cycle between modules, and on
//! an import that points up the layering below. Test code (`#[cfg(test)]`
//! items, `tests.rs` files) is left out: a test may reach anywhere.
//!
//! A module is a file (`foo.rs` and `foo/mod.rs` are `foo`, `foo/bar.rs` is
//! `foo::bar`); a path names the longest module it starts with. Parents and
//! their own submodules may name each other (`pub mod`, `super::*`). A new
//! module must be given a layer here: where it sits is a decision.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom to top; a module may import from its own layer and the ones
/// below. A module listed by a longer path (`watch::query`) is placed apart
/// from its parent (`watch`).
const LAYERS: &[(&str, &[&str])] = &[
    (
        // plain data and leaves: what is stored, the clock, one fingerprint,
        // secrets, the metrics registry, malloc tuning, the text utilities,
        // the HTTP clients' TLS settings
        "model",
        &[
            "model",
            "records",
            "clock",
            "fingerprint",
            "shard",
            "secret",
            "metrics",
            "memory",
            "fdlimit",
            "text",
            "tls",
        ],
    ),
    (
        // reading what users and servers hand us: the config (which
        // compiles watch queries and webhook templates, so the query
        // language and the template compiler sit here too), feeds, HTTP,
        // OPML, and the scheduling policy over the config
        "config",
        &[
            "config",
            "parse",
            "fetch",
            "watch::query",
            "notify::template",
            "notify::subject",
            "opml",
            "scheduler",
            "logging",
        ],
    ),
    ("tracker", &["tracker"]),
    ("watch", &["watch"]),
    ("outbox", &["outbox"]),
    ("store", &["store"]),
    ("notify", &["notify", "gates"]),
    ("app", &["app", "status", "control"]),
    ("orchestration", &["poll", "article", "delivery"]),
    (
        // entry points: the daemon, the HTTP endpoint, the commands
        "entry",
        &["daemon", "http", "connections", "cli"],
    ),
];

/// Imports that point up, each with the reason it is tolerated: none
/// today. An entry is `(from, to, why)`, and the test fails once the import
/// is gone, so an exception cannot outlive its reason.
const ALLOWED_UP: &[(&str, &str, &str)] = &[];

#[test]
fn imports_point_down_and_never_loop() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    read_modules(&src, &src, &mut files);
    assert!(
        files.len() > 40,
        "found only {} modules in src/",
        files.len()
    );
    let names: BTreeSet<String> = files.keys().cloned().collect();

    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &files {
        let code = without_tests(&blank_comments_and_literals(text));
        let targets = edges.entry(module.clone()).or_default();
        for path in crate_paths(module, &code) {
            if let Some(target) = resolve(&names, &path) {
                let related = target == *module
                    || module.starts_with(&format!("{target}::"))
                    || target.starts_with(&format!("{module}::"));
                if !related {
                    targets.insert(target);
                }
            }
        }
    }

    let mut problems = Vec::new();
    for (module, targets) in &edges {
        let Some(from) = layer(module) else {
            problems.push(format!(
                "{module} has no layer: add it to LAYERS in tests/it/layers.rs"
            ));
            continue;
        };
        for target in targets {
            let to = layer(target).unwrap_or(usize::MAX);
            let allowed = ALLOWED_UP
                .iter()
                .any(|(a, b, _)| a == module && b == target);
            if to > from && !allowed {
                problems.push(format!(
                    "{module} ({}) imports {target} ({}), a layer above it",
                    LAYERS[from].0,
                    LAYERS.get(to).map_or("no layer", |l| l.0)
                ));
            }
        }
    }
    for (a, b, why) in ALLOWED_UP {
        assert!(
            edges.get(*a).is_some_and(|t| t.contains(*b)),
            "{a} -> {b} is allowed up ({why}) but no longer happens: remove it from ALLOWED_UP"
        );
    }
    for cycle in cycles(&edges) {
        problems.push(format!("import cycle: {}", cycle.join(" -> ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_what_it_should() {
    let code = blank_comments_and_literals(
        "use crate::a::{b, c::{d, e as f}, self};\n// use crate::hidden;\n\
         let s = \"crate::in_string\"; let c = '{';\n\
         fn g() { crate::h::i(); super::j::k(); }\n\
         #[cfg(test)]\nmod tests { use crate::only_in_tests; }\nuse crate::after;\n",
    );
    let code = without_tests(&code);
    let paths = crate_paths("m::n", &code);
    for p in [
        "a::b", "a::c::d", "a::c::e", "a", "h::i", "m::j::k", "after",
    ] {
        assert!(paths.contains(&p.to_string()), "{p} in {paths:?}");
    }
    for p in ["hidden", "in_string", "only_in_tests"] {
        assert!(!paths.iter().any(|x| x.starts_with(p)), "{p} in {paths:?}");
    }
    let edges = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(cycles(&edges), [["a", "b", "a"]]);
}

/// Every `.rs` file under `dir` as (module path, text), without the crate
/// roots and the `tests.rs` files.
fn read_modules(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_modules(root, &path, out);
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy();
        if !name.ends_with(".rs") || name == "tests.rs" {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        if parts == ["lib"] || parts == ["main"] {
            continue;
        }
        out.insert(parts.join("::"), std::fs::read_to_string(&path).unwrap());
    }
}

/// The text with comments, string and char literals replaced by spaces
/// (line breaks kept), so neither a doc link nor a message is read as code.
fn blank_comments_and_literals(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && matches!(next, Some('"' | '#'))
            && !ident_char(b.get(i.wrapping_sub(1)))
        {
            // raw string r"…", r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.extend(b[i..j.min(b.len())].iter().map(|c| blank(*c)));
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            j = (j + 1).min(b.len());
            out.extend(b[i..j].iter().map(|c| blank(*c)));
            i = j;
        } else if c == '\'' {
            // a char literal ('x', '\n', '\u{1F600}'), or a lifetime ('a)
            let end = if next == Some('\\') {
                (i + 2..b.len().min(i + 12)).find(|&j| b[j] == '\'')
            } else {
                (b.get(i + 2) == Some(&'\'')).then_some(i + 2)
            };
            match end {
                Some(e) => {
                    out.extend(std::iter::repeat_n(' ', e + 1 - i));
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The code without the items marked `#[cfg(test)]` (a `mod tests { … }`
/// block, or any other item up to its closing brace or semicolon).
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find('{'), item.find(';')) {
            (Some(open), semi) if semi.is_none_or(|s| open < s) => {
                let mut depth = 0;
                let mut end = item.len();
                for (k, ch) in item[open..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (_, Some(semi)) => semi + 1,
            _ => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every module path the code names through `crate::` or `super::`
/// (`use` trees expanded), relative to the crate root.
fn crate_paths(module: &str, code: &str) -> Vec<String> {
    let parent: Vec<&str> = module.split("::").collect();
    let parent = parent[..parent.len() - 1].join("::");
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent)] {
        let mut from = 0;
        while let Some(found) = code[from..].find(prefix) {
            let at = from + found;
            from = at + prefix.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue; // e.g. `my_crate::`
            }
            let mut paths = Vec::new();
            use_tree(&code[from..], &mut String::new(), &mut paths);
            for p in paths {
                let full = if base.is_empty() {
                    p
                } else if p.is_empty() {
                    base.clone()
                } else {
                    format!("{base}::{p}")
                };
                out.push(full);
            }
        }
    }
    out
}

/// Expands a path or use tree at the start of `text` (`a::b`, `a::{b, c::d}`)
/// into full paths; returns how much of `text` it read.
fn use_tree(text: &str, prefix: &mut String, out: &mut Vec<String>) -> usize {
    let mut i = 0;
    let bytes = text.as_bytes();
    let start_len = prefix.len();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) == Some(&b'{') {
            i += 1;
            loop {
                let mut inner = prefix.clone();
                i += use_tree(&text[i..], &mut inner, out);
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                // `name as alias`
                if text[i..].starts_with("as")
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_whitespace)
                {
                    i += 2;
                    while i < bytes.len()
                        && (bytes[i].is_ascii_whitespace()
                            || bytes[i].is_ascii_alphanumeric()
                            || bytes[i] == b'_')
                    {
                        i += 1;
                    }
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => break,
                }
            }
            prefix.truncate(start_len);
            return i;
        }
        let ident_end = text[i..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(text.len(), |n| i + n);
        let ident = &text[i..ident_end];
        if ident.is_empty() || ident == "self" {
            out.push(prefix.clone());
            prefix.truncate(start_len);
            return ident_end;
        }
        if !prefix.is_empty() {
            prefix.push_str("::");
        }
        prefix.push_str(ident);
        i = ident_end;
        if text[i..].starts_with("::") {
            i += 2;
            continue;
        }
        out.push(prefix.clone());
        prefix.truncate(start_len);
        return i;
    }
}

/// The longest module `path` starts with.
fn resolve(modules: &BTreeSet<String>, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| modules.contains(candidate))
}

/// The layer of a module: that of the longest entry of [`LAYERS`] it is or
/// lies under.
fn layer(module: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, (_, members)) in LAYERS.iter().enumerate() {
        for m in *members {
            let under = module == *m || module.starts_with(&format!("{m}::"));
            if under && best.is_none_or(|(_, len)| m.len() > len) {
                best = Some((i, m.len()));
            }
        }
    }
    best.map(|(i, _)| i)
}

/// One cycle (as a path that returns to its start) per strongly connected
/// group of modules.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut seen_in_cycle = BTreeSet::new();
    for start in edges.keys() {
        if seen_in_cycle.contains(start) {
            continue;
        }
        // shortest way back to `start` (breadth first)
        let mut back: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.as_str()]);
        let mut closing = None;
        while let Some(m) = queue.pop_front() {
            for t in edges.get(m).into_iter().flatten() {
                if t == start {
                    closing = Some(m);
                    break;
                }
                if !back.contains_key(t.as_str()) {
                    back.insert(t, m);
                    queue.push_back(t);
                }
            }
            if closing.is_some() {
                break;
            }
        }
        if let Some(mut m) = closing {
            let mut chain = Vec::new();
            while m != start {
                chain.push(m.to_string());
                m = back[m];
            }
            chain.reverse();
            let mut cycle = vec![start.clone()];
            cycle.extend(chain);
            cycle.push(start.clone());
            seen_in_cycle.extend(cycle.iter().cloned());
            found.push(cycle);
        }
    }
    found
}
