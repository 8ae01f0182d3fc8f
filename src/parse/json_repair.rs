//! Second-chance repair of JSON Feeds whose fields have the wrong JSON type.
//!
//! feed-rs reads JSON Feed through strict serde types, so a single field of
//! the wrong type anywhere (`"tags": "a,b"`, a numeric `id`, a missing
//! `title`, `"version": "http://jsonfeed.org/version/1"`) rejects the whole
//! feed, although every other story is fine. Feed readers take such feeds,
//! and so do we: after feed-rs refuses a document that names jsonfeed.org,
//! it is read as untyped JSON, every field feed-rs knows is coerced to the
//! type it expects (or dropped when it cannot be), and the result is parsed
//! again. Only that slow path pays for the extra work. The same repair runs
//! after feed-rs panicked on a JSON Feed: it also keeps author emails away
//! from the non-ASCII characters that make feed-rs's email splitter panic.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::persons::guard_plain_name;

/// Fields of an item or feed that feed-rs reads as plain strings.
const FEED_STRINGS: &[&str] = &[
    "home_page_url",
    "feed_url",
    "language",
    "description",
    "icon",
    "favicon",
];
const ITEM_STRINGS: &[&str] = &[
    "url",
    "external_url",
    "title",
    "content_html",
    "content_text",
    "summary",
    "date_published",
    "date_modified",
];

/// The repaired document, or `None` when it is not a JSON object naming a
/// JSON Feed version (then the first error stands).
pub(crate) fn repair_json_feed(text: &str) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_str(text).ok()?;
    let feed = value.as_object_mut()?;
    repair_version(feed)?;
    coerce_string(feed, "title", true);
    for field in FEED_STRINGS {
        coerce_string(feed, field, false);
    }
    repair_authors(feed);
    match feed.get_mut("items") {
        Some(Value::Array(items)) => {
            items.retain(Value::is_object);
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                repair_item(item);
            }
        }
        _ => {
            feed.insert("items".into(), Value::Array(Vec::new()));
        }
    }
    serde_json::to_vec(&value).ok()
}

/// feed-rs wants a version starting with `https://jsonfeed.org/version/1`;
/// `http://` and missing `https` are common. Not a JSON Feed: `None`.
fn repair_version(feed: &mut Map<String, Value>) -> Option<()> {
    let version = feed.get("version")?.as_str()?;
    let rest = version.split_once("jsonfeed.org/version/")?.1;
    let repaired = format!("https://jsonfeed.org/version/{rest}");
    if !repaired.starts_with("https://jsonfeed.org/version/1") {
        return None;
    }
    feed.insert("version".into(), Value::String(repaired));
    Some(())
}

fn repair_item(item: &mut Map<String, Value>) {
    coerce_string(item, "id", false);
    for field in ITEM_STRINGS {
        coerce_string(item, field, false);
    }
    repair_tags(item);
    repair_authors(item);
    repair_attachments(item);
}

/// Numbers and booleans become their text; other non-strings are removed
/// (or replaced by "" when the field is required).
fn coerce_string(object: &mut Map<String, Value>, field: &str, required: bool) {
    let repaired = match object.get(field) {
        Some(Value::String(_)) => return,
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(Value::Bool(flag)) => Some(flag.to_string()),
        _ => None,
    };
    match (repaired, required) {
        (Some(text), _) => {
            object.insert(field.into(), Value::String(text));
        }
        (None, true) => {
            object.insert(field.into(), Value::String(String::new()));
        }
        (None, false) => {
            object.remove(field);
        }
    }
}

/// `tags` must be an array of strings; a comma-separated string is split.
fn repair_tags(item: &mut Map<String, Value>) {
    let tags: Vec<Value> = match item.get("tags") {
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(scalar_text)
            .map(Value::String)
            .collect(),
        Some(Value::String(tags)) => tags
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(|tag| Value::String(tag.to_string()))
            .collect(),
        None => return,
        Some(_) => Vec::new(),
    };
    item.insert("tags".into(), Value::Array(tags));
}

/// `author` / `authors` must be objects with optional string `name`/`url`;
/// a bare string is taken as the name.
fn repair_authors(object: &mut Map<String, Value>) {
    if let Some(author) = object.remove("author") {
        if let Some(author) = repair_author(author) {
            object.insert("author".into(), author);
        }
    }
    if let Some(authors) = object.remove("authors") {
        let list = match authors {
            Value::Array(list) => list,
            single => vec![single],
        };
        let repaired: Vec<Value> = list.into_iter().filter_map(repair_author).collect();
        object.insert("authors".into(), Value::Array(repaired));
    }
}

fn repair_author(author: Value) -> Option<Value> {
    match author {
        Value::String(name) => {
            let mut object = Map::new();
            object.insert("name".into(), Value::String(name));
            repair_author(Value::Object(object))
        }
        Value::Object(mut object) => {
            coerce_string(&mut object, "name", false);
            coerce_string(&mut object, "url", false);
            if let Some(Value::String(name)) = object.get_mut("name") {
                // feed-rs's name/email splitter panics next to non-ASCII.
                if let Cow::Owned(guarded) = guard_plain_name(name) {
                    *name = guarded;
                }
            }
            Some(Value::Object(object))
        }
        _ => None,
    }
}

/// Attachments need a string `url` and `mime_type`; those without a URL are
/// dropped, a missing MIME type becomes `application/octet-stream`.
fn repair_attachments(item: &mut Map<String, Value>) {
    let Some(attachments) = item.remove("attachments") else {
        return;
    };
    let Value::Array(list) = attachments else {
        return;
    };
    let repaired: Vec<Value> = list
        .into_iter()
        .filter_map(|attachment| {
            let Value::Object(mut attachment) = attachment else {
                return None;
            };
            coerce_string(&mut attachment, "url", false);
            attachment.get("url")?;
            coerce_string(&mut attachment, "mime_type", false);
            if !attachment.contains_key("mime_type") {
                attachment.insert(
                    "mime_type".into(),
                    Value::String("application/octet-stream".into()),
                );
            }
            coerce_string(&mut attachment, "title", false);
            if !attachment.get("size_in_bytes").is_some_and(Value::is_u64) {
                attachment.remove("size_in_bytes");
            }
            Some(Value::Object(attachment))
        })
        .collect();
    item.insert("attachments".into(), Value::Array(repaired));
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(text: &str) -> Value {
        let bytes = repair_json_feed(text).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    #[test]
    fn wrong_types_are_coerced() {
        let value = repaired(
            r#"{"version": "http://jsonfeed.org/version/1", "items": [
                {"id": 42, "title": null, "tags": "a, b", "author": "Ann",
                 "attachments": [{"url": "https://x/a.mp3"}, {"mime_type": "audio/mpeg"}]},
                "not an item"]}"#,
        );
        assert_eq!(value["version"], "https://jsonfeed.org/version/1");
        assert_eq!(value["title"], "");
        let item = &value["items"][0];
        assert_eq!(item["id"], "42");
        assert!(item.get("title").is_none());
        assert_eq!(item["tags"], serde_json::json!(["a", "b"]));
        assert_eq!(item["author"]["name"], "Ann");
        assert_eq!(item["attachments"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            item["attachments"][0]["mime_type"],
            "application/octet-stream"
        );
        assert_eq!(value["items"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn other_json_is_left_alone() {
        assert!(repair_json_feed(r#"{"version": "2.0", "items": []}"#).is_none());
        assert!(repair_json_feed(r#"{"status": "ok"}"#).is_none());
        assert!(repair_json_feed("[1]").is_none());
        assert!(repair_json_feed("{").is_none());
    }
}
